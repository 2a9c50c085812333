//! What to simulate: the scenario knobs, with the Linux failover test's values as defaults, and random fault schedules.

use core::fmt;
use core::str::FromStr;
use core::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use nvme_ccr::{CcrSources, CcrWait, Cqt0Rule};

use crate::Policy;

/// The application workload the simulated host runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WorkloadKind {
    /// The Linux failover test's `rw_test` ([`nvme_ccr::notes::ccr_cqt`] §10): per iteration 10 synchronous 4 KiB writes of byte
    /// value 0..9 to offset 0, sleep 5 s, read back and check every byte is 9, sleep 3 s; stops at the first failure.
    RwTest,
    /// Read-only, queue depth [`Scenario::queue_depth`], random blocks of [`Scenario::blocks`]. Cannot corrupt: shows stalls.
    Read,
    /// Write-only, queue depth [`Scenario::queue_depth`], random blocks of [`Scenario::blocks`].
    Write,
    /// Mixed reads and writes (half each), queue depth [`Scenario::queue_depth`].
    ReadWrite,
    /// Sequential reads of 128 KiB ([`SEQ_IO_BLOCKS`] blocks), queue depth [`Scenario::queue_depth`], wrapping
    /// around the first [`Scenario::blocks`] blocks.
    SeqRead,
    /// Sequential writes of 128 KiB, as [`WorkloadKind::SeqRead`].
    SeqWrite,
}

/// Blocks (4 KiB) per I/O of the sequential workloads: 128 KiB.
pub const SEQ_IO_BLOCKS: u32 = 32;

impl WorkloadKind {
    /// The matrix's workloads, in matrix order (those `explore` draws from).
    pub const ALL: [WorkloadKind; 4] =
        [WorkloadKind::RwTest, WorkloadKind::Read, WorkloadKind::Write, WorkloadKind::ReadWrite];

    /// Every workload: [`WorkloadKind::ALL`] and the sequential 128 KiB ones.
    pub const GRID: [WorkloadKind; 6] = [
        WorkloadKind::RwTest,
        WorkloadKind::Read,
        WorkloadKind::Write,
        WorkloadKind::ReadWrite,
        WorkloadKind::SeqRead,
        WorkloadKind::SeqWrite,
    ];

    /// Blocks per I/O (1, or [`SEQ_IO_BLOCKS`] for the sequential workloads).
    pub const fn io_blocks(self) -> u32 {
        match self {
            WorkloadKind::SeqRead | WorkloadKind::SeqWrite => SEQ_IO_BLOCKS,
            _ => 1,
        }
    }

    /// The command-line name.
    pub const fn name(self) -> &'static str {
        match self {
            WorkloadKind::RwTest => "rw_test",
            WorkloadKind::Read => "read",
            WorkloadKind::Write => "write",
            WorkloadKind::ReadWrite => "readwrite",
            WorkloadKind::SeqRead => "seqread",
            WorkloadKind::SeqWrite => "seqwrite",
        }
    }
}

impl fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not one of the known values (workload, fault).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownName {
    /// What kind of name was expected ("workload", "fault").
    pub what: &'static str,
    /// The name given.
    pub given: String,
    /// The accepted names.
    pub expected: &'static [&'static str],
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown {} {:?}: expected one of {}", self.what, self.given, self.expected.join(", "))
    }
}

impl std::error::Error for UnknownName {}

impl FromStr for WorkloadKind {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        WorkloadKind::GRID.into_iter().find(|w| w.name() == s).ok_or_else(|| UnknownName {
            what: "workload",
            given: s.to_string(),
            expected: &["rw_test", "read", "write", "readwrite", "seqread", "seqwrite"],
        })
    }
}

