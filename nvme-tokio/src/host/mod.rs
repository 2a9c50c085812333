//! The NVMe/TCP host: one [`Controller`] per association (an admin queue and several I/O queues, each its own TCP
//! connection), and [`Multipath`], a round-robin front over several controllers of one subsystem that feeds
//! nvme-ccr's recovery [`Engine`](nvme_ccr::Engine) and carries out what it asks.
//!
//! Bring-up follows what the Linux host does (commands.md §10): ICReq/ICResp with the requested digests, Fabrics
//! Connect (admin, KATO), Property Get CAP, Property Set CC.EN, Property Get CSTS until RDY, Property Get VS,
//! Identify Controller (checked: CNTLID, KAS, ICDOFF, SGLS), Set Features Number of Queues, one Connect per I/O
//! queue, Set Features Asynchronous Event Configuration (the CCR notice, when OAES offers it), an outstanding
//! AER, then Identify active NS list, NS descriptors and Identify Namespace. Keep Alive every KATO/2, KATO/4 with
//! TBKAS.

mod multipath;
mod queue;

pub use multipath::{IoKind, Multipath, MultipathConfig, PathEvent};
pub use queue::{Completion, DataOut};

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nvme_ccr::{ControllerFacts, FailureReason};
use nvme_proto::cmd::{
    AEC_CCRCN, AsyncEventConfig, AsyncEventRequest, Cap, Cc, Connect, ConnectData, ConnectResponse, Csts, Feature,
    IDENTIFY_DATA_LEN, Identify, IdentifyController, IdentifyNamespace, KeepAlive, NamespaceList, NumberOfQueues,
    OAES_CCRCN, PropertyGet, PropertyOffset, PropertySet, ReadWrite, SGLS_SUPPORTED, SetFeatures, SglDescriptor, Sqe,
    Status,
};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use crate::wire::Capture;
use queue::{OnDown, Queue, QueueSetup};

/// Admin queue depth (Connect SQSIZE 31), as the Linux host.
pub const ADMIN_QUEUE_DEPTH: u16 = 32;
/// In-capsule data the host puts in an admin or Fabrics capsule at most (Linux `NVME_TCP_ADMIN_CCSZ`).
pub const ADMIN_IN_CAPSULE: usize = 8192;
/// The largest transfer of one I/O command when the controller reports MDTS = 0 (no limit). Our choice.
pub const DEFAULT_MAX_TRANSFER: usize = 1 << 20;

/// Which digests the host asks for in ICReq.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
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

impl Digests {
    /// (header, data).
    pub fn flags(self) -> (bool, bool) {
        match self {
            Digests::None => (false, false),
            Digests::Header => (true, false),
            Digests::Data => (false, true),
            Digests::Both => (true, true),
        }
    }
}

/// Host configuration for one controller.
#[derive(Clone, Debug)]
pub struct HostConfig {
    /// Subsystem NQN to connect to.
    pub subnqn: String,
    /// Host NQN.
    pub hostnqn: String,
    /// Host identifier (the same for every controller of one host).
    pub hostid: [u8; 16],
    /// Keep-alive timeout sent in Connect (zero disables keep alive).
    pub kato: Duration,
    /// Digests to request.
    pub digests: Digests,
    /// I/O queues wanted (the controller may grant fewer).
    pub io_queues: u16,
    /// Depth of each I/O queue.
    pub queue_depth: u16,
    /// Bound on the whole connect sequence.
    pub connect_timeout: Duration,
    /// Record every PDU into this capture.
    pub capture: Option<Capture>,
}

impl HostConfig {
    /// Defaults: KATO 5 s (Linux), no digests, 2 I/O queues of depth 32, connect timeout 10 s, a host NQN and host
    /// id derived from `hostname`.
    pub fn new(subnqn: &str, hostname: &str) -> Self {
        let mut hostid = [0u8; 16];
        for (i, b) in hostname.bytes().enumerate() {
            hostid[i % 16] ^= b.wrapping_add(i as u8);
        }
        HostConfig {
            subnqn: subnqn.to_string(),
            hostnqn: format!("nqn.2014-08.org.nvmexpress:uuid:nvme-tokio-{hostname}"),
            hostid,
            kato: Duration::from_secs(5),
            digests: Digests::None,
            io_queues: 2,
            queue_depth: 32,
            connect_timeout: Duration::from_secs(10),
            capture: None,
        }
    }
}

