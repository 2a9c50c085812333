//! `nvme-lab target`, `rw-test` and `ccr-check` run as programs over loopback sockets: the target's fault switches
//! from its flags and from its control line on standard input, rw-test's output and exit status as the seed's
//! program gives them, ccr-check's verdicts and exit statuses.

use std::io::{BufRead, BufReader, Lines, Write};
use std::process::{Child, ChildStderr, Command, Output, Stdio};

fn lab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nvme-lab")).args(args).output().expect("start nvme-lab")
}

fn text(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).unwrap()
}

/// `nvme-lab target` on an ephemeral loopback port, killed when dropped.
struct LabTarget {
    child: Child,
    addr: String,
    stderr: Lines<BufReader<ChildStderr>>,
}

impl LabTarget {
    /// Starts `nvme-lab target --listen 127.0.0.1:0 --nqn NQN ARGS` and reads the address from its first line.
    fn start(nqn: &str, args: &[&str]) -> LabTarget {
        let mut child = Command::new(env!("CARGO_BIN_EXE_nvme-lab"))
            .args(["target", "--listen", "127.0.0.1:0", "--nqn", nqn])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start nvme-lab target");
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
        // "nvme-tokio target listening on ADDR nqn NQN"
        let words: Vec<&str> = first.split_whitespace().collect();
        assert_eq!(words[..4], ["nvme-tokio", "target", "listening", "on"], "{first}");
        assert_eq!(words[5..], ["nqn", nqn], "{first}");
        let addr = words[4].to_string();
        let stderr = BufReader::new(child.stderr.take().unwrap()).lines();
        LabTarget { child, addr, stderr }
    }

    /// Sends one control line and returns the target's answer.
    fn control(&mut self, line: &str) -> String {
        writeln!(self.child.stdin.as_mut().unwrap(), "{line}").unwrap();
        self.stderr.next().expect("an answer").unwrap()
    }
}

impl Drop for LabTarget {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nqn(test: &str) -> String {
    format!("nqn.2026-01.org.example:lab-{test}")
}

/// rw-test with `legacy` against a target whose first controller gets `--fopcode 1,2000`, both paths to that
/// target: the stalled write lands after the retried one, the read-back finds it, and the output and exit status are
/// the seed program's.
#[test]
fn rw_test_legacy_reads_back_the_stale_write_and_exits_1() {
    let nqn = nqn("rw-legacy");
    let target = LabTarget::start(&nqn, &["--cqt", "1", "--fopcode", "1,2000"]);
    let paths = format!("{0},{0}", target.addr);
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
    assert_eq!(text(&o.stderr), "validation failed\n");
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
    assert!(out.contains("ccr-check verdict: FAIL ("), "{out}");
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
    ] {
        let o = lab(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o.stderr));
        assert!(!o.stderr.is_empty(), "{args:?}");
    }
}
