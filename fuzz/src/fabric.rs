//! Harnesses of the `fabric_controller` and `fabric_host` targets: arbitrary bytes, in arbitrary chunks, fed to one
//! connection of nvme-fabric's `Subsystem` (after accept, optionally after a valid IC and Connect so the fuzzer
//! starts deep) or of its `Host` (raw from the ICReq, after a valid ICResp, or on the admin or an I/O queue of a live
//! association brought up against a real `Subsystem`), with time moving between chunks.
//!
//! Checked, besides "no panic":
//! * every byte the model sends decodes as a valid PDU (nvme-proto's deframer, the receiving role);
//! * memory within the declared bounds, from the model's own accounting (`conn_usage`): the receive buffer within
//!   the PLEN ceiling, commands within the queue depth, output and write buffers within the output limit plus one
//!   transfer (controller), and nothing left queued once the runtime has read everything;
//! * bad input ends in an orderly close: when nvme-proto's deframer (the reference, run over the same bytes with the
//!   loosest ceiling) finds a fatal error in input the model took whole, the model has closed the connection; a
//!   close for a protocol error has sent, last, a TermReq with the FES and FEI it names (FES 0x02 for a queue
//!   overflow);
//! * the host ends every command: with every new connection refused, after enough time every submitted command has
//!   completed or failed, and each exactly once.
//!
//! This file is shared by the cargo-fuzz targets and by the stable replay test `nvme-fabric/tests/fuzz_corpus.rs`
//! (included with `#[path]`), so it uses nothing but nvme-fabric, nvme-proto, nvme-ccr and `std`.
//!
//! Input layout: [`SETUP_LEN`] setup bytes, then the stream. Byte 0: bits 1:0 the starting point, bit 2 header
//! digest, bit 3 data digest, bit 4 (controller) the peer never reads its output / (host) I/O submitted first,
//! bit 5 media answers only at the end, bits 7:6 a configuration. Byte 1: bits 2:0 the chunk size, bits 4:3 the time
//! step between chunks, bits 6:5 a fault armed (controller) or the policy (host). Byte 2: the seed of CIU/CIRN
//! (controller) and, bit 0, KATO on (1 s) or off.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use nvme_ccr::{Config, Policy};
use nvme_fabric::Instant;
use nvme_fabric::conn::{CloseCause, ConnEvent, ConnId, PDU_OVERHEAD};
use nvme_fabric::controller::{
    ADMIN_IN_CAPSULE, Fault, FaultAction, FaultTarget, MediaKind, Subsystem, SubsystemConfig,
};
use nvme_fabric::host::{Host, HostConfig, Io, IoId};
use nvme_fabric::loopback::Loopback;
use nvme_proto::cmd::{Connect, ConnectData, SglDescriptor};
use nvme_proto::tcp::{CapsuleCmd, ConnState, Decoded, Deframer, Fes, IcReq, IcResp, Params, Pdu, Role};

/// Setup bytes at the start of an input.
pub const SETUP_LEN: usize = 3;

/// Chunk sizes (byte 1, bits 2:0).
const CHUNKS: [usize; 8] = [1, 2, 7, 24, 72, 512, 4096, usize::MAX];
/// Time steps between chunks, milliseconds (byte 1, bits 4:3).
const STEPS_MS: [u64; 4] = [0, 1, 100, 1000];

/// The subsystem's NQN.
pub const NQN: &str = "nqn.2026-12.io.example:fuzz";
/// The host's NQN.
pub const HOSTNQN: &str = "nqn.2014-08.org.nvmexpress:uuid:fuzz";
/// The host's identifier.
pub const HOSTID: [u8; 16] = [0x5A; 16];

/// The starting point of a controller input (byte 0, bits 1:0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControllerStart {
    /// Right after accept: the input must begin with an ICReq.
    Accepted,
    /// After a valid ICReq.
    AfterIc,
    /// After a valid ICReq and admin Connect: the admin queue of controller 1.
    Admin,
    /// After a valid ICReq and I/O Connect (QID 1) to controller 1, whose admin queue is another connection.
    Io,
}

