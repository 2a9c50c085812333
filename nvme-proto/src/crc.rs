//! CRC-32C (Castagnoli, "CRC-32/ISCSI"): the NVMe/TCP header and data digest.
//!
//! Parameters ([notes::tcp §5.1](crate::notes::tcp)): polynomial 0x1EDC6F41 (reflected 0x82F63B78), init 0xFFFFFFFF,
//! RefIn/RefOut true, XorOut 0xFFFFFFFF, check value 0xE3069283 for `"123456789"`. The digest goes on the wire as a
//! little-endian u32. The computation is done by the `crc-fast` crate (SIMD where the CPU has it).

/// CRC-32C of `data` in one call.
#[inline]
pub fn crc32c(data: &[u8]) -> u32 {
    crc_fast::crc32_iscsi(data)
}

/// Incremental CRC-32C, for data that arrives in pieces. `Crc32c::new().update(a).update(b).finish()` equals
/// `crc32c(a ++ b)`.
#[derive(Clone, Copy, Debug)]
pub struct Crc32c(crc_fast::Digest);

impl Default for Crc32c {
    fn default() -> Self {
        Self::new()
    }
}

impl Crc32c {
    /// A fresh digest (no bytes yet).
    pub fn new() -> Self {
        Self(crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32Iscsi))
    }

    /// Feeds more bytes.
    pub fn update(&mut self, data: &[u8]) -> &mut Self {
        self.0.update(data);
        self
    }

    /// The CRC-32C of every byte fed so far.
    pub fn finish(&self) -> u32 {
        self.0.finalize() as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value_and_incremental() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(b""), 0);
        assert_eq!(Crc32c::new().update(b"1234").update(b"56789").finish(), 0xE306_9283);
    }
}
