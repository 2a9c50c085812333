//! Knobs: the recovery policy, the per-CCR wait, the source order, and what a command is
//! ([notes::ccr_cqt §7, §9, §12](crate::notes::ccr_cqt)).

use core::fmt;
use core::str::FromStr;
use core::time::Duration;

use crate::PathId;
use crate::facts::{ControllerFacts, cqt_or_fallback};
use nvme_proto::cmd::{AdminCommand, Command, IoCommand};

/// How the host recovers the commands that were in flight on a controller that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Policy {
    /// Retry (or fail) every outstanding command at once, as hosts do today. **Unsafe**: a write still queued
    /// in the unreachable controller can land after its retry ([notes::ccr_cqt §14](crate::notes::ccr_cqt)). Kept as
    /// the baseline that shows the bug; it is also what the Linux TP8028 RFC does for CQT = 0.
    Legacy,
    /// Time-based recovery only (TP4129): hold until `(TBKAS ? 3 : 2) x KATO + CQT` (F for CQT = 0).
    Cqt,
    /// Cross-Controller Reset through the other live controllers in turn, then the time-based hold
    /// (the Linux TP8028 design).
    Ccr,
    /// As [`Policy::Ccr`], but commands without side effects (reads, I/O commands the caller marks
    /// side-effect-free, and, when `release_admin` is set, side-effect-free admin commands such as Identify or
    /// Get Log Page with RAE = 1) are released at once ([notes::ccr_cqt §9](crate::notes::ccr_cqt)).
    CcrFilter {
        /// Also release side-effect-free admin commands at once.
        release_admin: bool,
    },
}

impl Policy {
    /// The four policies in the order reports list them; `ccr-filter` releases reads only, not admin commands.
    pub const ALL: [Policy; 4] = [Policy::Legacy, Policy::Cqt, Policy::Ccr, Policy::CcrFilter { release_admin: false }];

    /// The five levels of the failover experiment: [`Policy::ALL`] and `ccr-filter-admin` (side-effect-free admin
    /// commands released at once too). Every name [`Policy::name`] gives is here.
    pub const LEVELS: [Policy; 5] = [
        Policy::Legacy,
        Policy::Cqt,
        Policy::Ccr,
        Policy::CcrFilter { release_admin: false },
        Policy::CcrFilter { release_admin: true },
    ];

    /// The policy's name on command lines and in reports: `legacy`, `cqt`, `ccr`, `ccr-filter` (reads released at
    /// once) or `ccr-filter-admin` (reads and side-effect-free admin commands).
    pub const fn name(self) -> &'static str {
        match self {
            Policy::Legacy => "legacy",
            Policy::Cqt => "cqt",
            Policy::Ccr => "ccr",
            Policy::CcrFilter { release_admin: false } => "ccr-filter",
            Policy::CcrFilter { release_admin: true } => "ccr-filter-admin",
        }
    }

    /// Whether this policy sends CCRs.
    pub const fn uses_ccr(self) -> bool {
        matches!(self, Self::Ccr | Self::CcrFilter { .. })
    }

    /// Whether this policy holds commands at all.
    pub const fn holds(self) -> bool {
        !matches!(self, Self::Legacy)
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A policy name that is none of `legacy`, `cqt`, `ccr`, `ccr-filter`, `ccr-filter-admin`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownPolicy;

impl fmt::Display for UnknownPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown policy (expected legacy, cqt, ccr, ccr-filter or ccr-filter-admin)")
    }
}

impl FromStr for Policy {
    type Err = UnknownPolicy;

    /// Parses [`Policy::name`] (any of [`Policy::LEVELS`]).
    fn from_str(s: &str) -> Result<Self, UnknownPolicy> {
        Policy::LEVELS.into_iter().find(|p| p.name() == s).ok_or(UnknownPolicy)
    }
}

/// How long the engine waits for one CCR (from sending it to a success) before it reads the source's CCR log
/// one last time and moves on ([notes::ccr_cqt §12](crate::notes::ccr_cqt), "How long to wait for one CCR"). CQT here
/// is the impacted controller's, with F in its place when not reported; KATO is the impacted controller's. Whatever the
/// choice, the wait never runs past the overall hold deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CcrWait {
    /// `max(CQT, KATO)`: Linux v3 18/21.
    MaxCqtKato,
    /// `KATO + CQT`: the reviewers' (Hannes Reinecke) reading, CQT being extra time after KATO. The default.
    KatoPlusCqt,
    /// A fixed wait.
    Fixed(Duration),
    /// Up to the overall deadline (later Linux versions, best guess): one source gets all the time left.
    UntilDeadline,
}

