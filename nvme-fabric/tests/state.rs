//! Host and subsystem states compare and hash by what they hold (a model checker keeps them in a visited set): two
//! runs of the same history give equal states with equal hashes, and a state differs once something happens.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::time::Duration;

use nvme_ccr::{Config, Policy};
use nvme_fabric::controller::SubsystemConfig;
use nvme_fabric::host::{HostConfig, Io};
use nvme_fabric::loopback::Loopback;

const NQN: &str = "nqn.2026-12.io.example:state";

fn hash<T: Hash>(t: &T) -> u64 {
    let mut h = DefaultHasher::new();
    t.hash(&mut h);
    h.finish()
}

fn run(writes: u8) -> Loopback {
    let mut s = SubsystemConfig::new(NQN);
    s.namespace.blocks = 8;
    let h = HostConfig::new(NQN, "nqn.2014-08.org.nvmexpress:uuid:state", [5; 16], Config::new(Policy::Ccr));
    let mut lo = Loopback::new(s, h, 2).unwrap();
    lo.start().unwrap();
    for v in 0..writes {
        lo.host.submit(lo.now, Io::Write { slba: 0, data: vec![v; 512].into() }).unwrap();
        lo.advance(Duration::from_millis(1)).unwrap();
    }
    lo
}

#[test]
fn same_history_same_state_and_hash() {
    let (a, b) = (run(3), run(3));
    assert_eq!(a.host, b.host);
    assert_eq!(hash(&a.host), hash(&b.host));
    assert_eq!(a.host.engine(), b.host.engine());
    assert_eq!(a.sub, b.sub);
    assert_eq!(hash(&a.sub), hash(&b.sub));
    let c = run(4);
    assert_ne!(a.host, c.host, "one more write changes the host");
    let d = a.host.clone();
    assert_eq!(hash(&d), hash(&a.host), "a clone hashes as the original");
}
