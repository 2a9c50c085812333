//! A test NVMe/TCP target: one subsystem with one namespace on a TCP listener, controllers created by Connect
//! (dynamic model), Cross-Controller Reset executed by [`nvme_ccr::target`], keep-alive timeout handling, and the
//! fault switches of ccr-cqt.md §11 (`fopcode`, `fail-ccr`, `no-ccr`), settable at start and at run time.
//!
//! Every PDU is decoded and encoded by nvme-proto; every CCR decision (matching CIU/CIRN, CCRL, the log page with
//! RMC, the notice) is nvme-ccr's. What this module adds is the glue: sockets, the controller table, the
//! in-memory or file namespace, and the timing of faults and teardown. Choices are in `spec-notes/drivers.md`.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use nvme_tokio::target::{Target, TargetConfig};
//! let target = Target::start(TargetConfig::new("127.0.0.1:0".parse().unwrap(), "nqn.2026-01.io.example:t")).await?;
//! println!("listening on {}", target.local_addr());
//! target.apply_line("fopcode 1 2000").unwrap(); // delay the next Write by 2 s and fail its controller
//! # Ok(()) }
//! ```

mod namespace;

pub use namespace::Namespace;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nvme_ccr::target::{HostId, Target as CcrTarget, TargetConfig as CcrConfig};
use nvme_proto::cmd::{
    AEC_CCRCN, AdminCommand, Cap, Cc, Ccrl, CmdError, Cns, Connect, ConnectData, ConnectInvalidParameters,
    ConnectResponse, Cqe, Cqt, Csts, FabricsCommand, Feature, FeatureId, GetLogPage, IDENTIFY_DATA_LEN, Identify,
    IdentifyController, IdentifyNamespace, IoCommand, LbaFormat, LogId, NamespaceList, NsDescriptorList, NsIdentifier,
    NumberOfQueues, OAES_CCRCN, ParameterLocation, PropertyOffset, PropertySize, ReadWrite, Sqe, Status, StatusCode,
    Vs,
};
use nvme_proto::tcp::{
    C2HData, CapsuleResp, DEFAULT_MAXH2CDATA, Deframer, H2CData, IcReq, InvalidField, Params, Pdu, PduError, R2T, Role,
    SequenceError, TermReq, check_in_window,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

use crate::wire::{self, Capture, RxError, Tx};

/// Commands per queue the target accepts (Identify MAXCMD, CAP.MQES + 1). Our choice.
pub const QUEUE_DEPTH: u16 = 128;
/// I/O queues a controller may have (Set Features Number of Queues answers at most this). Our choice.
pub const MAX_IO_QUEUES: u16 = 16;
/// In-capsule data an I/O command may carry: 8 KiB, so IOCCSZ = (64 + 8192) / 16 = 516. Our choice (Linux nvmet's
/// default is 16 KiB; SPDK's 8 KiB). Admin and Fabrics commands may carry up to 8 KiB too (Linux host
/// `NVME_TCP_ADMIN_CCSZ`).
pub const IN_CAPSULE_DATA: usize = 8192;
/// MDTS (Identify byte 77): 2^8 × 4 KiB (CAP.MPSMIN) = 1 MiB per command. Our choice.
pub const MDTS: u8 = 8;
/// MAXH2CDATA the target announces in ICResp: 128 KiB, so a 1 MiB write arrives in 8 H2CData PDUs. Our choice
/// (Linux nvmet announces 4 MiB).
pub const MAXH2CDATA: u32 = 128 * 1024;
/// How often keep-alive timers are checked.
pub const KEEP_ALIVE_TICK: Duration = Duration::from_millis(100);
/// Asynchronous Event Requests a controller keeps (Identify AERL + 1).
pub const AER_LIMIT: usize = 4;

const _: () = assert!(MAXH2CDATA >= 4096 && MAXH2CDATA <= DEFAULT_MAXH2CDATA);

/// Largest data transfer of one command, bytes (MDTS with a 4 KiB page).
pub const MAX_TRANSFER: usize = 4096 << MDTS;

/// The target's PLEN ceiling: the largest PDU it must accept (an H2CData of MAXH2CDATA, or a capsule with
/// in-capsule data) behind the largest PDO and a data digest.
const MAX_PLEN: u32 = MAXH2CDATA + 256 + 4;

/// `fopcode <opcode> <delay_ms> [cntlid]` (ccr-cqt.md §11): fires once, on the first I/O command with this opcode
/// that a controller accepts after arming; the command executes `delay` later and the controller fails at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fopcode {
    /// The I/O opcode (1 = Write).
    pub opcode: u8,
    /// How long the command's execution is deferred.
    pub delay: Duration,
    /// The controller to arm; `None`: the first live controller now, or else the next one that connects.
    pub cntlid: Option<u16>,
}

/// Target configuration.
#[derive(Clone, Debug)]
pub struct TargetConfig {
    /// Address to listen on (bind 127.0.0.1 in tests).
    pub listen: SocketAddr,
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
}

