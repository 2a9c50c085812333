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
//!   CQT (TP4129), CIU, CIRN and CCRL, and the CCR and Lost Host Communication log pages.
//! * [`crc`]: CRC-32C, the digest algorithm.
//!
//! Every wire structure has two layers, as in smoltcp: a view (a zerocopy cast over caller bytes, checked once so
//! no accessor can panic) and a validated representation with `parse`, `emit` and `buffer_len`. Callers own
//! every buffer; nothing on the decode or encode path allocates.
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod cmd;
pub mod crc;
pub mod notes;
pub mod tcp;

#[cfg(feature = "pcap")]
pub mod capture;
