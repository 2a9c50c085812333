//! The three subcommands over real sockets, built on nvme-tokio's library: `target`, `rw-test` and `ccr-check`, as
//! clap `Args` structs and run functions that build their own tokio runtime.
//!
//! Exit status: `target` runs until killed (1 when it cannot start); `rw-test` 0 or 1 exactly as the Linux test's
//! program (ccr-cqt.md §10); `ccr-check` 0 pass, 1 a failed check, 3 "CCR not supported"; 2 for bad arguments.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use std::ffi::OsStr;

use clap::Args;
use clap::builder::TypedValueParser;
use clap::error::ErrorKind;
use nvme_ccr::Config;
use nvme_fabric::controller::{AuthEvent, HostEntry};
use nvme_proto::auth::{DhchapSecret, SecretTransform};
use nvme_tokio::Capture;
use nvme_tokio::ccr_check::{self, CcrCheckConfig, Verdict};
use nvme_tokio::host::{HostAuthConfig, HostConfig, Multipath};
use nvme_tokio::rw_test::{self, RwTestParams};
use nvme_tokio::target::{self, Target, TargetConfig};

use crate::EXIT_USAGE;
use crate::log::LogArgs;
use crate::names::{HostDigests, PolicyArg};
use crate::progress;

/// The default subsystem NQN of `target`, `rw-test` and `ccr-check`.
pub const DEFAULT_NQN: &str = "nqn.2026-01.org.example:nvme-tokio";

/// Exit status of `ccr-check` for a target that answers CCR with Invalid Command Opcode.
pub const EXIT_NOT_SUPPORTED: u8 = 3;

pub(crate) fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()
}

fn parse_pair(s: &str) -> Result<(u64, u64), String> {
    let (a, b) = s.split_once(',').ok_or_else(|| format!("expected A,B, got {s:?}"))?;
    let n = |x: &str| x.trim().parse::<u64>().map_err(|_| format!("not a number: {x:?}"));
    Ok((n(a)?, n(b)?))
}

fn parse_fopcode(s: &str) -> Result<target::Fopcode, String> {
    let words: Vec<&str> = s.split(',').map(str::trim).collect();
    target::parse_fopcode_words(&words)
}

/// Reads a `DHHC-1:NN:<base64>:` secret argument. Its errors name the option and the problem, never the text (a
/// mistyped secret is still a secret).
#[derive(Clone, Copy, Debug)]
pub struct SecretParser;

impl TypedValueParser for SecretParser {
    type Value = DhchapSecret;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<DhchapSecret, clap::Error> {
        let name = arg.map_or_else(|| "the secret".to_string(), |a| a.to_string());
        let err = |why: String| clap::Error::raw(ErrorKind::InvalidValue, format!("{why}\n")).with_cmd(cmd);
        let text = value.to_str().ok_or_else(|| err(format!("invalid value for {name}: not UTF-8")))?;
        DhchapSecret::parse(text)
            .map_err(|e| err(format!("invalid value for {name}: {e} (expected DHHC-1:NN:<base64>:; not shown)")))
    }
}

/// `nvme-lab target`: serve one subsystem.
#[derive(Args, Clone, Debug)]
#[command(after_help = "Run-time control: one command per line on standard input, answered on standard error \
    (a line starting with \"ok: \" or \"error: \"):\n  \
    fopcode OPC DELAY_MS [CNTLID]   arm the fault (decimal or 0x hex opcode)\n  \
    fopcode off                     disarm it\n  \
    fail-ccr on|off                 accepted CCRs end with CCRS = Failed\n  \
    no-ccr on|off                   answer CCR with Invalid Command Opcode\n  \
    status                          list controllers and switches\n  \
    after MS LINE                   apply LINE in MS ms (a fault on a timer)\n\n\
    Log: one line per event on standard error (UTC timestamp, level, fields): controllers created, ready, failed \
    and torn down, faults fired and held commands reaching the media, CCR, control lines (info and warn); \
    connections, I/O queues and every media operation with a summary of its data (debug, -v). -q: warnings \
    only. Without -v/-q, RUST_LOG (LEVEL or TARGET=LEVEL,...) sets it.")]
