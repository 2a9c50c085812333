//! `run --svg`: command latency over time as a self-contained SVG (a scatter plot, one colour per path, latency on
//! a log scale), with vertical markers for failures, CCR and release.

use std::fmt::Write;

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

/// What a vertical marker shows (selects its colour).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarkerKind {
    /// A failure: fault injected, connection lost, failure detected.
    Failure,
    /// A Cross-Controller Reset event.
    Ccr,
    /// Held commands released.
    Release,
    /// Anything else worth a line (fallback, reconnect).
    Other,
}

impl MarkerKind {
    /// The marker a timeline entry of nvme-sim deserves, `None` for entries not drawn (connections, checker
    /// verdicts, target-side echoes of host events):
    /// * failure: the injected fault (`fault: ...`), the host detecting a controller failure (`... failed: ...`), a
    ///   target keep-alive expiry;
    /// * CCR: the host sending a CCR and its outcome (`host: CCR for ...`);
    /// * release: the host releasing held commands (`released`);
    /// * other: the stuck command reaching the media, the time-based fallback, reconnects.
    pub fn classify(what: &str) -> Option<MarkerKind> {
        let w = what.to_ascii_lowercase();
        if w.contains("checker:") {
            None
        } else if w.contains("released") {
            Some(MarkerKind::Release)
        } else if w.starts_with("fault:") || w.contains(") failed:") || w.contains("keep-alive timer expired") {
            Some(MarkerKind::Failure)
        } else if w.starts_with("host: ccr for") {
            Some(MarkerKind::Ccr)
        } else if w.contains("reached the media") || w.contains("time-based") || w.contains("reconnected") {
            Some(MarkerKind::Other)
        } else {
            None
        }
    }

    fn colour(self) -> &'static str {
        match self {
            MarkerKind::Failure => "#d62728",
            MarkerKind::Ccr => "#1f77b4",
            MarkerKind::Release => "#2ca02c",
            MarkerKind::Other => "#7f7f7f",
        }
    }
}

/// A vertical line across the plot.
#[derive(Clone, Debug, PartialEq)]
pub struct Marker {
    /// Time, ms since the start of the run.
    pub at_ms: f64,
    /// Label shown in the tooltip and the legend list.
    pub label: String,
    /// Colour class.
    pub kind: MarkerKind,
}

