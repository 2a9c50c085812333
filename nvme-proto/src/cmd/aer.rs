//! Asynchronous events: the AER completion DW0 ([notes::commands §6.5](crate::notes::commands)), and the
//! Cross-Controller Reset and Lost Host Communication notices with their OAES and AEC bits
//! ([notes::ccr_cqt §5](crate::notes::ccr_cqt)).

use super::CmdError;
use super::log::LogId;
use super::opcode::AdminOpcode;
use super::sqe::Sqe;

/// AEI of the Notice event "Cross-Controller Reset Completed".
///
/// **Unconfirmed**: 0xF4 is the value the Base 2.3 audit lists (Fig. 154: F0 discovery log change, F1, F2, F3 pull
/// model DDC request, F4 CCR completed, F5 lost host communication); one third-party model says 0xF3.
/// [`AsyncEvent::is_ccr_completed`] also accepts any Notice naming LID 0x1E, so a controller using another AEI is
/// still recognised.
pub const AEI_CCR_COMPLETED: u8 = 0xF4;

/// AEI of the Notice event "Lost Host Communication". **Unconfirmed**: 0xF5 per the same audit list as
/// [`AEI_CCR_COMPLETED`].
pub const AEI_LOST_HOST_COMMUNICATION: u8 = 0xF5;

/// Identify Controller OAES bit 20, CCRCN: the controller supports Cross-Controller Reset Completed notices.
/// **Unconfirmed**: bit 20 from libnvme 3.2's enum order (ANSAN 19 < CCRCN < LHCN < RLCC 22).
pub const OAES_CCRCN: u32 = 1 << 20;

/// Identify Controller OAES bit 21, LHCN: the controller supports Lost Host Communication notices.
/// **Unconfirmed**: bit 21, same source as [`OAES_CCRCN`].
pub const OAES_LHCN: u32 = 1 << 21;

/// Asynchronous Event Configuration (Set Features FID 0x0B, CDW11) bit enabling CCR Completed notices.
/// **Unconfirmed**: bit 20, on the assumption that AEC bits follow the OAES bit numbers (they do from bit 8 up).
pub const AEC_CCRCN: u32 = 1 << 20;

/// Asynchronous Event Configuration bit enabling Lost Host Communication notices. **Unconfirmed**: bit 21, same
/// assumption as [`AEC_CCRCN`].
pub const AEC_LHCN: u32 = 1 << 21;

/// Asynchronous event type (AER completion DW0 bits 2:0). Open: every 3-bit value round-trips.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AsyncEventType(pub u8);

impl AsyncEventType {
    /// 0: Error status.
    pub const ERROR: Self = Self(0);
    /// 1: SMART / Health status.
    pub const SMART: Self = Self(1);
    /// 2: Notice (namespace attribute changed, ANA change, CCR completed, ...).
    pub const NOTICE: Self = Self(2);
    /// 3: Immediate.
    pub const IMMEDIATE: Self = Self(3);
    /// 4: One-Shot.
    pub const ONE_SHOT: Self = Self(4);
    /// 6: I/O command set specific status.
    pub const IO_COMMAND_SET: Self = Self(6);
    /// 7: Vendor specific.
    pub const VENDOR: Self = Self(7);
}

/// An asynchronous event: the completion DW0 of an Asynchronous Event Request
/// ([notes::commands §6.5](crate::notes::commands)).
///
/// DW0 bits 2:0 AET, 15:8 AEI, 23:16 LID (the log page to read to get details and clear the event); bits 7:3 and
/// 31:24 are reserved and dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AsyncEvent {
    /// Bits 2:0, event type.
    pub aet: AsyncEventType,
    /// Bits 15:8, event information (meaning depends on the type).
    pub aei: u8,
    /// Bits 23:16, log page identifier.
    pub lid: LogId,
}

