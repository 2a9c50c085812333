//! What a run produced: the checker's verdict, latencies, the recovery timeline and (optionally) the wire capture.

use core::fmt;
use core::time::Duration;

use serde::Serialize;

use crate::metrics::{AdminStats, Series, Summary};

/// One line of the recovery timeline: when, which path, and what happened as a typed event. `Display` gives the
/// line's words (`host: CCR for controller 1 sent via controller 2`); as JSON it is one object,
/// `{"at_ms": 2001.234, "path": 0, "kind": "ccr_sent", "impacted": 1, "source": 2}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TimelineEntry {
    /// Virtual time since the start of the run.
    #[serde(rename = "at_ms", serialize_with = "as_ms")]
    pub at: Duration,
    /// The path concerned (0-based; path 0 is controller 1), if any.
    pub path: Option<usize>,
    /// What happened.
    #[serde(flatten)]
    pub event: TimelineEvent,
}

impl TimelineEntry {
    /// What happened, in words (the [`Display`](core::fmt::Display) text).
    pub fn what(&self) -> String {
        self.to_string()
    }
}

/// How a controller failed, as the simulated target reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetFailure {
    /// Its keep-alive timer expired.
    KeepAliveExpired,
    /// The host closed its admin connection.
    HostClosed,
    /// Its admin connection was lost for this reason.
    AdminConnectionLost(String),
    /// A Cross-Controller Reset made it fatal.
    Ccr,
    /// The subsystem shut down.
    Shutdown,
}

