//! Every malformed case of nvme_proto::notes::tcp §9.1 (and §6, §7.2, §8) with the FES and FEI it must produce, in the
//! order the checks run, plus regression cases from upstream bugs and the encoders' refusals.

use nvme_proto::crc::crc32c;
use nvme_proto::tcp::*;

const HD_DD: Params =
    Params { header_digest: true, data_digest: true, hpda: 0, cpda: 0, maxr2t: 0, maxh2cdata: 0x40_0000 };
const HD: Params = Params { data_digest: false, ..HD_DD };
const NONE: Params = Params { header_digest: false, data_digest: false, ..HD_DD };

const DATA: [u8; 16] = [0xA5; 16];

fn sqe(cid: u16) -> [u8; 64] {
    let mut s = [0u8; 64];
    s[0] = 0x01;
    s[1] = 0x40;
    s[2..4].copy_from_slice(&cid.to_le_bytes());
    s
}

fn cmd_nodata() -> Pdu<'static> {
    Pdu::CapsuleCmd(CapsuleCmd { sqe: sqe(7), data: &[] })
}
fn cmd_data() -> Pdu<'static> {
    Pdu::CapsuleCmd(CapsuleCmd { sqe: sqe(7), data: &DATA })
}
fn resp() -> Pdu<'static> {
    Pdu::CapsuleResp(CapsuleResp { cqe: [0x11; 16] })
}
fn h2c() -> Pdu<'static> {
    Pdu::H2CData(H2CData { cccid: 7, ttag: 2, datao: 64, data: &DATA, last: true })
}
fn c2h() -> Pdu<'static> {
    Pdu::C2HData(C2HData { cccid: 7, datao: 0, data: &DATA, last: true, success: false })
}
fn r2t() -> Pdu<'static> {
    Pdu::R2T(R2T { cccid: 7, ttag: 2, r2to: 0, r2tl: 4096 })
}
fn icreq() -> Pdu<'static> {
    Pdu::IcReq(IcReq { hpda: 0, header_digest: true, data_digest: false, maxr2t: 3 })
}
fn icresp() -> Pdu<'static> {
    Pdu::IcResp(IcResp { cpda: 0, header_digest: true, data_digest: false, maxh2cdata: 8192 })
}
fn term(sender: Role) -> Pdu<'static> {
    Pdu::TermReq(TermReq { sender, fes: Fes::INVALID_HEADER_FIELD, fei: 2, data: &[0x77; 24] })
}

/// The digest-capable PDUs with their receiver.
fn digested() -> [(Pdu<'static>, Role); 6] {
    [
        (cmd_nodata(), Role::Controller),
        (cmd_data(), Role::Controller),
        (resp(), Role::Host),
        (h2c(), Role::Controller),
        (c2h(), Role::Host),
        (r2t(), Role::Host),
    ]
}

/// Every defined PDU with its receiver.
fn all() -> Vec<(Pdu<'static>, Role)> {
    let mut v = digested().to_vec();
    v.extend([(icreq(), Role::Controller), (icresp(), Role::Host), (term(Role::Host), Role::Controller)]);
    v.push((term(Role::Controller), Role::Host));
    v
}

fn enc(pdu: &Pdu<'_>, params: &Params) -> Vec<u8> {
    let mut buf = vec![0; pdu.buffer_len(params)];
    assert_eq!(pdu.emit(params, &mut buf), Ok(buf.len()));
    buf
}

/// Recomputes the header digest after a test changed header bytes (when HDGSTF is set and the type is defined).
fn fix_hdgst(buf: &mut [u8]) {
    let Some(hlen) = PduType(buf[0]).hlen() else { return };
    let hlen = usize::from(hlen);
    if buf[1] & 1 != 0 && buf.len() >= hlen + 4 {
        let d = crc32c(&buf[..hlen]);
        buf[hlen..hlen + 4].copy_from_slice(&d.to_le_bytes());
    }
}

fn set_plen(buf: &mut [u8], plen: u32) {
    buf[4..8].copy_from_slice(&plen.to_le_bytes());
}

fn decode(receiver: Role, params: Params, bytes: &[u8]) -> Result<Decoded<'_>, PduError> {
    let phase_ic = PduType(bytes[0]).is_ic();
    let mut d = if phase_ic { Deframer::new(receiver) } else { Deframer::established(receiver, params) };
    d.decode(bytes)
}

/// The error the receiver reports; with `early`, it must already be reported from the first 8 bytes (before the
/// rest of the PDU is asked for). Fatal errors close the deframer.
fn reject(receiver: Role, params: Params, bytes: &[u8], early: bool) -> PduError {
    let err = decode(receiver, params, bytes).expect_err("accepted a malformed PDU");
    if early {
        assert_eq!(decode(receiver, params, &bytes[..8]), Err(err), "not rejected from the common header alone");
    }
    // The stand-alone parser agrees (IC ordering aside).
    if !matches!(err, PduError::Sequence(_) | PduError::InvalidField(InvalidField::UnexpectedIc(_))) {
        assert_eq!(Pdu::parse(bytes, &params, receiver), Err(err));
    }
    err
}

fn assert_fes(err: PduError, fes: u16, fei: u32) {
    assert_eq!(err.fes(), Some(Fes(fes)), "{err:?}");
    assert_eq!(err.fei(), fei, "{err:?}");
    assert!(err.is_fatal(), "{err:?}");
}

// ---- step 1: type and direction ----

