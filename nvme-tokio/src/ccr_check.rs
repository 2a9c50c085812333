//! A conformance probe of a target's Cross-Controller Reset support: Identify fields, a CCR through a second live
//! controller, the impacted controller's teardown, the CCR Completed notice, the log page with RMC, CIU/CIRN
//! renewed after a reconnect, stale and self-naming CCRs refused. A target that answers CCR with Invalid Command
//! Opcode gets the verdict "not supported".

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use nvme_proto::cmd::{
    AsyncEvent, CcrLogPage, CcrResult, Ccrs, CrossControllerReset, GetLogPage, IdentifyController, OAES_CCRCN, Status,
    StatusCode,
};

use crate::host::{Controller, DataOut, Events, HostConfig, HostError, HostEvent};

/// The outcome of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// As required.
    Pass,
    /// Not as required.
    Fail,
    /// Reported, not judged.
    Info,
    /// Not run: it depends on an earlier check that failed (the detail names it), so its result would be a
    /// knock-on of that failure, not a finding.
    Skipped,
}

/// One line of the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// The outcome.
    pub outcome: Outcome,
    /// Short name.
    pub name: &'static str,
    /// What was seen.
    pub detail: String,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.outcome {
            Outcome::Pass => "PASS",
            Outcome::Fail => "FAIL",
            Outcome::Info => "INFO",
            Outcome::Skipped => "SKIP",
        };
        write!(f, "{tag}  {}: {}", self.name, self.detail)
    }
}

/// The overall verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every check passed.
    Pass,
    /// At least one check failed.
    Fail,
    /// The target answers CCR with Invalid Command Opcode: it does not implement CCR.
    NotSupported,
}

/// The probe's result.
#[derive(Clone, Debug)]
pub struct Report {
    /// Every check, in order.
    pub checks: Vec<Check>,
    /// The verdict.
    pub verdict: Verdict,
}

/// Probe settings.
#[derive(Clone, Debug)]
pub struct CcrCheckConfig {
    /// Controller addresses: the impacted controller is opened on the first, the source on the second (or the
    /// first again, like `duplicate_connect`).
    pub addrs: Vec<SocketAddr>,
    /// How each controller is connected.
    pub host: HostConfig,
    /// How long to wait for the teardown, the notice and the log entry.
    pub wait: Duration,
}

struct Probe {
    checks: Vec<Check>,
}

impl Probe {
    fn add(&mut self, outcome: Outcome, name: &'static str, detail: impl Into<String>) {
        self.checks.push(Check { outcome, name, detail: detail.into() });
    }

    fn judge(&mut self, ok: bool, name: &'static str, detail: impl Into<String>) -> bool {
        self.add(if ok { Outcome::Pass } else { Outcome::Fail }, name, detail);
        ok
    }
}

fn word(st: Status) -> String {
    format!(
        "status {:#06x} (SCT {}, SC {:#04x}{})",
        st.to_word(),
        st.code.sct.0,
        st.code.sc,
        if st.dnr { ", DNR" } else { "" }
    )
}

async fn ccr(source: &Controller, cmd: CrossControllerReset) -> Result<(Status, u32), HostError> {
    let c = source.admin(cmd.to_sqe(0), DataOut::None).await?;
    Ok((c.cqe.status, c.cqe.dw0))
}

async fn read_log(source: &Controller) -> Result<Vec<u8>, String> {
    let g = GetLogPage::ccr_log(true, 4096);
    match source.admin(g.to_sqe(0), DataOut::Read(4096)).await {
        Ok(c) if c.cqe.status.is_success() => Ok(c.data),
        Ok(c) => Err(word(c.cqe.status)),
        Err(e) => Err(e.to_string()),
    }
}

/// The controller's Identify Controller data, read now.
async fn identify(c: &Controller) -> Result<Vec<u8>, String> {
    let bytes = c.identify().await.map_err(|e| e.to_string())?;
    IdentifyController::parse(&bytes).map_err(|e| format!("Identify Controller does not parse: {e}"))?;
    Ok(bytes)
}

/// The parsed view of bytes [`identify`] checked.
fn view(bytes: &[u8]) -> IdentifyController<'_> {
    IdentifyController::parse(bytes).unwrap_or_else(|_| IdentifyController::fabrics_io(0, ""))
}

