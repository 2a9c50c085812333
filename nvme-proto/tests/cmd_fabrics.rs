//! Fabrics commands: Connect and its data, the Connect responses, Property Get/Set and the CAP, VS, CC, CSTS
//! registers, Disconnect, Authentication (nvme_proto::notes::commands §5).

use core::time::Duration;

use nvme_proto::cmd::{
    Authentication, Cap, Cc, CmdError, Connect, ConnectData, ConnectInvalidParameters, ConnectResponse, Csts,
    Disconnect, FabricsCommand, FabricsType, NSSR_RESET, ParameterLocation, PropertyGet, PropertyOffset, PropertySet,
    PropertySize, SECP_NVME_AUTH, SglDescriptor, Sqe, Vs,
};
use proptest::prelude::*;

#[test]
fn admin_connect_sqe_vector() {
    // What the Linux host sends (notes::commands §10, the admin Connect): CID 0, QID 0, SQSIZE 31, KATO 5000, 1024
    // bytes in-capsule.
    let mut expected = [0u8; 64];
    expected[0] = 0x7F;
    expected[1] = 0x40;
    expected[4] = 0x01; // FCTYPE Connect
    expected[32..36].copy_from_slice(&1024u32.to_le_bytes());
    expected[39] = 0x01; // Data Block, Offset
    expected[44] = 31; // SQSIZE
    expected[48..52].copy_from_slice(&5000u32.to_le_bytes());
    let connect = Connect::admin(5000);
    let sqe = connect.to_sqe(0);
    assert_eq!(sqe.to_bytes(), expected);
    assert_eq!(sqe.dptr, SglDescriptor::in_capsule(0, 1024));
    assert_eq!(Connect::from_sqe(&Sqe::from_bytes(&expected)), Ok(connect));
    assert_eq!(connect.keep_alive_timeout(), Some(Duration::from_secs(5)));
    assert_eq!(Connect::io(1, 127).keep_alive_timeout(), None);
}

#[test]
fn connect_sqe_field_offsets() {
    let c = Connect { recfmt: 0x0102, qid: 0x0304, sqsize: 0x0506, cattr: 0x07, kato_ms: 0x0B0A_0908 };
    let b = c.to_sqe(0xABCD).to_bytes();
    assert_eq!(&b[2..4], &[0xCD, 0xAB]);
    assert_eq!(&b[40..52], &[0x02, 0x01, 0x04, 0x03, 0x06, 0x05, 0x07, 0x00, 0x08, 0x09, 0x0A, 0x0B]);
    assert_eq!(&b[52..64], &[0u8; 12]);
}

#[test]
fn connect_from_other_fabrics_type_is_an_error() {
    let sqe = PropertyGet::new(PropertyOffset::CAP).to_sqe(1);
    assert_eq!(Connect::from_sqe(&sqe), Err(CmdError::WrongOpcode { expected: 0x01, found: 0x04 }));
    assert_eq!(Connect::from_sqe(&Sqe::new(0x18, 1)), Err(CmdError::WrongOpcode { expected: 0x7F, found: 0x18 }));
}

#[test]
fn connect_data_offsets_and_round_trip() {
    let data = ConnectData {
        hostid: [0x11; 16],
        cntlid: ConnectData::DYNAMIC_CNTLID,
        subnqn: "nqn.2014-08.org.example:subsys",
        hostnqn: "nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-000000000001",
    };
    let mut buf = vec![0xEEu8; 1024];
    assert_eq!(data.emit(&mut buf), Ok(1024));
    assert_eq!(&buf[0..16], &[0x11; 16]);
    assert_eq!(&buf[16..18], &[0xFF, 0xFF]);
    assert!(buf[18..256].iter().all(|&b| b == 0));
    assert_eq!(&buf[256..256 + data.subnqn.len()], data.subnqn.as_bytes());
    assert_eq!(buf[256 + data.subnqn.len()], 0);
    assert_eq!(&buf[512..512 + data.hostnqn.len()], data.hostnqn.as_bytes());
    assert!(buf[768..].iter().all(|&b| b == 0));
    assert_eq!(ConnectData::parse(&buf), Ok(data));
}

