//! `nvme-lab run --svg/--png`: the picture of a legacy and a ccr run. Each marker kind the run's events call for is
//! drawn, and every marker falls inside the zoomed panel; the PNG is a PNG of the SVG's size.

#[allow(dead_code, reason = "each test file uses a part of the shared module")]
mod common;

use common::{lab, temp};

/// The value of attribute `name` in one element's text.
fn attr(element: &str, name: &str) -> Option<f64> {
    element.split(&format!(" {name}=\"")).nth(1)?.split('"').next()?.parse().ok()
}

/// The rectangle with this id: (x, y, width, height).
fn rect(svg: &str, id: &str) -> (f64, f64, f64, f64) {
    let el = svg.lines().find(|l| l.contains(&format!("id=\"{id}\""))).unwrap_or_else(|| panic!("no #{id}"));
    let get = |n| attr(el, n).unwrap_or_else(|| panic!("#{id} has no {n}"));
    (get("x"), get("y"), get("width"), get("height"))
}

struct Drawn {
    kind: String,
    x: f64,
    y: f64,
}

/// A marker's dashed line: kind, x, top and bottom.
type MarkerLine = (String, f64, f64, f64);

/// The markers of the zoom (`<g class="marker KIND" data-x=.. data-y=..>`) and their lines
/// (`<line class="marker-line KIND" x1 y1 x2 y2>`).
fn markers(svg: &str) -> (Vec<Drawn>, Vec<MarkerLine>) {
    let kind = |l: &str, prefix: &str| l[prefix.len()..].split('"').next().unwrap().to_string();
    let symbols = svg
        .lines()
        .filter(|l| l.starts_with("<g class=\"marker "))
        .map(|l| Drawn {
            kind: kind(l, "<g class=\"marker "),
            x: attr(l, "data-x").unwrap(),
            y: attr(l, "data-y").unwrap(),
        })
        .collect();
    let lines = svg
        .lines()
        .filter(|l| l.starts_with("<line class=\"marker-line "))
        .map(|l| {
            let (x1, x2) = (attr(l, "x1").unwrap(), attr(l, "x2").unwrap());
            assert_eq!(x1, x2, "{l}");
            (kind(l, "<line class=\"marker-line "), x1, attr(l, "y1").unwrap(), attr(l, "y2").unwrap())
        })
        .collect();
    (symbols, lines)
}

/// Runs `run` with `args`, writes the SVG and PNG, checks the markers: every kind in `kinds` is there, none other,
/// each inside the zoom's horizontal extent, in the lane above its plot, its line through the plot; no two markers
/// overlap. Returns the SVG.
fn picture(name: &str, args: &[&str], kinds: &[&str]) -> String {
    let (svg_file, png_file) = (temp(&format!("{name}.svg")), temp(&format!("{name}.png")));
    let mut all = vec!["run", "--iterations", "2"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--svg", svg_file.0.to_str().unwrap(), "--png", png_file.0.to_str().unwrap()]);
    let out = lab(&all);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let svg = std::fs::read_to_string(&svg_file.0).unwrap();
    let (px, py, pw, ph) = rect(&svg, "zoom-plot");
    let (_, ty, _, th) = rect(&svg, "zoom-throughput");
    assert!(ty > py + ph, "{name}: the throughput plot overlaps the latency plot");
    let (symbols, lines) = markers(&svg);
    let mut seen: Vec<&str> = symbols.iter().map(|m| m.kind.as_str()).collect();
    seen.sort_unstable();
    seen.dedup();
    let mut want = kinds.to_vec();
    want.sort_unstable();
    assert_eq!(seen, want, "{name}: marker kinds");
    for m in &symbols {
        assert!((px..=px + pw).contains(&m.x), "{name}: {} at x {} outside the zoom {px}..{}", m.kind, m.x, px + pw);
        assert!(m.y < py && m.y > py - 200.0, "{name}: {} at y {} not in the lane above {py}", m.kind, m.y);
    }
    assert_eq!(lines.len(), symbols.len());
    for (kind, x, y1, y2) in &lines {
        assert!((px..=px + pw).contains(x), "{name}: {kind} line at {x}");
        assert!(*y1 >= py && *y2 <= ty + th && *y2 > *y1, "{name}: {kind} line {y1}..{y2}");
    }
    // None hides another: symbols closer than 10 px horizontally are on different rows.
    for (i, a) in symbols.iter().enumerate() {
        for b in &symbols[i + 1..] {
            assert!(
                (a.x - b.x).abs() >= 10.0 || (a.y - b.y).abs() >= 10.0,
                "{name}: {} and {} overlap",
                a.kind,
                b.kind
            );
        }
    }
    // Every kind drawn is in the legend.
    for k in kinds {
        assert!(svg.contains(&format!("<g class=\"legend {k}\">")), "{name}: {k} not in the legend");
    }
    // The PNG: signature, IHDR, the SVG's size.
    let png = std::fs::read(&png_file.0).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{name}: not a PNG");
    assert_eq!(&png[12..16], b"IHDR");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let head = svg.lines().next().unwrap();
    assert_eq!(f64::from(be(&png[16..20])), attr(head, "width").unwrap(), "{name}: PNG width");
    assert_eq!(f64::from(be(&png[20..24])), attr(head, "height").unwrap(), "{name}: PNG height");
    assert!(png.len() > 10_000, "{name}: a {} byte PNG draws next to nothing", png.len());
    svg
}

#[test]
fn legacy_picture_marks_the_stale_write_in_the_zoom() {
    let svg = picture(
        "legacy",
        &["--policy", "legacy", "--fault", "fopcode"],
        &["fault", "failure", "release", "stale-write"],
    );
    // The stale write lands when the held write's 2 s are over: about 2 s right of the failure.
    let (symbols, _) = markers(&svg);
    let x = |k: &str| symbols.iter().find(|m| m.kind == k).unwrap().x;
    assert!(x("stale-write") > x("failure") + 100.0, "{} {}", x("stale-write"), x("failure"));
    assert!(svg.contains("CORRUPTED"));
}

#[test]
fn ccr_picture_marks_every_step_of_the_ccr() {
    let svg = picture(
        "ccr",
        &["--policy", "ccr"],
        &["fault", "failure", "ccr-sent", "ccr-completed", "aen", "log-read", "release"],
    );
    // Failure and CCR sent fall in the same millisecond: both are drawn, on different rows.
    let (symbols, _) = markers(&svg);
    let f = symbols.iter().find(|m| m.kind == "failure").unwrap();
    let c = symbols.iter().find(|m| m.kind == "ccr-sent").unwrap();
    assert!((f.x - c.x).abs() < 2.0 && f.y != c.y, "failure ({}, {}), CCR sent ({}, {})", f.x, f.y, c.x, c.y);
    assert!(!svg.contains("CORRUPTED"));
}
