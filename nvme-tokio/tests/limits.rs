//! Every limit of nvme-fabric's controller, once more over loopback through the tokio runtime: SQSIZE, the output
//! bound against a peer that never reads, the IC and Connect timeouts, a Connect with a bad data digest, a Connect
//! with too much in-capsule data, and the connection cap. Each test uses a raw peer (tests/common/raw.rs) and checks
//! that a well-behaved host is still served.

mod common;

use std::time::Duration;

use common::raw::{Got, Raw, read_until_closed};
use nvme_proto::cmd::{Connect, KeepAlive, ReadWrite, Status, StatusCode};
use nvme_proto::tcp::{Fes, TermReq};
use nvme_tokio::host::Controller;
use nvme_tokio::target::{ConnInfo, Target};

/// A healthy controller does a verified write and read.
async fn still_serving(ctrl: &Controller, round: u8) {
    let data = vec![round; 64 * 1024];
    ctrl.write(4096, &data).await.unwrap();
    assert_eq!(ctrl.read(4096, data.len()).await.unwrap(), data);
}

/// Waits (at most 5 s) until `f` holds for the target's connections.
async fn wait_conns(target: &Target, what: &str, f: impl Fn(&[ConnInfo]) -> bool) {
    for _ in 0..100 {
        if f(&target.connections()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: {:?}", target.connections());
}

/// SQSIZE 3 allows four commands outstanding: four writes waiting for their data are fine (each gets its R2T);
/// a fifth closes the I/O connection with a TermReq (FES 0x02, the offending header copied). Only that queue goes:
/// its controller stays live and its admin queue answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_command_beyond_sqsize_loses_the_connection_not_the_controller() {
    let name = "limits-sqsize";
    let target = common::start(common::target_config(name)).await;
    let addr = target.local_addr();
    let (mut admin, cntlid) = Raw::admin(addr, &common::nqn(name), 0).await;
    let mut io = Raw::io(addr, &common::nqn(name), cntlid, 1, 3).await;
    let rw = ReadWrite::new(1, 0, 8, 512).unwrap();
    for cid in 1..=4u16 {
        let c = io.capsule(&rw.to_write_sqe(cid), &[]);
        io.send(&c).await;
        assert!(matches!(io.recv().await, Some(Got::R2T { cid: c, r2tl: 4096, .. }) if c == cid));
    }
    let fifth = io.capsule(&rw.to_write_sqe(5), &[]);
    io.send(&fifth).await;
    assert_eq!(io.recv().await, Some(Got::Term { fes: Fes::PDU_SEQUENCE_ERROR.0, fei: 0 }));
    assert_eq!(io.recv().await, None, "closed after the TermReq");
    assert_eq!(target.live_controllers(), vec![cntlid]);
    let ka = admin.capsule(&KeepAlive.to_sqe(9), &[]);
    admin.send(&ka).await;
    let cqe = admin.resp().await;
    assert_eq!((cqe.cid, cqe.status), (9, Status::SUCCESS));
    wait_conns(&target, "only the admin connection is left", |c| c.len() == 1).await;
    target.shutdown();
}

/// A peer that sends SQSIZE + 1 = 128 Reads of 1 MiB (72-byte capsules) and never reads an answer. The target
/// stops taking its input once the connection's unsent output passes the output limit (1 MiB here): most Reads stay
/// unread in the socket, and what the target holds for it is at most the documented bound (output limit + one
/// largest transfer) plus the runtime's transmit buffer. Meanwhile another host is served. Once the peer reads,
/// the target resumes and answers every Read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_never_reads_is_held_to_the_output_bound_and_others_are_served() {
    let name = "limits-never-reads";
    let mut cfg = common::target_config(name);
    cfg.output_limit = 1 << 20;
    let sub = cfg.subsystem();
    let target = common::start(cfg).await;
    let addr = target.local_addr();
    let (_admin, cntlid) = Raw::admin(addr, &common::nqn(name), 0).await;
    let mut io = Raw::io(addr, &common::nqn(name), cntlid, 1, 127).await;
    let me = io.s.local_addr().unwrap();
    let rw = ReadWrite::new(1, 0, 2048, 512).unwrap();
    let reads: Vec<u8> = (0..128u16).flat_map(|cid| io.capsule(&rw.to_read_sqe(cid), &[])).collect();
    assert_eq!(reads.len(), 128 * 72);
    io.send(&reads).await;

    // Wait until the target has stopped taking this peer's input (unchanged for 1 s; at most 20 s).
    let mine = |t: &Target| t.connections().into_iter().find(|c| c.peer == me).expect("the peer's connection");
    let (mut last, mut still) = (mine(&target), 0);
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = mine(&target);
        still = if now == last { still + 1 } else { 0 };
        last = now;
        if still == 10 {
            break;
        }
    }
    assert_eq!(still, 10, "the target never stopped: {last:?}");
    // ICReq 128 + Connect 72 + 1024 bytes, then 72 per Read; ICResp 128 + Connect response 24, then per Read eight
    // C2HData PDUs (24-byte headers, 128 KiB of data each) and a 24-byte response.
    let taken = (last.received - 128 - 1096) / 72;
    assert!(taken < 128, "the target took all {taken} Reads of a peer that reads nothing");
    let per_read = 8 * 24 + (1 << 20) + 24;
    let held = taken * per_read - (last.sent - 152);
    let bound = (sub.output_limit + sub.max_transfer() + sub.transmit_buffer_len()) as u64;
    assert!(held <= bound, "{held} bytes held for the peer, bound {bound} ({taken} Reads taken, {last:?})");
    eprintln!("never-reads: {taken} of 128 Reads taken, {held} bytes held (bound {bound})");

    // Another host is served meanwhile.
    let (good, _events) = Controller::connect(addr, &common::host(name, 0)).await.unwrap();
    still_serving(&good, 1).await;
    assert_eq!(mine(&target), last, "still nothing taken from the peer");

    // The peer starts reading: the target takes its input again and every Read is answered, whole.
    let (mut done, mut data) = (std::collections::BTreeSet::new(), 0usize);
    while done.len() < 128 {
        match io.recv().await {
            Some(Got::C2H { len, .. }) => data += len,
            Some(Got::Resp(c)) if c.status.is_success() => assert!(done.insert(c.cid), "{c:?} twice"),
            other => panic!("{other:?} after {} answers", done.len()),
        }
    }
    assert_eq!(data, 128 << 20);
    assert_eq!(mine(&target).received, 128 + 1096 + 128 * 72, "all taken");

    // The peer goes away: its connections are closed and forgotten.
    drop(io);
    drop(_admin);
    wait_conns(&target, "the peer's connections are gone", |c| c.iter().all(|c| c.cntlid == Some(good.cntlid()))).await;
    assert_eq!(target.live_controllers(), vec![good.cntlid()]);
    good.close().await;
    target.shutdown();
}

