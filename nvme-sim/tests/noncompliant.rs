//! Targets that break their CQT promise ([`nvme_ccr::notes::ccr_cqt`] §11, `explore --noncompliant`): stuck commands may outlive
//! `(TBKAS ? 3 : 2) x KATO + CQT`. `cqt` trusts the promise and may corrupt. `ccr` (with a working CCR: the random
//! noncompliant faults are fopcode and freeze only, and one path always stays healthy as a source) never corrupts:
//! once a live source accepted its CCR, nvme-ccr holds past the deadline until that CCR resolves, and the target
//! reports success only after the real teardown (spec-notes/recovery.md, decision 24); when that CCR is lost with
//! its source after the deadline, the CCR goes through the next untried live source (decision 28).

use nvme_sim::{Policy, Report, Scenario, run};

fn noted(r: &Report, what: &str) -> bool {
    r.timeline.iter().any(|e| e.what().contains(what))
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

/// Seed 5132 (`nvme-lab explore --seeds 10000 --policy ccr --noncompliant`, the one corrupting seed before decision
/// 28): the controller of path 1 (`impacted`) has its hold extended by the CCR that the controller of path 2
/// (`source`) accepted; `source` then fails on its own, after the deadline, while the controller of path 3
/// (`untried`) was never asked. The CCR goes through `untried`, and the write is released only on its success,
/// after the stuck write reached the media (it used to be released at once and the stuck write landed 5.5 s later).
/// The CNTLIDs are read from the timeline: they follow the order in which the admin Connects arrive.
#[test]
fn seed_5132_a_source_lost_after_the_deadline_hands_over_to_the_untried_path() {
    for policy in [Policy::Ccr, Policy::CcrFilter { release_admin: false }] {
        let r = run(&Scenario::random(5132, policy, true));
        assert!(!r.corrupted, "{policy:?}: {:?}", r.violations);
        let cntlid = |path: usize, prefix: &str| {
            r.timeline
                .iter()
                .filter(|e| e.path == Some(path))
                .find_map(|e| e.what().strip_prefix(prefix)?.split([' ', ':']).next()?.parse::<u16>().ok())
                .unwrap_or_else(|| panic!("{policy:?}: no \"{prefix}\" on path {path}"))
        };
        let impacted = cntlid(1, "fault: fopcode 1 fired on controller ");
        let source = cntlid(2, "fault: fopcode 1 fired on controller ");
        let untried = cntlid(3, "target: controller ");
        let at = |what: &str| {
            r.timeline
                .iter()
                .find(|e| e.what().contains(what))
                .map(|e| e.at)
                .unwrap_or_else(|| panic!("{policy:?}: no \"{what}\" in the timeline"))
        };
        let extended = at(&format!("hold deadline of controller {impacted} passed"));
        let lost = at(&format!("CCR for controller {impacted} via controller {source} failed: the source failed"));
        let handed_over = at(&format!("CCR for controller {impacted} sent via controller {untried}"));
        let landed = at(&format!("controller {impacted}'s stuck command reached the media"));
        let release_line = format!("held command(s) of controller {impacted} after");
        let released = at(&release_line);
        assert!(extended < lost && lost == handed_over, "{policy:?}: {extended:?} {lost:?} {handed_over:?}");
        assert!(landed < released, "{policy:?}: released at {released:?}, stuck write landed at {landed:?}");
        let release = r.timeline.iter().find(|e| e.what().contains(&release_line)).unwrap();
        assert!(release.what().contains("(CCR succeeded)"), "{policy:?}: {}", release.what());
    }
}
