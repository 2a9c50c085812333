//! NVMe in-band authentication on the wire (DH-HMAC-CHAP, TP 8006; [notes::auth](crate::notes::auth)): the seven
//! messages the Authentication Send and Receive commands carry, their identifiers, and the `DHHC-1` secret text.
//!
//! | file | contents |
//! |---|---|
//! | `ids.rs` | open enums: [`AuthType`], [`AuthMsgId`], [`AuthProtocolId`], [`HashId`], [`DhGroupId`], [`SecureChannel`], [`FailureReason`], [`FailureExplanation`] |
//! | `negotiate.rs` | AUTH_Negotiate and its protocol descriptors |
//! | `dhchap.rs` | DH-HMAC-CHAP_Challenge, _Reply, _Success1, _Success2 |
//! | `failure.rs` | AUTH_Failure1, AUTH_Failure2 |
//! | `secret.rs` | the `DHHC-1:NN:<base64>:` secret representation and its CRC-32 |
//!
//! Each message has a zero-copy view of its fixed part (zerocopy, little-endian, unaligned, layout locked by size
//! and offset asserts) and a representation with `parse`, `emit` and `buffer_len`, whose variable parts (C1, R1,
//! C2, R2, DH values, descriptor lists) are borrowed from the caller's bytes. [`AuthMessage::parse`] reads any of
//! them. Parsers check the framing only (lengths, the message identifier, the two flag bytes); which hash, group,
//! T_ID or sequence number is acceptable is the exchange's business (nvme-fabric), and every [`AuthError`] says which
//! failure explanation a peer should get ([`AuthError::explanation`]). Nothing allocates. The computations
//! (responses, Diffie-Hellman) are in nvme-fabric; the commands that carry the messages are
//! [`cmd::Authentication`](crate::cmd::Authentication).
//!
//! ```
//! use nvme_proto::auth::{AuthMessage, Challenge, DhGroupId, HashId};
//!
//! let c1 = [0x5A; 32];
//! let (hash_id, dh_group) = (HashId::SHA_256, DhGroupId::NULL);
//! let challenge = Challenge { t_id: 1, hash_id, dh_group, seqnum: 7, challenge: &c1, dh_value: &[] };
//! let mut buf = [0u8; 4096]; // what a Linux host reads: the message, then zeros
//! assert_eq!(challenge.emit(&mut buf), Ok(48));
//! assert_eq!(AuthMessage::parse(&buf), Ok(AuthMessage::Challenge(challenge)));
//! ```

use core::fmt;

use zerocopy::little_endian::U16;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

mod dhchap;
mod failure;
mod ids;
mod negotiate;
mod secret;

pub use dhchap::{
    Challenge, ChallengeView, DHCHAP_HEADER_LEN, Reply, ReplyView, Success1, Success1View, Success2, Success2View,
};
pub use failure::{FAILURE_LEN, Failure1, Failure2, FailureView};
pub use ids::{
    AuthMsgId, AuthProtocolId, AuthType, DhGroupId, FailureExplanation, FailureReason, HashId, SecureChannel,
};
pub use negotiate::{Negotiate, NegotiateView, ProtocolDescriptor, ProtocolDescriptorView};
pub use secret::{DhchapSecret, RedactedSecret, SecretError, SecretTransform, dhchap_crc32};

/// The longest Challenge with a named hash and group: 16 + 64 (SHA-512) + 1024 (ffdhe8192) bytes.
pub const MAX_CHALLENGE_LEN: usize = DHCHAP_HEADER_LEN + 64 + 1024;
/// The longest Reply with a named hash and group: 16 + 2 × 64 + 1024 bytes.
pub const MAX_REPLY_LEN: usize = DHCHAP_HEADER_LEN + 2 * 64 + 1024;
/// The allocation length (AL) of every Authentication Receive of the Linux host (its `CHAP_BUF_SIZE`); Linux nvmet
/// answers with exactly AL bytes, the message followed by zeros ([notes::auth §2.8](crate::notes::auth)).
pub const LINUX_RECEIVE_LEN: u32 = 4096;

