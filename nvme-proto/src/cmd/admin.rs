//! Admin commands without a file of their own (Keep Alive, Abort) and [`AdminCommand`], the parsed form of any
//! admin-queue SQE.

use super::CmdError;
use super::aer::AsyncEventRequest;
use super::ccr::CrossControllerReset;
use super::fabrics::FabricsCommand;
use super::features::{GetFeatures, SetFeatures};
use super::identify::Identify;
use super::log::GetLogPage;
use super::opcode::AdminOpcode;
use super::sqe::Sqe;

/// Keep Alive (admin opcode 0x18; [notes::commands §6.4](crate::notes::commands)): no command dwords, no data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct KeepAlive;

impl KeepAlive {
    /// The admin opcode, 0x18.
    pub const OPCODE: AdminOpcode = AdminOpcode::KEEP_ALIVE;

    /// The SQE (SGL1 "no data"; [notes::vectors §2.3](crate::notes::vectors)).
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

/// Abort (admin opcode 0x08; [notes::commands §6.6](crate::notes::commands)): CDW10 bits 15:0 SQID, bits 31:16 CID of
/// the command to abort. Completion DW0 bit 0: 0 = aborted, 1 = not aborted (Linux nvmet always answers 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Abort {
    /// CDW10 bits 15:0, SQID of the command to abort.
    pub sqid: u16,
    /// CDW10 bits 31:16, CID of the command to abort.
    pub cid: u16,
}

impl Abort {
    /// The admin opcode, 0x08.
    pub const OPCODE: AdminOpcode = AdminOpcode::ABORT;

    /// The SQE with command identifier `cid` (the Abort's own CID, not the aborted command's).
    pub const fn to_sqe(&self, cid: u16) -> Sqe {
        let mut sqe = Sqe::new(Self::OPCODE.0, cid);
        sqe.cdw10 = self.sqid as u32 | (self.cid as u32) << 16;
        sqe
    }

    /// Reads an Abort SQE.
    pub const fn from_sqe(sqe: &Sqe) -> Result<Self, CmdError> {
        if sqe.opcode != Self::OPCODE.0 {
            return Err(CmdError::WrongOpcode { expected: Self::OPCODE.0, found: sqe.opcode });
        }
        Ok(Self { sqid: sqe.cdw10 as u16, cid: (sqe.cdw10 >> 16) as u16 })
    }

    /// `true` when completion DW0 says the command was aborted (bit 0 clear).
    pub const fn was_aborted(dw0: u32) -> bool {
        dw0 & 1 == 0
    }
}

/// Any admin-queue command, parsed. Unknown opcodes keep the whole SQE and round-trip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AdminCommand {
    /// 0x02 Get Log Page.
    GetLogPage(GetLogPage),
    /// 0x06 Identify.
    Identify(Identify),
    /// 0x08 Abort.
    Abort(Abort),
    /// 0x09 Set Features.
    SetFeatures(SetFeatures),
    /// 0x0A Get Features.
    GetFeatures(GetFeatures),
    /// 0x0C Asynchronous Event Request.
    AsyncEventRequest(AsyncEventRequest),
    /// 0x18 Keep Alive.
    KeepAlive(KeepAlive),
    /// 0x38 Cross-Controller Reset.
    CrossControllerReset(CrossControllerReset),
    /// 0x7F Fabrics.
    Fabrics(FabricsCommand),
    /// Any other opcode, kept whole.
    Unknown(Sqe),
}

