//! Our host against the real Linux 6.1 nvmet-tcp target (booted under qemu by `scripts/interop.sh`, which sets
//! `NVME_INTEROP_ADDR`, optionally `NVME_INTEROP_ADDR2` for a second port, and `NVME_INTEROP_NQN`).
//!
//! Ignored by default. Run with the peer up:
//! `cargo test --release -p nvme-tokio --test linux_interop -- --ignored --test-threads=1`.
//! Without the environment the tests FAIL with a message saying so: a test that passes without its peer would
//! prove nothing. Every test name starts with `linux_interop_`, so `--skip linux_interop` leaves them out of a run
//! that has no qemu.

use std::net::SocketAddr;
use std::time::Duration;

use nvme_ccr::{Ccrl, CommandKind, Config, Cqt, Engine, Event, FailureReason, Instant, Policy};
use nvme_proto::cmd::IdentifyController;
use nvme_proto::cmd::StatusCode;
use nvme_tokio::host::{Controller, DataOut, Digests, HostConfig};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: these tests need the Linux nvmet-tcp target that scripts/interop.sh boots under qemu \
             (it sets NVME_INTEROP_ADDR=127.0.0.1:14420 and NVME_INTEROP_NQN); run that script instead"
        )
    })
}

fn peer() -> (SocketAddr, SocketAddr, String) {
    let addr: SocketAddr = env("NVME_INTEROP_ADDR").parse().expect("NVME_INTEROP_ADDR is HOST:PORT");
    let addr2 = std::env::var("NVME_INTEROP_ADDR2").ok().and_then(|a| a.parse().ok()).unwrap_or(addr);
    (addr, addr2, env("NVME_INTEROP_NQN"))
}

fn host(nqn: &str, kato: Duration) -> HostConfig {
    let mut h = HostConfig::new(nqn, "linux-interop");
    h.fabric.digests = Digests::Both.into();
    h.fabric.kato = kato;
    h.fabric.connect_timeout = Duration::from_secs(60);
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs qemu: scripts/interop.sh"]
async fn linux_interop_digests_identify_and_one_mib_round_trip() {
    let (addr, _, nqn) = peer();
    let (c, _events) = Controller::connect(addr, &host(&nqn, Duration::from_secs(5))).await.expect("connects");
    let id = c.identify().await.expect("Identify Controller");
    let id = IdentifyController::parse(&id).expect("Identify Controller parses");
    assert_eq!(id.subnqn, nqn);
    assert_eq!(id.cntlid, c.cntlid(), "Identify CNTLID equals the Connect result");
    assert!(
        id.kas != 0 && id.sgls & 0b11 != 0 && id.icdoff == 0,
        "KAS {} SGLS {:#x} ICDOFF {}",
        id.kas,
        id.sgls,
        id.icdoff
    );
    let ns = c.namespace();
    let len = 1 << 20;
    assert!(ns.blocks * u64::from(ns.block_size) >= len as u64 * 2, "namespace of {} blocks", ns.blocks);
    let data: Vec<u8> = (0..len).map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[1]).collect();
    let slba = 2048;
    c.write(slba, &data).await.expect("1 MiB written");
    let back = c.read(slba, len).await.expect("1 MiB read");
    assert!(back == data, "1 MiB read back differs");
    c.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs qemu: scripts/interop.sh"]
async fn linux_interop_ccr_is_refused_and_the_engine_falls_back_to_the_time_based_hold() {
    let (addr, addr2, nqn) = peer();
    let kato = Duration::from_secs(1);
    let h = host(&nqn, kato);
    let (a, _ea) = Controller::connect(addr, &h).await.expect("impacted controller connects");
    let (b, _eb) = Controller::connect(addr2, &h).await.expect("source controller connects");
    let (fa, fb) = (a.facts(), b.facts());
    // Linux 6.1 has no TP8028/TP4129 code: CIU, CIRN, CQT and CCRL are reserved zeros; it sets TBKAS.
    assert_eq!((fa.ciu, fa.cirn, fa.cqt, fb.ccrl), (0, 0, Cqt::NotReported, Ccrl::NotReported));
    assert!(fa.tbkas, "Linux nvmet sets CTRATT.TBKAS");

    let mut engine = Engine::new(Config::new(Policy::Ccr));
    let t0 = Instant::from_millis(0);
    let pa = engine.add_controller(t0, fa).unwrap();
    let pb = engine.add_controller(t0, fb).unwrap();
    engine.handle_submit(t0, pa, 1, CommandKind::Write).unwrap();
    engine.handle_controller_failed(t0, pa, FailureReason::TransportError).unwrap();
    let send = engine.poll_ccr().expect("the engine tries CCR through the other controller");
    assert_eq!((send.source, send.command.icid), (pb, a.cntlid()));

    // The real CCR, through the real source.
    let done = b.admin(send.command.to_sqe(0), DataOut::None).await.expect("CCR answered");
    let st = done.cqe.status;
    assert_eq!(st.to_word(), 0xC002, "Invalid Command Opcode with DNR and MORE, as Linux 6.1 answers");
    assert_eq!(st.code, StatusCode::INVALID_OPCODE);
    engine.handle_ccr_completion(Instant::from_millis(5), send.id, st, done.cqe.dw0).unwrap();

    assert!(!engine.is_ccr_capable(pb), "the source is CCR-incapable until it reconnects");
    let events: Vec<Event> = std::iter::from_fn(|| engine.poll_event()).collect();
    assert!(events.contains(&Event::SourceCcrIncapable { source: pb }), "{events:?}");
    assert!(events.iter().any(|e| matches!(e, Event::FellBackToTimer { path, .. } if *path == pa)), "{events:?}");
    // (TBKAS ? 3 : 2) × KATO + F, F replacing the unreported CQT: 3 × 1 s + 10 s.
    assert_eq!(engine.hold_deadline(pa), Some(Instant::from_millis(13_000)));
    assert!(engine.poll_release().is_none(), "nothing is released before the deadline");
    engine.handle_timeout(Instant::from_millis(12_999));
    assert!(engine.poll_release().is_none());
    engine.handle_timeout(Instant::from_millis(13_000));
    assert_eq!(engine.poll_release().map(|r| r.token), Some(1), "released at the deadline, not before");

    // The refused CCR did not disturb either controller.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!a.is_failed() && !b.is_failed());
    a.write(0, &[0x5A; 4096]).await.expect("the impacted controller still works");
    assert_eq!(b.read(0, 4096).await.expect("read through the source"), vec![0x5A; 4096]);
    a.close().await;
    b.close().await;
}
