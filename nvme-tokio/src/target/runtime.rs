//! The driver loop around the [`Subsystem`] (the socket and timer tasks are [`crate::driver`]'s, shared with the
//! host): one mutex holds it; the accept loop, a reader and a writer task per socket and one timer task call into
//! it, then [`Shared::pump`] carries out its outputs (connection events to the tasks, media requests to the
//! [`Namespace`], events dropped).
//!
//! * Reader: backpressure as the subsystem asks (input left untaken waits for `ConnEvent::Resume`). A frozen
//!   connection's reader is stopped; the socket stays open.
//! * Media: carried out inline, under the lock, on the namespace (memory, or positioned file reads and writes).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use nvme_fabric::controller::{
    AuthEvent, ConfigError, MediaError, MediaKind, MediaRequest, Subsystem, SubsystemConfig,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::{ConnInfo, Namespace};
use crate::capture::{Capture, Side};
use crate::driver::{self, Base, Core, Driver, Link};

/// Back-off after a failed accept (out of descriptors), instead of spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The target's state, shared by its tasks and every [`Target`](super::Target) clone.
pub(super) struct Shared {
    base: Base<Subsystem, ()>,
    pub(super) ns: Namespace,
    capture: Option<Capture>,
    auth_events: Option<mpsc::Sender<AuthEvent>>,
}

impl Driver for Shared {
    type Ep = Subsystem;
    type X = ();

    fn base(&self) -> &Base<Subsystem, ()> {
        &self.base
    }

    /// Drains every output of the subsystem: connection events go to the connection's tasks, media requests are
    /// carried out and reported, events are dropped.
    fn pump(&self, core: &mut Core<Subsystem, ()>) {
        loop {
            let mut progress = false;
            while let Some(ev) = core.ep.poll_conn_event() {
                progress = true;
                core.conn_event(ev);
            }
            while let Some(req) = core.ep.poll_media() {
                progress = true;
                let result = self.media(&mut core.ep, &req);
                core.ep.handle_media_done(self.base.now(), req.id, result);
            }
            while core.ep.poll_event().is_some() {}
            while let Some(ev) = core.ep.poll_auth_event() {
                if let Some(tx) = &self.auth_events {
                    // Full (nobody reads) or closed: dropped.
                    let _ = tx.try_send(ev);
                }
            }
            if !progress {
                break;
            }
        }
    }
}

impl Shared {
    pub(super) fn new(
        cfg: SubsystemConfig,
        seed: u64,
        ns: Namespace,
        capture: Option<Capture>,
        auth_events: Option<mpsc::Sender<AuthEvent>>,
    ) -> Result<Shared, ConfigError> {
        let tx_len = cfg.transmit_buffer_len();
        let sub = Subsystem::new(cfg, seed)?;
        Ok(Shared { base: Base::new(sub, (), tx_len), ns, capture, auth_events })
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
            return;
        };
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
