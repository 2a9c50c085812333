//! Fabrics commands (opcode 0x7F, command type in SQE byte 4; [notes::commands §5](crate::notes::commands)): Connect
//! and its 1024-byte data, Property Get/Set with the CAP, VS, CC and CSTS registers, Disconnect, Authentication
//! Send/Receive.

use core::time::Duration;

use zerocopy::little_endian::U16;
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::CmdError;
use super::opcode::{AdminOpcode, FabricsType};
use super::sgl::SglDescriptor;
use super::sqe::Sqe;
use super::strings::{parse_nqn_field, write_nqn_field};

/// The Fabrics opcode, 0x7F.
pub const FABRICS_OPCODE: u8 = AdminOpcode::FABRICS.0;

/// Well-known NQN of a discovery subsystem.
pub const DISCOVERY_NQN: &str = "nqn.2014-08.org.nvmexpress.discovery";

/// A Fabrics SQE of type `fctype`: opcode 0x7F, flags 0x40, FCTYPE in byte 4, SGL1 "no data".
const fn fabrics_sqe(fctype: FabricsType, cid: u16) -> Sqe {
    let mut sqe = Sqe::new(FABRICS_OPCODE, cid);
    sqe.nsid = fctype.0 as u32;
    sqe
}

/// Checks opcode 0x7F (else `WrongOpcode` with the opcodes) and FCTYPE (else `WrongOpcode` with the FCTYPEs).
const fn check_fabrics(sqe: &Sqe, fctype: FabricsType) -> Result<(), CmdError> {
    if sqe.opcode != FABRICS_OPCODE {
        return Err(CmdError::WrongOpcode { expected: FABRICS_OPCODE, found: sqe.opcode });
    }
    if sqe.fctype() != fctype.0 {
        return Err(CmdError::WrongOpcode { expected: fctype.0, found: sqe.fctype() });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------------
// Connect

/// Connect (FCTYPE 0x01; [notes::commands §5.1](crate::notes::commands)). The 1024 bytes of [`ConnectData`] travel in
/// the capsule: SGL1 is Data Block / Offset (0x01), offset 0, length 1024.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Connect {
    /// SQE bytes 41:40, RECFMT: record format, 0.
    pub recfmt: u16,
    /// SQE bytes 43:42, QID: 0 for the admin queue.
    pub qid: u16,
    /// SQE bytes 45:44, SQSIZE: queue size, **0's based** (Linux admin queue: 31).
    pub sqsize: u16,
    /// SQE byte 46, CATTR: bits 1:0 priority class, bit 2 disable SQ flow control, bit 3 I/O queue deletion
    /// supported (unconfirmed name).
    pub cattr: u8,
    /// SQE bytes 51:48, KATO: keep-alive timeout in milliseconds (admin queue only); 0 = disabled.
    pub kato_ms: u32,
}

impl Connect {
    /// CATTR bit 2: disable SQ flow control (the controller then sends SQHD 0xFFFF).
    pub const CATTR_DISABLE_SQ_FLOW_CONTROL: u8 = 1 << 2;

    /// The admin-queue Connect the Linux host sends: QID 0, SQSIZE 31, CATTR 0, KATO `kato_ms`.
    pub const fn admin(kato_ms: u32) -> Self {
        Self { recfmt: 0, qid: 0, sqsize: 31, cattr: 0, kato_ms }
    }

    /// An I/O queue Connect: QID `qid` (≥ 1), SQSIZE `sqsize` (0's based), KATO 0.
    pub const fn io(qid: u16, sqsize: u16) -> Self {
        Self { recfmt: 0, qid, sqsize, cattr: 0, kato_ms: 0 }
    }

    /// The keep-alive timeout; `None` when KATO is 0 (disabled).
    pub const fn keep_alive_timeout(&self) -> Option<Duration> {
        if self.kato_ms == 0 { None } else { Some(Duration::from_millis(self.kato_ms as u64)) }
    }

    /// The SQE: FCTYPE 0x01, SGL1 in-capsule (0x01) offset 0, length 1024.
    pub const fn to_sqe(&self, cid: u16) -> Sqe {
        let mut sqe = fabrics_sqe(FabricsType::CONNECT, cid);
        sqe.dptr = SglDescriptor::in_capsule(0, ConnectData::LEN as u32);
        sqe.cdw10 = self.recfmt as u32 | (self.qid as u32) << 16;
        sqe.cdw11 = self.sqsize as u32 | (self.cattr as u32) << 16;
        sqe.cdw12 = self.kato_ms;
        sqe
    }

    /// Reads a Connect SQE. Fails on another opcode or FCTYPE; reserved bytes and the SGL are not checked.
    pub const fn from_sqe(sqe: &Sqe) -> Result<Self, CmdError> {
        if let Err(e) = check_fabrics(sqe, FabricsType::CONNECT) {
            return Err(e);
        }
        Ok(Self {
            recfmt: sqe.cdw10 as u16,
            qid: (sqe.cdw10 >> 16) as u16,
            sqsize: sqe.cdw11 as u16,
            cattr: (sqe.cdw11 >> 16) as u8,
            kato_ms: sqe.cdw12,
        })
    }
}

/// Zero-copy view of the 1024-byte Connect data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct ConnectDataView {
    /// Bytes 15:0, HOSTID: host identifier (a UUID).
    pub hostid: [u8; 16],
    /// Bytes 17:16, CNTLID: 0xFFFF on the admin queue (dynamic model), the admin Connect's result on I/O queues.
    pub cntlid: U16,
    /// Bytes 255:18, reserved.
    pub reserved1: [u8; 238],
    /// Bytes 511:256, SUBNQN: NUL-terminated.
    pub subnqn: [u8; 256],
    /// Bytes 767:512, HOSTNQN: NUL-terminated.
    pub hostnqn: [u8; 256],
    /// Bytes 1023:768, reserved.
    pub reserved2: [u8; 256],
}

