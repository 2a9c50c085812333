//! Identify: the command, Identify Controller (offsets against nvme_proto::notes::commands §8), Identify Namespace, the
//! active namespace list and the namespace identification descriptors.

use core::num::{NonZeroU8, NonZeroU16};
use core::time::Duration;

use nvme_proto::cmd::{
    Ccrl, CmdError, Cns, Cqt, Identify, IdentifyController, IdentifyControllerView, IdentifyNamespace,
    IdentifyNamespaceView, LbaFormat, NamespaceList, Nidt, NsDescriptorList, NsIdentifier, OAES_CCRCN, OAES_LHCN,
    SglDescriptor, Sqe, Vs,
};
use proptest::prelude::*;

fn put(buf: &mut [u8], off: usize, bytes: &[u8]) {
    buf[off..off + bytes.len()].copy_from_slice(bytes);
}

/// Writes a distinct value at every documented offset of nvme_proto::notes::commands §8, by raw byte offset (not
/// through our struct), then reads everything back through the view and the representation.
#[test]
fn identify_controller_offsets_match_the_table() {
    let mut b = vec![0u8; 4096];
    put(&mut b, 0, &0x1A2Bu16.to_le_bytes()); // VID
    put(&mut b, 2, &0x3C4Du16.to_le_bytes()); // SSVID
    put(&mut b, 4, b"SERIAL-0001         "); // SN (20)
    put(&mut b, 24, b"Model Number X"); // MN (40): the rest stays 0 (NUL padding, tolerated)
    put(&mut b, 64, b"FW 1.2  "); // FR (8)
    put(&mut b, 72, &[0x05]); // RAB
    put(&mut b, 73, &[0xAA, 0xBB, 0xCC]); // IEEE
    put(&mut b, 76, &[0x0B]); // CMIC
    put(&mut b, 77, &[0x07]); // MDTS
    put(&mut b, 78, &0x0123u16.to_le_bytes()); // CNTLID
    put(&mut b, 80, &0x0002_0100u32.to_le_bytes()); // VER 2.1.0
    put(&mut b, 92, &(OAES_CCRCN | OAES_LHCN | 1 << 8).to_le_bytes()); // OAES
    put(&mut b, 96, &0x0000_0041u32.to_le_bytes()); // CTRATT HIDS | TBKAS
    put(&mut b, 111, &[0x01]); // CNTRLTYPE
    put(&mut b, 128, &11u16.to_le_bytes()); // CRDT1
    put(&mut b, 130, &22u16.to_le_bytes()); // CRDT2
    put(&mut b, 132, &33u16.to_le_bytes()); // CRDT3
    put(&mut b, 135, &[0x9C]); // CIU
    put(&mut b, 136, &0x0807_0605_0403_0201u64.to_le_bytes()); // CIRN
    put(&mut b, 256, &0x0102u16.to_le_bytes()); // OACS
    put(&mut b, 258, &[0x13]); // ACL
    put(&mut b, 259, &[0x14]); // AERL
    put(&mut b, 260, &[0x15]); // FRMW
    put(&mut b, 261, &[0x16]); // LPA
    put(&mut b, 262, &[0x17]); // ELPE
    put(&mut b, 320, &0x0A0Bu16.to_le_bytes()); // KAS
    put(&mut b, 342, &[0x1D]); // ANATT
    put(&mut b, 386, &0x1234u16.to_le_bytes()); // CQT
    put(&mut b, 512, &[0x66]); // SQES
    put(&mut b, 513, &[0x44]); // CQES
    put(&mut b, 514, &0x0201u16.to_le_bytes()); // MAXCMD
    put(&mut b, 516, &0x0000_0305u32.to_le_bytes()); // NN
    put(&mut b, 520, &0x0506u16.to_le_bytes()); // ONCS
    put(&mut b, 522, &0x0001u16.to_le_bytes()); // FUSES
    put(&mut b, 525, &[0x01]); // VWC
    put(&mut b, 536, &0x0030_0001u32.to_le_bytes()); // SGLS
    put(&mut b, 540, &0x0000_0099u32.to_le_bytes()); // MNAN
    put(&mut b, 768, b"nqn.2014-08.org.example:subsys\0"); // SUBNQN
    put(&mut b, 1792, &0x0000_0104u32.to_le_bytes()); // IOCCSZ
    put(&mut b, 1796, &0x0000_0001u32.to_le_bytes()); // IORCSZ
    put(&mut b, 1800, &0x0000u16.to_le_bytes()); // ICDOFF (Linux requires 0; nonzero checked via the view below)
    put(&mut b, 1802, &[0x01]); // FCATT
    put(&mut b, 1803, &[0x02]); // MSDBD
    put(&mut b, 1804, &0x0001u16.to_le_bytes()); // OFCS
    put(&mut b, 1807, &[0x04]); // CCRL

    let v = IdentifyControllerView::ref_from_buf(&b).unwrap();
    assert_eq!(v.vid.get(), 0x1A2B);
    assert_eq!(v.cntlid.get(), 0x0123);
    assert_eq!(v.ciu, 0x9C);
    assert_eq!(v.cirn.get(), 0x0807_0605_0403_0201);
    assert_eq!(v.cqt.get(), 0x1234);
    assert_eq!(v.command_quiesce_time().duration(), Some(Duration::from_millis(0x1234)));
    assert_eq!(v.cross_controller_reset_limit(), Ccrl::Limit(NonZeroU8::new(4).unwrap()));
    assert_eq!(v.keep_alive_granularity(), Some(Duration::from_millis(0x0A0B * 100)));
    assert_eq!(v.command_retry_delay(2), Some(Duration::from_millis(2200)));
    assert_eq!(v.command_retry_delay(4), None);
    assert!(v.tbkas());
    assert_eq!(v.subsystem_nqn(), Ok("nqn.2014-08.org.example:subsys"));

    let c = IdentifyController::parse(&b).unwrap();
    assert_eq!((c.vid, c.ssvid), (0x1A2B, 0x3C4D));
    assert_eq!((c.sn, c.mn, c.fr), ("SERIAL-0001", "Model Number X", "FW 1.2"));
    assert_eq!((c.ieee, c.cmic, c.mdts), ([0xAA, 0xBB, 0xCC], 0x0B, 0x07));
    assert_eq!(c.cntlid, 0x0123);
    assert_eq!(c.ver, Vs { mjr: 2, mnr: 1, ter: 0 });
    assert_eq!(c.oaes, OAES_CCRCN | OAES_LHCN | 1 << 8);
    assert_eq!(c.oaes & (1 << 20), 1 << 20, "CCRCN is OAES bit 20");
    assert_eq!(c.ctratt, 0x41);
    assert!(c.tbkas());
    assert_eq!(c.cntrltype, 1);
    assert_eq!(c.crdt, [11, 22, 33]);
    assert_eq!(c.instance(), (0x0123, 0x9C, 0x0807_0605_0403_0201));
    assert_eq!((c.oacs, c.acl, c.aerl, c.frmw, c.lpa, c.elpe), (0x0102, 0x13, 0x14, 0x15, 0x16, 0x17));
    assert_eq!(c.kas, 0x0A0B);
    assert_eq!(c.anatt, 0x1D);
    assert_eq!(c.cqt, Cqt::Millis(NonZeroU16::new(0x1234).unwrap()));
    assert_eq!((c.sqes, c.cqes, c.maxcmd, c.nn), (0x66, 0x44, 0x0201, 0x305));
    assert_eq!((c.oncs, c.fuses, c.vwc), (0x0506, 1, 1));
    assert_eq!((c.sgls, c.mnan), (0x0030_0001, 0x99));
    assert_eq!(c.subnqn, "nqn.2014-08.org.example:subsys");
    assert_eq!((c.ioccsz, c.iorcsz, c.icdoff, c.fcatt, c.msdbd, c.ofcs), (0x104, 1, 0, 1, 2, 1));
    assert_eq!(c.ccrl, Ccrl::Limit(NonZeroU8::new(4).unwrap()));

    // The builder puts every field back at the same offsets: emit(parse(b)) == b for the fields represented.
    let mut out = vec![0xEEu8; 4096];
    assert_eq!(c.emit(&mut out), Ok(4096));
    assert_eq!(IdentifyController::parse(&out), Ok(c));
    for (off, len) in [(0, 4), (72, 8), (78, 6), (92, 8), (111, 1), (128, 16), (256, 7), (320, 2), (386, 2)] {
        assert_eq!(&out[off..off + len], &b[off..off + len], "offset {off}");
    }
    for (off, len) in [(512, 14), (520, 6), (536, 8), (768, 256), (1792, 16)] {
        assert_eq!(&out[off..off + len], &b[off..off + len], "offset {off}");
    }
    // MN was NUL padded in the input; we emit space padding (the spec's form).
    assert_eq!(&out[24..64], b"Model Number X                          ");
}

