//! Errors: what a receiver found wrong (with the FES and FEI a termination request would carry and whether the
//! connection survives), and why an encoder refused to write.
//!
//! Facts: [notes::tcp](crate::notes::tcp) §7 (FES codes, FEI rules), §5.4 (header digest fatal, data digest not), §9.1
//! (check order).

use core::fmt;

use super::header::{PduFlags, PduType};

/// The 16-bit status word a command gets when its data digest failed: SCT 0 (generic), SC 0x22 Transient Transport
/// Error, DNR 0 (word = SC << 1 = 0x0044; [notes::vectors §3.1](crate::notes::vectors)). The host may retry the
/// command.
pub const STATUS_TRANSIENT_TRANSPORT_ERROR: u16 = 0x0044;

/// The FEI we send with FES 0x02, 0x04 and 0x05. Unconfirmed: best guess 0, because the specification's table
/// marks FEI reserved for them (SPDK sends a field offset with FES 0x02). Received TermReqs may carry any FEI.
pub const FEI_RESERVED: u32 = 0;

/// Whether the FEI of a FES 0x03 Header Digest Error carries the received header digest (otherwise
/// [`FEI_RESERVED`]). Unconfirmed: best guess yes, because FreeBSD sends it and Wireshark names the field
/// "PDU header digest".
pub const FEI_HEADER_DIGEST_IS_RECEIVED_DIGEST: bool = true;

/// Fatal Error Status, TermReq bytes 9:8 ([notes::tcp §3.3, §7.1](crate::notes::tcp)). An open enum: unknown values
/// round-trip (a receiver accepts any FES, logs it and closes).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fes(pub u16);

impl Fes {
    /// 0x01 Invalid PDU Header Field; FEI = byte offset of the field.
    pub const INVALID_HEADER_FIELD: Fes = Fes(0x01);
    /// 0x02 PDU Sequence Error; FEI reserved (we send 0).
    pub const PDU_SEQUENCE_ERROR: Fes = Fes(0x02);
    /// 0x03 Header Digest Error; FEI = the received header digest.
    pub const HEADER_DIGEST_ERROR: Fes = Fes(0x03);
    /// 0x04 Data Transfer Out of Range; FEI reserved (we send 0).
    pub const DATA_OUT_OF_RANGE: Fes = Fes(0x04);
    /// 0x05 Data Transfer Limit Exceeded; FEI reserved (we send 0).
    pub const DATA_LIMIT_EXCEEDED: Fes = Fes(0x05);
    /// 0x05 R2T Limit Exceeded: the same value as [`Fes::DATA_LIMIT_EXCEEDED`] under its other name.
    pub const R2T_LIMIT_EXCEEDED: Fes = Fes(0x05);
    /// 0x06 Unsupported Parameter; FEI = byte offset of the field.
    pub const UNSUPPORTED_PARAMETER: Fes = Fes(0x06);

    /// The name of a defined value, `None` otherwise.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x01 => "Invalid PDU Header Field",
            0x02 => "PDU Sequence Error",
            0x03 => "Header Digest Error",
            0x04 => "Data Transfer Out of Range",
            0x05 => "Data Transfer Limit Exceeded",
            0x06 => "Unsupported Parameter",
            _ => return None,
        })
    }
}

impl fmt::Debug for Fes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "Fes(0x{:02x} {name})", self.0),
            None => write!(f, "Fes(0x{:02x})", self.0),
        }
    }
}

/// `FES 0x02 (PDU Sequence Error)`, or `FES 0x7f` for a value without a name.
impl fmt::Display for Fes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "FES {:#04x} ({name})", self.0),
            None => write!(f, "FES {:#04x}", self.0),
        }
    }
}