pub struct TargetArgs {
    /// Address to listen on; repeat it for more listeners (paths) to the same subsystem.
    #[arg(long, default_value = "127.0.0.1:4420")]
    pub listen: Vec<SocketAddr>,
    /// Subsystem NQN.
    #[arg(long, default_value = DEFAULT_NQN)]
    pub nqn: String,
    /// Command Quiesce Time reported in Identify Controller, ms (0 = not reported).
    #[arg(long, default_value_t = 0)]
    pub cqt: u16,
    /// Cross-Controller Reset Limit reported and enforced (0 = not reported).
    #[arg(long, default_value_t = 4)]
    pub ccrl: u8,
    /// Arm the fopcode fault: OPCODE,DELAY_MS or OPCODE,DELAY_MS,CNTLID; without CNTLID the first controller that
    /// connects.
    #[arg(long, value_parser = parse_fopcode)]
    pub fopcode: Option<target::Fopcode>,
    /// Start with fail-ccr on (CCR accepted, then CCRS = Failed).
    #[arg(long)]
    pub fail_ccr: bool,
    /// Start with no-ccr on (CCR answered with Invalid Command Opcode).
    #[arg(long)]
    pub no_ccr: bool,
    /// Namespace size in MiB.
    #[arg(long, default_value_t = 64)]
    pub size_mib: u64,
    /// Logical block size.
    #[arg(long, default_value_t = 512)]
    pub block_size: u32,
    /// Back the namespace with this file instead of memory.
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// Write every PDU sent and received to this pcap.
    #[arg(long)]
    pub pcap: Option<PathBuf>,
    /// Connections served at once; the listener closes any beyond.
    #[arg(long, default_value_t = 1024)]
    pub max_connections: usize,
    /// Time a new connection has to send its ICReq, ms.
    #[arg(long, default_value_t = 10_000)]
    pub ic_timeout_ms: u64,
    /// Time from ICResp to a successful Connect, ms.
    #[arg(long, default_value_t = 10_000)]
    pub connect_timeout_ms: u64,
    /// Unsent output per connection, bytes, past which its input is not read (at least 1 MiB, the largest transfer).
    #[arg(long, default_value_t = 4 << 20)]
    pub output_limit: usize,
    /// DH-HMAC-CHAP: the host secret (DHHC-1:NN:...:, as nvmet's dhchap_key) hosts must authenticate with: those
    /// of --allow-host, or every host without it. Every queue then authenticates after its Connect.
    #[arg(long, value_name = "SECRET", value_parser = SecretParser)]
    pub dhchap_key: Option<DhchapSecret>,
    /// The controller secret (nvmet's dhchap_ctrl_key), for hosts that ask the controller to authenticate too.
    #[arg(long, value_name = "SECRET", value_parser = SecretParser, requires = "dhchap_key")]
    pub dhchap_ctrl_key: Option<DhchapSecret>,
    /// Only this host NQN may connect (repeat for more; nvmet's allowed_hosts with attr_allow_any_host=0); others
    /// are refused with Connect Invalid Host.
    #[arg(long = "allow-host", value_name = "NQN")]
    pub allow_host: Vec<String>,
    /// Also read control lines from TCP connections on this address (127.0.0.1:PORT; one answer line per line):
    /// how `perf --control` arms a fault mid-run.
    #[arg(long)]
    pub control: Option<SocketAddr>,
    /// Log level flags.
    #[command(flatten)]
    pub log: LogArgs,
}

