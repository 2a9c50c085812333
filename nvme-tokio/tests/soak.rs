//! 32 concurrent connections (8 controllers × (admin + 3 I/O queues)) doing verified reads and writes against our
//! target for 20 s: in-capsule writes, R2T writes split into several H2CData PDUs, multi-block reads, half the
//! controllers with header and data digests. No error and no data mismatch is allowed.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use nvme_tokio::host::{Controller, Digests};

const SOAK: Duration = Duration::from_secs(20);
const CONTROLLERS: usize = 8;
const IO_QUEUES: u16 = 3;
const WORKERS_PER_CONTROLLER: usize = 4;
/// Blocks (512 B) each worker owns.
const REGION: u64 = 1024;

fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_connections_for_twenty_seconds_without_error_or_mismatch() {
    let name = "soak";
    let target = common::start(common::target_config(name)).await;
    let mut ctrls = Vec::new();
    for i in 0..CONTROLLERS {
        let mut h = common::host(name, 5000);
        h.fabric.io_queues = IO_QUEUES;
        h.fabric.digests = if i % 2 == 0 { Digests::Both } else { Digests::None }.into();
        let (c, _events) = Controller::connect(target.local_addr(), &h).await.unwrap();
        assert_eq!(c.io_queue_count(), IO_QUEUES as usize);
        ctrls.push((c, _events));
    }
    assert_eq!(target.live_controllers().len(), CONTROLLERS, "32 connections: 8 admin + 24 I/O");
    let ops = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    let end = tokio::time::Instant::now() + SOAK;
    let mut tasks = Vec::new();
    for (ci, (c, _)) in ctrls.iter().enumerate() {
        for w in 0..WORKERS_PER_CONTROLLER {
            let (c, ops, bytes) = (c.clone(), ops.clone(), bytes.clone());
            let region = (ci * WORKERS_PER_CONTROLLER + w) as u64 * REGION;
            tasks.push(tokio::spawn(async move {
                let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ region.wrapping_mul(0x1234_5678_9ABC_DEF1) | 1;
                while tokio::time::Instant::now() < end {
                    // 4 KiB (in-capsule), 64 KiB (one R2T, one H2CData) or 200 KiB (two H2CData PDUs).
                    let blocks = [8u64, 128, 400][(next(&mut rng) % 3) as usize];
                    let slba = region + next(&mut rng) % (REGION - blocks);
                    let len = (blocks * 512) as usize;
                    let mut data = vec![0u8; len];
                    let seed = next(&mut rng);
                    for (k, chunk) in data.chunks_mut(8).enumerate() {
                        chunk.copy_from_slice(&(seed ^ k as u64).to_le_bytes());
                    }
                    c.write(slba, &data).await.expect("write");
                    let back = c.read(slba, len).await.expect("read");
                    assert!(back == data, "data mismatch at block {slba}, {len} bytes");
                    ops.fetch_add(2, Ordering::Relaxed);
                    bytes.fetch_add(2 * len as u64, Ordering::Relaxed);
                }
            }));
        }
    }
    for t in tasks {
        t.await.expect("worker ran without error");
    }
    let ops = ops.load(Ordering::Relaxed);
    assert!(ops > 1000, "only {ops} I/Os in {SOAK:?}");
    assert_eq!(target.live_controllers().len(), CONTROLLERS, "no controller failed");
    for (c, _) in &ctrls {
        assert!(!c.is_failed());
        c.close().await;
    }
    eprintln!("soak: {ops} verified I/Os, {} MiB", bytes.load(Ordering::Relaxed) >> 20);
    target.shutdown();
}
