//! The NVMe/TCP host: nvme-fabric's [`Host`](nvme_fabric::host::Host) on tokio sockets. Every protocol decision is
//! the shared host's (bring-up in the Linux host's order, keep alive, AER, command timeouts, multipath I/O through
//! nvme-ccr's recovery engine, reconnects, orderly disconnect; see its module docs); this module owns the sockets,
//! the timer, the buffers and the futures that wait for completions. Two handles wrap one runtime:
//!
//! * [`Multipath`]: one path per address, the configured recovery policy; reads, writes and flushes go round robin
//!   over the usable paths; admin passthrough to one path; an orderly [`close`](Multipath::close).
//! * [`Controller`]: one path, [`Policy::Legacy`] (with one path there is nowhere to
//!   recover to). [`Controller::connect`] never reconnects (a failed controller stays failed: connect again for a new
//!   association); [`Controller::connect_reconnecting`] reconnects after the configured delay.
//!
//! Both split I/O larger than the transfer limit (the controllers' MDTS) into commands of at most that size, sent
//! one after the other. Errors are [`HostError`], a small `Copy` enum carrying nvme-fabric's causes
//! ([`PathFailure`], [`IoError`], the [`CloseCause`] of a connection with the FES and
//! FEI of a termination request). What happens on the paths arrives on the [`Events`] channel each connect returns.

mod runtime;

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use nvme_ccr::{Config, ControllerFacts, Policy};
use nvme_proto::cmd::{IDENTIFY_DATA_LEN, Identify, Sqe};
use tokio::sync::mpsc;

pub use nvme_fabric::conn::CloseCause;
pub use nvme_fabric::host::{
    ADMIN_IN_CAPSULE, ADMIN_QUEUE_DEPTH, DataOut, HostAuthConfig, HostConfig as FabricConfig, HostConfigError,
    HostEvent, IoDone, IoError, NsInfo, PathFailure, PathPhase, SubmitError,
};

use crate::capture::Capture;
use runtime::Runtime;

/// The events of a host ([`HostEvent`]: paths connecting, live, failed, reconnecting, given up; AENs; the recovery
/// engine's events). Bounded by [`FabricConfig::event_capacity`]; events that find it full are dropped.
pub type Events = mpsc::Receiver<HostEvent>;

/// Which digests the host asks for in its ICReqs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Digests {
    /// None.
    #[default]
    None,
    /// Header digests only.
    Header,
    /// Data digests only.
    Data,
    /// Both.
    Both,
}

impl From<Digests> for nvme_fabric::host::Digests {
    fn from(d: Digests) -> Self {
        let (header, data) = match d {
            Digests::None => (false, false),
            Digests::Header => (true, false),
            Digests::Data => (false, true),
            Digests::Both => (true, true),
        };
        nvme_fabric::host::Digests { header, data }
    }
}

/// A host's configuration: nvme-fabric's, and what the runtime adds. In-band authentication is
/// `fabric.auth` ([`nvme_fabric::host::HostAuthConfig`]); its seed is replaced with 32 bytes from the operating
/// system ([`crate::entropy`]) whenever a host starts.
#[derive(Clone, Debug)]
pub struct HostConfig {
    /// nvme-fabric's host configuration: NQNs and host identifier, KATO, digests, queues and depths, the bring-up,
    /// I/O, admin and shutdown timeouts, reconnect delay and `ctrl_loss_tmo`, transfer sizes, retries, and the
    /// recovery engine's configuration (the policy). Its `connect_timeout` also bounds each TCP connect.
    pub fabric: FabricConfig,
    /// Record every byte sent and received into this capture.
    pub capture: Option<Capture>,
}

