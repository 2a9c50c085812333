//! `nvme-lab`: the command-line lab of the NVMe/TCP failover reference.
//!
//! * `matrix`: every recovery policy against every workload and fault, simulated; a table (or JSON lines) of
//!   corruption, completed commands, I/O stall and detection-to-release time.
//! * `run`: one simulated scenario with its timeline (JSON: typed events); optional picture (SVG, PNG) of latency and
//!   throughput, whole run and zoomed on the failover, every recovery event marked; pcap of the simulated wire.
//! * `explore`: random fault schedules over many seeds, in parallel, looking for corruption.
//! * `report`: the failover experiment's whole grid, written as report.md, SVG figures and JSON.
//! * `check`: the exhaustive model check of failover (nvme-check): every schedule and fault of a small workload, per
//!   policy, with a counterexample trace when data can go stale.
//! * `decode`: NVMe/TCP bytes (hex or pcap) to one JSON line per PDU, through nvme-proto's deframer.
//! * `target`, `rw-test`, `ccr-check`: nvme-tokio's target, the Linux failover test's rw_test and a CCR conformance probe over real
//!   sockets (`cli`), with in-band authentication (DH-HMAC-CHAP) on both sides.
//! * `gen-dhchap-key`: a `DHHC-1` secret for a host, as nvme-cli 2.x prints it.
//! * `perf`: a fio-style load over real sockets with per-interval IOPS, bandwidth and latency and the simulator's
//!   metrics (`perf`).
//!
//! Exit status: 0 success; 1 a finding (a matrix expectation failed, explore found forbidden corruption, decode met
//! an undecodable PDU, a bad digest or a truncated stream); 2 bad arguments or unreadable input.

mod check;
mod cli;
mod decode;
mod explore;
mod hex;
mod json;
mod log;
mod matrix;
mod names;
mod perf;
mod progress;
mod report;
mod run;
mod svg;
mod wire;

use std::io::{self, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand, ValueEnum};

use names::{DebateArgs, FAULT_HELP, OnOff, PolicyArg, WorkloadArg, parse_fault};

/// Exit status for a finding (see the crate documentation).
const EXIT_FINDING: u8 = 1;
/// Exit status for bad arguments or unreadable input (clap uses 2 for argument errors too).
const EXIT_USAGE: u8 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "nvme-lab",
    version,
    about = "NVMe/TCP failover lab: simulate recovery policies, explore fault schedules, decode NVMe/TCP traffic",
    long_about = "NVMe/TCP failover lab.\n\n\
        Simulates the Linux failover test (two paths, round-robin multipath, the target delays a write and fails its \
        controller, rw_test checks the block) for each host recovery policy: legacy (retry at once), cqt (hold for \
        (TBKAS ? 3 : 2) x KATO + CQT), ccr (Cross-Controller Reset, then the timer) and ccr-filter (as ccr, reads \
        released at once). Also decodes NVMe/TCP captures, and runs a real NVMe/TCP target, the Linux failover test's rw_test and a \
        CCR conformance probe over sockets (target, rw-test, ccr-check).\n\n\
        Exit status: 0 success; 1 a finding (matrix expectation failed, explore found corruption where it is \
        forbidden, decode met a bad PDU, digest or truncated stream, rw-test failed, a ccr-check check failed); 2 bad \
        arguments or unreadable input; 3 ccr-check: the target does not support CCR.",
    after_help = "Start with: nvme-lab matrix"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Simulate every policy x workload x fault and print a table of corruption and stalls.
    #[command(long_about = MATRIX_HELP)]
    Matrix(MatrixArgs),
    /// Simulate one scenario and print its timeline (optionally JSON, a picture as SVG or PNG, a pcap).
    #[command(long_about = RUN_HELP)]
    Run(RunArgs),
    /// Run random fault schedules over many seeds and report every seed that corrupts data.
    #[command(long_about = EXPLORE_HELP)]
    Explore(ExploreArgs),
    /// Run the failover experiment's grid and write report.md, SVG figures and JSON to a directory.
    #[command(long_about = REPORT_HELP)]
    Report(ReportArgs),
    /// Model-check failover exhaustively (every schedule and fault of a small workload) for each policy.
    #[command(long_about = CHECK_HELP)]
    Check(CheckArgs),
    /// Decode NVMe/TCP PDUs from hex text or a pcap/pcapng into JSON lines.
    #[command(long_about = DECODE_HELP)]
    Decode(DecodeArgs),
    /// Serve one NVMe/TCP subsystem over real sockets, with CCR and fault injection (fault switches on stdin).
    Target(cli::TargetArgs),
    /// The Linux failover test's rw_test over real sockets, through two or more paths, with a recovery policy.
    RwTest(cli::RwTestArgs),
    /// Probe a target's Cross-Controller Reset support; pass/fail per check.
    CcrCheck(cli::CcrCheckArgs),
    /// Generate a DH-HMAC-CHAP secret (DHHC-1) for a host, as nvme-cli 2.x's gen-dhchap-key.
    GenDhchapKey(cli::GenKeyArgs),
    /// A fio-style load over real sockets: IOPS, bandwidth and latency per interval, the dip around a fault.
    Perf(perf::PerfArgs),
}