/// The injected fault ([`nvme_ccr::notes::ccr_cqt`] §11; `spec-notes/simulator.md` for the new ones).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// `fopcode <opcode> <delay>` on controller 1: the first matching command is accepted, lands on the media only
    /// after the delay and cannot be cancelled; the controller fails at once and closes its connections.
    Fopcode,
    /// Path 1 goes silent without closing, the instant controller 1 accepts the first command matching
    /// [`Scenario::fopcode`]; that command is stuck in the backend for [`Scenario::delay`] (the "freeze-time service").
    Freeze,
    /// As `Fopcode`, and every CCR is accepted but then reported Failed in the CCR log (with the AEN).
    CcrFail,
    /// As `Fopcode`, and the target answers the CCR opcode with Invalid Command Opcode (DNR).
    CcrUnsupported,
    /// An HA node failover: the subsystem has two nodes of two paths each (at least four paths); node A (paths 0
    /// and 1) fails. Path 0 fails as `Fopcode`; at the same instant path 1 goes silent as `Freeze` (its controller
    /// holds a stuck command too), so the first CCR source for controller 1 (ascending CNTLID: controller 2) is on
    /// the failing node and never answers; node B (paths 2, 3) stays healthy.
    NodeFailover,
    /// Partial packet loss: from the fault time, for [`Scenario::loss_window`], each segment on path 0 is lost with
    /// this probability, in percent (1..=50), and retransmitted after the RTO (doubled per repeated loss).
    Loss(u8),
    /// A loss burst: every segment sent on path 0 during [`Scenario::burst`] from the fault time is lost until the
    /// burst ends; TCP retransmits it at `now + RTO x (2^k - 1)`, the first such time after the burst.
    LossBurst,
    /// No fault.
    None,
}

impl FaultKind {
    /// The matrix's faults, in matrix order (`None` last).
    pub const ALL: [FaultKind; 5] =
        [FaultKind::Fopcode, FaultKind::Freeze, FaultKind::CcrFail, FaultKind::CcrUnsupported, FaultKind::None];

    /// Every fault of the experiment's grid (the loss rates 1 %, 5 % and 20 %; `None` left out).
    pub const GRID: [FaultKind; 9] = [
        FaultKind::Fopcode,
        FaultKind::NodeFailover,
        FaultKind::Loss(1),
        FaultKind::Loss(5),
        FaultKind::Loss(20),
        FaultKind::LossBurst,
        FaultKind::Freeze,
        FaultKind::CcrFail,
        FaultKind::CcrUnsupported,
    ];

    /// The command-line name: `fopcode`, `freeze`, `ccr-fail`, `ccr-unsupported`, `node-failover`, `loss-<pct>`,
    /// `loss-burst`, `none`.
    pub fn name(self) -> String {
        self.to_string()
    }

    /// Whether the fault makes a controller fail (so that commands are held), as opposed to loss, which only delays.
    pub const fn fails_a_controller(self) -> bool {
        !matches!(self, FaultKind::Loss(_) | FaultKind::LossBurst | FaultKind::None)
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultKind::Fopcode => f.write_str("fopcode"),
            FaultKind::Freeze => f.write_str("freeze"),
            FaultKind::CcrFail => f.write_str("ccr-fail"),
            FaultKind::CcrUnsupported => f.write_str("ccr-unsupported"),
            FaultKind::NodeFailover => f.write_str("node-failover"),
            FaultKind::Loss(p) => write!(f, "loss-{p}"),
            FaultKind::LossBurst => f.write_str("loss-burst"),
            FaultKind::None => f.write_str("none"),
        }
    }
}

