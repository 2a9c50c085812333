//! Random input sequences (including time jumps) driven through `nvme_ccr::check::Checked`: the engine with the
//! shared monitor in front of it, which checks after every step the invariants stated in `nvme_ccr::check`:
//!
//! 1. no held command is retried, completed or failed back before a CCR success the monitor saw delivered for its
//!    exact instance and episode, or its hold deadline computed by the monitor from the facts;
//! 2. every held command is released by its deadline, except as the extended hold allows (decisions 24–28), and no
//!    deadline release while a CCR holds or an untried capable live source is left after an ending without verdict;
//! 3. never more CCRs in flight through a source than its CCRL;
//! 4. every output and every input's result fits the state.
//!
//! This file only generates inputs: what a host could feed (submissions, completions on the right or the wrong
//! path, failures, reconnects, CCR answers of every kind, notices, CCR log pages listing any subset of the CCRs in
//! any state, failed reads, time steps and jumps, whole fencing episodes) and an op that fails the source of an
//! unresolved CCR, so hand-overs are frequent. Shrunk failures are pinned as `regression_*` tests at the bottom.

mod common;

use common::ms;
use core::time::Duration;
use nvme_ccr::check::Checked;
use nvme_ccr::{
    CcrId, CcrSources, CcrWait, CommandKind, Config, ControllerFacts, Cqt, Instant, LogReadId, PathId, PathState,
    Policy,
};
use nvme_proto::cmd::{CcrLogEntry, CcrLogPage, Ccrl, Ccrs, Sct, Status, StatusCode};
use proptest::prelude::*;

#[derive(Clone, Copy, Debug)]
enum Op {
    Submit {
        path: u8,
        kind: u8,
    },
    Complete {
        cmd: u8,
        wrong_path: bool,
    },
    Fail {
        path: u8,
    },
    /// Fail the source of a CCR (mostly an unresolved one): a source lost while its CCR holds a fence.
    FailSource {
        ccr: u8,
    },
    Reconnect {
        path: u8,
        ciu: u8,
    },
    /// The driver gives a path up (`handle_path_gone`), mostly one that is reconnecting.
    Gone {
        path: u8,
    },
    CcrDone {
        ccr: u8,
        how: u8,
    },
    Aen {
        path: u8,
    },
    LogAnswer {
        read: u8,
        pick: u16,
        junk: bool,
    },
    LogFail {
        read: u8,
    },
    Advance {
        ms: u16,
    },
    Jump {
        s: u8,
    },
    Timeout,
    /// Fail a path, run its timers until its hold ends, reconnect it as a new instance (and, with `again`, fail
    /// that one too): whole fencing episodes while CCRs of earlier episodes may still be unresolved.
    Recycle {
        path: u8,
        ciu: u8,
        again: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<u8>(), any::<u8>()).prop_map(|(path, kind)| Op::Submit { path, kind }),
        2 => (any::<u8>(), any::<bool>()).prop_map(|(cmd, wrong_path)| Op::Complete { cmd, wrong_path }),
        2 => any::<u8>().prop_map(|path| Op::Fail { path }),
        1 => any::<u8>().prop_map(|ccr| Op::FailSource { ccr }),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(path, ciu)| Op::Reconnect { path, ciu }),
        1 => any::<u8>().prop_map(|path| Op::Gone { path }),
        3 => (any::<u8>(), any::<u8>()).prop_map(|(ccr, how)| Op::CcrDone { ccr, how }),
        2 => any::<u8>().prop_map(|path| Op::Aen { path }),
        3 => (any::<u8>(), any::<u16>(), any::<bool>()).prop_map(|(read, pick, junk)| Op::LogAnswer { read, pick, junk }),
        1 => any::<u8>().prop_map(|read| Op::LogFail { read }),
        3 => (0u16..3_000).prop_map(|ms| Op::Advance { ms }),
        1 => (1u8..30).prop_map(|s| Op::Jump { s }),
        2 => Just(Op::Timeout),
        2 => (any::<u8>(), any::<u8>(), any::<bool>()).prop_map(|(path, ciu, again)| Op::Recycle { path, ciu, again }),
    ]
}

