//! NVMe/TCP over loopback against raw TCP over loopback, in the same run (BENCHMARKS.md, "Sockets").
//!
//! One host (nvme-tokio's `Multipath`, one path: an admin queue and 2 I/O queues of depth 32) and one target
//! (nvme-tokio's `Target`, namespace in memory), each on its own thread with a current-thread tokio runtime, so the
//! CPU time of each side is its thread's (`/proc/thread-self/stat`). The load is nvme-tokio's `perf` (closed loop,
//! QD 32). Raw TCP is the same shape without NVMe: 2 connections, 16 requests outstanding on each (QD 32 in all), a
//! 72-byte request header (a command capsule's) with the data for a write, a 24-byte response header (a response
//! capsule's) with the data for a read; the sink side answers each request as it is read.
//!
//! Not criterion: each case is a fixed-time closed loop whose figure is the mean over the run. Run with
//! `cargo bench -p benches --bench sockets` (`SOCKETS_SECS` sets the seconds per case, default 5;
//! `SOCKETS_ROUNDS` the rounds, default 3). It prints one line per case and round with the ratio of NVMe/TCP to raw
//! TCP, then the median of each case over the rounds as a Markdown table.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use nvme_tokio::host::{Digests, HostConfig, Multipath};
use nvme_tokio::perf::{self, Pattern, PerfParams};
use nvme_tokio::target::{Target, TargetConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::{Builder, Handle};
use tokio::sync::Semaphore;

const NQN: &str = "nqn.2026-12.io.example:bench-sockets";
/// Data connections (the host's I/O queues) and requests outstanding in all.
const CONNS: usize = 2;
const QD: usize = 32;
const REQ_HEADER: usize = 72;
const RESP_HEADER: usize = 24;
/// Byte 1 of the last request of a connection, echoed in byte 0 of its answer.
const FENCE: u8 = 0xFF;
/// Read and write buffers of the raw TCP ends (the NVMe/TCP driver reads 64 KiB at a time).
const BUF: usize = 64 * 1024;

/// CPU time (user + system) of the calling thread.
fn thread_cpu() -> Duration {
    let s = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let rest = s.rfind(')').map_or("", |i| &s[i + 2..]);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let t = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Duration::from_millis((t(11) + t(12)) * 10)
}

/// A server thread: a current-thread runtime running what `start` starts, until the process ends.
fn server_thread<T: Send + 'static>(
    start: impl FnOnce() -> std::pin::Pin<Box<dyn std::future::Future<Output = T>>> + Send + 'static,
) -> (T, Handle) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = Builder::new_current_thread().enable_all().build().unwrap();
        let v = rt.block_on(start());
        tx.send((v, rt.handle().clone())).unwrap();
        rt.block_on(std::future::pending::<()>());
    });
    rx.recv().unwrap()
}

/// The server thread's CPU time, read on that thread.
async fn cpu_of(h: &Handle) -> Duration {
    h.spawn(async { thread_cpu() }).await.unwrap()
}

/// The raw TCP sink/source: reads a 72-byte header (byte 0: 1 write, 2 read; bytes 4..8: length LE), reads the
/// write's data, answers with a 24-byte header and the read's data.
async fn raw_server(l: TcpListener) {
    loop {
        let Ok((s, _)) = l.accept().await else { return };
        let _ = s.set_nodelay(true);
        tokio::spawn(async move {
            let (rd, wr) = s.into_split();
            let mut rd = BufReader::with_capacity(BUF, rd);
            let mut wr = BufWriter::with_capacity(BUF, wr);
            let mut h = [0u8; REQ_HEADER];
            let mut data = Vec::new();
            let src = vec![0x5Au8; 1 << 20];
            loop {
                if rd.read_exact(&mut h).await.is_err() {
                    return;
                }
                let len = u32::from_le_bytes([h[4], h[5], h[6], h[7]]) as usize;
                let mut resp = [0u8; RESP_HEADER];
                resp[0] = h[1];
                if h[0] == 1 {
                    data.resize(len, 0);
                    if rd.read_exact(&mut data).await.is_err() {
                        return;
                    }
                    if wr.write_all(&resp).await.is_err() {
                        return;
                    }
                } else if wr.write_all(&resp).await.is_err() || wr.write_all(&src[..len.min(src.len())]).await.is_err()
                {
                    return;
                }
                // Flush when no more request is already here (answers batch as the NVMe/TCP drivers' do).
                if rd.buffer().is_empty() && wr.flush().await.is_err() {
                    return;
                }
            }
        });
    }
}

