//! Harnesses of the `nvme-proto` fuzz targets: each takes arbitrary bytes, runs a decoder over them and checks
//! what it answers (`Ok` or `Err`, never a panic; round trips where the target is a round trip).
//!
//! This file is shared by the cargo-fuzz targets (`fuzz/fuzz_targets/`) and by the stable replay test
//! `nvme-proto/tests/fuzz_corpus.rs`, which includes it with `#[path]`; so it uses nothing but `nvme_proto` and
//! `std`. Under `cfg(fuzzing)` nvme-proto treats every digest as matching, so that the fuzzer reaches the code
//! behind the digest checks; the replay test is built without it and checks digests for real. The harnesses
//! assert what each build must do ([`digests_checked`]): the digest targets compute every digest themselves.
//!
//! Input layout of the TCP targets: [`SETUP_LEN`] bytes read by [`Setup::split`], then the stream (or PDU).

use nvme_proto::auth::{
    AuthError, AuthMessage, AuthMsgId, AuthType, Challenge, DhchapSecret, Failure1, Failure2, FailureExplanation,
    Negotiate, Reply, SecretError, Success1, Success2,
};
use nvme_proto::cmd::{
    AdminOpcode, AnaGroupDescriptor, AnaLogPage, AsyncEvent, Cap, Cc, CcrLogPage, CcrResult, Ccrl, CmdError, Command,
    CommandContext, ConnectData, ConnectInvalidParameters, ConnectResponse, Cqe, Cqt, Csts, DISCOVERY_RECORD_LEN,
    DiscoveryLogEntries, DiscoveryLogHeader, DiscoveryLogPage, IdentifyController, IdentifyControllerView,
    IdentifyNamespace, IoOpcode, LostHostCommunicationLogPage, NS_LIST_MAX, NamespaceList, NsDescriptorList,
    NsIdentifier, PropertyOffset, PropertySize, QueueKind, SglDescriptor, Sqe, Status, Vs, parse_ascii_field,
    parse_nqn_field, write_ascii_field, write_nqn_field,
};
use nvme_proto::crc::crc32c;
use nvme_proto::tcp::{
    C2HData, CapsuleCmd, CapsuleResp, CommonHeader, ConnState, DEFAULT_MAX_PLEN, DEFAULT_MAXH2CDATA, DIGEST_LEN,
    Decoded, Deframer, EmitError, Fes, H2CData, IcReq, IcResp, MIN_MAX_PLEN, MIN_MAXH2CDATA, Params, Pdu, PduError,
    R2T, Role, STATUS_TRANSIENT_TRANSPORT_ERROR, TERM_REQ_MAX_DATA, TermReq,
};

/// Whether this build checks digests: `false` under `cfg(fuzzing)`, where nvme-proto's digest bypass is on.
pub fn digests_checked() -> bool {
    !cfg!(fuzzing)
}

/// Bytes at the start of a TCP target's input that choose the connection ([`Setup::split`]).
pub const SETUP_LEN: usize = 3;

/// The sizes the stream is delivered in (index: byte 2, bits 3:0); `usize::MAX` delivers everything at once.
const CHUNKS: [usize; 16] = [1, 2, 3, 5, 7, 8, 13, 24, 28, 64, 128, 1448, 1500, 4096, 65_536, usize::MAX];
/// PLEN ceilings (index: byte 2, bits 5:4).
const MAX_PLENS: [u32; 4] = [DEFAULT_MAX_PLEN, MIN_MAX_PLEN, 4096 + 256 + 8, 65_536];
/// MAXH2CDATA values (index: byte 2, bits 7:6).
const MAXH2CDATAS: [u32; 4] = [DEFAULT_MAXH2CDATA, MIN_MAXH2CDATA, 8192, 65_536];

/// Which digests a target may negotiate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Digests {
    /// None: `tcp_deframer`.
    Off,
    /// At least one of them: `tcp_deframer_digests`.
    On,
    /// Whatever the input says: `tcp_pdu_roundtrip`.
    Any,
}

/// One receiving end of an NVMe/TCP connection, chosen by the first [`SETUP_LEN`] input bytes.
#[derive(Clone, Copy, Debug)]
pub struct Setup {
    /// Who receives the stream.
    pub receiver: Role,
    /// Whether the IC exchange is done; if not, the deframer starts in `AwaitingIc` and installs `params` after
    /// the ICReq/ICResp.
    pub established: bool,
    /// The negotiated parameters.
    pub params: Params,
    /// The delivery size of the chunked run.
    pub chunk: usize,
    /// The deframer's PLEN ceiling.
    pub max_plen: u32,
}

