//! The failover experiment's faults, levels, options and metrics, each checked against a value computed by hand
//! from the scenario (issue 13's tests). Timings: KATO 5 s, TBKAS on, CQT 1 ms -> hold 3 x 5 000 + 1 = 15 001 ms;
//! the fault is armed at 5 s; RTO 200 ms; link latency 100 us, no jitter where the value depends on it.

use std::time::Duration;

use nvme_ccr::{CcrSources, Cqt0Rule};
use nvme_sim::{FaultKind, Policy, Scenario, WorkloadKind, run};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The hold of controller 1's commands, ms, from the timeline ("released N held command(s) of controller 1 after
/// X ms").
fn controller_1_hold(r: &nvme_sim::Report) -> f64 {
    let e = r.timeline.iter().find(|e| e.what().contains("held command(s) of controller 1 after")).expect("released");
    let w = e.what();
    let x = w.split(" after ").nth(1).and_then(|t| t.split(" ms").next()).unwrap();
    x.parse().unwrap()
}

/// Two workers writing without think time, a fixed 100 us service, no jitter: before the fault both run, after it
/// the worker whose write is held on path 0 waits, so the rate halves until the release.
fn two_writers(policy: Policy, fault: FaultKind) -> Scenario {
    let mut s = Scenario::new(policy, WorkloadKind::Write, fault);
    s.queue_depth = 2;
    s.think_time = Duration::ZERO;
    s.blocks = 1 << 18;
    s.link_jitter = Duration::ZERO;
    s.service_min = Duration::from_micros(100);
    s.service_max = Duration::from_micros(100);
    s.duration = s.cell_duration();
    s
}

/// The dip under `cqt` at the Linux test's values: the held write waits detection + 15 001 ms; the rate is back at
/// 90 % in the 100 ms window from fault + 15 000 ms (the release at fault + detection (< 1 ms) + 15 001 ms leaves
/// under 2 ms of that window at the low rate, so it is at 99 % of the baseline).
#[test]
fn dip_under_cqt_is_the_hold_plus_detection() {
    let r = run(&two_writers(Policy::Cqt, FaultKind::Fopcode));
    assert!(!r.corrupted);
    assert_eq!((r.held, r.ccrs_sent, r.fallbacks), (1, 0, 1));
    let detect = ms(r.detect.unwrap()) - 5_000.0;
    assert!((0.0..1.0).contains(&detect), "detection {detect} ms after the fault");
    assert_eq!(r.release, Some(Duration::from_millis(15_001)));
    let m = &r.metrics;
    // The held write: submitted just before the fault fired, completed after the hold and one retry.
    assert!((15_001.0..15_003.0).contains(&m.writes.max_ms), "{}", m.writes.max_ms);
    let dip = m.dip.unwrap();
    assert_eq!((dip.start_ms, dip.back_to_90_ms), (5_000.0, Some(15_000.0)));
    // One worker of two: half the rate (the other one still completes, each sample rounded to 100 ms windows).
    assert!((0.4..0.6).contains(&dip.depth), "{dip:?}");
    assert_eq!(m.reads.count, 0);
}

/// `ccr` under the same fault: the CCR succeeds when the stuck write lands, 2 000 ms after the fault (the fopcode
/// delay) plus the teardown (10 ms) and the CCR's AEN and log read, so the rate is back in the window from
/// fault + 2 000 ms (15 ms of it at the low rate).
#[test]
fn dip_under_ccr_is_the_fopcode_delay_plus_teardown() {
    let r = run(&two_writers(Policy::Ccr, FaultKind::Fopcode));
    assert_eq!((r.held, r.ccrs_sent, r.fallbacks), (1, 1, 0));
    let release = ms(r.release.unwrap());
    assert!((2_010.0..2_015.0).contains(&release), "{release}");
    assert_eq!(r.metrics.dip.unwrap().back_to_90_ms, Some(2_000.0));
}

/// HA node failover: four paths; path 0 fails as fopcode and path 1, its node's other controller and the first CCR
/// source (CNTLID 2), goes silent. The stuck write lands 12 000 ms after the fault. With the first source only, its
/// CCR is never answered and the host falls back to the timer: release at exactly 15 001 ms. With every source, the
/// first CCR ends when controller 2's keep-alive fails (about 5 s after the fault) and the CCR through controller 3
/// (node B) succeeds when controller 1's teardown ends: 12 000 ms + 10 ms of teardown + the notice and log read.
/// (With the default 2 000 ms delay controller 1 is gone before the second CCR and controller 3 refuses it with
/// Invalid Field: every source then also ends on the timer; `spec-notes/recovery.md`, the debates.)
#[test]
fn node_failover_first_source_only_waits_the_hold() {
    let mut s = two_writers(Policy::Ccr, FaultKind::NodeFailover);
    s.delay = Duration::from_millis(12_000);
    s.ccr_sources = CcrSources::FirstOnly;
    let first = run(&s);
    assert!(!first.corrupted);
    assert_eq!(controller_1_hold(&first), 15_001.0, "{:#?}", first.timeline);
    // Controller 2's own fencing (detected by keep-alive) sends one more CCR, through controller 3.
    assert_eq!((first.ccrs_sent, first.fallbacks), (2, 1));
    assert!(first.timeline.iter().any(|e| e.what().contains("node failover: path 1")));
    s.ccr_sources = CcrSources::EveryInTurn;
    let every = run(&s);
    assert!(!every.corrupted);
    let release = controller_1_hold(&every);
    assert!((12_010.0..12_020.0).contains(&release), "{release} {:#?}", every.timeline);
    // Controller 1 through controllers 2 and 3, controller 2's own fencing through the others; no fallback.
    assert!(every.ccrs_sent >= 3, "{}", every.ccrs_sent);
    assert_eq!(every.fallbacks, 0);
    // Two workers need only node B: the rate is back in the 100 ms window where controller 1's write is released.
    assert_eq!(every.metrics.dip.unwrap().back_to_90_ms, Some(12_000.0));
}

