//! Replays the checked-in seed corpora of the nvme-proto fuzz targets (`fuzz/corpus/<target>/`, every file) through
//! the very harnesses the targets run (`fuzz/src/proto.rs`, included below), on the stable toolchain and without
//! `cfg(fuzzing)`: digests are checked for real here, and the harnesses assert that (a wrong digest must be
//! reported, a flipped byte must fail its digest). Every file must give `Ok` or `Err`, never a panic, and the
//! round-trip targets assert their round trips.
//!
//! The seeds themselves are built by [`seeds`] below (the byte vectors of `nvme_proto::notes::vectors`, and PDUs,
//! streams, queue entries, Identify data and log pages made with the crate's encoders);
//! `seed_files_match_their_generator` checks the files are what it builds. To regenerate them:
//! `NVME_FUZZ_WRITE_SEEDS=1 cargo test -p nvme-proto --test fuzz_corpus`.

#[path = "../../fuzz/src/proto.rs"]
mod harness;
#[path = "../../fuzz/src/replay.rs"]
mod replay;

use harness::{Digests, SETUP_LEN, Setup};
use nvme_proto::cmd::{
    ANACAP_CHANGE, ANACAP_INACCESSIBLE, ANACAP_NON_OPTIMIZED, ANACAP_OPTIMIZED, AddressFamily, AdminCommand,
    AnaGroupDescriptor, AnaLogPage, AnaState, CMIC_ANA, CcrLogEntry, CcrLogPage, Ccrl, Ccrs, Connect, ConnectData, Cqe,
    Cqt, CrossControllerReset, DiscoveryLogEntry, DiscoveryLogPage, FabricsCommand, GetLogPage, Identify,
    IdentifyController, IdentifyNamespace, KeepAlive, LbaFormat, LostHostCommunicationEntry,
    LostHostCommunicationLogPage, NamespaceList, NsDescriptorList, NsIdentifier, NsidList, PropertyGet, PropertyOffset,
    ReadWrite, Status, StatusCode, SubsystemType, TcpSecurityType, Treq, Tsas,
};
use nvme_proto::tcp::{C2HData, CapsuleCmd, CapsuleResp, Fes, H2CData, IcReq, IcResp, Params, Pdu, R2T, Role, TermReq};

use replay::Harness;

/// The nvme-proto targets and their harnesses.
const TARGETS: [(&str, Harness); 6] = [
    ("tcp_deframer", harness::tcp_deframer),
    ("tcp_deframer_digests", harness::tcp_deframer_digests),
    ("tcp_pdu_roundtrip", harness::tcp_pdu_roundtrip),
    ("cmd_queue_entries", harness::cmd_queue_entries),
    ("cmd_identify_log", harness::cmd_identify_log),
    ("auth_messages", harness::auth_messages),
];

#[test]
fn this_build_checks_digests() {
    assert!(harness::digests_checked(), "the replay must run without cfg(fuzzing)");
}

#[test]
fn every_corpus_file_replays_through_its_harness() {
    replay::replay_all(env!("CARGO_MANIFEST_DIR"), &TARGETS);
}

#[test]
fn seed_files_match_their_generator() {
    replay::check_or_write_seeds(env!("CARGO_MANIFEST_DIR"), seeds());
}

/// The Discovery and ANA seeds are what their names say, so the harness's page checks run on them.
#[test]
fn log_page_seeds_parse_as_their_pages() {
    let seeds = seeds();
    let seed = |name: &str| {
        let (_, _, bytes) = seeds.iter().find(|(t, n, _)| *t == "cmd_identify_log" && *n == name).expect("seed");
        bytes.clone()
    };
    let disc = seed("discovery_log_two_entries");
    let page = DiscoveryLogPage::new_checked(&disc).expect("a Discovery page");
    assert_eq!(page.entries().filter(Result::is_ok).count(), 2);
    let header_bytes = seed("discovery_log_header_20");
    let header = nvme_proto::cmd::DiscoveryLogHeader::parse(&header_bytes).expect("a header");
    assert_eq!(header.numrec, 2);
    let ana = seed("ana_log_three_groups");
    let page = AnaLogPage::new_checked(&ana, false).expect("an ANA page");
    assert_eq!(page.descriptors().filter(Result::is_ok).count(), 3);
    let rgo = seed("ana_log_rgo");
    assert!(AnaLogPage::new_checked(&rgo, true).is_ok() && AnaLogPage::new_checked(&ana, true).is_err());
    let id_bytes = seed("identify_controller_ana");
    let id = IdentifyController::parse(&id_bytes).expect("Identify Controller");
    assert_eq!((id.cmic & CMIC_ANA, id.anagrpmax), (CMIC_ANA, 32));
}

