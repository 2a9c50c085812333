//! The target-side CCR module: matching, every status, the log with RMC, the AEN, IRS mode, CIU/CIRN renewal,
//! and the fault switches (nvme_ccr::notes::ccr_cqt §3, §4, §8, §11).

use nvme_ccr::target::{CcrAnswer, HostId, Identity, Target, TargetConfig};
use nvme_proto::cmd::{AsyncEvent, CcrLogPage, CcrResult, Ccrl, Ccrs, CrossControllerReset, Status, StatusCode};

const HOST: HostId = HostId(0xA);
const OTHER_HOST: HostId = HostId(0xB);

fn ccr(id: Identity) -> CrossControllerReset {
    CrossControllerReset { icid: id.cntlid, ciu: id.ciu, cirn: id.cirn }
}

/// A target with ready controllers 1..=n of HOST.
fn target(config: TargetConfig, n: u16) -> (Target, Vec<Identity>) {
    let mut t = Target::new(config);
    let ids = (1..=n)
        .map(|c| {
            t.add_controller(c, HOST, 0x0100 + c as u64).unwrap();
            t.controller_ready(c, 0xC1C1_0000 + c as u64).unwrap()
        })
        .collect();
    (t, ids)
}

fn answer(t: &mut Target) -> CcrAnswer {
    let a = t.poll_answer().expect("an answer");
    assert!(t.poll_answer().is_none(), "exactly one answer");
    a
}

fn log(t: &mut Target, source: u16, rmc: bool) -> Vec<(u16, u8, u16, Ccrs)> {
    let mut buf = [0u8; 4096];
    assert_eq!(t.handle_get_ccr_log(source, rmc, &mut buf).unwrap(), 4096);
    CcrLogPage::new_checked(&buf).unwrap().entries().map(|e| (e.icid, e.ciu, e.acid, e.ccrs)).collect()
}

#[test]
fn ciu_is_never_zero_and_is_renewed_with_cirn_on_every_ready() {
    let mut t = Target::new(TargetConfig::default());
    let id = t.add_controller(1, HOST, 0x00FF_FFFF_FFFF_FFFF).unwrap();
    assert_eq!(id.ciu, 1, "a random byte of 0 becomes 1");
    let mut last = id;
    for r in 0..600u64 {
        let now = t.controller_ready(1, r * 7919).unwrap();
        assert_ne!(now.ciu, 0);
        assert_ne!(now.ciu, last.ciu, "CIU changes every time the controller becomes ready");
        assert_eq!(now.cirn, r * 7919);
        assert_eq!(t.identity(1), Some(now));
        last = now;
    }
    let id = t.add_controller(2, HOST, 0xFF00_0000_0000_0000).unwrap();
    assert_eq!(id.ciu, 0xFF);
    assert_eq!(t.controller_ready(2, 1).unwrap().ciu, 1, "255 wraps to 1, skipping 0");
    assert!(t.add_controller(2, HOST, 0).is_err());
    assert!(t.controller_ready(9, 0).is_err());
}

#[test]
fn accepted_ccr_logs_in_progress_fails_the_impacted_then_succeeds_with_an_aen() {
    let (mut t, ids) = target(TargetConfig::default(), 2);
    t.handle_ccr(2, 77, ccr(ids[0])).unwrap();
    assert_eq!(answer(&mut t), CcrAnswer { source: 2, req: 77, status: Status::SUCCESS, dw0: 0 });
    assert_eq!(t.poll_fail_controller(), Some(1));
    assert_eq!(t.poll_fail_controller(), None);
    assert_eq!(log(&mut t, 2, true), [(1, ids[0].ciu, 2, Ccrs::IN_PROGRESS)], "ACID = the source");
    assert!(t.poll_aen().is_none(), "no success before the teardown completes");
    t.handle_teardown_complete(1).unwrap();
    let aen = t.poll_aen().unwrap();
    assert_eq!((aen.source, aen.event), (2, AsyncEvent::ccr_completed()));
    assert!(aen.event.is_ccr_completed());
    assert_eq!(log(&mut t, 2, false), [(1, ids[0].ciu, 2, Ccrs::SUCCESS)]);
    assert_eq!(t.identity(1), None, "the impacted controller is gone");
}

