//! Cross-Controller Reset: the command, its completion DW0, the CCR log page, the CCR Completed AEN and the Get
//! Log Page that reads it (nvme_proto::notes::vectors §3.3, nvme_proto::notes::ccr_cqt §3–§5).

use nvme_proto::cmd::{
    AEI_CCR_COMPLETED, AdminOpcode, AsyncEvent, AsyncEventType, CCR_LOG_MAX_ENTRIES, CcrLogEntry, CcrLogPage,
    CcrResult, Ccrs, CmdError, CrossControllerReset, GetLogPage, LogId, LostHostCommunicationEntry,
    LostHostCommunicationLogPage, SglDescriptor, Sqe,
};
use proptest::prelude::*;

/// The SQE inside the CCR CapsuleCmd of nvme_proto::notes::vectors §3.3 (PDU bytes 8..72).
const CCR_SQE: [u8; 64] = [
    0x38, 0x40, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, //
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, //
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x5a, 0x02, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, //
    0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
];

#[test]
fn ccr_command_vector() {
    let ccr = CrossControllerReset { icid: 2, ciu: 7, cirn: 0x1122_3344_5566_7788 };
    let sqe = ccr.to_sqe(0x21);
    assert_eq!(sqe.to_bytes(), CCR_SQE);
    assert_eq!(sqe.cdw10, 0x0007_0002);
    assert_eq!(sqe.cdw12, 0x5566_7788);
    assert_eq!(sqe.cdw13, 0x1122_3344);
    assert_eq!(sqe.dptr, SglDescriptor::NO_DATA);
    assert_eq!(CrossControllerReset::from_sqe(&Sqe::from_bytes(&CCR_SQE)), Ok(ccr));
}

#[test]
fn ccr_from_other_opcode_is_an_error() {
    let sqe = Sqe::new(AdminOpcode::KEEP_ALIVE.0, 1);
    assert_eq!(CrossControllerReset::from_sqe(&sqe), Err(CmdError::WrongOpcode { expected: 0x38, found: 0x18 }));
}

#[test]
fn ccr_result_bits() {
    assert_eq!(CcrResult::from_dw0(0), CcrResult { irs: false, v: false, clri: false });
    assert_eq!(CcrResult::from_dw0(1), CcrResult { irs: true, v: false, clri: false });
    assert_eq!(CcrResult::from_dw0(0b110), CcrResult { irs: false, v: true, clri: true });
    // Reserved bits are ignored.
    assert_eq!(CcrResult::from_dw0(0xFFFF_FFF8), CcrResult::default());
    assert_eq!(CcrResult { irs: true, v: true, clri: true }.to_dw0(), 7);
}

#[test]
fn get_log_page_ccr_vector() {
    let glp = GetLogPage::ccr_log(true, 40);
    assert_eq!(glp.numd, 9);
    let sqe = glp.to_sqe(3);
    assert_eq!(sqe.opcode, 0x02);
    assert_eq!(sqe.cdw10, 0x0009_011E);
    assert_eq!(&sqe.to_bytes()[40..44], &[0x1e, 0x01, 0x09, 0x00]);
    assert_eq!(sqe.nsid, 0xFFFF_FFFF);
    assert_eq!(sqe.dptr, SglDescriptor::transport_data(40));
    assert_eq!(GetLogPage::from_sqe(&sqe), Ok(glp));
    assert!(glp.has_side_effects(), "RAE = 0 clears the CCR event");
    assert_eq!(GetLogPage::ccr_log(false, 4096).cdw10(), 0x03FF_001E);
}

#[test]
fn get_log_page_rounds_bytes_up_to_dwords() {
    assert_eq!(GetLogPage::numd_for(0), 0);
    assert_eq!(GetLogPage::numd_for(1), 0);
    assert_eq!(GetLogPage::numd_for(4), 0);
    assert_eq!(GetLogPage::numd_for(5), 1);
    assert_eq!(GetLogPage::new(LogId::ERROR, 4096).transfer_len(), 4096);
}

