//! What the host and the target runtimes share: a lock around an nvme-fabric state machine (an [`Endpoint`]: the
//! [`Host`] or the [`Subsystem`]), the tokio clock it sees, one connection's reader and writer tasks, and the timer
//! task. Each runtime is a [`Driver`]: after every call into the machine it pumps the machine's outputs (connection
//! events go to the connection's tasks through its [`Link`]; the rest is the runtime's own business).
//!
//! * Reader: reads at most [`READ_CHUNK`] bytes, offers them to `handle_input`, keeps what was not taken and reads
//!   nothing more until [`ConnEvent::Resume`] (backpressure; the host always takes everything). At the end of the
//!   stream it tells the writer to finish and reports `handle_closed`.
//! * Writer: polls whole PDUs into its buffer (at first [`TX_START`] bytes, grown to the machine's transmit buffer
//!   length when a PDU needs more) and writes them, whenever woken by [`ConnEvent::Transmit`]; on [`ConnEvent::Close`] it sends what is left (for at most [`CLOSE_LINGER`]), shuts
//!   the socket down, stops the reader and reports `handle_closed`. A failed write is a close.
//! * Timer: sleeps until `poll_timeout`, woken earlier when a call makes the deadline earlier, then `handle_timeout`.
//! * Time: tokio's clock minus the instant the runtime started.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use nvme_fabric::Instant;
use nvme_fabric::conn::{BufferTooShort, ConnEvent, ConnId};
use nvme_fabric::controller::Subsystem;
use nvme_fabric::host::Host;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::Notify;
use tokio::task::AbortHandle;

use crate::capture::ConnCapture;

/// The most bytes a reader holds that the machine has not taken (one socket read).
pub(crate) const READ_CHUNK: usize = 64 * 1024;

/// A writer's first transmit buffer; it grows, once, to the machine's transmit buffer length when a PDU needs it (a
/// host's admin connection never does).
pub(crate) const TX_START: usize = 16 * 1024;

/// How long a closing connection may take to send its last bytes (a TermReq, answers queued before the close) to a
/// peer that does not read them, before the socket is dropped.
pub(crate) const CLOSE_LINGER: Duration = Duration::from_secs(2);

/// The calls the socket and timer tasks make on an nvme-fabric state machine.
pub(crate) trait Endpoint: Send + 'static {
    /// Bytes received on `conn`; returns how many were taken.
    fn handle_input(&mut self, now: Instant, conn: ConnId, input: &[u8]) -> usize;
    /// The next PDUs to send on `conn`, whole, into `buf`.
    fn poll_transmit(&mut self, now: Instant, conn: ConnId, buf: &mut [u8]) -> Result<usize, BufferTooShort>;
    /// `conn` is closed.
    fn handle_closed(&mut self, now: Instant, conn: ConnId);
    /// The next deadline.
    fn poll_timeout(&mut self) -> Option<Instant>;
    /// Fires what is due.
    fn handle_timeout(&mut self, now: Instant);
}

impl Endpoint for Subsystem {
    fn handle_input(&mut self, now: Instant, conn: ConnId, input: &[u8]) -> usize {
        Subsystem::handle_input(self, now, conn, input)
    }
    fn poll_transmit(&mut self, now: Instant, conn: ConnId, buf: &mut [u8]) -> Result<usize, BufferTooShort> {
        Subsystem::poll_transmit(self, now, conn, buf)
    }
    fn handle_closed(&mut self, now: Instant, conn: ConnId) {
        Subsystem::handle_closed(self, now, conn);
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        Subsystem::poll_timeout(self)
    }
    fn handle_timeout(&mut self, now: Instant) {
        Subsystem::handle_timeout(self, now);
    }
}

impl Endpoint for Host {
    fn handle_input(&mut self, now: Instant, conn: ConnId, input: &[u8]) -> usize {
        Host::handle_input(self, now, conn, input)
    }
    fn poll_transmit(&mut self, now: Instant, conn: ConnId, buf: &mut [u8]) -> Result<usize, BufferTooShort> {
        Host::poll_transmit(self, now, conn, buf)
    }
    fn handle_closed(&mut self, now: Instant, conn: ConnId) {
        Host::handle_closed(self, now, conn);
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        Host::poll_timeout(self)
    }
    fn handle_timeout(&mut self, now: Instant) {
        Host::handle_timeout(self, now);
    }
}

/// What the pump shares with the tasks of one connection.
pub(crate) struct Link {
    /// The peer's address.
    pub(crate) peer: SocketAddr,
    /// Wakes the writer: output to poll, or the close.
    writer: Notify,
    /// Wakes the reader: input is taken again.
    reader: Notify,
    /// [`ConnEvent::Close`] was raised (or the stream ended): send what is left, then close.
    closing: AtomicBool,
    /// The reader task, stopped on [`ConnEvent::Freeze`] and at the close.
    read_task: OnceLock<AbortHandle>,
    /// The writer task (the host's connection task), stopped when a runtime is dropped.
    write_task: OnceLock<AbortHandle>,
    /// Bytes the machine took from the socket.
    pub(crate) received: AtomicU64,
    /// Bytes written to the socket.
    pub(crate) sent: AtomicU64,
}

