//! The Asymmetric Namespace Access log page (LID 0x0C; [notes::commands §12](crate::notes::commands)): a 16-byte
//! header (CHGCNT, NGRPS), then NGRPS group descriptors of 32 bytes each followed by that group's NNSIDS namespace
//! identifiers (4 bytes each). Read with LSP bit 0 (RGO, [`LSP_ANA_RGO`]) set, every descriptor has NNSIDS = 0 and no
//! list.
//!
//! A descriptor's length depends on a field inside it, so where descriptor *i* starts depends on every descriptor
//! before it: the framing is parsed with nom ([`super::framing`]), each fixed part is a zerocopy view, and each NSID
//! list is borrowed from the caller's bytes as `&[U32]`. Nothing allocates.

use core::fmt;
use core::hash::{Hash, Hasher};

use nom::bytes::streaming::take;
use nom::{Err, IResult, Needed};
use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::CmdError;
use super::framing::{short_by, view};

/// Get Log Page LSP bit 0 for the ANA log, RGO (Return Groups Only): the controller returns the group descriptors
/// with NNSIDS = 0 and no namespace identifiers.
pub const LSP_ANA_RGO: u8 = 0x01;

/// Zero-copy view of the 16-byte ANA log header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct AnaLogHeaderView {
    /// Bytes 7:0, CHGCNT: change count of the log page (incremented when its content changes).
    pub chgcnt: U64,
    /// Bytes 9:8, NGRPS: number of ANA group descriptors that follow.
    pub ngrps: U16,
    /// Bytes 15:10, reserved.
    pub reserved: [u8; 6],
}

const _: () = assert!(size_of::<AnaLogHeaderView>() == 16);
const _: () = assert!(core::mem::offset_of!(AnaLogHeaderView, ngrps) == 8);

impl AnaLogHeaderView {
    /// Casts the first 16 bytes of `buf` (what a host reading the header alone gets; libnvme reads it first).
    pub fn ref_from_buf(buf: &[u8]) -> Result<&Self, CmdError> {
        Self::ref_from_prefix(buf).map(|(v, _)| v).map_err(|_| CmdError::BufferTooShort { needed: 16 })
    }
}

/// Zero-copy view of the fixed 32-byte part of an ANA group descriptor; NNSIDS namespace identifiers (le32 each)
/// follow it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct AnaGroupDescriptorView {
    /// Bytes 3:0, ANAGRPID: the ANA group identifier (0 is not a valid group).
    pub anagrpid: U32,
    /// Bytes 7:4, NNSIDS: number of NSID values after the descriptor (0 when read with RGO).
    pub nnsids: U32,
    /// Bytes 15:8, CHGCNT: change count of this group.
    pub chgcnt: U64,
    /// Byte 16: bits 3:0 the ANA state ([`AnaState`]), bits 7:4 reserved.
    pub state: u8,
    /// Bytes 31:17, reserved.
    pub reserved: [u8; 15],
}

const _: () = assert!(size_of::<AnaGroupDescriptorView>() == 32);
const _: () = assert!(core::mem::offset_of!(AnaGroupDescriptorView, nnsids) == 4);
const _: () = assert!(core::mem::offset_of!(AnaGroupDescriptorView, chgcnt) == 8);
const _: () = assert!(core::mem::offset_of!(AnaGroupDescriptorView, state) == 16);

impl AnaGroupDescriptorView {
    /// Size of the fixed part.
    pub const LEN: usize = 32;

    /// The ANA state (byte 16 bits 3:0), `None` for a reserved value. Bits 7:4 are not looked at.
    pub fn ana_state(&self) -> Option<AnaState> {
        AnaState::from_raw(self.state & AnaState::MASK)
    }
}

/// Asymmetric Namespace Access state of a group (descriptor byte 16, bits 3:0). Closed: a reserved value is an
/// error of [`AnaGroupDescriptor::parse`]; the raw byte stays readable on [`AnaGroupDescriptorView::state`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AnaState {
    /// 0x1, ANA Optimized: the preferred path.
    Optimized,
    /// 0x2, ANA Non-Optimized: usable, at lower performance.
    NonOptimized,
    /// 0x3, ANA Inaccessible: commands to this group's namespaces fail with SCT 3 / SC 0x02; use another path.
    Inaccessible,
    /// 0x4, ANA Persistent Loss: the path will not come back (SCT 3 / SC 0x01).
    PersistentLoss,
    /// 0xF, ANA Change: a transition is in progress (SCT 3 / SC 0x03); at most ANATT seconds.
    Change,
}

