//! The command table: every outstanding command in a flat slot array, threaded on an intrusive list per path so that
//! fencing a path is O(1) and releasing it is O(held), and found by the caller's token through a flat index.
//!
//! A path's list is either *live* (commands complete normally) or *held* (the path is fencing). While held, the
//! only way out of the list is [`CommandTable::release_all`] with a [`ReleaseProof`] or
//! [`CommandTable::release_filtered`] with a [`FilterProof`]; a completion of a held command does not remove it.
//!
//! Released commands leave the index and their path at once, and wait in release batches (the path's list, handed
//! over whole) until [`CommandTable::pop_release`] hands them out one by one and frees their slots; no per-command
//! queue is built.
//!
//! # Memory and cost
//!
//! The token index ([`Index`]) keeps the slot numbers of tokens `16k..16k + 15` together in one 64-byte page, found
//! by `k` in an open-addressing map at most half full. Callers number commands by a counter, or by queue and CID,
//! so neighbouring commands share a page: a table of a million commands costs a cache miss per 16 commands at
//! most, not one per command, and submit + complete touch cache lines already hot. Arbitrary tokens still work, at
//! one page each. Nothing grows in the steady state: slots, pages, map and batch queue keep their capacity and grow
//! only past the largest number of commands held so far.

use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;

use crate::error::{CompleteError, SubmitError};
use crate::hold::{FilterProof, ReleaseProof, ReleaseReason};
use crate::policy::CommandKind;
use crate::{Completion, PathId};

const NIL: u32 = u32::MAX;

/// Tokens per page of the index: 16 slot numbers, one 64-byte cache line.
const LANES: usize = 16;

/// The splitmix64 finalizer: a deterministic spread (no randomness inside the engine, STYLE rule 7).
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    key: u64,
    /// NIL: empty.
    value: u32,
}

const EMPTY: Bucket = Bucket { key: 0, value: NIL };

/// u64 -> u32: open addressing, linear probing from a hashed position, backward-shift deletion (no tombstones),
/// never more than half full (so every probe ends at an empty bucket).
#[derive(Clone, Debug)]
struct Map {
    buckets: Vec<Bucket>,
    len: usize,
}

impl Map {
    fn with_capacity(keys: usize) -> Self {
        let n = keys.saturating_mul(2).max(16).checked_next_power_of_two().unwrap_or(1 << (usize::BITS - 1));
        Map { buckets: vec![EMPTY; n], len: 0 }
    }

    fn mask(&self) -> usize {
        self.buckets.len() - 1
    }

    fn home(&self, key: u64) -> usize {
        mix(key) as usize & self.mask()
    }

    /// The bucket holding `key`, and its value.
    fn find(&self, key: u64) -> Option<(usize, u32)> {
        let mask = self.mask();
        let mut i = self.home(key);
        loop {
            let b = self.buckets[i];
            if b.value == NIL {
                return None;
            }
            if b.key == key {
                return Some((i, b.value));
            }
            i = (i + 1) & mask;
        }
    }

    /// Adds `key` (not present) -> `value`. Grows (doubling) only to stay at most half full.
    fn insert(&mut self, key: u64, value: u32) {
        if (self.len + 1) * 2 > self.buckets.len() {
            let doubled = vec![EMPTY; self.buckets.len() * 2];
            let old = core::mem::replace(&mut self.buckets, doubled);
            self.len = 0;
            for b in old {
                if b.value != NIL {
                    self.insert(b.key, b.value);
                }
            }
        }
        let mask = self.mask();
        let mut i = self.home(key);
        while self.buckets[i].value != NIL {
            i = (i + 1) & mask;
        }
        self.buckets[i] = Bucket { key, value };
        self.len += 1;
    }

    /// Empties bucket `i`, shifting back the entries after it whose probe passed it.
    fn remove_at(&mut self, mut i: usize) {
        let mask = self.mask();
        let mut j = i;
        loop {
            j = (j + 1) & mask;
            let b = self.buckets[j];
            if b.value == NIL {
                break;
            }
            // `b` may move to `i` unless its home lies cyclically in (i, j].
            let home = self.home(b.key);
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(i) & mask) {
                self.buckets[i] = b;
                i = j;
            }
        }
        self.buckets[i] = EMPTY;
        self.len -= 1;
    }
}

