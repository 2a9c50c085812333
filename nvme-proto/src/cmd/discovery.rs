//! The Discovery log page (LID 0x70, read from a discovery controller; [notes::commands §9](crate::notes::commands)):
//! a 1024-byte header (GENCTR, NUMREC, RECFMT) and NUMREC entries of 1024 bytes, each naming one way to reach a
//! subsystem (transport, address, port, NQN, security).
//!
//! Every entry has the same size and sits at 1024 × (i + 1), so the page is fixed-size records: zerocopy views,
//! random access by index, no framing parser needed (nom or zerocopy: [notes::commands](crate::notes::commands),
//! "What this crate does").

use zerocopy::little_endian::{U16, U64};
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::CmdError;
use super::strings::{parse_ascii_field, parse_nqn_field, write_ascii_field, write_nqn_field};

/// Size of the header and of each entry.
pub const DISCOVERY_RECORD_LEN: usize = 1024;

/// Most entries this crate accepts in one page: what one Get Log Page can return (NUMD is 32 bits of 0's based
/// dwords, so at most 2^34 bytes: the header and 2^24 − 1 entries). It bounds the size arithmetic only; nothing is
/// allocated per entry.
pub const DISCOVERY_LOG_MAX_RECORDS: u64 = (1 << 24) - 1;

/// Transport type (TRTYPE, entry byte 0). Open: unknown values round-trip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransportType(pub u8);

impl TransportType {
    /// 0: not specified.
    pub const UNSPECIFIED: Self = Self(0);
    /// 1: RDMA.
    pub const RDMA: Self = Self(1);
    /// 2: Fibre Channel.
    pub const FC: Self = Self(2);
    /// 3: TCP.
    pub const TCP: Self = Self(3);
    /// 254: intra-host transport (loopback; reserved for host use).
    pub const LOOP: Self = Self(254);

    /// The transport's name, `None` for a value this crate does not name.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::UNSPECIFIED => "unspecified",
            Self::RDMA => "rdma",
            Self::FC => "fc",
            Self::TCP => "tcp",
            Self::LOOP => "loop",
            _ => return None,
        })
    }
}

/// Address family (ADRFAM, entry byte 1): how to read TRADDR. Open: unknown values round-trip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AddressFamily(pub u8);

impl AddressFamily {
    /// 0: PCI Express.
    pub const PCI: Self = Self(0);
    /// 1: IPv4 (TRADDR in dotted decimal).
    pub const IPV4: Self = Self(1);
    /// 2: IPv6.
    pub const IPV6: Self = Self(2);
    /// 3: InfiniBand.
    pub const IB: Self = Self(3);
    /// 4: Fibre Channel.
    pub const FC: Self = Self(4);
    /// 254: intra-host transport.
    pub const LOOP: Self = Self(254);

    /// The family's name, `None` for a value this crate does not name.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::PCI => "pci",
            Self::IPV4 => "ipv4",
            Self::IPV6 => "ipv6",
            Self::IB => "ib",
            Self::FC => "fc",
            Self::LOOP => "loop",
            _ => return None,
        })
    }
}

/// Subsystem type (SUBTYPE, entry byte 2). Open: unknown values round-trip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubsystemType(pub u8);

impl SubsystemType {
    /// 1: a referral to another discovery service.
    pub const REFERRAL: Self = Self(1);
    /// 2: an NVM subsystem (controllers with namespaces): what a host connects to for I/O.
    pub const NVME: Self = Self(2);
    /// 3: the current discovery subsystem (the one answering this log page).
    pub const CURRENT_DISCOVERY: Self = Self(3);

    /// The type's name, `None` for a value this crate does not name.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::REFERRAL => "referral",
            Self::NVME => "nvme",
            Self::CURRENT_DISCOVERY => "current discovery",
            _ => return None,
        })
    }
}

