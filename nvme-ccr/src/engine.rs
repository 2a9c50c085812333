//! The host recovery engine: one subsystem reached through several controllers (paths).

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::time::Duration;

use nvme_proto::cmd::{AsyncEvent, CcrLogPage, CcrResult, Ccrs, CrossControllerReset, Status, StatusCode};

use crate::error::{CcrError, CompleteError, LogError, PathError, SubmitError};
use crate::facts::{ControllerFacts, Instance};
use crate::hold::{Fence, FilterProof, ReleaseProof};
use crate::output::{CcrFailure, Event, PathAction, ReadCcrLog, Release, ReleaseAction, SendCcr};
use crate::policy::{CcrSources, CommandKind, Config};
use crate::source::{self, Pick};
use crate::table::{CommandInfo, CommandTable};
use crate::time::Instant;
use crate::{CcrId, Completion, FailureReason, LogReadId, MAX_PATHS, PathId, PathState};

/// One path: the controller currently behind it and what the engine tracks about it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Path {
    pub(crate) facts: ControllerFacts,
    pub(crate) state: PathState,
    /// Present exactly while FENCING.
    pub(crate) fence: Option<Fence>,
    /// False after Invalid Opcode (or a pre-TP8028 Invalid Field) until the path reconnects.
    pub(crate) ccr_capable: bool,
    /// CCRs in flight through this path as a source (including attempts whose fencing episode moved on).
    pub(crate) in_flight: usize,
    /// The CCR log read in flight from this path (queued or sent), at most one.
    read_in_flight: Option<LogReadId>,
    /// Another read is wanted once the one in flight is answered.
    want_read: bool,
    /// The driver gave the path up ([`Engine::handle_path_gone`]): it will not come back (decision 31).
    gone: bool,
}

/// Where one CCR attempt stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Phase {
    /// The current attempt of its episode: waiting for IRS, or the AEN and a log entry, until `until`.
    Waiting { until: Instant },
    /// The per-CCR wait expired; waiting for a log read with id >= `min_read` (issued after the expiry) until
    /// `until`.
    FinalRead { min_read: u64, until: Instant },
    /// No longer the current attempt of a live episode (it timed out, its episode ended, or its episode's hold
    /// deadline passed), or sent past the deadline (decision 28: no per-CCR wait). Still counted against the
    /// source's CCR limit until the source resolves it, and a late success still counts if its episode is still
    /// fencing.
    Orphan,
}

/// A CCR its source accepted: success with IRS = 0, so the target is tearing the impacted instance down and has
/// promised to report the outcome in its CCR log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Accepted {
    /// Log reads with an id >= this were issued after the acceptance: the CCR's entry must be in their answer
    /// (In Progress, Success or Failed); an answer without it means the entry vanished.
    after_read: u64,
}

/// One CCR sent (or queued) through a source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Attempt {
    pub(crate) id: CcrId,
    pub(crate) source: PathId,
    pub(crate) impacted: PathId,
    pub(crate) epoch: u64,
    pub(crate) instance: Instance,
    pub(crate) phase: Phase,
    /// Set when the source accepted it (success, IRS = 0).
    pub(crate) accepted: Option<Accepted>,
}

/// Whether the target itself said how a CCR ended (an error status, or CCRS = Failed), as opposed to the host losing
/// sight of it (the source failed, the entry vanished). Past the deadline, a verdict releases at
/// once; the loss of sight asks the next untried source (decision 28).
fn is_target_verdict(reason: CcrFailure) -> bool {
    match reason {
        CcrFailure::Status(_) | CcrFailure::LogFailed => true,
        CcrFailure::SourceFailed | CcrFailure::Vanished | CcrFailure::TimedOut => false,
    }
}

