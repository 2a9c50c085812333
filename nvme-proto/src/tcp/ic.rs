//! ICReq and ICResp: the connection initialisation exchange, 128 bytes each, never with digests.
//!
//! Facts: [notes::tcp](crate::notes::tcp) §3.1, §3.2 (layouts), §6 (rules).

use core::mem::{offset_of, size_of};

use zerocopy::byteorder::little_endian::{U16, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::error::{EmitError, InvalidField, PduError};
use super::header::{CommonHeader, PduFlags, PduType, Role};
use super::params::{MAX_PDA, Params, maxh2cdata_is_valid};
use super::pdu::{Pdu, unexpected};

/// HLEN and PLEN of ICReq and ICResp.
pub const IC_PDU_LEN: usize = 128;

/// DGST byte bit 0: header digest (ICReq: requested; ICResp: enabled).
const DGST_HEADER: u8 = 0x01;
/// DGST byte bit 1: data digest.
const DGST_DATA: u8 = 0x02;

/// ICReq (type 0x00), zero-copy view of its 128 bytes ([notes::tcp §3.1](crate::notes::tcp)).
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct IcReqPdu {
    /// Bytes 7:0, common header: type 0, flags 0, HLEN 128, PDO 0, PLEN 128.
    pub ch: CommonHeader,
    /// Bytes 9:8, PFV: PDU Format Version, 0 is the only defined value.
    pub pfv: U16,
    /// Byte 10, HPDA: host PDU data alignment, 0's based dwords, 0..=31.
    pub hpda: u8,
    /// Byte 11, DGST: bit 0 header digest requested, bit 1 data digest requested, bits 7:2 reserved.
    pub dgst: u8,
    /// Bytes 15:12, MAXR2T: outstanding R2Ts per command the host accepts, 0's based.
    pub maxr2t: U32,
    /// Bytes 127:16, reserved (sent as zeros, ignored on receive).
    pub reserved: [u8; 112],
}

const _: () = assert!(size_of::<IcReqPdu>() == IC_PDU_LEN);
const _: () = assert!(offset_of!(IcReqPdu, pfv) == 8);
const _: () = assert!(offset_of!(IcReqPdu, hpda) == 10);
const _: () = assert!(offset_of!(IcReqPdu, dgst) == 11);
const _: () = assert!(offset_of!(IcReqPdu, maxr2t) == 12);

/// ICResp (type 0x01), zero-copy view of its 128 bytes ([notes::tcp §3.2](crate::notes::tcp)).
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct IcRespPdu {
    /// Bytes 7:0, common header: type 1, flags 0, HLEN 128, PDO 0, PLEN 128.
    pub ch: CommonHeader,
    /// Bytes 9:8, PFV: PDU Format Version, 0.
    pub pfv: U16,
    /// Byte 10, CPDA: controller PDU data alignment, 0's based dwords, 0..=31.
    pub cpda: u8,
    /// Byte 11, DGST: bit 0 header digest enabled, bit 1 data digest enabled, bits 7:2 reserved.
    pub dgst: u8,
    /// Bytes 15:12, MAXH2CDATA: largest DATAL of one H2CData PDU, bytes (≥ 4096, a multiple of 4).
    pub maxh2cdata: U32,
    /// Bytes 127:16, reserved (sent as zeros, ignored on receive).
    pub reserved: [u8; 112],
}

const _: () = assert!(size_of::<IcRespPdu>() == IC_PDU_LEN);
const _: () = assert!(offset_of!(IcRespPdu, pfv) == 8);
const _: () = assert!(offset_of!(IcRespPdu, cpda) == 10);
const _: () = assert!(offset_of!(IcRespPdu, dgst) == 11);
const _: () = assert!(offset_of!(IcRespPdu, maxh2cdata) == 12);

/// ICReq, validated: what the host asks for. PFV is always 0 (parse rejects anything else).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IcReq {
    /// Byte 10, HPDA: the host's data alignment, 0's based dwords (0..=31).
    pub hpda: u8,
    /// Byte 11 bit 0: header digests requested.
    pub header_digest: bool,
    /// Byte 11 bit 1: data digests requested.
    pub data_digest: bool,
    /// Bytes 15:12, MAXR2T, 0's based.
    pub maxr2t: u32,
}

/// ICResp, validated: what the controller grants. PFV is always 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IcResp {
    /// Byte 10, CPDA: the controller's data alignment, 0's based dwords (0..=31).
    pub cpda: u8,
    /// Byte 11 bit 0: header digests enabled.
    pub header_digest: bool,
    /// Byte 11 bit 1: data digests enabled.
    pub data_digest: bool,
    /// Bytes 15:12, MAXH2CDATA, bytes (≥ 4096, a multiple of 4).
    pub maxh2cdata: u32,
}

const fn dgst_byte(header: bool, data: bool) -> u8 {
    (if header { DGST_HEADER } else { 0 }) | (if data { DGST_DATA } else { 0 })
}

