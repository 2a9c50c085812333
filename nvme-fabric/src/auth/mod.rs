//! NVMe in-band authentication, DH-HMAC-CHAP (TP 8006; `spec-notes/auth.md`): the computations and the two sides
//! of one transaction as Sans-IO state machines. The messages themselves are [`nvme_proto::auth`]'s.
//!
//! | file | contents |
//! |---|---|
//! | `hash.rs` | [`HashAlg`] (SHA-256/384/512), HMAC, [`Digest`] (wiped on drop, compared in constant time) |
//! | `key.rs` | the DHHC-1 key transform, [`transform_key`] |
//! | `dh.rs` | the RFC 7919 groups ([`DhGroup`]), [`DhKeyPair`], peer checks, Z and the session key |
//! | `ffdhe.rs` | the five primes |
//! | `response.rs` | R1, R2 and the augmented challenge ([`Transaction`]) |
//! | `config.rs` | [`AuthConfig`]: one side's keys, NQNs, hashes and groups ([`HostAuth`], [`ControllerAuth`]) |
//! | `nonce.rs` | [`NonceSource`]: every transaction's random inputs from one caller-drawn seed |
//! | `host.rs` | [`HostExchange`]: Negotiate, Challenge, Reply, Success1, Success2 from the host's side |
//! | `controller.rs` | [`ControllerExchange`]: the controller's side |
//!
//! **Where it runs.** A host runs one [`HostExchange`] on a queue right after a Connect whose response sets ATR
//! ([`ConnectResponse::authentication_required`](nvme_proto::cmd::ConnectResponse::authentication_required)): on
//! the admin queue, then on each I/O queue. A controller that holds a key for the host sets ATR in every Connect
//! response and runs one [`ControllerExchange`] per queue; until it reports the queue authenticated, commands other
//! than Fabrics commands get Authentication Required (SCT 1 / SC 0x91, DNR). A later AUTH_Negotiate on the same
//! queue starts a new transaction (re-authentication): the controller's exchange says so
//! ([`SendOutcome::NewTransaction`]) and the driver starts a new one.
//!
//! **Inputs, not inside.** No clock, no randomness: every call takes `now`, each step has a deadline
//! ([`HostExchange::poll_timeout`], [`ControllerExchange::poll_timeout`]) that
//! [`AuthConfig::step_timeout`] sets, and the nonces, sequence numbers and Diffie-Hellman private exponents
//! arrive as [`HostNonces`] / [`ControllerNonces`], drawn by the caller from a CSPRNG, or derived by a
//! [`NonceSource`] from one seed the caller drew (what the host and the subsystem do). The transaction identifier
//! is the host's counter.
//!
//! **Failures.** A wrong key, a wrong response or a malformed or out-of-step message ends the transaction with the
//! AUTH_Failure1 (controller) or AUTH_Failure2 (host) and the reason code explanation of `spec-notes/auth.md` §4,
//! and [`AuthFailure`] tells the driver what happened; the connection is then refused
//! ([`PathFailure::Authentication`](crate::host::PathFailure::Authentication) on the host,
//! [`CloseCause::AuthenticationFailed`](crate::conn::CloseCause::AuthenticationFailed) on the controller). Responses,
//! secrets and keys are compared in constant time (`subtle`) and wiped when dropped (`zeroize`). Nothing panics on
//! any input.
//!
//! **Crates.** `hmac` 0.13 and `sha2` 0.11 (HMAC-SHA-2), `crypto-bigint` 0.7 (fixed-size modular exponentiation,
//! constant time in the exponent), `subtle`, `zeroize`: all RustCrypto, all `no_std`, and used here without `alloc`
//! (this module allocates nothing; the rest of nvme-fabric needs `alloc`).
//!
//! ```
//! use nvme_fabric::Instant;
//! use nvme_fabric::auth::{
//!     ControllerAuth, ControllerExchange, ControllerNonces, HostAuth, HostCommand, HostExchange, HostNonces,
//! };
//! use nvme_proto::auth::DhchapSecret;
//!
//! let (hostnqn, subnqn) = ("nqn.2014-08.org.nvmexpress:uuid:doc", "nqn.2026-12.io.example:doc");
//! let key = DhchapSecret::parse("DHHC-1:00:ia6zGodOr4SEG0Zzaw398rpY0wqipUWj4jWjUh4HWUz6aQ2n:").unwrap();
//! let now = Instant::ZERO;
//! let mut host = HostExchange::new(now, HostAuth::new(hostnqn, subnqn, &key, None).unwrap(), 0, HostNonces {
//!     challenge: [1; 64], dh_private: [2; 64], seqnum: 7 });
//! let mut ctrl = ControllerExchange::new(now, ControllerAuth::new(hostnqn, subnqn, &key, None).unwrap(),
//!     ControllerNonces { challenge: [3; 64], dh_private: [4; 64], seqnum: 9 });
//! // The driver's loop: each AUTH Send's data goes to the controller, each AUTH Receive's data back to the host.
//! let mut buf = [0u8; 4096];
//! while let Some(cmd) = host.poll_command(now, &mut buf).unwrap() {
//!     match cmd {
//!         HostCommand::Send { len } => {
//!             ctrl.handle_send(now, &buf[..len]);
//!             host.handle_send_complete(now);
//!         }
//!         HostCommand::Receive { al } => {
//!             let n = ctrl.poll_receive(now, &mut buf[..al as usize]).unwrap();
//!             host.handle_receive_complete(now, &buf[..n]);
//!         }
//!     }
//! }
//! assert!(host.outcome().unwrap().is_ok());
//! assert!(ctrl.is_authenticated());
//! ```