impl TargetArgs {
    /// Puts the host rules and keys into `cfg`; a line describing them (secrets redacted).
    fn apply_auth(&self, cfg: &mut TargetConfig) -> Option<String> {
        let (key, ctrl) = (self.dhchap_key.clone(), self.dhchap_ctrl_key.clone());
        let keys = key.as_ref().map(|k| match &ctrl {
            Some(c) => format!("host key {}, controller key {}", k.redacted(), c.redacted()),
            None => format!("host key {}", k.redacted()),
        });
        if !self.allow_host.is_empty() {
            cfg.allow_any_host = false;
            cfg.hosts = self
                .allow_host
                .iter()
                .map(|n| HostEntry { nqn: n.clone(), key: key.clone(), ctrl_key: ctrl.clone() })
                .collect();
            let who = self.allow_host.join(", ");
            return Some(match keys {
                Some(k) => format!("hosts allowed: {who}; DH-HMAC-CHAP required ({k})"),
                None => format!("hosts allowed: {who}; no authentication"),
            });
        }
        let k = keys?;
        cfg.any_host_key = key.map(|k| (k, ctrl));
        Some(format!("any host; DH-HMAC-CHAP required ({k})"))
    }
}

/// One line for an authentication event of the target (standard error).
fn auth_line(ev: &AuthEvent) -> String {
    match ev {
        AuthEvent::Required { cntlid, qid, conn } => {
            format!("auth: controller {cntlid} qid {qid} ({conn}): Connect answered with ATR, authentication required")
        }
        AuthEvent::Authenticated { cntlid, qid, conn, result } => format!(
            "auth: controller {cntlid} qid {qid} ({conn}): authenticated with hash {}, dhgroup {}{}",
            result.hash.name(),
            result.dh_group.name().unwrap_or("unknown"),
            if result.bidirectional { ", controller authenticated too" } else { "" }
        ),
        AuthEvent::Failed { cntlid, qid, conn, failure } => {
            format!("auth: controller {cntlid} qid {qid} ({conn}): authentication failed: {failure}")
        }
        AuthEvent::HostRefused { conn } => {
            format!("auth: {conn}: Connect from a host that is not allowed refused (Connect Invalid Host)")
        }
    }
}

/// Runs `target` until the process is killed.
pub fn target(args: TargetArgs) -> ExitCode {
    if let Err(e) = args.log.init() {
        eprintln!("{e}");
        return ExitCode::from(EXIT_USAGE);
    }
    let Some(bytes) = args.size_mib.checked_mul(1 << 20).filter(|&b| b >= u64::from(args.block_size.max(1))) else {
        eprintln!(
            "nvme-lab: --size-mib {} is not a possible namespace size (1 to {} MiB)",
            args.size_mib,
            u64::MAX >> 20
        );
        return ExitCode::from(EXIT_USAGE);
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    rt.block_on(async move {
        let capture = match args.pcap.as_deref().map(Capture::create).transpose() {
            Ok(c) => c,
            Err(e) => {
                eprintln!("cannot create the pcap: {e}");
                return ExitCode::from(EXIT_USAGE);
            }
        };
        // clap gives at least the default address.
        let (first, more) = args.listen.split_first().expect("--listen has a default");
        let mut cfg = TargetConfig::new(*first, &args.nqn);
        cfg.more_listen = more.to_vec();
        cfg.cqt_ms = args.cqt;
        cfg.ccrl = args.ccrl;
        cfg.block_size = args.block_size;
        cfg.blocks = bytes / u64::from(args.block_size.max(1));
        cfg.file = args.file.clone();
        cfg.fopcode = args.fopcode;
        cfg.fail_ccr = args.fail_ccr;
        cfg.no_ccr = args.no_ccr;
        cfg.capture = capture;
        cfg.max_connections = args.max_connections;
        cfg.ic_timeout = Duration::from_millis(args.ic_timeout_ms);
        cfg.connect_timeout = Duration::from_millis(args.connect_timeout_ms);
        cfg.output_limit = args.output_limit;
        let auth = args.apply_auth(&mut cfg);
        let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
        cfg.auth_events = Some(tx);
        tokio::spawn(async move {
            while let Some(ev) = rx.recv().await {
                eprintln!("{}", auth_line(&ev));
            }
        });
        let t = match Target::start(cfg).await {
            Ok(t) => t,
            Err(e) => {
                let all: Vec<String> = args.listen.iter().map(ToString::to_string).collect();
                eprintln!("cannot start the target on {}: {e}", all.join(", "));
                return ExitCode::from(1);
            }
        };
        let all: Vec<String> = t.local_addrs().iter().map(ToString::to_string).collect();
        println!("nvme-tokio target listening on {} nqn {}", all.join(","), args.nqn);
        if let Some(auth) = auth {
            eprintln!("authentication: {auth}");
        }
        let _ = std::io::stdout().flush();
        let control = t.clone();
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { return };
                if let Some(answer) = control_line(&control, &line) {
                    eprintln!("{answer}");
                }
            }
        });
        if let Some(addr) = args.control {
            let l = match std::net::TcpListener::bind(addr) {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("cannot listen for control lines on {addr}: {e}");
                    return ExitCode::from(1);
                }
            };
            if let Ok(a) = l.local_addr() {
                eprintln!("control on {a}");
            }
            let control = t.clone();
            std::thread::spawn(move || control_listener(l, control));
        }
        std::future::pending::<ExitCode>().await
    })
}

