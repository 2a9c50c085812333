//! tshark as an independent oracle for the command layer (the captures it accepts: nvme_proto::notes::vectors §4): one
//! NVMe/TCP conversation built with our encoders (ICReq, ICResp, Connect with its data, Property Get/Set, Identify
//! Controller / Namespace / active NS list with the data we build, Set Features, Get Log Page, Cross-Controller Reset,
//! AER, Keep Alive, the Discovery and ANA log pages), written as a pcap and decoded by tshark 4.0; every decoded field
//! must equal what we built.

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command as Process, Stdio};
use std::time::Duration;

use nvme_pcap::{Direction, PcapTcpWriter, TcpFlow};
use nvme_proto::cmd::{
    AddressFamily, AnaGroupDescriptor, AnaLogPage, AnaState, AsyncEvent, AsyncEventRequest, CMIC_ANA, Cap, Cc,
    CcrLogEntry, CcrLogPage, Ccrs, Connect, ConnectData, ConnectResponse, Cqe, Cqt, CrossControllerReset,
    DiscoveryLogEntry, DiscoveryLogPage, Feature, GetLogPage, Identify, IdentifyController, IdentifyNamespace,
    KeepAlive, LbaFormat, NamespaceList, NsidList, NumberOfQueues, PropertyGet, PropertyOffset, PropertySet,
    SetFeatures, Status, StatusCode, SubsystemType, TcpSecurityType, Treq, Tsas,
};
use nvme_proto::tcp::{C2HData, CapsuleCmd, CapsuleResp, IcReq, IcResp, Params};

const SUBNQN: &str = "nqn.2014-08.org.example:cmd-oracle";
const HOSTNQN: &str = "nqn.2014-08.org.nvmexpress:uuid:1b4e28ba-2fa1-11d2-883f-0016d3cca427";

struct Conversation {
    pcap: PcapTcpWriter<Vec<u8>>,
    flow: TcpFlow,
    params: Params,
    t: u64,
    buf: Vec<u8>,
}

impl Conversation {
    fn send(&mut self, dir: Direction, len: usize) {
        self.t += 1;
        let bytes = self.buf[..len].to_vec();
        self.pcap.write(&mut self.flow, dir, Duration::from_millis(self.t), &bytes).unwrap();
    }

    fn cmd(&mut self, sqe: [u8; 64], data: &[u8]) {
        let n = CapsuleCmd { sqe, data }.emit(&self.params, &mut self.buf).unwrap();
        self.send(Direction::HostToController, n);
    }

    fn resp(&mut self, cqe: Cqe) {
        let n = CapsuleResp { cqe: cqe.to_bytes() }.emit(&self.params, &mut self.buf).unwrap();
        self.send(Direction::ControllerToHost, n);
    }

    fn data(&mut self, cccid: u16, data: &[u8]) {
        let pdu = C2HData { cccid, datao: 0, data, last: true, success: false };
        let n = pdu.emit(&self.params, &mut self.buf).unwrap();
        self.send(Direction::ControllerToHost, n);
    }
}

/// The entries of nvme_proto::notes::vectors §5.1 (the libnvme-built page of `cmd_discovery_ana.rs`).
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

