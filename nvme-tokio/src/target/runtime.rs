//! The driver loop around the [`Subsystem`] (the socket and timer tasks are [`crate::driver`]'s, shared with the
//! host): one mutex holds it; the accept loop, a reader and a writer task per socket and one timer task call into
//! it, then [`Shared::pump`] carries out its outputs (connection events to the tasks, media requests to the
//! [`Namespace`], events to the log, [`super::log`]).
//!
//! * Reader: backpressure as the subsystem asks (input left untaken waits for `ConnEvent::Resume`). A frozen
//!   connection's reader is stopped; the socket stays open.
//! * Media: carried out inline, under the lock, on the namespace (memory, or positioned file reads and writes).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use nvme_fabric::conn::ConnId;
use nvme_fabric::controller::{ConfigError, MediaError, MediaKind, MediaRequest, Subsystem, SubsystemConfig};
use tokio::net::{TcpListener, TcpStream};

use super::log::LogState;
use super::{ConnInfo, Namespace};
use crate::capture::{Capture, Side};
use crate::driver::{self, Base, Core, Driver, Link};

/// Back-off after a failed accept (out of descriptors), instead of spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The target's state, shared by its tasks and every [`Target`](super::Target) clone.
pub(super) struct Shared {
    base: Base<Subsystem, LogState>,
    pub(super) ns: Namespace,
    capture: Option<Capture>,
}

impl Driver for Shared {
    type Ep = Subsystem;
    type X = LogState;

    fn base(&self) -> &Base<Subsystem, LogState> {
        &self.base
    }

    /// Drains every output of the subsystem: events go to the log (first, so that a fault's held command is known
    /// before it can land), connection events to the connection's tasks, media requests are carried out, logged
    /// and reported.
    fn pump(&self, core: &mut Core<Subsystem, LogState>) {
        loop {
            let mut progress = false;
            let now = self.base.now();
            while let Some(ev) = core.ep.poll_event() {
                core.x.event(now, &core.ep, &ev);
            }
            core.x.dropped(core.ep.dropped_events());
            while let Some(ev) = core.ep.poll_conn_event() {
                progress = true;
                core.conn_event(ev);
            }
            while let Some(req) = core.ep.poll_media() {
                progress = true;
                let result = self.media(&mut core.ep, &req);
                let now = self.base.now();
                let data = match req.kind {
                    _ if !core.x.wants_data(&req) => &[][..],
                    MediaKind::Read => core.ep.media_buffer(req.id).map_or(&[][..], |b| &*b),
                    MediaKind::Write => core.ep.media_data(req.id).unwrap_or(&[]),
                    MediaKind::Flush => &[],
                };
                core.x.media(now, &req, data, result);
                core.ep.handle_media_done(now, req.id, result);
            }
            if !progress {
                break;
            }
        }
    }

    fn forget(&self, core: &mut Core<Subsystem, LogState>, id: ConnId) {
        core.links.remove(&id);
        core.x.forget(id);
    }
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
        Ok(Shared { base: Base::new(sub, LogState::default(), tx_len), ns, capture })
    }

    /// Runs `f` on the subsystem (and the number of open connections), then carries out what it asked for.
    pub(super) fn with<R>(&self, f: impl FnOnce(&mut Subsystem, usize) -> R) -> R {
        self.call(|core, _| {
            let n = core.links.len();
            f(&mut core.ep, n)
        })
    }

    pub(super) fn connections(&self) -> Vec<ConnInfo> {
        let core = self.base.lock();
        core.links
            .iter()
            .map(|(&id, l)| ConnInfo {
                peer: l.peer,
                cntlid: core.ep.conn_controller(id),
                received: l.received.load(Ordering::Relaxed),
                sent: l.sent.load(Ordering::Relaxed),
            })
            .collect()
    }

    pub(super) fn shutdown(&self) {
        self.call(|core, now| core.ep.shutdown(now));
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
        let mut core = self.base.lock();
        let Ok(id) = core.ep.accept(self.base.now()) else {
            // Past max_connections: dropping the stream closes it.
            tracing::warn!(%peer, "connection refused: max_connections reached");
            return;
        };
        core.x.accepted(id, peer, local);
        let link = Link::new(peer);
        let cap = self.capture.as_ref().zip(local).map(|(c, local)| c.flow(peer, local, Side::Controller));
        let (rd, wr) = stream.into_split();
        let reader = tokio::spawn(driver::read_loop(self.clone(), id, link.clone(), rd, cap.clone()));
        link.set_read_task(reader.abort_handle());
        let writer = tokio::spawn(driver::write_loop(self.clone(), id, link.clone(), wr, cap));
        link.set_write_task(writer.abort_handle());
        core.links.insert(id, link);
        self.settle(&mut core);
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
    driver::timer_loop(shared).await;
}
