//! Scenario tests of the host engine: each reads like the timeline it checks. The invariant each one checks is
//! named in its doc line: (1) = a held command with side effects leaves only with a proof
//! (nvme_ccr::notes::ccr_cqt §14).

mod common;

use core::time::Duration;

use common::*;
use nvme_ccr::{
    CcrError, CcrFailure, CcrWait, CommandKind, CompleteError, Completion, Config, Cqt, Event, FailureReason, LogError,
    PathAction, PathError, PathId, PathState, Policy, ReleaseAction, ReleaseReason, SourceOrder, SubmitError,
};
use nvme_proto::cmd::{Ccrl, Ccrs, CrossControllerReset, Sct, Status, StatusCode};

const W: CommandKind = CommandKind::Write;
const R: CommandKind = CommandKind::Read;
const KA: FailureReason = FailureReason::KeepAliveTimeout;

fn retried_on(r: &nvme_ccr::Release) -> Option<PathId> {
    match r.action {
        ReleaseAction::Retry { path } => Some(path),
        ReleaseAction::Fail { .. } => None,
    }
}

/// The seed timeline: t=0 W5 on ctrl1; t=1ms ctrl1 fails -> W5 held; CCR via ctrl2; t=2s AEN; log read;
/// entry success -> W5 retried on ctrl2; ctrl1 FENCED -> RESETTING -> CONNECTING -> LIVE with a new instance. (1)
#[test]
fn seed_ccr_via_aen_and_log_releases_w5_on_ctrl2() {
    let mut h = Host::new(Policy::Ccr);
    let [c1, c2] = h.paths(&[1, 2])[..] else { unreachable!() };
    h.submit(ms(0), c1, 5, W);
    h.e.handle_controller_failed(ms(1), c1, FailureReason::TransportError).unwrap();
    assert_eq!(h.e.path_state(c1), Some(PathState::Fencing));
    assert_eq!(h.e.held(c1), 1);
    assert!(h.saw(|e| matches!(e, Event::FencingStarted { path, held: 1, .. } if *path == c1)));

    let ccr = h.one_ccr();
    assert_eq!((ccr.source, ccr.impacted), (c2, c1));
    assert_eq!(ccr.command, CrossControllerReset { icid: 1, ciu: 0x11, cirn: 0xC1C1_0001 });
    assert!(h.saw(|e| matches!(e, Event::CcrSent { path, source, .. } if *path == c1 && *source == c2)));
    h.e.handle_ccr_completion(ms(2), ccr.id, Status::SUCCESS, 0).unwrap();
    assert!(h.take_releases().is_empty(), "IRS = 0: accepted, not yet done");

    h.e.handle_aen(ms(2_000), c2, ccr_aen()).unwrap();
    let read = h.one_read();
    assert_eq!((read.source, read.rmc), (c2, true));
    assert!(h.take_releases().is_empty(), "the AEN alone is no proof");
    h.e.handle_ccr_log(ms(2_001), read.id, &page(&[(1, 0x11, Ccrs::SUCCESS)])).unwrap();

    let rel = h.take_releases();
    assert_eq!(rel.len(), 1);
    assert_eq!((rel[0].token, rel[0].from, retried_on(&rel[0])), (5, c1, Some(c2)));
    assert_eq!(rel[0].reason, ReleaseReason::CcrSucceeded { source: c2 });
    assert!(h.saw(|e| matches!(e, Event::CcrSucceeded { path, source, .. } if *path == c1 && *source == c2)));
    assert!(h.saw(|e| matches!(e, Event::HoldReleased { path, after, released: 1, .. }
        if *path == c1 && *after == Duration::from_millis(2_000))));
    assert_eq!(h.actions, [PathAction::Reconnect { path: c1 }]);
    assert_eq!(h.e.path_state(c1), Some(PathState::Resetting), "polling the action moves FENCED -> RESETTING");
    h.events.clear();
    h.e.handle_controller_failed(ms(2_001), c1, KA).unwrap();
    assert!(!h.saw(|e| matches!(e, Event::FencingStarted { .. })), "a path that is not LIVE is not fenced");
    assert_eq!(h.e.path_state(c1), Some(PathState::Resetting));
    assert_eq!(h.e.handle_connecting(ms(2_001), c2), Err(PathError::WrongState { state: PathState::Live }));
    h.e.handle_connecting(ms(2_002), c1).unwrap();
    assert_eq!(h.e.path_state(c1), Some(PathState::Connecting));
    let mut new = facts(1);
    new.ciu = 0x12;
    new.cirn = 0xDEAD;
    h.e.handle_reconnected(ms(12_000), c1, new).unwrap();
    assert_eq!(h.e.path_state(c1), Some(PathState::Live));
    assert_eq!(h.e.facts(c1).unwrap().cirn, 0xDEAD);
    assert_eq!(h.e.poll_timeout(), None, "nothing left to time");
}

fn time_based(policy: Policy, f: impl FnOnce(&mut nvme_ccr::ControllerFacts), hold_ms: u64) {
    let mut h = Host::new(policy);
    let mut fa = facts(1);
    f(&mut fa);
    let c1 = h.e.add_controller(ms(0), fa).unwrap();
    h.submit(ms(0), c1, 5, W);
    h.e.handle_controller_failed(ms(0), c1, KA).unwrap();
    assert_eq!(h.e.hold_deadline(c1), Some(ms(hold_ms)));
    assert_eq!(h.e.poll_timeout(), Some(ms(hold_ms)));
    h.e.handle_timeout(ms(hold_ms - 1));
    assert!(h.take_releases().is_empty(), "held until {hold_ms} ms");
    h.e.handle_timeout(ms(hold_ms));
    let rel = h.take_releases();
    assert_eq!(rel.len(), 1);
    assert_eq!(rel[0].reason, ReleaseReason::HoldDeadline);
}

/// KATO 5 s, TBKAS, CQT 1 ms -> 15 001 ms hold (nvme_ccr::notes::ccr_cqt §6.4). (1)(2)
#[test]
fn hold_kato_5s_tbkas_cqt_1ms_is_15001_ms() {
    time_based(Policy::Cqt, |_| {}, 15_001);
}

/// CQT 0 -> F = 10 s replaces it: 3 x 5 s + 10 s = 25 000 ms. (1)(2)
#[test]
fn hold_cqt_zero_uses_the_fallback_25000_ms() {
    time_based(Policy::Cqt, |f| f.cqt = Cqt::NotReported, 25_000);
}

/// TBKAS off -> 2 x KATO: 10 001 ms. (1)(2)
#[test]
fn hold_tbkas_off_is_two_katos_plus_cqt() {
    time_based(Policy::Cqt, |f| f.tbkas = false, 10_001);
}

/// An administrator-set F is honoured.
#[test]
fn hold_uses_a_configured_fallback() {
    let mut cfg = Config::new(Policy::Cqt);
    cfg.cqt_fallback = Duration::from_secs(2);
    let mut h = Host::with(cfg);
    let mut fa = facts(1);
    fa.cqt = Cqt::NotReported;
    let c1 = h.e.add_controller(ms(0), fa).unwrap();
    h.submit(ms(0), c1, 1, W);
    h.e.handle_controller_failed(ms(0), c1, KA).unwrap();
    assert_eq!(h.e.hold_deadline(c1), Some(ms(17_000)));
}

/// Policy cqt: no CCR at all, the timer is reported at once. (1)
#[test]
fn cqt_policy_never_sends_ccr() {
    let mut h = Host::new(Policy::Cqt);
    let [c1, _c2] = h.paths(&[1, 2])[..] else { unreachable!() };
    h.submit(ms(0), c1, 5, W);
    h.e.handle_controller_failed(ms(0), c1, KA).unwrap();
    h.drain();
    assert!(h.ccrs.is_empty());
    assert!(
        h.saw(|e| matches!(e, Event::FellBackToTimer { remaining, .. } if *remaining == Duration::from_millis(15_001)))
    );
}

/// t=0 ctrl1 fails; CCR via ctrl2 completes with IRS = 1 at t=3ms -> W5 retried on ctrl2 at once. (1)
#[test]
fn irs_success_releases_at_once() {
    let mut h = Host::new(Policy::Ccr);
    let [c1, c2] = h.paths(&[1, 2])[..] else { unreachable!() };
    h.submit(ms(0), c1, 5, W);
    h.e.handle_controller_failed(ms(0), c1, KA).unwrap();
    let ccr = h.one_ccr();
    h.e.handle_ccr_completion(ms(3), ccr.id, Status::SUCCESS, 0b011).unwrap();
    let rel = h.take_releases();
    assert_eq!(rel.len(), 1);
    assert_eq!((rel[0].token, retried_on(&rel[0])), (5, Some(c2)));
    assert!(h.reads.is_empty(), "IRS needs no log read");
    assert_eq!(h.e.ccrs_in_flight(c2), 0);
    assert_eq!(h.e.handle_ccr_completion(ms(4), ccr.id, Status::SUCCESS, 1), Err(CcrError::UnknownCcr), "duplicate");
}

/// Each failing status from ctrl2 moves the CCR on to ctrl3 (ascending CNTLID); W5 stays held. (1)
#[test]
fn every_error_status_moves_to_the_next_source() {
    let other = StatusCode::new(Sct::GENERIC, 0x06); // Internal Error
    for code in [
        StatusCode::CCR_IN_PROGRESS,
        StatusCode::CCR_LOG_PAGE_FULL,
        StatusCode::CCR_LIMIT_EXCEEDED,
        StatusCode::INVALID_OPCODE,
        StatusCode::INVALID_FIELD,
        other,
    ] {
        let mut h = Host::new(Policy::Ccr);
        let [c1, c2, c3] = h.paths(&[1, 2, 3])[..] else { unreachable!() };
        h.submit(ms(0), c1, 5, W);
        h.e.handle_controller_failed(ms(0), c1, KA).unwrap();
        let first = h.one_ccr();
        assert_eq!(first.source, c2);
        h.e.handle_ccr_completion(ms(1), first.id, status(code), 0).unwrap();
        let second = h.one_ccr();
        assert_eq!(second.source, c3, "{code:?}");
        assert!(h.take_releases().is_empty(), "{code:?}: still held");
        assert!(h.saw(|e| matches!(e, Event::CcrFailed { reason: CcrFailure::Status(c), .. } if *c == code)));
        assert_eq!(h.e.ccrs_in_flight(c2), 0);
        // Invalid Opcode: ctrl2 is CCR-incapable until it reconnects; CCRL 4 + Invalid Field: a failed attempt only.
        assert_eq!(h.e.is_ccr_capable(c2), code != StatusCode::INVALID_OPCODE, "{code:?}");
        // Log Page Full: the engine drains ctrl2's log.
        assert_eq!(h.reads.iter().any(|r| r.source == c2), code == StatusCode::CCR_LOG_PAGE_FULL, "{code:?}");
    }
}

