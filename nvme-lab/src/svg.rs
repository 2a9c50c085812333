//! `run --svg`: the run as a self-contained SVG, and `run --png`: the same picture drawn by resvg.
//!
//! Two columns: the whole run on the left, a zoom on the failover window on the right ([`zoom_window`]). Each column
//! has command latency over time (a scatter plot, one colour per path, log scale) above throughput (completions per
//! second in bins). The recovery events are markers, each kind its own shape and colour ([`MarkerKind`]), with a
//! legend: in the zoom they stand in a lane above the latency plot with a dashed line down through both plots, and
//! markers less than [`MARKER_SPACING`] pixels apart are stacked in rows so that none hides another; the whole-run
//! column shows them as thin lines and the zoom window as a shaded band.
//!
//! Hand-written rather than plotters (which `report` uses): the markers' shapes, their stacking and the classes and
//! ids a test reads back (`class="marker KIND"`, `id="zoom-plot"`) need the elements under our control, and the
//! file stays small. The PNG uses DejaVu Sans from the `dejavu` crate (the machines have no system fonts).

use std::fmt::Write;

use nvme_sim::TimelineEvent;

/// One completed command.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    /// Completion time, ms since the start of the run.
    pub at_ms: f64,
    /// Command latency, ms.
    pub latency_ms: f64,
    /// Path index (selects the colour).
    pub path: usize,
}

/// Completions per second in bins from `start_ms`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Throughput {
    /// Start of the first bin, ms.
    pub start_ms: f64,
    /// Bin width, ms.
    pub bin_ms: f64,
    /// Completions per second in each bin.
    pub iops: Vec<f64>,
}

/// What a marker shows; each kind has its own shape and colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum MarkerKind {
    /// The scenario's fault fired (or a node's path froze with it).
    Fault,
    /// The host detected a controller failure.
    Failure,
    /// The host sent a CCR.
    CcrSent,
    /// A CCR completed: succeeded or failed.
    CcrCompleted,
    /// An Asynchronous Event Notification reached the host.
    Aen,
    /// The host read a CCR log page.
    LogRead,
    /// Held commands were released.
    Release,
    /// A stale write reached the media: the corruption.
    StaleWrite,
}

impl MarkerKind {
    /// Every kind, in legend order.
    pub const ALL: [MarkerKind; 8] = [
        MarkerKind::Fault,
        MarkerKind::Failure,
        MarkerKind::CcrSent,
        MarkerKind::CcrCompleted,
        MarkerKind::Aen,
        MarkerKind::LogRead,
        MarkerKind::Release,
        MarkerKind::StaleWrite,
    ];

    /// The marker a timeline event deserves, `None` for events not drawn.
    pub fn of(event: &TimelineEvent) -> Option<MarkerKind> {
        use TimelineEvent as E;
        Some(match event {
            E::FaultFired { .. } | E::NodeFrozen => MarkerKind::Fault,
            E::ControllerFailed { .. } => MarkerKind::Failure,
            E::CcrSent { .. } => MarkerKind::CcrSent,
            E::CcrSucceeded { .. } | E::CcrFailed { .. } => MarkerKind::CcrCompleted,
            E::Aen { .. } => MarkerKind::Aen,
            E::CcrLogRead { .. } => MarkerKind::LogRead,
            E::Released { .. } => MarkerKind::Release,
            E::StaleWrite { .. } => MarkerKind::StaleWrite,
            _ => return None,
        })
    }

