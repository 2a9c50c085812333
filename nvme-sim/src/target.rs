//! The simulated target: `nvme_fabric::controller::Subsystem` (every PDU and command, the Connect rules, keep-alive
//! expiry with KATO and TBKAS, failure and teardown, CCR, the fault injection) run on the simulator's clock and
//! network. This adapter only does what the model leaves to its runtime: it carries bytes between the simulated TCP
//! connections and the subsystem, sleeps until the subsystem's next deadline, carries out media operations on a
//! sparse block store with a random service time each (one at a time per controller: `media_concurrency` 1), arms
//! the scenario's faults on the controller of their path, freezes a path when the subsystem says so, tells the
//! checker when a write lands, and writes the timeline from the subsystem's events.

use std::collections::{BTreeMap, BTreeSet};

use nvme_fabric::conn::{CloseCause, ConnEvent, ConnId as SubConn};
use nvme_fabric::controller::{
    ControllerFailure, Event as SubEvent, Fault, FaultAction, FaultTarget, MediaId, MediaKind, MediaRequest,
    NamespaceConfig, Subsystem, SubsystemConfig,
};
use nvme_proto::cmd::{Ccrl, Cqt};
use rand::Rng;

use crate::checker::Value;
use crate::clock::{Nanos, dur, inst, ns};
use crate::host::SUBNQN;
use crate::net::{ConnId, Seg};
use crate::report::{TargetFailure, TimelineEvent as T};
use crate::scenario::PathFault;
use crate::sim::{Ctx, Event};
use crate::workload::{BLOCK, Codec};

/// The namespace's size in blocks: far more than any workload touches (the store only keeps written blocks).
const NAMESPACE_BLOCKS: u64 = 1 << 24;

/// In-capsule data an I/O command may carry: 16 KiB, IOCCSZ 1028 as Linux nvmet, so a 4 KiB write travels
/// in-capsule ([`nvme_proto::notes::tcp`] §8.1).
const IO_IN_CAPSULE: u32 = 16 * 1024;

/// What the target does with CCRs ([`nvme_ccr::notes::ccr_cqt`] §11).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CcrMode {
    /// Works.
    Normal,
    /// Accepted, then reported Failed in the log (`fail-ccr`).
    Fail,
    /// Invalid Command Opcode (`no-ccr`).
    Unsupported,
}

/// Target configuration, from the scenario.
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
    /// HA node failover: the path on path 0's node that goes silent the instant path 0's fault fires.
    pub(crate) node_mate: Option<usize>,
    /// Media transfer time per KiB, on top of the service time (0: none).
    pub(crate) per_kib: Nanos,
}

impl TgtCfg {
    /// The subsystem's configuration: the sim's NQN and Identify strings, 4 KiB blocks, IOCCSZ 1028, the scenario's
    /// CQT, CCRL, TBKAS, IRS, CCR switch and teardown time, one media operation at a time per controller.
    fn subsystem(&self) -> SubsystemConfig {
        let mut c = SubsystemConfig::new(SUBNQN);
        c.model = "nvme-sim simulated controller".into();
        c.firmware = "0.1".into();
        c.namespace = NamespaceConfig { block_size: BLOCK as u32, blocks: NAMESPACE_BLOCKS };
        c.cqt = Cqt::from_raw(self.cqt_ms);
        c.ccrl = Ccrl::from_raw(self.ccrl);
        c.tbkas = self.tbkas;
        c.irs = self.immediate_reset;
        c.fail_ccr = self.ccr_mode == CcrMode::Fail;
        c.no_ccr = self.ccr_mode == CcrMode::Unsupported;
        c.io_in_capsule = IO_IN_CAPSULE;
        c.teardown_time = dur(self.teardown);
        c.media_concurrency = 1;
        c
    }
}

/// Where a scenario fault is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FaultState {
    /// Not armed: its time has not come, or its path has no live controller (it is armed on the next one).
    Waiting,
    /// Armed on this controller (the `seq`-th arming, so the subsystem's "first armed fires first" is known).
    Armed { cntlid: u16, seq: u64 },
    /// It fired.
    Fired,
}

