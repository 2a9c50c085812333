//! The controller end of one queue pair: the IC exchange, command slots (at most SQSIZE), in-capsule data limits,
//! R2T/H2CData reassembly with a transfer-tag pool, data digest errors, and the termination request on every fatal
//! error. It knows nothing of NVMe commands: it hands each accepted command, and each write whose data is
//! complete, to the [`Subsystem`](super::Subsystem) and sends what the subsystem answers.
//!
//! Facts: [`nvme_proto::notes::tcp`] §6 (IC), §8.1 (in-capsule limits), §8.2 (R2T/H2CData and their checks), §9.1.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use core::time::Duration;

use nvme_ccr::Instant;
use nvme_proto::cmd::{Cqe, Sqe, Status, StatusCode};
use nvme_proto::tcp::{
    CapsuleResp, H2CData, IcReq, InvalidField, Params, Pdu, PduError, R2T, Role, SequenceError, TermReq,
    check_in_window,
};

use super::pool::BufPool;
use crate::auth::ControllerExchange;
use crate::conn::{CloseCause, PDU_OVERHEAD, Receiver, RxStep, SmallPdu, Transmitter, TxItem};

/// Where a controller connection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Phase {
    /// Waiting for the ICReq.
    AwaitIc,
    /// IC done; the first command must be a Fabrics Connect.
    AwaitConnect,
    /// The admin queue of controller `cntlid`.
    Admin(u16),
    /// I/O queue `qid` of controller `cntlid`.
    Io(u16, u16),
}

/// One outstanding command.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Slot {
    /// The subsystem is serving it (media, an AER or a CCR waiting, ...).
    Busy,
    /// A write waiting for room in the write-data budget before its R2T goes out.
    AwaitR2T {
        /// First logical block of the write.
        slba: u64,
        /// Bytes to transfer.
        len: u32,
    },
    /// R2T sent: receiving H2CData into `buf`.
    Receiving {
        /// First logical block of the write.
        slba: u64,
        /// The transfer tag of the R2T.
        ttag: u16,
        /// The command's data buffer (its length is the transfer length).
        buf: Vec<u8>,
        /// Bytes received so far (the next DATAO expected).
        received: u32,
        /// A data digest error hit this transfer: its data is dropped and the command fails with 0x22 once the
        /// last H2CData arrives.
        failed: bool,
    },
}

/// What a connection's input means to the subsystem.
#[derive(Debug)]
pub(crate) enum Input {
    /// A command arrived and holds a slot; its in-capsule data (possibly none) is given.
    Command { sqe: Sqe, data: Vec<u8> },
    /// The R2T transfer of write `cid` (to `slba`) is complete: its data.
    WriteData { cid: u16, slba: u64, data: Vec<u8> },
    /// The connection must close for this cause (a TermReq, if any, is queued).
    Close(CloseCause),
}

/// The limits one connection enforces, from the subsystem's configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ConnLimits {
    /// MAXH2CDATA announced in the ICResp.
    pub maxh2cdata: u32,
    /// In-capsule data allowed on the admin queue (and in Fabrics commands): 8 KiB.
    pub admin_in_capsule: u32,
    /// In-capsule data allowed on an I/O queue: IOCCSZ × 16 − 64.
    pub io_in_capsule: u32,
    /// Largest C2HData PDU we send (data bytes).
    pub max_data_pdu: usize,
    /// The largest transfer of one command (4 KiB × 2^MDTS): the largest data buffer the pool keeps.
    pub max_transfer: usize,
    /// The output bound per connection: the idle bytes the pool keeps at most.
    pub output_limit: usize,
}

/// A pool of transfer tags: TTAG values 0..n, handed out and returned in O(1). Its size is queue depth ×
/// R2Ts per command, so a peer can never make a search for a free tag run on.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct TagPool {
    free: Vec<u16>,
}

impl TagPool {
    fn new(n: usize) -> Self {
        TagPool { free: (0..n.min(usize::from(u16::MAX) + 1) as u32).rev().map(|t| t as u16).collect() }
    }
    fn take(&mut self) -> Option<u16> {
        self.free.pop()
    }
    fn put(&mut self, t: u16) {
        self.free.push(t);
    }
}

