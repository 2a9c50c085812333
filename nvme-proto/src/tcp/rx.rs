//! Receive-side validation, in the order of [notes::tcp §9.1](crate::notes::tcp) ("report the lowest incorrect field
//! first"):
//!
//! 1. with the 8-byte common header: type and direction (1), IC ordering (1a), TermReq PLEN (2), flags (3, 3a, 3b),
//!    HLEN (4), PDO (5), PLEN (6), then this receiver's PLEN ceiling, so an oversized PDU is refused before its
//!    body is buffered;
//! 2. with HLEN + HDGST bytes: the header digest (7), then the checks of the PDU-specific header that need no data
//!    (9: PFV, HPDA/CPDA, MAXH2CDATA, DATAL against the PDU's data length and MAXH2CDATA, R2TL, DATAO + DATAL);
//! 3. with PLEN bytes: the data digest (8), then the representation is built.
//!
//! Step 9's header-only checks run before step 8 so that a PDU whose framing is wrong is rejected before its data is
//! buffered or digested ([notes::tcp](crate::notes::tcp), "What this crate does with these facts").

use core::mem::size_of;

use zerocopy::{FromBytes, Immutable, KnownLayout};

use super::capsule::{CapsuleCmd, CapsuleCmdPdu, CapsuleResp, CapsuleRespPdu};
use super::data::{C2HData, DataPdu, H2CData, R2T, R2TPdu};
use super::error::{DataDigestError, Fes, InvalidField, PduError, SequenceError};
use super::header::{CH_LEN, CommonHeader, DIGEST_LEN, PduFlags, PduType, Role};
use super::ic::{IC_PDU_LEN, IcReq, IcReqPdu, IcResp, IcRespPdu};
use super::params::Params;
use super::pdu::{Pdu, data_digest};
use super::term::{TERM_REQ_HLEN, TERM_REQ_MAX_PLEN, TermReq, TermReqPdu};
use crate::crc::crc32c;

/// Where the connection is in the IC exchange, as far as ordering checks go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IcPhase {
    /// Only ICReq (controller) / ICResp (host), or a TermReq, may arrive.
    Awaiting,
    /// IC PDUs are illegal.
    Established,
    /// No ordering check (a stand-alone `parse`).
    Any,
}

/// The receiver's side of the checks.
pub(crate) struct Rx<'p> {
    pub role: Role,
    pub params: &'p Params,
    pub phase: IcPhase,
    pub max_plen: u32,
}

/// What the common header says about the PDU, once checked: everything the later steps need, so that a deframer
/// waiting for the rest of a PDU keeps it instead of checking the header again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Frame {
    /// The type's shape (from [`RULES`]): code that knows it matches on it first.
    shape: Shape,
    pdu_type: PduType,
    flags: PduFlags,
    hlen: usize,
    /// HLEN + HDGST.
    pub(crate) header_end: usize,
    /// 0 when no data.
    pdo: usize,
    /// Data bytes (from PDO, before DDGST).
    data_len: usize,
    ddgst: bool,
    /// PLEN.
    pub(crate) plen: usize,
}

impl Frame {
    /// The bytes `buf[hlen..hlen + 4]` hold when the PDU has a header digest (its received HDGST), else `None`.
    pub(crate) fn received_hdgst(&self, buf: &[u8]) -> Option<[u8; DIGEST_LEN]> {
        if self.header_end > self.hlen { buf.get(self.hlen..self.header_end)?.try_into().ok() } else { None }
    }
}

/// Checks the PDU at the start of `buf`, which must hold all of it, through every step: what [`Pdu::parse`] does.
/// A short buffer is [`PduError::Truncated`] (after the checks its bytes allow).
///
/// The checks are compiled once per [`Shape`], so that each shape's code carries only its own rules.
#[inline(always)]
pub(crate) fn parse<'a>(rx: &Rx<'_>, buf: &'a [u8]) -> Result<Pdu<'a>, PduError> {
    let Some(ch) = CommonHeader::view(buf) else {
        return Err(PduError::Truncated { needed: CH_LEN - buf.len() });
    };
    match RULES[usize::from(ch.pdu_type.0)].shape {
        Shape::HeaderOnly => parse_shaped(rx, buf, ch, Shape::HeaderOnly),
        Shape::Data => parse_shaped(rx, buf, ch, Shape::Data),
        Shape::CapsuleCmd => parse_shaped(rx, buf, ch, Shape::CapsuleCmd),
        Shape::Ic => parse_shaped(rx, buf, ch, Shape::Ic),
        Shape::TermReq => parse_shaped(rx, buf, ch, Shape::TermReq),
        Shape::Undefined => parse_shaped(rx, buf, ch, Shape::Undefined),
    }
}

