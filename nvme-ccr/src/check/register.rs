//! The register checker: each logical block is a register written and read by the application.
//!
//! A write is *invoked* when the application submits it and *acknowledged* when the application sees it complete
//! (after any retries). Events are ordered by the calls, so a checker needs no clock and two events at the same
//! virtual instant are still ordered (the application reacts to a completion after it).
//!
//! * A write `W` is **superseded** once some write `W'` invoked after `W` was acknowledged is acknowledged itself:
//!   from then on nobody may observe `W`.
//! * A read may return the value of any write not superseded when the read was invoked, among the writes invoked
//!   before it completed (the initial content, zeros, counts as a write acknowledged before everything).
//! * A write whose data reaches the media after it was superseded is a **stale write** (ccr_cqt §14), even when no
//!   read sees it.
//! * At the end each block must hold the value of a write not superseded.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;
use core::fmt;

/// A value as the checker compares it (a byte pattern, or a write number).
pub type Value = u64;

/// The name of the initial content of every block (zeros, value 0): a write acknowledged before everything.
pub const INITIAL_WRITE: u64 = u64::MAX;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Write {
    op: u64,
    value: Value,
    acked: bool,
    superseded: bool,
    /// The writes acknowledged when this one was invoked: its acknowledgement supersedes them.
    after: Vec<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Read {
    op: u64,
    /// The writes superseded when it was invoked: it may not return them.
    dead: Vec<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Block {
    writes: Vec<Write>,
    reads: Vec<Read>,
}

impl Block {
    fn new() -> Self {
        let initial = Write { op: INITIAL_WRITE, value: 0, acked: true, superseded: false, after: Vec::new() };
        Block { writes: alloc::vec![initial], reads: Vec::new() }
    }

    /// Drops the superseded writes no outstanding read may return, remembering them in `pruned`.
    fn prune(&mut self, pruned: &mut BTreeSet<u64>) {
        let reads = &self.reads;
        let gone: Vec<u64> = self
            .writes
            .iter()
            .filter(|w| w.superseded && reads.iter().all(|r| r.dead.contains(&w.op)))
            .map(|w| w.op)
            .collect();
        if gone.is_empty() {
            return;
        }
        self.writes.retain(|w| !gone.contains(&w.op));
        for w in &mut self.writes {
            w.after.retain(|op| !gone.contains(op));
        }
        for r in &mut self.reads {
            r.dead.retain(|op| !gone.contains(op));
        }
        pruned.extend(gone.into_iter().filter(|&op| op != INITIAL_WRITE));
    }
}

/// What the register checker found.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DataViolation {
    /// A read returned a value it may not (an older one than the last acknowledged write, or one never written).
    StaleRead {
        /// The block.
        lba: u64,
        /// The read.
        read: u64,
        /// What it returned.
        value: Value,
        /// What it could have returned.
        allowed: Vec<Value>,
    },
    /// A write reached the media after a newer write was acknowledged.
    StaleWrite {
        /// The block.
        lba: u64,
        /// The write.
        write: u64,
        /// Its value.
        value: Value,
    },
    /// At the end, a block holds a value that is not the last acknowledged write (nor a write never acknowledged).
    FinalValue {
        /// The block.
        lba: u64,
        /// What it holds.
        value: Value,
        /// What it could hold.
        allowed: Vec<Value>,
    },
}

impl fmt::Display for DataViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataViolation::StaleRead { lba, read, value, allowed } => {
                write!(f, "LBA {lba}: read {read} returned {value}, allowed {allowed:?}")
            }
            DataViolation::StaleWrite { lba, write, value } => {
                write!(f, "LBA {lba}: stale write {write} of {value} landed after a newer write was acknowledged")
            }
            DataViolation::FinalValue { lba, value, allowed } => {
                write!(f, "LBA {lba}: at the end the media holds {value}, the last acknowledged write is {allowed:?}")
            }
        }
    }
}

/// The register checker for every block the application touches. See the module docs for the rules.
///
/// Memory: per block, the writes still observable and the outstanding reads; superseded writes no outstanding read
/// may return are dropped, and only their names are kept (to recognise a stale landing).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Register {
    blocks: BTreeMap<u64, Block>,
    pruned: BTreeSet<u64>,
}

