//! A test runtime for the host: one `Host` and one or more `Subsystem`s in memory (path `p` connects to subsystem
//! `path_sub[p]`), with both directions of every connection decoded on the way ("taps"), so a test can watch every
//! command the host sends, and tamper with PDUs in flight (a filter may pass, drop or replace each PDU). Bytes are
//! delivered in chunks of `chunk` bytes to both sides. Time moves only when told.

use std::collections::BTreeMap;
use std::time::Duration;

use nvme_fabric::Instant;
use nvme_fabric::conn::{CloseCause, ConnEvent, ConnId};
use nvme_fabric::controller::{Event, MediaKind, MediaRequest, Subsystem, SubsystemConfig};
use nvme_fabric::host::{Host, HostConfig, HostEvent, IoCompletion, PathPhase};
use nvme_proto::cmd::{Cqe, Sqe};
use nvme_proto::tcp::{Decoded, Deframer, IcReq, Params, Pdu, Role};

/// What a filter decides for one PDU.
pub enum Verdict {
    /// Deliver it as it is.
    Pass,
    /// Drop it.
    Drop,
    /// Deliver these bytes instead (zero or more whole PDUs).
    Replace(Vec<u8>),
}

/// Where a PDU is.
#[derive(Clone, Copy, Debug)]
pub struct Meta {
    pub now: Instant,
    pub path: usize,
    /// The host's connection.
    pub conn: ConnId,
    /// The queue, once its Connect went up.
    pub qid: Option<u16>,
    /// The parameters negotiated on the connection.
    pub params: Params,
    /// For a PDU about a command (response, data, R2T): the command's SQE as the host sent it.
    pub cmd: Option<Sqe>,
}

pub type Filter = Box<dyn FnMut(&Meta, &Pdu<'_>) -> Verdict>;

/// What happened on the wire, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trace {
    /// The host opened a connection on a path.
    Open { at: Instant, path: usize, conn: ConnId },
    /// A command went up (after the filter).
    Cmd { at: Instant, path: usize, conn: ConnId, qid: Option<u16>, sqe: Sqe },
    /// A response came down (after the filter).
    Resp { at: Instant, path: usize, conn: ConnId, cqe: Cqe },
    /// The host closed a connection.
    HostClose { at: Instant, path: usize, conn: ConnId, cause: CloseCause },
    /// A subsystem closed a connection.
    SubClose { at: Instant, path: usize, conn: ConnId, cause: CloseCause },
    /// A termination request went up (`up`) or came down.
    Term { path: usize, conn: ConnId, up: bool, fes: u16, fei: u32, data: Vec<u8> },
}

/// One direction of one connection, decoded.
struct Tap {
    de: Deframer,
    buf: Vec<u8>,
    /// Decoding failed (bad bytes on purpose): everything passes through untouched from now on.
    broken: bool,
}

impl Tap {
    fn new(receiver: Role) -> Tap {
        Tap { de: Deframer::new(receiver), buf: Vec::new(), broken: false }
    }
}

pub struct Link {
    pub path: usize,
    pub sub: usize,
    pub sconn: ConnId,
    up: Tap,
    down: Tap,
    ic_req: Option<IcReq>,
    params: Params,
    qid: Option<u16>,
    cmds: BTreeMap<u16, Sqe>,
    /// Bytes the subsystem did not take yet (backpressure).
    to_sub: Vec<u8>,
}

pub struct Net {
    pub host: Host,
    pub subs: Vec<Subsystem>,
    pub path_sub: Vec<usize>,
    pub now: Instant,
    pub media: Vec<Vec<u8>>,
    pub block: usize,
    pub links: BTreeMap<ConnId, Link>,
    pub s2h: BTreeMap<(usize, ConnId), ConnId>,
    pub conn_path: BTreeMap<ConnId, usize>,
    /// Cut paths: nothing is delivered either way, new connections are refused.
    pub down: Vec<bool>,
    /// Delivery chunk size, both ways.
    pub chunk: usize,
    pub up_filter: Option<Filter>,
    pub down_filter: Option<Filter>,
    pub trace: Vec<Trace>,
    pub host_events: Vec<(Instant, HostEvent)>,
    pub sub_events: Vec<(Instant, usize, Event)>,
    pub done: Vec<IoCompletion>,
    pub hold_media: bool,
    pub held: Vec<(usize, MediaRequest)>,
}