impl Setup {
    /// Splits `data` into the setup and the rest.
    ///
    /// Byte 0: bit 0 receiver (0 host, 1 controller), bit 1 IC exchange done, bit 2 header digest, bit 3 data
    /// digest (both forced off for [`Digests::Off`]; both on for [`Digests::On`] when neither is set). Byte 1:
    /// HPDA and CPDA (bits 4:0). Byte 2: chunk size (bits 3:0), PLEN ceiling (bits 5:4), MAXH2CDATA (bits 7:6).
    pub fn split(data: &[u8], digests: Digests) -> Option<(Setup, &[u8])> {
        let (&[b0, b1, b2], rest) = data.split_first_chunk::<SETUP_LEN>()?;
        let (mut hd, mut dd) = (b0 & 4 != 0, b0 & 8 != 0);
        match digests {
            Digests::Off => (hd, dd) = (false, false),
            Digests::On if !hd && !dd => (hd, dd) = (true, true),
            _ => {}
        }
        let pda = b1 & 0x1f;
        let params = Params {
            header_digest: hd,
            data_digest: dd,
            hpda: pda,
            cpda: pda,
            maxr2t: 0,
            maxh2cdata: MAXH2CDATAS[usize::from(b2 >> 6)],
        };
        let setup = Setup {
            receiver: if b0 & 1 == 0 { Role::Host } else { Role::Controller },
            established: b0 & 2 != 0,
            params,
            chunk: CHUNKS[usize::from(b2 & 0xf)],
            max_plen: MAX_PLENS[usize::from((b2 >> 4) & 3)],
        };
        Some((setup, rest))
    }

    /// The inverse of [`split`](Self::split) for seed inputs: the setup bytes for these choices.
    pub fn bytes(receiver: Role, established: bool, hd: bool, dd: bool, pda: u8, chunk_index: u8) -> [u8; SETUP_LEN] {
        let b0 =
            u8::from(receiver == Role::Controller) | u8::from(established) << 1 | u8::from(hd) << 2 | u8::from(dd) << 3;
        [b0, pda & 0x1f, chunk_index & 0xf]
    }

    fn deframer(&self) -> Deframer {
        let d = if self.established {
            Deframer::established(self.receiver, self.params)
        } else {
            Deframer::new(self.receiver)
        };
        d.with_max_plen(self.max_plen)
    }
}

/// What the deframer answered, in order, for one delivery of a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome<'a> {
    /// A PDU and its length.
    Pdu(Pdu<'a>, usize),
    /// An error (after a fatal one the run stops).
    Error(PduError),
    /// The stream ended inside a PDU: this many more bytes were asked for.
    Need(usize),
}

/// `tcp_deframer`: the deframer over an arbitrary stream, no digests.
pub fn tcp_deframer(data: &[u8]) {
    deframer_target(data, Digests::Off);
}

/// `tcp_deframer_digests`: the deframer over an arbitrary stream with header and/or data digests negotiated;
/// every PDU's digests are recomputed here, and a tampered copy of each is decoded again.
pub fn tcp_deframer_digests(data: &[u8]) {
    deframer_target(data, Digests::On);
}

fn deframer_target(data: &[u8], digests: Digests) {
    let Some((setup, stream)) = Setup::split(data, digests) else { return };
    let whole = run_deframer(&setup, stream, usize::MAX);
    let chunked = run_deframer(&setup, stream, setup.chunk);
    assert_eq!(whole, chunked, "delivery in {}-byte chunks changed the outcome", setup.chunk);
    if stream.len() <= 16 * 1024 && setup.chunk != 1 {
        assert_eq!(whole, run_deframer(&setup, stream, 1), "delivery one byte at a time changed the outcome");
    }
}

/// Feeds `stream` to a fresh deframer `chunk` bytes at a time, as a driver appending what the socket delivers to
/// its receive buffer, and checks every answer.
fn run_deframer<'a>(setup: &Setup, stream: &'a [u8], chunk: usize) -> Vec<Outcome<'a>> {
    let mut d = setup.deframer();
    let mut out = Vec::new();
    let (mut start, mut avail) = (0usize, stream.len().min(chunk));
    // The least length the PDU at `start` can have, from the last `Need`.
    let mut at_least = 0usize;
    loop {
        let window = &stream[start..avail];
        let params = *d.params();
        match d.decode(window) {
            Ok(Decoded::Need(n)) => {
                assert!(n > 0, "Need(0)");
                at_least = window.len() + n;
                if avail == stream.len() {
                    out.push(Outcome::Need(n));
                    break;
                }
                avail = avail.saturating_add(chunk).min(stream.len());
            }
            Ok(Decoded::Pdu { pdu, consumed }) => {
                assert!(consumed > 0 && consumed <= window.len(), "consumed {consumed} of {}", window.len());
                assert!(consumed >= at_least, "a {consumed}-byte PDU came after Need asked for {at_least} bytes");
                check_pdu(&params, setup.receiver, &pdu, &window[..consumed]);
                if matches!(pdu, Pdu::IcReq(_) | Pdu::IcResp(_)) {
                    assert_eq!(d.state(), ConnState::Established);
                    d.set_params(setup.params);
                }
                if let Pdu::TermReq(_) = pdu {
                    assert_eq!(d.state(), ConnState::Closed, "a received TermReq closes the connection");
                    out.push(Outcome::Pdu(pdu, consumed));
                    assert_eq!(d.decode(&stream[start + consumed..avail]), Err(PduError::Closed));
                    break;
                }
                out.push(Outcome::Pdu(pdu, consumed));
                start += consumed;
                at_least = 0;
            }
            Err(e) => {
                check_error(&d, &e, window);
                out.push(Outcome::Error(e));
                if e.is_fatal() {
                    assert_eq!(d.state(), ConnState::Closed, "{e:?} is fatal");
                    assert_eq!(d.decode(window), Err(PduError::Closed));
                    break;
                }
                let consumed = e.consumed().expect("a non-fatal error says how many bytes to drop");
                assert!(consumed > 0 && consumed <= window.len());
                start += consumed;
                at_least = 0;
            }
        }
    }
    out
}

