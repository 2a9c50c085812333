//! In-band authentication in the tools: `target --dhchap-key/--dhchap-ctrl-key/--allow-host` against `ccr-check
//! --hostnqn/--dhchap-secret/--dhchap-ctrl-secret` over loopback sockets (both directions, a wrong secret, an unknown
//! host), secrets never printed; `gen-dhchap-key` against nvme-cli 2.3's outputs; `decode` naming every
//! authentication message and its fields.

#[allow(dead_code, reason = "each test file uses a part of the shared module")]
mod common;

use std::process::{Command, Output, Stdio};

use common::{LabTarget, lab, text};

use nvme_proto::auth::{
    AuthMessage, Challenge, DhGroupId, Failure1, Failure2, FailureExplanation, HashId, Negotiate, ProtocolDescriptor,
    Reply, SecureChannel, Success1, Success2,
};
use nvme_proto::cmd::{Authentication, Connect, ConnectResponse, Cqe, Status};
use nvme_proto::tcp::{C2HData, CapsuleCmd, CapsuleResp, Params, Pdu};
use serde_json::Value;

const HOST: &str = "nqn.2014-08.org.nvmexpress:uuid:11111111-2222-3333-4444-555555555555";
/// nvme-cli 2.3: `nvme gen-dhchap-key --hmac=1 --secret=000102…1f --nqn=HOST` (run for this test).
const KEY: &str = "DHHC-1:01:bOHk6jHoMxpP5YJr/eF6XNOGuPAzh0iRniebpsVb9ydqVuR5:";
/// nvme-cli 2.3: `nvme gen-dhchap-key --hmac=0 --secret=000102…1f --nqn=HOST`.
const KEY0: &str = "DHHC-1:00:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaR:";
/// The specification's example secret (spec-notes/auth.md §5).
const CTRL_KEY: &str = "DHHC-1:00:ia6zGodOr4SEG0Zzaw398rpY0wqipUWj4jWjUh4HWUz6aQ2n:";

/// `nvme-lab target --cqt 1 ARGS` on an ephemeral loopback port.
fn target(nqn: &str, args: &[&str]) -> LabTarget {
    LabTarget::start(nqn, &[&["--cqt", "1"], args].concat())
}

fn ccr_check(addr: &str, nqn: &str, extra: &[&str]) -> Output {
    let mut args = vec!["ccr-check", "--addr", addr, "--wait-ms", "5000", "--kato", "2000", "--nqn", nqn];
    args.extend_from_slice(extra);
    lab(&args)
}

/// No secret's payload appears anywhere in `s`.
fn assert_no_secret(s: &str) {
    for k in [KEY, KEY0, CTRL_KEY] {
        let payload = &k[10..k.len() - 1];
        assert!(!s.contains(payload), "a secret was printed: {s}");
    }
}

#[test]
fn target_and_host_authenticate_both_ways_over_sockets() {
    let nqn = "nqn.2026-01.org.example:lab-auth";
    let mut target = target(nqn, &["--allow-host", HOST, "--dhchap-key", KEY, "--dhchap-ctrl-key", CTRL_KEY]);
    let o = ccr_check(
        &target.addr,
        nqn,
        &["--hostnqn", HOST, "--dhchap-secret", KEY, "--dhchap-ctrl-secret", CTRL_KEY, "--digests", "both"],
    );
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}\n{}", text(&o.stderr));
    assert!(out.contains("ccr-check verdict: PASS ("), "{out}");
    let lines = target.lines_until("qid 2");
    let all = lines.join("\n");
    // The description line, among the target's log lines (tracing, on the same standard error).
    assert!(lines.iter().any(|l| l.starts_with("authentication: hosts allowed: nqn.2014-08")), "{all}");
    assert!(all.contains("host key DHHC-1:01:<redacted>, controller key DHHC-1:00:<redacted>"), "{all}");
    assert!(
        all.contains(
            "qid 0 (conn 0): authenticated with hash SHA-512, dhgroup ffdhe3072, controller authenticated too"
        ),
        "{all}"
    );
    assert_no_secret(&all);
    assert_no_secret(&out);
}

