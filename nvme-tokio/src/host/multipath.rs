//! A multipath front over several controllers of one subsystem: round-robin I/O over the usable paths, and
//! recovery by nvme-ccr's [`Engine`]: every submission, completion, controller failure and asynchronous event is
//! fed to it, and what it asks for (CCRs through a source, CCR log reads, retries, failures, reconnects) is carried
//! out here. The engine alone decides when a command that was in flight on a failed path may run again.
//!
//! One task owns the engine (it is Sans-IO and single-threaded); everything else talks to it by messages.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use nvme_ccr::{
    CCR_LOG_BYTES, CcrId, CommandKind, Completion as EngineCompletion, Config, Engine, Event, FailureReason, Instant,
    LogReadId, PathAction, PathId, Policy, ReleaseAction,
};
use nvme_proto::cmd::{Status, StatusCode};
use tokio::sync::{mpsc, oneshot};

use super::{Completion, Controller, CtrlEvent, DataOut, HostConfig, HostError};

/// Multipath configuration.
#[derive(Clone, Debug)]
pub struct MultipathConfig {
    /// How each controller is connected.
    pub host: HostConfig,
    /// The engine's configuration (the recovery policy and its knobs).
    pub engine: Config,
    /// Wait before reconnecting a path the engine released (Linux `reconnect_delay`: 10 s).
    pub reconnect_delay: Duration,
    /// Where to send what happens (for logs and tests), if anywhere.
    pub events: Option<mpsc::UnboundedSender<PathEvent>>,
}

impl MultipathConfig {
    /// `policy` with nvme-ccr's defaults, a 10 s reconnect delay and no event channel.
    pub fn new(host: HostConfig, policy: Policy) -> Self {
        MultipathConfig { host, engine: Config::new(policy), reconnect_delay: Duration::from_secs(10), events: None }
    }
}

/// What happened on the paths.
#[derive(Clone, Debug, PartialEq)]
pub enum PathEvent {
    /// Path `path` has a live controller `cntlid` (at start or after a reconnect).
    Connected {
        /// The path (index in the address list).
        path: usize,
        /// Its controller.
        cntlid: u16,
    },
    /// The controller of `path` failed.
    Failed {
        /// The path.
        path: usize,
        /// Why.
        reason: FailureReason,
    },
    /// A reconnect attempt failed; another follows after the reconnect delay.
    ReconnectFailed {
        /// The path.
        path: usize,
        /// The error.
        error: String,
    },
    /// The recovery engine reported this.
    Engine(Event),
}

/// One application I/O.
#[derive(Clone, Debug)]
pub enum IoKind {
    /// Read `len` bytes from block `slba`.
    Read {
        /// Starting block.
        slba: u64,
        /// Bytes (whole blocks, at most the controllers' transfer limit).
        len: usize,
    },
    /// Write `data` at block `slba`.
    Write {
        /// Starting block.
        slba: u64,
        /// The data (whole blocks).
        data: Arc<[u8]>,
    },
}

type Reply = oneshot::Sender<Result<Vec<u8>, Status>>;

enum Msg {
    Io { io: IoKind, reply: Reply },
    Done { token: u64, path: usize, res: Result<Completion, HostError> },
    Ctrl { path: usize, assoc: u64, ev: CtrlEvent },
    CcrDone { id: CcrId, res: Result<Completion, HostError> },
    LogDone { id: LogReadId, res: Result<Completion, HostError> },
    Reconnect { path: usize },
    Reconnected { path: usize, res: Result<(Controller, mpsc::UnboundedReceiver<CtrlEvent>), HostError> },
    Close { reply: oneshot::Sender<()> },
}

/// The multipath host. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Multipath {
    tx: mpsc::UnboundedSender<Msg>,
    block_size: u32,
    blocks: u64,
}

struct Slot {
    addr: SocketAddr,
    ctrl: Option<Controller>,
    assoc: u64,
}

struct Req {
    io: IoKind,
    reply: Reply,
    path: Option<usize>,
}

struct Actor {
    cfg: MultipathConfig,
    engine: Engine,
    epoch: tokio::time::Instant,
    slots: Vec<Slot>,
    rr: usize,
    reqs: HashMap<u64, Req>,
    next_token: u64,
    waiting: VecDeque<u64>,
    me: mpsc::UnboundedSender<Msg>,
}

