//! The simulated target: one subsystem with one namespace, one controller per association, I/O service times,
//! keep-alive timers (KATO, TBKAS), the injected faults, teardown by the rule of ccr-cqt.md §11, and the CCR engine
//! (matching, CCRL, the log page with RMC, the AEN to the source, optional IRS).

use std::collections::{BTreeMap, VecDeque};

use nvme_ccr::target::{HostId, Target as CcrTarget, TargetConfig};
use nvme_proto::cmd::{Connect, CrossControllerReset, GetLogPage, Identify, ReadWrite, Sqe};
use nvme_proto::tcp::Role;
use rand::Rng;

use crate::clock::{Nanos, millis};
use crate::net::{ConnId, Seg};
use crate::proto::{self, Cqe, IdFacts, RxPdu, opc, status};
use crate::scenario::PathFault;
use crate::sim::{Ctx, Event};

/// The one host of the simulation, as the CCR engine keys controllers.
const HOST: HostId = HostId(1);

/// What the target does with CCRs (ccr-cqt.md §11).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CcrMode {
    /// Works.
    Normal,
    /// Accepted, then reported Failed in the log.
    Fail,
    /// Invalid Command Opcode.
    Unsupported,
}

/// Target configuration.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TgtCfg {
    pub(crate) tbkas: bool,
    pub(crate) cqt_ms: u16,
    pub(crate) ccrl: u8,
    pub(crate) service_min: Nanos,
    pub(crate) service_max: Nanos,
    pub(crate) teardown: Nanos,
    pub(crate) immediate_reset: bool,
    pub(crate) ccr_mode: CcrMode,
}

/// A fault waiting for its trigger.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Armed {
    pub(crate) path: usize,
    pub(crate) kind: PathFault,
    pub(crate) opcode: u8,
    pub(crate) at: Nanos,
    pub(crate) delay: Nanos,
    pub(crate) fired: bool,
}

/// An accepted I/O command.
struct Cmd {
    conn: ConnId,
    cid: u16,
    opc: u8,
    lba: u64,
    data: Vec<u8>,
    op: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Live,
    /// Fatal or lost its host: cancelling queued commands, waiting for started ones.
    TearingDown,
    Gone,
}

struct Ctrl {
    cntlid: u16,
    ciu: u8,
    cirn: u64,
    path: usize,
    admin: ConnId,
    io: Option<ConnId>,
    state: State,
    kato: Nanos,
    traffic: bool,
    queue: VecDeque<Cmd>,
    busy: Option<Cmd>,
    stuck: BTreeMap<u32, Cmd>,
    next_stuck: u32,
    aers: VecDeque<u16>,
    pending_aens: VecDeque<u32>,
    teardown_scheduled: bool,
}

struct ConnRx {
    rx: proto::Rx,
    ctrl: Option<usize>,
    closed: bool,
}

impl Default for ConnRx {
    fn default() -> Self {
        ConnRx { rx: proto::Rx::new(Role::Controller), ctrl: None, closed: false }
    }
}

/// The target subsystem.
pub(crate) struct Target {
    cfg: TgtCfg,
    ctrls: Vec<Ctrl>,
    conns: BTreeMap<ConnId, ConnRx>,
    media: BTreeMap<u64, Vec<u8>>,
    pub(crate) faults: Vec<Armed>,
    out: Vec<u8>,
    /// The CCR half of the target (nvme-ccr): identities, CCR execution, the CCR log, the notices.
    ccr: CcrTarget,
    /// CCR request token -> (admin connection, CID) to answer on.
    ccr_reqs: BTreeMap<u64, (ConnId, u16)>,
    next_req: u64,
}

impl Target {
    pub(crate) fn new(cfg: TgtCfg, faults: Vec<Armed>) -> Target {
        let ccr = CcrTarget::new(TargetConfig {
            ccrl: nvme_proto::cmd::Ccrl::from_raw(cfg.ccrl),
            irs: cfg.immediate_reset,
            ccr_fail: cfg.ccr_mode == CcrMode::Fail,
            ccr_unsupported: cfg.ccr_mode == CcrMode::Unsupported,
            ..TargetConfig::default()
        });
        Target {
            cfg,
            ctrls: Vec::new(),
            conns: BTreeMap::new(),
            media: BTreeMap::new(),
            faults,
            out: Vec::new(),
            ccr,
            ccr_reqs: BTreeMap::new(),
            next_req: 1,
        }
    }

