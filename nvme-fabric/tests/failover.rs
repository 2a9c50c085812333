//! The Linux failover test in memory, for every policy (`legacy` corrupts; `cqt` releases at 15 001 ms at the
//! test's values; `ccr` at about 2 s; `ccr-filter` releases reads at detection), a noncompliant target, and random
//! operation sequences (proptest) checking that no policy but `legacy` lets a stale write land after a newer
//! acknowledged one, and that every command completes or fails within a bound.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use nvme_ccr::{Config, Policy};
use nvme_fabric::conn::ConnId;
use nvme_fabric::controller::{Fault, FaultAction, FaultTarget, MediaKind, SubsystemConfig};
use nvme_fabric::host::{HostConfig, HostEvent, Io, IoId};
use nvme_fabric::loopback::Loopback;
use proptest::prelude::*;

const NQN: &str = "nqn.2026-12.io.example:failover";
/// `ccr-filter` as `Policy::ALL` has it (admin commands held).
const CCR_FILTER: Policy = Policy::CcrFilter { release_admin: false };
const HOSTNQN: &str = "nqn.2014-08.org.nvmexpress:uuid:failover";

/// The Linux test's values: KATO 5 s, TBKAS on, CQT 1 ms; reconnect after 1 s.
fn pair(policy: Policy, paths: usize) -> Loopback {
    let mut s = SubsystemConfig::new(NQN);
    s.namespace.blocks = 4096;
    s.cqt = nvme_proto::cmd::Cqt::from_raw(1);
    let mut h = HostConfig::new(NQN, HOSTNQN, [3; 16], Config::new(policy));
    h.digests.header = true;
    h.digests.data = true;
    h.kato = Duration::from_secs(5);
    h.reconnect_delay = Duration::from_secs(1);
    let mut lo = Loopback::new(s, h, paths).unwrap();
    lo.start().unwrap();
    assert_eq!(lo.live_paths(), paths);
    lo
}

fn block(v: u8) -> Arc<[u8]> {
    vec![v; 512].into()
}

/// Controller 1 (path 0) holds the first Write for `delay` and fails; the application writes 1, then 2 (each after
/// the previous completed). Returns (final block value, when the first write completed after the fault).
fn failover(policy: Policy, delay: Duration) -> (u8, Duration) {
    let mut lo = pair(policy, 2);
    let fault = Fault { opcode: 1, delay, action: FaultAction::Fatal };
    lo.sub.arm_fault(FaultTarget::Controller(1), fault).unwrap();
    let t0 = lo.now;
    lo.host.submit(lo.now, Io::Write { slba: 0, data: block(1) }).unwrap();
    lo.pump().unwrap();
    while lo.done.is_empty() && lo.now.saturating_duration_since(t0) < Duration::from_secs(60) {
        lo.advance(Duration::from_millis(1)).unwrap();
    }
    assert!(lo.done.pop().unwrap().result.is_ok());
    let first = lo.now.saturating_duration_since(t0);
    lo.host.submit(lo.now, Io::Write { slba: 0, data: block(2) }).unwrap();
    lo.pump().unwrap();
    lo.advance(Duration::from_secs(30)).unwrap();
    assert!(lo.done.iter().all(|c| c.result.is_ok()), "{:?}", lo.done);
    (lo.media[0], first)
}

const COMPLIANT: Duration = Duration::from_millis(2000);

#[test]
fn legacy_retries_at_once_and_the_stale_write_lands_last() {
    let (v, t) = failover(Policy::Legacy, COMPLIANT);
    assert_eq!(v, 1, "the stale first write lands after the second (completed after {t:?})");
    assert!(t < Duration::from_millis(10));
}

#[test]
fn cqt_releases_at_15_001_ms_and_does_not_corrupt() {
    let (v, t) = failover(Policy::Cqt, COMPLIANT);
    assert_eq!(v, 2);
    assert!(t >= Duration::from_millis(15_001) && t < Duration::from_millis(15_010), "released after {t:?}");
}

