//! NVMe/TCP PDUs, SQEs, CQEs and command data as ordered JSON objects, fields by name.

use nvme_proto::cmd::{
    AdminCommand, AdminOpcode, AnaLogHeaderView, AnaLogPage, AsyncEvent, AsyncEventType, CTRATT_TBKAS, CcrLogPage,
    CcrResult, Ccrs, CmdError, Cns, Command, CommandContext, ConnectData, ConnectInvalidParameters, ConnectResponse,
    Cqe, CrossControllerReset, DISCOVERY_RECORD_LEN, DiscoveryLogEntries, DiscoveryLogEntry, DiscoveryLogHeader,
    DiscoveryLogPage, FabricsCommand, FabricsType, Feature, FeatureId, GetLogPage, IdentifyControllerView,
    IdentifyNamespace, IoCommand, IoOpcode, LSP_ANA_RGO, LSP_RMC, LogId, LostHostCommunicationLogPage, NamespaceList,
    OAES_CCRCN, OAES_LHCN, PropertyOffset, PropertySize, QueueKind, ReadWrite, SecureChannel, Sqe, Status, Tsas,
    parse_ascii_field, parse_nqn_field,
};
use nvme_proto::tcp::{Fes, IcReq, IcResp, PduFlags, TermReq};

use crate::json::{J, Obj, hex64};

/// Names of the FLAGS bits set in `flags`.
pub fn flag_names(flags: PduFlags) -> J {
    let mut out: Vec<J> =
        PduFlags::NAMES.iter().filter(|(f, _)| flags.contains(*f)).map(|(_, n)| J::from(*n)).collect();
    if flags.0 & 0xF0 != 0 {
        out.push(J::S(format!("reserved {:#04x}", flags.0 & 0xF0)));
    }
    J::A(out)
}

/// ICReq fields.
pub fn ic_req(o: &mut Obj, r: &IcReq) {
    o.put("pfv", 0u8).put("hpda", r.hpda).put("hdgst_enable", r.header_digest).put("ddgst_enable", r.data_digest);
    o.put("maxr2t", r.maxr2t);
}

/// ICResp fields.
pub fn ic_resp(o: &mut Obj, r: &IcResp) {
    o.put("pfv", 0u8).put("cpda", r.cpda).put("hdgst_enable", r.header_digest).put("ddgst_enable", r.data_digest);
    o.put("maxh2cdata", r.maxh2cdata);
}

/// TermReq fields.
pub fn term_req(o: &mut Obj, t: &TermReq<'_>) {
    o.put("fes", t.fes.0).put("fes_name", t.fes.name()).put("fei", t.fei);
    let fei_meaning = match t.fes {
        Fes::INVALID_HEADER_FIELD | Fes::UNSUPPORTED_PARAMETER => "field offset",
        Fes::HEADER_DIGEST_ERROR => "received header digest",
        _ => "reserved",
    };
    o.put("fei_meaning", fei_meaning);
    o.put("error_header", hex_bytes(t.data));
}

/// Bytes as a hex string (no separators).
pub fn hex_bytes(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The name of an opcode in the context of its queue.
pub fn command_context(queue: QueueKind, sqe: &Sqe) -> CommandContext {
    if sqe.opcode == AdminOpcode::FABRICS.0 {
        CommandContext::Fabrics(FabricsType(sqe.fctype()))
    } else {
        match queue {
            QueueKind::Admin => CommandContext::Admin(AdminOpcode(sqe.opcode)),
            QueueKind::Io => CommandContext::Io(IoOpcode(sqe.opcode)),
        }
    }
}

/// A command's name ("Cross-Controller Reset", "Connect", "Read", "opcode 0x93").
pub fn context_name(ctx: CommandContext) -> String {
    let (name, raw, what) = match ctx {
        CommandContext::Admin(op) => (op.name(), op.0, "admin opcode"),
        CommandContext::Io(op) => (op.name(), op.0, "I/O opcode"),
        CommandContext::Fabrics(t) => (t.name(), t.0, "Fabrics command type"),
    };
    name.map_or_else(|| format!("{what} {raw:#04x}"), str::to_string)
}

fn cns_name(cns: Cns) -> Option<&'static str> {
    Some(match cns.0 {
        0x00 => "Namespace",
        0x01 => "Controller",
        0x02 => "Active Namespace ID list",
        0x03 => "Namespace Identification Descriptor list",
        0x04 => "NVM Set list",
        0x05 => "I/O Command Set specific Namespace",
        0x06 => "I/O Command Set specific Controller",
        0x07 => "I/O Command Set specific active Namespace ID list",
        0x08 => "I/O Command Set independent Namespace",
        0x13 => "Controller list",
        _ => return None,
    })
}

