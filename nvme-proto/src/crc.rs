//! CRC-32C (Castagnoli, "CRC-32/ISCSI"): the NVMe/TCP header and data digest.
//!
//! Parameters ([notes::tcp §5.1](crate::notes::tcp)): polynomial 0x1EDC6F41 (reflected 0x82F63B78), init 0xFFFFFFFF,
//! RefIn/RefOut true, XorOut 0xFFFFFFFF, check value 0xE3069283 for `"123456789"`. The digest goes on the wire as a
//! little-endian u32.
//!
//! Two backends compute it, chosen per target; both give the same value for every input:
//!
//! * hosted targets: the `crc-fast` crate, which detects the CPU at run time and uses its CRC-32C instructions fused
//!   with carry-less multiplication (SSE4.2/PCLMULQDQ, AVX-512/VPCLMULQDQ on x86_64; CRC and PMULL on aarch64);
//! * bare-metal targets (`target_os = "none"`, where `crc-fast` does not build), and any target with the
//!   `portable-crc` feature: the `crc` crate's slice-by-16 table (16 KiB of constants, no_std, no allocation).
//!
//! [`BACKEND`] names the one compiled in. Why `crc-fast` and not the `crc32c` crate: BENCHMARKS.md (CRC-32C
//! backends), where both run on the same buffers in the same run.

#[cfg(any(feature = "portable-crc", target_os = "none"))]
mod imp {
    use crc::{CRC_32_ISCSI, Crc, Table};

    /// Slice-by-16: 16 tables of 256 entries, built at compile time.
    static CASTAGNOLI: Crc<u32, Table<16>> = Crc::<u32, Table<16>>::new(&CRC_32_ISCSI);

    pub(super) const NAME: &str = "crc (slice-by-16 table)";

    #[inline]
    pub(super) fn crc32c(data: &[u8]) -> u32 {
        CASTAGNOLI.checksum(data)
    }

    /// The running state: the CRC-32C of the bytes so far (finalised, so it is also the answer).
    #[derive(Clone, Copy, Debug)]
    pub(super) struct State(u32);

    impl State {
        pub(super) const fn new() -> Self {
            State(0)
        }

        pub(super) fn update(&mut self, data: &[u8]) {
            // Resume from the finalised value: undo XorOut; `digest_with_initial` reflects its argument (RefIn).
            let mut d = CASTAGNOLI.digest_with_initial((self.0 ^ CRC_32_ISCSI.xorout).reverse_bits());
            d.update(data);
            self.0 = d.finalize();
        }

        pub(super) fn finish(&self) -> u32 {
            self.0
        }
    }
}

#[cfg(not(any(feature = "portable-crc", target_os = "none")))]
mod imp {
    pub(super) const NAME: &str = "crc-fast (CPU CRC-32C instructions, detected at run time)";

    #[inline]
    pub(super) fn crc32c(data: &[u8]) -> u32 {
        crc_fast::crc32_iscsi(data)
    }

    #[derive(Clone, Copy, Debug)]
    pub(super) struct State(crc_fast::Digest);

    impl State {
        pub(super) fn new() -> Self {
            State(crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32Iscsi))
        }

        pub(super) fn update(&mut self, data: &[u8]) {
            self.0.update(data);
        }

        pub(super) fn finish(&self) -> u32 {
            self.0.finalize() as u32
        }
    }
}

/// The backend compiled in, for reports and benchmarks: `crc-fast` on hosted targets, the `crc` crate's table on
/// bare metal or with the `portable-crc` feature.
pub const BACKEND: &str = imp::NAME;

/// CRC-32C of `data` in one call.
#[inline]
pub fn crc32c(data: &[u8]) -> u32 {
    imp::crc32c(data)
}

/// Incremental CRC-32C, for data that arrives in pieces. `Crc32c::new().update(a).update(b).finish()` equals
/// `crc32c(a ++ b)`.
#[derive(Clone, Copy, Debug)]
pub struct Crc32c(imp::State);

impl Default for Crc32c {
    fn default() -> Self {
        Self::new()
    }
}

impl Crc32c {
    /// A fresh digest (no bytes yet).
    pub fn new() -> Self {
        Self(imp::State::new())
    }

    /// Feeds more bytes.
    pub fn update(&mut self, data: &[u8]) -> &mut Self {
        self.0.update(data);
        self
    }

    /// The CRC-32C of every byte fed so far.
    pub fn finish(&self) -> u32 {
        self.0.finish()
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
        assert_eq!(Crc32c::new().update(b"").update(b"123456789").update(b"").finish(), 0xE306_9283);
        assert_eq!(Crc32c::new().finish(), 0);
    }

    /// The published CRC-32C test patterns (RFC 3720 Appendix B.4, iSCSI): 32 bytes of zeros, of ones, ascending
    /// and descending.
    #[test]
    fn rfc3720_vectors() {
        let mut asc = [0u8; 32];
        let mut desc = [0u8; 32];
        for i in 0..32 {
            asc[i] = i as u8;
            desc[i] = 31 - i as u8;
        }
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(&[0xFFu8; 32]), 0x62A8_AB43);
        assert_eq!(crc32c(&asc), 0x46DD_794E);
        assert_eq!(crc32c(&desc), 0x113F_DB5C);
    }

    /// Both backends, side by side where both build: the same CRC for every length from 0 to 300 at every
    /// alignment within a word, for 4 KiB and 64 KiB + 3, and incrementally in uneven pieces.
    #[cfg(not(target_os = "none"))]
    #[test]
    fn backends_agree() {
        use crc::{CRC_32_ISCSI, Crc, Table};
        let table = Crc::<u32, Table<16>>::new(&CRC_32_ISCSI);
        let mut bytes = [0u8; 65_536 + 16];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = ((i as u32).wrapping_mul(2_654_435_761) >> 13) as u8;
        }
        for start in 0..8 {
            for len in 0..=300 {
                let d = &bytes[start..start + len];
                assert_eq!(crc_fast::crc32_iscsi(d), table.checksum(d), "start {start} len {len}");
            }
        }
        for len in [4096, 65_536 + 3] {
            let d = &bytes[1..1 + len];
            assert_eq!(crc_fast::crc32_iscsi(d), table.checksum(d), "len {len}");
            let mut inc = Crc32c::new();
            for piece in d.chunks(1000 + len % 7) {
                inc.update(piece);
            }
            assert_eq!(inc.finish(), table.checksum(d), "incremental, len {len}");
        }
    }
}
