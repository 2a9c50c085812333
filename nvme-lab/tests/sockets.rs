//! `nvme-lab target`, `rw-test` and `ccr-check` run as programs over loopback sockets: the target's fault switches
//! from its flags and from its control line on standard input, rw-test's output and exit status as the Linux failover test's
//! program gives them, ccr-check's verdicts and exit statuses.

#[allow(dead_code, reason = "each test file uses a part of the shared module")]
mod common;

use std::process::Command;

use common::{LabTarget, lab, text};

fn nqn(test: &str) -> String {
    format!("nqn.2026-01.org.example:lab-{test}")
}

/// rw-test with `legacy` against a target with two listeners whose first controller gets `--fopcode 1,2000`, one
/// path through each listener: the stalled write lands after the retried one, the read-back finds it, and the output
/// and exit status are the Linux test's rw_test program's. The target's log (`-v`) tells the same story in order: the fault holds a
/// write on one controller, which fails; the same data is written through the other controller; the held write
/// reaches the media 2 s after the fault; the read returns its data.
#[test]
fn rw_test_legacy_reads_back_the_stale_write_and_exits_1() {
    let nqn = nqn("rw-legacy");
    let mut target = LabTarget::start_listening(&nqn, 2, &["--cqt", "1", "--fopcode", "1,2000", "-v"]);
    let paths = target.addrs.join(",");
    let o = lab(&[
        "rw-test",
        "--paths",
        &paths,
        "--policy",
        "legacy",
        "--iterations",
        "3",
        "--pause-ms",
        "3000,500",
        "--reconnect-delay-ms",
        "300",
        "--kato",
        "1000",
        "--nqn",
        &nqn,
    ]);
    assert_eq!(o.status.code(), Some(1), "{}{}", text(&o.stdout), text(&o.stderr));
    assert_eq!(text(&o.stdout), "iteration number 0, writing data\nvalidating written data\n");
    assert_eq!(text(&o.stderr), "validation failed\n", "without -v only the program's own lines");

    let field = |line: &str, key: &str| -> String {
        let v = line.split(&format!(" {key}=")).nth(1).unwrap_or_else(|| panic!("no {key}= in {line}"));
        v.split_whitespace().next().unwrap().to_string()
    };
    let fired = target.log_line(&["WARN", "fault fired: command held", "opcode=0x01", "delay_ms=2000"]);
    let (held, data) = (field(&fired, "cntlid"), field(&fired, "data"));
    assert_ne!(data, "all:09", "the last write of an iteration is never the held one here: {fired}");
    target.log_line(&["WARN", "controller failed", &format!("cntlid={held} "), "cause=fault fired"]);
    let retry = target.log_line(&["DEBUG", "media", "kind=write", "slba=0", &format!("data={data}")]);
    assert_ne!(field(&retry, "cntlid"), held, "retried through the other controller: {retry}");
    target.log_line(&["DEBUG", "media", "kind=write", "slba=0", "data=all:09"]);
    let landed = target.log_line(&["WARN", "held command reached the media", &format!("cntlid={held} ")]);
    assert_eq!(field(&landed, "data"), data, "{landed}");
    let read = target.log_line(&["DEBUG", "media", "kind=read", "slba=0"]);
    assert_eq!(field(&read, "data"), data, "the read returns the stale data: {read}");
}

/// rw-test -v with `ccr`: the host's log tells the recovery in words on standard error (the failure, the hold with
/// its deadline, the CCR, the release), and the program's own lines are unchanged and pass.
#[test]
fn rw_test_verbose_logs_the_hold_and_its_release_in_words() {
    let nqn = nqn("rw-ccr-v");
    let target = LabTarget::start_listening(&nqn, 2, &["--cqt", "1", "--fopcode", "1,1500"]);
    let paths = target.addrs.join(",");
    let o = lab(&[
        "rw-test",
        "--paths",
        &paths,
        "--policy",
        "ccr",
        "--iterations",
        "1",
        "--pause-ms",
        "500,100",
        "--reconnect-delay-ms",
        "300",
        "--kato",
        "1000",
        "--nqn",
        &nqn,
        "-v",
    ]);
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.starts_with("iteration number 0, writing data\n"), "{out}");
    let pos = |needle: &str| err.find(needle).unwrap_or_else(|| panic!("no {needle:?} in:\n{err}"));
    let failed = pos("failed: connection");
    let held = pos("command(s) held until t=");
    let sent = pos("CCR #0 sent via path");
    let released = pos("held command(s) released after");
    assert!(failed < held && held < sent && sent < released, "{err}");
    assert!(err.contains("(CCR succeeded via path"), "{err}");
    assert!(!err.contains("Some(") && !err.contains("Instant("), "no Debug formatting: {err}");
}

