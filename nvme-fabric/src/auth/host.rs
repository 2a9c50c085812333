//! The host's side of one DH-HMAC-CHAP transaction (spec-notes/auth.md §3.1).

use nvme_ccr::Instant;
use nvme_proto::auth::{
    AuthError, AuthMessage, Challenge, DhGroupId, DhchapSecret, Failure2, FailureExplanation, HashId, Negotiate,
    ProtocolDescriptor, Reply, SecureChannel, Success1, Success2,
};

use super::config::HostAuth;
use super::dh::{DhGroup, DhKeyPair, session_key};
use super::hash::{Digest, HashAlg};
use super::response::Transaction;
use super::{AuthConfigError, AuthFailure, Authenticated, HOST_RECEIVE_LEN, HostNonces, nonzero_seqnum};

impl HostAuth {
    /// Credentials for the host `host_nqn` talking to the subsystem `subsys_nqn` (both exactly as the Connect data
    /// carries them): the host's secret (Linux's `dhchap_secret=`), and the controller's (`dhchap_ctrl_secret=`)
    /// when the controller must authenticate itself too. Offers every hash and every group (NULL and ffdhe2048 …
    /// ffdhe8192), as the Linux host does. An NQN over 223 bytes gives [`AuthConfigError::NqnTooLong`].
    pub fn new(
        host_nqn: &str,
        subsys_nqn: &str,
        host_secret: &DhchapSecret,
        ctrl_secret: Option<&DhchapSecret>,
    ) -> Result<Self, AuthConfigError> {
        Self::build(host_nqn, subsys_nqn, host_secret, ctrl_secret, &HashId::ALL, &DhGroupId::ALL)
    }

    /// Whether the host asks the controller to authenticate itself (a controller secret was given).
    pub const fn bidirectional(&self) -> bool {
        self.has_ctrl_key()
    }
}

/// The next command the driver issues for the exchange ([`HostExchange::poll_command`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HostCommand {
    /// An Authentication Send ([`Authentication::dhchap_send`](nvme_proto::cmd::Authentication::dhchap_send))
    /// with TL = `len`, carrying the first `len` bytes of the buffer given to `poll_command`. Report its completion
    /// with [`HostExchange::handle_send_complete`] (or [`HostExchange::handle_command_failed`]).
    Send {
        /// Bytes of the message.
        len: usize,
    },
    /// An Authentication Receive
    /// ([`Authentication::dhchap_receive`](nvme_proto::cmd::Authentication::dhchap_receive)) with AL = `al`; give
    /// its data to [`HostExchange::handle_receive_complete`].
    Receive {
        /// The allocation length ([`HOST_RECEIVE_LEN`]).
        al: u32,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum State {
    SendNegotiate,
    NegotiateSent,
    ReceiveChallenge,
    ChallengeAsked,
    SendReply,
    ReplySent,
    ReceiveSuccess1,
    Success1Asked,
    SendSuccess2,
    Success2Sent,
    SendFailure2(FailureExplanation),
    Failure2Sent(FailureExplanation),
    Done(Result<Authenticated, AuthFailure>),
}

/// What the Challenge settled, kept for the Reply and Success1.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Negotiated {
    hash: HashAlg,
    dh_group: DhGroupId,
    key_pair: Option<DhKeyPair>,
    /// R1, sent in the Reply.
    response: Digest,
    /// The R2 the controller must return, when the host asks for one.
    expected_r2: Option<Digest>,
}