/// A scenario fault (the primary one or an extra one).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Armed {
    pub(crate) path: usize,
    pub(crate) kind: PathFault,
    pub(crate) opcode: u8,
    /// Armed from this time on.
    pub(crate) at: Nanos,
    pub(crate) delay: Nanos,
    pub(crate) state: FaultState,
}

/// One simulated TCP connection as the target sees it.
struct Link {
    sub: SubConn,
    path: usize,
    /// Bytes the subsystem did not take yet (backpressure): offered again after `ConnEvent::Resume`.
    pending: Vec<u8>,
    /// A FIN went either way: nothing more is delivered to the subsystem or sent.
    closed: bool,
    /// Frozen by a fault: nothing more is delivered.
    frozen: bool,
}

/// The target subsystem.
pub(crate) struct Target {
    cfg: TgtCfg,
    sub: Subsystem,
    links: BTreeMap<ConnId, Link>,
    by_sub: BTreeMap<SubConn, ConnId>,
    /// CNTLID -> path, from its creation to its teardown.
    ctrl_path: BTreeMap<u16, usize>,
    media: BTreeMap<u64, Stored>,
    pub(crate) faults: Vec<Armed>,
    arm_seq: u64,
    /// Media operations a fault holds: they land the instant the subsystem releases them, with no service time.
    stuck: BTreeSet<MediaId>,
    /// Media operations in service, until their `TgtMediaDone`.
    in_service: BTreeMap<MediaId, MediaRequest>,
    /// The subsystem's deadline a `TgtTimer` event is scheduled for.
    timer: Option<Nanos>,
    tx: Vec<u8>,
}

impl Target {
    /// A target with no connections; `seed` feeds the subsystem's CIU and CIRN values.
    pub(crate) fn new(cfg: TgtCfg, faults: Vec<Armed>, seed: u64) -> Target {
        // Only CQT, CCRL, TBKAS, IRS, the CCR switches and the teardown time come from the scenario, and the
        // subsystem checks none of them: the configuration is always valid (the test below builds the extremes).
        let sub = Subsystem::new(cfg.subsystem(), seed).expect("the simulator's subsystem configuration is valid");
        let tx = vec![0u8; sub.config().transmit_buffer_len()];
        Target {
            cfg,
            sub,
            links: BTreeMap::new(),
            by_sub: BTreeMap::new(),
            ctrl_path: BTreeMap::new(),
            media: BTreeMap::new(),
            faults,
            arm_seq: 0,
            stuck: BTreeSet::new(),
            in_service: BTreeMap::new(),
            timer: None,
            tx,
        }
    }

    /// The block at `lba` (zeros if never written).
    /// The value the checker reads in block `lba`.
    pub(crate) fn value(&self, lba: u64, codec: Codec) -> Value {
        match self.media.get(&lba) {
            None => codec.value(&[0u8; BLOCK]),
            Some(Stored::Raw(b)) => codec.value(b),
            Some(stored) => {
                let mut b = [0u8; BLOCK];
                stored.expand(&mut b);
                codec.value(&b)
            }
        }
    }

    /// Whether a command accepted by some controller may still reach the media (queued, in service or held by a
    /// fault).
    pub(crate) fn has_pending_media_work(&self) -> bool {
        self.sub.media_pending() > 0
    }

    /// A segment arrived from the host. The first one of a connection is its TCP accept.
    pub(crate) fn on_segment(&mut self, ctx: &mut Ctx, conn: ConnId, seg: Seg) {
        let now = inst(ctx.now);
        match seg {
            Seg::Data(bytes) => {
                if !self.links.contains_key(&conn) {
                    let path = ctx.net.conn(conn).path;
                    match self.sub.accept(now) {
                        Ok(sub) => {
                            self.links
                                .insert(conn, Link { sub, path, pending: Vec::new(), closed: false, frozen: false });
                            self.by_sub.insert(sub, conn);
                        }
                        Err(e) => {
                            ctx.note(Some(path), T::ConnectionRefused { error: e.to_string() });
                            if let Some(at) = ctx.net.send(ctx.now, &mut ctx.rng, conn, false, Seg::Fin) {
                                ctx.q.push(at, Event::Arrive { conn, to_controller: false });
                            }
                            return;
                        }
                    }
                }
                let Some(link) = self.links.get_mut(&conn) else { return };
                if link.closed || link.frozen {
                    return;
                }
                link.pending.extend_from_slice(&bytes);
                self.feed(ctx, conn);
            }
            Seg::Fin => {
                // Bytes before the FIN first (the subsystem may have left some, under backpressure).
                self.feed(ctx, conn);
                let Some(link) = self.links.get_mut(&conn) else { return };
                if !link.closed {
                    link.closed = true;
                    link.pending.clear();
                    self.sub.handle_closed(now, link.sub);
                }
            }
        }
        self.pump(ctx);
    }

