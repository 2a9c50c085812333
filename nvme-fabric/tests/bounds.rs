//! The controller's bounds and timers, driven by raw PDUs: SQSIZE, CID conflicts, the transfer-tag pool, the write
//! budget, output backpressure, the connection cap, the IC and Connect timeouts, keep-alive expiry (with and
//! without TBKAS), media concurrency and its cancellation, teardown, and the freeze fault.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{Got, Rig};
use nvme_fabric::conn::{CloseCause, ConnId};
use nvme_fabric::controller::{
    ControllerFailure, Event, Fault, FaultAction, FaultTarget, MediaKind, TooManyConnections,
};
use nvme_proto::cmd::{
    Connect, Feature, KeepAlive, KeepAliveTimer, ReadWrite, SetFeatures, SglDescriptor, Sqe, Status, StatusCode,
};

fn read(cid: u16, slba: u64, blocks: u32) -> Sqe {
    ReadWrite::new(1, slba, blocks, 512).unwrap().to_read_sqe(cid)
}

fn r2t_write(cid: u16, slba: u64, blocks: u32) -> Sqe {
    ReadWrite::new(1, slba, blocks, 512).unwrap().to_write_sqe(cid)
}

fn in_capsule_write(cid: u16, slba: u64) -> Sqe {
    let mut w = ReadWrite::new(1, slba, 1, 512).unwrap().to_write_sqe(cid);
    w.dptr = SglDescriptor::in_capsule(0, 512);
    w
}

fn r2ts(got: &[Got]) -> Vec<(u16, u16)> {
    got.iter()
        .filter_map(|g| match g {
            Got::R2T { cid, ttag, .. } => Some((*cid, *ttag)),
            _ => None,
        })
        .collect()
}

fn failed(r: &Rig, cntlid: u16) -> Option<ControllerFailure> {
    r.events.iter().find_map(|e| match e {
        Event::ControllerFailed { cntlid: c, cause, .. } if *c == cntlid => Some(*cause),
        _ => None,
    })
}

// ---------------------------------------------------------------------------------------------------------------
// Command slots and transfer tags

#[test]
fn one_command_beyond_sqsize_plus_one_closes_the_queue_with_fes_2_and_queue_overflow() {
    let mut r = Rig::small();
    r.hold_media = true;
    let (_, cntlid) = r.admin(5000);
    let io = r.io_sized(cntlid, 1, 3);
    for cid in 0..4 {
        r.command(io, &read(cid, 0, 1), &[]);
    }
    assert!(r.take(io).is_empty() && r.closed(io).is_none(), "SQSIZE 3: four commands fit");
    assert_eq!(r.sub.conn_usage(io).unwrap().commands, 4);
    let fifth = r.encode(
        io,
        &nvme_proto::tcp::Pdu::CapsuleCmd(nvme_proto::tcp::CapsuleCmd { sqe: read(4, 0, 1).to_bytes(), data: &[] }),
    );
    r.send(io, &fifth);
    let (fes, fei, data, cause) = r.term(io);
    assert_eq!((fes, fei), (0x02, 0), "PDU Sequence Error");
    assert_eq!(data, &fifth[..72], "the capsule's header is copied");
    assert_eq!(cause, Some(CloseCause::QueueOverflow));
    // Only the queue goes; its controller lives on.
    assert_eq!(r.sub.controllers().collect::<Vec<_>>(), [(cntlid, true)]);
}

#[test]
fn a_cid_still_outstanding_is_answered_command_id_conflict_and_the_first_command_completes() {
    let mut r = Rig::small();
    r.hold_media = true;
    let (_, cntlid) = r.admin(5000);
    let io = r.io(cntlid, 1);
    r.command(io, &read(5, 0, 1), &[]);
    r.command(io, &read(5, 8, 1), &[]);
    let cqe = r.resp(io);
    assert_eq!((cqe.cid, cqe.status), (5, Status::new(StatusCode::COMMAND_ID_CONFLICT).with_dnr(true)));
    assert_eq!(r.held.len(), 1, "the second never reached the media");
    r.release_held();
    let got = r.take(io);
    assert!(matches!(got.last(), Some(Got::Resp(c)) if c.cid == 5 && c.status.is_success()), "{got:?}");
}

