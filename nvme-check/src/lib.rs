//! # nvme-check
//!
//! An exhaustive model check of NVMe/TCP multipath failover with [stateright](https://docs.rs/stateright): every
//! schedule and every fault of a small workload, explored breadth first, with the shortest counterexample when a
//! property fails.
//!
//! The model is the code, not a sketch of it: one nvme-fabric [`Host`] (associations, multipath, nvme-ccr's recovery
//! engine behind its invariant monitor, [`nvme_ccr::check`]) with two or three paths, one nvme-fabric [`Subsystem`]
//! with one controller per path (nvme-ccr's CCR target inside), and the runtime between them:
//!
//! * **Network.** Each nvme-fabric connection is one TCP stream: a FIFO of messages per connection and direction
//!   (the shape of stateright's `Network::Ordered`, keyed by connection instead of by actor pair, since the subsystem
//!   is one state machine serving every connection). A message is everything one side transmitted on that connection
//!   after one input (whole PDU batches), or the end of the stream. Messages of different connections are delivered
//!   in any order and delayed arbitrarily; nothing is lost except a whole connection.
//! * **Time** is virtual and advances only as a step to the next deadline of either side (`poll_timeout`), never past
//!   [`Setup::horizon`], so every search ends. Unless [`Setup::lag`], time moves only once the network is quiet:
//!   every message sent before a deadline arrives before it (latency below the timers' granularity); deliveries
//!   between two deadlines still interleave in every order. With keep-alive off this is what the time-based hold
//!   rests on (a controller that never notices a dead host must at least have received what was sent to it); with
//!   `lag` a message may stay in flight for any number of time steps, and keep-alive (`kato`) must be on for the
//!   hold to be sound (a controller that hears nothing expires itself).
//! * **Media** is a byte per block, written and read at once when the subsystem asks (a fault holds a write back).
//! * **Workload**: `writes` writes (values 1, 2, ...) to `blocks` blocks in turn, then a read of block 0, at most
//!   `depth` outstanding; the application submits the next one at any step.
//! * **Faults**, chosen at any step within a budget: a write held inside a failing controller (`fopcode`, the
//!   controller failing at once or freezing) that lands at any later step ([`Action::Land`]) within the bound the
//!   target promises ([`Setup::delay`]: the hold; with `noncompliant`, three times that, past the host's deadline); the loss of a path's connections (a CCR or log read in flight is lost with them, a source
//!   fails while its CCR is pending); a frozen path; `fail-ccr` (CCRs accepted, then Failed); `no-ccr` (CCRs refused);
//!   the next CCR Completed notice (AEN) lost; the next CCR log read failed.
//!   With `noncompliant` every fault too; a schedule where such a target also refuses or fails CCRs leaves no host a
//!   proof it could trust, and its stale data is not counted ([`Setup::beyond_any_host`]).
//!
//! Properties ([`properties`]): no stale data (nvme-ccr's [`Register`] over every write, read and media landing:
//! no read older than the last acknowledged write, no stale write landing after a newer acknowledged one), the
//! engine's invariants in every state (nvme-ccr's monitor), and every command completed or failed to its submitter
//! once time ran out.
//!
//! Keep-alive is off in the default configuration (KATO 0): with TBKAS a keep-alive every KATO / 4 multiplies the
//! interleavings; the hold is then `CQT` (the TP4129 formula with KATO 0), a frozen path is detected by the I/O
//! timeout, and [`Setup::kato`] (`nvme-lab check --kato`) turns it on. Reconnects are off too (a failed path is given
//! up) unless [`Setup::reconnect`] (`--reconnect`).
//!
//! See `spec-notes/model-check.md` for the choices and BENCHMARKS.md for the sizes checked.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use nvme_ccr::check::{DataViolation, Register};
use nvme_ccr::{Config as EngineConfig, Instant, Policy};
use nvme_fabric::conn::{ConnEvent, ConnId};
use nvme_fabric::controller::{
    Fault as TargetFault, FaultAction, FaultTarget, MediaId, MediaKind, Subsystem, SubsystemConfig,
};
use nvme_fabric::host::{Host, HostConfig, Io, IoId, PathPhase};
use stateright::{Model, Property};

mod trace;

pub use trace::{describe_path, summarize};

