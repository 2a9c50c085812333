//! ccr-check against our target: every check passes; with `no-ccr` (set at start, then cleared at run time) the
//! verdict is "not supported", cleanly, then a pass; with `fail-ccr` the log entry check fails. nvme-lab's tests run
//! the same through its `ccr-check` command.

mod common;

use std::time::Duration;

use nvme_tokio::ccr_check::{self, CcrCheckConfig, Outcome, Verdict};

fn config(name: &str, addr: std::net::SocketAddr) -> CcrCheckConfig {
    CcrCheckConfig { addrs: vec![addr], host: common::host(name, 2000), wait: Duration::from_secs(5) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_against_our_target() {
    let name = "ccr-check-pass";
    let mut cfg = common::target_config(name);
    cfg.cqt_ms = 1;
    let target = common::start(cfg).await;
    let report = ccr_check::run(&config(name, target.local_addr())).await;
    let text: Vec<String> = report.checks.iter().map(ToString::to_string).collect();
    assert_eq!(report.verdict, Verdict::Pass, "{text:#?}");
    for name in [
        "identify fields",
        "wrong CIRN refused",
        "CCR naming its own source refused",
        "CCR accepted",
        "impacted controller torn down",
        "CCR Completed notice on the source",
        "log entry",
        "RMC removed the completed entry",
        "instance renewed after reconnect",
        "stale CCR (old instance) refused",
        "new instance untouched by the stale CCR",
    ] {
        let c = report.checks.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("no check {name}: {text:#?}"));
        assert_eq!(c.outcome, Outcome::Pass, "{c}");
    }
    // Refusals carry Invalid Field in Command + DNR (our CCR_NOT_FOUND).
    let refused = report.checks.iter().find(|c| c.name == "wrong CIRN refused").unwrap();
    assert!(refused.detail.contains("0x8004"), "{refused}");
    target.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_not_supported_when_ccr_is_disabled() {
    let name = "ccr-check-no-ccr";
    let mut cfg = common::target_config(name);
    cfg.no_ccr = true;
    let target = common::start(cfg).await;
    let report = ccr_check::run(&config(name, target.local_addr())).await;
    let text: Vec<String> = report.checks.iter().map(ToString::to_string).collect();
    assert_eq!(report.verdict, Verdict::NotSupported, "{text:#?}");
    let count = |o: Outcome| report.checks.iter().filter(|c| c.outcome == o).count();
    assert_eq!((count(Outcome::Pass), count(Outcome::Fail)), (2, 0), "{text:#?}");
    assert!(text.iter().any(|t| t.contains("answered with Invalid Command Opcode, status 0x8002")), "{text:#?}");

    // The same switch flipped off at run time: CCR works again.
    assert_eq!(target.apply_line("no-ccr off"), Ok("no-ccr off".to_string()));
    let report = ccr_check::run(&config(name, target.local_addr())).await;
    assert_eq!(report.verdict, Verdict::Pass, "{:#?}", report.checks);
    target.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_ccr_makes_the_log_entry_check_fail() {
    let name = "ccr-check-fail-ccr";
    let target = common::start(common::target_config(name)).await;
    assert_eq!(target.apply_line("fail-ccr on"), Ok("fail-ccr on".to_string()));
    let report = ccr_check::run(&config(name, target.local_addr())).await;
    assert_eq!(report.verdict, Verdict::Fail);
    let entry = report.checks.iter().find(|c| c.name == "log entry").unwrap();
    assert_eq!(entry.outcome, Outcome::Fail);
    assert!(entry.detail.contains("CCRS 2"), "{entry}");
    target.shutdown();
}