impl Link {
    pub(crate) fn new(peer: SocketAddr) -> Arc<Link> {
        Arc::new(Link {
            peer,
            writer: Notify::new(),
            reader: Notify::new(),
            closing: AtomicBool::new(false),
            read_task: OnceLock::new(),
            write_task: OnceLock::new(),
            received: AtomicU64::new(0),
            sent: AtomicU64::new(0),
        })
    }

    /// Carries out a connection event of the machine.
    fn event(&self, ev: ConnEvent) {
        match ev {
            ConnEvent::Transmit(_) => self.writer.notify_one(),
            ConnEvent::Close(..) => self.close(),
            ConnEvent::Resume(_) => self.reader.notify_one(),
            // Nothing more is delivered on it; stop reading. The writer keeps the socket open until the close.
            ConnEvent::Freeze(_) => {
                if let Some(t) = self.read_task.get() {
                    t.abort();
                }
            }
        }
    }

    /// Tells the writer to send what is left and close.
    fn close(&self) {
        self.closing.store(true, Ordering::SeqCst);
        self.writer.notify_one();
    }

    /// Whether the close was asked for.
    pub(crate) fn is_closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }

    /// Resolves once the close was asked for (wake-ups for output are used up: the writer polls when it starts).
    pub(crate) async fn closed(&self) {
        while !self.is_closing() {
            self.writer.notified().await;
        }
    }

    pub(crate) fn set_read_task(&self, t: AbortHandle) {
        let _ = self.read_task.set(t);
    }

    pub(crate) fn set_write_task(&self, t: AbortHandle) {
        let _ = self.write_task.set(t);
    }

    /// Stops both tasks (the socket halves they own are dropped: the connection closes).
    pub(crate) fn abort(&self) {
        for t in [self.read_task.get(), self.write_task.get()].into_iter().flatten() {
            t.abort();
        }
    }

    /// Writes `bytes`; false when the socket failed, or when the connection is closing and the peer has not taken
    /// them within [`CLOSE_LINGER`].
    async fn write(&self, wr: &mut OwnedWriteHalf, bytes: &[u8]) -> bool {
        let deadline = async {
            // Spurious wake-ups (a Transmit) only re-check the flag.
            self.closed().await;
            tokio::time::sleep(CLOSE_LINGER).await;
        };
        tokio::select! {
            r = wr.write_all(bytes) => r.is_ok(),
            () = deadline => false,
        }
    }
}

/// Everything behind a runtime's lock: the machine, the links of its connections, the deadline the timer task
/// sleeps until, and the runtime's own state `X`.
pub(crate) struct Core<E, X> {
    /// The state machine.
    pub(crate) ep: E,
    /// Connection -> its tasks.
    pub(crate) links: BTreeMap<ConnId, Arc<Link>>,
    armed: Option<Instant>,
    /// The runtime's own state.
    pub(crate) x: X,
}

impl<E, X> Core<E, X> {
    /// Hands `ev` to its connection's tasks (dropped when the connection has none any more).
    pub(crate) fn conn_event(&self, ev: ConnEvent) {
        let id = match ev {
            ConnEvent::Transmit(id) | ConnEvent::Close(id, _) | ConnEvent::Resume(id) | ConnEvent::Freeze(id) => id,
        };
        if let Some(link) = self.links.get(&id) {
            link.event(ev);
        }
    }
}

/// The lock, the clock and the timer's wake-up of a runtime.
pub(crate) struct Base<E, X> {
    core: Mutex<Core<E, X>>,
    epoch: tokio::time::Instant,
    /// Wakes the timer task: an earlier deadline appeared.
    timer: Notify,
    /// The transmit buffer each writer allocates.
    tx_len: usize,
}

impl<E: Endpoint, X> Base<E, X> {
    /// A runtime's base around `ep`, its writers polling into buffers of `tx_len` bytes.
    pub(crate) fn new(ep: E, x: X, tx_len: usize) -> Self {
        Base {
            core: Mutex::new(Core { ep, links: BTreeMap::new(), armed: None, x }),
            epoch: tokio::time::Instant::now(),
            timer: Notify::new(),
            tx_len,
        }
    }

    /// The lock. A poisoned lock means a task panicked while holding it; the state is still the best there is.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Core<E, X>> {
        self.core.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The machine's clock: time since the runtime started.
    pub(crate) fn now(&self) -> Instant {
        Instant::from_elapsed(self.epoch.elapsed())
    }

