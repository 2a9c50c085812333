//! Cross-Controller Reset (admin opcode 0x38; NVMe Base 2.3 / TP8028; [notes::ccr_cqt §3](crate::notes::ccr_cqt)).
//!
//! Sent to a *source* controller to reset an *impacted* controller of the same subsystem and host, named by its
//! instance (CNTLID, CIU, CIRN from its Identify Controller data). The log page it fills (LID 0x1E) is
//! [`CcrLogPage`](super::CcrLogPage) in `log.rs`; the AEN announcing completion is
//! [`AsyncEvent::ccr_completed`](super::AsyncEvent::ccr_completed) in `aer.rs`.

use super::CmdError;
use super::opcode::AdminOpcode;
use super::sgl::SglDescriptor;
use super::sqe::Sqe;

/// The Cross-Controller Reset command.
///
/// SQE: opcode 0x38, flags 0x40, NSID 0, SGL1 0x5A with length 0 (no data); CDW10 bits 15:0 ICID, bits 23:16 CIU,
/// bits 31:24 reserved; CDW11 reserved; CDW12 CIRN bits 31:0; CDW13 CIRN bits 63:32; CDW14–15 reserved
/// ([notes::ccr_cqt §3](crate::notes::ccr_cqt), Base 2.3 Fig. 522).
///
/// A controller that reported CIU = 0 / CIRN = 0 (a pre-TP8028 controller: "not reported") is still named with
/// those values exactly as read ([notes::ccr_cqt §2](crate::notes::ccr_cqt), our decision).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CrossControllerReset {
    /// CDW10 bits 15:0, ICID: CNTLID of the impacted controller.
    pub icid: u16,
    /// CDW10 bits 23:16, CIU: Controller Instance Uniquifier of the impacted controller (Identify byte 135).
    pub ciu: u8,
    /// CDW12 (bits 31:0) and CDW13 (bits 63:32), CIRN: Controller Instance Random Number of the impacted controller
    /// (Identify bytes 143:136).
    pub cirn: u64,
}

impl CrossControllerReset {
    /// The admin opcode, 0x38.
    pub const OPCODE: AdminOpcode = AdminOpcode::CROSS_CONTROLLER_RESET;

    /// The SQE for this command with command identifier `cid`.
    pub const fn to_sqe(&self, cid: u16) -> Sqe {
        let mut sqe = Sqe::new(Self::OPCODE.0, cid);
        sqe.dptr = SglDescriptor::NO_DATA;
        sqe.cdw10 = self.icid as u32 | (self.ciu as u32) << 16;
        sqe.cdw12 = self.cirn as u32;
        sqe.cdw13 = (self.cirn >> 32) as u32;
        sqe
    }

    /// Reads the command from an SQE. Fails only when the opcode is not 0x38; reserved fields are not checked.
    pub const fn from_sqe(sqe: &Sqe) -> Result<Self, CmdError> {
        if sqe.opcode != Self::OPCODE.0 {
            return Err(CmdError::WrongOpcode { expected: Self::OPCODE.0, found: sqe.opcode });
        }
        Ok(Self {
            icid: sqe.cdw10 as u16,
            ciu: (sqe.cdw10 >> 16) as u8,
            cirn: sqe.cdw12 as u64 | (sqe.cdw13 as u64) << 32,
        })
    }
}

/// Completion DW0 of a successful Cross-Controller Reset ([notes::ccr_cqt §3](crate::notes::ccr_cqt)). Bits 31:3 are
/// reserved and dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct CcrResult {
    /// Bit 0, IRS (Immediate Reset Successful): the impacted controller's reset had finished when the command
    /// completed; no log entry or AEN needs waiting for. With IRS = 0, wait for the CCR log entry.
    pub irs: bool,
    /// Bit 1, V (Validated). Undefined when IRS = 0 (meaning unconfirmed: best guess "impacted identity
    /// validated").
    pub v: bool,
    /// Bit 2, CLRI (Controller Level Reset Initiated). Undefined when IRS = 0 (meaning unconfirmed).
    pub clri: bool,
}

impl CcrResult {
    /// DW0 bit 0, IRS.
    pub const IRS: u32 = 1 << 0;
    /// DW0 bit 1, V.
    pub const V: u32 = 1 << 1;
    /// DW0 bit 2, CLRI.
    pub const CLRI: u32 = 1 << 2;

    /// Decodes completion DW0 (reserved bits ignored).
    pub const fn from_dw0(dw0: u32) -> Self {
        Self { irs: dw0 & Self::IRS != 0, v: dw0 & Self::V != 0, clri: dw0 & Self::CLRI != 0 }
    }

    /// Encodes completion DW0 (reserved bits 0).
    pub const fn to_dw0(&self) -> u32 {
        (self.irs as u32) | (self.v as u32) << 1 | (self.clri as u32) << 2
    }
}
