//! The DH-HMAC-CHAP messages (AUTH_Type 0x01; [notes::auth §2.3–§2.6](crate::notes::auth)): Challenge, Reply,
//! Success1 and Success2. Each has a 16-byte fixed part (a zerocopy view) followed, for the first three, by
//! variable parts whose lengths the fixed part gives (HL, DHVLEN); the representations borrow those parts.

use zerocopy::little_endian::{U16, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::ids::{AuthMsgId, AuthType, DhGroupId, HashId};
use super::{AuthError, check_header};

/// Size of the fixed part of every DH-HMAC-CHAP message.
pub const DHCHAP_HEADER_LEN: usize = 16;

/// Splits `len` bytes after the 16-byte fixed part of `buf`, or says how many bytes the message needs in total.
fn variable_part(buf: &[u8], len: usize) -> Result<&[u8], AuthError> {
    let needed = DHCHAP_HEADER_LEN + len;
    buf.get(DHCHAP_HEADER_LEN..needed).ok_or(AuthError::BufferTooShort { needed })
}

/// `buf[..len]`, or [`AuthError::BufferTooShort`].
fn output(buf: &mut [u8], len: usize) -> Result<&mut [u8], AuthError> {
    buf.get_mut(..len).ok_or(AuthError::BufferTooShort { needed: len })
}

/// HL of a slice (at most 255 bytes), else [`AuthError::InvalidField`] at byte 6.
fn hash_len_of(bytes: &[u8]) -> Result<u8, AuthError> {
    u8::try_from(bytes.len()).map_err(|_| AuthError::InvalidField { offset: 6 })
}

/// DHVLEN of a DH value (at most 65 535 bytes), else [`AuthError::InvalidField`] at bytes 11:10.
fn dhvlen_of(value: &[u8]) -> Result<u16, AuthError> {
    u16::try_from(value.len()).map_err(|_| AuthError::InvalidField { offset: 10 })
}

// ---------------------------------------------------------------------------------------------------------------
// Challenge

/// Zero-copy view of the fixed 16 bytes of DH-HMAC-CHAP_Challenge; C1 (HL bytes) and the controller's DH value
/// (DHVLEN bytes) follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct ChallengeView {
    /// Byte 0, AUTH_Type: 0x01 (DH-HMAC-CHAP).
    pub auth_type: u8,
    /// Byte 1, AUTH_ID: 0x01 (Challenge).
    pub auth_id: u8,
    /// Bytes 3:2, reserved.
    pub reserved0: [u8; 2],
    /// Bytes 5:4, T_ID: the Negotiate's transaction identifier, echoed.
    pub t_id: U16,
    /// Byte 6, HL: hash length, the length of C1 (the digest size of HashID).
    pub hl: u8,
    /// Byte 7, reserved.
    pub reserved1: u8,
    /// Byte 8, HashID: the hash function the controller chose.
    pub hash_id: HashId,
    /// Byte 9, DHgID: the DH group the controller chose.
    pub dh_group: DhGroupId,
    /// Bytes 11:10, DHVLEN: length of the controller's DH value (0 for the NULL group).
    pub dhvlen: U16,
    /// Bytes 15:12, SEQNUM: the sequence number S1.
    pub seqnum: U32,
}

const _: () = assert!(size_of::<ChallengeView>() == DHCHAP_HEADER_LEN);
const _: () = assert!(core::mem::offset_of!(ChallengeView, t_id) == 4);
const _: () = assert!(core::mem::offset_of!(ChallengeView, hl) == 6);
const _: () = assert!(core::mem::offset_of!(ChallengeView, hash_id) == 8);
const _: () = assert!(core::mem::offset_of!(ChallengeView, dh_group) == 9);
const _: () = assert!(core::mem::offset_of!(ChallengeView, dhvlen) == 10);
const _: () = assert!(core::mem::offset_of!(ChallengeView, seqnum) == 12);

