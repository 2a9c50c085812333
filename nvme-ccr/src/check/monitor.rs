//! The engine monitor: a shadow model of the recovery engine's invariants, fed with the engine's inputs (and the
//! results it gave) and its outputs. See the module docs of [`check`](super) for the invariants.
//!
//! The monitor decides "proven", "deadline", "accepted", "resolved", "verdict", "untried" and "free" from what it
//! saw, never from the engine's state; the only things it reads from the engine are the answers it checks
//! ([`Monitor::settled`]: the engine's timer, its CCR count and its `accepted_ccr_pending`).
//!
//! Time moves forward only through [`Monitor::timeout`] (or an input stamped later than every earlier one, which
//! the engine handles as a timeout first): the model checker, the property test and the fuzz target all move time
//! with `handle_timeout`, and an input stamped earlier counts as the latest time seen, as in the engine.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use nvme_proto::cmd::{CcrLogPage, Ccrl, Ccrs, Status, StatusCode};

use crate::error::{CcrError, CompleteError, LogError, PathError, SubmitError};
use crate::output::{PathAction, ReadCcrLog, Release, ReleaseAction, SendCcr};
use crate::{
    CcrId, CcrSources, CommandKind, Completion, Config, ControllerFacts, Cqt, Cqt0Rule, Engine, Event, Instance,
    Instant, LogReadId, MAX_PATHS, PathId, Policy, ReleaseReason,
};

/// Which invariant a [`Violation`] breaks (numbered as in the module docs of [`check`](super)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Invariant {
    /// (1) A held command left without a proof.
    ReleaseWithoutProof,
    /// (2) A held command stayed past its deadline, or the extended hold's rules were broken.
    HoldDeadline,
    /// (3) More CCRs in flight through a source than its CCRL.
    CcrLimit,
    /// (4) An output or an input's result that does not fit the state.
    WellFormed,
}

/// The first invariant an engine broke, with what happened.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Violation {
    /// The invariant.
    pub invariant: Invariant,
    /// When (the latest time the monitor saw).
    pub at: Instant,
    /// What happened, in words.
    pub what: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = match self.invariant {
            Invariant::ReleaseWithoutProof => 1,
            Invariant::HoldDeadline => 2,
            Invariant::CcrLimit => 3,
            Invariant::WellFormed => 4,
        };
        write!(f, "({n}) at {:?}: {}", self.at.elapsed(), self.what)
    }
}

