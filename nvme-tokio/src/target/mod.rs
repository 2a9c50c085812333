//! A test NVMe/TCP target: nvme-fabric's [`Subsystem`](nvme_fabric::controller::Subsystem) on a TCP listener, with
//! its namespace in memory or in a file.
//!
//! Every protocol decision is the subsystem's: the IC exchange and framing, the Connect rules, admin and I/O
//! dispatch, keep-alive expiry, Cross-Controller Reset (through [`nvme_ccr::target`]), the bounds of each
//! connection, and the fault switches of [`nvme_ccr::notes::ccr_cqt`] §11 (`fopcode`, `fail-ccr`, `no-ccr`). This
//! module is the runtime around it: the listener and its connection cap, a reader and a writer task per socket, one
//! timer task, the media (a [`Namespace`]), the pcap capture, the run-time control line ([`Target::apply_line`]) and
//! the log (`tracing` events: controllers, faults, CCR, media operations; the levels are in the `log` module's
//! source). One target can listen on several addresses ([`TargetConfig::more_listen`]): every connection, whichever
//! listener took it, reaches the one subsystem.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use nvme_tokio::target::{Target, TargetConfig};
//! let target = Target::start(TargetConfig::new("127.0.0.1:0".parse().unwrap(), "nqn.2026-01.io.example:t")).await?;
//! println!("listening on {}", target.local_addr());
//! target.apply_line("fopcode 1 2000").unwrap(); // delay the next Write by 2 s and fail its controller
//! # Ok(()) }
//! ```

mod log;
mod namespace;
mod runtime;

pub use namespace::Namespace;

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use nvme_fabric::controller::{Fault, FaultAction, FaultTarget, NamespaceConfig, SubsystemConfig};
use nvme_proto::cmd::{Ccrl, Cqt};
use tokio::task::AbortHandle;

use crate::capture::Capture;
use runtime::Shared;

/// Identify MN of this target.
pub const MODEL: &str = "nvme-tokio test target";

/// `fopcode <opcode> <delay_ms> [cntlid]` ([`nvme_ccr::notes::ccr_cqt`] §11): fires once, on the first I/O command
/// with this opcode that a controller accepts after arming; the command executes `delay` later and the controller
/// fails at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fopcode {
    /// The I/O opcode (1 = Write).
    pub opcode: u8,
    /// How long the command's execution is deferred.
    pub delay: Duration,
    /// The controller to arm; `None`: the first live controller now, or else the next one that connects.
    pub cntlid: Option<u16>,
}

/// Target configuration. [`TargetConfig::subsystem`] turns it into the subsystem's configuration; every limit not
/// named here is nvme-fabric's default ([`SubsystemConfig::new`]).
#[derive(Clone, Debug)]
pub struct TargetConfig {
    /// Address to listen on (bind 127.0.0.1 in tests).
    pub listen: SocketAddr,
    /// More addresses to listen on, served by the same subsystem (several paths to one subsystem, as nvmet's ports;
    /// default none).
    pub more_listen: Vec<SocketAddr>,
    /// The subsystem NQN.
    pub nqn: String,
    /// Identify CQT in milliseconds (0 = not reported).
    pub cqt_ms: u16,
    /// Identify CCRL (0 = not reported; nvmet reports 4).
    pub ccrl: u8,
    /// Namespace block size.
    pub block_size: u32,
    /// Namespace size in blocks.
    pub blocks: u64,
    /// Back the namespace with this file instead of memory.
    pub file: Option<PathBuf>,
    /// A fault armed from the start.
    pub fopcode: Option<Fopcode>,
    /// Start with `fail-ccr` on.
    pub fail_ccr: bool,
    /// Start with `no-ccr` on (CCR answered with Invalid Command Opcode).
    pub no_ccr: bool,
    /// Write every PDU sent and received into this capture.
    pub capture: Option<Capture>,
    /// Connections served at once; the listener closes any connection beyond (default 1024).
    pub max_connections: usize,
    /// Time a new connection has to send its ICReq before it is closed (default 10 s).
    pub ic_timeout: Duration,
    /// Time from the ICResp to a successful Connect before the connection is closed (default 10 s).
    pub connect_timeout: Duration,
    /// Unsent output per connection (bytes) past which its input is no longer read (default 4 MiB; at least the
    /// largest transfer, 1 MiB).
    pub output_limit: usize,
}