impl Net {
    /// A host with `paths` paths to one subsystem.
    pub fn new(sub: SubsystemConfig, host: HostConfig, paths: usize) -> Net {
        Net::with_subsystems(vec![sub], host, vec![0; paths])
    }

    /// A host whose path `p` leads to subsystem `path_sub[p]`.
    pub fn with_subsystems(subs: Vec<SubsystemConfig>, host: HostConfig, path_sub: Vec<usize>) -> Net {
        let block = subs[0].namespace.block_size as usize;
        let media = subs.iter().map(|s| vec![0u8; s.namespace.blocks as usize * block]).collect();
        let paths = path_sub.len();
        Net {
            host: Host::new(host, paths).unwrap(),
            subs: subs.into_iter().enumerate().map(|(i, c)| Subsystem::new(c, 7 + i as u64).unwrap()).collect(),
            path_sub,
            now: Instant::ZERO,
            media,
            block,
            links: BTreeMap::new(),
            s2h: BTreeMap::new(),
            conn_path: BTreeMap::new(),
            down: vec![false; paths],
            chunk: usize::MAX,
            up_filter: None,
            down_filter: None,
            trace: Vec::new(),
            host_events: Vec::new(),
            sub_events: Vec::new(),
            done: Vec::new(),
            hold_media: false,
            held: Vec::new(),
        }
    }

    pub fn start(&mut self) {
        self.host.start(self.now);
        self.pump();
    }

    pub fn live_paths(&self) -> usize {
        (0..self.down.len()).filter(|&p| self.host.path_phase(p) == Some(PathPhase::Live)).count()
    }

    /// The commands that went up, in order: (path, qid, SQE).
    pub fn commands(&self) -> Vec<(usize, Option<u16>, Sqe)> {
        self.trace
            .iter()
            .filter_map(|t| match t {
                Trace::Cmd { path, qid, sqe, .. } => Some((*path, *qid, *sqe)),
                _ => None,
            })
            .collect()
    }

    /// The path failures reported, in order.
    pub fn failures(&self) -> Vec<(usize, nvme_fabric::host::PathFailure)> {
        self.host_events
            .iter()
            .filter_map(|(_, e)| match e {
                HostEvent::PathFailed { path, failure, .. } => Some((*path, *failure)),
                _ => None,
            })
            .collect()
    }

