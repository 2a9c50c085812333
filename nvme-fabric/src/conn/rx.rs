//! The receive side of one connection: a bounded buffer for a partial PDU in front of the deframer.
//!
//! Complete PDUs in the caller's input are decoded where they lie, without a copy; only the unfinished PDU at the end
//! of an input is copied into the buffer, and never more bytes than that PDU needs. The deframer bounds PLEN by the
//! connection's ceiling from the 8-byte common header, before a byte of the body is kept, so the buffer never grows
//! past the ceiling ([`Receiver::max_plen`]).

use alloc::vec::Vec;

use nvme_proto::tcp::{
    CH_LEN, CommonHeader, DATA_PDU_HLEN, DIGEST_LEN, DataPdu, Decoded, Deframer, Params, Pdu, PduError, PduFlags,
    PduType, Role,
};
use zerocopy::FromBytes;

use super::tx::SmallPdu;

/// The deframer and the partial-PDU buffer of one connection.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Receiver {
    deframer: Deframer,
    /// The start of a PDU that did not arrive whole; at most the PLEN ceiling.
    buf: Vec<u8>,
    /// Bytes still missing from `buf`'s PDU (the deframer's last `Need`).
    need: usize,
    /// `buf` holds a PDU already handed out: cleared at the next call.
    taken: bool,
    /// The PDU-specific header of the partial PDU in `buf` (and its digest) passed the deframer's checks.
    header_checked: bool,
}

/// One step of receiving.
#[derive(Debug)]
pub(crate) enum RxStep<'a> {
    /// A complete, valid PDU; `consumed` bytes of the input were used (the PDU may borrow the buffer instead).
    /// `raw` is the whole PDU as received (a TermReq about it copies its header from there).
    Pdu { pdu: Pdu<'a>, raw: &'a [u8], consumed: usize },
    /// Everything useful was taken (`consumed` bytes, kept in the buffer); more input is needed.
    Need { consumed: usize },
    /// A data digest error: the PDU's data is dropped, the stream goes on; fail command `cccid`. For an H2CData or
    /// C2HData PDU, `data` gives its header (which passed every check): the data it stood for is accounted as
    /// received, so the PDUs that follow stay in sequence.
    DataDigest { cccid: u16, consumed: usize, data: Option<DamagedData> },
    /// A fatal error: send `term` (if any), then close. Nothing more is decoded.
    Fatal { err: PduError, term: Option<SmallPdu>, consumed: usize },
}

/// The header of an H2CData or C2HData PDU whose data digest failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DamagedData {
    /// TTAG (H2CData).
    pub ttag: u16,
    /// DATAO.
    pub datao: u32,
    /// DATAL.
    pub datal: u32,
    /// LAST_PDU.
    pub last: bool,
    /// SUCCESS (C2HData).
    pub success: bool,
    /// The header as received (copied into a TermReq if the PDU turns out to be out of sequence).
    pub header: [u8; DATA_PDU_HLEN],
}

impl DamagedData {
    /// The header fields of the data PDU at the start of `received`, if it is one.
    fn read(received: &[u8]) -> Option<DamagedData> {
        let (h, _) = DataPdu::ref_from_prefix(received).ok()?;
        if h.ch.pdu_type != PduType::H2C_DATA && h.ch.pdu_type != PduType::C2H_DATA {
            return None;
        }
        let mut header = [0u8; DATA_PDU_HLEN];
        header.copy_from_slice(&received[..DATA_PDU_HLEN]);
        Some(DamagedData {
            ttag: h.ttag.get(),
            datao: h.datao.get(),
            datal: h.datal.get(),
            last: h.ch.flags.contains(PduFlags::LAST_PDU),
            success: h.ch.flags.contains(PduFlags::SUCCESS),
            header,
        })
    }
}

impl Receiver {
    /// A receiver for a fresh connection at `role`, refusing PDUs longer than `max_plen`.
    pub(crate) fn new(role: Role, max_plen: u32) -> Self {
        Receiver {
            deframer: Deframer::new(role).with_max_plen(max_plen),
            buf: Vec::new(),
            need: 0,
            taken: false,
            header_checked: false,
        }
    }