impl TargetConfig {
    /// Defaults: CQT not reported, CCRL 4, 512-byte blocks, 64 MiB in memory, no faults, no capture, and the
    /// limits of [`SubsystemConfig::new`].
    pub fn new(listen: SocketAddr, nqn: &str) -> Self {
        let d = SubsystemConfig::new(nqn);
        TargetConfig {
            listen,
            more_listen: Vec::new(),
            nqn: nqn.to_string(),
            cqt_ms: 0,
            ccrl: 4,
            block_size: 512,
            blocks: 128 * 1024,
            file: None,
            fopcode: None,
            fail_ccr: false,
            no_ccr: false,
            capture: None,
            max_connections: d.max_connections,
            ic_timeout: d.ic_timeout,
            connect_timeout: d.connect_timeout,
            output_limit: d.output_limit,
        }
    }

    /// The configuration of the [`Subsystem`](nvme_fabric::controller::Subsystem) this target runs.
    pub fn subsystem(&self) -> SubsystemConfig {
        let mut s = SubsystemConfig::new(&self.nqn);
        s.model = MODEL.to_string();
        s.firmware = env!("CARGO_PKG_VERSION").to_string();
        s.namespace = NamespaceConfig { block_size: self.block_size, blocks: self.blocks };
        s.cqt = Cqt::from_raw(self.cqt_ms);
        s.ccrl = Ccrl::from_raw(self.ccrl);
        s.fail_ccr = self.fail_ccr;
        s.no_ccr = self.no_ccr;
        s.max_connections = self.max_connections;
        s.ic_timeout = self.ic_timeout;
        s.connect_timeout = self.connect_timeout;
        s.output_limit = self.output_limit;
        s
    }
}

/// One connection as the runtime sees it ([`Target::connections`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnInfo {
    /// The peer's address.
    pub peer: SocketAddr,
    /// The controller it belongs to, once its Connect succeeded.
    pub cntlid: Option<u16>,
    /// Bytes the subsystem has taken from this socket.
    pub received: u64,
    /// Bytes written to this socket.
    pub sent: u64,
}

/// A running target. Cheap to clone; every clone controls the same target.
#[derive(Clone)]
pub struct Target {
    shared: Arc<Shared>,
    /// The bound addresses: `listen` first, then `more_listen` in order.
    local: Arc<Vec<SocketAddr>>,
    tasks: Arc<Vec<AbortHandle>>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target").field("local", &self.local).finish()
    }
}

