//! Get Log Page (admin opcode 0x02; [notes::commands §6.2](crate::notes::commands)) and the log pages this project
//! parses and builds: Cross-Controller Reset (LID 0x1E) and Lost Host Communication (LID 0x1F)
//! ([notes::ccr_cqt §4, §5](crate::notes::ccr_cqt)).

use zerocopy::little_endian::U16;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::CmdError;
use super::opcode::AdminOpcode;
use super::sgl::SglDescriptor;
use super::sqe::Sqe;

/// Log page identifier (Get Log Page CDW10 bits 7:0, AER DW0 bits 23:16). Open: unknown values round-trip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LogId(pub u8);

impl LogId {
    /// 0x00 Supported Log Pages.
    pub const SUPPORTED_LOG_PAGES: Self = Self(0x00);
    /// 0x01 Error Information.
    pub const ERROR: Self = Self(0x01);
    /// 0x02 SMART / Health Information.
    pub const SMART: Self = Self(0x02);
    /// 0x03 Firmware Slot Information.
    pub const FIRMWARE_SLOT: Self = Self(0x03);
    /// 0x04 Changed Namespace List.
    pub const CHANGED_NS: Self = Self(0x04);
    /// 0x05 Commands Supported and Effects.
    pub const COMMANDS_EFFECTS: Self = Self(0x05);
    /// 0x06 Device Self-test.
    pub const DEVICE_SELF_TEST: Self = Self(0x06);
    /// 0x07 Telemetry Host-Initiated.
    pub const TELEMETRY_HOST: Self = Self(0x07);
    /// 0x08 Telemetry Controller-Initiated.
    pub const TELEMETRY_CONTROLLER: Self = Self(0x08);
    /// 0x09 Endurance Group Information.
    pub const ENDURANCE_GROUP: Self = Self(0x09);
    /// 0x0C Asymmetric Namespace Access.
    pub const ANA: Self = Self(0x0C);
    /// 0x0D Persistent Event.
    pub const PERSISTENT_EVENT: Self = Self(0x0D);
    /// 0x1C Changed Allocated Namespace List.
    pub const CHANGED_ALLOCATED_NS: Self = Self(0x1C);
    /// 0x1D Device Personalities.
    pub const DEVICE_PERSONALITIES: Self = Self(0x1D);
    /// 0x1E Cross-Controller Reset (Base 2.3).
    pub const CROSS_CONTROLLER_RESET: Self = Self(0x1E);
    /// 0x1F Lost Host Communication (Base 2.3).
    pub const LOST_HOST_COMMUNICATION: Self = Self(0x1F);
    /// 0x70 Discovery.
    pub const DISCOVERY: Self = Self(0x70);
    /// 0x80 Reservation Notification.
    pub const RESERVATION_NOTIFICATION: Self = Self(0x80);

    /// The log page's name, or `None` for an identifier this crate does not name.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::SUPPORTED_LOG_PAGES => "Supported Log Pages",
            Self::ERROR => "Error Information",
            Self::SMART => "SMART / Health Information",
            Self::FIRMWARE_SLOT => "Firmware Slot Information",
            Self::CHANGED_NS => "Changed Namespace List",
            Self::COMMANDS_EFFECTS => "Commands Supported and Effects",
            Self::DEVICE_SELF_TEST => "Device Self-test",
            Self::TELEMETRY_HOST => "Telemetry Host-Initiated",
            Self::TELEMETRY_CONTROLLER => "Telemetry Controller-Initiated",
            Self::ENDURANCE_GROUP => "Endurance Group Information",
            Self::ANA => "Asymmetric Namespace Access",
            Self::PERSISTENT_EVENT => "Persistent Event",
            Self::CHANGED_ALLOCATED_NS => "Changed Allocated Namespace List",
            Self::DEVICE_PERSONALITIES => "Device Personalities",
            Self::CROSS_CONTROLLER_RESET => "Cross-Controller Reset",
            Self::LOST_HOST_COMMUNICATION => "Lost Host Communication",
            Self::DISCOVERY => "Discovery",
            Self::RESERVATION_NOTIFICATION => "Reservation Notification",
            _ => return None,
        })
    }
}