    fn at(&self, t: Instant) -> tokio::time::Instant {
        self.epoch + t.elapsed()
    }
}

/// A runtime: its [`Base`] and the pump that carries out its machine's outputs.
pub(crate) trait Driver: Send + Sync + Sized + 'static {
    /// The machine.
    type Ep: Endpoint;
    /// The runtime's own state behind the lock.
    type X: Send;

    /// The lock, clock and timer.
    fn base(&self) -> &Base<Self::Ep, Self::X>;

    /// Drains the machine's outputs; connection events go to [`Core::conn_event`].
    fn pump(&self, core: &mut Core<Self::Ep, Self::X>);

    /// The connection `id`'s tasks are done: forgets its link (a runtime may forget more).
    fn forget(&self, core: &mut Core<Self::Ep, Self::X>, id: ConnId) {
        core.links.remove(&id);
    }

    /// Runs `f` on the core at the current time, then pumps and re-arms the timer.
    fn call<R>(&self, f: impl FnOnce(&mut Core<Self::Ep, Self::X>, Instant) -> R) -> R {
        let base = self.base();
        let mut core = base.lock();
        let r = f(&mut core, base.now());
        self.settle(&mut core);
        r
    }

    /// Pumps, then wakes the timer task if the next deadline moved earlier.
    fn settle(&self, core: &mut Core<Self::Ep, Self::X>) {
        self.pump(core);
        let next = core.ep.poll_timeout();
        if next.is_some_and(|t| core.armed.is_none_or(|a| t < a)) {
            core.armed = next;
            self.base().timer.notify_one();
        }
    }
}

/// Fires the machine's timers until aborted.
pub(crate) async fn timer_loop<D: Driver>(d: Arc<D>) {
    let base = d.base();
    let mut fired: Option<Instant> = None;
    loop {
        let next = {
            let mut core = base.lock();
            let mut t = core.ep.poll_timeout();
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
                    () = tokio::time::sleep_until(base.at(t)) => {}
                    () = base.timer.notified() => continue,
                }
            }
            None => {
                base.timer.notified().await;
                continue;
            }
        }
        d.call(|core, now| {
            core.ep.handle_timeout(now);
            fired = Some(now);
        });
    }
}

/// Reads the socket into the machine until the peer closes it (or the task is stopped).
pub(crate) async fn read_loop<D: Driver>(
    d: Arc<D>,
    id: ConnId,
    link: Arc<Link>,
    mut rd: OwnedReadHalf,
    cap: Option<ConnCapture>,
) {
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
        let taken = d.call(|core, now| {
            let taken = core.ep.handle_input(now, id, &buf[start..end]);
            if let Some(cap) = &cap {
                cap.received(&buf[start..start + taken]);
            }
            taken
        });
        link.received.fetch_add(taken as u64, Ordering::Relaxed);
        start += taken;
        if start < end {
            // Backpressure: the rest waits, and nothing more is read, until the machine takes input again.
            link.reader.notified().await;
        }
    }
    link.close();
    d.call(|core, now| core.ep.handle_closed(now, id));
}

/// Writes what the machine gives for this connection; closes the socket when told to, or when a write fails.
pub(crate) async fn write_loop<D: Driver>(
    d: Arc<D>,
    id: ConnId,
    link: Arc<Link>,
    mut wr: OwnedWriteHalf,
    cap: Option<ConnCapture>,
) {
    let tx_len = d.base().tx_len;
    let mut buf = vec![0u8; tx_len.min(TX_START)];
    'run: loop {
        loop {
            let (n, closing) = d.call(|core, now| {
                // Read before polling: output is never queued after the close, so an empty poll after it is the end.
                let closing = link.is_closing();
                let n = match core.ep.poll_transmit(now, id, &mut buf) {
                    Ok(n) => n,
                    // The next PDU needs more room (never more than the transmit buffer length, by the machine's
                    // contract): grow to that length and poll again.
                    Err(BufferTooShort { needed }) if needed <= tx_len && buf.len() < tx_len => {
                        buf.resize(tx_len, 0);
                        core.ep.poll_transmit(now, id, &mut buf).unwrap_or(0)
                    }
                    Err(_) => 0,
                };
                (n, closing)
            });
            if n == 0 {
                if closing {
                    break 'run;
                }
                break;
            }
            if !link.write(&mut wr, &buf[..n]).await {
                break 'run;
            }
            if let Some(cap) = &cap {
                cap.sent(&buf[..n]);
            }
            link.sent.fetch_add(n as u64, Ordering::Relaxed);
        }
        link.writer.notified().await;
    }
    let _ = tokio::time::timeout(CLOSE_LINGER, wr.shutdown()).await;
    if let Some(t) = link.read_task.get() {
        t.abort();
    }
    d.call(|core, now| {
        d.forget(core, id);
        core.ep.handle_closed(now, id);
    });
}