const MATRIX_HELP: &str = "Simulate the 140 cells levels {legacy, cqt, ccr, ccr-filter, ccr-filter-admin} x \
    workloads {rw_test, read, write, readwrite} x faults {fopcode, freeze, ccr-fail, ccr-unsupported, node-failover, \
    loss-5, loss-burst} with the Linux failover test's values (two paths, round-robin, KATO 5000 ms, TBKAS on, CQT \
    1 ms, fopcode 1 (Write) held 2000 ms) and print a table: corrupted, commands completed, max and p99 command \
    latency (the I/O stall a user sees), the time from failure detection to the release of the held commands, \
    commands held, CCRs sent, fallbacks to the timer, and the admin stall (the longest of the side-effect-free SMART / \
    Health log reads each controller gets every second: ccr-filter-admin answers one held at a failure at detection, \
    the other safe levels hold it with the I/O). ccr-fail and ccr-unsupported are an fopcode failure whose CCR \
    then fails or is refused. The whole grid (more workloads and CQT values, figures) is `nvme-lab report`.\n\n\
    Exit status 0 when the expectations hold (legacy corrupts under fopcode with rw_test; no safe level corrupts \
    anywhere; the unsafe baselines, legacy and --cqt0-rule immediate with --cqt 0, may), 1 otherwise, with the failed \
    expectations on stderr.\n\n\
    --json prints one object per cell and line instead (the keys are listed in the README).";

const RUN_HELP: &str = "Simulate one scenario and print the recovery timeline (one line per event: time in ms, path, \
    what happened), the rw_test program's output, and a summary (corrupted, commands completed, max and p99 latency, \
    detection and release times).\n\n\
    Knobs not given keep the Linux failover test's values. --random --seed N builds the random scenario that `explore` runs for \
    seed N instead (so `explore` can print a command that reproduces each finding); the other scenario knobs cannot \
    be combined with it.\n\n\
    --json prints one JSON object (the matrix cell keys plus seed, violations, rw_test_exit, metrics, throughput and \
    the timeline as typed events: {\"at_ms\", \"path\", \"kind\": \"ccr_sent\", \"impacted\", \"source\"}, ...). \
    --svg FILE draws the run: command latency and throughput (IOPS) over the whole run and, beside it, zoomed on the \
    failover window (from the first recovery event to the last, with a margin of a quarter of that span, at least \
    250 ms), with the failure detection, CCR sent, CCR completed, AEN, CCR log read, release and the stale write \
    each marked by its own symbol. --png FILE writes the same picture as a PNG. --pcap FILE writes every \
    simulated NVMe/TCP PDU (both paths, each admin and I/O queue its own TCP connection, header and data digests on) \
    as a pcap that Wireshark decodes. The exit status is 0 whatever the checker found (read `corrupted`).";