impl AnaState {
    /// Byte 16 bits holding the state.
    pub const MASK: u8 = 0x0F;

    /// The state of a wire value (bits 3:0 already extracted); `None` for the reserved values 0x0 and 0x5–0xE.
    pub const fn from_raw(v: u8) -> Option<Self> {
        Some(match v {
            0x1 => Self::Optimized,
            0x2 => Self::NonOptimized,
            0x3 => Self::Inaccessible,
            0x4 => Self::PersistentLoss,
            0xF => Self::Change,
            _ => return None,
        })
    }

    /// The wire value.
    pub const fn to_raw(self) -> u8 {
        match self {
            Self::Optimized => 0x1,
            Self::NonOptimized => 0x2,
            Self::Inaccessible => 0x3,
            Self::PersistentLoss => 0x4,
            Self::Change => 0xF,
        }
    }

    /// Whether I/O may be sent through a controller reporting this state for the namespace: Optimized or
    /// Non-Optimized (the Linux host's rule).
    pub const fn allows_io(self) -> bool {
        matches!(self, Self::Optimized | Self::NonOptimized)
    }

    /// The state's name as the specification writes it.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Optimized => "optimized",
            Self::NonOptimized => "non-optimized",
            Self::Inaccessible => "inaccessible",
            Self::PersistentLoss => "persistent loss",
            Self::Change => "change",
        }
    }
}

/// The namespace identifiers of one ANA group: borrowed from a parsed page (little-endian, any alignment) or from
/// the caller's `&[u32]` for [`AnaLogPage::emit`]. Two lists are equal when they hold the same NSIDs in the same
/// order, wherever they come from.
#[derive(Clone, Copy)]
pub struct NsidList<'a>(Nsids<'a>);

#[derive(Clone, Copy)]
enum Nsids<'a> {
    Wire(&'a [U32]),
    Native(&'a [u32]),
}

impl<'a> NsidList<'a> {
    /// No NSIDs (what every descriptor of an RGO read holds).
    pub const EMPTY: NsidList<'static> = NsidList(Nsids::Native(&[]));

    /// A list of the caller's NSIDs.
    pub const fn new(nsids: &'a [u32]) -> Self {
        Self(Nsids::Native(nsids))
    }

    /// A list over little-endian NSIDs as they sit on the wire.
    pub const fn from_wire(nsids: &'a [U32]) -> Self {
        Self(Nsids::Wire(nsids))
    }

    /// The number of NSIDs.
    pub const fn len(&self) -> usize {
        match self.0 {
            Nsids::Wire(s) => s.len(),
            Nsids::Native(s) => s.len(),
        }
    }

    /// `true` when the list is empty.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// NSID `index`, or `None` past the end.
    pub fn get(&self, index: usize) -> Option<u32> {
        match self.0 {
            Nsids::Wire(s) => s.get(index).map(|v| v.get()),
            Nsids::Native(s) => s.get(index).copied(),
        }
    }

    /// The NSIDs in order.
    pub fn iter(&self) -> NsidIter<'a> {
        NsidIter { list: *self, next: 0 }
    }
}

impl<'a> From<&'a [u32]> for NsidList<'a> {
    fn from(nsids: &'a [u32]) -> Self {
        Self::new(nsids)
    }
}

impl PartialEq for NsidList<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for NsidList<'_> {}

impl Hash for NsidList<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.len().hash(state);
        for nsid in self.iter() {
            nsid.hash(state);
        }
    }
}

impl fmt::Debug for NsidList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Iterator over the NSIDs of an [`NsidList`].
#[derive(Clone, Debug)]
pub struct NsidIter<'a> {
    list: NsidList<'a>,
    next: usize,
}

