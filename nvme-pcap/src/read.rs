//! The reader: classic pcap and pcapng files to TCP segments (etherparse parses the headers), then to flows.

use std::fmt;
use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use etherparse::{LaxNetSlice, LaxSlicedPacket, LinuxSllHeaderSlice, LinuxSllProtocolType, TransportSlice};
use pcap_file::pcap::PcapParser;
use pcap_file::pcapng::blocks::interface_description::{InterfaceDescriptionBlock, InterfaceDescriptionOption};
use pcap_file::pcapng::{Block, PcapNgParser};
use pcap_file::{Endianness, PcapError, TsResolution};

use crate::reassemble::{CapturedFlow, Reassembler, TcpSegment};

/// Link type Ethernet II (`LINKTYPE_ETHERNET`), with up to three VLAN or MACsec tags.
pub const LINKTYPE_ETHERNET: u32 = 1;
/// Link type raw IP, each frame starts with an IPv4 or IPv6 header (`LINKTYPE_RAW`).
pub const LINKTYPE_RAW: u32 = 101;
/// Link type Linux cooked capture v1 (`LINKTYPE_LINUX_SLL`: `tcpdump -i any`, `tshark -i any`).
pub const LINKTYPE_LINUX_SLL: u32 = 113;
/// Link type raw IPv4 (`LINKTYPE_IPV4`), read like [`LINKTYPE_RAW`].
pub const LINKTYPE_IPV4: u32 = 228;
/// Link type raw IPv6 (`LINKTYPE_IPV6`), read like [`LINKTYPE_RAW`].
pub const LINKTYPE_IPV6: u32 = 229;

/// The file formats [`PcapTcpReader`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaptureFormat {
    /// Classic pcap (libpcap): microsecond or nanosecond timestamps, either byte order, one link type.
    Pcap,
    /// pcapng (Wireshark's default): sections, interfaces each with its link type and timestamp resolution.
    PcapNg,
}

/// Why a capture could not be read. Small and `Copy`; `Display` gives the message a user should see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaptureReadError {
    /// The underlying reader failed.
    Io(std::io::ErrorKind),
    /// The data ends inside the file header (24 bytes for pcap, the section header block for pcapng).
    TruncatedFileHeader {
        /// Bytes available.
        len: usize,
    },
    /// The first four bytes are neither a pcap magic number nor a pcapng section header.
    BadMagic {
        /// The first four bytes, read big-endian.
        magic: u32,
    },
    /// A link type other than [`LINKTYPE_ETHERNET`], [`LINKTYPE_RAW`], [`LINKTYPE_LINUX_SLL`], [`LINKTYPE_IPV4`]
    /// and [`LINKTYPE_IPV6`]: the pcap file header's, or (pcapng) that of an interface a packet was captured on.
    UnsupportedLinkType {
        /// The link type.
        link_type: u32,
    },
    /// pcap: the file ends inside a packet record (its 16-byte header or its data): the capture was cut short.
    TruncatedRecord {
        /// 1-based frame number of the record (as Wireshark counts).
        frame: u64,
        /// Byte offset of the record in the file.
        offset: usize,
        /// How many more bytes the record needs.
        needed: usize,
    },
    /// pcapng: the file ends inside a block.
    TruncatedBlock {
        /// Byte offset of the block in the file.
        offset: usize,
    },
    /// pcapng: a block whose fields are inconsistent (pcap-file's reason).
    BadBlock {
        /// Byte offset of the block in the file.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// pcapng: a packet names an interface that no interface description block of its section describes.
    UnknownInterface {
        /// 1-based frame number of the packet.
        frame: u64,
        /// The interface identifier.
        interface: u32,
    },
}

impl fmt::Display for CaptureReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Io(kind) => write!(f, "cannot read the capture: {kind}"),
            Self::TruncatedFileHeader { len } => {
                write!(f, "not a pcap or pcapng file: {len} bytes, shorter than the file header")
            }
            Self::BadMagic { magic } => write!(f, "not a pcap or pcapng file (magic number {magic:#010x})"),
            Self::UnsupportedLinkType { link_type } => write!(
                f,
                "unsupported link type {link_type} (supported: 1 Ethernet, 101 raw IP, 113 Linux cooked, 228 raw IPv4, \
                 229 raw IPv6)"
            ),
            Self::TruncatedRecord { frame, offset, needed } => {
                write!(f, "truncated pcap: frame {frame} at byte {offset} needs {needed} more bytes than the file has")
            }
            Self::TruncatedBlock { offset } => write!(f, "truncated pcapng: the block at byte {offset} is cut short"),
            Self::BadBlock { offset, reason } => write!(f, "invalid pcapng block at byte {offset}: {reason}"),
            Self::UnknownInterface { frame, interface } => {
                write!(f, "invalid pcapng: frame {frame} names interface {interface}, which is not described")
            }
        }
    }
}

