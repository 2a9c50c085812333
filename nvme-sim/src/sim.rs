//! The discrete-event loop that ties the target, the links, the host and the workload together.

use std::collections::HashMap;
use std::time::Duration;

use nvme_ccr::Config;
use nvme_fabric::controller::MediaId;
use nvme_proto::cmd::IoOpcode;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::admin::AdminStream;
use crate::checker::Checker;
use crate::clock::{EventQueue, MS, Nanos, SEC, dur, ns};
use crate::host::{Host, HostCfg};
use crate::metrics::{IoKind, Recorder};
use crate::net::{ConnId, LinkCfg, Net};
use crate::report::{LatencySample, Report, TimelineEntry, TimelineEvent};
use crate::scenario::{FaultKind, PathFault, Scenario, WorkloadKind};
use crate::target::{Armed, CcrMode, FaultState, Target, TgtCfg};
use crate::workload::{AppIo, BLOCK, Codec, RW_ITERATIONS, WlOut, Workload};

/// Virtual time allowed beyond the workload's nominal length before a run is stopped (a run whose application can
/// never finish, e.g. every path frozen, ends there).
const TIME_CAP_MARGIN: Nanos = 600 * SEC;
/// Resolution of the throughput counts ([`Recorder`]).
const METRICS_RESOLUTION: Duration = Duration::from_millis(1);
/// The window the dip is measured in.
pub const DIP_WINDOW: Duration = Duration::from_millis(100);
/// The bin of [`Report::throughput`].
pub const SERIES_BIN: Duration = Duration::from_millis(100);
/// Nominal virtual length of one rw_test iteration (5 s + 3 s of sleeps, plus I/O).
const RW_ITERATION_NOMINAL: Nanos = 8_100 * MS;

/// Everything scheduled.
#[derive(Debug)]
pub(crate) enum Event {
    /// The next segment of a stream arrives.
    Arrive {
        conn: ConnId,
        to_controller: bool,
    },
    /// The subsystem's next deadline (`Subsystem::poll_timeout`).
    TgtTimer {
        at: Nanos,
    },
    /// A media operation's service time is over.
    TgtMediaDone {
        id: MediaId,
    },
    /// Scenario fault `fault` may be armed from now on.
    TgtArm {
        fault: usize,
    },
    /// The host's next deadline (`Host::poll_timeout`): keep-alive, command and bring-up timeouts, reconnects, the
    /// engine's holds.
    HostTimer {
        at: Nanos,
    },
    AppTimer {
        worker: usize,
    },
    /// The admin stream's next round of monitoring reads.
    AdminTick,
}

/// The shared simulation context handed to every component.
pub(crate) struct Ctx {
    pub(crate) now: Nanos,
    pub(crate) q: EventQueue<Event>,
    pub(crate) rng: ChaCha8Rng,
    pub(crate) net: Net,
    pub(crate) timeline: Vec<TimelineEntry>,
    /// (I/O connection, CID) -> application op: lets the target tell the checker whose data landed.
    pub(crate) op_map: HashMap<(ConnId, u16), u64>,
    /// Completed application I/Os: (io, path, read data).
    pub(crate) completions: Vec<(AppIo, usize, Vec<u8>)>,
    /// Application I/Os the host failed (an error status after its retries, or no path left).
    pub(crate) failures: Vec<AppIo>,
    /// The admin stream's reads completed: (path, answered with success).
    pub(crate) admin_done: Vec<(usize, bool)>,
    pub(crate) checker: Checker,
    pub(crate) codec: Codec,
}

impl Ctx {
    /// Add a timeline line.
    pub(crate) fn note(&mut self, path: Option<usize>, event: TimelineEvent) {
        self.timeline.push(TimelineEntry { at: dur(self.now), path, event });
    }
}