/// Token -> slot, in two levels: tokens `16k..16k + 15` share a page of 16 slot numbers (one cache line), found
/// by `k` in a [`Map`]. A page is taken when the first of its tokens arrives and given back after the last left
/// (the most recently emptied page stays mapped, so a token coming and going alone does not take and give back a
/// page each time).
///
/// Callers number commands by a counter, or by queue and CID, so neighbouring commands share a page: the map holds
/// one entry per 16 commands and stays in cache, and a command's lookup touches its page, already hot from its
/// neighbours. Arbitrary tokens work too, one page each (about 100 bytes per command instead of about 6).
#[derive(Clone, Debug)]
struct Index {
    pages: Map,
    lanes: Vec<[u32; LANES]>,
    /// Pages given back, chained through their first lane.
    free: u32,
    /// The last page that became empty, still mapped: (key, page).
    spare: Option<(u64, u32)>,
}

/// Where a token's slot number lives.
#[derive(Clone, Copy, Debug)]
struct Loc {
    page: u32,
    lane: usize,
}

impl Index {
    fn with_capacity(tokens: usize) -> Self {
        // The pages of `tokens` from a counter, one more for a run boundary, and the spare.
        let pages = tokens.div_ceil(LANES) + 2;
        Index { pages: Map::with_capacity(pages), lanes: Vec::with_capacity(pages), free: NIL, spare: None }
    }

    fn split(token: u64) -> (u64, usize) {
        (token / LANES as u64, (token % LANES as u64) as usize)
    }

    /// Where `token` is, if it is present.
    fn locate(&self, token: u64) -> Option<(Loc, u32)> {
        let (key, lane) = Self::split(token);
        let (_, page) = self.pages.find(key)?;
        let slot = self.lanes[page as usize][lane];
        (slot != NIL).then_some((Loc { page, lane }, slot))
    }

    fn find(&self, token: u64) -> Option<u32> {
        self.locate(token).map(|(_, slot)| slot)
    }

    /// Where `token` goes (its page mapped), and the slot there now (NIL: absent).
    fn claim(&mut self, token: u64) -> (Loc, u32) {
        let (key, lane) = Self::split(token);
        let page = match self.pages.find(key) {
            Some((_, page)) => page,
            None => {
                let page = if self.free != NIL {
                    let page = self.free;
                    self.free = self.lanes[page as usize][0];
                    self.lanes[page as usize] = [NIL; LANES];
                    page
                } else {
                    // At most one page per slot plus the spare, and slots are numbered below u32::MAX.
                    let page = self.lanes.len() as u32;
                    self.lanes.push([NIL; LANES]);
                    page
                };
                self.pages.insert(key, page);
                page
            }
        };
        (Loc { page, lane }, self.lanes[page as usize][lane])
    }

    fn set(&mut self, at: Loc, slot: u32) {
        self.lanes[at.page as usize][at.lane] = slot;
    }

    /// Empties `at` (of `token`); a page left empty becomes the spare, and the previous spare, if still empty, is
    /// given back.
    fn clear(&mut self, token: u64, at: Loc) {
        let lanes = &mut self.lanes[at.page as usize];
        lanes[at.lane] = NIL;
        // Empty when every lane is NIL (all ones): one AND over the page, no branch per lane.
        if lanes.iter().fold(NIL, |all, &s| all & s) != NIL {
            return;
        }
        let key = token / LANES as u64;
        if let Some((old_key, old)) = self.spare.replace((key, at.page))
            && old != at.page
            && self.lanes[old as usize].iter().fold(NIL, |all, &s| all & s) == NIL
            && let Some((bucket, _)) = self.pages.find(old_key)
        {
            self.pages.remove_at(bucket);
            self.lanes[old as usize][0] = self.free;
            self.free = old;
        }
    }

    fn remove(&mut self, token: u64) {
        if let Some((at, _)) = self.locate(token) {
            self.clear(token, at);
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    token: u64,
    kind: CommandKind,
    /// NIL for a free slot or a released one.
    path: u32,
    prev: u32,
    /// For a free slot: the next free slot. For a released one: the next in its batch.
    next: u32,
}

#[derive(Clone, Copy, Debug)]
struct List {
    head: u32,
    len: usize,
    held: bool,
}

/// Released commands not yet handed out: a chain of slots (through `next`), all from one path for one reason.
#[derive(Clone, Copy, Debug)]
struct Batch {
    head: u32,
    len: usize,
    from: PathId,
    reason: ReleaseReason,
}

/// What the table knows about one command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandInfo {
    /// The path it was submitted on.
    pub path: PathId,
    /// Its kind.
    pub kind: CommandKind,
    /// Whether it is held (its path is fencing).
    pub held: bool,
}

/// A command handed out by [`CommandTable::pop_release`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Released {
    pub(crate) token: u64,
    pub(crate) kind: CommandKind,
    pub(crate) from: PathId,
    pub(crate) reason: ReleaseReason,
}

