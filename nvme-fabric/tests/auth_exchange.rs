//! The host's and the controller's DH-HMAC-CHAP exchanges against each other in memory (no queue, no transport):
//! they agree for random keys, hashes and groups; any single wrong input (key, challenge, T_ID, sequence number,
//! NQN, DH value) makes them disagree; every refusal carries the explanation of spec-notes/auth.md §4; timeouts.

use std::time::Duration;

use nvme_fabric::Instant;
use nvme_fabric::auth::{
    AuthConfigError, AuthFailure, Authenticated, ControllerAuth, ControllerExchange, ControllerNonces, HashAlg,
    HostAuth, HostCommand, HostExchange, HostNonces, ReceiveError, SendOutcome,
};
use nvme_proto::auth::{
    AuthMessage, Challenge, DhGroupId, DhchapSecret, Failure1, Failure2, FailureExplanation, FailureReason, HashId,
    MAX_REPLY_LEN, Negotiate, ProtocolDescriptor, Reply, SecretTransform, SecureChannel, Success1, Success2,
};
use proptest::prelude::*;

const HOSTNQN: &str = "nqn.2014-08.org.nvmexpress:uuid:0f0e0d0c-0b0a-0908-0706-050403020100";
const SUBNQN: &str = "nqn.2026-12.io.example:auth";
const T0: Instant = Instant::ZERO;

fn secret(transform: u8, fill: u8) -> DhchapSecret {
    DhchapSecret::new(SecretTransform(transform), &[fill; 32]).unwrap()
}

fn host_nonces(seed: u8) -> HostNonces {
    HostNonces { challenge: [seed; 64], dh_private: [seed.wrapping_add(1) | 1; 64], seqnum: 0x1000 + u32::from(seed) }
}

fn ctrl_nonces(seed: u8) -> ControllerNonces {
    ControllerNonces {
        challenge: [seed ^ 0x5A; 64],
        dh_private: [seed.wrapping_add(3) | 1; 64],
        seqnum: 0x2000 + u32::from(seed),
    }
}

/// Which message is in flight, for a tamperer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Negotiate,
    Challenge,
    Reply,
    Success1,
    Success2,
    Failure,
}

/// Every message that crossed, in order, and how each side ended.
#[derive(Debug)]
struct Run {
    messages: Vec<(Step, Vec<u8>)>,
    host: Option<Result<Authenticated, AuthFailure>>,
    ctrl_authenticated: bool,
    ctrl: Option<Result<Authenticated, AuthFailure>>,
}

/// Shuttles the exchange as a driver would: each AUTH Send's data to the controller, each AUTH Receive's data back
/// to the host, `tamper` seeing (and possibly changing) every message on the way. Stops when the host has nothing
/// more to send; at most 10 commands.
fn run(host: &mut HostExchange, ctrl: &mut ControllerExchange, mut tamper: impl FnMut(Step, &mut Vec<u8>)) -> Run {
    let mut messages = Vec::new();
    let mut buf = vec![0u8; 4096];
    for _ in 0..10 {
        let Some(cmd) = host.poll_command(T0, &mut buf).unwrap() else { break };
        match cmd {
            HostCommand::Send { len } => {
                let mut m = buf[..len].to_vec();
                let step = match AuthMessage::parse(&m) {
                    Ok(AuthMessage::Negotiate(_)) => Step::Negotiate,
                    Ok(AuthMessage::Reply(_)) => Step::Reply,
                    Ok(AuthMessage::Success2(_)) => Step::Success2,
                    _ => Step::Failure,
                };
                tamper(step, &mut m);
                let outcome = ctrl.handle_send(T0, &m);
                assert_ne!(outcome, SendOutcome::NewTransaction);
                messages.push((step, m));
                host.handle_send_complete(T0);
            }
            HostCommand::Receive { al } => {
                assert_eq!(al, 4096);
                let mut data = vec![0xEEu8; al as usize];
                let n = ctrl.poll_receive(T0, &mut data).unwrap();
                assert_eq!(n, 4096, "the whole allocation length, as nvmet");
                let step = match AuthMessage::parse(&data) {
                    Ok(AuthMessage::Challenge(_)) => Step::Challenge,
                    Ok(AuthMessage::Success1(_)) => Step::Success1,
                    _ => Step::Failure,
                };
                tamper(step, &mut data);
                host.handle_receive_complete(T0, &data);
                messages.push((step, data));
            }
        }
    }
    Run { messages, host: host.outcome(), ctrl_authenticated: ctrl.is_authenticated(), ctrl: ctrl.outcome() }
}

fn pair(host_auth: HostAuth, ctrl_auth: ControllerAuth, seed: u8) -> (HostExchange, ControllerExchange) {
    (HostExchange::new(T0, host_auth, 7, host_nonces(seed)), ControllerExchange::new(T0, ctrl_auth, ctrl_nonces(seed)))
}

fn auths(bidirectional: bool, group: DhGroupId) -> (HostAuth, ControllerAuth) {
    let (hk, ck) = (secret(1, 0x11), secret(2, 0x22));
    let h = HostAuth::new(HOSTNQN, SUBNQN, &hk, bidirectional.then_some(&ck)).unwrap();
    let c = ControllerAuth::new(HOSTNQN, SUBNQN, &hk, Some(&ck)).unwrap().with_dh_groups(&[group]).unwrap();
    (h, c)
}

fn failure_of(messages: &[(Step, Vec<u8>)]) -> Option<(u8, FailureExplanation)> {
    messages.iter().find_map(|(_, m)| match AuthMessage::parse(m) {
        Ok(AuthMessage::Failure1(f)) => Some((0xF1, f.explanation)),
        Ok(AuthMessage::Failure2(f)) => Some((0xF0, f.explanation)),
        _ => None,
    })
}