fn build_capture() -> Vec<u8> {
    let req = IcReq { hpda: 0, header_digest: true, data_digest: true, maxr2t: 0 };
    let resp = IcResp { cpda: 0, header_digest: true, data_digest: true, maxh2cdata: 0x40_0000 };
    let mut c = Conversation {
        pcap: PcapTcpWriter::new(Vec::new()).unwrap(),
        flow: TcpFlow::numbered(1),
        params: Params::from_ic(&req, &resp).unwrap(),
        t: 0,
        buf: vec![0u8; 8192],
    };
    let n = req.emit(&mut c.buf).unwrap();
    c.send(Direction::HostToController, n);
    let n = resp.emit(&mut c.buf).unwrap();
    c.send(Direction::ControllerToHost, n);

    // Connect (CID 0) with its data; the answer gives CNTLID 0x0017.
    let mut cdata = vec![0u8; 1024];
    let hostid = [0x1b, 0x4e, 0x28, 0xba, 0x2f, 0xa1, 0x11, 0xd2, 0x88, 0x3f, 0x00, 0x16, 0xd3, 0xcc, 0xa4, 0x27];
    ConnectData { hostid, cntlid: 0xFFFF, subnqn: SUBNQN, hostnqn: HOSTNQN }.emit(&mut cdata).unwrap();
    c.cmd(Connect::admin(5000).to_sqe(0).to_bytes(), &cdata);
    let mut cqe = Cqe::new(0, Status::SUCCESS);
    cqe.dw0 = ConnectResponse { cntlid: 0x0017, authreq: 0 }.to_dw0();
    c.resp(cqe);

    // Property Get CAP (CID 1): MQES 127, TO 30, CSS NVM.
    c.cmd(PropertyGet::new(PropertyOffset::CAP).to_sqe(1).to_bytes(), &[]);
    let cap = Cap { mqes: 127, cqr: true, to: 30, css: 1, mpsmax: 4, ..Cap::default() }.to_u64();
    let mut cqe = Cqe::new(1, Status::SUCCESS);
    cqe.dw0 = cap as u32;
    cqe.dw1 = (cap >> 32) as u32;
    c.resp(cqe);

    // Property Set CC (CID 2).
    c.cmd(PropertySet::cc(Cc::ENABLE).to_sqe(2).to_bytes(), &[]);
    c.resp(Cqe::new(2, Status::SUCCESS));

    // Identify Controller (CID 3) with our structure.
    c.cmd(Identify::controller().to_sqe(3).to_bytes(), &[]);
    let mut ctrl = IdentifyController::fabrics_io(0x0017, SUBNQN);
    ctrl.sn = "SN-CMD-0001";
    ctrl.mn = "nvme-recovery target";
    ctrl.fr = "0.1.0";
    ctrl.maxcmd = 0x0080;
    ctrl.nn = 3;
    ctrl.ciu = 0x5C;
    ctrl.cirn = 0x0123_4567_89AB_CDEF;
    ctrl.cqt = Cqt::from_raw(1500);
    ctrl.cmic |= CMIC_ANA;
    ctrl.anatt = 10;
    ctrl.anacap = 0x5F;
    ctrl.anagrpmax = 32;
    ctrl.nanagrpid = 4;
    let mut id = vec![0u8; 4096];
    ctrl.emit(&mut id).unwrap();
    c.data(3, &id);
    c.resp(Cqe::new(3, Status::SUCCESS));

    // Identify Namespace 1 (CID 4).
    c.cmd(Identify::namespace(1).to_sqe(4).to_bytes(), &[]);
    let mut ns = IdentifyNamespace::new(0x20_0000, LbaFormat::LBA_512);
    ns.nguid = [0xA5; 16];
    ns.eui64 = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88];
    ns.emit(&mut id).unwrap();
    c.data(4, &id);
    c.resp(Cqe::new(4, Status::SUCCESS));

    // Active namespace list (CID 5).
    c.cmd(Identify::active_ns_list(0).to_sqe(5).to_bytes(), &[]);
    NamespaceList::emit(&[1, 2, 7], &mut id).unwrap();
    c.data(5, &id);
    c.resp(Cqe::new(5, Status::SUCCESS));

    // Set Features Number of Queues (CID 6): ask 8, get 4.
    c.cmd(SetFeatures::new(Feature::NumberOfQueues(NumberOfQueues::with_count(8))).to_sqe(6).to_bytes(), &[]);
    let mut cqe = Cqe::new(6, Status::SUCCESS);
    cqe.dw0 = NumberOfQueues::with_count(4).to_dword();
    c.resp(cqe);

    // Get Log Page, CCR log with RMC (CID 7), answered with one entry.
    c.cmd(GetLogPage::ccr_log(true, 16).to_sqe(7).to_bytes(), &[]);
    let mut log = [0u8; 16];
    CcrLogPage::emit(&[CcrLogEntry { icid: 2, ciu: 7, acid: 1, ccrs: Ccrs::SUCCESS, ccrf: 1 }], &mut log).unwrap();
    c.data(7, &log);
    c.resp(Cqe::new(7, Status::SUCCESS));

    // Cross-Controller Reset (CID 8), answered with CCR Limit Exceeded.
    let ccr = CrossControllerReset { icid: 0x0002, ciu: 0x07, cirn: 0x1122_3344_5566_7788 };
    c.cmd(ccr.to_sqe(8).to_bytes(), &[]);
    let mut cqe = Cqe::new(8, Status::new(StatusCode::CCR_LIMIT_EXCEEDED));
    cqe.sqhd = 6;
    c.resp(cqe);

    // AER (CID 9) completing with the CCR Completed notice.
    c.cmd(AsyncEventRequest.to_sqe(9).to_bytes(), &[]);
    let mut cqe = Cqe::new(9, Status::SUCCESS);
    cqe.dw0 = AsyncEvent::ccr_completed().to_dw0();
    c.resp(cqe);

    // Keep Alive (CID 10) and an Invalid Field answer with DNR.
    c.cmd(KeepAlive.to_sqe(10).to_bytes(), &[]);
    c.resp(Cqe::new(10, Status::new(StatusCode::INVALID_FIELD).with_dnr(true)));

    // The Discovery log page (CID 11): the two entries of nvme_proto::notes::vectors §5.1, whole page from offset 0.
    c.cmd(GetLogPage::discovery_log(0, 3072).to_sqe(11).to_bytes(), &[]);
    let mut disc = vec![0u8; DiscoveryLogPage::buffer_len(2)];
    DiscoveryLogPage::emit(42, &discovery_entries(), &mut disc).unwrap();
    c.data(11, &disc);
    c.resp(Cqe::new(11, Status::SUCCESS));

    // The ANA log page (CID 12) and the same groups read with RGO (CID 13), nvme_proto::notes::vectors §5.2 and §5.3.
    let nsids1 = [1u32, 2];
    let nsids2 = [3u32];
    let groups = [
        AnaGroupDescriptor { anagrpid: 1, chgcnt: 5, state: AnaState::Optimized, nsids: NsidList::new(&nsids1) },
        AnaGroupDescriptor { anagrpid: 2, chgcnt: 6, state: AnaState::Inaccessible, nsids: NsidList::new(&nsids2) },
        AnaGroupDescriptor { anagrpid: 3, chgcnt: 7, state: AnaState::Change, nsids: NsidList::EMPTY },
    ];
    for (cid, rgo) in [(12, false), (13, true)] {
        let len = AnaLogPage::buffer_len(&groups, rgo);
        c.cmd(GetLogPage::ana_log(rgo, len as u32).to_sqe(cid).to_bytes(), &[]);
        let mut ana = vec![0u8; len];
        AnaLogPage::emit(0x11, &groups, rgo, &mut ana).unwrap();
        c.data(cid, &ana);
        c.resp(Cqe::new(cid, Status::SUCCESS));
    }

    c.pcap.into_inner()
}

