//! The transport core (`conn`) in both roles: chunking, the PLEN ceiling per phase, the termination request for
//! each fatal receive error (FES, FEI, the offending header copied), a received TermReq, and data digest errors.

mod common;

use std::time::Duration;

use common::net::{Net, Trace, Verdict};
use common::{Got, HOSTID, HOSTNQN, NQN, Rig, connect_data, encode, h2c};
use nvme_ccr::{Config, Policy};
use nvme_fabric::conn::{CloseCause, ConnId, PDU_OVERHEAD};
use nvme_fabric::controller::{ADMIN_IN_CAPSULE, Event, SubsystemConfig};
use nvme_fabric::host::{HostConfig, HostEvent, Io, IoError, PathFailure};
use nvme_proto::cmd::{
    Cc, Connect, Cqe, Feature, Flush, GetLogPage, Identify, KeepAlive, NumberOfQueues, PropertyGet, PropertyOffset,
    PropertySet, ReadWrite, SetFeatures, SglDescriptor, Sqe, Status, StatusCode,
};
use nvme_proto::tcp::{C2HData, CapsuleCmd, CapsuleResp, Fes, IcReq, IcResp, Params, Pdu, R2T, Role, TermReq};

const FES_FIELD: u16 = 0x01;
const FES_SEQUENCE: u16 = 0x02;
const FES_HEADER_DIGEST: u16 = 0x03;
const FES_RANGE: u16 = 0x04;

fn protocol(fes: u16, fei: u32) -> Option<CloseCause> {
    Some(CloseCause::ProtocolError { fes: Some(Fes(fes)), fei })
}

/// An 8-byte common header.
fn ch(ty: u8, flags: u8, hlen: u8, pdo: u8, plen: u32) -> Vec<u8> {
    let mut h = vec![ty, flags, hlen, pdo];
    h.extend_from_slice(&plen.to_le_bytes());
    h
}

fn in_capsule_write(cid: u16, slba: u64, blocks: u32) -> Sqe {
    let mut w = ReadWrite::new(1, slba, blocks, 512).unwrap().to_write_sqe(cid);
    w.dptr = SglDescriptor::in_capsule(0, blocks * 512);
    w
}

fn r2t_write(cid: u16, slba: u64, blocks: u32) -> Sqe {
    ReadWrite::new(1, slba, blocks, 512).unwrap().to_write_sqe(cid)
}

fn with_data(mut sqe: Sqe, len: u32) -> Sqe {
    sqe.dptr = SglDescriptor::transport_data(len);
    sqe
}

// ---------------------------------------------------------------------------------------------------------------
// Chunking

/// The host side of a session as one byte stream per connection (admin, then I/O queue 1), independent of what the
/// controller answers (the one R2T's TTAG is 0, the first tag of a fresh pool).
fn scripted_session(hd: bool, dd: bool) -> (Vec<u8>, Vec<u8>) {
    let ic = IcReq { hpda: 0, header_digest: hd, data_digest: dd, maxr2t: 0 };
    let p = Params { header_digest: hd, data_digest: dd, maxh2cdata: 128 * 1024, ..Params::default() };
    let cap = |sqe: Sqe, data: &[u8]| encode(&Pdu::CapsuleCmd(CapsuleCmd { sqe: sqe.to_bytes(), data }), &p);
    let mut admin = encode(&Pdu::IcReq(ic), &Params::default());
    let cd = connect_data(0xFFFF, NQN, HOSTNQN, HOSTID);
    admin.extend(cap(Connect::admin(5000).to_sqe(0), &cd));
    admin.extend(cap(PropertyGet::new(PropertyOffset::CAP).to_sqe(1), &[]));
    admin.extend(cap(PropertySet::cc(Cc::ENABLE).to_sqe(2), &[]));
    admin.extend(cap(PropertyGet::new(PropertyOffset::CSTS).to_sqe(3), &[]));
    admin.extend(cap(with_data(Identify::controller().to_sqe(4), 4096), &[]));
    let nq = SetFeatures::new(Feature::NumberOfQueues(NumberOfQueues::with_count(2)));
    admin.extend(cap(nq.to_sqe(5), &[]));
    admin.extend(cap(with_data(GetLogPage::ccr_log(true, 4096).to_sqe(6), 4096), &[]));
    admin.extend(cap(KeepAlive.to_sqe(7), &[]));

    let mut io = encode(&Pdu::IcReq(ic), &Params::default());
    let cd = connect_data(1, NQN, HOSTNQN, HOSTID);
    io.extend(cap(Connect::io(1, 31).to_sqe(0), &cd));
    io.extend(cap(in_capsule_write(1, 0, 2), &[0x11; 1024]));
    let big: Vec<u8> = (0..32768u32).map(|i| (i * 7) as u8).collect();
    io.extend(cap(r2t_write(2, 8, 64), &[]));
    io.extend(encode(&h2c(2, 0, 0, &big[..20000], false), &p));
    io.extend(encode(&h2c(2, 0, 20000, &big[20000..], true), &p));
    io.extend(cap(ReadWrite::new(1, 0, 72, 512).unwrap().to_read_sqe(3), &[]));
    io.extend(cap(Flush { nsid: 1 }.to_sqe(4), &[]));
    (admin, io)
}