/// A connection that sends nothing is closed after the ICReq timeout; one that stops after the IC exchange, after
/// the Connect timeout. Neither gets a byte it did not ask for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sockets_are_closed_after_the_ic_and_connect_timeouts() {
    let name = "limits-timeouts";
    let mut cfg = common::target_config(name);
    cfg.ic_timeout = Duration::from_millis(300);
    cfg.connect_timeout = Duration::from_millis(300);
    let target = common::start(cfg).await;
    let addr = target.local_addr();

    let start = tokio::time::Instant::now();
    let mut idle = Raw::connect(addr).await;
    let (got, closed) = read_until_closed(&mut idle.s, Duration::from_secs(5)).await;
    assert!(closed && got.is_empty(), "closed {closed}, got {got:02x?}");
    assert!(start.elapsed() >= Duration::from_millis(250), "closed before the timeout");

    let mut half = Raw::connect(addr).await;
    half.ic(false, false).await;
    let (got, closed) = read_until_closed(&mut half.s, Duration::from_secs(5)).await;
    assert!(closed && got.is_empty(), "closed {closed}, got {got:02x?}");

    wait_conns(&target, "both connections are forgotten", |c| c.is_empty()).await;
    let (good, _events) = Controller::connect(addr, &common::host(name, 0)).await.unwrap();
    still_serving(&good, 2).await;
    good.close().await;
    target.shutdown();
}

