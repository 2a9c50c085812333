//! rw-test against our target with `fopcode 1 2000` on path 1 and a pause before the read-back longer than the
//! delay: `legacy` reads the stale write back ("validation failed", exit 1); `cqt`, `ccr` and `ccr-filter` hold
//! the write until it is safe and pass (ccr-cqt.md §10, §11, §14).

mod common;

use std::time::Duration;

use nvme_ccr::{Config, Event, Policy, ReleaseReason};
use nvme_tokio::host::{HostEvent, Multipath};
use nvme_tokio::rw_test::{self, RwTestParams};
use nvme_tokio::target::{Fopcode, Target};

async fn faulty_target(name: &str) -> Target {
    let mut cfg = common::target_config(name);
    cfg.cqt_ms = 1;
    cfg.fopcode = Some(Fopcode { opcode: 1, delay: Duration::from_millis(2000), cntlid: None });
    common::start(cfg).await
}

/// Runs rw-test (2 iterations, pauses 3000,500 ms, KATO 1 s) with `policy` on two paths to a fresh target whose
/// first controller gets `fopcode 1 2000`; returns the exit status, stdout, stderr and the reasons the engine gave
/// for releasing held commands.
async fn run(policy: Policy, name: &str) -> (i32, String, String, Vec<ReleaseReason>) {
    let target = faulty_target(name).await;
    let addr = target.local_addr();
    let mut cfg = common::host(name, 1000);
    cfg.fabric.engine = Config::new(policy);
    cfg.fabric.reconnect_delay = Duration::from_millis(300);
    let (mp, mut rx) = Multipath::connect(&[addr, addr], &cfg).await.unwrap();
    let p = RwTestParams {
        iterations: 2,
        pause_after_writes: Duration::from_millis(3000),
        pause_after_check: Duration::from_millis(500),
        ..RwTestParams::default()
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = rw_test::run(&mp, &p, &mut out, &mut err).await;
    mp.close().await;
    // The stalled write has landed by now (the pause is longer than the delay), whatever the policy.
    let block = target.read_blocks(0, 4096).unwrap();
    target.shutdown();
    let mut reasons = Vec::new();
    while let Ok(ev) = rx.try_recv() {
        if let HostEvent::Engine(Event::HoldReleased { reason, released, .. }) = ev
            && released > 0
        {
            reasons.push(reason);
        }
    }
    let (out, err) = (String::from_utf8(out).unwrap(), String::from_utf8(err).unwrap());
    if code == 0 {
        assert_eq!(block, vec![9u8; 4096], "a passing run leaves the last write on the media");
    }
    (code, out, err, reasons)
}

const PASSING: &str = "iteration number 0, writing data\nvalidating written data\nsuccessfully validated\n\
                       iteration number 1, writing data\nvalidating written data\nsuccessfully validated\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_reads_back_the_stale_write_and_fails() {
    let (code, out, err, reasons) = run(Policy::Legacy, "rw-legacy").await;
    assert_eq!(code, 1, "stdout: {out}\nstderr: {err}");
    assert_eq!(out, "iteration number 0, writing data\nvalidating written data\n");
    assert_eq!(err, "validation failed\n");
    assert_eq!(reasons, [ReleaseReason::Legacy]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cqt_holds_the_write_until_the_deadline_and_passes() {
    let (code, out, err, reasons) = run(Policy::Cqt, "rw-cqt").await;
    assert_eq!((code, out.as_str(), err.as_str()), (0, PASSING, ""));
    assert_eq!(reasons, [ReleaseReason::HoldDeadline]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ccr_holds_the_write_until_the_ccr_succeeds_and_passes() {
    let (code, out, err, reasons) = run(Policy::Ccr, "rw-ccr").await;
    assert_eq!((code, out.as_str(), err.as_str()), (0, PASSING, ""));
    assert!(matches!(reasons[..], [ReleaseReason::CcrSucceeded { .. }]), "{reasons:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ccr_filter_passes() {
    let (code, out, err, reasons) = run(Policy::CcrFilter { release_admin: false }, "rw-ccr-filter").await;
    assert_eq!((code, out.as_str(), err.as_str()), (0, PASSING, ""));
    assert!(matches!(reasons[..], [ReleaseReason::CcrSucceeded { .. }]), "{reasons:?}");
}