    /// The class name of its elements and the legend's word.
    pub fn name(self) -> &'static str {
        match self {
            MarkerKind::Fault => "fault",
            MarkerKind::Failure => "failure",
            MarkerKind::CcrSent => "ccr-sent",
            MarkerKind::CcrCompleted => "ccr-completed",
            MarkerKind::Aen => "aen",
            MarkerKind::LogRead => "log-read",
            MarkerKind::Release => "release",
            MarkerKind::StaleWrite => "stale-write",
        }
    }

    fn legend(self) -> &'static str {
        match self {
            MarkerKind::Fault => "fault injected",
            MarkerKind::Failure => "failure detected",
            MarkerKind::CcrSent => "CCR sent",
            MarkerKind::CcrCompleted => "CCR completed",
            MarkerKind::Aen => "AEN",
            MarkerKind::LogRead => "CCR log read",
            MarkerKind::Release => "release",
            MarkerKind::StaleWrite => "stale write lands",
        }
    }

    fn colour(self) -> &'static str {
        match self {
            MarkerKind::Fault => "#7f7f7f",
            MarkerKind::Failure => "#d62728",
            MarkerKind::CcrSent => "#1f77b4",
            MarkerKind::CcrCompleted => "#17becf",
            MarkerKind::Aen => "#9467bd",
            MarkerKind::LogRead => "#8c564b",
            MarkerKind::Release => "#2ca02c",
            MarkerKind::StaleWrite => "#000000",
        }
    }

    /// The marker's shape centred on (`x`, `y`), about 10 px across.
    fn shape(self, x: f64, y: f64) -> String {
        let c = self.colour();
        let poly = |pts: &[(f64, f64)]| {
            let d: Vec<String> = pts.iter().map(|(dx, dy)| format!("{:.1},{:.1}", x + dx, y + dy)).collect();
            format!(r#"<polygon points="{}" fill="{c}"/>"#, d.join(" "))
        };
        match self {
            MarkerKind::Fault => poly(&[(-5.0, -5.0), (5.0, -5.0), (5.0, 5.0), (-5.0, 5.0)]),
            MarkerKind::Failure => poly(&[(-5.5, -4.5), (5.5, -4.5), (0.0, 5.5)]),
            MarkerKind::CcrSent => format!(r#"<circle cx="{x:.1}" cy="{y:.1}" r="5" fill="{c}"/>"#),
            MarkerKind::CcrCompleted => {
                format!(r#"<circle cx="{x:.1}" cy="{y:.1}" r="4" fill="white" stroke="{c}" stroke-width="2.5"/>"#)
            }
            MarkerKind::Aen => poly(&[(-5.5, 4.5), (5.5, 4.5), (0.0, -5.5)]),
            MarkerKind::LogRead => poly(&[(0.0, -6.0), (6.0, 0.0), (0.0, 6.0), (-6.0, 0.0)]),
            MarkerKind::Release => format!(
                r#"<rect x="{:.1}" y="{:.1}" width="9" height="9" fill="white" stroke="{c}" stroke-width="2.5"/>"#,
                x - 4.5,
                y - 4.5
            ),
            MarkerKind::StaleWrite => format!(
                r#"<path d="M{:.1} {:.1} L{:.1} {:.1} M{:.1} {:.1} L{:.1} {:.1}" stroke="{c}" stroke-width="3"/>"#,
                x - 5.0,
                y - 5.0,
                x + 5.0,
                y + 5.0,
                x - 5.0,
                y + 5.0,
                x + 5.0,
                y - 5.0
            ),
        }
    }
}

/// One recovery event to mark.
#[derive(Clone, Debug, PartialEq)]
pub struct Marker {
    /// Time, ms since the start of the run.
    pub at_ms: f64,
    /// Shown in the tooltip.
    pub label: String,
    /// Shape and colour.
    pub kind: MarkerKind,
}

/// What [`render`] draws.
#[derive(Clone, Debug, Default)]
pub struct Figure {
    /// The title line.
    pub title: String,
    /// Every completed command.
    pub points: Vec<Point>,
    /// The recovery events.
    pub markers: Vec<Marker>,
    /// Throughput over the whole run.
    pub whole: Throughput,
    /// Throughput in the zoom window (finer bins).
    pub zoom: Throughput,
    /// The zoom window, ms ([`zoom_window`]).
    pub window: (f64, f64),
    /// End of the run, ms.
    pub end_ms: f64,
}

/// Least margin on each side of the zoom window, ms.
pub const ZOOM_MARGIN_MS: f64 = 250.0;
/// Markers closer than this (px) go on separate rows.
pub const MARKER_SPACING: f64 = 13.0;

/// The zoom window: from the first marker to the last (the fault or the failure detection to the release, the stale
/// write, the last CCR or log read), widened on each side by a quarter of that span and at least
/// [`ZOOM_MARGIN_MS`], clipped to the run. Without markers, `fault_ms` and the margin; without either, the whole run.
pub fn zoom_window(markers: &[Marker], fault_ms: Option<f64>, end_ms: f64) -> (f64, f64) {
    let times = markers.iter().map(|m| m.at_ms);
    let (first, last) = match (times.clone().reduce(f64::min), times.reduce(f64::max)) {
        (Some(a), Some(b)) => (a, b),
        _ => match fault_ms {
            Some(f) => (f, f),
            None => return (0.0, end_ms.max(1.0)),
        },
    };
    let margin = ((last - first) / 4.0).max(ZOOM_MARGIN_MS);
    let end = end_ms.max(last);
    ((first - margin).max(0.0), (last + margin).min(end.max(first + 1.0)))
}

const WIDTH: f64 = 1200.0;
const LEFT: f64 = 80.0;
const COL_W: f64 = 470.0;
const GAP: f64 = 120.0;
const ZOOM_LEFT: f64 = LEFT + COL_W + GAP;
const LAT_H: f64 = 250.0;
const TPUT_H: f64 = 150.0;
const ROW_H: f64 = 14.0;
const PATH_COLOURS: [&str; 4] = ["#ff7f0e", "#bcbd22", "#e377c2", "#98df8a"];
/// Above this many points in a column, only the lowest and highest latency per path and pixel column are drawn.
const MAX_POINTS: usize = 20_000;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A time axis: `t0..t1` ms onto `x0..x0 + COL_W` px.
#[derive(Clone, Copy)]
struct Axis {
    x0: f64,
    t0: f64,
    t1: f64,
}

impl Axis {
    fn x(self, t: f64) -> f64 {
        self.x0 + (t - self.t0) / (self.t1 - self.t0).max(1e-9) * COL_W
    }

    fn contains(self, t: f64) -> bool {
        (self.t0..=self.t1).contains(&t)
    }
}

/// Rows of the marker lane: each marker on the first row where no marker is within [`MARKER_SPACING`] px.
fn stack(xs: &[f64]) -> Vec<usize> {
    let mut rows: Vec<Vec<f64>> = Vec::new();
    xs.iter()
        .map(|&x| {
            let r = rows.iter().position(|row| row.iter().all(|o| (o - x).abs() >= MARKER_SPACING));
            let r = r.unwrap_or_else(|| {
                rows.push(Vec::new());
                rows.len() - 1
            });
            rows[r].push(x);
            r
        })
        .collect()
}

/// Renders the figure.
pub fn render(f: &Figure) -> String {
    let end = f.end_ms.max(f.points.iter().map(|p| p.at_ms).fold(1.0, f64::max));
    let whole = Axis { x0: LEFT, t0: 0.0, t1: end };
    let zoom = Axis { x0: ZOOM_LEFT, t0: f.window.0, t1: f.window.1.max(f.window.0 + 1.0) };
    // Markers in the zoom, by time (kinds in legend order at equal times), stacked in rows.
    let mut zm: Vec<&Marker> = f.markers.iter().filter(|m| zoom.contains(m.at_ms)).collect();
    zm.sort_by(|a, b| a.at_ms.total_cmp(&b.at_ms).then(a.kind.cmp(&b.kind)));
    let rows = stack(&zm.iter().map(|m| zoom.x(m.at_ms)).collect::<Vec<_>>());
    let n_rows = rows.iter().max().map_or(1, |r| r + 1);
    // Vertical layout: title, legend, marker lane, latency, throughput, axis labels.
    let legend_top = 34.0;
    let lane_top = legend_top + 46.0;
    let lat_top = lane_top + n_rows as f64 * ROW_H + 8.0;
    let tput_top = lat_top + LAT_H + 36.0;
    let height = tput_top + TPUT_H + 50.0;

    // Latency axis: log10 from the decade below the smallest latency to the decade above the largest.
    let positive = f.points.iter().map(|p| p.latency_ms).filter(|l| *l > 0.0);
    let lo = positive.clone().fold(f64::INFINITY, f64::min);
    let hi = positive.fold(0.0_f64, f64::max);
    let (lo_exp, hi_exp) = if lo.is_finite() {
        (lo.log10().floor() as i32, (hi.log10().ceil() as i32).max(lo.log10().floor() as i32 + 1))
    } else {
        (-1, 1)
    };
    let y_lat = |l: f64| {
        let v = l.max(10f64.powi(lo_exp)).log10();
        lat_top + LAT_H - (v - f64::from(lo_exp)) / f64::from(hi_exp - lo_exp) * LAT_H
    };

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="DejaVu Sans, sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{WIDTH}" height="{height}" fill="white"/>"#);
    let _ = writeln!(s, r#"<text x="{LEFT}" y="22" font-size="15">{}</text>"#, escape(&f.title));
    legend(&mut s, f, legend_top);

    for (axis, zoomed) in [(whole, false), (zoom, true)] {
        let id = if zoomed { "zoom" } else { "whole" };
        let x0 = axis.x0;
        let _ = writeln!(
            s,
            r#"<text x="{x0}" y="{:.1}" font-size="13">{}</text>"#,
            lane_top - 4.0,
            if zoomed {
                format!("failover window {:.3}–{:.3} s", axis.t0 / 1e3, axis.t1 / 1e3)
            } else {
                "whole run".to_string()
            }
        );
        // Plot areas (the ids a test reads), grid, axes.
        let _ = writeln!(
            s,
            r##"<rect id="{id}-plot" x="{x0}" y="{lat_top:.1}" width="{COL_W}" height="{LAT_H}" fill="none" stroke="#333"/>"##
        );
        let _ = writeln!(
            s,
            r##"<rect id="{id}-throughput" x="{x0}" y="{tput_top:.1}" width="{COL_W}" height="{TPUT_H}" fill="none" stroke="#333"/>"##
        );
        for e in lo_exp..=hi_exp {
            let v = 10f64.powi(e);
            let yy = y_lat(v);
            let label = if e >= 0 { format!("{v:.0}") } else { format!("{v}") };
            let _ = writeln!(
                s,
                r##"<line x1="{x0}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{label}</text>"##,
                x0 + COL_W,
                x0 - 6.0,
                yy + 4.0
            );
        }
        let _ = writeln!(
            s,
            r#"<text transform="translate({:.1} {:.1}) rotate(-90)" text-anchor="middle">latency (ms, log)</text>"#,
            x0 - 52.0,
            lat_top + LAT_H / 2.0
        );
        time_ticks(&mut s, axis, lat_top + LAT_H);
        time_ticks(&mut s, axis, tput_top + TPUT_H);
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">time (s)</text>"#,
            x0 + COL_W / 2.0,
            tput_top + TPUT_H + 36.0
        );
        // Markers.
        if zoomed {
            for (m, row) in zm.iter().zip(&rows) {
                let xx = zoom.x(m.at_ms);
                let yy = lane_top + ROW_H / 2.0 + *row as f64 * ROW_H;
                let _ = writeln!(
                    s,
                    r#"<line class="marker-line {name}" x1="{xx:.1}" y1="{lat_top:.1}" x2="{xx:.1}" y2="{:.1}" stroke="{c}" stroke-width="1.2" stroke-dasharray="4 3"/>"#,
                    tput_top + TPUT_H,
                    name = m.kind.name(),
                    c = m.kind.colour()
                );
                let _ = writeln!(
                    s,
                    r#"<g class="marker {name}" data-x="{xx:.1}" data-y="{yy:.1}" data-at-ms="{:.3}"><title>{:.3} ms: {}</title>{}</g>"#,
                    m.at_ms,
                    m.at_ms,
                    escape(&m.label),
                    m.kind.shape(xx, yy),
                    name = m.kind.name(),
                );
            }
        } else {
            let (b0, b1) = (whole.x(zoom.t0), whole.x(zoom.t1).max(whole.x(zoom.t0) + 2.0));
            let _ = writeln!(
                s,
                r##"<rect class="zoom-band" x="{b0:.1}" y="{lat_top:.1}" width="{:.1}" height="{:.1}" fill="#fdd" fill-opacity="0.5"/>"##,
                b1 - b0,
                tput_top + TPUT_H - lat_top
            );
            for m in &f.markers {
                let xx = whole.x(m.at_ms);
                let _ = writeln!(
                    s,
                    r#"<line class="overview {}" x1="{xx:.1}" y1="{lat_top:.1}" x2="{xx:.1}" y2="{:.1}" stroke="{}" stroke-width="0.8"/>"#,
                    m.kind.name(),
                    lat_top + LAT_H,
                    m.kind.colour()
                );
            }
        }
        // Points, thinned when there are very many.
        let inside: Vec<Point> = f.points.iter().filter(|p| axis.contains(p.at_ms)).copied().collect();
        for p in thin(&inside, |p| axis.x(p.at_ms).round() as i64) {
            let _ = writeln!(
                s,
                r#"<circle class="point" cx="{:.1}" cy="{:.1}" r="2" fill="{}"/>"#,
                axis.x(p.at_ms),
                y_lat(p.latency_ms),
                PATH_COLOURS[p.path % PATH_COLOURS.len()]
            );
        }
        throughput(&mut s, axis, if zoomed { &f.zoom } else { &f.whole }, tput_top);
    }
    s.push_str("</svg>\n");
    s
}

/// The legend: paths, then every marker kind present.
fn legend(s: &mut String, f: &Figure, top: f64) {
    let mut paths: Vec<usize> = f.points.iter().map(|p| p.path).collect();
    paths.sort_unstable();
    paths.dedup();
    let (mut x, mut y) = (LEFT, top + 8.0);
    let mut place = |w: f64| {
        if x + w > WIDTH - 20.0 {
            x = LEFT;
            y += 18.0;
        }
        let at = (x, y);
        x += w;
        at
    };
    for p in paths {
        let (lx, ly) = place(70.0);
        let _ = writeln!(
            s,
            r#"<circle cx="{:.1}" cy="{ly:.1}" r="4" fill="{}"/><text x="{:.1}" y="{:.1}">path {p}</text>"#,
            lx + 5.0,
            PATH_COLOURS[p % PATH_COLOURS.len()],
            lx + 14.0,
            ly + 4.0
        );
    }
    for kind in MarkerKind::ALL {
        if !f.markers.iter().any(|m| m.kind == kind) {
            continue;
        }
        let (lx, ly) = place(30.0 + 7.2 * kind.legend().len() as f64);
        let _ = writeln!(
            s,
            r#"<g class="legend {}">{}<text x="{:.1}" y="{:.1}">{}</text></g>"#,
            kind.name(),
            kind.shape(lx + 6.0, ly),
            lx + 16.0,
            ly + 4.0,
            kind.legend()
        );
    }
    let (lx, ly) = place(120.0);
    let _ = writeln!(
        s,
        r##"<line x1="{lx:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="#333" stroke-width="1.5"/><text x="{:.1}" y="{:.1}">IOPS</text>"##,
        lx + 14.0,
        lx + 18.0,
        ly + 4.0
    );
}

/// Tick marks and labels (seconds) under a plot whose bottom edge is `bottom`.
fn time_ticks(s: &mut String, axis: Axis, bottom: f64) {
    let span = (axis.t1 - axis.t0) / 1000.0;
    let step = nice_step(span / 6.0);
    let mut tick = (axis.t0 / 1000.0 / step).ceil() * step;
    while tick * 1000.0 <= axis.t1 + 1e-9 {
        let xx = axis.x(tick * 1000.0);
        let _ = writeln!(
            s,
            r##"<line x1="{xx:.1}" y1="{bottom:.1}" x2="{xx:.1}" y2="{:.1}" stroke="#333"/><text x="{xx:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            bottom + 5.0,
            bottom + 18.0,
            trim_float(tick)
        );
        tick += step;
    }
}

/// Throughput as a step line, 0 at the bottom of the panel.
fn throughput(s: &mut String, axis: Axis, t: &Throughput, top: f64) {
    let bins: Vec<(f64, f64, f64)> = t
        .iops
        .iter()
        .enumerate()
        .map(|(i, v)| (t.start_ms + i as f64 * t.bin_ms, t.start_ms + (i + 1) as f64 * t.bin_ms, *v))
        .filter(|(a, b, _)| *b > axis.t0 && *a < axis.t1)
        .collect();
    let max = bins.iter().map(|b| b.2).fold(0.0_f64, f64::max);
    let top_v = if max > 0.0 { nice_step(max * 1.05 / 4.0) * 4.0 } else { 1.0 };
    let y = |v: f64| top + TPUT_H - v / top_v * TPUT_H;
    for i in 0..=4 {
        let v = top_v * f64::from(i) / 4.0;
        let _ = writeln!(
            s,
            r##"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#eee"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            axis.x0,
            y(v),
            axis.x0 + COL_W,
            y(v),
            axis.x0 - 6.0,
            y(v) + 4.0,
            trim_float(v)
        );
    }
    let _ = writeln!(
        s,
        r#"<text transform="translate({:.1} {:.1}) rotate(-90)" text-anchor="middle">IOPS ({} ms bins)</text>"#,
        axis.x0 - 52.0,
        top + TPUT_H / 2.0,
        trim_float(t.bin_ms)
    );
    if bins.is_empty() {
        return;
    }
    let mut d = String::new();
    for (i, (a, b, v)) in bins.iter().enumerate() {
        let (xa, xb) = (axis.x(a.max(axis.t0)), axis.x(b.min(axis.t1)));
        let _ = write!(d, "{}{xa:.1} {:.1} H{xb:.1} ", if i == 0 { "M" } else { "L" }, y(*v));
    }
    let _ = writeln!(
        s,
        r##"<path class="throughput" d="{}" fill="none" stroke="#333" stroke-width="1.5"/>"##,
        d.trim_end()
    );
}

/// All points when there are at most [`MAX_POINTS`]; otherwise the lowest and highest latency per path and column.
fn thin(points: &[Point], column: impl Fn(&Point) -> i64) -> Vec<Point> {
    if points.len() <= MAX_POINTS {
        return points.to_vec();
    }
    let mut best: std::collections::BTreeMap<(usize, i64), (Point, Point)> = Default::default();
    for p in points {
        let e = best.entry((p.path, column(p))).or_insert((*p, *p));
        if p.latency_ms < e.0.latency_ms {
            e.0 = *p;
        }
        if p.latency_ms > e.1.latency_ms {
            e.1 = *p;
        }
    }
    best.into_values().flat_map(|(a, b)| if a == b { vec![a] } else { vec![a, b] }).collect()
}

/// A bin width for `raw` ms: the 1-2-5 step at least `raw`, whole ms, at least 1.
pub fn round_bin_ms(raw: f64) -> u64 {
    nice_step(raw.max(1.0)).round() as u64
}

/// A 1-2-5 step at least `raw`, at least 0.001.
fn nice_step(raw: f64) -> f64 {
    let raw = raw.max(0.001);
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(10.0 * mag)
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The SVG drawn to a PNG at its own size (1 px per SVG unit), text in DejaVu Sans (embedded by the `dejavu` crate).
pub fn png(svg: &str) -> Result<Vec<u8>, String> {
    use resvg::{tiny_skia, usvg};
    let mut opt = usvg::Options { font_family: "DejaVu Sans".to_string(), ..usvg::Options::default() };
    opt.fontdb_mut().load_font_data(dejavu::sans::regular().to_vec());
    let tree = usvg::Tree::from_str(svg, &opt).map_err(|e| format!("the SVG does not parse: {e}"))?;
    let size = tree.size().to_int_size();
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height())
        .ok_or_else(|| format!("cannot draw a {}x{} picture", size.width(), size.height()))?;
    resvg::render(&tree, tiny_skia::Transform::identity(), &mut pixmap.as_mut());
    pixmap.encode_png().map_err(|e| format!("PNG encoding failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marker(at_ms: f64, kind: MarkerKind) -> Marker {
        Marker { at_ms, label: format!("{kind:?} <x> & co"), kind }
    }

    #[test]
    fn the_zoom_window_spans_the_markers_with_a_margin() {
        let m = [marker(2000.0, MarkerKind::Failure), marker(4000.0, MarkerKind::Release)];
        assert_eq!(zoom_window(&m, None, 2_040_000.0), (1500.0, 4500.0));
        // A short episode gets the least margin; the window stays inside the run.
        let m = [marker(100.0, MarkerKind::Failure), marker(110.0, MarkerKind::CcrSent)];
        assert_eq!(zoom_window(&m, None, 300.0), (0.0, 300.0));
        assert_eq!(zoom_window(&[], Some(5000.0), 10_000.0), (4750.0, 5250.0));
        assert_eq!(zoom_window(&[], None, 10_000.0), (0.0, 10_000.0));
    }

    #[test]
    fn markers_at_one_time_are_stacked() {
        assert_eq!(stack(&[10.0, 10.0, 15.0, 30.0, 10.0]), vec![0, 1, 2, 0, 3]);
        assert_eq!([round_bin_ms(0.2), round_bin_ms(41.9), round_bin_ms(120.0)], [1, 50, 200]);
    }

    #[test]
    fn renders_points_markers_and_escapes() {
        let f = Figure {
            title: "legacy \"x\"".into(),
            points: vec![
                Point { at_ms: 10.0, latency_ms: 0.2, path: 0 },
                Point { at_ms: 2020.0, latency_ms: 0.3, path: 1 },
                Point { at_ms: 17_000.0, latency_ms: 15_000.0, path: 1 },
            ],
            markers: vec![marker(2000.0, MarkerKind::Failure), marker(2000.0, MarkerKind::CcrSent)],
            whole: Throughput { start_ms: 0.0, bin_ms: 100.0, iops: vec![10.0; 170] },
            zoom: Throughput { start_ms: 1750.0, bin_ms: 10.0, iops: vec![100.0; 50] },
            window: (1750.0, 2250.0),
            end_ms: 17_000.0,
        };
        let svg = render(&f);
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>\n"));
        // Three points in the whole run, one in the zoom.
        assert_eq!(svg.matches("class=\"point\"").count(), 4);
        assert_eq!(svg.matches("<g class=\"marker ").count(), 2);
        assert!(svg.contains("Failure &lt;x&gt; &amp; co"));
        assert!(svg.contains("legacy &quot;x&quot;"));
        assert!(svg.contains(">0.1</text>") && svg.contains(">100000</text>"));
        assert!(svg.contains(">path 0</text>") && svg.contains(">failure detected</text>"));
        assert!(!svg.contains(">release</text>"));
        assert_eq!(svg.matches("class=\"throughput\"").count(), 2);
        // The two markers at one time are on different rows.
        let ys: Vec<&str> =
            svg.lines().filter(|l| l.starts_with("<g class=\"marker ")).map(|l| attr(l, "data-y")).collect();
        assert_ne!(ys[0], ys[1]);
        // The PNG is a PNG.
        let png = png(&svg).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    }

    fn attr<'a>(line: &'a str, name: &str) -> &'a str {
        line.split(&format!("{name}=\"")).nth(1).unwrap().split('"').next().unwrap()
    }

    #[test]
    fn thins_large_inputs() {
        let points: Vec<Point> = (0..50_000)
            .map(|i| Point { at_ms: f64::from(i), latency_ms: 1.0 + f64::from(i % 7), path: i as usize % 2 })
            .collect();
        let f = Figure { title: "many".into(), points, window: (0.0, 50_000.0), end_ms: 50_000.0, ..Figure::default() };
        let svg = render(&f);
        let n = svg.matches("class=\"point\"").count();
        assert!(n <= 2 * 2 * 2 * 470 + 8, "{n} circles");
        assert!(n > 1000);
    }

    #[test]
    fn empty_plot_is_valid() {
        let svg = render(&Figure::default());
        assert!(svg.contains("</svg>"));
        assert_eq!(svg.matches("class=\"point\"").count(), 0);
        assert!(png(&svg).is_ok());
    }
}