/// What a timeline line records. Words a runtime reports (errors, causes) are kept as their `Display` text; the
/// simulator does not interpret them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TimelineEvent {
    // The scenario and the run.
    /// The scenario asked for more paths than the host supports.
    PathsClamped {
        /// Paths asked for.
        asked: usize,
        /// Paths simulated.
        simulated: usize,
    },
    /// A read-only workload: the fault triggers on Read instead of Write.
    FaultOnRead,
    /// Path 0 loses this share of its segments for a while.
    LossWindow {
        /// Percent of segments lost.
        pct: u8,
        /// For how long.
        #[serde(rename = "for_ms", serialize_with = "as_ms")]
        lasting: Duration,
    },
    /// Path 0 loses every segment for a while.
    LossBurst {
        /// For how long.
        #[serde(rename = "for_ms", serialize_with = "as_ms")]
        lasting: Duration,
    },
    /// Every path connected: the application starts.
    ApplicationStarted,
    /// The run hit its time limit before the application finished.
    TimeLimit,
    // The host.
    /// The host refused to submit an application I/O.
    IoRefused {
        /// The application's operation number.
        op: u64,
        /// Why (the host's words).
        error: String,
    },
    /// An application I/O failed.
    IoFailed {
        /// The application's operation number.
        op: u64,
        /// Its first LBA.
        lba: u64,
        /// Why (the host's words).
        error: String,
    },
    /// The host could not produce bytes to send.
    HostError {
        /// Its words.
        error: String,
    },
    /// A controller is live on the entry's path.
    Connected {
        /// Its CNTLID.
        cntlid: u16,
        /// After a failure (not the first connect).
        reconnected: bool,
        /// CIU.
        ciu: u8,
        /// CIRN (hex in text and JSON).
        #[serde(serialize_with = "as_hex")]
        cirn: u64,
        /// CQT as reported, ms.
        cqt_ms: u16,
        /// CCRL as reported.
        ccrl: u8,
        /// TBKAS.
        tbkas: bool,
    },
    /// The host detected that a live controller failed: its commands are held.
    ControllerFailed {
        /// Its CNTLID.
        cntlid: u16,
        /// Why (the host's words).
        cause: String,
    },
    /// A connect attempt on the entry's path timed out.
    ConnectTimedOut,
    /// A connect attempt on the entry's path failed.
    ConnectFailed {
        /// Why (the host's words).
        cause: String,
    },
    /// A fenced path was torn down; it reconnects after a delay.
    TornDown {
        /// The delay.
        #[serde(rename = "reconnect_in_ms", serialize_with = "as_ms")]
        reconnect_in: Duration,
    },
    /// The host gave the path up.
    PathGivenUp,
    /// The path finished its orderly disconnect.
    Disconnected,
    /// An Asynchronous Event Request completed.
    Aen {
        /// The controller.
        cntlid: u16,
        /// CQE DW0.
        dw0: u32,
    },
    /// A CCR log page read completed.
    CcrLogRead {
        /// The controller it was read from.
        cntlid: u16,
        /// Read with success (`false`: an error status).
        ok: bool,
    },
    /// The host fenced a failed controller.
    FencingStarted {
        /// The failed controller.
        cntlid: u16,
        /// Commands held.
        held: usize,
        /// Side-effect-free commands released at once.
        released_at_once: usize,
        /// Time until the time-based deadline.
        #[serde(rename = "deadline_in_ms", serialize_with = "as_ms")]
        deadline_in: Duration,
    },
    /// A CCR was sent.
    CcrSent {
        /// The failed controller it resets.
        impacted: u16,
        /// The controller it is sent through.
        source: u16,
    },
    /// A CCR succeeded.
    CcrSucceeded {
        /// The failed controller.
        impacted: u16,
        /// The controller it went through.
        source: u16,
    },
    /// A CCR failed.
    CcrFailed {
        /// The failed controller.
        impacted: u16,
        /// The controller it went through.
        source: u16,
        /// Why.
        reason: String,
    },
    /// A source answered CCR with Invalid Opcode: no more CCRs through it until it reconnects.
    SourceCcrIncapable {
        /// The source.
        source: u16,
    },
    /// No CCR source left: time-based recovery.
    FellBackToTimer {
        /// The failed controller.
        cntlid: u16,
        /// Time left until the hold deadline.
        #[serde(rename = "remaining_ms", serialize_with = "as_ms")]
        remaining: Duration,
    },
    /// The hold deadline passed while an accepted CCR is in progress: still held.
    HoldExtended {
        /// The failed controller.
        cntlid: u16,
        /// The source that accepted the CCR.
        source: u16,
    },
    /// The hold deadline passed with no path live while another path is reconnecting: still held until a path
    /// comes back or is given up.
    HoldAwaitingPath {
        /// The failed controller.
        cntlid: u16,
    },
    /// The held commands were released.
    Released {
        /// The failed controller.
        cntlid: u16,
        /// Commands released.
        released: usize,
        /// Since fencing started.
        #[serde(rename = "after_ms", serialize_with = "as_ms")]
        after: Duration,
        /// The proof ("CCR succeeded", "hold deadline passed", ...).
        reason: &'static str,
    },
    // The target.
    /// The target refused a connection.
    ConnectionRefused {
        /// Why.
        error: String,
    },
    /// A scenario fault could not be armed.
    FaultNotArmed {
        /// The controller.
        cntlid: u16,
        /// Why.
        error: String,
    },
    /// The target could not produce bytes to send.
    TargetError {
        /// Its words.
        error: String,
    },
    /// A controller was created.
    ControllerCreated {
        /// Its CNTLID.
        cntlid: u16,
        /// The KATO it asked for.
        #[serde(rename = "kato_ms", serialize_with = "as_ms")]
        kato: Duration,
    },
    /// The target saw a controller fail (a fired fault has its own line).
    TargetControllerFailed {
        /// The controller.
        cntlid: u16,
        /// How.
        cause: TargetFailure,
    },
    /// A failed controller tears down.
    TearingDown {
        /// The controller.
        cntlid: u16,
        /// Queued commands cancelled.
        cancelled: usize,
        /// Started commands waited for.
        waiting: usize,
    },
    /// A failed controller is gone.
    TeardownComplete {
        /// The controller.
        cntlid: u16,
    },
    /// Node failover: the entry's path, on path 0's node, froze too.
    NodeFrozen,
    /// The scenario's fault fired.
    FaultFired {
        /// The controller.
        cntlid: u16,
        /// The command's opcode.
        opcode: u8,
        /// How long the command stays in the backend.
        #[serde(rename = "held_ms", serialize_with = "as_ms")]
        held: Duration,
        /// The path froze (else the controller became fatal).
        freeze: bool,
    },
    /// The command a fault held reached the media.
    StuckCommandLanded {
        /// The controller that accepted it.
        cntlid: u16,
    },
    /// A CCR arrived at the target.
    TargetCcrReceived {
        /// The source controller.
        source: u16,
        /// The controller it names.
        impacted: u16,
    },
    /// The target answered a CCR.
    TargetCcrAnswered {
        /// The source controller.
        source: u16,
        /// Success.
        accepted: bool,
        /// The status word sent.
        status: u16,
        /// CQE DW0 sent.
        dw0: u32,
    },
    /// A CCR Completed notice was raised.
    TargetCcrNotice {
        /// The source controller.
        source: u16,
    },
    /// A connection closed for an unusual cause.
    TargetConnectionClosed {
        /// Why.
        cause: String,
    },
    // The application and the checker.
    /// rw_test printed "validation failed".
    RwTestValidationFailed,
    /// A write superseded by a newer acknowledged write reached the media: the corruption, where it lands.
    StaleWrite {
        /// The block.
        lba: u64,
        /// The stale value.
        value: u64,
    },
    /// rw_test's verdict at the end.
    RwTestExit {
        /// Its exit status (0 passed every iteration, 1 validation failed).
        code: i32,
    },
    /// The engine's invariant monitor saw an invariant broken.
    EngineInvariantBroken {
        /// Which.
        what: String,
    },
    /// The register check found nothing.
    RegisterCheckClean,
    /// A checker violation.
    Violation {
        /// In words.
        what: String,
    },
}

