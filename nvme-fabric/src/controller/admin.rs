//! The Connect rules, admin and Fabrics dispatch, Identify, features, log pages, AER and CCR.
//!
//! What is served and what is answered to the rest follows [`nvme_proto::notes::commands`] §6.7 (the answers Linux
//! nvmet gives), so the Linux host's connect sequence (§10) goes through.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use nvme_ccr::Instant;
use nvme_ccr::target::HostId;
use nvme_proto::cmd::{
    AEC_CCRCN, AdminCommand, Cap, Cc, CmdError, Cns, Connect, ConnectData, ConnectInvalidParameters, ConnectResponse,
    Cqe, Csts, FABRICS_OPCODE, FabricsCommand, Feature, FeatureId, GetLogPage, IDENTIFY_DATA_LEN, Identify,
    IdentifyController, IdentifyNamespace, LbaFormat, LogId, NamespaceList, NsDescriptorList, NsIdentifier,
    NumberOfQueues, OAES_CCRCN, ParameterLocation, PropertyOffset, PropertySize, Sqe, Status, StatusCode, Vs,
};

use super::{AER_LIMIT, AuthEvent, ControllerFailure, Ctrl, Event, NSID, Subsystem, conn::Phase};
use crate::conn::ConnId;

pub(super) fn dnr(code: StatusCode) -> Status {
    Status::new(code).with_dnr(true)
}

/// PSDT must be 01b (SGL) and FUSE 0 on fabrics; anything else is Invalid Field + DNR (Linux nvmet).
pub(super) fn flags_ok(sqe: &Sqe) -> bool {
    sqe.flags.psdt() == 1 && sqe.flags.fuse() == 0
}

impl Subsystem {
    /// A command accepted on `conn` (it holds a slot until answered).
    pub(super) fn command(&mut self, now: Instant, conn: ConnId, sqe: Sqe, data: Vec<u8>) {
        let Some(phase) = self.conns.get(&conn).map(|c| c.q.phase) else { return };
        match phase {
            Phase::AwaitIc => {}
            Phase::AwaitConnect => self.connect(now, conn, &sqe, &data),
            Phase::Admin(cntlid) => {
                self.touch(now, cntlid, sqe.opcode == nvme_proto::cmd::AdminOpcode::KEEP_ALIVE.0);
                if sqe.opcode != FABRICS_OPCODE && !self.auth_ok(conn) {
                    return self.respond(conn, sqe.cid, dnr(StatusCode::AUTHENTICATION_REQUIRED), 0);
                }
                self.admin(now, conn, cntlid, &sqe, data);
            }
            Phase::Io(cntlid, _) => {
                self.touch(now, cntlid, false);
                if let Ok(FabricsCommand::Authentication(a)) = FabricsCommand::parse(&sqe) {
                    return self.auth_command(now, conn, &sqe, a, data);
                }
                if sqe.opcode != FABRICS_OPCODE && !self.auth_ok(conn) {
                    return self.respond(conn, sqe.cid, dnr(StatusCode::AUTHENTICATION_REQUIRED), 0);
                }
                self.io(now, conn, cntlid, &sqe, data);
            }
        }
    }

    /// Keep-alive bookkeeping for a command arriving on a queue of `cntlid`: a Keep Alive restarts the timer; with
    /// TBKAS any command counts as traffic (the timer then restarts once more when it expires), as Linux nvmet's
    /// `reset_tbkas` ([`nvme_ccr::notes::ccr_cqt`] §6.2).
    fn touch(&mut self, now: Instant, cntlid: u16, keep_alive: bool) {
        let tbkas = self.cfg.tbkas;
        if let Some(c) = self.ctrls.get_mut(&cntlid) {
            if keep_alive && !c.kato.is_zero() {
                c.ka_deadline = Some(now + c.kato);
                c.traffic = false;
            } else if tbkas {
                c.traffic = true;
            }
        }
    }

    /// Answers command `cid` on `conn` (raising Transmit).
    pub(super) fn respond(&mut self, conn: ConnId, cid: u16, status: Status, dw0: u32) {
        if let Some(q) = self.out(conn) {
            q.respond(cid, status, dw0);
        }
    }

    /// The queue of `conn` for sending, with a Transmit event raised if none is pending.
    pub(super) fn out(&mut self, conn: ConnId) -> Option<&mut super::conn::Queue> {
        let c = self.conns.get_mut(&conn)?;
        if c.q.closing.is_some() {
            return None;
        }
        if !c.q.tx_armed && !c.q.frozen {
            c.q.tx_armed = true;
            self.conn_events.push_back(crate::conn::ConnEvent::Transmit(conn));
        }
        Some(&mut c.q)
    }

