//! `nvme-lab run`: one scenario with its timeline, rw_test output and summary; optional JSON, SVG and pcap.

use std::fmt::Write as _;
use std::time::Duration;

use nvme_sim::{FaultKind, Report, Scenario, WorkloadKind};
use serde::Serialize;

use crate::matrix::{CellJson, ms};
use crate::svg;

/// The scenario knobs `run` accepts on the command line; `None` keeps nvme-sim's default (the Linux failover test's values).
#[derive(Clone, Debug, Default)]
pub struct Knobs {
    /// KATO.
    pub kato: Option<Duration>,
    /// CQT reported by the target (zero: not reported).
    pub cqt: Option<Duration>,
    /// The host's fallback F for CQT 0.
    pub cqt_fallback: Option<Duration>,
    /// TBKAS.
    pub tbkas: Option<bool>,
    /// fopcode delay.
    pub delay: Option<Duration>,
    /// fopcode opcode.
    pub fopcode: Option<u8>,
    /// Seed.
    pub seed: Option<u64>,
    /// rw_test iterations.
    pub iterations: Option<u32>,
    /// Queue-depth workload duration.
    pub duration: Option<Duration>,
    /// Number of paths.
    pub paths: Option<usize>,
}

/// The scenario: nvme-sim's defaults for `policy`, `workload`, `fault`, with `knobs` applied.
pub fn scenario(base: Scenario, k: &Knobs) -> Scenario {
    let mut s = base;
    if let Some(v) = k.kato {
        s.kato = v;
    }
    if let Some(v) = k.cqt {
        s.cqt = v;
    }
    if let Some(v) = k.cqt_fallback {
        s.cqt_fallback = v;
    }
    if let Some(v) = k.tbkas {
        s.tbkas = v;
    }
    if let Some(v) = k.delay {
        s.delay = v;
    }
    if let Some(v) = k.fopcode {
        s.fopcode = v;
    }
    if let Some(v) = k.seed {
        s.seed = v;
    }
    if let Some(v) = k.iterations {
        s.iterations = Some(v);
    }
    if let Some(v) = k.duration {
        s.duration = v;
    }
    if let Some(v) = k.paths {
        s.paths = v;
    }
    s
}

/// One line describing a scenario.
pub fn describe(s: &Scenario) -> String {
    let mut d = format!("policy {}, workload {}, fault {}", s.policy.name(), s.workload.name(), s.fault.name());
    if s.fault != FaultKind::None {
        let _ = write!(d, " (opcode {}, delay {} ms)", s.fopcode, s.delay.as_millis());
    }
    let _ = write!(
        d,
        ", KATO {} ms, TBKAS {}, CQT {}, {} paths, seed {}",
        s.kato.as_millis(),
        if s.tbkas { "on" } else { "off" },
        if s.cqt.is_zero() { "0 (not reported)".to_string() } else { format!("{} ms", ms(s.cqt)) },
        s.effective_paths(),
        s.seed
    );
    match s.workload {
        WorkloadKind::RwTest => {
            let _ = write!(d, ", {} iterations", s.iterations.unwrap_or(255));
        }
        _ => {
            let _ = write!(d, ", {} s of I/O at queue depth {}", s.duration.as_secs_f64(), s.queue_depth);
        }
    }
    if !s.extra_faults.is_empty() {
        let _ = write!(d, ", {} more path faults", s.extra_faults.len());
    }
    d
}

/// One timeline line: `  2001.234 ms  path 1  CCR succeeded via controller 2`.
pub fn timeline_line(at: Duration, path: Option<usize>, what: &str) -> String {
    let path = path.map_or_else(String::new, |p| format!("path {p}"));
    format!("{:>12.3} ms  {:<7} {}", at.as_secs_f64() * 1e3, path, what)
}

/// rw_test lines to print: all of them with `full`, else the first 3, a count, and the last 6.
pub fn rw_output(lines: &[String], full: bool) -> Vec<String> {
    if full || lines.len() <= 12 {
        return lines.to_vec();
    }
    let mut out: Vec<String> = lines[..3].to_vec();
    out.push(format!("... {} lines not shown (--full-output shows them) ...", lines.len() - 9));
    out.extend_from_slice(&lines[lines.len() - 6..]);
    out
}

