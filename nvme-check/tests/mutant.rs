//! A deliberately broken engine (nvme-ccr's `mutant-early-release`: a CCR's acceptance releases the held commands,
//! without waiting for the target's teardown report) is caught by the model: the checker can fail.
//! Run with `cargo test -p nvme-check --features mutant-early-release --test mutant`.
#![cfg(feature = "mutant-early-release")]

use nvme_ccr::Policy;
use nvme_ccr::check::Invariant;
use nvme_check::{Action, ENGINE_INVARIANTS, Setup, run, summarize};

#[test]
fn early_release_is_caught() {
    for policy in [Policy::Ccr, Policy::CcrFilter { release_admin: false }] {
        let r = run(Setup::ci(policy, false), 2, |_, _, _| {});
        let text = summarize(&r);
        assert!(r.violated(), "{text}");
        let c = r.counterexample.as_ref().expect("a counterexample");
        // The monitor sees the release on the CCR's acceptance, before the deadline and without the teardown report:
        // invariant (1), before the stale data could follow.
        assert_eq!(c.property, ENGINE_INVARIANTS, "{text}");
        let v = c.end.host.engine_violation().expect("the monitor's violation");
        assert_eq!(v.invariant, Invariant::ReleaseWithoutProof, "{text}");
        assert!(c.trace.iter().any(|l| l.contains("CcrSucceeded")), "{text}");
        assert!(c.actions.iter().any(|a| matches!(a, Action::Fault(_))), "a fault starts it: {text}");
        assert!(text.contains("counterexample"), "{text}");
    }
}
