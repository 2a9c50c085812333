//! `nvme-ccr` host engine benchmarks (BENCHMARKS.md):
//!
//! * `engine_submit_complete`: one command submitted and completed on a live path, with 0, 1k and 100k other
//!   commands outstanding (the per-command cost every I/O pays);
//! * `engine_fence_release`: a path with 1k, 100k and 1M outstanding writes fails, a CCR through the other path
//!   succeeds (IRS = 1), and every held command is released and polled. Throughput is per command: the goal is a
//!   flat cost per command across the three sizes.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use nvme_ccr::{
    Ccrl, CommandKind, Completion, Config, ControllerFacts, Cqt, Engine, FailureReason, Instant, PathId, Policy,
};
use nvme_proto::cmd::Status;

fn facts(cntlid: u16) -> ControllerFacts {
    ControllerFacts {
        cntlid,
        ciu: 1,
        cirn: u64::from(cntlid),
        cqt: Cqt::from_raw(1),
        ccrl: Ccrl::from_raw(4),
        kato: Duration::from_secs(5),
        tbkas: true,
    }
}

/// An engine with two live paths and `n` writes outstanding on path 0 (tokens 0..n).
fn engine_with(n: u64) -> Engine {
    let mut e = Engine::with_capacity(Config::new(Policy::Ccr), n as usize + 1);
    let t = Instant::ZERO;
    let p0 = e.add_controller(t, facts(1)).expect("path 0");
    e.add_controller(t, facts(2)).expect("path 1");
    for token in 0..n {
        e.handle_submit(t, p0, token, CommandKind::Write).expect("submitted");
    }
    e
}

fn submit_complete(c: &mut Criterion) {
    let mut g = c.benchmark_group("engine_submit_complete");
    g.throughput(Throughput::Elements(1));
    for background in [0u64, 1_000, 100_000] {
        let mut e = engine_with(background);
        let (t, p1) = (Instant::from_millis(1), PathId(1));
        let mut token = background;
        g.bench_function(BenchmarkId::from_parameter(background), |b| {
            b.iter(|| {
                token += 1;
                e.handle_submit(t, p1, black_box(token), CommandKind::Write).expect("submitted");
                assert_eq!(e.handle_complete(t, p1, token), Ok(Completion::Deliver));
            })
        });
    }
    g.finish();
}

fn fence_release(c: &mut Criterion) {
    let mut g = c.benchmark_group("engine_fence_release");
    g.sampling_mode(SamplingMode::Flat).sample_size(10);
    for n in [1_000u64, 100_000, 1_000_000] {
        g.throughput(Throughput::Elements(n));
        g.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter_batched(
                || engine_with(n),
                |mut e| {
                    let t = Instant::from_millis(1);
                    e.handle_controller_failed(t, PathId(0), FailureReason::TransportError).expect("known path");
                    let ccr = e.poll_ccr().expect("a CCR through path 1");
                    e.handle_ccr_completion(t, ccr.id, Status::SUCCESS, 1).expect("in flight");
                    let mut released = 0u64;
                    while let Some(r) = e.poll_release() {
                        black_box(r);
                        released += 1;
                    }
                    assert_eq!(released, n);
                    e
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

criterion_group! {
    name = engine;
    config = Criterion::default().measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_secs(1));
    targets = submit_complete, fence_release
}
criterion_main!(engine);