/// The configurations of the controller target (byte 0, bits 7:6).
pub fn controller_config(variant: u8) -> SubsystemConfig {
    let mut c = SubsystemConfig::new(NQN);
    c.namespace.blocks = 256;
    c.queue_depth = 16;
    c.ic_timeout = Duration::from_secs(1);
    c.connect_timeout = Duration::from_secs(1);
    c.event_capacity = 64;
    match variant & 3 {
        // Small everything: the bounds are reached with short inputs.
        0 => {
            c.mdts = 1;
            c.output_limit = 32 * 1024;
            c.maxh2cdata = 4096;
            c.max_data_pdu = 4096;
            c.io_in_capsule = 4096;
        }
        // The defaults' sizes (1 MiB transfers, 4 MiB of output).
        1 => c.queue_depth = 128,
        // IRS mode, fail-ccr, no TBKAS, a CQT.
        2 => {
            c.mdts = 2;
            c.output_limit = 64 * 1024;
            c.irs = true;
            c.fail_ccr = true;
            c.tbkas = false;
            c.cqt = nvme_proto::cmd::Cqt::from_raw(100);
        }
        // Queue depth 2, one media operation at a time, a slow teardown, no-ccr.
        _ => {
            c.queue_depth = 2;
            c.media_concurrency = 1;
            c.teardown_time = Duration::from_millis(100);
            c.no_ccr = true;
            c.io_in_capsule = 0;
        }
    }
    c
}

/// The bytes that bring a fresh connection to `start`: its ICReq and Connect (to controller 1 for an I/O queue), with
/// SQSIZE 7 or less to fit `cfg`'s queue depth.
pub fn controller_prefix(start: ControllerStart, hd: bool, dd: bool, kato_ms: u32, cfg: &SubsystemConfig) -> Vec<u8> {
    let maxh2cdata = cfg.maxh2cdata;
    let sqsize = 7.min(cfg.queue_depth - 1);
    let req = IcReq { hpda: 0, header_digest: hd, data_digest: dd, maxr2t: 0 };
    let mut out = encode(&Pdu::IcReq(req), &Params::default());
    let params = Params { header_digest: hd, data_digest: dd, maxh2cdata, ..Params::default() };
    let connect = match start {
        ControllerStart::Accepted | ControllerStart::AfterIc => {
            return if start == ControllerStart::Accepted { Vec::new() } else { out };
        }
        ControllerStart::Admin => (Connect { sqsize, ..Connect::admin(kato_ms) }, 0xFFFF),
        ControllerStart::Io => (Connect::io(1, sqsize), 1),
    };
    out.extend(connect_capsule(&connect.0, connect.1, 0, &params));
    out
}

/// A Connect capsule of our host for `cntlid`, with CID `cid`.
pub fn connect_capsule(connect: &Connect, cntlid: u16, cid: u16, params: &Params) -> Vec<u8> {
    let mut data = vec![0u8; ConnectData::LEN];
    let cd = ConnectData { hostid: HOSTID, cntlid, subnqn: NQN, hostnqn: HOSTNQN };
    cd.emit(&mut data).expect("valid Connect data");
    let mut sqe = connect.to_sqe(cid);
    sqe.dptr = SglDescriptor::in_capsule(0, ConnectData::LEN as u32);
    encode(&Pdu::CapsuleCmd(CapsuleCmd { sqe: sqe.to_bytes(), data: &data }), params)
}

/// `pdu` encoded under `params`.
pub fn encode(pdu: &Pdu<'_>, params: &Params) -> Vec<u8> {
    let mut buf = vec![0u8; pdu.buffer_len(params)];
    let n = pdu.emit(params, &mut buf).expect("encodable");
    buf.truncate(n);
    buf
}

/// What one end received from the model on one connection, decoded as it arrives.
struct Watch {
    de: Deframer,
    rx: Vec<u8>,
    /// The last PDU: its type, and for a TermReq its FES and FEI.
    last: Option<(u8, Option<(Fes, u32)>)>,
    /// HPDA this end asked for (the controller pads to it).
    hpda: u8,
}

