//! The controller side: one NVM subsystem with its controllers, served over any number of NVMe/TCP connections.
//!
//! [`Subsystem`] is the whole target as a Sans-IO state machine. The runtime owns sockets, a clock and the media;
//! the subsystem owns every protocol decision: the IC exchange and framing of each connection, the Connect rules
//! and CNTLID allocation, admin dispatch (properties, Identify, features, logs, AER, Keep Alive, Cross-Controller
//! Reset through [`nvme_ccr::target`]), I/O checks, keep-alive expiry (KATO, TBKAS), controller failure and teardown,
//! and the fault injection of the failover test (`fopcode`, `fail-ccr`, `no-ccr`, path freeze).
//!
//! # Call order
//!
//! * A TCP connection is accepted: [`Subsystem::accept`] gives its [`ConnId`] (or refuses it past
//!   [`SubsystemConfig::max_connections`]: close the socket).
//! * Bytes arrive: [`Subsystem::handle_input`] returns how many it took. It takes fewer while the connection's unsent
//!   output is over [`SubsystemConfig::output_limit`] (backpressure): keep the rest, stop reading the socket, and
//!   offer the rest again after [`ConnEvent::Resume`].
//! * The socket closed or failed: [`Subsystem::handle_closed`].
//! * After every call, drain:
//!   - [`Subsystem::poll_conn_event`]: [`ConnEvent::Transmit`] (call [`Subsystem::poll_transmit`] for that connection
//!     until it returns 0), [`ConnEvent::Close`] (send what `poll_transmit` still gives, then close the socket and
//!     report [`Subsystem::handle_closed`]), [`ConnEvent::Resume`], [`ConnEvent::Freeze`] (a fault: deliver nothing
//!     more on that connection, either way, and do not close it);
//!   - [`Subsystem::poll_media`]: a read, write or flush to carry out on the namespace; write data is
//!     [`Subsystem::media_data`], read data goes into [`Subsystem::media_buffer`]; report
//!     [`Subsystem::handle_media_done`];
//!   - [`Subsystem::poll_event`]: what happened, for logs and tests; [`Subsystem::poll_auth_event`]: what in-band
//!     authentication did (hosts refused, queues authenticated or failed).
//! * Time: sleep until [`Subsystem::poll_timeout`], then call [`Subsystem::handle_timeout`] (spurious calls do
//!   nothing).
//!
//! Randomness is an input: [`Subsystem::new`] takes a seed for CIU and CIRN values, and [`AuthPolicy::seed`] seeds
//! the nonces of in-band authentication.
//!
//! # Hosts and in-band authentication
//!
//! [`SubsystemConfig::hosts`] lists known hosts, each with an optional DH-HMAC-CHAP key (and controller key);
//! with [`SubsystemConfig::allow_any_host`] off, any other host's admin Connect is refused with Connect Invalid
//! Host. A host with a key authenticates each queue after its Connect (ATR); until then the queue's non-Fabrics
//! commands get Authentication Required. The rules are in `auth.rs` and `spec-notes/auth.md`.
//!
//! # Bounds (per connection)
//!
//! * Receive buffer: one partial PDU, at most the queue's in-capsule limit (on an I/O queue also the admin one, for
//!   Fabrics commands) or MAXH2CDATA plus 260 bytes.
//! * Authentication: one transaction per connection; an Authentication Receive's answer is at most MDTS bytes.
//! * Commands: at most SQSIZE + 1 outstanding; one more closes the connection ([`CloseCause::QueueOverflow`]).
//! * Transfer tags: a pool of queue depth × min(MAXR2T + 1, 1), never searched.
//! * Data buffers: reused through a pool of at most queue depth idle buffers, each at most the largest transfer,
//!   and at most [`SubsystemConfig::output_limit`] bytes in all (`pool.rs`): no data buffer is allocated per command
//!   in the steady state.
//! * Write data: R2Ts go out only while the buffers of writes receiving data stay within
//!   [`SubsystemConfig::output_limit`] (one transfer is always allowed); the rest wait without a buffer. No new input
//!   is read while write buffers (in-capsule writes waiting for the media included) exceed it.
//! * Output: no new input is read while the transmit queue (the bytes to send and the queue's bookkeeping) plus read
//!   buffers exceed [`SubsystemConfig::output_limit`]; one command beyond it can be in flight, so a peer that never
//!   reads holds at most `output_limit` + the largest transfer (MDTS, with its PDU headers) of output (and up to an
//!   eighth of `output_limit` more when that command grows the queue's item array), plus `output_limit` and one
//!   transfer of write data and the receive buffer ([`Subsystem::conn_usage`] gives each figure).
//!
//! Facts: [`nvme_proto::notes::commands`] §5, §6, §8, §10 and [`nvme_ccr::notes::ccr_cqt`] §8, §11.

mod admin;
mod auth;
mod conn;
mod io;
mod pool;

use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use nvme_ccr::Instant;
use nvme_ccr::target::{Target as CcrTarget, TargetConfig as CcrConfig};
use nvme_proto::auth::{DhGroupId, DhchapSecret, HashId, SecretTransform};
use nvme_proto::cmd::{Ccrl, Cqt, Status};
use nvme_proto::tcp::{DEFAULT_MAXH2CDATA, maxh2cdata_is_valid};

pub use conn::R2TS_PER_COMMAND;
use conn::{ConnLimits, CtrlConn, Input};

use crate::auth::{
    AuthFailure, Authenticated, ControllerAuth, DEFAULT_CONTROLLER_DH_GROUPS, DEFAULT_CONTROLLER_HASHES,
    DEFAULT_STEP_TIMEOUT, NonceSource, PeerCheck,
};
use crate::conn::{BufferTooShort, CloseCause, ConnEvent, ConnId, ConnUsage};

/// In-capsule data the admin queue (and any Fabrics command) may carry: 8 KiB, the Linux host's
/// `NVME_TCP_ADMIN_CCSZ` ([`nvme_proto::notes::tcp`] §8.1). A Connect carries exactly 1024 bytes.
pub const ADMIN_IN_CAPSULE: u32 = 8192;

/// Asynchronous Event Requests a controller keeps outstanding (Identify AERL + 1), as Linux nvmet.
pub const AER_LIMIT: usize = 4;

/// The one namespace's identifier.
pub const NSID: u32 = 1;

/// Faults armed at once on one controller (and waiting for the next controller).
pub const MAX_FAULTS: usize = 8;

/// How a fault fires: the `fopcode` of the failover test ([`nvme_ccr::notes::ccr_cqt`] §11), or a path freeze.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaultAction {
    /// The controller fails at once: it sends nothing more and closes its connections (`fopcode`).
    Fatal,
    /// The controller's connections go silent without closing ([`ConnEvent::Freeze`]); the controller itself stays
    /// live until its keep-alive timer expires (`freeze`).
    Freeze,
}

