//! In-band authentication messages and the DHHC-1 secret text (nvme_proto::notes::auth), against byte vectors from a
//! second source (nvme_proto::notes::vectors §6): SPDK's packed message structures compiled with gcc, filled through
//! their field names and dumped, and nvme-cli 2.3's `gen-dhchap-key` / `check-dhchap-key`. Then the error paths and
//! proptest round trips.

use nvme_proto::auth::{
    AuthError, AuthHeaderView, AuthMessage, AuthMsgId, AuthProtocolId, AuthType, Challenge, ChallengeView, DhGroupId,
    DhchapSecret, Failure1, Failure2, FailureExplanation, FailureReason, HashId, Negotiate, ProtocolDescriptor,
    ProtocolDescriptorView, Reply, SecretError, SecretTransform, SecureChannel, Success1, Success2, dhchap_crc32,
};
use proptest::prelude::*;
use zerocopy::FromBytes;

fn hex(text: &str) -> Vec<u8> {
    let text: String = text.split_whitespace().collect();
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex")).collect()
}

/// Emits `message` into a buffer of exactly `buffer_len` bytes and checks the bytes, then parses `bytes` back, alone
/// and followed by zeros (a Linux target returns the whole allocation length).
fn check_vector(message: AuthMessage<'_>, bytes: &[u8]) {
    assert_eq!(message.buffer_len(), bytes.len());
    let mut out = vec![0xEE; bytes.len()];
    assert_eq!(message.emit(&mut out), Ok(bytes.len()));
    assert_eq!(out, bytes);
    assert_eq!(AuthMessage::parse(bytes), Ok(message));
    let mut padded = bytes.to_vec();
    padded.resize(4096, 0);
    assert_eq!(AuthMessage::parse(&padded), Ok(message));
    let header = AuthHeaderView::ref_from_buf(bytes).expect("6 bytes");
    assert_eq!(
        (AuthType(header.auth_type), AuthMsgId(header.auth_id)),
        (message.id().auth_type().unwrap(), message.id())
    );
    assert_eq!(header.t_id.get(), message.t_id());
    let mut short = vec![0u8; bytes.len() - 1];
    assert_eq!(message.emit(&mut short), Err(AuthError::BufferTooShort { needed: bytes.len() }));
}

// ---------------------------------------------------------------------------------------------------------------
// Second source: SPDK's structures (notes::vectors §6.1)

