//! `nvme-lab explore`: random fault schedules over many seeds, in parallel, looking for corruption.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use nvme_sim::{Policy, Scenario};
use rayon::prelude::*;

use crate::names::DebateArgs;
use crate::run::describe;

/// What every random scenario gets instead of its random value (`explore --fault/--cqt` and the debated options).
#[derive(Clone, Copy, Debug, Default)]
pub struct Overrides {
    /// The fault.
    pub fault: Option<nvme_sim::FaultKind>,
    /// The CQT the target reports.
    pub cqt: Option<Duration>,
    /// The debated host options.
    pub debate: DebateArgs,
}

impl Overrides {
    /// The random scenario of `seed` with the overrides.
    pub fn scenario(&self, seed: u64, policy: Policy, noncompliant: bool) -> Scenario {
        let mut s = Scenario::random(seed, policy, noncompliant);
        if let Some(f) = self.fault {
            s.fault = f;
        }
        if let Some(c) = self.cqt {
            s.cqt = c;
        }
        self.debate.apply(&mut s);
        s
    }

    /// The overrides as command-line flags, each with a leading space.
    pub fn flags(&self) -> String {
        let mut out = String::new();
        if let Some(f) = self.fault {
            out.push_str(&format!(" --fault {f}"));
        }
        if let Some(c) = self.cqt {
            out.push_str(&format!(" --cqt {}", c.as_millis()));
        }
        out + &self.debate.flags()
    }
}

/// One seed whose run corrupted data.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    /// The seed.
    pub seed: u64,
    /// The scenario in words.
    pub scenario: String,
    /// The checker's violations.
    pub violations: Vec<String>,
    /// Whether the scenario's host is unsafe by design (legacy, or the immediate CQT = 0 rule against CQT 0).
    pub unsafe_by_design: bool,
}

/// Sums over every seed (for the debates: stall, fallbacks, CCRs).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Totals {
    /// Sum of the seeds' max stall (largest application latency), ms.
    pub stall_sum_ms: f64,
    /// The largest max stall of any seed, ms.
    pub stall_max_ms: f64,
    /// Seeds where the host fell back to the timer at least once.
    pub seeds_with_fallback: u64,
    /// Fallbacks to the timer, all seeds.
    pub fallbacks: u64,
    /// CCRs sent, all seeds.
    pub ccrs: u64,
    /// Seeds whose scenario is unsafe by design.
    pub unsafe_seeds: u64,
    /// Sum of the seeds' admin stall (the admin stream's longest monitoring read), ms.
    pub admin_sum_ms: f64,
    /// The largest admin stall of any seed, ms.
    pub admin_max_ms: f64,
}

impl Totals {
    fn add(self, o: Totals) -> Totals {
        Totals {
            stall_sum_ms: self.stall_sum_ms + o.stall_sum_ms,
            stall_max_ms: self.stall_max_ms.max(o.stall_max_ms),
            seeds_with_fallback: self.seeds_with_fallback + o.seeds_with_fallback,
            fallbacks: self.fallbacks + o.fallbacks,
            ccrs: self.ccrs + o.ccrs,
            unsafe_seeds: self.unsafe_seeds + o.unsafe_seeds,
            admin_sum_ms: self.admin_sum_ms + o.admin_sum_ms,
            admin_max_ms: self.admin_max_ms.max(o.admin_max_ms),
        }
    }
}

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
    /// Sums over every seed.
    pub totals: Totals,
}

/// Whether corruption under `policy` is a failure: never for `legacy` (the unsafe baseline), not for `cqt` when the
/// target breaks its CQT promise (`noncompliant`: its timer trusts that promise), always for `ccr` and `ccr-filter`
/// (noncompliant random scenarios keep CCR working, and a CCR success waits for the real teardown) unless only the
/// first source is asked (`sources` [`CcrSources::FirstOnly`](nvme_ccr::CcrSources::FirstOnly): after that one CCR
/// the timer decides, and against a noncompliant target it trusts the broken promise as `cqt` does).
pub fn corruption_forbidden(policy: Policy, noncompliant: bool, sources: nvme_ccr::CcrSources) -> bool {
    match policy {
        Policy::Legacy => false,
        Policy::Cqt => !noncompliant,
        Policy::Ccr | Policy::CcrFilter { .. } => !noncompliant || sources == nvme_ccr::CcrSources::EveryInTurn,
    }
}

/// The command that reproduces one seed.
pub fn reproduce(seed: u64, policy: Policy, noncompliant: bool, o: &Overrides) -> String {
    format!(
        "nvme-lab run --random --seed {seed} --policy {}{}{}",
        policy.name(),
        if noncompliant { " --noncompliant" } else { "" },
        o.flags()
    )
}

