//! The safety invariants of failover, written once for every checker of the workspace (feature `check`).
//!
//! Three checkers, each a plain state machine fed with what happened, `no_std` with `alloc`, `Clone + Eq + Hash` so a
//! model checker can keep them in its states:
//!
//! * [`Monitor`]: the recovery engine's invariants, from the inputs it was given and the outputs it produced (the
//!   engine's own code is never consulted). After every input, and whenever the outputs are drained:
//!   1. no held command with side effects (under `cqt` and `ccr`, no held command at all) is retried elsewhere,
//!      completed, or failed back before a CCR success the monitor saw delivered for its controller's failed
//!      instance in this fencing episode, or its hold deadline computed here from the facts
//!      (`(TBKAS ? 3 : 2) x KATO + (CQT or F)`); `legacy` releases at once with reason `Legacy`, and only it, or the
//!      opted-in `Cqt0Rule::Immediate` (the Linux RFC's unsafe CQT = 0 rule) for a controller that reported no CQT;
//!   2. every held command is released by its deadline, except as decisions 24–28 of
//!      [`notes::recovery`](crate::notes::recovery) allow (the extended hold: a CCR that a live source accepted or
//!      has not answered yet keeps it; when the last such CCR stopped holding without the target's verdict, the next
//!      untried live source is asked first, a busy one waited for); and the other way round, no release on the
//!      deadline alone while such a CCR holds, nor while an untried live capable source is left after an ending
//!      without verdict; a CCR past the deadline only in that hand-over. The rules are stated in
//!      `spec-notes/recovery.md` ("The extended hold, as the checker states it");
//!   3. never more CCRs in flight through a source than its CCRL (1 when CCRL = 0);
//!   4. every output is well formed: no CCR through a source that is not live or for a path not fencing, none twice
//!      through one source association in one episode, no retry on a path that is not live, no reconnect of a path
//!      not fencing or with commands still held, no unknown command or path; every input gets the result its state
//!      calls for.
//! * [`Register`]: the data each block holds, from the application's writes and reads and the writes that reached
//!   the media: no read returns a value older than the last acknowledged write, no write lands after a newer one was
//!   acknowledged (the stale-write hazard, [`notes::ccr_cqt`](crate::notes::ccr_cqt) §14), and at the end each block
//!   holds the last acknowledged write or a write never acknowledged. Events are ordered by the calls: no clock.
//! * [`Checked`]: an [`Engine`](crate::Engine) with a [`Monitor`] in front of it: the same methods, each fed to both.
//!
//! Users: nvme-ccr's property test and the `ccr_engine` fuzz target drive a [`Checked`] engine; nvme-fabric's `Host`
//! runs one when built with its `check` feature (the model checker, `nvme-check`); the simulator (nvme-sim) and the
//! model checker judge the data with a [`Register`].

mod checked;
mod monitor;
mod register;

pub use checked::Checked;
pub use monitor::{Invariant, Monitor, Violation};
pub use register::{DataViolation, INITIAL_WRITE, Register, Value};
