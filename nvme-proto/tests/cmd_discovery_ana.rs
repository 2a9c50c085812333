//! The Discovery log page (LID 0x70), the ANA log page (LID 0x0C) and the Identify Controller ANA fields
//! (nvme_proto::notes::commands §8, §9, §12; vectors: nvme_proto::notes::vectors §5).
//!
//! The byte vectors are the second source: libnvme's own structures (`src/nvme/types.h`, linux-nvme/libnvme commit
//! 03297d8: `struct nvme_id_ctrl`, `nvmf_discovery_log`, `nvmf_disc_log_entry`, `nvme_ana_log`,
//! `nvme_ana_group_desc`) compiled with gcc, filled with the values each test names through libnvme's field names
//! and enum constants, and dumped byte for byte. Wireshark's dissector checks the same pages in `cmd_tshark.rs`.

use nvme_proto::cmd::{
    ANACAP_CHANGE, ANACAP_GRPID_STATIC, ANACAP_INACCESSIBLE, ANACAP_NON_OPTIMIZED, ANACAP_OPTIMIZED,
    ANACAP_PERSISTENT_LOSS, AddressFamily, AnaGroupDescriptor, AnaGroupDescriptorView, AnaLogHeaderView, AnaLogPage,
    AnaState, CMIC_ANA, CMIC_MULTI_CONTROLLER, CmdError, DISCOVERY_LOG_MAX_RECORDS, DiscoveryLogEntries,
    DiscoveryLogEntry, DiscoveryLogEntryView, DiscoveryLogHeader, DiscoveryLogPage, GetLogPage, IdentifyController,
    IdentifyControllerView, LSP_ANA_RGO, LogId, NsidList, SecureChannel, SubsystemType, TcpSecurityType, TransportType,
    Treq, Tsas,
};
use proptest::prelude::*;

fn hex(text: &str) -> Vec<u8> {
    text.split_whitespace().map(|b| u8::from_str_radix(b, 16).expect("hex byte")).collect()
}

fn padded(text: &[u8], len: usize) -> Vec<u8> {
    let mut v = text.to_vec();
    v.resize(len, b' ');
    v
}

/// nvme_proto::notes::vectors §5.1: libnvme's `struct nvmf_discovery_log` with two `struct nvmf_disc_log_entry`
/// (3072 bytes), as gcc laid it out:
/// genctr 42, numrec 2, recfmt 0;
/// entry 0: trtype NVMF_TRTYPE_TCP, adrfam NVMF_ADDR_FAMILY_IP4, subtype NVME_NQN_NVME, treq NVMF_TREQ_NOT_REQUIRED |
/// NVMF_TREQ_DISABLE_SQFLOW, portid 1, cntlid 0xffff, asqsz 32, eflags 0, trsvcid "4420" and traddr "192.168.10.2"
/// space padded (as libnvme's own discovery test pads them), subnqn "nqn.2014-08.org.example:ana-array",
/// tsas.tcp.sectype NVMF_TCP_SECTYPE_NONE;
/// entry 1: TCP, NVMF_ADDR_FAMILY_IP6, NVME_NQN_CURR, NVMF_TREQ_REQUIRED, portid 2, cntlid 0xffff, asqsz 32, eflags
/// NVMF_DISC_EFLAGS_DUPRETINFO | NVMF_DISC_EFLAGS_EPCSD, trsvcid "8009", traddr "fd00::2", subnqn
/// NVME_DISC_SUBSYS_NAME, sectype NVMF_TCP_SECTYPE_TLS13. Every byte not listed is 0.
fn libnvme_discovery_page() -> Vec<u8> {
    let mut page = vec![0u8; 3072];
    let runs: [(usize, Vec<u8>); 15] = [
        (0, vec![0x2a]),
        (8, vec![0x02]),
        (1024, vec![0x03, 0x01, 0x02, 0x06, 0x01]),
        (1030, vec![0xff, 0xff, 0x20]),
        (1056, padded(b"4420", 32)),
        (1280, b"nqn.2014-08.org.example:ana-array".to_vec()),
        (1536, padded(b"192.168.10.2", 256)),
        (2048, vec![0x03, 0x02, 0x03, 0x01, 0x02]),
        (2054, vec![0xff, 0xff, 0x20]),
        (2058, vec![0x03]),
        (2080, padded(b"8009", 32)),
        (2304, b"nqn.2014-08.org.nvmexpress.discovery".to_vec()),
        (2560, padded(b"fd00::2", 256)),
        (2816, vec![0x02]),
        (3071, vec![0x00]),
    ];
    for (at, bytes) in runs {
        page[at..at + bytes.len()].copy_from_slice(&bytes);
    }
    page
}

