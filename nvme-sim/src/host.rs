//! The simulated host: `nvme_fabric::host::Host` (the association in the Linux host's bring-up order, keep-alive,
//! AER, command timeouts, multipath round robin, recovery through `nvme_ccr::Engine`, every PDU) run on the
//! simulator's clock and network. This adapter only does what the host leaves to its runtime: it opens one simulated
//! TCP connection per host connection (`poll_open`) on that path, carries bytes and FINs between them, sleeps until
//! the host's next deadline, submits the application's I/O and hands its completions back, tells the checker which
//! application write a (connection, CID) carries (`HostEvent::IoSent`), and writes the timeline from the host's
//! events.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use nvme_ccr::{CcrFailure, Config, Event as EngEvent, PathId, ReleaseReason};
use nvme_fabric::conn::{CloseCause, ConnEvent, ConnId as HostConn};
use nvme_fabric::host::{DataOut, Digests, Host as FabricHost, HostConfig, HostEvent, Io, IoId, PathFailure};
use nvme_proto::cmd::{AdminOpcode, CommandContext};

use crate::admin::{SMART_LOG_BYTES, smart_read};
use crate::clock::{MS, Nanos, dur, inst, ns};
use crate::net::{ConnId, Seg};
use crate::report::TimelineEvent as T;
use crate::sim::{Ctx, Event};
use crate::workload::AppIo;

/// Subsystem NQN of the simulated target.
pub(crate) const SUBNQN: &str = "nqn.2026-04.io.example:nvme-sim";
/// Host NQN of the simulated host.
const HOSTNQN: &str = "nqn.2014-08.org.nvmexpress:uuid:5eed0000-0000-4000-8000-000000000001";
/// Host identifier sent in Connect.
const HOSTID: [u8; 16] = [0x5e, 0xed, 0, 0, 0, 0, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 1];

/// How long an association's bring-up (IC exchanges, Connects, Identify, ...) may take before the host gives up on
/// it and tries again after the reconnect delay.
const CONNECT_TIMEOUT: Nanos = 5_000 * MS;

/// Depth of the one I/O queue (Connect SQSIZE 127; the target's MAXCMD is 128).
const IO_QUEUE_DEPTH: u16 = 128;

/// Host configuration, from the scenario.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HostCfg {
    pub(crate) kato: Nanos,
    pub(crate) reconnect_delay: Nanos,
    pub(crate) engine: Config,
}

impl HostCfg {
    /// The shared host's configuration: the sim's NQNs, header and data digests, one I/O queue of depth 128, the
    /// scenario's KATO, reconnect delay and engine, a 5 s bring-up bound, `ctrl_loss_tmo` off (a path is retried
    /// until the run ends, so no scenario ends early), `IoSent` traced for the checker; Linux's defaults otherwise
    /// (30 s I/O timeout, 5 retries of an error status without DNR).
    fn host(&self) -> HostConfig {
        let mut c = HostConfig::new(SUBNQN, HOSTNQN, HOSTID, self.engine);
        c.kato = dur(self.kato);
        c.digests = Digests { header: true, data: true };
        c.io_queues = 1;
        c.queue_depth = IO_QUEUE_DEPTH;
        c.connect_timeout = dur(CONNECT_TIMEOUT);
        c.reconnect_delay = dur(self.reconnect_delay);
        c.ctrl_loss_tmo = None;
        c.trace_io = true;
        c
    }
}

/// One host connection as the network sees it.
#[derive(Clone, Copy, Debug)]
struct Link {
    net: ConnId,
    /// A FIN went either way: nothing more is sent or delivered.
    closed: bool,
}

/// What the adapter keeps per path.
#[derive(Clone, Copy, Debug, Default)]
struct PathView {
    /// The CNTLID of the path's controller (the last one that went live there).
    cntlid: u16,
    /// Associations started on this path (each one's connections carry its number in the capture).
    assocs: u32,
    /// The next connection opened on this path is an association's admin queue.
    fresh: bool,
    /// Queues opened in the current association.
    queues: u16,
    /// The path failed while live and its reconnect is not scheduled yet.
    fenced: bool,
    ever_live: bool,
}

