//! The host's recovery engine runs behind nvme-ccr's invariant monitor (the one statement of the invariants the
//! property test, the fuzz target and the model checker share): over random scenarios of every policy, compliant and
//! noncompliant targets, the monitor finds nothing; and it is on (a broken engine, nvme-ccr's `mutant-early-release`,
//! is caught by the same monitor in nvme-check/tests/mutant.rs).

use nvme_sim::{Policy, Scenario, run};

#[test]
fn the_engine_keeps_its_invariants_in_random_scenarios() {
    let mut held = 0;
    for policy in Policy::ALL {
        for noncompliant in [false, true] {
            for seed in 0..12 {
                let r = run(&Scenario::random(seed, policy, noncompliant));
                assert_eq!(r.engine_violation, None, "{policy:?} seed {seed} noncompliant {noncompliant}");
                held += usize::from(r.release.is_some());
            }
        }
    }
    assert!(held > 20, "the scenarios hold commands ({held} runs did)");
}
