//! The controller's side of one DH-HMAC-CHAP transaction (spec-notes/auth.md §3.2).

use nvme_ccr::Instant;
use nvme_proto::auth::{
    AuthHeaderView, AuthMessage, Challenge, DhGroupId, DhchapSecret, Failure1, FailureExplanation, HashId, Negotiate,
    Reply, SecureChannel, Success1,
};

use super::config::ControllerAuth;
use super::dh::{DhGroup, DhKeyPair, session_key};
use super::hash::{Digest, HashAlg};
use super::response::Transaction;
use super::{AuthConfigError, AuthFailure, Authenticated, ControllerNonces, RECEIVE_PADS_TO_AL, nonzero_seqnum};

/// The hashes a controller picks from by default, in order of preference: the strongest the host offers, as SPDK's
/// target does (our choice; Linux nvmet takes its one configured hash if offered).
pub const DEFAULT_CONTROLLER_HASHES: [HashId; 3] = [HashId::SHA_512, HashId::SHA_384, HashId::SHA_256];

/// The DH groups a controller picks from by default, in order of preference: ffdhe3072 (128-bit strength) first,
/// then the larger groups, ffdhe2048 and, last, NULL (our choice, spec-notes/auth.md §3.2).
pub const DEFAULT_CONTROLLER_DH_GROUPS: [DhGroupId; 6] = [
    DhGroupId::FFDHE3072,
    DhGroupId::FFDHE4096,
    DhGroupId::FFDHE6144,
    DhGroupId::FFDHE8192,
    DhGroupId::FFDHE2048,
    DhGroupId::NULL,
];

impl ControllerAuth {
    /// Credentials for the host `host_nqn` connecting to `subsys_nqn` (exactly as its Connect data carries them):
    /// the host's secret (nvmet's `dhchap_key`) and, to answer a host that asks the controller to authenticate
    /// itself, the controller's secret (`dhchap_ctrl_key`). Picks from [`DEFAULT_CONTROLLER_HASHES`] and
    /// [`DEFAULT_CONTROLLER_DH_GROUPS`]. An NQN over 223 bytes gives [`AuthConfigError::NqnTooLong`].
    pub fn new(
        host_nqn: &str,
        subsys_nqn: &str,
        host_secret: &DhchapSecret,
        ctrl_secret: Option<&DhchapSecret>,
    ) -> Result<Self, AuthConfigError> {
        Self::build(
            host_nqn,
            subsys_nqn,
            host_secret,
            ctrl_secret,
            &DEFAULT_CONTROLLER_HASHES,
            &DEFAULT_CONTROLLER_DH_GROUPS,
        )
    }
}

/// What an Authentication Send's message did ([`ControllerExchange::handle_send`]). The command itself completes
/// successfully in every case: protocol failures travel as AUTH_Failure1, not as a status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SendOutcome {
    /// Taken; the answer waits for the next Authentication Receive.
    Accepted,
    /// The queue is authenticated from now on (a verified Reply without C2, or the Success2 after R2).
    Authenticated(Authenticated),
    /// The transaction failed and the queue is not authenticated. With [`AuthFailure::Rejected`] the next
    /// Authentication Receive gets the AUTH_Failure1; Linux nvmet then tears the controller down.
    Failed(AuthFailure),
    /// An AUTH_Negotiate while this transaction is under way or over: a restart or a re-authentication. Start a new
    /// [`ControllerExchange`] with fresh nonces and give it the same bytes; this one is left as it was.
    NewTransaction,
}

/// Why an Authentication Receive could not be answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReceiveError {
    /// AL is below the message's length (`needed` bytes): fail the command (Linux nvmet answers Internal Error);
    /// nothing changed, so a Receive with a larger AL gets the message.
    AllocationTooShort {
        /// The message's length.
        needed: usize,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum State {
    AwaitNegotiate,
    ChallengePending,
    AwaitReply,
    Success1Pending,
    AwaitSuccess2,
    FailurePending(FailureExplanation),
    Done(Result<Authenticated, AuthFailure>),
}

/// What the Negotiate settled, and R2 once the Reply asked for it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Chosen {
    hash: HashAlg,
    dh_group: DhGroupId,
    key_pair: Option<DhKeyPair>,
    /// Whether the host asked for R2 (set by the Reply).
    bidirectional: bool,
    r2: Option<Digest>,
}

