//! One association with a controller: the admin queue and the I/O queues (one connection each), brought up in the
//! order the Linux host uses ([`nvme_proto::notes::commands`] §10), kept alive (Keep Alive every KATO/2, KATO/4 with
//! TBKAS; [`nvme_ccr::notes::ccr_cqt`] §6.4), with one AER outstanding, per-command timeouts, and an orderly
//! disconnect (I/O queues closed first, then CC.SHN on the admin queue, as Linux shuts a controller down).
//!
//! In-band authentication: a Connect response with ATR (admin or I/O queue) is followed, on that queue, by one
//! DH-HMAC-CHAP transaction ([`HostExchange`], driven with Authentication Send and Receive commands) before the queue
//! is used, as the Linux host does (`../shared/spec/auth.md` §1.2); transaction identifiers count per association
//! from 0. Each step is bounded by the exchange's deadline and the bring-up by its own.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::time::Duration;

use nvme_ccr::{ControllerFacts, Instant};
use nvme_proto::auth::MAX_REPLY_LEN;
use nvme_proto::cmd::{
    AEC_CCRCN, AsyncEventConfig, AsyncEventRequest, Authentication, Cap, Cc, Connect, ConnectData, ConnectResponse,
    Cqe, Csts, Feature, IDENTIFY_DATA_LEN, Identify, IdentifyController, IdentifyNamespace, KeepAlive, NamespaceList,
    NumberOfQueues, OAES_CCRCN, PropertyGet, PropertyOffset, PropertySet, Sqe,
};

use super::conn::{DataOut, HostConn, HostInput, HostLimits};
use super::{BringUpStep, HostConfig, NsInfo, PathFailure, RefusedReason};
use crate::auth::{AuthFailure, HostAuth, HostCommand, HostExchange, NonceSource};
use crate::conn::{CloseCause, ConnId};

/// Admin queue depth (Connect SQSIZE 31), as the Linux host.
pub const ADMIN_QUEUE_DEPTH: u16 = 32;

/// How often CSTS is read while waiting for RDY (or for SHST after a shutdown).
const CSTS_POLL: Duration = Duration::from_millis(10);

/// What an admin command of the association is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Purpose {
    BringUp(BringUpStep),
    KeepAlive,
    Aer,
    Shutdown,
    ShutdownPoll,
    /// A command the owner sent (CCR, log read, passthrough): completed to it with this tag.
    Owner(u64),
    /// An I/O queue's Connect.
    IoConnect,
    /// An Authentication Send (`true`) or Receive of a queue's transaction.
    Auth {
        send: bool,
    },
}

/// What an association needs to authenticate its queues: the credentials and its own nonce source.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct AssocAuth {
    creds: HostAuth,
    nonces: NonceSource,
    /// The next transaction identifier (Linux: a per-controller counter from 0).
    next_tid: u16,
}

impl AssocAuth {
    pub(crate) fn new(creds: HostAuth, nonces: NonceSource) -> Self {
        AssocAuth { creds, nonces, next_tid: 0 }
    }
}

/// What the association tells its owner.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum AssocOut {
    /// Bring-up done: the controller is live.
    Live,
    /// The association failed; it is closed.
    Failed(PathFailure),
    /// An AER completed with this DW0 (another is already outstanding).
    Aen(u32),
    /// A command the owner sent completed (`tag` is the owner's).
    Completed { tag: u64, cqe: Cqe, data: Vec<u8> },
    /// The orderly disconnect finished; the association is closed.
    Disconnected,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct IoQueue {
    pub(crate) conn: ConnId,
    pub(crate) hc: HostConn,
    connected: bool,
    /// Its authentication transaction, while one runs.
    auth: Option<Box<HostExchange>>,
}

/// Where the association is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Stage {
    BringUp(BringUpStep),
    Live,
    Disconnecting,
    Closed,
}

