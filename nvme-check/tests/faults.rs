//! The one-shot target faults the model offers (a lost CCR Completed notice, a failed CCR log read) reach the host:
//! one schedule driven by hand, every message delivered as soon as possible, time moved only when nothing is in
//! flight.
#![cfg(not(feature = "mutant-early-release"))]

use std::time::Duration;

use nvme_ccr::Policy;
use nvme_check::{Action, FailoverModel, Fault, Setup, State};
use stateright::Model;

/// The fault-free next step `drive` takes in `st`: a delivery first, then a tick, then a submission.
fn next_action(model: &FailoverModel, st: &State) -> Option<Action> {
    let mut actions = Vec::new();
    model.actions(st, &mut actions);
    actions
        .iter()
        .find(|a| matches!(a, Action::Deliver { .. }))
        .or_else(|| actions.iter().find(|a| matches!(a, Action::Tick)))
        .or_else(|| actions.iter().find(|a| matches!(a, Action::Submit)))
        .copied()
}

fn drive(model: &FailoverModel, mut st: State, first: &[Action], trace: &mut Vec<String>) -> State {
    for &a in first {
        st = model.step(&st, a, Some(trace));
    }
    for _ in 0..1000 {
        let Some(a) = next_action(model, &st) else { return st };
        st = model.step(&st, a, Some(trace));
    }
    panic!("the schedule does not end: {trace:#?}");
}

#[test]
fn a_lost_notice_and_a_failed_log_read_reach_the_host_and_lose_nothing() {
    let mut setup = Setup::ci(Policy::Ccr, false);
    setup.faults = 4;
    let model = FailoverModel::new(setup);
    let faults = [
        Action::Fault(Fault::LoseAen),
        Action::Fault(Fault::FailLogRead),
        Action::Submit,
        Action::Fault(Fault::Fopcode { path: 0, delay: setup.delay(), freeze: false }),
    ];
    let mut trace = Vec::new();
    let end = drive(&model, model.initial(), &faults, &mut trace);
    let text = trace.join("\n");
    assert!(end.all_done(&setup), "{text}");
    assert!(end.data_violation.is_none() && end.host.engine_violation().is_none(), "{text}");
    assert_eq!(end.sub.one_shot_faults(), (false, false), "both one-shot faults fired: {text}");
    let at = |needle: &str| trace.iter().position(|l| l.contains(needle)).unwrap_or_else(|| panic!("{needle}: {text}"));
    // The CCR is accepted; the teardown completes when the held write lands at the deadline, but its notice is lost,
    // so the hold is extended and the host reads the log: that read fails (Internal Error, 0x000c). A failed read
    // does not end the extension (decision 26): the re-read a second later finds the entry Success and releases
    // with the CCR as proof.
    assert!(!text.contains("CCR Completed notice on controller"), "the notice was lost: {text}");
    let accepted = at("CCR via 2 answered 0x0000");
    let landed = at("W1 lands on LBA 0 (controller 1)");
    let extended = at("HoldExtendedByCcr");
    let read = at("Get Log Page");
    let failed = at("status 0x000c");
    let released = at("reason: CcrSucceeded");
    assert!(accepted < landed && landed < extended && extended < read && read < failed && failed < released, "{text}");
    assert!(!text.contains("reason: HoldDeadline"), "{text}");
    assert_eq!(end.media, vec![2], "{text}");
    assert!(end.now >= nvme_ccr::Instant::from_elapsed(Duration::from_secs(2)), "the re-read a second later: {text}");
}

#[test]
fn against_a_noncompliant_target_a_failed_log_read_past_the_deadline_keeps_the_hold() {
    // The case `nvme-lab check --noncompliant` found once every fault was allowed there: the CCR via path 1 is
    // accepted, the hold is extended at the deadline (1 s), the log read there fails, no other source is left. The
    // engine used to release at once and the stuck W1 landed after its retry; now the re-reads keep watching until
    // the write lands (3 s after its arrival) and the log says Success.
    let mut setup = Setup::ci(Policy::Ccr, true);
    setup.faults = 2;
    let model = FailoverModel::new(setup);
    let faults = [
        Action::Fault(Fault::FailLogRead),
        Action::Submit,
        Action::Fault(Fault::Fopcode { path: 0, delay: setup.delay(), freeze: false }),
    ];
    let mut trace = Vec::new();
    let end = drive(&model, model.initial(), &faults, &mut trace);
    let text = trace.join("\n");
    assert!(end.all_done(&setup), "{text}");
    assert!(end.data_violation.is_none() && end.host.engine_violation().is_none(), "{text}");
    let at = |needle: &str| trace.iter().position(|l| l.contains(needle)).unwrap_or_else(|| panic!("{needle}: {text}"));
    let extended = at("HoldExtendedByCcr");
    let failed = at("status 0x000c");
    let landed = at("W1 lands on LBA 0 (controller 1)");
    let released = at("reason: CcrSucceeded");
    assert!(extended < failed && failed < landed && landed < released, "{text}");
    assert!(!text.contains("reason: HoldDeadline"), "{text}");
    assert_eq!(end.media, vec![2], "{text}");
}

/// Steps as `drive` does until a trace line contains `needle`.
fn drive_until(model: &FailoverModel, mut st: State, trace: &mut Vec<String>, needle: &str) -> State {
    for _ in 0..1000 {
        if trace.iter().any(|l| l.contains(needle)) {
            return st;
        }
        let Some(a) = next_action(model, &st) else { break };
        st = model.step(&st, a, Some(trace));
    }
    panic!("{needle} never happened: {trace:#?}");
}

#[test]
fn with_no_path_live_the_hold_waits_for_the_path_that_comes_back() {
    // The case `nvme-lab check --reconnect --noncompliant` found (decision 31): W1 stuck on path 0, the CCR via path
    // 1 accepted, the hold extended at the deadline (1 s), then path 1's connections are lost. No untried live
    // source is left; the engine used to release on the deadline, W1 waited for a path, was retried on path 1 once
    // it reconnected, W2 was acknowledged, and the stuck W1 landed over it. Now, with no path live and path 1
    // coming back, the hold waits; path 1's new controller is asked and its CCR's success (after the stuck write
    // landed) releases W1.
    for policy in [Policy::Ccr, Policy::CcrFilter { release_admin: false }] {
        let mut setup = Setup::ci(policy, true);
        setup.faults = 2;
        setup.reconnect = true;
        let model = FailoverModel::new(setup);
        let mut trace = Vec::new();
        let mut st = model.initial();
        for a in [Action::Submit, Action::Fault(Fault::Fopcode { path: 0, delay: setup.delay(), freeze: false })] {
            st = model.step(&st, a, Some(&mut trace));
        }
        let st = drive_until(&model, st, &mut trace, "HoldExtendedByCcr");
        let st = model.step(&st, Action::Fault(Fault::Loss { path: 1 }), Some(&mut trace));
        let end = drive(&model, st, &[], &mut trace);
        let text = trace.join("\n");
        assert!(end.all_done(&setup), "{text}");
        assert!(end.data_violation.is_none() && end.host.engine_violation().is_none(), "{text}");
        let at =
            |needle: &str| trace.iter().position(|l| l.contains(needle)).unwrap_or_else(|| panic!("{needle}: {text}"));
        let extended = at("HoldExtendedByCcr");
        let landed = at("W1 lands on LBA 0 (controller 1)");
        let released = at("reason: CcrSucceeded");
        assert!(extended < landed && landed < released, "{text}");
        assert!(!text.contains("reason: HoldDeadline"), "{text}");
        assert_eq!(end.media, vec![2], "{text}");
    }
}
