//! The transmit side of one connection: a queue of PDUs that are encoded, whole, straight into the buffer the
//! runtime gives to `poll_transmit`. Payload is copied once, from the command's buffer into the caller's buffer,
//! with its data digest computed by nvme-proto's encoder on the way.
//!
//! Small PDUs (IC, responses, R2T, TermReq, commands without data) are encoded when queued into an inline array; data
//! PDUs are described (command, offset, length) and encoded when polled. The queue counts the exact number of bytes
//! still to send; [`Transmitter::held`] adds its own bookkeeping (every slot of its item array, grown by an eighth
//! at a time and released when it empties), which is what the controller bounds (backpressure): a peer that is
//! sent only small PDUs must not hold ten times what is counted.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use nvme_proto::tcp::{C2HData, CapsuleCmd, H2CData, IcReq, IcResp, Params, Pdu, TermReq};

use super::BufferTooShort;

/// Room for the largest PDU without data we send: a TermReq (24 + 128 bytes).
const SMALL_PDU_MAX: usize = 152;

/// A PDU without data, encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct SmallPdu {
    len: u8,
    bytes: [u8; SMALL_PDU_MAX],
}

impl SmallPdu {
    /// Encodes `pdu` (which must carry no data, or only a TermReq's copied header) under `params`.
    pub(crate) fn new(pdu: &Pdu<'_>, params: &Params) -> Option<SmallPdu> {
        let mut bytes = [0u8; SMALL_PDU_MAX];
        let len = pdu.emit(params, &mut bytes).ok()?;
        Some(SmallPdu { len: u8::try_from(len).ok()?, bytes })
    }

    /// A termination request.
    pub(crate) fn term(t: &TermReq<'_>) -> Option<SmallPdu> {
        Self::new(&Pdu::TermReq(*t), &Params::default())
    }

    /// An ICReq.
    pub(crate) fn ic_req(req: IcReq) -> Option<SmallPdu> {
        Self::new(&Pdu::IcReq(req), &Params::default())
    }

    /// An ICResp.
    pub(crate) fn ic_resp(resp: IcResp) -> Option<SmallPdu> {
        Self::new(&Pdu::IcResp(resp), &Params::default())
    }

    /// The encoded bytes.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// One queued transmission.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum TxItem {
    /// A PDU without data, already encoded.
    Small(SmallPdu),
    /// Controller: a read's data as C2HData PDUs of at most `seg` bytes from `data[sent..]`, LAST_PDU on the last
    /// (a CapsuleResp follows as its own item).
    C2H { cid: u16, data: Vec<u8>, sent: usize, seg: usize },
    /// Host: H2CData PDUs answering an R2T, `next..end` of command `cid`'s write data in PDUs of at most `seg`
    /// bytes, LAST_PDU on the last; the data is looked up when encoded.
    H2C { cid: u16, ttag: u16, next: u32, end: u32, seg: u32 },
    /// Host: a CapsuleCmd; with `inline` > 0 its in-capsule data is the first `inline` bytes of command `cid`'s write
    /// data, looked up when encoded.
    Capsule { sqe: [u8; 64], inline: u32 },
}

/// The transmit queue of one connection.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Transmitter {
    queue: VecDeque<TxItem>,
    queued: usize,
    params: Params,
    /// Nothing more is queued: a TermReq was queued (it is the last PDU), or the queue was abandoned.
    terminated: bool,
    /// A TermReq was queued (it stays the last item until sent, and survives [`Transmitter::abandon`]).
    term_queued: bool,
    /// Controller: the data buffers of C2H items fully encoded by the last [`poll`](Self::poll), for the caller to
    /// reuse ([`take_spent`](Self::take_spent)); at most the C2H items one poll finishes.
    spent: Vec<Vec<u8>>,
}

/// Encoded length of a data PDU of `data_len` bytes of the given kind.
fn data_pdu_len(params: &Params, h2c: bool, data_len: usize) -> usize {
    let empty = if h2c {
        Pdu::H2CData(H2CData { cccid: 0, ttag: 0, datao: 0, data: &[], last: false })
    } else {
        Pdu::C2HData(C2HData { cccid: 0, datao: 0, data: &[], last: false, success: false })
    };
    empty.buffer_len(params) + data_len
}

