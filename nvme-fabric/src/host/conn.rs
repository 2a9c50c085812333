//! The host end of one queue pair: ICReq/ICResp, CID allocation (at most the queue's depth), in-capsule data or
//! R2T/H2CData for writes, C2HData reassembly for reads, synthesised completions (C2HData SUCCESS), data digest
//! errors, command timeouts, and the termination request on every fatal error.
//!
//! Facts: [`nvme_proto::notes::tcp`] §6, §8.2 (host checks on R2T), §8.3 (C2HData rules), §9.3.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::sync::Arc;
use alloc::vec::Vec;

use nvme_ccr::Instant;
use nvme_proto::cmd::{Cqe, SglDescriptor, Sqe, Status, StatusCode};
use nvme_proto::tcp::{
    C2HData, IcReq, IcResp, InvalidField, Params, Pdu, PduError, R2T, Role, SequenceError, TermReq, check_in_window,
};

use crate::conn::{
    BufferTooShort, CloseCause, ConnUsage, PDU_OVERHEAD, Receiver, RxStep, SmallPdu, Transmitter, TxItem,
};

/// The data of a command.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DataOut {
    /// None.
    None,
    /// Controller-to-host data of this many bytes (C2HData), into a buffer the host allocates.
    Read(usize),
    /// Controller-to-host data into this caller's buffer: its length is the transfer; it comes back as the
    /// completion's [`IoDone::data`](crate::host::IoDone::data) (so a runtime can lend the same buffers again and
    /// again, with no allocation per read).
    ReadInto(Vec<u8>),
    /// Host-to-controller data: in the capsule when it fits the queue's in-capsule limit, else by R2T/H2CData.
    Write(Arc<[u8]>),
}

/// One outstanding command on a host queue.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct HostCmd {
    /// The owner's tag for it.
    pub(crate) tag: u64,
    /// Write data (kept until the completion: H2CData is sent from it).
    write: Option<Arc<[u8]>>,
    /// Bytes of write data requested by R2Ts so far (the next R2TO expected).
    r2t_next: u32,
    /// Read buffer and bytes received.
    read: Vec<u8>,
    received: usize,
    /// A data digest error hit its C2HData: it completes with Data Transfer Error.
    damaged: bool,
    /// When it times out (`None`: never, an AER).
    deadline: Option<Instant>,
    /// Its opcode (for failure reports).
    pub(crate) opcode: u8,
}

/// What a host connection's input means to its owner.
#[derive(Debug)]
pub(crate) enum HostInput {
    /// The ICResp arrived and was accepted: the queue is ready for its Connect.
    Ready,
    /// Command `tag` completed.
    Completed { tag: u64, cqe: Cqe, data: Vec<u8> },
    /// The connection must close (a TermReq, if any, is queued).
    Close(CloseCause),
}

/// The limits of one host queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct HostLimits {
    /// Commands outstanding at most (SQSIZE + 1).
    pub depth: u16,
    /// In-capsule data this queue may put in a capsule.
    pub in_capsule: usize,
    /// Largest data PDU we send, data bytes (what the transmit buffer holds; H2CData is also bounded by
    /// MAXH2CDATA, and sent as large as both allow).
    pub max_data_pdu: u32,
    /// PLEN ceiling for what we receive: the largest C2HData the controller may send us, plus overhead.
    pub max_rx_data: u32,
}

/// The host end of one queue pair.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct HostConn {
    pub(crate) rx: Receiver,
    pub(crate) q: HostQueue,
}

/// Everything of a host connection besides its receiver.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct HostQueue {
    pub(crate) tx: Transmitter,
    pub(crate) qid: u16,
    req: IcReq,
    /// Waiting for the ICResp until this instant.
    pub(crate) ic_deadline: Option<Instant>,
    pub(crate) limits: HostLimits,
    free: Vec<u16>,
    pub(crate) cmds: BTreeMap<u16, HostCmd>,
    /// (deadline, CID) of the commands that have one, earliest first (deadlines differ by command: a Keep Alive's
    /// is KATO, a CCR's the admin timeout).
    timeouts: BTreeSet<(Instant, u16)>,
    pub(crate) tx_armed: bool,
    pub(crate) closing: Option<CloseCause>,
}

