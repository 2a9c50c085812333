//! The simulated host's view of the wire, all of it built and parsed with `nvme-proto`: commands (`cmd`), PDUs
//! with header and data digests (`tcp`), and the streaming deframer that turns received bytes back into PDUs. The
//! target's side of the wire is `nvme_fabric::controller::Subsystem` (`target.rs`).

use nvme_proto::cmd::{ConnectData, IdentifyController, Sqe, Status, StatusCode};
use nvme_proto::tcp::{CapsuleCmd, Decoded, Deframer, Params, Pdu, Role};

/// Size of one logical block and of every simulated I/O.
pub(crate) const BLOCK: usize = 4096;
/// The one namespace.
pub(crate) const NSID: u32 = 1;
/// Subsystem NQN of the simulated target.
pub(crate) const SUBNQN: &str = "nqn.2026-04.io.example:nvme-sim";
/// Host NQN of the simulated host.
pub(crate) const HOSTNQN: &str = "nqn.2014-08.org.nvmexpress:uuid:5eed0000-0000-4000-8000-000000000001";
/// Host identifier sent in Connect.
const HOSTID: [u8; 16] = [0x5e, 0xed, 0, 0, 0, 0, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 1];

/// What both ends negotiate: header and data digests on, PDA 0 (the Linux defaults otherwise).
const PARAMS: Params = Params {
    header_digest: true,
    data_digest: true,
    hpda: 0,
    cpda: 0,
    maxr2t: 0,
    maxh2cdata: nvme_proto::tcp::DEFAULT_MAXH2CDATA,
};

/// Status words (commands.md §3).
pub(crate) mod status {
    use super::{Status, StatusCode};
    /// Successful Completion.
    pub(crate) const SUCCESS: u16 = 0;
    /// Invalid Field in Command + DNR.
    pub(crate) const INVALID_FIELD: u16 = Status::new(StatusCode::INVALID_FIELD).with_dnr(true).to_word();
}

/// Opcodes used here.
pub(crate) mod opc {
    use nvme_proto::cmd::IoOpcode;
    pub(crate) const WRITE: u8 = IoOpcode::WRITE.0;
    pub(crate) const READ: u8 = IoOpcode::READ.0;
}

/// Command builders (host side).
pub(crate) mod build {
    use nvme_proto::cmd::{
        AEC_CCRCN, AsyncEventConfig, AsyncEventRequest, Connect, CrossControllerReset, Feature, GetLogPage, Identify,
        KeepAlive, ReadWrite, SetFeatures, SglDescriptor, Sqe,
    };

    use super::{BLOCK, NSID};

    /// Admin queue Connect with KATO in ms (SQSIZE 31, as Linux).
    pub(crate) fn connect_admin(cid: u16, kato_ms: u32) -> Sqe {
        Connect::admin(kato_ms).to_sqe(cid)
    }
    /// I/O queue 1 Connect (SQSIZE 127).
    pub(crate) fn connect_io(cid: u16) -> Sqe {
        Connect::io(1, 127).to_sqe(cid)
    }
    /// Identify Controller (CNS 01h).
    pub(crate) fn identify_controller(cid: u16) -> Sqe {
        Identify::controller().to_sqe(cid)
    }
    /// Set Features, Asynchronous Event Configuration with the CCR Completed notice (bit 20) on.
    pub(crate) fn enable_ccr_notice(cid: u16) -> Sqe {
        SetFeatures::new(Feature::AsyncEventConfig(AsyncEventConfig(AEC_CCRCN))).to_sqe(cid)
    }
    /// Keep Alive.
    pub(crate) fn keep_alive(cid: u16) -> Sqe {
        KeepAlive.to_sqe(cid)
    }
    /// Asynchronous Event Request.
    pub(crate) fn aer(cid: u16) -> Sqe {
        AsyncEventRequest.to_sqe(cid)
    }
    /// Get Log Page 0x1E.
    pub(crate) fn get_log(cid: u16, cmd: &GetLogPage) -> Sqe {
        cmd.to_sqe(cid)
    }
    /// Cross-Controller Reset.
    pub(crate) fn ccr(cid: u16, cmd: &CrossControllerReset) -> Sqe {
        cmd.to_sqe(cid)
    }
    fn rw(slba: u64) -> ReadWrite {
        ReadWrite::new(NSID, slba, 1, BLOCK as u32).unwrap_or(ReadWrite {
            nsid: NSID,
            slba,
            nlb: 0,
            control: 0,
            dsmgmt: 0,
            reftag: 0,
            apptag: 0,
            appmask: 0,
            dptr: SglDescriptor::transport_data(BLOCK as u32),
        })
    }
    /// One-block Read (data by C2HData).
    pub(crate) fn read(cid: u16, slba: u64) -> Sqe {
        rw(slba).to_read_sqe(cid)
    }
    /// One-block Write with in-capsule data (SGL 0x01, offset 0).
    pub(crate) fn write(cid: u16, slba: u64) -> Sqe {
        let mut w = rw(slba);
        w.dptr = SglDescriptor::in_capsule(0, BLOCK as u32);
        w.to_write_sqe(cid)
    }
}