/// Runs `Scenario::random(seed, policy, noncompliant)` for every seed in `seeds`, on `threads` threads (0: all
/// cores), with a progress bar on stderr when it is a terminal.
pub fn explore(
    seeds: std::ops::Range<u64>,
    policy: Policy,
    noncompliant: bool,
    o: &Overrides,
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
    let (mut findings, totals, mut engine): (Vec<Finding>, Totals, Vec<(u64, String)>) = pool.install(|| {
        seeds
            .into_par_iter()
            .map(|seed| {
                let s = o.scenario(seed, policy, noncompliant);
                let r = nvme_sim::run(&s);
                bar.inc(1);
                let stall = r.max_latency.as_secs_f64() * 1e3;
                let t = Totals {
                    stall_sum_ms: stall,
                    stall_max_ms: stall,
                    seeds_with_fallback: u64::from(r.fallbacks > 0),
                    fallbacks: r.fallbacks,
                    ccrs: r.ccrs_sent,
                    unsafe_seeds: u64::from(s.unsafe_by_design()),
                    admin_sum_ms: r.admin.max_ms,
                    admin_max_ms: r.admin.max_ms,
                };
                let engine: Vec<(u64, String)> = r.engine_violation.clone().map(|v| (seed, v)).into_iter().collect();
                if !r.corrupted {
                    return (Vec::new(), t, engine);
                }
                let n = corrupted.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                bar.set_message(format!("{n} corrupted"));
                let f = Finding {
                    seed,
                    scenario: describe(&s),
                    violations: r.violations,
                    unsafe_by_design: s.unsafe_by_design(),
                };
                (vec![f], t, engine)
            })
            .reduce(
                || (Vec::new(), Totals::default(), Vec::new()),
                |(mut a, ta, mut ea), (b, tb, eb)| {
                    a.extend(b);
                    ea.extend(eb);
                    (a, ta.add(tb), ea)
                },
            )
    });
    bar.finish_and_clear();
    findings.sort_by_key(|f| f.seed);
    engine.sort_by_key(|e| e.0);
    Ok(Outcome { seeds: count, findings, engine, wall: started.elapsed(), totals })
}