/// The controller's side of one DH-HMAC-CHAP transaction on one queue, Sans-IO.
///
/// Call order: [`new`](Self::new) when a queue's Connect is accepted for a host that has a key (its response sets
/// ATR); then the data of each Authentication Send goes to [`handle_send`](Self::handle_send), and each
/// Authentication Receive is answered by [`poll_receive`](Self::poll_receive).
/// [`is_authenticated`](Self::is_authenticated) says whether the queue may carry other commands;
/// [`poll_timeout`](Self::poll_timeout) is the deadline of the current step, [`handle_timeout`](Self::handle_timeout)
/// ends the exchange past it.
///
/// Messages: AUTH_Negotiate (SC_C 0, a DH-HMAC-CHAP descriptor; the hash and group are the first of the
/// controller's preference lists the host offers) is answered with a Challenge (C1, S1, the controller's DH value);
/// the Reply is checked (T_ID, HL, DHVLEN, the host's DH value, R1 in constant time; C2 needs a non-zero S2 and a
/// controller key) and answered with Success1 (with R2 when asked); Success2 completes a bidirectional exchange. A
/// check that fails leaves AUTH_Failure1 with its explanation for the next Receive (spec-notes/auth.md §4); an
/// AUTH_Failure2 from the host ends the exchange.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ControllerExchange {
    auth: ControllerAuth,
    nonces: ControllerNonces,
    t_id: u16,
    state: State,
    deadline: Instant,
    chosen: Option<Chosen>,
}

impl ControllerExchange {
    /// A transaction waiting for the host's AUTH_Negotiate, with this transaction's random inputs. The first step's
    /// deadline starts `now`.
    pub fn new(now: Instant, auth: ControllerAuth, nonces: ControllerNonces) -> Self {
        let deadline = now.saturating_add(auth.step_timeout);
        Self { auth, nonces, t_id: 0, state: State::AwaitNegotiate, deadline, chosen: None }
    }

    /// Whether the queue is authenticated: after a verified Reply without C2 (even before Success1 is fetched, as
    /// Linux nvmet), or after Success2.
    pub fn is_authenticated(&self) -> bool {
        match self.state {
            State::Done(r) => r.is_ok(),
            State::Success1Pending => self.chosen.as_ref().is_some_and(|c| !c.bidirectional),
            _ => false,
        }
    }

    /// How the exchange ended; `None` while it runs.
    pub fn outcome(&self) -> Option<Result<Authenticated, AuthFailure>> {
        match self.state {
            State::Done(r) => Some(r),
            _ => None,
        }
    }

