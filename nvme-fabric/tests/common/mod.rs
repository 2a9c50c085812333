//! A raw NVMe/TCP host for driving a `Subsystem` without our host: PDUs built and parsed with nvme-proto, time
//! advanced by hand, media served from memory.
#![allow(dead_code)]

pub mod net;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use nvme_fabric::Instant;
use nvme_fabric::conn::{CloseCause, ConnEvent, ConnId};
use nvme_fabric::controller::{Event, MediaKind, MediaRequest, Subsystem, SubsystemConfig};
use nvme_proto::cmd::{Connect, ConnectData, Cqe, SglDescriptor, Sqe};
use nvme_proto::tcp::{CapsuleCmd, Decoded, Deframer, H2CData, IcReq, Params, Pdu, Role};

pub const NQN: &str = "nqn.2026-12.io.example:fabric-test";
pub const HOSTNQN: &str = "nqn.2014-08.org.nvmexpress:uuid:11111111-2222-3333-4444-555555555555";
pub const HOSTID: [u8; 16] = [7; 16];

/// What the host end of one connection received, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Got {
    IcResp,
    Resp(Cqe),
    C2H { cid: u16, datao: u32, data: Vec<u8>, last: bool },
    R2T { cid: u16, ttag: u16, r2to: u32, r2tl: u32 },
    Term { fes: u16, fei: u32, data: Vec<u8> },
}

/// The runtime around one subsystem in a test: memory media, a clock, connection bookkeeping.
pub struct Rig {
    pub sub: Subsystem,
    pub now: Instant,
    pub media: Vec<u8>,
    pub block: usize,
    /// Per connection: received bytes not yet decoded, the deframer, whether it was told to close, frozen.
    pub conns: BTreeMap<ConnId, Peer>,
    /// Media operations held back by the test (not executed automatically).
    pub hold_media: bool,
    pub held: Vec<MediaRequest>,
    /// Connections whose output this peer never reads (a Transmit event for them is left unanswered).
    pub stalled: BTreeSet<ConnId>,
    /// Every `ConnEvent::Resume`, in order.
    pub resumed: Vec<ConnId>,
    /// Every subsystem event, in order.
    pub events: Vec<Event>,
    /// Every media request handed out, in order.
    pub media_log: Vec<MediaRequest>,
}

pub struct Peer {
    pub rx: Vec<u8>,
    pub de: Deframer,
    pub params: Params,
    pub closed: Option<CloseCause>,
    pub frozen: bool,
    pub got: Vec<Got>,
    /// Every byte the subsystem sent on this connection.
    pub wire: Vec<u8>,
}

impl Rig {
    pub fn new(cfg: SubsystemConfig) -> Rig {
        let block = cfg.namespace.block_size as usize;
        let media = vec![0u8; cfg.namespace.blocks as usize * block];
        Rig {
            sub: Subsystem::new(cfg, 42).unwrap(),
            now: Instant::ZERO,
            media,
            block,
            conns: BTreeMap::new(),
            hold_media: false,
            held: Vec::new(),
            stalled: BTreeSet::new(),
            resumed: Vec::new(),
            events: Vec::new(),
            media_log: Vec::new(),
        }
    }

    /// The defaults with a 1 MiB namespace.
    pub fn small_cfg() -> SubsystemConfig {
        let mut cfg = SubsystemConfig::new(NQN);
        cfg.namespace.blocks = 2048;
        cfg
    }

    pub fn small() -> Rig {
        Rig::new(Self::small_cfg())
    }

    pub fn accept(&mut self) -> ConnId {
        let id = self.sub.accept(self.now).unwrap();
        self.conns.insert(
            id,
            Peer {
                rx: Vec::new(),
                de: Deframer::new(Role::Host),
                params: Params::default(),
                closed: None,
                frozen: false,
                got: Vec::new(),
                wire: Vec::new(),
            },
        );
        id
    }

    /// Sends raw bytes; returns how many the subsystem took. Then runs the runtime loop.
    pub fn send(&mut self, c: ConnId, bytes: &[u8]) -> usize {
        let n = self.sub.handle_input(self.now, c, bytes);
        self.pump();
        n
    }

    /// `pdu` encoded with the connection's negotiated parameters.
    pub fn encode(&self, c: ConnId, pdu: &Pdu<'_>) -> Vec<u8> {
        encode(pdu, &self.conns[&c].params)
    }