#[test]
fn transfer_tags_come_from_a_pool_of_queue_depth_and_a_freed_tag_is_reused() {
    let mut r = Rig::small();
    let (_, cntlid) = r.admin(5000);
    let io = r.io_sized(cntlid, 1, 7);
    for cid in 0..8 {
        r.command(io, &r2t_write(cid, u64::from(cid) * 8, 8), &[]);
    }
    let got = r2ts(&r.take(io));
    let tags: BTreeSet<u16> = got.iter().map(|&(_, t)| t).collect();
    assert_eq!(got.len(), 8);
    assert_eq!(tags, (0..8).collect(), "eight writes in flight: the eight tags of a depth-8 pool");
    // Write 3's data completes it and frees its tag; the next write gets exactly that tag.
    let t3 = got.iter().find(|&&(c, _)| c == 3).unwrap().1;
    r.send_pdu(io, &common::h2c(3, t3, 0, &[3; 4096], true));
    assert!(r.resp(io).status.is_success());
    r.command(io, &r2t_write(3, 100, 8), &[]);
    assert_eq!(r2ts(&r.take(io)), [(3, t3)]);
}

#[test]
fn writes_of_a_full_queue_at_the_largest_depth_each_get_a_distinct_tag_or_wait() {
    // The "65 537 Writes waiting for their data" on one queue: at most the depth can be outstanding, the pool
    // has exactly that many tags, and R2Ts beyond the write budget wait without taking one.
    let mut cfg = Rig::small_cfg();
    cfg.queue_depth = 4096;
    cfg.output_limit = 4 << 20;
    let mut r = Rig::new(cfg);
    let (_, cntlid) = r.admin(5000);
    let io = r.io_sized(cntlid, 1, 4095);
    let p = r.conns[&io].params;
    let input: Vec<u8> = (0..4096u16)
        .flat_map(|cid| {
            let sqe = r2t_write(cid, 0, 8).to_bytes();
            common::encode(&nvme_proto::tcp::Pdu::CapsuleCmd(nvme_proto::tcp::CapsuleCmd { sqe, data: &[] }), &p)
        })
        .collect();
    assert_eq!(r.send(io, &input), input.len());
    let got = r2ts(&r.take(io));
    assert_eq!(got.len(), 1024, "4 MiB of 4 KiB writes may receive data at once");
    assert_eq!(got.iter().map(|&(_, t)| t).collect::<BTreeSet<_>>().len(), 1024);
    assert!(got.iter().all(|&(_, t)| t < 4096));
    let u = r.sub.conn_usage(io).unwrap();
    assert_eq!((u.commands, u.writes), (4096, 4 << 20));
    // One more command closes the queue.
    r.command(io, &r2t_write(4096, 0, 8), &[]);
    assert_eq!(r.closed(io), Some(CloseCause::QueueOverflow));
}

// ---------------------------------------------------------------------------------------------------------------
// Write budget and output backpressure

/// 64 KiB of output and write budget; MDTS 2 (16 KiB transfers); an admin and an I/O queue.
fn tight() -> (Rig, u16, ConnId) {
    let mut cfg = Rig::small_cfg();
    cfg.mdts = 2;
    cfg.output_limit = 64 * 1024;
    let mut r = Rig::new(cfg);
    let (_, cntlid) = r.admin(0);
    let io = r.io(cntlid, 1);
    (r, cntlid, io)
}

