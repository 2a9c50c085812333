//! Targets that break their CQT promise (ccr-cqt.md §11, `explore --noncompliant`): stuck commands may outlive
//! `(TBKAS ? 3 : 2) x KATO + CQT`. `cqt` trusts the promise and may corrupt. `ccr` (with a working CCR: the random
//! noncompliant faults are fopcode and freeze only, and one path always stays healthy as a source) never corrupts:
//! once a live source accepted its CCR, nvme-ccr holds past the deadline until that CCR resolves, and the target
//! reports success only after the real teardown (spec-notes/recovery.md, decision 24).

use nvme_sim::{Policy, Report, Scenario, run};

fn noted(r: &Report, what: &str) -> bool {
    r.timeline.iter().any(|e| e.what.contains(what))
}

#[test]
fn cqt_may_corrupt_but_ccr_with_a_working_ccr_never_does() {
    let (mut cqt_corrupted, mut ccr_extended, mut extended_then_proven) = (0, 0, 0);
    for seed in 0..40 {
        let s = Scenario::random(seed, Policy::Cqt, true);
        assert!(s.extra_faults.len() + 2 <= s.paths, "seed {seed}: one path always stays healthy");
        cqt_corrupted += usize::from(run(&s).corrupted);

        let r = run(&Scenario::random(seed, Policy::Ccr, true));
        assert!(!r.corrupted, "seed {seed}: ccr corrupted against a noncompliant target: {:?}", r.violations);
        if noted(&r, "accepted its CCR, which is in progress") {
            ccr_extended += 1;
            extended_then_proven += usize::from(noted(&r, "(CCR succeeded)"));
        }
    }
    assert!(cqt_corrupted > 0, "a noncompliant target must be able to fool cqt");
    // The seeds must exercise the extension: a stuck command outliving the deadline while the CCR is in progress.
    assert!(ccr_extended > 0, "no seed held past the deadline by an accepted CCR");
    assert!(extended_then_proven > 0, "no extended hold ended with the CCR's success");
}