/// A fencing episode: the path and the n-th time it failed while live.
type Episode = (PathId, u32);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum View {
    Live,
    Fencing,
    /// Released, reconnect ordered (RESETTING or CONNECTING).
    Reconnecting,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct PathModel {
    facts: ControllerFacts,
    view: View,
    episodes: u32,
    /// Associations so far (a reconnect starts a new one): a CCR source is "tried" per association.
    association: u32,
    /// Answered a CCR with Invalid Opcode or Invalid Field since it last connected (the engine may have marked it
    /// CCR-incapable).
    maybe_incapable: bool,
    /// The hold deadline of its latest fencing episode.
    deadline: Instant,
    /// Given up by the driver (`handle_path_gone`) since it last connected.
    gone: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Cmd {
    path: PathId,
    kind: CommandKind,
    /// Set when its path failed: the episode and the hold deadline computed here.
    held: Option<(Episode, Instant)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct SentCcr {
    id: CcrId,
    source: PathId,
    instance: Instance,
    episode: Episode,
    /// The source answered success with IRS = 0: log reads with an id at least this were issued after that answer.
    accepted_after: Option<u64>,
}

/// How an episode's hold stands once its deadline passed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
struct Ext {
    /// A CCR held the episode when its deadline passed.
    extended: bool,
    /// The last CCR to stop holding it did so without the target's verdict.
    resume: bool,
    /// The oldest CCR that held it at the deadline, and its source (what `HoldExtendedByCcr` must name).
    holder: Option<(CcrId, PathId)>,
}

/// The engine monitor. Feed it every input with the engine's result, and every output; read
/// [`violation`](Self::violation). [`Checked`](super::Checked) does the feeding.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Monitor {
    policy: Policy,
    /// The meaning of CQT = 0 ([`Cqt0Rule::Immediate`]: a controller that reported no CQT is released without proof,
    /// the Linux RFC's unsafe rule, an opt-in baseline).
    cqt0_rule: Cqt0Rule,
    /// Which sources a fencing episode may ask ([`CcrSources::FirstOnly`]: one CCR, then the timer; no next source
    /// in decision 28's hand-over either. Decision 31's wait for a path that comes back still applies: it costs
    /// nothing, no path being live, and the path is then not asked).
    ccr_sources: CcrSources,
    fallback: Duration,
    limit: Option<Duration>,
    now: Instant,
    paths: Vec<PathModel>,
    cmds: BTreeMap<u64, Cmd>,
    /// Unresolved CCRs.
    ccrs: Vec<SentCcr>,
    /// Outstanding log reads.
    reads: Vec<(LogReadId, PathId)>,
    /// One past the largest log read id seen.
    next_read: u64,
    /// One past the largest CCR id seen.
    next_ccr: u64,
    /// Per episode of a fencing path: its deadline, the proofs delivered (sources), the sources tried (with their
    /// association), how its hold stands past the deadline.
    deadlines: BTreeMap<Episode, Instant>,
    proven: BTreeSet<(Episode, PathId)>,
    tried: BTreeSet<(Episode, PathId, u32)>,
    ext: BTreeMap<Episode, Ext>,
    violation: Option<Violation>,
}

fn ccr_limit(f: &ControllerFacts) -> usize {
    match f.ccrl {
        Ccrl::NotReported => 1,
        Ccrl::Limit(n) => usize::from(n.get()),
    }
}

impl Monitor {
    /// A monitor for an engine built with `config` and no paths yet.
    pub fn new(config: &Config) -> Self {
        Monitor {
            policy: config.policy,
            cqt0_rule: config.cqt0_rule,
            ccr_sources: config.ccr_sources,
            fallback: config.cqt_fallback,
            limit: config.accepted_ccr_limit,
            now: Instant::ZERO,
            paths: Vec::new(),
            cmds: BTreeMap::new(),
            ccrs: Vec::new(),
            reads: Vec::new(),
            next_read: 0,
            next_ccr: 0,
            deadlines: BTreeMap::new(),
            proven: BTreeSet::new(),
            tried: BTreeSet::new(),
            ext: BTreeMap::new(),
            violation: None,
        }
    }

    /// The first violation seen, if any.
    pub fn violation(&self) -> Option<&Violation> {
        self.violation.as_ref()
    }

    /// Commands the monitor counts as held now.
    pub fn held(&self) -> usize {
        self.cmds.values().filter(|c| c.held.is_some()).count()
    }

    fn fail(&mut self, invariant: Invariant, what: String) {
        if self.violation.is_none() {
            self.violation = Some(Violation { invariant, at: self.now, what });
        }
    }

    fn check(&mut self, ok: bool, invariant: Invariant, what: impl FnOnce() -> String) {
        if !ok {
            self.fail(invariant, what());
        }
    }

    fn known(&self, p: PathId) -> bool {
        (p.0 as usize) < self.paths.len()
    }

    fn view(&self, p: PathId) -> Option<View> {
        self.paths.get(p.0 as usize).map(|m| m.view)
    }

    /// The hold, computed here: `(TBKAS ? 3 : 2) x KATO + (CQT, or F when CQT is not reported)`.
    fn hold(&self, f: &ControllerFacts) -> Duration {
        if self.policy == Policy::Legacy {
            return Duration::ZERO;
        }
        let kato = f.kato.saturating_mul(if f.tbkas { 3 } else { 2 });
        let cqt = match f.cqt {
            Cqt::NotReported => self.fallback,
            Cqt::Millis(ms) => Duration::from_millis(u64::from(ms.get())),
        };
        kato.saturating_add(cqt)
    }

    fn episode_of(&self, p: PathId) -> Episode {
        (p, self.paths[p.0 as usize].episodes)
    }

    // -------------------------------------------------------------------------------------------------------------
    // Time
    // -------------------------------------------------------------------------------------------------------------

    /// Time moves to `now` (an earlier time counts as the latest seen): episodes whose deadline passed record
    /// whether a CCR held them then (what the engine's timer saw).
    fn advance(&mut self, now: Instant) {
        if now <= self.now {
            return;
        }
        self.now = now;
        let fencing: Vec<Episode> = (0..self.paths.len())
            .map(|i| PathId(i as u32))
            .filter(|&p| self.view(p) == Some(View::Fencing))
            .map(|p| self.episode_of(p))
            .collect();
        for ep in fencing {
            self.note_deadline(ep);
        }
    }

    /// If `ep`'s deadline has passed and was not noted yet, notes whether a CCR held it then.
    fn note_deadline(&mut self, ep: Episode) {
        if self.deadlines.get(&ep).is_some_and(|d| *d <= self.now) && !self.ext.contains_key(&ep) {
            let holder = self.holder(ep).map(|c| (c.id, c.source));
            self.ext.insert(ep, Ext { extended: holder.is_some(), resume: false, holder });
        }
    }

    /// `handle_timeout(now)`.
    pub fn timeout(&mut self, now: Instant) {
        self.advance(now);
    }

    // -------------------------------------------------------------------------------------------------------------
    // Inputs
    // -------------------------------------------------------------------------------------------------------------

    /// `add_controller(now, facts)` returned `result`.
    pub fn add_controller(&mut self, now: Instant, facts: ControllerFacts, result: Result<PathId, crate::PathError>) {
        self.advance(now);
        let want = if self.paths.len() < MAX_PATHS {
            Ok(PathId(self.paths.len() as u32))
        } else {
            Err(PathError::TooManyPaths)
        };
        self.check(result == want, Invariant::WellFormed, || format!("add_controller gave {result:?}, not {want:?}"));
        if result.is_ok() {
            self.paths.push(PathModel {
                facts,
                view: View::Live,
                episodes: 0,
                association: 0,
                maybe_incapable: false,
                deadline: Instant::ZERO,
                gone: false,
            });
        }
    }

    /// `handle_submit(now, path, token, kind)` returned `result`.
    pub fn submit(
        &mut self,
        now: Instant,
        path: PathId,
        token: u64,
        kind: CommandKind,
        result: Result<(), SubmitError>,
    ) {
        self.advance(now);
        let want = match self.view(path) {
            None => Err(SubmitError::UnknownPath),
            Some(View::Live) if self.cmds.contains_key(&token) => Err(SubmitError::DuplicateToken),
            Some(View::Live) => Ok(()),
            Some(_) => Err(SubmitError::PathNotUsable),
        };
        // A full table is the engine's right (u32 slots); anything else must match.
        let ok = result == want || result == Err(SubmitError::TableFull);
        self.check(ok, Invariant::WellFormed, || {
            format!("submit of {token} on {path:?} gave {result:?}, not {want:?}")
        });
        if result.is_ok() {
            self.cmds.insert(token, Cmd { path, kind, held: None });
        }
    }

    /// `handle_complete(now, path, token)` returned `result`.
    pub fn complete(&mut self, now: Instant, path: PathId, token: u64, result: Result<Completion, CompleteError>) {
        self.advance(now);
        let want = match self.cmds.get(&token) {
            None => Err(CompleteError::UnknownCommand),
            Some(c) if c.path != path => Err(CompleteError::WrongPath { path: c.path }),
            Some(c) if c.held.is_some() => Ok(Completion::Held),
            Some(_) => Ok(Completion::Deliver),
        };
        let invariant =
            if want == Ok(Completion::Held) { Invariant::ReleaseWithoutProof } else { Invariant::WellFormed };
        self.check(result == want, invariant, || {
            format!("completion of {token} on {path:?} gave {result:?}, not {want:?}")
        });
        if result == Ok(Completion::Deliver) {
            self.cmds.remove(&token);
        }
    }

    /// `handle_controller_failed(now, path, _)` returned `result`.
    pub fn controller_failed(&mut self, now: Instant, path: PathId, result: Result<(), PathError>) {
        self.advance(now);
        let want = if self.known(path) { Ok(()) } else { Err(PathError::UnknownPath) };
        self.check(result == want, Invariant::WellFormed, || format!("failure of {path:?} gave {result:?}"));
        if self.view(path) != Some(View::Live) {
            return;
        }
        // The path's earlier episode is long over (its events were drained): what was kept for it goes; CCRs of it
        // still unresolved stay, as orphans.
        let p = path;
        self.deadlines.retain(|(q, _), _| *q != p);
        self.ext.retain(|(q, _), _| *q != p);
        self.proven.retain(|((q, _), _)| *q != p);
        self.tried.retain(|((q, _), _, _)| *q != p);
        let pm = &mut self.paths[path.0 as usize];
        pm.view = View::Fencing;
        pm.episodes += 1;
        let facts = pm.facts;
        let episode = self.episode_of(path);
        let deadline = self.now + self.hold(&facts);
        self.deadlines.insert(episode, deadline);
        self.paths[path.0 as usize].deadline = deadline;
        for c in self.cmds.values_mut().filter(|c| c.path == path) {
            c.held = Some((episode, deadline));
        }
        // Its CCRs and log reads are gone with its association.
        let gone: Vec<usize> = (0..self.ccrs.len()).filter(|&j| self.ccrs[j].source == path).collect();
        for &j in &gone {
            self.holder_ended(j, false);
        }
        self.ccrs.retain(|c| c.source != path);
        self.reads.retain(|r| r.1 != path);
        // A hold of zero (KATO and CQT 0) ends as it starts: the engine's timer sees its deadline at once, before
        // any CCR of the episode exists (time does not move, so `advance` does not note it).
        self.note_deadline(episode);
    }

    /// `handle_ccr_completion(now, ccr, status, dw0)` returned `result`.
    pub fn ccr_completion(&mut self, now: Instant, ccr: CcrId, status: Status, dw0: u32, result: Result<(), CcrError>) {
        self.advance(now);
        let Some(i) = self.ccrs.iter().position(|c| c.id == ccr) else {
            self.check(result == Err(CcrError::UnknownCcr), Invariant::WellFormed, || {
                format!("answer to unknown or resolved {ccr:?} gave {result:?}")
            });
            return;
        };
        self.check(result.is_ok(), Invariant::WellFormed, || format!("answer to {ccr:?} gave {result:?}"));
        let c = self.ccrs[i];
        if [StatusCode::INVALID_OPCODE, StatusCode::INVALID_FIELD].contains(&status.code) {
            self.paths[c.source.0 as usize].maybe_incapable = true;
        }
        if !status.is_success() {
            // An error status is the target's verdict.
            self.holder_ended(i, true);
            self.ccrs.remove(i);
        } else if dw0 & 1 == 1 {
            self.holder_ended(i, true);
            self.ccrs.remove(i);
            self.proven.insert((c.episode, c.source));
        } else if c.accepted_after.is_none() {
            // Success with IRS = 0: accepted. Every read issued before this input has been seen (time moved only
            // through timeouts, and the caller drained the outputs): the next one is issued after it.
            self.ccrs[i].accepted_after = Some(self.next_read);
        }
    }

    /// `handle_aen(now, path, _)` returned `result`.
    pub fn aen(&mut self, now: Instant, path: PathId, result: Result<(), PathError>) {
        self.advance(now);
        let want = if self.known(path) { Ok(()) } else { Err(PathError::UnknownPath) };
        self.check(result == want, Invariant::WellFormed, || format!("AEN on {path:?} gave {result:?}"));
    }

    /// `handle_ccr_log(now, read, page)` returned `result`.
    pub fn ccr_log(&mut self, now: Instant, read: LogReadId, page: &[u8], result: Result<(), LogError>) {
        self.advance(now);
        let Some(k) = self.reads.iter().position(|r| r.0 == read) else {
            self.check(result == Err(LogError::UnknownRead), Invariant::WellFormed, || {
                format!("answer to finished {read:?} gave {result:?}")
            });
            return;
        };
        let source = self.reads.remove(k).1;
        let log = match CcrLogPage::new_checked(page) {
            Err(e) => {
                self.check(result == Err(LogError::Malformed(e)), Invariant::WellFormed, || {
                    format!("malformed answer to {read:?} gave {result:?}")
                });
                // A malformed answer ends nothing (decision 26): the next re-read watches the CCRs again.
                return;
            }
            Ok(log) => log,
        };
        self.check(result.is_ok(), Invariant::WellFormed, || format!("answer to {read:?} gave {result:?}"));
        // Entries match CCRs through this source by ICID + CIU.
        for e in log.entries() {
            let matching: Vec<usize> = (0..self.ccrs.len())
                .filter(|&j| {
                    let c = &self.ccrs[j];
                    c.source == source && c.instance.cntlid == e.icid && c.instance.ciu == e.ciu
                })
                .collect();
            self.check(matching.len() <= 1, Invariant::WellFormed, || {
                format!("two unresolved CCRs with ICID {} CIU {} through {source:?}", e.icid, e.ciu)
            });
            let Some(&j) = matching.first() else { continue };
            if e.ccrs == Ccrs::SUCCESS || e.ccrs == Ccrs::FAILED {
                let c = self.ccrs[j];
                // Failed is the target's verdict; so is Success.
                self.holder_ended(j, true);
                self.ccrs.remove(j);
                if e.ccrs == Ccrs::SUCCESS {
                    self.proven.insert((c.episode, source));
                }
            }
        }
        // An accepted CCR that a read issued after its acceptance does not list has vanished: it ends without a
        // verdict.
        let mut j = 0;
        while j < self.ccrs.len() {
            let c = self.ccrs[j];
            let listed = log.entries().any(|e| e.icid == c.instance.cntlid && e.ciu == c.instance.ciu);
            if c.source == source && !listed && c.accepted_after.is_some_and(|after| after <= read.0) {
                self.holder_ended(j, false);
                self.ccrs.remove(j);
            } else {
                j += 1;
            }
        }
    }

    /// `handle_ccr_log_failed(now, read)` returned `result`.
    pub fn ccr_log_failed(&mut self, now: Instant, read: LogReadId, result: Result<(), LogError>) {
        self.advance(now);
        let Some(k) = self.reads.iter().position(|r| r.0 == read) else {
            self.check(result == Err(LogError::UnknownRead), Invariant::WellFormed, || {
                format!("failure of finished {read:?} gave {result:?}")
            });
            return;
        };
        self.check(result.is_ok(), Invariant::WellFormed, || format!("failure of {read:?} gave {result:?}"));
        // A failed read ends nothing (decision 26): the source is live and the next re-read watches its CCRs again.
        self.reads.remove(k);
    }

    /// Whether `result` is what an input accepted only while `path` is reconnecting (connecting, reconnected, gone)
    /// must give: unknown path, success while reconnecting, wrong state otherwise.
    fn while_reconnecting(&self, path: PathId, result: Result<(), PathError>) -> bool {
        match self.view(path) {
            None => result == Err(PathError::UnknownPath),
            Some(View::Reconnecting) => result.is_ok(),
            Some(_) => matches!(result, Err(PathError::WrongState { .. })),
        }
    }

    /// `handle_connecting(now, path)` returned `result`.
    pub fn connecting(&mut self, now: Instant, path: PathId, result: Result<(), PathError>) {
        self.advance(now);
        let ok = self.while_reconnecting(path, result);
        self.check(ok, Invariant::WellFormed, || format!("connecting {path:?} gave {result:?}"));
    }

    /// `handle_reconnected(now, path, facts)` returned `result`.
    pub fn reconnected(&mut self, now: Instant, path: PathId, facts: ControllerFacts, result: Result<(), PathError>) {
        self.advance(now);
        let ok = self.while_reconnecting(path, result);
        self.check(ok, Invariant::WellFormed, || format!("reconnect of {path:?} gave {result:?}"));
        if result.is_ok() && self.view(path) == Some(View::Reconnecting) {
            let held = self.cmds.values().any(|c| c.path == path);
            self.check(!held, Invariant::ReleaseWithoutProof, || format!("{path:?} reconnected with commands held"));
            let pm = &mut self.paths[path.0 as usize];
            pm.facts = facts;
            pm.view = View::Live;
            pm.association += 1;
            pm.maybe_incapable = false;
            pm.gone = false;
        }
    }

    /// `handle_path_gone(now, path)` returned `result`.
    pub fn path_gone(&mut self, now: Instant, path: PathId, result: Result<(), PathError>) {
        self.advance(now);
        let ok = self.while_reconnecting(path, result);
        self.check(ok, Invariant::WellFormed, || format!("{path:?} gone gave {result:?}"));
        if result.is_ok() && self.view(path) == Some(View::Reconnecting) {
            self.paths[path.0 as usize].gone = true;
        }
    }

    /// CCR `j` (unresolved) stops holding: if it held an extended hold, record how it ended.
    fn holder_ended(&mut self, j: usize, verdict: bool) {
        let c = self.ccrs[j];
        if let Some(x) = self.ext.get_mut(&c.episode)
            && x.extended
        {
            x.resume = !verdict;
        }
    }

    // -------------------------------------------------------------------------------------------------------------
    // Outputs
    // -------------------------------------------------------------------------------------------------------------

    /// The engine asked for CCR `c` (`poll_ccr`).
    pub fn ccr(&mut self, c: &SendCcr) {
        let ok = self.known(c.source) && self.known(c.impacted);
        self.check(ok, Invariant::WellFormed, || format!("CCR names an unknown path: {c:?}"));
        if !ok {
            return;
        }
        let policy = self.policy;
        self.check(policy.uses_ccr(), Invariant::WellFormed, || format!("CCR under {policy}"));
        self.check(self.view(c.source) == Some(View::Live), Invariant::WellFormed, || {
            format!("CCR through a source that is not live: {c:?}")
        });
        self.check(self.view(c.impacted) == Some(View::Fencing), Invariant::WellFormed, || {
            format!("CCR for a path not fencing: {c:?}")
        });
        self.check(c.id.0 >= self.next_ccr, Invariant::WellFormed, || format!("CCR id reused: {c:?}"));
        self.next_ccr = self.next_ccr.max(c.id.0 + 1);
        let pm = self.paths[c.impacted.0 as usize];
        let instance = pm.facts.instance();
        let named = (c.command.icid, c.command.ciu, c.command.cirn);
        self.check(named == (instance.cntlid, instance.ciu, instance.cirn), Invariant::WellFormed, || {
            format!("CCR {c:?} does not name the failed instance {instance:?}")
        });
        let episode = self.episode_of(c.impacted);
        let association = self.paths[c.source.0 as usize].association;
        let first = self.tried.insert((episode, c.source, association));
        self.check(first, Invariant::WellFormed, || format!("second CCR through {:?} for {episode:?}", c.source));
        if self.deadlines.get(&episode).is_some_and(|d| *d <= self.now) {
            // Past the deadline only to hand over an extension whose last CCR ended without the target's verdict.
            let x = self.ext.get(&episode).copied().unwrap_or_default();
            let holder = self.holder(episode).map(|h| h.id);
            self.check(x.extended && x.resume && holder.is_none(), Invariant::HoldDeadline, || {
                format!("CCR {c:?} past the deadline of {episode:?}: {x:?}, holding CCR {holder:?}")
            });
        }
        self.ccrs.push(SentCcr { id: c.id, source: c.source, instance, episode, accepted_after: None });
    }

    /// The engine asked for log read `r` (`poll_log_read`).
    pub fn log_read(&mut self, r: &ReadCcrLog) {
        self.check(self.view(r.source) == Some(View::Live), Invariant::WellFormed, || {
            format!("log read from a source that is not live: {r:?}")
        });
        self.check(r.rmc, Invariant::WellFormed, || format!("log read without RMC: {r:?}"));
        self.check(r.id.0 >= self.next_read, Invariant::WellFormed, || format!("log read id reused: {r:?}"));
        self.next_read = self.next_read.max(r.id.0 + 1);
        self.reads.push((r.id, r.source));
    }

    /// The engine released `r` (`poll_release`).
    pub fn release(&mut self, r: &Release) {
        let now = self.now;
        let Some(c) = self.cmds.remove(&r.token) else {
            return self.fail(Invariant::WellFormed, format!("release of unknown command {r:?}"));
        };
        self.check((c.path, c.kind) == (r.from, r.kind), Invariant::WellFormed, || {
            format!("release does not match the command: {r:?}")
        });
        let Some((episode, deadline)) = c.held else {
            return self.fail(Invariant::ReleaseWithoutProof, format!("release of a command that was not held: {r:?}"));
        };
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
            // Legacy releases everything at once; the opted-in immediate CQT = 0 rule releases a controller that
            // reported no CQT without proof (as the engine's fall-back does, from the path's current facts).
            ReleaseReason::Legacy => {
                self.policy == Policy::Legacy
                    || (self.cqt0_rule == Cqt0Rule::Immediate
                        && self.paths.get(r.from.0 as usize).is_some_and(|p| p.facts.cqt == Cqt::NotReported))
            }
            ReleaseReason::SideEffectFree => filtered,
            ReleaseReason::CcrSucceeded { source } => self.proven.contains(&(episode, source)),
            ReleaseReason::HoldDeadline => now >= deadline,
            ReleaseReason::NothingHeld => false,
        };
        self.check(justified, Invariant::ReleaseWithoutProof, || {
            format!("{r:?} without proof (deadline {:?}, {episode:?})", deadline.elapsed())
        });
        if r.reason == ReleaseReason::HoldDeadline {
            let within_limit = self.limit.is_none_or(|l| now < deadline + l);
            let holder = self.holder(episode).map(|h| h.id);
            self.check(holder.is_none() || !within_limit, Invariant::HoldDeadline, || {
                format!("{r:?} on the deadline while CCR {holder:?} holds it")
            });
            let x = self.ext.get(&episode).copied().unwrap_or_default();
            if within_limit && x.extended && x.resume {
                let left = self.untried_live(episode, true);
                self.check(left.is_empty(), Invariant::HoldDeadline, || {
                    format!("{r:?} on the deadline; the last CCR ended without a verdict and {left:?} were never asked")
                });
            }
            let back = self.coming_back(episode);
            let verdict = x.extended && !x.resume;
            self.check(!within_limit || verdict || back.is_empty(), Invariant::HoldDeadline, || {
                format!("{r:?} on the deadline with no path live while {back:?} may come back (decision 31)")
            });
        }
        match r.action {
            ReleaseAction::Retry { path } => {
                self.check(self.view(path) == Some(View::Live), Invariant::WellFormed, || {
                    format!("retry on a path that is not live: {r:?}")
                });
            }
            ReleaseAction::Fail { status } => {
                let none_live = self.paths.iter().all(|p| p.view != View::Live);
                self.check(none_live && status.code == StatusCode::HOST_PATHING_ERROR, Invariant::WellFormed, || {
                    format!("failed back while a path is live, or with another status: {r:?}")
                });
            }
        }
    }

    /// The engine ordered `a` (`poll_path_action`).
    pub fn path_action(&mut self, a: &PathAction) {
        let PathAction::Reconnect { path } = *a;
        self.check(self.view(path) == Some(View::Fencing), Invariant::WellFormed, || {
            format!("reconnect of a path not fencing: {path:?}")
        });
        let held = self.cmds.values().any(|c| c.path == path);
        self.check(!held, Invariant::ReleaseWithoutProof, || format!("reconnect of {path:?} with commands still held"));
        if self.view(path) != Some(View::Fencing) {
            return;
        }
        self.paths[path.0 as usize].view = View::Reconnecting;
    }

    /// The engine reported `ev` (`poll_event`).
    pub fn event(&mut self, ev: &Event) {
        let paths: &[PathId] = match ev {
            Event::FencingStarted { path, instance, deadline, .. } => {
                if let Some(pm) = self.paths.get(path.0 as usize) {
                    let (facts, want) = (pm.facts, Some(pm.deadline));
                    self.check(*instance == facts.instance(), Invariant::WellFormed, || {
                        format!("fencing of {path:?} names {instance:?}, not {:?}", facts.instance())
                    });
                    self.check(want == Some(*deadline), Invariant::HoldDeadline, || {
                        format!("the engine's deadline {deadline:?} for {path:?} differs from the formula's {want:?}")
                    });
                }
                &[*path]
            }
            Event::CcrSent { path, source, .. }
            | Event::CcrSucceeded { path, source, .. }
            | Event::CcrFailed { path, source, .. } => &[*path, *source],
            Event::SourceCcrIncapable { source } => &[*source],
            Event::HoldExtendedByCcr { path, source, ccr } => {
                if self.known(*path) {
                    let episode = self.episode_of(*path);
                    // Events are drained last: the CCR may have stopped holding since; it held at the deadline.
                    let x = self.ext.get(&episode).copied().unwrap_or_default();
                    self.check(x.holder == Some((*ccr, *source)), Invariant::HoldDeadline, || {
                        format!("hold of {path:?} extended by {ccr:?} through {source:?}, which did not hold it: {x:?}")
                    });
                }
                &[*path, *source]
            }
            Event::HoldAwaitingPath { path } => {
                // Events are drained last (a lazy driver may feed more inputs first): what cannot have changed since
                // is that the deadline of the path's latest episode had passed.
                if let Some(pm) = self.paths.get(path.0 as usize) {
                    let (deadline, now) = (pm.deadline, self.now);
                    self.check(pm.episodes > 0 && deadline <= now, Invariant::HoldDeadline, || {
                        format!("{ev:?} reported before the hold deadline {deadline:?} (now {now:?})")
                    });
                }
                &[*path]
            }
            Event::FellBackToTimer { path, .. } | Event::HoldReleased { path, .. } => &[*path],
        };
        let known = paths.iter().all(|p| self.known(*p));
        self.check(known, Invariant::WellFormed, || format!("event names an unknown path: {ev:?}"));
    }

    // -------------------------------------------------------------------------------------------------------------
    // The settled state
    // -------------------------------------------------------------------------------------------------------------

    /// Every output of `engine` has been fed here and its timers due have run: checks (2) and (3), and the engine's
    /// answers to `accepted_ccr_pending`, `ccrs_in_flight` and `poll_timeout`.
    pub fn settled(&mut self, engine: &Engine) {
        let now = self.now;
        if let Some(t) = engine.poll_timeout() {
            self.check(t >= now, Invariant::HoldDeadline, || format!("the timer {t:?} was left armed in the past"));
        }
        let held: Vec<(u64, Cmd)> = self.cmds.iter().map(|(t, c)| (*t, *c)).collect();
        for (token, c) in held {
            let Some((episode, deadline)) = c.held else { continue };
            if deadline > now {
                continue;
            }
            let within_limit = self.limit.is_none_or(|l| now < deadline + l);
            let holder = self.holder(episode).map(|h| h.source);
            // Waiting for an untried source that is busy (none free, or a CCR would have been sent).
            // No path live and another may come back (decision 31): the hold waits for it as for a next source.
            let back = !self.coming_back(episode).is_empty();
            if within_limit
                && holder.is_none()
                && back
                && let Some(x) = self.ext.get_mut(&episode)
                && (!x.extended || x.resume)
            {
                x.extended = true;
                x.resume = true;
            }
            let x = self.ext.get(&episode).copied().unwrap_or_default();
            let next_source = x.extended
                && x.resume
                && (back || !self.untried_live(episode, false).is_empty() && self.free_untried(episode).is_empty());
            self.check((holder.is_some() || next_source) && within_limit, Invariant::HoldDeadline, || {
                format!(
                    "command {token} still held past its deadline {:?}: no CCR holds it ({x:?})",
                    deadline.elapsed()
                )
            });
            let engine_says = engine.accepted_ccr_pending(c.path);
            self.check(engine_says == holder, Invariant::HoldDeadline, || {
                format!("accepted_ccr_pending({:?}) is {engine_says:?}, the monitor says {holder:?}", c.path)
            });
        }
        for i in 0..self.paths.len() {
            let p = PathId(i as u32);
            let limit = ccr_limit(&self.paths[i].facts);
            let ours = self.ccrs.iter().filter(|c| c.source == p).count();
            let engines = engine.ccrs_in_flight(p);
            self.check(ours <= limit && engines <= limit, Invariant::CcrLimit, || {
                format!("{ours} CCRs in flight through {p:?} (engine: {engines}), limit {limit}")
            });
        }
    }

    // -------------------------------------------------------------------------------------------------------------
    // The rules of the extended hold
    // -------------------------------------------------------------------------------------------------------------

    /// The oldest unresolved CCR of `episode` that its source accepted or has not answered yet, and that still
    /// holds it.
    fn holder(&self, episode: Episode) -> Option<&SentCcr> {
        self.ccrs.iter().filter(|c| c.episode == episode).min_by_key(|c| c.id)
    }

    /// Live paths other than the episode's own that no CCR for it went through in their current association; with
    /// `capable`, only those that never answered Invalid Opcode or Invalid Field since they connected.
    fn untried_live(&self, episode: Episode, capable: bool) -> Vec<PathId> {
        if self.asked_its_one(episode) {
            return Vec::new();
        }
        (0..self.paths.len())
            .map(|i| (PathId(i as u32), &self.paths[i]))
            .filter(|(q, pm)| *q != episode.0 && pm.view == View::Live)
            .filter(|(q, pm)| !self.tried.contains(&(episode, *q, pm.association)))
            .filter(|(_, pm)| !capable || !pm.maybe_incapable)
            .map(|(q, _)| q)
            .collect()
    }

    /// Under [`CcrSources::FirstOnly`], whether the episode already sent its one CCR: no source is next then.
    fn asked_its_one(&self, episode: Episode) -> bool {
        self.ccr_sources == CcrSources::FirstOnly && self.tried.iter().any(|(e, _, _)| *e == episode)
    }

    /// Under a CCR policy, with no path live: the paths other than the episode's own that were released and are
    /// reconnecting and that the driver has not given up (decision 31).
    fn coming_back(&self, episode: Episode) -> Vec<PathId> {
        if !self.policy.uses_ccr() || self.paths.iter().any(|p| p.view == View::Live) {
            return Vec::new();
        }
        (0..self.paths.len())
            .map(|i| (PathId(i as u32), &self.paths[i]))
            .filter(|(q, pm)| *q != episode.0 && pm.view == View::Reconnecting && !pm.gone)
            .map(|(q, _)| q)
            .collect()
    }

    /// Of the capable untried live paths, those with room for a CCR for the episode by the monitor's own count:
    /// fewer unresolved CCRs than CCRL (1 when 0), none of them for the same ICID + CIU.
    fn free_untried(&self, episode: Episode) -> Vec<PathId> {
        let inst = self.paths[episode.0.0 as usize].facts.instance();
        let mut free = self.untried_live(episode, true);
        free.retain(|&q| {
            let open = self.ccrs.iter().filter(|c| c.source == q);
            let same_key = open.clone().any(|c| (c.instance.cntlid, c.instance.ciu) == (inst.cntlid, inst.ciu));
            open.count() < ccr_limit(&self.paths[q.0 as usize].facts) && !same_key
        });
        free
    }
}