/// Secure channel requirement, TREQ bits 1:0 (closed: the four values of two bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SecureChannel {
    /// 0: not specified.
    NotSpecified,
    /// 1: required (connect over TLS).
    Required,
    /// 2: not required.
    NotRequired,
    /// 3: reserved.
    Reserved,
}

/// Transport requirements (TREQ, entry byte 3): bits 1:0 the secure channel requirement, bit 2 "SQ flow control
/// disable supported", bits 7:3 reserved. Open: every bit round-trips.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Treq(pub u8);

impl Treq {
    /// Bit 2: the port supports disabling SQ flow control (Connect CATTR bit 2).
    pub const SQFLOW_DISABLE: u8 = 1 << 2;

    /// Bits 1:0.
    pub const fn secure_channel(self) -> SecureChannel {
        match self.0 & 0b11 {
            0 => SecureChannel::NotSpecified,
            1 => SecureChannel::Required,
            2 => SecureChannel::NotRequired,
            _ => SecureChannel::Reserved,
        }
    }

    /// Bit 2.
    pub const fn sq_flow_control_disable(self) -> bool {
        self.0 & Self::SQFLOW_DISABLE != 0
    }
}

/// NVMe/TCP security type (TSAS byte 0, SECTYPE, for TRTYPE TCP). Open: unknown values round-trip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TcpSecurityType(pub u8);

impl TcpSecurityType {
    /// 0: no security (plain TCP).
    pub const NONE: Self = Self(0);
    /// 1: TLS 1.2.
    pub const TLS12: Self = Self(1);
    /// 2: TLS 1.3 (or a later version).
    pub const TLS13: Self = Self(2);

    /// The type's name, `None` for a value this crate does not name.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::NONE => "none",
            Self::TLS12 => "tls1.2",
            Self::TLS13 => "tls1.3",
            _ => return None,
        })
    }
}

/// Zero-copy view of the 1024-byte Discovery log page header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct DiscoveryLogHeaderView {
    /// Bytes 7:0, GENCTR: generation counter, incremented on every change of the page (wraps to 0).
    pub genctr: U64,
    /// Bytes 15:8, NUMREC: number of entries.
    pub numrec: U64,
    /// Bytes 17:16, RECFMT: record format, 0 (the only one defined).
    pub recfmt: U16,
    /// Bytes 1023:18, reserved.
    pub reserved: [u8; 1006],
}

const _: () = assert!(size_of::<DiscoveryLogHeaderView>() == DISCOVERY_RECORD_LEN);
const _: () = assert!(core::mem::offset_of!(DiscoveryLogHeaderView, numrec) == 8);
const _: () = assert!(core::mem::offset_of!(DiscoveryLogHeaderView, recfmt) == 16);

/// The defined part of the header, bytes 17:0 (what the 20-byte header read of libnvme returns).
#[derive(Clone, Copy, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct HeaderFields {
    genctr: U64,
    numrec: U64,
    recfmt: U16,
}

const _: () = assert!(size_of::<HeaderFields>() == DiscoveryLogHeader::MIN_LEN);

/// The Discovery log page header ([notes::commands §9](crate::notes::commands)). Reserved bytes 1023:18 are dropped
/// (sent as 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DiscoveryLogHeader {
    /// Bytes 7:0, GENCTR.
    pub genctr: u64,
    /// Bytes 15:8, NUMREC.
    pub numrec: u64,
    /// Bytes 17:16, RECFMT.
    pub recfmt: u16,
}

impl DiscoveryLogHeader {
    /// Size on the wire.
    pub const LEN: usize = DISCOVERY_RECORD_LEN;
    /// Bytes [`parse`](Self::parse) needs: the defined fields, 17:0. A host may read just these first (libnvme
    /// reads 20 bytes, then the entries at offset 1024, then these again to see whether GENCTR moved).
    pub const MIN_LEN: usize = 18;