#[test]
fn a_wrong_secret_or_an_unknown_host_is_refused() {
    let nqn = "nqn.2026-01.org.example:lab-auth-refused";
    let mut target = target(nqn, &["--allow-host", HOST, "--dhchap-key", KEY]);
    let o = ccr_check(&target.addr, nqn, &["--hostnqn", HOST, "--dhchap-secret", KEY0]);
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("queue 0: authentication: the peer failed the exchange: authentication failed (0x01)"),
        "{out}"
    );
    let all = target.lines_until("(conn 0): authentication failed").join("\n");
    assert!(all.contains("qid 0 (conn 0): authentication failed: refused the peer: authentication failed"), "{all}");
    // Another host NQN: Connect Invalid Host.
    let o = ccr_check(&target.addr, nqn, &["--dhchap-secret", KEY]);
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("Connect failed with status 0x8308"), "{out}");
    let all = target.lines_until("not allowed").join("\n");
    assert!(all.contains("Connect from a host that is not allowed refused (Connect Invalid Host)"), "{all}");
    // Without a secret: the host cannot answer ATR.
    let o = ccr_check(&target.addr, nqn, &["--hostnqn", HOST]);
    assert!(
        text(&o.stdout).contains("controller refused: the controller requires authentication and no secret is set"),
        "{}",
        text(&o.stdout)
    );
}

#[test]
fn secrets_are_checked_and_never_echoed_in_argument_errors() {
    let bad_crc = "DHHC-1:00:ia6zGodOr4SEG0Zzaw398rpY0wqipUWj4jWjUh4HWUz6aQ2m:";
    for args in [
        &["target", "--dhchap-key", bad_crc][..],
        &["target", "--dhchap-ctrl-key", CTRL_KEY],
        &["ccr-check", "--addr", "127.0.0.1:1", "--dhchap-secret", bad_crc],
        &["ccr-check", "--addr", "127.0.0.1:1", "--dhchap-ctrl-secret", KEY],
        &["rw-test", "--paths", "127.0.0.1:1", "--policy", "ccr", "--dhchap-secret", "DHHC-1:07:abc:"],
    ] {
        let o = lab(args);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(!err.contains("ia6zGodOr4SEG0Zzaw398rpY0wqipUWj4jWjUh4HWUz6aQ2"), "{err}");
    }
    let err = text(&lab(&["target", "--dhchap-key", bad_crc]).stderr);
    assert!(err.contains("invalid value for --dhchap-key <SECRET>: the secret's CRC-32 does not match"), "{err}");
}

// ---------------------------------------------------------------------------------------------------------------
// gen-dhchap-key

