//! The Diffie-Hellman part of DH-HMAC-CHAP (spec-notes/auth.md §2.3): the RFC 7919 groups, key pairs from
//! caller-supplied random bytes, peer value checks, and the shared value Z.
//!
//! Arithmetic is crypto-bigint's fixed-size `Uint` in Montgomery form: no heap, and constant time in the private
//! exponent (`pow_bounded_exp`, whose only data-dependent input is the exponent's bit length, a public constant of
//! the group). Peer values are public and are checked with variable-time comparisons. Every DH value, Z included,
//! is big-endian and left-padded with zeros to the size of p, as Linux and SPDK send and hash them.

use core::fmt;

use crypto_bigint::modular::{FixedMontyForm, FixedMontyParams};
use crypto_bigint::{CtEq, Odd, U512, U2048, U3072, U4096, U6144, U8192, Uint};
use nvme_proto::auth::DhGroupId;
use zeroize::Zeroize;

use super::ffdhe;
use super::hash::{Digest, HashAlg};

const P_2048: Odd<U2048> = Odd::<U2048>::from_be_hex(ffdhe::P_2048);
const P_3072: Odd<U3072> = Odd::<U3072>::from_be_hex(ffdhe::P_3072);
const P_4096: Odd<U4096> = Odd::<U4096>::from_be_hex(ffdhe::P_4096);
const P_6144: Odd<U6144> = Odd::<U6144>::from_be_hex(ffdhe::P_6144);
const P_8192: Odd<U8192> = Odd::<U8192>::from_be_hex(ffdhe::P_8192);

/// An RFC 7919 group (generator 2): the closed form of a non-NULL [`DhGroupId`] this module implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DhGroup {
    /// ffdhe2048 (DHgID 0x01).
    Ffdhe2048,
    /// ffdhe3072 (DHgID 0x02).
    Ffdhe3072,
    /// ffdhe4096 (DHgID 0x03).
    Ffdhe4096,
    /// ffdhe6144 (DHgID 0x04).
    Ffdhe6144,
    /// ffdhe8192 (DHgID 0x05).
    Ffdhe8192,
}

impl DhGroup {
    /// Every group, smallest first.
    pub const ALL: [Self; 5] = [Self::Ffdhe2048, Self::Ffdhe3072, Self::Ffdhe4096, Self::Ffdhe6144, Self::Ffdhe8192];

    /// The group of a DHgID; `None` for NULL (no Diffie-Hellman) and for unnamed identifiers.
    pub const fn from_id(id: DhGroupId) -> Option<Self> {
        Some(match id {
            DhGroupId::FFDHE2048 => Self::Ffdhe2048,
            DhGroupId::FFDHE3072 => Self::Ffdhe3072,
            DhGroupId::FFDHE4096 => Self::Ffdhe4096,
            DhGroupId::FFDHE6144 => Self::Ffdhe6144,
            DhGroupId::FFDHE8192 => Self::Ffdhe8192,
            _ => return None,
        })
    }

    /// The DHgID.
    pub const fn id(self) -> DhGroupId {
        match self {
            Self::Ffdhe2048 => DhGroupId::FFDHE2048,
            Self::Ffdhe3072 => DhGroupId::FFDHE3072,
            Self::Ffdhe4096 => DhGroupId::FFDHE4096,
            Self::Ffdhe6144 => DhGroupId::FFDHE6144,
            Self::Ffdhe8192 => DhGroupId::FFDHE8192,
        }
    }

    /// The size of p in bytes: the length of every DH value of the group (DHVLEN).
    pub const fn value_len(self) -> usize {
        match self {
            Self::Ffdhe2048 => 256,
            Self::Ffdhe3072 => 384,
            Self::Ffdhe4096 => 512,
            Self::Ffdhe6144 => 768,
            Self::Ffdhe8192 => 1024,
        }
    }

    /// Bytes of the private exponent: the smallest power of two of bits at least twice the group's security
    /// strength (112, 128, 152, 176, 200 bits), as Linux draws them: 32 bytes for ffdhe2048 and ffdhe3072, 64 for the
    /// others ([`PRIVATE_KEY_RANDOM_LEN`] random bytes always suffice).
    pub const fn private_key_len(self) -> usize {
        match self {
            Self::Ffdhe2048 | Self::Ffdhe3072 => 32,
            Self::Ffdhe4096 | Self::Ffdhe6144 | Self::Ffdhe8192 => 64,
        }
    }