const _: () = assert!(size_of::<ConnectDataView>() == 1024);
const _: () = assert!(core::mem::offset_of!(ConnectDataView, cntlid) == 16);
const _: () = assert!(core::mem::offset_of!(ConnectDataView, subnqn) == 256);
const _: () = assert!(core::mem::offset_of!(ConnectDataView, hostnqn) == 512);

/// The Connect data (1024 bytes; [notes::commands §5.1](crate::notes::commands)), its NQNs borrowed from the parsed
/// buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnectData<'a> {
    /// Bytes 15:0, HOSTID.
    pub hostid: [u8; 16],
    /// Bytes 17:16, CNTLID ([`ConnectData::DYNAMIC_CNTLID`] on the admin queue).
    pub cntlid: u16,
    /// Bytes 511:256, SUBNQN (without its NUL).
    pub subnqn: &'a str,
    /// Bytes 767:512, HOSTNQN (without its NUL).
    pub hostnqn: &'a str,
}

impl<'a> ConnectData<'a> {
    /// Size on the wire.
    pub const LEN: usize = 1024;
    /// CNTLID 0xFFFF: "any controller" (dynamic controller model), what the admin Connect carries.
    pub const DYNAMIC_CNTLID: u16 = 0xFFFF;
    /// Offset of SUBNQN (for Connect Invalid Parameters IPO).
    pub const SUBNQN_OFFSET: usize = 256;
    /// Offset of HOSTNQN.
    pub const HOSTNQN_OFFSET: usize = 512;

    /// Parses the first 1024 bytes of `buf`. NQNs must be NUL-terminated UTF-8 of at most 223 bytes
    /// ([`CmdError::InvalidString`] with the field offset otherwise). Reserved bytes are not checked.
    pub fn parse(buf: &'a [u8]) -> Result<Self, CmdError> {
        let (v, _) =
            ConnectDataView::ref_from_prefix(buf).map_err(|_| CmdError::BufferTooShort { needed: Self::LEN })?;
        Ok(Self {
            hostid: v.hostid,
            cntlid: v.cntlid.get(),
            subnqn: parse_nqn_field(&v.subnqn, Self::SUBNQN_OFFSET)?,
            hostnqn: parse_nqn_field(&v.hostnqn, Self::HOSTNQN_OFFSET)?,
        })
    }

    /// Writes the 1024 bytes (reserved bytes zeroed); returns 1024. An NQN that does not fit gives
    /// [`CmdError::InvalidString`].
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, CmdError> {
        let out = buf.get_mut(..Self::LEN).ok_or(CmdError::BufferTooShort { needed: Self::LEN })?;
        let v = ConnectDataView::mut_from_bytes(out).map_err(|_| CmdError::BufferTooShort { needed: Self::LEN })?;
        v.zero();
        v.hostid = self.hostid;
        v.cntlid = U16::new(self.cntlid);
        write_nqn_field(&mut v.subnqn, self.subnqn, Self::SUBNQN_OFFSET)?;
        write_nqn_field(&mut v.hostnqn, self.hostnqn, Self::HOSTNQN_OFFSET)?;
        Ok(Self::LEN)
    }