impl Register {
    /// A checker with every block holding its initial content.
    pub fn new() -> Self {
        Self::default()
    }

    fn block(&mut self, lba: u64) -> &mut Block {
        self.blocks.entry(lba).or_insert_with(Block::new)
    }

    /// The application submitted write `op` of `value` to `lba`.
    pub fn write_invoked(&mut self, op: u64, lba: u64, value: Value) {
        let b = self.block(lba);
        let after = b.writes.iter().filter(|w| w.acked).map(|w| w.op).collect();
        b.writes.push(Write { op, value, acked: false, superseded: false, after });
    }

    /// The application saw write `op` to `lba` complete.
    pub fn write_acked(&mut self, op: u64, lba: u64) {
        let b = self.block(lba);
        let Some(i) = b.writes.iter().position(|w| w.op == op) else { return };
        b.writes[i].acked = true;
        let after = core::mem::take(&mut b.writes[i].after);
        for w in &mut b.writes {
            if after.contains(&w.op) {
                w.superseded = true;
            }
        }
        let mut pruned = core::mem::take(&mut self.pruned);
        self.block(lba).prune(&mut pruned);
        self.pruned = pruned;
    }

    /// The application submitted read `op` of `lba`.
    pub fn read_invoked(&mut self, op: u64, lba: u64) {
        let b = self.block(lba);
        let dead = b.writes.iter().filter(|w| w.superseded).map(|w| w.op).collect();
        b.reads.push(Read { op, dead });
    }