/// The faults to arm and the target's CCR behaviour for a scenario.
pub(crate) fn faults_of(
    s: &Scenario,
    paths: usize,
    notes: &mut Vec<(Option<usize>, TimelineEvent)>,
) -> (Vec<Armed>, CcrMode) {
    let mut armed = Vec::new();
    let mut opcode = s.fopcode;
    let read_only = matches!(s.workload, WorkloadKind::Read | WorkloadKind::SeqRead);
    if read_only && opcode == IoOpcode::WRITE.0 && s.fault.fails_a_controller() {
        notes.push((None, TimelineEvent::FaultOnRead));
        opcode = IoOpcode::READ.0;
    }
    let kind = match s.fault {
        FaultKind::None | FaultKind::Loss(_) | FaultKind::LossBurst => None,
        FaultKind::Freeze => Some(PathFault::Freeze),
        _ => Some(PathFault::Fatal),
    };
    if let Some(kind) = kind {
        armed.push(Armed {
            path: 0,
            kind,
            opcode,
            at: ns(s.effective_fault_at()),
            delay: ns(s.delay),
            state: FaultState::Waiting,
        });
    }
    for f in &s.extra_faults {
        if f.path < paths {
            armed.push(Armed {
                path: f.path,
                kind: f.kind,
                opcode: f.opcode,
                at: ns(f.at),
                delay: ns(f.delay),
                state: FaultState::Waiting,
            });
        }
    }
    let mode = match s.fault {
        FaultKind::CcrFail => CcrMode::Fail,
        FaultKind::CcrUnsupported => CcrMode::Unsupported,
        _ => CcrMode::Normal,
    };
    (armed, mode)
}