impl HostConfig {
    /// nvme-fabric's defaults (KATO 5 s, no digests, 2 I/O queues of depth 32, bring-up timeout 10 s, I/O timeout
    /// 30 s, reconnect after 10 s within 600 s, ...) with the `ccr` policy, a host NQN and host identifier derived
    /// from `hostname`, no capture.
    pub fn new(subnqn: &str, hostname: &str) -> Self {
        let mut hostid = [0u8; 16];
        for (i, b) in hostname.bytes().enumerate() {
            hostid[i % 16] ^= b.wrapping_add(i as u8);
        }
        let hostnqn = format!("nqn.2014-08.org.nvmexpress:uuid:nvme-tokio-{hostname}");
        HostConfig { fabric: FabricConfig::new(subnqn, &hostnqn, hostid, Config::new(Policy::Ccr)), capture: None }
    }
}

/// What went wrong on the host side. Small and `Copy`: each variant names the cause.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostError {
    /// nvme-fabric refused the configuration.
    Config(HostConfigError),
    /// The TCP connection to path `path`'s address could not be opened.
    Socket {
        /// The path.
        path: usize,
        /// The socket error (`TimedOut` when the connect took longer than the bring-up timeout).
        kind: io::ErrorKind,
    },
    /// Path `path` failed while connecting: why (a connection's [`CloseCause`]
    /// with the FES/FEI of a termination request, a timeout, a bring-up status, a refused controller).
    Path {
        /// The path.
        path: usize,
        /// Why.
        failure: PathFailure,
    },
    /// The command failed: the controller's status (after the retries it allowed), Host Pathing Error when no path
    /// was left (a failed controller that does not reconnect), the failure of an admin command's path, or an I/O
    /// that does not fit the namespace.
    Io(IoError),
    /// The host refused the command: too many outstanding, no such live path, or the admin queue is full.
    Submit(SubmitError),
    /// The host was closed.
    Closed,
    /// The operating system's randomness could not be read (the seed of the authentication nonces).
    Entropy(io::ErrorKind),
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::Config(e) => write!(f, "configuration refused: {e}"),
            HostError::Socket { path, kind } => write!(f, "path {path}: cannot connect: {kind}"),
            HostError::Path { path, failure } => write!(f, "path {path} failed: {failure}"),
            HostError::Io(e) => write!(f, "command failed: {e}"),
            HostError::Submit(e) => write!(f, "command refused: {e}"),
            HostError::Closed => f.write_str("the host is closed"),
            HostError::Entropy(kind) => write!(f, "cannot read /dev/urandom: {kind}"),
        }
    }
}

impl std::error::Error for HostError {}

/// Owns a runtime for the handles: the last one dropped stops it.
struct Owner(Arc<Runtime>);

impl Drop for Owner {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// A multipath host over the controllers of one subsystem, one path per address, recovering with the configured
/// policy. Cheap to clone; dropping the last clone stops it at once (sockets closed); [`close`](Multipath::close)
/// disconnects in order.
#[derive(Clone)]
pub struct Multipath {
    own: Arc<Owner>,
    ns: NsInfo,
}

impl fmt::Debug for Multipath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Multipath").field("paths", &self.own.0.addrs()).field("ns", &self.ns).finish()
    }
}

impl Multipath {
    /// Connects one path per address (path `i` is `addrs[i]`, all at once) and waits until every path is live. A
    /// path that fails to come up ends the connect with its error (the others are disconnected).
    pub async fn connect(addrs: &[SocketAddr], cfg: &HostConfig) -> Result<(Multipath, Events), HostError> {
        let (rt, events) = Runtime::start(addrs, cfg, cfg.fabric.clone())?;
        let own = Arc::new(Owner(rt));
        let rt = &own.0;
        if let Err(e) = rt.wait_live().await {
            rt.close().await;
            return Err(e);
        }
        let ns = rt.namespace().ok_or(HostError::Closed)?;
        Ok((Multipath { own, ns }, events))
    }

    /// The namespace (the first active one of the first live controller).
    pub fn namespace(&self) -> NsInfo {
        self.ns
    }

