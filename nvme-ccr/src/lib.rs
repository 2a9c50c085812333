//! # nvme-ccr
//!
//! The Sans-IO engine that decides when a command that was in flight on a failed NVMe-oF path may safely run
//! again elsewhere, and the controller-side half of Cross-Controller Reset. `no_std` (with `alloc`), no `unsafe`,
//! no clock, thread, socket or randomness inside: time and random values are inputs, outputs are pulled.
//!
//! It follows **NVMe Base 2.3** (which includes **TP8028**, Rapid Path Failure Recovery: the Cross-Controller
//! Reset command 0x38, the CCR log page 0x1E, CIU/CIRN/CCRL) and **TP4129** (Command Quiesce Time, CQT, in NVMe
//! 2.1), and the Linux host design of the TP8028 series (states LIVE -> FENCING -> FENCED -> RESETTING ->
//! CONNECTING -> LIVE), with the choices written down in [`notes::recovery`] where Linux is vague.
//!
//! * [`Engine`]: the host side. One subsystem reached through several controllers ("paths"). When a LIVE
//!   controller fails, its outstanding commands are **held**; CCRs are tried through the other live controllers
//!   in turn (honouring CCRL); the held commands are released, to be retried on another path or failed with a
//!   host path error when none is left, only once a CCR proved the exact failed instance (CNTLID, CIU, CIRN)
//!   reset, or once the time-based hold `(TBKAS ? 3 : 2) x KATO + (CQT or F)` has passed and no CCR that a live
//!   source accepted (or has not answered yet) is still in progress, nor, when the last one was lost without the
//!   target's verdict, an untried live source left to ask ([`Engine`], "An accepted CCR outlives the hold
//!   deadline"). [`Policy`] selects `legacy` (the unsafe baseline), `cqt`, `ccr` or `ccr-filter`.
//! * [`target`]: the controller side, shared by the simulator and the test target: CIU/CIRN per controller,
//!   executing a CCR (matching, CCRL, log capacity, 0x3F/0x40/0x41), the CCR log with RMC, the AEN, IRS, and the
//!   `ccr-fail` / `ccr-unsupported` fault switches.
//! * `check` (feature `check`): the safety invariants every checker of the workspace uses: the engine monitor,
//!   the register checker of the data, and an engine with its monitor in front.
//! * [`notes`]: the facts and decisions behind the code, in our words, with their public sources:
//!   [`notes::ccr_cqt`] (CCR and time-based recovery, the Linux host and target series, the fault model) and
//!   [`notes::recovery`] (the engine's guarantees and its numbered decisions). Byte layouts are in
//!   [`nvme_proto::notes`]. Doc comments cite them by section or decision ("notes::ccr_cqt §14").
//!
//! ## What you need to know
//!
//! **The guarantee.** A held command with side effects is neither retried elsewhere, nor completed, nor failed back
//! to its submitter before a CCR success for its controller's exact instance (CNTLID, CIU, CIRN) in this fencing
//! episode, or its hold deadline ([`notes::ccr_cqt`] §7.4, §14). Only [`Policy::Legacy`], the unsafe baseline,
//! breaks it.
//!
//! **The hold.** `(TBKAS ? 3 : 2) x KATO + (CQT != 0 ? CQT : F)` from loss detection ([`notes::ccr_cqt`] §6.2,
//! §6.3). The formula is Linux's; **F** is ours: the specification asks for an administrator-set wait when a
//! controller reports CQT = 0 ("not reported"), and F ([`Config::cqt_fallback`], default [`DEFAULT_CQT_FALLBACK`],
//! 10 s, the specification's own example) takes CQT's place then. The Linux RFC does not hold at all in that case
//! (our `legacy`). KATO 5 s with TBKAS gives 15 001 ms for CQT 1 ms and 25 000 ms for CQT 0.
//!
//! **Values that are ours or unconfirmed**, each behind one named constant ([`notes::recovery`], "Unconfirmed values
//! and where they live"):
//!
//! * [`DEFAULT_CQT_FALLBACK`] (10 s): F, above.
//! * [`DEFAULT_FINAL_LOG_WAIT`] (1 s): how long the last CCR log read after a per-CCR wait may take (ours).
//! * [`DEFAULT_ACCEPTED_CCR_RECHECK`] (1 s): the CCR log re-read period while a CCR holds past the deadline (ours).
//! * [`CcrWait::KatoPlusCqt`], the default per-CCR wait: the reviewers' reading; the Linux series is unresolved
//!   ([`notes::ccr_cqt`] §12).
//! * [`target::CCR_NOT_FOUND`] (Invalid Field in Command): the status for "impacted controller not found"; no
//!   dedicated code is known.
//! * [`target::IRS_RESULT`] (IRS = 1, V = 1, CLRI = 0) and [`target::SUCCESS_CCRF`] (V set): what the target reports;
//!   V and CLRI are known by name only.
//! * The CCR Completed notice's AEI, 0xF4, is nvme-proto's [`AEI_CCR_COMPLETED`](nvme_proto::cmd::AEI_CCR_COMPLETED);
//!   a Notice naming log 0x1E from a source with CCRs through it counts as that notice whatever its AEI.
//!
//! **Choices where the specification or Linux is silent** (numbered decisions in [`notes::recovery`]):
//!
//! * A controller that reports CIU = 0 or CCRL = 0 (older than TP8028) is still tried: CCRL = 0 means one CCR in
//!   flight through that source; Invalid Command Opcode marks a source CCR-incapable until it reconnects
//!   ([`notes::ccr_cqt`] §2; decisions 7, 9).
//! * Under `ccr` and `ccr-filter` a CCR that a live source accepted, or has not answered yet, keeps the commands held
//!   past the deadline until it resolves ([`Event::HoldExtendedByCcr`]); [`Config::accepted_ccr_limit`] (default
//!   none) bounds that. A target reports CCR success only after the real teardown, so only that report is safe
//!   against a target that breaks its CQT promise (decisions 24–28).
//! * The hold starts at loss detection, the `now` of [`Engine::handle_controller_failed`] (decision 1).
//! * A completion that arrives for a held command is dropped ([`Completion::Held`]): the command stays held
//!   (decision 12).
//! * Sources are tried one at a time in ascending CNTLID order (Linux's), each at most once per episode; CCR log reads
//!   always use RMC = 1 and read the whole page (decisions 5, 10, 22).
//! * Side effects are nvme-proto's classification: Get Log Page with RAE = 0 and unknown opcodes are held even under
//!   `ccr-filter` (decision 20).
//!
//! ## Call order (host)
//!
//! 1. [`Engine::add_controller`] for each path as it becomes live.
//! 2. For every event, the matching input, each with `now`: [`Engine::handle_submit`] before a command goes
//!    out, [`Engine::handle_complete`] when its completion arrives, [`Engine::handle_controller_failed`],
//!    [`Engine::handle_ccr_completion`], [`Engine::handle_aen`], [`Engine::handle_ccr_log`] /
//!    [`Engine::handle_ccr_log_failed`], [`Engine::handle_connecting`], [`Engine::handle_reconnected`],
//!    [`Engine::handle_path_gone`] when the driver gives a reconnecting path up, and [`Engine::handle_timeout`] when
//!    [`Engine::poll_timeout`] is reached.
//! 3. After each input, drain [`Engine::poll_ccr`], [`Engine::poll_log_read`], [`Engine::poll_release`],
//!    [`Engine::poll_path_action`], [`Engine::poll_event`], then re-arm the timer from [`Engine::poll_timeout`].
//!
//! New commands go only to [`Engine::usable_paths`].
//!
//! ## Example: one failover with CCR
//!
//! The seed timeline ([notes::ccr_cqt §14](crate::notes::ccr_cqt)): W5 is in flight on ctrl1 when ctrl1 dies; the CCR
//! through ctrl2 succeeds at t = 2 s, and only then is W5 retried, on ctrl2.
//!
//! ```
//! use core::time::Duration;
//! use nvme_ccr::{Ccrl, CommandKind, Config, ControllerFacts, Cqt, Engine, FailureReason, Instant, PathAction, Policy,
//!                ReleaseAction, ReleaseReason};
//! use nvme_proto::cmd::{AsyncEvent, CcrLogEntry, CcrLogPage, Ccrs, Status};
//!
//! let facts = |cntlid, cirn| ControllerFacts {
//!     cntlid, ciu: 1, cirn, cqt: Cqt::from_raw(1), ccrl: Ccrl::from_raw(4), kato: Duration::from_secs(5), tbkas: true,
//! };
//! let ms = Instant::from_millis;
//! let mut engine = Engine::new(Config::new(Policy::Ccr));
//! let ctrl1 = engine.add_controller(ms(0), facts(1, 0xAAAA)).unwrap();
//! let ctrl2 = engine.add_controller(ms(0), facts(2, 0xBBBB)).unwrap();
//!
//! // t = 0: W5 goes out on ctrl1.
//! engine.handle_submit(ms(0), ctrl1, 5, CommandKind::Write).unwrap();
//!
//! // t = 1 ms: ctrl1's connection drops. W5 is held; new commands go to ctrl2 only.
//! engine.handle_controller_failed(ms(1), ctrl1, FailureReason::TransportError).unwrap();
//! assert_eq!(engine.usable_paths().collect::<Vec<_>>(), [ctrl2]);
//! assert_eq!(engine.hold_deadline(ctrl1), Some(ms(1 + 15_001)));
//! assert!(engine.poll_release().is_none());
//!
//! // The engine asks for a CCR through ctrl2 naming ctrl1's instance; the source accepts it (IRS = 0).
//! let ccr = engine.poll_ccr().unwrap();
//! assert_eq!((ccr.source, ccr.command.icid, ccr.command.ciu, ccr.command.cirn), (ctrl2, 1, 1, 0xAAAA));
//! let _sqe = ccr.command.to_sqe(7); // what the driver sends on ctrl2's admin queue
//! engine.handle_ccr_completion(ms(2), ccr.id, Status::SUCCESS, 0).unwrap();
//!
//! // t = 2 s: ctrl1's teardown is complete; ctrl2 raises the CCR Completed notice; the engine reads the log.
//! engine.handle_aen(ms(2_000), ctrl2, AsyncEvent::ccr_completed().to_dw0()).unwrap();
//! let read = engine.poll_log_read().unwrap();
//! assert!(read.rmc);
//! let mut page = [0u8; 16];
//! let entry = CcrLogEntry { icid: 1, ciu: 1, acid: 2, ccrs: Ccrs::SUCCESS, ccrf: 0 };
//! CcrLogPage::emit(&[entry], &mut page).unwrap();
//! engine.handle_ccr_log(ms(2_001), read.id, &page).unwrap();
//!
//! // Proof obtained: W5 is released for a retry on ctrl2, and ctrl1 may now reconnect.
//! let r = engine.poll_release().unwrap();
//! assert_eq!((r.token, r.action), (5, ReleaseAction::Retry { path: ctrl2 }));
//! assert_eq!(r.reason, ReleaseReason::CcrSucceeded { source: ctrl2 });
//! assert_eq!(engine.poll_path_action(), Some(PathAction::Reconnect { path: ctrl1 }));
//! ```
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

