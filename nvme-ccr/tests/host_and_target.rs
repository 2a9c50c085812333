//! The host engine and the target module talking through nvme-proto's wire types (SQE encode/decode, CQE status,
//! AEN DW0, log page bytes): the seed timeline under each target behaviour (nvme_ccr::notes::ccr_cqt §11, §14).

mod common;

use common::ms;
use nvme_ccr::target::{HostId, Target, TargetConfig};
use nvme_ccr::{
    CcrId, CommandKind, ControllerFacts, Cqt, Engine, Event, FailureReason, Instant, PathId, Policy, Release,
    ReleaseAction, ReleaseReason,
};
use nvme_proto::cmd::{Ccrl, CrossControllerReset, GetLogPage, LSP_RMC, LogId};

use core::time::Duration;

/// A two-path lab: ctrl1 (path 0) and ctrl2 (path 1) of one host; ctrl1 is fenced at t = 1 ms with W5 in flight,
/// and its teardown on the target completes at t = 2 000 ms (the deferred write has landed).
struct Lab {
    e: Engine,
    t: Target,
    now: Instant,
    teardown_at: Option<(u16, Instant)>,
    released: Vec<(Instant, Release)>,
    events: Vec<Event>,
}

impl Lab {
    fn new(policy: Policy, config: TargetConfig) -> Self {
        let mut t = Target::new(config);
        let mut e = Engine::new(nvme_ccr::Config::new(policy));
        for cntlid in [1u16, 2] {
            t.add_controller(cntlid, HostId(1), 0x5EED_0000 + cntlid as u64).unwrap();
            let id = t.controller_ready(cntlid, 0xC1C1_0000 + cntlid as u64).unwrap();
            let facts = ControllerFacts {
                cntlid,
                ciu: id.ciu,
                cirn: id.cirn,
                cqt: Cqt::from_raw(1),
                ccrl: if config.ccr_unsupported { Ccrl::NotReported } else { config.ccrl },
                kato: Duration::from_secs(5),
                tbkas: true,
            };
            e.add_controller(ms(0), facts).unwrap();
        }
        Self { e, t, now: ms(0), teardown_at: None, released: vec![], events: vec![] }
    }

    fn cntlid(&self, p: PathId) -> u16 {
        self.e.facts(p).unwrap().cntlid
    }

    fn path(cntlid: u16) -> PathId {
        PathId(cntlid as u32 - 1)
    }

    /// Moves every message between the two until both are quiet.
    fn pump(&mut self) {
        loop {
            let mut moved = false;
            while let Some(c) = self.e.poll_ccr() {
                moved = true;
                let sqe = c.command.to_sqe(c.id.0 as u16);
                let cmd = CrossControllerReset::from_sqe(&sqe).unwrap();
                self.t.handle_ccr(self.cntlid(c.source), c.id.0, cmd).unwrap();
            }
            while let Some(a) = self.t.poll_answer() {
                moved = true;
                let _ = self.e.handle_ccr_completion(self.now, CcrId(a.req), a.status, a.dw0);
            }
            while let Some(cntlid) = self.t.poll_fail_controller() {
                moved = true;
                // The deferred write lands at 2 s; the teardown completes then (notes::ccr_cqt §11).
                self.teardown_at = Some((cntlid, self.now.max(ms(2_000))));
            }
            while let Some(aen) = self.t.poll_aen() {
                moved = true;
                self.e.handle_aen(self.now, Self::path(aen.source), aen.event.to_dw0()).unwrap();
            }
            while let Some(r) = self.e.poll_log_read() {
                moved = true;
                let cmd: GetLogPage = r.command();
                assert_eq!((cmd.lid, cmd.lsp, cmd.rae), (LogId::CROSS_CONTROLLER_RESET, LSP_RMC, false));
                let mut buf = vec![0u8; cmd.transfer_len() as usize];
                self.t.handle_get_ccr_log(self.cntlid(r.source), cmd.lsp & LSP_RMC != 0, &mut buf).unwrap();
                self.e.handle_ccr_log(self.now, r.id, &buf).unwrap();
            }
            while let Some(r) = self.e.poll_release() {
                moved = true;
                self.released.push((self.now, r));
            }
            while self.e.poll_path_action().is_some() {}
            while let Some(ev) = self.e.poll_event() {
                self.events.push(ev);
            }
            if !moved {
                return;
            }
        }
    }