/// DH-HMAC-CHAP_Challenge, controller to host ([notes::auth §2.3](crate::notes::auth)): 16 + HL + DHVLEN bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Challenge<'a> {
    /// Bytes 5:4, T_ID.
    pub t_id: u16,
    /// Byte 8, HashID.
    pub hash_id: HashId,
    /// Byte 9, DHgID.
    pub dh_group: DhGroupId,
    /// Bytes 15:12, SEQNUM (S1).
    pub seqnum: u32,
    /// Bytes 16 .. 16 + HL, C1: the challenge (its length is HL, byte 6).
    pub challenge: &'a [u8],
    /// The DHVLEN bytes after C1: the controller's DH value g^x mod p, big-endian, left-padded to the size of p
    /// (empty for the NULL group).
    pub dh_value: &'a [u8],
}

impl<'a> Challenge<'a> {
    /// Parses the message at the start of `buf` (bytes after 16 + HL + DHVLEN are not looked at: the Linux
    /// target returns the whole allocation length, zero-padded).
    ///
    /// Errors: another message ([`AuthError::WrongMessage`]) or fewer bytes than the fields announce
    /// ([`AuthError::BufferTooShort`]). Whether HL matches HashID, and DHVLEN the group, is for the host to check
    /// (each has its own failure explanation). Reserved bytes are not checked.
    pub fn parse(buf: &'a [u8]) -> Result<Self, AuthError> {
        check_header(buf, AuthMsgId::CHALLENGE, DHCHAP_HEADER_LEN)?;
        let (v, _) =
            ChallengeView::ref_from_prefix(buf).map_err(|_| AuthError::BufferTooShort { needed: DHCHAP_HEADER_LEN })?;
        let hl = usize::from(v.hl);
        let tail = variable_part(buf, hl + usize::from(v.dhvlen.get()))?;
        let (challenge, dh_value) = tail.split_at(hl);
        Ok(Self {
            t_id: v.t_id.get(),
            hash_id: v.hash_id,
            dh_group: v.dh_group,
            seqnum: v.seqnum.get(),
            challenge,
            dh_value,
        })
    }

    /// Writes the message (reserved bytes zero); returns its length. A short buffer gives
    /// [`AuthError::BufferTooShort`]; a challenge over 255 bytes or a DH value over 65 535 bytes,
    /// [`AuthError::InvalidField`] at HL (6) or DHVLEN (10).
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, AuthError> {
        let hl = hash_len_of(self.challenge)?;
        let dhvlen = dhvlen_of(self.dh_value)?;
        let len = self.buffer_len();
        let out = output(buf, len)?;
        let (head, tail) = out.split_at_mut(DHCHAP_HEADER_LEN);
        let view = ChallengeView {
            auth_type: AuthType::DH_HMAC_CHAP.0,
            auth_id: AuthMsgId::CHALLENGE.0,
            reserved0: [0; 2],
            t_id: U16::new(self.t_id),
            hl,
            reserved1: 0,
            hash_id: self.hash_id,
            dh_group: self.dh_group,
            dhvlen: U16::new(dhvlen),
            seqnum: U32::new(self.seqnum),
        };
        head.copy_from_slice(view.as_bytes());
        let (c1, dhv) = tail.split_at_mut(self.challenge.len());
        c1.copy_from_slice(self.challenge);
        dhv.copy_from_slice(self.dh_value);
        Ok(len)
    }