impl FromStr for FaultKind {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let unknown = || UnknownName {
            what: "fault",
            given: s.to_string(),
            expected: &[
                "fopcode",
                "freeze",
                "ccr-fail",
                "ccr-unsupported",
                "node-failover",
                "loss-<pct> (1..=50)",
                "loss-burst",
                "none",
            ],
        };
        if let Some(p) = s.strip_prefix("loss-").filter(|p| p.bytes().all(|b| b.is_ascii_digit()) && !p.is_empty()) {
            return match p.parse::<u8>() {
                Ok(p @ 1..=50) => Ok(FaultKind::Loss(p)),
                _ => Err(unknown()),
            };
        }
        [
            FaultKind::Fopcode,
            FaultKind::Freeze,
            FaultKind::CcrFail,
            FaultKind::CcrUnsupported,
            FaultKind::NodeFailover,
            FaultKind::LossBurst,
            FaultKind::None,
        ]
        .into_iter()
        .find(|w| w.name() == s)
        .ok_or_else(unknown)
    }
}

/// What a [`FaultSpec`] does to its path when it fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PathFault {
    /// The controller fails at once and closes its connections ([`nvme_ccr::notes::ccr_cqt`] §11 `fopcode`).
    Fatal,
    /// The path goes silent in both directions; the connections stay open ([`nvme_ccr::notes::ccr_cqt`] §11 `freeze`).
    Freeze,
}

/// One more path fault, on top of [`Scenario::fault`] (used by random schedules: several failures at once).
///
/// It fires on the first command with opcode `opcode` that the controller of path `path` accepts at or after `at`
/// (armed at `at` on the path's live controller, or on the next one to connect there); that command is stuck in the
/// backend for `delay`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FaultSpec {
    /// Path index (0-based; path 0 is controller 1).
    pub path: usize,
    /// What happens to the path.
    pub kind: PathFault,
    /// The I/O opcode that triggers it (1 = Write, 2 = Read).
    pub opcode: u8,
    /// Earliest virtual time (since start) at which it is armed.
    pub at: Duration,
    /// How long the triggering command stays in the backend before it lands.
    pub delay: Duration,
}

