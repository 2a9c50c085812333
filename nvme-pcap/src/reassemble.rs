//! Reassembly: TCP segments grouped into connections, each direction's payload in sequence order.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::write::Direction;
use crate::{NVME_TCP_DISCOVERY_PORT, NVME_TCP_PORT};

type Endpoint = SocketAddr;

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
    pub host: SocketAddr,
    /// The controller (server) end.
    pub controller: SocketAddr,
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

/// One frame's TCP segment, as the reader found it.
pub(crate) struct TcpSegment<'a> {
    pub(crate) src: Endpoint,
    pub(crate) dst: Endpoint,
    pub(crate) seq: u32,
    pub(crate) syn: bool,
    pub(crate) ack: bool,
    pub(crate) payload: &'a [u8],
    pub(crate) cut: u64,
}

/// Segments as they are read, grouped by connection.
#[derive(Default)]
pub(crate) struct Reassembler {
    builders: Vec<FlowBuilder>,
    by_key: HashMap<(Endpoint, Endpoint), usize>,
}

impl Reassembler {
    /// Adds the segment of frame `frame` (1-based), captured at `ts`.
    pub(crate) fn add(&mut self, frame: u64, ts: Duration, seg: TcpSegment<'_>) {
        add_segment(&mut self.builders, &mut self.by_key, frame, ts, seg);
    }

    /// The connections, in the order of their first frame.
    pub(crate) fn finish(self) -> Vec<CapturedFlow> {
        self.builders.into_iter().map(FlowBuilder::finish).collect()
    }
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
            None => match (is_server_port(self.a.port()), is_server_port(self.b.port())) {
                (false, true) => true,
                (true, false) => false,
                // The server usually listens on the lower port; on a tie, the first sender is the client.
                _ => self.a.port() >= self.b.port(),
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
