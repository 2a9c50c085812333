//! AUTH_Failure1 (controller to host, AUTH_ID 0xF1) and AUTH_Failure2 (host to controller, AUTH_ID 0xF0), both
//! common messages (AUTH_Type 0x00) of 8 bytes with the same layout ([notes::auth §2.7](crate::notes::auth)).

use zerocopy::little_endian::U16;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::ids::{AuthMsgId, AuthType, FailureExplanation, FailureReason};
use super::{AuthError, check_header};

/// Size of AUTH_Failure1 and AUTH_Failure2.
pub const FAILURE_LEN: usize = 8;

/// Zero-copy view of AUTH_Failure1 or AUTH_Failure2 (8 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct FailureView {
    /// Byte 0, AUTH_Type: 0x00 (common message).
    pub auth_type: u8,
    /// Byte 1, AUTH_ID: 0xF1 (Failure1) or 0xF0 (Failure2).
    pub auth_id: u8,
    /// Bytes 3:2, reserved.
    pub reserved: [u8; 2],
    /// Bytes 5:4, T_ID.
    pub t_id: U16,
    /// Byte 6, RC: reason code ([`FailureReason`]).
    pub rc: u8,
    /// Byte 7, RCE: reason code explanation ([`FailureExplanation`]).
    pub rce: u8,
}

const _: () = assert!(size_of::<FailureView>() == FAILURE_LEN);
const _: () = assert!(core::mem::offset_of!(FailureView, t_id) == 4);
const _: () = assert!(core::mem::offset_of!(FailureView, rc) == 6);
const _: () = assert!(core::mem::offset_of!(FailureView, rce) == 7);

fn parse(buf: &[u8], id: AuthMsgId) -> Result<(u16, FailureReason, FailureExplanation), AuthError> {
    check_header(buf, id, FAILURE_LEN)?;
    let (v, _) = FailureView::ref_from_prefix(buf).map_err(|_| AuthError::BufferTooShort { needed: FAILURE_LEN })?;
    Ok((v.t_id.get(), FailureReason(v.rc), FailureExplanation(v.rce)))
}

fn emit(
    buf: &mut [u8],
    id: AuthMsgId,
    t_id: u16,
    reason: FailureReason,
    explanation: FailureExplanation,
) -> Result<usize, AuthError> {
    let out = buf.get_mut(..FAILURE_LEN).ok_or(AuthError::BufferTooShort { needed: FAILURE_LEN })?;
    let view = FailureView {
        auth_type: AuthType::COMMON.0,
        auth_id: id.0,
        reserved: [0; 2],
        t_id: U16::new(t_id),
        rc: reason.0,
        rce: explanation.0,
    };
    out.copy_from_slice(view.as_bytes());
    Ok(FAILURE_LEN)
}

/// AUTH_Failure1, controller to host ([notes::auth §2.7](crate::notes::auth)): the controller ends the transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Failure1 {
    /// Bytes 5:4, T_ID.
    pub t_id: u16,
    /// Byte 6, RC.
    pub reason: FailureReason,
    /// Byte 7, RCE.
    pub explanation: FailureExplanation,
}

impl Failure1 {
    /// A failure with reason code 0x01 (authentication failure) and `explanation`.
    pub const fn new(t_id: u16, explanation: FailureExplanation) -> Self {
        Self { t_id, reason: FailureReason::AUTHENTICATION_FAILURE, explanation }
    }

    /// Parses the message at the start of `buf` (bytes after the 8 are not looked at). Errors: another message
    /// ([`AuthError::WrongMessage`]), fewer than 8 bytes ([`AuthError::BufferTooShort`]). Any RC and RCE are
    /// accepted; reserved bytes are not checked.
    pub fn parse(buf: &[u8]) -> Result<Self, AuthError> {
        let (t_id, reason, explanation) = parse(buf, AuthMsgId::FAILURE1)?;
        Ok(Self { t_id, reason, explanation })
    }

    /// Writes the 8 bytes; a short buffer gives [`AuthError::BufferTooShort`].
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, AuthError> {
        emit(buf, AuthMsgId::FAILURE1, self.t_id, self.reason, self.explanation)
    }

    /// Bytes [`emit`](Self::emit) writes: 8.
    pub const fn buffer_len(&self) -> usize {
        FAILURE_LEN
    }
}

/// AUTH_Failure2, host to controller ([notes::auth §2.7](crate::notes::auth)): the host ends the transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Failure2 {
    /// Bytes 5:4, T_ID.
    pub t_id: u16,
    /// Byte 6, RC.
    pub reason: FailureReason,
    /// Byte 7, RCE.
    pub explanation: FailureExplanation,
}

impl Failure2 {
    /// A failure with reason code 0x01 (authentication failure) and `explanation`.
    pub const fn new(t_id: u16, explanation: FailureExplanation) -> Self {
        Self { t_id, reason: FailureReason::AUTHENTICATION_FAILURE, explanation }
    }

    /// Parses the message at the start of `buf`, as [`Failure1::parse`] does.
    pub fn parse(buf: &[u8]) -> Result<Self, AuthError> {
        let (t_id, reason, explanation) = parse(buf, AuthMsgId::FAILURE2)?;
        Ok(Self { t_id, reason, explanation })
    }

    /// Writes the 8 bytes; a short buffer gives [`AuthError::BufferTooShort`].
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, AuthError> {
        emit(buf, AuthMsgId::FAILURE2, self.t_id, self.reason, self.explanation)
    }

    /// Bytes [`emit`](Self::emit) writes: 8.
    pub const fn buffer_len(&self) -> usize {
        FAILURE_LEN
    }
}
