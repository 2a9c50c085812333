//! The host side: associations with the controllers of one subsystem, and the multipath front that feeds
//! nvme-ccr's recovery [`Engine`] and carries out what it asks.
//!
//! [`Host`] is the whole host as a Sans-IO state machine, one path per controller address. It brings each
//! association up in the order the Linux host uses ([`nvme_proto::notes::commands`] §10), authenticates each queue
//! whose Connect asks for it (DH-HMAC-CHAP, [`HostConfig::auth`]), keeps it alive, keeps an
//! AER outstanding, times out commands (I/O and admin) and keep-alives, refuses a second controller with a CNTLID
//! already live, and reports every way a path dies with its cause ([`PathFailure`]). Application I/O goes round robin
//! over the paths the engine calls usable; when a path fails its commands are held by the engine until a
//! Cross-Controller Reset proves the old controller stopped, or the time-based hold has passed, and only then retried
//! elsewhere ([`nvme_ccr::notes::recovery`]).
//!
//! # Call order
//!
//! * [`Host::new`], then [`Host::start`]: every path begins connecting.
//! * [`Host::poll_open`]: open a TCP connection to the path's address for that [`ConnId`]; report
//!   [`Host::handle_connected`] when it is up, or [`Host::handle_closed`] when it fails.
//! * Bytes arrive: [`Host::handle_input`] (the host always takes all of them). The socket closed or failed:
//!   [`Host::handle_closed`].
//! * After every call, drain [`Host::poll_conn_event`] ([`ConnEvent::Transmit`]: call [`Host::poll_transmit`] until it
//!   returns 0; [`ConnEvent::Close`]: send what is left, close the socket, report [`Host::handle_closed`]),
//!   [`Host::poll_open`], [`Host::poll_completion`] and [`Host::poll_event`].
//! * Time: sleep until [`Host::poll_timeout`], then [`Host::handle_timeout`].
//! * I/O: [`Host::submit`] (Read, Write, Flush), completions from [`Host::poll_completion`]. Admin passthrough to one
//!   path: [`Host::submit_admin`]: recovery holds it like an I/O command when its path fails (side-effecting or not,
//!   by nvme-proto's classification), and it completes with [`IoError::PathFailed`] when the engine releases it; it
//!   is never retried on another path (another controller's answer is another answer).
//!
//! # Decisions
//!
//! * An error status from a controller: with DNR, or after [`HostConfig::max_retries`] retries, it is the command's
//!   result; a path-related status (SCT 3) without DNR is retried on another path; any other status without DNR is
//!   retried (as Linux's `nvme_decide_disposition`). The controller answered, so the command will not run later:
//!   retrying it is safe.
//! * A command the engine releases with no path left waits for a path while one may still come back (a reconnect
//!   within [`HostConfig::ctrl_loss_tmo`]), and fails with Host Pathing Error once none can (Linux multipath
//!   queueing).
//! * A path given up (its `ctrl_loss_tmo` passed, or the host is stopping) is reported to the engine
//!   (`handle_path_gone`): under a CCR policy the engine holds a fence past its deadline while no path is live and a
//!   released path may still come back, and asks that path for a CCR when it does (nvme-ccr decision 31).

mod assoc;
mod conn;

use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use nvme_ccr::{
    CCR_LOG_BYTES, CcrId, CommandKind, Completion, Config as EngineConfig, ControllerFacts, Engine, FailureReason,
    Instant, LogReadId, PathAction, PathId, ReleaseAction,
};
use nvme_proto::auth::{DhGroupId, DhchapSecret, HashId};
use nvme_proto::cmd::{AdminCommand, Command, Cqe, Flush, ReadWrite, Sqe, Status, StatusCode};

pub use assoc::ADMIN_QUEUE_DEPTH;
use assoc::{Assoc, AssocOut};
pub use conn::DataOut;

use crate::auth::{AuthConfigError, AuthFailure, DEFAULT_STEP_TIMEOUT, HostAuth, NonceSource, PeerCheck};
use crate::conn::{BufferTooShort, CloseCause, ConnEvent, ConnId, ConnUsage, PDU_OVERHEAD};

/// The recovery engine the host drives: with the `check` feature, nvme-ccr's engine with its invariant monitor in
/// front ([`nvme_ccr::check::Checked`], monitoring on only through [`Host::with_engine_check`]).
#[cfg(feature = "check")]
type RecoveryEngine = nvme_ccr::check::Checked;
#[cfg(not(feature = "check"))]
type RecoveryEngine = Engine;

/// In-capsule data the host puts in an admin or Fabrics capsule at most (the Linux host's `NVME_TCP_ADMIN_CCSZ`).
pub const ADMIN_IN_CAPSULE: usize = 8192;

/// Which digests the host asks for in its ICReqs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Digests {
    /// Header digests.
    pub header: bool,
    /// Data digests.
    pub data: bool,
}

/// Everything a [`Host`] is configured with. [`HostConfig::new`] gives the defaults below (Linux's where it has one).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HostConfig {
    /// The subsystem to connect to.
    pub subnqn: String,
    /// This host's NQN.
    pub hostnqn: String,
    /// This host's identifier (the same for every controller of one host).
    pub hostid: [u8; 16],
    /// KATO sent in the admin Connect (default 5 s); zero disables keep alive.
    pub kato: Duration,
    /// Digests to ask for (default none).
    pub digests: Digests,
    /// I/O queues per association (default 2; the controller may grant fewer).
    pub io_queues: u16,
    /// Depth of each I/O queue (default 32; clamped to the controller's MAXCMD).
    pub queue_depth: u16,
    /// Bound on an association's whole bring-up (default 10 s).
    pub connect_timeout: Duration,
    /// An I/O command not completed within this fails its path (default 30 s, Linux `io_timeout`).
    pub io_timeout: Duration,
    /// An admin command (CCR, log read, passthrough) not completed within this fails its path (default 60 s).
    pub admin_timeout: Duration,
    /// Bound on an orderly shutdown (default 5 s).
    pub shutdown_timeout: Duration,
    /// Wait before reconnecting a path (default 10 s, Linux `reconnect_delay`).
    pub reconnect_delay: Duration,
    /// A path that has not been live again for this long is given up (default 600 s, Linux `ctrl_loss_tmo`);
    /// `None`: retry forever.
    pub ctrl_loss_tmo: Option<Duration>,
    /// Largest transfer of one command, bytes (default 1 MiB; lowered to the controller's MDTS).
    pub max_transfer: usize,
    /// Largest in-capsule data of an I/O command, bytes (default 128 KiB; the controller's IOCCSZ bounds it too).
    /// H2CData PDUs are as large as the controller's MAXH2CDATA allows, up to the larger of this and
    /// [`max_transfer`](Self::max_transfer): an I/O's R2T is answered with one H2CData PDU when MAXH2CDATA allows
    /// it, as the Linux host does (Linux 6.1 nvmet checks an H2CData PDU's data digest against the whole transfer,
    /// so it fails the controller when an R2T is answered in several PDUs with data digests on).
    pub max_data_pdu: u32,
    /// Retries of a command answered with an error status without DNR (default 5, Linux `nvme_max_retries`).
    pub max_retries: u8,
    /// Application commands accepted at once (default 4096); more are refused with [`SubmitError::Busy`].
    pub max_outstanding: usize,
    /// The recovery engine's configuration (policy and knobs).
    pub engine: EngineConfig,
    /// Report [`HostEvent::IoSent`] for every command sent (for simulators and tracing; default off).
    pub trace_io: bool,
    /// Events kept before new ones are dropped (default 4096).
    pub event_capacity: usize,
    /// In-band authentication (DH-HMAC-CHAP): the host's secret, and the controller's for bidirectional
    /// authentication (default none: a controller that asks for authentication is refused,
    /// [`RefusedReason::AuthenticationRequired`]).
    pub auth: Option<HostAuthConfig>,
}

