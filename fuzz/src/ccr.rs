//! Harness of the `ccr_engine` target: the `nvme-ccr` host engine driven by an arbitrary sequence of inputs
//! (submissions, completions, failures, CCR answers, AENs, log pages well-formed or not, reconnects, time moving
//! forward in steps and jumps, and inputs stamped with an earlier time), checked after every input by nvme-ccr's
//! invariant monitor ([`nvme_ccr::check::Checked`]: the engine with its [`Monitor`](nvme_ccr::check::Monitor) in
//! front, the one statement of the invariants that the property test, the model checker and this target share):
//! (1) no release without proof, (2) every held command released by its deadline unless the extended-hold rules
//! allow it, (3) CCRL honoured, (4) well-formed outputs and the result every input calls for. The harness keeps only
//! what it needs to aim its inputs (outstanding tokens, CCRs sent, log reads asked for); it judges nothing itself
//! except that a driver following the engine's timer reaches a state where nothing is held.
//!
//! `legacy` (the unsafe baseline) is driven too: the monitor's (1) for it is "released at once, reason Legacy".
//! Also included by `benches/tests/fuzz_corpus.rs`.

use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use nvme_ccr::check::Checked;
use nvme_ccr::{
    CcrId, CcrWait, Ccrl, CommandKind, Config, ControllerFacts, Cqt, FailureReason, Instant, LogReadId, PathId, Policy,
    ReleaseAction, SourceCandidate, SourceOrder,
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

/// A CCR the engine asked for, as the harness remembers it to answer it.
#[derive(Clone, Copy, Debug)]
struct SentCcr {
    id: CcrId,
    source: PathId,
    /// ICID and CIU the CCR named (its log entries carry them).
    key: (u16, u8),
    /// The harness answered it (with anything) or its source failed: the harness's guess that it is over. A wrong
    /// guess only makes the engine refuse an input, and the monitor checks that refusal too.
    resolved: bool,
}

struct Model {
    /// Print every output (NVME_FUZZ_TRACE set), to read a crash.
    trace: bool,
    e: Checked,
    now: Instant,
    stale: Duration,
    paths: usize,
    /// Tokens ever submitted (completions of gone ones are inputs too).
    tokens: Vec<u64>,
    next_token: u64,
    ccrs: Vec<SentCcr>,
    /// Every read asked for, and whether the harness has not answered it yet.
    reads: Vec<(LogReadId, PathId, bool)>,
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
            e: Checked::new(cfg),
            now: Instant::ZERO,
            stale: Duration::ZERO,
            paths: 0,
            tokens: Vec::new(),
            next_token: 0,
            ccrs: Vec::new(),
            reads: Vec::new(),
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
        PathId(u32::from(x) % (self.paths as u32 + 1))
    }

    fn add_path(&mut self, facts: ControllerFacts) {
        let t = self.input_time();
        if self.e.add_controller(t, facts).is_ok() {
            self.paths += 1;
        }
    }

    /// The source of every CCR and log read of `p` lost them when it failed (the harness's guess).
    fn source_failed(&mut self, p: PathId) {
        for c in self.ccrs.iter_mut().filter(|c| c.source == p) {
            c.resolved = true;
        }
        for r in self.reads.iter_mut().filter(|r| r.1 == p) {
            r.2 = false;
        }
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
                // A token still outstanding (a driver bug): the engine must refuse it (the monitor checks how).
                if let Some(&token) = pick(&self.tokens, cmd)
                    && let Some(c) = self.e.command(token)
                {
                    let t = self.input_time();
                    let _ = self.e.handle_submit(t, c.path, token, c.kind);
                }
            }
            Op::Complete { cmd, wrong_path } => {
                let Some(&token) = pick(&self.tokens, cmd) else { return };
                let t = self.input_time();
                let path = self.e.command(token).map_or(PathId(0), |c| c.path);
                let p = if wrong_path { PathId((path.0 + 1) % self.paths.max(1) as u32) } else { path };
                let _ = self.e.handle_complete(t, p, token);
            }
            Op::CompleteUnknown { token } => {
                let token = u64::MAX - u64::from(token);
                let t = self.input_time();
                let _ = self.e.handle_complete(t, PathId(0), token);
            }
            Op::Fail { path, reason } => {
                let p = self.path(path);
                let reason =
                    [FailureReason::KeepAliveTimeout, FailureReason::TransportError, FailureReason::CommandTimeout]
                        [usize::from(reason % 3)];
                let t = self.input_time();
                let live = self.e.is_usable(p);
                if self.e.handle_controller_failed(t, p, reason).is_ok() && live {
                    self.source_failed(p);
                }
            }
            Op::Connecting { path } => {
                let p = self.path(path);
                let t = self.input_time();
                let _ = self.e.handle_connecting(t, p);
            }
            Op::Reconnect { path, facts } => {
                let p = self.path(path);
                let t = self.input_time();
                let _ = self.e.handle_reconnected(t, p, facts.facts());
            }
            Op::AddPath { facts } => {
                if self.paths < MAX_PATHS {
                    self.add_path(facts.facts());
                }
            }
            Op::CcrDone { ccr, how, irs } => {
                let Some(i) = pick_index(self.ccrs.len(), ccr) else { return };
                let status = match how % 10 {
                    0..=3 => Status::SUCCESS,
                    4 => Status::new(StatusCode::CCR_IN_PROGRESS),
                    5 => Status::new(StatusCode::CCR_LOG_PAGE_FULL),
                    6 => Status::new(StatusCode::CCR_LIMIT_EXCEEDED),
                    7 => Status::new(StatusCode::INVALID_OPCODE).with_dnr(true),
                    8 => Status::new(StatusCode::INVALID_FIELD).with_dnr(true),
                    _ => Status::new(StatusCode::new(Sct::GENERIC, how)),
                };
                self.answer_ccr(i, status, u32::from(irs) | u32::from(how) << 8);
            }
            Op::CcrUnknown { id } => {
                let t = self.input_time();
                let id = CcrId(u64::MAX - u64::from(id));
                let _ = self.e.handle_ccr_completion(t, id, Status::SUCCESS, 1);
            }
            Op::Aen { path, other } => {
                let p = self.path(path);
                let dw0 = other.unwrap_or_else(|| AsyncEvent::ccr_completed().to_dw0());
                let t = self.input_time();
                let _ = self.e.handle_aen(t, p, dw0);
            }
            Op::LogAnswer { read, pick: which, junk } => {
                let Some(k) = pick_index(self.reads.len(), read) else { return };
                let source = self.reads[k].1;
                let mut entries = Vec::new();
                let mut terminal = Vec::new();
                for (j, c) in self.ccrs.iter().enumerate().filter(|(_, c)| c.source == source && !c.resolved) {
                    // Not listed (0): an accepted CCR vanishes from a read issued after its acceptance.
                    let ccrs = match (which >> ((j % 8) * 2)) & 3 {
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
                if self.answer_read(k, &page) {
                    for j in terminal {
                        self.ccrs[j].resolved = true;
                    }
                }
            }
            Op::LogRaw { read, page } => {
                let Some(k) = pick_index(self.reads.len(), read) else { return };
                self.answer_read(k, &page);
            }
            Op::LogFail { read } => {
                let Some(k) = pick_index(self.reads.len(), read) else { return };
                let t = self.input_time();
                let _ = self.e.handle_ccr_log_failed(t, self.reads[k].0);
                self.reads[k].2 = false;
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
        self.drain();
        self.e.assert_ok();
    }

    /// Time moves on: the engine runs its timers at the new time (a pending `Stale` does not apply here).
    fn advance(&mut self, by: Duration) {
        self.now = self.now + by;
        self.stale = Duration::ZERO;
        self.e.handle_timeout(self.now);
    }

    fn submit(&mut self, p: PathId, token: u64, kind: CommandKind) {
        let t = self.input_time();
        if self.e.handle_submit(t, p, token, kind).is_ok() && !self.tokens.contains(&token) {
            self.tokens.push(token);
        }
    }

    /// Completes the `i`-th CCR with `status` and `dw0` (bit 0: IRS).
    fn answer_ccr(&mut self, i: usize, status: Status, dw0: u32) {
        let t = self.input_time();
        if self.e.handle_ccr_completion(t, self.ccrs[i].id, status, dw0).is_ok()
            && (!status.is_success() || dw0 & 1 == 1)
        {
            self.ccrs[i].resolved = true;
        }
    }

    /// Answers the `k`-th log read with `page`; whether the engine took it.
    fn answer_read(&mut self, k: usize, page: &[u8]) -> bool {
        let t = self.input_time();
        let r = self.e.handle_ccr_log(t, self.reads[k].0, page);
        self.reads[k].2 = false;
        r.is_ok()
    }

    /// Drains every output, as a driver does after an input (the monitor checks each); resubmits each command
    /// released for a retry on its new path; when the engine's timer is due already (a zero per-CCR or final-log
    /// wait arms a timer at the current time), runs it at once, as a driver that sleeps until `poll_timeout()` does.
    fn drain(&mut self) {
        let now = self.now;
        let mut rounds = 0;
        // Until a pass finds every queue empty and no timer due (resubmitting a released command is an input
        // too: it may run timers and queue more outputs).
        loop {
            let polled = self.drain_once();
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
    }

    /// Pulls every output queue once in the documented order; whether there was any.
    fn drain_once(&mut self) -> bool {
        let mut polled = false;
        while let Some(c) = self.e.poll_ccr() {
            polled = true;
            if self.trace {
                eprintln!("    {c:?}");
            }
            self.ccrs.push(SentCcr {
                id: c.id,
                source: c.source,
                key: (c.command.icid, c.command.ciu),
                resolved: false,
            });
        }
        while let Some(r) = self.e.poll_log_read() {
            polled = true;
            if self.trace {
                eprintln!("    {r:?}");
            }
            self.reads.push((r.id, r.source, true));
        }
        while let Some(r) = self.e.poll_release() {
            polled = true;
            if self.trace {
                eprintln!("    {r:?}");
            }
            if let ReleaseAction::Retry { path } = r.action {
                // The driver resubmits it there, as a new command.
                self.submit(path, r.token, r.kind);
            }
        }
        while self.e.poll_path_action().is_some() {
            polled = true;
        }
        while let Some(ev) = self.e.poll_event() {
            polled = true;
            if self.trace {
                eprintln!("    {ev:?}");
            }
        }
        polled
    }

    /// Commands the monitor counts as held.
    fn held(&self) -> usize {
        self.e.monitor().map_or(0, |m| m.held())
    }

    /// No more inputs but a target that fails every CCR the harness has not answered (CCR Limit Exceeded) and
    /// answers every CCR log read with an empty page (the CCRs it accepted are gone), and a driver that gives up
    /// every path it is reconnecting (its `ctrl_loss_tmo` passed; decision 31: with no path live a hold waits for
    /// one that may come back): following the engine's timer, every held command is released (the monitor checks
    /// each step).
    fn finish(&mut self) {
        self.stale = Duration::ZERO;
        let mut steps = 0;
        while self.held() > 0 {
            for p in 0..self.paths {
                // Refused (WrongState) unless the path is reconnecting; the monitor checks either answer.
                let _ = self.e.handle_path_gone(self.now, PathId(p as u32));
                self.drain();
                self.e.assert_ok();
            }
            for i in 0..self.ccrs.len() {
                if !self.ccrs[i].resolved {
                    self.answer_ccr(i, Status::new(StatusCode::CCR_LIMIT_EXCEEDED), 0);
                    self.drain();
                    self.e.assert_ok();
                }
            }
            for k in 0..self.reads.len() {
                if self.reads[k].2 {
                    self.answer_read(k, &[0u8; 8]);
                    self.drain();
                    self.e.assert_ok();
                }
            }
            if self.held() == 0 {
                break;
            }
            let t = self.e.poll_timeout().expect("(2) commands held and no timer armed");
            assert!(t > self.now);
            self.now = t;
            self.e.handle_timeout(t);
            self.drain();
            self.e.assert_ok();
            steps += 1;
            assert!(steps < 10_000, "(2) the timer does not converge");
        }
    }
}

fn pick<T>(items: &[T], x: u8) -> Option<&T> {
    pick_index(items.len(), x).map(|i| &items[i])
}

fn pick_index(len: usize, x: u8) -> Option<usize> {
    if len == 0 { None } else { Some(usize::from(x) % len) }
}