/// Feeds the scripted session to a fresh subsystem in chunks of `chunk` bytes; returns what the subsystem sent on
/// each connection, its media and events.
fn run_controller_session(chunk: usize, hd: bool, dd: bool) -> (Vec<u8>, Vec<u8>, Vec<u8>, Vec<Event>) {
    let (admin, io) = scripted_session(hd, dd);
    let mut r = Rig::small();
    // The media answers once all input is in, so that only the chunking differs between runs (the order of the
    // answers depends on when the runtime reports media completions, which is the runtime's timing).
    r.hold_media = true;
    let a = r.accept();
    for piece in admin.chunks(chunk) {
        assert_eq!(r.send(a, piece), piece.len());
    }
    let i = r.accept();
    for piece in io.chunks(chunk) {
        assert_eq!(r.send(i, piece), piece.len());
    }
    r.release_held();
    assert!(r.closed(a).is_none() && r.closed(i).is_none());
    // The session did what it says: every command succeeded, both writes landed and were read back.
    let (ga, gi) = (r.take(a), r.take(i));
    let ok = |g: &[Got]| g.iter().filter(|g| matches!(g, Got::Resp(c) if c.status.is_success())).count();
    let resps = |g: &[Got]| g.iter().filter(|g| matches!(g, Got::Resp(_))).cloned().collect::<Vec<_>>();
    assert_eq!((ok(&ga), ok(&gi)), (8, 5), "{:?} {:?}", resps(&ga), resps(&gi));
    assert!(gi.iter().any(|g| matches!(g, Got::R2T { cid: 2, ttag: 0, r2tl: 32768, .. })));
    let read: Vec<u8> = gi
        .iter()
        .filter_map(|g| if let Got::C2H { data, .. } = g { Some(data.clone()) } else { None })
        .flatten()
        .collect();
    assert_eq!(&read[..1024], &[0x11; 1024][..]);
    assert_eq!(&read[4096..4096 + 32768], &r.media[4096..4096 + 32768]);
    assert_eq!(r.media[4096 + 1], 7);
    let (aw, iw) = (r.conns[&a].wire.clone(), r.conns[&i].wire.clone());
    (aw, iw, r.media.clone(), r.events.clone())
}

#[test]
fn controller_answers_the_same_bytes_for_every_chunking_of_its_input() {
    for (hd, dd) in [(false, false), (true, true), (true, false)] {
        let whole = run_controller_session(usize::MAX, hd, dd);
        for chunk in [1, 2, 3, 5, 8, 13, 64, 100, 1000, 4096] {
            let got = run_controller_session(chunk, hd, dd);
            assert!(got.0 == whole.0, "chunk {chunk}, digests {hd}/{dd}: admin queue output differs");
            assert!(got.1 == whole.1, "chunk {chunk}, digests {hd}/{dd}: I/O queue output differs");
            assert!(got.2 == whole.2, "chunk {chunk}, digests {hd}/{dd}: media differs");
            assert_eq!(got.3, whole.3, "chunk {chunk}, digests {hd}/{dd}: events differ");
        }
    }
}

fn host_cfg(policy: Policy) -> HostConfig {
    let mut h = HostConfig::new(NQN, HOSTNQN, HOSTID, Config::new(policy));
    h.digests.header = true;
    h.digests.data = true;
    h
}

fn small_sub() -> SubsystemConfig {
    let mut s = SubsystemConfig::new(NQN);
    s.namespace.blocks = 4096;
    s
}

/// A host session over `Net` with every byte delivered in chunks of `chunk`: bring-up, writes (in-capsule and by
/// R2T), reads, a flush, disconnect. Returns the completions, the host events and the commands seen.
/// What a host session showed: completions and host events (as text), commands sent, media.
type HostSession = (Vec<String>, Vec<String>, Vec<(usize, Option<u16>, Sqe)>, Vec<u8>);

fn run_host_session(chunk: usize) -> HostSession {
    let mut n = Net::new(small_sub(), host_cfg(Policy::Ccr), 2);
    n.chunk = chunk;
    n.start();
    assert_eq!(n.live_paths(), 2, "chunk {chunk}");
    let big: Vec<u8> = (0..40_000u32).map(|i| (i % 253) as u8).collect();
    let big = &big[..39_936]; // 78 blocks
    n.host.submit(n.now, Io::Write { slba: 0, data: vec![5u8; 1024].into() }).unwrap();
    n.host.submit(n.now, Io::Write { slba: 100, data: big.to_vec().into() }).unwrap();
    n.pump();
    n.host.submit(n.now, Io::Read { slba: 100, blocks: 78 }).unwrap();
    n.host.submit(n.now, Io::Read { slba: 0, blocks: 2 }).unwrap();
    n.host.submit(n.now, Io::Flush).unwrap();
    n.pump();
    n.advance(Duration::from_secs(3));
    n.host.disconnect(n.now);
    n.pump();
    n.advance(Duration::from_secs(1));
    let done: Vec<String> = n.done.iter().map(|c| format!("{c:?}")).collect();
    assert_eq!(n.done.len(), 5);
    assert!(n.done.iter().all(|c| c.result.is_ok()), "{:?}", n.done);
    assert_eq!(&n.done[2].result.as_ref().unwrap().data[..], big);
    let events = n.host_events.iter().map(|e| format!("{e:?}")).collect();
    (done, events, n.commands(), n.media[0].clone())
}

