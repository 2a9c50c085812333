//! `nvme-lab explore`: random fault schedules over many seeds, in parallel, looking for corruption.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use nvme_sim::{Policy, Scenario};
use rayon::prelude::*;

use crate::run::describe;

/// One seed whose run corrupted data.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    /// The seed.
    pub seed: u64,
    /// The scenario in words.
    pub scenario: String,
    /// The checker's violations.
    pub violations: Vec<String>,
}

/// One seed's findings: corruption, and an engine invariant broken (seed, violation).
type SeedResult = (Option<Finding>, Option<(u64, String)>);

/// What an exploration found.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Seeds run.
    pub seeds: u64,
    /// Corrupting seeds, in seed order.
    pub findings: Vec<Finding>,
    /// Seeds whose recovery engine broke an invariant (nvme-ccr's monitor), with the first violation, in seed
    /// order: always a failure, whatever the policy.
    pub engine: Vec<(u64, String)>,
    /// Wall-clock time.
    pub wall: Duration,
}

/// Whether corruption under `policy` is a failure: never for `legacy` (the unsafe baseline), not for `cqt` when the
/// target breaks its CQT promise (`noncompliant`: its timer trusts that promise), always for `ccr` and `ccr-filter`
/// (noncompliant random scenarios keep CCR working, and a CCR success waits for the real teardown).
pub fn corruption_forbidden(policy: Policy, noncompliant: bool) -> bool {
    match policy {
        Policy::Legacy => false,
        Policy::Cqt => !noncompliant,
        Policy::Ccr | Policy::CcrFilter { .. } => true,
    }
}

/// The command that reproduces one seed.
pub fn reproduce(seed: u64, policy: Policy, noncompliant: bool) -> String {
    format!(
        "nvme-lab run --random --seed {seed} --policy {}{}",
        policy.name(),
        if noncompliant { " --noncompliant" } else { "" }
    )
}

/// Runs `Scenario::random(seed, policy, noncompliant)` for every seed in `seeds`, on `threads` threads (0: all
/// cores), with a progress bar on stderr when it is a terminal.
pub fn explore(
    seeds: std::ops::Range<u64>,
    policy: Policy,
    noncompliant: bool,
    threads: usize,
) -> Result<Outcome, rayon::ThreadPoolBuildError> {
    let started = Instant::now();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
    let count = seeds.end.saturating_sub(seeds.start);
    let bar = ProgressBar::with_draw_target(Some(count), ProgressDrawTarget::hidden());
    if std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::stderr());
        if let Ok(style) =
            ProgressStyle::with_template("{elapsed_precise} [{wide_bar}] {pos}/{len} seeds, {msg} (eta {eta})")
        {
            bar.set_style(style);
        }
    }
    let corrupted = std::sync::atomic::AtomicU64::new(0);
    let results: Vec<SeedResult> = pool.install(|| {
        seeds
            .into_par_iter()
            .filter_map(|seed| {
                let s = Scenario::random(seed, policy, noncompliant);
                let r = nvme_sim::run(&s);
                bar.inc(1);
                let engine = r.engine_violation.clone().map(|v| (seed, v));
                if !r.corrupted && engine.is_none() {
                    return None;
                }
                let finding = r.corrupted.then(|| {
                    let n = corrupted.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                    bar.set_message(format!("{n} corrupted"));
                    Finding { seed, scenario: describe(&s), violations: r.violations }
                });
                Some((finding, engine))
            })
            .collect()
    });
    bar.finish_and_clear();
    let mut findings: Vec<Finding> = results.iter().filter_map(|(f, _)| f.clone()).collect();
    let mut engine: Vec<(u64, String)> = results.into_iter().filter_map(|(_, e)| e).collect();
    findings.sort_by_key(|f| f.seed);
    engine.sort_by_key(|e| e.0);
    Ok(Outcome { seeds: count, findings, engine, wall: started.elapsed() })
}

