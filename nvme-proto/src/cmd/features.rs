//! Set Features (0x09) and Get Features (0x0A) with the features a fabrics host uses: Number of Queues,
//! Asynchronous Event Configuration, Keep Alive Timer ([notes::commands §6.3](crate::notes::commands)).

use core::time::Duration;

use super::CmdError;
use super::aer::{AEC_CCRCN, AEC_LHCN};
use super::opcode::AdminOpcode;
use super::sqe::Sqe;

/// Feature identifier (CDW10 bits 7:0). Open: unknown values round-trip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FeatureId(pub u8);

impl FeatureId {
    /// 0x01 Arbitration.
    pub const ARBITRATION: Self = Self(0x01);
    /// 0x02 Power Management.
    pub const POWER_MANAGEMENT: Self = Self(0x02);
    /// 0x04 Temperature Threshold.
    pub const TEMPERATURE_THRESHOLD: Self = Self(0x04);
    /// 0x05 Error Recovery.
    pub const ERROR_RECOVERY: Self = Self(0x05);
    /// 0x06 Volatile Write Cache.
    pub const VOLATILE_WRITE_CACHE: Self = Self(0x06);
    /// 0x07 Number of Queues.
    pub const NUMBER_OF_QUEUES: Self = Self(0x07);
    /// 0x08 Interrupt Coalescing.
    pub const INTERRUPT_COALESCING: Self = Self(0x08);
    /// 0x0B Asynchronous Event Configuration.
    pub const ASYNC_EVENT_CONFIG: Self = Self(0x0B);
    /// 0x0C Autonomous Power State Transition.
    pub const AUTONOMOUS_POWER_STATE: Self = Self(0x0C);
    /// 0x0D Host Memory Buffer.
    pub const HOST_MEMORY_BUFFER: Self = Self(0x0D);
    /// 0x0E Timestamp.
    pub const TIMESTAMP: Self = Self(0x0E);
    /// 0x0F Keep Alive Timer.
    pub const KEEP_ALIVE_TIMER: Self = Self(0x0F);
    /// 0x10 Host Controlled Thermal Management.
    pub const HOST_THERMAL_MANAGEMENT: Self = Self(0x10);
    /// 0x16 Host Behavior Support.
    pub const HOST_BEHAVIOR_SUPPORT: Self = Self(0x16);
    /// 0x17 Sanitize Config.
    pub const SANITIZE_CONFIG: Self = Self(0x17);
    /// 0x80 Software Progress Marker.
    pub const SOFTWARE_PROGRESS_MARKER: Self = Self(0x80);
    /// 0x81 Host Identifier.
    pub const HOST_IDENTIFIER: Self = Self(0x81);
    /// 0x82 Reservation Notification Mask.
    pub const RESERVATION_NOTIFICATION_MASK: Self = Self(0x82);
    /// 0x83 Reservation Persistence.
    pub const RESERVATION_PERSISTENCE: Self = Self(0x83);
}

/// Number of Queues (FID 0x07): Set Features CDW11 and the completion DW0 share the layout, bits 15:0 submission
/// queues and bits 31:16 completion queues, both **0's based** (NSQR/NCQR requested, NSQA/NCQA allocated).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NumberOfQueues {
    /// Bits 15:0, NSQR / NSQA: I/O submission queues, 0's based.
    pub nsq: u16,
    /// Bits 31:16, NCQR / NCQA: I/O completion queues, 0's based.
    pub ncq: u16,
}

impl NumberOfQueues {
    /// Asks for `count` (1..=65536, clamped) submission and completion queues.
    pub const fn with_count(count: u32) -> Self {
        let n = if count == 0 {
            0
        } else if count > 0x1_0000 {
            0xFFFF
        } else {
            (count - 1) as u16
        };
        Self { nsq: n, ncq: n }
    }

    /// Decodes CDW11 or DW0.
    pub const fn from_dword(v: u32) -> Self {
        Self { nsq: v as u16, ncq: (v >> 16) as u16 }
    }

    /// Encodes CDW11 or DW0.
    pub const fn to_dword(&self) -> u32 {
        self.nsq as u32 | (self.ncq as u32) << 16
    }

    /// Number of I/O queue pairs usable: min(NSQ, NCQ) + 1.
    pub const fn pairs(&self) -> u32 {
        (if self.nsq < self.ncq { self.nsq } else { self.ncq }) as u32 + 1
    }
}

/// Asynchronous Event Configuration (FID 0x0B, CDW11): one enable bit per event kind. Open: every bit round-trips.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct AsyncEventConfig(pub u32);