    fn live_by_cntlid(&self, cntlid: u16) -> Option<usize> {
        self.ctrls.iter().position(|c| c.state != State::Gone && c.cntlid == cntlid)
    }

    /// The block at `lba` (zeros if never written).
    pub(crate) fn block(&self, lba: u64) -> &[u8] {
        self.media.get(&lba).map_or(&[0u8; proto::BLOCK][..], |b| &b[..])
    }

    fn send(&mut self, ctx: &mut Ctx, conn: ConnId) {
        let bytes = core::mem::take(&mut self.out);
        if let Some(at) = ctx.net.send(ctx.now, &mut ctx.rng, conn, false, Seg::Data(bytes)) {
            ctx.q.push(at, Event::Arrive { conn, to_controller: false });
        }
    }

    fn respond(&mut self, ctx: &mut Ctx, conn: ConnId, cid: u16, st: u16, dw0: u32, data: Option<&[u8]>) {
        let sqid = ctx.net.conn(conn).qid;
        if let Some(d) = data {
            proto::enc_c2h(&mut self.out, cid, d);
            self.send(ctx, conn);
        }
        proto::enc_resp(&mut self.out, &Cqe { dw0, sqid, cid, status: st });
        self.send(ctx, conn);
    }

    fn close(&mut self, ctx: &mut Ctx, conn: ConnId) {
        if let Some(c) = self.conns.get_mut(&conn) {
            if c.closed {
                return;
            }
            c.closed = true;
        }
        if let Some(at) = ctx.net.send(ctx.now, &mut ctx.rng, conn, false, Seg::Fin) {
            ctx.q.push(at, Event::Arrive { conn, to_controller: false });
        }
    }

    /// A segment arrived from the host.
    pub(crate) fn on_segment(&mut self, ctx: &mut Ctx, conn: ConnId, seg: Seg) {
        let entry = self.conns.entry(conn).or_default();
        if entry.closed {
            return;
        }
        match seg {
            Seg::Fin => {
                entry.closed = true;
                if let Some(i) = entry.ctrl
                    && self.ctrls[i].state == State::Live
                {
                    ctx.note(
                        Some(self.ctrls[i].path),
                        format!("controller {}: host closed the connection", self.ctrls[i].cntlid),
                    );
                    self.fail(ctx, i);
                }
            }
            Seg::Data(bytes) => {
                entry.rx.feed(&bytes);
                loop {
                    let Some(entry) = self.conns.get_mut(&conn) else { return };
                    if entry.closed {
                        return;
                    }
                    match entry.rx.next() {
                        Ok(Some(pdu)) => self.on_pdu(ctx, conn, pdu),
                        Ok(None) => return,
                        Err(e) => {
                            ctx.note(Some(ctx.net.conn(conn).path), format!("target: bad PDU from the host: {e}"));
                            let ctrl = entry.ctrl;
                            self.close(ctx, conn);
                            if let Some(i) = ctrl {
                                self.fail(ctx, i);
                            }
                            return;
                        }
                    }
                }
            }
        }
    }

    fn on_pdu(&mut self, ctx: &mut Ctx, conn: ConnId, pdu: RxPdu) {
        match pdu {
            RxPdu::IcReq => {
                proto::enc_icresp(&mut self.out);
                self.send(ctx, conn);
            }
            RxPdu::Cmd { sqe, data } => {
                let ctrl = self.conns.get(&conn).and_then(|c| c.ctrl);
                match ctrl {
                    None => self.on_first_cmd(ctx, conn, &sqe, &data),
                    Some(i) => {
                        if self.ctrls[i].state != State::Live {
                            return;
                        }
                        let is_ka = sqe.opcode == opc::KEEP_ALIVE;
                        if self.cfg.tbkas || is_ka {
                            self.ctrls[i].traffic = true;
                        }
                        if ctx.net.conn(conn).qid == 0 {
                            self.on_admin(ctx, i, conn, &sqe, &data);
                        } else {
                            self.on_io(ctx, i, conn, &sqe, data);
                        }
                    }
                }
            }
            RxPdu::Term { .. } => {
                if let Some(i) = self.conns.get(&conn).and_then(|c| c.ctrl) {
                    self.fail(ctx, i);
                }
            }
            _ => {}
        }
    }

