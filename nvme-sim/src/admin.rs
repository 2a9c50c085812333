//! The admin stream: what a real host has outstanding on its admin queues besides its own Keep Alive and AER. A
//! health-monitoring daemon (smartd, a node exporter's NVMe collector, `nvme smart-log` in a loop) reads the SMART /
//! Health Information log of every controller it sees, one read at a time per controller: Get Log Page, LID 0x02,
//! 512 bytes, RAE = 1 (it leaves a pending SMART event to its owner), so the command has no side effects and
//! `ccr-filter-admin` may release it at failure detection. It goes through nvme-fabric's
//! [`Host::submit_admin`](nvme_fabric::host::Host::submit_admin), which hands it to the recovery engine like any
//! command: this module only schedules it and measures its latency.
//!
//! One read per live path every [`Scenario::admin_interval`](crate::Scenario::admin_interval), the first round one
//! interval after the application start; a path whose previous read is still outstanding (held by recovery, say) is
//! skipped, as a daemon blocked in its ioctl would. Under `freeze` (detection by keep-alive, seconds) a read is
//! outstanding at detection; under `fopcode` (the controller closes at once) only a read sent in the ~0.2 ms before
//! detection is (`tests/admin.rs` builds one by hand).

use core::time::Duration;

use nvme_proto::cmd::{GetLogPage, LogId, Sqe};

use crate::clock::{Nanos, dur};
use crate::metrics::AdminStats;

/// Bytes of the SMART / Health Information log page.
pub(crate) const SMART_LOG_BYTES: u32 = 512;

/// The monitoring read: SMART / Health Information, 512 bytes, RAE = 1 (side-effect-free).
pub(crate) fn smart_read() -> Sqe {
    let mut g = GetLogPage::new(LogId::SMART, SMART_LOG_BYTES);
    g.rae = true;
    g.to_sqe(0)
}

/// The stream's state: per path, the submission time of the read outstanding there; and the figures.
#[derive(Debug)]
pub(crate) struct AdminStream {
    pub(crate) interval: Nanos,
    outstanding: Vec<Option<Nanos>>,
    pub(crate) stats: AdminStats,
}

impl AdminStream {
    pub(crate) fn new(interval: Nanos, paths: usize) -> AdminStream {
        AdminStream { interval, outstanding: vec![None; paths], stats: AdminStats::default() }
    }

    /// The number of paths.
    pub(crate) fn paths(&self) -> usize {
        self.outstanding.len()
    }

    /// Whether a read may go to `path` now (none outstanding there).
    pub(crate) fn idle(&self, path: usize) -> bool {
        self.outstanding.get(path).is_some_and(Option::is_none)
    }

    /// A read went to `path` at `now`.
    pub(crate) fn sent(&mut self, path: usize, now: Nanos) {
        if let Some(o) = self.outstanding.get_mut(path) {
            *o = Some(now);
            self.stats.sent += 1;
        }
    }

    /// The read on `path` completed at `now`: answered (`ok`) or failed with its path.
    pub(crate) fn done(&mut self, path: usize, now: Nanos, ok: bool) {
        let Some(at) = self.outstanding.get_mut(path).and_then(Option::take) else { return };
        let latency = dur(now.saturating_sub(at));
        let s = &mut self.stats;
        if ok {
            s.completed += 1;
        } else {
            s.failed += 1;
            s.failed_max_ms = s.failed_max_ms.max(ms(latency));
        }
        s.max_ms = s.max_ms.max(ms(latency));
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_monitoring_read_is_a_side_effect_free_smart_log_read() {
        let g = GetLogPage::from_sqe(&smart_read()).unwrap();
        assert_eq!((g.lid, g.rae, g.transfer_len()), (LogId::SMART, true, 512));
        assert!(!g.has_side_effects());
    }

    #[test]
    fn one_read_at_a_time_per_path_and_its_latency() {
        let mut s = AdminStream::new(1_000_000_000, 2);
        assert!(s.idle(0) && s.idle(1) && !s.idle(2));
        s.sent(0, 10);
        assert!(!s.idle(0));
        s.done(0, 2_000_010, false);
        s.done(0, 3_000_000, true); // nothing outstanding: ignored
        assert!(s.idle(0));
        assert_eq!(s.stats, AdminStats { sent: 1, completed: 0, failed: 1, max_ms: 2.0, failed_max_ms: 2.0 });
    }
}