/// Most control connections served at once (each a thread reading lines).
const MAX_CONTROL_CONNECTIONS: usize = 8;

/// Serves control lines on TCP: each connection sends lines and reads one answer line per line (`ok: ...` or
/// `error: ...`). Connections beyond [`MAX_CONTROL_CONNECTIONS`] are closed at once.
fn control_listener(l: std::net::TcpListener, t: Target) {
    let open = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for conn in l.incoming() {
        let Ok(conn) = conn else { continue };
        if open.fetch_add(1, Ordering::SeqCst) >= MAX_CONTROL_CONNECTIONS {
            open.fetch_sub(1, Ordering::SeqCst);
            continue;
        }
        let (t, open) = (t.clone(), open.clone());
        std::thread::spawn(move || {
            if let Ok(mut w) = conn.try_clone() {
                for line in BufReader::new(conn).lines() {
                    let Ok(line) = line else { break };
                    let answer = control_line(&t, &line).unwrap_or_else(|| "ok: ".to_string());
                    if writeln!(w, "{answer}").is_err() {
                        break;
                    }
                }
            }
            open.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

/// The longest delay `after` accepts, ms (one day).
const MAX_AFTER_MS: u64 = 86_400_000;

/// One control line: the target's own ([`Target::apply_line`]) or `after MS LINE`, which applies LINE MS
/// milliseconds from now (a fault armed on a timer, so that it falls mid-run). The answer to print (`ok: ...` or
/// `error: ...`), `None` for an empty line.
pub fn control_line(t: &Target, line: &str) -> Option<String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    if let ["after", ms, rest @ ..] = words.as_slice() {
        let ms = match ms.parse::<u64>() {
            Ok(ms) if ms <= MAX_AFTER_MS && !rest.is_empty() => ms,
            _ => return Some(format!("error: after MS LINE: MS a number of ms up to {MAX_AFTER_MS}, then a line")),
        };
        let (t, rest) = (t.clone(), rest.join(" "));
        let answer = format!("ok: in {ms} ms: {rest}");
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(ms));
            if let Some(a) = control_line(&t, &rest) {
                eprintln!("{a} (after {ms} ms)");
            }
        });
        return Some(answer);
    }
    match t.apply_line(line) {
        Ok(msg) if msg.is_empty() => None,
        Ok(msg) => Some(format!("ok: {msg}")),
        Err(e) => Some(format!("error: {e}")),
    }
}