impl Iterator for NsidIter<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        let v = self.list.get(self.next)?;
        self.next += 1;
        Some(v)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.list.len().saturating_sub(self.next);
        (left, Some(left))
    }
}

impl ExactSizeIterator for NsidIter<'_> {}

/// One ANA group descriptor ([notes::commands §12](crate::notes::commands)), validated: ANAGRPID not 0 and a defined
/// ANA state. NNSIDS is the length of [`nsids`](Self::nsids); reserved bits and bytes are dropped (sent as 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AnaGroupDescriptor<'a> {
    /// Bytes 3:0, ANAGRPID (never 0).
    pub anagrpid: u32,
    /// Bytes 15:8, CHGCNT of the group.
    pub chgcnt: u64,
    /// Byte 16 bits 3:0, the ANA state of every namespace in the group, as seen through this controller.
    pub state: AnaState,
    /// The NSIDs after the descriptor (NNSIDS, bytes 7:4, is their number); empty when read with RGO.
    pub nsids: NsidList<'a>,
}

/// A descriptor's fixed part and its NSID list, framed but not yet validated.
type RawDescriptor<'a> = (&'a AnaGroupDescriptorView, &'a [U32]);

/// nom parser of one descriptor: the 32-byte view, then NNSIDS × 4 bytes of NSIDs.
fn descriptor(input: &[u8]) -> IResult<&[u8], RawDescriptor<'_>> {
    let (rest, fixed) = view::<AnaGroupDescriptorView>(input)?;
    // NNSIDS × 4 overflows only a 16- or 32-bit usize, where such a list could not be addressed anyway.
    let Some(list_len) = usize::try_from(fixed.nnsids.get()).ok().and_then(|n| n.checked_mul(4)) else {
        return Err(Err::Incomplete(Needed::Unknown));
    };
    let (rest, list) = take(list_len)(rest)?;
    match <[U32]>::ref_from_bytes(list) {
        Ok(nsids) => Ok((rest, (fixed, nsids))),
        // A whole number of unaligned 4-byte values: unreachable, but an error, not a panic.
        Err(_) => Err(Err::Failure(nom::error::Error::new(input, nom::error::ErrorKind::LengthValue))),
    }
}

impl<'a> AnaGroupDescriptor<'a> {
    /// Validates a framed descriptor that starts at byte `at` of its page (error offsets are page offsets).
    fn from_raw((fixed, nsids): RawDescriptor<'a>, at: usize) -> Result<Self, CmdError> {
        let anagrpid = fixed.anagrpid.get();
        if anagrpid == 0 {
            return Err(CmdError::InvalidField { offset: at });
        }
        let state = fixed.ana_state().ok_or(CmdError::InvalidField { offset: at + 16 })?;
        Ok(Self { anagrpid, chgcnt: fixed.chgcnt.get(), state, nsids: NsidList::from_wire(nsids) })
    }

    /// Parses the descriptor at the start of `buf`; returns it and the bytes it takes (32 + 4 × NNSIDS). A cut
    /// descriptor gives [`CmdError::BufferTooShort`] with the bytes it needs; ANAGRPID 0 or a reserved state gives
    /// [`CmdError::InvalidField`] at byte 0 or 16.
    pub fn parse(buf: &'a [u8]) -> Result<(Self, usize), CmdError> {
        let (rest, raw) = descriptor(buf).map_err(|e| short_by(e, 0, buf.len()))?;
        Ok((Self::from_raw(raw, 0)?, buf.len() - rest.len()))
    }

    /// Bytes the descriptor takes with its NSID list: 32 + 4 × NNSIDS.
    pub fn buffer_len(&self) -> usize {
        AnaGroupDescriptorView::LEN.saturating_add(self.nsids.len().saturating_mul(4))
    }