#[derive(Clone, Copy, Debug)]
struct Setup {
    policy: Policy,
    wait: CcrWait,
    /// `Config::ccr_sources`: every source in turn, or one CCR then the timer.
    sources: CcrSources,
    final_log_ms: u64,
    paths: [(u8, u8, u8, u8, bool); 4],
    n: usize,
    /// `Config::accepted_ccr_limit` in ms.
    limit_ms: Option<u64>,
    /// `Config::accepted_ccr_recheck` in ms (0 included: the engine takes it as 1 ms).
    recheck_ms: u64,
}

fn setup() -> impl Strategy<Value = Setup> {
    let policy = prop_oneof![
        Just(Policy::Cqt),
        Just(Policy::Ccr),
        Just(Policy::CcrFilter { release_admin: false }),
        Just(Policy::CcrFilter { release_admin: true }),
    ];
    let wait = prop_oneof![
        Just(CcrWait::KatoPlusCqt),
        Just(CcrWait::MaxCqtKato),
        Just(CcrWait::UntilDeadline),
        (1u64..3_000).prop_map(|m| CcrWait::Fixed(Duration::from_millis(m))),
    ];
    let path = (any::<u8>(), 0u8..3, 0u8..4, 0u8..2, any::<bool>());
    let limit = prop_oneof![3 => Just(None), 1 => (0u64..20_000).prop_map(Some)];
    let sources = prop_oneof![3 => Just(CcrSources::EveryInTurn), 1 => Just(CcrSources::FirstOnly)];
    let paths = [path.clone(), path.clone(), path.clone(), path];
    (policy, (wait, sources), 1u64..2_000, paths, 1usize..=4, limit, 0u64..3_000).prop_map(
        |(policy, (wait, sources), final_log_ms, paths, n, limit_ms, recheck_ms)| Setup {
            policy,
            wait,
            sources,
            final_log_ms,
            paths,
            n,
            limit_ms,
            recheck_ms,
        },
    )
}

fn facts_of(cntlid: u16, (ciu, cqt, ccrl, kato, tbkas): (u8, u8, u8, u8, bool), cirn: u64) -> ControllerFacts {
    ControllerFacts {
        cntlid,
        ciu: ciu % 3, // 0 (pre-TP8028) is common, and CIU collisions across reconnects happen
        cirn,
        cqt: [Cqt::NotReported, Cqt::from_raw(1), Cqt::from_raw(700)][cqt as usize % 3],
        ccrl: Ccrl::from_raw([0, 1, 2, 4][ccrl as usize % 4]),
        kato: [Duration::from_secs(1), Duration::from_secs(5)][kato as usize % 2],
        tbkas,
    }
}

/// What the generator remembers to aim its inputs (the monitor keeps its own, independent account).
#[derive(Clone, Copy, Debug)]
struct SentCcr {
    id: CcrId,
    source: PathId,
    /// ICID and CIU the CCR named (its log entries carry them).
    key: (u16, u8),
    /// The generator's guess that it is over (answered, or its source failed); wrong guesses only make the engine
    /// refuse the input, which the monitor checks too.
    resolved: bool,
}

struct Model {
    e: Checked,
    now: Instant,
    facts: Vec<ControllerFacts>,
    tokens: Vec<u64>,
    next_token: u64,
    next_cirn: u64,
    ccrs: Vec<SentCcr>,
    /// Every log read asked for, and whether it is still outstanding.
    reads: Vec<(LogReadId, PathId, bool)>,
}

impl Model {
    fn new(s: &Setup) -> Self {
        let mut cfg = Config::new(s.policy);
        cfg.ccr_wait = s.wait;
        cfg.ccr_sources = s.sources;
        cfg.final_log_wait = Duration::from_millis(s.final_log_ms);
        cfg.accepted_ccr_limit = s.limit_ms.map(Duration::from_millis);
        cfg.accepted_ccr_recheck = Duration::from_millis(s.recheck_ms);
        let mut m = Model {
            e: Checked::new(cfg),
            now: ms(0),
            facts: vec![],
            tokens: vec![],
            next_token: 0,
            next_cirn: 1,
            ccrs: vec![],
            reads: vec![],
        };
        for i in 0..s.n {
            let f = facts_of(i as u16 + 1, s.paths[i], m.fresh_cirn());
            m.e.add_controller(m.now, f).unwrap();
            m.facts.push(f);
        }
        m.e.assert_ok();
        m
    }