/// How a host authenticates ([`HostConfig::auth`]), as the Linux host's `dhchap_secret=` and
/// `dhchap_ctrl_secret=` options. After each Connect whose response sets ATR (the admin queue's, then each I/O
/// queue's) the host runs one DH-HMAC-CHAP transaction on that queue with Authentication Send and Receive
/// ([`crate::auth::HostExchange`]); the association fails with [`PathFailure::Authentication`] when one fails.
///
/// As the Linux host, a controller that does not set ATR is used without authentication, even when a controller
/// secret is configured (`spec-notes/auth.md` §8).
#[derive(Clone)]
pub struct HostAuthConfig {
    /// The host's secret (`DHHC-1:..`), transformed with the host NQN.
    pub secret: DhchapSecret,
    /// The controller's secret: when set, the host asks the controller to authenticate itself (C2) and refuses a
    /// wrong or missing R2 (AUTH_Failure2).
    pub ctrl_secret: Option<DhchapSecret>,
    /// The hashes offered, in order (default SHA-256, SHA-384, SHA-512, as Linux).
    pub hashes: Vec<HashId>,
    /// The DH groups offered, in order (default NULL and ffdhe2048 … ffdhe8192, as Linux).
    pub dh_groups: Vec<DhGroupId>,
    /// Each step of a transaction must come within this (default [`DEFAULT_STEP_TIMEOUT`]); the whole bring-up is
    /// bounded by [`HostConfig::connect_timeout`] too.
    pub step_timeout: Duration,
    /// How the controller's DH value is checked (default [`PeerCheck::Range`]).
    pub peer_check: PeerCheck,
    /// The seed of every transaction's C2, DH private exponent and S2 ([`NonceSource`]): randomness is an input.
    /// 32 bytes from the operating system's CSPRNG, fresh for each [`Host`] (nvme-tokio draws them).
    pub seed: [u8; 32],
}

/// Equal when every field is: the secrets and the seed compared in constant time.
impl PartialEq for HostAuthConfig {
    fn eq(&self, o: &Self) -> bool {
        use subtle::ConstantTimeEq;
        let seed_eq: bool = self.seed.ct_eq(&o.seed).into();
        self.secret == o.secret
            && self.ctrl_secret == o.ctrl_secret
            && self.hashes == o.hashes
            && self.dh_groups == o.dh_groups
            && self.step_timeout == o.step_timeout
            && self.peer_check == o.peer_check
            && seed_eq
    }
}

impl Eq for HostAuthConfig {}

/// Hashes the public parts only (the secrets' public parts, the offers, the timeout), never the seed.
impl core::hash::Hash for HostAuthConfig {
    fn hash<H: core::hash::Hasher>(&self, h: &mut H) {
        self.secret.hash(h);
        self.ctrl_secret.hash(h);
        self.hashes.hash(h);
        self.dh_groups.hash(h);
        self.step_timeout.hash(h);
        self.peer_check.hash(h);
    }
}

impl HostAuthConfig {
    /// The defaults (see each field) for the host secret `secret` and, for bidirectional authentication, the
    /// controller secret `ctrl_secret`; `seed` from a CSPRNG.
    pub fn new(secret: DhchapSecret, ctrl_secret: Option<DhchapSecret>, seed: [u8; 32]) -> Self {
        HostAuthConfig {
            secret,
            ctrl_secret,
            hashes: HashId::ALL.to_vec(),
            dh_groups: DhGroupId::ALL.to_vec(),
            step_timeout: DEFAULT_STEP_TIMEOUT,
            peer_check: PeerCheck::Range,
            seed,
        }
    }

    /// The credentials for `hostnqn` talking to `subnqn`.
    fn credentials(&self, hostnqn: &str, subnqn: &str) -> Result<HostAuth, AuthConfigError> {
        HostAuth::new(hostnqn, subnqn, &self.secret, self.ctrl_secret.as_ref())?
            .with_hashes(&self.hashes)?
            .with_dh_groups(&self.dh_groups)
            .map(|a| a.with_step_timeout(self.step_timeout).with_peer_check(self.peer_check))
    }
}

impl fmt::Debug for HostAuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostAuthConfig")
            .field("secret", &self.secret)
            .field("ctrl_secret", &self.ctrl_secret)
            .field("hashes", &self.hashes)
            .field("dh_groups", &self.dh_groups)
            .field("step_timeout", &self.step_timeout)
            .field("peer_check", &self.peer_check)
            .finish_non_exhaustive()
    }
}

impl HostConfig {
    /// The defaults (see each field) for subsystem `subnqn`, host `hostnqn` with identifier `hostid`, recovering
    /// with `engine`.
    pub fn new(subnqn: &str, hostnqn: &str, hostid: [u8; 16], engine: EngineConfig) -> Self {
        HostConfig {
            subnqn: String::from(subnqn),
            hostnqn: String::from(hostnqn),
            hostid,
            kato: Duration::from_secs(5),
            digests: Digests::default(),
            io_queues: 2,
            queue_depth: 32,
            connect_timeout: Duration::from_secs(10),
            io_timeout: Duration::from_secs(30),
            admin_timeout: Duration::from_secs(60),
            shutdown_timeout: Duration::from_secs(5),
            reconnect_delay: Duration::from_secs(10),
            ctrl_loss_tmo: Some(Duration::from_secs(600)),
            max_transfer: 1 << 20,
            max_data_pdu: 128 * 1024,
            max_retries: 5,
            max_outstanding: 4096,
            engine,
            trace_io: false,
            event_capacity: 4096,
            auth: None,
        }
    }

    /// The smallest buffer `poll_transmit` must be given: the largest data PDU sent plus [`PDU_OVERHEAD`].
    pub fn transmit_buffer_len(&self) -> usize {
        self.data_pdu_max() + PDU_OVERHEAD
    }

    /// The most data bytes one PDU we send carries: in-capsule data, or an H2CData PDU of a whole transfer.
    fn data_pdu_max(&self) -> usize {
        self.max_transfer.max(self.max_data_pdu as usize).max(ADMIN_IN_CAPSULE)
    }

    fn check(&self) -> Result<(), HostConfigError> {
        let nqn_ok = |s: &str| !s.is_empty() && s.len() <= nvme_proto::cmd::NQN_MAX_LEN;
        if !nqn_ok(&self.subnqn) || !nqn_ok(&self.hostnqn) {
            return Err(HostConfigError::Nqn);
        }
        if self.io_queues == 0 || self.queue_depth < 2 {
            return Err(HostConfigError::Queues);
        }
        if !(4096..=1 << 26).contains(&self.max_transfer) || self.max_data_pdu < 4096 {
            return Err(HostConfigError::Transfer);
        }
        if self.max_outstanding == 0 {
            return Err(HostConfigError::Outstanding);
        }
        if let Some(a) = &self.auth {
            a.credentials(&self.hostnqn, &self.subnqn).map_err(HostConfigError::Auth)?;
        }
        Ok(())
    }
}

/// A configuration [`Host::new`] refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HostConfigError {
    /// An NQN empty or longer than 223 bytes.
    Nqn,
    /// No I/O queue, or a depth below 2.
    Queues,
    /// Largest transfer outside 4 KiB..=64 MiB, or data per PDU below 4 KiB.
    Transfer,
    /// No command may be outstanding.
    Outstanding,
    /// No path, or more than nvme-ccr's [`MAX_PATHS`](nvme_ccr::MAX_PATHS).
    Paths,
    /// The authentication configuration: a hash or group list empty, over 30, or naming one not implemented.
    Auth(AuthConfigError),
}

impl fmt::Display for HostConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HostConfigError::Nqn => "NQNs must be 1..=223 bytes",
            HostConfigError::Queues => "at least one I/O queue of depth 2 is needed",
            HostConfigError::Transfer => "largest transfer must be 4 KiB..=64 MiB and data per PDU at least 4 KiB",
            HostConfigError::Outstanding => "at least one command must be allowed outstanding",
            HostConfigError::Paths => "1..=64 paths",
            HostConfigError::Auth(_) => "authentication: 1..=30 implemented hashes and DH groups",
        })
    }
}

impl core::error::Error for HostConfigError {}