use core::fmt;
use core::time::Duration;

use nvme_proto::auth::{DhGroupId, FailureExplanation, FailureReason, HashId, LINUX_RECEIVE_LEN};
use nvme_proto::cmd::NQN_MAX_LEN;
use zeroize::Zeroize;

mod config;
mod controller;
mod dh;
mod ffdhe;
mod hash;
mod host;
mod key;
mod nonce;
mod response;

pub use config::{AuthConfig, ControllerAuth, ControllerSide, HostAuth, HostSide, Side};
pub use controller::{
    ControllerExchange, DEFAULT_CONTROLLER_DH_GROUPS, DEFAULT_CONTROLLER_HASHES, ReceiveError, SendOutcome,
};
pub use dh::{DhError, DhGroup, DhKeyPair, DhValue, MAX_VALUE_LEN, PRIVATE_KEY_RANDOM_LEN, PeerCheck, session_key};
pub use hash::{Digest, HashAlg};
pub use host::{HostCommand, HostExchange};
pub use key::{TRANSFORM_SUFFIX, transform_key};
pub use nonce::NonceSource;
pub use response::{CONTROLLER_LABEL, HOST_LABEL, Transaction};

/// How long each step of an exchange may take by default: from one message to the next (our choice; Linux's host
/// bounds each Authentication command by the queue's ordinary command timeout, and nvmet resets a stalled transaction
/// after KATO, 120 s when KATO is 0; spec-notes/auth.md §3.3).
pub const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// The allocation length of the host's Authentication Receive commands: 4096 bytes, as the Linux host.
pub const HOST_RECEIVE_LEN: u32 = LINUX_RECEIVE_LEN;

/// Whether the controller answers an Authentication Receive with all AL bytes (the message, then zeros), as Linux
/// nvmet does, rather than with the message alone. **Unconfirmed** whether the Linux host accepts fewer bytes, so
/// `true` (spec-notes/auth.md §6).
pub const RECEIVE_PADS_TO_AL: bool = true;