/// The last source failing leaves only the timer: FellBackToTimer with the time left, release at the deadline. (1)(2)
#[test]
fn all_sources_fail_then_the_timer_releases() {
    let mut h = Host::new(Policy::Ccr);
    let [c1, c2] = h.paths(&[1, 2])[..] else { unreachable!() };
    h.submit(ms(0), c1, 5, W);
    h.e.handle_controller_failed(ms(0), c1, KA).unwrap();
    let ccr = h.one_ccr();
    h.e.handle_ccr_completion(ms(1_000), ccr.id, status(StatusCode::CCR_LIMIT_EXCEEDED), 0).unwrap();
    assert!(h.saw(|e| matches!(e, Event::FellBackToTimer { path, remaining } if *path == c1 && *remaining == Duration::from_millis(14_001))));
    assert!(h.ccrs.is_empty());
    h.e.handle_timeout(ms(15_000));
    assert!(h.take_releases().is_empty());
    h.e.handle_timeout(ms(15_001));
    assert_eq!(retried_on(&h.take_releases()[0]), Some(c2));
}

/// ctrl2's log says CCRS = Failed -> the CCR moves to ctrl3. (1)
#[test]
fn ccrs_failed_in_log_moves_to_the_next_source() {
    let mut h = Host::new(Policy::Ccr);
    let [c1, c2, c3] = h.paths(&[1, 2, 3])[..] else { unreachable!() };
    h.submit(ms(0), c1, 5, W);
    h.e.handle_controller_failed(ms(0), c1, KA).unwrap();
    let ccr = h.one_ccr();
    h.e.handle_ccr_completion(ms(1), ccr.id, Status::SUCCESS, 0).unwrap();
    h.e.handle_aen(ms(100), c2, ccr_aen()).unwrap();
    let read = h.one_read();
    h.e.handle_ccr_log(ms(101), read.id, &page(&[(1, 0x11, Ccrs::FAILED)])).unwrap();
    assert_eq!(h.one_ccr().source, c3);
    assert!(h.saw(|e| matches!(e, Event::CcrFailed { reason: CcrFailure::LogFailed, .. })));
    assert!(h.take_releases().is_empty());
    assert_eq!(h.e.ccrs_in_flight(c2), 0);
}

/// Per-CCR wait (KATO + CQT = 5 001 ms) expires without an AEN -> one more log read from ctrl2 -> the entry is
/// still In Progress -> the CCR moves on to ctrl3. (1)
#[test]
fn per_ccr_timeout_rereads_the_log_then_moves_on() {
    let mut h = Host::new(Policy::Ccr);
    let [c1, c2, c3] = h.paths(&[1, 2, 3])[..] else { unreachable!() };
    h.submit(ms(0), c1, 5, W);
    h.e.handle_controller_failed(ms(0), c1, KA).unwrap();
    let ccr = h.one_ccr();
    h.e.handle_ccr_completion(ms(1), ccr.id, Status::SUCCESS, 0).unwrap();
    assert_eq!(h.e.poll_timeout(), Some(ms(5_001)));
    h.e.handle_timeout(ms(5_000));
    h.drain();
    assert!(h.reads.is_empty());
    h.e.handle_timeout(ms(5_001));
    let read = h.one_read();
    assert_eq!(read.source, c2);
    assert!(h.ccrs.is_empty(), "no new source before the last read answered");
    h.e.handle_ccr_log(ms(5_002), read.id, &page(&[(1, 0x11, Ccrs::IN_PROGRESS)])).unwrap();
    assert_eq!(h.one_ccr().source, c3);
    assert!(h.saw(|e| matches!(e, Event::CcrFailed { reason: CcrFailure::TimedOut, .. })));
    assert_eq!(h.e.ccrs_in_flight(c2), 1, "ctrl2 still counts its unresolved CCR against CCRL");
}

/// The final log read shows the lost success (AEN lost) -> release. (1)
#[test]
fn per_ccr_timeout_final_read_finds_the_success() {
    let mut h = Host::new(Policy::Ccr);
    let [c1, c2] = h.paths(&[1, 2])[..] else { unreachable!() };
    h.submit(ms(0), c1, 5, W);
    h.e.handle_controller_failed(ms(0), c1, KA).unwrap();
    let ccr = h.one_ccr();
    h.e.handle_ccr_completion(ms(1), ccr.id, Status::SUCCESS, 0).unwrap();
    h.e.handle_timeout(ms(5_001));
    let read = h.one_read();
    h.e.handle_ccr_log(ms(5_010), read.id, &page(&[(1, 0x11, Ccrs::SUCCESS)])).unwrap();
    let rel = h.take_releases();
    assert_eq!((rel.len(), rel[0].reason), (1, ReleaseReason::CcrSucceeded { source: c2 }));
}

/// The final log read is never answered: after `final_log_wait` (1 s) the next source is tried; a failed read
/// does the same at once. (1)
#[test]
fn unanswered_or_failed_final_read_moves_on() {
    let mut h = Host::new(Policy::Ccr);
    let [c1, _c2, c3, c4] = h.paths(&[1, 2, 3, 4])[..] else { unreachable!() };
    h.submit(ms(0), c1, 5, W);
    h.e.handle_controller_failed(ms(0), c1, KA).unwrap();
    let _ = h.one_ccr();
    h.e.handle_timeout(ms(5_001));
    let _read = h.one_read();
    assert_eq!(h.e.poll_timeout(), Some(ms(6_001)));
    h.e.handle_timeout(ms(6_001));
    let ccr3 = h.one_ccr();
    assert_eq!(ccr3.source, c3);
    h.e.handle_timeout(ms(6_001 + 5_001));
    let read3 = h.one_read();
    h.e.handle_ccr_log_failed(ms(11_003), read3.id).unwrap();
    assert_eq!(h.one_ccr().source, c4);
    assert_eq!(h.e.handle_ccr_log_failed(ms(11_004), read3.id), Err(LogError::UnknownRead), "duplicate");
}

/// The hold deadline passes while the CCR via ctrl2 is still unanswered (wait = until deadline): a target may hold
/// the completion until the teardown is done (IRS = 1), so the hold is extended; its IRS success at 20 000 ms
/// releases W5 with the CCR as proof. (1)(2)
#[test]
fn deadline_passing_while_the_ccr_is_unanswered_extends_the_hold() {
    let mut cfg = Config::new(Policy::Ccr);
    cfg.ccr_wait = CcrWait::UntilDeadline;
    let mut h = Host::with(cfg);
    let [c1, c2] = h.paths(&[1, 2])[..] else { unreachable!() };
    h.submit(ms(0), c1, 5, W);
    h.e.handle_controller_failed(ms(0), c1, KA).unwrap();
    let ccr = h.one_ccr();
    assert_eq!(h.e.accepted_ccr_pending(c1), Some(c2), "unanswered counts as in progress");
    h.e.handle_timeout(ms(15_001));
    assert!(h.take_releases().is_empty());
    assert!(h.saw(|e| *e == Event::HoldExtendedByCcr { path: c1, source: c2, ccr: ccr.id }));
    let read = h.one_read();
    h.e.handle_ccr_log(ms(15_002), read.id, &page(&[])).unwrap();
    assert!(h.take_releases().is_empty(), "an empty log says nothing about a CCR not yet answered");
    h.e.handle_ccr_completion(ms(20_000), ccr.id, Status::SUCCESS, 1).unwrap();
    let rel = h.take_releases();
    assert_eq!((rel.len(), rel[0].reason), (1, ReleaseReason::CcrSucceeded { source: c2 }));
}

/// With `accepted_ccr_limit = 0` (the behaviour before the limit existed) the deadline releases at 15 001 ms even
/// though the CCR is unanswered; the late success that follows changes nothing; the orphaned CCR stops counting
/// once answered. (1)(2)
#[test]
fn deadline_passing_during_a_ccr_wait_releases_with_a_zero_limit() {
    let mut cfg = Config::new(Policy::Ccr);
    cfg.ccr_wait = CcrWait::UntilDeadline;
    cfg.accepted_ccr_limit = Some(Duration::ZERO);
    let mut h = Host::with(cfg);
    let [c1, c2] = h.paths(&[1, 2])[..] else { unreachable!() };
    h.submit(ms(0), c1, 5, W);
    h.e.handle_controller_failed(ms(0), c1, KA).unwrap();
    let ccr = h.one_ccr();
    assert_eq!(h.e.poll_timeout(), Some(ms(15_001)), "the per-CCR wait never runs past the deadline");
    h.e.handle_timeout(ms(15_001));
    let rel = h.take_releases();
    assert_eq!((rel.len(), rel[0].reason), (1, ReleaseReason::HoldDeadline));
    assert!(!h.saw(|e| matches!(e, Event::HoldExtendedByCcr { .. })), "the limit has passed with the deadline");
    assert!(h.reads.is_empty(), "no final read once the deadline released everything");
    assert_eq!(h.e.ccrs_in_flight(c2), 1);
    h.e.handle_ccr_completion(ms(16_000), ccr.id, Status::SUCCESS, 1).unwrap();
    assert!(h.take_releases().is_empty());
    assert!(!h.saw(|e| matches!(e, Event::CcrSucceeded { .. })));
    assert_eq!(h.e.ccrs_in_flight(c2), 0);
}

/// Three controllers fail at once; ctrl4 (CCRL 2) is the only source -> two CCRs in flight, the third waits
/// until one of them completes. (3)
#[test]
fn ccrl_is_respected_with_several_impacted_controllers() {
    let mut h = Host::new(Policy::Ccr);
    let [c1, c2, c3] = h.paths(&[1, 2, 3])[..] else { unreachable!() };
    let mut f4 = facts(4);
    f4.ccrl = Ccrl::from_raw(2);
    let c4 = h.e.add_controller(ms(0), f4).unwrap();
    for (t, c) in [(1, c1), (2, c2), (3, c3)] {
        h.submit(ms(0), c, t, W);
    }
    for (t, c) in [(10, c1), (11, c2), (12, c3)] {
        h.e.handle_controller_failed(ms(t), c, KA).unwrap();
    }
    h.drain();
    let sent: Vec<_> = h.ccrs.drain(..).collect();
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|c| c.source == c4));
    assert_eq!(sent.iter().map(|c| c.impacted).collect::<Vec<_>>(), [c1, c2], "oldest fence first");
    assert_eq!(h.e.ccrs_in_flight(c4), 2);
    h.e.handle_ccr_completion(ms(20), sent[0].id, Status::SUCCESS, 1).unwrap();
    let third = h.one_ccr();
    assert_eq!((third.source, third.impacted), (c4, c3));
    assert_eq!(h.e.ccrs_in_flight(c4), 2);
    let rel = h.take_releases();
    assert_eq!((rel[0].token, retried_on(&rel[0])), (1, Some(c4)));
}

/// A source that reports CCRL = 0 (pre-TP8028) is still used, one CCR at a time. (3)
#[test]
fn ccrl_zero_source_takes_one_ccr_at_a_time() {
    let mut h = Host::new(Policy::Ccr);
    let [c1, c2] = h.paths(&[1, 2])[..] else { unreachable!() };
    let mut f3 = facts(3);
    f3.ccrl = Ccrl::NotReported;
    let c3 = h.e.add_controller(ms(0), f3).unwrap();
    h.submit(ms(0), c1, 1, W);
    h.submit(ms(0), c2, 2, W);
    h.e.handle_controller_failed(ms(1), c1, KA).unwrap();
    h.e.handle_controller_failed(ms(2), c2, KA).unwrap();
    let first = h.one_ccr();
    assert_eq!((first.source, first.impacted), (c3, c1));
    assert_eq!(h.e.ccrs_in_flight(c3), 1);
    h.e.handle_ccr_completion(ms(3), first.id, Status::SUCCESS, 1).unwrap();
    let second = h.one_ccr();
    assert_eq!((second.source, second.impacted), (c3, c2));
    assert_eq!(h.e.ccrs_in_flight(c3), 1);
}

