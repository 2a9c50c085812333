//! `nvme-lab perf`: a fio-style load (nvme-tokio's [`nvme_tokio::perf`]) through nvme-fabric's host on
//! tokio against an NVMe/TCP target (`nvme-lab target`, or any other), with IOPS, bandwidth and latency per interval,
//! a live progress line, JSON, and the simulator's metrics ([`nvme_sim::metrics`]: throughput over time, the dip,
//! p99 / p99.9 / p99.99 and the maximum split into reads and writes) fed from real completions.
//!
//! A fault is armed at `nvme-lab target` through its control input (`--control ADDR`, the target's TCP control
//! port): `after MS fopcode OPC DELAY`, so the target's own timer fires it mid-run; `ccr-fail` and `ccr-unsupported`
//! switch `fail-ccr` / `no-ccr` on first.

use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use nvme_ccr::Config;
use nvme_sim::metrics::{IoKind, Recorder, Series, Summary};
use nvme_tokio::host::Multipath;
use nvme_tokio::perf::{self, Pattern, PerfParams, PerfTotals, Sample};
use serde::Serialize;

use crate::EXIT_USAGE;
use crate::cli::{HostArgs, runtime};
use crate::names::PolicyArg;

/// The workloads (fio's names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PerfWorkload {
    /// Random reads.
    Randread,
    /// Random writes.
    Randwrite,
    /// Random reads and writes (`--read-percent` reads).
    Randrw,
    /// Sequential reads.
    Seqread,
    /// Sequential writes.
    Seqwrite,
}

/// The faults `perf` can arm at `nvme-lab target` through its control port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PerfFault {
    /// Controller failover: `fopcode` on the workload's opcode (Write, or Read for read-only loads).
    Fopcode,
    /// As fopcode, with `fail-ccr on` (every CCR fails).
    CcrFail,
    /// As fopcode, with `no-ccr on` (CCR answered Invalid Command Opcode).
    CcrUnsupported,
}

impl PerfFault {
    fn name(self) -> &'static str {
        match self {
            PerfFault::Fopcode => "fopcode",
            PerfFault::CcrFail => "ccr-fail",
            PerfFault::CcrUnsupported => "ccr-unsupported",
        }
    }
}

/// `nvme-lab perf`.
#[derive(Args, Clone, Debug)]
pub struct PerfArgs {
    /// Controller addresses, one path each (ADDR,ADDR).
    #[arg(long, value_delimiter = ',', required = true)]
    pub paths: Vec<SocketAddr>,
    /// The load.
    #[arg(long, value_enum, default_value_t = PerfWorkload::Randread)]
    pub workload: PerfWorkload,
    /// Bytes per command: a number with an optional k or m suffix (4k, 128k).
    #[arg(long, default_value = "4k", value_parser = parse_size)]
    pub bs: usize,
    /// Commands kept outstanding.
    #[arg(long, default_value_t = 32)]
    pub qd: usize,
    /// Seconds of load.
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Reads out of 100 for randrw.
    #[arg(long, default_value_t = 50)]
    pub read_percent: u8,
    /// MiB of the namespace used from its start (default: all of it).
    #[arg(long)]
    pub region_mib: Option<u64>,
    /// Recovery policy.
    #[arg(long, value_enum, default_value_t = PolicyArg::Ccr)]
    pub policy: PolicyArg,
    /// Arm this fault at the target mid-run (needs --control).
    #[arg(long, value_enum, requires = "control")]
    pub fault: Option<PerfFault>,
    /// When the fault is armed, seconds from the start (default: a third of the run).
    #[arg(long)]
    pub fault_at: Option<f64>,
    /// fopcode's delay: how long the command that triggers the failover is held at the target, ms.
    #[arg(long, default_value_t = 2000)]
    pub fault_delay_ms: u64,
    /// The target's control port (`nvme-lab target --control ADDR`).
    #[arg(long)]
    pub control: Option<SocketAddr>,
    /// Reporting interval, ms.
    #[arg(long, default_value_t = 1000)]
    pub interval_ms: u64,
    /// Delay before reconnecting a released path, ms.
    #[arg(long, default_value_t = 1000)]
    pub reconnect_delay_ms: u64,
    /// Write the results as JSON to this file ("-": standard output, instead of the text).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Connection options.
    #[command(flatten)]
    pub host: HostArgs,
}

fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim().to_ascii_lowercase();
    let (num, mul) = match t.strip_suffix('k') {
        Some(n) => (n, 1024),
        None => match t.strip_suffix('m') {
            Some(n) => (n, 1 << 20),
            None => (t.as_str(), 1),
        },
    };
    num.parse::<usize>().ok().and_then(|n| n.checked_mul(mul)).filter(|&n| n > 0).ok_or(format!("not a size: {s:?}"))
}

