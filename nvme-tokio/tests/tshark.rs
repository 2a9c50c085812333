//! tshark (an independent decoder, ../shared/interop/tshark.md) reads the pcaps our host and our target write of
//! their own loopback traffic, with header and data digests on: every PDU type of a session shows up and every
//! digest it checks is good.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use nvme_tokio::Capture;
use nvme_tokio::ccr_check::{self, CcrCheckConfig, Verdict};
use nvme_tokio::host::{Controller, Digests};

/// (PDU types seen, header digests rated good, data digests rated good); panics on any digest not rated good.
fn decode(pcap: &Path, port: u16) -> (BTreeSet<u8>, usize, usize) {
    let out = Command::new("tshark")
        .args(["-r", pcap.to_str().unwrap(), "-d", &format!("tcp.port=={port},nvme-tcp")])
        .args(["-o", "nvme-tcp.check_hdgst:TRUE", "-o", "nvme-tcp.check_ddgst:TRUE", "-T", "fields"])
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
        .output()
        .expect("tshark runs (apt-get install tshark)");
    assert!(out.status.success(), "tshark failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let (mut types, mut hd, mut dd) = (BTreeSet::new(), 0, 0);
    for line in text.lines() {
        let cols: Vec<&str> = line.split('\t').collect();
        let values = |i: usize| cols.get(i).map(|c| c.split(',').filter(|v| !v.is_empty()).collect::<Vec<_>>());
        for t in values(0).unwrap_or_default() {
            types.insert(t.parse::<u8>().unwrap_or_else(|_| panic!("type {t:?} in {line:?}")));
        }
        for (i, count) in [(1, &mut hd), (2, &mut dd)] {
            for v in values(i).unwrap_or_default() {
                assert_eq!(v, "1", "a digest tshark does not rate good (1): {line:?}");
                *count += 1;
            }
        }
    }
    (types, hd, dd)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tshark: apt-get install tshark"]
async fn tshark_rates_every_digest_of_our_own_captures_good() {
    let name = "tshark";
    let dir = std::env::temp_dir().join(format!("nvme-tokio-tshark-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (host_pcap, target_pcap) = (dir.join("host.pcap"), dir.join("target.pcap"));
    let mut cfg = common::target_config(name);
    cfg.cqt_ms = 1;
    cfg.capture = Some(Capture::create(&target_pcap).unwrap());
    let target = common::start(cfg).await;
    let port = target.local_addr().port();
    let mut host = common::host(name, 2000);
    host.fabric.digests = Digests::Both.into();
    host.capture = Some(Capture::create(&host_pcap).unwrap());

    let (c, _events) = Controller::connect(target.local_addr(), &host).await.unwrap();
    c.write(0, &[0x11; 4096]).await.unwrap(); // in-capsule
    c.write(8, &vec![0x22; 64 * 1024]).await.unwrap(); // R2T + H2CData
    assert_eq!(c.read(8, 64 * 1024).await.unwrap(), vec![0x22; 64 * 1024]); // C2HData
    c.close().await;
    // CCR, AEN, CCR log page, reconnect: admin traffic of every kind.
    let report =
        ccr_check::run(&CcrCheckConfig { addrs: vec![target.local_addr()], host, wait: Duration::from_secs(5) }).await;
    assert_eq!(report.verdict, Verdict::Pass, "{:#?}", report.checks);
    target.shutdown();
    tokio::time::sleep(Duration::from_millis(100)).await;

    for pcap in [&host_pcap, &target_pcap] {
        let (types, hd, dd) = decode(pcap, port);
        assert_eq!(types, BTreeSet::from([0, 1, 4, 5, 6, 7, 9]), "{}", pcap.display());
        assert!(hd > 50 && dd > 10, "{}: {hd} header and {dd} data digests checked", pcap.display());
        eprintln!("{}: types {types:?}, {hd} header and {dd} data digests rated good", pcap.display());
    }
    let _ = std::fs::remove_dir_all(&dir);
}
