//! `nvme-lab matrix`: every policy x workload x fault, simulated in parallel; a table or JSON lines, and a check of
//! the expectations.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use nvme_sim::{FaultKind, Report, Scenario, WorkloadKind};
use rayon::prelude::*;
use serde::Serialize;

use crate::names::DebateArgs;

/// The faults of the matrix (`none` is left out; the report's grid adds the loss rates 1 % and 20 %).
pub const FAULTS: [FaultKind; 7] = [
    FaultKind::Fopcode,
    FaultKind::Freeze,
    FaultKind::CcrFail,
    FaultKind::CcrUnsupported,
    FaultKind::NodeFailover,
    FaultKind::Loss(5),
    FaultKind::LossBurst,
];

/// Milliseconds with microsecond resolution.
pub fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// One cell as JSON: the keys the issue asks for, in a fixed order.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct CellJson {
    /// Policy name.
    pub policy: &'static str,
    /// Workload name.
    pub workload: &'static str,
    /// Fault name.
    pub fault: String,
    /// CQT the target reported, ms (0: not reported).
    pub cqt_ms: u64,
    /// The host may corrupt by design (legacy, or `--cqt0-rule immediate` with CQT 0): outside the expectations.
    pub unsafe_baseline: bool,
    /// Checker verdict.
    pub corrupted: bool,
    /// Application commands completed.
    pub completed: u64,
    /// Largest command latency, ms.
    pub max_stall_ms: f64,
    /// 99th percentile command latency, ms.
    pub p99_ms: f64,
    /// First failure detection, ms since start (null if nothing failed).
    pub detect_ms: Option<f64>,
    /// Detection to release of the held commands, ms (null when nothing was held).
    pub release_ms: Option<f64>,
    /// Commands held at fencing starts.
    pub held: u64,
    /// CCRs sent.
    pub ccrs_sent: u64,
    /// Fallbacks to the time-based hold.
    pub fallbacks: u64,
    /// Largest read latency, ms.
    pub read_stall_ms: f64,
    /// Largest write latency, ms.
    pub write_stall_ms: f64,
    /// From the fault to the rate back at 90 % of its baseline, ms (null: no dip, or not back before the end).
    pub back_to_90_ms: Option<f64>,
    /// Share of the baseline rate lost at the dip's lowest 100 ms (null: no dip).
    pub dip_depth: Option<f64>,
    /// The admin stream's longest monitoring read (SMART / Health, side-effect-free), ms: the admin stall.
    pub admin_stall_ms: f64,
    /// Monitoring reads that failed with their path (each after recovery released it).
    pub admin_failed: u64,
}

impl CellJson {
    /// The JSON view of a report.
    pub fn new(s: &Scenario, r: &Report) -> CellJson {
        CellJson {
            policy: s.policy.name(),
            workload: s.workload.name(),
            fault: s.fault.name(),
            cqt_ms: s.cqt.as_millis() as u64,
            unsafe_baseline: s.unsafe_by_design(),
            corrupted: r.corrupted,
            completed: r.commands_completed,
            max_stall_ms: ms(r.max_latency),
            p99_ms: ms(r.p99_latency),
            detect_ms: r.detect.map(ms),
            release_ms: r.release.map(ms),
            held: r.held,
            ccrs_sent: r.ccrs_sent,
            fallbacks: r.fallbacks,
            read_stall_ms: r.metrics.reads.max_ms,
            write_stall_ms: r.metrics.writes.max_ms,
            back_to_90_ms: r.metrics.dip.and_then(|d| d.back_to_90_ms),
            dip_depth: r.metrics.dip.map(|d| d.depth),
            admin_stall_ms: (r.admin.max_ms * 1e3).round() / 1e3,
            admin_failed: r.admin.failed,
        }
    }
}

/// Matrix options.
pub struct Options {
    /// rw_test iterations (None: 255, the Linux test's rw_test program).
    pub iterations: Option<u32>,
    /// How long the queue-depth workloads issue I/O (None: nvme-sim's default, 60 s).
    pub duration: Option<Duration>,
    /// Seed for every cell.
    pub seed: u64,
    /// CQT for every cell (None: nvme-sim's default, 1 ms).
    pub cqt: Option<Duration>,
    /// The debated host options.
    pub debate: DebateArgs,
}

/// The 140 scenarios (5 levels x 4 workloads x 7 faults), in table order (policy, then workload, then fault).
pub fn scenarios(opts: &Options) -> Vec<Scenario> {
    let mut out = Vec::new();
    for policy in nvme_sim::Policy::LEVELS {
        for workload in WorkloadKind::ALL {
            for fault in FAULTS {
                let mut s = Scenario::new(policy, workload, fault);
                s.iterations = opts.iterations;
                if let Some(d) = opts.duration {
                    s.duration = d;
                }
                s.seed = opts.seed;
                if let Some(c) = opts.cqt {
                    s.cqt = c;
                }
                opts.debate.apply(&mut s);
                out.push(s);
            }
        }
    }
    out
}