#[cfg(feature = "check")]
pub mod check;
mod display;
mod engine;
mod error;
mod facts;
mod hold;
pub mod notes;
mod output;
mod policy;
mod source;
mod table;
pub mod target;
mod time;

pub use engine::Engine;
pub use error::{CcrError, CompleteError, LogError, PathError, SubmitError};
pub use facts::{ControllerFacts, Instance, cqt_or_fallback};
pub use hold::ReleaseReason;
pub use nvme_proto::cmd::{Ccrl, Cqt};
pub use output::{CCR_LOG_BYTES, CcrFailure, Event, PathAction, ReadCcrLog, Release, ReleaseAction, SendCcr};
pub use policy::{
    CcrSources, CcrWait, CommandKind, Config, Cqt0Rule, DEFAULT_ACCEPTED_CCR_RECHECK, DEFAULT_CQT_FALLBACK,
    DEFAULT_FINAL_LOG_WAIT, Policy, SourceCandidate, SourceOrder, UnknownPolicy,
};
pub use table::CommandInfo;
pub use time::Instant;

/// The most paths (controllers of the subsystem) one engine tracks. Controllers are few; the bound lets a fencing
/// episode remember the sources it tried in one `u64`.
pub const MAX_PATHS: usize = 64;

/// A path: the engine's name for one controller position of the subsystem, stable across reconnects (the
/// controller behind it, its CNTLID, CIU and CIRN, may change). Assigned by [`Engine::add_controller`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PathId(pub u32);