/// Get Log Page LSP bit 0 for the CCR log, RMC (Remove Completed): after returning them, the controller deletes
/// the completed entries (successful or failed).
pub const LSP_RMC: u8 = 0x01;

/// NSID for controller-scope log pages (libnvme uses it for the CCR log).
pub const NSID_ALL: u32 = 0xFFFF_FFFF;

/// The Get Log Page command (admin opcode 0x02; [notes::commands §6.2](crate::notes::commands)).
///
/// CDW10: bits 7:0 LID, 14:8 LSP, 15 RAE, 31:16 NUMDL. CDW11: 15:0 NUMDU, 31:16 LSI. CDW12/13: LPO low/high.
/// CDW14: bits 6:0 UUID index, 23 OT, 31:24 CSI. NUMD (NUMDU:NUMDL) is a 0's based dword count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GetLogPage {
    /// CDW10 bits 7:0, LID.
    pub lid: LogId,
    /// CDW10 bits 14:8, LSP: log specific parameter (7 bits; the CCR log's bit 0 is RMC, [`LSP_RMC`]).
    pub lsp: u8,
    /// CDW10 bit 15, RAE (Retain Asynchronous Event): `true` keeps the pending event; `false` clears it, which makes
    /// the command side-effecting.
    pub rae: bool,
    /// NUMDU:NUMDL (CDW11 bits 15:0 and CDW10 bits 31:16): number of dwords to return, **0's based**.
    pub numd: u32,
    /// CDW11 bits 31:16, LSI: log specific identifier.
    pub lsi: u16,
    /// CDW13:CDW12, LPO: log page offset (bytes, or an index when `ot`).
    pub lpo: u64,
    /// CDW14 bits 31:24, CSI: command set identifier (0 = NVM).
    pub csi: u8,
    /// CDW14 bits 6:0, UUID index.
    pub uuid_index: u8,
    /// CDW14 bit 23, OT (Offset Type): LPO is an index, not a byte offset.
    pub ot: bool,
    /// SQE bytes 7:4, NSID (0xFFFF_FFFF for controller-scope logs).
    pub nsid: u32,
}

impl GetLogPage {
    /// The admin opcode, 0x02.
    pub const OPCODE: AdminOpcode = AdminOpcode::GET_LOG_PAGE;

    /// NUMD for a transfer of `bytes` bytes, rounded up to whole dwords (at least one dword).
    pub const fn numd_for(bytes: u32) -> u32 {
        bytes.div_ceil(4).saturating_sub(1)
    }

    /// Reads `bytes` bytes (rounded up to dwords) of log `lid` from offset 0: NSID 0xFFFF_FFFF, LSP 0, RAE 0,
    /// CSI 0.
    pub const fn new(lid: LogId, bytes: u32) -> Self {
        Self {
            lid,
            lsp: 0,
            rae: false,
            numd: Self::numd_for(bytes),
            lsi: 0,
            lpo: 0,
            csi: 0,
            uuid_index: 0,
            ot: false,
            nsid: NSID_ALL,
        }
    }

    /// Reads `bytes` bytes of the Cross-Controller Reset log (LID 0x1E) with RMC = `rmc` and RAE = 0 (clears the
    /// CCR Completed event), NSID 0xFFFF_FFFF, CSI 0, as libnvme's constructor does. Read at least
    /// [`CcrLogPage::buffer_len`]`(n)` bytes for n entries; 4096 bytes hold the largest page.
    /// `ccr_log(true, 40)` has CDW10 0x0009011E.
    pub const fn ccr_log(rmc: bool, bytes: u32) -> Self {
        let mut cmd = Self::new(LogId::CROSS_CONTROLLER_RESET, bytes);
        cmd.lsp = if rmc { LSP_RMC } else { 0 };
        cmd
    }