impl CcrWait {
    /// The wait for one CCR against the impacted controller described by `facts`, before the deadline cap.
    pub fn duration(self, facts: &ControllerFacts, cqt_fallback: Duration) -> Duration {
        let cqt = cqt_or_fallback(facts.cqt, cqt_fallback);
        match self {
            Self::MaxCqtKato => cqt.max(facts.kato),
            Self::KatoPlusCqt => facts.kato.saturating_add(cqt),
            Self::Fixed(d) => d,
            Self::UntilDeadline => Duration::MAX,
        }
    }
}

/// Which sources one fencing episode sends CCRs through ([notes::ccr_cqt §12](crate::notes::ccr_cqt), the review
/// debate "one CCR versus every source").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum CcrSources {
    /// Every live capable source in turn, in [`SourceOrder`], until one succeeds or none is left; then the timer.
    /// The default (the Linux series).
    #[default]
    EveryInTurn,
    /// The first source only: when its CCR fails or times out, the hold falls back to the timer.
    FirstOnly,
}

/// What CQT = 0 ("not reported") means when no CCR proved the failed controller reset
/// ([notes::ccr_cqt §6.3](crate::notes::ccr_cqt)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Cqt0Rule {
    /// Hold until `(TBKAS ? 3 : 2) x KATO + F` ([`Config::cqt_fallback`]): the one CQT = 0 rule of this
    /// project. The default.
    #[default]
    Fallback,
    /// The Linux TP8028 RFC: no hold, retry at once as [`Policy::Legacy`] does. **Unsafe** (the stale-write hazard
    /// of [notes::ccr_cqt §14](crate::notes::ccr_cqt)); an opt-in baseline for comparison. Releases are reported
    /// with [`ReleaseReason::Legacy`](crate::ReleaseReason::Legacy).
    Immediate,
}

/// What a custom [`SourceOrder`] sees of one candidate source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SourceCandidate {
    /// The candidate's path.
    pub path: PathId,
    /// Its facts (CNTLID, CCRL, ...).
    pub facts: ControllerFacts,
    /// CCRs in flight through it now.
    pub in_flight: usize,
}

/// The order in which candidate sources are tried for one impacted controller. Ties are broken by [`PathId`].
///
/// Equal and hashed by variant; two [`SourceOrder::Custom`] orders are equal when their functions have the same
/// address ([`core::ptr::fn_addr_eq`]).
#[derive(Clone, Copy, Debug)]
pub enum SourceOrder {
    /// Ascending CNTLID (the Linux order, `nvme_find_ctrl_ccr` with `min_cntlid`). The default.
    AscendingCntlid,
    /// The order the paths were added in.
    Registration,
    /// Lowest key first, the key computed by the caller (for example a preference for another storage node).
    Custom(fn(&SourceCandidate) -> u64),
}

impl PartialEq for SourceOrder {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::AscendingCntlid, Self::AscendingCntlid) | (Self::Registration, Self::Registration) => true,
            (Self::Custom(a), Self::Custom(b)) => core::ptr::fn_addr_eq(*a, *b),
            _ => false,
        }
    }
}

impl Eq for SourceOrder {}

impl core::hash::Hash for SourceOrder {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        core::mem::discriminant(self).hash(state);
        if let Self::Custom(f) = self {
            (*f as usize).hash(state);
        }
    }
}

impl SourceOrder {
    pub(crate) fn key(self, c: &SourceCandidate) -> u64 {
        match self {
            Self::AscendingCntlid => c.facts.cntlid as u64,
            Self::Registration => c.path.0 as u64,
            Self::Custom(f) => f(c),
        }
    }
}

/// The default fallback F for CQT = 0: 10 s, the spec's own example ([notes::ccr_cqt §6.3](crate::notes::ccr_cqt)).
pub const DEFAULT_CQT_FALLBACK: Duration = Duration::from_secs(10);

/// The default bound on the last CCR log read after a per-CCR wait expired. Our choice (not from the spec): a
/// live source answers an admin Get Log Page in milliseconds; giving up on it early costs nothing in safety,
/// because a late success of that CCR is still accepted while the fence lasts.
pub const DEFAULT_FINAL_LOG_WAIT: Duration = Duration::from_secs(1);

/// The default period of the CCR log re-reads while an accepted CCR keeps a hold past its deadline. Our choice
/// (not from the spec): the AEN is the normal signal; the re-read only covers a lost AEN, so one admin Get Log Page
/// per second per source is cheap and delays a release by at most about a second.
pub const DEFAULT_ACCEPTED_CCR_RECHECK: Duration = Duration::from_secs(1);

