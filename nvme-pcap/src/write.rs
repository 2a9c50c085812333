//! The writer: NVMe/TCP byte streams as IPv4 or IPv6 TCP segments in a classic pcap.

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use etherparse::PacketBuilder;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, PcapError};

use crate::NVME_TCP_PORT;

/// Largest TCP payload put in one frame (the usual Ethernet MSS).
pub const MSS: usize = 1448;

/// Which way a payload travels on a [`TcpFlow`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Host to controller (client to server).
    HostToController,
    /// Controller to host (server to client).
    ControllerToHost,
}

impl Direction {
    /// The other direction.
    pub fn reverse(self) -> Direction {
        match self {
            Direction::HostToController => Direction::ControllerToHost,
            Direction::ControllerToHost => Direction::HostToController,
        }
    }
}

/// One TCP connection in a capture: the two ends and the next sequence number of each direction.
///
/// Both ends IPv4 give IPv4 frames; otherwise both are written as IPv6 (an IPv4 end as its IPv4-mapped IPv6 address,
/// `::ffff:a.b.c.d`), since one TCP connection has one IP version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpFlow {
    host: SocketAddr,
    controller: SocketAddr,
    seq_h2c: u32,
    seq_c2h: u32,
}

impl TcpFlow {
    /// A flow between `host` and `controller`: socket addresses, or (address, port) pairs.
    pub fn new(host: impl Into<SocketAddr>, controller: impl Into<SocketAddr>) -> Self {
        Self { host: host.into(), controller: controller.into(), seq_h2c: 1, seq_c2h: 1 }
    }

    /// The `n`-th host connection to a controller on 10.0.0.2:4420, from 10.0.0.1 port 40000 + n: distinct flows for
    /// the paths of one capture.
    pub fn numbered(n: u16) -> Self {
        Self::new((Ipv4Addr::new(10, 0, 0, 1), 40000 + n), (Ipv4Addr::new(10, 0, 0, 2), NVME_TCP_PORT))
    }

    /// The host (client) end.
    pub fn host(&self) -> SocketAddr {
        self.host
    }

    /// The controller (server) end.
    pub fn controller(&self) -> SocketAddr {
        self.controller
    }

    /// The sequence number the next byte sent in `dir` gets (the first byte of each direction is number 1).
    pub fn next_seq(&self, dir: Direction) -> u32 {
        match dir {
            Direction::HostToController => self.seq_h2c,
            Direction::ControllerToHost => self.seq_c2h,
        }
    }
}

/// Writes TCP segments carrying NVMe/TCP bytes into a classic pcap (microsecond timestamps, link type raw IP).
pub struct PcapTcpWriter<W: Write> {
    writer: PcapWriter<W>,
    frame: Vec<u8>,
}

impl<W: Write> std::fmt::Debug for PcapTcpWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PcapTcpWriter")
    }
}

fn io_error(e: PcapError) -> io::Error {
    match e {
        PcapError::IoError(e) => e,
        other => io::Error::new(io::ErrorKind::InvalidInput, other.to_string()),
    }
}

impl<W: Write> PcapTcpWriter<W> {
    /// Starts a capture: writes the pcap file header.
    pub fn new(out: W) -> io::Result<Self> {
        let header = PcapHeader { datalink: DataLink::RAW, ..PcapHeader::default() };
        Ok(Self { writer: PcapWriter::with_header(out, header).map_err(io_error)?, frame: Vec::new() })
    }

    /// Records `payload` sent on `flow` in direction `dir` at time `ts` (since the Unix epoch, or since any epoch
    /// the caller picks, below 2^32 s), cut into segments of at most [`MSS`] bytes (ACK and PSH set, window 65535,
    /// IP and TCP checksums filled in). An empty payload writes nothing.
    pub fn write(&mut self, flow: &mut TcpFlow, dir: Direction, ts: Duration, payload: &[u8]) -> io::Result<()> {
        for chunk in payload.chunks(MSS) {
            let (src, dst, seq, ack) = match dir {
                Direction::HostToController => (flow.host, flow.controller, &mut flow.seq_h2c, flow.seq_c2h),
                Direction::ControllerToHost => (flow.controller, flow.host, &mut flow.seq_c2h, flow.seq_h2c),
            };
            build_frame(&mut self.frame, src, dst, *seq, ack, chunk)?;
            *seq = seq.wrapping_add(chunk.len() as u32);
            let len = self.frame.len() as u32;
            self.writer.write_packet(&PcapPacket::new(ts, len, &self.frame)).map_err(io_error)?;
        }
        Ok(())
    }

    /// Finishes the capture and returns the underlying writer.
    pub fn into_inner(self) -> W {
        self.writer.into_writer()
    }
}

/// An IPv4 or IPv6 packet carrying one TCP segment (ACK|PSH) from `src` to `dst`.
pub(crate) fn build_frame(
    out: &mut Vec<u8>,
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    ack: u32,
    payload: &[u8],
) -> io::Result<()> {
    out.clear();
    let v6 = |ip: IpAddr| match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    };
    let ip = match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => PacketBuilder::ipv4(s.octets(), d.octets(), 64),
        (s, d) => PacketBuilder::ipv6(v6(s).octets(), v6(d).octets(), 64),
    };
    ip.tcp(src.port(), dst.port(), seq, 65535)
        .ack(ack)
        .psh()
        .write(out, payload)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))
}