    /// Reads `bytes` bytes of the Lost Host Communication log (LID 0x1F), RAE = `rae`, NSID 0xFFFF_FFFF.
    pub const fn lost_host_communication_log(rae: bool, bytes: u32) -> Self {
        let mut cmd = Self::new(LogId::LOST_HOST_COMMUNICATION, bytes);
        cmd.rae = rae;
        cmd
    }

    /// Number of bytes asked for: (NUMD + 1) × 4.
    pub const fn transfer_len(&self) -> u64 {
        (self.numd as u64 + 1) * 4
    }

    /// CDW10 as encoded (LSP masked to 7 bits).
    pub const fn cdw10(&self) -> u32 {
        self.lid.0 as u32 | ((self.lsp & 0x7F) as u32) << 8 | (self.rae as u32) << 15 | (self.numd & 0xFFFF) << 16
    }

    /// The SQE with command identifier `cid`. SGL1 is a transport data block (0x5A) of [`transfer_len`] bytes,
    /// saturated at `u32::MAX` (a NUMD above 0x3FFF_FFFE asks for more than one data block can describe; NUMD
    /// itself is always encoded exactly).
    ///
    /// [`transfer_len`]: Self::transfer_len
    pub const fn to_sqe(&self, cid: u16) -> Sqe {
        let mut sqe = Sqe::new(Self::OPCODE.0, cid);
        sqe.nsid = self.nsid;
        let len = self.transfer_len();
        sqe.dptr = SglDescriptor::transport_data(if len > u32::MAX as u64 { u32::MAX } else { len as u32 });
        sqe.cdw10 = self.cdw10();
        sqe.cdw11 = self.numd >> 16 | (self.lsi as u32) << 16;
        sqe.cdw12 = self.lpo as u32;
        sqe.cdw13 = (self.lpo >> 32) as u32;
        sqe.cdw14 = (self.uuid_index & 0x7F) as u32 | (self.ot as u32) << 23 | (self.csi as u32) << 24;
        sqe
    }

    /// Reads the command from an SQE (admin queue). Fails only when the opcode is not 0x02; reserved bits and the
    /// SGL are not checked.
    pub const fn from_sqe(sqe: &Sqe) -> Result<Self, CmdError> {
        if sqe.opcode != Self::OPCODE.0 {
            return Err(CmdError::WrongOpcode { expected: Self::OPCODE.0, found: sqe.opcode });
        }
        Ok(Self {
            lid: LogId(sqe.cdw10 as u8),
            lsp: ((sqe.cdw10 >> 8) & 0x7F) as u8,
            rae: sqe.cdw10 & (1 << 15) != 0,
            numd: sqe.cdw10 >> 16 | (sqe.cdw11 & 0xFFFF) << 16,
            lsi: (sqe.cdw11 >> 16) as u16,
            lpo: sqe.cdw12 as u64 | (sqe.cdw13 as u64) << 32,
            csi: (sqe.cdw14 >> 24) as u8,
            uuid_index: (sqe.cdw14 & 0x7F) as u8,
            ot: sqe.cdw14 & (1 << 23) != 0,
            nsid: sqe.nsid,
        })
    }

    /// `true` when the command changes controller state: RAE = 0 clears the pending asynchronous event of this log
    /// ([notes::ccr_cqt §9](crate::notes::ccr_cqt)), so only RAE = 1 reads are free of side effects.
    pub const fn has_side_effects(&self) -> bool {
        !self.rae
    }
}

/// Header shared by the CCR and Lost Host Communication log pages (8 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct LogHeaderView {
    /// Bytes 1:0, NE: number of entries that follow.
    pub ne: U16,
    /// Bytes 7:2, reserved.
    pub reserved: [u8; 6],
}

const _: () = assert!(size_of::<LogHeaderView>() == 8);

/// Largest number of entries of the CCR log page: 8 + 511 × 8 = 4096 bytes.
pub const CCR_LOG_MAX_ENTRIES: usize = 511;

/// Largest number of entries of the Lost Host Communication log page (same 4096-byte limit).
pub const LHC_LOG_MAX_ENTRIES: usize = 511;

/// Cross-Controller Reset Status of a CCR log entry (entry byte 6). Open: unknown values round-trip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ccrs(pub u8);

