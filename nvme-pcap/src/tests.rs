//! The writer and the reader against each other, and the reader against hand-built files: classic pcap in both byte
//! orders and resolutions, pcapng with several interfaces and timestamp resolutions, Ethernet (VLAN), Linux cooked and
//! raw IP frames over IPv4 and IPv6, retransmissions, holes, snapshot cuts, and every error.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use etherparse::{Ipv4Header, PacketBuilder, SlicedPacket, TcpHeader, TransportSlice};
use pcap_file::DataLink;
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::{InterfaceDescriptionBlock, InterfaceDescriptionOption};
use pcap_file::pcapng::blocks::simple_packet::SimplePacketBlock;

use crate::write::build_frame;
use crate::*;

const HOST: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 40001);
const CTRL: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), NVME_TCP_PORT);
const HOST6: SocketAddr = SocketAddr::new(IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1)), 51000);
const CTRL6: SocketAddr = SocketAddr::new(IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2)), NVME_TCP_PORT);

#[test]
fn segments_sequence_numbers_and_checksums() {
    let mut w = PcapTcpWriter::new(Vec::new()).unwrap();
    let mut flow = TcpFlow::numbered(1);
    w.write(&mut flow, Direction::HostToController, Duration::ZERO, &[7u8; 3000]).unwrap();
    w.write(&mut flow, Direction::ControllerToHost, Duration::from_millis(1), &[1u8; 10]).unwrap();
    assert_eq!(flow.next_seq(Direction::HostToController), 3001);
    assert_eq!(flow.next_seq(Direction::ControllerToHost), 11);
    let bytes = w.into_inner();
    // 24-byte file header + 4 records (1448, 1448, 104, 10 payload bytes + 40 header bytes + 16 record header).
    assert_eq!(bytes.len(), 24 + 4 * 16 + 4 * 40 + 3000 + 10);
    // The first frame: etherparse (strict) agrees on every header field and both checksums are right.
    let frame = &bytes[24 + 16..24 + 16 + 40 + 1448];
    let p = SlicedPacket::from_ip(frame).unwrap();
    let Some(etherparse::NetSlice::Ipv4(ip)) = &p.net else { panic!("not IPv4: {p:?}") };
    let ip_header: Ipv4Header = ip.header().to_header();
    assert_eq!(ip_header.header_checksum, ip_header.calc_header_checksum());
    assert_eq!((ip_header.source, ip_header.destination), ([10, 0, 0, 1], [10, 0, 0, 2]));
    let Some(TransportSlice::Tcp(tcp)) = &p.transport else { panic!("not TCP") };
    let tcp_header: TcpHeader = tcp.to_header();
    assert_eq!((tcp_header.source_port, tcp_header.destination_port), (40001, 4420));
    assert_eq!((tcp_header.sequence_number, tcp_header.ack, tcp_header.psh), (1, true, true));
    assert_eq!(tcp_header.checksum, tcp_header.calc_checksum_ipv4(&ip_header, tcp.payload()).unwrap());
    assert_eq!(tcp.payload(), &[7u8; 1448][..]);
}

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

/// A raw IP frame (ACK|PSH) from `src` to `dst` with sequence number `seq`.
fn seg(src: SocketAddr, dst: SocketAddr, seq: u32, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    build_frame(&mut f, src, dst, seq, 0, payload).unwrap();
    f
}

