//! nvme-fabric's host against its controller, in memory: bring-up order, every refusal, keep alive, the timers that
//! fail a path, duplicate CNTLIDs, the error-status and release decisions of `spec-notes/drivers.md`, reconnect,
//! disconnect, AEN and admin passthrough. (Failover per policy: `tests/failover.rs`.)

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::net::{Meta, Net, Trace, Verdict};
use common::{HOSTID, HOSTNQN, NQN, encode};
use nvme_ccr::{Config, Policy};
use nvme_fabric::Instant;
use nvme_fabric::conn::CloseCause;
use nvme_fabric::controller::SubsystemConfig;
use nvme_fabric::host::{
    BringUpStep, DataOut, HostConfig, HostEvent, Io, IoError, PathFailure, PathPhase, RefusedReason, SubmitError,
};
use nvme_fabric::loopback::Loopback as Pair;
use nvme_proto::cmd::{
    Cns, Cqe, Csts, Identify, IdentifyController, NamespaceList, PropertyOffset, Sqe, Status, StatusCode,
};
use nvme_proto::tcp::{C2HData, CapsuleResp, Pdu};

fn cfgs(policy: Policy) -> (SubsystemConfig, HostConfig) {
    let mut s = SubsystemConfig::new(NQN);
    s.namespace.blocks = 4096;
    let mut h = HostConfig::new(NQN, HOSTNQN, HOSTID, Config::new(policy));
    h.digests.header = true;
    h.digests.data = true;
    h.trace_io = true;
    (s, h)
}

fn net(policy: Policy, paths: usize) -> Net {
    let (s, h) = cfgs(policy);
    Net::new(s, h, paths)
}

fn block(v: u8) -> Arc<[u8]> {
    vec![v; 512].into()
}

