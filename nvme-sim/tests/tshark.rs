//! tshark, an independent decoder, reads the simulated wire: every PDU of a failover (connects, Identify, Keep
//! Alive, AER, the CCR, the CCR log read, I/O with in-capsule writes and C2HData reads, the reconnect) has a good
//! header digest, and a good data digest wherever it carries data.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use nvme_pcap::{Direction, PcapTcpWriter, TcpFlow};
use nvme_proto::tcp::{Decoded, Deframer, Params, Pdu, Role};
use nvme_sim::{FaultKind, Policy, Scenario, WorkloadKind, run};

#[test]
#[ignore = "needs tshark: apt-get install tshark"]
fn tshark_decodes_the_simulated_wire_with_every_digest_good() {
    let mut s = Scenario::new(Policy::Ccr, WorkloadKind::RwTest, FaultKind::Fopcode);
    s.iterations = Some(1);
    s.capture = true;
    let r = run(&s);
    assert!(!r.corrupted);
    let mut flows: BTreeMap<(usize, u16, u32), TcpFlow> = BTreeMap::new();
    let mut pcap = PcapTcpWriter::new(Vec::new()).expect("pcap header");
    for w in &r.wire {
        let n = flows.len() as u16;
        let flow = flows.entry((w.path, w.queue, w.connection)).or_insert_with(|| TcpFlow::numbered(n));
        let dir = if w.to_controller { Direction::HostToController } else { Direction::ControllerToHost };
        pcap.write(flow, dir, w.at, &w.bytes).expect("pcap write");
    }
    let bytes = pcap.into_inner();
    let mut child = Command::new("tshark")
        .args(["-r", "-", "-o", "nvme-tcp.check_hdgst:TRUE", "-o", "nvme-tcp.check_ddgst:TRUE", "-T", "fields"])
        .args([
            "-E",
            "separator=/t",
            "-e",
            "nvme-tcp.type",
            "-e",
            "nvme-tcp.hdgst.status",
            "-e",
            "nvme-tcp.ddgst.status",
        ])
        .args(["-e", "nvme.cmd.opc"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("tshark runs");
    child.stdin.take().expect("stdin").write_all(&bytes).expect("pcap to tshark");
    let out = child.wait_with_output().expect("tshark output");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    if std::env::var_os("SIM_TSHARK_DUMP").is_some() {
        eprintln!("{text}");
    }
    let (mut types, mut hd, mut dd, mut opcodes) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for line in text.lines() {
        let cols: Vec<&str> = line.split('\t').collect();
        let col = |i: usize| cols.get(i).map_or(Vec::new(), |c| c.split(',').filter(|v| !v.is_empty()).collect());
        types.extend(col(0));
        hd.extend(col(1));
        dd.extend(col(2));
        opcodes.extend(col(3));
    }
    assert_eq!(types.len(), pdus(&r), "tshark saw every PDU");
    let with_hdgst = types.iter().filter(|t| !matches!(**t, "0" | "1")).count();
    assert_eq!(hd.len(), with_hdgst, "every non-IC PDU has its header digest checked");
    assert!(hd.iter().all(|v| *v == "1"), "header digests: {hd:?}");
    assert!(!dd.is_empty() && dd.iter().all(|v| *v == "1"), "data digests: {dd:?}");
    for opc in ["0x38", "0x02", "0x06", "0x0c", "0x18", "0x01"] {
        assert!(opcodes.iter().any(|o| o.eq_ignore_ascii_case(opc)), "opcode {opc} decoded: {opcodes:?}");
    }
}

/// The PDUs on the simulated wire, by nvme-proto's deframer (a record is one segment: whatever one `poll_transmit`
/// gave, possibly several PDUs).
fn pdus(r: &nvme_sim::Report) -> usize {
    let mut streams: BTreeMap<(usize, u16, u32, bool), Vec<u8>> = BTreeMap::new();
    for w in &r.wire {
        streams.entry((w.path, w.queue, w.connection, w.to_controller)).or_default().extend_from_slice(&w.bytes);
    }
    let mut n = 0;
    for ((.., to_controller), bytes) in &streams {
        let mut de = Deframer::new(if *to_controller { Role::Controller } else { Role::Host });
        let mut at = 0;
        while let Ok(Decoded::Pdu { pdu, consumed }) = de.decode(&bytes[at..]) {
            if let Pdu::IcReq(_) | Pdu::IcResp(_) = pdu {
                de.set_params(Params { header_digest: true, data_digest: true, ..Params::default() });
            }
            n += 1;
            at += consumed;
        }
        assert_eq!(at, bytes.len(), "every byte decodes");
    }
    n
}
