//! The simulator's view of the wire, all of it built and parsed with `nvme-proto`: commands (`cmd`), PDUs with
//! header and data digests (`tcp`), and the streaming deframer that turns received bytes back into PDUs.

use nvme_proto::cmd::{ConnectData, Cqt as IdCqt, IdentifyController, Sqe, Status, StatusCode};
use nvme_proto::tcp::{C2HData, CapsuleCmd, CapsuleResp, Decoded, Deframer, Params, Pdu, Role};

/// Size of one logical block and of every simulated I/O.
pub(crate) const BLOCK: usize = 4096;
/// The one namespace.
pub(crate) const NSID: u32 = 1;
/// IOCCSZ the target reports (16-byte units): 64-byte SQE + 16 KiB in-capsule data, as Linux nvmet (nvme-tcp.md §8.1),
/// so a 4 KiB write travels in-capsule.
pub(crate) const IOCCSZ: u32 = 1028;
/// Subsystem NQN of the simulated target.
pub(crate) const SUBNQN: &str = "nqn.2026-04.io.example:nvme-sim";
/// Host NQN of the simulated host.
pub(crate) const HOSTNQN: &str = "nqn.2014-08.org.nvmexpress:uuid:5eed0000-0000-4000-8000-000000000001";
/// Host identifier sent in Connect.
const HOSTID: [u8; 16] = [0x5e, 0xed, 0, 0, 0, 0, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 1];
/// Keep-alive granularity the target reports (KAS, x100 ms): 10 = 1 s, as Linux nvmet.
const KAS: u16 = 10;

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
    /// Invalid Command Opcode + DNR.
    pub(crate) const INVALID_OPCODE: u16 = Status::new(StatusCode::INVALID_OPCODE).with_dnr(true).to_word();
    /// Invalid Field in Command + DNR.
    pub(crate) const INVALID_FIELD: u16 = Status::new(StatusCode::INVALID_FIELD).with_dnr(true).to_word();
}

/// Opcodes used here.
pub(crate) mod opc {
    use nvme_proto::cmd::{AdminOpcode, FabricsType, IoOpcode, LogId};
    pub(crate) const GET_LOG_PAGE: u8 = AdminOpcode::GET_LOG_PAGE.0;
    pub(crate) const IDENTIFY: u8 = AdminOpcode::IDENTIFY.0;
    pub(crate) const AER: u8 = AdminOpcode::ASYNC_EVENT_REQUEST.0;
    pub(crate) const KEEP_ALIVE: u8 = AdminOpcode::KEEP_ALIVE.0;
    pub(crate) const CCR: u8 = AdminOpcode::CROSS_CONTROLLER_RESET.0;
    pub(crate) const FABRICS: u8 = AdminOpcode::FABRICS.0;
    pub(crate) const WRITE: u8 = IoOpcode::WRITE.0;
    pub(crate) const READ: u8 = IoOpcode::READ.0;
    pub(crate) const FCTYPE_CONNECT: u8 = FabricsType::CONNECT.0;
    pub(crate) const LID_CCR: u8 = LogId::CROSS_CONTROLLER_RESET.0;
}

