//! The DH-HMAC-CHAP secret representation ([notes::auth §4](crate::notes::auth)):
//! `DHHC-1:<transform>:<Base64(secret || CRC-32 LE)>:`, the text nvme-cli prints, Linux reads from
//! `dhchap_secret=` and configfs, and SPDK keeps in its keyring.
//!
//! The Base64 is decoded in constant time (base64ct) into a stack buffer that is wiped; the secret itself lives in a
//! fixed 64-byte array, wiped when the [`DhchapSecret`] is dropped, and never printed: `Debug` and
//! [`DhchapSecret::redacted`] show `DHHC-1:xx:<redacted>`. The CRC is CRC-32/ISO-HDLC (zlib's `crc32`, **not** the
//! CRC-32C of the NVMe/TCP digests). Nothing allocates.

use core::fmt;
use core::hash::{Hash, Hasher};

use base64ct::{Base64, Encoding};
use crc::{CRC_32_ISO_HDLC, Crc};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use super::ids::HashId;

/// The CRC of the secret representation: CRC-32/ISO-HDLC (reflected polynomial 0xEDB88320, init and final XOR
/// 0xFFFFFFFF; check value of "123456789" 0xCBF43926).
static CRC_32: Crc<u32> = Crc::<u32>::new(&CRC_32_ISO_HDLC);

/// CRC-32/ISO-HDLC of `bytes`, the checksum a DHHC-1 secret carries.
pub fn dhchap_crc32(bytes: &[u8]) -> u32 {
    CRC_32.checksum(bytes)
}

/// The transform of a DHHC-1 secret (the two digits after `DHHC-1:`): which hash turns the secret into the key
/// used in the responses ([notes::auth §4](crate::notes::auth)). Open; [`DhchapSecret`] accepts 0 to 3.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SecretTransform(pub u8);

impl SecretTransform {
    /// 00: the secret is the key.
    pub const NONE: Self = Self(0);
    /// 01: key = HMAC-SHA-256(secret, NQN || "NVMe-over-Fabrics").
    pub const SHA_256: Self = Self(1);
    /// 02: key = HMAC-SHA-384(secret, NQN || "NVMe-over-Fabrics").
    pub const SHA_384: Self = Self(2);
    /// 03: key = HMAC-SHA-512(secret, NQN || "NVMe-over-Fabrics").
    pub const SHA_512: Self = Self(3);

    /// The hash of the transform: `None` for [`SecretTransform::NONE`] and for unnamed values.
    pub const fn hash_id(self) -> Option<HashId> {
        match self {
            Self::SHA_256 => Some(HashId::SHA_256),
            Self::SHA_384 => Some(HashId::SHA_384),
            Self::SHA_512 => Some(HashId::SHA_512),
            _ => None,
        }
    }

    /// Whether the value is one of the four defined transforms (0 to 3).
    pub const fn is_known(self) -> bool {
        self.0 <= 3
    }
}