/// A step of an association's bring-up (in the Linux host's order, [`nvme_proto::notes::commands`] §10).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BringUpStep {
    /// ICReq / ICResp on the admin connection.
    IcExchange,
    /// Fabrics Connect on the admin queue.
    Connect,
    /// Property Get CAP.
    ReadCap,
    /// Property Set CC.EN = 1.
    Enable,
    /// Property Get CSTS until RDY.
    WaitReady,
    /// Property Get VS.
    ReadVersion,
    /// Identify Controller.
    IdentifyController,
    /// Set Features Number of Queues.
    NumberOfQueues,
    /// The I/O queues' connections and Connects.
    IoQueues,
    /// Set Features Asynchronous Event Configuration (the CCR notice).
    EventConfig,
    /// Identify active namespace list.
    NamespaceList,
    /// Identify namespace identification descriptors.
    NamespaceDescriptors,
    /// Identify Namespace.
    IdentifyNamespace,
}

/// Why the host refused a controller during bring-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RefusedReason {
    /// Identify Controller does not parse.
    BadIdentify,
    /// Identify's CNTLID differs from Connect's ("Mismatching cntlid", as Linux).
    CntlidMismatch,
    /// KAS = 0: keep alive is mandatory on fabrics.
    NoKeepAlive,
    /// ICDOFF ≠ 0 (the Linux host requires 0).
    InCapsuleOffset,
    /// SGLS bits 1:0 = 0: SGLs are mandatory.
    NoSgl,
    /// CSTS.CFS during enable.
    ControllerFatal,
    /// CSTS.RDY did not come within CAP.TO.
    NotReady,
    /// No I/O queue granted.
    NoIoQueues,
    /// No usable active namespace.
    NoNamespace,
    /// The admin queue had no free command identifier.
    QueueFull,
    /// The recovery engine refused the controller (too many paths).
    EngineRefused,
    /// The Connect response asked for authentication (ATR) and no secret is configured
    /// ([`HostConfig::auth`]; Linux: "no key").
    AuthenticationRequired,
    /// The Connect response asked for secure channel concatenation (ASCR), which this host does not do (as Linux
    /// 6.12).
    SecureChannelRequired,
}

impl fmt::Display for BringUpStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BringUpStep::IcExchange => "the IC exchange",
            BringUpStep::Connect => "the admin queue's Connect",
            BringUpStep::ReadCap => "Property Get CAP",
            BringUpStep::Enable => "Property Set CC.EN",
            BringUpStep::WaitReady => "waiting for CSTS.RDY",
            BringUpStep::ReadVersion => "Property Get VS",
            BringUpStep::IdentifyController => "Identify Controller",
            BringUpStep::NumberOfQueues => "Set Features Number of Queues",
            BringUpStep::IoQueues => "the I/O queues' Connects",
            BringUpStep::EventConfig => "Set Features Asynchronous Event Configuration",
            BringUpStep::NamespaceList => "Identify active namespace list",
            BringUpStep::NamespaceDescriptors => "Identify namespace identification descriptors",
            BringUpStep::IdentifyNamespace => "Identify Namespace",
        })
    }
}

impl fmt::Display for RefusedReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RefusedReason::BadIdentify => "Identify Controller does not parse",
            RefusedReason::CntlidMismatch => "Identify's CNTLID differs from Connect's",
            RefusedReason::NoKeepAlive => "KAS = 0 (keep alive is mandatory on fabrics)",
            RefusedReason::InCapsuleOffset => "ICDOFF is not 0",
            RefusedReason::NoSgl => "no SGL support",
            RefusedReason::ControllerFatal => "CSTS.CFS set during enable",
            RefusedReason::NotReady => "CSTS.RDY did not come within CAP.TO",
            RefusedReason::NoIoQueues => "no I/O queue granted",
            RefusedReason::NoNamespace => "no usable active namespace",
            RefusedReason::QueueFull => "no free command identifier on the admin queue",
            RefusedReason::EngineRefused => "the recovery engine has no room for another path",
            RefusedReason::AuthenticationRequired => "the controller requires authentication and no secret is set",
            RefusedReason::SecureChannelRequired => "the controller requires a secure channel (not supported)",
        })
    }
}

/// Why a path died: every cause is named, with the FES/FEI of a termination request, the timer that fired, or the
/// status that refused it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PathFailure {
    /// A connection ended: closed by the controller, a termination request received (its FES/FEI), a protocol error
    /// (the FES/FEI we sent), an IC timeout.
    Closed(CloseCause),
    /// A Keep Alive got no completion within KATO.
    KeepAliveTimeout,
    /// A command got no completion within its timeout.
    CommandTimeout {
        /// The queue (0 = admin).
        qid: u16,
        /// The command's opcode.
        opcode: u8,
    },
    /// The bring-up did not finish within [`HostConfig::connect_timeout`].
    ConnectTimeout,
    /// A bring-up command failed with this status.
    BringUpStatus {
        /// The step.
        step: BringUpStep,
        /// The status.
        status: Status,
    },
    /// The controller is not one this host can use.
    Refused(RefusedReason),
    /// Another path of this subsystem has a live controller with this CNTLID (Linux rejects the duplicate too).
    DuplicateCntlid(u16),
    /// The in-band authentication (DH-HMAC-CHAP) of a queue failed: the AUTH_Failure2 we sent (its reason code
    /// explanation), the AUTH_Failure1 the controller sent, a step timeout or a failed Authentication command.
    Authentication {
        /// The queue (0 = admin).
        qid: u16,
        /// How.
        failure: AuthFailure,
    },
}

impl PathFailure {
    /// The reason the recovery engine is given.
    pub const fn engine_reason(&self) -> FailureReason {
        match self {
            PathFailure::KeepAliveTimeout => FailureReason::KeepAliveTimeout,
            PathFailure::CommandTimeout { .. } => FailureReason::CommandTimeout,
            _ => FailureReason::TransportError,
        }
    }
}

impl fmt::Display for PathFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathFailure::Closed(c) => write!(f, "connection {c}"),
            PathFailure::KeepAliveTimeout => f.write_str("keep-alive timeout"),
            PathFailure::CommandTimeout { qid, opcode } => {
                write!(f, "command timeout (queue {qid}, opcode {opcode:#04x})")
            }
            PathFailure::ConnectTimeout => f.write_str("connect timed out"),
            PathFailure::BringUpStatus { step, status } => {
                write!(f, "{step} failed with status {:#06x}", status.to_word())
            }
            PathFailure::Refused(r) => write!(f, "controller refused: {r}"),
            PathFailure::DuplicateCntlid(c) => write!(
                f,
                "refused: its controller has CNTLID {c}, as another path's live controller of the same NQN (two \
                 separate targets with one NQN? a subsystem never gives one CNTLID twice; Linux refuses it too)"
            ),
            PathFailure::Authentication { qid, failure } => write!(f, "queue {qid}: authentication: {failure}"),
        }
    }
}

/// The namespace the host uses (the first active one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NsInfo {
    /// NSID.
    pub nsid: u32,
    /// Logical block size, bytes.
    pub block_size: u32,
    /// Size in blocks (NSZE).
    pub blocks: u64,
}

/// What the host settled with one live controller ([`Host::path_limits`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PathLimits {
    /// Largest transfer of one command, bytes: [`HostConfig::max_transfer`] lowered to the controller's MDTS (in
    /// CAP.MPSMIN pages). A larger [`Io`] fails with [`IoError::Invalid`].
    pub max_transfer: usize,
    /// I/O queues in use (one connection each): [`HostConfig::io_queues`], or fewer when the controller granted
    /// fewer.
    pub io_queues: usize,
}

/// The host's name for one submitted command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IoId(pub u64);

/// An application command.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Io {
    /// Read `blocks` blocks from `slba`.
    Read {
        /// First block.
        slba: u64,
        /// Blocks.
        blocks: u32,
    },
    /// Write `data` (whole blocks) at `slba`.
    Write {
        /// First block.
        slba: u64,
        /// The data.
        data: Arc<[u8]>,
    },
    /// Flush.
    Flush,
}

impl Io {
    fn kind(&self) -> CommandKind {
        match self {
            Io::Read { .. } => CommandKind::Read,
            Io::Write { .. } => CommandKind::Write,
            Io::Flush => CommandKind::OtherIo { side_effects: true },
        }
    }
}

