//! Replays the checked-in seed corpus of the `auth_exchange` fuzz target (`fuzz/corpus/auth_exchange/`, every file)
//! through the harness the target runs (`fuzz/src/auth.rs`, included below), on the stable toolchain, as part of
//! `cargo test`.
//!
//! The seeds are transcripts of real exchanges, built by [`seeds`]: a host with another key than the harness's
//! controller expects (so the controller sees a well-formed Negotiate and Reply whose R1 is wrong), and a controller
//! answering the harness's host (a well-formed Challenge, then a Success1 whose R2 is wrong), plus timeouts and
//! failed commands. `NVME_FUZZ_WRITE_SEEDS=1 cargo test -p nvme-fabric --test auth_fuzz_corpus` rewrites them.

#[path = "../../fuzz/src/auth.rs"]
mod harness;
#[path = "../../fuzz/src/replay.rs"]
mod replay;

use harness::{Record, Setup};
use nvme_fabric::Instant;
use nvme_fabric::auth::{
    ControllerAuth, ControllerExchange, ControllerNonces, HostAuth, HostCommand, HostExchange, HostNonces,
};
use nvme_proto::auth::{
    AuthMessage, DhGroupId, DhchapSecret, Failure1, FailureExplanation, HashId, SecretTransform, Success1,
};

const TARGETS: [(&str, replay::Harness); 1] = [("auth_exchange", harness::auth_exchange)];
const HOSTNQN: &str = "nqn.2014-08.org.nvmexpress:uuid:fuzz";
const SUBNQN: &str = "nqn.2026-12.io.example:fuzz";

#[test]
fn every_corpus_file_replays_through_its_harness() {
    replay::replay_all(env!("CARGO_MANIFEST_DIR"), &TARGETS);
}

#[test]
fn seed_files_match_their_generator() {
    replay::check_or_write_seeds(env!("CARGO_MANIFEST_DIR"), seeds());
}

fn secret(fill: u8) -> DhchapSecret {
    DhchapSecret::new(SecretTransform::SHA_256, &[fill; 32]).unwrap()
}

fn input(setup: Setup, records: &[Record]) -> Vec<u8> {
    let mut v = vec![setup.to_byte()];
    for r in records {
        r.encode(&mut v);
    }
    v
}

/// The records a controller-fed input needs to replay a host (key `0x11`, not the harness's) talking to the harness's
/// controller: each of the host's Sends, and a Receive of 4096 bytes where the host reads.
fn controller_transcript(setup: Setup) -> Vec<Record> {
    let host_auth = HostAuth::new(HOSTNQN, SUBNQN, &secret(0x11), Some(&secret(0xC3)))
        .unwrap()
        .with_hashes(&[setup.hash])
        .unwrap()
        .with_dh_groups(&[setup.group])
        .unwrap();
    let mut host = HostExchange::new(
        Instant::ZERO,
        host_auth,
        3,
        HostNonces { challenge: [1; 64], dh_private: [2; 64], seqnum: 4 },
    );
    // A controller configured like the harness's, so the host's Reply answers the Challenge the harness will send.
    let ctrl_auth = ControllerAuth::new(HOSTNQN, SUBNQN, &secret(0x3C), setup.ctrl_key.then_some(&secret(0xC3)))
        .unwrap()
        .with_hashes(&[setup.hash])
        .unwrap()
        .with_dh_groups(&[setup.group])
        .unwrap();
    let nonces = ControllerNonces { challenge: [0x55; 64], dh_private: [0x66; 64], seqnum: 0x0102_0304 };
    let mut ctrl = ControllerExchange::new(Instant::ZERO, ctrl_auth, nonces);
    let mut records = Vec::new();
    let mut buf = vec![0u8; 4096];
    while let Ok(Some(cmd)) = host.poll_command(Instant::ZERO, &mut buf) {
        match cmd {
            HostCommand::Send { len } => {
                records.push(Record::Data(buf[..len].to_vec()));
                ctrl.handle_send(Instant::ZERO, &buf[..len]);
                host.handle_send_complete(Instant::ZERO);
            }
            HostCommand::Receive { al } => {
                records.push(Record::Poll(al as u16));
                let n = ctrl.poll_receive(Instant::ZERO, &mut buf[..al as usize]).unwrap();
                host.handle_receive_complete(Instant::ZERO, &buf[..n]);
            }
        }
    }
    let reply = records.iter().any(|r| matches!(AuthMessage::parse(r.data()), Ok(AuthMessage::Reply(_))));
    assert!(reply, "the seed carries a Reply");
    records
}

