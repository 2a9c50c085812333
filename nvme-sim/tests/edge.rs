//! Odd scenarios finish, stay deterministic and never panic.

use std::time::Duration;

use nvme_sim::{FaultKind, FaultSpec, PathFault, Policy, Scenario, WorkloadKind, run};

fn base(policy: Policy) -> Scenario {
    let mut s = Scenario::new(policy, WorkloadKind::RwTest, FaultKind::Fopcode);
    s.iterations = Some(2);
    s
}

/// One path: no CCR source, so `ccr` falls back to the hold; `legacy` still corrupts after its reconnect.
#[test]
fn a_single_path() {
    let mut s = base(Policy::Ccr);
    s.paths = 1;
    let r = run(&s);
    assert!(!r.corrupted, "{:?}", r.violations);
    assert!(r.timeline.iter().any(|e| e.what().contains("no CCR source left")));
    assert!((r.release.unwrap().as_secs_f64() - 15.001).abs() < 0.002);
    s.policy = Policy::Legacy;
    assert!(run(&s).corrupted);
}

/// Every path frozen for good: the application never finishes; the run stops at its time limit and says so.
#[test]
fn every_path_frozen_stops_at_the_time_limit() {
    let mut s = base(Policy::Ccr);
    s.fault = FaultKind::Freeze;
    s.extra_faults.push(FaultSpec {
        path: 1,
        kind: PathFault::Freeze,
        opcode: 1,
        at: Duration::ZERO,
        delay: Duration::from_millis(1),
    });
    let r = run(&s);
    assert!(!r.corrupted);
    assert_eq!(r.rw_test_exit, None);
    assert!(r.timeline.iter().any(|e| e.what().contains("time limit")));
    assert!(r.sim_time > Duration::from_secs(600));
}

/// Degenerate knobs: zero delay, tiny KATO, no TBKAS, heavy loss, zero paths asked for, CCRL 0, IRS mode.
#[test]
fn degenerate_knobs() {
    for policy in nvme_sim::Policy::ALL {
        let mut s = base(policy);
        s.delay = Duration::ZERO;
        s.kato = Duration::from_millis(1);
        s.tbkas = false;
        let r = run(&s);
        assert!(!r.corrupted || policy == Policy::Legacy, "{:?}", r.violations);

        let mut s = base(policy);
        s.loss = 0.9; // clamped to 0.5
        s.paths = 0; // simulated as 1
        s.iterations = Some(1);
        let r = run(&s);
        assert!(r.timeline[0].what().contains("simulating 1"));
        assert!(!r.corrupted || policy == Policy::Legacy);

        let mut s = base(policy);
        s.ccrl = 0;
        s.immediate_reset = true;
        let r = run(&s);
        assert!(!r.corrupted || policy == Policy::Legacy, "{:?}", r.violations);
    }
}

/// The admin commands the host sent, as (opcode, CDW10 low byte = the log page of a Get Log Page), from the capture.
fn admin_commands(r: &nvme_sim::Report) -> Vec<(u8, u8)> {
    use nvme_proto::tcp::{Decoded, Deframer, Params, Pdu, Role};
    let mut streams: std::collections::BTreeMap<(usize, u32), Vec<u8>> = Default::default();
    for w in r.wire.iter().filter(|w| w.to_controller && w.queue == 0) {
        streams.entry((w.path, w.connection)).or_default().extend_from_slice(&w.bytes);
    }
    let mut got = Vec::new();
    for bytes in streams.values() {
        let (mut de, mut at) = (Deframer::new(Role::Controller), 0);
        while let Ok(Decoded::Pdu { pdu, consumed }) = de.decode(&bytes[at..]) {
            match pdu {
                Pdu::IcReq(_) => de.set_params(Params { header_digest: true, data_digest: true, ..Params::default() }),
                Pdu::CapsuleCmd(c) => got.push((c.sqe[0], c.sqe[40])),
                _ => {}
            }
            at += consumed;
        }
        assert_eq!(at, bytes.len(), "every byte decodes");
    }
    got
}

/// IRS mode: the CCR completes with IRS = 1 once the teardown is done; no AEN or log read is needed. Without it
/// the host reads the CCR log after the notice.
#[test]
fn immediate_reset_success() {
    let mut s = base(Policy::Ccr);
    s.capture = true;
    s.immediate_reset = true;
    let r = run(&s);
    assert!(!r.corrupted);
    let release = r.release.unwrap().as_secs_f64();
    assert!(release > 2.0 && release < 2.1, "{release}");
    let ccr_log_read = |cmds: &[(u8, u8)]| cmds.contains(&(0x02, 0x1E));
    let cmds = admin_commands(&r);
    assert_eq!(cmds.iter().filter(|c| c.0 == 0x38).count(), 1, "one CCR");
    assert!(!ccr_log_read(&cmds), "no CCR log read in IRS mode");
    assert!(!r.timeline.iter().any(|e| e.what().contains("AEN on")));
    s.immediate_reset = false;
    let r = run(&s);
    assert!(ccr_log_read(&admin_commands(&r)));
    assert!(r.timeline.iter().any(|e| e.what().contains("AEN on")));
}