/// Which header field was invalid (FES 0x01). Each reason names the field whose byte offset is the FEI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvalidField {
    /// Byte 0: a type PDU Format Version 0 does not define (0x08, 0x0A and above).
    UndefinedType(PduType),
    /// Byte 0: a type the receiver never accepts (a controller receiving an odd type, a host an even one).
    WrongDirection(PduType),
    /// Byte 0: ICReq or ICResp after the IC exchange ([notes::tcp §9.1](crate::notes::tcp) step 1a).
    UnexpectedIc(PduType),
    /// Byte 0: a well-formed PDU of another type than the typed parser asked for.
    UnexpectedType {
        /// The type that was asked for.
        expected: PduType,
        /// The type in the buffer.
        found: PduType,
    },
    /// Byte 1: flag bits the type may not carry ([notes::tcp §2](crate::notes::tcp) table).
    Flags(PduFlags),
    /// Byte 1: HDGSTF or DDGSTF disagree with the negotiated digests (DDGSTF is expected only when data is present).
    DigestFlags(PduFlags),
    /// Byte 1: C2HData with SUCCESS but without LAST_PDU.
    SuccessWithoutLast,
    /// Byte 2: HLEN is not the type's fixed value.
    Hlen(u8),
    /// Byte 3: PDO breaks the rule of [notes::tcp §4](crate::notes::tcp).
    Pdo(u8),
    /// Bytes 7:4: PLEN inconsistent with HLEN, PDO and the digests, or with the type.
    Plen(u32),
    /// Bytes 7:4: PLEN above this receiver's ceiling (rejected before any byte of the body is buffered).
    PlenLimit {
        /// The PLEN received.
        plen: u32,
        /// The receiver's ceiling.
        max: u32,
    },
    /// Bytes 9:8 of ICReq/ICResp: PFV other than 0.
    Pfv(u16),
    /// Byte 10 of ICReq (HPDA) or ICResp (CPDA): above 31.
    Pda(u8),
    /// Byte 11 of ICResp: a digest enabled that the ICReq did not request.
    Digests(u8),
    /// Bytes 15:12 of ICResp: MAXH2CDATA below 4096 or not a multiple of 4.
    MaxH2CData(u32),
    /// Bytes 9:8 of a data PDU or R2T: a CCCID the receiver does not know (reported by the driver).
    UnknownCccid(u16),
    /// Bytes 11:10 of an H2CData: a TTAG the controller did not issue (reported by the driver).
    UnknownTtag(u16),
    /// Bytes 19:16 of H2CData/C2HData: DATAL differs from the data length the PDU carries (PLEN − PDO − DDGST).
    DataLength {
        /// DATAL from the header.
        datal: u32,
        /// The data length implied by PLEN, PDO and DDGSTF.
        actual: u32,
    },
    /// Bytes 19:16 of an R2T: R2TL is 0.
    R2tLength,
}

impl InvalidField {
    /// The byte offset of the field from the start of the PDU: the FEI of a FES 0x01 TermReq.
    pub const fn offset(&self) -> u8 {
        match self {
            InvalidField::UndefinedType(_)
            | InvalidField::WrongDirection(_)
            | InvalidField::UnexpectedIc(_)
            | InvalidField::UnexpectedType { .. } => 0,
            InvalidField::Flags(_) | InvalidField::DigestFlags(_) | InvalidField::SuccessWithoutLast => 1,
            InvalidField::Hlen(_) => 2,
            InvalidField::Pdo(_) => 3,
            InvalidField::Plen(_) | InvalidField::PlenLimit { .. } => 4,
            InvalidField::Pfv(_) | InvalidField::UnknownCccid(_) => 8,
            InvalidField::Pda(_) | InvalidField::UnknownTtag(_) => 10,
            InvalidField::Digests(_) => 11,
            InvalidField::MaxH2CData(_) => 12,
            InvalidField::DataLength { .. } | InvalidField::R2tLength => 16,
        }
    }
}

/// Flag bits by name: `0x0a (DDGSTF SUCCESS)`.
struct FlagWords(PduFlags);

impl fmt::Display for FlagWords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#04x} (", self.0.0)?;
        let mut sep = "";
        for (bit, name) in PduFlags::NAMES {
            if self.0.contains(bit) {
                write!(f, "{sep}{name}")?;
                sep = " ";
            }
        }
        if self.0.0 & 0xf0 != 0 {
            write!(f, "{sep}reserved")?;
            sep = " ";
        }
        f.write_str(if sep.is_empty() { "none)" } else { ")" })
    }
}

