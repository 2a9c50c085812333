//! # nvme-tokio
//!
//! Thin tokio drivers that put the Sans-IO crates on real sockets, against peers nobody on this project wrote
//! (the Linux 6.1 nvmet-tcp target and nvme-tcp host) as well as against each other.
//!
//! * [`host`]: an NVMe/TCP host: nvme-fabric's [`Host`](nvme_fabric::host::Host) (bring-up in the Linux host's order,
//!   keep alive, AER, command timeouts, multipath I/O through nvme-ccr's recovery engine, reconnects) on sockets.
//!   [`host::Multipath`] has one path per address and the configured recovery policy; [`host::Controller`] is a
//!   single controller (one path, policy `legacy`), for probes and tests.
//! * [`target`]: a test target: nvme-fabric's controller ([`nvme_fabric::controller::Subsystem`]: the commands the
//!   Linux host sends, keep-alive expiry, CQT from configuration, Cross-Controller Reset, the `fopcode` / `fail-ccr`
//!   / `no-ccr` fault switches of [`nvme_ccr::notes::ccr_cqt`] §11, every per-connection bound) on a TCP listener
//!   with a connection cap, its namespace in memory or in a file, and a run-time control line.
//! * [`rw_test`] and [`ccr_check`]: the seed's rw_test over real sockets and a CCR conformance probe (the
//!   command line that runs them, with `target`, is nvme-lab's).
//!
//! Every PDU is framed, validated and encoded, and every host and target decision made, by nvme-fabric (over
//! nvme-proto's codecs and nvme-ccr's engine); this crate owns sockets, buffers, timers and tasks, one driver loop
//! shared by both sides. Both sides can record their own traffic in a pcap ([`Capture`]). Choices (buffer sizes, the
//! run-time fault switches) are documented on the configuration types that set them.
//!
//! # Example
//!
//! A target on loopback, one host controller, a write and a read back:
//!
//! ```
//! use nvme_proto::cmd::IdentifyController;
//! use nvme_tokio::host::{Controller, HostConfig};
//! use nvme_tokio::target::{Target, TargetConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let nqn = "nqn.2026-01.org.example:doc";
//! let target = Target::start(TargetConfig::new("127.0.0.1:0".parse()?, nqn)).await?;
//! let (ctrl, _events) = Controller::connect(target.local_addr(), &HostConfig::new(nqn, "doc")).await?;
//! let id = ctrl.identify().await?;
//! assert_eq!(IdentifyController::parse(&id)?.subnqn, nqn);
//! ctrl.write(8, &[0xA5; 4096]).await?; // 4 KiB: in-capsule data
//! ctrl.write(16, &vec![0x5A; 256 * 1024]).await?; // 256 KiB: R2T and H2CData
//! assert_eq!(ctrl.read(8, 4096).await?, vec![0xA5; 4096]); // C2HData
//! assert_eq!(ctrl.read(16, 3 << 20).await?[..256 * 1024], vec![0x5A; 256 * 1024]); // 3 MiB: three commands
//! ctrl.close().await; // CC.SHN, then the sockets close
//! target.shutdown();
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

mod capture;
pub mod ccr_check;
mod driver;
pub mod host;
pub mod rw_test;
pub mod target;

pub use capture::Capture;

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