#[test]
fn ccr_log_page_vector() {
    let bytes = [0x01, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x00, 0x07, 0x00, 0x01, 0x00, 0x01, 0x01];
    let page = CcrLogPage::new_checked(&bytes).unwrap();
    assert_eq!(page.ne(), 1);
    let entry = CcrLogEntry { icid: 2, ciu: 7, acid: 1, ccrs: Ccrs::SUCCESS, ccrf: 0x01 };
    assert_eq!(page.entries().collect::<Vec<_>>(), vec![entry]);
    assert_eq!(page.get(0), Some(entry));
    assert_eq!(page.get(1), None);
    assert!(entry.validated() && !entry.clri() && entry.retry() == 0);
    let mut out = [0xAAu8; 16];
    assert_eq!(CcrLogPage::emit(&[entry], &mut out), Ok(16));
    assert_eq!(out, bytes);
}

#[test]
fn ccrf_bits() {
    let e = CcrLogEntry { icid: 0, ciu: 0, acid: 0, ccrs: Ccrs::FAILED, ccrf: 0b1110 };
    assert!(!e.validated());
    assert!(e.clri());
    assert_eq!(e.retry(), 3);
}

#[test]
fn ccr_log_ne_larger_than_buffer_is_an_error() {
    // NE = 3 but only one entry present.
    let mut bytes = [0u8; 16];
    bytes[0] = 3;
    assert_eq!(CcrLogPage::new_checked(&bytes), Err(CmdError::BufferTooShort { needed: 32 }));
    // NE above 511 is never valid, whatever the buffer.
    let mut big = vec![0u8; 8 + 512 * 8];
    big[..2].copy_from_slice(&512u16.to_le_bytes());
    assert_eq!(CcrLogPage::new_checked(&big), Err(CmdError::TooManyEntries { count: 512, max: 511 }));
    assert_eq!(CcrLogPage::new_checked(&[0u8; 7]), Err(CmdError::BufferTooShort { needed: 8 }));
}

#[test]
fn ccr_log_trailing_bytes_are_ignored() {
    // A 4096-byte read of a page with no entries.
    let page = CcrLogPage::new_checked(&[0u8; 4096]).unwrap();
    assert_eq!(page.ne(), 0);
    assert_eq!(page.entries().count(), 0);
    assert_eq!(page.as_bytes().len(), 8);
}

#[test]
fn ccr_log_emit_limits() {
    let e = CcrLogEntry { icid: 1, ciu: 1, acid: 1, ccrs: Ccrs::IN_PROGRESS, ccrf: 0 };
    let full = vec![e; CCR_LOG_MAX_ENTRIES];
    let mut buf = vec![0u8; 4096];
    assert_eq!(CcrLogPage::emit(&full, &mut buf), Ok(4096));
    assert_eq!(CcrLogPage::new_checked(&buf).unwrap().entries().count(), 511);
    let over = vec![e; CCR_LOG_MAX_ENTRIES + 1];
    assert_eq!(CcrLogPage::emit(&over, &mut vec![0u8; 8192]), Err(CmdError::TooManyEntries { count: 512, max: 511 }));
    assert_eq!(CcrLogPage::emit(&[e, e], &mut [0u8; 23]), Err(CmdError::BufferTooShort { needed: 24 }));
}

#[test]
fn lost_host_communication_log_round_trip() {
    let entries = [
        LostHostCommunicationEntry { cntlid: 0x1234, lc: 2, ciu: 9 },
        LostHostCommunicationEntry { cntlid: 7, lc: 0, ciu: 1 },
    ];
    let mut buf = [0u8; 24];
    assert_eq!(LostHostCommunicationLogPage::emit(&entries, &mut buf), Ok(24));
    assert_eq!(&buf[8..12], &[0x34, 0x12, 2, 9]);
    let page = LostHostCommunicationLogPage::new_checked(&buf).unwrap();
    assert_eq!(page.entries().collect::<Vec<_>>(), entries.to_vec());
}