#[test]
fn identify_controller_view_covers_remaining_offsets() {
    let mut b = vec![0u8; 4096];
    put(&mut b, 1800, &0x0203u16.to_le_bytes()); // ICDOFF
    put(&mut b, 1806, &[0x02]); // DCTYPE
    put(&mut b, 134, &[0x77]); // CRCAP
    put(&mut b, 343, &[0x88]); // ANACAP
    put(&mut b, 2048, &[0x99]); // PSD0
    put(&mut b, 3072, &[0xAB]); // VS
    let v = IdentifyControllerView::ref_from_buf(&b).unwrap();
    assert_eq!(v.icdoff.get(), 0x0203);
    assert_eq!(v.dctype, 2);
    assert_eq!(v.crcap, 0x77);
    assert_eq!(v.anacap, 0x88);
    assert_eq!(v.psd[0], 0x99);
    assert_eq!(v.vs[0], 0xAB);
}

#[test]
fn zero_means_not_reported() {
    let b = vec![0u8; 4096];
    let c = IdentifyController::parse(&b).unwrap();
    assert_eq!(c.cqt, Cqt::NotReported);
    assert_eq!(c.cqt.duration(), None);
    assert_eq!(c.ccrl, Ccrl::NotReported);
    assert_eq!(c.keep_alive_granularity(), None);
    assert_eq!((c.ciu, c.cirn), (0, 0));
    assert_eq!((c.sn, c.mn, c.fr), ("", "", ""));
    // An all-zero SUBNQN is an empty, terminated string.
    assert_eq!(c.subnqn, "");
    assert_eq!(Cqt::from_raw(0).to_raw(), 0);
    assert_eq!(Ccrl::from_raw(0).to_raw(), 0);
}