    fn fresh_cirn(&mut self) -> u64 {
        self.next_cirn += 1;
        self.next_cirn
    }

    fn path(&self, x: u8) -> PathId {
        PathId(x as u32 % self.facts.len() as u32)
    }

    /// Mostly a path in state `want` (when there is one), sometimes any path: inputs that matter are frequent,
    /// inputs in the wrong state still happen.
    fn path_in(&self, x: u8, want: &[PathState]) -> PathId {
        let fit: Vec<usize> = (0..self.facts.len())
            .filter(|&i| self.e.path_state(PathId(i as u32)).is_some_and(|s| want.contains(&s)))
            .collect();
        if x & 0xC0 == 0 || fit.is_empty() { self.path(x) } else { PathId(fit[x as usize % fit.len()] as u32) }
    }

    /// Mostly an unresolved CCR, sometimes any (duplicates and late completions).
    fn ccr_index(&self, x: u8) -> Option<usize> {
        let open: Vec<usize> = (0..self.ccrs.len()).filter(|&i| !self.ccrs[i].resolved).collect();
        if self.ccrs.is_empty() {
            None
        } else if x & 0xC0 == 0 || open.is_empty() {
            Some(x as usize % self.ccrs.len())
        } else {
            Some(open[x as usize % open.len()])
        }
    }

