//! Virtual time and the event queue: a binary heap ordered by (time, sequence number), so events at the same instant
//! run in the order they were scheduled and every run with the same seed is identical.

use core::cmp::Ordering;
use core::time::Duration;
use std::collections::BinaryHeap;

/// Virtual time in nanoseconds since the start of the run.
pub(crate) type Nanos = u64;

/// One microsecond.
#[cfg(test)]
pub(crate) const US: u64 = 1_000;
/// One millisecond.
pub(crate) const MS: u64 = 1_000_000;
/// One second.
pub(crate) const SEC: u64 = 1_000_000_000;

/// Duration to nanoseconds (saturating).
pub(crate) fn ns(d: Duration) -> Nanos {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Nanoseconds to Duration.
pub(crate) fn dur(n: Nanos) -> Duration {
    Duration::from_nanos(n)
}

/// Virtual time as the Sans-IO crates take it (`nvme_ccr::Instant`, epoch = start of the run).
pub(crate) fn inst(n: Nanos) -> nvme_ccr::Instant {
    nvme_ccr::Instant::from_elapsed(dur(n))
}

/// Seconds with millisecond precision, for messages.
pub(crate) fn secs(n: Nanos) -> String {
    format!("{}.{:03} s", n / 1_000_000_000, (n / MS) % 1000)
}

struct Scheduled<E> {
    at: Nanos,
    seq: u64,
    ev: E,
}

impl<E> PartialEq for Scheduled<E> {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at && self.seq == other.seq
    }
}
impl<E> Eq for Scheduled<E> {}
impl<E> PartialOrd for Scheduled<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Scheduled<E> {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap is a max-heap: reverse so the earliest (then the first scheduled) pops first.
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// The discrete-event queue.
pub(crate) struct EventQueue<E> {
    heap: BinaryHeap<Scheduled<E>>,
    seq: u64,
}

impl<E> EventQueue<E> {
    pub(crate) fn new() -> Self {
        EventQueue { heap: BinaryHeap::with_capacity(256), seq: 0 }
    }

    /// Schedule `ev` at `at`.
    pub(crate) fn push(&mut self, at: Nanos, ev: E) {
        self.seq += 1;
        self.heap.push(Scheduled { at, seq: self.seq, ev });
    }

    /// The earliest event, if any.
    pub(crate) fn pop(&mut self) -> Option<(Nanos, E)> {
        self.heap.pop().map(|s| (s.at, s.ev))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_pop_in_time_then_schedule_order() {
        let mut q = EventQueue::new();
        q.push(5, 'c');
        q.push(1, 'a');
        q.push(5, 'd');
        q.push(1, 'b');
        let order: Vec<_> = core::iter::from_fn(|| q.pop()).collect();
        assert_eq!(order, vec![(1, 'a'), (1, 'b'), (5, 'c'), (5, 'd')]);
    }

    #[test]
    fn time_formats() {
        assert_eq!(secs(15_001 * MS), "15.001 s");
        assert_eq!(ns(Duration::from_millis(3)), 3 * MS);
    }
}