/// One reporting interval.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Interval {
    /// End of the interval, ms since the start.
    pub end_ms: f64,
    /// Reads and writes completed per second.
    pub read_iops: f64,
    /// Writes per second.
    pub write_iops: f64,
    /// MiB/s read.
    pub read_mib_s: f64,
    /// MiB/s written.
    pub write_mib_s: f64,
    /// Mean read latency, ms (0 without reads).
    pub read_avg_ms: f64,
    /// Largest read latency, ms.
    pub read_max_ms: f64,
    /// Mean write latency, ms.
    pub write_avg_ms: f64,
    /// Largest write latency, ms.
    pub write_max_ms: f64,
    /// Commands the host failed.
    pub errors: u64,
}

/// Sums of one interval while it runs.
#[derive(Clone, Copy, Debug, Default)]
struct Acc {
    n: [u64; 2],
    bytes: [u64; 2],
    lat: [Duration; 2],
    max: [Duration; 2],
    errors: u64,
}

impl Acc {
    fn add(&mut self, s: &Sample) {
        if !s.ok {
            self.errors += 1;
            return;
        }
        let k = usize::from(!s.read);
        self.n[k] += 1;
        self.bytes[k] += u64::from(s.bytes);
        self.lat[k] += s.latency;
        self.max[k] = self.max[k].max(s.latency);
    }

    fn close(&self, end: Duration, len: Duration) -> Interval {
        let secs = len.as_secs_f64().max(1e-9);
        let avg = |k: usize| if self.n[k] == 0 { 0.0 } else { ms(self.lat[k]) / self.n[k] as f64 };
        Interval {
            end_ms: ms(end),
            read_iops: self.n[0] as f64 / secs,
            write_iops: self.n[1] as f64 / secs,
            read_mib_s: self.bytes[0] as f64 / secs / f64::from(1 << 20),
            write_mib_s: self.bytes[1] as f64 / secs / f64::from(1 << 20),
            read_avg_ms: avg(0),
            read_max_ms: ms(self.max[0]),
            write_avg_ms: avg(1),
            write_max_ms: ms(self.max[1]),
            errors: self.errors,
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Everything `perf` reports (the JSON).
#[derive(Clone, Debug, Serialize)]
pub struct PerfReport {
    /// The workload's name.
    pub workload: &'static str,
    /// Bytes per command.
    pub bs: usize,
    /// Queue depth.
    pub qd: usize,
    /// Seconds of load asked for.
    pub seconds: f64,
    /// The policy's name.
    pub policy: &'static str,
    /// Digests asked for.
    pub digests: String,
    /// The paths.
    pub paths: Vec<String>,
    /// The fault armed, if any.
    pub fault: Option<&'static str>,
    /// Commands that succeeded.
    pub ok: u64,
    /// Commands the host failed.
    pub failed: u64,
    /// Workers abandoned at the drain bound.
    pub abandoned: usize,
    /// From the start to the last completion, ms.
    pub elapsed_ms: f64,
    /// Mean IOPS over the run.
    pub iops: f64,
    /// Mean MiB/s over the run.
    pub mib_s: f64,
    /// CPU time of this process (the host) per completed command, us (`None` where /proc is missing).
    pub host_cpu_us_per_io: Option<f64>,
    /// Every interval.
    pub intervals: Vec<Interval>,
    /// The simulator's metrics over the real completions (dip around the fault, latencies split by kind).
    pub summary: Summary,
    /// Completions per 100 ms.
    pub series_100ms: Series,
}

/// CPU time of this process (user + system), from /proc/self/stat (clock ticks of 10 ms).
pub fn process_cpu() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of stat(5) (utime, stime) are the 12th and 13th after the command name.
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// Sends control lines to the target's control port; each must be answered `ok: ...`.
fn control(addr: SocketAddr, lines: &[String]) -> Result<(), String> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| format!("control {addr}: {e}"))?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut w = s.try_clone().map_err(|e| e.to_string())?;
    let mut r = BufReader::new(s);
    for line in lines {
        writeln!(w, "{line}").map_err(|e| format!("control {addr}: {e}"))?;
        let mut answer = String::new();
        r.read_line(&mut answer).map_err(|e| format!("control {addr}: {e}"))?;
        if !answer.starts_with("ok:") {
            return Err(format!("control {addr}: {line:?} answered {:?}", answer.trim()));
        }
    }
    Ok(())
}

/// Runs `perf`: 0 when the load ran (whatever the host failed: see `failed`), 1 when it could not connect or arm
/// the fault, 2 for bad arguments.
pub fn perf(args: PerfArgs) -> ExitCode {
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(&args, true)) {
        Ok(report) => {
            let text = args.json.as_deref().is_none_or(|p| p.as_os_str() != "-");
            if let Some(path) = &args.json {
                let Ok(j) = serde_json::to_string_pretty(&report) else { return ExitCode::from(1) };
                let r = if path.as_os_str() == "-" {
                    writeln!(std::io::stdout(), "{j}")
                } else {
                    std::fs::write(path, j + "\n")
                };
                if let Err(e) = r {
                    eprintln!("cannot write {}: {e}", path.display());
                    return ExitCode::from(1);
                }
            }
            if text {
                print_summary(&report);
            }
            ExitCode::SUCCESS
        }
        Err((code, e)) => {
            eprintln!("{e}");
            ExitCode::from(code)
        }
    }
}

