//! The target's fault switches at run time and its keep-alive timer; the host's answer to a controller that
//! breaks the protocol.

mod common;

use std::time::Duration;

use nvme_proto::cmd::{Connect, ConnectData, Cqe, Status, StatusCode};
use nvme_proto::tcp::{CapsuleCmd, CapsuleResp, Fes, IcReq, IcResp, Params, Pdu, TermReq};
use nvme_tokio::host::{CloseCause, Controller, Events, HostError, HostEvent, IoError, PathFailure};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn wait_failed(events: &mut Events) -> bool {
    let wait = async {
        while let Some(ev) = events.recv().await {
            if matches!(ev, HostEvent::PathFailed { .. }) {
                return true;
            }
        }
        false
    };
    tokio::time::timeout(Duration::from_secs(5), wait).await.unwrap_or(false)
}

/// What a command gets when its controller failed and the handle does not reconnect: the shared host fails it with
/// Host Pathing Error once no path can come back (spec-notes/drivers.md, "Divergences decided").
fn no_path() -> HostError {
    HostError::Io(IoError::Status(Status::new(StatusCode::HOST_PATHING_ERROR)))
}

/// `fopcode 1 300` set at run time: the next write (in-capsule here, by R2T in the second round) is accepted, its
/// controller fails at once (the write fails on the host with Host Pathing Error: no path is left), and the write
/// lands 300 ms later, after which the controller is torn down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fopcode_set_at_run_time_defers_the_write_and_fails_its_controller() {
    let name = "fault-fopcode";
    let target = common::start(common::target_config(name)).await;
    for (round, len) in [(1u8, 4096usize), (2, 64 * 1024)] {
        let (c, mut events) = Controller::connect(target.local_addr(), &common::host(name, 0)).await.unwrap();
        let answer = target.apply_line("fopcode 1 300").unwrap();
        assert_eq!(answer, format!("fopcode 0x01 300 ms armed on controller {}", c.cntlid()));
        let slba = u64::from(round) * 1024;
        assert_eq!(c.write(slba, &vec![round; len]).await, Err(no_path()));
        assert!(c.is_failed());
        assert!(wait_failed(&mut events).await, "the controller's connections were dropped");
        assert!(target.live_controllers().is_empty());
        assert_eq!(target.read_blocks(slba, len).unwrap(), vec![0; len], "not executed yet");
        assert_eq!(target.controller_count(), 1, "still tearing down: its write is outstanding");
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(target.read_blocks(slba, len).unwrap(), vec![round; len], "executed after the delay");
        assert_eq!(target.controller_count(), 0, "torn down once the write executed");
    }
    // It fires once: a new controller writes normally.
    let (c, _events) = Controller::connect(target.local_addr(), &common::host(name, 0)).await.unwrap();
    c.write(0, &[7; 4096]).await.unwrap();
    assert_eq!(target.apply_line("fopcode 1 300 999"), Err("no live controller 999".to_string()));
    assert!(target.apply_line("fopcode one 2").is_err());
    assert!(target.apply_line("reboot").is_err());
    assert_eq!(target.apply_line("fopcode off"), Ok("fopcode off".to_string()));
    assert!(target.apply_line("status").unwrap().starts_with(&format!("controllers [{}:live]", c.cntlid())));
    target.shutdown();
}

/// A controller connected with `connect_reconnecting`: the write caught in its failed controller is not failed back;
/// it waits while the path may come back (spec-notes/drivers.md, "Divergences decided": `ReleaseAction::Fail`), runs
/// on the new controller after the reconnect delay, and the handle reports the new CNTLID.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnecting_controller_runs_the_caught_write_on_its_new_controller() {
    let name = "fault-reconnect";
    let target = common::start(common::target_config(name)).await;
    let mut h = common::host(name, 0);
    h.fabric.reconnect_delay = Duration::from_millis(100);
    let (c, mut events) = Controller::connect_reconnecting(target.local_addr(), &h).await.unwrap();
    let first = c.cntlid();
    target.apply_line("fopcode 1 300").unwrap();
    let t0 = tokio::time::Instant::now();
    c.write(0, &[5; 4096]).await.expect("the write completes on the new controller");
    assert!(t0.elapsed() >= Duration::from_millis(100), "not before the reconnect delay: {:?}", t0.elapsed());
    assert!(!c.is_failed());
    assert_ne!(c.cntlid(), first, "a new controller (the old one keeps its CNTLID until its teardown)");
    assert!(target.live_controllers().contains(&c.cntlid()));
    let mut seen = Vec::new();
    while let Ok(ev) = events.try_recv() {
        seen.push(ev);
    }
    let failed = seen.iter().position(|e| matches!(e, HostEvent::PathFailed { path: 0, was_live: true, .. }));
    let live = seen.iter().position(|e| matches!(e, HostEvent::PathLive { path: 0, reconnected: true, .. }));
    assert!(failed.is_some() && live > failed, "{seen:?}");
    c.write(8, &[6; 4096]).await.unwrap();
    assert_eq!(c.read(0, 8192).await.unwrap(), [[5u8; 4096], [6; 4096]].concat());
    c.close().await;
    target.shutdown();
}

