//! Zero heap allocations per PDU decoded and per PDU encoded (and per queue entry, log page, authentication message
//! and DHHC-1 secret), counted by a global allocator.
//!
//! The counting allocator comes from the `allocation-counter` crate (a dev-dependency): it installs itself as the
//! global allocator of this test binary and counts per thread, so neither the test harness's other threads nor
//! tests running in parallel disturb a measurement, and this file needs no `unsafe` (the workspace forbids it;
//! implementing `GlobalAlloc` ourselves would need `unsafe impl`). `the_counter_counts` proves the allocator is
//! active, so a zero below cannot pass vacuously.
//!
//! Every input is built (and every output buffer allocated) before the measured closure runs; inside it only
//! nvme-proto decodes and encodes.

use std::hint::black_box;

use allocation_counter::measure;
use nvme_proto::auth::{
    AuthMessage, Challenge, DhGroupId, DhchapSecret, Failure1, Failure2, FailureExplanation, HashId, Negotiate,
    ProtocolDescriptor, Reply, SecureChannel, Success1, Success2,
};
use nvme_proto::cmd::{
    AddressFamily, AdminCommand, AnaGroupDescriptor, AnaLogPage, AnaState, CcrLogEntry, CcrLogPage, Ccrs, Command, Cqe,
    CrossControllerReset, DiscoveryLogEntry, DiscoveryLogPage, IdentifyController, KeepAlive, NsidList, QueueKind, Sqe,
    Status,
};
use nvme_proto::tcp::{
    C2HData, CapsuleCmd, CapsuleResp, Decoded, Deframer, Fes, H2CData, IcReq, IcResp, Params, Pdu, PduError, R2T, Role,
    TermReq,
};

fn params() -> Params {
    Params { header_digest: true, data_digest: true, hpda: 0, cpda: 7, ..Params::default() }
}

/// Every PDU type (both TermReq directions), with data where the type carries it, and who receives it.
fn pdus<'a>(data: &'a [u8], sqe: [u8; 64], header: &'a [u8]) -> Vec<(Pdu<'a>, Role)> {
    let resp = CapsuleResp { cqe: Cqe::new(0x21, Status::SUCCESS).to_bytes() };
    vec![
        (Pdu::IcReq(IcReq { hpda: 0, header_digest: true, data_digest: true, maxr2t: 0 }), Role::Controller),
        (Pdu::IcResp(IcResp { cpda: 7, header_digest: true, data_digest: true, maxh2cdata: 0x40_0000 }), Role::Host),
        (
            Pdu::TermReq(TermReq { sender: Role::Host, fes: Fes::HEADER_DIGEST_ERROR, fei: 7, data: header }),
            Role::Controller,
        ),
        (
            Pdu::TermReq(TermReq { sender: Role::Controller, fes: Fes::INVALID_HEADER_FIELD, fei: 2, data: header }),
            Role::Host,
        ),
        (Pdu::CapsuleCmd(CapsuleCmd { sqe, data: &[] }), Role::Controller),
        (Pdu::CapsuleCmd(CapsuleCmd { sqe, data }), Role::Controller),
        (Pdu::CapsuleResp(resp), Role::Host),
        (Pdu::H2CData(H2CData { cccid: 9, ttag: 3, datao: 0, data, last: true }), Role::Controller),
        (Pdu::C2HData(C2HData { cccid: 9, datao: 4096, data, last: true, success: true }), Role::Host),
        (Pdu::R2T(R2T { cccid: 9, ttag: 3, r2to: 0, r2tl: 8192 }), Role::Host),
    ]
}