impl HostConn {
    /// A connection for queue `qid` asking for `digests`; the ICReq is queued at once. It must be answered by
    /// `ic_deadline`.
    pub(crate) fn new(qid: u16, digests: (bool, bool), limits: HostLimits, ic_deadline: Instant) -> Self {
        let req = IcReq { hpda: 0, header_digest: digests.0, data_digest: digests.1, maxr2t: 0 };
        let mut tx = Transmitter::new();
        if let Some(p) = SmallPdu::ic_req(req) {
            tx.push(TxItem::Small(p));
        }
        HostConn {
            rx: Receiver::new(Role::Host, limits.max_rx_data.saturating_add(PDU_OVERHEAD as u32)),
            q: HostQueue {
                tx,
                qid,
                req,
                ic_deadline: Some(ic_deadline),
                limits,
                free: (0..limits.depth).rev().collect(),
                cmds: BTreeMap::new(),
                timeouts: BTreeSet::new(),
                tx_armed: false,
                closing: None,
            },
        }
    }

    /// What the connection holds now.
    pub(crate) fn usage(&self) -> ConnUsage {
        ConnUsage {
            output: self.q.tx.held(),
            reads: self.q.cmds.values().map(|c| c.read.len()).sum(),
            writes: self.q.cmds.values().filter_map(|c| c.write.as_ref()).map(|w| w.len()).sum(),
            receive: self.rx.allocated(),
            commands: self.q.cmds.len(),
            pool: 0,
        }
    }

    /// Takes input until one event for the owner, or until the input is used up. Returns the bytes consumed and
    /// the event, if any.
    pub(crate) fn read(&mut self, input: &[u8]) -> (usize, Option<HostInput>) {
        let mut consumed = 0;
        loop {
            if self.q.closing.is_some() {
                return (input.len(), None);
            }
            let mut negotiated = None;
            let q = &mut self.q;
            let ev = match self.rx.next(&input[consumed..]) {
                RxStep::Need { consumed: c } => return (consumed + c, None),
                RxStep::DataDigest { cccid, consumed: c, data } => {
                    consumed += c;
                    match data {
                        // A damaged C2HData: its place in the read is taken (the PDUs that follow stay in
                        // sequence) and the command completes with Data Transfer Error.
                        Some(d) => match q.c2h_segment(cccid, d.datao, d.datal, d.last, d.success, None) {
                            Ok(ev) => ev,
                            Err(err) => {
                                let t = TermReq::for_error(Role::Host, &err, &d.header);
                                if let Some(t) = t.and_then(|t| SmallPdu::term(&t)) {
                                    q.tx.push_term(t);
                                }
                                Some(HostInput::Close(CloseCause::protocol(&err)))
                            }
                        },
                        None => None,
                    }
                }
                RxStep::Fatal { err, term, consumed: c } => {
                    consumed += c;
                    if let Some(t) = term {
                        q.tx.push_term(t);
                    }
                    Some(HostInput::Close(CloseCause::protocol(&err)))
                }
                RxStep::Pdu { pdu, raw, consumed: c } => {
                    consumed += c;
                    let r = match pdu {
                        Pdu::IcResp(resp) => {
                            let r = q.ic_resp(resp);
                            negotiated = r.ok();
                            r.map(|_| Some(HostInput::Ready))
                        }
                        Pdu::TermReq(t) => {
                            Ok(Some(HostInput::Close(CloseCause::TermReceived { fes: t.fes, fei: t.fei })))
                        }
                        Pdu::CapsuleResp(r) => q.resp(Cqe::from_bytes(&r.cqe)),
                        Pdu::C2HData(d) => q.c2h(d),
                        Pdu::R2T(r) => q.r2t(r).map(|()| None),
                        // The deframer lets only controller-to-host types through.
                        _ => Ok(None),
                    };
                    match r {
                        Ok(ev) => ev,
                        Err(err) => {
                            let t = TermReq::for_error(Role::Host, &err, raw);
                            if let Some(t) = t.and_then(|t| SmallPdu::term(&t)) {
                                q.tx.push_term(t);
                            }
                            Some(HostInput::Close(CloseCause::protocol(&err)))
                        }
                    }
                }
            };
            if let Some(p) = negotiated {
                self.rx.set_params(p);
            }
            if ev.is_some() {
                return (consumed, ev);
            }
        }
    }
}

