//! Identify Controller data structure (CNS 01h, 4096 bytes; [notes::commands §8](crate::notes::commands),
//! [notes::ccr_cqt §2](crate::notes::ccr_cqt)), with CQT (TP4129, NVMe 2.1), CIU, CIRN and CCRL (TP8028,
//! NVMe Base 2.3).

use core::num::{NonZeroU8, NonZeroU16};
use core::time::Duration;

use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::IDENTIFY_DATA_LEN;
use crate::cmd::CmdError;
use crate::cmd::fabrics::Vs;
use crate::cmd::strings::{parse_ascii_field, parse_nqn_field, write_ascii_field, write_nqn_field};

/// Zero-copy view of the 4096-byte Identify Controller structure. Every byte has a field (reserved areas
/// included), so any 4096 bytes are a valid view; offsets follow libnvme's `struct nvme_id_ctrl` (NVMe 2.3) and
/// are locked by `offset_of!` assertions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct IdentifyControllerView {
    /// Bytes 1:0, VID: PCI vendor id.
    pub vid: U16,
    /// Bytes 3:2, SSVID: PCI subsystem vendor id.
    pub ssvid: U16,
    /// Bytes 23:4, SN: serial number, ASCII, space padded.
    pub sn: [u8; 20],
    /// Bytes 63:24, MN: model number, ASCII, space padded.
    pub mn: [u8; 40],
    /// Bytes 71:64, FR: firmware revision, ASCII, space padded.
    pub fr: [u8; 8],
    /// Byte 72, RAB: recommended arbitration burst.
    pub rab: u8,
    /// Bytes 75:73, IEEE: OUI.
    pub ieee: [u8; 3],
    /// Byte 76, CMIC: bit 0 multi-port, 1 multi-controller, 2 SR-IOV, 3 ANA reporting.
    pub cmic: u8,
    /// Byte 77, MDTS: maximum data transfer size, 2^MDTS × CAP.MPSMIN; 0 = no limit.
    pub mdts: u8,
    /// Bytes 79:78, CNTLID: controller id.
    pub cntlid: U16,
    /// Bytes 83:80, VER: version (VS layout).
    pub ver: U32,
    /// Bytes 87:84, RTD3R.
    pub rtd3r: U32,
    /// Bytes 91:88, RTD3E.
    pub rtd3e: U32,
    /// Bytes 95:92, OAES: optional asynchronous events supported (bit 20 CCRCN, 21 LHCN: unconfirmed).
    pub oaes: U32,
    /// Bytes 99:96, CTRATT: controller attributes (bit 0 HIDS, bit 6 TBKAS).
    pub ctratt: U32,
    /// Bytes 101:100, RRLS.
    pub rrls: U16,
    /// Byte 102, BPCAP (NVMe 2.1).
    pub bpcap: u8,
    /// Byte 103, reserved.
    pub rsvd103: u8,
    /// Bytes 107:104, NSSL (NVMe 2.1).
    pub nssl: U32,
    /// Bytes 109:108, reserved.
    pub rsvd108: [u8; 2],
    /// Byte 110, PLSI.
    pub plsi: u8,
    /// Byte 111, CNTRLTYPE: 0 not reported, 1 I/O, 2 discovery, 3 administrative.
    pub cntrltype: u8,
    /// Bytes 127:112, FGUID.
    pub fguid: [u8; 16],
    /// Bytes 129:128, CRDT1: command retry delay time 1, ×100 ms.
    pub crdt1: U16,
    /// Bytes 131:130, CRDT2, ×100 ms.
    pub crdt2: U16,
    /// Bytes 133:132, CRDT3, ×100 ms.
    pub crdt3: U16,
    /// Byte 134, CRCAP: controller reachability capabilities (NVMe 2.1).
    pub crcap: u8,
    /// Byte 135, CIU: Controller Instance Uniquifier (Base 2.3 Fig. 328); 0 = not reported.
    pub ciu: u8,
    /// Bytes 143:136, CIRN: Controller Instance Random Number (Base 2.3); 0 = not reported.
    pub cirn: U64,
    /// Bytes 239:144, reserved.
    pub rsvd144: [u8; 96],
    /// Bytes 252:240, reserved for NVMe-MI.
    pub nvme_mi: [u8; 13],
    /// Byte 253, NVMSR.
    pub nvmsr: u8,
    /// Byte 254, VWCI.
    pub vwci: u8,
    /// Byte 255, MEC.
    pub mec: u8,
    /// Bytes 257:256, OACS: optional admin command support.
    pub oacs: U16,
    /// Byte 258, ACL: abort command limit, 0's based.
    pub acl: u8,
    /// Byte 259, AERL: asynchronous event request limit, 0's based.
    pub aerl: u8,
    /// Byte 260, FRMW.
    pub frmw: u8,
    /// Byte 261, LPA: log page attributes (bit 1 commands effects log, bit 2 extended data).
    pub lpa: u8,
    /// Byte 262, ELPE: error log page entries, 0's based.
    pub elpe: u8,
    /// Byte 263, NPSS: number of power states supported, 0's based.
    pub npss: u8,
    /// Byte 264, AVSCC.
    pub avscc: u8,
    /// Byte 265, APSTA.
    pub apsta: u8,
    /// Bytes 267:266, WCTEMP.
    pub wctemp: U16,
    /// Bytes 269:268, CCTEMP.
    pub cctemp: U16,
    /// Bytes 271:270, MTFA.
    pub mtfa: U16,
    /// Bytes 275:272, HMPRE.
    pub hmpre: U32,
    /// Bytes 279:276, HMMIN.
    pub hmmin: U32,
    /// Bytes 295:280, TNVMCAP (128-bit).
    pub tnvmcap: [u8; 16],
    /// Bytes 311:296, UNVMCAP (128-bit).
    pub unvmcap: [u8; 16],
    /// Bytes 315:312, RPMBS.
    pub rpmbs: U32,
    /// Bytes 317:316, EDSTT.
    pub edstt: U16,
    /// Byte 318, DSTO.
    pub dsto: u8,
    /// Byte 319, FWUG.
    pub fwug: u8,
    /// Bytes 321:320, KAS: keep alive granularity, ×100 ms; 0 = keep alive not supported.
    pub kas: U16,
    /// Bytes 323:322, HCTMA.
    pub hctma: U16,
    /// Bytes 325:324, MNTMT.
    pub mntmt: U16,
    /// Bytes 327:326, MXTMT.
    pub mxtmt: U16,
    /// Bytes 331:328, SANICAP.
    pub sanicap: U32,
    /// Bytes 335:332, HMMINDS.
    pub hmminds: U32,
    /// Bytes 337:336, HMMAXD.
    pub hmmaxd: U16,
    /// Bytes 339:338, NSETIDMAX.
    pub nsetidmax: U16,
    /// Bytes 341:340, ENDGIDMAX.
    pub endgidmax: U16,
    /// Byte 342, ANATT: ANA transition time, seconds.
    pub anatt: u8,
    /// Byte 343, ANACAP.
    pub anacap: u8,
    /// Bytes 347:344, ANAGRPMAX.
    pub anagrpmax: U32,
    /// Bytes 351:348, NANAGRPID.
    pub nanagrpid: U32,
    /// Bytes 355:352, PELS.
    pub pels: U32,
    /// Bytes 357:356, DOMAINID.
    pub domainid: U16,
    /// Byte 358, KPIOC (NVMe 2.1).
    pub kpioc: u8,
    /// Byte 359, reserved.
    pub rsvd359: u8,
    /// Bytes 361:360, MPTFAWR.
    pub mptfawr: U16,
    /// Bytes 367:362, reserved.
    pub rsvd362: [u8; 6],
    /// Bytes 383:368, MEGCAP.
    pub megcap: [u8; 16],
    /// Byte 384, TMPTHHA.
    pub tmpthha: u8,
    /// Byte 385, reserved.
    pub rsvd385: u8,
    /// Bytes 387:386, CQT: Command Quiesce Time, **milliseconds** (NVMe 2.1 / TP4129); 0 = not reported.
    pub cqt: U16,
    /// Bytes 389:388, CDPA (NVMe 2.3).
    pub cdpa: U16,
    /// Bytes 391:390, MUP (NVMe 2.3).
    pub mup: U16,
    /// Bytes 393:392, IPMSR (NVMe 2.3).
    pub ipmsr: U16,
    /// Bytes 395:394, MSMT (NVMe 2.3).
    pub msmt: U16,
    /// Bytes 511:396, reserved (396–423 are defined differently by different libnvme versions; treated as
    /// reserved).
    pub rsvd396: [u8; 116],
    /// Byte 512, SQES: bits 3:0 required, 7:4 maximum SQ entry size, log2 bytes.
    pub sqes: u8,
    /// Byte 513, CQES: bits 3:0 required, 7:4 maximum CQ entry size, log2 bytes.
    pub cqes: u8,
    /// Bytes 515:514, MAXCMD: maximum outstanding commands per queue.
    pub maxcmd: U16,
    /// Bytes 519:516, NN: number of namespaces.
    pub nn: U32,
    /// Bytes 521:520, ONCS: optional NVM command support.
    pub oncs: U16,
    /// Bytes 523:522, FUSES.
    pub fuses: U16,
    /// Byte 524, FNA.
    pub fna: u8,
    /// Byte 525, VWC: volatile write cache.
    pub vwc: u8,
    /// Bytes 527:526, AWUN.
    pub awun: U16,
    /// Bytes 529:528, AWUPF.
    pub awupf: U16,
    /// Byte 530, ICSVSCC.
    pub icsvscc: u8,
    /// Byte 531, NWPC.
    pub nwpc: u8,
    /// Bytes 533:532, ACWU.
    pub acwu: U16,
    /// Bytes 535:534, OCFS.
    pub ocfs: U16,
    /// Bytes 539:536, SGLS: SGL support (bits 1:0), bit 20 address as offset, bit 21 transport SGL data block.
    pub sgls: U32,
    /// Bytes 543:540, MNAN.
    pub mnan: U32,
    /// Bytes 559:544, MAXDNA.
    pub maxdna: [u8; 16],
    /// Bytes 563:560, MAXCNA.
    pub maxcna: U32,
    /// Bytes 567:564, OAQD.
    pub oaqd: U32,
    /// Bytes 767:568, NVMe 2.1/2.3 fields not used here (568–587) and reserved (588–767).
    pub rsvd568: [u8; 200],
    /// Bytes 1023:768, SUBNQN: NVM subsystem NQN, NUL-terminated.
    pub subnqn: [u8; 256],
    /// Bytes 1791:1024, reserved.
    pub rsvd1024: [u8; 768],
    /// Bytes 1795:1792, IOCCSZ: I/O command capsule size, 16-byte units.
    pub ioccsz: U32,
    /// Bytes 1799:1796, IORCSZ: I/O response capsule size, 16-byte units.
    pub iorcsz: U32,
    /// Bytes 1801:1800, ICDOFF: in-capsule data offset, 16-byte units.
    pub icdoff: U16,
    /// Byte 1802, FCATT: fabrics controller attributes.
    pub fcatt: u8,
    /// Byte 1803, MSDBD: maximum SGL data block descriptors; 0 = no limit.
    pub msdbd: u8,
    /// Bytes 1805:1804, OFCS: optional fabrics commands (bit 0 Disconnect).
    pub ofcs: U16,
    /// Byte 1806, DCTYPE: discovery controller type.
    pub dctype: u8,
    /// Byte 1807, CCRL: Cross-Controller Reset Limit (Base 2.3); 0 = not reported.
    pub ccrl: u8,
    /// Bytes 2047:1808, reserved.
    pub rsvd1808: [u8; 240],
    /// Bytes 3071:2048, PSD0–PSD31: power state descriptors.
    pub psd: [u8; 1024],
    /// Bytes 4095:3072, vendor specific.
    pub vs: [u8; 1024],
}