#[test]
fn gen_dhchap_key_prints_what_nvme_cli_2_3_prints() {
    let s32: String = (0..32u8).map(|b| format!("{b:02x}")).collect();
    let s48: String = (0..48u8).map(|b| format!("{b:02x}")).collect();
    let s64: String = (0x64..0x64 + 64u8).map(|b| format!("{b:02x}")).collect();
    // nvme-cli 2.3 (`nvme gen-dhchap-key --hmac=N --secret=S --nqn=HOST`), run for this test and for
    // nvme-proto/notes/vectors.md §6.
    let cases = [
        ("0", &s32, KEY0),
        ("1", &s32, KEY),
        ("2", &s48, "DHHC-1:02:JzgkyQ7IBRNgZgoVJQTRqDZ62Hnj5/kZ+vrrqjiE4TzoZZv5ycVS5cOLCiZ1bQfVVxJqow==:"),
        (
            "3",
            &s64,
            "DHHC-1:03:dBQ3FCKaxRfO4HzC0dPkFw8kEmShHdXuPdht+ymObAtj8RkgGvitD0kHQ/sW9bNPF6xB6KMELsiTrd+9OVHLkNx2e3k=:",
        ),
    ];
    for (hmac, secret, want) in cases {
        let o = lab(&["gen-dhchap-key", "--hmac", hmac, "--secret", secret, "--nqn", HOST]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        assert_eq!(text(&o.stdout), format!("{want}\n"));
    }
}

#[test]
fn gen_dhchap_key_draws_fresh_secrets_of_the_hashs_length_and_refuses_bad_lengths() {
    for (hmac, len) in [("0", 59), ("1", 59), ("2", 83), ("3", 103)] {
        let a = text(&lab(&["gen-dhchap-key", "--hmac", hmac, "--nqn", HOST]).stdout);
        let b = text(&lab(&["gen-dhchap-key", "--hmac", hmac, "--nqn", HOST]).stdout);
        assert_ne!(a, b);
        assert_eq!(a.trim_end().len(), len, "{a}");
        assert!(a.starts_with(&format!("DHHC-1:0{hmac}:")));
        nvme_proto::auth::DhchapSecret::parse(a.trim_end()).unwrap();
    }
    let o = lab(&["gen-dhchap-key", "--hmac", "0", "--key-length", "64", "--nqn", HOST]);
    assert_eq!(text(&o.stdout).trim_end().len(), 103);
    for args in [
        &["gen-dhchap-key", "--hmac", "2", "--key-length", "32", "--nqn", HOST][..],
        &["gen-dhchap-key", "--hmac", "4", "--nqn", HOST],
        &["gen-dhchap-key", "--hmac", "0", "--key-length", "40", "--nqn", HOST],
        &["gen-dhchap-key", "--hmac", "1", "--secret", "0011", "--nqn", HOST],
        &["gen-dhchap-key", "--hmac", "1"],
    ] {
        assert_eq!(lab(args).status.code(), Some(2), "{args:?}");
    }
}

// ---------------------------------------------------------------------------------------------------------------
// decode

fn emit(pdu: &Pdu<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; pdu.buffer_len(&Params::default())];
    let n = pdu.emit(&Params::default(), &mut buf).unwrap();
    buf.truncate(n);
    buf
}

fn message(m: AuthMessage<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; m.buffer_len()];
    m.emit(&mut buf).unwrap();
    buf
}

fn send(cid: u16, m: AuthMessage<'_>) -> Vec<u8> {
    let data = message(m);
    let sqe = Authentication::dhchap_send(data.len() as u32).to_sqe(cid);
    emit(&Pdu::CapsuleCmd(CapsuleCmd { sqe: sqe.to_bytes(), data: &data }))
}

/// An Authentication Receive of 4096 bytes answered with `m` padded with zeros, as nvmet and our target answer.
fn receive(cid: u16, m: AuthMessage<'_>) -> Vec<u8> {
    let mut data = message(m);
    data.resize(4096, 0);
    let sqe = Authentication::dhchap_receive(4096).to_sqe(cid);
    let mut out = emit(&Pdu::CapsuleCmd(CapsuleCmd { sqe: sqe.to_bytes(), data: &[] }));
    let c2h = C2HData { cccid: cid, datao: 0, data: &data, last: true, success: false };
    out.extend(emit(&Pdu::C2HData(c2h)));
    out.extend(resp(cid, 0));
    out
}

fn resp(cid: u16, dw0: u32) -> Vec<u8> {
    emit(&Pdu::CapsuleResp(CapsuleResp { cqe: Cqe { dw0, ..Cqe::new(cid, Status::SUCCESS) }.to_bytes() }))
}