/// Connection options shared by `rw-test` and `ccr-check`.
#[derive(Args, Clone, Debug)]
pub struct HostArgs {
    /// Subsystem NQN.
    #[arg(long, default_value = DEFAULT_NQN)]
    pub nqn: String,
    /// Keep-alive timeout sent in Connect, ms.
    #[arg(long, default_value_t = 5000)]
    pub kato: u64,
    /// Digests to request.
    #[arg(long, value_enum, default_value_t = HostDigests::None)]
    pub digests: HostDigests,
    /// Write every PDU sent and received to this pcap.
    #[arg(long)]
    pub pcap: Option<PathBuf>,
    /// This host's NQN (default: one derived from the subcommand's name).
    #[arg(long, value_name = "NQN")]
    pub hostnqn: Option<String>,
    /// DH-HMAC-CHAP: this host's secret (DHHC-1:NN:...:, as Linux's dhchap_secret=), used when a controller asks
    /// for authentication.
    #[arg(long, value_name = "SECRET", value_parser = SecretParser)]
    pub dhchap_secret: Option<DhchapSecret>,
    /// The controller's secret (Linux's dhchap_ctrl_secret=): the controller must authenticate itself too.
    #[arg(long, value_name = "SECRET", value_parser = SecretParser, requires = "dhchap_secret")]
    pub dhchap_ctrl_secret: Option<DhchapSecret>,
}

impl HostArgs {
    pub(crate) fn host_config(&self, name: &str) -> Result<HostConfig, String> {
        let mut h = HostConfig::new(&self.nqn, name);
        if let Some(n) = &self.hostnqn {
            h.fabric.hostnqn = n.clone();
        }
        if let Some(secret) = &self.dhchap_secret {
            // The seed is drawn from the operating system when the host starts (nvme-tokio).
            h.fabric.auth = Some(HostAuthConfig::new(secret.clone(), self.dhchap_ctrl_secret.clone(), [0; 32]));
        }
        h.fabric.kato = Duration::from_millis(self.kato);
        h.fabric.digests = self.digests.digests().into();
        h.capture = self.pcap.as_deref().map(Capture::create).transpose().map_err(|e| format!("pcap: {e}"))?;
        Ok(h)
    }
}

/// `nvme-lab rw-test`: the Linux failover test's rw_test over real sockets.
#[derive(Args, Clone, Debug)]
pub struct RwTestArgs {
    /// Controller addresses, one path each, connected in this order (ADDR,ADDR; the same address twice gives
    /// two controllers, like duplicate_connect).
    #[arg(long, value_delimiter = ',', required = true)]
    pub paths: Vec<SocketAddr>,
    /// Recovery policy.
    #[arg(long, value_enum)]
    pub policy: PolicyArg,
    /// Iterations.
    #[arg(long, default_value_t = 255)]
    pub iterations: u32,
    /// Pauses after the writes and after the check, ms.
    #[arg(long, default_value = "5000,3000", value_parser = parse_pair)]
    pub pause_ms: (u64, u64),
    /// Delay before reconnecting a released path, ms (Linux reconnect_delay: 10 s).
    #[arg(long, default_value_t = 10_000)]
    pub reconnect_delay_ms: u64,
    /// F, the hold's stand-in for CQT when a controller reports CQT = 0, ms.
    #[arg(long, default_value_t = 10_000)]
    pub cqt_fallback_ms: u64,
    /// Log flags: without -v, -q or RUST_LOG, rw-test prints exactly what the Linux test's program prints (and a
    /// progress line when standard error is a terminal); -v adds the host's log (paths, failures, holds, CCRs,
    /// releases) on standard error.
    #[command(flatten)]
    pub log: LogArgs,
    /// Connection options.
    #[command(flatten)]
    pub host: HostArgs,
}

/// Runs `rw-test`; the exit status is the Linux test's rw_test program's (0 pass, 1 failure).
pub fn rw_test(args: RwTestArgs) -> ExitCode {
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    if let Err(e) = args.log.init_if_asked() {
        eprintln!("{e}");
        return ExitCode::from(EXIT_USAGE);
    }
    let code = rt.block_on(async move {
        let progress = progress::Progress::stderr(args.iterations);
        let mut out = progress.writer(std::io::stdout());
        let mut err = progress.writer(std::io::stderr());
        let code = run_rw_test(&args, &mut out, &mut err, Some(&progress)).await;
        progress.finish();
        code
    });
    ExitCode::from(code as u8)
}

