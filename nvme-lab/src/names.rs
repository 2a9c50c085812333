//! Command-line names of policies, workloads and faults (clap value enums), mapped to nvme-sim's types.

use clap::ValueEnum;
use nvme_sim::{FaultKind, WorkloadKind};

/// A host recovery policy: the one `rw-test` takes too.
pub use nvme_tokio::cli::PolicyArg;

/// An application workload.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkloadArg {
    /// The seed's rw_test: per iteration 10 writes of 4 KiB (bytes 0..9) to offset 0, sleep 5 s, read back and
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