    /// Reads `len` bytes (whole blocks) from block `slba`.
    pub async fn read(&self, slba: u64, len: usize) -> Result<Vec<u8>, HostError> {
        self.own.0.read(slba, len).await
    }

    /// Writes `data` (whole blocks) at block `slba`.
    pub async fn write(&self, slba: u64, data: &[u8]) -> Result<(), HostError> {
        self.own.0.write(slba, data).await
    }

    /// Reads `out.len()` bytes (whole blocks) from block `slba` into `out` (through buffers the host keeps and
    /// lends again: no allocation per read once warm).
    pub async fn read_into(&self, slba: u64, out: &mut [u8]) -> Result<(), HostError> {
        self.own.0.read_into(slba, out).await
    }

    /// Reads `buf.len()` bytes (whole blocks, one command: at most the transfer limit) from block `slba` into `buf`
    /// itself, and gives it back. Lending the same buffers again reads with no allocation and no copy per read.
    pub async fn read_buf(&self, slba: u64, buf: Vec<u8>) -> Result<Vec<u8>, HostError> {
        self.own.0.read_buf(slba, buf).await
    }

    /// Writes `data` (whole blocks, one command: at most the transfer limit) at block `slba` from the caller's
    /// shared buffer, without copying it.
    pub async fn write_shared(&self, slba: u64, data: Arc<[u8]>) -> Result<(), HostError> {
        self.own.0.write_shared(slba, data).await
    }

    /// The largest transfer of one command valid on every live path, bytes (the configured one when none is live).
    pub fn max_transfer(&self) -> usize {
        self.own.0.max_transfer()
    }

    /// Flushes the namespace.
    pub async fn flush(&self) -> Result<(), HostError> {
        self.own.0.run(nvme_fabric::host::Io::Flush).await.map(drop)
    }

    /// Sends an admin command to path `path`'s controller as it is (CID and data pointer filled in) and waits for
    /// its completion, whatever its status. Not held by recovery: it fails with its path.
    pub async fn admin(&self, path: usize, sqe: Sqe, data: DataOut) -> Result<IoDone, HostError> {
        self.own.0.admin(path, sqe, data).await
    }

    /// Where path `path` is.
    pub fn path_phase(&self, path: usize) -> Option<PathPhase> {
        self.own.0.phase(path)
    }

    /// The facts of path `path`'s last live controller.
    pub fn path_facts(&self, path: usize) -> Option<ControllerFacts> {
        self.own.0.view(path).facts
    }

    /// Disconnects every path in order; commands still waiting fail with Host Pathing Error. Returns once the
    /// paths are down (bounded by the shutdown timeout).
    pub async fn close(&self) {
        self.own.0.close().await;
    }
}

/// One controller: a single path, policy `legacy`. Cheap to clone; dropping the last clone stops it at once
/// (sockets closed); [`close`](Controller::close) disconnects in order.
#[derive(Clone)]
pub struct Controller {
    own: Arc<Owner>,
    addr: SocketAddr,
    facts: ControllerFacts,
    ns: NsInfo,
}

impl fmt::Debug for Controller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Controller").field("addr", &self.addr).field("cntlid", &self.facts.cntlid).finish()
    }
}

impl Controller {
    /// Connects to the controller at `addr` and brings it up. It never reconnects: once the controller fails, its
    /// commands fail with Host Pathing Error and [`is_failed`](Self::is_failed) stays true (connect again for a
    /// new association).
    pub async fn connect(addr: SocketAddr, cfg: &HostConfig) -> Result<(Controller, Events), HostError> {
        Self::open(addr, cfg, false).await
    }

    /// As [`connect`](Self::connect), but a failed controller is reconnected after `cfg.fabric.reconnect_delay`
    /// (within `ctrl_loss_tmo`): commands waiting meanwhile run on the new controller.
    pub async fn connect_reconnecting(addr: SocketAddr, cfg: &HostConfig) -> Result<(Controller, Events), HostError> {
        Self::open(addr, cfg, true).await
    }