impl Ccrs {
    /// 0x00: the reset is in progress.
    pub const IN_PROGRESS: Self = Self(0);
    /// 0x01: the impacted controller was reset.
    pub const SUCCESS: Self = Self(1);
    /// 0x02: the reset failed.
    pub const FAILED: Self = Self(2);
}

/// Zero-copy view of one 8-byte CCR log entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct CcrLogEntryView {
    /// Bytes 1:0, ICID: impacted controller id.
    pub icid: U16,
    /// Byte 2, CIU of the impacted controller.
    pub ciu: u8,
    /// Byte 3, reserved.
    pub reserved: u8,
    /// Bytes 5:4, ACID: Alternate Controller ID.
    pub acid: U16,
    /// Byte 6, CCRS: status.
    pub ccrs: u8,
    /// Byte 7, CCRF: flags (bit 0 V, bit 1 CLRI, bits 3:2 RETRY).
    pub ccrf: u8,
}

const _: () = assert!(size_of::<CcrLogEntryView>() == 8);
const _: () = assert!(core::mem::offset_of!(CcrLogEntryView, acid) == 4);
const _: () = assert!(core::mem::offset_of!(CcrLogEntryView, ccrs) == 6);
const _: () = assert!(core::mem::offset_of!(CcrLogEntryView, ccrf) == 7);

/// One entry of the Cross-Controller Reset log page ([notes::ccr_cqt §4](crate::notes::ccr_cqt)). The reserved byte 3
/// is dropped (sent as 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CcrLogEntry {
    /// Bytes 1:0, ICID: CNTLID of the impacted controller.
    pub icid: u16,
    /// Byte 2, CIU of the impacted controller.
    pub ciu: u8,
    /// Bytes 5:4, ACID: "Alternate Controller ID" (meaning unconfirmed: best guess the controller that accepted
    /// the CCR, the source).
    pub acid: u16,
    /// Byte 6, CCRS: in progress, success or failed.
    pub ccrs: Ccrs,
    /// Byte 7, CCRF: flags; see [`validated`](Self::validated), [`clri`](Self::clri), [`retry`](Self::retry).
    pub ccrf: u8,
}

impl CcrLogEntry {
    /// CCRF bit 0, V (Validated).
    pub const CCRF_V: u8 = 1 << 0;
    /// CCRF bit 1, CLRI (Controller Level Reset Initiated).
    pub const CCRF_CLRI: u8 = 1 << 1;
    /// CCRF bits 3:2, RETRY (2-bit field; semantics unconfirmed).
    pub const CCRF_RETRY_MASK: u8 = 0b1100;

    /// CCRF bit 0, V.
    pub const fn validated(&self) -> bool {
        self.ccrf & Self::CCRF_V != 0
    }

    /// CCRF bit 1, CLRI.
    pub const fn clri(&self) -> bool {
        self.ccrf & Self::CCRF_CLRI != 0
    }

    /// CCRF bits 3:2, RETRY, as 0..=3 (semantics unconfirmed; this project treats a non-zero value on a failed
    /// entry as a failure for that source).
    pub const fn retry(&self) -> u8 {
        (self.ccrf & Self::CCRF_RETRY_MASK) >> 2
    }

    /// The representation of a view.
    pub fn from_view(v: &CcrLogEntryView) -> Self {
        Self { icid: v.icid.get(), ciu: v.ciu, acid: v.acid.get(), ccrs: Ccrs(v.ccrs), ccrf: v.ccrf }
    }

    /// The view holding this entry (reserved byte 0).
    pub fn to_view(&self) -> CcrLogEntryView {
        CcrLogEntryView {
            icid: U16::new(self.icid),
            ciu: self.ciu,
            reserved: 0,
            acid: U16::new(self.acid),
            ccrs: self.ccrs.0,
            ccrf: self.ccrf,
        }
    }
}