/// The body of [`rw_test()`], with the output streams given; `progress` follows the host's events.
pub async fn run_rw_test(
    args: &RwTestArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
    progress: Option<&progress::Progress>,
) -> i32 {
    let mut cfg = match args.host.host_config("rw-test") {
        Ok(h) => h,
        Err(e) => {
            let _ = writeln!(err, "{e}");
            return 1;
        }
    };
    let mut engine = Config::new(args.policy.policy());
    engine.cqt_fallback = Duration::from_millis(args.cqt_fallback_ms);
    cfg.fabric.engine = engine;
    cfg.fabric.reconnect_delay = Duration::from_millis(args.reconnect_delay_ms);
    let mp = match Multipath::connect(&args.paths, &cfg).await {
        Ok((mp, mut events)) => {
            // The host logs its events itself (nvme_tokio::host); the progress line shows the hold in force.
            let progress = progress.cloned();
            tokio::spawn(async move {
                let mut state = progress::HoldState::default();
                while let Some(ev) = events.recv().await {
                    if let Some(p) = &progress {
                        p.show(state.update(&ev));
                    }
                }
            });
            mp
        }
        Err(e) => {
            // rw_test's first failure: the device cannot be opened. ENXIO (6), "no such device or address".
            let _ = writeln!(err, "failed to open device, errno = 6");
            let _ = writeln!(err, "nvme-lab: {e}");
            return 1;
        }
    };
    let p = RwTestParams {
        iterations: args.iterations,
        pause_after_writes: Duration::from_millis(args.pause_ms.0),
        pause_after_check: Duration::from_millis(args.pause_ms.1),
        ..RwTestParams::default()
    };
    let code = rw_test::run(&mp, &p, out, err).await;
    mp.close().await;
    code
}

/// `nvme-lab ccr-check`: a conformance probe of a target's CCR support.
#[derive(Args, Clone, Debug)]
pub struct CcrCheckArgs {
    /// Controller addresses: the impacted controller on the first, the source on the second (or the first again).
    #[arg(long, value_delimiter = ',', required = true)]
    pub addr: Vec<SocketAddr>,
    /// How long to wait for the teardown, the notice and the log entry, ms.
    #[arg(long, default_value_t = 10_000)]
    pub wait_ms: u64,
    /// Connection options.
    #[command(flatten)]
    pub host: HostArgs,
}

/// Runs `ccr-check`: one line per check on standard output, then the verdict.
pub fn ccr_check(args: CcrCheckArgs) -> ExitCode {
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = rt.block_on(async move { run_ccr_check(&args, &mut std::io::stdout()).await });
    ExitCode::from(code)
}

/// The body of [`ccr_check()`], printing to `out`; returns the exit status.
pub async fn run_ccr_check(args: &CcrCheckArgs, out: &mut dyn Write) -> u8 {
    let host = match args.host.host_config("ccr-check") {
        Ok(h) => h,
        Err(e) => {
            let _ = writeln!(out, "FAIL  setup: {e}");
            return EXIT_USAGE;
        }
    };
    let cfg = CcrCheckConfig { addrs: args.addr.clone(), host, wait: Duration::from_millis(args.wait_ms) };
    let report = ccr_check::run(&cfg).await;
    for c in &report.checks {
        let _ = writeln!(out, "{c}");
    }
    let passed = report.checks.iter().filter(|c| c.outcome == ccr_check::Outcome::Pass).count();
    let failed = report.checks.iter().filter(|c| c.outcome == ccr_check::Outcome::Fail).count();
    let (text, code) = match report.verdict {
        Verdict::Pass => ("PASS", 0),
        Verdict::Fail => ("FAIL", 1),
        Verdict::NotSupported => ("CCR NOT SUPPORTED", EXIT_NOT_SUPPORTED),
    };
    let skipped = report.checks.iter().filter(|c| c.outcome == ccr_check::Outcome::Skipped).count();
    let skipped = if skipped > 0 { format!(", {skipped} skipped") } else { String::new() };
    let _ = writeln!(out, "ccr-check verdict: {text} ({passed} checks as required, {failed} not{skipped})");
    code
}

