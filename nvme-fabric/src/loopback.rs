//! A [`Host`] and a [`Subsystem`] connected in memory: the smallest runtime there is. Every byte arrives at once,
//! time moves only when told ([`Loopback::advance`]), the namespace is a vector. Every path of the host is a
//! connection to the same subsystem (as the Linux failover test connects twice to one target), and a path can be
//! cut ([`Loopback::down`]: nothing is delivered on it either way, as a frozen network would).
//!
//! It is the runtime of this crate's examples and tests, and a reference for writing one: see how it drives each
//! `poll_*` output of both sides.

use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use crate::Instant;
use crate::conn::{ConnEvent, ConnId};
use crate::controller::{AuthEvent, ConfigError, Event, MediaKind, MediaRequest, Subsystem, SubsystemConfig};
use crate::host::{Host, HostConfig, HostConfigError, HostEvent, IoCompletion};

/// A host and a subsystem wired together in memory.
#[derive(Debug)]
pub struct Loopback {
    /// The target.
    pub sub: Subsystem,
    /// The host.
    pub host: Host,
    /// The time both see.
    pub now: Instant,
    /// The namespace's bytes.
    pub media: Vec<u8>,
    /// The namespace's block size.
    pub block: usize,
    /// Host connection -> subsystem connection.
    pub h2s: BTreeMap<ConnId, ConnId>,
    /// Subsystem connection -> host connection.
    pub s2h: BTreeMap<ConnId, ConnId>,
    /// Cut paths: their connections deliver nothing (either way) and new ones never connect.
    pub down: Vec<bool>,
    /// Host connection -> path.
    pub conn_path: BTreeMap<ConnId, usize>,
    /// Every host event, in order.
    pub host_events: Vec<HostEvent>,
    /// Every subsystem event, in order.
    pub sub_events: Vec<Event>,
    /// Every authentication event of the subsystem, in order.
    pub auth_events: Vec<AuthEvent>,
    /// Every completion, in order.
    pub done: Vec<IoCompletion>,
    /// Hold media requests back instead of running them (release with [`Loopback::run_media`]).
    pub hold_media: bool,
    /// Media requests held back.
    pub held: Vec<MediaRequest>,
    /// Bytes the subsystem did not take yet (backpressure): host connection -> bytes.
    pub pending: BTreeMap<ConnId, Vec<u8>>,
}

/// Why a [`Loopback`] cannot be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoopbackError {
    /// The subsystem's configuration.
    Subsystem(ConfigError),
    /// The host's configuration.
    Host(HostConfigError),
    /// The namespace does not fit in memory.
    TooLarge,
}

/// [`Loopback::pump`] moved data this many rounds without settling (a live-lock between the two sides).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeverSettled;

impl Loopback {
    /// A subsystem (CIU/CIRN seed 7) and a host with `paths` paths to it; nothing is connected yet.
    pub fn new(sub_cfg: SubsystemConfig, host_cfg: HostConfig, paths: usize) -> Result<Loopback, LoopbackError> {
        let block = sub_cfg.namespace.block_size as usize;
        let len = usize::try_from(sub_cfg.namespace.blocks)
            .ok()
            .and_then(|b| b.checked_mul(block))
            .filter(|&l| l <= 1 << 30)
            .ok_or(LoopbackError::TooLarge)?;
        let media = vec![0u8; len];
        Ok(Loopback {
            sub: Subsystem::new(sub_cfg, 7).map_err(LoopbackError::Subsystem)?,
            host: Host::new(host_cfg, paths).map_err(LoopbackError::Host)?,
            now: Instant::ZERO,
            media,
            block,
            h2s: BTreeMap::new(),
            s2h: BTreeMap::new(),
            down: vec![false; paths],
            conn_path: BTreeMap::new(),
            host_events: Vec::new(),
            sub_events: Vec::new(),
            auth_events: Vec::new(),
            done: Vec::new(),
            hold_media: false,
            held: Vec::new(),
            pending: BTreeMap::new(),
        })
    }

    /// Starts the host connecting, and runs until nothing moves.
    pub fn start(&mut self) -> Result<(), NeverSettled> {
        self.host.start(self.now);
        self.pump()
    }