    /// The first command of a connection: a Fabrics Connect ([`nvme_proto::notes::commands`] §5.1). Anything else is
    /// Command Sequence Error + DNR.
    fn connect(&mut self, now: Instant, conn: ConnId, sqe: &Sqe, data: &[u8]) {
        let cid = sqe.cid;
        let cmd = match FabricsCommand::parse(sqe) {
            Ok(FabricsCommand::Connect(c)) => c,
            _ => return self.respond(conn, cid, dnr(StatusCode::COMMAND_SEQUENCE_ERROR), 0),
        };
        match self.connect_checked(now, conn, &cmd, data) {
            Ok(cntlid) => {
                let authreq = if self.start_auth(now, conn, cntlid) { ConnectResponse::AUTHREQ_ATR } else { 0 };
                let dw0 = ConnectResponse { cntlid, authreq }.to_dw0();
                self.respond(conn, cid, Status::SUCCESS, dw0);
            }
            Err((st, dw0)) => self.respond(conn, cid, st, dw0),
        }
    }

    fn connect_checked(
        &mut self,
        now: Instant,
        conn: ConnId,
        cmd: &Connect,
        data: &[u8],
    ) -> Result<u16, (Status, u32)> {
        let invalid = |ipo: u16, location| {
            (dnr(StatusCode::CONNECT_INVALID_PARAMETERS), ConnectInvalidParameters { ipo, location }.to_dw0())
        };
        if cmd.recfmt != 0 {
            return Err((dnr(StatusCode::CONNECT_INCOMPATIBLE_FORMAT), 0));
        }
        // The Connect data is exactly 1024 bytes, in the capsule (Linux nvmet: any other transfer length is Data SGL
        // Length Invalid).
        if data.len() != ConnectData::LEN {
            return Err((dnr(StatusCode::DATA_SGL_LENGTH_INVALID), 0));
        }
        let cd = ConnectData::parse(data).map_err(|e| match e {
            CmdError::InvalidString { offset } => invalid(offset as u16, ParameterLocation::ConnectData),
            _ => (dnr(StatusCode::INVALID_FIELD), 0),
        })?;
        if cd.subnqn != self.cfg.nqn {
            return Err(invalid(ConnectData::SUBNQN_OFFSET as u16, ParameterLocation::ConnectData));
        }
        if cmd.sqsize == 0 || cmd.sqsize >= self.cfg.queue_depth {
            return Err(invalid(44, ParameterLocation::Sqe));
        }
        if cmd.qid == 0 {
            if cd.cntlid != ConnectData::DYNAMIC_CNTLID {
                return Err(invalid(16, ParameterLocation::ConnectData));
            }
            // Dynamic model: the lowest CNTLID no controller of the subsystem holds (as nvmet's ida), 1..=0xFFEF.
            let mut cntlid = 1u16;
            for &used in self.ctrls.keys() {
                if used == cntlid {
                    cntlid += 1;
                } else if used > cntlid {
                    break;
                }
            }
            if cntlid > 0xFFEF {
                return Err((dnr(StatusCode::CONNECT_CONTROLLER_BUSY), 0));
            }
            let Some(keys) = self.cfg.host_keys(cd.hostnqn) else {
                // Not a host of this subsystem (nvmet: "connect by host ... not allowed"); IATTR/IPO name HOSTNQN.
                self.auth_event(AuthEvent::HostRefused { conn });
                let at = ConnectData::HOSTNQN_OFFSET as u16;
                return Err((dnr(StatusCode::CONNECT_INVALID_HOST), invalid(at, ParameterLocation::ConnectData).1));
            };
            let auth = match keys {
                // Checked with the configuration; only an NQN longer than Connect allows could fail here.
                Some((key, ctrl_key)) => Some(
                    self.cfg
                        .credentials(cd.hostnqn, key, ctrl_key)
                        .map_err(|_| (Status::new(StatusCode::INTERNAL_ERROR), 0))?,
                ),
                None => None,
            };
            let host = HostId(super::fnv(cd.hostnqn.as_bytes()));
            let random = self.random();
            if self.ccr.add_controller(cntlid, host, random).is_err() {
                return Err((dnr(StatusCode::CONNECT_CONTROLLER_BUSY), 0));
            }
            let kato = Duration::from_millis(u64::from(cmd.kato_ms));
            let faults = core::mem::take(&mut self.fault_pending);
            self.ctrls.insert(
                cntlid,
                Ctrl {
                    hostnqn: cd.hostnqn.to_string(),
                    hostid: cd.hostid,
                    live: true,
                    kato,
                    ka_deadline: (!kato.is_zero()).then(|| now + kato),
                    traffic: false,
                    cc: 0,
                    csts: 0,
                    aec: 0,
                    io_queues: 0,
                    admin: conn,
                    io: BTreeMap::new(),
                    aers: VecDeque::new(),
                    pending_aens: VecDeque::new(),
                    started: 0,
                    queued: VecDeque::new(),
                    teardown_at: None,
                    faults,
                    auth,
                },
            );
            if let Some(c) = self.conns.get_mut(&conn) {
                c.connected(cntlid, 0, cmd.sqsize);
            }
            self.event(Event::ControllerCreated { cntlid, conn, kato });
            Ok(cntlid)
        } else {
            let max_io = self.cfg.max_io_queues;
            let Some(c) = self.ctrls.get_mut(&cd.cntlid) else {
                return Err(invalid(16, ParameterLocation::ConnectData));
            };
            if !c.live || c.hostnqn != cd.hostnqn || c.hostid != cd.hostid {
                return Err(invalid(16, ParameterLocation::ConnectData));
            }
            let allowed = if c.io_queues == 0 { max_io } else { c.io_queues };
            if cmd.qid > allowed || c.io.contains_key(&cmd.qid) {
                return Err(invalid(42, ParameterLocation::Sqe));
            }
            c.io.insert(cmd.qid, conn);
            if self.cfg.tbkas {
                c.traffic = true;
            }
            let cntlid = cd.cntlid;
            if let Some(c) = self.conns.get_mut(&conn) {
                c.connected(cntlid, cmd.qid, cmd.sqsize);
            }
            self.event(Event::QueueConnected { cntlid, qid: cmd.qid, conn });
            Ok(cntlid)
        }
    }

