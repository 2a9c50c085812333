//! `nvme-lab matrix`, `run` and `explore` run as a program, with small iteration counts.

#[allow(dead_code, reason = "each test file uses a part of the shared module")]
mod common;

use std::process::{Command, Output};

use common::{lab, temp};

use serde_json::Value;

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn json_line(o: &Output) -> Value {
    serde_json::from_str(stdout(o).trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(o)))
}

const CELL_KEYS: [&str; 20] = [
    "policy",
    "workload",
    "fault",
    "cqt_ms",
    "unsafe_baseline",
    "corrupted",
    "completed",
    "max_stall_ms",
    "p99_ms",
    "detect_ms",
    "release_ms",
    "held",
    "ccrs_sent",
    "fallbacks",
    "read_stall_ms",
    "write_stall_ms",
    "back_to_90_ms",
    "dip_depth",
    "admin_stall_ms",
    "admin_failed",
];

#[test]
fn run_json_legacy_corrupts_ccr_does_not() {
    let legacy = lab(&[
        "run",
        "--policy",
        "legacy",
        "--workload",
        "rw_test",
        "--fault",
        "fopcode",
        "--iterations",
        "2",
        "--json",
    ]);
    assert_eq!(legacy.status.code(), Some(0));
    let v = json_line(&legacy);
    for k in CELL_KEYS {
        assert!(v.get(k).is_some(), "missing {k}: {v}");
    }
    assert_eq!((v["policy"].as_str(), v["corrupted"].as_bool()), (Some("legacy"), Some(true)));
    assert_eq!(v["rw_test_exit"], 1);
    assert!(!v["violations"].as_array().unwrap().is_empty());

    let ccr = json_line(&lab(&["run", "--policy", "ccr", "--iterations", "2", "--json"]));
    assert_eq!((ccr["corrupted"].as_bool(), ccr["rw_test_exit"].as_i64()), (Some(false), Some(0)));
    // The stall is about the 2 s fopcode delay plus CCR and teardown, far below the 15 s time-based hold.
    let release = ccr["release_ms"].as_f64().unwrap();
    assert!((2000.0..3000.0).contains(&release), "{ccr}");
    assert!(ccr["max_stall_ms"].as_f64().unwrap() >= release);
    // The timeline is typed events: the CCR's impacted and source controllers, the release's proof.
    let timeline = ccr["timeline"].as_array().unwrap();
    let sent = timeline.iter().find(|e| e["kind"] == "ccr_sent").expect("ccr_sent");
    assert_eq!(
        (sent["impacted"].as_u64(), sent["source"].as_u64(), sent["path"].as_u64()),
        (Some(1), Some(2), Some(0))
    );
    assert!(sent["at_ms"].as_f64().unwrap() > 0.0);
    let released = timeline.iter().find(|e| e["kind"] == "released").expect("released");
    assert_eq!(released["reason"], "CCR succeeded");
    let live = timeline.iter().find(|e| e["kind"] == "connected").expect("connected");
    assert!(live["cirn"].as_str().unwrap().starts_with("0x"), "{live}");
    for kind in ["controller_failed", "aen", "ccr_log_read", "ccr_succeeded", "fault_fired"] {
        assert!(timeline.iter().any(|e| e["kind"] == kind), "no {kind} in {ccr}");
    }
    assert!(v["timeline"].as_array().unwrap().iter().any(|e| e["kind"] == "stale_write"), "{v}");

    // cqt holds (TBKAS ? 3 : 2) x KATO + CQT: with TBKAS off and KATO 1 s, 2 x 1000 + 1 ms.
    let cqt =
        json_line(&lab(&["run", "--policy", "cqt", "--iterations", "1", "--kato", "1000", "--tbkas", "off", "--json"]));
    assert_eq!(cqt["corrupted"], false);
    assert_eq!(cqt["release_ms"], 2001.0);
}