fn discovery_entries() -> [DiscoveryLogEntry<'static>; 2] {
    let mut io =
        DiscoveryLogEntry::tcp(AddressFamily::IPV4, "192.168.10.2", "4420", "nqn.2014-08.org.example:ana-array");
    io.treq = Treq(0x06);
    let mut disc =
        DiscoveryLogEntry::tcp(AddressFamily::IPV6, "fd00::2", "8009", "nqn.2014-08.org.nvmexpress.discovery");
    disc.subtype = SubsystemType::CURRENT_DISCOVERY;
    disc.treq = Treq(0x01);
    disc.portid = 2;
    disc.eflags = DiscoveryLogEntry::EFLAGS_DUPRETINFO | DiscoveryLogEntry::EFLAGS_EPCSD;
    disc.tsas = Tsas::Tcp { sectype: TcpSecurityType::TLS13 };
    [io, disc]
}

/// nvme_proto::notes::vectors §5.2: libnvme's `struct nvme_ana_log` with three `struct nvme_ana_group_desc` and their
/// NSIDs (124 bytes): chgcnt 0x11,
/// ngrps 3; group 1 (nnsids 2, chgcnt 5, NVME_ANA_STATE_OPTIMIZED, NSIDs 1 and 2); group 2 (nnsids 1, chgcnt 6,
/// NVME_ANA_STATE_INACCESSIBLE, NSID 3); group 3 (nnsids 0, chgcnt 7, NVME_ANA_STATE_CHANGE).
const LIBNVME_ANA_LOG: &str = "
    11 00 00 00 00 00 00 00 03 00 00 00 00 00 00 00
    01 00 00 00 02 00 00 00 05 00 00 00 00 00 00 00
    01 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
    01 00 00 00 02 00 00 00 02 00 00 00 01 00 00 00
    06 00 00 00 00 00 00 00 03 00 00 00 00 00 00 00
    00 00 00 00 00 00 00 00 03 00 00 00 03 00 00 00
    00 00 00 00 07 00 00 00 00 00 00 00 0f 00 00 00
    00 00 00 00 00 00 00 00 00 00 00 00";

/// nvme_proto::notes::vectors §5.3: the same three groups as an RGO read returns them (libnvme's RGO test sets nnsids
/// 0): 112 bytes.
const LIBNVME_ANA_LOG_RGO: &str = "
    11 00 00 00 00 00 00 00 03 00 00 00 00 00 00 00
    01 00 00 00 00 00 00 00 05 00 00 00 00 00 00 00
    01 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
    02 00 00 00 00 00 00 00 06 00 00 00 00 00 00 00
    03 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
    03 00 00 00 00 00 00 00 07 00 00 00 00 00 00 00
    0f 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00";

const GROUP1_NSIDS: [u32; 2] = [1, 2];
const GROUP2_NSIDS: [u32; 1] = [3];

fn ana_groups() -> [AnaGroupDescriptor<'static>; 3] {
    [
        AnaGroupDescriptor { anagrpid: 1, chgcnt: 5, state: AnaState::Optimized, nsids: NsidList::new(&GROUP1_NSIDS) },
        AnaGroupDescriptor {
            anagrpid: 2,
            chgcnt: 6,
            state: AnaState::Inaccessible,
            nsids: NsidList::new(&GROUP2_NSIDS),
        },
        AnaGroupDescriptor { anagrpid: 3, chgcnt: 7, state: AnaState::Change, nsids: NsidList::EMPTY },
    ]
}

// ---- Discovery ----