/// The paths and CIDs each command went out on, in order (`trace_io`).
fn sends(n: &Net, id: nvme_fabric::host::IoId) -> Vec<usize> {
    n.host_events
        .iter()
        .filter_map(|(_, e)| match e {
            HostEvent::IoSent { id: i, path, .. } if *i == id => Some(*path),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------------------------
// Bring-up

/// One command in words.
fn describe(qid: Option<u16>, s: &Sqe) -> String {
    let q = qid.unwrap_or(u16::MAX);
    match s.opcode {
        0x7F => match s.fctype() {
            0x01 => format!("{q} Connect qid={} sqsize={} kato={}", s.cdw10 >> 16, s.cdw11 & 0xFFFF, s.cdw12),
            0x04 => format!("{q} PropertyGet {:#x}", s.cdw11),
            0x00 => format!("{q} PropertySet {:#x}={:#x}", s.cdw11, s.cdw12),
            t => format!("{q} Fabrics {t:#x}"),
        },
        0x06 => format!("{q} Identify cns={} nsid={}", s.cdw10 & 0xFF, s.nsid),
        0x09 => format!("{q} SetFeatures fid={:#x}", s.cdw10 & 0xFF),
        0x0C => format!("{q} AER"),
        0x18 => format!("{q} KeepAlive"),
        op => format!("{q} opcode {op:#x}"),
    }
}

#[test]
fn bring_up_sends_the_linux_hosts_commands_in_its_order() {
    let mut n = net(Policy::Ccr, 1);
    n.start();
    assert_eq!(n.live_paths(), 1);
    let seen: Vec<String> = n.commands().iter().map(|(_, q, s)| describe(*q, s)).collect();
    assert_eq!(
        seen,
        [
            "0 Connect qid=0 sqsize=31 kato=5000",
            "0 PropertyGet 0x0",
            "0 PropertySet 0x14=0x460001",
            "0 PropertyGet 0x1c",
            "0 PropertyGet 0x8",
            "0 Identify cns=1 nsid=0",
            "0 SetFeatures fid=0x7",
            "1 Connect qid=1 sqsize=31 kato=0",
            "2 Connect qid=2 sqsize=31 kato=0",
            "0 SetFeatures fid=0xb",
            "0 AER",
            "0 Identify cns=2 nsid=0",
            "0 Identify cns=3 nsid=1",
            "0 Identify cns=0 nsid=1",
        ],
        "notes::commands §10"
    );
    // Each I/O queue is its own connection, opened after Number of Queues; the admin one first.
    let opens = n.trace.iter().filter(|t| matches!(t, Trace::Open { .. })).count();
    assert_eq!(opens, 3);
    let facts = n.host.path_facts(0).unwrap();
    assert_eq!((facts.cntlid, facts.tbkas), (1, true));
}

/// A down filter that rewrites the Identify Controller data with `f`.
fn tamper_identify(n: &mut Net, f: impl Fn(&mut IdentifyController<'_>) + 'static) {
    n.down_filter = Some(Box::new(move |m: &Meta, pdu: &Pdu<'_>| match (pdu, m.cmd) {
        (Pdu::C2HData(d), Some(cmd)) if cmd.opcode == 0x06 && cmd.cdw10 & 0xFF == u32::from(Cns::CONTROLLER.0) => {
            let mut id = IdentifyController::parse(d.data).unwrap();
            f(&mut id);
            let mut buf = vec![0u8; 4096];
            id.emit(&mut buf).unwrap();
            Verdict::Replace(encode(&Pdu::C2HData(C2HData { data: &buf, ..*d }), &m.params))
        }
        _ => Verdict::Pass,
    }));
}

/// A down filter that rewrites the DW0 of every Property Get CSTS answer with `f`.
fn tamper_csts(n: &mut Net, f: impl Fn(Csts) -> Csts + 'static) {
    n.down_filter = Some(Box::new(move |m: &Meta, pdu: &Pdu<'_>| match (pdu, m.cmd) {
        (Pdu::CapsuleResp(r), Some(cmd)) if cmd.opcode == 0x7F && cmd.cdw11 == PropertyOffset::CSTS.0 => {
            let mut cqe = Cqe::from_bytes(&r.cqe);
            cqe.dw0 = f(Csts::from_u32(cqe.dw0)).to_u32();
            Verdict::Replace(encode(&Pdu::CapsuleResp(CapsuleResp { cqe: cqe.to_bytes() }), &m.params))
        }
        _ => Verdict::Pass,
    }));
}

fn refused(n: &mut Net, reason: RefusedReason) {
    n.start();
    n.advance(Duration::from_secs(9));
    assert_eq!(n.failures().first(), Some(&(0, PathFailure::Refused(reason))));
    assert_eq!(n.live_paths(), 0);
    assert!(matches!(n.host.path_phase(0), Some(PathPhase::Waiting(_))), "it tries again later");
    assert!(n.trace.iter().any(|t| matches!(t, Trace::HostClose { .. })), "its connections closed");
}

#[test]
fn a_controller_whose_identify_cntlid_differs_from_connect_is_refused() {
    let mut n = net(Policy::Ccr, 1);
    tamper_identify(&mut n, |id| id.cntlid += 1);
    refused(&mut n, RefusedReason::CntlidMismatch);
}

#[test]
fn a_controller_without_keep_alive_is_refused() {
    let mut n = net(Policy::Ccr, 1);
    tamper_identify(&mut n, |id| id.kas = 0);
    refused(&mut n, RefusedReason::NoKeepAlive);
}

#[test]
fn a_controller_with_icdoff_is_refused() {
    let mut n = net(Policy::Ccr, 1);
    tamper_identify(&mut n, |id| id.icdoff = 1);
    refused(&mut n, RefusedReason::InCapsuleOffset);
}

#[test]
fn a_controller_without_sgls_is_refused() {
    let mut n = net(Policy::Ccr, 1);
    tamper_identify(&mut n, |id| id.sgls &= !0b11);
    refused(&mut n, RefusedReason::NoSgl);
}

#[test]
fn a_subsystem_without_an_active_namespace_is_refused() {
    let mut n = net(Policy::Ccr, 1);
    n.down_filter = Some(Box::new(|m: &Meta, pdu: &Pdu<'_>| match (pdu, m.cmd) {
        (Pdu::C2HData(d), Some(cmd)) if cmd.opcode == 0x06 && cmd.cdw10 & 0xFF == 2 => {
            let mut buf = vec![0u8; 4096];
            NamespaceList::emit(&[], &mut buf).unwrap();
            Verdict::Replace(encode(&Pdu::C2HData(C2HData { data: &buf, ..*d }), &m.params))
        }
        _ => Verdict::Pass,
    }));
    refused(&mut n, RefusedReason::NoNamespace);
}

#[test]
fn a_controller_reporting_csts_cfs_while_enabling_is_refused() {
    let mut n = net(Policy::Ccr, 1);
    tamper_csts(&mut n, |c| Csts { cfs: true, rdy: false, ..c });
    refused(&mut n, RefusedReason::ControllerFatal);
}

#[test]
fn a_controller_never_ready_is_refused_after_cap_to() {
    let mut n = net(Policy::Ccr, 1);
    tamper_csts(&mut n, |c| Csts { rdy: false, ..c });
    n.start();
    n.advance(Duration::from_millis(7400));
    assert!(n.failures().is_empty(), "CAP.TO = 15 × 500 ms");
    n.advance(Duration::from_millis(200));
    assert_eq!(n.failures(), [(0, PathFailure::Refused(RefusedReason::NotReady))]);
    let polls = n.commands().iter().filter(|(_, _, s)| s.opcode == 0x7F && s.cdw11 == 0x1C).count();
    assert!((700..=770).contains(&polls), "CSTS polled every 10 ms: {polls}");
}

#[test]
fn a_bring_up_command_answered_with_an_error_fails_the_attempt_with_its_step_and_status() {
    let mut n = net(Policy::Ccr, 1);
    n.down_filter = Some(Box::new(|m: &Meta, pdu: &Pdu<'_>| match (pdu, m.cmd) {
        (Pdu::CapsuleResp(r), Some(cmd)) if cmd.opcode == 0x09 => {
            let mut cqe = Cqe::from_bytes(&r.cqe);
            cqe.status = Status::new(StatusCode::INTERNAL_ERROR);
            Verdict::Replace(encode(&Pdu::CapsuleResp(CapsuleResp { cqe: cqe.to_bytes() }), &m.params))
        }
        _ => Verdict::Pass,
    }));
    n.start();
    let want = PathFailure::BringUpStatus {
        step: BringUpStep::NumberOfQueues,
        status: Status::new(StatusCode::INTERNAL_ERROR),
    };
    assert_eq!(n.failures(), [(0, want)]);
}

#[test]
fn a_bring_up_that_stalls_fails_at_the_connect_timeout() {
    let (sub, mut h) = cfgs(Policy::Ccr);
    // A KATO longer than the bring-up bound, so that the controller does not give up first.
    h.kato = Duration::from_secs(60);
    let mut n = Net::new(sub, h, 1);
    // The Connect is never answered.
    n.down_filter = Some(Box::new(|m: &Meta, pdu: &Pdu<'_>| match (pdu, m.cmd) {
        (Pdu::CapsuleResp(_), Some(cmd)) if cmd.opcode == 0x7F && cmd.fctype() == 0x01 => Verdict::Drop,
        _ => Verdict::Pass,
    }));
    n.start();
    n.advance(Duration::from_millis(9999));
    assert!(n.failures().is_empty());
    n.advance(Duration::from_millis(1));
    assert_eq!(n.failures(), [(0, PathFailure::ConnectTimeout)]);
}