impl Watch {
    fn new(receiver: Role, established: Option<Params>) -> Watch {
        let de = match established {
            Some(p) => Deframer::established(receiver, p),
            None => Deframer::new(receiver),
        };
        Watch { de, rx: Vec::new(), last: None, hpda: 0 }
    }

    /// Bytes the model sent: each PDU must decode.
    fn feed(&mut self, bytes: &[u8]) {
        self.rx.extend_from_slice(bytes);
        loop {
            if self.rx.is_empty() {
                return;
            }
            assert!(
                self.de.state() != ConnState::Closed,
                "bytes sent after a TermReq: {:02x?}",
                &self.rx[..8.min(self.rx.len())]
            );
            match self.de.decode(&self.rx) {
                Ok(Decoded::Need(_)) => return,
                Ok(Decoded::Pdu { pdu, consumed }) => {
                    let term = match pdu {
                        Pdu::TermReq(t) => Some((t.fes, t.fei)),
                        _ => None,
                    };
                    if let Pdu::IcResp(r) = pdu {
                        // What the controller granted, with the HPDA asked for.
                        let p = Params {
                            header_digest: r.header_digest,
                            data_digest: r.data_digest,
                            hpda: self.hpda,
                            cpda: r.cpda,
                            maxh2cdata: r.maxh2cdata,
                            ..Params::default()
                        };
                        self.de.set_params(p);
                    }
                    self.last = Some((pdu.pdu_type().0, term));
                    self.rx.drain(..consumed);
                }
                Err(e) => panic!("the model sent a bad PDU: {e}"),
            }
        }
    }

    /// After a close for `cause`: the TermReq it calls for was the last PDU.
    fn check_close(&self, cause: CloseCause) {
        assert!(self.rx.is_empty(), "a partial PDU was sent before the close");
        let want = match cause {
            CloseCause::ProtocolError { fes: Some(fes), fei } => Some((fes, fei)),
            CloseCause::QueueOverflow => Some((Fes::PDU_SEQUENCE_ERROR, 0)),
            _ => None,
        };
        if let Some(want) = want {
            assert_eq!(self.last.and_then(|(_, t)| t), Some(want), "close for {cause:?} without its TermReq last");
        }
    }
}

/// Whether nvme-proto's deframer, as `receiver`, finds a fatal error in `stream` (ceiling `max_plen`). After an IC
/// PDU in the stream, the parameters are negotiated as the model does: a controller grants the ICReq's digests with
/// `maxh2cdata`; a host asked with `host_req`. `established`: the connection is past its IC exchange already.
fn reference_fatal(
    receiver: Role,
    stream: &[u8],
    established: Option<Params>,
    max_plen: u32,
    maxh2cdata: u32,
    host_req: IcReq,
) -> bool {
    let mut de = match established {
        Some(p) => Deframer::established(receiver, p),
        None => Deframer::new(receiver),
    }
    .with_max_plen(max_plen);
    let mut at = 0;
    while at < stream.len() {
        match de.decode(&stream[at..]) {
            Ok(Decoded::Need(_)) => return false,
            Ok(Decoded::Pdu { pdu, consumed }) => {
                match pdu {
                    Pdu::IcReq(req) => {
                        let resp = IcResp {
                            cpda: 0,
                            header_digest: req.header_digest,
                            data_digest: req.data_digest,
                            maxh2cdata,
                        };
                        match Params::from_ic(&req, &resp) {
                            Ok(p) => de.set_params(p),
                            Err(_) => return true,
                        }
                    }
                    Pdu::IcResp(resp) => match Params::from_ic(&host_req, &resp) {
                        Ok(p) => de.set_params(p),
                        Err(_) => return true,
                    },
                    Pdu::TermReq(_) => return true,
                    _ => {}
                }
                at += consumed;
            }
            Err(e) if e.is_fatal() => {
                if std::env::var_os("NVME_FUZZ_TRACE").is_some() {
                    eprintln!("reference: {e} at {at} ({:02x?})", &stream[at..stream.len().min(at + 24)]);
                }
                return true;
            }
            Err(e) => at += e.consumed().unwrap_or(stream.len()),
        }
    }
    false
}