    /// Writes the descriptor and its NSIDs at the start of `buf`; returns [`buffer_len`](Self::buffer_len).
    /// ANAGRPID 0 gives [`CmdError::InvalidField`] (offset 0); more than `u32::MAX` NSIDs gives
    /// [`CmdError::TooManyEntries`].
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, CmdError> {
        if self.anagrpid == 0 {
            return Err(CmdError::InvalidField { offset: 0 });
        }
        let nnsids = u32::try_from(self.nsids.len())
            .map_err(|_| CmdError::TooManyEntries { count: self.nsids.len(), max: u32::MAX as usize })?;
        let needed = self.buffer_len();
        let out = buf.get_mut(..needed).ok_or(CmdError::BufferTooShort { needed })?;
        let (head, list) = out.split_at_mut(AnaGroupDescriptorView::LEN);
        let fixed = AnaGroupDescriptorView {
            anagrpid: U32::new(self.anagrpid),
            nnsids: U32::new(nnsids),
            chgcnt: U64::new(self.chgcnt),
            state: self.state.to_raw(),
            reserved: [0; 15],
        };
        head.copy_from_slice(fixed.as_bytes());
        for (slot, nsid) in list.chunks_exact_mut(4).zip(self.nsids.iter()) {
            slot.copy_from_slice(&nsid.to_le_bytes());
        }
        Ok(needed)
    }
}

/// Zero-copy view of an ANA log page (LID 0x0C; [notes::commands §12](crate::notes::commands)).
///
/// [`new_checked`](Self::new_checked) walks the framing once (the header, then NGRPS descriptors each with its NSID
/// list), so the iterators never read past the page. The content of each descriptor (ANAGRPID, state) is checked
/// as [`descriptors`](Self::descriptors) yields it, so one bad descriptor does not hide the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnaLogPage<'a> {
    header: &'a AnaLogHeaderView,
    /// The descriptors, exactly (the bytes after the last one are not part of the page).
    body: &'a [u8],
    rgo: bool,
}

impl<'a> AnaLogPage<'a> {
    /// Size of the header.
    pub const HEADER_LEN: usize = 16;

    /// Checks `buf` as an ANA log page read with RGO = `rgo` (Get Log Page LSP bit 0, [`LSP_ANA_RGO`]): the 16-byte
    /// header, then NGRPS descriptors each followed by its NSIDs. A page cut short gives
    /// [`CmdError::BufferTooShort`] with the size the page needs as far as it can be known (read the log again
    /// with at least that many bytes); with `rgo`, a descriptor with NNSIDS ≠ 0 gives [`CmdError::InvalidField`] at
    /// its NNSIDS. Bytes after the last descriptor are ignored (a Get Log Page returns as many bytes as asked for).
    pub fn new_checked(buf: &'a [u8], rgo: bool) -> Result<Self, CmdError> {
        let (mut rest, header) = view::<AnaLogHeaderView>(buf).map_err(|e| short_by(e, 0, buf.len()))?;
        for _ in 0..header.ngrps.get() {
            let at = buf.len() - rest.len();
            let (next, (fixed, _)) = descriptor(rest).map_err(|e| short_by(e, at, rest.len()))?;
            if rgo && fixed.nnsids.get() != 0 {
                return Err(CmdError::InvalidField { offset: at + 4 });
            }
            rest = next;
        }
        let end = buf.len() - rest.len();
        let body = buf.get(Self::HEADER_LEN..end).ok_or(CmdError::BufferTooShort { needed: end })?;
        Ok(Self { header, body, rgo })
    }

    /// CHGCNT of the page.
    pub fn chgcnt(&self) -> u64 {
        self.header.chgcnt.get()
    }

    /// NGRPS: the number of group descriptors.
    pub fn ngrps(&self) -> u16 {
        self.header.ngrps.get()
    }

    /// Whether the page was checked as an RGO read.
    pub fn rgo(&self) -> bool {
        self.rgo
    }

    /// Bytes the page takes (header and descriptors).
    pub fn len(&self) -> usize {
        Self::HEADER_LEN + self.body.len()
    }

    /// `true` when the page has no descriptor.
    pub fn is_empty(&self) -> bool {
        self.body.is_empty()
    }