// ---------------------------------------------------------------------------------------------------------------
// Agreement

#[test]
fn unidirectional_null_group() {
    let (h, c) = auths(false, DhGroupId::NULL);
    let (mut host, mut ctrl) = pair(h, c, 1);
    let r = run(&mut host, &mut ctrl, |_, _| {});
    let want = Authenticated { hash: HashAlg::Sha512, dh_group: DhGroupId::NULL, bidirectional: false };
    assert_eq!(r.host, Some(Ok(want)));
    assert_eq!(r.ctrl, Some(Ok(want)));
    let steps: Vec<Step> = r.messages.iter().map(|(s, _)| *s).collect();
    assert_eq!(steps, [Step::Negotiate, Step::Challenge, Step::Reply, Step::Success1]);
    // The Negotiate is Linux's (72 bytes, T_ID 7); the Reply 16 + 2 x 64; Success1 without R2.
    assert_eq!(r.messages[0].1.len(), 72);
    assert_eq!(r.messages[2].1.len(), 16 + 128);
    let Ok(AuthMessage::Success1(s)) = AuthMessage::parse(&r.messages[3].1) else { panic!() };
    assert_eq!((s.hl, s.response), (64, None));
    let Ok(AuthMessage::Reply(reply)) = AuthMessage::parse(&r.messages[2].1) else { panic!() };
    assert_eq!((reply.t_id, reply.challenge, reply.seqnum), (7, None, 0x1001), "non-zero S2 even without C2");
}

#[test]
fn bidirectional_ffdhe2048() {
    let (h, c) = auths(true, DhGroupId::FFDHE2048);
    let (mut host, mut ctrl) = pair(h, c, 2);
    let r = run(&mut host, &mut ctrl, |_, _| {});
    let want = Authenticated { hash: HashAlg::Sha512, dh_group: DhGroupId::FFDHE2048, bidirectional: true };
    assert_eq!((r.host, r.ctrl), (Some(Ok(want)), Some(Ok(want))));
    let steps: Vec<Step> = r.messages.iter().map(|(s, _)| *s).collect();
    assert_eq!(steps, [Step::Negotiate, Step::Challenge, Step::Reply, Step::Success1, Step::Success2]);
    let Ok(AuthMessage::Challenge(c)) = AuthMessage::parse(&r.messages[1].1) else { panic!() };
    assert_eq!((c.hash_id, c.dh_group, c.dh_value.len(), c.t_id), (HashId::SHA_512, DhGroupId::FFDHE2048, 256, 7));
    assert_eq!(r.messages[2].1.len(), 16 + 128 + 256);
}

#[test]
fn controller_is_authenticated_at_the_reply_without_c2() {
    let (h, c) = auths(false, DhGroupId::NULL);
    let (mut host, mut ctrl) = pair(h, c, 3);
    let mut buf = [0u8; 4096];
    let Some(HostCommand::Send { len }) = host.poll_command(T0, &mut buf).unwrap() else { panic!() };
    assert_eq!(ctrl.handle_send(T0, &buf[..len]), SendOutcome::Accepted);
    host.handle_send_complete(T0);
    assert_eq!(host.poll_command(T0, &mut buf).unwrap(), Some(HostCommand::Receive { al: 4096 }));
    assert_eq!(host.poll_command(T0, &mut buf).unwrap(), None, "a command is out");
    let n = ctrl.poll_receive(T0, &mut buf).unwrap();
    host.handle_receive_complete(T0, &buf[..n]);
    let Some(HostCommand::Send { len }) = host.poll_command(T0, &mut buf).unwrap() else { panic!() };
    assert!(!ctrl.is_authenticated());
    assert!(matches!(ctrl.handle_send(T0, &buf[..len]), SendOutcome::Authenticated(_)));
    assert!(ctrl.is_authenticated(), "before Success1 is fetched, as nvmet");
    // The host never fetches Success1: the controller's step times out, the queue stays authenticated.
    let deadline = ctrl.poll_timeout().unwrap();
    ctrl.handle_timeout(deadline);
    assert!(ctrl.is_authenticated());
    assert!(ctrl.outcome().unwrap().is_ok());
}

fn any_secret() -> impl Strategy<Value = DhchapSecret> {
    (0u8..=3, prop::sample::select(vec![32usize, 48, 64]), prop::collection::vec(any::<u8>(), 64))
        .prop_map(|(t, len, bytes)| DhchapSecret::new(SecretTransform(t), &bytes[..len]).unwrap())
}

fn any_hashes() -> impl Strategy<Value = Vec<HashId>> {
    prop::sample::subsequence(HashId::ALL.to_vec(), 1..=3).prop_shuffle()
}

/// Groups for the random runs: NULL and the two smaller groups often, the large ones now and then (an ffdhe8192
/// exchange costs a few hundred milliseconds unoptimised).
fn any_group() -> impl Strategy<Value = DhGroupId> {
    prop_oneof![
        6 => prop::sample::select(vec![DhGroupId::NULL, DhGroupId::FFDHE2048, DhGroupId::FFDHE3072]),
        1 => prop::sample::select(vec![DhGroupId::FFDHE4096, DhGroupId::FFDHE6144, DhGroupId::FFDHE8192]),
    ]
}

#[derive(Debug, Clone)]
struct Setup {
    host_key: DhchapSecret,
    ctrl_key: DhchapSecret,
    bidirectional: bool,
    host_hashes: Vec<HashId>,
    ctrl_hashes: Vec<HashId>,
    group: DhGroupId,
    t_id: u16,
    host_seed: [u8; 64],
    ctrl_seed: [u8; 64],
    s1: u32,
    s2: u32,
}