    /// The deadline of the current step; `None` once the exchange is over.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Done(_) => None,
            _ => Some(self.deadline),
        }
    }

    /// Ends the exchange if the current step's deadline has passed: with [`AuthFailure::Timeout`], except that a
    /// queue already authenticated (its Success1 never fetched) stays authenticated. Idempotent.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.poll_timeout().is_some_and(|d| now >= d) {
            let done = if self.is_authenticated() { Ok(self.authenticated()) } else { Err(AuthFailure::Timeout) };
            self.state = State::Done(done);
        }
    }

    /// The data of an Authentication Send. Nothing here fails the command; see [`SendOutcome`].
    pub fn handle_send(&mut self, now: Instant, data: &[u8]) -> SendOutcome {
        let message = AuthMessage::parse(data);
        if let Ok(AuthMessage::Negotiate(n)) = message {
            if self.state != State::AwaitNegotiate {
                return SendOutcome::NewTransaction;
            }
            return self.on_negotiate(now, &n);
        }
        if let Ok(AuthMessage::Failure2(f)) = message {
            if let State::Done(Err(e)) = self.state {
                return SendOutcome::Failed(e);
            }
            let failure = AuthFailure::PeerFailed { reason: f.reason, explanation: f.explanation };
            self.enter(now, State::Done(Err(failure)));
            return SendOutcome::Failed(failure);
        }
        if let State::Done(Err(e)) = self.state {
            return SendOutcome::Failed(e);
        }
        if let State::FailurePending(e) = self.state {
            // Already refused: the first refusal stands.
            return SendOutcome::Failed(AuthFailure::Rejected(e));
        }
        if self.state == State::AwaitNegotiate {
            // No transaction yet: the Failure1 answering this message echoes its T_ID, if it has one.
            if let Ok(h) = AuthHeaderView::ref_from_buf(data) {
                self.t_id = h.t_id.get();
            }
        }
        let refusal = match (self.state, message) {
            (State::AwaitReply, Ok(AuthMessage::Reply(r))) => return self.on_reply(now, &r),
            (State::AwaitSuccess2, Ok(AuthMessage::Success2(s))) if s.t_id == self.t_id => {
                let done = self.authenticated();
                self.enter(now, State::Done(Ok(done)));
                return SendOutcome::Authenticated(done);
            }
            (State::AwaitSuccess2, Ok(AuthMessage::Success2(_))) => FailureExplanation::INCORRECT_PAYLOAD,
            (State::AwaitReply | State::AwaitSuccess2 | State::AwaitNegotiate, Err(e)) => e.explanation(),
            // Anything else is out of step, including a valid message of the wrong kind.
            _ => FailureExplanation::INCORRECT_PROTOCOL_MESSAGE,
        };
        self.refuse(now, refusal)
    }

    /// Writes the answer to an Authentication Receive of AL = `buf.len()` bytes; returns how many bytes to send
    /// (all AL bytes, the message followed by zeros, per [`RECEIVE_PADS_TO_AL`]). A Receive out of step gets
    /// AUTH_Failure1 0x07 and ends the exchange (an authenticated queue loses its authentication, as with nvmet);
    /// after a failure every Receive gets the Failure1 again. An AL below the message's length gives
    /// [`ReceiveError::AllocationTooShort`] and changes nothing.
    pub fn poll_receive(&mut self, now: Instant, buf: &mut [u8]) -> Result<usize, ReceiveError> {
        if matches!(self.state, State::ChallengePending | State::Success1Pending) && self.chosen.is_none() {
            // Not reachable (both states are entered with a choice made); refuse rather than guess.
            self.state = State::FailurePending(FailureExplanation::FAILED);
        }
        let (len, next) = match self.state {
            State::ChallengePending => (self.emit_challenge(buf)?, State::AwaitReply),
            State::Success1Pending => {
                let (len, bidirectional) = self.emit_success1(buf)?;
                (len, if bidirectional { State::AwaitSuccess2 } else { State::Done(Ok(self.authenticated())) })
            }
            State::FailurePending(e) => (self.emit_failure1(buf, e)?, State::Done(Err(AuthFailure::Rejected(e)))),
            // Over and failed: the Failure1 again (or 0x07), the outcome unchanged.
            State::Done(Err(failure)) => {
                let e = match failure {
                    AuthFailure::Rejected(e) => e,
                    _ => FailureExplanation::INCORRECT_PROTOCOL_MESSAGE,
                };
                (self.emit_failure1(buf, e)?, State::Done(Err(failure)))
            }
            _ => {
                let e = FailureExplanation::INCORRECT_PROTOCOL_MESSAGE;
                (self.emit_failure1(buf, e)?, State::Done(Err(AuthFailure::Rejected(e))))
            }
        };
        self.enter(now, next);
        buf[len..].fill(0);
        Ok(if RECEIVE_PADS_TO_AL { buf.len() } else { len })
    }

    fn enter(&mut self, now: Instant, state: State) {
        self.state = state;
        self.deadline = now.saturating_add(self.auth.step_timeout);
        if matches!(state, State::Done(_)) {
            self.chosen = None;
        }
    }

    fn refuse(&mut self, now: Instant, e: FailureExplanation) -> SendOutcome {
        self.enter(now, State::FailurePending(e));
        SendOutcome::Failed(AuthFailure::Rejected(e))
    }

    fn authenticated(&self) -> Authenticated {
        match &self.chosen {
            Some(c) => Authenticated { hash: c.hash, dh_group: c.dh_group, bidirectional: c.bidirectional },
            // Not reachable: the authenticated states come after a Negotiate was accepted.
            None => Authenticated { hash: HashAlg::Sha256, dh_group: DhGroupId::NULL, bidirectional: false },
        }
    }

    fn on_negotiate(&mut self, now: Instant, n: &Negotiate<'_>) -> SendOutcome {
        self.t_id = n.t_id;
        if n.sc_c != SecureChannel::NONE {
            return self.refuse(now, FailureExplanation::CONCAT_MISMATCH);
        }
        let Some(d) = n.dh_hmac_chap() else { return self.refuse(now, FailureExplanation::PROTOCOL_NOT_USABLE) };
        let Some(hash) = self.auth.hashes.as_slice().iter().find(|h| d.hash_ids.contains(h)).copied() else {
            return self.refuse(now, FailureExplanation::HASH_NOT_USABLE);
        };
        let Some(dh_group) = self.auth.dh_groups.as_slice().iter().find(|g| d.dh_groups.contains(g)).copied() else {
            return self.refuse(now, FailureExplanation::DH_GROUP_NOT_USABLE);
        };
        let key_pair = match DhGroup::from_id(dh_group) {
            None => None,
            Some(group) => match DhKeyPair::new(group, &self.nonces.dh_private) {
                Ok(pair) => Some(pair),
                Err(_) => {
                    self.enter(now, State::FailurePending(FailureExplanation::FAILED));
                    return SendOutcome::Failed(AuthFailure::BadRandom);
                }
            },
        };
        // Listed, so implemented: the lists hold only implemented hashes.
        let Some(hash) = HashAlg::from_id(hash) else { return self.refuse(now, FailureExplanation::HASH_NOT_USABLE) };
        self.chosen = Some(Chosen { hash, dh_group, key_pair, bidirectional: false, r2: None });
        self.enter(now, State::ChallengePending);
        SendOutcome::Accepted
    }

    fn on_reply(&mut self, now: Instant, r: &Reply<'_>) -> SendOutcome {
        match self.check_reply(r) {
            Ok(bidirectional) => {
                self.enter(now, State::Success1Pending);
                if bidirectional { SendOutcome::Accepted } else { SendOutcome::Authenticated(self.authenticated()) }
            }
            Err(e) => self.refuse(now, e),
        }
    }

    /// Checks the Reply against the transaction; on success records whether R2 is due (and computes it).
    fn check_reply(&mut self, r: &Reply<'_>) -> Result<bool, FailureExplanation> {
        let s1 = self.s1();
        let Some(chosen) = self.chosen.as_mut() else { return Err(FailureExplanation::INCORRECT_PROTOCOL_MESSAGE) };
        let hash = chosen.hash;
        if r.t_id != self.t_id || r.response.len() != hash.hash_len() {
            return Err(FailureExplanation::INCORRECT_PAYLOAD);
        }
        let ks = match &chosen.key_pair {
            None if r.dh_value.is_empty() => None,
            None => return Err(FailureExplanation::INCORRECT_PAYLOAD),
            Some(pair) => {
                let z = pair
                    .shared_secret(r.dh_value, self.auth.peer_check)
                    .map_err(|_| FailureExplanation::DH_GROUP_NOT_USABLE)?;
                Some(session_key(hash, &z))
            }
        };
        if r.challenge.is_some() && r.seqnum == 0 {
            // S2 = 0 with C2 means "C2 for a secure channel PSK only", and this controller has no secure channel.
            return Err(FailureExplanation::INCORRECT_PAYLOAD);
        }
        let tx = Transaction {
            hash,
            t_id: self.t_id,
            sc_c: SecureChannel::NONE,
            host_nqn: self.auth.host_nqn.as_str(),
            subsys_nqn: self.auth.subsys_nqn.as_str(),
        };
        let c1 = &self.nonces.challenge[..hash.hash_len()];
        let expected = tx.host_response(&self.auth.host_key, &tx.augmented_challenge(ks.as_ref(), c1), s1);
        if !expected.ct_eq(r.response) {
            return Err(FailureExplanation::FAILED);
        }
        let Some(c2) = r.challenge else { return Ok(false) };
        let Some(kc) = &self.auth.ctrl_key else { return Err(FailureExplanation::FAILED) };
        chosen.r2 = Some(tx.controller_response(kc, &tx.augmented_challenge(ks.as_ref(), c2), r.seqnum));
        chosen.bidirectional = true;
        Ok(true)
    }

    fn s1(&self) -> u32 {
        nonzero_seqnum(self.nonces.seqnum)
    }

    fn emit_challenge(&self, buf: &mut [u8]) -> Result<usize, ReceiveError> {
        let Some(c) = &self.chosen else { return Err(ReceiveError::AllocationTooShort { needed: 0 }) };
        let challenge = Challenge {
            t_id: self.t_id,
            hash_id: c.hash.id(),
            dh_group: c.dh_group,
            seqnum: self.s1(),
            challenge: &self.nonces.challenge[..c.hash.hash_len()],
            dh_value: c.key_pair.as_ref().map_or(&[][..], DhKeyPair::public_value),
        };
        challenge.emit(buf).map_err(|_| ReceiveError::AllocationTooShort { needed: challenge.buffer_len() })
    }

    fn emit_success1(&self, buf: &mut [u8]) -> Result<(usize, bool), ReceiveError> {
        let Some(c) = &self.chosen else { return Err(ReceiveError::AllocationTooShort { needed: 0 }) };
        let s =
            Success1 { t_id: self.t_id, hl: c.hash.hash_len() as u8, response: c.r2.as_ref().map(Digest::as_bytes) };
        let len = s.emit(buf).map_err(|_| ReceiveError::AllocationTooShort { needed: s.buffer_len() })?;
        Ok((len, c.bidirectional))
    }

    fn emit_failure1(&self, buf: &mut [u8], e: FailureExplanation) -> Result<usize, ReceiveError> {
        let f = Failure1::new(self.t_id, e);
        f.emit(buf).map_err(|_| ReceiveError::AllocationTooShort { needed: f.buffer_len() })
    }
}