const EXPLORE_HELP: &str = "Run Scenario::random(seed, policy) for --seeds seeds in parallel: random path counts, \
    workloads, KATO, TBKAS, CQT, delays, freezes, CCR failures and several failures at once. Delays stay within the \
    target's CQT promise ((TBKAS ? 3 : 2) x KATO + CQT) unless --noncompliant is given.\n\n\
    Prints every seed that corrupts data with the `nvme-lab run` command that reproduces it, then a summary. Exit \
    status 1 when a policy that must not corrupt did: cqt, ccr and ccr-filter always; with --noncompliant only ccr \
    and ccr-filter asking every source (cqt's timer, and the timer after --ccr-sources first's one CCR, trust the \
    promise the target breaks). legacy is the unsafe baseline: its \
    corruptions are counted, never a failure. The host's recovery engine runs behind nvme-ccr's invariant monitor: \
    a seed where it broke an invariant is printed and fails the run whatever the policy.";

#[derive(Args, Debug)]
struct MatrixArgs {
    /// One JSON object per cell and line instead of the table.
    #[arg(long)]
    json: bool,
    /// rw_test iterations per cell (default 255, the Linux test's rw_test program: about 34 virtual minutes).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    iterations: Option<u32>,
    /// Seconds of I/O for the read, write and readwrite workloads (default 60).
    #[arg(long, value_name = "S", value_parser = clap::value_parser!(u64).range(1..=86_400))]
    duration: Option<u64>,
    /// Random seed of every cell (link jitter, service times, workload choices).
    #[arg(long, value_name = "N", default_value_t = 0)]
    seed: u64,
    /// CQT the target reports in every cell, ms (0: not reported) [default: 1]
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(0..=65_535))]
    cqt: Option<u64>,
    /// The debated host options.
    #[command(flatten)]
    debate: DebateArgs,
}

#[derive(Args, Debug)]
struct RunArgs {
    /// Host recovery policy.
    #[arg(long, value_enum)]
    policy: PolicyArg,
    /// Application workload [default: rw_test]
    #[arg(long, value_enum, conflicts_with = "random")]
    workload: Option<WorkloadArg>,
    /// Injected fault [default: fopcode]
    #[arg(long, value_name = "FAULT", value_parser = parse_fault, long_help = FAULT_HELP)]
    fault: Option<nvme_sim::FaultKind>,
    /// The report's cell: queue depth 32, no think time, random 4 KiB over 1 GiB (sequential 128 KiB for seqread and
    /// seqwrite), 0.5-1 ms per command, I/O from 5 s before the fault to 10 s after its span.
    #[arg(long, conflicts_with = "random")]
    grid: bool,
    /// Keep Alive Timeout, ms [default: 5000]
    #[arg(long, value_name = "MS", conflicts_with = "random", value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    kato: Option<u64>,
    /// Command Quiesce Time the target reports, ms; 0 = not reported (the host then uses --cqt-fallback) [default: 1]
    /// (with --random: overrides the random one, as `explore --cqt`)
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(0..=65_535))]
    cqt: Option<u64>,
    /// The host's fallback F in CQT's place when the target reports CQT 0, ms [default: 10000]
    #[arg(long, value_name = "MS", conflicts_with = "random", value_parser = clap::value_parser!(u64).range(0..=3_600_000))]
    cqt_fallback: Option<u64>,
    /// Traffic-based keep alive (CTRATT.TBKAS) on the target [default: on]
    #[arg(long, value_enum, conflicts_with = "random")]
    tbkas: Option<OnOff>,
    /// How long the fault's stuck command stays in the target's backend, ms [default: 2000]
    #[arg(long, value_name = "MS", conflicts_with = "random", value_parser = clap::value_parser!(u64).range(0..=3_600_000))]
    delay: Option<u64>,
    /// I/O opcode that triggers the fault (1 Write, 2 Read) [default: 1]
    #[arg(long, value_name = "OPC", conflicts_with = "random")]
    fopcode: Option<u8>,
    /// Random seed (link jitter, service times, CIU/CIRN, workload choices; with --random, the whole scenario)
    /// [default: 0]
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// rw_test iterations [default: 255]
    #[arg(long, value_name = "N", conflicts_with = "random", value_parser = clap::value_parser!(u32).range(1..))]
    iterations: Option<u32>,
    /// Seconds of I/O for the read, write and readwrite workloads [default: 60]
    #[arg(long, value_name = "S", conflicts_with = "random", value_parser = clap::value_parser!(u64).range(1..=86_400))]
    duration: Option<u64>,
    /// Number of paths (one controller each) [default: 2]
    #[arg(long, value_name = "N", conflicts_with = "random", value_parser = clap::value_parser!(u64).range(2..=16))]
    paths: Option<u64>,
    /// Run the random scenario `explore` generates for --seed (with --policy and --noncompliant).
    #[arg(long)]
    random: bool,
    /// With --random: the target may break its CQT promise (as `explore --noncompliant`).
    #[arg(long, requires = "random")]
    noncompliant: bool,
    /// One JSON object instead of the text report.
    #[arg(long)]
    json: bool,
    /// Write the run's picture to FILE as SVG: latency and throughput over the whole run and zoomed on the failover
    /// window, every recovery event marked (failure, CCR sent and completed, AEN, CCR log read, release, stale write).
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
    /// Write the same picture to FILE as PNG (drawn by resvg, text in the embedded DejaVu Sans).
    #[arg(long, value_name = "FILE")]
    png: Option<PathBuf>,
    /// Write the simulated NVMe/TCP traffic to FILE as a pcap.
    #[arg(long, value_name = "FILE")]
    pcap: Option<PathBuf>,
    /// Print every rw_test output line (by default long output is shortened).
    #[arg(long)]
    full_output: bool,
    /// The debated host options.
    #[command(flatten)]
    debate: DebateArgs,
}