/// Checks an error the deframer (or `Pdu::parse`) gave for the bytes `received`.
fn check_error(d: &Deframer, e: &PduError, received: &[u8]) {
    assert!(!matches!(e, PduError::Closed | PduError::Truncated { .. }), "the deframer answers Need, not {e:?}");
    if e.is_fatal() {
        assert_eq!((e.cccid(), e.consumed(), e.command_status()), (None, None, None));
    } else {
        assert!(digests_checked(), "a data digest error although digests are bypassed");
        assert!(matches!(e, PduError::DataDigest(_)));
        assert_eq!(e.command_status(), Some(STATUS_TRANSIENT_TRANSPORT_ERROR));
        assert_eq!(e.fes(), None, "a data digest error sends no TermReq");
    }
    check_term_req(d.term_req(e, received), e, received);
}

/// The TermReq answering `e` (if any) carries its FES and FEI, at most 128 bytes of the offending header, and
/// round-trips.
fn check_term_req(t: Option<TermReq<'_>>, e: &PduError, received: &[u8]) {
    assert_eq!(t.is_some(), e.fes().is_some(), "TermReq {t:?} for {e:?}");
    let Some(t) = t else { return };
    assert_eq!((Some(t.fes), t.fei), (e.fes(), e.fei()));
    assert!(t.data.len() <= TERM_REQ_MAX_DATA && received.starts_with(t.data));
    let n = t.buffer_len();
    let mut buf = vec![0u8; n];
    assert_eq!(t.emit(&mut buf), Ok(n));
    assert_eq!(TermReq::parse(&buf), Ok(t));
}

/// Checks a PDU decoded from exactly `bytes` (its PLEN) by `receiver` under `params`: the stand-alone parser
/// agrees, the received digests are right (when this build checks them), and the PDU re-encodes, digests included,
/// to bytes that decode to the same PDU.
fn check_pdu(params: &Params, receiver: Role, pdu: &Pdu<'_>, bytes: &[u8]) {
    assert_eq!(Pdu::parse(bytes, params, receiver), Ok(*pdu), "Pdu::parse disagrees with the deframer");
    let (hdgst_at, data) = digest_layout(params, pdu);
    if digests_checked() {
        if let Some(hlen) = hdgst_at {
            assert_eq!(digest_at(bytes, hlen), crc32c(&bytes[..hlen]), "HDGST accepted but wrong");
        }
        if let Some(data) = data {
            assert_eq!(digest_at(bytes, bytes.len() - DIGEST_LEN), crc32c(data), "DDGST accepted but wrong");
        }
    }
    let out = reencode(params, receiver, pdu, bytes.len());
    if hdgst_at.is_some() || data.is_some() {
        check_tampering(params, receiver, pdu, &out);
    }
}

/// Where the header digest is (HLEN) and which data the data digest covers, for `pdu` under `params`.
fn digest_layout<'a>(params: &Params, pdu: &Pdu<'a>) -> (Option<usize>, Option<&'a [u8]>) {
    let data = match pdu {
        Pdu::CapsuleCmd(c) if !c.data.is_empty() => Some(c.data),
        Pdu::H2CData(d) => Some(d.data),
        Pdu::C2HData(d) => Some(d.data),
        _ => None,
    };
    let has_hdgst =
        matches!(pdu, Pdu::CapsuleCmd(_) | Pdu::CapsuleResp(_) | Pdu::H2CData(_) | Pdu::C2HData(_) | Pdu::R2T(_));
    let hlen = pdu.pdu_type().hlen().map(usize::from).filter(|_| has_hdgst && params.header_digest);
    (hlen, data.filter(|_| params.data_digest))
}

fn digest_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + DIGEST_LEN].try_into().expect("4 bytes"))
}

/// Encodes `pdu` (received as `received_len` bytes) again and decodes the result; returns the encoding.
fn reencode(params: &Params, receiver: Role, pdu: &Pdu<'_>, received_len: usize) -> Vec<u8> {
    let n = pdu.buffer_len(params);
    assert!(n <= received_len, "our encoding ({n} bytes) is longer than the {received_len} bytes received");
    let mut short = vec![0u8; n - 1];
    assert_eq!(pdu.emit(params, &mut short), Err(EmitError::BufferTooShort { needed: n }));
    let mut out = vec![0u8; n];
    assert_eq!(pdu.emit(params, &mut out), Ok(n));
    assert_eq!(Pdu::parse(&out, params, receiver), Ok(*pdu), "our own encoding decodes differently");
    let (hdgst_at, data) = digest_layout(params, pdu);
    if let Some(hlen) = hdgst_at {
        assert_eq!(digest_at(&out, hlen), crc32c(&out[..hlen]), "we sent a wrong HDGST");
    }
    if let Some(data) = data {
        let ddgst_at = n - DIGEST_LEN;
        assert_eq!(&out[ddgst_at - data.len()..ddgst_at], data, "the data is not right before DDGST");
        assert_eq!(digest_at(&out, ddgst_at), crc32c(data), "we sent a wrong DDGST");
    }
    out
}

