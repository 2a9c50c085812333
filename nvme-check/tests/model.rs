//! The model check at the CI size: `legacy` corrupts (and the counterexample says how), the safe policies hold.
#![cfg(not(feature = "mutant-early-release"))]

use nvme_ccr::Policy;
use nvme_ccr::check::DataViolation;
use nvme_check::{
    ALL_COMPLETE, Action, ENGINE_INVARIANTS, FAILOVER_HAPPENS, Fault, NO_STALE_DATA, Report, Setup, Verdict, run,
    summarize,
};

fn check(setup: Setup) -> Report {
    run(setup, 2, |_, _, _| {})
}

fn verdict(r: &Report, property: &str) -> Verdict {
    r.verdicts.iter().find(|(n, _)| *n == property).map(|(_, v)| *v).expect("the property is reported")
}

#[test]
fn legacy_lets_a_held_write_land_after_a_newer_one_was_acknowledged() {
    let r = check(Setup::ci(Policy::Legacy, false));
    assert!(r.violated(), "{}", summarize(&r));
    assert!(!r.complete);
    assert_eq!(verdict(&r, NO_STALE_DATA), Verdict::Violated);
    assert_eq!(verdict(&r, ENGINE_INVARIANTS), Verdict::Holds, "legacy releases at once, as its rules say");
    let c = r.counterexample.as_ref().expect("a counterexample");
    assert_eq!(c.property, NO_STALE_DATA);

    // The shape: a write held by a failing controller (fopcode), then the stale landing of W1 (the first write, on
    // the one block) after W2 was acknowledged: the hazard of notes::ccr_cqt §14.
    let faults: Vec<Fault> =
        c.actions.iter().filter_map(|a| if let Action::Fault(f) = a { Some(*f) } else { None }).collect();
    assert!(matches!(faults.first(), Some(Fault::Fopcode { freeze: false, .. })), "{faults:?}");
    assert_eq!(c.end.data_violation, Some(DataViolation::StaleWrite { lba: 0, write: 0, value: 1 }));
    assert_eq!(c.end.media, vec![1], "the block ends with the stale value");
    assert!(c.actions.iter().filter(|a| **a == Action::Submit).count() >= 2, "both writes were submitted");
    // The stale write lands when the backend finishes it: at any step within its delay (no time needs to pass).
    assert!(matches!(c.actions.last(), Some(Action::Land { .. })), "{:?}", c.actions.last());

    // The trace: numbered from 1, one numbered line per step, the landing after the acknowledgement.
    let numbered: Vec<&String> = c.trace.iter().filter(|l| l.contains(". [")).collect();
    assert_eq!(numbered.len(), c.actions.len());
    assert!(numbered[0].trim_start().starts_with("1. ["), "{}", numbered[0]);
    let at =
        |needle: &str| c.trace.iter().position(|l| l.contains(needle)).unwrap_or_else(|| panic!("{needle}: {c:#?}"));
    let fault = at("FAULT: fopcode");
    let first = at("Write cid 0 W1");
    let retried =
        first + 1 + c.trace[first + 1..].iter().position(|l| l.contains("Write cid 0 W1")).expect("W1 retried");
    assert!(c.trace[retried].contains("(path 1,"), "the retry goes to the other path: {}", c.trace[retried]);
    let acked = at("W2 acknowledged");
    let landed = c.trace.iter().rposition(|l| l.contains("W1 lands on LBA 0")).expect("W1 lands");
    let violation = at("VIOLATION");
    assert!(
        fault < first && first < retried && retried < acked && acked < landed && landed < violation,
        "{:#?}",
        c.trace
    );
    assert!(c.trace[violation].contains("stale write"), "{}", c.trace[violation]);
    let text = summarize(&r);
    assert!(text.contains("counterexample"), "{text}");
}

fn holds(setup: Setup) {
    let r = check(setup);
    let text = summarize(&r);
    assert!(r.complete, "{text}");
    assert!(r.counterexample.is_none(), "{text}");
    for property in [NO_STALE_DATA, ENGINE_INVARIANTS, ALL_COMPLETE] {
        assert_eq!(verdict(&r, property), Verdict::Holds, "{property}: {text}");
    }
    // Not vacuous: a schedule where a held write lands after its path failed and everything completes was explored.
    assert_eq!(verdict(&r, FAILOVER_HAPPENS), Verdict::Witnessed, "{text}");
    assert!(r.unique > 100, "{text}");
}

#[test]
fn cqt_holds() {
    holds(Setup::ci(Policy::Cqt, false));
}

#[test]
fn ccr_holds() {
    holds(Setup::ci(Policy::Ccr, false));
}

#[test]
fn ccr_filter_holds() {
    holds(Setup::ci(Policy::CcrFilter { release_admin: false }, false));
}

#[test]
fn ccr_holds_against_a_noncompliant_target() {
    holds(Setup::ci(Policy::Ccr, true));
}

#[test]
fn ccr_filter_holds_against_a_noncompliant_target() {
    holds(Setup::ci(Policy::CcrFilter { release_admin: false }, true));
}

#[test]
fn cqt_corrupts_against_a_noncompliant_target() {
    // The time-based hold trusts the target's promise: a write held three times as long lands after the hold.
    let r = check(Setup::ci(Policy::Cqt, true));
    assert_eq!(verdict(&r, NO_STALE_DATA), Verdict::Violated, "{}", summarize(&r));
}

#[test]
fn reconnects_hold_at_one_fault() {
    // A failed path comes back as a new association (a new controller): its bring-up, and commands waiting for it,
    // are part of the space. `nvme-lab check --reconnect --faults 2` is the CI size (BENCHMARKS.md).
    for policy in [Policy::Cqt, Policy::Ccr] {
        let mut setup = Setup::ci(policy, false);
        setup.reconnect = true;
        setup.faults = 1;
        holds(setup);
    }
}