/// A CIU = 0 / CCRL = 0 source answering Invalid Opcode is CCR-incapable until it reconnects; after the
/// reconnect (maybe an upgraded target) it is tried again. (1)
#[test]
fn pre_tp8028_source_is_incapable_until_it_reconnects() {
    let mut h = Host::new(Policy::Ccr);
    let c1 = h.e.add_controller(ms(0), facts(1)).unwrap();
    let mut old = facts(2);
    old.ciu = 0;
    old.cirn = 0;
    old.ccrl = Ccrl::NotReported;
    old.cqt = Cqt::NotReported;
    let c2 = h.e.add_controller(ms(0), old).unwrap();
    h.submit(ms(0), c1, 5, W);
    h.e.handle_controller_failed(ms(0), c1, KA).unwrap();
    let ccr = h.one_ccr();
    h.e.handle_ccr_completion(ms(1), ccr.id, status(StatusCode::INVALID_OPCODE).with_dnr(true), 0).unwrap();
    assert!(!h.e.is_ccr_capable(c2));
    assert!(h.saw(|e| matches!(e, Event::SourceCcrIncapable { source } if *source == c2)));
    assert!(h.saw(|e| matches!(e, Event::FellBackToTimer { .. })));
    assert!(h.ccrs.is_empty());
    // ctrl2 drops and reconnects (upgraded): it is a candidate again for ctrl1's still-running fence.
    h.e.handle_controller_failed(ms(100), c2, KA).unwrap();
    h.drain();
    h.actions.clear();
    let mut upgraded = facts(2);
    upgraded.ciu = 1;
    h.e.handle_reconnected(ms(200), c2, upgraded).unwrap();
    assert!(h.e.is_ccr_capable(c2));
    let again = h.one_ccr();
    assert_eq!((again.source, again.impacted), (c2, c1));
}

/// Invalid Field from a CIU = 0 source also marks it incapable; from a CCRL > 0, CIU != 0 source it does not.
#[test]
fn invalid_field_disables_only_pre_tp8028_sources() {
    for (ciu, ccrl, disabled) in [(0, 4, true), (5, 0, true), (5, 4, false)] {
        let mut h = Host::new(Policy::Ccr);
        let c1 = h.e.add_controller(ms(0), facts(1)).unwrap();
        let mut f2 = facts(2);
        f2.ciu = ciu;
        f2.ccrl = Ccrl::from_raw(ccrl);
        let c2 = h.e.add_controller(ms(0), f2).unwrap();
        h.submit(ms(0), c1, 5, W);
        h.e.handle_controller_failed(ms(0), c1, KA).unwrap();
        let ccr = h.one_ccr();
        h.e.handle_ccr_completion(ms(1), ccr.id, status(StatusCode::INVALID_FIELD), 0).unwrap();
        assert_eq!(!h.e.is_ccr_capable(c2), disabled, "ciu {ciu} ccrl {ccrl}");
    }
}

/// ctrl2 fails while its CCR for ctrl1 is in flight -> ctrl2 starts its own fence, ctrl1's CCR moves to ctrl3,
/// and ctrl3 then serves both; the dead CCR's late completion is ignored. (1)(4)
#[test]
fn source_failing_while_its_ccr_is_in_flight() {
    let mut h = Host::new(Policy::Ccr);
    let [c1, c2, c3] = h.paths(&[1, 2, 3])[..] else { unreachable!() };
    h.submit(ms(0), c1, 1, W);
    h.submit(ms(0), c2, 2, W);
    h.e.handle_controller_failed(ms(0), c1, KA).unwrap();
    let lost = h.one_ccr();
    assert_eq!(lost.source, c2);
    h.e.handle_controller_failed(ms(5), c2, KA).unwrap();
    h.drain();
    let next: Vec<_> = h.ccrs.drain(..).collect();
    assert_eq!(next.iter().map(|c| (c.source, c.impacted)).collect::<Vec<_>>(), [(c3, c1), (c3, c2)]);
    assert!(h.saw(|e| matches!(e, Event::CcrFailed { reason: CcrFailure::SourceFailed, .. })));
    assert_eq!(h.e.handle_ccr_completion(ms(6), lost.id, Status::SUCCESS, 1), Err(CcrError::UnknownCcr));
    assert!(h.take_releases().is_empty());
}

/// A CCR queued for a source that fails before the driver polled it is withdrawn: no output names a dead
/// source. (4)
#[test]
fn queued_ccr_is_withdrawn_when_its_source_fails() {
    let mut h = Host::new(Policy::Ccr);
    let [c1, c2, c3] = h.paths(&[1, 2, 3])[..] else { unreachable!() };
    h.submit(ms(0), c1, 1, W);
    h.e.handle_controller_failed(ms(0), c1, KA).unwrap();
    h.e.handle_controller_failed(ms(1), c2, KA).unwrap();
    let ccr = h.one_ccr();
    assert_eq!(ccr.source, c3);
}

/// Stale identity: ctrl1 is released by the timer (its CCR via ctrl2 accepted but unresolved; a zero
/// `accepted_ccr_limit` lets the deadline release anyway), reconnects as a new instance (new CIU and CIRN) and fails
/// again; the late success of the CCR that named the old instance does not release the new episode. (1)
#[test]
fn late_success_for_an_old_instance_proves_nothing() {
    let mut cfg = Config::new(Policy::Ccr);
    cfg.ccr_wait = CcrWait::UntilDeadline;
    cfg.accepted_ccr_limit = Some(Duration::ZERO); // the deadline releases although the old CCR is unresolved
    let mut h = Host::with(cfg);
    let [c1, c2] = h.paths(&[1, 2])[..] else { unreachable!() };
    h.submit(ms(0), c1, 1, W);
    h.e.handle_controller_failed(ms(0), c1, KA).unwrap();
    let old = h.one_ccr();
    assert_eq!((old.source, old.impacted), (c2, c1));
    h.e.handle_ccr_completion(ms(1), old.id, Status::SUCCESS, 0).unwrap();
    h.e.handle_timeout(ms(15_001));
    assert_eq!(h.take_releases()[0].reason, ReleaseReason::HoldDeadline);
    let mut new = facts(1);
    new.ciu = 0x99;
    new.cirn = 0x1234;
    h.e.handle_reconnected(ms(16_000), c1, new).unwrap();
    h.submit(ms(16_001), c1, 2, W);
    h.e.handle_controller_failed(ms(16_002), c1, KA).unwrap();
    let fresh = h.one_ccr();
    assert_eq!(fresh.command, CrossControllerReset { icid: 1, ciu: 0x99, cirn: 0x1234 });
    assert_eq!(h.e.ccrs_in_flight(c2), 2, "the old CCR still counts until ctrl2 resolves it");
    // The old CCR finally succeeds (it named CIU 0x11), by IRS-less log entry: the new instance stays held.
    h.e.handle_aen(ms(16_100), c2, ccr_aen()).unwrap();
    let read = h.one_read();
    h.e.handle_ccr_log(ms(16_101), read.id, &page(&[(1, 0x11, Ccrs::SUCCESS), (1, 0x99, Ccrs::IN_PROGRESS)])).unwrap();
    assert!(h.take_releases().is_empty());
    assert_eq!(h.e.held(c1), 1);
    assert_eq!(h.e.ccrs_in_flight(c2), 1);
    // The new CCR's own success releases it.
    h.e.handle_ccr_completion(ms(16_200), fresh.id, Status::SUCCESS, 1).unwrap();
    assert_eq!(h.take_releases()[0].token, 2);
}

/// Same, for a CIU = 0 controller whose new instance differs only in CIRN: log entries (ICID + CIU, no CIRN)
/// could not tell the two CCRs apart, so the new CCR waits until ctrl2 has resolved the old one. (1)
#[test]
fn same_icid_and_ciu_waits_for_the_old_ccr_to_resolve() {
    let mut cfg = Config::new(Policy::Ccr);
    cfg.ccr_wait = CcrWait::UntilDeadline;
    cfg.accepted_ccr_limit = Some(Duration::ZERO); // the deadline releases although the old CCR is unresolved
    let mut h = Host::with(cfg);
    let mut f1 = facts(1);
    f1.ciu = 0;
    let c1 = h.e.add_controller(ms(0), f1).unwrap();
    let c2 = h.e.add_controller(ms(0), facts(2)).unwrap();
    h.submit(ms(0), c1, 1, W);
    h.e.handle_controller_failed(ms(0), c1, KA).unwrap();
    let old = h.one_ccr();
    assert_eq!((old.source, old.impacted), (c2, c1));
    h.e.handle_ccr_completion(ms(1), old.id, Status::SUCCESS, 0).unwrap();
    h.e.handle_timeout(ms(15_001));
    assert_eq!(h.take_releases()[0].reason, ReleaseReason::HoldDeadline);
    h.e.handle_reconnected(ms(16_000), c1, nvme_ccr::ControllerFacts { cirn: 0x5555, ..f1 }).unwrap();
    h.submit(ms(16_001), c1, 2, W);
    h.e.handle_controller_failed(ms(16_002), c1, KA).unwrap();
    h.drain();
    assert!(h.ccrs.is_empty(), "ctrl2 is busy with an unresolved CCR for (ICID 1, CIU 0)");
    assert!(!h.saw(|e| matches!(e, Event::FellBackToTimer { .. })), "waiting, not out of sources");
    h.e.handle_aen(ms(16_100), c2, ccr_aen()).unwrap();
    let read = h.one_read();
    h.e.handle_ccr_log(ms(16_101), read.id, &page(&[(1, 0, Ccrs::SUCCESS)])).unwrap();
    assert!(h.take_releases().is_empty(), "the old CCR's success is not the new instance's");
    let fresh = h.one_ccr();
    assert_eq!(fresh.command, CrossControllerReset { icid: 1, ciu: 0, cirn: 0x5555 });
}

