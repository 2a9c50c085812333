//! Moving PDUs over one TCP connection: a receive side that feeds nvme-proto's [`Deframer`] from the socket and
//! hands each validated PDU to a closure, a send side (a writer task fed by a channel, so that synchronous PDU
//! handlers can answer), and an optional pcap capture of both directions ([`Capture`]).
//!
//! All framing, validation and encoding is nvme-proto's; this module only owns the buffer and the socket.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};

use nvme_proto::capture::{Direction, PcapTcpWriter, TcpFlow};
use nvme_proto::tcp::{Decoded, Deframer, Params, Pdu, PduError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;

/// The smallest read the receive side asks the socket for.
const READ_CHUNK: usize = 64 * 1024;

/// A pcap file that the drivers write their own traffic into (no capture privilege needed). Cheap to clone;
/// every connection of a host or a target shares one. Each PDU is written, unbuffered, when it is sent or
/// received, so the file is complete even if the process is killed.
///
/// Frames carry the real addresses and ports of the connection; tshark decodes port 4420 as NVMe/TCP by itself,
/// any other port needs `-d tcp.port==PORT,nvme-tcp`.
#[derive(Clone)]
pub struct Capture {
    inner: Arc<Mutex<CaptureInner>>,
}

struct CaptureInner {
    writer: PcapTcpWriter<File>,
    epoch: std::time::Instant,
    flows: HashMap<u64, TcpFlow>,
    next_flow: u64,
    /// The first write error, after which nothing more is written.
    failed: Option<String>,
}

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Capture")
    }
}

impl Capture {
    /// Creates (truncates) `path` and writes the pcap header.
    pub fn create(path: &Path) -> io::Result<Capture> {
        let file = File::create(path)?;
        let writer = PcapTcpWriter::new(file).map_err(|e| io::Error::other(e.to_string()))?;
        let inner = CaptureInner {
            writer,
            epoch: std::time::Instant::now(),
            flows: HashMap::new(),
            next_flow: 0,
            failed: None,
        };
        Ok(Capture { inner: Arc::new(Mutex::new(inner)) })
    }

    /// The first error met while writing, if any (the capture stops at it).
    pub fn error(&self) -> Option<String> {
        self.inner.lock().map(|c| c.failed.clone()).unwrap_or_else(|_| Some("capture lock poisoned".into()))
    }

    /// A flow for the connection between `host` and `controller`.
    pub(crate) fn flow(&self, host: SocketAddr, controller: SocketAddr) -> ConnCapture {
        let v4 = |a: SocketAddr| match a.ip() {
            IpAddr::V4(ip) => (ip, a.port()),
            IpAddr::V6(_) => (Ipv4Addr::new(10, 0, 0, 1), a.port()),
        };
        let id = match self.inner.lock() {
            Ok(mut c) => {
                let id = c.next_flow;
                c.next_flow += 1;
                c.flows.insert(id, TcpFlow::new(v4(host), v4(controller)));
                id
            }
            Err(_) => u64::MAX,
        };
        ConnCapture { cap: self.clone(), id }
    }
}

/// One connection's view of a [`Capture`].
#[derive(Clone)]
pub(crate) struct ConnCapture {
    cap: Capture,
    id: u64,
}

impl ConnCapture {
    /// Records `bytes` travelling in direction `dir`.
    pub(crate) fn record(&self, dir: Direction, bytes: &[u8]) {
        let Ok(mut c) = self.cap.inner.lock() else { return };
        if c.failed.is_some() {
            return;
        }
        let ts = c.epoch.elapsed();
        let c = &mut *c;
        let Some(flow) = c.flows.get_mut(&self.id) else { return };
        if let Err(e) = c.writer.write(flow, dir, ts, bytes) {
            c.failed = Some(e.to_string());
        }
    }
}

/// Why the receive side stopped or skipped a PDU.
#[derive(Debug)]
pub(crate) enum RxError {
    /// The socket failed.
    Io(io::Error),
    /// The peer closed the connection; `mid_pdu` when part of a PDU had arrived.
    Eof {
        /// Bytes of an unfinished PDU were pending.
        mid_pdu: bool,
    },
    /// A fatal framing error: `term` is the encoded termination request to send before closing, if any.
    Fatal {
        /// The error.
        err: PduError,
        /// The TermReq bytes (nvme-proto's `Deframer::term_req`), ready to send.
        term: Option<Vec<u8>>,
    },
    /// A data digest error: the PDU was skipped, the connection goes on; only command `cccid` fails.
    DataDigest {
        /// The command the data belonged to.
        cccid: u16,
    },
}

impl std::fmt::Display for RxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RxError::Io(e) => write!(f, "socket error: {e}"),
            RxError::Eof { mid_pdu: true } => f.write_str("connection closed in the middle of a PDU"),
            RxError::Eof { mid_pdu: false } => f.write_str("connection closed"),
            RxError::Fatal { err, .. } => write!(f, "fatal PDU error: {err}"),
            RxError::DataDigest { cccid } => write!(f, "data digest error for command {cccid:#06x}"),
        }
    }
}

/// The receive side of a connection: a growable buffer in front of a [`Deframer`].
pub(crate) struct PduReader {
    rd: OwnedReadHalf,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Bytes of the PDU handed out last; dropped at the next call.
    pending: usize,
    deframer: Deframer,
    capture: Option<(ConnCapture, Direction)>,
}

impl PduReader {
    pub(crate) fn new(rd: OwnedReadHalf, deframer: Deframer, capture: Option<(ConnCapture, Direction)>) -> Self {
        PduReader { rd, buf: vec![0; READ_CHUNK], start: 0, end: 0, pending: 0, deframer, capture }
    }

