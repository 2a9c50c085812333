//! Active Namespace ID list (CNS 02h, 4096 bytes; [notes::commands §6.1.2](crate::notes::commands)): up to 1024 le32
//! NSIDs in increasing order, ended by the first 0.

use super::IDENTIFY_DATA_LEN;
use crate::cmd::CmdError;

/// Largest number of NSIDs in one list.
pub const NS_LIST_MAX: usize = 1024;

/// Zero-copy view of an active namespace ID list.
///
/// [`new_checked`](Self::new_checked) proves the buffer is 4096 bytes and the NSIDs before the first 0 are strictly
/// increasing (the host continues from the last one when the list is full, so order matters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NamespaceList<'a> {
    buf: &'a [u8],
    len: usize,
}

impl<'a> NamespaceList<'a> {
    /// Checks the first 4096 bytes of `buf`: a decrease or repeat before the terminating 0 is
    /// [`CmdError::InvalidField`] at the offending entry's byte offset. Entries after the first 0 are ignored.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, CmdError> {
        let buf = buf.get(..IDENTIFY_DATA_LEN).ok_or(CmdError::BufferTooShort { needed: IDENTIFY_DATA_LEN })?;
        let mut len = 0;
        let mut last = 0u32;
        for (i, chunk) in buf.chunks_exact(4).enumerate() {
            let nsid = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            if nsid == 0 {
                break;
            }
            if nsid <= last {
                return Err(CmdError::InvalidField { offset: i * 4 });
            }
            last = nsid;
            len = i + 1;
        }
        Ok(Self { buf, len })
    }

    /// Number of NSIDs in the list.
    pub fn len(&self) -> usize {
        self.len
    }

    /// `true` when the list has no NSID.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `true` when all 1024 entries are used: ask again starting after [`last`](Self::last).
    pub fn is_full(&self) -> bool {
        self.len == NS_LIST_MAX
    }

    /// The last NSID of the list.
    pub fn last(&self) -> Option<u32> {
        self.iter().last()
    }

    /// The NSIDs in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = u32> + 'a {
        self.buf.chunks_exact(4).take(self.len).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
    }

    /// Writes the 4096-byte list for `nsids` (strictly increasing, none 0; otherwise [`CmdError::InvalidField`]
    /// at the entry's offset), zero-filled after them; returns 4096. More than 1024 is
    /// [`CmdError::TooManyEntries`].
    pub fn emit(nsids: &[u32], buf: &mut [u8]) -> Result<usize, CmdError> {
        if nsids.len() > NS_LIST_MAX {
            return Err(CmdError::TooManyEntries { count: nsids.len(), max: NS_LIST_MAX });
        }
        let mut last = 0u32;
        for (i, &nsid) in nsids.iter().enumerate() {
            if nsid <= last {
                return Err(CmdError::InvalidField { offset: i * 4 });
            }
            last = nsid;
        }
        let out = buf.get_mut(..IDENTIFY_DATA_LEN).ok_or(CmdError::BufferTooShort { needed: IDENTIFY_DATA_LEN })?;
        out.fill(0);
        for (slot, nsid) in out.chunks_exact_mut(4).zip(nsids) {
            slot.copy_from_slice(&nsid.to_le_bytes());
        }
        Ok(IDENTIFY_DATA_LEN)
    }
}
