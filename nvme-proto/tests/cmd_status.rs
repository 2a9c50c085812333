//! Status word, CQE and SQE: byte vectors (nvme_proto::notes::vectors §3.1, §3.3) and round trips.

use nvme_proto::cmd::{AdminOpcode, CommandContext, Cqe, FabricsType, Sct, Sqe, SqeFlags, Status, StatusCode};
use proptest::prelude::*;

#[test]
fn status_word_vectors_decode() {
    // notes::vectors §3.1: (word, sct, sc, crd, more, dnr)
    let cases: [(u16, u8, u8, u8, bool, bool); 7] = [
        (0x9502, 2, 0x81, 1, false, true),
        (0x0282, 1, 0x41, 0, false, false),
        (0x0044, 0, 0x22, 0, false, false),
        (0x06E0, 3, 0x70, 0, false, false),
        (0xC002, 0, 0x01, 0, true, true),
        (0x8004, 0, 0x02, 0, false, true),
        (0x0000, 0, 0x00, 0, false, false),
    ];
    for (word, sct, sc, crd, more, dnr) in cases {
        let s = Status::from_word(word);
        assert_eq!(s.code, StatusCode::new(Sct(sct), sc), "word {word:#06x}");
        assert_eq!((s.crd, s.more, s.dnr), (crd, more, dnr), "word {word:#06x}");
        assert_eq!(s.to_word(), word, "word {word:#06x}");
    }
}

#[test]
fn status_word_vectors_named() {
    assert_eq!(Status::new(StatusCode::UNRECOVERED_READ_ERROR).with_crd(1).with_dnr(true).to_word(), 0x9502);
    assert_eq!(Status::new(StatusCode::CCR_LIMIT_EXCEEDED).to_word(), 0x0282);
    assert_eq!(Status::new(StatusCode::TRANSIENT_TRANSPORT_ERROR).to_word(), 0x0044);
    assert_eq!(Status::new(StatusCode::HOST_PATHING_ERROR).to_word(), 0x06E0);
    assert_eq!(Status::new(StatusCode::INVALID_OPCODE).with_more(true).with_dnr(true).to_word(), 0xC002);
    assert_eq!(Status::new(StatusCode::INVALID_FIELD).with_dnr(true).to_word(), 0x8004);
    assert_eq!(Status::SUCCESS.to_word(), 0x0000);
    assert!(Status::SUCCESS.is_success());
    assert!(!Status::from_word(0x8004).is_success());
}

#[test]
fn phase_tag_is_ignored_and_sent_as_zero() {
    let s = Status::from_word(0x0045);
    assert_eq!(s, Status::new(StatusCode::TRANSIENT_TRANSPORT_ERROR));
    assert_eq!(s.to_word(), 0x0044);
}

#[test]
fn transient_transport_error_is_generic_not_path() {
    let code = StatusCode::TRANSIENT_TRANSPORT_ERROR;
    assert_eq!(code.sct, Sct::GENERIC);
    assert!(!code.is_path_related());
    assert!(StatusCode::ANA_INACCESSIBLE.is_path_related());
    assert_eq!(code.name(None), Some("Transient Transport Error"));
    // SCT 3 / SC 0x22 is not defined.
    assert_eq!(StatusCode::new(Sct::PATH, 0x22).name(None), None);
}

