//! 65 537 Writes that wait for their data (SGL 0x5A, no H2CData ever sent) on one I/O queue of SQSIZE 127: the
//! target sends R2Ts only within its write-data budget, closes the connection at the command beyond SQSIZE, keeps
//! serving another host throughout, and is idle afterwards (no task spins).
//!
//! Alone in its binary, because it measures this process's CPU time.

mod common;

use std::time::Duration;

use common::raw::{Got, Raw};
use nvme_proto::cmd::ReadWrite;
use nvme_proto::tcp::Fes;
use nvme_tokio::host::Controller;
use tokio::io::AsyncWriteExt;

/// CPU time (user + system) of this process, from /proc/self/stat (USER_HZ = 100 on Linux).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let after = &stat[stat.rfind(')').expect("comm") + 2..];
    let f: Vec<u64> = after.split_whitespace().map(|x| x.parse().unwrap_or(0)).collect();
    // Fields 14 (utime) and 15 (stime), counted from 1; `after` starts at field 3.
    Duration::from_millis((f[11] + f[12]) * 10)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_five_thousand_writes_waiting_for_data_close_their_connection_and_stop_nobody() {
    let name = "write-flood";
    let cfg = common::target_config(name);
    let sub = cfg.subsystem();
    let target = common::start(cfg).await;
    let addr = target.local_addr();
    let (good, _events) = Controller::connect(addr, &common::host(name, 0)).await.unwrap();
    let (_admin, cntlid) = Raw::admin(addr, &common::nqn(name), 0).await;
    let io = Raw::io(addr, &common::nqn(name), cntlid, 1, 127).await;
    let rw = ReadWrite::new(1, 0, 2048, 512).unwrap(); // 1 MiB each
    let flood: Vec<u8> = (0..65_537u32).flat_map(|i| io.capsule(&rw.to_write_sqe(i as u16), &[])).collect();
    assert_eq!(flood.len(), 65_537 * 72);
    let (mut io, mut w) = io.with_writer();
    // The target closes the connection part-way: a failed write is expected.
    let sender = tokio::spawn(async move { w.write_all(&flood).await.is_ok() });

    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        while let Some(g) = io.recv().await {
            got.push(g);
        }
        got
    });
    for round in 0..5u8 {
        let data = vec![round; 128 * 1024];
        good.write(8192, &data).await.unwrap();
        assert_eq!(good.read(8192, data.len()).await.unwrap(), data);
    }
    let got = reader.await.unwrap();
    let _ = sender.await.unwrap();

    // R2Ts for the writes whose buffers fit the budget (the output limit: 4 MiB of 1 MiB writes), then the TermReq
    // for the 129th command; the other writes waited without a buffer.
    let r2ts = sub.output_limit / sub.max_transfer();
    assert_eq!(got.len(), r2ts + 1, "{got:?}");
    for (cid, g) in got[..r2ts].iter().enumerate() {
        assert!(matches!(g, Got::R2T { cid: c, r2tl, .. } if usize::from(*c) == cid && *r2tl == 1 << 20), "{g:?}");
    }
    assert_eq!(got[r2ts], Got::Term { fes: Fes::PDU_SEQUENCE_ERROR.0, fei: 0 });
    let mut live = target.live_controllers();
    live.sort();
    let mut want = vec![good.cntlid(), cntlid];
    want.sort();
    assert_eq!(live, want, "only the I/O connection was lost");

    // Idle now: a second of this process's CPU time stays far below a second (a spinning task would take it all).
    for _ in 0..100 {
        if target.connections().len() == 2 + good.io_queue_count() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let before = cpu_time();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let used = cpu_time() - before;
    assert!(used < Duration::from_millis(300), "{used:?} of CPU in one idle second");
    eprintln!("write-flood: {} R2Ts, TermReq, {used:?} CPU in the idle second after", r2ts);
    good.close().await;
    target.shutdown();
}