#[test]
fn a_second_subsystem_path_with_a_cntlid_already_live_is_refused_as_a_duplicate() {
    // Two subsystems with one NQN behind two paths: both give CNTLID 1.
    let (s, h) = cfgs(Policy::Ccr);
    let mut n = Net::with_subsystems(vec![s.clone(), s], h, vec![0, 1]);
    n.start();
    assert_eq!(n.live_paths(), 1);
    assert_eq!(n.failures(), [(1, PathFailure::DuplicateCntlid(1))]);
    assert_eq!(n.host.path_phase(0), Some(PathPhase::Live));
}

// ---------------------------------------------------------------------------------------------------------------
// Keep alive and the timers that fail a path

fn keep_alive_times(n: &Net) -> Vec<Instant> {
    n.trace
        .iter()
        .filter_map(|t| match t {
            Trace::Cmd { at, sqe, .. } if sqe.opcode == 0x18 => Some(*at),
            _ => None,
        })
        .collect()
}

#[test]
fn keep_alive_goes_every_kato_over_2_or_kato_over_4_with_tbkas() {
    for (tbkas, period) in [(false, 2000u64), (true, 1000)] {
        let (mut s, mut h) = cfgs(Policy::Ccr);
        s.tbkas = tbkas;
        h.kato = Duration::from_secs(4);
        let mut n = Net::new(s, h, 1);
        n.start();
        n.advance(Duration::from_secs(20));
        let t = keep_alive_times(&n);
        assert_eq!(t.len() as u64, 20_000 / period, "TBKAS {tbkas}");
        assert!(t.windows(2).all(|w| w[1].saturating_duration_since(w[0]) == Duration::from_millis(period)));
        assert!(n.failures().is_empty());
    }
}

#[test]
fn a_keep_alive_without_completion_within_kato_fails_the_path_with_keep_alive_timeout() {
    let mut n = net(Policy::Ccr, 1);
    n.down_filter = Some(Box::new(|_m: &Meta, pdu: &Pdu<'_>| match (pdu, _m.cmd) {
        (Pdu::CapsuleResp(_), Some(cmd)) if cmd.opcode == 0x18 => Verdict::Drop,
        _ => Verdict::Pass,
    }));
    n.start();
    let first = n.now + Duration::from_millis(1250); // KATO 5 s / 4 (TBKAS)
    n.advance(Duration::from_millis(6249));
    assert!(n.failures().is_empty());
    n.advance(Duration::from_millis(1));
    assert_eq!(n.failures(), [(0, PathFailure::KeepAliveTimeout)]);
    assert_eq!(n.now, first + Duration::from_secs(5));
    assert!(n.host_events.iter().any(|(_, e)| matches!(e, HostEvent::PathFailed { was_live: true, .. })));
}

#[test]
fn an_io_command_without_completion_within_io_timeout_fails_the_path_and_fencing_starts() {
    let (s, mut h) = cfgs(Policy::Ccr);
    h.io_timeout = Duration::from_secs(2);
    let mut n = Net::new(s, h, 1);
    n.start();
    n.hold_media = true;
    n.host.submit(n.now, Io::Write { slba: 0, data: block(1) }).unwrap();
    n.pump();
    // The controller keeps answering Keep Alive; only the write's queue is silent.
    n.advance(Duration::from_millis(1999));
    assert!(n.failures().is_empty());
    n.advance(Duration::from_millis(1));
    let (p, f) = n.failures()[0];
    assert_eq!((p, f), (0, PathFailure::CommandTimeout { qid: 1, opcode: 1 }));
    assert!(n.host_events.iter().any(|(_, e)| matches!(
        e,
        HostEvent::Engine(nvme_ccr::Event::FencingStarted { held: 1, released_at_once: 0, .. })
    )));
    assert!(n.done.is_empty(), "the write is held, not failed");
}

#[test]
fn an_admin_passthrough_command_without_completion_fails_the_path_at_admin_timeout() {
    // Legacy: the engine releases the path's commands at once, so the passthrough command completes with the failure.
    let (s, mut h) = cfgs(Policy::Legacy);
    h.admin_timeout = Duration::from_secs(3);
    let mut n = Net::new(s, h, 1);
    n.start();
    n.down_filter = Some(Box::new(|_m: &Meta, pdu: &Pdu<'_>| match (pdu, _m.cmd) {
        (Pdu::CapsuleResp(_), Some(cmd)) if cmd.opcode == 0x0A => Verdict::Drop,
        _ => Verdict::Pass,
    }));
    let sqe = nvme_proto::cmd::GetFeatures::new(nvme_proto::cmd::FeatureId::NUMBER_OF_QUEUES).to_sqe(0);
    let id = n.host.submit_admin(n.now, 0, sqe, DataOut::None).unwrap();
    n.pump();
    n.advance(Duration::from_secs(3));
    let f = PathFailure::CommandTimeout { qid: 0, opcode: 0x0A };
    assert_eq!(n.failures(), [(0, f)]);
    assert_eq!(n.done.iter().find(|c| c.id == id).unwrap().result, Err(IoError::PathFailed(f)));
}

// ---------------------------------------------------------------------------------------------------------------
// The decisions of spec-notes/drivers.md, "Divergences decided"

/// A down filter giving the first `count` Write completions `status` instead of theirs.
fn fail_writes(n: &mut Net, status: Status, count: usize) {
    let mut left = count;
    n.down_filter = Some(Box::new(move |m: &Meta, pdu: &Pdu<'_>| match (pdu, m.cmd) {
        (Pdu::CapsuleResp(r), Some(cmd)) if cmd.opcode == 0x01 && left > 0 => {
            left -= 1;
            let mut cqe = Cqe::from_bytes(&r.cqe);
            cqe.status = status;
            Verdict::Replace(encode(&Pdu::CapsuleResp(CapsuleResp { cqe: cqe.to_bytes() }), &m.params))
        }
        _ => Verdict::Pass,
    }));
}