    /// Runs the timeline to `end`, stepping from timer to timer.
    fn run_until(&mut self, end: Instant) {
        loop {
            self.pump();
            let next_teardown = self.teardown_at.map(|(_, t)| t);
            let next = [self.e.poll_timeout(), next_teardown].into_iter().flatten().min();
            match next {
                Some(t) if t <= end => {
                    self.now = t;
                    if let Some((cntlid, at)) = self.teardown_at
                        && at <= t
                    {
                        self.teardown_at = None;
                        self.t.handle_teardown_complete(cntlid).unwrap();
                    }
                    self.e.handle_timeout(t);
                }
                _ => return,
            }
        }
    }

    fn seed(policy: Policy, config: TargetConfig) -> Self {
        let mut lab = Self::new(policy, config);
        let (c1, c2) = (PathId(0), PathId(1));
        lab.e.handle_submit(ms(0), c1, 5, CommandKind::Write).unwrap();
        lab.e.handle_submit(ms(0), c2, 6, CommandKind::Write).unwrap();
        lab.t.handle_controller_fatal(1).unwrap();
        lab.teardown_at = Some((1, ms(2_000)));
        lab.now = ms(1);
        lab.e.handle_controller_failed(ms(1), c1, FailureReason::TransportError).unwrap();
        lab.run_until(ms(60_000));
        lab
    }
}

#[test]
fn ccr_through_ctrl2_releases_w5_when_ctrl1_is_torn_down() {
    let lab = Lab::seed(Policy::Ccr, TargetConfig::default());
    assert_eq!(lab.released.len(), 1);
    let (at, r) = lab.released[0];
    assert_eq!(at, ms(2_000), "released the moment the teardown completed, not before");
    assert_eq!(
        (r.token, r.action, r.reason),
        (5, ReleaseAction::Retry { path: PathId(1) }, ReleaseReason::CcrSucceeded { source: PathId(1) })
    );
}

#[test]
fn irs_target_releases_at_teardown_without_a_log_read() {
    let lab = Lab::seed(Policy::Ccr, TargetConfig { irs: true, ..TargetConfig::default() });
    let (at, r) = lab.released[0];
    assert_eq!((at, r.reason), (ms(2_000), ReleaseReason::CcrSucceeded { source: PathId(1) }));
}

#[test]
fn ccr_fail_target_falls_back_to_the_15001_ms_hold_from_detection() {
    let lab = Lab::seed(Policy::Ccr, TargetConfig { ccr_fail: true, ..TargetConfig::default() });
    let (at, r) = lab.released[0];
    assert_eq!((at, r.reason), (ms(1 + 15_001), ReleaseReason::HoldDeadline));
    assert!(lab.events.iter().any(|e| matches!(e, Event::FellBackToTimer { .. })));
}

#[test]
fn ccr_unsupported_target_marks_ctrl2_incapable_and_holds_15001_ms() {
    let lab = Lab::seed(Policy::Ccr, TargetConfig { ccr_unsupported: true, ..TargetConfig::default() });
    let (at, r) = lab.released[0];
    assert_eq!((at, r.reason), (ms(1 + 15_001), ReleaseReason::HoldDeadline));
    assert!(!lab.e.is_ccr_capable(PathId(1)));
}

#[test]
fn legacy_host_retries_w5_before_the_stale_write_lands() {
    let lab = Lab::seed(Policy::Legacy, TargetConfig::default());
    let (at, r) = lab.released[0];
    assert!(at < ms(2_000), "retried at {at:?}, before the stale write lands at 2 s: the hazard");
    assert_eq!(r.reason, ReleaseReason::Legacy);
}
