//! An engine with its monitor in front: every input and output goes to both.

use core::ops::Deref;

use nvme_proto::cmd::Status;

use super::{Monitor, Violation};
use crate::error::{CcrError, CompleteError, LogError, PathError, SubmitError};
use crate::output::{Event, PathAction, ReadCcrLog, Release, SendCcr};
use crate::{
    CcrId, CommandKind, Completion, Config, ControllerFacts, Engine, FailureReason, Instant, LogReadId, PathId,
};

/// An [`Engine`] whose inputs and outputs a [`Monitor`] watches, when monitoring is on: the same methods, with the
/// same results. Queries go to the engine (`Deref`).
///
/// The monitor checks the settled invariants ((2), (3)) whenever every output queue of the engine is empty after a
/// call, so a caller that drains the outputs after each input (as the documented call order asks) is checked after
/// each input. Monitoring off ([`Checked::unmonitored`]) is the bare engine with one branch per call.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Checked {
    engine: Engine,
    monitor: Option<Monitor>,
}

impl Deref for Checked {
    type Target = Engine;

    fn deref(&self) -> &Engine {
        &self.engine
    }
}

impl Checked {
    /// A monitored engine with `config` and no paths.
    pub fn new(config: Config) -> Self {
        Self { engine: Engine::new(config), monitor: Some(Monitor::new(&config)) }
    }

    /// An engine with `config` and no paths, not monitored.
    pub fn unmonitored(config: Config) -> Self {
        Self { engine: Engine::new(config), monitor: None }
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The monitor, when monitoring is on.
    pub fn monitor(&self) -> Option<&Monitor> {
        self.monitor.as_ref()
    }

    /// The first invariant the engine broke, if any (always `None` unmonitored).
    pub fn violation(&self) -> Option<&Violation> {
        self.monitor.as_ref().and_then(Monitor::violation)
    }

    /// Panics with the violation, if there is one (for tests).
    #[track_caller]
    pub fn assert_ok(&self) {
        if let Some(v) = self.violation() {
            panic!("engine invariant broken: {v}");
        }
    }

    fn watch(&mut self, f: impl FnOnce(&mut Monitor)) {
        if let Some(m) = &mut self.monitor {
            f(m);
            if !self.engine.has_output() {
                m.settled(&self.engine);
            }
        }
    }

    /// [`Engine::add_controller`].
    pub fn add_controller(&mut self, now: Instant, facts: ControllerFacts) -> Result<PathId, PathError> {
        let r = self.engine.add_controller(now, facts);
        self.watch(|m| m.add_controller(now, facts, r));
        r
    }

    /// [`Engine::handle_submit`].
    pub fn handle_submit(
        &mut self,
        now: Instant,
        path: PathId,
        token: u64,
        kind: CommandKind,
    ) -> Result<(), SubmitError> {
        let r = self.engine.handle_submit(now, path, token, kind);
        self.watch(|m| m.submit(now, path, token, kind, r));
        r
    }

    /// [`Engine::handle_complete`].
    pub fn handle_complete(&mut self, now: Instant, path: PathId, token: u64) -> Result<Completion, CompleteError> {
        let r = self.engine.handle_complete(now, path, token);
        self.watch(|m| m.complete(now, path, token, r));
        r
    }

    /// [`Engine::handle_controller_failed`].
    pub fn handle_controller_failed(
        &mut self,
        now: Instant,
        path: PathId,
        reason: FailureReason,
    ) -> Result<(), PathError> {
        let r = self.engine.handle_controller_failed(now, path, reason);
        self.watch(|m| m.controller_failed(now, path, r));
        r
    }

    /// [`Engine::handle_ccr_completion`].
    pub fn handle_ccr_completion(
        &mut self,
        now: Instant,
        ccr: CcrId,
        status: Status,
        dw0: u32,
    ) -> Result<(), CcrError> {
        let r = self.engine.handle_ccr_completion(now, ccr, status, dw0);
        self.watch(|m| m.ccr_completion(now, ccr, status, dw0, r));
        r
    }

    /// [`Engine::handle_aen`].
    pub fn handle_aen(&mut self, now: Instant, path: PathId, dw0: u32) -> Result<(), PathError> {
        let r = self.engine.handle_aen(now, path, dw0);
        self.watch(|m| m.aen(now, path, r));
        r
    }

    /// [`Engine::handle_ccr_log`].
    pub fn handle_ccr_log(&mut self, now: Instant, read: LogReadId, page: &[u8]) -> Result<(), LogError> {
        let r = self.engine.handle_ccr_log(now, read, page);
        self.watch(|m| m.ccr_log(now, read, page, r));
        r
    }

    /// [`Engine::handle_ccr_log_failed`].
    pub fn handle_ccr_log_failed(&mut self, now: Instant, read: LogReadId) -> Result<(), LogError> {
        let r = self.engine.handle_ccr_log_failed(now, read);
        self.watch(|m| m.ccr_log_failed(now, read, r));
        r
    }

    /// [`Engine::handle_connecting`].
    pub fn handle_connecting(&mut self, now: Instant, path: PathId) -> Result<(), PathError> {
        let r = self.engine.handle_connecting(now, path);
        self.watch(|m| m.connecting(now, path, r));
        r
    }

    /// [`Engine::handle_reconnected`].
    pub fn handle_reconnected(&mut self, now: Instant, path: PathId, facts: ControllerFacts) -> Result<(), PathError> {
        let r = self.engine.handle_reconnected(now, path, facts);
        self.watch(|m| m.reconnected(now, path, facts, r));
        r
    }

    /// [`Engine::handle_path_gone`].
    pub fn handle_path_gone(&mut self, now: Instant, path: PathId) -> Result<(), PathError> {
        let r = self.engine.handle_path_gone(now, path);
        self.watch(|m| m.path_gone(now, path, r));
        r
    }

    /// [`Engine::handle_timeout`].
    pub fn handle_timeout(&mut self, now: Instant) {
        self.engine.handle_timeout(now);
        self.watch(|m| m.timeout(now));
    }

    /// [`Engine::poll_ccr`].
    pub fn poll_ccr(&mut self) -> Option<SendCcr> {
        let c = self.engine.poll_ccr();
        if let Some(c) = &c {
            self.watch(|m| m.ccr(c));
        }
        c
    }

    /// [`Engine::poll_log_read`].
    pub fn poll_log_read(&mut self) -> Option<ReadCcrLog> {
        let r = self.engine.poll_log_read();
        if let Some(r) = &r {
            self.watch(|m| m.log_read(r));
        }
        r
    }

    /// [`Engine::poll_release`].
    pub fn poll_release(&mut self) -> Option<Release> {
        let r = self.engine.poll_release();
        if let Some(r) = &r {
            self.watch(|m| m.release(r));
        }
        r
    }

    /// [`Engine::poll_path_action`].
    pub fn poll_path_action(&mut self) -> Option<PathAction> {
        let a = self.engine.poll_path_action();
        if let Some(a) = &a {
            self.watch(|m| m.path_action(a));
        }
        a
    }

    /// [`Engine::poll_event`].
    pub fn poll_event(&mut self) -> Option<Event> {
        let e = self.engine.poll_event();
        if let Some(e) = &e {
            self.watch(|m| m.event(e));
        }
        e
    }
}
