//! Admin and I/O commands: builders and parsers (Keep Alive, Abort, AER, Set/Get Features, Read, Write, Flush),
//! the queue-dependent dispatch, unknown opcodes and the side-effect classification.

use core::time::Duration;

use nvme_proto::cmd::{
    Abort, AdminCommand, AdminOpcode, AsyncEventConfig, AsyncEventRequest, Command, CommandContext, Connect,
    CrossControllerReset, DataDirection, Feature, FeatureId, FeatureSelect, Flush, GetFeatures, GetLogPage, Identify,
    IoCommand, IoOpcode, KeepAlive, KeepAliveTimer, LogId, NumberOfQueues, PropertyGet, PropertyOffset, QueueKind,
    ReadWrite, SetFeatures, SglDescriptor, Sqe, StatusCode,
};
use proptest::prelude::*;

#[test]
fn keep_alive_and_aer_vectors() {
    let mut ka = [0u8; 64];
    ka[0] = 0x18;
    ka[1] = 0x40;
    ka[2] = 0x10;
    ka[39] = 0x5A;
    assert_eq!(KeepAlive.to_sqe(0x10).to_bytes(), ka);
    assert_eq!(KeepAlive::from_sqe(&Sqe::from_bytes(&ka)), Ok(KeepAlive));
    let aer = AsyncEventRequest.to_sqe(7).to_bytes();
    assert_eq!((aer[0], aer[1], aer[2], aer[39]), (0x0C, 0x40, 7, 0x5A));
}

#[test]
fn abort_vector() {
    let sqe = Abort { sqid: 1, cid: 0x0203 }.to_sqe(9);
    assert_eq!(&sqe.to_bytes()[40..44], &[0x01, 0x00, 0x03, 0x02]);
    assert_eq!(Abort::from_sqe(&sqe), Ok(Abort { sqid: 1, cid: 0x0203 }));
    assert!(!Abort::was_aborted(1), "Linux nvmet answers 1: not aborted");
    assert!(Abort::was_aborted(0));
}

#[test]
fn set_features_vectors() {
    let nq = SetFeatures::new(Feature::NumberOfQueues(NumberOfQueues::with_count(4))).to_sqe(5);
    assert_eq!(nq.opcode, 0x09);
    assert_eq!(nq.cdw10, 0x07);
    assert_eq!(nq.cdw11, 0x0003_0003, "NSQR = NCQR = 3 (0's based)");
    let aec = SetFeatures::new(Feature::AsyncEventConfig(AsyncEventConfig(
        AsyncEventConfig::NAMESPACE_ATTRIBUTE | AsyncEventConfig::ANA_CHANGE | AsyncEventConfig::CCR_COMPLETED,
    )))
    .to_sqe(6);
    assert_eq!(aec.cdw10, 0x0B);
    assert_eq!(aec.cdw11, 1 << 8 | 1 << 11 | 1 << 20);
    let kato = SetFeatures { sv: true, nsid: 0, feature: Feature::KeepAliveTimer(KeepAliveTimer { kato_ms: 5000 }) };
    let s = kato.to_sqe(7);
    assert_eq!(s.cdw10, 0x8000_000F);
    assert_eq!(s.cdw11, 5000);
    assert_eq!(SetFeatures::from_sqe(&s), Ok(kato));
    assert_eq!(KeepAliveTimer { kato_ms: 5000 }.timeout(), Some(Duration::from_secs(5)));
    assert_eq!(KeepAliveTimer { kato_ms: 0 }.timeout(), None);
    // An unknown feature keeps its dwords.
    let other = SetFeatures::new(Feature::Other { fid: FeatureId(0xC5), dwords: [1, 2, 3, 4, 5] });
    assert_eq!(SetFeatures::from_sqe(&other.to_sqe(1)), Ok(other));
}

#[test]
fn number_of_queues_helpers() {
    let answer = NumberOfQueues::from_dword(0x0007_0003);
    assert_eq!((answer.nsq, answer.ncq), (3, 7));
    assert_eq!(answer.pairs(), 4);
    assert_eq!(NumberOfQueues::with_count(1).to_dword(), 0);
    assert_eq!(NumberOfQueues::with_count(0x1_0001).nsq, 0xFFFF);
}

#[test]
fn get_features_vector_and_result() {
    let g =
        GetFeatures { fid: FeatureId::NUMBER_OF_QUEUES, sel: FeatureSelect::SUPPORTED_CAPABILITIES, nsid: 0, cdw11: 0 };
    let s = g.to_sqe(2);
    assert_eq!(s.cdw10, 0x0000_0307);
    assert_eq!(GetFeatures::from_sqe(&s), Ok(g));
    assert_eq!(g.result(0x0001_0002), Feature::NumberOfQueues(NumberOfQueues { nsq: 2, ncq: 1 }));
    assert_eq!(
        GetFeatures::new(FeatureId::KEEP_ALIVE_TIMER).result(3000),
        Feature::KeepAliveTimer(KeepAliveTimer { kato_ms: 3000 })
    );
}

