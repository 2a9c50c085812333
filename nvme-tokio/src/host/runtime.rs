//! The driver loop around nvme-fabric's [`Host`]: the target's loop ([`crate::driver`]) plus what a host needs.
//!
//! * Open: each [`Host::poll_open`] becomes a task that connects to the path's address (bounded by the bring-up
//!   timeout, and abandoned if the host closes the connection first), reports `handle_connected` (or
//!   `handle_closed`), then runs the connection's reader and writer.
//! * Completions ([`Host::poll_completion`]) go to the future waiting for them; events ([`Host::poll_event`]) update
//!   what the handles report about each path and go to the event channel (dropped when it is full).
//! * One timer task. Stopping the runtime (the last handle dropped, or after [`Runtime::close`]) aborts every task:
//!   the sockets close and waiting futures end with [`HostError::Closed`].

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use nvme_ccr::ControllerFacts;
use nvme_fabric::conn::{CloseCause, ConnId};
use nvme_fabric::host::{
    DataOut, Host, HostConfig as FabricConfig, HostEvent, Io, IoDone, IoError, NsInfo, OpenRequest, PathFailure,
    PathPhase,
};
use nvme_proto::cmd::Sqe;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::AbortHandle;

use super::{Events, HostConfig, HostError};
use crate::capture::{Capture, Side};
use crate::driver::{self, Base, CLOSE_LINGER, Core, Driver, Link};

/// What the handles know about one path beyond the host's own state.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct PathView {
    /// The facts of its last live controller.
    pub(crate) facts: Option<ControllerFacts>,
    /// Its last failure.
    pub(crate) failure: Option<PathFailure>,
    /// The error of its last TCP connect, when it failed.
    pub(crate) socket: Option<io::ErrorKind>,
}

impl PathView {
    /// The error a connect reports for this path's failure.
    fn error(&self, path: usize) -> Option<HostError> {
        let failure = self.failure?;
        Some(match (failure, self.socket) {
            (PathFailure::Closed(CloseCause::PeerClosed), Some(kind)) => HostError::Socket { path, kind },
            _ => HostError::Path { path, failure },
        })
    }
}

type Waiter = oneshot::Sender<Result<IoDone, IoError>>;

/// The runtime's state behind the lock.
pub(crate) struct HostState {
    /// Futures waiting for their command (at most the host's outstanding limit, plus admin commands: the admin
    /// queue's depth per path).
    waiters: HashMap<u64, Waiter>,
    /// Connection -> path, while the connection has tasks.
    conn_path: BTreeMap<ConnId, usize>,
    paths: Vec<PathView>,
    events: mpsc::Sender<HostEvent>,
    /// Links when the watchers were last told.
    links_seen: usize,
    stopped: bool,
    /// Read buffers of [`Runtime::read_into`] kept for the next reads (at most the host's outstanding limit).
    pool: Vec<Vec<u8>>,
}

/// The host's runtime, shared by its tasks and its handles ([`Controller`](super::Controller),
/// [`Multipath`](super::Multipath)).
pub(crate) struct Runtime {
    base: Base<Host, HostState>,
    addrs: Vec<SocketAddr>,
    capture: Option<Capture>,
    /// Bound on one TCP connect.
    connect_timeout: Duration,
    /// Bound on an orderly disconnect (the host's own, plus the writers' linger).
    close_timeout: Duration,
    /// Bumped whenever a pump made progress: connect and close wait on it.
    changed: watch::Sender<u64>,
    me: Weak<Runtime>,
    timer: OnceLock<AbortHandle>,
}

impl Driver for Runtime {
    type Ep = Host;
    type X = HostState;

    fn base(&self) -> &Base<Host, HostState> {
        &self.base
    }