macro_rules! assert_offsets {
    ($t:ty { $($f:ident: $o:expr),* $(,)? }) => {
        $( const _: () = assert!(core::mem::offset_of!($t, $f) == $o); )*
    };
}

const _: () = assert!(size_of::<IdentifyControllerView>() == IDENTIFY_DATA_LEN);
assert_offsets!(IdentifyControllerView {
    vid: 0,
    ssvid: 2,
    sn: 4,
    mn: 24,
    fr: 64,
    rab: 72,
    ieee: 73,
    cmic: 76,
    mdts: 77,
    cntlid: 78,
    ver: 80,
    rtd3r: 84,
    rtd3e: 88,
    oaes: 92,
    ctratt: 96,
    rrls: 100,
    bpcap: 102,
    nssl: 104,
    plsi: 110,
    cntrltype: 111,
    fguid: 112,
    crdt1: 128,
    crdt2: 130,
    crdt3: 132,
    crcap: 134,
    ciu: 135,
    cirn: 136,
    rsvd144: 144,
    nvme_mi: 240,
    nvmsr: 253,
    vwci: 254,
    mec: 255,
    oacs: 256,
    acl: 258,
    aerl: 259,
    frmw: 260,
    lpa: 261,
    elpe: 262,
    npss: 263,
    avscc: 264,
    apsta: 265,
    wctemp: 266,
    cctemp: 268,
    mtfa: 270,
    hmpre: 272,
    hmmin: 276,
    tnvmcap: 280,
    unvmcap: 296,
    rpmbs: 312,
    edstt: 316,
    dsto: 318,
    fwug: 319,
    kas: 320,
    hctma: 322,
    mntmt: 324,
    mxtmt: 326,
    sanicap: 328,
    hmminds: 332,
    hmmaxd: 336,
    nsetidmax: 338,
    endgidmax: 340,
    anatt: 342,
    anacap: 343,
    anagrpmax: 344,
    nanagrpid: 348,
    pels: 352,
    domainid: 356,
    kpioc: 358,
    mptfawr: 360,
    megcap: 368,
    tmpthha: 384,
    cqt: 386,
    cdpa: 388,
    mup: 390,
    ipmsr: 392,
    msmt: 394,
    sqes: 512,
    cqes: 513,
    maxcmd: 514,
    nn: 516,
    oncs: 520,
    fuses: 522,
    fna: 524,
    vwc: 525,
    awun: 526,
    awupf: 528,
    icsvscc: 530,
    nwpc: 531,
    acwu: 532,
    ocfs: 534,
    sgls: 536,
    mnan: 540,
    maxdna: 544,
    maxcna: 560,
    oaqd: 564,
    subnqn: 768,
    ioccsz: 1792,
    iorcsz: 1796,
    icdoff: 1800,
    fcatt: 1802,
    msdbd: 1803,
    ofcs: 1804,
    dctype: 1806,
    ccrl: 1807,
    rsvd1808: 1808,
    psd: 2048,
    vs: 3072,
});

