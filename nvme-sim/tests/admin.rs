//! The admin stream under `fopcode`, by hand: rw_test with the fault armed from time 0, link latency 100 us, no
//! jitter, one monitoring read (SMART / Health, RAE = 1: side-effect-free) per path every 100 us from one interval
//! after the application start t0. The first write goes to path 0 (controller 1) at t0, reaches it at
//! t0 + 100 us + 3.34 us (its 4 KiB capsule's serialization) and fires the fault: the controller fails and closes its
//! connections, and the host sees the close at t0 + 203.34 us (detection). The read sent to path 0 at t0 + 100 us
//! arrives behind the fault and is never answered: it is outstanding at the failure, 103.34 us before detection. So
//! its latency is those 103.34 us under a level that releases it at detection (legacy, ccr-filter-admin), plus the
//! hold from detection to the release under the others: the CCR's success (the stuck write lands 2 000 ms after the
//! fault, then the 10 ms teardown, the AEN and the CCR log read) under ccr and ccr-filter, 15 001 ms under cqt. The
//! held read completes with its path's failure; every other read is answered in one round trip (200.517 us).

use std::time::Duration;

use nvme_sim::{FaultKind, Policy, Scenario, WorkloadKind, run};

fn scenario(policy: Policy) -> Scenario {
    let mut s = Scenario::new(policy, WorkloadKind::RwTest, FaultKind::Fopcode);
    s.iterations = Some(1);
    s.link_jitter = Duration::ZERO;
    s.admin_interval = Duration::from_micros(100);
    s
}

/// Sent to detection, ms.
const BEFORE_DETECTION: f64 = 0.103_34;
/// One monitoring read's round trip, ms.
const ROUND_TRIP: f64 = 0.200_517;

#[test]
fn ccr_filter_admin_releases_the_outstanding_admin_read_at_detection_ccr_filter_holds_it_to_the_ccr() {
    for policy in Policy::LEVELS {
        let r = run(&scenario(policy));
        let name = policy.name();
        let start = r.timeline.iter().find(|e| e.event == nvme_sim::TimelineEvent::ApplicationStarted).unwrap().at;
        let detect = r.detect.unwrap() - start;
        assert_eq!(detect, Duration::from_nanos(203_340), "{name}");
        // The hold from detection: 0 when released at once, the CCR's 2 010.2 ms, or the 15 001 ms time-based hold.
        let hold = r.release.unwrap().as_secs_f64() * 1e3;
        let expected_hold = match policy {
            Policy::Legacy => 0.0,
            Policy::Cqt => 15_001.0,
            _ => {
                assert!((2_010.0..2_011.0).contains(&hold), "{name}: CCR after {hold} ms");
                hold
            }
        };
        assert!((hold - expected_hold).abs() < 1e-6, "{name}: released {hold} ms after detection");
        let a = r.admin;
        assert_eq!(a.failed, 1, "{name}: the read of path 0 fails with its path: {a:?}");
        // Every other read answered (the last round may still be in flight when the run ends).
        assert!(a.completed + a.failed <= a.sent && a.completed + 3 >= a.sent, "{name}: {a:?}");
        let held = match policy {
            Policy::CcrFilter { release_admin: true } => 0.0,
            _ => expected_hold,
        };
        let latency = BEFORE_DETECTION + held;
        assert!(
            (a.failed_max_ms - latency).abs() < 1e-6,
            "{name}: held read {} ms, expected {latency}",
            a.failed_max_ms
        );
        assert!((a.max_ms - latency.max(ROUND_TRIP)).abs() < 1e-6, "{name}: admin stall {}", a.max_ms);
        // The write keeps its hold whatever happens to the admin read: only legacy corrupts.
        assert_eq!(r.corrupted, policy == Policy::Legacy, "{name}");
        if policy == (Policy::CcrFilter { release_admin: true }) {
            assert!((r.metrics.writes.max_ms - 2_010.0) > 0.0, "the write is still held to the CCR");
        }
    }
}

#[test]
fn no_admin_stream_sends_no_admin_read() {
    let mut s = scenario(Policy::CcrFilter { release_admin: true });
    s.admin_interval = Duration::ZERO;
    let r = run(&s);
    assert_eq!(r.admin, nvme_sim::metrics::AdminStats::default());
}
