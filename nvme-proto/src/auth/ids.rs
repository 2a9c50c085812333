//! The identifiers of in-band authentication, all open: an unknown value round-trips and is refused only by the
//! logic that needs a known one ([notes::auth §3](crate::notes::auth)).

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// AUTH_Type (byte 0 of every authentication message; [notes::auth §2.1](crate::notes::auth)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AuthType(pub u8);

impl AuthType {
    /// 0x00, common messages: AUTH_Negotiate, AUTH_Failure1, AUTH_Failure2.
    pub const COMMON: Self = Self(0x00);
    /// 0x01, DH-HMAC-CHAP messages: Challenge, Reply, Success1, Success2.
    pub const DH_HMAC_CHAP: Self = Self(0x01);
}

/// AUTH_ID, the message identifier (byte 1 of every authentication message;
/// [notes::auth §2.1](crate::notes::auth)). The same identifier means different messages under the two
/// [`AuthType`]s; [`AuthMsgId::auth_type`] gives the type each named message travels with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AuthMsgId(pub u8);

impl AuthMsgId {
    /// 0x00 AUTH_Negotiate (common), host to controller.
    pub const NEGOTIATE: Self = Self(0x00);
    /// 0x01 DH-HMAC-CHAP_Challenge, controller to host.
    pub const CHALLENGE: Self = Self(0x01);
    /// 0x02 DH-HMAC-CHAP_Reply, host to controller.
    pub const REPLY: Self = Self(0x02);
    /// 0x03 DH-HMAC-CHAP_Success1, controller to host.
    pub const SUCCESS1: Self = Self(0x03);
    /// 0x04 DH-HMAC-CHAP_Success2, host to controller.
    pub const SUCCESS2: Self = Self(0x04);
    /// 0xF0 AUTH_Failure2 (common), host to controller.
    pub const FAILURE2: Self = Self(0xF0);
    /// 0xF1 AUTH_Failure1 (common), controller to host.
    pub const FAILURE1: Self = Self(0xF1);

    /// The AUTH_Type a named message carries; `None` for an unnamed identifier.
    pub const fn auth_type(self) -> Option<AuthType> {
        Some(match self {
            Self::NEGOTIATE | Self::FAILURE1 | Self::FAILURE2 => AuthType::COMMON,
            Self::CHALLENGE | Self::REPLY | Self::SUCCESS1 | Self::SUCCESS2 => AuthType::DH_HMAC_CHAP,
            _ => return None,
        })
    }

    /// The message's name as the specification writes it, or `None` for an unnamed identifier.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::NEGOTIATE => "AUTH_Negotiate",
            Self::CHALLENGE => "DH-HMAC-CHAP_Challenge",
            Self::REPLY => "DH-HMAC-CHAP_Reply",
            Self::SUCCESS1 => "DH-HMAC-CHAP_Success1",
            Self::SUCCESS2 => "DH-HMAC-CHAP_Success2",
            Self::FAILURE2 => "AUTH_Failure2",
            Self::FAILURE1 => "AUTH_Failure1",
            _ => return None,
        })
    }
}

/// AUTHID of a protocol descriptor in AUTH_Negotiate (descriptor byte 0; [notes::auth §2.2](crate::notes::auth)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AuthProtocolId(pub u8);

impl AuthProtocolId {
    /// 0x01, DH-HMAC-CHAP: the only authentication protocol defined.
    pub const DH_HMAC_CHAP: Self = Self(0x01);
}

/// Hash function identifier (HashID; [notes::auth §3](crate::notes::auth)): one byte of a descriptor's HashIDList
/// and Challenge byte 8. A zerocopy type, so a list of them is borrowed from the message bytes as `&[HashId]`.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(transparent)]
pub struct HashId(pub u8);

impl HashId {
    /// 0x01 SHA-256 (HL 32).
    pub const SHA_256: Self = Self(0x01);
    /// 0x02 SHA-384 (HL 48).
    pub const SHA_384: Self = Self(0x02);
    /// 0x03 SHA-512 (HL 64).
    pub const SHA_512: Self = Self(0x03);
    /// The three named hashes, in the order the Linux host offers them.
    pub const ALL: [Self; 3] = [Self::SHA_256, Self::SHA_384, Self::SHA_512];

    /// HL, the digest length in bytes; `None` for an unnamed identifier.
    pub const fn hash_len(self) -> Option<u8> {
        Some(match self {
            Self::SHA_256 => 32,
            Self::SHA_384 => 48,
            Self::SHA_512 => 64,
            _ => return None,
        })
    }

    /// The hash's name ("SHA-256"), or `None` for an unnamed identifier.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::SHA_256 => "SHA-256",
            Self::SHA_384 => "SHA-384",
            Self::SHA_512 => "SHA-512",
            _ => return None,
        })
    }
}

/// Diffie-Hellman group identifier (DHgID; [notes::auth §3](crate::notes::auth)): one byte of a descriptor's
/// DHgIDList and Challenge byte 9. The groups are RFC 7919's; a zerocopy type like [`HashId`].
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(transparent)]
pub struct DhGroupId(pub u8);