    async fn open(addr: SocketAddr, cfg: &HostConfig, reconnect: bool) -> Result<(Controller, Events), HostError> {
        let mut fabric = cfg.fabric.clone();
        fabric.engine.policy = Policy::Legacy;
        if !reconnect {
            fabric.ctrl_loss_tmo = Some(Duration::ZERO);
        }
        let (rt, events) = Runtime::start(&[addr], cfg, fabric)?;
        let own = Arc::new(Owner(rt));
        let rt = &own.0;
        if let Err(e) = rt.wait_live().await {
            rt.close().await;
            return Err(e);
        }
        let (Some(facts), Some(ns)) = (rt.view(0).facts, rt.namespace()) else { return Err(HostError::Closed) };
        Ok((Controller { own, addr, facts, ns }, events))
    }

    /// The address connected to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// CNTLID of the current controller (the last live one).
    pub fn cntlid(&self) -> u16 {
        self.facts().cntlid
    }

    /// What nvme-ccr knows of the current controller (the last live one): CNTLID, CIU, CIRN, CQT, CCRL, KATO,
    /// TBKAS.
    pub fn facts(&self) -> ControllerFacts {
        self.own.0.view(0).facts.unwrap_or(self.facts)
    }

    /// The namespace.
    pub fn namespace(&self) -> NsInfo {
        self.ns
    }

    /// The I/O queues in use (0 while not live).
    pub fn io_queue_count(&self) -> usize {
        self.own.0.limits(0).map_or(0, |l| l.io_queues)
    }

    /// The largest transfer of one command, bytes (while live).
    pub fn max_transfer(&self) -> Option<usize> {
        self.own.0.limits(0).map(|l| l.max_transfer)
    }

    /// Whether the controller is not live (failed, reconnecting, or closed).
    pub fn is_failed(&self) -> bool {
        self.own.0.phase(0) != Some(PathPhase::Live)
    }

    /// Reads the current controller's Identify Controller data (4096 bytes; parse with
    /// [`IdentifyController::parse`](nvme_proto::cmd::IdentifyController::parse)).
    pub async fn identify(&self) -> Result<Vec<u8>, HostError> {
        let done = self.admin(Identify::controller().to_sqe(0), DataOut::Read(IDENTIFY_DATA_LEN)).await?;
        if !done.cqe.status.is_success() {
            return Err(HostError::Io(IoError::Status(done.cqe.status)));
        }
        Ok(done.data)
    }

    /// Sends an admin command as it is (CID and data pointer filled in) and waits for its completion, whatever its
    /// status.
    pub async fn admin(&self, sqe: Sqe, data: DataOut) -> Result<IoDone, HostError> {
        self.own.0.admin(0, sqe, data).await
    }

    /// Reads `len` bytes (whole blocks) from block `slba`.
    pub async fn read(&self, slba: u64, len: usize) -> Result<Vec<u8>, HostError> {
        self.own.0.read(slba, len).await
    }

    /// Writes `data` (whole blocks) at block `slba`.
    pub async fn write(&self, slba: u64, data: &[u8]) -> Result<(), HostError> {
        self.own.0.write(slba, data).await
    }

    /// Reads `out.len()` bytes (whole blocks) from block `slba` into `out` (see [`Multipath::read_into`]).
    pub async fn read_into(&self, slba: u64, out: &mut [u8]) -> Result<(), HostError> {
        self.own.0.read_into(slba, out).await
    }

    /// Flushes the namespace.
    pub async fn flush(&self) -> Result<(), HostError> {
        self.own.0.run(nvme_fabric::host::Io::Flush).await.map(drop)
    }

    /// Disconnects in order (CC.SHN) and returns once done (bounded by the shutdown timeout).
    pub async fn close(&self) {
        self.own.0.close().await;
    }
}