/// One simulation: policy, workload, fault and every timing knob. `Default` gives the Linux failover test's values
/// ([`nvme_ccr::notes::ccr_cqt`] §11: KATO 5000 ms, TBKAS on, CQT 1 ms, fopcode 1 (Write) with 2000 ms, two paths).
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// Host recovery policy.
    pub policy: Policy,
    /// Application workload.
    pub workload: WorkloadKind,
    /// The fault on path 0 (controller 1).
    pub fault: FaultKind,
    /// Keep Alive Timeout sent in the admin Connect (default 5000 ms).
    pub kato: Duration,
    /// CQT the target reports in Identify Controller (default 1 ms); `Duration::ZERO` = CQT 0, "not reported".
    pub cqt: Duration,
    /// The host's fallback F used in CQT's place when a controller reports CQT 0 (default 10 s).
    pub cqt_fallback: Duration,
    /// Traffic-based keep alive (CTRATT.TBKAS) on the target (default true).
    pub tbkas: bool,
    /// How long the fault's stuck command stays in the backend (fopcode delay, default 2000 ms).
    pub delay: Duration,
    /// Opcode that triggers the fault (default 1 = Write). A read-only workload never sends a Write; there the fault
    /// triggers on Read instead (noted in the timeline).
    pub fopcode: u8,
    /// Seed of the one ChaCha8 generator (link jitter, loss, service times, CIU/CIRN, workload choices).
    pub seed: u64,
    /// Number of paths = controllers (default 2).
    pub paths: usize,
    /// rw_test iterations (`None` = 255, the Linux test's rw_test program).
    pub iterations: Option<u32>,
    /// Record every PDU on the simulated wire in [`Report::wire`](crate::Report::wire).
    pub capture: bool,
    /// Queue-depth workloads: how long the application issues I/O (default 60 s).
    pub duration: Duration,
    /// Queue-depth workloads: outstanding commands (default 4).
    pub queue_depth: usize,
    /// Queue-depth workloads: think time between a completion and the worker's next command (default 10 ms).
    pub think_time: Duration,
    /// Queue-depth workloads: number of 4 KiB blocks touched, LBAs 0..blocks (default 4).
    pub blocks: u64,
    /// The fault is armed at this virtual time: the first matching command after it triggers (default: 0 for
    /// rw_test, 5 s for the other workloads, so the graph shows normal latencies first; `None` = that default).
    pub fault_at: Option<Duration>,
    /// More faults (several failures at once); empty by default.
    pub extra_faults: Vec<FaultSpec>,
    /// One-way link latency (default 100 us).
    pub link_latency: Duration,
    /// Uniform random extra latency per PDU, 0..=jitter (default 20 us).
    pub link_jitter: Duration,
    /// Probability that a PDU's segment is lost and retransmitted (default 0).
    pub loss: f64,
    /// TCP retransmission timeout added per loss (default 200 ms; doubles per consecutive loss of one segment).
    pub rto: Duration,
    /// Minimum I/O service time per command on a controller (default 50 us).
    pub service_min: Duration,
    /// Maximum I/O service time per command on a controller (default 100 us).
    pub service_max: Duration,
    /// Fixed part of a controller teardown after its last outstanding command finished (default 10 ms).
    pub teardown: Duration,
    /// Host reconnect delay after a controller is released (default 1 s; Linux uses 10 s).
    pub reconnect_delay: Duration,
    /// The target answers a CCR with IRS = 1 when the impacted controller can be torn down at once (nothing
    /// outstanding); default false (Linux nvmet never sets IRS).
    pub immediate_reset: bool,
    /// CCRL the target reports (default 4, Linux nvmet).
    pub ccrl: u8,
    /// The host's wait for one CCR (default `KATO + CQT`).
    pub ccr_wait: CcrWait,
    /// Every CCR source in turn (default) or the first one only.
    pub ccr_sources: CcrSources,
    /// What CQT = 0 means to the host (default: the fallback F; `Immediate` is the Linux RFC, unsafe).
    pub cqt0_rule: Cqt0Rule,
    /// `loss-<pct>`: how long the loss lasts from the fault time (default 10 s).
    pub loss_window: Duration,
    /// Media bandwidth per controller, bytes per second: a command's transfer time (its length / bandwidth) is added
    /// to its service time; 0 (the default) adds nothing.
    pub media_bandwidth: u64,
    /// `loss-burst`: how long every segment on path 0 is lost (default 3 s, less than KATO: a stall without
    /// failover at the defaults).
    pub burst: Duration,
    /// The admin stream (`spec-notes/simulator.md`, "The admin stream"): one side-effect-free Get Log Page (SMART /
    /// Health, RAE = 1) to every live controller this often, the first one interval after the application start, at
    /// most one outstanding per controller (default 1 s; zero: no admin stream). What a real host has on its admin
    /// queues besides its own Keep Alive and AER, and the only commands `ccr-filter-admin` treats differently from
    /// `ccr-filter`.
    pub admin_interval: Duration,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            policy: Policy::Ccr,
            workload: WorkloadKind::RwTest,
            fault: FaultKind::Fopcode,
            kato: Duration::from_millis(5000),
            cqt: Duration::from_millis(1),
            cqt_fallback: Duration::from_secs(10),
            tbkas: true,
            delay: Duration::from_millis(2000),
            fopcode: 1,
            seed: 0,
            paths: 2,
            iterations: None,
            capture: false,
            duration: Duration::from_secs(60),
            queue_depth: 4,
            think_time: Duration::from_millis(10),
            blocks: 4,
            fault_at: None,
            extra_faults: Vec::new(),
            link_latency: Duration::from_micros(100),
            link_jitter: Duration::from_micros(20),
            loss: 0.0,
            rto: Duration::from_millis(200),
            service_min: Duration::from_micros(50),
            service_max: Duration::from_micros(100),
            teardown: Duration::from_millis(10),
            reconnect_delay: Duration::from_secs(1),
            immediate_reset: false,
            ccrl: 4,
            ccr_wait: CcrWait::KatoPlusCqt,
            ccr_sources: CcrSources::EveryInTurn,
            cqt0_rule: Cqt0Rule::Fallback,
            loss_window: Duration::from_secs(10),
            media_bandwidth: 0,
            burst: Duration::from_secs(3),
            admin_interval: Duration::from_secs(1),
        }
    }
}

