//! AUTH_Negotiate (AUTH_Type 0x00, AUTH_ID 0x00; [notes::auth §2.2](crate::notes::auth)): the host's first message,
//! 8 bytes and NAPD protocol descriptors of 64 bytes each.

use zerocopy::little_endian::U16;
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::ids::{AuthMsgId, AuthProtocolId, AuthType, DhGroupId, HashId, SecureChannel};
use super::{AuthError, check_header};

/// Zero-copy view of the fixed 8 bytes of AUTH_Negotiate; NAPD [`ProtocolDescriptorView`]s follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct NegotiateView {
    /// Byte 0, AUTH_Type: 0x00 (common message).
    pub auth_type: u8,
    /// Byte 1, AUTH_ID: 0x00 (Negotiate).
    pub auth_id: u8,
    /// Bytes 3:2, reserved.
    pub reserved: [u8; 2],
    /// Bytes 5:4, T_ID: the transaction identifier the host chose; every later message of the transaction echoes it.
    pub t_id: U16,
    /// Byte 6, SC_C: secure channel concatenation ([`SecureChannel`]).
    pub sc_c: u8,
    /// Byte 7, NAPD: number of protocol descriptors that follow.
    pub napd: u8,
}

const _: () = assert!(size_of::<NegotiateView>() == 8);
const _: () = assert!(core::mem::offset_of!(NegotiateView, t_id) == 4);
const _: () = assert!(core::mem::offset_of!(NegotiateView, sc_c) == 6);
const _: () = assert!(core::mem::offset_of!(NegotiateView, napd) == 7);

/// Zero-copy view of one 64-byte protocol descriptor of AUTH_Negotiate (at byte 8 + 64 × k).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct ProtocolDescriptorView {
    /// Descriptor byte 0, AUTHID: the protocol ([`AuthProtocolId::DH_HMAC_CHAP`]).
    pub auth_id: u8,
    /// Descriptor byte 1, reserved.
    pub reserved: u8,
    /// Descriptor byte 2, HALEN: number of valid entries of the HashIDList (at most 30).
    pub halen: u8,
    /// Descriptor byte 3, DHLEN: number of valid entries of the DHgIDList (at most 30).
    pub dhlen: u8,
    /// Descriptor bytes 33:4, HashIDList: the hash functions the host can use, the first HALEN valid.
    pub hash_ids: [HashId; 30],
    /// Descriptor bytes 63:34, DHgIDList: the DH groups the host can use, the first DHLEN valid.
    pub dh_groups: [DhGroupId; 30],
}

const _: () = assert!(size_of::<ProtocolDescriptorView>() == 64);
const _: () = assert!(core::mem::offset_of!(ProtocolDescriptorView, halen) == 2);
const _: () = assert!(core::mem::offset_of!(ProtocolDescriptorView, dhlen) == 3);
const _: () = assert!(core::mem::offset_of!(ProtocolDescriptorView, hash_ids) == 4);
const _: () = assert!(core::mem::offset_of!(ProtocolDescriptorView, dh_groups) == 34);

impl ProtocolDescriptorView {
    /// The valid hash identifiers: the first HALEN (at most 30, so never out of bounds).
    pub fn hash_ids(&self) -> &[HashId] {
        &self.hash_ids[..usize::from(self.halen).min(ProtocolDescriptor::MAX_IDS)]
    }

    /// The valid DH group identifiers: the first DHLEN (at most 30).
    pub fn dh_groups(&self) -> &[DhGroupId] {
        &self.dh_groups[..usize::from(self.dhlen).min(ProtocolDescriptor::MAX_IDS)]
    }
}

/// One protocol descriptor of AUTH_Negotiate: the protocol and the hashes and DH groups the host offers, borrowed
/// from the message (or from the caller, to build one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProtocolDescriptor<'a> {
    /// Byte 0, AUTHID.
    pub auth_id: AuthProtocolId,
    /// The HashIDList entries (HALEN of them).
    pub hash_ids: &'a [HashId],
    /// The DHgIDList entries (DHLEN of them).
    pub dh_groups: &'a [DhGroupId],
}

impl<'a> ProtocolDescriptor<'a> {
    /// Size on the wire.
    pub const LEN: usize = 64;
    /// Most entries a HashIDList or DHgIDList holds.
    pub const MAX_IDS: usize = 30;

    /// A DH-HMAC-CHAP descriptor offering `hash_ids` and `dh_groups`.
    pub const fn dh_hmac_chap(hash_ids: &'a [HashId], dh_groups: &'a [DhGroupId]) -> Self {
        Self { auth_id: AuthProtocolId::DH_HMAC_CHAP, hash_ids, dh_groups }
    }

    /// The descriptor of a view whose HALEN and DHLEN are at most 30 (longer counts are cut to 30; the message
    /// parser refuses them first).
    pub fn from_view(view: &'a ProtocolDescriptorView) -> Self {
        Self { auth_id: AuthProtocolId(view.auth_id), hash_ids: view.hash_ids(), dh_groups: view.dh_groups() }
    }

    /// The 64-byte view (reserved bytes and unused list entries zero). More than 30 hashes or groups give
    /// [`AuthError::InvalidField`] at the HALEN (2) or DHLEN (3) descriptor byte.
    pub fn to_view(&self) -> Result<ProtocolDescriptorView, AuthError> {
        if self.hash_ids.len() > Self::MAX_IDS {
            return Err(AuthError::InvalidField { offset: 2 });
        }
        if self.dh_groups.len() > Self::MAX_IDS {
            return Err(AuthError::InvalidField { offset: 3 });
        }
        let mut v = ProtocolDescriptorView::new_zeroed();
        v.auth_id = self.auth_id.0;
        v.halen = self.hash_ids.len() as u8;
        v.dhlen = self.dh_groups.len() as u8;
        v.hash_ids[..self.hash_ids.len()].copy_from_slice(self.hash_ids);
        v.dh_groups[..self.dh_groups.len()].copy_from_slice(self.dh_groups);
        Ok(v)
    }
}