fn feature_name(fid: FeatureId) -> Option<&'static str> {
    Some(match fid.0 {
        0x01 => "Arbitration",
        0x02 => "Power Management",
        0x04 => "Temperature Threshold",
        0x05 => "Error Recovery",
        0x06 => "Volatile Write Cache",
        0x07 => "Number of Queues",
        0x08 => "Interrupt Coalescing",
        0x0B => "Asynchronous Event Configuration",
        0x0C => "Autonomous Power State Transition",
        0x0D => "Host Memory Buffer",
        0x0E => "Timestamp",
        0x0F => "Keep Alive Timer",
        0x16 => "Host Behavior Support",
        0x80 => "Software Progress Marker",
        0x81 => "Host Identifier",
        _ => return None,
    })
}

fn property_name(offset: PropertyOffset) -> Option<&'static str> {
    Some(match offset {
        PropertyOffset::CAP => "CAP",
        PropertyOffset::VS => "VS",
        PropertyOffset::CC => "CC",
        PropertyOffset::CSTS => "CSTS",
        PropertyOffset::NSSR => "NSSR",
        _ => return None,
    })
}

fn size_bytes(size: PropertySize) -> usize {
    size.bytes()
}

fn feature(o: &mut Obj, f: &Feature) {
    let fid = f.fid();
    o.put("fid", fid.0).put("feature", feature_name(fid));
    match f {
        Feature::NumberOfQueues(q) => {
            o.put("nsq", q.nsq).put("ncq", q.ncq);
        }
        Feature::AsyncEventConfig(a) => {
            o.put("aec", a.0).put("ccrcn", a.0 & nvme_proto::cmd::AEC_CCRCN != 0);
        }
        Feature::KeepAliveTimer(k) => {
            o.put("kato_ms", k.kato_ms);
        }
        Feature::Other { dwords, .. } => {
            o.put("cdw11", dwords[0]);
        }
    }
}

fn raw_dwords(o: &mut Obj, sqe: &Sqe) {
    for (n, v) in [(10, sqe.cdw10), (11, sqe.cdw11), (12, sqe.cdw12), (13, sqe.cdw13), (14, sqe.cdw14), (15, sqe.cdw15)]
    {
        o.put(&format!("cdw{n}"), v);
    }
}

fn read_write(o: &mut Obj, rw: &ReadWrite) {
    o.put("slba", rw.slba).put("nlb", rw.nlb).put("blocks", rw.blocks()).put("fua", rw.fua());
    o.put("data_len", rw.dptr.length);
}

fn log_page(o: &mut Obj, g: &GetLogPage) {
    o.put("lid", g.lid.0).put("log", g.lid.name()).put("lsp", g.lsp);
    if g.lid == LogId::CROSS_CONTROLLER_RESET {
        o.put("rmc", g.lsp & LSP_RMC != 0);
    }
    if g.lid == LogId::ANA {
        o.put("rgo", g.lsp & LSP_ANA_RGO != 0);
    }
    o.put("rae", g.rae).put("numd", g.numd).put("bytes", g.transfer_len()).put("lpo", g.lpo);
    o.put("lsi", g.lsi).put("csi", g.csi);
}

