//! Synthetic pcap captures of NVMe/TCP byte streams (feature `pcap`).
//!
//! A program that owns its sockets (a test, a simulator, a driver) records what it sent and received, so no capture
//! privilege is needed and the file is deterministic. Each [`TcpFlow`] is one TCP connection between a host
//! (client) and a controller (server, port 4420 by default, the port Wireshark binds to NVMe/TCP). Frames are
//! IPv4 packets in a classic pcap with link type `LINKTYPE_RAW` (101); TCP sequence numbers run on per direction, as
//! tshark needs to reassemble PDUs ([notes::vectors §4](crate::notes::vectors)). Payloads larger than [`MSS`] are cut
//! into several segments, like a real stack would. IP and TCP checksums are filled in.
//!
//! [`PcapTcpReader`] goes the other way: it reads a classic pcap (link types RAW and Ethernet, IPv4, TCP), groups the
//! segments by connection and gives each direction's payload bytes in sequence order, with the time and frame number
//! of every byte, ready for a stream deframer.

use std::collections::HashMap;
use std::fmt;
use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::time::Duration;
use std::vec::Vec;

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, PcapError};

/// The IANA NVMe/TCP port ([notes::tcp §10](crate::notes::tcp)).
pub const NVME_TCP_PORT: u16 = 4420;

/// Largest TCP payload put in one frame (the usual Ethernet MSS).
pub const MSS: usize = 1448;

/// Which way a payload travels on a [`TcpFlow`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Host to controller (client to server).
    HostToController,
    /// Controller to host (server to client).
    ControllerToHost,
}

/// One TCP connection in a capture: addresses, ports and the next sequence number of each direction.
#[derive(Clone, Debug)]
pub struct TcpFlow {
    host: (Ipv4Addr, u16),
    controller: (Ipv4Addr, u16),
    seq_h2c: u32,
    seq_c2h: u32,
}

impl TcpFlow {
    /// A flow between `host` and `controller` (address, port).
    pub fn new(host: (Ipv4Addr, u16), controller: (Ipv4Addr, u16)) -> Self {
        Self { host, controller, seq_h2c: 1, seq_c2h: 1 }
    }

    /// The `n`-th host connection to a controller on 10.0.0.2:4420, from 10.0.0.1 port 40000 + n: distinct flows for
    /// the paths of one capture.
    pub fn numbered(n: u16) -> Self {
        Self::new((Ipv4Addr::new(10, 0, 0, 1), 40000 + n), (Ipv4Addr::new(10, 0, 0, 2), NVME_TCP_PORT))
    }
}

/// Writes IPv4/TCP frames carrying NVMe/TCP bytes into a pcap.
pub struct PcapTcpWriter<W: Write> {
    writer: PcapWriter<W>,
    frame: Vec<u8>,
}

impl<W: Write> PcapTcpWriter<W> {
    /// Starts a capture (writes the pcap file header, link type RAW).
    pub fn new(out: W) -> Result<Self, PcapError> {
        let header = PcapHeader { datalink: DataLink::RAW, ..PcapHeader::default() };
        Ok(Self { writer: PcapWriter::with_header(out, header)?, frame: Vec::new() })
    }

    /// Records `payload` sent on `flow` in direction `dir` at time `ts` (since the capture's epoch), cut into
    /// segments of at most [`MSS`] bytes. An empty payload writes nothing.
    pub fn write(&mut self, flow: &mut TcpFlow, dir: Direction, ts: Duration, payload: &[u8]) -> Result<(), PcapError> {
        for chunk in payload.chunks(MSS) {
            let (src, dst, seq, ack) = match dir {
                Direction::HostToController => (flow.host, flow.controller, &mut flow.seq_h2c, flow.seq_c2h),
                Direction::ControllerToHost => (flow.controller, flow.host, &mut flow.seq_c2h, flow.seq_h2c),
            };
            build_frame(&mut self.frame, src, dst, *seq, ack, chunk);
            *seq = seq.wrapping_add(chunk.len() as u32);
            let len = self.frame.len() as u32;
            self.writer.write_packet(&PcapPacket::new(ts, len, &self.frame))?;
        }
        Ok(())
    }

    /// Finishes the capture and returns the underlying writer.
    pub fn into_inner(self) -> W {
        self.writer.into_writer()
    }
}

