//! Opcodes: admin, NVM I/O and Fabrics command types (open newtypes: unknown values round-trip).

/// Admin command opcode (SQE byte 0 on the admin queue; [notes::commands §6](crate::notes::commands),
/// Base 2.3 Fig. 142).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AdminOpcode(pub u8);

impl AdminOpcode {
    /// 0x00 Delete I/O Submission Queue.
    pub const DELETE_IO_SQ: Self = Self(0x00);
    /// 0x01 Create I/O Submission Queue.
    pub const CREATE_IO_SQ: Self = Self(0x01);
    /// 0x02 Get Log Page.
    pub const GET_LOG_PAGE: Self = Self(0x02);
    /// 0x04 Delete I/O Completion Queue.
    pub const DELETE_IO_CQ: Self = Self(0x04);
    /// 0x05 Create I/O Completion Queue.
    pub const CREATE_IO_CQ: Self = Self(0x05);
    /// 0x06 Identify.
    pub const IDENTIFY: Self = Self(0x06);
    /// 0x08 Abort.
    pub const ABORT: Self = Self(0x08);
    /// 0x09 Set Features.
    pub const SET_FEATURES: Self = Self(0x09);
    /// 0x0A Get Features.
    pub const GET_FEATURES: Self = Self(0x0A);
    /// 0x0C Asynchronous Event Request.
    pub const ASYNC_EVENT_REQUEST: Self = Self(0x0C);
    /// 0x0D Namespace Management.
    pub const NAMESPACE_MANAGEMENT: Self = Self(0x0D);
    /// 0x10 Firmware Commit.
    pub const FIRMWARE_COMMIT: Self = Self(0x10);
    /// 0x11 Firmware Image Download.
    pub const FIRMWARE_IMAGE_DOWNLOAD: Self = Self(0x11);
    /// 0x14 Device Self-test.
    pub const DEVICE_SELF_TEST: Self = Self(0x14);
    /// 0x15 Namespace Attachment.
    pub const NAMESPACE_ATTACHMENT: Self = Self(0x15);
    /// 0x18 Keep Alive.
    pub const KEEP_ALIVE: Self = Self(0x18);
    /// 0x19 Directive Send.
    pub const DIRECTIVE_SEND: Self = Self(0x19);
    /// 0x1A Directive Receive.
    pub const DIRECTIVE_RECEIVE: Self = Self(0x1A);
    /// 0x1C Virtualization Management.
    pub const VIRTUALIZATION_MANAGEMENT: Self = Self(0x1C);
    /// 0x1D NVMe-MI Send.
    pub const NVME_MI_SEND: Self = Self(0x1D);
    /// 0x1E NVMe-MI Receive.
    pub const NVME_MI_RECEIVE: Self = Self(0x1E);
    /// 0x38 Cross-Controller Reset (Base 2.3 / TP8028; fabrics only; [notes::ccr_cqt §3](crate::notes::ccr_cqt)).
    pub const CROSS_CONTROLLER_RESET: Self = Self(0x38);
    /// 0x7C Doorbell Buffer Config.
    pub const DOORBELL_BUFFER_CONFIG: Self = Self(0x7C);
    /// 0x7F Fabrics command (the command type is in SQE byte 4, FCTYPE; see [`FabricsType`]).
    pub const FABRICS: Self = Self(0x7F);
    /// 0x80 Format NVM.
    pub const FORMAT_NVM: Self = Self(0x80);
    /// 0x81 Security Send.
    pub const SECURITY_SEND: Self = Self(0x81);
    /// 0x82 Security Receive.
    pub const SECURITY_RECEIVE: Self = Self(0x82);
    /// 0x84 Sanitize.
    pub const SANITIZE: Self = Self(0x84);
    /// 0x86 Get LBA Status.
    pub const GET_LBA_STATUS: Self = Self(0x86);

    /// The command's name, or `None` for an opcode this crate does not name (vendor specific 0xC0–0xFF included).
    pub const fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::DELETE_IO_SQ => "Delete I/O Submission Queue",
            Self::CREATE_IO_SQ => "Create I/O Submission Queue",
            Self::GET_LOG_PAGE => "Get Log Page",
            Self::DELETE_IO_CQ => "Delete I/O Completion Queue",
            Self::CREATE_IO_CQ => "Create I/O Completion Queue",
            Self::IDENTIFY => "Identify",
            Self::ABORT => "Abort",
            Self::SET_FEATURES => "Set Features",
            Self::GET_FEATURES => "Get Features",
            Self::ASYNC_EVENT_REQUEST => "Asynchronous Event Request",
            Self::NAMESPACE_MANAGEMENT => "Namespace Management",
            Self::FIRMWARE_COMMIT => "Firmware Commit",
            Self::FIRMWARE_IMAGE_DOWNLOAD => "Firmware Image Download",
            Self::DEVICE_SELF_TEST => "Device Self-test",
            Self::NAMESPACE_ATTACHMENT => "Namespace Attachment",
            Self::KEEP_ALIVE => "Keep Alive",
            Self::DIRECTIVE_SEND => "Directive Send",
            Self::DIRECTIVE_RECEIVE => "Directive Receive",
            Self::VIRTUALIZATION_MANAGEMENT => "Virtualization Management",
            Self::NVME_MI_SEND => "NVMe-MI Send",
            Self::NVME_MI_RECEIVE => "NVMe-MI Receive",
            Self::CROSS_CONTROLLER_RESET => "Cross-Controller Reset",
            Self::DOORBELL_BUFFER_CONFIG => "Doorbell Buffer Config",
            Self::FABRICS => "Fabrics",
            Self::FORMAT_NVM => "Format NVM",
            Self::SECURITY_SEND => "Security Send",
            Self::SECURITY_RECEIVE => "Security Receive",
            Self::SANITIZE => "Sanitize",
            Self::GET_LBA_STATUS => "Get LBA Status",
            _ => return None,
        })
    }
}