/// One association.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Assoc {
    pub(crate) admin_conn: ConnId,
    pub(crate) admin: HostConn,
    pub(crate) io: Vec<IoQueue>,
    pub(crate) stage: Stage,
    /// Bring-up (or shutdown) must finish by then.
    deadline: Option<Instant>,
    /// The next CSTS read (RDY or SHST poll).
    csts_at: Option<Instant>,
    csts_until: Option<Instant>,
    purposes: BTreeMap<u64, Purpose>,
    next_tag: u64,
    pub(crate) cntlid: u16,
    pub(crate) facts: Option<ControllerFacts>,
    pub(crate) ns: Option<NsInfo>,
    id_ctrl: Option<IdentifyInfo>,
    nsid: u32,
    pub(crate) max_transfer: usize,
    /// CAP.MPSMIN page size, bytes.
    page: usize,
    ka_period: Option<Duration>,
    ka_next: Option<Instant>,
    pub(crate) out: VecDeque<AssocOut>,
    /// Connections the owner must open (new I/O queues), in order.
    pub(crate) opens: VecDeque<ConnId>,
    /// Connections to close, with why.
    pub(crate) closes: VecDeque<(ConnId, CloseCause)>,
    rr: usize,
    /// Credentials and nonces, when the host is configured to authenticate.
    auth: Option<AssocAuth>,
    /// The admin queue's authentication transaction, while one runs.
    admin_auth: Option<Box<HostExchange>>,
}

/// What bring-up keeps from Identify Controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct IdentifyInfo {
    ioccsz: u32,
    maxcmd: u16,
    oaes: u32,
}

fn limits(cfg: &HostConfig, depth: u16, in_capsule: usize, max_rx: usize) -> HostLimits {
    let max_data_pdu = cfg.data_pdu_max().min(u32::MAX as usize) as u32;
    HostLimits { depth, in_capsule, max_data_pdu, max_rx_data: max_rx.min(u32::MAX as usize) as u32 }
}

impl Assoc {
    /// Starts an association: the admin connection `admin_conn` (the owner opens it) with its ICReq queued.
    pub(crate) fn new(cfg: &HostConfig, now: Instant, admin_conn: ConnId, auth: Option<AssocAuth>) -> Self {
        let deadline = now + cfg.connect_timeout;
        let lim = limits(cfg, ADMIN_QUEUE_DEPTH, super::ADMIN_IN_CAPSULE, cfg.max_transfer);
        Assoc {
            admin_conn,
            admin: HostConn::new(0, (cfg.digests.header, cfg.digests.data), lim, deadline),
            io: Vec::new(),
            stage: Stage::BringUp(BringUpStep::IcExchange),
            deadline: Some(deadline),
            csts_at: None,
            csts_until: None,
            purposes: BTreeMap::new(),
            next_tag: 0,
            cntlid: 0,
            facts: None,
            ns: None,
            id_ctrl: None,
            nsid: 0,
            max_transfer: cfg.max_transfer,
            page: 4096,
            ka_period: None,
            ka_next: None,
            out: VecDeque::new(),
            opens: VecDeque::new(),
            closes: VecDeque::new(),
            rr: 0,
            auth,
            admin_auth: None,
        }
    }