#[test]
fn connect_data_rejects_bad_nqns() {
    let mut buf = vec![0u8; 1024];
    buf[256..512].fill(b'a'); // no terminator
    assert_eq!(ConnectData::parse(&buf), Err(CmdError::InvalidString { offset: 256 }));
    let mut buf = vec![0u8; 1024];
    buf[512] = 0xFF; // invalid UTF-8
    assert_eq!(ConnectData::parse(&buf), Err(CmdError::InvalidString { offset: 512 }));
    let mut buf = vec![0u8; 1024];
    buf[256..256 + 224].fill(b'a'); // 224 bytes: over the 223-byte limit
    assert_eq!(ConnectData::parse(&buf), Err(CmdError::InvalidString { offset: 256 }));
    assert_eq!(ConnectData::parse(&buf[..1023]), Err(CmdError::BufferTooShort { needed: 1024 }));
    let d = ConnectData { hostid: [0; 16], cntlid: 1, subnqn: "a\0b", hostnqn: "h" };
    assert_eq!(d.emit(&mut [0u8; 1024]), Err(CmdError::InvalidString { offset: 256 }));
}

#[test]
fn connect_responses() {
    let ok = ConnectResponse::from_dw0(0x0002_0007);
    assert_eq!(ok, ConnectResponse { cntlid: 7, authreq: 2 });
    assert!(ok.authentication_required());
    assert_eq!(ok.to_dw0(), 0x0002_0007);
    let bad = ConnectInvalidParameters::from_dw0(0x0001_0010);
    assert_eq!(bad, ConnectInvalidParameters { ipo: 16, location: ParameterLocation::ConnectData });
    assert_eq!(bad.to_dw0(), 0x0001_0010);
    assert_eq!(ConnectInvalidParameters::from_dw0(44).location, ParameterLocation::Sqe);
}

#[test]
fn property_get_cap_vector() {
    // Linux host's first command after Connect: Property Get CAP, 8 bytes, CID 1.
    let sqe = PropertyGet::new(PropertyOffset::CAP).to_sqe(1);
    let b = sqe.to_bytes();
    assert_eq!(&b[0..5], &[0x7F, 0x40, 0x01, 0x00, 0x04]);
    assert_eq!(b[39], 0x5A);
    assert_eq!(b[40], 1, "ATTRIB size 8 bytes");
    assert_eq!(&b[44..48], &[0, 0, 0, 0]);
    let vs = PropertyGet::new(PropertyOffset::VS).to_sqe(2).to_bytes();
    assert_eq!((vs[40], vs[44]), (0, 0x08));
    let mut bad = sqe;
    bad.cdw10 = 2;
    assert_eq!(PropertyGet::from_sqe(&bad), Err(CmdError::InvalidField { offset: 40 }));
    assert_eq!(FabricsCommand::parse(&bad), Err(CmdError::InvalidField { offset: 40 }));
}

#[test]
fn property_set_cc_vector() {
    let set = PropertySet::cc(Cc::ENABLE);
    let b = set.to_sqe(3).to_bytes();
    assert_eq!(b[4], 0x00, "FCTYPE Property Set");
    assert_eq!(b[40], 0);
    assert_eq!(&b[44..48], &[0x14, 0, 0, 0]);
    assert_eq!(&b[48..56], &[0x01, 0x00, 0x46, 0x00, 0, 0, 0, 0], "CC: EN 1, IOSQES 6, IOCQES 4");
    assert_eq!(PropertySet::from_sqe(&Sqe::from_bytes(&b)), Ok(set));
    let nssr = PropertySet { size: PropertySize::Four, offset: PropertyOffset::NSSR, value: NSSR_RESET as u64 };
    assert_eq!(&nssr.to_sqe(0).to_bytes()[48..52], &[0x65, 0x4d, 0x56, 0x4e]);
}