fn checksum(chunks: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    let mut odd: Option<u8> = None;
    for chunk in chunks {
        for &b in *chunk {
            match odd.take() {
                Some(hi) => sum += u32::from(u16::from_be_bytes([hi, b])),
                None => odd = Some(b),
            }
        }
    }
    if let Some(hi) = odd {
        sum += u32::from(u16::from_be_bytes([hi, 0]));
    }
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

fn build_frame(out: &mut Vec<u8>, src: (Ipv4Addr, u16), dst: (Ipv4Addr, u16), seq: u32, ack: u32, payload: &[u8]) {
    out.clear();
    let total = 20 + 20 + payload.len();
    // IPv4 header (RFC 791), 20 bytes, no options.
    out.extend_from_slice(&[0x45, 0]);
    out.extend_from_slice(&(total as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0x40, 0, 64, 6, 0, 0]); // id 0, DF, TTL 64, protocol TCP, checksum later
    out.extend_from_slice(&src.0.octets());
    out.extend_from_slice(&dst.0.octets());
    let ip_sum = checksum(&[&out[..20]]);
    out[10..12].copy_from_slice(&ip_sum.to_be_bytes());
    // TCP header (RFC 9293), 20 bytes: ACK|PSH, window 65535.
    out.extend_from_slice(&src.1.to_be_bytes());
    out.extend_from_slice(&dst.1.to_be_bytes());
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&ack.to_be_bytes());
    out.extend_from_slice(&[0x50, 0x18, 0xFF, 0xFF, 0, 0, 0, 0]);
    out.extend_from_slice(payload);
    let mut pseudo = [0u8; 12];
    pseudo[..4].copy_from_slice(&src.0.octets());
    pseudo[4..8].copy_from_slice(&dst.0.octets());
    pseudo[9] = 6;
    pseudo[10..12].copy_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
    let tcp_sum = checksum(&[&pseudo, &out[20..]]);
    out[36..38].copy_from_slice(&tcp_sum.to_be_bytes());
}

/// Classic pcap link type: Ethernet II (`LINKTYPE_ETHERNET`).
pub const LINKTYPE_ETHERNET: u32 = 1;
/// Classic pcap link type: raw IP, each frame starts with the IP header (`LINKTYPE_RAW`).
pub const LINKTYPE_RAW: u32 = 101;
/// Classic pcap link type: raw IPv4 (`LINKTYPE_IPV4`), read like [`LINKTYPE_RAW`].
pub const LINKTYPE_IPV4: u32 = 228;

/// The NVMe/TCP discovery port ([notes::tcp §10](crate::notes::tcp)), also taken as a controller port when telling host
/// from controller.
pub const NVME_TCP_DISCOVERY_PORT: u16 = 8009;

/// Why a capture could not be read. Small and `Copy`; `Display` gives the message a user should see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaptureReadError {
    /// The underlying reader failed.
    Io(std::io::ErrorKind),
    /// The data ends inside the 24-byte pcap file header.
    TruncatedFileHeader {
        /// Bytes available.
        len: usize,
    },
    /// The file starts with a pcapng section header block; only classic pcap is read.
    Pcapng,
    /// The first four bytes are no pcap magic number.
    BadMagic {
        /// The first four bytes, read big-endian.
        magic: u32,
    },
    /// The link type is none of [`LINKTYPE_RAW`], [`LINKTYPE_IPV4`], [`LINKTYPE_ETHERNET`].
    UnsupportedLinkType {
        /// The link type from the file header.
        link_type: u32,
    },
    /// The file ends inside a packet record (its 16-byte header or its data): the capture was cut short.
    TruncatedRecord {
        /// 1-based frame number of the record (as Wireshark counts).
        frame: u64,
        /// Byte offset of the record in the file.
        offset: usize,
        /// How many more bytes the record needs.
        needed: usize,
    },
}

impl fmt::Display for CaptureReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Io(kind) => write!(f, "cannot read the capture: {kind}"),
            Self::TruncatedFileHeader { len } => {
                write!(f, "not a pcap file: {len} bytes, shorter than the 24-byte pcap file header")
            }
            Self::Pcapng => {
                write!(f, "pcapng files are not supported; convert with `editcap -F pcap in.pcapng out.pcap`")
            }
            Self::BadMagic { magic } => write!(f, "not a pcap file (magic number {magic:#010x})"),
            Self::UnsupportedLinkType { link_type } => {
                write!(f, "unsupported link type {link_type} (supported: 1 Ethernet, 101 raw IP, 228 raw IPv4)")
            }
            Self::TruncatedRecord { frame, offset, needed } => {
                write!(f, "truncated pcap: frame {frame} at byte {offset} needs {needed} more bytes than the file has")
            }
        }
    }
}

impl std::error::Error for CaptureReadError {}

/// Where bytes of a [`CapturedStream`] were captured: the segment that supplied them (segments are taken in sequence
/// order, so with overlapping retransmissions the one with the lowest sequence number wins).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamMark {
    /// Offset in [`CapturedStream::bytes`] of the first byte this segment added.
    pub offset: usize,
    /// 1-based frame number in the capture.
    pub frame: u64,
    /// Capture timestamp (since the Unix epoch for real captures, since the writer's epoch for ours).
    pub ts: Duration,
}