    /// Bytes [`emit`](Self::emit) writes: 16 + HL + DHVLEN.
    pub const fn buffer_len(&self) -> usize {
        DHCHAP_HEADER_LEN + self.challenge.len() + self.dh_value.len()
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Reply

/// Zero-copy view of the fixed 16 bytes of DH-HMAC-CHAP_Reply; R1 (HL bytes), C2 (HL bytes) and the host's DH value
/// (DHVLEN bytes) follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct ReplyView {
    /// Byte 0, AUTH_Type: 0x01 (DH-HMAC-CHAP).
    pub auth_type: u8,
    /// Byte 1, AUTH_ID: 0x02 (Reply).
    pub auth_id: u8,
    /// Bytes 3:2, reserved.
    pub reserved0: [u8; 2],
    /// Bytes 5:4, T_ID.
    pub t_id: U16,
    /// Byte 6, HL: hash length, the length of R1 and of C2.
    pub hl: u8,
    /// Byte 7, reserved.
    pub reserved1: u8,
    /// Byte 8, CVALID: 1 when C2 is valid, i.e. the host asks the controller to authenticate itself (R2).
    pub cvalid: u8,
    /// Byte 9, reserved.
    pub reserved2: u8,
    /// Bytes 11:10, DHVLEN: length of the host's DH value.
    pub dhvlen: U16,
    /// Bytes 15:12, SEQNUM: the sequence number S2 (0 means "no bidirectional authentication"; Linux ≥ 6.7 always
    /// sends a non-zero value).
    pub seqnum: U32,
}

const _: () = assert!(size_of::<ReplyView>() == DHCHAP_HEADER_LEN);
const _: () = assert!(core::mem::offset_of!(ReplyView, hl) == 6);
const _: () = assert!(core::mem::offset_of!(ReplyView, cvalid) == 8);
const _: () = assert!(core::mem::offset_of!(ReplyView, dhvlen) == 10);
const _: () = assert!(core::mem::offset_of!(ReplyView, seqnum) == 12);

/// DH-HMAC-CHAP_Reply, host to controller ([notes::auth §2.4](crate::notes::auth)): 16 + 2 × HL + DHVLEN bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Reply<'a> {
    /// Bytes 5:4, T_ID.
    pub t_id: u16,
    /// Bytes 15:12, SEQNUM (S2).
    pub seqnum: u32,
    /// Bytes 16 .. 16 + HL, R1: the host's response (its length is HL, byte 6).
    pub response: &'a [u8],
    /// The next HL bytes, C2, when CVALID (byte 8) is 1; `None` when it is 0 (the field is still on the wire,
    /// zero-filled).
    pub challenge: Option<&'a [u8]>,
    /// The DHVLEN bytes after C2: the host's DH value g^y mod p (empty for the NULL group).
    pub dh_value: &'a [u8],
}

impl<'a> Reply<'a> {
    /// CVALID value "C2 is valid".
    pub const CVALID: u8 = 1;

    /// Parses the message at the start of `buf` (bytes after 16 + 2 × HL + DHVLEN are not looked at).
    ///
    /// Errors: another message ([`AuthError::WrongMessage`]), fewer bytes than the fields announce
    /// ([`AuthError::BufferTooShort`]), CVALID other than 0 or 1 ([`AuthError::InvalidField`] at byte 8). The C2
    /// field of a reply with CVALID 0 and the reserved bytes are not checked.
    pub fn parse(buf: &'a [u8]) -> Result<Self, AuthError> {
        check_header(buf, AuthMsgId::REPLY, DHCHAP_HEADER_LEN)?;
        let (v, _) =
            ReplyView::ref_from_prefix(buf).map_err(|_| AuthError::BufferTooShort { needed: DHCHAP_HEADER_LEN })?;
        let hl = usize::from(v.hl);
        let tail = variable_part(buf, 2 * hl + usize::from(v.dhvlen.get()))?;
        let (response, rest) = tail.split_at(hl);
        let (c2, dh_value) = rest.split_at(hl);
        let challenge = match v.cvalid {
            0 => None,
            Self::CVALID => Some(c2),
            _ => return Err(AuthError::InvalidField { offset: 8 }),
        };
        Ok(Self { t_id: v.t_id.get(), seqnum: v.seqnum.get(), response, challenge, dh_value })
    }