    /// Bytes [`emit`](Self::emit) writes: 1024.
    pub const fn buffer_len(&self) -> usize {
        Self::LEN
    }
}

/// Connect completion DW0 on success ([notes::commands §5.1](crate::notes::commands)): bits 15:0 CNTLID, bits 31:16
/// AUTHREQ.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnectResponse {
    /// DW0 bits 15:0, CNTLID: the controller the host is now associated with.
    pub cntlid: u16,
    /// DW0 bits 31:16, AUTHREQ: bit 1 ATR (authentication required), bit 2 ASCR (secure channel concatenation
    /// required).
    pub authreq: u16,
}

impl ConnectResponse {
    /// AUTHREQ bit 1 (DW0 bit 17), ATR: authentication required.
    pub const AUTHREQ_ATR: u16 = 1 << 1;
    /// AUTHREQ bit 2 (DW0 bit 18), ASCR: secure channel concatenation required.
    pub const AUTHREQ_ASCR: u16 = 1 << 2;

    /// Decodes DW0.
    pub const fn from_dw0(dw0: u32) -> Self {
        Self { cntlid: dw0 as u16, authreq: (dw0 >> 16) as u16 }
    }

    /// Encodes DW0.
    pub const fn to_dw0(&self) -> u32 {
        self.cntlid as u32 | (self.authreq as u32) << 16
    }

    /// `true` when AUTHREQ.ATR is set.
    pub const fn authentication_required(&self) -> bool {
        self.authreq & Self::AUTHREQ_ATR != 0
    }
}

/// Where the bad parameter of a Connect Invalid Parameters status lies (DW0 bit 16, IATTR).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ParameterLocation {
    /// IATTR 0: IPO is a byte offset into the SQE.
    Sqe,
    /// IATTR 1: IPO is a byte offset into the Connect data.
    ConnectData,
}

/// Connect completion DW0 with status Connect Invalid Parameters (SCT 1 / SC 0x82): bits 15:0 IPO, bit 16 IATTR.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnectInvalidParameters {
    /// DW0 bits 15:0, IPO: byte offset of the invalid parameter.
    pub ipo: u16,
    /// DW0 bit 16, IATTR: which structure IPO points into.
    pub location: ParameterLocation,
}

impl ConnectInvalidParameters {
    /// Decodes DW0 (other bits ignored).
    pub const fn from_dw0(dw0: u32) -> Self {
        let location = if dw0 & (1 << 16) != 0 { ParameterLocation::ConnectData } else { ParameterLocation::Sqe };
        Self { ipo: dw0 as u16, location }
    }

    /// Encodes DW0.
    pub const fn to_dw0(&self) -> u32 {
        self.ipo as u32 | (matches!(self.location, ParameterLocation::ConnectData) as u32) << 16
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Property Get / Set

/// Size of a property access (ATTRIB bits 2:0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PropertySize {
    /// ATTRIB 0: 4 bytes.
    Four,
    /// ATTRIB 1: 8 bytes.
    Eight,
}

impl PropertySize {
    /// Decodes ATTRIB bits 2:0; other values are reserved ([`CmdError::InvalidField`] at SQE byte 40).
    pub const fn from_attrib(attrib: u8) -> Result<Self, CmdError> {
        match attrib & 0x7 {
            0 => Ok(Self::Four),
            1 => Ok(Self::Eight),
            _ => Err(CmdError::InvalidField { offset: 40 }),
        }
    }

    /// ATTRIB value.
    pub const fn attrib(self) -> u8 {
        match self {
            Self::Four => 0,
            Self::Eight => 1,
        }
    }

    /// Number of bytes.
    pub const fn bytes(self) -> usize {
        match self {
            Self::Four => 4,
            Self::Eight => 8,
        }
    }
}

/// Property (controller register) offset (SQE bytes 47:44, OFST). Open: unknown offsets round-trip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PropertyOffset(pub u32);

impl PropertyOffset {
    /// 0x00 CAP, Controller Capabilities (8 bytes).
    pub const CAP: Self = Self(0x00);
    /// 0x08 VS, Version (4 bytes).
    pub const VS: Self = Self(0x08);
    /// 0x14 CC, Controller Configuration (4 bytes).
    pub const CC: Self = Self(0x14);
    /// 0x1C CSTS, Controller Status (4 bytes).
    pub const CSTS: Self = Self(0x1C);
    /// 0x20 NSSR, NVM Subsystem Reset (4 bytes; write [`NSSR_RESET`]).
    pub const NSSR: Self = Self(0x20);