impl std::error::Error for CaptureReadError {}

/// How the frames of one link type start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    Ethernet,
    Ip,
    LinuxSll,
}

impl Link {
    fn from_link_type(link_type: u32) -> Result<Link, CaptureReadError> {
        // In a pcap header, the bits above the low 16 carry FCS information.
        match link_type & 0xFFFF {
            LINKTYPE_ETHERNET => Ok(Link::Ethernet),
            LINKTYPE_RAW | LINKTYPE_IPV4 | LINKTYPE_IPV6 => Ok(Link::Ip),
            LINKTYPE_LINUX_SLL => Ok(Link::LinuxSll),
            _ => Err(CaptureReadError::UnsupportedLinkType { link_type }),
        }
    }
}

/// Reads a classic pcap or a pcapng and reassembles its TCP connections, over IPv4 and IPv6.
///
/// Frames that are not TCP (ARP, UDP, ICMP), IP fragments, and frames whose headers etherparse cannot parse are
/// skipped and counted ([`Self::skipped_frames`]). Segments are grouped by connection (a SYN after payload on the
/// same addresses and ports starts a new connection), ordered by sequence number (relative to the SYN, or to the
/// lowest sequence number seen when the capture has no SYN), and duplicates (retransmissions) are dropped. Streams
/// beyond 2 GiB per direction are not supported (sequence numbers are compared modulo 2^31). The host of each
/// connection is the sender of its SYN, else the end not on port 4420 or 8009, else the higher port.
///
/// The whole file is held in memory while it is read; nothing is allocated from a length the file announces
/// without the bytes being there.
///
/// ```
/// # use nvme_pcap::*;
/// # use std::net::SocketAddr;
/// # use std::time::Duration;
/// let mut w = PcapTcpWriter::new(Vec::new()).unwrap();
/// let (host, controller): (SocketAddr, SocketAddr) = ("[fd00::1]:40001".parse()?, "[fd00::2]:4420".parse()?);
/// let mut flow = TcpFlow::new(host, controller);
/// w.write(&mut flow, Direction::HostToController, Duration::ZERO, b"hello").unwrap();
/// let capture = PcapTcpReader::from_bytes(&w.into_inner()).unwrap();
/// assert_eq!(capture.flows()[0].to_controller.bytes, b"hello");
/// assert_eq!(capture.flows()[0].host.to_string(), "[fd00::1]:40001");
/// # Ok::<(), std::net::AddrParseError>(())
/// ```
#[derive(Clone, Debug)]
pub struct PcapTcpReader {
    format: CaptureFormat,
    frames: u64,
    skipped: u64,
    flows: Vec<CapturedFlow>,
}

/// The frames of a capture, fed to the reassembler as they are read.
struct Frames {
    frames: u64,
    skipped: u64,
    asm: Reassembler,
}

impl Frames {
    fn add(&mut self, link: Link, ts: Duration, data: &[u8]) {
        self.frames += 1;
        match parse_frame(link, data) {
            Some(seg) => self.asm.add(self.frames, ts, seg),
            None => self.skipped += 1,
        }
    }
}

const PCAPNG_MAGIC: [u8; 4] = [0x0A, 0x0D, 0x0D, 0x0A];

impl PcapTcpReader {
    /// Reads a whole capture from `r` (a file, stdin) and reassembles it.
    pub fn read<R: Read>(mut r: R) -> Result<Self, CaptureReadError> {
        let mut data = Vec::new();
        r.read_to_end(&mut data).map_err(|e| CaptureReadError::Io(e.kind()))?;
        Self::from_bytes(&data)
    }

    /// Reassembles a capture held in memory.
    pub fn from_bytes(data: &[u8]) -> Result<Self, CaptureReadError> {
        let mut frames = Frames { frames: 0, skipped: 0, asm: Reassembler::default() };
        let format = if data.len() >= 4 && data[..4] == PCAPNG_MAGIC {
            read_pcapng(data, &mut frames)?;
            CaptureFormat::PcapNg
        } else {
            read_pcap(data, &mut frames)?;
            CaptureFormat::Pcap
        };
        Ok(Self { format, frames: frames.frames, skipped: frames.skipped, flows: frames.asm.finish() })
    }