/// Flips one data byte, then one header byte, of our encoding `out` and decodes each copy: a data digest error
/// (not fatal, the command's CCCID, PLEN to drop) and a header digest error (fatal, FES 0x03) where digests are
/// checked, a PDU where they are bypassed.
fn check_tampering(params: &Params, receiver: Role, pdu: &Pdu<'_>, out: &[u8]) {
    let n = out.len();
    let (hdgst_at, data) = digest_layout(params, pdu);
    if let Some(data) = data {
        let mut t = out.to_vec();
        t[n - DIGEST_LEN - 1] ^= 0x01;
        match Pdu::parse(&t, params, receiver) {
            Err(e @ PduError::DataDigest(dd)) => {
                assert!(digests_checked());
                assert!(!e.is_fatal());
                assert_eq!((Some(dd.cccid), dd.pdu_type, dd.consumed), (pdu.cccid(), pdu.pdu_type(), n));
                assert_eq!(dd.received, digest_at(out, n - DIGEST_LEN));
                assert_eq!(dd.computed, crc32c(&t[n - DIGEST_LEN - data.len()..n - DIGEST_LEN]));
            }
            Ok(p) => {
                assert!(!digests_checked(), "a flipped data byte passed the data digest");
                assert_eq!(p.pdu_type(), pdu.pdu_type());
            }
            Err(e) => panic!("a flipped data byte gave {e:?}"),
        }
    }
    if let Some(hlen) = hdgst_at {
        let mut t = out.to_vec();
        t[8] ^= 0x01; // the first byte after the common header: CID/CCCID/DW0, never checked before the digest
        match Pdu::parse(&t, params, receiver) {
            Err(e @ PduError::HeaderDigest { received, computed }) => {
                assert!(digests_checked());
                assert!(e.is_fatal());
                assert_eq!(e.fes(), Some(Fes::HEADER_DIGEST_ERROR));
                assert_eq!((received, computed), (digest_at(out, hlen), crc32c(&t[..hlen])));
            }
            Ok(p) => assert!(!digests_checked(), "a flipped header byte passed the header digest: {p:?}"),
            Err(e) => panic!("a flipped header byte gave {e:?}"),
        }
    }
}

/// `tcp_pdu_roundtrip`: one PDU parsed by the receiver the setup names; a valid one must encode again to bytes
/// that parse to the same PDU, and the typed parser of its type must agree (the others refuse it).
pub fn tcp_pdu_roundtrip(data: &[u8]) {
    let Some((setup, bytes)) = Setup::split(data, Digests::Any) else { return };
    let (params, receiver) = (&setup.params, setup.receiver);
    match Pdu::parse(bytes, params, receiver) {
        Ok(pdu) => {
            let plen = CommonHeader::view(bytes).expect("a PDU has a common header").plen.get() as usize;
            assert!(plen <= bytes.len());
            assert_eq!(Pdu::parse(&bytes[..plen], params, receiver), Ok(pdu), "bytes after PLEN were looked at");
            check_pdu(params, receiver, &pdu, &bytes[..plen]);
            check_typed_parsers(params, &pdu, bytes);
        }
        Err(PduError::Truncated { needed }) => {
            assert!(needed > 0);
        }
        Err(e) => {
            assert_ne!(e, PduError::Closed);
            assert!(e.is_fatal() || digests_checked(), "{e:?} although digests are bypassed");
            check_term_req(TermReq::for_error(receiver, &e, bytes), &e, bytes);
        }
    }
}

/// The typed parser of the PDU's own type gives the same PDU; every other typed parser refuses the bytes.
fn check_typed_parsers(params: &Params, pdu: &Pdu<'_>, bytes: &[u8]) {
    let ic_req = IcReq::parse(bytes).map(Pdu::IcReq);
    let ic_resp = IcResp::parse(bytes).map(Pdu::IcResp);
    let term = TermReq::parse(bytes).map(Pdu::TermReq);
    let cmd = CapsuleCmd::parse(bytes, params).map(Pdu::CapsuleCmd);
    let resp = CapsuleResp::parse(bytes, params).map(Pdu::CapsuleResp);
    let h2c = H2CData::parse(bytes, params).map(Pdu::H2CData);
    let c2h = C2HData::parse(bytes, params).map(Pdu::C2HData);
    let r2t = R2T::parse(bytes, params).map(Pdu::R2T);
    let all = [ic_req, ic_resp, term, cmd, resp, h2c, c2h, r2t];
    let own = match pdu {
        Pdu::IcReq(_) => 0,
        Pdu::IcResp(_) => 1,
        Pdu::TermReq(_) => 2,
        Pdu::CapsuleCmd(_) => 3,
        Pdu::CapsuleResp(_) => 4,
        Pdu::H2CData(_) => 5,
        Pdu::C2HData(_) => 6,
        Pdu::R2T(_) => 7,
    };
    for (i, r) in all.iter().enumerate() {
        if i == own {
            assert_eq!(*r, Ok(*pdu), "the typed parser disagrees with Pdu::parse");
        } else {
            assert!(r.is_err(), "parser {i} accepted a {:?}: {r:?}", pdu.pdu_type());
        }
    }
}