// ---------------------------------------------------------------------------------------------------------------
// The controller

/// The runtime around a subsystem for one fuzz input.
struct CtrlRun {
    sub: Subsystem,
    cfg: SubsystemConfig,
    now: Instant,
    watch: BTreeMap<ConnId, Watch>,
    closed: BTreeMap<ConnId, CloseCause>,
    /// Connections whose output is never read.
    stalled: BTreeSet<ConnId>,
    /// Connections a fault froze.
    frozen: BTreeSet<ConnId>,
    hold_media: bool,
    held: Vec<nvme_fabric::controller::MediaRequest>,
    media: Vec<u8>,
}

impl CtrlRun {
    fn drain(&mut self) {
        let mut buf = vec![0u8; self.cfg.transmit_buffer_len()];
        for _ in 0..10_000 {
            let mut progress = false;
            while let Some(ev) = self.sub.poll_conn_event() {
                progress = true;
                match ev {
                    ConnEvent::Transmit(c) if !self.stalled.contains(&c) => self.transmit(c, &mut buf),
                    // A frozen connection delivers nothing either way from now on.
                    ConnEvent::Freeze(c) => {
                        self.frozen.insert(c);
                    }
                    ConnEvent::Transmit(_) | ConnEvent::Resume(_) => {}
                    ConnEvent::Close(c, cause) => {
                        self.transmit(c, &mut buf);
                        if let Some(w) = self.watch.get(&c) {
                            w.check_close(cause);
                        }
                        self.closed.insert(c, cause);
                        self.sub.handle_closed(self.now, c);
                        assert!(self.sub.conn_usage(c).is_none(), "forgotten once closed");
                    }
                }
            }
            while let Some(req) = self.sub.poll_media() {
                progress = true;
                if self.hold_media {
                    self.held.push(req);
                } else {
                    self.run_media(req);
                }
            }
            while self.sub.poll_event().is_some() {
                progress = true;
            }
            if !progress {
                return;
            }
        }
        panic!("the subsystem never settled");
    }

    fn transmit(&mut self, c: ConnId, buf: &mut [u8]) {
        loop {
            let n = self.sub.poll_transmit(self.now, c, buf).expect("transmit_buffer_len suffices");
            if n == 0 {
                break;
            }
            if let Some(w) = self.watch.get_mut(&c) {
                w.feed(&buf[..n]);
            }
        }
    }

    fn run_media(&mut self, req: nvme_fabric::controller::MediaRequest) {
        let at = req.slba as usize * self.cfg.namespace.block_size as usize;
        let range = at..at + req.len;
        match req.kind {
            MediaKind::Read => {
                let src = self.media[range].to_vec();
                self.sub.media_buffer(req.id).expect("a started read").copy_from_slice(&src);
            }
            MediaKind::Write => {
                let d = self.sub.media_data(req.id).expect("a started write").to_vec();
                self.media[range].copy_from_slice(&d);
            }
            MediaKind::Flush => {}
        }
        self.sub.handle_media_done(self.now, req.id, Ok(()));
    }