async fn wait_event(rx: &mut Events, wait: Duration, want: impl Fn(&HostEvent) -> bool) -> Option<HostEvent> {
    tokio::time::timeout(wait, async {
        while let Some(ev) = rx.recv().await {
            if want(&ev) {
                return Some(ev);
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
}

/// Runs the probe.
pub async fn run(cfg: &CcrCheckConfig) -> Report {
    let mut p = Probe { checks: Vec::new() };
    let verdict = probe(cfg, &mut p).await;
    let verdict = match verdict {
        Some(v) => v,
        None if p.checks.iter().any(|c| c.outcome == Outcome::Fail) => Verdict::Fail,
        None => Verdict::Pass,
    };
    Report { checks: p.checks, verdict }
}

async fn probe(cfg: &CcrCheckConfig, p: &mut Probe) -> Option<Verdict> {
    let Some(&a_addr) = cfg.addrs.first() else {
        p.add(Outcome::Fail, "connect", "no address given");
        return Some(Verdict::Fail);
    };
    let b_addr = cfg.addrs.get(1).copied().unwrap_or(a_addr);
    let (a, mut a_ev) = match Controller::connect(a_addr, &cfg.host).await {
        Ok(c) => c,
        Err(e) => {
            p.add(Outcome::Fail, "connect", format!("impacted controller at {a_addr}: {e}"));
            return Some(Verdict::Fail);
        }
    };
    let (b, mut b_ev) = match Controller::connect(b_addr, &cfg.host).await {
        Ok(c) => c,
        Err(e) => {
            p.add(Outcome::Fail, "connect", format!("source controller at {b_addr}: {e}"));
            a.close().await;
            return Some(Verdict::Fail);
        }
    };
    let mut detail =
        format!("impacted controller {} at {a_addr}, source controller {} at {b_addr}", a.cntlid(), b.cntlid());
    if a.cntlid() == b.cntlid() {
        detail.push_str(
            ": a duplicate CNTLID, so these are not two controllers of one subsystem (two separate targets with one \
             NQN?); a multipath host refuses the second, as Linux does",
        );
    }
    p.judge(a.cntlid() != b.cntlid(), "connect", detail);
    let ids = match (identify(&a).await, identify(&b).await) {
        (Ok(ia), Ok(ib)) => (ia, ib),
        (Err(e), _) | (_, Err(e)) => {
            p.add(Outcome::Fail, "identify fields", e);
            a.close().await;
            b.close().await;
            return Some(Verdict::Fail);
        }
    };
    let (ia, ib) = (view(&ids.0), view(&ids.1));
    let oaes_ccrcn = ib.oaes & OAES_CCRCN != 0;
    let fields_ok = ia.ciu != 0 && ib.ccrl.to_raw() != 0;
    p.judge(
        fields_ok,
        "identify fields",
        format!(
            "impacted CIU {:#04x} CIRN {:#018x}; source CCRL {}; CQT {} ms; KAS {}; OAES.CCRCN {}",
            ia.ciu,
            ia.cirn,
            ib.ccrl.to_raw(),
            ia.cqt.to_raw(),
            ia.kas,
            if oaes_ccrcn { "set" } else { "clear" }
        ),
    );
    let inst = CrossControllerReset { icid: a.cntlid(), ciu: ia.ciu, cirn: ia.cirn };

    // A CCR naming an instance that does not exist (wrong CIRN) must be refused and leave the controller alone.
    let wrong = CrossControllerReset { cirn: inst.cirn ^ 0x5A5A_0000_0000_0001, ..inst };
    match ccr(&b, wrong).await {
        Ok((st, _)) if st.code == StatusCode::INVALID_OPCODE => {
            p.add(Outcome::Info, "CCR", format!("answered with Invalid Command Opcode, {}", word(st)));
            p.add(Outcome::Info, "verdict", "Cross-Controller Reset is not supported by this target");
            a.close().await;
            b.close().await;
            return Some(Verdict::NotSupported);
        }
        Ok((st, _)) => {
            p.judge(!st.is_success(), "wrong CIRN refused", word(st));
        }
        Err(e) => {
            p.add(Outcome::Fail, "wrong CIRN refused", e.to_string());
        }
    }
    match ccr(&b, CrossControllerReset { icid: b.cntlid(), ciu: ib.ciu, cirn: ib.cirn }).await {
        Ok((st, _)) => {
            p.judge(!st.is_success(), "CCR naming its own source refused", word(st));
        }
        Err(e) => p.add(Outcome::Fail, "CCR naming its own source refused", e.to_string()),
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    p.judge(
        !a.is_failed(),
        "refused CCRs left the impacted controller alone",
        format!("controller {} live", a.cntlid()),
    );

    // The real CCR.
    let irs = match ccr(&b, inst).await {
        Ok((st, dw0)) if st.is_success() => {
            let r = CcrResult::from_dw0(dw0);
            p.add(Outcome::Pass, "CCR accepted", format!("{}, DW0 {dw0:#x} (IRS {})", word(st), r.irs as u8));
            r.irs
        }
        Ok((st, _)) => {
            p.add(Outcome::Fail, "CCR accepted", word(st));
            a.close().await;
            b.close().await;
            return None;
        }
        Err(e) => {
            p.add(Outcome::Fail, "CCR accepted", e.to_string());
            a.close().await;
            b.close().await;
            return None;
        }
    };
    let failed = wait_event(&mut a_ev, cfg.wait, |e| matches!(e, HostEvent::PathFailed { .. })).await;
    let torn_down = p.judge(
        failed.is_some(),
        "impacted controller torn down",
        match &failed {
            Some(ev) => format!("controller {}: {}", a.cntlid(), ev),
            None => format!("controller {} still live after {} ms", a.cntlid(), cfg.wait.as_millis()),
        },
    );

    if irs {
        p.add(Outcome::Info, "notice and log", "IRS = 1: no log entry or notice expected");
    } else {
        if oaes_ccrcn {
            let ev = wait_event(&mut b_ev, cfg.wait, |e| match e {
                HostEvent::Aen { dw0, .. } => AsyncEvent::from_dw0(*dw0).is_ccr_completed(),
                HostEvent::PathFailed { .. } => true,
                _ => false,
            })
            .await;
            let ok = matches!(ev, Some(HostEvent::Aen { .. }));
            let detail = match &ev {
                Some(ev) => ev.to_string(),
                None => format!("none within {} ms", cfg.wait.as_millis()),
            };
            p.judge(ok, "CCR Completed notice on the source", detail);
        } else {
            p.add(Outcome::Info, "CCR Completed notice on the source", "OAES.CCRCN clear: not waited for");
        }
        // The log: poll until the entry for the impacted instance is no longer In Progress.
        let deadline = tokio::time::Instant::now() + cfg.wait;
        let mut found = None;
        loop {
            match read_log(&b).await {
                Ok(page) => match CcrLogPage::new_checked(&page) {
                    Ok(log) => {
                        let e = log.entries().find(|e| e.icid == inst.icid && e.ciu == inst.ciu);
                        if let Some(e) = e
                            && e.ccrs != Ccrs::IN_PROGRESS
                        {
                            found = Some(Ok(e));
                            break;
                        }
                    }
                    Err(e) => {
                        found = Some(Err(format!("log page does not parse: {e}")));
                        break;
                    }
                },
                Err(e) => {
                    found = Some(Err(e));
                    break;
                }
            }
            if tokio::time::Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        match found {
            Some(Ok(e)) => {
                p.judge(
                    e.ccrs == Ccrs::SUCCESS,
                    "log entry",
                    format!(
                        "ICID {} CIU {:#04x} ACID {} CCRS {} CCRF {:#04x}",
                        e.icid, e.ciu, e.acid, e.ccrs.0, e.ccrf
                    ),
                );
            }
            Some(Err(e)) => p.add(Outcome::Fail, "log entry", e),
            None => p.add(Outcome::Fail, "log entry", "no completed entry for the impacted instance in time"),
        }
        match read_log(&b).await {
            Ok(page) => {
                let left = CcrLogPage::new_checked(&page)
                    .map(|l| l.entries().filter(|e| e.icid == inst.icid && e.ciu == inst.ciu).count())
                    .unwrap_or(usize::MAX);
                p.judge(left == 0, "RMC removed the completed entry", format!("{left} entries left for it"));
            }
            Err(e) => p.add(Outcome::Fail, "RMC removed the completed entry", e),
        }
    }

    // Reconnect the impacted path: a new instance.
    match Controller::connect(a_addr, &cfg.host).await {
        Ok((a2, _a2_ev)) => {
            let i2 = match identify(&a2).await {
                Ok(bytes) => bytes,
                Err(e) => {
                    p.add(Outcome::Fail, "instance renewed after reconnect", e);
                    a2.close().await;
                    a.close().await;
                    b.close().await;
                    return None;
                }
            };
            let i2 = view(&i2);
            let renewed = (i2.cntlid, i2.ciu, i2.cirn) != (inst.icid, inst.ciu, inst.cirn);
            p.judge(
                renewed,
                "instance renewed after reconnect",
                format!("CNTLID {} CIU {:#04x} CIRN {:#018x}", i2.cntlid, i2.ciu, i2.cirn),
            );
            if torn_down {
                match ccr(&b, inst).await {
                    Ok((st, _)) => {
                        p.judge(!st.is_success(), "stale CCR (old instance) refused", word(st));
                    }
                    Err(e) => p.add(Outcome::Fail, "stale CCR (old instance) refused", e.to_string()),
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                p.judge(
                    !a2.is_failed(),
                    "new instance untouched by the stale CCR",
                    format!("controller {} live", a2.cntlid()),
                );
            } else {
                let why = "the old instance was never torn down (\"impacted controller torn down\" failed), so a CCR \
                    naming it is not stale";
                p.add(Outcome::Skipped, "stale CCR (old instance) refused", why);
                p.add(Outcome::Skipped, "new instance untouched by the stale CCR", why);
            }
            a2.close().await;
        }
        Err(e) => p.add(Outcome::Fail, "instance renewed after reconnect", e.to_string()),
    }
    a.close().await;
    b.close().await;
    None
}
