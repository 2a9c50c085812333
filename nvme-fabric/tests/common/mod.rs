//! A raw NVMe/TCP host for driving a `Subsystem` without our host: PDUs built and parsed with nvme-proto, time
//! advanced by hand, media served from memory.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use nvme_fabric::Instant;
use nvme_fabric::conn::{ConnEvent, ConnId};
use nvme_fabric::controller::{MediaKind, Subsystem, SubsystemConfig};
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
    Term { fes: u16, fei: u32 },
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
    pub held: Vec<nvme_fabric::controller::MediaRequest>,
}

pub struct Peer {
    pub rx: Vec<u8>,
    pub de: Deframer,
    pub params: Params,
    pub closed: Option<nvme_fabric::conn::CloseCause>,
    pub frozen: bool,
    pub got: Vec<Got>,
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
        }
    }

    pub fn small() -> Rig {
        let mut cfg = SubsystemConfig::new(NQN);
        cfg.namespace.blocks = 2048;
        Rig::new(cfg)
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

    pub fn send_pdu(&mut self, c: ConnId, pdu: &Pdu<'_>) -> usize {
        let params = self.conns[&c].params;
        let mut buf = vec![0u8; pdu.buffer_len(&params)];
        let n = pdu.emit(&params, &mut buf).unwrap();
        self.send(c, &buf[..n])
    }

    /// Drains every output of the subsystem: transmits (decoded into `got`), closes, media (executed on memory
    /// unless held), events dropped.
    pub fn pump(&mut self) {
        loop {
            let mut progress = false;
            while let Some(ev) = self.sub.poll_conn_event() {
                progress = true;
                match ev {
                    ConnEvent::Transmit(c) => self.transmit(c),
                    ConnEvent::Close(c, cause) => {
                        self.transmit(c);
                        if let Some(p) = self.conns.get_mut(&c) {
                            p.closed = Some(cause);
                        }
                        self.sub.handle_closed(self.now, c);
                    }
                    ConnEvent::Resume(_) => {}
                    ConnEvent::Freeze(c) => {
                        if let Some(p) = self.conns.get_mut(&c) {
                            p.frozen = true;
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
            while self.sub.poll_event().is_some() {}
            if !progress {
                break;
            }
        }
    }

    pub fn run_media(&mut self, req: nvme_fabric::controller::MediaRequest) {
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

    fn transmit(&mut self, c: ConnId) {
        let mut buf = vec![0u8; self.sub.config().transmit_buffer_len()];
        loop {
            let n = self.sub.poll_transmit(self.now, c, &mut buf).unwrap();
            if n == 0 {
                break;
            }
            if let Some(p) = self.conns.get_mut(&c) {
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

    /// ICReq with `digests` (header, data), then the ICResp.
    pub fn ic(&mut self, c: ConnId, hd: bool, dd: bool) {
        let req = IcReq { hpda: 0, header_digest: hd, data_digest: dd, maxr2t: 0 };
        self.send_pdu(c, &Pdu::IcReq(req));
        let got = self.take(c);
        assert_eq!(got, [Got::IcResp], "ICResp expected");
        let p = self.conns.get_mut(&c).unwrap();
        p.params = Params { header_digest: hd, data_digest: dd, maxh2cdata: 128 * 1024, ..Params::default() };
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

    /// An I/O queue `qid` of `cntlid`.
    pub fn io(&mut self, cntlid: u16, qid: u16) -> ConnId {
        let c = self.accept();
        self.ic(c, true, true);
        let cqe = self.connect(c, &Connect::io(qid, 31), cntlid);
        assert!(cqe.status.is_success(), "{cqe:?}");
        c
    }

    pub fn connect(&mut self, c: ConnId, connect: &Connect, cntlid: u16) -> Cqe {
        let mut data = vec![0u8; ConnectData::LEN];
        ConnectData { hostid: HOSTID, cntlid, subnqn: NQN, hostnqn: HOSTNQN }.emit(&mut data).unwrap();
        let mut sqe = connect.to_sqe(0);
        sqe.dptr = SglDescriptor::in_capsule(0, data.len() as u32);
        self.command(c, &sqe, &data);
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
}

impl Peer {
    fn decode(&mut self) {
        loop {
            match self.de.decode(&self.rx) {
                Ok(Decoded::Need(_)) => return,
                Ok(Decoded::Pdu { pdu, consumed }) => {
                    let g = match pdu {
                        Pdu::IcResp(_) => Got::IcResp,
                        Pdu::CapsuleResp(r) => Got::Resp(Cqe::from_bytes(&r.cqe)),
                        Pdu::C2HData(d) => {
                            Got::C2H { cid: d.cccid, datao: d.datao, data: d.data.to_vec(), last: d.last }
                        }
                        Pdu::R2T(r) => Got::R2T { cid: r.cccid, ttag: r.ttag, r2to: r.r2to, r2tl: r.r2tl },
                        Pdu::TermReq(t) => Got::Term { fes: t.fes.0, fei: t.fei },
                        other => panic!("a host never receives {other:?}"),
                    };
                    if matches!(g, Got::IcResp) {
                        // Installed by `ic` with the negotiated values.
                    }
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
