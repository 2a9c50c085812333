//! The driver loop around the [`Subsystem`]: one mutex holds it; the accept loop, a reader and a writer task per
//! socket and one timer task call into it and then [`Shared::pump`] its outputs (connection events to the tasks,
//! media requests to the [`Namespace`], events dropped).
//!
//! * Reader: reads at most [`READ_CHUNK`] bytes, offers them to `handle_input`, keeps what it did not take and reads
//!   nothing more until [`ConnEvent::Resume`] (backpressure). A frozen connection's reader is stopped; the socket
//!   stays open.
//! * Writer: woken by [`ConnEvent::Transmit`], polls whole PDUs into a buffer of `transmit_buffer_len()` bytes and
//!   writes them; on [`ConnEvent::Close`] it sends what is left (for at most [`CLOSE_LINGER`]), shuts the socket
//!   down and reports `handle_closed`.
//! * Timer: sleeps until `poll_timeout`, woken earlier when a pump finds an earlier deadline.
//! * Media: carried out inline, under the lock, on the namespace (memory, or positioned file reads and writes).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use nvme_fabric::Instant;
use nvme_fabric::conn::{ConnEvent, ConnId};
use nvme_fabric::controller::{ConfigError, MediaError, MediaKind, MediaRequest, Subsystem, SubsystemConfig};
use nvme_proto::capture::Direction;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::AbortHandle;

use super::{ConnInfo, Namespace};
use crate::wire::{Capture, ConnCapture};

/// The most bytes a reader holds that the subsystem has not taken (one socket read).
pub(super) const READ_CHUNK: usize = 64 * 1024;

/// How long a closing connection may take to send its last bytes (a TermReq, answers queued before the close) to a
/// peer that does not read them, before the socket is dropped.
pub(super) const CLOSE_LINGER: Duration = Duration::from_secs(2);

/// Back-off after a failed accept (out of descriptors), instead of spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// What the pump shares with the tasks of one connection.
struct Link {
    peer: SocketAddr,
    /// Wakes the writer: output to poll, or the close.
    writer: Notify,
    /// Wakes the reader: input is taken again.
    reader: Notify,
    /// [`ConnEvent::Close`] was raised: send what is left, then close.
    closing: AtomicBool,
    /// The reader task, stopped on [`ConnEvent::Freeze`] and at the close.
    read_task: OnceLock<AbortHandle>,
    received: AtomicU64,
    sent: AtomicU64,
}

/// Everything behind the lock.
pub(super) struct Core {
    sub: Subsystem,
    links: BTreeMap<ConnId, Arc<Link>>,
    /// The deadline the timer task sleeps until.
    armed: Option<Instant>,
}

/// The target's state, shared by its tasks and every [`Target`](super::Target) clone.
pub(super) struct Shared {
    core: Mutex<Core>,
    pub(super) ns: Namespace,
    capture: Option<Capture>,
    epoch: tokio::time::Instant,
    /// Wakes the timer task: an earlier deadline appeared.
    timer: Notify,
    tx_len: usize,
}

