//! Harness of the `ccr_engine` target: the `nvme-ccr` host engine driven by an arbitrary sequence of inputs
//! (submissions, completions, failures, CCR answers, AENs, log pages well-formed or not, reconnects, time moving
//! forward in steps and jumps, and inputs stamped with an earlier time), checked after every input against a shadow
//! model kept here, independently of the engine's own code. The checks:
//!
//! 1. no held command with side effects (under `cqt` and `ccr`, no held command at all) is retried elsewhere,
//!    completed, or failed back to its submitter before a CCR success *this harness delivered* for its controller's
//!    failed instance, or its hold deadline, computed here from the facts (`(TBKAS ? 3 : 2) x KATO + (CQT or F)`);
//! 2. every held command is released or failed by its deadline (and the engine's timer never lies in the past);
//! 3. never more CCRs in flight through a source than its CCRL (1 when CCRL = 0), counted here from what the
//!    engine asked to send and what the harness answered;
//! 4. no output names an unknown command or controller, or a controller in the wrong state (a CCR through a
//!    source that is not live or for a controller not fencing, a retry on a path that is not live, a reconnect of a
//!    path not fencing, a log read from a source that is not live).
//!
//! The `nvme-ccr` proptest keeps its checker private, so this one is written here. `legacy` (the unsafe baseline)
//! is driven too, with (1) replaced by "released at once, reason Legacy". Also included by
//! `benches/tests/fuzz_corpus.rs`.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use nvme_ccr::{
    CcrError, CcrId, CcrWait, Ccrl, CommandKind, CompleteError, Completion, Config, ControllerFacts, Cqt, Engine,
    Event, FailureReason, Instance, Instant, LogError, LogReadId, PathAction, PathError, PathId, Policy, ReleaseAction,
    ReleaseReason, SourceCandidate, SourceOrder, SubmitError,
};
use nvme_proto::cmd::{AsyncEvent, CcrLogEntry, CcrLogPage, Ccrs, Sct, Status, StatusCode};

/// Most paths the harness adds (initial and later).
const MAX_PATHS: usize = 6;
/// Most inputs per run.
const MAX_OPS: usize = 400;

/// The facts of a controller, as the input chooses them (realistic ranges: KATO is a Connect field of 32 bits in
/// milliseconds, CQT an Identify field of 16 bits in milliseconds).
#[derive(Arbitrary, Clone, Copy, Debug)]
struct FactsSeed {
    cntlid: u8,
    ciu: u8,
    cirn: u8,
    cqt_ms: u16,
    ccrl: u8,
    kato: u8,
    tbkas: bool,
}

impl FactsSeed {
    fn facts(self) -> ControllerFacts {
        ControllerFacts {
            cntlid: u16::from(self.cntlid % 8),
            ciu: self.ciu % 4, // 0 (pre-TP8028) is common, and collisions across reconnects happen
            cirn: u64::from(self.cirn % 4),
            cqt: Cqt::from_raw([0, 1, 700, self.cqt_ms][usize::from(self.cqt_ms % 4)]),
            ccrl: Ccrl::from_raw([0, 1, 2, 4, self.ccrl][usize::from(self.ccrl % 5)]),
            kato: Duration::from_millis([0, 1_000, 5_000, 120_000, u64::from(u32::MAX)][usize::from(self.kato % 5)]),
            tbkas: self.tbkas,
        }
    }
}

#[derive(Arbitrary, Clone, Copy, Debug)]
enum WaitSeed {
    KatoPlusCqt,
    MaxCqtKato,
    UntilDeadline,
    Fixed(u16),
}

#[derive(Arbitrary, Clone, Copy, Debug)]
enum OrderSeed {
    AscendingCntlid,
    Registration,
    /// A caller's key: the least loaded source first.
    LeastLoaded,
    /// A caller's key: the highest CNTLID first.
    Descending,
}

fn least_loaded(c: &SourceCandidate) -> u64 {
    c.in_flight as u64
}

fn descending(c: &SourceCandidate) -> u64 {
    u64::from(u16::MAX - c.facts.cntlid)
}

#[derive(Arbitrary, Clone, Debug)]
struct SetupSeed {
    policy: u8,
    wait: WaitSeed,
    order: OrderSeed,
    final_log_ms: u16,
    fallback_ms: u16,
    paths: [FactsSeed; 3],
    n: u8,
}