/// The records a host-fed input needs: the harness's host polls (its Negotiate), a controller's Challenge arrives,
/// the host polls (its Reply), then a Success1 whose R2 is wrong.
fn host_transcript(setup: Setup) -> Vec<Record> {
    let ctrl_auth = ControllerAuth::new(HOSTNQN, SUBNQN, &secret(0x3C), Some(&secret(0x99)))
        .unwrap()
        .with_hashes(&[setup.hash])
        .unwrap()
        .with_dh_groups(&[setup.group])
        .unwrap();
    let mut ctrl = ControllerExchange::new(
        Instant::ZERO,
        ctrl_auth,
        ControllerNonces { challenge: [7; 64], dh_private: [8; 64], seqnum: 5 },
    );
    // The harness's host sends T_ID 0x1234; the controller takes its Negotiate from a host configured the same.
    let host_auth = HostAuth::new(HOSTNQN, SUBNQN, &secret(0x3C), Some(&secret(0xC3)))
        .unwrap()
        .with_hashes(&[setup.hash])
        .unwrap()
        .with_dh_groups(&[setup.group])
        .unwrap();
    let mut host = HostExchange::new(
        Instant::ZERO,
        host_auth,
        0x1234,
        HostNonces { challenge: [0x77; 64], dh_private: [0x88; 64], seqnum: 9 },
    );
    let mut buf = vec![0u8; 4096];
    let Ok(Some(HostCommand::Send { len })) = host.poll_command(Instant::ZERO, &mut buf) else { panic!() };
    ctrl.handle_send(Instant::ZERO, &buf[..len]);
    let mut challenge = vec![0u8; 4096];
    ctrl.poll_receive(Instant::ZERO, &mut challenge).unwrap();
    let hl = setup.hash.hash_len().unwrap();
    let wrong_r2 = vec![0xABu8; usize::from(hl)];
    let mut success1 = vec![0u8; 16 + usize::from(hl)];
    Success1 { t_id: 0x1234, hl, response: Some(&wrong_r2) }.emit(&mut success1).unwrap();
    assert!(matches!(AuthMessage::parse(&challenge), Ok(AuthMessage::Challenge(_))), "the seed carries a Challenge");
    // Poll: the Negotiate goes out; poll: the Receive; the Challenge; poll: the Reply; poll: the Receive; Success1;
    // poll: the Failure2.
    vec![
        Record::Poll(4096),
        Record::Poll(4096),
        Record::Data(challenge),
        Record::Poll(4096),
        Record::Poll(4096),
        Record::Data(success1),
        Record::Poll(4096),
    ]
}

type Seed = (&'static str, &'static str, Vec<u8>);

fn seeds() -> Vec<Seed> {
    let ctrl_null = Setup { host: false, group: DhGroupId::NULL, hash: HashId::SHA_256, ctrl_key: false };
    let ctrl_dh = Setup { host: false, group: DhGroupId::FFDHE2048, hash: HashId::SHA_384, ctrl_key: true };
    let host_null = Setup { host: true, group: DhGroupId::NULL, hash: HashId::SHA_512, ctrl_key: false };
    let host_dh = Setup { host: true, group: DhGroupId::FFDHE2048, hash: HashId::SHA_256, ctrl_key: false };
    let mut failure1 = vec![0u8; 8];
    Failure1::new(0x1234, FailureExplanation::HASH_NOT_USABLE).emit(&mut failure1).unwrap();
    let mut host_timeout = vec![Record::Poll(4096)];
    host_timeout.extend([Record::Wait(999), Record::Wait(1), Record::Fail(0), Record::Poll(4096)]);
    let mut ctrl_messy = controller_transcript(ctrl_null);
    ctrl_messy.insert(1, Record::Poll(10));
    ctrl_messy.insert(2, Record::Wait(400));
    ctrl_messy.push(Record::Data(ctrl_messy[0].data().to_vec()));
    let seeds = vec![
        ("auth_exchange", "controller_null_wrong_key", input(ctrl_null, &controller_transcript(ctrl_null))),
        (
            "auth_exchange",
            "controller_ffdhe2048_bidirectional_wrong_key",
            input(ctrl_dh, &controller_transcript(ctrl_dh)),
        ),
        ("auth_exchange", "controller_short_al_wait_renegotiate", input(ctrl_null, &ctrl_messy)),
        ("auth_exchange", "host_null_wrong_r2", input(host_null, &host_transcript(host_null))),
        ("auth_exchange", "host_ffdhe2048_wrong_r2", input(host_dh, &host_transcript(host_dh))),
        (
            "auth_exchange",
            "host_failure1",
            input(host_null, &[Record::Poll(4096), Record::Poll(4096), Record::Data(failure1)]),
        ),
        ("auth_exchange", "host_timeout_then_failure", input(host_null, &host_timeout)),
    ];
    for (_, name, bytes) in &seeds {
        assert!(AuthMessage::parse(&bytes[4..]).is_ok() || name.starts_with("host"), "{name}");
    }
    seeds
}

trait RecordData {
    fn data(&self) -> &[u8];
}

impl RecordData for Record {
    fn data(&self) -> &[u8] {
        match self {
            Record::Data(d) => d,
            _ => &[],
        }
    }
}
