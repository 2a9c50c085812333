//! H2CData, C2HData and R2T: data transfer PDUs and the controller's request for write data.
//!
//! Facts: [notes::tcp](crate::notes::tcp) §3.6 (layouts), §4 (PDO, PAD), §8 (transfer rules).

use core::mem::{offset_of, size_of};

use zerocopy::byteorder::little_endian::{U16, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::error::{EmitError, PduError};
use super::header::{CommonHeader, PduFlags, PduType, Role};
use super::params::Params;
use super::pdu::{Layout, Pdu, unexpected};

/// HLEN of H2CData, C2HData and R2T.
pub const DATA_PDU_HLEN: usize = 24;

/// H2CData (0x06) / C2HData (0x07) header, zero-copy view of bytes 23:0 ([notes::tcp §3.6](crate::notes::tcp)). Then
/// `[HDGST][PAD][DATA][DDGST]`.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct DataPdu {
    /// Bytes 7:0, common header: HLEN 24, PDO ≠ 0 (data always present).
    pub ch: CommonHeader,
    /// Bytes 9:8, CCCID: the CID of the command capsule this data belongs to.
    pub cccid: U16,
    /// Bytes 11:10, TTAG: H2CData: copied from the R2T; C2HData: reserved.
    pub ttag: U16,
    /// Bytes 15:12, DATAO: offset of this data in the command's data buffer.
    pub datao: U32,
    /// Bytes 19:16, DATAL: data bytes in this PDU (= PLEN − PDO − DDGST).
    pub datal: U32,
    /// Bytes 23:20, reserved.
    pub reserved: [u8; 4],
}

const _: () = assert!(size_of::<DataPdu>() == DATA_PDU_HLEN);
const _: () = assert!(offset_of!(DataPdu, cccid) == 8);
const _: () = assert!(offset_of!(DataPdu, ttag) == 10);
const _: () = assert!(offset_of!(DataPdu, datao) == 12);
const _: () = assert!(offset_of!(DataPdu, datal) == 16);
const _: () = assert!(offset_of!(DataPdu, reserved) == 20);

/// R2T (0x09), zero-copy view of bytes 23:0 ([notes::tcp §3.6](crate::notes::tcp)). Then `[HDGST]`.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct R2TPdu {
    /// Bytes 7:0, common header: HLEN 24, PDO 0, PLEN 24 or 28.
    pub ch: CommonHeader,
    /// Bytes 9:8, CCCID: the command the host must send data for.
    pub cccid: U16,
    /// Bytes 11:10, TTAG: chosen by the controller, copied into the answering H2CData PDUs.
    pub ttag: U16,
    /// Bytes 15:12, R2TO: offset the host must send from.
    pub r2to: U32,
    /// Bytes 19:16, R2TL: bytes the host may send (> 0).
    pub r2tl: U32,
    /// Bytes 23:20, reserved.
    pub reserved: [u8; 4],
}

const _: () = assert!(size_of::<R2TPdu>() == DATA_PDU_HLEN);
const _: () = assert!(offset_of!(R2TPdu, cccid) == 8);
const _: () = assert!(offset_of!(R2TPdu, ttag) == 10);
const _: () = assert!(offset_of!(R2TPdu, r2to) == 12);
const _: () = assert!(offset_of!(R2TPdu, r2tl) == 16);

/// Host-to-controller data, validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct H2CData<'a> {
    /// Bytes 9:8, CCCID.
    pub cccid: u16,
    /// Bytes 11:10, TTAG from the R2T being answered.
    pub ttag: u16,
    /// Bytes 15:12, DATAO.
    pub datao: u32,
    /// The data (DATAL = its length, bytes 19:16), never empty.
    pub data: &'a [u8],
    /// FLAGS bit 2, LAST_PDU: the last H2CData for the R2T.
    pub last: bool,
}