/// Checks a log page of 8-byte entries: header present, NE ≤ `max`, and `buf` long enough for NE entries.
/// Returns the header plus entries part of `buf`.
fn checked_log(buf: &[u8], max: usize) -> Result<&[u8], CmdError> {
    let (header, _) = LogHeaderView::ref_from_prefix(buf).map_err(|_| CmdError::BufferTooShort { needed: 8 })?;
    let ne = usize::from(header.ne.get());
    if ne > max {
        return Err(CmdError::TooManyEntries { count: ne, max });
    }
    let needed = 8 + ne * 8;
    buf.get(..needed).ok_or(CmdError::BufferTooShort { needed })
}

/// Writes a log page of 8-byte entries; `entries` yields their 8-byte views.
fn emit_log<'e, V: IntoBytes + Immutable + 'e>(
    count: usize,
    max: usize,
    entries: impl Iterator<Item = V>,
    buf: &mut [u8],
) -> Result<usize, CmdError> {
    if count > max {
        return Err(CmdError::TooManyEntries { count, max });
    }
    let needed = 8 + count * 8;
    let out = buf.get_mut(..needed).ok_or(CmdError::BufferTooShort { needed })?;
    let (head, body) = out.split_at_mut(8);
    // count ≤ 511 fits in u16.
    let header = LogHeaderView { ne: U16::new(count as u16), reserved: [0; 6] };
    head.copy_from_slice(header.as_bytes());
    for (slot, entry) in body.chunks_exact_mut(8).zip(entries) {
        slot.copy_from_slice(entry.as_bytes());
    }
    Ok(needed)
}

/// Zero-copy view of a Cross-Controller Reset log page (LID 0x1E): 8-byte header (NE le16 at bytes 1:0, bytes
/// 7:2 reserved), then NE entries of 8 bytes ([notes::ccr_cqt §4](crate::notes::ccr_cqt)).
///
/// [`new_checked`](Self::new_checked) proves the buffer holds all NE entries, so the accessors never read past it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CcrLogPage<'a> {
    buf: &'a [u8],
}

impl<'a> CcrLogPage<'a> {
    /// Checks `buf`: at least the 8-byte header, NE ≤ 511 ([`CmdError::TooManyEntries`] otherwise), and room for
    /// NE entries ([`CmdError::BufferTooShort`] with the size the page needs: read the log again with that many
    /// bytes). Bytes after the last entry are ignored (a Get Log Page returns as many bytes as asked for).
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, CmdError> {
        Ok(Self { buf: checked_log(buf, CCR_LOG_MAX_ENTRIES)? })
    }

    /// NE: the number of entries.
    pub fn ne(&self) -> u16 {
        u16::from_le_bytes([self.buf[0], self.buf[1]])
    }

    /// The page bytes (header and the NE entries).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// Entry `index`, or `None` past the last one.
    pub fn get(&self, index: usize) -> Option<CcrLogEntry> {
        let start = 8usize.checked_add(index.checked_mul(8)?)?;
        let bytes = self.buf.get(start..start.checked_add(8)?)?;
        CcrLogEntryView::ref_from_bytes(bytes).ok().map(CcrLogEntry::from_view)
    }

    /// The NE entries in order.
    pub fn entries(&self) -> impl Iterator<Item = CcrLogEntry> + 'a {
        let body = self.buf.get(8..).unwrap_or(&[]);
        body.chunks_exact(8).filter_map(|chunk| CcrLogEntryView::ref_from_bytes(chunk).ok().map(CcrLogEntry::from_view))
    }

    /// Bytes a page with `entries` entries takes: 8 + 8 × entries.
    pub const fn buffer_len(entries: usize) -> usize {
        8 + 8 * entries
    }

    /// Writes a page with `entries` at the start of `buf`; returns the bytes written (8 + 8 × n). Bytes after them
    /// are left alone (a target answering a longer Get Log Page zeroes them). More than 511 entries is
    /// [`CmdError::TooManyEntries`].
    pub fn emit(entries: &[CcrLogEntry], buf: &mut [u8]) -> Result<usize, CmdError> {
        emit_log(entries.len(), CCR_LOG_MAX_ENTRIES, entries.iter().map(CcrLogEntry::to_view), buf)
    }
}