/// Run one scenario to the end.
pub(crate) fn run(s: &Scenario) -> Report {
    let paths = s.effective_paths().clamp(1, nvme_ccr::MAX_PATHS);
    let mut notes = Vec::new();
    if paths != s.paths {
        notes.push((None, TimelineEvent::PathsClamped { asked: s.paths, simulated: paths }));
    }
    let (faults, ccr_mode) = faults_of(s, paths, &mut notes);
    let workload = Workload::new(s);
    let mut ctx = Ctx {
        now: 0,
        q: EventQueue::new(),
        rng: ChaCha8Rng::seed_from_u64(s.seed),
        net: Net::new(
            LinkCfg {
                latency: ns(s.link_latency),
                jitter: ns(s.link_jitter),
                loss: s.loss.clamp(0.0, 0.5),
                rto: ns(s.rto),
            },
            paths,
            s.capture,
        ),
        timeline: Vec::new(),
        op_map: HashMap::new(),
        completions: Vec::new(),
        failures: Vec::new(),
        admin_done: Vec::new(),
        checker: Checker::default(),
        codec: workload.codec,
    };
    let fault_at = ns(s.effective_fault_at());
    match s.fault {
        FaultKind::Loss(pct) => {
            ctx.net.set_loss_window(0, fault_at, fault_at + ns(s.loss_window), f64::from(pct) / 100.0);
            notes.push((Some(0), TimelineEvent::LossWindow { pct, lasting: s.loss_window }));
        }
        FaultKind::LossBurst => {
            ctx.net.set_burst(0, fault_at, fault_at + ns(s.burst));
            notes.push((Some(0), TimelineEvent::LossBurst { lasting: s.burst }));
        }
        _ => {}
    }
    for (path, n) in notes {
        ctx.note(path, n);
    }
    let kato = ns(s.kato).max(MS);
    let cqt_ms = u16::try_from(s.cqt.as_millis()).unwrap_or(u16::MAX);
    let target_seed = ctx.rng.random();
    let mut target = Target::new(
        TgtCfg {
            tbkas: s.tbkas,
            cqt_ms,
            ccrl: s.ccrl,
            service_min: ns(s.service_min),
            service_max: ns(s.service_max),
            teardown: ns(s.teardown),
            immediate_reset: s.immediate_reset,
            ccr_mode,
            node_mate: (s.fault == FaultKind::NodeFailover && paths >= 4).then_some(1),
            per_kib: match s.media_bandwidth {
                0 => 0,
                bw => 1_024 * SEC / bw,
            },
        },
        faults,
        target_seed,
    );
    for (i, f) in target.faults.iter().enumerate() {
        ctx.q.push(f.at, Event::TgtArm { fault: i });
    }
    let mut config = Config::new(s.policy);
    config.cqt_fallback = s.cqt_fallback;
    config.ccr_wait = s.ccr_wait;
    config.ccr_sources = s.ccr_sources;
    config.cqt0_rule = s.cqt0_rule;
    let host = Host::new(HostCfg { kato, reconnect_delay: ns(s.reconnect_delay), engine: config }, paths);

    let nominal = match s.workload {
        WorkloadKind::RwTest => u64::from(s.iterations.unwrap_or(RW_ITERATIONS)) * RW_ITERATION_NOMINAL,
        _ => ns(s.duration),
    };
    let cap = nominal.saturating_add(TIME_CAP_MARGIN);

    let mut sim = Sim {
        ctx,
        target,
        host,
        workload,
        admin: AdminStream::new(ns(s.admin_interval), paths),
        started: false,
        invoked: HashMap::new(),
        latencies: Vec::new(),
        rw_out: Vec::new(),
        events: 0,
    };
    sim.host.start(&mut sim.ctx);
    let mut capped = false;
    while let Some((at, ev)) = sim.ctx.q.pop() {
        if at > cap {
            capped = true;
            sim.ctx.now = cap;
            break;
        }
        sim.ctx.now = at;
        sim.events += 1;
        sim.dispatch(ev);
        sim.after_event();
        if sim.started && sim.workload.done(sim.ctx.now) && !sim.target.has_pending_media_work() {
            break;
        }
    }
    target = sim.target;
    let host = sim.host;
    let mut ctx = sim.ctx;
    if capped {
        ctx.note(None, TimelineEvent::TimeLimit);
    }
    let codec = ctx.codec;
    let now = ctx.now;
    ctx.checker.finish(now, |lba| target.value(lba, codec));
    let violations = core::mem::take(&mut ctx.checker.violations);
    let exit = sim.workload.exit();
    let rw_failed = exit == Some(1);
    let corrupted = rw_failed || !violations.is_empty();
    if sim.workload.is_rw_test()
        && let Some(code) = exit
    {
        ctx.note(None, TimelineEvent::RwTestExit { code });
    }
    let engine_violation = host.engine_violation();
    if let Some(v) = &engine_violation {
        ctx.note(None, TimelineEvent::EngineInvariantBroken { what: v.clone() });
    }
    if violations.is_empty() {
        ctx.note(None, TimelineEvent::RegisterCheckClean);
    } else {
        for v in &violations {
            ctx.note(None, TimelineEvent::Violation { what: v.clone() });
        }
    }
    let mut recorder = Recorder::new(METRICS_RESOLUTION, dur(now));
    for l in &sim.latencies {
        let kind = if l.opcode == IoOpcode::WRITE.0 { IoKind::Write } else { IoKind::Read };
        recorder.record(l.at, kind, l.latency, u64::from(l.bytes));
    }
    let fault = s.fault.ne(&FaultKind::None).then(|| s.effective_fault_at());
    let metrics = recorder.summary(fault, DIP_WINDOW);
    let throughput = recorder.series(SERIES_BIN);
    let mut lat: Vec<Nanos> = sim.latencies.iter().map(|l| ns(l.latency)).collect();
    lat.sort_unstable();
    let p99 = if lat.is_empty() { 0 } else { lat[(lat.len() * 99).div_ceil(100).saturating_sub(1)] };
    let detect = host.first_detect;
    Report {
        corrupted,
        engine_violation,
        violations: if corrupted && violations.is_empty() {
            vec!["rw_test: validation failed (LBA 0 did not hold 9)".into()]
        } else {
            violations
        },
        commands_completed: sim.latencies.len() as u64,
        max_latency: dur(lat.last().copied().unwrap_or(0)),
        p99_latency: dur(p99),
        detect: detect.map(dur),
        release: match (detect, host.first_release) {
            (Some(d), Some(r)) => Some(dur(r.saturating_sub(d))),
            _ => None,
        },
        timeline: ctx.timeline,
        latencies: sim.latencies,
        wire: ctx.net.capture.take().unwrap_or_default(),
        rw_test_output: sim.rw_out,
        rw_test_exit: exit,
        sim_time: dur(now),
        events: sim.events,
        held: host.held,
        ccrs_sent: host.ccrs_sent,
        fallbacks: host.fallbacks,
        metrics,
        throughput,
        admin: sim.admin.stats,
    }
}

struct Sim {
    ctx: Ctx,
    target: Target,
    host: Host,
    workload: Workload,
    admin: AdminStream,
    started: bool,
    invoked: HashMap<u64, Nanos>,
    latencies: Vec<LatencySample>,
    rw_out: Vec<String>,
    events: u64,
}