    /// The prime p, big-endian, `value_len` bytes.
    pub fn prime(self, out: &mut [u8; MAX_VALUE_LEN]) -> &[u8] {
        let n = self.value_len();
        match self {
            Self::Ffdhe2048 => out[..n].copy_from_slice(&P_2048.as_ref().to_be_bytes()),
            Self::Ffdhe3072 => out[..n].copy_from_slice(&P_3072.as_ref().to_be_bytes()),
            Self::Ffdhe4096 => out[..n].copy_from_slice(&P_4096.as_ref().to_be_bytes()),
            Self::Ffdhe6144 => out[..n].copy_from_slice(&P_6144.as_ref().to_be_bytes()),
            Self::Ffdhe8192 => out[..n].copy_from_slice(&P_8192.as_ref().to_be_bytes()),
        }
        &out[..n]
    }
}

/// The longest DH value: 1024 bytes (ffdhe8192).
pub const MAX_VALUE_LEN: usize = 1024;
/// Random bytes a key pair takes ([`DhKeyPair::new`]): enough for the largest private exponent.
pub const PRIVATE_KEY_RANDOM_LEN: usize = 64;

/// How far a peer's DH value is checked ([`DhKeyPair::shared_secret`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum PeerCheck {
    /// 1 < y < p − 1 (RFC 7919 §5.1, what Linux always checks), and Z ∉ {1, p − 1}. With a safe prime this leaves
    /// only the order-2 coset, whose use leaks one bit of a single-use private exponent.
    #[default]
    Range,
    /// Also y^q ≡ 1 (mod p), q = (p − 1) / 2: y is in the prime-order subgroup (what Linux checks in FIPS mode). One
    /// more exponentiation with a full-size, public exponent.
    Subgroup,
}

/// Why a Diffie-Hellman computation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DhError {
    /// The peer's value is not `expected` bytes (the group's size) long.
    WrongLength {
        /// The group's value length.
        expected: usize,
        /// The length received.
        found: usize,
    },
    /// The peer's value is not in 2 ..= p − 2.
    OutOfRange,
    /// The peer's value is not in the prime-order subgroup ([`PeerCheck::Subgroup`]).
    NotInSubgroup,
    /// The shared value is 1 or p − 1.
    DegenerateSharedSecret,
    /// The random bytes make a private exponent below 2.
    WeakPrivateKey,
}

impl fmt::Display for DhError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::WrongLength { expected, found } => write!(f, "DH value of {found} bytes, {expected} expected"),
            Self::OutOfRange => f.write_str("DH value out of range"),
            Self::NotInSubgroup => f.write_str("DH value outside the prime-order subgroup"),
            Self::DegenerateSharedSecret => f.write_str("degenerate DH shared value"),
            Self::WeakPrivateKey => f.write_str("private exponent below 2"),
        }
    }
}

/// A DH value of up to 1024 bytes, stored inline and wiped on drop (it may be the shared value Z).
#[derive(Clone)]
pub struct DhValue {
    len: u16,
    bytes: [u8; MAX_VALUE_LEN],
}

impl DhValue {
    const fn empty(len: usize) -> Self {
        Self { len: len as u16, bytes: [0; MAX_VALUE_LEN] }
    }

    /// The big-endian bytes, padded to the group's size.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.bytes[..usize::from(self.len)]
    }
}

impl fmt::Debug for DhValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DhValue({} bytes)", self.len)
    }
}

/// Constant-time equality of the bytes (lengths are public).
impl PartialEq for DhValue {
    fn eq(&self, other: &Self) -> bool {
        subtle::ConstantTimeEq::ct_eq(self.as_bytes(), other.as_bytes()).into()
    }
}

impl Eq for DhValue {}

/// The length only (the value may be Z).
impl core::hash::Hash for DhValue {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.len.hash(state);
    }
}

impl Drop for DhValue {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

/// One side's Diffie-Hellman key pair: the private exponent (wiped on drop) and the public value g^x mod p.
#[derive(Clone)]
pub struct DhKeyPair {
    group: DhGroup,
    private: [u8; PRIVATE_KEY_RANDOM_LEN],
    public: DhValue,
}

impl fmt::Debug for DhKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DhKeyPair").field("group", &self.group).finish_non_exhaustive()
    }
}

/// The same group and exponent (compared in constant time), hence the same public value.
impl PartialEq for DhKeyPair {
    fn eq(&self, other: &Self) -> bool {
        self.group == other.group && bool::from(subtle::ConstantTimeEq::ct_eq(&self.private[..], &other.private[..]))
    }
}

impl Eq for DhKeyPair {}

/// The group only.
impl core::hash::Hash for DhKeyPair {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.group.hash(state);
    }
}

impl Drop for DhKeyPair {
    fn drop(&mut self) {
        self.private.zeroize();
    }
}

