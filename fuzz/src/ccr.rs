//! Harness of the `ccr_engine` target: the `nvme-ccr` host engine driven by an arbitrary sequence of inputs
//! (submissions, completions, failures, CCR answers, AENs, log pages well-formed or not, reconnects, time moving
//! forward in steps and jumps, and inputs stamped with an earlier time), checked after every input against a shadow
//! model kept here, independently of the engine's own code. The checks:
//!
//! 1. no held command with side effects (under `cqt` and `ccr`, no held command at all) is retried elsewhere,
//!    completed, or failed back to its submitter before a CCR success *this harness delivered* for its controller's
//!    failed instance, or its hold deadline, computed here from the facts (`(TBKAS ? 3 : 2) x KATO + (CQT or F)`);
//! 2. every held command is released or failed by its deadline (and the engine's timer never lies in the past),
//!    except while a CCR for its controller's failed instance that the source accepted (success, IRS = 0) or has
//!    not answered yet is still unresolved by anything this harness fed, or, once the engine extended the hold
//!    past the deadline, while a live path not yet sent a CCR for that episode (in its current association) is left
//!    to hand over to; and never past `accepted_ccr_limit` after the deadline, if set (nvme-ccr's decisions 24-28,
//!    spec-notes/recovery.md). Each source association gets at most one CCR per episode;
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
    limit_ms: Option<u16>,
    recheck_ms: u16,
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
    /// The source answered success with IRS = 0 (the target promised a report): the first log read id issued
    /// after that answer.
    accepted_after: Option<u64>,
    /// Whether, while unresolved, it keeps its episode's hold past the deadline: from the start (a source that
    /// has not answered may answer IRS = 1 once the teardown is done), until a failed log read from the source of
    /// an accepted one past the deadline (the host can no longer watch it).
    holds: bool,
}

struct PathModel {
    facts: ControllerFacts,
    view: View,
    episodes: u32,
    /// Associations so far (a reconnect starts a new one): a CCR source is "tried" per association.
    association: u32,
}

struct Model {
    /// Print every output (NVME_FUZZ_TRACE set), to read a crash.
    trace: bool,
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
    /// `Config::accepted_ccr_limit`.
    limit: Option<Duration>,
    /// The hold deadline of every episode, computed here.
    deadlines: HashMap<Episode, Instant>,
    /// Every (episode, source, source association) a CCR was sent for.
    tried: HashSet<(Episode, PathId, u32)>,
    /// Episodes whose hold the engine extended past the deadline (`HoldExtendedByCcr`).
    extended: HashSet<Episode>,
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
        cfg.accepted_ccr_limit = s.limit_ms.map(|ms| Duration::from_millis(u64::from(ms)));
        cfg.accepted_ccr_recheck = Duration::from_millis(u64::from(s.recheck_ms % 5_000));
        let mut m = Model {
            trace: std::env::var_os("NVME_FUZZ_TRACE").is_some(),
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
            limit: cfg.accepted_ccr_limit,
            deadlines: HashMap::new(),
            tried: HashSet::new(),
            extended: HashSet::new(),
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
        self.paths.push(PathModel { facts, view: View::Live, episodes: 0, association: 0 });
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
                        pm.association += 1;
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
                self.answer_ccr(c, status, u32::from(irs) | u32::from(how) << 8);
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
                if outstanding {
                    self.lose_watch(id);
                }
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
        self.deadlines.insert(episode, deadline);
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

    /// Completes CCR `c` with `status` and `dw0` (bit 0: IRS) and applies what the engine must make of it.
    fn answer_ccr(&mut self, c: SentCcr, status: Status, dw0: u32) {
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
        } else if dw0 & 1 == 1 {
            self.ccrs[i].resolved = true;
            self.proven.insert((c.episode, c.source));
        } else if c.accepted_after.is_none() {
            // No timer was due when this input came (the last drain ran them all), so every read issued before the
            // answer has been seen: the next one is issued after it.
            let next = self.reads.iter().map(|r| r.0.0 + 1).max().unwrap_or(0);
            self.ccrs[i].accepted_after = Some(next);
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
                self.lose_watch(id);
                return;
            }
            Ok(_) => assert_eq!(r, Ok(()), "answer to read {id:?}"),
        }
        let Ok(log) = parsed else { return };
        // An accepted CCR that a read issued after its acceptance does not list has vanished: it ends.
        for c in self.ccrs.iter_mut().filter(|c| c.source == source && !c.resolved) {
            let listed = log.entries().any(|e| e.icid == c.instance.cntlid && e.ciu == c.instance.ciu);
            if !listed && c.accepted_after.is_some_and(|after| after <= id.0) {
                c.resolved = true;
            }
        }
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