/// NVM command set I/O opcode (SQE byte 0 on an I/O queue; [notes::commands §7](crate::notes::commands)).
///
/// Bits 1:0 give the data direction: 01 host to controller, 10 controller to host, 00 none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IoOpcode(pub u8);

impl IoOpcode {
    /// 0x00 Flush.
    pub const FLUSH: Self = Self(0x00);
    /// 0x01 Write.
    pub const WRITE: Self = Self(0x01);
    /// 0x02 Read.
    pub const READ: Self = Self(0x02);
    /// 0x04 Write Uncorrectable.
    pub const WRITE_UNCORRECTABLE: Self = Self(0x04);
    /// 0x05 Compare.
    pub const COMPARE: Self = Self(0x05);
    /// 0x08 Write Zeroes.
    pub const WRITE_ZEROES: Self = Self(0x08);
    /// 0x09 Dataset Management.
    pub const DATASET_MANAGEMENT: Self = Self(0x09);
    /// 0x0C Verify.
    pub const VERIFY: Self = Self(0x0C);
    /// 0x0D Reservation Register.
    pub const RESERVATION_REGISTER: Self = Self(0x0D);
    /// 0x0E Reservation Report.
    pub const RESERVATION_REPORT: Self = Self(0x0E);
    /// 0x11 Reservation Acquire.
    pub const RESERVATION_ACQUIRE: Self = Self(0x11);
    /// 0x15 Reservation Release.
    pub const RESERVATION_RELEASE: Self = Self(0x15);
    /// 0x19 Copy.
    pub const COPY: Self = Self(0x19);
    /// 0x7F Fabrics command (also valid on I/O queues; FCTYPE in SQE byte 4).
    pub const FABRICS: Self = Self(0x7F);

    /// The command's name, or `None` for an opcode this crate does not name.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::FLUSH => "Flush",
            Self::WRITE => "Write",
            Self::READ => "Read",
            Self::WRITE_UNCORRECTABLE => "Write Uncorrectable",
            Self::COMPARE => "Compare",
            Self::WRITE_ZEROES => "Write Zeroes",
            Self::DATASET_MANAGEMENT => "Dataset Management",
            Self::VERIFY => "Verify",
            Self::RESERVATION_REGISTER => "Reservation Register",
            Self::RESERVATION_REPORT => "Reservation Report",
            Self::RESERVATION_ACQUIRE => "Reservation Acquire",
            Self::RESERVATION_RELEASE => "Reservation Release",
            Self::COPY => "Copy",
            Self::FABRICS => "Fabrics",
            _ => return None,
        })
    }

    /// The data direction encoded in opcode bits 1:0.
    pub const fn direction(self) -> DataDirection {
        match self.0 & 0x3 {
            0b01 => DataDirection::HostToController,
            0b10 => DataDirection::ControllerToHost,
            0b00 => DataDirection::None,
            _ => DataDirection::Bidirectional,
        }
    }
}

/// Data direction of a command, from opcode bits 1:0 (I/O) or FCTYPE bit 0 (Fabrics).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DataDirection {
    /// No data transfer (bits 00).
    None,
    /// Host to controller (bits 01): Write and the like.
    HostToController,
    /// Controller to host (bits 10): Read and the like.
    ControllerToHost,
    /// Bits 11: bidirectional (not used by the commands of this crate).
    Bidirectional,
}

/// Fabrics command type (FCTYPE, SQE byte 4 of opcode 0x7F; [notes::commands §5](crate::notes::commands)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FabricsType(pub u8);

impl FabricsType {
    /// 0x00 Property Set.
    pub const PROPERTY_SET: Self = Self(0x00);
    /// 0x01 Connect.
    pub const CONNECT: Self = Self(0x01);
    /// 0x04 Property Get.
    pub const PROPERTY_GET: Self = Self(0x04);
    /// 0x05 Authentication Send.
    pub const AUTH_SEND: Self = Self(0x05);
    /// 0x06 Authentication Receive.
    pub const AUTH_RECEIVE: Self = Self(0x06);
    /// 0x08 Disconnect.
    pub const DISCONNECT: Self = Self(0x08);

    /// The command's name, or `None` for an unnamed type (vendor specific 0xC0–0xFF included).
    pub const fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::PROPERTY_SET => "Property Set",
            Self::CONNECT => "Connect",
            Self::PROPERTY_GET => "Property Get",
            Self::AUTH_SEND => "Authentication Send",
            Self::AUTH_RECEIVE => "Authentication Receive",
            Self::DISCONNECT => "Disconnect",
            _ => return None,
        })
    }

    /// FCTYPE bit 0 set means host-to-controller data (the rule Linux uses,
    /// [notes::commands §5](crate::notes::commands)).
    pub const fn direction(self) -> DataDirection {
        if self.0 & 1 == 1 { DataDirection::HostToController } else { DataDirection::ControllerToHost }
    }
}

/// Which command an SCT 1 (command specific) status answers: needed to name it, because SCT 1 codes mean different
/// things for different commands ([notes::commands §3.1](crate::notes::commands)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CommandContext {
    /// An admin command (not Fabrics).
    Admin(AdminOpcode),
    /// An NVM I/O command (not Fabrics).
    Io(IoOpcode),
    /// A Fabrics command (opcode 0x7F, on either queue kind).
    Fabrics(FabricsType),
}