#[test]
fn host_behaves_the_same_for_every_chunking_of_its_input() {
    let whole = run_host_session(usize::MAX);
    for chunk in [1, 3, 8, 77, 1000] {
        let got = run_host_session(chunk);
        assert_eq!(got.0, whole.0, "completions, chunk {chunk}");
        assert_eq!(got.1, whole.1, "host events, chunk {chunk}");
        assert_eq!(got.2, whole.2, "commands sent, chunk {chunk}");
        assert!(got.3 == whole.3, "media, chunk {chunk}");
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The PLEN ceiling

/// A CapsuleCmd header (no digests) claiming `plen`, followed by the rest of the PDU when `body`.
fn capsule_of_plen(plen: u32, body: bool) -> Vec<u8> {
    let mut b = ch(0x04, 0, 72, 72, plen);
    let mut sqe = in_capsule_write(9, 0, 1);
    sqe.dptr = SglDescriptor::in_capsule(0, plen - 72);
    b.extend_from_slice(&sqe.to_bytes());
    if body {
        b.resize(plen as usize, 0xAB);
    }
    b
}

#[test]
fn before_connect_the_plen_ceiling_is_8_kib_plus_overhead() {
    let ceiling = ADMIN_IN_CAPSULE + PDU_OVERHEAD as u32;
    let mut r = Rig::small();
    // At the ceiling: the PDU is read whole; its in-capsule data is over the admin limit, answered per command.
    let c = r.accept();
    r.ic(c, false, false);
    let pdu = capsule_of_plen(ceiling, true);
    assert_eq!(r.send(c, &pdu), pdu.len());
    let cqe = r.resp(c);
    assert_eq!(cqe.status, Status::new(StatusCode::SGL_OFFSET_INVALID).with_dnr(true));
    assert!(r.closed(c).is_none());
    // One byte over: refused from the 8-byte header, before any of the body is taken.
    let c = r.accept();
    r.ic(c, false, false);
    let pdu = capsule_of_plen(ceiling + 1, false);
    r.send(c, &pdu[..8]);
    let (fes, fei, data, cause) = r.term(c);
    assert_eq!((fes, fei), (FES_FIELD, 4));
    assert_eq!(data, &pdu[..8], "the common header is copied (HLEN is kept, the PDU was never read)");
    assert_eq!(cause, protocol(FES_FIELD, 4));
}

#[test]
fn on_the_admin_queue_the_plen_ceiling_stays_8_kib_plus_overhead() {
    let ceiling = ADMIN_IN_CAPSULE + PDU_OVERHEAD as u32;
    let mut r = Rig::small();
    let (a, _) = r.admin(5000);
    r.conns.get_mut(&a).unwrap().params = Params::default();
    // The admin connection negotiated digests: rebuild the header with both digest flags.
    let mut hdr = ch(0x04, 0x03, 72, 76, ceiling + 1);
    hdr.truncate(8);
    r.send(a, &hdr);
    let (fes, fei, _, cause) = r.term(a);
    assert_eq!((fes, fei, cause), (FES_FIELD, 4, protocol(FES_FIELD, 4)));
}

#[test]
fn on_an_io_queue_the_plen_ceiling_is_the_larger_of_in_capsule_and_maxh2cdata() {
    let mut cfg = Rig::small_cfg();
    cfg.io_in_capsule = 16 * 1024;
    cfg.maxh2cdata = 32 * 1024;
    let ceiling = 32 * 1024 + PDU_OVERHEAD as u32;
    let mut r = Rig::new(cfg);
    let (_, cntlid) = r.admin(5000);
    let io = r.io(cntlid, 1);
    // An H2CData of exactly MAXH2CDATA (with both digests) is taken whole.
    r.command(io, &r2t_write(1, 0, 64), &[]);
    let [Got::R2T { ttag, r2tl: 32768, .. }] = r.take(io)[..] else { panic!() };
    let data = vec![0x5A; 32768];
    r.send_pdu(io, &h2c(1, ttag, 0, &data, true));
    assert!(r.resp(io).status.is_success());
    assert_eq!(r.media[..32768], data[..]);
    // In-capsule data over IOCCSZ (but under the ceiling) is answered per command.
    let sqe = in_capsule_write(2, 0, 33);
    r.command(io, &sqe, &[1u8; 33 * 512]);
    assert_eq!(r.resp(io).status, Status::new(StatusCode::SGL_OFFSET_INVALID).with_dnr(true));
    // A PDU one byte over the ceiling: refused from its header.
    let hdr = ch(0x04, 0x03, 72, 76, ceiling + 1);
    r.send(io, &hdr);
    let (fes, fei, data, cause) = r.term(io);
    assert_eq!((fes, fei, cause), (FES_FIELD, 4, protocol(FES_FIELD, 4)));
    assert_eq!(data, hdr);

    // When IOCCSZ is the larger, it sets the ceiling.
    let mut cfg = Rig::small_cfg();
    cfg.io_in_capsule = 64 * 1024;
    cfg.maxh2cdata = 16 * 1024;
    let mut r = Rig::new(cfg);
    let (_, cntlid) = r.admin(5000);
    let io = r.io(cntlid, 1);
    let sqe = in_capsule_write(1, 0, 128);
    let n = r.command(io, &sqe, &vec![3u8; 65536]);
    assert_eq!(n, 72 + 4 + 65536 + 4);
    assert!(r.resp(io).status.is_success());
    r.send(io, &ch(0x04, 0x03, 72, 76, 64 * 1024 + PDU_OVERHEAD as u32 + 1));
    assert_eq!(r.term(io).3, protocol(FES_FIELD, 4));
}

// ---------------------------------------------------------------------------------------------------------------
// Fatal receive errors, controller side: a C2HTermReq with the FES, the FEI and the offending header, then close

/// A subsystem with an admin queue and I/O queue 1 connected without digests (easier raw PDUs); a 4 KiB write by
/// R2T (CID 1) outstanding with its R2T: returns (rig, io conn, ttag).
fn io_with_r2t() -> (Rig, ConnId, u16) {
    let mut r = Rig::small();
    let a = r.accept();
    r.ic(a, false, false);
    let cntlid = r.connect(a, &Connect::admin(5000), 0xFFFF).dw0 as u16;
    let io = r.accept();
    r.ic(io, false, false);
    assert!(r.connect(io, &Connect::io(1, 31), cntlid).status.is_success());
    r.command(io, &r2t_write(1, 0, 8), &[]);
    let [Got::R2T { cid: 1, ttag, r2to: 0, r2tl: 4096 }] = r.take(io)[..] else { panic!() };
    (r, io, ttag)
}

/// Sends `bad` on `c` and checks the TermReq: FES, FEI, the header copied (`copied` bytes of `bad`), the cause.
fn expect_term(r: &mut Rig, c: ConnId, bad: &[u8], fes: u16, fei: u32, copied: usize) {
    r.send(c, bad);
    let (f, i, data, cause) = r.term(c);
    assert_eq!((f, i), (fes, fei), "FES/FEI");
    assert_eq!(data, &bad[..copied], "the offending header is copied");
    assert_eq!(cause, protocol(fes, fei), "close cause");
}

#[test]
fn controller_header_digest_error_sends_fes_3_with_the_received_digest() {
    let mut r = Rig::small();
    let (a, _) = r.admin(5000);
    let mut bad = r.encode(a, &Pdu::CapsuleCmd(CapsuleCmd { sqe: KeepAlive.to_sqe(1).to_bytes(), data: &[] }));
    bad[73] ^= 0xFF;
    let received = u32::from_le_bytes(bad[72..76].try_into().unwrap());
    expect_term(&mut r, a, &bad, FES_HEADER_DIGEST, received, 72);
}

#[test]
fn controller_undefined_pdu_type_sends_fes_1_fei_0() {
    let mut r = Rig::small();
    let (a, _) = r.admin(5000);
    expect_term(&mut r, a, &ch(0x08, 0, 8, 0, 8), FES_FIELD, 0, 8);
}

#[test]
fn controller_pdu_of_the_wrong_direction_sends_fes_1_fei_0() {
    let (mut r, io, _) = io_with_r2t();
    let c2h = encode(
        &Pdu::C2HData(C2HData { cccid: 1, datao: 0, data: &[0; 16], last: true, success: false }),
        &Params::default(),
    );
    expect_term(&mut r, io, &c2h, FES_FIELD, 0, 24);
}

#[test]
fn controller_second_icreq_sends_fes_1_fei_0() {
    let mut r = Rig::small();
    let c = r.accept();
    r.ic(c, false, false);
    let ic =
        encode(&Pdu::IcReq(IcReq { hpda: 0, header_digest: false, data_digest: false, maxr2t: 0 }), &Params::default());
    expect_term(&mut r, c, &ic, FES_FIELD, 0, 128);
}

#[test]
fn controller_command_before_icreq_sends_fes_2() {
    let mut r = Rig::small();
    let c = r.accept();
    let cap =
        encode(&Pdu::CapsuleCmd(CapsuleCmd { sqe: KeepAlive.to_sqe(1).to_bytes(), data: &[] }), &Params::default());
    expect_term(&mut r, c, &cap, FES_SEQUENCE, 0, 72);
}

#[test]
fn controller_h2cdata_with_an_unknown_ttag_sends_fes_1_fei_10() {
    let (mut r, io, ttag) = io_with_r2t();
    let bad = encode(&h2c(1, ttag + 1, 0, &[0; 4096], true), &Params::default());
    expect_term(&mut r, io, &bad, FES_FIELD, 10, 24);
}

#[test]
fn controller_h2cdata_with_another_commands_cccid_sends_fes_1_fei_8() {
    let (mut r, io, ttag) = io_with_r2t();
    let bad = encode(&h2c(2, ttag, 0, &[0; 4096], true), &Params::default());
    expect_term(&mut r, io, &bad, FES_FIELD, 8, 24);
}

#[test]
fn controller_h2cdata_not_at_the_next_offset_sends_fes_2() {
    let (mut r, io, ttag) = io_with_r2t();
    let first = encode(&h2c(1, ttag, 0, &[0; 1024], false), &Params::default());
    r.send(io, &first);
    assert!(r.take(io).is_empty());
    let bad = encode(&h2c(1, ttag, 2048, &[0; 1024], false), &Params::default());
    expect_term(&mut r, io, &bad, FES_SEQUENCE, 0, 24);
}

#[test]
fn controller_h2cdata_beyond_the_transfer_sends_fes_4() {
    let (mut r, io, ttag) = io_with_r2t();
    let bad = encode(&h2c(1, ttag, 0, &[0; 4608], true), &Params::default());
    expect_term(&mut r, io, &bad, FES_RANGE, 0, 24);
    assert_eq!(r.media[0], 0, "nothing of it landed");
}

#[test]
fn controller_last_pdu_flag_not_matching_the_transfer_end_sends_fes_2() {
    // LAST_PDU before the end.
    let (mut r, io, ttag) = io_with_r2t();
    let bad = encode(&h2c(1, ttag, 0, &[0; 1024], true), &Params::default());
    expect_term(&mut r, io, &bad, FES_SEQUENCE, 0, 24);
    // No LAST_PDU on the PDU that completes the transfer.
    let (mut r, io, ttag) = io_with_r2t();
    let bad = encode(&h2c(1, ttag, 0, &[0; 4096], false), &Params::default());
    expect_term(&mut r, io, &bad, FES_SEQUENCE, 0, 24);
    assert_eq!(r.media_log.len(), 0, "the write never reached the media");
}

#[test]
fn an_error_in_a_pdu_header_is_refused_once_the_header_is_in_whatever_the_chunking() {
    // An H2CData whose DATAL is over MAXH2CDATA: the header says so before any of its data arrives.
    let mut bad = encode(&h2c(1, 0, 0, &[0; 4096], true), &Params::default());
    bad[16..20].copy_from_slice(&0x2222_2222u32.to_le_bytes());
    let header = &bad[..24];
    for split in [0, 1, 8, 13, 23] {
        let (mut r, io, _) = io_with_r2t();
        // Something of it buffered first (split > 0), or the header in one piece.
        if split > 0 {
            r.send(io, &header[..split]);
            assert!(r.take(io).is_empty());
        }
        r.send(io, &header[split..]);
        let (fes, fei, data, cause) = r.term(io);
        assert_eq!((fes, fei), (0x05, 0), "Data Transfer Limit Exceeded, split at {split}");
        assert_eq!(data, header, "split at {split}");
        assert_eq!(cause, protocol(0x05, 0));
    }
}

#[test]
fn a_fatal_error_closes_only_its_own_connection() {
    let (mut r, io, ttag) = io_with_r2t();
    let (a2, _) = r.admin(5000);
    let bad = encode(&h2c(1, ttag + 3, 0, &[0; 4096], true), &Params::default());
    r.send(io, &bad);
    assert!(r.closed(io).is_some());
    r.command(a2, &KeepAlive.to_sqe(4), &[]);
    assert!(r.resp(a2).status.is_success());
    assert!(r.closed(a2).is_none());
}

#[test]
fn controller_closes_with_the_fes_and_fei_of_a_received_term_req_and_sends_nothing() {
    let mut r = Rig::small();
    let (a, _) = r.admin(5000);
    let t = TermReq { sender: Role::Host, fes: Fes(0x05), fei: 0x1234, data: &[1, 2, 3, 4, 5, 6, 7, 8] };
    let bytes = encode(&Pdu::TermReq(t), &Params::default());
    r.send(a, &bytes);
    assert!(r.take(a).is_empty(), "no answer to a TermReq");
    assert_eq!(r.closed(a), Some(CloseCause::TermReceived { fes: Fes(0x05), fei: 0x1234 }));
    // A TermReq of impossible length (PLEN 20 < 24): closed at once, without a TermReq.
    let (a, _) = r.admin(5000);
    r.send(a, &ch(0x02, 0, 24, 0, 20));
    assert!(r.take(a).is_empty());
    assert_eq!(r.closed(a), Some(CloseCause::ProtocolError { fes: None, fei: 0 }));
}

// ---------------------------------------------------------------------------------------------------------------
// Data digest errors: only the command fails

#[test]
fn controller_answers_a_bad_in_capsule_data_digest_with_0x22_and_goes_on() {
    let mut r = Rig::small();
    let (_, cntlid) = r.admin(5000);
    let io = r.io(cntlid, 1);
    let mut bad =
        r.encode(io, &Pdu::CapsuleCmd(CapsuleCmd { sqe: in_capsule_write(1, 0, 1).to_bytes(), data: &[9; 512] }));
    let n = bad.len();
    bad[n - 1] ^= 1;
    r.send(io, &bad);
    let cqe = r.resp(io);
    assert_eq!((cqe.cid, cqe.status.to_word()), (1, 0x0044), "Transient Transport Error, no DNR");
    assert_eq!(r.media[0], 0);
    assert!(r.closed(io).is_none());
    // The stream goes on; the CID is free again.
    r.command(io, &in_capsule_write(1, 0, 1), &[9; 512]);
    assert!(r.resp(io).status.is_success());
    assert_eq!(r.media[0], 9);
}

#[test]
fn controller_fails_a_write_whose_h2cdata_digest_is_bad_once_its_last_pdu_arrives() {
    let mut r = Rig::small();
    let (_, cntlid) = r.admin(5000);
    let io = r.io(cntlid, 1);
    r.command(io, &r2t_write(1, 0, 64), &[]);
    let [Got::R2T { ttag, .. }] = r.take(io)[..] else { panic!() };
    let mut bad = r.encode(io, &h2c(1, ttag, 0, &[4; 16384], false));
    let n = bad.len();
    bad[n - 1] ^= 1;
    r.send(io, &bad);
    assert!(r.take(io).is_empty(), "the transfer goes on");
    r.send_pdu(io, &h2c(1, ttag, 16384, &[4; 16384], true));
    let cqe = r.resp(io);
    assert_eq!((cqe.cid, cqe.status.to_word()), (1, 0x0044));
    assert!(r.media_log.is_empty() && r.media[0] == 0, "the damaged write never reached the media");
    // The tag and the CID are free: the same write again lands.
    r.command(io, &r2t_write(1, 0, 64), &[]);
    let [Got::R2T { ttag: t2, .. }] = r.take(io)[..] else { panic!() };
    assert_eq!(t2, ttag, "the tag went back to the pool");
    r.send_pdu(io, &h2c(1, t2, 0, &[4; 32768], true));
    assert!(r.resp(io).status.is_success());
    assert_eq!(r.media[32767], 4);
}

#[test]
fn controller_answers_0x22_when_the_only_h2cdata_of_a_write_is_damaged() {
    let mut r = Rig::small();
    let (_, cntlid) = r.admin(5000);
    let io = r.io(cntlid, 1);
    r.command(io, &r2t_write(7, 0, 16), &[]);
    let [Got::R2T { ttag, .. }] = r.take(io)[..] else { panic!() };
    let mut bad = r.encode(io, &h2c(7, ttag, 0, &[4; 8192], true));
    let n = bad.len();
    bad[n - 2] ^= 1;
    r.send(io, &bad);
    let cqe = r.resp(io);
    assert_eq!((cqe.cid, cqe.status.to_word()), (7, 0x0044), "answered, not left waiting");
    assert!(r.media_log.is_empty());
    assert!(r.closed(io).is_none());
}

/// A filter flipping the data digest of the first C2HData PDU of a Read on an I/O queue.
fn corrupt_first_read_data(n: &mut Net) {
    let mut left = 1;
    n.down_filter = Some(Box::new(move |m, pdu| match pdu {
        Pdu::C2HData(d) if left > 0 && m.qid.is_some_and(|q| q > 0) => {
            left -= 1;
            let mut b = encode(&Pdu::C2HData(*d), &m.params);
            let l = b.len();
            b[l - 1] ^= 0x40;
            Verdict::Replace(b)
        }
        _ => Verdict::Pass,
    }));
}

#[test]
fn host_completes_a_read_with_a_bad_data_digest_with_data_transfer_error_and_the_path_stays() {
    let mut h = host_cfg(Policy::Ccr);
    h.max_retries = 0;
    let mut n = Net::new(small_sub(), h, 1);
    n.start();
    corrupt_first_read_data(&mut n);
    let id = n.host.submit(n.now, Io::Read { slba: 0, blocks: 8 }).unwrap();
    n.pump();
    assert_eq!(n.done.len(), 1);
    assert_eq!(n.done[0].id, id);
    assert_eq!(n.done[0].result, Err(IoError::Status(Status::new(StatusCode::DATA_TRANSFER_ERROR))));
    assert_eq!(n.live_paths(), 1);
    assert!(n.failures().is_empty());
    // The next read on the same connection is fine.
    n.host.submit(n.now, Io::Read { slba: 0, blocks: 8 }).unwrap();
    n.pump();
    assert!(n.done[1].result.is_ok());
}

#[test]
fn host_retries_a_read_that_failed_its_data_digest() {
    let mut n = Net::new(small_sub(), host_cfg(Policy::Ccr), 1);
    n.start();
    n.host.submit(n.now, Io::Write { slba: 0, data: vec![0x77; 4096].into() }).unwrap();
    n.pump();
    corrupt_first_read_data(&mut n);
    let before = n.commands().len();
    n.host.submit(n.now, Io::Read { slba: 0, blocks: 8 }).unwrap();
    n.pump();
    let reads = n.commands()[before..].iter().filter(|c| c.2.opcode == 2).count();
    assert_eq!(reads, 2, "sent again after Data Transfer Error (no DNR)");
    assert_eq!(n.done[1].result.as_ref().unwrap().data, vec![0x77; 4096]);
}

#[test]
fn host_keeps_a_read_of_several_pdus_in_sequence_when_one_is_damaged() {
    let mut s = small_sub();
    s.max_data_pdu = 4096;
    let mut h = host_cfg(Policy::Ccr);
    h.max_retries = 0;
    let mut n = Net::new(s, h, 1);
    n.start();
    corrupt_first_read_data(&mut n);
    n.host.submit(n.now, Io::Read { slba: 0, blocks: 32 }).unwrap();
    n.pump();
    assert_eq!(n.done.len(), 1);
    assert_eq!(n.done[0].result, Err(IoError::Status(Status::new(StatusCode::DATA_TRANSFER_ERROR))));
    assert!(n.failures().is_empty(), "the three undamaged PDUs that follow are in sequence");
    assert_eq!(n.live_paths(), 1);
}

#[test]
fn host_completes_a_damaged_c2hdata_with_success_flag_with_data_transfer_error() {
    let mut h = host_cfg(Policy::Ccr);
    h.max_retries = 0;
    let mut n = Net::new(small_sub(), h, 1);
    n.start();
    n.hold_media = true;
    n.host.submit(n.now, Io::Read { slba: 0, blocks: 1 }).unwrap();
    n.pump();
    let (_, qid, sqe) = *n.commands().last().unwrap();
    let conn = n.conn_of(0, qid.unwrap()).unwrap();
    let p = n.params(conn);
    let pdu = C2HData { cccid: sqe.cid, datao: 0, data: &[1; 512], last: true, success: true };
    let mut bad = encode(&Pdu::C2HData(pdu), &p);
    let l = bad.len();
    bad[l - 1] ^= 1;
    n.host_input(conn, &bad);
    n.pump();
    assert_eq!(n.done.len(), 1, "completed without a CapsuleResp");
    assert_eq!(n.done[0].result, Err(IoError::Status(Status::new(StatusCode::DATA_TRANSFER_ERROR))));
    assert!(n.failures().is_empty());
}

// ---------------------------------------------------------------------------------------------------------------
// Fatal receive errors, host side: an H2CTermReq with the FES, the FEI and the offending header; the path fails
// with the cause

/// A live single-path host with a Read of 4 KiB outstanding at the controller (media held): (net, I/O conn, CID).
fn host_with_read() -> (Net, ConnId, u16) {
    let mut h = host_cfg(Policy::Ccr);
    h.digests.header = false;
    h.digests.data = false;
    let mut n = Net::new(small_sub(), h, 1);
    n.start();
    n.hold_media = true;
    n.host.submit(n.now, Io::Read { slba: 0, blocks: 8 }).unwrap();
    n.pump();
    let (_, qid, sqe) = *n.commands().last().unwrap();
    assert_eq!(sqe.opcode, 2);
    let h = n.conn_of(0, qid.unwrap()).unwrap();
    (n, h, sqe.cid)
}

/// Injects `bad` on host connection `h` and checks the H2CTermReq that went up and the path failure.
fn expect_host_term(n: &mut Net, h: ConnId, bad: &[u8], fes: u16, fei: u32, copied: usize) {
    n.host_input(h, bad);
    n.pump();
    let term = n.trace.iter().find_map(|t| match t {
        Trace::Term { conn, up: true, fes, fei, data, .. } if *conn == h => Some((*fes, *fei, data.clone())),
        _ => None,
    });
    assert_eq!(term, Some((fes, fei, bad[..copied].to_vec())), "the H2CTermReq");
    let cause = CloseCause::ProtocolError { fes: Some(Fes(fes)), fei };
    assert_eq!(n.failures(), [(0, PathFailure::Closed(cause))]);
    // The association's other connections close too, as Local: no TermReq went there.
    let closes: Vec<(ConnId, CloseCause)> = n
        .trace
        .iter()
        .filter_map(|t| match t {
            Trace::HostClose { conn, cause, .. } => Some((*conn, *cause)),
            _ => None,
        })
        .collect();
    assert_eq!(closes.len(), 3, "{closes:?}");
    for (c, why) in closes {
        assert_eq!(why, if c == h { cause } else { CloseCause::Local }, "{c}");
    }
    // The offending connection closes first, its TermReq last on it: the subsystem saw it, with the same FES and FEI.
    assert!(n.sub_events.iter().any(|(_, _, e)| matches!(e,
        Event::ConnClosed { cause: CloseCause::TermReceived { fes: f, fei: i }, .. } if f.0 == fes && *i == fei)));
}

fn c2h(cid: u16, datao: u32, len: usize, last: bool) -> Vec<u8> {
    let data = vec![0xEE; len];
    encode(&Pdu::C2HData(C2HData { cccid: cid, datao, data: &data, last, success: false }), &Params::default())
}

#[test]
fn host_header_digest_error_sends_fes_3() {
    let mut n = Net::new(small_sub(), host_cfg(Policy::Ccr), 1);
    n.start();
    let h = n.conn_of(0, 0).unwrap();
    let resp = CapsuleResp { cqe: Cqe::new(999, Status::SUCCESS).to_bytes() };
    let mut bad = encode(&Pdu::CapsuleResp(resp), &n.params(h));
    bad[9] ^= 0x10;
    let received = u32::from_le_bytes(bad[24..28].try_into().unwrap());
    expect_host_term(&mut n, h, &bad, FES_HEADER_DIGEST, received, 24);
}

#[test]
fn host_undefined_type_and_wrong_direction_send_fes_1_fei_0() {
    let (mut n, h, _) = host_with_read();
    expect_host_term(&mut n, h, &ch(0x0B, 0, 8, 0, 8), FES_FIELD, 0, 8);
    let (mut n, h, _) = host_with_read();
    let cap =
        encode(&Pdu::CapsuleCmd(CapsuleCmd { sqe: KeepAlive.to_sqe(1).to_bytes(), data: &[] }), &Params::default());
    expect_host_term(&mut n, h, &cap, FES_FIELD, 0, 72);
}

#[test]
fn host_second_icresp_sends_fes_1_fei_0() {
    let (mut n, h, _) = host_with_read();
    let resp = IcResp { cpda: 0, header_digest: false, data_digest: false, maxh2cdata: 131072 };
    let bytes = encode(&Pdu::IcResp(resp), &Params::default());
    expect_host_term(&mut n, h, &bytes, FES_FIELD, 0, 128);
}

#[test]
fn host_pdu_before_icresp_sends_fes_2() {
    // A bare host: the connection is open, the ICReq sent, nothing answered yet.
    let mut host = nvme_fabric::host::Host::new(host_cfg(Policy::Ccr), 1).unwrap();
    let now = nvme_fabric::Instant::ZERO;
    host.start(now);
    let open = host.poll_open().unwrap();
    host.handle_connected(now, open.conn);
    let mut buf = vec![0u8; host.config().transmit_buffer_len()];
    while let Some(ev) = host.poll_conn_event() {
        if let nvme_fabric::conn::ConnEvent::Transmit(c) = ev {
            while host.poll_transmit(now, c, &mut buf).unwrap() > 0 {}
        }
    }
    let resp =
        encode(&Pdu::CapsuleResp(CapsuleResp { cqe: Cqe::new(0, Status::SUCCESS).to_bytes() }), &Params::default());
    host.handle_input(now, open.conn, &resp);
    let mut wire = Vec::new();
    let mut closed = None;
    while let Some(ev) = host.poll_conn_event() {
        match ev {
            nvme_fabric::conn::ConnEvent::Close(c, cause) => {
                let n = host.poll_transmit(now, c, &mut buf).unwrap();
                wire.extend_from_slice(&buf[..n]);
                closed = Some(cause);
            }
            nvme_fabric::conn::ConnEvent::Transmit(c) => {
                let n = host.poll_transmit(now, c, &mut buf).unwrap();
                wire.extend_from_slice(&buf[..n]);
            }
            _ => {}
        }
    }
    assert_eq!(closed, Some(CloseCause::ProtocolError { fes: Some(Fes(2)), fei: 0 }));
    let t = TermReq::parse(&wire).unwrap();
    assert_eq!((t.sender, t.fes, t.fei, t.data), (Role::Host, Fes(2), 0, &resp[..24]));
}

#[test]
fn host_response_for_an_unknown_cid_sends_fes_1_fei_8() {
    let (mut n, h, cid) = host_with_read();
    let resp = encode(
        &Pdu::CapsuleResp(CapsuleResp { cqe: Cqe::new(cid + 1, Status::SUCCESS).to_bytes() }),
        &Params::default(),
    );
    expect_host_term(&mut n, h, &resp, FES_FIELD, 8, 24);
    // And C2HData or an R2T naming no command.
    let (mut n, h, cid) = host_with_read();
    expect_host_term(&mut n, h, &c2h(cid + 1, 0, 512, false), FES_FIELD, 8, 24);
    let (mut n, h, cid) = host_with_read();
    let r2t = encode(&Pdu::R2T(R2T { cccid: cid, ttag: 0, r2to: 0, r2tl: 512 }), &Params::default());
    expect_host_term(&mut n, h, &r2t, FES_FIELD, 8, 24);
}

#[test]
fn host_c2hdata_sequence_errors_send_fes_2_and_out_of_range_fes_4() {
    let (mut n, h, cid) = host_with_read();
    expect_host_term(&mut n, h, &c2h(cid, 512, 512, false), FES_SEQUENCE, 0, 24);
    let (mut n, h, cid) = host_with_read();
    expect_host_term(&mut n, h, &c2h(cid, 0, 4608, true), FES_RANGE, 0, 24);
    let (mut n, h, cid) = host_with_read();
    expect_host_term(&mut n, h, &c2h(cid, 0, 512, true), FES_SEQUENCE, 0, 24);
    let (mut n, h, cid) = host_with_read();
    expect_host_term(&mut n, h, &c2h(cid, 0, 4096, false), FES_SEQUENCE, 0, 24);
}

#[test]
fn host_fails_the_path_with_the_fes_and_fei_of_a_received_term_req() {
    let (mut n, h, _) = host_with_read();
    let t = TermReq { sender: Role::Controller, fes: Fes(0x06), fei: 11, data: &[0; 8] };
    n.host_input(h, &encode(&Pdu::TermReq(t), &Params::default()));
    n.pump();
    let cause = CloseCause::TermReceived { fes: Fes(0x06), fei: 11 };
    assert_eq!(n.failures(), [(0, PathFailure::Closed(cause))]);
    assert!(n.host_events.iter().any(|(_, e)| matches!(e, HostEvent::PathFailed { was_live: true, .. })));
    assert!(!n.trace.iter().any(|t| matches!(t, Trace::Term { up: true, .. })), "no TermReq answers a TermReq");
}