    pub fn send_pdu(&mut self, c: ConnId, pdu: &Pdu<'_>) -> usize {
        let bytes = self.encode(c, pdu);
        self.send(c, &bytes)
    }

    /// Drains every output of the subsystem: transmits (decoded into `got`), closes, media (executed on memory
    /// unless held), events.
    pub fn pump(&mut self) {
        loop {
            let mut progress = false;
            while let Some(ev) = self.sub.poll_conn_event() {
                progress = true;
                match ev {
                    ConnEvent::Transmit(c) => {
                        if !self.stalled.contains(&c) {
                            self.transmit(c)
                        }
                    }
                    ConnEvent::Close(c, cause) => {
                        self.transmit(c);
                        if let Some(p) = self.conns.get_mut(&c) {
                            p.closed = Some(cause);
                        }
                        self.sub.handle_closed(self.now, c);
                    }
                    ConnEvent::Resume(c) => self.resumed.push(c),
                    ConnEvent::Freeze(c) => {
                        if let Some(p) = self.conns.get_mut(&c) {
                            p.frozen = true;
                        }
                    }
                }
            }
            while let Some(req) = self.sub.poll_media() {
                progress = true;
                self.media_log.push(req);
                if self.hold_media {
                    self.held.push(req);
                } else {
                    self.run_media(req);
                }
            }
            while let Some(ev) = self.sub.poll_event() {
                progress = true;
                self.events.push(ev);
            }
            if !progress {
                break;
            }
        }
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

    pub fn release_held(&mut self) {
        let held = std::mem::take(&mut self.held);
        for r in held {
            self.run_media(r);
        }
        self.pump();
    }

    /// Reads everything the subsystem has for `c` (also a stalled connection, once).
    pub fn transmit(&mut self, c: ConnId) {
        let mut buf = vec![0u8; self.sub.config().transmit_buffer_len()];
        loop {
            let n = self.sub.poll_transmit(self.now, c, &mut buf).unwrap();
            if n == 0 {
                break;
            }
            if let Some(p) = self.conns.get_mut(&c) {
                p.wire.extend_from_slice(&buf[..n]);
                p.rx.extend_from_slice(&buf[..n]);
                p.decode();
            }
        }
    }

    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while let Some(t) = self.sub.poll_timeout() {
            if t > end {
                break;
            }
            self.now = t.max(self.now);
            self.sub.handle_timeout(self.now);
            self.pump();
        }
        self.now = end;
        self.sub.handle_timeout(self.now);
        self.pump();
    }

    pub fn take(&mut self, c: ConnId) -> Vec<Got> {
        std::mem::take(&mut self.conns.get_mut(&c).unwrap().got)
    }

    pub fn closed(&self, c: ConnId) -> Option<CloseCause> {
        self.conns[&c].closed
    }

    /// ICReq with `digests` (header, data), then the ICResp.
    pub fn ic(&mut self, c: ConnId, hd: bool, dd: bool) {
        let req = IcReq { hpda: 0, header_digest: hd, data_digest: dd, maxr2t: 0 };
        self.send_pdu(c, &Pdu::IcReq(req));
        let got = self.take(c);
        assert_eq!(got, [Got::IcResp], "ICResp expected");
        let maxh2cdata = self.sub.config().maxh2cdata;
        let p = self.conns.get_mut(&c).unwrap();
        p.params = Params { header_digest: hd, data_digest: dd, maxh2cdata, ..Params::default() };
        p.de.set_params(p.params);
    }

    pub fn command(&mut self, c: ConnId, sqe: &Sqe, data: &[u8]) -> usize {
        let cmd = CapsuleCmd { sqe: sqe.to_bytes(), data };
        self.send_pdu(c, &Pdu::CapsuleCmd(cmd))
    }

    /// A full admin connection: IC, Connect (KATO `kato_ms`), returns (conn, cntlid).
    pub fn admin(&mut self, kato_ms: u32) -> (ConnId, u16) {
        let c = self.accept();
        self.ic(c, true, true);
        let cqe = self.connect(c, &Connect::admin(kato_ms), 0xFFFF);
        assert!(cqe.status.is_success(), "{cqe:?}");
        (c, cqe.dw0 as u16)
    }

