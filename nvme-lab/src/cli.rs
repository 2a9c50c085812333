//! The three subcommands over real sockets, built on nvme-tokio's library: `target`, `rw-test` and `ccr-check`, as
//! clap `Args` structs and run functions that build their own tokio runtime.
//!
//! Exit status: `target` runs until killed (1 when it cannot start); `rw-test` 0 or 1 exactly as the seed's
//! program (ccr-cqt.md §10); `ccr-check` 0 pass, 1 a failed check, 3 "CCR not supported"; 2 for bad arguments.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use nvme_ccr::Config;
use nvme_tokio::Capture;
use nvme_tokio::ccr_check::{self, CcrCheckConfig, Verdict};
use nvme_tokio::host::{HostConfig, HostEvent, Multipath};
use nvme_tokio::rw_test::{self, RwTestParams};
use nvme_tokio::target::{self, Target, TargetConfig};

use crate::EXIT_USAGE;
use crate::log::LogArgs;
use crate::names::{HostDigests, PolicyArg};

/// The default subsystem NQN of `target`, `rw-test` and `ccr-check`.
pub const DEFAULT_NQN: &str = "nqn.2026-01.org.example:nvme-tokio";

/// Exit status of `ccr-check` for a target that answers CCR with Invalid Command Opcode.
pub const EXIT_NOT_SUPPORTED: u8 = 3;

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
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

/// `nvme-lab target`: serve one subsystem.
#[derive(Args, Clone, Debug)]
#[command(after_help = "Run-time control: one command per line on standard input, answered on standard error \
    (a line starting with \"ok: \" or \"error: \"):\n  \
    fopcode OPC DELAY_MS [CNTLID]   arm the fault (decimal or 0x hex opcode)\n  \
    fopcode off                     disarm it\n  \
    fail-ccr on|off                 accepted CCRs end with CCRS = Failed\n  \
    no-ccr on|off                   answer CCR with Invalid Command Opcode\n  \
    status                          list controllers and switches\n\n\
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
    /// Log level flags.
    #[command(flatten)]
    pub log: LogArgs,
}

/// Runs `target` until the process is killed.
pub fn target(args: TargetArgs) -> ExitCode {
    if let Err(e) = args.log.init() {
        eprintln!("{e}");
        return ExitCode::from(EXIT_USAGE);
    }
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
        cfg.blocks = args.size_mib.saturating_mul(1 << 20) / u64::from(args.block_size.max(1));
        cfg.file = args.file.clone();
        cfg.fopcode = args.fopcode;
        cfg.fail_ccr = args.fail_ccr;
        cfg.no_ccr = args.no_ccr;
        cfg.capture = capture;
        cfg.max_connections = args.max_connections;
        cfg.ic_timeout = Duration::from_millis(args.ic_timeout_ms);
        cfg.connect_timeout = Duration::from_millis(args.connect_timeout_ms);
        cfg.output_limit = args.output_limit;
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
        let _ = std::io::stdout().flush();
        let control = t.clone();
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { return };
                match control.apply_line(&line) {
                    Ok(msg) if msg.is_empty() => {}
                    Ok(msg) => eprintln!("ok: {msg}"),
                    Err(e) => eprintln!("error: {e}"),
                }
            }
        });
        std::future::pending::<ExitCode>().await
    })
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
}

impl HostArgs {
    fn host_config(&self, name: &str) -> Result<HostConfig, String> {
        let mut h = HostConfig::new(&self.nqn, name);
        h.fabric.kato = Duration::from_millis(self.kato);
        h.fabric.digests = self.digests.digests().into();
        h.capture = self.pcap.as_deref().map(Capture::create).transpose().map_err(|e| format!("pcap: {e}"))?;
        Ok(h)
    }
}

/// `nvme-lab rw-test`: the seed's rw_test over real sockets.
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
    /// Print path and recovery events on standard error.
    #[arg(long)]
    pub verbose: bool,
    /// Connection options.
    #[command(flatten)]
    pub host: HostArgs,
}

/// Runs `rw-test`; the exit status is the seed program's (0 pass, 1 failure).
pub fn rw_test(args: RwTestArgs) -> ExitCode {
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = rt.block_on(async move {
        let mut out = std::io::stdout();
        let mut err = std::io::stderr();
        run_rw_test(&args, &mut out, &mut err).await
    });
    ExitCode::from(code as u8)
}

/// The body of [`rw_test()`], with the output streams given.
pub async fn run_rw_test(args: &RwTestArgs, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
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
    let start = tokio::time::Instant::now();
    let mp = match Multipath::connect(&args.paths, &cfg).await {
        Ok((mp, mut events)) => {
            if args.verbose {
                tokio::spawn(async move {
                    while let Some(ev) = events.recv().await {
                        let t = start.elapsed().as_millis();
                        match ev {
                            HostEvent::Engine(e) => eprintln!("[{t:>7} ms] engine: {e:?}"),
                            other => eprintln!("[{t:>7} ms] {other:?}"),
                        }
                    }
                });
            }
            mp
        }
        Err(e) => {
            // The seed's first failure: the device cannot be opened. ENXIO (6), "no such device or address".
            let _ = writeln!(err, "failed to open device, errno = 6");
            if args.verbose {
                let _ = writeln!(err, "({e})");
            }
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
    let _ = writeln!(out, "ccr-check verdict: {text} ({passed} checks as required, {failed} not)");
    code
}
