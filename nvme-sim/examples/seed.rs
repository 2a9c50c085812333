//! Print the timeline of one random scenario: `cargo run -p nvme-sim --example seed -- SEED POLICY [noncompliant]`.

use nvme_sim::{Policy, Scenario, run};

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let seed: u64 = a.first().and_then(|v| v.parse().ok()).unwrap_or(0);
    let policy = a.get(1).map_or("ccr", |s| s.as_str()).parse::<Policy>().unwrap_or_else(|e| panic!("{e}"));
    let s = Scenario::random(seed, policy, a.get(2).is_some_and(|v| v == "noncompliant"));
    println!("{s:?}");
    let r = run(&s);
    for e in &r.timeline {
        println!(
            "{:>10.3} s  {:<4} {}",
            e.at.as_secs_f64(),
            e.path.map(|p| p.to_string()).unwrap_or_default(),
            e.what()
        );
    }
    println!("corrupted {} detect {:?} release {:?} max {:?}", r.corrupted, r.detect, r.release, r.max_latency);
}
