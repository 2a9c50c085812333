//! CapsuleCmd (an SQE and optional in-capsule data) and CapsuleResp (a CQE). The transport treats the SQE and CQE
//! as opaque bytes; `crate::cmd` gives them meaning.
//!
//! Facts: [notes::tcp](crate::notes::tcp) §3.4, §3.5 (layouts), §4 (PDO, PAD), §5.3 (digests).

use core::mem::{offset_of, size_of};

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::error::{EmitError, PduError};
use super::header::{CommonHeader, PduFlags, PduType, Role};
use super::params::Params;
use super::pdu::{Layout, Pdu, unexpected};

/// HLEN of a CapsuleCmd: 8-byte CH + 64-byte SQE.
pub const CAPSULE_CMD_HLEN: usize = 72;

/// HLEN of a CapsuleResp: 8-byte CH + 16-byte CQE.
pub const CAPSULE_RESP_HLEN: usize = 24;

/// CapsuleCmd (0x04) header, zero-copy view of bytes 71:0 ([notes::tcp §3.4](crate::notes::tcp)). Then
/// `[HDGST][PAD][DATA][DDGST]`.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct CapsuleCmdPdu {
    /// Bytes 7:0, common header: HLEN 72; PDO 0 without in-capsule data.
    pub ch: CommonHeader,
    /// Bytes 71:8, the 64-byte submission queue entry ([notes::commands §1](crate::notes::commands)); its CID is at
    /// bytes 11:10 of the PDU.
    pub sqe: [u8; 64],
}

const _: () = assert!(size_of::<CapsuleCmdPdu>() == CAPSULE_CMD_HLEN);
const _: () = assert!(offset_of!(CapsuleCmdPdu, sqe) == 8);

/// CapsuleResp (0x05) header, zero-copy view of bytes 23:0 ([notes::tcp §3.5](crate::notes::tcp)). Then `[HDGST]`.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct CapsuleRespPdu {
    /// Bytes 7:0, common header: HLEN 24, PDO 0, PLEN 24 or 28.
    pub ch: CommonHeader,
    /// Bytes 23:8, the 16-byte completion queue entry ([notes::commands §2](crate::notes::commands)); its CID is at
    /// bytes 21:20 of the PDU.
    pub cqe: [u8; 16],
}

const _: () = assert!(size_of::<CapsuleRespPdu>() == CAPSULE_RESP_HLEN);
const _: () = assert!(offset_of!(CapsuleRespPdu, cqe) == 8);

/// A command capsule, validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapsuleCmd<'a> {
    /// Bytes 71:8, the SQE, opaque to the transport.
    pub sqe: [u8; 64],
    /// In-capsule data (from PDO); empty means none: PDO 0 and no data digest.
    pub data: &'a [u8],
}

/// A response capsule, validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CapsuleResp {
    /// Bytes 23:8, the CQE, opaque to the transport.
    pub cqe: [u8; 16],
}

impl<'a> CapsuleCmd<'a> {
    /// The command identifier: SQE bytes 3:2.
    pub const fn cid(&self) -> u16 {
        u16::from_le_bytes([self.sqe[2], self.sqe[3]])
    }

    /// Parses a CapsuleCmd, as a controller receives it under `params`, from the start of `buf`.
    pub fn parse(buf: &'a [u8], params: &Params) -> Result<CapsuleCmd<'a>, PduError> {
        match Pdu::parse(buf, params, Role::Controller)? {
            Pdu::CapsuleCmd(c) => Ok(c),
            other => Err(unexpected(PduType::CAPSULE_CMD, other.pdu_type())),
        }
    }

    pub(crate) fn layout(&self, params: &Params) -> Layout {
        let data = if self.data.is_empty() { None } else { Some(self.data.len()) };
        Layout::new(
            CAPSULE_CMD_HLEN,
            params.header_digest,
            data,
            params.data_digest,
            params.pda_bytes(Role::Controller),
        )
    }

    /// The encoded length under `params` (digests, CPDA padding).
    pub fn buffer_len(&self, params: &Params) -> usize {
        self.layout(params).plen
    }

    /// Writes the PDU into `buf` under `params`: HDGST if header digests are on; with in-capsule data, PAD zeros up
    /// to a multiple of the controller's PDA, the data, and DDGST if data digests are on. Returns PLEN.
    pub fn emit(&self, params: &Params, buf: &mut [u8]) -> Result<usize, EmitError> {
        params.check()?;
        let lay = self.layout(params);
        let out = lay.prepare(buf)?;
        let pdu = CapsuleCmdPdu { ch: lay.common_header(PduType::CAPSULE_CMD, PduFlags::NONE), sqe: self.sqe };
        lay.finish(out, pdu.as_bytes(), self.data)
    }
}

impl CapsuleResp {
    /// The command identifier of the completed command: CQE bytes 13:12.
    pub const fn cid(&self) -> u16 {
        u16::from_le_bytes([self.cqe[12], self.cqe[13]])
    }

    /// Parses a CapsuleResp, as a host receives it under `params`, from the start of `buf`.
    pub fn parse(buf: &[u8], params: &Params) -> Result<CapsuleResp, PduError> {
        match Pdu::parse(buf, params, Role::Host)? {
            Pdu::CapsuleResp(c) => Ok(c),
            other => Err(unexpected(PduType::CAPSULE_RESP, other.pdu_type())),
        }
    }

    pub(crate) fn layout(&self, params: &Params) -> Layout {
        Layout::new(CAPSULE_RESP_HLEN, params.header_digest, None, false, 4)
    }

    /// The encoded length under `params`: 24, or 28 with a header digest.
    pub fn buffer_len(&self, params: &Params) -> usize {
        self.layout(params).plen
    }

    /// Writes the PDU into `buf` under `params` and returns PLEN.
    pub fn emit(&self, params: &Params, buf: &mut [u8]) -> Result<usize, EmitError> {
        params.check()?;
        let lay = self.layout(params);
        let out = lay.prepare(buf)?;
        let pdu = CapsuleRespPdu { ch: lay.common_header(PduType::CAPSULE_RESP, PduFlags::NONE), cqe: self.cqe };
        lay.finish(out, pdu.as_bytes(), &[])
    }
}