    fn step(&mut self, op: Op) {
        let now = self.now;
        match op {
            Op::Submit { path, kind } => {
                let p = self.path_in(path, &[PathState::Live]);
                let kind = [
                    CommandKind::Write,
                    CommandKind::Read,
                    CommandKind::OtherIo { side_effects: true },
                    CommandKind::OtherIo { side_effects: false },
                    CommandKind::Admin { side_effects: true },
                    CommandKind::Admin { side_effects: false },
                ][kind as usize % 6];
                let token = self.next_token;
                self.next_token += 1;
                if self.e.handle_submit(now, p, token, kind).is_ok() {
                    self.tokens.push(token);
                }
            }
            Op::Complete { cmd, wrong_path } => {
                if self.tokens.is_empty() {
                    return;
                }
                let token = self.tokens[cmd as usize % self.tokens.len()];
                let path = self.e.command(token).map_or(self.path(0), |c| c.path);
                let p = if wrong_path { PathId((path.0 + 1) % self.facts.len() as u32) } else { path };
                let _ = self.e.handle_complete(now, p, token);
            }
            Op::Fail { path } => {
                let p = self.path_in(path, &[PathState::Live]);
                let live = self.e.is_usable(p);
                self.e.handle_controller_failed(now, p, nvme_ccr::FailureReason::TransportError).unwrap();
                if live {
                    for c in self.ccrs.iter_mut().filter(|c| c.source == p) {
                        c.resolved = true; // gone with the source's association
                    }
                    for r in self.reads.iter_mut().filter(|r| r.1 == p) {
                        r.2 = false;
                    }
                }
            }
            Op::FailSource { ccr } => {
                let Some(i) = self.ccr_index(ccr) else { return };
                // `path_in` takes a value < 4 as this exact path.
                return self.step(Op::Fail { path: self.ccrs[i].source.0 as u8 });
            }
            Op::Reconnect { path, ciu } => {
                let p = self.path_in(path, &[PathState::Fenced, PathState::Resetting, PathState::Connecting]);
                let mut f = self.facts[p.0 as usize];
                f.ciu = ciu % 3;
                f.cirn = self.fresh_cirn();
                if self.e.handle_reconnected(now, p, f).is_ok() {
                    self.facts[p.0 as usize] = f;
                }
            }
            Op::Gone { path } => {
                let p = self.path_in(path, &[PathState::Resetting, PathState::Connecting]);
                let _ = self.e.handle_path_gone(now, p);
            }
            Op::CcrDone { ccr, how } => {
                let Some(i) = self.ccr_index(ccr) else { return };
                let c = self.ccrs[i];
                let (status, dw0) = match how % 9 {
                    0 | 1 => (Status::SUCCESS, 1),
                    2 | 3 => (Status::SUCCESS, 0),
                    4 => (Status::new(StatusCode::CCR_IN_PROGRESS), 0),
                    5 => (Status::new(StatusCode::CCR_LOG_PAGE_FULL), 0),
                    6 => (Status::new(StatusCode::CCR_LIMIT_EXCEEDED), 0),
                    7 => (Status::new(StatusCode::INVALID_OPCODE).with_dnr(true), 0),
                    _ => (
                        Status::new([StatusCode::INVALID_FIELD, StatusCode::new(Sct::GENERIC, 6)][how as usize % 2]),
                        0,
                    ),
                };
                let r = self.e.handle_ccr_completion(now, c.id, status, dw0);
                if r.is_ok() && (!status.is_success() || dw0 == 1) {
                    self.ccrs[i].resolved = true;
                }
            }
            Op::Aen { path } => {
                let p = self.path_in(path, &[PathState::Live]);
                self.e.handle_aen(now, p, common::ccr_aen()).unwrap();
            }
            Op::LogAnswer { read, pick, junk } => {
                if self.reads.is_empty() {
                    return;
                }
                let k = if read & 0x80 == 0 {
                    self.reads.len() - 1 - (read as usize % 4).min(self.reads.len() - 1)
                } else {
                    read as usize % self.reads.len()
                };
                let (id, source, outstanding) = self.reads[k];
                let mut entries = vec![];
                let mut terminal = vec![];
                for (j, c) in self.ccrs.iter().enumerate().filter(|(_, c)| c.source == source && !c.resolved) {
                    // Not listed (0): an accepted CCR vanishes from a read issued after its acceptance.
                    let ccrs = match (pick >> ((j % 8) * 2)) & 3 {
                        0 => continue,
                        1 => Ccrs::IN_PROGRESS,
                        2 => Ccrs::SUCCESS,
                        _ => Ccrs::FAILED,
                    };
                    if ccrs != Ccrs::IN_PROGRESS {
                        terminal.push(j);
                    }
                    entries.push(CcrLogEntry { icid: c.key.0, ciu: c.key.1, acid: 0, ccrs, ccrf: 0 });
                }
                if junk {
                    entries.push(CcrLogEntry { icid: 200, ciu: 0, acid: 0, ccrs: Ccrs::SUCCESS, ccrf: 0 });
                }
                let mut buf = vec![0u8; CcrLogPage::buffer_len(entries.len())];
                CcrLogPage::emit(&entries, &mut buf).unwrap();
                let r = self.e.handle_ccr_log(now, id, &buf);
                if outstanding && r.is_ok() {
                    self.reads[k].2 = false;
                    for j in terminal {
                        self.ccrs[j].resolved = true;
                    }
                }
            }
            Op::LogFail { read } => {
                let k = read as usize % self.reads.len().max(1);
                if let Some(&(id, _, _)) = self.reads.get(k)
                    && self.e.handle_ccr_log_failed(now, id).is_ok()
                {
                    self.reads[k].2 = false;
                }
            }
            Op::Advance { ms } => {
                self.now = now + Duration::from_millis(ms as u64);
                self.e.handle_timeout(self.now);
            }
            Op::Jump { s } => {
                self.now = now + Duration::from_secs(s as u64);
                self.e.handle_timeout(self.now);
            }
            Op::Recycle { path, ciu, again } => {
                let p = self.path_in(path, &[PathState::Live]);
                let x = p.0 as u8; // < 4: `path_in` takes it as this exact path
                self.step(Op::Fail { path: x });
                for _ in 0..64 {
                    if self.e.path_state(p) != Some(PathState::Fencing) {
                        break;
                    }
                    self.step(Op::Timeout);
                }
                self.step(Op::Reconnect { path: x, ciu });
                if again {
                    // A write on the new instance, then that instance fails too.
                    self.step(Op::Submit { path: x, kind: 0 });
                    self.step(Op::Fail { path: x });
                }
                return;
            }
            Op::Timeout => {
                if let Some(t) = self.e.poll_timeout() {
                    assert!(t > now, "(2) a timer due at {t:?} was left armed at {now:?}");
                    self.now = t;
                    self.e.handle_timeout(t);
                }
            }
        }
        self.drain();
        self.e.assert_ok();
    }