#[test]
fn undefined_types_are_fes1_fei0() {
    for t in [0x08u8, PduType::KD_REQ.0, PduType::KD_RESP.0, 0x0C, 0x10, 0x7F, 0xFE, 0xFF] {
        let mut bytes = enc(&resp(), &HD);
        bytes[0] = t;
        // The receiver that would accept the direction bit, so the type itself is what fails.
        let receiver = PduType(t).sender().peer();
        let err = reject(receiver, HD, &bytes, true);
        assert_eq!(err, PduError::InvalidField(InvalidField::UndefinedType(PduType(t))));
        assert_fes(err, 1, 0);
    }
}

#[test]
fn wrong_direction_is_fes1_fei0() {
    for (pdu, receiver) in all() {
        let bytes = enc(&pdu, &HD);
        let err = reject(receiver.peer(), HD, &bytes, true);
        assert_eq!(err, PduError::InvalidField(InvalidField::WrongDirection(pdu.pdu_type())));
        assert_fes(err, 1, 0);
    }
}

// ---- step 1a: the IC exchange ----

#[test]
fn ic_pdus_after_the_exchange_are_fes1_fei0() {
    for (pdu, receiver) in [(icreq(), Role::Controller), (icresp(), Role::Host)] {
        let bytes = enc(&pdu, &NONE);
        let mut d = Deframer::established(receiver, NONE);
        let err = d.decode(&bytes[..8]).unwrap_err();
        assert_eq!(err, PduError::InvalidField(InvalidField::UnexpectedIc(pdu.pdu_type())));
        assert_fes(err, 1, 0);
        assert_eq!(d.state(), ConnState::Closed);
        // A second ICReq after a first one is the same error.
        let mut d = Deframer::new(receiver);
        assert!(matches!(d.decode(&bytes), Ok(Decoded::Pdu { .. })));
        assert_eq!(d.decode(&bytes), Err(err));
    }
}

#[test]
fn pdus_before_the_ic_exchange_are_fes2_sequence_errors() {
    for (pdu, receiver) in digested() {
        let bytes = enc(&pdu, &NONE);
        let mut d = Deframer::new(receiver);
        let err = d.decode(&bytes[..8]).unwrap_err();
        assert_eq!(err, PduError::Sequence(SequenceError::BeforeIcExchange(pdu.pdu_type())));
        assert_fes(err, 2, 0);
        assert_eq!(d.state(), ConnState::Closed);
        assert_eq!(d.decode(&bytes), Err(PduError::Closed));
    }
}

// ---- step 2: TermReq PLEN ----

#[test]
fn term_req_with_impossible_plen_closes_silently() {
    for sender in [Role::Host, Role::Controller] {
        for plen in [0u32, 8, 20, 23, 153, 200, 0x1_0000, u32::MAX] {
            let mut bytes = enc(&term(sender), &NONE);
            set_plen(&mut bytes, plen);
            let mut d = Deframer::established(sender.peer(), NONE);
            let err = d.decode(&bytes[..8]).unwrap_err();
            assert_eq!(err, PduError::TermReqLength { plen });
            assert_eq!((err.fes(), err.is_fatal()), (None, true));
            assert_eq!(d.term_req(&err, &bytes), None, "report nothing");
            assert_eq!(d.state(), ConnState::Closed);
        }
        // The bounds themselves are fine: 24 (no data) and 152 (128 bytes of data).
        for n in [0usize, 128] {
            let data = vec![0x5A; n];
            let t = TermReq { sender, fes: Fes(0x77), fei: 0xDEAD_BEEF, data: &data };
            let bytes = enc(&Pdu::TermReq(t), &NONE);
            assert_eq!(bytes.len(), 24 + n);
            let got = decode(sender.peer(), NONE, &bytes).unwrap();
            assert_eq!(got, Decoded::Pdu { pdu: Pdu::TermReq(t), consumed: 24 + n });
        }
    }
}

#[test]
fn any_fes_and_fei_are_accepted_in_a_received_term_req() {
    for (fes, fei) in [(0u16, 0u32), (2, 10), (4, 0xFFFF_FFFF), (5, 7), (6, 8), (0x77, 1), (0xFFFF, 0)] {
        let t = TermReq { sender: Role::Controller, fes: Fes(fes), fei, data: &[1, 2, 3] };
        assert_eq!(TermReq::parse(&enc(&Pdu::TermReq(t), &NONE)), Ok(t));
    }
}

// ---- step 3: flags ----