/// `cmd_queue_entries`: the same bytes read as an SQE (and as a command of either queue), a CQE and its status,
/// an SGL descriptor, Connect data, register and completion dwords, and string fields.
pub fn cmd_queue_entries(data: &[u8]) {
    sqe_and_commands(data);
    cqe_and_status(data);
    sgl(data);
    connect_data(data);
    dwords(data);
    strings(data);
}

fn sqe_and_commands(data: &[u8]) {
    let sqe = match Sqe::parse(data) {
        Ok(sqe) => sqe,
        Err(e) => {
            assert!(data.len() < Sqe::LEN);
            assert_eq!(e, CmdError::BufferTooShort { needed: Sqe::LEN });
            return;
        }
    };
    // Every SQE round-trips byte for byte.
    assert_eq!(sqe.to_bytes()[..], data[..Sqe::LEN]);
    let mut out = [0u8; Sqe::LEN];
    assert_eq!(sqe.emit(&mut out), Ok(Sqe::LEN));
    assert_eq!(Sqe::from_bytes(&out), sqe);
    for kind in [QueueKind::Admin, QueueKind::Io] {
        let Ok(cmd) = Command::parse(kind, &sqe) else { continue };
        let again = cmd.to_sqe(sqe.cid);
        assert_eq!(again.cid, sqe.cid);
        assert_eq!(Command::parse(kind, &again), Ok(cmd), "{cmd:?} does not survive to_sqe/parse");
        let _ = cmd.has_side_effects();
        let context = cmd.context();
        if let Ok(cqe) = Cqe::parse(data.get(Sqe::LEN..).unwrap_or(&[])) {
            let _ = cqe.status.code.name(Some(context));
        }
    }
}

fn cqe_and_status(data: &[u8]) {
    let cqe = match Cqe::parse(data) {
        Ok(cqe) => cqe,
        Err(e) => {
            assert!(data.len() < Cqe::LEN);
            assert_eq!(e, CmdError::BufferTooShort { needed: Cqe::LEN });
            return;
        }
    };
    // Bytes round-trip except the phase tag (byte 14, bit 0), which is not kept.
    let mut want = [0u8; Cqe::LEN];
    want.copy_from_slice(&data[..Cqe::LEN]);
    want[14] &= !1;
    assert_eq!(cqe.to_bytes(), want);
    assert_eq!(Cqe::from_bytes(&want), cqe);
    let word = u16::from_le_bytes([data[14], data[15]]);
    assert_eq!(Status::from_word(word).to_word(), word & !1);
    let code = cqe.status.code;
    let _ = (code.name(None), code.is_path_related(), code.is_success(), cqe.result_u64());
    for context in [CommandContext::Admin(AdminOpcode(data[0])), CommandContext::Io(IoOpcode(data[0]))] {
        let _ = code.name(Some(context));
    }
}

fn sgl(data: &[u8]) {
    if let Ok(d) = SglDescriptor::parse(data) {
        assert_eq!(d.to_bytes()[..], data[..SglDescriptor::LEN]);
        let _ = (d.is_in_capsule(), d.is_transport_data(), d.identifier.sgl_type(), d.identifier.subtype());
    }
}

fn connect_data(data: &[u8]) {
    let Ok(c) = ConnectData::parse(data) else { return };
    let mut out = vec![0u8; ConnectData::LEN];
    assert_eq!(c.emit(&mut out), Ok(ConnectData::LEN));
    assert_eq!(ConnectData::parse(&out), Ok(c));
}

/// Register values and completion dwords decode to values that encode back to themselves' decoding.
fn dwords(data: &[u8]) {
    let mut raw = [0u8; 8];
    let n = data.len().min(8);
    raw[..n].copy_from_slice(&data[..n]);
    let q = u64::from_le_bytes(raw);
    let d = q as u32;
    let a = AsyncEvent::from_dw0(d);
    assert_eq!(AsyncEvent::from_dw0(a.to_dw0()), a);
    let _ = (a.is_ccr_completed(), a.is_lost_host_communication());
    let r = CcrResult::from_dw0(d);
    assert_eq!(CcrResult::from_dw0(r.to_dw0()), r);
    let c = ConnectResponse::from_dw0(d);
    assert_eq!(ConnectResponse::from_dw0(c.to_dw0()), c);
    let _ = c.authentication_required();
    let p = ConnectInvalidParameters::from_dw0(d);
    assert_eq!(ConnectInvalidParameters::from_dw0(p.to_dw0()), p);
    let cap = Cap::from_u64(q);
    assert_eq!(Cap::from_u64(cap.to_u64()), cap);
    let _ = (cap.timeout(), cap.max_queue_entries());
    let cc = Cc::from_u32(d);
    assert_eq!(Cc::from_u32(cc.to_u32()), cc);
    let csts = Csts::from_u32(d);
    assert_eq!(Csts::from_u32(csts.to_u32()), csts);
    let vs = Vs::from_u32(d);
    assert_eq!(Vs::from_u32(vs.to_u32()), vs);
    let _ = PropertyOffset(d).size();
    if let Ok(size) = PropertySize::from_attrib(raw[0]) {
        assert_eq!(PropertySize::from_attrib(size.attrib()), Ok(size));
        let _ = size.bytes();
    }
    let w = d as u16;
    assert_eq!(Cqt::from_raw(w).to_raw(), w);
    assert_eq!(Ccrl::from_raw(raw[0]).to_raw(), raw[0]);
    let _ = Cqt::from_raw(w).duration();
}