/// R2Ts our controller keeps outstanding per command: one, covering the whole transfer (as Linux nvmet). The
/// transfer-tag pool is queue depth × min(MAXR2T + 1, this).
pub const R2TS_PER_COMMAND: u32 = 1;

/// The controller end of one queue pair: the receiver, and everything else in [`Queue`] (kept apart so that a PDU
/// borrowed from the receive buffer can be handled while the rest of the state changes).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct CtrlConn {
    pub(crate) rx: Receiver,
    pub(crate) q: Queue,
}

/// The state of a controller connection besides its receiver.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Queue {
    pub(crate) tx: Transmitter,
    pub(crate) phase: Phase,
    pub(crate) limits: ConnLimits,
    /// IC or Connect timeout.
    pub(crate) deadline: Option<Instant>,
    /// Commands allowed outstanding: 1 until Connect, then SQSIZE + 1.
    pub(crate) depth: u16,
    pub(crate) slots: BTreeMap<u16, Slot>,
    tags: TagPool,
    /// TTAG -> CID of the transfer.
    xfers: BTreeMap<u16, u16>,
    /// Writes waiting for room in the write budget, in arrival order.
    r2t_wait: VecDeque<u16>,
    /// Bytes of write buffers receiving data or waiting for the media.
    pub(crate) write_pinned: usize,
    /// What the reads the media is filling will hold once queued ([`Queue::read_cost`] each).
    pub(crate) read_pinned: usize,
    /// A Transmit event is pending (raised, not yet polled empty).
    pub(crate) tx_armed: bool,
    /// Input was refused because the output was over its bound.
    pub(crate) blocked: bool,
    /// Frozen by a fault: nothing is processed or sent.
    pub(crate) frozen: bool,
    /// Ending: no input is processed; what is queued (a TermReq) still goes out.
    pub(crate) closing: Option<CloseCause>,
    /// In-band authentication of this queue (its controller's host has a key): the current transaction. `None`:
    /// the queue needs none.
    pub(crate) auth: Option<Box<ControllerExchange>>,
    /// A transaction authenticated the queue. It stays so while a re-authentication runs; a failed one closes the
    /// connection.
    pub(crate) authenticated: bool,
    /// The connection's data buffers, reused (`pool.rs`; bounded from the Connect on).
    pub(crate) pool: BufPool,
}

impl CtrlConn {
    /// A fresh connection: waiting for an ICReq until `deadline`.
    pub(crate) fn new(limits: ConnLimits, deadline: Instant) -> Self {
        // Before Connect only an ICReq and a Connect (1024 bytes in the capsule, at most the admin limit) may come.
        let ceiling = limits.admin_in_capsule as usize + PDU_OVERHEAD;
        CtrlConn {
            rx: Receiver::new(Role::Controller, ceiling as u32),
            q: Queue {
                tx: Transmitter::new(),
                phase: Phase::AwaitIc,
                limits,
                deadline: Some(deadline),
                depth: 1,
                slots: BTreeMap::new(),
                tags: TagPool::new(0),
                xfers: BTreeMap::new(),
                r2t_wait: VecDeque::new(),
                write_pinned: 0,
                read_pinned: 0,
                tx_armed: false,
                blocked: false,
                frozen: false,
                closing: None,
                auth: None,
                authenticated: false,
                pool: BufPool::default(),
            },
        }
    }