#[test]
fn an_error_status_with_dnr_is_delivered_at_once() {
    let mut n = net(Policy::Ccr, 2);
    n.start();
    let st = Status::new(StatusCode::NAMESPACE_WRITE_PROTECTED).with_dnr(true);
    fail_writes(&mut n, st, usize::MAX);
    let id = n.host.submit(n.now, Io::Write { slba: 0, data: block(1) }).unwrap();
    n.pump();
    assert_eq!(n.done[0].result, Err(IoError::Status(st)));
    assert_eq!(sends(&n, id).len(), 1, "not retried");
    assert_eq!(n.live_paths(), 2);
}

#[test]
fn an_error_status_without_dnr_is_retried_up_to_max_retries() {
    let (s, mut h) = cfgs(Policy::Ccr);
    h.max_retries = 3;
    let mut n = Net::new(s, h, 2);
    n.start();
    let st = Status::new(StatusCode::INTERNAL_ERROR);
    fail_writes(&mut n, st, usize::MAX);
    let id = n.host.submit(n.now, Io::Write { slba: 0, data: block(1) }).unwrap();
    n.pump();
    assert_eq!(n.done[0].result, Err(IoError::Status(st)));
    assert_eq!(sends(&n, id).len(), 4, "the first try and 3 retries");
    // Fewer failures than retries: it succeeds.
    fail_writes(&mut n, st, 2);
    let id = n.host.submit(n.now, Io::Write { slba: 0, data: block(2) }).unwrap();
    n.pump();
    assert!(n.done[1].result.is_ok());
    assert_eq!(sends(&n, id).len(), 3);
    assert_eq!(n.media[0][0], 2);
}

#[test]
fn a_path_related_status_without_dnr_is_retried_on_another_path() {
    let mut n = net(Policy::Ccr, 2);
    n.start();
    fail_writes(&mut n, Status::new(StatusCode::ANA_TRANSITION), 1);
    for v in 1..=4 {
        let id = n.host.submit(n.now, Io::Write { slba: 0, data: block(v) }).unwrap();
        n.pump();
        let s = sends(&n, id);
        if v == 1 {
            assert_eq!(s.len(), 2);
            assert_ne!(s[0], s[1], "the retry avoids the path the path error came from");
        }
    }
    assert!(n.done.iter().all(|c| c.result.is_ok()));
}

/// Fails path 0's controller at the subsystem (its admin connection drops).
fn drop_controller(n: &mut Net, path: usize) {
    let h = n.conn_of(path, 0).unwrap();
    let (si, s) = (n.links[&h].sub, n.links[&h].sconn);
    n.subs[si].handle_closed(n.now, s);
    n.pump();
}

#[test]
fn a_release_without_a_live_path_waits_for_the_path_to_come_back() {
    let (s, mut h) = cfgs(Policy::Legacy);
    h.reconnect_delay = Duration::from_secs(1);
    let mut n = Net::new(s, h, 1);
    n.start();
    let before = n.host.path_facts(0).unwrap();
    n.hold_media = true;
    let id = n.host.submit(n.now, Io::Write { slba: 0, data: block(7) }).unwrap();
    n.pump();
    drop_controller(&mut n, 0);
    n.hold_media = false;
    n.release_held();
    assert!(n.done.is_empty(), "released with no live path: waiting, not failed");
    assert_eq!(n.host.outstanding(), 1);
    n.advance(Duration::from_secs(2));
    assert_eq!(n.done.len(), 1);
    assert!(n.done[0].result.is_ok());
    assert_eq!(sends(&n, id).len(), 2);
    // The path came back with a new controller instance: new CIU and CIRN.
    let after = n.host.path_facts(0).unwrap();
    assert!((after.ciu, after.cirn) != (before.ciu, before.cirn), "{before:?} {after:?}");
    assert!(n.host_events.iter().any(|(_, e)| matches!(e, HostEvent::PathLive { reconnected: true, .. })));
}

#[test]
fn a_release_fails_with_host_pathing_error_once_no_path_can_come_back() {
    let (s, mut h) = cfgs(Policy::Legacy);
    h.reconnect_delay = Duration::from_secs(1);
    h.ctrl_loss_tmo = Some(Duration::from_secs(5));
    let mut n = Net::new(s, h, 1);
    n.start();
    n.hold_media = true;
    n.host.submit(n.now, Io::Write { slba: 0, data: block(7) }).unwrap();
    n.pump();
    drop_controller(&mut n, 0);
    n.down[0] = true;
    n.advance(Duration::from_secs(20));
    assert_eq!(n.done.len(), 1);
    assert_eq!(n.done[0].result, Err(IoError::Status(Status::new(StatusCode::HOST_PATHING_ERROR))));
    assert!(n.host_events.iter().any(|(_, e)| matches!(e, HostEvent::PathGone { path: 0 })));
    let gone = n.host_events.iter().find(|(_, e)| matches!(e, HostEvent::PathGone { .. })).unwrap().0;
    assert!(gone >= Instant::ZERO + Duration::from_secs(5) && gone < Instant::ZERO + Duration::from_secs(7));
}

