//! Zero heap allocations per engine input in the steady state, counted by a global allocator.
//!
//! The counting allocator comes from the `allocation-counter` crate (a dev-dependency): it installs itself as the
//! global allocator of this test binary and counts per thread, so this file needs no `unsafe`. `the_counter_counts`
//! proves the allocator is active, so a zero below cannot pass vacuously.
//!
//! "Steady state": the engine has already held as many commands, sent as many CCRs and queued as many outputs as the
//! measured work needs (its table and queues keep their capacity), as a driver's engine has after its first
//! failover. The measured closure runs every input and poll of a whole failover cycle, and submit + complete with
//! many commands outstanding.

mod common;

use std::hint::black_box;

use allocation_counter::measure;
use common::{facts, ms};
use nvme_ccr::{CommandKind, Completion, Config, Engine, FailureReason, PathId, Policy};
use nvme_proto::cmd::Status;

const N: u64 = 10_000;

/// Submits `N` writes on path 0 (tokens from `base`), fails it, lets a CCR through path 1 succeed, releases and
/// retries every held command on path 1, completes them there, and reconnects path 0. Every output is drained.
fn failover_cycle(e: &mut Engine, base: u64, t0: u64) {
    let (p0, p1) = (PathId(0), PathId(1));
    for token in base..base + N {
        e.handle_submit(ms(t0), p0, token, CommandKind::Write).expect("submitted");
    }
    // A few complete normally first.
    for token in base..base + 10 {
        assert_eq!(e.handle_complete(ms(t0), p0, token), Ok(Completion::Deliver));
    }
    e.handle_controller_failed(ms(t0 + 1), p0, FailureReason::TransportError).expect("known path");
    let ccr = e.poll_ccr().expect("a CCR through path 1");
    e.handle_ccr_completion(ms(t0 + 2), ccr.id, Status::SUCCESS, 1).expect("in flight");
    let mut released = 0;
    while let Some(r) = e.poll_release() {
        e.handle_submit(ms(t0 + 3), p1, r.token, r.kind).expect("retried");
        released += 1;
    }
    assert_eq!(released, N - 10);
    for token in base + 10..base + N {
        assert_eq!(e.handle_complete(ms(t0 + 4), p1, token), Ok(Completion::Deliver));
    }
    while let Some(a) = e.poll_path_action() {
        black_box(a);
    }
    e.handle_connecting(ms(t0 + 5), p0).expect("resetting");
    e.handle_reconnected(ms(t0 + 6), p0, facts(1)).expect("fenced, now live");
    e.handle_timeout(ms(t0 + 7));
    black_box(e.poll_timeout());
    while let Some(ev) = e.poll_event() {
        black_box(ev);
    }
    while let Some(r) = e.poll_log_read() {
        black_box(r);
    }
}

fn engine() -> Engine {
    let mut e = Engine::with_capacity(Config::new(Policy::Ccr), N as usize);
    e.add_controller(ms(0), facts(1)).expect("path 0");
    e.add_controller(ms(0), facts(2)).expect("path 1");
    e
}

#[test]
fn the_counter_counts() {
    let n = measure(|| {
        black_box(vec![0u8; 64]);
    });
    assert!(n.count_total >= 1);
}

#[test]
fn a_failover_cycle_allocates_nothing_in_the_steady_state() {
    let mut e = engine();
    failover_cycle(&mut e, 0, 0);
    // The same cycle again, with other tokens, later: nothing allocated.
    let n = measure(|| failover_cycle(&mut e, 1_000_000, 100_000));
    assert_eq!(n.count_total, 0, "{n:?}");
}

#[test]
fn submit_and_complete_allocate_nothing_with_many_outstanding() {
    let mut e = engine();
    for token in 0..N {
        e.handle_submit(ms(0), PathId(0), token, CommandKind::Write).expect("submitted");
    }
    // Tokens from a counter, and spread ones (each in an index page of its own). The first round reaches the
    // steady state (the index takes the pages the pattern needs); the second must allocate nothing.
    let mut spread = 0x9E37_79B9_7F4A_7C15u64;
    let mut round = |e: &mut Engine, from: u64| {
        for token in from..from + 100_000 {
            e.handle_submit(ms(1), PathId(1), token, CommandKind::Read).expect("submitted");
            assert_eq!(e.handle_complete(ms(1), PathId(1), token), Ok(Completion::Deliver));
            spread = spread.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let token = spread | (1 << 63);
            e.handle_submit(ms(1), PathId(1), token, CommandKind::Read).expect("submitted");
            assert_eq!(e.handle_complete(ms(1), PathId(1), token), Ok(Completion::Deliver));
        }
    };
    round(&mut e, N);
    let n = measure(|| round(&mut e, N + 100_000));
    assert_eq!(n.count_total, 0, "{n:?}");
}
