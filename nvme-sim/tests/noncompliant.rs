//! Targets that break their CQT promise (ccr-cqt.md §11, `explore --noncompliant`): stuck commands may outlive
//! `(TBKAS ? 3 : 2) x KATO + CQT`. `cqt` trusts the promise and may corrupt; a CCR success is only reported after
//! the real teardown, so a release proven by a CCR never corrupts.

use nvme_sim::{Policy, Report, Scenario, run};

fn released_by(r: &Report, why: &str) -> bool {
    r.timeline.iter().any(|e| e.what.starts_with("host: released") && e.what.contains(why))
}

#[test]
fn cqt_may_corrupt_but_a_ccr_proven_release_never_does() {
    let (mut cqt_corrupted, mut ccr_proven) = (0, 0);
    for seed in 0..40 {
        let s = Scenario::random(seed, Policy::Cqt, true);
        assert!(s.extra_faults.len() + 2 <= s.paths, "seed {seed}: one path always stays healthy");
        cqt_corrupted += usize::from(run(&s).corrupted);

        let r = run(&Scenario::random(seed, Policy::Ccr, true));
        let by_ccr = released_by(&r, "(CCR succeeded)");
        let by_deadline = released_by(&r, "(hold deadline passed)");
        if by_ccr && !by_deadline {
            ccr_proven += 1;
            assert!(!r.corrupted, "seed {seed}: released by CCR success yet corrupted: {:?}", r.violations);
        }
        if r.corrupted {
            // nvme-ccr releases at the hold deadline even while an accepted CCR is still in progress; against a
            // target that breaks its promise that release is what corrupts (reported to the lead).
            assert!(by_deadline, "seed {seed}: corrupted without a deadline release: {:?}", r.violations);
        }
    }
    assert!(cqt_corrupted > 0, "a noncompliant target must be able to fool cqt");
    assert!(ccr_proven > 5, "CCR must prove most releases: {ccr_proven}");
}