    /// An I/O queue `qid` of `cntlid` (SQSIZE 31).
    pub fn io(&mut self, cntlid: u16, qid: u16) -> ConnId {
        self.io_sized(cntlid, qid, 31)
    }

    /// An I/O queue `qid` of `cntlid` with `sqsize` (0's based).
    pub fn io_sized(&mut self, cntlid: u16, qid: u16, sqsize: u16) -> ConnId {
        let c = self.accept();
        self.ic(c, true, true);
        let cqe = self.connect(c, &Connect::io(qid, sqsize), cntlid);
        assert!(cqe.status.is_success(), "{cqe:?}");
        c
    }

    pub fn connect(&mut self, c: ConnId, connect: &Connect, cntlid: u16) -> Cqe {
        let data = connect_data(cntlid, NQN, HOSTNQN, HOSTID);
        self.connect_raw(c, connect, &data)
    }

    /// A Connect with the given data (of any length) in the capsule.
    pub fn connect_raw(&mut self, c: ConnId, connect: &Connect, data: &[u8]) -> Cqe {
        let mut sqe = connect.to_sqe(0);
        sqe.dptr = SglDescriptor::in_capsule(0, data.len() as u32);
        self.command(c, &sqe, data);
        self.resp(c)
    }

    /// The one response expected now.
    pub fn resp(&mut self, c: ConnId) -> Cqe {
        let got = self.take(c);
        match got.as_slice() {
            [Got::Resp(cqe)] => *cqe,
            other => panic!("one response expected, got {other:?}"),
        }
    }

    /// The termination request the subsystem sent on `c` (the last PDU), and the cause it closed with.
    pub fn term(&mut self, c: ConnId) -> (u16, u32, Vec<u8>, Option<CloseCause>) {
        let got = self.take(c);
        match got.last() {
            Some(Got::Term { fes, fei, data }) => (*fes, *fei, data.clone(), self.closed(c)),
            _ => panic!("a TermReq expected, got {got:?}"),
        }
    }
}

/// 1024 bytes of Connect data.
pub fn connect_data(cntlid: u16, subnqn: &str, hostnqn: &str, hostid: [u8; 16]) -> Vec<u8> {
    let mut data = vec![0u8; ConnectData::LEN];
    ConnectData { hostid, cntlid, subnqn, hostnqn }.emit(&mut data).unwrap();
    data
}

/// `pdu` encoded under `params`.
pub fn encode(pdu: &Pdu<'_>, params: &Params) -> Vec<u8> {
    let mut buf = vec![0u8; pdu.buffer_len(params)];
    let n = pdu.emit(params, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

impl Peer {
    fn decode(&mut self) {
        loop {
            if self.rx.is_empty() || self.de.state() == nvme_proto::tcp::ConnState::Closed {
                return;
            }
            match self.de.decode(&self.rx) {
                Ok(Decoded::Need(_)) => return,
                Ok(Decoded::Pdu { pdu, consumed }) => {
                    let g = match pdu {
                        Pdu::IcResp(r) => {
                            // The parameters the controller granted, for what follows.
                            let p = Params {
                                header_digest: r.header_digest,
                                data_digest: r.data_digest,
                                maxh2cdata: r.maxh2cdata,
                                ..Params::default()
                            };
                            self.params = p;
                            self.de.set_params(p);
                            Got::IcResp
                        }
                        Pdu::CapsuleResp(r) => Got::Resp(Cqe::from_bytes(&r.cqe)),
                        Pdu::C2HData(d) => {
                            Got::C2H { cid: d.cccid, datao: d.datao, data: d.data.to_vec(), last: d.last }
                        }
                        Pdu::R2T(r) => Got::R2T { cid: r.cccid, ttag: r.ttag, r2to: r.r2to, r2tl: r.r2tl },
                        Pdu::TermReq(t) => Got::Term { fes: t.fes.0, fei: t.fei, data: t.data.to_vec() },
                        other => panic!("a host never receives {other:?}"),
                    };
                    self.got.push(g);
                    self.rx.drain(..consumed);
                }
                Err(e) => panic!("the subsystem sent a bad PDU: {e}"),
            }
        }
    }
}

/// An H2CData PDU.
pub fn h2c(cid: u16, ttag: u16, datao: u32, data: &[u8], last: bool) -> Pdu<'_> {
    Pdu::H2CData(H2CData { cccid: cid, ttag, datao, data, last })
}
