//! What the engine asks of the driver, and what it reports (pulled with the `poll_*` methods).

use core::time::Duration;

use nvme_proto::cmd::{CCR_LOG_MAX_ENTRIES, CcrLogPage, CrossControllerReset, GetLogPage, Status};

use crate::facts::Instance;
use crate::hold::ReleaseReason;
use crate::policy::CommandKind;
use crate::time::Instant;
use crate::{CcrId, LogReadId, PathId};

/// Bytes of a full CCR log page (511 entries): what [`ReadCcrLog`] asks for.
pub const CCR_LOG_BYTES: u32 = CcrLogPage::buffer_len(CCR_LOG_MAX_ENTRIES) as u32;

/// Send a Cross-Controller Reset on the admin queue of `source`; report its completion with
/// [`Engine::handle_ccr_completion`](crate::Engine::handle_ccr_completion)`(id, ...)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SendCcr {
    /// The engine's name for this CCR.
    pub id: CcrId,
    /// The path to send it on.
    pub source: PathId,
    /// The fencing path it is for.
    pub impacted: PathId,
    /// The command: ICID, CIU and CIRN of the impacted instance exactly as read. `command.to_sqe(cid)` builds it.
    pub command: CrossControllerReset,
}

/// Read the CCR log page (LID 0x1E) from `source`; report the bytes with
/// [`Engine::handle_ccr_log`](crate::Engine::handle_ccr_log)`(id, ...)` or a failure with
/// [`Engine::handle_ccr_log_failed`](crate::Engine::handle_ccr_log_failed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReadCcrLog {
    /// The engine's name for this read.
    pub id: LogReadId,
    /// The path to read it from.
    pub source: PathId,
    /// Remove Completed (LSP bit 0): always set, so the log never fills up (0x40) with entries we already saw.
    pub rmc: bool,
}

impl ReadCcrLog {
    /// The Get Log Page command for this read (the full 4096-byte page).
    pub const fn command(&self) -> GetLogPage {
        GetLogPage::ccr_log(self.rmc, CCR_LOG_BYTES)
    }
}

/// What to do with a released command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReleaseAction {
    /// Submit it again on `path` (a LIVE path chosen when the release was polled: the one with the fewest
    /// outstanding commands). Any other usable path is as good; call
    /// [`Engine::handle_submit`](crate::Engine::handle_submit) for it as for a new command.
    Retry {
        /// The suggested path.
        path: PathId,
    },
    /// No path is left: complete it to its submitter with this status (Host Pathing Error, SCT 3 / SC 0x70).
    Fail {
        /// The status to complete it with.
        status: Status,
    },
}

/// A command that left the engine after its controller failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Release {
    /// The caller's token.
    pub token: u64,
    /// Its kind.
    pub kind: CommandKind,
    /// The failed path it was outstanding on.
    pub from: PathId,
    /// Why it may go now.
    pub reason: ReleaseReason,
    /// What to do with it.
    pub action: ReleaseAction,
}

/// An order about a path's association.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PathAction {
    /// Its held commands are released (FENCED): tear the association down and reconnect. Polling this moves the
    /// path to RESETTING. Report [`Engine::handle_reconnected`](crate::Engine::handle_reconnected) when a new
    /// association is live.
    Reconnect {
        /// The path.
        path: PathId,
    },
}

/// Why one CCR attempt did not lead to a success.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CcrFailure {
    /// The CCR completed with this error status (0x3F, 0x40, 0x41, Invalid Opcode, Invalid Field, ...).
    Status(nvme_proto::cmd::StatusCode),
    /// The source's CCR log reported CCRS = Failed.
    LogFailed,
    /// The per-CCR wait expired and the last log read showed no success.
    TimedOut,
    /// The source itself failed (or its log read failed) while the CCR was in flight.
    SourceFailed,
    /// The source had accepted the CCR (success, IRS = 0), but a CCR log read issued after that no longer lists it:
    /// its outcome is unknown (for example an earlier answer that removed it with RMC was lost).
    Vanished,
}

