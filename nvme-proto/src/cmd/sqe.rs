//! The 64-byte Submission Queue Entry ([notes::commands §1](crate::notes::commands)).

use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::CmdError;
use super::sgl::{SglDescriptor, SglView};

/// SQE byte 1: FUSE (bits 1:0), reserved (bits 5:2), PSDT (bits 7:6). Open: every value round-trips.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SqeFlags(pub u8);

impl SqeFlags {
    /// 0x40: PSDT 01 (SGL, MPTR a contiguous buffer), FUSE 0: what every fabrics command carries (the Linux host
    /// sets it on every command, and the Linux target rejects anything else with Invalid Field in Command).
    pub const SGL: Self = Self(0x40);

    /// FUSE, bits 1:0: 0 normal, 1 first of a fused pair, 2 second of a fused pair.
    pub const fn fuse(self) -> u8 {
        self.0 & 0x3
    }

    /// PSDT, bits 7:6: 0 PRP, 1 SGL with MPTR a contiguous buffer, 2 SGL with MPTR an SGL.
    pub const fn psdt(self) -> u8 {
        self.0 >> 6
    }
}

/// Zero-copy view of a 64-byte SQE. Any 64 bytes are a valid view; cast it with [`SqeView::ref_from_prefix`]
/// (or zerocopy's other constructors) at any offset of a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct SqeView {
    /// Byte 0, OPC: opcode.
    pub opcode: u8,
    /// Byte 1, FUSE (bits 1:0) and PSDT (bits 7:6).
    pub flags: u8,
    /// Bytes 3:2, CID: command identifier.
    pub cid: U16,
    /// Bytes 7:4, NSID (Fabrics commands: byte 4 is FCTYPE, bytes 7:5 reserved).
    pub nsid: U32,
    /// Bytes 11:8, CDW2.
    pub cdw2: U32,
    /// Bytes 15:12, CDW3.
    pub cdw3: U32,
    /// Bytes 23:16, MPTR: metadata pointer.
    pub mptr: U64,
    /// Bytes 39:24, DPTR: SGL1 on fabrics.
    pub dptr: SglView,
    /// Bytes 43:40, CDW10.
    pub cdw10: U32,
    /// Bytes 47:44, CDW11.
    pub cdw11: U32,
    /// Bytes 51:48, CDW12.
    pub cdw12: U32,
    /// Bytes 55:52, CDW13.
    pub cdw13: U32,
    /// Bytes 59:56, CDW14.
    pub cdw14: U32,
    /// Bytes 63:60, CDW15.
    pub cdw15: U32,
}

const _: () = assert!(size_of::<SqeView>() == 64);
const _: () = assert!(core::mem::offset_of!(SqeView, cid) == 2);
const _: () = assert!(core::mem::offset_of!(SqeView, nsid) == 4);
const _: () = assert!(core::mem::offset_of!(SqeView, mptr) == 16);
const _: () = assert!(core::mem::offset_of!(SqeView, dptr) == 24);
const _: () = assert!(core::mem::offset_of!(SqeView, cdw10) == 40);
const _: () = assert!(core::mem::offset_of!(SqeView, cdw15) == 60);

/// A Submission Queue Entry, all 64 bytes kept: any SQE round-trips through [`Sqe::from_bytes`] /
/// [`Sqe::to_bytes`]. The typed commands (`CrossControllerReset`, `GetLogPage`, ...) build and read these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Sqe {
    /// Byte 0, OPC: opcode (an `AdminOpcode` or `IoOpcode` depending on the queue).
    pub opcode: u8,
    /// Byte 1, FUSE and PSDT.
    pub flags: SqeFlags,
    /// Bytes 3:2, CID.
    pub cid: u16,
    /// Bytes 7:4, NSID (Fabrics: FCTYPE in the low byte).
    pub nsid: u32,
    /// Bytes 11:8, CDW2.
    pub cdw2: u32,
    /// Bytes 15:12, CDW3.
    pub cdw3: u32,
    /// Bytes 23:16, MPTR.
    pub mptr: u64,
    /// Bytes 39:24, SGL1.
    pub dptr: SglDescriptor,
    /// Bytes 43:40, CDW10.
    pub cdw10: u32,
    /// Bytes 47:44, CDW11.
    pub cdw11: u32,
    /// Bytes 51:48, CDW12.
    pub cdw12: u32,
    /// Bytes 55:52, CDW13.
    pub cdw13: u32,
    /// Bytes 59:56, CDW14.
    pub cdw14: u32,
    /// Bytes 63:60, CDW15.
    pub cdw15: u32,
}

