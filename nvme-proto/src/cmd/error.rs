//! The one error type of the command layer.

use core::fmt;

/// Why a command-layer structure could not be parsed or emitted.
///
/// Small and `Copy`: every variant says what the caller can do about it (grow the buffer, answer Invalid Field in
/// Command, ...). Offsets are byte offsets from the start of the structure being parsed (SQE, Connect data, Identify
/// data, log page).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CmdError {
    /// The buffer is shorter than the structure: `needed` bytes are required in total (for a log page whose
    /// header announces more entries than the buffer holds, the size the whole page needs).
    BufferTooShort {
        /// Total number of bytes the structure needs.
        needed: usize,
    },
    /// The SQE carries another opcode (or Fabrics command type) than the command being parsed.
    WrongOpcode {
        /// The opcode (or FCTYPE for Fabrics commands) the parser expected.
        expected: u8,
        /// The opcode (or FCTYPE) found in the SQE.
        found: u8,
    },
    /// A field holds a value the structure does not allow (reserved encoding, count above its limit).
    InvalidField {
        /// Byte offset of the field in the structure.
        offset: usize,
    },
    /// A string field (SN, MN, FR, NQN) is not valid: bad UTF-8, a byte not allowed in the field, or no NUL
    /// terminator inside a NUL-terminated field.
    InvalidString {
        /// Byte offset of the field in the structure.
        offset: usize,
    },
    /// More entries than the structure can carry (log page, namespace list, descriptor list).
    TooManyEntries {
        /// Number of entries given.
        count: usize,
        /// Largest number the structure holds.
        max: usize,
    },
}

impl fmt::Display for CmdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            CmdError::BufferTooShort { needed } => write!(f, "buffer too short: {needed} bytes needed"),
            CmdError::WrongOpcode { expected, found } => {
                write!(f, "wrong opcode: expected {expected:#04x}, found {found:#04x}")
            }
            CmdError::InvalidField { offset } => write!(f, "invalid field at byte {offset}"),
            CmdError::InvalidString { offset } => write!(f, "invalid string field at byte {offset}"),
            CmdError::TooManyEntries { count, max } => write!(f, "{count} entries given, at most {max} fit"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for CmdError {}