#[test]
fn a_failed_connect_attempt_leaves_no_timer_behind() {
    // A connect attempt refused at once, with a reconnect delay longer than the bring-up bound: the next deadline is
    // the reconnect, and handle_timeout moves it (a timer stuck in the past makes a runtime spin).
    let (_, mut h) = cfgs(Policy::Ccr);
    h.connect_timeout = Duration::from_secs(2);
    h.reconnect_delay = Duration::from_secs(10);
    let mut host = nvme_fabric::host::Host::new(h, 1).unwrap();
    let t0 = Instant::ZERO;
    host.start(t0);
    let open = host.poll_open().unwrap();
    host.handle_closed(t0, open.conn);
    assert_eq!(host.path_phase(0), Some(PathPhase::Waiting(t0 + Duration::from_secs(10))));
    assert_eq!(host.poll_timeout(), Some(t0 + Duration::from_secs(10)));
    // Spurious calls in between change nothing.
    host.handle_timeout(t0 + Duration::from_secs(2));
    assert_eq!(host.poll_timeout(), Some(t0 + Duration::from_secs(10)));
}

#[test]
fn a_path_given_up_leaves_no_timer_behind() {
    let (s, mut h) = cfgs(Policy::Legacy);
    h.reconnect_delay = Duration::from_secs(1);
    h.ctrl_loss_tmo = Some(Duration::from_secs(3));
    let mut n = Net::new(s, h, 1);
    n.start();
    drop_controller(&mut n, 0);
    n.down[0] = true;
    n.advance(Duration::from_secs(30));
    assert_eq!(n.host.path_phase(0), Some(PathPhase::Down));
    assert!(n.host.poll_timeout().is_none_or(|t| t > n.now), "{:?}", n.host.poll_timeout());
}

// ---------------------------------------------------------------------------------------------------------------
// Disconnect, AEN, passthrough, limits

#[test]
fn disconnect_closes_the_io_queues_then_shuts_the_controller_down_and_polls_shst() {
    let mut n = net(Policy::Ccr, 1);
    n.start();
    let admin = n.conn_of(0, 0).unwrap();
    let mark = n.trace.len();
    n.host.disconnect(n.now);
    n.pump();
    n.advance(Duration::from_millis(100));
    let tail: Vec<String> = n.trace[mark..]
        .iter()
        .filter_map(|t| match t {
            Trace::Cmd { qid, sqe, .. } => Some(describe(*qid, sqe)),
            Trace::HostClose { conn, .. } if *conn == admin => Some("close admin".into()),
            Trace::HostClose { .. } => Some("close io".into()),
            _ => None,
        })
        .collect();
    assert_eq!(tail, ["close io", "close io", "0 PropertySet 0x14=0x464001", "0 PropertyGet 0x1c", "close admin"]);
    assert!(n.host_events.iter().any(|(_, e)| matches!(e, HostEvent::Disconnected { path: 0 })));
    assert_eq!(n.host.path_phase(0), Some(PathPhase::Down));
    // Nothing reconnects, and I/O now fails with Host Pathing Error.
    n.host.submit(n.now, Io::Read { slba: 0, blocks: 1 }).unwrap();
    n.advance(Duration::from_secs(30));
    assert_eq!(n.done[0].result, Err(IoError::Status(Status::new(StatusCode::HOST_PATHING_ERROR))));
}

#[test]
fn an_aen_is_reported_and_a_new_aer_sent() {
    let mut n = net(Policy::Ccr, 1);
    n.start();
    let aers = |n: &Net| n.commands().iter().filter(|(_, _, s)| s.opcode == 0x0C).count();
    assert_eq!(aers(&n), 1);
    // Complete the outstanding AER as a controller would, with a notice.
    let admin = n.conn_of(0, 0).unwrap();
    let (_, _, aer) = *n.commands().iter().find(|(_, _, s)| s.opcode == 0x0C).unwrap();
    let dw0 = nvme_proto::cmd::AsyncEvent::ccr_completed().to_dw0();
    let cqe = Cqe { dw0, ..Cqe::new(aer.cid, Status::SUCCESS) };
    let bytes = encode(&Pdu::CapsuleResp(CapsuleResp { cqe: cqe.to_bytes() }), &n.params(admin));
    n.host_input(admin, &bytes);
    n.pump();
    assert!(n.host_events.iter().any(|(_, e)| matches!(e, HostEvent::Aen { path: 0, dw0: d } if *d == dw0)));
    assert_eq!(aers(&n), 2, "another AER is kept outstanding");
}

#[test]
fn submit_admin_passes_a_command_through_and_fails_it_with_its_path() {
    // Legacy: an outstanding command is released at detection (the hold of the other levels: next test).
    let mut n = net(Policy::Legacy, 1);
    n.start();
    let id = n.host.submit_admin(n.now, 0, Identify::controller().to_sqe(0), DataOut::Read(4096)).unwrap();
    n.pump();
    let done = n.done.iter().find(|c| c.id == id).unwrap();
    let data = &done.result.as_ref().unwrap().data;
    assert_eq!(IdentifyController::parse(data).unwrap().cntlid, 1);
    assert_eq!(
        n.host.submit_admin(n.now, 3, Identify::controller().to_sqe(0), DataOut::None),
        Err(SubmitError::NoSuchPath)
    );
    // An admin command outstanding when the path fails completes with the failure.
    n.down_filter = Some(Box::new(|_m: &Meta, pdu: &Pdu<'_>| match (pdu, _m.cmd) {
        (Pdu::CapsuleResp(_), Some(cmd)) if cmd.opcode == 0x0A => Verdict::Drop,
        _ => Verdict::Pass,
    }));
    let sqe = nvme_proto::cmd::GetFeatures::new(nvme_proto::cmd::FeatureId::NUMBER_OF_QUEUES).to_sqe(0);
    let id = n.host.submit_admin(n.now, 0, sqe, DataOut::None).unwrap();
    n.pump();
    drop_controller(&mut n, 0);
    let done = n.done.iter().find(|c| c.id == id).unwrap();
    assert_eq!(done.result, Err(IoError::PathFailed(PathFailure::Closed(CloseCause::PeerClosed))));
    assert_eq!(
        n.host.submit_admin(n.now, 0, Identify::controller().to_sqe(0), DataOut::None),
        Err(SubmitError::NoSuchPath)
    );
}

