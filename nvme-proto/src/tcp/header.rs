//! The 8-byte common header (CH) every PDU starts with, the PDU type and flag values, and who sends what.
//!
//! Facts: [notes::tcp](crate::notes::tcp) §1 (CH layout) and §2 (per-type HLEN, flags, PDO, digests).

use core::fmt;
use core::mem::{offset_of, size_of};

use zerocopy::byteorder::little_endian::U32;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// Length of the common header, bytes 7:0 of every PDU.
pub const CH_LEN: usize = 8;

/// Length of a header or data digest (HDGST, DDGST): one little-endian CRC-32C.
pub const DIGEST_LEN: usize = 4;

/// Which end of a connection: a host (initiator) or a controller (target).
///
/// Used both for the receiver of a PDU (a controller accepts only even, host-to-controller types; a host only odd
/// ones, [notes::tcp §1](crate::notes::tcp)) and for the sender of a termination request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// The host: sends even PDU types (ICReq, H2CTermReq, CapsuleCmd, H2CData), receives odd ones.
    Host,
    /// The controller: sends odd PDU types (ICResp, C2HTermReq, CapsuleResp, C2HData, R2T), receives even ones.
    Controller,
}

impl Role {
    /// The other end of the connection.
    pub const fn peer(self) -> Role {
        match self {
            Role::Host => Role::Controller,
            Role::Controller => Role::Host,
        }
    }
}

/// PDU-TYPE, byte 0 of the common header ([notes::tcp §1, §2](crate::notes::tcp)). An open enum: every `u8` is
/// representable, unknown values (0x08, 0x0A and above) round-trip and are rejected by validation, not lost.
///
/// Bit 0 is the direction: 0 host to controller, 1 controller to host.
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(transparent)]
pub struct PduType(pub u8);

impl PduType {
    /// 0x00 ICReq: Initialize Connection Request, host to controller.
    pub const IC_REQ: PduType = PduType(0x00);
    /// 0x01 ICResp: Initialize Connection Response, controller to host.
    pub const IC_RESP: PduType = PduType(0x01);
    /// 0x02 H2CTermReq: Host to Controller Terminate Connection Request.
    pub const H2C_TERM_REQ: PduType = PduType(0x02);
    /// 0x03 C2HTermReq: Controller to Host Terminate Connection Request.
    pub const C2H_TERM_REQ: PduType = PduType(0x03);
    /// 0x04 CapsuleCmd: command capsule (SQE and optional in-capsule data), host to controller.
    pub const CAPSULE_CMD: PduType = PduType(0x04);
    /// 0x05 CapsuleResp: response capsule (CQE), controller to host.
    pub const CAPSULE_RESP: PduType = PduType(0x05);
    /// 0x06 H2CData: host to controller data (answers an R2T).
    pub const H2C_DATA: PduType = PduType(0x06);
    /// 0x07 C2HData: controller to host data.
    pub const C2H_DATA: PduType = PduType(0x07);
    /// 0x09 R2T: Ready to Transfer, controller to host. (0x08 is reserved.)
    pub const R2T: PduType = PduType(0x09);
    /// 0x0A KDReq (key update request), named in one third-party header only. Unconfirmed: best guess it is not a
    /// PDU Format Version 0 type, because no Linux/SPDK/FreeBSD code defines it; received, it is rejected as
    /// undefined (FES 0x01, FEI 0). See [notes::tcp §11](crate::notes::tcp).
    pub const KD_REQ: PduType = PduType(0x0A);
    /// 0x0B KDResp (key update response): unconfirmed like [`PduType::KD_REQ`], and rejected the same way.
    pub const KD_RESP: PduType = PduType(0x0B);