impl fmt::Display for FaultAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FaultAction::Fatal => "controller fatal",
            FaultAction::Freeze => "connections frozen",
        })
    }
}

/// A fault armed on a controller: it fires once, on the first I/O command with `opcode` the controller accepts
/// afterwards (a write by R2T when its last data arrived). That command is not cancellable and reaches the media
/// `delay` later; `action` happens at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fault {
    /// The I/O opcode (1 = Write, 2 = Read).
    pub opcode: u8,
    /// How long the command stays in the backend.
    pub delay: Duration,
    /// What happens to its controller.
    pub action: FaultAction,
}

/// Which controller a fault is armed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaultTarget {
    /// This CNTLID (a live controller).
    Controller(u16),
    /// The first live controller now, or else the next one that connects (the failover test's `fopcode` at start).
    FirstLive,
    /// The next controller that connects.
    Next,
}

/// The one namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NamespaceConfig {
    /// Logical block size, a power of two from 512 to 4096.
    pub block_size: u32,
    /// Size in blocks.
    pub blocks: u64,
}

/// Everything a [`Subsystem`] is configured with. [`SubsystemConfig::new`] gives the defaults below; every limit is
/// checked by [`Subsystem::new`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SubsystemConfig {
    /// The subsystem NQN.
    pub nqn: String,
    /// Identify MN (default "nvme-fabric target").
    pub model: String,
    /// Identify FR (default "0.1").
    pub firmware: String,
    /// The namespace (default 512-byte blocks, 64 MiB).
    pub namespace: NamespaceConfig,
    /// Identify CQT (default not reported, as Linux nvmet).
    pub cqt: Cqt,
    /// Identify CCRL, enforced per source (default 4, Linux nvmet's).
    pub ccrl: Ccrl,
    /// CTRATT.TBKAS: any command counts as keep-alive traffic (default on, as Linux nvmet).
    pub tbkas: bool,
    /// Identify KAS, × 100 ms (default 10).
    pub kas: u16,
    /// Immediate Reset Successful mode for CCR (default off).
    pub irs: bool,
    /// `fail-ccr` at start: accepted CCRs end with CCRS = Failed.
    pub fail_ccr: bool,
    /// `no-ccr` at start: CCR answered with Invalid Command Opcode + DNR.
    pub no_ccr: bool,
    /// Commands per queue (Identify MAXCMD, CAP.MQES + 1); Connect SQSIZE must be below it (default 128).
    pub queue_depth: u16,
    /// I/O queues a controller may have (default 16).
    pub max_io_queues: u16,
    /// In-capsule data an I/O command may carry, a multiple of 16 (default 8192: IOCCSZ 516).
    pub io_in_capsule: u32,
    /// Identify MDTS: the largest transfer is 4 KiB × 2^MDTS (default 8: 1 MiB).
    pub mdts: u8,
    /// MAXH2CDATA announced in ICResp (default 128 KiB).
    pub maxh2cdata: u32,
    /// The largest C2HData PDU sent, data bytes (default 128 KiB). The runtime's transmit buffer must hold one such
    /// PDU plus [`PDU_OVERHEAD`](crate::conn::PDU_OVERHEAD) bytes.
    pub max_data_pdu: u32,
    /// Output bound per connection, bytes (default 4 MiB): see the module docs.
    pub output_limit: usize,
    /// Time allowed from accept to ICReq (default 10 s).
    pub ic_timeout: Duration,
    /// Time allowed from ICResp to a successful Connect (default 10 s).
    pub connect_timeout: Duration,
    /// Time a failed controller's teardown takes once its started commands are done (default 0).
    pub teardown_time: Duration,
    /// Media operations a controller has started at once (0 = no limit; default 0). Queued ones are cancelled when
    /// the controller fails (they never reach the media).
    pub media_concurrency: usize,
    /// Connections at once (default 1024).
    pub max_connections: usize,
    /// Events kept for [`Subsystem::poll_event`] (and as many for [`Subsystem::poll_auth_event`]) before new ones
    /// are dropped (default 4096).
    pub event_capacity: usize,
    /// The hosts the subsystem knows, with their DH-HMAC-CHAP keys (nvmet's `hosts/` entries linked to the
    /// subsystem; default none, at most [`MAX_HOSTS`]). A host listed with a key authenticates every queue: its
    /// Connects are answered with ATR, and until a queue is authenticated its admin (non-Fabrics) and I/O commands
    /// get Authentication Required ([`auth`](crate::auth), `spec-notes/auth.md`).
    pub hosts: Vec<HostEntry>,
    /// Whether hosts not in [`hosts`](Self::hosts) may connect (default `true`; nvmet's `attr_allow_any_host`). Off,
    /// their admin Connect is refused with Connect Invalid Host. A listed host with a key authenticates either way.
    pub allow_any_host: bool,
    /// The key every host not in [`hosts`](Self::hosts) must authenticate with, when
    /// [`allow_any_host`](Self::allow_any_host) lets it in (default none: such hosts need no authentication). nvmet
    /// has no equivalent (its keys belong to host entries); `nvme-lab target --dhchap-key` without `--allow-host`
    /// uses it.
    pub any_host_key: Option<DhchapSecret>,
    /// The controller key that goes with [`any_host_key`](Self::any_host_key).
    pub any_host_ctrl_key: Option<DhchapSecret>,
    /// How the subsystem runs DH-HMAC-CHAP (hashes and groups it picks from, step timeout, the seed of its nonces).
    pub auth: AuthPolicy,
}

/// Hosts a [`SubsystemConfig`] may list.
pub const MAX_HOSTS: usize = 1024;

/// A host the subsystem knows ([`SubsystemConfig::hosts`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HostEntry {
    /// Its NQN, exactly as its Connect data carries it.
    pub nqn: String,
    /// The host's secret (nvmet's `dhchap_key`): with it, the host must authenticate every queue.
    pub key: Option<DhchapSecret>,
    /// The controller's secret (nvmet's `dhchap_ctrl_key`): with it, a host that asks (bidirectional
    /// authentication) gets the controller's response R2; without it such a host is refused (Failure1, as nvmet).
    pub ctrl_key: Option<DhchapSecret>,
}

impl HostEntry {
    /// A host allowed without authentication.
    pub fn new(nqn: &str) -> Self {
        HostEntry { nqn: String::from(nqn), key: None, ctrl_key: None }
    }