/// Bytes missing from a direction: the stream stops at `offset` because a later segment starts beyond it (a segment
/// was not captured) or a segment was cut by the capture's snapshot length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamGap {
    /// Offset in the stream where data is missing (= [`CapturedStream::bytes`] length).
    pub offset: usize,
    /// Number of missing bytes before the next captured byte (for a snapshot cut: the uncaptured rest of the segment).
    pub missing: u64,
    /// Frame of the segment that revealed the hole.
    pub frame: u64,
}

/// One direction of a TCP connection: the payload in sequence order, retransmissions removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CapturedStream {
    /// Payload bytes in sequence order, up to the first hole.
    pub bytes: Vec<u8>,
    /// One mark per segment that added bytes, in offset order.
    pub marks: Vec<StreamMark>,
    /// The first hole, if bytes were missing; the bytes after it are not in [`Self::bytes`].
    pub gap: Option<StreamGap>,
}

impl CapturedStream {
    /// The segment that delivered byte `offset`, or `None` when `offset` is past the end.
    pub fn mark_at(&self, offset: usize) -> Option<StreamMark> {
        if offset >= self.bytes.len() {
            return None;
        }
        let i = self.marks.partition_point(|m| m.offset <= offset);
        i.checked_sub(1).map(|i| self.marks[i])
    }
}

/// One TCP connection of a capture, with the payload of both directions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapturedFlow {
    /// The host (client) end: the sender of the SYN, else the end not on port 4420/8009, else the higher port.
    pub host: (Ipv4Addr, u16),
    /// The controller (server) end.
    pub controller: (Ipv4Addr, u16),
    /// Frame number of the connection's first frame.
    pub first_frame: u64,
    /// Host to controller bytes.
    pub to_controller: CapturedStream,
    /// Controller to host bytes.
    pub to_host: CapturedStream,
}

impl CapturedFlow {
    /// The stream of one direction.
    pub fn stream(&self, dir: Direction) -> &CapturedStream {
        match dir {
            Direction::HostToController => &self.to_controller,
            Direction::ControllerToHost => &self.to_host,
        }
    }
}

/// Reads a classic pcap (microsecond or nanosecond, either byte order; link types RAW, IPv4, Ethernet with up to two
/// VLAN tags) and reassembles its IPv4/TCP connections.
///
/// Frames that are not IPv4/TCP (ARP, IPv6, UDP, IP fragments) or whose IPv4/TCP headers are inconsistent are
/// skipped and counted ([`Self::skipped_frames`]). Segments are grouped by 4-tuple (a SYN after payload on the same
/// 4-tuple starts a new connection), ordered by sequence number (relative to the SYN, or to the lowest sequence number
/// seen when the capture has no SYN), and duplicates (retransmissions) are dropped. Streams beyond 2 GiB per direction
/// are not supported (sequence numbers are compared modulo 2^31).
///
/// ```
/// # use nvme_proto::capture::*;
/// # use std::time::Duration;
/// let mut w = PcapTcpWriter::new(Vec::new()).unwrap();
/// let mut flow = TcpFlow::numbered(1);
/// w.write(&mut flow, Direction::HostToController, Duration::ZERO, b"hello").unwrap();
/// let capture = PcapTcpReader::from_bytes(&w.into_inner()).unwrap();
/// assert_eq!(capture.flows()[0].to_controller.bytes, b"hello");
/// ```
#[derive(Clone, Debug)]
pub struct PcapTcpReader {
    link_type: u32,
    frames: u64,
    skipped: u64,
    flows: Vec<CapturedFlow>,
}

type Endpoint = (Ipv4Addr, u16);

struct Segment {
    seq: u32,
    frame: u64,
    ts: Duration,
    payload: Vec<u8>,
    /// Payload bytes the IP header announces but the capture did not keep (snapshot length).
    cut: u64,
}

#[derive(Default)]
struct DirBuilder {
    isn: Option<u32>,
    segments: Vec<Segment>,
}

struct FlowBuilder {
    a: Endpoint,
    b: Endpoint,
    first_frame: u64,
    syn_from: Option<Endpoint>,
    a_to_b: DirBuilder,
    b_to_a: DirBuilder,
}

struct TcpSegment<'a> {
    src: Endpoint,
    dst: Endpoint,
    seq: u32,
    syn: bool,
    ack: bool,
    payload: &'a [u8],
    cut: u64,
}

impl PcapTcpReader {
    /// Reads a whole capture from `r` (a file, stdin) and reassembles it.
    pub fn read<R: Read>(mut r: R) -> Result<Self, CaptureReadError> {
        let mut data = Vec::new();
        r.read_to_end(&mut data).map_err(|e| CaptureReadError::Io(e.kind()))?;
        Self::from_bytes(&data)
    }