/// The subsystem NQN of the model.
pub const NQN: &str = "nqn.2026-12.io.example:check";
const HOSTNQN: &str = "nqn.2014-08.org.nvmexpress:uuid:check";
/// Block size of the namespace.
pub const BLOCK: usize = 512;
/// CQT the controllers report.
pub const CQT: Duration = Duration::from_secs(1);
/// The host's I/O command timeout (how a frozen path is noticed).
pub const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// The host's admin command timeout (CCRs, log reads).
pub const ADMIN_TIMEOUT: Duration = Duration::from_secs(3);
/// The host's bound on a connect (a reconnect to a frozen path).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// With [`Setup::reconnect`]: the wait before a failed path is connected again.
pub const RECONNECT_DELAY: Duration = Duration::from_secs(1);
/// With [`Setup::reconnect`]: a path not live again for this long is given up.
pub const CTRL_LOSS_TMO: Duration = Duration::from_secs(3);

/// The size and kind of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Setup {
    /// The host's recovery policy.
    pub policy: Policy,
    /// Paths (controllers), 2 or 3.
    pub paths: usize,
    /// Writes in the workload (then one read).
    pub writes: usize,
    /// Commands outstanding at most.
    pub depth: usize,
    /// Blocks written in turn.
    pub blocks: usize,
    /// Faults per schedule at most.
    pub faults: usize,
    /// The target may break its CQT promise (a held write outlives the hold).
    pub noncompliant: bool,
    /// KATO in seconds (0: keep-alive off).
    pub kato: u64,
    /// Messages may stay in flight across time steps (a slow network). Off: every message sent before a deadline
    /// arrives before it (latency below the timers' granularity), only frozen or lost paths lose messages.
    pub lag: bool,
    /// A failed path is reconnected ([`RECONNECT_DELAY`] after its commands were released, given up after
    /// [`CTRL_LOSS_TMO`]) instead of given up at once.
    pub reconnect: bool,
}

impl Setup {
    /// The CI configuration for `policy`: 2 paths, 2 writes and a read to one block, depth 1, 3 faults.
    pub fn ci(policy: Policy, noncompliant: bool) -> Self {
        Setup {
            policy,
            paths: 2,
            writes: 2,
            depth: 1,
            blocks: 1,
            faults: 3,
            noncompliant,
            kato: 0,
            lag: false,
            reconnect: false,
        }
    }

    /// The hold the host computes: `(TBKAS ? 3 : 2) x KATO + CQT` (TBKAS on).
    pub fn hold(&self) -> Duration {
        Duration::from_secs(3 * self.kato) + CQT
    }

    /// How long a write held by `fopcode` may stay in the backend at most, from its arrival: it lands at any step
    /// before that ([`Action::Land`]), or when that time comes (a `Tick`). A compliant target keeps its promise: at
    /// most the hold (the detection cannot come earlier than the arrival, so the host's deadline is never earlier). A
    /// noncompliant one breaks it: up to three times the hold, far past the host's deadline, and the horizon leaves
    /// room after it for the recovery to finish (so every schedule can complete).
    pub fn delay(&self) -> Duration {
        if self.noncompliant { self.hold() * 3 } else { self.hold() }
    }

    /// How long time may pass while the application has a command it could submit. Without reconnects and
    /// keep-alive, no timer runs without commands, so until the horizon (any step). With them, timers run on an idle
    /// host (reconnect attempts, keep-alives): until the hold, so that the rest of the workload still has the
    /// horizon's room to finish.
    pub fn idle_until(&self) -> Instant {
        if self.reconnect || self.kato > 0 { Instant::from_elapsed(self.hold()) } else { self.horizon() }
    }

    /// The end of virtual time: room for a fault's detection, the hold, the longest delay, the admin timeout and a
    /// retry after all of them.
    pub fn horizon(&self) -> Instant {
        let reconnect = if self.reconnect { RECONNECT_DELAY } else { Duration::ZERO };
        Instant::from_elapsed(
            IO_TIMEOUT + self.hold() + self.delay() + ADMIN_TIMEOUT * 2 + reconnect + Duration::from_secs(2),
        )
    }

    /// Whether the schedule of `st` leaves no host a proof it could trust: the target breaks its CQT promise
    /// (`noncompliant`) and refuses CCRs (`no-ccr`) or fails them (`fail-ccr`), so the only proof left is the timer
    /// it breaks. Stale data there is the target's fault, not the host's: [`NO_STALE_DATA`] does not count it.
    pub fn beyond_any_host(&self, st: &State) -> bool {
        self.noncompliant && st.faults.iter().any(|f| matches!(f, Fault::FailCcr | Fault::NoCcr))
    }

