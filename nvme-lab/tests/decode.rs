//! `nvme-lab decode` run as a program: the vectors of shared/spec/vectors.md, decode errors, and a pcap round trip
//! through nvme-pcap's capture writer, as IPv4 pcap and IPv6 pcapng (checked against tshark where it is installed).

#[allow(dead_code, reason = "each test file uses a part of the shared module")]
mod common;

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{TempFile, temp};
use nvme_pcap::{Direction, PcapTcpWriter, TcpFlow};
use nvme_proto::cmd::{
    AddressFamily, AnaGroupDescriptor, AnaLogPage, AnaState, AsyncEvent, AsyncEventRequest, CMIC_ANA, CcrLogEntry,
    CcrLogPage, Ccrl, Ccrs, Connect, ConnectData, Cqe, Cqt, CrossControllerReset, DiscoveryLogEntry, DiscoveryLogPage,
    GetLogPage, Identify, IdentifyController, KeepAlive, NsidList, PropertyGet, PropertyOffset, ReadWrite, Status,
    SubsystemType, TcpSecurityType, Tsas,
};
use nvme_proto::tcp::{C2HData, CapsuleCmd, CapsuleResp, H2CData, IcReq, IcResp, Params, Pdu, R2T};
use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::{InterfaceDescriptionBlock, InterfaceDescriptionOption};
use serde_json::Value;

fn lab(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_nvme-lab"))
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start nvme-lab");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn lines(out: &Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn decode_hex(hex: &str) -> (Vec<Value>, i32, String) {
    let out = lab(&["decode", "--hex", hex], None);
    (lines(&out), out.status.code().unwrap(), String::from_utf8_lossy(&out.stderr).into_owned())
}

// vectors.md §2.1-§2.5 and §3.3, copied byte for byte.
const VECTOR_A: &str = "05 01 18 00 1c 00 00 00 01 00 00 00 00 00 00 00 01 00 00 00 01 00 00 00 fa c8 76 ef";
const VECTOR_B: &str = "06 07 18 1c 28 00 00 00 09 00 03 00 00 00 00 00 08 00 00 00 00 00 00 00 ed 95 2e 61 01 02 03 04 \
                        05 06 07 08 81 1f 89 46";
const VECTOR_C: &str = "04 01 48 00 4c 00 00 00 18 40 10 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 \
                        00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 5a 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 \
                        00 00 00 00 00 00 00 00 75 18 f1 64";
const A_BAD_HEADER: &str = "05 01 18 00 1c 00 00 00 01 00 00 00 00 00 00 00 02 00 00 00 01 00 00 00 fa c8 76 ef";
const B_BAD_DATA: &str = "06 07 18 1c 28 00 00 00 09 00 03 00 00 00 00 00 08 00 00 00 00 00 00 00 ed 95 2e 61 01 02 03 \
                          04 05 06 07 09 81 1f 89 46";
const PADDED: &str = "06 07 18 20 2c 00 00 00 09 00 03 00 00 00 00 00 08 00 00 00 00 00 00 00 44 46 5f 94 00 00 00 00 \
                      01 02 03 04 05 06 07 08 81 1f 89 46";
const PADDED_FLIPPED: &str = "06 07 18 20 2c 00 00 00 09 00 03 00 00 00 00 00 08 00 00 00 00 00 00 00 44 46 5f 94 ff ff \
                              ff ff 01 02 03 04 05 06 07 08 81 1f 89 46";
const CCR_CMD: &str = "04 01 48 00 4c 00 00 00 38 40 21 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 \
                       00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 5a 02 00 07 00 00 00 00 00 88 77 66 55 44 33 22 11 \
                       00 00 00 00 00 00 00 00 92 33 4c 40";
const CCR_RESP: &str = "05 01 18 00 1c 00 00 00 00 00 00 00 00 00 00 00 05 00 00 00 21 00 00 00 e2 53 42 eb";
const CCR_LIMIT: &str = "05 01 18 00 1c 00 00 00 00 00 00 00 00 00 00 00 06 00 00 00 21 00 82 02 6b 6e bb 0d";

fn ic_req_hex() -> String {
    let mut s = String::from("00 00 80 00 80 00 00 00 00 00 00 03 00 00 00 00");
    s.push_str(&" 00".repeat(112));
    s
}

fn ic_resp_hex() -> String {
    let mut s = String::from("01 00 80 00 80 00 00 00 00 00 00 03 00 00 40 00");
    s.push_str(&" 00".repeat(112));
    s
}

#[test]
fn vector_a_capsule_resp() {
    let (l, code, _) = decode_hex(VECTOR_A);
    assert_eq!(code, 0);
    assert_eq!(l.len(), 1);
    let v = &l[0];
    assert_eq!(v["type"], "CapsuleResp");
    assert_eq!((v["hlen"].as_u64(), v["pdo"].as_u64(), v["plen"].as_u64()), (Some(24), Some(0), Some(28)));
    assert_eq!(v["flags"], 1);
    assert_eq!((v["hdgst"].as_str(), v["ddgst"].as_str()), (Some("good"), Some("absent")));
    assert_eq!(v["dir"], "c2h");
    let cqe = &v["cqe"];
    assert_eq!((cqe["cid"].as_u64(), cqe["sqhd"].as_u64(), cqe["sqid"].as_u64()), (Some(1), Some(1), Some(0)));
    assert_eq!(cqe["dw0"], 1);
    assert_eq!(cqe["status"]["name"], "Successful Completion");
}