#[test]
fn discovery_page_parses_libnvme_bytes() {
    let bytes = libnvme_discovery_page();
    let page = DiscoveryLogPage::new_checked(&bytes).unwrap();
    assert_eq!(page.header(), DiscoveryLogHeader { genctr: 42, numrec: 2, recfmt: 0 });
    assert_eq!((page.genctr(), page.len(), page.is_empty()), (42, 2, false));
    let entries: Vec<_> = page.entries().collect::<Result<_, _>>().unwrap();
    assert_eq!(entries, discovery_entries());
    let io = entries[0];
    assert_eq!((io.trtype, io.adrfam, io.subtype), (TransportType::TCP, AddressFamily::IPV4, SubsystemType::NVME));
    assert_eq!((io.treq.secure_channel(), io.treq.sq_flow_control_disable()), (SecureChannel::NotRequired, true));
    assert_eq!((io.portid, io.cntlid, io.asqsz, io.eflags), (1, 0xFFFF, 32, 0));
    assert_eq!((io.traddr, io.trsvcid), ("192.168.10.2", "4420"));
    assert_eq!(io.tcp_security(), Some(TcpSecurityType::NONE));
    let disc = entries[1];
    assert_eq!(disc.subtype, SubsystemType::CURRENT_DISCOVERY);
    assert_eq!((disc.treq.secure_channel(), disc.treq.sq_flow_control_disable()), (SecureChannel::Required, false));
    assert_eq!(disc.eflags, 3);
    assert_eq!(disc.subnqn, nvme_proto::cmd::DISCOVERY_NQN);
    assert_eq!(disc.tcp_security(), Some(TcpSecurityType::TLS13));
    assert_eq!(page.get(1), Some(Ok(disc)));
    assert_eq!(page.get(2), None);
    assert_eq!(page.view(0).map(|v| v.portid.get()), Some(1));
}

#[test]
fn discovery_page_emits_libnvme_bytes() {
    let expected = libnvme_discovery_page();
    let mut out = vec![0xEEu8; 3072 + 8];
    assert_eq!(DiscoveryLogPage::buffer_len(2), 3072);
    assert_eq!(DiscoveryLogPage::emit(42, &discovery_entries(), &mut out), Ok(3072));
    assert_eq!(&out[..3072], &expected[..]);
    assert_eq!(&out[3072..], &[0xEE; 8], "bytes after the page are left alone");
    let mut one = [0u8; 1024];
    assert_eq!(discovery_entries()[1].emit(&mut one), Ok(1024));
    assert_eq!(&one[..], &expected[2048..]);
    assert_eq!(DiscoveryLogEntry::parse(&expected[1024..]), Ok(discovery_entries()[0]));
}

#[test]
fn discovery_header_reads_like_libnvme_split_reads() {
    // libnvme reads 20 bytes of header, then the entries at offset 1024, then the header again.
    let bytes = libnvme_discovery_page();
    assert_eq!(GetLogPage::discovery_log(0, 20).to_sqe(1).cdw10, 0x0004_0070);
    let entries_read = GetLogPage::discovery_log(1024, 2048);
    assert_eq!((entries_read.lid, entries_read.lpo, entries_read.nsid), (LogId::DISCOVERY, 1024, 0));
    assert_eq!(DiscoveryLogHeader::parse(&bytes[..20]), Ok(DiscoveryLogHeader { genctr: 42, numrec: 2, recfmt: 0 }));
    assert_eq!(DiscoveryLogHeader::parse(&bytes[..17]), Err(CmdError::BufferTooShort { needed: 18 }));
    let tail: Vec<_> = DiscoveryLogEntries::new(&bytes[1024..]).collect::<Result<_, _>>().unwrap();
    assert_eq!(tail, discovery_entries());
    // A piece shorter than an entry is an error, not dropped silently; its offset counts from the buffer start.
    let cut: Vec<_> = DiscoveryLogEntries::new(&bytes[1024..2048 + 100]).collect();
    assert_eq!(cut.len(), 2);
    assert_eq!(cut[1], Err(CmdError::BufferTooShort { needed: 2048 }));
    let mut header = [0xEEu8; 1024];
    assert_eq!(DiscoveryLogHeader { genctr: 42, numrec: 2, recfmt: 0 }.emit(&mut header), Ok(1024));
    assert_eq!(&header[..], &bytes[..1024]);
}