/// Controller-to-host data, validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct C2HData<'a> {
    /// Bytes 9:8, CCCID.
    pub cccid: u16,
    /// Bytes 15:12, DATAO.
    pub datao: u32,
    /// The data (DATAL = its length, bytes 19:16), never empty.
    pub data: &'a [u8],
    /// FLAGS bit 2, LAST_PDU: the last C2HData of the command.
    pub last: bool,
    /// FLAGS bit 3, SUCCESS: the command succeeded and no CapsuleResp follows (requires `last`).
    pub success: bool,
}

/// Ready to Transfer, validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct R2T {
    /// Bytes 9:8, CCCID.
    pub cccid: u16,
    /// Bytes 11:10, TTAG.
    pub ttag: u16,
    /// Bytes 15:12, R2TO.
    pub r2to: u32,
    /// Bytes 19:16, R2TL (> 0).
    pub r2tl: u32,
}

/// Checks that `offset .. offset + len` lies inside the window `start .. start + window_len` (an R2T window or a
/// command's buffer); otherwise FES 0x04 Data Transfer Out of Range ([notes::tcp §8.2, §8.3](crate::notes::tcp)). For
/// drivers, which hold the per-command state this needs.
pub fn check_in_window(offset: u32, len: u32, start: u32, window_len: u32) -> Result<(), PduError> {
    let end = u64::from(offset) + u64::from(len);
    let window_end = u64::from(start) + u64::from(window_len);
    if offset < start || end > window_end { Err(PduError::DataOutOfRange { offset, len }) } else { Ok(()) }
}

/// `offset + len` must fit in 32 bits, or the emitter reports DATAO (byte 12) invalid.
fn check_end(offset: u32, len: usize) -> Result<(), EmitError> {
    if u64::from(offset) + len as u64 > u64::from(u32::MAX) {
        return Err(EmitError::InvalidField { offset: 12 });
    }
    Ok(())
}