    /// The workload: writes to blocks in turn (write `k` has value `k + 1`), then a read of block 0.
    pub fn ops(&self) -> Vec<Op> {
        let mut ops: Vec<Op> =
            (0..self.writes).map(|k| Op::Write { lba: (k % self.blocks.max(1)) as u64, value: k as u8 + 1 }).collect();
        ops.push(Op::Read { lba: 0 });
        ops
    }
}

/// One application command of the workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// Write `value` to every byte of block `lba`.
    Write {
        /// The block.
        lba: u64,
        /// The value.
        value: u8,
    },
    /// Read block `lba`.
    Read {
        /// The block.
        lba: u64,
    },
}

/// A fault the model may inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fault {
    /// The controller behind `path` holds its next write for `delay` and fails at once (`freeze`: its connections
    /// go silent instead, the controller stays live).
    Fopcode {
        /// The path.
        path: usize,
        /// How long the write stays in the backend.
        delay: Duration,
        /// Freeze instead of failing.
        freeze: bool,
    },
    /// Every connection of `path` is lost (both ends see it closed; what was in flight is gone).
    Loss {
        /// The path.
        path: usize,
    },
    /// Every connection of `path` goes silent both ways (no end notices but by its timers).
    Freeze {
        /// The path.
        path: usize,
    },
    /// From now on accepted CCRs end with CCRS = Failed.
    FailCcr,
    /// From now on CCRs are refused (Invalid Command Opcode).
    NoCcr,
    /// The next CCR Completed notice (AEN) the subsystem would raise is lost.
    LoseAen,
    /// The next Get Log Page of the CCR log fails (Internal Error).
    FailLogRead,
}

/// One step of the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// The application submits its next command.
    Submit,
    /// The next message on host connection `conn` arrives (at the host when `to_host`).
    Deliver {
        /// The host's connection.
        conn: ConnId,
        /// Towards the host.
        to_host: bool,
    },
    /// Time moves to the next deadline of either side.
    Tick,
    /// A write a fault holds in the backend finishes now (before its delay is over).
    Land {
        /// The subsystem's media operation.
        media: MediaId,
    },
    /// A fault happens.
    Fault(Fault),
}

/// A message on one connection.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Msg {
    /// Bytes transmitted after one input.
    Bytes(Vec<u8>),
    /// The sender closed the connection.
    Close,
}

/// One TCP connection between the host and the subsystem.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Link {
    /// The subsystem's name for it.
    pub sub: ConnId,
    /// The path.
    pub path: usize,
    /// Its queue (0 = admin) in the order the host opened the path's connections.
    pub queue: u16,
    /// Silent both ways.
    pub frozen: bool,
}

/// A state of the model: the host, the subsystem, the network, the media, the workload and the checkers.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct State {
    /// Virtual time.
    pub now: Instant,
    /// The host.
    pub host: Host,
    /// The subsystem.
    pub sub: Subsystem,
    /// Host connection -> link.
    pub links: BTreeMap<ConnId, Link>,
    /// Messages in flight: (host connection, towards the host) -> FIFO.
    pub net: BTreeMap<(ConnId, bool), VecDeque<Msg>>,
    /// A byte per block.
    pub media: Vec<u8>,
    /// The next workload op to submit.
    pub next_op: usize,
    /// Submitted and not finished: (host's id, op index).
    pub outstanding: Vec<(IoId, usize)>,
    /// Ops finished with an error (failed to their submitter).
    pub failed: usize,
    /// The data checker.
    pub register: Register,
    /// Faults injected so far.
    pub faults: Vec<Fault>,
    /// The first data violation.
    pub data_violation: Option<DataViolation>,
    /// A write held by a fault landed on the media after the hold of its path began (a late landing that did no
    /// harm, or did).
    pub late_landing: bool,
}

impl State {
    /// Whether every op of the workload was submitted and finished.
    pub fn all_done(&self, setup: &Setup) -> bool {
        self.next_op == setup.ops().len() && self.outstanding.is_empty()
    }
}

/// The model of one [`Setup`].
#[derive(Clone, Debug)]
pub struct FailoverModel {
    /// The setup.
    pub setup: Setup,
    ops: Vec<Op>,
}

/// Narration of a step, for traces: lines describing what happened.
type Log<'a> = Option<&'a mut Vec<String>>;

fn note(log: &mut Log<'_>, f: impl FnOnce() -> String) {
    if let Some(l) = log {
        l.push(f());
    }
}