fn ccr(o: &mut Obj, c: &CrossControllerReset) {
    o.put("icid", c.icid).put("ciu", c.ciu).put("cirn", hex64(c.cirn));
}

/// The SQE as a JSON object: opcode, name, CID, NSID and the parsed command's fields (raw CDW10..15 for commands
/// without a parser). `command` is the parse result, `None` when the SQE did not parse (then `error` says why).
pub fn sqe(queue: QueueKind, sqe: &Sqe, command: Result<&Command, String>) -> Obj {
    let mut o = Obj::new();
    let ctx = command_context(queue, sqe);
    o.put("opcode", sqe.opcode);
    if let CommandContext::Fabrics(t) = ctx {
        o.put("fctype", t.0);
    }
    o.put("name", context_name(ctx)).put("queue", if queue == QueueKind::Admin { "admin" } else { "io" });
    o.put("cid", sqe.cid).put("nsid", sqe.nsid).put("flags", sqe.flags.0);
    let command = match command {
        Ok(c) => c,
        Err(e) => {
            o.put("error", e);
            raw_dwords(&mut o, sqe);
            return o;
        }
    };
    match command {
        Command::Admin(a) => match a {
            AdminCommand::GetLogPage(g) => log_page(&mut o, g),
            AdminCommand::Identify(i) => {
                o.put("cns", i.cns.0).put("cns_name", cns_name(i.cns)).put("cntid", i.cntid).put("csi", i.csi);
            }
            AdminCommand::Abort(a) => {
                o.put("abort_sqid", a.sqid).put("abort_cid", a.cid);
            }
            AdminCommand::SetFeatures(s) => {
                feature(&mut o, &s.feature);
                o.put("sv", s.sv);
            }
            AdminCommand::GetFeatures(g) => {
                o.put("fid", g.fid.0).put("feature", feature_name(g.fid)).put("sel", g.sel.0);
            }
            AdminCommand::AsyncEventRequest(_) | AdminCommand::KeepAlive(_) => {}
            AdminCommand::CrossControllerReset(c) => ccr(&mut o, c),
            AdminCommand::Fabrics(f) => fabrics(&mut o, f),
            AdminCommand::Unknown(s) => raw_dwords(&mut o, s),
        },
        Command::Io(i) => match i {
            IoCommand::Read(rw) | IoCommand::Write(rw) => read_write(&mut o, rw),
            IoCommand::Flush(_) => {}
            IoCommand::Fabrics(f) => fabrics(&mut o, f),
            IoCommand::Unknown(s) => raw_dwords(&mut o, s),
        },
    }
    o
}

fn fabrics(o: &mut Obj, f: &FabricsCommand) {
    match f {
        FabricsCommand::Connect(c) => {
            o.put("recfmt", c.recfmt).put("qid", c.qid).put("sqsize", c.sqsize).put("cattr", c.cattr);
            o.put("kato_ms", c.kato_ms);
        }
        FabricsCommand::PropertyGet(p) => {
            o.put("offset", p.offset.0).put("property", property_name(p.offset)).put("size", size_bytes(p.size));
        }
        FabricsCommand::PropertySet(p) => {
            o.put("offset", p.offset.0).put("property", property_name(p.offset)).put("size", size_bytes(p.size));
            o.put("value", hex64(p.value));
            if p.offset == PropertyOffset::CC {
                let cc = nvme_proto::cmd::Cc::from_u32(p.value as u32);
                let mut d = Obj::new();
                d.put("en", cc.en).put("css", cc.css).put("mps", cc.mps).put("ams", cc.ams).put("shn", cc.shn);
                d.put("iosqes", cc.iosqes).put("iocqes", cc.iocqes);
                o.put("cc", d);
            }
        }
        FabricsCommand::Authentication(a) => {
            o.put("secp", a.secp).put("spsp0", a.spsp0).put("spsp1", a.spsp1).put("length", a.length);
        }
        FabricsCommand::Disconnect(d) => {
            o.put("recfmt", d.recfmt);
        }
        FabricsCommand::Unknown(s) => raw_dwords(o, s),
    }
}