#[test]
fn vector_b_h2c_data() {
    let (l, code, _) = decode_hex(VECTOR_B);
    assert_eq!(code, 0);
    let v = &l[0];
    assert_eq!(v["type"], "H2CData");
    assert_eq!((v["pdo"].as_u64(), v["plen"].as_u64()), (Some(28), Some(40)));
    assert_eq!(v["flag_names"], serde_json::json!(["HDGSTF", "DDGSTF", "LAST_PDU"]));
    assert_eq!((v["hdgst"].as_str(), v["ddgst"].as_str()), (Some("good"), Some("good")));
    assert_eq!((v["cccid"].as_u64(), v["ttag"].as_u64()), (Some(9), Some(3)));
    assert_eq!((v["datao"].as_u64(), v["datal"].as_u64(), v["last"].as_bool()), (Some(0), Some(8), Some(true)));
}

#[test]
fn vector_c_keep_alive() {
    let (l, code, _) = decode_hex(VECTOR_C);
    assert_eq!(code, 0);
    let v = &l[0];
    assert_eq!((v["type"].as_str(), v["hlen"].as_u64(), v["plen"].as_u64()), (Some("CapsuleCmd"), Some(72), Some(76)));
    assert_eq!(v["dir"], "h2c");
    assert_eq!(v["cmd"]["name"], "Keep Alive");
    assert_eq!((v["cmd"]["opcode"].as_u64(), v["cmd"]["cid"].as_u64()), (Some(0x18), Some(0x10)));
    assert_eq!(v["cmd"]["queue"], "admin");
}

#[test]
fn padded_vector_and_its_flipped_pad_decode_the_same() {
    let (a, code_a, _) = decode_hex(PADDED);
    let (b, code_b, _) = decode_hex(PADDED_FLIPPED);
    assert_eq!((code_a, code_b), (0, 0));
    assert_eq!(a[0]["pdo"], 32);
    assert_eq!((a[0]["hdgst"].as_str(), a[0]["ddgst"].as_str()), (Some("good"), Some("good")));
    assert_eq!(a, b);
}

#[test]
fn ccr_exchange_in_context() {
    let (l, code, _) = decode_hex(&format!("{CCR_CMD} {CCR_RESP}"));
    assert_eq!(code, 0);
    assert_eq!(l.len(), 2);
    let cmd = &l[0]["cmd"];
    assert_eq!(cmd["name"], "Cross-Controller Reset");
    assert_eq!((cmd["opcode"].as_u64(), cmd["cid"].as_u64()), (Some(0x38), Some(0x21)));
    assert_eq!((cmd["icid"].as_u64(), cmd["ciu"].as_u64()), (Some(2), Some(7)));
    assert_eq!(cmd["cirn"], "0x1122334455667788");
    let cqe = &l[1]["cqe"];
    assert_eq!(cqe["for"], "Cross-Controller Reset");
    assert_eq!(cqe["sqhd"], 5);
    assert_eq!(cqe["ccr_result"], serde_json::json!({"irs": false, "v": false, "clri": false}));
    // The limit-exceeded answer, named because the CCR command precedes it.
    let (l, code, _) = decode_hex(&format!("{CCR_CMD} {CCR_LIMIT}"));
    assert_eq!(code, 0);
    let st = &l[1]["cqe"]["status"];
    assert_eq!((st["sct"].as_u64(), st["sc"].as_u64(), st["word"].as_u64()), (Some(1), Some(0x41), Some(0x0282)));
    assert_eq!(st["name"], "Cross-Controller Reset Limit Exceeded");
    assert!(l[1]["cqe"].get("ccr_result").is_none());
    // Alone, the SCT 1 code cannot be named.
    let (l, _, _) = decode_hex(CCR_LIMIT);
    assert_eq!(l[0]["cqe"]["for"], Value::Null);
    assert_eq!(l[0]["cqe"]["status"]["name"], "command specific (command unknown)");
}

#[test]
fn ic_exchange_then_digested_pdus() {
    let (l, code, _) = decode_hex(&format!("{} {} {VECTOR_C} {VECTOR_A}", ic_req_hex(), ic_resp_hex()));
    assert_eq!(code, 0, "{l:?}");
    assert_eq!(l.len(), 4);
    assert_eq!(l[0]["type"], "ICReq");
    assert_eq!((l[0]["hdgst_enable"].as_bool(), l[0]["ddgst_enable"].as_bool()), (Some(true), Some(true)));
    assert_eq!(l[1]["type"], "ICResp");
    assert_eq!(l[1]["maxh2cdata"], 4_194_304);
    assert_eq!(l[1]["dir"], "c2h");
    assert_eq!(l[2]["offset"], 256);
    assert_eq!(l[3]["offset"], 332);
}

#[test]
fn bad_header_digest_is_fes_3() {
    let (l, code, stderr) = decode_hex(A_BAD_HEADER);
    assert_eq!(code, 1);
    assert_eq!(l.len(), 1);
    let v = &l[0];
    assert!(v["error"].as_str().unwrap().contains("header digest"), "{v}");
    assert_eq!(v["fes"], 3);
    assert_eq!(v["fei"], 0xEF76_C8FAu64); // the received digest
    assert_eq!(v["offset"], 0);
    assert_eq!(v["hdgst"], "bad");
    assert!(stderr.contains("1 errors"), "{stderr}");
    // Fatal: nothing after it is decoded.
    let (l, code, _) = decode_hex(&format!("{A_BAD_HEADER} {VECTOR_A}"));
    assert_eq!((l.len(), code), (1, 1));
}

#[test]
fn bad_data_digest_is_not_fatal() {
    let (l, code, _) = decode_hex(&format!("{B_BAD_DATA} {VECTOR_B}"));
    assert_eq!(code, 1);
    assert_eq!(l.len(), 2);
    assert_eq!((l[0]["hdgst"].as_str(), l[0]["ddgst"].as_str()), (Some("good"), Some("bad")));
    assert_eq!(l[0]["ddgst_computed"], "0xb4e29c82");
    assert_eq!(l[0]["cccid"], 9); // fields still decoded
    assert_eq!(l[1]["ddgst"], "good");
    assert_eq!(l[1]["offset"], 40);
}