#[test]
fn read_write_flush_vectors() {
    let rw = ReadWrite::new(1, 0x0102_0304_0506_0708, 8, 512).unwrap();
    assert_eq!(rw.blocks(), 8);
    let read = rw.to_read_sqe(0x44).to_bytes();
    assert_eq!(read[0], 0x02);
    assert_eq!(&read[4..8], &[1, 0, 0, 0]);
    assert_eq!(&read[32..36], &4096u32.to_le_bytes());
    assert_eq!(read[39], 0x5A);
    assert_eq!(&read[40..48], &[0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01]);
    assert_eq!(&read[48..50], &[7, 0], "NLB is 0's based");
    let mut w = rw;
    w.control = ReadWrite::CONTROL_FUA;
    w.dptr = SglDescriptor::in_capsule(0, 4096);
    let write = w.to_write_sqe(0x45);
    assert_eq!(write.opcode, 0x01);
    assert_eq!(write.cdw12 >> 30, 1, "FUA is CDW12 bit 30");
    assert!(ReadWrite::from_write_sqe(&write).unwrap().fua());
    assert_eq!(
        ReadWrite::from_read_sqe(&write).unwrap_err(),
        nvme_proto::cmd::CmdError::WrongOpcode { expected: 2, found: 1 }
    );
    assert_eq!(ReadWrite::new(1, 0, 0, 512), None);
    assert_eq!(ReadWrite::new(1, 0, 0x1_0001, 512), None);
    assert_eq!(ReadWrite::new(1, 0, 0x1_0000, 0x1_0000), None, "length overflows u32");
    assert_eq!(ReadWrite::new(1, 0, 0x1_0000, 512).unwrap().nlb, 0xFFFF);
    let flush = Flush { nsid: 0xFFFF_FFFF }.to_sqe(1).to_bytes();
    assert_eq!(&flush[0..8], &[0, 0x40, 1, 0, 0xFF, 0xFF, 0xFF, 0xFF]);
    assert_eq!(IoOpcode::WRITE.direction(), DataDirection::HostToController);
    assert_eq!(IoOpcode::READ.direction(), DataDirection::ControllerToHost);
    assert_eq!(IoOpcode::FLUSH.direction(), DataDirection::None);
}

#[test]
fn opcode_0x02_depends_on_the_queue() {
    let sqe = GetLogPage::new(LogId::ERROR, 64).to_sqe(1);
    assert!(matches!(Command::parse(QueueKind::Admin, &sqe), Ok(Command::Admin(AdminCommand::GetLogPage(_)))));
    assert!(matches!(Command::parse(QueueKind::Io, &sqe), Ok(Command::Io(IoCommand::Read(_)))));
}

#[test]
fn every_typed_admin_command_round_trips_through_dispatch() {
    let cmds = [
        AdminCommand::GetLogPage(GetLogPage::ccr_log(true, 4096)),
        AdminCommand::Identify(Identify::namespace(3)),
        AdminCommand::Abort(Abort { sqid: 2, cid: 9 }),
        AdminCommand::SetFeatures(SetFeatures::new(Feature::NumberOfQueues(NumberOfQueues::with_count(2)))),
        AdminCommand::GetFeatures(GetFeatures::new(FeatureId::ASYNC_EVENT_CONFIG)),
        AdminCommand::AsyncEventRequest(AsyncEventRequest),
        AdminCommand::KeepAlive(KeepAlive),
        AdminCommand::CrossControllerReset(CrossControllerReset { icid: 1, ciu: 2, cirn: 3 }),
        AdminCommand::Fabrics(nvme_proto::cmd::FabricsCommand::Connect(Connect::admin(5000))),
        AdminCommand::Fabrics(nvme_proto::cmd::FabricsCommand::PropertyGet(PropertyGet::new(PropertyOffset::CSTS))),
    ];
    for cmd in cmds {
        let sqe = cmd.to_sqe(0x77);
        assert_eq!(sqe.cid, 0x77);
        assert_eq!(AdminCommand::parse(&Sqe::from_bytes(&sqe.to_bytes())), Ok(cmd), "{cmd:?}");
        assert_eq!(cmd.opcode().0, sqe.opcode);
    }
}