/// ccr-check against `target --no-ccr`: "not supported", exit status 3; the switch cleared on the control line,
/// ccr-check (with both digests) passes, exit status 0.
#[test]
fn ccr_check_not_supported_then_pass_after_the_control_line() {
    let nqn = nqn("ccr-check");
    let mut target = LabTarget::start(&nqn, &["--no-ccr", "--cqt", "1"]);
    let addr = target.addr.clone();
    let check = |digests: &str| {
        lab(&["ccr-check", "--addr", &addr, "--wait-ms", "5000", "--kato", "2000", "--digests", digests, "--nqn", &nqn])
    };
    let o = check("none");
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(3), "{out}");
    assert!(out.contains("answered with Invalid Command Opcode, status 0x8002"), "{out}");
    assert!(out.ends_with("ccr-check verdict: CCR NOT SUPPORTED (2 checks as required, 0 not)\n"), "{out}");

    assert_eq!(target.control("no-ccr off"), "ok: no-ccr off");
    let o = check("both");
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("PASS  CCR accepted"), "{out}");
    assert!(out.ends_with("not)\n") && out.contains("ccr-check verdict: PASS ("), "{out}");
}

/// `target --fail-ccr`: the log entry check fails, exit status 1; a control line the target cannot parse is answered
/// with an error and changes nothing.
#[test]
fn ccr_check_fails_against_fail_ccr_and_bad_control_lines_are_refused() {
    let nqn = nqn("fail-ccr");
    let mut target = LabTarget::start(&nqn, &["--fail-ccr"]);
    assert!(target.control("fail-ccr maybe").starts_with("error: "));
    let o = lab(&["ccr-check", "--addr", &target.addr, "--wait-ms", "5000", "--kato", "2000", "--nqn", &nqn]);
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("FAIL  log entry"), "{out}");
    // The old controller was never torn down: the stale-CCR checks would only repeat that failure.
    assert!(out.contains("FAIL  impacted controller torn down: controller 1 still live after 5000 ms"), "{out}");
    assert!(out.contains("SKIP  stale CCR (old instance) refused: the old instance was never torn down"), "{out}");
    assert!(!out.contains("FAIL  stale CCR"), "{out}");
    assert!(out.contains("ccr-check verdict: FAIL ("), "{out}");
}

/// Two separate targets with one NQN both give CNTLID 1: rw-test says so plainly instead of reporting a false
/// validation failure, and ccr-check names the duplicate.
#[test]
fn two_targets_with_one_nqn_are_refused_as_a_duplicate_cntlid() {
    let nqn = nqn("duplicate");
    let a = LabTarget::start(&nqn, &[]);
    let b = LabTarget::start(&nqn, &[]);
    let paths = format!("{},{}", a.addr, b.addr);
    let o = lab(&["rw-test", "--paths", &paths, "--policy", "ccr", "--iterations", "1", "--nqn", &nqn]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("failed to open device, errno = 6"), "{err}");
    assert!(err.contains("CNTLID 1, as another path's live controller"), "{err}");
    assert!(!text(&o.stdout).contains("validation failed"), "{}", text(&o.stdout));
    let o = lab(&["ccr-check", "--addr", &paths, "--wait-ms", "2000", "--nqn", &nqn]);
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("FAIL  connect: impacted controller 1") && out.contains("a duplicate CNTLID"), "{out}");
}

/// Arguments the subcommands cannot use exit 2 with a message; no connection is tried.
#[test]
fn socket_subcommands_reject_bad_arguments() {
    for args in [
        &["rw-test", "--paths", "127.0.0.1:1", "--policy", "bogus"][..],
        &["rw-test", "--policy", "ccr"],
        &["rw-test", "--paths", "127.0.0.1:1", "--policy", "ccr", "--pause-ms", "5000"],
        &["ccr-check", "--addr", "127.0.0.1:1", "--digests", "some"],
        &["target", "--fopcode", "1"],
        &["target", "--listen", "nowhere"],
        &["target", "-v", "-q"],
        &["perf", "--paths", "127.0.0.1:1", "--workload", "bogus"],
        &["perf", "--paths", "127.0.0.1:1", "--fault", "fopcode"],
        &["perf", "--paths", "127.0.0.1:1", "--bs", "0"],
        &["perf", "--paths", "127.0.0.1:1", "--seconds", "0"],
        &["perf", "--paths", "127.0.0.1:1", "--workload", "randrw", "--read-percent", "101"],
    ] {
        let o = lab(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o.stderr));
        assert!(!o.stderr.is_empty(), "{args:?}");
    }
    // The messages follow the option's syntax; impossible sizes are refused before anything is allocated.
    assert!(text(&lab(&["target", "--fopcode", "1"]).stderr).contains("expected OPC,DELAY_MS[,CNTLID]"));
    for size in ["0", "100000000000000000"] {
        let o = lab(&["target", "--listen", "127.0.0.1:0", "--size-mib", size]);
        assert_eq!(o.status.code(), Some(2), "{size}: {}", text(&o.stderr));
        assert!(text(&o.stderr).contains(&format!("--size-mib {size} is not a possible namespace size")));
    }
    // Possible to write, not to hold in memory: a clear error naming the size, no abort.
    let o = lab(&["target", "--listen", "127.0.0.1:0", "--size-mib", "100000000"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("cannot hold a namespace of 204800000000 blocks of 512 bytes in memory"));
    let o = Command::new(env!("CARGO_BIN_EXE_nvme-lab"))
        .args(["target", "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "nvme_tokio=loud")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).starts_with("RUST_LOG=\"nvme_tokio=loud\": "), "{}", text(&o.stderr));
}

