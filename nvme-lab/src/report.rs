//! `nvme-lab report --out DIR`: the failover experiment's grid (levels x workloads x faults x CQT), simulated in
//! parallel with a progress bar; writes `DIR/report.md`, the figures as `DIR/*.svg` (throughput over time per level,
//! and a stall bar chart per level, for each workload, fault and CQT case) and the data as `DIR/cells.json`.
//!
//! The figures are drawn with plotters' SVG backend (no bitmap backends, no system fonts: text is left to the
//! viewer); the data of every figure is in `cells.json`.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use nvme_ccr::Cqt0Rule;
use nvme_sim::metrics::{Series, Summary};
use nvme_sim::{FaultKind, Policy, Scenario, WorkloadKind};
use plotters::prelude::*;
use rayon::prelude::*;
use serde::Serialize;

use crate::matrix::{CellJson, failed_expectations};

/// The report's cell for `policy`, `workload` and `fault` ([`Scenario::cell`]).
pub fn cell(policy: Policy, workload: WorkloadKind, fault: FaultKind) -> Scenario {
    Scenario::cell(policy, workload, fault)
}

/// One CQT case of the grid: what the target reports and what the host makes of CQT = 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CqtCase {
    /// Name in file names and tables.
    pub name: &'static str,
    /// The CQT the target reports (zero: not reported).
    pub cqt: Duration,
    /// The host's CQT = 0 rule.
    pub rule: Cqt0Rule,
}

/// The Linux test's CQT, 1 ms.
pub const CQT_1MS: CqtCase = CqtCase { name: "cqt1ms", cqt: Duration::from_millis(1), rule: Cqt0Rule::Fallback };
/// The grid's CQT cases: 1 ms, 10 000 ms, CQT = 0 with the fallback F (the default) and CQT = 0 with the Linux RFC's
/// immediate retry (an unsafe baseline).
pub const CQT_CASES: [CqtCase; 4] = [
    CQT_1MS,
    CqtCase { name: "cqt10000ms", cqt: Duration::from_millis(10_000), rule: Cqt0Rule::Fallback },
    CqtCase { name: "cqt0-fallback", cqt: Duration::ZERO, rule: Cqt0Rule::Fallback },
    CqtCase { name: "cqt0-immediate", cqt: Duration::ZERO, rule: Cqt0Rule::Immediate },
];

/// One cell of the grid.
#[derive(Clone, Debug)]
pub struct GridCell {
    /// The CQT case.
    pub case: CqtCase,
    /// The scenario.
    pub scenario: Scenario,
}

fn grid_cell(policy: Policy, workload: WorkloadKind, fault: FaultKind, case: CqtCase) -> GridCell {
    let mut s = cell(policy, workload, fault);
    s.cqt = case.cqt;
    s.cqt0_rule = case.rule;
    s.duration = s.cell_duration();
    GridCell { case, scenario: s }
}

/// The grid. Full: every level x {read, write, readwrite, rw_test} x every fault at CQT 1 ms; the sequential 128 KiB
/// workloads under fopcode, node-failover and loss-5; readwrite under fopcode, node-failover and ccr-fail at CQT
/// 10 000 ms, CQT 0 with F and CQT 0 immediate. Quick: every level x readwrite x {fopcode, node-failover, loss-5} and
/// rw_test x fopcode, at CQT 1 ms.
pub fn grid(quick: bool) -> Vec<GridCell> {
    let mut out = Vec::new();
    for policy in Policy::LEVELS {
        if quick {
            for fault in [FaultKind::Fopcode, FaultKind::NodeFailover, FaultKind::Loss(5)] {
                out.push(grid_cell(policy, WorkloadKind::ReadWrite, fault, CQT_1MS));
            }
            out.push(grid_cell(policy, WorkloadKind::RwTest, FaultKind::Fopcode, CQT_1MS));
            continue;
        }
        for workload in [WorkloadKind::Read, WorkloadKind::Write, WorkloadKind::ReadWrite, WorkloadKind::RwTest] {
            for fault in FaultKind::GRID {
                out.push(grid_cell(policy, workload, fault, CQT_1MS));
            }
        }
        for workload in [WorkloadKind::SeqRead, WorkloadKind::SeqWrite] {
            for fault in [FaultKind::Fopcode, FaultKind::NodeFailover, FaultKind::Loss(5)] {
                out.push(grid_cell(policy, workload, fault, CQT_1MS));
            }
        }
        for case in &CQT_CASES[1..] {
            for fault in [FaultKind::Fopcode, FaultKind::NodeFailover, FaultKind::CcrFail] {
                out.push(grid_cell(policy, WorkloadKind::ReadWrite, fault, *case));
            }
        }
    }
    out
}