impl TargetConfig {
    /// Defaults: CQT not reported, CCRL 4, 512-byte blocks, 64 MiB in memory, no faults, no capture.
    pub fn new(listen: SocketAddr, nqn: &str) -> Self {
        TargetConfig {
            listen,
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
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CtrlState {
    Live,
    /// Fatal (fopcode, CCR, keep-alive expiry, lost connection): its connections are closed; it is gone once its
    /// started commands have executed.
    Failing,
}

/// The send side of one queue of a controller.
#[derive(Clone)]
struct QueueLink {
    tx: Tx,
    params: Params,
    sqid: u16,
    conn: u64,
}

struct Ctrl {
    hostnqn: String,
    hostid: [u8; 16],
    kato: Duration,
    last_traffic: Instant,
    cc: u32,
    csts: u32,
    aec: u32,
    io_queues: u16,
    admin: Option<QueueLink>,
    io: Vec<QueueLink>,
    aers: VecDeque<u16>,
    pending_aens: VecDeque<u32>,
    state: CtrlState,
    /// Accepted commands whose execution was deferred (fopcode) and has not happened yet.
    stuck: usize,
    fopcode: Option<(u8, Duration)>,
}

struct Subsys {
    nqn: String,
    sn: String,
    cqt: Cqt,
    ccrl: Ccrl,
    nsid_ids: ([u8; 16], [u8; 8]),
    ccr: CcrTarget,
    ctrls: BTreeMap<u16, Ctrl>,
    next_cntlid: u16,
    /// fopcode waiting for the next controller that connects.
    fopcode_pending: Option<(u8, Duration)>,
    rng: u64,
    ccr_reqs: HashMap<u64, u16>,
    next_req: u64,
    conn_tasks: HashMap<u64, AbortHandle>,
}

struct Shared {
    state: Mutex<Subsys>,
    ns: Namespace,
    capture: Option<Capture>,
    next_conn: AtomicU64,
    stopped: AtomicBool,
}

/// A running target. Cheap to clone; every clone controls the same target.
#[derive(Clone)]
pub struct Target {
    shared: Arc<Shared>,
    local: SocketAddr,
    tasks: Arc<Vec<AbortHandle>>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target").field("local", &self.local).finish()
    }
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn status(code: StatusCode) -> Status {
    Status::new(code)
}

fn dnr(code: StatusCode) -> Status {
    Status::new(code).with_dnr(true)
}

impl Target {
    /// Binds `cfg.listen` and starts serving (the accept loop and the keep-alive checker run as tokio tasks).
    pub async fn start(cfg: TargetConfig) -> io::Result<Target> {
        let ns = match &cfg.file {
            Some(path) => Namespace::file(path, cfg.block_size, cfg.blocks)?,
            None => Namespace::memory(cfg.block_size, cfg.blocks)?,
        };
        let listener = TcpListener::bind(cfg.listen).await?;
        let local = listener.local_addr()?;
        let ccr_cfg = CcrConfig {
            ccrl: Ccrl::from_raw(cfg.ccrl),
            ccr_fail: cfg.fail_ccr,
            ccr_unsupported: cfg.no_ccr,
            ..CcrConfig::default()
        };
        let h = fnv(cfg.nqn.as_bytes());
        let mut nguid = [0u8; 16];
        nguid[..8].copy_from_slice(&h.to_be_bytes());
        nguid[8..].copy_from_slice(&fnv(&h.to_le_bytes()).to_be_bytes());
        let mut eui = (h ^ 0x5a5a).to_be_bytes();
        eui[0] = 0x02; // a locally administered EUI-64
        let seed =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64);
        let fopcode_pending = cfg.fopcode.filter(|f| f.cntlid.is_none()).map(|f| (f.opcode, f.delay));
        let subsys = Subsys {
            nqn: cfg.nqn.clone(),
            sn: format!("{:016x}", h),
            cqt: Cqt::from_raw(cfg.cqt_ms),
            ccrl: Ccrl::from_raw(cfg.ccrl),
            nsid_ids: (nguid, eui),
            ccr: CcrTarget::new(ccr_cfg),
            ctrls: BTreeMap::new(),
            next_cntlid: 1,
            fopcode_pending,
            rng: seed ^ h,
            ccr_reqs: HashMap::new(),
            next_req: 0,
            conn_tasks: HashMap::new(),
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(subsys),
            ns,
            capture: cfg.capture.clone(),
            next_conn: AtomicU64::new(0),
            stopped: AtomicBool::new(false),
        });
        let accept = tokio::spawn(accept_loop(shared.clone(), listener)).abort_handle();
        let ka = tokio::spawn(keep_alive_loop(shared.clone())).abort_handle();
        let target = Target { shared, local, tasks: Arc::new(vec![accept, ka]) };
        if let Some(f) = cfg.fopcode.filter(|f| f.cntlid.is_some()) {
            target.set_fopcode(Some(f)).map_err(io::Error::other)?;
        }
        Ok(target)
    }

    /// The address the target listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    fn lock(&self) -> MutexGuard<'_, Subsys> {
        self.shared.lock()
    }

    /// Arms (or with `None` disarms) the `fopcode` fault. Returns a description of what was armed.
    pub fn set_fopcode(&self, f: Option<Fopcode>) -> Result<String, String> {
        let mut s = self.lock();
        for c in s.ctrls.values_mut() {
            c.fopcode = None;
        }
        s.fopcode_pending = None;
        let Some(f) = f else { return Ok("fopcode off".into()) };
        let arm = (f.opcode, f.delay);
        let target = match f.cntlid {
            Some(id) => match s.ctrls.get(&id) {
                Some(c) if c.state == CtrlState::Live => Some(id),
                _ => return Err(format!("no live controller {id}")),
            },
            None => s.ctrls.iter().find(|(_, c)| c.state == CtrlState::Live).map(|(&id, _)| id),
        };
        match target {
            Some(id) => {
                if let Some(c) = s.ctrls.get_mut(&id) {
                    c.fopcode = Some(arm);
                }
                Ok(format!("fopcode {:#04x} {} ms armed on controller {id}", f.opcode, f.delay.as_millis()))
            }
            None => {
                s.fopcode_pending = Some(arm);
                Ok(format!("fopcode {:#04x} {} ms armed on the next controller", f.opcode, f.delay.as_millis()))
            }
        }
    }

    /// Turns the `fail-ccr` switch on or off (accepted CCRs end with CCRS = Failed).
    pub fn set_fail_ccr(&self, on: bool) {
        self.lock().ccr.config_mut().ccr_fail = on;
    }

    /// Turns the `no-ccr` switch on or off (CCR answered with Invalid Command Opcode + DNR).
    pub fn set_no_ccr(&self, on: bool) {
        self.lock().ccr.config_mut().ccr_unsupported = on;
    }

    /// CNTLIDs of the live controllers, ascending.
    pub fn live_controllers(&self) -> Vec<u16> {
        self.lock().ctrls.iter().filter(|(_, c)| c.state == CtrlState::Live).map(|(&id, _)| id).collect()
    }

    /// Number of controllers (live or still tearing down).
    pub fn controller_count(&self) -> usize {
        self.lock().ctrls.len()
    }

    /// Reads `len` bytes of the namespace from block `slba` (for tests and checks).
    pub fn read_blocks(&self, slba: u64, len: usize) -> io::Result<Vec<u8>> {
        let mut v = vec![0; len];
        self.shared.ns.read(slba, &mut v)?;
        Ok(v)
    }

