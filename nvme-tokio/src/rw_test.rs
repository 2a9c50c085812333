//! The seed's `rw_test` ([`nvme_ccr::notes::ccr_cqt`] §10) over a [`Multipath`] host: per iteration ten 4096-byte
//! writes to offset 0, write i filled with byte i, a pause, a read of 4096 bytes at offset 0 that must be all 9, a
//! pause.
//! Same output lines, same streams and same exit status as the seed's program.

use std::io::Write;
use std::time::Duration;

use crate::host::Multipath;

/// Bytes per write and per read.
pub const RW_BYTES: usize = 4096;
/// Writes per iteration.
pub const RW_WRITES: u8 = 10;
/// errno printed for a failed I/O (EIO), as `pwrite`/`pread` would set it.
pub const ERRNO_EIO: i32 = 5;
/// errno printed for an I/O that did not complete within [`RwTestParams::io_timeout`] (ETIMEDOUT).
pub const ERRNO_ETIMEDOUT: i32 = 110;

/// rw_test's knobs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RwTestParams {
    /// Iterations (the seed: 255).
    pub iterations: u32,
    /// Pause after the ten writes (the seed: 5 s).
    pub pause_after_writes: Duration,
    /// Pause after the check (the seed: 3 s).
    pub pause_after_check: Duration,
    /// An I/O that takes longer fails the test (ours; the seed blocks forever).
    pub io_timeout: Duration,
}

impl Default for RwTestParams {
    fn default() -> Self {
        RwTestParams {
            iterations: 255,
            pause_after_writes: Duration::from_secs(5),
            pause_after_check: Duration::from_secs(3),
            io_timeout: Duration::from_secs(120),
        }
    }
}

/// Runs rw_test on `mp`; progress lines go to `out`, error lines to `err`. Returns the exit status: 0 when every
/// iteration validated, 1 at the first failure (the test stops there).
pub async fn run(mp: &Multipath, p: &RwTestParams, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let bs = mp.namespace().block_size as usize;
    if bs == 0 || !RW_BYTES.is_multiple_of(bs) {
        let _ = writeln!(err, "failed to allocate buffer, ret = {}", 22);
        return 1;
    }
    for i in 0..p.iterations {
        let _ = writeln!(out, "iteration number {i}, writing data");
        let _ = out.flush();
        for k in 0..RW_WRITES {
            let buf = [k; RW_BYTES];
            match tokio::time::timeout(p.io_timeout, mp.write(0, &buf)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => {
                    let _ = writeln!(err, "failed to write buff, ret = -1, errno = {ERRNO_EIO}");
                    return 1;
                }
                Err(_) => {
                    let _ = writeln!(err, "failed to write buff, ret = -1, errno = {ERRNO_ETIMEDOUT}");
                    return 1;
                }
            }
        }
        tokio::time::sleep(p.pause_after_writes).await;
        let _ = writeln!(out, "validating written data");
        let _ = out.flush();
        let data = match tokio::time::timeout(p.io_timeout, mp.read(0, RW_BYTES)).await {
            Ok(Ok(d)) => d,
            Ok(Err(_)) => {
                let _ = writeln!(err, "failed to read buff, ret = -1, errno = {ERRNO_EIO}");
                return 1;
            }
            Err(_) => {
                let _ = writeln!(err, "failed to read buff, ret = -1, errno = {ERRNO_ETIMEDOUT}");
                return 1;
            }
        };
        if data.len() != RW_BYTES || data.iter().any(|&b| b != RW_WRITES - 1) {
            let _ = writeln!(err, "validation failed");
            return 1;
        }
        let _ = writeln!(out, "successfully validated");
        let _ = out.flush();
        tokio::time::sleep(p.pause_after_check).await;
    }
    0
}