    fn pump(&self, core: &mut Core<Host, HostState>) {
        let mut changed = false;
        loop {
            let mut progress = false;
            while let Some(open) = core.ep.poll_open() {
                progress = true;
                self.open(core, open);
            }
            while let Some(ev) = core.ep.poll_conn_event() {
                progress = true;
                core.conn_event(ev);
            }
            while let Some(c) = core.ep.poll_completion() {
                progress = true;
                if let Some(w) = core.x.waiters.remove(&c.id.0) {
                    // The future may be gone (dropped by a timeout): the result is not wanted.
                    let _ = w.send(c.result);
                }
            }
            while let Some(ev) = core.ep.poll_event() {
                progress = true;
                note(&mut core.x.paths, ev);
                log_event(&ev);
                // Full (nobody reads) or closed: the event is dropped, as the host drops past its own capacity.
                let _ = core.x.events.try_send(ev);
            }
            if !progress {
                break;
            }
            changed = true;
        }
        if changed || core.x.links_seen != core.links.len() {
            core.x.links_seen = core.links.len();
            self.changed.send_modify(|g| *g = g.wrapping_add(1));
        }
    }

    fn forget(&self, core: &mut Core<Host, HostState>, id: ConnId) {
        core.links.remove(&id);
        core.x.conn_path.remove(&id);
    }
}

/// What an event tells about its path.
/// The host's log: every [`HostEvent`] in its words (times after `t=` count from the host's start), under the target
/// `nvme_tokio::host`. `warn`: a live path failed, commands held; `info`: paths live, reconnects, AENs, CCRs and
/// releases; `debug`: connect attempts, disconnects, CCR log reads and traced I/O.
fn log_event(ev: &HostEvent) {
    use nvme_ccr::Event as E;
    match ev {
        HostEvent::PathFailed { was_live: true, .. } | HostEvent::Engine(E::FencingStarted { .. }) => {
            tracing::warn!(target: "nvme_tokio::host", "{ev}");
        }
        HostEvent::Connecting { .. }
        | HostEvent::Disconnected { .. }
        | HostEvent::IoSent { .. }
        | HostEvent::CcrLogRead { .. } => {
            tracing::debug!(target: "nvme_tokio::host", "{ev}");
        }
        _ => tracing::info!(target: "nvme_tokio::host", "{ev}"),
    }
}

fn note(paths: &mut [PathView], ev: HostEvent) {
    match ev {
        HostEvent::PathLive { path, facts, .. } => {
            if let Some(v) = paths.get_mut(path) {
                v.facts = Some(facts);
                v.socket = None;
            }
        }
        HostEvent::PathFailed { path, failure, .. } => {
            if let Some(v) = paths.get_mut(path) {
                v.failure = Some(failure);
            }
        }
        _ => {}
    }
}

impl Runtime {
    /// Starts a host with `fabric` (a copy of `cfg.fabric`, adjusted by the handle) for `addrs`: every path begins
    /// connecting. Returns the runtime and its event channel.
    pub(crate) fn start(
        addrs: &[SocketAddr],
        cfg: &HostConfig,
        fabric: FabricConfig,
    ) -> Result<(Arc<Runtime>, Events), HostError> {
        let tx_len = fabric.transmit_buffer_len();
        let (connect_timeout, close_timeout) = (fabric.connect_timeout, fabric.shutdown_timeout + CLOSE_LINGER);
        let (events, rx) = mpsc::channel(fabric.event_capacity.max(1));
        let mut fabric = fabric;
        if let Some(auth) = fabric.auth.as_mut() {
            // A fresh seed for this host's authentication nonces, whatever the configuration carried.
            auth.seed = crate::entropy::seed().map_err(|e| HostError::Entropy(e.kind()))?;
        }
        let host = Host::new(fabric, addrs.len()).map_err(HostError::Config)?;
        let state = HostState {
            waiters: HashMap::new(),
            conn_path: BTreeMap::new(),
            paths: vec![PathView::default(); addrs.len()],
            events,
            links_seen: 0,
            stopped: false,
            pool: Vec::new(),
        };
        let rt = Arc::new_cyclic(|me| Runtime {
            base: Base::new(host, state, tx_len),
            addrs: addrs.to_vec(),
            capture: cfg.capture.clone(),
            connect_timeout,
            close_timeout,
            changed: watch::Sender::new(0),
            me: me.clone(),
            timer: OnceLock::new(),
        });
        let timer = tokio::spawn(driver::timer_loop(rt.clone()));
        let _ = rt.timer.set(timer.abort_handle());
        rt.call(|core, now| core.ep.start(now));
        Ok((rt, rx))
    }

