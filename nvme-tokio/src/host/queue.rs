//! One host queue: one TCP connection carrying the admin queue or one I/O queue (ICReq/ICResp, then capsules),
//! with its outstanding commands, in-capsule data, R2T/H2CData for writes and C2HData for reads.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use nvme_proto::cmd::{Cqe, SglDescriptor, Sqe, Status, StatusCode};
use nvme_proto::tcp::{
    CapsuleCmd, DEFAULT_MAX_PLEN, Deframer, H2CData, IcReq, InvalidField, Params, Pdu, PduError, Role, SequenceError,
    TermReq, check_in_window,
};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, oneshot};
use tokio::task::AbortHandle;

use super::HostError;
use crate::wire::{self, Capture, RxError, Tx};

/// What a completed command gives back.
#[derive(Clone, Debug)]
pub struct Completion {
    /// The completion queue entry (status, DW0, DW1, ...).
    pub cqe: Cqe,
    /// Data received by C2HData (reads, Identify, Get Log Page); empty otherwise.
    pub data: Vec<u8>,
}

impl Completion {
    /// The status of the completion.
    pub fn status(&self) -> Status {
        self.cqe.status
    }
}

/// The data of a command.
#[derive(Clone, Debug, Default)]
pub enum DataOut {
    /// No data.
    #[default]
    None,
    /// Controller-to-host data of this many bytes (read by C2HData).
    Read(usize),
    /// Host-to-controller data: in the capsule when it fits the queue's in-capsule size, else by R2T/H2CData.
    Write(Arc<[u8]>),
}

struct Pending {
    done: oneshot::Sender<Result<Completion, HostError>>,
    read: Vec<u8>,
    received: usize,
    write: Option<Arc<[u8]>>,
    write_sent: usize,
}

struct QState {
    pending: HashMap<u16, Pending>,
    free: Vec<u16>,
    closed: Option<HostError>,
}

/// Called once when the queue's connection is lost or fails.
pub(crate) type OnDown = Arc<dyn Fn(HostError) + Send + Sync>;

struct Shared {
    qid: u16,
    tx: Tx,
    params: Params,
    max_inline: usize,
    state: Mutex<QState>,
    permits: Semaphore,
    down: AtomicBool,
    on_down: OnDown,
    reader: Mutex<Option<AbortHandle>>,
}

/// A connected queue. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Queue {
    shared: Arc<Shared>,
}

