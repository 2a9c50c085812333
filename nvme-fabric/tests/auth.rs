//! In-band authentication wired into the host and the controller (spec-notes/auth.md): the host runs a
//! DH-HMAC-CHAP transaction after every Connect whose response sets ATR, the controller sets ATR for a host with a
//! key, answers its queues' other commands with Authentication Required until they authenticate, and refuses
//! unknown hosts.
//!
//! * In memory (`Loopback`): random keys, transforms, hash and group preferences, directions and seeds agree on
//!   every queue, and the namespace then serves I/O (proptest).
//! * Any single wrong input (either key, the transform, the host NQN, no common hash or group, a missing controller
//!   key, one byte of C1, R1, R2 or the T_ID in flight) fails the association with the matching AUTH_Failure1 or
//!   AUTH_Failure2 explanation on both sides, and no controller stays live.
//! * The unauthenticated-command rule, the Authentication commands' own checks, re-authentication, and the step
//!   timeouts of both sides, driven by a raw host (`common::Rig`) or through a tampering network (`common::net`).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::net::{Meta, Net, Verdict};
use common::{Got, HOSTID, HOSTNQN, NQN, Rig};
use nvme_ccr::{Config, Policy};
use nvme_fabric::Instant;
use nvme_fabric::auth::{
    AuthFailure, Authenticated, HashAlg, HostAuth, HostCommand, HostExchange, HostNonces, NonceSource,
};
use nvme_fabric::conn::{CloseCause, ConnId};
use nvme_fabric::controller::{AuthEvent, ControllerFailure, Event, HostEntry, SubsystemConfig};
use nvme_fabric::host::{BringUpStep, HostAuthConfig, HostConfig, Io, PathFailure, RefusedReason};
use nvme_fabric::loopback::Loopback;
use nvme_proto::auth::{DhGroupId, DhchapSecret, FailureExplanation, FailureReason, HashId, SecretTransform};
use nvme_proto::cmd::{
    Authentication, ConnectResponse, FabricsType, Identify, PropertyGet, PropertyOffset, ReadWrite, SglDescriptor, Sqe,
    Status, StatusCode,
};
use nvme_proto::tcp::{C2HData, CapsuleCmd, Pdu};
use proptest::prelude::*;

fn secret(transform: u8, fill: u8) -> DhchapSecret {
    DhchapSecret::new(SecretTransform(transform), &[fill; 32]).unwrap()
}

/// A different secret with the same transform and length.
fn other(s: &DhchapSecret) -> DhchapSecret {
    let mut b = s.secret().to_vec();
    b[0] ^= 1;
    DhchapSecret::new(s.transform(), &b).unwrap()
}

/// The subsystem: a 1 MiB namespace, only `hosts` allowed, a fixed nonce seed.
fn sub_cfg(hosts: Vec<HostEntry>) -> SubsystemConfig {
    let mut cfg = Rig::small_cfg();
    cfg.hosts = hosts;
    cfg.allow_any_host = false;
    cfg.auth.seed = [0x5C; 32];
    cfg
}

/// The host: one path, 2 I/O queues, `legacy` (nothing to recover to), reconnects far away.
fn host_cfg(auth: Option<HostAuthConfig>) -> HostConfig {
    let mut h = HostConfig::new(NQN, HOSTNQN, HOSTID, Config::new(Policy::Legacy));
    h.auth = auth;
    h.reconnect_delay = Duration::from_secs(3600);
    h
}

fn host_auth(key: &DhchapSecret, ctrl: Option<&DhchapSecret>) -> HostAuthConfig {
    HostAuthConfig::new(key.clone(), ctrl.cloned(), [0xA7; 32])
}

fn auth_events(lo: &Loopback) -> Vec<AuthEvent> {
    lo.auth_events.clone()
}

/// The qids that authenticated, in order, with what they agreed.
fn authenticated(events: &[AuthEvent]) -> Vec<(u16, Authenticated)> {
    events
        .iter()
        .filter_map(|e| match e {
            AuthEvent::Authenticated { qid, result, .. } => Some((*qid, *result)),
            _ => None,
        })
        .collect()
}

fn path_failures(lo: &Loopback) -> Vec<PathFailure> {
    lo.host_events
        .iter()
        .filter_map(|e| match e {
            nvme_fabric::host::HostEvent::PathFailed { failure, .. } => Some(*failure),
            _ => None,
        })
        .collect()
}

