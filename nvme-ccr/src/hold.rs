//! Held commands may leave only with a proof (STYLE rule 9, [notes::ccr_cqt §7.4 and §14](crate::notes::ccr_cqt)).
//!
//! A [`ReleaseProof`] has no public constructor and no field anyone outside this module can set: the only ways
//! to get one are the checking functions below, one per reason the spec accepts. The command table
//! ([`crate::table`]) removes a held command only in exchange for a proof (or, for a command without side effects
//! under `ccr-filter`, a [`FilterProof`]), so "retry a held write before it is safe" cannot be written without
//! going through one of these checks.

use core::time::Duration;

use crate::facts::Instance;
use nvme_proto::cmd::Cqt;

use crate::policy::{CommandKind, Cqt0Rule, Policy};
use crate::time::Instant;
use crate::{CcrId, PathId};

/// Why a controller's held commands were released (reported in [`Event::HoldReleased`](crate::Event) and
/// every [`Release`](crate::Release)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReleaseReason {
    /// A CCR through `source` reset exactly the instance that failed (IRS, or a log entry with CCRS = Success).
    CcrSucceeded {
        /// The source controller's path.
        source: PathId,
    },
    /// The time-based hold, `(TBKAS ? 3 : 2) x KATO + (CQT or F)` from loss detection, has passed.
    HoldDeadline,
    /// Nothing was outstanding when the controller failed: there is nothing to protect.
    NothingHeld,
    /// Policy [`Policy::Legacy`], or the Linux RFC's CQT = 0 rule
    /// ([`Cqt0Rule::Immediate`](crate::Cqt0Rule::Immediate)) for a controller that reports no CQT: released without
    /// any proof (unsafe by design).
    Legacy,
    /// Policy [`Policy::CcrFilter`]: a command without side effects, released at fencing start.
    SideEffectFree,
}

/// One fencing episode of one controller: from its failure while LIVE until its held commands are released.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Fence {
    /// Unique across the engine's life; a CCR attempt remembers the epoch it was made for.
    pub(crate) epoch: u64,
    /// The instance that failed: the only one a CCR success may prove reset.
    pub(crate) instance: Instance,
    /// Loss detection.
    pub(crate) started: Instant,
    /// `started + hold`.
    pub(crate) deadline: Instant,
    /// Sources (bit = path index) already tried in this episode, in their current association (a source that
    /// reconnects is untried again).
    pub(crate) tried: u64,
    /// A CCR was sent in this episode, through any source, whatever became of it since: under
    /// [`CcrSources::FirstOnly`](crate::CcrSources::FirstOnly) no other is sent (a reconnect clears `tried`, not
    /// this).
    pub(crate) asked: bool,
    /// The CCR this episode waits for, if any.
    pub(crate) current: Option<CcrId>,
    /// Whether [`Event::FellBackToTimer`](crate::Event) was reported since the last CCR was sent.
    pub(crate) fell_back: bool,
    /// The deadline passed while a CCR accepted by a live source was unresolved: the hold lasts until that CCR
    /// resolves (or [`Config::accepted_ccr_limit`](crate::Config::accepted_ccr_limit)); no further source is tried.
    pub(crate) extended: bool,
    /// While `extended`: when the accepted CCRs' sources are to be read again (a lost AEN must not hang the hold).
    pub(crate) next_recheck: Instant,
    /// While `extended`: the last CCR that kept the hold stopped holding without the target's verdict (its source
    /// failed, its entry vanished, or a log read from its source failed), so the next untried live source is asked
    /// before the deadline may release (decision 28). False after an error status or CCRS = Failed.
    pub(crate) resume: bool,
    /// [`Event::HoldAwaitingPath`](crate::Event::HoldAwaitingPath) was reported in this episode (once).
    pub(crate) awaited: bool,
}

impl Fence {
    /// A new episode `epoch` of `instance`, failed at `started`, held until `deadline`: nothing tried or reported yet.
    pub(crate) fn new(epoch: u64, instance: Instance, started: Instant, deadline: Instant) -> Self {
        Fence {
            epoch,
            instance,
            started,
            deadline,
            tried: 0,
            asked: false,
            current: None,
            fell_back: false,
            extended: false,
            next_recheck: deadline,
            resume: false,
            awaited: false,
        }
    }

    pub(crate) fn remaining(&self, now: Instant) -> Duration {
        self.deadline.saturating_duration_since(now)
    }
}

/// Evidence that the held commands of one fencing episode may run again elsewhere. See the module docs.
#[derive(Debug)]
#[must_use]
pub(crate) struct ReleaseProof {
    reason: ReleaseReason,
}