const FIELDS: &[&str] = &[
    "nvme-tcp.hdgst.status",
    "nvme-tcp.ddgst.status",
    "nvme.fabrics.cmd.connect.qid",
    "nvme.fabrics.cmd.connect.sqsize",
    "nvme.fabrics.cmd.connect.kato",
    "nvme.fabrics.cmd.connect.data.hostid",
    "nvme.fabrics.cmd.connect.data.cntrlid",
    "nvme.fabrics.cmd.connect.data.subnqn",
    "nvme.fabrics.cmd.connect.data.hostnqn",
    "nvme.fabrics.cqe.connect.cntrlid",
    "nvme.fabrics.cmd.prop_get_set.attrib.size",
    "nvme.fabrics.cmd.prop_get_set.offset",
    "nvme.fabrics.prop_get.ccap.mqes",
    "nvme.fabrics.prop_get.ccap.to",
    "nvme.fabrics.prop_get_set.cc.en",
    "nvme.fabrics.prop_get_set.cc.iosqes",
    "nvme.fabrics.prop_get_set.cc.iocqes",
    "nvme.cmd.opc",
    "nvme.cmd.identify.dword10.cns",
    "nvme.cmd.identify.ctrl.cntlid",
    "nvme.cmd.identify.ctrl.sn",
    "nvme.cmd.identify.ctrl.mn",
    "nvme.cmd.identify.ctrl.fr",
    "nvme.cmd.identify.ctrl.kas",
    "nvme.cmd.identify.ctrl.sqes",
    "nvme.cmd.identify.ctrl.cqes",
    "nvme.cmd.identify.ctrl.maxcmd",
    "nvme.cmd.identify.ctrl.nn",
    "nvme.cmd.identify.ctrl.sgls",
    "nvme.cmd.identify.ctrl.subnqn",
    "nvme.cmd.identify.ctrl.ctratt.tbkas",
    "nvme.cmd.identify.ctrl.cmic.mc",
    "nvme.cmd.identify.ctrl.nvmeof.ioccsz",
    "nvme.cmd.identify.ctrl.nvmeof.iorcsz",
    "nvme.cmd.identify.ctrl.nvmeof.icdoff",
    "nvme.cmd.identify.ctrl.nvmeof.msdbd",
    "nvme.cmd.identify.ns.nsze",
    "nvme.cmd.identify.ns.ncap",
    "nvme.cmd.identify.ns.nlbaf",
    "nvme.cmd.identify.ns.nmic",
    "nvme.cmd.identify.ns.nguid",
    "nvme.cmd.identify.ns.eui64",
    "nvme.cmd.identify.ns.lbaf",
    "nvme.cmd.identify.nslist.nsid",
    "nvme.cmd.set_features.dword10.fid",
    "nvme.cmd.set_features.dword11.nq.nsqr",
    "nvme.cmd.set_features.dword11.nq.ncqr",
    "nvme.cqe.dword0.set_features.nq.nsqa",
    "nvme.cmd.get_logpage.dword10.id",
    "nvme.cmd.get_logpage.dword10.lsp",
    "nvme.cmd.get_logpage.dword10.rae",
    "nvme.cmd.get_logpage.numd",
    "nvme.cmd.dword10",
    "nvme.cmd.dword12",
    "nvme.cmd.dword13",
    "nvme.cqe.status",
    "nvme.cqe.status.sc",
    "nvme.cqe.status.sct",
    "nvme.cqe.status.dnr",
    "nvme.cqe.sqhd",
    "nvme.cqe.dword0.aev.aet",
    "nvme.cqe.dword0.aev.aei",
    "nvme.cqe.dword0.aev.lpi",
    "nvme.cmd.identify.ctrl.cmic.ana",
    "nvme.cmd.identify.ctrl.anatt",
    "nvme.cmd.identify.ctrl.anacap",
    "nvme.cmd.identify.ctrl.anacap.osr",
    "nvme.cmd.identify.ctrl.anacap.csr",
    "nvme.cmd.identify.ctrl.anacap.panagrpid",
    "nvme.cmd.identify.ctrl.anacap.nzpanagrpid",
    "nvme.cmd.identify.ctrl.anagrpmax",
    "nvme.cmd.identify.ctrl.nanagrpid",
    "nvme.cmd.get_logpage.lpo",
    "nvme.cmd.get_logpage.identify.genctr",
    "nvme.cmd.get_logpage.identify.numrec",
    "nvme.cmd.get_logpage.identify.recfmt",
    "nvme.cmd.get_logpage.identify.rcrd.trtype",
    "nvme.cmd.get_logpage.identify.rcrd.adrfam",
    "nvme.cmd.get_logpage.identify.rcrd.subtype",
    "nvme.cmd.get_logpage.identify.rcrd.treq",
    "nvme.cmd.get_logpage.identify.rcrd.portid",
    "nvme.cmd.get_logpage.identify.rcrd.cntlid",
    "nvme.cmd.get_logpage.identify.rcrd.asqsz",
    "nvme.cmd.get_logpage.identify.rcrd.trsvcid",
    "nvme.cmd.get_logpage.identify.rcrd.subnqn",
    "nvme.cmd.get_logpage.identify.rcrd.traddr",
    "nvme.cmd.get_logpage.identify.rcrd.tsas.tcp_sectype",
    "nvme.cmd.get_logpage.ana.chcnt",
    "nvme.cmd.get_logpage.ana.ngd",
    "nvme.cmd.get_logpage.ana.grp.id",
    "nvme.cmd.get_logpage.ana.grp.nns",
    "nvme.cmd.get_logpage.ana.grp.chcnt",
    "nvme.cmd.get_logpage.ana.grp.anas.state",
    "nvme.cmd.get_logpage.ana.grp.nsid",
];