    /// The Connect succeeded: this is queue `qid` of `cntlid`, with `sqsize` (0's based) commands.
    pub(crate) fn connected(&mut self, cntlid: u16, qid: u16, sqsize: u16) {
        let q = &mut self.q;
        q.phase = if qid == 0 { Phase::Admin(cntlid) } else { Phase::Io(cntlid, qid) };
        q.deadline = None;
        q.depth = sqsize.saturating_add(1);
        let maxr2t = q.tx.params().maxr2t;
        let per_cmd = maxr2t.saturating_add(1).min(R2TS_PER_COMMAND) as usize;
        q.tags = TagPool::new(usize::from(q.depth) * per_cmd);
        // Data buffers: queue depth of them, each at most the largest transfer (or in-capsule write), output_limit
        // bytes in all.
        let depth = usize::from(q.depth);
        let largest = q.limits.max_transfer.max(q.limits.io_in_capsule as usize);
        q.pool.set_bound(depth, largest, depth.saturating_mul(largest).min(q.limits.output_limit));
        let in_capsule = if qid == 0 { q.limits.admin_in_capsule } else { q.limits.io_in_capsule };
        // The largest PDU this queue may receive: a capsule with the most in-capsule data (a Fabrics command's on
        // every queue: the admin limit), or (I/O queues, where we send R2Ts) an H2CData of MAXH2CDATA.
        let data =
            if qid == 0 { in_capsule } else { in_capsule.max(q.limits.maxh2cdata).max(q.limits.admin_in_capsule) };
        self.rx.set_max_plen(data.saturating_add(PDU_OVERHEAD as u32));
    }

    /// Takes input until one event for the subsystem, or until the input is used up. Returns the bytes consumed
    /// and the event, if any.
    pub(crate) fn read(&mut self, now: Instant, input: &[u8], connect_timeout: Duration) -> (usize, Option<Input>) {
        let mut consumed = 0;
        loop {
            if self.q.closing.is_some() || self.q.frozen {
                return (consumed, None);
            }
            let q = &mut self.q;
            let ev = match self.rx.next(&input[consumed..]) {
                RxStep::Need { consumed: c } => return (consumed + c, None),
                RxStep::DataDigest { cccid, consumed: c, data } => {
                    consumed += c;
                    match data {
                        // A damaged H2CData: its place in the transfer is taken; the write fails with 0x22 once its
                        // last PDU is in. Out of sequence, it is as fatal as an undamaged one.
                        Some(d) => match q.h2c_segment(cccid, d.ttag, d.datao, d.datal, d.last, None) {
                            Ok(ev) => ev,
                            Err(err) => {
                                let t = TermReq::for_error(Role::Controller, &err, &d.header);
                                if let Some(t) = t.and_then(|t| SmallPdu::term(&t)) {
                                    q.tx.push_term(t);
                                }
                                Some(Input::Close(CloseCause::protocol(&err)))
                            }
                        },
                        None => {
                            q.data_digest_error(cccid);
                            None
                        }
                    }
                }
                RxStep::Fatal { err, term, consumed: c } => {
                    consumed += c;
                    if let Some(t) = term {
                        q.tx.push_term(t);
                    }
                    Some(Input::Close(CloseCause::protocol(&err)))
                }
                RxStep::Pdu { pdu, raw, consumed: c } => {
                    consumed += c;
                    match pdu {
                        Pdu::IcReq(req) => {
                            let r = q.ic_req(req);
                            if let Ok(p) = r {
                                self.rx.set_params(p);
                                q.phase = Phase::AwaitConnect;
                                q.deadline = Some(now + connect_timeout);
                            }
                            r.err()
                        }
                        Pdu::TermReq(t) => Some(Input::Close(CloseCause::TermReceived { fes: t.fes, fei: t.fei })),
                        Pdu::CapsuleCmd(c) => q.capsule(c.sqe, c.data, raw),
                        Pdu::H2CData(d) => match q.h2c(d) {
                            Ok(ev) => ev,
                            Err(err) => {
                                let t = TermReq::for_error(Role::Controller, &err, raw);
                                if let Some(t) = t.and_then(|t| SmallPdu::term(&t)) {
                                    q.tx.push_term(t);
                                }
                                Some(Input::Close(CloseCause::protocol(&err)))
                            }
                        },
                        // The deframer lets only host-to-controller types through.
                        _ => None,
                    }
                }
            };
            if ev.is_some() {
                return (consumed, ev);
            }
        }
    }
}

impl Queue {
    /// Whether the queue may carry commands other than Fabrics commands: it needs no authentication, or passed it.
    pub(crate) fn auth_ok(&self) -> bool {
        self.auth.is_none() || self.authenticated
    }