    /// Installs the negotiated parameters (after the IC exchange).
    pub(crate) fn set_params(&mut self, params: Params) {
        self.deframer.set_params(params);
    }

    /// Waits for the next complete PDU and gives it to `f` with its raw bytes (both borrowed from the buffer; the
    /// bytes are dropped at the next call). Never buffers more than the deframer's PLEN ceiling plus one read.
    pub(crate) async fn next_with<R>(&mut self, f: impl FnOnce(Pdu<'_>, &[u8]) -> R) -> Result<R, RxError> {
        self.start += std::mem::take(&mut self.pending);
        loop {
            let avail = &self.buf[self.start..self.end];
            match self.deframer.decode(avail) {
                Ok(Decoded::Need(n)) => self.fill(n).await?,
                Ok(Decoded::Pdu { pdu, consumed }) => {
                    if let Some((cap, dir)) = &self.capture {
                        cap.record(*dir, &avail[..consumed]);
                    }
                    self.pending = consumed;
                    return Ok(f(pdu, &avail[..consumed]));
                }
                Err(err) => {
                    if let (Some(consumed), Some(cccid)) = (err.consumed(), err.cccid()) {
                        if let Some((cap, dir)) = &self.capture {
                            cap.record(*dir, &avail[..consumed.min(avail.len())]);
                        }
                        self.pending = consumed.min(avail.len());
                        return Err(RxError::DataDigest { cccid });
                    }
                    let term = self.deframer.term_req(&err, avail).and_then(|t| {
                        let mut v = vec![0u8; t.buffer_len()];
                        t.emit(&mut v).ok().map(|n| {
                            v.truncate(n);
                            v
                        })
                    });
                    return Err(RxError::Fatal { err, term });
                }
            }
        }
    }

    /// Reads at least one more byte, with room for `need` more.
    async fn fill(&mut self, need: usize) -> Result<(), RxError> {
        if self.buf.len() - self.end < need.max(1) {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            let want = self.end + need.max(READ_CHUNK);
            if self.buf.len() < want {
                self.buf.resize(want, 0);
            }
        }
        let n = self.rd.read(&mut self.buf[self.end..]).await.map_err(RxError::Io)?;
        if n == 0 {
            return Err(RxError::Eof { mid_pdu: self.end > self.start });
        }
        self.end += n;
        Ok(())
    }
}

enum TxMsg {
    Bytes(Vec<u8>),
    Close,
}

/// The send side of a connection: encoded PDUs go through a channel to a writer task, so synchronous code can
/// send. Cheap to clone. After [`close`](Tx::close) (or when every clone is dropped) the writer sends what is
/// queued, shuts the socket down for writing and ends.
#[derive(Clone)]
pub(crate) struct Tx {
    chan: mpsc::UnboundedSender<TxMsg>,
}

impl Tx {
    /// Starts the writer task for `wr`.
    pub(crate) fn spawn(mut wr: OwnedWriteHalf, capture: Option<(ConnCapture, Direction)>) -> Tx {
        let (chan, mut rx) = mpsc::unbounded_channel::<TxMsg>();
        tokio::spawn(async move {
            while let Some(msg) = rx.recv().await {
                match msg {
                    TxMsg::Bytes(b) => {
                        if wr.write_all(&b).await.is_err() {
                            break;
                        }
                        if let Some((cap, dir)) = &capture {
                            cap.record(*dir, &b);
                        }
                    }
                    TxMsg::Close => break,
                }
            }
            let _ = wr.shutdown().await;
        });
        Tx { chan }
    }

    /// Queues raw bytes (one or more encoded PDUs). False when the writer is gone.
    pub(crate) fn send_bytes(&self, bytes: Vec<u8>) -> bool {
        self.chan.send(TxMsg::Bytes(bytes)).is_ok()
    }

    /// Encodes `pdu` under `params` and queues it. False when the writer is gone or the PDU cannot be encoded.
    pub(crate) fn send(&self, pdu: &Pdu<'_>, params: &Params) -> bool {
        let mut v = vec![0u8; pdu.buffer_len(params)];
        match pdu.emit(params, &mut v) {
            Ok(n) => {
                v.truncate(n);
                self.send_bytes(v)
            }
            Err(_) => false,
        }
    }

    /// Sends what is queued, then shuts the socket down for writing.
    pub(crate) fn close(&self) {
        let _ = self.chan.send(TxMsg::Close);
    }
}

/// Splits a connected stream into its reader and writer, with the capture directions for `role`'s side.
pub(crate) fn split(
    stream: TcpStream,
    deframer: Deframer,
    capture: Option<&Capture>,
    host_side: bool,
) -> io::Result<(PduReader, Tx)> {
    stream.set_nodelay(true)?;
    let local = stream.local_addr()?;
    let peer = stream.peer_addr()?;
    let (host, ctrl) = if host_side { (local, peer) } else { (peer, local) };
    let cc = capture.map(|c| c.flow(host, ctrl));
    let (rx_dir, tx_dir) = if host_side {
        (Direction::ControllerToHost, Direction::HostToController)
    } else {
        (Direction::HostToController, Direction::ControllerToHost)
    };
    let (rd, wr) = stream.into_split();
    let reader = PduReader::new(rd, deframer, cc.clone().map(|c| (c, rx_dir)));
    let tx = Tx::spawn(wr, cc.map(|c| (c, tx_dir)));
    Ok((reader, tx))
}
