//! Each Connect rule of the controller (`spec-notes/drivers.md`, "The target"; `connect_checked` in
//! `src/controller/admin.rs`), one test each, by raw PDUs.

mod common;

use std::time::Duration;

use common::{HOSTID, HOSTNQN, NQN, Rig, connect_data};
use nvme_fabric::conn::ConnId;
use nvme_fabric::controller::Event;
use nvme_proto::cmd::{
    Connect, ConnectInvalidParameters, Cqe, Feature, KeepAlive, NumberOfQueues, ParameterLocation, SetFeatures, Status,
    StatusCode,
};
use nvme_proto::tcp::{CapsuleCmd, Pdu};

fn dnr(code: StatusCode) -> Status {
    Status::new(code).with_dnr(true)
}

/// A connection with its IC exchange done (both digests).
fn fresh(r: &mut Rig) -> ConnId {
    let c = r.accept();
    r.ic(c, true, true);
    c
}

/// Asserts `cqe` is Connect Invalid Parameters + DNR naming `ipo` in `location`.
fn invalid(cqe: Cqe, ipo: u16, location: ParameterLocation) {
    assert_eq!(cqe.status, dnr(StatusCode::CONNECT_INVALID_PARAMETERS), "{cqe:?}");
    assert_eq!(ConnectInvalidParameters::from_dw0(cqe.dw0), ConnectInvalidParameters { ipo, location });
}

fn no_controller(r: &Rig) {
    assert_eq!(r.sub.controllers().count(), 0, "no controller was created");
}

#[test]
fn a_connect_with_recfmt_other_than_0_is_incompatible_format() {
    let mut r = Rig::small();
    let c = fresh(&mut r);
    let cqe = r.connect(c, &Connect { recfmt: 1, ..Connect::admin(0) }, 0xFFFF);
    assert_eq!(cqe.status, dnr(StatusCode::CONNECT_INCOMPATIBLE_FORMAT));
    no_controller(&r);
}

#[test]
fn connect_data_not_of_1024_bytes_is_data_sgl_length_invalid() {
    let mut r = Rig::small();
    let c = fresh(&mut r);
    let data = connect_data(0xFFFF, NQN, HOSTNQN, HOSTID);
    for len in [0, 512, 1023, 1025, 2048] {
        let mut d = data.clone();
        d.resize(len, 0);
        let cqe = r.connect_raw(c, &Connect::admin(0), &d);
        assert_eq!(cqe.status, dnr(StatusCode::DATA_SGL_LENGTH_INVALID), "{len} bytes");
    }
    no_controller(&r);
    // The connection still waits for its Connect: the right one succeeds.
    assert!(r.connect_raw(c, &Connect::admin(0), &data).status.is_success());
}

#[test]
fn connect_in_capsule_data_over_the_admin_limit_is_sgl_offset_invalid() {
    let mut r = Rig::small();
    let c = fresh(&mut r);
    let mut data = connect_data(0xFFFF, NQN, HOSTNQN, HOSTID);
    data.resize(8192 + 16, 0);
    let cqe = r.connect_raw(c, &Connect::admin(0), &data);
    assert_eq!(cqe.status, dnr(StatusCode::SGL_OFFSET_INVALID));
    assert!(r.closed(c).is_none());
    no_controller(&r);
}

#[test]
fn an_nqn_without_its_nul_is_invalid_parameters_at_its_offset_in_the_data() {
    let mut r = Rig::small();
    let c = fresh(&mut r);
    let mut data = connect_data(0xFFFF, NQN, HOSTNQN, HOSTID);
    data[256..512].fill(b'x');
    invalid(r.connect_raw(c, &Connect::admin(0), &data), 256, ParameterLocation::ConnectData);
    let mut data = connect_data(0xFFFF, NQN, HOSTNQN, HOSTID);
    data[512..768].fill(b'y');
    invalid(r.connect_raw(c, &Connect::admin(0), &data), 512, ParameterLocation::ConnectData);
    no_controller(&r);
}