#[test]
fn r2ts_wait_while_write_buffers_fill_the_budget_and_go_out_as_writes_finish() {
    let (mut r, _, io) = tight();
    r.hold_media = true;
    for cid in 0..6 {
        r.command(io, &r2t_write(cid, u64::from(cid) * 32, 32), &[]);
    }
    let first = r2ts(&r.take(io));
    assert_eq!(first.iter().map(|&(c, _)| c).collect::<Vec<_>>(), [0, 1, 2, 3], "4 × 16 KiB = the budget");
    assert_eq!(r.sub.conn_usage(io).unwrap().writes, 64 * 1024);
    // Write 0's data arrives: its buffer is pinned until the media is done with it, so nothing more goes out yet.
    r.send_pdu(io, &common::h2c(0, first[0].1, 0, &[1; 16384], true));
    assert!(r2ts(&r.take(io)).is_empty());
    assert_eq!(r.held.len(), 1);
    // The media finishes it: the budget has room for exactly one more R2T.
    r.release_held();
    let got = r.take(io);
    assert_eq!(r2ts(&got).iter().map(|&(c, _)| c).collect::<Vec<_>>(), [4]);
    assert!(got.iter().any(|g| matches!(g, Got::Resp(c) if c.cid == 0 && c.status.is_success())));
    assert_eq!(r.sub.conn_usage(io).unwrap().writes, 64 * 1024);
}

#[test]
fn a_peer_that_never_reads_is_read_no_more_past_the_output_limit_and_resumed_after_poll_transmit() {
    let (mut r, _, io) = tight();
    let cfg = r.sub.config().clone();
    r.stalled.insert(io);
    let p = r.conns[&io].params;
    let input: Vec<u8> = (0..40u16)
        .flat_map(|cid| {
            let sqe = read(cid, 0, 32).to_bytes();
            common::encode(&nvme_proto::tcp::Pdu::CapsuleCmd(nvme_proto::tcp::CapsuleCmd { sqe, data: &[] }), &p)
        })
        .collect();
    let taken = r.send(io, &input);
    assert!(taken < input.len() && taken > 0, "took {taken} of {}", input.len());
    let u = r.sub.conn_usage(io).unwrap();
    assert!(u.output > cfg.output_limit, "stopped because the output is over the limit: {u:?}");
    assert!(u.output <= cfg.output_limit + cfg.max_transfer() + 4096, "{u:?}");
    // Offered again, nothing is taken while the output is not read.
    assert_eq!(r.send(io, &input[taken..]), 0);
    assert!(r.resumed.is_empty());
    // The peer reads: the output drains, Resume follows, the rest is taken.
    r.stalled.clear();
    r.transmit(io);
    r.pump();
    assert_eq!(r.resumed, [io]);
    let mut at = taken;
    while at < input.len() {
        let n = r.send(io, &input[at..]);
        assert!(n > 0);
        at += n;
        r.transmit(io);
        r.pump();
    }
    let answers = r.take(io).iter().filter(|g| matches!(g, Got::Resp(c) if c.status.is_success())).count();
    assert_eq!(answers, 40, "every read answered, none lost to backpressure");
}

// ---------------------------------------------------------------------------------------------------------------
// Connections and their timers

#[test]
fn accept_refuses_past_max_connections_and_accepts_again_once_one_closed() {
    let mut cfg = Rig::small_cfg();
    cfg.max_connections = 2;
    let mut r = Rig::new(cfg);
    let a = r.accept();
    let _b = r.accept();
    assert_eq!(r.sub.accept(r.now), Err(TooManyConnections));
    r.sub.handle_closed(r.now, a);
    assert!(r.sub.accept(r.now).is_ok());
    assert_eq!(r.sub.connection_count(), 2);
}

#[test]
fn a_connection_without_icreq_closes_at_the_ic_timeout() {
    let mut cfg = Rig::small_cfg();
    cfg.ic_timeout = Duration::from_secs(3);
    let mut r = Rig::new(cfg);
    let c = r.accept();
    r.advance(Duration::from_millis(2999));
    assert_eq!(r.closed(c), None);
    r.advance(Duration::from_millis(1));
    assert_eq!(r.closed(c), Some(CloseCause::IcTimeout));
    assert!(r.take(c).is_empty(), "closed without a word");
    assert_eq!(r.sub.connection_count(), 0);
}

