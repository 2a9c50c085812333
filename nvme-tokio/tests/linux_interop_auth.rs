//! Our host against the real Linux 6.12 nvmet-tcp target with in-band authentication (DH-HMAC-CHAP), booted under
//! qemu by `scripts/interop.sh auth`. It sets `NVME_INTEROP_ADDR` (the forwarded nvmet port),
//! `NVME_INTEROP_AUTH_NQN` (the subsystem that admits only the listed hosts) and `NVME_INTEROP_AUTH_CONF`: one line
//! per nvmet host entry, `HOSTNQN KEY CTRLKEY HASH DHGROUP` (`-` for no controller key), the keys nvmet was given
//! in configfs (`dhchap_key`, `dhchap_ctrl_key`, `dhchap_hash`, `dhchap_dhgroup`).
//!
//! Ignored by default; without the environment the tests FAIL with a message saying so. Secrets are never printed.

use std::net::SocketAddr;
use std::time::Duration;

use nvme_fabric::auth::AuthFailure;
use nvme_fabric::host::{HostAuthConfig, PathFailure, RefusedReason};
use nvme_proto::auth::DhchapSecret;
use nvme_proto::cmd::IdentifyController;
use nvme_tokio::host::{Controller, Digests, HostConfig, HostError};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: these tests need the Linux 6.12 nvmet-tcp target with host keys that \
             `scripts/interop.sh auth` boots under qemu; run that script instead"
        )
    })
}

/// One nvmet host entry of the configuration file.
struct Entry {
    nqn: String,
    key: DhchapSecret,
    ctrl_key: Option<DhchapSecret>,
    hash: String,
    group: String,
}

fn entries() -> Vec<Entry> {
    let path = env("NVME_INTEROP_AUTH_CONF");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    let list: Vec<Entry> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(f.len(), 5, "a line of {path} is NQN KEY CTRLKEY HASH DHGROUP");
            // The error of a bad secret never shows its text.
            let secret = |s: &str| DhchapSecret::parse(s).unwrap_or_else(|e| panic!("a secret of {path}: {e}"));
            Entry {
                nqn: f[0].to_string(),
                key: secret(f[1]),
                ctrl_key: (f[2] != "-").then(|| secret(f[2])),
                hash: f[3].to_string(),
                group: f[4].to_string(),
            }
        })
        .collect();
    assert!(!list.is_empty(), "{path} lists no host");
    list
}

fn addr() -> SocketAddr {
    env("NVME_INTEROP_ADDR").parse().expect("NVME_INTEROP_ADDR is HOST:PORT")
}

/// Our host as `hostnqn` with `key` (and `ctrl_key`) against the authenticating subsystem, both digests.
fn host(hostnqn: &str, key: Option<&DhchapSecret>, ctrl_key: Option<&DhchapSecret>) -> HostConfig {
    let mut h = HostConfig::new(&env("NVME_INTEROP_AUTH_NQN"), "linux-interop-auth");
    h.fabric.hostnqn = hostnqn.to_string();
    h.fabric.digests = Digests::Both.into();
    h.fabric.kato = Duration::from_secs(5);
    // ffdhe8192 under qemu's software CPU: the guest's modular exponentiation takes seconds.
    h.fabric.connect_timeout = Duration::from_secs(120);
    if let Some(k) = key {
        let mut a = HostAuthConfig::new(k.clone(), ctrl_key.cloned(), [0; 32]);
        a.step_timeout = Duration::from_secs(60);
        h.fabric.auth = Some(a);
    }
    h
}

