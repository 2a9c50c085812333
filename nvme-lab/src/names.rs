//! Command-line names of policies, workloads, faults and digests (clap value enums), mapped to the library types.

use clap::ValueEnum;
use nvme_ccr::Policy;
use nvme_sim::{FaultKind, WorkloadKind};
use nvme_tokio::host::Digests;

/// A host recovery policy on the command line (`rw-test`, and the simulator commands).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PolicyArg {
    /// Retry every outstanding command at once on another path, as hosts do today (unsafe: the baseline).
    Legacy,
    /// Time-based recovery only (TP4129): hold until (TBKAS ? 3 : 2) x KATO + CQT after detection (F when CQT = 0).
    Cqt,
    /// Cross-Controller Reset through another controller (TP8028), then the time-based hold.
    Ccr,
    /// As ccr, and reads are released at detection (they cannot corrupt).
    CcrFilter,
    /// As ccr-filter, and side-effect-free admin commands (Identify, Get Log Page with RAE) are released too.
    CcrFilterAdmin,
}

impl PolicyArg {
    /// The nvme-ccr policy (the variant of [`Policy::ALL`], named by [`Policy::name`]).
    pub fn policy(self) -> Policy {
        match self {
            PolicyArg::Legacy => Policy::Legacy,
            PolicyArg::Cqt => Policy::Cqt,
            PolicyArg::Ccr => Policy::Ccr,
            PolicyArg::CcrFilter => Policy::CcrFilter { release_admin: false },
            PolicyArg::CcrFilterAdmin => Policy::CcrFilter { release_admin: true },
        }
    }
}

/// The digests a host asks for in its ICReqs (`rw-test`, `ccr-check`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, ValueEnum)]
pub enum HostDigests {
    /// None.
    #[default]
    None,
    /// Header digests only.
    Header,
    /// Data digests only.
    Data,
    /// Both.
    Both,
}

impl HostDigests {
    /// nvme-tokio's value.
    pub fn digests(self) -> Digests {
        match self {
            HostDigests::None => Digests::None,
            HostDigests::Header => Digests::Header,
            HostDigests::Data => Digests::Data,
            HostDigests::Both => Digests::Both,
        }
    }
}

/// An application workload.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkloadArg {
    /// The Linux failover test's rw_test: per iteration 10 writes of 4 KiB (bytes 0..9) to offset 0, sleep 5 s, read back and
    /// check every byte is 9, sleep 3 s.
    #[value(name = "rw_test")]
    RwTest,
    /// Read-only, queue depth 4 (cannot corrupt: shows stalls).
    Read,
    /// Write-only, queue depth 4.
    Write,
    /// Half reads, half writes, queue depth 4.
    Readwrite,
    /// Sequential 128 KiB reads.
    Seqread,
    /// Sequential 128 KiB writes.
    Seqwrite,
}

impl WorkloadArg {
    /// nvme-sim's workload.
    pub fn workload(self) -> WorkloadKind {
        match self {
            WorkloadArg::RwTest => WorkloadKind::RwTest,
            WorkloadArg::Read => WorkloadKind::Read,
            WorkloadArg::Write => WorkloadKind::Write,
            WorkloadArg::Readwrite => WorkloadKind::ReadWrite,
            WorkloadArg::Seqread => WorkloadKind::SeqRead,
            WorkloadArg::Seqwrite => WorkloadKind::SeqWrite,
        }
    }
}

/// Parses a fault name (`fopcode`, `freeze`, `ccr-fail`, `ccr-unsupported`, `node-failover`, `loss-<pct>`,
/// `loss-burst`, `none`) for clap.
pub fn parse_fault(s: &str) -> Result<FaultKind, String> {
    s.parse::<FaultKind>().map_err(|e| e.to_string())
}

/// The help text of every `--fault` option.
pub const FAULT_HELP: &str = "Injected fault: fopcode (the first Write on controller 1 lands only after --delay, \
    the controller fails at once), freeze (path 0 goes silent), ccr-fail, ccr-unsupported (fopcode, and CCR fails or \
    is refused), node-failover (four paths on two nodes; paths 0 and 1 fail together, path 0 as fopcode, path 1 \
    silent: the first CCR source never answers), loss-<pct> (path 0 loses pct % of its segments, 1..=50, for 10 s), \
    loss-burst (path 0 loses every segment for 3 s), none";

/// What CQT = 0 means to the host (`--cqt0-rule`).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Cqt0Arg {
    /// Hold for (TBKAS ? 3 : 2) x KATO + F (the project's one rule).
    #[default]
    Fallback,
    /// The Linux RFC: no hold when no CCR succeeded; retry at once (unsafe, a baseline like legacy).
    Immediate,
}

/// Which sources the host sends CCRs through (`--ccr-sources`).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SourcesArg {
    /// Every live source in turn, then the timer.
    #[default]
    Every,
    /// The first source only, then the timer.
    First,
}

