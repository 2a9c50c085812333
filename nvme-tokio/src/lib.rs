//! # nvme-tokio
//!
//! Thin tokio drivers that put the Sans-IO crates on real sockets, against peers nobody on this project wrote
//! (the Linux 6.1 nvmet-tcp target and nvme-tcp host) as well as against each other.
//!
//! * [`host`]: an NVMe/TCP host. [`host::Controller`] is one association (admin queue plus I/O queues, one TCP
//!   connection each): ICReq/ICResp with digest negotiation, Fabrics Connect, the Property Get/Set enable
//!   sequence, Identify (CQT, CIU, CIRN, CCRL), keep alive every KATO/2 (KATO/4 with TBKAS), an outstanding AER,
//!   Read/Write with in-capsule data, R2T/H2CData and C2HData. [`host::Multipath`] is a round-robin front over
//!   two or more controllers of one subsystem that feeds nvme-ccr's recovery engine and carries out its actions
//!   (CCR through a source, CCR log reads, retries, teardown, reconnect).
//! * [`target`]: a test target: nvme-fabric's controller ([`nvme_fabric::controller::Subsystem`]: the commands the
//!   Linux host sends, keep-alive expiry, CQT from configuration, Cross-Controller Reset, the `fopcode` / `fail-ccr`
//!   / `no-ccr` fault switches of ccr-cqt.md §11, every per-connection bound) on a TCP listener with a connection
//!   cap, its namespace in memory or in a file, and a run-time control line.
//! * [`rw_test`], [`ccr_check`] and [`cli`]: the seed's rw_test over real sockets, a CCR conformance probe, and
//!   the three `nvme-lab` subcommands built on them.
//!
//! Every PDU is framed, validated and encoded by nvme-proto, every recovery decision is nvme-ccr's, every target
//! decision nvme-fabric's; this crate owns sockets, buffers, timers and tasks. Both sides can record their own traffic in a pcap ([`Capture`]).
//! Choices (queue depths, in-capsule size, R2T sizing, keep alive, reconnect delay, the run-time fault switches)
//! are in `spec-notes/drivers.md`.
//!
//! # Example
//!
//! A target on loopback, one host controller, a write and a read back:
//!
//! ```
//! use nvme_tokio::host::{Controller, HostConfig};
//! use nvme_tokio::target::{Target, TargetConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let nqn = "nqn.2026-01.org.example:doc";
//! let target = Target::start(TargetConfig::new("127.0.0.1:0".parse()?, nqn)).await?;
//! let (ctrl, _events) = Controller::connect(target.local_addr(), &HostConfig::new(nqn, "doc")).await?;
//! assert_eq!(ctrl.identify().subnqn, nqn);
//! ctrl.write(8, &[0xA5; 4096]).await?; // 4 KiB: in-capsule data
//! ctrl.write(16, &vec![0x5A; 256 * 1024]).await?; // 256 KiB: R2T and H2CData
//! assert_eq!(ctrl.read(8, 4096).await?, vec![0xA5; 4096]); // C2HData
//! assert_eq!(ctrl.read(16, 256 * 1024).await?, vec![0x5A; 256 * 1024]);
//! ctrl.close();
//! target.shutdown();
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

pub mod ccr_check;
pub mod cli;
pub mod host;
pub mod rw_test;
pub mod target;
mod wire;

pub use wire::Capture;