#[derive(Arbitrary, Clone, Debug)]
enum Op {
    Submit {
        path: u8,
        kind: u8,
    },
    SubmitAgain {
        cmd: u8,
    },
    Complete {
        cmd: u8,
        wrong_path: bool,
    },
    CompleteUnknown {
        token: u8,
    },
    Fail {
        path: u8,
        reason: u8,
    },
    Connecting {
        path: u8,
    },
    Reconnect {
        path: u8,
        facts: FactsSeed,
    },
    AddPath {
        facts: FactsSeed,
    },
    CcrDone {
        ccr: u8,
        how: u8,
        irs: bool,
    },
    CcrUnknown {
        id: u16,
    },
    Aen {
        path: u8,
        other: Option<u32>,
    },
    LogAnswer {
        read: u8,
        pick: u16,
        junk: Option<(u8, u8, u8)>,
    },
    LogRaw {
        read: u8,
        page: Vec<u8>,
    },
    LogFail {
        read: u8,
    },
    Advance {
        ms: u16,
    },
    Jump {
        s: u16,
    },
    Timeout,
    /// The next input carries a time this much earlier than the latest one.
    Stale {
        ms: u16,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum View {
    Live,
    Fencing,
    /// Released, reconnect ordered (RESETTING or CONNECTING).
    Reconnecting,
}

/// A fencing episode: the path and the n-th time it failed while live.
type Episode = (PathId, u32);

#[derive(Clone, Copy, Debug)]
struct Cmd {
    path: PathId,
    kind: CommandKind,
    /// Set when its path failed: the episode and the hold deadline computed here.
    held: Option<(Episode, Instant)>,
}

#[derive(Clone, Copy, Debug)]
struct SentCcr {
    id: CcrId,
    source: PathId,
    instance: Instance,
    episode: Episode,
    resolved: bool,
}

struct PathModel {
    facts: ControllerFacts,
    view: View,
    episodes: u32,
}

struct Model {
    e: Engine,
    policy: Policy,
    fallback: Duration,
    now: Instant,
    stale: Duration,
    paths: Vec<PathModel>,
    cmds: HashMap<u64, Cmd>,
    tokens: Vec<u64>,
    next_token: u64,
    ccrs: Vec<SentCcr>,
    /// Every read asked for, and whether it is still outstanding.
    reads: Vec<(LogReadId, PathId, bool)>,
    /// Episodes a CCR success delivered here proved reset, with the sources.
    proven: HashSet<(Episode, PathId)>,
}

/// `ccr_engine`: runs the engine over the inputs `data` describes.
pub fn ccr_engine(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(setup) = SetupSeed::arbitrary(&mut u) else { return };
    let trace = std::env::var_os("NVME_FUZZ_TRACE").is_some();
    if trace {
        eprintln!("{setup:?}");
    }
    let mut m = Model::new(&setup);
    for _ in 0..MAX_OPS {
        let Ok(op) = Op::arbitrary(&mut u) else { break };
        if trace {
            eprintln!("{:?} {op:?}", m.now);
        }
        m.step(op);
        if u.is_empty() {
            break;
        }
    }
    m.finish();
}

impl Model {
    fn new(s: &SetupSeed) -> Self {
        let policy = match s.policy % 5 {
            0 => Policy::Legacy,
            1 => Policy::Cqt,
            2 => Policy::Ccr,
            3 => Policy::CcrFilter { release_admin: false },
            _ => Policy::CcrFilter { release_admin: true },
        };
        let mut cfg = Config::new(policy);
        cfg.ccr_wait = match s.wait {
            WaitSeed::KatoPlusCqt => CcrWait::KatoPlusCqt,
            WaitSeed::MaxCqtKato => CcrWait::MaxCqtKato,
            WaitSeed::UntilDeadline => CcrWait::UntilDeadline,
            WaitSeed::Fixed(ms) => CcrWait::Fixed(Duration::from_millis(u64::from(ms))),
        };
        cfg.source_order = match s.order {
            OrderSeed::AscendingCntlid => SourceOrder::AscendingCntlid,
            OrderSeed::Registration => SourceOrder::Registration,
            OrderSeed::LeastLoaded => SourceOrder::Custom(least_loaded),
            OrderSeed::Descending => SourceOrder::Custom(descending),
        };
        cfg.final_log_wait = Duration::from_millis(u64::from(s.final_log_ms));
        cfg.cqt_fallback = Duration::from_millis(u64::from(s.fallback_ms) * 16);
        let mut m = Model {
            e: Engine::new(cfg),
            policy,
            fallback: cfg.cqt_fallback,
            now: Instant::ZERO,
            stale: Duration::ZERO,
            paths: Vec::new(),
            cmds: HashMap::new(),
            tokens: Vec::new(),
            next_token: 0,
            ccrs: Vec::new(),
            reads: Vec::new(),
            proven: HashSet::new(),
        };
        for f in s.paths.iter().take(1 + usize::from(s.n % 3)) {
            m.add_path(f.facts());
        }
        m
    }

    /// The time stamped on the next input: the latest time, or earlier after a `Stale` op.
    fn input_time(&mut self) -> Instant {
        let t = Instant::from_elapsed(self.now.elapsed().saturating_sub(self.stale));
        self.stale = Duration::ZERO;
        t
    }

    /// A path id from the input: one past the last path now and then (an unknown path).
    fn path(&self, x: u8) -> PathId {
        PathId(u32::from(x) % (self.paths.len() as u32 + 1))
    }

    fn known(&self, p: PathId) -> bool {
        (p.0 as usize) < self.paths.len()
    }

    fn view(&self, p: PathId) -> View {
        self.paths[p.0 as usize].view
    }

    fn limit(&self, p: PathId) -> usize {
        match self.paths[p.0 as usize].facts.ccrl.to_raw() {
            0 => 1,
            n => usize::from(n),
        }
    }

    /// The hold, computed here: `(TBKAS ? 3 : 2) x KATO + (CQT, or F when CQT is not reported)`.
    fn hold(&self, f: &ControllerFacts) -> Duration {
        let kato = f.kato.saturating_mul(if f.tbkas { 3 } else { 2 });
        let cqt = match f.cqt.to_raw() {
            0 => self.fallback,
            ms => Duration::from_millis(u64::from(ms)),
        };
        kato.saturating_add(cqt)
    }

    fn add_path(&mut self, facts: ControllerFacts) {
        let t = self.input_time();
        let r = self.e.add_controller(t, facts);
        assert_eq!(r, Ok(PathId(self.paths.len() as u32)));
        self.paths.push(PathModel { facts, view: View::Live, episodes: 0 });
    }

    fn step(&mut self, op: Op) {
        match op {
            Op::Submit { path, kind } => {
                let token = self.next_token;
                self.next_token += 1;
                let kind = [
                    CommandKind::Write,
                    CommandKind::Read,
                    CommandKind::OtherIo { side_effects: true },
                    CommandKind::OtherIo { side_effects: false },
                    CommandKind::Admin { side_effects: true },
                    CommandKind::Admin { side_effects: false },
                ][usize::from(kind % 6)];
                self.submit(self.path(path), token, kind);
            }
            Op::SubmitAgain { cmd } => {
                // A token still outstanding (a driver bug): refused, nothing changes.
                if let Some(&token) = pick(&self.tokens, cmd)
                    && let Some(c) = self.cmds.get(&token).copied()
                {
                    let t = self.input_time();
                    let r = self.e.handle_submit(t, c.path, token, c.kind);
                    let want = if self.view(c.path) == View::Live {
                        SubmitError::DuplicateToken
                    } else {
                        SubmitError::PathNotUsable
                    };
                    assert_eq!(r, Err(want), "resubmission of outstanding {token}");
                }
            }
            Op::Complete { cmd, wrong_path } => {
                let Some(&token) = pick(&self.tokens, cmd) else { return };
                let t = self.input_time();
                let Some(c) = self.cmds.get(&token).copied() else {
                    let r = self.e.handle_complete(t, PathId(0), token);
                    assert_eq!(r, Err(CompleteError::UnknownCommand), "completion of gone command {token}");
                    return;
                };
                let p = if wrong_path { PathId((c.path.0 + 1) % self.paths.len() as u32) } else { c.path };
                let r = self.e.handle_complete(t, p, token);
                if p != c.path {
                    assert_eq!(r, Err(CompleteError::WrongPath { path: c.path }));
                } else if c.held.is_some() {
                    assert_eq!(r, Ok(Completion::Held), "(1) held command {token} completed: {c:?}");
                } else {
                    assert_eq!(r, Ok(Completion::Deliver), "completion of {token}: {c:?}");
                    self.cmds.remove(&token);
                }
            }
            Op::CompleteUnknown { token } => {
                let token = u64::MAX - u64::from(token);
                let t = self.input_time();
                assert_eq!(self.e.handle_complete(t, PathId(0), token), Err(CompleteError::UnknownCommand));
            }
            Op::Fail { path, reason } => {
                let p = self.path(path);
                let reason =
                    [FailureReason::KeepAliveTimeout, FailureReason::TransportError, FailureReason::CommandTimeout]
                        [usize::from(reason % 3)];
                let t = self.input_time();
                let r = self.e.handle_controller_failed(t, p, reason);
                if !self.known(p) {
                    assert_eq!(r, Err(PathError::UnknownPath));
                    return;
                }
                assert_eq!(r, Ok(()));
                if self.view(p) == View::Live {
                    self.fencing_started(p);
                }
            }
            Op::Connecting { path } => {
                let p = self.path(path);
                let t = self.input_time();
                let r = self.e.handle_connecting(t, p);
                match self.known(p).then(|| self.view(p)) {
                    None => assert_eq!(r, Err(PathError::UnknownPath)),
                    Some(View::Reconnecting) => assert_eq!(r, Ok(())),
                    Some(v) => assert!(matches!(r, Err(PathError::WrongState { .. })), "connecting in {v:?}: {r:?}"),
                }
            }
            Op::Reconnect { path, facts } => {
                let p = self.path(path);
                let facts = facts.facts();
                let t = self.input_time();
                let r = self.e.handle_reconnected(t, p, facts);
                match self.known(p).then(|| self.view(p)) {
                    None => assert_eq!(r, Err(PathError::UnknownPath)),
                    Some(View::Reconnecting) => {
                        assert_eq!(r, Ok(()));
                        assert!(self.cmds.values().all(|c| c.path != p), "reconnected with commands still held");
                        let pm = &mut self.paths[p.0 as usize];
                        pm.facts = facts;
                        pm.view = View::Live;
                    }
                    Some(v) => assert!(matches!(r, Err(PathError::WrongState { .. })), "reconnect in {v:?}: {r:?}"),
                }
            }
            Op::AddPath { facts } => {
                if self.paths.len() < MAX_PATHS {
                    self.add_path(facts.facts());
                }
            }
            Op::CcrDone { ccr, how, irs } => {
                let Some(&c) = pick(&self.ccrs, ccr) else { return };
                let status = match how % 10 {
                    0..=3 => Status::SUCCESS,
                    4 => Status::new(StatusCode::CCR_IN_PROGRESS),
                    5 => Status::new(StatusCode::CCR_LOG_PAGE_FULL),
                    6 => Status::new(StatusCode::CCR_LIMIT_EXCEEDED),
                    7 => Status::new(StatusCode::INVALID_OPCODE).with_dnr(true),
                    8 => Status::new(StatusCode::INVALID_FIELD).with_dnr(true),
                    _ => Status::new(StatusCode::new(Sct::GENERIC, how)),
                };
                let dw0 = u32::from(irs) | u32::from(how) << 8;
                let t = self.input_time();
                let r = self.e.handle_ccr_completion(t, c.id, status, dw0);
                if c.resolved {
                    assert_eq!(r, Err(CcrError::UnknownCcr), "answer to resolved {c:?}");
                    return;
                }
                assert_eq!(r, Ok(()), "answer to {c:?}");
                let i = self.ccrs.iter().position(|x| x.id == c.id).expect("listed");
                if !status.is_success() {
                    self.ccrs[i].resolved = true;
                } else if irs {
                    self.ccrs[i].resolved = true;
                    self.proven.insert((c.episode, c.source));
                }
            }
            Op::CcrUnknown { id } => {
                let t = self.input_time();
                let id = CcrId(u64::MAX - u64::from(id));
                assert_eq!(self.e.handle_ccr_completion(t, id, Status::SUCCESS, 1), Err(CcrError::UnknownCcr));
            }
            Op::Aen { path, other } => {
                let p = self.path(path);
                let dw0 = other.unwrap_or_else(|| AsyncEvent::ccr_completed().to_dw0());
                let t = self.input_time();
                let r = self.e.handle_aen(t, p, dw0);
                assert_eq!(r.is_ok(), self.known(p), "AEN on {p:?}: {r:?}");
            }
            Op::LogAnswer { read, pick: which, junk } => {
                let Some(&(id, source, _)) = pick(&self.reads, read) else { return };
                let mut entries = Vec::new();
                for (k, c) in self.ccrs.iter().enumerate().filter(|(_, c)| c.source == source && !c.resolved) {
                    let ccrs = match (which >> ((k % 8) * 2)) & 3 {
                        0 => continue,
                        1 => Ccrs::IN_PROGRESS,
                        2 => Ccrs::SUCCESS,
                        _ => Ccrs::FAILED,
                    };
                    entries.push(CcrLogEntry { icid: c.instance.cntlid, ciu: c.instance.ciu, acid: 0, ccrs, ccrf: 0 });
                }
                if let Some((icid, ciu, ccrs)) = junk {
                    entries.push(CcrLogEntry {
                        icid: u16::from(icid % 10),
                        ciu: ciu % 4,
                        acid: 0,
                        ccrs: Ccrs(ccrs % 4),
                        ccrf: 0,
                    });
                }
                let mut page = vec![0u8; CcrLogPage::buffer_len(entries.len())];
                CcrLogPage::emit(&entries, &mut page).expect("a small page");
                self.answer_read(id, &page);
            }
            Op::LogRaw { read, page } => {
                let Some(&(id, _, _)) = pick(&self.reads, read) else { return };
                self.answer_read(id, &page);
            }
            Op::LogFail { read } => {
                let Some(&(id, _, outstanding)) = pick(&self.reads, read) else { return };
                let t = self.input_time();
                let r = self.e.handle_ccr_log_failed(t, id);
                assert_eq!(r.is_ok(), outstanding, "log read {id:?} failed: {r:?}");
                self.finish_read(id);
            }
            Op::Advance { ms } => self.advance(Duration::from_millis(u64::from(ms))),
            Op::Jump { s } => self.advance(Duration::from_secs(u64::from(s))),
            Op::Timeout => {
                if let Some(t) = self.e.poll_timeout() {
                    assert!(t > self.now, "(2) timer {t:?} left armed at {:?}", self.now);
                    self.now = t;
                    self.stale = Duration::ZERO;
                    self.e.handle_timeout(t);
                }
            }
            Op::Stale { ms } => {
                self.stale = Duration::from_millis(u64::from(ms));
                return;
            }
        }
        self.drain_and_check();
    }

    /// Time moves on: the engine runs its timers at the new time (a pending `Stale` does not apply here).
    fn advance(&mut self, by: Duration) {
        self.now = self.now + by;
        self.stale = Duration::ZERO;
        self.e.handle_timeout(self.now);
    }

    fn submit(&mut self, p: PathId, token: u64, kind: CommandKind) {
        let t = self.input_time();
        let r = self.e.handle_submit(t, p, token, kind);
        if !self.known(p) {
            assert_eq!(r, Err(SubmitError::UnknownPath));
            return;
        }
        if self.view(p) != View::Live {
            assert_eq!(r, Err(SubmitError::PathNotUsable), "submission on {p:?} in {:?}", self.view(p));
            return;
        }
        assert_eq!(r, Ok(()), "submission of {token} on live {p:?}");
        self.cmds.insert(token, Cmd { path: p, kind, held: None });
        if !self.tokens.contains(&token) {
            self.tokens.push(token);
        }
    }

    /// A live path failed: its commands are held until the deadline computed here; its CCRs and reads are gone.
    fn fencing_started(&mut self, p: PathId) {
        let pm = &mut self.paths[p.0 as usize];
        pm.view = View::Fencing;
        pm.episodes += 1;
        let episode = (p, pm.episodes);
        let facts = pm.facts;
        let deadline = self.now + self.hold(&facts);
        for c in self.cmds.values_mut().filter(|c| c.path == p) {
            c.held = Some((episode, deadline));
        }
        for c in self.ccrs.iter_mut().filter(|c| c.source == p) {
            c.resolved = true;
        }
        for r in self.reads.iter_mut().filter(|r| r.1 == p) {
            r.2 = false;
        }
    }

    /// Answers log read `id` with `page` and applies what the engine must make of it.
    fn answer_read(&mut self, id: LogReadId, page: &[u8]) {
        let (source, outstanding) =
            self.reads.iter().find(|r| r.0 == id).map(|r| (r.1, r.2)).expect("a read the engine asked for");
        let t = self.input_time();
        let r = self.e.handle_ccr_log(t, id, page);
        self.finish_read(id);
        if !outstanding {
            assert_eq!(r, Err(LogError::UnknownRead), "answer to finished read {id:?}");
            return;
        }
        let parsed = CcrLogPage::new_checked(page);
        match parsed {
            Err(e) => {
                assert_eq!(r, Err(LogError::Malformed(e)));
                return;
            }
            Ok(_) => assert_eq!(r, Ok(()), "answer to read {id:?}"),
        }
        let Ok(log) = parsed else { return };
        for e in log.entries() {
            let matching: Vec<usize> = (0..self.ccrs.len())
                .filter(|&i| {
                    let c = &self.ccrs[i];
                    c.source == source && !c.resolved && c.instance.cntlid == e.icid && c.instance.ciu == e.ciu
                })
                .collect();
            assert!(
                matching.len() <= 1,
                "two unresolved CCRs with ICID+CIU ({}, {}) through {source:?}",
                e.icid,
                e.ciu
            );
            let Some(&i) = matching.first() else { continue };
            if e.ccrs == Ccrs::SUCCESS {
                self.ccrs[i].resolved = true;
                self.proven.insert((self.ccrs[i].episode, source));
            } else if e.ccrs == Ccrs::FAILED {
                self.ccrs[i].resolved = true;
            }
        }
    }

    fn finish_read(&mut self, id: LogReadId) {
        if let Some(r) = self.reads.iter_mut().find(|r| r.0 == id) {
            r.2 = false;
        }
    }

    /// Drains every output, as a driver does after an input; when the engine's timer is due already (a zero
    /// per-CCR or final-log wait arms a timer at the current time), runs it at once, as a driver that sleeps until
    /// `poll_timeout()` does; then checks (2) and (3).
    fn drain_and_check(&mut self) {
        let now = self.now;
        let mut rounds = 0;
        loop {
            self.drain();
            match self.e.poll_timeout() {
                Some(t) if t <= now => {
                    rounds += 1;
                    assert!(rounds <= 4 * MAX_PATHS + 4, "(2) timers due at {now:?} keep re-arming");
                    self.e.handle_timeout(now);
                }
                _ => break,
            }
        }
        // (2) every held command is gone by its deadline.
        for (t, c) in &self.cmds {
            if let Some((_, deadline)) = c.held {
                assert!(deadline > now, "(2) command {t} still held at {now:?}, deadline {deadline:?}");
            }
        }
        // (3) CCRs in flight through each source within its limit, by this harness's count and the engine's.
        for i in 0..self.paths.len() {
            let p = PathId(i as u32);
            let ours = self.ccrs.iter().filter(|c| c.source == p && !c.resolved).count();
            assert!(ours <= self.limit(p), "(3) {ours} CCRs in flight through {p:?}, limit {}", self.limit(p));
            assert!(self.e.ccrs_in_flight(p) <= self.limit(p), "(3) engine count above the limit for {p:?}");
        }
    }

    /// Pulls every output queue in the documented order and checks each output.
    fn drain(&mut self) {
        let now = self.now;
        while let Some(c) = self.e.poll_ccr() {
            assert!(self.known(c.source) && self.known(c.impacted), "(4) CCR names an unknown path: {c:?}");
            assert!(self.policy.uses_ccr(), "CCR under {:?}", self.policy);
            assert_eq!(self.view(c.source), View::Live, "(4) CCR through a source that is not live: {c:?}");
            assert_eq!(self.view(c.impacted), View::Fencing, "(4) CCR for a path not fencing: {c:?}");
            assert_ne!(c.source, c.impacted);
            let pm = &self.paths[c.impacted.0 as usize];
            let instance = pm.facts.instance();
            assert_eq!((c.command.icid, c.command.ciu, c.command.cirn), (instance.cntlid, instance.ciu, instance.cirn));
            assert!(self.ccrs.iter().all(|x| x.id != c.id), "CCR id reused: {c:?}");
            let episode = (c.impacted, pm.episodes);
            self.ccrs.push(SentCcr { id: c.id, source: c.source, instance, episode, resolved: false });
        }
        while let Some(r) = self.e.poll_log_read() {
            assert!(self.known(r.source), "(4) log read from an unknown path: {r:?}");
            assert_eq!(self.view(r.source), View::Live, "(4) log read from a source that is not live: {r:?}");
            assert!(r.rmc);
            assert!(self.reads.iter().all(|x| x.0 != r.id), "log read id reused: {r:?}");
            self.reads.push((r.id, r.source, true));
        }
        while let Some(r) = self.e.poll_release() {
            let c = self.cmds.remove(&r.token).unwrap_or_else(|| panic!("(4) release of unknown command {r:?}"));
            assert_eq!((c.path, c.kind), (r.from, r.kind), "(4) release does not match the command: {r:?}");
            let (episode, deadline) =
                c.held.unwrap_or_else(|| panic!("(1) release of a command that was not held: {r:?}"));
            let filtered = match self.policy {
                Policy::CcrFilter { release_admin } => match c.kind {
                    CommandKind::Read => true,
                    CommandKind::Write => false,
                    CommandKind::OtherIo { side_effects } => !side_effects,
                    CommandKind::Admin { side_effects } => release_admin && !side_effects,
                },
                _ => false,
            };
            let justified = match r.reason {
                ReleaseReason::Legacy => self.policy == Policy::Legacy,
                ReleaseReason::SideEffectFree => filtered,
                ReleaseReason::CcrSucceeded { source } => self.proven.contains(&(episode, source)),
                ReleaseReason::HoldDeadline => now >= deadline,
                ReleaseReason::NothingHeld => false,
            };
            assert!(justified, "(1) {r:?} at {now:?} without proof (deadline {deadline:?}, episode {episode:?})");
            match r.action {
                ReleaseAction::Retry { path } => {
                    assert!(self.known(path), "(4) retry on an unknown path: {r:?}");
                    assert_eq!(self.view(path), View::Live, "(4) retry on a path that is not live: {r:?}");
                    // The driver resubmits it there, as a new command.
                    self.submit(path, r.token, r.kind);
                }
                ReleaseAction::Fail { status } => {
                    assert!(self.paths.iter().all(|p| p.view != View::Live), "failed back while a path is live");
                    assert_eq!(status.code, StatusCode::HOST_PATHING_ERROR);
                }
            }
        }
        while let Some(a) = self.e.poll_path_action() {
            let PathAction::Reconnect { path } = a;
            assert!(self.known(path), "(4) reconnect of an unknown path");
            assert_eq!(self.view(path), View::Fencing, "(4) reconnect of a path not fencing: {path:?}");
            assert!(self.cmds.values().all(|c| c.path != path), "reconnect ordered with commands still held");
            self.paths[path.0 as usize].view = View::Reconnecting;
        }
        while let Some(ev) = self.e.poll_event() {
            self.check_event(&ev);
        }
    }

    fn check_event(&self, ev: &Event) {
        let paths: &[PathId] = match ev {
            Event::FencingStarted { path, instance, deadline, .. } => {
                let f = &self.paths[path.0 as usize].facts;
                assert_eq!(*instance, f.instance(), "fencing names another instance");
                assert_eq!(*deadline, self.now + self.hold(f), "the engine's hold differs from the formula");
                &[*path]
            }
            Event::CcrSent { path, source, .. }
            | Event::CcrSucceeded { path, source, .. }
            | Event::CcrFailed { path, source, .. } => &[*path, *source],
            Event::SourceCcrIncapable { source } => &[*source],
            Event::FellBackToTimer { path, .. } | Event::HoldReleased { path, .. } => &[*path],
        };
        assert!(paths.iter().all(|p| self.known(*p)), "(4) event names an unknown path: {ev:?}");
    }

    /// No more inputs: following the engine's timer, every held command is released by its deadline.
    fn finish(&mut self) {
        self.stale = Duration::ZERO;
        let mut steps = 0;
        while self.cmds.values().any(|c| c.held.is_some()) {
            let t = self.e.poll_timeout().expect("(2) commands held and no timer armed");
            assert!(t > self.now);
            self.now = t;
            self.e.handle_timeout(t);
            self.drain_and_check();
            steps += 1;
            assert!(steps < 10_000, "(2) the timer does not converge");
        }
    }
}

fn pick<T>(items: &[T], x: u8) -> Option<&T> {
    if items.is_empty() { None } else { items.get(usize::from(x) % items.len()) }
}