/// AUTH_Negotiate ([notes::auth §2.2](crate::notes::auth)): the transaction identifier, the secure channel request
/// and the protocol descriptors, borrowed as views from the parsed bytes (or from the caller, to send one; build
/// them with [`ProtocolDescriptor::to_view`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Negotiate<'a> {
    /// Bytes 5:4, T_ID.
    pub t_id: u16,
    /// Byte 6, SC_C.
    pub sc_c: SecureChannel,
    /// The NAPD descriptors (byte 7 counts them), each with HALEN and DHLEN at most 30.
    pub descriptors: &'a [ProtocolDescriptorView],
}

impl<'a> Negotiate<'a> {
    /// Size of the fixed part.
    pub const HEADER_LEN: usize = 8;
    /// Most descriptors NAPD can announce.
    pub const MAX_DESCRIPTORS: usize = u8::MAX as usize;

    /// Parses the message at the start of `buf` (bytes after it are not looked at: a controller may pad).
    ///
    /// Errors: another message type ([`AuthError::WrongMessage`]), fewer bytes than 8 + 64 × NAPD
    /// ([`AuthError::BufferTooShort`] with that size), a descriptor with HALEN or DHLEN above 30
    /// ([`AuthError::InvalidField`] at that byte). NAPD 0 and unknown protocols, hashes and groups are accepted:
    /// choosing among them is the controller's business. Reserved bytes are not checked.
    pub fn parse(buf: &'a [u8]) -> Result<Self, AuthError> {
        check_header(buf, AuthMsgId::NEGOTIATE, Self::HEADER_LEN)?;
        let (v, rest) =
            NegotiateView::ref_from_prefix(buf).map_err(|_| AuthError::BufferTooShort { needed: Self::HEADER_LEN })?;
        let napd = usize::from(v.napd);
        let (descriptors, _) = <[ProtocolDescriptorView]>::ref_from_prefix_with_elems(rest, napd)
            .map_err(|_| AuthError::BufferTooShort { needed: Self::HEADER_LEN + napd * ProtocolDescriptor::LEN })?;
        for (k, d) in descriptors.iter().enumerate() {
            let at = Self::HEADER_LEN + k * ProtocolDescriptor::LEN;
            if usize::from(d.halen) > ProtocolDescriptor::MAX_IDS {
                return Err(AuthError::InvalidField { offset: at + 2 });
            }
            if usize::from(d.dhlen) > ProtocolDescriptor::MAX_IDS {
                return Err(AuthError::InvalidField { offset: at + 3 });
            }
        }
        Ok(Self { t_id: v.t_id.get(), sc_c: SecureChannel(v.sc_c), descriptors })
    }

    /// Writes the message (reserved bytes and unused list entries zero); returns its length. A short buffer gives
    /// [`AuthError::BufferTooShort`]; more than 255 descriptors, or one with more than 30 hashes or groups,
    /// [`AuthError::InvalidField`] at the NAPD, HALEN or DHLEN byte.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, AuthError> {
        if self.descriptors.len() > Self::MAX_DESCRIPTORS {
            return Err(AuthError::InvalidField { offset: 7 });
        }
        let len = self.buffer_len();
        let out = buf.get_mut(..len).ok_or(AuthError::BufferTooShort { needed: len })?;
        let (head, rest) = out.split_at_mut(Self::HEADER_LEN);
        let v = NegotiateView::mut_from_bytes(head).map_err(|_| AuthError::BufferTooShort { needed: len })?;
        *v = NegotiateView {
            auth_type: AuthType::COMMON.0,
            auth_id: AuthMsgId::NEGOTIATE.0,
            reserved: [0; 2],
            t_id: U16::new(self.t_id),
            sc_c: self.sc_c.0,
            napd: self.descriptors.len() as u8,
        };
        for (k, (d, out)) in self.descriptors.iter().zip(rest.chunks_exact_mut(ProtocolDescriptor::LEN)).enumerate() {
            let at = Self::HEADER_LEN + k * ProtocolDescriptor::LEN;
            if usize::from(d.halen) > ProtocolDescriptor::MAX_IDS {
                return Err(AuthError::InvalidField { offset: at + 2 });
            }
            if usize::from(d.dhlen) > ProtocolDescriptor::MAX_IDS {
                return Err(AuthError::InvalidField { offset: at + 3 });
            }
            // Through the representation: the reserved byte and the list entries past HALEN / DHLEN become zero.
            let clean = ProtocolDescriptor::from_view(d).to_view()?;
            out.copy_from_slice(clean.as_bytes());
        }
        Ok(len)
    }

    /// Bytes [`emit`](Self::emit) writes: 8 + 64 × NAPD.
    pub const fn buffer_len(&self) -> usize {
        Self::HEADER_LEN + self.descriptors.len() * ProtocolDescriptor::LEN
    }

    /// The descriptors as representations.
    pub fn protocols(&self) -> impl Iterator<Item = ProtocolDescriptor<'a>> + 'a {
        self.descriptors.iter().map(ProtocolDescriptor::from_view)
    }

    /// The first DH-HMAC-CHAP descriptor, if any.
    pub fn dh_hmac_chap(&self) -> Option<ProtocolDescriptor<'a>> {
        self.protocols().find(|d| d.auth_id == AuthProtocolId::DH_HMAC_CHAP)
    }
}