    /// Installs the negotiated parameters (after the IC exchange).
    pub(crate) fn set_params(&mut self, params: Params) {
        self.deframer.set_params(params);
    }

    /// Changes the PLEN ceiling for the PDUs that follow (after Connect told which queue this is). Only valid
    /// between PDUs (nothing partial buffered), which is where the role layers call it.
    pub(crate) fn set_max_plen(&mut self, max_plen: u32) {
        let state = self.deframer.state();
        let mut d = Deframer::established(self.deframer.role(), *self.deframer.params()).with_max_plen(max_plen);
        if state != nvme_proto::tcp::ConnState::Established {
            d = Deframer::new(self.deframer.role()).with_max_plen(max_plen);
            d.set_params(*self.deframer.params());
        }
        self.deframer = d;
    }

    /// Bytes of a partial PDU held.
    #[cfg(test)]
    pub(crate) fn buffered(&self) -> usize {
        if self.taken { 0 } else { self.buf.len() }
    }

    /// Bytes the receive buffer has allocated.
    pub(crate) fn allocated(&self) -> usize {
        self.buf.capacity()
    }

    /// Takes the next step over `input` (the bytes not consumed so far).
    pub(crate) fn next<'a>(&'a mut self, input: &'a [u8]) -> RxStep<'a> {
        if self.taken {
            self.buf.clear();
            self.taken = false;
            self.need = 0;
            self.header_checked = false;
        }
        let role = self.deframer.role();
        if self.buf.is_empty() {
            return match self.deframer.decode(input) {
                Ok(Decoded::Pdu { pdu, consumed }) => RxStep::Pdu { pdu, raw: &input[..consumed], consumed },
                Ok(Decoded::Need(n)) => {
                    // The input is shorter than the PDU, whose length (once the header is in) passed the ceiling.
                    // Allocate the whole PDU at once, and never more (growing by doubling could take twice).
                    if input.len() >= CH_LEN {
                        self.buf.reserve_exact(input.len() + n);
                    }
                    self.buf.extend_from_slice(input);
                    self.need = n;
                    RxStep::Need { consumed: input.len() }
                }
                Err(err) => Self::error(role, err, input, input.len()),
            };
        }
        // Complete the common header first: the deframer checks it (and PLEN against the ceiling) alone.
        let mut take = 0;
        if self.buf.len() < CH_LEN {
            take = (CH_LEN - self.buf.len()).min(input.len());
            self.buf.extend_from_slice(&input[..take]);
            if self.buf.len() < CH_LEN {
                return RxStep::Need { consumed: take };
            }
            let peek = match self.deframer.decode(&self.buf) {
                Ok(Decoded::Need(n)) => Ok(Some(n)),
                Ok(Decoded::Pdu { .. }) => Ok(None),
                Err(err) => Err(err),
            };
            match peek {
                Ok(Some(n)) => {
                    self.need = n;
                    self.buf.reserve_exact(n);
                }
                Ok(None) => self.need = 0,
                Err(err) => {
                    self.taken = true;
                    return Self::error(role, err, &self.buf, take);
                }
            }
        }
        // Then exactly the rest of the PDU, and decode it once it is all here.
        let more = self.need.min(input.len() - take);
        self.buf.extend_from_slice(&input[take..take + more]);
        take += more;
        self.need -= more;
        if self.need > 0 {
            // The PDU-specific header is checked as soon as it is in, as when the PDU arrives in one input: an
            // error found from its header does not wait for the rest of the PDU, whatever the chunking.
            if !self.header_checked && more > 0 {
                let header_end = CommonHeader::view(&self.buf).map_or(CH_LEN, |ch| {
                    usize::from(ch.hlen) + if ch.flags.contains(PduFlags::HDGSTF) { DIGEST_LEN } else { 0 }
                });
                if self.buf.len() >= header_end {
                    self.header_checked = true;
                }
                if let Err(err) = self.deframer.decode(&self.buf) {
                    self.taken = true;
                    return Self::error(role, err, &self.buf, take);
                }
            }
            return RxStep::Need { consumed: take };
        }
        self.taken = true;
        match self.deframer.decode(&self.buf) {
            Ok(Decoded::Pdu { pdu, .. }) => RxStep::Pdu { pdu, raw: &self.buf, consumed: take },
            // Cannot happen: the header said PLEN and PLEN bytes are here. Treat it as a framing error.
            Ok(Decoded::Need(_)) => Self::error(role, PduError::Truncated { needed: 0 }, &[], take),
            Err(err) => Self::error(role, err, &self.buf, take),
        }
    }

