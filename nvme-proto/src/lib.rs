//! # nvme-proto
//!
//! Zero-copy NVMe/TCP PDU codecs and NVMe commands, `no_std`, with no `unsafe` code.
//!
//! * [`tcp`]: the NVMe/TCP transport (PDU Format Version 0, NVMe/TCP Transport Specification 1.0 / NVMe-oF 1.1
//!   section 7.4): the nine PDU types, header and data digests, PDO/PDA padding, the streaming deframer and
//!   receive-side validation that maps every failure to the FES/FEI a termination request carries.
//! * [`cmd`]: queue entries and commands: 64-byte SQE, 16-byte CQE and status, SGL descriptors, Fabrics (Connect,
//!   Property Get/Set, Disconnect, Authentication), Admin (Identify, Get Log Page, Features, Keep Alive, AER, Abort
//!   and **Cross-Controller Reset**, NVMe Base 2.3 / TP8028), NVM I/O (Read, Write, Flush), Identify Controller with
//!   CQT (TP4129), CIU, CIRN, CCRL and the ANA fields, and the CCR, Lost Host Communication, Discovery and Asymmetric
//!   Namespace Access log pages.
//! * [`auth`]: in-band authentication (DH-HMAC-CHAP, TP 8006): the seven messages the Authentication Send/Receive
//!   commands carry, their hash, DH group and failure identifiers, and the `DHHC-1:NN:<base64>:` secret text with its
//!   CRC-32 (the computations and the exchange are nvme-fabric's).
//! * [`crc`]: CRC-32C, the digest algorithm: `crc-fast` (CPU CRC instructions) on hosted targets, the `crc`
//!   crate's tables on bare metal (`target_os = "none"`) or with the `portable-crc` feature.
//! * [`notes`]: the facts behind the code, in our words, with the public source of each (specification by name and
//!   section or figure, technical proposals, Linux, SPDK, FreeBSD, libnvme, Wireshark): [`notes::tcp`],
//!   [`notes::commands`], [`notes::ccr_cqt`], [`notes::auth`], [`notes::vectors`]. Doc comments cite them by section ("notes::tcp
//!   §9.1").
//!
//! `no_std` for real: with `--no-default-features` the crate builds for bare-metal targets (`thumbv7em-none-eabihf`,
//! `x86_64-unknown-none`, checked in CI) and the codec needs no allocator (the `alloc` feature adds heap-backed
//! helpers only).
//!
//! Every wire structure has two layers, as in smoltcp: a view (a zerocopy cast over caller bytes, checked once so
//! no accessor can panic) and a validated representation with `parse`, `emit` and `buffer_len`. Callers own
//! every buffer; nothing on the decode or encode path allocates. Where a structure has no fixed positions (the ANA
//! log's group descriptors, each with its own NSID list; the namespace identification descriptors), nom frames it,
//! built without `std` or `alloc`; its answers reach callers as [`cmd::CmdError`] ([`notes::commands`] §12).
//!
//! ## What you need to know
//!
//! **Specifications followed.** The NVMe/TCP Transport Specification 1.0 (PDU format version 0), NVMe over Fabrics
//! (Connect, Property Get/Set, Disconnect, Authentication framing), NVMe Base 2.3 for the admin and I/O commands,
//! including Cross-Controller Reset from TP8028 (opcode 0x38, logs 0x1E/0x1F, CIU/CIRN/CCRL), and CQT from TP4129
//! (Base 2.1). Where Linux departs from the text, this crate interoperates with Linux: Fabrics SQEs carry byte 1 =
//! 0x40 and an SGL1 as Linux sends them, although NVMe Base 2.2 (figures 550–554) marks those bytes
//! reserved ([`notes::commands`] §11).
//!
//! **Unconfirmed values.** Each sits behind one named constant, so it can change in one place:
//!
//! * [`cmd::AEI_CCR_COMPLETED`] (0xF4) and [`cmd::AEI_LOST_HOST_COMMUNICATION`] (0xF5): the Notice AEIs of "CCR
//!   Completed" and "Lost Host Communication" (Base 2.3 Fig. 154 as a third-party audit lists it).
//!   [`cmd::AsyncEvent::is_ccr_completed`] also accepts any Notice naming log 0x1E, so a controller using another
//!   AEI is still recognised.
//! * [`cmd::OAES_CCRCN`] and [`cmd::OAES_LHCN`] (bits 20 and 21): the Identify Controller OAES bits advertising those
//!   notices; the sources disagree ([`notes::ccr_cqt`] §5). [`cmd::AEC_CCRCN`] and [`cmd::AEC_LHCN`] (bits 20 and
//!   21): the Set Features 0x0B bits enabling them, assumed to follow OAES.
//! * [`tcp::DATA_DIGEST_ZERO_PADS`] (`false`): a data digest covers exactly the data bytes, not zero-padded to a
//!   dword (Linux, FreeBSD and Wireshark do so; SPDK pads).
//! * [`tcp::PAD_BYTE`] (0): the PAD bytes we send; received PAD is never checked (no digest covers it).
//! * [`cmd::SPSP0_DHCHAP`] and [`cmd::SPSP1_DHCHAP`] (0x01): SPSP0/SPSP1 of the DH-HMAC-CHAP Authentication
//!   commands, what every implementation sends; their meaning in the specification was not seen
//!   ([`notes::auth`] §7).
//! * [`tcp::FEI_RESERVED`] (0) and [`tcp::FEI_HEADER_DIGEST_IS_RECEIVED_DIGEST`] (`true`): the FEI sent with FES
//!   0x02/0x04/0x05, and the received header digest as the FEI of FES 0x03. Both were best guesses; a later
//!   cross-check found them in the NVMe/TCP 1.0 figures 22 and 23.
//!
//! Meanings the crate decodes but does not interpret, because only the names are known: CCR completion V and CLRI,
//! CCR log ACID and RETRY, Lost Host Communication LC ([`notes::ccr_cqt`] §17).
//!
//! **Choices where the specification is silent or sources disagree:**
//!
//! * Zero means "not reported": CQT = 0 is [`cmd::Cqt::NotReported`] (never "0 ms"), CCRL = 0 is
//!   [`cmd::Ccrl::NotReported`] (never "limit zero"); CIU and CIRN stay plain integers, to be sent back exactly as
//!   read, zeros included ([`notes::ccr_cqt`] §2, §6.3).
//! * A data digest error is not fatal: the deframer stays established and the error names the command to fail and
//!   the status to fail it with, [`tcp::STATUS_TRANSIENT_TRANSPORT_ERROR`] (0x0044, SCT 0 / SC 0x22). A header
//!   digest error is fatal ([`notes::tcp`] §5.4). The Linux target treats both as fatal.
//! * The deframer bounds PLEN before buffering, at [`tcp::DEFAULT_MAX_PLEN`] unless told otherwise; the
//!   specification sets no ceiling ([`notes::tcp`] §9.1).
//! * Receive checks run in FreeBSD's order ("lowest incorrect field first"), and each failure carries the FES/FEI a
//!   termination request would send ([`notes::tcp`] §9.1); checks that need per-command state are the driver's.
//! * "Impacted controller not found" for a CCR is read as Invalid Field in Command (no dedicated code is known).
//! * [`cmd::Command::has_side_effects`] is conservative: Get Log Page with RAE = 0 (it clears an event), every
//!   unknown opcode and every Fabrics command but Property Get count as side-effecting ([`notes::commands`] §7).
//!
//! The full lists: [`notes::tcp`] and [`notes::commands`] ("What this crate does with these facts"),
//! [`notes::ccr_cqt`] §17.
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod auth;
pub mod cmd;
pub mod crc;
pub mod notes;
pub mod tcp;

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