#[test]
fn discovery_page_errors() {
    let bytes = libnvme_discovery_page();
    assert_eq!(DiscoveryLogPage::new_checked(&bytes[..1023]), Err(CmdError::BufferTooShort { needed: 1024 }));
    assert_eq!(DiscoveryLogPage::new_checked(&bytes[..3071]), Err(CmdError::BufferTooShort { needed: 3072 }));
    let mut b = bytes.clone();
    b[16] = 1; // RECFMT 1: entries of an unknown format
    assert_eq!(DiscoveryLogPage::new_checked(&b), Err(CmdError::InvalidField { offset: 16 }));
    let mut b = bytes.clone();
    b[8..16].copy_from_slice(&(DISCOVERY_LOG_MAX_RECORDS + 1).to_le_bytes());
    assert!(matches!(DiscoveryLogPage::new_checked(&b), Err(CmdError::TooManyEntries { .. })));
    b[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(DiscoveryLogPage::new_checked(&b), Err(CmdError::TooManyEntries { .. })));
    // Bad strings: the error names the field's offset in the page; the other entry still parses.
    let mut b = bytes.clone();
    b[1024 + 512] = 0x07; // TRADDR of entry 0
    b[2048 + 256 + 3] = 0xFF; // SUBNQN of entry 1, before its NUL: not UTF-8
    let page = DiscoveryLogPage::new_checked(&b).unwrap();
    let items: Vec<_> = page.entries().collect();
    assert_eq!(items[0], Err(CmdError::InvalidString { offset: 1024 + 512 }));
    assert_eq!(items[1], Err(CmdError::InvalidString { offset: 2048 + 256 }));
    let mut b = bytes.clone();
    b[2048 + 256..2048 + 512].fill(b'a'); // no NUL in SUBNQN
    let page = DiscoveryLogPage::new_checked(&b).unwrap();
    assert_eq!(page.get(1), Some(Err(CmdError::InvalidString { offset: 2048 + 256 })));
    assert!(page.get(0).unwrap().is_ok());
    // An empty page is just the header.
    let mut empty = [0u8; 1024];
    assert_eq!(DiscoveryLogPage::emit(7, &[], &mut empty), Ok(1024));
    let page = DiscoveryLogPage::new_checked(&empty).unwrap();
    assert!(page.is_empty() && page.entries().next().is_none());
}

#[test]
fn discovery_entry_emit_errors() {
    let mut out = [0u8; 1024];
    let mut e = discovery_entries()[0];
    e.trsvcid = "123456789012345678901234567890123"; // 33 characters
    assert_eq!(e.emit(&mut out), Err(CmdError::InvalidString { offset: 32 }));
    let mut e = discovery_entries()[0];
    e.trtype = TransportType::RDMA; // TSAS says TCP
    assert_eq!(e.emit(&mut out), Err(CmdError::InvalidField { offset: 768 }));
    let rdma_tsas = [1u8; 256];
    e.tsas = Tsas::Other(&rdma_tsas);
    assert_eq!(e.emit(&mut out), Ok(1024));
    assert_eq!(&out[768..], &rdma_tsas[..]);
    assert_eq!(DiscoveryLogEntry::parse(&out), Ok(e));
    let mut page = [0u8; 2048];
    let mut bad = discovery_entries()[0];
    bad.traddr = "tab\there";
    assert_eq!(DiscoveryLogPage::emit(0, &[bad], &mut page), Err(CmdError::InvalidString { offset: 1024 + 512 }));
    assert_eq!(DiscoveryLogPage::emit(0, &[bad, bad], &mut page), Err(CmdError::BufferTooShort { needed: 3072 }));
    assert_eq!(DiscoveryLogEntry::parse(&out[..1023]), Err(CmdError::BufferTooShort { needed: 1024 }));
}