/// The random inputs of one host transaction: the caller draws them from a CSPRNG for every transaction.
#[derive(Clone)]
pub struct HostNonces {
    /// C2, the host's challenge to the controller (the first HL bytes are used; bidirectional only).
    pub challenge: [u8; 64],
    /// The host's Diffie-Hellman private exponent (the first 32 or 64 bytes are used; DH groups only).
    pub dh_private: [u8; PRIVATE_KEY_RANDOM_LEN],
    /// S2, the Reply's sequence number (0 is reserved: a 0 is sent as 1).
    pub seqnum: u32,
}

/// The random inputs of one controller transaction, drawn by the caller from a CSPRNG.
#[derive(Clone)]
pub struct ControllerNonces {
    /// C1, the controller's challenge (the first HL bytes are used).
    pub challenge: [u8; 64],
    /// The controller's Diffie-Hellman private exponent (the first 32 or 64 bytes are used; DH groups only).
    pub dh_private: [u8; PRIVATE_KEY_RANDOM_LEN],
    /// S1, the Challenge's sequence number (0 is reserved: a 0 is sent as 1).
    pub seqnum: u32,
}

impl fmt::Debug for HostNonces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HostNonces(..)")
    }
}

impl fmt::Debug for ControllerNonces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ControllerNonces(..)")
    }
}

/// Constant-time equality (`Hash` covers nothing: the nonces are secret until sent).
impl PartialEq for HostNonces {
    fn eq(&self, other: &Self) -> bool {
        nonces_eq((&self.challenge, &self.dh_private, self.seqnum), (&other.challenge, &other.dh_private, other.seqnum))
    }
}

impl Eq for HostNonces {}

impl core::hash::Hash for HostNonces {
    fn hash<H: core::hash::Hasher>(&self, _: &mut H) {}
}

/// Constant-time equality (`Hash` covers nothing: the nonces are secret until sent).
impl PartialEq for ControllerNonces {
    fn eq(&self, other: &Self) -> bool {
        nonces_eq((&self.challenge, &self.dh_private, self.seqnum), (&other.challenge, &other.dh_private, other.seqnum))
    }
}

impl Eq for ControllerNonces {}

impl core::hash::Hash for ControllerNonces {
    fn hash<H: core::hash::Hasher>(&self, _: &mut H) {}
}

type NonceParts<'a> = (&'a [u8; 64], &'a [u8; PRIVATE_KEY_RANDOM_LEN], u32);

fn nonces_eq(a: NonceParts<'_>, b: NonceParts<'_>) -> bool {
    use subtle::ConstantTimeEq;
    let same = a.0[..].ct_eq(&b.0[..]) & a.1[..].ct_eq(&b.1[..]) & a.2.ct_eq(&b.2);
    same.into()
}

impl Drop for HostNonces {
    fn drop(&mut self) {
        self.challenge.zeroize();
        self.dh_private.zeroize();
    }
}

impl Drop for ControllerNonces {
    fn drop(&mut self) {
        self.challenge.zeroize();
        self.dh_private.zeroize();
    }
}

/// A sequence number as sent: 0 is reserved (it means "no bidirectional authentication" in a Reply), so a 0 drawn
/// becomes 1.
const fn nonzero_seqnum(s: u32) -> u32 {
    if s == 0 { 1 } else { s }
}

/// What a successful transaction agreed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Authenticated {
    /// The hash of the responses.
    pub hash: HashAlg,
    /// The Diffie-Hellman group (NULL: none).
    pub dh_group: DhGroupId,
    /// Whether the controller authenticated itself too (R2).
    pub bidirectional: bool,
}

/// How a transaction failed: small and `Copy`, it tells the driver what happened; in every case the queue is not
/// authenticated and the connection should be refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthFailure {
    /// This side refused the peer's message and sends (host: AUTH_Failure2) or has ready for the next
    /// Authentication Receive (controller: AUTH_Failure1) this explanation.
    Rejected(FailureExplanation),
    /// The peer ended the transaction with AUTH_Failure1 (to a host) or AUTH_Failure2 (to a controller).
    PeerFailed {
        /// Its RC.
        reason: FailureReason,
        /// Its RCE.
        explanation: FailureExplanation,
    },
    /// A step's deadline passed.
    Timeout,
    /// (Host) an Authentication Send or Receive did not complete successfully (NVMe status or transport error).
    CommandFailed,
    /// The caller's random bytes made a Diffie-Hellman private exponent below 2 (draw them from a CSPRNG); the
    /// peer gets the "authentication failed" explanation.
    BadRandom,
}