#[test]
fn negotiate_as_linux_sends_it() {
    // T_ID 0, SC_C 0, NAPD 1; DH-HMAC-CHAP, hashes {SHA-256, SHA-384, SHA-512}, groups {NULL, ffdhe2048 ... 8192}.
    let bytes = hex("00000000 0000 00 01  01 00 03 06  010203
        000000000000000000000000000000000000000000000000000000
        000102030405 000000000000000000000000000000000000000000000000");
    assert_eq!(bytes.len(), 72);
    let d = ProtocolDescriptor::dh_hmac_chap(&HashId::ALL, &DhGroupId::ALL).to_view().unwrap();
    let negotiate = Negotiate { t_id: 0, sc_c: SecureChannel::NONE, descriptors: std::slice::from_ref(&d) };
    check_vector(AuthMessage::Negotiate(negotiate), &bytes);
    let parsed = Negotiate::parse(&bytes).unwrap();
    let chap = parsed.dh_hmac_chap().unwrap();
    assert_eq!(chap.hash_ids, &HashId::ALL);
    assert_eq!(chap.dh_groups, &DhGroupId::ALL);
}

#[test]
fn negotiate_with_two_descriptors() {
    // T_ID 0xA55A, NAPD 2: an unknown protocol 0x7E offering hash 0x09, then DH-HMAC-CHAP with SHA-512 and
    // {ffdhe8192, NULL}.
    let mut bytes = vec![0u8; 136];
    bytes[..8].copy_from_slice(&hex("00000000 5aa5 00 02"));
    bytes[8..13].copy_from_slice(&hex("7e 00 01 00 09"));
    bytes[72..77].copy_from_slice(&hex("01 00 01 02 03"));
    bytes[72 + 34..72 + 36].copy_from_slice(&hex("05 00"));
    let views = [
        ProtocolDescriptor { auth_id: AuthProtocolId(0x7E), hash_ids: &[HashId(9)], dh_groups: &[] }.to_view().unwrap(),
        ProtocolDescriptor::dh_hmac_chap(&[HashId::SHA_512], &[DhGroupId::FFDHE8192, DhGroupId::NULL])
            .to_view()
            .unwrap(),
    ];
    let negotiate = Negotiate { t_id: 0xA55A, sc_c: SecureChannel::NONE, descriptors: &views };
    check_vector(AuthMessage::Negotiate(negotiate), &bytes);
    let chap = Negotiate::parse(&bytes).unwrap().dh_hmac_chap().unwrap();
    assert_eq!(chap.dh_groups, &[DhGroupId::FFDHE8192, DhGroupId::NULL]);
    assert_eq!(Negotiate::parse(&bytes).unwrap().protocols().count(), 2);
}

#[test]
fn challenge_null_group() {
    let bytes = hex("0101 0000 0100 20 00 01 00 0000 04030201
        000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
    let c1: Vec<u8> = (0..32).collect();
    let challenge = Challenge {
        t_id: 1,
        hash_id: HashId::SHA_256,
        dh_group: DhGroupId::NULL,
        seqnum: 0x0102_0304,
        challenge: &c1,
        dh_value: &[],
    };
    check_vector(AuthMessage::Challenge(challenge), &bytes);
}

#[test]
fn challenge_ffdhe2048() {
    // SPDK's header; then C1[i] = 0xC0 + i (48 bytes) and the DH value [i] = i (256 bytes).
    let mut bytes = hex("0101 0000 3412 30 00 02 01 0001 d4c3b2a1");
    let c1: Vec<u8> = (0..48).map(|i| 0xC0 + i).collect();
    let dhv: Vec<u8> = (0..=255).collect();
    bytes.extend_from_slice(&c1);
    bytes.extend_from_slice(&dhv);
    assert_eq!(bytes.len(), 320);
    let challenge = Challenge {
        t_id: 0x1234,
        hash_id: HashId::SHA_384,
        dh_group: DhGroupId::FFDHE2048,
        seqnum: 0xA1B2_C3D4,
        challenge: &c1,
        dh_value: &dhv,
    };
    check_vector(AuthMessage::Challenge(challenge), &bytes);
    let (view, _) = ChallengeView::ref_from_prefix(&bytes).unwrap();
    assert_eq!((view.hl, view.dhvlen.get(), view.seqnum.get()), (48, 256, 0xA1B2_C3D4));
}

#[test]
fn reply_bidirectional() {
    let mut bytes = hex("0102 0000 0100 20 00 01 00 0000 0d0c0b0a");
    let r1 = [0x11u8; 32];
    let c2: Vec<u8> = (0..32).map(|i| 0xFF - i).collect();
    bytes.extend_from_slice(&r1);
    bytes.extend_from_slice(&c2);
    let reply = Reply { t_id: 1, seqnum: 0x0a0b_0c0d, response: &r1, challenge: Some(&c2), dh_value: &[] };
    check_vector(AuthMessage::Reply(reply), &bytes);
}

#[test]
fn reply_unidirectional_ffdhe2048() {
    // SPDK's header (CVALID 0, DHVLEN 256, SEQNUM 5); R1[i] = 0x40 + i, C2 zero, DH value [i] = 0xFF - i.
    let mut bytes = hex("0102 0000 0302 40 00 00 00 0001 05000000");
    let r1: Vec<u8> = (0..64).map(|i| 0x40 + i).collect();
    let dhv: Vec<u8> = (0..=255).map(|i| 0xFF - i).collect();
    bytes.extend_from_slice(&r1);
    bytes.extend_from_slice(&[0; 64]);
    bytes.extend_from_slice(&dhv);
    assert_eq!(bytes.len(), 400);
    let reply = Reply { t_id: 0x0203, seqnum: 5, response: &r1, challenge: None, dh_value: &dhv };
    check_vector(AuthMessage::Reply(reply), &bytes);
}

#[test]
fn success1_with_and_without_r2() {
    let mut bytes = hex("0103 0000 0100 20 00 01 00000000000000");
    bytes.extend_from_slice(&[0x22; 32]);
    check_vector(AuthMessage::Success1(Success1 { t_id: 1, hl: 32, response: Some(&[0x22; 32]) }), &bytes);
    // Without R2 the field is still sent, zero-filled (Linux >= 6.7 does so), and a 16-byte message parses too.
    let mut bytes = hex("0103 0000 0900 30 00 00 00000000000000");
    bytes.extend_from_slice(&[0; 48]);
    let success1 = Success1 { t_id: 9, hl: 48, response: None };
    check_vector(AuthMessage::Success1(success1), &bytes);
    assert_eq!(Success1::parse(&bytes[..16]), Ok(success1));
}

#[test]
fn success2_and_failures() {
    check_vector(AuthMessage::Success2(Success2 { t_id: 1 }), &hex("0104 0000 0100 00000000000000000000"));
    let f1 = Failure1::new(1, FailureExplanation::INCORRECT_PAYLOAD);
    check_vector(AuthMessage::Failure1(f1), &hex("00f1 0000 0100 01 06"));
    let f2 = Failure2::new(0xBEEF, FailureExplanation::FAILED);
    check_vector(AuthMessage::Failure2(f2), &hex("00f0 0000 efbe 01 01"));
    assert_eq!(f2.reason, FailureReason::AUTHENTICATION_FAILURE);
    // Unknown reason codes and explanations round-trip.
    let odd = Failure1 { t_id: 2, reason: FailureReason(0x7F), explanation: FailureExplanation(0xEE) };
    check_vector(AuthMessage::Failure1(odd), &hex("00f1 0000 0200 7f ee"));
}

// ---------------------------------------------------------------------------------------------------------------
// Errors

#[test]
fn wrong_messages_are_refused_with_the_protocol_explanation() {
    let success2 = hex("0104 0000 0100 00000000000000000000");
    let err = Challenge::parse(&success2).unwrap_err();
    assert_eq!(err, AuthError::WrongMessage { auth_type: AuthType::DH_HMAC_CHAP, auth_id: AuthMsgId::SUCCESS2 });
    assert_eq!(err.explanation(), FailureExplanation::INCORRECT_PROTOCOL_MESSAGE);
    // The right identifier under the wrong type is another message.
    assert!(matches!(Negotiate::parse(&hex("0100 0000 0000 00 00")), Err(AuthError::WrongMessage { .. })));
    assert!(matches!(Failure1::parse(&hex("01f1 0000 0000 01 01")), Err(AuthError::WrongMessage { .. })));
    assert!(matches!(AuthMessage::parse(&hex("0105 0000 0000 00 00")), Err(AuthError::WrongMessage { .. })));
    assert!(matches!(AuthMessage::parse(&hex("0200 0000 0000 00 00")), Err(AuthError::WrongMessage { .. })));
    assert_eq!(AuthMessage::parse(&[0]), Err(AuthError::BufferTooShort { needed: 6 }));
    assert_eq!(Reply::parse(&[]), Err(AuthError::BufferTooShort { needed: 16 }));
}

#[test]
fn short_messages_say_what_they_need() {
    let challenge = hex("0101 0000 0100 20 00 01 01 0001 04030201");
    let err = Challenge::parse(&challenge).unwrap_err();
    assert_eq!(err, AuthError::BufferTooShort { needed: 16 + 32 + 256 });
    assert_eq!(err.explanation(), FailureExplanation::INCORRECT_PAYLOAD);
    assert_eq!(Challenge::parse(&challenge[..15]), Err(AuthError::BufferTooShort { needed: 16 }));
    let reply = hex("0102 0000 0100 30 00 01 00 1000 01000000");
    assert_eq!(Reply::parse(&reply), Err(AuthError::BufferTooShort { needed: 16 + 96 + 16 }));
    let success1 = hex("0103 0000 0100 40 00 01 00000000000000");
    assert_eq!(Success1::parse(&success1), Err(AuthError::BufferTooShort { needed: 80 }));
    let negotiate = hex("0000 0000 0100 00 03");
    assert_eq!(Negotiate::parse(&negotiate), Err(AuthError::BufferTooShort { needed: 8 + 3 * 64 }));
    assert_eq!(Failure2::parse(&hex("00f0 0000 0100 01")), Err(AuthError::BufferTooShort { needed: 8 }));
    assert_eq!(Success2::parse(&hex("0104 0000 0100")), Err(AuthError::BufferTooShort { needed: 16 }));
}

#[test]
fn flags_and_lists_beyond_their_range_are_invalid_fields() {
    let mut reply = hex("0102 0000 0100 01 00 02 00 0000 01000000 aa bb");
    assert_eq!(Reply::parse(&reply), Err(AuthError::InvalidField { offset: 8 }));
    reply[8] = 0;
    assert_eq!(Reply::parse(&reply).unwrap().challenge, None, "C2 ignored without CVALID");
    let success1 = hex("0103 0000 0100 00 00 02 00000000000000");
    assert_eq!(Success1::parse(&success1), Err(AuthError::InvalidField { offset: 8 }));
    let mut negotiate = vec![0u8; 8 + 128];
    negotiate[7] = 2;
    negotiate[8 + 64 + 2] = 31; // HALEN of descriptor 1
    assert_eq!(Negotiate::parse(&negotiate), Err(AuthError::InvalidField { offset: 74 }));
    negotiate[74] = 30;
    negotiate[75] = 31; // DHLEN
    assert_eq!(Negotiate::parse(&negotiate), Err(AuthError::InvalidField { offset: 75 }));
    negotiate[75] = 30;
    assert_eq!(Negotiate::parse(&negotiate).unwrap().protocols().last().unwrap().hash_ids.len(), 30);
    // NAPD 0 is framing-valid: the controller decides.
    assert_eq!(Negotiate::parse(&hex("0000 0000 0700 00 00")).unwrap().descriptors.len(), 0);
}

#[test]
fn emit_refuses_what_the_fields_cannot_hold() {
    let mut buf = [0u8; 4096];
    let long = [0u8; 256];
    let c = Challenge {
        t_id: 0,
        hash_id: HashId::SHA_256,
        dh_group: DhGroupId::NULL,
        seqnum: 1,
        challenge: &long,
        dh_value: &[],
    };
    assert_eq!(c.emit(&mut buf), Err(AuthError::InvalidField { offset: 6 }));
    let r = Reply { t_id: 0, seqnum: 1, response: &long[..32], challenge: Some(&long[..48]), dh_value: &[] };
    assert_eq!(r.emit(&mut buf), Err(AuthError::InvalidField { offset: 6 }));
    let big = vec![0u8; 65_536];
    let r = Reply { t_id: 0, seqnum: 1, response: &long[..32], challenge: None, dh_value: &big };
    assert_eq!(r.emit(&mut vec![0u8; 70_000]), Err(AuthError::InvalidField { offset: 10 }));
    let s = Success1 { t_id: 0, hl: 48, response: Some(&long[..32]) };
    assert_eq!(s.emit(&mut buf), Err(AuthError::InvalidField { offset: 6 }));
    let ids = [HashId::SHA_256; 31];
    assert_eq!(ProtocolDescriptor::dh_hmac_chap(&ids, &[]).to_view(), Err(AuthError::InvalidField { offset: 2 }));
    let groups = [DhGroupId::NULL; 31];
    assert_eq!(ProtocolDescriptor::dh_hmac_chap(&[], &groups).to_view(), Err(AuthError::InvalidField { offset: 3 }));
    let mut raw = ProtocolDescriptor::dh_hmac_chap(&[], &[]).to_view().unwrap();
    raw.dhlen = 40;
    let n = Negotiate { t_id: 0, sc_c: SecureChannel::NONE, descriptors: std::slice::from_ref(&raw) };
    assert_eq!(n.emit(&mut buf), Err(AuthError::InvalidField { offset: 11 }));
    let many = vec![raw; 256];
    let n = Negotiate { t_id: 0, sc_c: SecureChannel::NONE, descriptors: &many };
    assert_eq!(n.emit(&mut vec![0u8; 20_000]), Err(AuthError::InvalidField { offset: 7 }));
}

#[test]
fn negotiate_emit_cleans_reserved_bytes_and_unused_entries() {
    let mut raw = ProtocolDescriptor::dh_hmac_chap(&[HashId::SHA_256], &[DhGroupId::NULL]).to_view().unwrap();
    raw.reserved = 0xAA;
    raw.hash_ids[5] = HashId(0x55);
    let n = Negotiate { t_id: 3, sc_c: SecureChannel(0x02), descriptors: std::slice::from_ref(&raw) };
    let mut buf = [0xEEu8; 72];
    assert_eq!(n.emit(&mut buf), Ok(72));
    assert_eq!(buf[9], 0);
    assert_eq!(buf[12 + 5], 0);
    let parsed = Negotiate::parse(&buf).unwrap();
    assert_eq!(parsed.sc_c, SecureChannel::NEW_TLS_PSK);
    assert_eq!(parsed.protocols().collect::<Vec<_>>(), n.protocols().collect::<Vec<_>>());
}

#[test]
fn identifiers_name_themselves() {
    assert_eq!(HashId::SHA_384.hash_len(), Some(48));
    assert_eq!(HashId(4).hash_len(), None);
    assert_eq!(DhGroupId::FFDHE6144.value_len(), Some(768));
    assert_eq!(DhGroupId::NULL.value_len(), Some(0));
    assert_eq!(DhGroupId(6).name(), None);
    assert_eq!(DhGroupId::FFDHE8192.name(), Some("ffdhe8192"));
    assert_eq!(AuthMsgId::FAILURE1.auth_type(), Some(AuthType::COMMON));
    assert_eq!(AuthMsgId::SUCCESS2.name(), Some("DH-HMAC-CHAP_Success2"));
    assert_eq!(FailureExplanation::DH_GROUP_NOT_USABLE.name(), Some("DH group not usable"));
    let err = AuthError::WrongMessage { auth_type: AuthType::COMMON, auth_id: AuthMsgId::FAILURE1 };
    assert_eq!(err.to_string(), "unexpected AUTH_Failure1");
    let err = AuthError::WrongMessage { auth_type: AuthType::COMMON, auth_id: AuthMsgId::CHALLENGE };
    assert_eq!(err.to_string(), "unknown authentication message 00/01");
}

// ---------------------------------------------------------------------------------------------------------------
// DHHC-1 secrets (notes::vectors §6.2)

/// The example secret quoted from the specification in nvme-cli's documentation; `nvme check-dhchap-key` (2.3)
/// says "Key is valid (HMAC 0, length 32, CRC a70d69fa)".
const SPEC_EXAMPLE: &str = "DHHC-1:00:ia6zGodOr4SEG0Zzaw398rpY0wqipUWj4jWjUh4HWUz6aQ2n:";
const SPEC_EXAMPLE_SECRET: &str = "89aeb31a874eaf84841b46736b0dfdf2ba58d30aa2a545a3e235a3521e07594c";

#[test]
fn spec_example_secret() {
    let s = DhchapSecret::parse(SPEC_EXAMPLE).unwrap();
    assert_eq!(s.transform(), SecretTransform::NONE);
    assert_eq!(s.secret(), hex(SPEC_EXAMPLE_SECRET));
    assert_eq!(dhchap_crc32(s.secret()), 0xa70d_69fa);
    let mut buf = [0u8; DhchapSecret::MAX_TEXT_LEN];
    assert_eq!(s.emit(&mut buf), Ok(59));
    assert_eq!(&buf[..59], SPEC_EXAMPLE.as_bytes());
    // The same payload under the other transforms (Linux >= 6.7 accepts any secret length with any transform).
    for t in 1..=3 {
        let text = SPEC_EXAMPLE.replace("DHHC-1:00:", &format!("DHHC-1:0{t}:"));
        let s = DhchapSecret::parse(&text).unwrap();
        assert_eq!((s.transform(), s.secret()), (SecretTransform(t), &hex(SPEC_EXAMPLE_SECRET)[..]));
    }
    // Linux accepts the text without its final colon.
    assert_eq!(DhchapSecret::parse(SPEC_EXAMPLE.trim_end_matches(':')).unwrap().secret(), s.secret());
}

#[test]
fn crc_is_iso_hdlc_not_crc32c() {
    assert_eq!(dhchap_crc32(b"123456789"), 0xCBF4_3926);
    assert_ne!(dhchap_crc32(b"123456789"), nvme_proto::crc::crc32c(b"123456789"));
}

#[test]
fn bad_crc_secret_is_refused() {
    // blktests nvme/044's "invalid ctrl key"; nvme-cli 2.3: "CRC mismatch (key 021fa81b, crc e08833d2)".
    let err = DhchapSecret::parse("DHHC-1:00:Jc/My1o0qtLCWRp+sHhAVafdfaS7YQOMYhk9zSmlatobqB8C:").unwrap_err();
    assert_eq!(err, SecretError::Crc { stored: 0x021f_a81b, computed: 0xe088_33d2 });
    assert!(!err.to_string().contains("21f"), "the message shows no CRC: {err}");
}

/// `nvme gen-dhchap-key --secret=S --hmac=N --nqn=NQN` from nvme-cli 2.3 prints the *transformed* key in DHHC-1
/// form; the payloads are checked against our transform in nvme-fabric. Here: the texts parse (their CRCs are
/// nvme-cli's) and re-encode to the same characters.
#[test]
fn nvme_cli_generated_secrets_parse_and_re_encode() {
    for (text, transform, len) in NVME_CLI_KEYS {
        let s = DhchapSecret::parse(text).unwrap();
        assert_eq!((s.transform(), s.secret().len()), (transform, len));
        let mut buf = [0u8; DhchapSecret::MAX_TEXT_LEN];
        let n = s.emit(&mut buf).unwrap();
        assert_eq!(&buf[..n], text.as_bytes());
        assert_eq!(n, DhchapSecret::text_len(len));
    }
}

const NVME_CLI_KEYS: [(&str, SecretTransform, usize); 3] = [
    ("DHHC-1:01:XgAN1+Pe73rL3lqxBEqHJ7VR3UxqHp0jjEYp83ItJjelb1t/:", SecretTransform::SHA_256, 32),
    (
        "DHHC-1:02:JzgkyQ7IBRNgZgoVJQTRqDZ62Hnj5/kZ+vrrqjiE4TzoZZv5ycVS5cOLCiZ1bQfVVxJqow==:",
        SecretTransform::SHA_384,
        48,
    ),
    (
        "DHHC-1:03:dBQ3FCKaxRfO4HzC0dPkFw8kEmShHdXuPdht+ymObAtj8RkgGvitD0kHQ/sW9bNPF6xB6KMELsiTrd+9OVHLkNx2e3k=:",
        SecretTransform::SHA_512,
        64,
    ),
];

#[test]
fn malformed_secrets_each_get_their_error() {
    let body = &SPEC_EXAMPLE[10..];
    assert_eq!(DhchapSecret::parse("").unwrap_err(), SecretError::Format);
    assert_eq!(DhchapSecret::parse(&format!("DHHC-2:00:{body}")).unwrap_err(), SecretError::Format);
    assert_eq!(DhchapSecret::parse(&format!("DHHC-1:0:{body}")).unwrap_err(), SecretError::Format);
    assert_eq!(DhchapSecret::parse(&format!("DHHC-1:04:{body}")).unwrap_err(), SecretError::UnknownTransform(4));
    assert_eq!(DhchapSecret::parse(&format!("DHHC-1:00:{body}x")).unwrap_err(), SecretError::Format);
    assert_eq!(DhchapSecret::parse(&format!("DHHC-1:00:{body}:")).unwrap_err(), SecretError::Format);
    assert_eq!(DhchapSecret::parse("DHHC-1:00:ia6z!odO:").unwrap_err(), SecretError::Base64);
    // 16 bytes + CRC: decodes, but no such secret length.
    let mut raw = [7u8; 20];
    raw[16..].copy_from_slice(&dhchap_crc32(&[7; 16]).to_le_bytes());
    let text = format!("DHHC-1:00:{}:", base64(&raw));
    assert_eq!(DhchapSecret::parse(&text).unwrap_err(), SecretError::Length { len: 16 });
    let long = format!("DHHC-1:00:{}:", "A".repeat(400));
    assert_eq!(DhchapSecret::parse(&long).unwrap_err(), SecretError::Length { len: 296 });
    assert_eq!(DhchapSecret::new(SecretTransform::NONE, &[0; 33]).unwrap_err(), SecretError::Length { len: 33 });
    assert_eq!(DhchapSecret::new(SecretTransform(9), &[0; 32]).unwrap_err(), SecretError::UnknownTransform(9));
    let s = DhchapSecret::new(SecretTransform::SHA_384, &[1; 48]).unwrap();
    assert_eq!(s.emit(&mut [0u8; 82]), Err(SecretError::BufferTooShort { needed: 83 }));
}

#[test]
fn secrets_never_print() {
    let s = DhchapSecret::parse(NVME_CLI_KEYS[0].0).unwrap();
    assert_eq!(format!("{s:?}"), "DHHC-1:01:<redacted>");
    assert_eq!(s.redacted().to_string(), "DHHC-1:01:<redacted>");
}

/// A plain standard Base64 encoder for building test inputs (a second implementation, not the crate's).
fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(A[((n >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------------------------
// Round trips

fn any_hash() -> impl Strategy<Value = HashId> {
    prop_oneof![Just(HashId::SHA_256), Just(HashId::SHA_384), Just(HashId::SHA_512), any::<u8>().prop_map(HashId)]
}

fn any_group() -> impl Strategy<Value = DhGroupId> {
    prop_oneof![(0u8..=5).prop_map(DhGroupId), any::<u8>().prop_map(DhGroupId)]
}

proptest! {
    #[test]
    fn challenge_round_trips(t_id: u16, hash in any_hash(), group in any_group(), seqnum: u32,
                             c1 in prop::collection::vec(any::<u8>(), 0..=255),
                             dhv in prop::collection::vec(any::<u8>(), 0..1100)) {
        let m = Challenge { t_id, hash_id: hash, dh_group: group, seqnum, challenge: &c1, dh_value: &dhv };
        let mut buf = vec![0u8; m.buffer_len() + 7];
        let n = m.emit(&mut buf).unwrap();
        prop_assert_eq!(n, 16 + c1.len() + dhv.len());
        prop_assert_eq!(Challenge::parse(&buf), Ok(m));
    }

    #[test]
    fn reply_round_trips(t_id: u16, seqnum: u32, r1 in prop::collection::vec(any::<u8>(), 0..=255), bidi: bool,
                         fill: u8, dhv in prop::collection::vec(any::<u8>(), 0..1100)) {
        let c2 = vec![fill; r1.len()];
        let m = Reply { t_id, seqnum, response: &r1, challenge: bidi.then_some(&c2[..]), dh_value: &dhv };
        let mut buf = vec![0u8; m.buffer_len()];
        prop_assert_eq!(m.emit(&mut buf), Ok(16 + 2 * r1.len() + dhv.len()));
        prop_assert_eq!(Reply::parse(&buf), Ok(m));
    }

    #[test]
    fn success_and_failure_round_trip(t_id: u16, hl: u8, fill: u8, rvalid: bool, rc: u8, rce: u8) {
        let r2 = vec![fill; usize::from(hl)];
        let s1 = Success1 { t_id, hl, response: rvalid.then_some(&r2[..]) };
        let mut buf = vec![0u8; s1.buffer_len()];
        s1.emit(&mut buf).unwrap();
        prop_assert_eq!(Success1::parse(&buf), Ok(s1));
        let mut buf = [0u8; 16];
        Success2 { t_id }.emit(&mut buf).unwrap();
        prop_assert_eq!(Success2::parse(&buf), Ok(Success2 { t_id }));
        let f1 = Failure1 { t_id, reason: FailureReason(rc), explanation: FailureExplanation(rce) };
        f1.emit(&mut buf).unwrap();
        prop_assert_eq!(AuthMessage::parse(&buf), Ok(AuthMessage::Failure1(f1)));
        let f2 = Failure2 { t_id, reason: FailureReason(rc), explanation: FailureExplanation(rce) };
        f2.emit(&mut buf).unwrap();
        prop_assert_eq!(AuthMessage::parse(&buf), Ok(AuthMessage::Failure2(f2)));
    }

    #[test]
    fn negotiate_round_trips(t_id: u16, sc_c: u8,
                             lists in prop::collection::vec((any::<u8>(),
                                                             prop::collection::vec(any::<u8>(), 0..=30),
                                                             prop::collection::vec(any::<u8>(), 0..=30)), 0..6)) {
        let hashes: Vec<Vec<HashId>> = lists.iter().map(|(_, h, _)| h.iter().copied().map(HashId).collect()).collect();
        let groups: Vec<Vec<DhGroupId>> =
            lists.iter().map(|(_, _, g)| g.iter().copied().map(DhGroupId).collect()).collect();
        let views: Vec<ProtocolDescriptorView> = lists.iter().zip(hashes.iter().zip(&groups))
            .map(|((id, _, _), (h, g))| {
                ProtocolDescriptor { auth_id: AuthProtocolId(*id), hash_ids: h, dh_groups: g }.to_view().unwrap()
            })
            .collect();
        let m = Negotiate { t_id, sc_c: SecureChannel(sc_c), descriptors: &views };
        let mut buf = vec![0u8; m.buffer_len()];
        prop_assert_eq!(m.emit(&mut buf), Ok(8 + 64 * views.len()));
        let parsed = Negotiate::parse(&buf).unwrap();
        prop_assert_eq!(parsed, m);
        for (p, ((_, h, g), _)) in parsed.protocols().zip(lists.iter().zip(&views)) {
            prop_assert_eq!(p.hash_ids.iter().map(|x| x.0).collect::<Vec<_>>(), h.clone());
            prop_assert_eq!(p.dh_groups.iter().map(|x| x.0).collect::<Vec<_>>(), g.clone());
        }
    }

    /// Any bytes: a parse never panics; what parses re-encodes (canonically) to bytes that parse to the same message,
    /// and the typed parser of its identifier agrees.
    #[test]
    fn arbitrary_bytes_parse_or_fail_cleanly(bytes in prop::collection::vec(any::<u8>(), 0..600), kind in 0usize..7) {
        let mut bytes = bytes;
        let ids = [0x00u8, 0x01, 0x02, 0x03, 0x04, 0xF0, 0xF1];
        if bytes.len() >= 2 {
            bytes[1] = ids[kind];
            bytes[0] = AuthMsgId(ids[kind]).auth_type().unwrap().0;
        }
        if let Ok(m) = AuthMessage::parse(&bytes) {
            let mut out = vec![0u8; m.buffer_len()];
            prop_assert_eq!(m.emit(&mut out), Ok(m.buffer_len()));
            let again = AuthMessage::parse(&out).unwrap();
            let mut out2 = vec![0u8; again.buffer_len()];
            again.emit(&mut out2).unwrap();
            prop_assert_eq!(&out, &out2);
            prop_assert_eq!(again.t_id(), m.t_id());
            prop_assert_eq!(again.id(), m.id());
        }
    }

    #[test]
    fn secrets_round_trip(transform in 0u8..=3, len in prop::sample::select(vec![32usize, 48, 64]),
                          bytes in prop::collection::vec(any::<u8>(), 64)) {
        let s = DhchapSecret::new(SecretTransform(transform), &bytes[..len]).unwrap();
        let mut buf = [0u8; DhchapSecret::MAX_TEXT_LEN];
        let n = s.emit(&mut buf).unwrap();
        let text = std::str::from_utf8(&buf[..n]).unwrap();
        prop_assert_eq!(&text[..10], format!("DHHC-1:0{transform}:"));
        let raw = [&bytes[..len], &dhchap_crc32(&bytes[..len]).to_le_bytes()[..]].concat();
        prop_assert_eq!(&text[10..n - 1], base64(&raw));
        let back = DhchapSecret::parse(text).unwrap();
        prop_assert_eq!((back.transform(), back.secret()), (s.transform(), s.secret()));
    }

    #[test]
    fn any_text_parses_or_fails_cleanly(text in "DHHC-1:0[0-9]:[A-Za-z0-9+/=:]{0,110}") {
        if let Ok(s) = DhchapSecret::parse(&text) {
            prop_assert!(DhchapSecret::LENGTHS.contains(&s.secret().len()));
        }
    }
}