/// Engine configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Config {
    /// The recovery policy.
    pub policy: Policy,
    /// F: replaces CQT in every formula when a controller reports CQT = 0 (default 10 s).
    pub cqt_fallback: Duration,
    /// The wait for one CCR (default [`CcrWait::KatoPlusCqt`]).
    pub ccr_wait: CcrWait,
    /// How long the final CCR log read after a per-CCR wait may take (default 1 s).
    pub final_log_wait: Duration,
    /// The order sources are tried in (default ascending CNTLID).
    pub source_order: SourceOrder,
    /// Every source in turn (default) or the first one only.
    pub ccr_sources: CcrSources,
    /// What CQT = 0 means (default: the fallback F).
    pub cqt0_rule: Cqt0Rule,
    /// How long past the hold deadline the engine keeps holding for a CCR that a live source **accepted**
    /// (success with IRS = 0) or has not answered yet, and that is still unresolved (`ccr` and `ccr-filter` only).
    ///
    /// `None` (the default): wait for the outcome. By accepting, the target promised a teardown report (CCRS =
    /// Success or Failed, or the IRS = 1 completion), and reports success only once every command of the impacted
    /// controller has executed or been cancelled ([notes::ccr_cqt §11](crate::notes::ccr_cqt)); against a target that
    /// breaks its CQT promise any timer release is unsafe. The trade-off: a target that accepts a CCR and never reports
    /// it keeps the held commands until the source fails or reconnects, or its log read fails or no longer lists the
    /// CCR (an unanswered CCR: until the driver's admin command timeout fails the source), and then, while live sources
    /// not yet tried in the episode are left, for as long as the CCR sent through each of them holds the same way
    /// (each source at most once per episode, unless it reconnects). The sources' keep-alive detects a dead source,
    /// so those failures are the bound; only a live, answering target that reports In Progress forever holds them
    /// indefinitely. `Some(d)` releases at `deadline + d` at the latest, whatever the CCR says
    /// (`Some(Duration::ZERO)`: the deadline always releases, the behaviour before this knob existed).
    pub accepted_ccr_limit: Option<Duration>,
    /// The period of the CCR log re-reads from the source of a CCR that keeps a hold past the deadline
    /// (default 1 s, [`DEFAULT_ACCEPTED_CCR_RECHECK`]), so a lost AEN cannot hang the hold. A zero period counts as
    /// 1 ms, so the timer always moves forward.
    pub accepted_ccr_recheck: Duration,
}

impl Config {
    /// The defaults with `policy`.
    pub const fn new(policy: Policy) -> Self {
        Self {
            policy,
            cqt_fallback: DEFAULT_CQT_FALLBACK,
            ccr_wait: CcrWait::KatoPlusCqt,
            final_log_wait: DEFAULT_FINAL_LOG_WAIT,
            source_order: SourceOrder::AscendingCntlid,
            ccr_sources: CcrSources::EveryInTurn,
            cqt0_rule: Cqt0Rule::Fallback,
            accepted_ccr_limit: None,
            accepted_ccr_recheck: DEFAULT_ACCEPTED_CCR_RECHECK,
        }
    }
}

impl Default for Config {
    /// [`Policy::Ccr`] with the defaults above.
    fn default() -> Self {
        Self::new(Policy::Ccr)
    }
}

/// What a submitted command is, as far as recovery cares: its family and whether running it twice, or running
/// it late, can change stored data or controller state ([notes::ccr_cqt §9](crate::notes::ccr_cqt)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CommandKind {
    /// NVM Read: no side effects.
    Read,
    /// NVM Write: side effects.
    Write,
    /// Another I/O command (Flush, Write Zeroes, DSM, Copy, reservations: side effects; Compare, Verify: none).
    OtherIo {
        /// Whether it can change stored data or state.
        side_effects: bool,
    },
    /// An admin command (Set Features, Format, Sanitize, Get Log Page with RAE = 0: side effects; Identify,
    /// Get Features, Get Log Page with RAE = 1: none). Passthrough commands are held too.
    Admin {
        /// Whether it can change stored data or state.
        side_effects: bool,
    },
}

impl CommandKind {
    /// The kind of a parsed command, with nvme-proto's side-effect classification (Get Log Page with RAE = 0,
    /// unknown opcodes and every Fabrics command but Property Get count as side-effecting).
    pub const fn of(command: &Command) -> Self {
        match command {
            Command::Io(IoCommand::Read(_)) => Self::Read,
            Command::Io(IoCommand::Write(_)) => Self::Write,
            Command::Io(c) => Self::OtherIo { side_effects: c.has_side_effects() },
            Command::Admin(c) => Self::Admin { side_effects: AdminCommand::has_side_effects(c) },
        }
    }

    /// Whether the command can change stored data or controller state.
    pub const fn has_side_effects(self) -> bool {
        match self {
            Self::Read => false,
            Self::Write => true,
            Self::OtherIo { side_effects } | Self::Admin { side_effects } => side_effects,
        }
    }

