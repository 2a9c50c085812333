//! NVM I/O commands: Read (0x02), Write (0x01), Flush (0x00) ([notes::commands §7](crate::notes::commands)).

use super::CmdError;
use super::opcode::IoOpcode;
use super::sgl::SglDescriptor;
use super::sqe::Sqe;

/// NSID meaning "all namespaces" (Flush, where supported).
pub const NSID_BROADCAST: u32 = 0xFFFF_FFFF;

/// Read or Write: the same SQE layout ([notes::commands §7](crate::notes::commands)).
///
/// CDW10–11 SLBA; CDW12 bits 15:0 NLB (**0's based**), bit 31 LR, bit 30 FUA, bits 29:26 PRINFO, bits 23:20
/// DTYPE (kept in `control`, CDW12 bits 31:16); CDW13 bits 7:0 DSM, 31:16 DSPEC; CDW14 EILBRT; CDW15 ELBAT (15:0)
/// and ELBATM (31:16). The data descriptor is SGL1: 0x5A for data by R2T/H2CData or C2HData, 0x01 for in-capsule
/// write data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReadWrite {
    /// SQE bytes 7:4, NSID.
    pub nsid: u32,
    /// CDW11:CDW10, SLBA: starting LBA.
    pub slba: u64,
    /// CDW12 bits 15:0, NLB: number of logical blocks, **0's based** (see [`blocks`](Self::blocks)).
    pub nlb: u16,
    /// CDW12 bits 31:16: LR (bit 15 here), FUA (14), PRINFO (13:10), DTYPE (7:4).
    pub control: u16,
    /// CDW13: DSM (bits 7:0), DSPEC (bits 31:16).
    pub dsmgmt: u32,
    /// CDW14, EILBRT: expected initial logical block reference tag.
    pub reftag: u32,
    /// CDW15 bits 15:0, ELBAT: expected application tag.
    pub apptag: u16,
    /// CDW15 bits 31:16, ELBATM: application tag mask.
    pub appmask: u16,
    /// SQE bytes 39:24, SGL1.
    pub dptr: SglDescriptor,
}

impl ReadWrite {
    /// `control` bit for FUA (CDW12 bit 30).
    pub const CONTROL_FUA: u16 = 1 << 14;
    /// `control` bit for LR (CDW12 bit 31).
    pub const CONTROL_LR: u16 = 1 << 15;

    /// `blocks` (1..=65536) blocks of `block_size` bytes at `slba` of `nsid`, data by transport data block (0x5A)
    /// of `blocks × block_size` bytes. `None` when `blocks` is 0 or above 65536, or the length overflows a u32.
    pub const fn new(nsid: u32, slba: u64, blocks: u32, block_size: u32) -> Option<Self> {
        if blocks == 0 || blocks > 0x1_0000 {
            return None;
        }
        let Some(len) = blocks.checked_mul(block_size) else {
            return None;
        };
        Some(Self {
            nsid,
            slba,
            nlb: (blocks - 1) as u16,
            control: 0,
            dsmgmt: 0,
            reftag: 0,
            apptag: 0,
            appmask: 0,
            dptr: SglDescriptor::transport_data(len),
        })
    }

    /// Number of blocks: NLB + 1.
    pub const fn blocks(&self) -> u32 {
        self.nlb as u32 + 1
    }

    /// `true` when FUA is set.
    pub const fn fua(&self) -> bool {
        self.control & Self::CONTROL_FUA != 0
    }

    const fn build_sqe(&self, opcode: IoOpcode, cid: u16) -> Sqe {
        let mut sqe = Sqe::new(opcode.0, cid);
        sqe.nsid = self.nsid;
        sqe.dptr = self.dptr;
        sqe.cdw10 = self.slba as u32;
        sqe.cdw11 = (self.slba >> 32) as u32;
        sqe.cdw12 = self.nlb as u32 | (self.control as u32) << 16;
        sqe.cdw13 = self.dsmgmt;
        sqe.cdw14 = self.reftag;
        sqe.cdw15 = self.apptag as u32 | (self.appmask as u32) << 16;
        sqe
    }

    const fn read_sqe(sqe: &Sqe, opcode: IoOpcode) -> Result<Self, CmdError> {
        if sqe.opcode != opcode.0 {
            return Err(CmdError::WrongOpcode { expected: opcode.0, found: sqe.opcode });
        }
        Ok(Self {
            nsid: sqe.nsid,
            slba: sqe.cdw10 as u64 | (sqe.cdw11 as u64) << 32,
            nlb: sqe.cdw12 as u16,
            control: (sqe.cdw12 >> 16) as u16,
            dsmgmt: sqe.cdw13,
            reftag: sqe.cdw14,
            apptag: sqe.cdw15 as u16,
            appmask: (sqe.cdw15 >> 16) as u16,
            dptr: sqe.dptr,
        })
    }