    /// The size this crate uses for the named properties (CAP 8 bytes, the others 4); `None` for other offsets.
    pub const fn size(self) -> Option<PropertySize> {
        match self {
            Self::CAP => Some(PropertySize::Eight),
            Self::VS | Self::CC | Self::CSTS | Self::NSSR => Some(PropertySize::Four),
            _ => None,
        }
    }
}

/// The value written to NSSR to request an NVM subsystem reset: "NVMe" (0x4E564D65).
pub const NSSR_RESET: u32 = 0x4E56_4D65;

/// Property Get (FCTYPE 0x04; [notes::commands §5.2](crate::notes::commands)). The value comes back in CQE DW0
/// (4 bytes) or DW0–DW1 (8 bytes, [`Cqe::result_u64`](super::Cqe::result_u64)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PropertyGet {
    /// SQE byte 40 bits 2:0, ATTRIB: access size.
    pub size: PropertySize,
    /// SQE bytes 47:44, OFST.
    pub offset: PropertyOffset,
}

impl PropertyGet {
    /// Reads `offset` with its natural size (CAP 8 bytes, anything else 4).
    pub const fn new(offset: PropertyOffset) -> Self {
        let size = match offset.size() {
            Some(s) => s,
            None => PropertySize::Four,
        };
        Self { size, offset }
    }

    /// The SQE (no data).
    pub const fn to_sqe(&self, cid: u16) -> Sqe {
        let mut sqe = fabrics_sqe(FabricsType::PROPERTY_GET, cid);
        sqe.cdw10 = self.size.attrib() as u32;
        sqe.cdw11 = self.offset.0;
        sqe
    }

    /// Reads a Property Get SQE; a reserved ATTRIB size is [`CmdError::InvalidField`] at byte 40.
    pub const fn from_sqe(sqe: &Sqe) -> Result<Self, CmdError> {
        if let Err(e) = check_fabrics(sqe, FabricsType::PROPERTY_GET) {
            return Err(e);
        }
        match PropertySize::from_attrib(sqe.cdw10 as u8) {
            Ok(size) => Ok(Self { size, offset: PropertyOffset(sqe.cdw11) }),
            Err(e) => Err(e),
        }
    }
}

/// Property Set (FCTYPE 0x00; [notes::commands §5.2](crate::notes::commands)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PropertySet {
    /// SQE byte 40 bits 2:0, ATTRIB: access size.
    pub size: PropertySize,
    /// SQE bytes 47:44, OFST.
    pub offset: PropertyOffset,
    /// SQE bytes 55:48, VALUE (a 4-byte access uses the low half; the high half is sent as given).
    pub value: u64,
}

impl PropertySet {
    /// Writes the 4-byte CC register.
    pub const fn cc(cc: Cc) -> Self {
        Self { size: PropertySize::Four, offset: PropertyOffset::CC, value: cc.to_u32() as u64 }
    }

    /// The SQE (no data).
    pub const fn to_sqe(&self, cid: u16) -> Sqe {
        let mut sqe = fabrics_sqe(FabricsType::PROPERTY_SET, cid);
        sqe.cdw10 = self.size.attrib() as u32;
        sqe.cdw11 = self.offset.0;
        sqe.cdw12 = self.value as u32;
        sqe.cdw13 = (self.value >> 32) as u32;
        sqe
    }

    /// Reads a Property Set SQE; a reserved ATTRIB size is [`CmdError::InvalidField`] at byte 40.
    pub const fn from_sqe(sqe: &Sqe) -> Result<Self, CmdError> {
        if let Err(e) = check_fabrics(sqe, FabricsType::PROPERTY_SET) {
            return Err(e);
        }
        match PropertySize::from_attrib(sqe.cdw10 as u8) {
            Ok(size) => {
                Ok(Self { size, offset: PropertyOffset(sqe.cdw11), value: sqe.cdw12 as u64 | (sqe.cdw13 as u64) << 32 })
            }
            Err(e) => Err(e),
        }
    }
}