    /// Offers `conn`'s pending bytes to the subsystem.
    fn feed(&mut self, ctx: &mut Ctx, conn: ConnId) {
        let Some(link) = self.links.get_mut(&conn) else { return };
        if link.closed || link.frozen || link.pending.is_empty() {
            return;
        }
        let n = self.sub.handle_input(inst(ctx.now), link.sub, &link.pending);
        link.pending.drain(..n.min(link.pending.len()));
    }

    /// The subsystem's deadline came.
    pub(crate) fn on_timer(&mut self, ctx: &mut Ctx, at: Nanos) {
        if self.timer == Some(at) {
            self.timer = None;
        }
        self.sub.handle_timeout(inst(ctx.now));
        self.pump(ctx);
    }

    /// Scenario fault `i`'s arming time came: armed on its path's live controller, or on the next one.
    pub(crate) fn on_arm(&mut self, ctx: &mut Ctx, i: usize) {
        let Some(f) = self.faults.get(i) else { return };
        if f.state != FaultState::Waiting {
            return;
        }
        if let Some(cntlid) = self.live_controller(f.path) {
            self.arm(ctx, i, cntlid);
            self.pump(ctx);
        }
    }

    /// The media operation `id` finished its service time: it executes now.
    pub(crate) fn on_media_done(&mut self, ctx: &mut Ctx, id: MediaId) {
        let Some(req) = self.in_service.remove(&id) else { return };
        self.execute(ctx, &req);
        self.sub.handle_media_done(inst(ctx.now), id, Ok(()));
        self.pump(ctx);
    }

    /// The live controller on `path`, if any.
    fn live_controller(&self, path: usize) -> Option<u16> {
        self.sub.controllers().find(|&(id, live)| live && self.ctrl_path.get(&id) == Some(&path)).map(|(id, _)| id)
    }

    fn arm(&mut self, ctx: &mut Ctx, i: usize, cntlid: u16) {
        let f = self.faults[i];
        let action = match f.kind {
            PathFault::Fatal => FaultAction::Fatal,
            PathFault::Freeze => FaultAction::Freeze,
        };
        match self
            .sub
            .arm_fault(FaultTarget::Controller(cntlid), Fault { opcode: f.opcode, delay: dur(f.delay), action })
        {
            Ok(_) => {
                self.arm_seq += 1;
                self.faults[i].state = FaultState::Armed { cntlid, seq: self.arm_seq };
            }
            Err(e) => ctx.note(Some(f.path), T::FaultNotArmed { cntlid, error: e.to_string() }),
        }
    }

    /// Carries out everything the subsystem asks for until it asks for nothing more, then sleeps until its next
    /// deadline.
    fn pump(&mut self, ctx: &mut Ctx) {
        loop {
            let mut progress = false;
            while let Some(ev) = self.sub.poll_conn_event() {
                progress = true;
                self.on_conn_event(ctx, ev);
            }
            while let Some(req) = self.sub.poll_media() {
                progress = true;
                self.start_media(ctx, req);
            }
            while let Some(ev) = self.sub.poll_event() {
                progress = true;
                self.on_event(ctx, ev);
            }
            if !progress {
                break;
            }
        }
        if let Some(t) = self.sub.poll_timeout() {
            let t = ns(t.elapsed()).max(ctx.now);
            if self.timer.is_none_or(|s| t < s || s < ctx.now) {
                self.timer = Some(t);
                ctx.q.push(t, Event::TgtTimer { at: t });
            }
        }
    }