/// Runs every scenario (in parallel) and returns the cells in order.
pub fn run_all(scenarios: &[Scenario]) -> Vec<CellJson> {
    scenarios.par_iter().map(|s| CellJson::new(s, &nvme_sim::run(s))).collect()
}

/// The expectations that do not hold, one message each (empty when all hold): `legacy` corrupts under
/// `fopcode` with rw_test; no safe level corrupts anywhere (the unsafe baselines, legacy and the immediate CQT = 0
/// rule against CQT 0, may).
pub fn failed_expectations(cells: &[CellJson]) -> Vec<String> {
    let mut out = Vec::new();
    for c in cells {
        if c.policy == "legacy" && c.workload == "rw_test" && c.fault == "fopcode" && !c.corrupted {
            out.push(
                "legacy / rw_test / fopcode did not corrupt: the Linux failover test should catch the stale write"
                    .into(),
            );
        }
        if !c.unsafe_baseline && c.corrupted {
            out.push(format!(
                "{} / {} / {} corrupted data: only the unsafe baselines may",
                c.policy, c.workload, c.fault
            ));
        }
    }
    out
}

fn opt_ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{v:.1}"))
}

/// The aligned table.
pub fn table(cells: &[CellJson]) -> String {
    let headers = [
        "policy",
        "workload",
        "fault",
        "corrupted",
        "completed",
        "max stall ms",
        "p99 ms",
        "detect→release ms",
        "held",
        "CCRs",
        "fallbacks",
        "admin stall ms",
    ];
    let rows: Vec<[String; 12]> = cells
        .iter()
        .map(|c| {
            [
                c.policy.to_string(),
                c.workload.to_string(),
                c.fault.to_string(),
                match (c.corrupted, c.unsafe_baseline) {
                    (true, _) => "YES".to_string(),
                    (false, true) => "no (unsafe)".to_string(),
                    (false, false) => "no".to_string(),
                },
                c.completed.to_string(),
                format!("{:.1}", c.max_stall_ms),
                format!("{:.1}", c.p99_ms),
                opt_ms(c.release_ms),
                c.held.to_string(),
                c.ccrs_sent.to_string(),
                c.fallbacks.to_string(),
                format!("{:.1}", c.admin_stall_ms),
            ]
        })
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    // Text columns left-aligned, numbers right-aligned.
    let numeric = [false, false, false, false, true, true, true, true, true, true, true, true];
    let mut out = String::new();
    let line = |out: &mut String, cells: &[String]| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            let pad = widths[i] - c.chars().count();
            if i > 0 {
                s.push_str("  ");
            }
            if numeric[i] {
                s.push_str(&" ".repeat(pad));
                s.push_str(c);
            } else {
                s.push_str(c);
                s.push_str(&" ".repeat(pad));
            }
        }
        let _ = writeln!(out, "{}", s.trim_end());
    };
    line(&mut out, &headers.map(String::from));
    line(&mut out, &widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>());
    let mut previous_policy = "";
    for (c, r) in cells.iter().zip(&rows) {
        if !previous_policy.is_empty() && c.policy != previous_policy {
            out.push('\n');
        }
        previous_policy = c.policy;
        line(&mut out, r);
    }
    out
}

/// How to read the table.
pub fn legend(s: &Scenario) -> String {
    let hold = ms(s.hold());
    format!(
        "corrupted          the checker saw stale data: rw_test printed \"validation failed\", or a read returned a \
         block older than the last acknowledged write (a stale write landed late)\n\
         completed          application I/O commands completed\n\
         max stall ms       the longest one application command took, submission to completion, retries and holds \
         included: the I/O stall a user sees\n\
         p99 ms             99th percentile command latency\n\
         held, CCRs         commands held at fencing, CCRs sent; fallbacks: times the host fell back to the timer\n\
         detect→release ms  from the host detecting the failure to releasing the commands it held for retry on another \
         path; 0 when nothing is held (legacy retries at once, ccr-filter releases reads at once)\n\
         admin stall ms     the longest monitoring read of the admin stream (a side-effect-free SMART / Health Get \
         Log Page per controller every {admin} ms): ccr-filter-admin releases one outstanding at a failure at \
         detection, the other safe levels hold it with the I/O\n\
         \n\
         Scenario: two paths, round-robin; the target holds the first Write on controller 1 for {delay} ms (fopcode) \
         or silences path 1 (freeze); KATO {kato} ms, TBKAS {tbkas}, CQT {cqt} ms. Time-based hold: \
         (TBKAS ? 3 : 2) x KATO + CQT = {hold} ms.\n\
         Expected: legacy corrupts under fopcode; cqt never corrupts and stalls about detection + {hold} ms; ccr \
         stalls about the fopcode delay plus one CCR exchange and teardown; ccr-filter also lets reads through at \
         detection; ccr-fail and ccr-unsupported fall back to the {hold} ms hold.\n",
        delay = s.delay.as_millis(),
        kato = s.kato.as_millis(),
        tbkas = if s.tbkas { "on" } else { "off" },
        cqt = s.cqt.as_millis(),
        admin = s.admin_interval.as_millis(),
    )
}