/// Connect data (1024 bytes) naming `cntlid` (0xFFFF on the admin queue).
pub(crate) fn connect_data(cntlid: u16) -> Vec<u8> {
    let mut d = vec![0u8; ConnectData::LEN];
    let cd = ConnectData { hostid: HOSTID, cntlid, subnqn: SUBNQN, hostnqn: HOSTNQN };
    if cd.emit(&mut d).is_err() {
        d.clear();
    }
    d
}

/// A completion as the simulator handles it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cqe {
    pub(crate) dw0: u32,
    pub(crate) sqid: u16,
    pub(crate) cid: u16,
    /// Status word without the phase bit.
    pub(crate) status: u16,
}

fn emit_into(out: &mut Vec<u8>, len: usize, f: impl FnOnce(&mut [u8]) -> Option<usize>) {
    let start = out.len();
    out.resize(start + len, 0);
    let n = f(&mut out[start..]).unwrap_or(0);
    out.truncate(start + n);
}

/// ICReq asking for header and data digests.
pub(crate) fn enc_icreq(out: &mut Vec<u8>) {
    let req = PARAMS.ic_req();
    emit_into(out, req.buffer_len(), |b| req.emit(b).ok());
}

/// CapsuleCmd (HDGST; in-capsule data with DDGST when `data` is not empty).
pub(crate) fn enc_cmd(out: &mut Vec<u8>, sqe: &Sqe, data: &[u8]) {
    let c = CapsuleCmd { sqe: sqe.to_bytes(), data };
    emit_into(out, c.buffer_len(&PARAMS), |b| c.emit(&PARAMS, b).ok());
}

/// A decoded PDU, owned.
#[derive(Debug)]
pub(crate) enum RxPdu {
    IcResp,
    Resp(Cqe),
    C2h { cid: u16, data: Vec<u8> },
    Term { fes: u16 },
}

/// Stream deframer for the host end of one connection: bytes in, whole PDUs out, whatever the chunking
/// (`nvme_proto::tcp::Deframer` over a receive buffer).
pub(crate) struct Rx {
    buf: Vec<u8>,
    start: usize,
    de: Deframer,
}

impl Rx {
    /// A receiver for a fresh connection at `role`.
    pub(crate) fn new(role: Role) -> Rx {
        Rx { buf: Vec::new(), start: 0, de: Deframer::new(role) }
    }