/// Why a DHHC-1 secret could not be read or written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SecretError {
    /// The text is not `DHHC-1:` + two decimal digits + `:` + Base64 + an optional final `:`.
    Format,
    /// The transform is above 3.
    UnknownTransform(u8),
    /// The Base64 part does not decode (a character outside the standard alphabet, bad padding).
    Base64,
    /// The secret is not 32, 48 or 64 bytes long; `len` is its length (for a decoded text, the decoded length
    /// less the 4 CRC bytes, saturating at 0; for a text too long to decode, an estimate).
    Length {
        /// The secret's length in bytes.
        len: usize,
    },
    /// The CRC-32 stored after the secret does not match the secret (a mistyped or truncated key).
    Crc {
        /// The CRC the text carries.
        stored: u32,
        /// The CRC of the decoded secret.
        computed: u32,
    },
    /// The output buffer is too short: `needed` bytes are required.
    BufferTooShort {
        /// Total number of bytes needed.
        needed: usize,
    },
}

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Format => f.write_str("not a DHHC-1 secret (DHHC-1:NN:<base64>:)"),
            Self::UnknownTransform(t) => write!(f, "unknown secret transform {t:02}"),
            Self::Base64 => f.write_str("the secret's Base64 does not decode"),
            Self::Length { len } => write!(f, "a secret of {len} bytes (32, 48 or 64 expected)"),
            // The CRC values are left out on purpose: they are a function of the secret.
            Self::Crc { .. } => f.write_str("the secret's CRC-32 does not match"),
            Self::BufferTooShort { needed } => write!(f, "buffer too short: {needed} bytes needed"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for SecretError {}

/// A DH-HMAC-CHAP secret: its transform and 32, 48 or 64 secret bytes ([notes::auth §4](crate::notes::auth)).
/// Wiped on drop; never printed.
#[derive(Clone)]
pub struct DhchapSecret {
    transform: SecretTransform,
    len: u8,
    bytes: [u8; DhchapSecret::MAX_LEN],
}

impl DhchapSecret {
    /// The text's prefix.
    pub const PREFIX: &'static str = "DHHC-1:";
    /// The secret lengths the representation allows.
    pub const LENGTHS: [usize; 3] = [32, 48, 64];
    /// The longest secret.
    pub const MAX_LEN: usize = 64;
    /// The longest text: 103 characters, for a 64-byte secret.
    pub const MAX_TEXT_LEN: usize = Self::text_len(Self::MAX_LEN);
    /// Bytes of CRC after the secret.
    const CRC_LEN: usize = 4;
    /// Offset of the Base64 part (after `DHHC-1:NN:`).
    const PAYLOAD_OFFSET: usize = 10;

    /// A secret of `bytes` (32, 48 or 64 of them, else [`SecretError::Length`]) with `transform` (0 to 3, else
    /// [`SecretError::UnknownTransform`]).
    pub fn new(transform: SecretTransform, bytes: &[u8]) -> Result<Self, SecretError> {
        if !transform.is_known() {
            return Err(SecretError::UnknownTransform(transform.0));
        }
        if !Self::LENGTHS.contains(&bytes.len()) {
            return Err(SecretError::Length { len: bytes.len() });
        }
        let mut secret = Self { transform, len: bytes.len() as u8, bytes: [0; Self::MAX_LEN] };
        secret.bytes[..bytes.len()].copy_from_slice(bytes);
        Ok(secret)
    }

    /// Reads `DHHC-1:NN:<base64>:` (the final colon may be left out, as Linux allows): the transform NN (00 to
    /// 03), then the Base64 of the secret followed by its CRC-32, little-endian. Each failure has its
    /// [`SecretError`]; nothing after the final colon is allowed.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let rest = text.strip_prefix(Self::PREFIX).ok_or(SecretError::Format)?;
        let (digits, rest) = match rest.as_bytes() {
            [d1 @ b'0'..=b'9', d2 @ b'0'..=b'9', b':', ..] => ((d1 - b'0') * 10 + (d2 - b'0'), &rest[3..]),
            _ => return Err(SecretError::Format),
        };
        let transform = SecretTransform(digits);
        if !transform.is_known() {
            return Err(SecretError::UnknownTransform(digits));
        }
        let payload = rest.strip_suffix(':').unwrap_or(rest);
        if payload.contains(':') {
            return Err(SecretError::Format);
        }
        // Room for the longest secret and its CRC, plus a Base64 quantum.
        let mut decoded = [0u8; Self::MAX_LEN + Self::CRC_LEN + 3];
        let result = match Base64::decode(payload, &mut decoded) {
            Ok(d) => Self::from_decoded(transform, d),
            Err(base64ct::Error::InvalidLength) if payload.len() > Self::MAX_TEXT_LEN - Self::PAYLOAD_OFFSET - 1 => {
                Err(SecretError::Length { len: (payload.len() / 4 * 3).saturating_sub(Self::CRC_LEN) })
            }
            Err(_) => Err(SecretError::Base64),
        };
        decoded.zeroize();
        result
    }

    /// The secret of decoded `secret || CRC` bytes, the CRC checked.
    fn from_decoded(transform: SecretTransform, decoded: &[u8]) -> Result<Self, SecretError> {
        let len = decoded.len().saturating_sub(Self::CRC_LEN);
        if !Self::LENGTHS.contains(&len) {
            return Err(SecretError::Length { len });
        }
        let (secret, crc) = decoded.split_at(len);
        let stored = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
        let computed = dhchap_crc32(secret);
        if stored != computed {
            return Err(SecretError::Crc { stored, computed });
        }
        Self::new(transform, secret)
    }

    /// Writes the text `DHHC-1:NN:<base64>:` (with the final colon, as nvme-cli prints it) into `buf`; returns its
    /// length (59, 83 or 103). A short buffer gives [`SecretError::BufferTooShort`].
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, SecretError> {
        let len = self.buffer_len();
        let out = buf.get_mut(..len).ok_or(SecretError::BufferTooShort { needed: len })?;
        let (prefix, rest) = out.split_at_mut(Self::PAYLOAD_OFFSET);
        prefix[..Self::PREFIX.len()].copy_from_slice(Self::PREFIX.as_bytes());
        prefix[7] = b'0' + self.transform.0 / 10;
        prefix[8] = b'0' + self.transform.0 % 10;
        prefix[9] = b':';
        let mut raw = [0u8; Self::MAX_LEN + Self::CRC_LEN];
        let n = self.secret().len();
        raw[..n].copy_from_slice(self.secret());
        raw[n..n + Self::CRC_LEN].copy_from_slice(&dhchap_crc32(self.secret()).to_le_bytes());
        let (b64, colon) = rest.split_at_mut(rest.len() - 1);
        let written = Base64::encode(&raw[..n + Self::CRC_LEN], b64).map(str::len);
        raw.zeroize();
        match written {
            Ok(w) if w == b64.len() => {}
            _ => return Err(SecretError::BufferTooShort { needed: len }),
        }
        colon[0] = b':';
        Ok(len)
    }

    /// Bytes [`emit`](Self::emit) writes.
    pub const fn buffer_len(&self) -> usize {
        Self::text_len(self.len as usize)
    }

    /// Length of the text of a `secret_len`-byte secret: `DHHC-1:NN:`, the padded Base64 of secret + CRC, `:`.
    pub const fn text_len(secret_len: usize) -> usize {
        Self::PAYLOAD_OFFSET + (secret_len + Self::CRC_LEN).div_ceil(3) * 4 + 1
    }

    /// The transform.
    pub const fn transform(&self) -> SecretTransform {
        self.transform
    }

    /// The secret bytes (32, 48 or 64).
    pub fn secret(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// What may be printed of the secret: `DHHC-1:NN:<redacted>`.
    pub const fn redacted(&self) -> RedactedSecret {
        RedactedSecret(self.transform)
    }
}

impl fmt::Debug for DhchapSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.redacted(), f)
    }
}

impl Drop for DhchapSecret {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

/// Equal transform and secret bytes; the bytes are compared in constant time (lengths are public).
impl PartialEq for DhchapSecret {
    fn eq(&self, other: &Self) -> bool {
        self.transform == other.transform && bool::from(self.secret().ct_eq(other.secret()))
    }
}

impl Eq for DhchapSecret {}

/// Hashes the public parts only (the transform and the length), so a configuration holding secrets can be hashed
/// without feeding them to a hasher; equal secrets hash equal.
impl Hash for DhchapSecret {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.transform.hash(state);
        self.len.hash(state);
    }
}

/// The printable form of a [`DhchapSecret`]: `DHHC-1:NN:<redacted>` (the transform shown, the secret not).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RedactedSecret(pub SecretTransform);

impl fmt::Display for RedactedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{:02}:<redacted>", DhchapSecret::PREFIX, self.0.0)
    }
}