/// A finished command.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IoCompletion {
    /// Which.
    pub id: IoId,
    /// Its completion (its status is success for I/O; passthrough admin commands give any status), or the error.
    pub result: Result<IoDone, IoError>,
}

/// A completed command's CQE and data (read data; empty otherwise).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IoDone {
    /// The completion queue entry.
    pub cqe: Cqe,
    /// Data received.
    pub data: Vec<u8>,
}

/// Why a command did not succeed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IoError {
    /// The controller answered with this status (after the retries the status allowed), or no path was left (Host
    /// Pathing Error, SCT 3 / SC 0x70).
    Status(Status),
    /// An admin passthrough command's path failed.
    PathFailed(PathFailure),
    /// The command does not fit the namespace or the transfer limit.
    Invalid,
}

impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IoError::Status(s) => write!(f, "status {:#06x}", s.to_word()),
            IoError::PathFailed(p) => write!(f, "path failed: {p}"),
            IoError::Invalid => f.write_str("outside the namespace or the transfer limit"),
        }
    }
}

/// [`Host::submit`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SubmitError {
    /// [`HostConfig::max_outstanding`] commands are outstanding.
    Busy,
    /// The path does not exist or is not live (admin passthrough).
    NoSuchPath,
    /// The admin queue is full.
    QueueFull,
}

impl fmt::Display for SubmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SubmitError::Busy => "too many commands outstanding",
            SubmitError::NoSuchPath => "no such live path",
            SubmitError::QueueFull => "admin queue full",
        })
    }
}

impl core::error::Error for SubmitError {}

/// A TCP connection the runtime must open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OpenRequest {
    /// The host's name for it.
    pub conn: ConnId,
    /// The path (index of the address) to connect to.
    pub path: usize,
}

/// What happened, for logs, timelines and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HostEvent {
    /// A path starts connecting (attempt 0 is the first connect).
    Connecting {
        /// The path.
        path: usize,
        /// Attempts since it was last live.
        attempt: u32,
    },
    /// A path's controller is live.
    PathLive {
        /// The path.
        path: usize,
        /// What the host learned (CNTLID, CIU, CIRN, CQT, CCRL, KATO, TBKAS).
        facts: ControllerFacts,
        /// After a failure (not the first connect).
        reconnected: bool,
    },
    /// A path failed, or a connect attempt did.
    PathFailed {
        /// The path.
        path: usize,
        /// Why.
        failure: PathFailure,
        /// It was live (its commands are now held by the recovery engine).
        was_live: bool,
    },
    /// A reconnect is scheduled.
    ReconnectScheduled {
        /// The path.
        path: usize,
        /// When.
        at: Instant,
    },
    /// A path is given up (not live again within [`HostConfig::ctrl_loss_tmo`]).
    PathGone {
        /// The path.
        path: usize,
    },
    /// A path finished its orderly disconnect.
    Disconnected {
        /// The path.
        path: usize,
    },
    /// An Asynchronous Event Request completed.
    Aen {
        /// The path.
        path: usize,
        /// CQE DW0.
        dw0: u32,
    },
    /// A CCR log page read (LID 0x1E, ordered by the recovery engine) completed.
    CcrLogRead {
        /// The path it was read from.
        path: usize,
        /// It completed with success (its bytes went to the engine); `false`: an error status.
        ok: bool,
    },
    /// The recovery engine reported this, with its path ids translated to this host's paths (`PathId(p)` is path
    /// `p`).
    Engine(nvme_ccr::Event),
    /// A command went out ([`HostConfig::trace_io`] only).
    IoSent {
        /// The command.
        id: IoId,
        /// The path.
        path: usize,
        /// The connection (I/O queue).
        conn: ConnId,
        /// Its command identifier there.
        cid: u16,
    },
}

/// The words of logs and tools: times in ms, CIRN in hex, causes by name.
impl fmt::Display for HostEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            HostEvent::Connecting { path, attempt: 0 } => write!(f, "path {path}: connecting"),
            HostEvent::Connecting { path, attempt } => write!(f, "path {path}: connecting (attempt {})", attempt + 1),
            HostEvent::PathLive { path, facts, reconnected } => {
                write!(
                    f,
                    "path {path}: controller {} live{} (CIU {:#04x}, CIRN {:#018x}, KATO {} ms, TBKAS {}, ",
                    facts.cntlid,
                    if reconnected { " again" } else { "" },
                    facts.ciu,
                    facts.cirn,
                    facts.kato.as_millis(),
                    if facts.tbkas { "on" } else { "off" },
                )?;
                match facts.cqt.duration() {
                    Some(d) => write!(f, "CQT {} ms)", d.as_millis()),
                    None => f.write_str("CQT not reported)"),
                }
            }
            HostEvent::PathFailed { path, failure, was_live: true } => write!(f, "path {path}: failed: {failure}"),
            HostEvent::PathFailed { path, failure, was_live: false } => {
                write!(f, "path {path}: connect failed: {failure}")
            }
            HostEvent::ReconnectScheduled { path, at } => write!(f, "path {path}: reconnect at {at}"),
            HostEvent::PathGone { path } => write!(f, "path {path}: given up"),
            HostEvent::Disconnected { path } => write!(f, "path {path}: disconnected"),
            HostEvent::Aen { path, dw0 } => {
                let what = if nvme_proto::cmd::AsyncEvent::from_dw0(dw0).is_ccr_completed() {
                    "CCR Completed"
                } else {
                    "event"
                };
                write!(f, "path {path}: AEN {what} (DW0 {dw0:#010x})")
            }
            HostEvent::CcrLogRead { path, ok: true } => write!(f, "path {path}: CCR log read"),
            HostEvent::CcrLogRead { path, ok: false } => write!(f, "path {path}: CCR log read failed"),
            HostEvent::Engine(e) => write!(f, "recovery: {e}"),
            HostEvent::IoSent { id, path, conn, cid } => {
                write!(f, "path {path}: I/O {} sent on {conn} as CID {cid:#06x}", id.0)
            }
        }
    }
}

/// Where a path is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PathPhase {
    /// Not started.
    Idle,
    /// An association is being brought up.
    Connecting,
    /// Live.
    Live,
    /// Failed while live: the engine holds its commands until it orders the reconnect.
    Fenced,
    /// Waiting to reconnect at this instant.
    Waiting(Instant),
    /// Shutting down in order.
    Disconnecting,
    /// Disconnected on request, or given up.
    Down,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct PathSlot {
    phase: PathPhase,
    assoc: Option<Assoc>,
    engine: Option<PathId>,
    attempts: u32,
    /// When it was last known live (or first tried), for `ctrl_loss_tmo`.
    lost_since: Option<Instant>,
    ever_live: bool,
}

/// What an admin tag of the host is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum AdminUse {
    Ccr(CcrId),
    Log(LogReadId),
    User(IoId),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Req {
    io: Io,
    /// A read's buffer lent by the caller ([`Host::submit_read_into`]), until it is sent.
    buf: Option<Vec<u8>>,
    path: Option<usize>,
    retries: u8,
    avoid: Option<usize>,
}

/// The multipath NVMe/TCP host. See the module docs for the call order.
///
/// `Clone + Eq + Hash` (a model checker keeps host states in a visited set); undrained outputs and events count.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Host {
    cfg: HostConfig,
    engine: RecoveryEngine,
    paths: Vec<PathSlot>,
    conn_path: BTreeMap<ConnId, usize>,
    /// Connections being closed after their association ended: still polled for their last bytes.
    closing: BTreeMap<ConnId, conn::HostConn>,
    next_conn: u64,
    opens: VecDeque<OpenRequest>,
    conn_events: VecDeque<ConnEvent>,
    reqs: BTreeMap<u64, Req>,
    admin_tags: BTreeMap<u64, (usize, AdminUse)>,
    /// Passthrough admin commands whose path failed, held by the engine until it releases them: the failure they
    /// complete with. At most [`ADMIN_QUEUE_DEPTH`] per path.
    held_admin: BTreeMap<u64, PathFailure>,
    waiting: VecDeque<u64>,
    completions: VecDeque<IoCompletion>,
    events: VecDeque<HostEvent>,
    dropped_events: u64,
    next_tag: u64,
    rr: usize,
    ns: Option<NsInfo>,
    stopping: bool,
    /// The credentials and the nonce source of in-band authentication, when configured.
    auth: Option<(HostAuth, NonceSource)>,
}