fn any_setup() -> impl Strategy<Value = Setup> {
    (
        (any_secret(), any_secret(), any::<bool>(), any_hashes(), any_hashes(), any_group()),
        (any::<u16>(), prop::array::uniform32(any::<u8>()), prop::array::uniform32(any::<u8>()), 1u32.., 1u32..),
    )
        .prop_filter("the lists share a hash", |((_, _, _, h, c, _), _)| h.iter().any(|x| c.contains(x)))
        .prop_map(
            |((host_key, ctrl_key, bidirectional, host_hashes, ctrl_hashes, group), (t_id, hs, cs, s1, s2))| {
                let spread = |s: [u8; 32]| {
                    let mut out = [0u8; 64];
                    out[..32].copy_from_slice(&s);
                    out[32..].copy_from_slice(&s.map(|b| b.rotate_left(3) ^ 0xA5));
                    out[0] |= 0x40; // a private exponent well above 1
                    out
                };
                Setup {
                    host_key,
                    ctrl_key,
                    bidirectional,
                    host_hashes,
                    ctrl_hashes,
                    group,
                    t_id,
                    host_seed: spread(hs),
                    ctrl_seed: spread(cs),
                    s1,
                    s2,
                }
            },
        )
}

impl Setup {
    /// The two sides; `host_view` lets a test give the host different inputs than the controller has.
    fn exchanges(&self, host_view: impl FnOnce(&mut HostInputs)) -> (HostExchange, ControllerExchange) {
        let mut hv = HostInputs {
            host_key: self.host_key.clone(),
            ctrl_key: self.ctrl_key.clone(),
            host_nqn: HOSTNQN.to_string(),
            subsys_nqn: SUBNQN.to_string(),
        };
        host_view(&mut hv);
        let host_auth =
            HostAuth::new(&hv.host_nqn, &hv.subsys_nqn, &hv.host_key, self.bidirectional.then_some(&hv.ctrl_key))
                .unwrap()
                .with_hashes(&self.host_hashes)
                .unwrap()
                .with_dh_groups(&[self.group])
                .unwrap();
        let ctrl_auth = ControllerAuth::new(HOSTNQN, SUBNQN, &self.host_key, Some(&self.ctrl_key))
            .unwrap()
            .with_hashes(&self.ctrl_hashes)
            .unwrap()
            .with_dh_groups(&[self.group])
            .unwrap();
        let hn = HostNonces { challenge: self.host_seed, dh_private: self.host_seed, seqnum: self.s2 };
        let cn = ControllerNonces { challenge: self.ctrl_seed, dh_private: self.ctrl_seed, seqnum: self.s1 };
        (HostExchange::new(T0, host_auth, self.t_id, hn), ControllerExchange::new(T0, ctrl_auth, cn))
    }

    fn expected_hash(&self) -> HashAlg {
        let id = self.ctrl_hashes.iter().find(|h| self.host_hashes.contains(h)).unwrap();
        HashAlg::from_id(*id).unwrap()
    }
}

struct HostInputs {
    host_key: DhchapSecret,
    ctrl_key: DhchapSecret,
    host_nqn: String,
    subsys_nqn: String,
}