impl TxItem {
    /// Bytes this item still has to send.
    fn remaining(&self, params: &Params) -> usize {
        match self {
            TxItem::Small(p) => p.as_bytes().len(),
            TxItem::C2H { data, sent, seg, .. } => {
                let left = data.len() - sent;
                let full = left / seg;
                let rest = left % seg;
                full * data_pdu_len(params, false, *seg) + if rest > 0 { data_pdu_len(params, false, rest) } else { 0 }
            }
            TxItem::H2C { next, end, seg, .. } => {
                let left = (end - next) as usize;
                let seg = *seg as usize;
                let full = left / seg;
                let rest = left % seg;
                full * data_pdu_len(params, true, seg) + if rest > 0 { data_pdu_len(params, true, rest) } else { 0 }
            }
            // The capsule's length depends on the data; counted when queued by the caller through `push_capsule`.
            TxItem::Capsule { .. } => 0,
        }
    }
}

impl Transmitter {
    /// An empty queue; [`set_params`](Self::set_params) installs the negotiated values after the IC exchange.
    pub(crate) fn new() -> Self {
        Transmitter {
            queue: VecDeque::new(),
            queued: 0,
            params: Params::default(),
            terminated: false,
            term_queued: false,
            spent: Vec::new(),
        }
    }

    /// A data buffer of a C2H item the last [`poll`](Self::poll) finished, to reuse.
    pub(crate) fn take_spent(&mut self) -> Option<Vec<u8>> {
        self.spent.pop()
    }

    /// The parameters PDUs are encoded with.
    pub(crate) fn set_params(&mut self, params: Params) {
        self.params = params;
    }

    /// The parameters in force.
    pub(crate) fn params(&self) -> &Params {
        &self.params
    }

    /// Bytes still to send.
    #[cfg(test)]
    pub(crate) fn queued(&self) -> usize {
        self.queued
    }

    /// The memory the queue holds: the bytes still to send (data included) and every slot of its item array.
    pub(crate) fn held(&self) -> usize {
        self.queued + self.queue.capacity() * core::mem::size_of::<TxItem>()
    }

    /// Appends `item`, growing the item array by an eighth at most (at least 8 slots), so that what the array holds
    /// beyond its items stays small next to what [`held`](Self::held) counts.
    fn enqueue(&mut self, item: TxItem) {
        let len = self.queue.len();
        if len == self.queue.capacity() {
            self.queue.reserve_exact((len / 8).max(8));
        }
        self.queue.push_back(item);
    }

    /// Whether nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Queues `item` (ignored after a TermReq). Returns whether the queue was empty before.
    pub(crate) fn push(&mut self, item: TxItem) -> bool {
        if self.terminated {
            return false;
        }
        let was_empty = self.queue.is_empty();
        self.queued += item.remaining(&self.params);
        self.enqueue(item);
        was_empty
    }

    /// Queues a PDU without data, encoded now.
    pub(crate) fn push_pdu(&mut self, pdu: &Pdu<'_>) -> bool {
        match SmallPdu::new(pdu, &self.params) {
            Some(p) => self.push(TxItem::Small(p)),
            None => false,
        }
    }

    /// Queues a CapsuleCmd whose in-capsule data (`len` bytes) is looked up when encoded.
    pub(crate) fn push_capsule(&mut self, sqe: [u8; 64], len: usize) -> bool {
        if self.terminated {
            return false;
        }
        let was_empty = self.queue.is_empty();
        let empty = CapsuleCmd { sqe, data: &[] };
        let base = if len == 0 {
            empty.buffer_len(&self.params)
        } else {
            // With data: the header, its digest, PAD to the controller's PDA, the data and its digest.
            Pdu::CapsuleCmd(CapsuleCmd { sqe, data: &[0u8; 1] }).buffer_len(&self.params) - 1 + len
        };
        self.queued += base;
        self.enqueue(TxItem::Capsule { sqe, inline: len as u32 });
        was_empty
    }

