//! Source selection: which live controller sends the next CCR for an impacted controller
//! ([notes::ccr_cqt §2, §7.3, §15](crate::notes::ccr_cqt)).

use crate::engine::{Attempt, Path};
use crate::hold::Fence;
use crate::policy::{SourceCandidate, SourceOrder};
use crate::{PathId, PathState};

/// The outcome of a selection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pick {
    /// Send the next CCR through this source.
    Source(PathId),
    /// Untried sources exist but each is busy (at its CCR limit, or still has an unresolved CCR for the same
    /// ICID + CIU, which would make log entries ambiguous): wait for one to free up.
    Wait,
    /// No untried capable live source is left.
    NoneLeft,
}

/// A source is a candidate when it is another LIVE path of the subsystem, not marked CCR-incapable, and not yet
/// tried in this fencing episode. Among candidates with room (in flight < CCRL, 1 for CCRL = 0) the lowest
/// `order` key wins, ties to the lower path id.
pub(crate) fn pick(paths: &[Path], attempts: &[Attempt], impacted: PathId, fence: &Fence, order: SourceOrder) -> Pick {
    let mut best: Option<(u64, PathId)> = None;
    let mut busy = false;
    for (i, p) in paths.iter().enumerate() {
        let id = PathId(i as u32);
        if id == impacted || p.state != PathState::Live || !p.ccr_capable || fence.tried & id.bit() != 0 {
            continue;
        }
        let same_key_unresolved = attempts.iter().any(|a| {
            a.source == id && a.instance.cntlid == fence.instance.cntlid && a.instance.ciu == fence.instance.ciu
        });
        if p.in_flight >= p.facts.ccr_limit() || same_key_unresolved {
            busy = true;
            continue;
        }
        let key = order.key(&SourceCandidate { path: id, facts: p.facts, in_flight: p.in_flight });
        if best.is_none_or(|b| (key, id) < b) {
            best = Some((key, id));
        }
    }
    match best {
        Some((_, id)) => Pick::Source(id),
        None if busy => Pick::Wait,
        None => Pick::NoneLeft,
    }
}