/// One cell's results, as `cells.json` holds them.
#[derive(Clone, Debug, Serialize)]
pub struct CellOut {
    /// The CQT case's name.
    pub cqt_case: &'static str,
    /// The matrix's keys (policy, workload, fault, corrupted, stalls, held, CCRs, fallbacks, dip).
    #[serde(flatten)]
    pub cell: CellJson,
    /// The fault time, ms since the start.
    pub fault_at_ms: f64,
    /// Throughput and latency metrics.
    pub metrics: Summary,
    /// Completions per 100 ms.
    pub throughput: Series,
    /// The command that reproduces the cell.
    pub command: String,
}

/// The `nvme-lab run` command for a grid cell.
pub fn command(c: &GridCell) -> String {
    let s = &c.scenario;
    let mut cmd = format!("nvme-lab run --grid --policy {} --workload {} --fault {}", s.policy, s.workload, s.fault);
    if s.cqt != CQT_1MS.cqt {
        let _ = write!(cmd, " --cqt {}", s.cqt.as_millis());
    }
    if s.cqt0_rule == Cqt0Rule::Immediate {
        cmd.push_str(" --cqt0-rule immediate");
    }
    cmd
}

/// Runs every cell in parallel, with a progress bar on stderr when it is a terminal.
pub fn run_grid(cells: &[GridCell]) -> Vec<CellOut> {
    let bar = ProgressBar::with_draw_target(Some(cells.len() as u64), ProgressDrawTarget::hidden());
    if std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template("{elapsed_precise} [{wide_bar}] {pos}/{len} cells (eta {eta})")
        {
            bar.set_style(style);
        }
    }
    let out = cells
        .par_iter()
        .map(|c| {
            let r = nvme_sim::run(&c.scenario);
            bar.inc(1);
            CellOut {
                cqt_case: c.case.name,
                cell: CellJson::new(&c.scenario, &r),
                fault_at_ms: c.scenario.effective_fault_at().as_secs_f64() * 1e3,
                metrics: r.metrics,
                throughput: r.throughput,
                command: command(c),
            }
        })
        .collect();
    bar.finish_and_clear();
    out
}