#[inline(always)]
fn parse_shaped<'a>(rx: &Rx<'_>, buf: &'a [u8], ch: &CommonHeader, shape: Shape) -> Result<Pdu<'a>, PduError> {
    // As check_shaped, with the rest compiled apart for the canonical header, whose frame is known but for HDGST.
    match canonical(rx, ch, shape) {
        Some(frame) => parse_framed(rx, buf, frame),
        None => parse_framed(rx, buf, check_rules(rx, ch, shape)?),
    }
}

#[inline(always)]
fn parse_framed<'a>(rx: &Rx<'_>, buf: &'a [u8], frame: Frame) -> Result<Pdu<'a>, PduError> {
    if buf.len() >= frame.header_end {
        check_header(rx, &frame, buf)?;
    }
    if buf.len() < frame.plen {
        return Err(PduError::Truncated { needed: frame.plen - buf.len() });
    }
    finish(&frame, buf)
}

/// Whether a digest matches. Under `cfg(fuzzing)` every digest matches, so fuzzers reach the code behind it.
#[inline(always)]
fn digest_ok(received: u32, computed: u32) -> bool {
    cfg!(fuzzing) || received == computed
}

#[inline(always)]
fn read_le32(buf: &[u8], at: usize) -> Result<u32, PduError> {
    let bytes = buf
        .get(at..at + DIGEST_LEN)
        .ok_or(PduError::Truncated { needed: (at + DIGEST_LEN).saturating_sub(buf.len()) })?;
    Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

#[inline(always)]
fn view<T: FromBytes + KnownLayout + Immutable>(buf: &[u8]) -> Result<&T, PduError> {
    T::ref_from_prefix(buf)
        .map(|(v, _)| v)
        .map_err(|_| PduError::Truncated { needed: size_of::<T>().saturating_sub(buf.len()) })
}

/// How a PDU type is framed: which of the PDO and PLEN rules of steps 5 and 6 apply, and which representation it
/// has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Shape {
    /// Not a defined type.
    Undefined,
    /// ICReq, ICResp: PLEN 128, no PDO.
    Ic,
    /// H2CTermReq, C2HTermReq: PLEN bounded at step 2, no PDO.
    TermReq,
    /// CapsuleCmd: in-capsule data only with a PDO.
    CapsuleCmd,
    /// CapsuleResp, R2T: the header and its digest only.
    HeaderOnly,
    /// H2CData, C2HData: always data, always a PDO.
    Data,
}

/// What steps 1 to 6 need to know about a PDU type, from [`PduType`]'s own tables: one table lookup per PDU.
#[derive(Clone, Copy, Debug)]
struct Rule {
    /// HLEN (0: undefined type).
    hlen: u8,
    /// The flags the type may carry.
    allowed: PduFlags,
    shape: Shape,
}

/// [`Rule`] for each of the 256 PDU-TYPE values.
static RULES: [Rule; 256] = {
    let mut t = [Rule { hlen: 0, allowed: PduFlags::NONE, shape: Shape::Undefined }; 256];
    let mut i = 0;
    while i < 256 {
        let ty = PduType(i as u8);
        if let Some(hlen) = ty.hlen() {
            let shape = match ty {
                PduType::IC_REQ | PduType::IC_RESP => Shape::Ic,
                PduType::H2C_TERM_REQ | PduType::C2H_TERM_REQ => Shape::TermReq,
                PduType::CAPSULE_CMD => Shape::CapsuleCmd,
                PduType::H2C_DATA | PduType::C2H_DATA => Shape::Data,
                _ => Shape::HeaderOnly,
            };
            t[i] = Rule { hlen, allowed: ty.allowed_flags(), shape };
        }
        i += 1;
    }
    t
};

/// The shape of PDU type `ty`.
#[inline(always)]
pub(crate) fn shape_of(ty: PduType) -> Shape {
    RULES[usize::from(ty.0)].shape
}