/// The report: each finding (all of them when corruption is forbidden, else the first `max_print`), then a summary
/// line. Returns the text and whether the run is a failure.
pub fn report(o: &Outcome, policy: Policy, noncompliant: bool, max_print: usize, threads: usize) -> (String, bool) {
    let forbidden = corruption_forbidden(policy, noncompliant);
    let shown = if forbidden { o.findings.len() } else { o.findings.len().min(max_print) };
    let mut out = String::new();
    for f in &o.findings[..shown] {
        out.push_str(&format!("seed {}: corrupted ({})\n", f.seed, f.scenario));
        for v in f.violations.iter().take(3) {
            out.push_str(&format!("    {v}\n"));
        }
        if f.violations.len() > 3 {
            out.push_str(&format!("    ... and {} more violations\n", f.violations.len() - 3));
        }
        out.push_str(&format!("  reproduce: {}\n", reproduce(f.seed, policy, noncompliant)));
    }
    if shown < o.findings.len() {
        out.push_str(&format!("... and {} more corrupting seeds (--max-print shows more)\n", o.findings.len() - shown));
    }
    let name = policy.name();
    let pct = if o.seeds == 0 { 0.0 } else { 100.0 * o.findings.len() as f64 / o.seeds as f64 };
    out.push_str(&format!(
        "explored {} seeds of policy {name} ({}): {} corrupted ({pct:.1} %), in {:.1} s on {} threads\n",
        o.seeds,
        if noncompliant { "target breaks its CQT promise" } else { "target keeps its CQT promise" },
        o.findings.len(),
        o.wall.as_secs_f64(),
        threads,
    ));
    for (seed, v) in &o.engine {
        out.push_str(&format!("seed {seed}: ENGINE INVARIANT BROKEN: {v}\n"));
        out.push_str(&format!("  reproduce: {}\n", reproduce(*seed, policy, noncompliant)));
    }
    let failed = (forbidden && !o.findings.is_empty()) || !o.engine.is_empty();
    if !o.engine.is_empty() {
        out.push_str(&format!("FAIL: the recovery engine broke an invariant in {} seeds\n", o.engine.len()));
    } else if failed {
        out.push_str(&format!("FAIL: policy {name} must never corrupt data in these scenarios\n"));
    } else if policy == Policy::Legacy && o.findings.is_empty() && o.seeds > 0 {
        out.push_str("note: no corruption found under legacy in these seeds; more seeds find some\n");
    }
    (out, failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_corruption_fails() {
        assert!(!corruption_forbidden(Policy::Legacy, false));
        assert!(!corruption_forbidden(Policy::Legacy, true));
        assert!(corruption_forbidden(Policy::Cqt, false));
        assert!(!corruption_forbidden(Policy::Cqt, true));
        assert!(corruption_forbidden(Policy::Ccr, true));
        assert!(corruption_forbidden(Policy::CcrFilter { release_admin: false }, true));
    }

    #[test]
    fn report_lists_findings_and_the_rule() {
        let f = |seed| Finding { seed, scenario: "x".into(), violations: vec!["stale".into()] };
        let o = Outcome {
            seeds: 100,
            findings: vec![f(3), f(9), f(12)],
            engine: vec![],
            wall: Duration::from_millis(1500),
        };
        let (text, failed) = report(&o, Policy::Legacy, false, 2, 2);
        assert!(!failed);
        assert!(text.contains(
            "seed 3: corrupted (x)\n    stale\n  reproduce: nvme-lab run --random --seed 3 --policy legacy\n"
        ));
        assert!(!text.contains("seed 12:"));
        assert!(text.contains("... and 1 more corrupting seeds"));
        assert!(
            text.contains("explored 100 seeds of policy legacy (target keeps its CQT promise): 3 corrupted (3.0 %)")
        );
        let (text, failed) = report(&o, Policy::Ccr, true, 2, 2);
        assert!(failed);
        assert!(text.contains("seed 12:") && text.contains("--policy ccr --noncompliant"));
        assert!(text.contains("FAIL: policy ccr"));
        let none = Outcome { seeds: 5, findings: vec![], engine: vec![], wall: Duration::ZERO };
        assert!(report(&none, Policy::Legacy, false, 2, 1).0.contains("note: no corruption"));
        assert!(!report(&none, Policy::Cqt, false, 2, 1).1);
        // An engine invariant broken fails the run whatever the policy.
        let broken = Outcome { seeds: 5, findings: vec![], engine: vec![(4, "(1) x".into())], wall: Duration::ZERO };
        let (text, failed) = report(&broken, Policy::Legacy, false, 2, 1);
        assert!(failed && text.contains("seed 4: ENGINE INVARIANT BROKEN: (1) x"), "{text}");
    }
}