/// [`HostQueue::submit`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum QueueFull {
    /// Every CID is in use.
    Full,
}

impl HostQueue {
    /// Whether another command fits.
    pub(crate) fn has_room(&self) -> bool {
        !self.free.is_empty()
    }

    fn in_capsule_limit(&self, opcode: u8) -> usize {
        if opcode == nvme_proto::cmd::FABRICS_OPCODE {
            self.limits.in_capsule.max(super::ADMIN_IN_CAPSULE)
        } else {
            self.limits.in_capsule
        }
    }

    fn ic_resp(&mut self, resp: IcResp) -> Result<Params, PduError> {
        let params = Params::from_ic(&self.req, &resp)?;
        self.tx.set_params(params);
        self.ic_deadline = None;
        Ok(params)
    }

    /// Sends `sqe` (its CID and data pointer filled in here) with `data`; `tag` names it to the owner, `deadline`
    /// bounds it. Returns the CID.
    pub(crate) fn submit(
        &mut self,
        mut sqe: Sqe,
        data: DataOut,
        tag: u64,
        deadline: Option<Instant>,
    ) -> Result<u16, QueueFull> {
        let cid = self.free.pop().ok_or(QueueFull::Full)?;
        sqe.cid = cid;
        let mut cmd = HostCmd {
            tag,
            write: None,
            r2t_next: 0,
            read: Vec::new(),
            received: 0,
            damaged: false,
            deadline,
            opcode: sqe.opcode,
        };
        let mut inline = 0;
        match data {
            DataOut::None => {}
            DataOut::Read(n) => {
                sqe.dptr = SglDescriptor::transport_data(n as u32);
                cmd.read = alloc::vec![0; n];
            }
            DataOut::ReadInto(buf) => {
                sqe.dptr = SglDescriptor::transport_data(buf.len() as u32);
                cmd.read = buf;
            }
            // Fabrics commands (Connect, Authentication Send) carry up to the admin limit in the capsule on every
            // queue, as the Linux host sends them (NVME_TCP_ADMIN_CCSZ).
            DataOut::Write(w) if w.len() <= self.in_capsule_limit(sqe.opcode) && !w.is_empty() => {
                sqe.dptr = SglDescriptor::in_capsule(0, w.len() as u32);
                inline = w.len();
                cmd.write = Some(w);
            }
            DataOut::Write(w) => {
                sqe.dptr = SglDescriptor::transport_data(w.len() as u32);
                cmd.write = Some(w);
            }
        }
        self.cmds.insert(cid, cmd);
        if let Some(d) = deadline {
            self.timeouts.insert((d, cid));
        }
        self.tx.push_capsule(sqe.to_bytes(), inline);
        Ok(cid)
    }

    /// Encodes queued PDUs into `buf`; in-capsule and H2CData data come from the commands' write data.
    pub(crate) fn poll_transmit(&mut self, buf: &mut [u8]) -> Result<usize, BufferTooShort> {
        let cmds = &self.cmds;
        self.tx.poll(buf, |cid| cmds.get(&cid).and_then(|c| c.write.as_deref()))
    }

    fn finish(&mut self, cid: u16) -> Option<HostCmd> {
        let cmd = self.cmds.remove(&cid)?;
        if let Some(d) = cmd.deadline {
            self.timeouts.remove(&(d, cid));
        }
        self.free.push(cid);
        self.tx.forget_command(cid);
        Some(cmd)
    }