#[test]
fn flags_outside_the_types_set_are_fes1_fei1() {
    let cases: [(Pdu<'static>, Role, Params, u8); 9] = [
        (icreq(), Role::Controller, NONE, 0x01),
        (icresp(), Role::Host, NONE, 0x02),
        (term(Role::Host), Role::Controller, NONE, 0x04),
        (resp(), Role::Host, HD, 0x02),
        (r2t(), Role::Host, HD, 0x04),
        (cmd_data(), Role::Controller, HD_DD, 0x04),
        (h2c(), Role::Controller, HD_DD, 0x08),
        (c2h(), Role::Host, HD_DD, 0x10),
        (c2h(), Role::Host, HD_DD, 0x80),
    ];
    for (pdu, receiver, params, extra) in cases {
        let mut bytes = enc(&pdu, &params);
        bytes[1] |= extra;
        fix_hdgst(&mut bytes);
        let err = reject(receiver, params, &bytes, true);
        assert_eq!(err, PduError::InvalidField(InvalidField::Flags(PduFlags(bytes[1]))), "{pdu:?}");
        assert_fes(err, 1, 1);
    }
}

#[test]
fn digest_flags_must_match_the_negotiation() {
    for (pdu, receiver) in digested() {
        // Header digests negotiated, PDU without HDGSTF; and the reverse.
        for (sent, expected) in [(NONE, HD), (HD, NONE)] {
            let bytes = enc(&pdu, &sent);
            let err = reject(receiver, expected, &bytes, true);
            assert!(matches!(err, PduError::InvalidField(InvalidField::DigestFlags(_))), "{err:?}");
            assert_fes(err, 1, 1);
        }
    }
    // Data digests: H2CData, C2HData and a capsule with data must carry DDGSTF exactly when negotiated.
    for (pdu, receiver) in [(h2c(), Role::Controller), (c2h(), Role::Host), (cmd_data(), Role::Controller)] {
        for (sent, expected) in [(HD, HD_DD), (HD_DD, HD)] {
            let err = reject(receiver, expected, &enc(&pdu, &sent), true);
            assert_fes(err, 1, 1);
        }
    }
}

#[test]
fn data_less_capsule_cmd_with_data_digests_on() {
    // An older FreeBSD nvmf_tcp.h demanded DDGSTF on every CapsuleCmd (notes::tcp §5.3): accepted without DDGSTF ...
    let bytes = enc(&cmd_nodata(), &HD_DD);
    assert_eq!(bytes[1], 0x01);
    assert_eq!(decode(Role::Controller, HD_DD, &bytes), Ok(Decoded::Pdu { pdu: cmd_nodata(), consumed: 76 }));
    // ... rejected with DDGSTF (FES 1, FEI 1).
    let mut with = bytes.clone();
    with[1] |= 0x02;
    fix_hdgst(&mut with);
    let err = reject(Role::Controller, HD_DD, &with, true);
    assert_eq!(err, PduError::InvalidField(InvalidField::DigestFlags(PduFlags(0x03))));
    assert_fes(err, 1, 1);
}

#[test]
fn success_without_last_is_fes1_fei1() {
    let mut bytes = enc(&c2h(), &HD_DD);
    bytes[1] = (bytes[1] | 0x08) & !0x04;
    fix_hdgst(&mut bytes);
    let err = reject(Role::Host, HD_DD, &bytes, true);
    assert_eq!(err, PduError::InvalidField(InvalidField::SuccessWithoutLast));
    assert_fes(err, 1, 1);
    // SUCCESS with LAST is fine.
    let ok = C2HData { cccid: 7, datao: 0, data: &DATA, last: true, success: true };
    assert_eq!(C2HData::parse(&enc(&Pdu::C2HData(ok), &HD_DD), &HD_DD), Ok(ok));
}

// ---- step 4: HLEN ----

#[test]
fn wrong_hlen_with_header_digest_set_is_fes1_fei2() {
    // A Linux host bug (an invalid HLEN with header digests on led to out-of-bounds digest writes): HLEN 0, 7, 8, 23,
    // 25, 255 with HDGSTF set, on every type; no read past the buffer.
    for (pdu, receiver) in digested() {
        for hlen in [0u8, 7, 8, 18, 23, 25, 71, 73, 127, 128, 255] {
            if Some(hlen) == pdu.pdu_type().hlen() {
                continue;
            }
            let mut bytes = enc(&pdu, &HD_DD);
            bytes[2] = hlen;
            let err = reject(receiver, HD_DD, &bytes, true);
            assert_eq!(err, PduError::InvalidField(InvalidField::Hlen(hlen)));
            assert_fes(err, 1, 2);
        }
    }
    for (pdu, receiver) in [(icreq(), Role::Controller), (term(Role::Host), Role::Controller)] {
        let mut bytes = enc(&pdu, &NONE);
        bytes[2] = 127;
        assert_fes(reject(receiver, NONE, &bytes, true), 1, 2);
    }
}

// ---- step 5: PDO ----

#[test]
fn pdo_rules_are_fes1_fei3() {
    let cpda7 = Params { cpda: 7, ..HD_DD };
    let hpda1 = Params { hpda: 1, ..HD_DD };
    let mut cases: Vec<(Vec<u8>, Role, Params, &str)> = Vec::new();
    // Not a multiple of the receiver's PDA (encoded for PDA 4, received with 32 / 8).
    cases.push((enc(&h2c(), &HD_DD), Role::Controller, cpda7, "H2CData PDO 28 vs CPDA 7"));
    cases.push((enc(&cmd_data(), &HD_DD), Role::Controller, cpda7, "CapsuleCmd PDO 76 vs CPDA 7"));
    cases.push((enc(&c2h(), &HD_DD), Role::Host, hpda1, "C2HData PDO 28 vs HPDA 1"));
    // PDO beyond PLEN, inside the header, or 0 on a data PDU.
    for (pdo, what) in [(200u8, "PDO > PLEN"), (24, "PDO inside HDGST"), (20, "PDO inside PSH"), (0, "PDO 0")] {
        for (pdu, receiver) in [(h2c(), Role::Controller), (c2h(), Role::Host)] {
            let mut b = enc(&pdu, &HD_DD);
            b[3] = pdo;
            fix_hdgst(&mut b);
            cases.push((b, receiver, HD_DD, what));
        }
    }
    // PDO ≠ 0 on PDUs without data.
    for (pdu, receiver, params) in [
        (resp(), Role::Host, HD),
        (r2t(), Role::Host, HD),
        (icreq(), Role::Controller, NONE),
        (term(Role::Controller), Role::Host, NONE),
        (cmd_nodata(), Role::Controller, HD),
    ] {
        let mut b = enc(&pdu, &params);
        b[3] = 24;
        fix_hdgst(&mut b);
        cases.push((b, receiver, params, "PDO on a data-less PDU"));
    }
    // A capsule with PDO 0 but bytes after the header.
    let mut b = enc(&cmd_data(), &HD);
    b[3] = 0;
    fix_hdgst(&mut b);
    cases.push((b, Role::Controller, HD, "CapsuleCmd PDO 0 with PLEN > HLEN + hd"));
    for (bytes, receiver, params, what) in cases {
        let err = reject(receiver, params, &bytes, true);
        assert_eq!(err, PduError::InvalidField(InvalidField::Pdo(bytes[3])), "{what}");
        assert_fes(err, 1, 3);
    }
}

// ---- step 6: PLEN ----

#[test]
fn plen_inconsistencies_are_fes1_fei4() {
    let mut cases: Vec<(Vec<u8>, Role, Params, u32)> = Vec::new();
    for plen in [127u32, 129, 256] {
        let mut b = enc(&icreq(), &NONE);
        set_plen(&mut b, plen);
        cases.push((b, Role::Controller, NONE, plen));
    }
    for (pdu, plen) in [(resp(), 24u32), (resp(), 32), (r2t(), 30), (cmd_nodata(), 72)] {
        let receiver = pdu.pdu_type().sender().peer();
        let mut b = enc(&pdu, &HD);
        set_plen(&mut b, plen);
        fix_hdgst(&mut b);
        cases.push((b, receiver, HD, plen));
    }
    // Data PDUs with no data byte before the DDGST: PLEN = PDO + 4, and PLEN = PDO without a data digest.
    for (pdu, receiver) in [(h2c(), Role::Controller), (c2h(), Role::Host), (cmd_data(), Role::Controller)] {
        for params in [HD_DD, HD] {
            let mut b = enc(&pdu, &params);
            let plen = u32::from(b[3]) + if params.data_digest { 4 } else { 0 };
            set_plen(&mut b, plen);
            fix_hdgst(&mut b);
            cases.push((b, receiver, params, plen));
        }
    }
    for (bytes, receiver, params, plen) in cases {
        let err = reject(receiver, params, &bytes, true);
        assert_eq!(err, PduError::InvalidField(InvalidField::Plen(plen)));
        assert_fes(err, 1, 4);
    }
}

#[test]
fn plen_ceiling_rejects_before_buffering() {
    let big = vec![7u8; 8192];
    let pdu = Pdu::C2HData(C2HData { cccid: 1, datao: 0, data: &big, last: true, success: false });
    let bytes = enc(&pdu, &HD_DD);
    let plen = bytes.len() as u32;
    let mut d = Deframer::established(Role::Host, HD_DD).with_max_plen(4096);
    assert_eq!(d.max_plen(), 4096);
    let err = d.decode(&bytes[..8]).unwrap_err();
    assert_eq!(err, PduError::InvalidField(InvalidField::PlenLimit { plen, max: 4096 }));
    assert_fes(err, 1, 4);
    // Exactly at the ceiling is fine.
    let mut d = Deframer::established(Role::Host, HD_DD).with_max_plen(plen);
    assert_eq!(d.decode(&bytes[..8]), Ok(Decoded::Need(bytes.len() - 8)));
    assert!(matches!(d.decode(&bytes), Ok(Decoded::Pdu { .. })));
    // A huge PLEN with the default ceiling: rejected from 8 bytes, nothing more asked for.
    let mut b = enc(&c2h(), &NONE);
    set_plen(&mut b, u32::MAX);
    let err = Deframer::established(Role::Host, NONE).decode(&b[..8]).unwrap_err();
    assert_eq!(err, PduError::InvalidField(InvalidField::PlenLimit { plen: u32::MAX, max: DEFAULT_MAX_PLEN }));
    // The ceiling never drops below the largest TermReq.
    let mut d = Deframer::established(Role::Host, NONE).with_max_plen(0);
    assert_eq!(d.max_plen(), 152);
    let t = TermReq { sender: Role::Controller, fes: Fes(1), fei: 0, data: &[0; 128] };
    assert!(matches!(d.decode(&enc(&Pdu::TermReq(t), &NONE)), Ok(Decoded::Pdu { consumed: 152, .. })));
}

// ---- step 7: header digest ----

#[test]
fn header_digest_errors_are_fatal_fes3_with_the_received_digest() {
    for (pdu, receiver) in digested() {
        let mut bytes = enc(&pdu, &HD_DD);
        let hlen = usize::from(bytes[2]);
        bytes[hlen] ^= 0x01;
        let received = u32::from_le_bytes(bytes[hlen..hlen + 4].try_into().unwrap());
        let mut d = Deframer::established(receiver, HD_DD);
        // Reported as soon as the header and its digest are present, before the data.
        let err = d.decode(&bytes[..hlen + 4]).unwrap_err();
        assert_eq!(err, PduError::HeaderDigest { received, computed: received ^ 0x01 });
        assert_fes(err, 3, received);
        assert_eq!(d.state(), ConnState::Closed);
    }
}

// ---- step 8: data digest ----

#[test]
fn data_digest_errors_fail_one_command_and_keep_the_stream() {
    for (pdu, receiver) in [(h2c(), Role::Controller), (c2h(), Role::Host), (cmd_data(), Role::Controller)] {
        let good = enc(&pdu, &HD_DD);
        let mut stream = good.clone();
        let last = stream.len() - 1;
        stream[last] ^= 0x80; // DDGST
        stream.extend_from_slice(&good);
        let mut d = Deframer::established(receiver, HD_DD);
        let err = d.decode(&stream).unwrap_err();
        let PduError::DataDigest(dd) = err else { panic!("{err:?}") };
        assert_eq!((dd.pdu_type, dd.cccid, dd.consumed), (pdu.pdu_type(), 7, good.len()));
        assert_eq!(dd.received ^ dd.computed, 0x8000_0000);
        assert_eq!((err.fes(), err.fei(), err.is_fatal()), (None, 0, false));
        assert_eq!(err.command_status(), Some(STATUS_TRANSIENT_TRANSPORT_ERROR));
        assert_eq!(d.term_req(&err, &stream), None);
        let rest = &stream[err.consumed().unwrap()..];
        assert_eq!(d.decode(rest), Ok(Decoded::Pdu { pdu, consumed: good.len() }));
    }
}

// ---- step 9: PDU-specific header fields ----

#[test]
fn ic_req_fields() {
    let base = enc(&icreq(), &NONE);
    let with = |at: usize, v: &[u8]| {
        let mut b = base.clone();
        b[at..at + v.len()].copy_from_slice(v);
        b
    };
    let err = reject(Role::Controller, NONE, &with(8, &[1, 0]), false);
    assert_eq!(err, PduError::InvalidField(InvalidField::Pfv(1)));
    assert_fes(err, 1, 8);
    let err = reject(Role::Controller, NONE, &with(10, &[32]), false);
    assert_eq!(err, PduError::InvalidField(InvalidField::Pda(32)));
    assert_fes(err, 1, 10);
    // HPDA 31, reserved DGST bits, any MAXR2T and reserved bytes are accepted (reserved ignored).
    let mut b = with(10, &[31, 0xFD, 0xFF, 0xFF, 0xFF, 0xFF]);
    b[100] = 0xAB;
    let expected = IcReq { hpda: 31, header_digest: true, data_digest: false, maxr2t: u32::MAX };
    assert_eq!(IcReq::parse(&b), Ok(expected));
}

#[test]
fn ic_resp_fields_and_maxh2cdata() {
    let base = enc(&icresp(), &NONE);
    let with = |at: usize, v: &[u8]| {
        let mut b = base.clone();
        b[at..at + v.len()].copy_from_slice(v);
        b
    };
    assert_fes(reject(Role::Host, NONE, &with(8, &[0, 1]), false), 1, 8);
    assert_fes(reject(Role::Host, NONE, &with(10, &[32]), false), 1, 10);
    // A Linux host bug (MAXH2CDATA not validated, notes::tcp §6): MAXH2CDATA 0, 4092, 4095, 4097 (and 0xFFFFFFFF)
    // rejected; 4096 and multiples of 4 above fine.
    for bad in [0u32, 4, 4092, 4095, 4097, 0xFFFF_FFFF] {
        let err = reject(Role::Host, NONE, &with(12, &bad.to_le_bytes()), false);
        assert_eq!(err, PduError::InvalidField(InvalidField::MaxH2CData(bad)));
        assert_fes(err, 1, 12);
    }
    for good in [4096u32, 4100, 0x40_0000, 0xFFFF_FFFC] {
        assert_eq!(IcResp::parse(&with(12, &good.to_le_bytes())).map(|r| r.maxh2cdata), Ok(good));
    }
}

#[test]
fn negotiation_from_ic_req_and_ic_resp() {
    let req = IcReq { hpda: 2, header_digest: true, data_digest: false, maxr2t: 7 };
    let resp = IcResp { cpda: 3, header_digest: true, data_digest: false, maxh2cdata: 65536 };
    let p = Params::from_ic(&req, &resp).unwrap();
    assert_eq!(p, Params { header_digest: true, data_digest: false, hpda: 2, cpda: 3, maxr2t: 7, maxh2cdata: 65536 });
    assert_eq!((p.pda_bytes(Role::Host), p.pda_bytes(Role::Controller), p.max_outstanding_r2ts()), (12, 16, 8));
    // A digest enabled that was not requested: FES 1, FEI 11.
    let err = Params::from_ic(&req, &IcResp { data_digest: true, ..resp }).unwrap_err();
    assert_eq!((err.fes(), err.fei()), (Some(Fes(1)), 11));
    // Fewer digests than requested is accepted (the controller declined).
    let p = Params::from_ic(&IcReq { data_digest: true, ..req }, &resp).unwrap();
    assert!(p.header_digest && !p.data_digest);
    // Out-of-range values given directly.
    assert_eq!(Params::from_ic(&req, &IcResp { cpda: 32, ..resp }).unwrap_err().fei(), 10);
    assert_eq!(Params::from_ic(&IcReq { hpda: 40, ..req }, &resp).unwrap_err().fei(), 10);
    assert_eq!(Params::from_ic(&req, &IcResp { maxh2cdata: 4095, ..resp }).unwrap_err().fei(), 12);
}

#[test]
fn data_pdu_length_fields() {
    // DATAL ≠ PDU data length: FES 1, FEI 16, for both data PDUs; reported from the header alone.
    for (pdu, receiver) in [(h2c(), Role::Controller), (c2h(), Role::Host)] {
        for datal in [0u32, 15, 17, 0xFFFF_FFFF] {
            let mut b = enc(&pdu, &HD_DD);
            b[16..20].copy_from_slice(&datal.to_le_bytes());
            fix_hdgst(&mut b);
            if pdu.pdu_type() == PduType::H2C_DATA && datal > HD_DD.maxh2cdata {
                continue; // the limit check comes first, tested below
            }
            let err = Deframer::established(receiver, HD_DD).decode(&b[..28]).unwrap_err();
            assert_eq!(err, PduError::InvalidField(InvalidField::DataLength { datal, actual: 16 }));
            assert_fes(err, 1, 16);
        }
    }
    // H2CData DATAL above MAXH2CDATA: FES 5, FEI 0.
    let small = Params { maxh2cdata: 4096, ..HD_DD };
    let data = vec![1u8; 4100];
    let pdu = Pdu::H2CData(H2CData { cccid: 1, ttag: 1, datao: 0, data: &data, last: false });
    let b = enc(&pdu, &HD_DD);
    let err = Deframer::established(Role::Controller, small).decode(&b[..28]).unwrap_err();
    assert_eq!(err, PduError::DataLimitExceeded { len: 4100, max: 4096 });
    assert_fes(err, 5, 0);
    // DATAO + DATAL beyond 32 bits: FES 4, FEI 0.
    let mut b = enc(&c2h(), &HD_DD);
    b[12..16].copy_from_slice(&(u32::MAX - 8).to_le_bytes());
    fix_hdgst(&mut b);
    let err = reject(Role::Host, HD_DD, &b, false);
    assert_eq!(err, PduError::DataOutOfRange { offset: u32::MAX - 8, len: 16 });
    assert_fes(err, 4, 0);
}

#[test]
fn r2t_fields() {
    let mut b = enc(&r2t(), &HD);
    b[16..20].copy_from_slice(&0u32.to_le_bytes());
    fix_hdgst(&mut b);
    let err = reject(Role::Host, HD, &b, false);
    assert_eq!(err, PduError::InvalidField(InvalidField::R2tLength));
    assert_fes(err, 1, 16);
    let mut b = enc(&r2t(), &HD);
    b[12..16].copy_from_slice(&0xFFFF_F000u32.to_le_bytes());
    b[16..20].copy_from_slice(&0x2000u32.to_le_bytes());
    fix_hdgst(&mut b);
    assert_fes(reject(Role::Host, HD, &b, false), 4, 0);
    // R2TL above MAXH2CDATA is legal: the host splits it.
    let big = R2T { cccid: 1, ttag: 1, r2to: 0, r2tl: 0x100_0000 };
    assert_eq!(R2T::parse(&enc(&Pdu::R2T(big), &HD), &HD), Ok(big));
}

// ---- the order: the lowest incorrect field first ----

#[test]
fn the_lowest_incorrect_field_is_reported_first() {
    let base = enc(&h2c(), &HD_DD);
    let mutate = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = base.clone();
        f(&mut b);
        b
    };
    let cases: [(Vec<u8>, PduError); 7] = [
        (
            mutate(&|b| {
                b[0] = 0x0A;
                b[1] = 0xFF;
                b[2] = 0;
            }),
            InvalidField::UndefinedType(PduType(0x0A)).into(),
        ),
        (
            mutate(&|b| {
                b[1] = 0x17;
                b[2] = 0;
                b[3] = 0;
            }),
            InvalidField::Flags(PduFlags(0x17)).into(),
        ),
        (
            mutate(&|b| {
                b[2] = 72;
                b[3] = 1;
            }),
            InvalidField::Hlen(72).into(),
        ),
        (
            mutate(&|b| {
                b[3] = 30;
                b[4] = 200;
            }),
            InvalidField::Pdo(30).into(),
        ),
        (
            mutate(&|b| {
                b[4] = 32;
                b[24] ^= 1;
            }),
            InvalidField::Plen(32).into(),
        ),
        (
            mutate(&|b| {
                b[16] = 3;
                b[24] ^= 1;
            }),
            PduError::HeaderDigest {
                received: crc32c(&base[..24]) ^ 1,
                computed: crc32c(&{
                    let mut h = base[..24].to_vec();
                    h[16] = 3;
                    h
                }),
            },
        ),
        (
            // DATAL wrong and DDGST wrong: the header field (byte 16) comes before the digest at the end.
            mutate(&|b| {
                b[16] = 3;
                fix_hdgst(b);
                let n = b.len();
                b[n - 1] ^= 1;
            }),
            InvalidField::DataLength { datal: 3, actual: 16 }.into(),
        ),
    ];
    for (bytes, expected) in cases {
        assert_eq!(decode(Role::Controller, HD_DD, &bytes), Err(expected));
    }
}