/// Command Quiesce Time (Identify bytes 387:386, TP4129): the controller's worst-case time to quiesce its
/// outstanding commands after a loss of communication. 0 on the wire means "not reported", not "0 ms".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cqt {
    /// CQT = 0: the controller does not report it (the host uses its configured fallback,
    /// [notes::ccr_cqt §6.3](crate::notes::ccr_cqt)).
    NotReported,
    /// A reported time in milliseconds.
    Millis(NonZeroU16),
}

impl Cqt {
    /// From the wire value.
    pub const fn from_raw(ms: u16) -> Self {
        match NonZeroU16::new(ms) {
            Some(v) => Self::Millis(v),
            None => Self::NotReported,
        }
    }

    /// The wire value (0 for not reported).
    pub const fn to_raw(self) -> u16 {
        match self {
            Self::NotReported => 0,
            Self::Millis(v) => v.get(),
        }
    }

    /// The reported time, `None` when not reported.
    pub const fn duration(self) -> Option<Duration> {
        match self {
            Self::NotReported => None,
            Self::Millis(v) => Some(Duration::from_millis(v.get() as u64)),
        }
    }
}

/// Cross-Controller Reset Limit (Identify byte 1807, Base 2.3): how many CCRs this controller, as the source, may
/// have in progress. 0 means "not reported" (a pre-TP8028 controller), not "no CCR": our host then allows one CCR
/// in flight through it and learns from its answer ([notes::ccr_cqt §2](crate::notes::ccr_cqt)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Ccrl {
    /// CCRL = 0: not reported.
    NotReported,
    /// A reported limit.
    Limit(NonZeroU8),
}