#[test]
fn discovery_nul_padded_strings_parse() {
    // Linux nvmet copies TRSVCID and TRADDR NUL padded; both paddings are accepted.
    let mut b = libnvme_discovery_page();
    b[1056 + 4..1056 + 32].fill(0);
    b[1536 + 12..1536 + 256].fill(0);
    let e = DiscoveryLogEntry::parse(&b[1024..]).unwrap();
    assert_eq!((e.trsvcid, e.traddr), ("4420", "192.168.10.2"));
}

#[test]
fn discovery_view_layout() {
    assert_eq!(size_of::<DiscoveryLogEntryView>(), 1024);
    assert_eq!(core::mem::offset_of!(DiscoveryLogEntryView, trsvcid), 32);
    assert_eq!(core::mem::offset_of!(DiscoveryLogEntryView, subnqn), 256);
    assert_eq!(core::mem::offset_of!(DiscoveryLogEntryView, traddr), 512);
    assert_eq!(core::mem::offset_of!(DiscoveryLogEntryView, tsas), 768);
    assert_eq!(TransportType(9).name(), None);
    assert_eq!((TransportType::TCP.name(), AddressFamily::IPV6.name()), (Some("tcp"), Some("ipv6")));
    assert_eq!(Treq(3).secure_channel(), SecureChannel::Reserved);
}

// ---- ANA ----

#[test]
fn ana_page_parses_libnvme_bytes() {
    let bytes = hex(LIBNVME_ANA_LOG);
    assert_eq!(bytes.len(), 124);
    let page = AnaLogPage::new_checked(&bytes, false).unwrap();
    assert_eq!((page.chgcnt(), page.ngrps(), page.len(), page.rgo()), (0x11, 3, 124, false));
    let groups: Vec<_> = page.descriptors().collect::<Result<_, _>>().unwrap();
    assert_eq!(groups, ana_groups());
    assert_eq!(groups[0].nsids.iter().collect::<Vec<_>>(), [1, 2]);
    assert_eq!(groups[1].nsids.get(0), Some(3));
    assert!(groups[0].state.allows_io() && !groups[1].state.allows_io() && !groups[2].state.allows_io());
    let raw: Vec<_> = page.raw_descriptors().map(|(v, nsids)| (v.anagrpid.get(), v.state, nsids.len())).collect();
    assert_eq!(raw, [(1, 0x1, 2), (2, 0x3, 1), (3, 0xF, 0)]);
    // A Get Log Page returns as many bytes as asked: trailing bytes are not part of the page.
    let mut longer = bytes.clone();
    longer.extend([0xAB; 40]);
    assert_eq!(AnaLogPage::new_checked(&longer, false).unwrap().len(), 124);
}

#[test]
fn ana_page_emits_libnvme_bytes() {
    let expected = hex(LIBNVME_ANA_LOG);
    let groups = ana_groups();
    assert_eq!(AnaLogPage::buffer_len(&groups, false), 124);
    let mut out = vec![0xEEu8; 130];
    assert_eq!(AnaLogPage::emit(0x11, &groups, false, &mut out), Ok(124));
    assert_eq!(&out[..124], &expected[..]);
    assert_eq!(&out[124..], &[0xEE; 6]);
    let (one, used) = AnaGroupDescriptor::parse(&expected[16..]).unwrap();
    assert_eq!((one, used), (groups[0], 40));
}

