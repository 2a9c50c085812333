//! Admin and I/O dispatch: the answers of `nvme_proto::notes::commands` §6.7 to what is not served, the I/O
//! checks, media errors, and every path of Cross-Controller Reset (through `nvme_ccr::target`) with its faults.

mod common;

use std::time::Duration;

use common::{Got, HOSTID, NQN, Rig, connect_data};
use nvme_fabric::conn::ConnId;
use nvme_fabric::controller::{AER_LIMIT, Event, MediaError};
use nvme_proto::cmd::{
    AEC_CCRCN, Abort, AsyncEvent, AsyncEventConfig, AsyncEventRequest, Cc, CcrLogPage, CcrResult, Ccrs, Cns, Connect,
    CrossControllerReset, Csts, Disconnect, Feature, FeatureId, Flush, GetFeatures, GetLogPage, Identify,
    IdentifyController, LogId, PropertyGet, PropertyOffset, PropertySet, ReadWrite, SetFeatures, SglDescriptor, Sqe,
    SqeFlags, Status, StatusCode,
};

fn dnr(code: StatusCode) -> Status {
    Status::new(code).with_dnr(true)
}

fn with_data(mut sqe: Sqe, len: u32) -> Sqe {
    sqe.dptr = SglDescriptor::transport_data(len);
    sqe
}

/// The status `sqe` is answered with on `c` (any data before it is dropped).
fn status(r: &mut Rig, c: ConnId, sqe: &Sqe, data: &[u8]) -> Status {
    r.command(c, sqe, data);
    let got = r.take(c);
    match got.last() {
        Some(Got::Resp(cqe)) if cqe.cid == sqe.cid => cqe.status,
        _ => panic!("no answer to {sqe:?}: {got:?}"),
    }
}

