//! Identify Namespace data structure (CNS 00h, 4096 bytes; [notes::commands §6.1.1](crate::notes::commands)).

use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::IDENTIFY_DATA_LEN;
use crate::cmd::CmdError;

/// Number of LBA format entries (NVMe 2.0 and later).
pub const LBA_FORMATS: usize = 64;

/// Zero-copy view of the 4096-byte Identify Namespace structure. Any 4096 bytes are a valid view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct IdentifyNamespaceView {
    /// Bytes 7:0, NSZE: namespace size, logical blocks.
    pub nsze: U64,
    /// Bytes 15:8, NCAP: capacity, logical blocks; 0 = the NSID is not active.
    pub ncap: U64,
    /// Bytes 23:16, NUSE: logical blocks in use.
    pub nuse: U64,
    /// Byte 24, NSFEAT.
    pub nsfeat: u8,
    /// Byte 25, NLBAF: number of LBA formats, **0's based**.
    pub nlbaf: u8,
    /// Byte 26, FLBAS: bits 3:0 format index, bit 4 extended LBA, bits 6:5 index bits 5:4.
    pub flbas: u8,
    /// Byte 27, MC: metadata capabilities.
    pub mc: u8,
    /// Byte 28, DPC: end-to-end protection capabilities.
    pub dpc: u8,
    /// Byte 29, DPS: protection settings.
    pub dps: u8,
    /// Byte 30, NMIC: bit 0 shared namespace.
    pub nmic: u8,
    /// Byte 31, RESCAP.
    pub rescap: u8,
    /// Byte 32, FPI.
    pub fpi: u8,
    /// Byte 33, DLFEAT.
    pub dlfeat: u8,
    /// Bytes 35:34, NAWUN.
    pub nawun: U16,
    /// Bytes 37:36, NAWUPF.
    pub nawupf: U16,
    /// Bytes 39:38, NACWU.
    pub nacwu: U16,
    /// Bytes 41:40, NABSN.
    pub nabsn: U16,
    /// Bytes 43:42, NABO.
    pub nabo: U16,
    /// Bytes 45:44, NABSPF.
    pub nabspf: U16,
    /// Bytes 47:46, NOIOB.
    pub noiob: U16,
    /// Bytes 63:48, NVMCAP (128-bit bytes).
    pub nvmcap: [u8; 16],
    /// Bytes 65:64, NPWG.
    pub npwg: U16,
    /// Bytes 67:66, NPWA.
    pub npwa: U16,
    /// Bytes 69:68, NPDG.
    pub npdg: U16,
    /// Bytes 71:70, NPDA.
    pub npda: U16,
    /// Bytes 73:72, NOWS.
    pub nows: U16,
    /// Bytes 75:74, MSSRL.
    pub mssrl: U16,
    /// Bytes 79:76, MCL.
    pub mcl: U32,
    /// Byte 80, MSRC.
    pub msrc: u8,
    /// Bytes 91:81, reserved in Linux's struct (later revisions define fields; unconfirmed which).
    pub rsvd81: [u8; 11],
    /// Bytes 95:92, ANAGRPID.
    pub anagrpid: U32,
    /// Bytes 98:96, reserved.
    pub rsvd96: [u8; 3],
    /// Byte 99, NSATTR: bit 0 write protected.
    pub nsattr: u8,
    /// Bytes 101:100, NVMSETID.
    pub nvmsetid: U16,
    /// Bytes 103:102, ENDGID.
    pub endgid: U16,
    /// Bytes 119:104, NGUID (0 = not reported).
    pub nguid: [u8; 16],
    /// Bytes 127:120, EUI64 (0 = not reported).
    pub eui64: [u8; 8],
    /// Bytes 383:128, LBAF0–LBAF63: 4 bytes each (MS 15:0, LBADS 23:16, RP 25:24).
    pub lbaf: [U32; LBA_FORMATS],
    /// Bytes 4095:384, vendor specific.
    pub vs: [u8; 3712],
}