    /// The deadline of the queue's authentication step, while a transaction runs.
    pub(crate) fn auth_deadline(&self) -> Option<Instant> {
        self.auth.as_ref().and_then(|a| a.poll_timeout())
    }

    /// The queue's SQID (0 for the admin queue and before Connect).
    pub(crate) fn sqid(&self) -> u16 {
        match self.phase {
            Phase::Io(_, q) => q,
            _ => 0,
        }
    }

    /// The controller this connection belongs to.
    pub(crate) fn cntlid(&self) -> Option<u16> {
        match self.phase {
            Phase::Admin(c) | Phase::Io(c, _) => Some(c),
            _ => None,
        }
    }

    /// Answers an ICReq: digests as asked, CPDA 0, HPDA and MAXR2T as asked, our MAXH2CDATA.
    fn ic_req(&mut self, req: IcReq) -> Result<Params, Input> {
        let grant = Params {
            header_digest: req.header_digest,
            data_digest: req.data_digest,
            hpda: req.hpda,
            cpda: 0,
            maxr2t: req.maxr2t,
            maxh2cdata: self.limits.maxh2cdata,
        };
        match Params::from_ic(&req, &grant.ic_resp()) {
            Ok(p) => {
                if let Some(resp) = SmallPdu::ic_resp(p.ic_resp()) {
                    self.tx.push(TxItem::Small(resp));
                }
                self.tx.set_params(p);
                Ok(p)
            }
            Err(err) => {
                if let Some(t) = TermReq::for_error(Role::Controller, &err, &[]).and_then(|t| SmallPdu::term(&t)) {
                    self.tx.push_term(t);
                }
                Err(Input::Close(CloseCause::protocol(&err)))
            }
        }
    }

    /// A CapsuleCmd: the command takes a slot, or is answered at once (CID conflict, in-capsule data over the
    /// queue's limit), or the connection closes (more commands than SQSIZE).
    fn capsule(&mut self, sqe_bytes: [u8; 64], data: &[u8], raw: &[u8]) -> Option<Input> {
        let sqe = Sqe::from_bytes(&sqe_bytes);
        if self.slots.contains_key(&sqe.cid) {
            // The CID of a command still outstanding: Command ID Conflict (generic SC 0x03). The slot stays the
            // outstanding command's: it is answered when it completes.
            let st = Status::new(StatusCode::COMMAND_ID_CONFLICT).with_dnr(true);
            let cqe = Cqe { sqid: self.sqid(), ..Cqe::new(sqe.cid, st) };
            self.tx.push_pdu(&Pdu::CapsuleResp(CapsuleResp { cqe: cqe.to_bytes() }));
            return None;
        }
        if self.slots.len() >= usize::from(self.depth) {
            // No FES names "too many commands"; PDU Sequence Error (FEI 0) is the nearest, with the offending
            // header copied. Linux nvmet closes such a queue without a word.
            let t = TermReq {
                sender: Role::Controller,
                fes: nvme_proto::tcp::Fes::PDU_SEQUENCE_ERROR,
                fei: 0,
                data: &raw[..raw.len().min(nvme_proto::tcp::CAPSULE_CMD_HLEN)],
            };
            if let Some(t) = SmallPdu::term(&t) {
                self.tx.push_term(t);
            }
            return Some(Input::Close(CloseCause::QueueOverflow));
        }
        // Fabrics commands (Connect, Authentication Send) may carry the admin queue's in-capsule data on every
        // queue, as the Linux host sends them (NVME_TCP_ADMIN_CCSZ for any Fabrics command).
        let limit = match self.phase {
            Phase::Io(..) if sqe.opcode != nvme_proto::cmd::FABRICS_OPCODE => self.limits.io_in_capsule,
            _ => self.limits.admin_in_capsule,
        };
        if data.len() > limit as usize {
            // Linux nvmet: in-capsule data beyond the queue's limit -> SGL Offset Invalid + DNR.
            let cqe = Cqe {
                sqid: self.sqid(),
                ..Cqe::new(sqe.cid, Status::new(StatusCode::SGL_OFFSET_INVALID).with_dnr(true))
            };
            self.tx.push_pdu(&Pdu::CapsuleResp(CapsuleResp { cqe: cqe.to_bytes() }));
            return None;
        }
        self.slots.insert(sqe.cid, Slot::Busy);
        let buf = if data.is_empty() {
            Vec::new()
        } else {
            let mut b = self.pool.take(data.len());
            b.copy_from_slice(data);
            b
        };
        Some(Input::Command { sqe, data: buf })
    }

