//! The connection parameters negotiated by ICReq/ICResp, held in one value that encoding and validation use.
//!
//! Facts: [notes::tcp](crate::notes::tcp) §3.1, §3.2 (fields), §4 (PDA arithmetic), §6 (negotiation rules).

use super::error::{EmitError, InvalidField, PduError};
use super::header::Role;
use super::ic::{IcReq, IcResp};

/// The largest HPDA/CPDA value (0's based dwords): 31, an alignment of 128 bytes
/// ([notes::tcp §6, §10](crate::notes::tcp)).
pub const MAX_PDA: u8 = 31;

/// The smallest MAXH2CDATA a host accepts: 4096 bytes, and it must be a multiple of 4
/// ([notes::tcp §6](crate::notes::tcp), Linux host).
pub const MIN_MAXH2CDATA: u32 = 4096;

/// MAXH2CDATA in [`Params::default`]: 0x400000 (4 MiB), the value the Linux target announces
/// ([notes::tcp §6](crate::notes::tcp)).
pub const DEFAULT_MAXH2CDATA: u32 = 0x40_0000;

/// Whether a MAXH2CDATA value is acceptable: at least [`MIN_MAXH2CDATA`] and a multiple of 4.
pub const fn maxh2cdata_is_valid(v: u32) -> bool {
    v >= MIN_MAXH2CDATA && v.is_multiple_of(4)
}

/// The negotiated parameters of one connection.
///
/// Before the IC exchange only IC PDUs flow, which use none of these values; [`Params::default`] (no digests,
/// PDA 0, MAXR2T 0, MAXH2CDATA 4 MiB) stands in until [`Params::from_ic`] gives the real ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Params {
    /// Header digests enabled (ICResp byte 11 bit 0): HDGSTF on every CapsuleCmd, CapsuleResp, H2CData, C2HData and
    /// R2T.
    pub header_digest: bool,
    /// Data digests enabled (ICResp byte 11 bit 1): DDGSTF on every PDU that carries data.
    pub data_digest: bool,
    /// HPDA (ICReq byte 10), 0's based dwords: the host's alignment for the data of controller-to-host PDUs.
    pub hpda: u8,
    /// CPDA (ICResp byte 10), 0's based dwords: the controller's alignment for the data of host-to-controller PDUs.
    pub cpda: u8,
    /// MAXR2T (ICReq bytes 15:12), 0's based: outstanding R2Ts per command the host accepts, minus one.
    pub maxr2t: u32,
    /// MAXH2CDATA (ICResp bytes 15:12): the largest DATAL of one H2CData PDU, bytes.
    pub maxh2cdata: u32,
}

impl Default for Params {
    fn default() -> Self {
        Params { header_digest: false, data_digest: false, hpda: 0, cpda: 0, maxr2t: 0, maxh2cdata: DEFAULT_MAXH2CDATA }
    }
}

impl Params {
    /// The parameters that an ICReq and the ICResp answering it settle on: digests as the ICResp enables them, HPDA
    /// and MAXR2T from the ICReq, CPDA and MAXH2CDATA from the ICResp.
    ///
    /// Checks what the host checks on an ICResp ([notes::tcp §6](crate::notes::tcp)): CPDA (and HPDA) at most 31,
    /// MAXH2CDATA at least 4096 and a multiple of 4, and no digest enabled that was not requested (FES 0x01, FEI 11). A
    /// controller that enables fewer digests than requested is accepted ([notes::tcp](crate::notes::tcp), "ICResp
    /// digests"; the Linux host would refuse).
    pub fn from_ic(req: &IcReq, resp: &IcResp) -> Result<Params, PduError> {
        if req.hpda > MAX_PDA {
            return Err(InvalidField::Pda(req.hpda).into());
        }
        if resp.cpda > MAX_PDA {
            return Err(InvalidField::Pda(resp.cpda).into());
        }
        if (resp.header_digest && !req.header_digest) || (resp.data_digest && !req.data_digest) {
            return Err(InvalidField::Digests(u8::from(resp.header_digest) | u8::from(resp.data_digest) << 1).into());
        }
        if !maxh2cdata_is_valid(resp.maxh2cdata) {
            return Err(InvalidField::MaxH2CData(resp.maxh2cdata).into());
        }
        Ok(Params {
            header_digest: resp.header_digest,
            data_digest: resp.data_digest,
            hpda: req.hpda,
            cpda: resp.cpda,
            maxr2t: req.maxr2t,
            maxh2cdata: resp.maxh2cdata,
        })
    }

    /// The ICReq a host sends to ask for these parameters.
    pub const fn ic_req(&self) -> IcReq {
        IcReq { hpda: self.hpda, header_digest: self.header_digest, data_digest: self.data_digest, maxr2t: self.maxr2t }
    }

    /// The ICResp a controller sends to grant these parameters.
    pub const fn ic_resp(&self) -> IcResp {
        IcResp {
            cpda: self.cpda,
            header_digest: self.header_digest,
            data_digest: self.data_digest,
            maxh2cdata: self.maxh2cdata,
        }
    }

    /// The data alignment in bytes that `receiver` asked for: (CPDA + 1) × 4 for PDUs a controller receives,
    /// (HPDA + 1) × 4 for PDUs a host receives ([notes::tcp §4](crate::notes::tcp)). PDO of a data-bearing PDU is a
    /// multiple of it.
    pub const fn pda_bytes(&self, receiver: Role) -> usize {
        let pda = match receiver {
            Role::Controller => self.cpda,
            Role::Host => self.hpda,
        };
        (pda as usize + 1) * 4
    }

    /// The number of R2Ts the host accepts outstanding per command: MAXR2T + 1.
    pub const fn max_outstanding_r2ts(&self) -> u64 {
        self.maxr2t as u64 + 1
    }

    /// Checks the values an encoder relies on: HPDA and CPDA at most 31 (so PDO fits in its byte).
    pub const fn check(&self) -> Result<(), EmitError> {
        if self.hpda > MAX_PDA || self.cpda > MAX_PDA { Err(EmitError::InvalidParams) } else { Ok(()) }
    }
}