    /// The framed descriptors, unvalidated: each fixed part and its NSIDs (a tolerant reader's path).
    pub fn raw_descriptors(&self) -> AnaRawDescriptors<'a> {
        AnaRawDescriptors { body: self.body, pos: 0, left: self.ngrps() }
    }

    /// The descriptors in order, each validated ([`AnaGroupDescriptor`]); an invalid one yields its error (offsets
    /// in page bytes) and the iteration goes on with the next.
    pub fn descriptors(&self) -> impl Iterator<Item = Result<AnaGroupDescriptor<'a>, CmdError>> + 'a {
        let raw = self.raw_descriptors();
        raw.scan(Self::HEADER_LEN, |at, (fixed, nsids)| {
            let start = *at;
            *at += AnaGroupDescriptorView::LEN + 4 * nsids.len();
            Some(AnaGroupDescriptor::from_raw((fixed, nsids), start))
        })
    }

    /// Bytes a page with `descriptors` takes: 16 + Σ (32 + 4 × NNSIDS), NNSIDS counted as 0 with `rgo`.
    pub fn buffer_len(descriptors: &[AnaGroupDescriptor<'_>], rgo: bool) -> usize {
        descriptors.iter().fold(Self::HEADER_LEN, |n, d| {
            n.saturating_add(if rgo { AnaGroupDescriptorView::LEN } else { d.buffer_len() })
        })
    }

    /// The most bytes an ANA log can take for a controller with `groups` groups and at most `nsids` namespaces:
    /// 16 + 32 × groups + 4 × nsids. The Linux host and libnvme size their read from Identify NANAGRPID and MNAN;
    /// with RGO pass `nsids` = 0. Saturates at `usize::MAX`.
    pub const fn max_len(groups: u32, nsids: u32) -> usize {
        let groups = (groups as usize).saturating_mul(AnaGroupDescriptorView::LEN);
        let nsids = (nsids as usize).saturating_mul(4);
        Self::HEADER_LEN.saturating_add(groups).saturating_add(nsids)
    }

    /// Writes a page with CHGCNT `chgcnt` and `descriptors` at the start of `buf`, as a controller answers a read
    /// with RGO = `rgo` (NNSIDS 0 and no lists when set); returns [`buffer_len`](Self::buffer_len). More than
    /// 65 535 descriptors gives [`CmdError::TooManyEntries`]; ANAGRPID 0 gives [`CmdError::InvalidField`] at that
    /// descriptor's offset. Bytes after the page are left alone.
    pub fn emit(
        chgcnt: u64,
        descriptors: &[AnaGroupDescriptor<'_>],
        rgo: bool,
        buf: &mut [u8],
    ) -> Result<usize, CmdError> {
        let ngrps = u16::try_from(descriptors.len())
            .map_err(|_| CmdError::TooManyEntries { count: descriptors.len(), max: u16::MAX as usize })?;
        let needed = Self::buffer_len(descriptors, rgo);
        let out = buf.get_mut(..needed).ok_or(CmdError::BufferTooShort { needed })?;
        let header = AnaLogHeaderView { chgcnt: U64::new(chgcnt), ngrps: U16::new(ngrps), reserved: [0; 6] };
        out[..Self::HEADER_LEN].copy_from_slice(header.as_bytes());
        let mut at = Self::HEADER_LEN;
        for d in descriptors {
            let d = if rgo { AnaGroupDescriptor { nsids: NsidList::EMPTY, ..*d } } else { *d };
            at += d.emit(&mut out[at..]).map_err(|e| match e {
                CmdError::InvalidField { offset } => CmdError::InvalidField { offset: at + offset },
                other => other,
            })?;
        }
        Ok(needed)
    }
}

/// Iterator over the framed descriptors of an [`AnaLogPage`] ([`AnaLogPage::raw_descriptors`]).
#[derive(Clone, Debug)]
pub struct AnaRawDescriptors<'a> {
    body: &'a [u8],
    pos: usize,
    left: u16,
}

impl<'a> Iterator for AnaRawDescriptors<'a> {
    type Item = (&'a AnaGroupDescriptorView, &'a [U32]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let input = self.body.get(self.pos..)?;
        // The page was framed by new_checked: this parse cannot fail; if it did, the iteration would just end.
        let (rest, raw) = descriptor(input).ok()?;
        self.pos = self.body.len() - rest.len();
        Some(raw)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        // Framed by new_checked: exactly `left` descriptors remain.
        (usize::from(self.left), Some(usize::from(self.left)))
    }
}

impl ExactSizeIterator for AnaRawDescriptors<'_> {}