impl Multipath {
    /// Connects one controller per address, in the order given (path `i` is `addrs[i]`), and starts the engine.
    /// Every path must connect.
    pub async fn connect(addrs: &[SocketAddr], cfg: MultipathConfig) -> Result<Multipath, HostError> {
        if addrs.is_empty() || addrs.len() > nvme_ccr::MAX_PATHS {
            return Err(HostError::Refused(format!("1..={} paths needed", nvme_ccr::MAX_PATHS)));
        }
        let (me, rx) = mpsc::unbounded_channel();
        let epoch = tokio::time::Instant::now();
        let mut engine = Engine::new(cfg.engine);
        let mut slots = Vec::new();
        let mut ns = None;
        for (i, &addr) in addrs.iter().enumerate() {
            let (ctrl, events) = match Controller::connect(addr, &cfg.host).await {
                Ok(c) => c,
                Err(e) => {
                    for s in &slots {
                        let s: &Slot = s;
                        if let Some(c) = &s.ctrl {
                            c.close();
                        }
                    }
                    return Err(e);
                }
            };
            let now = Instant::from_elapsed(epoch.elapsed());
            let id = engine.add_controller(now, ctrl.facts()).map_err(|e| HostError::Refused(format!("{e}")))?;
            debug_assert_eq!(id, PathId(i as u32));
            ns.get_or_insert(ctrl.namespace());
            forward(me.clone(), i, 0, events);
            if let Some(ev) = &cfg.events {
                let _ = ev.send(PathEvent::Connected { path: i, cntlid: ctrl.cntlid() });
            }
            slots.push(Slot { addr, ctrl: Some(ctrl), assoc: 0 });
        }
        let ns = ns.ok_or(HostError::ConnectionLost)?;
        let actor = Actor {
            cfg,
            engine,
            epoch,
            slots,
            rr: 0,
            reqs: HashMap::new(),
            next_token: 1,
            waiting: VecDeque::new(),
            me: me.clone(),
        };
        tokio::spawn(actor.run(rx));
        Ok(Multipath { tx: me, block_size: ns.block_size, blocks: ns.blocks })
    }

    /// The namespace's block size.
    pub fn block_size(&self) -> u32 {
        self.block_size
    }

    /// The namespace's size in blocks.
    pub fn blocks(&self) -> u64 {
        self.blocks
    }

    /// Runs one I/O and returns its data (reads) or an empty vector; an error status when it failed (Host Pathing
    /// Error when no path was left).
    pub async fn io(&self, io: IoKind) -> Result<Vec<u8>, Status> {
        let (reply, wait) = oneshot::channel();
        let gone = Status::new(StatusCode::HOST_PATHING_ERROR);
        self.tx.send(Msg::Io { io, reply }).map_err(|_| gone)?;
        wait.await.unwrap_or(Err(gone))
    }

    /// Reads `len` bytes at block `slba`.
    pub async fn read(&self, slba: u64, len: usize) -> Result<Vec<u8>, Status> {
        self.io(IoKind::Read { slba, len }).await
    }

    /// Writes `data` at block `slba`.
    pub async fn write(&self, slba: u64, data: Arc<[u8]>) -> Result<(), Status> {
        self.io(IoKind::Write { slba, data }).await.map(drop)
    }

    /// Closes every controller; I/O still waiting fails with Host Pathing Error.
    pub async fn close(&self) {
        let (reply, wait) = oneshot::channel();
        if self.tx.send(Msg::Close { reply }).is_ok() {
            let _ = wait.await;
        }
    }
}

/// Forwards a controller's events to the actor, tagged with the path and association.
fn forward(me: mpsc::UnboundedSender<Msg>, path: usize, assoc: u64, mut events: mpsc::UnboundedReceiver<CtrlEvent>) {
    tokio::spawn(async move {
        while let Some(ev) = events.recv().await {
            if me.send(Msg::Ctrl { path, assoc, ev }).is_err() {
                return;
            }
        }
    });
}

impl Actor {
    fn now(&self) -> Instant {
        Instant::from_elapsed(self.epoch.elapsed())
    }

