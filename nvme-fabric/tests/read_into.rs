//! Reads into the caller's buffers ([`Host::submit_read_into`]): the data lands in the buffer lent, which comes
//! back as the completion's data; and, measured by a counting allocator (the `allocation-counter` crate installs
//! itself as this test binary's global allocator and counts per thread), the host allocates no read buffer per
//! command in the steady state, where [`Io::Read`] allocates one each time. (Small bookkeeping allocations of the
//! host's and the recovery engine's tables remain, about 350 bytes per command; bounded, not zero.)

mod common;

use std::sync::Arc;

use allocation_counter::{measure, opt_out};
use common::{HOSTID, HOSTNQN, NQN};
use nvme_ccr::{Config, Policy};
use nvme_fabric::conn::{ConnEvent, ConnId};
use nvme_fabric::controller::{MediaRequest, SubsystemConfig};
use nvme_fabric::host::{HostConfig, Io, IoCompletion, IoId};
use nvme_fabric::loopback::Loopback;

/// Bytes per read: 64 blocks of 512.
const READ: usize = 32 * 1024;

/// One path, live, with the first `READ * 4` bytes of the namespace written with a pattern.
fn pair() -> Loopback {
    let mut s = SubsystemConfig::new(NQN);
    s.namespace.blocks = 4096;
    let h = HostConfig::new(NQN, HOSTNQN, HOSTID, Config::new(Policy::Ccr));
    let mut l = Loopback::new(s, h, 1).unwrap();
    l.start().unwrap();
    assert_eq!(l.live_paths(), 1);
    let data: Arc<[u8]> = (0..READ * 4).map(|i| (i / 512) as u8 ^ (i % 251) as u8).collect();
    l.host.submit(l.now, Io::Write { slba: 0, data }).unwrap();
    l.pump().unwrap();
    assert!(l.done.drain(..).all(|c| c.result.is_ok()));
    l
}

/// Moves bytes both ways until nothing moves, counting only what the host does: the subsystem's and the media's
/// work runs with the counter off. Completions go to `done`.
/// The first media request is parked for good (`parked`): its read stays outstanding, so the host's tables never
/// empty, as in a closed loop.
fn pump_host_only(l: &mut Loopback, buf: &mut [u8], done: &mut Vec<IoCompletion>, parked: &mut Option<MediaRequest>) {
    let now = l.now;
    loop {
        let mut progress = false;
        while let Some(ev) = l.host.poll_conn_event() {
            progress = true;
            let ConnEvent::Transmit(h) = ev else { panic!("{ev:?}") };
            loop {
                let n = l.host.poll_transmit(now, h, buf).unwrap();
                if n == 0 {
                    break;
                }
                let s = l.h2s[&h];
                opt_out(|| assert_eq!(l.sub.handle_input(now, s, &buf[..n]), n));
            }
        }
        // The subsystem's output, gathered with the counter off.
        let mut out: Vec<(ConnId, Vec<u8>)> = Vec::new();
        opt_out(|| {
            let mut sbuf = vec![0u8; l.sub.config().transmit_buffer_len()];
            loop {
                let mut moved = false;
                while let Some(req) = l.sub.poll_media() {
                    moved = true;
                    if parked.is_none() {
                        *parked = Some(req);
                    } else {
                        l.run_media(req);
                    }
                }
                while let Some(ev) = l.sub.poll_conn_event() {
                    moved = true;
                    let ConnEvent::Transmit(s) = ev else { panic!("{ev:?}") };
                    loop {
                        let n = l.sub.poll_transmit(now, s, &mut sbuf).unwrap();
                        if n == 0 {
                            break;
                        }
                        out.push((l.s2h[&s], sbuf[..n].to_vec()));
                    }
                }
                while l.sub.poll_event().is_some() {}
                if !moved {
                    break;
                }
            }
        });
        for (h, bytes) in &out {
            progress = true;
            assert_eq!(l.host.handle_input(now, *h, bytes), bytes.len());
        }
        opt_out(|| drop(out));
        while let Some(c) = l.host.poll_completion() {
            progress = true;
            done.push(c);
        }
        while l.host.poll_event().is_some() {}
        if !progress {
            return;
        }
    }
}