    /// The values read `op` of `lba` may return now (sorted, without duplicates); empty for an unknown read.
    pub fn allowed(&self, op: u64, lba: u64) -> Vec<Value> {
        let Some(b) = self.blocks.get(&lba) else { return alloc::vec![0] };
        let Some(r) = b.reads.iter().find(|r| r.op == op) else { return Vec::new() };
        let mut v: Vec<Value> = b.writes.iter().filter(|w| !r.dead.contains(&w.op)).map(|w| w.value).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Read `op` of `lba` completed with `value`. An unknown read is ignored.
    pub fn read_done(&mut self, op: u64, lba: u64, value: Value) -> Result<(), DataViolation> {
        let allowed = self.allowed(op, lba);
        let b = self.block(lba);
        let Some(i) = b.reads.iter().position(|r| r.op == op) else { return Ok(()) };
        b.reads.remove(i);
        let mut pruned = core::mem::take(&mut self.pruned);
        self.block(lba).prune(&mut pruned);
        self.pruned = pruned;
        if allowed.contains(&value) { Ok(()) } else { Err(DataViolation::StaleRead { lba, read: op, value, allowed }) }
    }

    /// Read `op` of `lba` failed: it returned nothing to check, and no longer keeps old writes observable.
    pub fn read_failed(&mut self, op: u64, lba: u64) {
        let b = self.block(lba);
        b.reads.retain(|r| r.op != op);
        let mut pruned = core::mem::take(&mut self.pruned);
        self.block(lba).prune(&mut pruned);
        self.pruned = pruned;
    }

    /// The data of write `op` (value `value`) reached the media of `lba`.
    pub fn landed(&mut self, op: u64, lba: u64, value: Value) -> Result<(), DataViolation> {
        let stale = self.pruned.contains(&op)
            || self.blocks.get(&lba).is_some_and(|b| b.writes.iter().any(|w| w.op == op && w.superseded));
        if stale { Err(DataViolation::StaleWrite { lba, write: op, value }) } else { Ok(()) }
    }

    /// The values `lba` may hold at the end: those of the writes not superseded.
    pub fn final_allowed(&self, lba: u64) -> Vec<Value> {
        let Some(b) = self.blocks.get(&lba) else { return alloc::vec![0] };
        let mut v: Vec<Value> = b.writes.iter().filter(|w| !w.superseded).map(|w| w.value).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// The end of a run (every stuck command had its chance to land): each block touched must hold the value of a
    /// write not superseded. `media` gives a block's value.
    pub fn finish(&self, media: impl Fn(u64) -> Value) -> Vec<DataViolation> {
        self.blocks
            .keys()
            .filter_map(|&lba| {
                let allowed = self.final_allowed(lba);
                let value = media(lba);
                (!allowed.contains(&value)).then_some(DataViolation::FinalValue { lba, value, allowed })
            })
            .collect()
    }

    /// Blocks touched so far, in order.
    pub fn blocks(&self) -> impl Iterator<Item = u64> + '_ {
        self.blocks.keys().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stale write landing after a newer acknowledged write is reported, by the landing check, by a later read and
    /// by the end check.
    #[test]
    fn a_stale_write_is_caught() {
        let mut c = Register::new();
        c.write_invoked(1, 0, 5);
        c.landed(1, 0, 5).unwrap();
        c.write_acked(1, 0);
        c.write_invoked(2, 0, 9);
        c.landed(2, 0, 9).unwrap();
        c.write_acked(2, 0);
        assert_eq!(c.landed(1, 0, 5), Err(DataViolation::StaleWrite { lba: 0, write: 1, value: 5 }));
        c.read_invoked(3, 0);
        assert_eq!(c.allowed(3, 0), [9]);
        assert!(c.read_done(3, 0, 5).is_err());
        assert_eq!(c.finish(|_| 5).len(), 1);
        assert!(c.finish(|_| 9).is_empty());
    }

    /// Same-instant events are ordered by the calls: a write acknowledged, then a new write invoked and acknowledged,
    /// supersedes the first even with no time between them.
    #[test]
    fn order_of_calls_is_the_order() {
        let mut c = Register::new();
        c.write_invoked(1, 0, 1);
        c.write_acked(1, 0);
        c.write_invoked(2, 0, 2);
        c.write_acked(2, 0);
        assert!(c.landed(1, 0, 1).is_err());
    }

    /// A read concurrent with a write may see either value; one invoked after the ack may not see the old one.
    #[test]
    fn concurrent_reads_may_see_old_or_new() {
        let mut c = Register::new();
        c.write_invoked(1, 7, 4);
        c.read_invoked(2, 7);
        c.read_invoked(3, 7);
        assert!(c.read_done(2, 7, 0).is_ok(), "concurrent: the old value");
        assert!(c.read_done(3, 7, 4).is_ok(), "concurrent: the new value");
        c.write_acked(1, 7);
        c.write_invoked(5, 7, 6);
        c.read_invoked(4, 7);
        c.write_acked(5, 7);
        assert!(c.read_done(4, 7, 4).is_ok(), "invoked before 5 was acknowledged: 4 is still allowed");
        c.read_invoked(6, 7);
        assert!(c.read_done(6, 7, 4).is_err(), "after 5's ack, 4 is gone");
        assert!(c.read_done(9, 7, 3).is_ok(), "unknown read: ignored");
    }

    /// Two overlapping writes, both acknowledged: either may be the last one; a superseded write no read can see is
    /// pruned but still recognised when it lands.
    #[test]
    fn overlapping_writes_and_pruning() {
        let mut c = Register::new();
        c.write_invoked(1, 0, 1);
        c.write_invoked(2, 0, 2);
        c.write_acked(2, 0);
        c.write_acked(1, 0);
        assert_eq!(c.final_allowed(0), [1, 2]);
        c.write_invoked(3, 0, 3);
        c.write_acked(3, 0);
        assert_eq!(c.final_allowed(0), [3]);
        assert_eq!(c.blocks[&0].writes.len(), 1, "superseded writes pruned");
        assert!(c.landed(1, 0, 1).is_err() && c.landed(2, 0, 2).is_err());
    }

    /// A failed read stops keeping old writes observable: they are pruned, and still recognised when they land.
    #[test]
    fn a_failed_read_lets_old_writes_go() {
        let mut c = Register::new();
        c.write_invoked(1, 0, 1);
        c.write_acked(1, 0);
        c.read_invoked(2, 0);
        c.write_invoked(3, 0, 3);
        c.write_acked(3, 0);
        assert_eq!(c.blocks[&0].writes.len(), 2, "write 1 is kept for the outstanding read");
        c.read_failed(2, 0);
        assert_eq!(c.blocks[&0].writes.len(), 1, "write 1 pruned");
        assert!(c.landed(1, 0, 1).is_err());
        assert!(c.read_done(2, 0, 1).is_ok(), "a read already failed is unknown: ignored");
    }
}