/// The field and what was wrong with it, in words: `PDU type 0xff is not defined`.
impl fmt::Display for InvalidField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            InvalidField::UndefinedType(t) => write!(f, "PDU type {:#04x} is not defined", t.0),
            InvalidField::WrongDirection(t) => write!(f, "{t} ({:#04x}) travels the other way", t.0),
            InvalidField::UnexpectedIc(t) => write!(f, "{t} after the IC exchange"),
            InvalidField::UnexpectedType { expected, found } => write!(f, "{found} where {expected} was expected"),
            InvalidField::Flags(fl) => write!(f, "flags {} not allowed for this type", FlagWords(fl)),
            InvalidField::DigestFlags(fl) => {
                write!(f, "digest flags {} disagree with the negotiated digests", FlagWords(fl))
            }
            InvalidField::SuccessWithoutLast => f.write_str("C2HData with SUCCESS but not LAST_PDU"),
            InvalidField::Hlen(h) => write!(f, "HLEN {h} is not this type's"),
            InvalidField::Pdo(p) => write!(f, "PDO {p} breaks the data offset rules"),
            InvalidField::Plen(p) => write!(f, "PLEN {p} is inconsistent with HLEN, PDO and the digests"),
            InvalidField::PlenLimit { plen, max } => write!(f, "PLEN {plen} is above this receiver's limit {max}"),
            InvalidField::Pfv(v) => write!(f, "PDU format version {v} (only 0 is defined)"),
            InvalidField::Pda(p) => write!(f, "PDA {p} is above 31"),
            InvalidField::Digests(d) => write!(f, "digests {d:#04x} enable one the ICReq did not request"),
            InvalidField::MaxH2CData(m) => write!(f, "MAXH2CDATA {m} is below 4096 or not a multiple of 4"),
            InvalidField::UnknownCccid(c) => write!(f, "CCCID {c:#06x} names no outstanding command"),
            InvalidField::UnknownTtag(t) => write!(f, "TTAG {t:#06x} was not issued"),
            InvalidField::DataLength { datal, actual } => {
                write!(f, "DATAL {datal} but the PDU carries {actual} data bytes")
            }
            InvalidField::R2tLength => f.write_str("R2TL is 0"),
        }
    }
}

/// Why a PDU arrived out of sequence (FES 0x02, FEI 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SequenceError {
    /// A PDU other than ICReq/ICResp (or a TermReq) before the IC exchange completed.
    BeforeIcExchange(PduType),
    /// A data PDU whose DATAO is not the next expected offset (reported by the driver).
    DataOffset {
        /// The offset the receiver expected.
        expected: u32,
        /// DATAO received.
        received: u32,
    },
    /// LAST_PDU set before the transfer was complete, or missing on the PDU that completed it (driver).
    LastPdu,
}

impl fmt::Display for SequenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            SequenceError::BeforeIcExchange(t) => write!(f, "{t} before the IC exchange completed"),
            SequenceError::DataOffset { expected, received } => {
                write!(f, "DATAO {received} where {expected} was expected")
            }
            SequenceError::LastPdu => f.write_str("LAST_PDU on the wrong data PDU"),
        }
    }
}

/// A data digest mismatch: only the owning command fails; the stream is still in sync.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataDigestError {
    /// The type of the PDU (CapsuleCmd, H2CData or C2HData).
    pub pdu_type: PduType,
    /// The command the data belongs to: the CCCID of a data PDU, the SQE's CID of a CapsuleCmd.
    pub cccid: u16,
    /// The DDGST received.
    pub received: u32,
    /// The CRC-32C of the data received.
    pub computed: u32,
    /// The PDU's length (PLEN): drop this many bytes and continue with the next PDU.
    pub consumed: usize,
}