/// What went wrong on the host side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostError {
    /// A socket error.
    Io(String),
    /// The connection (or the controller) is gone; the command's fate is unknown.
    ConnectionLost,
    /// The peer broke the protocol, or a PDU could not be built.
    Protocol(String),
    /// A bring-up command failed with this status.
    Status(&'static str, Status),
    /// The controller is not one this host can use (Identify checks).
    Refused(String),
    /// Something took too long.
    Timeout(&'static str),
}

impl HostError {
    pub(crate) fn io(e: std::io::Error) -> Self {
        HostError::Io(e.to_string())
    }

    pub(crate) fn rx(e: crate::wire::RxError) -> Self {
        HostError::Protocol(e.to_string())
    }
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::Io(e) => write!(f, "socket error: {e}"),
            HostError::ConnectionLost => f.write_str("connection lost"),
            HostError::Protocol(e) => write!(f, "protocol error: {e}"),
            HostError::Status(what, st) => write!(f, "{what} failed with status {:#06x}", st.to_word()),
            HostError::Refused(e) => write!(f, "controller refused: {e}"),
            HostError::Timeout(what) => write!(f, "timed out: {what}"),
        }
    }
}

impl std::error::Error for HostError {}

/// Something that happened to a controller, delivered on its event channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CtrlEvent {
    /// The controller failed (a queue's connection dropped, a TermReq, or keep alive expired); every queue is
    /// closed and outstanding commands completed with [`HostError::ConnectionLost`]. Sent once.
    Failed(FailureReason),
    /// An Asynchronous Event Request completed with this DW0 (another AER is already outstanding).
    Aen(u32),
}

/// The namespace the controller serves (the first active one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NsInfo {
    /// NSID.
    pub nsid: u32,
    /// Logical block size in bytes.
    pub block_size: u32,
    /// Size in blocks (NSZE).
    pub blocks: u64,
}

struct Fail {
    failed: AtomicBool,
    events: mpsc::UnboundedSender<CtrlEvent>,
    queues: Mutex<Vec<Queue>>,
    tasks: Mutex<Vec<AbortHandle>>,
}

impl Fail {
    fn fail(&self, reason: FailureReason) {
        if self.failed.swap(true, Ordering::SeqCst) {
            return;
        }
        for q in self.queues.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            q.close(HostError::ConnectionLost);
        }
        for t in self.tasks.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            t.abort();
        }
        let _ = self.events.send(CtrlEvent::Failed(reason));
    }
}

struct Inner {
    addr: SocketAddr,
    cntlid: u16,
    admin: Queue,
    io: Vec<Queue>,
    next_io: AtomicUsize,
    id_ctrl: Box<[u8; IDENTIFY_DATA_LEN]>,
    facts: ControllerFacts,
    ns: NsInfo,
    max_transfer: usize,
    fail: Arc<Fail>,
    kato: Duration,
}

/// One live association with a controller. Cheap to clone. Dropping the last clone does not close it: call
/// [`close`](Controller::close).
#[derive(Clone)]
pub struct Controller {
    inner: Arc<Inner>,
}

impl fmt::Debug for Controller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Controller").field("addr", &self.inner.addr).field("cntlid", &self.inner.cntlid).finish()
    }
}

fn check(what: &'static str, c: &Completion) -> Result<(), HostError> {
    if c.status().is_success() { Ok(()) } else { Err(HostError::Status(what, c.status())) }
}

impl Controller {
    /// Connects to the controller at `addr` and brings it up (see the module docs). Returns the controller and
    /// its event channel.
    pub async fn connect(
        addr: SocketAddr,
        cfg: &HostConfig,
    ) -> Result<(Controller, mpsc::UnboundedReceiver<CtrlEvent>), HostError> {
        let (events, rx) = mpsc::unbounded_channel();
        let fail = Arc::new(Fail {
            failed: AtomicBool::new(false),
            events,
            queues: Mutex::new(Vec::new()),
            tasks: Mutex::new(Vec::new()),
        });
        let r = tokio::time::timeout(cfg.connect_timeout, Self::bring_up(addr, cfg, fail.clone())).await;
        match r {
            Ok(Ok(c)) => Ok((c, rx)),
            Ok(Err(e)) => {
                fail.fail(FailureReason::TransportError);
                Err(e)
            }
            Err(_) => {
                fail.fail(FailureReason::CommandTimeout);
                Err(HostError::Timeout("connect"))
            }
        }
    }