impl FailoverModel {
    /// The model of `setup`.
    pub fn new(setup: Setup) -> Self {
        FailoverModel { ops: setup.ops(), setup }
    }

    fn configs(&self) -> (SubsystemConfig, HostConfig) {
        let mut s = SubsystemConfig::new(NQN);
        s.namespace.blocks = self.setup.blocks.max(1) as u64;
        s.cqt = nvme_proto::cmd::Cqt::from_raw(CQT.as_millis() as u16);
        s.queue_depth = 64;
        s.max_io_queues = 1;
        s.event_capacity = 64;
        s.mdts = 1;
        s.max_data_pdu = 8192;
        s.maxh2cdata = 8192;
        let mut engine = EngineConfig::new(self.setup.policy);
        engine.final_log_wait = Duration::from_secs(1);
        engine.accepted_ccr_recheck = Duration::from_secs(1);
        let mut h = HostConfig::new(NQN, HOSTNQN, [7; 16], engine);
        h.kato = Duration::from_secs(self.setup.kato);
        h.io_queues = 1;
        h.queue_depth = 2.max(self.setup.depth as u16);
        h.io_timeout = IO_TIMEOUT;
        h.admin_timeout = ADMIN_TIMEOUT;
        h.connect_timeout = CONNECT_TIMEOUT;
        // Without `reconnect` a path whose controller failed is given up (a reconnect's bring-up multiplies the
        // interleavings); commands with no path left fail with Host Pathing Error. With it, the path comes back as a
        // new association (a new controller of the subsystem), and commands wait for it within ctrl_loss_tmo.
        if self.setup.reconnect {
            h.reconnect_delay = RECONNECT_DELAY;
            h.ctrl_loss_tmo = Some(CTRL_LOSS_TMO);
        } else {
            h.ctrl_loss_tmo = Some(Duration::ZERO);
        }
        h.event_capacity = 64;
        h.max_transfer = 8192;
        h.max_data_pdu = 8192;
        (s, h)
    }

    /// The state after every path came up (bring-up delivered in order, no faults, no time).
    pub fn initial(&self) -> State {
        let (s, h) = self.configs();
        let sub = Subsystem::new(s, 7).expect("the model's subsystem configuration");
        let host = Host::with_engine_check(h, self.setup.paths).expect("the model's host configuration");
        let mut st = State {
            now: Instant::ZERO,
            host,
            sub,
            links: BTreeMap::new(),
            net: BTreeMap::new(),
            media: vec![0; self.setup.blocks.max(1)],
            next_op: 0,
            outstanding: Vec::new(),
            failed: 0,
            register: Register::new(),
            faults: Vec::new(),
            data_violation: None,
            late_landing: false,
        };
        let mut log = Vec::new();
        st.host.start(st.now);
        self.pump(&mut st, &mut Some(&mut log));
        for _ in 0..10_000 {
            let Some(&(conn, to_host)) = st.net.keys().next() else { break };
            self.deliver(&mut st, conn, to_host, &mut Some(&mut log));
        }
        assert!(
            (0..self.setup.paths).all(|p| st.host.path_phase(p) == Some(PathPhase::Live)),
            "every path comes up: {log:#?}"
        );
        st
    }

    /// Applies `action` to `state`, narrating into `log`.
    pub fn step(&self, state: &State, action: Action, mut log: Log<'_>) -> State {
        let mut st = state.clone();
        match action {
            Action::Submit => self.submit(&mut st, &mut log),
            Action::Deliver { conn, to_host } => self.deliver(&mut st, conn, to_host, &mut log),
            Action::Tick => {
                let next = self.next_deadline(&st).expect("Tick is offered only with a deadline");
                st.now = st.now.max(next);
                note(&mut log, || format!("time moves to {}", secs(st.now)));
                st.sub.handle_timeout(st.now);
                st.host.handle_timeout(st.now);
                self.pump(&mut st, &mut log);
            }
            Action::Fault(f) => self.fault(&mut st, f, &mut log),
            Action::Land { media } => {
                note(&mut log, || "the write held in the backend finishes now".to_string());
                st.sub.release_stuck(media);
                self.pump(&mut st, &mut log);
            }
        }
        st
    }

    fn next_deadline(&self, st: &State) -> Option<Instant> {
        let mut host = st.host.clone();
        [host.poll_timeout(), st.sub.poll_timeout()].into_iter().flatten().min()
    }