impl Ccrl {
    /// From the wire value.
    pub const fn from_raw(v: u8) -> Self {
        match NonZeroU8::new(v) {
            Some(v) => Self::Limit(v),
            None => Self::NotReported,
        }
    }

    /// The wire value (0 for not reported).
    pub const fn to_raw(self) -> u8 {
        match self {
            Self::NotReported => 0,
            Self::Limit(v) => v.get(),
        }
    }
}

impl IdentifyControllerView {
    /// Casts the first 4096 bytes of `buf`.
    pub fn ref_from_buf(buf: &[u8]) -> Result<&Self, CmdError> {
        Self::ref_from_prefix(buf).map(|(v, _)| v).map_err(|_| CmdError::BufferTooShort { needed: IDENTIFY_DATA_LEN })
    }

    /// CQT, typed (0 = not reported).
    pub fn command_quiesce_time(&self) -> Cqt {
        Cqt::from_raw(self.cqt.get())
    }

    /// CCRL, typed (0 = not reported).
    pub fn cross_controller_reset_limit(&self) -> Ccrl {
        Ccrl::from_raw(self.ccrl)
    }

    /// KAS as a duration (×100 ms); `None` when 0 (keep alive not supported).
    pub fn keep_alive_granularity(&self) -> Option<Duration> {
        match self.kas.get() {
            0 => None,
            n => Some(Duration::from_millis(u64::from(n) * 100)),
        }
    }