    fn on_conn_event(&mut self, ctx: &mut Ctx, ev: ConnEvent) {
        match ev {
            ConnEvent::Transmit(sub) => self.transmit(ctx, sub),
            ConnEvent::Close(sub, _) => {
                self.transmit(ctx, sub);
                if let Some(&conn) = self.by_sub.get(&sub)
                    && let Some(link) = self.links.get_mut(&conn)
                    && !link.closed
                {
                    link.closed = true;
                    link.pending.clear();
                    if let Some(at) = ctx.net.send(ctx.now, &mut ctx.rng, conn, false, Seg::Fin) {
                        ctx.q.push(at, Event::Arrive { conn, to_controller: false });
                    }
                }
                self.sub.handle_closed(inst(ctx.now), sub);
            }
            ConnEvent::Resume(sub) => {
                if let Some(&conn) = self.by_sub.get(&sub) {
                    self.feed(ctx, conn);
                }
            }
            ConnEvent::Freeze(sub) => {
                if let Some(&conn) = self.by_sub.get(&sub)
                    && let Some(link) = self.links.get_mut(&conn)
                {
                    link.frozen = true;
                    link.pending.clear();
                    ctx.net.freeze(link.path);
                }
            }
        }
    }

    /// Sends what the subsystem has for `sub`, one segment per `poll_transmit`.
    fn transmit(&mut self, ctx: &mut Ctx, sub: SubConn) {
        let conn = self.by_sub.get(&sub).copied();
        loop {
            let n = match self.sub.poll_transmit(inst(ctx.now), sub, &mut self.tx) {
                Ok(n) => n,
                Err(e) => {
                    ctx.note(None, T::TargetError { error: e.to_string() });
                    return;
                }
            };
            if n == 0 {
                return;
            }
            let Some(conn) = conn.filter(|c| self.links.get(c).is_some_and(|l| !l.closed)) else { continue };
            if let Some(at) = ctx.net.send(ctx.now, &mut ctx.rng, conn, false, Seg::Data(self.tx[..n].to_vec())) {
                ctx.q.push(at, Event::Arrive { conn, to_controller: false });
            }
        }
    }

    /// Silences `path` now: nothing more is delivered in either direction, nobody sees a close.
    fn freeze_path(&mut self, ctx: &mut Ctx, path: usize) {
        for link in self.links.values_mut().filter(|l| l.path == path) {
            link.frozen = true;
            link.pending.clear();
        }
        ctx.net.freeze(path);
    }

    /// A media operation starts: a held one lands at once (its delay is over), any other takes a random service
    /// time.
    fn start_media(&mut self, ctx: &mut Ctx, req: MediaRequest) {
        if self.stuck.remove(&req.id) {
            self.execute(ctx, &req);
            let path = self.ctrl_path.get(&req.cntlid).copied();
            ctx.note(path, T::StuckCommandLanded { cntlid: req.cntlid });
            self.sub.handle_media_done(inst(ctx.now), req.id, Ok(()));
            return;
        }
        let (min, max) = (self.cfg.service_min, self.cfg.service_max.max(self.cfg.service_min));
        let t = ctx.rng.random_range(min..=max) + self.cfg.per_kib * (req.len as u64 / 1024);
        ctx.q.push(ctx.now + t, Event::TgtMediaDone { id: req.id });
        self.in_service.insert(req.id, req);
    }

    /// Executes `req` on the store; a write tells the checker which application write landed, by the (connection,
    /// CID) of its command.
    fn execute(&mut self, ctx: &mut Ctx, req: &MediaRequest) {
        match req.kind {
            MediaKind::Write => {
                let Some(data) = self.sub.media_data(req.id) else { return };
                let op = self.by_sub.get(&req.conn).and_then(|c| ctx.op_map.get(&(*c, req.cid)).copied());
                for (k, b) in data.chunks(BLOCK).enumerate() {
                    let lba = req.slba + k as u64;
                    let value = ctx.codec.value(b);
                    self.media.insert(lba, Stored::of(b));
                    if ctx.checker.landed(op, lba, value, ctx.now) {
                        let path = self.ctrl_path.get(&req.cntlid).copied();
                        ctx.note(path, T::StaleWrite { lba, value });
                    }
                }
            }
            MediaKind::Read => {
                let Some(buf) = self.sub.media_buffer(req.id) else { return };
                for (k, b) in buf.chunks_mut(BLOCK).enumerate() {
                    match self.media.get(&(req.slba + k as u64)) {
                        Some(stored) => stored.expand(b),
                        None => b.fill(0),
                    }
                }
            }
            MediaKind::Flush => {}
        }
    }

