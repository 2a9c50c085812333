//! A raw NVMe/TCP host for the loopback limit tests: PDUs built and parsed with nvme-proto on a bare socket, so a
//! test can do what our host never does (never read, overflow SQSIZE, send a bad digest or a huge capsule).

use std::net::SocketAddr;
use std::time::Duration;

use nvme_proto::cmd::{Connect, ConnectData, Cqe, SglDescriptor, Sqe};
use nvme_proto::tcp::{CapsuleCmd, Decoded, Deframer, IcReq, IcResp, Params, Pdu, Role};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const HOSTNQN: &str = "nqn.2014-08.org.example:raw-peer";
pub const HOSTID: [u8; 16] = [0x42; 16];

/// A PDU the peer received, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Got {
    Resp(Cqe),
    C2H { cid: u16, len: usize, last: bool },
    R2T { cid: u16, ttag: u16, r2tl: u32 },
    Term { fes: u16, fei: u32 },
}

/// One connection of the raw host.
pub struct Raw {
    pub s: TcpStream,
    pub params: Params,
    de: Deframer,
    rx: Vec<u8>,
}

impl Raw {
    pub async fn connect(addr: SocketAddr) -> Raw {
        let s = TcpStream::connect(addr).await.expect("connects");
        s.set_nodelay(true).unwrap();
        Raw { s, params: Params::default(), de: Deframer::new(Role::Host), rx: Vec::new() }
    }

    /// The IC exchange with the given digests (header, data).
    pub async fn ic(&mut self, hd: bool, dd: bool) {
        let req = IcReq { hpda: 0, header_digest: hd, data_digest: dd, maxr2t: 0 };
        let mut buf = [0u8; 128];
        req.emit(&mut buf).unwrap();
        self.s.write_all(&buf).await.unwrap();
        self.s.read_exact(&mut buf).await.expect("ICResp");
        let resp = IcResp::parse(&buf).expect("a valid ICResp");
        self.params = Params::from_ic(&req, &resp).unwrap();
        self.de = Deframer::established(Role::Host, self.params);
    }

    /// A second handle on the same socket, to write from another task while this one reads.
    pub fn with_writer(self) -> (Raw, TcpStream) {
        let Raw { s, params, de, rx } = self;
        let std = s.into_std().unwrap();
        let w = std.try_clone().unwrap();
        (Raw { s: TcpStream::from_std(std).unwrap(), params, de, rx }, TcpStream::from_std(w).unwrap())
    }

    /// The bytes of `pdu` under the negotiated parameters.
    pub fn encode(&self, pdu: &Pdu<'_>) -> Vec<u8> {
        let mut v = vec![0u8; pdu.buffer_len(&self.params)];
        let n = pdu.emit(&self.params, &mut v).unwrap();
        v.truncate(n);
        v
    }

    /// The bytes of a CapsuleCmd.
    pub fn capsule(&self, sqe: &Sqe, data: &[u8]) -> Vec<u8> {
        self.encode(&Pdu::CapsuleCmd(CapsuleCmd { sqe: sqe.to_bytes(), data }))
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).await.unwrap();
    }

    /// The next PDU, or `None` when the target closed the connection (or reset it) first. Panics after 10 s.
    pub async fn recv(&mut self) -> Option<Got> {
        let wait = async {
            loop {
                // After a TermReq the deframer refuses everything, even nothing: decode only what arrived.
                let decoded = if self.rx.is_empty() { Ok(Decoded::Need(1)) } else { self.de.decode(&self.rx) };
                match decoded {
                    Ok(Decoded::Pdu { pdu, consumed }) => {
                        let g = match pdu {
                            Pdu::CapsuleResp(r) => Got::Resp(Cqe::from_bytes(&r.cqe)),
                            Pdu::C2HData(d) => Got::C2H { cid: d.cccid, len: d.data.len(), last: d.last },
                            Pdu::R2T(r) => Got::R2T { cid: r.cccid, ttag: r.ttag, r2tl: r.r2tl },
                            Pdu::TermReq(t) => Got::Term { fes: t.fes.0, fei: t.fei },
                            other => panic!("a host never receives {other:?}"),
                        };
                        self.rx.drain(..consumed);
                        return Some(g);
                    }
                    Ok(Decoded::Need(_)) => {}
                    Err(e) => panic!("the target sent a bad PDU: {e}"),
                }
                let mut chunk = [0u8; 16384];
                match self.s.read(&mut chunk).await {
                    Ok(0) | Err(_) => return None,
                    Ok(n) => self.rx.extend_from_slice(&chunk[..n]),
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(10), wait).await.expect("the target answers or closes in 10 s")
    }

    /// The next PDU, which must be a response.
    pub async fn resp(&mut self) -> Cqe {
        match self.recv().await {
            Some(Got::Resp(c)) => c,
            other => panic!("a response expected, got {other:?}"),
        }
    }

    /// The Connect capsule for `connect` naming `cntlid` of subsystem `nqn`.
    pub fn connect_capsule(&self, nqn: &str, connect: &Connect, cntlid: u16) -> Vec<u8> {
        let mut data = vec![0u8; ConnectData::LEN];
        ConnectData { hostid: HOSTID, cntlid, subnqn: nqn, hostnqn: HOSTNQN }.emit(&mut data).unwrap();
        let mut sqe = connect.to_sqe(0);
        sqe.dptr = SglDescriptor::in_capsule(0, data.len() as u32);
        self.capsule(&sqe, &data)
    }

    /// IC (no digests) and an admin Connect with `kato_ms`; returns the CNTLID.
    pub async fn admin(addr: SocketAddr, nqn: &str, kato_ms: u32) -> (Raw, u16) {
        let mut r = Raw::connect(addr).await;
        r.ic(false, false).await;
        let c = r.connect_capsule(nqn, &Connect::admin(kato_ms), 0xFFFF);
        r.send(&c).await;
        let cqe = r.resp().await;
        assert!(cqe.status.is_success(), "admin Connect: {cqe:?}");
        (r, cqe.dw0 as u16)
    }

    /// IC (no digests) and the Connect of I/O queue `qid` (SQSIZE `sqsize`, 0's based) of `cntlid`.
    pub async fn io(addr: SocketAddr, nqn: &str, cntlid: u16, qid: u16, sqsize: u16) -> Raw {
        let mut r = Raw::connect(addr).await;
        r.ic(false, false).await;
        let c = r.connect_capsule(nqn, &Connect::io(qid, sqsize), cntlid);
        r.send(&c).await;
        let cqe = r.resp().await;
        assert!(cqe.status.is_success(), "I/O Connect: {cqe:?}");
        r
    }
}

/// Reads until the peer closes (EOF or reset) or `limit` passes; returns what arrived and whether it closed.
pub async fn read_until_closed(s: &mut TcpStream, limit: Duration) -> (Vec<u8>, bool) {
    let mut got = Vec::new();
    let closed = tokio::time::timeout(limit, async {
        let mut chunk = [0u8; 4096];
        loop {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await
    .is_ok();
    (got, closed)
}
