//! The target's one namespace: in memory, or backed by a file (positioned reads and writes).

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Mutex;

/// Where the namespace keeps its blocks.
#[derive(Debug)]
enum Store {
    /// A zero-filled buffer.
    Memory(Mutex<Vec<u8>>),
    /// A regular file, read and written in place (its length is the namespace size).
    File(File),
}

/// One namespace: `blocks` logical blocks of `block_size` bytes.
#[derive(Debug)]
pub struct Namespace {
    block_size: u32,
    blocks: u64,
    store: Store,
}

impl Namespace {
    /// An in-memory namespace of `blocks` blocks of `block_size` bytes (a power of two, 512..=4096), zero-filled.
    pub fn memory(block_size: u32, blocks: u64) -> io::Result<Namespace> {
        check_block_size(block_size)?;
        if blocks == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "a namespace needs at least one block"));
        }
        let too_large = || {
            io::Error::new(
                io::ErrorKind::OutOfMemory,
                format!(
                    "cannot hold a namespace of {blocks} blocks of {block_size} bytes in memory (back it with a file)"
                ),
            )
        };
        let len =
            blocks.checked_mul(u64::from(block_size)).and_then(|l| usize::try_from(l).ok()).ok_or_else(too_large)?;
        // Reserved before it is filled, so that a size the machine cannot hold is an error, not an abort.
        let mut bytes = Vec::new();
        bytes.try_reserve_exact(len).map_err(|_| too_large())?;
        bytes.resize(len, 0);
        Ok(Namespace { block_size, blocks, store: Store::Memory(Mutex::new(bytes)) })
    }

    /// A namespace backed by the file at `path` (created if missing; a new or shorter file is extended to
    /// `blocks` blocks).
    pub fn file(path: &Path, block_size: u32, blocks: u64) -> io::Result<Namespace> {
        check_block_size(block_size)?;
        let len = blocks
            .checked_mul(u64::from(block_size))
            .filter(|_| blocks > 0)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("impossible size: {blocks} blocks")))?;
        let f = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        if f.metadata()?.len() < len {
            f.set_len(len)?;
        }
        Ok(Namespace { block_size, blocks, store: Store::File(f) })
    }

    /// Logical block size in bytes.
    pub fn block_size(&self) -> u32 {
        self.block_size
    }

    /// Number of logical blocks.
    pub fn blocks(&self) -> u64 {
        self.blocks
    }

    /// Whether `count` blocks from `slba` lie inside the namespace.
    pub fn in_range(&self, slba: u64, count: u64) -> bool {
        slba.checked_add(count).is_some_and(|end| end <= self.blocks)
    }

    fn offset(&self, slba: u64) -> u64 {
        slba * u64::from(self.block_size)
    }

    /// Reads `buf.len()` bytes from block `slba` (the caller checked the range).
    pub fn read(&self, slba: u64, buf: &mut [u8]) -> io::Result<()> {
        let off = self.offset(slba);
        match &self.store {
            Store::Memory(m) => {
                let m = m.lock().map_err(|_| io::Error::other("namespace lock poisoned"))?;
                let off = off as usize;
                let src = m.get(off..off + buf.len()).ok_or_else(|| io::Error::other("read out of range"))?;
                buf.copy_from_slice(src);
                Ok(())
            }
            Store::File(f) => f.read_exact_at(buf, off),
        }
    }

    /// Writes `data` at block `slba` (the caller checked the range).
    pub fn write(&self, slba: u64, data: &[u8]) -> io::Result<()> {
        let off = self.offset(slba);
        match &self.store {
            Store::Memory(m) => {
                let mut m = m.lock().map_err(|_| io::Error::other("namespace lock poisoned"))?;
                let off = off as usize;
                let dst = m.get_mut(off..off + data.len()).ok_or_else(|| io::Error::other("write out of range"))?;
                dst.copy_from_slice(data);
                Ok(())
            }
            Store::File(f) => f.write_all_at(data, off),
        }
    }

    /// Makes written data durable (a file's `sync_data`; nothing for memory).
    pub fn flush(&self) -> io::Result<()> {
        match &self.store {
            Store::Memory(_) => Ok(()),
            Store::File(f) => f.sync_data(),
        }
    }
}

fn check_block_size(bs: u32) -> io::Result<()> {
    if bs.is_power_of_two() && (512..=4096).contains(&bs) {
        Ok(())
    } else {
        Err(io::Error::new(io::ErrorKind::InvalidInput, "block size must be 512, 1024, 2048 or 4096"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn impossible_sizes_are_errors() {
        for (blocks, kind) in [(0, io::ErrorKind::InvalidInput), (u64::MAX / 512, io::ErrorKind::OutOfMemory)] {
            assert_eq!(Namespace::memory(512, blocks).err().map(|e| e.kind()), Some(kind), "{blocks}");
        }
        let e = Namespace::memory(512, u64::MAX).err().unwrap();
        assert!(e.to_string().contains("back it with a file"), "{e}");
        let path = std::env::temp_dir().join("nvme-tokio-ns-never-created");
        assert!(Namespace::file(&path, 512, u64::MAX).is_err() && !path.exists());
    }

    #[test]
    fn memory_and_file_namespaces_keep_what_is_written() {
        let dir = std::env::temp_dir().join(format!("nvme-tokio-ns-{}", std::process::id()));
        let file = Namespace::file(&dir, 512, 16).unwrap();
        for ns in [Namespace::memory(512, 16).unwrap(), file] {
            assert!(ns.in_range(15, 1) && !ns.in_range(15, 2) && !ns.in_range(u64::MAX, 2));
            ns.write(3, &[7u8; 1024]).unwrap();
            let mut back = [0u8; 1536];
            ns.read(2, &mut back).unwrap();
            assert_eq!(&back[..512], &[0u8; 512][..]);
            assert_eq!(&back[512..], &[7u8; 1024][..]);
            ns.flush().unwrap();
        }
        let _ = std::fs::remove_file(&dir);
        assert!(Namespace::memory(1000, 1).is_err());
    }
}