impl PathId {
    pub(crate) const fn index(self) -> usize {
        self.0 as usize
    }

    /// The path's bit in a fencing episode's `tried` set (ids are below [`MAX_PATHS`]).
    pub(crate) const fn bit(self) -> u64 {
        1u64 << (self.0 % 64)
    }
}

/// The engine's name for one CCR it asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CcrId(pub u64);

/// The engine's name for one CCR log read it asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogReadId(pub u64);

/// The state of a path ([notes::ccr_cqt §7.2](crate::notes::ccr_cqt)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PathState {
    /// Normal: commands may be sent; a usable CCR source.
    Live,
    /// Failed while LIVE: its outstanding commands are held until a proof releases them; no new commands.
    Fencing,
    /// Released; waiting for the driver to poll the [`PathAction::Reconnect`].
    Fenced,
    /// The driver is tearing the association down.
    Resetting,
    /// The driver is connecting a new association.
    Connecting,
}

/// Why a controller failed (all of them start fencing the same way; the reason is for the caller's logs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FailureReason {
    /// The keep-alive timer expired.
    KeepAliveTimeout,
    /// A transport error (TCP reset, socket error, digest error fatal to the connection).
    TransportError,
    /// A command timed out (on TCP/RDMA a timeout resets the controller).
    CommandTimeout,
}

/// What to do with a completion (from [`Engine::handle_complete`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Completion {
    /// The command is done: hand the completion to its submitter.
    Deliver,
    /// The command is held (its path is fencing): drop this completion, the command stays held.
    Held,
}

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
