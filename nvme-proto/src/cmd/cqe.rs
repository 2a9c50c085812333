//! The 16-byte Completion Queue Entry ([notes::commands §2](crate::notes::commands)).

use zerocopy::little_endian::{U16, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::CmdError;
use super::status::Status;

/// Zero-copy view of a 16-byte CQE. Any 16 bytes are a valid view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct CqeView {
    /// Bytes 3:0, DW0: command specific result.
    pub dw0: U32,
    /// Bytes 7:4, DW1: command specific (Property Get of 8 bytes: the high dword).
    pub dw1: U32,
    /// Bytes 9:8, SQHD: submission queue head pointer (0xFFFF from Linux nvmet when SQ flow control is disabled).
    pub sqhd: U16,
    /// Bytes 11:10, SQID: submission queue identifier.
    pub sqid: U16,
    /// Bytes 13:12, CID of the completed command.
    pub cid: U16,
    /// Bytes 15:14, phase tag (bit 0) and status field (see [`Status`]).
    pub status: U16,
}

const _: () = assert!(size_of::<CqeView>() == 16);
const _: () = assert!(core::mem::offset_of!(CqeView, sqhd) == 8);
const _: () = assert!(core::mem::offset_of!(CqeView, cid) == 12);
const _: () = assert!(core::mem::offset_of!(CqeView, status) == 14);

/// A Completion Queue Entry. The phase tag is not kept (fabrics completions do not use it): it is ignored on
/// decode and sent as 0, so bytes round-trip except for bit 0 of byte 14.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cqe {
    /// Bytes 3:0, DW0: command specific result.
    pub dw0: u32,
    /// Bytes 7:4, DW1: command specific.
    pub dw1: u32,
    /// Bytes 9:8, SQHD.
    pub sqhd: u16,
    /// Bytes 11:10, SQID.
    pub sqid: u16,
    /// Bytes 13:12, CID.
    pub cid: u16,
    /// Bytes 15:14, status field (phase tag excluded).
    pub status: Status,
}

impl Cqe {
    /// Size of a CQE on the wire.
    pub const LEN: usize = 16;

    /// A completion of `cid` with `status`, DW0 = DW1 = 0, SQHD and SQID 0.
    pub const fn new(cid: u16, status: Status) -> Self {
        Self { dw0: 0, dw1: 0, sqhd: 0, sqid: 0, cid, status }
    }

    /// Decodes 16 bytes (every value accepted; the phase tag is dropped).
    pub fn from_bytes(bytes: &[u8; 16]) -> Self {
        let view: CqeView = zerocopy::transmute!(*bytes);
        Self::from_view(&view)
    }

    /// Decodes the first 16 bytes of `buf`.
    pub fn parse(buf: &[u8]) -> Result<Self, CmdError> {
        let (view, _) = CqeView::ref_from_prefix(buf).map_err(|_| CmdError::BufferTooShort { needed: Self::LEN })?;
        Ok(Self::from_view(view))
    }

    /// The representation of a view.
    pub fn from_view(v: &CqeView) -> Self {
        Self {
            dw0: v.dw0.get(),
            dw1: v.dw1.get(),
            sqhd: v.sqhd.get(),
            sqid: v.sqid.get(),
            cid: v.cid.get(),
            status: Status::from_word(v.status.get()),
        }
    }

    /// The view holding this CQE (phase tag 0).
    pub fn to_view(&self) -> CqeView {
        CqeView {
            dw0: U32::new(self.dw0),
            dw1: U32::new(self.dw1),
            sqhd: U16::new(self.sqhd),
            sqid: U16::new(self.sqid),
            cid: U16::new(self.cid),
            status: U16::new(self.status.to_word()),
        }
    }

    /// The 16 bytes (phase tag 0).
    pub fn to_bytes(&self) -> [u8; 16] {
        zerocopy::transmute!(self.to_view())
    }

    /// Writes the 16 bytes at the start of `buf`; returns 16.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, CmdError> {
        let out = buf.get_mut(..Self::LEN).ok_or(CmdError::BufferTooShort { needed: Self::LEN })?;
        out.copy_from_slice(self.to_view().as_bytes());
        Ok(Self::LEN)
    }

    /// Bytes [`emit`](Self::emit) writes: 16.
    pub const fn buffer_len(&self) -> usize {
        Self::LEN
    }

    /// DW0 and DW1 as one u64 (DW0 the low half): the result of an 8-byte Property Get.
    pub const fn result_u64(&self) -> u64 {
        (self.dw0 as u64) | ((self.dw1 as u64) << 32)
    }
}