impl AsyncEventConfig {
    /// Bits 7:0: SMART / Health critical-warning mask.
    pub const SMART_MASK: u32 = 0xFF;
    /// Bit 8: Namespace Attribute notices.
    pub const NAMESPACE_ATTRIBUTE: u32 = 1 << 8;
    /// Bit 9: Firmware Activation notices.
    pub const FIRMWARE_ACTIVATION: u32 = 1 << 9;
    /// Bit 10: Telemetry Log notices.
    pub const TELEMETRY_LOG: u32 = 1 << 10;
    /// Bit 11: ANA Change notices.
    pub const ANA_CHANGE: u32 = 1 << 11;
    /// Bit 12: Predictable Latency Event Aggregate Log change notices.
    pub const PLEA: u32 = 1 << 12;
    /// Bit 13: LBA Status Information notices.
    pub const LBA_STATUS: u32 = 1 << 13;
    /// Bit 14: Endurance Group Event Aggregate Log change notices.
    pub const EG_EVENT: u32 = 1 << 14;
    /// Bit 15: Normal NVM Subsystem Shutdown notices.
    pub const NORMAL_NSS_SHUTDOWN: u32 = 1 << 15;
    /// Bit 16: Temperature Threshold Hysteresis Recovery notices.
    pub const TEMPERATURE_HYSTERESIS: u32 = 1 << 16;
    /// Cross-Controller Reset Completed notices: [`AEC_CCRCN`] (bit 20, **unconfirmed**).
    pub const CCR_COMPLETED: u32 = AEC_CCRCN;
    /// Lost Host Communication notices: [`AEC_LHCN`] (bit 21, **unconfirmed**).
    pub const LOST_HOST_COMMUNICATION: u32 = AEC_LHCN;
    /// Bit 31: Discovery Log Page Change notices.
    pub const DISCOVERY_LOG_CHANGE: u32 = 1 << 31;

    /// `true` when every bit of `mask` is set.
    pub const fn contains(self, mask: u32) -> bool {
        self.0 & mask == mask
    }
}

/// Keep Alive Timer (FID 0x0F, CDW11): KATO in milliseconds; 0 disables keep alive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KeepAliveTimer {
    /// CDW11, KATO in milliseconds.
    pub kato_ms: u32,
}

impl KeepAliveTimer {
    /// The timeout; `None` when KATO is 0 (disabled).
    pub const fn timeout(&self) -> Option<Duration> {
        if self.kato_ms == 0 { None } else { Some(Duration::from_millis(self.kato_ms as u64)) }
    }
}

/// A feature value for Set Features (and the meaning of a Get Features result for the known features).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Feature {
    /// FID 0x07.
    NumberOfQueues(NumberOfQueues),
    /// FID 0x0B.
    AsyncEventConfig(AsyncEventConfig),
    /// FID 0x0F.
    KeepAliveTimer(KeepAliveTimer),
    /// Any other feature: its identifier and CDW11–CDW15 as given.
    Other {
        /// Feature identifier.
        fid: FeatureId,
        /// CDW11 to CDW15.
        dwords: [u32; 5],
    },
}

impl Feature {
    /// The feature identifier.
    pub const fn fid(&self) -> FeatureId {
        match self {
            Self::NumberOfQueues(_) => FeatureId::NUMBER_OF_QUEUES,
            Self::AsyncEventConfig(_) => FeatureId::ASYNC_EVENT_CONFIG,
            Self::KeepAliveTimer(_) => FeatureId::KEEP_ALIVE_TIMER,
            Self::Other { fid, .. } => *fid,
        }
    }

    /// CDW11 to CDW15 for this value.
    const fn dwords(&self) -> [u32; 5] {
        match self {
            Self::NumberOfQueues(v) => [v.to_dword(), 0, 0, 0, 0],
            Self::AsyncEventConfig(v) => [v.0, 0, 0, 0, 0],
            Self::KeepAliveTimer(v) => [v.kato_ms, 0, 0, 0, 0],
            Self::Other { dwords, .. } => *dwords,
        }
    }

    /// The value for `fid` from CDW11–CDW15 (for a known feature only CDW11 is used).
    pub const fn from_dwords(fid: FeatureId, dwords: [u32; 5]) -> Self {
        match fid {
            FeatureId::NUMBER_OF_QUEUES => Self::NumberOfQueues(NumberOfQueues::from_dword(dwords[0])),
            FeatureId::ASYNC_EVENT_CONFIG => Self::AsyncEventConfig(AsyncEventConfig(dwords[0])),
            FeatureId::KEEP_ALIVE_TIMER => Self::KeepAliveTimer(KeepAliveTimer { kato_ms: dwords[0] }),
            _ => Self::Other { fid, dwords },
        }
    }
}