    fn emit(&self, ev: PathEvent) {
        if let Some(tx) = &self.cfg.events {
            let _ = tx.send(ev);
        }
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Msg>) {
        loop {
            let timer = self.engine.poll_timeout().map(|t| self.epoch + t.elapsed());
            let msg = tokio::select! {
                m = rx.recv() => m,
                _ = async {
                    match timer {
                        Some(t) => tokio::time::sleep_until(t).await,
                        None => std::future::pending::<()>().await,
                    }
                } => {
                    let now = self.now();
                    self.engine.handle_timeout(now);
                    self.drain();
                    continue;
                }
            };
            let Some(msg) = msg else { return };
            if let Msg::Close { reply } = msg {
                self.close_all();
                let _ = reply.send(());
                return;
            }
            self.handle(msg);
            self.drain();
        }
    }

    fn close_all(&mut self) {
        for s in &mut self.slots {
            if let Some(c) = s.ctrl.take() {
                c.close();
            }
        }
        for (_, r) in self.reqs.drain() {
            let _ = r.reply.send(Err(Status::new(StatusCode::HOST_PATHING_ERROR)));
        }
    }

    fn handle(&mut self, msg: Msg) {
        let now = self.now();
        match msg {
            Msg::Io { io, reply } => {
                let token = self.next_token;
                self.next_token += 1;
                self.reqs.insert(token, Req { io, reply, path: None });
                self.dispatch(token, None);
            }
            // An error means the connection is gone: the command's fate is the engine's to decide once the failure
            // is reported (it arrives as a controller event).
            Msg::Done { token, path, res } => {
                if let Ok(c) = res
                    && let Ok(EngineCompletion::Deliver) = self.engine.handle_complete(now, PathId(path as u32), token)
                    && let Some(r) = self.reqs.remove(&token)
                {
                    let st = c.status();
                    let _ = r.reply.send(if st.is_success() { Ok(c.data) } else { Err(st) });
                }
            }
            Msg::Ctrl { path, assoc, ev } => {
                if self.slots.get(path).is_none_or(|s| s.assoc != assoc) {
                    return;
                }
                match ev {
                    CtrlEvent::Failed(reason) => {
                        self.slots[path].ctrl = None;
                        self.emit(PathEvent::Failed { path, reason });
                        let _ = self.engine.handle_controller_failed(now, PathId(path as u32), reason);
                    }
                    CtrlEvent::Aen(dw0) => {
                        let _ = self.engine.handle_aen(now, PathId(path as u32), dw0);
                    }
                }
            }
            Msg::CcrDone { id, res } => {
                if let Ok(c) = res {
                    let _ = self.engine.handle_ccr_completion(now, id, c.status(), c.cqe.dw0);
                }
            }
            Msg::LogDone { id, res } => match res {
                Ok(c) if c.status().is_success() => {
                    let _ = self.engine.handle_ccr_log(now, id, &c.data);
                }
                Ok(_) => {
                    let _ = self.engine.handle_ccr_log_failed(now, id);
                }
                Err(_) => {}
            },
            Msg::Reconnect { path } => {
                let _ = self.engine.handle_connecting(now, PathId(path as u32));
                let (addr, host, me) = (self.slots[path].addr, self.cfg.host.clone(), self.me.clone());
                tokio::spawn(async move {
                    let res = Controller::connect(addr, &host).await;
                    let _ = me.send(Msg::Reconnected { path, res });
                });
            }
            Msg::Reconnected { path, res } => match res {
                Ok((ctrl, events)) => {
                    let slot = &mut self.slots[path];
                    slot.assoc += 1;
                    forward(self.me.clone(), path, slot.assoc, events);
                    match self.engine.handle_reconnected(now, PathId(path as u32), ctrl.facts()) {
                        Ok(()) => {
                            self.emit(PathEvent::Connected { path, cntlid: ctrl.cntlid() });
                            self.slots[path].ctrl = Some(ctrl);
                            let waiting: Vec<u64> = self.waiting.drain(..).collect();
                            for token in waiting {
                                self.dispatch(token, None);
                            }
                        }
                        Err(_) => ctrl.close(),
                    }
                }
                Err(e) => {
                    self.emit(PathEvent::ReconnectFailed { path, error: e.to_string() });
                    self.schedule_reconnect(path);
                }
            },
            Msg::Close { .. } => {}
        }
    }