/// A raw TCP closed loop: `CONNS` connections, `QD / CONNS` requests outstanding on each, `len` bytes each way
/// per request, for `secs`. Returns the requests completed and the elapsed time.
async fn raw_client(addr: std::net::SocketAddr, write: bool, len: usize, secs: Duration) -> (u64, Duration) {
    let done = Arc::new(AtomicU64::new(0));
    let start = tokio::time::Instant::now();
    let end = start + secs;
    let mut tasks = Vec::new();
    for _ in 0..CONNS {
        let s = TcpStream::connect(addr).await.unwrap();
        let _ = s.set_nodelay(true);
        let (rd, mut wr) = s.into_split();
        let mut rd = BufReader::with_capacity(BUF, rd);
        let sem = Arc::new(Semaphore::new(QD / CONNS));
        let (sem2, done2) = (sem.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            // The request: its header, then the data of a write, in one buffer (one write each).
            let mut req = vec![0u8; REQ_HEADER];
            req[0] = if write { 1 } else { 2 };
            req[4..8].copy_from_slice(&(len as u32).to_le_bytes());
            if write {
                req.resize(REQ_HEADER + len, 0xA5);
            }
            while tokio::time::Instant::now() < end {
                sem2.acquire().await.unwrap().forget();
                wr.write_all(&req).await.unwrap();
            }
            // The fence: a read of nothing, marked; its answer comes after every other.
            let mut fence = [0u8; REQ_HEADER];
            fence[0] = 2;
            fence[1] = FENCE;
            wr.write_all(&fence).await.unwrap();
            // Keep the connection open until the reader saw the fence.
            let _ = sem2.acquire_many(u32::MAX >> 4).await;
        }));
        tasks.push(tokio::spawn(async move {
            let mut resp = [0u8; RESP_HEADER];
            let mut data = vec![0u8; len];
            loop {
                if rd.read_exact(&mut resp).await.is_err() || resp[0] == FENCE {
                    break;
                }
                if !write && rd.read_exact(&mut data).await.is_err() {
                    break;
                }
                done2.fetch_add(1, Ordering::Relaxed);
                sem.add_permits(1);
            }
            sem.close();
        }));
    }
    let mut elapsed = Duration::ZERO;
    for t in tasks {
        let _ = t.await;
        elapsed = elapsed.max(start.elapsed());
    }
    (done.load(Ordering::Relaxed), elapsed)
}

/// One measured case.
struct Case {
    name: String,
    ops: u64,
    bytes: u64,
    elapsed: Duration,
    host_cpu: Duration,
    server_cpu: Duration,
}