    /// CRDTn (n = 1..=3) as a duration (×100 ms); `None` for another n.
    pub fn command_retry_delay(&self, n: u8) -> Option<Duration> {
        let v = match n {
            1 => self.crdt1.get(),
            2 => self.crdt2.get(),
            3 => self.crdt3.get(),
            _ => return None,
        };
        Some(Duration::from_millis(u64::from(v) * 100))
    }

    /// SN, validated (printable ASCII, padding removed).
    pub fn serial_number(&self) -> Result<&str, CmdError> {
        parse_ascii_field(&self.sn, 4)
    }

    /// MN, validated.
    pub fn model_number(&self) -> Result<&str, CmdError> {
        parse_ascii_field(&self.mn, 24)
    }

    /// FR, validated.
    pub fn firmware_revision(&self) -> Result<&str, CmdError> {
        parse_ascii_field(&self.fr, 64)
    }

    /// SUBNQN, validated (NUL-terminated UTF-8).
    pub fn subsystem_nqn(&self) -> Result<&str, CmdError> {
        parse_nqn_field(&self.subnqn, 768)
    }

    /// `true` when CTRATT bit 6 (TBKAS, traffic based keep alive) is set.
    pub fn tbkas(&self) -> bool {
        self.ctratt.get() & CTRATT_TBKAS != 0
    }
}

/// CTRATT bit 0, HIDS: 128-bit host identifier supported.
pub const CTRATT_HIDS: u32 = 1 << 0;
/// CTRATT bit 6, TBKAS: traffic based keep alive supported.
pub const CTRATT_TBKAS: u32 = 1 << 6;
/// CMIC bit 1: the subsystem may have two or more controllers (required for multipath to a second controller).
pub const CMIC_MULTI_CONTROLLER: u8 = 1 << 1;
/// CMIC bit 3: ANA reporting supported.
pub const CMIC_ANA: u8 = 1 << 3;
/// SGLS bits 1:0 = 01: SGLs supported, byte aligned.
pub const SGLS_SUPPORTED: u32 = 0b01;
/// SGLS bit 20: the SGL address may be an offset (needed for in-capsule data, descriptor 0x01).
pub const SGLS_OFFSET: u32 = 1 << 20;
/// SGLS bit 21: Transport SGL Data Block descriptor (0x5A) supported. Linux nvmet leaves it clear; hosts must not
/// require it.
pub const SGLS_TRANSPORT_DATA_BLOCK: u32 = 1 << 21;
/// OFCS bit 0: Disconnect supported.
pub const OFCS_DISCONNECT: u16 = 1 << 0;

