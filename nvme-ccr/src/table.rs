//! The command table: every outstanding command, keyed by the caller's token, threaded on an intrusive list per
//! path so that fencing a path is O(1) and releasing it is O(held).
//!
//! A path's list is either *live* (commands complete normally) or *held* (the path is fencing). While held, the
//! only way out of the list is [`CommandTable::release_all`] with a [`ReleaseProof`] or
//! [`CommandTable::release_filtered`] with a [`FilterProof`]; a completion of a held command does not remove it.

use alloc::vec::Vec;
use core::hash::{BuildHasher, Hasher};

use hashbrown::HashMap;

use crate::error::{CompleteError, SubmitError};
use crate::hold::{FilterProof, ReleaseProof};
use crate::policy::CommandKind;
use crate::{Completion, PathId};

const NIL: u32 = u32::MAX;

/// A deterministic hasher for the caller's u64 tokens (the splitmix64 finalizer): no randomness inside the
/// engine (STYLE rule 7), good spread for sequential tokens.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TokenHash;

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TokenHasher(u64);

impl BuildHasher for TokenHash {
    type Hasher = TokenHasher;
    fn build_hasher(&self) -> TokenHasher {
        TokenHasher(0)
    }
}

impl Hasher for TokenHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64((self.0 << 8) | b as u64);
        }
    }
    fn write_u64(&mut self, x: u64) {
        let mut z = (self.0 ^ x).wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        self.0 = z ^ (z >> 31);
    }
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    token: u64,
    kind: CommandKind,
    /// NIL for a free slot.
    path: u32,
    prev: u32,
    /// For a free slot: the next free slot.
    next: u32,
}

#[derive(Clone, Copy, Debug)]
struct List {
    head: u32,
    len: usize,
    held: bool,
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

#[derive(Debug)]
pub(crate) struct CommandTable {
    map: HashMap<u64, u32, TokenHash>,
    slots: Vec<Slot>,
    free: u32,
    lists: Vec<List>,
}

impl CommandTable {
    pub(crate) fn with_capacity(commands: usize) -> Self {
        Self {
            map: HashMap::with_capacity_and_hasher(commands, TokenHash),
            slots: Vec::with_capacity(commands),
            free: NIL,
            lists: Vec::new(),
        }
    }

    pub(crate) fn add_path(&mut self) {
        self.lists.push(List { head: NIL, len: 0, held: false });
    }

    pub(crate) fn len(&self, path: PathId) -> usize {
        self.lists.get(path.index()).map_or(0, |l| l.len)
    }

    pub(crate) fn total(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn info(&self, token: u64) -> Option<CommandInfo> {
        let slot = self.slots.get(*self.map.get(&token)? as usize)?;
        let held = self.lists.get(slot.path as usize).is_some_and(|l| l.held);
        Some(CommandInfo { path: PathId(slot.path), kind: slot.kind, held })
    }

    /// Adds an outstanding command on a live path. O(1).
    pub(crate) fn insert(&mut self, path: PathId, token: u64, kind: CommandKind) -> Result<(), SubmitError> {
        let Some(list) = self.lists.get(path.index()) else { return Err(SubmitError::UnknownPath) };
        if list.held {
            return Err(SubmitError::PathNotUsable);
        }
        if self.map.contains_key(&token) {
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
            let Ok(idx) = u32::try_from(self.slots.len()) else { return Err(SubmitError::TableFull) };
            if idx == NIL {
                return Err(SubmitError::TableFull);
            }
            self.slots.push(slot);
            idx
        };
        if head != NIL {
            self.slots[head as usize].prev = idx;
        }
        let list = &mut self.lists[path.index()];
        list.head = idx;
        list.len += 1;
        self.map.insert(token, idx);
        Ok(())
    }

    /// A completion arrived for `token` on `path`. O(1). A held command stays held.
    pub(crate) fn complete(&mut self, path: PathId, token: u64) -> Result<Completion, CompleteError> {
        let Some(&idx) = self.map.get(&token) else { return Err(CompleteError::UnknownCommand) };
        let slot = self.slots[idx as usize];
        if slot.path != path.0 {
            return Err(CompleteError::WrongPath { path: PathId(slot.path) });
        }
        if self.lists[slot.path as usize].held {
            return Ok(Completion::Held);
        }
        self.map.remove(&token);
        self.unlink(idx);
        Ok(Completion::Deliver)
    }

    /// Marks every command of `path` held (fencing started). O(1).
    pub(crate) fn hold(&mut self, path: PathId) {
        if let Some(l) = self.lists.get_mut(path.index()) {
            l.held = true;
        }
    }

    /// Removes every command of `path`, held or not, in exchange for a proof; `out` sees each one. The path's
    /// list is live (empty, not held) afterwards. O(len).
    pub(crate) fn release_all(
        &mut self,
        path: PathId,
        proof: ReleaseProof,
        mut out: impl FnMut(u64, CommandKind),
    ) -> usize {
        let _ = proof;
        let Some(list) = self.lists.get_mut(path.index()) else { return 0 };
        let n = list.len;
        let mut idx = list.head;
        *list = List { head: NIL, len: 0, held: false };
        while idx != NIL {
            let slot = self.slots[idx as usize];
            self.map.remove(&slot.token);
            out(slot.token, slot.kind);
            self.free_slot(idx);
            idx = slot.next;
        }
        n
    }

    /// Removes the commands of `path` that `proof` allows (side-effect-free ones). O(len).
    pub(crate) fn release_filtered(
        &mut self,
        path: PathId,
        proof: &FilterProof,
        mut out: impl FnMut(u64, CommandKind),
    ) -> usize {
        let Some(list) = self.lists.get(path.index()) else { return 0 };
        let mut idx = list.head;
        let mut n = 0;
        while idx != NIL {
            let slot = self.slots[idx as usize];
            if proof.allows(slot.kind) {
                self.map.remove(&slot.token);
                self.unlink(idx);
                out(slot.token, slot.kind);
                n += 1;
            }
            idx = slot.next;
        }
        n
    }

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
        self.free_slot(idx);
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
    use alloc::vec;

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
        let mut out = vec![];
        let filter = FilterProof::new(Policy::CcrFilter { release_admin: false }).unwrap();
        assert_eq!(t.release_filtered(a, &filter, |tok, _| out.push(tok)), 1);
        assert_eq!(out, [2]);
        out.clear();
        assert_eq!(t.release_all(a, ReleaseProof::legacy(Policy::Legacy).unwrap(), |tok, _| out.push(tok)), 2);
        out.sort();
        assert_eq!(out, [1, 3]);
        assert_eq!(t.total(), 0);
        t.insert(a, 5, CommandKind::Write).unwrap();
        assert_eq!(t.complete(a, 5), Ok(Completion::Deliver), "the list is live again after release");
    }

    #[test]
    fn sequential_tokens_spread() {
        let h = |x: u64| {
            let mut s = TokenHash.build_hasher();
            s.write_u64(x);
            s.finish()
        };
        assert_ne!(h(1) >> 57, h(2) >> 57);
        assert_ne!(h(1) & 0xFF, h(2) & 0xFF);
    }
}