/// Runs tshark on the capture; returns, per field, every value it printed (all frames, in order).
fn decode(pcap: &[u8]) -> HashMap<String, Vec<String>> {
    let mut args: Vec<String> = ["-r", "-", "-o", "nvme-tcp.check_hdgst:TRUE", "-o", "nvme-tcp.check_ddgst:TRUE"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(["-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=|"].map(String::from));
    for f in FIELDS {
        args.push("-e".into());
        args.push(f.to_string());
    }
    let mut child = Process::new("tshark")
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run tshark");
    child.stdin.take().unwrap().write_all(pcap).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "tshark failed");
    let text = String::from_utf8(out.stdout).unwrap();
    let mut map: HashMap<String, Vec<String>> = HashMap::new();
    for line in text.lines() {
        for (field, value) in FIELDS.iter().zip(line.split('\t')) {
            for v in value.split('|').filter(|v| !v.is_empty()) {
                map.entry(field.to_string()).or_default().push(v.to_string());
            }
        }
    }
    map
}

/// A number as tshark prints it: decimal, or hex with 0x.
fn num(s: &str) -> u64 {
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).unwrap_or_else(|_| panic!("bad hex {s}")),
        None => s.parse().unwrap_or_else(|_| panic!("bad number {s}")),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn nums(map: &HashMap<String, Vec<String>>, field: &str) -> Vec<u64> {
    map.get(field).unwrap_or_else(|| panic!("tshark printed no {field}")).iter().map(|s| num(s)).collect()
}