    /// The Read SQE (opcode 0x02).
    pub const fn to_read_sqe(&self, cid: u16) -> Sqe {
        self.build_sqe(IoOpcode::READ, cid)
    }

    /// The Write SQE (opcode 0x01).
    pub const fn to_write_sqe(&self, cid: u16) -> Sqe {
        self.build_sqe(IoOpcode::WRITE, cid)
    }

    /// Reads a Read SQE.
    pub const fn from_read_sqe(sqe: &Sqe) -> Result<Self, CmdError> {
        Self::read_sqe(sqe, IoOpcode::READ)
    }

    /// Reads a Write SQE.
    pub const fn from_write_sqe(sqe: &Sqe) -> Result<Self, CmdError> {
        Self::read_sqe(sqe, IoOpcode::WRITE)
    }
}

/// Flush (opcode 0x00): NSID only ([`NSID_BROADCAST`] for all namespaces, where supported), no data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Flush {
    /// SQE bytes 7:4, NSID.
    pub nsid: u32,
}

impl Flush {
    /// The SQE (SGL1 "no data").
    pub const fn to_sqe(&self, cid: u16) -> Sqe {
        let mut sqe = Sqe::new(IoOpcode::FLUSH.0, cid);
        sqe.nsid = self.nsid;
        sqe
    }

    /// Reads a Flush SQE.
    pub const fn from_sqe(sqe: &Sqe) -> Result<Self, CmdError> {
        if sqe.opcode != IoOpcode::FLUSH.0 {
            return Err(CmdError::WrongOpcode { expected: IoOpcode::FLUSH.0, found: sqe.opcode });
        }
        Ok(Self { nsid: sqe.nsid })
    }
}

/// Any I/O-queue command, parsed. Unknown opcodes keep the whole SQE and round-trip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IoCommand {
    /// 0x00 Flush.
    Flush(Flush),
    /// 0x01 Write.
    Write(ReadWrite),
    /// 0x02 Read.
    Read(ReadWrite),
    /// 0x7F Fabrics (on an I/O queue: Connect, Disconnect, Authentication).
    Fabrics(super::fabrics::FabricsCommand),
    /// Any other opcode, kept whole.
    Unknown(Sqe),
}

impl IoCommand {
    /// Parses an I/O-queue SQE; unknown opcodes give [`IoCommand::Unknown`].
    pub const fn parse(sqe: &Sqe) -> Result<Self, CmdError> {
        Ok(match IoOpcode(sqe.opcode) {
            IoOpcode::FLUSH => match Flush::from_sqe(sqe) {
                Ok(c) => Self::Flush(c),
                Err(e) => return Err(e),
            },
            IoOpcode::WRITE => match ReadWrite::from_write_sqe(sqe) {
                Ok(c) => Self::Write(c),
                Err(e) => return Err(e),
            },
            IoOpcode::READ => match ReadWrite::from_read_sqe(sqe) {
                Ok(c) => Self::Read(c),
                Err(e) => return Err(e),
            },
            IoOpcode::FABRICS => match super::fabrics::FabricsCommand::parse(sqe) {
                Ok(c) => Self::Fabrics(c),
                Err(e) => return Err(e),
            },
            _ => Self::Unknown(*sqe),
        })
    }

    /// The SQE with command identifier `cid`.
    pub const fn to_sqe(&self, cid: u16) -> Sqe {
        match self {
            Self::Flush(c) => c.to_sqe(cid),
            Self::Write(c) => c.to_write_sqe(cid),
            Self::Read(c) => c.to_read_sqe(cid),
            Self::Fabrics(c) => c.to_sqe(cid),
            Self::Unknown(sqe) => {
                let mut sqe = *sqe;
                sqe.cid = cid;
                sqe
            }
        }
    }

    /// The opcode.
    pub const fn opcode(&self) -> IoOpcode {
        match self {
            Self::Flush(_) => IoOpcode::FLUSH,
            Self::Write(_) => IoOpcode::WRITE,
            Self::Read(_) => IoOpcode::READ,
            Self::Fabrics(_) => IoOpcode::FABRICS,
            Self::Unknown(sqe) => IoOpcode(sqe.opcode),
        }
    }

    /// Whether the command can change stored data ([notes::commands §7](crate::notes::commands)): Read, and unknown
    /// Compare (0x05) and Verify (0x0C), do not; Write, Flush, every other opcode (conservative) and Fabrics commands
    /// other than Property Get do.
    pub const fn has_side_effects(&self) -> bool {
        match self {
            Self::Read(_) => false,
            Self::Flush(_) | Self::Write(_) => true,
            Self::Fabrics(c) => c.has_side_effects(),
            Self::Unknown(sqe) => !matches!(IoOpcode(sqe.opcode), IoOpcode::COMPARE | IoOpcode::VERIFY),
        }
    }
}