#[test]
fn registers_decode() {
    // CAP: MQES 127, CQR, TO 30 (15 s), CSS NVM, MPSMIN 0, MPSMAX 4.
    let raw: u64 = 127 | 1 << 16 | 30 << 24 | 1 << 37 | 4 << 52;
    let cap = Cap::from_u64(raw);
    assert_eq!(cap.mqes, 127);
    assert_eq!(cap.max_queue_entries(), 128);
    assert!(cap.cqr);
    assert_eq!(cap.timeout(), Duration::from_millis(15_000));
    assert_eq!(cap.css, 1);
    assert_eq!(cap.mpsmax, 4);
    assert_eq!(cap.to_u64(), raw);
    assert_eq!(Vs::from_u32(0x0001_0300), Vs { mjr: 1, mnr: 3, ter: 0 });
    assert_eq!(Vs { mjr: 2, mnr: 1, ter: 0 }.to_u32(), 0x0002_0100);
    assert_eq!(Cc::ENABLE.to_u32(), 0x0046_0001);
    let cc = Cc::from_u32(0x0146_4001 | 2 << 14);
    assert!(cc.en && cc.crime);
    assert_eq!((cc.shn, cc.iosqes, cc.iocqes), (3, 6, 4));
    let csts = Csts::from_u32(0b10_1011);
    assert_eq!(csts, Csts { rdy: true, cfs: true, shst: 2, nssro: false, pp: true });
    assert_eq!(csts.to_u32(), 0b10_1011);
}

#[test]
fn disconnect_and_auth_offsets() {
    let d = Disconnect { recfmt: 0x0201 }.to_sqe(9).to_bytes();
    assert_eq!(&d[0..5], &[0x7F, 0x40, 9, 0, 0x08]);
    assert_eq!(&d[40..42], &[0x01, 0x02]);
    assert!(d[42..].iter().all(|&b| b == 0));
    let send = Authentication { send: true, secp: SECP_NVME_AUTH, spsp0: 0x01, spsp1: 0x02, length: 0x30 };
    let b = send.to_sqe(4).to_bytes();
    assert_eq!(b[4], 0x05);
    assert_eq!(&b[40..48], &[0x00, 0x01, 0x02, 0xE9, 0x30, 0, 0, 0]);
    assert_eq!(b[39], 0x01, "send data in the capsule");
    assert_eq!(Authentication::from_sqe(&Sqe::from_bytes(&b)), Ok(send));
    let recv = Authentication { send: false, ..send };
    let r = recv.to_sqe(5);
    assert_eq!(r.fctype(), 0x06);
    assert!(r.dptr.is_transport_data());
    assert_eq!(FabricsCommand::parse(&r), Ok(FabricsCommand::Authentication(recv)));
}

