//! Notes: the facts and decisions behind this crate, in our words, with their public sources.
//!
//! These modules hold no code. Each renders one Markdown file shipped with the crate (`notes/*.md`); the crate's
//! doc comments cite them by section or decision number, e.g. "[notes::ccr_cqt §14](crate::notes::ccr_cqt)" is
//! section 14 of [`ccr_cqt`]. The wire-level notes (PDUs, commands, byte layouts, test vectors) are nvme-proto's:
//! [`nvme_proto::notes`].
//!
//! * [`ccr_cqt`]: Cross-Controller Reset (TP8028) and time-based recovery (TP4129): the hold formula, the Linux
//!   host and target algorithms, the stale-write hazard, the fault model the tests use.
//! * [`recovery`]: what the engine guarantees, its states and timers, and its numbered decisions where the
//!   specification or Linux is unclear.

#[doc = include_str!("../notes/ccr_cqt.md")]
pub mod ccr_cqt {}

#[doc = include_str!("../notes/recovery.md")]
pub mod recovery {}