#[test]
fn a_connect_to_another_subsystem_nqn_is_invalid_parameters_ipo_256() {
    let mut r = Rig::small();
    let c = fresh(&mut r);
    let data = connect_data(0xFFFF, "nqn.2026-12.io.example:other", HOSTNQN, HOSTID);
    invalid(r.connect_raw(c, &Connect::admin(0), &data), 256, ParameterLocation::ConnectData);
    no_controller(&r);
}

#[test]
fn sqsize_0_or_not_below_the_queue_depth_is_invalid_parameters_ipo_44() {
    let mut r = Rig::small();
    let depth = r.sub.config().queue_depth;
    let c = fresh(&mut r);
    for sqsize in [0, depth, depth + 1, u16::MAX] {
        let cqe = r.connect(c, &Connect { sqsize, ..Connect::admin(0) }, 0xFFFF);
        invalid(cqe, 44, ParameterLocation::Sqe);
    }
    no_controller(&r);
    assert!(r.connect(c, &Connect { sqsize: depth - 1, ..Connect::admin(0) }, 0xFFFF).status.is_success());
}

#[test]
fn an_admin_connect_naming_a_cntlid_is_invalid_parameters_ipo_16() {
    let mut r = Rig::small();
    let (_, cntlid) = r.admin(0);
    let c = fresh(&mut r);
    invalid(r.connect(c, &Connect::admin(0), cntlid), 16, ParameterLocation::ConnectData);
    invalid(r.connect(c, &Connect::admin(0), 0), 16, ParameterLocation::ConnectData);
    assert_eq!(r.sub.controllers().count(), 1);
}

#[test]
fn an_io_connect_naming_no_live_controller_is_invalid_parameters_ipo_16() {
    let mut r = Rig::small();
    let (a, cntlid) = r.admin(0);
    let c = fresh(&mut r);
    invalid(r.connect(c, &Connect::io(1, 31), cntlid + 1), 16, ParameterLocation::ConnectData);
    // A controller that failed (its admin queue dropped) is no longer live.
    r.sub.handle_closed(r.now, a);
    r.pump();
    invalid(r.connect(c, &Connect::io(1, 31), cntlid), 16, ParameterLocation::ConnectData);
}

#[test]
fn an_io_connect_to_another_hosts_controller_is_invalid_parameters_ipo_16() {
    let mut r = Rig::small();
    let (_, cntlid) = r.admin(0);
    let c = fresh(&mut r);
    let other_nqn = connect_data(cntlid, NQN, "nqn.2014-08.org.nvmexpress:uuid:other", HOSTID);
    invalid(r.connect_raw(c, &Connect::io(1, 31), &other_nqn), 16, ParameterLocation::ConnectData);
    let other_id = connect_data(cntlid, NQN, HOSTNQN, [9; 16]);
    invalid(r.connect_raw(c, &Connect::io(1, 31), &other_id), 16, ParameterLocation::ConnectData);
    assert!(r.connect(c, &Connect::io(1, 31), cntlid).status.is_success(), "its own host may");
}

#[test]
fn an_io_connect_beyond_the_granted_queues_or_to_a_connected_qid_is_invalid_parameters_ipo_42() {
    let mut r = Rig::small();
    let (a, cntlid) = r.admin(0);
    // Before Set Features Number of Queues: up to max_io_queues.
    let max = r.sub.config().max_io_queues;
    let c = fresh(&mut r);
    invalid(r.connect(c, &Connect::io(max + 1, 31), cntlid), 42, ParameterLocation::Sqe);
    // Two granted.
    let nq = SetFeatures::new(Feature::NumberOfQueues(NumberOfQueues::with_count(2)));
    r.command(a, &nq.to_sqe(1), &[]);
    assert_eq!(NumberOfQueues::from_dword(r.resp(a).dw0).pairs(), 2);
    invalid(r.connect(c, &Connect::io(3, 31), cntlid), 42, ParameterLocation::Sqe);
    assert!(r.connect(c, &Connect::io(2, 31), cntlid).status.is_success());
    let d = fresh(&mut r);
    invalid(r.connect(d, &Connect::io(2, 31), cntlid), 42, ParameterLocation::Sqe);
    // Once that queue's connection is gone, its QID is free again.
    r.sub.handle_closed(r.now, c);
    r.pump();
    assert!(r.connect(d, &Connect::io(2, 31), cntlid).status.is_success());
}