    /// The name used in the specification, or `None` for a value PDU Format Version 0 does not define.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x00 => "ICReq",
            0x01 => "ICResp",
            0x02 => "H2CTermReq",
            0x03 => "C2HTermReq",
            0x04 => "CapsuleCmd",
            0x05 => "CapsuleResp",
            0x06 => "H2CData",
            0x07 => "C2HData",
            0x09 => "R2T",
            _ => return None,
        })
    }

    /// Whether PDU Format Version 0 defines this type (0x00..=0x07 and 0x09). [`PduType::KD_REQ`] and
    /// [`PduType::KD_RESP`] are treated as undefined.
    pub const fn is_defined(self) -> bool {
        self.name().is_some()
    }

    /// Who sends this type, from the direction bit (bit 0): even types come from the host, odd ones from the
    /// controller.
    pub const fn sender(self) -> Role {
        if self.0 & 1 == 0 { Role::Host } else { Role::Controller }
    }

    /// The fixed HLEN of a defined type (128 for ICReq/ICResp, 72 for CapsuleCmd, 24 otherwise),
    /// [notes::tcp §2](crate::notes::tcp).
    pub const fn hlen(self) -> Option<u8> {
        match self.0 {
            0x00 | 0x01 => Some(128),
            0x04 => Some(72),
            0x02 | 0x03 | 0x05..=0x07 | 0x09 => Some(24),
            _ => None,
        }
    }

    /// The FLAGS bits this type may carry ([notes::tcp §2](crate::notes::tcp)): none for IC and TermReq PDUs; HDGSTF
    /// and DDGSTF on CapsuleCmd; HDGSTF on CapsuleResp and R2T; plus LAST_PDU on H2CData and LAST_PDU and SUCCESS on
    /// C2HData.
    pub const fn allowed_flags(self) -> PduFlags {
        PduFlags(match self.0 {
            0x04 => PduFlags::HDGSTF.0 | PduFlags::DDGSTF.0,
            0x05 | 0x09 => PduFlags::HDGSTF.0,
            0x06 => PduFlags::HDGSTF.0 | PduFlags::DDGSTF.0 | PduFlags::LAST_PDU.0,
            0x07 => PduFlags::HDGSTF.0 | PduFlags::DDGSTF.0 | PduFlags::LAST_PDU.0 | PduFlags::SUCCESS.0,
            _ => 0,
        })
    }

    /// Whether this type is one of the IC exchange PDUs (ICReq, ICResp).
    pub const fn is_ic(self) -> bool {
        matches!(self.0, 0x00 | 0x01)
    }

    /// Whether this type is a termination request (H2CTermReq, C2HTermReq).
    pub const fn is_term_req(self) -> bool {
        matches!(self.0, 0x02 | 0x03)
    }
}

impl fmt::Debug for PduType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name}(0x{:02x})", self.0),
            None => write!(f, "PduType(0x{:02x})", self.0),
        }
    }
}

impl fmt::Display for PduType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "unknown PDU type 0x{:02x}", self.0),
        }
    }
}

/// FLAGS, byte 1 of the common header ([notes::tcp §1](crate::notes::tcp)): bit 0 HDGSTF, bit 1 DDGSTF, bit 2 LAST_PDU,
/// bit 3 SUCCESS, bits 7:4 reserved. Any byte value is representable; validation decides which bits a type may carry.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(transparent)]
pub struct PduFlags(pub u8);

impl PduFlags {
    /// No flag set.
    pub const NONE: PduFlags = PduFlags(0);
    /// Bit 0 HDGSTF: a header digest follows the header.
    pub const HDGSTF: PduFlags = PduFlags(0x01);
    /// Bit 1 DDGSTF: a data digest follows the data.
    pub const DDGSTF: PduFlags = PduFlags(0x02);
    /// Bit 2 LAST_PDU: the last data PDU of a transfer (H2CData: of an R2T window; C2HData: of the command).
    pub const LAST_PDU: PduFlags = PduFlags(0x04);
    /// Bit 3 SUCCESS (C2HData only): the command completed successfully and no CapsuleResp follows.
    pub const SUCCESS: PduFlags = PduFlags(0x08);