#[test]
fn invalid_header_fields_carry_fes_and_fei() {
    // Undefined type 0x0C: FES 1, FEI 0.
    let (l, code, _) = decode_hex("0c 00 18 00 18 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00");
    assert_eq!(code, 1);
    assert_eq!((l[0]["fes"].as_u64(), l[0]["fei"].as_u64()), (Some(1), Some(0)));
    assert_eq!(l[0]["type"], "unknown 0x0c");
    // Wrong HLEN on a CapsuleResp: FES 1, FEI 2.
    let (l, _, _) = decode_hex("05 00 20 00 18 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00");
    assert_eq!((l[0]["fes"].as_u64(), l[0]["fei"].as_u64()), (Some(1), Some(2)));
    // --digests off and a PDU announcing a header digest: FES 1, FEI 1.
    let out = lab(&["decode", "--digests", "off", "--hex", VECTOR_A], None);
    assert_eq!(out.status.code(), Some(1));
    let l = lines(&out);
    assert_eq!((l[0]["fes"].as_u64(), l[0]["fei"].as_u64()), (Some(1), Some(1)));
    // --digests on and a PDU without: FES 1, FEI 1 as well.
    let no_digest = "05 00 18 00 18 00 00 00 01 00 00 00 00 00 00 00 01 00 00 00 01 00 00 00";
    let out = lab(&["decode", "--digests", "on", "--hex", no_digest], None);
    assert_eq!((lines(&out)[0]["fei"].as_u64(), out.status.code()), (Some(1), Some(1)));
    let out = lab(&["decode", "--hex", no_digest], None);
    assert_eq!((lines(&out)[0]["hdgst"].as_str(), out.status.code()), (Some("absent"), Some(0)));
}

#[test]
fn term_req_fields() {
    // C2HTermReq, FES 0x03 Header Digest Error, FEI = the bad digest, with the 8-byte common header it refers to.
    let hex = "03 00 18 00 20 00 00 00 03 00 fa c8 76 ef 00 00 00 00 00 00 00 00 00 00 05 01 18 00 1c 00 00 00";
    let (l, code, _) = decode_hex(hex);
    assert_eq!(code, 0);
    let v = &l[0];
    assert_eq!(
        (v["type"].as_str(), v["dir"].as_str(), v["plen"].as_u64()),
        (Some("C2HTermReq"), Some("c2h"), Some(32))
    );
    assert_eq!((v["fes"].as_u64(), v["fes_name"].as_str()), (Some(3), Some("Header Digest Error")));
    assert_eq!((v["fei"].as_u64(), v["fei_meaning"].as_str()), (Some(0xEF76_C8FA), Some("received header digest")));
    assert_eq!(v["error_header"], "050118001c000000");
    // After a TermReq the receiver is closed: a following PDU in that direction is not decoded.
    let (l, code, _) = decode_hex(&format!("{hex} {VECTOR_A}"));
    assert_eq!((l.len(), code), (2, 1));
    assert_eq!(l[1]["error"], "connection closed");
}

#[test]
fn truncated_stream() {
    let cut = &VECTOR_A[..VECTOR_A.len() - 12]; // the last 4 bytes removed
    let (l, code, _) = decode_hex(&format!("{VECTOR_C} {cut}"));
    assert_eq!(code, 1);
    assert_eq!(l.len(), 2);
    assert_eq!(l[0]["cmd"]["name"], "Keep Alive");
    assert_eq!(l[1]["error"], "truncated: need 4 more bytes");
    assert_eq!((l[1]["offset"].as_u64(), l[1]["need"].as_u64()), (Some(76), Some(4)));
}

#[test]
fn hex_on_stdin() {
    let out = lab(&["decode"], Some(format!("{VECTOR_A}\n{VECTOR_C}\n").as_bytes()));
    assert_eq!(out.status.code(), Some(0));
    let l = lines(&out);
    assert_eq!(l.iter().map(|v| v["type"].as_str().unwrap()).collect::<Vec<_>>(), ["CapsuleResp", "CapsuleCmd"]);
}

#[test]
fn bad_input_gets_a_message_and_status_2() {
    for (args, stdin, expect) in [
        (vec!["decode", "--hex", "05 0x1g"], None, "invalid hex"),
        (vec!["decode", "--hex", "05 011"], None, "odd number of digits"),
        (vec!["decode"], Some(&b"   \n"[..]), "no bytes"),
        (vec!["decode", "--pcap", "/nonexistent/file.pcap"], None, "cannot open"),
        (vec!["decode", "--pcap", "-"], Some(&b"definitely not a capture file"[..]), "not a pcap or pcapng file"),
        (vec!["decode", "--hex", "05", "--pcap", "x"], None, "cannot be used with"),
        (vec!["decode", "--digests", "maybe", "--hex", "05"], None, "invalid value"),
    ] {
        let out = lab(&args, stdin);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expect), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(out.stdout.is_empty());
    }
}

// ---------------------------------------------------------------------------------------------------------------
// A pcap written with nvme-pcap's capture writer: two connections (admin and I/O queue) with header and data
// digests, decoded in context.

fn emit(pdu: &Pdu<'_>, params: &Params) -> Vec<u8> {
    let mut buf = vec![0u8; pdu.buffer_len(params)];
    let n = pdu.emit(params, &mut buf).unwrap();
    assert_eq!(n, buf.len());
    buf
}

fn cmd(sqe: nvme_proto::cmd::Sqe, data: &[u8], p: &Params) -> Vec<u8> {
    emit(&Pdu::CapsuleCmd(CapsuleCmd { sqe: sqe.to_bytes(), data }), p)
}

fn resp(cid: u16, dw0: u32, p: &Params) -> Vec<u8> {
    let cqe = Cqe { dw0, ..Cqe::new(cid, Status::from_word(0)) };
    emit(&Pdu::CapsuleResp(CapsuleResp { cqe: cqe.to_bytes() }), p)
}