/// How to open a queue.
pub(crate) struct QueueSetup<'a> {
    pub addr: SocketAddr,
    pub qid: u16,
    pub depth: u16,
    pub header_digest: bool,
    pub data_digest: bool,
    pub max_inline: usize,
    pub capture: Option<&'a Capture>,
    pub on_down: OnDown,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, QState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Queue {
    /// Connects, exchanges ICReq/ICResp and starts the receive task. The Fabrics Connect is the caller's first
    /// [`submit`](Queue::submit).
    pub(crate) async fn open(setup: QueueSetup<'_>) -> Result<(Queue, Params), HostError> {
        let stream = TcpStream::connect(setup.addr).await.map_err(HostError::io)?;
        let deframer = Deframer::new(Role::Host).with_max_plen(DEFAULT_MAX_PLEN);
        let (mut reader, tx) = wire::split(stream, deframer, setup.capture, true).map_err(HostError::io)?;
        let req = IcReq { hpda: 0, header_digest: setup.header_digest, data_digest: setup.data_digest, maxr2t: 0 };
        tx.send(&Pdu::IcReq(req), &Params::default());
        let resp = reader
            .next_with(|pdu, _| match pdu {
                Pdu::IcResp(r) => Ok(r),
                Pdu::TermReq(t) => Err(HostError::Protocol(format!("ICReq refused with {:?}, FEI {}", t.fes, t.fei))),
                other => Err(HostError::Protocol(format!("expected ICResp, got {}", other.pdu_type()))),
            })
            .await
            .map_err(HostError::rx)??;
        let params = Params::from_ic(&req, &resp).map_err(|e| HostError::Protocol(format!("bad ICResp: {e}")))?;
        reader.set_params(params);
        let depth = setup.depth.max(1);
        let shared = Arc::new(Shared {
            qid: setup.qid,
            tx,
            params,
            max_inline: setup.max_inline,
            state: Mutex::new(QState { pending: HashMap::new(), free: (0..depth).rev().collect(), closed: None }),
            permits: Semaphore::new(depth as usize),
            down: AtomicBool::new(false),
            on_down: setup.on_down,
            reader: Mutex::new(None),
        });
        let s2 = shared.clone();
        let task = tokio::spawn(async move {
            let err = loop {
                match reader.next_with(|pdu, raw| s2.on_pdu(pdu, raw)).await {
                    Ok(Ok(())) => {}
                    Ok(Err((err, term))) => {
                        if let Some(t) = term {
                            s2.tx.send_bytes(t);
                        }
                        break err;
                    }
                    Err(RxError::DataDigest { cccid }) => s2.finish(
                        cccid,
                        Ok(Completion {
                            cqe: Cqe::new(cccid, Status::new(StatusCode::TRANSIENT_TRANSPORT_ERROR)),
                            data: Vec::new(),
                        }),
                    ),
                    Err(RxError::Fatal { err, term }) => {
                        if let Some(t) = term {
                            s2.tx.send_bytes(t);
                        }
                        break HostError::Protocol(format!("received a bad PDU: {err}"));
                    }
                    Err(e) => break HostError::rx(e),
                }
            };
            s2.shut(err);
        });
        *shared.reader.lock().unwrap_or_else(|e| e.into_inner()) = Some(task.abort_handle());
        Ok((Queue { shared }, params))
    }

    /// Closes the connection; outstanding commands fail with `err`. Does not call the down callback.
    pub(crate) fn close(&self, err: HostError) {
        self.shared.down.store(true, Ordering::SeqCst);
        self.shared.shut(err);
    }

    /// Sends `sqe` (its CID is assigned here) with `data` and waits for the completion. Waits for a free slot when
    /// the queue is full.
    pub(crate) async fn submit(&self, mut sqe: Sqe, data: DataOut) -> Result<Completion, HostError> {
        let s = &self.shared;
        let permit = s.permits.acquire().await.map_err(|_| HostError::ConnectionLost)?;
        permit.forget();
        let (done, wait) = oneshot::channel();
        let bytes = {
            let mut st = s.lock();
            if let Some(e) = &st.closed {
                let e = e.clone();
                drop(st);
                s.permits.add_permits(1);
                return Err(e);
            }
            let Some(cid) = st.free.pop() else {
                drop(st);
                s.permits.add_permits(1);
                return Err(HostError::Protocol("no free command identifier".into()));
            };
            sqe.cid = cid;
            let mut pending = Pending { done, read: Vec::new(), received: 0, write: None, write_sent: 0 };
            let mut inline: &[u8] = &[];
            match &data {
                DataOut::None => {}
                DataOut::Read(n) => {
                    sqe.dptr = SglDescriptor::transport_data(*n as u32);
                    pending.read = vec![0; *n];
                }
                DataOut::Write(w) if w.len() <= s.max_inline => {
                    sqe.dptr = SglDescriptor::in_capsule(0, w.len() as u32);
                    inline = w;
                }
                DataOut::Write(w) => {
                    sqe.dptr = SglDescriptor::transport_data(w.len() as u32);
                    pending.write = Some(w.clone());
                }
            }
            let cmd = Pdu::CapsuleCmd(CapsuleCmd { sqe: sqe.to_bytes(), data: inline });
            let mut v = vec![0u8; cmd.buffer_len(&s.params)];
            let n = cmd.emit(&s.params, &mut v).map_err(|e| HostError::Protocol(format!("cannot encode: {e}")))?;
            v.truncate(n);
            st.pending.insert(cid, pending);
            v
        };
        s.tx.send_bytes(bytes);
        match wait.await {
            Ok(r) => r,
            Err(_) => Err(HostError::ConnectionLost),
        }
    }
}

type Fatal = (HostError, Option<Vec<u8>>);

fn fatal(err: PduError, raw: &[u8]) -> Fatal {
    let term = TermReq::for_error(Role::Host, &err, raw).and_then(|t| {
        let mut v = vec![0u8; t.buffer_len()];
        t.emit(&mut v).ok().map(|n| {
            v.truncate(n);
            v
        })
    });
    (HostError::Protocol(format!("peer broke the protocol: {err}")), term)
}

impl Shared {
    fn finish(&self, cid: u16, r: Result<Completion, HostError>) {
        let p = {
            let mut st = self.lock();
            let p = st.pending.remove(&cid);
            if p.is_some() {
                st.free.push(cid);
            }
            p
        };
        if let Some(p) = p {
            self.permits.add_permits(1);
            let _ = p.done.send(r);
        }
    }