#[test]
fn a_connection_without_a_successful_connect_closes_at_the_connect_timeout() {
    let mut cfg = Rig::small_cfg();
    cfg.connect_timeout = Duration::from_secs(4);
    let mut r = Rig::new(cfg);
    let c = r.accept();
    r.advance(Duration::from_secs(1));
    r.ic(c, false, false);
    // A failed Connect (wrong SQSIZE) does not stop the timer.
    let cqe = r.connect(c, &Connect { sqsize: 0, ..Connect::admin(0) }, 0xFFFF);
    assert!(!cqe.status.is_success());
    r.advance(Duration::from_millis(3999));
    assert_eq!(r.closed(c), None);
    r.advance(Duration::from_millis(1));
    assert_eq!(r.closed(c), Some(CloseCause::ConnectTimeout));
    // A successful Connect stops it.
    let (a, _) = r.admin(0);
    r.advance(Duration::from_secs(60));
    assert_eq!(r.closed(a), None);
}

#[test]
fn with_tbkas_any_command_keeps_a_controller_alive_and_silence_fails_it_within_two_katos() {
    let mut r = Rig::small();
    let (a, cntlid) = r.admin(1000);
    let io = r.io(cntlid, 1);
    // Only reads, every 400 ms, for 5 s: no Keep Alive at all.
    for k in 0..12 {
        r.advance(Duration::from_millis(400));
        r.command(io, &read(k, 0, 1), &[]);
        r.take(io);
    }
    assert_eq!(failed(&r, cntlid), None);
    let quiet = r.now;
    r.advance(Duration::from_millis(2000));
    assert_eq!(failed(&r, cntlid), Some(ControllerFailure::KeepAliveExpired));
    assert_eq!(r.closed(a), Some(CloseCause::ControllerFailed));
    assert_eq!(r.closed(io), Some(CloseCause::ControllerFailed));
    let _ = quiet;
}

#[test]
fn without_tbkas_io_traffic_does_not_keep_a_controller_alive() {
    let mut cfg = Rig::small_cfg();
    cfg.tbkas = false;
    let mut r = Rig::new(cfg);
    let (_, cntlid) = r.admin(1000);
    let io = r.io(cntlid, 1);
    for k in 0..2 {
        r.advance(Duration::from_millis(400));
        r.command(io, &read(k, 0, 1), &[]);
        r.take(io);
    }
    assert_eq!(failed(&r, cntlid), None);
    r.advance(Duration::from_millis(199));
    assert_eq!(failed(&r, cntlid), None, "KATO is 1 s after the Connect");
    r.advance(Duration::from_millis(1));
    assert_eq!(failed(&r, cntlid), Some(ControllerFailure::KeepAliveExpired));
}

#[test]
fn keep_alive_timer_is_restarted_by_keep_alive_changed_by_set_features_and_off_at_zero() {
    let mut cfg = Rig::small_cfg();
    cfg.tbkas = false;
    let mut r = Rig::new(cfg);
    let (a, c1) = r.admin(1000);
    r.advance(Duration::from_millis(900));
    r.command(a, &KeepAlive.to_sqe(1), &[]);
    assert!(r.resp(a).status.is_success());
    r.advance(Duration::from_millis(999));
    assert_eq!(failed(&r, c1), None, "restarted at 900 ms");
    // KATO raised to 5 s by Set Features: restarted from now.
    let sf = SetFeatures::new(Feature::KeepAliveTimer(KeepAliveTimer { kato_ms: 5000 }));
    r.command(a, &sf.to_sqe(2), &[]);
    assert!(r.resp(a).status.is_success());
    r.advance(Duration::from_millis(4999));
    assert_eq!(failed(&r, c1), None);
    r.advance(Duration::from_millis(1));
    assert_eq!(failed(&r, c1), Some(ControllerFailure::KeepAliveExpired));
    // KATO 0: never expires.
    r.events.clear();
    let (_, c2) = r.admin(0);
    r.advance(Duration::from_secs(3600));
    assert_eq!(failed(&r, c2), None);
}

// ---------------------------------------------------------------------------------------------------------------
// Media, failure and teardown