/// Controller Capabilities (CAP, property 0x00, 8 bytes; [notes::commands §5.2](crate::notes::commands)). Reserved bits
/// are dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Cap {
    /// Bits 15:0, MQES: maximum queue entries supported, **0's based**.
    pub mqes: u16,
    /// Bit 16, CQR: contiguous queues required.
    pub cqr: bool,
    /// Bits 18:17, AMS: arbitration mechanisms supported.
    pub ams: u8,
    /// Bits 31:24, TO: CC.EN / CSTS.RDY timeout in 500 ms units (see [`Cap::timeout`]).
    pub to: u8,
    /// Bits 35:32, DSTRD: doorbell stride.
    pub dstrd: u8,
    /// Bit 36, NSSRS: NVM subsystem reset supported.
    pub nssrs: bool,
    /// Bits 44:37, CSS: command sets supported (bit 0 NVM).
    pub css: u8,
    /// Bit 45, BPS: boot partition support.
    pub bps: bool,
    /// Bits 51:48, MPSMIN: minimum memory page size, 2^(12 + MPSMIN) bytes.
    pub mpsmin: u8,
    /// Bits 55:52, MPSMAX: maximum memory page size, 2^(12 + MPSMAX) bytes.
    pub mpsmax: u8,
    /// Bit 56, PMRS: persistent memory region supported.
    pub pmrs: bool,
    /// Bit 57, CMBS: controller memory buffer supported.
    pub cmbs: bool,
    /// Bit 58, NSSS: NVM subsystem shutdown supported.
    pub nsss: bool,
    /// Bit 59, CRWMS: controller ready with media support.
    pub crwms: bool,
    /// Bit 60, CRIMS: controller ready independent of media support.
    pub crims: bool,
}

const fn bit(v: u64, n: u32) -> bool {
    (v >> n) & 1 == 1
}

const fn field(v: u64, lo: u32, width: u32) -> u64 {
    (v >> lo) & ((1 << width) - 1)
}

impl Cap {
    /// Decodes the 64-bit register.
    pub const fn from_u64(v: u64) -> Self {
        Self {
            mqes: field(v, 0, 16) as u16,
            cqr: bit(v, 16),
            ams: field(v, 17, 2) as u8,
            to: field(v, 24, 8) as u8,
            dstrd: field(v, 32, 4) as u8,
            nssrs: bit(v, 36),
            css: field(v, 37, 8) as u8,
            bps: bit(v, 45),
            mpsmin: field(v, 48, 4) as u8,
            mpsmax: field(v, 52, 4) as u8,
            pmrs: bit(v, 56),
            cmbs: bit(v, 57),
            nsss: bit(v, 58),
            crwms: bit(v, 59),
            crims: bit(v, 60),
        }
    }

    /// Encodes the register (sub-fields masked to their width, reserved bits 0).
    pub const fn to_u64(&self) -> u64 {
        self.mqes as u64
            | (self.cqr as u64) << 16
            | ((self.ams & 0x3) as u64) << 17
            | (self.to as u64) << 24
            | ((self.dstrd & 0xF) as u64) << 32
            | (self.nssrs as u64) << 36
            | (self.css as u64) << 37
            | (self.bps as u64) << 45
            | ((self.mpsmin & 0xF) as u64) << 48
            | ((self.mpsmax & 0xF) as u64) << 52
            | (self.pmrs as u64) << 56
            | (self.cmbs as u64) << 57
            | (self.nsss as u64) << 58
            | (self.crwms as u64) << 59
            | (self.crims as u64) << 60
    }

    /// The CC.EN → CSTS.RDY timeout: TO × 500 ms.
    pub const fn timeout(&self) -> Duration {
        Duration::from_millis(self.to as u64 * 500)
    }

    /// Maximum queue entries (MQES + 1).
    pub const fn max_queue_entries(&self) -> u32 {
        self.mqes as u32 + 1
    }
}

/// Version (VS, property 0x08; also Identify Controller VER): bits 31:16 MJR, 15:8 MNR, 7:0 TER.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Vs {
    /// Bits 31:16, major version.
    pub mjr: u16,
    /// Bits 15:8, minor version.
    pub mnr: u8,
    /// Bits 7:0, tertiary version.
    pub ter: u8,
}

impl Vs {
    /// Decodes the register.
    pub const fn from_u32(v: u32) -> Self {
        Self { mjr: (v >> 16) as u16, mnr: (v >> 8) as u8, ter: v as u8 }
    }

    /// Encodes the register.
    pub const fn to_u32(&self) -> u32 {
        (self.mjr as u32) << 16 | (self.mnr as u32) << 8 | self.ter as u32
    }
}