// ---- termination requests built from errors ----

#[test]
fn term_req_for_error_copies_the_offending_header_within_bounds() {
    // A 28-byte CapsuleResp with a bad digest: the 24-byte header is copied.
    let mut b = enc(&resp(), &HD);
    b[27] ^= 1;
    let mut host = Deframer::established(Role::Host, HD);
    let err = host.decode(&b).unwrap_err();
    let t = host.term_req(&err, &b).unwrap();
    assert_eq!((t.sender, t.pdu_type(), t.fes, t.fei, t.data), (Role::Host, PduType(2), Fes(3), err.fei(), &b[..24]));
    // It encodes to PLEN 48 and the controller parses it back.
    let bytes = enc(&Pdu::TermReq(t), &HD);
    assert_eq!(TermReq::parse(&bytes), Ok(t));

    // HLEN below 8 or above PLEN: only the 8-byte common header.
    for hlen in [0u8, 7, 255] {
        let mut b = enc(&resp(), &HD);
        b[2] = hlen;
        let err = reject(Role::Host, HD, &b, true);
        let t = TermReq::for_error(Role::Host, &err, &b).unwrap();
        assert_eq!(t.data, &b[..8], "HLEN {hlen}");
    }
    // An ICReq after the exchange: all 128 bytes, PLEN 152, from a controller.
    let b = enc(&icreq(), &NONE);
    let mut ctrl = Deframer::established(Role::Controller, NONE);
    let err = ctrl.decode(&b).unwrap_err();
    let t = ctrl.term_req(&err, &b).unwrap();
    assert_eq!((t.pdu_type(), t.fes, t.fei, t.data.len(), t.buffer_len()), (PduType(3), Fes(1), 0, 128, 152));
    // HLEN above 128 but within PLEN: capped at 128.
    let mut b = enc(&cmd_data(), &NONE);
    b[2] = 200;
    b.resize(300, 0);
    set_plen(&mut b, 300);
    let err = reject(Role::Controller, NONE, &b, true);
    assert_eq!(TermReq::for_error(Role::Controller, &err, &b).unwrap().data.len(), 128);
    // Never more than was received.
    assert_eq!(TermReq::for_error(Role::Controller, &err, &b[..10]).unwrap().data, &b[..10]);
    // No TermReq for errors that call for none.
    let none = [
        PduError::TermReqLength { plen: 3 },
        PduError::Closed,
        PduError::Truncated { needed: 1 },
        PduError::DataDigest(DataDigestError {
            pdu_type: PduType(6),
            cccid: 1,
            received: 0,
            computed: 1,
            consumed: 40,
        }),
    ];
    for e in none {
        assert_eq!(TermReq::for_error(Role::Host, &e, &b), None, "{e:?}");
    }
}