/// `perf` against `nvme-lab target` over loopback, two paths, policy ccr, with `fopcode` armed through the
/// target's control port on the target's own timer 1 s into a 3 s randrw load (the write that triggers it is held
/// 1000 ms): the JSON has the intervals, the per-kind latencies whose counts add up to the completions, the series,
/// a baseline before the fault and a dip that starts at or after it; the write held by the fault waited at least
/// its 1000 ms; nothing failed (ccr holds and retries); the target's log shows the fault fired. Queue depth 1, so
/// the held write stops the whole load and the dip is certain: at queue depth 8 the workers on the other path kept
/// the CPU-bound loopback rate near the baseline on a loaded machine, and the dip (and the test) came and went.
#[test]
fn perf_over_loopback_reports_intervals_latencies_and_the_dip_of_a_fault_mid_run() {
    let nqn = nqn("perf");
    let mut target = LabTarget::start_listening(&nqn, 2, &["--cqt", "1", "--control", "127.0.0.1:0"]);
    let control = target.next_line("control address", |l| l.starts_with("control on "));
    let control = control.trim_start_matches("control on ").trim().to_string();
    let paths = target.addrs.join(",");
    let o = lab(&[
        "perf",
        "--paths",
        &paths,
        "--workload",
        "randrw",
        "--bs",
        "4k",
        "--qd",
        "1",
        "--seconds",
        "3",
        "--interval-ms",
        "500",
        "--policy",
        "ccr",
        "--kato",
        "1000",
        "--fault",
        "fopcode",
        "--fault-at",
        "1",
        "--fault-delay-ms",
        "1000",
        "--control",
        &control,
        "--json",
        "-",
        "--nqn",
        &nqn,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}{}", text(&o.stdout), text(&o.stderr));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let num = |v: &serde_json::Value| v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"));
    let ok = num(&j["ok"]);
    assert!(ok > 100.0, "{j}");
    assert_eq!(num(&j["failed"]), 0.0, "ccr fails nothing: {j}");
    assert_eq!(
        (j["workload"].as_str(), j["fault"].as_str(), j["policy"].as_str()),
        (Some("randrw"), Some("fopcode"), Some("ccr"))
    );
    let iv = j["intervals"].as_array().unwrap();
    assert!(iv.len() >= 6, "3 s in 500 ms intervals: {}", iv.len());
    assert!(num(&iv[0]["read_iops"]) > 0.0 && num(&iv[0]["write_iops"]) > 0.0, "{}", iv[0]);
    let s = &j["summary"];
    let (reads, writes) = (num(&s["reads"]["count"]), num(&s["writes"]["count"]));
    assert_eq!(reads + writes, ok, "every completion is in the histograms");
    let series: f64 = ["read_ios", "write_ios"]
        .iter()
        .flat_map(|k| j["series_100ms"][k].as_array().unwrap().iter().map(num).collect::<Vec<_>>())
        .sum();
    assert_eq!(series + num(&s["beyond_horizon"]), ok, "every completion is in the series");
    assert_eq!(num(&s["fault_ms"]), 1000.0);
    assert!(num(&s["baseline_iops"]) > 0.0, "{s}");
    assert!(num(&s["writes"]["max_ms"]) >= 1000.0, "the write held by the fault: {s}");
    let dip = &s["dip"];
    assert!(num(&dip["start_ms"]) >= 1000.0, "{s}");
    assert!(num(&dip["depth"]) > 0.0 && num(&dip["depth"]) <= 1.0, "{s}");
    target.log_line(&["fault fired: command held", "opcode=0x01", "delay_ms=1000"]);
}

/// The target's `after MS LINE` control line: answered at once, the line applied MS later (its answer then says so);
/// malformed, refused.
#[test]
fn the_targets_after_line_applies_a_line_later() {
    let nqn = nqn("after");
    let mut target = LabTarget::start(&nqn, &[]);
    assert_eq!(target.control("after 200 fail-ccr on"), "ok: in 200 ms: fail-ccr on");
    let later = target.next_line("the delayed answer", |l| l.contains("(after 200 ms)"));
    assert_eq!(later, "ok: fail-ccr on (after 200 ms)");
    assert!(target.control("status").contains("fail-ccr on"));
    for bad in ["after soon status", "after 100", "after 99999999999 status"] {
        assert!(target.control(bad).starts_with("error: after MS LINE"), "{bad}");
    }
}