/// The wait for one CCR (`--ccr-wait`).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CcrWaitArg {
    /// KATO + CQT (F for CQT 0): the reviewers' reading.
    #[default]
    KatoPlusCqt,
    /// max(CQT, KATO): Linux v3.
    MaxCqtKato,
}

/// The host options the review debated, shared by `run`, `matrix`, `explore` and `report`.
#[derive(clap::Args, Clone, Copy, Debug, Default)]
pub struct DebateArgs {
    /// Meaning of CQT = 0 when no CCR succeeded: fallback (hold with F) or immediate (the Linux RFC: retry at once,
    /// unsafe, treated like legacy).
    #[arg(long, value_enum, default_value_t = Cqt0Arg::Fallback)]
    pub cqt0_rule: Cqt0Arg,
    /// CCR sources: every (each live source in turn) or first (one CCR, then the timer).
    #[arg(long, value_enum, default_value_t = SourcesArg::Every)]
    pub ccr_sources: SourcesArg,
    /// The wait for one CCR before the next source: kato-plus-cqt or max-cqt-kato.
    #[arg(long, value_enum, default_value_t = CcrWaitArg::KatoPlusCqt)]
    pub ccr_wait: CcrWaitArg,
}

impl DebateArgs {
    /// The engine's [`CcrSources`](nvme_ccr::CcrSources) for `--ccr-sources`.
    pub fn sources(&self) -> nvme_ccr::CcrSources {
        match self.ccr_sources {
            SourcesArg::Every => nvme_ccr::CcrSources::EveryInTurn,
            SourcesArg::First => nvme_ccr::CcrSources::FirstOnly,
        }
    }

    /// Sets the options on a scenario.
    pub fn apply(&self, s: &mut nvme_sim::Scenario) {
        s.cqt0_rule = match self.cqt0_rule {
            Cqt0Arg::Fallback => nvme_ccr::Cqt0Rule::Fallback,
            Cqt0Arg::Immediate => nvme_ccr::Cqt0Rule::Immediate,
        };
        s.ccr_sources = self.sources();
        s.ccr_wait = match self.ccr_wait {
            CcrWaitArg::KatoPlusCqt => nvme_ccr::CcrWait::KatoPlusCqt,
            CcrWaitArg::MaxCqtKato => nvme_ccr::CcrWait::MaxCqtKato,
        };
    }

    /// The options as command-line flags (only those that differ from the defaults), each with a leading space.
    pub fn flags(&self) -> String {
        let mut out = String::new();
        if self.cqt0_rule != Cqt0Arg::default() {
            out.push_str(" --cqt0-rule immediate");
        }
        if self.ccr_sources != SourcesArg::default() {
            out.push_str(" --ccr-sources first");
        }
        if self.ccr_wait != CcrWaitArg::default() {
            out.push_str(" --ccr-wait max-cqt-kato");
        }
        out
    }
}

/// On or off (for --tbkas).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnOff {
    /// Enabled.
    On,
    /// Disabled.
    Off,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_nvme_sim() {
        for p in PolicyArg::value_variants() {
            let name = p.policy().name();
            assert_eq!(p.to_possible_value().unwrap().get_name(), name);
            assert_eq!(name.parse::<nvme_sim::Policy>().unwrap(), p.policy());
        }
        for w in WorkloadArg::value_variants() {
            assert_eq!(w.to_possible_value().unwrap().get_name(), w.workload().name());
        }
        for f in FaultKind::GRID.into_iter().chain([FaultKind::None, FaultKind::Loss(50)]) {
            assert_eq!(parse_fault(&f.name()), Ok(f));
        }
        assert!(parse_fault("loss-51").unwrap_err().contains("loss-<pct>"));
        assert!(parse_fault("loss-").is_err() && parse_fault("loss-0").is_err() && parse_fault("drop").is_err());
    }

    #[test]
    fn debate_flags_round_trip_to_the_scenario() {
        let d = DebateArgs {
            cqt0_rule: Cqt0Arg::Immediate,
            ccr_sources: SourcesArg::First,
            ccr_wait: CcrWaitArg::MaxCqtKato,
        };
        let mut s = nvme_sim::Scenario::default();
        d.apply(&mut s);
        assert_eq!(s.cqt0_rule, nvme_ccr::Cqt0Rule::Immediate);
        assert_eq!(s.ccr_sources, nvme_ccr::CcrSources::FirstOnly);
        assert_eq!(s.ccr_wait, nvme_ccr::CcrWait::MaxCqtKato);
        assert_eq!(d.flags(), " --cqt0-rule immediate --ccr-sources first --ccr-wait max-cqt-kato");
        assert_eq!(DebateArgs::default().flags(), "");
    }
}