    /// Applies one line of the run-time control protocol (documented in `spec-notes/drivers.md`):
    /// `fopcode OPCODE DELAY_MS [CNTLID]`, `fopcode off`, `fail-ccr on|off`, `no-ccr on|off`, `status`.
    /// Opcodes are decimal or `0x` hex. Returns the answer to print.
    pub fn apply_line(&self, line: &str) -> Result<String, String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [] => Ok(String::new()),
            ["fopcode", "off"] => self.set_fopcode(None),
            ["fopcode", rest @ ..] => self.set_fopcode(Some(parse_fopcode_words(rest)?)),
            ["fail-ccr", v] => {
                let on = parse_on_off(v)?;
                self.set_fail_ccr(on);
                Ok(format!("fail-ccr {}", if on { "on" } else { "off" }))
            }
            ["no-ccr", v] => {
                let on = parse_on_off(v)?;
                self.set_no_ccr(on);
                Ok(format!("no-ccr {}", if on { "on" } else { "off" }))
            }
            ["status"] => {
                let s = self.lock();
                let c = s.ccr.config();
                let ctrls: Vec<String> = s
                    .ctrls
                    .iter()
                    .map(|(id, c)| format!("{id}:{}", if c.state == CtrlState::Live { "live" } else { "failing" }))
                    .collect();
                Ok(format!(
                    "controllers [{}] fail-ccr {} no-ccr {}",
                    ctrls.join(" "),
                    if c.ccr_fail { "on" } else { "off" },
                    if c.ccr_unsupported { "on" } else { "off" }
                ))
            }
            _ => Err(format!(
                "unknown command {line:?}: try fopcode OPC DELAY_MS [CNTLID] | fopcode off | fail-ccr on|off | no-ccr on|off | status"
            )),
        }
    }

    /// Stops accepting, closes every connection and fails every controller.
    pub fn shutdown(&self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        for t in self.tasks.iter() {
            t.abort();
        }
        let mut s = self.lock();
        let ids: Vec<u16> = s.ctrls.keys().copied().collect();
        for id in ids {
            s.fail_controller(id);
        }
        for (_, t) in s.conn_tasks.drain() {
            t.abort();
        }
    }
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

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Subsys> {
        // A poisoned lock means a handler panicked; the state is still the best we have.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of descriptors or a similar transient error: back off instead of spinning.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        if shared.stopped.load(Ordering::SeqCst) {
            return;
        }
        let id = shared.next_conn.fetch_add(1, Ordering::Relaxed);
        let task = tokio::spawn(serve_conn(shared.clone(), stream, id));
        let mut s = shared.lock();
        if !task.is_finished() {
            s.conn_tasks.insert(id, task.abort_handle());
        }
    }
}