/// The Identify Controller fields that matter to this project, validated, with SN, MN, FR and SUBNQN borrowed from
/// the parsed buffer. [`emit`](Self::emit) writes a full 4096-byte structure with every other byte 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IdentifyController<'a> {
    /// Bytes 1:0, VID.
    pub vid: u16,
    /// Bytes 3:2, SSVID.
    pub ssvid: u16,
    /// Bytes 23:4, SN (at most 20 printable ASCII characters).
    pub sn: &'a str,
    /// Bytes 63:24, MN (at most 40).
    pub mn: &'a str,
    /// Bytes 71:64, FR (at most 8).
    pub fr: &'a str,
    /// Byte 72, RAB.
    pub rab: u8,
    /// Bytes 75:73, IEEE OUI.
    pub ieee: [u8; 3],
    /// Byte 76, CMIC ([`CMIC_MULTI_CONTROLLER`], [`CMIC_ANA`]).
    pub cmic: u8,
    /// Byte 77, MDTS (0 = no limit).
    pub mdts: u8,
    /// Bytes 79:78, CNTLID.
    pub cntlid: u16,
    /// Bytes 83:80, VER.
    pub ver: Vs,
    /// Bytes 95:92, OAES ([`OAES_CCRCN`](crate::cmd::OAES_CCRCN), [`OAES_LHCN`](crate::cmd::OAES_LHCN)).
    pub oaes: u32,
    /// Bytes 99:96, CTRATT ([`CTRATT_HIDS`], [`CTRATT_TBKAS`]).
    pub ctratt: u32,
    /// Byte 111, CNTRLTYPE.
    pub cntrltype: u8,
    /// Bytes 133:128, CRDT1..CRDT3 (×100 ms).
    pub crdt: [u16; 3],
    /// Byte 135, CIU (0 = not reported; sent as read in a CCR).
    pub ciu: u8,
    /// Bytes 143:136, CIRN (0 = not reported; sent as read in a CCR).
    pub cirn: u64,
    /// Bytes 257:256, OACS.
    pub oacs: u16,
    /// Byte 258, ACL (0's based).
    pub acl: u8,
    /// Byte 259, AERL (0's based).
    pub aerl: u8,
    /// Byte 260, FRMW.
    pub frmw: u8,
    /// Byte 261, LPA.
    pub lpa: u8,
    /// Byte 262, ELPE (0's based).
    pub elpe: u8,
    /// Bytes 321:320, KAS (×100 ms; 0 = keep alive unsupported, which the Linux host refuses on fabrics).
    pub kas: u16,
    /// Byte 342, ANATT (seconds).
    pub anatt: u8,
    /// Bytes 387:386, CQT.
    pub cqt: Cqt,
    /// Byte 512, SQES.
    pub sqes: u8,
    /// Byte 513, CQES.
    pub cqes: u8,
    /// Bytes 515:514, MAXCMD.
    pub maxcmd: u16,
    /// Bytes 519:516, NN.
    pub nn: u32,
    /// Bytes 521:520, ONCS.
    pub oncs: u16,
    /// Bytes 523:522, FUSES.
    pub fuses: u16,
    /// Byte 525, VWC.
    pub vwc: u8,
    /// Bytes 539:536, SGLS.
    pub sgls: u32,
    /// Bytes 543:540, MNAN.
    pub mnan: u32,
    /// Bytes 1023:768, SUBNQN.
    pub subnqn: &'a str,
    /// Bytes 1795:1792, IOCCSZ (16-byte units).
    pub ioccsz: u32,
    /// Bytes 1799:1796, IORCSZ (16-byte units).
    pub iorcsz: u32,
    /// Bytes 1801:1800, ICDOFF (16-byte units).
    pub icdoff: u16,
    /// Byte 1802, FCATT.
    pub fcatt: u8,
    /// Byte 1803, MSDBD.
    pub msdbd: u8,
    /// Bytes 1805:1804, OFCS.
    pub ofcs: u16,
    /// Byte 1807, CCRL.
    pub ccrl: Ccrl,
}