#[test]
fn ana_rgo_variant() {
    let expected = hex(LIBNVME_ANA_LOG_RGO);
    let groups = ana_groups();
    assert_eq!(AnaLogPage::buffer_len(&groups, true), 112);
    let mut out = vec![0u8; 112];
    assert_eq!(AnaLogPage::emit(0x11, &groups, true, &mut out), Ok(112));
    assert_eq!(out, expected);
    let page = AnaLogPage::new_checked(&expected, true).unwrap();
    let parsed: Vec<_> = page.descriptors().collect::<Result<_, _>>().unwrap();
    let stripped: Vec<_> = groups.iter().map(|g| AnaGroupDescriptor { nsids: NsidList::EMPTY, ..*g }).collect();
    assert_eq!(parsed, stripped);
    // An RGO read that carries NSIDs is an error at the first NNSIDS that is not 0.
    let full = hex(LIBNVME_ANA_LOG);
    assert_eq!(AnaLogPage::new_checked(&full, true), Err(CmdError::InvalidField { offset: 16 + 4 }));
    // The command: LID 0x0C, LSP bit 0, NSID 0xFFFFFFFF, RAE 0.
    let cmd = GetLogPage::ana_log(true, 112);
    assert_eq!((cmd.lid, cmd.lsp, cmd.rae, cmd.nsid), (LogId::ANA, LSP_ANA_RGO, false, 0xFFFF_FFFF));
    assert_eq!(cmd.to_sqe(4).cdw10, 0x001B_010C);
    assert_eq!(GetLogPage::ana_log(false, 124).cdw10(), 0x001E_000C);
}

#[test]
fn ana_page_errors() {
    let bytes = hex(LIBNVME_ANA_LOG);
    // Cut anywhere: the error says how many bytes the page needs as far as the bytes seen tell.
    assert_eq!(AnaLogPage::new_checked(&bytes[..10], false), Err(CmdError::BufferTooShort { needed: 16 }));
    assert_eq!(AnaLogPage::new_checked(&bytes[..30], false), Err(CmdError::BufferTooShort { needed: 48 }));
    assert_eq!(AnaLogPage::new_checked(&bytes[..50], false), Err(CmdError::BufferTooShort { needed: 56 }));
    assert_eq!(AnaLogPage::new_checked(&bytes[..123], false), Err(CmdError::BufferTooShort { needed: 124 }));
    // NNSIDS far beyond the buffer.
    let mut b = bytes.clone();
    b[20..24].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(
        AnaLogPage::new_checked(&b, false),
        Err(CmdError::BufferTooShort { needed: 48 + 4 * u32::MAX as usize })
    );
    // ANAGRPID 0 and a reserved state: errors at their page offsets, the other descriptors still parse.
    let mut b = bytes.clone();
    b[16] = 0; // group 1 ANAGRPID 0
    b[56 + 16] = 0x05; // group 2 state 5 (reserved)
    let page = AnaLogPage::new_checked(&b, false).unwrap();
    let items: Vec<_> = page.descriptors().collect();
    assert_eq!(items[0], Err(CmdError::InvalidField { offset: 16 }));
    assert_eq!(items[1], Err(CmdError::InvalidField { offset: 56 + 16 }));
    assert_eq!(items[2], Ok(ana_groups()[2]));
    // Bits 7:4 of the state byte are reserved and not looked at (Wireshark masks the state with 0x0F too).
    let mut b = bytes.clone();
    b[32] = 0xA1;
    let page = AnaLogPage::new_checked(&b, false).unwrap();
    assert_eq!(page.descriptors().next(), Some(Ok(ana_groups()[0])));
    // Emit: ANAGRPID 0 is refused at its offset; a short buffer says how much is needed.
    let mut groups = ana_groups();
    groups[1].anagrpid = 0;
    let mut out = vec![0u8; 200];
    assert_eq!(AnaLogPage::emit(1, &groups, false, &mut out), Err(CmdError::InvalidField { offset: 56 }));
    assert_eq!(
        AnaLogPage::emit(1, &ana_groups(), false, &mut out[..100]),
        Err(CmdError::BufferTooShort { needed: 124 })
    );
    // A descriptor cut in its fixed part needs that part first; cut in its NSIDs, it needs them all.
    assert_eq!(AnaGroupDescriptor::parse(&bytes[16..40]), Err(CmdError::BufferTooShort { needed: 32 }));
    assert_eq!(AnaGroupDescriptor::parse(&bytes[16..50]), Err(CmdError::BufferTooShort { needed: 40 }));
    assert_eq!(AnaLogHeaderView::ref_from_buf(&bytes[..15]), Err(CmdError::BufferTooShort { needed: 16 }));
    assert_eq!(AnaLogHeaderView::ref_from_buf(&bytes[..16]).map(|h| (h.chgcnt.get(), h.ngrps.get())), Ok((0x11, 3)));
    assert_eq!(AnaState::from_raw(0), None);
    assert_eq!(AnaLogPage::max_len(32, 1024), 16 + 32 * 32 + 4 * 1024);
    assert_eq!(AnaGroupDescriptorView::LEN, 32);
}