impl Host {
    /// A host for `paths` controller addresses (path `i` is the runtime's address `i`).
    pub fn new(cfg: HostConfig, paths: usize) -> Result<Self, HostConfigError> {
        cfg.check()?;
        if paths == 0 || paths > nvme_ccr::MAX_PATHS {
            return Err(HostConfigError::Paths);
        }
        let slot = PathSlot {
            phase: PathPhase::Idle,
            assoc: None,
            engine: None,
            attempts: 0,
            lost_since: None,
            ever_live: false,
        };
        let auth = match &cfg.auth {
            Some(a) => Some((
                a.credentials(&cfg.hostnqn, &cfg.subnqn).map_err(HostConfigError::Auth)?,
                NonceSource::new(a.seed),
            )),
            None => None,
        };
        Ok(Host {
            auth,
            #[cfg(feature = "check")]
            engine: nvme_ccr::check::Checked::unmonitored(cfg.engine),
            #[cfg(not(feature = "check"))]
            engine: Engine::new(cfg.engine),
            cfg,
            paths: alloc::vec![slot; paths],
            conn_path: BTreeMap::new(),
            closing: BTreeMap::new(),
            next_conn: 0,
            opens: VecDeque::new(),
            conn_events: VecDeque::new(),
            reqs: BTreeMap::new(),
            admin_tags: BTreeMap::new(),
            held_admin: BTreeMap::new(),
            waiting: VecDeque::new(),
            completions: VecDeque::new(),
            events: VecDeque::new(),
            dropped_events: 0,
            next_tag: 0,
            rr: 0,
            ns: None,
            stopping: false,
        })
    }

    /// A host as [`Host::new`] whose recovery engine is watched by nvme-ccr's invariant monitor
    /// ([`nvme_ccr::check`]): [`engine_violation`](Self::engine_violation) reports the first invariant it broke.
    #[cfg(feature = "check")]
    pub fn with_engine_check(cfg: HostConfig, paths: usize) -> Result<Self, HostConfigError> {
        let mut host = Self::new(cfg, paths)?;
        host.engine = nvme_ccr::check::Checked::new(host.cfg.engine);
        Ok(host)
    }

    /// The first invariant of the recovery engine that the monitor saw broken (a host built by
    /// [`with_engine_check`](Self::with_engine_check)).
    #[cfg(feature = "check")]
    pub fn engine_violation(&self) -> Option<&nvme_ccr::check::Violation> {
        self.engine.violation()
    }

    /// The configuration.
    pub fn config(&self) -> &HostConfig {
        &self.cfg
    }

    /// The recovery engine (for inspection).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The path an engine `PathId` stands for.
    pub fn path_of(&self, id: PathId) -> Option<usize> {
        self.paths.iter().position(|p| p.engine == Some(id))
    }

    /// Where path `path` is.
    pub fn path_phase(&self, path: usize) -> Option<PathPhase> {
        self.paths.get(path).map(|p| p.phase)
    }

    /// What the host knows of path `path`'s current controller.
    pub fn path_facts(&self, path: usize) -> Option<ControllerFacts> {
        self.paths.get(path)?.assoc.as_ref()?.facts
    }

    /// What the host settled with path `path`'s controller while it is live: the largest transfer of one command
    /// (a runtime splits larger I/O into commands of at most this) and the I/O queues in use.
    pub fn path_limits(&self, path: usize) -> Option<PathLimits> {
        let a = self.paths.get(path)?.assoc.as_ref().filter(|a| a.is_live())?;
        Some(PathLimits { max_transfer: a.max_transfer, io_queues: a.io.len() })
    }

    /// The namespace (once a path was live).
    pub fn namespace(&self) -> Option<NsInfo> {
        self.ns
    }

    /// Commands submitted and not completed.
    pub fn outstanding(&self) -> usize {
        self.reqs.len()
    }

    /// What connection `conn` holds now (`None` once it is forgotten).
    pub fn conn_usage(&self, conn: ConnId) -> Option<ConnUsage> {
        if let Some(hc) = self.closing.get(&conn) {
            return Some(hc.usage());
        }
        let &p = self.conn_path.get(&conn)?;
        Some(self.paths.get(p)?.assoc.as_ref()?.conn(conn)?.usage())
    }

    /// Events dropped because [`HostConfig::event_capacity`] was reached.
    pub fn dropped_events(&self) -> u64 {
        self.dropped_events
    }

    fn event(&mut self, ev: HostEvent) {
        if self.events.len() < self.cfg.event_capacity {
            self.events.push_back(ev);
        } else {
            self.dropped_events += 1;
        }
    }

    fn new_conn(&mut self, path: usize) -> ConnId {
        let id = ConnId(self.next_conn);
        self.next_conn += 1;
        self.conn_path.insert(id, path);
        self.opens.push_back(OpenRequest { conn: id, path });
        id
    }

    /// Starts connecting every path.
    pub fn start(&mut self, now: Instant) {
        for p in 0..self.paths.len() {
            if self.paths[p].phase == PathPhase::Idle {
                self.connect(now, p);
            }
        }
        self.drain_engine(now);
    }

    fn connect(&mut self, now: Instant, p: usize) {
        if self.stopping {
            return;
        }
        let conn = self.new_conn(p);
        let auth = self.auth.as_mut().map(|(creds, nonces)| assoc::AssocAuth::new(creds.clone(), nonces.fork()));
        let assoc = Assoc::new(&self.cfg, now, conn, auth);
        let slot = &mut self.paths[p];
        slot.assoc = Some(assoc);
        slot.phase = PathPhase::Connecting;
        slot.lost_since.get_or_insert(now);
        let attempt = slot.attempts;
        slot.attempts += 1;
        if let Some(id) = slot.engine {
            let _ = self.engine.handle_connecting(now, id);
        }
        self.event(HostEvent::Connecting { path: p, attempt });
    }

    /// The next connection to open.
    pub fn poll_open(&mut self) -> Option<OpenRequest> {
        self.opens.pop_front()
    }

    /// The TCP connection `conn` is established.
    pub fn handle_connected(&mut self, now: Instant, conn: ConnId) {
        if let Some(&p) = self.conn_path.get(&conn) {
            self.after_assoc(now, p);
        }
    }

    /// Bytes received on `conn` (all are taken).
    pub fn handle_input(&mut self, now: Instant, conn: ConnId, input: &[u8]) -> usize {
        let Some(&p) = self.conn_path.get(&conn) else { return input.len() };
        let cfg = &self.cfg;
        if let Some(a) = self.paths[p].assoc.as_mut() {
            a.handle_input(now, cfg, conn, input);
        }
        self.after_assoc(now, p);
        self.drain_engine(now);
        input.len()
    }

    /// `conn` closed or failed (also after a failed connect, and after the runtime closed it on
    /// [`ConnEvent::Close`]). Idempotent.
    pub fn handle_closed(&mut self, now: Instant, conn: ConnId) {
        self.closing.remove(&conn);
        let Some(p) = self.conn_path.remove(&conn) else { return };
        let mut failed = false;
        if let Some(a) = self.paths[p].assoc.as_mut()
            && let Some(hc) = a.conn_mut(conn)
            && hc.q.closing.is_none()
        {
            hc.q.closing = Some(CloseCause::PeerClosed);
            if a.stage == assoc::Stage::Disconnecting && conn != a.admin_conn {
                // An I/O queue we were closing anyway.
            } else {
                a.conn_failed(conn, CloseCause::PeerClosed);
                failed = true;
            }
        }
        self.conn_events.retain(|e| !matches!(e, ConnEvent::Transmit(c) if *c == conn));
        if failed {
            self.after_assoc(now, p);
            self.drain_engine(now);
        }
    }