    /// Reassembles a capture held in memory.
    pub fn from_bytes(data: &[u8]) -> Result<Self, CaptureReadError> {
        if data.len() >= 4 && data[..4] == [0x0A, 0x0D, 0x0D, 0x0A] {
            return Err(CaptureReadError::Pcapng);
        }
        if data.len() < 24 {
            return Err(CaptureReadError::TruncatedFileHeader { len: data.len() });
        }
        let magic = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
        let (big_endian, nanos) = match magic {
            0xA1B2_C3D4 => (true, false),
            0xA1B2_3C4D => (true, true),
            0xD4C3_B2A1 => (false, false),
            0x4D3C_B2A1 => (false, true),
            _ => return Err(CaptureReadError::BadMagic { magic }),
        };
        let u32_at = |b: &[u8], at: usize| {
            let w = [b[at], b[at + 1], b[at + 2], b[at + 3]];
            if big_endian { u32::from_be_bytes(w) } else { u32::from_le_bytes(w) }
        };
        // The link type is the low 16 bits of the last header word; the upper bits carry FCS information.
        let link_type = u32_at(data, 20) & 0xFFFF;
        if !matches!(link_type, LINKTYPE_ETHERNET | LINKTYPE_RAW | LINKTYPE_IPV4) {
            return Err(CaptureReadError::UnsupportedLinkType { link_type });
        }
        let mut reader = Self { link_type, frames: 0, skipped: 0, flows: Vec::new() };
        let mut builders: Vec<FlowBuilder> = Vec::new();
        let mut by_key: HashMap<(Endpoint, Endpoint), usize> = HashMap::new();
        let mut pos = 24;
        while pos < data.len() {
            let frame = reader.frames + 1;
            let rest = &data[pos..];
            if rest.len() < 16 {
                return Err(CaptureReadError::TruncatedRecord { frame, offset: pos, needed: 16 - rest.len() });
            }
            let ts_sec = u32_at(rest, 0);
            let ts_frac = u32_at(rest, 4);
            let incl_len = u32_at(rest, 8) as usize;
            let body = &rest[16..];
            if body.len() < incl_len {
                return Err(CaptureReadError::TruncatedRecord { frame, offset: pos, needed: incl_len - body.len() });
            }
            let ts = Duration::from_secs(u64::from(ts_sec))
                + if nanos {
                    Duration::from_nanos(u64::from(ts_frac))
                } else {
                    Duration::from_micros(u64::from(ts_frac))
                };
            reader.frames = frame;
            pos += 16 + incl_len;
            match parse_frame(link_type, &body[..incl_len]) {
                Some(seg) => add_segment(&mut builders, &mut by_key, frame, ts, seg),
                None => reader.skipped += 1,
            }
        }
        reader.flows = builders.into_iter().map(FlowBuilder::finish).collect();
        Ok(reader)
    }

    /// The link type of the capture.
    pub fn link_type(&self) -> u32 {
        self.link_type
    }

    /// Number of frames in the capture.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Frames that were skipped: not IPv4/TCP, IP fragments, or inconsistent IPv4/TCP headers.
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

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// The TCP segment in one frame, or `None` when the frame is not a usable IPv4/TCP segment.
fn parse_frame(link_type: u32, frame: &[u8]) -> Option<TcpSegment<'_>> {
    let ip = if link_type == LINKTYPE_ETHERNET {
        let mut at = 12;
        let mut ethertype = be16(frame.get(..14)?, 12);
        // Up to two 802.1Q / 802.1ad tags.
        for _ in 0..2 {
            if ethertype != 0x8100 && ethertype != 0x88A8 {
                break;
            }
            at += 4;
            ethertype = be16(frame.get(..at + 2)?, at);
        }
        if ethertype != 0x0800 {
            return None;
        }
        &frame[at + 2..]
    } else {
        frame
    };
    let first = *ip.first()?;
    let ihl = usize::from(first & 0x0F) * 4;
    if first >> 4 != 4 || ihl < 20 || ip.len() < ihl {
        return None;
    }
    // Total length 0 happens in captures of segmentation-offloaded packets: take the captured length.
    let total = match usize::from(be16(ip, 2)) {
        0 => ip.len(),
        t => t,
    };
    let frag = be16(ip, 6);
    if total < ihl || ip[9] != 6 || frag & 0x3FFF != 0 {
        return None; // not TCP, inconsistent, or a fragment (MF set or non-zero offset)
    }
    let src_ip = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst_ip = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    let tcp = &ip[ihl..];
    if tcp.len() < 20 {
        return None;
    }
    let doff = usize::from(tcp[12] >> 4) * 4;
    if doff < 20 || ihl + doff > total || tcp.len() < doff {
        return None;
    }
    let flags = tcp[13];
    let payload_len = total - ihl - doff;
    let captured = &tcp[doff..];
    // Ethernet pads short frames: the IP total length says where the payload ends.
    let payload = &captured[..captured.len().min(payload_len)];
    Some(TcpSegment {
        src: (src_ip, be16(tcp, 0)),
        dst: (dst_ip, be16(tcp, 2)),
        seq: u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]),
        syn: flags & 0x02 != 0,
        ack: flags & 0x10 != 0,
        payload,
        cut: (payload_len - payload.len()) as u64,
    })
}