    fn error(receiver: Role, err: PduError, received: &[u8], consumed_max: usize) -> RxStep<'static> {
        if let (Some(cccid), Some(len)) = (err.cccid(), err.consumed()) {
            // From the input directly: the PDU's length; from the buffer: what completed it.
            let data = DamagedData::read(received);
            return RxStep::DataDigest { cccid, consumed: len.min(consumed_max), data };
        }
        let term = nvme_proto::tcp::TermReq::for_error(receiver, &err, received).and_then(|t| SmallPdu::term(&t));
        RxStep::Fatal { err, term, consumed: consumed_max }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use nvme_proto::tcp::{CapsuleResp, Params};

    fn resp(cid: u16, params: &Params) -> Vec<u8> {
        let mut cqe = [0u8; 16];
        cqe[12..14].copy_from_slice(&cid.to_le_bytes());
        let r = CapsuleResp { cqe };
        let mut v = vec![0u8; r.buffer_len(params)];
        r.emit(params, &mut v).unwrap();
        v
    }

    /// Feeds `wire` in chunks and returns the CIDs of the responses, checking the buffer never exceeds one PDU.
    fn cids(wire: &[u8], chunk: usize, params: Params) -> Vec<u16> {
        let mut rx = Receiver::new(Role::Host, 4096);
        rx.set_params(params);
        rx.deframer = Deframer::established(Role::Host, params);
        let mut out = Vec::new();
        for piece in wire.chunks(chunk) {
            let mut at = 0;
            loop {
                match rx.next(&piece[at..]) {
                    RxStep::Pdu { pdu: Pdu::CapsuleResp(r), consumed, .. } => {
                        out.push(r.cid());
                        at += consumed;
                    }
                    RxStep::Need { consumed } => {
                        at += consumed;
                        assert_eq!(at, piece.len());
                        break;
                    }
                    other => panic!("{other:?}"),
                }
                assert!(rx.buffered() <= 28);
            }
        }
        out
    }

    #[test]
    fn every_chunking_gives_the_same_pdus_and_buffers_at_most_one() {
        let params = Params { header_digest: true, ..Params::default() };
        let wire: Vec<u8> = (1..=5).flat_map(|c| resp(c, &params)).collect();
        for chunk in [1, 2, 3, 7, 27, 28, 29, 100, 1000] {
            assert_eq!(cids(&wire, chunk, params), [1, 2, 3, 4, 5], "chunk {chunk}");
        }
    }

    #[test]
    fn a_pdu_over_the_ceiling_is_refused_from_its_header_with_a_term_req() {
        let mut rx = Receiver::new(Role::Controller, 200);
        // A CapsuleCmd header claiming PLEN 100 000 (type 4, HLEN 72, PDO 72, PLEN 100000).
        let mut hdr = [0u8; 8];
        hdr[0] = 4;
        hdr[2] = 72;
        hdr[3] = 72;
        hdr[4..8].copy_from_slice(&100_000u32.to_le_bytes());
        rx.deframer = Deframer::established(Role::Controller, Params::default()).with_max_plen(200);
        match rx.next(&hdr) {
            RxStep::Fatal { err, term, consumed } => {
                assert_eq!(consumed, 8);
                assert_eq!(err.fei(), 4, "PLEN is at byte 4");
                let t = term.expect("a TermReq is sent");
                assert_eq!(t.as_bytes()[0], 0x03, "C2HTermReq");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(rx.buffered(), 0);
    }
}