/// The string fields: what parses writes back into a field of the same size and parses to the same text.
fn strings(data: &[u8]) {
    let field = &data[..data.len().min(1024)];
    if let Ok(text) = parse_ascii_field(field, 4) {
        let mut out = vec![0u8; field.len()];
        assert_eq!(write_ascii_field(&mut out, text, 4), Ok(()));
        assert_eq!(parse_ascii_field(&out, 4), Ok(text));
    }
    if let Ok(text) = parse_nqn_field(field, 768) {
        let mut out = vec![0u8; field.len()];
        assert_eq!(write_nqn_field(&mut out, text, 768), Ok(()));
        assert_eq!(parse_nqn_field(&out, 768), Ok(text));
    }
}

/// `cmd_identify_log`: Identify Controller, Identify Namespace, the active namespace list and the namespace
/// descriptors (from the input as given and zero-extended to 4096 bytes), and the CCR, Lost Host Communication,
/// Discovery and ANA (with and without RGO) log pages; whatever parses must encode and parse again to the same
/// value.
pub fn cmd_identify_log(data: &[u8]) {
    let mut page = [0u8; 4096];
    let n = data.len().min(page.len());
    page[..n].copy_from_slice(&data[..n]);
    for buf in [data, &page[..]] {
        identify_controller(buf);
        identify_namespace(buf);
        namespace_list(buf);
        namespace_descriptors(buf);
    }
    ccr_log(data);
    lhc_log(data);
    discovery_log(data);
    ana_log(data);
}

fn identify_controller(buf: &[u8]) {
    let view = IdentifyControllerView::ref_from_buf(buf);
    let parsed = IdentifyController::parse(buf);
    let Ok(view) = view else {
        assert!(buf.len() < IdentifyController::LEN && parsed.is_err());
        return;
    };
    let _ = (view.keep_alive_granularity(), view.tbkas(), view.serial_number(), view.model_number());
    for n in 0..=4 {
        let _ = view.command_retry_delay(n);
    }
    let Ok(ic) = parsed else { return };
    assert_eq!((ic.cqt, ic.ccrl), (view.command_quiesce_time(), view.cross_controller_reset_limit()));
    assert_eq!(ic.instance(), (view.cntlid.get(), view.ciu, view.cirn.get()));
    assert_eq!(ic.keep_alive_granularity(), view.keep_alive_granularity());
    assert_eq!((ic.anacap, ic.anagrpmax, ic.nanagrpid), (view.anacap, view.anagrpmax.get(), view.nanagrpid.get()));
    let mut out = vec![0u8; IdentifyController::LEN];
    assert_eq!(ic.emit(&mut out), Ok(IdentifyController::LEN));
    assert_eq!(IdentifyController::parse(&out), Ok(ic));
}

fn identify_namespace(buf: &[u8]) {
    let Ok(ns) = IdentifyNamespace::parse(buf) else { return };
    let _ = (ns.format().block_size(), ns.is_inactive());
    let mut out = vec![0u8; IdentifyNamespace::LEN];
    assert_eq!(ns.emit(&mut out), Ok(IdentifyNamespace::LEN));
    assert_eq!(IdentifyNamespace::parse(&out), Ok(ns));
}

fn namespace_list(buf: &[u8]) {
    let Ok(list) = NamespaceList::new_checked(buf) else { return };
    let ids: Vec<u32> = list.iter().collect();
    assert_eq!(ids.len(), list.len());
    assert!(ids.windows(2).all(|w| w[0] < w[1]) && !ids.contains(&0));
    assert_eq!(
        (list.last(), list.is_full(), list.is_empty()),
        (ids.last().copied(), ids.len() == NS_LIST_MAX, ids.is_empty())
    );
    let mut out = vec![0u8; 4096];
    assert_eq!(NamespaceList::emit(&ids, &mut out), Ok(4096));
    let again = NamespaceList::new_checked(&out).expect("our own list");
    assert!(again.iter().eq(ids.iter().copied()));
}