/// The host.
pub(crate) struct Host {
    host: FabricHost,
    paths: Vec<PathView>,
    links: BTreeMap<HostConn, Link>,
    by_net: HashMap<ConnId, HostConn>,
    /// Application I/Os submitted and not completed, by the host's name for them.
    ios: HashMap<IoId, AppIo>,
    /// The path each I/O was last sent on (the one that completes it).
    sent_on: HashMap<IoId, usize>,
    /// The admin stream's reads outstanding, and their path.
    admin: HashMap<IoId, usize>,
    /// The host's deadline a `HostTimer` event is scheduled for.
    timer: Option<Nanos>,
    tx: Vec<u8>,
    /// First failure detection.
    pub(crate) first_detect: Option<Nanos>,
    /// First release of held commands after it.
    pub(crate) first_release: Option<Nanos>,
    /// Whether every path has been live once (the application starts then).
    pub(crate) all_connected: bool,
    /// Commands held at fencing starts.
    pub(crate) held: u64,
    /// CCRs sent.
    pub(crate) ccrs_sent: u64,
    /// Fallbacks to the time-based hold.
    pub(crate) fallbacks: u64,
}

impl Host {
    /// The first invariant of the recovery engine that nvme-ccr's monitor saw broken, in words.
    pub(crate) fn engine_violation(&self) -> Option<String> {
        self.host.engine_violation().map(|v| v.to_string())
    }

    pub(crate) fn new(cfg: HostCfg, paths: usize) -> Host {
        // The NQNs are constants, the queue sizes fixed and `paths` is clamped to 1..=MAX_PATHS by the caller: the
        // configuration is always valid (the test below builds the extremes).
        // The engine runs behind nvme-ccr's invariant monitor (the shared checker): `engine_violation` reports it.
        let host =
            FabricHost::with_engine_check(cfg.host(), paths).expect("the simulator's host configuration is valid");
        let tx = vec![0u8; host.config().transmit_buffer_len()];
        Host {
            host,
            paths: vec![PathView::default(); paths],
            links: BTreeMap::new(),
            by_net: HashMap::new(),
            ios: HashMap::new(),
            sent_on: HashMap::new(),
            admin: HashMap::new(),
            timer: None,
            tx,
            first_detect: None,
            first_release: None,
            all_connected: false,
            held: 0,
            ccrs_sent: 0,
            fallbacks: 0,
        }
    }

    /// Connect every path.
    pub(crate) fn start(&mut self, ctx: &mut Ctx) {
        self.host.start(inst(ctx.now));
        self.pump(ctx);
    }

    /// The application submits an I/O.
    pub(crate) fn submit(&mut self, ctx: &mut Ctx, app: AppIo) {
        let io = if app.write {
            Io::Write { slba: app.lba, data: Arc::clone(&app.data) }
        } else {
            Io::Read { slba: app.lba, blocks: app.blocks }
        };
        match self.host.submit(inst(ctx.now), io) {
            Ok(id) => {
                self.ios.insert(id, app);
            }
            Err(e) => ctx.note(None, T::IoRefused { op: app.op, error: e.to_string() }),
        }
        self.pump(ctx);
    }

    /// The admin stream sends its monitoring read to path `path`'s controller through the host; false when the path
    /// is not live (nothing sent). Its completion lands in `ctx.admin_done`.
    pub(crate) fn submit_admin(&mut self, ctx: &mut Ctx, path: usize) -> bool {
        let data = DataOut::Read(SMART_LOG_BYTES as usize);
        let Ok(id) = self.host.submit_admin(inst(ctx.now), path, smart_read(), data) else { return false };
        self.admin.insert(id, path);
        self.pump(ctx);
        true
    }

