//! H2CTermReq and C2HTermReq: the last PDU on a connection, carrying the Fatal Error Status and a copy of the header
//! that caused it.
//!
//! Facts: [notes::tcp](crate::notes::tcp) §3.3 (layout), §7 (FES, FEI, PLEN 24..=152, what to copy).

use core::mem::{offset_of, size_of};

use zerocopy::byteorder::little_endian::{U16, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::error::{EmitError, Fes, PduError};
use super::header::{CH_LEN, CommonHeader, PduFlags, PduType, Role};
use super::params::Params;
use super::pdu::{Pdu, unexpected};

/// HLEN of a TermReq, and its smallest PLEN.
pub const TERM_REQ_HLEN: usize = 24;

/// The most bytes of the offending PDU a TermReq carries (so PLEN ≤ 152).
pub const TERM_REQ_MAX_DATA: usize = 128;

/// The largest TermReq PLEN: 24 + 128 = 152 (Linux `NVME_TCP_MAX_C2HTERM_PLEN`).
pub const TERM_REQ_MAX_PLEN: usize = TERM_REQ_HLEN + TERM_REQ_MAX_DATA;

/// H2CTermReq (0x02) / C2HTermReq (0x03) header, zero-copy view of bytes 23:0 ([notes::tcp §3.3](crate::notes::tcp)).
/// The copied header (up to 128 bytes) follows at byte 24.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct TermReqPdu {
    /// Bytes 7:0, common header: flags 0, HLEN 24, PDO 0, PLEN 24 + data length.
    pub ch: CommonHeader,
    /// Bytes 9:8, FES: Fatal Error Status.
    pub fes: U16,
    /// Bytes 13:10, FEI: Fatal Error Information (not 4-byte aligned).
    pub fei: U32,
    /// Bytes 23:14, reserved.
    pub reserved: [u8; 10],
}

const _: () = assert!(size_of::<TermReqPdu>() == TERM_REQ_HLEN);
const _: () = assert!(offset_of!(TermReqPdu, fes) == 8);
const _: () = assert!(offset_of!(TermReqPdu, fei) == 10);
const _: () = assert!(offset_of!(TermReqPdu, reserved) == 14);

/// A termination request, validated. Its direction is its sender: a host sends H2CTermReq, a controller
/// C2HTermReq. A receiver accepts any FES and FEI ([notes::tcp §7.2](crate::notes::tcp)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TermReq<'a> {
    /// Who sends it: [`Role::Host`] for H2CTermReq (0x02), [`Role::Controller`] for C2HTermReq (0x03).
    pub sender: Role,
    /// Bytes 9:8, FES.
    pub fes: Fes,
    /// Bytes 13:10, FEI.
    pub fei: u32,
    /// Bytes PLEN−1:24: the start of the PDU that caused the error, at most 128 bytes.
    pub data: &'a [u8],
}

impl<'a> TermReq<'a> {
    /// The termination request that `sender` sends for `err`, found in the PDU whose received bytes start at
    /// `received`; `None` when `err` calls for no TermReq (data digest error, a bad received TermReq, closed).
    ///
    /// The data is a copy of the offending header as [notes::tcp §7.2](crate::notes::tcp) says: `min(HLEN, 128)` bytes,
    /// only the 8-byte common header when the received HLEN is below 8 or above PLEN, and never more than was received.
    pub fn for_error(sender: Role, err: &PduError, received: &'a [u8]) -> Option<TermReq<'a>> {
        let fes = err.fes()?;
        let n = match CommonHeader::view(received) {
            Some(ch) => {
                let hlen = usize::from(ch.hlen);
                if hlen < CH_LEN || hlen as u64 > u64::from(ch.plen.get()) {
                    CH_LEN
                } else {
                    hlen.min(TERM_REQ_MAX_DATA)
                }
            }
            None => received.len(),
        };
        let data = received.get(..n.min(received.len()))?;
        Some(TermReq { sender, fes, fei: err.fei(), data })
    }

    /// The PDU type: H2CTermReq for a host sender, C2HTermReq for a controller.
    pub const fn pdu_type(&self) -> PduType {
        match self.sender {
            Role::Host => PduType::H2C_TERM_REQ,
            Role::Controller => PduType::C2H_TERM_REQ,
        }
    }

    /// Parses either TermReq type from the start of `buf` (the receiver is the sender's peer). A PLEN outside
    /// 24..=152 gives [`PduError::TermReqLength`]: close, report nothing.
    pub fn parse(buf: &'a [u8]) -> Result<TermReq<'a>, PduError> {
        let receiver = match CommonHeader::view(buf) {
            Some(ch) => ch.pdu_type.sender().peer(),
            None => return Err(PduError::Truncated { needed: CH_LEN - buf.len() }),
        };
        match Pdu::parse(buf, &Params::default(), receiver)? {
            Pdu::TermReq(t) => Ok(t),
            other => Err(unexpected(PduType::H2C_TERM_REQ, other.pdu_type())),
        }
    }

    /// The encoded length: 24 + data length.
    pub const fn buffer_len(&self) -> usize {
        TERM_REQ_HLEN + self.data.len()
    }

    /// Writes the TermReq into `buf` and returns its length. More than 128 bytes of data are refused.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        if self.data.len() > TERM_REQ_MAX_DATA {
            return Err(EmitError::DataTooLong { len: self.data.len(), max: TERM_REQ_MAX_DATA });
        }
        let plen = self.buffer_len();
        let out = buf.get_mut(..plen).ok_or(EmitError::BufferTooShort { needed: plen })?;
        let (head, data) = out.split_at_mut(TERM_REQ_HLEN);
        let pdu = TermReqPdu {
            ch: CommonHeader::new(self.pdu_type(), PduFlags::NONE, TERM_REQ_HLEN as u8, 0, plen as u32),
            fes: U16::new(self.fes.0),
            fei: U32::new(self.fei),
            reserved: [0; 10],
        };
        head.copy_from_slice(pdu.as_bytes());
        data.copy_from_slice(self.data);
        Ok(plen)
    }
}