/// The Connect data (1024 bytes in the capsule).
pub fn connect_data(data: &[u8]) -> Obj {
    let mut o = Obj::new();
    match ConnectData::parse(data) {
        Ok(d) => {
            o.put("hostid", hex_bytes(&d.hostid)).put("cntlid", d.cntlid).put("subnqn", d.subnqn);
            o.put("hostnqn", d.hostnqn);
        }
        Err(e) => {
            o.put("error", format!("Connect data: {e}"));
        }
    }
    o
}

fn status(s: &Status, ctx: Option<CommandContext>) -> Obj {
    let mut o = Obj::new();
    let name = s.code.name(ctx).map(str::to_string).unwrap_or_else(|| {
        if s.code.sct.0 == 1 && ctx.is_none() {
            "command specific (command unknown)".to_string()
        } else {
            "unknown".to_string()
        }
    });
    o.put("word", s.to_word()).put("sct", s.code.sct.0).put("sc", s.code.sc).put("name", name);
    o.put("crd", s.crd).put("more", s.more).put("dnr", s.dnr);
    o
}

fn event_name(e: &AsyncEvent) -> Option<&'static str> {
    if e.is_ccr_completed() {
        return Some("Cross-Controller Reset Completed");
    }
    if e.is_lost_host_communication() {
        return Some("Lost Host Communication");
    }
    if e.aet != AsyncEventType::NOTICE {
        return None;
    }
    Some(match e.aei {
        0x00 => "Namespace Attribute Changed",
        0x01 => "Firmware Activation Starting",
        0x02 => "Telemetry Log Changed",
        0x03 => "Asymmetric Namespace Access Change",
        0x04 => "Predictable Latency Event Aggregate Log Change",
        0x05 => "LBA Status Information Alert",
        0x06 => "Endurance Group Event Aggregate Log Change",
        0xF0 => "Discovery Log Page Change",
        _ => return None,
    })
}

fn aet_name(t: AsyncEventType) -> Option<&'static str> {
    Some(match t.0 {
        0 => "Error",
        1 => "SMART / Health",
        2 => "Notice",
        3 => "Immediate",
        4 => "One-Shot",
        6 => "I/O Command Set specific",
        7 => "Vendor specific",
        _ => return None,
    })
}