#[test]
fn ccr_releases_at_about_2_s_and_does_not_corrupt() {
    let (v, t) = failover(Policy::Ccr, COMPLIANT);
    assert_eq!(v, 2);
    assert!(t >= Duration::from_millis(2000) && t < Duration::from_millis(2100), "released after {t:?}");
}

#[test]
fn ccr_filter_holds_writes_like_ccr_and_does_not_corrupt() {
    let (v, t) = failover(CCR_FILTER, COMPLIANT);
    assert_eq!(v, 2);
    assert!(t >= Duration::from_millis(2000) && t < Duration::from_millis(2100), "released after {t:?}");
}

/// A Read outstanding on path 0 when its controller fails (the read itself trips a fatal fault, held 2 s): when it
/// completes after the failure.
fn read_released_after(policy: Policy) -> Duration {
    let mut lo = pair(policy, 2);
    lo.host.submit(lo.now, Io::Write { slba: 0, data: block(9) }).unwrap();
    lo.pump().unwrap();
    lo.done.clear();
    let fault = Fault { opcode: 2, delay: Duration::from_millis(2000), action: FaultAction::Fatal };
    lo.sub.arm_fault(FaultTarget::Controller(1), fault).unwrap();
    // Round robin: the next command goes to the path after the one the write took.
    let first_path = lo.host_events.iter().rev().find_map(|e| match e {
        HostEvent::IoSent { path, .. } => Some(*path),
        _ => None,
    });
    if first_path == Some(1) {
        lo.host.submit(lo.now, Io::Read { slba: 0, blocks: 1 }).unwrap();
    } else {
        lo.host.submit(lo.now, Io::Flush).unwrap();
        lo.pump().unwrap();
        lo.done.clear();
        lo.host.submit(lo.now, Io::Read { slba: 0, blocks: 1 }).unwrap();
    }
    let t0 = lo.now;
    lo.pump().unwrap();
    while lo.done.is_empty() && lo.now.saturating_duration_since(t0) < Duration::from_secs(60) {
        lo.advance(Duration::from_millis(1)).unwrap();
    }
    assert_eq!(lo.done[0].result.as_ref().unwrap().data, vec![9; 512]);
    lo.now.saturating_duration_since(t0)
}

#[test]
fn ccr_filter_releases_a_read_at_detection_where_ccr_holds_it() {
    let t = read_released_after(CCR_FILTER);
    assert!(t < Duration::from_millis(10), "ccr-filter: a read has no side effects, released at once ({t:?})");
    let t = read_released_after(Policy::Ccr);
    assert!(t >= Duration::from_millis(2000), "ccr holds every command ({t:?})");
}

#[test]
fn against_a_noncompliant_target_ccr_still_does_not_corrupt_while_cqt_does() {
    // The stuck write lands 20 s later: beyond the CQT promise (3 × 5 s + 1 ms).
    let late = Duration::from_secs(20);
    for policy in [Policy::Ccr, CCR_FILTER] {
        let (v, t) = failover(policy, late);
        assert_eq!(v, 2, "{policy}");
        assert!(t >= late && t < late + Duration::from_millis(100), "{policy}: released after {t:?}");
    }
    let (v, t) = failover(Policy::Cqt, late);
    assert_eq!(v, 1, "cqt trusts the promise the target breaks (released after {t:?})");
}

// ---------------------------------------------------------------------------------------------------------------
// Random operation sequences

const BLOCKS: u64 = 4;