impl Shared {
    pub(super) fn new(
        cfg: SubsystemConfig,
        seed: u64,
        ns: Namespace,
        capture: Option<Capture>,
    ) -> Result<Shared, ConfigError> {
        let tx_len = cfg.transmit_buffer_len();
        let sub = Subsystem::new(cfg, seed)?;
        Ok(Shared {
            core: Mutex::new(Core { sub, links: BTreeMap::new(), armed: None }),
            ns,
            capture,
            epoch: tokio::time::Instant::now(),
            timer: Notify::new(),
            tx_len,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Core> {
        // A poisoned lock means a task panicked while holding it; the state is still the best there is.
        self.core.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The subsystem's clock: time since the target started.
    fn now(&self) -> Instant {
        Instant::from_elapsed(self.epoch.elapsed())
    }

    fn at(&self, t: Instant) -> tokio::time::Instant {
        self.epoch + t.elapsed()
    }

    /// Runs `f` on the subsystem (and the number of open connections), then carries out what it asked for.
    pub(super) fn with<R>(&self, f: impl FnOnce(&mut Subsystem, usize) -> R) -> R {
        let mut core = self.lock();
        let n = core.links.len();
        let r = f(&mut core.sub, n);
        self.pump(&mut core);
        r
    }

    pub(super) fn connections(&self) -> Vec<ConnInfo> {
        let core = self.lock();
        core.links
            .iter()
            .map(|(&id, l)| ConnInfo {
                peer: l.peer,
                cntlid: core.sub.conn_controller(id),
                received: l.received.load(Ordering::Relaxed),
                sent: l.sent.load(Ordering::Relaxed),
            })
            .collect()
    }

    pub(super) fn shutdown(&self) {
        let mut core = self.lock();
        let now = self.now();
        core.sub.shutdown(now);
        self.pump(&mut core);
    }

    /// Drains every output of the subsystem: connection events go to the connection's tasks, media requests are
    /// carried out and reported, events are dropped; then the timer is re-armed if the next deadline moved earlier.
    fn pump(&self, core: &mut Core) {
        loop {
            let mut progress = false;
            while let Some(ev) = core.sub.poll_conn_event() {
                progress = true;
                let id = match ev {
                    ConnEvent::Transmit(id)
                    | ConnEvent::Close(id, _)
                    | ConnEvent::Resume(id)
                    | ConnEvent::Freeze(id) => id,
                };
                let Some(link) = core.links.get(&id) else { continue };
                match ev {
                    ConnEvent::Transmit(_) => link.writer.notify_one(),
                    ConnEvent::Close(..) => {
                        link.closing.store(true, Ordering::SeqCst);
                        link.writer.notify_one();
                    }
                    ConnEvent::Resume(_) => link.reader.notify_one(),
                    // The subsystem sends nothing more on it; stop reading. The writer keeps the socket open.
                    ConnEvent::Freeze(_) => {
                        if let Some(t) = link.read_task.get() {
                            t.abort();
                        }
                    }
                }
            }
            while let Some(req) = core.sub.poll_media() {
                progress = true;
                let result = self.media(&mut core.sub, &req);
                core.sub.handle_media_done(self.now(), req.id, result);
            }
            while core.sub.poll_event().is_some() {}
            if !progress {
                break;
            }
        }
        let next = core.sub.poll_timeout();
        if next.is_some_and(|t| core.armed.is_none_or(|a| t < a)) {
            core.armed = next;
            self.timer.notify_one();
        }
    }

    /// Carries out one media request on the namespace.
    fn media(&self, sub: &mut Subsystem, req: &MediaRequest) -> Result<(), MediaError> {
        match req.kind {
            MediaKind::Read => {
                let buf = sub.media_buffer(req.id).ok_or(MediaError::Internal)?;
                self.ns.read(req.slba, buf).map_err(|_| MediaError::ReadError)
            }
            MediaKind::Write => {
                let data = sub.media_data(req.id).ok_or(MediaError::Internal)?;
                self.ns.write(req.slba, data).map_err(|_| MediaError::WriteFault)
            }
            MediaKind::Flush => self.ns.flush().map_err(|_| MediaError::WriteFault),
        }
    }

    /// A new socket: the subsystem admits it (or the cap refuses it: it is closed) and its tasks start.
    fn admit(self: &Arc<Self>, stream: TcpStream, peer: SocketAddr) {
        let _ = stream.set_nodelay(true);
        let local = stream.local_addr().ok();
        let mut core = self.lock();
        let Ok(id) = core.sub.accept(self.now()) else {
            // Past max_connections: dropping the stream closes it.
            return;
        };
        let link = Arc::new(Link {
            peer,
            writer: Notify::new(),
            reader: Notify::new(),
            closing: AtomicBool::new(false),
            read_task: OnceLock::new(),
            received: AtomicU64::new(0),
            sent: AtomicU64::new(0),
        });
        let cap = self.capture.as_ref().zip(local).map(|(c, local)| c.flow(peer, local));
        let (rd, wr) = stream.into_split();
        let reader = tokio::spawn(read_loop(self.clone(), id, link.clone(), rd, cap.clone()));
        let _ = link.read_task.set(reader.abort_handle());
        tokio::spawn(write_loop(self.clone(), id, link.clone(), wr, cap));
        core.links.insert(id, link);
        self.pump(&mut core);
    }
}

/// Accepts connections until aborted.
pub(super) async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => shared.admit(stream, peer),
            Err(_) => tokio::time::sleep(ACCEPT_BACKOFF).await,
        }
    }
}

/// Fires the subsystem's timers until aborted.
pub(super) async fn timer_loop(shared: Arc<Shared>) {
    let mut fired: Option<Instant> = None;
    loop {
        let next = {
            let mut core = shared.lock();
            let mut t = core.sub.poll_timeout();
            // A deadline not after the last firing would make this loop spin: wait at least a millisecond.
            if let (Some(d), Some(f)) = (t, fired)
                && d <= f
            {
                t = Some(f + Duration::from_millis(1));
            }
            core.armed = t;
            t
        };
        match next {
            Some(t) => {
                tokio::select! {
                    () = tokio::time::sleep_until(shared.at(t)) => {}
                    () = shared.timer.notified() => continue,
                }
            }
            None => {
                shared.timer.notified().await;
                continue;
            }
        }
        let mut core = shared.lock();
        let now = shared.now();
        core.sub.handle_timeout(now);
        fired = Some(now);
        shared.pump(&mut core);
    }
}

/// Reads the socket into the subsystem until the peer closes it (or the task is stopped).
async fn read_loop(shared: Arc<Shared>, id: ConnId, link: Arc<Link>, mut rd: OwnedReadHalf, cap: Option<ConnCapture>) {
    let mut buf = vec![0u8; READ_CHUNK];
    let (mut start, mut end) = (0, 0);
    loop {
        if start == end {
            start = 0;
            end = match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
        }
        let taken = {
            let mut core = shared.lock();
            let taken = core.sub.handle_input(shared.now(), id, &buf[start..end]);
            if let Some(cap) = &cap {
                cap.record(Direction::HostToController, &buf[start..start + taken]);
            }
            shared.pump(&mut core);
            taken
        };
        link.received.fetch_add(taken as u64, Ordering::Relaxed);
        start += taken;
        if start < end {
            // Backpressure: the rest waits, and nothing more is read, until the subsystem takes input again.
            link.reader.notified().await;
        }
    }
    let mut core = shared.lock();
    core.sub.handle_closed(shared.now(), id);
    shared.pump(&mut core);
}

/// Writes what the subsystem gives for this connection; closes the socket when told to, or when a write fails.
async fn write_loop(
    shared: Arc<Shared>,
    id: ConnId,
    link: Arc<Link>,
    mut wr: OwnedWriteHalf,
    cap: Option<ConnCapture>,
) {
    let mut buf = vec![0u8; shared.tx_len];
    'run: loop {
        link.writer.notified().await;
        loop {
            let (n, closing) = {
                let mut core = shared.lock();
                // Read before polling: output is never queued after the close, so an empty poll after it is the end.
                let closing = link.closing.load(Ordering::SeqCst);
                let n = core.sub.poll_transmit(shared.now(), id, &mut buf).unwrap_or(0);
                shared.pump(&mut core);
                (n, closing)
            };
            if n == 0 {
                if closing {
                    break 'run;
                }
                break;
            }
            if !write(&mut wr, &buf[..n], &link).await {
                break 'run;
            }
            if let Some(cap) = &cap {
                cap.record(Direction::ControllerToHost, &buf[..n]);
            }
            link.sent.fetch_add(n as u64, Ordering::Relaxed);
        }
    }
    let _ = tokio::time::timeout(CLOSE_LINGER, wr.shutdown()).await;
    if let Some(t) = link.read_task.get() {
        t.abort();
    }
    let mut core = shared.lock();
    core.links.remove(&id);
    core.sub.handle_closed(shared.now(), id);
    shared.pump(&mut core);
}

/// Writes `bytes`; false when the socket failed, or when the connection is closing and the peer has not taken them
/// within [`CLOSE_LINGER`].
async fn write(wr: &mut OwnedWriteHalf, bytes: &[u8], link: &Link) -> bool {
    let deadline = async {
        while !link.closing.load(Ordering::SeqCst) {
            // Spurious wake-ups (a Transmit) only re-check the flag.
            link.writer.notified().await;
        }
        tokio::time::sleep(CLOSE_LINGER).await;
    };
    tokio::select! {
        r = wr.write_all(bytes) => r.is_ok(),
        () = deadline => false,
    }
}