    /// Queues a termination request; nothing is queued after it.
    pub(crate) fn push_term(&mut self, term: SmallPdu) {
        if !self.terminated {
            self.push(TxItem::Small(term));
            self.terminated = true;
            self.term_queued = true;
        }
    }

    /// Drops everything not sent yet (a failed controller sends nothing more) and refuses further PDUs. A queued
    /// TermReq is kept: the peer still learns why its connection ends.
    pub(crate) fn abandon(&mut self) {
        let term = if self.term_queued { self.queue.pop_back() } else { None };
        self.queue.clear();
        self.queue.shrink_to(1);
        self.queued = 0;
        if let Some(t) = term {
            self.queued = t.remaining(&self.params);
            self.queue.push_back(t);
        }
        self.terminated = true;
    }

    /// Drops queued items of command `cid` that are not started (a host failing a command it had queued).
    pub(crate) fn forget_command(&mut self, cid: u16) {
        let params = self.params;
        let mut removed = 0;
        self.queue.retain(|item| {
            let hit = match item {
                TxItem::H2C { cid: c, .. } => *c == cid,
                _ => false,
            };
            if hit {
                removed += item.remaining(&params);
            }
            !hit
        });
        self.queued -= removed.min(self.queued);
    }

    /// Encodes whole PDUs into `buf` until the next one does not fit; returns the bytes written. `data(cid)` gives
    /// the write data of a host command (H2CData and in-capsule data); an item whose command is gone is dropped.
    pub(crate) fn poll<'d>(
        &mut self,
        buf: &mut [u8],
        data: impl Fn(u16) -> Option<&'d [u8]>,
    ) -> Result<usize, BufferTooShort> {
        let mut at = 0;
        while let Some(item) = self.queue.front_mut() {
            let out = &mut buf[at..];
            let (n, done) = match item {
                TxItem::Small(p) => {
                    let b = p.as_bytes();
                    if b.len() > out.len() {
                        return short(at, b.len());
                    }
                    out[..b.len()].copy_from_slice(b);
                    (b.len(), true)
                }
                TxItem::C2H { cid, data, sent, seg } => {
                    let len = (*seg).min(data.len() - *sent);
                    let last = *sent + len == data.len();
                    let pdu = C2HData {
                        cccid: *cid,
                        datao: *sent as u32,
                        data: &data[*sent..*sent + len],
                        last,
                        success: false,
                    };
                    let n = match pdu.emit(&self.params, out) {
                        Ok(n) => n,
                        Err(_) => return short(at, pdu.buffer_len(&self.params)),
                    };
                    *sent += len;
                    (n, last)
                }
                TxItem::H2C { cid, ttag, next, end, seg } => {
                    let Some(src) = data(*cid).filter(|d| d.len() >= *end as usize) else {
                        let left = item.remaining(&self.params);
                        self.queued -= left.min(self.queued);
                        self.queue.pop_front();
                        continue;
                    };
                    let len = (*seg).min(*end - *next);
                    let last = *next + len == *end;
                    let pdu = H2CData {
                        cccid: *cid,
                        ttag: *ttag,
                        datao: *next,
                        data: &src[*next as usize..(*next + len) as usize],
                        last,
                    };
                    let n = match pdu.emit(&self.params, out) {
                        Ok(n) => n,
                        Err(_) => return short(at, pdu.buffer_len(&self.params)),
                    };
                    *next += len;
                    (n, last)
                }
                TxItem::Capsule { sqe, inline } => {
                    let cid = u16::from_le_bytes([sqe[2], sqe[3]]);
                    let body = match *inline as usize {
                        0 => &[][..],
                        n => match data(cid).and_then(|d| d.get(..n)) {
                            Some(d) => d,
                            None => {
                                // The command is gone: nothing to send for it.
                                let left = self.queued.min(
                                    Pdu::CapsuleCmd(CapsuleCmd { sqe: *sqe, data: &[0] }).buffer_len(&self.params) - 1
                                        + n,
                                );
                                self.queued -= left;
                                self.queue.pop_front();
                                continue;
                            }
                        },
                    };
                    let pdu = CapsuleCmd { sqe: *sqe, data: body };
                    let n = match pdu.emit(&self.params, out) {
                        Ok(n) => n,
                        Err(_) => return short(at, pdu.buffer_len(&self.params)),
                    };
                    (n, true)
                }
            };
            at += n;
            self.queued -= n.min(self.queued);
            if done && let Some(TxItem::C2H { data, .. }) = self.queue.pop_front() {
                self.spent.push(data);
            }
        }
        if self.queue.is_empty() {
            self.queued = 0;
            // Give back what a burst grew (an idle connection holds nothing).
            self.queue.shrink_to(0);
        }
        Ok(at)
    }
}