    fn submit(&self, st: &mut State, log: &mut Log<'_>) {
        let k = st.next_op;
        st.next_op += 1;
        let io = match self.ops[k] {
            Op::Write { lba, value } => Io::Write { slba: lba, data: vec![value; BLOCK].into() },
            Op::Read { lba } => Io::Read { slba: lba, blocks: 1 },
        };
        let now = st.now;
        match st.host.submit(now, io) {
            Ok(id) => {
                match self.ops[k] {
                    Op::Write { lba, value } => {
                        note(log, || format!("application submits W{value} (value {value}) to LBA {lba}"));
                        st.register.write_invoked(k as u64, lba, u64::from(value));
                    }
                    Op::Read { lba } => {
                        note(log, || format!("application submits a read of LBA {lba}"));
                        st.register.read_invoked(k as u64, lba);
                    }
                }
                st.outstanding.push((id, k));
            }
            Err(e) => {
                note(log, || format!("application's submit refused: {e}"));
                st.failed += 1;
            }
        }
        self.pump(st, log);
    }

    fn deliver(&self, st: &mut State, conn: ConnId, to_host: bool, log: &mut Log<'_>) {
        let Some(q) = st.net.get_mut(&(conn, to_host)) else { return };
        let Some(msg) = q.pop_front() else { return };
        if q.is_empty() {
            st.net.remove(&(conn, to_host));
        }
        let Some(link) = st.links.get(&conn).copied() else { return };
        let now = st.now;
        note(log, || trace::describe_delivery(&link, conn, to_host, &msg, &st.sub));
        match (msg, to_host) {
            (Msg::Bytes(b), true) => {
                st.host.handle_input(now, conn, &b);
            }
            (Msg::Bytes(b), false) => {
                let n = st.sub.handle_input(now, link.sub, &b);
                if n < b.len() {
                    st.net.entry((conn, false)).or_default().push_front(Msg::Bytes(b[n..].to_vec()));
                }
            }
            (Msg::Close, true) => st.host.handle_closed(now, conn),
            (Msg::Close, false) => st.sub.handle_closed(now, link.sub),
        }
        self.pump(st, log);
    }

    fn fault(&self, st: &mut State, f: Fault, log: &mut Log<'_>) {
        st.faults.push(f);
        let now = st.now;
        note(log, || format!("FAULT: {}", trace::describe_fault(&f)));
        match f {
            Fault::Fopcode { path, delay, freeze } => {
                if let Some(cntlid) = st.host.path_facts(path).map(|f| f.cntlid) {
                    let action = if freeze { FaultAction::Freeze } else { FaultAction::Fatal };
                    let _ = st.sub.arm_fault(FaultTarget::Controller(cntlid), TargetFault { opcode: 1, delay, action });
                }
            }
            Fault::Loss { path } => {
                let conns: Vec<(ConnId, Link)> =
                    st.links.iter().filter(|(_, l)| l.path == path).map(|(c, l)| (*c, *l)).collect();
                for (h, l) in conns {
                    st.net.remove(&(h, true));
                    st.net.remove(&(h, false));
                    st.links.remove(&h);
                    st.sub.handle_closed(now, l.sub);
                    st.host.handle_closed(now, h);
                }
            }
            Fault::Freeze { path } => self.freeze(st, path),
            Fault::FailCcr => st.sub.set_fail_ccr(true),
            Fault::NoCcr => st.sub.set_no_ccr(true),
            Fault::LoseAen => st.sub.lose_next_ccr_notice(),
            Fault::FailLogRead => st.sub.fail_next_ccr_log(),
        }
        self.pump(st, log);
    }

    fn freeze(&self, st: &mut State, path: usize) {
        for (h, l) in st.links.iter_mut() {
            if l.path == path {
                l.frozen = true;
                st.net.remove(&(*h, true));
                st.net.remove(&(*h, false));
            }
        }
    }

    fn host_conn(st: &State, s: ConnId) -> Option<ConnId> {
        st.links.iter().find(|(_, l)| l.sub == s).map(|(h, _)| *h)
    }

    fn send(st: &mut State, h: ConnId, to_host: bool, msg: Msg) {
        if st.links.get(&h).is_some_and(|l| !l.frozen) {
            st.net.entry((h, to_host)).or_default().push_back(msg);
        }
    }