#[test]
fn bad_strings_are_errors_not_panics() {
    let mut b = vec![0u8; 4096];
    put(&mut b, 4, &[0xFF; 20]); // SN not ASCII
    assert_eq!(IdentifyController::parse(&b), Err(CmdError::InvalidString { offset: 4 }));
    let mut b = vec![0u8; 4096];
    put(&mut b, 24, b"AB\x01CD"); // MN with a control byte
    assert_eq!(IdentifyController::parse(&b), Err(CmdError::InvalidString { offset: 24 }));
    let mut b = vec![0u8; 4096];
    put(&mut b, 768, &[b'a'; 256]); // SUBNQN without terminator
    assert_eq!(IdentifyController::parse(&b), Err(CmdError::InvalidString { offset: 768 }));
    let mut b = vec![0u8; 4096];
    put(&mut b, 768, &[0xC3, 0x28, 0]); // SUBNQN bad UTF-8
    assert_eq!(IdentifyController::parse(&b), Err(CmdError::InvalidString { offset: 768 }));
    // The raw bytes stay reachable through the view.
    assert_eq!(&IdentifyControllerView::ref_from_buf(&b).unwrap().subnqn[..2], &[0xC3, 0x28]);
    assert_eq!(IdentifyController::parse(&b[..4095]), Err(CmdError::BufferTooShort { needed: 4096 }));
}