/// A 3 s loss burst on path 0 from 5 s, RTO 200 ms: a segment sent at 5.0 s is retransmitted at 5.2, 5.6, 6.4 and
/// 8.0 s, delivered at 8.0 s: the writes on path 0 stall 3 000 ms (plus one round trip), nothing fails, nothing is
/// held, and the rate is back in the window from fault + 3 000 ms.
#[test]
fn loss_burst_stalls_until_the_first_retransmission_after_it() {
    let r = run(&two_writers(Policy::Ccr, FaultKind::LossBurst));
    assert_eq!((r.detect, r.held, r.ccrs_sent), (None, 0, 0));
    assert!((3_000.0..3_002.0).contains(&r.metrics.writes.max_ms), "{}", r.metrics.writes.max_ms);
    let dip = r.metrics.dip.unwrap();
    assert_eq!((dip.start_ms, dip.back_to_90_ms, dip.depth), (5_000.0, Some(3_000.0), 1.0));
}

/// Partial loss: 20 % of path 0's segments lost for 10 s from the fault. Nothing fails (an RTO is far below KATO);
/// stalls of at least one RTO happen, and only inside the window; the rate is back within an RTO backoff of its end.
#[test]
fn partial_loss_delays_only_inside_its_window() {
    let r = run(&two_writers(Policy::Cqt, FaultKind::Loss(20)));
    assert_eq!((r.detect, r.held), (None, 0));
    assert!(r.metrics.writes.max_ms >= 200.0, "{}", r.metrics.writes.max_ms);
    for l in r.latencies.iter().filter(|l| l.latency >= Duration::from_millis(200)) {
        let sent = l.at - l.latency;
        assert!(sent >= Duration::from_secs(5) && sent < Duration::from_secs(15), "{l:?}");
    }
    let back = r.metrics.dip.unwrap().back_to_90_ms.unwrap();
    assert!((10_000.0..=11_600.0).contains(&back), "{back}");
}

/// CQT = 0: the default holds for 3 x KATO + F = 25 000 ms when the CCR fails; the Linux RFC's immediate rule
/// retries at once and corrupts rw_test like legacy (an unsafe baseline).
#[test]
fn cqt_zero_fallback_versus_immediate() {
    let mut s = Scenario::new(Policy::Ccr, WorkloadKind::RwTest, FaultKind::CcrFail);
    s.iterations = Some(1);
    s.cqt = Duration::ZERO;
    let fallback = run(&s);
    assert!(!fallback.corrupted && !s.unsafe_by_design());
    assert_eq!(fallback.release, Some(Duration::from_millis(25_000)));
    s.cqt0_rule = Cqt0Rule::Immediate;
    assert!(s.unsafe_by_design());
    let immediate = run(&s);
    assert!(immediate.corrupted, "{:#?}", immediate.timeline);
    assert_eq!(immediate.fallbacks, 1);
    // A reported CQT is unaffected by the rule.
    s.cqt = Duration::from_millis(1);
    assert!(!run(&s).corrupted && !s.unsafe_by_design());
}

/// The sequential workloads move 128 KiB per I/O, from LBA 0 upwards: the bandwidth series is 131 072 bytes per
/// completion, and a read-back of the written blocks is checked per block.
#[test]
fn sequential_workloads_move_128_kib_per_io() {
    for w in [WorkloadKind::SeqWrite, WorkloadKind::SeqRead] {
        let mut s = Scenario::new(Policy::Ccr, w, FaultKind::Fopcode);
        s.duration = Duration::from_secs(8);
        let r = run(&s);
        assert!(!r.corrupted, "{w}");
        let t = &r.throughput;
        let ios: u64 = t.read_ios.iter().chain(&t.write_ios).sum();
        let bytes: u64 = t.read_bytes.iter().chain(&t.write_bytes).sum();
        assert_eq!(bytes, ios * 131_072, "{w}");
        assert_eq!(ios, r.commands_completed);
    }
}

/// ccr-filter-admin is its own level, and behaves as ccr-filter for I/O.
#[test]
fn ccr_filter_admin_is_a_level_of_its_own() {
    let p: Policy = "ccr-filter-admin".parse().unwrap();
    assert_eq!(p, Policy::CcrFilter { release_admin: true });
    let mut s = Scenario::new(p, WorkloadKind::RwTest, FaultKind::Fopcode);
    s.iterations = Some(1);
    let r = run(&s);
    assert!(!r.corrupted);
    assert_eq!((r.held, r.ccrs_sent), (1, 1));
}