// ---- Identify Controller ANA fields ----

/// nvme_proto::notes::vectors §5.4: libnvme's `struct nvme_id_ctrl` (4096 bytes) with cmic NVME_CTRL_CMIC_MULTI_CTRL |
/// NVME_CTRL_CMIC_MULTI_ANA_REPORTING, anatt 10, anacap OPT | NON_OPT | INACCESSIBLE | PERSISTENT_LOSS | CHANGE |
/// GRPID_NO_CHG, anagrpmax 32, nanagrpid 4 and every other byte 0; the non-zero bytes, by offset.
const LIBNVME_ID_CTRL_ANA: [(usize, &[u8]); 3] = [(76, &[0x0a]), (342, &[0x0a, 0x5f, 0x20]), (348, &[0x04])];

#[test]
fn identify_ana_fields_match_libnvme() {
    let mut bytes = vec![0u8; 4096];
    for (at, run) in LIBNVME_ID_CTRL_ANA {
        bytes[at..at + run.len()].copy_from_slice(run);
    }
    let v = IdentifyControllerView::ref_from_buf(&bytes).unwrap();
    assert_eq!((v.anatt, v.anacap, v.anagrpmax.get(), v.nanagrpid.get()), (10, 0x5F, 32, 4));
    let id = IdentifyController::parse(&bytes).unwrap();
    let anacap = ANACAP_OPTIMIZED
        | ANACAP_NON_OPTIMIZED
        | ANACAP_INACCESSIBLE
        | ANACAP_PERSISTENT_LOSS
        | ANACAP_CHANGE
        | ANACAP_GRPID_STATIC;
    assert_eq!(
        (id.cmic, id.anatt, id.anacap, id.anagrpmax, id.nanagrpid),
        (CMIC_MULTI_CONTROLLER | CMIC_ANA, 10, anacap, 32, 4)
    );
    let mut out = vec![0u8; 4096];
    id.emit(&mut out).unwrap();
    assert_eq!(&out[342..352], &bytes[342..352]);
    assert_eq!(out[76], 0x0a);
    let fresh = IdentifyController::fabrics_io(1, "nqn.a");
    assert_eq!((fresh.anacap, fresh.anagrpmax, fresh.nanagrpid, fresh.cmic & CMIC_ANA), (0, 0, 0, 0));
}

// ---- Properties ----

fn discovery_entry() -> impl Strategy<Value = (u8, u8, u8, u8, [u16; 4], String, String, String, u8)> {
    (
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        any::<[u16; 4]>(),
        "[!-~]([ -~]{0,30}[!-~])?",
        "[!-~]([ -~]{0,254}[!-~])?",
        "[a-z0-9.:-]{0,223}",
        any::<u8>(),
    )
}