    /// Append received bytes.
    pub(crate) fn feed(&mut self, bytes: &[u8]) {
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > 1 << 16 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole PDU, `Ok(None)` when more bytes are needed, or an error (the connection is unusable).
    pub(crate) fn next(&mut self) -> Result<Option<RxPdu>, String> {
        let (pdu, consumed) = match self.de.decode(&self.buf[self.start..]) {
            Ok(Decoded::Need(_)) => return Ok(None),
            Err(e) => return Err(e.to_string()),
            Ok(Decoded::Pdu { pdu, consumed }) => (
                match pdu {
                    Pdu::IcResp(_) => RxPdu::IcResp,
                    Pdu::CapsuleResp(r) => {
                        let q = nvme_proto::cmd::Cqe::from_bytes(&r.cqe);
                        RxPdu::Resp(Cqe { dw0: q.dw0, sqid: q.sqid, cid: q.cid, status: q.status.to_word() })
                    }
                    Pdu::C2HData(d) => RxPdu::C2h { cid: d.cccid, data: d.data.to_vec() },
                    Pdu::TermReq(t) => RxPdu::Term { fes: t.fes.0 },
                    other => return Err(format!("unexpected PDU type {:?}", other.pdu_type())),
                },
                consumed,
            ),
        };
        self.start += consumed;
        if matches!(pdu, RxPdu::IcResp) {
            // Both ends run with what the ICReq asks for and the ICResp grants.
            self.de.set_params(PARAMS);
        }
        Ok(Some(pdu))
    }
}

/// The Identify Controller facts the simulation uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IdFacts {
    pub(crate) cntlid: u16,
    pub(crate) ciu: u8,
    pub(crate) cirn: u64,
    pub(crate) cqt_ms: u16,
    pub(crate) ccrl: u8,
    pub(crate) tbkas: bool,
}

/// Parse the Identify Controller facts.
pub(crate) fn identify_parse(d: &[u8]) -> Result<IdFacts, String> {
    let id = IdentifyController::parse(d).map_err(|e| format!("Identify Controller: {e}"))?;
    Ok(IdFacts {
        cntlid: id.cntlid,
        ciu: id.ciu,
        cirn: id.cirn,
        cqt_ms: id.cqt.to_raw(),
        ccrl: id.ccrl.to_raw(),
        tbkas: id.tbkas(),
    })
}

#[cfg(test)]
mod tests {
    use nvme_fabric::Instant;
    use nvme_fabric::conn::ConnEvent;
    use nvme_fabric::controller::{Subsystem, SubsystemConfig};
    use nvme_proto::cmd::{Ccrl, Cqt, ReadWrite};

    use super::*;

    /// Decodes what the host sends, as a controller would, `chunk` bytes at a time.
    fn decode_as_controller(wire: &[u8], chunk: usize) -> Vec<(u8, u16, usize)> {
        let mut de = Deframer::new(Role::Controller);
        let (mut buf, mut got) = (Vec::new(), Vec::new());
        for c in wire.chunks(chunk) {
            buf.extend_from_slice(c);
            while let Decoded::Pdu { pdu, consumed } = de.decode(&buf).unwrap() {
                match pdu {
                    Pdu::IcReq(_) => {
                        de.set_params(PARAMS);
                        got.push((0xFF, 0, 0));
                    }
                    Pdu::CapsuleCmd(c) => {
                        let sqe = Sqe::from_bytes(&c.sqe);
                        assert_eq!(
                            ReadWrite::from_write_sqe(&sqe).map(|w| w.slba).ok(),
                            (sqe.opcode == 1).then_some(3)
                        );
                        got.push((sqe.opcode, sqe.cid, c.data.len()));
                    }
                    other => panic!("{other:?}"),
                }
                buf.drain(..consumed);
            }
        }
        got
    }

    #[test]
    fn host_to_controller_pdus_decode_one_byte_at_a_time() {
        let mut wire = Vec::new();
        enc_icreq(&mut wire);
        enc_cmd(&mut wire, &build::write(7, 3), &[9u8; BLOCK]);
        enc_cmd(&mut wire, &build::keep_alive(8), &[]);
        let want = [(0xFF, 0, 0), (opc::WRITE, 7, BLOCK), (0x18, 8, 0)];
        assert_eq!(decode_as_controller(&wire, 1), want);
        assert_eq!(decode_as_controller(&wire, 1000), want);
    }

    /// The host's connect sequence against the shared controller (`nvme_fabric`), the target of the simulation:
    /// the Subsystem accepts every command as the host builds it, and the host decodes every answer.
    struct Rig {
        sub: Subsystem,
        conn: nvme_fabric::conn::ConnId,
        rx: Rx,
    }

    impl Rig {
        fn new(cfg: SubsystemConfig) -> Rig {
            let mut sub = Subsystem::new(cfg, 7).unwrap();
            let conn = sub.accept(Instant::ZERO).unwrap();
            Rig { sub, conn, rx: Rx::new(Role::Host) }
        }

