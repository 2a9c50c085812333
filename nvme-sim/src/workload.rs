//! The application side: `rw_test` exactly as the seed program, and queue-depth read / write / mixed workloads.
//!
//! A workload only submits I/Os and reacts to their completions and to its own timers; the simulator routes them.

use std::sync::Arc;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::checker::Value;
use crate::clock::{Nanos, SEC, ns};
use crate::scenario::{Scenario, WorkloadKind};

/// Size of one logical block and of every simulated I/O.
pub(crate) const BLOCK: usize = 4096;

/// rw_test: writes per iteration.
const RW_WRITES: u8 = 10;
/// rw_test: sleep after the writes.
const RW_SLEEP_AFTER_WRITES: Nanos = 5 * SEC;
/// rw_test: sleep after the check.
const RW_SLEEP_AFTER_CHECK: Nanos = 3 * SEC;
/// rw_test: iterations of the seed program.
pub(crate) const RW_ITERATIONS: u32 = 255;

/// An application I/O.
#[derive(Clone, Debug)]
pub(crate) struct AppIo {
    /// Unique number (also the checker's write identity).
    pub(crate) op: u64,
    pub(crate) write: bool,
    pub(crate) lba: u64,
    /// Write data (4096 bytes); empty for reads.
    pub(crate) data: Arc<[u8]>,
    pub(crate) worker: usize,
    pub(crate) value: Value,
}

/// What a workload asks of the simulator.
#[derive(Default)]
pub(crate) struct WlOut {
    pub(crate) submit: Vec<AppIo>,
    /// (wake-up time, worker)
    pub(crate) timers: Vec<(Nanos, usize)>,
    pub(crate) lines: Vec<String>,
}

/// How the checker reads a block's value.
#[derive(Clone, Copy)]
pub(crate) enum Codec {
    /// Every byte is the value (rw_test); a block of mixed bytes is `u64::MAX`.
    Fill,
    /// The first 8 bytes are the writer's op number (0 = never written).
    Tagged,
}

impl Codec {
    /// The value a block holds.
    pub(crate) fn value(self, block: &[u8]) -> Value {
        match self {
            Codec::Fill => match block.first() {
                Some(&b) if block.iter().all(|&x| x == b) => Value::from(b),
                Some(_) => u64::MAX,
                None => 0,
            },
            Codec::Tagged => {
                if block.len() < 8 {
                    return 0;
                }
                u64::from_le_bytes(block[..8].try_into().unwrap_or([0; 8]))
            }
        }
    }
}

enum RwStep {
    Writing(u8),
    SleepBeforeRead,
    Reading,
    SleepAfterRead,
}

struct RwTest {
    iterations: u32,
    iter: u32,
    step: RwStep,
    exit: Option<i32>,
}

struct Qd {
    kind: WorkloadKind,
    until: Nanos,
    depth: usize,
    think: Nanos,
    blocks: u64,
    busy: usize,
}

enum Kind {
    Rw(RwTest),
    Qd(Qd),
}

/// A running workload.
pub(crate) struct Workload {
    kind: Kind,
    next_op: u64,
    pub(crate) codec: Codec,
}

impl Workload {
    pub(crate) fn new(s: &Scenario) -> Workload {
        let (kind, codec) = match s.workload {
            WorkloadKind::RwTest => (
                Kind::Rw(RwTest {
                    iterations: s.iterations.unwrap_or(RW_ITERATIONS),
                    iter: 0,
                    step: RwStep::Writing(0),
                    exit: None,
                }),
                Codec::Fill,
            ),
            k => (
                Kind::Qd(Qd {
                    kind: k,
                    until: ns(s.duration),
                    depth: s.queue_depth.max(1),
                    think: ns(s.think_time),
                    blocks: s.blocks.max(1),
                    busy: 0,
                }),
                Codec::Tagged,
            ),
        };
        Workload { kind, next_op: 1, codec }
    }

    fn io(&mut self, write: bool, lba: u64, fill: Option<u8>, worker: usize) -> AppIo {
        let op = self.next_op;
        self.next_op += 1;
        let (data, value): (Arc<[u8]>, Value) = match (write, fill) {
            (false, _) => (Arc::new([]), 0),
            (true, Some(b)) => (vec![b; BLOCK].into(), Value::from(b)),
            (true, None) => {
                let mut d = vec![op as u8; BLOCK];
                d[..8].copy_from_slice(&op.to_le_bytes());
                (d.into(), op)
            }
        };
        AppIo { op, write, lba, data, worker, value }
    }

