//! Harness of the `sim_faults` target: one `nvme-sim` scenario built from an arbitrary fault schedule (the primary
//! fault and up to three more, each with its path, kind, trigger opcode, arming time and delay) and arbitrary
//! knobs (policy, workload, paths, KATO, TBKAS, CQT, CCRL, loss, IRS mode, ...), kept short so one run stays fast.
//!
//! Checked: the run finishes without a panic; a run the checker passes reports no violation; and when every
//! fault's delay is within the target's CQT promise (`(TBKAS ? 3 : 2) x KATO + CQT`), no policy but `legacy`
//! corrupts data (the simulator's own claim for compliant targets, ccr-cqt.md §11, §14). One input in eight also
//! runs the scenario twice and checks the two reports are equal (determinism). Also included by
//! `benches/tests/fuzz_corpus.rs`.

use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use nvme_sim::{FaultKind, FaultSpec, PathFault, Policy, Scenario, WorkloadKind, run};

#[derive(Arbitrary, Clone, Copy, Debug)]
struct ExtraFault {
    path: u8,
    freeze: bool,
    read: bool,
    at_ms: u16,
    delay_permille: u16,
}

#[derive(Arbitrary, Clone, Debug)]
struct ScenarioSeed {
    policy: u8,
    workload: u8,
    fault: u8,
    paths: u8,
    kato: u8,
    tbkas: bool,
    cqt: u8,
    /// The primary fault's delay, in thousandths of the CQT promise (above 1000: a noncompliant target).
    delay_permille: u16,
    read_trigger: bool,
    fault_at_ms: Option<u16>,
    seed: u64,
    iterations: u8,
    duration_s: u8,
    queue_depth: u8,
    think_ms: u8,
    blocks: u8,
    loss_permille: u8,
    reconnect_ms: u16,
    immediate_reset: bool,
    ccrl: u8,
    extra: Vec<ExtraFault>,
    twice: u8,
}

impl ScenarioSeed {
    fn scenario(&self) -> Scenario {
        let policy = nvme_sim::Policy::ALL[usize::from(self.policy) % 4];
        let workload = WorkloadKind::ALL[usize::from(self.workload) % 4];
        let fault = FaultKind::ALL[usize::from(self.fault) % 5];
        let mut s = Scenario::new(policy, workload, fault);
        s.paths = 1 + usize::from(self.paths % 4);
        s.kato = Duration::from_millis([1_000, 2_000, 5_000][usize::from(self.kato % 3)]);
        s.tbkas = self.tbkas;
        s.cqt = Duration::from_millis([0, 1, 100, 1_000][usize::from(self.cqt % 4)]);
        let promise = s.cqt_promise();
        let part = |permille: u16| promise.mul_f64(f64::from(permille % 2_000) / 1_000.0);
        s.delay = part(self.delay_permille);
        s.fopcode = if self.read_trigger { 2 } else { 1 };
        s.fault_at = self.fault_at_ms.map(|ms| Duration::from_millis(u64::from(ms % 10_000)));
        s.seed = self.seed;
        s.iterations = Some(1 + u32::from(self.iterations % 2));
        s.duration = Duration::from_secs(5 + u64::from(self.duration_s % 16));
        s.queue_depth = 1 + usize::from(self.queue_depth % 4);
        s.think_time = Duration::from_millis(1 + u64::from(self.think_ms % 50));
        s.blocks = 1 + u64::from(self.blocks % 4);
        s.loss = f64::from(self.loss_permille % 20) / 1_000.0;
        s.reconnect_delay = Duration::from_millis(100 + u64::from(self.reconnect_ms % 3_000));
        s.immediate_reset = self.immediate_reset;
        s.ccrl = self.ccrl % 5;
        for x in self.extra.iter().take(3) {
            s.extra_faults.push(FaultSpec {
                path: usize::from(x.path) % s.paths,
                kind: if x.freeze { PathFault::Freeze } else { PathFault::Fatal },
                opcode: if x.read { 2 } else { 1 },
                at: Duration::from_millis(u64::from(x.at_ms % 12_000)),
                delay: part(x.delay_permille),
            });
        }
        s
    }
}

/// `sim_faults`: simulates the scenario `data` describes.
pub fn sim_faults(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(seed) = ScenarioSeed::arbitrary(&mut u) else { return };
    let s = seed.scenario();
    let r = run(&s);
    if std::env::var_os("NVME_FUZZ_TRACE").is_some() {
        eprintln!("{s:?}\n-> corrupted {}, {} events, {:?} simulated", r.corrupted, r.events, r.sim_time);
    }
    if !r.corrupted {
        assert!(r.violations.is_empty(), "violations without corruption: {:?}", r.violations);
    }
    let promise = s.cqt_promise();
    let compliant = s.delay <= promise && s.extra_faults.iter().all(|f| f.delay <= promise);
    if compliant && s.policy != Policy::Legacy {
        assert!(!r.corrupted, "{s:?} corrupted within the CQT promise: {:?}", r.violations);
    }
    if seed.twice % 8 == 0 {
        assert_eq!(run(&s), r, "the same scenario gave another report");
    }
}