/// The text report.
pub fn text(s: &Scenario, r: &Report, full_output: bool, wall: Duration) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "scenario: {}", describe(s));
    if s.policy.holds() {
        let _ = writeln!(
            o,
            "time-based hold if no CCR succeeds: (TBKAS ? 3 : 2) x KATO + {} = {} ms",
            if s.cqt.is_zero() { "F" } else { "CQT" },
            ms(s.hold())
        );
    }
    let _ = writeln!(o, "\ntimeline:");
    if r.timeline.is_empty() {
        let _ = writeln!(o, "  (no recovery events)");
    }
    for e in &r.timeline {
        let _ = writeln!(o, "{}", timeline_line(e.at, e.path, &e.what()));
    }
    if !r.rw_test_output.is_empty() {
        let _ = writeln!(o, "\nrw_test output:");
        for l in rw_output(&r.rw_test_output, full_output) {
            let _ = writeln!(o, "  {l}");
        }
        if let Some(code) = r.rw_test_exit {
            let _ = writeln!(o, "  (exit status {code})");
        }
    }
    let _ = writeln!(o, "\nsummary:");
    let _ = writeln!(o, "  corrupted:  {}", if r.corrupted { "YES" } else { "no" });
    for v in &r.violations {
        let _ = writeln!(o, "    {v}");
    }
    let _ = writeln!(o, "  completed:  {} commands", r.commands_completed);
    let _ = writeln!(o, "  max stall:  {:.3} ms (p99 {:.3} ms)", ms(r.max_latency), ms(r.p99_latency));
    match (r.detect, r.release) {
        (Some(d), Some(rel)) => {
            let _ = writeln!(o, "  detected:   at {:.3} ms; held commands released {:.3} ms later", ms(d), ms(rel));
        }
        (Some(d), None) => {
            let _ = writeln!(o, "  detected:   at {:.3} ms; nothing was held", ms(d));
        }
        (None, _) => {
            let _ = writeln!(o, "  detected:   no failure detected");
        }
    }
    let m = &r.metrics;
    let _ = writeln!(
        o,
        "  stalls:     reads {:.3} ms (p99.9 {:.3}), writes {:.3} ms (p99.9 {:.3}); held {}, CCRs {}, fallbacks {}",
        m.reads.max_ms, m.reads.p999_ms, m.writes.max_ms, m.writes.p999_ms, r.held, r.ccrs_sent, r.fallbacks
    );
    if let (Some(b), Some(d)) = (m.baseline_iops, m.dip) {
        let back = d.back_to_90_ms.map_or_else(|| "not before the end".to_string(), |t| format!("after {t:.0} ms"));
        let _ = writeln!(
            o,
            "  dip:        baseline {b:.0} IOPS; {:.0} % lost at the lowest 100 ms; back to 90 % {back}",
            d.depth * 100.0
        );
    }
    let _ = writeln!(
        o,
        "  simulated:  {:.3} s of virtual time, {} events, in {:.3} s",
        r.sim_time.as_secs_f64(),
        r.events,
        wall.as_secs_f64()
    );
    o
}

/// The JSON report: the matrix cell keys, then seed, violations, rw_test exit status and the timeline.
#[derive(Serialize, Debug)]
pub struct RunJson {
    /// The matrix cell keys (policy, workload, fault, corrupted, completed, max_stall_ms, p99_ms, detect_ms,
    /// release_ms).
    #[serde(flatten)]
    pub cell: CellJson,
    /// The scenario's seed.
    pub seed: u64,
    /// Checker violations.
    pub violations: Vec<String>,
    /// rw_test's exit status (null for other workloads).
    pub rw_test_exit: Option<i32>,
    /// Throughput and latency metrics (reads and writes apart, the dip).
    pub metrics: nvme_sim::metrics::Summary,
    /// Completions per 100 ms.
    pub throughput: nvme_sim::metrics::Series,
    /// Recovery timeline: one object per event, `{"at_ms": ..., "path": ..., "kind": "ccr_sent", ...}` with the
    /// event's own fields ([`nvme_sim::TimelineEvent`]).
    pub timeline: Vec<nvme_sim::TimelineEntry>,
}

/// The JSON report of a run.
pub fn json(s: &Scenario, r: &Report) -> RunJson {
    RunJson {
        cell: CellJson::new(s, r),
        seed: s.seed,
        violations: r.violations.clone(),
        rw_test_exit: r.rw_test_exit,
        metrics: r.metrics.clone(),
        throughput: r.throughput.clone(),
        timeline: r.timeline.clone(),
    }
}