/// A passthrough admin command outstanding when its path fails is held by recovery like I/O: `ccr-filter-admin`
/// releases a side-effect-free one (Get Features) at detection, `ccr-filter` holds it until the CCR through the other
/// controller succeeded; a side-effecting one (Get Log Page with RAE = 0) is held under both. Released, it completes
/// with the path's failure, never retried on the other path.
#[test]
fn a_held_admin_passthrough_command_is_released_by_the_policy() {
    use nvme_proto::cmd::{FeatureId, GetFeatures, GetLogPage, LogId};
    for release_admin in [false, true] {
        let mut n = net(Policy::CcrFilter { release_admin }, 2);
        n.start();
        n.hold_media = true;
        // A write held in the media keeps controller 1 from finishing its teardown until it is let go.
        let w = n.host.submit(n.now, Io::Write { slba: 0, data: block(1) }).unwrap();
        n.pump();
        assert_eq!(sends(&n, w), [0]);
        n.down_filter = Some(Box::new(|_m: &Meta, pdu: &Pdu<'_>| match (pdu, _m.cmd) {
            (Pdu::CapsuleResp(_) | Pdu::C2HData(_), Some(cmd)) if cmd.opcode == 0x0A || cmd.opcode == 0x02 => {
                Verdict::Drop
            }
            _ => Verdict::Pass,
        }));
        let free =
            n.host.submit_admin(n.now, 0, GetFeatures::new(FeatureId::NUMBER_OF_QUEUES).to_sqe(0), DataOut::None);
        let smart = GetLogPage::new(LogId::SMART, 512); // RAE = 0: clears an event, side-effecting
        let side = n.host.submit_admin(n.now, 0, smart.to_sqe(0), DataOut::Read(512));
        let (free, side) = (free.unwrap(), side.unwrap());
        n.pump();
        n.down_filter = None;
        drop_controller(&mut n, 0);
        let done = |n: &Net, id| n.done.iter().find(|c| c.id == id).map(|c| c.result.clone());
        let failed = Err(IoError::PathFailed(PathFailure::Closed(CloseCause::PeerClosed)));
        assert_eq!(done(&n, free), if release_admin { Some(failed.clone()) } else { None }, "at detection");
        assert_eq!(done(&n, side), None, "side-effecting: held");
        n.advance(Duration::from_secs(1));
        assert_eq!(done(&n, free).is_some(), release_admin, "held while the old controller still works");
        n.hold_media = false;
        n.release_held();
        n.advance(Duration::from_secs(1));
        assert!(
            n.host_events.iter().any(|(_, e)| matches!(e, HostEvent::Engine(nvme_ccr::Event::CcrSucceeded { .. })))
        );
        assert_eq!(done(&n, free), Some(failed.clone()), "after the CCR");
        assert_eq!(done(&n, side), Some(failed), "after the CCR");
        assert!(done(&n, w).is_some_and(|r| r.is_ok()), "the write was retried on path 1");
    }
}

#[test]
fn submit_is_refused_busy_at_max_outstanding() {
    let (s, mut h) = cfgs(Policy::Ccr);
    h.max_outstanding = 3;
    let mut n = Net::new(s, h, 1);
    n.start();
    n.hold_media = true;
    for _ in 0..3 {
        n.host.submit(n.now, Io::Read { slba: 0, blocks: 1 }).unwrap();
    }
    n.pump();
    assert_eq!(n.host.submit(n.now, Io::Read { slba: 0, blocks: 1 }), Err(SubmitError::Busy));
    n.release_held();
    assert_eq!(n.done.len(), 3);
    assert!(n.host.submit(n.now, Io::Read { slba: 0, blocks: 1 }).is_ok());
}

#[test]
fn host_conn_usage_counts_what_its_outstanding_commands_hold() {
    let mut n = net(Policy::Ccr, 1);
    n.start();
    n.hold_media = true;
    n.host.submit(n.now, Io::Read { slba: 0, blocks: 8 }).unwrap();
    n.host.submit(n.now, Io::Write { slba: 8, data: vec![1u8; 16384].into() }).unwrap();
    n.pump();
    let io: Vec<_> = (1..=2).map(|q| n.host.conn_usage(n.conn_of(0, q).unwrap()).unwrap()).collect();
    assert_eq!(io.iter().map(|u| u.commands).sum::<usize>(), 2);
    assert_eq!(io.iter().map(|u| u.reads).sum::<usize>(), 4096);
    assert_eq!(io.iter().map(|u| u.writes).sum::<usize>(), 16384);
    assert!(io.iter().all(|u| u.output == 0 && u.receive <= 16384 + 260), "{io:?}");
    n.release_held();
    let io: Vec<_> = (1..=2).map(|q| n.host.conn_usage(n.conn_of(0, q).unwrap()).unwrap()).collect();
    assert!(io.iter().all(|u| u.commands == 0 && u.reads == 0 && u.writes == 0), "{io:?}");
}