    fn admin(&mut self, now: Instant, conn: ConnId, cntlid: u16, sqe: &Sqe, data: Vec<u8>) {
        let cid = sqe.cid;
        let cmd = match AdminCommand::parse(sqe) {
            Ok(c) => c,
            Err(_) => return self.respond(conn, cid, dnr(StatusCode::INVALID_FIELD), 0),
        };
        if !matches!(cmd, AdminCommand::Fabrics(_)) && !flags_ok(sqe) {
            return self.respond(conn, cid, dnr(StatusCode::INVALID_FIELD), 0);
        }
        if let AdminCommand::Fabrics(FabricsCommand::Authentication(a)) = cmd {
            return self.auth_command(now, conn, sqe, a, data);
        }
        if !data.is_empty() && !matches!(cmd, AdminCommand::Fabrics(FabricsCommand::Connect(_))) {
            // No other admin command served here carries host-to-controller data (a Connect, which does, is out of
            // sequence on a connected queue: answered below, as on an I/O queue).
            return self.respond(conn, cid, dnr(StatusCode::INVALID_FIELD), 0);
        }
        match cmd {
            AdminCommand::Fabrics(f) => self.fabrics(now, conn, cntlid, cid, f),
            AdminCommand::Identify(id) => {
                let want = sqe.dptr.length as usize;
                if !sqe.dptr.is_transport_data() || want < IDENTIFY_DATA_LEN {
                    return self.respond(conn, cid, dnr(StatusCode::DATA_SGL_LENGTH_INVALID), 0);
                }
                let mut buf = vec![0u8; IDENTIFY_DATA_LEN];
                match self.identify(cntlid, &id, &mut buf) {
                    Ok(()) => {
                        if let Some(q) = self.out(conn) {
                            q.respond_data(cid, buf, 0);
                        }
                    }
                    Err(st) => self.respond(conn, cid, st, 0),
                }
            }
            AdminCommand::SetFeatures(sf) => {
                let max_io = self.cfg.max_io_queues;
                let Some(c) = self.ctrls.get_mut(&cntlid) else { return };
                let dw0 = match sf.feature {
                    Feature::NumberOfQueues(n) => {
                        let asked = u32::from(n.nsq.min(n.ncq)) + 1;
                        if c.io_queues == 0 {
                            c.io_queues = asked.min(u32::from(max_io)) as u16;
                        }
                        NumberOfQueues::with_count(u32::from(c.io_queues)).to_dword()
                    }
                    Feature::AsyncEventConfig(a) => {
                        c.aec = a.0 & AEC_CCRCN;
                        0
                    }
                    Feature::KeepAliveTimer(k) => {
                        c.kato = Duration::from_millis(u64::from(k.kato_ms));
                        c.ka_deadline = (!c.kato.is_zero()).then(|| now + c.kato);
                        0
                    }
                    Feature::Other { .. } => return self.respond(conn, cid, dnr(StatusCode::INVALID_FIELD), 0),
                };
                self.respond(conn, cid, Status::SUCCESS, dw0);
            }
            AdminCommand::GetFeatures(gf) => {
                let Some(c) = self.ctrls.get(&cntlid) else { return };
                let dw0 = match gf.fid {
                    FeatureId::NUMBER_OF_QUEUES => {
                        let n = if c.io_queues == 0 { self.cfg.max_io_queues } else { c.io_queues };
                        NumberOfQueues::with_count(u32::from(n)).to_dword()
                    }
                    FeatureId::ASYNC_EVENT_CONFIG => c.aec,
                    FeatureId::KEEP_ALIVE_TIMER => c.kato.as_millis().min(u128::from(u32::MAX)) as u32,
                    _ => return self.respond(conn, cid, dnr(StatusCode::INVALID_FIELD), 0),
                };
                self.respond(conn, cid, Status::SUCCESS, dw0);
            }
            AdminCommand::GetLogPage(g) => self.get_log_page(conn, cntlid, cid, sqe, &g),
            AdminCommand::AsyncEventRequest(_) => {
                let Some(c) = self.ctrls.get_mut(&cntlid) else { return };
                if c.aers.len() >= AER_LIMIT {
                    return self.respond(conn, cid, Status::new(StatusCode::AER_LIMIT_EXCEEDED), 0);
                }
                c.aers.push_back(cid);
                self.deliver_aens(cntlid);
            }
            AdminCommand::KeepAlive(_) => self.respond(conn, cid, Status::SUCCESS, 0),
            // Abort: "not aborted" (DW0 bit 0 set), as Linux nvmet always answers.
            AdminCommand::Abort(_) => self.respond(conn, cid, Status::SUCCESS, 1),
            AdminCommand::CrossControllerReset(ccr) => {
                let req = self.next_req;
                self.next_req += 1;
                self.ccr_reqs.insert(req, (cntlid, cid));
                self.event(Event::CcrReceived { source: cntlid, icid: ccr.icid, ciu: ccr.ciu, cirn: ccr.cirn });
                if self.ccr.handle_ccr(cntlid, req, ccr).is_err() {
                    // nvme-ccr does not know this live controller: an inconsistency of ours, not the host's error.
                    self.ccr_reqs.remove(&req);
                    self.respond(conn, cid, Status::new(StatusCode::INTERNAL_ERROR), 0);
                }
                self.drain_ccr(now);
            }
            AdminCommand::Unknown(_) => self.respond(conn, cid, dnr(StatusCode::INVALID_OPCODE), 0),
        }
    }

