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
}

impl PolicyArg {
    /// The nvme-ccr policy (the variant of [`Policy::ALL`], named by [`Policy::name`]).
    pub fn policy(self) -> Policy {
        match self {
            PolicyArg::Legacy => Policy::Legacy,
            PolicyArg::Cqt => Policy::Cqt,
            PolicyArg::Ccr => Policy::Ccr,
            PolicyArg::CcrFilter => Policy::CcrFilter { release_admin: false },
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
}

impl WorkloadArg {
    /// nvme-sim's workload.
    pub fn workload(self) -> WorkloadKind {
        match self {
            WorkloadArg::RwTest => WorkloadKind::RwTest,
            WorkloadArg::Read => WorkloadKind::Read,
            WorkloadArg::Write => WorkloadKind::Write,
            WorkloadArg::Readwrite => WorkloadKind::ReadWrite,
        }
    }
}

/// An injected fault (ccr-cqt.md §11).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultArg {
    /// The first Write on controller 1 is accepted, lands only after --delay and cannot be cancelled; the
    /// controller fails at once and closes its connections.
    Fopcode,
    /// The path to controller 1 (path 0) goes silent without closing, detected by keep-alive timeout; the command
    /// stuck in controller 1's backend lands after --delay.
    Freeze,
    /// As fopcode, and every CCR is accepted but then reported Failed in the CCR log.
    #[value(name = "ccr-fail")]
    CcrFail,
    /// As fopcode, and the target answers CCR with Invalid Command Opcode.
    #[value(name = "ccr-unsupported")]
    CcrUnsupported,
    /// No fault.
    None,
}

impl FaultArg {
    /// nvme-sim's fault.
    pub fn fault(self) -> FaultKind {
        match self {
            FaultArg::Fopcode => FaultKind::Fopcode,
            FaultArg::Freeze => FaultKind::Freeze,
            FaultArg::CcrFail => FaultKind::CcrFail,
            FaultArg::CcrUnsupported => FaultKind::CcrUnsupported,
            FaultArg::None => FaultKind::None,
        }
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
        for p in [PolicyArg::Legacy, PolicyArg::Cqt, PolicyArg::Ccr, PolicyArg::CcrFilter] {
            let name = p.policy().name();
            assert_eq!(p.to_possible_value().unwrap().get_name(), name);
            assert_eq!(name.parse::<nvme_sim::Policy>().unwrap(), p.policy());
        }
        for w in WorkloadArg::value_variants() {
            assert_eq!(w.to_possible_value().unwrap().get_name(), w.workload().name());
        }
        for f in FaultArg::value_variants() {
            assert_eq!(f.to_possible_value().unwrap().get_name(), f.fault().name());
        }
    }
}