/// The CQE as a JSON object; `command` is the command it completes, when the capture showed it.
pub fn cqe(c: &Cqe, command: Option<(&Command, CommandContext)>) -> Obj {
    let mut o = Obj::new();
    o.put("cid", c.cid).put("sqhd", c.sqhd).put("sqid", c.sqid).put("dw0", c.dw0).put("dw1", c.dw1);
    o.put("status", status(&c.status, command.map(|(_, ctx)| ctx)));
    o.put("success", c.status.is_success());
    let Some((cmd, ctx)) = command else {
        o.put("for", J::Null);
        return o;
    };
    o.put("for", context_name(ctx));
    let fab = |f: &FabricsCommand, o: &mut Obj| match f {
        FabricsCommand::Connect(_) => {
            if c.status.is_success() {
                let r = ConnectResponse::from_dw0(c.dw0);
                o.put("cntlid", r.cntlid).put("authreq", r.authreq).put("atr", r.authentication_required());
                o.put("ascr", r.authreq & ConnectResponse::AUTHREQ_ASCR != 0);
            } else if c.status.code.sct.0 == 1 && c.status.code.sc == 0x82 {
                let p = ConnectInvalidParameters::from_dw0(c.dw0);
                o.put("ipo", p.ipo).put("iattr", matches!(p.location, nvme_proto::cmd::ParameterLocation::ConnectData));
            }
        }
        FabricsCommand::PropertyGet(p) if c.status.is_success() => {
            let v = if p.size == PropertySize::Eight { c.result_u64() } else { u64::from(c.dw0) };
            o.put("property", property_name(p.offset)).put("value", hex64(v));
            match p.offset {
                PropertyOffset::CSTS => {
                    let s = nvme_proto::cmd::Csts::from_u32(v as u32);
                    let mut d = Obj::new();
                    d.put("rdy", s.rdy).put("cfs", s.cfs).put("shst", s.shst).put("nssro", s.nssro);
                    o.put("csts", d);
                }
                PropertyOffset::CAP => {
                    let cap = nvme_proto::cmd::Cap::from_u64(v);
                    let mut d = Obj::new();
                    d.put("mqes", cap.mqes).put("to", cap.to).put("css", cap.css).put("mpsmin", cap.mpsmin);
                    o.put("cap", d);
                }
                PropertyOffset::VS => {
                    o.put("version", format!("{}.{}.{}", v >> 16, (v >> 8) & 0xFF, v & 0xFF));
                }
                _ => {}
            }
        }
        _ => {}
    };
    match cmd {
        Command::Admin(AdminCommand::CrossControllerReset(_)) if c.status.is_success() => {
            let r = CcrResult::from_dw0(c.dw0);
            let mut d = Obj::new();
            d.put("irs", r.irs).put("v", r.v).put("clri", r.clri);
            o.put("ccr_result", d);
        }
        Command::Admin(AdminCommand::AsyncEventRequest(_)) if c.status.is_success() => {
            let e = AsyncEvent::from_dw0(c.dw0);
            let mut d = Obj::new();
            d.put("aet", e.aet.0).put("aet_name", aet_name(e.aet)).put("aei", e.aei).put("event", event_name(&e));
            d.put("lid", e.lid.0).put("log", e.lid.name());
            o.put("event", d);
        }
        Command::Admin(AdminCommand::GetFeatures(g)) if c.status.is_success() => {
            let mut d = Obj::new();
            feature(&mut d, &g.result(c.dw0));
            o.put("feature", d);
        }
        Command::Admin(AdminCommand::SetFeatures(s))
            if c.status.is_success() && s.feature.fid() == FeatureId::NUMBER_OF_QUEUES =>
        {
            o.put("nsqa", c.dw0 & 0xFFFF).put("ncqa", c.dw0 >> 16);
        }
        Command::Admin(AdminCommand::Fabrics(f)) | Command::Io(IoCommand::Fabrics(f)) => fab(f, &mut o),
        _ => {}
    }
    o
}

/// The data of a completed controller-to-host transfer, decoded for the command that asked for it; `None` for
/// data this tool does not decode (reads, other log pages).
pub fn c2h_data(cmd: &Command, data: &[u8]) -> Option<(&'static str, Obj)> {
    match cmd {
        Command::Admin(AdminCommand::Identify(i)) => match i.cns {
            Cns::CONTROLLER => Some(("identify_controller", identify_controller(data))),
            Cns::NAMESPACE => Some(("identify_namespace", identify_namespace(data))),
            Cns::ACTIVE_NS_LIST => {
                let mut o = Obj::new();
                match NamespaceList::new_checked(data) {
                    Ok(l) => {
                        o.put("nsids", J::A(l.iter().map(J::from).collect()));
                    }
                    Err(e) => {
                        o.put("error", format!("namespace list: {e}"));
                    }
                }
                Some(("active_ns_list", o))
            }
            _ => None,
        },
        Command::Admin(AdminCommand::GetLogPage(g)) if g.lid == LogId::CROSS_CONTROLLER_RESET => {
            Some(("ccr_log", ccr_log(data)))
        }
        Command::Admin(AdminCommand::GetLogPage(g)) if g.lid == LogId::LOST_HOST_COMMUNICATION => {
            let mut o = Obj::new();
            match LostHostCommunicationLogPage::new_checked(data) {
                Ok(p) => {
                    o.put("ne", p.ne());
                    let entries = p.entries().map(|e| {
                        let mut x = Obj::new();
                        x.put("cntlid", e.cntlid).put("lc", e.lc).put("ciu", e.ciu);
                        J::O(x)
                    });
                    o.put("entries", J::A(entries.collect()));
                }
                Err(e) => {
                    o.put("error", format!("Lost Host Communication log: {e}"));
                }
            }
            Some(("lost_host_communication_log", o))
        }
        Command::Admin(AdminCommand::GetLogPage(g)) if g.lid == LogId::DISCOVERY => {
            Some(("discovery_log", discovery_log(g, data)))
        }
        Command::Admin(AdminCommand::GetLogPage(g)) if g.lid == LogId::ANA => Some(("ana_log", ana_log(g, data))),
        Command::Admin(AdminCommand::Fabrics(FabricsCommand::Authentication(a)))
        | Command::Io(IoCommand::Fabrics(FabricsCommand::Authentication(a)))
            if !a.send =>
        {
            Some(("auth", super::auth::message(data)))
        }
        _ => None,
    }
}

