//! The nine PDU types as one enum, and the layout arithmetic every encoder shares.
//!
//! Facts: [notes::tcp](crate::notes::tcp) §2 (types), §4 (PDO, PAD, PLEN), §5.2 (digest placement).

use super::capsule::{CapsuleCmd, CapsuleResp};
use super::data::{C2HData, H2CData, R2T};
use super::error::{EmitError, InvalidField, PduError};
use super::header::{CommonHeader, DIGEST_LEN, PduFlags, PduType, Role};
use super::ic::{IcReq, IcResp};
use super::params::Params;
use super::rx::{self, IcPhase, Rx};
use super::term::TermReq;
use crate::crc::{Crc32c, crc32c};

/// The value of every PAD byte we send (between HDGST and PDO). Unconfirmed: our rule is zeros (FreeBSD zero-fills;
/// no digest covers PAD and no receiver checks it). Received PAD is ignored whatever it holds.
pub const PAD_BYTE: u8 = 0;

/// Whether the data digest of a data length that is not a multiple of 4 covers zero bytes appended up to the next
/// multiple of 4 (SPDK) instead of exactly the data bytes (Linux, FreeBSD, Wireshark). Unconfirmed: best guess
/// exactly the data bytes (`false`), because three of four implementations do.
pub const DATA_DIGEST_ZERO_PADS: bool = false;

/// The data digest (DDGST) of `data`: CRC-32C of exactly the data bytes, or zero-padded to a dword multiple when
/// [`DATA_DIGEST_ZERO_PADS`] is set.
pub fn data_digest(data: &[u8]) -> u32 {
    let pad = (4 - data.len() % 4) % 4;
    if DATA_DIGEST_ZERO_PADS && pad != 0 {
        Crc32c::new().update(data).update(&[0u8; 3][..pad]).finish()
    } else {
        crc32c(data)
    }
}

