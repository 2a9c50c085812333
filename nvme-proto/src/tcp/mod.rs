//! The NVMe/TCP transport, PDU Format Version 0 (NVMe/TCP Transport Specification 1.0; NVMe-oF 1.1 §7.4).
//!
//! * The nine PDU types, each as a zero-copy view over caller bytes (`*Pdu` structs: `#[repr(C)]`, little-endian,
//!   alignment 1, layout locked by size and offset asserts) and a validated representation with `parse`, `emit` and
//!   `buffer_len`: [`IcReq`], [`IcResp`], [`TermReq`] (H2CTermReq and C2HTermReq), [`CapsuleCmd`], [`CapsuleResp`],
//!   [`H2CData`], [`C2HData`], [`R2T`], and [`Pdu`] over all of them. Unknown types stay visible as [`PduType`]
//!   values in the error.
//! * Header and data digests (CRC-32C), PDO and PAD from the receiver's PDA, all from one [`Params`] value that the
//!   ICReq/ICResp exchange settles.
//! * [`Deframer`]: a streaming, non-allocating deframer that answers [`Decoded::Need`] or one borrowed PDU, bounds
//!   PLEN before asking for the body, and tracks the IC exchange.
//! * Receive validation in the order of [notes::tcp §9.1](crate::notes::tcp); every failure is a [`PduError`] with the
//!   FES and FEI a termination request carries and whether it is fatal. A data digest error only fails its command.
//!
//! Facts, with their public sources, and our reading of the unclear parts: [`notes::tcp`](crate::notes::tcp).
//!
//! # Example
//!
//! Encode a CapsuleResp with a header digest (vector A of [notes::vectors §2.1](crate::notes::vectors)) and decode it
//! with the deframer, the bytes arriving in two pieces:
//!
//! ```
//! use nvme_proto::tcp::{CapsuleResp, Decoded, Deframer, Params, Pdu, Role};
//!
//! let params = Params { header_digest: true, ..Params::default() };
//! // CQE: DW0 = 1, SQHD = 1, SQID = 0, CID = 1, status 0.
//! let resp = CapsuleResp { cqe: [1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0] };
//! let mut wire = [0u8; 64];
//! let len = resp.emit(&params, &mut wire)?;
//! assert_eq!(len, 28);
//! assert_eq!(wire[24..28], [0xfa, 0xc8, 0x76, 0xef]); // HDGST 0xEF76C8FA, little-endian
//!
//! let mut host = Deframer::established(Role::Host, params);
//! assert_eq!(host.decode(&wire[..10])?, Decoded::Need(18)); // the header is valid: 18 more bytes to PLEN
//! match host.decode(&wire[..len])? {
//!     Decoded::Pdu { pdu: Pdu::CapsuleResp(r), consumed } => {
//!         assert_eq!(consumed, 28);
//!         assert_eq!((r.cid(), r), (1, resp));
//!     }
//!     other => panic!("unexpected {other:?}"),
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod capsule;
mod data;
mod deframer;
mod error;
mod header;
mod ic;
mod params;
mod pdu;
mod rx;
mod term;

pub use capsule::{CAPSULE_CMD_HLEN, CAPSULE_RESP_HLEN, CapsuleCmd, CapsuleCmdPdu, CapsuleResp, CapsuleRespPdu};
pub use data::{C2HData, DATA_PDU_HLEN, DataPdu, H2CData, R2T, R2TPdu, check_in_window};
pub use deframer::{ConnState, DEFAULT_MAX_PLEN, Decoded, Deframer, MIN_MAX_PLEN};
pub use error::{
    DataDigestError, EmitError, FEI_HEADER_DIGEST_IS_RECEIVED_DIGEST, FEI_RESERVED, Fes, InvalidField, PduError,
    STATUS_TRANSIENT_TRANSPORT_ERROR, SequenceError,
};
pub use header::{CH_LEN, CommonHeader, DIGEST_LEN, PduFlags, PduType, Role};
pub use ic::{IC_PDU_LEN, IcReq, IcReqPdu, IcResp, IcRespPdu};
pub use params::{DEFAULT_MAXH2CDATA, MAX_PDA, MIN_MAXH2CDATA, Params, maxh2cdata_is_valid};
pub use pdu::{DATA_DIGEST_ZERO_PADS, PAD_BYTE, Pdu, data_digest};
pub use term::{TERM_REQ_HLEN, TERM_REQ_MAX_DATA, TERM_REQ_MAX_PLEN, TermReq, TermReqPdu};