    fn fabrics(&mut self, now: Instant, conn: ConnId, cntlid: u16, cid: u16, f: FabricsCommand) {
        let queue_depth = self.cfg.queue_depth;
        let Some(c) = self.ctrls.get_mut(&cntlid) else { return };
        match f {
            FabricsCommand::PropertyGet(p) => {
                let v: u64 = match (p.offset, p.size) {
                    (PropertyOffset::CAP, PropertySize::Eight) => Cap {
                        mqes: queue_depth - 1,
                        cqr: true,
                        ams: 0,
                        to: 15,
                        dstrd: 0,
                        nssrs: false,
                        css: 1,
                        bps: false,
                        mpsmin: 0,
                        mpsmax: 0,
                        pmrs: false,
                        cmbs: false,
                        nsss: false,
                        crwms: false,
                        crims: false,
                    }
                    .to_u64(),
                    (PropertyOffset::VS, PropertySize::Four) => u64::from(Vs { mjr: 1, mnr: 3, ter: 0 }.to_u32()),
                    (PropertyOffset::CC, PropertySize::Four) => u64::from(c.cc),
                    (PropertyOffset::CSTS, PropertySize::Four) => u64::from(c.csts),
                    _ => return self.respond(conn, cid, dnr(StatusCode::INVALID_FIELD), 0),
                };
                let cqe = Cqe { dw0: v as u32, dw1: (v >> 32) as u32, ..Cqe::new(cid, Status::SUCCESS) };
                if let Some(q) = self.out(conn) {
                    q.respond_cqe(cqe);
                }
            }
            FabricsCommand::PropertySet(p) if p.offset == PropertyOffset::CC && p.size == PropertySize::Four => {
                let new = Cc::from_u32(p.value as u32);
                let was = Cc::from_u32(c.cc);
                c.cc = p.value as u32;
                let mut csts = Csts::from_u32(c.csts);
                let ready = new.en && !was.en;
                if ready {
                    csts.rdy = true;
                } else if !new.en {
                    csts.rdy = false;
                }
                if new.shn != 0 {
                    // Shutdown processing complete at once: nothing is cached.
                    csts.shst = 2;
                }
                c.csts = csts.to_u32();
                if ready {
                    let random = self.random();
                    if let Ok(id) = self.ccr.controller_ready(cntlid, random) {
                        self.event(Event::ControllerReady { cntlid, ciu: id.ciu, cirn: id.cirn });
                    }
                }
                self.respond(conn, cid, Status::SUCCESS, 0);
            }
            FabricsCommand::PropertySet(_) => self.respond(conn, cid, dnr(StatusCode::INVALID_FIELD), 0),
            FabricsCommand::Connect(_) => self.respond(conn, cid, dnr(StatusCode::COMMAND_SEQUENCE_ERROR), 0),
            // Disconnect is not offered (OFCS bit 0 is 0); Authentication is served before this (auth.rs).
            FabricsCommand::Disconnect(_) | FabricsCommand::Authentication(_) | FabricsCommand::Unknown(_) => {
                self.respond(conn, cid, dnr(StatusCode::INVALID_OPCODE), 0)
            }
        }
        let _ = now;
    }

