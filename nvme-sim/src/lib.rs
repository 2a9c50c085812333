//! # nvme-sim
//!
//! A deterministic discrete-event simulator of NVMe/TCP multipath failover: the target is
//! [`nvme_fabric::controller::Subsystem`], the one Sans-IO controller every runtime drives (one namespace, one
//! controller per path, keep-alive expiry with KATO and TBKAS, CCR, teardown that waits for every accepted command,
//! the fault injection), run on simulated media with a service time per command; links with latency, jitter and
//! loss (as TCP retransmission delay); a multipath host that drives [`nvme_ccr::Engine`] only through its public
//! interface; the seed's `rw_test` and queue-depth workloads; and a checker for the stale-write hazard
//! ([`nvme_ccr::notes::ccr_cqt`] §14).
//!
//! Every command and completion crosses the simulated wire as NVMe/TCP PDUs with header and data digests (the
//! host's encoded and decoded with `nvme-proto`, the target's by `nvme-fabric`); [`Scenario::capture`] keeps them for
//! a pcap. Time is virtual, randomness comes from
//! one ChaCha8 generator seeded with [`Scenario::seed`], there are no threads: the same scenario always gives the same
//! [`Report`]. Each timing choice is documented on the knob that sets it ([`Scenario`]).
//!
//! ## Example
//!
//! The seed's failover test with two rw_test iterations: `legacy` corrupts, `ccr` does not and stalls about the
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

mod checker;
mod clock;
mod host;
mod net;
mod proto;
mod report;
mod scenario;
mod sim;
mod target;
mod workload;

pub use nvme_ccr::Policy;
pub use report::{LatencySample, Report, TimelineEntry, WireRecord};
pub use scenario::{FaultKind, FaultSpec, PathFault, Scenario, UnknownName, WorkloadKind};

/// Simulate one scenario from connect to the end of its workload (and until every stuck command has landed), then
/// run the checker.
pub fn run(s: &Scenario) -> Report {
    sim::run(s)
}

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