#[test]
fn media_concurrency_queues_operations_and_starts_the_next_as_one_finishes() {
    let mut cfg = Rig::small_cfg();
    cfg.media_concurrency = 2;
    let mut r = Rig::new(cfg);
    r.hold_media = true;
    let (_, cntlid) = r.admin(0);
    let io = r.io(cntlid, 1);
    for cid in 0..5 {
        r.command(io, &read(cid, u64::from(cid), 1), &[]);
    }
    assert_eq!(r.held.len(), 2, "two started, three queued");
    assert_eq!(r.sub.media_pending(), 5);
    let first = r.held.remove(0);
    r.run_media(first);
    r.pump();
    assert_eq!(r.held.len(), 2, "one finished, one more started");
    assert_eq!(r.held.iter().map(|m| m.cid).collect::<Vec<_>>(), [1, 2], "in arrival order");
}

#[test]
fn a_failed_controller_cancels_its_queued_operations_and_tears_down_after_the_started_ones() {
    let mut cfg = Rig::small_cfg();
    cfg.media_concurrency = 2;
    cfg.teardown_time = Duration::from_millis(300);
    let mut r = Rig::new(cfg);
    r.hold_media = true;
    let (a, cntlid) = r.admin(0);
    let io = r.io(cntlid, 1);
    for cid in 0..5 {
        r.command(io, &in_capsule_write(cid, u64::from(cid)), &[cid as u8 + 1; 512]);
    }
    assert_eq!(r.held.len(), 2);
    // The admin connection drops: the controller fails.
    r.sub.handle_closed(r.now, a);
    r.pump();
    let ev = r.events.iter().find(|e| matches!(e, Event::ControllerFailed { .. })).copied();
    let Some(Event::ControllerFailed { cause, cancelled, waiting, .. }) = ev else { panic!("{:?}", r.events) };
    assert!(matches!(cause, ControllerFailure::AdminConnectionLost(CloseCause::PeerClosed)));
    assert_eq!((cancelled, waiting), (3, 2));
    assert_eq!(r.sub.media_pending(), 2, "the queued three are gone, never to reach the media");
    // Teardown waits for the two started writes, then for teardown_time.
    r.advance(Duration::from_secs(5));
    assert!(!r.events.iter().any(|e| matches!(e, Event::TeardownComplete { .. })));
    let done_at = r.now;
    r.release_held();
    assert_eq!(&r.media[..2 * 512], &[[1u8; 512], [2u8; 512]].concat()[..], "the started writes landed");
    assert!(r.media[2 * 512..5 * 512].iter().all(|&b| b == 0), "the cancelled ones never did");
    assert!(r.take(io).iter().all(|g| !matches!(g, Got::Resp(_))), "a failed controller answers nothing");
    r.advance(Duration::from_millis(299));
    assert!(!r.events.iter().any(|e| matches!(e, Event::TeardownComplete { .. })));
    r.advance(Duration::from_millis(1));
    assert!(r.events.iter().any(|e| matches!(e, Event::TeardownComplete { cntlid: c } if *c == cntlid)));
    assert_eq!(r.now.saturating_duration_since(done_at), Duration::from_millis(300));
    assert_eq!(r.sub.controllers().count(), 0);
}

#[test]
fn a_fault_holds_its_command_until_its_delay_and_the_teardown_waits_for_it() {
    let mut r = Rig::small();
    let (_, cntlid) = r.admin(0);
    let io = r.io(cntlid, 1);
    let fault = Fault { opcode: 2, delay: Duration::from_millis(700), action: FaultAction::Fatal };
    r.sub.arm_fault(FaultTarget::Controller(cntlid), fault).unwrap();
    r.command(io, &read(1, 0, 1), &[]);
    assert_eq!(failed(&r, cntlid), Some(ControllerFailure::Fault));
    assert!(r.media_log.is_empty(), "stuck in the backend");
    r.advance(Duration::from_millis(699));
    assert!(r.media_log.is_empty());
    assert!(!r.events.iter().any(|e| matches!(e, Event::TeardownComplete { .. })));
    r.advance(Duration::from_millis(1));
    assert_eq!(r.media_log.len(), 1);
    assert_eq!((r.media_log[0].kind, r.media_log[0].cid), (MediaKind::Read, 1));
    assert!(r.events.iter().any(|e| matches!(e, Event::TeardownComplete { cntlid: c } if *c == cntlid)));
    // Fired once: the next controller is not hit.
    let (_, c2) = r.admin(0);
    let io2 = r.io(c2, 1);
    r.command(io2, &read(1, 0, 1), &[]);
    assert!(r.take(io2).iter().any(|g| matches!(g, Got::Resp(c) if c.status.is_success())));
}