impl<'a> IdentifyController<'a> {
    /// Size on the wire.
    pub const LEN: usize = IDENTIFY_DATA_LEN;

    /// An I/O controller of an NVMe/TCP subsystem as this project's target reports it, with Linux-nvmet-like
    /// values: VER 1.3, KAS 10 (1 s), SQES 0x66, CQES 0x44, CTRATT HIDS and TBKAS, CMIC multi-controller, SGLS
    /// byte aligned with offsets and transport data blocks, IOCCSZ 4 (no in-capsule I/O data), IORCSZ 1,
    /// MSDBD 1, OFCS Disconnect, MAXCMD 128, NN 1, ACL 3, AERL 3, CCRL 4, CQT not reported, CIU 1, CIRN 0.
    /// Change fields as needed.
    pub const fn fabrics_io(cntlid: u16, subnqn: &'a str) -> Self {
        Self {
            vid: 0,
            ssvid: 0,
            sn: "",
            mn: "",
            fr: "",
            rab: 0,
            ieee: [0; 3],
            cmic: CMIC_MULTI_CONTROLLER,
            mdts: 0,
            cntlid,
            ver: Vs { mjr: 1, mnr: 3, ter: 0 },
            oaes: 0,
            ctratt: CTRATT_HIDS | CTRATT_TBKAS,
            cntrltype: 1,
            crdt: [0; 3],
            ciu: 1,
            cirn: 0,
            oacs: 0,
            acl: 3,
            aerl: 3,
            frmw: 0,
            lpa: 0,
            elpe: 0,
            kas: 10,
            anatt: 0,
            cqt: Cqt::NotReported,
            sqes: 0x66,
            cqes: 0x44,
            maxcmd: 128,
            nn: 1,
            oncs: 0,
            fuses: 0,
            vwc: 0,
            sgls: SGLS_SUPPORTED | SGLS_OFFSET | SGLS_TRANSPORT_DATA_BLOCK,
            mnan: 0,
            subnqn,
            ioccsz: 4,
            iorcsz: 1,
            icdoff: 0,
            fcatt: 0,
            msdbd: 1,
            ofcs: OFCS_DISCONNECT,
            ccrl: Ccrl::from_raw(4),
        }
    }

    /// Parses the first 4096 bytes of `buf`. SN, MN, FR must be printable ASCII and SUBNQN NUL-terminated UTF-8
    /// ([`CmdError::InvalidString`] with the field offset otherwise; a tolerant reader uses
    /// [`IdentifyControllerView`]'s raw fields). No other field is rejected.
    pub fn parse(buf: &'a [u8]) -> Result<Self, CmdError> {
        let v = IdentifyControllerView::ref_from_buf(buf)?;
        Ok(Self {
            vid: v.vid.get(),
            ssvid: v.ssvid.get(),
            sn: v.serial_number()?,
            mn: v.model_number()?,
            fr: v.firmware_revision()?,
            rab: v.rab,
            ieee: v.ieee,
            cmic: v.cmic,
            mdts: v.mdts,
            cntlid: v.cntlid.get(),
            ver: Vs::from_u32(v.ver.get()),
            oaes: v.oaes.get(),
            ctratt: v.ctratt.get(),
            cntrltype: v.cntrltype,
            crdt: [v.crdt1.get(), v.crdt2.get(), v.crdt3.get()],
            ciu: v.ciu,
            cirn: v.cirn.get(),
            oacs: v.oacs.get(),
            acl: v.acl,
            aerl: v.aerl,
            frmw: v.frmw,
            lpa: v.lpa,
            elpe: v.elpe,
            kas: v.kas.get(),
            anatt: v.anatt,
            cqt: v.command_quiesce_time(),
            sqes: v.sqes,
            cqes: v.cqes,
            maxcmd: v.maxcmd.get(),
            nn: v.nn.get(),
            oncs: v.oncs.get(),
            fuses: v.fuses.get(),
            vwc: v.vwc,
            sgls: v.sgls.get(),
            mnan: v.mnan.get(),
            subnqn: v.subsystem_nqn()?,
            ioccsz: v.ioccsz.get(),
            iorcsz: v.iorcsz.get(),
            icdoff: v.icdoff.get(),
            fcatt: v.fcatt,
            msdbd: v.msdbd,
            ofcs: v.ofcs.get(),
            ccrl: v.cross_controller_reset_limit(),
        })
    }