/// HLEN, and whether HDGSTF is allowed, of the types of `shape` (Ic, CapsuleCmd or HeaderOnly): from [`PduType`]'s
/// tables, through one type of the shape, the same for its other types (asserted below). A constant per shape, so
/// that [`canonical`] needs no table lookup and the code after it knows HLEN.
const fn shape_rule(shape: Shape) -> (u8, bool) {
    let ty = match shape {
        Shape::Ic => PduType::IC_REQ,
        Shape::CapsuleCmd => PduType::CAPSULE_CMD,
        _ => PduType::CAPSULE_RESP,
    };
    let hlen = match ty.hlen() {
        Some(hlen) => hlen,
        None => 0,
    };
    (hlen, ty.allowed_flags().contains(PduFlags::HDGSTF))
}

const _: () = {
    let ic = PduType::IC_RESP;
    assert!(matches!(ic.hlen(), Some(h) if h == shape_rule(Shape::Ic).0));
    assert!(ic.allowed_flags().contains(PduFlags::HDGSTF) == shape_rule(Shape::Ic).1);
    let r2t = PduType::R2T;
    assert!(matches!(r2t.hlen(), Some(h) if h == shape_rule(Shape::HeaderOnly).0));
    assert!(r2t.allowed_flags().contains(PduFlags::HDGSTF) == shape_rule(Shape::HeaderOnly).1);
};

/// The common header's 8 bytes as one little-endian number (PDU-TYPE in the low byte, PLEN in the high four).
#[inline(always)]
fn ch_word(ch: &CommonHeader) -> u64 {
    let bytes: [u8; CH_LEN] = zerocopy::transmute!(*ch);
    u64::from_le_bytes(bytes)
}

/// The one header [`check_shaped`] accepts for a PDU without data (ICReq/ICResp, CapsuleResp, R2T, and a CapsuleCmd
/// without in-capsule data): the type's HLEN, PDO 0, PLEN = HLEN + HDGST, and FLAGS exactly HDGSTF as negotiated
/// (for the types that may carry it; none for IC PDUs). Compared in one go, and the [`Frame`] built, when the header
/// is that one and comes from the peer at an allowed point of the IC exchange under the ceiling; `None` sends
/// everything else (every invalid header among it) through the checks of [`check_shaped`] one by one, which accept
/// this header too: a shortcut for the common case, not a rule of its own.
#[inline(always)]
fn canonical(rx: &Rx<'_>, ch: &CommonHeader, shape: Shape) -> Option<Frame> {
    if !matches!(shape, Shape::Ic | Shape::HeaderOnly | Shape::CapsuleCmd) {
        return None;
    }
    let ty = ch.pdu_type;
    let (hlen8, hdgst_allowed) = shape_rule(shape);
    let hd = rx.params.header_digest && hdgst_allowed;
    let hlen = usize::from(hlen8);
    let header_end = hlen + if hd { DIGEST_LEN } else { 0 };
    let flags = PduFlags::NONE.with(PduFlags::HDGSTF, hd);
    // TYPE | FLAGS << 8 | HLEN << 16 | PDO (0) << 24 | PLEN << 32.
    let expected = u64::from(ty.0) | u64::from(flags.0) << 8 | u64::from(hlen8) << 16 | (header_end as u64) << 32;
    let from_peer = ty.sender() != rx.role;
    let in_phase = match rx.phase {
        IcPhase::Awaiting => shape == Shape::Ic,
        IcPhase::Established => shape != Shape::Ic,
        IcPhase::Any => true,
    };
    let under_ceiling = header_end as u64 <= u64::from(rx.max_plen);
    if (ch_word(ch) == expected) & from_peer & in_phase & under_ceiling {
        let plen = header_end;
        Some(Frame { shape, pdu_type: ty, flags, hlen, header_end, pdo: 0, data_len: 0, ddgst: false, plen })
    } else {
        None
    }
}

/// Steps 1 to 6 and the PLEN ceiling, from the common header alone, for a header whose type has `shape` (callers
/// dispatch on [`shape_of`] first, so that each shape's code carries only its own rules). A header without data in
/// its one valid form takes the shortcut of [`canonical`]; any other goes through [`check_rules`].
#[inline(always)]
pub(crate) fn check_shaped(rx: &Rx<'_>, ch: &CommonHeader, shape: Shape) -> Result<Frame, PduError> {
    match canonical(rx, ch, shape) {
        Some(frame) => Ok(frame),
        None => check_rules(rx, ch, shape),
    }
}