    /// A connection the host asked for: its link and its task.
    fn open(&self, core: &mut Core<Host, HostState>, open: OpenRequest) {
        // Stopped: nothing is opened any more (a call racing with `stop` may still have asked).
        if core.x.stopped {
            return;
        }
        let Some(&addr) = self.addrs.get(open.path) else { return };
        let Some(me) = self.me.upgrade() else { return };
        let link = Link::new(addr);
        core.links.insert(open.conn, link.clone());
        core.x.conn_path.insert(open.conn, open.path);
        let task = tokio::spawn(conn_task(me, open.conn, open.path, link.clone()));
        link.set_write_task(task.abort_handle());
    }

    /// Waits until every path is live; the first path that fails first ends the wait with its error. Bounded by
    /// the bring-up timeout (the host fails a bring-up that takes longer) plus a margin.
    pub(crate) async fn wait_live(&self) -> Result<(), HostError> {
        let mut rx = self.changed.subscribe();
        let wait = async {
            loop {
                let r = self.call(|core, _| {
                    if core.x.stopped {
                        return Some(Err(HostError::Closed));
                    }
                    for (p, v) in core.x.paths.iter().enumerate() {
                        if core.ep.path_phase(p) != Some(PathPhase::Live) {
                            return v.error(p).map(Err);
                        }
                    }
                    Some(Ok(()))
                });
                if let Some(r) = r {
                    return r;
                }
                if rx.changed().await.is_err() {
                    return Err(HostError::Closed);
                }
            }
        };
        let bound = self.connect_timeout + Duration::from_secs(1);
        match tokio::time::timeout(bound, wait).await {
            Ok(r) => r,
            Err(_) => {
                let core = self.base.lock();
                let path = (0..self.addrs.len()).find(|&p| core.ep.path_phase(p) != Some(PathPhase::Live));
                Err(HostError::Path { path: path.unwrap_or(0), failure: PathFailure::ConnectTimeout })
            }
        }
    }

    /// Submits `io` and waits for its completion.
    pub(crate) async fn run(&self, io: Io) -> Result<IoDone, HostError> {
        let (tx, rx) = oneshot::channel();
        self.call(|core, now| {
            if core.x.stopped {
                return Err(HostError::Closed);
            }
            let id = core.ep.submit(now, io).map_err(HostError::Submit)?;
            core.x.waiters.insert(id.0, tx);
            Ok(())
        })?;
        rx.await.map_err(|_| HostError::Closed)?.map_err(HostError::Io)
    }

    /// Sends an admin command to path `path`'s controller and waits for its completion (any status).
    pub(crate) async fn admin(&self, path: usize, sqe: Sqe, data: DataOut) -> Result<IoDone, HostError> {
        let (tx, rx) = oneshot::channel();
        self.call(|core, now| {
            if core.x.stopped {
                return Err(HostError::Closed);
            }
            let id = core.ep.submit_admin(now, path, sqe, data).map_err(HostError::Submit)?;
            core.x.waiters.insert(id.0, tx);
            Ok(())
        })?;
        rx.await.map_err(|_| HostError::Closed)?.map_err(HostError::Io)
    }

    /// The namespace and the largest transfer valid on every live path (the configured one when none is live).
    fn io_shape(&self) -> Result<(NsInfo, usize), HostError> {
        let core = self.base.lock();
        let ns = core.ep.namespace().ok_or(HostError::Io(IoError::Invalid))?;
        let paths = core.x.paths.len();
        let limit = (0..paths).filter_map(|p| core.ep.path_limits(p)).map(|l| l.max_transfer).min();
        Ok((ns, limit.unwrap_or(core.ep.config().max_transfer)))
    }

    /// The largest transfer valid on every live path.
    pub(crate) fn max_transfer(&self) -> usize {
        self.io_shape().map_or(self.base.lock().ep.config().max_transfer, |(_, l)| l)
    }