fn namespace_descriptors(buf: &[u8]) {
    let Ok(list) = NsDescriptorList::new_checked(buf) else { return };
    let mut ids: Vec<NsIdentifier<'_>> = Vec::new();
    let mut iter = list.iter();
    for item in iter.by_ref() {
        match item {
            Ok(id) => ids.push(id),
            Err(_) => break,
        }
    }
    assert!(iter.next().is_none(), "the descriptor iterator goes on after its end or an error");
    for id in &ids {
        let _ = (id.nidt().expected_len(), id.buffer_len());
    }
    let mut out = vec![0u8; 4096];
    assert_eq!(NsDescriptorList::emit(&ids, &mut out), Ok(4096));
    let again = NsDescriptorList::new_checked(&out).expect("our own list");
    let back: Vec<_> = again.iter().collect::<Result<_, _>>().expect("our own list parses");
    assert_eq!(back, ids);
}

fn ccr_log(data: &[u8]) {
    let Ok(page) = CcrLogPage::new_checked(data) else { return };
    let entries: Vec<_> = page.entries().collect();
    assert_eq!(entries.len(), usize::from(page.ne()));
    assert_eq!(page.as_bytes().len(), CcrLogPage::buffer_len(entries.len()));
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(page.get(i), Some(*e));
        let _ = (e.validated(), e.clri(), e.retry());
    }
    assert_eq!(page.get(entries.len()), None);
    let mut out = vec![0u8; CcrLogPage::buffer_len(entries.len())];
    assert_eq!(CcrLogPage::emit(&entries, &mut out), Ok(out.len()));
    let again = CcrLogPage::new_checked(&out).expect("our own page");
    assert!(again.entries().eq(entries.iter().copied()));
}

fn lhc_log(data: &[u8]) {
    let Ok(page) = LostHostCommunicationLogPage::new_checked(data) else { return };
    let entries: Vec<_> = page.entries().collect();
    assert_eq!(entries.len(), usize::from(page.ne()));
    assert_eq!(page.as_bytes().len(), LostHostCommunicationLogPage::buffer_len(entries.len()));
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(page.get(i), Some(*e));
    }
    assert_eq!(page.get(entries.len()), None);
    let mut out = vec![0u8; LostHostCommunicationLogPage::buffer_len(entries.len())];
    assert_eq!(LostHostCommunicationLogPage::emit(&entries, &mut out), Ok(out.len()));
    let again = LostHostCommunicationLogPage::new_checked(&out).expect("our own page");
    assert!(again.entries().eq(entries.iter().copied()));
}

fn discovery_log(data: &[u8]) {
    let header = DiscoveryLogHeader::parse(data);
    assert_eq!(header.is_ok(), data.len() >= DiscoveryLogHeader::MIN_LEN);
    // The same bytes as the answer to a read at offset 1024 (entries only): one item per record, a cut one an error.
    let items: Vec<_> = DiscoveryLogEntries::new(data).collect();
    assert_eq!(items.len(), data.len().div_ceil(DISCOVERY_RECORD_LEN));
    if !data.len().is_multiple_of(DISCOVERY_RECORD_LEN) {
        assert!(matches!(items.last(), Some(Err(CmdError::BufferTooShort { .. }))));
    }
    let Ok(page) = DiscoveryLogPage::new_checked(data) else { return };
    assert_eq!(Ok(page.header()), header);
    assert_eq!(page.len() as u64, page.header().numrec);
    assert_eq!(page.header().recfmt, 0);
    for (i, item) in page.entries().enumerate() {
        assert_eq!(page.get(i), Some(item));
        assert!(page.view(i).is_some());
    }
    assert_eq!((page.get(page.len()), page.view(page.len())), (None, None));
    let entries: Vec<_> = page.entries().filter_map(Result::ok).collect();
    for e in &entries {
        let _ = (e.treq.secure_channel(), e.treq.sq_flow_control_disable(), e.tcp_security(), e.trtype.name());
    }
    let mut out = vec![0u8; DiscoveryLogPage::buffer_len(entries.len())];
    assert_eq!(DiscoveryLogPage::emit(page.genctr(), &entries, &mut out), Ok(out.len()));
    let again = DiscoveryLogPage::new_checked(&out).expect("our own page");
    assert!(again.entries().eq(entries.iter().copied().map(Ok)));
}

fn ana_log(data: &[u8]) {
    for rgo in [false, true] {
        let Ok(page) = AnaLogPage::new_checked(data, rgo) else { continue };
        assert!(page.len() <= data.len());
        assert_eq!(page.raw_descriptors().count(), usize::from(page.ngrps()));
        let items: Vec<_> = page.descriptors().collect();
        assert_eq!(items.len(), usize::from(page.ngrps()));
        let valid: Vec<_> = items.into_iter().filter_map(Result::ok).collect();
        assert!(!rgo || valid.iter().all(|d| d.nsids.is_empty()));
        for d in &valid {
            assert!(d.anagrpid != 0);
            let _ = (d.state.allows_io(), d.state.name(), d.nsids.iter().count());
        }
        let mut out = vec![0u8; AnaLogPage::buffer_len(&valid, rgo)];
        assert_eq!(AnaLogPage::emit(page.chgcnt(), &valid, rgo, &mut out), Ok(out.len()));
        let again = AnaLogPage::new_checked(&out, rgo).expect("our own page");
        assert!(again.descriptors().eq(valid.iter().copied().map(Ok)));
        if valid.len() == usize::from(page.ngrps()) {
            assert_eq!(again.len(), page.len(), "every descriptor valid: same framing");
        }
    }
    if let Ok((d, used)) = AnaGroupDescriptor::parse(data) {
        assert_eq!(used, d.buffer_len());
        let mut out = vec![0u8; used];
        assert_eq!(d.emit(&mut out), Ok(used));
        assert_eq!(AnaGroupDescriptor::parse(&out), Ok((d, used)));
    }
}