impl fmt::Display for AuthFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = |e: FailureExplanation| e.name().unwrap_or("unknown explanation");
        match *self {
            Self::Rejected(e) => write!(f, "refused the peer: {} ({:#04x})", name(e), e.0),
            Self::PeerFailed { explanation, .. } => {
                write!(f, "the peer failed the exchange: {} ({:#04x})", name(explanation), explanation.0)
            }
            Self::Timeout => f.write_str("authentication step timed out"),
            Self::CommandFailed => f.write_str("an authentication command failed"),
            Self::BadRandom => f.write_str("the random input made a weak private exponent"),
        }
    }
}

/// Why authentication credentials could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthConfigError {
    /// An NQN is longer than 223 bytes.
    NqnTooLong,
    /// A hash list is empty or longer than 30, or names a hash this module does not implement.
    Hashes,
    /// A DH group list is empty or longer than 30, or names a group this module does not implement.
    DhGroups,
}

impl fmt::Display for AuthConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NqnTooLong => "NQN longer than 223 bytes",
            Self::Hashes => "hash list empty, over 30 entries, or with an unsupported hash",
            Self::DhGroups => "DH group list empty, over 30 entries, or with an unsupported group",
        })
    }
}

/// An NQN copied into fixed storage (at most 223 bytes), so an exchange owns everything it needs.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Nqn {
    len: u8,
    bytes: [u8; NQN_MAX_LEN],
}

impl Nqn {
    fn new(nqn: &str) -> Result<Self, AuthConfigError> {
        let b = nqn.as_bytes();
        if b.len() > NQN_MAX_LEN {
            return Err(AuthConfigError::NqnTooLong);
        }
        let mut n = Self { len: b.len() as u8, bytes: [0; NQN_MAX_LEN] };
        n.bytes[..b.len()].copy_from_slice(b);
        Ok(n)
    }

    fn as_str(&self) -> &str {
        // Copied from a `&str` whole, so always UTF-8.
        core::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl fmt::Debug for Nqn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// Up to 30 identifiers (a protocol descriptor's list), in fixed storage.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct IdList<T: Copy> {
    len: u8,
    ids: [T; 30],
}

impl<T: Copy + fmt::Debug> fmt::Debug for IdList<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

impl<T: Copy> IdList<T> {
    /// The list of `ids` (1 to 30 of them, each passing `known`), else `err`.
    fn new(ids: &[T], filler: T, known: impl Fn(T) -> bool, err: AuthConfigError) -> Result<Self, AuthConfigError> {
        if ids.is_empty() || ids.len() > 30 || !ids.iter().all(|&i| known(i)) {
            return Err(err);
        }
        let mut list = Self { len: ids.len() as u8, ids: [filler; 30] };
        list.ids[..ids.len()].copy_from_slice(ids);
        Ok(list)
    }

    fn as_slice(&self) -> &[T] {
        &self.ids[..usize::from(self.len)]
    }
}

fn hash_list(ids: &[HashId]) -> Result<IdList<HashId>, AuthConfigError> {
    IdList::new(ids, HashId(0), |h| HashAlg::from_id(h).is_some(), AuthConfigError::Hashes)
}

fn group_list(ids: &[DhGroupId]) -> Result<IdList<DhGroupId>, AuthConfigError> {
    IdList::new(ids, DhGroupId(0), |g| g == DhGroupId::NULL || DhGroup::from_id(g).is_some(), AuthConfigError::DhGroups)
}