/// Controller Configuration (CC, property 0x14; [notes::commands §5.2](crate::notes::commands)). Reserved bits are
/// dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Cc {
    /// Bit 0, EN: enable.
    pub en: bool,
    /// Bits 6:4, CSS: I/O command set selected.
    pub css: u8,
    /// Bits 10:7, MPS: memory page size, 2^(12 + MPS).
    pub mps: u8,
    /// Bits 13:11, AMS: arbitration mechanism selected.
    pub ams: u8,
    /// Bits 15:14, SHN: shutdown notification (1 normal, 2 abrupt).
    pub shn: u8,
    /// Bits 19:16, IOSQES: I/O SQ entry size, log2 bytes (6 = 64).
    pub iosqes: u8,
    /// Bits 23:20, IOCQES: I/O CQ entry size, log2 bytes (4 = 16).
    pub iocqes: u8,
    /// Bit 24, CRIME: controller ready independent of media enable.
    pub crime: bool,
}

impl Cc {
    /// What a fabrics host writes to enable the controller: EN 1, IOSQES 6, IOCQES 4, everything else 0.
    pub const ENABLE: Self = Self { en: true, css: 0, mps: 0, ams: 0, shn: 0, iosqes: 6, iocqes: 4, crime: false };

    /// Decodes the register.
    pub const fn from_u32(v: u32) -> Self {
        let v = v as u64;
        Self {
            en: bit(v, 0),
            css: field(v, 4, 3) as u8,
            mps: field(v, 7, 4) as u8,
            ams: field(v, 11, 3) as u8,
            shn: field(v, 14, 2) as u8,
            iosqes: field(v, 16, 4) as u8,
            iocqes: field(v, 20, 4) as u8,
            crime: bit(v, 24),
        }
    }

    /// Encodes the register (sub-fields masked to their width).
    pub const fn to_u32(&self) -> u32 {
        self.en as u32
            | ((self.css & 0x7) as u32) << 4
            | ((self.mps & 0xF) as u32) << 7
            | ((self.ams & 0x7) as u32) << 11
            | ((self.shn & 0x3) as u32) << 14
            | ((self.iosqes & 0xF) as u32) << 16
            | ((self.iocqes & 0xF) as u32) << 20
            | (self.crime as u32) << 24
    }
}

/// Controller Status (CSTS, property 0x1C; [notes::commands §5.2](crate::notes::commands)). Reserved bits are dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Csts {
    /// Bit 0, RDY: ready.
    pub rdy: bool,
    /// Bit 1, CFS: controller fatal status.
    pub cfs: bool,
    /// Bits 3:2, SHST: shutdown status (0 normal, 1 occurring, 2 complete).
    pub shst: u8,
    /// Bit 4, NSSRO: NVM subsystem reset occurred.
    pub nssro: bool,
    /// Bit 5, PP: processing paused.
    pub pp: bool,
}

impl Csts {
    /// Decodes the register.
    pub const fn from_u32(v: u32) -> Self {
        Self {
            rdy: v & 1 != 0,
            cfs: v & 2 != 0,
            shst: ((v >> 2) & 0x3) as u8,
            nssro: v & (1 << 4) != 0,
            pp: v & (1 << 5) != 0,
        }
    }

    /// Encodes the register.
    pub const fn to_u32(&self) -> u32 {
        self.rdy as u32
            | (self.cfs as u32) << 1
            | ((self.shst & 0x3) as u32) << 2
            | (self.nssro as u32) << 4
            | (self.pp as u32) << 5
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Disconnect, Authentication

/// Disconnect (FCTYPE 0x08; [notes::commands §5.4](crate::notes::commands)): SQE bytes 41:40 RECFMT, nothing else.
/// (Unconfirmed: best guess it deletes the I/O queue it is sent on, because it has no QID field.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Disconnect {
    /// SQE bytes 41:40, RECFMT: record format, 0.
    pub recfmt: u16,
}

impl Disconnect {
    /// The SQE (no data).
    pub const fn to_sqe(&self, cid: u16) -> Sqe {
        let mut sqe = fabrics_sqe(FabricsType::DISCONNECT, cid);
        sqe.cdw10 = self.recfmt as u32;
        sqe
    }

