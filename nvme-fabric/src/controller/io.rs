//! I/O commands (Read, Write, Flush), the media operations they become, and the faults that fire on them.

use alloc::vec::Vec;

use nvme_ccr::Instant;
use nvme_proto::cmd::{IoCommand, IoOpcode, NSID_BROADCAST, ReadWrite, Sqe, Status, StatusCode};

use super::admin::{dnr, flags_ok};
use super::{
    ControllerFailure, Event, FaultAction, MediaError, MediaId, MediaKind, MediaOp, MediaState, NSID, Subsystem,
};
use crate::conn::{ConnEvent, ConnId};

impl Subsystem {
    /// An I/O command: checked (queue, namespace, LBA range, transfer length and data) before it reaches the media.
    pub(super) fn io(&mut self, now: Instant, conn: ConnId, cntlid: u16, sqe: &Sqe, data: Vec<u8>) {
        let cid = sqe.cid;
        let cmd = match IoCommand::parse(sqe) {
            Ok(c) => c,
            Err(_) => return self.respond(conn, cid, dnr(StatusCode::INVALID_FIELD), 0),
        };
        if let IoCommand::Fabrics(_) = cmd {
            return self.respond(conn, cid, dnr(StatusCode::COMMAND_SEQUENCE_ERROR), 0);
        }
        if !flags_ok(sqe) {
            return self.respond(conn, cid, dnr(StatusCode::INVALID_FIELD), 0);
        }
        let ns = self.cfg.namespace;
        let max_transfer = self.cfg.max_transfer();
        let checks = |rw: &ReadWrite| -> Result<usize, Status> {
            if rw.nsid != NSID {
                return Err(dnr(StatusCode::INVALID_NAMESPACE_OR_FORMAT));
            }
            let end = rw.slba.checked_add(u64::from(rw.blocks()));
            if end.is_none_or(|e| e > ns.blocks) {
                return Err(dnr(StatusCode::LBA_OUT_OF_RANGE));
            }
            let len = rw.blocks() as usize * ns.block_size as usize;
            if len > max_transfer {
                return Err(dnr(StatusCode::INVALID_FIELD));
            }
            if rw.dptr.length as usize != len {
                return Err(dnr(StatusCode::DATA_SGL_LENGTH_INVALID));
            }
            Ok(len)
        };
        match cmd {
            IoCommand::Read(rw) => match checks(&rw) {
                Ok(_) if !data.is_empty() || !rw.dptr.is_transport_data() => {
                    self.respond(conn, cid, dnr(StatusCode::INVALID_FIELD), 0)
                }
                Ok(len) => {
                    // The runtime fills the whole buffer (a pooled one holds an earlier read's data until then).
                    let buf = match self.conns.get_mut(&conn) {
                        Some(c) => c.q.pool.take(len),
                        None => alloc::vec![0; len],
                    };
                    self.execute(now, conn, cntlid, cid, MediaKind::Read, rw.slba, len, buf)
                }
                Err(st) => self.respond(conn, cid, st, 0),
            },
            IoCommand::Write(rw) => match checks(&rw) {
                Err(st) => self.respond(conn, cid, st, 0),
                Ok(len) if rw.dptr.is_in_capsule() => {
                    if len > self.cfg.io_in_capsule as usize || rw.dptr.address != 0 {
                        self.respond(conn, cid, dnr(StatusCode::SGL_OFFSET_INVALID), 0)
                    } else if data.len() != len {
                        self.respond(conn, cid, dnr(StatusCode::DATA_SGL_LENGTH_INVALID), 0)
                    } else {
                        if let Some(c) = self.conns.get_mut(&conn) {
                            c.q.write_pinned += len;
                        }
                        self.execute(now, conn, cntlid, cid, MediaKind::Write, rw.slba, len, data)
                    }
                }
                Ok(len) if rw.dptr.is_transport_data() && data.is_empty() => {
                    let limit = self.cfg.output_limit;
                    if let Some(q) = self.out(conn) {
                        q.request_data(cid, rw.slba, len as u32, limit);
                    }
                }
                Ok(_) => self.respond(conn, cid, dnr(StatusCode::SGL_DESCRIPTOR_TYPE_INVALID), 0),
            },
            IoCommand::Flush(f) if f.nsid == NSID || f.nsid == NSID_BROADCAST => {
                self.execute(now, conn, cntlid, cid, MediaKind::Flush, 0, 0, Vec::new())
            }
            IoCommand::Flush(_) => self.respond(conn, cid, dnr(StatusCode::INVALID_NAMESPACE_OR_FORMAT), 0),
            IoCommand::Fabrics(_) | IoCommand::Unknown(_) => {
                self.respond(conn, cid, dnr(StatusCode::INVALID_OPCODE), 0)
            }
        }
    }

    /// The R2T transfer of write `cid` to `slba` is complete.
    pub(super) fn write_data(&mut self, now: Instant, conn: ConnId, cid: u16, slba: u64, data: Vec<u8>) {
        let Some(cntlid) = self.conns.get(&conn).and_then(|c| c.q.cntlid()) else { return };
        let len = data.len();
        self.execute(now, conn, cntlid, cid, MediaKind::Write, slba, len, data);
    }

