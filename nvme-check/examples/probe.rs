//! Runs one check and prints its report:
//! `cargo run -p nvme-check --example probe -- POLICY compliant|noncompliant FAULTS WRITES DEPTH PATHS [KATO] [lag]`.
use nvme_check::{Setup, run, summarize};

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let policy = a.get(1).map_or("legacy", String::as_str).parse().expect("policy");
    let mut s = Setup::ci(policy, a.get(2).is_some_and(|v| v == "noncompliant"));
    let num = |i: usize, d: usize| a.get(i).map_or(d, |v| v.parse().unwrap());
    s.faults = num(3, s.faults);
    s.writes = num(4, s.writes);
    s.depth = num(5, s.depth);
    s.paths = num(6, s.paths);
    s.kato = num(7, 0) as u64;
    s.lag = a.get(8).is_some_and(|v| v == "lag");
    let r = run(s, 2, |n, u, t| eprint!("\r{n} states, {u} unique, {:.0} s", t.as_secs_f64()));
    eprintln!();
    print!("{}", summarize(&r));
}