    /// Moves bytes, media work, events and completions until nothing moves (at most 100 000 rounds).
    pub fn pump(&mut self) -> Result<(), NeverSettled> {
        let len = self.sub.config().transmit_buffer_len().max(self.host.config().transmit_buffer_len());
        let mut buf = vec![0u8; len];
        for _ in 0..100_000 {
            let mut progress = false;
            while let Some(open) = self.host.poll_open() {
                progress = true;
                self.conn_path.insert(open.conn, open.path);
                if self.down[open.path] {
                    self.host.handle_closed(self.now, open.conn);
                    continue;
                }
                let Ok(s) = self.sub.accept(self.now) else {
                    self.host.handle_closed(self.now, open.conn);
                    continue;
                };
                self.h2s.insert(open.conn, s);
                self.s2h.insert(s, open.conn);
                self.host.handle_connected(self.now, open.conn);
            }
            while let Some(ev) = self.host.poll_conn_event() {
                progress = true;
                match ev {
                    ConnEvent::Transmit(h) => loop {
                        let n = self.host.poll_transmit(self.now, h, &mut buf).unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        if self.frozen(h) {
                            continue;
                        }
                        self.pending.entry(h).or_default().extend_from_slice(&buf[..n]);
                    },
                    ConnEvent::Close(h, _) => {
                        loop {
                            let n = self.host.poll_transmit(self.now, h, &mut buf).unwrap_or(0);
                            if n == 0 {
                                break;
                            }
                            if !self.frozen(h) {
                                self.pending.entry(h).or_default().extend_from_slice(&buf[..n]);
                            }
                        }
                        self.deliver_pending(h);
                        if let Some(s) = self.h2s.remove(&h) {
                            self.s2h.remove(&s);
                            if !self.frozen(h) {
                                self.sub.handle_closed(self.now, s);
                            }
                        }
                        self.host.handle_closed(self.now, h);
                    }
                    _ => {}
                }
            }
            let hs: Vec<ConnId> = self.pending.keys().copied().collect();
            for h in hs {
                progress |= self.deliver_pending(h);
            }
            while let Some(ev) = self.sub.poll_conn_event() {
                progress = true;
                match ev {
                    ConnEvent::Transmit(s) => loop {
                        let n = self.sub.poll_transmit(self.now, s, &mut buf).unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        if let Some(&h) = self.s2h.get(&s)
                            && !self.frozen(h)
                        {
                            self.host.handle_input(self.now, h, &buf[..n]);
                        }
                    },
                    ConnEvent::Close(s, _) => {
                        loop {
                            let n = self.sub.poll_transmit(self.now, s, &mut buf).unwrap_or(0);
                            if n == 0 {
                                break;
                            }
                            if let Some(&h) = self.s2h.get(&s)
                                && !self.frozen(h)
                            {
                                self.host.handle_input(self.now, h, &buf[..n]);
                            }
                        }
                        self.sub.handle_closed(self.now, s);
                        if let Some(h) = self.s2h.remove(&s) {
                            self.h2s.remove(&h);
                            if !self.frozen(h) {
                                self.host.handle_closed(self.now, h);
                            }
                        }
                    }
                    ConnEvent::Resume(s) => {
                        if let Some(&h) = self.s2h.get(&s) {
                            self.deliver_pending(h);
                        }
                    }
                    ConnEvent::Freeze(s) => {
                        if let Some(&h) = self.s2h.get(&s)
                            && let Some(&p) = self.conn_path.get(&h)
                        {
                            self.down[p] = true;
                        }
                    }
                }
            }
            while let Some(req) = self.sub.poll_media() {
                progress = true;
                if self.hold_media {
                    self.held.push(req);
                } else {
                    self.run_media(req);
                }
            }
            while let Some(ev) = self.sub.poll_event() {
                progress = true;
                self.sub_events.push(ev);
            }
            while let Some(ev) = self.sub.poll_auth_event() {
                progress = true;
                self.auth_events.push(ev);
            }
            while let Some(ev) = self.host.poll_event() {
                progress = true;
                self.host_events.push(ev);
            }
            while let Some(c) = self.host.poll_completion() {
                progress = true;
                self.done.push(c);
            }
            if !progress {
                return Ok(());
            }
        }
        Err(NeverSettled)
    }

    fn frozen(&self, h: ConnId) -> bool {
        self.conn_path.get(&h).is_some_and(|&p| self.down[p])
    }

    fn deliver_pending(&mut self, h: ConnId) -> bool {
        let Some(bytes) = self.pending.remove(&h) else { return false };
        let Some(&s) = self.h2s.get(&h) else { return true };
        if self.frozen(h) {
            return true;
        }
        let n = self.sub.handle_input(self.now, s, &bytes);
        if n < bytes.len() {
            self.pending.insert(h, bytes[n..].to_vec());
        }
        n > 0
    }

    /// Carries out one media request on [`Loopback::media`].
    pub fn run_media(&mut self, req: MediaRequest) {
        let at = req.slba as usize * self.block;
        let range = at..at + req.len;
        match req.kind {
            MediaKind::Read => {
                if let (Some(src), Some(dst)) = (self.media.get(range), self.sub.media_buffer(req.id)) {
                    dst.copy_from_slice(src);
                }
            }
            MediaKind::Write => {
                if let (Some(dst), Some(src)) = (self.media.get_mut(range), self.sub.media_data(req.id)) {
                    dst.copy_from_slice(src);
                }
            }
            MediaKind::Flush => {}
        }
        self.sub.handle_media_done(self.now, req.id, Ok(()));
    }

    /// Advances time by `d`, firing both sides' timers in order and pumping after each.
    pub fn advance(&mut self, d: Duration) -> Result<(), NeverSettled> {
        let end = self.now + d;
        loop {
            let next = [self.sub.poll_timeout(), self.host.poll_timeout()].into_iter().flatten().min();
            match next {
                Some(t) if t <= end => {
                    self.now = t.max(self.now);
                    self.sub.handle_timeout(self.now);
                    self.host.handle_timeout(self.now);
                    self.pump()?;
                }
                _ => break,
            }
        }
        self.now = end;
        self.sub.handle_timeout(self.now);
        self.host.handle_timeout(self.now);
        self.pump()
    }

    /// Paths whose controller is live.
    pub fn live_paths(&self) -> usize {
        (0..self.down.len()).filter(|&p| self.host.path_phase(p) == Some(crate::host::PathPhase::Live)).count()
    }
}