fn strs<'m>(map: &'m HashMap<String, Vec<String>>, field: &str) -> Vec<&'m str> {
    map.get(field).unwrap_or_else(|| panic!("tshark printed no {field}")).iter().map(String::as_str).collect()
}

#[test]
#[ignore = "needs tshark: apt-get install tshark"]
fn tshark_decodes_our_commands_and_structures() {
    let pcap = build_capture();
    if let Ok(path) = std::env::var("NVME_CMD_TSHARK_PCAP") {
        std::fs::write(path, &pcap).unwrap();
    }
    let m = decode(&pcap);

    // Every digest checked is Good (1).
    assert!(nums(&m, "nvme-tcp.hdgst.status").iter().all(|&s| s == 1));
    assert!(nums(&m, "nvme-tcp.ddgst.status").iter().all(|&s| s == 1));
    assert!(m["nvme-tcp.hdgst.status"].len() >= 25);

    // Connect and its data.
    assert_eq!(nums(&m, "nvme.fabrics.cmd.connect.qid"), [0]);
    assert_eq!(nums(&m, "nvme.fabrics.cmd.connect.sqsize"), [31]);
    assert_eq!(nums(&m, "nvme.fabrics.cmd.connect.kato"), [5000]);
    assert_eq!(nums(&m, "nvme.fabrics.cmd.connect.data.cntrlid"), [0xFFFF]);
    assert_eq!(strs(&m, "nvme.fabrics.cmd.connect.data.subnqn"), [SUBNQN]);
    assert_eq!(strs(&m, "nvme.fabrics.cmd.connect.data.hostnqn"), [HOSTNQN]);
    assert_eq!(
        strs(&m, "nvme.fabrics.cmd.connect.data.hostid")[0].replace([':', '-'], ""),
        "1b4e28ba2fa111d2883f0016d3cca427"
    );
    assert_eq!(nums(&m, "nvme.fabrics.cqe.connect.cntrlid"), [0x0017]);

    // Property Get CAP (8 bytes, offset 0) and Property Set CC (4 bytes, offset 0x14).
    assert_eq!(nums(&m, "nvme.fabrics.cmd.prop_get_set.attrib.size"), [1, 0]);
    assert_eq!(nums(&m, "nvme.fabrics.cmd.prop_get_set.offset"), [0x00, 0x14]);
    assert_eq!(nums(&m, "nvme.fabrics.prop_get.ccap.mqes"), [127]);
    assert_eq!(nums(&m, "nvme.fabrics.prop_get.ccap.to"), [30]);
    assert_eq!(nums(&m, "nvme.fabrics.prop_get_set.cc.en"), [1]);
    assert_eq!(nums(&m, "nvme.fabrics.prop_get_set.cc.iosqes"), [6]);
    assert_eq!(nums(&m, "nvme.fabrics.prop_get_set.cc.iocqes"), [4]);

    // Identify commands: CNS 1, 0, 2.
    assert_eq!(nums(&m, "nvme.cmd.identify.dword10.cns"), [1, 0, 2]);

    // Identify Controller as we built it.
    assert_eq!(nums(&m, "nvme.cmd.identify.ctrl.cntlid"), [0x0017]);
    assert_eq!(strs(&m, "nvme.cmd.identify.ctrl.sn")[0].trim_end(), "SN-CMD-0001");
    assert_eq!(strs(&m, "nvme.cmd.identify.ctrl.mn")[0].trim_end(), "nvme-recovery target");
    // tshark 4.0 prints FR as bytes (hex), space padding included.
    assert_eq!(strs(&m, "nvme.cmd.identify.ctrl.fr")[0].replace(':', ""), hex(b"0.1.0   "));
    assert_eq!(nums(&m, "nvme.cmd.identify.ctrl.kas"), [10]);
    assert_eq!(nums(&m, "nvme.cmd.identify.ctrl.sqes"), [0x66]);
    assert_eq!(nums(&m, "nvme.cmd.identify.ctrl.cqes"), [0x44]);
    assert_eq!(nums(&m, "nvme.cmd.identify.ctrl.maxcmd"), [0x80]);
    assert_eq!(nums(&m, "nvme.cmd.identify.ctrl.nn"), [3]);
    assert_eq!(nums(&m, "nvme.cmd.identify.ctrl.sgls"), [0x0030_0001]);
    assert_eq!(strs(&m, "nvme.cmd.identify.ctrl.subnqn"), [SUBNQN]);
    assert_eq!(nums(&m, "nvme.cmd.identify.ctrl.ctratt.tbkas"), [1]);
    assert_eq!(nums(&m, "nvme.cmd.identify.ctrl.cmic.mc"), [1]);
    assert_eq!(nums(&m, "nvme.cmd.identify.ctrl.nvmeof.ioccsz"), [4]);
    assert_eq!(nums(&m, "nvme.cmd.identify.ctrl.nvmeof.iorcsz"), [1]);
    assert_eq!(nums(&m, "nvme.cmd.identify.ctrl.nvmeof.icdoff"), [0]);
    assert_eq!(nums(&m, "nvme.cmd.identify.ctrl.nvmeof.msdbd"), [1]);

    // Identify Namespace and the active namespace list.
    assert_eq!(nums(&m, "nvme.cmd.identify.ns.nsze"), [0x20_0000]);
    assert_eq!(nums(&m, "nvme.cmd.identify.ns.ncap"), [0x20_0000]);
    assert_eq!(nums(&m, "nvme.cmd.identify.ns.nlbaf"), [0]);
    assert_eq!(nums(&m, "nvme.cmd.identify.ns.nmic"), [1]);
    assert_eq!(strs(&m, "nvme.cmd.identify.ns.nguid")[0].replace(':', ""), "a5".repeat(16));
    assert_eq!(strs(&m, "nvme.cmd.identify.ns.eui64")[0].replace(':', ""), "1122334455667788");
    assert_eq!(nums(&m, "nvme.cmd.identify.ns.lbaf"), [0x0009_0000]);
    assert_eq!(nums(&m, "nvme.cmd.identify.nslist.nsid"), [1, 2, 7]);

    // Set Features Number of Queues: asked 8 (7), got 4 (3).
    assert_eq!(nums(&m, "nvme.cmd.set_features.dword10.fid"), [0x07]);
    assert_eq!(nums(&m, "nvme.cmd.set_features.dword11.nq.nsqr"), [7]);
    assert_eq!(nums(&m, "nvme.cmd.set_features.dword11.nq.ncqr"), [7]);
    assert_eq!(nums(&m, "nvme.cqe.dword0.set_features.nq.nsqa"), [3]);

    // Get Log Page: the CCR log (LID 0x1E, LSP 1 = RMC, NUMD 3: 16 bytes), the Discovery log (0x70, 3072 bytes),
    // the ANA log (0x0C, 124 bytes) and the ANA log with RGO (LSP 1, 112 bytes); RAE 0 and offset 0 for all.
    assert_eq!(nums(&m, "nvme.cmd.get_logpage.dword10.id"), [0x1E, 0x70, 0x0C, 0x0C]);
    assert_eq!(nums(&m, "nvme.cmd.get_logpage.dword10.lsp"), [1, 0, 0, 1]);
    assert_eq!(nums(&m, "nvme.cmd.get_logpage.dword10.rae"), [0, 0, 0, 0]);
    assert_eq!(nums(&m, "nvme.cmd.get_logpage.numd"), [3, 767, 30, 27]);
    assert_eq!(nums(&m, "nvme.cmd.get_logpage.lpo"), [0, 0, 0, 0]);

    // Identify Controller ANA fields (bytes 76 bit 3, 342, 343, 347:344, 351:348).
    assert_eq!(nums(&m, "nvme.cmd.identify.ctrl.cmic.ana"), [1]);
    assert_eq!(nums(&m, "nvme.cmd.identify.ctrl.anatt"), [10]);
    assert_eq!(nums(&m, "nvme.cmd.identify.ctrl.anacap"), [0x5F]);
    assert_eq!(nums(&m, "nvme.cmd.identify.ctrl.anacap.osr"), [1]);
    assert_eq!(nums(&m, "nvme.cmd.identify.ctrl.anacap.csr"), [1]);
    assert_eq!(nums(&m, "nvme.cmd.identify.ctrl.anacap.panagrpid"), [1]);
    assert_eq!(nums(&m, "nvme.cmd.identify.ctrl.anacap.nzpanagrpid"), [0]);
    assert_eq!(nums(&m, "nvme.cmd.identify.ctrl.anagrpmax"), [32]);
    assert_eq!(nums(&m, "nvme.cmd.identify.ctrl.nanagrpid"), [4]);

    // The Discovery log page: header and both entries as we built them. Wireshark 4.0 names it "identify" and
    // knows neither EFLAGS nor the TREQ bit layout (it shows TREQ as a raw byte, which is what is compared).
    assert_eq!(nums(&m, "nvme.cmd.get_logpage.identify.genctr"), [42]);
    assert_eq!(nums(&m, "nvme.cmd.get_logpage.identify.numrec"), [2]);
    assert_eq!(nums(&m, "nvme.cmd.get_logpage.identify.recfmt"), [0]);
    assert_eq!(nums(&m, "nvme.cmd.get_logpage.identify.rcrd.trtype"), [3, 3]);
    assert_eq!(nums(&m, "nvme.cmd.get_logpage.identify.rcrd.adrfam"), [1, 2]);
    assert_eq!(nums(&m, "nvme.cmd.get_logpage.identify.rcrd.subtype"), [2, 3]);
    assert_eq!(nums(&m, "nvme.cmd.get_logpage.identify.rcrd.treq"), [0x06, 0x01]);
    assert_eq!(nums(&m, "nvme.cmd.get_logpage.identify.rcrd.portid"), [1, 2]);
    assert_eq!(nums(&m, "nvme.cmd.get_logpage.identify.rcrd.cntlid"), [0xFFFF, 0xFFFF]);
    assert_eq!(nums(&m, "nvme.cmd.get_logpage.identify.rcrd.asqsz"), [32, 32]);
    let trimmed = |f: &str| strs(&m, f).iter().map(|s| s.trim_end().to_string()).collect::<Vec<_>>();
    assert_eq!(trimmed("nvme.cmd.get_logpage.identify.rcrd.trsvcid"), ["4420", "8009"]);
    assert_eq!(trimmed("nvme.cmd.get_logpage.identify.rcrd.traddr"), ["192.168.10.2", "fd00::2"]);
    assert_eq!(
        strs(&m, "nvme.cmd.get_logpage.identify.rcrd.subnqn"),
        ["nqn.2014-08.org.example:ana-array", "nqn.2014-08.org.nvmexpress.discovery"]
    );
    assert_eq!(nums(&m, "nvme.cmd.get_logpage.identify.rcrd.tsas.tcp_sectype"), [0, 2]);

    // The ANA log page, then its RGO read: the same header and groups, NNSIDS 0 and no NSIDs in the second.
    assert_eq!(nums(&m, "nvme.cmd.get_logpage.ana.chcnt"), [0x11, 0x11]);
    assert_eq!(nums(&m, "nvme.cmd.get_logpage.ana.ngd"), [3, 3]);
    assert_eq!(nums(&m, "nvme.cmd.get_logpage.ana.grp.id"), [1, 2, 3, 1, 2, 3]);
    assert_eq!(nums(&m, "nvme.cmd.get_logpage.ana.grp.nns"), [2, 1, 0, 0, 0, 0]);
    assert_eq!(nums(&m, "nvme.cmd.get_logpage.ana.grp.chcnt"), [5, 6, 7, 5, 6, 7]);
    assert_eq!(nums(&m, "nvme.cmd.get_logpage.ana.grp.anas.state"), [0x1, 0x3, 0xF, 0x1, 0x3, 0xF]);
    assert_eq!(nums(&m, "nvme.cmd.get_logpage.ana.grp.nsid"), [1, 2, 3]);

    // Cross-Controller Reset: tshark 4.0 does not know opcode 0x38, but shows the raw dwords.
    assert!(nums(&m, "nvme.cmd.opc").contains(&0x38));
    assert!(nums(&m, "nvme.cmd.dword10").contains(&0x0007_0002));
    assert!(nums(&m, "nvme.cmd.dword12").contains(&0x5566_7788));
    assert!(nums(&m, "nvme.cmd.dword13").contains(&0x1122_3344));

    // Status words: CCR Limit Exceeded (SCT 1 / SC 0x41, word 0x0282) and Invalid Field + DNR (0x8004).
    let words = nums(&m, "nvme.cqe.status");
    assert!(words.contains(&0x0282), "{words:x?}");
    assert!(words.contains(&0x8004), "{words:x?}");
    let sc = nums(&m, "nvme.cqe.status.sc");
    let sct = nums(&m, "nvme.cqe.status.sct");
    let i = words.iter().position(|&w| w == 0x0282).unwrap();
    assert_eq!((sct[i], sc[i]), (1, 0x41));
    assert!(nums(&m, "nvme.cqe.sqhd").contains(&6));

    // The AER completion: Notice (2), AEI 0xF4, log page 0x1E.
    assert_eq!(nums(&m, "nvme.cqe.dword0.aev.aet"), [2]);
    assert_eq!(nums(&m, "nvme.cqe.dword0.aev.aei"), [0xF4]);
    assert_eq!(nums(&m, "nvme.cqe.dword0.aev.lpi"), [0x1E]);
}