    /// A host that must authenticate with `key`; `ctrl_key` lets the controller authenticate itself to it.
    pub fn with_key(nqn: &str, key: DhchapSecret, ctrl_key: Option<DhchapSecret>) -> Self {
        HostEntry { nqn: String::from(nqn), key: Some(key), ctrl_key }
    }
}

/// How a subsystem runs DH-HMAC-CHAP ([`SubsystemConfig::auth`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AuthPolicy {
    /// The hashes it picks from, first preferred (default [`DEFAULT_CONTROLLER_HASHES`]).
    pub hashes: Vec<HashId>,
    /// The DH groups it picks from, first preferred (default [`DEFAULT_CONTROLLER_DH_GROUPS`]).
    pub dh_groups: Vec<DhGroupId>,
    /// Each step of a transaction must come within this (default [`DEFAULT_STEP_TIMEOUT`]); a queue that does not
    /// authenticate in time is closed.
    pub step_timeout: Duration,
    /// How a host's DH value is checked (default [`PeerCheck::Range`]).
    pub peer_check: PeerCheck,
    /// The seed of every transaction's challenge, DH private exponent and sequence number ([`NonceSource`]):
    /// randomness is an input. Default all zeros, **which a real target must replace** with 32 bytes from the
    /// operating system's CSPRNG (nvme-tokio's target does).
    pub seed: [u8; 32],
}

impl Default for AuthPolicy {
    fn default() -> Self {
        AuthPolicy {
            hashes: DEFAULT_CONTROLLER_HASHES.to_vec(),
            dh_groups: DEFAULT_CONTROLLER_DH_GROUPS.to_vec(),
            step_timeout: DEFAULT_STEP_TIMEOUT,
            peer_check: PeerCheck::Range,
            seed: [0; 32],
        }
    }
}

impl SubsystemConfig {
    /// The defaults for subsystem `nqn` (see each field).
    pub fn new(nqn: &str) -> Self {
        SubsystemConfig {
            nqn: String::from(nqn),
            model: String::from("nvme-fabric target"),
            firmware: String::from("0.1"),
            namespace: NamespaceConfig { block_size: 512, blocks: 128 * 1024 },
            cqt: Cqt::NotReported,
            ccrl: nvme_ccr::target::DEFAULT_CCRL,
            tbkas: true,
            kas: 10,
            irs: false,
            fail_ccr: false,
            no_ccr: false,
            queue_depth: 128,
            max_io_queues: 16,
            io_in_capsule: 8192,
            mdts: 8,
            maxh2cdata: 128 * 1024,
            max_data_pdu: 128 * 1024,
            output_limit: 4 << 20,
            ic_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            teardown_time: Duration::ZERO,
            media_concurrency: 0,
            max_connections: 1024,
            event_capacity: 4096,
            hosts: Vec::new(),
            allow_any_host: true,
            any_host_key: None,
            any_host_ctrl_key: None,
            auth: AuthPolicy::default(),
        }
    }

    /// The largest transfer of one command: 4 KiB × 2^MDTS.
    pub fn max_transfer(&self) -> usize {
        4096usize << self.mdts
    }

    /// The smallest buffer `poll_transmit` must be given: the largest PDU this subsystem sends.
    pub fn transmit_buffer_len(&self) -> usize {
        self.max_data_pdu as usize + crate::conn::PDU_OVERHEAD
    }

    fn check(&self) -> Result<(), ConfigError> {
        let bs = self.namespace.block_size;
        if !(512..=4096).contains(&bs) || !bs.is_power_of_two() || self.namespace.blocks == 0 {
            return Err(ConfigError::Namespace);
        }
        if self.namespace.blocks.checked_mul(u64::from(bs)).is_none() {
            return Err(ConfigError::Namespace);
        }
        if self.nqn.is_empty() || self.nqn.len() > nvme_proto::cmd::NQN_MAX_LEN {
            return Err(ConfigError::Nqn);
        }
        if !(2..=4096).contains(&self.queue_depth) {
            return Err(ConfigError::QueueDepth);
        }
        if self.max_io_queues == 0 {
            return Err(ConfigError::IoQueues);
        }
        if !self.io_in_capsule.is_multiple_of(16) || self.io_in_capsule > 1 << 20 {
            return Err(ConfigError::InCapsule);
        }
        if self.mdts == 0 || self.mdts > 12 {
            return Err(ConfigError::Mdts);
        }
        if !maxh2cdata_is_valid(self.maxh2cdata) || self.maxh2cdata > DEFAULT_MAXH2CDATA {
            return Err(ConfigError::MaxH2CData);
        }
        if !(512..=1 << 24).contains(&self.max_data_pdu) {
            return Err(ConfigError::DataPdu);
        }
        if self.output_limit < self.max_transfer() {
            return Err(ConfigError::OutputLimit);
        }
        if self.max_connections == 0 {
            return Err(ConfigError::Connections);
        }
        self.check_hosts()
    }

    fn check_hosts(&self) -> Result<(), ConfigError> {
        if self.hosts.len() > MAX_HOSTS || (self.any_host_ctrl_key.is_some() && self.any_host_key.is_none()) {
            return Err(ConfigError::Hosts);
        }
        for (i, h) in self.hosts.iter().enumerate() {
            let nqn_ok = !h.nqn.is_empty() && h.nqn.len() <= nvme_proto::cmd::NQN_MAX_LEN;
            if !nqn_ok || (h.ctrl_key.is_some() && h.key.is_none()) || self.hosts[..i].iter().any(|o| o.nqn == h.nqn) {
                return Err(ConfigError::Hosts);
            }
        }
        // The policy's lists, checked as every controller's credentials will be.
        let probe = DhchapSecret::new(SecretTransform::NONE, &[0; 32]).map_err(|_| ConfigError::Auth)?;
        self.credentials("h", &probe, None).map(drop)
    }

    /// The credentials of a controller for host `hostnqn` with `key` (and `ctrl_key`), under this policy.
    fn credentials(
        &self,
        hostnqn: &str,
        key: &DhchapSecret,
        ctrl_key: Option<&DhchapSecret>,
    ) -> Result<ControllerAuth, ConfigError> {
        let a = &self.auth;
        ControllerAuth::new(hostnqn, &self.nqn, key, ctrl_key)
            .and_then(|c| c.with_hashes(&a.hashes))
            .and_then(|c| c.with_dh_groups(&a.dh_groups))
            .map(|c| c.with_step_timeout(a.step_timeout).with_peer_check(a.peer_check))
            .map_err(|_| ConfigError::Auth)
    }

