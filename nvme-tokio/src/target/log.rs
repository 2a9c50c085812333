//! The target's log: [`tracing`] events for what the subsystem reports ([`Event`]) and for the media operations the
//! runtime carries out. The program that runs the target installs the subscriber (nvme-lab's `target` writes them to
//! standard error); without one every call here costs a level check.
//!
//! Levels: `warn` a controller failed or a fault fired or held media landed; `info` controllers created, ready and
//! torn down, CCR and the control lines; `debug` connections, I/O queues and every media operation with a summary of
//! its data. The messages are fixed texts and the details fields (`cntlid=1 cid=12 slba=0 len=4096 data=all:09`), so
//! that a script can follow a run (`scripts/interop.sh rwtest` prints its timeline from them).

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use nvme_fabric::Instant;
use nvme_fabric::conn::ConnId;
use nvme_fabric::controller::{Event, MediaError, MediaId, MediaKind, MediaRequest, Subsystem};
use tracing::{Level, debug, enabled, info, warn};

/// Held media operations remembered for their landing line; past this many (only when faults fire far faster than
/// their delays end), a landing is logged as an ordinary media operation.
pub(super) const HELD_LIMIT: usize = 64;

/// What the log remembers between calls: the listener each connection came through, the media operations a fault
/// holds, and the count of subsystem events already reported lost.
#[derive(Debug, Default)]
pub(super) struct LogState {
    /// Connection -> the local address (listener) it was accepted on; removed when its tasks end.
    listeners: BTreeMap<ConnId, SocketAddr>,
    /// Media operation held by a fault -> (its controller, when the fault fired, the delay); at most [`HELD_LIMIT`].
    held: BTreeMap<MediaId, (u16, Instant, Duration)>,
    dropped: u64,
}

/// A summary of a data buffer for the log: `all:09` when every byte is 0x09, else `mixed:` and the first 8 bytes in
/// hex. Computed only when the line is written.
pub(super) struct DataSummary<'a>(pub(super) &'a [u8]);

impl fmt::Display for DataSummary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            [] => f.write_str("none"),
            [first, rest @ ..] if rest.iter().all(|b| b == first) => write!(f, "all:{first:02x}"),
            bytes => {
                f.write_str("mixed:")?;
                bytes.iter().take(8).try_for_each(|b| write!(f, "{b:02x}"))
            }
        }
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl LogState {
    /// A connection was accepted on `local` from `peer`.
    pub(super) fn accepted(&mut self, conn: ConnId, peer: SocketAddr, local: Option<SocketAddr>) {
        if let Some(local) = local {
            self.listeners.insert(conn, local);
        }
        let listener = local.map_or_else(|| "-".into(), |l| l.to_string());
        debug!(conn = conn.0, %peer, %listener, "connection accepted");
    }

    /// A connection's tasks ended.
    pub(super) fn forget(&mut self, conn: ConnId) {
        self.listeners.remove(&conn);
    }

    fn listener(&self, conn: ConnId) -> String {
        self.listeners.get(&conn).map_or_else(|| "-".into(), ToString::to_string)
    }

    /// Logs one subsystem event (and remembers the media a fault holds). `sub` gives the held command's data.
    pub(super) fn event(&mut self, now: Instant, sub: &Subsystem, ev: &Event) {
        match *ev {
            Event::ConnClosed { conn, cause } => debug!(conn = conn.0, %cause, "connection closed"),
            Event::ControllerCreated { cntlid, conn, kato } => {
                info!(cntlid, conn = conn.0, listener = %self.listener(conn), kato_ms = ms(kato), "controller created");
            }
            Event::QueueConnected { cntlid, qid, conn } => {
                debug!(cntlid, qid, conn = conn.0, listener = %self.listener(conn), "I/O queue connected");
            }
            Event::ControllerReady { cntlid, ciu, cirn } => {
                info!(
                    cntlid,
                    ciu = format_args!("{ciu:#04x}"),
                    cirn = format_args!("{cirn:#018x}"),
                    "controller ready"
                );
            }
            Event::ControllerFailed { cntlid, cause, cancelled, waiting } => {
                warn!(cntlid, %cause, cancelled, waiting, "controller failed");
            }
            Event::TeardownComplete { cntlid } => info!(cntlid, "controller torn down"),
            Event::FaultFired { cntlid, opcode, delay, action, media } => {
                if self.held.len() < HELD_LIMIT {
                    self.held.insert(media, (cntlid, now, delay));
                }
                let data = sub.media_data(media).unwrap_or(&[]);
                warn!(
                    cntlid,
                    opcode = format_args!("{opcode:#04x}"),
                    delay_ms = ms(delay),
                    %action,
                    media = media.0,
                    data = %DataSummary(data),
                    "fault fired: command held"
                );
            }
            Event::CcrReceived { source, icid, ciu, cirn } => info!(
                source,
                icid,
                ciu = format_args!("{ciu:#04x}"),
                cirn = format_args!("{cirn:#018x}"),
                "CCR received"
            ),
            Event::CcrAnswered { source, status, dw0 } => {
                info!(source, status = format_args!("{:#06x}", status.to_word()), dw0, "CCR answered");
            }
            Event::CcrNotice { source } => info!(source, "CCR completed notice raised"),
        }
    }

    /// Reports events the subsystem dropped (its event queue was full) since the last call.
    pub(super) fn dropped(&mut self, total: u64) {
        if total > self.dropped {
            warn!(lost = total - self.dropped, "subsystem events lost: its event queue was full");
            self.dropped = total;
        }
    }

    /// Whether the media operation `req` will be logged with its data: every operation at `debug`, a held one at
    /// `warn`.
    pub(super) fn wants_data(&self, req: &MediaRequest) -> bool {
        enabled!(Level::DEBUG) || (self.held.contains_key(&req.id) && enabled!(Level::WARN))
    }

    /// Logs a media operation the runtime carried out; `data` is what was written or read (empty for a flush or
    /// when [`wants_data`](Self::wants_data) said no).
    pub(super) fn media(&mut self, now: Instant, req: &MediaRequest, data: &[u8], result: Result<(), MediaError>) {
        let kind = match req.kind {
            MediaKind::Read => "read",
            MediaKind::Write => "write",
            MediaKind::Flush => "flush",
        };
        let data = DataSummary(data);
        let (cntlid, conn, cid, slba, len) = (req.cntlid, req.conn.0, req.cid, req.slba, req.len);
        if let Some((_, fired, delay)) = self.held.remove(&req.id) {
            let held_ms = ms(now.saturating_duration_since(fired));
            warn!(
                cntlid,
                conn,
                cid,
                %kind,
                slba,
                len,
                held_ms,
                delay_ms = ms(delay),
                result = %result.map_or_else(|e| e.to_string(), |()| "ok".to_string()),
                %data,
                "held command reached the media"
            );
        } else if let Err(e) = result {
            warn!(cntlid, conn, cid, %kind, slba, len, error = %e, "media operation failed");
        } else {
            debug!(cntlid, conn, cid, %kind, slba, len, %data, "media");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_summaries_name_a_fill_or_the_first_bytes() {
        assert_eq!(DataSummary(&[9; 4096]).to_string(), "all:09");
        assert_eq!(DataSummary(&[0]).to_string(), "all:00");
        assert_eq!(DataSummary(&[]).to_string(), "none");
        let mixed: Vec<u8> = (0..20).collect();
        assert_eq!(DataSummary(&mixed).to_string(), "mixed:0001020304050607");
        assert_eq!(DataSummary(&[1, 1, 2]).to_string(), "mixed:010102");
    }
}