fn c2h(cccid: u16, datao: u32, data: &[u8], last: bool, success: bool, p: &Params) -> Vec<u8> {
    emit(&Pdu::C2HData(C2HData { cccid, datao, data, last, success }), p)
}

/// (flow number, direction, bytes) in time order.
fn conversation() -> Vec<(u16, Direction, Vec<u8>)> {
    use Direction::{ControllerToHost as C2H, HostToController as H2C};
    let p = Params { header_digest: true, data_digest: true, ..Params::default() };
    let ic_req = IcReq { hpda: 0, header_digest: true, data_digest: true, maxr2t: 0 };
    let ic_resp = IcResp { cpda: 0, header_digest: true, data_digest: true, maxh2cdata: 0x40_0000 };
    let mut connect_data = vec![0u8; 1024];
    let data = |cntlid| ConnectData {
        hostid: [0xAB; 16],
        cntlid,
        subnqn: "nqn.2026-01.io.example:lab",
        hostnqn: "nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-000000000001",
    };
    data(0xFFFF).emit(&mut connect_data).unwrap();
    let mut id = vec![0u8; 4096];
    let mut ctrl = IdentifyController::fabrics_io(1, "nqn.2026-01.io.example:lab");
    ctrl.cqt = Cqt::from_raw(1);
    ctrl.ciu = 7;
    ctrl.cirn = 0x1122_3344_5566_7788;
    ctrl.ccrl = Ccrl::from_raw(4);
    ctrl.mn = "nvme-lab test target";
    ctrl.emit(&mut id).unwrap();
    let entry = CcrLogEntry { icid: 2, ciu: 9, acid: 1, ccrs: Ccrs::SUCCESS, ccrf: 1 };
    let mut log = vec![0u8; CcrLogPage::buffer_len(1)];
    CcrLogPage::emit(&[entry], &mut log).unwrap();
    let mut io_connect_data = vec![0u8; 1024];
    data(1).emit(&mut io_connect_data).unwrap();
    let write = ReadWrite::new(1, 0, 1, 4096).unwrap();
    let block = [9u8; 4096];
    let ic = |x: Pdu<'_>| emit(&x, &Params::default());
    vec![
        (1, H2C, ic(Pdu::IcReq(ic_req))),
        (1, C2H, ic(Pdu::IcResp(ic_resp))),
        (1, H2C, cmd(Connect::admin(5000).to_sqe(0), &connect_data, &p)),
        (1, C2H, resp(0, 1, &p)), // CNTLID 1
        (1, H2C, cmd(Identify::controller().to_sqe(1), &[], &p)),
        (1, C2H, [c2h(1, 0, &id[..2048], false, false, &p), c2h(1, 2048, &id[2048..], true, false, &p)].concat()),
        (1, C2H, resp(1, 0, &p)),
        (1, H2C, cmd(AsyncEventRequest.to_sqe(2), &[], &p)),
        (2, H2C, ic(Pdu::IcReq(ic_req))),
        (2, C2H, ic(Pdu::IcResp(ic_resp))),
        (2, H2C, cmd(Connect::io(1, 127).to_sqe(0), &io_connect_data, &p)),
        (2, C2H, resp(0, 1, &p)),
        (2, H2C, cmd(write.to_write_sqe(1), &[], &p)),
        (2, C2H, emit(&Pdu::R2T(R2T { cccid: 1, ttag: 5, r2to: 0, r2tl: 4096 }), &p)),
        (2, H2C, emit(&Pdu::H2CData(H2CData { cccid: 1, ttag: 5, datao: 0, data: &block, last: true }), &p)),
        (2, C2H, resp(1, 0, &p)),
        (1, H2C, cmd(CrossControllerReset { icid: 2, ciu: 9, cirn: 0xDEAD_BEEF }.to_sqe(3), &[], &p)),
        (1, C2H, resp(3, 0, &p)),
        (1, C2H, resp(2, AsyncEvent::ccr_completed().to_dw0(), &p)),
        (1, H2C, cmd(GetLogPage::ccr_log(true, log.len() as u32).to_sqe(4), &[], &p)),
        (1, C2H, c2h(4, 0, &log, true, false, &p)),
        (1, C2H, resp(4, 0, &p)),
        (2, H2C, cmd(write.to_read_sqe(2), &[], &p)),
        (2, C2H, c2h(2, 0, &block, true, true, &p)), // SUCCESS: no CapsuleResp follows
        (1, H2C, cmd(PropertyGet::new(PropertyOffset::CSTS).to_sqe(5), &[], &p)),
        (1, C2H, resp(5, 1, &p)),
        (1, H2C, cmd(KeepAlive.to_sqe(6), &[], &p)),
        (1, C2H, resp(6, 0, &p)),
    ]
}

fn write_pcap(items: &[(u16, Direction, Vec<u8>)]) -> Vec<u8> {
    write_pcap_on(items, [TcpFlow::numbered(1), TcpFlow::numbered(2)])
}

/// The items on the given two flows (1 and 2).
fn write_pcap_on(items: &[(u16, Direction, Vec<u8>)], mut flows: [TcpFlow; 2]) -> Vec<u8> {
    let mut w = PcapTcpWriter::new(Vec::new()).unwrap();
    for (i, (flow, dir, bytes)) in items.iter().enumerate() {
        w.write(&mut flows[usize::from(*flow) - 1], *dir, Duration::from_millis(i as u64), bytes).unwrap();
    }
    w.into_inner()
}

fn temp_file(name: &str, bytes: &[u8]) -> TempFile {
    let file = temp(name);
    std::fs::write(&file.0, bytes).unwrap();
    file
}

