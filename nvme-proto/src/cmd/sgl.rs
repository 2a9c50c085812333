//! SGL descriptors (16 bytes; [notes::commands §4](crate::notes::commands)): the forms NVMe/TCP uses in SGL1 (SQE bytes
//! 39:24).

use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::CmdError;

/// SGL descriptor identifier (descriptor byte 15): type in bits 7:4, subtype in bits 3:0. Open: every value
/// round-trips.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SglIdentifier(pub u8);

impl SglIdentifier {
    /// 0x01: Data Block, subtype Offset. Over TCP: in-capsule data, the address is an offset into it.
    pub const DATA_BLOCK_OFFSET: Self = Self(0x01);
    /// 0x00: Data Block, subtype Address.
    pub const DATA_BLOCK_ADDRESS: Self = Self(0x00);
    /// 0x5A: Transport SGL Data Block, subtype Transport specific. Over TCP: data moved by R2T/H2CData or C2HData
    /// (or no data at all when the length is 0).
    pub const TRANSPORT_DATA_BLOCK: Self = Self(0x5A);

    /// Descriptor type (bits 7:4): 0 Data Block, 1 Bit Bucket, 2 Segment, 3 Last Segment, 4 Keyed Data Block,
    /// 5 Transport SGL Data Block, 0xF vendor specific.
    pub const fn sgl_type(self) -> u8 {
        self.0 >> 4
    }

    /// Descriptor subtype (bits 3:0): 0 Address, 1 Offset, 0xA Transport specific.
    pub const fn subtype(self) -> u8 {
        self.0 & 0xF
    }

    /// The identifier for `sgl_type` (low 4 bits used) and `subtype` (low 4 bits used).
    pub const fn from_parts(sgl_type: u8, subtype: u8) -> Self {
        Self(((sgl_type & 0xF) << 4) | (subtype & 0xF))
    }
}

/// Zero-copy view of a 16-byte SGL descriptor (unkeyed layout).
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct SglView {
    /// Bytes 7:0, Address (an offset into the in-capsule data for subtype Offset; 0 for 0x5A).
    pub address: U64,
    /// Bytes 11:8, Length in bytes (keyed descriptors use bytes 10:8 only).
    pub length: U32,
    /// Bytes 14:12, reserved (keyed descriptors: part of the key).
    pub reserved: [u8; 3],
    /// Byte 15, SGL identifier (type bits 7:4, subtype bits 3:0).
    pub identifier: u8,
}

const _: () = assert!(size_of::<SglView>() == 16);
const _: () = assert!(core::mem::offset_of!(SglView, length) == 8);
const _: () = assert!(core::mem::offset_of!(SglView, identifier) == 15);

/// An SGL descriptor (16 bytes), every byte kept so that any descriptor round-trips.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SglDescriptor {
    /// Bytes 7:0, Address (or offset into in-capsule data for subtype Offset).
    pub address: u64,
    /// Bytes 11:8, Length in bytes.
    pub length: u32,
    /// Bytes 14:12, reserved for unkeyed descriptors (kept as read).
    pub reserved: [u8; 3],
    /// Byte 15, SGL identifier.
    pub identifier: SglIdentifier,
}

impl SglDescriptor {
    /// Size of a descriptor on the wire.
    pub const LEN: usize = 16;

    /// "No data": Transport SGL Data Block (0x5A), address 0, length 0 (Keep Alive, AER, Property Get, CCR, ...).
    pub const NO_DATA: Self = Self::transport_data(0);

    /// Transport SGL Data Block (0x5A), address 0: `length` bytes moved by R2T/H2CData or C2HData.
    pub const fn transport_data(length: u32) -> Self {
        Self { address: 0, length, reserved: [0; 3], identifier: SglIdentifier::TRANSPORT_DATA_BLOCK }
    }

    /// Data Block with subtype Offset (0x01): `length` bytes of in-capsule data at `offset` into the capsule data
    /// (ICDOFF, 0 for Linux).
    pub const fn in_capsule(offset: u64, length: u32) -> Self {
        Self { address: offset, length, reserved: [0; 3], identifier: SglIdentifier::DATA_BLOCK_OFFSET }
    }

    /// `true` for the 0x5A transport data block.
    pub const fn is_transport_data(&self) -> bool {
        self.identifier.0 == SglIdentifier::TRANSPORT_DATA_BLOCK.0
    }

    /// `true` for the 0x01 in-capsule data block.
    pub const fn is_in_capsule(&self) -> bool {
        self.identifier.0 == SglIdentifier::DATA_BLOCK_OFFSET.0
    }

    /// Decodes the 16 bytes (every value accepted).
    pub fn from_bytes(bytes: &[u8; 16]) -> Self {
        let view: SglView = zerocopy::transmute!(*bytes);
        Self::from_view(&view)
    }

    /// Decodes the first 16 bytes of `buf`.
    pub fn parse(buf: &[u8]) -> Result<Self, CmdError> {
        let (view, _) = SglView::ref_from_prefix(buf).map_err(|_| CmdError::BufferTooShort { needed: Self::LEN })?;
        Ok(Self::from_view(view))
    }

    /// The representation of a view.
    pub fn from_view(view: &SglView) -> Self {
        Self {
            address: view.address.get(),
            length: view.length.get(),
            reserved: view.reserved,
            identifier: SglIdentifier(view.identifier),
        }
    }

    /// The view holding this descriptor.
    pub fn to_view(&self) -> SglView {
        SglView {
            address: U64::new(self.address),
            length: U32::new(self.length),
            reserved: self.reserved,
            identifier: self.identifier.0,
        }
    }

    /// The 16 bytes.
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
}

impl Default for SglDescriptor {
    /// [`SglDescriptor::NO_DATA`].
    fn default() -> Self {
        Self::NO_DATA
    }
}