    /// Carries out everything both sides ask for, deterministically, until nothing moves.
    fn pump(&self, st: &mut State, log: &mut Log<'_>) {
        let len = st.sub.config().transmit_buffer_len().max(st.host.config().transmit_buffer_len());
        let mut buf = vec![0u8; len];
        for _ in 0..10_000 {
            let mut progress = false;
            let now = st.now;
            while let Some(open) = st.host.poll_open() {
                progress = true;
                // The queue's index in its association: the path's connections the host still knows come first.
                let queue =
                    st.links.iter().filter(|(c, l)| l.path == open.path && st.host.conn_usage(**c).is_some()).count()
                        as u16;
                match st.sub.accept(now) {
                    Ok(s) => {
                        st.links.insert(open.conn, Link { sub: s, path: open.path, queue, frozen: false });
                        st.host.handle_connected(now, open.conn);
                    }
                    Err(_) => st.host.handle_closed(now, open.conn),
                }
            }
            while let Some(ev) = st.host.poll_conn_event() {
                progress = true;
                match ev {
                    ConnEvent::Transmit(h) | ConnEvent::Close(h, _) => {
                        let bytes = drain_transmit(&mut buf, |b| st.host.poll_transmit(now, h, b));
                        if !bytes.is_empty() {
                            Self::send(st, h, false, Msg::Bytes(bytes));
                        }
                        if let ConnEvent::Close(..) = ev {
                            Self::send(st, h, false, Msg::Close);
                            st.host.handle_closed(now, h);
                        }
                    }
                    ConnEvent::Resume(_) | ConnEvent::Freeze(_) => {}
                }
            }
            while let Some(ev) = st.sub.poll_conn_event() {
                progress = true;
                match ev {
                    ConnEvent::Transmit(s) | ConnEvent::Close(s, _) => {
                        let bytes = drain_transmit(&mut buf, |b| st.sub.poll_transmit(now, s, b));
                        let h = Self::host_conn(st, s);
                        if let Some(h) = h
                            && !bytes.is_empty()
                        {
                            Self::send(st, h, true, Msg::Bytes(bytes));
                        }
                        if let ConnEvent::Close(..) = ev {
                            if let Some(h) = h {
                                Self::send(st, h, true, Msg::Close);
                            }
                            st.sub.handle_closed(now, s);
                        }
                    }
                    ConnEvent::Resume(_) => {}
                    ConnEvent::Freeze(s) => {
                        if let Some(path) = Self::host_conn(st, s).and_then(|h| st.links.get(&h)).map(|l| l.path) {
                            self.freeze(st, path);
                        }
                    }
                }
            }
            while let Some(req) = st.sub.poll_media() {
                progress = true;
                let lba = req.slba as usize;
                match req.kind {
                    MediaKind::Write => {
                        let value = st.sub.media_data(req.id).and_then(|d| d.first().copied()).unwrap_or(0);
                        if let Some(m) = st.media.get_mut(lba) {
                            *m = value;
                        }
                        let op = u64::from(value).saturating_sub(1);
                        note(log, || format!("media: W{value} lands on LBA {lba} (controller {})", req.cntlid));
                        st.late_landing |= st.sub.controllers().any(|(c, live)| c == req.cntlid && !live);
                        if let Err(v) = st.register.landed(op, lba as u64, u64::from(value)) {
                            note(log, || format!("VIOLATION: {v}"));
                            st.data_violation.get_or_insert(v);
                        }
                    }
                    MediaKind::Read => {
                        let value = st.media.get(lba).copied().unwrap_or(0);
                        if let Some(b) = st.sub.media_buffer(req.id) {
                            b.fill(value);
                        }
                    }
                    MediaKind::Flush => {}
                }
                st.sub.handle_media_done(now, req.id, Ok(()));
            }
            while let Some(ev) = st.sub.poll_event() {
                progress = true;
                if let Some(line) = trace::describe_sub_event(&ev) {
                    note(log, || line);
                }
            }
            while let Some(ev) = st.host.poll_event() {
                progress = true;
                if let Some(line) = trace::describe_host_event(&ev) {
                    note(log, || line);
                }
            }
            while let Some(c) = st.host.poll_completion() {
                progress = true;
                let Some(i) = st.outstanding.iter().position(|(id, _)| *id == c.id) else { continue };
                let (_, k) = st.outstanding.remove(i);
                match (self.ops[k], c.result) {
                    (Op::Write { lba, value }, Ok(_)) => {
                        note(log, || format!("application: W{value} acknowledged"));
                        st.register.write_acked(k as u64, lba);
                    }
                    (Op::Read { lba }, Ok(done)) => {
                        let first = done.data.first().copied().unwrap_or(0);
                        let value = if done.data.iter().all(|&b| b == first) { u64::from(first) } else { u64::MAX };
                        note(log, || format!("application: read of LBA {lba} returns {value}"));
                        if let Err(v) = st.register.read_done(k as u64, lba, value) {
                            note(log, || format!("VIOLATION: {v}"));
                            st.data_violation.get_or_insert(v);
                        }
                    }
                    (op, Err(e)) => {
                        note(log, || format!("application: {op:?} failed: {e}"));
                        st.failed += 1;
                    }
                }
            }
            if !progress {
                return;
            }
        }
        panic!("the model's runtime did not settle");
    }