    /// Reads a Disconnect SQE.
    pub const fn from_sqe(sqe: &Sqe) -> Result<Self, CmdError> {
        if let Err(e) = check_fabrics(sqe, FabricsType::DISCONNECT) {
            return Err(e);
        }
        Ok(Self { recfmt: sqe.cdw10 as u16 })
    }
}

/// SECP value of NVMe in-band authentication (DH-HMAC-CHAP).
pub const SECP_NVME_AUTH: u8 = 0xE9;
/// SPSP0 of every DH-HMAC-CHAP Authentication Send/Receive: 0x01, what Linux and SPDK send and Linux nvmet
/// requires. What SPSP0 means in the specification is **unconfirmed** ([notes::auth §7](crate::notes::auth)).
pub const SPSP0_DHCHAP: u8 = 0x01;
/// SPSP1 of every DH-HMAC-CHAP Authentication Send/Receive: 0x01, as [`SPSP0_DHCHAP`] (meaning **unconfirmed**).
pub const SPSP1_DHCHAP: u8 = 0x01;

/// Authentication Send (FCTYPE 0x05) or Receive (0x06) framing ([notes::commands §5.3](crate::notes::commands)): SQE
/// byte 41 SPSP0, 42 SPSP1, 43 SECP, bytes 47:44 TL (Send: transfer length) or AL (Receive: allocation length). The
/// messages the data carries are [`crate::auth`]'s.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Authentication {
    /// `true` for Authentication Send (host to controller), `false` for Receive.
    pub send: bool,
    /// SQE byte 43, SECP: security protocol ([`SECP_NVME_AUTH`]).
    pub secp: u8,
    /// SQE byte 41, SPSP0.
    pub spsp0: u8,
    /// SQE byte 42, SPSP1.
    pub spsp1: u8,
    /// SQE bytes 47:44, TL (Send) or AL (Receive), bytes.
    pub length: u32,
}

impl Authentication {
    /// SQE byte offset of SPSP0 (for Invalid Field errors).
    pub const SPSP0_OFFSET: usize = 41;
    /// SQE byte offset of SPSP1.
    pub const SPSP1_OFFSET: usize = 42;
    /// SQE byte offset of SECP.
    pub const SECP_OFFSET: usize = 43;
    /// SQE byte offset of TL / AL.
    pub const LENGTH_OFFSET: usize = 44;

    /// A DH-HMAC-CHAP Authentication Send of `tl` bytes: SECP 0xE9, SPSP0 and SPSP1 0x01, as the Linux host sends
    /// it ([notes::auth §1](crate::notes::auth)).
    pub const fn dhchap_send(tl: u32) -> Self {
        Self { send: true, secp: SECP_NVME_AUTH, spsp0: SPSP0_DHCHAP, spsp1: SPSP1_DHCHAP, length: tl }
    }

    /// A DH-HMAC-CHAP Authentication Receive of up to `al` bytes (the Linux host uses
    /// [`LINUX_RECEIVE_LEN`](crate::auth::LINUX_RECEIVE_LEN)).
    pub const fn dhchap_receive(al: u32) -> Self {
        Self { send: false, secp: SECP_NVME_AUTH, spsp0: SPSP0_DHCHAP, spsp1: SPSP1_DHCHAP, length: al }
    }

    /// The checks Linux nvmet makes before it looks at the data, in its order: SECP 0xE9, SPSP0 0x01, SPSP1 0x01,
    /// TL/AL not 0. The first that fails is [`CmdError::InvalidField`] at its SQE byte, which a target answers with
    /// Invalid Field in Command and DNR ([notes::auth §1](crate::notes::auth)).
    pub const fn check_dhchap(&self) -> Result<(), CmdError> {
        if self.secp != SECP_NVME_AUTH {
            return Err(CmdError::InvalidField { offset: Self::SECP_OFFSET });
        }
        if self.spsp0 != SPSP0_DHCHAP {
            return Err(CmdError::InvalidField { offset: Self::SPSP0_OFFSET });
        }
        if self.spsp1 != SPSP1_DHCHAP {
            return Err(CmdError::InvalidField { offset: Self::SPSP1_OFFSET });
        }
        if self.length == 0 {
            return Err(CmdError::InvalidField { offset: Self::LENGTH_OFFSET });
        }
        Ok(())
    }

    /// The SQE. Send carries its data in the capsule (SGL1 0x01, offset 0, `length`); Receive asks for it by C2HData
    /// (SGL1 0x5A, `length`).
    pub const fn to_sqe(&self, cid: u16) -> Sqe {
        let fctype = if self.send { FabricsType::AUTH_SEND } else { FabricsType::AUTH_RECEIVE };
        let mut sqe = fabrics_sqe(fctype, cid);
        sqe.dptr = if self.send {
            SglDescriptor::in_capsule(0, self.length)
        } else {
            SglDescriptor::transport_data(self.length)
        };
        sqe.cdw10 = (self.spsp0 as u32) << 8 | (self.spsp1 as u32) << 16 | (self.secp as u32) << 24;
        sqe.cdw11 = self.length;
        sqe
    }