/// The table. Its layout (slot numbers, pages, free lists, capacities) depends on its history; equality and hashing
/// look only at its logical content: per path, whether it is held and its commands (token, kind) in list order, and
/// the release batches waiting (path, reason, commands in order). Two tables with the same content behave the same.
#[derive(Clone, Debug)]
pub(crate) struct CommandTable {
    index: Index,
    slots: Vec<Slot>,
    free: u32,
    lists: Vec<List>,
    batches: VecDeque<Batch>,
    /// Commands outstanding (in a path's list).
    live: usize,
}

impl CommandTable {
    /// The commands of a chain starting at slot `head` (through `next`), `len` of them.
    fn chain(&self, head: u32, len: usize) -> impl Iterator<Item = (u64, CommandKind)> + '_ {
        let mut idx = head;
        (0..len).map(move |_| {
            let s = &self.slots[idx as usize];
            idx = s.next;
            (s.token, s.kind)
        })
    }
}

impl PartialEq for CommandTable {
    fn eq(&self, other: &Self) -> bool {
        self.lists.len() == other.lists.len()
            && self.batches.len() == other.batches.len()
            && self.lists.iter().zip(&other.lists).all(|(a, b)| {
                a.held == b.held && a.len == b.len && self.chain(a.head, a.len).eq(other.chain(b.head, b.len))
            })
            && self.batches.iter().zip(&other.batches).all(|(a, b)| {
                (a.from, a.reason, a.len) == (b.from, b.reason, b.len)
                    && self.chain(a.head, a.len).eq(other.chain(b.head, b.len))
            })
    }
}

impl Eq for CommandTable {}

impl core::hash::Hash for CommandTable {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.lists.len().hash(state);
        for l in &self.lists {
            (l.held, l.len).hash(state);
            self.chain(l.head, l.len).for_each(|c| c.hash(state));
        }
        self.batches.len().hash(state);
        for b in &self.batches {
            (b.from, b.reason, b.len).hash(state);
            self.chain(b.head, b.len).for_each(|c| c.hash(state));
        }
    }
}

impl CommandTable {
    pub(crate) fn with_capacity(commands: usize) -> Self {
        Self {
            index: Index::with_capacity(commands),
            slots: Vec::with_capacity(commands),
            free: NIL,
            lists: Vec::new(),
            batches: VecDeque::new(),
            live: 0,
        }
    }

    pub(crate) fn add_path(&mut self) {
        self.lists.push(List { head: NIL, len: 0, held: false });
        // At most one batch per path and release, and a path releases again only after it was live again.
        self.batches.reserve(2);
    }

    pub(crate) fn len(&self, path: PathId) -> usize {
        self.lists.get(path.index()).map_or(0, |l| l.len)
    }

    pub(crate) fn total(&self) -> usize {
        self.live
    }

    /// Whether released commands wait for [`pop_release`](Self::pop_release).
    #[cfg(feature = "check")]
    pub(crate) fn has_releases(&self) -> bool {
        !self.batches.is_empty()
    }

    pub(crate) fn info(&self, token: u64) -> Option<CommandInfo> {
        let idx = self.index.find(token)?;
        let slot = self.slots.get(idx as usize)?;
        let held = self.lists.get(slot.path as usize).is_some_and(|l| l.held);
        Some(CommandInfo { path: PathId(slot.path), kind: slot.kind, held })
    }

    /// Adds an outstanding command on a live path. O(1).
    pub(crate) fn insert(&mut self, path: PathId, token: u64, kind: CommandKind) -> Result<(), SubmitError> {
        let Some(list) = self.lists.get(path.index()) else { return Err(SubmitError::UnknownPath) };
        if list.held {
            return Err(SubmitError::PathNotUsable);
        }
        if self.free == NIL && u32::try_from(self.slots.len()).ok().is_none_or(|n| n == NIL) {
            return Err(SubmitError::TableFull);
        }
        let (at, present) = self.index.claim(token);
        if present != NIL {
            return Err(SubmitError::DuplicateToken);
        }
        let head = list.head;
        let slot = Slot { token, kind, path: path.0, prev: NIL, next: head };
        let idx = if self.free != NIL {
            let idx = self.free;
            self.free = self.slots[idx as usize].next;
            self.slots[idx as usize] = slot;
            idx
        } else {
            // Checked above: below NIL.
            let idx = self.slots.len() as u32;
            self.slots.push(slot);
            idx
        };
        if head != NIL {
            self.slots[head as usize].prev = idx;
        }
        let list = &mut self.lists[path.index()];
        list.head = idx;
        list.len += 1;
        self.index.set(at, idx);
        self.live += 1;
        Ok(())
    }