    /// Reads GENCTR, NUMREC and RECFMT from the first 18 bytes of `buf` (the rest of the header is reserved and
    /// may be absent). Every value is accepted; [`DiscoveryLogPage::new_checked`] is the one that rejects a
    /// RECFMT it cannot read.
    pub fn parse(buf: &[u8]) -> Result<Self, CmdError> {
        let (h, _) =
            HeaderFields::ref_from_prefix(buf).map_err(|_| CmdError::BufferTooShort { needed: Self::MIN_LEN })?;
        Ok(Self { genctr: h.genctr.get(), numrec: h.numrec.get(), recfmt: h.recfmt.get() })
    }

    /// Writes the 1024-byte header (reserved bytes 0) at the start of `buf`; returns 1024.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, CmdError> {
        let out = buf.get_mut(..Self::LEN).ok_or(CmdError::BufferTooShort { needed: Self::LEN })?;
        let v =
            DiscoveryLogHeaderView::mut_from_bytes(out).map_err(|_| CmdError::BufferTooShort { needed: Self::LEN })?;
        v.zero();
        v.genctr.set(self.genctr);
        v.numrec.set(self.numrec);
        v.recfmt.set(self.recfmt);
        Ok(Self::LEN)
    }

    /// Bytes [`emit`](Self::emit) writes: 1024.
    pub const fn buffer_len(&self) -> usize {
        Self::LEN
    }
}

/// Zero-copy view of one 1024-byte Discovery log entry. Every byte has a field, so any 1024 bytes are a valid
/// view; offsets follow libnvme's `struct nvmf_disc_log_entry` and are locked by `offset_of!` assertions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct DiscoveryLogEntryView {
    /// Byte 0, TRTYPE ([`TransportType`]).
    pub trtype: u8,
    /// Byte 1, ADRFAM ([`AddressFamily`]).
    pub adrfam: u8,
    /// Byte 2, SUBTYPE ([`SubsystemType`]).
    pub subtype: u8,
    /// Byte 3, TREQ ([`Treq`]).
    pub treq: u8,
    /// Bytes 5:4, PORTID: the NVM subsystem port.
    pub portid: U16,
    /// Bytes 7:6, CNTLID: 0xFFFF for the dynamic controller model, 0xFFFE "remember the one Connect returns",
    /// else the static controller to connect to.
    pub cntlid: U16,
    /// Bytes 9:8, ASQSZ: largest admin submission queue (at least 32).
    pub asqsz: U16,
    /// Bytes 11:10, EFLAGS: entry flags (bit 0 DUPRETINFO, bit 1 EPCSD, bit 2 NCC).
    pub eflags: U16,
    /// Bytes 31:12, reserved.
    pub reserved12: [u8; 20],
    /// Bytes 63:32, TRSVCID: transport service identifier, ASCII, space padded (the TCP port, e.g. "4420").
    pub trsvcid: [u8; 32],
    /// Bytes 255:64, reserved.
    pub reserved64: [u8; 192],
    /// Bytes 511:256, SUBNQN: the subsystem's NQN, NUL-terminated.
    pub subnqn: [u8; 256],
    /// Bytes 767:512, TRADDR: transport address, ASCII, space padded (read per ADRFAM).
    pub traddr: [u8; 256],
    /// Bytes 1023:768, TSAS: transport specific address subtype (TCP: byte 768 SECTYPE, the rest reserved).
    pub tsas: [u8; 256],
}

const _: () = assert!(size_of::<DiscoveryLogEntryView>() == DISCOVERY_RECORD_LEN);
const _: () = assert!(core::mem::offset_of!(DiscoveryLogEntryView, portid) == 4);
const _: () = assert!(core::mem::offset_of!(DiscoveryLogEntryView, cntlid) == 6);
const _: () = assert!(core::mem::offset_of!(DiscoveryLogEntryView, asqsz) == 8);
const _: () = assert!(core::mem::offset_of!(DiscoveryLogEntryView, eflags) == 10);
const _: () = assert!(core::mem::offset_of!(DiscoveryLogEntryView, trsvcid) == 32);
const _: () = assert!(core::mem::offset_of!(DiscoveryLogEntryView, subnqn) == 256);
const _: () = assert!(core::mem::offset_of!(DiscoveryLogEntryView, traddr) == 512);
const _: () = assert!(core::mem::offset_of!(DiscoveryLogEntryView, tsas) == 768);