/// A raw IPv4 frame with other TCP flags (the flags byte of an option-less IPv4/TCP packet is at 33).
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
    assert_eq!(r.format(), CaptureFormat::Pcap);
    assert_eq!(r.frames(), 3 + 4);
    assert_eq!(r.skipped_frames(), 0);
    let flows = r.flows();
    assert_eq!(flows.len(), 2);
    assert_eq!(flows[0].host, HOST);
    assert_eq!(flows[0].controller, CTRL);
    assert_eq!(flows[0].first_frame, 1);
    assert_eq!(flows[0].to_controller.bytes, b"abef");
    assert_eq!(flows[0].stream(Direction::ControllerToHost).bytes, b"cd");
    assert_eq!(flows[1].host.port(), 40002);
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
fn ipv6_flows_round_trip_and_mixed_ends_are_mapped() {
    let mut w = PcapTcpWriter::new(Vec::new()).unwrap();
    let mut v6 = TcpFlow::new(HOST6, CTRL6);
    let mut mixed = TcpFlow::new(HOST, CTRL6);
    let big: Vec<u8> = (0..4000u32).map(|i| (i * 7) as u8).collect();
    w.write(&mut v6, Direction::HostToController, Duration::from_millis(1), &big).unwrap();
    w.write(&mut v6, Direction::ControllerToHost, Duration::from_millis(2), b"resp").unwrap();
    w.write(&mut mixed, Direction::HostToController, Duration::from_millis(3), b"x").unwrap();
    let bytes = w.into_inner();
    // An IPv6 frame: 40-byte IPv6 header, 20-byte TCP header; etherparse (strict) checks the TCP checksum.
    let frame = &bytes[24 + 16..24 + 16 + 60 + 1448];
    let p = SlicedPacket::from_ip(frame).unwrap();
    let Some(etherparse::NetSlice::Ipv6(ip)) = &p.net else { panic!("not IPv6: {p:?}") };
    let Some(TransportSlice::Tcp(tcp)) = &p.transport else { panic!("not TCP") };
    let tcp_header = tcp.to_header();
    assert_eq!(tcp_header.checksum, tcp_header.calc_checksum_ipv6(&ip.header().to_header(), tcp.payload()).unwrap());

    let r = PcapTcpReader::from_bytes(&bytes).unwrap();
    assert_eq!((r.frames(), r.skipped_frames()), (3 + 1 + 1, 0));
    let flows = r.flows();
    assert_eq!(flows.len(), 2);
    assert_eq!((flows[0].host, flows[0].controller), (HOST6, CTRL6));
    assert_eq!(flows[0].to_controller.bytes, big);
    assert_eq!(flows[0].to_host.bytes, b"resp");
    let mapped = SocketAddr::new(IpAddr::V6(Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped()), 40001);
    assert_eq!((flows[1].host, flows[1].controller), (mapped, CTRL6));
    assert_eq!(flows[1].to_controller.bytes, b"x");
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
    let frames = [(1, seg(HOST, CTRL, 7, b"abc")), (2, seg(HOST, CTRL, 20, b"xyz")), (3, seg(HOST, CTRL, 10, b"de"))];
    let r = PcapTcpReader::from_bytes(&pcap(LINKTYPE_RAW, &frames)).unwrap();
    let s = &r.flows()[0].to_controller;
    assert_eq!(s.bytes, b"abcde");
    assert_eq!(s.gap, Some(StreamGap { offset: 5, missing: 8, frame: 2 }));
}

#[test]
fn reader_reports_a_snapshot_cut_over_ipv4_and_ipv6() {
    for (src, dst) in [(HOST, CTRL), (HOST6, CTRL6)] {
        let mut f = seg(src, dst, 1, b"0123456789");
        f.truncate(f.len() - 4); // the capture kept 6 of 10 payload bytes
        let r = PcapTcpReader::from_bytes(&pcap(LINKTYPE_RAW, &[(0, f)])).unwrap();
        let s = &r.flows()[0].to_controller;
        assert_eq!(s.bytes, b"012345");
        assert_eq!(s.gap, Some(StreamGap { offset: 6, missing: 4, frame: 1 }));
    }
}