/// Duplicate, late and unmatched inputs change nothing. (4)
#[test]
fn duplicate_late_and_unmatched_inputs_are_ignored() {
    let mut h = Host::new(Policy::Ccr);
    let [c1, c2, c3] = h.paths(&[1, 2, 3])[..] else { unreachable!() };
    h.submit(ms(0), c1, 5, W);
    h.submit(ms(0), c2, 6, W);
    assert_eq!(h.e.handle_submit(ms(0), c2, 6, W), Err(SubmitError::DuplicateToken));
    assert_eq!(h.e.handle_complete(ms(0), c1, 6), Err(CompleteError::WrongPath { path: c2 }));
    assert_eq!(h.e.handle_complete(ms(0), c2, 6), Ok(Completion::Deliver));
    assert_eq!(h.e.handle_complete(ms(0), c2, 6), Err(CompleteError::UnknownCommand), "duplicate completion");
    assert_eq!(h.e.handle_complete(ms(0), c2, 99), Err(CompleteError::UnknownCommand), "unknown command");

    // An AEN before any CCR is in flight: nothing to read.
    h.e.handle_aen(ms(0), c2, ccr_aen()).unwrap();
    h.drain();
    assert!(h.reads.is_empty());

    h.e.handle_controller_failed(ms(1), c1, KA).unwrap();
    h.e.handle_controller_failed(ms(2), c1, KA).unwrap(); // duplicate failure: no second fence
    let ccr = h.one_ccr();
    assert_eq!(h.events.iter().filter(|e| matches!(e, Event::FencingStarted { .. })).count(), 1);
    h.e.handle_ccr_completion(ms(3), ccr.id, Status::SUCCESS, 0).unwrap();
    h.e.handle_ccr_completion(ms(3), ccr.id, Status::SUCCESS, 0).unwrap(); // duplicate accept: harmless
    assert_eq!(h.e.handle_ccr_completion(ms(3), nvme_ccr::CcrId(77), Status::SUCCESS, 1), Err(CcrError::UnknownCcr));

    // Late completion of the held W5 from the dead path: dropped, W5 stays held.
    assert_eq!(h.e.handle_complete(ms(4), c1, 5), Ok(Completion::Held));
    assert!(h.e.command(5).unwrap().held);

    // Two AENs: one read in flight, one follow-up at most; other AEN types and other sources: nothing.
    h.e.handle_aen(ms(5), c2, ccr_aen()).unwrap();
    h.e.handle_aen(ms(5), c2, ccr_aen()).unwrap();
    h.e.handle_aen(ms(5), c2, ccr_aen()).unwrap();
    h.e.handle_aen(ms(5), c2, 0x0003_0002).unwrap(); // a Notice for another log
    h.e.handle_aen(ms(5), c3, ccr_aen()).unwrap(); // no CCR through ctrl3
    let read = h.one_read();
    assert_eq!(h.e.handle_aen(ms(5), PathId(9), ccr_aen()), Err(PathError::UnknownPath));

    // The log holds only entries for other controllers, plus a garbage CCRS: nothing happens.
    h.e.handle_ccr_log(
        ms(6),
        read.id,
        &page(&[(7, 0x11, Ccrs::SUCCESS), (1, 0x55, Ccrs::SUCCESS), (1, 0x11, Ccrs(9))]),
    )
    .unwrap();
    assert!(h.take_releases().is_empty());
    assert_eq!(h.e.handle_ccr_log(ms(6), read.id, &page(&[(1, 0x11, Ccrs::SUCCESS)])), Err(LogError::UnknownRead));
    assert!(h.take_releases().is_empty(), "a duplicate log answer is not a proof");
    // The coalesced follow-up read; a truncated page is an error and counts as a failed read.
    let follow = h.one_read();
    assert!(matches!(h.e.handle_ccr_log(ms(7), follow.id, &[1, 0, 0, 0, 0, 0, 0, 0]), Err(LogError::Malformed(_))));
    assert!(h.take_releases().is_empty());
    assert_eq!(h.e.held(c1), 1);
}

/// Legacy: W5 is retried on ctrl2 the moment ctrl1 fails: the unsafe baseline.
#[test]
fn legacy_retries_at_once() {
    let mut h = Host::new(Policy::Legacy);
    let [c1, c2] = h.paths(&[1, 2])[..] else { unreachable!() };
    h.submit(ms(0), c1, 5, W);
    h.submit(ms(0), c1, 6, R);
    h.e.handle_controller_failed(ms(1), c1, KA).unwrap();
    let rel = h.take_releases();
    assert_eq!(rel.len(), 2);
    assert!(rel.iter().all(|r| r.reason == ReleaseReason::Legacy && retried_on(r) == Some(c2)));
    assert!(h.ccrs.is_empty());
    assert_eq!(h.actions, [PathAction::Reconnect { path: c1 }]);
    assert_eq!(h.e.poll_timeout(), None);
}

/// ccr-filter: the read goes at once, the write waits for the CCR; admin reads go too with `release_admin`. (1)
#[test]
fn ccr_filter_releases_reads_at_once() {
    for release_admin in [false, true] {
        let mut h = Host::new(Policy::CcrFilter { release_admin });
        let [c1, c2] = h.paths(&[1, 2])[..] else { unreachable!() };
        h.submit(ms(0), c1, 5, W);
        h.submit(ms(0), c1, 6, R);
        h.submit(ms(0), c1, 7, CommandKind::Admin { side_effects: false });
        h.submit(ms(0), c1, 8, CommandKind::OtherIo { side_effects: true });
        h.submit(ms(0), c1, 9, CommandKind::OtherIo { side_effects: false });
        h.e.handle_controller_failed(ms(1), c1, KA).unwrap();
        let mut now: Vec<u64> = h.take_releases().iter().map(|r| r.token).collect();
        now.sort();
        assert_eq!(now, if release_admin { vec![6, 7, 9] } else { vec![6, 9] });
        assert!(
            h.saw(|e| matches!(e, Event::FencingStarted { released_at_once, .. } if *released_at_once == now.len()))
        );
        let ccr = h.one_ccr();
        assert_eq!(ccr.source, c2);
        h.e.handle_ccr_completion(ms(2), ccr.id, Status::SUCCESS, 1).unwrap();
        let mut later: Vec<u64> = h.take_releases().iter().map(|r| r.token).collect();
        later.sort();
        assert_eq!(later, if release_admin { vec![5, 8] } else { vec![5, 7, 8] });
    }
}

/// ccr-filter with only reads outstanding: nothing is held, the path is released at once (no CCR needed).
#[test]
fn nothing_held_releases_at_once() {
    let mut h = Host::new(Policy::CcrFilter { release_admin: false });
    let [c1, _c2] = h.paths(&[1, 2])[..] else { unreachable!() };
    h.submit(ms(0), c1, 6, R);
    h.e.handle_controller_failed(ms(1), c1, KA).unwrap();
    h.drain();
    assert!(h.ccrs.is_empty());
    assert!(h.saw(|e| matches!(e, Event::HoldReleased { reason: ReleaseReason::NothingHeld, released: 0, .. })));
    assert_eq!(h.e.path_state(c1), Some(PathState::Resetting));
    let mut h = Host::new(Policy::Ccr);
    let [c1, _c2] = h.paths(&[1, 2])[..] else { unreachable!() };
    h.e.handle_controller_failed(ms(1), c1, KA).unwrap();
    assert!(h.saw(|e| matches!(e, Event::HoldReleased { reason: ReleaseReason::NothingHeld, .. })));
}

/// One path only: W5 is held for the full hold, then failed with Host Pathing Error (never before). (1)(2)
#[test]
fn no_path_left_fails_with_host_path_error_only_after_release() {
    let mut h = Host::new(Policy::Ccr);
    let c1 = h.paths(&[1])[0];
    h.submit(ms(0), c1, 5, W);
    h.e.handle_controller_failed(ms(0), c1, KA).unwrap();
    assert!(h.saw(|e| matches!(e, Event::FellBackToTimer { .. })));
    h.e.handle_timeout(ms(15_000));
    assert!(h.take_releases().is_empty());
    h.e.handle_timeout(ms(15_001));
    let rel = h.take_releases();
    assert_eq!(rel[0].action, ReleaseAction::Fail { status: Status::new(StatusCode::HOST_PATHING_ERROR) });
    assert_eq!(rel[0].action, ReleaseAction::Fail { status: Status::from_word(0x06E0) });
}

/// While ctrl1 is fencing, new commands go to ctrl2: ctrl1 is not usable, a submission to it is refused, and a
/// reconnect of ctrl1 is refused until its release. (1)
#[test]
fn new_commands_during_fencing_go_elsewhere() {
    let mut h = Host::new(Policy::Ccr);
    let [c1, c2] = h.paths(&[1, 2])[..] else { unreachable!() };
    h.submit(ms(0), c1, 5, W);
    h.e.handle_controller_failed(ms(0), c1, KA).unwrap();
    assert!(!h.e.is_usable(c1));
    assert!(h.e.is_usable(c2));
    assert_eq!(h.e.usable_paths().collect::<Vec<_>>(), [c2]);
    assert_eq!(h.e.handle_submit(ms(1), c1, 6, W), Err(SubmitError::PathNotUsable));
    h.submit(ms(1), c2, 6, W);
    assert_eq!(h.e.handle_complete(ms(2), c2, 6), Ok(Completion::Deliver));
    assert_eq!(
        h.e.handle_reconnected(ms(3), c1, facts(1)),
        Err(PathError::WrongState { state: PathState::Fencing }),
        "the impacted path must not reconnect before release"
    );
    assert_eq!(h.e.handle_reconnected(ms(3), c2, facts(2)), Err(PathError::WrongState { state: PathState::Live }));
    assert_eq!(h.e.handle_submit(ms(3), PathId(7), 8, W), Err(SubmitError::UnknownPath));
}

/// Every path fails at once (HA node loss): both fence, no source is left, both fall back to their timers; the
/// second waits past its deadline while the first may come back (decision 31). (1)(2)
#[test]
fn several_controllers_failing_at_once_fall_back_to_timers() {
    let mut h = Host::new(Policy::Ccr);
    let [c1, c2] = h.paths(&[1, 2])[..] else { unreachable!() };
    h.submit(ms(0), c1, 1, W);
    h.submit(ms(0), c2, 2, W);
    h.e.handle_controller_failed(ms(0), c1, KA).unwrap();
    h.e.handle_controller_failed(ms(1), c2, KA).unwrap();
    h.drain();
    assert!(h.ccrs.is_empty(), "the CCR queued through ctrl2 was withdrawn when ctrl2 failed");
    let fell: Vec<PathId> = h
        .events
        .iter()
        .filter_map(|e| if let Event::FellBackToTimer { path, .. } = e { Some(*path) } else { None })
        .collect();
    assert_eq!(fell, [c1, c2]);
    h.e.handle_timeout(ms(15_001));
    let rel = h.take_releases();
    assert_eq!(rel.len(), 1);
    assert_eq!(
        (rel[0].token, rel[0].action),
        (1, ReleaseAction::Fail { status: Status::new(StatusCode::HOST_PATHING_ERROR) })
    );
    // ctrl2's deadline: no path live and ctrl1 (released, reconnecting) may come back as an untried source, so W2
    // waits for it (decision 31) until the driver gives ctrl1 up.
    h.e.handle_timeout(ms(15_002));
    assert!(h.take_releases().is_empty());
    let awaiting = |h: &Host| h.events.iter().filter(|e| matches!(e, Event::HoldAwaitingPath { .. })).count();
    assert!(h.saw(|e| *e == Event::HoldAwaitingPath { path: c2 }), "the wait is reported");
    h.e.handle_timeout(h.e.poll_timeout().unwrap());
    h.drain();
    assert_eq!(awaiting(&h), 1, "once per episode, not at every re-check");
    h.e.handle_path_gone(ms(16_000), c1).unwrap();
    let rel = h.take_releases();
    assert_eq!(
        (rel[0].token, rel[0].reason, rel[0].action),
        (2, ReleaseReason::HoldDeadline, ReleaseAction::Fail { status: Status::new(StatusCode::HOST_PATHING_ERROR) })
    );
}

/// A custom source order (prefer the highest CNTLID) is honoured; registration order is too.
#[test]
fn source_order_is_pluggable() {
    let mut cfg = Config::new(Policy::Ccr);
    cfg.source_order = SourceOrder::Custom(|c| u64::from(u16::MAX - c.facts.cntlid));
    let mut h = Host::with(cfg);
    let [c1, _c2, c3] = h.paths(&[1, 2, 3])[..] else { unreachable!() };
    h.submit(ms(0), c1, 1, W);
    h.e.handle_controller_failed(ms(0), c1, KA).unwrap();
    assert_eq!(h.one_ccr().source, c3);

    let mut cfg = Config::new(Policy::Ccr);
    cfg.source_order = SourceOrder::Registration;
    let mut h = Host::with(cfg);
    let c1 = h.e.add_controller(ms(0), facts(1)).unwrap();
    let c9 = h.e.add_controller(ms(0), facts(9)).unwrap();
    let _c2 = h.e.add_controller(ms(0), facts(2)).unwrap();
    h.submit(ms(0), c1, 1, W);
    h.e.handle_controller_failed(ms(0), c1, KA).unwrap();
    assert_eq!(h.one_ccr().source, c9);
}