/// The Sans-IO host recovery engine for one subsystem reached through several controllers (one per path).
///
/// It decides when a command that was in flight on a failed path may run again elsewhere: never before a
/// Cross-Controller Reset proved the exact failed instance reset, or before the time-based hold passed
/// ([notes::ccr_cqt §14](crate::notes::ccr_cqt)), except under [`Policy::Legacy`](crate::Policy::Legacy) (the unsafe
/// baseline) and for side-effect-free commands under [`Policy::CcrFilter`](crate::Policy::CcrFilter).
///
/// # Call order
///
/// * **Inputs** (`handle_*`, [`add_controller`](Self::add_controller)) each take `now`; time never goes back
///   (an earlier `now` counts as the latest seen). Every input first runs the timers that are due at `now`, so
///   [`handle_timeout`](Self::handle_timeout) is needed only when nothing else happens; calling it early or twice
///   does nothing.
/// * **Outputs**: after any input, drain the queues in this order:
///   1. [`poll_ccr`](Self::poll_ccr): CCR commands to send,
///   2. [`poll_log_read`](Self::poll_log_read): CCR log reads to send,
///   3. [`poll_release`](Self::poll_release): commands to retry elsewhere or fail (the retry path is chosen when
///      polled, so poll these before reconnecting anything),
///   4. [`poll_path_action`](Self::poll_path_action): associations to tear down and reconnect,
///   5. [`poll_event`](Self::poll_event): what happened,
///   6. [`poll_timeout`](Self::poll_timeout): when to call [`handle_timeout`](Self::handle_timeout) next.
///
/// The queues are independent: the order above is the one that keeps a driver simple (a released command is
/// resubmitted before its old path reconnects), not a condition of correctness.
///
/// # An accepted CCR outlives the hold deadline (`ccr`, `ccr-filter`)
///
/// Once a live source has **accepted** a CCR for the failed instance of this fencing episode (the CCR completed
/// with success and IRS = 0: the target is tearing that controller down and will report the outcome), that CCR is
/// the authority: reaching the hold deadline does not release while it is unresolved, because a target reports CCR
/// success only after every command of the impacted controller has executed or been cancelled, even when it breaks
/// its CQT promise ([notes::ccr_cqt §11](crate::notes::ccr_cqt)). A CCR its live source has **not answered yet** counts
/// the same way: a target may hold the completion until the teardown is done and then answer IRS = 1
/// ([notes::ccr_cqt §3](crate::notes::ccr_cqt)), so the outstanding command is its report in progress; the driver's
/// admin command timeout, reported as a failure of the source, bounds it. At the deadline the engine reports
/// [`Event::HoldExtendedByCcr`], stops trying further sources, reads the source's CCR log at once and again every
/// [`Config::accepted_ccr_recheck`](crate::Config::accepted_ccr_recheck) (the AEN still works; the re-reads cover a
/// lost one), and releases:
///
/// * with [`ReleaseReason::CcrSucceeded`](crate::ReleaseReason::CcrSucceeded) when the CCR succeeds (IRS = 1, or the log entry reads Success), as
///   before the deadline;
/// * with [`ReleaseReason::HoldDeadline`](crate::ReleaseReason::HoldDeadline), at once, when no CCR of the episode holds any more and the last one
///   ended with the **target's verdict**: it completed with an error status, or its entry reads Failed;
/// * when the last one ended **without a verdict** (an answer to a log read issued after the acceptance no longer
///   lists it, "vanished"; the source fails, and so also before it reconnects): the CCR is sent through the next live source not yet tried in this episode (same order and
///   CCRL rules, [`Event::CcrSent`]; a busy one is waited for, its log re-read with the others), and that CCR holds
///   under the same rules, without a per-CCR wait. Only when no such source is left, with
///   [`ReleaseReason::HoldDeadline`](crate::ReleaseReason::HoldDeadline) at once;
/// * with [`ReleaseReason::HoldDeadline`](crate::ReleaseReason::HoldDeadline) at `deadline +` [`Config::accepted_ccr_limit`](crate::Config::accepted_ccr_limit)
///   when a limit is set (none by default: see that field for the trade-off).
///
/// An entry still reading In Progress keeps the hold, and so does a failed or malformed log read: the source is live,
/// the CCR is still in progress at the target as far as the host can tell, and the next re-read watches it again
/// (ending the hold there let a noncompliant target's stuck write land after the retry: `nvme-lab check
/// --noncompliant` found it). No further source is asked while a CCR holds. Before the
/// deadline nothing changes: a resolved CCR moves on to the next source, then to the timer.
/// [`Engine::accepted_ccr_pending`] tells a checker whether a path is held by an accepted CCR. `cqt` never sends
/// CCRs, so it always releases at the deadline.
///
/// # Cost
///
/// Submit and complete are O(1) (a lookup in a flat token index and an intrusive list link); fencing a path is O(1)
/// (O(outstanding) under `ccr-filter`, which must look at each command); a release is O(held), and each
/// [`poll_release`](Engine::poll_release) O(paths). Every other input is O(paths x CCRs in flight), both small. The
/// token index keeps neighbouring tokens (a counter, or queue and CID) in one cache line, so these costs stay flat
/// from a thousand commands to a million (BENCHMARKS.md). Nothing allocates per input in the steady state: the
/// command table and the output queues keep their capacity (`tests/alloc_free.rs`).
///
/// # Comparing engines
///
/// `Engine` is `Clone`, `Eq` and `Hash` (a model checker keeps engine states in a visited set): two engines are equal
/// when their logical states are, whatever the capacities, slot numbers and free lists their command tables grew
/// through. Undrained outputs and events count.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Engine {
    config: Config,
    now: Instant,
    paths: Vec<Path>,
    table: CommandTable,
    attempts: Vec<Attempt>,
    next_ccr: u64,
    next_read: u64,
    next_epoch: u64,
    next_timer: Option<Instant>,
    ccrs: VecDeque<SendCcr>,
    reads: VecDeque<ReadCcrLog>,
    actions: VecDeque<PathAction>,
    events: VecDeque<Event>,
}

impl Engine {
    /// An engine with no paths.
    pub fn new(config: Config) -> Self {
        Self::with_capacity(config, 0)
    }

