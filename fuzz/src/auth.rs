//! Harness of the `auth_exchange` fuzz target: arbitrary authentication messages fed to nvme-fabric's two
//! DH-HMAC-CHAP exchanges.
//!
//! This file is shared by the cargo-fuzz target (`fuzz/fuzz_targets/auth_exchange.rs`) and by the stable replay
//! test `nvme-fabric/tests/auth_fuzz_corpus.rs`, which includes it with `#[path]`; so it uses nothing but
//! `nvme_fabric`, `nvme_proto` and `std`.
//!
//! Input: byte 0 chooses the setup (bit 0: which side is fed, 0 the controller, 1 the host; bit 1: the DH group,
//! NULL or ffdhe2048; bits 3:2: the hash; bit 4: whether the controller holds a key of its own). Then records of
//! `op` (1 byte), `len` (2 bytes, little-endian, at most [`MAX_RECORD`]) and, for op 0, `len` bytes:
//!
//! | op % 4 | controller fed | host fed |
//! |---|---|---|
//! | 0 | the bytes as an Authentication Send's data | the bytes as the data of the host's outstanding Receive |
//! | 1 | an Authentication Receive of AL = `len` | `poll_command` into a buffer of `len` bytes, then the Send completes |
//! | 2 | time advances by `len` ms, then `handle_timeout` | the same |
//! | 3 | (as 1) | the outstanding command fails |
//!
//! Checks: nothing panics; the controller is never authenticated, because no input here can carry a valid R1 (its
//! host key is one the input never sees, nonces are fixed) — likewise the host, which always asks for R2; every
//! message a side produces parses as one of the messages that side may send, with the transaction's T_ID once it
//! has one; a refused message always yields the refusal's AUTH_Failure (with an explanation this crate names); the
//! deadline never moves backwards and disappears exactly when the exchange is over.

use nvme_fabric::Instant;
use nvme_fabric::auth::{
    AuthFailure, ControllerAuth, ControllerExchange, ControllerNonces, HostAuth, HostCommand, HostExchange, HostNonces,
    ReceiveError, SendOutcome,
};
use nvme_proto::auth::{AuthMessage, DhGroupId, DhchapSecret, HashId, SecretTransform};
use std::time::Duration;

/// The largest record.
pub const MAX_RECORD: usize = 4096;
/// Most records run per input.
const MAX_RECORDS: usize = 64;

const HOSTNQN: &str = "nqn.2014-08.org.nvmexpress:uuid:fuzz";
const SUBNQN: &str = "nqn.2026-12.io.example:fuzz";

/// The setup byte, decoded.
#[derive(Clone, Copy, Debug)]
pub struct Setup {
    /// Feed the host (else the controller).
    pub host: bool,
    /// The DH group both sides allow.
    pub group: DhGroupId,
    /// The hash both sides allow.
    pub hash: HashId,
    /// Whether the controller holds a key of its own.
    pub ctrl_key: bool,
}

impl Setup {
    /// Decodes byte 0.
    pub fn from_byte(b: u8) -> Self {
        Self {
            host: b & 1 != 0,
            group: if b & 2 != 0 { DhGroupId::FFDHE2048 } else { DhGroupId::NULL },
            hash: HashId::ALL[usize::from((b >> 2) & 3) % 3],
            ctrl_key: b & 0x10 != 0,
        }
    }

    /// The byte.
    pub fn to_byte(self) -> u8 {
        let hash = HashId::ALL.iter().position(|&h| h == self.hash).unwrap_or(0) as u8;
        u8::from(self.host) | u8::from(self.group != DhGroupId::NULL) << 1 | hash << 2 | u8::from(self.ctrl_key) << 4
    }
}

/// One record of the input.
#[derive(Clone, Debug)]
pub enum Record {
    /// Op 0: bytes to feed.
    Data(Vec<u8>),
    /// Op 1: a Receive (controller) or a poll (host), with this buffer length.
    Poll(u16),
    /// Op 2: time advances by this many milliseconds.
    Wait(u16),
    /// Op 3: (host) the outstanding command fails; (controller) as `Poll`.
    Fail(u16),
}

impl Record {
    /// Appends the record's encoding to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::Data(d) => {
                out.push(0);
                out.extend_from_slice(&(d.len() as u16).to_le_bytes());
                out.extend_from_slice(d);
            }
            Self::Poll(n) => out.extend([1, n.to_le_bytes()[0], n.to_le_bytes()[1]]),
            Self::Wait(n) => out.extend([2, n.to_le_bytes()[0], n.to_le_bytes()[1]]),
            Self::Fail(n) => out.extend([3, n.to_le_bytes()[0], n.to_le_bytes()[1]]),
        }
    }
}

fn records(mut data: &[u8]) -> Vec<Record> {
    let mut out = Vec::new();
    while out.len() < MAX_RECORDS {
        let Some((&[op, lo, hi], rest)) = data.split_first_chunk::<3>() else { break };
        let len = usize::from(u16::from_le_bytes([lo, hi])).min(MAX_RECORD);
        data = rest;
        out.push(match op % 4 {
            0 => {
                let n = len.min(data.len());
                let (d, rest) = data.split_at(n);
                data = rest;
                Record::Data(d.to_vec())
            }
            1 => Record::Poll(len as u16),
            2 => Record::Wait(len as u16),
            _ => Record::Fail(len as u16),
        });
    }
    out
}

fn secret(fill: u8) -> DhchapSecret {
    DhchapSecret::new(SecretTransform::SHA_256, &[fill; 32]).expect("a secret")
}

