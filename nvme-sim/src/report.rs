//! What a run produced: the checker's verdict, latencies, the recovery timeline and (optionally) the wire capture.

use core::time::Duration;

use serde::Serialize;

use crate::metrics::{AdminStats, Series, Summary};

/// One line of the recovery timeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TimelineEntry {
    /// Virtual time since the start of the run.
    pub at: Duration,
    /// The path concerned (0-based; path 0 is controller 1), if any.
    pub path: Option<usize>,
    /// What happened, in words ("controller 1 failed: connection closed by the target", "CCR sent via controller 2", ...).
    pub what: String,
}

/// One completed application I/O.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct LatencySample {
    /// Completion time (virtual, since start).
    pub at: Duration,
    /// Submission to completion as the application saw it (retries and holds included).
    pub latency: Duration,
    /// NVM opcode (1 Write, 2 Read).
    pub opcode: u8,
    /// Path (0-based) whose controller completed it.
    pub path: usize,
    /// Bytes moved (4096, or 131072 for the sequential workloads).
    pub bytes: u32,
}

/// One segment on the simulated wire: whole PDUs, as many as one `poll_transmit` of the sender gave (recorded when
/// [`Scenario::capture`](crate::Scenario::capture) is set).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WireRecord {
    /// Virtual time at which the sender put it on the wire.
    pub at: Duration,
    /// Path (0-based).
    pub path: usize,
    /// NVMe queue the TCP connection carries (0 = admin, 1 = I/O).
    pub queue: u16,
    /// `true` host to controller, `false` controller to host.
    pub to_controller: bool,
    /// The PDUs, digests included.
    pub bytes: Vec<u8>,
    /// Which TCP connection of that path and queue (0 for the first association, 1 after the first reconnect, ...).
    pub connection: u32,
}

/// Everything one [`run`](crate::run) reports.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Report {
    /// Checker verdict: rw_test validation failed, or the register check was violated.
    pub corrupted: bool,
    /// Human-readable checker violations (empty when not corrupted).
    pub violations: Vec<String>,
    /// The first invariant of the host's recovery engine that nvme-ccr's monitor saw broken (no release without
    /// proof, the hold and its extension, CCRL, well-formed outputs), if any.
    pub engine_violation: Option<String>,
    /// Application I/O commands completed successfully.
    pub commands_completed: u64,
    /// Largest application I/O latency (the stall a user sees).
    pub max_latency: Duration,
    /// 99th percentile application I/O latency (nearest rank).
    pub p99_latency: Duration,
    /// Virtual time of the first failure detection (since start).
    pub detect: Option<Duration>,
    /// From that detection to the release of the held commands (`None` if nothing was held).
    pub release: Option<Duration>,
    /// Failure, fencing, CCR sent/succeeded, fallback, release, reconnect, checker verdicts.
    pub timeline: Vec<TimelineEntry>,
    /// One sample per completed application I/O, in completion order.
    pub latencies: Vec<LatencySample>,
    /// Every segment on the wire, in time order (only when capturing).
    pub wire: Vec<WireRecord>,
    /// rw_test: the exact stdout/stderr lines the Linux test's rw_test program prints.
    pub rw_test_output: Vec<String>,
    /// rw_test: the exit status the Linux test's rw_test program would return (0 all iterations passed, 1 at the first failure);
    /// `None` for other workloads or when the run hit its time limit first.
    pub rw_test_exit: Option<i32>,
    /// Virtual time the run covered.
    pub sim_time: Duration,
    /// Number of discrete events processed (a cost measure).
    pub events: u64,
    /// Commands held at fencing starts (sum over every fenced controller; released-at-once ones not counted).
    pub held: u64,
    /// CCRs the host sent.
    pub ccrs_sent: u64,
    /// Times the host fell back to the time-based hold (no CCR source left, or a policy without CCR).
    pub fallbacks: u64,
    /// Throughput and latency metrics ([`crate::metrics`]): latencies split into reads and writes, and the dip
    /// around the fault time (in 100 ms windows).
    pub metrics: Summary,
    /// Completions per 100 ms bin over the run.
    pub throughput: Series,
    /// The admin stream's reads (SMART / Health log, side-effect-free): sent, answered, failed, and the admin stall.
    pub admin: AdminStats,
}