/// What happened, for logs and metrics. Nothing depends on the caller reading these, but the queue grows until it
/// does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    /// A LIVE path failed: its outstanding commands are held (LIVE -> FENCING).
    FencingStarted {
        /// The path.
        path: PathId,
        /// The instance that failed.
        instance: Instance,
        /// Commands held.
        held: usize,
        /// Commands released at once (`ccr-filter`: no side effects).
        released_at_once: usize,
        /// When the time-based hold ends.
        deadline: Instant,
    },
    /// A CCR for `path` was queued for `source` ("CCR sent via N").
    CcrSent {
        /// The fencing path.
        path: PathId,
        /// The source.
        source: PathId,
        /// The CCR.
        ccr: CcrId,
    },
    /// A CCR for `path` succeeded through `source`.
    CcrSucceeded {
        /// The fencing path.
        path: PathId,
        /// The source.
        source: PathId,
        /// The CCR.
        ccr: CcrId,
    },
    /// The current CCR for `path` through `source` failed; the next source is tried. Past the hold deadline
    /// (reported for every CCR that held the extended hold): the next untried source only when the reason is not
    /// the target's verdict ([`CcrFailure::Status`] and [`CcrFailure::LogFailed`] are), otherwise the release.
    CcrFailed {
        /// The fencing path.
        path: PathId,
        /// The source.
        source: PathId,
        /// The CCR.
        ccr: CcrId,
        /// Why.
        reason: CcrFailure,
    },
    /// `source` answered a CCR with Invalid Opcode (or, pre-TP8028, Invalid Field): no more CCRs through it until
    /// it reconnects.
    SourceCcrIncapable {
        /// The source.
        source: PathId,
    },
    /// No source is left to try for `path`: only the time-based hold can release it now.
    FellBackToTimer {
        /// The fencing path.
        path: PathId,
        /// Time left until the hold deadline.
        remaining: Duration,
    },
    /// The hold deadline of `path` passed while a CCR for the failed instance that the live `source` accepted
    /// (success, IRS = 0) or has not answered yet is still unresolved: the held commands stay held until that CCR
    /// resolves (success releases them; an error status or Failed releases them at once; its entry vanishing, a
    /// failed log read or the source failing sends the CCR through the next untried live source, if any, which then
    /// holds the same way, else releases at once), or until
    /// [`Config::accepted_ccr_limit`](crate::Config::accepted_ccr_limit). Reported once per fencing episode (the
    /// oldest such CCR).
    HoldExtendedByCcr {
        /// The fencing path.
        path: PathId,
        /// The source that accepted the CCR.
        source: PathId,
        /// The CCR.
        ccr: CcrId,
    },
    /// The hold deadline of `path` passed with no path LIVE while another path, released earlier, is reconnecting
    /// and the driver has not given it up (decision 31): the held commands stay held until a path is LIVE again (a
    /// path that comes back is asked for a CCR, unless the episode already sent its one under
    /// [`CcrSources::FirstOnly`](crate::CcrSources::FirstOnly)), until the driver gives every such path up
    /// ([`Engine::handle_path_gone`](crate::Engine::handle_path_gone)), or until
    /// [`Config::accepted_ccr_limit`](crate::Config::accepted_ccr_limit). Reported once per fencing episode.
    HoldAwaitingPath {
        /// The fencing path.
        path: PathId,
    },
    /// The held commands of `path` were released (FENCING -> FENCED).
    HoldReleased {
        /// The path.
        path: PathId,
        /// The proof.
        reason: ReleaseReason,
        /// Time since fencing started.
        after: Duration,
        /// Commands released.
        released: usize,
    },
}

impl Event {
    /// The same event with every path id (paths, sources, and the source of a CCR release reason) renamed by `f`:
    /// for a driver that reports the engine's events in its own path numbering.
    pub fn map_paths(self, f: impl Fn(PathId) -> PathId) -> Event {
        match self {
            Event::FencingStarted { path, instance, held, released_at_once, deadline } => {
                Event::FencingStarted { path: f(path), instance, held, released_at_once, deadline }
            }
            Event::CcrSent { path, source, ccr } => Event::CcrSent { path: f(path), source: f(source), ccr },
            Event::CcrSucceeded { path, source, ccr } => Event::CcrSucceeded { path: f(path), source: f(source), ccr },
            Event::CcrFailed { path, source, ccr, reason } => {
                Event::CcrFailed { path: f(path), source: f(source), ccr, reason }
            }
            Event::SourceCcrIncapable { source } => Event::SourceCcrIncapable { source: f(source) },
            Event::FellBackToTimer { path, remaining } => Event::FellBackToTimer { path: f(path), remaining },
            Event::HoldExtendedByCcr { path, source, ccr } => {
                Event::HoldExtendedByCcr { path: f(path), source: f(source), ccr }
            }
            Event::HoldAwaitingPath { path } => Event::HoldAwaitingPath { path: f(path) },
            Event::HoldReleased { path, reason, after, released } => {
                let reason = match reason {
                    ReleaseReason::CcrSucceeded { source } => ReleaseReason::CcrSucceeded { source: f(source) },
                    other => other,
                };
                Event::HoldReleased { path: f(path), reason, after, released }
            }
        }
    }
}