/// A different secret with the same transform and length.
fn other(s: &DhchapSecret) -> DhchapSecret {
    let mut b = s.secret().to_vec();
    b[0] ^= 1;
    DhchapSecret::new(s.transform(), &b).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Random keys, hashes, groups, nonces, T_IDs and sequence numbers: both sides end authenticated with the same
    /// hash (the controller's first preference the host offers), group and direction.
    #[test]
    fn host_and_controller_agree(setup in any_setup()) {
        let (mut host, mut ctrl) = setup.exchanges(|_| {});
        let r = run(&mut host, &mut ctrl, |_, _| {});
        let (hash, dh_group, bidirectional) = (setup.expected_hash(), setup.group, setup.bidirectional);
        let want = Authenticated { hash, dh_group, bidirectional };
        prop_assert_eq!(r.host, Some(Ok(want)));
        prop_assert_eq!(r.ctrl, Some(Ok(want)));
        prop_assert!(r.ctrl_authenticated);
        let Ok(AuthMessage::Challenge(c)) = AuthMessage::parse(&r.messages[1].1) else { panic!("no challenge") };
        prop_assert_eq!((c.t_id, c.seqnum), (setup.t_id, setup.s1));
        prop_assert_eq!(c.dh_value.len(), usize::from(setup.group.value_len().unwrap()));
    }

    /// One wrong input on one side, or one message changed on the way: the exchange fails on both sides, never
    /// "authenticated" on either, and the refusal names the matching explanation.
    #[test]
    fn any_single_wrong_input_fails(setup in any_setup(), which in 0usize..10, at in any::<prop::sample::Index>()) {
        let dh = setup.group != DhGroupId::NULL;
        let (wrong, bidi_only, dh_only): (&str, bool, bool) = [
            ("host key", false, false),
            ("controller key", true, false),
            ("host NQN", false, false),
            ("subsystem NQN", false, false),
            ("C1", false, false),
            ("T_ID", false, false),
            ("S1", false, false),
            ("S2", true, false),
            ("controller DH value", false, true),
            ("host DH value", false, true),
        ][which];
        prop_assume!(!bidi_only || setup.bidirectional);
        prop_assume!(!dh_only || dh);
        let (mut host, mut ctrl) = setup.exchanges(|h| match wrong {
            "host key" => h.host_key = other(&h.host_key),
            "controller key" => h.ctrl_key = other(&h.ctrl_key),
            "host NQN" => h.host_nqn.push('x'),
            "subsystem NQN" => h.subsys_nqn.push('x'),
            _ => {}
        });
        let hl = setup.expected_hash().hash_len();
        let flip = |m: &mut Vec<u8>, range: std::ops::Range<usize>| {
            let i = range.start + at.index(range.len());
            m[i] ^= 1 << (i % 8);
        };
        let dhvlen = usize::from(setup.group.value_len().unwrap());
        let r = run(&mut host, &mut ctrl, |step, m| match (wrong, step) {
            ("C1", Step::Challenge) => flip(m, 16..16 + hl),
            ("T_ID", Step::Challenge) => flip(m, 4..6),
            ("S1", Step::Challenge) => flip(m, 12..16),
            ("S2", Step::Reply) => flip(m, 12..16),
            ("controller DH value", Step::Challenge) => flip(m, 16 + hl..16 + hl + dhvlen.max(1)),
            ("host DH value", Step::Reply) => flip(m, 16 + 2 * hl..m.len()),
            _ => {}
        });
        prop_assert!(!matches!(r.host, Some(Ok(_))), "{wrong}: the host authenticated: {:?}", r.host);
        prop_assert!(!r.ctrl_authenticated, "{wrong}: the controller authenticated");
        let (sender, explanation) = failure_of(&r.messages).expect("a failure message");
        let expected: &[(u8, FailureExplanation)] = match wrong {
            // R1 does not match on the controller.
            "host key" | "host NQN" | "subsystem NQN" | "C1" => &[(0xF1, FailureExplanation::FAILED)],
            // The same, or S1 became 0, which the host refuses.
            "S1" => &[(0xF1, FailureExplanation::FAILED), (0xF0, FailureExplanation::INCORRECT_PAYLOAD)],
            // R2 does not match on the host. A wrong subsystem NQN is caught earlier, by R1.
            "controller key" => &[(0xF0, FailureExplanation::FAILED)],
            // The same, or S2 became 0 with C2, which the controller refuses.
            "S2" => &[(0xF0, FailureExplanation::FAILED), (0xF1, FailureExplanation::INCORRECT_PAYLOAD)],
            // The host refuses a Challenge of another transaction.
            "T_ID" => &[(0xF0, FailureExplanation::INCORRECT_PAYLOAD)],
            // A flipped DH value is out of range, or gives another Z and so another R1.
            _ => &[(0xF1, FailureExplanation::FAILED), (0xF1, FailureExplanation::DH_GROUP_NOT_USABLE),
                   (0xF0, FailureExplanation::DH_GROUP_NOT_USABLE)],
        };
        prop_assert!(expected.contains(&(sender, explanation)), "{wrong}: got {sender:#x}/{explanation:?}");
        let want = if sender == 0xF1 {
            (Some(Err(AuthFailure::PeerFailed { reason: FailureReason::AUTHENTICATION_FAILURE, explanation })),
             Some(Err(AuthFailure::Rejected(explanation))))
        } else {
            (Some(Err(AuthFailure::Rejected(explanation))),
             Some(Err(AuthFailure::PeerFailed { reason: FailureReason::AUTHENTICATION_FAILURE, explanation })))
        };
        prop_assert_eq!((r.host, r.ctrl), want);
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The controller's refusals

/// A controller whose exchange has taken a valid Negotiate (SHA-256, NULL) and sent its Challenge.
fn ctrl_after_challenge(ctrl_key: bool) -> (ControllerExchange, Vec<u8>) {
    let hk = secret(1, 0x11);
    let ck = secret(0, 0x33);
    let auth = ControllerAuth::new(HOSTNQN, SUBNQN, &hk, ctrl_key.then_some(&ck)).unwrap();
    let mut ctrl = ControllerExchange::new(T0, auth.with_dh_groups(&[DhGroupId::NULL]).unwrap(), ctrl_nonces(9));
    let d = ProtocolDescriptor::dh_hmac_chap(&[HashId::SHA_256], &[DhGroupId::NULL]).to_view().unwrap();
    let n = Negotiate { t_id: 5, sc_c: SecureChannel::NONE, descriptors: std::slice::from_ref(&d) };
    assert_eq!(ctrl.handle_send(T0, &emit(AuthMessage::Negotiate(n))), SendOutcome::Accepted);
    let mut buf = vec![0u8; 4096];
    ctrl.poll_receive(T0, &mut buf).unwrap();
    (ctrl, buf)
}

fn emit(m: AuthMessage<'_>) -> Vec<u8> {
    let mut v = vec![0u8; m.buffer_len()];
    m.emit(&mut v).unwrap();
    v
}

/// The controller's next Receive: the Failure1 it holds.
fn failure1(ctrl: &mut ControllerExchange) -> Failure1 {
    let mut buf = vec![0u8; 4096];
    ctrl.poll_receive(T0, &mut buf).unwrap();
    Failure1::parse(&buf).expect("a Failure1")
}

fn negotiate_with(sc_c: u8, auth_id: u8, hashes: &[HashId], groups: &[DhGroupId]) -> Vec<u8> {
    let mut d = ProtocolDescriptor::dh_hmac_chap(hashes, groups);
    d.auth_id = nvme_proto::auth::AuthProtocolId(auth_id);
    let v = d.to_view().unwrap();
    emit(AuthMessage::Negotiate(Negotiate {
        t_id: 0x42,
        sc_c: SecureChannel(sc_c),
        descriptors: std::slice::from_ref(&v),
    }))
}

#[test]
fn controller_refuses_negotiates_with_the_right_explanation() {
    let hk = secret(0, 0x11);
    let auth =
        || ControllerAuth::new(HOSTNQN, SUBNQN, &hk, None).unwrap().with_dh_groups(&[DhGroupId::FFDHE2048]).unwrap();
    let cases = [
        (negotiate_with(1, 1, &HashId::ALL, &DhGroupId::ALL), FailureExplanation::CONCAT_MISMATCH),
        (negotiate_with(0, 2, &HashId::ALL, &DhGroupId::ALL), FailureExplanation::PROTOCOL_NOT_USABLE),
        (negotiate_with(0, 1, &[HashId(9)], &DhGroupId::ALL), FailureExplanation::HASH_NOT_USABLE),
        (negotiate_with(0, 1, &HashId::ALL, &[DhGroupId::NULL]), FailureExplanation::DH_GROUP_NOT_USABLE),
        (negotiate_with(0, 1, &HashId::ALL, &DhGroupId::ALL)[..40].to_vec(), FailureExplanation::INCORRECT_PAYLOAD),
        (emit(AuthMessage::Success2(Success2 { t_id: 0x42 })), FailureExplanation::INCORRECT_PROTOCOL_MESSAGE),
    ];
    for (bytes, explanation) in cases {
        let mut ctrl = ControllerExchange::new(T0, auth(), ctrl_nonces(1));
        assert_eq!(ctrl.handle_send(T0, &bytes), SendOutcome::Failed(AuthFailure::Rejected(explanation)));
        assert!(!ctrl.is_authenticated());
        // Another Send before the Failure1 is fetched: the first refusal stands.
        let other = emit(AuthMessage::Success2(Success2 { t_id: 1 }));
        assert_eq!(ctrl.handle_send(T0, &other), SendOutcome::Failed(AuthFailure::Rejected(explanation)));
        let f = failure1(&mut ctrl);
        assert_eq!((f.t_id, f.reason, f.explanation), (0x42, FailureReason::AUTHENTICATION_FAILURE, explanation));
        assert_eq!(ctrl.outcome(), Some(Err(AuthFailure::Rejected(explanation))));
        assert_eq!(ctrl.poll_timeout(), None);
    }
}

#[test]
fn controller_picks_its_first_preference_the_host_offers() {
    let hk = secret(0, 0x11);
    let auth = ControllerAuth::new(HOSTNQN, SUBNQN, &hk, None)
        .unwrap()
        .with_hashes(&[HashId::SHA_384, HashId::SHA_256])
        .unwrap()
        .with_dh_groups(&[DhGroupId::FFDHE4096, DhGroupId::NULL, DhGroupId::FFDHE2048])
        .unwrap();
    let mut ctrl = ControllerExchange::new(T0, auth, ctrl_nonces(1));
    let offer = negotiate_with(
        0,
        1,
        &[HashId::SHA_512, HashId::SHA_256, HashId::SHA_384],
        &[DhGroupId::FFDHE2048, DhGroupId::NULL],
    );
    assert_eq!(ctrl.handle_send(T0, &offer), SendOutcome::Accepted);
    let mut buf = vec![0u8; 4096];
    ctrl.poll_receive(T0, &mut buf).unwrap();
    let c = Challenge::parse(&buf).unwrap();
    assert_eq!((c.hash_id, c.dh_group, c.challenge.len(), c.dh_value.len()), (HashId::SHA_384, DhGroupId::NULL, 48, 0));
}

fn reply(t_id: u16, r1: &[u8], c2: Option<&[u8]>, s2: u32, dhv: &[u8]) -> Vec<u8> {
    emit(AuthMessage::Reply(Reply { t_id, seqnum: s2, response: r1, challenge: c2, dh_value: dhv }))
}

#[test]
fn controller_refuses_replies_with_the_right_explanation() {
    let r1 = [0u8; 32];
    let cases: Vec<(bool, Vec<u8>, FailureExplanation)> = vec![
        (false, reply(6, &r1, None, 1, &[]), FailureExplanation::INCORRECT_PAYLOAD),
        (false, reply(5, &[0; 48], None, 1, &[]), FailureExplanation::INCORRECT_PAYLOAD),
        (false, reply(5, &r1, None, 1, &[1, 2, 3, 4]), FailureExplanation::INCORRECT_PAYLOAD),
        (false, reply(5, &r1, None, 1, &[]), FailureExplanation::FAILED),
        (true, reply(5, &r1, Some(&[1; 32]), 0, &[]), FailureExplanation::INCORRECT_PAYLOAD),
        (false, reply(5, &r1, Some(&[1; 32]), 1, &[])[..60].to_vec(), FailureExplanation::INCORRECT_PAYLOAD),
        (false, emit(AuthMessage::Success2(Success2 { t_id: 5 })), FailureExplanation::INCORRECT_PROTOCOL_MESSAGE),
    ];
    for (ctrl_key, bytes, explanation) in cases {
        let (mut ctrl, _) = ctrl_after_challenge(ctrl_key);
        assert_eq!(
            ctrl.handle_send(T0, &bytes),
            SendOutcome::Failed(AuthFailure::Rejected(explanation)),
            "{bytes:02x?}"
        );
        let f = failure1(&mut ctrl);
        assert_eq!((f.t_id, f.explanation), (5, explanation));
    }
}

/// A correct R1 with C2 when the controller has no key of its own: "authentication failed" (nvmet: "no ctrl key").
#[test]
fn controller_without_a_key_refuses_to_authenticate_itself() {
    let hk = secret(1, 0x11);
    let host_auth = HostAuth::new(HOSTNQN, SUBNQN, &hk, Some(&secret(0, 0x33))).unwrap();
    let ctrl_auth = ControllerAuth::new(HOSTNQN, SUBNQN, &hk, None).unwrap();
    assert!(!ctrl_auth.has_ctrl_key() && host_auth.bidirectional());
    let (mut host, mut ctrl) = pair(host_auth, ctrl_auth, 4);
    let r = run(&mut host, &mut ctrl, |_, _| {});
    assert_eq!(failure_of(&r.messages), Some((0xF1, FailureExplanation::FAILED)));
    assert!(matches!(r.host, Some(Err(AuthFailure::PeerFailed { .. }))));
}

#[test]
fn controller_steps_out_of_order() {
    // A Receive before any Negotiate: Failure1 0x07 and the end.
    let (h, c) = auths(false, DhGroupId::NULL);
    let mut ctrl = ControllerExchange::new(T0, c.clone(), ctrl_nonces(1));
    assert_eq!(failure1(&mut ctrl).explanation, FailureExplanation::INCORRECT_PROTOCOL_MESSAGE);
    assert_eq!(ctrl.outcome(), Some(Err(AuthFailure::Rejected(FailureExplanation::INCORRECT_PROTOCOL_MESSAGE))));
    // A second Receive repeats it; a Send now is refused as the exchange is over.
    assert_eq!(failure1(&mut ctrl).explanation, FailureExplanation::INCORRECT_PROTOCOL_MESSAGE);
    let r = reply(0, &[0; 32], None, 1, &[]);
    assert!(matches!(ctrl.handle_send(T0, &r), SendOutcome::Failed(_)));
    // A Negotiate mid-way or after the end: a new transaction, this one unchanged.
    let (mut host, mut ctrl) = pair(h, c, 2);
    let done = run(&mut host, &mut ctrl, |_, _| {});
    assert!(done.ctrl.unwrap().is_ok());
    let neg = done.messages[0].1.clone();
    assert_eq!(ctrl.handle_send(T0, &neg), SendOutcome::NewTransaction);
    assert!(ctrl.is_authenticated());
    // A stray Send after success: out of step, the queue is no longer authenticated (nvmet: fatal error).
    assert_eq!(
        ctrl.handle_send(T0, &emit(AuthMessage::Success2(Success2 { t_id: 7 }))),
        SendOutcome::Failed(AuthFailure::Rejected(FailureExplanation::INCORRECT_PROTOCOL_MESSAGE))
    );
    assert!(!ctrl.is_authenticated());
}

#[test]
fn controller_takes_failure2_and_wrong_success2() {
    let (mut ctrl, _) = ctrl_after_challenge(false);
    let f2 = emit(AuthMessage::Failure2(Failure2::new(5, FailureExplanation::HASH_NOT_USABLE)));
    let want = AuthFailure::PeerFailed {
        reason: FailureReason::AUTHENTICATION_FAILURE,
        explanation: FailureExplanation::HASH_NOT_USABLE,
    };
    assert_eq!(ctrl.handle_send(T0, &f2), SendOutcome::Failed(want));
    assert_eq!(ctrl.outcome(), Some(Err(want)));
    // A Receive now is out of step: Failure1 0x07, and the outcome stays the host's failure.
    assert_eq!(failure1(&mut ctrl).explanation, FailureExplanation::INCORRECT_PROTOCOL_MESSAGE);
    assert_eq!(ctrl.outcome(), Some(Err(want)));
    // A bidirectional exchange whose Success2 carries another T_ID.
    let (h, c) = auths(true, DhGroupId::NULL);
    let (mut host, mut ctrl) = pair(h, c, 5);
    let r = run(&mut host, &mut ctrl, |step, m| {
        if step == Step::Success2 {
            m[4] ^= 0xFF;
        }
    });
    assert!(r.host.unwrap().is_ok(), "the host cannot tell");
    assert!(!r.ctrl_authenticated);
    assert_eq!(failure1(&mut ctrl).explanation, FailureExplanation::INCORRECT_PAYLOAD);
}

#[test]
fn controller_receive_with_a_small_allocation_changes_nothing() {
    let (h, c) = auths(false, DhGroupId::FFDHE2048);
    let (mut host, mut ctrl) = pair(h, c, 6);
    let mut buf = vec![0u8; 4096];
    let Some(HostCommand::Send { len }) = host.poll_command(T0, &mut buf).unwrap() else { panic!() };
    ctrl.handle_send(T0, &buf[..len]);
    let mut small = vec![0u8; 100];
    assert_eq!(ctrl.poll_receive(T0, &mut small), Err(ReceiveError::AllocationTooShort { needed: 16 + 64 + 256 }));
    let mut exact = vec![0xEEu8; 16 + 64 + 256];
    assert_eq!(ctrl.poll_receive(T0, &mut exact), Ok(336));
    assert!(Challenge::parse(&exact).is_ok());
}

#[test]
fn controller_times_out() {
    let (_, c) = auths(false, DhGroupId::NULL);
    let mut ctrl = ControllerExchange::new(
        Instant::from_millis(1_000),
        c.with_step_timeout(Duration::from_secs(2)),
        ctrl_nonces(1),
    );
    assert_eq!(ctrl.poll_timeout(), Some(Instant::from_millis(3_000)));
    ctrl.handle_timeout(Instant::from_millis(2_999));
    assert_eq!(ctrl.outcome(), None);
    ctrl.handle_timeout(Instant::from_millis(3_000));
    assert_eq!(ctrl.outcome(), Some(Err(AuthFailure::Timeout)));
    assert_eq!(ctrl.poll_timeout(), None);
    ctrl.handle_timeout(Instant::from_millis(9_000));
    assert_eq!(ctrl.outcome(), Some(Err(AuthFailure::Timeout)));
}

// ---------------------------------------------------------------------------------------------------------------
// The host's refusals

/// A host that has sent its Negotiate (offering everything) and asked for the Challenge; T_ID 7.
fn host_waiting_for_challenge(bidirectional: bool) -> HostExchange {
    let hk = secret(1, 0x11);
    let ck = secret(0, 0x33);
    let auth = HostAuth::new(HOSTNQN, SUBNQN, &hk, bidirectional.then_some(&ck)).unwrap();
    let mut host = HostExchange::new(T0, auth, 7, host_nonces(1));
    let mut buf = vec![0u8; 4096];
    assert!(matches!(host.poll_command(T0, &mut buf), Ok(Some(HostCommand::Send { len: 72 }))));
    host.handle_send_complete(T0);
    assert_eq!(host.poll_command(T0, &mut buf), Ok(Some(HostCommand::Receive { al: 4096 })));
    host
}

/// The host's next command must be a Failure2 with `explanation`; after it completes, the exchange is over.
fn expect_failure2(host: &mut HostExchange, explanation: FailureExplanation) {
    let mut buf = vec![0u8; 4096];
    let Ok(Some(HostCommand::Send { len })) = host.poll_command(T0, &mut buf) else { panic!("no Failure2") };
    let f = Failure2::parse(&buf[..len]).expect("a Failure2");
    assert_eq!((f.t_id, f.reason, f.explanation), (7, FailureReason::AUTHENTICATION_FAILURE, explanation));
    assert_eq!(host.outcome(), None, "not over before the Failure2 is sent");
    host.handle_send_complete(T0);
    assert_eq!(host.outcome(), Some(Err(AuthFailure::Rejected(explanation))));
    assert_eq!(host.poll_command(T0, &mut buf), Ok(None));
}

fn challenge(t_id: u16, hash: HashId, hl: usize, group: DhGroupId, s1: u32, dhv: &[u8]) -> Vec<u8> {
    let c1 = vec![0x77u8; hl];
    let m = Challenge { t_id, hash_id: hash, dh_group: group, seqnum: s1, challenge: &c1, dh_value: dhv };
    let mut v = emit(AuthMessage::Challenge(m));
    v.resize(4096, 0);
    v
}

#[test]
fn host_refuses_challenges_with_the_right_explanation() {
    let mut g = vec![0u8; 256];
    g[255] = 2;
    let cases = [
        (challenge(8, HashId::SHA_256, 32, DhGroupId::NULL, 1, &[]), FailureExplanation::INCORRECT_PAYLOAD),
        (challenge(7, HashId::SHA_256, 32, DhGroupId::NULL, 0, &[]), FailureExplanation::INCORRECT_PAYLOAD),
        (challenge(7, HashId(4), 32, DhGroupId::NULL, 1, &[]), FailureExplanation::HASH_NOT_USABLE),
        (challenge(7, HashId::SHA_384, 32, DhGroupId::NULL, 1, &[]), FailureExplanation::HASH_NOT_USABLE),
        (challenge(7, HashId::SHA_256, 32, DhGroupId(6), 1, &[]), FailureExplanation::DH_GROUP_NOT_USABLE),
        (challenge(7, HashId::SHA_256, 32, DhGroupId::NULL, 1, &[1; 4]), FailureExplanation::INCORRECT_PAYLOAD),
        (challenge(7, HashId::SHA_256, 32, DhGroupId::FFDHE2048, 1, &[]), FailureExplanation::DH_GROUP_NOT_USABLE),
        (challenge(7, HashId::SHA_256, 32, DhGroupId::FFDHE2048, 1, &g[1..]), FailureExplanation::DH_GROUP_NOT_USABLE),
        (challenge(7, HashId::SHA_256, 32, DhGroupId::FFDHE3072, 1, &g), FailureExplanation::DH_GROUP_NOT_USABLE),
        (
            challenge(7, HashId::SHA_256, 32, DhGroupId::FFDHE2048, 1, &[0xFF; 256]),
            FailureExplanation::DH_GROUP_NOT_USABLE,
        ),
        (
            challenge(7, HashId::SHA_256, 32, DhGroupId::NULL, 1, &[])[..40].to_vec(),
            FailureExplanation::INCORRECT_PAYLOAD,
        ),
        (emit(AuthMessage::Success2(Success2 { t_id: 7 })), FailureExplanation::INCORRECT_PROTOCOL_MESSAGE),
        (vec![0x09, 0x09, 0, 0, 7, 0, 0, 0], FailureExplanation::INCORRECT_PROTOCOL_MESSAGE),
    ];
    for (bytes, explanation) in cases {
        let mut host = host_waiting_for_challenge(false);
        host.handle_receive_complete(T0, &bytes);
        expect_failure2(&mut host, explanation);
    }
    // A valid ffdhe2048 Challenge (the generator as the controller's value) is taken.
    let mut host = host_waiting_for_challenge(false);
    host.handle_receive_complete(T0, &challenge(7, HashId::SHA_256, 32, DhGroupId::FFDHE2048, 1, &g));
    let mut buf = vec![0u8; 4096];
    let Ok(Some(HostCommand::Send { len })) = host.poll_command(T0, &mut buf) else { panic!() };
    let r = Reply::parse(&buf[..len]).unwrap();
    assert_eq!((r.t_id, r.response.len(), r.dh_value.len(), r.challenge), (7, 32, 256, None));
}

#[test]
fn host_takes_failure1_without_answering() {
    let mut host = host_waiting_for_challenge(false);
    let f1 = emit(AuthMessage::Failure1(Failure1::new(7, FailureExplanation::DH_GROUP_NOT_USABLE)));
    host.handle_receive_complete(T0, &f1);
    let want = AuthFailure::PeerFailed {
        reason: FailureReason::AUTHENTICATION_FAILURE,
        explanation: FailureExplanation::DH_GROUP_NOT_USABLE,
    };
    assert_eq!(host.outcome(), Some(Err(want)));
    assert_eq!(host.poll_command(T0, &mut [0u8; 64]), Ok(None), "no Failure2 after a Failure1");
}

/// A host that has taken a NULL-group SHA-256 Challenge and sent its Reply; returns the expected R2 computer's
/// inputs through a controller that ran the same transaction.
fn host_waiting_for_success1(bidirectional: bool) -> HostExchange {
    let mut host = host_waiting_for_challenge(bidirectional);
    host.handle_receive_complete(T0, &challenge(7, HashId::SHA_256, 32, DhGroupId::NULL, 1, &[]));
    let mut buf = vec![0u8; 4096];
    assert!(matches!(host.poll_command(T0, &mut buf), Ok(Some(HostCommand::Send { .. }))));
    host.handle_send_complete(T0);
    assert_eq!(host.poll_command(T0, &mut buf), Ok(Some(HostCommand::Receive { al: 4096 })));
    host
}

fn success1(t_id: u16, hl: u8, r2: Option<&[u8]>) -> Vec<u8> {
    emit(AuthMessage::Success1(Success1 { t_id, hl, response: r2 }))
}

#[test]
fn host_checks_success1() {
    let cases = [
        (false, success1(8, 32, None), FailureExplanation::INCORRECT_PAYLOAD),
        (false, success1(7, 48, None), FailureExplanation::HASH_NOT_USABLE),
        (false, success1(7, 32, Some(&[1; 32])), FailureExplanation::INCORRECT_PAYLOAD),
        (true, success1(7, 32, None), FailureExplanation::FAILED),
        (true, success1(7, 32, Some(&[1; 32])), FailureExplanation::FAILED),
        (true, emit(AuthMessage::Success2(Success2 { t_id: 7 })), FailureExplanation::INCORRECT_PROTOCOL_MESSAGE),
        (true, success1(7, 32, Some(&[1; 32]))[..20].to_vec(), FailureExplanation::INCORRECT_PAYLOAD),
    ];
    for (bidirectional, bytes, explanation) in cases {
        let mut host = host_waiting_for_success1(bidirectional);
        host.handle_receive_complete(T0, &bytes);
        expect_failure2(&mut host, explanation);
    }
    let mut host = host_waiting_for_success1(false);
    host.handle_receive_complete(T0, &success1(7, 32, None));
    let want = Authenticated { hash: HashAlg::Sha256, dh_group: DhGroupId::NULL, bidirectional: false };
    assert_eq!(host.outcome(), Some(Ok(want)));
}

#[test]
fn host_command_failures_timeouts_and_short_buffers() {
    let mut host = host_waiting_for_challenge(false);
    host.handle_command_failed(T0);
    assert_eq!(host.outcome(), Some(Err(AuthFailure::CommandFailed)));
    assert_eq!(host.poll_timeout(), None);

    let hk = secret(1, 0x11);
    let auth = HostAuth::new(HOSTNQN, SUBNQN, &hk, None).unwrap().with_step_timeout(Duration::from_millis(500));
    let mut host = HostExchange::new(Instant::from_millis(100), auth, 7, host_nonces(1));
    assert_eq!(
        host.poll_command(Instant::from_millis(100), &mut [0u8; 71]),
        Err(nvme_proto::auth::AuthError::BufferTooShort { needed: 72 })
    );
    let mut buf = vec![0u8; MAX_REPLY_LEN];
    assert!(matches!(host.poll_command(Instant::from_millis(200), &mut buf), Ok(Some(HostCommand::Send { len: 72 }))));
    assert_eq!(host.poll_timeout(), Some(Instant::from_millis(700)), "each step gets its own deadline");
    host.handle_timeout(Instant::from_millis(699));
    assert_eq!(host.outcome(), None);
    host.handle_timeout(Instant::from_millis(700));
    assert_eq!(host.outcome(), Some(Err(AuthFailure::Timeout)));
    // Events after the end change nothing.
    host.handle_send_complete(Instant::from_millis(800));
    host.handle_receive_complete(Instant::from_millis(800), &[0; 8]);
    assert_eq!(host.outcome(), Some(Err(AuthFailure::Timeout)));
}

#[test]
fn configuration_errors() {
    let k = secret(0, 1);
    let long = "n".repeat(224);
    assert_eq!(HostAuth::new(&long, SUBNQN, &k, None).unwrap_err(), AuthConfigError::NqnTooLong);
    assert_eq!(ControllerAuth::new(HOSTNQN, &long, &k, None).unwrap_err(), AuthConfigError::NqnTooLong);
    let h = HostAuth::new(HOSTNQN, SUBNQN, &k, None).unwrap();
    assert_eq!(h.clone().with_hashes(&[]).unwrap_err(), AuthConfigError::Hashes);
    assert_eq!(h.clone().with_hashes(&[HashId(7)]).unwrap_err(), AuthConfigError::Hashes);
    assert_eq!(h.clone().with_dh_groups(&[DhGroupId(9)]).unwrap_err(), AuthConfigError::DhGroups);
    assert_eq!(h.with_dh_groups(&[DhGroupId::NULL; 31]).unwrap_err(), AuthConfigError::DhGroups);
    // Keys never print.
    let c = ControllerAuth::new(HOSTNQN, SUBNQN, &k, Some(&k)).unwrap();
    let shown = format!("{c:?}");
    assert!(shown.contains("Digest(32 bytes)") && !shown.contains("1, 1, 1"), "{shown}");
}