impl Case {
    fn mib_s(&self) -> f64 {
        self.bytes as f64 / self.elapsed.as_secs_f64() / f64::from(1 << 20)
    }
    fn iops(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }
    fn print(&self) {
        let per = |c: Duration| c.as_secs_f64() * 1e6 / self.ops.max(1) as f64;
        println!(
            "{:44} {:>9.0} IOPS {:>9.1} MiB/s  CPU/IO host {:>6.1} us  server {:>6.1} us",
            self.name,
            self.iops(),
            self.mib_s(),
            per(self.host_cpu),
            per(self.server_cpu)
        );
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn main() {
    let secs = Duration::from_secs_f64(
        std::env::var("SOCKETS_SECS").ok().and_then(|s| s.parse::<f64>().ok()).filter(|s| *s > 0.0).unwrap_or(5.0),
    );
    let reps =
        std::env::var("SOCKETS_ROUNDS").ok().and_then(|s| s.parse::<usize>().ok()).filter(|&r| r > 0).unwrap_or(3);
    println!("load average before: {}", loadavg());
    let (target_addr, th) = server_thread(|| {
        Box::pin(async {
            let mut cfg = TargetConfig::new("127.0.0.1:0".parse().unwrap(), NQN);
            cfg.blocks = 256 * 1024; // 128 MiB of 512-byte blocks
            let t = Target::start(cfg).await.unwrap();
            let a = t.local_addr();
            std::mem::forget(t);
            a
        })
    });
    let (raw_addr, rh) = server_thread(|| {
        Box::pin(async {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let a = l.local_addr().unwrap();
            tokio::spawn(raw_server(l));
            a
        })
    });
    let rt = Builder::new_current_thread().enable_all().build().unwrap();
    let mut cases: Vec<Case> = Vec::new();
    rt.block_on(async {
        let raw = |write: bool, len: usize| {
            let rh = rh.clone();
            async move {
                let (c0, s0) = (thread_cpu(), cpu_of(&rh).await);
                let (ops, elapsed) = raw_client(raw_addr, write, len, secs).await;
                let (c1, s1) = (thread_cpu(), cpu_of(&rh).await);
                let kind = if write { "write" } else { "read" };
                Case {
                    name: format!("raw TCP {kind} {} KiB QD{QD}", len / 1024),
                    ops,
                    bytes: ops * len as u64,
                    elapsed,
                    host_cpu: c1 - c0,
                    server_cpu: s1 - s0,
                }
            }
        };
        let nvme = |pattern: Pattern, len: usize, digests: Digests| {
            let th = th.clone();
            async move {
                let mut cfg = HostConfig::new(NQN, "bench");
                cfg.fabric.digests = digests.into();
                let (mp, _ev) = Multipath::connect(&[target_addr], &cfg).await.unwrap();
                let (c0, s0) = (thread_cpu(), cpu_of(&th).await);
                let mut p = PerfParams::new(pattern, len, QD, secs);
                p.region_blocks = Some(256 * 1024);
                let t = perf::run(&mp, &p, |_| {}).await.unwrap();
                let (c1, s1) = (thread_cpu(), cpu_of(&th).await);
                mp.close().await;
                assert_eq!(t.failed, 0);
                Case {
                    name: format!("NVMe/TCP {} {} KiB QD{QD} digests {digests:?}", pattern.name(), len / 1024),
                    ops: t.ok,
                    bytes: t.bytes,
                    elapsed: t.elapsed,
                    host_cpu: c1 - c0,
                    server_cpu: s1 - s0,
                }
            }
        };
        for rep in 1..=reps {
            println!("round {rep} of {reps} (load average {})", loadavg());
            for (write, pattern) in [(false, Pattern::SeqRead), (true, Pattern::SeqWrite)] {
                let r = raw(write, 128 * 1024).await;
                r.print();
                let off = nvme(pattern, 128 * 1024, Digests::None).await;
                off.print();
                let on = nvme(pattern, 128 * 1024, Digests::Both).await;
                on.print();
                println!(
                    "  ratio to raw TCP: digests off {:.2}, digests on {:.2}",
                    off.mib_s() / r.mib_s(),
                    on.mib_s() / r.mib_s()
                );
                cases.extend([r, off, on]);
            }
            for (write, pattern) in [(false, Pattern::RandRead), (true, Pattern::RandWrite)] {
                let r = raw(write, 4096).await;
                r.print();
                let off = nvme(pattern, 4096, Digests::None).await;
                off.print();
                println!("  ratio to raw TCP: {:.2}", off.iops() / r.iops());
                cases.extend([r, off]);
            }
        }
    });
    // The median of each case over the rounds, as a Markdown table.
    println!(
        "\n| case | IOPS | MiB/s | ratio to raw TCP | CPU/IO host (us) | CPU/IO server (us) |\n|---|---|---|---|---|---|"
    );
    let names: Vec<String> = cases.iter().take(cases.len() / reps.max(1)).map(|c| c.name.clone()).collect();
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut raw_mib = 0.0;
    for name in &names {
        let of: Vec<&Case> = cases.iter().filter(|c| &c.name == name).collect();
        let per = |c: &Case, cpu: Duration| cpu.as_secs_f64() * 1e6 / c.ops.max(1) as f64;
        let mib = median(&mut of.iter().map(|c| c.mib_s()).collect());
        if name.starts_with("raw") {
            raw_mib = mib;
        }
        println!(
            "| {name} | {:.0} | {mib:.1} | {} | {:.1} | {:.1} |",
            median(&mut of.iter().map(|c| c.iops()).collect()),
            if name.starts_with("raw") { "1".to_string() } else { format!("{:.2}", mib / raw_mib) },
            median(&mut of.iter().map(|c| per(c, c.host_cpu)).collect()),
            median(&mut of.iter().map(|c| per(c, c.server_cpu)).collect()),
        );
    }
    println!("load average after: {}", loadavg());
}