fn add_segment(
    builders: &mut Vec<FlowBuilder>,
    by_key: &mut HashMap<(Endpoint, Endpoint), usize>,
    frame: u64,
    ts: Duration,
    seg: TcpSegment<'_>,
) {
    let key = if seg.src <= seg.dst { (seg.src, seg.dst) } else { (seg.dst, seg.src) };
    let pure_syn = seg.syn && !seg.ack;
    let index = match by_key.get(&key) {
        Some(&i) if !(pure_syn && builders[i].started()) => i,
        _ => {
            builders.push(FlowBuilder {
                a: seg.src,
                b: seg.dst,
                first_frame: frame,
                syn_from: None,
                a_to_b: DirBuilder::default(),
                b_to_a: DirBuilder::default(),
            });
            by_key.insert(key, builders.len() - 1);
            builders.len() - 1
        }
    };
    let flow = &mut builders[index];
    if pure_syn {
        flow.syn_from = Some(seg.src);
    }
    let dir = if seg.src == flow.a { &mut flow.a_to_b } else { &mut flow.b_to_a };
    if seg.syn {
        // A SYN takes one sequence number; data carried on a SYN (TCP Fast Open) is not read.
        dir.isn = Some(seg.seq);
        return;
    }
    if seg.payload.is_empty() && seg.cut == 0 {
        return;
    }
    dir.segments.push(Segment { seq: seg.seq, frame, ts, payload: seg.payload.to_vec(), cut: seg.cut });
}

impl FlowBuilder {
    /// Whether the connection already carried a SYN or payload (a new SYN then opens a new connection).
    fn started(&self) -> bool {
        self.syn_from.is_some()
            || self.a_to_b.isn.is_some()
            || self.b_to_a.isn.is_some()
            || !self.a_to_b.segments.is_empty()
            || !self.b_to_a.segments.is_empty()
    }

    fn finish(self) -> CapturedFlow {
        let is_server_port = |p: u16| p == NVME_TCP_PORT || p == NVME_TCP_DISCOVERY_PORT;
        let a_is_host = match self.syn_from {
            Some(e) => e == self.a,
            None => match (is_server_port(self.a.1), is_server_port(self.b.1)) {
                (false, true) => true,
                (true, false) => false,
                // The server usually listens on the lower port; on a tie, the first sender is the client.
                _ => self.a.1 >= self.b.1,
            },
        };
        let (a_to_b, b_to_a) = (self.a_to_b.finish(), self.b_to_a.finish());
        if a_is_host {
            CapturedFlow {
                host: self.a,
                controller: self.b,
                first_frame: self.first_frame,
                to_controller: a_to_b,
                to_host: b_to_a,
            }
        } else {
            CapturedFlow {
                host: self.b,
                controller: self.a,
                first_frame: self.first_frame,
                to_controller: b_to_a,
                to_host: a_to_b,
            }
        }
    }
}