    /// The Connect that binds a fresh connection to a controller.
    fn on_first_cmd(&mut self, ctx: &mut Ctx, conn: ConnId, sqe: &Sqe, data: &[u8]) {
        let cid = sqe.cid;
        let connect = (sqe.opcode == opc::FABRICS && sqe.fctype() == opc::FCTYPE_CONNECT)
            .then(|| Connect::from_sqe(sqe).ok())
            .flatten();
        let Some(connect) = connect else {
            self.respond(ctx, conn, cid, status::INVALID_OPCODE, 0, None);
            return;
        };
        let path = ctx.net.conn(conn).path;
        if connect.qid == 0 {
            // A new controller: the lowest CNTLID no other instance of this subsystem still uses.
            let mut cntlid = 1u16;
            while self.ctrls.iter().any(|c| c.state != State::Gone && c.cntlid == cntlid) {
                cntlid += 1;
            }
            // Created at Connect and ready at once (CSTS.RDY 0 -> 1): the CCR half gives CIU and CIRN.
            let ids = self
                .ccr
                .add_controller(cntlid, HOST, ctx.rng.random())
                .and_then(|_| self.ccr.controller_ready(cntlid, ctx.rng.random()));
            let Ok(id) = ids else {
                self.respond(ctx, conn, cid, status::INVALID_FIELD, 0, None);
                return;
            };
            let (ciu, cirn) = (id.ciu, id.cirn);
            let kato = u64::from(connect.kato_ms) * crate::clock::MS;
            let i = self.ctrls.len();
            self.ctrls.push(Ctrl {
                cntlid,
                ciu,
                cirn,
                path,
                admin: conn,
                io: None,
                state: State::Live,
                kato,
                traffic: false,
                queue: VecDeque::new(),
                busy: None,
                stuck: BTreeMap::new(),
                next_stuck: 0,
                aers: VecDeque::new(),
                pending_aens: VecDeque::new(),
                teardown_scheduled: false,
            });
            self.conns.entry(conn).or_default().ctrl = Some(i);
            if kato > 0 {
                ctx.q.push(ctx.now + kato, Event::TgtKaCheck { ctrl: i });
            }
            ctx.note(
                Some(path),
                format!(
                    "target: controller {cntlid} created (CIU {ciu:#04x}, CIRN {cirn:#018x}, KATO {})",
                    millis(kato)
                ),
            );
            self.respond(ctx, conn, cid, status::SUCCESS, u32::from(cntlid), None);
        } else {
            let want = proto::connect_data_cntlid(data);
            let found =
                self.ctrls.iter().position(|c| c.state == State::Live && Some(c.cntlid) == want && c.path == path);
            match found {
                Some(i) => {
                    self.ctrls[i].io = Some(conn);
                    self.conns.entry(conn).or_default().ctrl = Some(i);
                    self.respond(ctx, conn, cid, status::SUCCESS, u32::from(self.ctrls[i].cntlid), None);
                }
                None => self.respond(ctx, conn, cid, status::INVALID_FIELD, 0, None),
            }
        }
    }