/// Runs `rounds` rounds of `depth` reads of [`READ`] bytes, each buffer lent again after its completion when
/// `lend`; returns the host's allocations (bytes) over the rounds after the first.
fn steady_state_bytes(lend: bool, rounds: usize, depth: usize) -> u64 {
    let mut l = pair();
    let mut buf = vec![0u8; l.host.config().transmit_buffer_len()];
    let mut done = Vec::with_capacity(depth);
    let mut free: Vec<Vec<u8>> = (0..depth).map(|_| Vec::with_capacity(READ)).collect();
    let mut parked = None;
    // One read that never completes (its media request parked).
    l.host.submit(l.now, Io::Read { slba: 0, blocks: 1 }).unwrap();
    pump_host_only(&mut l, &mut buf, &mut done, &mut parked);
    assert!(parked.is_some() && done.is_empty());
    let mut round = |l: &mut Loopback, free: &mut Vec<Vec<u8>>, done: &mut Vec<IoCompletion>| {
        for k in 0..depth {
            let slba = (k % 4 * READ / 512) as u64;
            let id: IoId = if lend {
                let b = free.pop().unwrap();
                l.host.submit_read_into(l.now, slba, (READ / 512) as u32, b).unwrap()
            } else {
                l.host.submit(l.now, Io::Read { slba, blocks: (READ / 512) as u32 }).unwrap()
            };
            let _ = id;
        }
        pump_host_only(l, &mut buf, done, &mut parked);
        assert_eq!(done.len(), depth);
        for c in done.drain(..) {
            let d = c.result.unwrap();
            assert_eq!(d.data.len(), READ);
            if lend {
                free.push(d.data);
            } else {
                opt_out(|| drop(d));
            }
        }
    };
    // Warm up: the host's tables reach their working size.
    round(&mut l, &mut free, &mut done);
    let info = measure(|| {
        for _ in 0..rounds {
            round(&mut l, &mut free, &mut done);
        }
    });
    info.bytes_total
}

#[test]
fn read_into_fills_the_callers_buffer_and_gives_it_back() {
    let mut l = pair();
    let buf = vec![0xEEu8; 7].into_iter().chain(std::iter::repeat_n(0, READ * 2 - 7)).collect::<Vec<u8>>();
    let ptr = buf.as_ptr();
    let id = l.host.submit_read_into(l.now, 64, (READ / 512) as u32, buf).unwrap();
    l.pump().unwrap();
    let c = l.done.pop().unwrap();
    assert_eq!(c.id, id);
    let data = c.result.unwrap().data;
    assert_eq!(data.len(), READ, "resized to the transfer");
    assert_eq!(data.as_ptr(), ptr, "the same buffer, not a copy");
    let want: Vec<u8> = (READ..READ * 2).map(|i| (i / 512) as u8 ^ (i % 251) as u8).collect();
    assert_eq!(data, want);
}

#[test]
fn read_into_a_short_buffer_grows_it_and_reads_the_whole_transfer() {
    let mut l = pair();
    l.host.submit_read_into(l.now, 0, 2, Vec::new()).unwrap();
    l.pump().unwrap();
    let data = l.done.pop().unwrap().result.unwrap().data;
    let want: Vec<u8> = (0..1024).map(|i| (i / 512) as u8 ^ (i % 251) as u8).collect();
    assert_eq!(data, want);
}

#[test]
fn a_refused_read_into_gives_the_buffer_back() {
    let s = SubsystemConfig::new(NQN);
    let mut h = HostConfig::new(NQN, HOSTNQN, HOSTID, Config::new(Policy::Ccr));
    h.max_outstanding = 1;
    let mut l = Loopback::new(s, h, 1).unwrap();
    l.host.submit(l.now, Io::Flush).unwrap();
    let (e, back) = l.host.submit_read_into(l.now, 0, 1, vec![9; 512]).unwrap_err();
    assert_eq!(e, nvme_fabric::host::SubmitError::Busy);
    assert_eq!(back, vec![9; 512]);
}

#[test]
fn lent_read_buffers_are_not_allocated_per_command() {
    let (rounds, depth) = (16, 8);
    let lent = steady_state_bytes(true, rounds, depth);
    let own = steady_state_bytes(false, rounds, depth);
    // The host's own buffers: one per read (the counter sees them, so it would see ours).
    assert!(own >= (rounds * depth * READ) as u64, "Io::Read allocated {own} bytes");
    // Lent buffers: no buffer per read. What is left is the bookkeeping of `submit` (one or two small allocations
    // of the host's and the recovery engine's tables per command, about 350 bytes, measured 2026-12), bounded here
    // by 1/64 of a read each.
    let per_read = lent / (rounds * depth) as u64;
    assert!(per_read <= (READ / 64) as u64, "reads into lent buffers allocated {lent} bytes, {per_read} per read");
}
