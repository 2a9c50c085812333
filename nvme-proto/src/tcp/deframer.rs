//! The streaming deframer: the caller owns the receive buffer, the deframer says "need N more bytes" or hands back
//! one complete, validated PDU borrowed from it.
//!
//! Facts: [notes::tcp](crate::notes::tcp) §6 (IC ordering), §7.2 (TermReq handling), §9.1 (check order, bounding PLEN
//! before buffering).

use super::error::PduError;
use super::header::{CH_LEN, CommonHeader, DIGEST_LEN, Role};
use super::params::{DEFAULT_MAXH2CDATA, Params};
use super::pdu::Pdu;
use super::rx::{Frame, IcPhase, Rx, Shape, check_header, check_shaped, finish, shape_of};
use super::term::{TERM_REQ_MAX_PLEN, TermReq};

/// The PLEN ceiling of [`Deframer::new`]: room for 4 MiB of data ([`DEFAULT_MAXH2CDATA`], the Linux target's
/// MAXH2CDATA) behind the largest possible PDO (255) and a data digest. Our choice, not the specification's: raise
/// it with [`Deframer::with_max_plen`] for larger C2HData PDUs or in-capsule data.
pub const DEFAULT_MAX_PLEN: u32 = DEFAULT_MAXH2CDATA + 256 + DIGEST_LEN as u32;

/// The smallest PLEN ceiling a deframer accepts: 152, the largest TermReq, which every receiver must be able to read.
pub const MIN_MAX_PLEN: u32 = TERM_REQ_MAX_PLEN as u32;

/// The deframer's answer for the bytes it was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// `n` more bytes are needed (at least) before anything more can be said: first up to the 8-byte common header,
    /// then, once that header passed its checks, up to PLEN.
    Need(usize),
    /// One complete, valid PDU at the start of the buffer; drop `consumed` (= PLEN) bytes before the next call.
    Pdu {
        /// The PDU, borrowing from the buffer.
        pdu: Pdu<'a>,
        /// Its length in bytes.
        consumed: usize,
    },
}

/// Where a connection is, as the deframer sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnState {
    /// Before the IC exchange: a controller accepts only ICReq, a host only ICResp (and either a TermReq). Anything
    /// else is FES 0x02 PDU Sequence Error.
    AwaitingIc,
    /// After it: IC PDUs are FES 0x01, FEI 0 ([notes::tcp §9.1](crate::notes::tcp) step 1a).
    Established,
    /// After a fatal error or a received TermReq: every call returns [`PduError::Closed`].
    Closed,
}

/// A Sans-IO NVMe/TCP receive deframer for one connection: no buffer, no allocation, no I/O.
///
/// Call order: feed [`decode`](Deframer::decode) the unconsumed received bytes (the caller appends what the socket
/// delivers); on [`Decoded::Need`] read more and call again with the longer buffer; on [`Decoded::Pdu`] handle the
/// PDU, then drop `consumed` bytes. After an ICReq/ICResp the deframer is [`ConnState::Established`]; the driver
/// then installs the negotiated values with [`set_params`](Deframer::set_params) (a host after
/// [`Params::from_ic`], a controller after sending its ICResp) before decoding the next PDU.
///
/// On an error: if [`is_fatal`](PduError::is_fatal), send [`term_req`](Deframer::term_req) if it gives one, then
/// close; the deframer is [`ConnState::Closed`]. A data digest error is not fatal: fail the command
/// ([`PduError::cccid`], status [`PduError::command_status`]), drop [`PduError::consumed`] bytes and continue.
///
/// Every chunking of a stream yields the same PDUs. The common header (type, direction, IC ordering, flags against
/// the negotiation, HLEN, PDO, PLEN and the PLEN ceiling) is checked as soon as its 8 bytes are present, before
/// `Need` asks for the rest of the PDU; the PDU-specific header and its digest as soon as they are present.
///
/// While it waits for the rest of a PDU, the deframer keeps what those checks found, so a call that brings a few
/// more bytes costs a comparison, not the checks again (a driver fed one byte at a time stays linear). It keeps
/// them only for the same common header (the first 8 bytes of `buf`) and, with header digests, the same received
/// HDGST: a call whose buffer starts differently is checked from scratch. Between a `Need` and the PDU, give the
/// same bytes again, grown, as the call order above says.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Deframer {
    role: Role,
    params: Params,
    state: ConnState,
    max_plen: u32,
    /// The PDU whose common header passed its checks and whose remaining bytes are awaited.
    pending: Option<Pending>,
}

/// A PDU the deframer waits for the rest of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Pending {
    /// Its common header, as received.
    ch: [u8; CH_LEN],
    /// What the checks of the common header found.
    frame: Frame,
    /// Once the PDU-specific header and its digest passed: `Some` of the received HDGST bytes (`None` inside
    /// without a header digest).
    header: Option<Option<[u8; DIGEST_LEN]>>,
}

impl Deframer {
    /// A deframer for a fresh connection received by `role`: [`ConnState::AwaitingIc`], default parameters, PLEN
    /// ceiling [`DEFAULT_MAX_PLEN`].
    pub fn new(role: Role) -> Self {
        Deframer {
            role,
            params: Params::default(),
            state: ConnState::AwaitingIc,
            max_plen: DEFAULT_MAX_PLEN,
            pending: None,
        }
    }

    /// A deframer for a connection whose IC exchange is done, with the negotiated `params`.
    pub fn established(role: Role, params: Params) -> Self {
        Deframer { role, params, state: ConnState::Established, max_plen: DEFAULT_MAX_PLEN, pending: None }
    }