    /// Pulls every output (the monitor checks each), remembering the CCRs and reads to aim later inputs.
    fn drain(&mut self) {
        while let Some(c) = self.e.poll_ccr() {
            self.ccrs.push(SentCcr {
                id: c.id,
                source: c.source,
                key: (c.command.icid, c.command.ciu),
                resolved: false,
            });
        }
        while let Some(r) = self.e.poll_log_read() {
            self.reads.push((r.id, r.source, true));
        }
        while self.e.poll_release().is_some() {}
        while self.e.poll_path_action().is_some() {}
        while self.e.poll_event().is_some() {}
    }

    /// Commands the monitor counts as held.
    fn held(&self) -> usize {
        self.e.monitor().map_or(0, |m| m.held())
    }
}

fn run(s: Setup, ops: &[Op]) {
    let mut m = Model::new(&s);
    for &op in ops {
        m.step(op);
    }
    // Let everything run out: with no more inputs every held command is released by its deadline, except those an
    // accepted CCR still holds ((2) checks that after every step).
    m.step(Op::Jump { s: 29 });
    m.step(Op::Jump { s: 29 });
    if s.limit_ms.is_some() {
        assert_eq!(m.held(), 0, "(2) commands still held past every deadline and limit");
    }
    // Every source fails: the accepted CCRs resolve with them, so every hold ends (at once, or at the deadline of the
    // paths failing now, which have no source left), once the driver gives up every path that could come back
    // (decision 31: with no path live a hold waits for one).
    for p in 0..m.facts.len() {
        m.step(Op::Fail { path: p as u8 });
    }
    m.step(Op::Jump { s: 29 });
    m.step(Op::Jump { s: 29 });
    for _ in 0..2 {
        for p in 0..m.facts.len() {
            m.step(Op::Gone { path: p as u8 });
        }
        m.step(Op::Jump { s: 29 });
        m.step(Op::Jump { s: 29 });
    }
    assert_eq!(m.held(), 0, "(2) commands still held after every source failed");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_sequences_keep_the_invariants(s in setup(), ops in prop::collection::vec(op(), 1..120)) {
        run(s, &ops);
    }
}

/// Shrunk by proptest from a run against a mutant engine that accepted a CCR success without checking the
/// episode: an IRS success of a CCR sent for an earlier instance of the same path must not release the held write
/// of the current instance. Pinned so the model keeps exercising that sequence.
#[test]
fn regression_old_episode_ccr_success_is_no_proof() {
    let s = Setup {
        policy: Policy::Ccr,
        wait: CcrWait::KatoPlusCqt,
        sources: CcrSources::EveryInTurn,
        final_log_ms: 1,
        paths: [(0, 0, 0, 0, false); 4],
        n: 4,
        limit_ms: None,
        recheck_ms: 1_000,
    };
    run(
        s,
        &[
            Op::Submit { path: 118, kind: 0 },
            Op::Recycle { path: 8, ciu: 0, again: true },
            Op::Recycle { path: 94, ciu: 0, again: true },
            Op::Recycle { path: 64, ciu: 0, again: false },
            Op::Submit { path: 0, kind: 0 },
            Op::Timeout,
            Op::CcrDone { ccr: 70, how: 45 },
        ],
    );
}