    fn on_pdu(&self, pdu: Pdu<'_>, raw: &[u8]) -> Result<(), Fatal> {
        match pdu {
            Pdu::CapsuleResp(r) => {
                let cqe = Cqe::from_bytes(&r.cqe);
                let p = {
                    let mut st = self.lock();
                    let p = st.pending.remove(&cqe.cid);
                    if p.is_some() {
                        st.free.push(cqe.cid);
                    }
                    p
                };
                let Some(p) = p else { return Err(fatal(InvalidField::UnknownCccid(cqe.cid).into(), raw)) };
                self.permits.add_permits(1);
                let mut cqe = cqe;
                if cqe.status.is_success() && p.received != p.read.len() {
                    // Success without all the data it promised: the data is not trustworthy.
                    cqe.status = Status::new(StatusCode::DATA_TRANSFER_ERROR);
                }
                let _ = p.done.send(Ok(Completion { cqe, data: p.read }));
                Ok(())
            }
            Pdu::C2HData(d) => {
                let success = {
                    let mut st = self.lock();
                    let Some(p) = st.pending.get_mut(&d.cccid) else {
                        return Err(fatal(InvalidField::UnknownCccid(d.cccid).into(), raw));
                    };
                    if d.datao as usize != p.received {
                        let e = SequenceError::DataOffset { expected: p.received as u32, received: d.datao };
                        return Err(fatal(PduError::Sequence(e), raw));
                    }
                    check_in_window(d.datao, d.data.len() as u32, 0, p.read.len() as u32).map_err(|e| fatal(e, raw))?;
                    let at = p.received;
                    p.read[at..at + d.data.len()].copy_from_slice(d.data);
                    p.received += d.data.len();
                    if d.last != (p.received == p.read.len()) {
                        return Err(fatal(PduError::Sequence(SequenceError::LastPdu), raw));
                    }
                    d.success
                };
                if success {
                    // SUCCESS: no CapsuleResp follows; the completion is synthesised (nvme-tcp.md §8.3).
                    let p = {
                        let mut st = self.lock();
                        st.free.push(d.cccid);
                        st.pending.remove(&d.cccid)
                    };
                    if let Some(p) = p {
                        self.permits.add_permits(1);
                        let cqe = Cqe { sqid: self.qid, ..Cqe::new(d.cccid, Status::SUCCESS) };
                        let _ = p.done.send(Ok(Completion { cqe, data: p.read }));
                    }
                }
                Ok(())
            }
            Pdu::R2T(r) => {
                let (data, start) = {
                    let mut st = self.lock();
                    let Some(p) = st.pending.get_mut(&r.cccid) else {
                        return Err(fatal(InvalidField::UnknownCccid(r.cccid).into(), raw));
                    };
                    let Some(w) = p.write.clone() else {
                        return Err(fatal(InvalidField::UnknownCccid(r.cccid).into(), raw));
                    };
                    if r.r2to as usize != p.write_sent {
                        let e = SequenceError::DataOffset { expected: p.write_sent as u32, received: r.r2to };
                        return Err(fatal(PduError::Sequence(e), raw));
                    }
                    check_in_window(r.r2to, r.r2tl, 0, w.len() as u32).map_err(|e| fatal(e, raw))?;
                    p.write_sent += r.r2tl as usize;
                    (w, r.r2to as usize)
                };
                let end = start + r.r2tl as usize;
                let chunk = self.params.maxh2cdata.max(4096) as usize;
                let mut off = start;
                while off < end {
                    let n = chunk.min(end - off);
                    let h = H2CData {
                        cccid: r.cccid,
                        ttag: r.ttag,
                        datao: off as u32,
                        data: &data[off..off + n],
                        last: off + n == end,
                    };
                    self.tx.send(&Pdu::H2CData(h), &self.params);
                    off += n;
                }
                Ok(())
            }
            Pdu::TermReq(t) => Err((
                HostError::Protocol(format!("controller terminated the connection: {:?}, FEI {}", t.fes, t.fei)),
                None,
            )),
            other => Err(fatal(InvalidField::UnexpectedIc(other.pdu_type()).into(), raw)),
        }
    }

    /// The connection is gone: fail every outstanding command, stop the reader, tell the owner once.
    fn shut(&self, err: HostError) {
        let first = !self.down.swap(true, Ordering::SeqCst);
        let pending: Vec<Pending> = {
            let mut st = self.lock();
            if st.closed.is_none() {
                st.closed = Some(err.clone());
            }
            st.pending.drain().map(|(_, p)| p).collect()
        };
        for p in pending {
            let _ = p.done.send(Err(HostError::ConnectionLost));
        }
        self.permits.close();
        self.tx.close();
        if let Some(t) = self.reader.lock().unwrap_or_else(|e| e.into_inner()).take() {
            t.abort();
        }
        if first {
            (self.on_down)(err);
        }
    }
}
