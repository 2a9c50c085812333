//! The single-block register checker.
//!
//! Each LBA is a register. A write is *invoked* when the application submits it and *acknowledged* when the
//! application sees it complete (after any retries). For a read invoked at `ri` that completes at `rr`:
//!
//! * a write `W` is **superseded** at time `t` when some write `W'` acknowledged before `t` was invoked after `W` was
//!   acknowledged (`W'.invoke > W.ack`): from `t` on nobody may observe `W`;
//! * the read may return the value of any write acknowledged before `ri` and not superseded at `ri` (the "last"
//!   writes; the initial content, zeros, counts as a write acknowledged at time 0), or of any write **concurrent** with
//!   it (invoked before `rr` and not acknowledged before `ri`).
//!
//! Two more checks catch a stale write even when no read sees it: a write whose data lands on the media after it was
//! superseded is a violation (the stale-write hazard, [`nvme_ccr::notes::ccr_cqt`] §14), and at the end of the run
//! (after every stuck command had time to land) each block must hold the value of a last write or of a write never
//! acknowledged.

use std::collections::{BTreeMap, HashSet};

use crate::clock::{Nanos, secs};

/// A value as the checker compares it (a byte value for rw_test, a write number for the other workloads).
pub(crate) type Value = u64;

#[derive(Clone, Copy, Debug)]
struct WriteRec {
    op: u64,
    value: Value,
    invoke: Nanos,
    ack: Option<Nanos>,
}

#[derive(Default)]
struct Reg {
    writes: Vec<WriteRec>,
    /// Outstanding reads: op -> invoke time.
    reads: BTreeMap<u64, Nanos>,
}

impl Reg {
    /// The two largest invoke times of writes acknowledged before `t`, with the op of the largest.
    fn top_invokes(&self, t: Nanos) -> (Option<(Nanos, u64)>, Option<Nanos>) {
        let mut first: Option<(Nanos, u64)> = None;
        let mut second: Option<Nanos> = None;
        for w in self.writes.iter().filter(|w| w.ack.is_some_and(|a| a < t)) {
            match first {
                Some((m, _)) if w.invoke <= m => second = Some(second.map_or(w.invoke, |s| s.max(w.invoke))),
                _ => {
                    second = first.map(|(m, _)| m).or(second);
                    first = Some((w.invoke, w.op));
                }
            }
        }
        (first, second)
    }

    /// Whether `w` is superseded at `t`: some other write acknowledged before `t` was invoked at or after `w`'s
    /// acknowledgement (an invoke at the same instant as the ack follows it causally: the application reacts to
    /// the completion).
    fn superseded_with(w: &WriteRec, top: (Option<(Nanos, u64)>, Option<Nanos>)) -> bool {
        let Some(a) = w.ack else { return false };
        let other = match top.0 {
            Some((_, op)) if op == w.op => top.1,
            Some((m, _)) => Some(m),
            None => None,
        };
        other.is_some_and(|m| a <= m)
    }

    fn superseded(&self, w: &WriteRec, t: Nanos) -> bool {
        Self::superseded_with(w, self.top_invokes(t))
    }

    /// Values a read invoked at `ri`, completing at `rr`, may return.
    fn allowed(&self, ri: Nanos, rr: Nanos) -> Vec<Value> {
        let top = self.top_invokes(ri);
        let mut v: Vec<Value> = self
            .writes
            .iter()
            .filter(|w| match w.ack {
                Some(a) if a < ri => !Self::superseded_with(w, top),
                _ => w.invoke < rr,
            })
            .map(|w| w.value)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Drop writes nobody can observe any more (superseded before the oldest outstanding read and `now`).
    fn prune(&mut self, now: Nanos, pruned: &mut HashSet<u64>) {
        let horizon = self.reads.values().copied().min().unwrap_or(now).min(now);
        let top = self.top_invokes(horizon);
        self.writes.retain(|w| {
            let dead = w.ack.is_some_and(|a| a < horizon) && Self::superseded_with(w, top);
            if dead {
                pruned.insert(w.op);
            }
            !dead
        });
    }
}

/// The checker: fed with every application write/read and every media landing.
#[derive(Default)]
pub(crate) struct Checker {
    regs: BTreeMap<u64, Reg>,
    /// Acknowledged writes already pruned (superseded).
    pruned: HashSet<u64>,
    /// What went wrong.
    pub(crate) violations: Vec<String>,
}

impl Checker {
    fn reg(&mut self, lba: u64) -> &mut Reg {
        self.regs.entry(lba).or_insert_with(|| Reg {
            writes: vec![WriteRec { op: u64::MAX, value: 0, invoke: 0, ack: Some(0) }],
            reads: BTreeMap::new(),
        })
    }

