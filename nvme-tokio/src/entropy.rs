//! The operating system's randomness, for the seeds nvme-fabric takes as inputs (the nonces of in-band
//! authentication): 32 bytes from `/dev/urandom` (the kernel's CSPRNG; nvme-tokio runs on Linux), read once per
//! host or target.

use std::fs::File;
use std::io::{self, Read};

/// 32 bytes from the operating system's CSPRNG.
pub fn seed() -> io::Result<[u8; 32]> {
    let mut s = [0u8; 32];
    File::open("/dev/urandom")?.read_exact(&mut s)?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    #[test]
    fn two_seeds_differ() {
        assert_ne!(super::seed().unwrap(), super::seed().unwrap());
    }
}