    /// Moves everything until nothing moves.
    pub fn pump(&mut self) {
        let len = self.subs.iter().map(|s| s.config().transmit_buffer_len()).max().unwrap_or(0);
        let mut buf = vec![0u8; len.max(self.host.config().transmit_buffer_len())];
        for _ in 0..100_000 {
            let mut progress = false;
            while let Some(open) = self.host.poll_open() {
                progress = true;
                self.conn_path.insert(open.conn, open.path);
                self.trace.push(Trace::Open { at: self.now, path: open.path, conn: open.conn });
                let si = self.path_sub[open.path];
                if self.down[open.path] {
                    self.host.handle_closed(self.now, open.conn);
                    continue;
                }
                let Ok(s) = self.subs[si].accept(self.now) else {
                    self.host.handle_closed(self.now, open.conn);
                    continue;
                };
                self.links.insert(
                    open.conn,
                    Link {
                        path: open.path,
                        sub: si,
                        sconn: s,
                        up: Tap::new(Role::Controller),
                        down: Tap::new(Role::Host),
                        ic_req: None,
                        params: Params::default(),
                        qid: None,
                        cmds: BTreeMap::new(),
                        to_sub: Vec::new(),
                    },
                );
                self.s2h.insert((si, s), open.conn);
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
                        self.up(h, &buf[..n]);
                    },
                    ConnEvent::Close(h, cause) => {
                        loop {
                            let n = self.host.poll_transmit(self.now, h, &mut buf).unwrap();
                            if n == 0 {
                                break;
                            }
                            self.up(h, &buf[..n]);
                        }
                        let path = self.conn_path.get(&h).copied().unwrap_or(usize::MAX);
                        self.trace.push(Trace::HostClose { at: self.now, path, conn: h, cause });
                        if let Some(l) = self.links.remove(&h) {
                            self.s2h.remove(&(l.sub, l.sconn));
                            if !self.down[l.path] {
                                self.subs[l.sub].handle_closed(self.now, l.sconn);
                            }
                        }
                        self.host.handle_closed(self.now, h);
                    }
                    _ => {}
                }
            }
            let hs: Vec<ConnId> = self.links.keys().copied().collect();
            for h in hs {
                progress |= self.deliver_to_sub(h);
            }
            for si in 0..self.subs.len() {
                while let Some(ev) = self.subs[si].poll_conn_event() {
                    progress = true;
                    match ev {
                        ConnEvent::Transmit(s) => loop {
                            let n = self.subs[si].poll_transmit(self.now, s, &mut buf).unwrap();
                            if n == 0 {
                                break;
                            }
                            self.down_bytes(si, s, &buf[..n]);
                        },
                        ConnEvent::Close(s, cause) => {
                            loop {
                                let n = self.subs[si].poll_transmit(self.now, s, &mut buf).unwrap();
                                if n == 0 {
                                    break;
                                }
                                self.down_bytes(si, s, &buf[..n]);
                            }
                            self.subs[si].handle_closed(self.now, s);
                            if let Some(h) = self.s2h.remove(&(si, s)) {
                                let path = self.conn_path[&h];
                                self.trace.push(Trace::SubClose { at: self.now, path, conn: h, cause });
                                self.links.remove(&h);
                                if !self.down[path] {
                                    self.host.handle_closed(self.now, h);
                                }
                            }
                        }
                        ConnEvent::Resume(s) => {
                            if let Some(&h) = self.s2h.get(&(si, s)) {
                                self.deliver_to_sub(h);
                            }
                        }
                        ConnEvent::Freeze(s) => {
                            if let Some(&h) = self.s2h.get(&(si, s)) {
                                let p = self.conn_path[&h];
                                self.down[p] = true;
                            }
                        }
                    }
                }
                while let Some(req) = self.subs[si].poll_media() {
                    progress = true;
                    if self.hold_media {
                        self.held.push((si, req));
                    } else {
                        self.run_media(si, req);
                    }
                }
                while let Some(ev) = self.subs[si].poll_event() {
                    progress = true;
                    self.sub_events.push((self.now, si, ev));
                }
            }
            while let Some(ev) = self.host.poll_event() {
                progress = true;
                self.host_events.push((self.now, ev));
            }
            while let Some(c) = self.host.poll_completion() {
                progress = true;
                self.done.push(c);
            }
            if !progress {
                return;
            }
        }
        panic!("the net never settled");
    }

    fn frozen(&self, h: ConnId) -> bool {
        self.conn_path.get(&h).is_some_and(|&p| self.down[p])
    }

    /// Bytes the host sent on `h`.
    fn up(&mut self, h: ConnId, bytes: &[u8]) {
        if self.frozen(h) {
            return;
        }
        let now = self.now;
        let Some(l) = self.links.get_mut(&h) else { return };
        let (out, recs) = tap(&mut l.up, bytes, &mut self.up_filter, |pdu| {
            let cmd = match pdu {
                Pdu::H2CData(d) => l.cmds.get(&d.cccid).copied(),
                _ => None,
            };
            Meta { now, path: l.path, conn: h, qid: l.qid, params: l.params, cmd }
        });
        l.to_sub.extend_from_slice(&out);
        for r in recs {
            match r {
                Record::IcReq(req) => l.ic_req = Some(req),
                Record::Cmd(sqe) => {
                    if sqe.opcode == 0x7F && sqe.fctype() == 0x01 {
                        l.qid = Some((sqe.cdw10 >> 16) as u16);
                    }
                    l.cmds.insert(sqe.cid, sqe);
                    self.trace.push(Trace::Cmd { at: now, path: l.path, conn: h, qid: l.qid, sqe });
                }
                Record::Term(fes, fei, data) => {
                    self.trace.push(Trace::Term { path: l.path, conn: h, up: true, fes, fei, data })
                }
                _ => {}
            }
        }
        self.deliver_to_sub(h);
    }

    fn deliver_to_sub(&mut self, h: ConnId) -> bool {
        if self.frozen(h) {
            return false;
        }
        let Some(l) = self.links.get_mut(&h) else { return false };
        if l.to_sub.is_empty() {
            return false;
        }
        let (si, s) = (l.sub, l.sconn);
        let bytes = std::mem::take(&mut l.to_sub);
        let mut at = 0;
        let chunk = self.chunk.max(1);
        while at < bytes.len() {
            let end = bytes.len().min(at.saturating_add(chunk));
            let n = self.subs[si].handle_input(self.now, s, &bytes[at..end]);
            at += n;
            if n < end - (at - n) {
                break;
            }
        }
        if at < bytes.len()
            && let Some(l) = self.links.get_mut(&h)
        {
            let mut rest = bytes[at..].to_vec();
            rest.extend_from_slice(&l.to_sub);
            l.to_sub = rest;
        }
        at > 0
    }

    /// Bytes subsystem `si` sent on its connection `s`.
    fn down_bytes(&mut self, si: usize, s: ConnId, bytes: &[u8]) {
        let Some(&h) = self.s2h.get(&(si, s)) else { return };
        if self.frozen(h) {
            return;
        }
        let now = self.now;
        let Some(l) = self.links.get_mut(&h) else { return };
        let (deliver, recs) = tap(&mut l.down, bytes, &mut self.down_filter, |pdu| {
            let cmd = match pdu {
                Pdu::CapsuleResp(r) => l.cmds.get(&u16::from_le_bytes([r.cqe[12], r.cqe[13]])).copied(),
                Pdu::C2HData(d) => l.cmds.get(&d.cccid).copied(),
                Pdu::R2T(r) => l.cmds.get(&r.cccid).copied(),
                _ => None,
            };
            Meta { now, path: l.path, conn: h, qid: l.qid, params: l.params, cmd }
        });
        for r in recs {
            match r {
                Record::IcResp(resp) => {
                    if let Some(req) = l.ic_req
                        && let Ok(p) = Params::from_ic(&req, &resp)
                    {
                        l.params = p;
                        l.up.de.set_params(p);
                        l.down.de.set_params(p);
                    }
                }
                Record::Resp(cqe) => {
                    l.cmds.remove(&cqe.cid);
                    self.trace.push(Trace::Resp { at: now, path: l.path, conn: h, cqe });
                }
                Record::Term(fes, fei, data) => {
                    self.trace.push(Trace::Term { path: l.path, conn: h, up: false, fes, fei, data })
                }
                _ => {}
            }
        }
        self.host_input(h, &deliver);
    }

    /// Delivers `bytes` to the host on `h`, in chunks.
    pub fn host_input(&mut self, h: ConnId, bytes: &[u8]) {
        for piece in bytes.chunks(self.chunk.clamp(1, 1 << 30)) {
            self.host.handle_input(self.now, h, piece);
        }
    }

    pub fn run_media(&mut self, si: usize, req: MediaRequest) {
        let at = req.slba as usize * self.block;
        let range = at..at + req.len;
        match req.kind {
            MediaKind::Read => {
                let src = self.media[si][range].to_vec();
                if let Some(dst) = self.subs[si].media_buffer(req.id) {
                    dst.copy_from_slice(&src);
                }
            }
            MediaKind::Write => {
                if let Some(src) = self.subs[si].media_data(req.id) {
                    let src = src.to_vec();
                    self.media[si][range].copy_from_slice(&src);
                }
            }
            MediaKind::Flush => {}
        }
        self.subs[si].handle_media_done(self.now, req.id, Ok(()));
    }

    pub fn release_held(&mut self) {
        for (si, r) in std::mem::take(&mut self.held) {
            self.run_media(si, r);
        }
        self.pump();
    }

    /// Advances time by `d`, firing every side's timers in order.
    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        let mut same = 0;
        loop {
            let next = self.subs.iter().filter_map(|s| s.poll_timeout()).chain(self.host.poll_timeout()).min();
            match next {
                Some(t) if t <= end => {
                    // A timer that handle_timeout does not move would spin here forever.
                    same = if t <= self.now { same + 1 } else { 0 };
                    assert!(
                        same < 1000,
                        "a timer stuck at {t:?} (now {:?}): {:?} / {:?}",
                        self.now,
                        self.subs.iter().map(|s| s.poll_timeout()).collect::<Vec<_>>(),
                        self.host.poll_timeout()
                    );
                    self.now = t.max(self.now);
                    self.fire();
                }
                _ => break,
            }
        }
        self.now = end;
        self.fire();
    }

    fn fire(&mut self) {
        for s in &mut self.subs {
            s.handle_timeout(self.now);
        }
        self.host.handle_timeout(self.now);
        self.pump();
    }

    /// Advances in steps of `step` until `done` holds or `limit` passed; returns whether it held.
    pub fn run_until(&mut self, step: Duration, limit: Duration, mut done: impl FnMut(&Net) -> bool) -> bool {
        let end = self.now + limit;
        while !done(self) {
            if self.now >= end {
                return false;
            }
            self.advance(step);
        }
        true
    }

    /// The host connection of path `p` for queue `qid`.
    pub fn conn_of(&self, p: usize, qid: u16) -> Option<ConnId> {
        self.links.iter().find(|(_, l)| l.path == p && l.qid == Some(qid)).map(|(&h, _)| h)
    }

    /// The parameters negotiated on host connection `h`.
    pub fn params(&self, h: ConnId) -> Params {
        self.links[&h].params
    }
}

