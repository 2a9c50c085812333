//! A host and a subsystem connected in memory: every byte arrives at once, time moves only when told, the media is
//! a vector. Paths are addresses of the same subsystem (several connections to one target, as the Linux test does).

use std::collections::BTreeMap;
use std::time::Duration;

use nvme_fabric::Instant;
use nvme_fabric::conn::{ConnEvent, ConnId};
use nvme_fabric::controller::{MediaKind, MediaRequest, Subsystem, SubsystemConfig};
use nvme_fabric::host::{Host, HostConfig, HostEvent, IoCompletion};

pub struct Pair {
    pub sub: Subsystem,
    pub host: Host,
    pub now: Instant,
    pub media: Vec<u8>,
    pub block: usize,
    /// host conn -> subsystem conn
    pub h2s: BTreeMap<ConnId, ConnId>,
    pub s2h: BTreeMap<ConnId, ConnId>,
    /// Paths whose connections deliver nothing (both ways) and accept no new connection.
    pub down: Vec<bool>,
    pub conn_path: BTreeMap<ConnId, usize>,
    pub host_events: Vec<HostEvent>,
    pub sub_events: Vec<nvme_fabric::controller::Event>,
    pub done: Vec<IoCompletion>,
    /// Media requests held back (not executed until released).
    pub hold_media: bool,
    pub held: Vec<MediaRequest>,
    /// Bytes that could not be delivered to the subsystem yet (backpressure): host conn -> bytes.
    pub pending: BTreeMap<ConnId, Vec<u8>>,
}

impl Pair {
    pub fn new(sub_cfg: SubsystemConfig, host_cfg: HostConfig, paths: usize) -> Pair {
        let block = sub_cfg.namespace.block_size as usize;
        let media = vec![0u8; sub_cfg.namespace.blocks as usize * block];
        Pair {
            sub: Subsystem::new(sub_cfg, 7).unwrap(),
            host: Host::new(host_cfg, paths).unwrap(),
            now: Instant::ZERO,
            media,
            block,
            h2s: BTreeMap::new(),
            s2h: BTreeMap::new(),
            down: vec![false; paths],
            conn_path: BTreeMap::new(),
            host_events: Vec::new(),
            sub_events: Vec::new(),
            done: Vec::new(),
            hold_media: false,
            held: Vec::new(),
            pending: BTreeMap::new(),
        }
    }

    pub fn start(&mut self) {
        self.host.start(self.now);
        self.pump();
    }

    /// Moves everything until nothing moves.
    pub fn pump(&mut self) {
        let mut buf = vec![0u8; 1 << 20];
        for _ in 0..100_000 {
            let mut progress = false;
            while let Some(open) = self.host.poll_open() {
                progress = true;
                self.conn_path.insert(open.conn, open.path);
                if self.down[open.path] {
                    self.host.handle_closed(self.now, open.conn);
                    continue;
                }
                let s = self.sub.accept(self.now).unwrap();
                self.h2s.insert(open.conn, s);
                self.s2h.insert(s, open.conn);
                self.host.handle_connected(self.now, open.conn);
            }
            while let Some(ev) = self.host.poll_conn_event() {
                progress = true;
                match ev {
                    ConnEvent::Transmit(h) => loop {
                        let n = self.host.poll_transmit(self.now, h, &mut buf).unwrap();
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
                            let n = self.host.poll_transmit(self.now, h, &mut buf).unwrap();
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
                        let n = self.sub.poll_transmit(self.now, s, &mut buf).unwrap();
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
                            let n = self.sub.poll_transmit(self.now, s, &mut buf).unwrap();
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
            while let Some(ev) = self.host.poll_event() {
                progress = true;
                self.host_events.push(ev);
            }
            while let Some(c) = self.host.poll_completion() {
                progress = true;
                self.done.push(c);
            }
            if !progress {
                return;
            }
        }
        panic!("the pair never settled");
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

    pub fn run_media(&mut self, req: MediaRequest) {
        let at = req.slba as usize * self.block;
        match req.kind {
            MediaKind::Read => {
                let src = self.media[at..at + req.len].to_vec();
                self.sub.media_buffer(req.id).unwrap().copy_from_slice(&src);
            }
            MediaKind::Write => {
                let d = self.sub.media_data(req.id).unwrap().to_vec();
                self.media[at..at + req.len].copy_from_slice(&d);
            }
            MediaKind::Flush => {}
        }
        self.sub.handle_media_done(self.now, req.id, Ok(()));
    }

    /// Advances time by `d`, firing both sides' timers in order.
    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            let next = [self.sub.poll_timeout(), self.host.poll_timeout()].into_iter().flatten().min();
            match next {
                Some(t) if t <= end => {
                    self.now = t.max(self.now);
                    self.sub.handle_timeout(self.now);
                    self.host.handle_timeout(self.now);
                    self.pump();
                }
                _ => break,
            }
        }
        self.now = end;
        self.sub.handle_timeout(self.now);
        self.host.handle_timeout(self.now);
        self.pump();
    }

    pub fn live_paths(&self) -> usize {
        (0..self.down.len()).filter(|&p| self.host.path_phase(p) == Some(nvme_fabric::host::PathPhase::Live)).count()
    }
}
