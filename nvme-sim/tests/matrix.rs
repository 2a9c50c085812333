//! The failover matrix as tests: which policy corrupts under which fault, how long the I/O stalls, determinism, and
//! the wire. rw_test runs 2 iterations here (the full 255 are in the benchmark); queue-depth workloads run 20 s.

use std::time::Duration;

use nvme_proto::tcp::{Decoded, Deframer, Params, Pdu, Role};
use nvme_sim::{FaultKind, FaultSpec, PathFault, Policy, Scenario, WorkloadKind, run};

const SAFE: [Policy; 3] = [Policy::Cqt, Policy::Ccr, Policy::CcrFilter { release_admin: false }];
const FAULTS: [FaultKind; 4] = [FaultKind::Fopcode, FaultKind::Freeze, FaultKind::CcrFail, FaultKind::CcrUnsupported];

fn rw(policy: Policy, fault: FaultKind) -> Scenario {
    let mut s = Scenario::new(policy, WorkloadKind::RwTest, fault);
    s.iterations = Some(2);
    s
}

fn qd(policy: Policy, workload: WorkloadKind, fault: FaultKind) -> Scenario {
    let mut s = Scenario::new(policy, workload, fault);
    s.duration = Duration::from_secs(20);
    s.think_time = Duration::from_millis(20);
    s
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn assert_near(what: &str, got: Option<Duration>, want_ms: f64, tol_ms: f64) {
    let got = got.unwrap_or_else(|| panic!("{what}: no value"));
    assert!((ms(got) - want_ms).abs() <= tol_ms, "{what}: {:.3} ms, expected {want_ms} ms ± {tol_ms}", ms(got));
}

fn timeline(r: &nvme_sim::Report) -> String {
    r.timeline.iter().map(|e| format!("{:>10.3} {:?} {}\n", e.at.as_secs_f64(), e.path, e.what())).collect()
}

/// The bug the Linux failover test exists to catch: `legacy` retries the stuck write at once, the stale write lands 2 s
/// later, the read sees 0 and rw_test prints "validation failed" and exits 1.
#[test]
fn legacy_corrupts_under_fopcode_and_rw_test_says_so() {
    let r = run(&rw(Policy::Legacy, FaultKind::Fopcode));
    assert!(r.corrupted, "{}", timeline(&r));
    assert_eq!(
        r.rw_test_output,
        ["iteration number 0, writing data", "validating written data", "validation failed"],
        "the program stops at the first failure"
    );
    assert_eq!(r.rw_test_exit, Some(1));
    assert!(r.violations.iter().any(|v| v.contains("stale write")), "{:?}", r.violations);
    assert_eq!(r.release, Some(Duration::ZERO), "legacy releases at detection");
    // The timeline marks the stale write where it reaches the media: on path 0 (controller 1, whose stuck write it
    // is), the fopcode delay (2 s) after the fault fired, before the read that sees it.
    let at =
        |f: &dyn Fn(&nvme_sim::TimelineEvent) -> bool| r.timeline.iter().find(|e| f(&e.event)).map(|e| (e.at, e.path));
    let fired = at(&|e| matches!(e, nvme_sim::TimelineEvent::FaultFired { .. })).expect("fault fired");
    let stale = at(&|e| matches!(e, nvme_sim::TimelineEvent::StaleWrite { lba: 0, .. })).expect("stale write");
    assert_eq!(stale.1, Some(0));
    assert_eq!(stale.0 - fired.0, Duration::from_secs(2), "{}", timeline(&r));
    let failed = at(&|e| matches!(e, nvme_sim::TimelineEvent::RwTestValidationFailed)).expect("validation failed");
    assert!(stale.0 < failed.0);
}

/// Safety invariant ([`nvme_ccr::notes::ccr_cqt`] §14): with a hold (cqt, ccr, ccr-filter) no fault of the model corrupts, and
/// rw_test prints exactly what the Linux test's rw_test program prints on success.
#[test]
fn holding_policies_never_corrupt_rw_test() {
    for policy in SAFE {
        for fault in FAULTS {
            let r = run(&rw(policy, fault));
            let cell = format!("{} / {fault}", policy.name());
            assert!(!r.corrupted, "{cell}: {:?}\n{}", r.violations, timeline(&r));
            assert_eq!(r.rw_test_exit, Some(0), "{cell}");
            assert_eq!(
                r.rw_test_output,
                [
                    "iteration number 0, writing data",
                    "validating written data",
                    "successfully validated",
                    "iteration number 1, writing data",
                    "validating written data",
                    "successfully validated"
                ],
                "{cell}"
            );
            assert_eq!(r.commands_completed, 22, "{cell}: 2 x (10 writes + 1 read)");
            assert!(r.detect.is_some(), "{cell}: the failure must be detected");
        }
    }
}

/// The same invariant for the queue-depth workloads, and `legacy` corrupts the write workloads under fopcode.
#[test]
fn queue_depth_workloads_corrupt_only_under_legacy() {
    for workload in [WorkloadKind::Write, WorkloadKind::ReadWrite, WorkloadKind::Read] {
        for policy in SAFE {
            for fault in [FaultKind::Fopcode, FaultKind::Freeze] {
                let r = run(&qd(policy, workload, fault));
                assert!(!r.corrupted, "{} {workload} {fault}: {:?}", policy.name(), r.violations);
                assert!(r.commands_completed > 500, "{} {workload} {fault}", policy.name());
            }
        }
        let r = run(&qd(Policy::Legacy, workload, FaultKind::Fopcode));
        assert_eq!(r.corrupted, workload != WorkloadKind::Read, "legacy {workload}: {:?}", r.violations);
    }
}

/// `cqt` holds (TBKAS ? 3 : 2) x KATO + CQT from detection: 15 001 ms at the defaults, whatever the fault.
#[test]
fn cqt_releases_after_the_time_based_hold() {
    for fault in FAULTS {
        let r = run(&rw(Policy::Cqt, fault));
        assert_near(&format!("cqt {fault} release"), r.release, 15_001.0, 2.0);
    }
}

/// `ccr`: the CCR succeeds only once the stuck write has landed (2 s after it arrived) and the controller is torn
/// down, so the stall is about the delay plus the CCR, AEN and log round trips plus the teardown: far below 15 s.
#[test]
fn ccr_releases_after_the_real_teardown() {
    let r = run(&rw(Policy::Ccr, FaultKind::Fopcode));
    let release = r.release.expect("released");
    assert!(ms(release) > 2_000.0 && ms(release) < 2_100.0, "{:.3} ms\n{}", ms(release), timeline(&r));
    assert!(ms(r.max_latency) < 2_100.0, "{:?}", r.max_latency);
    let at = |needle: &str| {
        r.timeline
            .iter()
            .find(|e| e.what().contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?}\n{}", timeline(&r)))
            .at
    };
    assert!(at("stuck command reached the media") < at("teardown complete"));
    assert!(at("teardown complete") <= at("CCR Completed notice"));
    assert!(at("CCR Completed notice") <= at("succeeded via controller 2"));
    // A longer delay stretches the stall by the same amount.
    let mut s = rw(Policy::Ccr, FaultKind::Fopcode);
    s.delay = Duration::from_millis(7_000);
    let r7 = run(&s);
    assert!(!r7.corrupted);
    assert!((ms(r7.release.unwrap()) - ms(release) - 5_000.0).abs() < 20.0, "{:?}", r7.release);
}

/// A CCR that fails or is refused falls back to the time-based hold.
#[test]
fn failed_or_refused_ccr_falls_back_to_the_hold() {
    for policy in [Policy::Ccr, Policy::CcrFilter { release_admin: false }] {
        for fault in [FaultKind::CcrFail, FaultKind::CcrUnsupported] {
            let r = run(&rw(policy, fault));
            assert_near(&format!("{} {fault}", policy.name()), r.release, 15_001.0, 2.0);
        }
    }
}

/// CQT 0 means "not reported": the hold uses F = 10 s in its place (25 s with TBKAS, 20 s without).
#[test]
fn cqt_zero_uses_the_fallback() {
    let mut s = rw(Policy::Cqt, FaultKind::Fopcode);
    s.cqt = Duration::ZERO;
    assert_near("CQT 0, TBKAS", run(&s).release, 25_000.0, 2.0);
    s.tbkas = false;
    let r = run(&s);
    assert_near("CQT 0, no TBKAS", r.release, 20_000.0, 2.0);
    assert!(!r.corrupted);
    s.cqt_fallback = Duration::from_secs(3);
    assert_near("CQT 0, F = 3 s", run(&s).release, 13_000.0, 2.0);
}

/// `ccr-filter` releases held reads at detection; `ccr` holds them until the CCR succeeds.
#[test]
fn ccr_filter_lets_held_reads_through_at_detection() {
    let filter = run(&qd(Policy::CcrFilter { release_admin: false }, WorkloadKind::Read, FaultKind::Fopcode));
    let ccr = run(&qd(Policy::Ccr, WorkloadKind::Read, FaultKind::Fopcode));
    assert!(filter.detect.is_some() && ccr.detect.is_some());
    assert!(ms(filter.max_latency) < 10.0, "filter stalls {:?}\n{}", filter.max_latency, timeline(&filter));
    assert_eq!(filter.release, Some(Duration::ZERO));
    assert!(ms(ccr.max_latency) > 2_000.0, "ccr holds the read {:?}", ccr.max_latency);
    assert!(filter.timeline.iter().any(|e| e.what().contains("triggers on Read")));
    // Writes are still held under ccr-filter.
    let w = run(&qd(Policy::CcrFilter { release_admin: false }, WorkloadKind::ReadWrite, FaultKind::Fopcode));
    assert!(ms(w.max_latency) > 2_000.0 && !w.corrupted);
}

/// Freeze: nothing closes; the host detects by keep-alive timeout (KATO after the first Keep Alive that got no
/// answer; with TBKAS one goes out every KATO/4, so KATO ± KATO/4 after the freeze), and the frozen controller's own keep-alive timer or the CCR fails it.
#[test]
fn freeze_is_detected_by_keep_alive_timeout() {
    let r = run(&rw(Policy::Ccr, FaultKind::Freeze));
    let frozen = r.timeline.iter().find(|e| e.what().contains("frozen")).expect("frozen").at;
    let detect = r.detect.expect("detected");
    let after = ms(detect - frozen);
    assert!((3_750.0..=6_260.0).contains(&after), "detected {after:.3} ms after the freeze\n{}", timeline(&r));
    assert!(r.timeline.iter().any(|e| e.what().contains("keep-alive timeout")));
    assert!(!r.corrupted);
    // Without a CCR the target's own keep-alive timer fails the frozen controller within 2 x KATO of its last traffic.
    let c = run(&rw(Policy::Cqt, FaultKind::Freeze));
    let expired = c.timeline.iter().find(|e| e.what().contains("keep-alive timer expired")).expect("target KA").at;
    assert!(ms(expired - frozen) <= 10_001.0, "{}", timeline(&c));
}

/// A freeze whose stuck write outlives detection: `legacy` corrupts, the others wait.
#[test]
fn a_long_freeze_stall_corrupts_only_legacy() {
    let mut s = rw(Policy::Legacy, FaultKind::Freeze);
    s.delay = Duration::from_millis(9_000);
    assert!(run(&s).corrupted);
    for policy in SAFE {
        s.policy = policy;
        let r = run(&s);
        assert!(!r.corrupted, "{}: {:?}", policy.name(), r.violations);
    }
}

/// Several failures at once with three paths: two controllers fail, the third is the CCR source.
#[test]
fn two_failures_at_once_with_three_paths() {
    for policy in SAFE {
        let mut s = qd(policy, WorkloadKind::Write, FaultKind::Fopcode);
        s.paths = 3;
        s.extra_faults.push(FaultSpec {
            path: 1,
            kind: PathFault::Fatal,
            opcode: 1,
            at: Duration::from_secs(5),
            delay: Duration::from_millis(3_000),
        });
        let r = run(&s);
        assert!(!r.corrupted, "{}: {:?}\n{}", policy.name(), r.violations, timeline(&r));
        let fenced = r.timeline.iter().filter(|e| e.what().contains("failed: connection closed")).count();
        assert!(fenced >= 2, "{}", timeline(&r));
    }
}

/// No fault: no detection, no release, no corruption, microsecond latencies.
#[test]
fn no_fault_no_stall() {
    let r = run(&rw(Policy::Ccr, FaultKind::None));
    assert!(!r.corrupted && r.detect.is_none() && r.release.is_none());
    assert!(ms(r.max_latency) < 1.0, "{:?}", r.max_latency);
    assert_eq!(r.rw_test_exit, Some(0));
}

/// Same scenario, same report, bit for bit (the wire included).
#[test]
fn runs_are_deterministic() {
    let mut s = rw(Policy::Ccr, FaultKind::Fopcode);
    s.capture = true;
    s.loss = 0.01;
    s.seed = 42;
    let a = run(&s);
    assert_eq!(a, run(&s));
    s.seed = 43;
    let b = run(&s);
    assert_ne!(a.wire, b.wire, "another seed, another CIU/CIRN and jitter");
    let r = Scenario::random(7, Policy::Ccr, false);
    assert_eq!(run(&r), run(&r));
    assert_eq!(Scenario::random(7, Policy::Ccr, false), r);
}

/// Every captured PDU decodes with nvme-proto's deframer, digests checked, per connection and direction, in
/// time order; every record (one simulated segment) holds whole PDUs: all that one `poll_transmit` gave, on either
/// side.
#[test]
fn the_capture_decodes_with_every_digest_good() {
    let mut s = rw(Policy::Ccr, FaultKind::Fopcode);
    s.capture = true;
    let r = run(&s);
    assert!(r.wire.windows(2).all(|w| w[0].at <= w[1].at), "time order");
    let mut streams: std::collections::BTreeMap<(usize, u16, u32, bool), Vec<&[u8]>> = Default::default();
    for w in &r.wire {
        streams.entry((w.path, w.queue, w.connection, w.to_controller)).or_default().push(&w.bytes);
    }
    let (mut pdus, mut ccr, mut log) = (0, 0, 0);
    for ((_, _, _, to_ctrl), records) in &streams {
        let mut de = Deframer::new(if *to_ctrl { Role::Controller } else { Role::Host });
        for bytes in records {
            let mut at = 0;
            let mut in_record = 0;
            while at < bytes.len() {
                match de.decode(&bytes[at..]).unwrap_or_else(|e| panic!("decode error {e} at {at}")) {
                    Decoded::Need(n) => panic!("record cut: {n} more bytes needed"),
                    Decoded::Pdu { pdu, consumed } => {
                        if let Pdu::IcReq(_) | Pdu::IcResp(_) = pdu {
                            de.set_params(Params { header_digest: true, data_digest: true, ..Params::default() });
                        }
                        if let Pdu::CapsuleCmd(c) = pdu {
                            assert!(c.sqe[0] != 0x38 || *to_ctrl);
                            ccr += usize::from(c.sqe[0] == 0x38);
                            log += usize::from(c.sqe[0] == 0x02 && c.sqe[40] == 0x1E);
                        }
                        pdus += 1;
                        in_record += 1;
                        at += consumed;
                    }
                }
            }
            assert!(in_record >= 1, "an empty segment");
        }
    }
    assert!(pdus > r.wire.len(), "a C2HData and its CapsuleResp leave the target together");
    assert_eq!(ccr, 1, "one CCR");
    assert!(log >= 1, "the CCR log was read");
    assert!(r.wire.iter().any(|w| w.path == 0 && w.connection == 1), "path 0 reconnected");
}

/// Random schedules inside the CQT promise: only `legacy` corrupts.
#[test]
fn random_compliant_schedules_corrupt_only_legacy() {
    let mut legacy = 0;
    for seed in 0..24 {
        for policy in nvme_sim::Policy::ALL {
            let r = run(&Scenario::random(seed, policy, false));
            if policy == Policy::Legacy {
                legacy += usize::from(r.corrupted);
            } else {
                assert!(!r.corrupted, "seed {seed} {}: {:?}\n{}", policy.name(), r.violations, timeline(&r));
            }
        }
    }
    assert!(legacy > 0, "legacy must corrupt on some seed");
}