    /// Feeds `input` to `c` in chunks of `chunk`, time moving `step` after each; returns the bytes taken.
    fn feed(&mut self, c: ConnId, input: &[u8], chunk: usize, step: Duration) -> usize {
        let mut at = 0;
        let mut idle = 0;
        while at < input.len() && !self.closed.contains_key(&c) {
            let end = input.len().min(at.saturating_add(chunk));
            let n = self.sub.handle_input(self.now, c, &input[at..end]);
            assert!(n <= end - at, "took more than given");
            at += n;
            self.drain();
            self.check_bounds(c);
            if n == 0 {
                // Backpressure (output not read) or a frozen connection: time may still change things.
                idle += 1;
                if idle > 3 {
                    break;
                }
            } else {
                idle = 0;
            }
            self.advance(step);
        }
        at
    }

    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        let mut rounds = 0;
        while let Some(t) = self.sub.poll_timeout() {
            if t > end {
                break;
            }
            rounds += 1;
            assert!(rounds < 100_000, "a timer that handle_timeout does not move: {t:?}");
            self.now = t.max(self.now);
            self.sub.handle_timeout(self.now);
            self.drain();
        }
        self.now = end;
        self.sub.handle_timeout(self.now);
        self.drain();
    }

    /// The bounds of the controller module's docs, from its own accounting.
    fn check_bounds(&self, c: ConnId) {
        let Some(u) = self.sub.conn_usage(c) else { return };
        let cfg = &self.cfg;
        let ceiling = (ADMIN_IN_CAPSULE.max(cfg.io_in_capsule).max(cfg.maxh2cdata)) as usize + PDU_OVERHEAD;
        assert!(u.receive <= ceiling, "receive buffer {} over the PLEN ceiling {ceiling}", u.receive);
        assert!(u.commands <= usize::from(cfg.queue_depth), "{} commands, depth {}", u.commands, cfg.queue_depth);
        let transfer = cfg.max_transfer();
        let pdus = transfer.div_ceil(cfg.max_data_pdu as usize) + 2;
        let one = transfer + pdus * PDU_OVERHEAD + 1024;
        let output_bound = cfg.output_limit + cfg.output_limit / 8 + one;
        assert!(u.output + u.reads <= output_bound, "output {} + reads {} over {output_bound}", u.output, u.reads);
        // Input stops while write buffers are over the limit: one more command may add one transfer or one
        // in-capsule write.
        let write_bound = cfg.output_limit + transfer.max(cfg.io_in_capsule as usize);
        assert!(u.writes <= write_bound, "write buffers {} over {write_bound}", u.writes);
        if !self.stalled.contains(&c) && !self.frozen.contains(&c) {
            assert_eq!(u.output, 0, "output left after the runtime read everything");
        }
    }
}