    fn schedule_reconnect(&self, path: usize) {
        let (me, delay) = (self.me.clone(), self.cfg.reconnect_delay);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = me.send(Msg::Reconnect { path });
        });
    }

    /// Sends request `token` on `prefer` if usable, else on the next usable path (round robin); with none, it waits
    /// for a reconnect.
    fn dispatch(&mut self, token: u64, prefer: Option<usize>) {
        let now = self.now();
        let n = self.slots.len();
        let usable = |a: &Actor, p: usize| a.engine.is_usable(PathId(p as u32)) && a.slots[p].ctrl.is_some();
        let path = match prefer.filter(|&p| p < n && usable(self, p)) {
            Some(p) => Some(p),
            None => (0..n).map(|k| (self.rr + k) % n).find(|&p| usable(self, p)),
        };
        let Some(path) = path else {
            self.waiting.push_back(token);
            return;
        };
        if prefer.is_none() {
            self.rr = (path + 1) % n;
        }
        let Some(req) = self.reqs.get_mut(&token) else { return };
        let kind = match req.io {
            IoKind::Read { .. } => CommandKind::Read,
            IoKind::Write { .. } => CommandKind::Write,
        };
        if self.engine.handle_submit(now, PathId(path as u32), token, kind).is_err() {
            self.waiting.push_back(token);
            return;
        }
        req.path = Some(path);
        let Some(ctrl) = self.slots[path].ctrl.clone() else { return };
        let cmd = match &req.io {
            IoKind::Read { slba, len } => ctrl.read_command(*slba, *len),
            IoKind::Write { slba, data } => ctrl.write_command(*slba, data.clone()),
        };
        let me = self.me.clone();
        tokio::spawn(async move {
            let res = match cmd {
                Ok((sqe, data)) => ctrl.io(sqe, data).await,
                Err(e) => Err(e),
            };
            let res = match res {
                // A command the controller could not even build is answered like an invalid one.
                Err(HostError::Refused(_)) => Ok(Completion {
                    cqe: nvme_proto::cmd::Cqe::new(0, Status::new(StatusCode::INVALID_FIELD).with_dnr(true)),
                    data: Vec::new(),
                }),
                r => r,
            };
            let _ = me.send(Msg::Done { token, path, res });
        });
    }

    /// Carries out everything the engine asks for, in the order of its documentation.
    fn drain(&mut self) {
        let now = self.now();
        while let Some(c) = self.engine.poll_ccr() {
            let Some(ctrl) = self.slots.get(c.source.0 as usize).and_then(|s| s.ctrl.clone()) else { continue };
            let me = self.me.clone();
            tokio::spawn(async move {
                let res = ctrl.admin(c.command.to_sqe(0), DataOut::None).await;
                let _ = me.send(Msg::CcrDone { id: c.id, res });
            });
        }
        while let Some(r) = self.engine.poll_log_read() {
            let Some(ctrl) = self.slots.get(r.source.0 as usize).and_then(|s| s.ctrl.clone()) else {
                let _ = self.engine.handle_ccr_log_failed(now, r.id);
                continue;
            };
            let me = self.me.clone();
            tokio::spawn(async move {
                let res = ctrl.admin(r.command().to_sqe(0), DataOut::Read(CCR_LOG_BYTES as usize)).await;
                let _ = me.send(Msg::LogDone { id: r.id, res });
            });
        }
        while let Some(rel) = self.engine.poll_release() {
            match rel.action {
                ReleaseAction::Retry { path } => {
                    if let Some(r) = self.reqs.get_mut(&rel.token) {
                        r.path = None;
                        self.dispatch(rel.token, Some(path.0 as usize));
                    }
                }
                ReleaseAction::Fail { status } => {
                    if let Some(r) = self.reqs.remove(&rel.token) {
                        let _ = r.reply.send(Err(status));
                    }
                }
            }
        }
        while let Some(ev) = self.engine.poll_event() {
            self.emit(PathEvent::Engine(ev));
        }
        while let Some(PathAction::Reconnect { path }) = self.engine.poll_path_action() {
            let p = path.0 as usize;
            if let Some(c) = self.slots[p].ctrl.take() {
                c.close();
            }
            self.slots[p].assoc += 1;
            self.schedule_reconnect(p);
        }
    }
}