/// Field offsets within an entry, for error offsets.
const TRSVCID_AT: usize = 32;
const SUBNQN_AT: usize = 256;
const TRADDR_AT: usize = 512;
const TSAS_AT: usize = 768;

/// Transport specific address subtype (entry bytes 1023:768), read according to TRTYPE.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tsas<'a> {
    /// TRTYPE TCP: byte 768, SECTYPE; bytes 1023:769 are reserved (dropped, sent as 0).
    Tcp {
        /// How to secure the connection.
        sectype: TcpSecurityType,
    },
    /// Any other transport: the 256 bytes as they are (RDMA puts QPTYPE, PRTYPE, CMS and PKEY there).
    Other(&'a [u8; 256]),
}

/// One Discovery log entry ([notes::commands §9](crate::notes::commands)), validated: TRSVCID and TRADDR are printable
/// ASCII (space or NUL padded), SUBNQN a NUL-terminated NQN. Reserved bytes are dropped (sent as 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DiscoveryLogEntry<'a> {
    /// Byte 0, TRTYPE.
    pub trtype: TransportType,
    /// Byte 1, ADRFAM.
    pub adrfam: AddressFamily,
    /// Byte 2, SUBTYPE.
    pub subtype: SubsystemType,
    /// Byte 3, TREQ.
    pub treq: Treq,
    /// Bytes 5:4, PORTID.
    pub portid: u16,
    /// Bytes 7:6, CNTLID (0xFFFF: dynamic model, connect with CNTLID 0xFFFF).
    pub cntlid: u16,
    /// Bytes 9:8, ASQSZ.
    pub asqsz: u16,
    /// Bytes 11:10, EFLAGS ([`EFLAGS_DUPRETINFO`](Self::EFLAGS_DUPRETINFO), [`EFLAGS_EPCSD`](Self::EFLAGS_EPCSD),
    /// [`EFLAGS_NCC`](Self::EFLAGS_NCC)).
    pub eflags: u16,
    /// Bytes 63:32, TRSVCID (at most 32 characters; the TCP port).
    pub trsvcid: &'a str,
    /// Bytes 511:256, SUBNQN (at most 223 bytes).
    pub subnqn: &'a str,
    /// Bytes 767:512, TRADDR (at most 256 characters).
    pub traddr: &'a str,
    /// Bytes 1023:768, TSAS: [`Tsas::Tcp`] exactly when TRTYPE is TCP.
    pub tsas: Tsas<'a>,
}

impl<'a> DiscoveryLogEntry<'a> {
    /// Size on the wire.
    pub const LEN: usize = DISCOVERY_RECORD_LEN;
    /// EFLAGS bit 0, DUPRETINFO: this entry leads to the same information as the other entries with the bit set.
    pub const EFLAGS_DUPRETINFO: u16 = 1 << 0;
    /// EFLAGS bit 1, EPCSD: explicit persistent connections are supported for this discovery controller.
    pub const EFLAGS_EPCSD: u16 = 1 << 1;
    /// EFLAGS bit 2, NCC: no CDC connectivity (a centralized discovery controller reports it; *one source*).
    pub const EFLAGS_NCC: u16 = 1 << 2;

    /// An NVMe/TCP entry with the usual values: SUBTYPE NVM subsystem, TREQ "not specified", PORTID 1, CNTLID
    /// 0xFFFF (dynamic model), ASQSZ 32, EFLAGS 0, SECTYPE none. Change fields as needed.
    pub const fn tcp(adrfam: AddressFamily, traddr: &'a str, trsvcid: &'a str, subnqn: &'a str) -> Self {
        Self {
            trtype: TransportType::TCP,
            adrfam,
            subtype: SubsystemType::NVME,
            treq: Treq(0),
            portid: 1,
            cntlid: 0xFFFF,
            asqsz: 32,
            eflags: 0,
            trsvcid,
            subnqn,
            traddr,
            tsas: Tsas::Tcp { sectype: TcpSecurityType::NONE },
        }
    }