    /// Reads `len` bytes (whole blocks) from block `slba`, in commands of at most the transfer limit, one after the
    /// other.
    pub(crate) async fn read(&self, slba: u64, len: usize) -> Result<Vec<u8>, HostError> {
        let (ns, limit) = self.io_shape()?;
        let bs = ns.block_size as usize;
        if len == 0 || !len.is_multiple_of(bs) {
            return Err(HostError::Io(IoError::Invalid));
        }
        let mut out = Vec::with_capacity(len);
        let step = (limit / bs).max(1) * bs;
        for off in (0..len).step_by(step) {
            let n = step.min(len - off);
            let blocks = u32::try_from(n / bs).map_err(|_| HostError::Io(IoError::Invalid))?;
            let done = self.run(Io::Read { slba: slba + (off / bs) as u64, blocks }).await?;
            out.extend_from_slice(&done.data);
        }
        Ok(out)
    }

    /// Reads `buf.len()` bytes (whole blocks, at most the transfer limit: one command) from block `slba` into `buf`
    /// and gives it back: nvme-fabric reads into the buffer itself ([`Host::submit_read_into`]), so a caller that
    /// lends the same buffers again allocates none per read.
    pub(crate) async fn read_buf(&self, slba: u64, buf: Vec<u8>) -> Result<Vec<u8>, HostError> {
        let (ns, limit) = self.io_shape()?;
        let bs = ns.block_size as usize;
        if buf.is_empty() || !buf.len().is_multiple_of(bs) || buf.len() > limit {
            return Err(HostError::Io(IoError::Invalid));
        }
        let blocks = u32::try_from(buf.len() / bs).map_err(|_| HostError::Io(IoError::Invalid))?;
        let (tx, rx) = oneshot::channel();
        self.call(|core, now| {
            if core.x.stopped {
                return Err(HostError::Closed);
            }
            let id = core.ep.submit_read_into(now, slba, blocks, buf).map_err(|(e, _)| HostError::Submit(e))?;
            core.x.waiters.insert(id.0, tx);
            Ok(())
        })?;
        Ok(rx.await.map_err(|_| HostError::Closed)?.map_err(HostError::Io)?.data)
    }

    /// Reads `out.len()` bytes (whole blocks) from block `slba` into `out`, in commands of at most the transfer
    /// limit, one after the other, each into a buffer of the runtime's pool (kept for the next reads) and copied
    /// out.
    pub(crate) async fn read_into(&self, slba: u64, out: &mut [u8]) -> Result<(), HostError> {
        let (ns, limit) = self.io_shape()?;
        let bs = ns.block_size as usize;
        if out.is_empty() || !out.len().is_multiple_of(bs) {
            return Err(HostError::Io(IoError::Invalid));
        }
        let step = (limit / bs).max(1) * bs;
        for (i, chunk) in out.chunks_mut(step).enumerate() {
            let mut buf = self.base.lock().x.pool.pop().unwrap_or_default();
            buf.resize(chunk.len(), 0);
            let got = self.read_buf(slba + (i * step / bs) as u64, buf).await?;
            chunk.copy_from_slice(&got);
            let mut core = self.base.lock();
            if core.x.pool.len() < core.ep.config().max_outstanding {
                core.x.pool.push(got);
            }
        }
        Ok(())
    }

    /// Writes `data` (whole blocks, at most the transfer limit: one command) at block `slba`, sending from the
    /// caller's shared buffer (no copy; a caller that shares the same buffer again allocates none per write).
    pub(crate) async fn write_shared(&self, slba: u64, data: Arc<[u8]>) -> Result<(), HostError> {
        let (ns, limit) = self.io_shape()?;
        let bs = ns.block_size as usize;
        if data.is_empty() || !data.len().is_multiple_of(bs) || data.len() > limit {
            return Err(HostError::Io(IoError::Invalid));
        }
        self.run(Io::Write { slba, data }).await.map(drop)
    }

    /// Writes `data` (whole blocks) at block `slba`, in commands of at most the transfer limit, one after the other.
    pub(crate) async fn write(&self, slba: u64, data: &[u8]) -> Result<(), HostError> {
        let (ns, limit) = self.io_shape()?;
        let bs = ns.block_size as usize;
        if data.is_empty() || !data.len().is_multiple_of(bs) {
            return Err(HostError::Io(IoError::Invalid));
        }
        let step = (limit / bs).max(1) * bs;
        for (i, chunk) in data.chunks(step).enumerate() {
            let slba = slba + (i * step / bs) as u64;
            self.run(Io::Write { slba, data: chunk.into() }).await?;
        }
        Ok(())
    }