    /// Every connection of the association.
    pub(crate) fn conns(&self) -> impl Iterator<Item = ConnId> + '_ {
        core::iter::once(self.admin_conn).chain(self.io.iter().map(|q| q.conn))
    }

    /// The connection `conn`, to look at.
    pub(crate) fn conn(&self, conn: ConnId) -> Option<&HostConn> {
        if conn == self.admin_conn {
            return Some(&self.admin);
        }
        self.io.iter().find(|q| q.conn == conn).map(|q| &q.hc)
    }

    /// The connection `conn`.
    pub(crate) fn conn_mut(&mut self, conn: ConnId) -> Option<&mut HostConn> {
        if conn == self.admin_conn {
            return Some(&mut self.admin);
        }
        self.io.iter_mut().find(|q| q.conn == conn).map(|q| &mut q.hc)
    }

    /// Whether it is live.
    pub(crate) fn is_live(&self) -> bool {
        self.stage == Stage::Live
    }

    fn tag(&mut self, p: Purpose) -> u64 {
        let t = self.next_tag;
        self.next_tag += 1;
        self.purposes.insert(t, p);
        t
    }

    /// Sends an admin command for `purpose`; `deadline` bounds it (bring-up commands are bounded by the bring-up
    /// deadline instead).
    fn admin_cmd(&mut self, sqe: Sqe, data: DataOut, purpose: Purpose, deadline: Option<Instant>) -> bool {
        let tag = self.tag(purpose);
        if self.admin.q.submit(sqe, data, tag, deadline).is_err() {
            self.purposes.remove(&tag);
            return false;
        }
        true
    }

    fn step(&mut self, now: Instant, cfg: &HostConfig, step: BringUpStep) {
        self.stage = Stage::BringUp(step);
        let read = |n: usize| DataOut::Read(n);
        let (sqe, data) = match step {
            BringUpStep::IcExchange => return,
            BringUpStep::Connect => {
                let kato = cfg.kato.as_millis().min(u128::from(u32::MAX)) as u32;
                let connect = Connect { sqsize: ADMIN_QUEUE_DEPTH - 1, ..Connect::admin(kato) };
                (connect.to_sqe(0), DataOut::Write(connect_data(cfg, ConnectData::DYNAMIC_CNTLID)))
            }
            BringUpStep::ReadCap => (PropertyGet::new(PropertyOffset::CAP).to_sqe(0), DataOut::None),
            BringUpStep::Enable => (PropertySet::cc(Cc::ENABLE).to_sqe(0), DataOut::None),
            BringUpStep::WaitReady => (PropertyGet::new(PropertyOffset::CSTS).to_sqe(0), DataOut::None),
            BringUpStep::ReadVersion => (PropertyGet::new(PropertyOffset::VS).to_sqe(0), DataOut::None),
            BringUpStep::IdentifyController => (Identify::controller().to_sqe(0), read(IDENTIFY_DATA_LEN)),
            BringUpStep::NumberOfQueues => {
                let n = NumberOfQueues::with_count(u32::from(cfg.io_queues.max(1)));
                (nvme_proto::cmd::SetFeatures::new(Feature::NumberOfQueues(n)).to_sqe(0), DataOut::None)
            }
            BringUpStep::IoQueues => return,
            BringUpStep::EventConfig => {
                let aec = AsyncEventConfig(AEC_CCRCN);
                (nvme_proto::cmd::SetFeatures::new(Feature::AsyncEventConfig(aec)).to_sqe(0), DataOut::None)
            }
            BringUpStep::NamespaceList => (Identify::active_ns_list(0).to_sqe(0), read(IDENTIFY_DATA_LEN)),
            BringUpStep::NamespaceDescriptors => {
                (Identify::ns_descriptors(self.nsid).to_sqe(0), read(IDENTIFY_DATA_LEN))
            }
            BringUpStep::IdentifyNamespace => (Identify::namespace(self.nsid).to_sqe(0), read(IDENTIFY_DATA_LEN)),
        };
        let _ = now;
        if !self.admin_cmd(sqe, data, Purpose::BringUp(step), None) {
            self.fail(PathFailure::Refused(RefusedReason::QueueFull));
        }
    }

    /// The admin connection finished its IC exchange, or an I/O one did: the next bring-up step.
    pub(crate) fn handle_ready(&mut self, now: Instant, cfg: &HostConfig, conn: ConnId) {
        if conn == self.admin_conn {
            self.step(now, cfg, BringUpStep::Connect);
            return;
        }
        let cntlid = self.cntlid;
        let depth = self.io_depth(cfg);
        let Some(i) = self.io.iter().position(|q| q.conn == conn) else { return };
        let qid = (i + 1) as u16;
        let connect = Connect::io(qid, depth - 1);
        let tag = self.tag(Purpose::IoConnect);
        let data = DataOut::Write(connect_data(cfg, cntlid));
        if self.io[i].hc.q.submit(connect.to_sqe(0), data, tag, None).is_err() {
            self.fail(PathFailure::Refused(RefusedReason::QueueFull));
        }
    }

    fn io_depth(&self, cfg: &HostConfig) -> u16 {
        let maxcmd = self.id_ctrl.map_or(u16::MAX, |i| if i.maxcmd == 0 { u16::MAX } else { i.maxcmd });
        cfg.queue_depth.clamp(2, maxcmd.max(2))
    }

    /// A completion on `conn`.
    pub(crate) fn handle_completion(
        &mut self,
        now: Instant,
        cfg: &HostConfig,
        conn: ConnId,
        tag: u64,
        cqe: Cqe,
        data: Vec<u8>,
    ) {
        if conn != self.admin_conn {
            let qi = self.io.iter().position(|q| q.conn == conn);
            if self.stage == Stage::BringUp(BringUpStep::IoQueues)
                && let Some(qi) = qi
                && let Some(purpose) = self.purposes.remove(&tag)
            {
                match purpose {
                    Purpose::Auth { send } => self.auth_completion(now, cfg, Some(qi), send, &cqe, &data),
                    _ => self.io_connected(now, cfg, qi, &cqe),
                }
                return;
            }
            self.out.push_back(AssocOut::Completed { tag, cqe, data });
            return;
        }
        let Some(purpose) = self.purposes.remove(&tag) else { return };
        match purpose {
            Purpose::Owner(t) => self.out.push_back(AssocOut::Completed { tag: t, cqe, data }),
            Purpose::KeepAlive => {}
            Purpose::Aer => {
                if cqe.status.is_success() {
                    self.out.push_back(AssocOut::Aen(cqe.dw0));
                    self.admin_cmd(AsyncEventRequest.to_sqe(0), DataOut::None, Purpose::Aer, None);
                }
            }
            Purpose::Shutdown => {
                self.csts_at = Some(now);
            }
            Purpose::ShutdownPoll => {
                let csts = Csts::from_u32(cqe.dw0);
                if csts.shst == 2 || self.csts_until.is_some_and(|u| now >= u) || !cqe.status.is_success() {
                    self.close_all(CloseCause::Local);
                    self.out.push_back(AssocOut::Disconnected);
                } else {
                    self.csts_at = Some(now + CSTS_POLL);
                }
            }
            Purpose::BringUp(step) => self.bring_up(now, cfg, step, cqe, data),
            Purpose::Auth { send } => self.auth_completion(now, cfg, None, send, &cqe, &data),
            // Only ever on I/O queues (handled above).
            Purpose::IoConnect => {}
        }
    }

    /// I/O queue `qi`'s Connect completed: authenticate it when asked, else it is connected.
    fn io_connected(&mut self, now: Instant, cfg: &HostConfig, qi: usize, cqe: &Cqe) {
        if !cqe.status.is_success() {
            return self.fail(PathFailure::BringUpStatus { step: BringUpStep::IoQueues, status: cqe.status });
        }
        match self.auth_asked(ConnectResponse::from_dw0(cqe.dw0)) {
            Err(f) => self.fail(f),
            Ok(true) => self.start_auth(now, cfg, Some(qi)),
            Ok(false) => self.queue_ready(now, cfg, Some(qi)),
        }
    }

    /// Whether a Connect response asks for authentication this host can give; the failure when it cannot.
    fn auth_asked(&self, resp: ConnectResponse) -> Result<bool, PathFailure> {
        if resp.authreq & ConnectResponse::AUTHREQ_ASCR != 0 {
            return Err(PathFailure::Refused(RefusedReason::SecureChannelRequired));
        }
        if !resp.authentication_required() {
            return Ok(false);
        }
        if self.auth.is_none() {
            return Err(PathFailure::Refused(RefusedReason::AuthenticationRequired));
        }
        Ok(true)
    }

    /// Queue `qi` (`None`: the admin queue) is connected and, if it had to, authenticated: bring-up goes on.
    fn queue_ready(&mut self, now: Instant, cfg: &HostConfig, qi: Option<usize>) {
        match qi {
            None => self.step(now, cfg, BringUpStep::ReadCap),
            Some(i) => {
                if let Some(q) = self.io.get_mut(i) {
                    q.connected = true;
                }
                if self.io.iter().all(|q| q.connected) {
                    self.after_io_queues(now, cfg);
                }
            }
        }
    }

    fn exchange(&mut self, qi: Option<usize>) -> Option<&mut Box<HostExchange>> {
        match qi {
            None => self.admin_auth.as_mut(),
            Some(i) => self.io.get_mut(i)?.auth.as_mut(),
        }
    }

    fn qid(qi: Option<usize>) -> u16 {
        qi.map_or(0, |i| (i + 1) as u16)
    }

    /// Starts queue `qi`'s transaction (`None`: the admin queue).
    fn start_auth(&mut self, now: Instant, cfg: &HostConfig, qi: Option<usize>) {
        let Some(a) = self.auth.as_mut() else { return };
        let t_id = a.next_tid;
        a.next_tid = a.next_tid.wrapping_add(1);
        let ex = Box::new(HostExchange::new(now, a.creds.clone(), t_id, a.nonces.host_nonces()));
        match qi {
            None => self.admin_auth = Some(ex),
            Some(i) => {
                if let Some(q) = self.io.get_mut(i) {
                    q.auth = Some(ex);
                }
            }
        }
        self.pump_auth(now, cfg, qi);
    }

    /// Issues the next command of queue `qi`'s transaction, or acts on its end.
    fn pump_auth(&mut self, now: Instant, cfg: &HostConfig, qi: Option<usize>) {
        let mut buf = [0u8; MAX_REPLY_LEN];
        let Some(ex) = self.exchange(qi) else { return };
        let command = ex.poll_command(now, &mut buf);
        let outcome = ex.outcome();
        let qid = Self::qid(qi);
        let (sqe, data, send) = match command {
            Ok(Some(HostCommand::Send { len })) => {
                let Ok(tl) = u32::try_from(len) else { return };
                (Authentication::dhchap_send(tl).to_sqe(0), DataOut::Write(Arc::from(&buf[..len])), true)
            }
            Ok(Some(HostCommand::Receive { al })) => {
                (Authentication::dhchap_receive(al).to_sqe(0), DataOut::Read(al as usize), false)
            }
            // Our own message does not fit MAX_REPLY_LEN: not reachable; refuse rather than guess.
            Err(_) => return self.fail(PathFailure::Authentication { qid, failure: AuthFailure::CommandFailed }),
            Ok(None) => {
                match outcome {
                    Some(Ok(_)) => {
                        self.clear_exchange(qi);
                        self.queue_ready(now, cfg, qi);
                    }
                    Some(Err(failure)) => self.fail(PathFailure::Authentication { qid, failure }),
                    None => {}
                }
                return;
            }
        };
        let tag = self.tag(Purpose::Auth { send });
        let queue = match qi {
            None => &mut self.admin.q,
            Some(i) => match self.io.get_mut(i) {
                Some(q) => &mut q.hc.q,
                None => return,
            },
        };
        if queue.submit(sqe, data, tag, None).is_err() {
            self.purposes.remove(&tag);
            self.fail(PathFailure::Refused(RefusedReason::QueueFull));
        }
    }

    fn clear_exchange(&mut self, qi: Option<usize>) {
        match qi {
            None => self.admin_auth = None,
            Some(i) => {
                if let Some(q) = self.io.get_mut(i) {
                    q.auth = None;
                }
            }
        }
    }

    /// An Authentication command of queue `qi` completed.
    fn auth_completion(
        &mut self,
        now: Instant,
        cfg: &HostConfig,
        qi: Option<usize>,
        send: bool,
        cqe: &Cqe,
        data: &[u8],
    ) {
        let Some(ex) = self.exchange(qi) else { return };
        if !cqe.status.is_success() {
            ex.handle_command_failed(now);
        } else if send {
            ex.handle_send_complete(now);
        } else {
            ex.handle_receive_complete(now, data);
        }
        self.pump_auth(now, cfg, qi);
    }

    fn bring_up(&mut self, now: Instant, cfg: &HostConfig, step: BringUpStep, cqe: Cqe, data: Vec<u8>) {
        if !cqe.status.is_success() {
            // Optional steps the Linux host tolerates: the namespace descriptors.
            if step != BringUpStep::NamespaceDescriptors {
                return self.fail(PathFailure::BringUpStatus { step, status: cqe.status });
            }
        }
        let prop = u64::from(cqe.dw0) | u64::from(cqe.dw1) << 32;
        match step {
            BringUpStep::Connect => {
                let resp = ConnectResponse::from_dw0(cqe.dw0);
                self.cntlid = resp.cntlid;
                match self.auth_asked(resp) {
                    Err(f) => self.fail(f),
                    Ok(true) => self.start_auth(now, cfg, None),
                    Ok(false) => self.step(now, cfg, BringUpStep::ReadCap),
                }
            }
            BringUpStep::ReadCap => {
                let cap = Cap::from_u64(prop);
                self.csts_until = Some(now + cap.timeout().max(Duration::from_millis(500)));
                self.page = 4096usize << cap.mpsmin.min(8);
                self.step(now, cfg, BringUpStep::Enable);
            }
            BringUpStep::Enable => self.step(now, cfg, BringUpStep::WaitReady),
            BringUpStep::WaitReady => {
                let csts = Csts::from_u32(cqe.dw0);
                if csts.cfs {
                    return self.fail(PathFailure::Refused(RefusedReason::ControllerFatal));
                }
                if csts.rdy {
                    self.step(now, cfg, BringUpStep::ReadVersion);
                } else if self.csts_until.is_some_and(|u| now >= u) {
                    self.fail(PathFailure::Refused(RefusedReason::NotReady));
                } else {
                    self.csts_at = Some(now + CSTS_POLL);
                }
            }
            BringUpStep::ReadVersion => self.step(now, cfg, BringUpStep::IdentifyController),
            BringUpStep::IdentifyController => {
                let id = match IdentifyController::parse(&data) {
                    Ok(id) => id,
                    Err(_) => return self.fail(PathFailure::Refused(RefusedReason::BadIdentify)),
                };
                let refuse = if id.cntlid != self.cntlid {
                    Some(RefusedReason::CntlidMismatch)
                } else if id.kas == 0 {
                    Some(RefusedReason::NoKeepAlive)
                } else if id.icdoff != 0 {
                    Some(RefusedReason::InCapsuleOffset)
                } else if id.sgls & 0b11 == 0 {
                    Some(RefusedReason::NoSgl)
                } else {
                    None
                };
                if let Some(r) = refuse {
                    return self.fail(PathFailure::Refused(r));
                }
                self.facts = Some(ControllerFacts::from_identify(&id, cfg.kato));
                if id.mdts != 0 {
                    // MDTS counts CAP.MPSMIN pages.
                    self.max_transfer = self.max_transfer.min(self.page << id.mdts.min(20));
                }
                self.id_ctrl = Some(IdentifyInfo { ioccsz: id.ioccsz, maxcmd: id.maxcmd, oaes: id.oaes });
                self.step(now, cfg, BringUpStep::NumberOfQueues);
            }
            BringUpStep::NumberOfQueues => {
                let granted = NumberOfQueues::from_dword(cqe.dw0).pairs().min(u32::from(cfg.io_queues.max(1))) as u16;
                if granted == 0 {
                    return self.fail(PathFailure::Refused(RefusedReason::NoIoQueues));
                }
                self.stage = Stage::BringUp(BringUpStep::IoQueues);
                let in_capsule = self.id_ctrl.map_or(0, |i| (i.ioccsz as usize * 16).saturating_sub(64));
                let depth = self.io_depth(cfg);
                let deadline = self.deadline.unwrap_or(now + cfg.connect_timeout);
                for _ in 0..granted {
                    let conn = ConnId(u64::MAX); // replaced by the owner's id when it opens the connection
                    let lim = limits(cfg, depth, in_capsule.min(cfg.max_data_pdu as usize), self.max_transfer);
                    self.io.push(IoQueue {
                        conn,
                        hc: HostConn::new(0, (cfg.digests.header, cfg.digests.data), lim, deadline),
                        connected: false,
                        auth: None,
                    });
                }
                for (i, q) in self.io.iter_mut().enumerate() {
                    q.hc.q.qid = (i + 1) as u16;
                }
                self.opens.extend(core::iter::repeat_n(ConnId(u64::MAX), usize::from(granted)));
            }
            BringUpStep::IoQueues => {}
            BringUpStep::EventConfig => {
                self.admin_cmd(AsyncEventRequest.to_sqe(0), DataOut::None, Purpose::Aer, None);
                self.step(now, cfg, BringUpStep::NamespaceList);
            }
            BringUpStep::NamespaceList => {
                let first = NamespaceList::new_checked(&data).ok().and_then(|l| l.iter().next());
                let Some(nsid) = first else {
                    return self.fail(PathFailure::Refused(RefusedReason::NoNamespace));
                };
                self.nsid = nsid;
                self.step(now, cfg, BringUpStep::NamespaceDescriptors);
            }
            BringUpStep::NamespaceDescriptors => self.step(now, cfg, BringUpStep::IdentifyNamespace),
            BringUpStep::IdentifyNamespace => {
                let ns = IdentifyNamespace::parse(&data).ok().and_then(|id| {
                    let bs = id.format().block_size()?;
                    Some(NsInfo { nsid: self.nsid, block_size: bs, blocks: id.nsze })
                });
                let Some(ns) = ns.filter(|n| n.blocks > 0) else {
                    return self.fail(PathFailure::Refused(RefusedReason::NoNamespace));
                };
                self.ns = Some(ns);
                self.stage = Stage::Live;
                self.deadline = None;
                let tbkas = self.facts.is_some_and(|f| f.tbkas);
                if !cfg.kato.is_zero() {
                    let period = if tbkas { cfg.kato / 4 } else { cfg.kato / 2 };
                    self.ka_period = Some(period);
                    self.ka_next = Some(now + period);
                }
                self.out.push_back(AssocOut::Live);
            }
            BringUpStep::IcExchange => {}
        }
    }

    fn after_io_queues(&mut self, now: Instant, cfg: &HostConfig) {
        let oaes = self.id_ctrl.map_or(0, |i| i.oaes);
        if oaes & OAES_CCRCN != 0 {
            self.step(now, cfg, BringUpStep::EventConfig);
        } else {
            self.admin_cmd(AsyncEventRequest.to_sqe(0), DataOut::None, Purpose::Aer, None);
            self.step(now, cfg, BringUpStep::NamespaceList);
        }
    }

    /// The owner opened the connections of `opens` in order and named them: records their ids.
    pub(crate) fn name_io_conns(&mut self, ids: &[ConnId]) {
        let unnamed = self.io.iter_mut().filter(|q| q.conn == ConnId(u64::MAX));
        for (q, &id) in unnamed.zip(ids) {
            q.conn = id;
        }
    }

    /// Sends an admin command for the owner (CCR, log read, passthrough); `tag` comes back in
    /// [`AssocOut::Completed`]. False when the admin queue is full.
    pub(crate) fn owner_admin(&mut self, sqe: Sqe, data: DataOut, tag: u64, deadline: Option<Instant>) -> bool {
        self.stage == Stage::Live && self.admin_cmd(sqe, data, Purpose::Owner(tag), deadline)
    }

    /// An I/O queue with room, round robin. Returns its index.
    pub(crate) fn pick_io(&mut self) -> Option<usize> {
        if self.stage != Stage::Live {
            return None;
        }
        let n = self.io.len();
        for k in 0..n {
            let i = (self.rr + k) % n;
            if self.io[i].hc.q.has_room() {
                self.rr = (i + 1) % n;
                return Some(i);
            }
        }
        None
    }

    /// The next deadline: bring-up, CSTS polls, keep alive, command timeouts, IC exchanges.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        if self.stage == Stage::Closed {
            // Nothing is due on a closed association ([`Assoc::handle_timeout`] does nothing): its connections' IC
            // and command deadlines must not keep the owner's timer at a past instant.
            return None;
        }
        let admin_auth = self.admin_auth.as_ref().and_then(|a| a.poll_timeout());
        let mut t = [self.deadline, self.csts_at, self.ka_next, self.admin.q.next_deadline(), admin_auth]
            .into_iter()
            .flatten()
            .min();
        for q in &self.io {
            for d in [q.hc.q.next_deadline(), q.auth.as_ref().and_then(|a| a.poll_timeout())].into_iter().flatten() {
                t = Some(t.map_or(d, |x| x.min(d)));
            }
        }
        t
    }

    /// Fires what is due at `now`.
    pub(crate) fn handle_timeout(&mut self, now: Instant, cfg: &HostConfig) {
        if matches!(self.stage, Stage::Closed) {
            return;
        }
        if self.deadline.is_some_and(|d| d <= now) {
            let cause = match self.stage {
                Stage::Disconnecting => {
                    self.close_all(CloseCause::Local);
                    self.out.push_back(AssocOut::Disconnected);
                    return;
                }
                _ => PathFailure::ConnectTimeout,
            };
            return self.fail(cause);
        }
        if let Some(op) = self.admin.q.timed_out(now) {
            let f = if op == KeepAlive.to_sqe(0).opcode {
                PathFailure::KeepAliveTimeout
            } else {
                PathFailure::CommandTimeout { qid: 0, opcode: op }
            };
            return self.fail(f);
        }
        for q in &mut self.io {
            if let Some(op) = q.hc.q.timed_out(now) {
                let qid = q.hc.q.qid;
                return self.fail(PathFailure::CommandTimeout { qid, opcode: op });
            }
        }
        for qi in core::iter::once(None).chain((0..self.io.len()).map(Some)) {
            let Some(ex) = self.exchange(qi) else { continue };
            ex.handle_timeout(now);
            if let Some(Err(failure)) = ex.outcome() {
                return self.fail(PathFailure::Authentication { qid: Self::qid(qi), failure });
            }
        }
        if self.csts_at.is_some_and(|t| t <= now) {
            self.csts_at = None;
            let purpose = if self.stage == Stage::Disconnecting {
                Purpose::ShutdownPoll
            } else {
                Purpose::BringUp(BringUpStep::WaitReady)
            };
            self.admin_cmd(PropertyGet::new(PropertyOffset::CSTS).to_sqe(0), DataOut::None, purpose, None);
        }
        if self.stage == Stage::Live
            && let (Some(next), Some(period)) = (self.ka_next, self.ka_period)
            && next <= now
        {
            self.ka_next = Some(now + period);
            // A Keep Alive without completion after KATO fails the association.
            self.admin_cmd(KeepAlive.to_sqe(0), DataOut::None, Purpose::KeepAlive, Some(now + cfg.kato));
        }
    }

    /// Fails the association for `cause`: every connection closes.
    pub(crate) fn fail(&mut self, cause: PathFailure) {
        if matches!(self.stage, Stage::Closed) {
            return;
        }
        let close = match cause {
            PathFailure::Closed(c) => c,
            _ => CloseCause::Local,
        };
        self.close_all(close);
        self.out.push_back(AssocOut::Failed(cause));
    }

    /// Connection `conn` ended for `cause` (the peer closed it, a TermReq came, or it broke the protocol and our
    /// TermReq is queued): the association fails with that cause. Its other connections close as
    /// [`CloseCause::Local`]: nothing went wrong on them, and no TermReq is sent there.
    pub(crate) fn conn_failed(&mut self, conn: ConnId, cause: CloseCause) {
        if matches!(self.stage, Stage::Closed) {
            return;
        }
        if let Some(hc) = self.conn_mut(conn)
            && hc.q.closing.is_none()
        {
            hc.q.closing = Some(cause);
            self.closes.push_back((conn, cause));
        }
        self.close_all(CloseCause::Local);
        self.out.push_back(AssocOut::Failed(PathFailure::Closed(cause)));
    }

    fn close_all(&mut self, cause: CloseCause) {
        self.stage = Stage::Closed;
        self.deadline = None;
        self.csts_at = None;
        self.ka_next = None;
        let conns: Vec<ConnId> = self.conns().collect();
        for c in conns {
            if let Some(hc) = self.conn_mut(c)
                && hc.q.closing.is_none()
            {
                hc.q.closing = Some(cause);
                self.closes.push_back((c, cause));
            }
        }
    }

    /// Tags of the owner's commands outstanding on every queue (they end with the association).
    pub(crate) fn drain_owner_tags(&mut self) -> Vec<u64> {
        let mut tags: Vec<u64> = Vec::new();
        for t in self.admin.q.drain() {
            if let Some(Purpose::Owner(o)) = self.purposes.remove(&t) {
                tags.push(o);
            }
        }
        for q in &mut self.io {
            tags.extend(q.hc.q.drain());
        }
        self.purposes.clear();
        tags
    }

    /// Starts the orderly disconnect: I/O queues close, CC.SHN = normal on the admin queue, CSTS.SHST polled until
    /// shutdown is complete (or `timeout`), then the admin queue closes.
    pub(crate) fn disconnect(&mut self, now: Instant, timeout: Duration) {
        if self.stage != Stage::Live {
            self.close_all(CloseCause::Local);
            self.out.push_back(AssocOut::Disconnected);
            return;
        }
        self.stage = Stage::Disconnecting;
        self.ka_next = None;
        for q in &mut self.io {
            if q.hc.q.closing.is_none() {
                q.hc.q.closing = Some(CloseCause::Local);
                self.closes.push_back((q.conn, CloseCause::Local));
            }
        }
        self.deadline = Some(now + timeout);
        self.csts_until = Some(now + timeout);
        let cc = Cc { shn: 1, ..Cc::ENABLE };
        self.admin_cmd(PropertySet::cc(cc).to_sqe(0), DataOut::None, Purpose::Shutdown, None);
    }

    /// A connection's input: completions and failures go to `out`.
    pub(crate) fn handle_input(&mut self, now: Instant, cfg: &HostConfig, conn: ConnId, input: &[u8]) -> usize {
        let mut used = 0;
        loop {
            let Some(hc) = self.conn_mut(conn) else { return input.len() };
            let (n, ev) = hc.read(&input[used..]);
            used += n;
            match ev {
                None => return used,
                Some(HostInput::Ready) => self.handle_ready(now, cfg, conn),
                Some(HostInput::Completed { tag, cqe, data }) => self.handle_completion(now, cfg, conn, tag, cqe, data),
                Some(HostInput::Close(cause)) => {
                    if self.stage == Stage::Disconnecting && conn != self.admin_conn {
                        continue;
                    }
                    self.conn_failed(conn, cause);
                    return input.len();
                }
            }
            if used >= input.len() {
                return used;
            }
        }
    }
}

/// The 1024-byte Connect data of this host.
fn connect_data(cfg: &HostConfig, cntlid: u16) -> Arc<[u8]> {
    let mut buf = alloc::vec![0u8; ConnectData::LEN];
    let cd = ConnectData { hostid: cfg.hostid, cntlid, subnqn: &cfg.subnqn, hostnqn: &cfg.hostnqn };
    // The NQNs were checked by HostConfig::check, so this cannot fail; an empty capsule would be refused anyway.
    let _ = cd.emit(&mut buf);
    buf.into()
}
