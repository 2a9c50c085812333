//! A target with several listeners: one subsystem reached through each, as nvmet's ports.

mod common;

use nvme_tokio::host::Controller;

/// Two listeners, one subsystem: a controller through each, both live, and what one writes the other reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_listeners_serve_one_subsystem() {
    let name = "listeners-two";
    let mut cfg = common::target_config(name);
    cfg.more_listen = vec!["127.0.0.1:0".parse().unwrap()];
    let target = common::start(cfg).await;
    let addrs = target.local_addrs().to_vec();
    assert_eq!(addrs.len(), 2);
    assert_ne!(addrs[0].port(), addrs[1].port());
    assert_eq!(target.local_addr(), addrs[0]);
    let (a, _ea) = Controller::connect(addrs[0], &common::host(name, 0)).await.unwrap();
    let (b, _eb) = Controller::connect(addrs[1], &common::host(name, 0)).await.unwrap();
    assert_ne!(a.cntlid(), b.cntlid());
    let mut live = vec![a.cntlid(), b.cntlid()];
    live.sort_unstable();
    assert_eq!(target.live_controllers(), live);
    a.write(16, &[0x3c; 4096]).await.unwrap();
    assert_eq!(b.read(16, 4096).await.unwrap(), vec![0x3c; 4096]);
    target.shutdown();
}

/// A listener address already taken: the target does not start (no half-started target with one listener).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_second_address_fails_the_start() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut cfg = common::target_config("listeners-taken");
    cfg.more_listen = vec![taken.local_addr().unwrap()];
    assert!(nvme_tokio::target::Target::start(cfg).await.is_err());
}