    /// One H2CData PDU (nvme_proto::notes::tcp §8.2 item 4).
    fn h2c(&mut self, d: H2CData<'_>) -> Result<Option<Input>, PduError> {
        self.h2c_segment(d.cccid, d.ttag, d.datao, d.data.len() as u32, d.last, Some(d.data))
    }

    /// One segment of an R2T transfer: `len` bytes at `datao` of command `cccid` under `ttag`; `data` is `None` when
    /// the PDU's data digest failed (the segment is taken, the write fails with 0x22 once complete).
    fn h2c_segment(
        &mut self,
        cccid: u16,
        ttag: u16,
        datao: u32,
        len: u32,
        last: bool,
        data: Option<&[u8]>,
    ) -> Result<Option<Input>, PduError> {
        let Some(&cid) = self.xfers.get(&ttag) else {
            return Err(InvalidField::UnknownTtag(ttag).into());
        };
        if cid != cccid {
            return Err(InvalidField::UnknownCccid(cccid).into());
        }
        let Some(Slot::Receiving { buf, received, failed, ttag, .. }) = self.slots.get_mut(&cid) else {
            return Err(InvalidField::UnknownTtag(ttag).into());
        };
        if datao != *received {
            return Err(PduError::Sequence(SequenceError::DataOffset { expected: *received, received: datao }));
        }
        check_in_window(datao, len, 0, buf.len() as u32)?;
        let at = *received as usize;
        match data {
            Some(d) => buf[at..at + d.len()].copy_from_slice(d),
            None => *failed = true,
        }
        *received += len;
        let complete = *received as usize == buf.len();
        if last != complete {
            return Err(PduError::Sequence(SequenceError::LastPdu));
        }
        if !complete {
            return Ok(None);
        }
        let (ttag, failed) = (*ttag, *failed);
        let Some(Slot::Receiving { buf, slba, .. }) = self.slots.insert(cid, Slot::Busy) else { return Ok(None) };
        self.xfers.remove(&ttag);
        self.tags.put(ttag);
        if failed {
            self.write_pinned -= buf.len().min(self.write_pinned);
            self.pool.put(buf);
            self.respond(cid, Status::new(StatusCode::TRANSIENT_TRANSPORT_ERROR), 0);
            return Ok(None);
        }
        Ok(Some(Input::WriteData { cid, slba, data: buf }))
    }

    /// A data digest error on command `cccid`'s CapsuleCmd: it fails with Transient Transport Error (0x22) and the
    /// stream goes on (nvme_proto::notes::tcp §5.4). (A damaged H2CData is [`Queue::h2c_segment`]'s.)
    fn data_digest_error(&mut self, cccid: u16) {
        match self.slots.get(&cccid) {
            // The CID of a command still outstanding: the damaged capsule is a CID conflict as well; the command
            // that holds the slot is not touched.
            Some(_) => {
                let st = Status::new(StatusCode::COMMAND_ID_CONFLICT).with_dnr(true);
                let cqe = Cqe { sqid: self.sqid(), ..Cqe::new(cccid, st) };
                self.tx.push_pdu(&Pdu::CapsuleResp(CapsuleResp { cqe: cqe.to_bytes() }));
            }
            // A CapsuleCmd whose in-capsule data was damaged: the command never took a slot.
            None => {
                let cqe =
                    Cqe { sqid: self.sqid(), ..Cqe::new(cccid, Status::new(StatusCode::TRANSIENT_TRANSPORT_ERROR)) };
                self.tx.push_pdu(&Pdu::CapsuleResp(CapsuleResp { cqe: cqe.to_bytes() }));
            }
        }
    }

