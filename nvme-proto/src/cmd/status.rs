//! The status field of a completion (CQE bytes 15:14): status code type, status code, CRD, MORE, DNR
//! ([notes::commands §3](crate::notes::commands)).

use super::opcode::{AdminOpcode, CommandContext, FabricsType};

/// Status Code Type (status word bits 11:9). Open: every 3-bit value round-trips.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sct(pub u8);

impl Sct {
    /// 0: generic command status.
    pub const GENERIC: Self = Self(0);
    /// 1: command specific status (decode together with the opcode, see [`StatusCode::name`]).
    pub const COMMAND_SPECIFIC: Self = Self(1);
    /// 2: media and data integrity errors.
    pub const MEDIA: Self = Self(2);
    /// 3: path related status.
    pub const PATH: Self = Self(3);
    /// 7: vendor specific.
    pub const VENDOR: Self = Self(7);
}

/// A status code: the pair (SCT, SC). Open: unknown pairs round-trip.
///
/// The associated constants name the codes this project meets ([notes::commands §3.1](crate::notes::commands),
/// [notes::ccr_cqt §3](crate::notes::ccr_cqt)). SCT 1 codes are command specific: the constants are named after the
/// command they belong to, and the same pair can mean something else for another command (SCT 1 / SC 0x84 is Connect
/// Invalid Host for Connect).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StatusCode {
    /// Status Code Type (status word bits 11:9; only bits 2:0 are encoded).
    pub sct: Sct,
    /// Status Code (status word bits 8:1).
    pub sc: u8,
}