    /// The host's deadline came.
    pub(crate) fn on_timer(&mut self, ctx: &mut Ctx, at: Nanos) {
        if self.timer == Some(at) {
            self.timer = None;
        }
        self.host.handle_timeout(inst(ctx.now));
        self.pump(ctx);
    }

    /// A segment arrived from the target.
    pub(crate) fn on_segment(&mut self, ctx: &mut Ctx, conn: ConnId, seg: Seg) {
        let Some(&hc) = self.by_net.get(&conn) else { return };
        let Some(link) = self.links.get_mut(&hc) else { return };
        if link.closed {
            return;
        }
        let now = inst(ctx.now);
        match seg {
            Seg::Data(bytes) => {
                self.host.handle_input(now, hc, &bytes);
            }
            Seg::Fin => {
                link.closed = true;
                self.host.handle_closed(now, hc);
            }
        }
        self.pump(ctx);
    }

    /// Carries out everything the host asks for until it asks for nothing more, then sleeps until its next
    /// deadline.
    fn pump(&mut self, ctx: &mut Ctx) {
        let now = inst(ctx.now);
        loop {
            let mut progress = false;
            // Events first: `Connecting` tells which connection opened next is an admin queue.
            while let Some(ev) = self.host.poll_event() {
                progress = true;
                self.on_event(ctx, ev);
            }
            while let Some(open) = self.host.poll_open() {
                progress = true;
                let view = &mut self.paths[open.path];
                if view.fresh {
                    view.fresh = false;
                    view.assocs += 1;
                    view.queues = 0;
                }
                let net = ctx.net.open(open.path, view.queues, view.assocs.saturating_sub(1));
                view.queues += 1;
                self.links.insert(open.conn, Link { net, closed: false });
                self.by_net.insert(net, open.conn);
                // Connections are established at once: the target accepts one when its first bytes arrive.
                self.host.handle_connected(now, open.conn);
            }
            while let Some(ev) = self.host.poll_conn_event() {
                progress = true;
                match ev {
                    ConnEvent::Transmit(c) => self.transmit(ctx, c),
                    ConnEvent::Close(c, _) => {
                        self.transmit(ctx, c);
                        if let Some(link) = self.links.get_mut(&c)
                            && !link.closed
                        {
                            link.closed = true;
                            let net = link.net;
                            if let Some(at) = ctx.net.send(ctx.now, &mut ctx.rng, net, true, Seg::Fin) {
                                ctx.q.push(at, Event::Arrive { conn: net, to_controller: true });
                            }
                        }
                        self.host.handle_closed(now, c);
                    }
                    // A host is never paused nor frozen by nvme-fabric (the network freezes a path).
                    ConnEvent::Resume(_) | ConnEvent::Freeze(_) => {}
                }
            }
            while let Some(done) = self.host.poll_completion() {
                progress = true;
                if let Some(path) = self.admin.remove(&done.id) {
                    ctx.admin_done.push((path, matches!(&done.result, Ok(d) if d.cqe.status.is_success())));
                    continue;
                }
                let path = self.sent_on.remove(&done.id);
                let Some(app) = self.ios.remove(&done.id) else { continue };
                match done.result {
                    Ok(d) => ctx.completions.push((app, path.unwrap_or(0), d.data)),
                    Err(e) => {
                        ctx.note(path, T::IoFailed { op: app.op, lba: app.lba, error: e.to_string() });
                        ctx.failures.push(app);
                    }
                }
            }
            if !progress {
                break;
            }
        }
        if let Some(t) = self.host.poll_timeout() {
            let t = ns(t.elapsed()).max(ctx.now);
            if self.timer.is_none_or(|s| t < s || s < ctx.now) {
                self.timer = Some(t);
                ctx.q.push(t, Event::HostTimer { at: t });
            }
        }
    }