    /// The representation of a view; `at` is the entry's offset in its page (error offsets are page offsets).
    fn from_view(v: &'a DiscoveryLogEntryView, at: usize) -> Result<Self, CmdError> {
        let trtype = TransportType(v.trtype);
        Ok(Self {
            trtype,
            adrfam: AddressFamily(v.adrfam),
            subtype: SubsystemType(v.subtype),
            treq: Treq(v.treq),
            portid: v.portid.get(),
            cntlid: v.cntlid.get(),
            asqsz: v.asqsz.get(),
            eflags: v.eflags.get(),
            trsvcid: parse_ascii_field(&v.trsvcid, at + TRSVCID_AT)?,
            subnqn: parse_nqn_field(&v.subnqn, at + SUBNQN_AT)?,
            traddr: parse_ascii_field(&v.traddr, at + TRADDR_AT)?,
            tsas: if trtype == TransportType::TCP {
                Tsas::Tcp { sectype: TcpSecurityType(v.tsas[0]) }
            } else {
                Tsas::Other(&v.tsas)
            },
        })
    }

    /// Parses the first 1024 bytes of `buf`. TRSVCID or TRADDR not printable ASCII, or SUBNQN not a NUL-terminated
    /// NQN, gives [`CmdError::InvalidString`] with the field's offset (a tolerant reader uses
    /// [`DiscoveryLogEntryView`]'s raw fields).
    pub fn parse(buf: &'a [u8]) -> Result<Self, CmdError> {
        let (v, _) =
            DiscoveryLogEntryView::ref_from_prefix(buf).map_err(|_| CmdError::BufferTooShort { needed: Self::LEN })?;
        Self::from_view(v, 0)
    }

    /// Writes the 1024-byte entry at the start of `buf`; returns 1024. TRSVCID and TRADDR are space padded. A
    /// string that does not fit or is not printable ASCII (TRSVCID, TRADDR) gives [`CmdError::InvalidString`];
    /// [`Tsas::Tcp`] with another TRTYPE, or [`Tsas::Other`] with TRTYPE TCP, gives [`CmdError::InvalidField`] at
    /// byte 768.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, CmdError> {
        let out = buf.get_mut(..Self::LEN).ok_or(CmdError::BufferTooShort { needed: Self::LEN })?;
        let v =
            DiscoveryLogEntryView::mut_from_bytes(out).map_err(|_| CmdError::BufferTooShort { needed: Self::LEN })?;
        v.zero();
        v.trtype = self.trtype.0;
        v.adrfam = self.adrfam.0;
        v.subtype = self.subtype.0;
        v.treq = self.treq.0;
        v.portid.set(self.portid);
        v.cntlid.set(self.cntlid);
        v.asqsz.set(self.asqsz);
        v.eflags.set(self.eflags);
        write_ascii_field(&mut v.trsvcid, self.trsvcid, TRSVCID_AT)?;
        write_nqn_field(&mut v.subnqn, self.subnqn, SUBNQN_AT)?;
        write_ascii_field(&mut v.traddr, self.traddr, TRADDR_AT)?;
        match (self.tsas, self.trtype == TransportType::TCP) {
            (Tsas::Tcp { sectype }, true) => v.tsas[0] = sectype.0,
            (Tsas::Other(bytes), false) => v.tsas = *bytes,
            _ => return Err(CmdError::InvalidField { offset: TSAS_AT }),
        }
        Ok(Self::LEN)
    }

    /// Bytes [`emit`](Self::emit) writes: 1024.
    pub const fn buffer_len(&self) -> usize {
        Self::LEN
    }

    /// SECTYPE for a TCP entry, `None` for another transport.
    pub const fn tcp_security(&self) -> Option<TcpSecurityType> {
        match self.tsas {
            Tsas::Tcp { sectype } => Some(sectype),
            Tsas::Other(_) => None,
        }
    }
}