/// Linux v3's per-CCR wait, max(CQT, KATO) = 5 000 ms with CQT 1 ms.
#[test]
fn ccr_wait_max_cqt_kato() {
    let mut cfg = Config::new(Policy::Ccr);
    cfg.ccr_wait = CcrWait::MaxCqtKato;
    let mut h = Host::with(cfg);
    let [c1, _c2] = h.paths(&[1, 2])[..] else { unreachable!() };
    h.submit(ms(0), c1, 1, W);
    h.e.handle_controller_failed(ms(0), c1, KA).unwrap();
    let _ = h.one_ccr();
    assert_eq!(h.e.poll_timeout(), Some(ms(5_000)));
}

/// Time never runs backwards: an input with an earlier `now` is taken at the latest time seen.
#[test]
fn earlier_now_does_not_rewind() {
    let mut h = Host::new(Policy::Cqt);
    let c1 = h.paths(&[1])[0];
    h.submit(ms(0), c1, 1, W);
    h.e.handle_controller_failed(ms(20_000), c1, KA).unwrap();
    h.e.handle_timeout(ms(0));
    assert!(h.take_releases().is_empty());
    assert_eq!(h.e.hold_deadline(c1), Some(ms(35_001)));
}

// -------------------------------------------------------------------------------------------------------------
// An accepted CCR outlives the hold deadline (notes::recovery, decision 24; notes::ccr_cqt §11, a non-compliant
// target). Seed facts: KATO 5 s, TBKAS, CQT 1 ms -> deadline 15 001 ms after the failure at t = 0.
// -------------------------------------------------------------------------------------------------------------

/// `ccr_wait = UntilDeadline` keeps the per-CCR timer out of the way, so the timelines below are only about the
/// deadline; `recheck` is the period of the log re-reads past the deadline.
fn accepted_setup(policy: Policy, paths: &[u16], recheck: Duration) -> (Host, Vec<PathId>, nvme_ccr::SendCcr) {
    let mut cfg = Config::new(policy);
    cfg.ccr_wait = CcrWait::UntilDeadline;
    cfg.accepted_ccr_recheck = recheck;
    let mut h = Host::with(cfg);
    let p = h.paths(paths);
    h.submit(ms(0), p[0], 5, W);
    h.e.handle_controller_failed(ms(0), p[0], KA).unwrap();
    let ccr = h.one_ccr();
    assert_eq!(ccr.source, p[1]);
    // t = 1 ms: ctrl2 accepts the CCR (success, IRS = 0): it is tearing ctrl1 down.
    h.e.handle_ccr_completion(ms(1), ccr.id, Status::SUCCESS, 0).unwrap();
    assert_eq!(h.e.accepted_ccr_pending(p[0]), Some(p[1]));
    assert_eq!(h.e.accepted_ccr_pending(p[1]), None, "ctrl2 is not fencing");
    (h, p, ccr)
}

/// t = 15 001 ms: the deadline passes while ctrl2's accepted CCR is In Progress (the stuck write outlives the CQT
/// promise) -> W5 stays held, HoldExtendedByCcr, ctrl2's log is read at once (In Progress: still held); t = 20 001
/// ms (deadline + 5 s): ctrl2's AEN, log read, entry Success -> W5 released with the CCR as proof. (1)(2)
#[test]
fn accepted_ccr_outlives_the_deadline_then_aen_and_log_success_release() {
    for policy in [Policy::Ccr, Policy::CcrFilter { release_admin: false }] {
        let (mut h, p, ccr) = accepted_setup(policy, &[1, 2], Duration::from_secs(60));
        let [c1, c2] = p[..] else { unreachable!() };
        h.e.handle_timeout(ms(15_001));
        assert!(h.take_releases().is_empty(), "{policy:?}: no release at the deadline");
        assert_eq!(h.e.path_state(c1), Some(PathState::Fencing));
        assert!(h.saw(|e| *e == Event::HoldExtendedByCcr { path: c1, source: c2, ccr: ccr.id }));
        assert_eq!(h.e.hold_deadline(c1), Some(ms(15_001)), "the deadline itself does not move");
        let read = h.one_read();
        assert_eq!(read.source, c2);
        h.e.handle_ccr_log(ms(15_002), read.id, &page(&[(1, 0x11, Ccrs::IN_PROGRESS)])).unwrap();
        assert!(h.take_releases().is_empty(), "In Progress keeps the hold");
        assert_eq!(h.e.accepted_ccr_pending(c1), Some(c2));
        assert_eq!(h.e.poll_timeout(), Some(ms(75_001)), "next re-read, one recheck period after the deadline");
        assert!(h.ccrs.is_empty(), "no further source past the deadline");

        h.e.handle_aen(ms(20_001), c2, ccr_aen()).unwrap();
        let read = h.one_read();
        h.e.handle_ccr_log(ms(20_002), read.id, &page(&[(1, 0x11, Ccrs::SUCCESS)])).unwrap();
        let rel = h.take_releases();
        assert_eq!(rel.len(), 1);
        assert_eq!((rel[0].token, rel[0].reason), (5, ReleaseReason::CcrSucceeded { source: c2 }));
        assert!(h.saw(|e| matches!(e, Event::HoldReleased { path, after, .. }
            if *path == c1 && *after == Duration::from_millis(20_002))));
        assert_eq!(h.e.accepted_ccr_pending(c1), None);
        assert_eq!(h.e.poll_timeout(), None, "nothing left to time");
        assert_eq!(h.e.ccrs_in_flight(c2), 0);
    }
}

/// Same, but at t = 17 000 ms the entry reads Failed: the target's verdict, and the deadline has passed, so W5
/// goes at once (on the deadline's authority), retried on a live path (ctrl2, the lowest id of the least loaded),
/// and the untried ctrl3 is not asked (decision 28 resumes only without a verdict; an error status is a verdict
/// too, see `a_verdict_on_the_ccr_sent_past_the_deadline_releases_at_once`). (1)(2)
#[test]
fn accepted_ccr_failing_after_the_deadline_releases_at_once() {
    let (mut h, p, ccr) = accepted_setup(Policy::Ccr, &[1, 2, 3], Duration::from_secs(60));
    let [c1, c2, c3] = p[..] else { unreachable!() };
    h.e.handle_timeout(ms(15_001));
    let first = h.one_read();
    assert!(h.take_releases().is_empty());
    h.e.handle_aen(ms(17_000), c2, ccr_aen()).unwrap();
    h.e.handle_ccr_log(ms(17_000), first.id, &page(&[(1, 0x11, Ccrs::FAILED)])).unwrap();
    let rel = h.take_releases();
    assert_eq!(rel.len(), 1);
    assert_eq!((rel[0].token, rel[0].reason, retried_on(&rel[0])), (5, ReleaseReason::HoldDeadline, Some(c2)));
    assert!(h.saw(|e| *e == Event::CcrFailed { path: c1, source: c2, ccr: ccr.id, reason: CcrFailure::LogFailed }));
    h.drain();
    assert!(!h.ccrs.iter().any(|c| c.impacted == c1 && c.source == c3), "no CCR via ctrl3: the target's verdict");
}

/// Same, but at t = 17 000 ms ctrl2 (the source) fails: its accepted CCR is gone with it, without the target's
/// verdict, and ctrl3 was never asked: the CCR goes through ctrl3 (decision 28), which accepts it; W5 stays held.
/// The AEN and the log at 20 000 ms say Success -> W5 released with ctrl3's CCR as proof, never on the deadline.
/// (1)(2)
#[test]
fn source_failing_after_the_deadline_sends_the_ccr_through_the_next_untried_source() {
    for policy in [Policy::Ccr, Policy::CcrFilter { release_admin: false }] {
        let (mut h, p, ccr) = accepted_setup(policy, &[1, 2, 3], Duration::from_secs(60));
        let [c1, c2, c3] = p[..] else { unreachable!() };
        h.e.handle_timeout(ms(15_001));
        let first = h.one_read();
        assert_eq!(first.source, c2);
        h.e.handle_controller_failed(ms(17_000), c2, KA).unwrap();
        let next = h.one_ccr();
        assert_eq!((next.source, next.impacted), (c3, c1), "{policy:?}");
        assert_eq!((next.command.icid, next.command.ciu, next.command.cirn), (1, 0x11, 0xC1C1_0001));
        assert!(
            h.saw(|e| *e == Event::CcrFailed { path: c1, source: c2, ccr: ccr.id, reason: CcrFailure::SourceFailed })
        );
        assert!(h.saw(|e| *e == Event::CcrSent { path: c1, source: c3, ccr: next.id }));
        assert!(h.take_releases().iter().all(|r| r.from != c1), "{policy:?}: W5 still held");
        assert_eq!(h.e.path_state(c1), Some(PathState::Fencing));
        assert_eq!(h.e.accepted_ccr_pending(c1), Some(c3), "the unanswered CCR holds");
        assert_eq!(h.e.poll_timeout(), Some(ms(75_001)), "no per-CCR wait past the deadline: the next re-read");

        h.e.handle_ccr_completion(ms(17_001), next.id, Status::SUCCESS, 0).unwrap();
        assert!(h.take_releases().is_empty(), "accepted: still held");
        h.e.handle_aen(ms(20_000), c3, ccr_aen()).unwrap();
        let read = h.one_read();
        assert_eq!(read.source, c3);
        h.e.handle_ccr_log(ms(20_001), read.id, &page(&[(1, 0x11, Ccrs::SUCCESS)])).unwrap();
        let rel = h.take_releases();
        assert_eq!(rel.len(), 1, "{policy:?}");
        assert_eq!(
            (rel[0].token, rel[0].reason, retried_on(&rel[0])),
            (5, ReleaseReason::CcrSucceeded { source: c3 }, Some(c3))
        );
        let extended = h.events.iter().filter(|e| matches!(e, Event::HoldExtendedByCcr { .. })).count();
        assert_eq!(extended, 1, "reported once per episode");
        assert_eq!(h.e.poll_timeout(), None);
    }
}

/// Every way an accepted CCR can stop holding past the deadline without the target's verdict sends the CCR through
/// the untried ctrl3 instead of releasing W5: ctrl2 fails, the entry vanishes from a log read issued after the
/// acceptance. (A failed or malformed log read does not end it: decision 26,
/// `regression_failed_log_read_after_the_deadline_keeps_the_hold`.) (1)(2)
#[test]
fn every_ending_without_a_verdict_asks_the_next_untried_source() {
    for how in ["source failed", "vanished"] {
        let (mut h, p, ccr) = accepted_setup(Policy::Ccr, &[1, 2, 3], Duration::from_secs(60));
        let [c1, c2, c3] = p[..] else { unreachable!() };
        h.e.handle_timeout(ms(15_001));
        let read = h.one_read();
        match how {
            "source failed" => h.e.handle_controller_failed(ms(16_000), c2, KA).unwrap(),
            _ => h.e.handle_ccr_log(ms(16_000), read.id, &page(&[])).unwrap(),
        }
        assert!(
            h.saw(|e| matches!(e, Event::CcrFailed { path, source, ccr: id, .. }
            if *path == c1 && *source == c2 && *id == ccr.id)),
            "{how}"
        );
        let next = h.one_ccr();
        assert_eq!((next.source, next.impacted), (c3, c1), "{how}");
        assert!(h.take_releases().iter().all(|r| r.from != c1), "{how}: W5 still held");
        assert_eq!(h.e.accepted_ccr_pending(c1), Some(c3), "{how}");
    }
}