    /// Sends what the host has for `c`, one segment per `poll_transmit`.
    fn transmit(&mut self, ctx: &mut Ctx, c: HostConn) {
        let link = self.links.get(&c).copied();
        loop {
            let n = match self.host.poll_transmit(inst(ctx.now), c, &mut self.tx) {
                Ok(n) => n,
                Err(e) => {
                    ctx.note(None, T::HostError { error: e.to_string() });
                    return;
                }
            };
            if n == 0 {
                return;
            }
            let Some(link) = link.filter(|l| !l.closed) else { continue };
            if let Some(at) = ctx.net.send(ctx.now, &mut ctx.rng, link.net, true, Seg::Data(self.tx[..n].to_vec())) {
                ctx.q.push(at, Event::Arrive { conn: link.net, to_controller: true });
            }
        }
    }

    /// The path and CNTLID a path of a host event stands for (the host reports the engine's events in its own path
    /// numbering).
    fn cntlid_of(&self, id: PathId) -> (Option<usize>, u16) {
        match self.paths.get(id.0 as usize) {
            Some(view) => (Some(id.0 as usize), view.cntlid),
            None => (None, 0),
        }
    }

    /// The timeline from the host's events, and the bookkeeping they carry.
    fn on_event(&mut self, ctx: &mut Ctx, ev: HostEvent) {
        match ev {
            HostEvent::Connecting { path, .. } => self.paths[path].fresh = true,
            HostEvent::PathLive { path, facts, reconnected } => {
                let view = &mut self.paths[path];
                view.cntlid = facts.cntlid;
                view.ever_live = true;
                ctx.note(
                    Some(path),
                    T::Connected {
                        cntlid: facts.cntlid,
                        reconnected,
                        ciu: facts.ciu,
                        cirn: facts.cirn,
                        cqt_ms: facts.cqt.to_raw(),
                        ccrl: facts.ccrl.to_raw(),
                        tbkas: facts.tbkas,
                    },
                );
                if !self.all_connected && self.paths.iter().all(|v| v.ever_live) {
                    self.all_connected = true;
                }
            }
            HostEvent::PathFailed { path, failure, was_live } => {
                if was_live {
                    self.paths[path].fenced = true;
                    let cntlid = self.paths[path].cntlid;
                    ctx.note(Some(path), T::ControllerFailed { cntlid, cause: why(&failure) });
                    if self.first_detect.is_none() {
                        self.first_detect = Some(ctx.now);
                    }
                } else if failure == PathFailure::ConnectTimeout {
                    ctx.note(Some(path), T::ConnectTimedOut);
                } else {
                    ctx.note(Some(path), T::ConnectFailed { cause: why(&failure) });
                }
            }
            HostEvent::ReconnectScheduled { path, at } => {
                let view = &mut self.paths[path];
                if view.fenced {
                    view.fenced = false;
                    let delay = ns(at.elapsed()).saturating_sub(ctx.now);
                    ctx.note(Some(path), T::TornDown { reconnect_in: dur(delay) });
                }
            }
            HostEvent::PathGone { path } => ctx.note(Some(path), T::PathGivenUp),
            HostEvent::Disconnected { path } => ctx.note(Some(path), T::Disconnected),
            HostEvent::Aen { path, dw0 } => {
                let cntlid = self.paths[path].cntlid;
                ctx.note(Some(path), T::Aen { cntlid, dw0 });
            }
            HostEvent::CcrLogRead { path, ok } => {
                let cntlid = self.paths[path].cntlid;
                ctx.note(Some(path), T::CcrLogRead { cntlid, ok });
            }
            HostEvent::IoSent { id, path, conn, cid } => {
                self.sent_on.insert(id, path);
                if let (Some(app), Some(link)) = (self.ios.get(&id), self.links.get(&conn)) {
                    ctx.op_map.insert((link.net, cid), app.op);
                }
            }
            HostEvent::Engine(ev) => self.on_engine_event(ctx, ev),
        }
    }

