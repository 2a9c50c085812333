//! In-band authentication on the controller's queues (DH-HMAC-CHAP, `spec-notes/auth.md`): which Connects ask for
//! it (ATR), Authentication Send and Receive on the admin and I/O queues driving each queue's
//! [`ControllerExchange`], the step timeouts, and what a failure does.
//!
//! Rules, as Linux 6.12 nvmet unless said ([`nvme_proto::notes::auth`], `../shared/spec/auth.md` §1):
//! * A host listed with a key gets ATR in every Connect response, admin and I/O; the queue's transaction starts
//!   then, with its first step's deadline.
//! * Until a queue is authenticated its non-Fabrics commands get Authentication Required (SCT 1 / SC 0x91, DNR);
//!   Fabrics commands (Property Get/Set, the Authentication commands) are served, as nvmet serves them.
//! * Authentication Send/Receive: SECP 0xE9, SPSP0 = SPSP1 = 1 and a non-zero TL/AL, else Invalid Field (DNR).
//!   Send data comes in the capsule and is TL bytes, else Data SGL Length Invalid (DNR); a Receive's AL must equal
//!   its SGL length (Data SGL Length Invalid) and stay within MDTS (Invalid Field): its answer is AL bytes.
//!   Protocol failures travel as AUTH_Failure1 inside successful commands.
//! * A failed transaction closes its connection once the Receive that carries the AUTH_Failure1 is answered (at
//!   once when the host sent AUTH_Failure2, or when a step timed out); the admin queue's loss fails the controller.
//!   **Divergence:** nvmet fails the whole controller on any queue's failure; here an I/O queue's failure closes
//!   that queue only, so a stranger who knows a live controller's CNTLID cannot tear it down with a bad I/O Connect.
//! * A new AUTH_Negotiate on a queue starts a new transaction (re-authentication, as the Linux host does through
//!   `dhchap_secret` in sysfs); the queue stays authenticated meanwhile.
//! * A queue that needs no authentication answers Authentication commands with Invalid Command Opcode (DNR), as
//!   before authentication existed here.

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

use nvme_ccr::Instant;
use nvme_proto::cmd::{Authentication, Sqe, Status, StatusCode};

use super::admin::dnr;
use super::conn::Phase;
use super::{AuthEvent, Subsystem};
use crate::auth::{AuthFailure, ControllerExchange, SendOutcome};
use crate::conn::{CloseCause, ConnId};

impl Subsystem {
    /// A Connect on `conn` succeeded for controller `cntlid`: when its host must authenticate, the queue's
    /// transaction starts now. Returns whether the response sets ATR.
    pub(super) fn start_auth(&mut self, now: Instant, conn: ConnId, cntlid: u16) -> bool {
        let Some(creds) = self.ctrls.get(&cntlid).and_then(|c| c.auth.clone()) else { return false };
        let nonces = self.nonces.controller_nonces();
        let Some(c) = self.conns.get_mut(&conn) else { return false };
        c.q.auth = Some(Box::new(ControllerExchange::new(now, creds, nonces)));
        c.q.authenticated = false;
        let qid = c.q.sqid();
        self.auth_event(AuthEvent::Required { cntlid, qid, conn });
        true
    }

    /// Whether `conn` may carry non-Fabrics commands.
    pub(super) fn auth_ok(&self, conn: ConnId) -> bool {
        self.conns.get(&conn).is_none_or(|c| c.q.auth_ok())
    }

    /// An Authentication Send or Receive on `conn` (admin or I/O queue).
    pub(super) fn auth_command(&mut self, now: Instant, conn: ConnId, sqe: &Sqe, a: Authentication, data: Vec<u8>) {
        let cid = sqe.cid;
        if self.conns.get(&conn).is_none_or(|c| c.q.auth.is_none()) {
            // Not offered on this queue (its host has no key).
            return self.respond(conn, cid, dnr(StatusCode::INVALID_OPCODE), 0);
        }
        if a.check_dhchap().is_err() {
            return self.respond(conn, cid, dnr(StatusCode::INVALID_FIELD), 0);
        }
        if a.send { self.auth_send(now, conn, sqe, a, &data) } else { self.auth_receive(now, conn, sqe, a, &data) }
    }

