//! # nvme-pcap
//!
//! Captures of NVMe/TCP byte streams, both ways, for tests, simulators, drivers and decoders of the nvme-recovery
//! workspace (or any NVMe/TCP code: nothing here knows a PDU).
//!
//! * [`PcapTcpWriter`] writes what a program sent and received on its own connections as a classic pcap (link type
//!   raw IP), each [`TcpFlow`] one TCP connection over IPv4 or IPv6 with running sequence numbers and checksums, so
//!   Wireshark and tshark reassemble and decode the NVMe/TCP PDUs (port 4420 by default) without any capture
//!   privilege, and the file is deterministic.
//! * [`PcapTcpReader`] reads a classic pcap or a pcapng (what Wireshark writes by default): Ethernet (VLAN tags
//!   included), Linux cooked (`tshark -i any`) or raw IP frames; IPv4 and IPv6; TCP. It groups the segments by
//!   connection and gives each direction's payload in sequence order, retransmissions removed, with the frame and
//!   time of every byte and the first hole, ready for a stream deframer such as nvme-proto's
//!   `nvme_proto::tcp::Deframer`.
//!
//! Link, IP and TCP headers are parsed and built by [etherparse](https://docs.rs/etherparse); pcap and pcapng
//! records by [pcap-file](https://docs.rs/pcap-file). This crate does the NVMe/TCP part: flows, directions, which end
//! is the controller, reassembly, and errors a user can act on ([`CaptureReadError`], small and `Copy`).
//!
//! The shape of capture tshark accepts (consistent sequence numbers per direction, port 4420, an optional SYN) is
//! recorded with the test vectors in nvme-proto's `nvme_proto::notes::vectors` §4.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use nvme_pcap::{Direction, PcapTcpReader, PcapTcpWriter, TcpFlow};
//!
//! let mut w = PcapTcpWriter::new(Vec::new())?;
//! let mut flow = TcpFlow::numbered(1); // 10.0.0.1:40001 -> 10.0.0.2:4420
//! w.write(&mut flow, Direction::HostToController, Duration::ZERO, &[0x00; 128])?; // an ICReq's bytes
//! w.write(&mut flow, Direction::ControllerToHost, Duration::from_millis(1), &[0x01; 128])?;
//! let pcap = w.into_inner();
//!
//! let capture = PcapTcpReader::from_bytes(&pcap)?;
//! let flow = &capture.flows()[0];
//! assert_eq!(flow.controller.port(), 4420);
//! assert_eq!(flow.to_controller.bytes, [0x00; 128]);
//! assert_eq!(flow.to_host.marks[0].frame, 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod read;
mod reassemble;
mod write;

#[cfg(test)]
mod tests;

pub use read::{
    CaptureFormat, CaptureReadError, LINKTYPE_ETHERNET, LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_LINUX_SLL, LINKTYPE_RAW,
    PcapTcpReader,
};
pub use reassemble::{CapturedFlow, CapturedStream, StreamGap, StreamMark};
pub use write::{Direction, MSS, PcapTcpWriter, TcpFlow};

/// The IANA NVMe/TCP port (NVMe/TCP Transport Specification, "Port Numbers"); Wireshark decodes it as NVMe/TCP.
pub const NVME_TCP_PORT: u16 = 4420;

/// The NVMe/TCP discovery port, also taken as a controller port when telling host from controller.
pub const NVME_TCP_DISCOVERY_PORT: u16 = 8009;

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