/// `fabric_controller`: see the module docs.
pub fn fabric_controller(data: &[u8]) {
    let Some((&[b0, b1, b2], stream)) = data.split_first_chunk::<SETUP_LEN>() else { return };
    let start = [ControllerStart::Accepted, ControllerStart::AfterIc, ControllerStart::Admin, ControllerStart::Io]
        [usize::from(b0 & 3)];
    let (hd, dd) = (b0 & 4 != 0, b0 & 8 != 0);
    let cfg = controller_config(b0 >> 6);
    let chunk = CHUNKS[usize::from(b1 & 7)];
    let step = Duration::from_millis(STEPS_MS[usize::from((b1 >> 3) & 3)]);
    let kato_ms = if b2 & 1 != 0 { 1000 } else { 0 };
    let media = vec![0u8; cfg.namespace.blocks as usize * cfg.namespace.block_size as usize];
    let mut r = CtrlRun {
        sub: Subsystem::new(cfg.clone(), u64::from(b2)).expect("a valid configuration"),
        cfg: cfg.clone(),
        now: Instant::ZERO,
        watch: BTreeMap::new(),
        closed: BTreeMap::new(),
        stalled: BTreeSet::new(),
        frozen: BTreeSet::new(),
        hold_media: b0 & 0x20 != 0,
        held: Vec::new(),
        media,
    };
    if start == ControllerStart::Io {
        // Controller 1's admin queue, on its own connection.
        let a = r.sub.accept(r.now).expect("room");
        r.watch.insert(a, Watch::new(Role::Host, None));
        let prefix = controller_prefix(ControllerStart::Admin, false, false, kato_ms, &cfg);
        assert_eq!(r.sub.handle_input(r.now, a, &prefix), prefix.len());
        r.drain();
        assert_eq!(r.sub.conn_controller(a), Some(1), "{:?} {:?}", r.closed, r.watch[&a].last);
    }
    let faults = [
        None,
        Some(Fault { opcode: 1, delay: Duration::from_millis(50), action: FaultAction::Fatal }),
        Some(Fault { opcode: 1, delay: Duration::from_millis(50), action: FaultAction::Freeze }),
        Some(Fault { opcode: 2, delay: Duration::from_millis(500), action: FaultAction::Fatal }),
    ];
    if let Some(f) = faults[usize::from((b1 >> 5) & 3)] {
        r.sub.arm_fault(FaultTarget::FirstLive, f).expect("room for a fault");
    }
    let c = r.sub.accept(r.now).expect("room");
    r.watch.insert(c, Watch::new(Role::Host, None));
    if b0 & 0x10 != 0 {
        r.stalled.insert(c);
    }
    let mut input = controller_prefix(start, hd, dd, kato_ms, &cfg);
    let prefix_len = input.len();
    input.extend_from_slice(stream);
    if let Some(w) = r.watch.get_mut(&c)
        && let Ok(req) = IcReq::parse(input.get(..128).unwrap_or(&[]))
    {
        w.hpda = req.hpda;
    }
    let taken = r.feed(c, &input, chunk, step);
    if !r.closed.contains_key(&c) && taken == input.len() && r.sub.conn_usage(c).is_some() {
        // nvme-proto's deframer as the reference: input with a fatal error, taken whole, closed the connection.
        let ceiling = ADMIN_IN_CAPSULE.max(cfg.io_in_capsule).max(cfg.maxh2cdata) + PDU_OVERHEAD as u32;
        let unused = IcReq { hpda: 0, header_digest: false, data_digest: false, maxr2t: 0 };
        let fatal = reference_fatal(Role::Controller, &input, None, ceiling, cfg.maxh2cdata, unused);
        assert!(!fatal, "a fatal error in the input (after a {prefix_len}-byte prefix), and the connection is open");
    }
    // The end: the media answers, time passes; the output is read at last.
    r.hold_media = false;
    for req in std::mem::take(&mut r.held) {
        r.run_media(req);
    }
    r.stalled.clear();
    // The peer reads at last (a Transmit raised while it did not read is not raised again).
    let mut buf = vec![0u8; cfg.transmit_buffer_len()];
    let conns: Vec<ConnId> = r.watch.keys().copied().collect();
    for w in conns {
        r.transmit(w, &mut buf);
    }
    r.drain();
    r.advance(Duration::from_secs(30));
    r.check_bounds(c);
    assert_eq!(r.sub.media_pending(), 0, "every media operation ended");
}

// ---------------------------------------------------------------------------------------------------------------
// The host

/// The starting point of a host input (byte 0, bits 1:0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostStart {
    /// The admin connection just opened (the ICReq sent): the input must begin with an ICResp.
    Connecting,
    /// After a valid ICResp on the admin connection: the input answers the Connect and the bring-up.
    AfterIc,
    /// A live association (brought up against a real subsystem): the input arrives on its admin queue.
    LiveAdmin,
    /// A live association: the input arrives on I/O queue 1.
    LiveIo,
}

/// The host's configuration: small transfers, short timers, a path given up after 5 s.
pub fn host_config(policy: Policy, hd: bool, dd: bool) -> HostConfig {
    let mut h = HostConfig::new(NQN, HOSTNQN, HOSTID, Config::new(policy));
    h.digests.header = hd;
    h.digests.data = dd;
    h.kato = Duration::from_secs(2);
    h.io_queues = 2;
    h.queue_depth = 8;
    h.max_transfer = 64 * 1024;
    h.max_data_pdu = 16 * 1024;
    h.connect_timeout = Duration::from_secs(3);
    h.io_timeout = Duration::from_secs(4);
    h.admin_timeout = Duration::from_secs(4);
    h.reconnect_delay = Duration::from_secs(1);
    h.ctrl_loss_tmo = Some(Duration::from_secs(5));
    h.max_outstanding = 64;
    h.event_capacity = 64;
    h
}