    /// A completion arrived for `token` on `path`. O(1). A held command stays held.
    pub(crate) fn complete(&mut self, path: PathId, token: u64) -> Result<Completion, CompleteError> {
        let Some((at, idx)) = self.index.locate(token) else { return Err(CompleteError::UnknownCommand) };
        let slot = self.slots[idx as usize];
        if slot.path != path.0 {
            return Err(CompleteError::WrongPath { path: PathId(slot.path) });
        }
        if self.lists[slot.path as usize].held {
            return Ok(Completion::Held);
        }
        self.index.clear(token, at);
        self.unlink(idx);
        self.free_slot(idx);
        self.live -= 1;
        Ok(Completion::Deliver)
    }

    /// Marks every command of `path` held (fencing started). O(1).
    pub(crate) fn hold(&mut self, path: PathId) {
        if let Some(l) = self.lists.get_mut(path.index()) {
            l.held = true;
        }
    }

    /// Removes every command of `path`, held or not, in exchange for a proof: they leave the index and wait, in the
    /// order of the path's list, for [`pop_release`](Self::pop_release). The path's list is live (empty, not held)
    /// afterwards. O(len).
    pub(crate) fn release_all(&mut self, path: PathId, proof: ReleaseProof) -> usize {
        let Some(list) = self.lists.get_mut(path.index()) else { return 0 };
        let List { head, len, .. } = *list;
        *list = List { head: NIL, len: 0, held: false };
        let mut idx = head;
        while idx != NIL {
            let slot = &mut self.slots[idx as usize];
            slot.path = NIL;
            self.index.remove(slot.token);
            idx = slot.next;
        }
        self.queue(head, len, path, proof.reason());
        len
    }

    /// Removes the commands of `path` that `proof` allows (side-effect-free ones), to wait for
    /// [`pop_release`](Self::pop_release) in list order. O(len).
    pub(crate) fn release_filtered(&mut self, path: PathId, proof: &FilterProof) -> usize {
        let Some(list) = self.lists.get(path.index()) else { return 0 };
        let mut idx = list.head;
        let (mut head, mut tail, mut n) = (NIL, NIL, 0);
        while idx != NIL {
            let slot = self.slots[idx as usize];
            if proof.allows(slot.kind) {
                self.index.remove(slot.token);
                self.unlink(idx);
                let s = &mut self.slots[idx as usize];
                s.path = NIL;
                s.next = NIL;
                if tail == NIL {
                    head = idx;
                } else {
                    self.slots[tail as usize].next = idx;
                }
                tail = idx;
                n += 1;
            }
            idx = slot.next;
        }
        self.queue(head, n, path, ReleaseReason::SideEffectFree);
        n
    }

    fn queue(&mut self, head: u32, len: usize, from: PathId, reason: ReleaseReason) {
        if len > 0 {
            self.live -= len;
            self.batches.push_back(Batch { head, len, from, reason });
        }
    }

    /// The next released command, in release order; its slot is freed. O(1).
    pub(crate) fn pop_release(&mut self) -> Option<Released> {
        let batch = self.batches.front_mut()?;
        let idx = batch.head;
        let slot = self.slots[idx as usize];
        let out = Released { token: slot.token, kind: slot.kind, from: batch.from, reason: batch.reason };
        batch.head = slot.next;
        batch.len -= 1;
        if batch.len == 0 {
            self.batches.pop_front();
        }
        self.free_slot(idx);
        Some(out)
    }

    /// Takes slot `idx` out of its path's list.
    fn unlink(&mut self, idx: u32) {
        let slot = self.slots[idx as usize];
        if slot.prev != NIL {
            self.slots[slot.prev as usize].next = slot.next;
        } else {
            self.lists[slot.path as usize].head = slot.next;
        }
        if slot.next != NIL {
            self.slots[slot.next as usize].prev = slot.prev;
        }
        self.lists[slot.path as usize].len -= 1;
    }

