//! `run --pcap`: the simulated NVMe/TCP traffic as a pcap, one TCP connection per path, queue and association.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::net::Ipv4Addr;

use nvme_pcap::{Direction, NVME_TCP_PORT, PcapTcpWriter, TcpFlow};
use nvme_sim::WireRecord;

/// The TCP endpoints of one simulated connection: the host at 10.0.0.1, path `p`'s controller at 10.0.0.(2 + p)
/// port 4420; the host port encodes path, association and queue (40000 + 1000 x path + 10 x association + queue,
/// wrapped into 40000..65000), so every connection is a distinct flow.
pub fn flow_for(path: usize, connection: u32, queue: u16) -> TcpFlow {
    let n = (1000 * path as u64 + 10 * u64::from(connection) + u64::from(queue)) % 25_000;
    let controller = Ipv4Addr::new(10, 0, 0, 2u8.wrapping_add(path as u8));
    TcpFlow::new((Ipv4Addr::new(10, 0, 0, 1), 40_000 + n as u16), (controller, NVME_TCP_PORT))
}

/// Writes every record, in order, as a classic pcap (link type raw IPv4); returns the number of connections.
pub fn write_pcap<W: Write>(records: &[WireRecord], out: W) -> io::Result<usize> {
    let mut w = PcapTcpWriter::new(out)?;
    let mut flows: BTreeMap<(usize, u32, u16), TcpFlow> = BTreeMap::new();
    for r in records {
        let flow =
            flows.entry((r.path, r.connection, r.queue)).or_insert_with(|| flow_for(r.path, r.connection, r.queue));
        let dir = if r.to_controller { Direction::HostToController } else { Direction::ControllerToHost };
        w.write(flow, dir, r.at, &r.bytes)?;
    }
    w.into_inner();
    Ok(flows.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nvme_pcap::PcapTcpReader;
    use std::net::SocketAddr;
    use std::time::Duration;

    #[test]
    fn one_flow_per_path_queue_and_association() {
        let rec = |path, queue, connection, to_controller, byte| WireRecord {
            at: Duration::from_millis(u64::from(byte)),
            path,
            queue,
            to_controller,
            bytes: vec![byte; 3],
            connection,
        };
        let records = [
            rec(0, 0, 0, true, 1),
            rec(0, 1, 0, true, 2),
            rec(1, 0, 0, true, 3),
            rec(0, 0, 0, false, 4),
            rec(0, 0, 1, true, 5),
        ];
        let mut buf = Vec::new();
        assert_eq!(write_pcap(&records, &mut buf).unwrap(), 4);
        let r = PcapTcpReader::from_bytes(&buf).unwrap();
        let flows = r.flows();
        assert_eq!(flows.len(), 4);
        assert_eq!(flows[0].to_controller.bytes, [1, 1, 1]);
        assert_eq!(flows[0].to_host.bytes, [4, 4, 4]);
        assert_eq!(flows[0].controller, SocketAddr::from((Ipv4Addr::new(10, 0, 0, 2), 4420)));
        assert_eq!(flows[2].controller, SocketAddr::from((Ipv4Addr::new(10, 0, 0, 3), 4420)));
        let ports: std::collections::HashSet<u16> = flows.iter().map(|f| f.host.port()).collect();
        assert_eq!(ports.len(), 4);
    }
}