    /// The application submitted write `op` of `value` to `lba`.
    pub(crate) fn write_invoked(&mut self, op: u64, lba: u64, value: Value, now: Nanos) {
        self.reg(lba).writes.push(WriteRec { op, value, invoke: now, ack: None });
    }

    /// The application saw write `op` complete.
    pub(crate) fn write_acked(&mut self, op: u64, lba: u64, now: Nanos) {
        let r = self.reg(lba);
        if let Some(w) = r.writes.iter_mut().find(|w| w.op == op) {
            w.ack = Some(now);
        }
        let mut pruned = core::mem::take(&mut self.pruned);
        self.reg(lba).prune(now, &mut pruned);
        self.pruned = pruned;
    }

    /// The application submitted read `op` of `lba`.
    pub(crate) fn read_invoked(&mut self, op: u64, lba: u64, now: Nanos) {
        self.reg(lba).reads.insert(op, now);
    }

    /// Read `op` of `lba` completed with `value`; returns whether it was allowed.
    pub(crate) fn read_done(&mut self, op: u64, lba: u64, value: Value, now: Nanos) -> bool {
        let r = self.reg(lba);
        let Some(ri) = r.reads.remove(&op) else { return true };
        let allowed = r.allowed(ri, now);
        let ok = allowed.contains(&value);
        if !ok {
            self.violations.push(format!(
                "LBA {lba}: read invoked at {} completed at {} returned {}, allowed {}",
                secs(ri),
                secs(now),
                show(value),
                allowed.iter().map(|v| show(*v)).collect::<Vec<_>>().join(" or ")
            ));
        }
        let mut pruned = core::mem::take(&mut self.pruned);
        self.reg(lba).prune(now, &mut pruned);
        self.pruned = pruned;
        ok
    }

    /// Read `op` of `lba` failed: it returned nothing to check.
    pub(crate) fn read_failed(&mut self, op: u64, lba: u64) {
        self.reg(lba).reads.remove(&op);
    }

    /// The data of write `op` (if known) with `value` reached the media of `lba`.
    pub(crate) fn landed(&mut self, op: Option<u64>, lba: u64, value: Value, now: Nanos) {
        let Some(op) = op else { return };
        let stale = if self.pruned.contains(&op) {
            true
        } else {
            let r = self.reg(lba);
            r.writes.iter().find(|w| w.op == op).is_some_and(|w| r.superseded(w, now))
        };
        if stale {
            self.violations.push(format!(
                "LBA {lba}: stale write of {} landed at {} after a newer write was acknowledged",
                show(value),
                secs(now)
            ));
        }
    }

    /// End of run: every block must hold a last write's value or a never-acknowledged write's value.
    pub(crate) fn finish(&mut self, now: Nanos, media: impl Fn(u64) -> Value) {
        let mut out = Vec::new();
        for (&lba, r) in &self.regs {
            let top = r.top_invokes(now + 1);
            let mut allowed: Vec<Value> =
                r.writes.iter().filter(|w| !Reg::superseded_with(w, top)).map(|w| w.value).collect();
            allowed.sort_unstable();
            allowed.dedup();
            let v = media(lba);
            if !allowed.contains(&v) {
                out.push(format!(
                    "LBA {lba}: at the end ({}) the media holds {}, the last acknowledged write is {}",
                    secs(now),
                    show(v),
                    allowed.iter().map(|v| show(*v)).collect::<Vec<_>>().join(" or ")
                ));
            }
        }
        self.violations.extend(out);
    }
}

fn show(v: Value) -> String {
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