    /// Whether host `nqn` may connect, and its keys (host, controller) when it must authenticate.
    fn host_keys(&self, nqn: &str) -> Option<Option<(&DhchapSecret, Option<&DhchapSecret>)>> {
        match self.hosts.iter().find(|h| h.nqn == nqn) {
            Some(h) => Some(h.key.as_ref().map(|k| (k, h.ctrl_key.as_ref()))),
            None if self.allow_any_host => {
                Some(self.any_host_key.as_ref().map(|k| (k, self.any_host_ctrl_key.as_ref())))
            }
            None => None,
        }
    }
}

/// A configuration [`Subsystem::new`] refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConfigError {
    /// Block size not a power of two in 512..=4096, no blocks, or a size beyond 64 bits.
    Namespace,
    /// Empty NQN or longer than 223 bytes.
    Nqn,
    /// Queue depth outside 2..=4096.
    QueueDepth,
    /// No I/O queue allowed.
    IoQueues,
    /// I/O in-capsule size not a multiple of 16, or above 1 MiB.
    InCapsule,
    /// MDTS outside 1..=12.
    Mdts,
    /// MAXH2CDATA below 4096, not a multiple of 4, or above 4 MiB.
    MaxH2CData,
    /// Data per C2HData PDU outside 512..=16 MiB.
    DataPdu,
    /// Output limit below the largest transfer.
    OutputLimit,
    /// No connection allowed.
    Connections,
    /// More than [`MAX_HOSTS`] hosts, a host NQN empty, too long or listed twice, or a controller key without a
    /// host key (in an entry, or [`SubsystemConfig::any_host_ctrl_key`] alone).
    Hosts,
    /// The authentication policy's hash or group list is empty, longer than 30, or names one not implemented.
    Auth,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConfigError::Namespace => "namespace: block size must be a power of two in 512..=4096 and blocks > 0",
            ConfigError::Nqn => "the NQN must be 1..=223 bytes",
            ConfigError::QueueDepth => "queue depth must be in 2..=4096",
            ConfigError::IoQueues => "at least one I/O queue is needed",
            ConfigError::InCapsule => "I/O in-capsule size must be a multiple of 16, at most 1 MiB",
            ConfigError::Mdts => "MDTS must be in 1..=12",
            ConfigError::MaxH2CData => "MAXH2CDATA must be a multiple of 4 in 4096..=4 MiB",
            ConfigError::DataPdu => "data per C2HData PDU must be in 512..=16 MiB",
            ConfigError::OutputLimit => "the output limit must hold at least one largest transfer",
            ConfigError::Connections => "at least one connection must be allowed",
            ConfigError::Hosts => {
                "hosts: at most 1024, each NQN 1..=223 bytes and listed once, a controller key only with a host key"
            }
            ConfigError::Auth => "authentication: 1..=30 implemented hashes and DH groups",
        })
    }
}

impl core::error::Error for ConfigError {}

/// [`Subsystem::accept`] refused a connection: the limit of [`SubsystemConfig::max_connections`] is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TooManyConnections;

impl fmt::Display for TooManyConnections {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("too many connections")
    }
}

impl core::error::Error for TooManyConnections {}

/// The name of one media operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MediaId(pub u64);

/// What a media operation does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// Read `len` bytes from `slba` into [`Subsystem::media_buffer`].
    Read,
    /// Write [`Subsystem::media_data`] (`len` bytes) at `slba`.
    Write,
    /// Make written data durable.
    Flush,
}

/// A media operation for the runtime to carry out, then report with [`Subsystem::handle_media_done`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MediaRequest {
    /// Its name.
    pub id: MediaId,
    /// What to do.
    pub kind: MediaKind,
    /// The namespace.
    pub nsid: u32,
    /// First logical block.
    pub slba: u64,
    /// Bytes (0 for a flush).
    pub len: usize,
    /// The controller that accepted the command.
    pub cntlid: u16,
    /// The connection (I/O queue) it arrived on.
    pub conn: ConnId,
    /// Its command identifier.
    pub cid: u16,
}

/// A media operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MediaError {
    /// The write did not reach the media (answered Write Fault).
    WriteFault,
    /// The read could not be served (answered Unrecovered Read Error).
    ReadError,
    /// Anything else (answered Internal Error).
    Internal,
}

impl fmt::Display for MediaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MediaError::WriteFault => "write fault",
            MediaError::ReadError => "unrecovered read error",
            MediaError::Internal => "internal error",
        })
    }
}

/// Why a controller failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ControllerFailure {
    /// Its keep-alive timer expired.
    KeepAliveExpired,
    /// Its admin queue's connection ended.
    AdminConnectionLost(CloseCause),
    /// A `fopcode` fault fired.
    Fault,
    /// A Cross-Controller Reset named it.
    CrossControllerReset,
    /// The subsystem is shutting down.
    Shutdown,
}

impl fmt::Display for ControllerFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ControllerFailure::KeepAliveExpired => f.write_str("keep-alive timer expired"),
            ControllerFailure::AdminConnectionLost(c) => write!(f, "admin connection lost: {c}"),
            ControllerFailure::Fault => f.write_str("fault fired"),
            ControllerFailure::CrossControllerReset => f.write_str("Cross-Controller Reset"),
            ControllerFailure::Shutdown => f.write_str("subsystem shutting down"),
        }
    }
}

/// What happened, for logs, timelines and tests (pulled with [`Subsystem::poll_event`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    /// A connection ended.
    ConnClosed {
        /// The connection.
        conn: ConnId,
        /// Why.
        cause: CloseCause,
    },
    /// An admin Connect created a controller.
    ControllerCreated {
        /// Its CNTLID.
        cntlid: u16,
        /// The admin queue's connection.
        conn: ConnId,
        /// The KATO it asked for.
        kato: Duration,
    },
    /// An I/O queue connected to a controller.
    QueueConnected {
        /// The controller.
        cntlid: u16,
        /// The queue.
        qid: u16,
        /// Its connection.
        conn: ConnId,
    },
    /// CC.EN went 0 -> 1: the controller is ready with this identity (CIU, CIRN renewed).
    ControllerReady {
        /// The controller.
        cntlid: u16,
        /// CIU (Identify byte 135).
        ciu: u8,
        /// CIRN (Identify bytes 143:136).
        cirn: u64,
    },
    /// A controller became fatal: it sends nothing more; its teardown waits for its started commands.
    ControllerFailed {
        /// The controller.
        cntlid: u16,
        /// Why.
        cause: ControllerFailure,
        /// Queued media operations cancelled (never executed).
        cancelled: usize,
        /// Started media operations its teardown waits for.
        waiting: usize,
    },
    /// A failed controller is gone: every command it accepted executed or was cancelled. CCRs naming it succeed now.
    TeardownComplete {
        /// The controller.
        cntlid: u16,
    },
    /// A fault fired on a command.
    FaultFired {
        /// The controller.
        cntlid: u16,
        /// The command's opcode.
        opcode: u8,
        /// How long it stays in the backend.
        delay: Duration,
        /// What happened to the controller.
        action: FaultAction,
        /// The media operation that carries the command (it is released after `delay`).
        media: MediaId,
    },
    /// A Cross-Controller Reset arrived.
    CcrReceived {
        /// The source controller.
        source: u16,
        /// ICID, CIU, CIRN named.
        icid: u16,
        /// CIU named.
        ciu: u8,
        /// CIRN named.
        cirn: u64,
    },
    /// A Cross-Controller Reset was answered.
    CcrAnswered {
        /// The source controller.
        source: u16,
        /// The status sent.
        status: Status,
        /// CQE DW0 sent.
        dw0: u32,
    },
    /// A CCR Completed notice was raised on a source.
    CcrNotice {
        /// The source controller.
        source: u16,
    },
}