/// Same, but ctrl3 was tried before the deadline (with the default per-CCR wait ctrl2's final read at 5 001 ms
/// says In Progress, ctrl3 refuses with 0x41): when ctrl2 fails at 17 000 ms no untried live source is left, so W5
/// goes at once on the deadline's authority. (1)(2)
#[test]
fn source_failing_after_the_deadline_with_no_untried_source_releases_at_once() {
    let mut h = Host::new(Policy::Ccr);
    let [c1, c2, c3] = h.paths(&[1, 2, 3])[..] else { unreachable!() };
    h.submit(ms(0), c1, 5, W);
    h.e.handle_controller_failed(ms(0), c1, KA).unwrap();
    let first = h.one_ccr();
    h.e.handle_ccr_completion(ms(1), first.id, Status::SUCCESS, 0).unwrap();
    h.e.handle_timeout(ms(5_001));
    let read = h.one_read();
    h.e.handle_ccr_log(ms(5_002), read.id, &page(&[(1, 0x11, Ccrs::IN_PROGRESS)])).unwrap();
    let second = h.one_ccr();
    assert_eq!(second.source, c3);
    h.e.handle_ccr_completion(ms(5_003), second.id, status(StatusCode::CCR_LIMIT_EXCEEDED), 0).unwrap();
    h.e.handle_timeout(ms(15_001));
    assert!(h.saw(|e| *e == Event::HoldExtendedByCcr { path: c1, source: c2, ccr: first.id }));
    assert!(h.take_releases().is_empty());
    h.e.handle_controller_failed(ms(17_000), c2, KA).unwrap();
    let rel = h.take_releases();
    assert_eq!(rel.len(), 1);
    assert_eq!((rel[0].token, rel[0].reason, retried_on(&rel[0])), (5, ReleaseReason::HoldDeadline, Some(c3)));
    assert!(h.saw(|e| matches!(e, Event::HoldReleased { path, after, .. }
        if *path == c1 && *after == Duration::from_millis(17_000))));
    h.drain();
    assert!(h.ccrs.is_empty(), "ctrl3 was tried in this episode");
}

/// The model check's shortest corruption under `--reconnect --noncompliant` (decision 31): ctrl2's accepted CCR holds
/// W5 past the deadline; at 17 000 ms ctrl2 fails too (nothing of its own held: released at once, reconnect
/// ordered). No untried live source is left, but no path is live and ctrl2 may come back: W5 stays held (before
/// decision 31 it went on the deadline, failed back for want of a path, and the host retried it on ctrl2 once it
/// was back while ctrl1's stuck W5 could still land). ctrl2 back at 18 000 ms (a new instance, untried) -> CCR
/// through it; IRS success -> W5 released with that proof on ctrl2. Given up instead (`handle_path_gone`) -> W5
/// goes on the deadline at once (failed back: no path). (1)(2)
#[test]
fn regression_no_path_live_waits_for_a_path_that_comes_back() {
    for policy in [Policy::Ccr, Policy::CcrFilter { release_admin: false }] {
        for back in [true, false] {
            let (mut h, p, ccr) = accepted_setup(policy, &[1, 2], Duration::from_secs(60));
            let [c1, c2] = p[..] else { unreachable!() };
            h.e.handle_timeout(ms(15_001));
            assert!(h.saw(|e| *e == Event::HoldExtendedByCcr { path: c1, source: c2, ccr: ccr.id }));
            h.e.handle_controller_failed(ms(17_000), c2, KA).unwrap();
            h.drain();
            assert_eq!(h.actions, vec![PathAction::Reconnect { path: c2 }], "ctrl2 held nothing");
            assert_eq!(h.e.path_state(c2), Some(PathState::Resetting));
            assert!(h.take_releases().is_empty(), "{policy:?}: W5 waits for ctrl2 to come back");
            assert_eq!(h.e.path_state(c1), Some(PathState::Fencing));
            assert!(h.ccrs.is_empty(), "no live source to ask");
            h.e.handle_timeout(ms(17_500));
            assert!(h.take_releases().is_empty());
            if back {
                let mut again = facts(2);
                again.ciu = 0x30;
                again.cirn = 0xBEEF;
                h.e.handle_reconnected(ms(18_000), c2, again).unwrap();
                let next = h.one_ccr();
                assert_eq!((next.source, next.impacted), (c2, c1), "{policy:?}");
                assert_eq!((next.command.icid, next.command.ciu, next.command.cirn), (1, 0x11, 0xC1C1_0001));
                assert!(h.take_releases().is_empty(), "held until the CCR's proof");
                h.e.handle_ccr_completion(ms(18_001), next.id, Status::SUCCESS, 1).unwrap();
                let rel = h.take_releases();
                assert_eq!(rel.len(), 1, "{policy:?}");
                assert_eq!(
                    (rel[0].token, rel[0].reason, retried_on(&rel[0])),
                    (5, ReleaseReason::CcrSucceeded { source: c2 }, Some(c2))
                );
            } else {
                h.e.handle_path_gone(ms(18_000), c2).unwrap();
                let rel = h.take_releases();
                assert_eq!(rel.len(), 1, "{policy:?}");
                assert_eq!((rel[0].token, rel[0].reason, retried_on(&rel[0])), (5, ReleaseReason::HoldDeadline, None));
                assert!(h.ccrs.is_empty());
            }
            assert_eq!(h.e.poll_timeout(), None);
        }
    }
}

/// Decision 31 only under a CCR policy, never while a path is live, and `handle_path_gone` only for a path that is
/// reconnecting: `cqt` releases W5 on the deadline although ctrl2 is reconnecting; a LIVE or FENCING path cannot be
/// given up.
#[test]
fn cqt_does_not_wait_for_a_path_to_come_back() {
    let mut h = Host::new(Policy::Cqt);
    let [c1, c2] = h.paths(&[1, 2])[..] else { unreachable!() };
    h.submit(ms(0), c1, 5, W);
    assert_eq!(h.e.handle_path_gone(ms(0), c2), Err(PathError::WrongState { state: PathState::Live }));
    h.e.handle_controller_failed(ms(0), c1, KA).unwrap();
    assert_eq!(h.e.handle_path_gone(ms(0), c1), Err(PathError::WrongState { state: PathState::Fencing }));
    h.e.handle_controller_failed(ms(1_000), c2, KA).unwrap();
    h.drain();
    assert_eq!(h.e.path_state(c2), Some(PathState::Resetting));
    h.e.handle_timeout(ms(15_001));
    let rel = h.take_releases();
    assert_eq!(rel.len(), 1);
    assert_eq!((rel[0].token, rel[0].reason, retried_on(&rel[0])), (5, ReleaseReason::HoldDeadline, None));
    h.e.handle_path_gone(ms(16_000), c2).unwrap();
}

/// Two CCRs hold at the deadline (ctrl2's given up on at 5 001 ms, ctrl3's accepted after it): ctrl2 failing at
/// 17 000 ms changes nothing while ctrl3's still holds (no CCR through the untried ctrl4); ctrl3 failing at 18 000 ms
/// ends the last one without a verdict -> CCR via ctrl4, whose IRS success releases W5. (1)(2)
#[test]
fn the_next_source_is_asked_only_once_no_ccr_holds() {
    let mut h = Host::new(Policy::Ccr);
    let [c1, c2, c3, c4] = h.paths(&[1, 2, 3, 4])[..] else { unreachable!() };
    h.submit(ms(0), c1, 5, W);
    h.e.handle_controller_failed(ms(0), c1, KA).unwrap();
    let first = h.one_ccr();
    h.e.handle_ccr_completion(ms(1), first.id, Status::SUCCESS, 0).unwrap();
    h.e.handle_timeout(ms(5_001));
    let read = h.one_read();
    h.e.handle_ccr_log(ms(5_002), read.id, &page(&[(1, 0x11, Ccrs::IN_PROGRESS)])).unwrap();
    let second = h.one_ccr();
    assert_eq!(second.source, c3);
    h.e.handle_ccr_completion(ms(5_003), second.id, Status::SUCCESS, 0).unwrap();
    h.e.handle_timeout(ms(15_001));
    assert!(h.saw(|e| *e == Event::HoldExtendedByCcr { path: c1, source: c2, ccr: first.id }));
    h.e.handle_controller_failed(ms(17_000), c2, KA).unwrap();
    h.drain();
    assert!(h.ccrs.is_empty(), "ctrl3's accepted CCR still holds: no further source");
    assert!(h.take_releases().is_empty());
    assert_eq!(h.e.accepted_ccr_pending(c1), Some(c3));
    h.e.handle_controller_failed(ms(18_000), c3, KA).unwrap();
    let third = h.one_ccr();
    assert_eq!((third.source, third.impacted), (c4, c1));
    assert!(h.take_releases().is_empty());
    h.e.handle_ccr_completion(ms(18_001), third.id, Status::SUCCESS, 1).unwrap();
    let rel = h.take_releases();
    assert_eq!((rel.len(), rel[0].reason), (1, ReleaseReason::CcrSucceeded { source: c4 }));
}

/// The CCR sent past the deadline follows the same rules: through ctrl3 after ctrl2 failed; ctrl3 fails too before
/// answering (no verdict) -> through ctrl4; ctrl4 answers 0x41 (the target's verdict) -> W5 goes at once on the
/// deadline's authority, and ctrl5, never asked, is not asked now. (1)(2)
#[test]
fn a_verdict_on_the_ccr_sent_past_the_deadline_releases_at_once() {
    let (mut h, p, _) = accepted_setup(Policy::Ccr, &[1, 2, 3, 4, 5], Duration::from_secs(60));
    let [c1, c2, c3, c4, c5] = p[..] else { unreachable!() };
    h.e.handle_timeout(ms(15_001));
    h.drain();
    h.e.handle_controller_failed(ms(17_000), c2, KA).unwrap();
    assert_eq!(h.one_ccr().source, c3);
    h.e.handle_controller_failed(ms(17_500), c3, KA).unwrap();
    let via4 = h.one_ccr();
    assert_eq!((via4.source, via4.impacted), (c4, c1));
    assert!(h.take_releases().iter().all(|r| r.from != c1), "W5 still held");
    h.e.handle_ccr_completion(ms(17_600), via4.id, status(StatusCode::CCR_LIMIT_EXCEEDED), 0).unwrap();
    let rel = h.take_releases();
    let w5: Vec<_> = rel.iter().filter(|r| r.from == c1).collect();
    assert_eq!((w5.len(), w5[0].token, w5[0].reason), (1, 5, ReleaseReason::HoldDeadline));
    h.drain();
    assert!(!h.ccrs.iter().any(|c| c.impacted == c1 && c.source == c5), "a verdict: no further source");
    assert!(h.saw(|e| matches!(e, Event::CcrFailed { path, source, reason: CcrFailure::Status(_), .. }
        if *path == c1 && *source == c4)));
}

