//! `nvme-lab check`: the exhaustive model check of nvme-check for one policy or all of them, with a progress line on
//! stderr (when it is a terminal), each run's sizes, time and verdicts, and a counterexample's numbered trace.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use nvme_ccr::Policy;
use nvme_check::{Report, Setup, summarize};

/// Whether `policy` must produce a counterexample: `legacy` always retries at once, and `cqt` trusts the promise a
/// noncompliant target breaks. Every other combination must hold.
pub fn must_corrupt(policy: Policy, noncompliant: bool) -> bool {
    matches!(policy, Policy::Legacy) || (noncompliant && matches!(policy, Policy::Cqt))
}

/// Checks each setup in turn; returns the text to print and whether an outcome differed from what its policy must
/// give (a safe policy violated, or `legacy` without a counterexample).
pub fn check(setups: &[Setup], threads: usize) -> (String, bool) {
    let started = Instant::now();
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
    if std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template("{elapsed_precise} {spinner} {msg}") {
            bar.set_style(style);
        }
    }
    let mut text = String::new();
    let mut failed = Vec::new();
    for setup in setups {
        let name = setup.policy.name();
        let r: Report = nvme_check::run(*setup, threads, |states, unique, t| {
            bar.set_message(format!(
                "policy {name}: {states} states explored, {unique} unique, {:.0} s",
                t.as_secs_f64()
            ));
            bar.tick();
        });
        text.push_str(&summarize(&r));
        let expected = must_corrupt(setup.policy, setup.noncompliant);
        let outcome = if r.violated() == expected {
            if expected { "as expected: this policy corrupts" } else { "as expected: safe" }
        } else {
            failed.push(name);
            if expected { "UNEXPECTED: no counterexample for a policy that corrupts" } else { "UNEXPECTED: violated" }
        };
        let _ = writeln!(text, "  verdict: {outcome}\n");
    }
    bar.finish_and_clear();
    let wall: Duration = started.elapsed();
    let _ = if failed.is_empty() {
        writeln!(text, "{} check(s) in {:.1} s: every verdict as expected", setups.len(), wall.as_secs_f64())
    } else {
        writeln!(
            text,
            "{} check(s) in {:.1} s: UNEXPECTED verdict for {}",
            setups.len(),
            wall.as_secs_f64(),
            failed.join(", ")
        )
    };
    (text, !failed.is_empty())
}