async fn keep_alive_loop(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(KEEP_ALIVE_TICK);
    loop {
        tick.tick().await;
        let now = Instant::now();
        let mut s = shared.lock();
        let expired: Vec<u16> = s
            .ctrls
            .iter()
            .filter(|(_, c)| c.state == CtrlState::Live && !c.kato.is_zero() && now - c.last_traffic > c.kato)
            .map(|(&id, _)| id)
            .collect();
        for id in expired {
            s.fail_controller(id);
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    AwaitIc,
    AwaitConnect,
    Admin(u16),
    Io(u16, u16),
}

/// A write whose data comes by R2T / H2CData.
struct Xfer {
    cid: u16,
    slba: u64,
    buf: Vec<u8>,
    received: usize,
}

struct Conn {
    id: u64,
    tx: Tx,
    params: Params,
    phase: Phase,
    xfers: HashMap<u16, Xfer>,
    next_ttag: u16,
}

enum Flow {
    Continue,
    SetParams(Params),
    /// Send these bytes (a TermReq), then close.
    Term(Option<Vec<u8>>),
}

async fn serve_conn(shared: Arc<Shared>, stream: TcpStream, id: u64) {
    let deframer = Deframer::new(Role::Controller).with_max_plen(MAX_PLEN);
    let Ok((mut reader, tx)) = wire::split(stream, deframer, shared.capture.as_ref(), false) else { return };
    let mut conn =
        Conn { id, tx, params: Params::default(), phase: Phase::AwaitIc, xfers: HashMap::new(), next_ttag: 0 };
    loop {
        let r = reader.next_with(|pdu, raw| conn.on_pdu(&shared, pdu, raw)).await;
        match r {
            Ok(Flow::Continue) => {}
            Ok(Flow::SetParams(p)) => reader.set_params(p),
            Ok(Flow::Term(term)) => {
                if let Some(t) = term {
                    conn.tx.send_bytes(t);
                }
                break;
            }
            Err(RxError::DataDigest { cccid }) => conn.data_digest_error(&shared, cccid),
            Err(RxError::Fatal { term, .. }) => {
                if let Some(t) = term {
                    conn.tx.send_bytes(t);
                }
                break;
            }
            Err(RxError::Eof { .. } | RxError::Io(_)) => break,
        }
    }
    conn.tx.close();
    let mut s = shared.lock();
    s.conn_tasks.remove(&id);
    match conn.phase {
        // The admin queue is the association: losing it fails the controller.
        Phase::Admin(c) => s.fail_controller(c),
        // An I/O queue may go away on its own (the Linux host deletes its I/O queues before it shuts the controller
        // down through the admin queue): only that queue is gone, and the transfers it had in flight.
        Phase::Io(c, _) => {
            if let Some(ctrl) = s.ctrls.get_mut(&c) {
                ctrl.io.retain(|q| q.conn != id);
            }
        }
        Phase::AwaitIc | Phase::AwaitConnect => {}
    }
}

fn term_bytes(err: PduError, raw: &[u8]) -> Option<Vec<u8>> {
    let t = TermReq::for_error(Role::Controller, &err, raw)?;
    let mut v = vec![0u8; t.buffer_len()];
    let n = t.emit(&mut v).ok()?;
    v.truncate(n);
    Some(v)
}

impl Conn {
    fn on_pdu(&mut self, shared: &Arc<Shared>, pdu: Pdu<'_>, raw: &[u8]) -> Flow {
        match pdu {
            Pdu::IcReq(req) => self.on_ic_req(req),
            Pdu::TermReq(_) => Flow::Term(None),
            Pdu::CapsuleCmd(c) => {
                let sqe = Sqe::from_bytes(&c.sqe);
                self.on_command(shared, &sqe, c.data)
            }
            Pdu::H2CData(d) => self.on_h2c(shared, d, raw),
            // The deframer lets only controller-bound types through; anything else cannot happen.
            _ => Flow::Term(term_bytes(InvalidField::WrongDirection(pdu.pdu_type()).into(), raw)),
        }
    }

    fn on_ic_req(&mut self, req: IcReq) -> Flow {
        let granted = Params {
            header_digest: req.header_digest,
            data_digest: req.data_digest,
            hpda: req.hpda,
            cpda: 0,
            maxr2t: req.maxr2t,
            maxh2cdata: MAXH2CDATA,
        };
        let resp = granted.ic_resp();
        match Params::from_ic(&req, &resp) {
            Ok(p) => {
                self.tx.send(&Pdu::IcResp(resp), &p);
                self.params = p;
                self.phase = Phase::AwaitConnect;
                Flow::SetParams(p)
            }
            Err(e) => Flow::Term(term_bytes(e, &[])),
        }
    }

    fn respond(&self, cid: u16, st: Status, dw0: u32, data: Option<&[u8]>) {
        respond(&self.tx, &self.params, self.sqid(), cid, st, dw0, data);
    }

    fn sqid(&self) -> u16 {
        match self.phase {
            Phase::Io(_, q) => q,
            _ => 0,
        }
    }

    fn on_command(&mut self, shared: &Arc<Shared>, sqe: &Sqe, data: &[u8]) -> Flow {
        let cid = sqe.cid;
        match self.phase {
            Phase::AwaitIc => Flow::Term(None),
            Phase::AwaitConnect => {
                let conn = match FabricsCommand::parse(sqe) {
                    Ok(FabricsCommand::Connect(c)) => c,
                    _ => {
                        self.respond(cid, dnr(StatusCode::COMMAND_SEQUENCE_ERROR), 0, None);
                        return Flow::Continue;
                    }
                };
                let mut s = shared.lock();
                match s.connect(&conn, data, self) {
                    Ok(phase) => {
                        let cntlid = match phase {
                            Phase::Admin(c) | Phase::Io(c, _) => c,
                            _ => 0,
                        };
                        self.phase = phase;
                        self.respond(cid, Status::SUCCESS, ConnectResponse { cntlid, authreq: 0 }.to_dw0(), None);
                    }
                    Err((st, dw0)) => self.respond(cid, st, dw0, None),
                }
                Flow::Continue
            }
            Phase::Admin(cntlid) => {
                let mut s = shared.lock();
                s.touch(cntlid);
                s.admin(shared, cntlid, self, sqe, data);
                Flow::Continue
            }
            Phase::Io(cntlid, _) => {
                let mut s = shared.lock();
                s.touch(cntlid);
                s.io(shared, cntlid, self, sqe, data);
                Flow::Continue
            }
        }
    }

    fn on_h2c(&mut self, shared: &Arc<Shared>, d: H2CData<'_>, raw: &[u8]) -> Flow {
        let Phase::Io(cntlid, _) = self.phase else {
            return Flow::Term(term_bytes(InvalidField::UnknownTtag(d.ttag).into(), raw));
        };
        let Some(x) = self.xfers.get_mut(&d.ttag) else {
            return Flow::Term(term_bytes(InvalidField::UnknownTtag(d.ttag).into(), raw));
        };
        if x.cid != d.cccid {
            return Flow::Term(term_bytes(InvalidField::UnknownCccid(d.cccid).into(), raw));
        }
        if d.datao as usize != x.received {
            let e = PduError::Sequence(SequenceError::DataOffset { expected: x.received as u32, received: d.datao });
            return Flow::Term(term_bytes(e, raw));
        }
        let len = d.data.len() as u32;
        if let Err(e) = check_in_window(d.datao, len, 0, x.buf.len() as u32) {
            return Flow::Term(term_bytes(e, raw));
        }
        let at = x.received;
        x.buf[at..at + d.data.len()].copy_from_slice(d.data);
        x.received += d.data.len();
        let complete = x.received == x.buf.len();
        if d.last != complete {
            return Flow::Term(term_bytes(PduError::Sequence(SequenceError::LastPdu), raw));
        }
        if complete && let Some(x) = self.xfers.remove(&d.ttag) {
            let mut s = shared.lock();
            s.touch(cntlid);
            s.run_io(shared, cntlid, self, x.cid, IoOp::Write { slba: x.slba, data: x.buf });
        }
        Flow::Continue
    }

    /// A data digest error on the PDU of command `cccid`: the command fails with Transient Transport Error and
    /// its transfer is dropped; the connection goes on (nvme-tcp.md §5.4).
    fn data_digest_error(&mut self, shared: &Arc<Shared>, cccid: u16) {
        self.xfers.retain(|_, x| x.cid != cccid);
        if let Phase::Admin(c) | Phase::Io(c, _) = self.phase
            && shared.lock().ctrls.get(&c).is_some_and(|c| c.state == CtrlState::Live)
        {
            self.respond(cccid, status(StatusCode::TRANSIENT_TRANSPORT_ERROR), 0, None);
        }
    }

    fn start_r2t(&mut self, cid: u16, slba: u64, len: usize) {
        let mut ttag = self.next_ttag;
        while self.xfers.contains_key(&ttag) {
            ttag = ttag.wrapping_add(1);
        }
        self.next_ttag = ttag.wrapping_add(1);
        self.xfers.insert(ttag, Xfer { cid, slba, buf: vec![0; len], received: 0 });
        let r2t = R2T { cccid: cid, ttag, r2to: 0, r2tl: len as u32 };
        self.tx.send(&Pdu::R2T(r2t), &self.params);
    }
}

/// Sends the completion of `cid` (after its read data, as one C2HData PDU with LAST_PDU, if any).
fn respond(tx: &Tx, params: &Params, sqid: u16, cid: u16, st: Status, dw0: u32, data: Option<&[u8]>) {
    let mut out = Vec::new();
    let mut put = |pdu: Pdu<'_>| {
        let start = out.len();
        out.resize(start + pdu.buffer_len(params), 0);
        if let Ok(n) = pdu.emit(params, &mut out[start..]) {
            out.truncate(start + n);
        } else {
            out.truncate(start);
        }
    };
    if let Some(d) = data.filter(|d| !d.is_empty()) {
        put(Pdu::C2HData(C2HData { cccid: cid, datao: 0, data: d, last: true, success: false }));
    }
    let cqe = Cqe { dw0, dw1: 0, sqhd: 0, sqid, cid, status: st };
    put(Pdu::CapsuleResp(CapsuleResp { cqe: cqe.to_bytes() }));
    tx.send_bytes(out);
}

/// An I/O operation ready to execute (its data received).
enum IoOp {
    Read { slba: u64, len: usize },
    Write { slba: u64, data: Vec<u8> },
    Flush,
}

impl IoOp {
    fn opcode(&self) -> u8 {
        match self {
            IoOp::Flush => 0x00,
            IoOp::Write { .. } => 0x01,
            IoOp::Read { .. } => 0x02,
        }
    }
}

fn check_sqe_flags(sqe: &Sqe) -> Result<(), Status> {
    if sqe.flags.psdt() != 1 || sqe.flags.fuse() != 0 { Err(dnr(StatusCode::INVALID_FIELD)) } else { Ok(()) }
}

impl Subsys {
    fn random(&mut self) -> u64 {
        splitmix(&mut self.rng)
    }

    fn touch(&mut self, cntlid: u16) {
        if let Some(c) = self.ctrls.get_mut(&cntlid) {
            // Traffic-based keep alive (CTRATT.TBKAS): any command restarts the timer.
            c.last_traffic = Instant::now();
        }
    }

    fn connect(&mut self, cmd: &Connect, data: &[u8], conn: &Conn) -> Result<Phase, (Status, u32)> {
        let invalid = |ipo: u16, location| {
            (dnr(StatusCode::CONNECT_INVALID_PARAMETERS), ConnectInvalidParameters { ipo, location }.to_dw0())
        };
        if cmd.recfmt != 0 {
            return Err((dnr(StatusCode::CONNECT_INCOMPATIBLE_FORMAT), 0));
        }
        let cd = ConnectData::parse(data).map_err(|e| match e {
            CmdError::InvalidString { offset } => invalid(offset as u16, ParameterLocation::ConnectData),
            _ => (dnr(StatusCode::INVALID_FIELD), 0),
        })?;
        if cd.subnqn != self.nqn {
            return Err(invalid(ConnectData::SUBNQN_OFFSET as u16, ParameterLocation::ConnectData));
        }
        if cmd.sqsize == 0 || cmd.sqsize >= QUEUE_DEPTH {
            return Err(invalid(44, ParameterLocation::Sqe));
        }
        let link = QueueLink { tx: conn.tx.clone(), params: conn.params, sqid: cmd.qid, conn: conn.id };
        if cmd.qid == 0 {
            if cd.cntlid != ConnectData::DYNAMIC_CNTLID {
                return Err(invalid(16, ParameterLocation::ConnectData));
            }
            let mut cntlid = self.next_cntlid;
            while self.ctrls.contains_key(&cntlid) || cntlid == 0 || cntlid >= 0xFFF0 {
                cntlid = if cntlid >= 0xFFEF { 1 } else { cntlid + 1 };
            }
            self.next_cntlid = if cntlid >= 0xFFEF { 1 } else { cntlid + 1 };
            let host = HostId(fnv(cd.hostnqn.as_bytes()));
            let rnd = self.random();
            if self.ccr.add_controller(cntlid, host, rnd).is_err() {
                return Err((dnr(StatusCode::CONNECT_CONTROLLER_BUSY), 0));
            }
            let fopcode = self.fopcode_pending.take();
            self.ctrls.insert(
                cntlid,
                Ctrl {
                    hostnqn: cd.hostnqn.to_string(),
                    hostid: cd.hostid,
                    kato: Duration::from_millis(u64::from(cmd.kato_ms)),
                    last_traffic: Instant::now(),
                    cc: 0,
                    csts: 0,
                    aec: 0,
                    io_queues: 0,
                    admin: Some(link),
                    io: Vec::new(),
                    aers: VecDeque::new(),
                    pending_aens: VecDeque::new(),
                    state: CtrlState::Live,
                    stuck: 0,
                    fopcode,
                },
            );
            Ok(Phase::Admin(cntlid))
        } else {
            let Some(c) = self.ctrls.get_mut(&cd.cntlid) else {
                return Err(invalid(16, ParameterLocation::ConnectData));
            };
            if c.state != CtrlState::Live || c.hostnqn != cd.hostnqn || c.hostid != cd.hostid {
                return Err(invalid(16, ParameterLocation::ConnectData));
            }
            let allowed = if c.io_queues == 0 { MAX_IO_QUEUES } else { c.io_queues };
            if cmd.qid > allowed || c.io.iter().any(|q| q.sqid == cmd.qid) {
                return Err(invalid(42, ParameterLocation::Sqe));
            }
            c.io.push(link);
            c.last_traffic = Instant::now();
            Ok(Phase::Io(cd.cntlid, cmd.qid))
        }
    }

    fn identify_controller(&self, cntlid: u16, buf: &mut [u8]) -> Result<(), CmdError> {
        let id = self.ccr.identity(cntlid);
        let mut ic = IdentifyController::fabrics_io(cntlid, &self.nqn);
        ic.sn = &self.sn;
        ic.mn = "nvme-tokio test target";
        ic.fr = "0.1.0";
        ic.mdts = MDTS;
        ic.ver = Vs { mjr: 1, mnr: 3, ter: 0 };
        ic.oaes = OAES_CCRCN;
        ic.ciu = id.map_or(0, |i| i.ciu);
        ic.cirn = id.map_or(0, |i| i.cirn);
        ic.cqt = self.cqt;
        ic.ccrl = self.ccrl;
        ic.maxcmd = QUEUE_DEPTH;
        ic.aerl = (AER_LIMIT - 1) as u8;
        ic.ioccsz = ((64 + IN_CAPSULE_DATA) / 16) as u32;
        ic.ofcs = 0;
        ic.emit(buf).map(drop)
    }

    fn namespace(&self, ns: &Namespace) -> IdentifyNamespace {
        let lbads = ns.block_size().trailing_zeros() as u8;
        let mut id = IdentifyNamespace::new(ns.blocks(), LbaFormat { ms: 0, lbads, rp: 0 });
        id.nguid = self.nsid_ids.0;
        id.eui64 = self.nsid_ids.1;
        id
    }

    fn admin(&mut self, shared: &Arc<Shared>, cntlid: u16, conn: &mut Conn, sqe: &Sqe, data: &[u8]) {
        let cid = sqe.cid;
        if !self.ctrls.get(&cntlid).is_some_and(|c| c.state == CtrlState::Live) {
            return;
        }
        let cmd = match AdminCommand::parse(sqe) {
            Ok(c) => c,
            Err(_) => return conn.respond(cid, dnr(StatusCode::INVALID_FIELD), 0, None),
        };
        if !matches!(cmd, AdminCommand::Fabrics(_))
            && let Err(st) = check_sqe_flags(sqe)
        {
            return conn.respond(cid, st, 0, None);
        }
        if !data.is_empty() {
            // No admin command we serve carries host-to-controller data.
            return conn.respond(cid, dnr(StatusCode::INVALID_FIELD), 0, None);
        }
        let mut buf = [0u8; IDENTIFY_DATA_LEN];
        match cmd {
            AdminCommand::Fabrics(f) => self.fabrics(cntlid, conn, cid, f),
            AdminCommand::Identify(id) => {
                let want = sqe.dptr.length as usize;
                if !sqe.dptr.is_transport_data() || want < IDENTIFY_DATA_LEN {
                    return conn.respond(cid, dnr(StatusCode::DATA_SGL_LENGTH_INVALID), 0, None);
                }
                let r = self.identify(shared, cntlid, &id, &mut buf);
                match r {
                    Ok(()) => conn.respond(cid, Status::SUCCESS, 0, Some(&buf)),
                    Err(st) => conn.respond(cid, st, 0, None),
                }
            }
            AdminCommand::SetFeatures(sf) => {
                let Some(c) = self.ctrls.get_mut(&cntlid) else { return };
                match sf.feature {
                    Feature::NumberOfQueues(n) => {
                        let granted = (u32::from(n.nsq.min(n.ncq)) + 1).min(u32::from(MAX_IO_QUEUES));
                        if c.io_queues == 0 {
                            c.io_queues = granted as u16;
                        }
                        let dw0 = NumberOfQueues::with_count(u32::from(c.io_queues)).to_dword();
                        conn.respond(cid, Status::SUCCESS, dw0, None)
                    }
                    Feature::AsyncEventConfig(a) => {
                        c.aec = a.0 & AEC_CCRCN;
                        conn.respond(cid, Status::SUCCESS, 0, None)
                    }
                    Feature::KeepAliveTimer(k) => {
                        c.kato = Duration::from_millis(u64::from(k.kato_ms));
                        conn.respond(cid, Status::SUCCESS, 0, None)
                    }
                    Feature::Other { .. } => conn.respond(cid, dnr(StatusCode::INVALID_FIELD), 0, None),
                }
            }
            AdminCommand::GetFeatures(gf) => {
                let Some(c) = self.ctrls.get(&cntlid) else { return };
                let dw0 = match gf.fid {
                    FeatureId::NUMBER_OF_QUEUES => NumberOfQueues::with_count(u32::from(c.io_queues.max(1))).to_dword(),
                    FeatureId::ASYNC_EVENT_CONFIG => c.aec,
                    FeatureId::KEEP_ALIVE_TIMER => c.kato.as_millis() as u32,
                    _ => return conn.respond(cid, dnr(StatusCode::INVALID_FIELD), 0, None),
                };
                conn.respond(cid, Status::SUCCESS, dw0, None)
            }
            AdminCommand::GetLogPage(g) => self.get_log_page(cntlid, conn, cid, sqe, &g),
            AdminCommand::AsyncEventRequest(_) => {
                let Some(c) = self.ctrls.get_mut(&cntlid) else { return };
                if c.aers.len() >= AER_LIMIT {
                    return conn.respond(cid, status(StatusCode::AER_LIMIT_EXCEEDED), 0, None);
                }
                c.aers.push_back(cid);
                self.deliver_aens(cntlid);
            }
            AdminCommand::KeepAlive(_) => conn.respond(cid, Status::SUCCESS, 0, None),
            AdminCommand::Abort(_) => conn.respond(cid, Status::SUCCESS, 1, None),
            AdminCommand::CrossControllerReset(ccr) => {
                let req = self.next_req;
                self.next_req += 1;
                self.ccr_reqs.insert(req, cid);
                let _ = self.ccr.handle_ccr(cntlid, req, ccr);
                self.drain_ccr();
            }
            AdminCommand::Unknown(_) => conn.respond(cid, dnr(StatusCode::INVALID_OPCODE), 0, None),
        }
    }

    fn identify(&self, shared: &Arc<Shared>, cntlid: u16, id: &Identify, buf: &mut [u8]) -> Result<(), Status> {
        let ns = &shared.ns;
        let r = match id.cns {
            Cns::CONTROLLER => self.identify_controller(cntlid, buf),
            Cns::NAMESPACE => match id.nsid {
                1 => self.namespace(ns).emit(buf).map(drop),
                0xFFFF_FFFF => return Err(dnr(StatusCode::INVALID_NAMESPACE_OR_FORMAT)),
                _ => {
                    buf.fill(0);
                    Ok(())
                }
            },
            Cns::ACTIVE_NS_LIST => {
                let list: &[u32] = if id.nsid < 1 { &[1] } else { &[] };
                NamespaceList::emit(list, buf).map(drop)
            }
            Cns::NS_DESCRIPTORS if id.nsid == 1 => {
                let ids =
                    [NsIdentifier::Eui64(self.nsid_ids.1), NsIdentifier::Nguid(self.nsid_ids.0), NsIdentifier::Csi(0)];
                NsDescriptorList::emit(&ids, buf).map(drop)
            }
            Cns::NS_DESCRIPTORS => return Err(dnr(StatusCode::INVALID_NAMESPACE_OR_FORMAT)),
            Cns::CSI_CONTROLLER if id.csi == 0 => {
                // The NVM command set controller structure: every limit 0 (no limit), as Linux nvmet reports.
                buf.fill(0);
                Ok(())
            }
            _ => return Err(dnr(StatusCode::INVALID_FIELD)),
        };
        r.map_err(|_| status(StatusCode::INTERNAL_ERROR))
    }

    fn fabrics(&mut self, cntlid: u16, conn: &Conn, cid: u16, f: FabricsCommand) {
        let Some(c) = self.ctrls.get_mut(&cntlid) else { return };
        match f {
            FabricsCommand::PropertyGet(p) => {
                let v: u64 = match (p.offset, p.size) {
                    (PropertyOffset::CAP, PropertySize::Eight) => Cap {
                        mqes: QUEUE_DEPTH - 1,
                        cqr: true,
                        ams: 0,
                        to: 15,
                        dstrd: 0,
                        nssrs: false,
                        css: 1,
                        bps: false,
                        mpsmin: 0,
                        mpsmax: 0,
                        pmrs: false,
                        cmbs: false,
                        nsss: false,
                        crwms: false,
                        crims: false,
                    }
                    .to_u64(),
                    (PropertyOffset::VS, PropertySize::Four) => u64::from(Vs { mjr: 1, mnr: 3, ter: 0 }.to_u32()),
                    (PropertyOffset::CC, PropertySize::Four) => u64::from(c.cc),
                    (PropertyOffset::CSTS, PropertySize::Four) => u64::from(c.csts),
                    _ => return conn.respond(cid, dnr(StatusCode::INVALID_FIELD), 0, None),
                };
                let cqe_dw1 = (v >> 32) as u32;
                let cqe = Cqe { dw0: v as u32, dw1: cqe_dw1, sqhd: 0, sqid: 0, cid, status: Status::SUCCESS };
                conn.tx.send(&Pdu::CapsuleResp(CapsuleResp { cqe: cqe.to_bytes() }), &conn.params);
            }
            FabricsCommand::PropertySet(p) if p.offset == PropertyOffset::CC && p.size == PropertySize::Four => {
                let new = Cc::from_u32(p.value as u32);
                let was = Cc::from_u32(c.cc);
                c.cc = p.value as u32;
                let mut csts = Csts::from_u32(c.csts);
                if new.en && !was.en {
                    csts.rdy = true;
                    let rnd = splitmix(&mut self.rng);
                    let _ = self.ccr.controller_ready(cntlid, rnd);
                } else if !new.en {
                    csts.rdy = false;
                }
                if new.shn != 0 {
                    csts.shst = 2;
                }
                if let Some(c) = self.ctrls.get_mut(&cntlid) {
                    c.csts = csts.to_u32();
                }
                conn.respond(cid, Status::SUCCESS, 0, None)
            }
            FabricsCommand::Connect(_) => conn.respond(cid, dnr(StatusCode::COMMAND_SEQUENCE_ERROR), 0, None),
            _ => conn.respond(cid, dnr(StatusCode::INVALID_OPCODE), 0, None),
        }
    }

    fn get_log_page(&mut self, cntlid: u16, conn: &Conn, cid: u16, sqe: &Sqe, g: &GetLogPage) {
        let len = g.transfer_len();
        if !sqe.dptr.is_transport_data() || u64::from(sqe.dptr.length) != len {
            return conn.respond(cid, dnr(StatusCode::DATA_SGL_LENGTH_INVALID), 0, None);
        }
        if len > MAX_TRANSFER as u64 || g.lpo != 0 {
            return conn.respond(cid, dnr(StatusCode::INVALID_FIELD), 0, None);
        }
        match g.lid {
            LogId::CROSS_CONTROLLER_RESET => {
                let mut buf = vec![0u8; len as usize];
                let rmc = g.lsp & nvme_proto::cmd::LSP_RMC != 0;
                match self.ccr.handle_get_ccr_log(cntlid, rmc, &mut buf) {
                    Ok(_) => conn.respond(cid, Status::SUCCESS, 0, Some(&buf)),
                    Err(_) => conn.respond(cid, status(StatusCode::INTERNAL_ERROR), 0, None),
                }
            }
            // SMART / Health Information: nothing to report, all zeros (as nvmet leaves what it does not track);
            // the Linux host reads it while connecting and only warns when it is refused.
            LogId::SMART => conn.respond(cid, Status::SUCCESS, 0, Some(&vec![0u8; len as usize])),
            _ => conn.respond(cid, dnr(StatusCode::INVALID_FIELD), 0, None),
        }
    }

    fn io(&mut self, shared: &Arc<Shared>, cntlid: u16, conn: &mut Conn, sqe: &Sqe, data: &[u8]) {
        let cid = sqe.cid;
        if !self.ctrls.get(&cntlid).is_some_and(|c| c.state == CtrlState::Live) {
            return;
        }
        let cmd = match IoCommand::parse(sqe) {
            Ok(c) => c,
            Err(_) => return conn.respond(cid, dnr(StatusCode::INVALID_FIELD), 0, None),
        };
        if let IoCommand::Fabrics(_) = cmd {
            return conn.respond(cid, dnr(StatusCode::COMMAND_SEQUENCE_ERROR), 0, None);
        }
        if let Err(st) = check_sqe_flags(sqe) {
            return conn.respond(cid, st, 0, None);
        }
        let ns = &shared.ns;
        let rw_checks = |rw: &ReadWrite| -> Result<usize, Status> {
            if rw.nsid != 1 {
                return Err(dnr(StatusCode::INVALID_NAMESPACE_OR_FORMAT));
            }
            if !ns.in_range(rw.slba, u64::from(rw.blocks())) {
                return Err(dnr(StatusCode::LBA_OUT_OF_RANGE));
            }
            let len = rw.blocks() as usize * ns.block_size() as usize;
            if len > MAX_TRANSFER {
                return Err(dnr(StatusCode::INVALID_FIELD));
            }
            if rw.dptr.length as usize != len {
                return Err(dnr(StatusCode::DATA_SGL_LENGTH_INVALID));
            }
            Ok(len)
        };
        match cmd {
            IoCommand::Read(rw) => match rw_checks(&rw) {
                Ok(_) if !data.is_empty() || !rw.dptr.is_transport_data() => {
                    conn.respond(cid, dnr(StatusCode::INVALID_FIELD), 0, None)
                }
                Ok(len) => self.run_io(shared, cntlid, conn, cid, IoOp::Read { slba: rw.slba, len }),
                Err(st) => conn.respond(cid, st, 0, None),
            },
            IoCommand::Write(rw) => match rw_checks(&rw) {
                Err(st) => conn.respond(cid, st, 0, None),
                Ok(len) if rw.dptr.is_in_capsule() => {
                    if len > IN_CAPSULE_DATA || rw.dptr.address != 0 {
                        conn.respond(cid, dnr(StatusCode::SGL_OFFSET_INVALID), 0, None)
                    } else if data.len() != len {
                        conn.respond(cid, dnr(StatusCode::DATA_SGL_LENGTH_INVALID), 0, None)
                    } else {
                        self.run_io(shared, cntlid, conn, cid, IoOp::Write { slba: rw.slba, data: data.to_vec() })
                    }
                }
                Ok(len) if rw.dptr.is_transport_data() && data.is_empty() => conn.start_r2t(cid, rw.slba, len),
                Ok(_) => conn.respond(cid, dnr(StatusCode::SGL_DESCRIPTOR_TYPE_INVALID), 0, None),
            },
            IoCommand::Flush(f) if f.nsid == 1 || f.nsid == nvme_proto::cmd::NSID_BROADCAST => {
                self.run_io(shared, cntlid, conn, cid, IoOp::Flush)
            }
            IoCommand::Flush(_) => conn.respond(cid, dnr(StatusCode::INVALID_NAMESPACE_OR_FORMAT), 0, None),
            IoCommand::Fabrics(_) | IoCommand::Unknown(_) => {
                conn.respond(cid, dnr(StatusCode::INVALID_OPCODE), 0, None)
            }
        }
    }

    /// Executes an accepted I/O command whose data is here, unless the controller's `fopcode` fires on it: then
    /// its execution is deferred and the controller fails at once (ccr-cqt.md §11).
    fn run_io(&mut self, shared: &Arc<Shared>, cntlid: u16, conn: &Conn, cid: u16, op: IoOp) {
        let Some(c) = self.ctrls.get_mut(&cntlid) else { return };
        if c.state != CtrlState::Live {
            return;
        }
        if let Some((opc, delay)) = c.fopcode
            && opc == op.opcode()
        {
            c.fopcode = None;
            c.stuck += 1;
            let shared2 = shared.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let _ = execute(&shared2.ns, op);
                let mut s = shared2.lock();
                if let Some(c) = s.ctrls.get_mut(&cntlid) {
                    c.stuck = c.stuck.saturating_sub(1);
                }
                s.check_teardown(cntlid);
            });
            self.fail_controller(cntlid);
            return;
        }
        match execute(&shared.ns, op) {
            Ok(Some(data)) => conn.respond(cid, Status::SUCCESS, 0, Some(&data)),
            Ok(None) => conn.respond(cid, Status::SUCCESS, 0, None),
            Err(_) => conn.respond(cid, status(StatusCode::INTERNAL_ERROR), 0, None),
        }
    }

    /// The controller becomes fatal: CSTS.CFS, nothing more is sent, its connections close; it is torn down once
    /// its deferred commands have executed.
    fn fail_controller(&mut self, cntlid: u16) {
        let Some(c) = self.ctrls.get_mut(&cntlid) else { return };
        if c.state == CtrlState::Failing {
            return;
        }
        c.state = CtrlState::Failing;
        c.csts |= 0x2;
        let mut conns = Vec::new();
        for q in c.admin.take().into_iter().chain(c.io.drain(..)) {
            q.tx.close();
            conns.push(q.conn);
        }
        c.aers.clear();
        c.pending_aens.clear();
        let _ = self.ccr.handle_controller_fatal(cntlid);
        for id in conns {
            if let Some(t) = self.conn_tasks.remove(&id) {
                t.abort();
            }
        }
        self.check_teardown(cntlid);
    }

    fn check_teardown(&mut self, cntlid: u16) {
        let done = self.ctrls.get(&cntlid).is_some_and(|c| c.state == CtrlState::Failing && c.stuck == 0);
        if done {
            self.ctrls.remove(&cntlid);
            let _ = self.ccr.handle_teardown_complete(cntlid);
            self.drain_ccr();
        }
    }

    /// Carries out what the CCR engine asks: completions, controllers to fail, notices.
    fn drain_ccr(&mut self) {
        loop {
            if let Some(a) = self.ccr.poll_answer() {
                let cid = self.ccr_reqs.remove(&a.req);
                if let (Some(cid), Some(link)) = (
                    cid,
                    self.ctrls.get(&a.source).filter(|c| c.state == CtrlState::Live).and_then(|c| c.admin.clone()),
                ) {
                    respond(&link.tx, &link.params, 0, cid, a.status, a.dw0, None);
                }
            } else if let Some(id) = self.ccr.poll_fail_controller() {
                self.fail_controller(id);
            } else if let Some(aen) = self.ccr.poll_aen() {
                if let Some(c) = self.ctrls.get_mut(&aen.source)
                    && c.state == CtrlState::Live
                    && c.aec & AEC_CCRCN != 0
                {
                    c.pending_aens.push_back(aen.event.to_dw0());
                }
                self.deliver_aens(aen.source);
            } else {
                break;
            }
        }
    }

    fn deliver_aens(&mut self, cntlid: u16) {
        let Some(c) = self.ctrls.get_mut(&cntlid) else { return };
        let Some(link) = c.admin.clone() else { return };
        while !c.aers.is_empty() && !c.pending_aens.is_empty() {
            let (Some(cid), Some(dw0)) = (c.aers.pop_front(), c.pending_aens.pop_front()) else { break };
            respond(&link.tx, &link.params, 0, cid, Status::SUCCESS, dw0, None);
        }
    }
}

fn execute(ns: &Namespace, op: IoOp) -> io::Result<Option<Vec<u8>>> {
    match op {
        IoOp::Read { slba, len } => {
            let mut v = vec![0u8; len];
            ns.read(slba, &mut v)?;
            Ok(Some(v))
        }
        IoOp::Write { slba, data } => ns.write(slba, &data).map(|()| None),
        IoOp::Flush => ns.flush().map(|()| None),
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
}
