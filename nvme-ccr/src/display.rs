//! `Display` for the engine's identifiers and events: the words logs, timelines and tools print (times in ms, CIRN
//! in hex, status codes with their names). `Debug` stays the field dump.

use core::fmt;
use core::time::Duration;

use crate::{CcrFailure, CcrId, Event, Instance, Instant, PathId, ReleaseReason};

/// Milliseconds with one decimal.
struct Ms(Duration);

impl fmt::Display for Ms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let us = self.0.as_micros();
        write!(f, "{}.{} ms", us / 1000, (us % 1000) / 100)
    }
}

/// `t=15001.0 ms`: the time since the caller's epoch.
impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t={}", Ms(self.elapsed()))
    }
}

/// `path 1`.
impl fmt::Display for PathId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "path {}", self.0)
    }
}

/// `CCR #3`.
impl fmt::Display for CcrId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CCR #{}", self.0)
    }
}

/// `controller 1 (CIU 0x2a, CIRN 0x00000000deadbeef)`.
impl fmt::Display for Instance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "controller {} (CIU {:#04x}, CIRN {:#018x})", self.cntlid, self.ciu, self.cirn)
    }
}

impl fmt::Display for CcrFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            CcrFailure::Status(code) => {
                let ctx = nvme_proto::cmd::CommandContext::Admin(nvme_proto::cmd::AdminOpcode::CROSS_CONTROLLER_RESET);
                write!(f, "status SCT {} SC {:#04x}", code.sct.0, code.sc)?;
                match code.name(Some(ctx)) {
                    Some(name) => write!(f, " ({name})"),
                    None => Ok(()),
                }
            }
            CcrFailure::LogFailed => f.write_str("the CCR log reported Failed"),
            CcrFailure::TimedOut => f.write_str("no success in the CCR log within the per-CCR wait"),
            CcrFailure::SourceFailed => f.write_str("the source failed while the CCR was in flight"),
            CcrFailure::Vanished => f.write_str("the accepted CCR vanished from the CCR log"),
        }
    }
}

impl fmt::Display for ReleaseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ReleaseReason::CcrSucceeded { source } => write!(f, "CCR succeeded via {source}"),
            ReleaseReason::HoldDeadline => f.write_str("the time-based hold ended"),
            ReleaseReason::NothingHeld => f.write_str("nothing was outstanding"),
            ReleaseReason::Legacy => f.write_str("legacy: released without proof"),
            ReleaseReason::SideEffectFree => f.write_str("no side effects"),
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Event::FencingStarted { path, instance, held, released_at_once, deadline } => {
                write!(f, "{path}: {instance} failed; {held} command(s) held until {deadline} at the latest")?;
                if released_at_once > 0 {
                    write!(f, ", {released_at_once} released at once")?;
                }
                Ok(())
            }
            Event::CcrSent { path, source, ccr } => write!(f, "{path}: {ccr} sent via {source}"),
            Event::CcrSucceeded { path, source, ccr } => write!(f, "{path}: {ccr} via {source} succeeded"),
            Event::CcrFailed { path, source, ccr, reason } => write!(f, "{path}: {ccr} via {source} failed: {reason}"),
            Event::SourceCcrIncapable { source } => write!(f, "{source} cannot do CCR until it reconnects"),
            Event::FellBackToTimer { path, remaining } => {
                write!(f, "{path}: no CCR source left, the timer releases in {}", Ms(remaining))
            }
            Event::HoldExtendedByCcr { path, source, ccr } => {
                write!(f, "{path}: hold deadline passed, held until {ccr} via {source} resolves")
            }
            Event::HoldAwaitingPath { path } => {
                write!(f, "{path}: hold deadline passed with no path live, held until a path comes back")
            }
            Event::HoldReleased { path, reason, after, released } => {
                write!(f, "{path}: {released} held command(s) released after {} ({reason})", Ms(after))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate alloc;
    use alloc::string::ToString;

    use super::*;
    use nvme_proto::cmd::StatusCode;

    #[test]
    fn words_use_ms_hex_and_names() {
        let i = Instance { cntlid: 1, ciu: 0x2a, cirn: 0xdead_beef };
        let e = Event::FencingStarted {
            path: PathId(0),
            instance: i,
            held: 3,
            released_at_once: 1,
            deadline: Instant::from_elapsed(Duration::from_micros(15_100_250)),
        };
        assert_eq!(
            e.to_string(),
            "path 0: controller 1 (CIU 0x2a, CIRN 0x00000000deadbeef) failed; 3 command(s) held until \
             t=15100.2 ms at the latest, 1 released at once"
        );
        let failed = Event::CcrFailed {
            path: PathId(0),
            source: PathId(1),
            ccr: CcrId(7),
            reason: CcrFailure::Status(StatusCode { sct: nvme_proto::cmd::Sct(1), sc: 0x41 }),
        };
        assert_eq!(
            failed.to_string(),
            "path 0: CCR #7 via path 1 failed: status SCT 1 SC 0x41 (Cross-Controller Reset Limit Exceeded)"
        );
        let rel = Event::HoldReleased {
            path: PathId(0),
            reason: ReleaseReason::CcrSucceeded { source: PathId(1) },
            after: Duration::from_millis(2010),
            released: 2,
        };
        assert_eq!(rel.to_string(), "path 0: 2 held command(s) released after 2010.0 ms (CCR succeeded via path 1)");
    }
}
