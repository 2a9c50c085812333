//! Run one scenario and print its timeline: `cargo run -p nvme-sim --example scenario -- ccr rw_test fopcode 2`.

use nvme_sim::{Policy, Scenario, run};

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let get = |i: usize, d: &str| a.get(i).cloned().unwrap_or_else(|| d.to_string());
    let policy = match get(0, "ccr").parse::<Policy>() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let mut s = Scenario::new(
        policy,
        get(1, "rw_test").parse().unwrap_or_else(|e| panic!("{e}")),
        get(2, "fopcode").parse().unwrap_or_else(|e| panic!("{e}")),
    );
    s.iterations = a.get(3).and_then(|v| v.parse().ok());
    let t = std::time::Instant::now();
    let r = run(&s);
    let wall = t.elapsed();
    for e in &r.timeline {
        println!(
            "{:>10.3} s  {:<4} {}",
            e.at.as_secs_f64(),
            e.path.map(|p| p.to_string()).unwrap_or_default(),
            e.what()
        );
    }
    for l in r.rw_test_output.iter().take(12) {
        println!("  | {l}");
    }
    println!(
        "corrupted {} completed {} max {:?} p99 {:?} detect {:?} release {:?} events {} sim {:?} wall {:?}",
        r.corrupted,
        r.commands_completed,
        r.max_latency,
        r.p99_latency,
        r.detect,
        r.release,
        r.events,
        r.sim_time,
        wall
    );
}