    /// Start: the first submissions.
    pub(crate) fn start(&mut self, now: Nanos, rng: &mut ChaCha8Rng, out: &mut WlOut) {
        match &mut self.kind {
            Kind::Rw(rw) => {
                if rw.iterations == 0 {
                    rw.exit = Some(0);
                    return;
                }
                out.lines.push("iteration number 0, writing data".to_string());
                let io = self.io(true, 0, Some(0), 0);
                out.submit.push(io);
            }
            Kind::Qd(q) => {
                let depth = q.depth;
                for w in 0..depth {
                    self.next_io(now, rng, w, out);
                }
            }
        }
    }

    fn next_io(&mut self, now: Nanos, rng: &mut ChaCha8Rng, worker: usize, out: &mut WlOut) {
        let Kind::Qd(q) = &mut self.kind else { return };
        if now >= q.until {
            return;
        }
        let write = match q.kind {
            WorkloadKind::Read => false,
            WorkloadKind::Write => true,
            _ => rng.random_bool(0.5),
        };
        let lba = rng.random_range(0..q.blocks);
        q.busy += 1;
        let io = self.io(write, lba, None, worker);
        out.submit.push(io);
    }

    /// An I/O completed; `data` is the read data.
    pub(crate) fn complete(&mut self, now: Nanos, rng: &mut ChaCha8Rng, io: &AppIo, data: &[u8], out: &mut WlOut) {
        match &mut self.kind {
            Kind::Rw(rw) => match rw.step {
                RwStep::Writing(k) if k + 1 < RW_WRITES => {
                    rw.step = RwStep::Writing(k + 1);
                    let io = self.io(true, 0, Some(k + 1), 0);
                    out.submit.push(io);
                }
                RwStep::Writing(_) => {
                    rw.step = RwStep::SleepBeforeRead;
                    out.timers.push((now + RW_SLEEP_AFTER_WRITES, 0));
                }
                RwStep::Reading => {
                    if data.len() == BLOCK && data.iter().all(|&b| b == RW_WRITES - 1) {
                        out.lines.push("successfully validated".to_string());
                        rw.step = RwStep::SleepAfterRead;
                        out.timers.push((now + RW_SLEEP_AFTER_CHECK, 0));
                    } else {
                        out.lines.push("validation failed".to_string());
                        rw.exit = Some(1);
                    }
                }
                _ => {}
            },
            Kind::Qd(q) => {
                q.busy -= 1;
                let t = now + q.think;
                if t < q.until {
                    out.timers.push((t, io.worker));
                }
                let _ = rng;
            }
        }
    }

    /// An I/O failed: a queue-depth worker goes on after its think time; rw_test, blocked in that I/O as the seed
    /// program would be, issues nothing more (the run ends at its time limit, which the timeline reports).
    pub(crate) fn failed(&mut self, now: Nanos, io: &AppIo, out: &mut WlOut) {
        if let Kind::Qd(q) = &mut self.kind {
            q.busy -= 1;
            let t = now + q.think;
            if t < q.until {
                out.timers.push((t, io.worker));
            }
        }
    }

    /// A timer of `worker` fired.
    pub(crate) fn timer(&mut self, now: Nanos, rng: &mut ChaCha8Rng, worker: usize, out: &mut WlOut) {
        match &mut self.kind {
            Kind::Rw(rw) => match rw.step {
                RwStep::SleepBeforeRead => {
                    out.lines.push("validating written data".to_string());
                    rw.step = RwStep::Reading;
                    let io = self.io(false, 0, None, 0);
                    out.submit.push(io);
                }
                RwStep::SleepAfterRead => {
                    rw.iter += 1;
                    if rw.iter >= rw.iterations {
                        rw.exit = Some(0);
                    } else {
                        out.lines.push(format!("iteration number {}, writing data", rw.iter));
                        rw.step = RwStep::Writing(0);
                        let io = self.io(true, 0, Some(0), 0);
                        out.submit.push(io);
                    }
                }
                _ => {}
            },
            Kind::Qd(_) => self.next_io(now, rng, worker, out),
        }
    }

    /// Whether the application is finished (rw_test exited; queue-depth: past its duration with nothing outstanding).
    pub(crate) fn done(&self, now: Nanos) -> bool {
        match &self.kind {
            Kind::Rw(rw) => rw.exit.is_some(),
            Kind::Qd(q) => now >= q.until && q.busy == 0,
        }
    }

    /// rw_test exit status, if it exited.
    pub(crate) fn exit(&self) -> Option<i32> {
        match &self.kind {
            Kind::Rw(rw) => rw.exit,
            Kind::Qd(_) => None,
        }
    }

    /// Whether this is rw_test.
    pub(crate) fn is_rw_test(&self) -> bool {
        matches!(self.kind, Kind::Rw(_))
    }
}