    /// The timeline from the subsystem's events, and the fault bookkeeping.
    fn on_event(&mut self, ctx: &mut Ctx, ev: SubEvent) {
        match ev {
            SubEvent::ControllerCreated { cntlid, conn, kato } => {
                let Some(path) = self.by_sub.get(&conn).and_then(|c| self.links.get(c)).map(|l| l.path) else {
                    return;
                };
                self.ctrl_path.insert(cntlid, path);
                ctx.note(Some(path), T::ControllerCreated { cntlid, kato });
                let due: Vec<usize> = (0..self.faults.len())
                    .filter(|&i| {
                        let f = &self.faults[i];
                        f.path == path && f.state == FaultState::Waiting && f.at <= ctx.now
                    })
                    .collect();
                for i in due {
                    self.arm(ctx, i, cntlid);
                }
            }
            SubEvent::ControllerFailed { cntlid, cause, cancelled, waiting } => {
                let path = self.ctrl_path.get(&cntlid).copied();
                let why = match cause {
                    ControllerFailure::KeepAliveExpired => Some(TargetFailure::KeepAliveExpired),
                    ControllerFailure::AdminConnectionLost(CloseCause::PeerClosed) => Some(TargetFailure::HostClosed),
                    ControllerFailure::AdminConnectionLost(c) => {
                        Some(TargetFailure::AdminConnectionLost(c.to_string()))
                    }
                    ControllerFailure::CrossControllerReset => Some(TargetFailure::Ccr),
                    ControllerFailure::Shutdown => Some(TargetFailure::Shutdown),
                    // The fault's own line says it.
                    ControllerFailure::Fault => None,
                };
                if let Some(cause) = why {
                    ctx.note(path, T::TargetControllerFailed { cntlid, cause });
                }
                ctx.note(path, T::TearingDown { cntlid, cancelled, waiting });
                // Faults armed there and not fired wait for the path's next controller.
                for f in &mut self.faults {
                    if matches!(f.state, FaultState::Armed { cntlid: c, .. } if c == cntlid) {
                        f.state = FaultState::Waiting;
                    }
                }
            }
            SubEvent::TeardownComplete { cntlid } => {
                let path = self.ctrl_path.remove(&cntlid);
                ctx.note(path, T::TeardownComplete { cntlid });
            }
            SubEvent::FaultFired { cntlid, opcode, delay, action, media } => {
                self.stuck.insert(media);
                let fired = self
                    .faults
                    .iter_mut()
                    .filter(|f| f.opcode == opcode)
                    .filter_map(|f| match f.state {
                        FaultState::Armed { cntlid: c, seq } if c == cntlid => Some((seq, f)),
                        _ => None,
                    })
                    .min_by_key(|(seq, _)| *seq);
                if let Some((_, f)) = fired {
                    f.state = FaultState::Fired;
                }
                let path = self.ctrl_path.get(&cntlid).copied();
                if let (Some(0), Some(mate)) = (path, self.cfg.node_mate.take()) {
                    self.freeze_path(ctx, mate);
                    ctx.note(Some(mate), T::NodeFrozen);
                }
                let freeze = action == FaultAction::Freeze;
                ctx.note(path, T::FaultFired { cntlid, opcode, held: delay, freeze });
            }
            SubEvent::CcrReceived { source, icid, .. } => {
                let path = self.ctrl_path.get(&source).copied();
                ctx.note(path, T::TargetCcrReceived { source, impacted: icid });
            }
            SubEvent::CcrAnswered { source, status, dw0 } => {
                let path = self.ctrl_path.get(&source).copied();
                let accepted = status.is_success();
                ctx.note(path, T::TargetCcrAnswered { source, accepted, status: status.to_word(), dw0 });
            }
            SubEvent::CcrNotice { source } => {
                let path = self.ctrl_path.get(&source).copied();
                ctx.note(path, T::TargetCcrNotice { source });
            }
            SubEvent::ConnClosed { conn, cause } => {
                let quiet = matches!(cause, CloseCause::PeerClosed | CloseCause::ControllerFailed | CloseCause::Local);
                if !quiet {
                    let path = self.by_sub.get(&conn).and_then(|c| self.links.get(c)).map(|l| l.path);
                    ctx.note(path, T::TargetConnectionClosed { cause: cause.to_string() });
                }
            }
            SubEvent::QueueConnected { .. } | SubEvent::ControllerReady { .. } => {}
        }
    }
}