    /// Whether [`Policy::CcrFilter`] releases this command at fencing start.
    pub(crate) const fn filtered_by(self, release_admin: bool) -> bool {
        match self {
            Self::Read => true,
            Self::Write => false,
            Self::OtherIo { side_effects } => !side_effects,
            Self::Admin { side_effects } => release_admin && !side_effects,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nvme_proto::cmd::{Ccrl, Cqt};

    fn facts(cqt: Cqt) -> ControllerFacts {
        ControllerFacts {
            cntlid: 1,
            ciu: 1,
            cirn: 1,
            cqt,
            ccrl: Ccrl::from_raw(4),
            kato: Duration::from_secs(5),
            tbkas: true,
        }
    }

    #[test]
    fn ccr_wait_variants() {
        let f = Duration::from_secs(10);
        let one_ms = facts(Cqt::from_raw(1));
        assert_eq!(CcrWait::MaxCqtKato.duration(&one_ms, f), Duration::from_secs(5));
        assert_eq!(CcrWait::KatoPlusCqt.duration(&one_ms, f), Duration::from_millis(5_001));
        assert_eq!(CcrWait::KatoPlusCqt.duration(&facts(Cqt::NotReported), f), Duration::from_secs(15));
        assert_eq!(CcrWait::MaxCqtKato.duration(&facts(Cqt::NotReported), f), Duration::from_secs(10));
        assert_eq!(CcrWait::Fixed(Duration::from_millis(3)).duration(&one_ms, f), Duration::from_millis(3));
        assert_eq!(CcrWait::UntilDeadline.duration(&one_ms, f), Duration::MAX);
    }

    #[test]
    fn kind_of_a_parsed_command() {
        use nvme_proto::cmd::{QueueKind, Sqe};
        let kind = |q, opcode, cdw10| {
            let mut sqe = Sqe::new(opcode, 1);
            sqe.cdw10 = cdw10;
            CommandKind::of(&Command::parse(q, &sqe).unwrap())
        };
        assert_eq!(kind(QueueKind::Io, 0x02, 0), CommandKind::Read);
        assert_eq!(kind(QueueKind::Io, 0x01, 0), CommandKind::Write);
        assert_eq!(kind(QueueKind::Io, 0x00, 0), CommandKind::OtherIo { side_effects: true }); // Flush
        assert_eq!(kind(QueueKind::Io, 0x0C, 0), CommandKind::OtherIo { side_effects: false }); // Verify
        assert_eq!(kind(QueueKind::Admin, 0x06, 1), CommandKind::Admin { side_effects: false }); // Identify
        assert_eq!(kind(QueueKind::Admin, 0x02, 0x1E), CommandKind::Admin { side_effects: true }); // Get Log Page RAE 0
        assert_eq!(kind(QueueKind::Admin, 0x02, 0x801E), CommandKind::Admin { side_effects: false }); // RAE 1
        assert_eq!(kind(QueueKind::Admin, 0x38, 0), CommandKind::Admin { side_effects: true }); // CCR
    }

    #[test]
    fn filter_releases_only_side_effect_free_commands() {
        assert!(CommandKind::Read.filtered_by(false));
        assert!(!CommandKind::Write.filtered_by(true));
        assert!(CommandKind::OtherIo { side_effects: false }.filtered_by(false));
        assert!(!CommandKind::OtherIo { side_effects: true }.filtered_by(true));
        assert!(!CommandKind::Admin { side_effects: false }.filtered_by(false));
        assert!(CommandKind::Admin { side_effects: false }.filtered_by(true));
        assert!(!CommandKind::Admin { side_effects: true }.filtered_by(true));
        for kind in [CommandKind::Read, CommandKind::Write, CommandKind::OtherIo { side_effects: true }] {
            assert_eq!(kind.filtered_by(true), !kind.has_side_effects());
        }
    }

    #[test]
    fn policy_names_round_trip() {
        let names: [&str; 4] = Policy::ALL.map(Policy::name);
        assert_eq!(names, ["legacy", "cqt", "ccr", "ccr-filter"]);
        for p in Policy::ALL {
            assert_eq!(p.name().parse::<Policy>(), Ok(p));
        }
        assert_eq!(Policy::LEVELS.map(Policy::name)[4], "ccr-filter-admin");
        for p in Policy::LEVELS {
            assert_eq!(p.name().parse::<Policy>(), Ok(p));
        }
        assert_eq!("ccr-filter-admin".parse::<Policy>(), Ok(Policy::CcrFilter { release_admin: true }));
        assert_eq!("CCR".parse::<Policy>(), Err(UnknownPolicy));
        assert_eq!("".parse::<Policy>(), Err(UnknownPolicy));
    }
}
