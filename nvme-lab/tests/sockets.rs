//! `nvme-lab target`, `rw-test` and `ccr-check` run as programs over loopback sockets: the target's fault switches
//! from its flags and from its control line on standard input, rw-test's output and exit status as the seed's
//! program gives them, ccr-check's verdicts and exit statuses.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

fn lab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nvme-lab")).args(args).output().expect("start nvme-lab")
}

fn text(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).unwrap()
}

/// How long a test waits for one line of the target's standard error.
const LINE_WAIT: Duration = Duration::from_secs(20);

/// `nvme-lab target` on ephemeral loopback ports, killed when dropped.
struct LabTarget {
    child: Child,
    /// The first listener's address.
    addr: String,
    /// Every listener's address.
    addrs: Vec<String>,
    /// Standard error, line by line (control answers and the log), read by a thread.
    stderr: Receiver<String>,
}

impl LabTarget {
    /// Starts `nvme-lab target --listen 127.0.0.1:0 --nqn NQN ARGS` and reads the address from its first line.
    fn start(nqn: &str, args: &[&str]) -> LabTarget {
        Self::start_listening(nqn, 1, args)
    }

    /// As [`start`](Self::start) with `listeners` × `--listen 127.0.0.1:0`.
    fn start_listening(nqn: &str, listeners: usize, args: &[&str]) -> LabTarget {
        let mut child = Command::new(env!("CARGO_BIN_EXE_nvme-lab"))
            .arg("target")
            .args((0..listeners).flat_map(|_| ["--listen", "127.0.0.1:0"]))
            .args(["--nqn", nqn])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start nvme-lab target");
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
        // "nvme-tokio target listening on ADDR[,ADDR...] nqn NQN"
        let words: Vec<&str> = first.split_whitespace().collect();
        assert_eq!(words[..4], ["nvme-tokio", "target", "listening", "on"], "{first}");
        assert_eq!(words[5..], ["nqn", nqn], "{first}");
        let addrs: Vec<String> = words[4].split(',').map(str::to_string).collect();
        assert_eq!(addrs.len(), listeners, "{first}");
        let (tx, stderr) = std::sync::mpsc::channel();
        let lines = BufReader::new(child.stderr.take().unwrap()).lines();
        std::thread::spawn(move || lines.map_while(Result::ok).try_for_each(|l| tx.send(l)));
        LabTarget { child, addr: addrs[0].clone(), addrs, stderr }
    }

    /// The next line of standard error that `pred` accepts (the others are skipped), within [`LINE_WAIT`].
    fn next_line(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + LINE_WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) if pred(&line) => return line,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => panic!("no {what} within {LINE_WAIT:?}"),
                Err(RecvTimeoutError::Disconnected) => panic!("the target's standard error ended before {what}"),
            }
        }
    }

    /// Sends one control line and returns the target's answer (log lines before it are skipped).
    fn control(&mut self, line: &str) -> String {
        writeln!(self.child.stdin.as_mut().unwrap(), "{line}").unwrap();
        self.next_line("answer", |l| l.starts_with("ok: ") || l.starts_with("error: "))
    }

    /// The next log line containing every one of `needles`.
    fn log_line(&mut self, needles: &[&str]) -> String {
        self.next_line(&format!("log line with {needles:?}"), |l| needles.iter().all(|n| l.contains(n)))
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

/// rw-test with `legacy` against a target with two listeners whose first controller gets `--fopcode 1,2000`, one
/// path through each listener: the stalled write lands after the retried one, the read-back finds it, and the output
/// and exit status are the seed program's. The target's log (`-v`) tells the same story in order: the fault holds a
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
    assert_eq!(text(&o.stderr), "validation failed\n");

    let field = |line: &str, key: &str| -> String {
        let v = line.split(&format!(" {key}=")).nth(1).unwrap_or_else(|| panic!("no {key}= in {line}"));
        v.split_whitespace().next().unwrap().to_string()
    };
    let fired = target.log_line(&["WARN", "fault fired: command held", "opcode=0x01", "delay_ms=2000"]);
    let (held, data) = (field(&fired, "cntlid"), field(&fired, "data"));
    assert_ne!(data, "all:09", "the last write of an iteration is never the held one here: {fired}");
    target.log_line(&["WARN", "controller failed", &format!("cntlid={held} "), "cause=Fault"]);
    let retry = target.log_line(&["DEBUG", "media", "kind=write", "slba=0", &format!("data={data}")]);
    assert_ne!(field(&retry, "cntlid"), held, "retried through the other controller: {retry}");
    target.log_line(&["DEBUG", "media", "kind=write", "slba=0", "data=all:09"]);
    let landed = target.log_line(&["WARN", "held command reached the media", &format!("cntlid={held} ")]);
    assert_eq!(field(&landed, "data"), data, "{landed}");
    let read = target.log_line(&["DEBUG", "media", "kind=read", "slba=0"]);
    assert_eq!(field(&read, "data"), data, "the read returns the stale data: {read}");
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
        &["target", "-v", "-q"],
    ] {
        let o = lab(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o.stderr));
        assert!(!o.stderr.is_empty(), "{args:?}");
    }
    let o = Command::new(env!("CARGO_BIN_EXE_nvme-lab"))
        .args(["target", "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "nvme_tokio=loud")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).starts_with("RUST_LOG=\"nvme_tokio=loud\": "), "{}", text(&o.stderr));
}
