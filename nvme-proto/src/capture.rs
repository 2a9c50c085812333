//! Synthetic pcap captures of NVMe/TCP byte streams (feature `pcap`).
//!
//! A program that owns its sockets (a test, a simulator, a driver) records what it sent and received, so no capture
//! privilege is needed and the file is deterministic. Each [`TcpFlow`] is one TCP connection between a host
//! (client) and a controller (server, port 4420 by default, the port Wireshark binds to NVMe/TCP). Frames are
//! IPv4 packets in a classic pcap with link type `LINKTYPE_RAW` (101); TCP sequence numbers run on per direction, as
//! tshark needs to reassemble PDUs (../shared/interop/tshark.md §2). Payloads larger than [`MSS`] are cut into
//! several segments, like a real stack would. IP and TCP checksums are filled in.

use std::io::Write;
use std::net::Ipv4Addr;
use std::time::Duration;
use std::vec::Vec;

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, PcapError};

/// The IANA NVMe/TCP port (nvme-tcp.md §10).
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