#[test]
fn unknown_opcodes_round_trip() {
    let mut sqe = Sqe::new(0xC3, 0x1234);
    sqe.cdw10 = 0xAABB_CCDD;
    sqe.mptr = 0x55;
    let cmd = AdminCommand::parse(&sqe).unwrap();
    assert_eq!(cmd, AdminCommand::Unknown(sqe));
    assert_eq!(cmd.to_sqe(0x1234), sqe);
    assert_eq!(cmd.opcode(), AdminOpcode(0xC3));
    assert_eq!(AdminOpcode(0xC3).name(), None);
    assert_eq!(AdminOpcode::CROSS_CONTROLLER_RESET.name(), Some("Cross-Controller Reset"));
    let io = IoCommand::parse(&sqe).unwrap();
    assert_eq!(io, IoCommand::Unknown(sqe));
    assert_eq!(io.to_sqe(0x1234).to_bytes(), sqe.to_bytes());
}

#[test]
fn side_effect_classification() {
    let admin = |c: AdminCommand| Command::Admin(c).has_side_effects();
    assert!(!admin(AdminCommand::Identify(Identify::controller())));
    assert!(!admin(AdminCommand::GetFeatures(GetFeatures::new(FeatureId::NUMBER_OF_QUEUES))));
    assert!(!admin(AdminCommand::KeepAlive(KeepAlive)));
    let mut retain = GetLogPage::ccr_log(true, 4096);
    assert!(admin(AdminCommand::GetLogPage(retain)), "RAE = 0 clears the event");
    retain.rae = true;
    assert!(!admin(AdminCommand::GetLogPage(retain)));
    assert!(admin(AdminCommand::SetFeatures(SetFeatures::new(Feature::KeepAliveTimer(KeepAliveTimer { kato_ms: 1 })))));
    assert!(admin(AdminCommand::CrossControllerReset(CrossControllerReset { icid: 0, ciu: 0, cirn: 0 })));
    assert!(admin(AdminCommand::Unknown(Sqe::new(0xC0, 0))));
    let rw = ReadWrite::new(1, 0, 1, 512).unwrap();
    assert!(!Command::Io(IoCommand::Read(rw)).has_side_effects());
    assert!(Command::Io(IoCommand::Write(rw)).has_side_effects());
    assert!(Command::Io(IoCommand::Flush(Flush { nsid: 1 })).has_side_effects());
    assert!(!Command::Io(IoCommand::Unknown(Sqe::new(IoOpcode::COMPARE.0, 0))).has_side_effects());
    assert!(Command::Io(IoCommand::Unknown(Sqe::new(IoOpcode::WRITE_ZEROES.0, 0))).has_side_effects());
    let pg = nvme_proto::cmd::FabricsCommand::PropertyGet(PropertyGet::new(PropertyOffset::CAP));
    assert!(!Command::Admin(AdminCommand::Fabrics(pg)).has_side_effects());
}

#[test]
fn context_names_status_against_the_command() {
    let ccr = Command::Admin(AdminCommand::CrossControllerReset(CrossControllerReset { icid: 1, ciu: 1, cirn: 1 }));
    assert_eq!(ccr.context(), CommandContext::Admin(AdminOpcode::CROSS_CONTROLLER_RESET));
    assert_eq!(StatusCode::CCR_IN_PROGRESS.name(Some(ccr.context())), Some("Cross-Controller Reset In Progress"));
    let connect = Command::Io(IoCommand::Fabrics(nvme_proto::cmd::FabricsCommand::Connect(Connect::io(1, 31))));
    assert_eq!(
        StatusCode::CONNECT_INVALID_PARAMETERS.name(Some(connect.context())),
        Some("Connect Invalid Parameters")
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any 64 bytes parse (or give a field error) on either queue without panicking, and whatever parses
    /// re-parses to the same command from its own SQE.
    #[test]
    fn dispatch_of_arbitrary_sqes_is_stable(bytes in proptest::collection::vec(any::<u8>(), 64), io in any::<bool>()) {
        let arr: [u8; 64] = bytes.try_into().unwrap();
        let sqe = Sqe::from_bytes(&arr);
        let kind = if io { QueueKind::Io } else { QueueKind::Admin };
        if let Ok(cmd) = Command::parse(kind, &sqe) {
            let again = cmd.to_sqe(sqe.cid);
            prop_assert_eq!(Command::parse(kind, &again), Ok(cmd));
            let _ = cmd.has_side_effects();
        }
    }

    #[test]
    fn read_write_round_trips(nsid in any::<u32>(), slba in any::<u64>(), nlb in any::<u16>(), control in any::<u16>(),
                              dsmgmt in any::<u32>(), reftag in any::<u32>(), apptag in any::<u16>(),
                              appmask in any::<u16>(), len in any::<u32>()) {
        let rw = ReadWrite { nsid, slba, nlb, control, dsmgmt, reftag, apptag, appmask,
                             dptr: SglDescriptor::transport_data(len) };
        prop_assert_eq!(IoCommand::parse(&rw.to_write_sqe(1)), Ok(IoCommand::Write(rw)));
        prop_assert_eq!(IoCommand::parse(&rw.to_read_sqe(1)), Ok(IoCommand::Read(rw)));
    }
}