macro_rules! codes {
    ($( $(#[$doc:meta])* $name:ident = ($sct:ident, $sc:expr), $text:expr; )*) => {
        impl StatusCode {
            $( $(#[$doc])* pub const $name: Self = Self::new(Sct::$sct, $sc); )*
        }
        /// Names of the codes that do not depend on the command (every SCT but 1).
        fn fixed_name(code: StatusCode) -> Option<&'static str> {
            $( if code.sct.0 != 1 && code == StatusCode::$name { return Some($text); } )*
            None
        }
    };
}

codes! {
    /// SCT 0 / SC 0x00 Successful Completion.
    SUCCESS = (GENERIC, 0x00), "Successful Completion";
    /// SCT 0 / SC 0x01 Invalid Command Opcode (what a target without CCR answers to opcode 0x38).
    INVALID_OPCODE = (GENERIC, 0x01), "Invalid Command Opcode";
    /// SCT 0 / SC 0x02 Invalid Field in Command (also our choice for "impacted controller not found" in CCR).
    INVALID_FIELD = (GENERIC, 0x02), "Invalid Field in Command";
    /// SCT 0 / SC 0x03 Command ID Conflict.
    COMMAND_ID_CONFLICT = (GENERIC, 0x03), "Command ID Conflict";
    /// SCT 0 / SC 0x04 Data Transfer Error (the Linux host uses it for a data digest error).
    DATA_TRANSFER_ERROR = (GENERIC, 0x04), "Data Transfer Error";
    /// SCT 0 / SC 0x06 Internal Error.
    INTERNAL_ERROR = (GENERIC, 0x06), "Internal Error";
    /// SCT 0 / SC 0x07 Command Abort Requested.
    ABORT_REQUESTED = (GENERIC, 0x07), "Command Abort Requested";
    /// SCT 0 / SC 0x08 Command Aborted due to SQ Deletion.
    ABORTED_SQ_DELETION = (GENERIC, 0x08), "Command Aborted due to SQ Deletion";
    /// SCT 0 / SC 0x0B Invalid Namespace or Format.
    INVALID_NAMESPACE_OR_FORMAT = (GENERIC, 0x0B), "Invalid Namespace or Format";
    /// SCT 0 / SC 0x0C Command Sequence Error.
    COMMAND_SEQUENCE_ERROR = (GENERIC, 0x0C), "Command Sequence Error";
    /// SCT 0 / SC 0x0D Invalid SGL Segment Descriptor.
    INVALID_SGL_SEGMENT_DESCRIPTOR = (GENERIC, 0x0D), "Invalid SGL Segment Descriptor";
    /// SCT 0 / SC 0x0E Invalid Number of SGL Descriptors.
    INVALID_NUMBER_OF_SGL_DESCRIPTORS = (GENERIC, 0x0E), "Invalid Number of SGL Descriptors";
    /// SCT 0 / SC 0x0F Data SGL Length Invalid.
    DATA_SGL_LENGTH_INVALID = (GENERIC, 0x0F), "Data SGL Length Invalid";
    /// SCT 0 / SC 0x11 SGL Descriptor Type Invalid.
    SGL_DESCRIPTOR_TYPE_INVALID = (GENERIC, 0x11), "SGL Descriptor Type Invalid";
    /// SCT 0 / SC 0x16 SGL Offset Invalid.
    SGL_OFFSET_INVALID = (GENERIC, 0x16), "SGL Offset Invalid";
    /// SCT 0 / SC 0x18 Host Identifier Inconsistent Format.
    HOST_IDENTIFIER_INCONSISTENT_FORMAT = (GENERIC, 0x18), "Host Identifier Inconsistent Format";
    /// SCT 0 / SC 0x19 Keep Alive Timer Expired.
    KEEP_ALIVE_EXPIRED = (GENERIC, 0x19), "Keep Alive Timer Expired";
    /// SCT 0 / SC 0x1A Keep Alive Timeout Invalid.
    KEEP_ALIVE_TIMEOUT_INVALID = (GENERIC, 0x1A), "Keep Alive Timeout Invalid";
    /// SCT 0 / SC 0x1B Command Aborted due to Preempt and Abort.
    ABORTED_PREEMPT_AND_ABORT = (GENERIC, 0x1B), "Command Aborted due to Preempt and Abort";
    /// SCT 0 / SC 0x20 Namespace is Write Protected.
    NAMESPACE_WRITE_PROTECTED = (GENERIC, 0x20), "Namespace is Write Protected";
    /// SCT 0 / SC 0x21 Command Interrupted.
    COMMAND_INTERRUPTED = (GENERIC, 0x21), "Command Interrupted";
    /// SCT 0 / SC 0x22 Transient Transport Error: a **generic** status (SCT 0), not a path-related one; retryable.
    /// Status word 0x0044.
    TRANSIENT_TRANSPORT_ERROR = (GENERIC, 0x22), "Transient Transport Error";
    /// SCT 0 / SC 0x23 Command Prohibited by Command and Feature Lockdown.
    PROHIBITED_BY_LOCKDOWN = (GENERIC, 0x23), "Command Prohibited by Command and Feature Lockdown";
    /// SCT 0 / SC 0x24 Admin Command Media Not Ready.
    ADMIN_MEDIA_NOT_READY = (GENERIC, 0x24), "Admin Command Media Not Ready";
    /// SCT 0 / SC 0x80 LBA Out of Range.
    LBA_OUT_OF_RANGE = (GENERIC, 0x80), "LBA Out of Range";
    /// SCT 0 / SC 0x81 Capacity Exceeded.
    CAPACITY_EXCEEDED = (GENERIC, 0x81), "Capacity Exceeded";
    /// SCT 0 / SC 0x82 Namespace Not Ready.
    NAMESPACE_NOT_READY = (GENERIC, 0x82), "Namespace Not Ready";
    /// SCT 0 / SC 0x83 Reservation Conflict.
    RESERVATION_CONFLICT = (GENERIC, 0x83), "Reservation Conflict";

    /// SCT 1 / SC 0x00 Completion Queue Invalid (Create I/O SQ).
    COMPLETION_QUEUE_INVALID = (COMMAND_SPECIFIC, 0x00), "";
    /// SCT 1 / SC 0x01 Invalid Queue Identifier (queue commands).
    INVALID_QUEUE_IDENTIFIER = (COMMAND_SPECIFIC, 0x01), "";
    /// SCT 1 / SC 0x02 Invalid Queue Size (queue commands).
    INVALID_QUEUE_SIZE = (COMMAND_SPECIFIC, 0x02), "";
    /// SCT 1 / SC 0x03 Abort Command Limit Exceeded (Abort).
    ABORT_COMMAND_LIMIT_EXCEEDED = (COMMAND_SPECIFIC, 0x03), "";
    /// SCT 1 / SC 0x05 Asynchronous Event Request Limit Exceeded (AER).
    AER_LIMIT_EXCEEDED = (COMMAND_SPECIFIC, 0x05), "";
    /// SCT 1 / SC 0x09 Invalid Log Page (Get Log Page).
    INVALID_LOG_PAGE = (COMMAND_SPECIFIC, 0x09), "";
    /// SCT 1 / SC 0x0D Feature Identifier Not Saveable (Set Features).
    FEATURE_NOT_SAVEABLE = (COMMAND_SPECIFIC, 0x0D), "";
    /// SCT 1 / SC 0x0E Feature Not Changeable (Set Features).
    FEATURE_NOT_CHANGEABLE = (COMMAND_SPECIFIC, 0x0E), "";
    /// SCT 1 / SC 0x0F Feature Not Namespace Specific (Set Features).
    FEATURE_NOT_NAMESPACE_SPECIFIC = (COMMAND_SPECIFIC, 0x0F), "";
    /// SCT 1 / SC 0x3F Cross-Controller Reset In Progress: this source already has a CCR in progress for the
    /// same impacted controller (Cross-Controller Reset).
    CCR_IN_PROGRESS = (COMMAND_SPECIFIC, 0x3F), "";
    /// SCT 1 / SC 0x40 Cross-Controller Reset Log Page Full (Cross-Controller Reset).
    CCR_LOG_PAGE_FULL = (COMMAND_SPECIFIC, 0x40), "";
    /// SCT 1 / SC 0x41 Cross-Controller Reset Limit Exceeded: in-progress CCRs from this source reached CCRL
    /// (Cross-Controller Reset). Status word 0x0282.
    CCR_LIMIT_EXCEEDED = (COMMAND_SPECIFIC, 0x41), "";
    /// SCT 1 / SC 0x80 Connect Incompatible Format (Connect).
    CONNECT_INCOMPATIBLE_FORMAT = (COMMAND_SPECIFIC, 0x80), "";
    /// SCT 1 / SC 0x81 Connect Controller Busy (Connect).
    CONNECT_CONTROLLER_BUSY = (COMMAND_SPECIFIC, 0x81), "";
    /// SCT 1 / SC 0x82 Connect Invalid Parameters (Connect; DW0 carries IPO and IATTR).
    CONNECT_INVALID_PARAMETERS = (COMMAND_SPECIFIC, 0x82), "";
    /// SCT 1 / SC 0x83 Connect Restart Discovery (Connect).
    CONNECT_RESTART_DISCOVERY = (COMMAND_SPECIFIC, 0x83), "";
    /// SCT 1 / SC 0x84 Connect Invalid Host (Connect; other commands use 0x84 for other things).
    CONNECT_INVALID_HOST = (COMMAND_SPECIFIC, 0x84), "";
    /// SCT 1 / SC 0x85 Invalid Queue Type (Disconnect).
    INVALID_QUEUE_TYPE = (COMMAND_SPECIFIC, 0x85), "";
    /// SCT 1 / SC 0x90 Discovery Restart (Fabrics).
    DISCOVERY_RESTART = (COMMAND_SPECIFIC, 0x90), "";
    /// SCT 1 / SC 0x91 Authentication Required (Fabrics).
    AUTHENTICATION_REQUIRED = (COMMAND_SPECIFIC, 0x91), "";

    /// SCT 2 / SC 0x80 Write Fault.
    WRITE_FAULT = (MEDIA, 0x80), "Write Fault";
    /// SCT 2 / SC 0x81 Unrecovered Read Error.
    UNRECOVERED_READ_ERROR = (MEDIA, 0x81), "Unrecovered Read Error";
    /// SCT 2 / SC 0x82 End-to-end Guard Check Error.
    GUARD_CHECK_ERROR = (MEDIA, 0x82), "End-to-end Guard Check Error";
    /// SCT 2 / SC 0x83 End-to-end Application Tag Check Error.
    APPLICATION_TAG_CHECK_ERROR = (MEDIA, 0x83), "End-to-end Application Tag Check Error";
    /// SCT 2 / SC 0x84 End-to-end Reference Tag Check Error.
    REFERENCE_TAG_CHECK_ERROR = (MEDIA, 0x84), "End-to-end Reference Tag Check Error";
    /// SCT 2 / SC 0x85 Compare Failure.
    COMPARE_FAILURE = (MEDIA, 0x85), "Compare Failure";
    /// SCT 2 / SC 0x86 Access Denied.
    ACCESS_DENIED = (MEDIA, 0x86), "Access Denied";
    /// SCT 2 / SC 0x87 Deallocated or Unwritten Logical Block.
    DEALLOCATED_OR_UNWRITTEN = (MEDIA, 0x87), "Deallocated or Unwritten Logical Block";

    /// SCT 3 / SC 0x00 Internal Path Error: retry on another path.
    INTERNAL_PATH_ERROR = (PATH, 0x00), "Internal Path Error";
    /// SCT 3 / SC 0x01 Asymmetric Access Persistent Loss: do not use this path.
    ANA_PERSISTENT_LOSS = (PATH, 0x01), "Asymmetric Access Persistent Loss";
    /// SCT 3 / SC 0x02 Asymmetric Access Inaccessible: use another path.
    ANA_INACCESSIBLE = (PATH, 0x02), "Asymmetric Access Inaccessible";
    /// SCT 3 / SC 0x03 Asymmetric Access Transition: retry later or elsewhere.
    ANA_TRANSITION = (PATH, 0x03), "Asymmetric Access Transition";
    /// SCT 3 / SC 0x60 Controller Pathing Error.
    CONTROLLER_PATHING_ERROR = (PATH, 0x60), "Controller Pathing Error";
    /// SCT 3 / SC 0x70 Host Pathing Error (host generated; status word 0x06E0).
    HOST_PATHING_ERROR = (PATH, 0x70), "Host Pathing Error";
    /// SCT 3 / SC 0x71 Command Aborted By Host (host generated).
    ABORTED_BY_HOST = (PATH, 0x71), "Command Aborted By Host";
}

impl StatusCode {
    /// The code (SCT, SC).
    pub const fn new(sct: Sct, sc: u8) -> Self {
        Self { sct, sc }
    }

    /// `true` for Successful Completion (SCT 0, SC 0).
    pub const fn is_success(&self) -> bool {
        self.sct.0 == 0 && self.sc == 0
    }

    /// `true` for the path-related codes (SCT 3). Transient Transport Error (SCT 0 / SC 0x22) is not one of them.
    pub const fn is_path_related(&self) -> bool {
        self.sct.0 == Sct::PATH.0
    }

    /// The code's name, or `None` when this crate does not know it.
    ///
    /// SCT 1 (command specific) codes mean different things for different commands, so they are named only when
    /// `context` says which command the status answers; `None` as the context gives `None` for every SCT 1 code.
    /// Codes of the other types do not depend on the command and `context` is ignored for them.
    pub fn name(&self, context: Option<CommandContext>) -> Option<&'static str> {
        if self.sct != Sct::COMMAND_SPECIFIC {
            return fixed_name(*self);
        }
        let sc = self.sc;
        match context? {
            CommandContext::Admin(op) => match (op, sc) {
                (AdminOpcode::CREATE_IO_SQ, 0x00) => Some("Completion Queue Invalid"),
                (
                    AdminOpcode::CREATE_IO_SQ
                    | AdminOpcode::CREATE_IO_CQ
                    | AdminOpcode::DELETE_IO_SQ
                    | AdminOpcode::DELETE_IO_CQ,
                    0x01,
                ) => Some("Invalid Queue Identifier"),
                (AdminOpcode::CREATE_IO_SQ | AdminOpcode::CREATE_IO_CQ, 0x02) => Some("Invalid Queue Size"),
                (AdminOpcode::ABORT, 0x03) => Some("Abort Command Limit Exceeded"),
                (AdminOpcode::ASYNC_EVENT_REQUEST, 0x05) => Some("Asynchronous Event Request Limit Exceeded"),
                (AdminOpcode::GET_LOG_PAGE, 0x09) => Some("Invalid Log Page"),
                (AdminOpcode::SET_FEATURES, 0x0D) => Some("Feature Identifier Not Saveable"),
                (AdminOpcode::SET_FEATURES, 0x0E) => Some("Feature Not Changeable"),
                (AdminOpcode::SET_FEATURES, 0x0F) => Some("Feature Not Namespace Specific"),
                (AdminOpcode::CROSS_CONTROLLER_RESET, 0x3F) => Some("Cross-Controller Reset In Progress"),
                (AdminOpcode::CROSS_CONTROLLER_RESET, 0x40) => Some("Cross-Controller Reset Log Page Full"),
                (AdminOpcode::CROSS_CONTROLLER_RESET, 0x41) => Some("Cross-Controller Reset Limit Exceeded"),
                _ => None,
            },
            // No SCT 1 code of the NVM I/O commands is named here (Read, Write and Flush define none we use).
            CommandContext::Io(_) => None,
            CommandContext::Fabrics(fctype) => match (fctype, sc) {
                (FabricsType::CONNECT, 0x80) => Some("Connect Incompatible Format"),
                (FabricsType::CONNECT, 0x81) => Some("Connect Controller Busy"),
                (FabricsType::CONNECT, 0x82) => Some("Connect Invalid Parameters"),
                (FabricsType::CONNECT, 0x83) => Some("Connect Restart Discovery"),
                (FabricsType::CONNECT, 0x84) => Some("Connect Invalid Host"),
                (FabricsType::DISCONNECT, 0x85) => Some("Invalid Queue Type"),
                (_, 0x90) => Some("Discovery Restart"),
                (_, 0x91) => Some("Authentication Required"),
                _ => None,
            },
        }
    }
}

/// The status field: the 16-bit word at CQE bytes 15:14 (CQE DW3 bits 31:16), phase tag excluded.
///
/// Layout of the word: bit 0 P (phase tag), bits 8:1 SC, bits 11:9 SCT, bits 13:12 CRD, bit 14 MORE, bit 15 DNR.
/// Fabrics completions do not use the phase tag: [`Status::from_word`] ignores it and [`Status::to_word`] sends 0
/// ([notes::commands §3](crate::notes::commands), unconfirmed but what Linux nvmet does).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Status {
    /// Status code type and status code (bits 11:9 and 8:1).
    pub code: StatusCode,
    /// Command Retry Delay (bits 13:12): 0 none, 1..=3 select Identify Controller CRDT1..CRDT3 (×100 ms).
    /// Only bits 1:0 are encoded.
    pub crd: u8,
    /// More (bit 14): details in the Error Information log page (LID 0x01).
    pub more: bool,
    /// Do Not Retry (bit 15).
    pub dnr: bool,
}

impl Status {
    /// Successful completion: SCT 0, SC 0, no flags.
    pub const SUCCESS: Self = Self::new(StatusCode::SUCCESS);

    /// A status with `code`, CRD 0, MORE and DNR clear.
    pub const fn new(code: StatusCode) -> Self {
        Self { code, crd: 0, more: false, dnr: false }
    }

    /// Decodes the 16-bit status word (CQE bytes 15:14 read as le16). The phase tag (bit 0) is ignored.
    pub const fn from_word(word: u16) -> Self {
        Self {
            code: StatusCode { sct: Sct(((word >> 9) & 0x7) as u8), sc: ((word >> 1) & 0xFF) as u8 },
            crd: ((word >> 12) & 0x3) as u8,
            more: (word >> 14) & 1 == 1,
            dnr: word >> 15 == 1,
        }
    }

    /// Encodes the status word with phase tag 0: `DNR<<15 | MORE<<14 | CRD<<12 | SCT<<9 | SC<<1`. SCT and CRD
    /// are masked to their 3 and 2 bits.
    pub const fn to_word(&self) -> u16 {
        ((self.dnr as u16) << 15)
            | ((self.more as u16) << 14)
            | (((self.crd & 0x3) as u16) << 12)
            | (((self.code.sct.0 & 0x7) as u16) << 9)
            | ((self.code.sc as u16) << 1)
    }

    /// The same status with DNR set to `dnr`.
    pub const fn with_dnr(self, dnr: bool) -> Self {
        Self { dnr, ..self }
    }

    /// The same status with MORE set to `more`.
    pub const fn with_more(self, more: bool) -> Self {
        Self { more, ..self }
    }

    /// The same status with CRD set to `crd` (0..=3).
    pub const fn with_crd(self, crd: u8) -> Self {
        Self { crd, ..self }
    }

    /// `true` when the code is Successful Completion (flags are not looked at).
    pub const fn is_success(&self) -> bool {
        self.code.is_success()
    }
}

impl From<StatusCode> for Status {
    fn from(code: StatusCode) -> Self {
        Self::new(code)
    }
}