    /// An engine whose command table has room for `commands` outstanding commands before it grows.
    pub fn with_capacity(config: Config, commands: usize) -> Self {
        Self {
            config,
            now: Instant::ZERO,
            paths: Vec::new(),
            table: CommandTable::with_capacity(commands),
            attempts: Vec::new(),
            next_ccr: 0,
            next_read: 0,
            next_epoch: 0,
            next_timer: None,
            ccrs: VecDeque::new(),
            reads: VecDeque::new(),
            actions: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Whether any output queue (CCRs, log reads, releases, path actions, events) holds something.
    #[cfg(feature = "check")]
    pub(crate) fn has_output(&self) -> bool {
        !self.ccrs.is_empty()
            || !self.reads.is_empty()
            || self.table.has_releases()
            || !self.actions.is_empty()
            || !self.events.is_empty()
    }

    // ---------------------------------------------------------------------------------------------------------
    // Inputs
    // ---------------------------------------------------------------------------------------------------------

    /// A controller of the subsystem became live on a new path, with its facts. Returns the path's id. A new live
    /// path is at once usable for commands and as a CCR source.
    pub fn add_controller(&mut self, now: Instant, facts: ControllerFacts) -> Result<PathId, PathError> {
        self.advance(now);
        if self.paths.len() >= MAX_PATHS {
            return Err(PathError::TooManyPaths);
        }
        let id = PathId(self.paths.len() as u32);
        self.paths.push(Path {
            facts,
            state: PathState::Live,
            fence: None,
            ccr_capable: true,
            in_flight: 0,
            read_in_flight: None,
            want_read: false,
            gone: false,
        });
        self.table.add_path();
        self.settle();
        Ok(id)
    }

    /// A command (the caller's `token`, unique among outstanding commands) was submitted on `path`, which must be
    /// usable (LIVE). O(1).
    pub fn handle_submit(
        &mut self,
        now: Instant,
        path: PathId,
        token: u64,
        kind: CommandKind,
    ) -> Result<(), SubmitError> {
        self.advance(now);
        match self.paths.get(path.index()) {
            None => Err(SubmitError::UnknownPath),
            Some(p) if p.state != PathState::Live => Err(SubmitError::PathNotUsable),
            Some(_) => self.table.insert(path, token, kind),
        }
    }

    /// A completion for `token` arrived on `path`. O(1).
    ///
    /// [`Completion::Deliver`]: the command is done, hand the completion to its submitter.
    /// [`Completion::Held`]: the path is fencing and the command is held: drop this completion (it came from an
    /// association already declared dead; see [notes::recovery](crate::notes::recovery), decision 12), the command
    /// stays held and is released later like the others.
    pub fn handle_complete(&mut self, now: Instant, path: PathId, token: u64) -> Result<Completion, CompleteError> {
        self.advance(now);
        self.table.complete(path, token)
    }

    /// `path` failed (keep-alive timeout, transport error, or command timeout). A LIVE path starts fencing: its
    /// outstanding commands are held, new commands must go to other paths, and CCRs are tried through the other
    /// live controllers. A path that is not LIVE has nothing in flight: the call does nothing.
    pub fn handle_controller_failed(
        &mut self,
        now: Instant,
        path: PathId,
        reason: FailureReason,
    ) -> Result<(), PathError> {
        let _ = reason;
        self.advance(now);
        let Some(p) = self.paths.get(path.index()) else { return Err(PathError::UnknownPath) };
        if p.state != PathState::Live {
            return Ok(());
        }
        self.drop_source(path);
        let now = self.now;
        let policy = self.config.policy;
        if let Some(proof) = ReleaseProof::legacy(policy) {
            self.paths[path.index()].state = PathState::Fencing;
            self.release(path, proof, now, now);
        } else {
            let facts = self.paths[path.index()].facts;
            let deadline = now + facts.hold(self.config.cqt_fallback);
            let fence = Fence::new(self.next_epoch, facts.instance(), now, deadline);
            self.next_epoch += 1;
            self.table.hold(path);
            let p = &mut self.paths[path.index()];
            p.state = PathState::Fencing;
            p.fence = Some(fence);
            let mut released_at_once = 0;
            if let Some(filter) = FilterProof::new(policy) {
                released_at_once = self.table.release_filtered(path, &filter);
            }
            let held = self.table.len(path);
            self.events.push_back(Event::FencingStarted {
                path,
                instance: fence.instance,
                held,
                released_at_once,
                deadline: fence.deadline,
            });
            if let Some(proof) = ReleaseProof::nothing_held(held) {
                self.release(path, proof, fence.started, now);
            } else if !policy.uses_ccr() {
                self.fall_back(path);
            }
        }
        self.settle();
        Ok(())
    }

    /// The CCR `ccr` completed with `status` and completion DW0 `dw0`.
    ///
    /// Success with IRS = 1 proves the impacted instance reset. Success with IRS = 0 means the source accepted it:
    /// the engine waits for the AEN and a log entry, past the hold deadline if need be (see the type's docs,
    /// "An accepted CCR outlives the hold deadline"). An error ends this attempt: Invalid Opcode marks the source
    /// CCR-incapable until it reconnects (so does Invalid Field from a source that reported CIU = 0 or CCRL = 0);
    /// Log Page Full (0x40) also drains the source's log; then the next source is tried.
    pub fn handle_ccr_completion(
        &mut self,
        now: Instant,
        ccr: CcrId,
        status: Status,
        dw0: u32,
    ) -> Result<(), CcrError> {
        self.advance(now);
        let Some(i) = self.attempts.iter().position(|a| a.id == ccr) else { return Err(CcrError::UnknownCcr) };
        if status.is_success() {
            // `mutant-early-release` (a deliberately broken engine, for the checkers' own tests): the acceptance
            // (IRS = 0) is taken for the teardown report.
            if CcrResult::from_dw0(dw0).irs || cfg!(feature = "mutant-early-release") {
                self.ccr_succeeded(i);
            } else if self.attempts[i].accepted.is_none() {
                self.attempts[i].accepted = Some(Accepted { after_read: self.next_read });
            }
        } else {
            let a = self.remove_attempt(i);
            let code = status.code;
            let src = &mut self.paths[a.source.index()];
            let incapable = code == StatusCode::INVALID_OPCODE
                || (code == StatusCode::INVALID_FIELD && src.facts.looks_pre_tp8028());
            if incapable && src.ccr_capable {
                src.ccr_capable = false;
                self.events.push_back(Event::SourceCcrIncapable { source: a.source });
            }
            if code == StatusCode::CCR_LOG_PAGE_FULL {
                self.request_read(a.source);
            }
            self.attempt_failed(&a, CcrFailure::Status(code));
        }
        self.settle();
        Ok(())
    }

    /// An asynchronous event completed on `path` with completion DW0 `dw0`. A CCR Completed notice (AEI 0xF4, LID
    /// 0x1E) from a source with CCRs in flight queues a log read from it; any other event is ignored here.
    pub fn handle_aen(&mut self, now: Instant, path: PathId, dw0: u32) -> Result<(), PathError> {
        self.advance(now);
        let Some(p) = self.paths.get(path.index()) else { return Err(PathError::UnknownPath) };
        let relevant = p.state == PathState::Live && self.attempts.iter().any(|a| a.source == path);
        if AsyncEvent::from_dw0(dw0).is_ccr_completed() && relevant {
            self.request_read(path);
        }
        self.settle();
        Ok(())
    }

    /// The CCR log read `read` returned `page` (at least the header and its NE entries).
    ///
    /// Entries are matched to CCRs in flight through that source by ICID + CIU (the entry has no CIRN; the engine
    /// never has two unresolved CCRs with the same ICID + CIU through one source, so the match is unambiguous).
    /// CCRS = Success proves the instance reset; Failed ends the attempt; In Progress (or an unknown CCRS value)
    /// changes nothing; unmatched entries are ignored. A CCR the source had accepted before this read was issued
    /// and that the page does not list has vanished: it ends like a failed one. A CCR whose per-CCR wait had expired
    /// and that is still not successful after this read gives up on that source. A malformed page counts as a
    /// failed read ([`handle_ccr_log_failed`](Self::handle_ccr_log_failed)).
    pub fn handle_ccr_log(&mut self, now: Instant, read: LogReadId, page: &[u8]) -> Result<(), LogError> {
        self.advance(now);
        let Some(source) = self.read_source(read) else { return Err(LogError::UnknownRead) };
        let result = match CcrLogPage::new_checked(page) {
            Ok(log) => {
                for e in log.entries() {
                    let Some(i) = self
                        .attempts
                        .iter()
                        .position(|a| a.source == source && a.instance.cntlid == e.icid && a.instance.ciu == e.ciu)
                    else {
                        continue;
                    };
                    if e.ccrs == Ccrs::SUCCESS {
                        self.ccr_succeeded(i);
                    } else if e.ccrs == Ccrs::FAILED {
                        let a = self.remove_attempt(i);
                        self.attempt_failed(&a, CcrFailure::LogFailed);
                    }
                }
                let mut i = 0;
                while i < self.attempts.len() {
                    let a = self.attempts[i];
                    let vanished = a.source == source
                        && a.accepted.is_some_and(|acc| acc.after_read <= read.0)
                        && !log.entries().any(|e| e.icid == a.instance.cntlid && e.ciu == a.instance.ciu);
                    if vanished {
                        let a = self.remove_attempt(i);
                        self.attempt_failed(&a, CcrFailure::Vanished);
                    } else {
                        i += 1;
                    }
                }
                Ok(())
            }
            Err(e) => Err(LogError::Malformed(e)),
        };
        self.finish_read(source, read);
        self.settle();
        result
    }

    /// The CCR log read `read` failed (error status, or the driver gave up on it). A CCR waiting for this read
    /// as its final check gives up on that source. Past the hold deadline, the CCRs that source accepted keep the
    /// hold (decision 26): the source is live, the target is still tearing the impacted controller down as far as
    /// the host can tell, and the next re-read ([`Config::accepted_ccr_recheck`](crate::Config::accepted_ccr_recheck))
    /// watches them again; the source failing or `accepted_ccr_limit` bounds it.
    pub fn handle_ccr_log_failed(&mut self, now: Instant, read: LogReadId) -> Result<(), LogError> {
        self.advance(now);
        let Some(source) = self.read_source(read) else { return Err(LogError::UnknownRead) };
        self.finish_read(source, read);
        self.settle();
        Ok(())
    }

    /// The driver started connecting `path` again (RESETTING -> CONNECTING). Optional: only the state name changes.
    pub fn handle_connecting(&mut self, now: Instant, path: PathId) -> Result<(), PathError> {
        self.advance(now);
        let Some(p) = self.paths.get_mut(path.index()) else { return Err(PathError::UnknownPath) };
        match p.state {
            PathState::Fenced | PathState::Resetting | PathState::Connecting => {
                p.state = PathState::Connecting;
                Ok(())
            }
            state => Err(PathError::WrongState { state }),
        }
    }

    /// `path` has a new live association with new facts (new CIU/CIRN, maybe a new CNTLID): it is LIVE again,
    /// usable for commands and as a CCR source (a CCR-incapable mark is forgotten: it may be an upgraded target).
    /// Refused while the path is LIVE or FENCING: reconnecting before the held commands are released could race
    /// with the fencing decision ([notes::ccr_cqt §15](crate::notes::ccr_cqt)).
    pub fn handle_reconnected(&mut self, now: Instant, path: PathId, facts: ControllerFacts) -> Result<(), PathError> {
        self.advance(now);
        let Some(p) = self.paths.get_mut(path.index()) else { return Err(PathError::UnknownPath) };
        match p.state {
            PathState::Fenced | PathState::Resetting | PathState::Connecting => {}
            state => return Err(PathError::WrongState { state }),
        }
        *p = Path {
            facts,
            state: PathState::Live,
            fence: None,
            ccr_capable: true,
            in_flight: 0,
            read_in_flight: None,
            want_read: false,
            gone: false,
        };
        self.actions.retain(|a| !matches!(a, PathAction::Reconnect { path: p } if *p == path));
        for q in &mut self.paths {
            if let Some(f) = &mut q.fence {
                f.tried &= !path.bit();
            }
        }
        self.settle();
        Ok(())
    }

    /// The driver gave `path` up (released and reconnecting, its `ctrl_loss_tmo` passed, or the host is stopping):
    /// it will not come back, so no hold waits for it any more (decision 31). Accepted while RESETTING or
    /// CONNECTING (after the driver polled its [`PathAction::Reconnect`]). A later
    /// [`handle_reconnected`](Self::handle_reconnected) still takes it back.
    pub fn handle_path_gone(&mut self, now: Instant, path: PathId) -> Result<(), PathError> {
        self.advance(now);
        let Some(p) = self.paths.get_mut(path.index()) else { return Err(PathError::UnknownPath) };
        match p.state {
            PathState::Resetting | PathState::Connecting => p.gone = true,
            state => return Err(PathError::WrongState { state }),
        }
        self.settle();
        Ok(())
    }

    /// Runs the timers due at `now`: hold deadlines (release, or the extension by an accepted CCR), the re-reads and
    /// the limit of an extended hold, per-CCR waits (final log read), final log reads (next source). Idempotent; an
    /// early call does nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
    }

    // ---------------------------------------------------------------------------------------------------------
    // Outputs
    // ---------------------------------------------------------------------------------------------------------

    /// The next CCR to send.
    pub fn poll_ccr(&mut self) -> Option<SendCcr> {
        self.ccrs.pop_front()
    }

    /// The next CCR log read to send.
    pub fn poll_log_read(&mut self) -> Option<ReadCcrLog> {
        self.reads.pop_front()
    }

    /// The next released command: retry it on the path named (the LIVE path with the fewest outstanding
    /// commands now), or, when no path is live, fail it with Host Pathing Error.
    pub fn poll_release(&mut self) -> Option<Release> {
        let r = self.table.pop_release()?;
        let mut best: Option<(usize, PathId)> = None;
        for (i, p) in self.paths.iter().enumerate() {
            let id = PathId(i as u32);
            if p.state == PathState::Live {
                let load = self.table.len(id);
                if best.is_none_or(|b| load < b.0) {
                    best = Some((load, id));
                }
            }
        }
        let action = match best {
            Some((_, path)) => ReleaseAction::Retry { path },
            None => ReleaseAction::Fail { status: Status::new(StatusCode::HOST_PATHING_ERROR) },
        };
        Some(Release { token: r.token, kind: r.kind, from: r.from, reason: r.reason, action })
    }

    /// The next path action. Polling a [`PathAction::Reconnect`] moves the path from FENCED to RESETTING.
    pub fn poll_path_action(&mut self) -> Option<PathAction> {
        let a = self.actions.pop_front()?;
        let PathAction::Reconnect { path } = a;
        if let Some(p) = self.paths.get_mut(path.index())
            && p.state == PathState::Fenced
        {
            p.state = PathState::Resetting;
        }
        Some(a)
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) should run next, if any timer is armed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_timer
    }

