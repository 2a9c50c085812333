//! The simulator's data checker: nvme-ccr's register checker ([`nvme_ccr::check::Register`], the one statement of
//! the data rules that the model checker and the property tests share) fed with the application's writes and reads
//! and the writes that reach the media, each violation stamped with the virtual time it was seen.
//!
//! Each LBA is a register: a write superseded (a write invoked after its acknowledgement was acknowledged) may no
//! longer be read, a superseded write reaching the media is a stale write (the hazard of
//! [`nvme_ccr::notes::ccr_cqt`] §14), and at the end of the run (after every stuck command had time to land) each
//! block must hold the value of a write not superseded. Events are ordered by the calls, which follow virtual time.

use nvme_ccr::check::{DataViolation, Register};

use crate::clock::{Nanos, secs};

/// A value as the checker compares it (a byte value for rw_test, a write number for the other workloads;
/// `u64::MAX` for a block of mixed data).
pub(crate) type Value = u64;

/// The checker: fed with every application write/read and every media landing.
#[derive(Default)]
pub(crate) struct Checker {
    register: Register,
    /// What went wrong.
    pub(crate) violations: Vec<String>,
}

impl Checker {
    fn record(&mut self, v: DataViolation, now: Nanos) {
        let v = match v {
            DataViolation::StaleRead { lba, read, value, allowed } => format!(
                "LBA {lba}: read {read} completed at {} returned {}, allowed {}",
                secs(now),
                show(value),
                allowed.iter().map(|v| show(*v)).collect::<Vec<_>>().join(" or ")
            ),
            DataViolation::StaleWrite { lba, value, .. } => format!(
                "LBA {lba}: stale write of {} landed at {} after a newer write was acknowledged",
                show(value),
                secs(now)
            ),
            DataViolation::FinalValue { lba, value, allowed } => format!(
                "LBA {lba}: at the end ({}) the media holds {}, the last acknowledged write is {}",
                secs(now),
                show(value),
                allowed.iter().map(|v| show(*v)).collect::<Vec<_>>().join(" or ")
            ),
        };
        self.violations.push(v);
    }

    /// The application submitted write `op` of `value` to `lba`.
    pub(crate) fn write_invoked(&mut self, op: u64, lba: u64, value: Value, _now: Nanos) {
        self.register.write_invoked(op, lba, value);
    }

    /// The application saw write `op` complete.
    pub(crate) fn write_acked(&mut self, op: u64, lba: u64, _now: Nanos) {
        self.register.write_acked(op, lba);
    }

    /// The application submitted read `op` of `lba`.
    pub(crate) fn read_invoked(&mut self, op: u64, lba: u64, _now: Nanos) {
        self.register.read_invoked(op, lba);
    }

    /// Read `op` of `lba` completed with `value`; returns whether it was allowed.
    pub(crate) fn read_done(&mut self, op: u64, lba: u64, value: Value, now: Nanos) -> bool {
        match self.register.read_done(op, lba, value) {
            Ok(()) => true,
            Err(v) => {
                self.record(v, now);
                false
            }
        }
    }

    /// Read `op` of `lba` failed: it returned nothing to check.
    pub(crate) fn read_failed(&mut self, op: u64, lba: u64) {
        self.register.read_failed(op, lba);
    }

    /// The data of write `op` (if known) with `value` reached the media of `lba`; returns whether it was a
    /// stale write (a violation, recorded).
    pub(crate) fn landed(&mut self, op: Option<u64>, lba: u64, value: Value, now: Nanos) -> bool {
        let Some(op) = op else { return false };
        match self.register.landed(op, lba, value) {
            Ok(()) => false,
            Err(v) => {
                self.record(v, now);
                true
            }
        }
    }

    /// End of run: every block must hold a last write's value or a never-acknowledged write's value.
    pub(crate) fn finish(&mut self, now: Nanos, media: impl Fn(u64) -> Value) {
        for v in self.register.finish(media) {
            self.record(v, now);
        }
    }
}