/// Command builders (host side).
pub(crate) mod build {
    use nvme_proto::cmd::{
        AsyncEventRequest, Connect, CrossControllerReset, GetLogPage, Identify, KeepAlive, ReadWrite, SglDescriptor,
        Sqe,
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

/// CNTLID in Connect data.
pub(crate) fn connect_data_cntlid(d: &[u8]) -> Option<u16> {
    ConnectData::parse(d).ok().map(|c| c.cntlid)
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

/// ICResp granting them.
pub(crate) fn enc_icresp(out: &mut Vec<u8>) {
    let resp = PARAMS.ic_resp();
    emit_into(out, resp.buffer_len(), |b| resp.emit(b).ok());
}

/// CapsuleCmd (HDGST; in-capsule data with DDGST when `data` is not empty).
pub(crate) fn enc_cmd(out: &mut Vec<u8>, sqe: &Sqe, data: &[u8]) {
    let c = CapsuleCmd { sqe: sqe.to_bytes(), data };
    emit_into(out, c.buffer_len(&PARAMS), |b| c.emit(&PARAMS, b).ok());
}

/// CapsuleResp (HDGST). SQHD 0xFFFF: SQ flow control is off.
pub(crate) fn enc_resp(out: &mut Vec<u8>, cqe: &Cqe) {
    let mut q = nvme_proto::cmd::Cqe::new(cqe.cid, Status::from_word(cqe.status));
    q.dw0 = cqe.dw0;
    q.sqid = cqe.sqid;
    q.sqhd = 0xFFFF;
    let r = CapsuleResp { cqe: q.to_bytes() };
    emit_into(out, r.buffer_len(&PARAMS), |b| r.emit(&PARAMS, b).ok());
}

/// One C2HData carrying all of `data` (LAST_PDU; a CapsuleResp follows), both digests.
pub(crate) fn enc_c2h(out: &mut Vec<u8>, cid: u16, data: &[u8]) {
    let d = C2HData { cccid: cid, datao: 0, data, last: true, success: false };
    emit_into(out, d.buffer_len(&PARAMS), |b| d.emit(&PARAMS, b).ok());
}

/// A decoded PDU, owned.
#[derive(Debug)]
pub(crate) enum RxPdu {
    IcReq,
    IcResp,
    Cmd { sqe: Sqe, data: Vec<u8> },
    Resp(Cqe),
    C2h { cid: u16, data: Vec<u8> },
    Term { fes: u16 },
}

/// Stream deframer for one end of one connection: bytes in, whole PDUs out, whatever the chunking
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
                    Pdu::IcReq(_) => RxPdu::IcReq,
                    Pdu::IcResp(_) => RxPdu::IcResp,
                    Pdu::CapsuleCmd(c) => RxPdu::Cmd { sqe: Sqe::from_bytes(&c.sqe), data: c.data.to_vec() },
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
        if matches!(pdu, RxPdu::IcReq | RxPdu::IcResp) {
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

/// The 4096-byte Identify Controller structure the target returns.
pub(crate) fn identify_build(f: &IdFacts) -> Vec<u8> {
    let mut id = IdentifyController::fabrics_io(f.cntlid, SUBNQN);
    id.sn = "SIM0001";
    id.mn = "nvme-sim simulated controller";
    id.fr = "0.1";
    id.oaes = nvme_proto::cmd::OAES_CCRCN;
    id.ctratt = nvme_proto::cmd::CTRATT_HIDS | if f.tbkas { nvme_proto::cmd::CTRATT_TBKAS } else { 0 };
    id.ciu = f.ciu;
    id.cirn = f.cirn;
    id.kas = KAS;
    id.cqt = IdCqt::from_raw(f.cqt_ms);
    id.ccrl = nvme_proto::cmd::Ccrl::from_raw(f.ccrl);
    id.ioccsz = IOCCSZ;
    let mut d = vec![0u8; id.buffer_len()];
    if id.emit(&mut d).is_err() {
        d.clear();
    }
    d
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
    use super::*;

    fn decode_all(role: Role, wire: &[u8], chunk: usize) -> Vec<RxPdu> {
        let mut rx = Rx::new(role);
        let mut got = Vec::new();
        for c in wire.chunks(chunk) {
            rx.feed(c);
            while let Some(p) = rx.next().unwrap() {
                got.push(p);
            }
        }
        got
    }

    #[test]
    fn host_to_controller_pdus_round_trip_one_byte_at_a_time() {
        let mut wire = Vec::new();
        enc_icreq(&mut wire);
        enc_cmd(&mut wire, &build::write(7, 3), &[9u8; BLOCK]);
        enc_cmd(&mut wire, &build::keep_alive(8), &[]);
        let got = decode_all(Role::Controller, &wire, 1);
        assert_eq!(got.len(), 3);
        assert!(matches!(got[0], RxPdu::IcReq));
        match &got[1] {
            RxPdu::Cmd { sqe, data } => {
                assert_eq!((sqe.opcode, sqe.cid, data.len()), (opc::WRITE, 7, BLOCK));
                assert_eq!(nvme_proto::cmd::ReadWrite::from_write_sqe(sqe).unwrap().slba, 3);
                assert!(data.iter().all(|&x| x == 9));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(&got[2], RxPdu::Cmd { sqe, data } if sqe.opcode == opc::KEEP_ALIVE && data.is_empty()));
    }

    #[test]
    fn controller_to_host_pdus_round_trip() {
        let mut wire = Vec::new();
        enc_icresp(&mut wire);
        enc_c2h(&mut wire, 7, &[5u8; BLOCK]);
        enc_resp(&mut wire, &Cqe { dw0: 1, sqid: 1, cid: 7, status: status::INVALID_FIELD });
        let got = decode_all(Role::Host, &wire, 100);
        assert_eq!(got.len(), 3);
        assert!(matches!(&got[1], RxPdu::C2h { cid: 7, data } if data.len() == BLOCK));
        assert!(matches!(got[2], RxPdu::Resp(Cqe { dw0: 1, sqid: 1, cid: 7, status: status::INVALID_FIELD })));
    }

    #[test]
    fn a_flipped_header_bit_is_an_error() {
        let mut wire = Vec::new();
        enc_icresp(&mut wire);
        let at = wire.len();
        enc_resp(&mut wire, &Cqe { dw0: 0, sqid: 0, cid: 1, status: 0 });
        wire[at + 12] ^= 1;
        let mut rx = Rx::new(Role::Host);
        rx.feed(&wire);
        assert!(matches!(rx.next(), Ok(Some(RxPdu::IcResp))));
        assert!(rx.next().is_err());
    }

    #[test]
    fn identify_round_trips_the_facts_the_host_needs() {
        let f = IdFacts { cntlid: 2, ciu: 7, cirn: 0x1122_3344_5566_7788, cqt_ms: 1, ccrl: 4, tbkas: true };
        let d = identify_build(&f);
        assert_eq!(d.len(), 4096);
        assert_eq!(u16::from_le_bytes([d[386], d[387]]), 1, "CQT at bytes 387:386");
        assert_eq!(d[1807], 4, "CCRL at byte 1807");
        assert_eq!(identify_parse(&d).unwrap(), f);
        let f0 = IdFacts { cqt_ms: 0, tbkas: false, ..f };
        assert_eq!(identify_parse(&identify_build(&f0)).unwrap(), f0);
        assert!(identify_parse(&d[..100]).is_err());
    }

    #[test]
    fn connect_data_names_the_controller() {
        assert_eq!(connect_data_cntlid(&connect_data(0xFFFF)), Some(0xFFFF));
        assert_eq!(connect_data_cntlid(&connect_data(3)), Some(3));
    }
}