    /// Sets the PLEN ceiling: a PDU longer than `max_plen` is refused (FES 0x01, FEI 4) as soon as its common header
    /// is read. Values below [`MIN_MAX_PLEN`] are raised to it.
    pub fn with_max_plen(mut self, max_plen: u32) -> Self {
        self.max_plen = max_plen.max(MIN_MAX_PLEN);
        self.pending = None;
        self
    }

    /// Installs the negotiated parameters (digests, PDAs, MAXH2CDATA) for the PDUs that follow.
    pub fn set_params(&mut self, params: Params) {
        self.params = params;
        self.pending = None;
    }

    /// The receiving end.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The parameters in force.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The connection state.
    pub fn state(&self) -> ConnState {
        self.state
    }

    /// The PLEN ceiling.
    pub fn max_plen(&self) -> u32 {
        self.max_plen
    }

    /// Looks at the bytes at the start of `buf` (received, not yet consumed): either how many more bytes are needed,
    /// or one complete valid PDU and its length. Never allocates and never reads past PLEN.
    #[inline]
    pub fn decode<'a>(&mut self, buf: &'a [u8]) -> Result<Decoded<'a>, PduError> {
        let result = self.decode_inner(buf);
        if let Err(e) = &result {
            self.pending = None;
            if e.is_fatal() {
                self.state = ConnState::Closed;
            }
        }
        result
    }

    #[inline(always)]
    fn decode_inner<'a>(&mut self, buf: &'a [u8]) -> Result<Decoded<'a>, PduError> {
        // Still waiting for the same PDU, its header checked: a few comparisons, nothing written. (A closed deframer
        // has nothing pending.)
        if let Some(p) = &self.pending
            && let Some(hdgst) = p.header
            && buf.len() < p.frame.plen
            && buf.first_chunk::<CH_LEN>() == Some(&p.ch)
            && p.frame.received_hdgst(buf) == hdgst
        {
            return Ok(Decoded::Need(p.frame.plen - buf.len()));
        }
        let phase = match self.state {
            ConnState::AwaitingIc => IcPhase::Awaiting,
            ConnState::Established => IcPhase::Established,
            ConnState::Closed => return Err(PduError::Closed),
        };
        let params = self.params;
        let rx = Rx { role: self.role, params: &params, phase, max_plen: self.max_plen };
        // Steps 1 to 6, once per PDU: kept while the same common header is given again. A new header is checked by
        // code compiled for its shape.
        match (self.pending, buf.first_chunk::<CH_LEN>()) {
            (Some(p), Some(ch)) if p.ch == *ch => self.resume(&rx, p, buf),
            (_, None) => {
                self.pending = None;
                Ok(Decoded::Need(CH_LEN - buf.len()))
            }
            (_, Some(bytes)) => {
                let Some(ch) = CommonHeader::view(bytes) else { return Ok(Decoded::Need(CH_LEN)) };
                match shape_of(ch.pdu_type) {
                    Shape::HeaderOnly => self.fresh(&rx, ch, bytes, buf, Shape::HeaderOnly),
                    Shape::Data => self.fresh(&rx, ch, bytes, buf, Shape::Data),
                    Shape::CapsuleCmd => self.fresh(&rx, ch, bytes, buf, Shape::CapsuleCmd),
                    Shape::Ic => self.fresh(&rx, ch, bytes, buf, Shape::Ic),
                    Shape::TermReq => self.fresh(&rx, ch, bytes, buf, Shape::TermReq),
                    Shape::Undefined => self.fresh(&rx, ch, bytes, buf, Shape::Undefined),
                }
            }
        }
    }

    /// A PDU whose common header `bytes` was not seen before, of a type with `shape`.
    #[inline(always)]
    fn fresh<'a>(
        &mut self,
        rx: &Rx<'_>,
        ch: &CommonHeader,
        bytes: &[u8; CH_LEN],
        buf: &'a [u8],
        shape: Shape,
    ) -> Result<Decoded<'a>, PduError> {
        let frame = check_shaped(rx, ch, shape)?;
        self.resume(rx, Pending { ch: *bytes, frame, header: None }, buf)
    }

    /// Steps 7 to 9 of the PDU `p` (its common header checked) as far as `buf` goes.
    #[inline(always)]
    fn resume<'a>(&mut self, rx: &Rx<'_>, mut p: Pending, buf: &'a [u8]) -> Result<Decoded<'a>, PduError> {
        let f = p.frame;
        // Step 7 and the header-only part of step 9, once per PDU: kept while the same HDGST is given again.
        if buf.len() >= f.header_end {
            let received = f.received_hdgst(buf);
            if p.header != Some(received) {
                check_header(rx, &f, buf)?;
                p.header = Some(received);
            }
        }
        if buf.len() < f.plen {
            self.pending = Some(p);
            return Ok(Decoded::Need(f.plen - buf.len()));
        }
        self.pending = None;
        let pdu = finish(&f, buf)?;
        match pdu {
            Pdu::IcReq(_) | Pdu::IcResp(_) => self.state = ConnState::Established,
            Pdu::TermReq(_) => self.state = ConnState::Closed,
            _ => {}
        }
        Ok(Decoded::Pdu { pdu, consumed: f.plen })
    }

    /// The termination request this end sends for `err`, copying the offending header from `received` (the buffer
    /// given to the failing [`decode`](Deframer::decode) call); `None` when nothing is to be sent.
    pub fn term_req<'b>(&self, err: &PduError, received: &'b [u8]) -> Option<TermReq<'b>> {
        TermReq::for_error(self.role, err, received)
    }
}