/// One stored block, compact when it has the shape the workloads write (a block of one byte value, or a
/// queue-depth workload's tagged block: the op number in the first 8 bytes, its low byte everywhere else), so a run
/// of millions of writes keeps 16 bytes per block instead of 4 KiB.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Stored {
    /// Every byte is this value.
    Fill(u8),
    /// The first 8 bytes are this number (little endian), every other byte its low byte.
    Tagged(u64),
    /// Anything else, as written.
    Raw(Box<[u8]>),
}

impl Stored {
    fn of(b: &[u8]) -> Stored {
        if b.len() == BLOCK {
            if b.iter().all(|&x| x == b[0]) {
                return Stored::Fill(b[0]);
            }
            let tag = u64::from_le_bytes(b[..8].try_into().unwrap_or([0; 8]));
            if b[8..].iter().all(|&x| x == tag as u8) {
                return Stored::Tagged(tag);
            }
        }
        Stored::Raw(b.into())
    }

    /// Writes the block into `out` (a block, or the start of one).
    fn expand(&self, out: &mut [u8]) {
        match self {
            Stored::Fill(v) => out.fill(*v),
            Stored::Tagged(t) => {
                out.fill(*t as u8);
                let n = out.len().min(8);
                out[..n].copy_from_slice(&t.to_le_bytes()[..n]);
            }
            Stored::Raw(b) => {
                let n = out.len().min(b.len());
                out[..n].copy_from_slice(&b[..n]);
                out[n..].fill(0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scenario_value_gives_a_valid_subsystem() {
        for (cqt_ms, ccrl, flag, teardown, ccr_mode) in
            [(0, 0, false, 0, CcrMode::Fail), (u16::MAX, u8::MAX, true, u64::MAX, CcrMode::Unsupported)]
        {
            let cfg = TgtCfg {
                tbkas: flag,
                cqt_ms,
                ccrl,
                service_min: 0,
                service_max: 0,
                teardown,
                immediate_reset: flag,
                ccr_mode,
                node_mate: None,
                per_kib: 0,
            };
            let sub = Subsystem::new(cfg.subsystem(), 1).unwrap();
            assert_eq!(sub.config().cqt.to_raw(), cqt_ms);
            assert_eq!(sub.config().ccrl.to_raw(), ccrl);
            assert_eq!(
                (sub.config().fail_ccr, sub.config().no_ccr),
                (ccr_mode == CcrMode::Fail, ccr_mode == CcrMode::Unsupported)
            );
            assert_eq!(sub.config().media_concurrency, 1);
        }
    }

    #[test]
    fn stored_blocks_expand_to_what_was_written() {
        let mut tagged = vec![0x2au8; BLOCK];
        tagged[..8].copy_from_slice(&0x1234_5678_9abc_de2au64.to_le_bytes());
        let mut odd = vec![7u8; BLOCK];
        odd[100] = 8;
        for (b, compact) in [(vec![9u8; BLOCK], true), (tagged, true), (odd, false), (vec![1u8; 512], false)] {
            let s = Stored::of(&b);
            assert_eq!(matches!(s, Stored::Fill(_) | Stored::Tagged(_)), compact);
            let mut out = vec![0xffu8; b.len()];
            s.expand(&mut out);
            assert_eq!(out, b);
        }
    }
}