#[test]
fn io_that_does_not_fit_the_transfer_limit_or_whole_blocks_is_invalid() {
    let (mut s, h) = cfgs(Policy::Ccr);
    s.mdts = 2; // 16 KiB
    let mut n = Net::new(s, h, 1);
    n.start();
    let mark = n.commands().len();
    n.host.submit(n.now, Io::Read { slba: 0, blocks: 33 }).unwrap();
    n.host.submit(n.now, Io::Write { slba: 0, data: vec![1u8; 33 * 512].into() }).unwrap();
    n.host.submit(n.now, Io::Write { slba: 0, data: vec![1u8; 700].into() }).unwrap();
    n.host.submit(n.now, Io::Write { slba: 0, data: Vec::new().into() }).unwrap();
    n.pump();
    assert_eq!(n.done.len(), 4);
    assert!(n.done.iter().all(|c| c.result == Err(IoError::Invalid)), "{:?}", n.done);
    assert_eq!(n.commands().len(), mark, "nothing was sent");
    // Exactly MDTS is fine; beyond the namespace is the controller's answer (DNR), delivered.
    let ok = n.host.submit(n.now, Io::Read { slba: 0, blocks: 32 }).unwrap();
    let out = n.host.submit(n.now, Io::Read { slba: 4095, blocks: 2 }).unwrap();
    n.pump();
    let result = |id| n.done.iter().find(|c| c.id == id).unwrap().result.clone();
    assert!(result(ok).is_ok());
    assert_eq!(result(out), Err(IoError::Status(Status::new(StatusCode::LBA_OUT_OF_RANGE).with_dnr(true))));
}

// ---------------------------------------------------------------------------------------------------------------
// Over Loopback

#[test]
fn two_paths_come_up_and_do_io_over_loopback() {
    let (s, h) = cfgs(Policy::Ccr);
    let mut p = Pair::new(s, h, 2).unwrap();
    p.start().unwrap();
    assert_eq!(p.live_paths(), 2, "{:?}", p.host_events);
    let ns = p.host.namespace().unwrap();
    assert_eq!((ns.nsid, ns.block_size, ns.blocks), (1, 512, 4096));
    let cntlids: Vec<u16> = (0..2).map(|i| p.host.path_facts(i).unwrap().cntlid).collect();
    assert_eq!(cntlids, [1, 2]);
    let data: Arc<[u8]> = (0..64 * 1024u32).map(|i| i as u8).collect::<Vec<u8>>().into();
    let w = p.host.submit(p.now, Io::Write { slba: 8, data: data.clone() }).unwrap();
    p.pump().unwrap();
    let r = p.host.submit(p.now, Io::Read { slba: 8, blocks: 128 }).unwrap();
    p.pump().unwrap();
    assert_eq!(p.done.len(), 2, "{:?}", p.done);
    assert!(p.done[0].id == w && p.done[0].result.is_ok(), "{:?}", p.done[0]);
    assert_eq!(p.done[1].id, r);
    assert_eq!(&p.done[1].result.as_ref().unwrap().data[..], &data[..]);
    assert_eq!(&p.media[8 * 512..8 * 512 + data.len()], &data[..]);
}

#[test]
fn keep_alive_keeps_paths_live_for_a_minute() {
    let (s, h) = cfgs(Policy::Ccr);
    let mut p = Pair::new(s, h, 2).unwrap();
    p.start().unwrap();
    p.advance(Duration::from_secs(60)).unwrap();
    assert_eq!(p.live_paths(), 2, "{:?}", p.host_events);
    assert!(!p.host_events.iter().any(|e| matches!(e, HostEvent::PathFailed { .. })));
    assert_eq!(p.host.path_phase(0), Some(PathPhase::Live));
}

/// The Linux failover test in memory: path 0's controller holds the first Write for 2 s and fails; the application
/// writes 1, then 2 (each after the previous completed), and the block must end at 2. Returns (final block value,
/// time the first write completed after the fault).
fn failover(policy: Policy) -> (u8, Duration) {
    use nvme_fabric::controller::{Fault, FaultAction, FaultTarget};
    let (mut s, mut h) = cfgs(policy);
    s.cqt = nvme_proto::cmd::Cqt::from_raw(1);
    h.kato = Duration::from_secs(5);
    h.reconnect_delay = Duration::from_secs(1);
    let mut p = Pair::new(s, h, 2).unwrap();
    p.start().unwrap();
    let fault = Fault { opcode: 1, delay: Duration::from_millis(2000), action: FaultAction::Fatal };
    p.sub.arm_fault(FaultTarget::Controller(1), fault).unwrap();
    let t0 = p.now;
    let block = |v: u8| -> Arc<[u8]> { vec![v; 512].into() };
    p.host.submit(p.now, Io::Write { slba: 0, data: block(1) }).unwrap();
    p.pump().unwrap();
    let mut waited = Duration::ZERO;
    while p.done.is_empty() && waited < Duration::from_secs(60) {
        p.advance(Duration::from_millis(1)).unwrap();
        waited += Duration::from_millis(1);
    }
    assert!(p.done.pop().unwrap().result.is_ok());
    let first = p.now.saturating_duration_since(t0);
    p.host.submit(p.now, Io::Write { slba: 0, data: block(2) }).unwrap();
    p.pump().unwrap();
    p.advance(Duration::from_secs(30)).unwrap();
    assert!(p.done.iter().all(|c| c.result.is_ok()), "{:?}", p.done);
    (p.media[0], first)
}

#[test]
fn the_failover_test_corrupts_under_legacy_only() {
    let (v, t) = failover(Policy::Legacy);
    assert_eq!(v, 1, "legacy: the stale first write lands after the second (done after {t:?})");
    assert!(t < Duration::from_millis(10));
    let (v, t) = failover(Policy::Ccr);
    assert_eq!(v, 2);
    assert!(t >= Duration::from_millis(2000) && t < Duration::from_millis(2100), "ccr released after {t:?}");
    let (v, t) = failover(Policy::Cqt);
    assert_eq!(v, 2);
    assert!(t >= Duration::from_millis(15_001) && t < Duration::from_millis(15_100), "cqt released after {t:?}");
}