impl Sim {
    fn dispatch(&mut self, ev: Event) {
        let ctx = &mut self.ctx;
        match ev {
            Event::Arrive { conn, to_controller } => {
                if let Some(seg) = ctx.net.arrive(conn, to_controller) {
                    if to_controller {
                        self.target.on_segment(ctx, conn, seg);
                    } else {
                        self.host.on_segment(ctx, conn, seg);
                    }
                }
            }
            Event::TgtTimer { at } => self.target.on_timer(ctx, at),
            Event::TgtMediaDone { id } => self.target.on_media_done(ctx, id),
            Event::TgtArm { fault } => self.target.on_arm(ctx, fault),
            Event::HostTimer { at } => self.host.on_timer(ctx, at),
            Event::AppTimer { worker } => {
                let mut out = WlOut::default();
                self.workload.timer(ctx.now, &mut ctx.rng, worker, &mut out);
                self.apply(out);
            }
            Event::AdminTick => self.admin_tick(),
        }
    }

    /// The admin stream: a monitoring read to every live path with none outstanding, and the next round.
    fn admin_tick(&mut self) {
        for path in 0..self.admin.paths() {
            if self.admin.idle(path) && self.host.submit_admin(&mut self.ctx, path) {
                self.admin.sent(path, self.ctx.now);
            }
        }
        self.ctx.q.push(self.ctx.now + self.admin.interval, Event::AdminTick);
    }

    fn after_event(&mut self) {
        if !self.started && self.host.all_connected {
            self.started = true;
            self.ctx.note(None, TimelineEvent::ApplicationStarted);
            let mut out = WlOut::default();
            self.workload.start(self.ctx.now, &mut self.ctx.rng, &mut out);
            self.apply(out);
            // The first monitoring round one interval after the start.
            if self.admin.interval > 0 {
                self.ctx.q.push(self.ctx.now + self.admin.interval, Event::AdminTick);
            }
        }
        for (path, ok) in core::mem::take(&mut self.ctx.admin_done) {
            self.admin.done(path, self.ctx.now, ok);
        }
        while !self.ctx.completions.is_empty() || !self.ctx.failures.is_empty() {
            let done = core::mem::take(&mut self.ctx.completions);
            for (io, path, data) in done {
                let now = self.ctx.now;
                let invoke = self.invoked.remove(&io.op).unwrap_or(now);
                self.latencies.push(LatencySample {
                    at: dur(now),
                    latency: dur(now - invoke),
                    opcode: if io.write { IoOpcode::WRITE.0 } else { IoOpcode::READ.0 },
                    path,
                    bytes: io.blocks * BLOCK as u32,
                });
                for k in 0..io.blocks {
                    let lba = io.lba + u64::from(k);
                    if io.write {
                        self.ctx.checker.write_acked(io.op, lba, now);
                    } else {
                        let b = k as usize * BLOCK;
                        let v = self.ctx.codec.value(data.get(b..b + BLOCK).unwrap_or(&[]));
                        self.ctx.checker.read_done(io.op, lba, v, now);
                    }
                }
                let mut out = WlOut::default();
                self.workload.complete(now, &mut self.ctx.rng, &io, &data, &mut out);
                self.apply(out);
            }
            // A failed I/O (never with the simulated target: it answers no error status, and a path is retried
            // until the run ends): a write stays unacknowledged (it may land or not), a read returns nothing.
            for io in core::mem::take(&mut self.ctx.failures) {
                let now = self.ctx.now;
                self.invoked.remove(&io.op);
                if !io.write {
                    for k in 0..io.blocks {
                        self.ctx.checker.read_failed(io.op, io.lba + u64::from(k));
                    }
                }
                let mut out = WlOut::default();
                self.workload.failed(now, &io, &mut out);
                self.apply(out);
            }
        }
    }

    fn apply(&mut self, out: WlOut) {
        let now = self.ctx.now;
        for line in out.lines {
            if line == "validation failed" {
                self.ctx.note(None, TimelineEvent::RwTestValidationFailed);
            }
            self.rw_out.push(line);
        }
        for (t, w) in out.timers {
            self.ctx.q.push(t, Event::AppTimer { worker: w });
        }
        for io in out.submit {
            self.invoked.insert(io.op, now);
            for k in 0..io.blocks {
                let lba = io.lba + u64::from(k);
                if io.write {
                    self.ctx.checker.write_invoked(io.op, lba, io.value, now);
                } else {
                    self.ctx.checker.read_invoked(io.op, lba, now);
                }
            }
            self.host.submit(&mut self.ctx, io);
        }
    }
}