impl ReleaseProof {
    /// A CCR success through `source`, if it named exactly the instance that `fence` protects and was made for
    /// this very episode (a success for an earlier episode of the same path proves nothing now).
    pub(crate) fn ccr_success(fence: &Fence, named: Instance, for_epoch: u64, source: PathId) -> Option<Self> {
        (fence.epoch == for_epoch && fence.instance == named)
            .then_some(Self { reason: ReleaseReason::CcrSucceeded { source } })
    }

    /// The hold deadline, if it has passed.
    pub(crate) fn deadline(fence: &Fence, now: Instant) -> Option<Self> {
        (now >= fence.deadline).then_some(Self { reason: ReleaseReason::HoldDeadline })
    }

    /// Nothing is held.
    pub(crate) fn nothing_held(held: usize) -> Option<Self> {
        (held == 0).then_some(Self { reason: ReleaseReason::NothingHeld })
    }

    /// The legacy policy, which needs no proof.
    pub(crate) fn legacy(policy: Policy) -> Option<Self> {
        (policy == Policy::Legacy).then_some(Self { reason: ReleaseReason::Legacy })
    }

    /// The Linux RFC's CQT = 0 rule, opted in, for a controller that reported no CQT: no proof needed (unsafe).
    pub(crate) fn cqt0_immediate(rule: Cqt0Rule, cqt: Cqt) -> Option<Self> {
        (rule == Cqt0Rule::Immediate && cqt.duration().is_none()).then_some(Self { reason: ReleaseReason::Legacy })
    }

    pub(crate) fn reason(&self) -> ReleaseReason {
        self.reason
    }
}

/// Permission to release the side-effect-free commands of a fenced controller at once (`ccr-filter` only).
#[derive(Debug)]
pub(crate) struct FilterProof {
    release_admin: bool,
}

impl FilterProof {
    pub(crate) fn new(policy: Policy) -> Option<Self> {
        match policy {
            Policy::CcrFilter { release_admin } => Some(Self { release_admin }),
            _ => None,
        }
    }

    /// Whether `kind` may go; never true for a command with side effects.
    pub(crate) fn allows(&self, kind: CommandKind) -> bool {
        !kind.has_side_effects() && kind.filtered_by(self.release_admin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fence() -> Fence {
        Fence::new(7, Instance { cntlid: 1, ciu: 2, cirn: 3 }, Instant::from_millis(0), Instant::from_millis(15_001))
    }

    #[test]
    fn ccr_success_must_name_the_exact_instance_of_this_episode() {
        let f = fence();
        let s = PathId(1);
        assert!(ReleaseProof::ccr_success(&f, f.instance, 7, s).is_some());
        assert!(ReleaseProof::ccr_success(&f, f.instance, 6, s).is_none());
        assert!(ReleaseProof::ccr_success(&f, Instance { cirn: 4, ..f.instance }, 7, s).is_none());
        assert!(ReleaseProof::ccr_success(&f, Instance { ciu: 3, ..f.instance }, 7, s).is_none());
        assert!(ReleaseProof::ccr_success(&f, Instance { cntlid: 2, ..f.instance }, 7, s).is_none());
    }

    #[test]
    fn deadline_proof_only_once_the_deadline_passed() {
        let f = fence();
        assert!(ReleaseProof::deadline(&f, Instant::from_millis(15_000)).is_none());
        assert!(ReleaseProof::deadline(&f, Instant::from_millis(15_001)).is_some());
    }

    #[test]
    fn legacy_and_filter_proofs_only_under_their_policy() {
        assert!(ReleaseProof::legacy(Policy::Legacy).is_some());
        assert!(ReleaseProof::legacy(Policy::Ccr).is_none());
        let none = nvme_proto::cmd::Cqt::from_raw(0);
        let one = nvme_proto::cmd::Cqt::from_raw(1);
        assert!(ReleaseProof::cqt0_immediate(Cqt0Rule::Immediate, none).is_some());
        assert!(ReleaseProof::cqt0_immediate(Cqt0Rule::Immediate, one).is_none());
        assert!(ReleaseProof::cqt0_immediate(Cqt0Rule::Fallback, none).is_none());
        assert!(FilterProof::new(Policy::Ccr).is_none());
        let p = FilterProof::new(Policy::CcrFilter { release_admin: false }).unwrap();
        assert!(p.allows(CommandKind::Read));
        assert!(!p.allows(CommandKind::Write));
        assert!(!p.allows(CommandKind::Admin { side_effects: false }));
        assert!(ReleaseProof::nothing_held(1).is_none());
        assert!(ReleaseProof::nothing_held(0).is_some());
    }
}