    fn identify(&self, cntlid: u16, id: &Identify, buf: &mut [u8]) -> Result<(), Status> {
        let r = match id.cns {
            Cns::CONTROLLER => self.identify_controller(cntlid, buf),
            Cns::NAMESPACE => match id.nsid {
                NSID => self.identify_namespace().emit(buf).map(drop),
                0xFFFF_FFFF => return Err(dnr(StatusCode::INVALID_NAMESPACE_OR_FORMAT)),
                // An inactive NSID: 4096 zero bytes (NCAP 0), as nvmet.
                _ => {
                    buf.fill(0);
                    Ok(())
                }
            },
            Cns::ACTIVE_NS_LIST => {
                let list: &[u32] = if id.nsid < NSID { &[NSID] } else { &[] };
                NamespaceList::emit(list, buf).map(drop)
            }
            Cns::NS_DESCRIPTORS if id.nsid == NSID => {
                let ids = [NsIdentifier::Eui64(self.eui64), NsIdentifier::Nguid(self.nguid), NsIdentifier::Csi(0)];
                NsDescriptorList::emit(&ids, buf).map(drop)
            }
            Cns::NS_DESCRIPTORS => return Err(dnr(StatusCode::INVALID_NAMESPACE_OR_FORMAT)),
            // The NVM command set controller structure: every limit 0 (none), as Linux nvmet reports.
            Cns::CSI_CONTROLLER if id.csi == 0 => {
                buf.fill(0);
                Ok(())
            }
            _ => return Err(dnr(StatusCode::INVALID_FIELD)),
        };
        r.map_err(|_| Status::new(StatusCode::INTERNAL_ERROR))
    }

    fn identify_controller(&self, cntlid: u16, buf: &mut [u8]) -> Result<(), CmdError> {
        let id = self.ccr.identity(cntlid);
        let mut ic = IdentifyController::fabrics_io(cntlid, &self.cfg.nqn);
        ic.sn = &self.serial;
        ic.mn = &self.cfg.model;
        ic.fr = &self.cfg.firmware;
        ic.mdts = self.cfg.mdts;
        ic.ver = Vs { mjr: 1, mnr: 3, ter: 0 };
        ic.oaes = OAES_CCRCN;
        ic.ctratt = nvme_proto::cmd::CTRATT_HIDS | if self.cfg.tbkas { nvme_proto::cmd::CTRATT_TBKAS } else { 0 };
        ic.ciu = id.map_or(0, |i| i.ciu);
        ic.cirn = id.map_or(0, |i| i.cirn);
        ic.kas = self.cfg.kas;
        ic.cqt = self.cfg.cqt;
        ic.ccrl = self.cfg.ccrl;
        ic.maxcmd = self.cfg.queue_depth;
        ic.aerl = (AER_LIMIT - 1) as u8;
        ic.ioccsz = (64 + self.cfg.io_in_capsule) / 16;
        ic.ofcs = 0;
        ic.emit(buf).map(drop)
    }