/// The colour of a level in the figures.
fn colour(policy: &str) -> RGBColor {
    match policy {
        "legacy" => RGBColor(0xd6, 0x27, 0x28),
        "cqt" => RGBColor(0xff, 0x7f, 0x0e),
        "ccr" => RGBColor(0x1f, 0x77, 0xb4),
        "ccr-filter" => RGBColor(0x2c, 0xa0, 0x2c),
        _ => RGBColor(0x94, 0x67, 0xbd),
    }
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// The chart of a figure: f64 axes on an SVG string.
type Chart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// One figure of the report: a 960x420 SVG with `title`, axes over `x` and `y`, what `draw` puts on it (the mesh and
/// the series), and the legend at `legend`. The one frame both figures share.
fn figure(
    title: &str,
    x: std::ops::Range<f64>,
    y: std::ops::Range<f64>,
    legend: SeriesLabelPosition,
    draw: impl FnOnce(&mut Chart<'_, '_>) -> Result<(), String>,
) -> Result<String, String> {
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (960, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(x, y)
            .map_err(err)?;
        draw(&mut chart)?;
        chart
            .configure_series_labels()
            .position(legend)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(buf)
}

/// Throughput (IOPS per 100 ms) over time, one line per level, the fault time marked.
pub fn throughput_svg(title: &str, cells: &[&CellOut]) -> Result<String, String> {
    let lines: Vec<(&str, Vec<(f64, f64)>)> = cells
        .iter()
        .map(|c| {
            let s = &c.throughput;
            let pts = s.iops().into_iter().enumerate().map(|(i, v)| (i as f64 * s.bin_ms / 1e3, v)).collect();
            (c.cell.policy, pts)
        })
        .collect();
    let xmax = lines.iter().flat_map(|(_, p)| p.last().map(|l| l.0)).fold(1.0, f64::max);
    let ymax = lines.iter().flat_map(|(_, p)| p.iter().map(|q| q.1)).fold(1.0, f64::max) * 1.1;
    figure(title, 0f64..xmax, 0f64..ymax, SeriesLabelPosition::LowerRight, |chart| {
        chart.configure_mesh().x_desc("time (s)").y_desc("IOPS (100 ms bins)").draw().map_err(err)?;
        if let Some(c) = cells.first() {
            let f = c.fault_at_ms / 1e3;
            chart
                .draw_series(std::iter::once(PathElement::new(vec![(f, 0.0), (f, ymax)], BLACK.mix(0.4))))
                .map_err(err)?
                .label("fault")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.mix(0.4)));
        }
        for (name, pts) in lines {
            let col = colour(name);
            chart
                .draw_series(LineSeries::new(pts, col.stroke_width(2)))
                .map_err(err)?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], col.stroke_width(2)));
        }
        Ok(())
    })
}

/// The largest read and write latency (the stall) per level, as bars, in seconds.
pub fn stall_svg(title: &str, cells: &[&CellOut]) -> Result<String, String> {
    let n = cells.len().max(1);
    let ymax =
        cells.iter().map(|c| c.metrics.reads.max_ms.max(c.metrics.writes.max_ms) / 1e3).fold(0.1, f64::max) * 1.15;
    let names: Vec<&str> = cells.iter().map(|c| c.cell.policy).collect();
    let label = |x: &f64| names.get(x.floor().max(0.0) as usize).map_or(String::new(), |s| s.to_string());
    figure(title, 0f64..n as f64, 0f64..ymax, SeriesLabelPosition::UpperRight, |chart| {
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n * 2 + 1)
            .x_label_formatter(&|x| if (x.fract() - 0.5).abs() < 1e-6 { label(x) } else { String::new() })
            .y_desc("max stall (s)")
            .draw()
            .map_err(err)?;
        let read = RGBColor(0x1f, 0x77, 0xb4);
        let write = RGBColor(0xd6, 0x27, 0x28);
        chart
            .draw_series(cells.iter().enumerate().map(|(i, c)| {
                let x = i as f64;
                Rectangle::new([(x + 0.1, 0.0), (x + 0.48, c.metrics.reads.max_ms / 1e3)], read.filled())
            }))
            .map_err(err)?
            .label("reads")
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], read.filled()));
        chart
            .draw_series(cells.iter().enumerate().map(|(i, c)| {
                let x = i as f64;
                Rectangle::new([(x + 0.52, 0.0), (x + 0.9, c.metrics.writes.max_ms / 1e3)], write.filled())
            }))
            .map_err(err)?
            .label("writes")
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], write.filled()));
        Ok(())
    })
}

/// The groups of cells one pair of figures shows: same workload, fault and CQT case, one cell per level, in grid
/// order. rw_test cells are left out of the throughput figures (the seed program does one I/O at a time).
pub fn groups(cells: &[CellOut]) -> Vec<(String, Vec<&CellOut>)> {
    let mut out: Vec<(String, Vec<&CellOut>)> = Vec::new();
    for c in cells.iter().filter(|c| c.cell.workload != "rw_test") {
        let key = format!("{}-{}-{}", c.cell.workload, c.cell.fault, c.cqt_case);
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(c),
            None => out.push((key, vec![c])),
        }
    }
    out
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{v:.digits$}"))
}