#[test]
fn error_codes_for_driver_reported_failures() {
    let cases: [(PduError, Option<u16>, u32, bool); 10] = [
        (InvalidField::UnknownCccid(9).into(), Some(1), 8, true),
        (InvalidField::UnknownTtag(9).into(), Some(1), 10, true),
        (PduError::Sequence(SequenceError::DataOffset { expected: 0, received: 8 }), Some(2), 0, true),
        (PduError::Sequence(SequenceError::LastPdu), Some(2), 0, true),
        (PduError::DataOutOfRange { offset: 1, len: 2 }, Some(4), 0, true),
        (PduError::DataLimitExceeded { len: 9, max: 8 }, Some(5), 0, true),
        (PduError::R2tLimitExceeded { max: 1 }, Some(5), 0, true),
        (PduError::UnsupportedParameter { offset: 10 }, Some(6), 10, true),
        (PduError::Closed, None, 0, true),
        (PduError::Truncated { needed: 4 }, None, 0, true),
    ];
    for (err, fes, fei, fatal) in cases {
        assert_eq!((err.fes().map(|f| f.0), err.fei(), err.is_fatal()), (fes, fei, fatal), "{err:?}");
        assert_eq!(err.cccid(), None);
    }
    assert_eq!(check_in_window(0, 4096, 0, 4096), Ok(()));
    assert_eq!(check_in_window(4096, 8, 4096, 8), Ok(()));
    assert_eq!(check_in_window(4095, 8, 4096, 8), Err(PduError::DataOutOfRange { offset: 4095, len: 8 }));
    assert_eq!(check_in_window(4100, 8, 4096, 8), Err(PduError::DataOutOfRange { offset: 4100, len: 8 }));
    assert_eq!(check_in_window(u32::MAX, 2, 0, u32::MAX).unwrap_err().fes(), Some(Fes::DATA_OUT_OF_RANGE));
}