impl Target {
    /// Binds `cfg.listen` and every `cfg.more_listen` address and starts serving (an accept loop per listener and
    /// the timer run as tokio tasks). The subsystem's CIU/CIRN seed comes from the clock.
    pub async fn start(cfg: TargetConfig) -> io::Result<Target> {
        let ns = match &cfg.file {
            Some(path) => Namespace::file(path, cfg.block_size, cfg.blocks)?,
            None => Namespace::memory(cfg.block_size, cfg.blocks)?,
        };
        let seed =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64);
        let shared = Shared::new(cfg.subsystem(), seed, ns, cfg.capture.clone())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        // Every address is bound before anything is served: a target starts whole or not at all.
        let mut listeners = Vec::with_capacity(1 + cfg.more_listen.len());
        let mut local = Vec::with_capacity(listeners.capacity());
        for addr in std::iter::once(&cfg.listen).chain(&cfg.more_listen) {
            let l = tokio::net::TcpListener::bind(addr).await?;
            local.push(l.local_addr()?);
            listeners.push(l);
        }
        let shared = Arc::new(shared);
        let mut tasks: Vec<AbortHandle> = listeners
            .into_iter()
            .map(|l| tokio::spawn(runtime::accept_loop(shared.clone(), l)).abort_handle())
            .collect();
        tasks.push(tokio::spawn(runtime::timer_loop(shared.clone())).abort_handle());
        tracing::info!(listen = ?local, nqn = %cfg.nqn, cqt_ms = cfg.cqt_ms, ccrl = cfg.ccrl, "target started");
        let target = Target { shared, local: Arc::new(local), tasks: Arc::new(tasks) };
        if let Some(f) = cfg.fopcode {
            target.set_fopcode(Some(f)).map_err(io::Error::other)?;
        }
        Ok(target)
    }

    /// The address the target listens on (the first, `listen`, when there are several).
    pub fn local_addr(&self) -> SocketAddr {
        self.local[0]
    }

    /// Every address the target listens on: `listen`, then `more_listen` in order.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local
    }

    /// Arms (or with `None` disarms) the `fopcode` fault, replacing any fault not fired yet. Returns a description
    /// of what was armed.
    pub fn set_fopcode(&self, f: Option<Fopcode>) -> Result<String, String> {
        self.shared.with(|sub, _| {
            sub.disarm_faults();
            let Some(f) = f else { return Ok("fopcode off".into()) };
            let target = f.cntlid.map_or(FaultTarget::FirstLive, FaultTarget::Controller);
            let fault = Fault { opcode: f.opcode, delay: f.delay, action: FaultAction::Fatal };
            let (opc, ms) = (f.opcode, f.delay.as_millis());
            match sub.arm_fault(target, fault) {
                Ok(Some(id)) => Ok(format!("fopcode {opc:#04x} {ms} ms armed on controller {id}")),
                Ok(None) => Ok(format!("fopcode {opc:#04x} {ms} ms armed on the next controller")),
                Err(e) => Err(e.to_string()),
            }
        })
    }

    /// Turns the `fail-ccr` switch on or off (accepted CCRs end with CCRS = Failed).
    pub fn set_fail_ccr(&self, on: bool) {
        self.shared.with(|sub, _| sub.set_fail_ccr(on));
    }

    /// Turns the `no-ccr` switch on or off (CCR answered with Invalid Command Opcode + DNR).
    pub fn set_no_ccr(&self, on: bool) {
        self.shared.with(|sub, _| sub.set_no_ccr(on));
    }

    /// CNTLIDs of the live controllers, ascending.
    pub fn live_controllers(&self) -> Vec<u16> {
        self.shared.with(|sub, _| sub.controllers().filter(|&(_, live)| live).map(|(id, _)| id).collect())
    }

    /// Number of controllers (live or still tearing down).
    pub fn controller_count(&self) -> usize {
        self.shared.with(|sub, _| sub.controllers().count())
    }

    /// The open connections, in the order they were accepted.
    pub fn connections(&self) -> Vec<ConnInfo> {
        self.shared.connections()
    }

    /// Reads `len` bytes of the namespace from block `slba` (for tests and checks).
    pub fn read_blocks(&self, slba: u64, len: usize) -> io::Result<Vec<u8>> {
        let mut v = vec![0; len];
        self.shared.ns.read(slba, &mut v)?;
        Ok(v)
    }

    /// Applies one line of the run-time control protocol:
    /// `fopcode OPCODE DELAY_MS [CNTLID]`, `fopcode off`, `fail-ccr on|off`, `no-ccr on|off`, `status`.
    /// Opcodes are decimal or `0x` hex. Returns the answer to print. Every line that changes something is logged
    /// (`info`), with its answer.
    pub fn apply_line(&self, line: &str) -> Result<String, String> {
        let answer = self.apply_words(line);
        if !line.trim().is_empty() && line.trim() != "status" {
            match &answer {
                Ok(a) => tracing::info!(line = line.trim(), answer = %a, "control line applied"),
                Err(e) => tracing::info!(line = line.trim(), error = %e, "control line refused"),
            }
        }
        answer
    }

    fn apply_words(&self, line: &str) -> Result<String, String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [] => Ok(String::new()),
            ["fopcode", "off"] => self.set_fopcode(None),
            ["fopcode", rest @ ..] => self.set_fopcode(Some(parse_fopcode_words(rest)?)),
            ["fail-ccr", v] => {
                let on = parse_on_off(v)?;
                self.set_fail_ccr(on);
                Ok(format!("fail-ccr {}", on_off(on)))
            }
            ["no-ccr", v] => {
                let on = parse_on_off(v)?;
                self.set_no_ccr(on);
                Ok(format!("no-ccr {}", on_off(on)))
            }
            ["status"] => Ok(self.shared.with(|sub, conns| {
                let ctrls: Vec<String> = sub
                    .controllers()
                    .map(|(id, live)| format!("{id}:{}", if live { "live" } else { "failing" }))
                    .collect();
                let (fail, no) = sub.ccr_switches();
                format!(
                    "controllers [{}] fail-ccr {} no-ccr {} connections {}",
                    ctrls.join(" "),
                    on_off(fail),
                    on_off(no),
                    conns
                )
            })),
            _ => Err(format!(
                "unknown command {line:?}: try fopcode OPC DELAY_MS [CNTLID] | fopcode off | fail-ccr on|off | no-ccr on|off | status"
            )),
        }
    }

    /// Stops accepting, fails every controller and closes every connection.
    pub fn shutdown(&self) {
        for t in self.tasks.iter() {
            t.abort();
        }
        self.shared.shutdown();
    }
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