    fn identify_namespace(&self) -> IdentifyNamespace {
        let ns = self.cfg.namespace;
        let lbads = ns.block_size.trailing_zeros() as u8;
        let mut id = IdentifyNamespace::new(ns.blocks, LbaFormat { ms: 0, lbads, rp: 0 });
        id.nguid = self.nguid;
        id.eui64 = self.eui64;
        id
    }

    fn get_log_page(&mut self, conn: ConnId, cntlid: u16, cid: u16, sqe: &Sqe, g: &GetLogPage) {
        let len = g.transfer_len();
        if !sqe.dptr.is_transport_data() || u64::from(sqe.dptr.length) != len {
            return self.respond(conn, cid, dnr(StatusCode::DATA_SGL_LENGTH_INVALID), 0);
        }
        if len > self.cfg.max_transfer() as u64 || g.lpo != 0 {
            return self.respond(conn, cid, dnr(StatusCode::INVALID_FIELD), 0);
        }
        let mut buf = vec![0u8; len as usize];
        match g.lid {
            LogId::CROSS_CONTROLLER_RESET => {
                if core::mem::take(&mut self.fail_next_ccr_log) {
                    return self.respond(conn, cid, Status::new(StatusCode::INTERNAL_ERROR), 0);
                }
                let rmc = g.lsp & nvme_proto::cmd::LSP_RMC != 0;
                if self.ccr.handle_get_ccr_log(cntlid, rmc, &mut buf).is_err() {
                    // nvme-ccr does not know this live controller: our inconsistency (one rule with the CCR itself).
                    return self.respond(conn, cid, Status::new(StatusCode::INTERNAL_ERROR), 0);
                }
            }
            // SMART / Health Information: nothing tracked, all zeros (as nvmet leaves what it does not track); the
            // Linux host reads it while connecting and only warns when it is refused.
            LogId::SMART => {}
            _ => return self.respond(conn, cid, dnr(StatusCode::INVALID_FIELD), 0),
        }
        if let Some(q) = self.out(conn) {
            q.respond_data(cid, buf, 0);
        }
    }

    /// Carries out what the CCR half asks: completions, controllers to fail, notices.
    pub(super) fn drain_ccr(&mut self, now: Instant) {
        loop {
            if let Some(a) = self.ccr.poll_answer() {
                if let Some((source, cid)) = self.ccr_reqs.remove(&a.req)
                    && let Some(admin) = self.ctrls.get(&source).filter(|c| c.live).map(|c| c.admin)
                {
                    self.respond(admin, cid, a.status, a.dw0);
                    self.event(Event::CcrAnswered { source, status: a.status, dw0: a.dw0 });
                }
            } else if let Some(id) = self.ccr.poll_fail_controller() {
                self.fail_controller(now, id, ControllerFailure::CrossControllerReset);
            } else if let Some(aen) = self.ccr.poll_aen() {
                let raised = self.ctrls.get(&aen.source).is_some_and(|c| c.live && c.aec & AEC_CCRCN != 0);
                if raised && core::mem::take(&mut self.lose_next_ccr_notice) {
                    continue;
                }
                if let Some(c) = self.ctrls.get_mut(&aen.source)
                    && c.live
                    && c.aec & AEC_CCRCN != 0
                {
                    c.pending_aens.push_back(aen.event.to_dw0());
                    self.event(Event::CcrNotice { source: aen.source });
                    self.deliver_aens(aen.source);
                }
            } else {
                break;
            }
        }
    }

    /// Completes outstanding AERs with pending notices.
    pub(super) fn deliver_aens(&mut self, cntlid: u16) {
        loop {
            let Some(c) = self.ctrls.get_mut(&cntlid) else { return };
            if c.aers.is_empty() || c.pending_aens.is_empty() {
                return;
            }
            let (Some(cid), Some(dw0)) = (c.aers.pop_front(), c.pending_aens.pop_front()) else { return };
            let admin = c.admin;
            self.respond(admin, cid, Status::SUCCESS, dw0);
        }
    }
}