    fn on_admin(&mut self, ctx: &mut Ctx, i: usize, conn: ConnId, sqe: &Sqe, _data: &[u8]) {
        let cid = sqe.cid;
        match sqe.opcode {
            opc::KEEP_ALIVE => self.respond(ctx, conn, cid, status::SUCCESS, 0, None),
            opc::IDENTIFY if Identify::from_sqe(sqe).is_ok_and(|c| c.cns == Identify::controller().cns) => {
                let c = &self.ctrls[i];
                let d = proto::identify_build(&IdFacts {
                    cntlid: c.cntlid,
                    ciu: c.ciu,
                    cirn: c.cirn,
                    cqt_ms: self.cfg.cqt_ms,
                    ccrl: self.cfg.ccrl,
                    tbkas: self.cfg.tbkas,
                });
                self.respond(ctx, conn, cid, status::SUCCESS, 0, Some(&d));
            }
            opc::AER => {
                self.ctrls[i].aers.push_back(cid);
                self.deliver_aens(ctx, i);
            }
            opc::GET_LOG_PAGE => match GetLogPage::from_sqe(sqe) {
                Ok(g) if g.lid.0 == opc::LID_CCR => {
                    let rmc = g.lsp & nvme_proto::cmd::LSP_RMC != 0;
                    let mut d = vec![0u8; (g.transfer_len() as usize).min(4096)];
                    match self.ccr.handle_get_ccr_log(self.ctrls[i].cntlid, rmc, &mut d) {
                        Ok(_) => self.respond(ctx, conn, cid, status::SUCCESS, 0, Some(&d)),
                        Err(_) => self.respond(ctx, conn, cid, status::INVALID_FIELD, 0, None),
                    }
                }
                _ => self.respond(ctx, conn, cid, status::INVALID_FIELD, 0, None),
            },
            opc::CCR => match CrossControllerReset::from_sqe(sqe) {
                Ok(cmd) => {
                    let req = self.next_req;
                    self.next_req += 1;
                    self.ccr_reqs.insert(req, (conn, cid));
                    let (path, src) = (self.ctrls[i].path, self.ctrls[i].cntlid);
                    ctx.note(
                        Some(path),
                        format!("target: CCR for controller {} received by controller {src}", cmd.icid),
                    );
                    if self.ccr.handle_ccr(src, req, cmd).is_err() {
                        self.ccr_reqs.remove(&req);
                        self.respond(ctx, conn, cid, status::INVALID_FIELD, 0, None);
                    }
                    self.drain_ccr(ctx);
                }
                Err(_) => self.respond(ctx, conn, cid, status::INVALID_FIELD, 0, None),
            },
            _ => self.respond(ctx, conn, cid, status::INVALID_OPCODE, 0, None),
        }
    }

    /// Carry out what the CCR half asks: answers, controllers to fail, notices.
    fn drain_ccr(&mut self, ctx: &mut Ctx) {
        loop {
            if let Some(a) = self.ccr.poll_answer() {
                if let Some((conn, cid)) = self.ccr_reqs.remove(&a.req) {
                    let word = a.status.to_word();
                    let path = ctx.net.conn(conn).path;
                    let what = if a.status.is_success() {
                        format!("accepted (DW0 {:#x})", a.dw0)
                    } else {
                        format!("refused (status {word:#06x})")
                    };
                    ctx.note(Some(path), format!("target: controller {}: CCR {what}", a.source));
                    if self.live_by_cntlid(a.source).is_some_and(|s| self.ctrls[s].state == State::Live) {
                        self.respond(ctx, conn, cid, word, a.dw0, None);
                    }
                }
                continue;
            }
            if let Some(cntlid) = self.ccr.poll_fail_controller() {
                if let Some(i) = self.live_by_cntlid(cntlid) {
                    ctx.note(Some(self.ctrls[i].path), format!("target: controller {cntlid} made fatal by a CCR"));
                    self.fail(ctx, i);
                }
                continue;
            }
            if let Some(aen) = self.ccr.poll_aen() {
                if let Some(s) = self.live_by_cntlid(aen.source)
                    && self.ctrls[s].state == State::Live
                {
                    ctx.note(
                        Some(self.ctrls[s].path),
                        format!("target: CCR Completed notice on controller {}", aen.source),
                    );
                    self.ctrls[s].pending_aens.push_back(aen.event.to_dw0());
                    self.deliver_aens(ctx, s);
                }
                continue;
            }
            break;
        }
    }