/// Zero-copy view of the 6 bytes every authentication message starts with ([notes::auth §2.1](crate::notes::auth)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct AuthHeaderView {
    /// Byte 0, AUTH_Type ([`AuthType`]).
    pub auth_type: u8,
    /// Byte 1, AUTH_ID ([`AuthMsgId`]).
    pub auth_id: u8,
    /// Bytes 3:2, reserved.
    pub reserved: [u8; 2],
    /// Bytes 5:4, T_ID: the transaction identifier.
    pub t_id: U16,
}

const _: () = assert!(size_of::<AuthHeaderView>() == 6);
const _: () = assert!(core::mem::offset_of!(AuthHeaderView, t_id) == 4);

impl AuthHeaderView {
    /// Size of the common header.
    pub const LEN: usize = 6;

    /// Casts the first 6 bytes of `buf`.
    pub fn ref_from_buf(buf: &[u8]) -> Result<&Self, AuthError> {
        Self::ref_from_prefix(buf).map(|(v, _)| v).map_err(|_| AuthError::BufferTooShort { needed: Self::LEN })
    }
}

/// Why an authentication message could not be parsed or emitted. Small and `Copy`; for a received message,
/// [`AuthError::explanation`] is what the AUTH_Failure1/2 answering it carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthError {
    /// The buffer is shorter than the message: `needed` bytes are required in total.
    BufferTooShort {
        /// Total number of bytes the message needs.
        needed: usize,
    },
    /// The bytes are another message than the one being parsed (or no message this crate knows).
    WrongMessage {
        /// Byte 0 found.
        auth_type: AuthType,
        /// Byte 1 found.
        auth_id: AuthMsgId,
    },
    /// A field holds a value the message does not allow (a flag other than 0 or 1, a list over 30 entries, a
    /// length that does not fit its field).
    InvalidField {
        /// Byte offset of the field in the message.
        offset: usize,
    },
}