#[derive(Clone, Debug)]
enum Op {
    /// Write the next value to a block (when the previous write to it completed).
    Write(u64),
    /// Read a block.
    Read(u64),
    /// Arm a fault on the first live controller (or the next one): Write or Read, `permille` of the CQT promise, a
    /// fatal one or a freeze.
    Fault { read: bool, permille: u16, freeze: bool },
    /// Cut a path (nothing delivered either way).
    Cut(usize),
    /// Restore a path: its old connections are reset at both ends (a partition that heals breaks them).
    Restore(usize),
    /// Let time pass.
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..BLOCKS).prop_map(Op::Write),
        2 => (0..BLOCKS).prop_map(Op::Read),
        1 => (any::<bool>(), 0u16..=950, any::<bool>()).prop_map(|(read, permille, freeze)| Op::Fault { read, permille, freeze }),
        1 => (0usize..3).prop_map(Op::Cut),
        1 => (0usize..3).prop_map(Op::Restore),
        3 => prop_oneof![Just(1u64), Just(10), Just(100), Just(1000), Just(5000)].prop_map(Op::Advance),
    ]
}

/// The driver of one random run: the Loopback with media carried out here (every write checked as it lands).
struct Run {
    lo: Loopback,
    policy: Policy,
    promise: Duration,
    /// Per block, the value of the next write.
    next: [u64; BLOCKS as usize],
    /// Per block, the write outstanding (its value and id).
    writing: [Option<(u64, IoId)>; BLOCKS as usize],
    /// Per block, the newest value acknowledged.
    acked: [u64; BLOCKS as usize],
    /// Every command submitted and not completed.
    pending: BTreeMap<IoId, &'static str>,
    done: usize,
}

impl Run {
    fn new(policy: Policy, paths: usize, kato_s: u64, tbkas: bool) -> Run {
        let mut s = SubsystemConfig::new(NQN);
        s.namespace.blocks = 64;
        s.cqt = nvme_proto::cmd::Cqt::from_raw(1);
        s.tbkas = tbkas;
        let mut h = HostConfig::new(NQN, HOSTNQN, [3; 16], Config::new(policy));
        h.kato = Duration::from_secs(kato_s);
        h.reconnect_delay = Duration::from_secs(1);
        h.io_timeout = Duration::from_secs(10);
        let mut lo = Loopback::new(s, h, paths).unwrap();
        lo.hold_media = true;
        lo.start().unwrap();
        let promise = Duration::from_secs(kato_s * if tbkas { 3 } else { 2 }) + Duration::from_millis(1);
        Run {
            lo,
            policy,
            promise,
            next: [1; BLOCKS as usize],
            writing: [None; BLOCKS as usize],
            acked: [0; BLOCKS as usize],
            pending: BTreeMap::new(),
            done: 0,
        }
    }

    /// Carries out the media work held back, checking each write as it lands; collects completions.
    fn settle(&mut self) -> Result<(), TestCaseError> {
        for _ in 0..1000 {
            self.lo.pump().map_err(|_| TestCaseError::fail("never settled"))?;
            self.completions()?;
            if self.lo.held.is_empty() {
                return Ok(());
            }
            for req in std::mem::take(&mut self.lo.held) {
                if req.kind == MediaKind::Write
                    && let Some(data) = self.lo.sub.media_data(req.id)
                {
                    let value = u64::from_le_bytes(data[..8].try_into().unwrap());
                    let b = req.slba as usize;
                    if self.policy != Policy::Legacy {
                        prop_assert!(
                            value >= self.acked[b],
                            "{}: value {value} landed on block {b} after value {} was acknowledged",
                            self.policy,
                            self.acked[b]
                        );
                    }
                }
                self.lo.run_media(req);
            }
        }
        Err(TestCaseError::fail("media work never ended"))
    }

    fn completions(&mut self) -> Result<(), TestCaseError> {
        for c in std::mem::take(&mut self.lo.done) {
            prop_assert!(self.pending.remove(&c.id).is_some(), "{:?} completed twice or unknown", c.id);
            self.done += 1;
            for b in 0..BLOCKS as usize {
                if let Some((value, id)) = self.writing[b]
                    && id == c.id
                {
                    self.writing[b] = None;
                    if c.result.is_ok() {
                        self.acked[b] = self.acked[b].max(value);
                    }
                }
            }
        }
        Ok(())
    }