/// Most bytes of a Discovery or ANA log page collected for decoding (63 Discovery entries; an ANA page of 16 384
/// NSIDs): a longer page shows its header and the error naming the size it needs.
pub const LOG_DECODE_MAX: usize = 64 * 1024;

/// A Discovery log page (LID 0x70), as much as this transfer holds: from offset 0 the header (libnvme first reads
/// its 20 bytes) and, from 1024 bytes on, the page with its entries; from offset 1024 × (k + 1) the entries from
/// index k (libnvme's second read).
fn discovery_log(g: &GetLogPage, data: &[u8]) -> Obj {
    let mut o = Obj::new();
    let record = DISCOVERY_RECORD_LEN as u64;
    if g.lpo == 0 {
        match DiscoveryLogHeader::parse(data) {
            Ok(h) => {
                o.put("genctr", h.genctr).put("numrec", h.numrec).put("recfmt", h.recfmt);
            }
            Err(e) => {
                o.put("error", format!("Discovery log header: {e}"));
                return o;
            }
        }
        if data.len() < DISCOVERY_RECORD_LEN {
            return o; // the header's defined bytes only
        }
        match DiscoveryLogPage::new_checked(data) {
            Ok(page) => {
                let entries = page.entries().enumerate().map(|(i, e)| discovery_entry(i as u64, e));
                o.put("entries", J::A(entries.collect()));
            }
            Err(e) => {
                o.put("error", format!("Discovery log page: {e}"));
            }
        }
    } else if g.lpo >= record && g.lpo.is_multiple_of(record) {
        let first = g.lpo / record - 1;
        o.put("first_entry", first);
        let entries = DiscoveryLogEntries::new(data).enumerate().map(|(i, e)| discovery_entry(first + i as u64, e));
        o.put("entries", J::A(entries.collect()));
    } else {
        o.put("error", format!("read at offset {} (inside the header or an entry): not decoded", g.lpo));
    }
    o
}

fn discovery_entry(index: u64, entry: Result<DiscoveryLogEntry<'_>, CmdError>) -> J {
    let mut x = Obj::new();
    x.put("index", index);
    let e = match entry {
        Ok(e) => e,
        Err(err) => {
            x.put("error", format!("Discovery log entry: {err}"));
            return J::O(x);
        }
    };
    x.put("trtype", e.trtype.0).put("transport", e.trtype.name()).put("adrfam", e.adrfam.0);
    x.put("family", e.adrfam.name()).put("subtype", e.subtype.0).put("subsystem", e.subtype.name());
    let secure = match e.treq.secure_channel() {
        SecureChannel::NotSpecified => "not specified",
        SecureChannel::Required => "required",
        SecureChannel::NotRequired => "not required",
        SecureChannel::Reserved => "reserved",
    };
    x.put("treq", e.treq.0).put("secure_channel", secure).put("sqflow_disable", e.treq.sq_flow_control_disable());
    x.put("portid", e.portid).put("cntlid", e.cntlid).put("asqsz", e.asqsz).put("eflags", e.eflags);
    x.put("traddr", e.traddr).put("trsvcid", e.trsvcid).put("subnqn", e.subnqn);
    match e.tsas {
        Tsas::Tcp { sectype } => {
            x.put("sectype", sectype.0).put("security", sectype.name());
        }
        Tsas::Other(bytes) => {
            x.put("tsas", hex_bytes(bytes));
        }
    }
    J::O(x)
}