fn find(l: &[Value], pred: impl Fn(&Value) -> bool) -> &Value {
    l.iter().find(|v| pred(v)).expect("line not found")
}

#[test]
fn pcap_round_trip_decodes_in_context() {
    let path = temp_file("conversation.pcap", &write_pcap(&conversation()));
    let out = lab(&["decode", "--pcap", path.0.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let l = lines(&out);
    assert_eq!(l.len(), 29); // 28 items, one of them two C2HData PDUs
    // Capture order: frames never go back, and every digest is good.
    let frames: Vec<u64> = l.iter().map(|v| v["frame"].as_u64().unwrap()).collect();
    assert!(frames.windows(2).all(|w| w[0] <= w[1]), "{frames:?}");
    for v in &l {
        let ty = v["type"].as_str().unwrap();
        if !ty.starts_with("IC") {
            assert_eq!(v["hdgst"], "good", "{v}");
        }
        let data = matches!(ty, "H2CData" | "C2HData") || (ty == "CapsuleCmd" && v["data_len"] != 0);
        assert_eq!(v["ddgst"], if data { "good" } else { "absent" }, "{v}");
    }
    assert_eq!((l[0]["src"].as_str(), l[0]["dst"].as_str()), (Some("10.0.0.1:40001"), Some("10.0.0.2:4420")));
    assert_eq!(l[1]["dir"], "c2h");
    assert_eq!(l[1]["src"], "10.0.0.2:4420");
    let connect = find(&l, |v| v["cmd"]["name"] == "Connect" && v["conn"] == 0);
    assert_eq!(connect["cmd"]["kato_ms"], 5000);
    assert_eq!(connect["connect_data"]["subnqn"], "nqn.2026-01.io.example:lab");
    assert_eq!(connect["connect_data"]["cntlid"], 0xFFFF);
    let connected = find(&l, |v| v["cqe"]["for"] == "Connect" && v["conn"] == 0);
    assert_eq!(connected["cqe"]["cntlid"], 1);
    // The Identify data is split over two C2HData PDUs; the last one carries the decoded structure.
    let id = find(&l, |v| v.get("identify_controller").is_some());
    assert_eq!(id["datao"], 2048);
    let ic = &id["identify_controller"];
    assert_eq!((ic["cntlid"].as_u64(), ic["cqt"].as_u64(), ic["ciu"].as_u64()), (Some(1), Some(1), Some(7)));
    assert_eq!(ic["cirn"], "0x1122334455667788");
    assert_eq!((ic["ccrl"].as_u64(), ic["kas"].as_u64(), ic["tbkas"].as_bool()), (Some(4), Some(10), Some(true)));
    assert_eq!(ic["mn"], "nvme-lab test target");
    assert_eq!(ic["subnqn"], "nqn.2026-01.io.example:lab");
    let ccr = find(&l, |v| v["cmd"]["name"] == "Cross-Controller Reset");
    assert_eq!((ccr["cmd"]["icid"].as_u64(), ccr["cmd"]["ciu"].as_u64()), (Some(2), Some(9)));
    assert_eq!(ccr["cmd"]["cirn"], "0x00000000deadbeef");
    assert_eq!(find(&l, |v| v["cqe"]["for"] == "Cross-Controller Reset")["cqe"]["ccr_result"]["irs"], false);
    let aen = find(&l, |v| v["cqe"]["for"] == "Asynchronous Event Request");
    assert_eq!(aen["cqe"]["event"]["event"], "Cross-Controller Reset Completed");
    assert_eq!((aen["cqe"]["event"]["aei"].as_u64(), aen["cqe"]["event"]["lid"].as_u64()), (Some(0xF4), Some(0x1E)));
    let glp = find(&l, |v| v["cmd"]["name"] == "Get Log Page");
    assert_eq!((glp["cmd"]["lid"].as_u64(), glp["cmd"]["rmc"].as_bool()), (Some(0x1E), Some(true)));
    assert_eq!(glp["cmd"]["numd"], 3);
    let log = &find(&l, |v| v.get("ccr_log").is_some())["ccr_log"];
    assert_eq!(log["ne"], 1);
    let e = &log["entries"][0];
    assert_eq!((e["icid"].as_u64(), e["ciu"].as_u64(), e["acid"].as_u64()), (Some(2), Some(9), Some(1)));
    assert_eq!((e["ccrs_name"].as_str(), e["v"].as_bool()), (Some("success"), Some(true)));
    let csts = find(&l, |v| v["cqe"]["for"] == "Property Get");
    assert_eq!(csts["cqe"]["csts"]["rdy"], true);
    // The I/O connection: opcode 1 and 2 are Write and Read there.
    let w = find(&l, |v| v["cmd"]["name"] == "Write");
    assert_eq!(
        (w["conn"].as_u64(), w["cmd"]["queue"].as_str(), w["cmd"]["blocks"].as_u64()),
        (Some(1), Some("io"), Some(1))
    );
    assert_eq!(find(&l, |v| v["type"] == "R2T")["for"], "Write");
    let h2c = find(&l, |v| v["type"] == "H2CData");
    assert_eq!(
        (h2c["ttag"].as_u64(), h2c["datal"].as_u64(), h2c["for"].as_str()),
        (Some(5), Some(4096), Some("Write"))
    );
    let read = find(&l, |v| v["type"] == "C2HData" && v["conn"] == 1);
    assert_eq!((read["for"].as_str(), read["success"].as_bool()), (Some("Read"), Some(true)));
}

/// A host reading a discovery controller's log as libnvme does (20 header bytes, the entries at offset 1024, the
/// header again), then the whole page at once; then an I/O controller's ANA log with and without RGO, and a read
/// too short for the ANA page. Every piece decodes in the context of its Get Log Page.
#[test]
fn discovery_and_ana_logs_decode_in_context() {
    use Direction::{ControllerToHost as C2H, HostToController as H2C};
    let p = Params::default();
    let io = DiscoveryLogEntry::tcp(AddressFamily::IPV4, "192.168.10.2", "4420", "nqn.2026-01.io.example:lab");
    let mut disc = DiscoveryLogEntry::tcp(AddressFamily::IPV6, "fd00::2", "8009", nvme_proto::cmd::DISCOVERY_NQN);
    disc.subtype = SubsystemType::CURRENT_DISCOVERY;
    disc.tsas = Tsas::Tcp { sectype: TcpSecurityType::TLS13 };
    let mut page = vec![0u8; DiscoveryLogPage::buffer_len(2)];
    DiscoveryLogPage::emit(42, &[io, disc], &mut page).unwrap();
    let (nsids1, nsids2) = ([1u32, 2], [3u32]);
    let groups = [
        AnaGroupDescriptor { anagrpid: 1, chgcnt: 5, state: AnaState::Optimized, nsids: NsidList::new(&nsids1) },
        AnaGroupDescriptor { anagrpid: 2, chgcnt: 6, state: AnaState::Inaccessible, nsids: NsidList::new(&nsids2) },
    ];
    let mut ana = vec![0u8; AnaLogPage::buffer_len(&groups, false)];
    AnaLogPage::emit(9, &groups, false, &mut ana).unwrap();
    let mut ana_rgo = vec![0u8; AnaLogPage::buffer_len(&groups, true)];
    AnaLogPage::emit(9, &groups, true, &mut ana_rgo).unwrap();
    let mut items = Vec::new();
    let mut read = |flow: u16, cid: u16, glp: GetLogPage, data: &[u8]| {
        items.push((flow, H2C, cmd(glp.to_sqe(cid), &[], &p)));
        items.push((flow, C2H, c2h(cid, 0, data, true, false, &p)));
        items.push((flow, C2H, resp(cid, 0, &p)));
    };
    read(1, 1, GetLogPage::discovery_log(0, 20), &page[..20]);
    read(1, 2, GetLogPage::discovery_log(1024, 2048), &page[1024..]);
    read(1, 3, GetLogPage::discovery_log(0, 3072), &page);
    read(1, 4, GetLogPage::discovery_log(512, 1024), &page[512..1536]);
    read(2, 1, GetLogPage::ana_log(false, ana.len() as u32), &ana);
    read(2, 2, GetLogPage::ana_log(true, ana_rgo.len() as u32), &ana_rgo);
    read(2, 3, GetLogPage::ana_log(false, 16), &ana[..16]);
    let mut ctrl = IdentifyController::fabrics_io(1, "nqn.2026-01.io.example:lab");
    ctrl.cmic |= CMIC_ANA;
    (ctrl.anatt, ctrl.anacap, ctrl.anagrpmax, ctrl.nanagrpid) = (10, 0x1F, 32, 2);
    let mut id = vec![0u8; 4096];
    ctrl.emit(&mut id).unwrap();
    items.push((2, H2C, cmd(Identify::controller().to_sqe(4), &[], &p)));
    items.push((2, C2H, c2h(4, 0, &id, true, false, &p)));
    items.push((2, C2H, resp(4, 0, &p)));
    let out = lab(&["decode", "--queue", "admin", "--pcap", "-"], Some(&write_pcap(&items)));
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let l = lines(&out);
    let logs: Vec<&Value> =
        l.iter().filter(|v| v.get("discovery_log").is_some()).map(|v| &v["discovery_log"]).collect();
    assert_eq!(logs.len(), 4);
    // The 20-byte header read.
    assert_eq!((logs[0]["genctr"].as_u64(), logs[0]["numrec"].as_u64()), (Some(42), Some(2)));
    assert!(logs[0].get("entries").is_none());
    // The entries read at offset 1024: index 0 and 1.
    let e = &logs[1]["entries"];
    assert_eq!((logs[1]["first_entry"].as_u64(), e.as_array().unwrap().len()), (Some(0), 2));
    assert_eq!((e[0]["transport"].as_str(), e[0]["family"].as_str()), (Some("tcp"), Some("ipv4")));
    assert_eq!((e[0]["traddr"].as_str(), e[0]["trsvcid"].as_str()), (Some("192.168.10.2"), Some("4420")));
    assert_eq!((e[0]["subsystem"].as_str(), e[0]["cntlid"].as_u64()), (Some("nvme"), Some(0xFFFF)));
    assert_eq!((e[0]["secure_channel"].as_str(), e[0]["security"].as_str()), (Some("not specified"), Some("none")));
    assert_eq!((e[1]["index"].as_u64(), e[1]["subsystem"].as_str()), (Some(1), Some("current discovery")));
    assert_eq!((e[1]["subnqn"].as_str(), e[1]["sectype"].as_u64()), (Some(nvme_proto::cmd::DISCOVERY_NQN), Some(2)));
    // The whole page at once: the same entries after the header.
    assert_eq!((logs[2]["numrec"].as_u64(), &logs[2]["entries"]), (Some(2), e));
    // A read inside a record is reported, not guessed at.
    assert!(logs[3]["error"].as_str().unwrap().contains("offset 512"), "{}", logs[3]);
    let ana: Vec<&Value> = l.iter().filter(|v| v.get("ana_log").is_some()).map(|v| &v["ana_log"]).collect();
    assert_eq!(ana.len(), 3);
    assert_eq!(
        (ana[0]["chgcnt"].as_u64(), ana[0]["ngrps"].as_u64(), ana[0]["rgo"].as_bool()),
        (Some(9), Some(2), Some(false))
    );
    let g = &ana[0]["groups"];
    assert_eq!((g[0]["anagrpid"].as_u64(), g[0]["state_name"].as_str()), (Some(1), Some("optimized")));
    assert_eq!(g[0]["nsids"], serde_json::json!([1, 2]));
    assert_eq!((g[1]["state"].as_u64(), g[1]["allows_io"].as_bool()), (Some(3), Some(false)));
    assert_eq!(g[1]["nsids"], serde_json::json!([3]));
    // RGO: the command says so, and the groups come without NSIDs.
    let rgo_cmd = find(&l, |v| v["cmd"]["lid"] == 0x0C && v["cmd"]["rgo"] == true);
    assert_eq!(rgo_cmd["cmd"]["log"], "Asymmetric Namespace Access");
    assert_eq!(ana[1]["rgo"], true);
    assert_eq!(
        (ana[1]["groups"][1]["anagrpid"].as_u64(), &ana[1]["groups"][1]["nsids"]),
        (Some(2), &serde_json::json!([]))
    );
    // The header alone: its fields, and the size the page needs as far as it can be told (the first descriptor's
    // fixed part; its NSIDs are known only once it is read).
    assert_eq!((ana[2]["chgcnt"].as_u64(), ana[2]["ngrps"].as_u64()), (Some(9), Some(2)));
    assert_eq!(ana[2]["error"], "ANA log page: buffer too short: 48 bytes needed");
    // The Identify Controller ANA fields.
    let ic = &find(&l, |v| v.get("identify_controller").is_some())["identify_controller"];
    assert_eq!((ic["cmic"].as_u64(), ic["anatt"].as_u64(), ic["anacap"].as_u64()), (Some(0x0A), Some(10), Some(0x1F)));
    assert_eq!((ic["anagrpmax"].as_u64(), ic["nanagrpid"].as_u64()), (Some(32), Some(2)));
}

/// The packets of a classic pcap as a pcapng with nanosecond timestamps (if_tsresol 9), as Wireshark writes it.
fn to_pcapng(pcap: &[u8]) -> Vec<u8> {
    let mut r = PcapReader::new(pcap).unwrap();
    let mut w = PcapNgWriter::new(Vec::new()).unwrap();
    let options = vec![InterfaceDescriptionOption::IfTsResol(9)];
    w.write_pcapng_block(InterfaceDescriptionBlock { linktype: r.header().datalink, snaplen: 0, options }).unwrap();
    while let Some(p) = r.next_packet() {
        let p = p.unwrap();
        let epb = EnhancedPacketBlock {
            interface_id: 0,
            timestamp: p.timestamp,
            original_len: p.orig_len,
            data: p.data,
            options: vec![],
        };
        w.write_pcapng_block(epb).unwrap();
    }
    w.into_inner()
}

/// The conversation over IPv6, in a pcapng: the same PDUs, fields, frames and times as from the classic IPv4 pcap;
/// only the addresses differ.
#[test]
fn pcapng_and_ipv6_decode_like_the_classic_ipv4_pcap() {
    let v4 = lab(&["decode", "--pcap", "-"], Some(&write_pcap(&conversation())));
    assert_eq!(v4.status.code(), Some(0), "{}", String::from_utf8_lossy(&v4.stderr));
    let host = |port: u16| SocketAddr::new(IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1)), port);
    let ctrl: SocketAddr = "[fd00::2]:4420".parse().unwrap();
    let v6 = write_pcap_on(&conversation(), [TcpFlow::new(host(50001), ctrl), TcpFlow::new(host(50002), ctrl)]);
    let out = lab(&["decode", "--pcap", "-"], Some(&to_pcapng(&v6)));
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let (a, b) = (lines(&v4), lines(&out));
    assert_eq!(a.len(), b.len());
    assert!(a.len() > 20);
    for (x, y) in a.iter().zip(&b) {
        let mut y = y.clone();
        let h2c = y["dir"] == "h2c";
        let conn = y["conn"].as_u64().unwrap() as u16;
        let (src, dst) = if h2c { (host(50001 + conn), ctrl) } else { (ctrl, host(50001 + conn)) };
        assert_eq!((y["src"].as_str().unwrap(), y["dst"].as_str().unwrap()), (&*src.to_string(), &*dst.to_string()));
        y["src"] = x["src"].clone();
        y["dst"] = x["dst"].clone();
        assert_eq!(x, &y);
    }
}