/// Zero-copy view of one 8-byte Lost Host Communication log entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct LostHostCommunicationEntryView {
    /// Bytes 1:0, CNTLID.
    pub cntlid: U16,
    /// Byte 2, LC.
    pub lc: u8,
    /// Byte 3, CIU.
    pub ciu: u8,
    /// Bytes 7:4, reserved.
    pub reserved: [u8; 4],
}

const _: () = assert!(size_of::<LostHostCommunicationEntryView>() == 8);
const _: () = assert!(core::mem::offset_of!(LostHostCommunicationEntryView, ciu) == 3);

/// One entry of the Lost Host Communication log page (LID 0x1F; [notes::ccr_cqt §5](crate::notes::ccr_cqt)). Reserved
/// bytes are dropped.
///
/// Meaning unconfirmed (only the field names are known): best guess each entry reports a controller of this host
/// whose host communication was lost (keep-alive expiry).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LostHostCommunicationEntry {
    /// Bytes 1:0, CNTLID of the controller that lost communication.
    pub cntlid: u16,
    /// Byte 2, LC (unconfirmed: best guess a loss count or cause).
    pub lc: u8,
    /// Byte 3, CIU of that controller.
    pub ciu: u8,
}

impl LostHostCommunicationEntry {
    /// The representation of a view.
    pub fn from_view(v: &LostHostCommunicationEntryView) -> Self {
        Self { cntlid: v.cntlid.get(), lc: v.lc, ciu: v.ciu }
    }

    /// The view holding this entry (reserved bytes 0).
    pub fn to_view(&self) -> LostHostCommunicationEntryView {
        LostHostCommunicationEntryView { cntlid: U16::new(self.cntlid), lc: self.lc, ciu: self.ciu, reserved: [0; 4] }
    }
}

/// Zero-copy view of a Lost Host Communication log page (LID 0x1F): the same 8-byte header as the CCR log, then NE
/// entries of 8 bytes. Same checks as [`CcrLogPage`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LostHostCommunicationLogPage<'a> {
    buf: &'a [u8],
}

impl<'a> LostHostCommunicationLogPage<'a> {
    /// Checks `buf` like [`CcrLogPage::new_checked`] (NE ≤ 511, room for NE entries).
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, CmdError> {
        Ok(Self { buf: checked_log(buf, LHC_LOG_MAX_ENTRIES)? })
    }

    /// NE: the number of entries.
    pub fn ne(&self) -> u16 {
        u16::from_le_bytes([self.buf[0], self.buf[1]])
    }

    /// The page bytes (header and the NE entries).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// Entry `index`, or `None` past the last one.
    pub fn get(&self, index: usize) -> Option<LostHostCommunicationEntry> {
        let start = 8usize.checked_add(index.checked_mul(8)?)?;
        let bytes = self.buf.get(start..start.checked_add(8)?)?;
        LostHostCommunicationEntryView::ref_from_bytes(bytes).ok().map(LostHostCommunicationEntry::from_view)
    }

    /// The NE entries in order.
    pub fn entries(&self) -> impl Iterator<Item = LostHostCommunicationEntry> + 'a {
        let body = self.buf.get(8..).unwrap_or(&[]);
        body.chunks_exact(8).filter_map(|chunk| {
            LostHostCommunicationEntryView::ref_from_bytes(chunk).ok().map(LostHostCommunicationEntry::from_view)
        })
    }

    /// Bytes a page with `entries` entries takes: 8 + 8 × entries.
    pub const fn buffer_len(entries: usize) -> usize {
        8 + 8 * entries
    }

    /// Writes a page with `entries` at the start of `buf`; returns the bytes written. More than 511 entries is
    /// [`CmdError::TooManyEntries`].
    pub fn emit(entries: &[LostHostCommunicationEntry], buf: &mut [u8]) -> Result<usize, CmdError> {
        emit_log(entries.len(), LHC_LOG_MAX_ENTRIES, entries.iter().map(LostHostCommunicationEntry::to_view), buf)
    }
}