/// An ANA log page (LID 0x0C), read from offset 0 (with or without RGO, as the command's LSP says).
fn ana_log(g: &GetLogPage, data: &[u8]) -> Obj {
    let mut o = Obj::new();
    if g.lpo != 0 {
        o.put("error", format!("read at offset {}: not decoded", g.lpo));
        return o;
    }
    let rgo = g.lsp & LSP_ANA_RGO != 0;
    o.put("rgo", rgo);
    let page = match AnaLogPage::new_checked(data, rgo) {
        Ok(page) => page,
        Err(e) => {
            // The header alone still says what the page holds (libnvme reads its 16 bytes first).
            if let Ok(h) = AnaLogHeaderView::ref_from_buf(data) {
                o.put("chgcnt", h.chgcnt.get()).put("ngrps", h.ngrps.get());
            }
            o.put("error", format!("ANA log page: {e}"));
            return o;
        }
    };
    o.put("chgcnt", page.chgcnt()).put("ngrps", page.ngrps());
    let groups = page.descriptors().map(|d| {
        let mut x = Obj::new();
        match d {
            Ok(d) => {
                x.put("anagrpid", d.anagrpid).put("chgcnt", d.chgcnt).put("state", d.state.to_raw());
                x.put("state_name", d.state.name()).put("allows_io", d.state.allows_io());
                x.put("nsids", J::A(d.nsids.iter().map(J::from).collect()));
            }
            Err(e) => {
                x.put("error", format!("ANA group descriptor: {e}"));
            }
        }
        J::O(x)
    });
    o.put("groups", J::A(groups.collect()));
    o
}

fn ccrs_name(c: Ccrs) -> &'static str {
    match c {
        Ccrs::IN_PROGRESS => "in progress",
        Ccrs::SUCCESS => "success",
        Ccrs::FAILED => "failed",
        _ => "reserved",
    }
}

/// A CCR log page (LID 0x1E).
pub fn ccr_log(data: &[u8]) -> Obj {
    let mut o = Obj::new();
    match CcrLogPage::new_checked(data) {
        Ok(p) => {
            o.put("ne", p.ne());
            let entries = p.entries().map(|e| {
                let mut x = Obj::new();
                x.put("icid", e.icid).put("ciu", e.ciu).put("acid", e.acid).put("ccrs", e.ccrs.0);
                x.put("ccrs_name", ccrs_name(e.ccrs)).put("ccrf", e.ccrf).put("v", e.validated());
                x.put("clri", e.clri()).put("retry", e.retry());
                J::O(x)
            });
            o.put("entries", J::A(entries.collect()));
        }
        Err(e) => {
            o.put("error", format!("CCR log page: {e}"));
        }
    }
    o
}

fn text(field: &[u8], offset: usize, nqn: bool) -> J {
    let parsed = if nqn { parse_nqn_field(field, offset) } else { parse_ascii_field(field, offset) };
    match parsed {
        Ok(s) => J::from(s),
        Err(_) => J::S(format!("invalid: {}", String::from_utf8_lossy(field).trim_end_matches(['\0', ' ']))),
    }
}