fn print_summary(r: &PerfReport) {
    println!(
        "{} bs {} qd {} policy {}: {} ok, {} failed in {:.1} s: {:.0} IOPS, {:.1} MiB/s{}",
        r.workload,
        r.bs,
        r.qd,
        r.policy,
        r.ok,
        r.failed,
        r.elapsed_ms / 1000.0,
        r.iops,
        r.mib_s,
        r.host_cpu_us_per_io.map(|c| format!(", host CPU {c:.1} us/IO")).unwrap_or_default()
    );
    let s = &r.summary;
    for (name, l) in [("read", &s.reads), ("write", &s.writes)] {
        if l.count > 0 {
            println!(
                "  {name:5}: {} done, p99 {:.2} ms, p99.9 {:.2} ms, p99.99 {:.2} ms, max {:.2} ms",
                l.count, l.p99_ms, l.p999_ms, l.p9999_ms, l.max_ms
            );
        }
    }
    println!("  longest gap without a completion: {:.1} ms", s.longest_gap_ms);
    match (&s.dip, s.baseline_iops, s.fault_ms) {
        (Some(d), Some(b), Some(f)) => println!(
            "  fault at {f:.0} ms, baseline {b:.0} IOPS: dip from {:.0} ms, depth {:.0} %, {}",
            d.start_ms,
            d.depth * 100.0,
            match (d.duration_ms, d.back_to_90_ms) {
                (Some(len), Some(back)) => format!("lasting {len:.0} ms, back to 90 % {back:.0} ms after the fault"),
                _ => "not back to 90 % before the end".to_string(),
            }
        ),
        (None, Some(b), Some(f)) => println!("  fault at {f:.0} ms, baseline {b:.0} IOPS: no dip below 90 %"),
        _ => {}
    }
}