#[test]
fn a_freeze_fault_silences_every_connection_of_the_controller_which_then_dies_by_kato() {
    let mut r = Rig::small();
    let (a, cntlid) = r.admin(1000);
    let io = r.io(cntlid, 1);
    let (a2, _) = r.admin(0);
    let fault = Fault { opcode: 1, delay: Duration::from_millis(100), action: FaultAction::Freeze };
    r.sub.arm_fault(FaultTarget::Controller(cntlid), fault).unwrap();
    r.command(io, &in_capsule_write(1, 0), &[5; 512]);
    assert!(r.conns[&a].frozen && r.conns[&io].frozen, "both connections of the controller (ConnEvent::Freeze)");
    assert!(!r.conns[&a2].frozen, "not another controller's");
    // Frozen: input is not taken, nothing is sent, the controller is live until its keep-alive expires.
    assert_eq!(
        r.send(
            a,
            &r.encode(
                a,
                &nvme_proto::tcp::Pdu::CapsuleCmd(nvme_proto::tcp::CapsuleCmd {
                    sqe: KeepAlive.to_sqe(9).to_bytes(),
                    data: &[],
                })
            )
        ),
        0
    );
    assert!(r.take(io).is_empty() && r.take(a).is_empty());
    assert_eq!(failed(&r, cntlid), None);
    r.advance(Duration::from_millis(100));
    assert_eq!(r.media[0], 5, "the held write landed after its delay");
    r.advance(Duration::from_millis(1900));
    assert_eq!(failed(&r, cntlid), Some(ControllerFailure::KeepAliveExpired), "dead within 2 × KATO (TBKAS)");
    assert!(r.closed(a2).is_none());
}

// ---------------------------------------------------------------------------------------------------------------
// State types (the model-check issue explores them as states)

fn is_state<T: Clone + std::fmt::Debug + PartialEq + Eq + std::hash::Hash>() {}

fn hash_of<T: std::hash::Hash>(t: &T) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault};
    BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(t)
}

#[test]
fn the_subsystem_is_a_state_a_clone_behaves_the_same_and_compares_and_hashes_equal() {
    is_state::<nvme_fabric::controller::Subsystem>();
    is_state::<nvme_fabric::controller::SubsystemConfig>();
    is_state::<nvme_fabric::controller::Event>();
    is_state::<nvme_fabric::controller::MediaRequest>();
    is_state::<nvme_fabric::conn::ConnUsage>();
    is_state::<nvme_fabric::conn::ConnEvent>();
    is_state::<nvme_fabric::host::IoCompletion>();
    is_state::<nvme_fabric::host::PathFailure>();
    let mut r = Rig::small();
    r.hold_media = true;
    let (_, cntlid) = r.admin(1000);
    let io = r.io(cntlid, 1);
    r.command(io, &r2t_write(1, 0, 8), &[]);
    let twin = r.sub.clone();
    assert!(twin == r.sub && hash_of(&twin) == hash_of(&r.sub));
    // The same input to both: the same output and the same state.
    let [Got::R2T { ttag, .. }] = r.take(io)[..] else { panic!() };
    let bytes = r.encode(io, &common::h2c(1, ttag, 0, &[8; 4096], true));
    let mut other = twin.clone();
    assert_eq!(r.sub.handle_input(r.now, io, &bytes), other.handle_input(r.now, io, &bytes));
    assert_eq!(r.sub.poll_media(), other.poll_media());
    assert!(r.sub == other && hash_of(&r.sub) == hash_of(&other));
    // A different input: different states.
    other.handle_timeout(r.now + Duration::from_secs(5));
    assert!(r.sub != other);
    assert_ne!(hash_of(&r.sub), hash_of(&other));
}