#[test]
fn decode_names_every_authentication_message_and_its_fields() {
    let mut wire = Vec::new();
    let connect = Connect::admin(5000).to_sqe(1);
    wire.extend(emit(&Pdu::CapsuleCmd(CapsuleCmd { sqe: connect.to_bytes(), data: &[] })));
    wire.extend(resp(1, ConnectResponse { cntlid: 3, authreq: ConnectResponse::AUTHREQ_ATR }.to_dw0()));
    let hashes = [HashId::SHA_256, HashId::SHA_384, HashId::SHA_512];
    let groups = [DhGroupId::NULL, DhGroupId::FFDHE2048];
    let d = ProtocolDescriptor::dh_hmac_chap(&hashes, &groups).to_view().unwrap();
    let neg = Negotiate { t_id: 7, sc_c: SecureChannel::NONE, descriptors: std::slice::from_ref(&d) };
    wire.extend(send(2, AuthMessage::Negotiate(neg)));
    wire.extend(resp(2, 0));
    let dhv = vec![0xAB; 256];
    let ch = Challenge {
        t_id: 7,
        hash_id: HashId::SHA_256,
        dh_group: DhGroupId::FFDHE2048,
        seqnum: 0x01020304,
        challenge: &[0x11; 32],
        dh_value: &dhv,
    };
    wire.extend(receive(3, AuthMessage::Challenge(ch)));
    let reply = Reply { t_id: 7, seqnum: 9, response: &[0x22; 32], challenge: Some(&[0x33; 32]), dh_value: &dhv };
    wire.extend(send(4, AuthMessage::Reply(reply)));
    wire.extend(resp(4, 0));
    wire.extend(receive(5, AuthMessage::Success1(Success1 { t_id: 7, hl: 32, response: Some(&[0x44; 32]) })));
    wire.extend(send(6, AuthMessage::Success2(Success2 { t_id: 7 })));
    wire.extend(resp(6, 0));
    wire.extend(receive(7, AuthMessage::Failure1(Failure1::new(7, FailureExplanation::HASH_NOT_USABLE))));
    wire.extend(send(8, AuthMessage::Failure2(Failure2::new(7, FailureExplanation::FAILED))));
    let hex: String = wire.iter().map(|b| format!("{b:02x}")).collect();
    let mut child = Command::new(env!("CARGO_BIN_EXE_nvme-lab"))
        .args(["decode"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), hex.as_bytes()).unwrap();
    let o = child.wait_with_output().unwrap();
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}\n{}", text(&o.stderr));
    let lines: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let auths: Vec<&Value> = lines.iter().filter_map(|l| l.get("auth")).collect();
    let names: Vec<&str> = auths.iter().map(|a| a["message"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "AUTH_Negotiate",
            "DH-HMAC-CHAP_Challenge",
            "DH-HMAC-CHAP_Reply",
            "DH-HMAC-CHAP_Success1",
            "DH-HMAC-CHAP_Success2",
            "AUTH_Failure1",
            "AUTH_Failure2"
        ]
    );
    let cqe = lines.iter().find_map(|l| l.get("cqe").filter(|c| c["for"] == "Connect")).unwrap();
    assert_eq!(
        (cqe["atr"].as_bool(), cqe["ascr"].as_bool(), cqe["cntlid"].as_u64()),
        (Some(true), Some(false), Some(3))
    );
    let n = auths[0];
    assert_eq!(n["t_id"], 7);
    assert_eq!(n["descriptors"][0]["protocol"], "DH-HMAC-CHAP");
    assert_eq!(n["descriptors"][0]["hash_ids"], serde_json::json!(["SHA-256", "SHA-384", "SHA-512"]));
    assert_eq!(n["descriptors"][0]["dh_groups"], serde_json::json!(["null", "ffdhe2048"]));
    let c = auths[1];
    assert_eq!((c["hash_id_name"].as_str(), c["dh_group_name"].as_str()), (Some("SHA-256"), Some("ffdhe2048")));
    assert_eq!((c["hl"].as_u64(), c["dhvlen"].as_u64(), c["seqnum"].as_u64()), (Some(32), Some(256), Some(0x01020304)));
    assert_eq!(c["c1"], "11".repeat(32));
    let r = auths[2];
    assert_eq!((r["cvalid"].as_bool(), r["seqnum"].as_u64()), (Some(true), Some(9)));
    assert_eq!((r["r1"].as_str(), r["c2"].as_str()), (Some(&*"22".repeat(32)), Some(&*"33".repeat(32))));
    assert_eq!((auths[3]["rvalid"].as_bool(), auths[3]["r2"].as_str()), (Some(true), Some(&*"44".repeat(32))));
    assert_eq!((auths[5]["rce"].as_u64(), auths[5]["rce_name"].as_str()), (Some(4), Some("hash function not usable")));
    assert_eq!((auths[6]["rc_name"].as_str(), auths[6]["rce"].as_u64()), (Some("Authentication Failure"), Some(1)));
}