    async fn open_queue(
        addr: SocketAddr,
        cfg: &HostConfig,
        fail: &Arc<Fail>,
        qid: u16,
        cntlid: u16,
        depth: u16,
        max_inline: usize,
    ) -> Result<(Queue, u32), HostError> {
        let f2 = fail.clone();
        let on_down: OnDown = Arc::new(move |_e: HostError| f2.fail(FailureReason::TransportError));
        let (header_digest, data_digest) = cfg.digests.flags();
        let setup = QueueSetup {
            addr,
            qid,
            depth,
            header_digest,
            data_digest,
            max_inline,
            capture: cfg.capture.as_ref(),
            on_down,
        };
        let (q, _params) = Queue::open(setup).await?;
        fail.queues.lock().unwrap_or_else(|e| e.into_inner()).push(q.clone());
        let connect = if qid == 0 {
            Connect::admin(cfg.kato.as_millis().min(u128::from(u32::MAX)) as u32)
        } else {
            Connect::io(qid, depth - 1)
        };
        let data = ConnectData { hostid: cfg.hostid, cntlid, subnqn: &cfg.subnqn, hostnqn: &cfg.hostnqn };
        let mut buf = vec![0u8; ConnectData::LEN];
        data.emit(&mut buf).map_err(|e| HostError::Refused(format!("Connect data: {e}")))?;
        let c = q.submit(connect.to_sqe(0), DataOut::Write(buf.into())).await?;
        check("Connect", &c)?;
        Ok((q, c.cqe.dw0))
    }