/// Iterator over Discovery log entries packed one after the other ([`DiscoveryLogPage::entries`], or
/// [`DiscoveryLogEntries::new`] over the data of a Get Log Page at offset 1024 × (k + 1)). Each item is an entry or
/// the error that makes it invalid; an invalid entry does not stop the iteration (entries have a fixed size). A
/// trailing piece shorter than an entry yields [`CmdError::BufferTooShort`] and ends it.
#[derive(Clone, Debug)]
pub struct DiscoveryLogEntries<'a> {
    buf: &'a [u8],
    /// Offset of `buf` in the page, for error offsets.
    base: usize,
    pos: usize,
}

impl<'a> DiscoveryLogEntries<'a> {
    /// The entries packed from the start of `buf`; error offsets count from the start of `buf`.
    pub const fn new(buf: &'a [u8]) -> Self {
        Self { buf, base: 0, pos: 0 }
    }
}

impl<'a> Iterator for DiscoveryLogEntries<'a> {
    type Item = Result<DiscoveryLogEntry<'a>, CmdError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.buf.get(self.pos..).filter(|r| !r.is_empty())?;
        let at = self.base + self.pos;
        let Ok((v, _)) = DiscoveryLogEntryView::ref_from_prefix(rest) else {
            self.pos = self.buf.len();
            return Some(Err(CmdError::BufferTooShort { needed: at + DISCOVERY_RECORD_LEN }));
        };
        self.pos += DISCOVERY_RECORD_LEN;
        Some(DiscoveryLogEntry::from_view(v, at))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.buf.len().saturating_sub(self.pos).div_ceil(DISCOVERY_RECORD_LEN);
        (n, Some(n))
    }
}

impl ExactSizeIterator for DiscoveryLogEntries<'_> {}

/// Zero-copy view of a whole Discovery log page (LID 0x70; [notes::commands §9](crate::notes::commands)): the
/// header and NUMREC entries.
///
/// [`new_checked`](Self::new_checked) proves the buffer holds all NUMREC entries, so the accessors never read past
/// it. Each entry's strings are checked as [`entries`](Self::entries) or [`get`](Self::get) reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiscoveryLogPage<'a> {
    header: &'a DiscoveryLogHeaderView,
    /// Exactly NUMREC × 1024 bytes.
    body: &'a [u8],
}

