//! # nvme-fabric
//!
//! The NVMe/TCP host and controller as Sans-IO state machines: written once, driven by every runtime (the
//! simulator, tokio, a DPU's firmware, io_uring). `no_std` with `alloc`, no `unsafe`, no clock, socket, thread or
//! random number generator inside: bytes and time go in, bytes and work for the runtime come out, the next deadline
//! is [`poll_timeout`](host::Host::poll_timeout). The model is quinn-proto: the protocol once, each runtime a thin
//! loop around it.
//!
//! * [`auth`]: in-band authentication (DH-HMAC-CHAP): the key transform, the responses, the RFC 7919
//!   Diffie-Hellman groups, and the host's and the controller's side of one transaction as Sans-IO exchanges
//!   (not yet driven by the host and controller below).
//! * [`conn`]: one NVMe/TCP queue pair's transport, shared by both roles: the IC exchange, a bounded receive buffer
//!   in front of nvme-proto's deframer, PDUs encoded straight into the caller's transmit buffer, the termination
//!   request on every fatal error ([`conn::CloseCause`] names each way a connection ends).
//! * [`controller`]: the target. A [`Subsystem`](controller::Subsystem) with its controllers, the Connect rules,
//!   admin and I/O dispatch, keep-alive expiry, Cross-Controller Reset through [`nvme_ccr::target`], media access as
//!   requests the runtime carries out, the failover test's faults, and a bound on everything a peer can make it hold.
//! * [`host`]: the host. A [`Host`](host::Host) brings associations up in the Linux host's order, keeps them alive,
//!   times commands out, and runs multipath I/O through nvme-ccr's recovery [`Engine`](nvme_ccr::Engine): a command
//!   caught in a failed controller is retried elsewhere only once a CCR or the time-based hold proves it safe.
//! * [`loopback`]: a host and a subsystem wired together in memory, with a hand-driven clock: the runtime of the
//!   examples and tests, and the smallest reference for writing one.
//!
//! It follows the NVMe/TCP Transport Specification 1.0, NVMe Base 2.3 (Cross-Controller Reset, TP8028) and TP4129
//! (CQT), as summarised in [`nvme_proto::notes`] and [`nvme_ccr::notes`]; the choices where they are silent are
//! stated where they are made (the `Decisions` of [`host`], the docs of each controller bound).
//!
//! ## Example: the Linux failover test, in memory
//!
//! Two paths to one subsystem; the controller behind path 0 holds the first Write for 2 s and fails. Under the `ccr`
//! policy the host holds that write until a Cross-Controller Reset through path 1 reports the old controller gone
//! (after the stuck write landed), then retries it: the block ends with the newest value.
//!
//! ```
//! use std::time::Duration;
//! use nvme_ccr::{Config, Policy};
//! use nvme_fabric::controller::{Fault, FaultAction, FaultTarget, SubsystemConfig};
//! use nvme_fabric::host::{HostConfig, Io};
//! use nvme_fabric::loopback::Loopback;
//!
//! let nqn = "nqn.2026-12.io.example:doc";
//! let mut target = SubsystemConfig::new(nqn);
//! target.cqt = nvme_proto::cmd::Cqt::from_raw(1); // the Linux test's CQT: 1 ms
//! let host = HostConfig::new(nqn, "nqn.2014-08.org.nvmexpress:uuid:doc", [1; 16], Config::new(Policy::Ccr));
//! let mut lo = Loopback::new(target, host, 2).unwrap();
//! lo.start().unwrap();
//! assert_eq!(lo.live_paths(), 2);
//!
//! // Controller 1 (path 0) holds the next Write for 2 s and fails at once.
//! let fault = Fault { opcode: 1, delay: Duration::from_millis(2000), action: FaultAction::Fatal };
//! lo.sub.arm_fault(FaultTarget::Controller(1), fault).unwrap();
//! let t0 = lo.now;
//! lo.host.submit(lo.now, Io::Write { slba: 0, data: vec![1u8; 512].into() }).unwrap();
//! while lo.done.is_empty() {
//!     lo.advance(Duration::from_millis(10)).unwrap();
//! }
//! let held = lo.now.saturating_duration_since(t0);
//! assert!(held >= Duration::from_secs(2) && held < Duration::from_millis(2100), "{held:?}");
//!
//! // The retried write completed on path 1; a newer write follows, and nothing stale lands after it.
//! lo.host.submit(lo.now, Io::Write { slba: 0, data: vec![2u8; 512].into() }).unwrap();
//! lo.advance(Duration::from_secs(30)).unwrap();
//! assert_eq!(lo.media[0], 2);
//! ```
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod auth;
pub mod conn;
pub mod controller;
pub mod host;
pub mod loopback;

pub use nvme_ccr::Instant;

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