    fn auth_send(&mut self, now: Instant, conn: ConnId, sqe: &Sqe, a: Authentication, data: &[u8]) {
        let cid = sqe.cid;
        if !sqe.dptr.is_in_capsule() || sqe.dptr.length != a.length || data.len() != a.length as usize {
            return self.respond(conn, cid, dnr(StatusCode::DATA_SGL_LENGTH_INVALID), 0);
        }
        let creds = self.conn_ctrl(conn).and_then(|id| self.ctrls.get(&id)).and_then(|c| c.auth.clone());
        let Some(ex) = self.conns.get_mut(&conn).and_then(|c| c.q.auth.as_mut()) else { return };
        let mut outcome = ex.handle_send(now, data);
        if outcome == SendOutcome::NewTransaction {
            // A restart or a re-authentication: a fresh transaction with fresh nonces takes the same message.
            let Some(creds) = creds else { return };
            let mut fresh = ControllerExchange::new(now, creds, self.nonces.controller_nonces());
            outcome = fresh.handle_send(now, data);
            if let Some(q) = self.conns.get_mut(&conn).and_then(|c| c.q.auth.as_mut()) {
                **q = fresh;
            }
        }
        self.respond(conn, cid, Status::SUCCESS, 0);
        match outcome {
            SendOutcome::Authenticated(result) => self.auth_passed(conn, result),
            // The host ended the transaction: nothing more will come.
            SendOutcome::Failed(f @ AuthFailure::PeerFailed { .. }) => self.auth_failed(now, conn, f),
            // Refused: the AUTH_Failure1 waits for the host's next Receive (the step deadline bounds the wait).
            SendOutcome::Failed(_) | SendOutcome::Accepted | SendOutcome::NewTransaction => {}
        }
    }

    fn auth_receive(&mut self, now: Instant, conn: ConnId, sqe: &Sqe, a: Authentication, data: &[u8]) {
        let cid = sqe.cid;
        let al = a.length as usize;
        if !data.is_empty() || !sqe.dptr.is_transport_data() || sqe.dptr.length != a.length {
            return self.respond(conn, cid, dnr(StatusCode::DATA_SGL_LENGTH_INVALID), 0);
        }
        if al > self.cfg.max_transfer() {
            return self.respond(conn, cid, dnr(StatusCode::INVALID_FIELD), 0);
        }
        let Some(ex) = self.conns.get_mut(&conn).and_then(|c| c.q.auth.as_mut()) else { return };
        let mut buf = vec![0u8; al];
        let answer = ex.poll_receive(now, &mut buf);
        let outcome = ex.outcome();
        match answer {
            Ok(n) => {
                buf.truncate(n);
                if let Some(q) = self.out(conn) {
                    q.respond_data(cid, buf, 0);
                }
            }
            // AL below the message: nothing changed (nvmet answers Internal Error).
            Err(_) => return self.respond(conn, cid, dnr(StatusCode::INTERNAL_ERROR), 0),
        }
        match outcome {
            Some(Err(f)) => self.auth_failed(now, conn, f),
            // Done with Success1 (no R2 asked): authenticated at the Reply already, unless that was missed.
            Some(Ok(result)) if !self.conns.get(&conn).is_some_and(|c| c.q.authenticated) => {
                self.auth_passed(conn, result)
            }
            _ => {}
        }
    }

    /// The controller of `conn`, once connected.
    fn conn_ctrl(&self, conn: ConnId) -> Option<u16> {
        self.conns.get(&conn).and_then(|c| c.q.cntlid())
    }

    fn queue_of(&self, conn: ConnId) -> (u16, u16) {
        match self.conns.get(&conn).map(|c| c.q.phase) {
            Some(Phase::Admin(c)) => (c, 0),
            Some(Phase::Io(c, q)) => (c, q),
            _ => (0, 0),
        }
    }

    fn auth_passed(&mut self, conn: ConnId, result: crate::auth::Authenticated) {
        let (cntlid, qid) = self.queue_of(conn);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.q.authenticated = true;
        }
        self.auth_event(AuthEvent::Authenticated { cntlid, qid, conn, result });
    }

    /// `conn`'s transaction failed: the connection closes after what it has queued (the answer carrying the
    /// AUTH_Failure1); the admin queue's loss fails the controller.
    fn auth_failed(&mut self, now: Instant, conn: ConnId, failure: AuthFailure) {
        let (cntlid, qid) = self.queue_of(conn);
        self.auth_event(AuthEvent::Failed { cntlid, qid, conn, failure });
        self.conn_closing(now, conn, CloseCause::AuthenticationFailed(failure));
        self.flush_events(conn);
    }

    /// Ends the transactions whose step deadline passed at `now`: a queue not yet authenticated closes.
    pub(super) fn auth_timeouts(&mut self, now: Instant) {
        let due: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.q.closing.is_none() && c.q.auth_deadline().is_some_and(|d| d <= now))
            .map(|(&id, _)| id)
            .collect();
        for id in due {
            let Some(ex) = self.conns.get_mut(&id).and_then(|c| c.q.auth.as_mut()) else { continue };
            ex.handle_timeout(now);
            match ex.outcome() {
                Some(Err(f)) => self.auth_failed(now, id, f),
                // Authenticated, its Success1 never fetched: it stays authenticated.
                Some(Ok(result)) if !self.conns.get(&id).is_some_and(|c| c.q.authenticated) => {
                    self.auth_passed(id, result)
                }
                _ => {}
            }
        }
    }
}
