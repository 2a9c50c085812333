//! The three hash functions of DH-HMAC-CHAP (SHA-256, SHA-384, SHA-512 from RustCrypto's `sha2`), HMAC over them
//! (`hmac`), and [`Digest`], the fixed-size, wiped-on-drop, constant-time-compared value every key, response and
//! session key of this module is.

use core::fmt;

use hmac::{Hmac, KeyInit, Mac};
use nvme_proto::auth::HashId;
use sha2::{Sha256, Sha384, Sha512};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

/// A hash function of DH-HMAC-CHAP: the closed form of [`HashId`] once it is known to be usable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashAlg {
    /// SHA-256 (HashID 0x01, HL 32).
    Sha256,
    /// SHA-384 (HashID 0x02, HL 48).
    Sha384,
    /// SHA-512 (HashID 0x03, HL 64).
    Sha512,
}

impl HashAlg {
    /// The hash of a HashID; `None` for an unnamed one.
    pub const fn from_id(id: HashId) -> Option<Self> {
        match id {
            HashId::SHA_256 => Some(Self::Sha256),
            HashId::SHA_384 => Some(Self::Sha384),
            HashId::SHA_512 => Some(Self::Sha512),
            _ => None,
        }
    }

    /// The HashID.
    pub const fn id(self) -> HashId {
        match self {
            Self::Sha256 => HashId::SHA_256,
            Self::Sha384 => HashId::SHA_384,
            Self::Sha512 => HashId::SHA_512,
        }
    }

    /// HL, the digest length in bytes (32, 48, 64).
    pub const fn hash_len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    /// H(`parts[0] || parts[1] || ...`).
    pub fn digest(self, parts: &[&[u8]]) -> Digest {
        fn run<D: sha2::Digest>(parts: &[&[u8]]) -> Digest {
            let mut h = D::new();
            for p in parts {
                h.update(p);
            }
            Digest::from_slice(&h.finalize())
        }
        match self {
            Self::Sha256 => run::<Sha256>(parts),
            Self::Sha384 => run::<Sha384>(parts),
            Self::Sha512 => run::<Sha512>(parts),
        }
    }

    /// HMAC_H(key, `parts[0] || parts[1] || ...`). HMAC takes keys of any length (a key longer than the hash's block
    /// is hashed first, RFC 2104).
    pub fn hmac(self, key: &[u8], parts: &[&[u8]]) -> Digest {
        fn run<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]]) -> Digest {
            // `new_from_slice` fails only for fixed-length keys; HMAC accepts every length.
            let Ok(mut m) = <M as KeyInit>::new_from_slice(key) else { unreachable!("HMAC takes keys of any length") };
            for p in parts {
                m.update(p);
            }
            Digest::from_slice(&m.finalize().into_bytes())
        }
        match self {
            Self::Sha256 => run::<Hmac<Sha256>>(key, parts),
            Self::Sha384 => run::<Hmac<Sha384>>(key, parts),
            Self::Sha512 => run::<Hmac<Sha512>>(key, parts),
        }
    }

    /// The hash's name ("SHA-256").
    pub const fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "SHA-256",
            Self::Sha384 => "SHA-384",
            Self::Sha512 => "SHA-512",
        }
    }
}

/// A hash or HMAC output, or a key of up to 64 bytes: stored inline, wiped on drop, compared in constant time
/// ([`Digest::ct_eq`], and `PartialEq` through it), never printed (`Debug` shows the length only). `Hash` covers the
/// length only, so an exchange's state can be hashed without feeding secrets to a hasher.
#[derive(Clone)]
pub struct Digest {
    len: u8,
    bytes: [u8; Digest::MAX_LEN],
}

impl Digest {
    /// The longest digest (SHA-512).
    pub const MAX_LEN: usize = 64;

    /// A copy of `bytes` (at most 64; longer input is cut, which no caller of this module does).
    pub fn from_slice(bytes: &[u8]) -> Self {
        let n = bytes.len().min(Self::MAX_LEN);
        let mut d = Self { len: n as u8, bytes: [0; Self::MAX_LEN] };
        d.bytes[..n].copy_from_slice(&bytes[..n]);
        d
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Length in bytes.
    pub const fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether the digest is empty (never, for a computed one).
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `other` holds the same bytes, in time independent of where they differ (lengths are public).
    pub fn ct_eq(&self, other: &[u8]) -> bool {
        self.as_bytes().ct_eq(other).into()
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({} bytes)", self.len)
    }
}

impl PartialEq for Digest {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other.as_bytes())
    }
}

impl Eq for Digest {}

impl core::hash::Hash for Digest {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.len.hash(state);
    }
}

impl Drop for Digest {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}