#[test]
fn mismatches_get_invalid_field_with_dnr() {
    let mut t = Target::new(TargetConfig::default());
    let a = t.add_controller(1, HOST, 0x1111).unwrap();
    let b = t.add_controller(2, HOST, 0x2222).unwrap();
    let other = t.add_controller(3, OTHER_HOST, 0x3333).unwrap();
    let cases = [
        CrossControllerReset { cirn: a.cirn ^ 1, ..ccr(a) },
        CrossControllerReset { ciu: a.ciu.wrapping_add(1), ..ccr(a) },
        CrossControllerReset { icid: 9, ..ccr(a) },
        ccr(other),
        ccr(b),
    ];
    for (i, cmd) in cases.into_iter().enumerate() {
        t.handle_ccr(2, i as u64, cmd).unwrap();
        let ans = answer(&mut t);
        assert_eq!(ans.status, Status::new(StatusCode::INVALID_FIELD).with_dnr(true), "case {i}");
        assert_eq!(ans.status.to_word(), 0x8004);
    }
    assert_eq!(t.poll_fail_controller(), None);
    assert_eq!(t.log_len(2), Some(0));
    assert!(t.handle_ccr(9, 0, ccr(a)).is_err(), "unknown source");
}

#[test]
fn stale_instance_after_ready_is_not_found() {
    let (mut t, ids) = target(TargetConfig::default(), 2);
    t.controller_ready(1, 0xFEED).unwrap();
    t.handle_ccr(2, 1, ccr(ids[0])).unwrap();
    assert_eq!(answer(&mut t).status.code, StatusCode::INVALID_FIELD);
}

#[test]
fn limit_in_progress_and_log_full() {
    let cfg = TargetConfig { ccrl: Ccrl::from_raw(2), log_capacity: 3, ..TargetConfig::default() };
    let (mut t, ids) = target(cfg, 5);
    t.handle_ccr(5, 1, ccr(ids[0])).unwrap();
    assert!(answer(&mut t).status.is_success());
    t.handle_ccr(5, 2, ccr(ids[0])).unwrap();
    assert_eq!(answer(&mut t).status, Status::new(StatusCode::CCR_IN_PROGRESS));
    t.handle_ccr(4, 3, ccr(ids[0])).unwrap();
    assert!(answer(&mut t).status.is_success(), "another source may reset the same controller");
    t.handle_ccr(5, 4, ccr(ids[1])).unwrap();
    assert!(answer(&mut t).status.is_success());
    t.handle_ccr(5, 5, ccr(ids[2])).unwrap();
    let limit = answer(&mut t);
    assert_eq!(limit.status, Status::new(StatusCode::CCR_LIMIT_EXCEEDED));
    assert_eq!(limit.status.to_word() >> 1, 0x141, "Linux form 0x141");
    assert_eq!(t.poll_fail_controller(), Some(1));
    assert_eq!(t.poll_fail_controller(), Some(2));
    assert_eq!(t.poll_fail_controller(), None, "controller 1 is asked to fail once");
    // Both of source 5's CCRs finish: the limit frees, but the log (capacity 3) holds 2 + 1 entries.
    t.handle_teardown_complete(1).unwrap();
    t.handle_teardown_complete(2).unwrap();
    t.handle_ccr(5, 6, ccr(ids[2])).unwrap();
    assert!(answer(&mut t).status.is_success());
    t.handle_ccr(4, 7, ccr(ids[4])).unwrap();
    assert!(answer(&mut t).status.is_success());
    t.handle_ccr(5, 8, ccr(ids[3])).unwrap();
    assert_eq!(answer(&mut t).status, Status::new(StatusCode::CCR_LOG_PAGE_FULL));
    // RMC drains the two completed entries; the in-progress one stays.
    assert_eq!(log(&mut t, 5, true).len(), 3);
    assert_eq!(log(&mut t, 5, false), [(3, ids[2].ciu, 5, Ccrs::IN_PROGRESS)]);
    t.handle_ccr(5, 9, ccr(ids[3])).unwrap();
    assert!(answer(&mut t).status.is_success());
}

#[test]
fn rmc_removes_only_completed_entries_that_were_returned() {
    let (mut t, ids) = target(TargetConfig::default(), 4);
    for (req, i) in [(1, 0), (2, 1), (3, 2)] {
        t.handle_ccr(4, req, ccr(ids[i])).unwrap();
    }
    t.handle_teardown_complete(1).unwrap();
    t.handle_teardown_complete(3).unwrap();
    // Without RMC nothing goes.
    assert_eq!(log(&mut t, 4, false).len(), 3);
    // A short read (header + one entry) with RMC removes only the first entry.
    let mut short = [0xAAu8; 16];
    assert_eq!(t.handle_get_ccr_log(4, true, &mut short).unwrap(), 16);
    assert_eq!(u16::from_le_bytes([short[0], short[1]]), 3);
    let got = log(&mut t, 4, false);
    assert_eq!(got.iter().map(|e| (e.0, e.3)).collect::<Vec<_>>(), [(2, Ccrs::IN_PROGRESS), (3, Ccrs::SUCCESS)]);
    assert_eq!(log(&mut t, 4, true).len(), 2);
    assert_eq!(log(&mut t, 4, false), [(2, ids[1].ciu, 4, Ccrs::IN_PROGRESS)]);
    // Bytes past the page are zeroed.
    let mut big = [0xAAu8; 64];
    t.handle_get_ccr_log(4, false, &mut big).unwrap();
    assert!(big[16..].iter().all(|&b| b == 0));
}