    fn free_slot(&mut self, idx: u32) {
        let s = &mut self.slots[idx as usize];
        s.path = NIL;
        s.prev = NIL;
        s.next = self.free;
        self.free = idx;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;

    fn drain(t: &mut CommandTable) -> Vec<u64> {
        core::iter::from_fn(|| t.pop_release().map(|r| r.token)).collect()
    }

    #[test]
    fn insert_complete_and_reuse_slots() {
        let mut t = CommandTable::with_capacity(4);
        t.add_path();
        t.add_path();
        let (a, b) = (PathId(0), PathId(1));
        t.insert(a, 10, CommandKind::Write).unwrap();
        t.insert(a, 11, CommandKind::Read).unwrap();
        t.insert(b, 12, CommandKind::Write).unwrap();
        assert_eq!(t.insert(b, 10, CommandKind::Read), Err(SubmitError::DuplicateToken));
        assert_eq!(t.insert(PathId(9), 13, CommandKind::Read), Err(SubmitError::UnknownPath));
        assert_eq!(t.complete(b, 11), Err(CompleteError::WrongPath { path: a }));
        assert_eq!(t.complete(a, 11), Ok(Completion::Deliver));
        assert_eq!(t.complete(a, 11), Err(CompleteError::UnknownCommand));
        assert_eq!((t.len(a), t.len(b), t.total()), (1, 1, 2));
        t.insert(b, 14, CommandKind::Read).unwrap();
        assert_eq!(t.slots.len(), 3, "the freed slot is reused");
        assert_eq!(t.info(14), Some(CommandInfo { path: b, kind: CommandKind::Read, held: false }));
    }

    #[test]
    fn held_commands_leave_only_with_a_proof() {
        let mut t = CommandTable::with_capacity(4);
        t.add_path();
        let a = PathId(0);
        for (tok, kind) in [(1, CommandKind::Write), (2, CommandKind::Read), (3, CommandKind::Write)] {
            t.insert(a, tok, kind).unwrap();
        }
        t.hold(a);
        assert_eq!(t.insert(a, 4, CommandKind::Read), Err(SubmitError::PathNotUsable));
        assert_eq!(t.complete(a, 1), Ok(Completion::Held));
        assert!(t.info(1).unwrap().held);
        let filter = FilterProof::new(Policy::CcrFilter { release_admin: false }).unwrap();
        assert_eq!(t.release_filtered(a, &filter), 1);
        assert_eq!((t.info(2), t.total()), (None, 2), "a released command has left the table");
        assert_eq!(
            t.pop_release(),
            Some(Released { token: 2, kind: CommandKind::Read, from: a, reason: ReleaseReason::SideEffectFree })
        );
        assert_eq!(t.pop_release(), None);
        assert_eq!(t.release_all(a, ReleaseProof::legacy(Policy::Legacy).unwrap()), 2);
        assert_eq!((t.info(1), t.total(), t.len(a)), (None, 0, 0));
        assert_eq!(t.complete(a, 3), Err(CompleteError::UnknownCommand));
        let mut out = drain(&mut t);
        out.sort();
        assert_eq!(out, [1, 3]);
        t.insert(a, 5, CommandKind::Write).unwrap();
        assert_eq!(t.complete(a, 5), Ok(Completion::Deliver), "the list is live again after release");
        assert_eq!(t.slots.len(), 3, "released slots are reused");
    }

    #[test]
    fn batches_come_out_in_release_order_and_a_token_may_return_before_its_release_is_polled() {
        let mut t = CommandTable::with_capacity(0);
        t.add_path();
        t.add_path();
        let (a, b) = (PathId(0), PathId(1));
        for tok in [1, 2, 3] {
            t.insert(a, tok, CommandKind::Write).unwrap();
        }
        t.insert(b, 9, CommandKind::Write).unwrap();
        let proof = || ReleaseProof::legacy(Policy::Legacy).unwrap();
        assert_eq!(t.release_all(a, proof()), 3);
        assert_eq!(t.release_all(b, proof()), 1);
        assert_eq!(t.release_all(b, proof()), 0, "an empty release queues nothing");
        // Token 2 is no longer outstanding: it may be submitted again at once.
        t.insert(b, 2, CommandKind::Read).unwrap();
        assert_eq!(drain(&mut t), [3, 2, 1, 9], "path a's list (newest first), then path b's");
        assert_eq!(t.info(2), Some(CommandInfo { path: b, kind: CommandKind::Read, held: false }));
    }

    fn hash_of(t: &CommandTable) -> u64 {
        use core::hash::{Hash, Hasher};
        // FNV-1a: enough to compare two hashes in a test (no std hasher in a no_std crate).
        struct Fnv(u64);
        impl Hasher for Fnv {
            fn finish(&self) -> u64 {
                self.0
            }
            fn write(&mut self, bytes: &[u8]) {
                for &b in bytes {
                    self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
                }
            }
        }
        let mut h = Fnv(0xcbf2_9ce4_8422_2325);
        t.hash(&mut h);
        h.finish()
    }

    /// Equality and hashing see the logical content only: a table that grew, freed slots and pages and went through
    /// a release equals (and hashes as) a fresh one with the same commands in the same order; a different order or
    /// hold state does not.
    #[test]
    fn equality_and_hash_are_over_logical_content() {
        let mut a = CommandTable::with_capacity(0);
        let mut b = CommandTable::with_capacity(64);
        for t in [&mut a, &mut b] {
            t.add_path();
            t.add_path();
        }
        let (p, q) = (PathId(0), PathId(1));
        // a: a long history (growth, completions, a release handed out) ending with tokens 7 then 9 on p.
        for tok in 0..40 {
            a.insert(q, 1000 + tok, CommandKind::Read).unwrap();
        }
        for tok in 0..40 {
            a.complete(q, 1000 + tok).unwrap();
        }
        a.insert(q, 5, CommandKind::Write).unwrap();
        a.release_all(q, ReleaseProof::legacy(Policy::Legacy).unwrap());
        assert_eq!(drain(&mut a), [5]);
        a.insert(p, 7, CommandKind::Write).unwrap();
        a.insert(p, 9, CommandKind::Read).unwrap();
        // b: the same content, fresh.
        b.insert(p, 7, CommandKind::Write).unwrap();
        b.insert(p, 9, CommandKind::Read).unwrap();
        assert_ne!(a.slots.len(), b.slots.len(), "different layouts");
        assert_eq!(a, b);
        assert_eq!(hash_of(&a), hash_of(&b));
        let mut c = b.clone();
        c.hold(p);
        assert_ne!(b, c, "held differs");
        let mut d = CommandTable::with_capacity(0);
        d.add_path();
        d.add_path();
        d.insert(p, 9, CommandKind::Read).unwrap();
        d.insert(p, 7, CommandKind::Write).unwrap();
        assert_ne!(b, d, "list order differs (it is the release order)");
        // Waiting releases count too.
        let (mut e, mut f) = (a.clone(), b.clone());
        e.release_all(p, ReleaseProof::legacy(Policy::Legacy).unwrap());
        f.release_all(p, ReleaseProof::legacy(Policy::Legacy).unwrap());
        assert_eq!(e, f);
        assert_eq!(hash_of(&e), hash_of(&f));
        assert_ne!(e, a);
        e.pop_release();
        assert_ne!(e, f);
    }

    /// The index against a model, through growth, page reuse and backward-shift deletions, with tokens from a
    /// counter (runs), spread (random) and one per page (multiples of a large power of two).
    #[test]
    fn index_agrees_with_a_model() {
        let mut seed = 0x1234_5678_u64;
        let mut rand = move || {
            seed = mix(seed);
            seed
        };
        for pattern in 0..3 {
            let mut ix = Index::with_capacity(0);
            let mut model: Vec<(u64, u32)> = Vec::new();
            for step in 0..6_000u32 {
                let r = rand();
                let token = match pattern {
                    0 => u64::from(step) / 2 + r % 40,
                    1 => r % 2_000,
                    _ => (r % 1_000) << 40,
                };
                let present = model.iter().position(|&(t, _)| t == token);
                assert_eq!(ix.find(token), present.map(|p| model[p].1), "pattern {pattern}");
                match present {
                    Some(p) if r % 3 != 0 => {
                        ix.remove(token);
                        model.swap_remove(p);
                    }
                    None => {
                        let (at, present) = ix.claim(token);
                        assert_eq!(present, NIL);
                        ix.set(at, step);
                        model.push((token, step));
                    }
                    Some(_) => {}
                }
                assert!(ix.pages.len * 2 <= ix.pages.buckets.len());
            }
            for &(t, s) in &model {
                assert_eq!(ix.find(t), Some(s));
            }
            let pages: alloc::collections::BTreeSet<u64> = model.iter().map(|&(t, _)| t / LANES as u64).collect();
            let spare = ix.spare.is_some_and(|(k, _)| !pages.contains(&k));
            assert_eq!(ix.pages.len, pages.len() + usize::from(spare), "one page per group in use, plus the spare");
        }
    }
}
