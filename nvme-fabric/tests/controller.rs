//! The controller (`Subsystem`) driven by raw PDUs: the connect sequence, I/O, and every bound and timeout.

mod common;

use std::time::Duration;

use common::{Got, Rig, h2c};
use nvme_proto::cmd::{Identify, IdentifyController, ReadWrite, SglDescriptor, Status, StatusCode};

#[test]
fn admin_connect_identify_and_io_round_trip() {
    let mut r = Rig::small();
    let (admin, cntlid) = r.admin(5000);
    assert_eq!(cntlid, 1);
    let sqe = Identify::controller().to_sqe(3);
    let mut sqe = sqe;
    sqe.dptr = SglDescriptor::transport_data(4096);
    r.command(admin, &sqe, &[]);
    let got = r.take(admin);
    let Got::C2H { data, last: true, .. } = &got[0] else { panic!("{got:?}") };
    let id = IdentifyController::parse(data).unwrap();
    assert_eq!((id.cntlid, id.subnqn), (1, common::NQN));
    assert!(matches!(got[1], Got::Resp(c) if c.cid == 3 && c.status.is_success()));

    let io = r.io(cntlid, 1);
    // In-capsule write of 1 KiB at LBA 4, read it back.
    let rw = ReadWrite::new(1, 4, 2, 512).unwrap();
    let mut w = rw.to_write_sqe(9);
    w.dptr = SglDescriptor::in_capsule(0, 1024);
    r.command(io, &w, &[0xA5; 1024]);
    let c = r.resp(io);
    assert!(c.status.is_success() && c.cid == 9 && c.sqid == 1);
    assert!(r.media[4 * 512..6 * 512].iter().all(|&b| b == 0xA5));
    r.command(io, &rw.to_read_sqe(10), &[]);
    let got = r.take(io);
    assert!(matches!(&got[0], Got::C2H { cid: 10, data, last: true, .. } if data == &vec![0xA5; 1024]));
    assert!(matches!(got[1], Got::Resp(c) if c.cid == 10 && c.status == Status::SUCCESS));
}

#[test]
fn a_write_by_r2t_is_received_in_pieces_and_lands() {
    let mut r = Rig::small();
    let (_admin, cntlid) = r.admin(5000);
    let io = r.io(cntlid, 1);
    let rw = ReadWrite::new(1, 0, 64, 512).unwrap(); // 32 KiB: beyond the in-capsule limit
    let mut w = rw.to_write_sqe(1);
    w.dptr = SglDescriptor::transport_data(32768);
    r.command(io, &w, &[]);
    let got = r.take(io);
    let [Got::R2T { cid: 1, ttag, r2to: 0, r2tl: 32768 }] = got.as_slice() else { panic!("{got:?}") };
    let ttag = *ttag;
    let data: Vec<u8> = (0..32768u32).map(|i| (i % 251) as u8).collect();
    for (k, chunk) in data.chunks(8192).enumerate() {
        r.send_pdu(io, &h2c(1, ttag, (k * 8192) as u32, chunk, k == 3));
    }
    let c = r.resp(io);
    assert!(c.status.is_success());
    assert_eq!(&r.media[..32768], &data[..]);
    let _ = StatusCode::SUCCESS;
    let _ = Duration::ZERO;
}

fn identify(r: &mut Rig, admin: nvme_fabric::conn::ConnId, cid: u16) -> (u16, u8, u64) {
    let mut sqe = Identify::controller().to_sqe(cid);
    sqe.dptr = SglDescriptor::transport_data(4096);
    r.command(admin, &sqe, &[]);
    let got = r.take(admin);
    let Got::C2H { data, .. } = &got[0] else { panic!("{got:?}") };
    let id = IdentifyController::parse(data).unwrap();
    (id.cntlid, id.ciu, id.cirn)
}