/// The body of [`perf()`]: connects, arms the fault, runs the load, reports per interval (on standard output when
/// `live`, with a progress line on a terminal) and returns the report. Errors carry the exit status.
pub async fn run(args: &PerfArgs, live: bool) -> Result<PerfReport, (u8, String)> {
    let pattern = match args.workload {
        PerfWorkload::Randread => Pattern::RandRead,
        PerfWorkload::Randwrite => Pattern::RandWrite,
        PerfWorkload::Randrw if args.read_percent <= 100 => Pattern::RandRw { read_percent: args.read_percent },
        PerfWorkload::Randrw => return Err((EXIT_USAGE, "--read-percent is 0..=100".into())),
        PerfWorkload::Seqread => Pattern::SeqRead,
        PerfWorkload::Seqwrite => Pattern::SeqWrite,
    };
    if !(args.seconds > 0.0 && args.seconds <= 3600.0) || args.interval_ms == 0 {
        return Err((EXIT_USAGE, "--seconds must be in (0, 3600], --interval-ms at least 1".into()));
    }
    let duration = Duration::from_secs_f64(args.seconds);
    let fault_at = match (args.fault, args.fault_at) {
        (None, _) => None,
        (Some(_), Some(t)) if t >= 0.0 && t < args.seconds => Some(Duration::from_secs_f64(t)),
        (Some(_), Some(_)) => return Err((EXIT_USAGE, "--fault-at must fall within the run".into())),
        (Some(_), None) => Some(duration / 3),
    };
    let mut cfg = args.host.host_config("perf").map_err(|e| (EXIT_USAGE, e))?;
    cfg.fabric.engine = Config::new(args.policy.policy());
    cfg.fabric.reconnect_delay = Duration::from_millis(args.reconnect_delay_ms);
    cfg.fabric.max_outstanding = cfg.fabric.max_outstanding.max(args.qd);
    let (mp, _events) = Multipath::connect(&args.paths, &cfg).await.map_err(|e| (1, format!("cannot connect: {e}")))?;
    let mut p = PerfParams::new(pattern, args.bs, args.qd, duration);
    let bs = u64::from(mp.namespace().block_size);
    p.region_blocks = args.region_mib.map(|m| m.saturating_mul(1 << 20) / bs);
    p.drain = Duration::from_secs(60);
    if let (Some(f), Some(at), Some(c)) = (args.fault, fault_at, args.control) {
        let opcode = if matches!(pattern, Pattern::RandRead | Pattern::SeqRead) { 2 } else { 1 };
        let mut lines = match f {
            PerfFault::Fopcode => vec!["fail-ccr off".to_string(), "no-ccr off".to_string()],
            PerfFault::CcrFail => vec!["fail-ccr on".to_string(), "no-ccr off".to_string()],
            PerfFault::CcrUnsupported => vec!["fail-ccr off".to_string(), "no-ccr on".to_string()],
        };
        lines.push(format!("after {} fopcode {opcode} {}", at.as_millis(), args.fault_delay_ms));
        let ctl = tokio::task::spawn_blocking(move || control(c, &lines)).await;
        if let Err(e) = ctl.map_err(|e| e.to_string()).and_then(|r| r) {
            mp.close().await;
            return Err((1, e));
        }
    }
    let pb = if live && std::io::stderr().is_terminal() {
        ProgressBar::with_draw_target(Some(duration.as_millis() as u64), ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    pb.set_style(
        ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {msg}").unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    // The horizon is the run: the commands still completing after it (the drain) are counted in `beyond_horizon`,
    // not as a fall of the rate in the last windows.
    let mut rec = Recorder::new(Duration::from_millis(1), duration);
    let interval = Duration::from_millis(args.interval_ms);
    let mut intervals = Vec::new();
    let (mut acc, mut until) = (Acc::default(), interval);
    let text = live && args.json.as_deref().is_none_or(|p| p.as_os_str() != "-");
    let cpu0 = process_cpu();
    let mut on = |s: Sample| {
        while s.at >= until {
            let iv = acc.close(until, interval);
            if text {
                pb.suspend(|| print_interval(&iv));
            }
            pb.set_position(until.as_millis() as u64);
            pb.set_message(format!(
                "{:.0} IOPS, {:.1} MiB/s",
                iv.read_iops + iv.write_iops,
                iv.read_mib_s + iv.write_mib_s
            ));
            intervals.push(iv);
            acc = Acc::default();
            until += interval;
        }
        acc.add(&s);
        if s.ok {
            rec.record(s.at, if s.read { IoKind::Read } else { IoKind::Write }, s.latency, u64::from(s.bytes));
        }
    };
    let totals: PerfTotals = match perf::run(&mp, &p, &mut on).await {
        Ok(t) => t,
        Err(e) => {
            mp.close().await;
            return Err((EXIT_USAGE, e.to_string()));
        }
    };
    let cpu1 = process_cpu();
    if acc.n != [0, 0] || acc.errors > 0 {
        let start = until.saturating_sub(interval);
        let len = totals.elapsed.saturating_sub(start).max(Duration::from_millis(1));
        let iv = acc.close(totals.elapsed, len);
        if text {
            pb.suspend(|| print_interval(&iv));
        }
        intervals.push(iv);
    }
    pb.finish_and_clear();
    mp.close().await;
    let secs = totals.elapsed.as_secs_f64().max(1e-9);
    let done = totals.ok + totals.failed;
    Ok(PerfReport {
        workload: pattern.name(),
        bs: args.bs,
        qd: args.qd,
        seconds: args.seconds,
        policy: args.policy.policy().name(),
        digests: format!("{:?}", args.host.digests).to_lowercase(),
        paths: args.paths.iter().map(ToString::to_string).collect(),
        fault: args.fault.map(PerfFault::name),
        ok: totals.ok,
        failed: totals.failed,
        abandoned: totals.abandoned,
        elapsed_ms: ms(totals.elapsed),
        iops: totals.ok as f64 / secs,
        mib_s: totals.bytes as f64 / secs / f64::from(1 << 20),
        host_cpu_us_per_io: match (cpu0, cpu1) {
            (Some(a), Some(b)) if done > 0 => Some((b - a).as_secs_f64() * 1e6 / done as f64),
            _ => None,
        },
        intervals,
        summary: rec.summary(fault_at, Duration::from_millis(100)),
        series_100ms: rec.series(Duration::from_millis(100)),
    })
}

fn print_interval(iv: &Interval) {
    let mut line = format!("{:7.1} s", iv.end_ms / 1000.0);
    if iv.read_iops > 0.0 || iv.read_max_ms > 0.0 {
        line += &format!(
            "  read {:8.0} IOPS {:8.1} MiB/s avg {:7.3} ms max {:8.1} ms",
            iv.read_iops, iv.read_mib_s, iv.read_avg_ms, iv.read_max_ms
        );
    }
    if iv.write_iops > 0.0 || iv.write_max_ms > 0.0 {
        line += &format!(
            "  write {:8.0} IOPS {:8.1} MiB/s avg {:7.3} ms max {:8.1} ms",
            iv.write_iops, iv.write_mib_s, iv.write_avg_ms, iv.write_max_ms
        );
    }
    if iv.errors > 0 {
        line += &format!("  errors {}", iv.errors);
    }
    println!("{line}");
}