const _: () = assert!(size_of::<IdentifyNamespaceView>() == IDENTIFY_DATA_LEN);
const _: () = assert!(core::mem::offset_of!(IdentifyNamespaceView, ncap) == 8);
const _: () = assert!(core::mem::offset_of!(IdentifyNamespaceView, nuse) == 16);
const _: () = assert!(core::mem::offset_of!(IdentifyNamespaceView, nlbaf) == 25);
const _: () = assert!(core::mem::offset_of!(IdentifyNamespaceView, flbas) == 26);
const _: () = assert!(core::mem::offset_of!(IdentifyNamespaceView, nmic) == 30);
const _: () = assert!(core::mem::offset_of!(IdentifyNamespaceView, nvmcap) == 48);
const _: () = assert!(core::mem::offset_of!(IdentifyNamespaceView, msrc) == 80);
const _: () = assert!(core::mem::offset_of!(IdentifyNamespaceView, anagrpid) == 92);
const _: () = assert!(core::mem::offset_of!(IdentifyNamespaceView, nsattr) == 99);
const _: () = assert!(core::mem::offset_of!(IdentifyNamespaceView, nguid) == 104);
const _: () = assert!(core::mem::offset_of!(IdentifyNamespaceView, eui64) == 120);
const _: () = assert!(core::mem::offset_of!(IdentifyNamespaceView, lbaf) == 128);
const _: () = assert!(core::mem::offset_of!(IdentifyNamespaceView, vs) == 384);

impl IdentifyNamespaceView {
    /// Casts the first 4096 bytes of `buf`.
    pub fn ref_from_buf(buf: &[u8]) -> Result<&Self, CmdError> {
        Self::ref_from_prefix(buf).map(|(v, _)| v).map_err(|_| CmdError::BufferTooShort { needed: IDENTIFY_DATA_LEN })
    }
}

/// One LBA format entry (4 bytes): bits 15:0 MS, 23:16 LBADS, 25:24 RP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct LbaFormat {
    /// Bits 15:0, MS: metadata bytes per block.
    pub ms: u16,
    /// Bits 23:16, LBADS: data size as a power of two (9 = 512 bytes, 12 = 4096).
    pub lbads: u8,
    /// Bits 25:24, RP: relative performance (0 best).
    pub rp: u8,
}

impl LbaFormat {
    /// 512-byte blocks, no metadata.
    pub const LBA_512: Self = Self { ms: 0, lbads: 9, rp: 0 };
    /// 4096-byte blocks, no metadata.
    pub const LBA_4096: Self = Self { ms: 0, lbads: 12, rp: 0 };

    /// Decodes the 4-byte entry (reserved bits 31:26 dropped).
    pub const fn from_u32(v: u32) -> Self {
        Self { ms: v as u16, lbads: (v >> 16) as u8, rp: ((v >> 24) & 0x3) as u8 }
    }

    /// Encodes the entry.
    pub const fn to_u32(&self) -> u32 {
        self.ms as u32 | (self.lbads as u32) << 16 | ((self.rp & 0x3) as u32) << 24
    }

    /// Block size in bytes, `None` when LBADS is below 9 (512 bytes, the minimum) or above 31.
    pub const fn block_size(&self) -> Option<u32> {
        if self.lbads < 9 || self.lbads > 31 { None } else { Some(1 << self.lbads) }
    }
}

/// The Identify Namespace fields this project uses, validated: NLBAF ≤ 63 and the FLBAS format index ≤ NLBAF.
/// [`emit`](Self::emit) writes a full 4096-byte structure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IdentifyNamespace {
    /// Bytes 7:0, NSZE.
    pub nsze: u64,
    /// Bytes 15:8, NCAP (0 = not active).
    pub ncap: u64,
    /// Bytes 23:16, NUSE.
    pub nuse: u64,
    /// Byte 24, NSFEAT.
    pub nsfeat: u8,
    /// Byte 26, FLBAS (bits 3:0 and 6:5 the format index, bit 4 extended LBA).
    pub flbas: u8,
    /// Byte 27, MC.
    pub mc: u8,
    /// Byte 28, DPC.
    pub dpc: u8,
    /// Byte 29, DPS.
    pub dps: u8,
    /// Byte 30, NMIC (bit 0 shared: required on every controller for multipath).
    pub nmic: u8,
    /// Byte 31, RESCAP.
    pub rescap: u8,
    /// Bytes 95:92, ANAGRPID.
    pub anagrpid: u32,
    /// Byte 99, NSATTR.
    pub nsattr: u8,
    /// Bytes 119:104, NGUID.
    pub nguid: [u8; 16],
    /// Bytes 127:120, EUI64.
    pub eui64: [u8; 8],
    /// Number of valid LBA formats (NLBAF + 1, 1..=64); entries past it are emitted as 0.
    pub lbaf_count: u8,
    /// LBA formats 0..lbaf_count.
    pub lbaf: [LbaFormat; LBA_FORMATS],
}

impl IdentifyNamespace {
    /// Size on the wire.
    pub const LEN: usize = IDENTIFY_DATA_LEN;
    /// NMIC bit 0: shared namespace.
    pub const NMIC_SHARED: u8 = 1;