/// The encodings of [`pdus`] under [`params`], one buffer each.
fn encoded(pdus: &[(Pdu<'_>, Role)]) -> Vec<Vec<u8>> {
    pdus.iter()
        .map(|(pdu, _)| {
            let mut buf = vec![0u8; pdu.buffer_len(&params())];
            pdu.emit(&params(), &mut buf).expect("encodes");
            buf
        })
        .collect()
}

#[test]
fn the_counter_counts() {
    let info = measure(|| {
        black_box(vec![0u8; 64]);
    });
    assert_eq!(info.count_total, 1, "the counting allocator is not active");
}

#[test]
fn decoding_every_pdu_type_allocates_nothing() {
    let data = vec![0xA5u8; 4096];
    let sqe = CrossControllerReset { icid: 2, ciu: 7, cirn: 0x1122_3344_5566_7788 }.to_sqe(0x21).to_bytes();
    let header = [0x05u8, 0x01, 0x18, 0x00, 0x1c, 0, 0, 0];
    let pdus = pdus(&data, sqe, &header);
    let wires = encoded(&pdus);
    let p = params();
    for ((pdu, receiver), wire) in pdus.iter().zip(&wires) {
        let (mut decoded, mut half, mut whole) = (None, None, None);
        let info = measure(|| {
            // The stand-alone parser, and a deframer fed the first half of the PDU, then all of it.
            decoded = Some(Pdu::parse(wire, &p, *receiver));
            let mut d =
                if pdu.pdu_type().is_ic() { Deframer::new(*receiver) } else { Deframer::established(*receiver, p) };
            half = Some(d.decode(&wire[..wire.len() / 2]).map(|x| matches!(x, Decoded::Need(_))));
            whole = Some(d.decode(wire).map(|x| match x {
                Decoded::Pdu { consumed, .. } => consumed,
                Decoded::Need(_) => 0,
            }));
        });
        assert_eq!(info.count_total, 0, "decoding {:?} allocated: {info:?}", pdu.pdu_type());
        assert_eq!(decoded, Some(Ok(*pdu)), "the measured decode did run");
        assert_eq!((half, whole), (Some(Ok(true)), Some(Ok(wire.len()))));
    }
}

#[test]
fn decode_errors_allocate_nothing() {
    let data = vec![0x5Au8; 512];
    let sqe = keep_alive_sqe();
    let header = [0u8; 8];
    let pdus = pdus(&data, sqe, &header);
    let mut wires = encoded(&pdus);
    let p = params();
    // A flipped data byte (data digest error) in the H2CData, a flipped header byte (header digest error) in the
    // CapsuleResp, an undefined PDU type in the R2T.
    let h2c = wires.iter().position(|w| w[0] == 0x06).expect("H2CData");
    let last_data = wires[h2c].len() - 5;
    wires[h2c][last_data] ^= 1;
    let resp = wires.iter().position(|w| w[0] == 0x05).expect("CapsuleResp");
    wires[resp][8] ^= 1;
    let r2t = wires.iter().position(|w| w[0] == 0x09).expect("R2T");
    wires[r2t][0] = 0x0b;
    for (i, receiver) in [(h2c, Role::Controller), (resp, Role::Host), (r2t, Role::Host)] {
        let wire = &wires[i];
        let mut result = None;
        let info = measure(|| {
            let mut d = Deframer::established(receiver, p);
            let r = d.decode(wire);
            if let Err(e) = &r {
                black_box(d.term_req(e, wire));
                black_box((e.fes(), e.fei(), e.is_fatal(), e.cccid(), e.consumed()));
            }
            result = Some(r.map(|_| ()));
        });
        assert_eq!(info.count_total, 0, "a decode error allocated: {info:?}");
        assert!(matches!(result, Some(Err(_))), "the measured decode did fail: {result:?}");
    }
    assert!(matches!(Deframer::established(Role::Controller, p).decode(&wires[h2c]), Err(PduError::DataDigest(_))));
}

#[test]
fn encoding_every_pdu_type_allocates_nothing() {
    let data = vec![0x3Cu8; 4096];
    let sqe = keep_alive_sqe();
    let header = [0x04u8, 0x01, 0x48, 0x00, 0x4c, 0, 0, 0];
    let pdus = pdus(&data, sqe, &header);
    let p = params();
    let mut out = vec![0u8; 8192];
    for (pdu, _) in &pdus {
        let mut written = None;
        let info = measure(|| {
            written = Some(pdu.emit(&p, &mut out));
            black_box(pdu.emit(&p, &mut [0u8; 8]).err()); // too short: the error says how much is needed
        });
        assert_eq!(info.count_total, 0, "encoding {:?} allocated: {info:?}", pdu.pdu_type());
        assert_eq!(written, Some(Ok(pdu.buffer_len(&p))));
    }
}

#[test]
fn queue_entries_identify_and_log_pages_allocate_nothing() {
    let ccr = CrossControllerReset { icid: 2, ciu: 7, cirn: 0x1122_3344_5566_7788 };
    let sqe_bytes = ccr.to_sqe(0x21).to_bytes();
    let mut identify = vec![0u8; IdentifyController::LEN];
    IdentifyController::fabrics_io(1, "nqn.2024-01.io.example:subsys").emit(&mut identify).expect("encodes");
    let entries = [CcrLogEntry { icid: 2, ciu: 7, acid: 1, ccrs: Ccrs::SUCCESS, ccrf: 1 }; 8];
    let mut log = vec![0u8; CcrLogPage::buffer_len(entries.len())];
    let mut sqe_out = [0u8; 64];
    let mut id_out = vec![0u8; IdentifyController::LEN];
    let mut log_out = vec![0u8; log.len()];
    let mut parsed = None;
    let info = measure(|| {
        let sqe = Sqe::parse(&sqe_bytes).expect("an SQE");
        let cmd = Command::parse(QueueKind::Admin, &sqe).expect("a command");
        black_box(cmd.has_side_effects());
        cmd.to_sqe(0x21).emit(&mut sqe_out).expect("encodes");
        let id = IdentifyController::parse(&identify).expect("Identify data");
        id.emit(&mut id_out).expect("encodes");
        CcrLogPage::emit(&entries, &mut log).expect("encodes");
        let page = CcrLogPage::new_checked(&log).expect("a log page");
        let n = page.entries().filter(|e| e.ccrs == Ccrs::SUCCESS).count();
        CcrLogPage::emit(&entries[..n], &mut log_out).expect("encodes");
        parsed = Some(cmd);
    });
    assert_eq!(info.count_total, 0, "queue entries, Identify or log pages allocated: {info:?}");
    assert_eq!(parsed, Some(Command::Admin(AdminCommand::CrossControllerReset(ccr))));
    assert_eq!(sqe_out, sqe_bytes);
    assert_eq!(id_out, identify);
    assert_eq!(log_out, log);
}

#[test]
fn discovery_and_ana_pages_allocate_nothing() {
    let entries = [DiscoveryLogEntry::tcp(AddressFamily::IPV4, "192.168.10.2", "4420", "nqn.2014-08.org.example:a"); 4];
    let nsids: Vec<u32> = (1..=64).collect();
    let groups = [
        AnaGroupDescriptor { anagrpid: 1, chgcnt: 1, state: AnaState::Optimized, nsids: NsidList::new(&nsids[..40]) },
        AnaGroupDescriptor { anagrpid: 2, chgcnt: 2, state: AnaState::Change, nsids: NsidList::new(&nsids[40..]) },
    ];
    let mut disc = vec![0u8; DiscoveryLogPage::buffer_len(entries.len())];
    let mut ana = vec![0u8; AnaLogPage::buffer_len(&groups, false)];
    let mut ana_rgo = vec![0u8; AnaLogPage::buffer_len(&groups, true)];
    let mut counted = (0, 0, 0);
    let info = measure(|| {
        DiscoveryLogPage::emit(7, &entries, &mut disc).expect("encodes");
        AnaLogPage::emit(9, &groups, false, &mut ana).expect("encodes");
        AnaLogPage::emit(9, &groups, true, &mut ana_rgo).expect("encodes");
        let page = DiscoveryLogPage::new_checked(&disc).expect("a discovery page");
        let tcp = page.entries().filter(|e| e.as_ref().is_ok_and(|e| e.trsvcid == "4420")).count();
        let page = AnaLogPage::new_checked(&ana, false).expect("an ANA page");
        let nsid_sum: u64 = page.descriptors().flatten().flat_map(|d| d.nsids.iter()).map(u64::from).sum();
        let rgo = AnaLogPage::new_checked(&ana_rgo, true).expect("an RGO page").descriptors().flatten().count();
        black_box(page.raw_descriptors().count());
        counted = (tcp, nsid_sum, rgo);
    });
    assert_eq!(info.count_total, 0, "Discovery or ANA pages allocated: {info:?}");
    assert_eq!(counted, (4, (1..=64).sum(), 2));
}

#[test]
fn authentication_messages_and_secrets_allocate_nothing() {
    let descriptor = ProtocolDescriptor::dh_hmac_chap(&HashId::ALL, &DhGroupId::ALL).to_view().expect("a descriptor");
    let negotiate = Negotiate { t_id: 3, sc_c: SecureChannel::NONE, descriptors: std::slice::from_ref(&descriptor) };
    let (c1, dhv) = ([0x11u8; 64], vec![0x22u8; 1024]);
    let challenge = Challenge {
        t_id: 3,
        hash_id: HashId::SHA_512,
        dh_group: DhGroupId::FFDHE8192,
        seqnum: 9,
        challenge: &c1,
        dh_value: &dhv,
    };
    let reply = Reply { t_id: 3, seqnum: 10, response: &c1, challenge: Some(&c1), dh_value: &dhv };
    let messages = [
        AuthMessage::Negotiate(negotiate),
        AuthMessage::Challenge(challenge),
        AuthMessage::Reply(reply),
        AuthMessage::Success1(Success1 { t_id: 3, hl: 64, response: Some(&c1) }),
        AuthMessage::Success2(Success2 { t_id: 3 }),
        AuthMessage::Failure1(Failure1::new(3, FailureExplanation::FAILED)),
        AuthMessage::Failure2(Failure2::new(3, FailureExplanation::INCORRECT_PAYLOAD)),
    ];
    let text = "DHHC-1:00:ia6zGodOr4SEG0Zzaw398rpY0wqipUWj4jWjUh4HWUz6aQ2n:";
    let mut out = vec![0u8; 4096];
    let mut text_out = [0u8; DhchapSecret::MAX_TEXT_LEN];
    for message in &messages {
        let mut parsed = None;
        let info = measure(|| {
            let n = message.emit(&mut out).expect("encodes");
            parsed = Some(AuthMessage::parse(&out[..n]) == Ok(*message));
            black_box(AuthMessage::parse(&out[..n - 1]).err()); // a short message: the error says what it needs
        });
        assert_eq!(info.count_total, 0, "{:?} allocated: {info:?}", message.id().name());
        assert_eq!(parsed, Some(true));
    }
    let mut written = None;
    let info = measure(|| {
        let secret = DhchapSecret::parse(text).expect("a secret");
        written = Some(secret.emit(&mut text_out));
        black_box(DhchapSecret::parse(&text[..40]).err());
    });
    assert_eq!(info.count_total, 0, "DHHC-1 secrets allocated: {info:?}");
    assert_eq!(written, Some(Ok(text.len())));
}

/// The Keep Alive SQE of nvme_proto::notes::vectors §2.3.
fn keep_alive_sqe() -> [u8; 64] {
    AdminCommand::KeepAlive(KeepAlive).to_sqe(0x10).to_bytes()
}