/// The subsystem a live association is brought up against.
pub fn host_peer_config() -> SubsystemConfig {
    let mut s = SubsystemConfig::new(NQN);
    s.namespace.blocks = 256;
    s.io_in_capsule = 4096;
    s.maxh2cdata = 8192;
    s
}

/// A valid ICResp granting what `hd`/`dd` ask for.
pub fn host_ic_resp(hd: bool, dd: bool) -> Vec<u8> {
    let resp = IcResp { cpda: 0, header_digest: hd, data_digest: dd, maxh2cdata: host_peer_config().maxh2cdata };
    encode(&Pdu::IcResp(resp), &Params::default())
}

struct HostRun {
    host: Host,
    now: Instant,
    watch: BTreeMap<ConnId, Watch>,
    closed: BTreeMap<ConnId, CloseCause>,
    /// Connections of the association (`Some(params)` when they start established).
    established: Option<Params>,
    submitted: BTreeSet<IoId>,
    completed: BTreeSet<IoId>,
    max_rx: usize,
}

impl HostRun {
    fn drain(&mut self) {
        let mut buf = vec![0u8; self.host.config().transmit_buffer_len()];
        for _ in 0..10_000 {
            let mut progress = false;
            while let Some(open) = self.host.poll_open() {
                // No new connection is ever established: the path stays on what the input gives it.
                progress = true;
                self.host.handle_closed(self.now, open.conn);
            }
            while let Some(ev) = self.host.poll_conn_event() {
                progress = true;
                match ev {
                    ConnEvent::Transmit(c) => self.transmit(c, &mut buf),
                    ConnEvent::Close(c, cause) => {
                        self.transmit(c, &mut buf);
                        if let Some(w) = self.watch.get(&c) {
                            w.check_close(cause);
                        }
                        self.closed.insert(c, cause);
                        self.host.handle_closed(self.now, c);
                    }
                    ConnEvent::Resume(_) | ConnEvent::Freeze(_) => {}
                }
            }
            while let Some(done) = self.host.poll_completion() {
                progress = true;
                assert!(self.completed.insert(done.id), "{:?} completed twice", done.id);
            }
            while self.host.poll_event().is_some() {
                progress = true;
            }
            if !progress {
                return;
            }
        }
        panic!("the host never settled");
    }

    fn transmit(&mut self, c: ConnId, buf: &mut [u8]) {
        let established = self.established;
        loop {
            let n = self.host.poll_transmit(self.now, c, buf).expect("transmit_buffer_len suffices");
            if n == 0 {
                break;
            }
            let w = self.watch.entry(c).or_insert_with(|| Watch::new(Role::Controller, established));
            w.feed(&buf[..n]);
        }
    }

    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        let mut rounds = 0;
        while let Some(t) = self.host.poll_timeout() {
            if t > end {
                break;
            }
            rounds += 1;
            assert!(rounds < 100_000, "a timer that handle_timeout does not move: {t:?}");
            self.now = t.max(self.now);
            self.host.handle_timeout(self.now);
            self.drain();
        }
        self.now = end;
        self.host.handle_timeout(self.now);
        self.drain();
    }

    fn check_bounds(&self, c: ConnId) {
        let Some(u) = self.host.conn_usage(c) else { return };
        assert!(u.receive <= self.max_rx + PDU_OVERHEAD, "receive buffer {} over the ceiling", u.receive);
        assert!(u.commands <= 32, "{} commands", u.commands);
        assert_eq!(u.output, 0, "output left after the runtime read everything");
    }
}