/// What a receiver found wrong with a PDU. [`fes`](PduError::fes) and [`fei`](PduError::fei) give what a
/// termination request carries, [`is_fatal`](PduError::is_fatal) whether the connection must close.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PduError {
    /// FES 0x01 Invalid PDU Header Field; FEI = [`InvalidField::offset`].
    InvalidField(InvalidField),
    /// FES 0x02 PDU Sequence Error; FEI 0.
    Sequence(SequenceError),
    /// FES 0x03 Header Digest Error; FEI = the received digest. Fatal: the framing cannot be trusted.
    HeaderDigest {
        /// HDGST received.
        received: u32,
        /// CRC-32C of the HLEN header bytes received.
        computed: u32,
    },
    /// Data digest mismatch: not fatal, no TermReq; fail the command with
    /// [`STATUS_TRANSIENT_TRANSPORT_ERROR`] and continue after `consumed` bytes.
    DataDigest(DataDigestError),
    /// FES 0x04 Data Transfer Out of Range; FEI 0. DATAO + DATAL (or R2TO + R2TL) beyond 32 bits or beyond the
    /// command's buffer or R2T window.
    DataOutOfRange {
        /// DATAO (or R2TO).
        offset: u32,
        /// DATAL (or R2TL).
        len: u32,
    },
    /// FES 0x05 Data Transfer Limit Exceeded; FEI 0: an H2CData with DATAL above MAXH2CDATA.
    DataLimitExceeded {
        /// DATAL received.
        len: u32,
        /// The negotiated MAXH2CDATA.
        max: u32,
    },
    /// FES 0x05 R2T Limit Exceeded; FEI 0: more outstanding R2Ts for a command than MAXR2T + 1 (driver).
    R2tLimitExceeded {
        /// The number of R2Ts the host accepts per command (MAXR2T + 1).
        max: u32,
    },
    /// FES 0x06 Unsupported Parameter; FEI = byte offset of the field (driver policy, e.g. a peer parameter this
    /// implementation chooses not to support).
    UnsupportedParameter {
        /// Byte offset of the field.
        offset: u8,
    },
    /// A received TermReq with PLEN below 24 or above 152: close immediately and report nothing
    /// ([notes::tcp §7.2](crate::notes::tcp)).
    TermReqLength {
        /// PLEN received.
        plen: u32,
    },
    /// The deframer already closed (after a fatal error or a received TermReq): nothing more is decoded.
    Closed,
    /// Only from a `parse` function given a buffer shorter than the PDU (the deframer answers
    /// [`Need`](super::Decoded::Need) instead): `needed` more bytes are missing.
    Truncated {
        /// How many more bytes the PDU needs.
        needed: usize,
    },
}

impl From<InvalidField> for PduError {
    fn from(f: InvalidField) -> Self {
        PduError::InvalidField(f)
    }
}

impl PduError {
    /// The FES a termination request for this error carries, or `None` when no TermReq is sent (data digest
    /// error, bad TermReq PLEN, closed, truncated).
    pub const fn fes(&self) -> Option<Fes> {
        match self {
            PduError::InvalidField(_) => Some(Fes::INVALID_HEADER_FIELD),
            PduError::Sequence(_) => Some(Fes::PDU_SEQUENCE_ERROR),
            PduError::HeaderDigest { .. } => Some(Fes::HEADER_DIGEST_ERROR),
            PduError::DataOutOfRange { .. } => Some(Fes::DATA_OUT_OF_RANGE),
            PduError::DataLimitExceeded { .. } => Some(Fes::DATA_LIMIT_EXCEEDED),
            PduError::R2tLimitExceeded { .. } => Some(Fes::R2T_LIMIT_EXCEEDED),
            PduError::UnsupportedParameter { .. } => Some(Fes::UNSUPPORTED_PARAMETER),
            PduError::DataDigest(_)
            | PduError::TermReqLength { .. }
            | PduError::Closed
            | PduError::Truncated { .. } => None,
        }
    }

    /// The FEI a termination request carries: the field offset for FES 0x01 and 0x06, the received header digest
    /// for FES 0x03 ([`FEI_HEADER_DIGEST_IS_RECEIVED_DIGEST`]), and [`FEI_RESERVED`] otherwise
    /// ([notes::tcp §7.2](crate::notes::tcp)).
    pub const fn fei(&self) -> u32 {
        match self {
            PduError::InvalidField(f) => f.offset() as u32,
            PduError::HeaderDigest { received, .. } if FEI_HEADER_DIGEST_IS_RECEIVED_DIGEST => *received,
            PduError::UnsupportedParameter { offset } => *offset as u32,
            _ => FEI_RESERVED,
        }
    }