/// What a tap saw that the runtime keeps track of.
enum Record {
    IcReq(IcReq),
    IcResp(nvme_proto::tcp::IcResp),
    Cmd(Sqe),
    Resp(Cqe),
    Term(u16, u32, Vec<u8>),
}

fn record(pdu: &Pdu<'_>) -> Option<Record> {
    Some(match pdu {
        Pdu::IcReq(r) => Record::IcReq(*r),
        Pdu::IcResp(r) => Record::IcResp(*r),
        Pdu::CapsuleCmd(c) => Record::Cmd(Sqe::from_bytes(&c.sqe)),
        Pdu::CapsuleResp(r) => Record::Resp(Cqe::from_bytes(&r.cqe)),
        Pdu::TermReq(t) => Record::Term(t.fes.0, t.fei, t.data.to_vec()),
        _ => return None,
    })
}

/// Decodes `bytes` through one direction's tap, asking `filter` about each PDU; returns the bytes to deliver and
/// what was delivered (decoded again from a replacement, when it decodes).
fn tap(
    t: &mut Tap,
    bytes: &[u8],
    filter: &mut Option<Filter>,
    meta: impl Fn(&Pdu<'_>) -> Meta,
) -> (Vec<u8>, Vec<Record>) {
    let mut out = Vec::new();
    let mut recs = Vec::new();
    if t.broken {
        out.extend_from_slice(bytes);
        return (out, recs);
    }
    t.buf.extend_from_slice(bytes);
    loop {
        let buf = std::mem::take(&mut t.buf);
        match t.de.decode(&buf) {
            Ok(Decoded::Need(_)) => {
                t.buf = buf;
                break;
            }
            Ok(Decoded::Pdu { pdu, consumed }) => {
                let raw = &buf[..consumed];
                let verdict = match filter.as_mut() {
                    Some(f) => f(&meta(&pdu), &pdu),
                    None => Verdict::Pass,
                };
                // The IC exchange is always recorded: the parameters depend on it.
                if matches!(pdu, Pdu::IcReq(_) | Pdu::IcResp(_)) {
                    recs.extend(record(&pdu));
                }
                match verdict {
                    Verdict::Pass => {
                        out.extend_from_slice(raw);
                        if !matches!(pdu, Pdu::IcReq(_) | Pdu::IcResp(_)) {
                            recs.extend(record(&pdu));
                        }
                    }
                    Verdict::Drop => {}
                    Verdict::Replace(b) => {
                        if let Ok(p) = Pdu::parse(&b, t.de.params(), t.de.role()) {
                            recs.extend(record(&p));
                        }
                        out.extend_from_slice(&b);
                    }
                }
                t.buf = buf[consumed..].to_vec();
            }
            Err(_) => {
                t.broken = true;
                out.extend_from_slice(&buf);
                break;
            }
        }
    }
    (out, recs)
}