impl DirBuilder {
    fn finish(mut self) -> CapturedStream {
        let mut out = CapturedStream::default();
        let Some(first) = self.segments.first().map(|s| s.seq) else {
            return out;
        };
        // Offsets relative to a base: the SYN's sequence number + 1, or the lowest sequence number seen (compared
        // modulo 2^31 around the first segment's).
        let base = match self.isn {
            Some(isn) => isn.wrapping_add(1),
            None => {
                let lowest = self.segments.iter().map(|s| s.seq.wrapping_sub(first) as i32).min().unwrap_or(0);
                first.wrapping_add(lowest as u32)
            }
        };
        let rel = |seq: u32| u64::from(seq.wrapping_sub(base));
        // Segments before the base (only possible with a SYN) wrap to offsets >= 2^31: dropped.
        self.segments.retain(|s| rel(s.seq) < 1 << 31);
        self.segments.sort_by_key(|s| (rel(s.seq), s.frame));
        let mut cursor: u64 = 0;
        // The furthest end announced by an IP header, with its frame: beyond `cursor` when a snapshot cut a segment
        // and no retransmission filled the rest.
        let mut announced: (u64, u64) = (0, 0);
        for s in &self.segments {
            let start = rel(s.seq);
            let end = start + s.payload.len() as u64;
            if start > cursor {
                out.gap = Some(StreamGap { offset: out.bytes.len(), missing: start - cursor, frame: s.frame });
                return out;
            }
            if end > cursor {
                out.marks.push(StreamMark { offset: out.bytes.len(), frame: s.frame, ts: s.ts });
                out.bytes.extend_from_slice(&s.payload[(cursor - start) as usize..]);
                cursor = end;
            }
            if end + s.cut > announced.0 {
                announced = (end + s.cut, s.frame);
            }
        }
        if announced.0 > cursor {
            out.gap = Some(StreamGap { offset: out.bytes.len(), missing: announced.0 - cursor, frame: announced.1 });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;
    use std::vec;

    #[test]
    fn segments_and_sequence_numbers() {
        let mut w = PcapTcpWriter::new(Vec::new()).unwrap();
        let mut flow = TcpFlow::numbered(1);
        w.write(&mut flow, Direction::HostToController, Duration::ZERO, &[7u8; 3000]).unwrap();
        w.write(&mut flow, Direction::ControllerToHost, Duration::from_millis(1), &[1u8; 10]).unwrap();
        assert_eq!(flow.seq_h2c, 3001);
        assert_eq!(flow.seq_c2h, 11);
        let bytes = w.into_inner();
        // 24-byte file header + 4 records (1448, 1448, 104, 10 payload bytes + 40 header bytes + 16 record header).
        assert_eq!(bytes.len(), 24 + 4 * 16 + 4 * 40 + 3000 + 10);
        // A valid IPv4 header sums to zero.
        let ip = &bytes[24 + 16..24 + 16 + 20];
        assert_eq!(checksum(&[ip]), 0);
    }

    const HOST: Endpoint = (Ipv4Addr::new(10, 0, 0, 1), 40001);
    const CTRL: Endpoint = (Ipv4Addr::new(10, 0, 0, 2), NVME_TCP_PORT);

    /// A little-endian microsecond classic pcap with the given link type and frames (timestamp in ms, bytes).
    fn pcap(link_type: u32, frames: &[(u64, Vec<u8>)]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&0xA1B2_C3D4u32.to_le_bytes());
        out.extend_from_slice(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        out.extend_from_slice(&65535u32.to_le_bytes());
        out.extend_from_slice(&link_type.to_le_bytes());
        for (ms, f) in frames {
            out.extend_from_slice(&((ms / 1000) as u32).to_le_bytes());
            out.extend_from_slice(&(((ms % 1000) * 1000) as u32).to_le_bytes());
            out.extend_from_slice(&(f.len() as u32).to_le_bytes());
            out.extend_from_slice(&(f.len() as u32).to_le_bytes());
            out.extend_from_slice(f);
        }
        out
    }

    /// A raw IPv4/TCP frame (ACK|PSH) from `src` to `dst` with sequence number `seq`.
    fn seg(src: Endpoint, dst: Endpoint, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        build_frame(&mut f, src, dst, seq, 0, payload);
        f
    }

    fn with_flags(mut frame: Vec<u8>, flags: u8) -> Vec<u8> {
        frame[33] = flags;
        frame
    }

    #[test]
    fn reader_round_trips_the_writer() {
        let mut w = PcapTcpWriter::new(Vec::new()).unwrap();
        let mut admin = TcpFlow::numbered(1);
        let mut io = TcpFlow::numbered(2);
        let big: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
        w.write(&mut admin, Direction::HostToController, Duration::from_millis(1), b"ab").unwrap();
        w.write(&mut io, Direction::HostToController, Duration::from_millis(2), &big).unwrap();
        w.write(&mut admin, Direction::ControllerToHost, Duration::from_millis(3), b"cd").unwrap();
        w.write(&mut admin, Direction::HostToController, Duration::from_millis(4), b"ef").unwrap();
        let r = PcapTcpReader::from_bytes(&w.into_inner()).unwrap();
        assert_eq!(r.link_type(), LINKTYPE_RAW);
        assert_eq!(r.frames(), 3 + 4);
        assert_eq!(r.skipped_frames(), 0);
        let flows = r.flows();
        assert_eq!(flows.len(), 2);
        assert_eq!(flows[0].host, HOST);
        assert_eq!(flows[0].controller, CTRL);
        assert_eq!(flows[0].first_frame, 1);
        assert_eq!(flows[0].to_controller.bytes, b"abef");
        assert_eq!(flows[0].stream(Direction::ControllerToHost).bytes, b"cd");
        assert_eq!(flows[1].host.1, 40002);
        assert_eq!(flows[1].to_controller.bytes, big);
        assert!(flows[1].to_host.bytes.is_empty());
        assert_eq!(flows[1].to_controller.gap, None);
        // Four segments (1448 × 3 + 656), frames 2..=5, all at 2 ms.
        let marks = &flows[1].to_controller.marks;
        assert_eq!(
            marks.iter().map(|m| (m.offset, m.frame)).collect::<Vec<_>>(),
            [(0, 2), (1448, 3), (2896, 4), (4344, 5)]
        );
        assert_eq!(flows[0].to_controller.mark_at(2).unwrap().ts, Duration::from_millis(4));
        assert_eq!(flows[0].to_controller.mark_at(1).unwrap().frame, 1);
        assert_eq!(flows[0].to_controller.mark_at(4), None);
    }

    #[test]
    fn reader_orders_segments_and_drops_retransmissions() {
        let frames = [
            (1, seg(HOST, CTRL, 1005, b"56789")),
            (2, seg(HOST, CTRL, 1000, b"01234")),
            (3, seg(HOST, CTRL, 1003, b"34567")), // overlapping retransmission
            (4, seg(HOST, CTRL, 1000, b"01234")), // duplicate
            (5, seg(HOST, CTRL, 1010, b"AB")),
        ];
        let r = PcapTcpReader::from_bytes(&pcap(LINKTYPE_RAW, &frames)).unwrap();
        let s = &r.flows()[0].to_controller;
        assert_eq!(s.bytes, b"0123456789AB");
        assert_eq!(s.gap, None);
        assert_eq!(s.marks.iter().map(|m| (m.offset, m.frame)).collect::<Vec<_>>(), [(0, 2), (5, 3), (8, 1), (10, 5)]);
    }

    #[test]
    fn reader_reports_the_first_hole() {
        let frames =
            [(1, seg(HOST, CTRL, 7, b"abc")), (2, seg(HOST, CTRL, 20, b"xyz")), (3, seg(HOST, CTRL, 10, b"de"))];
        let r = PcapTcpReader::from_bytes(&pcap(LINKTYPE_RAW, &frames)).unwrap();
        let s = &r.flows()[0].to_controller;
        assert_eq!(s.bytes, b"abcde");
        assert_eq!(s.gap, Some(StreamGap { offset: 5, missing: 8, frame: 2 }));
    }

    #[test]
    fn reader_reports_a_snapshot_cut() {
        let mut f = seg(HOST, CTRL, 1, b"0123456789");
        f.truncate(f.len() - 4); // the capture kept 6 of 10 payload bytes
        let r = PcapTcpReader::from_bytes(&pcap(LINKTYPE_RAW, &[(0, f)])).unwrap();
        let s = &r.flows()[0].to_controller;
        assert_eq!(s.bytes, b"012345");
        assert_eq!(s.gap, Some(StreamGap { offset: 6, missing: 4, frame: 1 }));
    }

    #[test]
    fn reader_uses_the_syn_for_roles_and_base() {
        // Ports 5000 and 6000, neither is 4420: the SYN sender is the host, even on the higher port.
        let client = (Ipv4Addr::new(192, 168, 1, 9), 5000);
        let server = (Ipv4Addr::new(192, 168, 1, 1), 6000);
        let frames = [
            (0, with_flags(seg(client, server, 99, b""), 0x02)),
            (1, with_flags(seg(server, client, 500, b""), 0x12)),
            (2, seg(client, server, 100, b"req")),
            (3, seg(server, client, 501, b"resp")),
            // A new connection on the same 4-tuple.
            (4, with_flags(seg(client, server, 7, b""), 0x02)),
            (5, seg(client, server, 8, b"again")),
        ];
        let r = PcapTcpReader::from_bytes(&pcap(LINKTYPE_RAW, &frames)).unwrap();
        let flows = r.flows();
        assert_eq!(flows.len(), 2);
        assert_eq!((flows[0].host, flows[0].controller), (client, server));
        assert_eq!(flows[0].to_controller.bytes, b"req");
        assert_eq!(flows[0].to_host.bytes, b"resp");
        assert_eq!(flows[1].first_frame, 5);
        assert_eq!(flows[1].to_controller.bytes, b"again");
        // Without a SYN, a lost first segment is invisible, but with one the hole shows.
        let frames = [(0, with_flags(seg(client, server, 99, b""), 0x02)), (1, seg(client, server, 103, b"late"))];
        let r = PcapTcpReader::from_bytes(&pcap(LINKTYPE_RAW, &frames)).unwrap();
        assert_eq!(r.flows()[0].to_controller.gap, Some(StreamGap { offset: 0, missing: 3, frame: 2 }));
    }

    #[test]
    fn reader_reads_ethernet_with_vlan_and_padding_and_skips_others() {
        let eth = |ethertype: &[u8], ip: &[u8]| {
            let mut f = [[0x02u8; 6], [0x04u8; 6]].concat();
            f.extend_from_slice(ethertype);
            f.extend_from_slice(ip);
            f
        };
        let mut padded = eth(&[0x08, 0x00], &seg(CTRL, HOST, 1, b"hi"));
        padded.extend_from_slice(&[0xEE; 6]); // Ethernet padding after the IP packet
        let tagged = eth(&[0x81, 0x00, 0x00, 0x05, 0x08, 0x00], &seg(CTRL, HOST, 3, b"!"));
        let arp = eth(&[0x08, 0x06], &[0; 28]);
        let mut udp = seg(HOST, CTRL, 1, b"x");
        udp[9] = 17;
        let mut fragment = seg(HOST, CTRL, 1, b"x");
        fragment[6] = 0x20; // More Fragments
        let frames =
            [(0, padded), (1, arp), (2, tagged), (3, eth(&[0x08, 0x00], &udp)), (4, eth(&[0x08, 0x00], &fragment))];
        let r = PcapTcpReader::from_bytes(&pcap(LINKTYPE_ETHERNET, &frames)).unwrap();
        assert_eq!(r.frames(), 5);
        assert_eq!(r.skipped_frames(), 3);
        assert_eq!(r.flows().len(), 1);
        assert_eq!(r.flows()[0].controller, CTRL);
        assert_eq!(r.flows()[0].to_host.bytes, b"hi!");
        // Raw IP with an IPv6 packet and a TCP header whose data offset is too small: both skipped.
        let mut v6 = seg(HOST, CTRL, 1, b"x");
        v6[0] = 0x60;
        let mut bad_doff = seg(HOST, CTRL, 1, b"x");
        bad_doff[32] = 0x40;
        let r = PcapTcpReader::from_bytes(&pcap(LINKTYPE_RAW, &[(0, v6), (1, bad_doff), (2, vec![0x45])])).unwrap();
        assert_eq!((r.frames(), r.skipped_frames(), r.flows().len()), (3, 3, 0));
    }

    #[test]
    fn reader_reads_big_endian_nanosecond_files() {
        let f = seg(HOST, CTRL, 1, b"ns");
        let mut out = Vec::new();
        out.extend_from_slice(&0xA1B2_3C4Du32.to_be_bytes());
        out.extend_from_slice(&[0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF]);
        out.extend_from_slice(&LINKTYPE_RAW.to_be_bytes());
        out.extend_from_slice(&3u32.to_be_bytes());
        out.extend_from_slice(&7u32.to_be_bytes());
        out.extend_from_slice(&(f.len() as u32).to_be_bytes());
        out.extend_from_slice(&(f.len() as u32).to_be_bytes());
        out.extend_from_slice(&f);
        let r = PcapTcpReader::read(&out[..]).unwrap();
        let s = &r.flows()[0].to_controller;
        assert_eq!(s.bytes, b"ns");
        assert_eq!(s.marks[0].ts, Duration::new(3, 7));
    }

    #[test]
    fn reader_errors() {
        let good = pcap(LINKTYPE_RAW, &[(0, seg(HOST, CTRL, 1, b"abcdef"))]);
        assert_eq!(
            PcapTcpReader::from_bytes(&good[..10]).unwrap_err(),
            CaptureReadError::TruncatedFileHeader { len: 10 }
        );
        assert_eq!(
            PcapTcpReader::from_bytes(&good[..30]).unwrap_err(),
            CaptureReadError::TruncatedRecord { frame: 1, offset: 24, needed: 10 }
        );
        assert_eq!(
            PcapTcpReader::from_bytes(&good[..good.len() - 1]).unwrap_err(),
            CaptureReadError::TruncatedRecord { frame: 1, offset: 24, needed: 1 }
        );
        let mut ng = good.clone();
        ng[..4].copy_from_slice(&[0x0A, 0x0D, 0x0D, 0x0A]);
        assert_eq!(PcapTcpReader::from_bytes(&ng).unwrap_err(), CaptureReadError::Pcapng);
        let text = b"this is not a capture file at all";
        assert_eq!(PcapTcpReader::from_bytes(text).unwrap_err(), CaptureReadError::BadMagic { magic: 0x7468_6973 });
        let sll = pcap(113, &[]);
        let err = PcapTcpReader::from_bytes(&sll).unwrap_err();
        assert_eq!(err, CaptureReadError::UnsupportedLinkType { link_type: 113 });
        assert!(err.to_string().contains("unsupported link type 113"));
        // A huge announced record length is an error, not an allocation.
        let mut huge = good.clone();
        huge[24 + 8..24 + 12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(PcapTcpReader::from_bytes(&huge), Err(CaptureReadError::TruncatedRecord { frame: 1, .. })));
        // An empty capture is fine.
        let r = PcapTcpReader::from_bytes(&pcap(LINKTYPE_RAW, &[])).unwrap();
        assert_eq!((r.frames(), r.flows().len()), (0, 0));
    }
}