    /// A command whose data is here is accepted for execution: a fault armed for its opcode fires now (the command
    /// is held `delay` and its controller fails or freezes), else it becomes a media operation, started at once or
    /// queued behind [`SubsystemConfig::media_concurrency`](super::SubsystemConfig::media_concurrency).
    #[allow(clippy::too_many_arguments)]
    fn execute(
        &mut self,
        now: Instant,
        conn: ConnId,
        cntlid: u16,
        cid: u16,
        kind: MediaKind,
        slba: u64,
        len: usize,
        buf: Vec<u8>,
    ) {
        let concurrency = self.cfg.media_concurrency;
        let id = MediaId(self.next_media);
        self.next_media += 1;
        let opcode = match kind {
            MediaKind::Flush => IoOpcode::FLUSH.0,
            MediaKind::Write => IoOpcode::WRITE.0,
            MediaKind::Read => IoOpcode::READ.0,
        };
        if kind == MediaKind::Read
            && let Some(c) = self.conns.get_mut(&conn)
        {
            c.q.read_pinned += c.q.read_cost(len);
        }
        let Some(c) = self.ctrls.get_mut(&cntlid) else { return };
        let mut op = MediaOp { cntlid, conn, cid, kind, slba, len, buf, state: MediaState::Ready };
        if let Some(i) = c.faults.iter().position(|f| f.opcode == opcode) {
            let f = c.faults.remove(i);
            c.started += 1;
            op.state = MediaState::Stuck(now + f.delay);
            self.media.insert(id, op);
            self.event(Event::FaultFired { cntlid, opcode, delay: f.delay, action: f.action, media: id });
            match f.action {
                FaultAction::Fatal => self.fail_controller(now, cntlid, ControllerFailure::Fault),
                FaultAction::Freeze => self.freeze(cntlid),
            }
            return;
        }
        if concurrency == 0 || c.started < concurrency {
            c.started += 1;
            self.media_ready.push_back(id);
        } else {
            op.state = MediaState::Queued;
            c.queued.push_back(id);
        }
        self.media.insert(id, op);
    }

    /// A `freeze` fault: every connection of `cntlid` goes silent, both ways, without closing.
    fn freeze(&mut self, cntlid: u16) {
        let Some(c) = self.ctrls.get(&cntlid) else { return };
        let conns: Vec<ConnId> = core::iter::once(c.admin).chain(c.io.values().copied()).collect();
        for id in conns {
            if let Some(conn) = self.conns.get_mut(&id)
                && !conn.q.frozen
            {
                conn.q.frozen = true;
                self.conn_events.push_back(ConnEvent::Freeze(id));
            }
        }
    }

    /// A media operation ended (`op` is out of the table): answer its command if its controller and connection are
    /// still there, release its buffers, start the next queued operation, and finish a teardown that waited for it.
    pub(super) fn media_finished(&mut self, now: Instant, op: MediaOp, result: Result<(), MediaError>) {
        let limit = self.cfg.output_limit;
        let live = self.ctrls.get(&op.cntlid).is_some_and(|c| c.live);
        if let Some(c) = self.conns.get_mut(&op.conn) {
            match op.kind {
                MediaKind::Write => c.q.unpin_write(op.len, limit),
                MediaKind::Read => {
                    let cost = c.q.read_cost(op.len);
                    c.q.read_pinned -= cost.min(c.q.read_pinned);
                }
                MediaKind::Flush => {}
            }
        }
        let answer = live && self.conns.get(&op.conn).is_some_and(|c| c.q.slots.contains_key(&op.cid));
        if answer {
            let status = match result {
                Ok(()) => Status::SUCCESS,
                Err(MediaError::WriteFault) => Status::new(StatusCode::WRITE_FAULT),
                Err(MediaError::ReadError) => Status::new(StatusCode::UNRECOVERED_READ_ERROR),
                Err(MediaError::Internal) => Status::new(StatusCode::INTERNAL_ERROR),
            };
            if let Some(q) = self.out(op.conn) {
                if status.is_success() && op.kind == MediaKind::Read {
                    // The buffer comes back to the pool once its PDUs are encoded (`poll_transmit`).
                    q.respond_data(op.cid, op.buf, 0);
                } else {
                    q.respond(op.cid, status, 0);
                    q.pool.put(op.buf);
                }
            }
        } else if let Some(c) = self.conns.get_mut(&op.conn) {
            c.q.pool.put(op.buf);
        }
        if let Some(c) = self.ctrls.get_mut(&op.cntlid) {
            c.started = c.started.saturating_sub(1);
            if c.live
                && let Some(next) = c.queued.pop_front()
            {
                c.started += 1;
                if let Some(n) = self.media.get_mut(&next) {
                    n.state = MediaState::Ready;
                }
                self.media_ready.push_back(next);
            }
        }
        self.check_teardown(now, op.cntlid);
        if let Some(c) = self.conns.get_mut(&op.conn)
            && c.q.blocked
            && !c.q.over_limit(limit)
            && c.q.closing.is_none()
        {
            c.q.blocked = false;
            self.conn_events.push_back(ConnEvent::Resume(op.conn));
        }
    }
}