impl<'a> H2CData<'a> {
    /// Parses an H2CData, as a controller receives it under `params`, from the start of `buf`.
    pub fn parse(buf: &'a [u8], params: &Params) -> Result<H2CData<'a>, PduError> {
        match Pdu::parse(buf, params, Role::Controller)? {
            Pdu::H2CData(d) => Ok(d),
            other => Err(unexpected(PduType::H2C_DATA, other.pdu_type())),
        }
    }

    pub(crate) fn layout(&self, params: &Params) -> Layout {
        Layout::new(
            DATA_PDU_HLEN,
            params.header_digest,
            Some(self.data.len()),
            params.data_digest,
            params.pda_bytes(Role::Controller),
        )
    }

    /// The encoded length under `params`.
    pub fn buffer_len(&self, params: &Params) -> usize {
        self.layout(params).plen
    }

    /// Writes the PDU into `buf` under `params` and returns PLEN. Refused: no data (`InvalidField { offset: 16 }`),
    /// more data than MAXH2CDATA (`DataTooLong`), DATAO + DATAL beyond 32 bits (`InvalidField { offset: 12 }`).
    pub fn emit(&self, params: &Params, buf: &mut [u8]) -> Result<usize, EmitError> {
        params.check()?;
        if self.data.is_empty() {
            return Err(EmitError::InvalidField { offset: 16 });
        }
        if self.data.len() as u64 > u64::from(params.maxh2cdata) {
            return Err(EmitError::DataTooLong { len: self.data.len(), max: params.maxh2cdata as usize });
        }
        check_end(self.datao, self.data.len())?;
        let lay = self.layout(params);
        let out = lay.prepare(buf)?;
        let pdu = DataPdu {
            ch: lay.common_header(PduType::H2C_DATA, PduFlags::NONE.with(PduFlags::LAST_PDU, self.last)),
            cccid: U16::new(self.cccid),
            ttag: U16::new(self.ttag),
            datao: U32::new(self.datao),
            datal: U32::new(self.data.len() as u32),
            reserved: [0; 4],
        };
        lay.finish(out, pdu.as_bytes(), self.data)
    }
}

impl<'a> C2HData<'a> {
    /// Parses a C2HData, as a host receives it under `params`, from the start of `buf`.
    pub fn parse(buf: &'a [u8], params: &Params) -> Result<C2HData<'a>, PduError> {
        match Pdu::parse(buf, params, Role::Host)? {
            Pdu::C2HData(d) => Ok(d),
            other => Err(unexpected(PduType::C2H_DATA, other.pdu_type())),
        }
    }

    pub(crate) fn layout(&self, params: &Params) -> Layout {
        Layout::new(
            DATA_PDU_HLEN,
            params.header_digest,
            Some(self.data.len()),
            params.data_digest,
            params.pda_bytes(Role::Host),
        )
    }

    /// The encoded length under `params`.
    pub fn buffer_len(&self, params: &Params) -> usize {
        self.layout(params).plen
    }

    /// Writes the PDU into `buf` under `params` and returns PLEN. Refused: no data (`InvalidField { offset: 16 }`),
    /// SUCCESS without LAST_PDU (`InvalidField { offset: 1 }`), DATAO + DATAL beyond 32 bits (`offset: 12`).
    pub fn emit(&self, params: &Params, buf: &mut [u8]) -> Result<usize, EmitError> {
        params.check()?;
        if self.data.is_empty() {
            return Err(EmitError::InvalidField { offset: 16 });
        }
        if self.success && !self.last {
            return Err(EmitError::InvalidField { offset: 1 });
        }
        check_end(self.datao, self.data.len())?;
        let lay = self.layout(params);
        let out = lay.prepare(buf)?;
        let flags = PduFlags::NONE.with(PduFlags::LAST_PDU, self.last).with(PduFlags::SUCCESS, self.success);
        let pdu = DataPdu {
            ch: lay.common_header(PduType::C2H_DATA, flags),
            cccid: U16::new(self.cccid),
            ttag: U16::new(0),
            datao: U32::new(self.datao),
            datal: U32::new(self.data.len() as u32),
            reserved: [0; 4],
        };
        lay.finish(out, pdu.as_bytes(), self.data)
    }
}

impl R2T {
    /// Parses an R2T, as a host receives it under `params`, from the start of `buf`.
    pub fn parse(buf: &[u8], params: &Params) -> Result<R2T, PduError> {
        match Pdu::parse(buf, params, Role::Host)? {
            Pdu::R2T(r) => Ok(r),
            other => Err(unexpected(PduType::R2T, other.pdu_type())),
        }
    }

    pub(crate) fn layout(&self, params: &Params) -> Layout {
        Layout::new(DATA_PDU_HLEN, params.header_digest, None, false, 4)
    }

    /// The encoded length under `params`: 24, or 28 with a header digest.
    pub fn buffer_len(&self, params: &Params) -> usize {
        self.layout(params).plen
    }

    /// Writes the PDU into `buf` under `params` and returns PLEN. Refused: R2TL 0 (`InvalidField { offset: 16 }`),
    /// R2TO + R2TL beyond 32 bits (`InvalidField { offset: 12 }`).
    pub fn emit(&self, params: &Params, buf: &mut [u8]) -> Result<usize, EmitError> {
        params.check()?;
        if self.r2tl == 0 {
            return Err(EmitError::InvalidField { offset: 16 });
        }
        check_end(self.r2to, self.r2tl as usize)?;
        let lay = self.layout(params);
        let out = lay.prepare(buf)?;
        let pdu = R2TPdu {
            ch: lay.common_header(PduType::R2T, PduFlags::NONE),
            cccid: U16::new(self.cccid),
            ttag: U16::new(self.ttag),
            r2to: U32::new(self.r2to),
            r2tl: U32::new(self.r2tl),
            reserved: [0; 4],
        };
        lay.finish(out, pdu.as_bytes(), &[])
    }
}