/// The seeds must exercise what they are for: decoded by the same checks the deframer makes, the digest
/// vectors give their PDUs and the negative vectors their errors (so a seed cannot silently rot into noise).
#[test]
fn digest_seeds_decode_as_vectors_md_says() {
    let seeds = seeds();
    let find = |name: &str| {
        let (_, _, bytes) = seeds.iter().find(|(t, n, _)| *t == "tcp_deframer_digests" && *n == name).expect("seed");
        let (setup, rest) = Setup::split(bytes, Digests::On).expect("setup bytes");
        (setup, rest.to_vec())
    };
    let (s, a) = find("vector_a_capsule_resp_hdgst");
    assert!(matches!(Pdu::parse(&a, &s.params, s.receiver), Ok(Pdu::CapsuleResp(r)) if r.cid() == 1));
    let (s, bad) = find("vector_a_bad_header");
    assert!(matches!(
        Pdu::parse(&bad, &s.params, s.receiver),
        Err(nvme_proto::tcp::PduError::HeaderDigest { received: 0xEF76_C8FA, computed: 0x3432_4F93 })
    ));
    let (s, b) = find("vector_b_bad_data_then_good");
    let err = Pdu::parse(&b, &s.params, s.receiver).expect_err("B-bad-data");
    assert_eq!((err.is_fatal(), err.cccid(), err.consumed()), (false, Some(9), Some(40)));
    assert!(
        matches!(Pdu::parse(&b[40..], &s.params, s.receiver), Ok(Pdu::H2CData(d)) if d.data == [1, 2, 3, 4, 5, 6, 7, 8])
    );
    let (s, pad) = find("vector_pad_cpda7_both_pads");
    for half in [&pad[..44], &pad[44..]] {
        assert!(
            matches!(Pdu::parse(half, &s.params, s.receiver), Ok(Pdu::H2CData(d)) if d.data == [1, 2, 3, 4, 5, 6, 7, 8])
        );
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The seed generator
// ---------------------------------------------------------------------------------------------------------------

/// Bytes from hex text as nvme_proto::notes::vectors writes it (whitespace ignored).
fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits.chunks(2).map(|p| u8::from_str_radix(std::str::from_utf8(p).expect("ascii"), 16).expect("hex")).collect()
}

fn with_setup(setup: [u8; SETUP_LEN], body: &[u8]) -> Vec<u8> {
    let mut v = setup.to_vec();
    v.extend_from_slice(body);
    v
}

fn params(hd: bool, dd: bool, pda: u8) -> Params {
    Params { header_digest: hd, data_digest: dd, hpda: pda, cpda: pda, ..Params::default() }
}

/// The encodings of `pdus` under `p`, one after the other.
fn stream(p: &Params, pdus: &[Pdu<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for pdu in pdus {
        let mut buf = vec![0u8; pdu.buffer_len(p)];
        let n = pdu.emit(p, &mut buf).expect("seed PDU encodes");
        out.extend_from_slice(&buf[..n]);
    }
    out
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

fn cqe(cid: u16, status: Status) -> [u8; 16] {
    let mut c = Cqe::new(cid, status);
    c.sqhd = cid;
    c.to_bytes()
}

/// Setup chunk indexes (see `fuzz/src/proto.rs`): 0 = 1 byte, 4 = 7 bytes, 6 = 13 bytes, 11 = 1448 bytes,
/// 12 = 1500 bytes, 15 = everything at once.
const BYTE: u8 = 0;
const SEVEN: u8 = 4;
const THIRTEEN: u8 = 6;
const MSS: u8 = 11;
const MTU: u8 = 12;
const WHOLE: u8 = 15;

// notes::vectors §2 and §3.3.
const VECTOR_A: &str = "05 01 18 00 1c 00 00 00 01 00 00 00 00 00 00 00 01 00 00 00 01 00 00 00 fa c8 76 ef";
const VECTOR_A_BAD: &str = "05 01 18 00 1c 00 00 00 01 00 00 00 00 00 00 00 02 00 00 00 01 00 00 00 fa c8 76 ef";
const VECTOR_B: &str = "06 07 18 1c 28 00 00 00 09 00 03 00 00 00 00 00 08 00 00 00 00 00 00 00 ed 95 2e 61 01 02 03 04
                        05 06 07 08 81 1f 89 46";
const VECTOR_B_BAD: &str =
    "06 07 18 1c 28 00 00 00 09 00 03 00 00 00 00 00 08 00 00 00 00 00 00 00 ed 95 2e 61 01 02 03 04
                            05 06 07 09 81 1f 89 46";
const VECTOR_C: &str = "04 01 48 00 4c 00 00 00 18 40 10 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
                        00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 5a 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
                        00 00 00 00 00 00 00 00 75 18 f1 64";
const VECTOR_PAD: &str =
    "06 07 18 20 2c 00 00 00 09 00 03 00 00 00 00 00 08 00 00 00 00 00 00 00 44 46 5f 94 00 00 00 00
                          01 02 03 04 05 06 07 08 81 1f 89 46";
const VECTOR_PAD_FLIPPED: &str =
    "06 07 18 20 2c 00 00 00 09 00 03 00 00 00 00 00 08 00 00 00 00 00 00 00 44 46 5f 94 ff ff ff ff
                                  01 02 03 04 05 06 07 08 81 1f 89 46";
const CCR_CAPSULE: &str = "04 01 48 00 4c 00 00 00 38 40 21 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
                           00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 5a 02 00 07 00 00 00 00 00 88 77 66 55 44 33 22 11
                           00 00 00 00 00 00 00 00 92 33 4c 40";
const CCR_RESP_SUCCESS: &str = "05 01 18 00 1c 00 00 00 00 00 00 00 00 00 00 00 05 00 00 00 21 00 00 00 e2 53 42 eb";
const CCR_RESP_LIMIT: &str = "05 01 18 00 1c 00 00 00 00 00 00 00 00 00 00 00 06 00 00 00 21 00 82 02 6b 6e bb 0d";
const CCR_LOG_ONE_ENTRY: &str = "01 00 00 00 00 00 00 00 02 00 07 00 01 00 01 01";

fn ic_req_digests() -> Vec<u8> {
    let mut v = hex("00 00 80 00 80 00 00 00 00 00 00 03 00 00 00 00");
    v.resize(128, 0);
    v
}

fn ic_resp_linux() -> Vec<u8> {
    let mut v = hex("01 00 80 00 80 00 00 00 00 00 00 03 00 00 40 00");
    v.resize(128, 0);
    v
}

fn keep_alive_sqe(cid: u16) -> [u8; 64] {
    AdminCommand::KeepAlive(KeepAlive).to_sqe(cid).to_bytes()
}

fn write_sqe(cid: u16, blocks: u32, in_capsule: bool) -> [u8; 64] {
    let mut rw = ReadWrite::new(1, 8, blocks, 512).expect("a valid Write");
    if in_capsule {
        rw.dptr = nvme_proto::cmd::SglDescriptor::in_capsule(0, blocks * 512);
    }
    nvme_proto::cmd::IoCommand::Write(rw).to_sqe(cid).to_bytes()
}

type Seed = (&'static str, &'static str, Vec<u8>);

/// Every seed file: (target, file name, bytes).
fn seeds() -> Vec<Seed> {
    let mut s = Vec::new();
    tcp_seeds(&mut s);
    cmd_seeds(&mut s);
    identify_log_seeds(&mut s);
    auth_seeds(&mut s);
    s
}

/// The authentication messages of nvme_proto::notes::vectors §6.1 (Linux's Negotiate, a Challenge and a Reply with
/// an ffdhe2048 value, Success1 without R2 followed by the zeros a Linux target pads with, a Failure1), and DHHC-1
/// texts of §6.2 (the specification's example, nvme-cli's SHA-512 key, the bad-CRC key).
fn auth_seeds(s: &mut Vec<Seed>) {
    use nvme_proto::auth::{
        AuthMessage, Challenge, DhGroupId, Failure1, FailureExplanation, HashId, Negotiate, ProtocolDescriptor, Reply,
        SecureChannel, Success1,
    };
    let emit = |m: AuthMessage<'_>, pad_to: usize| {
        let mut v = vec![0u8; m.buffer_len().max(pad_to)];
        m.emit(&mut v).expect("encodes");
        v
    };
    let d = ProtocolDescriptor::dh_hmac_chap(&HashId::ALL, &DhGroupId::ALL).to_view().expect("descriptor");
    let negotiate = Negotiate { t_id: 0, sc_c: SecureChannel::NONE, descriptors: std::slice::from_ref(&d) };
    s.push(("auth_messages", "negotiate_linux", emit(AuthMessage::Negotiate(negotiate), 0)));
    let c1: Vec<u8> = (0..48).map(|i| 0xC0 + i).collect();
    let dhv: Vec<u8> = (0..=255).collect();
    let challenge = Challenge {
        t_id: 0x1234,
        hash_id: HashId::SHA_384,
        dh_group: DhGroupId::FFDHE2048,
        seqnum: 0xA1B2_C3D4,
        challenge: &c1,
        dh_value: &dhv,
    };
    s.push(("auth_messages", "challenge_ffdhe2048", emit(AuthMessage::Challenge(challenge), 0)));
    let r1: Vec<u8> = (0..64).map(|i| 0x40 + i).collect();
    let reply = Reply { t_id: 0x0203, seqnum: 5, response: &r1, challenge: Some(&r1), dh_value: &dhv };
    s.push(("auth_messages", "reply_bidirectional_ffdhe2048", emit(AuthMessage::Reply(reply), 0)));
    let success1 = Success1 { t_id: 9, hl: 48, response: None };
    s.push(("auth_messages", "success1_padded_like_nvmet", emit(AuthMessage::Success1(success1), 4096)));
    let failure1 = Failure1::new(1, FailureExplanation::INCORRECT_PAYLOAD);
    s.push(("auth_messages", "failure1", emit(AuthMessage::Failure1(failure1), 0)));
    for (name, text) in [
        ("secret_spec_example", "DHHC-1:00:ia6zGodOr4SEG0Zzaw398rpY0wqipUWj4jWjUh4HWUz6aQ2n:"),
        (
            "secret_nvme_cli_sha512",
            "DHHC-1:03:dBQ3FCKaxRfO4HzC0dPkFw8kEmShHdXuPdht+ymObAtj8RkgGvitD0kHQ/sW9bNPF6xB6KMELsiTrd+9OVHLkNx2e3k=:",
        ),
        ("secret_bad_crc", "DHHC-1:00:Jc/My1o0qtLCWRp+sHhAVafdfaS7YQOMYhk9zSmlatobqB8C:"),
    ] {
        s.push(("auth_messages", name, text.as_bytes().to_vec()));
    }
}

fn tcp_seeds(s: &mut Vec<Seed>) {
    let plain = params(false, false, 0);
    let data4k = pattern(4096, 1);
    let data512 = pattern(512, 2);
    let resp = |cid| Pdu::CapsuleResp(CapsuleResp { cqe: cqe(cid, Status::SUCCESS) });
    let host_mixed = [
        resp(1),
        Pdu::C2HData(C2HData { cccid: 2, datao: 0, data: &data4k, last: true, success: false }),
        resp(2),
        Pdu::R2T(R2T { cccid: 3, ttag: 1, r2to: 0, r2tl: 8192 }),
        Pdu::C2HData(C2HData { cccid: 4, datao: 0, data: &data512, last: true, success: true }),
    ];
    let ka = keep_alive_sqe(0x10);
    let write_ic = write_sqe(0x11, 1, true);
    let write = write_sqe(0x12, 8, false);
    let h2c_term_header = stream(&plain, &[resp(9)]);
    let controller_cmds = [
        Pdu::CapsuleCmd(CapsuleCmd { sqe: ka, data: &[] }),
        Pdu::CapsuleCmd(CapsuleCmd { sqe: write_ic, data: &data512 }),
        Pdu::CapsuleCmd(CapsuleCmd { sqe: write, data: &[] }),
        Pdu::H2CData(H2CData { cccid: 0x12, ttag: 1, datao: 0, data: &data4k, last: true }),
    ];
    let term = |sender, data| Pdu::TermReq(TermReq { sender, fes: Fes::INVALID_HEADER_FIELD, fei: 2, data });

    // tcp_deframer: no digests.
    let host = |est, chunk| Setup::bytes(Role::Host, est, false, false, 0, chunk);
    let ctrl = |est, pda, chunk| Setup::bytes(Role::Controller, est, false, false, pda, chunk);
    s.push(("tcp_deframer", "host_mixed_mss_chunks", with_setup(host(true, MSS), &stream(&plain, &host_mixed))));
    let mut v = IcReq { hpda: 0, header_digest: false, data_digest: false, maxr2t: 0 }.emit_vec();
    v.extend(stream(&plain, &controller_cmds));
    v.extend(stream(&plain, &[term(Role::Host, &h2c_term_header[..24])]));
    s.push(("tcp_deframer", "controller_ic_commands_term_bytewise", with_setup(ctrl(false, 0, BYTE), &v)));
    let mut v = IcResp { cpda: 0, header_digest: false, data_digest: false, maxh2cdata: 0x40_0000 }.emit_vec();
    v.extend(stream(&plain, &[resp(3), term(Role::Controller, &h2c_term_header[..8])]));
    s.push(("tcp_deframer", "host_ic_resp_then_term", with_setup(host(false, SEVEN), &v)));
    let padded = params(false, false, 7);
    s.push((
        "tcp_deframer",
        "controller_pda7_padding",
        with_setup(ctrl(true, 7, THIRTEEN), &stream(&padded, &controller_cmds)),
    ));
    let mut v = stream(&plain, &[resp(4)]);
    v.extend_from_slice(&hex("0a 00 18 00 18 00 00 00"));
    v.resize(v.len() + 16, 0);
    s.push(("tcp_deframer", "undefined_type_after_resp", with_setup(host(true, WHOLE), &v)));
    let mut setup = host(true, MTU);
    setup[2] |= 1 << 4; // PLEN ceiling: 152 bytes
    s.push(("tcp_deframer", "plen_over_ceiling", with_setup(setup, &stream(&plain, &host_mixed))));

    // tcp_deframer_digests.
    let dig_host = |hd, dd, chunk| Setup::bytes(Role::Host, true, hd, dd, 0, chunk);
    let dig_ctrl = |hd, dd, pda, chunk| Setup::bytes(Role::Controller, true, hd, dd, pda, chunk);
    s.push((
        "tcp_deframer_digests",
        "vector_a_capsule_resp_hdgst",
        with_setup(dig_host(true, false, BYTE), &hex(VECTOR_A)),
    ));
    s.push((
        "tcp_deframer_digests",
        "vector_b_h2c_data_both",
        with_setup(dig_ctrl(true, true, 0, SEVEN), &hex(VECTOR_B)),
    ));
    s.push((
        "tcp_deframer_digests",
        "vector_c_keep_alive_hdgst",
        with_setup(dig_ctrl(true, false, 0, WHOLE), &hex(VECTOR_C)),
    ));
    s.push((
        "tcp_deframer_digests",
        "vector_a_bad_header",
        with_setup(dig_host(true, false, WHOLE), &hex(VECTOR_A_BAD)),
    ));
    let mut v = hex(VECTOR_B_BAD);
    v.extend(hex(VECTOR_B));
    s.push(("tcp_deframer_digests", "vector_b_bad_data_then_good", with_setup(dig_ctrl(true, true, 0, THIRTEEN), &v)));
    let mut v = hex(VECTOR_PAD);
    v.extend(hex(VECTOR_PAD_FLIPPED));
    s.push(("tcp_deframer_digests", "vector_pad_cpda7_both_pads", with_setup(dig_ctrl(true, true, 7, BYTE), &v)));
    s.push((
        "tcp_deframer_digests",
        "ccr_capsule_hdgst",
        with_setup(dig_ctrl(true, false, 0, SEVEN), &hex(CCR_CAPSULE)),
    ));
    let mut v = hex(CCR_RESP_SUCCESS);
    v.extend(hex(CCR_RESP_LIMIT));
    s.push(("tcp_deframer_digests", "ccr_responses_hdgst", with_setup(dig_host(true, false, THIRTEEN), &v)));
    let both = params(true, true, 0);
    s.push((
        "tcp_deframer_digests",
        "host_mixed_both_digests",
        with_setup(dig_host(true, true, MTU), &stream(&both, &host_mixed)),
    ));
    let mut v = ic_req_digests();
    v.extend(stream(&both, &controller_cmds));
    s.push((
        "tcp_deframer_digests",
        "controller_ic_then_both_digests",
        with_setup(Setup::bytes(Role::Controller, false, true, true, 0, MSS), &v),
    ));
    s.push((
        "tcp_deframer_digests",
        "controller_data_digest_only",
        with_setup(dig_ctrl(false, true, 3, SEVEN), &stream(&params(false, true, 3), &controller_cmds)),
    ));

    // tcp_pdu_roundtrip: one PDU each.
    let one = |receiver, hd, dd, pda| Setup::bytes(receiver, true, hd, dd, pda, WHOLE);
    s.push((
        "tcp_pdu_roundtrip",
        "ic_req_digests",
        with_setup(one(Role::Controller, false, false, 0), &ic_req_digests()),
    ));
    s.push(("tcp_pdu_roundtrip", "ic_resp_linux", with_setup(one(Role::Host, false, false, 0), &ic_resp_linux())));
    s.push(("tcp_pdu_roundtrip", "vector_a", with_setup(one(Role::Host, true, false, 0), &hex(VECTOR_A))));
    s.push((
        "tcp_pdu_roundtrip",
        "vector_a_bad_header",
        with_setup(one(Role::Host, true, false, 0), &hex(VECTOR_A_BAD)),
    ));
    s.push(("tcp_pdu_roundtrip", "vector_b", with_setup(one(Role::Controller, true, true, 0), &hex(VECTOR_B))));
    s.push(("tcp_pdu_roundtrip", "vector_c", with_setup(one(Role::Controller, true, false, 0), &hex(VECTOR_C))));
    s.push((
        "tcp_pdu_roundtrip",
        "vector_pad_cpda7",
        with_setup(one(Role::Controller, true, true, 7), &hex(VECTOR_PAD_FLIPPED)),
    ));
    s.push(("tcp_pdu_roundtrip", "ccr_capsule", with_setup(one(Role::Controller, true, false, 0), &hex(CCR_CAPSULE))));
    s.push(("tcp_pdu_roundtrip", "ccr_resp_limit", with_setup(one(Role::Host, true, false, 0), &hex(CCR_RESP_LIMIT))));
    let r2t = stream(&both, &[Pdu::R2T(R2T { cccid: 7, ttag: 2, r2to: 4096, r2tl: 4096 })]);
    s.push(("tcp_pdu_roundtrip", "r2t_hdgst", with_setup(one(Role::Host, true, true, 0), &r2t)));
    let c2h_term = stream(&plain, &[term(Role::Controller, &hex(VECTOR_C)[..72])]);
    s.push(("tcp_pdu_roundtrip", "c2h_term_req", with_setup(one(Role::Host, false, false, 0), &c2h_term)));
    let capsule_data = stream(&both, &[Pdu::CapsuleCmd(CapsuleCmd { sqe: write_ic, data: &data512 })]);
    s.push((
        "tcp_pdu_roundtrip",
        "capsule_in_capsule_data",
        with_setup(one(Role::Controller, true, true, 0), &capsule_data),
    ));
}

trait EmitVec {
    fn emit_vec(&self) -> Vec<u8>;
}

impl EmitVec for IcReq {
    fn emit_vec(&self) -> Vec<u8> {
        let mut v = vec![0u8; self.buffer_len()];
        self.emit(&mut v).expect("ICReq encodes");
        v
    }
}

impl EmitVec for IcResp {
    fn emit_vec(&self) -> Vec<u8> {
        let mut v = vec![0u8; self.buffer_len()];
        self.emit(&mut v).expect("ICResp encodes");
        v
    }
}

fn cmd_seeds(s: &mut Vec<Seed>) {
    let sqe_then_cqe = |sqe: [u8; 64], cqe: [u8; 16]| {
        let mut v = sqe.to_vec();
        v.extend_from_slice(&cqe);
        v
    };
    let ccr = CrossControllerReset { icid: 2, ciu: 7, cirn: 0x1122_3344_5566_7788 };
    let limit = Status::new(StatusCode::CCR_LIMIT_EXCEEDED);
    s.push((
        "cmd_queue_entries",
        "ccr_then_limit_exceeded",
        sqe_then_cqe(ccr.to_sqe(0x21).to_bytes(), cqe(0x21, limit)),
    ));
    s.push(("cmd_queue_entries", "keep_alive_vector_c", hex(VECTOR_C)[8..72].to_vec()));
    s.push((
        "cmd_queue_entries",
        "identify_controller",
        sqe_then_cqe(Identify::controller().to_sqe(3).to_bytes(), cqe(3, Status::SUCCESS)),
    ));
    s.push(("cmd_queue_entries", "get_log_page_ccr_rmc", GetLogPage::ccr_log(true, 40).to_sqe(4).to_bytes().to_vec()));
    let connect = FabricsCommand::Connect(Connect::admin(5_000));
    let unrecovered = Status::from_word(0x9502);
    s.push((
        "cmd_queue_entries",
        "connect_admin",
        sqe_then_cqe(AdminCommand::Fabrics(connect).to_sqe(5).to_bytes(), cqe(5, unrecovered)),
    ));
    let get_cap = FabricsCommand::PropertyGet(PropertyGet::new(PropertyOffset::CAP));
    s.push(("cmd_queue_entries", "property_get_cap", AdminCommand::Fabrics(get_cap).to_sqe(6).to_bytes().to_vec()));
    let transient = Status::from_word(0x0044);
    s.push((
        "cmd_queue_entries",
        "write_then_transient_error",
        sqe_then_cqe(write_sqe(7, 8, false), cqe(7, transient)),
    ));
    let path_error = Status::new(StatusCode::HOST_PATHING_ERROR);
    let read = ReadWrite::new(1, 0, 1, 4096).expect("a valid Read");
    let read = nvme_proto::cmd::IoCommand::Read(read).to_sqe(8).to_bytes();
    s.push(("cmd_queue_entries", "read_then_host_pathing_error", sqe_then_cqe(read, cqe(8, path_error))));
    let data = ConnectData {
        hostid: [0x11; 16],
        cntlid: ConnectData::DYNAMIC_CNTLID,
        subnqn: "nqn.2024-01.io.example:subsys",
        hostnqn: "nqn.2014-08.org.nvmexpress:uuid:11111111-1111-1111-1111-111111111111",
    };
    let mut v = vec![0u8; ConnectData::LEN];
    data.emit(&mut v).expect("Connect data encodes");
    s.push(("cmd_queue_entries", "connect_data", v));
}

fn identify_log_seeds(s: &mut Vec<Seed>) {
    let mut id = IdentifyController::fabrics_io(1, "nqn.2024-01.io.example:subsys");
    id.sn = "SN0001";
    id.mn = "nvme-recovery reference target";
    id.fr = "0.1";
    id.cqt = Cqt::from_raw(1);
    id.ciu = 7;
    id.cirn = 0x1122_3344_5566_7788;
    id.ccrl = Ccrl::from_raw(4);
    let mut v = vec![0u8; IdentifyController::LEN];
    id.emit(&mut v).expect("Identify Controller encodes");
    s.push(("cmd_identify_log", "identify_controller_cqt_ccr", v));
    let ns = IdentifyNamespace::new(1 << 20, LbaFormat::LBA_4096);
    let mut v = vec![0u8; IdentifyNamespace::LEN];
    ns.emit(&mut v).expect("Identify Namespace encodes");
    s.push(("cmd_identify_log", "identify_namespace_4k", v));
    let mut v = vec![0u8; 4096];
    NamespaceList::emit(&[1, 2, 5], &mut v).expect("NS list encodes");
    v.truncate(16); // the rest is zero: the harness zero-extends to 4096 bytes
    s.push(("cmd_identify_log", "active_ns_list", v));
    let ids = [
        NsIdentifier::Uuid([0xAB; 16]),
        NsIdentifier::Nguid([0xCD; 16]),
        NsIdentifier::Eui64([0xEF; 8]),
        NsIdentifier::Csi(0),
    ];
    let mut v = vec![0u8; 4096];
    NsDescriptorList::emit(&ids, &mut v).expect("descriptors encode");
    v.truncate(64);
    s.push(("cmd_identify_log", "ns_descriptors", v));
    s.push(("cmd_identify_log", "ccr_log_one_entry", hex(CCR_LOG_ONE_ENTRY)));
    let entries = [
        CcrLogEntry { icid: 1, ciu: 3, acid: 2, ccrs: Ccrs::IN_PROGRESS, ccrf: 0 },
        CcrLogEntry { icid: 2, ciu: 7, acid: 1, ccrs: Ccrs::SUCCESS, ccrf: 1 },
        CcrLogEntry { icid: 3, ciu: 1, acid: 1, ccrs: Ccrs::FAILED, ccrf: 0 },
    ];
    let mut v = vec![0u8; CcrLogPage::buffer_len(entries.len())];
    CcrLogPage::emit(&entries, &mut v).expect("CCR log encodes");
    s.push(("cmd_identify_log", "ccr_log_three_entries", v));
    let lost = [
        LostHostCommunicationEntry { cntlid: 1, lc: 1, ciu: 7 },
        LostHostCommunicationEntry { cntlid: 2, lc: 2, ciu: 9 },
    ];
    let mut v = vec![0u8; LostHostCommunicationLogPage::buffer_len(lost.len())];
    LostHostCommunicationLogPage::emit(&lost, &mut v).expect("LHC log encodes");
    s.push(("cmd_identify_log", "lost_host_communication_log", v));
    discovery_ana_seeds(s);
}

/// The Discovery and ANA pages of nvme_proto::notes::vectors §5, an ANA-reporting Identify Controller, and a
/// Discovery header as libnvme's first 20-byte read returns it.
fn discovery_ana_seeds(s: &mut Vec<Seed>) {
    let mut id = IdentifyController::fabrics_io(2, "nqn.2024-01.io.example:ana");
    id.cmic |= CMIC_ANA;
    id.anatt = 10;
    id.anacap = ANACAP_OPTIMIZED | ANACAP_NON_OPTIMIZED | ANACAP_INACCESSIBLE | ANACAP_CHANGE;
    id.anagrpmax = 32;
    id.nanagrpid = 4;
    let mut v = vec![0u8; IdentifyController::LEN];
    id.emit(&mut v).expect("Identify Controller encodes");
    s.push(("cmd_identify_log", "identify_controller_ana", v));
    let mut io =
        DiscoveryLogEntry::tcp(AddressFamily::IPV4, "192.168.10.2", "4420", "nqn.2014-08.org.example:ana-array");
    io.treq = Treq(0x06);
    let mut disc = DiscoveryLogEntry::tcp(AddressFamily::IPV6, "fd00::2", "8009", nvme_proto::cmd::DISCOVERY_NQN);
    disc.subtype = SubsystemType::CURRENT_DISCOVERY;
    disc.treq = Treq(0x01);
    disc.portid = 2;
    disc.eflags = DiscoveryLogEntry::EFLAGS_DUPRETINFO | DiscoveryLogEntry::EFLAGS_EPCSD;
    disc.tsas = Tsas::Tcp { sectype: TcpSecurityType::TLS13 };
    let mut v = vec![0u8; DiscoveryLogPage::buffer_len(2)];
    DiscoveryLogPage::emit(42, &[io, disc], &mut v).expect("Discovery log encodes");
    s.push(("cmd_identify_log", "discovery_log_header_20", v[..20].to_vec()));
    s.push(("cmd_identify_log", "discovery_log_two_entries", v));
    let (nsids1, nsids2) = ([1u32, 2], [3u32]);
    let groups = [
        AnaGroupDescriptor { anagrpid: 1, chgcnt: 5, state: AnaState::Optimized, nsids: NsidList::new(&nsids1) },
        AnaGroupDescriptor { anagrpid: 2, chgcnt: 6, state: AnaState::Inaccessible, nsids: NsidList::new(&nsids2) },
        AnaGroupDescriptor { anagrpid: 3, chgcnt: 7, state: AnaState::Change, nsids: NsidList::EMPTY },
    ];
    for (name, rgo) in [("ana_log_three_groups", false), ("ana_log_rgo", true)] {
        let mut v = vec![0u8; AnaLogPage::buffer_len(&groups, rgo)];
        AnaLogPage::emit(0x11, &groups, rgo, &mut v).expect("ANA log encodes");
        s.push(("cmd_identify_log", name, v));
    }
}