/// Written by hand after a mutant engine that ignored a vanished entry survived 500 random cases: the source accepts
/// the CCR (IRS = 0), the hold deadline (2 x 1 s + F 10 s) passes and the engine extends the hold and reads the log;
/// the answer no longer lists the CCR, so the accepted CCR stops holding and the write must go at once.
#[test]
fn regression_vanished_accepted_ccr_ends_the_extension() {
    let s = Setup {
        policy: Policy::Ccr,
        wait: CcrWait::UntilDeadline,
        sources: CcrSources::EveryInTurn,
        final_log_ms: 1_000,
        paths: [(0, 0, 1, 0, false); 4],
        n: 2,
        limit_ms: None,
        recheck_ms: 1_000,
    };
    let mut m = Model::new(&s);
    m.step(Op::Submit { path: 0, kind: 0 });
    m.step(Op::Fail { path: 0 });
    m.step(Op::CcrDone { ccr: 0, how: 2 }); // success, IRS = 0: accepted
    m.step(Op::Jump { s: 13 });
    assert_eq!(m.held(), 1, "held past the deadline by the accepted CCR");
    assert_eq!(m.reads.len(), 1, "the extension reads the source's log at once");
    m.step(Op::LogAnswer { read: 0, pick: 0, junk: true }); // the CCR is not listed
    assert_eq!(m.e.total_outstanding(), 0, "released once the accepted CCR vanished");
}

/// Shrunk by proptest from a run against the engine before decision 28 (an extended hold released as soon as its
/// last CCR stopped holding). Three paths with CCRL 0 (one CCR at a time): path 0 fails with a write, its CCR goes
/// through path 1; path 2 fails too, its CCR waits for the busy path 1, and its writes go at its deadline (12 s),
/// where path 0's hold is extended by the unresolved CCR through path 1; path 2 reconnects; path 1 fails. The old
/// engine released path 0's write on the deadline at once although path 2, live again, was never asked in that
/// episode; now the CCR goes through path 2.
#[test]
fn regression_source_lost_after_the_deadline_asks_the_untried_path() {
    let s = Setup {
        policy: Policy::Ccr,
        wait: CcrWait::KatoPlusCqt,
        sources: CcrSources::EveryInTurn,
        final_log_ms: 1,
        paths: [(0, 0, 0, 0, false); 4],
        n: 3,
        limit_ms: None,
        recheck_ms: 0,
    };
    run(
        s,
        &[
            Op::Submit { path: 80, kind: 0 },
            Op::Submit { path: 8, kind: 0 },
            Op::Recycle { path: 0, ciu: 0, again: true },
            Op::Recycle { path: 69, ciu: 0, again: false },
            Op::FailSource { ccr: 0 },
        ],
    );
}

/// The opted-in immediate CQT = 0 rule (the Linux RFC, `Cqt0Rule::Immediate`) releases a controller that reported no
/// CQT at once, with the legacy reason: the monitor takes that as the rule's, not as a release without proof (the
/// simulator's `explore --cqt 0 --cqt0-rule immediate` had every such seed flagged). A controller that reported a
/// CQT, or the default rule, keeps its hold, and a release there would still be a violation.
#[test]
fn cqt0_immediate_release_is_the_rules_not_a_violation() {
    use nvme_ccr::{Cqt0Rule, ReleaseReason};
    for (rule, cqt, released) in [
        (Cqt0Rule::Immediate, Cqt::NotReported, true),
        (Cqt0Rule::Immediate, Cqt::from_raw(1), false),
        (Cqt0Rule::Fallback, Cqt::NotReported, false),
    ] {
        let mut cfg = Config::new(Policy::Cqt);
        cfg.cqt0_rule = rule;
        let mut e = Checked::new(cfg);
        let mut f1 = common::facts(1);
        f1.cqt = cqt;
        let c1 = e.add_controller(ms(0), f1).unwrap();
        e.add_controller(ms(0), common::facts(2)).unwrap();
        e.handle_submit(ms(0), c1, 5, CommandKind::Write).unwrap();
        e.handle_controller_failed(ms(0), c1, nvme_ccr::FailureReason::KeepAliveTimeout).unwrap();
        let reasons: Vec<ReleaseReason> = core::iter::from_fn(|| e.poll_release()).map(|r| r.reason).collect();
        let expected: &[ReleaseReason] = if released { &[ReleaseReason::Legacy] } else { &[] };
        assert_eq!(reasons, expected, "{rule:?} {cqt:?}");
        e.assert_ok();
    }
}

