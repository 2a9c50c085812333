//! Simulated paths and TCP connections.
//!
//! Each path carries one TCP connection per NVMe queue (admin and I/O) per association. A connection is two ordered
//! byte streams. A PDU sent at `now` arrives at `now + latency + jitter + size / bandwidth`; TCP never loses or
//! reorders bytes, so a lost segment shows up as a retransmission delay (RTO, doubled per repeated loss) and every
//! later PDU of the same stream waits behind it (head-of-line blocking). A frozen path delivers nothing in either
//! direction from the freeze on, and nobody sees a close.

use std::collections::VecDeque;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::clock::{Nanos, dur};
use crate::report::WireRecord;

/// Link timing.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LinkCfg {
    pub(crate) latency: Nanos,
    pub(crate) jitter: Nanos,
    pub(crate) loss: f64,
    pub(crate) rto: Nanos,
}

/// Serialization time per byte at 10 Gbit/s, in picoseconds (0.8 ns per byte).
const PS_PER_BYTE: u64 = 800;

/// What travels on a stream: bytes, or the end of the stream (FIN).
pub(crate) enum Seg {
    Data(Vec<u8>),
    Fin,
}

#[derive(Default)]
struct Stream {
    segs: VecDeque<Seg>,
    last_arrival: Nanos,
}

/// One TCP connection (one NVMe queue of one association).
pub(crate) struct Conn {
    pub(crate) path: usize,
    pub(crate) qid: u16,
    /// Association number on that path (0 first, 1 after the first reconnect, ...).
    pub(crate) assoc: u32,
    /// [0] host to controller, [1] controller to host.
    streams: [Stream; 2],
}

/// All paths and connections.
pub(crate) struct Net {
    cfg: LinkCfg,
    conns: Vec<Conn>,
    frozen: Vec<bool>,
    /// Per path: extra loss probability in `[from, to)` (a `loss-<pct>` fault).
    loss_window: Vec<Option<(Nanos, Nanos, f64)>>,
    /// Per path: every segment sent in `[from, to)` is lost until `to` (a `loss-burst` fault).
    burst: Vec<Option<(Nanos, Nanos)>>,
    pub(crate) capture: Option<Vec<WireRecord>>,
}

/// Connection handle.
pub(crate) type ConnId = u32;

impl Net {
    pub(crate) fn new(cfg: LinkCfg, paths: usize, capture: bool) -> Self {
        Net {
            cfg,
            conns: Vec::new(),
            frozen: vec![false; paths],
            loss_window: vec![None; paths],
            burst: vec![None; paths],
            capture: capture.then(Vec::new),
        }
    }

    /// Segments sent on `path` in `[from, to)` are lost with probability `loss` (clamped to 0.5) instead of the
    /// link's.
    pub(crate) fn set_loss_window(&mut self, path: usize, from: Nanos, to: Nanos, loss: f64) {
        if let Some(w) = self.loss_window.get_mut(path) {
            *w = Some((from, to, loss.clamp(0.0, 0.5)));
        }
    }

    /// Every segment sent on `path` in `[from, to)` is lost until `to`.
    pub(crate) fn set_burst(&mut self, path: usize, from: Nanos, to: Nanos) {
        if let Some(b) = self.burst.get_mut(path) {
            *b = Some((from, to));
        }
    }

    /// Open a new connection on `path` for queue `qid`.
    pub(crate) fn open(&mut self, path: usize, qid: u16, assoc: u32) -> ConnId {
        self.conns.push(Conn { path, qid, assoc, streams: [Stream::default(), Stream::default()] });
        (self.conns.len() - 1) as ConnId
    }

    /// The connection's description.
    pub(crate) fn conn(&self, c: ConnId) -> &Conn {
        &self.conns[c as usize]
    }

    /// Silence `path` from now on.
    pub(crate) fn freeze(&mut self, path: usize) {
        self.frozen[path] = true;
    }

    /// Put `seg` on the wire; returns its arrival time, or `None` when the path is frozen (it will never arrive).
    pub(crate) fn send(
        &mut self,
        now: Nanos,
        rng: &mut ChaCha8Rng,
        c: ConnId,
        to_controller: bool,
        seg: Seg,
    ) -> Option<Nanos> {
        let cfg = self.cfg;
        let conn = &mut self.conns[c as usize];
        let len = match &seg {
            Seg::Data(b) => b.len(),
            Seg::Fin => 0,
        };
        if let (Some(cap), Seg::Data(b)) = (self.capture.as_mut(), &seg) {
            cap.push(WireRecord {
                at: dur(now),
                path: conn.path,
                queue: conn.qid,
                to_controller,
                bytes: b.clone(),
                connection: conn.assoc,
            });
        }
        if self.frozen[conn.path] {
            return None;
        }
        let mut lat = cfg.latency + len as u64 * PS_PER_BYTE / 1000;
        if cfg.jitter > 0 {
            lat += rng.random_range(0..=cfg.jitter);
        }
        let loss = match self.loss_window[conn.path] {
            Some((from, to, p)) if (from..to).contains(&now) => p,
            _ => cfg.loss,
        };
        if loss > 0.0 {
            let mut rto = cfg.rto;
            while rng.random_bool(loss) {
                lat += rto;
                rto = rto.saturating_mul(2);
            }
        }
        if let Some((from, to)) = self.burst[conn.path]
            && (from..to).contains(&now)
        {
            lat += retransmit_after(now, to, cfg.rto);
        }
        let s = &mut conn.streams[usize::from(!to_controller)];
        let at = (now + lat).max(s.last_arrival);
        s.last_arrival = at;
        s.segs.push_back(seg);
        Some(at)
    }