const REPORT_HELP: &str = "Simulate the failover experiment's grid in parallel (a progress bar on a terminal): the \
    five levels (legacy, cqt, ccr, ccr-filter, ccr-filter-admin) x the workloads (read, write, readwrite at queue \
    depth 32 over 1 GiB, sequential 128 KiB reads and writes, rw_test) x the faults (fopcode, node-failover, loss-1, \
    loss-5, loss-20, loss-burst, freeze, ccr-fail, ccr-unsupported) x CQT (1 ms; 10 000 ms, 0 with F and 0 \
    immediate for readwrite). Writes DIR/report.md (a table of every cell and the figures), DIR/tput-*.svg \
    (throughput over time per level) and DIR/stall-*.svg (max read and write stall per level) for each workload, \
    fault and CQT case, and DIR/cells.json (every cell's metrics, 100 ms series and reproducing command).\n\n\
    --quick runs a reduced grid (every level x readwrite x fopcode, node-failover, loss-5, and rw_test x fopcode).\n\n\
    Exit status 1 when the expectations fail (legacy corrupts under fopcode with rw_test; no safe level corrupts).";

#[derive(Args, Debug)]
struct ReportArgs {
    /// Directory to write report.md, *.svg and cells.json into (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// The reduced grid (20 cells).
    #[arg(long)]
    quick: bool,
}

#[derive(Args, Debug)]
struct ExploreArgs {
    /// Number of seeds to run.
    #[arg(long, value_name = "N")]
    seeds: u64,
    /// Host recovery policy.
    #[arg(long, value_enum)]
    policy: PolicyArg,
    /// Let delays exceed the target's CQT promise (a non-compliant target).
    #[arg(long)]
    noncompliant: bool,
    /// Worker threads [default: all cores]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1024))]
    threads: Option<u64>,
    /// First seed (seeds start..start+N are run).
    #[arg(long, value_name = "S", default_value_t = 0)]
    start: u64,
    /// For legacy (and cqt with --noncompliant), print at most this many corrupting seeds; the count is always
    /// given, and for the other policies every finding is printed.
    #[arg(long, value_name = "N", default_value_t = 10)]
    max_print: usize,
    /// Every seed's fault is this one instead of the random one (node-failover: at least four paths).
    #[arg(long, value_name = "FAULT", value_parser = parse_fault, long_help = FAULT_HELP)]
    fault: Option<nvme_sim::FaultKind>,
    /// Every seed's target reports this CQT, ms (0: not reported), instead of the random one.
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(0..=65_535))]
    cqt: Option<u64>,
    /// The debated host options.
    #[command(flatten)]
    debate: DebateArgs,
}