    async fn bring_up(addr: SocketAddr, cfg: &HostConfig, fail: Arc<Fail>) -> Result<Controller, HostError> {
        let (admin, dw0) =
            Self::open_queue(addr, cfg, &fail, 0, ConnectData::DYNAMIC_CNTLID, ADMIN_QUEUE_DEPTH, ADMIN_IN_CAPSULE)
                .await?;
        let cntlid = ConnectResponse::from_dw0(dw0).cntlid;
        let prop = |c: &Completion| u64::from(c.cqe.dw0) | u64::from(c.cqe.dw1) << 32;
        let c = admin.submit(PropertyGet::new(PropertyOffset::CAP).to_sqe(0), DataOut::None).await?;
        check("Property Get CAP", &c)?;
        let cap = Cap::from_u64(prop(&c));
        let c = admin.submit(PropertySet::cc(Cc::ENABLE).to_sqe(0), DataOut::None).await?;
        check("Property Set CC", &c)?;
        let deadline = tokio::time::Instant::now() + cap.timeout().max(Duration::from_millis(500));
        loop {
            let c = admin.submit(PropertyGet::new(PropertyOffset::CSTS).to_sqe(0), DataOut::None).await?;
            check("Property Get CSTS", &c)?;
            let csts = Csts::from_u32(c.cqe.dw0);
            if csts.cfs {
                return Err(HostError::Refused("CSTS.CFS set during enable".into()));
            }
            if csts.rdy {
                break;
            }
            if tokio::time::Instant::now() > deadline {
                return Err(HostError::Timeout("CSTS.RDY"));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let c = admin.submit(PropertyGet::new(PropertyOffset::VS).to_sqe(0), DataOut::None).await?;
        check("Property Get VS", &c)?;
        let c = admin.submit(Identify::controller().to_sqe(0), DataOut::Read(IDENTIFY_DATA_LEN)).await?;
        check("Identify Controller", &c)?;
        let mut id_ctrl = Box::new([0u8; IDENTIFY_DATA_LEN]);
        id_ctrl.copy_from_slice(&c.data[..IDENTIFY_DATA_LEN]);
        let (facts, ioccsz, mdts) = {
            let id = IdentifyController::parse(&id_ctrl[..])
                .map_err(|e| HostError::Refused(format!("Identify Controller does not parse: {e}")))?;
            if id.cntlid != cntlid {
                return Err(HostError::Refused(format!("CNTLID {} differs from Connect's {cntlid}", id.cntlid)));
            }
            if id.kas == 0 {
                return Err(HostError::Refused("KAS = 0: keep alive is mandatory on fabrics".into()));
            }
            if id.icdoff != 0 {
                return Err(HostError::Refused(format!("ICDOFF {} (only 0 is supported)", id.icdoff)));
            }
            if id.sgls & 0b11 == 0 {
                return Err(HostError::Refused("SGLS bits 1:0 = 0: SGLs are mandatory".into()));
            }
            let _ = SGLS_SUPPORTED;
            (ControllerFacts::from_identify(&id, cfg.kato), id.ioccsz, id.mdts)
        };
        let max_inline = (ioccsz as usize * 16).saturating_sub(64);
        let mps = 4096usize << cap.mpsmin;
        let max_transfer = if mdts == 0 { DEFAULT_MAX_TRANSFER } else { mps << mdts.min(20) }.min(DEFAULT_MAX_TRANSFER);
        let want = cfg.io_queues.max(1);
        let c = admin
            .submit(
                SetFeatures::new(Feature::NumberOfQueues(NumberOfQueues::with_count(u32::from(want)))).to_sqe(0),
                DataOut::None,
            )
            .await?;
        check("Set Features Number of Queues", &c)?;
        let granted = NumberOfQueues::from_dword(c.cqe.dw0).pairs().min(u32::from(want)) as u16;
        let depth = cfg.queue_depth.clamp(2, cap.mqes.saturating_add(1).max(2));
        let mut io = Vec::new();
        for qid in 1..=granted {
            let (q, _) = Self::open_queue(addr, cfg, &fail, qid, cntlid, depth, max_inline).await?;
            io.push(q);
        }
        let oaes = u32::from_le_bytes([id_ctrl[92], id_ctrl[93], id_ctrl[94], id_ctrl[95]]);
        if oaes & OAES_CCRCN != 0 {
            let aec = SetFeatures::new(Feature::AsyncEventConfig(AsyncEventConfig(AEC_CCRCN)));
            let c = admin.submit(aec.to_sqe(0), DataOut::None).await?;
            check("Set Features Asynchronous Event Configuration", &c)?;
        }
        let c = admin.submit(Identify::active_ns_list(0).to_sqe(0), DataOut::Read(IDENTIFY_DATA_LEN)).await?;
        check("Identify active namespace list", &c)?;
        let nsid = NamespaceList::new_checked(&c.data)
            .map_err(|e| HostError::Refused(format!("namespace list: {e}")))?
            .iter()
            .next()
            .ok_or_else(|| HostError::Refused("no active namespace".into()))?;
        // The descriptors are read as the Linux host does; their content is not needed here.
        let _ = admin.submit(Identify::ns_descriptors(nsid).to_sqe(0), DataOut::Read(IDENTIFY_DATA_LEN)).await?;
        let c = admin.submit(Identify::namespace(nsid).to_sqe(0), DataOut::Read(IDENTIFY_DATA_LEN)).await?;
        check("Identify Namespace", &c)?;
        let idns = IdentifyNamespace::parse(&c.data).map_err(|e| HostError::Refused(format!("Identify NS: {e}")))?;
        let block_size =
            idns.format().block_size().ok_or_else(|| HostError::Refused("unsupported LBA format".into()))?;
        let ns = NsInfo { nsid, block_size, blocks: idns.nsze };
        let inner = Arc::new(Inner {
            addr,
            cntlid,
            admin: admin.clone(),
            io,
            next_io: AtomicUsize::new(0),
            id_ctrl,
            facts,
            ns,
            max_transfer,
            fail: fail.clone(),
            kato: cfg.kato,
        });
        let ctrl = Controller { inner };
        ctrl.start_background();
        Ok(ctrl)
    }

    /// Starts the outstanding AER and the keep-alive timer.
    fn start_background(&self) {
        let admin = self.inner.admin.clone();
        let fail = self.inner.fail.clone();
        let aer = tokio::spawn(async move {
            loop {
                match admin.submit(AsyncEventRequest.to_sqe(0), DataOut::None).await {
                    Ok(c) if c.status().is_success() => {
                        let _ = fail.events.send(CtrlEvent::Aen(c.cqe.dw0));
                    }
                    _ => return,
                }
            }
        });
        let mut tasks = vec![aer.abort_handle()];
        let kato = self.inner.kato;
        if !kato.is_zero() {
            let period = if self.inner.facts.tbkas { kato / 4 } else { kato / 2 };
            let admin = self.inner.admin.clone();
            let fail = self.inner.fail.clone();
            let ka = tokio::spawn(async move {
                let mut tick = tokio::time::interval(period);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    match tokio::time::timeout(kato, admin.submit(KeepAlive.to_sqe(0), DataOut::None)).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(_)) => return,
                        Err(_) => {
                            fail.fail(FailureReason::KeepAliveTimeout);
                            return;
                        }
                    }
                }
            });
            tasks.push(ka.abort_handle());
        }
        let mut t = self.inner.fail.tasks.lock().unwrap_or_else(|e| e.into_inner());
        if self.inner.fail.failed.load(Ordering::SeqCst) {
            for h in &tasks {
                h.abort();
            }
        }
        t.extend(tasks);
    }

    /// The address connected to.
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// CNTLID (the Connect result).
    pub fn cntlid(&self) -> u16 {
        self.inner.cntlid
    }

    /// The Identify Controller data.
    pub fn identify(&self) -> IdentifyController<'_> {
        // Parsed once at bring-up; the bytes do not change.
        IdentifyController::parse(&self.inner.id_ctrl[..]).unwrap_or_else(|_| IdentifyController::fabrics_io(0, ""))
    }

    /// The raw Identify Controller bytes.
    pub fn identify_bytes(&self) -> &[u8; IDENTIFY_DATA_LEN] {
        &self.inner.id_ctrl
    }

    /// What nvme-ccr needs to know about this controller.
    pub fn facts(&self) -> ControllerFacts {
        self.inner.facts
    }

    /// The namespace.
    pub fn namespace(&self) -> NsInfo {
        self.inner.ns
    }

    /// The I/O queues in use.
    pub fn io_queue_count(&self) -> usize {
        self.inner.io.len()
    }

    /// The largest transfer of one command, bytes.
    pub fn max_transfer(&self) -> usize {
        self.inner.max_transfer
    }

    /// Whether the controller has failed (or was closed).
    pub fn is_failed(&self) -> bool {
        self.inner.fail.failed.load(Ordering::SeqCst)
    }

    /// Closes every connection; outstanding commands complete with [`HostError::ConnectionLost`]. The event
    /// channel reports [`CtrlEvent::Failed`] unless the controller had failed already.
    pub fn close(&self) {
        self.inner.fail.fail(FailureReason::TransportError);
    }

    /// Sends an admin command and waits for its completion.
    pub async fn admin(&self, sqe: Sqe, data: DataOut) -> Result<Completion, HostError> {
        self.inner.admin.submit(sqe, data).await
    }

    /// Sends an I/O command on the next I/O queue (round robin) and waits for its completion.
    pub async fn io(&self, sqe: Sqe, data: DataOut) -> Result<Completion, HostError> {
        let n = self.inner.io.len();
        if n == 0 {
            return Err(HostError::ConnectionLost);
        }
        let i = self.inner.next_io.fetch_add(1, Ordering::Relaxed) % n;
        self.inner.io[i].submit(sqe, data).await
    }

    fn rw(&self, slba: u64, len: usize) -> Result<ReadWrite, HostError> {
        let bs = self.inner.ns.block_size as usize;
        if len == 0 || !len.is_multiple_of(bs) || len > self.inner.max_transfer {
            return Err(HostError::Refused(format!("{len} bytes is not 1..={} whole blocks", self.inner.max_transfer)));
        }
        ReadWrite::new(self.inner.ns.nsid, slba, (len / bs) as u32, bs as u32)
            .ok_or_else(|| HostError::Refused("I/O too large".into()))
    }

    /// The SQE and data of a read of `len` bytes (whole blocks, at most [`max_transfer`](Self::max_transfer))
    /// at block `slba`.
    pub fn read_command(&self, slba: u64, len: usize) -> Result<(Sqe, DataOut), HostError> {
        Ok((self.rw(slba, len)?.to_read_sqe(0), DataOut::Read(len)))
    }

    /// The SQE and data of a write of `data` at block `slba`.
    pub fn write_command(&self, slba: u64, data: Arc<[u8]>) -> Result<(Sqe, DataOut), HostError> {
        let mut sqe = self.rw(slba, data.len())?.to_write_sqe(0);
        sqe.dptr = SglDescriptor::transport_data(data.len() as u32);
        Ok((sqe, DataOut::Write(data)))
    }

    /// Reads `len` bytes from block `slba`, in commands of at most [`max_transfer`](Self::max_transfer) bytes.
    pub async fn read(&self, slba: u64, len: usize) -> Result<Vec<u8>, HostError> {
        let bs = self.inner.ns.block_size as usize;
        let mut out = Vec::with_capacity(len);
        let mut off = 0;
        while off < len {
            let n = (len - off).min(self.inner.max_transfer);
            let (sqe, d) = self.read_command(slba + (off / bs) as u64, n)?;
            let c = self.io(sqe, d).await?;
            check("Read", &c)?;
            out.extend_from_slice(&c.data);
            off += n;
        }
        Ok(out)
    }

    /// Writes `data` at block `slba`, in commands of at most [`max_transfer`](Self::max_transfer) bytes.
    pub async fn write(&self, slba: u64, data: &[u8]) -> Result<(), HostError> {
        let bs = self.inner.ns.block_size as usize;
        let mut off = 0;
        while off < data.len() {
            let n = (data.len() - off).min(self.inner.max_transfer);
            let (sqe, d) = self.write_command(slba + (off / bs) as u64, data[off..off + n].into())?;
            let c = self.io(sqe, d).await?;
            check("Write", &c)?;
            off += n;
        }
        Ok(())
    }
}
