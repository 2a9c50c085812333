//! `nvme-lab check` runs as a program: legacy's counterexample is printed, a safe policy holds, sizes are taken.

#[allow(dead_code, reason = "each test file uses a part of the shared module")]
mod common;

use std::process::Output;

use common::lab;

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[test]
fn legacy_prints_a_numbered_counterexample_and_succeeds() {
    let o = lab(&["check", "--policy", "legacy", "--faults", "2", "--threads", "1"]);
    let text = stdout(&o);
    assert!(o.status.success(), "{text}");
    assert!(text.contains("policy legacy: paths 2, writes 2, depth 1, faults 2:"), "{text}");
    assert!(text.contains("states explored") && text.contains("unique"), "{text}");
    assert!(text.contains("no stale data: VIOLATED"), "{text}");
    assert!(text.contains("counterexample to \"no stale data\""), "{text}");
    assert!(text.contains("    1. [") && text.contains("FAULT: fopcode") && text.contains("stale write"), "{text}");
    assert!(text.contains("as expected: this policy corrupts"), "{text}");
}

#[test]
fn ccr_holds_with_the_sizes_given() {
    let o = lab(&["check", "--policy", "ccr", "--faults", "1", "--writes", "1", "--paths", "3", "--threads", "1"]);
    let text = stdout(&o);
    assert!(o.status.success(), "{text}");
    assert!(text.contains("policy ccr: paths 3, writes 1, depth 1, faults 1:"), "{text}");
    assert!(text.contains(", complete"), "{text}");
    assert!(text.contains("no stale data: holds") && text.contains("engine invariants: holds"), "{text}");
    assert!(!text.contains("counterexample"), "{text}");
    assert!(text.contains("1 check(s) in") && text.contains("every verdict as expected"), "{text}");
}

#[test]
fn bad_sizes_are_refused() {
    let o = lab(&["check", "--paths", "4"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn keep_alive_and_reconnect_are_options() {
    let o = lab(&[
        "check",
        "--policy",
        "cqt",
        "--writes",
        "1",
        "--faults",
        "0",
        "--kato",
        "1",
        "--reconnect",
        "--threads",
        "1",
    ]);
    let text = stdout(&o);
    assert!(o.status.success(), "{text}");
    assert!(text.contains("policy cqt: paths 2, writes 1, depth 1, faults 0, KATO 1 s, reconnect:"), "{text}");
    assert!(text.contains(", complete") && text.contains("every verdict as expected"), "{text}");
    let o = lab(&["check", "--kato", "6"]);
    assert_eq!(o.status.code(), Some(2));
}