/// `key` with its first byte changed (same transform and length): a wrong key nvmet cannot tell by its form.
fn wrong(key: &DhchapSecret) -> DhchapSecret {
    let mut bytes = key.secret().to_vec();
    bytes[0] ^= 0x5A;
    DhchapSecret::new(key.transform(), &bytes).expect("same length")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs qemu: scripts/interop.sh auth"]
async fn linux_interop_auth_every_host_entry_authenticates_and_does_io() {
    let subnqn = env("NVME_INTEROP_AUTH_NQN");
    for (i, e) in entries().iter().enumerate() {
        let how = if e.ctrl_key.is_some() { "bidirectional" } else { "unidirectional" };
        let cfg = host(&e.nqn, Some(&e.key), e.ctrl_key.as_ref());
        let (c, _events) = Controller::connect(addr(), &cfg)
            .await
            .unwrap_or_else(|err| panic!("entry {i} ({how}, hmac({}), {}): {err}", e.hash, e.group));
        let id = c.identify().await.expect("Identify Controller");
        let id = IdentifyController::parse(&id).expect("Identify Controller parses");
        assert_eq!(id.subnqn, subnqn);
        // Data through the authenticated admin and I/O queues.
        let data: Vec<u8> = (0..65536u32).map(|j| (j.wrapping_mul(2_654_435_761) >> 13) as u8 ^ i as u8).collect();
        let slba = 4096 + 256 * i as u64;
        c.write(slba, &data).await.expect("64 KiB written");
        assert!(c.read(slba, data.len()).await.expect("64 KiB read") == data, "entry {i}: read back differs");
        c.close().await;
        println!(
            "linux_interop_auth: entry {i}: {how}, hmac({}) {}: authenticated, 64 KiB written and read back",
            e.hash, e.group
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs qemu: scripts/interop.sh auth"]
async fn linux_interop_auth_wrong_keys_and_unknown_hosts_are_refused() {
    let list = entries();
    let first = &list[0];

    // A wrong host key: nvmet answers the Reply with AUTH_Failure1.
    let err = Controller::connect(addr(), &host(&first.nqn, Some(&wrong(&first.key)), None))
        .await
        .expect_err("a wrong host key must be refused");
    match err {
        HostError::Path { failure: PathFailure::Authentication { qid: 0, failure }, .. } => {
            assert!(matches!(failure, AuthFailure::PeerFailed { .. } | AuthFailure::CommandFailed), "{failure}");
        }
        other => panic!("wrong host key: expected an authentication failure on the admin queue, got {other}"),
    }
    println!("linux_interop_auth: wrong host key: refused: {err}");

    // A wrong controller key: nvmet's R2 does not match, our host refuses it with AUTH_Failure2.
    let bi = list.iter().find(|e| e.ctrl_key.is_some()).expect("a bidirectional entry");
    let err = Controller::connect(addr(), &host(&bi.nqn, Some(&bi.key), Some(&wrong(bi.ctrl_key.as_ref().unwrap()))))
        .await
        .expect_err("a wrong controller key must be refused");
    match err {
        HostError::Path {
            failure: PathFailure::Authentication { qid: 0, failure: AuthFailure::Rejected(_) }, ..
        } => {}
        other => panic!("wrong controller key: expected our AUTH_Failure2 on the admin queue, got {other}"),
    }
    println!("linux_interop_auth: wrong controller key: refused by our host: {err}");

    // A listed host without a key: Connect's response asks for authentication.
    let err = Controller::connect(addr(), &host(&first.nqn, None, None)).await.expect_err("no key must be refused");
    assert!(
        matches!(err, HostError::Path { failure: PathFailure::Refused(RefusedReason::AuthenticationRequired), .. }),
        "no key: {err}"
    );
    println!("linux_interop_auth: listed host without a key: refused: {err}");

    // A host nvmet does not list: Connect itself fails.
    let stranger = "nqn.2014-08.org.nvmexpress:uuid:00000000-0000-4000-8000-00000000dead";
    let err = Controller::connect(addr(), &host(stranger, Some(&first.key), None))
        .await
        .expect_err("an unlisted host must be refused");
    assert!(matches!(err, HostError::Path { .. }), "unlisted host: {err}");
    println!("linux_interop_auth: unlisted host: refused: {err}");
}