#[test]
fn ccr_completed_aen_vector() {
    let aen = AsyncEvent::ccr_completed();
    assert_eq!(aen.to_dw0(), 0x001E_F402);
    assert_eq!(aen.to_dw0().to_le_bytes(), [0x02, 0xf4, 0x1e, 0x00]);
    let parsed = AsyncEvent::from_dw0(0x001E_F402);
    assert_eq!(parsed, aen);
    assert!(parsed.is_ccr_completed());
    assert_eq!(AEI_CCR_COMPLETED, 0xF4);
    // An ANA change notice is not a CCR notice.
    let ana = AsyncEvent { aet: AsyncEventType::NOTICE, aei: 0x03, lid: LogId::ANA };
    assert!(!ana.is_ccr_completed());
    // A non-notice with the same AEI is not either.
    let err = AsyncEvent { aet: AsyncEventType::ERROR, aei: AEI_CCR_COMPLETED, lid: LogId::CROSS_CONTROLLER_RESET };
    assert!(!err.is_ccr_completed());
    // A notice naming the CCR log with another AEI (the 0xF3 reading) is still recognised.
    let other = AsyncEvent { aet: AsyncEventType::NOTICE, aei: 0xF3, lid: LogId::CROSS_CONTROLLER_RESET };
    assert!(other.is_ccr_completed());
    assert!(AsyncEvent::lost_host_communication().is_lost_host_communication());
    assert!(!AsyncEvent::lost_host_communication().is_ccr_completed());
}

fn entry() -> impl Strategy<Value = CcrLogEntry> {
    (any::<u16>(), any::<u8>(), any::<u16>(), any::<u8>(), any::<u8>())
        .prop_map(|(icid, ciu, acid, ccrs, ccrf)| CcrLogEntry { icid, ciu, acid, ccrs: Ccrs(ccrs), ccrf })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn ccr_command_round_trips(icid in any::<u16>(), ciu in any::<u8>(), cirn in any::<u64>(), cid in any::<u16>()) {
        let ccr = CrossControllerReset { icid, ciu, cirn };
        let sqe = ccr.to_sqe(cid);
        prop_assert_eq!(sqe.cid, cid);
        prop_assert_eq!(CrossControllerReset::from_sqe(&Sqe::from_bytes(&sqe.to_bytes())), Ok(ccr));
    }

    #[test]
    fn get_log_page_round_trips(
        lid in any::<u8>(), lsp in 0u8..0x80, rae in any::<bool>(), numd in any::<u32>(), lsi in any::<u16>(),
        lpo in any::<u64>(), csi in any::<u8>(), uuid_index in 0u8..0x80, ot in any::<bool>(), nsid in any::<u32>(),
    ) {
        let glp = GetLogPage { lid: LogId(lid), lsp, rae, numd, lsi, lpo, csi, uuid_index, ot, nsid };
        prop_assert_eq!(GetLogPage::from_sqe(&glp.to_sqe(1)), Ok(glp));
    }

    #[test]
    fn aen_dw0_round_trips(dw0 in any::<u32>()) {
        prop_assert_eq!(AsyncEvent::from_dw0(dw0).to_dw0(), dw0 & 0x00FF_FF07);
    }

    #[test]
    fn ccr_log_round_trips(entries in proptest::collection::vec(entry(), 0..40)) {
        let mut buf = vec![0u8; CcrLogPage::buffer_len(entries.len())];
        prop_assert_eq!(CcrLogPage::emit(&entries, &mut buf), Ok(buf.len()));
        let page = CcrLogPage::new_checked(&buf).unwrap();
        prop_assert_eq!(page.entries().collect::<Vec<_>>(), entries);
    }

    #[test]
    fn ccr_log_arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        match CcrLogPage::new_checked(&bytes) {
            Ok(page) => {
                let n = page.entries().count();
                prop_assert_eq!(n, usize::from(page.ne()));
                prop_assert!(8 + 8 * n <= bytes.len());
            }
            Err(CmdError::BufferTooShort { needed }) => prop_assert!(needed > bytes.len()),
            Err(CmdError::TooManyEntries { count, .. }) => prop_assert!(count > 511),
            Err(e) => prop_assert!(false, "unexpected {:?}", e),
        }
        let _ = LostHostCommunicationLogPage::new_checked(&bytes).map(|p| p.entries().count());
    }
}