    /// A shared namespace of `blocks` blocks of one LBA format (index 0), like Linux nvmet reports it
    /// (NSZE = NCAP = NUSE, NMIC shared).
    pub const fn new(blocks: u64, format: LbaFormat) -> Self {
        let mut lbaf = [LbaFormat { ms: 0, lbads: 0, rp: 0 }; LBA_FORMATS];
        lbaf[0] = format;
        Self {
            nsze: blocks,
            ncap: blocks,
            nuse: blocks,
            nsfeat: 0,
            flbas: 0,
            mc: 0,
            dpc: 0,
            dps: 0,
            nmic: Self::NMIC_SHARED,
            rescap: 0,
            anagrpid: 0,
            nsattr: 0,
            nguid: [0; 16],
            eui64: [0; 8],
            lbaf_count: 1,
            lbaf,
        }
    }

    /// The format index FLBAS selects (bits 3:0, plus bits 6:5 as index bits 5:4).
    pub const fn format_index(&self) -> u8 {
        (self.flbas & 0xF) | ((self.flbas >> 5) & 0x3) << 4
    }

    /// The LBA format in use.
    pub const fn format(&self) -> LbaFormat {
        self.lbaf[(self.format_index() & 0x3F) as usize]
    }

    /// `true` when NCAP is 0: the namespace is not active (or not attached).
    pub const fn is_inactive(&self) -> bool {
        self.ncap == 0
    }

    /// Parses the first 4096 bytes of `buf`. NLBAF above 63 is [`CmdError::InvalidField`] at 25; a format index
    /// above NLBAF at 26 (except in an all-zero, inactive structure, where index 0 of NLBAF 0 is valid anyway).
    pub fn parse(buf: &[u8]) -> Result<Self, CmdError> {
        let v = IdentifyNamespaceView::ref_from_buf(buf)?;
        if usize::from(v.nlbaf) >= LBA_FORMATS {
            return Err(CmdError::InvalidField { offset: 25 });
        }
        let count = v.nlbaf + 1;
        let mut lbaf = [LbaFormat::default(); LBA_FORMATS];
        for (dst, src) in lbaf.iter_mut().zip(v.lbaf.iter()).take(usize::from(count)) {
            *dst = LbaFormat::from_u32(src.get());
        }
        let ns = Self {
            nsze: v.nsze.get(),
            ncap: v.ncap.get(),
            nuse: v.nuse.get(),
            nsfeat: v.nsfeat,
            flbas: v.flbas,
            mc: v.mc,
            dpc: v.dpc,
            dps: v.dps,
            nmic: v.nmic,
            rescap: v.rescap,
            anagrpid: v.anagrpid.get(),
            nsattr: v.nsattr,
            nguid: v.nguid,
            eui64: v.eui64,
            lbaf_count: count,
            lbaf,
        };
        if ns.format_index() > v.nlbaf {
            return Err(CmdError::InvalidField { offset: 26 });
        }
        Ok(ns)
    }

    /// Writes the 4096-byte structure at the start of `buf`; returns 4096. `lbaf_count` outside 1..=64 or a format
    /// index at or past it gives [`CmdError::InvalidField`] (offset 25 or 26).
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, CmdError> {
        if self.lbaf_count == 0 || usize::from(self.lbaf_count) > LBA_FORMATS {
            return Err(CmdError::InvalidField { offset: 25 });
        }
        if self.format_index() >= self.lbaf_count {
            return Err(CmdError::InvalidField { offset: 26 });
        }
        let out = buf.get_mut(..Self::LEN).ok_or(CmdError::BufferTooShort { needed: Self::LEN })?;
        let v =
            IdentifyNamespaceView::mut_from_bytes(out).map_err(|_| CmdError::BufferTooShort { needed: Self::LEN })?;
        v.zero();
        v.nsze.set(self.nsze);
        v.ncap.set(self.ncap);
        v.nuse.set(self.nuse);
        v.nsfeat = self.nsfeat;
        v.nlbaf = self.lbaf_count - 1;
        v.flbas = self.flbas;
        v.mc = self.mc;
        v.dpc = self.dpc;
        v.dps = self.dps;
        v.nmic = self.nmic;
        v.rescap = self.rescap;
        v.anagrpid.set(self.anagrpid);
        v.nsattr = self.nsattr;
        v.nguid = self.nguid;
        v.eui64 = self.eui64;
        for (dst, src) in v.lbaf.iter_mut().zip(self.lbaf.iter()).take(usize::from(self.lbaf_count)) {
            dst.set(src.to_u32());
        }
        Ok(Self::LEN)
    }

    /// Bytes [`emit`](Self::emit) writes: 4096.
    pub const fn buffer_len(&self) -> usize {
        Self::LEN
    }
}
