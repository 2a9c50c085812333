//! The DHHC-1 key transform (spec-notes/auth.md §2.1): the secret of a `DHHC-1:NN:…:` text becomes the key that
//! keys the responses.

use nvme_proto::auth::{DhchapSecret, SecretTransform};

use super::hash::{Digest, HashAlg};

/// The 17 ASCII bytes appended to the NQN in the transform.
pub const TRANSFORM_SUFFIX: &[u8; 17] = b"NVMe-over-Fabrics";

/// The key a secret gives for `nqn` (the host NQN for the host's secret, the subsystem NQN for the controller's):
/// transform 00 the secret itself; 01/02/03 HMAC-SHA-256/384/512(secret, NQN || "NVMe-over-Fabrics"), whose length
/// is the digest's whatever the secret's (Linux ≥ 6.7 mixes them freely). The NQN is used as given, without NUL.
///
/// A [`DhchapSecret`] only holds transforms 0 to 3, so every secret has a key.
pub fn transform_key(secret: &DhchapSecret, nqn: &str) -> Digest {
    let hash = match secret.transform() {
        SecretTransform::SHA_256 => HashAlg::Sha256,
        SecretTransform::SHA_384 => HashAlg::Sha384,
        SecretTransform::SHA_512 => HashAlg::Sha512,
        _ => return Digest::from_slice(secret.secret()),
    };
    hash.hmac(secret.secret(), &[nqn.as_bytes(), TRANSFORM_SUFFIX])
}