/// The Markdown page.
pub fn markdown(cells: &[CellOut], quick: bool, wall: Duration, failed: &[String]) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# The failover experiment{}\n", if quick { " (quick grid)" } else { "" });
    let _ = writeln!(
        md,
        "Made by `nvme-lab report --out DIR{}`: {} cells simulated in {:.1} s. Each throughput cell: two paths \
         (four for node-failover), round robin, queue depth 32, random 4 KiB over 1 GiB or sequential 128 KiB, a \
         device serving one command at a time per controller in 0.5-1 ms plus 400 MB/s of transfer, KATO 5 s, TBKAS \
         on; I/O from 5 s before the fault to 10 s after its span (the time-based hold, the loss window or the \
         burst). rw_test cells run the seed program as written. Every cell is reproduced by its command in \
         `cells.json` (`nvme-lab run --grid ...`).\n",
        if quick { " --quick" } else { "" },
        cells.len(),
        wall.as_secs_f64()
    );
    if failed.is_empty() {
        md.push_str(
            "**Expectations hold:** legacy corrupts under fopcode (rw_test); no safe level corrupts. The unsafe \
             baselines (legacy, and CQT = 0 with `--cqt0-rule immediate`) are shown for comparison.\n\n",
        );
    } else {
        md.push_str("**Expectations failed:**\n\n");
        for f in failed {
            let _ = writeln!(md, "- {f}");
        }
        md.push('\n');
    }
    md.push_str(
        "Columns: baseline = mean IOPS over the second before the fault; dip = share of it lost in the lowest \
         100 ms window; back to 90 % = from the fault to the first 100 ms window at 90 % of the baseline or more \
         (`-`: no dip, or not back before the end); stall = the largest latency, reads / writes; p99.9 likewise; \
         held = commands held at fencing; CCRs sent; fallbacks to the timer; admin = the longest read of the admin \
         stream (a side-effect-free SMART / Health Get Log Page per controller every second), ms.\n\n",
    );
    md.push_str(
        "| level | workload | fault | CQT | corrupted | baseline IOPS | dip | back to 90 % (ms) | stall r / w (ms) \
         | p99.9 r / w (ms) | held | CCRs | fallbacks | admin (ms) |\n\
         |---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for c in cells {
        let m = &c.metrics;
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {:.0} / {:.0} | {:.1} / {:.1} | {} | {} | {} | {:.1} |",
            c.cell.policy,
            c.cell.workload,
            c.cell.fault,
            c.cqt_case,
            match (c.cell.corrupted, c.cell.unsafe_baseline) {
                (true, _) => "**YES**",
                (false, true) => "no (unsafe)",
                _ => "no",
            },
            opt(m.baseline_iops, 0),
            m.dip.map_or_else(|| "-".to_string(), |d| format!("{:.0} %", d.depth * 100.0)),
            opt(m.dip.and_then(|d| d.back_to_90_ms), 0),
            m.reads.max_ms,
            m.writes.max_ms,
            m.reads.p999_ms,
            m.writes.p999_ms,
            c.cell.held,
            c.cell.ccrs_sent,
            c.cell.fallbacks,
            c.cell.admin_stall_ms,
        );
    }
    md.push_str("\n## Figures\n\nThroughput over time per level, then the stall per level, for each workload, fault and CQT case.\n\n");
    for (key, _) in groups(cells) {
        let _ = writeln!(md, "### {key}\n\n![throughput {key}](tput-{key}.svg)\n\n![stall {key}](stall-{key}.svg)\n");
    }
    md
}