    /// Writes the 4096-byte structure at the start of `buf` (every field not represented here 0); returns 4096.
    /// Strings that do not fit their field, or are not printable ASCII (SN, MN, FR), give
    /// [`CmdError::InvalidString`].
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, CmdError> {
        let out = buf.get_mut(..Self::LEN).ok_or(CmdError::BufferTooShort { needed: Self::LEN })?;
        let v =
            IdentifyControllerView::mut_from_bytes(out).map_err(|_| CmdError::BufferTooShort { needed: Self::LEN })?;
        v.zero();
        v.vid.set(self.vid);
        v.ssvid.set(self.ssvid);
        write_ascii_field(&mut v.sn, self.sn, 4)?;
        write_ascii_field(&mut v.mn, self.mn, 24)?;
        write_ascii_field(&mut v.fr, self.fr, 64)?;
        v.rab = self.rab;
        v.ieee = self.ieee;
        v.cmic = self.cmic;
        v.mdts = self.mdts;
        v.cntlid.set(self.cntlid);
        v.ver.set(self.ver.to_u32());
        v.oaes.set(self.oaes);
        v.ctratt.set(self.ctratt);
        v.cntrltype = self.cntrltype;
        v.crdt1.set(self.crdt[0]);
        v.crdt2.set(self.crdt[1]);
        v.crdt3.set(self.crdt[2]);
        v.ciu = self.ciu;
        v.cirn.set(self.cirn);
        v.oacs.set(self.oacs);
        v.acl = self.acl;
        v.aerl = self.aerl;
        v.frmw = self.frmw;
        v.lpa = self.lpa;
        v.elpe = self.elpe;
        v.kas.set(self.kas);
        v.anatt = self.anatt;
        v.cqt.set(self.cqt.to_raw());
        v.sqes = self.sqes;
        v.cqes = self.cqes;
        v.maxcmd.set(self.maxcmd);
        v.nn.set(self.nn);
        v.oncs.set(self.oncs);
        v.fuses.set(self.fuses);
        v.vwc = self.vwc;
        v.sgls.set(self.sgls);
        v.mnan.set(self.mnan);
        write_nqn_field(&mut v.subnqn, self.subnqn, 768)?;
        v.ioccsz.set(self.ioccsz);
        v.iorcsz.set(self.iorcsz);
        v.icdoff.set(self.icdoff);
        v.fcatt = self.fcatt;
        v.msdbd = self.msdbd;
        v.ofcs.set(self.ofcs);
        v.ccrl = self.ccrl.to_raw();
        Ok(Self::LEN)
    }

    /// Bytes [`emit`](Self::emit) writes: 4096.
    pub const fn buffer_len(&self) -> usize {
        Self::LEN
    }

    /// `true` when CTRATT.TBKAS is set.
    pub const fn tbkas(&self) -> bool {
        self.ctratt & CTRATT_TBKAS != 0
    }

    /// KAS as a duration; `None` when 0.
    pub const fn keep_alive_granularity(&self) -> Option<Duration> {
        if self.kas == 0 { None } else { Some(Duration::from_millis(self.kas as u64 * 100)) }
    }

    /// The controller instance a Cross-Controller Reset names: (CNTLID, CIU, CIRN), as read.
    pub const fn instance(&self) -> (u16, u8, u64) {
        (self.cntlid, self.ciu, self.cirn)
    }
}
