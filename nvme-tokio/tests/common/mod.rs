//! Helpers shared by the loopback tests.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use nvme_tokio::host::HostConfig;
use nvme_tokio::target::{Target, TargetConfig};

pub mod raw;

/// A fresh subsystem NQN per test, so targets of parallel tests never mix.
pub fn nqn(test: &str) -> String {
    format!("nqn.2026-01.org.example:{test}")
}

/// A target on an ephemeral loopback port.
pub fn target_config(test: &str) -> TargetConfig {
    TargetConfig::new("127.0.0.1:0".parse::<SocketAddr>().unwrap(), &nqn(test))
}

/// Starts a target with `cfg`.
pub async fn start(cfg: TargetConfig) -> Target {
    Target::start(cfg).await.expect("target starts on loopback")
}

/// A host configuration for `test` with a short keep-alive timeout.
pub fn host(test: &str, kato_ms: u64) -> HostConfig {
    let mut h = HostConfig::new(&nqn(test), test);
    h.fabric.kato = Duration::from_millis(kato_ms);
    h
}