/// The checks of [`check_shaped`], each rule in the order of [notes::tcp §9.1](crate::notes::tcp).
///
/// Every check is computed first (each is a comparison or two), then one branch takes the valid header through;
/// only a header that fails something walks the checks again in order, to report the lowest incorrect field.
#[inline(always)]
fn check_rules(rx: &Rx<'_>, ch: &CommonHeader, shape: Shape) -> Result<Frame, PduError> {
    let ty = ch.pdu_type;
    let (flags, pdo, plen32) = (ch.flags, usize::from(ch.pdo), ch.plen.get());
    let rule = RULES[usize::from(ty.0)];

    // Step 1: defined type, sent by the other end.
    let defined = shape != Shape::Undefined;
    let from_peer = ty.sender() != rx.role;
    // Step 1a: IC PDUs only before the exchange, nothing else (but a TermReq) before it.
    let awaited = !(rx.phase == IcPhase::Awaiting && shape != Shape::Ic && shape != Shape::TermReq);
    let not_late_ic = !(rx.phase == IcPhase::Established && shape == Shape::Ic);
    // Step 2: a TermReq of impossible length: close, report nothing.
    let term_len_ok = shape != Shape::TermReq || (TERM_REQ_HLEN as u32 <= plen32 && plen32 <= TERM_REQ_MAX_PLEN as u32);
    // Step 3: flags allowed for the type.
    let flags_ok = flags.0 & !rule.allowed.0 == 0;
    let carries_data = match shape {
        Shape::CapsuleCmd => pdo != 0,
        Shape::Data => true,
        _ => false,
    };
    // Step 3a: digest flags as negotiated (DDGSTF only with data), for the types that may carry digests.
    let want = PduFlags::NONE
        .with(PduFlags::HDGSTF, rx.params.header_digest)
        .with(PduFlags::DDGSTF, rx.params.data_digest && carries_data);
    let digests = PduFlags(PduFlags::HDGSTF.0 | PduFlags::DDGSTF.0);
    let digest_flags_ok = !rule.allowed.contains(PduFlags::HDGSTF) || flags.0 & digests.0 == want.0;
    // Step 3b: SUCCESS needs LAST_PDU.
    let success_ok = !flags.contains(PduFlags::SUCCESS) || flags.contains(PduFlags::LAST_PDU);
    // Step 4: fixed HLEN.
    let hlen_ok = ch.hlen == rule.hlen;
    let hlen = usize::from(rule.hlen);
    let hd = if flags.contains(PduFlags::HDGSTF) { DIGEST_LEN } else { 0 };
    let dd = if flags.contains(PduFlags::DDGSTF) { DIGEST_LEN } else { 0 };
    let header_end = hlen + hd;
    // PLEN as usize; a value this platform cannot index is above any ceiling.
    let plen_fits = usize::try_from(plen32).is_ok();
    let plen = plen32 as usize;
    // Step 5: PDO.
    let pda = rx.params.pda_bytes(rx.role);
    let pdo_ok = match (shape, pdo) {
        (Shape::CapsuleCmd, 0) => plen <= header_end,
        (Shape::Data, 0) => false,
        (Shape::CapsuleCmd | Shape::Data, _) => {
            let aligned = if pda.is_power_of_two() { pdo & (pda - 1) == 0 } else { pdo.is_multiple_of(pda) };
            header_end <= pdo && pdo <= plen && aligned
        }
        _ => pdo == 0,
    };
    // Step 6: PLEN consistent with the type, HLEN, PDO and the digests.
    let plen_ok = match shape {
        Shape::Ic => plen == IC_PDU_LEN,
        Shape::TermReq => true, // bounded at step 2
        Shape::HeaderOnly => plen == header_end,
        _ if pdo == 0 => plen == header_end, // CapsuleCmd without data (PLEN > HLEN + hd failed at step 5)
        _ => plen > pdo + dd,                // at least one data byte before the DDGST
    };
    // The receiver's ceiling, before anything past the header is buffered.
    let under_ceiling = plen32 <= rx.max_plen;

    if defined
        & from_peer
        & awaited
        & not_late_ic
        & term_len_ok
        & flags_ok
        & digest_flags_ok
        & success_ok
        & hlen_ok
        & plen_fits
        & pdo_ok
        & plen_ok
        & under_ceiling
    {
        let data_len = if carries_data { plen - pdo - dd } else { 0 };
        return Ok(Frame { shape, pdu_type: ty, flags, hlen, header_end, pdo, data_len, ddgst: dd != 0, plen });
    }
    // The lowest incorrect field first (notes::tcp §9.1).
    Err(if !defined {
        InvalidField::UndefinedType(ty).into()
    } else if !from_peer {
        InvalidField::WrongDirection(ty).into()
    } else if !awaited {
        PduError::Sequence(SequenceError::BeforeIcExchange(ty))
    } else if !not_late_ic {
        InvalidField::UnexpectedIc(ty).into()
    } else if !term_len_ok {
        PduError::TermReqLength { plen: plen32 }
    } else if !flags_ok {
        InvalidField::Flags(flags).into()
    } else if !digest_flags_ok {
        InvalidField::DigestFlags(flags).into()
    } else if !success_ok {
        InvalidField::SuccessWithoutLast.into()
    } else if !hlen_ok {
        InvalidField::Hlen(ch.hlen).into()
    } else if !plen_fits {
        InvalidField::PlenLimit { plen: plen32, max: rx.max_plen }.into()
    } else if !pdo_ok {
        InvalidField::Pdo(ch.pdo).into()
    } else if !plen_ok {
        InvalidField::Plen(plen32).into()
    } else {
        InvalidField::PlenLimit { plen: plen32, max: rx.max_plen }.into()
    })
}

