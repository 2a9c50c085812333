//! Identify (admin opcode 0x06; [notes::commands §6.1](crate::notes::commands)): the command and the four data
//! structures this project parses and builds (CNS 00h namespace, 01h controller, 02h active namespace list, 03h
//! namespace identification descriptors). Every Identify returns 4096 bytes.

pub(crate) mod controller;
pub(crate) mod descriptors;
pub(crate) mod namespace;
pub(crate) mod nslist;

use super::CmdError;
use super::opcode::AdminOpcode;
use super::sgl::SglDescriptor;
use super::sqe::Sqe;

/// Size of every Identify data structure.
pub const IDENTIFY_DATA_LEN: usize = 4096;

/// Controller or Namespace Structure (CNS, CDW10 bits 7:0). Open: unknown values round-trip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cns(pub u8);

impl Cns {
    /// 0x00 Identify Namespace.
    pub const NAMESPACE: Self = Self(0x00);
    /// 0x01 Identify Controller.
    pub const CONTROLLER: Self = Self(0x01);
    /// 0x02 Active Namespace ID list.
    pub const ACTIVE_NS_LIST: Self = Self(0x02);
    /// 0x03 Namespace Identification Descriptor list.
    pub const NS_DESCRIPTORS: Self = Self(0x03);
    /// 0x04 NVM Set list.
    pub const NVM_SET_LIST: Self = Self(0x04);
    /// 0x05 I/O command set specific Namespace.
    pub const CSI_NAMESPACE: Self = Self(0x05);
    /// 0x06 I/O command set specific Controller.
    pub const CSI_CONTROLLER: Self = Self(0x06);
    /// 0x07 I/O command set specific active namespace list.
    pub const CSI_ACTIVE_NS_LIST: Self = Self(0x07);
    /// 0x08 I/O command set independent Namespace.
    pub const CS_INDEPENDENT_NAMESPACE: Self = Self(0x08);
    /// 0x13 Controller list.
    pub const CONTROLLER_LIST: Self = Self(0x13);
}

/// The Identify command ([notes::commands §6.1](crate::notes::commands)): CDW10 bits 7:0 CNS, 31:16 CNTID; CDW11 bits
/// 15:0 CNS specific identifier, 31:24 CSI; CDW14 bits 6:0 UUID index. Data: 4096 bytes by C2HData (SGL1 0x5A,
/// length 4096).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Identify {
    /// CDW10 bits 7:0, CNS.
    pub cns: Cns,
    /// CDW10 bits 31:16, CNTID (controller-list CNS values).
    pub cntid: u16,
    /// CDW11 bits 15:0, CNS specific identifier.
    pub cns_specific_id: u16,
    /// CDW11 bits 31:24, CSI (0 = NVM).
    pub csi: u8,
    /// CDW14 bits 6:0, UUID index.
    pub uuid_index: u8,
    /// SQE bytes 7:4, NSID (the namespace for CNS 00h/03h, the starting point for 02h).
    pub nsid: u32,
}

impl Identify {
    /// The admin opcode, 0x06.
    pub const OPCODE: AdminOpcode = AdminOpcode::IDENTIFY;

    /// Identify `cns` for `nsid`, every other field 0.
    pub const fn new(cns: Cns, nsid: u32) -> Self {
        Self { cns, cntid: 0, cns_specific_id: 0, csi: 0, uuid_index: 0, nsid }
    }

    /// Identify Controller (CNS 01h, NSID 0).
    pub const fn controller() -> Self {
        Self::new(Cns::CONTROLLER, 0)
    }

    /// Identify Namespace (CNS 00h) of `nsid`.
    pub const fn namespace(nsid: u32) -> Self {
        Self::new(Cns::NAMESPACE, nsid)
    }

    /// Active namespace IDs greater than `after` (CNS 02h; 0 lists from the start).
    pub const fn active_ns_list(after: u32) -> Self {
        Self::new(Cns::ACTIVE_NS_LIST, after)
    }

    /// Namespace Identification Descriptor list (CNS 03h) of `nsid`.
    pub const fn ns_descriptors(nsid: u32) -> Self {
        Self::new(Cns::NS_DESCRIPTORS, nsid)
    }

    /// The SQE: SGL1 transport data block (0x5A) of 4096 bytes.
    pub const fn to_sqe(&self, cid: u16) -> Sqe {
        let mut sqe = Sqe::new(Self::OPCODE.0, cid);
        sqe.nsid = self.nsid;
        sqe.dptr = SglDescriptor::transport_data(IDENTIFY_DATA_LEN as u32);
        sqe.cdw10 = self.cns.0 as u32 | (self.cntid as u32) << 16;
        sqe.cdw11 = self.cns_specific_id as u32 | (self.csi as u32) << 24;
        sqe.cdw14 = (self.uuid_index & 0x7F) as u32;
        sqe
    }

    /// Reads an Identify SQE (reserved bits and the SGL are not checked).
    pub const fn from_sqe(sqe: &Sqe) -> Result<Self, CmdError> {
        if sqe.opcode != Self::OPCODE.0 {
            return Err(CmdError::WrongOpcode { expected: Self::OPCODE.0, found: sqe.opcode });
        }
        Ok(Self {
            cns: Cns(sqe.cdw10 as u8),
            cntid: (sqe.cdw10 >> 16) as u16,
            cns_specific_id: sqe.cdw11 as u16,
            csi: (sqe.cdw11 >> 24) as u8,
            uuid_index: (sqe.cdw14 & 0x7F) as u8,
            nsid: sqe.nsid,
        })
    }
}