impl Scenario {
    /// The default scenario with the given policy, workload and fault (what one matrix cell runs).
    pub fn new(policy: Policy, workload: WorkloadKind, fault: FaultKind) -> Scenario {
        Scenario { policy, workload, fault, ..Scenario::default() }
    }

    /// The hold a time-based recovery waits from detection: `(TBKAS ? 3 : 2) x KATO + (CQT != 0 ? CQT : F)`
    /// ([`nvme_ccr::notes::ccr_cqt`] §6.3).
    pub fn hold(&self) -> Duration {
        let m = if self.tbkas { 3 } else { 2 };
        self.kato * m + if self.cqt.is_zero() { self.cqt_fallback } else { self.cqt }
    }

    /// The largest stuck-command delay a target keeping its CQT promise may have when detection is at arrival:
    /// `(TBKAS ? 3 : 2) x KATO + CQT` ([`nvme_ccr::notes::ccr_cqt`] §11; CQT 0 counts as 0, the stricter reading).
    pub fn cqt_promise(&self) -> Duration {
        let m = if self.tbkas { 3 } else { 2 };
        self.kato * m + self.cqt
    }

    /// Whether this scenario's host may corrupt by design: [`Policy::Legacy`], or the Linux RFC's CQT = 0 rule
    /// ([`Cqt0Rule::Immediate`]) against a target reporting CQT = 0. The expectations ("no safe level corrupts")
    /// leave these out.
    pub fn unsafe_by_design(&self) -> bool {
        self.policy == Policy::Legacy || (self.cqt0_rule == Cqt0Rule::Immediate && self.cqt.is_zero())
    }

    /// The paths a scenario simulates: [`Scenario::paths`], at least four for [`FaultKind::NodeFailover`] (two
    /// nodes of two paths).
    pub fn effective_paths(&self) -> usize {
        if self.fault == FaultKind::NodeFailover { self.paths.max(4) } else { self.paths }
    }

    /// How long the fault lasts at most, from the moment it fires to the moment it stops mattering to a host that
    /// keeps its promise: the time-based hold for faults that fail a controller, the loss window or the burst.
    pub fn fault_span(&self) -> Duration {
        match self.fault {
            FaultKind::Loss(_) => self.loss_window,
            FaultKind::LossBurst => self.burst,
            FaultKind::None => Duration::ZERO,
            _ => self.hold().max(self.delay),
        }
    }

    /// The report's throughput cell for `policy`, `workload` and `fault`: queue depth 32 and no think time, random
    /// 4 KiB over 1 GiB (the sequential workloads: 128 KiB from LBA 0, wrapping at 1 GiB), a device serving one
    /// command at a time per controller in 0.5-1 ms plus its transfer at 400 MB/s, I/O from 5 s before the fault to
    /// 10 s after its span ([`Scenario::cell_duration`]); rw_test runs as written (255 iterations). The Linux failover test's
    /// values otherwise (KATO 5 s, TBKAS, CQT 1 ms, fopcode 1 with 2000 ms).
    pub fn cell(policy: Policy, workload: WorkloadKind, fault: FaultKind) -> Scenario {
        let mut s = Scenario::new(policy, workload, fault);
        s.queue_depth = 32;
        s.think_time = Duration::ZERO;
        s.blocks = 1 << 18;
        s.service_min = Duration::from_micros(500);
        s.service_max = Duration::from_micros(1000);
        s.media_bandwidth = 400_000_000;
        s.duration = s.cell_duration();
        s
    }