/// Step 7 (header digest) and the header-only part of step 9; `buf` holds at least `header_end` bytes.
#[inline(always)]
pub(crate) fn check_header(rx: &Rx<'_>, f: &Frame, buf: &[u8]) -> Result<(), PduError> {
    if f.header_end > f.hlen {
        let header = buf.get(..f.hlen).ok_or(PduError::Truncated { needed: f.hlen.saturating_sub(buf.len()) })?;
        let received = read_le32(buf, f.hlen)?;
        let computed = crc32c(header);
        if !digest_ok(received, computed) {
            return Err(PduError::HeaderDigest { received, computed });
        }
    }
    // By shape first (RULES gives each type its shape): code compiled for one shape keeps only its arms.
    match (f.shape, f.pdu_type) {
        (Shape::Ic, PduType::IC_REQ) => IcReq::from_view(view::<IcReqPdu>(buf)?).map(drop),
        (Shape::Ic, _) => IcResp::from_view(view::<IcRespPdu>(buf)?).map(drop),
        (Shape::Data, _) => {
            let v = view::<DataPdu>(buf)?;
            let (datao, datal) = (v.datao.get(), v.datal.get());
            if f.pdu_type == PduType::H2C_DATA && datal > rx.params.maxh2cdata {
                return Err(PduError::DataLimitExceeded { len: datal, max: rx.params.maxh2cdata });
            }
            if datal as usize != f.data_len {
                return Err(InvalidField::DataLength { datal, actual: f.data_len as u32 }.into());
            }
            if datao.checked_add(datal).is_none() {
                return Err(PduError::DataOutOfRange { offset: datao, len: datal });
            }
            Ok(())
        }
        (Shape::HeaderOnly, PduType::R2T) => {
            let v = view::<R2TPdu>(buf)?;
            let (r2to, r2tl) = (v.r2to.get(), v.r2tl.get());
            if r2tl == 0 {
                return Err(InvalidField::R2tLength.into());
            }
            if r2to.checked_add(r2tl).is_none() {
                return Err(PduError::DataOutOfRange { offset: r2to, len: r2tl });
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Step 8 (data digest) and the representation; `buf` holds at least PLEN bytes and passed the other checks.
#[inline(always)]
pub(crate) fn finish<'a>(f: &Frame, buf: &'a [u8]) -> Result<Pdu<'a>, PduError> {
    let truncated = PduError::Truncated { needed: f.plen.saturating_sub(buf.len()) };
    let data: &'a [u8] = buf.get(f.pdo..f.pdo + f.data_len).ok_or(truncated)?;
    if f.ddgst {
        let received = read_le32(buf, f.plen - DIGEST_LEN)?;
        let computed = data_digest(data);
        if !digest_ok(received, computed) {
            // The command the data belongs to: CCCID of a data PDU, the SQE's CID (PDU bytes 11:10) of a capsule.
            let cccid_at = if f.pdu_type == PduType::CAPSULE_CMD { 10 } else { 8 };
            let cccid = buf.get(cccid_at..cccid_at + 2).map_or(0, |b| u16::from_le_bytes([b[0], b[1]]));
            return Err(PduError::DataDigest(DataDigestError {
                pdu_type: f.pdu_type,
                cccid,
                received,
                computed,
                consumed: f.plen,
            }));
        }
    }
    let last = f.flags.contains(PduFlags::LAST_PDU);
    // By shape first, as in check_header.
    Ok(match (f.shape, f.pdu_type) {
        (Shape::Ic, PduType::IC_REQ) => Pdu::IcReq(IcReq::from_view(view(buf)?)?),
        (Shape::Ic, _) => Pdu::IcResp(IcResp::from_view(view(buf)?)?),
        (Shape::TermReq, _) => {
            let v = view::<TermReqPdu>(buf)?;
            Pdu::TermReq(TermReq {
                sender: f.pdu_type.sender(),
                fes: Fes(v.fes.get()),
                fei: v.fei.get(),
                data: buf.get(TERM_REQ_HLEN..f.plen).ok_or(truncated)?,
            })
        }
        (Shape::CapsuleCmd, _) => Pdu::CapsuleCmd(CapsuleCmd { sqe: view::<CapsuleCmdPdu>(buf)?.sqe, data }),
        (Shape::HeaderOnly, PduType::CAPSULE_RESP) => {
            Pdu::CapsuleResp(CapsuleResp { cqe: view::<CapsuleRespPdu>(buf)?.cqe })
        }
        (Shape::Data, PduType::H2C_DATA) => {
            let v = view::<DataPdu>(buf)?;
            Pdu::H2CData(H2CData { cccid: v.cccid.get(), ttag: v.ttag.get(), datao: v.datao.get(), data, last })
        }
        (Shape::Data, _) => {
            let v = view::<DataPdu>(buf)?;
            let success = f.flags.contains(PduFlags::SUCCESS);
            Pdu::C2HData(C2HData { cccid: v.cccid.get(), datao: v.datao.get(), data, last, success })
        }
        (Shape::HeaderOnly, _) => {
            let v = view::<R2TPdu>(buf)?;
            Pdu::R2T(R2T { cccid: v.cccid.get(), ttag: v.ttag.get(), r2to: v.r2to.get(), r2tl: v.r2tl.get() })
        }
        (Shape::Undefined, other) => return Err(InvalidField::UndefinedType(other).into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shortcut accepts only headers the rules accept, with the same frame: every PDU-TYPE, FLAGS value, and
    /// HLEN, PDO and PLEN around the valid ones, for both receivers, every IC phase, both header digest settings and
    /// two ceilings.
    #[test]
    fn canonical_agrees_with_the_rules() {
        let mut taken = 0;
        for ty in 0..=255u8 {
            let shape = shape_of(PduType(ty));
            for header_digest in [false, true] {
                let params = Params { header_digest, ..Params::default() };
                for role in [Role::Host, Role::Controller] {
                    for phase in [IcPhase::Awaiting, IcPhase::Established, IcPhase::Any] {
                        for max_plen in [u32::MAX, 24] {
                            let rx = Rx { role, params: &params, phase, max_plen };
                            for flags in 0..=15u8 {
                                for hlen in [0u8, 23, 24, 72, 128] {
                                    for pdo in [0u8, 4] {
                                        for plen in [0u32, 24, 28, 72, 76, 128, 132] {
                                            let ch = CommonHeader::new(PduType(ty), PduFlags(flags), hlen, pdo, plen);
                                            if let Some(frame) = canonical(&rx, &ch, shape) {
                                                assert_eq!(check_rules(&rx, &ch, shape), Ok(frame), "{ch:?}");
                                                taken += 1;
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        // Each of the 6 types without data, in its one valid form (flags by the digest setting), under the ceilings
        // that admit it: ICReq/ICResp in two phases (Awaiting, Any) under u32::MAX; CapsuleResp/R2T and CapsuleCmd in
        // two phases (Established, Any), CapsuleResp/R2T without digest also under 24.
        assert_eq!(taken, 2 * 2 * 2 + 2 * (2 * 2 + 2) + 2 * 2);
    }
}