impl DhKeyPair {
    /// A key pair whose private exponent is the first [`DhGroup::private_key_len`] bytes of `random`, read
    /// big-endian (the caller draws them from a CSPRNG; this crate has no randomness). An exponent below 2 gives
    /// [`DhError::WeakPrivateKey`].
    pub fn new(group: DhGroup, random: &[u8; PRIVATE_KEY_RANDOM_LEN]) -> Result<Self, DhError> {
        let n = group.private_key_len();
        let mut private = [0u8; PRIVATE_KEY_RANDOM_LEN];
        private[PRIVATE_KEY_RANDOM_LEN - n..].copy_from_slice(&random[..n]);
        let pair = Self { group, private, public: DhValue::empty(group.value_len()) };
        let mut x = pair.exponent();
        let weak = x < U512::from_u8(2);
        x.zeroize();
        if weak {
            return Err(DhError::WeakPrivateKey);
        }
        let mut pair = pair;
        let bits = pair.exponent_bits();
        let mut x = pair.exponent();
        let out = pair.public.as_mut();
        match group {
            DhGroup::Ffdhe2048 => public_value(&P_2048, &x, bits, out),
            DhGroup::Ffdhe3072 => public_value(&P_3072, &x, bits, out),
            DhGroup::Ffdhe4096 => public_value(&P_4096, &x, bits, out),
            DhGroup::Ffdhe6144 => public_value(&P_6144, &x, bits, out),
            DhGroup::Ffdhe8192 => public_value(&P_8192, &x, bits, out),
        }
        x.zeroize();
        Ok(pair)
    }

    /// The group.
    pub const fn group(&self) -> DhGroup {
        self.group
    }

    /// g^x mod p, big-endian, padded to the group's size: what a Challenge or Reply carries.
    pub fn public_value(&self) -> &[u8] {
        self.public.as_bytes()
    }

    /// Z = peer^x mod p, padded to the group's size, after checking the peer's value (`check`).
    pub fn shared_secret(&self, peer: &[u8], check: PeerCheck) -> Result<DhValue, DhError> {
        let expected = self.group.value_len();
        if peer.len() != expected {
            return Err(DhError::WrongLength { expected, found: peer.len() });
        }
        let mut z = DhValue::empty(expected);
        let bits = self.exponent_bits();
        let mut x = self.exponent();
        let out = z.as_mut();
        let result = match self.group {
            DhGroup::Ffdhe2048 => shared_value(&P_2048, peer, &x, bits, check, out),
            DhGroup::Ffdhe3072 => shared_value(&P_3072, peer, &x, bits, check, out),
            DhGroup::Ffdhe4096 => shared_value(&P_4096, peer, &x, bits, check, out),
            DhGroup::Ffdhe6144 => shared_value(&P_6144, peer, &x, bits, check, out),
            DhGroup::Ffdhe8192 => shared_value(&P_8192, peer, &x, bits, check, out),
        };
        x.zeroize();
        result.map(|()| z)
    }

    fn exponent(&self) -> U512 {
        U512::from_be_slice(&self.private)
    }

    fn exponent_bits(&self) -> u32 {
        8 * self.group.private_key_len() as u32
    }
}

/// The session key KS = H(Z) (Z padded to the group's size; spec-notes/auth.md §2.3). Linux up to the fix of
/// Chris Leech's "Hash DH shared secret to create session key" kept Z itself and hashed it when computing the
/// augmented challenge, which gives the same bytes on the wire.
pub fn session_key(hash: HashAlg, z: &DhValue) -> Digest {
    hash.digest(&[z.as_bytes()])
}

fn public_value<const L: usize>(p: &Odd<Uint<L>>, x: &U512, bits: u32, out: &mut [u8]) {
    let params = FixedMontyParams::new_vartime(*p);
    let g = FixedMontyForm::new(&Uint::<L>::from_u8(2), &params);
    let mut y = g.pow_bounded_exp(x, bits).retrieve();
    out.copy_from_slice(&y.to_be_bytes());
    y.zeroize();
}

fn shared_value<const L: usize>(
    p: &Odd<Uint<L>>,
    peer: &[u8],
    x: &U512,
    bits: u32,
    check: PeerCheck,
    out: &mut [u8],
) -> Result<(), DhError> {
    let y = Uint::<L>::from_be_slice(peer);
    let p_minus_1 = p.as_ref().wrapping_sub(&Uint::ONE);
    if y <= Uint::ONE || y >= p_minus_1 {
        return Err(DhError::OutOfRange);
    }
    let params = FixedMontyParams::new_vartime(*p);
    let y = FixedMontyForm::new(&y, &params);
    if check == PeerCheck::Subgroup {
        let q = p_minus_1.shr_vartime(1);
        if y.pow_vartime(&q).retrieve() != Uint::ONE {
            return Err(DhError::NotInSubgroup);
        }
    }
    let mut z = y.pow_bounded_exp(x, bits).retrieve();
    let degenerate = (z.ct_eq(&Uint::<L>::ONE) | z.ct_eq(&p_minus_1)).to_bool();
    if !degenerate {
        out.copy_from_slice(&z.to_be_bytes());
    }
    z.zeroize();
    if degenerate { Err(DhError::DegenerateSharedSecret) } else { Ok(()) }
}