impl AdminCommand {
    /// Parses an admin-queue SQE. Errors come only from known commands with invalid fields (a reserved Property
    /// size); unknown opcodes give [`AdminCommand::Unknown`].
    pub const fn parse(sqe: &Sqe) -> Result<Self, CmdError> {
        macro_rules! typed {
            ($variant:ident, $parsed:expr) => {
                match $parsed {
                    Ok(c) => Self::$variant(c),
                    Err(e) => return Err(e),
                }
            };
        }
        Ok(match AdminOpcode(sqe.opcode) {
            AdminOpcode::GET_LOG_PAGE => typed!(GetLogPage, GetLogPage::from_sqe(sqe)),
            AdminOpcode::IDENTIFY => typed!(Identify, Identify::from_sqe(sqe)),
            AdminOpcode::ABORT => typed!(Abort, Abort::from_sqe(sqe)),
            AdminOpcode::SET_FEATURES => typed!(SetFeatures, SetFeatures::from_sqe(sqe)),
            AdminOpcode::GET_FEATURES => typed!(GetFeatures, GetFeatures::from_sqe(sqe)),
            AdminOpcode::ASYNC_EVENT_REQUEST => typed!(AsyncEventRequest, AsyncEventRequest::from_sqe(sqe)),
            AdminOpcode::KEEP_ALIVE => typed!(KeepAlive, KeepAlive::from_sqe(sqe)),
            AdminOpcode::CROSS_CONTROLLER_RESET => typed!(CrossControllerReset, CrossControllerReset::from_sqe(sqe)),
            AdminOpcode::FABRICS => typed!(Fabrics, FabricsCommand::parse(sqe)),
            _ => Self::Unknown(*sqe),
        })
    }

    /// The SQE with command identifier `cid`.
    pub const fn to_sqe(&self, cid: u16) -> Sqe {
        match self {
            Self::GetLogPage(c) => c.to_sqe(cid),
            Self::Identify(c) => c.to_sqe(cid),
            Self::Abort(c) => c.to_sqe(cid),
            Self::SetFeatures(c) => c.to_sqe(cid),
            Self::GetFeatures(c) => c.to_sqe(cid),
            Self::AsyncEventRequest(c) => c.to_sqe(cid),
            Self::KeepAlive(c) => c.to_sqe(cid),
            Self::CrossControllerReset(c) => c.to_sqe(cid),
            Self::Fabrics(c) => c.to_sqe(cid),
            Self::Unknown(sqe) => {
                let mut sqe = *sqe;
                sqe.cid = cid;
                sqe
            }
        }
    }

    /// The opcode.
    pub const fn opcode(&self) -> AdminOpcode {
        match self {
            Self::GetLogPage(_) => GetLogPage::OPCODE,
            Self::Identify(_) => Identify::OPCODE,
            Self::Abort(_) => Abort::OPCODE,
            Self::SetFeatures(_) => SetFeatures::OPCODE,
            Self::GetFeatures(_) => GetFeatures::OPCODE,
            Self::AsyncEventRequest(_) => AsyncEventRequest::OPCODE,
            Self::KeepAlive(_) => KeepAlive::OPCODE,
            Self::CrossControllerReset(_) => CrossControllerReset::OPCODE,
            Self::Fabrics(_) => AdminOpcode::FABRICS,
            Self::Unknown(sqe) => AdminOpcode(sqe.opcode),
        }
    }

    /// Whether the command can change controller or stored state, so that a host must not complete it back to its
    /// submitter, or retry it elsewhere, before recovery proves the old controller can no longer act on it
    /// ([notes::commands §7](crate::notes::commands), [notes::ccr_cqt §9](crate::notes::ccr_cqt)).
    ///
    /// Free of side effects: Identify, Get Features, Get Log Page with RAE = 1, Keep Alive, Asynchronous Event
    /// Request, Property Get. Everything else is side-effecting: Set Features, Get Log Page with RAE = 0 (it
    /// clears the event), Abort, Cross-Controller Reset, other Fabrics commands, and every unknown opcode
    /// (conservative).
    pub const fn has_side_effects(&self) -> bool {
        match self {
            Self::Identify(_) | Self::GetFeatures(_) | Self::KeepAlive(_) | Self::AsyncEventRequest(_) => false,
            Self::GetLogPage(c) => c.has_side_effects(),
            Self::Fabrics(c) => c.has_side_effects(),
            Self::Abort(_) | Self::SetFeatures(_) | Self::CrossControllerReset(_) | Self::Unknown(_) => true,
        }
    }
}