    /// Reads an Authentication Send or Receive SQE.
    pub const fn from_sqe(sqe: &Sqe) -> Result<Self, CmdError> {
        if sqe.opcode != FABRICS_OPCODE {
            return Err(CmdError::WrongOpcode { expected: FABRICS_OPCODE, found: sqe.opcode });
        }
        let send = match FabricsType(sqe.fctype()) {
            FabricsType::AUTH_SEND => true,
            FabricsType::AUTH_RECEIVE => false,
            other => return Err(CmdError::WrongOpcode { expected: FabricsType::AUTH_SEND.0, found: other.0 }),
        };
        Ok(Self {
            send,
            secp: (sqe.cdw10 >> 24) as u8,
            spsp0: (sqe.cdw10 >> 8) as u8,
            spsp1: (sqe.cdw10 >> 16) as u8,
            length: sqe.cdw11,
        })
    }
}

/// A parsed Fabrics command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FabricsCommand {
    /// Property Set (0x00).
    PropertySet(PropertySet),
    /// Connect (0x01).
    Connect(Connect),
    /// Property Get (0x04).
    PropertyGet(PropertyGet),
    /// Authentication Send (0x05) or Receive (0x06).
    Authentication(Authentication),
    /// Disconnect (0x08).
    Disconnect(Disconnect),
    /// Any other command type, kept whole.
    Unknown(Sqe),
}

impl FabricsCommand {
    /// Parses a Fabrics SQE (opcode 0x7F; another opcode is [`CmdError::WrongOpcode`]). Unknown FCTYPEs give
    /// [`FabricsCommand::Unknown`]; a known one with an invalid field gives the field's error.
    pub const fn parse(sqe: &Sqe) -> Result<Self, CmdError> {
        if sqe.opcode != FABRICS_OPCODE {
            return Err(CmdError::WrongOpcode { expected: FABRICS_OPCODE, found: sqe.opcode });
        }
        Ok(match FabricsType(sqe.fctype()) {
            FabricsType::PROPERTY_SET => match PropertySet::from_sqe(sqe) {
                Ok(c) => Self::PropertySet(c),
                Err(e) => return Err(e),
            },
            FabricsType::CONNECT => match Connect::from_sqe(sqe) {
                Ok(c) => Self::Connect(c),
                Err(e) => return Err(e),
            },
            FabricsType::PROPERTY_GET => match PropertyGet::from_sqe(sqe) {
                Ok(c) => Self::PropertyGet(c),
                Err(e) => return Err(e),
            },
            FabricsType::AUTH_SEND | FabricsType::AUTH_RECEIVE => match Authentication::from_sqe(sqe) {
                Ok(c) => Self::Authentication(c),
                Err(e) => return Err(e),
            },
            FabricsType::DISCONNECT => match Disconnect::from_sqe(sqe) {
                Ok(c) => Self::Disconnect(c),
                Err(e) => return Err(e),
            },
            _ => Self::Unknown(*sqe),
        })
    }

    /// The SQE with command identifier `cid`.
    pub const fn to_sqe(&self, cid: u16) -> Sqe {
        match self {
            Self::PropertySet(c) => c.to_sqe(cid),
            Self::Connect(c) => c.to_sqe(cid),
            Self::PropertyGet(c) => c.to_sqe(cid),
            Self::Authentication(c) => c.to_sqe(cid),
            Self::Disconnect(c) => c.to_sqe(cid),
            Self::Unknown(sqe) => {
                let mut sqe = *sqe;
                sqe.cid = cid;
                sqe
            }
        }
    }

    /// The command type.
    pub const fn fctype(&self) -> FabricsType {
        match self {
            Self::PropertySet(_) => FabricsType::PROPERTY_SET,
            Self::Connect(_) => FabricsType::CONNECT,
            Self::PropertyGet(_) => FabricsType::PROPERTY_GET,
            Self::Authentication(a) => {
                if a.send {
                    FabricsType::AUTH_SEND
                } else {
                    FabricsType::AUTH_RECEIVE
                }
            }
            Self::Disconnect(_) => FabricsType::DISCONNECT,
            Self::Unknown(sqe) => FabricsType(sqe.fctype()),
        }
    }

    /// `true` unless the command only reads: Property Get has no side effects; everything else (Property Set,
    /// Connect, Disconnect, Authentication, unknown types) is treated as side-effecting.
    pub const fn has_side_effects(&self) -> bool {
        !matches!(self, Self::PropertyGet(_))
    }
}