/// A hold of zero (KATO 0 and the CQT fallback 0) ends as it starts; with no path live and another reconnecting, the
/// engine waits for that one (decision 31) from the failure on. The monitor used to note a deadline only when time
/// moved past it, so it took this wait for a command held past its deadline (the `ccr_engine` fuzz target found it
/// in CI). Given up, the path no longer holds it: W5 fails back at once.
#[test]
fn a_zero_hold_waits_for_a_path_to_come_back() {
    use nvme_ccr::{PathAction, Release, ReleaseAction, ReleaseReason};
    /// Every output queue emptied (so the monitor checks the settled state): the releases and path actions.
    fn drain(e: &mut Checked) -> (Vec<Release>, Vec<PathAction>) {
        while e.poll_ccr().is_some() || e.poll_log_read().is_some() {}
        let releases = core::iter::from_fn(|| e.poll_release()).collect();
        let actions = core::iter::from_fn(|| e.poll_path_action()).collect();
        while e.poll_event().is_some() {}
        e.assert_ok();
        (releases, actions)
    }
    let mut cfg = Config::new(Policy::Ccr);
    cfg.cqt_fallback = Duration::ZERO;
    let mut e = Checked::new(cfg);
    let zero = |cntlid| ControllerFacts { kato: Duration::ZERO, cqt: Cqt::NotReported, ..common::facts(cntlid) };
    let c1 = e.add_controller(ms(0), zero(1)).unwrap();
    let c2 = e.add_controller(ms(0), zero(2)).unwrap();
    e.handle_controller_failed(ms(10), c2, nvme_ccr::FailureReason::TransportError).unwrap();
    assert_eq!(drain(&mut e), (vec![], vec![PathAction::Reconnect { path: c2 }]));
    e.handle_submit(ms(10), c1, 5, CommandKind::Write).unwrap();
    e.handle_controller_failed(ms(10), c1, nvme_ccr::FailureReason::TransportError).unwrap();
    assert_eq!(drain(&mut e), (vec![], vec![]), "ctrl2 may come back as a source");
    assert!(e.poll_timeout().is_some_and(|t| t > ms(10)), "the wait is rechecked later: {:?}", e.poll_timeout());
    e.handle_path_gone(ms(10), c2).unwrap();
    let (releases, _) = drain(&mut e);
    let fail = ReleaseAction::Fail { status: Status::new(StatusCode::HOST_PATHING_ERROR) };
    let got: Vec<_> = releases.iter().map(|r| (r.token, r.reason, r.action)).collect();
    assert_eq!(got, [(5, ReleaseReason::HoldDeadline, fail)]);
}

/// Shrunk by proptest (first source only): path 3 fails with a write, its one CCR goes through path 1, which fails
/// (path 3 falls back to its timer); every other path fails too. At path 3's deadline (2.001 s) no path is live and
/// path 1 is reconnecting, so the hold waits for it (decision 31). Path 1 comes back: path 3 already asked its one
/// source, so its write is released then (retried on path 1). The engine took the reconnect as making path 1
/// untried again and, since first-only was read as "no source tried" in the current associations, waited for it as
/// for a next source.
#[test]
fn regression_first_only_does_not_ask_a_source_that_came_back() {
    let s = Setup {
        policy: Policy::Ccr,
        wait: CcrWait::KatoPlusCqt,
        sources: CcrSources::FirstOnly,
        final_log_ms: 1,
        paths: [(0, 1, 0, 1, false), (0, 0, 0, 0, false), (0, 0, 0, 0, false), (0, 1, 0, 0, false)],
        n: 4,
        limit_ms: None,
        recheck_ms: 0,
    };
    let ops = [
        Op::Fail { path: 128 },
        Op::Submit { path: 65, kind: 0 },
        Op::Submit { path: 2, kind: 0 },
        Op::Fail { path: 31 },
        Op::Submit { path: 101, kind: 0 },
        Op::Submit { path: 30, kind: 0 },
        Op::Fail { path: 110 },
        Op::Recycle { path: 64, ciu: 0, again: false },
        Op::Submit { path: 0, kind: 0 },
        Op::Gone { path: 0 },
        Op::Submit { path: 0, kind: 0 },
        Op::Submit { path: 0, kind: 0 },
        Op::CcrDone { ccr: 0, how: 0 },
        Op::Submit { path: 0, kind: 0 },
        Op::Reconnect { path: 69, ciu: 0 },
    ];
    run(s, &ops);
}
