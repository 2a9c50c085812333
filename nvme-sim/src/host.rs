//! The simulated host: one association per path (admin and I/O connections), connect sequence with Identify
//! Controller, keep-alive every KATO/2 (KATO/4 with TBKAS) with a KATO timeout, one AER outstanding per controller,
//! multipath round-robin over the live paths, and recovery driven only through `nvme_ccr::Engine`'s public interface.

use std::collections::{BTreeMap, VecDeque};

use nvme_ccr::{
    CcrFailure, CcrId, Ccrl, CommandKind, Completion, ControllerFacts, Cqt, Engine, Event as EngEvent, FailureReason,
    LogReadId, PathAction, PathId, ReleaseAction, ReleaseReason,
};
use nvme_proto::cmd::{AdminOpcode, CommandContext, Sqe, Status};
use nvme_proto::tcp::Role;

use crate::clock::{Nanos, dur, inst, millis, ns};
use crate::net::{ConnId, Seg};
use crate::proto::{self, Cqe, RxPdu, build, status};
use crate::sim::{Ctx, Event};
use crate::workload::AppIo;

/// How long a connect attempt (IC exchange, Connect, Identify, I/O queue Connect) may take before the host gives up
/// on it and tries again after the reconnect delay.
const CONNECT_TIMEOUT: Nanos = 5_000 * crate::clock::MS;