#[test]
fn fopcode_holds_the_write_fails_the_controller_and_a_ccr_succeeds_only_after_it_landed() {
    use nvme_fabric::controller::{Fault, FaultAction, FaultTarget};
    use nvme_proto::cmd::{
        AEC_CCRCN, AsyncEventConfig, AsyncEventRequest, CcrLogPage, Ccrs, CrossControllerReset, Feature, GetLogPage,
        SetFeatures,
    };
    let mut r = Rig::small();
    let (a1, c1) = r.admin(5000);
    let (a2, c2) = r.admin(5000);
    assert_eq!((c1, c2), (1, 2));
    let io1 = r.io(c1, 1);
    let (_, ciu, cirn) = identify(&mut r, a1, 5);
    // Ask for the CCR notice on controller 2 and leave an AER outstanding.
    r.command(a2, &SetFeatures::new(Feature::AsyncEventConfig(AsyncEventConfig(AEC_CCRCN))).to_sqe(6), &[]);
    assert!(r.resp(a2).status.is_success());
    r.command(a2, &AsyncEventRequest.to_sqe(7), &[]);
    assert!(r.take(a2).is_empty());

    let fault = Fault { opcode: 1, delay: Duration::from_millis(2000), action: FaultAction::Fatal };
    assert_eq!(r.sub.arm_fault(FaultTarget::Controller(c1), fault), Ok(Some(c1)));
    let rw = ReadWrite::new(1, 0, 1, 512).unwrap();
    let mut w = rw.to_write_sqe(1);
    w.dptr = SglDescriptor::in_capsule(0, 512);
    r.command(io1, &w, &[9; 512]);
    // No answer; controller 1's connections are closed; the write has not landed.
    assert!(r.take(io1).is_empty());
    assert!(r.conns[&io1].closed.is_some() && r.conns[&a1].closed.is_some());
    assert_eq!(r.media[0], 0);

    // The CCR through controller 2 is accepted but does not succeed before the write lands.
    r.command(a2, &CrossControllerReset { icid: c1, ciu, cirn }.to_sqe(8), &[]);
    let c = r.resp(a2);
    assert!(c.status.is_success() && c.dw0 & 1 == 0, "accepted, IRS 0: {c:?}");
    r.advance(Duration::from_millis(1999));
    assert_eq!(r.media[0], 0);
    assert!(r.take(a2).is_empty(), "no notice before the teardown");
    r.advance(Duration::from_millis(1));
    assert_eq!(r.media[0], 9, "the held write landed at 2 s");
    // Teardown complete: the notice completes the AER, and the log says Success.
    let aen = r.resp(a2);
    assert_eq!(aen.cid, 7);
    let mut g = GetLogPage::ccr_log(true, 4096).to_sqe(9);
    g.dptr = SglDescriptor::transport_data(4096);
    r.command(a2, &g, &[]);
    let got = r.take(a2);
    let Got::C2H { data, .. } = &got[0] else { panic!("{got:?}") };
    let page = CcrLogPage::new_checked(data).unwrap();
    let e = page.get(0).unwrap();
    assert_eq!((e.icid, e.ccrs), (c1, Ccrs::SUCCESS));
}

#[test]
fn keep_alive_expiry_fails_a_silent_controller_but_not_one_sending_keep_alive() {
    use nvme_proto::cmd::KeepAlive;
    let mut r = Rig::small();
    let (a1, _) = r.admin(1000);
    let (a2, _) = r.admin(1000);
    for k in 0..6u16 {
        r.advance(Duration::from_millis(400));
        r.command(a2, &KeepAlive.to_sqe(k), &[]);
        assert!(r.resp(a2).status.is_success());
    }
    assert!(r.conns[&a1].closed.is_some(), "silent for 2.4 s with KATO 1 s");
    assert!(r.conns[&a2].closed.is_none());
}

/// A fault-held command is never cancelled: when its hold ends at the very instant its frozen controller's
/// keep-alive timer expires, it still reaches the media (and the teardown waits for it).
#[test]
fn a_held_write_released_when_its_controller_expires_still_lands() {
    use nvme_fabric::controller::{Event, Fault, FaultAction, FaultTarget};
    let mut r = Rig::small();
    let (_a, c) = r.admin(1000);
    let io = r.io(c, 1);
    let fault = Fault { opcode: 1, delay: Duration::from_millis(2000), action: FaultAction::Freeze };
    r.sub.arm_fault(FaultTarget::Controller(c), fault).unwrap();
    let mut w = ReadWrite::new(1, 0, 1, 512).unwrap().to_write_sqe(1);
    w.dptr = SglDescriptor::in_capsule(0, 512);
    r.command(io, &w, &[9; 512]);
    assert!(r.conns[&io].frozen);
    // TBKAS: the write was traffic, so the timer restarts at 1 s and expires at 2 s, when the hold ends.
    let mut events = Vec::new();
    let end = r.now + Duration::from_millis(2000);
    while let Some(t) = r.sub.poll_timeout().filter(|&t| t <= end) {
        r.now = t;
        r.sub.handle_timeout(t);
        while let Some(req) = r.sub.poll_media() {
            r.run_media(req);
        }
        events.extend(std::iter::from_fn(|| r.sub.poll_event()));
    }
    assert_eq!(r.now, end, "the hold and the keep-alive expiry end together");
    let failed = events.iter().find_map(|e| match e {
        Event::ControllerFailed { cancelled, waiting, .. } => Some((*cancelled, *waiting)),
        _ => None,
    });
    assert_eq!(failed, Some((0, 1)), "the held write is waited for, not cancelled: {events:?}");
    assert_eq!(r.media[0], 9, "the held write landed");
    assert_eq!(r.sub.media_pending(), 0);
}