/// Runs the matrix and prints it; returns the failed expectations.
pub fn run(opts: &Options, json: bool, out: &mut dyn std::io::Write) -> std::io::Result<Vec<String>> {
    let started = Instant::now();
    let scenarios = scenarios(opts);
    let cells = run_all(&scenarios);
    let failed = failed_expectations(&cells);
    if json {
        for c in &cells {
            writeln!(out, "{}", serde_json::to_string(c).map_err(std::io::Error::other)?)?;
        }
    } else {
        write!(out, "{}", table(&cells))?;
        writeln!(out)?;
        write!(out, "{}", legend(&scenarios[0]))?;
        writeln!(out)?;
        if failed.is_empty() {
            writeln!(
                out,
                "expectations hold: legacy corrupts under fopcode (rw_test), no safe level corrupts ({} cells in \
                 {:.2} s)",
                cells.len(),
                started.elapsed().as_secs_f64()
            )?;
        }
    }
    Ok(failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nvme_sim::Policy;

    fn cell(policy: &'static str, workload: &'static str, fault: &'static str, corrupted: bool) -> CellJson {
        CellJson {
            policy,
            workload,
            fault: fault.to_string(),
            cqt_ms: 1,
            unsafe_baseline: policy == "legacy",
            corrupted,
            completed: 10,
            max_stall_ms: 1.0,
            p99_ms: 0.5,
            detect_ms: None,
            release_ms: None,
            held: 0,
            ccrs_sent: 0,
            fallbacks: 0,
            read_stall_ms: 0.0,
            write_stall_ms: 0.0,
            back_to_90_ms: None,
            dip_depth: None,
            admin_stall_ms: 0.0,
            admin_failed: 0,
        }
    }

    #[test]
    fn a_hundred_and_forty_cells_in_order() {
        let o = Options { iterations: Some(2), duration: None, seed: 7, cqt: None, debate: DebateArgs::default() };
        let s = scenarios(&o);
        assert_eq!(s.len(), 140);
        assert_eq!(
            (s[0].policy, s[0].workload, s[0].fault),
            (Policy::Legacy, WorkloadKind::RwTest, FaultKind::Fopcode)
        );
        assert_eq!((s[139].policy, s[139].fault), (Policy::CcrFilter { release_admin: true }, FaultKind::LossBurst));
        assert!(s.iter().all(|s| s.iterations == Some(2) && s.seed == 7));
        let o = Options { cqt: Some(Duration::ZERO), ..o };
        assert!(scenarios(&o).iter().all(|s| s.cqt.is_zero()));
    }

    #[test]
    fn expectations() {
        let good = [cell("legacy", "rw_test", "fopcode", true), cell("ccr", "rw_test", "fopcode", false)];
        assert!(failed_expectations(&good).is_empty());
        let bad = [cell("legacy", "rw_test", "fopcode", false), cell("cqt", "write", "freeze", true)];
        let f = failed_expectations(&bad);
        assert_eq!(f.len(), 2);
        assert!(f[0].contains("did not corrupt") && f[1].contains("cqt / write / freeze corrupted"));
        // The immediate CQT = 0 rule is an unsafe baseline too.
        let mut immediate = cell("ccr", "write", "fopcode", true);
        immediate.unsafe_baseline = true;
        assert!(failed_expectations(&[immediate, good[0].clone()]).is_empty());
        // legacy corrupting elsewhere is allowed.
        assert!(failed_expectations(&[cell("legacy", "write", "freeze", true), good[0].clone()]).is_empty());
    }

    #[test]
    fn table_is_aligned() {
        let mut a = cell("legacy", "rw_test", "fopcode", true);
        a.release_ms = None;
        let mut b = cell("ccr-filter", "readwrite", "ccr-unsupported", false);
        b.release_ms = Some(15001.25);
        b.max_stall_ms = 15003.0;
        b.fallbacks = 1;
        b.admin_stall_ms = 15001.7;
        let t = table(&[a, b]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 5); // header, rule, row, blank line between policies, row
        assert!(lines[0].starts_with("policy      workload   fault"), "{t}");
        assert!(lines[2].contains("YES") && lines[2].contains("   -     0     0          0"), "{t}");
        assert_eq!(lines[3], "");
        assert!(lines[4].contains("15001.2   ") || lines[4].contains("15001.3   "), "{t}");
        assert!(lines[4].ends_with("  1         15001.7"), "{t}");
        // Right-aligned numbers end in the same column.
        assert_eq!(lines[2].chars().count(), lines[4].chars().count());
    }
}