fn as_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_nanos() as f64 / 1e6)
}

fn as_hex<S: serde::Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("{v:#018x}"))
}

/// Milliseconds with microsecond precision.
struct Millis(Duration);

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03} ms", self.0.as_millis(), self.0.subsec_micros() % 1000)
    }
}

/// Seconds with millisecond precision.
struct Secs(Duration);

impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03} s", self.0.as_secs(), self.0.subsec_millis())
    }
}

/// The line's words, as the text output prints them.
impl fmt::Display for TimelineEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use TimelineEvent as E;
        let p = self.path.map_or_else(|| "?".to_string(), |p| p.to_string());
        match &self.event {
            E::PathsClamped { asked, simulated } => {
                write!(f, "scenario asked for {asked} paths; simulating {simulated}")
            }
            E::FaultOnRead => f.write_str(
                "fault: a read-only workload never sends a Write; the fault triggers on Read (0x02) instead",
            ),
            E::LossWindow { pct, lasting } => {
                write!(f, "fault: path {p} loses {pct} % of its segments for {}", Secs(*lasting))
            }
            E::LossBurst { lasting } => write!(f, "fault: path {p} loses every segment for {}", Secs(*lasting)),
            E::ApplicationStarted => f.write_str("application started"),
            E::TimeLimit => {
                write!(f, "run stopped at the time limit ({}) with the application unfinished", Secs(self.at))
            }
            E::IoRefused { op, error } => write!(f, "host: I/O {op} refused: {error}"),
            E::IoFailed { op, lba, error } => write!(f, "host: I/O {op} (LBA {lba}) failed: {error}"),
            E::HostError { error } => write!(f, "host: {error}"),
            E::Connected { cntlid, reconnected, ciu, cirn, cqt_ms, ccrl, tbkas } => write!(
                f,
                "host: controller {cntlid} {} on path {p} (CIU {ciu:#04x}, CIRN {cirn:#018x}, CQT {cqt_ms} ms, CCRL {ccrl}, TBKAS {})",
                if *reconnected { "reconnected" } else { "connected" },
                if *tbkas { "on" } else { "off" }
            ),
            E::ControllerFailed { cntlid, cause } => write!(f, "host: controller {cntlid} (path {p}) failed: {cause}"),
            E::ConnectTimedOut => write!(f, "host: path {p}: connect attempt timed out"),
            E::ConnectFailed { cause } => write!(f, "host: path {p}: connect failed ({cause})"),
            E::TornDown { reconnect_in } => {
                write!(f, "host: path {p} torn down, reconnect in {}", Millis(*reconnect_in))
            }
            E::PathGivenUp => write!(f, "host: path {p} given up"),
            E::Disconnected => write!(f, "host: path {p} disconnected"),
            E::Aen { cntlid, dw0 } => write!(f, "host: AEN on controller {cntlid} (DW0 {dw0:#010x})"),
            E::CcrLogRead { cntlid, ok: true } => write!(f, "host: CCR log read from controller {cntlid}"),
            E::CcrLogRead { cntlid, ok: false } => write!(f, "host: CCR log read from controller {cntlid} failed"),
            E::FencingStarted { cntlid, held, released_at_once, deadline_in } => {
                write!(
                    f,
                    "host: fencing controller {cntlid}: {held} command(s) held, time-based deadline in {}",
                    Millis(*deadline_in)
                )?;
                if *released_at_once > 0 {
                    write!(f, "; {released_at_once} side-effect-free command(s) released at once")?;
                }
                Ok(())
            }
            E::CcrSent { impacted, source } => {
                write!(f, "host: CCR for controller {impacted} sent via controller {source}")
            }
            E::CcrSucceeded { impacted, source } => {
                write!(f, "host: CCR for controller {impacted} succeeded via controller {source}")
            }
            E::CcrFailed { impacted, source, reason } => {
                write!(f, "host: CCR for controller {impacted} via controller {source} failed: {reason}")
            }
            E::SourceCcrIncapable { source } => {
                write!(f, "host: controller {source} marked CCR-incapable until it reconnects")
            }
            E::FellBackToTimer { cntlid, remaining } => write!(
                f,
                "host: no CCR source left for controller {cntlid}: time-based recovery, {} remaining",
                Millis(*remaining)
            ),
            E::HoldExtended { cntlid, source } => write!(
                f,
                "host: hold deadline of controller {cntlid} passed; still held: controller {source} accepted its CCR, \
                 which is in progress"
            ),
            E::HoldAwaitingPath { cntlid } => write!(
                f,
                "host: hold deadline of controller {cntlid} passed with no path live; still held until a path comes \
                 back"
            ),
            E::Released { cntlid, released, after, reason } => write!(
                f,
                "host: released {released} held command(s) of controller {cntlid} after {} ({reason})",
                Millis(*after)
            ),
            E::ConnectionRefused { error } => write!(f, "target: connection refused: {error}"),
            E::FaultNotArmed { cntlid, error } => write!(f, "fault: not armed on controller {cntlid}: {error}"),
            E::TargetError { error } => write!(f, "target: {error}"),
            E::ControllerCreated { cntlid, kato } => {
                write!(f, "target: controller {cntlid} created (KATO {})", Millis(*kato))
            }
            E::TargetControllerFailed { cntlid, cause } => match cause {
                TargetFailure::KeepAliveExpired => write!(f, "target: controller {cntlid} keep-alive timer expired"),
                TargetFailure::HostClosed => write!(f, "target: controller {cntlid}: host closed the connection"),
                TargetFailure::AdminConnectionLost(c) => {
                    write!(f, "target: controller {cntlid}: admin connection lost ({c})")
                }
                TargetFailure::Ccr => write!(f, "target: controller {cntlid} made fatal by a CCR"),
                TargetFailure::Shutdown => write!(f, "target: controller {cntlid} shut down"),
            },
            E::TearingDown { cntlid, cancelled, waiting } => write!(
                f,
                "target: controller {cntlid} tearing down: {cancelled} queued command(s) cancelled, waiting for \
                 {waiting} started"
            ),
            E::TeardownComplete { cntlid } => write!(f, "target: controller {cntlid} teardown complete"),
            E::NodeFrozen => write!(f, "fault: node failover: path {p}, on path 0's node, frozen too"),
            E::FaultFired { cntlid, opcode, held, freeze } => {
                let name = if *opcode == nvme_proto::cmd::IoOpcode::WRITE.0 { "Write" } else { "Read" };
                if *freeze {
                    write!(
                        f,
                        "fault: path {p} frozen; controller {cntlid}'s {name} stuck in the backend for {}",
                        Millis(*held)
                    )
                } else {
                    write!(
                        f,
                        "fault: fopcode {opcode} fired on controller {cntlid}: {name} held {}, controller fatal",
                        Millis(*held)
                    )
                }
            }
            E::StuckCommandLanded { cntlid } => {
                write!(f, "target: controller {cntlid}'s stuck command reached the media")
            }
            E::TargetCcrReceived { source, impacted } => {
                write!(f, "target: CCR for controller {impacted} received by controller {source}")
            }
            E::TargetCcrAnswered { source, accepted: true, dw0, .. } => {
                write!(f, "target: controller {source}: CCR accepted (DW0 {dw0:#x})")
            }
            E::TargetCcrAnswered { source, accepted: false, status, .. } => {
                write!(f, "target: controller {source}: CCR refused (status {status:#06x})")
            }
            E::TargetCcrNotice { source } => write!(f, "target: CCR Completed notice on controller {source}"),
            E::TargetConnectionClosed { cause } => write!(f, "target: connection closed: {cause}"),
            E::RwTestValidationFailed => f.write_str("rw_test: validation failed"),
            E::StaleWrite { lba, value } => write!(
                f,
                "checker: LBA {lba}: stale write of {} reached the media after a newer write was acknowledged",
                crate::checker::show(*value)
            ),
            E::RwTestExit { code: 0 } => f.write_str("checker: rw_test passed every iteration (exit 0)"),
            E::RwTestExit { code } => write!(f, "checker: rw_test printed \"validation failed\" (exit {code})"),
            E::EngineInvariantBroken { what } => write!(f, "checker: engine invariant broken: {what}"),
            E::RegisterCheckClean => f.write_str("checker: register check clean"),
            E::Violation { what } => write!(f, "checker: {what}"),
        }
    }
}