/// The host's side of one DH-HMAC-CHAP transaction on one queue, Sans-IO.
///
/// Call order: [`new`](Self::new) right after a Connect whose response set ATR; then loop:
/// [`poll_command`](Self::poll_command) gives the next Authentication Send (message in the caller's buffer) or
/// Receive; the driver issues it and reports [`handle_send_complete`](Self::handle_send_complete),
/// [`handle_receive_complete`](Self::handle_receive_complete) (with the data) or
/// [`handle_command_failed`](Self::handle_command_failed). `poll_command` returns `None` while a command is out and
/// once the exchange is over; then [`outcome`](Self::outcome) says how it ended. [`poll_timeout`](Self::poll_timeout)
/// is the deadline of the current step, [`handle_timeout`](Self::handle_timeout) ends the exchange past it.
///
/// Messages: AUTH_Negotiate (T_ID, SC_C 0, the offered hashes and groups); the Challenge is checked (T_ID, S1 ≠ 0,
/// hash and group offered, HL and DHVLEN right, the controller's DH value in range) and answered with a Reply (R1,
/// and C2 with S2 when the controller must authenticate itself); Success1 is checked (T_ID, HL, R2 in constant time)
/// and answered with Success2 when R2 was asked for. A check that fails sends AUTH_Failure2 with its explanation
/// (spec-notes/auth.md §4); an AUTH_Failure1 from the controller ends the exchange without one.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HostExchange {
    auth: HostAuth,
    nonces: HostNonces,
    t_id: u16,
    state: State,
    deadline: Instant,
    negotiated: Option<Negotiated>,
}

impl HostExchange {
    /// A transaction with identifier `t_id` (the host's counter: Linux counts per controller from 0) and this
    /// transaction's random inputs. The first step's deadline starts `now`.
    pub fn new(now: Instant, auth: HostAuth, t_id: u16, nonces: HostNonces) -> Self {
        let deadline = now.saturating_add(auth.step_timeout);
        Self { auth, nonces, t_id, state: State::SendNegotiate, deadline, negotiated: None }
    }

    /// The transaction identifier.
    pub const fn t_id(&self) -> u16 {
        self.t_id
    }

    /// The next command to issue, its message written into `buf` for a Send (at most
    /// [`MAX_REPLY_LEN`](nvme_proto::auth::MAX_REPLY_LEN) bytes); `None` while a command is out or when the exchange
    /// is over. A buffer too short for the message gives [`AuthError::BufferTooShort`] and changes nothing.
    pub fn poll_command(&mut self, now: Instant, buf: &mut [u8]) -> Result<Option<HostCommand>, AuthError> {
        let (next, command) = match self.state {
            State::SendNegotiate => (State::NegotiateSent, HostCommand::Send { len: self.emit_negotiate(buf)? }),
            State::ReceiveChallenge => (State::ChallengeAsked, HostCommand::Receive { al: HOST_RECEIVE_LEN }),
            State::SendReply => (State::ReplySent, HostCommand::Send { len: self.emit_reply(buf)? }),
            State::ReceiveSuccess1 => (State::Success1Asked, HostCommand::Receive { al: HOST_RECEIVE_LEN }),
            State::SendSuccess2 => {
                (State::Success2Sent, HostCommand::Send { len: Success2 { t_id: self.t_id }.emit(buf)? })
            }
            State::SendFailure2(e) => {
                (State::Failure2Sent(e), HostCommand::Send { len: Failure2::new(self.t_id, e).emit(buf)? })
            }
            _ => return Ok(None),
        };
        self.enter(now, next);
        Ok(Some(command))
    }

    /// The Authentication Send issued for the last [`HostCommand::Send`] completed successfully. Ignored at any
    /// other time.
    pub fn handle_send_complete(&mut self, now: Instant) {
        let next = match self.state {
            State::NegotiateSent => State::ReceiveChallenge,
            State::ReplySent => State::ReceiveSuccess1,
            State::Success2Sent => State::Done(Ok(self.authenticated(true))),
            State::Failure2Sent(e) => State::Done(Err(AuthFailure::Rejected(e))),
            _ => return,
        };
        self.enter(now, next);
    }

    /// The Authentication Receive issued for the last [`HostCommand::Receive`] completed with `data` (all the bytes
    /// it transferred; a controller may pad the message with zeros). Ignored at any other time.
    pub fn handle_receive_complete(&mut self, now: Instant, data: &[u8]) {
        let next = match self.state {
            State::ChallengeAsked => self.on_challenge(data),
            State::Success1Asked => self.on_success1(data),
            _ => return,
        };
        self.enter(now, next);
    }