    fn on_engine_event(&mut self, ctx: &mut Ctx, ev: EngEvent) {
        match ev {
            EngEvent::FencingStarted { path, instance, held, released_at_once, deadline } => {
                self.held += held as u64;
                let (p, _) = self.cntlid_of(path);
                let left = ns(deadline.elapsed()).saturating_sub(ctx.now);
                let s = T::FencingStarted { cntlid: instance.cntlid, held, released_at_once, deadline_in: dur(left) };
                if released_at_once > 0 {
                    // Nothing with side effects left to hold: everything was released at detection.
                    if held == 0 && self.first_release.is_none() && self.first_detect.is_some() {
                        self.first_release = Some(ctx.now);
                    }
                }
                ctx.note(p, s);
            }
            EngEvent::CcrSent { path, source, .. } => {
                self.ccrs_sent += 1;
                let (p, i) = self.cntlid_of(path);
                let (_, s) = self.cntlid_of(source);
                ctx.note(p, T::CcrSent { impacted: i, source: s });
            }
            EngEvent::CcrSucceeded { path, source, .. } => {
                let (p, i) = self.cntlid_of(path);
                let (_, s) = self.cntlid_of(source);
                ctx.note(p, T::CcrSucceeded { impacted: i, source: s });
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
                ctx.note(p, T::CcrFailed { impacted: i, source: s, reason: why });
            }
            EngEvent::SourceCcrIncapable { source } => {
                let (p, s) = self.cntlid_of(source);
                ctx.note(p, T::SourceCcrIncapable { source: s });
            }
            EngEvent::FellBackToTimer { path, remaining } => {
                self.fallbacks += 1;
                let (p, i) = self.cntlid_of(path);
                ctx.note(p, T::FellBackToTimer { cntlid: i, remaining });
            }
            EngEvent::HoldExtendedByCcr { path, source, .. } => {
                let (p, i) = self.cntlid_of(path);
                let (_, s) = self.cntlid_of(source);
                ctx.note(p, T::HoldExtended { cntlid: i, source: s });
            }
            EngEvent::HoldAwaitingPath { path } => {
                let (p, i) = self.cntlid_of(path);
                ctx.note(p, T::HoldAwaitingPath { cntlid: i });
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
                ctx.note(p, T::Released { cntlid: i, released, after, reason: why });
                if released > 0 && self.first_release.is_none() && self.first_detect.is_some() {
                    self.first_release = Some(ctx.now);
                }
            }
        }
    }
}

/// A path failure in the timeline's words.
fn why(f: &PathFailure) -> String {
    match f {
        PathFailure::Closed(CloseCause::PeerClosed) => "connection closed by the target".to_string(),
        PathFailure::Closed(CloseCause::TermReceived { fes, fei }) => {
            format!("C2HTermReq (FES {:#x}, FEI {fei:#x})", fes.0)
        }
        PathFailure::Closed(c @ CloseCause::ProtocolError { .. }) => format!("bad PDU: {c}"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scenario_value_gives_a_valid_host() {
        for (kato, paths) in [(MS, 1), (u64::MAX, nvme_ccr::MAX_PATHS)] {
            let cfg = HostCfg { kato, reconnect_delay: u64::MAX, engine: Config::new(nvme_ccr::Policy::Ccr) };
            let h = Host::new(cfg, paths);
            assert_eq!(h.host.config().kato, dur(kato));
            assert_eq!((h.host.config().io_queues, h.host.config().queue_depth), (1, IO_QUEUE_DEPTH));
            assert_eq!(h.host.config().digests, Digests { header: true, data: true });
            assert_eq!(h.host.config().ctrl_loss_tmo, None);
        }
    }

    #[test]
    fn failures_read_as_the_timeline_always_said() {
        assert_eq!(why(&PathFailure::Closed(CloseCause::PeerClosed)), "connection closed by the target");
        assert_eq!(why(&PathFailure::KeepAliveTimeout), "keep-alive timeout");
        let term = PathFailure::Closed(CloseCause::TermReceived { fes: nvme_proto::tcp::Fes(2), fei: 0 });
        assert_eq!(why(&term), "C2HTermReq (FES 0x2, FEI 0x0)");
    }
}