    fn resp(&mut self, mut cqe: Cqe) -> Result<Option<HostInput>, PduError> {
        let Some(cmd) = self.finish(cqe.cid) else {
            return Err(InvalidField::UnknownCccid(cqe.cid).into());
        };
        if cqe.status.is_success() && cmd.received != cmd.read.len() {
            // Success without all the data it promised: the data cannot be trusted.
            cqe.status = Status::new(StatusCode::DATA_TRANSFER_ERROR);
        }
        if cmd.damaged {
            // A data digest error in its C2HData: as the Linux host, Data Transfer Error.
            cqe.status = Status::new(StatusCode::DATA_TRANSFER_ERROR);
        }
        Ok(Some(HostInput::Completed { tag: cmd.tag, cqe, data: cmd.read }))
    }

    fn c2h(&mut self, d: C2HData<'_>) -> Result<Option<HostInput>, PduError> {
        self.c2h_segment(d.cccid, d.datao, d.data.len() as u32, d.last, d.success, Some(d.data))
    }

    /// `len` bytes of read data at `datao` for command `cccid`; `data` is `None` when the PDU's data digest failed
    /// (the command then completes with Data Transfer Error).
    fn c2h_segment(
        &mut self,
        cccid: u16,
        datao: u32,
        len: u32,
        last: bool,
        success: bool,
        data: Option<&[u8]>,
    ) -> Result<Option<HostInput>, PduError> {
        let Some(cmd) = self.cmds.get_mut(&cccid) else {
            return Err(InvalidField::UnknownCccid(cccid).into());
        };
        if datao as usize != cmd.received {
            let e = SequenceError::DataOffset { expected: cmd.received as u32, received: datao };
            return Err(PduError::Sequence(e));
        }
        check_in_window(datao, len, 0, cmd.read.len() as u32)?;
        let at = cmd.received;
        match data {
            Some(d) => cmd.read[at..at + d.len()].copy_from_slice(d),
            None => cmd.damaged = true,
        }
        cmd.received += len as usize;
        if last != (cmd.received == cmd.read.len()) {
            return Err(PduError::Sequence(SequenceError::LastPdu));
        }
        if !success {
            return Ok(None);
        }
        // SUCCESS: no CapsuleResp follows; the completion is synthesised (nvme_proto::notes::tcp §8.3).
        let cqe = Cqe { sqid: self.qid, ..Cqe::new(cccid, Status::SUCCESS) };
        self.resp(cqe)
    }

    fn r2t(&mut self, r: R2T) -> Result<(), PduError> {
        let seg = self.limits.max_data_pdu.min(self.tx.params().maxh2cdata).max(1);
        let Some(cmd) = self.cmds.get_mut(&r.cccid) else {
            return Err(InvalidField::UnknownCccid(r.cccid).into());
        };
        let Some(w) = &cmd.write else {
            return Err(InvalidField::UnknownCccid(r.cccid).into());
        };
        if r.r2to != cmd.r2t_next {
            return Err(PduError::Sequence(SequenceError::DataOffset { expected: cmd.r2t_next, received: r.r2to }));
        }
        check_in_window(r.r2to, r.r2tl, 0, w.len() as u32)?;
        cmd.r2t_next += r.r2tl;
        self.tx.push(TxItem::H2C { cid: r.cccid, ttag: r.ttag, next: r.r2to, end: r.r2to + r.r2tl, seg });
        Ok(())
    }

    /// The earliest deadline of an outstanding command, or of the IC exchange.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let cmd = self.timeouts.first().map(|&(d, _)| d);
        match (cmd, self.ic_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The command whose deadline passed at `now`, if any (its opcode, for the report).
    pub(crate) fn timed_out(&self, now: Instant) -> Option<u8> {
        match self.timeouts.first() {
            Some(&(d, cid)) if d <= now => self.cmds.get(&cid).map(|c| c.opcode),
            _ => None,
        }
    }

    /// Fails every outstanding command (the connection is gone): their tags.
    pub(crate) fn drain(&mut self) -> Vec<u64> {
        let tags = self.cmds.values().map(|c| c.tag).collect();
        self.cmds.clear();
        self.timeouts.clear();
        self.free = (0..self.limits.depth).rev().collect();
        tags
    }
}