/// Writes 4 KiB at block 8 and reads it back through the host.
fn write_read_back(lo: &mut Loopback, fill: u8) {
    let data: Arc<[u8]> = vec![fill; 4096].into();
    lo.host.submit(lo.now, Io::Write { slba: 8, data: data.clone() }).unwrap();
    lo.pump().unwrap();
    lo.host.submit(lo.now, Io::Read { slba: 8, blocks: 8 }).unwrap();
    lo.pump().unwrap();
    assert_eq!(lo.done.len(), 2, "{:?}", lo.done);
    assert!(lo.done[0].result.is_ok(), "{:?}", lo.done[0]);
    assert_eq!(&lo.done[1].result.as_ref().unwrap().data[..], &data[..]);
    assert_eq!(&lo.media[8 * 512..8 * 512 + 4096], &data[..]);
}

// ---------------------------------------------------------------------------------------------------------------
// Both sides in memory

#[test]
fn a_host_with_its_key_authenticates_every_queue_and_does_io() {
    let key = secret(1, 0x11);
    let ctrl = secret(2, 0x22);
    let sub = sub_cfg(vec![HostEntry::with_key(HOSTNQN, key.clone(), Some(ctrl.clone()))]);
    let mut lo = Loopback::new(sub, host_cfg(Some(host_auth(&key, Some(&ctrl)))), 1).unwrap();
    lo.start().unwrap();
    assert_eq!(lo.live_paths(), 1, "{:?}", lo.host_events);
    let events = auth_events(&lo);
    let want = Authenticated { hash: HashAlg::Sha512, dh_group: DhGroupId::FFDHE3072, bidirectional: true };
    // The controller's defaults: SHA-512 and ffdhe3072 first; the host offers everything, as Linux.
    assert_eq!(authenticated(&events), [(0, want), (1, want), (2, want)]);
    let required = events.iter().filter(|e| matches!(e, AuthEvent::Required { .. })).count();
    assert_eq!(required, 3);
    write_read_back(&mut lo, 0x3C);
}

/// What a random run configures.
#[derive(Clone, Debug)]
struct Setup {
    key: DhchapSecret,
    ctrl_key: DhchapSecret,
    bidirectional: bool,
    host_hashes: Vec<HashId>,
    ctrl_hashes: Vec<HashId>,
    host_groups: Vec<DhGroupId>,
    ctrl_groups: Vec<DhGroupId>,
    host_seed: [u8; 32],
    sub_seed: [u8; 32],
}

fn any_secret() -> impl Strategy<Value = DhchapSecret> {
    (0u8..=3, prop::sample::select(vec![32usize, 48, 64]), prop::collection::vec(any::<u8>(), 64))
        .prop_map(|(t, len, bytes)| DhchapSecret::new(SecretTransform(t), &bytes[..len]).unwrap())
}

fn any_hashes() -> impl Strategy<Value = Vec<HashId>> {
    prop::sample::subsequence(HashId::ALL.to_vec(), 1..=3).prop_shuffle()
}

/// Group lists: NULL and the two smaller groups often; the large ones now and then (three exchanges of ffdhe8192
/// per association cost seconds unoptimised).
fn any_groups() -> impl Strategy<Value = Vec<DhGroupId>> {
    let small = vec![DhGroupId::NULL, DhGroupId::FFDHE2048, DhGroupId::FFDHE3072];
    let large = vec![DhGroupId::FFDHE4096, DhGroupId::FFDHE6144, DhGroupId::FFDHE8192];
    prop_oneof![
        8 => prop::sample::subsequence(small.clone(), 1..=3).prop_shuffle(),
        1 => (prop::sample::select(large), prop::sample::subsequence(small, 0..=2))
            .prop_map(|(l, mut s)| { s.insert(0, l); s }),
    ]
}

fn any_setup() -> impl Strategy<Value = Setup> {
    (
        (any_secret(), any_secret(), any::<bool>()),
        (any_hashes(), any_hashes(), any_groups(), any_groups()),
        (prop::array::uniform32(any::<u8>()), prop::array::uniform32(any::<u8>())),
    )
        .prop_filter("a common hash and group", |(_, (hh, ch, hg, cg), _)| {
            hh.iter().any(|h| ch.contains(h)) && hg.iter().any(|g| cg.contains(g))
        })
        .prop_map(
            |((key, ctrl_key, bidirectional), (host_hashes, ctrl_hashes, host_groups, ctrl_groups), (hs, ss))| Setup {
                key,
                ctrl_key,
                bidirectional,
                host_hashes,
                ctrl_hashes,
                host_groups,
                ctrl_groups,
                host_seed: hs,
                sub_seed: ss,
            },
        )
}