    /// The defined bits and their names, in bit order (bits 7:4 are reserved).
    pub const NAMES: [(PduFlags, &'static str); 4] = [
        (PduFlags::HDGSTF, "HDGSTF"),
        (PduFlags::DDGSTF, "DDGSTF"),
        (PduFlags::LAST_PDU, "LAST_PDU"),
        (PduFlags::SUCCESS, "SUCCESS"),
    ];

    /// Whether every bit of `other` is set in `self`.
    pub const fn contains(self, other: PduFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// `self` with the bits of `other` set when `on`.
    pub const fn with(self, other: PduFlags, on: bool) -> PduFlags {
        if on { PduFlags(self.0 | other.0) } else { self }
    }
}

impl core::ops::BitOr for PduFlags {
    type Output = PduFlags;
    fn bitor(self, rhs: PduFlags) -> PduFlags {
        PduFlags(self.0 | rhs.0)
    }
}

impl fmt::Debug for PduFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PduFlags(0x{:02x}", self.0)?;
        for (bit, name) in PduFlags::NAMES {
            if self.contains(bit) {
                write!(f, " {name}")?;
            }
        }
        f.write_str(")")
    }
}

/// The common header, bytes 7:0 of every PDU ([notes::tcp §1](crate::notes::tcp)): a zero-copy view, castable at any
/// offset of a buffer (every field has alignment 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct CommonHeader {
    /// Byte 0, PDU-TYPE.
    pub pdu_type: PduType,
    /// Byte 1, FLAGS.
    pub flags: PduFlags,
    /// Byte 2, HLEN: CH plus PDU-specific header length in bytes, excluding HDGST.
    pub hlen: u8,
    /// Byte 3, PDO: offset of the first data byte from the start of the PDU; 0 when the PDU carries no data.
    pub pdo: u8,
    /// Bytes 7:4, PLEN: total PDU length in bytes (CH + PSH + HDGST + PAD + DATA + DDGST).
    pub plen: U32,
}

const _: () = assert!(size_of::<CommonHeader>() == CH_LEN);
const _: () = assert!(offset_of!(CommonHeader, flags) == 1);
const _: () = assert!(offset_of!(CommonHeader, hlen) == 2);
const _: () = assert!(offset_of!(CommonHeader, pdo) == 3);
const _: () = assert!(offset_of!(CommonHeader, plen) == 4);

impl CommonHeader {
    /// A common header with the given fields.
    pub fn new(pdu_type: PduType, flags: PduFlags, hlen: u8, pdo: u8, plen: u32) -> Self {
        Self { pdu_type, flags, hlen, pdo, plen: U32::new(plen) }
    }

    /// The view over the first 8 bytes of `buf`, or `None` when `buf` is shorter than 8 bytes.
    #[inline]
    pub fn view(buf: &[u8]) -> Option<&CommonHeader> {
        CommonHeader::ref_from_prefix(buf).ok().map(|(ch, _)| ch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_directions_and_fixed_values() {
        let defined = [0x00u8, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x09];
        for v in 0..=255u8 {
            let t = PduType(v);
            assert_eq!(t.is_defined(), defined.contains(&v), "{v:#x}");
            assert_eq!(t.sender() == Role::Host, v % 2 == 0);
            assert_eq!(t.hlen().is_some(), t.is_defined());
        }
        assert_eq!(PduType::CAPSULE_CMD.hlen(), Some(72));
        assert_eq!(PduType::IC_RESP.hlen(), Some(128));
        assert_eq!(PduType::R2T.hlen(), Some(24));
        assert_eq!(PduType::C2H_DATA.allowed_flags(), PduFlags(0x0F));
        assert_eq!(PduType::H2C_DATA.allowed_flags(), PduFlags(0x07));
        assert_eq!(PduType::CAPSULE_RESP.allowed_flags(), PduFlags::HDGSTF);
        assert_eq!(PduType::H2C_TERM_REQ.allowed_flags(), PduFlags::NONE);
        assert_eq!(Role::Host.peer(), Role::Controller);
    }

    #[cfg(feature = "std")]
    #[test]
    fn debug_names_types_and_flags() {
        assert_eq!(std::format!("{:?}", PduType(0x0A)), "PduType(0x0a)");
        assert_eq!(std::format!("{:?}", PduType::R2T), "R2T(0x09)");
        assert_eq!(std::format!("{}", PduType::C2H_DATA), "C2HData");
        assert_eq!(std::format!("{:?}", PduFlags(0x05)), "PduFlags(0x05 HDGSTF LAST_PDU)");
    }

    #[test]
    fn common_header_view_reads_little_endian() {
        let bytes = [0x05, 0x01, 0x18, 0x00, 0x1c, 0x00, 0x00, 0x00, 0xAA];
        let ch = CommonHeader::view(&bytes).unwrap();
        assert_eq!(ch.pdu_type, PduType::CAPSULE_RESP);
        assert_eq!(ch.flags, PduFlags::HDGSTF);
        assert_eq!((ch.hlen, ch.pdo, ch.plen.get()), (24, 0, 28));
        assert!(CommonHeader::view(&bytes[..7]).is_none());
        assert_eq!(CommonHeader::new(PduType::CAPSULE_RESP, PduFlags::HDGSTF, 24, 0, 28).as_bytes(), &bytes[..8]);
    }
}