    /// Sends the completion of `cid` and frees its slot.
    pub(crate) fn respond(&mut self, cid: u16, status: Status, dw0: u32) {
        self.respond_cqe(Cqe { dw0, ..Cqe::new(cid, status) });
    }

    /// Sends `cqe` (its SQID filled in) and frees the slot of its CID.
    pub(crate) fn respond_cqe(&mut self, mut cqe: Cqe) {
        cqe.sqid = self.sqid();
        self.slots.remove(&cqe.cid);
        self.tx.push_pdu(&Pdu::CapsuleResp(CapsuleResp { cqe: cqe.to_bytes() }));
    }

    /// Sends `data` (C2HData PDUs) then a successful completion of `cid`.
    pub(crate) fn respond_data(&mut self, cid: u16, data: Vec<u8>, dw0: u32) {
        if !data.is_empty() {
            let seg = self.limits.max_data_pdu.max(1);
            self.tx.push(TxItem::C2H { cid, data, sent: 0, seg });
        }
        self.respond(cid, Status::SUCCESS, dw0);
    }

    /// Write `cid` needs `len` bytes of data by R2T: sent now if the write budget `limit` has room (or nothing
    /// else is pinned), else queued until a transfer completes.
    pub(crate) fn request_data(&mut self, cid: u16, slba: u64, len: u32, limit: usize) {
        self.slots.insert(cid, Slot::AwaitR2T { slba, len });
        self.r2t_wait.push_back(cid);
        self.pump_r2t(limit);
    }

    /// Sends R2Ts for waiting writes while the write budget allows (always at least one transfer in flight).
    pub(crate) fn pump_r2t(&mut self, limit: usize) {
        while let Some(&cid) = self.r2t_wait.front() {
            let Some(&Slot::AwaitR2T { slba, len }) = self.slots.get(&cid) else {
                self.r2t_wait.pop_front();
                continue;
            };
            if self.write_pinned > 0 && self.write_pinned + len as usize > limit {
                return;
            }
            let Some(ttag) = self.tags.take() else { return };
            self.r2t_wait.pop_front();
            self.write_pinned += len as usize;
            self.xfers.insert(ttag, cid);
            // Every byte is written by the H2CData PDUs before the data is used.
            let buf = self.pool.take(len as usize);
            self.slots.insert(cid, Slot::Receiving { slba, ttag, buf, received: 0, failed: false });
            self.tx.push_pdu(&Pdu::R2T(R2T { cccid: cid, ttag, r2to: 0, r2tl: len }));
        }
    }

    /// What a read of `len` bytes holds once its data is queued: the data, the headers of its C2HData PDUs and of
    /// its CapsuleResp, and their two transmit-queue slots. Counted from the start, so that backpressure sees it
    /// while the media is still filling the buffer.
    pub(crate) fn read_cost(&self, len: usize) -> usize {
        let pdus = len.div_ceil(self.limits.max_data_pdu.max(1)) + 1;
        len + pdus * PDU_OVERHEAD + 2 * core::mem::size_of::<TxItem>()
    }

    /// Bytes of output this connection holds or will send: the transmit queue (its bytes and its bookkeeping) and
    /// the read buffers being filled.
    pub(crate) fn output_load(&self) -> usize {
        self.tx.held() + self.read_pinned
    }

    /// Whether this connection holds more than `limit` (output, or write data): it then reads no new input. R2T
    /// transfers alone never pass the limit ([`Queue::pump_r2t`]); in-capsule writes waiting for the media can, and
    /// the media's progress brings them back under it without any input.
    pub(crate) fn over_limit(&self, limit: usize) -> bool {
        self.output_load() > limit || self.write_pinned > limit
    }

    /// Releases the write budget of a write whose data went to the media (or was dropped).
    pub(crate) fn unpin_write(&mut self, len: usize, limit: usize) {
        self.write_pinned -= len.min(self.write_pinned);
        self.pump_r2t(limit);
    }

    /// Drops every slot and transfer (the connection or its controller is gone).
    pub(crate) fn clear(&mut self) {
        self.slots.clear();
        self.xfers.clear();
        self.r2t_wait.clear();
        self.write_pinned = 0;
        self.read_pinned = 0;
    }
}