/// What in-band authentication did, for logs and tests (pulled with [`Subsystem::poll_auth_event`]; kept apart
/// from [`Event`] so that runtimes matching every [`Event`] need not change).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthEvent {
    /// A Connect of a host with a key was answered with ATR: queue `qid` must authenticate.
    Required {
        /// The controller.
        cntlid: u16,
        /// The queue.
        qid: u16,
        /// Its connection.
        conn: ConnId,
    },
    /// Queue `qid` authenticated (again, after a re-authentication).
    Authenticated {
        /// The controller.
        cntlid: u16,
        /// The queue.
        qid: u16,
        /// Its connection.
        conn: ConnId,
        /// The hash, the group, and whether the controller authenticated itself too.
        result: Authenticated,
    },
    /// Queue `qid`'s transaction failed: its connection closes (the AUTH_Failure1, when this side refused, is sent
    /// first); an admin queue's failure fails its controller.
    Failed {
        /// The controller.
        cntlid: u16,
        /// The queue.
        qid: u16,
        /// Its connection.
        conn: ConnId,
        /// How.
        failure: AuthFailure,
    },
    /// An admin Connect from a host that is not in [`SubsystemConfig::hosts`] while
    /// [`SubsystemConfig::allow_any_host`] is off: refused with Connect Invalid Host.
    HostRefused {
        /// The connection.
        conn: ConnId,
    },
}

/// One controller.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Ctrl {
    hostnqn: String,
    hostid: [u8; 16],
    live: bool,
    kato: Duration,
    ka_deadline: Option<Instant>,
    traffic: bool,
    cc: u32,
    csts: u32,
    aec: u32,
    io_queues: u16,
    admin: ConnId,
    io: BTreeMap<u16, ConnId>,
    aers: VecDeque<u16>,
    pending_aens: VecDeque<u32>,
    /// Media operations started (handed out, stuck or waiting to be polled).
    started: usize,
    /// Media operations waiting for a concurrency slot.
    queued: VecDeque<MediaId>,
    teardown_at: Option<Instant>,
    /// Faults armed, at most [`MAX_FAULTS`]; the first whose opcode matches fires.
    faults: Vec<Fault>,
    /// The host's credentials when it must authenticate (its entry has a key): every queue runs a transaction.
    auth: Option<ControllerAuth>,
}

/// Where a media operation is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum MediaState {
    /// Waiting for a concurrency slot.
    Queued,
    /// Ready to be polled.
    Ready,
    /// Handed to the runtime.
    Started,
    /// Held in the backend by a fault until this instant.
    Stuck(Instant),
    /// A fault's hold is over: ready to be polled. It was accepted by the backend long ago, so its controller's
    /// failure does not cancel it.
    Released,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct MediaOp {
    cntlid: u16,
    conn: ConnId,
    cid: u16,
    kind: MediaKind,
    slba: u64,
    len: usize,
    buf: Vec<u8>,
    state: MediaState,
}

/// One NVM subsystem served over NVMe/TCP. See the module docs for the call order and the bounds.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Subsystem {
    cfg: SubsystemConfig,
    serial: String,
    nguid: [u8; 16],
    eui64: [u8; 8],
    conns: BTreeMap<ConnId, CtrlConn>,
    next_conn: u64,
    ctrls: BTreeMap<u16, Ctrl>,
    ccr: CcrTarget,
    /// CCR request token -> (source controller, CID).
    ccr_reqs: BTreeMap<u64, (u16, u16)>,
    next_req: u64,
    media: BTreeMap<MediaId, MediaOp>,
    next_media: u64,
    media_ready: VecDeque<MediaId>,
    /// Faults waiting for the next controller that connects (at most [`MAX_FAULTS`]).
    fault_pending: Vec<Fault>,
    conn_events: VecDeque<ConnEvent>,
    events: VecDeque<Event>,
    dropped_events: u64,
    rng: u64,
    /// The nonces of every authentication transaction, from [`AuthPolicy::seed`].
    nonces: NonceSource,
    auth_events: VecDeque<AuthEvent>,
    /// One-shot faults for checkers: the next CCR Completed notice is not raised; the next CCR log read fails.
    lose_next_ccr_notice: bool,
    fail_next_ccr_log: bool,
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