/// Any NVMe/TCP PDU, validated. Borrowed parts (data, a TermReq's copied header) point into the received bytes.
///
/// `repr(C, u8)`: the tag in byte 0 and every variant's fields from the first aligned byte after it (88 bytes on a
/// 64-bit target, as without it). With the compiler's own layout the variants' fields started at different offsets,
/// and a decode that may return any of them (`Pdu::parse` inlined in a caller) merged them in byte-sized pieces: the
/// `header_decode` benchmark (BENCHMARKS.md) was about a quarter slower.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, u8)]
pub enum Pdu<'a> {
    /// 0x00 ICReq.
    IcReq(IcReq),
    /// 0x01 ICResp.
    IcResp(IcResp),
    /// 0x02 H2CTermReq or 0x03 C2HTermReq, told apart by [`TermReq::sender`].
    TermReq(TermReq<'a>),
    /// 0x04 CapsuleCmd.
    CapsuleCmd(CapsuleCmd<'a>),
    /// 0x05 CapsuleResp.
    CapsuleResp(CapsuleResp),
    /// 0x06 H2CData.
    H2CData(H2CData<'a>),
    /// 0x07 C2HData.
    C2HData(C2HData<'a>),
    /// 0x09 R2T.
    R2T(R2T),
}

#[cfg(target_pointer_width = "64")]
const _: () = assert!(core::mem::size_of::<Pdu<'static>>() == 88);

impl<'a> Pdu<'a> {
    /// The PDU-TYPE byte this PDU is encoded with.
    pub const fn pdu_type(&self) -> PduType {
        match self {
            Pdu::IcReq(_) => PduType::IC_REQ,
            Pdu::IcResp(_) => PduType::IC_RESP,
            Pdu::TermReq(t) => t.pdu_type(),
            Pdu::CapsuleCmd(_) => PduType::CAPSULE_CMD,
            Pdu::CapsuleResp(_) => PduType::CAPSULE_RESP,
            Pdu::H2CData(_) => PduType::H2C_DATA,
            Pdu::C2HData(_) => PduType::C2H_DATA,
            Pdu::R2T(_) => PduType::R2T,
        }
    }

    /// The command this PDU is about: the SQE's CID of a CapsuleCmd, the CQE's CID of a CapsuleResp, the CCCID of a
    /// data PDU or R2T; `None` for IC and TermReq PDUs.
    pub const fn cccid(&self) -> Option<u16> {
        match self {
            Pdu::CapsuleCmd(c) => Some(c.cid()),
            Pdu::CapsuleResp(c) => Some(c.cid()),
            Pdu::H2CData(d) => Some(d.cccid),
            Pdu::C2HData(d) => Some(d.cccid),
            Pdu::R2T(r) => Some(r.cccid),
            Pdu::IcReq(_) | Pdu::IcResp(_) | Pdu::TermReq(_) => None,
        }
    }

    /// Parses the PDU at the start of `buf` as `receiver` does on a connection with `params`, with every check of
    /// [notes::tcp §9.1](crate::notes::tcp) except the IC ordering (a [`Deframer`](super::Deframer) tracks that) and
    /// without a PLEN ceiling. Bytes after PLEN are not looked at. A buffer shorter than the PDU gives
    /// [`PduError::Truncated`] (unless an error shows in the bytes present).
    // Inlined, the result stays in registers until the caller stores it. Out of line (tried: fewer instructions),
    // the caller reads the 88-byte result back right after the callee wrote it in smaller pieces, and each read
    // waits for those writes to reach the cache (store-to-load forwarding fails): slower in time.
    #[inline]
    pub fn parse(buf: &'a [u8], params: &Params, receiver: Role) -> Result<Pdu<'a>, PduError> {
        rx::parse(&Rx { role: receiver, params, phase: IcPhase::Any, max_plen: u32::MAX }, buf)
    }

    /// The encoded length under `params` (digests and padding included).
    pub fn buffer_len(&self, params: &Params) -> usize {
        match self {
            Pdu::IcReq(p) => p.buffer_len(),
            Pdu::IcResp(p) => p.buffer_len(),
            Pdu::TermReq(p) => p.buffer_len(),
            Pdu::CapsuleCmd(p) => p.buffer_len(params),
            Pdu::CapsuleResp(p) => p.buffer_len(params),
            Pdu::H2CData(p) => p.buffer_len(params),
            Pdu::C2HData(p) => p.buffer_len(params),
            Pdu::R2T(p) => p.buffer_len(params),
        }
    }

    /// Writes the PDU into `buf` under `params` (digests, and PAD to the receiver's PDA) and returns its length.
    /// A short buffer gives [`EmitError::BufferTooShort`] with the length needed.
    pub fn emit(&self, params: &Params, buf: &mut [u8]) -> Result<usize, EmitError> {
        match self {
            Pdu::IcReq(p) => p.emit(buf),
            Pdu::IcResp(p) => p.emit(buf),
            Pdu::TermReq(p) => p.emit(buf),
            Pdu::CapsuleCmd(p) => p.emit(params, buf),
            Pdu::CapsuleResp(p) => p.emit(params, buf),
            Pdu::H2CData(p) => p.emit(params, buf),
            Pdu::C2HData(p) => p.emit(params, buf),
            Pdu::R2T(p) => p.emit(params, buf),
        }
    }
}

/// The error of a typed parser that found a valid PDU of another type.
pub(crate) fn unexpected(expected: PduType, found: PduType) -> PduError {
    InvalidField::UnexpectedType { expected, found }.into()
}

/// Where everything goes in an encoded PDU: `CH | PSH | [HDGST] | [PAD] | [DATA] | [DDGST]`
/// ([notes::tcp §4](crate::notes::tcp)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    /// HLEN.
    pub hlen: usize,
    /// 4 with a header digest, else 0.
    pub hd: usize,
    /// PDO: 0 without data, else HLEN + hd rounded up to the receiver's PDA.
    pub pdo: usize,
    /// Data bytes.
    pub data_len: usize,
    /// 4 with a data digest, else 0.
    pub dd: usize,
    /// PLEN (saturating: an impossible length is caught by [`Layout::prepare`]).
    pub plen: usize,
}

impl Layout {
    /// The layout of a PDU with header length `hlen`, a header digest if `hdgst`, `data` bytes of data (`None`: no
    /// data section at all), a data digest if `ddgst` and data is present, PAD up to a multiple of `pda` bytes.
    pub(crate) fn new(hlen: usize, hdgst: bool, data: Option<usize>, ddgst: bool, pda: usize) -> Layout {
        let hd = if hdgst { DIGEST_LEN } else { 0 };
        match data {
            None => Layout { hlen, hd, pdo: 0, data_len: 0, dd: 0, plen: hlen + hd },
            Some(data_len) => {
                let pda = pda.max(1);
                // PDA is a multiple of 4 up to 128; a power of two (PDA 0, 1, 3, 7, 15, 31) rounds without a division.
                let pdo = if pda.is_power_of_two() {
                    (hlen + hd + pda - 1) & !(pda - 1)
                } else {
                    (hlen + hd).div_ceil(pda) * pda
                };
                let dd = if ddgst { DIGEST_LEN } else { 0 };
                Layout { hlen, hd, pdo, data_len, dd, plen: pdo.saturating_add(data_len).saturating_add(dd) }
            }
        }
    }

    /// Checks that the PDU can be encoded (PDO fits its byte, PLEN fits 32 bits) into `buf`, and returns the
    /// `PLEN` bytes it will fill.
    pub(crate) fn prepare<'b>(&self, buf: &'b mut [u8]) -> Result<&'b mut [u8], EmitError> {
        if self.pdo > usize::from(u8::MAX) {
            return Err(EmitError::InvalidParams);
        }
        let max = u32::MAX as usize - self.pdo - self.dd;
        if self.data_len > max {
            return Err(EmitError::DataTooLong { len: self.data_len, max });
        }
        buf.get_mut(..self.plen).ok_or(EmitError::BufferTooShort { needed: self.plen })
    }

    /// The common header for this layout: HDGSTF and DDGSTF from the layout, plus `flags`.
    pub(crate) fn common_header(&self, pdu_type: PduType, flags: PduFlags) -> CommonHeader {
        let flags = flags.with(PduFlags::HDGSTF, self.hd != 0).with(PduFlags::DDGSTF, self.dd != 0);
        CommonHeader::new(pdu_type, flags, self.hlen as u8, self.pdo as u8, self.plen as u32)
    }

    /// Fills `out` (the `PLEN` bytes from [`Layout::prepare`]): the `header` (HLEN bytes), its digest, PAD,
    /// `data` and its digest. Returns PLEN.
    pub(crate) fn finish(&self, out: &mut [u8], header: &[u8], data: &[u8]) -> Result<usize, EmitError> {
        let short = EmitError::BufferTooShort { needed: self.plen };
        let (head, rest) = out.split_at_mut_checked(self.hlen).ok_or(short)?;
        head.copy_from_slice(header.get(..self.hlen).ok_or(short)?);
        let (hdgst, rest) = rest.split_at_mut_checked(self.hd).ok_or(short)?;
        if self.hd != 0 {
            hdgst.copy_from_slice(&crc32c(head).to_le_bytes());
        }
        if self.pdo == 0 {
            return Ok(self.plen);
        }
        let (pad, rest) = rest.split_at_mut_checked(self.pdo.saturating_sub(self.hlen + self.hd)).ok_or(short)?;
        pad.fill(PAD_BYTE);
        let (body, ddgst) = rest.split_at_mut_checked(self.data_len).ok_or(short)?;
        let data = data.get(..self.data_len).ok_or(short)?;
        body.copy_from_slice(data);
        if self.dd != 0 {
            // The digest of the caller's data (the bytes just copied): read where the caller keeps them, not at the
            // odd offset HLEN + HDGST puts them in the PDU.
            ddgst.copy_from_slice(&data_digest(data).to_le_bytes());
        }
        Ok(self.plen)
    }
}