    /// Writes the next PDUs for `conn` into `buf`; 0 when there is nothing to send.
    pub fn poll_transmit(&mut self, _now: Instant, conn: ConnId, buf: &mut [u8]) -> Result<usize, BufferTooShort> {
        if let Some(hc) = self.closing.get_mut(&conn) {
            return hc.q.poll_transmit(buf);
        }
        let Some(&p) = self.conn_path.get(&conn) else { return Ok(0) };
        let Some(hc) = self.paths[p].assoc.as_mut().and_then(|a| a.conn_mut(conn)) else { return Ok(0) };
        let n = hc.q.poll_transmit(buf)?;
        if hc.q.tx.is_empty() {
            hc.q.tx_armed = false;
        }
        Ok(n)
    }

    /// The next thing the runtime must do with a connection.
    pub fn poll_conn_event(&mut self) -> Option<ConnEvent> {
        self.conn_events.pop_front()
    }

    /// The next finished command.
    pub fn poll_completion(&mut self) -> Option<IoCompletion> {
        self.completions.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<HostEvent> {
        self.events.pop_front()
    }

    /// The next instant [`handle_timeout`](Self::handle_timeout) has something to do.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        let mut t = self.engine.poll_timeout();
        let mut min = |d: Option<Instant>| {
            if let Some(d) = d {
                t = Some(t.map_or(d, |x| x.min(d)));
            }
        };
        for slot in &mut self.paths {
            if let PathPhase::Waiting(at) = slot.phase {
                min(Some(at));
            }
            if let Some(a) = slot.assoc.as_mut() {
                min(a.next_deadline());
            }
        }
        t
    }

