//! nvme-fabric's host against its controller, in memory.

mod common;

use std::sync::Arc;
use std::time::Duration;

use nvme_ccr::{Config, Policy};
use nvme_fabric::controller::SubsystemConfig;
use nvme_fabric::host::{HostConfig, HostEvent, Io, PathPhase};
use nvme_fabric::loopback::Loopback as Pair;

fn cfgs(policy: Policy) -> (SubsystemConfig, HostConfig) {
    let mut s = SubsystemConfig::new(common::NQN);
    s.namespace.blocks = 4096;
    let mut h = HostConfig::new(common::NQN, common::HOSTNQN, common::HOSTID, Config::new(policy));
    h.digests.header = true;
    h.digests.data = true;
    (s, h)
}

#[test]
fn two_paths_come_up_in_the_linux_order_and_do_io() {
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