    /// The file format.
    pub fn format(&self) -> CaptureFormat {
        self.format
    }

    /// Number of frames (packets) in the capture.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Frames that were skipped: not TCP, IP fragments, or headers that do not parse.
    pub fn skipped_frames(&self) -> u64 {
        self.skipped
    }

    /// The TCP connections, in the order of their first frame.
    pub fn flows(&self) -> &[CapturedFlow] {
        &self.flows
    }

    /// The TCP connections, by value.
    pub fn into_flows(self) -> Vec<CapturedFlow> {
        self.flows
    }
}

fn read_pcap(data: &[u8], frames: &mut Frames) -> Result<(), CaptureReadError> {
    if data.len() < 4 {
        return Err(CaptureReadError::TruncatedFileHeader { len: data.len() });
    }
    let magic = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
    if !matches!(magic, 0xA1B2_C3D4 | 0xA1B2_3C4D | 0xD4C3_B2A1 | 0x4D3C_B2A1) {
        return Err(CaptureReadError::BadMagic { magic });
    }
    let (mut rest, parser) = match PcapParser::new(data) {
        Ok(p) => p,
        Err(PcapError::IncompleteBuffer) => return Err(CaptureReadError::TruncatedFileHeader { len: data.len() }),
        Err(_) => return Err(CaptureReadError::BadMagic { magic }),
    };
    let header = parser.header();
    let link = Link::from_link_type(u32::from(header.datalink))?;
    let nanos = header.ts_resolution == TsResolution::NanoSecond;
    while !rest.is_empty() {
        let offset = data.len() - rest.len();
        let (next, packet) = match parser.next_raw_packet(rest) {
            Ok(p) => p,
            Err(_) => {
                // The only error of a raw record is a short buffer: the record header or its data is cut.
                let needed = match rest.get(8..12) {
                    Some(w) if rest.len() >= 16 => {
                        let w = [w[0], w[1], w[2], w[3]];
                        let incl = match header.endianness {
                            Endianness::Big => u32::from_be_bytes(w),
                            Endianness::Little => u32::from_le_bytes(w),
                        };
                        (incl as usize).saturating_sub(rest.len() - 16)
                    }
                    _ => 16 - rest.len(),
                };
                return Err(CaptureReadError::TruncatedRecord { frame: frames.frames + 1, offset, needed });
            }
        };
        let frac = if nanos { u64::from(packet.ts_frac) } else { u64::from(packet.ts_frac) * 1000 };
        let ts = Duration::from_secs(u64::from(packet.ts_sec)).saturating_add(Duration::from_nanos(frac));
        frames.add(link, ts, &packet.data);
        rest = next;
    }
    Ok(())
}

/// An interface of a pcapng section.
struct Interface {
    link: Result<Link, CaptureReadError>,
    /// Timestamp units per second (if_tsresol; 10^6 when absent).
    units: u64,
    /// Seconds added to every timestamp (if_tsoffset).
    offset: u64,
}