/// The DH-HMAC-CHAP commands as the Linux host sends them (nvme_proto::notes::auth §1): SECP 0xE9, SPSP0 = SPSP1 =
/// 0x01; a Negotiate of 72 bytes, then a Receive of AL 4096. Linux nvmet's checks, in its order.
#[test]
fn dhchap_send_and_receive_sqes() {
    let b = Authentication::dhchap_send(72).to_sqe(7).to_bytes();
    assert_eq!(&b[0..5], &[0x7F, 0x40, 7, 0, 0x05]);
    assert_eq!(&b[40..48], &[0x00, 0x01, 0x01, 0xE9, 72, 0, 0, 0]);
    let r = Authentication::dhchap_receive(4096).to_sqe(8).to_bytes();
    assert_eq!(r[4], 0x06);
    assert_eq!(&r[40..48], &[0x00, 0x01, 0x01, 0xE9, 0x00, 0x10, 0, 0]);
    assert_eq!(Authentication::from_sqe(&Sqe::from_bytes(&r)), Ok(Authentication::dhchap_receive(4096)));
    assert_eq!(Authentication::dhchap_send(72).check_dhchap(), Ok(()));
    let ok = Authentication::dhchap_receive(4096);
    let bad = |a: Authentication| a.check_dhchap();
    assert_eq!(bad(Authentication { secp: 0xEA, spsp0: 0, ..ok }), Err(CmdError::InvalidField { offset: 43 }));
    assert_eq!(bad(Authentication { spsp0: 0, spsp1: 0, ..ok }), Err(CmdError::InvalidField { offset: 41 }));
    assert_eq!(bad(Authentication { spsp1: 2, length: 0, ..ok }), Err(CmdError::InvalidField { offset: 42 }));
    assert_eq!(bad(Authentication { length: 0, ..ok }), Err(CmdError::InvalidField { offset: 44 }));
}

#[test]
fn unknown_fabrics_type_round_trips() {
    let mut sqe = Sqe::new(0x7F, 3);
    sqe.nsid = 0xC1;
    sqe.cdw10 = 0xDEAD_BEEF;
    let cmd = FabricsCommand::parse(&sqe).unwrap();
    assert_eq!(cmd, FabricsCommand::Unknown(sqe));
    assert_eq!(cmd.fctype(), FabricsType(0xC1));
    assert_eq!(cmd.to_sqe(3), sqe);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn connect_round_trips(recfmt in any::<u16>(), qid in any::<u16>(), sqsize in any::<u16>(), cattr in any::<u8>(),
                           kato_ms in any::<u32>()) {
        let c = Connect { recfmt, qid, sqsize, cattr, kato_ms };
        prop_assert_eq!(FabricsCommand::parse(&c.to_sqe(1)), Ok(FabricsCommand::Connect(c)));
    }

    #[test]
    fn connect_data_round_trips(hostid in any::<[u8; 16]>(), cntlid in any::<u16>(),
                                subnqn in "[a-z0-9.:-]{0,223}", hostnqn in "\\PC{0,50}") {
        prop_assume!(!hostnqn.contains('\0') && hostnqn.len() <= 223);
        let d = ConnectData { hostid, cntlid, subnqn: &subnqn, hostnqn: &hostnqn };
        let mut buf = vec![0u8; 1024];
        prop_assert_eq!(d.emit(&mut buf), Ok(1024));
        prop_assert_eq!(ConnectData::parse(&buf), Ok(d));
    }

    #[test]
    fn property_set_round_trips(eight in any::<bool>(), offset in any::<u32>(), value in any::<u64>()) {
        let size = if eight { PropertySize::Eight } else { PropertySize::Four };
        let p = PropertySet { size, offset: PropertyOffset(offset), value };
        prop_assert_eq!(FabricsCommand::parse(&p.to_sqe(1)), Ok(FabricsCommand::PropertySet(p)));
    }

    #[test]
    fn registers_round_trip(cap in any::<u64>(), cc in any::<u32>(), csts in any::<u32>(), vs in any::<u32>()) {
        // Defined CAP bits: 18:0, 31:24, 45:32, 60:48.
        let cap_mask: u64 = 0x7_FFFF | 0xFF << 24 | 0x3FFF << 32 | 0x1FFF << 48;
        prop_assert_eq!(Cap::from_u64(cap).to_u64(), cap & cap_mask);
        prop_assert_eq!(Cc::from_u32(cc).to_u32(), cc & 0x01FF_FFF1);
        prop_assert_eq!(Csts::from_u32(csts).to_u32(), csts & 0x3F);
        prop_assert_eq!(Vs::from_u32(vs).to_u32(), vs);
    }

    #[test]
    fn connect_data_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1100)) {
        let _ = ConnectData::parse(&bytes);
    }
}