/// Identify Controller fields that matter to recovery (and a few that identify the controller).
pub fn identify_controller(data: &[u8]) -> Obj {
    let mut o = Obj::new();
    let v = match IdentifyControllerView::ref_from_buf(data) {
        Ok(v) => v,
        Err(e) => {
            o.put("error", format!("Identify Controller: {e} (got {} bytes)", data.len()));
            return o;
        }
    };
    let ctratt = v.ctratt.get();
    let oaes = v.oaes.get();
    o.put("vid", v.vid.get()).put("sn", text(&v.sn, 4, false)).put("mn", text(&v.mn, 24, false));
    o.put("fr", text(&v.fr, 64, false)).put("cmic", v.cmic).put("mdts", v.mdts).put("cntlid", v.cntlid.get());
    let ver = v.ver.get();
    o.put("ver", format!("{}.{}.{}", ver >> 16, (ver >> 8) & 0xFF, ver & 0xFF));
    o.put("oaes", oaes).put("ccrcn", oaes & OAES_CCRCN != 0).put("lhcn", oaes & OAES_LHCN != 0);
    o.put("ctratt", ctratt).put("tbkas", ctratt & CTRATT_TBKAS != 0);
    o.put("crdt1", v.crdt1.get()).put("crdt2", v.crdt2.get()).put("crdt3", v.crdt3.get());
    o.put("ciu", v.ciu).put("cirn", hex64(v.cirn.get()));
    o.put("aerl", v.aerl).put("lpa", v.lpa).put("kas", v.kas.get()).put("kas_ms", u32::from(v.kas.get()) * 100);
    let cqt = v.cqt.get();
    o.put("cqt", cqt).put("cqt_reported", cqt != 0);
    o.put("maxcmd", v.maxcmd.get()).put("nn", v.nn.get()).put("sgls", v.sgls.get());
    o.put("subnqn", text(&v.subnqn, 768, true));
    o.put("ioccsz", v.ioccsz.get()).put("iorcsz", v.iorcsz.get()).put("icdoff", v.icdoff.get());
    o.put("msdbd", v.msdbd).put("ofcs", v.ofcs.get());
    o.put("anatt", v.anatt).put("anacap", v.anacap).put("anagrpmax", v.anagrpmax.get());
    o.put("nanagrpid", v.nanagrpid.get());
    o.put("ccrl", v.ccrl).put("ccrl_reported", v.ccrl != 0);
    o
}

fn identify_namespace(data: &[u8]) -> Obj {
    let mut o = Obj::new();
    match IdentifyNamespace::parse(data) {
        Ok(ns) => {
            let f = ns.format();
            o.put("nsze", ns.nsze).put("ncap", ns.ncap).put("nuse", ns.nuse).put("flbas", ns.flbas);
            o.put("nmic", ns.nmic).put("block_size", f.block_size()).put("nguid", hex_bytes(&ns.nguid));
            o.put("eui64", hex_bytes(&ns.eui64));
        }
        Err(e) => {
            o.put("error", format!("Identify Namespace: {e}"));
        }
    }
    o
}

/// Whether the command reads data this tool decodes (so its C2HData is collected).
pub fn wants_data(cmd: &Command) -> Option<usize> {
    match cmd {
        Command::Admin(AdminCommand::Identify(i)) if matches!(i.cns.0, 0x00..=0x02) => {
            Some(nvme_proto::cmd::IDENTIFY_DATA_LEN)
        }
        Command::Admin(AdminCommand::GetLogPage(g))
            if g.lid == LogId::CROSS_CONTROLLER_RESET || g.lid == LogId::LOST_HOST_COMMUNICATION =>
        {
            // Both pages are at most 4096 bytes; a larger NUMD is still collected only that far.
            Some((g.transfer_len() as usize).min(4096))
        }
        Command::Admin(AdminCommand::GetLogPage(g)) if g.lid == LogId::DISCOVERY || g.lid == LogId::ANA => {
            Some(usize::try_from(g.transfer_len()).unwrap_or(usize::MAX).min(LOG_DECODE_MAX))
        }
        Command::Admin(AdminCommand::Fabrics(FabricsCommand::Authentication(a)))
        | Command::Io(IoCommand::Fabrics(FabricsCommand::Authentication(a)))
            if !a.send =>
        {
            Some((a.length as usize).min(super::auth::AUTH_DECODE_MAX))
        }
        _ => None,
    }
}
