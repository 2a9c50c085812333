//! A fio-style load over a [`Multipath`] host: `depth` commands kept outstanding (closed loop), random or
//! sequential, reads, writes or both, for a fixed time. Every completion is handed to the caller as a [`Sample`]
//! (when, read or write, latency, bytes, success); what to make of them (intervals, throughput over time, the dip,
//! percentiles) is the caller's (nvme-lab feeds nvme-sim's metrics). Nothing here is protocol: the commands go
//! through the host's public API.
//!
//! Buffers: each of the `depth` workers owns one buffer of the block size, lent to the host for every read
//! ([`Multipath::read_buf`]: the host reads into it and gives it back) and shared for every write
//! ([`Multipath::write_shared`]), so the steady state allocates no data buffer per command.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::host::{HostError, Multipath};

/// What the load does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pattern {
    /// Random reads.
    RandRead,
    /// Random writes.
    RandWrite,
    /// Random reads and writes, `read_percent` % reads.
    RandRw {
        /// Share of reads, percent (0..=100).
        read_percent: u8,
    },
    /// Sequential reads (the workers share one cursor, as fio's `rw=read` with `iodepth`).
    SeqRead,
    /// Sequential writes.
    SeqWrite,
}

impl Pattern {
    /// The fio name (`randread`, `randwrite`, `randrw`, `seqread`, `seqwrite`).
    pub fn name(self) -> &'static str {
        match self {
            Pattern::RandRead => "randread",
            Pattern::RandWrite => "randwrite",
            Pattern::RandRw { .. } => "randrw",
            Pattern::SeqRead => "seqread",
            Pattern::SeqWrite => "seqwrite",
        }
    }

    fn random(self) -> bool {
        matches!(self, Pattern::RandRead | Pattern::RandWrite | Pattern::RandRw { .. })
    }
}

/// The load's parameters.
#[derive(Clone, Copy, Debug)]
pub struct PerfParams {
    /// What it does.
    pub pattern: Pattern,
    /// Bytes per command (whole blocks, at most the host's transfer limit).
    pub block: usize,
    /// Commands kept outstanding (one worker each).
    pub depth: usize,
    /// How long commands are started for; those outstanding at the end are waited for (bounded by `drain`).
    pub duration: Duration,
    /// The longest wait for the commands outstanding at the end; workers still waiting then are abandoned.
    pub drain: Duration,
    /// Blocks of the namespace used from block 0 (`None`: all of it).
    pub region_blocks: Option<u64>,
    /// Seed of the random offsets and of the read/write choice.
    pub seed: u64,
}

impl PerfParams {
    /// `pattern` with `block` bytes at `depth` for `duration`; drain bound 60 s, the whole namespace, seed 1.
    pub fn new(pattern: Pattern, block: usize, depth: usize, duration: Duration) -> Self {
        PerfParams { pattern, block, depth, duration, drain: Duration::from_secs(60), region_blocks: None, seed: 1 }
    }
}

/// One completed command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// When it completed, since the start of the load.
    pub at: Duration,
    /// A read (else a write).
    pub read: bool,
    /// Submission to completion.
    pub latency: Duration,
    /// Bytes it moved.
    pub bytes: u32,
    /// It succeeded (else the host failed it: counted, not moved).
    pub ok: bool,
}

/// The load's totals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PerfTotals {
    /// Commands that succeeded.
    pub ok: u64,
    /// Commands the host failed.
    pub failed: u64,
    /// Bytes moved by the commands that succeeded.
    pub bytes: u64,
    /// From the start to the last completion.
    pub elapsed: Duration,
    /// Workers abandoned at the drain bound.
    pub abandoned: usize,
}

/// Why the load could not run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PerfError {
    /// Block size not whole blocks of the namespace, above the transfer limit, or zero; depth zero; or the region
    /// smaller than one command.
    Params,
}

impl std::fmt::Display for PerfError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("block size must be whole blocks within the transfer limit, depth at least 1, region at least one block size")
    }
}

impl std::error::Error for PerfError {}

/// splitmix64: the offsets and the read/write choice (reproducible from the seed, no RNG crate for a load).
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Runs the load on `mp` and calls `on_sample` with every completion, in completion order, from the caller's task.
/// Returns once every worker finished (or the drain bound passed).
pub async fn run(mp: &Multipath, p: &PerfParams, mut on_sample: impl FnMut(Sample)) -> Result<PerfTotals, PerfError> {
    let ns = mp.namespace();
    let bs = ns.block_size as usize;
    if p.depth == 0 || p.block == 0 || !p.block.is_multiple_of(bs) || p.block > mp.max_transfer() {
        return Err(PerfError::Params);
    }
    let per = (p.block / bs) as u64;
    let region = p.region_blocks.unwrap_or(ns.blocks).min(ns.blocks);
    let slots = region / per;
    if slots == 0 {
        return Err(PerfError::Params);
    }
    let start = Instant::now();
    let end = start + p.duration;
    let cursor = Arc::new(AtomicU64::new(0));
    let (tx, mut rx) = mpsc::channel::<Sample>(p.depth * 4);
    let mut set = JoinSet::new();
    for w in 0..p.depth {
        let (mp, tx, cursor, pattern) = (mp.clone(), tx.clone(), cursor.clone(), p.pattern);
        let mut rng = p.seed ^ (w as u64).wrapping_mul(0xA24B_AED4_963E_E407);
        let block = p.block;
        set.spawn(async move {
            let mut buf = vec![0u8; block];
            let wbuf: Arc<[u8]> = (0..block).map(|i| (i as u8) ^ (w as u8)).collect();
            while Instant::now() < end {
                let slot = if pattern.random() {
                    next(&mut rng) % slots
                } else {
                    cursor.fetch_add(1, Ordering::Relaxed) % slots
                };
                let read = match pattern {
                    Pattern::RandRead | Pattern::SeqRead => true,
                    Pattern::RandWrite | Pattern::SeqWrite => false,
                    Pattern::RandRw { read_percent } => next(&mut rng) % 100 < u64::from(read_percent),
                };
                let t0 = Instant::now();
                let r = if read {
                    match mp.read_buf(slot * per, std::mem::take(&mut buf)).await {
                        Ok(b) => {
                            buf = b;
                            Ok(())
                        }
                        Err(e) => {
                            buf = vec![0u8; block];
                            Err(e)
                        }
                    }
                } else {
                    mp.write_shared(slot * per, wbuf.clone()).await
                };
                let now = Instant::now();
                let s = Sample { at: now - start, read, latency: now - t0, bytes: block as u32, ok: r.is_ok() };
                if tx.send(s).await.is_err() || r == Err(HostError::Closed) {
                    return;
                }
            }
        });
    }
    drop(tx);
    let mut totals = PerfTotals::default();
    let drain_end = end + p.drain;
    loop {
        match tokio::time::timeout_at(drain_end, rx.recv()).await {
            Ok(Some(s)) => {
                if s.ok {
                    totals.ok += 1;
                    totals.bytes += u64::from(s.bytes);
                } else {
                    totals.failed += 1;
                }
                totals.elapsed = totals.elapsed.max(s.at);
                on_sample(s);
            }
            Ok(None) => break,
            Err(_) => {
                set.abort_all();
                break;
            }
        }
    }
    while let Some(r) = set.join_next().await {
        if r.is_err_and(|e| e.is_cancelled()) {
            totals.abandoned += 1;
        }
    }
    Ok(totals)
}