#[test]
fn named_constants_have_spec_values() {
    let pairs = [
        (StatusCode::INVALID_OPCODE, (0, 0x01)),
        (StatusCode::INVALID_FIELD, (0, 0x02)),
        (StatusCode::COMMAND_ID_CONFLICT, (0, 0x03)),
        (StatusCode::DATA_TRANSFER_ERROR, (0, 0x04)),
        (StatusCode::INTERNAL_ERROR, (0, 0x06)),
        (StatusCode::ABORT_REQUESTED, (0, 0x07)),
        (StatusCode::ABORTED_SQ_DELETION, (0, 0x08)),
        (StatusCode::INVALID_NAMESPACE_OR_FORMAT, (0, 0x0B)),
        (StatusCode::COMMAND_SEQUENCE_ERROR, (0, 0x0C)),
        (StatusCode::KEEP_ALIVE_EXPIRED, (0, 0x19)),
        (StatusCode::TRANSIENT_TRANSPORT_ERROR, (0, 0x22)),
        (StatusCode::LBA_OUT_OF_RANGE, (0, 0x80)),
        (StatusCode::INVALID_LOG_PAGE, (1, 0x09)),
        (StatusCode::CCR_IN_PROGRESS, (1, 0x3F)),
        (StatusCode::CCR_LOG_PAGE_FULL, (1, 0x40)),
        (StatusCode::CCR_LIMIT_EXCEEDED, (1, 0x41)),
        (StatusCode::CONNECT_INCOMPATIBLE_FORMAT, (1, 0x80)),
        (StatusCode::CONNECT_CONTROLLER_BUSY, (1, 0x81)),
        (StatusCode::CONNECT_INVALID_PARAMETERS, (1, 0x82)),
        (StatusCode::CONNECT_RESTART_DISCOVERY, (1, 0x83)),
        (StatusCode::CONNECT_INVALID_HOST, (1, 0x84)),
        (StatusCode::UNRECOVERED_READ_ERROR, (2, 0x81)),
        (StatusCode::INTERNAL_PATH_ERROR, (3, 0x00)),
        (StatusCode::ANA_PERSISTENT_LOSS, (3, 0x01)),
        (StatusCode::ANA_INACCESSIBLE, (3, 0x02)),
        (StatusCode::ANA_TRANSITION, (3, 0x03)),
        (StatusCode::CONTROLLER_PATHING_ERROR, (3, 0x60)),
        (StatusCode::HOST_PATHING_ERROR, (3, 0x70)),
        (StatusCode::ABORTED_BY_HOST, (3, 0x71)),
    ];
    for (code, (sct, sc)) in pairs {
        assert_eq!((code.sct.0, code.sc), (sct, sc), "{code:?}");
    }
}

#[test]
fn command_specific_names_need_the_command() {
    let ccr = CommandContext::Admin(AdminOpcode::CROSS_CONTROLLER_RESET);
    let connect = CommandContext::Fabrics(FabricsType::CONNECT);
    assert_eq!(StatusCode::CCR_LIMIT_EXCEEDED.name(None), None);
    assert_eq!(StatusCode::CCR_LIMIT_EXCEEDED.name(Some(ccr)), Some("Cross-Controller Reset Limit Exceeded"));
    assert_eq!(StatusCode::CCR_IN_PROGRESS.name(Some(ccr)), Some("Cross-Controller Reset In Progress"));
    assert_eq!(StatusCode::CCR_LOG_PAGE_FULL.name(Some(ccr)), Some("Cross-Controller Reset Log Page Full"));
    // The same SCT 1 code means nothing (known) for another command.
    assert_eq!(StatusCode::CCR_LIMIT_EXCEEDED.name(Some(connect)), None);
    assert_eq!(StatusCode::CONNECT_INVALID_HOST.name(Some(connect)), Some("Connect Invalid Host"));
    assert_eq!(StatusCode::CONNECT_INVALID_HOST.name(Some(ccr)), None);
    assert_eq!(
        StatusCode::INVALID_LOG_PAGE.name(Some(CommandContext::Admin(AdminOpcode::GET_LOG_PAGE))),
        Some("Invalid Log Page")
    );
    // Context is ignored outside SCT 1.
    assert_eq!(StatusCode::INVALID_FIELD.name(Some(connect)), Some("Invalid Field in Command"));
    assert_eq!(StatusCode::new(Sct::VENDOR, 0x10).name(None), None);
}

#[test]
fn cqe_vector_ccr_success_response() {
    // notes::vectors §3.3: CapsuleResp bytes 8..24 = CQE; SQHD 5, CID 0x21, status 0.
    let bytes: [u8; 16] = [0, 0, 0, 0, 0, 0, 0, 0, 0x05, 0, 0, 0, 0x21, 0, 0, 0];
    let cqe = Cqe::from_bytes(&bytes);
    assert_eq!(cqe, Cqe { dw0: 0, dw1: 0, sqhd: 5, sqid: 0, cid: 0x21, status: Status::SUCCESS });
    assert_eq!(cqe.to_bytes(), bytes);
}