/// Keep alive: a controller whose host goes silent is failed after KATO; one whose host sends Keep Alive (every
/// KATO/4, TBKAS) stays live well past KATO.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_target_fails_a_silent_host_after_kato_and_keeps_a_talking_one() {
    let name = "fault-kato";
    let target = common::start(common::target_config(name)).await;
    let (talking, mut talking_events) =
        Controller::connect(target.local_addr(), &common::host(name, 400)).await.unwrap();

    // A bare host: IC exchange and an admin Connect with KATO 400 ms, then nothing.
    let nqn = common::nqn(name);
    let mut s = TcpStream::connect(target.local_addr()).await.unwrap();
    let p = Params::default();
    let mut buf = vec![0u8; 2048];
    IcReq { hpda: 0, header_digest: false, data_digest: false, maxr2t: 0 }.emit(&mut buf).unwrap();
    s.write_all(&buf[..128]).await.unwrap();
    s.read_exact(&mut buf[..128]).await.unwrap();
    IcResp::parse(&buf[..128]).unwrap();
    let mut data = vec![0u8; ConnectData::LEN];
    ConnectData { hostid: [9; 16], cntlid: 0xFFFF, subnqn: &nqn, hostnqn: "nqn.2014-08.org.example:silent" }
        .emit(&mut data)
        .unwrap();
    let cmd = Pdu::CapsuleCmd(CapsuleCmd { sqe: Connect::admin(400).to_sqe(0).to_bytes(), data: &data });
    let n = cmd.emit(&p, &mut buf).unwrap();
    s.write_all(&buf[..n]).await.unwrap();
    s.read_exact(&mut buf[..24]).await.unwrap();
    let cqe = Cqe::from_bytes(&CapsuleResp::parse(&buf[..24], &p).unwrap().cqe);
    assert_eq!(cqe.status, Status::SUCCESS);
    let silent = cqe.dw0 as u16;
    assert!(target.live_controllers().contains(&silent));

    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(3), s.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the silent host's connection was closed");
    assert!(!target.live_controllers().contains(&silent), "keep-alive expiry failed it");
    assert!(target.live_controllers().contains(&talking.cntlid()), "the talking host is still live");
    assert!(!talking.is_failed());
    while let Ok(ev) = talking_events.try_recv() {
        assert!(!matches!(ev, HostEvent::PathFailed { .. }), "no failure reported to the talking host: {ev:?}");
    }
    talking.close().await;
    target.shutdown();
}

/// A controller that answers the Connect with a completion for a command the host never sent: the host sends an
/// H2CTermReq (FES 0x01, FEI 8: the CCCID) and gives up on the connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_terminates_a_connection_that_breaks_the_protocol() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let fake = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        s.read_exact(&mut buf[..128]).await.unwrap();
        let req = IcReq::parse(&buf[..128]).unwrap();
        let resp = IcResp { cpda: 0, header_digest: req.header_digest, data_digest: req.data_digest, maxh2cdata: 4096 };
        resp.emit(&mut buf).unwrap();
        s.write_all(&buf[..128]).await.unwrap();
        s.read_exact(&mut buf[..72 + 1024]).await.unwrap(); // the Connect capsule
        let bogus = Pdu::CapsuleResp(CapsuleResp { cqe: Cqe::new(0x77, Status::SUCCESS).to_bytes() });
        let n = bogus.emit(&Params::default(), &mut buf).unwrap();
        s.write_all(&buf[..n]).await.unwrap();
        let mut got = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut got)).await;
        got
    });
    let r = Controller::connect(addr, &common::host("fault-host", 0)).await;
    let sent = CloseCause::ProtocolError { fes: Some(Fes::INVALID_HEADER_FIELD), fei: 8 };
    assert_eq!(r.map(drop), Err(HostError::Path { path: 0, failure: PathFailure::Closed(sent) }));
    let got = fake.await.unwrap();
    let t = TermReq::parse(&got).unwrap_or_else(|e| panic!("expected an H2CTermReq, got {got:02x?}: {e}"));
    assert_eq!((t.fes, t.fei), (Fes::INVALID_HEADER_FIELD, 8));
}