/// Notice AEI values (AET 2; [notes::commands §6.5](crate::notes::commands)). The CCR / LHC ones are the unconfirmed
/// [`AEI_CCR_COMPLETED`] and [`AEI_LOST_HOST_COMMUNICATION`].
pub mod notice {
    /// 0x00 Namespace Attribute Changed (LID 0x04).
    pub const NAMESPACE_ATTRIBUTE_CHANGED: u8 = 0x00;
    /// 0x01 Firmware Activation Starting.
    pub const FIRMWARE_ACTIVATION_STARTING: u8 = 0x01;
    /// 0x02 Telemetry Log Changed.
    pub const TELEMETRY_LOG_CHANGED: u8 = 0x02;
    /// 0x03 Asymmetric Namespace Access Change (LID 0x0C).
    pub const ANA_CHANGE: u8 = 0x03;
    /// 0xF0 Discovery Log Page Change (LID 0x70).
    pub const DISCOVERY_LOG_CHANGE: u8 = 0xF0;
}

impl AsyncEvent {
    /// Decodes AER completion DW0.
    pub const fn from_dw0(dw0: u32) -> Self {
        Self { aet: AsyncEventType((dw0 & 0x7) as u8), aei: (dw0 >> 8) as u8, lid: LogId((dw0 >> 16) as u8) }
    }

    /// Encodes AER completion DW0 (reserved bits 0; AET masked to 3 bits).
    pub const fn to_dw0(&self) -> u32 {
        (self.aet.0 & 0x7) as u32 | (self.aei as u32) << 8 | (self.lid.0 as u32) << 16
    }

    /// The "Cross-Controller Reset Completed" notice: AET 2, AEI [`AEI_CCR_COMPLETED`] (unconfirmed), LID 0x1E.
    /// DW0 0x001EF402.
    pub const fn ccr_completed() -> Self {
        Self { aet: AsyncEventType::NOTICE, aei: AEI_CCR_COMPLETED, lid: LogId::CROSS_CONTROLLER_RESET }
    }

    /// The "Lost Host Communication" notice: AET 2, AEI [`AEI_LOST_HOST_COMMUNICATION`] (unconfirmed), LID 0x1F.
    pub const fn lost_host_communication() -> Self {
        Self { aet: AsyncEventType::NOTICE, aei: AEI_LOST_HOST_COMMUNICATION, lid: LogId::LOST_HOST_COMMUNICATION }
    }

    /// `true` for a Notice that announces completed Cross-Controller Resets: AEI [`AEI_CCR_COMPLETED`], or any
    /// Notice naming the CCR log page (LID 0x1E), since the AEI value is unconfirmed and the log page to read is
    /// what matters. The host reads log 0x1E (RAE = 0 to clear the event) from the controller that sent it.
    pub const fn is_ccr_completed(&self) -> bool {
        self.aet.0 == AsyncEventType::NOTICE.0
            && (self.aei == AEI_CCR_COMPLETED || self.lid.0 == LogId::CROSS_CONTROLLER_RESET.0)
    }

    /// `true` for a Notice announcing Lost Host Communication: AEI [`AEI_LOST_HOST_COMMUNICATION`] or a Notice
    /// naming LID 0x1F (same reasoning as [`is_ccr_completed`](Self::is_ccr_completed)).
    pub const fn is_lost_host_communication(&self) -> bool {
        self.aet.0 == AsyncEventType::NOTICE.0
            && (self.aei == AEI_LOST_HOST_COMMUNICATION || self.lid.0 == LogId::LOST_HOST_COMMUNICATION.0)
    }
}

/// Asynchronous Event Request (admin opcode 0x0C): no command dwords, no data. It stays outstanding until an event
/// occurs; its completion DW0 is an [`AsyncEvent`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct AsyncEventRequest;

impl AsyncEventRequest {
    /// The admin opcode, 0x0C.
    pub const OPCODE: AdminOpcode = AdminOpcode::ASYNC_EVENT_REQUEST;

    /// The SQE (SGL1 "no data").
    pub const fn to_sqe(&self, cid: u16) -> Sqe {
        Sqe::new(Self::OPCODE.0, cid)
    }

    /// Checks the opcode of an SQE.
    pub const fn from_sqe(sqe: &Sqe) -> Result<Self, CmdError> {
        if sqe.opcode != Self::OPCODE.0 {
            return Err(CmdError::WrongOpcode { expected: Self::OPCODE.0, found: sqe.opcode });
        }
        Ok(Self)
    }
}
