//! # nvme-sim
//!
//! A deterministic discrete-event simulator of NVMe/TCP multipath failover. Both ends are nvme-fabric's Sans-IO
//! state machines, the ones every runtime drives: the target is [`nvme_fabric::controller::Subsystem`] (one
//! namespace, one controller per path, keep-alive expiry with KATO and TBKAS, CCR, teardown that waits for every
//! accepted command, the fault injection), run on simulated media with a service time per command; the host is
//! [`nvme_fabric::host::Host`] (the Linux bring-up order, keep-alive, AER, command timeouts, multipath round robin,
//! recovery through [`nvme_ccr::Engine`]). The simulator adds what a runtime adds: a virtual clock, links with
//! latency, jitter and loss (as TCP retransmission delay) and freezes, one simulated TCP connection per host
//! connection; the Linux failover test's `rw_test` and queue-depth workloads; and a checker for the stale-write hazard
//! ([`nvme_ccr::notes::ccr_cqt`] §14).
//!
//! Every command and completion crosses the simulated wire as NVMe/TCP PDUs with header and data digests, encoded
//! and decoded by nvme-fabric on both sides; [`Scenario::capture`] keeps them for a pcap. Time is virtual,
//! randomness comes from one ChaCha8 generator seeded with [`Scenario::seed`], there are no threads: the same
//! scenario always gives the same [`Report`]. The model and every timing choice are described in
//! `spec-notes/simulator.md`.
//!
//! ## Example
//!
//! The Linux failover test with two rw_test iterations: `legacy` corrupts, `ccr` does not and stalls about the
//! 2 s fopcode delay.
//!
//! ```
//! use nvme_sim::{FaultKind, Policy, Scenario, WorkloadKind, run};
//!
//! let mut s = Scenario::new(Policy::Legacy, WorkloadKind::RwTest, FaultKind::Fopcode);
//! s.iterations = Some(2);
//! let legacy = run(&s);
//! assert!(legacy.corrupted);
//! assert!(legacy.rw_test_output.contains(&"validation failed".to_string()));
//!
//! s.policy = Policy::Ccr;
//! let ccr = run(&s);
//! assert!(!ccr.corrupted);
//! let release = ccr.release.unwrap();
//! assert!(release.as_secs_f64() > 1.9 && release.as_secs_f64() < 2.5, "{release:?}");
//! ```

#![forbid(unsafe_code)]

mod admin;
mod checker;
mod clock;
mod host;
mod net;
mod report;
mod scenario;
mod sim;
mod target;
mod workload;

pub mod metrics;

pub use nvme_ccr::Policy;
pub use report::{LatencySample, Report, TargetFailure, TimelineEntry, TimelineEvent, WireRecord};
pub use scenario::{FaultKind, FaultSpec, PathFault, SEQ_IO_BLOCKS, Scenario, UnknownName, WorkloadKind};
pub use sim::{DIP_WINDOW, SERIES_BIN};

/// Simulate one scenario from connect to the end of its workload (and until every stuck command has landed), then
/// run the checker.
pub fn run(s: &Scenario) -> Report {
    sim::run(s)
}

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