/// The data and status `sqe` is answered with.
fn data_of(r: &mut Rig, c: ConnId, sqe: &Sqe) -> (Vec<u8>, Status) {
    r.command(c, sqe, &[]);
    let got = r.take(c);
    let data = got.iter().filter_map(|g| if let Got::C2H { data, .. } = g { Some(data.clone()) } else { None });
    let data: Vec<u8> = data.flatten().collect();
    match got.last() {
        Some(Got::Resp(cqe)) => (data, cqe.status),
        _ => panic!("{got:?}"),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Admin answers

#[test]
fn unknown_admin_opcodes_disconnect_and_authentication_are_invalid_opcode() {
    let mut r = Rig::small();
    let (a, _) = r.admin(0);
    for op in [0x01u8, 0x7E, 0xC0, 0xFF] {
        assert_eq!(status(&mut r, a, &Sqe::new(op, 1), &[]), dnr(StatusCode::INVALID_OPCODE), "opcode {op:#x}");
    }
    assert_eq!(status(&mut r, a, &Disconnect::default().to_sqe(2), &[]), dnr(StatusCode::INVALID_OPCODE));
    let mut auth = Sqe::new(0x7F, 3);
    auth.nsid = 0x05; // FCTYPE Authentication Send
    assert_eq!(status(&mut r, a, &auth, &[]), dnr(StatusCode::INVALID_OPCODE));
    // A well-formed DH-HMAC-CHAP Send too: this host has no key, so nothing is offered (tests/auth.rs has the rest).
    let send = nvme_proto::cmd::Authentication::dhchap_send(8).to_sqe(4);
    assert_eq!(status(&mut r, a, &send, &[0; 8]), dnr(StatusCode::INVALID_OPCODE));
}

#[test]
fn identify_answers_served_cns_values_and_refuses_the_rest() {
    let mut r = Rig::small();
    let (a, cntlid) = r.admin(0);
    let (id, st) = data_of(&mut r, a, &with_data(Identify::controller().to_sqe(1), 4096));
    assert!(st.is_success());
    let ic = IdentifyController::parse(&id).unwrap();
    assert_eq!((ic.cntlid, ic.mdts, ic.maxcmd, ic.kas, ic.icdoff), (cntlid, 8, 128, 10, 0));
    assert_eq!(ic.ioccsz, (64 + 8192) / 16);
    // CNS 04h (NVM set list), 13h (controller list): not served.
    for cns in [Cns::NVM_SET_LIST, Cns::CONTROLLER_LIST, Cns(0x55)] {
        let st = status(&mut r, a, &with_data(Identify::new(cns, 0).to_sqe(2), 4096), &[]);
        assert_eq!(st, dnr(StatusCode::INVALID_FIELD), "{cns:?}");
    }
    // NSID FFFFFFFFh where one namespace is needed.
    let st = status(&mut r, a, &with_data(Identify::namespace(0xFFFF_FFFF).to_sqe(3), 4096), &[]);
    assert_eq!(st, dnr(StatusCode::INVALID_NAMESPACE_OR_FORMAT));
    // An inactive NSID: success, 4096 zero bytes.
    let (d, st) = data_of(&mut r, a, &with_data(Identify::namespace(2).to_sqe(4), 4096));
    assert!(st.is_success() && d.len() == 4096 && d.iter().all(|&b| b == 0));
    // A transfer shorter than 4096 bytes.
    let st = status(&mut r, a, &with_data(Identify::controller().to_sqe(5), 1024), &[]);
    assert_eq!(st, dnr(StatusCode::DATA_SGL_LENGTH_INVALID));
}

#[test]
fn unsupported_log_pages_and_features_are_invalid_field() {
    let mut r = Rig::small();
    let (a, _) = r.admin(0);
    for lid in [LogId::ERROR, LogId::COMMANDS_EFFECTS, LogId::ANA, LogId(0xC0)] {
        let st = status(&mut r, a, &with_data(GetLogPage::new(lid, 512).to_sqe(1), 512), &[]);
        assert_eq!(st, dnr(StatusCode::INVALID_FIELD), "{lid:?}");
    }
    // SMART is served (zeros), as the Linux host reads it while connecting.
    let (d, st) = data_of(&mut r, a, &with_data(GetLogPage::new(LogId::SMART, 512).to_sqe(2), 512));
    assert!(st.is_success() && d == vec![0; 512]);
    // A log transfer whose SGL length disagrees with NUMD.
    let st = status(&mut r, a, &with_data(GetLogPage::new(LogId::SMART, 512).to_sqe(3), 4096), &[]);
    assert_eq!(st, dnr(StatusCode::DATA_SGL_LENGTH_INVALID));
    let power = Feature::Other { fid: FeatureId(0x02), dwords: [0; 5] };
    assert_eq!(status(&mut r, a, &SetFeatures::new(power).to_sqe(4), &[]), dnr(StatusCode::INVALID_FIELD));
    assert_eq!(status(&mut r, a, &GetFeatures::new(FeatureId(0x02)).to_sqe(5), &[]), dnr(StatusCode::INVALID_FIELD));
    let mut prop = PropertyGet::new(PropertyOffset(0x30)).to_sqe(6);
    prop.cdw10 = 0;
    assert_eq!(status(&mut r, a, &prop, &[]), dnr(StatusCode::INVALID_FIELD));
}

#[test]
fn psdt_other_than_sgl_or_fuse_set_is_invalid_field_on_both_queues() {
    let mut r = Rig::small();
    let (a, cntlid) = r.admin(0);
    let io = r.io(cntlid, 1);
    for flags in [0x00u8, 0x80, 0x41, 0x42] {
        let mut k = nvme_proto::cmd::KeepAlive.to_sqe(1);
        k.flags = SqeFlags(flags);
        assert_eq!(status(&mut r, a, &k, &[]), dnr(StatusCode::INVALID_FIELD), "admin, flags {flags:#x}");
        let mut rd = ReadWrite::new(1, 0, 1, 512).unwrap().to_read_sqe(1);
        rd.flags = SqeFlags(flags);
        assert_eq!(status(&mut r, io, &rd, &[]), dnr(StatusCode::INVALID_FIELD), "I/O, flags {flags:#x}");
    }
}

#[test]
fn admin_commands_carrying_data_are_invalid_field() {
    let mut r = Rig::small();
    let (a, _) = r.admin(0);
    let mut k = nvme_proto::cmd::KeepAlive.to_sqe(1);
    k.dptr = SglDescriptor::in_capsule(0, 64);
    assert_eq!(status(&mut r, a, &k, &[0; 64]), dnr(StatusCode::INVALID_FIELD));
}

#[test]
fn properties_cc_enable_sets_ready_and_shutdown_reports_complete() {
    let mut r = Rig::small();
    let (a, cntlid) = r.admin(0);
    let csts = |r: &mut Rig, cid| {
        r.command(a, &PropertyGet::new(PropertyOffset::CSTS).to_sqe(cid), &[]);
        Csts::from_u32(r.resp(a).dw0)
    };
    assert!(!csts(&mut r, 1).rdy);
    assert!(status(&mut r, a, &PropertySet::cc(Cc::ENABLE).to_sqe(2), &[]).is_success());
    assert!(csts(&mut r, 3).rdy);
    assert!(r.events.iter().any(|e| matches!(e, Event::ControllerReady { cntlid: c, .. } if *c == cntlid)));
    assert!(status(&mut r, a, &PropertySet::cc(Cc { shn: 1, ..Cc::ENABLE }).to_sqe(4), &[]).is_success());
    assert_eq!(csts(&mut r, 5).shst, 2);
    // Abort: "not aborted" (DW0 bit 0), as Linux nvmet.
    r.command(a, &Abort { sqid: 1, cid: 9 }.to_sqe(6), &[]);
    let cqe = r.resp(a);
    assert!(cqe.status.is_success() && cqe.dw0 & 1 == 1);
}

#[test]
fn at_most_aerl_plus_one_aers_are_kept_and_the_next_is_aer_limit_exceeded() {
    let mut r = Rig::small();
    let (a, _) = r.admin(0);
    for cid in 0..AER_LIMIT as u16 {
        r.command(a, &AsyncEventRequest.to_sqe(cid), &[]);
    }
    assert!(r.take(a).is_empty(), "{AER_LIMIT} outstanding");
    let st = status(&mut r, a, &AsyncEventRequest.to_sqe(50), &[]);
    assert_eq!(st, Status::new(StatusCode::AER_LIMIT_EXCEEDED));
}

// ---------------------------------------------------------------------------------------------------------------
// I/O answers

#[test]
fn io_checks_answer_each_bad_command_with_its_status() {
    let mut cfg = Rig::small_cfg();
    cfg.mdts = 1; // 8 KiB
    let mut r = Rig::new(cfg);
    let (_, cntlid) = r.admin(0);
    let io = r.io(cntlid, 1);
    let rw = |slba, blocks| ReadWrite::new(1, slba, blocks, 512).unwrap();
    let cases: Vec<(&str, Sqe, Vec<u8>, Status)> = vec![
        ("LBA range", rw(2047, 2).to_read_sqe(1), vec![], dnr(StatusCode::LBA_OUT_OF_RANGE)),
        ("LBA overflow", rw(u64::MAX, 2).to_read_sqe(1), vec![], dnr(StatusCode::LBA_OUT_OF_RANGE)),
        ("beyond MDTS", rw(0, 17).to_read_sqe(1), vec![], dnr(StatusCode::INVALID_FIELD)),
        ("SGL length", with_data(rw(0, 2).to_read_sqe(1), 512), vec![], dnr(StatusCode::DATA_SGL_LENGTH_INVALID)),
        (
            "wrong NSID",
            ReadWrite { nsid: 2, ..rw(0, 1) }.to_read_sqe(1),
            vec![],
            dnr(StatusCode::INVALID_NAMESPACE_OR_FORMAT),
        ),
        (
            "NSID FFFFFFFFh",
            ReadWrite { nsid: u32::MAX, ..rw(0, 1) }.to_read_sqe(1),
            vec![],
            dnr(StatusCode::INVALID_NAMESPACE_OR_FORMAT),
        ),
        ("unknown opcode", Sqe::new(0x7D, 1), vec![], dnr(StatusCode::INVALID_OPCODE)),
        ("Write Zeroes", Sqe::new(0x08, 1), vec![], dnr(StatusCode::INVALID_OPCODE)),
        ("Flush NSID 2", Flush { nsid: 2 }.to_sqe(1), vec![], dnr(StatusCode::INVALID_NAMESPACE_OR_FORMAT)),
    ];
    for (what, sqe, data, want) in cases {
        assert_eq!(status(&mut r, io, &sqe, &data), want, "{what}");
    }
    // A read with in-capsule data, or with an in-capsule descriptor.
    let mut rd = rw(0, 1).to_read_sqe(2);
    rd.dptr = SglDescriptor::in_capsule(0, 512);
    assert_eq!(status(&mut r, io, &rd, &[0; 512]), dnr(StatusCode::INVALID_FIELD), "in-capsule read data");
    assert_eq!(status(&mut r, io, &rd, &[]), dnr(StatusCode::INVALID_FIELD), "in-capsule read descriptor");
    // In-capsule writes: at a non-zero offset, and data shorter than the command says.
    let mut w = rw(0, 1).to_write_sqe(3);
    w.dptr = SglDescriptor::in_capsule(16, 512);
    assert_eq!(status(&mut r, io, &w, &[0; 512]), dnr(StatusCode::SGL_OFFSET_INVALID));
    w.dptr = SglDescriptor::in_capsule(0, 512);
    assert_eq!(status(&mut r, io, &w, &[0; 256]), dnr(StatusCode::DATA_SGL_LENGTH_INVALID));
    // A keyed SGL descriptor (type 4): not a transport data block.
    let mut w = rw(0, 1).to_write_sqe(4);
    w.dptr.length = 512;
    w.dptr.identifier = nvme_proto::cmd::SglIdentifier(0x40);
    assert_eq!(status(&mut r, io, &w, &[]), dnr(StatusCode::SGL_DESCRIPTOR_TYPE_INVALID));
    // Flush of every namespace is served.
    assert!(status(&mut r, io, &Flush { nsid: 0xFFFF_FFFF }.to_sqe(5), &[]).is_success());
    assert!(r.closed(io).is_none());
}

#[test]
fn media_errors_are_answered_with_their_status() {
    let mut r = Rig::small();
    r.hold_media = true;
    let (_, cntlid) = r.admin(0);
    let io = r.io(cntlid, 1);
    let rw = ReadWrite::new(1, 0, 1, 512).unwrap();
    let mut w = rw.to_write_sqe(1);
    w.dptr = SglDescriptor::in_capsule(0, 512);
    r.command(io, &w, &[1; 512]);
    r.command(io, &rw.to_read_sqe(2), &[]);
    r.command(io, &Flush { nsid: 1 }.to_sqe(3), &[]);
    let held = std::mem::take(&mut r.held);
    let errors = [MediaError::WriteFault, MediaError::ReadError, MediaError::Internal];
    for (req, e) in held.iter().zip(errors) {
        r.sub.handle_media_done(r.now, req.id, Err(e));
    }
    r.pump();
    let got: Vec<(u16, Status)> =
        r.take(io).iter().filter_map(|g| if let Got::Resp(c) = g { Some((c.cid, c.status)) } else { None }).collect();
    assert_eq!(
        got,
        [
            (1, Status::new(StatusCode::WRITE_FAULT)),
            (2, Status::new(StatusCode::UNRECOVERED_READ_ERROR)),
            (3, Status::new(StatusCode::INTERNAL_ERROR)),
        ]
    );
    assert_eq!(r.media[0], 0);
}

// ---------------------------------------------------------------------------------------------------------------
// Cross-Controller Reset

/// The identity (CNTLID, CIU, CIRN) Identify reports on `admin`.
fn identity(r: &mut Rig, admin: ConnId) -> (u16, u8, u64) {
    let (d, st) = data_of(r, admin, &with_data(Identify::controller().to_sqe(200), 4096));
    assert!(st.is_success());
    let id = IdentifyController::parse(&d).unwrap();
    (id.cntlid, id.ciu, id.cirn)
}

fn ccr(r: &mut Rig, source: ConnId, (icid, ciu, cirn): (u16, u8, u64), cid: u16) -> nvme_proto::cmd::Cqe {
    r.command(source, &CrossControllerReset { icid, ciu, cirn }.to_sqe(cid), &[]);
    r.resp(source)
}

/// Enables the CCR notice on `admin` and leaves one AER outstanding (CID 100).
fn arm_notice(r: &mut Rig, admin: ConnId) {
    let aec = SetFeatures::new(Feature::AsyncEventConfig(AsyncEventConfig(AEC_CCRCN)));
    assert!(status(r, admin, &aec.to_sqe(101), &[]).is_success());
    r.command(admin, &AsyncEventRequest.to_sqe(100), &[]);
}

fn ccr_log(r: &mut Rig, admin: ConnId, rmc: bool) -> Vec<nvme_proto::cmd::CcrLogEntry> {
    let (d, st) = data_of(r, admin, &with_data(GetLogPage::ccr_log(rmc, 4096).to_sqe(102), 4096));
    assert!(st.is_success());
    CcrLogPage::new_checked(&d).unwrap().entries().collect()
}

#[test]
fn a_ccr_naming_no_controller_its_source_or_another_hosts_controller_is_not_found() {
    let mut r = Rig::small();
    let (a1, _) = r.admin(0);
    let (a2, _) = r.admin(0);
    let id1 = identity(&mut r, a1);
    let id2 = identity(&mut r, a2);
    let not_found = dnr(nvme_ccr::target::CCR_NOT_FOUND);
    assert_eq!(ccr(&mut r, a2, (id1.0, id1.1, id1.2 ^ 1), 1).status, not_found, "wrong CIRN");
    assert_eq!(ccr(&mut r, a2, (id1.0, id1.1.wrapping_add(1), id1.2), 2).status, not_found, "wrong CIU");
    assert_eq!(ccr(&mut r, a2, (9, id1.1, id1.2), 3).status, not_found, "no such CNTLID");
    assert_eq!(ccr(&mut r, a2, id2, 4).status, not_found, "its own source");
    // A controller of another host.
    let c = r.accept();
    r.ic(c, true, true);
    let data = connect_data(0xFFFF, NQN, "nqn.2014-08.org.nvmexpress:uuid:other-host", HOSTID);
    assert!(r.connect_raw(c, &Connect::admin(0), &data).status.is_success());
    let id3 = identity(&mut r, c);
    assert_eq!(ccr(&mut r, a2, id3, 5).status, not_found, "another host's controller");
    assert_eq!(r.sub.controllers().filter(|&(_, live)| live).count(), 3, "nobody was reset");
}

#[test]
fn an_accepted_ccr_fails_the_impacted_controller_and_reports_success_with_a_notice_after_teardown() {
    let mut cfg = Rig::small_cfg();
    cfg.teardown_time = Duration::from_millis(500);
    let mut r = Rig::new(cfg);
    let (a1, c1) = r.admin(0);
    let (a2, c2) = r.admin(0);
    let id1 = identity(&mut r, a1);
    arm_notice(&mut r, a2);
    let cqe = ccr(&mut r, a2, id1, 1);
    assert!(cqe.status.is_success());
    assert!(!CcrResult::from_dw0(cqe.dw0).irs);
    assert!(r.closed(a1).is_some(), "the impacted controller failed at once");
    let e = ccr_log(&mut r, a2, false);
    assert_eq!((e[0].icid, e[0].ciu, e[0].acid, e[0].ccrs), (c1, id1.1, c2, Ccrs::IN_PROGRESS));
    assert!(r.take(a2).is_empty(), "no notice before the teardown");
    r.advance(Duration::from_millis(500));
    let aen = r.resp(a2);
    assert_eq!(aen.cid, 100);
    assert!(AsyncEvent::from_dw0(aen.dw0).is_ccr_completed());
    let e = ccr_log(&mut r, a2, true);
    assert_eq!((e.len(), e[0].ccrs), (1, Ccrs::SUCCESS));
    assert!(ccr_log(&mut r, a2, false).is_empty(), "RMC removed the completed entry");
}

#[test]
fn a_second_ccr_for_the_same_controller_in_progress_is_0x3f() {
    let mut cfg = Rig::small_cfg();
    cfg.teardown_time = Duration::from_secs(1);
    let mut r = Rig::new(cfg);
    let (a1, _) = r.admin(0);
    let (a2, _) = r.admin(0);
    let id1 = identity(&mut r, a1);
    assert!(ccr(&mut r, a2, id1, 1).status.is_success());
    assert_eq!(ccr(&mut r, a2, id1, 2).status, Status::new(StatusCode::CCR_IN_PROGRESS));
}

#[test]
fn ccrs_in_progress_through_one_source_are_limited_by_ccrl_with_0x41() {
    let mut cfg = Rig::small_cfg();
    cfg.ccrl = nvme_proto::cmd::Ccrl::from_raw(1);
    cfg.teardown_time = Duration::from_secs(1);
    let mut r = Rig::new(cfg);
    let (a1, _) = r.admin(0);
    let (a3, _) = r.admin(0);
    let (a2, _) = r.admin(0);
    let (id1, id3) = (identity(&mut r, a1), identity(&mut r, a3));
    assert!(ccr(&mut r, a2, id1, 1).status.is_success());
    assert_eq!(ccr(&mut r, a2, id3, 2).status, Status::new(StatusCode::CCR_LIMIT_EXCEEDED));
    assert!(r.closed(a3).is_none(), "the refused CCR reset nothing");
    // Once the first completes, the limit has room again.
    r.advance(Duration::from_secs(1));
    assert!(ccr(&mut r, a2, id3, 3).status.is_success());
}

#[test]
fn a_full_ccr_log_is_0x40() {
    let mut r = Rig::small();
    r.sub.set_fail_ccr(true);
    let (a1, _) = r.admin(0);
    let (a2, _) = r.admin(0);
    let id1 = identity(&mut r, a1);
    let max = nvme_proto::cmd::CCR_LOG_MAX_ENTRIES as u16;
    for cid in 0..max {
        assert!(ccr(&mut r, a2, id1, cid).status.is_success(), "CCR {cid}");
    }
    assert_eq!(ccr(&mut r, a2, id1, max).status, Status::new(StatusCode::CCR_LOG_PAGE_FULL));
}

#[test]
fn in_irs_mode_the_ccr_completes_only_after_teardown_with_irs_set_and_no_log_entry() {
    let mut cfg = Rig::small_cfg();
    cfg.irs = true;
    cfg.teardown_time = Duration::from_millis(300);
    let mut r = Rig::new(cfg);
    let (a1, _) = r.admin(0);
    let (a2, _) = r.admin(0);
    arm_notice(&mut r, a2);
    let id1 = identity(&mut r, a1);
    r.command(a2, &CrossControllerReset { icid: id1.0, ciu: id1.1, cirn: id1.2 }.to_sqe(1), &[]);
    assert!(r.take(a2).is_empty(), "no answer until the teardown");
    r.advance(Duration::from_millis(300));
    let cqe = r.resp(a2);
    assert_eq!(cqe.cid, 1, "the CCR's answer, not a notice");
    assert!(cqe.status.is_success());
    assert!(CcrResult::from_dw0(cqe.dw0).irs);
    assert!(ccr_log(&mut r, a2, false).is_empty());
}

#[test]
fn fail_ccr_accepts_and_logs_failed_without_resetting_the_controller() {
    let mut cfg = Rig::small_cfg();
    cfg.fail_ccr = true;
    let mut r = Rig::new(cfg);
    let (a1, _) = r.admin(0);
    let (a2, _) = r.admin(0);
    arm_notice(&mut r, a2);
    let id1 = identity(&mut r, a1);
    r.command(a2, &CrossControllerReset { icid: id1.0, ciu: id1.1, cirn: id1.2 }.to_sqe(1), &[]);
    let got = r.take(a2);
    let cids: Vec<u16> = got.iter().filter_map(|g| if let Got::Resp(c) = g { Some(c.cid) } else { None }).collect();
    assert!(cids.contains(&1) && cids.contains(&100), "accepted, and the notice: {got:?}");
    assert_eq!(ccr_log(&mut r, a2, false)[0].ccrs, Ccrs::FAILED);
    assert!(r.closed(a1).is_none(), "the impacted controller lives");
    // The switch flips at run time.
    r.sub.set_fail_ccr(false);
    assert_eq!(r.sub.ccr_switches(), (false, false));
}

#[test]
fn no_ccr_answers_invalid_opcode_and_can_be_switched_at_run_time() {
    let mut r = Rig::small();
    let (a1, _) = r.admin(0);
    let (a2, _) = r.admin(0);
    let id1 = identity(&mut r, a1);
    r.sub.set_no_ccr(true);
    assert_eq!(ccr(&mut r, a2, id1, 1).status, dnr(StatusCode::INVALID_OPCODE));
    assert!(r.closed(a1).is_none());
    r.sub.set_no_ccr(false);
    assert!(ccr(&mut r, a2, id1, 2).status.is_success());
}

#[test]
fn the_ccr_notice_goes_only_to_sources_that_enabled_it() {
    let mut r = Rig::small();
    let (a1, _) = r.admin(0);
    let (a2, _) = r.admin(0);
    let id1 = identity(&mut r, a1);
    // An AER outstanding, but the CCR notice not enabled.
    r.command(a2, &AsyncEventRequest.to_sqe(100), &[]);
    assert!(ccr(&mut r, a2, id1, 1).status.is_success());
    r.advance(Duration::from_millis(10));
    assert!(r.take(a2).is_empty(), "no notice: AEC bit 20 is off");
    assert!(!r.events.iter().any(|e| matches!(e, Event::CcrNotice { .. })));
    assert_eq!(ccr_log(&mut r, a2, false)[0].ccrs, Ccrs::SUCCESS, "the log says it anyway");
}

#[test]
fn a_ccr_of_a_controller_with_a_stuck_command_succeeds_only_once_the_command_landed() {
    use nvme_fabric::controller::{Fault, FaultAction, FaultTarget};
    let mut r = Rig::small();
    let (a1, c1) = r.admin(0);
    let io = r.io(c1, 1);
    let (a2, _) = r.admin(0);
    let id1 = identity(&mut r, a1);
    let fault = Fault { opcode: 1, delay: Duration::from_millis(800), action: FaultAction::Fatal };
    r.sub.arm_fault(FaultTarget::Controller(c1), fault).unwrap();
    let mut w = ReadWrite::new(1, 0, 1, 512).unwrap().to_write_sqe(1);
    w.dptr = SglDescriptor::in_capsule(0, 512);
    r.command(io, &w, &[6; 512]);
    assert!(ccr(&mut r, a2, id1, 1).status.is_success());
    r.advance(Duration::from_millis(799));
    assert_eq!(ccr_log(&mut r, a2, false)[0].ccrs, Ccrs::IN_PROGRESS);
    r.advance(Duration::from_millis(1));
    assert_eq!(r.media[0], 6);
    assert_eq!(ccr_log(&mut r, a2, false)[0].ccrs, Ccrs::SUCCESS);
}