#[test]
fn cqe_vector_ccr_limit_exceeded() {
    let bytes: [u8; 16] = [0, 0, 0, 0, 0, 0, 0, 0, 0x06, 0, 0, 0, 0x21, 0, 0x82, 0x02];
    let cqe = Cqe::parse(&bytes).unwrap();
    assert_eq!(cqe.sqhd, 6);
    assert_eq!(cqe.status.code, StatusCode::CCR_LIMIT_EXCEEDED);
    let mut out = [0u8; 20];
    assert_eq!(cqe.emit(&mut out), Ok(16));
    assert_eq!(&out[..16], &bytes);
}

#[test]
fn cqe_vector_a_capsule_resp() {
    // notes::vectors §2.1: DW0 1, SQHD 1, CID 1.
    let bytes: [u8; 16] = [1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0];
    let cqe = Cqe::from_bytes(&bytes);
    assert_eq!((cqe.dw0, cqe.sqhd, cqe.cid), (1, 1, 1));
}

#[test]
fn short_buffers_say_how_much_is_needed() {
    use nvme_proto::cmd::CmdError;
    assert_eq!(Cqe::parse(&[0u8; 15]), Err(CmdError::BufferTooShort { needed: 16 }));
    assert_eq!(Sqe::parse(&[0u8; 63]), Err(CmdError::BufferTooShort { needed: 64 }));
    assert_eq!(Sqe::new(0x18, 1).emit(&mut [0u8; 10]), Err(CmdError::BufferTooShort { needed: 64 }));
    assert_eq!(Cqe::new(1, Status::SUCCESS).emit(&mut [0u8; 15]), Err(CmdError::BufferTooShort { needed: 16 }));
}

#[test]
fn sqe_vector_keep_alive() {
    // notes::vectors §2.3: SQE of the Keep Alive capsule (opcode 0x18, flags 0x40, CID 0x10, SGL1 0x5A length 0).
    let mut bytes = [0u8; 64];
    bytes[0] = 0x18;
    bytes[1] = 0x40;
    bytes[2] = 0x10;
    bytes[39] = 0x5A;
    assert_eq!(Sqe::new(AdminOpcode::KEEP_ALIVE.0, 0x10).to_bytes(), bytes);
    let sqe = Sqe::from_bytes(&bytes);
    assert_eq!(sqe.flags, SqeFlags::SGL);
    assert_eq!((sqe.flags.psdt(), sqe.flags.fuse()), (1, 0));
    assert!(sqe.dptr.is_transport_data());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn status_word_round_trips_except_phase(word in any::<u16>()) {
        prop_assert_eq!(Status::from_word(word).to_word(), word & !1);
    }

    #[test]
    fn sqe_bytes_round_trip(bytes in proptest::collection::vec(any::<u8>(), 64)) {
        let arr: [u8; 64] = bytes.try_into().unwrap();
        let sqe = Sqe::from_bytes(&arr);
        prop_assert_eq!(sqe.to_bytes(), arr);
        prop_assert_eq!(Sqe::parse(&arr), Ok(sqe));
    }

    #[test]
    fn cqe_bytes_round_trip_except_phase(bytes in proptest::collection::vec(any::<u8>(), 16)) {
        let arr: [u8; 16] = bytes.try_into().unwrap();
        let mut expected = arr;
        expected[14] &= !1;
        prop_assert_eq!(Cqe::from_bytes(&arr).to_bytes(), expected);
    }

    #[test]
    fn short_inputs_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        let _ = Sqe::parse(&bytes);
        let _ = Cqe::parse(&bytes);
        prop_assert_eq!(Sqe::parse(&bytes).is_ok(), bytes.len() >= 64);
        prop_assert_eq!(Cqe::parse(&bytes).is_ok(), bytes.len() >= 16);
    }
}