impl Sqe {
    /// Size of an SQE on the wire.
    pub const LEN: usize = 64;

    /// An SQE as fabrics hosts send it: `opcode`, flags 0x40 (SGL), `cid`, SGL1 "no data" (0x5A, length 0), every
    /// other field 0.
    pub const fn new(opcode: u8, cid: u16) -> Self {
        Self {
            opcode,
            flags: SqeFlags::SGL,
            cid,
            nsid: 0,
            cdw2: 0,
            cdw3: 0,
            mptr: 0,
            dptr: SglDescriptor::NO_DATA,
            cdw10: 0,
            cdw11: 0,
            cdw12: 0,
            cdw13: 0,
            cdw14: 0,
            cdw15: 0,
        }
    }

    /// Decodes 64 bytes (every value accepted).
    pub fn from_bytes(bytes: &[u8; 64]) -> Self {
        let view: SqeView = zerocopy::transmute!(*bytes);
        Self::from_view(&view)
    }

    /// Decodes the first 64 bytes of `buf`.
    pub fn parse(buf: &[u8]) -> Result<Self, CmdError> {
        let (view, _) = SqeView::ref_from_prefix(buf).map_err(|_| CmdError::BufferTooShort { needed: Self::LEN })?;
        Ok(Self::from_view(view))
    }

    /// The representation of a view.
    pub fn from_view(v: &SqeView) -> Self {
        Self {
            opcode: v.opcode,
            flags: SqeFlags(v.flags),
            cid: v.cid.get(),
            nsid: v.nsid.get(),
            cdw2: v.cdw2.get(),
            cdw3: v.cdw3.get(),
            mptr: v.mptr.get(),
            dptr: SglDescriptor::from_view(&v.dptr),
            cdw10: v.cdw10.get(),
            cdw11: v.cdw11.get(),
            cdw12: v.cdw12.get(),
            cdw13: v.cdw13.get(),
            cdw14: v.cdw14.get(),
            cdw15: v.cdw15.get(),
        }
    }

    /// The view holding this SQE.
    pub fn to_view(&self) -> SqeView {
        SqeView {
            opcode: self.opcode,
            flags: self.flags.0,
            cid: U16::new(self.cid),
            nsid: U32::new(self.nsid),
            cdw2: U32::new(self.cdw2),
            cdw3: U32::new(self.cdw3),
            mptr: U64::new(self.mptr),
            dptr: self.dptr.to_view(),
            cdw10: U32::new(self.cdw10),
            cdw11: U32::new(self.cdw11),
            cdw12: U32::new(self.cdw12),
            cdw13: U32::new(self.cdw13),
            cdw14: U32::new(self.cdw14),
            cdw15: U32::new(self.cdw15),
        }
    }

    /// The 64 bytes.
    pub fn to_bytes(&self) -> [u8; 64] {
        zerocopy::transmute!(self.to_view())
    }

    /// Writes the 64 bytes at the start of `buf`; returns 64.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, CmdError> {
        let out = buf.get_mut(..Self::LEN).ok_or(CmdError::BufferTooShort { needed: Self::LEN })?;
        out.copy_from_slice(self.to_view().as_bytes());
        Ok(Self::LEN)
    }

    /// Bytes [`emit`](Self::emit) writes: 64.
    pub const fn buffer_len(&self) -> usize {
        Self::LEN
    }

    /// FCTYPE (byte 4) when this is a Fabrics command (opcode 0x7F): the low byte of NSID.
    pub const fn fctype(&self) -> u8 {
        self.nsid as u8
    }

    /// CDWn for n in 10..=15 by number (CDW2/CDW3 too); `None` for other n.
    pub const fn cdw(&self, n: usize) -> Option<u32> {
        Some(match n {
            2 => self.cdw2,
            3 => self.cdw3,
            10 => self.cdw10,
            11 => self.cdw11,
            12 => self.cdw12,
            13 => self.cdw13,
            14 => self.cdw14,
            15 => self.cdw15,
            _ => return None,
        })
    }
}