impl IcReq {
    /// Parses an ICReq, as the controller receives it, from the start of `buf`, with every check of
    /// [notes::tcp §9.1](crate::notes::tcp) (flags 0, HLEN 128, PDO 0, PLEN 128) and §6 (PFV 0: FEI 8; HPDA ≤ 31:
    /// FEI 10). Reserved bits are ignored.
    pub fn parse(buf: &[u8]) -> Result<IcReq, PduError> {
        match Pdu::parse(buf, &Params::default(), Role::Controller)? {
            Pdu::IcReq(r) => Ok(r),
            other => Err(unexpected(PduType::IC_REQ, other.pdu_type())),
        }
    }

    /// The checks of the PDU-specific header ([notes::tcp §6](crate::notes::tcp)), on a view whose common header was
    /// checked.
    pub(crate) fn from_view(v: &IcReqPdu) -> Result<IcReq, PduError> {
        if v.pfv.get() != 0 {
            return Err(InvalidField::Pfv(v.pfv.get()).into());
        }
        if v.hpda > MAX_PDA {
            return Err(InvalidField::Pda(v.hpda).into());
        }
        Ok(IcReq {
            hpda: v.hpda,
            header_digest: v.dgst & DGST_HEADER != 0,
            data_digest: v.dgst & DGST_DATA != 0,
            maxr2t: v.maxr2t.get(),
        })
    }

    /// The encoded length: always 128.
    pub const fn buffer_len(&self) -> usize {
        IC_PDU_LEN
    }

    /// Writes the 128-byte ICReq into `buf` and returns 128. HPDA above 31 is refused (`InvalidField { offset: 10 }`).
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        if self.hpda > MAX_PDA {
            return Err(EmitError::InvalidField { offset: 10 });
        }
        let out = buf.get_mut(..IC_PDU_LEN).ok_or(EmitError::BufferTooShort { needed: IC_PDU_LEN })?;
        let pdu = IcReqPdu {
            ch: CommonHeader::new(PduType::IC_REQ, PduFlags::NONE, IC_PDU_LEN as u8, 0, IC_PDU_LEN as u32),
            pfv: U16::new(0),
            hpda: self.hpda,
            dgst: dgst_byte(self.header_digest, self.data_digest),
            maxr2t: U32::new(self.maxr2t),
            reserved: [0; 112],
        };
        out.copy_from_slice(pdu.as_bytes());
        Ok(IC_PDU_LEN)
    }
}

impl IcResp {
    /// Parses an ICResp, as the host receives it, from the start of `buf`, with every check of
    /// [notes::tcp §9.1](crate::notes::tcp) and §6 (PFV 0: FEI 8; CPDA ≤ 31: FEI 10; MAXH2CDATA ≥ 4096 and a multiple
    /// of 4: FEI 12). Whether the digests match the request is checked by [`Params::from_ic`].
    pub fn parse(buf: &[u8]) -> Result<IcResp, PduError> {
        match Pdu::parse(buf, &Params::default(), Role::Host)? {
            Pdu::IcResp(r) => Ok(r),
            other => Err(unexpected(PduType::IC_RESP, other.pdu_type())),
        }
    }

    /// The checks of the PDU-specific header ([notes::tcp §6](crate::notes::tcp)), on a view whose common header was
    /// checked.
    pub(crate) fn from_view(v: &IcRespPdu) -> Result<IcResp, PduError> {
        if v.pfv.get() != 0 {
            return Err(InvalidField::Pfv(v.pfv.get()).into());
        }
        if v.cpda > MAX_PDA {
            return Err(InvalidField::Pda(v.cpda).into());
        }
        if !maxh2cdata_is_valid(v.maxh2cdata.get()) {
            return Err(InvalidField::MaxH2CData(v.maxh2cdata.get()).into());
        }
        Ok(IcResp {
            cpda: v.cpda,
            header_digest: v.dgst & DGST_HEADER != 0,
            data_digest: v.dgst & DGST_DATA != 0,
            maxh2cdata: v.maxh2cdata.get(),
        })
    }

    /// The encoded length: always 128.
    pub const fn buffer_len(&self) -> usize {
        IC_PDU_LEN
    }

    /// Writes the 128-byte ICResp into `buf` and returns 128. CPDA above 31 (`offset: 10`) and an invalid
    /// MAXH2CDATA (`offset: 12`) are refused.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        if self.cpda > MAX_PDA {
            return Err(EmitError::InvalidField { offset: 10 });
        }
        if !maxh2cdata_is_valid(self.maxh2cdata) {
            return Err(EmitError::InvalidField { offset: 12 });
        }
        let out = buf.get_mut(..IC_PDU_LEN).ok_or(EmitError::BufferTooShort { needed: IC_PDU_LEN })?;
        let pdu = IcRespPdu {
            ch: CommonHeader::new(PduType::IC_RESP, PduFlags::NONE, IC_PDU_LEN as u8, 0, IC_PDU_LEN as u32),
            pfv: U16::new(0),
            cpda: self.cpda,
            dgst: dgst_byte(self.header_digest, self.data_digest),
            maxh2cdata: U32::new(self.maxh2cdata),
            reserved: [0; 112],
        };
        out.copy_from_slice(pdu.as_bytes());
        Ok(IC_PDU_LEN)
    }
}