/// `nvme-lab gen-dhchap-key`: a DH-HMAC-CHAP secret for a host.
#[derive(Args, Clone, Debug)]
#[command(long_about = "Generate a DH-HMAC-CHAP secret for a host, printed as DHHC-1:NN:<base64 of key and CRC-32>: \
    as nvme-cli 2.x's gen-dhchap-key prints it: with --hmac 1, 2 or 3 the printed key is the random secret \
    transformed with HMAC-SHA-256/384/512 and the host NQN (the transform Linux applies again when it reads the \
    string), with --hmac 0 the secret itself. The secret comes from /dev/urandom unless --secret gives it.")]
pub struct GenKeyArgs {
    /// Key transform: 0 none, 1 HMAC-SHA-256, 2 HMAC-SHA-384, 3 HMAC-SHA-512.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=3))]
    pub hmac: u8,
    /// The host NQN the key is for (the transform's input).
    #[arg(long, value_name = "NQN")]
    pub nqn: String,
    /// Secret length in bytes: 32, 48 or 64 (default 32, or the hash's length with --hmac 2 or 3; with --hmac 1..3
    /// it must be the hash's length, as nvme-cli requires).
    #[arg(long, value_name = "BYTES")]
    pub key_length: Option<usize>,
    /// The secret as hexadecimal digits instead of random bytes.
    #[arg(long, value_name = "HEX")]
    pub secret: Option<String>,
}

/// The `DHHC-1` text `gen-dhchap-key` prints for `args`, with `random` as the secret when none is given.
pub fn gen_key_text(args: &GenKeyArgs, random: &[u8; 64]) -> Result<String, String> {
    let hash_len = match args.hmac {
        0 => None,
        1 => Some(32),
        2 => Some(48),
        _ => Some(64),
    };
    let len = args.key_length.unwrap_or(hash_len.unwrap_or(32));
    if !DhchapSecret::LENGTHS.contains(&len) || hash_len.is_some_and(|h| h != len) {
        return Err(format!(
            "invalid key length {len} for --hmac {} (32, 48 or 64; the hash's length with 1..3)",
            args.hmac
        ));
    }
    let raw: Vec<u8> = match &args.secret {
        Some(hex) => {
            let digits: Vec<u8> = hex.bytes().collect();
            if digits.len() != 2 * len || !digits.iter().all(u8::is_ascii_hexdigit) {
                return Err(format!("--secret must be {} hexadecimal digits", 2 * len));
            }
            let val = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
            digits.chunks(2).map(|p| val(p[0]) << 4 | val(p[1])).collect()
        }
        None => random[..len].to_vec(),
    };
    let secret = DhchapSecret::new(SecretTransform::NONE, &raw).map_err(|e| e.to_string())?;
    // nvme-cli 2.x prints the transformed key under the transform's number (spec-notes/auth.md §8).
    let key = nvme_fabric::auth::transform_key(
        &DhchapSecret::new(SecretTransform(args.hmac), secret.secret()).map_err(|e| e.to_string())?,
        &args.nqn,
    );
    let out = DhchapSecret::new(SecretTransform(args.hmac), key.as_bytes()).map_err(|e| e.to_string())?;
    let mut buf = [0u8; DhchapSecret::MAX_TEXT_LEN];
    let n = out.emit(&mut buf).map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// Runs `gen-dhchap-key`: the text on standard output.
pub fn gen_dhchap_key(args: GenKeyArgs) -> ExitCode {
    let mut random = [0u8; 64];
    if args.secret.is_none() {
        for chunk in random.chunks_mut(32) {
            match nvme_tokio::entropy::seed() {
                Ok(s) => chunk.copy_from_slice(&s),
                Err(e) => {
                    eprintln!("cannot read /dev/urandom: {e}");
                    return ExitCode::from(1);
                }
            }
        }
    }
    match gen_key_text(&args, &random) {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}