/// Runs one input.
pub fn auth_exchange(data: &[u8]) {
    let Some((&b0, rest)) = data.split_first() else { return };
    let setup = Setup::from_byte(b0);
    let records = records(rest);
    if setup.host {
        feed_host(setup, &records);
    } else {
        feed_controller(setup, &records);
    }
}

fn feed_controller(setup: Setup, records: &[Record]) {
    // The controller's copy of the host key is one no input carries a response for.
    let (host_key, ctrl_key) = (secret(0x3C), secret(0xC3));
    let auth = ControllerAuth::new(HOSTNQN, SUBNQN, &host_key, setup.ctrl_key.then_some(&ctrl_key))
        .expect("valid")
        .with_hashes(&[setup.hash])
        .expect("valid")
        .with_dh_groups(&[setup.group])
        .expect("valid")
        .with_step_timeout(Duration::from_millis(1000));
    let nonces = ControllerNonces { challenge: [0x55; 64], dh_private: [0x66; 64], seqnum: 0x0102_0304 };
    let mut now = Instant::ZERO;
    let mut ctrl = ControllerExchange::new(now, auth, nonces);
    let mut last_deadline = ctrl.poll_timeout();
    for r in records {
        match r {
            Record::Data(d) => match ctrl.handle_send(now, d) {
                SendOutcome::Authenticated(a) => panic!("authenticated by an arbitrary message: {a:?}"),
                SendOutcome::Failed(AuthFailure::Rejected(e)) => {
                    assert!(e.name().is_some(), "unnamed explanation {e:?}");
                    assert!(ctrl.outcome().is_none() || matches!(ctrl.outcome(), Some(Err(_))));
                }
                SendOutcome::Failed(_) | SendOutcome::Accepted | SendOutcome::NewTransaction => {}
            },
            Record::Poll(al) | Record::Fail(al) => {
                let mut buf = vec![0xA5u8; usize::from(*al)];
                match ctrl.poll_receive(now, &mut buf) {
                    Ok(n) => {
                        assert_eq!(n, buf.len(), "the whole allocation length");
                        match AuthMessage::parse(&buf) {
                            Ok(AuthMessage::Challenge(c)) => {
                                assert_eq!((c.hash_id, c.dh_group), (setup.hash, setup.group));
                                assert_eq!(c.dh_value.len(), usize::from(setup.group.value_len().unwrap_or(0)));
                            }
                            Ok(AuthMessage::Success1(_)) => panic!("Success1 without a valid Reply"),
                            Ok(AuthMessage::Failure1(f)) => assert!(f.explanation.name().is_some()),
                            other => panic!("the controller answered a Receive with {other:?}"),
                        }
                    }
                    Err(ReceiveError::AllocationTooShort { needed }) => assert!(needed > buf.len()),
                }
            }
            Record::Wait(ms) => {
                now = now.saturating_add(Duration::from_millis(u64::from(*ms)));
                ctrl.handle_timeout(now);
            }
        }
        assert!(!ctrl.is_authenticated(), "authenticated without a valid R1");
        let deadline = ctrl.poll_timeout();
        assert_eq!(deadline.is_none(), ctrl.outcome().is_some());
        if let (Some(a), Some(b)) = (last_deadline, deadline) {
            assert!(b >= a, "the deadline moved back");
        }
        last_deadline = deadline;
    }
}

fn feed_host(setup: Setup, records: &[Record]) {
    let (host_key, ctrl_key) = (secret(0x3C), secret(0xC3));
    // Always bidirectional: authenticating needs an R2 no input carries.
    let auth = HostAuth::new(HOSTNQN, SUBNQN, &host_key, Some(&ctrl_key))
        .expect("valid")
        .with_hashes(&[setup.hash])
        .expect("valid")
        .with_dh_groups(&[setup.group])
        .expect("valid")
        .with_step_timeout(Duration::from_millis(1000));
    let nonces = HostNonces { challenge: [0x77; 64], dh_private: [0x88; 64], seqnum: 9 };
    let mut now = Instant::ZERO;
    let mut host = HostExchange::new(now, auth, 0x1234, nonces);
    let mut last_deadline = host.poll_timeout();
    for r in records {
        match r {
            Record::Data(d) => host.handle_receive_complete(now, d),
            Record::Poll(len) => {
                let mut buf = vec![0u8; usize::from(*len)];
                if let Ok(Some(HostCommand::Send { len })) = host.poll_command(now, &mut buf) {
                    match AuthMessage::parse(&buf[..len]) {
                        Ok(AuthMessage::Negotiate(n)) => assert_eq!(n.t_id, 0x1234),
                        Ok(AuthMessage::Reply(r)) => {
                            assert_eq!(r.t_id, 0x1234);
                            assert!(r.challenge.is_some(), "bidirectional: C2 is sent");
                        }
                        Ok(AuthMessage::Failure2(f)) => {
                            assert_eq!(f.t_id, 0x1234);
                            assert!(f.explanation.name().is_some());
                        }
                        other => panic!("the host sent {other:?}"),
                    }
                    host.handle_send_complete(now);
                }
            }
            Record::Wait(ms) => {
                now = now.saturating_add(Duration::from_millis(u64::from(*ms)));
                host.handle_timeout(now);
            }
            Record::Fail(_) => host.handle_command_failed(now),
        }
        assert!(!matches!(host.outcome(), Some(Ok(_))), "authenticated without a valid R2");
        let deadline = host.poll_timeout();
        assert_eq!(deadline.is_none(), host.outcome().is_some());
        if let (Some(a), Some(b)) = (last_deadline, deadline) {
            assert!(b >= a, "the deadline moved back");
        }
        last_deadline = deadline;
    }
}