/// Runs the grid and writes `out/report.md`, `out/*.svg` and `out/cells.json`; returns the failed expectations.
pub fn write_report(out: &Path, quick: bool) -> Result<Vec<String>, String> {
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let started = Instant::now();
    let cells = run_grid(&grid(quick));
    let wall = started.elapsed();
    let jsons: Vec<CellJson> = cells.iter().map(|c| c.cell.clone()).collect();
    let failed = failed_expectations(&jsons);
    let write = |name: &str, text: &str| {
        let p = out.join(name);
        std::fs::write(&p, text).map_err(|e| format!("cannot write {}: {e}", p.display()))
    };
    for (key, group) in groups(&cells) {
        let c0 = group[0];
        let title = format!("{} / {} / {}", c0.cell.workload, c0.cell.fault, c0.cqt_case);
        write(&format!("tput-{key}.svg"), &throughput_svg(&format!("throughput: {title}"), &group)?)?;
        write(&format!("stall-{key}.svg"), &stall_svg(&format!("max stall: {title}"), &group)?)?;
    }
    write("cells.json", &serde_json::to_string(&cells).map_err(err)?)?;
    write("report.md", &markdown(&cells, quick, wall, &failed))?;
    Ok(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grids_hold_every_level_fault_and_cqt_case() {
        let full = grid(false);
        let quick = grid(true);
        assert_eq!(quick.len(), 20);
        // 5 levels x (4 workloads x 9 faults + 2 x 3 sequential + 3 CQT cases x 3 faults).
        assert_eq!(full.len(), 5 * (36 + 6 + 9));
        for p in Policy::LEVELS {
            assert!(full.iter().any(|c| c.scenario.policy == p));
        }
        for f in FaultKind::GRID {
            assert!(full.iter().any(|c| c.scenario.fault == f), "{f}");
        }
        for case in CQT_CASES {
            assert!(
                full.iter().any(|c| c.case == case && c.scenario.cqt == case.cqt && c.scenario.cqt0_rule == case.rule)
            );
        }
        let c = full.iter().find(|c| c.case.name == "cqt0-immediate" && c.scenario.policy == Policy::Ccr).unwrap();
        assert!(c.scenario.unsafe_by_design());
        assert_eq!(
            command(c),
            "nvme-lab run --grid --policy ccr --workload readwrite --fault fopcode --cqt 0 --cqt0-rule immediate"
        );
        // 5 s before the fault, the hold with F (25 s), 10 s after.
        assert_eq!(c.scenario.duration, Duration::from_secs(40));
    }

    fn out(policy: &'static str, iops: &[u64]) -> CellOut {
        let s = cell(Policy::Ccr, WorkloadKind::Write, FaultKind::Fopcode);
        let mut r = nvme_sim::Report {
            throughput: Series {
                bin_ms: 100.0,
                read_ios: vec![0; iops.len()],
                write_ios: iops.to_vec(),
                ..Series::default()
            },
            ..Default::default()
        };
        r.metrics.writes.max_ms = 1500.0;
        let mut cell = CellJson::new(&s, &r);
        cell.policy = policy;
        CellOut {
            cqt_case: "cqt1ms",
            cell,
            fault_at_ms: 100.0,
            metrics: r.metrics,
            throughput: r.throughput,
            command: String::new(),
        }
    }

    #[test]
    fn figures_are_svg_with_one_line_or_bar_per_level() {
        let a = out("cqt", &[10, 10, 0, 0, 10]);
        let b = out("ccr", &[10, 10, 5, 10, 10]);
        let t = throughput_svg("t", &[&a, &b]).unwrap();
        assert!(t.starts_with("<svg") && t.contains("</svg>"), "{t}");
        assert!(t.contains("cqt") && t.contains("ccr") && t.contains("IOPS"), "{t}");
        // One polyline per level (plus legend samples), in the level's colour.
        assert!(t.contains("#FF7F0E") || t.to_ascii_lowercase().contains("#ff7f0e"), "{t}");
        let s = stall_svg("s", &[&a, &b]).unwrap();
        assert!(s.contains("<rect") && s.contains("max stall"), "{s}");
        let both = [a.clone(), b.clone()];
        let g = groups(&both);
        assert_eq!((g.len(), g[0].0.as_str(), g[0].1.len()), (1, "write-fopcode-cqt1ms", 2));
        let md = markdown(&[a, b], true, Duration::from_secs(3), &[]);
        assert!(md.contains("![throughput write-fopcode-cqt1ms](tput-write-fopcode-cqt1ms.svg)"), "{md}");
        assert!(md.contains("| cqt | write | fopcode | cqt1ms | no |"), "{md}");
    }
}