    /// Read `id` failed (or its page was malformed): past their episode's deadline, the CCRs its source accepted
    /// no longer keep the hold.
    fn lose_watch(&mut self, id: LogReadId) {
        let source = self.reads.iter().find(|r| r.0 == id).map(|r| r.1).expect("a known read");
        let now = self.now;
        for c in self.ccrs.iter_mut().filter(|c| c.source == source && !c.resolved && c.accepted_after.is_some()) {
            if self.deadlines.get(&c.episode).is_some_and(|d| now >= *d) {
                c.holds = false;
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
        // Until a pass finds every queue empty and no timer due (resubmitting a released command is an input
        // too: it may run timers and queue more outputs).
        loop {
            let polled = self.drain();
            match self.e.poll_timeout() {
                Some(t) if t <= now => {
                    rounds += 1;
                    assert!(rounds <= 4 * MAX_PATHS + 4, "(2) timers due at {now:?} keep re-arming");
                    self.e.handle_timeout(now);
                }
                _ if polled => {}
                _ => break,
            }
        }
        // (2) every held command is gone by its deadline, unless (and only until the limit past the deadline, if
        // any) a CCR of its episode still holds it, or the hold was extended and a live path not yet asked is left
        // (decision 28: the engine hands over to it).
        for (t, c) in &self.cmds {
            if let Some((episode, deadline)) = c.held
                && deadline <= now
            {
                let within_limit = self.limit.is_none_or(|l| now < deadline + l);
                let holding = self.accepted_pending(episode).is_some();
                let hand_over = self.extended.contains(&episode) && self.untried_live(episode);
                assert!(
                    within_limit && (holding || hand_over),
                    "(2) command {t} still held at {now:?}, deadline {deadline:?}: no CCR holds it \
                     (extended: {}, untried live path: {})",
                    self.extended.contains(&episode),
                    self.untried_live(episode)
                );
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

    /// Pulls every output queue in the documented order and checks each output; whether there was any.
    fn drain(&mut self) -> bool {
        let now = self.now;
        let mut polled = false;
        while let Some(c) = self.e.poll_ccr() {
            polled = true;
            if self.trace {
                eprintln!("    {c:?}");
            }
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
            // One CCR per source association and episode: a source is asked again only after it reconnected.
            let association = self.paths[c.source.0 as usize].association;
            assert!(
                self.tried.insert((episode, c.source, association)),
                "second CCR through {:?} for {episode:?}",
                c.source
            );
            self.ccrs.push(SentCcr {
                id: c.id,
                source: c.source,
                instance,
                episode,
                resolved: false,
                accepted_after: None,
                holds: true,
            });
        }
        while let Some(r) = self.e.poll_log_read() {
            polled = true;
            if self.trace {
                eprintln!("    {r:?}");
            }
            assert!(self.known(r.source), "(4) log read from an unknown path: {r:?}");
            assert_eq!(self.view(r.source), View::Live, "(4) log read from a source that is not live: {r:?}");
            assert!(r.rmc);
            assert!(self.reads.iter().all(|x| x.0 != r.id), "log read id reused: {r:?}");
            self.reads.push((r.id, r.source, true));
        }
        while let Some(r) = self.e.poll_release() {
            polled = true;
            if self.trace {
                eprintln!("    {r:?}");
            }
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
            polled = true;
            let PathAction::Reconnect { path } = a;
            assert!(self.known(path), "(4) reconnect of an unknown path");
            assert_eq!(self.view(path), View::Fencing, "(4) reconnect of a path not fencing: {path:?}");
            assert!(self.cmds.values().all(|c| c.path != path), "reconnect ordered with commands still held");
            self.paths[path.0 as usize].view = View::Reconnecting;
        }
        while let Some(ev) = self.e.poll_event() {
            polled = true;
            if self.trace {
                eprintln!("    {ev:?}");
            }
            self.check_event(&ev);
        }
        polled
    }

    /// Whether a live path other than the episode's own has not been sent a CCR for it in its current association.
    fn untried_live(&self, episode: Episode) -> bool {
        self.paths.iter().enumerate().any(|(i, pm)| {
            let p = PathId(i as u32);
            p != episode.0 && pm.view == View::Live && !self.tried.contains(&(episode, p, pm.association))
        })
    }

    /// An unresolved CCR for `episode` that its source accepted or has not answered yet, and that still holds.
    fn accepted_pending(&self, episode: Episode) -> Option<&SentCcr> {
        self.ccrs.iter().find(|c| c.episode == episode && c.holds && !c.resolved)
    }

    fn check_event(&mut self, ev: &Event) {
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
            Event::HoldExtendedByCcr { path, source, ccr } => {
                let episode = (*path, self.paths[path.0 as usize].episodes);
                let c = self.ccrs.iter().find(|c| c.id == *ccr).expect("(4) extension by an unknown CCR");
                assert!(
                    c.episode == episode && c.source == *source && c.holds && !c.resolved,
                    "hold of {path:?} extended by {c:?}, which does not hold it"
                );
                self.extended.insert(episode);
                &[*path, *source]
            }
            Event::FellBackToTimer { path, .. } | Event::HoldReleased { path, .. } => &[*path],
        };
        assert!(paths.iter().all(|p| self.known(*p)), "(4) event names an unknown path: {ev:?}");
    }

    /// No more inputs but a target that fails every CCR still unanswered (CCR Limit Exceeded) and answers every CCR
    /// log read with an empty page (the CCRs it accepted are gone): following the engine's timer, every held
    /// command is released.
    fn finish(&mut self) {
        self.stale = Duration::ZERO;
        let mut steps = 0;
        while self.cmds.values().any(|c| c.held.is_some()) {
            let unanswered: Vec<SentCcr> =
                self.ccrs.iter().filter(|c| !c.resolved && c.accepted_after.is_none()).copied().collect();
            for c in unanswered {
                self.answer_ccr(c, Status::new(StatusCode::CCR_LIMIT_EXCEEDED), 0);
                self.drain_and_check();
            }
            let open: Vec<LogReadId> = self.reads.iter().filter(|r| r.2).map(|r| r.0).collect();
            for id in open {
                self.answer_read(id, &[0u8; 8]);
                self.drain_and_check();
            }
            if self.cmds.values().all(|c| c.held.is_none()) {
                break;
            }
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