/// `fabric_host`: see the module docs.
pub fn fabric_host(data: &[u8]) {
    let Some((&[b0, b1, _b2], stream)) = data.split_first_chunk::<SETUP_LEN>() else { return };
    let start =
        [HostStart::Connecting, HostStart::AfterIc, HostStart::LiveAdmin, HostStart::LiveIo][usize::from(b0 & 3)];
    let (hd, dd) = (b0 & 4 != 0, b0 & 8 != 0);
    let chunk = CHUNKS[usize::from(b1 & 7)];
    let step = Duration::from_millis(STEPS_MS[usize::from((b1 >> 3) & 3)]);
    let policy = Policy::ALL[usize::from((b1 >> 5) & 3)];
    let cfg = host_config(policy, hd, dd);
    let max_rx = cfg.max_transfer;
    let (host, now, conn, established) = match start {
        HostStart::Connecting | HostStart::AfterIc => {
            let mut host = Host::new(cfg, 1).expect("a valid configuration");
            let now = Instant::ZERO;
            host.start(now);
            let open = host.poll_open().expect("the admin connection");
            host.handle_connected(now, open.conn);
            (host, now, open.conn, None)
        }
        HostStart::LiveAdmin | HostStart::LiveIo => {
            let mut lo = Loopback::new(host_peer_config(), cfg, 1).expect("valid configurations");
            lo.start().expect("settles");
            assert_eq!(lo.live_paths(), 1, "the association came up");
            let Loopback { host, now, conn_path, .. } = lo;
            // The admin connection is the path's first; I/O queue 1 the next.
            let conns: Vec<ConnId> = conn_path.keys().copied().collect();
            let conn = if start == HostStart::LiveAdmin { conns[0] } else { conns[1] };
            let peer = host_peer_config();
            let p = Params { header_digest: hd, data_digest: dd, maxh2cdata: peer.maxh2cdata, ..Params::default() };
            (host, now, conn, Some(p))
        }
    };
    let mut r = HostRun {
        host,
        now,
        watch: BTreeMap::new(),
        closed: BTreeMap::new(),
        established,
        submitted: BTreeSet::new(),
        completed: BTreeSet::new(),
        max_rx,
    };
    let mut input = if start == HostStart::AfterIc { host_ic_resp(hd, dd) } else { Vec::new() };
    input.extend_from_slice(stream);
    if established.is_none() {
        // The parameters the host will use if it accepts the input's ICResp (its ICReq is already sent).
        let req = IcReq { hpda: 0, header_digest: hd, data_digest: dd, maxr2t: 0 };
        let mut w = Watch::new(Role::Controller, None);
        if let Some(p) =
            input.get(..128).and_then(|b| IcResp::parse(b).ok()).and_then(|resp| Params::from_ic(&req, &resp).ok())
        {
            w.de.set_params(p);
        }
        r.watch.insert(conn, w);
    }
    r.drain();
    if established.is_some() && b0 & 0x10 != 0 {
        // Commands outstanding for the input to answer (or not): a read, a write by R2T, an in-capsule write.
        let ios = [
            Io::Read { slba: 0, blocks: 8 },
            Io::Write { slba: 8, data: vec![0xA5; 16 * 1024].into() },
            Io::Write { slba: 40, data: vec![0x5A; 512].into() },
            Io::Flush,
        ];
        for io in ios {
            if let Ok(id) = r.host.submit(r.now, io) {
                r.submitted.insert(id);
            }
        }
        r.drain();
    }
    let mut at = 0;
    while at < input.len() && !r.closed.contains_key(&conn) {
        let end = input.len().min(at.saturating_add(chunk));
        let n = r.host.handle_input(r.now, conn, &input[at..end]);
        assert_eq!(n, end - at, "the host takes all its input");
        at = end;
        r.drain();
        r.check_bounds(conn);
        r.advance(step);
    }
    if !r.closed.contains_key(&conn) && at == input.len() {
        let req = IcReq { hpda: 0, header_digest: hd, data_digest: dd, maxr2t: 0 };
        let fatal = reference_fatal(Role::Host, &input, established, (max_rx + PDU_OVERHEAD) as u32, 0, req);
        assert!(!fatal, "a fatal error in the input, and the connection is open");
    }
    // The end: with no connection ever established again, every command ends (the path is given up).
    r.advance(Duration::from_secs(60));
    assert_eq!(r.host.outstanding(), 0, "commands never ended: {:?}", r.submitted.difference(&r.completed));
    assert!(r.submitted.is_subset(&r.completed));
}