fn short(written: usize, needed: usize) -> Result<usize, BufferTooShort> {
    if written > 0 { Ok(written) } else { Err(BufferTooShort { needed }) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use nvme_proto::tcp::{Decoded, Deframer, Role};

    #[test]
    fn c2h_data_is_split_into_pdus_and_queued_counts_exact_bytes() {
        let params = Params { header_digest: true, data_digest: true, ..Params::default() };
        let mut tx = Transmitter::new();
        tx.set_params(params);
        let data: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        tx.push(TxItem::C2H { cid: 7, data: data.clone(), sent: 0, seg: 4096 });
        let total = tx.queued();
        let mut wire = vec![0u8; 100_000];
        let n = tx.poll(&mut wire, |_| None).unwrap();
        assert_eq!(n, total, "queued was the exact encoded length");
        assert_eq!(tx.queued(), 0);
        let mut de = Deframer::established(Role::Host, params);
        let (mut at, mut got, mut lasts) = (0, Vec::new(), 0);
        while at < n {
            match de.decode(&wire[at..n]).unwrap() {
                Decoded::Pdu { pdu: Pdu::C2HData(d), consumed } => {
                    assert_eq!(d.datao as usize, got.len());
                    got.extend_from_slice(d.data);
                    lasts += usize::from(d.last);
                    at += consumed;
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!((got, lasts), (data, 1));
    }

    #[test]
    fn a_buffer_too_short_for_the_next_pdu_is_an_error_only_when_nothing_was_written() {
        let mut tx = Transmitter::new();
        tx.push(TxItem::C2H { cid: 1, data: vec![1; 1000], sent: 0, seg: 1000 });
        let mut small = [0u8; 100];
        assert_eq!(tx.poll(&mut small, |_| None), Err(BufferTooShort { needed: 1024 }));
        let mut big = [0u8; 2000];
        assert_eq!(tx.poll(&mut big, |_| None), Ok(1024));
    }

    #[test]
    fn nothing_is_queued_after_a_term_req_and_abandon_drops_everything_else() {
        let small = SmallPdu::ic_req(IcReq { hpda: 0, header_digest: false, data_digest: false, maxr2t: 0 }).unwrap();
        let mut tx = Transmitter::new();
        tx.push(TxItem::C2H { cid: 1, data: vec![1; 1000], sent: 0, seg: 1000 });
        tx.abandon();
        assert_eq!((tx.queued(), tx.is_empty()), (0, true));
        assert!(!tx.push(TxItem::Small(small)), "nothing is queued after abandon");
        // A queued TermReq survives abandon: it is what tells the peer why.
        let mut tx = Transmitter::new();
        tx.push(TxItem::C2H { cid: 1, data: vec![1; 1000], sent: 0, seg: 1000 });
        let term = SmallPdu::term(&TermReq {
            sender: nvme_proto::tcp::Role::Controller,
            fes: nvme_proto::tcp::Fes::PDU_SEQUENCE_ERROR,
            fei: 0,
            data: &[0; 8],
        })
        .unwrap();
        tx.push_term(term);
        assert!(!tx.push(TxItem::Small(small)));
        tx.abandon();
        assert_eq!(tx.queued(), 32);
        let mut buf = [0u8; 64];
        assert_eq!(tx.poll(&mut buf, |_| None), Ok(32));
        assert_eq!(&buf[..32], term.as_bytes());
    }
}