impl AuthError {
    /// The failure explanation a received message with this error earns: 0x07 (incorrect protocol message) for
    /// a wrong message, 0x06 (incorrect payload) otherwise ([notes::auth §5](crate::notes::auth)).
    pub const fn explanation(self) -> FailureExplanation {
        match self {
            Self::WrongMessage { .. } => FailureExplanation::INCORRECT_PROTOCOL_MESSAGE,
            Self::BufferTooShort { .. } | Self::InvalidField { .. } => FailureExplanation::INCORRECT_PAYLOAD,
        }
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::BufferTooShort { needed } => write!(f, "authentication message too short: {needed} bytes needed"),
            Self::WrongMessage { auth_type, auth_id } => match auth_id.name() {
                Some(name) if auth_id.auth_type() == Some(auth_type) => write!(f, "unexpected {name}"),
                _ => write!(f, "unknown authentication message {:02x}/{:02x}", auth_type.0, auth_id.0),
            },
            Self::InvalidField { offset } => write!(f, "invalid field at byte {offset} of an authentication message"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for AuthError {}

/// Checks that `buf` starts with the AUTH_Type and AUTH_ID of `id` (else [`AuthError::WrongMessage`]); a buffer of
/// fewer than 2 bytes gives [`AuthError::BufferTooShort`] with the message's fixed length `len`.
fn check_header(buf: &[u8], id: AuthMsgId, len: usize) -> Result<(), AuthError> {
    match buf {
        [t, i, ..] => {
            let (found_type, found_id) = (AuthType(*t), AuthMsgId(*i));
            if found_id != id || Some(found_type) != id.auth_type() {
                return Err(AuthError::WrongMessage { auth_type: found_type, auth_id: found_id });
            }
            Ok(())
        }
        _ => Err(AuthError::BufferTooShort { needed: len }),
    }
}

/// Any authentication message ([notes::auth §2](crate::notes::auth)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthMessage<'a> {
    /// AUTH_Negotiate (00/00), host to controller.
    Negotiate(Negotiate<'a>),
    /// DH-HMAC-CHAP_Challenge (01/01), controller to host.
    Challenge(Challenge<'a>),
    /// DH-HMAC-CHAP_Reply (01/02), host to controller.
    Reply(Reply<'a>),
    /// DH-HMAC-CHAP_Success1 (01/03), controller to host.
    Success1(Success1<'a>),
    /// DH-HMAC-CHAP_Success2 (01/04), host to controller.
    Success2(Success2),
    /// AUTH_Failure1 (00/F1), controller to host.
    Failure1(Failure1),
    /// AUTH_Failure2 (00/F0), host to controller.
    Failure2(Failure2),
}

impl<'a> AuthMessage<'a> {
    /// Parses whichever message `buf` starts with. An unknown AUTH_Type/AUTH_ID pair gives
    /// [`AuthError::WrongMessage`]; fewer than 2 bytes, [`AuthError::BufferTooShort`] (6).
    pub fn parse(buf: &'a [u8]) -> Result<Self, AuthError> {
        let (&t, &i) = match buf {
            [t, i, ..] => (t, i),
            _ => return Err(AuthError::BufferTooShort { needed: AuthHeaderView::LEN }),
        };
        let id = AuthMsgId(i);
        if id.auth_type() != Some(AuthType(t)) {
            return Err(AuthError::WrongMessage { auth_type: AuthType(t), auth_id: id });
        }
        Ok(match id {
            AuthMsgId::NEGOTIATE => Self::Negotiate(Negotiate::parse(buf)?),
            AuthMsgId::CHALLENGE => Self::Challenge(Challenge::parse(buf)?),
            AuthMsgId::REPLY => Self::Reply(Reply::parse(buf)?),
            AuthMsgId::SUCCESS1 => Self::Success1(Success1::parse(buf)?),
            AuthMsgId::SUCCESS2 => Self::Success2(Success2::parse(buf)?),
            AuthMsgId::FAILURE1 => Self::Failure1(Failure1::parse(buf)?),
            _ => Self::Failure2(Failure2::parse(buf)?),
        })
    }

    /// Writes the message; returns its length (see each message's `emit`).
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, AuthError> {
        match self {
            Self::Negotiate(m) => m.emit(buf),
            Self::Challenge(m) => m.emit(buf),
            Self::Reply(m) => m.emit(buf),
            Self::Success1(m) => m.emit(buf),
            Self::Success2(m) => m.emit(buf),
            Self::Failure1(m) => m.emit(buf),
            Self::Failure2(m) => m.emit(buf),
        }
    }

    /// Bytes [`emit`](Self::emit) writes.
    pub const fn buffer_len(&self) -> usize {
        match self {
            Self::Negotiate(m) => m.buffer_len(),
            Self::Challenge(m) => m.buffer_len(),
            Self::Reply(m) => m.buffer_len(),
            Self::Success1(m) => m.buffer_len(),
            Self::Success2(m) => m.buffer_len(),
            Self::Failure1(m) => m.buffer_len(),
            Self::Failure2(m) => m.buffer_len(),
        }
    }

    /// The message identifier.
    pub const fn id(&self) -> AuthMsgId {
        match self {
            Self::Negotiate(_) => AuthMsgId::NEGOTIATE,
            Self::Challenge(_) => AuthMsgId::CHALLENGE,
            Self::Reply(_) => AuthMsgId::REPLY,
            Self::Success1(_) => AuthMsgId::SUCCESS1,
            Self::Success2(_) => AuthMsgId::SUCCESS2,
            Self::Failure1(_) => AuthMsgId::FAILURE1,
            Self::Failure2(_) => AuthMsgId::FAILURE2,
        }
    }

    /// The transaction identifier (bytes 5:4).
    pub const fn t_id(&self) -> u16 {
        match self {
            Self::Negotiate(m) => m.t_id,
            Self::Challenge(m) => m.t_id,
            Self::Reply(m) => m.t_id,
            Self::Success1(m) => m.t_id,
            Self::Success2(m) => m.t_id,
            Self::Failure1(m) => m.t_id,
            Self::Failure2(m) => m.t_id,
        }
    }
}