    fn fault_choices(&self, st: &State, out: &mut Vec<Action>) {
        if st.faults.len() >= self.setup.faults {
            return;
        }
        for path in 0..self.setup.paths {
            let live = st.host.path_phase(path) == Some(PathPhase::Live);
            let linked = st.links.values().any(|l| l.path == path && !l.frozen);
            if live && !st.faults.iter().any(|f| matches!(f, Fault::Fopcode { path: p, .. } if *p == path)) {
                for freeze in [false, true] {
                    out.push(Action::Fault(Fault::Fopcode { path, delay: self.setup.delay(), freeze }));
                }
            }
            if linked {
                out.push(Action::Fault(Fault::Loss { path }));
                out.push(Action::Fault(Fault::Freeze { path }));
            }
        }
        if self.setup.policy.uses_ccr() {
            let (fail, no) = st.sub.ccr_switches();
            if !fail {
                out.push(Action::Fault(Fault::FailCcr));
            }
            if !no {
                out.push(Action::Fault(Fault::NoCcr));
            }
            let (aen, log) = st.sub.one_shot_faults();
            if !aen {
                out.push(Action::Fault(Fault::LoseAen));
            }
            if !log {
                out.push(Action::Fault(Fault::FailLogRead));
            }
        }
    }
}

impl Model for FailoverModel {
    type State = State;
    type Action = Action;

    fn init_states(&self) -> Vec<State> {
        vec![self.initial()]
    }

    fn actions(&self, st: &State, out: &mut Vec<Action>) {
        // A violation ends the path: the counterexample is found, its continuations add nothing.
        if st.data_violation.is_some() || st.host.engine_violation().is_some() {
            return;
        }
        if st.next_op < self.ops.len() && st.outstanding.len() < self.setup.depth {
            out.push(Action::Submit);
        }
        for &(conn, to_host) in st.net.keys() {
            out.push(Action::Deliver { conn, to_host });
        }
        let quiet = self.setup.lag || st.net.is_empty();
        let can_submit = st.next_op < self.ops.len() && st.outstanding.len() < self.setup.depth;
        let idle_ok = |t: Instant| !can_submit || t <= self.setup.idle_until();
        if quiet && self.next_deadline(st).is_some_and(|t| t <= self.setup.horizon() && idle_ok(t)) {
            out.push(Action::Tick);
        }
        for (media, _) in st.sub.stuck_media() {
            out.push(Action::Land { media });
        }
        self.fault_choices(st, out);
    }

    fn next_state(&self, st: &State, action: Action) -> Option<State> {
        Some(self.step(st, action, None))
    }

    fn properties(&self) -> Vec<Property<Self>> {
        properties()
    }

    fn format_action(&self, action: &Action) -> String {
        format!("{action:?}")
    }
}

/// The property names, in report order.
pub const NO_STALE_DATA: &str = "no stale data";
/// The engine's invariants.
pub const ENGINE_INVARIANTS: &str = "engine invariants";
/// Liveness at the end.
pub const ALL_COMPLETE: &str = "every command completes or fails";
/// A witness that failover was exercised.
pub const FAILOVER_HAPPENS: &str = "a held write lands after its path failed, every command done";

/// The properties: safety (data and engine) in every state, liveness on every terminal state, and a witness.
pub fn properties() -> Vec<Property<FailoverModel>> {
    vec![
        Property::always(NO_STALE_DATA, |m: &FailoverModel, s: &State| {
            s.data_violation.is_none() || m.setup.beyond_any_host(s)
        }),
        Property::always(ENGINE_INVARIANTS, |_, s: &State| s.host.engine_violation().is_none()),
        // Checked on the terminal states (time ran out, nothing in flight): with the horizon past every timer of
        // the workload, a command still outstanding there waits forever.
        Property::eventually(ALL_COMPLETE, |m: &FailoverModel, s: &State| {
            s.all_done(&m.setup) || s.data_violation.is_some() || s.host.engine_violation().is_some()
        }),
        Property::sometimes(FAILOVER_HAPPENS, |m: &FailoverModel, s: &State| s.late_landing && s.all_done(&m.setup)),
    ]
}