        /// Sends `wire`, then returns the PDUs the subsystem answers with, fed to the host one byte at a time.
        fn exchange(&mut self, wire: &[u8]) -> Vec<RxPdu> {
            assert_eq!(self.sub.handle_input(Instant::ZERO, self.conn, wire), wire.len());
            let mut out = vec![0u8; self.sub.config().transmit_buffer_len()];
            let mut got = Vec::new();
            while let Some(ev) = self.sub.poll_conn_event() {
                assert_eq!(ev, ConnEvent::Transmit(self.conn));
                loop {
                    let n = self.sub.poll_transmit(Instant::ZERO, self.conn, &mut out).unwrap();
                    if n == 0 {
                        break;
                    }
                    for b in &out[..n] {
                        self.rx.feed(core::slice::from_ref(b));
                        while let Some(p) = self.rx.next().unwrap() {
                            got.push(p);
                        }
                    }
                }
            }
            got
        }
    }

    fn config() -> SubsystemConfig {
        let mut cfg = SubsystemConfig::new(SUBNQN);
        cfg.cqt = Cqt::from_raw(1);
        cfg.ccrl = Ccrl::from_raw(4);
        cfg
    }

    #[test]
    fn the_host_connects_to_the_shared_controller_and_reads_its_facts() {
        let mut r = Rig::new(config());
        let mut wire = Vec::new();
        enc_icreq(&mut wire);
        enc_cmd(&mut wire, &build::connect_admin(0, 5000), &connect_data(0xFFFF));
        enc_cmd(&mut wire, &build::identify_controller(1), &[]);
        enc_cmd(&mut wire, &build::enable_ccr_notice(2), &[]);
        enc_cmd(&mut wire, &build::aer(3), &[]);
        enc_cmd(&mut wire, &build::keep_alive(4), &[]);
        let got = r.exchange(&wire);
        let [
            RxPdu::IcResp,
            RxPdu::Resp(connect),
            RxPdu::C2h { cid: 1, data },
            RxPdu::Resp(id),
            RxPdu::Resp(aec),
            RxPdu::Resp(ka),
        ] = got.as_slice()
        else {
            panic!("{got:?}")
        };
        assert_eq!((connect.cid, connect.status, connect.dw0 & 0xFFFF), (0, status::SUCCESS, 1));
        assert_eq!((id.cid, id.status), (1, status::SUCCESS));
        assert_eq!((aec.cid, aec.status), (2, status::SUCCESS), "the CCR notice is enabled");
        assert_eq!((ka.cid, ka.status), (4, status::SUCCESS), "the AER stays outstanding");
        let f = identify_parse(data).unwrap();
        assert_eq!((f.cntlid, f.cqt_ms, f.ccrl, f.tbkas), (1, 1, 4, true));
        assert_ne!(f.ciu, 0);
        assert!(identify_parse(&data[..100]).is_err());
    }

    #[test]
    fn a_flipped_header_bit_is_an_error() {
        let mut r = Rig::new(config());
        let mut wire = Vec::new();
        enc_icreq(&mut wire);
        assert!(matches!(r.exchange(&wire).as_slice(), [RxPdu::IcResp]));
        let mut wire = Vec::new();
        enc_cmd(&mut wire, &build::connect_admin(0, 5000), &connect_data(0xFFFF));
        r.sub.handle_input(Instant::ZERO, r.conn, &wire);
        let mut out = vec![0u8; r.sub.config().transmit_buffer_len()];
        let n = r.sub.poll_transmit(Instant::ZERO, r.conn, &mut out).unwrap();
        out[12] ^= 1;
        r.rx.feed(&out[..n]);
        assert!(r.rx.next().is_err());
    }

    #[test]
    fn connect_data_names_the_controller() {
        assert_eq!(ConnectData::parse(&connect_data(0xFFFF)).unwrap().cntlid, 0xFFFF);
        let bytes = connect_data(3);
        let d = ConnectData::parse(&bytes).unwrap();
        assert_eq!((d.cntlid, d.subnqn, d.hostnqn), (3, SUBNQN, HOSTNQN));
    }
}
