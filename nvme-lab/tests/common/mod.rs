//! What the tests that run `nvme-lab` as a program share: running it, reading its output, and `nvme-lab target`
//! as a child process on ephemeral loopback ports. Each test file includes it with `mod common;` and uses a part of
//! it, hence the `dead_code` allowance there.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// Runs `nvme-lab ARGS` to its end.
pub fn lab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nvme-lab")).args(args).output().expect("start nvme-lab")
}

/// Output bytes as text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).unwrap()
}

/// A path in the temporary directory, its file removed when dropped.
pub struct TempFile(pub std::path::PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A path for `name` in the temporary directory, unique to this test process.
pub fn temp(name: &str) -> TempFile {
    TempFile(std::env::temp_dir().join(format!("nvme-lab-test-{}-{name}", std::process::id())))
}

/// How long a test waits for one line of the target's standard error.
pub const LINE_WAIT: Duration = Duration::from_secs(20);

/// `nvme-lab target` on ephemeral loopback ports, killed when dropped.
pub struct LabTarget {
    child: Child,
    /// The first listener's address.
    pub addr: String,
    /// Every listener's address.
    pub addrs: Vec<String>,
    /// Standard error, line by line (control answers and the log), read by a thread.
    stderr: Receiver<String>,
    /// Every standard error line received so far, in order.
    seen: Vec<String>,
}

impl LabTarget {
    /// Starts `nvme-lab target --listen 127.0.0.1:0 --nqn NQN ARGS` and reads the address from its first line.
    pub fn start(nqn: &str, args: &[&str]) -> LabTarget {
        Self::start_listening(nqn, 1, args)
    }

    /// As [`start`](Self::start) with `listeners` × `--listen 127.0.0.1:0`.
    pub fn start_listening(nqn: &str, listeners: usize, args: &[&str]) -> LabTarget {
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
        LabTarget { child, addr: addrs[0].clone(), addrs, stderr, seen: Vec::new() }
    }

    /// The next line of standard error that `pred` accepts (the others are skipped), within [`LINE_WAIT`].
    pub fn next_line(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + LINE_WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => panic!("no {what} within {LINE_WAIT:?}:\n{}", self.seen.join("\n")),
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("the target's standard error ended before {what}:\n{}", self.seen.join("\n"))
                }
            }
        }
    }

    /// Sends one control line and returns the target's answer (log lines before it are skipped).
    pub fn control(&mut self, line: &str) -> String {
        writeln!(self.child.stdin.as_mut().unwrap(), "{line}").unwrap();
        self.next_line("answer", |l| l.starts_with("ok: ") || l.starts_with("error: "))
    }

    /// The next log line containing every one of `needles`.
    pub fn log_line(&mut self, needles: &[&str]) -> String {
        self.next_line(&format!("log line with {needles:?}"), |l| needles.iter().all(|n| l.contains(n)))
    }

    /// Every standard error line so far, up to and including the next one containing `want`.
    pub fn lines_until(&mut self, want: &str) -> Vec<String> {
        if !self.seen.iter().any(|l| l.contains(want)) {
            self.log_line(&[want]);
        }
        self.seen.clone()
    }
}

impl Drop for LabTarget {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