impl Interface {
    fn new(idb: &InterfaceDescriptionBlock<'_>) -> Result<Interface, &'static str> {
        let mut units = 1_000_000;
        let mut offset = 0;
        for opt in &idb.options {
            match *opt {
                InterfaceDescriptionOption::IfTsResol(r) if r & 0x80 == 0 => {
                    units = 10u64.checked_pow(u32::from(r)).ok_or("if_tsresol beyond 10^-19 s")?;
                }
                InterfaceDescriptionOption::IfTsResol(r) => {
                    let exp = u32::from(r & 0x7F);
                    units = if exp < 64 { 1u64 << exp } else { return Err("if_tsresol beyond 2^-63 s") };
                }
                InterfaceDescriptionOption::IfTsOffset(o) => offset = o,
                _ => {}
            }
        }
        Ok(Interface { link: Link::from_link_type(u32::from(idb.linktype)), units, offset })
    }

    fn timestamp(&self, raw: u64) -> Duration {
        let nanos = u128::from(raw % self.units) * 1_000_000_000 / u128::from(self.units);
        Duration::new(raw / self.units, nanos as u32).saturating_add(Duration::from_secs(self.offset))
    }
}

fn read_pcapng(data: &[u8], frames: &mut Frames) -> Result<(), CaptureReadError> {
    let block_error = |offset: usize, e: PcapError| match e {
        PcapError::IncompleteBuffer => CaptureReadError::TruncatedBlock { offset },
        PcapError::InvalidField(reason) => CaptureReadError::BadBlock { offset, reason },
        PcapError::Utf8Error(_) | PcapError::FromUtf8Error(_) => {
            CaptureReadError::BadBlock { offset, reason: "an option's text is not UTF-8" }
        }
        PcapError::InvalidInterfaceId(_) => CaptureReadError::BadBlock { offset, reason: "invalid interface id" },
        PcapError::IoError(e) => CaptureReadError::Io(e.kind()),
    };
    let (mut rest, mut parser) = match PcapNgParser::new(data) {
        Ok(p) => p,
        Err(PcapError::IncompleteBuffer) => return Err(CaptureReadError::TruncatedFileHeader { len: data.len() }),
        Err(e) => return Err(block_error(0, e)),
    };
    let mut interfaces: Vec<Interface> = Vec::new();
    while !rest.is_empty() {
        let offset = data.len() - rest.len();
        let (next, block) = parser.next_block(rest).map_err(|e| block_error(offset, e))?;
        rest = next;
        let (interface, raw_ts, packet) = match &block {
            Block::SectionHeader(_) => {
                interfaces.clear();
                continue;
            }
            Block::InterfaceDescription(idb) => {
                interfaces.push(Interface::new(idb).map_err(|reason| CaptureReadError::BadBlock { offset, reason })?);
                continue;
            }
            Block::EnhancedPacket(epb) => {
                // pcap-file gives the raw timestamp as nanoseconds whatever the interface's resolution.
                let raw = u64::try_from(epb.timestamp.as_nanos()).unwrap_or(u64::MAX);
                (epb.interface_id, Some(raw), &epb.data[..])
            }
            Block::Packet(pb) => (u32::from(pb.interface_id), Some(pb.timestamp), &pb.data[..]),
            Block::SimplePacket(spb) => (0, None, &spb.data[..]),
            _ => continue,
        };
        let frame = frames.frames + 1;
        let iface =
            interfaces.get(interface as usize).ok_or(CaptureReadError::UnknownInterface { frame, interface })?;
        let link = iface.link?;
        let ts = raw_ts.map_or(Duration::ZERO, |raw| iface.timestamp(raw));
        frames.add(link, ts, packet);
    }
    Ok(())
}

/// The TCP segment in one frame, or `None` when the frame is not a usable TCP segment over IPv4 or IPv6.
fn parse_frame(link: Link, frame: &[u8]) -> Option<TcpSegment<'_>> {
    let packet = match link {
        Link::Ethernet => LaxSlicedPacket::from_ethernet(frame).ok()?,
        Link::Ip => LaxSlicedPacket::from_ip(frame).ok()?,
        Link::LinuxSll => {
            let sll = LinuxSllHeaderSlice::from_slice(frame).ok()?;
            let LinuxSllProtocolType::EtherType(ether_type) = sll.protocol_type() else { return None };
            LaxSlicedPacket::from_ether_type(ether_type, &frame[sll.slice().len()..])
        }
    };
    let Some(TransportSlice::Tcp(tcp)) = &packet.transport else { return None };
    let net = packet.net.as_ref()?;
    let ip_payload = net.ip_payload_ref()?;
    // The TCP segment's length as the IP header announces it, when the capture kept less (a snapshot length).
    let announced = match net {
        LaxNetSlice::Ipv4(ip) => {
            let h = ip.header();
            let ext = ip.extensions().auth.map_or(0, |a| a.slice().len());
            usize::from(h.total_len()).saturating_sub(h.slice().len() + ext)
        }
        LaxNetSlice::Ipv6(ip) => {
            usize::from(ip.header().payload_length()).saturating_sub(ip.extensions().slice().len())
        }
        LaxNetSlice::Arp(_) => return None,
    };
    let cut = if ip_payload.incomplete { announced.saturating_sub(ip_payload.payload.len()) } else { 0 };
    let (src_ip, dst_ip): (IpAddr, IpAddr) = match net {
        LaxNetSlice::Ipv4(ip) => (ip.header().source_addr().into(), ip.header().destination_addr().into()),
        LaxNetSlice::Ipv6(ip) => (ip.header().source_addr().into(), ip.header().destination_addr().into()),
        LaxNetSlice::Arp(_) => return None,
    };
    Some(TcpSegment {
        src: SocketAddr::new(src_ip, tcp.source_port()),
        dst: SocketAddr::new(dst_ip, tcp.destination_port()),
        seq: tcp.sequence_number(),
        syn: tcp.syn(),
        ack: tcp.ack(),
        payload: tcp.payload(),
        cut: cut as u64,
    })
}