/// Host configuration.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HostCfg {
    pub(crate) kato: Nanos,
    pub(crate) reconnect_delay: Nanos,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HState {
    /// Not connected (before the first connect, or waiting to reconnect).
    Down,
    Connecting,
    Live,
    /// Failure detected; the engine holds its commands until it says to reconnect.
    Failed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AdminCmd {
    Connect,
    Identify,
    /// Set Features, Asynchronous Event Configuration: the CCR Completed notice on (the controller raises only the
    /// notices a host enabled).
    EnableCcrNotice,
    KeepAlive,
    Aer,
    Log(LogReadId),
    Ccr(CcrId),
}

struct HPath {
    state: HState,
    assoc: u32,
    admin: Option<ConnId>,
    io: Option<ConnId>,
    admin_rx: proto::Rx,
    io_rx: proto::Rx,
    cntlid: u16,
    facts: Option<proto::IdFacts>,
    eng: Option<PathId>,
    next_cid: u16,
    admin_cmds: BTreeMap<u16, AdminCmd>,
    io_cmds: BTreeMap<u16, u64>,
    admin_data: BTreeMap<u16, Vec<u8>>,
    io_data: BTreeMap<u16, Vec<u8>>,
    ever_live: bool,
}

impl HPath {
    fn new() -> HPath {
        HPath {
            state: HState::Down,
            assoc: 0,
            admin: None,
            io: None,
            admin_rx: proto::Rx::new(Role::Host),
            io_rx: proto::Rx::new(Role::Host),
            cntlid: 0,
            facts: None,
            eng: None,
            next_cid: 1,
            admin_cmds: BTreeMap::new(),
            io_cmds: BTreeMap::new(),
            admin_data: BTreeMap::new(),
            io_data: BTreeMap::new(),
            ever_live: false,
        }
    }

    fn cid(&mut self, admin: bool) -> u16 {
        loop {
            let c = self.next_cid;
            self.next_cid = self.next_cid.wrapping_add(1).max(1);
            let used = if admin { self.admin_cmds.contains_key(&c) } else { self.io_cmds.contains_key(&c) };
            if !used {
                return c;
            }
        }
    }
}

struct Req {
    io: AppIo,
    path: Option<usize>,
}

/// The host.
pub(crate) struct Host {
    cfg: HostCfg,
    engine: Engine,
    paths: Vec<HPath>,
    path_of: BTreeMap<PathId, usize>,
    reqs: BTreeMap<u64, Req>,
    waiting: VecDeque<u64>,
    rr: usize,
    eng_timer: Option<Nanos>,
    out: Vec<u8>,
    /// First failure detection.
    pub(crate) first_detect: Option<Nanos>,
    /// First release of held commands after it.
    pub(crate) first_release: Option<Nanos>,
    /// Whether every path has been live once (the application starts then).
    pub(crate) all_connected: bool,
}

impl Host {
    pub(crate) fn new(cfg: HostCfg, engine: Engine, paths: usize) -> Host {
        Host {
            cfg,
            engine,
            paths: (0..paths).map(|_| HPath::new()).collect(),
            path_of: BTreeMap::new(),
            reqs: BTreeMap::new(),
            waiting: VecDeque::new(),
            rr: 0,
            eng_timer: None,
            out: Vec::new(),
            first_detect: None,
            first_release: None,
            all_connected: false,
        }
    }

    /// Connect every path.
    pub(crate) fn start(&mut self, ctx: &mut Ctx) {
        for p in 0..self.paths.len() {
            self.connect(ctx, p);
        }
    }

    fn send(&mut self, ctx: &mut Ctx, conn: ConnId) {
        let bytes = core::mem::take(&mut self.out);
        if let Some(at) = ctx.net.send(ctx.now, &mut ctx.rng, conn, true, Seg::Data(bytes)) {
            ctx.q.push(at, Event::Arrive { conn, to_controller: true });
        }
    }

    fn send_admin(&mut self, ctx: &mut Ctx, p: usize, sqe: &Sqe, data: &[u8]) {
        let Some(conn) = self.paths[p].admin else { return };
        proto::enc_cmd(&mut self.out, sqe, data);
        self.send(ctx, conn);
    }

    fn close_conns(&mut self, ctx: &mut Ctx, p: usize) {
        for conn in [self.paths[p].admin.take(), self.paths[p].io.take()].into_iter().flatten() {
            if let Some(at) = ctx.net.send(ctx.now, &mut ctx.rng, conn, true, Seg::Fin) {
                ctx.q.push(at, Event::Arrive { conn, to_controller: true });
            }
        }
        let hp = &mut self.paths[p];
        hp.admin_cmds.clear();
        hp.admin_data.clear();
        hp.io_data.clear();
        hp.admin_rx = proto::Rx::new(Role::Host);
        hp.io_rx = proto::Rx::new(Role::Host);
    }

    fn connect(&mut self, ctx: &mut Ctx, p: usize) {
        let hp = &mut self.paths[p];
        let assoc = hp.assoc;
        hp.assoc += 1;
        hp.state = HState::Connecting;
        hp.admin = Some(ctx.net.open(p, 0, assoc));
        hp.io = Some(ctx.net.open(p, 1, assoc));
        hp.io_cmds.clear();
        if let Some(e) = hp.eng {
            let _ = self.engine.handle_connecting(inst(ctx.now), e);
        }
        if let Some(conn) = self.paths[p].admin {
            proto::enc_icreq(&mut self.out);
            self.send(ctx, conn);
        }
        ctx.q.push(ctx.now + CONNECT_TIMEOUT, Event::HostConnectTimeout { path: p, assoc: self.paths[p].assoc });
    }

    /// Reconnect timer.
    pub(crate) fn on_reconnect(&mut self, ctx: &mut Ctx, p: usize) {
        if self.paths[p].state == HState::Down {
            self.connect(ctx, p);
        }
    }

    /// Connect attempt timer.
    pub(crate) fn on_connect_timeout(&mut self, ctx: &mut Ctx, p: usize, assoc: u32) {
        if self.paths[p].state == HState::Connecting && self.paths[p].assoc == assoc {
            ctx.note(Some(p), format!("host: path {p}: connect attempt timed out"));
            self.connect_failed(ctx, p);
        }
    }

    fn connect_failed(&mut self, ctx: &mut Ctx, p: usize) {
        self.close_conns(ctx, p);
        self.paths[p].state = HState::Down;
        ctx.q.push(ctx.now + self.cfg.reconnect_delay, Event::HostReconnect { path: p });
    }

    /// Keep-alive send timer.
    pub(crate) fn on_ka(&mut self, ctx: &mut Ctx, p: usize, assoc: u32) {
        let hp = &mut self.paths[p];
        if hp.state != HState::Live || hp.assoc != assoc {
            return;
        }
        let cid = hp.cid(true);
        hp.admin_cmds.insert(cid, AdminCmd::KeepAlive);
        let tbkas = hp.facts.is_some_and(|f| f.tbkas);
        let period = if tbkas { self.cfg.kato / 4 } else { self.cfg.kato / 2 };
        self.send_admin(ctx, p, &build::keep_alive(cid), &[]);
        ctx.q.push(ctx.now + self.cfg.kato, Event::HostKaCheck { path: p, assoc, cid });
        ctx.q.push(ctx.now + period, Event::HostKa { path: p, assoc });
    }

    /// Keep-alive timeout check for the Keep Alive `cid`.
    pub(crate) fn on_ka_check(&mut self, ctx: &mut Ctx, p: usize, assoc: u32, cid: u16) {
        let hp = &self.paths[p];
        if hp.state == HState::Live && hp.assoc == assoc && hp.admin_cmds.get(&cid) == Some(&AdminCmd::KeepAlive) {
            self.fail_path(ctx, p, FailureReason::KeepAliveTimeout, "keep-alive timeout");
        }
    }

    /// A live path failed.
    fn fail_path(&mut self, ctx: &mut Ctx, p: usize, reason: FailureReason, why: &str) {
        let hp = &mut self.paths[p];
        match hp.state {
            HState::Live => {}
            HState::Connecting => {
                ctx.note(Some(p), format!("host: path {p}: connect failed ({why})"));
                self.connect_failed(ctx, p);
                return;
            }
            _ => return,
        }
        hp.state = HState::Failed;
        hp.admin_cmds.clear();
        let cntlid = hp.cntlid;
        ctx.note(Some(p), format!("host: controller {cntlid} (path {p}) failed: {why}"));
        if self.first_detect.is_none() {
            self.first_detect = Some(ctx.now);
        }
        if let Some(e) = self.paths[p].eng {
            let _ = self.engine.handle_controller_failed(inst(ctx.now), e, reason);
        }
        self.drain(ctx);
    }

    /// Engine timer.
    pub(crate) fn on_engine_timer(&mut self, ctx: &mut Ctx, at: Nanos) {
        if self.eng_timer == Some(at) {
            self.eng_timer = None;
        }
        self.engine.handle_timeout(inst(ctx.now));
        self.drain(ctx);
    }

    /// A segment arrived from the target.
    pub(crate) fn on_segment(&mut self, ctx: &mut Ctx, conn: ConnId, seg: Seg) {
        let (p, qid, assoc) = {
            let c = ctx.net.conn(conn);
            (c.path, c.qid, c.assoc)
        };
        let hp = &mut self.paths[p];
        if hp.assoc != assoc + 1 || !matches!(hp.state, HState::Connecting | HState::Live) {
            return;
        }
        match seg {
            Seg::Fin => {
                self.fail_path(ctx, p, FailureReason::TransportError, "connection closed by the target");
            }
            Seg::Data(bytes) => {
                if qid == 0 {
                    hp.admin_rx.feed(&bytes)
                } else {
                    hp.io_rx.feed(&bytes)
                }
                loop {
                    let hp = &mut self.paths[p];
                    if hp.assoc != assoc + 1 || !matches!(hp.state, HState::Connecting | HState::Live) {
                        return;
                    }
                    let next = if qid == 0 { hp.admin_rx.next() } else { hp.io_rx.next() };
                    match next {
                        Ok(Some(pdu)) => {
                            if qid == 0 {
                                self.on_admin_pdu(ctx, p, pdu);
                            } else {
                                self.on_io_pdu(ctx, p, pdu);
                            }
                        }
                        Ok(None) => return,
                        Err(e) => {
                            self.fail_path(ctx, p, FailureReason::TransportError, &format!("bad PDU: {e}"));
                            return;
                        }
                    }
                }
            }
        }
    }

    fn on_admin_pdu(&mut self, ctx: &mut Ctx, p: usize, pdu: RxPdu) {
        match pdu {
            RxPdu::IcResp => {
                let kato = (self.cfg.kato / crate::clock::MS) as u32;
                self.paths[p].admin_cmds.insert(0, AdminCmd::Connect);
                self.send_admin(ctx, p, &build::connect_admin(0, kato), &proto::connect_data(0xFFFF));
            }
            RxPdu::C2h { cid, data } => {
                self.paths[p].admin_data.insert(cid, data);
            }
            RxPdu::Resp(cqe) => self.on_admin_resp(ctx, p, cqe),
            RxPdu::Term { fes } => {
                self.fail_path(ctx, p, FailureReason::TransportError, &format!("C2HTermReq (FES {fes:#x})"));
            }
        }
    }

    fn on_admin_resp(&mut self, ctx: &mut Ctx, p: usize, cqe: Cqe) {
        let Some(kind) = self.paths[p].admin_cmds.remove(&cqe.cid) else { return };
        let data = self.paths[p].admin_data.remove(&cqe.cid).unwrap_or_default();
        let now = inst(ctx.now);
        let eng = self.paths[p].eng;
        match kind {
            AdminCmd::Connect => {
                if cqe.status != status::SUCCESS {
                    self.fail_path(ctx, p, FailureReason::TransportError, "Connect refused");
                    return;
                }
                self.paths[p].cntlid = cqe.dw0 as u16;
                let cid = self.paths[p].cid(true);
                self.paths[p].admin_cmds.insert(cid, AdminCmd::Identify);
                self.send_admin(ctx, p, &build::identify_controller(cid), &[]);
            }
            AdminCmd::Identify => match proto::identify_parse(&data) {
                Ok(f) if cqe.status == status::SUCCESS => {
                    self.paths[p].facts = Some(f);
                    let cid = self.paths[p].cid(true);
                    self.paths[p].admin_cmds.insert(cid, AdminCmd::EnableCcrNotice);
                    self.send_admin(ctx, p, &build::enable_ccr_notice(cid), &[]);
                    if let Some(conn) = self.paths[p].io {
                        proto::enc_icreq(&mut self.out);
                        self.send(ctx, conn);
                    }
                }
                _ => self.fail_path(ctx, p, FailureReason::TransportError, "Identify Controller failed"),
            },
            AdminCmd::EnableCcrNotice => {
                if cqe.status != status::SUCCESS {
                    ctx.note(
                        Some(p),
                        format!(
                            "host: controller {} refused the CCR notice (status {:#06x})",
                            self.paths[p].cntlid, cqe.status
                        ),
                    );
                }
            }
            AdminCmd::KeepAlive => {}
            AdminCmd::Aer => {
                if cqe.status == status::SUCCESS {
                    if let Some(e) = eng {
                        let _ = self.engine.handle_aen(now, e, cqe.dw0);
                    }
                    ctx.note(
                        Some(p),
                        format!("host: AEN on controller {} (DW0 {:#010x})", self.paths[p].cntlid, cqe.dw0),
                    );
                    self.send_aer(ctx, p);
                }
            }
            AdminCmd::Log(id) => {
                if cqe.status == status::SUCCESS {
                    let _ = self.engine.handle_ccr_log(now, id, &data);
                } else {
                    let _ = self.engine.handle_ccr_log_failed(now, id);
                }
            }
            AdminCmd::Ccr(id) => {
                let _ = self.engine.handle_ccr_completion(now, id, Status::from_word(cqe.status), cqe.dw0);
            }
        }
        self.drain(ctx);
    }

    fn send_aer(&mut self, ctx: &mut Ctx, p: usize) {
        let cid = self.paths[p].cid(true);
        self.paths[p].admin_cmds.insert(cid, AdminCmd::Aer);
        self.send_admin(ctx, p, &build::aer(cid), &[]);
    }

    fn on_io_pdu(&mut self, ctx: &mut Ctx, p: usize, pdu: RxPdu) {
        match pdu {
            RxPdu::IcResp => {
                let cntlid = self.paths[p].cntlid;
                if let Some(conn) = self.paths[p].io {
                    proto::enc_cmd(&mut self.out, &build::connect_io(0), &proto::connect_data(cntlid));
                    self.send(ctx, conn);
                }
            }
            RxPdu::C2h { cid, data } => {
                self.paths[p].io_data.insert(cid, data);
            }
            RxPdu::Resp(cqe) => {
                if self.paths[p].state == HState::Connecting {
                    if cqe.cid == 0 && cqe.status == status::SUCCESS {
                        self.connected(ctx, p);
                    } else {
                        self.fail_path(ctx, p, FailureReason::TransportError, "I/O queue Connect refused");
                    }
                    return;
                }
                let Some(op) = self.paths[p].io_cmds.remove(&cqe.cid) else { return };
                let data = self.paths[p].io_data.remove(&cqe.cid).unwrap_or_default();
                let deliver = match self.paths[p].eng {
                    Some(e) => !matches!(self.engine.handle_complete(inst(ctx.now), e, op), Ok(Completion::Held)),
                    None => true,
                };
                if deliver && cqe.status == status::SUCCESS {
                    if let Some(r) = self.reqs.remove(&op) {
                        ctx.completions.push((r.io, p, data));
                    }
                } else if deliver {
                    // An error status from the controller: retry elsewhere (our target does not send any).
                    if let Some(r) = self.reqs.get_mut(&op) {
                        r.path = None;
                    }
                    self.dispatch(ctx, op, None);
                }
                self.drain(ctx);
            }
            RxPdu::Term { fes } => {
                self.fail_path(ctx, p, FailureReason::TransportError, &format!("C2HTermReq (FES {fes:#x})"));
            }
        }
    }

    fn connected(&mut self, ctx: &mut Ctx, p: usize) {
        let Some(f) = self.paths[p].facts else { return };
        let facts = ControllerFacts {
            cntlid: f.cntlid,
            ciu: f.ciu,
            cirn: f.cirn,
            cqt: Cqt::from_raw(f.cqt_ms),
            ccrl: Ccrl::from_raw(f.ccrl),
            kato: dur(self.cfg.kato),
            tbkas: f.tbkas,
        };
        let now = inst(ctx.now);
        let ok = match self.paths[p].eng {
            None => match self.engine.add_controller(now, facts) {
                Ok(id) => {
                    self.paths[p].eng = Some(id);
                    self.path_of.insert(id, p);
                    true
                }
                Err(e) => {
                    ctx.note(Some(p), format!("host: engine refused controller {}: {e:?}", f.cntlid));
                    false
                }
            },
            Some(id) => match self.engine.handle_reconnected(now, id, facts) {
                Ok(()) => true,
                Err(e) => {
                    ctx.note(Some(p), format!("host: engine refused the reconnect of path {p}: {e:?}"));
                    false
                }
            },
        };
        if !ok {
            self.connect_failed(ctx, p);
            return;
        }
        let hp = &mut self.paths[p];
        hp.state = HState::Live;
        let assoc = hp.assoc;
        let reconnect = hp.ever_live;
        hp.ever_live = true;
        ctx.note(
            Some(p),
            format!(
                "host: controller {} {} on path {p} (CIU {:#04x}, CIRN {:#018x}, CQT {} ms, CCRL {}, TBKAS {})",
                f.cntlid,
                if reconnect { "reconnected" } else { "connected" },
                f.ciu,
                f.cirn,
                f.cqt_ms,
                f.ccrl,
                if f.tbkas { "on" } else { "off" }
            ),
        );
        self.send_aer(ctx, p);
        self.on_ka(ctx, p, assoc);
        if !self.all_connected && self.paths.iter().all(|h| h.ever_live) {
            self.all_connected = true;
        }
        let waiting: Vec<u64> = self.waiting.drain(..).collect();
        for op in waiting {
            self.dispatch(ctx, op, None);
        }
        self.drain(ctx);
    }

    /// The application submits an I/O.
    pub(crate) fn submit(&mut self, ctx: &mut Ctx, io: AppIo) {
        let op = io.op;
        self.reqs.insert(op, Req { io, path: None });
        self.dispatch(ctx, op, None);
        self.drain(ctx);
    }

    fn pick(&mut self, prefer: Option<usize>) -> Option<usize> {
        if let Some(p) = prefer
            && self.paths[p].state == HState::Live
        {
            return Some(p);
        }
        let n = self.paths.len();
        for k in 0..n {
            let p = (self.rr + k) % n;
            if self.paths[p].state == HState::Live {
                self.rr = (p + 1) % n;
                return Some(p);
            }
        }
        None
    }

    fn dispatch(&mut self, ctx: &mut Ctx, op: u64, prefer: Option<usize>) {
        let Some(p) = self.pick(prefer) else {
            self.waiting.push_back(op);
            return;
        };
        let Some(r) = self.reqs.get_mut(&op) else { return };
        r.path = Some(p);
        let (write, lba) = (r.io.write, r.io.lba);
        let hp = &mut self.paths[p];
        let cid = hp.cid(false);
        hp.io_cmds.insert(cid, op);
        let Some(conn) = hp.io else { return };
        ctx.op_map.insert((conn, cid), op);
        if let Some(e) = hp.eng {
            let kind = if write { CommandKind::Write } else { CommandKind::Read };
            let _ = self.engine.handle_submit(inst(ctx.now), e, op, kind);
        }
        let r = &self.reqs[&op];
        if write {
            proto::enc_cmd(&mut self.out, &build::write(cid, lba), &r.io.data);
        } else {
            proto::enc_cmd(&mut self.out, &build::read(cid, lba), &[]);
        }
        self.send(ctx, conn);
    }

    /// Carry out everything the engine asks for.
    fn drain(&mut self, ctx: &mut Ctx) {
        let now = inst(ctx.now);
        while let Some(c) = self.engine.poll_ccr() {
            let Some(&p) = self.path_of.get(&c.source) else { continue };
            if self.paths[p].state != HState::Live {
                let _ = self.engine.handle_ccr_completion(now, c.id, Status::from_word(status::INVALID_FIELD), 0);
                continue;
            }
            let cid = self.paths[p].cid(true);
            self.paths[p].admin_cmds.insert(cid, AdminCmd::Ccr(c.id));
            let sqe = build::ccr(cid, &c.command);
            self.send_admin(ctx, p, &sqe, &[]);
        }
        while let Some(r) = self.engine.poll_log_read() {
            let Some(&p) = self.path_of.get(&r.source) else { continue };
            if self.paths[p].state != HState::Live {
                let _ = self.engine.handle_ccr_log_failed(now, r.id);
                continue;
            }
            let cid = self.paths[p].cid(true);
            self.paths[p].admin_cmds.insert(cid, AdminCmd::Log(r.id));
            self.send_admin(ctx, p, &build::get_log(cid, &r.command()), &[]);
            ctx.note(Some(p), format!("host: reading the CCR log of controller {} (RMC)", self.paths[p].cntlid));
        }
        while let Some(rel) = self.engine.poll_release() {
            let from = self.path_of.get(&rel.from).copied();
            if let Some(f) = from {
                let hp = &mut self.paths[f];
                if let Some((&cid, _)) = hp.io_cmds.iter().find(|(_, op)| **op == rel.token) {
                    hp.io_cmds.remove(&cid);
                }
            }
            if let Some(r) = self.reqs.get_mut(&rel.token) {
                r.path = None;
            } else {
                continue;
            }
            let prefer = match rel.action {
                ReleaseAction::Retry { path } => self.path_of.get(&path).copied(),
                // No path left: like Linux multipath with paths still reconnecting, the request waits for one.
                ReleaseAction::Fail { .. } => None,
            };
            self.dispatch(ctx, rel.token, prefer);
        }
        while let Some(ev) = self.engine.poll_event() {
            self.on_engine_event(ctx, ev);
        }
        while let Some(a) = self.engine.poll_path_action() {
            let PathAction::Reconnect { path } = a;
            let Some(&p) = self.path_of.get(&path) else { continue };
            if self.paths[p].state == HState::Failed {
                self.close_conns(ctx, p);
                self.paths[p].state = HState::Down;
                ctx.note(
                    Some(p),
                    format!("host: path {p} torn down, reconnect in {}", millis(self.cfg.reconnect_delay)),
                );
                ctx.q.push(ctx.now + self.cfg.reconnect_delay, Event::HostReconnect { path: p });
            }
        }
        if let Some(t) = self.engine.poll_timeout() {
            let t = ns(t.elapsed()).max(ctx.now);
            if self.eng_timer.is_none_or(|s| t < s || s < ctx.now) {
                self.eng_timer = Some(t);
                ctx.q.push(t, Event::HostEngine { at: t });
            }
        }
    }

    fn cntlid_of(&self, path: PathId) -> (Option<usize>, u16) {
        match self.path_of.get(&path) {
            Some(&p) => (Some(p), self.paths[p].cntlid),
            None => (None, 0),
        }
    }

    fn on_engine_event(&mut self, ctx: &mut Ctx, ev: EngEvent) {
        match ev {
            EngEvent::FencingStarted { path, instance, held, released_at_once, deadline } => {
                let (p, _) = self.cntlid_of(path);
                let left = ns(deadline.elapsed()).saturating_sub(ctx.now);
                let mut s = format!(
                    "host: fencing controller {}: {held} command(s) held, time-based deadline in {}",
                    instance.cntlid,
                    millis(left)
                );
                if released_at_once > 0 {
                    s += &format!("; {released_at_once} side-effect-free command(s) released at once");
                    // Nothing with side effects left to hold: everything was released at detection.
                    if held == 0 && self.first_release.is_none() && self.first_detect.is_some() {
                        self.first_release = Some(ctx.now);
                    }
                }
                ctx.note(p, s);
            }
            EngEvent::CcrSent { path, source, .. } => {
                let (p, i) = self.cntlid_of(path);
                let (_, s) = self.cntlid_of(source);
                ctx.note(p, format!("host: CCR for controller {i} sent via controller {s}"));
            }
            EngEvent::CcrSucceeded { path, source, .. } => {
                let (p, i) = self.cntlid_of(path);
                let (_, s) = self.cntlid_of(source);
                ctx.note(p, format!("host: CCR for controller {i} succeeded via controller {s}"));
            }
            EngEvent::CcrFailed { path, source, reason, .. } => {
                let (p, i) = self.cntlid_of(path);
                let (_, s) = self.cntlid_of(source);
                let why = match reason {
                    CcrFailure::Status(code) => {
                        let name = code.name(Some(CommandContext::Admin(AdminOpcode::CROSS_CONTROLLER_RESET)));
                        format!("status SCT {} SC {:#04x} ({})", code.sct.0, code.sc, name.unwrap_or("unnamed"))
                    }
                    CcrFailure::LogFailed => "the CCR log reports CCRS = Failed".to_string(),
                    CcrFailure::TimedOut => "no success within the per-CCR wait".to_string(),
                    CcrFailure::SourceFailed => "the source failed".to_string(),
                    CcrFailure::Vanished => "the accepted CCR is no longer in the source's log".to_string(),
                };
                ctx.note(p, format!("host: CCR for controller {i} via controller {s} failed: {why}"));
            }
            EngEvent::SourceCcrIncapable { source } => {
                let (p, s) = self.cntlid_of(source);
                ctx.note(p, format!("host: controller {s} marked CCR-incapable until it reconnects"));
            }
            EngEvent::FellBackToTimer { path, remaining } => {
                let (p, i) = self.cntlid_of(path);
                ctx.note(
                    p,
                    format!(
                        "host: no CCR source left for controller {i}: time-based recovery, {} remaining",
                        millis(ns(remaining))
                    ),
                );
            }
            EngEvent::HoldExtendedByCcr { path, source, .. } => {
                let (p, i) = self.cntlid_of(path);
                let (_, s) = self.cntlid_of(source);
                ctx.note(
                    p,
                    format!(
                        "host: hold deadline of controller {i} passed; still held: controller {s} accepted its CCR, \
                         which is in progress"
                    ),
                );
            }
            EngEvent::HoldReleased { path, reason, after, released } => {
                let (p, i) = self.cntlid_of(path);
                let why = match reason {
                    ReleaseReason::CcrSucceeded { .. } => "CCR succeeded",
                    ReleaseReason::HoldDeadline => "hold deadline passed",
                    ReleaseReason::NothingHeld => "nothing held",
                    ReleaseReason::Legacy => "legacy: no hold",
                    ReleaseReason::SideEffectFree => "side-effect free",
                };
                ctx.note(
                    p,
                    format!(
                        "host: released {released} held command(s) of controller {i} after {} ({why})",
                        millis(ns(after))
                    ),
                );
                if released > 0 && self.first_release.is_none() && self.first_detect.is_some() {
                    self.first_release = Some(ctx.now);
                }
            }
        }
    }
}