impl DhGroupId {
    /// 0x00, NULL: no Diffie-Hellman exchange (DHVLEN 0).
    pub const NULL: Self = Self(0x00);
    /// 0x01 ffdhe2048 (DH values of 256 bytes).
    pub const FFDHE2048: Self = Self(0x01);
    /// 0x02 ffdhe3072 (384 bytes).
    pub const FFDHE3072: Self = Self(0x02);
    /// 0x03 ffdhe4096 (512 bytes).
    pub const FFDHE4096: Self = Self(0x03);
    /// 0x04 ffdhe6144 (768 bytes).
    pub const FFDHE6144: Self = Self(0x04);
    /// 0x05 ffdhe8192 (1024 bytes).
    pub const FFDHE8192: Self = Self(0x05);
    /// The six named groups, in the order the Linux host offers them.
    pub const ALL: [Self; 6] =
        [Self::NULL, Self::FFDHE2048, Self::FFDHE3072, Self::FFDHE4096, Self::FFDHE6144, Self::FFDHE8192];

    /// DHVLEN a message of this group carries: the size of the group's prime in bytes (every DH value is sent
    /// left-padded to it), 0 for NULL; `None` for an unnamed identifier.
    pub const fn value_len(self) -> Option<u16> {
        Some(match self {
            Self::NULL => 0,
            Self::FFDHE2048 => 256,
            Self::FFDHE3072 => 384,
            Self::FFDHE4096 => 512,
            Self::FFDHE6144 => 768,
            Self::FFDHE8192 => 1024,
            _ => return None,
        })
    }

    /// The group's name as Linux and nvme-cli write it ("null", "ffdhe2048"), or `None` for an unnamed identifier.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::NULL => "null",
            Self::FFDHE2048 => "ffdhe2048",
            Self::FFDHE3072 => "ffdhe3072",
            Self::FFDHE4096 => "ffdhe4096",
            Self::FFDHE6144 => "ffdhe6144",
            Self::FFDHE8192 => "ffdhe8192",
            _ => return None,
        })
    }
}

/// SC_C, secure channel concatenation (AUTH_Negotiate byte 6; [notes::auth §2.2](crate::notes::auth)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SecureChannel(pub u8);

impl SecureChannel {
    /// 0x00: no secure channel concatenation; the only value Linux 6.12 sends or accepts.
    pub const NONE: Self = Self(0x00);
    /// 0x01, "secure channel" in later Linux, "TLS" in SPDK. **Unconfirmed** against the specification
    /// ([notes::auth §7](crate::notes::auth)); this crate does not implement concatenation.
    pub const SC: Self = Self(0x01);
    /// 0x02, "new TLS PSK" in later Linux. **Unconfirmed** ([notes::auth §7](crate::notes::auth)).
    pub const NEW_TLS_PSK: Self = Self(0x02);
    /// 0x03, "replace TLS PSK" in later Linux. **Unconfirmed** ([notes::auth §7](crate::notes::auth)).
    pub const REPLACE_TLS_PSK: Self = Self(0x03);
}

/// AUTH_Failure reason code (RC, Failure1/Failure2 byte 6; [notes::auth §2.7](crate::notes::auth)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FailureReason(pub u8);

impl FailureReason {
    /// 0x01, authentication failure: the only reason code defined.
    pub const AUTHENTICATION_FAILURE: Self = Self(0x01);
}

/// AUTH_Failure reason code explanation (RCE, Failure1/Failure2 byte 7; [notes::auth §2.7](crate::notes::auth)):
/// why an exchange failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FailureExplanation(pub u8);

impl FailureExplanation {
    /// 0x01: authentication failed (a response did not match, a key is missing).
    pub const FAILED: Self = Self(0x01);
    /// 0x02: authentication protocol not usable (no DH-HMAC-CHAP descriptor).
    pub const PROTOCOL_NOT_USABLE: Self = Self(0x02);
    /// 0x03: secure channel concatenation mismatch.
    pub const CONCAT_MISMATCH: Self = Self(0x03);
    /// 0x04: hash function not usable.
    pub const HASH_NOT_USABLE: Self = Self(0x04);
    /// 0x05: DH group not usable (also a bad DH value).
    pub const DH_GROUP_NOT_USABLE: Self = Self(0x05);
    /// 0x06: incorrect payload (a malformed message, a wrong length or T_ID).
    pub const INCORRECT_PAYLOAD: Self = Self(0x06);
    /// 0x07: incorrect protocol message (a message out of step).
    pub const INCORRECT_PROTOCOL_MESSAGE: Self = Self(0x07);

    /// The explanation's text, or `None` for an unnamed value.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::FAILED => "authentication failed",
            Self::PROTOCOL_NOT_USABLE => "authentication protocol not usable",
            Self::CONCAT_MISMATCH => "secure channel concatenation mismatch",
            Self::HASH_NOT_USABLE => "hash function not usable",
            Self::DH_GROUP_NOT_USABLE => "DH group not usable",
            Self::INCORRECT_PAYLOAD => "incorrect payload",
            Self::INCORRECT_PROTOCOL_MESSAGE => "incorrect protocol message",
            _ => return None,
        })
    }
}