#[test]
fn builder_rejects_what_does_not_fit() {
    let long = "x".repeat(224);
    let c = IdentifyController::fabrics_io(1, &long);
    assert_eq!(c.emit(&mut [0u8; 4096]), Err(CmdError::InvalidString { offset: 768 }));
    let mut c = IdentifyController::fabrics_io(1, "nqn.a");
    c.sn = "012345678901234567890"; // 21 characters
    assert_eq!(c.emit(&mut [0u8; 4096]), Err(CmdError::InvalidString { offset: 4 }));
    c.sn = "é";
    assert_eq!(c.emit(&mut [0u8; 4096]), Err(CmdError::InvalidString { offset: 4 }));
    c.sn = "ok";
    assert_eq!(c.emit(&mut [0u8; 100]), Err(CmdError::BufferTooShort { needed: 4096 }));
}

#[test]
fn fabrics_io_builder_is_what_a_linux_host_accepts() {
    let c = IdentifyController::fabrics_io(3, "nqn.2014-08.org.example:s1");
    let mut b = vec![0u8; 4096];
    c.emit(&mut b).unwrap();
    assert_eq!(u16::from_le_bytes([b[78], b[79]]), 3);
    assert_ne!(u16::from_le_bytes([b[320], b[321]]), 0, "KAS must be non-zero");
    assert_eq!(u16::from_le_bytes([b[1800], b[1801]]), 0, "ICDOFF must be 0");
    assert_ne!(b[536] & 0x3, 0, "SGLS bits 1:0 must be non-zero");
    assert_eq!(b[76] & 0x2, 0x2, "CMIC multi-controller");
    assert_eq!(b[1807], 4);
}

#[test]
fn identify_command_vector() {
    let sqe = Identify::controller().to_sqe(0x0B);
    let bytes = sqe.to_bytes();
    assert_eq!(bytes[0], 0x06);
    assert_eq!(bytes[1], 0x40);
    assert_eq!(&bytes[2..4], &[0x0B, 0]);
    assert_eq!(&bytes[32..40], &[0x00, 0x10, 0, 0, 0, 0, 0, 0x5A], "SGL1 0x5A, length 4096");
    assert_eq!(&bytes[40..44], &[0x01, 0, 0, 0], "CNS 01h");
    assert_eq!(sqe.dptr, SglDescriptor::transport_data(4096));
    let full = Identify { cns: Cns(0x13), cntid: 0x1234, cns_specific_id: 0x5678, csi: 2, uuid_index: 0x11, nsid: 9 };
    let s = full.to_sqe(1);
    assert_eq!((s.cdw10, s.cdw11, s.cdw14, s.nsid), (0x1234_0013, 0x0200_5678, 0x11, 9));
    assert_eq!(Identify::from_sqe(&s), Ok(full));
    assert_eq!(Identify::from_sqe(&Sqe::new(0x02, 0)), Err(CmdError::WrongOpcode { expected: 6, found: 2 }));
}