/// Zoom bins: about this many across the failover window.
const ZOOM_BINS: f64 = 60.0;

/// The picture of a run ([`svg::render`]): latency points, throughput, the markers from the typed timeline.
pub fn plot(s: &Scenario, r: &Report) -> String {
    svg::render(&figure(s, r))
}

/// What [`plot`] draws.
pub fn figure(s: &Scenario, r: &Report) -> svg::Figure {
    let points: Vec<svg::Point> =
        r.latencies.iter().map(|l| svg::Point { at_ms: ms(l.at), latency_ms: ms(l.latency), path: l.path }).collect();
    let markers: Vec<svg::Marker> = r
        .timeline
        .iter()
        .filter_map(|e| {
            Some(svg::Marker {
                at_ms: ms(e.at),
                label: match e.path {
                    Some(p) => format!("path {p}: {e}"),
                    None => e.what(),
                },
                kind: svg::MarkerKind::of(&e.event)?,
            })
        })
        .collect();
    let end_ms = ms(r.sim_time);
    let fault = (s.fault != FaultKind::None).then(|| ms(s.effective_fault_at()));
    let window = svg::zoom_window(&markers, fault, end_ms);
    let whole = svg::Throughput { start_ms: 0.0, bin_ms: r.throughput.bin_ms, iops: r.throughput.iops() };
    // The zoom's finer bins: nvme-sim's recorder over the window only (its memory is the window's bins).
    let bin = Duration::from_millis(svg::round_bin_ms((window.1 - window.0) / ZOOM_BINS));
    let from = Duration::from_secs_f64(window.0 / 1e3);
    let mut rec = nvme_sim::metrics::Recorder::new(bin, Duration::from_secs_f64(window.1 / 1e3).saturating_sub(from));
    for l in r.latencies.iter().filter(|l| l.at >= from) {
        let kind = if l.opcode == nvme_proto::cmd::IoOpcode::WRITE.0 {
            nvme_sim::metrics::IoKind::Write
        } else {
            nvme_sim::metrics::IoKind::Read
        };
        rec.record(l.at - from, kind, l.latency, u64::from(l.bytes));
    }
    let series = rec.series(bin);
    let zoom = svg::Throughput { start_ms: window.0, bin_ms: series.bin_ms, iops: series.iops() };
    let title = format!(
        "{} / {} / {}: max stall {:.1} ms{}",
        s.policy.name(),
        s.workload.name(),
        s.fault.name(),
        ms(r.max_latency),
        if r.corrupted { ", CORRUPTED" } else { "" }
    );
    svg::Figure { title, points, markers, whole, zoom, window, end_ms }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nvme_sim::Policy;

    #[test]
    fn knobs_override_only_what_is_given() {
        let base = Scenario::new(Policy::Cqt, WorkloadKind::Write, FaultKind::Freeze);
        let s = scenario(base.clone(), &Knobs::default());
        assert_eq!(s, base);
        let k = Knobs {
            kato: Some(Duration::from_secs(2)),
            cqt: Some(Duration::ZERO),
            tbkas: Some(false),
            ..Knobs::default()
        };
        let s = scenario(base, &k);
        assert_eq!(
            (s.kato, s.cqt, s.tbkas, s.delay),
            (Duration::from_secs(2), Duration::ZERO, false, Duration::from_secs(2))
        );
        assert!(describe(&s).contains("CQT 0 (not reported)"));
    }

    #[test]
    fn timeline_format() {
        assert_eq!(
            timeline_line(Duration::from_micros(2_001_234), Some(1), "CCR succeeded via controller 2"),
            "    2001.234 ms  path 1  CCR succeeded via controller 2"
        );
        assert_eq!(timeline_line(Duration::ZERO, None, "start"), "       0.000 ms          start");
    }

    #[test]
    fn rw_output_is_shortened() {
        let lines: Vec<String> = (0..30).map(|i| format!("line {i}")).collect();
        let short = rw_output(&lines, false);
        assert_eq!(short.len(), 10);
        assert_eq!(short[0], "line 0");
        assert!(short[3].contains("21 lines not shown"));
        assert_eq!(short[9], "line 29");
        assert_eq!(rw_output(&lines, true).len(), 30);
    }
}