    /// Writes the message (reserved bytes zero, C2 zero-filled without a challenge); returns its length. A short
    /// buffer gives [`AuthError::BufferTooShort`]; a response over 255 bytes or a challenge of another length than
    /// the response, [`AuthError::InvalidField`] at HL (6); a DH value over 65 535 bytes, at DHVLEN (10).
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, AuthError> {
        let hl = hash_len_of(self.response)?;
        if self.challenge.is_some_and(|c| c.len() != self.response.len()) {
            return Err(AuthError::InvalidField { offset: 6 });
        }
        let dhvlen = dhvlen_of(self.dh_value)?;
        let len = self.buffer_len();
        let out = output(buf, len)?;
        let (head, tail) = out.split_at_mut(DHCHAP_HEADER_LEN);
        let view = ReplyView {
            auth_type: AuthType::DH_HMAC_CHAP.0,
            auth_id: AuthMsgId::REPLY.0,
            reserved0: [0; 2],
            t_id: U16::new(self.t_id),
            hl,
            reserved1: 0,
            cvalid: if self.challenge.is_some() { Self::CVALID } else { 0 },
            reserved2: 0,
            dhvlen: U16::new(dhvlen),
            seqnum: U32::new(self.seqnum),
        };
        head.copy_from_slice(view.as_bytes());
        let (r1, rest) = tail.split_at_mut(self.response.len());
        r1.copy_from_slice(self.response);
        let (c2, dhv) = rest.split_at_mut(self.response.len());
        match self.challenge {
            Some(c) => c2.copy_from_slice(c),
            None => c2.fill(0),
        }
        dhv.copy_from_slice(self.dh_value);
        Ok(len)
    }

    /// Bytes [`emit`](Self::emit) writes: 16 + 2 × HL + DHVLEN.
    pub const fn buffer_len(&self) -> usize {
        DHCHAP_HEADER_LEN + 2 * self.response.len() + self.dh_value.len()
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Success1

/// Zero-copy view of the fixed 16 bytes of DH-HMAC-CHAP_Success1; R2 (HL bytes) follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct Success1View {
    /// Byte 0, AUTH_Type: 0x01 (DH-HMAC-CHAP).
    pub auth_type: u8,
    /// Byte 1, AUTH_ID: 0x03 (Success1).
    pub auth_id: u8,
    /// Bytes 3:2, reserved.
    pub reserved0: [u8; 2],
    /// Bytes 5:4, T_ID.
    pub t_id: U16,
    /// Byte 6, HL: hash length, the length of the R2 field.
    pub hl: u8,
    /// Byte 7, reserved.
    pub reserved1: u8,
    /// Byte 8, RVALID: 1 when R2 is valid (the controller answers the host's C2).
    pub rvalid: u8,
    /// Bytes 15:9, reserved.
    pub reserved2: [u8; 7],
}

const _: () = assert!(size_of::<Success1View>() == DHCHAP_HEADER_LEN);
const _: () = assert!(core::mem::offset_of!(Success1View, hl) == 6);
const _: () = assert!(core::mem::offset_of!(Success1View, rvalid) == 8);

/// DH-HMAC-CHAP_Success1, controller to host ([notes::auth §2.5](crate::notes::auth)): 16 + HL bytes, the R2
/// field present (zero-filled) even without R2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Success1<'a> {
    /// Bytes 5:4, T_ID.
    pub t_id: u16,
    /// Byte 6, HL: the hash length, given even without R2.
    pub hl: u8,
    /// Bytes 16 .. 16 + HL, R2: the controller's response, when RVALID (byte 8) is 1.
    pub response: Option<&'a [u8]>,
}

impl<'a> Success1<'a> {
    /// RVALID value "R2 is valid".
    pub const RVALID: u8 = 1;

    /// Parses the message at the start of `buf`. With RVALID 1 the R2 field (HL bytes) must be there; with
    /// RVALID 0 the 16-byte fixed part is enough (the field carries nothing; Linux before 6.7 did not always send
    /// it) and bytes after it are not looked at.
    ///
    /// Errors: another message ([`AuthError::WrongMessage`]), a short buffer ([`AuthError::BufferTooShort`]),
    /// RVALID other than 0 or 1 ([`AuthError::InvalidField`] at byte 8). Reserved bytes are not checked.
    pub fn parse(buf: &'a [u8]) -> Result<Self, AuthError> {
        check_header(buf, AuthMsgId::SUCCESS1, DHCHAP_HEADER_LEN)?;
        let (v, _) =
            Success1View::ref_from_prefix(buf).map_err(|_| AuthError::BufferTooShort { needed: DHCHAP_HEADER_LEN })?;
        let response = match v.rvalid {
            0 => None,
            Self::RVALID => Some(variable_part(buf, usize::from(v.hl))?),
            _ => return Err(AuthError::InvalidField { offset: 8 }),
        };
        Ok(Self { t_id: v.t_id.get(), hl: v.hl, response })
    }