#[test]
fn pcap_errors() {
    let pcap = write_pcap(&conversation());
    // The file cut inside a frame record.
    let path = temp_file("cut.pcap", &pcap[..pcap.len() - 100]);
    let out = lab(&["decode", "--pcap", path.0.to_str().unwrap()], None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("truncated pcap"), "{stderr}");
    // An unsupported link type (Linux cooked v2).
    let mut sll2 = pcap.clone();
    let link: [u8; 4] = if pcap[0] == 0xA1 { 276u32.to_be_bytes() } else { 276u32.to_le_bytes() };
    sll2[20..24].copy_from_slice(&link);
    let out = lab(&["decode", "--pcap", "-"], Some(&sll2));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsupported link type 276"));
    // A pcapng cut inside a block.
    let ng = to_pcapng(&pcap);
    let out = lab(&["decode", "--pcap", "-"], Some(&ng[..ng.len() - 10]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("truncated pcapng"));
    // A capture that stops in the middle of a PDU: the stream is truncated, earlier PDUs still decode.
    let p = Params { header_digest: true, data_digest: true, ..Params::default() };
    let mut keep_alive = cmd(KeepAlive.to_sqe(6), &[], &p);
    let whole = keep_alive.clone();
    keep_alive.truncate(50);
    let items = [(1u16, Direction::HostToController, whole), (1, Direction::HostToController, keep_alive)];
    let out = lab(&["decode", "--pcap", "-"], Some(&write_pcap(&items)));
    assert_eq!(out.status.code(), Some(1));
    let l = lines(&out);
    assert_eq!(l.len(), 2);
    assert_eq!(l[1]["error"], "truncated: need 26 more bytes");
    assert_eq!((l[1]["offset"].as_u64(), l[1]["frame"].as_u64()), (Some(76), Some(2)));
    // A segment missing from the capture: what precedes it decodes, then the gap is reported, not guessed over.
    let mut w = PcapTcpWriter::new(Vec::new()).unwrap();
    let mut sink = PcapTcpWriter::new(std::io::sink()).unwrap();
    let mut flow = TcpFlow::new((Ipv4Addr::new(10, 0, 0, 1), 5000), (Ipv4Addr::new(10, 0, 0, 2), 4420));
    let ka = cmd(KeepAlive.to_sqe(6), &[], &p);
    w.write(&mut flow, Direction::HostToController, Duration::ZERO, &ka).unwrap();
    sink.write(&mut flow, Direction::HostToController, Duration::ZERO, &ka).unwrap(); // not captured
    w.write(&mut flow, Direction::HostToController, Duration::ZERO, &ka).unwrap();
    let out = lab(&["decode", "--pcap", "-"], Some(&w.into_inner()));
    assert_eq!(out.status.code(), Some(1));
    let l = lines(&out);
    assert_eq!(l.len(), 2);
    assert_eq!(l[0]["cmd"]["name"], "Keep Alive");
    assert!(l[1]["error"].as_str().unwrap().starts_with("capture gap: 76 bytes missing"), "{}", l[1]);
}

#[test]
#[ignore = "needs tshark: apt-get install tshark"]
fn tshark_agrees_the_round_trip_pcap_has_good_digests() {
    let path = temp_file("tshark.pcap", &write_pcap(&conversation()));
    let out = Command::new("tshark")
        .args(["-r", path.0.to_str().unwrap(), "-o", "nvme-tcp.check_hdgst:TRUE", "-o", "nvme-tcp.check_ddgst:TRUE"])
        .args(["-T", "fields", "-e", "nvme-tcp.hdgst.status", "-e", "nvme-tcp.ddgst.status"])
        .output()
        .expect("run tshark");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let statuses: Vec<&str> = text.split(['\t', '\n', ',']).filter(|s| !s.is_empty()).collect();
    // 25 PDUs with a header digest, 6 with a data digest (2 Connects, 2 Identify parts, log page, H2CData, read).
    assert!(statuses.len() >= 30, "{text}");
    assert!(statuses.iter().all(|s| *s == "1"), "{text}");
}

/// 100 000 TCP connections, each an ICReq from its host and an ICResp from its controller, half of them with the
/// controller's port above the host's (the case that once swapped the labels), all interleaved frame by frame:
/// every PDU is decoded once, with its own connection, direction and labels. The time this takes is in
/// BENCHMARKS.md (decode is linear in packets and streams); the test checks the result only.
#[test]
fn a_hundred_thousand_flows_decode_each_in_its_own_context() {
    const FLOWS: usize = 100_000;
    // Host i is 10.(0x10 | i >> 16).(i >> 8).i, its controller 10.(0x20 | i >> 16).(i >> 8).i.
    let addr = |net: u8, i: usize, port: u16| {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, net | (i >> 16) as u8, (i >> 8) as u8, i as u8)), port)
    };
    let ports = |i: usize| if i.is_multiple_of(2) { (40_000, 4420) } else { (1_024 + (i % 1000) as u16, 50_000) };
    let mut flows: Vec<TcpFlow> = (0..FLOWS)
        .map(|i| {
            let (hp, cp) = ports(i);
            TcpFlow::new(addr(0x10, i, hp), addr(0x20, i, cp))
        })
        .collect();
    let p = Params::default();
    let req = emit(&Pdu::IcReq(IcReq { hpda: 0, header_digest: false, data_digest: false, maxr2t: 0 }), &p);
    let resp =
        emit(&Pdu::IcResp(IcResp { cpda: 0, header_digest: false, data_digest: false, maxh2cdata: 0x1_0000 }), &p);
    let mut w = PcapTcpWriter::new(Vec::new()).unwrap();
    for (dir, bytes) in [(Direction::HostToController, &req), (Direction::ControllerToHost, &resp)] {
        for (i, flow) in flows.iter_mut().enumerate() {
            w.write(flow, dir, Duration::from_micros(i as u64), bytes).unwrap();
        }
    }
    let path = temp_file("flows.pcap", &w.into_inner());
    let out = lab(&["decode", "--pcap", path.0.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let l = lines(&out);
    assert_eq!(l.len(), 2 * FLOWS);
    let mut seen = vec![[false; 2]; FLOWS];
    for v in &l {
        let (hp, cp) = (v["src"].as_str().unwrap(), v["dst"].as_str().unwrap());
        let (host, ctrl, side) = match v["type"].as_str().unwrap() {
            "ICReq" => (hp, cp, 0),
            "ICResp" => (cp, hp, 1),
            other => panic!("unexpected {other}: {v}"),
        };
        assert_eq!(v["dir"], if side == 0 { "h2c" } else { "c2h" }, "{v}");
        // Which flow, from the host's address; the controller's must be its partner.
        let h: SocketAddr = host.parse().unwrap();
        let IpAddr::V4(ip) = h.ip() else { panic!("{v}") };
        let [_, net, hi, lo] = ip.octets();
        assert_eq!(net & 0xf0, 0x10, "the host is 10.0x1?.x.y: {v}");
        let i = usize::from(net & 0x0f) << 16 | usize::from(hi) << 8 | usize::from(lo);
        let (hp_want, cp_want) = ports(i);
        assert_eq!(h.port(), hp_want, "{v}");
        assert_eq!(ctrl.parse::<SocketAddr>().unwrap(), addr(0x20, i, cp_want), "{v}");
        assert!(!seen[i][side], "PDU decoded twice: {v}");
        seen[i][side] = true;
    }
    assert!(seen.iter().all(|s| s[0] && s[1]));
}