    // ---------------------------------------------------------------------------------------------------------
    // Queries
    // ---------------------------------------------------------------------------------------------------------

    /// Whether new commands may be sent on `path` (it is LIVE).
    pub fn is_usable(&self, path: PathId) -> bool {
        self.path_state(path) == Some(PathState::Live)
    }

    /// The paths new commands may be sent on, in id order.
    pub fn usable_paths(&self) -> impl Iterator<Item = PathId> + '_ {
        self.paths.iter().enumerate().filter(|(_, p)| p.state == PathState::Live).map(|(i, _)| PathId(i as u32))
    }

    /// Number of paths added so far (ids are `0..path_count()`).
    pub fn path_count(&self) -> usize {
        self.paths.len()
    }

    /// The state of `path`.
    pub fn path_state(&self, path: PathId) -> Option<PathState> {
        self.paths.get(path.index()).map(|p| p.state)
    }

    /// The facts of the controller currently behind `path`.
    pub fn facts(&self, path: PathId) -> Option<&ControllerFacts> {
        self.paths.get(path.index()).map(|p| &p.facts)
    }

    /// Outstanding commands on `path` (held ones when it is fencing).
    pub fn outstanding(&self, path: PathId) -> usize {
        self.table.len(path)
    }

    /// Held commands on `path` (0 unless it is fencing).
    pub fn held(&self, path: PathId) -> usize {
        if self.path_state(path) == Some(PathState::Fencing) { self.table.len(path) } else { 0 }
    }

    /// All commands the engine tracks.
    pub fn total_outstanding(&self) -> usize {
        self.table.total()
    }

    /// What the engine knows about command `token`.
    pub fn command(&self, token: u64) -> Option<CommandInfo> {
        self.table.info(token)
    }

    /// The time-based hold deadline of `path` (only while it is fencing): its held commands are released by then,
    /// unless a CCR accepted by a live source is still unresolved then ([`accepted_ccr_pending`](Self::accepted_ccr_pending);
    /// see the type's docs for what follows).
    pub fn hold_deadline(&self, path: PathId) -> Option<Instant> {
        self.paths.get(path.index())?.fence.map(|f| f.deadline)
    }

    /// While `path` is fencing: the source of a CCR for its failed instance (this episode) that the live source
    /// accepted (success, IRS = 0) or has not answered yet, and that is still unresolved, if any. Past the hold
    /// deadline such a CCR keeps the held commands (see the type's docs); `None` means the deadline (or a CCR
    /// success) releases them, except while the engine waits for a busy untried source after the last such CCR
    /// ended without the target's verdict. With several, the oldest CCR's source.
    pub fn accepted_ccr_pending(&self, path: PathId) -> Option<PathId> {
        self.ccr_authority(path).map(|a| a.source)
    }

    /// CCRs in flight through `source` (never more than its CCRL, 1 when CCRL = 0).
    pub fn ccrs_in_flight(&self, source: PathId) -> usize {
        self.paths.get(source.index()).map_or(0, |p| p.in_flight)
    }

    /// Whether `path` may still be used as a CCR source (false after Invalid Opcode until it reconnects).
    pub fn is_ccr_capable(&self, path: PathId) -> bool {
        self.paths.get(path.index()).is_some_and(|p| p.ccr_capable)
    }

    // ---------------------------------------------------------------------------------------------------------
    // Internals
    // ---------------------------------------------------------------------------------------------------------

    /// Moves time forward and runs the timers due.
    fn advance(&mut self, now: Instant) {
        if now > self.now {
            self.now = now;
        }
        if self.next_timer.is_none_or(|t| self.now < t) {
            return;
        }
        let now = self.now;
        self.release_due();
        let recheck = self.recheck_period();
        for i in 0..self.paths.len() {
            if let Some(f) = &mut self.paths[i].fence
                && f.extended
                && f.next_recheck <= now
            {
                f.next_recheck = now + recheck;
                self.recheck(PathId(i as u32));
            }
        }
        for i in 0..self.attempts.len() {
            match self.attempts[i].phase {
                Phase::Waiting { until } if until <= now => {
                    let a = self.attempts[i];
                    let deadline = self.paths[a.impacted.index()].fence.map_or(now, |f| f.deadline);
                    self.attempts[i].phase = Phase::FinalRead {
                        min_read: self.next_read,
                        until: deadline.min(now + self.config.final_log_wait),
                    };
                    self.request_read(a.source);
                }
                Phase::FinalRead { until, .. } if until <= now => self.give_up(i, CcrFailure::TimedOut),
                _ => {}
            }
        }
        self.settle();
    }

    /// After any change: release what is due (an extended hold whose accepted CCRs stopped holding), start the
    /// CCRs that can start, then re-arm the timer.
    fn settle(&mut self) {
        self.release_due();
        self.schedule();
        self.next_timer = self.compute_next_timer();
    }

    /// Every fence whose deadline has passed is released, unless an accepted CCR of its episode still holds it
    /// (and the limit, if any, has not passed): then the hold is extended (once). An extended hold whose last
    /// holding CCR ended without the target's verdict stays while an untried live source is left to ask.
    fn release_due(&mut self) {
        let now = self.now;
        let limit = self.config.accepted_ccr_limit;
        for i in 0..self.paths.len() {
            let path = PathId(i as u32);
            let Some(fence) = self.paths[i].fence else { continue };
            if now < fence.deadline {
                continue;
            }
            let limit_passed = limit.is_some_and(|l| now >= fence.deadline + l);
            match self.ccr_authority(path).copied() {
                Some(authority) if !limit_passed => {
                    if !fence.extended {
                        self.extend(path, &authority);
                    }
                }
                // The last CCR of the extension ended without the target's verdict and an untried live source is
                // left: it is asked next (`schedule`), or waited for while busy (decision 28).
                None if !limit_passed
                    && fence.extended
                    && fence.resume
                    && self.pick(path, &fence) != Pick::NoneLeft => {}
                // No path is live and another may still come back (decision 31): it will be an untried source, so
                // the hold goes on as an extension waiting for the next source; not after the target's verdict.
                None if !limit_passed && (!fence.extended || fence.resume) && self.awaits_comeback(path) => {
                    let next = now + self.recheck_period();
                    if let Some(f) = &mut self.paths[i].fence {
                        if !f.extended {
                            f.extended = true;
                            f.resume = true;
                            f.next_recheck = next;
                        }
                        if !f.awaited {
                            f.awaited = true;
                            self.events.push_back(Event::HoldAwaitingPath { path });
                        }
                    }
                }
                _ => {
                    if let Some(proof) = ReleaseProof::deadline(&fence, now) {
                        self.release(path, proof, fence.started, now);
                    }
                }
            }
        }
    }

    /// Whether `path`'s hold waits past its deadline for a path to come back (decision 31): a CCR policy, no path
    /// LIVE, and another path released and reconnecting (FENCED, RESETTING or CONNECTING) that the driver has not
    /// given up.
    fn awaits_comeback(&self, path: PathId) -> bool {
        self.config.policy.uses_ccr()
            && self.paths.iter().all(|p| p.state != PathState::Live)
            && self.paths.iter().enumerate().any(|(i, p)| {
                i != path.index()
                    && !p.gone
                    && matches!(p.state, PathState::Fenced | PathState::Resetting | PathState::Connecting)
            })
    }

    /// The oldest unresolved CCR (accepted or unanswered) of `path`'s current fencing episode that still holds it.
    fn ccr_authority(&self, path: PathId) -> Option<&Attempt> {
        let fence = self.paths.get(path.index())?.fence?;
        self.attempts.iter().filter(|a| a.impacted == path && a.epoch == fence.epoch).min_by_key(|a| a.id)
    }

    /// The deadline of `path` passed while `authority` holds it: report it, end the per-CCR waits of the episode
    /// (the accepted CCRs decide now, no further source is tried), and read the accepted CCRs' sources at once.
    fn extend(&mut self, path: PathId, authority: &Attempt) {
        let next = self.now + self.recheck_period();
        let Some(f) = &mut self.paths[path.index()].fence else { return };
        f.extended = true;
        f.next_recheck = next;
        let epoch = f.epoch;
        for a in &mut self.attempts {
            if a.epoch == epoch {
                a.phase = Phase::Orphan;
            }
        }
        self.events.push_back(Event::HoldExtendedByCcr { path, source: authority.source, ccr: authority.id });
        self.recheck(path);
    }

    /// Reads the CCR log of every source with a CCR that holds `path` (one read in flight per source; a read
    /// already in flight gets one follow-up). With none, while the next source is waited for (decision 28): the
    /// logs of the untried live sources that are busy, so that CCRs they accepted for others cannot keep them busy
    /// through a lost AEN.
    fn recheck(&mut self, path: PathId) {
        let Some(fence) = self.paths[path.index()].fence else { return };
        let mut sources = 0u64;
        for a in &self.attempts {
            if a.impacted == path && a.epoch == fence.epoch {
                sources |= a.source.bit();
            }
        }
        if sources == 0 && fence.resume {
            for (i, p) in self.paths.iter().enumerate() {
                let id = PathId(i as u32);
                let untried = id != path && fence.tried & id.bit() == 0;
                if untried && p.state == PathState::Live && p.ccr_capable && p.in_flight > 0 {
                    sources |= id.bit();
                }
            }
        }
        for i in 0..self.paths.len() {
            let source = PathId(i as u32);
            if sources & source.bit() != 0 {
                self.request_read(source);
            }
        }
    }

    fn recheck_period(&self) -> Duration {
        self.config.accepted_ccr_recheck.max(Duration::from_millis(1))
    }

    fn compute_next_timer(&self) -> Option<Instant> {
        let limit = self.config.accepted_ccr_limit;
        let deadlines = self.paths.iter().filter_map(|p| p.fence).map(|f| match (f.extended, limit) {
            (false, _) => f.deadline,
            (true, None) => f.next_recheck,
            (true, Some(l)) => f.next_recheck.min(f.deadline + l),
        });
        let waits = self.attempts.iter().filter_map(|a| match a.phase {
            Phase::Waiting { until } | Phase::FinalRead { until, .. } => Some(until),
            Phase::Orphan => None,
        });
        deadlines.chain(waits).min()
    }

    /// Starts a CCR for every fencing path that has none in flight and a source with room, oldest fence first.
    fn schedule(&mut self) {
        if !self.config.policy.uses_ccr() {
            return;
        }
        let mut order = [(Instant::ZERO, 0u32); MAX_PATHS];
        let mut n = 0;
        for (i, p) in self.paths.iter().enumerate() {
            let Some(f) = p.fence else { continue };
            // Before the deadline: when no attempt is current. Past it (extended): only when the last CCR that held
            // ended without the target's verdict and none holds now (decision 28).
            let wants = if f.extended {
                f.resume && self.ccr_authority(PathId(i as u32)).is_none()
            } else {
                f.current.is_none()
            };
            if wants {
                order[n] = (f.started, i as u32);
                n += 1;
            }
        }
        let order = &mut order[..n];
        order.sort_unstable();
        for &(_, i) in order.iter() {
            let impacted = PathId(i);
            let Some(fence) = self.paths[impacted.index()].fence else { continue };
            match self.pick(impacted, &fence) {
                Pick::Source(source) => self.send_ccr(impacted, source),
                Pick::Wait => {}
                // Past the deadline `release_due` has released it already.
                Pick::NoneLeft => {
                    if !fence.fell_back && !fence.extended {
                        self.fall_back(impacted);
                    }
                }
            }
        }
    }

    /// The next source for `impacted`: none once a CCR was sent in the episode under [`CcrSources::FirstOnly`].
    fn pick(&self, impacted: PathId, fence: &Fence) -> Pick {
        if self.config.ccr_sources == CcrSources::FirstOnly && fence.asked {
            return Pick::NoneLeft;
        }
        source::pick(&self.paths, &self.attempts, impacted, fence, self.config.source_order)
    }

    /// No CCR (left) for `path`: the time-based hold decides, reported once; under [`Cqt0Rule::Immediate`] a
    /// controller that reported no CQT is released at once instead (the Linux RFC, unsafe).
    fn fall_back(&mut self, path: PathId) {
        let now = self.now;
        let cqt = self.paths[path.index()].facts.cqt;
        if let Some(f) = &mut self.paths[path.index()].fence {
            f.fell_back = true;
            let remaining = f.remaining(now);
            let started = f.started;
            self.events.push_back(Event::FellBackToTimer { path, remaining });
            if let Some(proof) = ReleaseProof::cqt0_immediate(self.config.cqt0_rule, cqt) {
                self.release(path, proof, started, now);
            }
        }
    }

    fn send_ccr(&mut self, impacted: PathId, source: PathId) {
        let now = self.now;
        let id = CcrId(self.next_ccr);
        self.next_ccr += 1;
        let facts = self.paths[impacted.index()].facts;
        let wait = self.config.ccr_wait.duration(&facts, self.config.cqt_fallback);
        let Some(fence) = &mut self.paths[impacted.index()].fence else { return };
        fence.tried |= source.bit();
        fence.asked = true;
        fence.current = Some(id);
        fence.fell_back = false;
        let (epoch, instance) = (fence.epoch, fence.instance);
        // Past the deadline (decision 28) there is no per-CCR wait: the CCR holds until it resolves.
        let phase =
            if fence.extended { Phase::Orphan } else { Phase::Waiting { until: fence.deadline.min(now + wait) } };
        self.attempts.push(Attempt { id, source, impacted, epoch, instance, phase, accepted: None });
        self.paths[source.index()].in_flight += 1;
        let command = CrossControllerReset { icid: instance.cntlid, ciu: instance.ciu, cirn: instance.cirn };
        self.ccrs.push_back(SendCcr { id, source, impacted, command });
        self.events.push_back(Event::CcrSent { path: impacted, source, ccr: id });
    }

    /// Releases every held command of `path` with `proof`; the path becomes FENCED and is to be reconnected.
    fn release(&mut self, path: PathId, proof: ReleaseProof, started: Instant, now: Instant) {
        let reason = proof.reason();
        let released = self.table.release_all(path, proof);
        let p = &mut self.paths[path.index()];
        let epoch = p.fence.take().map(|f| f.epoch);
        p.state = PathState::Fenced;
        for a in &mut self.attempts {
            if Some(a.epoch) == epoch {
                a.phase = Phase::Orphan;
            }
        }
        self.actions.push_back(PathAction::Reconnect { path });
        self.events.push_back(Event::HoldReleased {
            path,
            reason,
            after: now.saturating_duration_since(started),
            released,
        });
    }

    /// Attempt `i` succeeded: if its episode is still fencing the exact instance it named, release.
    fn ccr_succeeded(&mut self, i: usize) {
        let a = self.remove_attempt(i);
        let Some(fence) = self.paths[a.impacted.index()].fence else { return };
        if let Some(proof) = ReleaseProof::ccr_success(&fence, a.instance, a.epoch, a.source) {
            self.events.push_back(Event::CcrSucceeded { path: a.impacted, source: a.source, ccr: a.id });
            self.release(a.impacted, proof, fence.started, self.now);
        }
    }

    /// Attempt `a` (already removed) failed: if it was its episode's current attempt, the next source is tried
    /// (before the deadline). If it held an extended hold, how it ended decides what follows once no CCR holds
    /// (decision 28): the next untried source without the target's verdict, the release with one.
    fn attempt_failed(&mut self, a: &Attempt, reason: CcrFailure) {
        if let Some(f) = &mut self.paths[a.impacted.index()].fence
            && f.epoch == a.epoch
            && f.extended
        {
            f.resume = !is_target_verdict(reason);
        }
        self.report_failure(a, reason);
    }

    /// Attempt `a` stops being its episode's current attempt. The failure is reported for the current attempt, and
    /// for any attempt of an extended hold (the release that may follow needs its reason in the logs).
    fn report_failure(&mut self, a: &Attempt, reason: CcrFailure) {
        if let Some(f) = &mut self.paths[a.impacted.index()].fence
            && f.epoch == a.epoch
        {
            let current = f.current == Some(a.id);
            if current {
                f.current = None;
            }
            if current || f.extended {
                self.events.push_back(Event::CcrFailed { path: a.impacted, source: a.source, ccr: a.id, reason });
            }
        }
    }

    /// Attempt `i` stops being its episode's current attempt but stays counted against its source.
    fn give_up(&mut self, i: usize, reason: CcrFailure) {
        self.attempts[i].phase = Phase::Orphan;
        let a = self.attempts[i];
        self.report_failure(&a, reason);
    }

    fn remove_attempt(&mut self, i: usize) -> Attempt {
        let a = self.attempts.swap_remove(i);
        let src = &mut self.paths[a.source.index()];
        src.in_flight = src.in_flight.saturating_sub(1);
        a
    }

    /// `path` stops being a source: its CCRs and log reads are gone with its association.
    fn drop_source(&mut self, path: PathId) {
        let mut i = 0;
        while i < self.attempts.len() {
            if self.attempts[i].source == path {
                let a = self.remove_attempt(i);
                self.attempt_failed(&a, CcrFailure::SourceFailed);
            } else {
                i += 1;
            }
        }
        let p = &mut self.paths[path.index()];
        p.read_in_flight = None;
        p.want_read = false;
        self.ccrs.retain(|c| c.source != path);
        self.reads.retain(|r| r.source != path);
    }

    fn request_read(&mut self, source: PathId) {
        let p = &mut self.paths[source.index()];
        if p.read_in_flight.is_some() {
            p.want_read = true;
            return;
        }
        let id = LogReadId(self.next_read);
        self.next_read += 1;
        p.read_in_flight = Some(id);
        self.reads.push_back(ReadCcrLog { id, source, rmc: true });
    }

    fn read_source(&self, read: LogReadId) -> Option<PathId> {
        let i = self.paths.iter().position(|p| p.read_in_flight == Some(read))?;
        Some(PathId(i as u32))
    }

    /// Read `read` from `source` is answered (or failed): final reads it covers give up on that source, and a
    /// wanted follow-up read is issued.
    fn finish_read(&mut self, source: PathId, read: LogReadId) {
        for i in 0..self.attempts.len() {
            if let Phase::FinalRead { min_read, .. } = self.attempts[i].phase
                && self.attempts[i].source == source
                && min_read <= read.0
            {
                self.give_up(i, CcrFailure::TimedOut);
            }
        }
        let p = &mut self.paths[source.index()];
        p.read_in_flight = None;
        if core::mem::take(&mut p.want_read) {
            self.request_read(source);
        }
    }
}