const CHECK_HELP: &str = "Model-check failover exhaustively with stateright: nvme-fabric's host (multipath and \
    nvme-ccr's recovery engine behind its invariant monitor) against one nvme-fabric subsystem with one controller \
    per path, every interleaving of the messages on the connections (in order per connection), time advanced to the \
    next deadline, and faults chosen at every step within a budget: a write held by a failing or freezing controller \
    (fopcode), a path's connections lost or frozen, CCRs failed or refused, a CCR Completed notice lost, a CCR log \
    read failed. The workload: --writes writes to one \
    block (or --blocks blocks in turn), then a read, at most --depth outstanding.\n\n\
    Properties: no stale data (no read older than the last acknowledged write, no held write landing after a newer \
    one was acknowledged), the engine's invariants in every state (no release without proof, CCRL honoured, \
    well-formed outputs), every command completed or failed to its submitter; and a witness that a held write \
    landed after its path failed. Prints states explored, unique states, time and each verdict; for a violation the \
    word counterexample and the shortest schedule as a numbered trace.\n\n\
    Without size options it runs the CI configuration (2 paths, 2 writes and a read to one block, depth 1, 3 \
    faults; no reconnects, keep-alive off). --reconnect reconnects a failed path (a new controller, its whole \
    bring-up explored); --kato turns keep-alive on (the hold grows to 3 x KATO + CQT); both enlarge the space \
    (CI checks --reconnect at 2 faults). Without --policy it checks every policy. --noncompliant: the target may hold a write past its CQT \
    promise (up to three times the hold), with every fault as well; stale data in a schedule where it also refuses \
    or fails CCRs is not counted (no host has a proof it could trust there).\n\n\
    Exit status 0 when every verdict is the expected one (legacy, and cqt with --noncompliant, must produce a \
    counterexample; every other policy must hold), 1 otherwise.";

#[derive(Args, Debug)]
struct CheckArgs {
    /// Host recovery policy [default: every policy, one after the other]
    #[arg(long, value_enum)]
    policy: Option<PolicyArg>,
    /// Paths (controllers of the subsystem).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(2..=3))]
    paths: Option<u64>,
    /// Writes in the workload (then one read).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=8))]
    writes: Option<u64>,
    /// Commands outstanding at most.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=4))]
    depth: Option<u64>,
    /// Blocks the writes go to in turn.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=2))]
    blocks: Option<u64>,
    /// Faults per schedule at most.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(0..=6))]
    faults: Option<u64>,
    /// The target may break its CQT promise.
    #[arg(long)]
    noncompliant: bool,
    /// Reconnect a failed path (1 s after its commands were released, given up after 3 s) instead of giving it up.
    #[arg(long)]
    reconnect: bool,
    /// Keep-alive timeout in seconds (KATO; 0: keep-alive off, the CI configuration). The hold grows to
    /// 3 x KATO + CQT.
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(0..=5))]
    kato: Option<u64>,
    /// Checker threads [default: all cores]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1024))]
    threads: Option<u64>,
}

const DECODE_HELP: &str = "Decode NVMe/TCP PDUs into one JSON object per line.\n\n\
    Input: --hex HEX, --pcap FILE (pcap or pcapng; Ethernet, Linux cooked or raw IP frames; TCP over IPv4 or IPv6; \
    '-' reads the file from stdin), or, with neither, hex text on stdin. Hex text is groups of hex digits \
    separated by spaces, commas, colons or newlines, each group optionally prefixed by 0x (\"05 01 18\", \"050118\", \"0x05,0x01\").\n\n\
    Hex input is one byte stream that may hold PDUs of both directions: each PDU's direction comes from its type \
    (even types are host to controller). A pcap is reassembled per TCP connection and direction; PDUs are printed in \
    the order of the frames that complete them. Commands are tracked by CID per connection, so CQEs and data decode \
    in context (CCR result IRS/V/CLRI, AER events, Connect CNTLID, Identify Controller fields CQT/CIU/CIRN/CCRL/KAS/\
    TBKAS and ANA, CCR log entries, Discovery log header and entries, ANA log groups with states and NSIDs).\n\n\
    Each line has: type, hlen, pdo, plen, flags, hdgst and ddgst (\"good\", \"bad\" or \"absent\"), dir (h2c/c2h), \
    offset (byte offset in its stream), and for pcaps frame, time (s since the first frame), conn, src, dst; then \
    the PDU's fields by name (cmd for an SQE, cqe for a CQE, cccid/datao/datal for data PDUs, ...).\n\n\
    A PDU that fails validation gives {\"error\": ..., \"fes\": N, \"fei\": N, \"offset\": N}, FES and FEI as a \
    termination request would carry them (null when none would be sent), and ends its stream (the framing can no \
    longer be trusted). A bad data digest is not fatal: the PDU is printed with \"ddgst\": \"bad\" and decoding goes \
    on. A stream cut inside a PDU gives {\"error\": \"truncated: need N more bytes\"}. The exit status is 1 if any \
    of these occurred.";