    /// Writes the message, always with its HL-byte R2 field (zero-filled without a response); returns its length.
    /// A short buffer gives [`AuthError::BufferTooShort`]; a response whose length is not HL,
    /// [`AuthError::InvalidField`] at HL (6).
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, AuthError> {
        if self.response.is_some_and(|r| r.len() != usize::from(self.hl)) {
            return Err(AuthError::InvalidField { offset: 6 });
        }
        let len = self.buffer_len();
        let out = output(buf, len)?;
        let (head, r2) = out.split_at_mut(DHCHAP_HEADER_LEN);
        let view = Success1View {
            auth_type: AuthType::DH_HMAC_CHAP.0,
            auth_id: AuthMsgId::SUCCESS1.0,
            reserved0: [0; 2],
            t_id: U16::new(self.t_id),
            hl: self.hl,
            reserved1: 0,
            rvalid: if self.response.is_some() { Self::RVALID } else { 0 },
            reserved2: [0; 7],
        };
        head.copy_from_slice(view.as_bytes());
        match self.response {
            Some(r) => r2.copy_from_slice(r),
            None => r2.fill(0),
        }
        Ok(len)
    }

    /// Bytes [`emit`](Self::emit) writes: 16 + HL.
    pub const fn buffer_len(&self) -> usize {
        DHCHAP_HEADER_LEN + self.hl as usize
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Success2

/// Zero-copy view of DH-HMAC-CHAP_Success2 (16 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct Success2View {
    /// Byte 0, AUTH_Type: 0x01 (DH-HMAC-CHAP).
    pub auth_type: u8,
    /// Byte 1, AUTH_ID: 0x04 (Success2).
    pub auth_id: u8,
    /// Bytes 3:2, reserved.
    pub reserved0: [u8; 2],
    /// Bytes 5:4, T_ID.
    pub t_id: U16,
    /// Bytes 15:6, reserved.
    pub reserved1: [u8; 10],
}

const _: () = assert!(size_of::<Success2View>() == DHCHAP_HEADER_LEN);
const _: () = assert!(core::mem::offset_of!(Success2View, t_id) == 4);

/// DH-HMAC-CHAP_Success2, host to controller ([notes::auth §2.6](crate::notes::auth)): the host accepted R2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Success2 {
    /// Bytes 5:4, T_ID.
    pub t_id: u16,
}

impl Success2 {
    /// Size on the wire.
    pub const LEN: usize = DHCHAP_HEADER_LEN;

    /// Parses the message at the start of `buf`: another message gives [`AuthError::WrongMessage`], fewer than 16
    /// bytes [`AuthError::BufferTooShort`]. Reserved bytes are not checked.
    pub fn parse(buf: &[u8]) -> Result<Self, AuthError> {
        check_header(buf, AuthMsgId::SUCCESS2, Self::LEN)?;
        let (v, _) = Success2View::ref_from_prefix(buf).map_err(|_| AuthError::BufferTooShort { needed: Self::LEN })?;
        Ok(Self { t_id: v.t_id.get() })
    }

    /// Writes the 16 bytes (reserved bytes zero); a short buffer gives [`AuthError::BufferTooShort`].
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, AuthError> {
        let out = output(buf, Self::LEN)?;
        let view = Success2View {
            auth_type: AuthType::DH_HMAC_CHAP.0,
            auth_id: AuthMsgId::SUCCESS2.0,
            reserved0: [0; 2],
            t_id: U16::new(self.t_id),
            reserved1: [0; 10],
        };
        out.copy_from_slice(view.as_bytes());
        Ok(Self::LEN)
    }

    /// Bytes [`emit`](Self::emit) writes: 16.
    pub const fn buffer_len(&self) -> usize {
        Self::LEN
    }
}