impl Subsystem {
    /// A subsystem with no connections. `seed` feeds the CIU and CIRN values of its controllers (randomness is an
    /// input: give a random seed, or a fixed one for a reproducible run).
    pub fn new(cfg: SubsystemConfig, seed: u64) -> Result<Self, ConfigError> {
        cfg.check()?;
        let h = fnv(cfg.nqn.as_bytes());
        let mut nguid = [0u8; 16];
        nguid[..8].copy_from_slice(&h.to_be_bytes());
        nguid[8..].copy_from_slice(&fnv(&h.to_le_bytes()).to_be_bytes());
        let mut eui64 = (h ^ 0x5a5a).to_be_bytes();
        eui64[0] = 0x02; // a locally administered EUI-64
        let ccr = CcrTarget::new(CcrConfig {
            ccrl: cfg.ccrl,
            irs: cfg.irs,
            ccr_fail: cfg.fail_ccr,
            ccr_unsupported: cfg.no_ccr,
            ..CcrConfig::default()
        });
        let nonces = NonceSource::new(cfg.auth.seed);
        Ok(Subsystem {
            serial: alloc::format!("{h:016x}"),
            cfg,
            nguid,
            eui64,
            conns: BTreeMap::new(),
            next_conn: 0,
            ctrls: BTreeMap::new(),
            ccr,
            ccr_reqs: BTreeMap::new(),
            next_req: 0,
            media: BTreeMap::new(),
            next_media: 0,
            media_ready: VecDeque::new(),
            fault_pending: Vec::new(),
            conn_events: VecDeque::new(),
            events: VecDeque::new(),
            dropped_events: 0,
            rng: seed ^ h,
            nonces,
            auth_events: VecDeque::new(),
            lose_next_ccr_notice: false,
            fail_next_ccr_log: false,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SubsystemConfig {
        &self.cfg
    }

    fn random(&mut self) -> u64 {
        // splitmix64 over the seed: deterministic for a given seed.
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn event(&mut self, ev: Event) {
        if self.events.len() < self.cfg.event_capacity {
            self.events.push_back(ev);
        } else {
            self.dropped_events += 1;
        }
    }

    fn limits(&self) -> ConnLimits {
        ConnLimits {
            maxh2cdata: self.cfg.maxh2cdata,
            admin_in_capsule: ADMIN_IN_CAPSULE,
            io_in_capsule: self.cfg.io_in_capsule,
            max_data_pdu: self.cfg.max_data_pdu as usize,
            max_transfer: self.cfg.max_transfer(),
            output_limit: self.cfg.output_limit,
        }
    }

    /// A new TCP connection. It must send an ICReq within [`SubsystemConfig::ic_timeout`].
    pub fn accept(&mut self, now: Instant) -> Result<ConnId, TooManyConnections> {
        if self.conns.len() >= self.cfg.max_connections {
            return Err(TooManyConnections);
        }
        let id = ConnId(self.next_conn);
        self.next_conn += 1;
        let conn = CtrlConn::new(self.limits(), now + self.cfg.ic_timeout);
        self.conns.insert(id, conn);
        Ok(id)
    }

    /// Bytes received on `conn`; returns how many were taken (see the module docs on backpressure). Bytes for an
    /// unknown or closing connection are all taken and dropped.
    pub fn handle_input(&mut self, now: Instant, conn: ConnId, input: &[u8]) -> usize {
        let mut used = 0;
        loop {
            let limit = self.cfg.output_limit;
            let Some(c) = self.conns.get_mut(&conn) else { return input.len() };
            if c.q.closing.is_some() {
                return input.len();
            }
            if c.q.frozen {
                return used;
            }
            if c.q.over_limit(limit) {
                c.q.blocked = true;
                break;
            }
            let (n, ev) = c.read(now, &input[used..], self.cfg.connect_timeout);
            used += n;
            match ev {
                None => break,
                Some(Input::Close(cause)) => {
                    self.conn_closing(now, conn, cause);
                    self.flush_events(conn);
                    return input.len();
                }
                Some(Input::Command { sqe, data }) => self.command(now, conn, sqe, data),
                Some(Input::WriteData { cid, slba, data }) => self.write_data(now, conn, cid, slba, data),
            }
            self.flush_events(conn);
        }
        self.flush_events(conn);
        used
    }

    /// `conn`'s socket closed or failed (or the runtime closed it after [`ConnEvent::Close`]). Idempotent.
    pub fn handle_closed(&mut self, now: Instant, conn: ConnId) {
        if !self.conns.contains_key(&conn) {
            return;
        }
        if self.conns.get(&conn).is_some_and(|c| c.q.closing.is_none()) {
            self.conn_closing(now, conn, CloseCause::PeerClosed);
        }
        if let Some(mut c) = self.conns.remove(&conn) {
            c.q.clear();
        }
        self.conn_events.retain(|e| !matches!(e, ConnEvent::Transmit(c) | ConnEvent::Resume(c) if *c == conn));
    }

    /// Writes the next PDUs for `conn` into `buf` (whole PDUs only); returns the bytes written, 0 when there is
    /// nothing to send. A buffer shorter than the next PDU is an error when nothing could be written
    /// ([`SubsystemConfig::transmit_buffer_len`] always suffices).
    pub fn poll_transmit(&mut self, _now: Instant, conn: ConnId, buf: &mut [u8]) -> Result<usize, BufferTooShort> {
        let limit = self.cfg.output_limit;
        let Some(c) = self.conns.get_mut(&conn) else { return Ok(0) };
        if c.q.frozen {
            return Ok(0);
        }
        let n = c.q.tx.poll(buf, |_| None)?;
        // The data buffers of reads whose C2HData PDUs are all encoded go back to the connection's pool.
        while let Some(b) = c.q.tx.take_spent() {
            c.q.pool.put(b);
        }
        if c.q.tx.is_empty() {
            c.q.tx_armed = false;
        }
        if c.q.blocked && !c.q.over_limit(limit) && c.q.closing.is_none() {
            c.q.blocked = false;
            self.conn_events.push_back(ConnEvent::Resume(conn));
        }
        Ok(n)
    }

    /// The next thing the runtime must do with a connection.
    pub fn poll_conn_event(&mut self) -> Option<ConnEvent> {
        self.conn_events.pop_front()
    }

    /// The next media operation to carry out.
    pub fn poll_media(&mut self) -> Option<MediaRequest> {
        while let Some(id) = self.media_ready.pop_front() {
            let Some(op) = self.media.get_mut(&id) else { continue };
            if !matches!(op.state, MediaState::Ready | MediaState::Released) {
                continue;
            }
            op.state = MediaState::Started;
            return Some(MediaRequest {
                id,
                kind: op.kind,
                nsid: NSID,
                slba: op.slba,
                len: op.len,
                cntlid: op.cntlid,
                conn: op.conn,
                cid: op.cid,
            });
        }
        None
    }

    /// The data a started write puts on the media.
    pub fn media_data(&self, id: MediaId) -> Option<&[u8]> {
        self.media.get(&id).filter(|op| op.kind == MediaKind::Write).map(|op| &op.buf[..])
    }

    /// The buffer a started read fills, all of it: it comes from the connection's pool of reused buffers, so until
    /// the runtime writes it, it may hold an earlier command's data from the same connection (a successful read must
    /// overwrite every byte; a failed one is never sent).
    pub fn media_buffer(&mut self, id: MediaId) -> Option<&mut [u8]> {
        self.media.get_mut(&id).filter(|op| op.kind == MediaKind::Read).map(|op| &mut op.buf[..])
    }

    /// A started media operation finished.
    pub fn handle_media_done(&mut self, now: Instant, id: MediaId, result: Result<(), MediaError>) {
        let Some(op) = self.media.get(&id) else { return };
        if op.state != MediaState::Started {
            return;
        }
        let Some(op) = self.media.remove(&id) else { return };
        self.media_finished(now, op, result);
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Events dropped because [`SubsystemConfig::event_capacity`] was reached.
    pub fn dropped_events(&self) -> u64 {
        self.dropped_events
    }

    /// The next authentication event.
    pub fn poll_auth_event(&mut self) -> Option<AuthEvent> {
        self.auth_events.pop_front()
    }

    fn auth_event(&mut self, ev: AuthEvent) {
        if self.auth_events.len() < self.cfg.event_capacity {
            self.auth_events.push_back(ev);
        } else {
            self.dropped_events += 1;
        }
    }

    /// The next instant [`handle_timeout`](Self::handle_timeout) has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let conns = self.conns.values().filter(|c| c.q.closing.is_none()).filter_map(|c| c.q.deadline);
        let auth = self.conns.values().filter(|c| c.q.closing.is_none()).filter_map(|c| c.q.auth_deadline());
        let ctrls = self.ctrls.values().flat_map(|c| [c.ka_deadline.filter(|_| c.live), c.teardown_at]).flatten();
        let stuck = self.media.values().filter_map(|op| match op.state {
            MediaState::Stuck(t) => Some(t),
            _ => None,
        });
        conns.chain(auth).chain(ctrls).chain(stuck).min()
    }

    /// Fires every timer due at `now`: IC and Connect timeouts, keep-alive expiry, the end of a fault's delay, the end
    /// of a teardown.
    pub fn handle_timeout(&mut self, now: Instant) {
        let expired: Vec<(ConnId, CloseCause)> = self
            .conns
            .iter()
            .filter(|(_, c)| c.q.closing.is_none() && c.q.deadline.is_some_and(|d| d <= now))
            .map(|(&id, c)| {
                let cause =
                    if c.q.phase == conn::Phase::AwaitIc { CloseCause::IcTimeout } else { CloseCause::ConnectTimeout };
                (id, cause)
            })
            .collect();
        for (id, cause) in expired {
            self.conn_closing(now, id, cause);
        }
        self.auth_timeouts(now);
        let due: Vec<MediaId> = self
            .media
            .iter()
            .filter(|(_, op)| matches!(op.state, MediaState::Stuck(t) if t <= now))
            .map(|(&id, _)| id)
            .collect();
        for id in due {
            if let Some(op) = self.media.get_mut(&id) {
                op.state = MediaState::Released;
                self.media_ready.push_back(id);
            }
        }
        let ids: Vec<u16> = self.ctrls.keys().copied().collect();
        for cntlid in ids {
            let Some(c) = self.ctrls.get_mut(&cntlid) else { continue };
            if c.live
                && let Some(d) = c.ka_deadline
                && d <= now
            {
                if c.traffic {
                    c.traffic = false;
                    c.ka_deadline = Some(now + c.kato);
                } else {
                    self.fail_controller(now, cntlid, ControllerFailure::KeepAliveExpired);
                }
            }
            if let Some(c) = self.ctrls.get(&cntlid)
                && c.teardown_at.is_some_and(|t| t <= now)
            {
                self.teardown_complete(now, cntlid);
            }
        }
        let conns: Vec<ConnId> = self.conns.keys().copied().collect();
        for id in conns {
            self.flush_events(id);
        }
    }

    /// Arms `fault` on `target`, beside the faults already armed there (at most [`MAX_FAULTS`] per controller; the
    /// first whose opcode matches fires). Returns the CNTLID it is armed on, or `None` when it waits for the next
    /// controller that connects. [`disarm_faults`](Self::disarm_faults) first gives "replace" semantics.
    pub fn arm_fault(&mut self, target: FaultTarget, fault: Fault) -> Result<Option<u16>, FaultError> {
        let cntlid = match target {
            FaultTarget::Controller(id) => match self.ctrls.get(&id) {
                Some(c) if c.live => Some(id),
                _ => return Err(FaultError::UnknownController(id)),
            },
            FaultTarget::FirstLive => self.ctrls.iter().find(|(_, c)| c.live).map(|(&id, _)| id),
            FaultTarget::Next => None,
        };
        let list = match cntlid {
            Some(id) => match self.ctrls.get_mut(&id) {
                Some(c) => &mut c.faults,
                None => return Err(FaultError::UnknownController(id)),
            },
            None => &mut self.fault_pending,
        };
        if list.len() >= MAX_FAULTS {
            return Err(FaultError::TooMany);
        }
        list.push(fault);
        Ok(cntlid)
    }

    /// Disarms every fault not fired yet.
    pub fn disarm_faults(&mut self) {
        self.fault_pending.clear();
        for c in self.ctrls.values_mut() {
            c.faults.clear();
        }
    }

    /// The `fail-ccr` switch: accepted CCRs end with CCRS = Failed.
    pub fn set_fail_ccr(&mut self, on: bool) {
        self.ccr.config_mut().ccr_fail = on;
    }

    /// The `no-ccr` switch: CCR answered with Invalid Command Opcode + DNR.
    pub fn set_no_ccr(&mut self, on: bool) {
        self.ccr.config_mut().ccr_unsupported = on;
    }

    /// A one-shot fault (for checkers): the next CCR Completed notice any controller would raise is lost (no AEN;
    /// the log entry is kept; no event).
    pub fn lose_next_ccr_notice(&mut self) {
        self.lose_next_ccr_notice = true;
    }

    /// A one-shot fault (for checkers): the next Get Log Page of the CCR log fails with Internal Error, nothing
    /// read or removed (no event).
    pub fn fail_next_ccr_log(&mut self) {
        self.fail_next_ccr_log = true;
    }

    /// The one-shot faults still armed: `(lose_next_ccr_notice, fail_next_ccr_log)`.
    pub fn one_shot_faults(&self) -> (bool, bool) {
        (self.lose_next_ccr_notice, self.fail_next_ccr_log)
    }

    /// The media operations a fault holds in the backend, each with the instant its hold ends (for checkers).
    pub fn stuck_media(&self) -> impl Iterator<Item = (MediaId, Instant)> + '_ {
        self.media.iter().filter_map(|(&id, op)| match op.state {
            MediaState::Stuck(t) => Some((id, t)),
            _ => None,
        })
    }

    /// Ends a fault's hold of media operation `id` now, before its delay is over (for checkers: the backend may
    /// finish the command at any time within the delay). It becomes ready to be polled, as at the end of the delay.
    /// Returns whether `id` was held.
    pub fn release_stuck(&mut self, id: MediaId) -> bool {
        match self.media.get_mut(&id) {
            Some(op) if matches!(op.state, MediaState::Stuck(_)) => {
                op.state = MediaState::Released;
                self.media_ready.push_back(id);
                true
            }
            _ => false,
        }
    }

    /// The `(fail-ccr, no-ccr)` switches.
    pub fn ccr_switches(&self) -> (bool, bool) {
        let c = self.ccr.config();
        (c.ccr_fail, c.ccr_unsupported)
    }

    /// Every controller (CNTLID, live), in CNTLID order; failed ones stay until their teardown completes.
    pub fn controllers(&self) -> impl Iterator<Item = (u16, bool)> + '_ {
        self.ctrls.iter().map(|(&id, c)| (id, c.live))
    }

    /// The controller a connection belongs to, once its Connect succeeded.
    pub fn conn_controller(&self, conn: ConnId) -> Option<u16> {
        self.conns.get(&conn).and_then(|c| c.q.cntlid())
    }

    /// Connections open (not yet reported closed by the runtime).
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// What connection `conn` holds now (`None` once it is forgotten).
    pub fn conn_usage(&self, conn: ConnId) -> Option<ConnUsage> {
        let c = self.conns.get(&conn)?;
        Some(ConnUsage {
            output: c.q.tx.held(),
            reads: c.q.read_pinned,
            writes: c.q.write_pinned,
            receive: c.rx.allocated(),
            commands: c.q.slots.len(),
            pool: c.q.pool.idle_bytes(),
        })
    }

    /// Media operations not finished (queued, held by a fault, or started).
    pub fn media_pending(&self) -> usize {
        self.media.len()
    }

    /// Fails every controller and closes every connection.
    pub fn shutdown(&mut self, now: Instant) {
        let ids: Vec<u16> = self.ctrls.keys().copied().collect();
        for id in ids {
            self.fail_controller(now, id, ControllerFailure::Shutdown);
        }
        let conns: Vec<ConnId> = self.conns.keys().copied().collect();
        for id in conns {
            self.conn_closing(now, id, CloseCause::Local);
            self.flush_events(id);
        }
    }

    /// Raises the runtime events a change to `conn` calls for: Transmit when output appeared.
    fn flush_events(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        if !c.q.tx.is_empty() && !c.q.tx_armed && !c.q.frozen {
            c.q.tx_armed = true;
            self.conn_events.push_back(ConnEvent::Transmit(conn));
        }
    }

    /// `conn` ends for `cause`: the runtime is told to close it; its queue goes; the controller it carried reacts.
    fn conn_closing(&mut self, now: Instant, id: ConnId, cause: CloseCause) {
        let Some(c) = self.conns.get_mut(&id) else { return };
        if c.q.closing.is_some() {
            return;
        }
        c.q.closing = Some(cause);
        c.q.clear();
        let phase = c.q.phase;
        self.conn_events.push_back(ConnEvent::Close(id, cause));
        self.event(Event::ConnClosed { conn: id, cause });
        match phase {
            // The admin queue is the association: losing it fails the controller.
            conn::Phase::Admin(cntlid) if self.ctrls.get(&cntlid).is_some_and(|c| c.live && c.admin == id) => {
                self.fail_controller(now, cntlid, ControllerFailure::AdminConnectionLost(cause));
            }
            // An I/O queue may go on its own (the Linux host deletes its I/O queues before it shuts the controller
            // down through the admin queue): only that queue goes.
            conn::Phase::Io(cntlid, qid) => {
                if let Some(c) = self.ctrls.get_mut(&cntlid)
                    && c.io.get(&qid) == Some(&id)
                {
                    c.io.remove(&qid);
                }
            }
            _ => {}
        }
    }

    /// The controller becomes fatal: nothing more is sent for it (queued output is dropped), its connections are
    /// closed, its queued media operations are cancelled, and its teardown completes once the started ones are
    /// done ([`nvme_ccr::notes::ccr_cqt`] §11, teardown rule).
    fn fail_controller(&mut self, now: Instant, cntlid: u16, cause: ControllerFailure) {
        let Some(c) = self.ctrls.get_mut(&cntlid) else { return };
        if !c.live {
            return;
        }
        c.live = false;
        c.csts |= 0x2; // CSTS.CFS
        c.ka_deadline = None;
        c.faults.clear();
        c.aers.clear();
        c.pending_aens.clear();
        let conns: Vec<ConnId> = core::iter::once(c.admin).chain(c.io.values().copied()).collect();
        let queued: Vec<MediaId> = c.queued.drain(..).collect();
        let cancelled = queued.len();
        for id in &queued {
            self.media.remove(id);
        }
        // Operations ready but not yet polled have not started either: cancel them too (not a fault's released
        // hold: `Released`, that command reached the backend when it was accepted).
        let ready: Vec<MediaId> = self
            .media
            .iter()
            .filter(|(_, op)| op.cntlid == cntlid && op.state == MediaState::Ready)
            .map(|(&id, _)| id)
            .collect();
        let cancelled = cancelled + ready.len();
        for id in &ready {
            self.media.remove(id);
        }
        let waiting = self.media.values().filter(|op| op.cntlid == cntlid).count();
        if let Some(c) = self.ctrls.get_mut(&cntlid) {
            c.started = waiting;
        }
        let _ = self.ccr.handle_controller_fatal(cntlid);
        self.event(Event::ControllerFailed { cntlid, cause, cancelled, waiting });
        for id in conns {
            if let Some(conn) = self.conns.get_mut(&id) {
                // The connection whose authentication failed keeps its last answer (the AUTH_Failure1): the host
                // learns why, as from nvmet.
                if !matches!(conn.q.closing, Some(CloseCause::AuthenticationFailed(_))) {
                    conn.q.tx.abandon();
                }
                conn.q.clear();
                conn.q.tx_armed = false;
            }
            self.conn_closing(now, id, CloseCause::ControllerFailed);
        }
        self.check_teardown(now, cntlid);
    }

    /// Starts the teardown timer of a failed controller once nothing it started is left.
    fn check_teardown(&mut self, now: Instant, cntlid: u16) {
        let Some(c) = self.ctrls.get_mut(&cntlid) else { return };
        if c.live || c.started > 0 || c.teardown_at.is_some() {
            return;
        }
        if self.cfg.teardown_time.is_zero() {
            self.teardown_complete(now, cntlid);
        } else {
            c.teardown_at = Some(now + self.cfg.teardown_time);
        }
    }

    fn teardown_complete(&mut self, now: Instant, cntlid: u16) {
        if self.ctrls.remove(&cntlid).is_none() {
            return;
        }
        self.event(Event::TeardownComplete { cntlid });
        let _ = self.ccr.handle_teardown_complete(cntlid);
        self.drain_ccr(now);
    }
}

/// [`Subsystem::arm_fault`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaultError {
    /// No live controller has this CNTLID.
    UnknownController(u16),
    /// [`MAX_FAULTS`] faults are armed there already.
    TooMany,
}

impl fmt::Display for FaultError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultError::UnknownController(id) => write!(f, "no live controller {id}"),
            FaultError::TooMany => write!(f, "at most {MAX_FAULTS} faults per controller"),
        }
    }
}

impl core::error::Error for FaultError {}