    /// Take the segment whose arrival event just fired; `None` if the path froze meanwhile (dropped).
    pub(crate) fn arrive(&mut self, c: ConnId, to_controller: bool) -> Option<Seg> {
        let conn = &mut self.conns[c as usize];
        let seg = conn.streams[usize::from(!to_controller)].segs.pop_front();
        if self.frozen[conn.path] { None } else { seg }
    }
}

/// The delay until the first retransmission of a segment sent at `now` that falls at or after `until`, with the
/// retransmissions at `now + rto x (2^k - 1)`, k = 1, 2, ... (the RTO doubles each time).
pub(crate) fn retransmit_after(now: Nanos, until: Nanos, rto: Nanos) -> Nanos {
    let rto = rto.max(1);
    let (mut wait, mut step) = (0u64, rto);
    while now.saturating_add(wait) < until {
        wait = wait.saturating_add(step);
        step = step.saturating_mul(2);
    }
    wait
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{MS, US};
    use rand::SeedableRng;

    fn net(loss: f64) -> Net {
        Net::new(LinkCfg { latency: 100 * US, jitter: 20 * US, loss, rto: 200 * MS }, 2, true)
    }

    #[test]
    fn a_stream_never_reorders_and_loss_delays_everything_behind_it() {
        let mut n = net(0.5);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let c = n.open(0, 1, 0);
        let mut last = 0;
        let mut delayed = false;
        for i in 0..50u64 {
            let at = n.send(i * US, &mut rng, c, true, Seg::Data(vec![0; 100])).unwrap();
            assert!(at >= last, "arrival went backwards");
            assert!(at >= i * US + 100 * US);
            delayed |= at >= i * US + 200 * MS;
            last = at;
        }
        assert!(delayed, "with 50% loss some segment must wait an RTO");
        assert_eq!(n.capture.as_ref().unwrap().len(), 50);
    }

    #[test]
    fn a_frozen_path_delivers_nothing_either_way() {
        let mut n = net(0.0);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let c = n.open(0, 0, 0);
        let other = n.open(1, 0, 0);
        assert!(n.send(0, &mut rng, c, true, Seg::Data(vec![1])).is_some());
        assert!(n.send(0, &mut rng, other, true, Seg::Data(vec![1])).is_some());
        n.freeze(0);
        assert!(n.arrive(c, true).is_none(), "in flight when frozen: dropped");
        assert!(n.send(1, &mut rng, c, false, Seg::Data(vec![1])).is_none());
        assert!(n.arrive(other, true).is_some(), "the other path is unaffected");
    }

    /// A 3 s burst from 5 s with RTO 200 ms (the burst covers [5.0 s, 8.0 s)): a segment sent at 5.0 s is
    /// retransmitted at 5.2, 5.6, 6.4 and 8.0 s; 8.0 s is the first outside the burst, so it arrives 3.0 s late plus
    /// the link latency. One sent at 7.9 s: at 8.1 s.
    #[test]
    fn a_burst_delays_each_segment_to_its_first_retransmission_after_the_burst() {
        assert_eq!(retransmit_after(5_000 * MS, 8_000 * MS, 200 * MS), 3_000 * MS);
        assert_eq!(retransmit_after(5_100 * MS, 8_000 * MS, 200 * MS), 3_000 * MS);
        assert_eq!(retransmit_after(4_900 * MS, 8_000 * MS, 100 * MS), 3_100 * MS);
        assert_eq!(retransmit_after(7_900 * MS, 8_000 * MS, 200 * MS), 200 * MS);
        assert_eq!(retransmit_after(8_000 * MS, 8_000 * MS, 200 * MS), 0);
        let mut n = net(0.0);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let c = n.open(0, 1, 0);
        n.set_burst(0, 5_000 * MS, 8_000 * MS);
        let at = n.send(7_900 * MS, &mut rng, c, true, Seg::Data(vec![0; 100])).unwrap();
        assert!((8_100 * MS + 100 * US..=8_100 * MS + 121 * US).contains(&at), "{at}");
        // Before and after the burst, and on the other path: the link's latency only.
        let at = n.send(8_000 * MS, &mut rng, c, true, Seg::Data(vec![0; 100])).unwrap();
        assert!(at <= 8_100 * MS + 121 * US, "in order behind the retransmitted one: {at}");
        let d = n.open(1, 1, 0);
        let at = n.send(6_000 * MS, &mut rng, d, true, Seg::Data(vec![0; 100])).unwrap();
        assert!(at < 6_000 * MS + 200 * US, "{at}");
    }

    /// A loss window applies on its path and inside its time only.
    #[test]
    fn a_loss_window_is_per_path_and_time() {
        let mut n = net(0.0);
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let c = n.open(0, 1, 0);
        let d = n.open(1, 1, 0);
        n.set_loss_window(0, 1_000 * MS, 2_000 * MS, 0.5);
        let late = |n: &mut Net, rng: &mut ChaCha8Rng, conn, t| {
            (0..200).filter(|_| n.send(t, rng, conn, true, Seg::Data(vec![0; 10])).unwrap() >= t + 200 * MS).count()
        };
        assert_eq!(late(&mut n, &mut rng, d, 1_500 * MS), 0, "other path");
        let mut m = net(0.0);
        let c2 = m.open(0, 1, 0);
        m.set_loss_window(0, 1_000 * MS, 2_000 * MS, 0.5);
        assert_eq!(late(&mut m, &mut rng, c2, 500 * MS), 0, "before the window");
        let lost = late(&mut n, &mut rng, c, 1_500 * MS);
        assert!(lost > 50, "about half of 200 delayed by an RTO or more: {lost}");
    }
}