    /// The Authentication command that is out failed (an NVMe error status, or the transport lost it): the exchange
    /// ends with [`AuthFailure::CommandFailed`] (or, when it was our AUTH_Failure2, with the refusal it carried).
    /// Ignored when no command is out.
    pub fn handle_command_failed(&mut self, now: Instant) {
        let failure = match self.state {
            State::Failure2Sent(e) => AuthFailure::Rejected(e),
            State::NegotiateSent
            | State::ChallengeAsked
            | State::ReplySent
            | State::Success1Asked
            | State::Success2Sent => AuthFailure::CommandFailed,
            _ => return,
        };
        self.enter(now, State::Done(Err(failure)));
    }

    /// The deadline of the current step; `None` once the exchange is over.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Done(_) => None,
            _ => Some(self.deadline),
        }
    }

    /// Ends the exchange with [`AuthFailure::Timeout`] if the current step's deadline has passed; idempotent.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.poll_timeout().is_some_and(|d| now >= d) {
            self.state = State::Done(Err(AuthFailure::Timeout));
        }
    }

    /// How the exchange ended; `None` while it runs.
    pub fn outcome(&self) -> Option<Result<Authenticated, AuthFailure>> {
        match self.state {
            State::Done(r) => Some(r),
            _ => None,
        }
    }

    fn enter(&mut self, now: Instant, state: State) {
        self.state = state;
        self.deadline = now.saturating_add(self.auth.step_timeout);
        if matches!(state, State::Done(_)) {
            self.negotiated = None;
        }
    }

    fn authenticated(&self, bidirectional: bool) -> Authenticated {
        match &self.negotiated {
            Some(n) => Authenticated { hash: n.hash, dh_group: n.dh_group, bidirectional },
            // Not reachable: the states that authenticate come after the Challenge was accepted.
            None => Authenticated { hash: HashAlg::Sha256, dh_group: DhGroupId::NULL, bidirectional },
        }
    }

    fn emit_negotiate(&self, buf: &mut [u8]) -> Result<usize, AuthError> {
        let descriptor =
            ProtocolDescriptor::dh_hmac_chap(self.auth.hashes.as_slice(), self.auth.dh_groups.as_slice()).to_view()?;
        Negotiate { t_id: self.t_id, sc_c: SecureChannel::NONE, descriptors: core::slice::from_ref(&descriptor) }
            .emit(buf)
    }

    fn emit_reply(&self, buf: &mut [u8]) -> Result<usize, AuthError> {
        let Some(n) = &self.negotiated else { return Err(AuthError::InvalidField { offset: 0 }) };
        let hl = n.hash.hash_len();
        let reply = Reply {
            t_id: self.t_id,
            seqnum: nonzero_seqnum(self.nonces.seqnum),
            response: n.response.as_bytes(),
            challenge: self.auth.bidirectional().then(|| &self.nonces.challenge[..hl]),
            dh_value: n.key_pair.as_ref().map_or(&[][..], DhKeyPair::public_value),
        };
        reply.emit(buf)
    }

    /// Checks the Challenge and computes R1 (and the R2 to expect); the next state.
    fn on_challenge(&mut self, data: &[u8]) -> State {
        let c = match AuthMessage::parse(data) {
            Ok(AuthMessage::Challenge(c)) => c,
            Ok(AuthMessage::Failure1(f)) => {
                return State::Done(Err(AuthFailure::PeerFailed { reason: f.reason, explanation: f.explanation }));
            }
            Ok(_) => return State::SendFailure2(FailureExplanation::INCORRECT_PROTOCOL_MESSAGE),
            Err(e) => return State::SendFailure2(e.explanation()),
        };
        match self.accept_challenge(&c) {
            Ok(n) => {
                self.negotiated = Some(n);
                State::SendReply
            }
            Err(AuthFailure::Rejected(e)) => State::SendFailure2(e),
            Err(AuthFailure::BadRandom) => State::SendFailure2(FailureExplanation::FAILED),
            Err(other) => State::Done(Err(other)),
        }
    }

    fn accept_challenge(&self, c: &Challenge<'_>) -> Result<Negotiated, AuthFailure> {
        let reject = |e| Err(AuthFailure::Rejected(e));
        if c.t_id != self.t_id || c.seqnum == 0 {
            return reject(FailureExplanation::INCORRECT_PAYLOAD);
        }
        let hash = match HashAlg::from_id(c.hash_id) {
            Some(h) if self.auth.hashes.as_slice().contains(&c.hash_id) && c.challenge.len() == h.hash_len() => h,
            _ => return reject(FailureExplanation::HASH_NOT_USABLE),
        };
        if !self.auth.dh_groups.as_slice().contains(&c.dh_group) {
            return reject(FailureExplanation::DH_GROUP_NOT_USABLE);
        }
        let (key_pair, ks) = match DhGroup::from_id(c.dh_group) {
            None if c.dh_value.is_empty() => (None, None),
            None => return reject(FailureExplanation::INCORRECT_PAYLOAD),
            Some(group) => {
                let pair = DhKeyPair::new(group, &self.nonces.dh_private).map_err(|_| AuthFailure::BadRandom)?;
                let z = pair
                    .shared_secret(c.dh_value, self.auth.peer_check)
                    .map_err(|_| AuthFailure::Rejected(FailureExplanation::DH_GROUP_NOT_USABLE))?;
                (Some(pair), Some(session_key(hash, &z)))
            }
        };
        let tx = Transaction {
            hash,
            t_id: self.t_id,
            sc_c: SecureChannel::NONE,
            host_nqn: self.auth.host_nqn.as_str(),
            subsys_nqn: self.auth.subsys_nqn.as_str(),
        };
        let ca = tx.augmented_challenge(ks.as_ref(), c.challenge);
        let response = tx.host_response(&self.auth.host_key, &ca, c.seqnum);
        let expected_r2 = self.auth.ctrl_key.as_ref().map(|kc| {
            let cb = tx.augmented_challenge(ks.as_ref(), &self.nonces.challenge[..hash.hash_len()]);
            tx.controller_response(kc, &cb, nonzero_seqnum(self.nonces.seqnum))
        });
        Ok(Negotiated { hash, dh_group: c.dh_group, key_pair, response, expected_r2 })
    }

    /// Checks Success1 (and R2); the next state.
    fn on_success1(&mut self, data: &[u8]) -> State {
        let s = match AuthMessage::parse(data) {
            Ok(AuthMessage::Success1(s)) => s,
            Ok(AuthMessage::Failure1(f)) => {
                return State::Done(Err(AuthFailure::PeerFailed { reason: f.reason, explanation: f.explanation }));
            }
            Ok(_) => return State::SendFailure2(FailureExplanation::INCORRECT_PROTOCOL_MESSAGE),
            Err(e) => return State::SendFailure2(e.explanation()),
        };
        let Some(n) = &self.negotiated else { return State::SendFailure2(FailureExplanation::FAILED) };
        self.check_success1(&s, n)
    }

    fn check_success1(&self, s: &Success1<'_>, n: &Negotiated) -> State {
        if s.t_id != self.t_id {
            return State::SendFailure2(FailureExplanation::INCORRECT_PAYLOAD);
        }
        if usize::from(s.hl) != n.hash.hash_len() {
            return State::SendFailure2(FailureExplanation::HASH_NOT_USABLE);
        }
        match (&n.expected_r2, s.response) {
            (None, None) => State::Done(Ok(self.authenticated(false))),
            // R2 without C2: nothing it could answer.
            (None, Some(_)) => State::SendFailure2(FailureExplanation::INCORRECT_PAYLOAD),
            // Asked for R2 and got none: the controller did not authenticate itself.
            (Some(_), None) => State::SendFailure2(FailureExplanation::FAILED),
            (Some(expected), Some(r2)) if expected.ct_eq(r2) => State::SendSuccess2,
            (Some(_), Some(_)) => State::SendFailure2(FailureExplanation::FAILED),
        }
    }
}