    fn advance(&mut self, d: Duration) -> Result<(), TestCaseError> {
        // In steps of at most 100 ms, so the media answers well within the CQT promise (the target is compliant).
        let mut left = d;
        while !left.is_zero() {
            let step = left.min(Duration::from_millis(100));
            self.lo.advance(step).map_err(|_| TestCaseError::fail("never settled"))?;
            self.settle()?;
            left -= step;
        }
        Ok(())
    }

    fn restore(&mut self, p: usize) {
        let conns: Vec<(ConnId, ConnId)> =
            self.lo.h2s.iter().filter(|(h, _)| self.lo.conn_path.get(h) == Some(&p)).map(|(&h, &s)| (h, s)).collect();
        for (h, s) in conns {
            self.lo.h2s.remove(&h);
            self.lo.s2h.remove(&s);
            self.lo.pending.remove(&h);
            self.lo.sub.handle_closed(self.lo.now, s);
            self.lo.host.handle_closed(self.lo.now, h);
        }
        self.lo.down[p] = false;
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let now = self.lo.now;
        match *op {
            Op::Write(b) => {
                let bi = b as usize;
                if self.writing[bi].is_none() {
                    let value = self.next[bi];
                    self.next[bi] += 1;
                    let mut data = vec![0u8; 512];
                    data[..8].copy_from_slice(&value.to_le_bytes());
                    if let Ok(id) = self.lo.host.submit(now, Io::Write { slba: b, data: data.into() }) {
                        self.writing[bi] = Some((value, id));
                        self.pending.insert(id, "write");
                    }
                }
            }
            Op::Read(b) => {
                if let Ok(id) = self.lo.host.submit(now, Io::Read { slba: b, blocks: 1 }) {
                    self.pending.insert(id, "read");
                }
            }
            Op::Fault { read, permille, freeze } => {
                let delay = self.promise.mul_f64(f64::from(permille) / 1000.0);
                let action = if freeze { FaultAction::Freeze } else { FaultAction::Fatal };
                let fault = Fault { opcode: if read { 2 } else { 1 }, delay, action };
                let _ = self.lo.sub.arm_fault(FaultTarget::FirstLive, fault);
            }
            Op::Cut(p) => {
                if p < self.lo.down.len() {
                    self.lo.down[p] = true;
                }
            }
            Op::Restore(p) => {
                if p < self.lo.down.len() {
                    self.restore(p);
                }
            }
            Op::Advance(ms) => return self.advance(Duration::from_millis(ms)),
        }
        self.settle()
    }

    /// Every path restored and every fault disarmed: every command must end within `bound`.
    fn drain(&mut self, bound: Duration) -> Result<(), TestCaseError> {
        self.lo.sub.disarm_faults();
        for p in 0..self.lo.down.len() {
            if self.lo.down[p] {
                self.restore(p);
            }
        }
        let end = self.lo.now + bound;
        while !self.pending.is_empty() && self.lo.now < end {
            self.advance(Duration::from_millis(500))?;
        }
        prop_assert!(self.pending.is_empty(), "{} commands never ended: {:?}", self.pending.len(), self.pending);
        prop_assert_eq!(self.lo.host.outstanding(), 0);
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, max_shrink_iters: 200, ..ProptestConfig::default() })]

    #[test]
    fn no_policy_but_legacy_lands_a_stale_write_and_every_command_ends(
        policy in prop::sample::select(Policy::ALL.to_vec()),
        paths in 1usize..=3,
        kato_s in 1u64..=5,
        tbkas in any::<bool>(),
        ops in prop::collection::vec(op(), 1..40),
    ) {
        let mut run = Run::new(policy, paths, kato_s, tbkas);
        for op in &ops {
            run.apply(op)?;
        }
        run.drain(Duration::from_secs(180))?;
    }
}