    /// The paths' addresses.
    pub(crate) fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Where path `path` is.
    pub(crate) fn phase(&self, path: usize) -> Option<PathPhase> {
        self.base.lock().ep.path_phase(path)
    }

    /// What the runtime knows of path `path`.
    pub(crate) fn view(&self, path: usize) -> PathView {
        self.base.lock().x.paths.get(path).copied().unwrap_or_default()
    }

    /// The I/O queues and transfer limit of path `path`, while live.
    pub(crate) fn limits(&self, path: usize) -> Option<nvme_fabric::host::PathLimits> {
        self.base.lock().ep.path_limits(path)
    }

    /// The namespace, once a path was live.
    pub(crate) fn namespace(&self) -> Option<NsInfo> {
        self.base.lock().ep.namespace()
    }

    /// Disconnects every path in order (I/O queues closed, CC.SHN on the admin queue), waits until they are down
    /// and their connections closed (bounded by the host's shutdown timeout plus the writers' linger), then
    /// stops.
    pub(crate) async fn close(&self) {
        let mut rx = self.changed.subscribe();
        self.call(|core, now| core.ep.disconnect(now));
        let done = async {
            loop {
                let down = self.call(|core, _| {
                    core.links.is_empty()
                        && (0..core.x.paths.len()).all(|p| core.ep.path_phase(p) == Some(PathPhase::Down))
                });
                if down || rx.changed().await.is_err() {
                    return;
                }
            }
        };
        let _ = tokio::time::timeout(self.close_timeout + Duration::from_secs(1), done).await;
        self.stop();
    }

    /// Stops every task at once: sockets close, waiting futures end with [`HostError::Closed`], new commands are
    /// refused. Idempotent.
    pub(crate) fn stop(&self) {
        if let Some(t) = self.timer.get() {
            t.abort();
        }
        let mut core = self.base.lock();
        core.x.stopped = true;
        for link in core.links.values() {
            link.abort();
        }
        core.links.clear();
        core.x.conn_path.clear();
        core.x.waiters.clear();
        drop(core);
        self.changed.send_modify(|g| *g = g.wrapping_add(1));
    }
}

/// One connection: connect (bounded, abandoned when the host closes it first), then its reader and writer.
async fn conn_task(rt: Arc<Runtime>, id: ConnId, path: usize, link: Arc<Link>) {
    let addr = link.peer;
    let connect = tokio::time::timeout(rt.connect_timeout, TcpStream::connect(addr));
    let r = tokio::select! {
        r = connect => Some(r),
        () = link.closed() => None,
    };
    let stream = match r {
        Some(Ok(Ok(s))) => s,
        other => {
            let kind = match other {
                Some(Ok(Err(e))) => Some(e.kind()),
                Some(Err(_)) => Some(io::ErrorKind::TimedOut),
                _ => None,
            };
            rt.call(|core, now| {
                if let (Some(k), Some(v)) = (kind, core.x.paths.get_mut(path)) {
                    v.socket = Some(k);
                }
                rt.forget(core, id);
                core.ep.handle_closed(now, id);
            });
            return;
        }
    };
    let _ = stream.set_nodelay(true);
    let cap = match (&rt.capture, stream.local_addr()) {
        (Some(c), Ok(local)) => Some(c.flow(local, addr, Side::Host)),
        _ => None,
    };
    let (rd, wr) = stream.into_split();
    let reader = tokio::spawn(driver::read_loop(rt.clone(), id, link.clone(), rd, cap.clone()));
    link.set_read_task(reader.abort_handle());
    rt.call(|core, now| {
        if let Some(v) = core.x.paths.get_mut(path) {
            v.socket = None;
        }
        core.ep.handle_connected(now, id);
    });
    driver::write_loop(rt, id, link, wr, cap).await;
}