fn ana_group() -> impl Strategy<Value = (u32, u64, u8, Vec<u32>)> {
    (
        1..=u32::MAX,
        any::<u64>(),
        prop::sample::select(vec![0x1u8, 0x2, 0x3, 0x4, 0xF]),
        prop::collection::vec(any::<u32>(), 0..20),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn discovery_entries_round_trip(
        fields in prop::collection::vec(discovery_entry(), 0..5), genctr in any::<u64>(), rdma in any::<[u8; 32]>(),
    ) {
        let mut tsas = [0u8; 256];
        tsas[..32].copy_from_slice(&rdma);
        let entries: Vec<_> = fields
            .iter()
            .map(|(trtype, adrfam, subtype, treq, n, trsvcid, traddr, subnqn, sectype)| DiscoveryLogEntry {
                trtype: TransportType(*trtype),
                adrfam: AddressFamily(*adrfam),
                subtype: SubsystemType(*subtype),
                treq: Treq(*treq),
                portid: n[0],
                cntlid: n[1],
                asqsz: n[2],
                eflags: n[3],
                trsvcid,
                subnqn,
                traddr,
                tsas: if TransportType(*trtype) == TransportType::TCP {
                    Tsas::Tcp { sectype: TcpSecurityType(*sectype) }
                } else {
                    Tsas::Other(&tsas)
                },
            })
            .collect();
        let mut buf = vec![0u8; DiscoveryLogPage::buffer_len(entries.len())];
        prop_assert_eq!(DiscoveryLogPage::emit(genctr, &entries, &mut buf), Ok(buf.len()));
        let page = DiscoveryLogPage::new_checked(&buf).unwrap();
        prop_assert_eq!(page.header(), DiscoveryLogHeader { genctr, numrec: entries.len() as u64, recfmt: 0 });
        let back: Vec<_> = page.entries().collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(back, entries);
    }

    #[test]
    fn ana_pages_round_trip(groups in prop::collection::vec(ana_group(), 0..12), chgcnt in any::<u64>(), rgo in any::<bool>()) {
        let descriptors: Vec<_> = groups
            .iter()
            .map(|(anagrpid, chgcnt, state, nsids)| AnaGroupDescriptor {
                anagrpid: *anagrpid,
                chgcnt: *chgcnt,
                state: AnaState::from_raw(*state).unwrap(),
                nsids: NsidList::new(nsids),
            })
            .collect();
        let mut buf = vec![0u8; AnaLogPage::buffer_len(&descriptors, rgo)];
        prop_assert_eq!(AnaLogPage::emit(chgcnt, &descriptors, rgo, &mut buf), Ok(buf.len()));
        let page = AnaLogPage::new_checked(&buf, rgo).unwrap();
        prop_assert_eq!((page.chgcnt(), usize::from(page.ngrps()), page.len()), (chgcnt, descriptors.len(), buf.len()));
        let back: Vec<_> = page.descriptors().collect::<Result<_, _>>().unwrap();
        let want: Vec<_> = descriptors
            .iter()
            .map(|d| if rgo { AnaGroupDescriptor { nsids: NsidList::EMPTY, ..*d } } else { *d })
            .collect();
        prop_assert_eq!(back, want);
        // Any prefix shorter than the page is reported short, with a size that is more than the prefix.
        let cut = buf.len() / 2;
        if cut < buf.len() {
            match AnaLogPage::new_checked(&buf[..cut], rgo) {
                Err(CmdError::BufferTooShort { needed }) => prop_assert!(needed > cut && needed <= buf.len()),
                other => prop_assert!(false, "prefix of {cut} bytes gave {other:?}"),
            }
        }
    }

    #[test]
    fn identify_ana_fields_round_trip(anacap in any::<u8>(), anagrpmax in any::<u32>(), nanagrpid in any::<u32>()) {
        let mut c = IdentifyController::fabrics_io(1, "nqn.2014-08.org.example:ana");
        c.anacap = anacap;
        c.anagrpmax = anagrpmax;
        c.nanagrpid = nanagrpid;
        let mut buf = vec![0u8; 4096];
        prop_assert_eq!(c.emit(&mut buf), Ok(4096));
        prop_assert_eq!(buf[343], anacap);
        prop_assert_eq!(&buf[344..348], &anagrpmax.to_le_bytes());
        prop_assert_eq!(&buf[348..352], &nanagrpid.to_le_bytes());
        prop_assert_eq!(IdentifyController::parse(&buf), Ok(c));
    }

    #[test]
    fn log_parsers_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..4200), rgo in any::<bool>()) {
        if let Ok(page) = DiscoveryLogPage::new_checked(&bytes) {
            prop_assert_eq!(page.entries().count(), page.len());
        }
        let _ = DiscoveryLogHeader::parse(&bytes);
        prop_assert!(DiscoveryLogEntries::new(&bytes).count() <= bytes.len() / 1024 + 1);
        if let Ok(page) = AnaLogPage::new_checked(&bytes, rgo) {
            prop_assert_eq!(page.descriptors().count(), usize::from(page.ngrps()));
            prop_assert!(page.len() <= bytes.len());
        }
        let _ = AnaGroupDescriptor::parse(&bytes);
    }
}
