//! Namespace Identification Descriptor list (CNS 03h, 4096 bytes; [notes::commands §6.1.3](crate::notes::commands)):
//! descriptors packed one after the other (NIDT u8, NIDL u8, 2 reserved bytes, NIDL bytes of identifier), ended by
//! NIDL 0 or the end of the data.

use super::IDENTIFY_DATA_LEN;
use crate::cmd::CmdError;

/// Namespace identifier type (NIDT). Open: unknown types round-trip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Nidt(pub u8);

impl Nidt {
    /// 0x01 IEEE EUI-64, 8 bytes.
    pub const EUI64: Self = Self(0x01);
    /// 0x02 NGUID, 16 bytes.
    pub const NGUID: Self = Self(0x02);
    /// 0x03 UUID, 16 bytes.
    pub const UUID: Self = Self(0x03);
    /// 0x04 Command Set Identifier, 1 byte.
    pub const CSI: Self = Self(0x04);

    /// The NIDL a known type must carry; `None` for unknown types.
    pub const fn expected_len(self) -> Option<u8> {
        match self {
            Self::EUI64 => Some(8),
            Self::NGUID | Self::UUID => Some(16),
            Self::CSI => Some(1),
            _ => None,
        }
    }
}

/// One namespace identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NsIdentifier<'a> {
    /// NIDT 0x01.
    Eui64([u8; 8]),
    /// NIDT 0x02.
    Nguid([u8; 16]),
    /// NIDT 0x03.
    Uuid([u8; 16]),
    /// NIDT 0x04 (0 = NVM).
    Csi(u8),
    /// Any other type, with its identifier bytes (1..=255 of them).
    Unknown {
        /// The type.
        nidt: Nidt,
        /// The identifier bytes.
        nid: &'a [u8],
    },
}

impl<'a> NsIdentifier<'a> {
    /// The type.
    pub const fn nidt(&self) -> Nidt {
        match self {
            Self::Eui64(_) => Nidt::EUI64,
            Self::Nguid(_) => Nidt::NGUID,
            Self::Uuid(_) => Nidt::UUID,
            Self::Csi(_) => Nidt::CSI,
            Self::Unknown { nidt, .. } => *nidt,
        }
    }

    /// The identifier bytes.
    pub fn nid(&self) -> &[u8] {
        match self {
            Self::Eui64(v) => v,
            Self::Nguid(v) | Self::Uuid(v) => v,
            Self::Csi(v) => core::slice::from_ref(v),
            Self::Unknown { nid, .. } => nid,
        }
    }

    /// Bytes the descriptor takes: 4 + NIDL.
    pub fn buffer_len(&self) -> usize {
        4 + self.nid().len()
    }
}

/// Zero-copy view of a descriptor list. The iterator checks each descriptor as it goes: one that runs past the 4096
/// bytes, or a known type with the wrong NIDL (which the Linux host also rejects), yields an error and ends the
/// iteration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NsDescriptorList<'a> {
    buf: &'a [u8],
}

impl<'a> NsDescriptorList<'a> {
    /// Wraps the first 4096 bytes of `buf`.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, CmdError> {
        let buf = buf.get(..IDENTIFY_DATA_LEN).ok_or(CmdError::BufferTooShort { needed: IDENTIFY_DATA_LEN })?;
        Ok(Self { buf })
    }

    /// The descriptors in order; each item is a descriptor or the error that ends the list.
    pub fn iter(&self) -> NsDescriptorIter<'a> {
        NsDescriptorIter { buf: self.buf, pos: 0, done: false }
    }

    /// Writes the 4096-byte list for `ids`, zero-filled after them (the zero NIDL terminates the list); returns
    /// 4096. Descriptors that do not fit in 4096 bytes give [`CmdError::TooManyEntries`]; a known type with the
    /// wrong length, or an unknown one with an empty or over-long identifier, gives [`CmdError::InvalidField`].
    pub fn emit(ids: &[NsIdentifier<'_>], buf: &mut [u8]) -> Result<usize, CmdError> {
        let out = buf.get_mut(..IDENTIFY_DATA_LEN).ok_or(CmdError::BufferTooShort { needed: IDENTIFY_DATA_LEN })?;
        let mut total = 0usize;
        for (fitting, id) in ids.iter().enumerate() {
            total += id.buffer_len();
            if total > IDENTIFY_DATA_LEN {
                return Err(CmdError::TooManyEntries { count: ids.len(), max: fitting });
            }
        }
        out.fill(0);
        let mut pos = 0;
        for id in ids {
            let nid = id.nid();
            let nidl = u8::try_from(nid.len()).map_err(|_| CmdError::InvalidField { offset: pos + 1 })?;
            if nidl == 0 || id.nidt().expected_len().is_some_and(|l| l != nidl) {
                return Err(CmdError::InvalidField { offset: pos + 1 });
            }
            out[pos] = id.nidt().0;
            out[pos + 1] = nidl;
            out[pos + 4..pos + 4 + nid.len()].copy_from_slice(nid);
            pos += 4 + nid.len();
        }
        Ok(IDENTIFY_DATA_LEN)
    }
}

/// Iterator over a [`NsDescriptorList`].
#[derive(Clone, Debug)]
pub struct NsDescriptorIter<'a> {
    buf: &'a [u8],
    pos: usize,
    done: bool,
}

impl<'a> Iterator for NsDescriptorIter<'a> {
    type Item = Result<NsIdentifier<'a>, CmdError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let start = self.pos;
        let Some(&[nidt, nidl, _, _]) = self.buf.get(start..start + 4) else {
            // Fewer than 4 bytes left: the list ends here if they are zero padding; anything else is a cut header.
            self.done = true;
            let rest = self.buf.get(start..).unwrap_or(&[]);
            return if rest.iter().all(|&b| b == 0) {
                None
            } else {
                Some(Err(CmdError::InvalidField { offset: start }))
            };
        };
        if nidl == 0 {
            self.done = true;
            return None;
        }
        let nidt = Nidt(nidt);
        let Some(nid) = self.buf.get(start + 4..start + 4 + usize::from(nidl)) else {
            self.done = true;
            return Some(Err(CmdError::InvalidField { offset: start + 1 }));
        };
        if nidt.expected_len().is_some_and(|l| l != nidl) {
            self.done = true;
            return Some(Err(CmdError::InvalidField { offset: start + 1 }));
        }
        self.pos = start + 4 + usize::from(nidl);
        let id = match nidt {
            Nidt::EUI64 => nid.try_into().map(NsIdentifier::Eui64),
            Nidt::NGUID => nid.try_into().map(NsIdentifier::Nguid),
            Nidt::UUID => nid.try_into().map(NsIdentifier::Uuid),
            Nidt::CSI => Ok(NsIdentifier::Csi(nid[0])),
            _ => Ok(NsIdentifier::Unknown { nidt, nid }),
        };
        Some(id.map_err(|_| CmdError::InvalidField { offset: start + 1 }))
    }
}