// ---- stand-alone parsers ----

#[test]
fn typed_parsers_report_truncation_and_the_wrong_type() {
    let b = enc(&resp(), &HD);
    assert_eq!(CapsuleResp::parse(&b[..5], &HD), Err(PduError::Truncated { needed: 3 }));
    assert_eq!(CapsuleResp::parse(&b[..20], &HD), Err(PduError::Truncated { needed: 8 }));
    assert_eq!(
        R2T::parse(&b, &HD),
        Err(PduError::InvalidField(InvalidField::UnexpectedType { expected: PduType::R2T, found: PduType(5) }))
    );
    assert_eq!(TermReq::parse(&[3, 0]), Err(PduError::Truncated { needed: 6 }));
    // Bytes after PLEN are not looked at.
    let mut longer = b.clone();
    longer.extend_from_slice(&[0xFF; 9]);
    assert_eq!(Pdu::parse(&longer, &HD, Role::Host), Ok(resp()));
}

// ---- encoders refuse what receivers reject ----

#[test]
fn emit_refusals() {
    let mut buf = [0u8; 512];
    let bad = |offset| Err(EmitError::InvalidField { offset });
    assert_eq!(IcReq { hpda: 32, header_digest: false, data_digest: false, maxr2t: 0 }.emit(&mut buf), bad(10));
    let r = IcResp { cpda: 0, header_digest: false, data_digest: false, maxh2cdata: 4096 };
    assert_eq!(IcResp { cpda: 32, ..r }.emit(&mut buf), bad(10));
    assert_eq!(IcResp { maxh2cdata: 4095, ..r }.emit(&mut buf), bad(12));
    assert_eq!(H2CData { cccid: 1, ttag: 1, datao: 0, data: &[], last: true }.emit(&NONE, &mut buf), bad(16));
    assert_eq!(C2HData { cccid: 1, datao: 0, data: &[], last: true, success: false }.emit(&NONE, &mut buf), bad(16));
    assert_eq!(C2HData { cccid: 1, datao: 0, data: &[1], last: false, success: true }.emit(&NONE, &mut buf), bad(1));
    assert_eq!(
        C2HData { cccid: 1, datao: u32::MAX, data: &[1, 2], last: true, success: false }.emit(&NONE, &mut buf),
        bad(12)
    );
    assert_eq!(R2T { cccid: 1, ttag: 1, r2to: 0, r2tl: 0 }.emit(&NONE, &mut buf), bad(16));
    assert_eq!(R2T { cccid: 1, ttag: 1, r2to: u32::MAX, r2tl: 1 }.emit(&NONE, &mut buf), bad(12));
    let small = Params { maxh2cdata: 4096, ..NONE };
    let data = vec![0u8; 4097];
    let mut big = vec![0u8; 8192];
    assert_eq!(
        H2CData { cccid: 1, ttag: 1, datao: 0, data: &data, last: true }.emit(&small, &mut big),
        Err(EmitError::DataTooLong { len: 4097, max: 4096 })
    );
    let t = TermReq { sender: Role::Host, fes: Fes(1), fei: 0, data: &[0; 129] };
    assert_eq!(t.emit(&mut buf), Err(EmitError::DataTooLong { len: 129, max: 128 }));
    let pda32 = Params { cpda: 32, ..NONE };
    assert_eq!(cmd_data().emit(&pda32, &mut buf), Err(EmitError::InvalidParams));
    assert_eq!(pda32.check(), Err(EmitError::InvalidParams));
}

