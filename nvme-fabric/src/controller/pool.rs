//! The data buffers of one controller connection, reused: a read's media buffer comes back once its C2HData PDUs
//! are encoded, a write's (R2T or in-capsule) once the media took its data, and the next command of the connection
//! takes it again, so that a connection in its steady state allocates no data buffer per command.
//!
//! Bound (per connection): at most queue depth (SQSIZE + 1, from the Connect) idle buffers, each of capacity at most
//! the largest transfer (4 KiB × 2^MDTS, or the queue's in-capsule limit when larger), and at most
//! [`SubsystemConfig::output_limit`](super::SubsystemConfig::output_limit) bytes of idle capacity in all. A buffer
//! beyond that is freed. Before the Connect the pool keeps nothing.
//!
//! A buffer taken from the pool holds the data of an earlier command of the same connection until it is
//! overwritten: a read's buffer is filled by the runtime (a successful media read fills it all), an R2T write's by
//! the H2CData PDUs (a transfer completes only when every byte came), an in-capsule write's by its capsule.

use alloc::vec::Vec;

/// A bounded pool of data buffers. Its contents never change what the controller does, only what it allocates:
/// two pools compare equal and hash alike (a model checker's visited set sees no difference).
#[derive(Clone, Debug, Default)]
pub(crate) struct BufPool {
    free: Vec<Vec<u8>>,
    /// Idle buffers kept at most.
    max_buffers: usize,
    /// Capacity of one buffer kept at most.
    max_len: usize,
    /// Idle capacity kept at most, in all.
    max_bytes: usize,
    /// Idle capacity now.
    bytes: usize,
}

impl PartialEq for BufPool {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for BufPool {}

impl core::hash::Hash for BufPool {
    fn hash<H: core::hash::Hasher>(&self, _: &mut H) {}
}

impl BufPool {
    /// Sets the bound (the Connect fixed the queue depth): `buffers` idle buffers of capacity at most `len` each,
    /// `bytes` in all. Buffers beyond the new bound are freed.
    pub(crate) fn set_bound(&mut self, buffers: usize, len: usize, bytes: usize) {
        self.max_buffers = buffers;
        self.max_len = len;
        self.max_bytes = bytes;
        while self.free.len() > buffers || self.bytes > bytes {
            match self.free.pop() {
                Some(b) => self.bytes -= b.capacity(),
                None => break,
            }
        }
        self.free.shrink_to(buffers);
    }

    /// A buffer of `len` bytes: an idle one (its first bytes are an earlier command's data; bytes beyond its old
    /// length are zero), or a new zeroed one.
    pub(crate) fn take(&mut self, len: usize) -> Vec<u8> {
        match self.free.pop() {
            Some(mut b) => {
                self.bytes -= b.capacity();
                b.resize(len, 0);
                b
            }
            None => alloc::vec![0; len],
        }
    }

    /// Gives `buf` back: kept while the bound allows, else freed.
    pub(crate) fn put(&mut self, buf: Vec<u8>) {
        let cap = buf.capacity();
        if cap == 0 || cap > self.max_len || self.free.len() >= self.max_buffers || self.bytes + cap > self.max_bytes {
            return;
        }
        if self.free.capacity() == 0 {
            self.free.reserve_exact(self.max_buffers);
        }
        self.bytes += cap;
        self.free.push(buf);
    }

    /// Idle buffers held, and their capacity.
    #[cfg(test)]
    pub(crate) fn idle(&self) -> (usize, usize) {
        (self.free.len(), self.bytes)
    }

    /// Capacity of the idle buffers, bytes.
    pub(crate) fn idle_bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_reused_within_the_bound() {
        let mut p = BufPool::default();
        // Before the bound is set (no Connect yet) nothing is kept.
        p.put(alloc::vec![1; 16]);
        assert_eq!(p.idle(), (0, 0));
        p.set_bound(2, 64, 100);
        let a = p.take(32);
        assert_eq!(a, [0; 32]);
        let ptr = a.as_ptr();
        p.put(a);
        assert_eq!(p.idle(), (1, 32));
        // The same allocation comes back, resized.
        let b = p.take(16);
        assert_eq!((b.as_ptr(), b.len()), (ptr, 16));
        p.put(b);
        // Too large a buffer, too many, or too many bytes: freed.
        p.put(alloc::vec![0; 65]);
        assert_eq!(p.idle(), (1, 32));
        p.put(alloc::vec![0; 64]);
        assert_eq!(p.idle(), (2, 96));
        p.put(alloc::vec![0; 4]);
        assert_eq!(p.idle(), (2, 96));
        // A tighter bound frees what is beyond it.
        p.set_bound(1, 64, 100);
        assert_eq!(p.idle().0, 1);
        assert_eq!(p, BufPool::default(), "contents never count");
    }

    #[test]
    fn growing_a_reused_buffer_zeroes_only_the_new_bytes() {
        let mut p = BufPool::default();
        p.set_bound(1, 64, 64);
        let mut a = p.take(8);
        a.fill(7);
        p.put(a);
        let b = p.take(12);
        assert_eq!(b, [7, 7, 7, 7, 7, 7, 7, 7, 0, 0, 0, 0]);
    }
}