    /// Fires what is due at `now`: command, keep-alive and bring-up timeouts, keep-alive sends, reconnects, the
    /// engine's holds.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.engine.handle_timeout(now);
        for p in 0..self.paths.len() {
            let cfg = &self.cfg;
            if let Some(a) = self.paths[p].assoc.as_mut() {
                a.handle_timeout(now, cfg);
            }
            self.after_assoc(now, p);
            if let PathPhase::Waiting(at) = self.paths[p].phase
                && at <= now
            {
                self.connect(now, p);
                self.after_assoc(now, p);
            }
        }
        self.drain_engine(now);
    }

    /// Submits an application command. Its completion comes from [`poll_completion`](Self::poll_completion).
    pub fn submit(&mut self, now: Instant, io: Io) -> Result<IoId, SubmitError> {
        if self.reqs.len() >= self.cfg.max_outstanding {
            return Err(SubmitError::Busy);
        }
        let id = self.next_tag;
        self.next_tag += 1;
        self.reqs.insert(id, Req { io, buf: None, path: None, retries: 0, avoid: None });
        self.dispatch(now, id, None);
        self.drain_engine(now);
        Ok(IoId(id))
    }

    /// Submits a read of `blocks` blocks from `slba` into the caller's `buf`: the host resizes it to the transfer
    /// (which allocates only when its capacity is short) and hands it back as the completion's
    /// [`IoDone::data`]. A runtime that lends the buffers of its completions again reads with no allocation per
    /// command in the steady state. A read retried after its connection failed gets a buffer of the host's own.
    /// Refused (the host is busy), the buffer comes back with the error.
    pub fn submit_read_into(
        &mut self,
        now: Instant,
        slba: u64,
        blocks: u32,
        buf: Vec<u8>,
    ) -> Result<IoId, (SubmitError, Vec<u8>)> {
        if self.reqs.len() >= self.cfg.max_outstanding {
            return Err((SubmitError::Busy, buf));
        }
        let id = self.next_tag;
        self.next_tag += 1;
        let req = Req { io: Io::Read { slba, blocks }, buf: Some(buf), path: None, retries: 0, avoid: None };
        self.reqs.insert(id, req);
        self.dispatch(now, id, None);
        self.drain_engine(now);
        Ok(IoId(id))
    }

    /// Sends an admin command to path `path`'s controller as it is (its CID and data pointer are filled in).
    ///
    /// Recovery holds it like an I/O command ([`CommandKind::Admin`], side effects as nvme-proto classifies the SQE:
    /// Identify, Get Features and Get Log Page with RAE = 1 have none; an unparsable or unknown command counts as
    /// side-effecting). If the path fails first, the command completes with [`IoError::PathFailed`] when the engine
    /// releases it: at once under [`Policy::Legacy`](nvme_ccr::Policy::Legacy) and, when it has no side effects,
    /// under `ccr-filter-admin`; otherwise once a CCR succeeded or the time-based hold passed. It is never retried
    /// on another path.
    pub fn submit_admin(&mut self, now: Instant, path: usize, sqe: Sqe, data: DataOut) -> Result<IoId, SubmitError> {
        let deadline = Some(now + self.cfg.admin_timeout);
        let tag = self.next_tag;
        let kind = match AdminCommand::parse(&sqe) {
            Ok(c) => CommandKind::of(&Command::Admin(c)),
            Err(_) => CommandKind::Admin { side_effects: true },
        };
        let engine_id = self.paths.get(path).and_then(|s| s.engine).filter(|_| self.usable(path));
        let Some(engine_id) = engine_id else { return Err(SubmitError::NoSuchPath) };
        if self.engine.handle_submit(now, engine_id, tag, kind).is_err() {
            return Err(SubmitError::NoSuchPath);
        }
        let queued = self.paths[path].assoc.as_mut().is_some_and(|a| a.owner_admin(sqe, data, tag, deadline));
        if !queued {
            let _ = self.engine.handle_complete(now, engine_id, tag);
            return Err(SubmitError::QueueFull);
        }
        self.next_tag += 1;
        self.admin_tags.insert(tag, (path, AdminUse::User(IoId(tag))));
        self.after_assoc(now, path);
        Ok(IoId(tag))
    }

    /// Starts an orderly disconnect of every path (no reconnects afterwards); commands still waiting fail with Host
    /// Pathing Error once no path is left.
    pub fn disconnect(&mut self, now: Instant) {
        self.stopping = true;
        let timeout = self.cfg.shutdown_timeout;
        for p in 0..self.paths.len() {
            let slot = &mut self.paths[p];
            match slot.assoc.as_mut() {
                Some(a) if slot.phase == PathPhase::Live => {
                    slot.phase = PathPhase::Disconnecting;
                    a.disconnect(now, timeout);
                }
                Some(a) => {
                    a.disconnect(now, timeout);
                    slot.phase = PathPhase::Down;
                }
                None => slot.phase = PathPhase::Down,
            }
            self.after_assoc(now, p);
        }
        self.fail_if_no_path();
    }

    /// Whether some path is live, connecting or may reconnect.
    fn may_have_path(&self) -> bool {
        !self.stopping && self.paths.iter().any(|p| p.phase != PathPhase::Down)
    }

    fn fail_if_no_path(&mut self) {
        if self.may_have_path() {
            return;
        }
        let st = Status::new(StatusCode::HOST_PATHING_ERROR);
        for id in core::mem::take(&mut self.waiting) {
            if self.reqs.remove(&id).is_some() {
                self.completions.push_back(IoCompletion { id: IoId(id), result: Err(IoError::Status(st)) });
            }
        }
    }

    fn raise_transmits(&mut self, p: usize) {
        let Some(a) = self.paths[p].assoc.as_mut() else { return };
        let conns: Vec<ConnId> = a.conns().collect();
        for c in conns {
            if !self.conn_path.contains_key(&c) {
                continue;
            }
            if let Some(hc) = a.conn_mut(c)
                && !hc.q.tx.is_empty()
                && !hc.q.tx_armed
                && hc.q.closing.is_none()
            {
                hc.q.tx_armed = true;
                self.conn_events.push_back(ConnEvent::Transmit(c));
            }
        }
    }

    /// Carries out what path `p`'s association asks: new connections, closes, transmits, and its outputs.
    fn after_assoc(&mut self, now: Instant, p: usize) {
        loop {
            let Some(a) = self.paths[p].assoc.as_mut() else { return };
            if !a.opens.is_empty() {
                let n = a.opens.len();
                a.opens.clear();
                let ids: Vec<ConnId> = (0..n).map(|_| self.new_conn(p)).collect();
                if let Some(a) = self.paths[p].assoc.as_mut() {
                    a.name_io_conns(&ids);
                }
                continue;
            }
            let a = self.paths[p].assoc.as_mut().expect("checked above");
            if let Some((c, cause)) = a.closes.pop_front() {
                if let Some(hc) = a.conn_mut(c) {
                    let mut hc = hc.clone();
                    hc.q.closing = Some(cause);
                    if !hc.q.tx.is_empty() {
                        self.closing.insert(c, hc);
                    }
                }
                self.conn_events.retain(|e| !matches!(e, ConnEvent::Transmit(x) if *x == c));
                if self.conn_path.contains_key(&c) {
                    self.conn_events.push_back(ConnEvent::Close(c, cause));
                }
                continue;
            }
            let Some(out) = a.out.pop_front() else { break };
            self.assoc_out(now, p, out);
        }
        self.raise_transmits(p);
    }

    fn assoc_out(&mut self, now: Instant, p: usize, out: AssocOut) {
        match out {
            AssocOut::Live => self.on_live(now, p),
            AssocOut::Failed(f) => self.on_failed(now, p, f),
            AssocOut::Aen(dw0) => {
                self.event(HostEvent::Aen { path: p, dw0 });
                if let Some(id) = self.paths[p].engine {
                    let _ = self.engine.handle_aen(now, id, dw0);
                }
            }
            AssocOut::Completed { tag, cqe, data } => self.on_completed(now, p, tag, cqe, data),
            AssocOut::Disconnected => {
                self.paths[p].phase = PathPhase::Down;
                self.paths[p].assoc = None;
                self.event(HostEvent::Disconnected { path: p });
                self.fail_if_no_path();
            }
        }
    }

    fn on_live(&mut self, now: Instant, p: usize) {
        let Some(a) = self.paths[p].assoc.as_ref() else { return };
        let (Some(facts), ns) = (a.facts, a.ns) else { return };
        let dup = self.paths.iter().enumerate().any(|(q, s)| {
            q != p && s.phase == PathPhase::Live && s.assoc.as_ref().is_some_and(|o| o.cntlid == facts.cntlid)
        });
        if dup {
            if let Some(a) = self.paths[p].assoc.as_mut() {
                a.fail(PathFailure::DuplicateCntlid(facts.cntlid));
            }
            return;
        }
        let slot = &mut self.paths[p];
        let ok = match slot.engine {
            None => match self.engine.add_controller(now, facts) {
                Ok(id) => {
                    slot.engine = Some(id);
                    true
                }
                Err(_) => false,
            },
            Some(id) => self.engine.handle_reconnected(now, id, facts).is_ok(),
        };
        if !ok {
            if let Some(a) = self.paths[p].assoc.as_mut() {
                a.fail(PathFailure::Refused(RefusedReason::EngineRefused));
            }
            return;
        }
        let slot = &mut self.paths[p];
        let reconnected = slot.ever_live;
        slot.ever_live = true;
        slot.phase = PathPhase::Live;
        slot.attempts = 0;
        slot.lost_since = None;
        if self.ns.is_none() {
            self.ns = ns;
        }
        self.event(HostEvent::PathLive { path: p, facts, reconnected });
        self.pump_waiting(now);
    }

    fn on_failed(&mut self, now: Instant, p: usize, f: PathFailure) {
        let was_live = self.paths[p].phase == PathPhase::Live;
        let tags = self.paths[p].assoc.as_mut().map(|a| a.drain_owner_tags()).unwrap_or_default();
        for t in tags {
            match self.admin_tags.remove(&t) {
                // Held by the engine with the path's other commands (when the path was live): it completes with the
                // failure when the engine releases it.
                Some((_, AdminUse::User(id))) => {
                    if was_live && self.paths[p].engine.is_some() {
                        self.held_admin.insert(id.0, f);
                    } else {
                        self.completions.push_back(IoCompletion { id, result: Err(IoError::PathFailed(f)) });
                    }
                }
                Some((_, AdminUse::Log(id))) => {
                    let _ = self.engine.handle_ccr_log_failed(now, id);
                }
                // A lost CCR answer: the engine learns of its source's failure below and drops it.
                Some((_, AdminUse::Ccr(_))) => {}
                // An I/O command: held by the engine (when the path was live), released by it later.
                None => {}
            }
        }
        self.event(HostEvent::PathFailed { path: p, failure: f, was_live });
        if was_live {
            self.paths[p].phase = PathPhase::Fenced;
            if let Some(id) = self.paths[p].engine {
                let _ = self.engine.handle_controller_failed(now, id, f.engine_reason());
            }
        } else if self.paths[p].phase == PathPhase::Connecting {
            self.schedule_reconnect(now, p);
        }
    }

    fn schedule_reconnect(&mut self, now: Instant, p: usize) {
        if self.stopping {
            self.paths[p].phase = PathPhase::Down;
            self.path_gone(now, p);
            self.fail_if_no_path();
            return;
        }
        let slot = &mut self.paths[p];
        let since = *slot.lost_since.get_or_insert(now);
        if self.cfg.ctrl_loss_tmo.is_some_and(|t| now.saturating_duration_since(since) >= t) {
            slot.phase = PathPhase::Down;
            self.path_gone(now, p);
            self.event(HostEvent::PathGone { path: p });
            self.fail_if_no_path();
            return;
        }
        let at = now + self.cfg.reconnect_delay;
        slot.phase = PathPhase::Waiting(at);
        self.event(HostEvent::ReconnectScheduled { path: p, at });
    }

    /// Path `p` will not come back: the engine stops waiting for it (a hold past its deadline with no path live
    /// waits for a path that may come back, nvme-ccr decision 31).
    fn path_gone(&mut self, now: Instant, p: usize) {
        if let Some(id) = self.paths[p].engine {
            let _ = self.engine.handle_path_gone(now, id);
        }
    }

    fn complete(&mut self, id: u64, result: Result<IoDone, IoError>) {
        if self.reqs.remove(&id).is_some() {
            self.completions.push_back(IoCompletion { id: IoId(id), result });
        }
    }

    fn on_completed(&mut self, now: Instant, p: usize, tag: u64, cqe: Cqe, data: Vec<u8>) {
        if let Some((_, use_)) = self.admin_tags.remove(&tag) {
            match use_ {
                AdminUse::Ccr(id) => {
                    let _ = self.engine.handle_ccr_completion(now, id, cqe.status, cqe.dw0);
                }
                AdminUse::Log(id) => {
                    self.event(HostEvent::CcrLogRead { path: p, ok: cqe.status.is_success() });
                    if cqe.status.is_success() {
                        let _ = self.engine.handle_ccr_log(now, id, &data);
                    } else {
                        let _ = self.engine.handle_ccr_log_failed(now, id);
                    }
                }
                AdminUse::User(id) => {
                    let delivered = match self.paths[p].engine {
                        Some(e) => !matches!(self.engine.handle_complete(now, e, tag), Ok(Completion::Held)),
                        None => true,
                    };
                    if delivered {
                        self.completions.push_back(IoCompletion { id, result: Ok(IoDone { cqe, data }) });
                    }
                }
            }
            return;
        }
        let Some(engine_id) = self.paths[p].engine else { return };
        match self.engine.handle_complete(now, engine_id, tag) {
            Ok(Completion::Deliver) => {}
            // Held (its path is fencing): the engine decides later; or unknown to the engine: ignore.
            _ => return,
        }
        let st = cqe.status;
        let Some(req) = self.reqs.get_mut(&tag) else { return };
        req.path = None;
        if st.is_success() {
            self.complete(tag, Ok(IoDone { cqe, data }));
        } else if st.dnr || req.retries >= self.cfg.max_retries {
            self.complete(tag, Err(IoError::Status(st)));
        } else {
            req.retries += 1;
            req.avoid = st.code.is_path_related().then_some(p);
            if matches!(req.io, Io::Read { .. }) {
                // The read's buffer serves the retry.
                req.buf = Some(data);
            }
            self.dispatch(now, tag, None);
        }
        self.pump_waiting(now);
    }

    /// Retries waiting requests (a path became live, or a queue slot freed).
    fn pump_waiting(&mut self, now: Instant) {
        let n = self.waiting.len();
        for _ in 0..n {
            let Some(id) = self.waiting.pop_front() else { break };
            if self.reqs.contains_key(&id) {
                self.dispatch(now, id, None);
            }
        }
    }

    fn usable(&self, p: usize) -> bool {
        let s = &self.paths[p];
        s.phase == PathPhase::Live
            && s.engine.is_some_and(|id| self.engine.is_usable(id))
            && s.assoc.as_ref().is_some_and(|a| a.is_live())
    }

    /// Sends request `id` on `prefer` when usable, else round robin over the usable paths (avoiding the path a
    /// path error came from, when another exists); with none, it waits.
    fn dispatch(&mut self, now: Instant, id: u64, prefer: Option<usize>) {
        let n = self.paths.len();
        let Some(req) = self.reqs.get(&id) else { return };
        let avoid = req.avoid;
        let path = prefer.filter(|&p| p < n && self.usable(p)).or_else(|| {
            // The first usable path in round-robin order that is not `avoid`, else `avoid` itself.
            let mut first = None;
            for p in (0..n).map(|k| (self.rr + k) % n).filter(|&p| self.usable(p)) {
                if Some(p) != avoid {
                    return Some(p);
                }
                first.get_or_insert(p);
            }
            first
        });
        let Some(p) = path else {
            self.waiting.push_back(id);
            return;
        };
        if prefer.is_none() {
            self.rr = (p + 1) % n;
        }
        let Some(a) = self.paths[p].assoc.as_mut() else { return };
        let Some(qi) = a.pick_io() else {
            self.waiting.push_back(id);
            return;
        };
        let Some(ns) = a.ns else { return };
        let max_transfer = a.max_transfer;
        let Some(req) = self.reqs.get_mut(&id) else { return };
        let kind = req.io.kind();
        let built = match &req.io {
            Io::Read { slba, blocks } => ReadWrite::new(ns.nsid, *slba, *blocks, ns.block_size)
                .filter(|rw| rw.blocks() as usize * ns.block_size as usize <= max_transfer)
                .map(|rw| {
                    let len = *blocks as usize * ns.block_size as usize;
                    let data = match req.buf.take() {
                        Some(mut buf) => {
                            buf.resize(len, 0);
                            DataOut::ReadInto(buf)
                        }
                        None => DataOut::Read(len),
                    };
                    (rw.to_read_sqe(0), data)
                }),
            Io::Write { slba, data } => {
                let bs = ns.block_size as usize;
                let blocks = u32::try_from(data.len() / bs).ok().filter(|_| data.len() % bs == 0 && !data.is_empty());
                blocks
                    .and_then(|b| ReadWrite::new(ns.nsid, *slba, b, ns.block_size))
                    .filter(|_| data.len() <= max_transfer)
                    .map(|rw| (rw.to_write_sqe(0), DataOut::Write(data.clone())))
            }
            Io::Flush => Some((Flush { nsid: ns.nsid }.to_sqe(0), DataOut::None)),
        };
        let Some((sqe, data)) = built else {
            self.complete(id, Err(IoError::Invalid));
            return;
        };
        let Some(engine_id) = self.paths[p].engine else { return };
        if self.engine.handle_submit(now, engine_id, id, kind).is_err() {
            if let (DataOut::ReadInto(buf), Some(r)) = (data, self.reqs.get_mut(&id)) {
                r.buf = Some(buf);
            }
            self.waiting.push_back(id);
            return;
        }
        let deadline = Some(now + self.cfg.io_timeout);
        let Some(a) = self.paths[p].assoc.as_mut() else { return };
        let q = &mut a.io[qi];
        let conn = q.conn;
        match q.hc.q.submit(sqe, data, id, deadline) {
            Ok(cid) => {
                if let Some(r) = self.reqs.get_mut(&id) {
                    r.path = Some(p);
                }
                if self.cfg.trace_io {
                    self.event(HostEvent::IoSent { id: IoId(id), path: p, conn, cid });
                }
                self.raise_transmits(p);
            }
            Err(_) => {
                let _ = self.engine.handle_complete(now, engine_id, id);
                self.waiting.push_back(id);
            }
        }
    }

    /// Carries out everything the engine asks for, in the order of its documentation.
    fn drain_engine(&mut self, now: Instant) {
        loop {
            let mut progress = false;
            while let Some(c) = self.engine.poll_ccr() {
                progress = true;
                let sent = self.path_of(c.source).and_then(|p| {
                    let tag = self.next_tag;
                    let deadline = Some(now + self.cfg.admin_timeout);
                    let a = self.paths[p].assoc.as_mut()?;
                    a.owner_admin(c.command.to_sqe(0), DataOut::None, tag, deadline).then_some((p, tag))
                });
                match sent {
                    Some((p, tag)) => {
                        self.next_tag += 1;
                        self.admin_tags.insert(tag, (p, AdminUse::Ccr(c.id)));
                        self.raise_transmits(p);
                    }
                    // The source cannot take it (not live in our view, or its admin queue is full): a failed CCR.
                    None => {
                        let st = Status::new(StatusCode::HOST_PATHING_ERROR);
                        let _ = self.engine.handle_ccr_completion(now, c.id, st, 0);
                    }
                }
            }
            while let Some(r) = self.engine.poll_log_read() {
                progress = true;
                let sent = self.path_of(r.source).and_then(|p| {
                    let tag = self.next_tag;
                    let deadline = Some(now + self.cfg.admin_timeout);
                    let a = self.paths[p].assoc.as_mut()?;
                    let data = DataOut::Read(CCR_LOG_BYTES as usize);
                    a.owner_admin(r.command().to_sqe(0), data, tag, deadline).then_some((p, tag))
                });
                match sent {
                    Some((p, tag)) => {
                        self.next_tag += 1;
                        self.admin_tags.insert(tag, (p, AdminUse::Log(r.id)));
                        self.raise_transmits(p);
                    }
                    None => {
                        let _ = self.engine.handle_ccr_log_failed(now, r.id);
                    }
                }
            }
            while let Some(rel) = self.engine.poll_release() {
                progress = true;
                // A passthrough admin command: its failure is its result, whatever the engine's action.
                if let Some(f) = self.held_admin.remove(&rel.token) {
                    self.completions
                        .push_back(IoCompletion { id: IoId(rel.token), result: Err(IoError::PathFailed(f)) });
                    continue;
                }
                if !self.reqs.contains_key(&rel.token) {
                    continue;
                }
                if let Some(r) = self.reqs.get_mut(&rel.token) {
                    r.path = None;
                }
                match rel.action {
                    ReleaseAction::Retry { path } => {
                        let prefer = self.path_of(path);
                        self.dispatch(now, rel.token, prefer);
                    }
                    // No path now: wait for one while a path may still come back (Linux multipath queueing).
                    ReleaseAction::Fail { status } => {
                        if self.may_have_path() {
                            self.waiting.push_back(rel.token);
                        } else {
                            self.complete(rel.token, Err(IoError::Status(status)));
                        }
                    }
                }
            }
            while let Some(ev) = self.engine.poll_event() {
                progress = true;
                // Reported in this host's path numbering (the engine numbers paths as they first come live).
                let ev = ev.map_paths(|id| self.path_of(id).map_or(id, |p| PathId(p as u32)));
                self.event(HostEvent::Engine(ev));
            }
            // One at a time: giving a path up (`schedule_reconnect`) is an engine input that may release another
            // path's holds, whose releases are to be pulled before that path's own reconnect order.
            if let Some(PathAction::Reconnect { path }) = self.engine.poll_path_action() {
                progress = true;
                if let Some(p) = self.path_of(path)
                    && self.paths[p].phase == PathPhase::Fenced
                {
                    self.paths[p].assoc = None;
                    self.paths[p].lost_since = Some(now);
                    self.schedule_reconnect(now, p);
                }
            }
            if !progress {
                break;
            }
        }
        self.fail_if_no_path();
    }
}