#[test]
fn identify_namespace_offsets_and_round_trip() {
    let mut b = vec![0u8; 4096];
    put(&mut b, 0, &1000u64.to_le_bytes());
    put(&mut b, 8, &900u64.to_le_bytes());
    put(&mut b, 16, &800u64.to_le_bytes());
    put(&mut b, 25, &[1]); // NLBAF: two formats
    put(&mut b, 26, &[0x11]); // FLBAS: format 1, extended
    put(&mut b, 30, &[1]); // NMIC shared
    put(&mut b, 92, &7u32.to_le_bytes()); // ANAGRPID
    put(&mut b, 104, &[0x5A; 16]); // NGUID
    put(&mut b, 120, &[0xE1; 8]); // EUI64
    put(&mut b, 128, &0x0009_0000u32.to_le_bytes()); // LBAF0 512
    put(&mut b, 132, &0x010C_0008u32.to_le_bytes()); // LBAF1 4096 + 8 MS, RP 1
    let ns = IdentifyNamespace::parse(&b).unwrap();
    assert_eq!((ns.nsze, ns.ncap, ns.nuse), (1000, 900, 800));
    assert_eq!(ns.lbaf_count, 2);
    assert_eq!(ns.format_index(), 1);
    assert_eq!(ns.format(), LbaFormat { ms: 8, lbads: 12, rp: 1 });
    assert_eq!(ns.format().block_size(), Some(4096));
    assert_eq!(ns.nmic, 1);
    assert_eq!(ns.anagrpid, 7);
    assert_eq!(ns.nguid, [0x5A; 16]);
    assert_eq!(ns.eui64, [0xE1; 8]);
    let mut out = vec![0xFFu8; 4096];
    assert_eq!(ns.emit(&mut out), Ok(4096));
    assert_eq!(out, b);
    let v = IdentifyNamespaceView::ref_from_buf(&b).unwrap();
    assert_eq!(v.lbaf[1].get(), 0x010C_0008);
}

#[test]
fn identify_namespace_validation() {
    let mut b = vec![0u8; 4096];
    b[25] = 64;
    assert_eq!(IdentifyNamespace::parse(&b), Err(CmdError::InvalidField { offset: 25 }));
    let mut b = vec![0u8; 4096];
    b[26] = 3; // format 3 of 1
    assert_eq!(IdentifyNamespace::parse(&b), Err(CmdError::InvalidField { offset: 26 }));
    // An inactive namespace: all zero, valid, NCAP 0.
    let ns = IdentifyNamespace::parse(&[0u8; 4096]).unwrap();
    assert!(ns.is_inactive());
    assert_eq!(ns.format().block_size(), None);
    // Builder: the vector of Linux nvmet style.
    let ns = IdentifyNamespace::new(2048, LbaFormat::LBA_512);
    let mut out = vec![0u8; 4096];
    ns.emit(&mut out).unwrap();
    assert_eq!(&out[0..8], &2048u64.to_le_bytes());
    assert_eq!(out[25], 0);
    assert_eq!(out[30], 1);
    assert_eq!(&out[128..132], &[0, 0, 9, 0]);
    let mut bad = ns;
    bad.flbas = 1;
    assert_eq!(bad.emit(&mut out), Err(CmdError::InvalidField { offset: 26 }));
}

#[test]
fn active_ns_list_vector() {
    let mut out = vec![0xFFu8; 4096];
    assert_eq!(NamespaceList::emit(&[1], &mut out), Ok(4096));
    let mut expected = vec![0u8; 4096];
    expected[0] = 1;
    assert_eq!(out, expected);
    let list = NamespaceList::new_checked(&out).unwrap();
    assert_eq!(list.iter().collect::<Vec<_>>(), vec![1]);
    assert!(!list.is_full());
    assert_eq!(list.last(), Some(1));
    assert_eq!(NamespaceList::emit(&[2, 2], &mut out), Err(CmdError::InvalidField { offset: 4 }));
    assert_eq!(NamespaceList::emit(&[0], &mut out), Err(CmdError::InvalidField { offset: 0 }));
    let many: Vec<u32> = (1..=1025).collect();
    assert_eq!(NamespaceList::emit(&many, &mut out), Err(CmdError::TooManyEntries { count: 1025, max: 1024 }));
    assert_eq!(NamespaceList::emit(&many[..1024], &mut out), Ok(4096));
    let full = NamespaceList::new_checked(&out).unwrap();
    assert!(full.is_full());
    assert_eq!(full.last(), Some(1024));
    // Out of order on the wire.
    let mut bad = vec![0u8; 4096];
    bad[0] = 5;
    bad[4] = 3;
    assert_eq!(NamespaceList::new_checked(&bad), Err(CmdError::InvalidField { offset: 4 }));
}