/// A Connect whose in-capsule data fails its data digest fails with Transient Transport Error (0x22) and the
/// connection stays: the same Connect with a good digest then succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connect_with_a_bad_data_digest_is_answered_0x22_and_the_connection_stays() {
    let name = "limits-ddgst";
    let target = common::start(common::target_config(name)).await;
    let mut r = Raw::connect(target.local_addr()).await;
    r.ic(true, true).await;
    let good = r.connect_capsule(&common::nqn(name), &Connect::admin(0), 0xFFFF);
    let mut bad = good.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0xFF; // the last byte of DDGST
    r.send(&bad).await;
    let cqe = r.resp().await;
    assert_eq!((cqe.cid, cqe.status), (0, Status::new(StatusCode::TRANSIENT_TRANSPORT_ERROR)));
    assert!(target.live_controllers().is_empty(), "no controller from a damaged Connect");
    r.send(&good).await;
    let cqe = r.resp().await;
    assert!(cqe.status.is_success(), "{cqe:?}");
    assert_eq!(target.live_controllers(), vec![cqe.dw0 as u16]);
    target.shutdown();
}

/// A Connect carrying 101 KiB of in-capsule data is refused from its header (PLEN beyond what may come before the
/// Connect): a TermReq with FES 0x01, FEI 4 (if it arrives before the close) and the connection closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connect_with_101_kib_in_capsule_is_refused() {
    let name = "limits-big-connect";
    let target = common::start(common::target_config(name)).await;
    let mut r = Raw::connect(target.local_addr()).await;
    r.ic(false, false).await;
    let mut sqe = Connect::admin(0).to_sqe(0);
    let data = vec![0u8; 101 * 1024];
    sqe.dptr = nvme_proto::cmd::SglDescriptor::in_capsule(0, data.len() as u32);
    let bytes = r.capsule(&sqe, &data);
    // The target may close while this is still being written: a failed write is part of the refusal.
    let _ = tokio::io::AsyncWriteExt::write_all(&mut r.s, &bytes).await;
    let (got, closed) = read_until_closed(&mut r.s, Duration::from_secs(5)).await;
    assert!(closed, "the connection is closed");
    if !got.is_empty() {
        let t = TermReq::parse(&got).unwrap_or_else(|e| panic!("a TermReq or nothing, got {got:02x?}: {e}"));
        assert_eq!((t.fes, t.fei), (Fes::INVALID_HEADER_FIELD, 4));
    }
    assert_eq!(target.controller_count(), 0);
    let (good, _events) = Controller::connect(target.local_addr(), &common::host(name, 0)).await.unwrap();
    still_serving(&good, 3).await;
    good.close().await;
    target.shutdown();
}

/// With a cap of two connections, a third is closed at once without an answer; once one of the two is gone a new
/// one is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_cap_refuses_the_extra_connection() {
    let name = "limits-cap";
    let mut cfg = common::target_config(name);
    cfg.max_connections = 2;
    let target = common::start(cfg).await;
    let addr = target.local_addr();
    let mut a = Raw::connect(addr).await;
    a.ic(false, false).await;
    let mut b = Raw::connect(addr).await;
    b.ic(false, false).await;
    assert_eq!(target.connections().len(), 2);

    let mut c = Raw::connect(addr).await;
    let mut ic = [0u8; 128];
    nvme_proto::tcp::Params::default().ic_req().emit(&mut ic).unwrap();
    let _ = tokio::io::AsyncWriteExt::write_all(&mut c.s, &ic).await;
    let (got, closed) = read_until_closed(&mut c.s, Duration::from_secs(5)).await;
    assert!(closed && got.is_empty(), "refused without an ICResp: closed {closed}, got {} bytes", got.len());
    assert_eq!(target.connections().len(), 2);

    drop(a);
    wait_conns(&target, "one connection left", |c| c.len() == 1).await;
    let mut d = Raw::connect(addr).await;
    d.ic(false, false).await;
    assert_eq!(target.connections().len(), 2);
    let ka = b.capsule(&KeepAlive.to_sqe(1), &[]);
    b.send(&ka).await;
    let cqe = b.resp().await;
    assert_eq!(cqe.status, Status::new(StatusCode::COMMAND_SEQUENCE_ERROR).with_dnr(true), "still served");
    target.shutdown();
}