/// Past the deadline the only untried source is busy (ctrl3, CCRL 1, still counts a CCR it accepted for ctrl4's
/// earlier episode): W5 stays held, and the periodic re-read reads ctrl3's log too, so a lost AEN cannot keep it
/// busy. Timeline (`accepted_ccr_limit` 2 s): ctrl4 fails at 0 (CCR via ctrl1 and ctrl2 refused with 0x41, ctrl3
/// accepts); at its deadline the hold is extended, the log reads from ctrl3 fail (which keeps the hold, decision 26)
/// -> ctrl4's write goes at the limit, 17 001 ms, and ctrl3's CCR stays counted.
/// ctrl1 fails at 20 000 ms, ctrl2 accepts, the deadline 35 001 ms extends the hold, ctrl2 fails at 36 000 ms ->
/// wait for ctrl3; the re-read at 36 001 ms reads ctrl3's log, which no longer lists ctrl4's CCR (vanished) -> CCR
/// via ctrl3 -> IRS success -> W1 released with proof. (1)(2)
#[test]
fn a_busy_untried_source_is_waited_for_and_its_log_reread() {
    let mut cfg = Config::new(Policy::Ccr);
    cfg.ccr_wait = CcrWait::UntilDeadline;
    cfg.accepted_ccr_limit = Some(Duration::from_secs(2));
    let mut h = Host::with(cfg);
    let c1 = h.e.add_controller(ms(0), facts(1)).unwrap();
    let c2 = h.e.add_controller(ms(0), facts(2)).unwrap();
    let c3 = h.e.add_controller(ms(0), nvme_ccr::ControllerFacts { ccrl: Ccrl::from_raw(1), ..facts(3) }).unwrap();
    let c4 = h.e.add_controller(ms(0), facts(4)).unwrap();
    h.submit(ms(0), c4, 40, W);
    h.e.handle_controller_failed(ms(0), c4, KA).unwrap();
    for (t, source) in [(1, c1), (2, c2)] {
        let x = h.one_ccr();
        assert_eq!(x.source, source);
        h.e.handle_ccr_completion(ms(t), x.id, status(StatusCode::CCR_LIMIT_EXCEEDED), 0).unwrap();
    }
    let x3 = h.one_ccr();
    assert_eq!(x3.source, c3);
    h.e.handle_ccr_completion(ms(3), x3.id, Status::SUCCESS, 0).unwrap();
    h.e.handle_timeout(ms(15_001));
    for t in [15_001, 16_001] {
        h.e.handle_timeout(ms(t));
        let r = h.one_read();
        assert_eq!(r.source, c3);
        h.e.handle_ccr_log_failed(ms(t + 1), r.id).unwrap();
        assert!(h.take_releases().is_empty(), "a failed read keeps the hold");
    }
    h.e.handle_timeout(ms(17_001));
    let rel = h.take_releases();
    assert_eq!((rel.len(), rel[0].token, rel[0].reason), (1, 40, ReleaseReason::HoldDeadline));
    assert_eq!(h.e.ccrs_in_flight(c3), 1, "ctrl3 still counts the CCR it accepted");
    h.drain();
    h.events.clear();

    h.submit(ms(20_000), c1, 1, W);
    h.e.handle_controller_failed(ms(20_000), c1, KA).unwrap();
    let y = h.one_ccr();
    assert_eq!(y.source, c2);
    h.e.handle_ccr_completion(ms(20_001), y.id, Status::SUCCESS, 0).unwrap();
    h.e.handle_timeout(ms(35_001));
    let r2 = h.one_read();
    assert_eq!(r2.source, c2);
    h.e.handle_ccr_log(ms(35_002), r2.id, &page(&[(1, 0x11, Ccrs::IN_PROGRESS)])).unwrap();
    h.e.handle_controller_failed(ms(36_000), c2, KA).unwrap();
    h.drain();
    assert!(h.ccrs.is_empty(), "ctrl3 is busy (CCRL 1)");
    assert!(h.take_releases().iter().all(|r| r.from != c1), "W1 held: ctrl3 is still to be asked");
    assert_eq!(h.e.path_state(c1), Some(PathState::Fencing));
    assert_eq!(h.e.accepted_ccr_pending(c1), None, "no CCR holds it; it waits for a source");
    assert_eq!(h.e.poll_timeout(), Some(ms(36_001)));
    h.e.handle_timeout(ms(36_001));
    let r3 = h.one_read();
    assert_eq!(r3.source, c3, "the busy source's log is re-read");
    h.e.handle_ccr_log(ms(36_002), r3.id, &page(&[])).unwrap();
    let z = h.one_ccr();
    assert_eq!((z.source, z.impacted), (c3, c1));
    h.e.handle_ccr_completion(ms(36_003), z.id, Status::SUCCESS, 1).unwrap();
    let rel = h.take_releases();
    let w1: Vec<_> = rel.iter().filter(|r| r.from == c1).collect();
    assert_eq!((w1.len(), w1[0].token, w1[0].reason), (1, 1, ReleaseReason::CcrSucceeded { source: c3 }));
}

/// Same, but the AEN is lost: ctrl2's log is re-read every second past the deadline (default recheck): 15 001 In
/// Progress, 16 001 In Progress, 17 001 Success -> release at 17 001 ms. (1)(2)
#[test]
fn accepted_ccr_lost_aen_periodic_reread_finds_success() {
    let (mut h, p, _) = accepted_setup(Policy::Ccr, &[1, 2], nvme_ccr::DEFAULT_ACCEPTED_CCR_RECHECK);
    let [c1, c2] = p[..] else { unreachable!() };
    for (t, ccrs) in [(15_001, Ccrs::IN_PROGRESS), (16_001, Ccrs::IN_PROGRESS), (17_001, Ccrs::SUCCESS)] {
        assert_eq!(h.e.poll_timeout(), Some(ms(t)));
        h.e.handle_timeout(ms(t - 1));
        h.drain();
        assert!(h.reads.is_empty(), "no read before {t} ms");
        h.e.handle_timeout(ms(t));
        let read = h.one_read();
        assert_eq!(read.source, c2);
        h.e.handle_ccr_log(ms(t), read.id, &page(&[(1, 0x11, ccrs)])).unwrap();
    }
    let rel = h.take_releases();
    assert_eq!((rel.len(), rel[0].reason), (1, ReleaseReason::CcrSucceeded { source: c2 }));
    assert_eq!(h.e.path_state(c1), Some(PathState::Resetting));
}

/// Same, but the answer to a log read issued after the acceptance no longer lists the CCR (its outcome was lost):
/// past the deadline W5 goes at once. (1)(2)
#[test]
fn accepted_ccr_vanishing_after_the_deadline_releases_at_once() {
    let (mut h, p, ccr) = accepted_setup(Policy::Ccr, &[1, 2], Duration::from_secs(60));
    let [c1, c2] = p[..] else { unreachable!() };
    h.e.handle_timeout(ms(15_001));
    let read = h.one_read();
    h.e.handle_ccr_log(ms(15_500), read.id, &page(&[(7, 0x11, Ccrs::IN_PROGRESS)])).unwrap();
    let rel = h.take_releases();
    assert_eq!((rel.len(), rel[0].reason), (1, ReleaseReason::HoldDeadline));
    assert!(h.saw(|e| *e == Event::CcrFailed { path: c1, source: c2, ccr: ccr.id, reason: CcrFailure::Vanished }));
    assert_eq!(h.e.ccrs_in_flight(c2), 0, "the source no longer has it");
}

/// A read issued before the acceptance may predate the entry: its answer without the entry proves nothing, and
/// before the deadline a vanished CCR moves on to the next source as any failed one (today's rule). (1)
#[test]
fn vanishing_before_the_deadline_moves_to_the_next_source() {
    let mut h = Host::new(Policy::Ccr);
    let [c1, c2, c3] = h.paths(&[1, 2, 3])[..] else { unreachable!() };
    h.submit(ms(0), c1, 5, W);
    h.e.handle_controller_failed(ms(0), c1, KA).unwrap();
    let ccr = h.one_ccr();
    // A Log Page Full answer to another CCR is not needed: an AEN from ctrl2 while the CCR is in flight queues a
    // read before the acceptance.
    h.e.handle_aen(ms(1), c2, ccr_aen()).unwrap();
    let early = h.one_read();
    h.e.handle_ccr_completion(ms(2), ccr.id, Status::SUCCESS, 0).unwrap();
    h.e.handle_ccr_log(ms(3), early.id, &page(&[])).unwrap();
    h.drain();
    assert!(h.ccrs.is_empty(), "a read issued before the acceptance may not list it yet");
    assert_eq!(h.e.accepted_ccr_pending(c1), Some(c2));
    h.e.handle_aen(ms(4), c2, ccr_aen()).unwrap();
    let late = h.one_read();
    h.e.handle_ccr_log(ms(5), late.id, &page(&[])).unwrap();
    assert_eq!(h.one_ccr().source, c3, "vanished before the deadline: next source");
    assert!(h.saw(|e| matches!(e, Event::CcrFailed { reason: CcrFailure::Vanished, .. })));
    assert!(h.take_releases().is_empty(), "still held: no proof, deadline not reached");
}

/// A failed log read (or a malformed page) from the source of an accepted CCR ends nothing, before the deadline or
/// after it, even with no other source left: the source is live, the target is still tearing ctrl1 down as far as
/// the host can tell, and the next re-read watches it again (decision 26). Before this rule a failed read past the
/// deadline released W5 at once: against a target that breaks its CQT promise, its stuck write could then land
/// after the retry (`nvme-lab check --noncompliant` found it: CCR accepted, the first log read at the deadline
/// failed, W1 retried and acknowledged, W2 acknowledged, the stuck W1 landed). Here the re-read at 16 001 ms reads
/// In Progress, and the one at 17 001 ms Success -> W5 released with the CCR as proof. (1)(2)
#[test]
fn regression_failed_log_read_after_the_deadline_keeps_the_hold() {
    for malformed in [false, true] {
        let (mut h, p, _) = accepted_setup(Policy::Ccr, &[1, 2], nvme_ccr::DEFAULT_ACCEPTED_CCR_RECHECK);
        let [c1, c2] = p[..] else { unreachable!() };
        h.e.handle_aen(ms(100), c2, ccr_aen()).unwrap();
        let before = h.one_read();
        h.e.handle_ccr_log_failed(ms(101), before.id).unwrap();
        assert_eq!(h.e.accepted_ccr_pending(c1), Some(c2), "before the deadline: unchanged");
        h.e.handle_timeout(ms(15_001));
        let read = h.one_read();
        assert!(h.take_releases().is_empty());
        if malformed {
            let r = h.e.handle_ccr_log(ms(15_500), read.id, &[3, 0, 0, 0, 0, 0, 0, 0]);
            assert!(matches!(r, Err(LogError::Malformed(_))));
        } else {
            h.e.handle_ccr_log_failed(ms(15_500), read.id).unwrap();
        }
        assert!(h.take_releases().is_empty(), "malformed {malformed}: W5 still held");
        assert!(!h.saw(|e| matches!(e, Event::CcrFailed { path, .. } if *path == c1)), "malformed {malformed}");
        assert_eq!(h.e.accepted_ccr_pending(c1), Some(c2), "malformed {malformed}: the accepted CCR still holds");
        for (t, ccrs) in [(16_001, Ccrs::IN_PROGRESS), (17_001, Ccrs::SUCCESS)] {
            assert_eq!(h.e.poll_timeout(), Some(ms(t)), "the next re-read");
            h.e.handle_timeout(ms(t));
            let r = h.one_read();
            assert_eq!(r.source, c2);
            h.e.handle_ccr_log(ms(t + 1), r.id, &page(&[(1, 0x11, ccrs)])).unwrap();
        }
        let rel = h.take_releases();
        assert_eq!(
            (rel.len(), rel[0].reason),
            (1, ReleaseReason::CcrSucceeded { source: c2 }),
            "malformed {malformed}"
        );
    }
}