#[test]
fn emit_pads_to_the_receivers_pda_with_zeros() {
    for pda in 0..=31u8 {
        let params = Params { cpda: pda, hpda: 31 - pda, ..HD_DD };
        for (pdu, receiver) in [(h2c(), Role::Controller), (c2h(), Role::Host), (cmd_data(), Role::Controller)] {
            let align = params.pda_bytes(receiver);
            let mut buf = vec![0xEE; 512];
            let n = pdu.emit(&params, &mut buf).unwrap();
            let (hlen, pdo) = (usize::from(buf[2]), usize::from(buf[3]));
            assert_eq!(pdo % align, 0);
            assert!(pdo >= hlen + 4 && pdo < hlen + 4 + align);
            assert!(buf[hlen + 4..pdo].iter().all(|&b| b == 0), "PAD is zeros");
            assert_eq!(n, pdo + 16 + 4);
            assert_eq!(Pdu::parse(&buf[..n], &params, receiver), Ok(pdu));
        }
    }
}

// ---- a deframer waiting for the rest of a PDU ----

/// While it waits for the rest of a PDU, the deframer keeps what its header checks found, tied to the bytes: the
/// same common header and HDGST reuse them, anything else is checked from scratch.
#[test]
fn a_waiting_deframer_checks_changed_bytes_again() {
    let good = enc(&c2h(), &HD_DD);
    let rest = good.len() - 28;
    // The header and its digest are in: checked, Need for the data.
    let mut d = Deframer::established(Role::Host, HD_DD);
    assert_eq!(d.decode(&good[..28]), Ok(Decoded::Need(rest)));
    assert_eq!(d.decode(&good[..29]), Ok(Decoded::Need(rest - 1)));
    // The same common header with another HDGST: the digest is computed again, and fails.
    let mut bad = good.clone();
    bad[24] ^= 1;
    assert!(matches!(d.decode(&bad), Err(PduError::HeaderDigest { .. })));
    assert_eq!(d.state(), ConnState::Closed);

    // Another PDU given after a Need is checked as a new one: a valid CapsuleResp decodes, a CapsuleResp of the
    // wrong direction fails.
    let mut d = Deframer::established(Role::Host, HD_DD);
    assert_eq!(d.decode(&good[..28]), Ok(Decoded::Need(rest)));
    let other = enc(&resp(), &HD_DD);
    assert_eq!(d.decode(&other), Ok(Decoded::Pdu { pdu: resp(), consumed: other.len() }));
    assert_eq!(d.decode(&good[..28]), Ok(Decoded::Need(rest)));
    let mut wrong = good.clone();
    wrong[0] = PduType::H2C_DATA.0;
    assert_eq!(d.decode(&wrong), Err(InvalidField::WrongDirection(PduType::H2C_DATA).into()));

    // New parameters drop what was kept: the same bytes are checked under them.
    let mut d = Deframer::established(Role::Host, HD_DD);
    assert_eq!(d.decode(&good[..28]), Ok(Decoded::Need(rest)));
    d.set_params(NONE);
    assert_eq!(d.decode(&good), Err(InvalidField::DigestFlags(PduFlags(good[1])).into()));
}
