//! Notes: the facts behind this crate, in our words, with their public sources.
//!
//! These modules hold no code. Each renders one Markdown file shipped with the crate (`notes/*.md`); the crate's
//! doc comments cite them by section, e.g. "[notes::tcp §9.1](crate::notes::tcp)" is section 9.1 of [`tcp`]. They
//! name the public source of each fact (the NVMe Base, NVMe over Fabrics and NVMe/TCP Transport specifications,
//! the technical proposals TP8028 and TP4129, Linux, SPDK, FreeBSD, libnvme and Wireshark, mailing-list posts) and
//! mark what no source confirms.
//!
//! * [`tcp`]: the NVMe/TCP transport: PDU layouts, digests, padding, termination requests, receive-side checks.
//! * [`commands`]: queue entries, status, SGLs, Fabrics, admin and I/O commands, Identify data structures.
//! * [`ccr_cqt`]: Cross-Controller Reset (TP8028) and CQT (TP4129) on the wire.
//! * [`auth`]: in-band authentication (DH-HMAC-CHAP): the messages, identifiers and the DHHC-1 secret text.
//! * [`vectors`]: the exact byte vectors the tests check, and where each comes from.

#[doc = include_str!("../notes/tcp.md")]
pub mod tcp {}

#[doc = include_str!("../notes/commands.md")]
pub mod commands {}

#[doc = include_str!("../notes/ccr_cqt.md")]
pub mod ccr_cqt {}

#[doc = include_str!("../notes/auth.md")]
pub mod auth {}

#[doc = include_str!("../notes/vectors.md")]
pub mod vectors {}