    fn on_io(&mut self, ctx: &mut Ctx, i: usize, conn: ConnId, sqe: &Sqe, data: Vec<u8>) {
        let opc = sqe.opcode;
        let cid = sqe.cid;
        let rw = match opc {
            opc::READ => ReadWrite::from_read_sqe(sqe),
            opc::WRITE => ReadWrite::from_write_sqe(sqe),
            _ => {
                self.respond(ctx, conn, cid, status::INVALID_OPCODE, 0, None);
                return;
            }
        };
        let Ok(rw) = rw else {
            self.respond(ctx, conn, cid, status::INVALID_FIELD, 0, None);
            return;
        };
        if rw.blocks() != 1 || (opc == opc::WRITE && data.len() != proto::BLOCK) {
            self.respond(ctx, conn, cid, status::INVALID_FIELD, 0, None);
            return;
        }
        let cmd = Cmd { conn, cid, opc, lba: rw.slba, data, op: ctx.op_map.get(&(conn, cid)).copied() };
        let path = self.ctrls[i].path;
        let now = ctx.now;
        if let Some(f) = self.faults.iter_mut().find(|f| !f.fired && f.path == path && f.opcode == opc && now >= f.at) {
            f.fired = true;
            let (kind, delay) = (f.kind, f.delay);
            let slot = self.ctrls[i].next_stuck;
            self.ctrls[i].next_stuck += 1;
            self.ctrls[i].stuck.insert(slot, cmd);
            ctx.q.push(now + delay, Event::TgtStuckDone { ctrl: i, slot });
            let cntlid = self.ctrls[i].cntlid;
            let name = if opc == opc::WRITE { "Write" } else { "Read" };
            match kind {
                PathFault::Fatal => {
                    ctx.note(
                        Some(path),
                        format!(
                            "fault: fopcode {opc} fired on controller {cntlid}: {name} held {}, controller fatal",
                            millis(delay)
                        ),
                    );
                    self.fail(ctx, i);
                }
                PathFault::Freeze => {
                    ctx.note(
                        Some(path),
                        format!(
                            "fault: path {path} frozen; controller {cntlid}'s {name} stuck in the backend for {}",
                            millis(delay)
                        ),
                    );
                    ctx.net.freeze(path);
                }
            }
            return;
        }
        let c = &mut self.ctrls[i];
        c.queue.push_back(cmd);
        if c.busy.is_none() {
            self.start_service(ctx, i);
        }
    }

    fn start_service(&mut self, ctx: &mut Ctx, i: usize) {
        let c = &mut self.ctrls[i];
        if c.busy.is_some() {
            return;
        }
        if let Some(cmd) = c.queue.pop_front() {
            c.busy = Some(cmd);
            let t = ctx.rng.random_range(self.cfg.service_min..=self.cfg.service_max.max(self.cfg.service_min));
            ctx.q.push(ctx.now + t, Event::TgtServiceDone { ctrl: i });
        }
    }

    /// Execute `cmd` on the media; returns read data.
    fn execute(&mut self, ctx: &mut Ctx, cmd: &mut Cmd) -> Option<Vec<u8>> {
        if cmd.opc == opc::WRITE {
            let value = ctx.codec.value(&cmd.data);
            self.media.insert(cmd.lba, core::mem::take(&mut cmd.data));
            ctx.checker.landed(cmd.op, cmd.lba, value, ctx.now);
            None
        } else {
            Some(self.block(cmd.lba).to_vec())
        }
    }

    /// The command in service on `i` finished.
    pub(crate) fn on_service_done(&mut self, ctx: &mut Ctx, i: usize) {
        let Some(mut cmd) = self.ctrls[i].busy.take() else { return };
        let data = self.execute(ctx, &mut cmd);
        if self.ctrls[i].state == State::Live {
            self.respond(ctx, cmd.conn, cmd.cid, status::SUCCESS, 0, data.as_deref());
            self.start_service(ctx, i);
        } else {
            self.check_teardown(ctx, i);
        }
    }