    /// The throughput cell's I/O time: from 5 s before the fault to 10 s after its span ([`Scenario::fault_span`]).
    pub fn cell_duration(&self) -> Duration {
        self.effective_fault_at() + self.fault_span() + Duration::from_secs(10)
    }

    /// When the primary fault is armed (see [`Scenario::fault_at`]).
    pub fn effective_fault_at(&self) -> Duration {
        self.fault_at.unwrap_or(match self.workload {
            WorkloadKind::RwTest => Duration::ZERO,
            _ => Duration::from_secs(5),
        })
    }

    /// A short random scenario for exploration: random paths (2..=4), workload, KATO, TBKAS, CQT, delays, freezes,
    /// CCR failures and several failures at once. Delays stay within the target's CQT promise unless
    /// `noncompliant`; a noncompliant scenario keeps CCR working and one path healthy, so that `ccr` must still not
    /// corrupt while `cqt` may.
    pub fn random(seed: u64, policy: Policy, noncompliant: bool) -> Scenario {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5EED_5CE7_A210_0000);
        let paths = rng.random_range(2..=4usize);
        let workload = WorkloadKind::ALL[rng.random_range(0..4usize)];
        let kato = Duration::from_millis([1000, 2000, 3000, 5000][rng.random_range(0..4usize)]);
        let tbkas = rng.random_bool(0.7);
        let cqt = Duration::from_millis([0, 1, 1, 100, 1000][rng.random_range(0..5usize)]);
        let fault = if noncompliant {
            [FaultKind::Fopcode, FaultKind::Fopcode, FaultKind::Freeze][rng.random_range(0..3usize)]
        } else {
            [FaultKind::Fopcode, FaultKind::Fopcode, FaultKind::Freeze, FaultKind::CcrFail, FaultKind::CcrUnsupported]
                [rng.random_range(0..5usize)]
        };
        let mut s = Scenario {
            policy,
            workload,
            fault,
            kato,
            tbkas,
            cqt,
            cqt_fallback: Duration::from_secs(10),
            seed,
            paths,
            iterations: Some(rng.random_range(1..=3)),
            duration: Duration::from_secs(rng.random_range(20..=40)),
            queue_depth: rng.random_range(1..=4),
            think_time: Duration::from_millis(rng.random_range(5..=50)),
            blocks: rng.random_range(1..=4),
            loss: if rng.random_bool(0.3) { rng.random_range(0.0..0.01) } else { 0.0 },
            reconnect_delay: Duration::from_millis(rng.random_range(500..=3000)),
            immediate_reset: rng.random_bool(0.2),
            ..Scenario::default()
        };
        let bound = s.cqt_promise().as_millis() as u64;
        let pick_delay = |rng: &mut ChaCha8Rng| {
            let max = if noncompliant { bound * 3 } else { bound };
            Duration::from_millis(rng.random_range(0..=max))
        };
        s.delay = pick_delay(&mut rng);
        s.fopcode = if rng.random_bool(0.8) { 1 } else { 2 };
        s.fault_at = Some(Duration::from_millis(
            rng.random_range(0..=if workload == WorkloadKind::RwTest { 8000 } else { 10_000 }),
        ));
        // Several failures at once: only with three or more paths, and (noncompliant) always leave one path healthy.
        let max_extra = if noncompliant { paths - 2 } else { paths - 1 };
        if max_extra > 0 && rng.random_bool(0.35) {
            let n = rng.random_range(1..=max_extra);
            for k in 0..n {
                let path = 1 + k;
                s.extra_faults.push(FaultSpec {
                    path,
                    kind: if rng.random_bool(0.7) { PathFault::Fatal } else { PathFault::Freeze },
                    opcode: if rng.random_bool(0.8) { 1 } else { 2 },
                    at: s.effective_fault_at() + Duration::from_millis(rng.random_range(0..=200)),
                    delay: pick_delay(&mut rng),
                });
            }
        }
        s
    }
}