/// Parses `OPCODE DELAY_MS [CNTLID]` (the words after `fopcode`, or the comma-separated CLI form split).
pub fn parse_fopcode_words(words: &[&str]) -> Result<Fopcode, String> {
    let num = |s: &str| -> Result<u64, String> {
        let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
            Some(h) => u64::from_str_radix(h, 16),
            None => s.parse(),
        };
        r.map_err(|_| format!("not a number: {s:?}"))
    };
    match words {
        [opc, delay] | [opc, delay, _] => {
            let opcode = u8::try_from(num(opc)?).map_err(|_| format!("opcode out of range: {opc}"))?;
            let delay = Duration::from_millis(num(delay)?);
            let cntlid = match words.get(2) {
                Some(c) => Some(u16::try_from(num(c)?).map_err(|_| format!("CNTLID out of range: {c}"))?),
                None => None,
            };
            Ok(Fopcode { opcode, delay, cntlid })
        }
        _ => Err("expected OPCODE DELAY_MS [CNTLID]".into()),
    }
}

fn parse_on_off(v: &str) -> Result<bool, String> {
    match v {
        "on" | "1" | "true" => Ok(true),
        "off" | "0" | "false" => Ok(false),
        _ => Err(format!("expected on or off, got {v:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fopcode_words_parse_decimal_and_hex() {
        assert_eq!(
            parse_fopcode_words(&["1", "2000"]).unwrap(),
            Fopcode { opcode: 1, delay: Duration::from_millis(2000), cntlid: None }
        );
        assert_eq!(
            parse_fopcode_words(&["0x02", "5", "3"]).unwrap(),
            Fopcode { opcode: 2, delay: Duration::from_millis(5), cntlid: Some(3) }
        );
        assert!(parse_fopcode_words(&["256", "1"]).is_err());
        assert!(parse_fopcode_words(&["1"]).is_err());
        assert!(parse_fopcode_words(&["x", "1"]).is_err());
        assert_eq!(parse_on_off("on"), Ok(true));
        assert!(parse_on_off("maybe").is_err());
    }

    #[test]
    fn the_subsystem_configuration_carries_every_setting() {
        let mut cfg = TargetConfig::new("127.0.0.1:0".parse().unwrap(), "nqn.2026-01.org.example:cfg");
        cfg.cqt_ms = 7;
        cfg.ccrl = 2;
        cfg.block_size = 4096;
        cfg.blocks = 100;
        cfg.no_ccr = true;
        cfg.max_connections = 3;
        cfg.ic_timeout = Duration::from_millis(250);
        let s = cfg.subsystem();
        assert_eq!(s.nqn, cfg.nqn);
        assert_eq!((s.cqt, s.ccrl), (Cqt::from_raw(7), Ccrl::from_raw(2)));
        assert_eq!(s.namespace, NamespaceConfig { block_size: 4096, blocks: 100 });
        assert_eq!((s.no_ccr, s.fail_ccr, s.max_connections), (true, false, 3));
        assert_eq!((s.ic_timeout, s.connect_timeout), (Duration::from_millis(250), Duration::from_secs(10)));
        assert_eq!(s.model, MODEL);
    }
}