const WIDTH: f64 = 1000.0;
const HEIGHT: f64 = 460.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;
const PATH_COLOURS: [&str; 4] = ["#ff7f0e", "#9467bd", "#8c564b", "#17becf"];
/// Above this many points, only the lowest and highest latency per path and pixel column are drawn.
const MAX_POINTS: usize = 20_000;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Renders the plot.
pub fn render(title: &str, points: &[Point], markers: &[Marker]) -> String {
    let t_max = points.iter().map(|p| p.at_ms).chain(markers.iter().map(|m| m.at_ms)).fold(1.0_f64, f64::max);
    // Latency axis: log10 from the decade below the smallest latency to the decade above the largest.
    let positive = points.iter().map(|p| p.latency_ms).filter(|l| *l > 0.0);
    let lo = positive.clone().fold(f64::INFINITY, f64::min);
    let hi = positive.fold(0.0_f64, f64::max);
    let (lo_exp, hi_exp) = if lo.is_finite() {
        (lo.log10().floor() as i32, (hi.log10().ceil() as i32).max(lo.log10().floor() as i32 + 1))
    } else {
        (-1, 1)
    };
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x = |t: f64| LEFT + t / t_max * plot_w;
    let y = |l: f64| {
        let v = l.max(10f64.powi(lo_exp)).log10();
        TOP + plot_h - (v - f64::from(lo_exp)) / f64::from(hi_exp - lo_exp) * plot_h
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>"#);
    let _ = writeln!(s, r#"<text x="{LEFT}" y="22" font-size="15">{}</text>"#, escape(title));
    // Axes and ticks.
    let _ =
        writeln!(s, r##"<path d="M{LEFT} {TOP} V{} H{}" stroke="#333" fill="none"/>"##, TOP + plot_h, LEFT + plot_w);
    for e in lo_exp..=hi_exp {
        let v = 10f64.powi(e);
        let yy = y(v);
        let label = if e >= 0 { format!("{v:.0}") } else { format!("{v}") };
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{label}</text>"##,
            LEFT + plot_w,
            LEFT - 6.0,
            yy + 4.0
        );
    }
    let step = nice_step(t_max / 1000.0 / 8.0);
    let mut tick = 0.0;
    while tick * 1000.0 <= t_max + 1e-9 {
        let xx = x(tick * 1000.0);
        let _ = writeln!(
            s,
            r##"<line x1="{xx:.1}" y1="{:.1}" x2="{xx:.1}" y2="{:.1}" stroke="#333"/><text x="{xx:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            TOP + plot_h,
            TOP + plot_h + 5.0,
            TOP + plot_h + 18.0,
            trim_float(tick)
        );
        tick += step;
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">completion time (s)</text>"#,
        LEFT + plot_w / 2.0,
        HEIGHT - 18.0
    );
    let _ = writeln!(
        s,
        r#"<text transform="translate(16 {:.1}) rotate(-90)" text-anchor="middle">command latency (ms, log scale)</text>"#,
        TOP + plot_h / 2.0
    );
    // Markers below the points; failures last, so a failure and the CCR sent in the same millisecond both show.
    let mut ordered: Vec<&Marker> = markers.iter().collect();
    ordered.sort_by_key(|m| m.kind == MarkerKind::Failure);
    for m in ordered {
        let xx = x(m.at_ms);
        let _ = writeln!(
            s,
            r#"<line class="marker {kind:?}" x1="{xx:.1}" y1="{TOP}" x2="{xx:.1}" y2="{:.1}" stroke="{}" stroke-width="1.5" stroke-dasharray="5 3"><title>{:.3} ms: {}</title></line>"#,
            TOP + plot_h,
            m.kind.colour(),
            m.at_ms,
            escape(&m.label),
            kind = m.kind,
        );
    }
    // Points, thinned when there are very many.
    let drawn = thin(points, |p| x(p.at_ms).round() as i64);
    for p in &drawn {
        let _ = writeln!(
            s,
            r#"<circle cx="{:.1}" cy="{:.1}" r="2" fill="{}"/>"#,
            x(p.at_ms),
            y(p.latency_ms),
            PATH_COLOURS[p.path % PATH_COLOURS.len()]
        );
    }
    // Legend.
    let mut lx = LEFT + 8.0;
    let ly = TOP + 12.0;
    let mut paths: Vec<usize> = points.iter().map(|p| p.path).collect();
    paths.sort_unstable();
    paths.dedup();
    let mut legend: Vec<(String, &str)> =
        paths.iter().map(|&p| (format!("path {p}"), PATH_COLOURS[p % PATH_COLOURS.len()])).collect();
    for (kind, name) in [
        (MarkerKind::Failure, "failure"),
        (MarkerKind::Ccr, "CCR"),
        (MarkerKind::Release, "release"),
        (MarkerKind::Other, "other event"),
    ] {
        if markers.iter().any(|m| m.kind == kind) {
            legend.push((name.to_string(), kind.colour()));
        }
    }
    for (name, colour) in legend {
        let _ = writeln!(
            s,
            r#"<rect x="{lx:.1}" y="{:.1}" width="10" height="10" fill="{colour}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            ly - 9.0,
            lx + 14.0,
            ly,
            escape(&name)
        );
        lx += 24.0 + 7.0 * name.len() as f64;
    }
    s.push_str("</svg>\n");
    s
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

/// A 1-2-5 step at least `raw` (seconds), at least 0.001.
fn nice_step(raw: f64) -> f64 {
    let raw = raw.max(0.001);
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(10.0 * mag)
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_timeline_texts() {
        let c = MarkerKind::classify;
        assert_eq!(c("host: controller 1 (path 0) failed: connection closed by the target"), Some(MarkerKind::Failure));
        assert_eq!(c("fault: fopcode 1 fired on controller 1: Write held 2000.000 ms"), Some(MarkerKind::Failure));
        assert_eq!(c("host: CCR for controller 1 succeeded via controller 2"), Some(MarkerKind::Ccr));
        assert_eq!(c("host: released 1 held command(s) of controller 1 after 2010.231 ms"), Some(MarkerKind::Release));
        assert_eq!(c("host: controller 1 reconnected on path 0 (CIU 0x7d, CCRL 4)"), Some(MarkerKind::Other));
        assert_eq!(c("host: controller 1 connected on path 0 (CIU 0xd5, CCRL 4, TBKAS on)"), None);
        assert_eq!(c("target: controller 2: CCR accepted (DW0 0x0)"), None);
        assert_eq!(c("checker: LBA 0: stale write of 357 landed"), None);
    }

    #[test]
    fn renders_points_markers_and_escapes() {
        let points = [
            Point { at_ms: 10.0, latency_ms: 0.2, path: 0 },
            Point { at_ms: 20.0, latency_ms: 0.3, path: 1 },
            Point { at_ms: 17_000.0, latency_ms: 15_000.0, path: 1 },
        ];
        let markers = [
            Marker { at_ms: 2000.0, label: "failure <path 0>".into(), kind: MarkerKind::Failure },
            Marker { at_ms: 2100.0, label: "CCR & co".into(), kind: MarkerKind::Ccr },
        ];
        let svg = render("legacy \"x\"", &points, &markers);
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches("<circle").count(), 3);
        assert_eq!(svg.matches("class=\"marker").count(), 2);
        assert!(svg.contains("failure &lt;path 0&gt;"));
        assert!(svg.contains("CCR &amp; co"));
        assert!(svg.contains("legacy &quot;x&quot;"));
        // The 15 s point sits above the 0.2 ms point (smaller y), and decades from 0.1 to 100000 are labelled.
        let cy = |needle: &str| -> f64 {
            let line =
                svg.lines().filter(|l| l.starts_with("<circle")).nth(if needle == "low" { 0 } else { 2 }).unwrap();
            line.split("cy=\"").nth(1).unwrap().split('"').next().unwrap().parse().unwrap()
        };
        assert!(cy("high") < cy("low"));
        assert!(svg.contains(">0.1</text>") && svg.contains(">100000</text>"));
        assert!(svg.contains(">path 0</text>") && !svg.contains(">release</text>"));
        // Failure markers are drawn after the others, so one at the same time as a CCR stays visible.
        assert!(svg.find("marker Ccr").unwrap() < svg.find("marker Failure").unwrap());
    }

    #[test]
    fn thins_large_inputs() {
        let points: Vec<Point> = (0..50_000)
            .map(|i| Point { at_ms: f64::from(i), latency_ms: 1.0 + f64::from(i % 7), path: i as usize % 2 })
            .collect();
        let svg = render("many", &points, &[]);
        let n = svg.matches("<circle").count();
        assert!(n <= 2 * 2 * 1000, "{n} circles");
        assert!(n > 1000);
    }

    #[test]
    fn empty_plot_is_valid() {
        let svg = render("nothing", &[], &[]);
        assert!(svg.contains("</svg>"));
        assert_eq!(svg.matches("<circle").count(), 0);
    }
}