#[test]
fn a_first_command_other_than_connect_is_command_sequence_error_and_a_connect_may_follow() {
    let mut r = Rig::small();
    let c = fresh(&mut r);
    r.command(c, &KeepAlive.to_sqe(3), &[]);
    let cqe = r.resp(c);
    assert_eq!((cqe.cid, cqe.status), (3, dnr(StatusCode::COMMAND_SEQUENCE_ERROR)));
    assert!(r.closed(c).is_none());
    assert!(r.connect(c, &Connect::admin(0), 0xFFFF).status.is_success());
    // A second Connect on a connected queue, admin or I/O, is out of sequence too.
    let cqe = r.connect(c, &Connect::admin(0), 0xFFFF);
    assert_eq!(cqe.status, dnr(StatusCode::COMMAND_SEQUENCE_ERROR));
    let io = r.io(1, 1);
    let cqe = r.connect(io, &Connect::io(2, 31), 1);
    assert_eq!(cqe.status, dnr(StatusCode::COMMAND_SEQUENCE_ERROR));
    assert_eq!(r.sub.controllers().count(), 1);
}

#[test]
fn a_connect_with_a_bad_data_digest_is_answered_transient_transport_error() {
    let mut r = Rig::small();
    let c = fresh(&mut r);
    let data = connect_data(0xFFFF, NQN, HOSTNQN, HOSTID);
    let sqe = {
        let mut s = Connect::admin(0).to_sqe(4);
        s.dptr = nvme_proto::cmd::SglDescriptor::in_capsule(0, 1024);
        s
    };
    let mut bytes = r.encode(c, &Pdu::CapsuleCmd(CapsuleCmd { sqe: sqe.to_bytes(), data: &data }));
    let n = bytes.len();
    bytes[n - 1] ^= 0xFF;
    r.send(c, &bytes);
    let cqe = r.resp(c);
    assert_eq!((cqe.cid, cqe.status.to_word()), (4, 0x0044));
    no_controller(&r);
    assert!(r.closed(c).is_none());
    assert!(r.connect(c, &Connect::admin(0), 0xFFFF).status.is_success(), "and a good one follows");
}

#[test]
fn cntlids_are_the_lowest_free_ones() {
    let mut r = Rig::small();
    let (_, c1) = r.admin(0);
    let (a2, c2) = r.admin(0);
    let (_, c3) = r.admin(0);
    assert_eq!((c1, c2, c3), (1, 2, 3));
    // Controller 2 fails and is torn down: 2 is free again, and taken first.
    r.sub.handle_closed(r.now, a2);
    r.pump();
    assert!(r.events.iter().any(|e| matches!(e, Event::TeardownComplete { cntlid: 2 })));
    assert_eq!(r.admin(0).1, 2);
    assert_eq!(r.admin(0).1, 4);
}

#[test]
fn a_failed_controller_keeps_its_cntlid_until_its_teardown_completes() {
    let mut cfg = Rig::small_cfg();
    cfg.teardown_time = Duration::from_secs(1);
    let mut r = Rig::new(cfg);
    let (a1, c1) = r.admin(0);
    r.sub.handle_closed(r.now, a1);
    r.pump();
    assert_eq!(r.sub.controllers().collect::<Vec<_>>(), [(c1, false)]);
    assert_eq!(r.admin(0).1, c1 + 1, "not reused while the old one is being torn down");
    r.advance(Duration::from_secs(1));
    assert_eq!(r.admin(0).1, c1);
}

#[test]
fn a_successful_connect_answers_the_cntlid_in_dw0_and_the_queue_id() {
    let mut r = Rig::small();
    let (_, cntlid) = r.admin(0);
    let c = fresh(&mut r);
    let cqe = r.connect(c, &Connect::io(5, 15), cntlid);
    assert!(cqe.status.is_success());
    assert_eq!(cqe.dw0 & 0xFFFF, u32::from(cntlid));
    assert_eq!(r.sub.conn_controller(c), Some(cntlid));
    assert!(r.events.iter().any(|e| matches!(e, Event::QueueConnected { qid: 5, .. })));
}