#[test]
fn ready_removes_completed_entries_and_aen_is_masked_until_the_log_is_read() {
    let (mut t, ids) = target(TargetConfig::default(), 4);
    t.handle_ccr(4, 1, ccr(ids[0])).unwrap();
    t.handle_ccr(4, 2, ccr(ids[1])).unwrap();
    t.handle_ccr(4, 3, ccr(ids[2])).unwrap();
    t.handle_teardown_complete(1).unwrap();
    t.handle_teardown_complete(2).unwrap();
    assert_eq!(t.poll_aen().map(|a| a.source), Some(4));
    assert!(t.poll_aen().is_none(), "masked until the host reads the log");
    log(&mut t, 4, false);
    t.handle_teardown_complete(3).unwrap();
    assert_eq!(t.poll_aen().map(|a| a.source), Some(4), "unmasked by the read");
    t.controller_ready(4, 5).unwrap();
    assert_eq!(t.log_len(4), Some(0), "completed entries are removed when the source becomes ready again");
}

#[test]
fn irs_mode_completes_the_ccr_after_teardown_with_irs() {
    let (mut t, ids) = target(TargetConfig { irs: true, ..TargetConfig::default() }, 3);
    t.handle_ccr(2, 10, ccr(ids[0])).unwrap();
    assert!(t.poll_answer().is_none(), "IRS: no answer before the reset is done");
    assert_eq!(t.poll_fail_controller(), Some(1));
    t.handle_ccr(2, 11, ccr(ids[0])).unwrap();
    assert_eq!(answer(&mut t).status.code, StatusCode::CCR_IN_PROGRESS);
    t.handle_teardown_complete(1).unwrap();
    let a = answer(&mut t);
    assert_eq!((a.source, a.req, a.status), (2, 10, Status::SUCCESS));
    let r = CcrResult::from_dw0(a.dw0);
    assert!(r.irs && r.v);
    assert_eq!(t.log_len(2), Some(0));
    assert!(t.poll_aen().is_none());
    // The source disappearing drops its pending IRS CCRs.
    t.handle_ccr(2, 12, ccr(ids[2])).unwrap();
    t.handle_teardown_complete(2).unwrap();
    t.handle_teardown_complete(3).unwrap();
    assert!(t.poll_answer().is_none());
}

#[test]
fn ccr_fail_records_failed_at_once_and_never_fails_the_impacted() {
    let (mut t, ids) = target(TargetConfig { ccr_fail: true, ..TargetConfig::default() }, 2);
    t.handle_ccr(2, 1, ccr(ids[0])).unwrap();
    let a = answer(&mut t);
    assert_eq!((a.status, CcrResult::from_dw0(a.dw0).irs), (Status::SUCCESS, false));
    assert_eq!(t.poll_fail_controller(), None);
    assert_eq!(t.poll_aen().map(|a| a.source), Some(2));
    assert_eq!(log(&mut t, 2, true), [(1, ids[0].ciu, 2, Ccrs::FAILED)]);
    assert_eq!(t.log_len(2), Some(0));
}

#[test]
fn ccr_unsupported_answers_invalid_opcode_with_dnr() {
    let (mut t, ids) = target(TargetConfig::default(), 2);
    t.config_mut().ccr_unsupported = true;
    t.handle_ccr(2, 1, ccr(ids[0])).unwrap();
    let a = answer(&mut t);
    assert_eq!(a.status, Status::new(StatusCode::INVALID_OPCODE).with_dnr(true));
    assert_eq!(a.status.to_word(), 0x8002);
    assert_eq!(t.poll_fail_controller(), None);
    assert_eq!(t.log_len(2), Some(0));
}

#[test]
fn controller_failing_on_its_own_is_not_asked_to_fail_again() {
    let (mut t, ids) = target(TargetConfig::default(), 2);
    t.handle_controller_fatal(1).unwrap();
    t.handle_ccr(2, 1, ccr(ids[0])).unwrap();
    assert!(answer(&mut t).status.is_success());
    assert_eq!(t.poll_fail_controller(), None);
    t.handle_teardown_complete(1).unwrap();
    assert_eq!(log(&mut t, 2, true)[0].3, Ccrs::SUCCESS);
}