#[test]
fn ns_descriptor_list_round_trip() {
    let ids = [
        NsIdentifier::Uuid([0x11; 16]),
        NsIdentifier::Nguid([0x22; 16]),
        NsIdentifier::Csi(0),
        NsIdentifier::Eui64([0x33; 8]),
        NsIdentifier::Unknown { nidt: Nidt(0x7E), nid: &[1, 2, 3] },
    ];
    let mut buf = vec![0xFFu8; 4096];
    assert_eq!(NsDescriptorList::emit(&ids, &mut buf), Ok(4096));
    assert_eq!(&buf[0..4], &[0x03, 16, 0, 0]);
    assert_eq!(&buf[40..45], &[0x04, 1, 0, 0, 0], "CSI descriptor packed, 5 bytes");
    let list = NsDescriptorList::new_checked(&buf).unwrap();
    let back: Vec<_> = list.iter().collect::<Result<_, _>>().unwrap();
    assert_eq!(back, ids.to_vec());
}

#[test]
fn ns_descriptor_errors() {
    let mut buf = vec![0u8; 4096];
    buf[0] = 0x01; // EUI64 with NIDL 16
    buf[1] = 16;
    let list = NsDescriptorList::new_checked(&buf).unwrap();
    let items: Vec<_> = list.iter().collect();
    assert_eq!(items, vec![Err(CmdError::InvalidField { offset: 1 })]);
    // A descriptor running past the end.
    let mut buf = vec![0u8; 4096];
    buf[4092] = 0x7F;
    buf[4093] = 10;
    let mut pos = 0;
    // Fill the front with unknown descriptors of 255 bytes so that parsing reaches byte 4092.
    while pos + 259 <= 4092 {
        buf[pos] = 0x70;
        buf[pos + 1] = 255;
        pos += 259;
    }
    let rest = 4092 - pos - 4;
    buf[pos] = 0x70;
    buf[pos + 1] = rest as u8;
    let last = NsDescriptorList::new_checked(&buf).unwrap().iter().last().unwrap();
    assert_eq!(last, Err(CmdError::InvalidField { offset: 4093 }));
    assert_eq!(
        NsDescriptorList::emit(&[NsIdentifier::Csi(0); 820], &mut [0u8; 4096]),
        Err(CmdError::TooManyEntries { count: 820, max: 819 })
    );
    assert_eq!(
        NsDescriptorList::emit(&[NsIdentifier::Unknown { nidt: Nidt(9), nid: &[] }], &mut [0u8; 4096]),
        Err(CmdError::InvalidField { offset: 1 })
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn identify_parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4200)) {
        let _ = IdentifyController::parse(&bytes);
        let _ = IdentifyNamespace::parse(&bytes);
        let _ = NamespaceList::new_checked(&bytes).map(|l| l.iter().count());
        if let Ok(list) = NsDescriptorList::new_checked(&bytes) {
            let n = list.iter().take(5000).count();
            prop_assert!(n <= 1024);
        }
    }

    #[test]
    fn identify_controller_round_trips(
        cntlid in any::<u16>(), ciu in any::<u8>(), cirn in any::<u64>(), cqt in any::<u16>(), ccrl in any::<u8>(),
        kas in any::<u16>(), oaes in any::<u32>(), ctratt in any::<u32>(), maxcmd in any::<u16>(), nn in any::<u32>(),
        sn in "[ -~]{0,20}", nqn in "[a-z0-9.:-]{0,223}",
    ) {
        let mut c = IdentifyController::fabrics_io(cntlid, &nqn);
        c.sn = sn.trim_end_matches(' ');
        c.ciu = ciu;
        c.cirn = cirn;
        c.cqt = Cqt::from_raw(cqt);
        c.ccrl = Ccrl::from_raw(ccrl);
        c.kas = kas;
        c.oaes = oaes;
        c.ctratt = ctratt;
        c.maxcmd = maxcmd;
        c.nn = nn;
        let mut buf = vec![0u8; 4096];
        prop_assert_eq!(c.emit(&mut buf), Ok(4096));
        prop_assert_eq!(IdentifyController::parse(&buf), Ok(c));
    }
}