impl Setup {
    fn loopback(&self) -> Loopback {
        let mut sub = sub_cfg(vec![HostEntry::with_key(HOSTNQN, self.key.clone(), Some(self.ctrl_key.clone()))]);
        sub.auth.hashes = self.ctrl_hashes.clone();
        sub.auth.dh_groups = self.ctrl_groups.clone();
        sub.auth.seed = self.sub_seed;
        let mut a =
            HostAuthConfig::new(self.key.clone(), self.bidirectional.then(|| self.ctrl_key.clone()), self.host_seed);
        a.hashes = self.host_hashes.clone();
        a.dh_groups = self.host_groups.clone();
        let mut h = host_cfg(Some(a));
        // Unoptimised ffdhe8192 on every queue, both sides: give the bring-up room.
        h.connect_timeout = Duration::from_secs(60);
        Loopback::new(sub, h, 1).unwrap()
    }

    fn expected(&self) -> Authenticated {
        let hash = *self.ctrl_hashes.iter().find(|h| self.host_hashes.contains(h)).unwrap();
        let dh_group = *self.ctrl_groups.iter().find(|g| self.host_groups.contains(g)).unwrap();
        Authenticated { hash: HashAlg::from_id(hash).unwrap(), dh_group, bidirectional: self.bidirectional }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Random keys (every transform and length), hash and group preferences on both sides, directions and seeds:
    /// the admin queue and both I/O queues authenticate with the controller's first preference the host offers,
    /// the path goes live and the namespace serves a write and its read-back.
    #[test]
    fn host_and_controller_agree_in_memory(setup in any_setup()) {
        let mut lo = setup.loopback();
        lo.start().unwrap();
        prop_assert_eq!(lo.live_paths(), 1, "{:?}", lo.host_events);
        let want = setup.expected();
        prop_assert_eq!(authenticated(&auth_events(&lo)), vec![(0, want), (1, want), (2, want)]);
        write_read_back(&mut lo, 0x77);
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Any single wrong input

/// How a refused association ended, seen from both sides.
#[derive(Debug)]
struct Refusal {
    host: Vec<PathFailure>,
    ctrl: Vec<AuthEvent>,
    ctrl_failed: Vec<ControllerFailure>,
}

fn refusal(lo: &Loopback) -> Refusal {
    assert_eq!(lo.live_paths(), 0, "{:?}", lo.host_events);
    assert!(lo.sub.controllers().all(|(_, live)| !live), "a controller stayed live");
    Refusal {
        host: path_failures(lo),
        ctrl: auth_events(lo).into_iter().filter(|e| !matches!(e, AuthEvent::Required { .. })).collect(),
        ctrl_failed: lo
            .sub_events
            .iter()
            .filter_map(|e| match e {
                Event::ControllerFailed { cause, .. } => Some(*cause),
                _ => None,
            })
            .collect(),
    }
}

fn run_refused(entry: HostEntry, auth: Option<HostAuthConfig>, tweak: impl FnOnce(&mut SubsystemConfig)) -> Refusal {
    let mut sub = sub_cfg(vec![entry]);
    tweak(&mut sub);
    let mut lo = Loopback::new(sub, host_cfg(auth), 1).unwrap();
    lo.start().unwrap();
    refusal(&lo)
}

const FAILED: FailureExplanation = FailureExplanation::FAILED;
const RC: FailureReason = FailureReason::AUTHENTICATION_FAILURE;

fn peer(explanation: FailureExplanation) -> AuthFailure {
    AuthFailure::PeerFailed { reason: RC, explanation }
}

/// The controller refused queue 0 with Failure1 `e`: the host saw it, the controller closed the admin queue with
/// that cause and failed the controller.
fn assert_controller_refused(r: &Refusal, e: FailureExplanation) {
    assert_eq!(r.host, [PathFailure::Authentication { qid: 0, failure: peer(e) }], "{r:?}");
    let mine = AuthFailure::Rejected(e);
    assert!(matches!(r.ctrl[..], [AuthEvent::Failed { qid: 0, failure, .. }] if failure == mine), "{r:?}");
    let lost = ControllerFailure::AdminConnectionLost(CloseCause::AuthenticationFailed(mine));
    assert_eq!(r.ctrl_failed, [lost], "{r:?}");
}

/// The host refused queue 0 with Failure2 `e`; the controller took it and failed.
fn assert_host_refused(r: &Refusal, e: FailureExplanation) {
    assert_eq!(r.host, [PathFailure::Authentication { qid: 0, failure: AuthFailure::Rejected(e) }], "{r:?}");
    assert!(matches!(r.ctrl[..], [AuthEvent::Failed { qid: 0, failure, .. }] if failure == peer(e)), "{r:?}");
    assert_eq!(r.ctrl_failed, [ControllerFailure::AdminConnectionLost(CloseCause::AuthenticationFailed(peer(e)))]);
}

#[test]
fn a_wrong_host_key_or_transform_is_refused_by_the_controller_with_failure1_failed() {
    let key = secret(1, 0x11);
    let r = run_refused(HostEntry::with_key(HOSTNQN, key.clone(), None), Some(host_auth(&other(&key), None)), |_| {});
    assert_controller_refused(&r, FAILED);
    // The same bytes under another transform give another key.
    let r =
        run_refused(HostEntry::with_key(HOSTNQN, key.clone(), None), Some(host_auth(&secret(2, 0x11), None)), |_| {});
    assert_controller_refused(&r, FAILED);
}

#[test]
fn a_wrong_controller_key_is_refused_by_the_host_with_failure2_failed() {
    let (key, ctrl) = (secret(0, 1), secret(3, 2));
    let entry = HostEntry::with_key(HOSTNQN, key.clone(), Some(ctrl.clone()));
    let r = run_refused(entry, Some(host_auth(&key, Some(&other(&ctrl)))), |_| {});
    assert_host_refused(&r, FAILED);
}

#[test]
fn a_host_asking_a_controller_without_a_controller_key_is_refused() {
    let key = secret(1, 3);
    let r = run_refused(HostEntry::with_key(HOSTNQN, key.clone(), None), Some(host_auth(&key, Some(&key))), |_| {});
    assert_controller_refused(&r, FAILED);
}

#[test]
fn no_common_hash_or_group_is_refused_with_its_explanation() {
    let key = secret(1, 4);
    let entry = HostEntry::with_key(HOSTNQN, key.clone(), None);
    let mut a = host_auth(&key, None);
    a.hashes = vec![HashId::SHA_256];
    let r = run_refused(entry.clone(), Some(a), |s| s.auth.hashes = vec![HashId::SHA_512]);
    assert_controller_refused(&r, FailureExplanation::HASH_NOT_USABLE);
    let mut a = host_auth(&key, None);
    a.dh_groups = vec![DhGroupId::NULL];
    let r = run_refused(entry, Some(a), |s| s.auth.dh_groups = vec![DhGroupId::FFDHE2048]);
    assert_controller_refused(&r, FailureExplanation::DH_GROUP_NOT_USABLE);
}

#[test]
fn an_unknown_host_is_refused_at_connect_with_invalid_host() {
    let key = secret(1, 5);
    let mut h = host_cfg(Some(host_auth(&key, None)));
    h.hostnqn = "nqn.2014-08.org.nvmexpress:uuid:99999999-2222-3333-4444-555555555555".into();
    let mut lo = Loopback::new(sub_cfg(vec![HostEntry::with_key(HOSTNQN, key, None)]), h, 1).unwrap();
    lo.start().unwrap();
    let r = refusal(&lo);
    let invalid_host = Status::new(StatusCode::CONNECT_INVALID_HOST).with_dnr(true);
    assert_eq!(r.host, [PathFailure::BringUpStatus { step: BringUpStep::Connect, status: invalid_host }]);
    assert!(matches!(r.ctrl[..], [AuthEvent::HostRefused { .. }]), "{r:?}");
    assert!(!lo.sub_events.iter().any(|e| matches!(e, Event::ControllerCreated { .. })));
}

#[test]
fn allow_any_host_lets_unknown_hosts_in_without_authentication_but_listed_keys_still_count() {
    let key = secret(1, 6);
    let mut sub = sub_cfg(vec![HostEntry::with_key("nqn.2014-08.org.nvmexpress:uuid:other", key, None)]);
    sub.allow_any_host = true;
    let mut lo = Loopback::new(sub.clone(), host_cfg(None), 1).unwrap();
    lo.start().unwrap();
    assert_eq!(lo.live_paths(), 1);
    assert!(auth_events(&lo).is_empty());
    // The listed host itself, without its key: ATR, and the host has nothing to answer with.
    let mut h = host_cfg(None);
    h.hostnqn = "nqn.2014-08.org.nvmexpress:uuid:other".into();
    let mut lo = Loopback::new(sub, h, 1).unwrap();
    lo.start().unwrap();
    assert_eq!(path_failures(&lo), [PathFailure::Refused(RefusedReason::AuthenticationRequired)]);
}

#[test]
fn any_host_key_makes_every_unlisted_host_authenticate() {
    let key = secret(3, 0x61);
    let mut sub = sub_cfg(vec![]);
    sub.allow_any_host = true;
    sub.any_host_key = Some(key.clone());
    let mut lo = Loopback::new(sub.clone(), host_cfg(Some(host_auth(&key, None))), 1).unwrap();
    lo.start().unwrap();
    assert_eq!(lo.live_paths(), 1, "{:?}", lo.host_events);
    assert_eq!(authenticated(&auth_events(&lo)).len(), 3);
    let mut lo = Loopback::new(sub, host_cfg(Some(host_auth(&other(&key), None))), 1).unwrap();
    lo.start().unwrap();
    assert_controller_refused(&refusal(&lo), FAILED);
}

#[test]
fn a_host_without_a_key_is_refused_when_the_controller_asks() {
    let r = run_refused(HostEntry::with_key(HOSTNQN, secret(0, 7), None), None, |_| {});
    assert_eq!(r.host, [PathFailure::Refused(RefusedReason::AuthenticationRequired)]);
}

/// The first AUTH message of `id` (AUTH_Type 1) in a PDU's data, if the PDU carries one.
fn auth_message(pdu: &Pdu<'_>, id: u8) -> bool {
    let data = match pdu {
        Pdu::CapsuleCmd(c) => c.data,
        Pdu::C2HData(d) => d.data,
        _ => return false,
    };
    data.len() > 16 && data[0] == 1 && data[1] == id
}

/// A PDU with one byte of its data flipped at `at`.
fn flipped(meta: &Meta, pdu: &Pdu<'_>, at: usize) -> Vec<u8> {
    let mut data = match pdu {
        Pdu::CapsuleCmd(c) => c.data.to_vec(),
        Pdu::C2HData(d) => d.data.to_vec(),
        _ => unreachable!(),
    };
    data[at] ^= 0x80;
    let out = match pdu {
        Pdu::CapsuleCmd(c) => Pdu::CapsuleCmd(CapsuleCmd { sqe: c.sqe, data: &data }),
        Pdu::C2HData(d) => Pdu::C2HData(C2HData { data: &data, ..*d }),
        _ => unreachable!(),
    };
    common::encode(&out, &meta.params)
}

/// Runs an association through a network that flips byte `at` of the first message `id` going `up` (host to
/// controller) or down, on queue `qid`.
fn tampered(up: bool, id: u8, at: usize, qid: u16, bidirectional: bool) -> (Net, Vec<AuthEvent>) {
    let key = secret(1, 8);
    let ctrl = secret(1, 9);
    let sub = sub_cfg(vec![HostEntry::with_key(HOSTNQN, key.clone(), Some(ctrl.clone()))]);
    let mut n = Net::new(sub, host_cfg(Some(host_auth(&key, bidirectional.then_some(&ctrl)))), 1);
    let mut done = false;
    let filter: common::net::Filter = Box::new(move |meta: &Meta, pdu: &Pdu<'_>| {
        if done || meta.qid != Some(qid) || !auth_message(pdu, id) {
            return Verdict::Pass;
        }
        done = true;
        Verdict::Replace(flipped(meta, pdu, at))
    });
    if up {
        n.up_filter = Some(filter);
    } else {
        n.down_filter = Some(filter);
    }
    n.start();
    let events = std::iter::from_fn(|| n.subs[0].poll_auth_event()).collect();
    (n, events)
}

fn failed_on(events: &[AuthEvent]) -> Vec<(u16, AuthFailure)> {
    events
        .iter()
        .filter_map(|e| match e {
            AuthEvent::Failed { qid, failure, .. } => Some((*qid, *failure)),
            _ => None,
        })
        .collect()
}

#[test]
fn one_byte_of_c1_r1_r2_or_the_t_id_changed_in_flight_fails_the_exchange() {
    const CHALLENGE: u8 = 1;
    const REPLY: u8 = 2;
    const SUCCESS1: u8 = 3;
    // C1 (byte 16 of the Challenge): the host's R1 is over another challenge; the controller refuses it.
    let (n, ev) = tampered(false, CHALLENGE, 16, 0, false);
    assert_eq!(n.failures(), [(0, PathFailure::Authentication { qid: 0, failure: peer(FAILED) })]);
    assert_eq!(failed_on(&ev), [(0, AuthFailure::Rejected(FAILED))]);
    // R1 (byte 16 of the Reply).
    let (n, ev) = tampered(true, REPLY, 16, 0, false);
    assert_eq!(n.failures(), [(0, PathFailure::Authentication { qid: 0, failure: peer(FAILED) })]);
    assert_eq!(failed_on(&ev), [(0, AuthFailure::Rejected(FAILED))]);
    // R2 (byte 16 of Success1): the host refuses with Failure2 0x01.
    let (n, ev) = tampered(false, SUCCESS1, 16, 0, true);
    assert_eq!(n.failures(), [(0, PathFailure::Authentication { qid: 0, failure: AuthFailure::Rejected(FAILED) })]);
    assert_eq!(failed_on(&ev), [(0, peer(FAILED))]);
    // The T_ID of the Challenge (byte 4): the host refuses with Failure2 0x06 (Incorrect Payload).
    let (n, ev) = tampered(false, CHALLENGE, 4, 0, false);
    let payload = FailureExplanation::INCORRECT_PAYLOAD;
    assert_eq!(n.failures(), [(0, PathFailure::Authentication { qid: 0, failure: AuthFailure::Rejected(payload) })]);
    assert_eq!(failed_on(&ev), [(0, peer(payload))]);
}

#[test]
fn an_io_queue_that_fails_fails_the_association_and_closes_only_its_own_connection_first() {
    let (n, ev) = tampered(true, 2, 20, 1, false);
    assert_eq!(n.failures(), [(0, PathFailure::Authentication { qid: 1, failure: peer(FAILED) })]);
    assert_eq!(failed_on(&ev), [(1, AuthFailure::Rejected(FAILED))]);
    // The controller closed queue 1 for the failure, not the controller; the host then tore the association down.
    let closes: Vec<CloseCause> = n
        .trace
        .iter()
        .filter_map(|t| match t {
            common::net::Trace::SubClose { cause, .. } => Some(*cause),
            _ => None,
        })
        .collect();
    assert_eq!(closes.first(), Some(&CloseCause::AuthenticationFailed(AuthFailure::Rejected(FAILED))), "{closes:?}");
    assert_eq!(n.live_paths(), 0);
    assert!(n.subs[0].controllers().all(|(_, live)| !live));
}

// ---------------------------------------------------------------------------------------------------------------
// The controller's rules, driven by a raw host

fn dnr(code: StatusCode) -> Status {
    Status::new(code).with_dnr(true)
}

/// A subsystem requiring `key` from HOSTNQN; an admin queue connected (ATR checked). Returns (rig, conn, cntlid).
fn rig_with_admin(ctrl_key: Option<DhchapSecret>) -> (Rig, ConnId, u16) {
    let mut r = Rig::new(sub_cfg(vec![HostEntry::with_key(HOSTNQN, secret(1, 0x42), ctrl_key)]));
    let c = r.accept();
    r.ic(c, false, false);
    let cqe = r.connect(c, &nvme_proto::cmd::Connect::admin(0), 0xFFFF);
    assert!(cqe.status.is_success(), "{cqe:?}");
    let resp = ConnectResponse::from_dw0(cqe.dw0);
    assert!(resp.authentication_required(), "ATR expected: {cqe:?}");
    (r, c, resp.cntlid)
}

fn creds(t_id: u16) -> HostExchange {
    let auth = HostAuth::new(HOSTNQN, NQN, &secret(1, 0x42), None).unwrap();
    let nonces = HostNonces { challenge: [t_id as u8; 64], dh_private: [0x33; 64], seqnum: 9 };
    HostExchange::new(Instant::ZERO, auth, t_id, nonces)
}

/// Sends one Authentication command on `c`; returns its status and the data it brought back.
fn auth_cmd(r: &mut Rig, c: ConnId, cid: u16, cmd: HostCommand, msg: &[u8]) -> (Status, Vec<u8>) {
    match cmd {
        HostCommand::Send { len } => {
            r.command(c, &Authentication::dhchap_send(len as u32).to_sqe(cid), &msg[..len]);
        }
        HostCommand::Receive { al } => {
            r.command(c, &Authentication::dhchap_receive(al).to_sqe(cid), &[]);
        }
    }
    let got = r.take(c);
    let data: Vec<u8> = got
        .iter()
        .filter_map(|g| if let Got::C2H { data, .. } = g { Some(data.clone()) } else { None })
        .flatten()
        .collect();
    match got.last() {
        Some(Got::Resp(cqe)) => (cqe.status, data),
        other => panic!("a response expected: {other:?} ({got:?})"),
    }
}

/// Runs `ex` to its end over `c`, as our host does.
fn authenticate(r: &mut Rig, c: ConnId, ex: &mut HostExchange) {
    let mut buf = vec![0u8; 4096];
    let mut cid = 100;
    while let Some(cmd) = ex.poll_command(r.now, &mut buf).unwrap() {
        cid += 1;
        let (st, data) = auth_cmd(r, c, cid, cmd, &buf);
        assert!(st.is_success(), "{st:?}");
        match cmd {
            HostCommand::Send { .. } => ex.handle_send_complete(r.now),
            HostCommand::Receive { .. } => ex.handle_receive_complete(r.now, &data),
        }
    }
}

/// The status `sqe` is answered with (after any data).
fn status(r: &mut Rig, c: ConnId, sqe: &Sqe, data: &[u8]) -> Status {
    r.command(c, sqe, data);
    match r.take(c).last() {
        Some(Got::Resp(cqe)) => cqe.status,
        other => panic!("a response expected, got {:?}", other.map(|_| "something else")),
    }
}

fn identify(cid: u16) -> Sqe {
    let mut sqe = Identify::controller().to_sqe(cid);
    sqe.dptr = SglDescriptor::transport_data(4096);
    sqe
}

fn read(cid: u16) -> Sqe {
    ReadWrite::new(1, 0, 1, 512).unwrap().to_read_sqe(cid)
}

#[test]
fn until_a_queue_authenticates_its_other_commands_get_authentication_required() {
    let (mut r, a, cntlid) = rig_with_admin(None);
    let required = dnr(StatusCode::AUTHENTICATION_REQUIRED);
    assert_eq!(status(&mut r, a, &identify(1), &[]), required);
    assert_eq!(status(&mut r, a, &nvme_proto::cmd::KeepAlive.to_sqe(2), &[]), required);
    // Fabrics commands are served (as nvmet): Property Get CAP.
    assert!(status(&mut r, a, &PropertyGet::new(PropertyOffset::CAP).to_sqe(3), &[]).is_success());
    // An I/O queue of this controller: ATR too, and I/O refused until it authenticates.
    let io = r.accept();
    r.ic(io, false, false);
    let cqe = r.connect(io, &nvme_proto::cmd::Connect::io(1, 31), cntlid);
    assert!(cqe.status.is_success() && ConnectResponse::from_dw0(cqe.dw0).authentication_required());
    assert_eq!(status(&mut r, io, &read(1), &[]), required);
    // The admin queue authenticates: Identify works; the I/O queue is still refused.
    authenticate(&mut r, a, &mut creds(0));
    assert_eq!(status(&mut r, a, &identify(4), &[]), Status::SUCCESS);
    assert_eq!(status(&mut r, io, &read(2), &[]), required);
    authenticate(&mut r, io, &mut creds(1));
    assert_eq!(status(&mut r, io, &read(3), &[]), Status::SUCCESS);
    let qids: Vec<u16> = std::iter::from_fn(|| r.sub.poll_auth_event())
        .filter_map(|e| if let AuthEvent::Authenticated { qid, .. } = e { Some(qid) } else { None })
        .collect();
    assert_eq!(qids, [0, 1]);
}

#[test]
fn a_new_negotiate_reauthenticates_and_the_queue_stays_usable_meanwhile() {
    let (mut r, a, _) = rig_with_admin(None);
    authenticate(&mut r, a, &mut creds(0));
    // Re-authentication (Linux: a new key written to sysfs): Negotiate with a new T_ID, then an Identify before the
    // transaction ends, which is still served.
    let mut ex = creds(7);
    let mut buf = vec![0u8; 4096];
    let cmd = ex.poll_command(r.now, &mut buf).unwrap().unwrap();
    assert!(auth_cmd(&mut r, a, 50, cmd, &buf).0.is_success());
    ex.handle_send_complete(r.now);
    assert_eq!(status(&mut r, a, &identify(51), &[]), Status::SUCCESS);
    authenticate(&mut r, a, &mut ex);
    assert!(ex.outcome().unwrap().is_ok());
    let n = std::iter::from_fn(|| r.sub.poll_auth_event()).filter(|e| matches!(e, AuthEvent::Authenticated { .. }));
    assert_eq!(n.count(), 2);
}

#[test]
fn authentication_commands_are_checked_before_their_data() {
    let (mut r, a, _) = rig_with_admin(None);
    // SECP not 0xE9, SPSP0 not 1, TL 0: Invalid Field.
    let mut bad = Authentication::dhchap_send(8);
    bad.secp = 0xEA;
    assert_eq!(status(&mut r, a, &bad.to_sqe(1), &[0; 8]), dnr(StatusCode::INVALID_FIELD));
    let mut bad = Authentication::dhchap_receive(4096);
    bad.spsp0 = 0;
    assert_eq!(status(&mut r, a, &bad.to_sqe(2), &[]), dnr(StatusCode::INVALID_FIELD));
    // TL different from the data: Data SGL Length Invalid.
    let mut sqe = Authentication::dhchap_send(16).to_sqe(3);
    sqe.dptr = SglDescriptor::in_capsule(0, 8);
    assert_eq!(status(&mut r, a, &sqe, &[0; 8]), dnr(StatusCode::DATA_SGL_LENGTH_INVALID));
    // A Receive beyond MDTS (1 MiB): Invalid Field, nothing allocated.
    let al = (2 << 20) as u32;
    assert_eq!(status(&mut r, a, &Authentication::dhchap_receive(al).to_sqe(4), &[]), dnr(StatusCode::INVALID_FIELD));
    // None of this touched the transaction: it still authenticates.
    authenticate(&mut r, a, &mut creds(0));
    assert_eq!(status(&mut r, a, &identify(5), &[]), Status::SUCCESS);
}

#[test]
fn a_receive_out_of_step_gets_failure1_and_the_admin_queue_closes_failing_the_controller() {
    let (mut r, a, cntlid) = rig_with_admin(None);
    let (st, data) = auth_cmd(&mut r, a, 1, HostCommand::Receive { al: 4096 }, &[]);
    assert!(st.is_success());
    assert_eq!(data.len(), 4096, "the answer is AL bytes");
    assert_eq!((data[0], data[1], data[6], data[7]), (0, 0xF1, 0x01, 0x07), "Failure1, RC 1, RCE 7");
    assert!(data[8..].iter().all(|&b| b == 0), "padded with zeros");
    let out_of_step = AuthFailure::Rejected(FailureExplanation::INCORRECT_PROTOCOL_MESSAGE);
    assert_eq!(r.closed(a), Some(CloseCause::AuthenticationFailed(out_of_step)));
    assert!(r.sub.controllers().all(|(id, live)| id != cntlid || !live));
}

#[test]
fn a_queue_that_never_authenticates_is_closed_at_the_step_timeout() {
    let (mut r, a, _) = rig_with_admin(None);
    r.advance(Duration::from_millis(9_999));
    assert_eq!(r.closed(a), None);
    r.advance(Duration::from_millis(1));
    assert_eq!(r.closed(a), Some(CloseCause::AuthenticationFailed(AuthFailure::Timeout)));
    assert!(r.events.iter().any(|e| matches!(e, Event::ControllerFailed { .. })));
    assert_eq!(r.sub.poll_timeout(), None, "no timer left");
}

#[test]
fn the_host_fails_a_step_the_controller_never_answers_at_its_step_timeout() {
    let key = secret(1, 10);
    let sub = sub_cfg(vec![HostEntry::with_key(HOSTNQN, key.clone(), None)]);
    let mut a = host_auth(&key, None);
    a.step_timeout = Duration::from_secs(2);
    let mut h = host_cfg(Some(a));
    h.connect_timeout = Duration::from_secs(30);
    let mut n = Net::new(sub, h, 1);
    // Drop every answer to an Authentication Receive.
    n.down_filter = Some(Box::new(|meta: &Meta, _: &Pdu<'_>| match meta.cmd {
        Some(sqe) if sqe.opcode == 0x7F && FabricsType(sqe.fctype()) == FabricsType::AUTH_RECEIVE => Verdict::Drop,
        _ => Verdict::Pass,
    }));
    n.start();
    let t0 = n.now;
    assert!(n.run_until(Duration::from_millis(100), Duration::from_secs(5), |n| !n.failures().is_empty()));
    assert_eq!(n.failures(), [(0, PathFailure::Authentication { qid: 0, failure: AuthFailure::Timeout })]);
    let took = n.now.saturating_duration_since(t0);
    assert!(took >= Duration::from_secs(2) && took < Duration::from_millis(2200), "{took:?}");
}

#[test]
fn configurations_are_checked() {
    use nvme_fabric::controller::{ConfigError, Subsystem};
    let key = secret(0, 1);
    let mut s = sub_cfg(vec![HostEntry::new(HOSTNQN), HostEntry::new(HOSTNQN)]);
    assert_eq!(Subsystem::new(s.clone(), 1).err(), Some(ConfigError::Hosts));
    s.hosts = vec![HostEntry { nqn: HOSTNQN.into(), key: None, ctrl_key: Some(key.clone()) }];
    assert_eq!(Subsystem::new(s.clone(), 1).err(), Some(ConfigError::Hosts));
    s.hosts = vec![];
    s.any_host_ctrl_key = Some(key.clone());
    assert_eq!(Subsystem::new(s.clone(), 1).err(), Some(ConfigError::Hosts));
    s.any_host_ctrl_key = None;
    s.hosts = vec![HostEntry::with_key(HOSTNQN, key.clone(), None)];
    s.auth.dh_groups = vec![DhGroupId(9)];
    assert_eq!(Subsystem::new(s, 1).err(), Some(ConfigError::Auth));
    let mut a = host_auth(&key, None);
    a.hashes = vec![];
    let e = nvme_fabric::host::Host::new(host_cfg(Some(a)), 1).err();
    assert!(matches!(e, Some(nvme_fabric::host::HostConfigError::Auth(_))), "{e:?}");
    // Secrets never print.
    let dbg = format!("{:?} {:?}", host_auth(&key, Some(&key)), HostEntry::with_key(HOSTNQN, key.clone(), None));
    assert!(dbg.contains("DHHC-1:00:<redacted>") && !dbg.contains("AQEB"), "{dbg}");
    assert_eq!(format!("{:?}", NonceSource::new([1; 32])), "NonceSource { drawn: 0, .. }");
}