#[test]
fn a_keep_alive_times_out_after_kato_even_behind_a_longer_admin_command() {
    use nvme_fabric::host::{DataOut, PathFailure};
    use nvme_proto::cmd::AsyncEventRequest;
    let (s, h) = cfgs(Policy::Ccr);
    let mut p = Pair::new(s, h, 2).unwrap();
    p.start().unwrap();
    // An AER sent as passthrough: never answered, bounded by the 60 s admin timeout.
    p.host.submit_admin(p.now, 0, AsyncEventRequest.to_sqe(0), DataOut::None).unwrap();
    p.pump().unwrap();
    let t0 = p.now;
    p.down[0] = true;
    p.advance(Duration::from_secs(20)).unwrap();
    let failed = p.host_events.iter().find_map(|e| match e {
        HostEvent::PathFailed { path: 0, failure, .. } => Some(*failure),
        _ => None,
    });
    assert_eq!(failed, Some(PathFailure::KeepAliveTimeout));
    let _ = t0;
}

/// `path_limits` reports the transfer limit lowered to the controller's MDTS and the I/O queues it granted, only
/// while the path is live; an I/O beyond the limit fails as invalid.
#[test]
fn path_limits_follow_mdts_and_the_granted_queues() {
    use nvme_fabric::host::{IoError, PathLimits};
    let (mut s, mut h) = cfgs(Policy::Ccr);
    s.mdts = 4; // 64 KiB in 4 KiB pages
    s.max_io_queues = 1;
    h.io_queues = 3;
    let mut p = Pair::new(s, h, 1).unwrap();
    assert_eq!(p.host.path_limits(0), None, "not live yet");
    p.start().unwrap();
    assert_eq!(p.host.path_limits(0), Some(PathLimits { max_transfer: 64 * 1024, io_queues: 1 }));
    assert_eq!(p.host.path_limits(1), None, "no such path");
    p.host.submit(p.now, Io::Read { slba: 0, blocks: 129 }).unwrap();
    p.host.submit(p.now, Io::Read { slba: 0, blocks: 128 }).unwrap();
    p.pump().unwrap();
    assert_eq!(p.done[0].result, Err(IoError::Invalid), "64 KiB + 512 is beyond MDTS");
    assert_eq!(p.done[1].result.as_ref().map(|d| d.data.len()), Ok(64 * 1024));
    p.down[0] = true;
    p.advance(Duration::from_secs(20)).unwrap();
    assert_ne!(p.host.path_phase(0), Some(PathPhase::Live));
    assert_eq!(p.host.path_limits(0), None, "not live any more");
}

/// An R2T is answered with H2CData PDUs as large as MAXH2CDATA allows, one per R2T up to it (as the Linux host sends
/// them: Linux 6.1 nvmet checks an H2CData PDU's data digest against the whole transfer and fails the controller
/// when an R2T is answered in several PDUs). A 256 KiB write with both digests is one PDU to a controller with
/// MAXH2CDATA 1 MiB, two to one with 128 KiB; the host's default 128 KiB `max_data_pdu` bounds only in-capsule data.
#[test]
fn an_r2t_is_answered_with_h2cdata_pdus_as_large_as_maxh2cdata_allows() {
    use std::collections::BTreeMap;

    use nvme_fabric::conn::ConnEvent;
    use nvme_proto::tcp::{Decoded, Deframer, Params, Pdu, Role};

    for (maxh2cdata, pdus) in [(1u32 << 20, 1usize), (128 * 1024, 2)] {
        let (mut s, h) = cfgs(Policy::Ccr);
        s.maxh2cdata = maxh2cdata;
        let mut p = Pair::new(s, h, 1).unwrap();
        p.start().unwrap();
        let data: Arc<[u8]> = (0..256 * 1024u32).map(|i| (i / 7) as u8).collect::<Vec<u8>>().into();
        p.host.submit(p.now, Io::Write { slba: 0, data: data.clone() }).unwrap();
        // Step by hand, decoding every PDU the host sends.
        let params = Params { header_digest: true, data_digest: true, maxh2cdata, ..Params::default() };
        let mut buf = vec![0u8; p.host.config().transmit_buffer_len()];
        let mut deframers: BTreeMap<_, Deframer> = BTreeMap::new();
        let mut h2c = Vec::new();
        for _ in 0..100 {
            let mut progress = false;
            while let Some(ev) = p.host.poll_conn_event() {
                let ConnEvent::Transmit(c) = ev else { continue };
                loop {
                    let n = p.host.poll_transmit(p.now, c, &mut buf).unwrap();
                    if n == 0 {
                        break;
                    }
                    progress = true;
                    let de = deframers.entry(c).or_insert_with(|| Deframer::established(Role::Controller, params));
                    let mut at = 0;
                    while at < n {
                        match de.decode(&buf[at..n]) {
                            Ok(Decoded::Pdu { pdu, consumed }) => {
                                if let Pdu::H2CData(d) = pdu {
                                    h2c.push(d.data.len());
                                }
                                at += consumed;
                            }
                            other => panic!("whole PDUs only: {other:?}"),
                        }
                    }
                    let sc = p.h2s[&c];
                    assert_eq!(p.sub.handle_input(p.now, sc, &buf[..n]), n);
                }
            }
            while let Some(ev) = p.sub.poll_conn_event() {
                let ConnEvent::Transmit(sc) = ev else { continue };
                loop {
                    let n = p.sub.poll_transmit(p.now, sc, &mut buf).unwrap();
                    if n == 0 {
                        break;
                    }
                    progress = true;
                    p.host.handle_input(p.now, p.s2h[&sc], &buf[..n]);
                }
            }
            while let Some(req) = p.sub.poll_media() {
                progress = true;
                p.run_media(req);
            }
            if !progress {
                break;
            }
        }
        let done = p.host.poll_completion().expect("the write completed");
        assert!(done.result.is_ok(), "{done:?}");
        assert_eq!(h2c, vec![256 * 1024 / pdus; pdus], "MAXH2CDATA {maxh2cdata}");
        assert_eq!(&p.media[..data.len()], &data[..]);
    }
}
