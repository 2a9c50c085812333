//! `nvme-sim` benchmark (BENCHMARKS.md): the wall time of one simulated `rw_test` per policy, the seed scenario of
//! ccr-cqt.md §11 (two paths, `fopcode` Write with a 2000 ms delay on controller 1, KATO 5 s, TBKAS, CQT 1 ms) and
//! the Linux test's rw_test program's 255 iterations (about 34 virtual minutes; `legacy` stops at its first failed validation, as
//! the Linux test's rw_test program does), every PDU encoded and decoded with digests by nvme-proto.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, SamplingMode, criterion_group, criterion_main};
use nvme_sim::{FaultKind, Policy, Scenario, WorkloadKind, run};

fn rw_test(c: &mut Criterion) {
    let mut g = c.benchmark_group("sim_rw_test");
    g.sampling_mode(SamplingMode::Flat).sample_size(10);
    for policy in Policy::ALL {
        let s = Scenario::new(policy, WorkloadKind::RwTest, FaultKind::Fopcode);
        g.bench_function(BenchmarkId::from_parameter(policy.name()), |b| b.iter(|| black_box(run(&s))));
    }
    g.finish();
}

criterion_group! {
    name = sim;
    config = Criterion::default().measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_secs(1));
    targets = rw_test
}
criterion_main!(sim);