/// One completed application I/O.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct LatencySample {
    /// Completion time (virtual, since start).
    pub at: Duration,
    /// Submission to completion as the application saw it (retries and holds included).
    pub latency: Duration,
    /// NVM opcode (1 Write, 2 Read).
    pub opcode: u8,
    /// Path (0-based) whose controller completed it.
    pub path: usize,
    /// Bytes moved (4096, or 131072 for the sequential workloads).
    pub bytes: u32,
}

/// One segment on the simulated wire: whole PDUs, as many as one `poll_transmit` of the sender gave (recorded when
/// [`Scenario::capture`](crate::Scenario::capture) is set).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WireRecord {
    /// Virtual time at which the sender put it on the wire.
    pub at: Duration,
    /// Path (0-based).
    pub path: usize,
    /// NVMe queue the TCP connection carries (0 = admin, 1 = I/O).
    pub queue: u16,
    /// `true` host to controller, `false` controller to host.
    pub to_controller: bool,
    /// The PDUs, digests included.
    pub bytes: Vec<u8>,
    /// Which TCP connection of that path and queue (0 for the first association, 1 after the first reconnect, ...).
    pub connection: u32,
}

/// Everything one [`run`](crate::run) reports.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Report {
    /// Checker verdict: rw_test validation failed, or the register check was violated.
    pub corrupted: bool,
    /// Human-readable checker violations (empty when not corrupted).
    pub violations: Vec<String>,
    /// The first invariant of the host's recovery engine that nvme-ccr's monitor saw broken (no release without
    /// proof, the hold and its extension, CCRL, well-formed outputs), if any.
    pub engine_violation: Option<String>,
    /// Application I/O commands completed successfully.
    pub commands_completed: u64,
    /// Largest application I/O latency (the stall a user sees).
    pub max_latency: Duration,
    /// 99th percentile application I/O latency (nearest rank).
    pub p99_latency: Duration,
    /// Virtual time of the first failure detection (since start).
    pub detect: Option<Duration>,
    /// From that detection to the release of the held commands (`None` if nothing was held).
    pub release: Option<Duration>,
    /// Failure, fencing, CCR sent/succeeded, fallback, release, reconnect, checker verdicts.
    pub timeline: Vec<TimelineEntry>,
    /// One sample per completed application I/O, in completion order.
    pub latencies: Vec<LatencySample>,
    /// Every segment on the wire, in time order (only when capturing).
    pub wire: Vec<WireRecord>,
    /// rw_test: the exact stdout/stderr lines the Linux test's rw_test program prints.
    pub rw_test_output: Vec<String>,
    /// rw_test: the exit status the Linux test's rw_test program would return (0 all iterations passed, 1 at the first failure);
    /// `None` for other workloads or when the run hit its time limit first.
    pub rw_test_exit: Option<i32>,
    /// Virtual time the run covered.
    pub sim_time: Duration,
    /// Number of discrete events processed (a cost measure).
    pub events: u64,
    /// Commands held at fencing starts (sum over every fenced controller; released-at-once ones not counted).
    pub held: u64,
    /// CCRs the host sent.
    pub ccrs_sent: u64,
    /// Times the host fell back to the time-based hold (no CCR source left, or a policy without CCR).
    pub fallbacks: u64,
    /// Throughput and latency metrics ([`crate::metrics`]): latencies split into reads and writes, and the dip
    /// around the fault time (in 100 ms windows).
    pub metrics: Summary,
    /// Completions per 100 ms bin over the run.
    pub throughput: Series,
    /// The admin stream's reads (SMART / Health log, side-effect-free): sent, answered, failed, and the admin stall.
    pub admin: AdminStats,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(at_us: u64, path: Option<usize>, event: TimelineEvent) -> TimelineEntry {
        TimelineEntry { at: Duration::from_micros(at_us), path, event }
    }

    /// The text is the timeline's words (times in ms with µs, CIRN and DW0 in hex); the JSON is one object per line
    /// with `at_ms`, `path`, `kind` and the event's own fields.
    #[test]
    fn entries_read_as_words_and_serialize_as_objects() {
        let sent = entry(2_001_234, Some(0), TimelineEvent::CcrSent { impacted: 1, source: 2 });
        assert_eq!(sent.what(), "host: CCR for controller 1 sent via controller 2");
        let json = serde_json::to_value(&sent).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"at_ms": 2001.234, "path": 0, "kind": "ccr_sent", "impacted": 1, "source": 2})
        );

        let live = entry(
            5,
            Some(1),
            TimelineEvent::Connected {
                cntlid: 2,
                reconnected: false,
                ciu: 0xd5,
                cirn: 0x1234,
                cqt_ms: 0,
                ccrl: 4,
                tbkas: true,
            },
        );
        assert_eq!(
            live.what(),
            "host: controller 2 connected on path 1 (CIU 0xd5, CIRN 0x0000000000001234, CQT 0 ms, CCRL 4, TBKAS on)"
        );
        assert_eq!(serde_json::to_value(&live).unwrap()["cirn"], "0x0000000000001234");

        let fenced = entry(
            0,
            Some(0),
            TimelineEvent::FencingStarted {
                cntlid: 1,
                held: 1,
                released_at_once: 2,
                deadline_in: Duration::from_micros(15_000_345),
            },
        );
        assert_eq!(
            fenced.what(),
            "host: fencing controller 1: 1 command(s) held, time-based deadline in 15000.345 ms; 2 side-effect-free \
             command(s) released at once"
        );
        let released = entry(
            0,
            Some(0),
            TimelineEvent::Released {
                cntlid: 1,
                released: 1,
                after: Duration::from_micros(2_010_231),
                reason: "CCR succeeded",
            },
        );
        assert_eq!(
            released.what(),
            "host: released 1 held command(s) of controller 1 after 2010.231 ms (CCR succeeded)"
        );
        assert_eq!(serde_json::to_value(&released).unwrap()["after_ms"], 2010.231);
        let stale = entry(0, Some(0), TimelineEvent::StaleWrite { lba: 0, value: 5 });
        assert!(stale.what().starts_with("checker: LBA 0: stale write of 5 reached the media"));
        let fired = entry(
            0,
            Some(0),
            TimelineEvent::FaultFired { cntlid: 1, opcode: 1, held: Duration::from_secs(2), freeze: false },
        );
        assert_eq!(fired.what(), "fault: fopcode 1 fired on controller 1: Write held 2000.000 ms, controller fatal");
        let answered =
            entry(0, None, TimelineEvent::TargetCcrAnswered { source: 2, accepted: false, status: 0x7e, dw0: 0 });
        assert_eq!(answered.what(), "target: controller 2: CCR refused (status 0x007e)");
        let timeout = TimelineEntry { at: Duration::from_millis(15_001), path: None, event: TimelineEvent::TimeLimit };
        assert_eq!(timeout.what(), "run stopped at the time limit (15.001 s) with the application unfinished");
    }
}