/// The report: each finding (all of them when corruption is forbidden, else the first `max_print`), then a summary
/// line. Returns the text and whether the run is a failure.
pub fn report(
    o: &Outcome,
    policy: Policy,
    noncompliant: bool,
    over: &Overrides,
    max_print: usize,
    threads: usize,
) -> (String, bool) {
    let forbidden = corruption_forbidden(policy, noncompliant, over.debate.sources());
    // Corruption that fails the run: where the policy forbids it, in a scenario not unsafe by design.
    let failing = |f: &Finding| forbidden && !f.unsafe_by_design;
    let bad = o.findings.iter().filter(|f| failing(f)).count();
    let mut shown: Vec<&Finding> = o.findings.iter().filter(|f| failing(f)).collect();
    shown.extend(o.findings.iter().filter(|f| !failing(f)).take(max_print));
    shown.sort_by_key(|f| f.seed);
    let mut out = String::new();
    for &f in &shown {
        out.push_str(&format!("seed {}: corrupted ({})\n", f.seed, f.scenario));
        for v in f.violations.iter().take(3) {
            out.push_str(&format!("    {v}\n"));
        }
        if f.violations.len() > 3 {
            out.push_str(&format!("    ... and {} more violations\n", f.violations.len() - 3));
        }
        out.push_str(&format!("  reproduce: {}\n", reproduce(f.seed, policy, noncompliant, over)));
    }
    if shown.len() < o.findings.len() {
        out.push_str(&format!(
            "... and {} more corrupting seeds (--max-print shows more)\n",
            o.findings.len() - shown.len()
        ));
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
    let t = &o.totals;
    out.push_str(&format!(
        "  stall (largest latency per seed): mean {:.1} ms, max {:.1} ms; fell back to the timer in {} seeds ({} \
         fallbacks); {} CCRs sent; {} seeds unsafe by design (legacy, or --cqt0-rule immediate with CQT 0)\n\
         \x20 admin stall (longest monitoring read per seed): mean {:.1} ms, max {:.1} ms\n",
        if o.seeds == 0 { 0.0 } else { t.stall_sum_ms / o.seeds as f64 },
        t.stall_max_ms,
        t.seeds_with_fallback,
        t.fallbacks,
        t.ccrs,
        t.unsafe_seeds,
        if o.seeds == 0 { 0.0 } else { t.admin_sum_ms / o.seeds as f64 },
        t.admin_max_ms,
    ));
    for (seed, v) in &o.engine {
        out.push_str(&format!("seed {seed}: ENGINE INVARIANT BROKEN: {v}\n"));
        out.push_str(&format!("  reproduce: {}\n", reproduce(*seed, policy, noncompliant, over)));
    }
    let failed = bad > 0 || !o.engine.is_empty();
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
        use nvme_ccr::CcrSources::{EveryInTurn as Every, FirstOnly as First};
        assert!(!corruption_forbidden(Policy::Legacy, false, Every));
        assert!(!corruption_forbidden(Policy::Legacy, true, Every));
        assert!(corruption_forbidden(Policy::Cqt, false, Every));
        assert!(!corruption_forbidden(Policy::Cqt, true, Every));
        assert!(corruption_forbidden(Policy::Ccr, true, Every));
        assert!(corruption_forbidden(Policy::CcrFilter { release_admin: false }, true, Every));
        // One CCR then the timer: safe against a target keeping its promise, a baseline against one breaking it.
        assert!(corruption_forbidden(Policy::Ccr, false, First));
        assert!(!corruption_forbidden(Policy::Ccr, true, First));
    }

    #[test]
    fn report_lists_findings_and_the_rule() {
        let f =
            |seed| Finding { seed, scenario: "x".into(), violations: vec!["stale".into()], unsafe_by_design: false };
        let totals = Totals {
            stall_sum_ms: 1000.0,
            stall_max_ms: 30.0,
            seeds_with_fallback: 4,
            fallbacks: 5,
            ccrs: 9,
            unsafe_seeds: 0,
            admin_sum_ms: 500.0,
            admin_max_ms: 20.0,
        };
        let o = Outcome {
            seeds: 100,
            findings: vec![f(3), f(9), f(12)],
            engine: vec![],
            wall: Duration::from_millis(1500),
            totals,
        };
        let none_over = Overrides::default();
        let (text, failed) = report(&o, Policy::Legacy, false, &none_over, 2, 2);
        assert!(!failed);
        assert!(text.contains(
            "seed 3: corrupted (x)\n    stale\n  reproduce: nvme-lab run --random --seed 3 --policy legacy\n"
        ));
        assert!(!text.contains("seed 12:"));
        assert!(text.contains("... and 1 more corrupting seeds"));
        assert!(
            text.contains("explored 100 seeds of policy legacy (target keeps its CQT promise): 3 corrupted (3.0 %)")
        );
        assert!(text.contains("stall (largest latency per seed): mean 10.0 ms, max 30.0 ms; fell back to the timer in 4 seeds (5 fallbacks); 9 CCRs sent"), "{text}");
        assert!(
            text.contains("\n  admin stall (longest monitoring read per seed): mean 5.0 ms, max 20.0 ms\n"),
            "{text}"
        );
        let (text, failed) = report(&o, Policy::Ccr, true, &none_over, 2, 2);
        assert!(failed);
        assert!(text.contains("seed 12:") && text.contains("--policy ccr --noncompliant"));
        assert!(text.contains("FAIL: policy ccr"));
        let none =
            Outcome { seeds: 5, findings: vec![], engine: vec![], wall: Duration::ZERO, totals: Totals::default() };
        assert!(report(&none, Policy::Legacy, false, &none_over, 2, 1).0.contains("note: no corruption"));
        assert!(!report(&none, Policy::Cqt, false, &none_over, 2, 1).1);
        // A ccr seed unsafe by design (the immediate CQT = 0 rule) is counted, not a failure.
        let mut u = f(4);
        u.unsafe_by_design = true;
        let o =
            Outcome { seeds: 10, findings: vec![u], engine: vec![], wall: Duration::ZERO, totals: Totals::default() };
        let over = Overrides {
            fault: Some(nvme_sim::FaultKind::NodeFailover),
            cqt: Some(Duration::ZERO),
            debate: DebateArgs { cqt0_rule: crate::names::Cqt0Arg::Immediate, ..DebateArgs::default() },
        };
        let (text, failed) = report(&o, Policy::Ccr, false, &over, 2, 1);
        assert!(!failed, "{text}");
        assert!(text.contains("--policy ccr --fault node-failover --cqt 0 --cqt0-rule immediate"), "{text}");
        // An engine invariant broken fails the run whatever the policy.
        let broken = Outcome {
            seeds: 5,
            findings: vec![],
            engine: vec![(4, "(1) x".into())],
            wall: Duration::ZERO,
            totals: Totals::default(),
        };
        let (text, failed) = report(&broken, Policy::Legacy, false, &none_over, 2, 1);
        assert!(failed && text.contains("seed 4: ENGINE INVARIANT BROKEN: (1) x"), "{text}");
    }
}