/// `accepted_ccr_limit = 5 s`: the entry reads In Progress forever; W5 goes at deadline + 5 s = 20 001 ms, not
/// before. (1)(2)
#[test]
fn accepted_ccr_limit_bounds_the_extension() {
    let mut cfg = Config::new(Policy::Ccr);
    cfg.ccr_wait = CcrWait::UntilDeadline;
    cfg.accepted_ccr_limit = Some(Duration::from_secs(5));
    cfg.accepted_ccr_recheck = Duration::from_secs(3);
    let mut h = Host::with(cfg);
    let [c1, c2] = h.paths(&[1, 2])[..] else { unreachable!() };
    h.submit(ms(0), c1, 5, W);
    h.e.handle_controller_failed(ms(0), c1, KA).unwrap();
    let ccr = h.one_ccr();
    h.e.handle_ccr_completion(ms(1), ccr.id, Status::SUCCESS, 0).unwrap();
    let mut t = 15_001;
    while let Some(next) = h.e.poll_timeout() {
        assert!(h.take_releases().is_empty(), "released before the limit, at {t} ms");
        t = next.elapsed().as_millis() as u64;
        h.e.handle_timeout(next);
        h.drain();
        for read in h.reads.drain(..) {
            assert_eq!(read.source, c2);
            h.e.handle_ccr_log(next, read.id, &page(&[(1, 0x11, Ccrs::IN_PROGRESS)])).unwrap();
        }
        if h.e.path_state(c1) != Some(PathState::Fencing) {
            break;
        }
    }
    assert_eq!(t, 20_001, "timers: deadline 15 001, re-read 18 001, limit 20 001");
    let rel = h.take_releases();
    assert_eq!((rel.len(), rel[0].reason), (1, ReleaseReason::HoldDeadline));
}

/// The compliant case is unchanged: the accepted CCR succeeds at 2 s, long before the deadline -> released at
/// 2 s, no extension, no timer left. (1)
#[test]
fn compliant_accepted_ccr_success_before_the_deadline_is_unchanged() {
    let (mut h, p, _) = accepted_setup(Policy::Ccr, &[1, 2], nvme_ccr::DEFAULT_ACCEPTED_CCR_RECHECK);
    let [c1, c2] = p[..] else { unreachable!() };
    h.e.handle_aen(ms(2_000), c2, ccr_aen()).unwrap();
    let read = h.one_read();
    h.e.handle_ccr_log(ms(2_000), read.id, &page(&[(1, 0x11, Ccrs::SUCCESS)])).unwrap();
    let rel = h.take_releases();
    assert_eq!((rel.len(), rel[0].reason), (1, ReleaseReason::CcrSucceeded { source: c2 }));
    assert!(!h.saw(|e| matches!(e, Event::HoldExtendedByCcr { .. })));
    assert_eq!(h.e.accepted_ccr_pending(c1), None);
    assert_eq!(h.e.poll_timeout(), None);
}

/// `cqt` is unchanged: no CCR, release exactly at the deadline, never extended. (1)(2)
#[test]
fn cqt_still_releases_at_the_deadline() {
    let mut h = Host::new(Policy::Cqt);
    let [c1, _c2] = h.paths(&[1, 2])[..] else { unreachable!() };
    h.submit(ms(0), c1, 5, W);
    h.e.handle_controller_failed(ms(0), c1, KA).unwrap();
    assert_eq!(h.e.accepted_ccr_pending(c1), None);
    h.e.handle_timeout(ms(15_000));
    assert!(h.take_releases().is_empty());
    h.e.handle_timeout(ms(15_001));
    let rel = h.take_releases();
    assert_eq!((rel.len(), rel[0].reason), (1, ReleaseReason::HoldDeadline));
    assert!(h.ccrs.is_empty() && h.reads.is_empty());
    assert!(!h.saw(|e| matches!(e, Event::HoldExtendedByCcr { .. })));
}

/// A refused CCR (0x41 Limit Exceeded, or Invalid Opcode as the Linux 6.1 target answers) was never accepted: the
/// timer releases at the deadline as before. (1)(2)
#[test]
fn refused_ccr_falls_back_to_the_timer_as_before() {
    for code in [StatusCode::CCR_LIMIT_EXCEEDED, StatusCode::INVALID_OPCODE] {
        let mut h = Host::new(Policy::Ccr);
        let [c1, _c2] = h.paths(&[1, 2])[..] else { unreachable!() };
        h.submit(ms(0), c1, 5, W);
        h.e.handle_controller_failed(ms(0), c1, KA).unwrap();
        let ccr = h.one_ccr();
        h.e.handle_ccr_completion(ms(1), ccr.id, status(code).with_dnr(code == StatusCode::INVALID_OPCODE), 0).unwrap();
        assert!(h.saw(|e| matches!(e, Event::FellBackToTimer { .. })), "{code:?}");
        assert_eq!(h.e.accepted_ccr_pending(c1), None);
        h.e.handle_timeout(ms(15_000));
        assert!(h.take_releases().is_empty(), "{code:?}");
        h.e.handle_timeout(ms(15_001));
        let rel = h.take_releases();
        assert_eq!((rel.len(), rel[0].reason), (1, ReleaseReason::HoldDeadline), "{code:?}");
        assert!(!h.saw(|e| matches!(e, Event::HoldExtendedByCcr { .. })), "{code:?}");
    }
}

/// With the default per-CCR wait (KATO + CQT = 5 001 ms): ctrl2 accepts, its final read at 5 001 ms still says In
/// Progress, ctrl3 answers Invalid Opcode, no source is left (FellBackToTimer). ctrl2's CCR, given up on but still
/// accepted and unresolved, extends the hold at 15 001 ms; its success at 18 000 ms releases W5. (1)(2)
#[test]
fn an_accepted_ccr_given_up_on_before_the_deadline_still_extends_the_hold() {
    let mut h = Host::new(Policy::Ccr);
    let [c1, c2, c3] = h.paths(&[1, 2, 3])[..] else { unreachable!() };
    h.submit(ms(0), c1, 5, W);
    h.e.handle_controller_failed(ms(0), c1, KA).unwrap();
    let first = h.one_ccr();
    h.e.handle_ccr_completion(ms(1), first.id, Status::SUCCESS, 0).unwrap();
    h.e.handle_timeout(ms(5_001));
    let read = h.one_read();
    h.e.handle_ccr_log(ms(5_002), read.id, &page(&[(1, 0x11, Ccrs::IN_PROGRESS)])).unwrap();
    let second = h.one_ccr();
    assert_eq!(second.source, c3);
    h.e.handle_ccr_completion(ms(5_003), second.id, status(StatusCode::INVALID_OPCODE).with_dnr(true), 0).unwrap();
    assert!(h.saw(|e| matches!(e, Event::FellBackToTimer { .. })));
    assert_eq!(h.e.accepted_ccr_pending(c1), Some(c2));
    h.e.handle_timeout(ms(15_001));
    assert!(h.take_releases().is_empty());
    assert!(h.saw(|e| *e == Event::HoldExtendedByCcr { path: c1, source: c2, ccr: first.id }));
    let read = h.one_read();
    h.e.handle_ccr_log(ms(18_000), read.id, &page(&[(1, 0x11, Ccrs::SUCCESS)])).unwrap();
    let rel = h.take_releases();
    assert_eq!((rel.len(), rel[0].reason), (1, ReleaseReason::CcrSucceeded { source: c2 }));
}

/// `CcrSources::FirstOnly`: the first source's failure ends the CCRs (ctrl3 is never asked) and the timer releases
/// at the deadline, 15 001 ms; the default asks ctrl3 next. (1)(2)
#[test]
fn first_source_only_falls_back_to_the_timer_after_one_ccr() {
    let mut cfg = Config::new(Policy::Ccr);
    cfg.ccr_sources = nvme_ccr::CcrSources::FirstOnly;
    let mut h = Host::with(cfg);
    let [c1, c2, _c3] = h.paths(&[1, 2, 3])[..] else { unreachable!() };
    h.submit(ms(0), c1, 5, W);
    h.e.handle_controller_failed(ms(0), c1, KA).unwrap();
    let ccr = h.one_ccr();
    assert_eq!(ccr.source, c2);
    h.e.handle_ccr_completion(ms(1_000), ccr.id, status(StatusCode::CCR_LIMIT_EXCEEDED), 0).unwrap();
    assert!(h.ccrs.is_empty(), "no second source under first-only");
    assert!(
        h.saw(|e| matches!(e, Event::FellBackToTimer { remaining, .. } if *remaining == Duration::from_millis(14_001)))
    );
    h.e.handle_timeout(ms(15_000));
    assert!(h.take_releases().is_empty());
    h.e.handle_timeout(ms(15_001));
    let rel = h.take_releases();
    assert_eq!((rel.len(), rel[0].reason), (1, ReleaseReason::HoldDeadline));
}

/// `Cqt0Rule::Immediate` (the Linux RFC): a CQT = 0 controller is released at once when the CCRs run out (ccr) or at
/// detection (cqt), with the legacy reason; a controller reporting CQT keeps its hold; the default keeps F. (1) is
/// deliberately given up for the opted-in rule only.
#[test]
fn cqt0_immediate_releases_at_once_only_for_cqt_zero() {
    for (policy, cqt, rule, released_at) in [
        (Policy::Cqt, Cqt::NotReported, nvme_ccr::Cqt0Rule::Immediate, Some(0)),
        (Policy::Ccr, Cqt::NotReported, nvme_ccr::Cqt0Rule::Immediate, Some(1_000)),
        (Policy::Cqt, Cqt::from_raw(1), nvme_ccr::Cqt0Rule::Immediate, None),
        (Policy::Cqt, Cqt::NotReported, nvme_ccr::Cqt0Rule::Fallback, None),
    ] {
        let mut cfg = Config::new(policy);
        cfg.cqt0_rule = rule;
        let mut h = Host::with(cfg);
        let mut f1 = facts(1);
        f1.cqt = cqt;
        let c1 = h.e.add_controller(ms(0), f1).unwrap();
        let _c2 = h.e.add_controller(ms(0), facts(2)).unwrap();
        h.submit(ms(0), c1, 5, W);
        h.e.handle_controller_failed(ms(0), c1, KA).unwrap();
        if policy == Policy::Ccr {
            let ccr = h.one_ccr();
            h.e.handle_ccr_completion(ms(1_000), ccr.id, status(StatusCode::CCR_LIMIT_EXCEEDED), 0).unwrap();
        }
        let rel = h.take_releases();
        match released_at {
            Some(_) => assert_eq!((rel.len(), rel[0].reason), (1, ReleaseReason::Legacy), "{policy} {cqt:?} {rule:?}"),
            None => assert!(rel.is_empty(), "{policy} {cqt:?} {rule:?}"),
        }
    }
}