    /// Whether the connection must close. Everything is fatal except a data digest error, which fails only the
    /// owning command ([notes::tcp §5.4](crate::notes::tcp)).
    pub const fn is_fatal(&self) -> bool {
        !matches!(self, PduError::DataDigest(_))
    }

    /// For a data digest error, the CCCID of the command to fail.
    pub const fn cccid(&self) -> Option<u16> {
        match self {
            PduError::DataDigest(d) => Some(d.cccid),
            _ => None,
        }
    }

    /// For a data digest error, how many bytes to drop to continue with the next PDU.
    pub const fn consumed(&self) -> Option<usize> {
        match self {
            PduError::DataDigest(d) => Some(d.consumed),
            _ => None,
        }
    }

    /// For a data digest error, the status word to complete the command with ([`STATUS_TRANSIENT_TRANSPORT_ERROR`]).
    pub const fn command_status(&self) -> Option<u16> {
        match self {
            PduError::DataDigest(_) => Some(STATUS_TRANSIENT_TRANSPORT_ERROR),
            _ => None,
        }
    }
}

impl fmt::Display for PduError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PduError::InvalidField(field) => {
                write!(f, "invalid PDU header field at byte {}: {field}", field.offset())
            }
            PduError::Sequence(s) => write!(f, "PDU sequence error: {s}"),
            PduError::HeaderDigest { received, computed } => {
                write!(f, "header digest error: received {received:#010x}, computed {computed:#010x}")
            }
            PduError::DataDigest(d) => write!(
                f,
                "data digest error in {} for CCCID {:#06x}: received {:#010x}, computed {:#010x}",
                d.pdu_type, d.cccid, d.received, d.computed
            ),
            PduError::DataOutOfRange { offset, len } => {
                write!(f, "data transfer out of range: offset {offset}, length {len}")
            }
            PduError::DataLimitExceeded { len, max } => write!(f, "data transfer limit exceeded: {len} > {max}"),
            PduError::R2tLimitExceeded { max } => write!(f, "R2T limit exceeded: more than {max} outstanding"),
            PduError::UnsupportedParameter { offset } => write!(f, "unsupported parameter at byte {offset}"),
            PduError::TermReqLength { plen } => write!(f, "termination request with PLEN {plen} outside 24..=152"),
            PduError::Closed => f.write_str("connection closed"),
            PduError::Truncated { needed } => write!(f, "PDU truncated: {needed} more bytes needed"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for PduError {}

/// Why an encoder refused to write a PDU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmitError {
    /// The output buffer is too short: the PDU needs `needed` bytes in all.
    BufferTooShort {
        /// The full length of the PDU (its PLEN).
        needed: usize,
    },
    /// The representation holds a value its receiver would reject as an invalid header field; `offset` is the byte
    /// offset (the FEI the receiver would report). Examples: an ICReq HPDA above 31, an H2CData without data, a
    /// C2HData with SUCCESS but not LAST_PDU, an R2T with R2TL 0.
    InvalidField {
        /// Byte offset of the field.
        offset: u8,
    },
    /// Too much data: a TermReq with more than 128 bytes of data, an H2CData with more than MAXH2CDATA, or a PDU
    /// whose PLEN would not fit in 32 bits.
    DataTooLong {
        /// The data length given.
        len: usize,
        /// The largest allowed.
        max: usize,
    },
    /// The [`Params`](super::Params) are out of range (HPDA or CPDA above 31).
    InvalidParams,
}

impl fmt::Display for EmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EmitError::BufferTooShort { needed } => write!(f, "buffer too short: {needed} bytes needed"),
            EmitError::InvalidField { offset } => write!(f, "invalid value for the field at byte {offset}"),
            EmitError::DataTooLong { len, max } => write!(f, "data too long: {len} bytes, at most {max}"),
            EmitError::InvalidParams => f.write_str("connection parameters out of range (PDA above 31)"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for EmitError {}