#[derive(Args, Debug)]
struct DecodeArgs {
    /// PDU bytes as hex text.
    #[arg(long, conflicts_with = "pcap", value_name = "HEX")]
    hex: Option<String>,
    /// A pcap or pcapng file ('-' for stdin).
    #[arg(long, value_name = "FILE")]
    pcap: Option<PathBuf>,
    /// Digest expectations. auto: as negotiated by the connection's ICReq/ICResp when present, else as each PDU's
    /// HDGSTF/DDGSTF flags announce. on: both digests required. off: no digests allowed.
    #[arg(long, value_enum, default_value_t = DigestArg::Auto)]
    digests: DigestArg,
    /// Opcode space for SQEs. auto: from the connection's Fabrics Connect (QID 0 admin, else I/O), admin before
    /// any Connect is seen (opcode 0x02 is Get Log Page on admin queues, Read on I/O queues).
    #[arg(long, value_enum, default_value_t = QueueArg::Auto)]
    queue: QueueArg,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum DigestArg {
    Auto,
    On,
    Off,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum QueueArg {
    Auto,
    Admin,
    Io,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Cmd::Matrix(args) => run_matrix(args),
        Cmd::Run(args) => run_run(args),
        Cmd::Explore(args) => run_explore(args),
        Cmd::Report(args) => run_report(args),
        Cmd::Check(args) => run_check(args),
        Cmd::Decode(args) => run_decode(args),
        Cmd::Target(args) => cli::target(args),
        Cmd::RwTest(args) => cli::rw_test(args),
        Cmd::CcrCheck(args) => cli::ccr_check(args),
        Cmd::GenDhchapKey(args) => cli::gen_dhchap_key(args),
        Cmd::Perf(args) => perf::perf(args),
    }
}

fn run_matrix(args: MatrixArgs) -> ExitCode {
    let opts = matrix::Options {
        iterations: args.iterations,
        duration: args.duration.map(Duration::from_secs),
        seed: args.seed,
        cqt: ms_opt(args.cqt),
        debate: args.debate,
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let failed = match matrix::run(&opts, args.json, &mut out).and_then(|f| out.flush().map(|()| f)) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return ExitCode::SUCCESS,
        Err(e) => return usage_error(format!("cannot write the output: {e}")),
    };
    if failed.is_empty() {
        return ExitCode::SUCCESS;
    }
    for f in &failed {
        eprintln!("nvme-lab: expectation failed: {f}");
    }
    ExitCode::from(EXIT_FINDING)
}

fn ms_opt(v: Option<u64>) -> Option<Duration> {
    v.map(Duration::from_millis)
}

fn run_run(args: RunArgs) -> ExitCode {
    let policy = args.policy.policy();
    let mut s = if args.random {
        let over = explore::Overrides { fault: args.fault, cqt: ms_opt(args.cqt), debate: args.debate };
        over.scenario(args.seed.unwrap_or(0), policy, args.noncompliant)
    } else {
        let base = nvme_sim::Scenario::new(
            policy,
            args.workload.unwrap_or(WorkloadArg::RwTest).workload(),
            args.fault.unwrap_or(nvme_sim::FaultKind::Fopcode),
        );
        let base = if args.grid { report::cell(base.policy, base.workload, base.fault) } else { base };
        let knobs = run::Knobs {
            kato: ms_opt(args.kato),
            cqt: ms_opt(args.cqt),
            cqt_fallback: ms_opt(args.cqt_fallback),
            tbkas: args.tbkas.map(|t| t == OnOff::On),
            delay: ms_opt(args.delay),
            fopcode: args.fopcode,
            seed: args.seed,
            iterations: args.iterations,
            duration: args.duration.map(Duration::from_secs),
            paths: args.paths.map(|p| p as usize),
        };
        let mut s = run::scenario(base, &knobs);
        if args.grid && args.duration.is_none() {
            s.duration = s.cell_duration();
        }
        s
    };
    args.debate.apply(&mut s);
    s.capture = args.pcap.is_some();
    let started = Instant::now();
    let report = nvme_sim::run(&s);
    let wall = started.elapsed();
    if args.svg.is_some() || args.png.is_some() {
        let svg = run::plot(&s, &report);
        if let Some(path) = &args.svg
            && let Err(e) = std::fs::write(path, &svg)
        {
            return usage_error(format!("cannot write {}: {e}", path.display()));
        }
        if let Some(path) = &args.png
            && let Err(e) = svg::png(&svg).and_then(|png| std::fs::write(path, png).map_err(|e| e.to_string()))
        {
            return usage_error(format!("cannot write {}: {e}", path.display()));
        }
    }
    if let Some(path) = &args.pcap {
        let written = std::fs::File::create(path)
            .map_err(|e| e.to_string())
            .and_then(|f| wire::write_pcap(&report.wire, io::BufWriter::new(f)).map_err(|e| e.to_string()));
        if let Err(e) = written {
            return usage_error(format!("cannot write {}: {e}", path.display()));
        }
    }
    let text = if args.json {
        match serde_json::to_string(&run::json(&s, &report)) {
            Ok(j) => format!("{j}\n"),
            Err(e) => return usage_error(format!("cannot serialise the report: {e}")),
        }
    } else {
        let mut t = run::text(&s, &report, args.full_output, wall);
        if let Some(path) = &args.svg {
            t.push_str(&format!("  svg:        {}\n", path.display()));
        }
        if let Some(path) = &args.png {
            t.push_str(&format!("  png:        {}\n", path.display()));
        }
        if let Some(path) = &args.pcap {
            t.push_str(&format!("  pcap:       {} ({} segments)\n", path.display(), report.wire.len()));
        }
        if args.random {
            let over = explore::Overrides { fault: args.fault, cqt: ms_opt(args.cqt), debate: args.debate };
            t.push_str(&format!("  reproduce:  {}\n", explore::reproduce(s.seed, policy, args.noncompliant, &over)));
        }
        t
    };
    match io::stdout().lock().write_all(text.as_bytes()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => usage_error(format!("cannot write the output: {e}")),
    }
}

fn run_explore(args: ExploreArgs) -> ExitCode {
    let policy = args.policy.policy();
    let threads = args.threads.map_or_else(rayon::current_num_threads, |t| t as usize);
    let end = args.start.saturating_add(args.seeds);
    let opts = explore::Overrides { fault: args.fault, cqt: ms_opt(args.cqt), debate: args.debate };
    let outcome = match explore::explore(args.start..end, policy, args.noncompliant, &opts, threads) {
        Ok(o) => o,
        Err(e) => return usage_error(format!("cannot start {threads} threads: {e}")),
    };
    let (text, failed) = explore::report(&outcome, policy, args.noncompliant, &opts, args.max_print, threads);
    if let Err(e) = io::stdout().lock().write_all(text.as_bytes())
        && e.kind() != io::ErrorKind::BrokenPipe
    {
        return usage_error(format!("cannot write the output: {e}"));
    }
    if failed { ExitCode::from(EXIT_FINDING) } else { ExitCode::SUCCESS }
}

fn run_report(args: ReportArgs) -> ExitCode {
    match report::write_report(&args.out, args.quick) {
        Ok(failed) if failed.is_empty() => {
            println!("wrote {}", args.out.join("report.md").display());
            ExitCode::SUCCESS
        }
        Ok(failed) => {
            for f in &failed {
                eprintln!("nvme-lab: expectation failed: {f}");
            }
            ExitCode::from(EXIT_FINDING)
        }
        Err(e) => usage_error(e),
    }
}

fn run_check(args: CheckArgs) -> ExitCode {
    let policies: Vec<nvme_ccr::Policy> =
        args.policy.map_or_else(|| nvme_ccr::Policy::ALL.to_vec(), |p| vec![p.policy()]);
    let setups: Vec<nvme_check::Setup> = policies
        .into_iter()
        .map(|policy| {
            let mut s = nvme_check::Setup::ci(policy, args.noncompliant);
            let or = |v: Option<u64>, d: usize| v.map_or(d, |v| v as usize);
            s.paths = or(args.paths, s.paths);
            s.writes = or(args.writes, s.writes);
            s.depth = or(args.depth, s.depth);
            s.blocks = or(args.blocks, s.blocks);
            s.faults = or(args.faults, s.faults);
            s.kato = args.kato.unwrap_or(s.kato);
            s.reconnect |= args.reconnect;
            s
        })
        .collect();
    let threads = args.threads.map_or_else(rayon::current_num_threads, |t| t as usize);
    let (text, failed) = check::check(&setups, threads);
    if let Err(e) = io::stdout().lock().write_all(text.as_bytes())
        && e.kind() != io::ErrorKind::BrokenPipe
    {
        return usage_error(format!("cannot write the output: {e}"));
    }
    if failed { ExitCode::from(EXIT_FINDING) } else { ExitCode::SUCCESS }
}

/// Prints `msg` on stderr and returns the usage exit status.
fn usage_error(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("nvme-lab: {msg}");
    ExitCode::from(EXIT_USAGE)
}

fn run_decode(args: DecodeArgs) -> ExitCode {
    let opts = decode::Options {
        digests: match args.digests {
            DigestArg::Auto => decode::DigestMode::Auto,
            DigestArg::On => decode::DigestMode::On,
            DigestArg::Off => decode::DigestMode::Off,
        },
        queue: match args.queue {
            QueueArg::Auto => decode::QueueMode::Auto,
            QueueArg::Admin => decode::QueueMode::Admin,
            QueueArg::Io => decode::QueueMode::Io,
        },
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let result = if let Some(path) = &args.pcap {
        let read = if path.as_os_str() == "-" {
            nvme_pcap::PcapTcpReader::read(io::stdin().lock())
        } else {
            match std::fs::File::open(path) {
                Ok(f) => nvme_pcap::PcapTcpReader::read(io::BufReader::new(f)),
                Err(e) => return usage_error(format!("cannot open {}: {e}", path.display())),
            }
        };
        let capture = match read {
            Ok(c) => c,
            Err(e) => return usage_error(format!("{}: {e}", path.display())),
        };
        if capture.skipped_frames() > 0 {
            eprintln!(
                "nvme-lab: {} of {} frames are not TCP over IPv4 or IPv6 (or not usable) and were skipped",
                capture.skipped_frames(),
                capture.frames()
            );
        }
        decode::decode_pcap(&capture, opts, &mut out)
    } else {
        let text = match args.hex {
            Some(h) => h,
            None => {
                if io::stdin().is_terminal() {
                    eprintln!("nvme-lab: reading hex from stdin (end with Ctrl-D); see --help for --hex and --pcap");
                }
                let mut s = String::new();
                if let Err(e) = io::stdin().lock().read_to_string(&mut s) {
                    return usage_error(format!("cannot read stdin as text: {e}"));
                }
                s
            }
        };
        let bytes = match hex::parse_hex(&text) {
            Ok(b) => b,
            Err(e) => return usage_error(e),
        };
        decode::decode_hex(&bytes, opts, &mut out)
    };
    let summary = match result.and_then(|s| out.flush().map(|()| s)) {
        Ok(s) => s,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return ExitCode::SUCCESS,
        Err(e) => return usage_error(format!("cannot write the output: {e}")),
    };
    if summary.errors > 0 {
        eprintln!("nvme-lab: {} PDUs decoded, {} errors", summary.pdus, summary.errors);
        ExitCode::from(EXIT_FINDING)
    } else {
        ExitCode::SUCCESS
    }
}