/// Everything `poll` has to send now (one side's `poll_transmit` for one connection, until it gives 0 or an error),
/// through `buf`.
fn drain_transmit<E>(buf: &mut [u8], mut poll: impl FnMut(&mut [u8]) -> Result<usize, E>) -> Vec<u8> {
    let mut bytes = Vec::new();
    while let Ok(n) = poll(buf) {
        if n == 0 {
            break;
        }
        bytes.extend_from_slice(&buf[..n]);
    }
    bytes
}

fn secs(t: Instant) -> String {
    format!("{:.3} s", t.elapsed().as_secs_f64())
}

/// What a property came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A safety or liveness property held in every state explored (the whole space when the run is complete).
    Holds,
    /// A counterexample was found.
    Violated,
    /// A witness (a `sometimes` property) was found.
    Witnessed,
    /// No witness was found.
    NotWitnessed,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::Holds => "holds",
            Verdict::Violated => "VIOLATED (counterexample below)",
            Verdict::Witnessed => "witnessed",
            Verdict::NotWitnessed => "not witnessed",
        })
    }
}

/// The outcome of one check.
#[derive(Clone, Debug)]
pub struct Report {
    /// What was checked.
    pub setup: Setup,
    /// States generated, repeats included.
    pub states: usize,
    /// Distinct states.
    pub unique: usize,
    /// The deepest path explored.
    pub max_depth: usize,
    /// Wall time.
    pub elapsed: Duration,
    /// Whether every reachable state was visited (false when the run stopped at a counterexample).
    pub complete: bool,
    /// Each property's verdict, in [`properties`] order.
    pub verdicts: Vec<(&'static str, Verdict)>,
    /// The first violated property's counterexample (the shortest, BFS).
    pub counterexample: Option<Counterexample>,
}

/// A path to a state that violates a property.
#[derive(Clone, Debug)]
pub struct Counterexample {
    /// The property violated.
    pub property: &'static str,
    /// The steps taken from the initial state.
    pub actions: Vec<Action>,
    /// The state reached.
    pub end: State,
    /// The numbered, readable trace of the steps.
    pub trace: Vec<String>,
}

impl Report {
    /// Whether a safety or liveness property was violated.
    pub fn violated(&self) -> bool {
        self.verdicts.iter().any(|(_, v)| *v == Verdict::Violated)
    }
}

/// Checks `setup` breadth first on `threads` threads, calling `progress(states, unique, elapsed)` about once a second;
/// stops at the first counterexample.
pub fn run(setup: Setup, threads: usize, mut progress: impl FnMut(usize, usize, Duration)) -> Report {
    use stateright::{Checker, HasDiscoveries};
    let start = std::time::Instant::now();
    let model = FailoverModel::new(setup);
    let checker = model.clone().checker().threads(threads.max(1)).finish_when(HasDiscoveries::AnyFailures).spawn_bfs();
    while !checker.is_done() {
        std::thread::sleep(Duration::from_millis(200));
        progress(checker.state_count(), checker.unique_state_count(), start.elapsed());
    }
    let checker = checker.join();
    let elapsed = start.elapsed();
    let discoveries = checker.discoveries();
    let mut verdicts = Vec::new();
    let mut counterexample = None;
    for p in properties() {
        let found = discoveries.get(p.name);
        let verdict = match (p.expectation.discovery_is_failure(), found.is_some()) {
            (true, true) => Verdict::Violated,
            (true, false) => Verdict::Holds,
            (false, true) => Verdict::Witnessed,
            (false, false) => Verdict::NotWitnessed,
        };
        if verdict == Verdict::Violated
            && counterexample.is_none()
            && let Some(path) = found
        {
            counterexample = Some(Counterexample {
                property: p.name,
                actions: path.clone().into_actions(),
                end: path.last_state().clone(),
                trace: describe_path(&model, path),
            });
        }
        verdicts.push((p.name, verdict));
    }
    Report {
        setup,
        states: checker.state_count(),
        unique: checker.unique_state_count(),
        max_depth: checker.max_depth(),
        elapsed,
        complete: counterexample.is_none(),
        verdicts,
        counterexample,
    }
}
