//! # nvme-fabric
//!
//! The NVMe/TCP host and controller as Sans-IO state machines: written once, driven by every runtime (the
//! simulator, tokio, a DPU's firmware, io_uring). `no_std` with `alloc`, no `unsafe`, no clock, socket, thread or
//! random number generator inside: bytes and time go in, bytes and work for the runtime come out.
//!
//! * [`conn`]: one NVMe/TCP queue pair's transport: the IC exchange, a bounded receive buffer in front of
//!   nvme-proto's deframer, PDUs encoded straight into the caller's transmit buffer, termination requests.
//! * [`controller`]: the target. A [`Subsystem`](controller::Subsystem) with its controllers, the Connect rules,
//!   admin and I/O dispatch, keep-alive expiry, Cross-Controller Reset through [`nvme_ccr::target`], media access as
//!   requests the runtime carries out, and the failover test's fault injection.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod conn;
pub mod controller;
pub mod host;

pub use nvme_ccr::Instant;