/// Set Features (admin opcode 0x09): CDW10 bits 7:0 FID, bit 31 SV; CDW11+ the value. No data for the features
/// typed here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SetFeatures {
    /// CDW10 bit 31, SV: save across power cycles.
    pub sv: bool,
    /// SQE bytes 7:4, NSID (0 for controller-wide features).
    pub nsid: u32,
    /// The feature and its value (CDW10 bits 7:0 and CDW11–CDW15).
    pub feature: Feature,
}

impl SetFeatures {
    /// The admin opcode, 0x09.
    pub const OPCODE: AdminOpcode = AdminOpcode::SET_FEATURES;

    /// Sets `feature`, SV 0, NSID 0.
    pub const fn new(feature: Feature) -> Self {
        Self { sv: false, nsid: 0, feature }
    }

    /// The SQE (SGL1 "no data").
    pub const fn to_sqe(&self, cid: u16) -> Sqe {
        let mut sqe = Sqe::new(Self::OPCODE.0, cid);
        sqe.nsid = self.nsid;
        sqe.cdw10 = self.feature.fid().0 as u32 | (self.sv as u32) << 31;
        let d = self.feature.dwords();
        sqe.cdw11 = d[0];
        sqe.cdw12 = d[1];
        sqe.cdw13 = d[2];
        sqe.cdw14 = d[3];
        sqe.cdw15 = d[4];
        sqe
    }

    /// Reads a Set Features SQE.
    pub const fn from_sqe(sqe: &Sqe) -> Result<Self, CmdError> {
        if sqe.opcode != Self::OPCODE.0 {
            return Err(CmdError::WrongOpcode { expected: Self::OPCODE.0, found: sqe.opcode });
        }
        let fid = FeatureId(sqe.cdw10 as u8);
        Ok(Self {
            sv: sqe.cdw10 >> 31 == 1,
            nsid: sqe.nsid,
            feature: Feature::from_dwords(fid, [sqe.cdw11, sqe.cdw12, sqe.cdw13, sqe.cdw14, sqe.cdw15]),
        })
    }
}

/// Get Features select (CDW10 bits 10:8). Open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FeatureSelect(pub u8);

impl FeatureSelect {
    /// 0: current value.
    pub const CURRENT: Self = Self(0);
    /// 1: default value.
    pub const DEFAULT: Self = Self(1);
    /// 2: saved value.
    pub const SAVED: Self = Self(2);
    /// 3: supported capabilities.
    pub const SUPPORTED_CAPABILITIES: Self = Self(3);
}

/// Get Features (admin opcode 0x0A): CDW10 bits 7:0 FID, bits 10:8 SEL; CDW11 feature specific. The result is
/// completion DW0 (see [`GetFeatures::result`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GetFeatures {
    /// CDW10 bits 7:0, FID.
    pub fid: FeatureId,
    /// CDW10 bits 10:8, SEL (3 bits).
    pub sel: FeatureSelect,
    /// SQE bytes 7:4, NSID.
    pub nsid: u32,
    /// CDW11, feature specific.
    pub cdw11: u32,
}

impl GetFeatures {
    /// The admin opcode, 0x0A.
    pub const OPCODE: AdminOpcode = AdminOpcode::GET_FEATURES;

    /// Reads the current value of `fid`.
    pub const fn new(fid: FeatureId) -> Self {
        Self { fid, sel: FeatureSelect::CURRENT, nsid: 0, cdw11: 0 }
    }

    /// The SQE (SGL1 "no data").
    pub const fn to_sqe(&self, cid: u16) -> Sqe {
        let mut sqe = Sqe::new(Self::OPCODE.0, cid);
        sqe.nsid = self.nsid;
        sqe.cdw10 = self.fid.0 as u32 | ((self.sel.0 & 0x7) as u32) << 8;
        sqe.cdw11 = self.cdw11;
        sqe
    }

    /// Reads a Get Features SQE.
    pub const fn from_sqe(sqe: &Sqe) -> Result<Self, CmdError> {
        if sqe.opcode != Self::OPCODE.0 {
            return Err(CmdError::WrongOpcode { expected: Self::OPCODE.0, found: sqe.opcode });
        }
        Ok(Self {
            fid: FeatureId(sqe.cdw10 as u8),
            sel: FeatureSelect(((sqe.cdw10 >> 8) & 0x7) as u8),
            nsid: sqe.nsid,
            cdw11: sqe.cdw11,
        })
    }

    /// The completion DW0 read as this feature's value.
    pub const fn result(&self, dw0: u32) -> Feature {
        Feature::from_dwords(self.fid, [dw0, 0, 0, 0, 0])
    }
}