pub(crate) fn show(v: Value) -> String {
    if v == u64::MAX { "mixed data".to_string() } else { v.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::MS;

    /// Invariant: a stale write landing after a newer acknowledged write is reported, by the landing check, by a
    /// later read and by the end-of-run check.
    #[test]
    fn a_stale_write_is_caught() {
        let mut c = Checker::default();
        c.write_invoked(1, 0, 5, 0);
        // W5 stuck in the failed controller; the host retried it elsewhere and it completed.
        c.landed(Some(1), 0, 5, MS);
        c.write_acked(1, 0, 2 * MS);
        c.write_invoked(2, 0, 9, 3 * MS);
        c.landed(Some(2), 0, 9, 4 * MS);
        c.write_acked(2, 0, 4 * MS);
        // The stuck copy of W5 lands now.
        c.landed(Some(1), 0, 5, 2000 * MS);
        assert_eq!(c.violations.len(), 1, "{:?}", c.violations);
        c.read_invoked(3, 0, 5000 * MS);
        assert!(!c.read_done(3, 0, 5, 5001 * MS));
        c.finish(6000 * MS, |_| 5);
        assert_eq!(c.violations.len(), 3, "{:?}", c.violations);
    }

    /// The same history without the stale landing is clean.
    #[test]
    fn a_clean_history_passes() {
        let mut c = Checker::default();
        c.write_invoked(1, 0, 5, 0);
        c.landed(Some(1), 0, 5, MS);
        c.write_acked(1, 0, 2 * MS);
        c.write_invoked(2, 0, 9, 3 * MS);
        c.landed(Some(2), 0, 9, 4 * MS);
        c.write_acked(2, 0, 4 * MS);
        c.read_invoked(3, 0, 5000 * MS);
        assert!(c.read_done(3, 0, 9, 5001 * MS));
        c.finish(6000 * MS, |_| 9);
        assert!(c.violations.is_empty(), "{:?}", c.violations);
    }

    /// A read concurrent with a write may see either value; one after it may not see the old one.
    #[test]
    fn concurrent_reads_may_see_old_or_new() {
        let mut c = Checker::default();
        c.write_invoked(1, 7, 4, 10);
        c.read_invoked(2, 7, 11);
        assert!(c.read_done(2, 7, 0, 20), "concurrent: the old value is fine");
        c.read_invoked(3, 7, 12);
        assert!(c.read_done(3, 7, 4, 21), "concurrent: the new value is fine");
        c.write_acked(1, 7, 30);
        c.read_invoked(4, 7, 31);
        assert!(!c.read_done(4, 7, 0, 40), "after the ack the old value is gone");
        assert!(c.read_done(5, 7, 3, 40), "unknown read op: ignored");
        assert_eq!(c.violations.len(), 1);
    }

    /// Two overlapping writes, both acknowledged: either may be the last one.
    #[test]
    fn overlapping_writes_leave_either_value() {
        let mut c = Checker::default();
        c.write_invoked(1, 0, 1, 10);
        c.write_invoked(2, 0, 2, 11);
        c.write_acked(2, 0, 20);
        c.write_acked(1, 0, 21);
        c.read_invoked(3, 0, 30);
        assert!(c.read_done(3, 0, 1, 31));
        c.read_invoked(4, 0, 30);
        assert!(c.read_done(4, 0, 2, 31));
        c.finish(40, |_| 2);
        assert!(c.violations.is_empty(), "{:?}", c.violations);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Invariant: a storage that applies each write before acknowledging it and answers reads with what it holds
        /// is never flagged, whatever the interleaving of several LBAs; the same history with one superseded write
        /// landing again late is flagged.
        #[test]
        fn linearizable_histories_pass_and_a_late_replay_fails(
            ops in proptest::collection::vec((0u64..3, proptest::bool::ANY), 2..40),
            replay in 0usize..40,
        ) {
            let mut c = Checker::default();
            let mut media = [0u64; 3];
            let mut t = 1;
            let mut writes = Vec::new();
            for (i, (lba, write)) in ops.iter().enumerate() {
                let op = i as u64 + 1;
                if *write {
                    c.write_invoked(op, *lba, op, t);
                    t += 1;
                    media[*lba as usize] = op;
                    c.landed(Some(op), *lba, op, t);
                    t += 1;
                    c.write_acked(op, *lba, t);
                    writes.push((op, *lba));
                } else {
                    c.read_invoked(op, *lba, t);
                    t += 1;
                    c.read_done(op, *lba, media[*lba as usize], t);
                }
                t += 1;
            }
            c.finish(t, |lba| media[lba as usize]);
            proptest::prop_assert!(c.violations.is_empty(), "{:?}", c.violations);
            // Replay a write that a later write to the same LBA superseded.
            if let Some(&(op, lba)) = writes.iter().cycle().skip(replay).take(writes.len()).find(|(op, lba)| {
                writes.iter().any(|(o2, l2)| l2 == lba && o2 > op)
            }) {
                c.landed(Some(op), lba, op, t + 1);
                proptest::prop_assert_eq!(c.violations.len(), 1);
            }
        }
    }
}
