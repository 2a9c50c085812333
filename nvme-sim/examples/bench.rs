//! Wall-time figures for BENCHMARKS.md: `cargo run --release -p nvme-sim --example bench -- [random-seeds]`.
//!
//! One full rw_test (255 iterations, about 34 virtual minutes) per policy, with the default fault (fopcode 1 2000)
//! and without a fault, best of 5; then random scenarios per second on one thread.

use std::time::{Duration, Instant};

use nvme_sim::{FaultKind, Policy, Scenario, WorkloadKind, run};

fn best_of(n: usize, f: impl Fn() -> nvme_sim::Report) -> (Duration, nvme_sim::Report) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..n {
        let t = Instant::now();
        let r = f();
        best = best.min(t.elapsed());
        last = Some(r);
    }
    (best, last.unwrap_or_default())
}

fn main() {
    let seeds: u64 = std::env::args().nth(1).and_then(|v| v.parse().ok()).unwrap_or(1000);
    println!("| policy | fault | virtual time | commands | events | wall (best of 5) |");
    println!("|---|---|---|---|---|---|");
    for policy in Policy::ALL {
        for fault in [FaultKind::Fopcode, FaultKind::None] {
            let s = Scenario::new(policy, WorkloadKind::RwTest, fault);
            let (wall, r) = best_of(5, || run(&s));
            println!(
                "| {} | {} | {:.1} s | {} | {} | {:.2} ms |",
                policy.name(),
                fault,
                r.sim_time.as_secs_f64(),
                r.commands_completed,
                r.events,
                wall.as_secs_f64() * 1e3
            );
        }
    }
    println!();
    println!("| policy | random scenarios | wall | scenarios/s (1 thread) | mean virtual time |");
    println!("|---|---|---|---|---|");
    for policy in Policy::ALL {
        let t = Instant::now();
        let mut virt = 0.0;
        for seed in 0..seeds {
            virt += run(&Scenario::random(seed, policy, false)).sim_time.as_secs_f64();
        }
        let wall = t.elapsed().as_secs_f64();
        println!(
            "| {} | {seeds} | {wall:.2} s | {:.0} | {:.1} s |",
            policy.name(),
            seeds as f64 / wall,
            virt / seeds as f64
        );
    }
}