#[test]
fn run_text_timeline_and_outputs() {
    let svg = temp("run.svg");
    let pcap = temp("run.pcap");
    let out = lab(&[
        "run",
        "--policy",
        "ccr",
        "--iterations",
        "1",
        "--svg",
        svg.0.to_str().unwrap(),
        "--pcap",
        pcap.0.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = stdout(&out);
    assert!(
        text.starts_with("scenario: policy ccr, workload rw_test, fault fopcode (opcode 1, delay 2000 ms)"),
        "{text}"
    );
    assert!(text.contains("time-based hold if no CCR succeeds: (TBKAS ? 3 : 2) x KATO + CQT = 15001 ms"));
    // Timeline lines: right-aligned milliseconds, then the path.
    let ccr_line = text.lines().find(|l| l.contains("CCR for controller 1 succeeded")).expect("CCR success line");
    let (at, rest) = ccr_line.trim_start().split_once(" ms  ").unwrap();
    assert!(at.parse::<f64>().unwrap() > 2000.0, "{ccr_line}");
    assert!(rest.starts_with("path 0"), "{ccr_line}");
    assert!(text.contains(
        "rw_test output:\n  iteration number 0, writing data\n  validating written data\n  successfully validated"
    ));
    assert!(text.contains("  corrupted:  no"));
    // The SVG (tests/picture.rs checks its markers): every completed command a point in the whole-run column.
    let svg_text = std::fs::read_to_string(&svg.0).unwrap();
    assert!(svg_text.starts_with("<svg ") && svg_text.ends_with("</svg>\n"));
    assert!(svg_text.matches("class=\"point\"").count() >= 11);
    assert!(text.contains(&format!("  svg:        {}", svg.0.display())));
    // The pcap decodes with our own decoder: no error, every digest good, the CCR and the Identify data in context.
    let dec = lab(&["decode", "--pcap", pcap.0.to_str().unwrap()]);
    assert_eq!(dec.status.code(), Some(0), "{}", String::from_utf8_lossy(&dec.stderr));
    let lines: Vec<Value> = stdout(&dec).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.len() > 50);
    assert!(lines.iter().all(|v| v.get("error").is_none() && v["ddgst"] != "bad"));
    assert!(lines.iter().filter(|v| v["type"] != "ICReq" && v["type"] != "ICResp").all(|v| v["hdgst"] == "good"));
    let ccr = lines.iter().find(|v| v["cmd"]["name"] == "Cross-Controller Reset").expect("CCR command");
    // The CCR names the impacted controller exactly as its Identify data described it (CNTLID, CIU, CIRN).
    let id = lines
        .iter()
        .filter_map(|v| v.get("identify_controller"))
        .find(|id| id["cntlid"] == ccr["cmd"]["icid"])
        .expect("Identify Controller data of the impacted controller");
    assert_eq!((id["ciu"].as_u64(), id["cirn"].as_str()), (ccr["cmd"]["ciu"].as_u64(), ccr["cmd"]["cirn"].as_str()));
    assert_eq!((id["cqt"].as_u64(), id["tbkas"].as_bool(), id["ccrl"].as_u64()), (Some(1), Some(true), Some(4)));
    assert!(lines.iter().any(|v| v["cqe"]["event"]["event"] == "Cross-Controller Reset Completed"));
    assert!(lines.iter().any(|v| v.get("ccr_log").is_some_and(|l| l["entries"][0]["ccrs_name"] == "success")));
    // Both paths, each with an admin and an I/O connection (and a reconnect of path 0).
    let conns: std::collections::HashSet<u64> = lines.iter().map(|v| v["conn"].as_u64().unwrap()).collect();
    assert!(conns.len() >= 4, "{conns:?}");
}

#[test]
#[ignore = "needs tshark: apt-get install tshark"]
fn tshark_finds_every_digest_of_a_run_pcap_good() {
    let pcap = temp("tshark-run.pcap");
    let out = lab(&["run", "--policy", "ccr", "--iterations", "1", "--pcap", pcap.0.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let ts = Command::new("tshark")
        .args(["-r", pcap.0.to_str().unwrap(), "-o", "nvme-tcp.check_hdgst:TRUE", "-o", "nvme-tcp.check_ddgst:TRUE"])
        .args(["-T", "fields", "-e", "nvme-tcp.hdgst.status", "-e", "nvme-tcp.ddgst.status"])
        .output()
        .expect("run tshark");
    assert!(ts.status.success());
    let text = String::from_utf8(ts.stdout).unwrap();
    let statuses: Vec<&str> = text.split(['\t', '\n', ',']).filter(|s| !s.is_empty()).collect();
    assert!(statuses.len() > 100, "{text}");
    assert!(statuses.iter().all(|s| *s == "1"), "{text}");
}

#[test]
fn matrix_json_has_every_cell_and_key() {
    let out = lab(&["matrix", "--json", "--iterations", "2", "--duration", "8"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = stdout(&out);
    let cells: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(cells.len(), 140);
    for (line, c) in text.lines().zip(&cells) {
        // Every key, in the documented order.
        let at: Vec<usize> = CELL_KEYS.iter().map(|k| line.find(&format!("\"{k}\":")).expect(k)).collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{line}");
        assert_eq!(c.as_object().unwrap().len(), CELL_KEYS.len());
        assert!(c["release_ms"].is_null() || c["release_ms"].is_f64());
    }
    // The debated options reach the matrix: CQT 0 with the immediate rule makes every level an unsafe baseline.
    let out =
        lab(&["matrix", "--json", "--iterations", "1", "--duration", "8", "--cqt", "0", "--cqt0-rule", "immediate"]);
    let text = stdout(&out);
    let imm: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(imm.iter().all(|c| c["unsafe_baseline"] == true && c["cqt_ms"] == 0));
    let fails = |p: &str| {
        imm.iter().find(|c| c["policy"] == p && c["workload"] == "rw_test" && c["fault"] == "ccr-fail").unwrap()["corrupted"].clone()
    };
    assert_eq!((fails("cqt"), fails("ccr")), (Value::Bool(true), Value::Bool(true)));
    let cell = |p: &str, w: &str, f: &str| {
        cells.iter().find(|c| c["policy"] == p && c["workload"] == w && c["fault"] == f).unwrap().clone()
    };
    assert_eq!(cell("legacy", "rw_test", "fopcode")["corrupted"], true);
    assert!(cells.iter().filter(|c| c["policy"] != "legacy").all(|c| c["corrupted"] == false));
    assert_eq!(cell("ccr-filter-admin", "rw_test", "node-failover")["corrupted"], false);
    assert_eq!(cell("cqt", "rw_test", "fopcode")["fallbacks"], 1);
    assert_eq!(cell("ccr", "rw_test", "fopcode")["ccrs_sent"], 1);
    assert!(cell("ccr", "write", "loss-burst")["detect_ms"].is_null());
    assert_eq!(cell("cqt", "rw_test", "fopcode")["release_ms"], 15001.0);
    assert_eq!(cell("ccr", "read", "ccr-unsupported")["release_ms"], 15001.0);
    // ccr-filter lets reads through at detection.
    assert_eq!(cell("ccr-filter", "read", "fopcode")["release_ms"], 0.0);
    assert!(cell("ccr", "read", "fopcode")["release_ms"].as_f64().unwrap() > 2000.0);
}

#[test]
fn explore_exit_status_follows_the_rule() {
    let legacy = lab(&["explore", "--seeds", "20", "--policy", "legacy"]);
    assert_eq!(legacy.status.code(), Some(0));
    let text = stdout(&legacy);
    let summary = text.lines().find(|l| l.starts_with("explored 20 seeds of policy legacy")).expect(&text);
    let corrupted: usize = summary.split(": ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert_eq!(text.matches("  reproduce: ").count(), corrupted.min(10));
    // Every printed command reproduces its finding.
    if let Some(line) = text.lines().find(|l| l.starts_with("  reproduce: ")) {
        let args: Vec<&str> = line.trim_start_matches("  reproduce: nvme-lab ").split(' ').collect();
        let again = json_line(&lab(&[args.as_slice(), &["--json"]].concat()));
        assert_eq!(again["corrupted"], true, "{line}");
    }
    let ccr = lab(&["explore", "--seeds", "20", "--policy", "ccr", "--threads", "2"]);
    assert_eq!(ccr.status.code(), Some(0), "{}", stdout(&ccr));
    assert!(stdout(&ccr).contains("explored 20 seeds of policy ccr (target keeps its CQT promise): 0 corrupted"));
    // With a target breaking its CQT promise, cqt may corrupt (exit 0 whatever it finds); ccr-filter may not, so
    // its exit status says whether it did.
    for (policy, forbidden) in [("cqt", false), ("ccr-filter", true)] {
        let out = lab(&["explore", "--seeds", "8", "--start", "100", "--policy", policy, "--noncompliant"]);
        let text = stdout(&out);
        let found = text.lines().filter(|l| l.starts_with("seed ")).count();
        assert!(text.contains("(target breaks its CQT promise)"), "{text}");
        let expected = if forbidden && found > 0 { 1 } else { 0 };
        assert_eq!(out.status.code(), Some(expected), "{text}");
        assert_eq!(text.contains("FAIL: policy"), expected == 1);
    }
}

#[test]
fn bad_arguments_exit_2_with_a_message() {
    for (args, expect) in [
        (vec!["run", "--policy", "sometimes"], "invalid value 'sometimes'"),
        (vec!["run"], "--policy"),
        (vec!["run", "--policy", "ccr", "--random", "--workload", "read"], "cannot be used with"),
        (vec!["run", "--policy", "ccr", "--noncompliant"], "--random"),
        (vec!["run", "--policy", "ccr", "--kato", "0"], "invalid value '0'"),
        (vec!["run", "--policy", "ccr", "--iterations", "many"], "invalid value 'many'"),
        (vec!["run", "--policy", "ccr", "--svg", "/nonexistent/dir/x.svg", "--iterations", "1"], "cannot write"),
        (vec!["explore", "--policy", "ccr"], "--seeds"),
        (vec!["matrix", "--iterations", "0"], "invalid value '0'"),
        (vec!["frobnicate"], "unrecognized subcommand"),
    ] {
        let out = lab(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expect), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"));
    }
}

#[test]
fn help_documents_every_subcommand() {
    let out = lab(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    for sub in ["matrix", "run", "explore", "decode"] {
        assert!(text.contains(sub), "{text}");
    }
    let run = stdout(&lab(&["run", "--help"]));
    for opt in
        ["--kato", "--cqt", "--tbkas", "--delay", "--seed", "--random", "--svg", "--pcap", "ccr-filter", "rw_test"]
    {
        assert!(run.contains(opt), "{opt} missing from run --help");
    }
}
