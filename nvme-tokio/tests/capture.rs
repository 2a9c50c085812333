//! The target's pcap, checked without tshark: the host and the target each record a session with both digests
//! (in-capsule write, R2T/H2CData write, multi-PDU C2HData read); every connection's bytes in the target's capture
//! are the bytes the host recorded, and they decode, with every digest checked by nvme-proto, into the PDU types of
//! such a session. (tshark.rs checks the same captures with tshark where it is installed.)

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use nvme_pcap::{CapturedFlow, PcapTcpReader};
use nvme_proto::tcp::{Decoded, Deframer, IcReq, IcResp, Params, Role};
use nvme_tokio::Capture;
use nvme_tokio::host::{Controller, Digests};

/// The PDU types of one direction after its 128-byte IC PDU (type `ic`), decoded with the parameters the IC
/// exchange settled: every digest checked, every byte used.
fn types(bytes: &[u8], role: Role, params: Params, ic: u8) -> BTreeSet<u8> {
    let mut de = Deframer::established(role, params);
    let (mut at, mut set) = (128, BTreeSet::from([ic]));
    while at < bytes.len() {
        match de.decode(&bytes[at..]) {
            Ok(Decoded::Pdu { pdu, consumed }) => {
                set.insert(pdu.pdu_type().0);
                at += consumed;
            }
            other => panic!("byte {at} of {}: {other:?}", bytes.len()),
        }
    }
    set
}

fn check_flow(f: &CapturedFlow) -> BTreeSet<u8> {
    let req = IcReq::parse(&f.to_controller.bytes[..128]).expect("ICReq first");
    let resp = IcResp::parse(&f.to_host.bytes[..128]).expect("ICResp first");
    let params = Params::from_ic(&req, &resp).unwrap();
    assert!(params.header_digest && params.data_digest);
    let mut set = types(&f.to_controller.bytes, Role::Controller, params, 0);
    set.extend(types(&f.to_host.bytes, Role::Host, params, 1));
    set
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_target_capture_holds_exactly_the_session_and_every_digest_is_good() {
    let name = "capture";
    let dir = std::env::temp_dir().join(format!("nvme-tokio-capture-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (target_pcap, host_pcap) = (dir.join("target.pcap"), dir.join("host.pcap"));
    let mut cfg = common::target_config(name);
    cfg.capture = Some(Capture::create(&target_pcap).unwrap());
    let target = common::start(cfg).await;
    let mut host = common::host(name, 0);
    host.fabric.digests = Digests::Both.into();
    host.capture = Some(Capture::create(&host_pcap).unwrap());
    let (c, _events) = Controller::connect(target.local_addr(), &host).await.unwrap();
    c.write(0, &[0x11; 4096]).await.unwrap(); // in-capsule
    c.write(8, &vec![0x22; 200 * 1024]).await.unwrap(); // R2T + two H2CData
    assert_eq!(c.read(8, 200 * 1024).await.unwrap(), vec![0x22; 200 * 1024]); // two C2HData
    let io_queues = c.io_queue_count();
    c.close().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    target.shutdown();

    // Without a SYN and with no end on port 4420, the reader takes the higher port for the host: put the ICReq
    // side back on the host end.
    let read = |p: &std::path::Path| {
        let mut flows = PcapTcpReader::from_bytes(&std::fs::read(p).unwrap()).unwrap().into_flows();
        for f in &mut flows {
            if f.to_controller.bytes.first() == Some(&1) {
                std::mem::swap(&mut f.host, &mut f.controller);
                std::mem::swap(&mut f.to_controller, &mut f.to_host);
            }
        }
        flows
    };
    let (ours, theirs) = (read(&target_pcap), read(&host_pcap));
    assert_eq!(ours.len(), 1 + io_queues, "one flow per connection");
    let mut seen = BTreeSet::new();
    for f in &ours {
        assert!(f.to_controller.gap.is_none() && f.to_host.gap.is_none());
        let h = theirs.iter().find(|h| h.host == f.host).expect("the host recorded the same connection");
        assert_eq!(f.to_controller.bytes, h.to_controller.bytes, "what the target took is what the host sent");
        assert!(f.to_host.bytes.starts_with(&h.to_host.bytes), "the host received what the target sent");
        seen.extend(check_flow(f));
    }
    assert_eq!(seen, BTreeSet::from([0, 1, 4, 5, 6, 7, 9]));
    let _ = std::fs::remove_dir_all(&dir);
}