#[test]
fn reader_uses_the_syn_for_roles_and_base() {
    // Ports 5000 and 6000, neither is 4420: the SYN sender is the host, even on the higher port.
    let client: SocketAddr = "192.168.1.9:6000".parse().unwrap();
    let server: SocketAddr = "192.168.1.1:5000".parse().unwrap();
    let frames = [
        (0, with_flags(seg(client, server, 99, b""), 0x02)),
        (1, with_flags(seg(server, client, 500, b""), 0x12)),
        (2, seg(client, server, 100, b"req")),
        (3, seg(server, client, 501, b"resp")),
        // A new connection on the same addresses and ports.
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
    // Without a SYN and neither port 4420 nor 8009: the higher port is the host.
    let r = PcapTcpReader::from_bytes(&pcap(LINKTYPE_RAW, &[(0, seg(server, client, 1, b"x"))])).unwrap();
    assert_eq!((r.flows()[0].host, r.flows()[0].to_host.bytes.as_slice()), (client, &b"x"[..]));
}

fn eth(ethertype: &[u8], ip: &[u8]) -> Vec<u8> {
    let mut f = [[0x02u8; 6], [0x04u8; 6]].concat();
    f.extend_from_slice(ethertype);
    f.extend_from_slice(ip);
    f
}

#[test]
fn reader_reads_ethernet_with_vlan_and_padding_and_skips_others() {
    let mut padded = eth(&[0x08, 0x00], &seg(CTRL, HOST, 1, b"hi"));
    padded.extend_from_slice(&[0xEE; 6]); // Ethernet padding after the IP packet
    let tagged = eth(&[0x81, 0x00, 0x00, 0x05, 0x08, 0x00], &seg(CTRL, HOST, 3, b"!"));
    let arp = eth(&[0x08, 0x06], &[0; 28]);
    let mut udp = seg(HOST, CTRL, 1, b"x");
    udp[9] = 17;
    let mut fragment = seg(HOST, CTRL, 1, b"x");
    fragment[6] = 0x20; // More Fragments
    let v6 = eth(&[0x86, 0xDD], &seg(HOST6, CTRL6, 1, b"six"));
    let frames = [
        (0, padded),
        (1, arp),
        (2, tagged),
        (3, eth(&[0x08, 0x00], &udp)),
        (4, eth(&[0x08, 0x00], &fragment)),
        (5, v6),
    ];
    let r = PcapTcpReader::from_bytes(&pcap(LINKTYPE_ETHERNET, &frames)).unwrap();
    assert_eq!(r.frames(), 6);
    assert_eq!(r.skipped_frames(), 3);
    assert_eq!(r.flows().len(), 2);
    assert_eq!(r.flows()[0].controller, CTRL);
    assert_eq!(r.flows()[0].to_host.bytes, b"hi!");
    assert_eq!((r.flows()[1].host, r.flows()[1].to_controller.bytes.as_slice()), (HOST6, &b"six"[..]));
    // Raw IP: IP version 7, a TCP header whose data offset is too small, one byte: all skipped.
    let mut v7 = seg(HOST, CTRL, 1, b"x");
    v7[0] = 0x75;
    let mut bad_doff = seg(HOST, CTRL, 1, b"x");
    bad_doff[32] = 0x40;
    let r = PcapTcpReader::from_bytes(&pcap(LINKTYPE_RAW, &[(0, v7), (1, bad_doff), (2, vec![0x45])])).unwrap();
    assert_eq!((r.frames(), r.skipped_frames(), r.flows().len()), (3, 3, 0));
}

#[test]
fn reader_reads_linux_cooked_captures() {
    // LINKTYPE_LINUX_SLL: packet type, ARPHRD, address length and address, then the protocol (an EtherType).
    let sll = |protocol: [u8; 2], ip: &[u8]| {
        let mut f = vec![0, 0, 0, 1, 0, 6, 2, 2, 2, 2, 2, 2, 0, 0];
        f.extend_from_slice(&protocol);
        f.extend_from_slice(ip);
        f
    };
    let frames =
        [(0, sll([0x08, 0x00], &seg(HOST, CTRL, 1, b"v4"))), (1, sll([0x86, 0xDD], &seg(HOST6, CTRL6, 1, b"v6")))];
    let r = PcapTcpReader::from_bytes(&pcap(LINKTYPE_LINUX_SLL, &frames)).unwrap();
    assert_eq!(r.skipped_frames(), 0);
    assert_eq!(r.flows()[0].to_controller.bytes, b"v4");
    assert_eq!(r.flows()[1].to_controller.bytes, b"v6");
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

/// A pcapng as Wireshark writes it: an Ethernet interface with nanosecond timestamps (if_tsresol 9), a raw IP
/// interface with the default microseconds, enhanced packet blocks on both, a simple packet block (interface 0, no
/// timestamp).
fn pcapng() -> Vec<u8> {
    let mut w = PcapNgWriter::new(Vec::new()).unwrap();
    w.write_pcapng_block(InterfaceDescriptionBlock {
        linktype: DataLink::ETHERNET,
        snaplen: 0,
        options: vec![InterfaceDescriptionOption::IfTsResol(9)],
    })
    .unwrap();
    w.write_pcapng_block(InterfaceDescriptionBlock { linktype: DataLink::RAW, snaplen: 0, options: vec![] }).unwrap();
    let epb = |interface_id, raw: u64, data: Vec<u8>| EnhancedPacketBlock {
        interface_id,
        // pcap-file writes `timestamp.as_nanos()` as the raw 64-bit count of the interface's units.
        timestamp: Duration::from_nanos(raw),
        original_len: data.len() as u32,
        data: Cow::Owned(data),
        options: vec![],
    };
    let v6 = PacketBuilder::ethernet2([2; 6], [4; 6]).ipv6(HOST6.ip().octets6(), CTRL6.ip().octets6(), 64);
    let mut frame = Vec::new();
    v6.tcp(HOST6.port(), CTRL6.port(), 1, 100).write(&mut frame, b"ab").unwrap();
    w.write_pcapng_block(epb(0, 1_700_000_000_123_456_789, frame)).unwrap();
    w.write_pcapng_block(epb(1, 1_700_000_001_000_002, seg(HOST, CTRL, 1, b"v4"))).unwrap();
    let mut frame = Vec::new();
    PacketBuilder::ethernet2([2; 6], [4; 6])
        .ipv6(HOST6.ip().octets6(), CTRL6.ip().octets6(), 64)
        .tcp(HOST6.port(), CTRL6.port(), 3, 100)
        .write(&mut frame, b"cd")
        .unwrap();
    w.write_pcapng_block(SimplePacketBlock { original_len: frame.len() as u32, data: Cow::Owned(frame) }).unwrap();
    w.into_inner()
}

trait Octets6 {
    fn octets6(&self) -> [u8; 16];
}

impl Octets6 for IpAddr {
    fn octets6(&self) -> [u8; 16] {
        match self {
            IpAddr::V6(v6) => v6.octets(),
            IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        }
    }
}

#[test]
fn reader_reads_pcapng_interfaces_and_timestamp_resolutions() {
    let r = PcapTcpReader::from_bytes(&pcapng()).unwrap();
    assert_eq!(r.format(), CaptureFormat::PcapNg);
    assert_eq!((r.frames(), r.skipped_frames()), (3, 0));
    let flows = r.flows();
    assert_eq!(flows.len(), 2);
    assert_eq!((flows[0].host, flows[0].controller), (HOST6, CTRL6));
    assert_eq!(flows[0].to_controller.bytes, b"abcd");
    let ts: Vec<(u64, Duration)> = flows[0].to_controller.marks.iter().map(|m| (m.frame, m.ts)).collect();
    assert_eq!(ts, [(1, Duration::new(1_700_000_000, 123_456_789)), (3, Duration::ZERO)]);
    assert_eq!(flows[1].to_controller.bytes, b"v4");
    assert_eq!(flows[1].to_controller.marks[0].ts, Duration::new(1_700_000_001, 2_000));
}

#[test]
fn pcapng_errors() {
    let good = pcapng();
    // The first enhanced packet block follows the section header (28 bytes) and two interface blocks (32 + 20).
    let epb = 28 + 32 + 20;
    assert_eq!(u32::from_le_bytes(good[epb..epb + 4].try_into().unwrap()), 6, "EPB type");
    let mut unknown = good.clone();
    unknown[epb + 8..epb + 12].copy_from_slice(&7u32.to_le_bytes());
    assert_eq!(
        PcapTcpReader::from_bytes(&unknown).unwrap_err(),
        CaptureReadError::UnknownInterface { frame: 1, interface: 7 }
    );
    let mut usb = good.clone();
    usb[28 + 8..28 + 10].copy_from_slice(&189u16.to_le_bytes()); // the first interface's link type: USB
    let err = PcapTcpReader::from_bytes(&usb).unwrap_err();
    assert_eq!(err, CaptureReadError::UnsupportedLinkType { link_type: 189 });
    assert_eq!(
        PcapTcpReader::from_bytes(&good[..epb + 10]).unwrap_err(),
        CaptureReadError::TruncatedBlock { offset: epb }
    );
    assert_eq!(PcapTcpReader::from_bytes(&good[..10]).unwrap_err(), CaptureReadError::TruncatedFileHeader { len: 10 });
    let mut odd = good.clone();
    odd[epb + 4..epb + 8].copy_from_slice(&13u32.to_le_bytes()); // a block length that is no multiple of 4
    let err = PcapTcpReader::from_bytes(&odd).unwrap_err();
    assert!(matches!(err, CaptureReadError::BadBlock { offset, .. } if offset == epb), "{err:?}");
    assert!(err.to_string().starts_with(&format!("invalid pcapng block at byte {epb}: ")), "{err}");
}

#[test]
fn reader_errors() {
    let good = pcap(LINKTYPE_RAW, &[(0, seg(HOST, CTRL, 1, b"abcdef"))]);
    assert_eq!(PcapTcpReader::from_bytes(&good[..10]).unwrap_err(), CaptureReadError::TruncatedFileHeader { len: 10 });
    assert_eq!(
        PcapTcpReader::from_bytes(&good[..30]).unwrap_err(),
        CaptureReadError::TruncatedRecord { frame: 1, offset: 24, needed: 10 }
    );
    assert_eq!(
        PcapTcpReader::from_bytes(&good[..good.len() - 1]).unwrap_err(),
        CaptureReadError::TruncatedRecord { frame: 1, offset: 24, needed: 1 }
    );
    let text = b"this is not a capture file at all";
    assert_eq!(PcapTcpReader::from_bytes(text).unwrap_err(), CaptureReadError::BadMagic { magic: 0x7468_6973 });
    let sll2 = pcap(276, &[]);
    let err = PcapTcpReader::from_bytes(&sll2).unwrap_err();
    assert_eq!(err, CaptureReadError::UnsupportedLinkType { link_type: 276 });
    assert!(err.to_string().contains("unsupported link type 276"));
    // A huge announced record length is an error, not an allocation.
    let mut huge = good.clone();
    huge[24 + 8..24 + 12].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(PcapTcpReader::from_bytes(&huge), Err(CaptureReadError::TruncatedRecord { frame: 1, .. })));
    // An empty capture is fine.
    let r = PcapTcpReader::from_bytes(&pcap(LINKTYPE_RAW, &[])).unwrap();
    assert_eq!((r.frames(), r.flows().len()), (0, 0));
}