// ---------------------------------------------------------------------------------------------------------------
// auth_messages

/// `auth_messages`: the input read as an authentication message (by [`AuthMessage::parse`] and by each typed
/// parser) and, when it is UTF-8, as a `DHHC-1` secret text.
///
/// Checks: the typed parser of the message's identifier agrees with `AuthMessage::parse` and the six others refuse
/// it as a wrong message; the message re-encodes into exactly `buffer_len` bytes (one byte less is
/// `BufferTooShort` with that length), the encoding parses to a message that re-encodes to the same bytes, with the
/// same identifier and T_ID; an error's failure explanation is 0x07 exactly for a wrong message. A secret that
/// parses is 32, 48 or 64 bytes and re-encodes to the input (with its final colon); a CRC error names a stored CRC
/// that differs from the computed one.
pub fn auth_messages(data: &[u8]) {
    auth_message(data);
    if let Ok(text) = std::str::from_utf8(data) {
        dhchap_secret(text);
    }
}

fn auth_message(data: &[u8]) {
    let typed: [Result<AuthMsgId, AuthError>; 7] = [
        Negotiate::parse(data).map(|_| AuthMsgId::NEGOTIATE),
        Challenge::parse(data).map(|_| AuthMsgId::CHALLENGE),
        Reply::parse(data).map(|_| AuthMsgId::REPLY),
        Success1::parse(data).map(|_| AuthMsgId::SUCCESS1),
        Success2::parse(data).map(|_| AuthMsgId::SUCCESS2),
        Failure1::parse(data).map(|_| AuthMsgId::FAILURE1),
        Failure2::parse(data).map(|_| AuthMsgId::FAILURE2),
    ];
    let message = match AuthMessage::parse(data) {
        Ok(m) => m,
        Err(e) => {
            let wrong = matches!(e, AuthError::WrongMessage { .. });
            assert_eq!(e.explanation() == FailureExplanation::INCORRECT_PROTOCOL_MESSAGE, wrong, "{e:?}");
            assert!(typed.iter().all(Result::is_err), "a typed parser accepted what AuthMessage refused ({e:?})");
            if let (Some(&t), Some(&i)) = (data.first(), data.get(1)) {
                let known = AuthMsgId(i).auth_type() == Some(AuthType(t));
                assert_eq!(!known, wrong, "unknown pairs, and only they, are wrong messages at this level: {e:?}");
            }
            return;
        }
    };
    for r in &typed {
        match r {
            Ok(id) => assert_eq!(*id, message.id(), "two parsers accepted the same bytes"),
            Err(e) => assert!(matches!(e, AuthError::WrongMessage { .. }), "{e:?} for a {:?}", message.id()),
        }
    }
    assert_eq!(typed.iter().filter(|r| r.is_ok()).count(), 1);
    let len = message.buffer_len();
    let mut out = vec![0xA5u8; len];
    assert_eq!(message.emit(&mut out), Ok(len));
    if len > 0 {
        assert_eq!(message.emit(&mut out.clone()[..len - 1]), Err(AuthError::BufferTooShort { needed: len }));
    }
    let again = AuthMessage::parse(&out).expect("our own encoding parses");
    assert_eq!((again.id(), again.t_id()), (message.id(), message.t_id()));
    let mut out2 = vec![0u8; again.buffer_len()];
    assert_eq!(again.emit(&mut out2), Ok(len));
    assert_eq!(out, out2, "the encoding is not stable");
    // Only a Success1 without R2 may encode longer than what was parsed (its R2 field is always sent).
    if !matches!(message, AuthMessage::Success1(Success1 { response: None, .. })) {
        assert!(len <= data.len(), "encoded {len} bytes from {}", data.len());
    }
}

fn dhchap_secret(text: &str) {
    match DhchapSecret::parse(text) {
        Ok(secret) => {
            assert!(DhchapSecret::LENGTHS.contains(&secret.secret().len()));
            let mut buf = [0u8; DhchapSecret::MAX_TEXT_LEN];
            let n = secret.emit(&mut buf).expect("fits");
            let canonical = if text.ends_with(':') { text.to_string() } else { format!("{text}:") };
            assert_eq!(std::str::from_utf8(&buf[..n]), Ok(canonical.as_str()));
            assert_eq!(format!("{secret:?}"), format!("DHHC-1:{:02}:<redacted>", secret.transform().0));
        }
        Err(SecretError::Crc { stored, computed }) => assert_ne!(stored, computed),
        Err(SecretError::UnknownTransform(t)) => assert!(t > 3),
        Err(_) => {}
    }
}