impl<'a> DiscoveryLogPage<'a> {
    /// Checks `buf`: the 1024-byte header, RECFMT 0 ([`CmdError::InvalidField`] at 16 otherwise: the entries of
    /// another format cannot be read), NUMREC at most [`DISCOVERY_LOG_MAX_RECORDS`] ([`CmdError::TooManyEntries`]),
    /// and room for NUMREC entries ([`CmdError::BufferTooShort`] with the size of the whole page: read it again with
    /// that many bytes). Bytes after the last entry are ignored.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, CmdError> {
        let (header, rest) = DiscoveryLogHeaderView::ref_from_prefix(buf)
            .map_err(|_| CmdError::BufferTooShort { needed: DISCOVERY_RECORD_LEN })?;
        if header.recfmt.get() != 0 {
            return Err(CmdError::InvalidField { offset: 16 });
        }
        let numrec = header.numrec.get();
        if numrec > DISCOVERY_LOG_MAX_RECORDS {
            let count = usize::try_from(numrec).unwrap_or(usize::MAX);
            return Err(CmdError::TooManyEntries { count, max: DISCOVERY_LOG_MAX_RECORDS as usize });
        }
        // numrec < 2^24, so the product fits in u64; it may not fit a 32-bit usize.
        let body_len = numrec * DISCOVERY_RECORD_LEN as u64;
        let needed = usize::try_from(body_len + DISCOVERY_RECORD_LEN as u64).unwrap_or(usize::MAX);
        let body =
            usize::try_from(body_len).ok().and_then(|n| rest.get(..n)).ok_or(CmdError::BufferTooShort { needed })?;
        Ok(Self { header, body })
    }

    /// The header.
    pub fn header(&self) -> DiscoveryLogHeader {
        DiscoveryLogHeader {
            genctr: self.header.genctr.get(),
            numrec: self.header.numrec.get(),
            recfmt: self.header.recfmt.get(),
        }
    }

    /// GENCTR.
    pub fn genctr(&self) -> u64 {
        self.header.genctr.get()
    }

    /// The number of entries (NUMREC).
    pub fn len(&self) -> usize {
        self.body.len() / DISCOVERY_RECORD_LEN
    }

    /// `true` when NUMREC is 0.
    pub fn is_empty(&self) -> bool {
        self.body.is_empty()
    }

    /// The view of entry `index`, or `None` past the last one.
    pub fn view(&self, index: usize) -> Option<&'a DiscoveryLogEntryView> {
        let start = index.checked_mul(DISCOVERY_RECORD_LEN)?;
        let bytes = self.body.get(start..start.checked_add(DISCOVERY_RECORD_LEN)?)?;
        DiscoveryLogEntryView::ref_from_bytes(bytes).ok()
    }

    /// Entry `index`, validated, or `None` past the last one.
    pub fn get(&self, index: usize) -> Option<Result<DiscoveryLogEntry<'a>, CmdError>> {
        let v = self.view(index)?;
        // The view exists, so (index + 1) × 1024 ≤ the body length: no overflow.
        Some(DiscoveryLogEntry::from_view(v, (index + 1) * DISCOVERY_RECORD_LEN))
    }

    /// The NUMREC entries in order (error offsets are page offsets).
    pub fn entries(&self) -> DiscoveryLogEntries<'a> {
        DiscoveryLogEntries { buf: self.body, base: DISCOVERY_RECORD_LEN, pos: 0 }
    }

    /// Bytes a page with `entries` entries takes: 1024 × (entries + 1) (saturating).
    pub const fn buffer_len(entries: usize) -> usize {
        entries.saturating_add(1).saturating_mul(DISCOVERY_RECORD_LEN)
    }

    /// Writes a page with GENCTR `genctr`, RECFMT 0 and `entries` at the start of `buf`; returns
    /// [`buffer_len`](Self::buffer_len). An entry that cannot be emitted gives its error with the offset in the
    /// page; more than [`DISCOVERY_LOG_MAX_RECORDS`] entries gives [`CmdError::TooManyEntries`].
    pub fn emit(genctr: u64, entries: &[DiscoveryLogEntry<'_>], buf: &mut [u8]) -> Result<usize, CmdError> {
        let max = DISCOVERY_LOG_MAX_RECORDS as usize;
        if entries.len() > max {
            return Err(CmdError::TooManyEntries { count: entries.len(), max });
        }
        let needed = Self::buffer_len(entries.len());
        let out = buf.get_mut(..needed).ok_or(CmdError::BufferTooShort { needed })?;
        let (head, body) = out.split_at_mut(DISCOVERY_RECORD_LEN);
        DiscoveryLogHeader { genctr, numrec: entries.len() as u64, recfmt: 0 }.emit(head)?;
        for (i, (slot, entry)) in body.chunks_exact_mut(DISCOVERY_RECORD_LEN).zip(entries).enumerate() {
            let at = DISCOVERY_RECORD_LEN * (i + 1);
            entry.emit(slot).map_err(|e| match e {
                CmdError::InvalidField { offset } => CmdError::InvalidField { offset: at + offset },
                CmdError::InvalidString { offset } => CmdError::InvalidString { offset: at + offset },
                other => other,
            })?;
        }
        Ok(needed)
    }
}