    /// A stuck (fault) command reached the media.
    pub(crate) fn on_stuck_done(&mut self, ctx: &mut Ctx, i: usize, slot: u32) {
        let Some(mut cmd) = self.ctrls[i].stuck.remove(&slot) else { return };
        let data = self.execute(ctx, &mut cmd);
        let (path, cntlid) = (self.ctrls[i].path, self.ctrls[i].cntlid);
        ctx.note(Some(path), format!("target: controller {cntlid}'s stuck command reached the media"));
        if self.ctrls[i].state == State::Live {
            self.respond(ctx, cmd.conn, cmd.cid, status::SUCCESS, 0, data.as_deref());
        } else {
            self.check_teardown(ctx, i);
        }
    }

    /// Keep-alive check (every KATO).
    pub(crate) fn on_ka_check(&mut self, ctx: &mut Ctx, i: usize) {
        let c = &mut self.ctrls[i];
        if c.state != State::Live {
            return;
        }
        if c.traffic {
            c.traffic = false;
            ctx.q.push(ctx.now + c.kato, Event::TgtKaCheck { ctrl: i });
        } else {
            let (path, cntlid) = (c.path, c.cntlid);
            ctx.note(Some(path), format!("target: controller {cntlid} keep-alive timer expired"));
            self.fail(ctx, i);
        }
    }

    /// Close the controller's connections (it sends nothing more).
    fn shut(&mut self, ctx: &mut Ctx, i: usize) {
        let (a, io) = (self.ctrls[i].admin, self.ctrls[i].io);
        self.close(ctx, a);
        if let Some(io) = io {
            self.close(ctx, io);
        }
    }

    /// The controller fails: it sends nothing more, closes its connections, cancels what it had not started, and
    /// tears down once what it started has finished.
    fn fail(&mut self, ctx: &mut Ctx, i: usize) {
        if self.ctrls[i].state != State::Live {
            return;
        }
        self.shut(ctx, i);
        let _ = self.ccr.handle_controller_fatal(self.ctrls[i].cntlid);
        let c = &mut self.ctrls[i];
        c.state = State::TearingDown;
        let cancelled = c.queue.len();
        c.queue.clear();
        let waiting = usize::from(c.busy.is_some()) + c.stuck.len();
        let (path, cntlid) = (c.path, c.cntlid);
        ctx.note(
            Some(path),
            format!(
                "target: controller {cntlid} tearing down: {cancelled} queued command(s) cancelled, waiting for {waiting} started"
            ),
        );
        self.check_teardown(ctx, i);
    }

    fn check_teardown(&mut self, ctx: &mut Ctx, i: usize) {
        let c = &mut self.ctrls[i];
        if c.state == State::TearingDown && c.busy.is_none() && c.stuck.is_empty() && !c.teardown_scheduled {
            c.teardown_scheduled = true;
            ctx.q.push(ctx.now + self.cfg.teardown, Event::TgtTeardownDone { ctrl: i });
        }
    }

    /// Teardown of `i` complete: it is gone; the CCR half completes the CCRs naming it (Success, or the IRS answer)
    /// and raises the notices.
    pub(crate) fn on_teardown_done(&mut self, ctx: &mut Ctx, i: usize) {
        self.ctrls[i].state = State::Gone;
        let (path, cntlid) = (self.ctrls[i].path, self.ctrls[i].cntlid);
        ctx.note(Some(path), format!("target: controller {cntlid} teardown complete"));
        let _ = self.ccr.handle_teardown_complete(cntlid);
        self.drain_ccr(ctx);
    }

    fn deliver_aens(&mut self, ctx: &mut Ctx, i: usize) {
        while !self.ctrls[i].aers.is_empty() && !self.ctrls[i].pending_aens.is_empty() {
            let cid = self.ctrls[i].aers.pop_front().unwrap_or(0);
            let dw0 = self.ctrls[i].pending_aens.pop_front().unwrap_or(0);
            let conn = self.ctrls[i].admin;
            self.respond(ctx, conn, cid, status::SUCCESS, dw0, None);
        }
    }

    /// Whether any controller still has a command that may reach the media.
    pub(crate) fn has_pending_media_work(&self) -> bool {
        self.ctrls.iter().any(|c| !c.stuck.is_empty() || c.busy.is_some())
    }
}
