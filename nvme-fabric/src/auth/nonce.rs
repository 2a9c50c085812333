//! [`NonceSource`]: every transaction's random inputs, derived from one seed the caller draws from a CSPRNG
//! (spec-notes/auth.md §3). The seed is the randomness; this is a keyed pseudo-random function over a counter, so a
//! host or a subsystem runs many transactions from one input, deterministically for a given seed.

use core::fmt;
use core::hash::{Hash, Hasher};

use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use super::hash::HashAlg;
use super::{ControllerNonces, HostNonces, PRIVATE_KEY_RANDOM_LEN};

/// Bytes of one draw: the challenge (64), the DH private bytes (64) and the sequence number (4).
const DRAW_LEN: usize = 64 + PRIVATE_KEY_RANDOM_LEN + 4;

/// The nonces, DH private bytes and sequence numbers of successive transactions, from a 32-byte seed.
///
/// Draw `n` (counting from 0) of a role is HMAC-SHA-512(seed, label || le64(n) || i) for i = 0, 1, 2, concatenated
/// and cut to 132 bytes (NIST SP 800-108's counter mode with HMAC as the PRF): the challenge, the private bytes, the
/// sequence number. The labels ("nvme-fabric host nonces", "nvme-fabric controller nonces") keep the two roles'
/// draws apart even under one seed.
///
/// **The seed is a secret and must be fresh**: 32 bytes from the operating system's CSPRNG for each host or
/// subsystem (two sources with one seed repeat each other's challenges and private exponents). The seed is wiped
/// on drop; `Debug` shows only how many draws were made. Equality compares the seed in constant time; `Hash` covers
/// the draw count only.
#[derive(Clone)]
pub struct NonceSource {
    seed: [u8; 32],
    drawn: u64,
}

impl NonceSource {
    /// A source over `seed` (from a CSPRNG; see the type's docs).
    pub const fn new(seed: [u8; 32]) -> Self {
        Self { seed, drawn: 0 }
    }

    /// The next host transaction's inputs.
    pub fn host_nonces(&mut self) -> HostNonces {
        let d = self.draw(b"nvme-fabric host nonces");
        let (challenge, dh_private, seqnum) = split(&d);
        HostNonces { challenge, dh_private, seqnum }
    }

    /// The next controller transaction's inputs.
    pub fn controller_nonces(&mut self) -> ControllerNonces {
        let d = self.draw(b"nvme-fabric controller nonces");
        let (challenge, dh_private, seqnum) = split(&d);
        ControllerNonces { challenge, dh_private, seqnum }
    }

    /// A new source whose seed is this source's next draw (label "nvme-fabric fork"): one per association, so
    /// that each can draw on its own.
    pub fn fork(&mut self) -> NonceSource {
        let d = self.draw(b"nvme-fabric fork");
        let mut seed = [0u8; 32];
        seed.copy_from_slice(&d.0[..32]);
        let forked = NonceSource::new(seed);
        seed.zeroize();
        forked
    }

    /// How many draws were made.
    pub const fn drawn(&self) -> u64 {
        self.drawn
    }

    fn draw(&mut self, label: &[u8]) -> Draw {
        let n = self.drawn.to_le_bytes();
        self.drawn = self.drawn.wrapping_add(1);
        let mut out = Draw([0; DRAW_LEN]);
        for (i, chunk) in out.0.chunks_mut(64).enumerate() {
            let block = HashAlg::Sha512.hmac(&self.seed, &[label, &n, &[i as u8]]);
            chunk.copy_from_slice(&block.as_bytes()[..chunk.len()]);
        }
        out
    }
}

/// One draw's bytes, wiped on drop.
struct Draw([u8; DRAW_LEN]);

impl Drop for Draw {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

fn split(d: &Draw) -> ([u8; 64], [u8; PRIVATE_KEY_RANDOM_LEN], u32) {
    let mut challenge = [0u8; 64];
    let mut private = [0u8; PRIVATE_KEY_RANDOM_LEN];
    challenge.copy_from_slice(&d.0[..64]);
    private.copy_from_slice(&d.0[64..64 + PRIVATE_KEY_RANDOM_LEN]);
    let s = &d.0[64 + PRIVATE_KEY_RANDOM_LEN..];
    (challenge, private, u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

impl fmt::Debug for NonceSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NonceSource").field("drawn", &self.drawn).finish_non_exhaustive()
    }
}

impl PartialEq for NonceSource {
    fn eq(&self, other: &Self) -> bool {
        self.drawn == other.drawn && bool::from(self.seed.ct_eq(&other.seed))
    }
}

impl Eq for NonceSource {}

impl Hash for NonceSource {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.drawn.hash(state);
    }
}

impl Drop for NonceSource {
    fn drop(&mut self) {
        self.seed.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_differ_by_count_role_and_seed_and_repeat_for_a_seed() {
        let mut a = NonceSource::new([1; 32]);
        let mut b = NonceSource::new([1; 32]);
        let (h0, h1) = (a.host_nonces(), a.host_nonces());
        assert_ne!(h0.challenge, h1.challenge);
        assert_ne!(h0.dh_private, h1.dh_private);
        assert_eq!(b.host_nonces().challenge, h0.challenge);
        let c = NonceSource::new([1; 32]).controller_nonces();
        assert_ne!(c.challenge, h0.challenge);
        let other = NonceSource::new([2; 32]).host_nonces();
        assert_ne!(other.challenge, h0.challenge);
        assert_eq!(a.drawn(), 2);
        assert_ne!(a, b);
        b.host_nonces();
        assert_eq!(a, b);
        assert_eq!(alloc::format!("{a:?}"), "NonceSource { drawn: 2, .. }");
    }

    /// The first draw against HMAC-SHA-512 computed by hand from its definition (the hash module's HMAC is itself
    /// checked against OpenSSL in tests/auth_kat.rs).
    #[test]
    fn a_draw_is_the_hmac_counter_construction() {
        let mut s = NonceSource::new([7; 32]);
        let h = s.host_nonces();
        let label: &[u8] = b"nvme-fabric host nonces";
        let b0 = HashAlg::Sha512.hmac(&[7; 32], &[label, &0u64.to_le_bytes(), &[0]]);
        let b1 = HashAlg::Sha512.hmac(&[7; 32], &[label, &0u64.to_le_bytes(), &[1]]);
        let b2 = HashAlg::Sha512.hmac(&[7; 32], &[label, &0u64.to_le_bytes(), &[2]]);
        assert_eq!(&h.challenge[..], b0.as_bytes());
        assert_eq!(&h.dh_private[..], b1.as_bytes());
        let s2 = &b2.as_bytes()[..4];
        assert_eq!(h.seqnum, u32::from_le_bytes([s2[0], s2[1], s2[2], s2[3]]));
    }
}
