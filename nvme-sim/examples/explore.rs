//! Run random scenarios for every policy and count corruptions:
//! `cargo run --release -p nvme-sim --example explore -- 1000 [noncompliant]`.

use nvme_sim::{Policy, Scenario, run};

fn main() {
    let n: u64 = std::env::args().nth(1).and_then(|v| v.parse().ok()).unwrap_or(200);
    let noncompliant = std::env::args().nth(2).is_some_and(|v| v == "noncompliant");
    for policy in Policy::ALL {
        let t = std::time::Instant::now();
        let mut bad = Vec::new();
        let mut events = 0;
        for seed in 0..n {
            let s = Scenario::random(seed, policy, noncompliant);
            let r = run(&s);
            events += r.events;
            if r.corrupted {
                bad.push((seed, r.violations.first().cloned().unwrap_or_default()));
            }
        }
        let wall = t.elapsed();
        println!(
            "{:<10} {} seeds: {} corrupted, {:.1} scenarios/s, {:.0} events/scenario",
            policy.name(),
            n,
            bad.len(),
            n as f64 / wall.as_secs_f64(),
            events as f64 / n as f64
        );
        for (seed, v) in bad.iter().take(5) {
            println!("    seed {seed}: {v}");
        }
    }
}
