//! `nvme-lab decode`: NVMe/TCP bytes (hex text or a pcap) to one JSON line per PDU.
//!
//! Every byte goes through nvme-proto's [`Deframer`] (one per receiving side of each connection), so what this
//! prints is exactly what a receiver built on nvme-proto accepts or rejects, with the FES and FEI it would put in a
//! termination request. Commands are tracked by CID per connection, so completions and data decode in context:
//! the CQE of a CCR shows IRS/V/CLRI, the data of an Identify Controller shows CQT/CIU/CIRN/CCRL, the data of a
//! Get Log Page 0x1E shows the CCR log entries, 0x70 the Discovery log (header, entries) and 0x0C the ANA groups with
//! their states and NSIDs.

mod fields;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::{self, Write};
use std::time::Duration;

use nvme_pcap::{CapturedStream, Direction, PcapTcpReader, StreamGap};
use nvme_proto::cmd::{Command, CommandContext, Cqe, FabricsCommand, QueueKind, Sqe};
use nvme_proto::tcp::{CommonHeader, Decoded, Deframer, IcReq, IcResp, Params, Pdu, PduError, PduFlags, PduType, Role};

use crate::json::{J, Obj};

/// Where the header and data digest flags come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DigestMode {
    /// From the connection's ICReq/ICResp when the input has them, else from each PDU's HDGSTF/DDGSTF.
    Auto,
    /// Header and data digests required on every PDU that can carry them.
    On,
    /// No digests expected; a PDU announcing one is an invalid header field (FES 1, FEI 1).
    Off,
}

/// How SQEs are read before a Fabrics Connect tells which queue a connection carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueMode {
    /// From the connection's Connect (QID 0: admin, else I/O); admin until a Connect is seen.
    Auto,
    /// Always the admin opcode space.
    Admin,
    /// Always the I/O opcode space.
    Io,
}

/// Decoding options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Digest expectations.
    pub digests: DigestMode,
    /// Opcode space.
    pub queue: QueueMode,
}

/// What was decoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// PDUs printed.
    pub pdus: usize,
    /// Error lines printed plus PDUs with a bad data digest.
    pub errors: usize,
}

/// A command seen on a connection, kept until its completion.
struct Pending {
    command: Option<Command>,
    ctx: CommandContext,
    /// Bytes of controller-to-host data to collect for decoding.
    want: Option<usize>,
    data: Vec<u8>,
    got: usize,
}

/// One connection (one NVMe queue): IC parameters, queue kind, commands in flight.
#[derive(Default)]
struct Conn {
    ic_req: Option<IcReq>,
    ic_resp: Option<IcResp>,
    params: Option<Params>,
    queue: Option<QueueKind>,
    cmds: HashMap<u16, Pending>,
}

/// One byte stream: a direction of a captured connection, or the whole hex input.
struct Stream<'a> {
    bytes: &'a [u8],
    off: usize,
    conn: usize,
    /// The receiving side; `None` for hex input, where each PDU's type bit tells.
    receiver: Option<Role>,
    capture: Option<(&'a CapturedStream, Duration)>,
    gap: Option<StreamGap>,
    labels: Option<(String, String)>,
    to_controller: Option<Deframer>,
    to_host: Option<Deframer>,
    done: bool,
}

impl Stream<'_> {
    /// The capture frame that completes the next PDU (or holds the last byte), for time ordering.
    fn next_frame(&self) -> Option<u64> {
        if self.done {
            return None;
        }
        let (cap, _) = self.capture?;
        let rest = &self.bytes[self.off..];
        if rest.is_empty() {
            return self.gap.map(|g| g.frame);
        }
        let end = match CommonHeader::view(rest) {
            Some(ch) => self.off.saturating_add(ch.plen.get() as usize).min(self.bytes.len()),
            None => self.bytes.len(),
        };
        cap.mark_at(end.max(self.off + 1) - 1).map(|m| m.frame)
    }
}

/// Decodes `input` and writes the JSON lines to `out`.
pub fn decode_hex(bytes: &[u8], opts: Options, out: &mut dyn Write) -> io::Result<Summary> {
    let mut conns = vec![Conn::default()];
    let mut stream = Stream {
        bytes,
        off: 0,
        conn: 0,
        receiver: None,
        capture: None,
        gap: None,
        labels: None,
        to_controller: None,
        to_host: None,
        done: false,
    };
    let mut summary = Summary::default();
    while let Some(line) = step(&mut stream, &mut conns, opts, &mut summary) {
        writeln!(out, "{}", line.to_line())?;
    }
    Ok(summary)
}

/// Decodes every TCP connection of a capture, PDUs printed in the order of the frames that complete them.
pub fn decode_pcap(capture: &PcapTcpReader, opts: Options, out: &mut dyn Write) -> io::Result<Summary> {
    let flows = capture.flows();
    let epoch = flows
        .iter()
        .flat_map(|f| [f.to_controller.marks.first(), f.to_host.marks.first()])
        .flatten()
        .map(|m| m.ts)
        .min()
        .unwrap_or_default();
    let mut conns: Vec<Conn> = Vec::new();
    let mut streams = Vec::new();
    for flow in flows {
        conns.push(Conn::default());
        let host = flow.host.to_string();
        let ctrl = flow.controller.to_string();
        // Trust the bytes over the port heuristics: a stream whose first PDU type is odd comes from the controller.
        let first_is_odd = |s: &CapturedStream| s.bytes.first().map(|b| b & 1 == 1);
        let swapped = first_is_odd(&flow.to_controller) == Some(true) || first_is_odd(&flow.to_host) == Some(false);
        for dir in [Direction::HostToController, Direction::ControllerToHost] {
            let s = flow.stream(dir);
            let to_controller = (dir == Direction::HostToController) != swapped;
            let (receiver, labels) = if to_controller {
                (Role::Controller, (host.clone(), ctrl.clone()))
            } else {
                (Role::Host, (ctrl.clone(), host.clone()))
            };
            streams.push(Stream {
                bytes: &s.bytes,
                off: 0,
                conn: conns.len() - 1,
                receiver: Some(receiver),
                capture: Some((s, epoch)),
                gap: s.gap,
                labels: Some(labels),
                to_controller: None,
                to_host: None,
                done: false,
            });
        }
    }
    let mut summary = Summary::default();
    // The stream whose next PDU completes first, by frame (ties by stream order): a heap of each stream's next
    // frame, so a capture of many connections costs a logarithm per PDU, not a scan of every stream.
    let mut next: BinaryHeap<Reverse<(u64, usize)>> =
        streams.iter().enumerate().filter_map(|(i, s)| s.next_frame().map(|f| Reverse((f, i)))).collect();
    while let Some(Reverse((_, i))) = next.pop() {
        match step(&mut streams[i], &mut conns, opts, &mut summary) {
            Some(line) => writeln!(out, "{}", line.to_line())?,
            None => streams[i].done = true,
        }
        if let Some(f) = streams[i].next_frame() {
            next.push(Reverse((f, i)));
        }
    }
    Ok(summary)
}

/// The parameters to decode the PDU at the start of `rest` with.
fn params_for(mode: DigestMode, negotiated: Option<Params>, rest: &[u8]) -> Params {
    let base = negotiated.unwrap_or_default();
    match mode {
        DigestMode::Auto if negotiated.is_some() => base,
        DigestMode::Auto => {
            let flags = PduFlags(rest.get(1).copied().unwrap_or(0));
            Params {
                header_digest: flags.contains(PduFlags::HDGSTF),
                data_digest: flags.contains(PduFlags::DDGSTF),
                ..base
            }
        }
        DigestMode::On => Params { header_digest: true, data_digest: true, ..base },
        DigestMode::Off => Params { header_digest: false, data_digest: false, ..base },
    }
}

/// The common fields every line of `stream` starts with.
fn base(stream: &Stream<'_>, receiver: Role) -> Obj {
    let mut o = Obj::new();
    if let Some((cap, epoch)) = stream.capture {
        let at = stream.off.min(stream.bytes.len().saturating_sub(1));
        if let Some(m) = cap.mark_at(at) {
            o.put("frame", m.frame);
            o.put("time", ((m.ts.saturating_sub(epoch)).as_secs_f64() * 1e6).round() / 1e6);
        }
        o.put("conn", stream.conn);
    }
    if let Some((src, dst)) = &stream.labels {
        o.put("src", src.as_str()).put("dst", dst.as_str());
    }
    o.put("dir", if receiver == Role::Controller { "h2c" } else { "c2h" });
    o.put("offset", stream.off);
    o
}

/// Decodes the next PDU of `stream`; `None` when the stream is finished.
fn step(stream: &mut Stream<'_>, conns: &mut [Conn], opts: Options, summary: &mut Summary) -> Option<Obj> {
    if stream.done {
        return None;
    }
    let bytes = stream.bytes;
    let rest = &bytes[stream.off..];
    if rest.is_empty() {
        stream.done = true;
        let gap = stream.gap?;
        let receiver = stream.receiver.unwrap_or(Role::Controller);
        let mut o = Obj::new();
        o.put(
            "error",
            format!("capture gap: {} bytes missing; the rest of this direction is not decoded", gap.missing),
        );
        o.put("fes", J::Null).put("fei", J::Null).extend(base(stream, receiver));
        summary.errors += 1;
        return Some(o);
    }
    let ty = PduType(rest[0]);
    let receiver = stream.receiver.unwrap_or(ty.sender().peer());
    let conn = &mut conns[stream.conn];
    let params = params_for(opts.digests, conn.params, rest);
    let place = base(stream, receiver);
    let mut o = Obj::new();
    let slot = if receiver == Role::Controller { &mut stream.to_controller } else { &mut stream.to_host };
    let deframer = slot.get_or_insert_with(|| {
        if ty.is_ic() { Deframer::new(receiver) } else { Deframer::established(receiver, params) }
    });
    deframer.set_params(params);
    match deframer.decode(rest) {
        Ok(Decoded::Need(n)) => {
            stream.done = true;
            summary.errors += 1;
            match stream.gap {
                Some(g) => o.put(
                    "error",
                    format!("capture gap: {} bytes missing inside this PDU ({n} more bytes needed)", g.missing),
                ),
                None => o.put("error", format!("truncated: need {n} more bytes")),
            };
            o.put("fes", J::Null).put("fei", J::Null).extend(place).put("need", n);
            header_fields(&mut o, rest);
            Some(o)
        }
        Ok(Decoded::Pdu { pdu, consumed }) => {
            header_fields(&mut o, rest);
            let flags = PduFlags(rest[1]);
            o.put("hdgst", if flags.contains(PduFlags::HDGSTF) { "good" } else { "absent" });
            o.put("ddgst", if flags.contains(PduFlags::DDGSTF) { "good" } else { "absent" });
            o.extend(place);
            pdu_fields(&mut o, &pdu, conn, opts);
            stream.off += consumed;
            summary.pdus += 1;
            Some(o)
        }
        Err(PduError::DataDigest(d)) => {
            // Not fatal: the header was verified, so decode the PDU with the digest it should have had, mark it bad
            // and go on with the next PDU.
            summary.errors += 1;
            summary.pdus += 1;
            header_fields(&mut o, rest);
            o.put("hdgst", if PduFlags(rest[1]).contains(PduFlags::HDGSTF) { "good" } else { "absent" });
            o.put("ddgst", "bad");
            o.put("ddgst_received", format!("{:#010x}", d.received));
            o.put("ddgst_computed", format!("{:#010x}", d.computed));
            o.put("ddgst_error", PduError::DataDigest(d).to_string());
            o.extend(place);
            let mut fixed = rest[..d.consumed].to_vec();
            let n = fixed.len();
            fixed[n - 4..].copy_from_slice(&d.computed.to_le_bytes());
            match Pdu::parse(&fixed, &params, receiver) {
                Ok(pdu) => pdu_fields(&mut o, &pdu, conn, opts),
                Err(e) => {
                    o.put("reparse_error", e.to_string());
                }
            }
            stream.off += d.consumed;
            Some(o)
        }
        Err(e) => {
            stream.done = true;
            summary.errors += 1;
            o.put("error", e.to_string());
            o.put("fes", e.fes().map(|f| f.0))
                .put("fei", if e.fes().is_some() { J::U(e.fei().into()) } else { J::Null });
            o.extend(place).put("fatal", e.is_fatal());
            header_fields(&mut o, rest);
            if matches!(e, PduError::HeaderDigest { .. }) {
                o.put("hdgst", "bad");
            }
            Some(o)
        }
    }
}

/// Type and common header fields, from the raw bytes (also for PDUs that failed).
fn header_fields(o: &mut Obj, rest: &[u8]) {
    let ty = PduType(rest[0]);
    o.put("type", ty.name().map_or_else(|| format!("unknown {:#04x}", ty.0), str::to_string));
    if let Some(ch) = CommonHeader::view(rest) {
        o.put("hlen", ch.hlen).put("pdo", ch.pdo).put("plen", ch.plen.get());
        o.put("flags", ch.flags.0).put("flag_names", fields::flag_names(ch.flags));
    }
}

fn queue_of(conn: &Conn, opts: Options) -> QueueKind {
    match opts.queue {
        QueueMode::Admin => QueueKind::Admin,
        QueueMode::Io => QueueKind::Io,
        QueueMode::Auto => conn.queue.unwrap_or(QueueKind::Admin),
    }
}

fn pdu_fields(o: &mut Obj, pdu: &Pdu<'_>, conn: &mut Conn, opts: Options) {
    match pdu {
        Pdu::IcReq(r) => {
            fields::ic_req(o, r);
            conn.ic_req = Some(*r);
            negotiate(o, conn);
        }
        Pdu::IcResp(r) => {
            fields::ic_resp(o, r);
            conn.ic_resp = Some(*r);
            negotiate(o, conn);
        }
        Pdu::TermReq(t) => fields::term_req(o, t),
        Pdu::CapsuleCmd(c) => {
            let sqe = Sqe::from_bytes(&c.sqe);
            let queue = queue_of(conn, opts);
            let command = Command::parse(queue, &sqe);
            let ctx = fields::command_context(queue, &sqe);
            o.put("cmd", fields::sqe(queue, &sqe, command.as_ref().map_err(|e| e.to_string())));
            o.put("data_len", c.data.len());
            if let Ok(Command::Admin(nvme_proto::cmd::AdminCommand::Fabrics(FabricsCommand::Connect(k))))
            | Ok(Command::Io(nvme_proto::cmd::IoCommand::Fabrics(FabricsCommand::Connect(k)))) = &command
            {
                conn.queue = Some(if k.qid == 0 { QueueKind::Admin } else { QueueKind::Io });
                if !c.data.is_empty() {
                    o.put("connect_data", fields::connect_data(c.data));
                }
            }
            let command = command.ok();
            let want = command.as_ref().and_then(fields::wants_data);
            if conn.cmds.contains_key(&sqe.cid) {
                o.put("cid_in_use", true);
            }
            conn.cmds.insert(sqe.cid, Pending { command, ctx, want, data: Vec::new(), got: 0 });
        }
        Pdu::CapsuleResp(r) => {
            let cqe = Cqe::from_bytes(&r.cqe);
            let pending = conn.cmds.remove(&cqe.cid);
            let cmd = pending.as_ref().and_then(|p| p.command.as_ref().map(|c| (c, p.ctx)));
            let mut c = fields::cqe(&cqe, cmd);
            if let Some(p) = pending.as_ref().filter(|p| p.command.is_none()) {
                c.put("for", fields::context_name(p.ctx));
            }
            o.put("cqe", c);
        }
        Pdu::C2HData(d) => {
            o.put("cccid", d.cccid).put("datao", d.datao).put("datal", d.data.len()).put("last", d.last);
            o.put("success", d.success);
            let done = if let Some(p) = conn.cmds.get_mut(&d.cccid) {
                o.put("for", fields::context_name(p.ctx));
                if let (Some(want), Some(cmd)) = (p.want, p.command.as_ref()) {
                    let start = d.datao as usize;
                    if p.data.len() < want {
                        p.data.resize(want, 0);
                    }
                    if start < want {
                        let n = d.data.len().min(want - start);
                        p.data[start..start + n].copy_from_slice(&d.data[..n]);
                        p.got += n;
                    }
                    if (d.last || p.got >= want)
                        && let Some((key, value)) = fields::c2h_data(cmd, &p.data[..p.got.min(want)])
                    {
                        o.put(key, value);
                    }
                }
                d.success
            } else {
                o.put("for", J::Null);
                false
            };
            if done {
                // SUCCESS: the command completes without a CapsuleResp.
                conn.cmds.remove(&d.cccid);
            }
        }
        Pdu::H2CData(d) => {
            o.put("cccid", d.cccid).put("ttag", d.ttag).put("datao", d.datao).put("datal", d.data.len());
            o.put("last", d.last);
            o.put("for", conn.cmds.get(&d.cccid).map(|p| fields::context_name(p.ctx)));
        }
        Pdu::R2T(r) => {
            o.put("cccid", r.cccid).put("ttag", r.ttag).put("r2to", r.r2to).put("r2tl", r.r2tl);
            o.put("for", conn.cmds.get(&r.cccid).map(|p| fields::context_name(p.ctx)));
        }
    }
}

/// After both IC PDUs of a connection: the negotiated parameters (or why they are invalid).
fn negotiate(o: &mut Obj, conn: &mut Conn) {
    if let (Some(req), Some(resp)) = (conn.ic_req, conn.ic_resp) {
        match Params::from_ic(&req, &resp) {
            Ok(p) => conn.params = Some(p),
            Err(e) => {
                o.put("negotiation_error", e.to_string());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nvme_pcap::{PcapTcpWriter, TcpFlow};

    /// ICReq, ICResp (both digests), a CCR and its response, vector B (H2CData) and vector C (Keep Alive), from
    /// vectors.md.
    fn stream() -> Vec<u8> {
        let mut hex = String::from("00 00 80 00 80 00 00 00 00 00 00 03 00 00 00 00");
        hex.push_str(&" 00".repeat(112));
        hex.push_str(" 01 00 80 00 80 00 00 00 00 00 00 03 00 00 40 00");
        hex.push_str(&" 00".repeat(112));
        hex.push_str(
            " 04 01 48 00 4c 00 00 00 38 40 21 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 \
             00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 5a 02 00 07 00 00 00 00 00 88 77 66 55 44 33 22 11 \
             00 00 00 00 00 00 00 00 92 33 4c 40 \
             05 01 18 00 1c 00 00 00 00 00 00 00 00 00 00 00 05 00 00 00 21 00 00 00 e2 53 42 eb \
             06 07 18 1c 28 00 00 00 09 00 03 00 00 00 00 00 08 00 00 00 00 00 00 00 ed 95 2e 61 01 02 03 04 \
             05 06 07 08 81 1f 89 46 \
             04 01 48 00 4c 00 00 00 18 40 10 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 \
             00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 5a 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 \
             00 00 00 00 00 00 00 00 75 18 f1 64",
        );
        crate::hex::parse_hex(&hex).unwrap()
    }

    /// Every line is one JSON object that names a PDU type or an error.
    fn check_lines(out: &[u8]) {
        for line in std::str::from_utf8(out).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert!(v.get("type").is_some() || v.get("error").is_some(), "{line}");
        }
    }

    const ALL_OPTIONS: [Options; 3] = [
        Options { digests: DigestMode::Auto, queue: QueueMode::Auto },
        Options { digests: DigestMode::On, queue: QueueMode::Io },
        Options { digests: DigestMode::Off, queue: QueueMode::Admin },
    ];

    #[test]
    fn clean_stream_has_no_errors() {
        let mut out = Vec::new();
        let s = decode_hex(&stream(), ALL_OPTIONS[0], &mut out).unwrap();
        assert_eq!(s, Summary { pdus: 6, errors: 0 });
        check_lines(&out);
    }

    /// Mutated streams and captures (bytes flipped, cut short): never a panic, always JSON, and any change inside a
    /// digest-covered PDU after the IC exchange is reported.
    #[test]
    fn mutations_never_panic() {
        let clean = stream();
        let mut w = PcapTcpWriter::new(Vec::new()).unwrap();
        let mut flow = TcpFlow::numbered(1);
        w.write(&mut flow, Direction::HostToController, Duration::ZERO, &clean).unwrap();
        let pcap = w.into_inner();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..1500 {
            let mut bytes = clean.clone();
            let flips = 1 + next() % 3;
            let mut first_flip = usize::MAX;
            for _ in 0..flips {
                let at = (next() % bytes.len() as u64) as usize;
                bytes[at] ^= 1 << (next() % 8);
                first_flip = first_flip.min(at);
            }
            if round % 5 == 0 {
                bytes.truncate((next() % bytes.len() as u64) as usize);
            }
            for opts in ALL_OPTIONS {
                let mut out = Vec::new();
                let summary = decode_hex(&bytes, opts, &mut out).unwrap();
                check_lines(&out);
                // Past the IC PDUs everything is covered by a header or data digest.
                if opts.digests == DigestMode::Auto && first_flip >= 256 && bytes.len() == clean.len() {
                    assert!(summary.errors > 0, "round {round}: flip at {first_flip} not reported");
                }
            }
            let mut p = pcap.clone();
            let at = (next() % p.len() as u64) as usize;
            p[at] ^= 1 << (next() % 8);
            if round % 3 == 0 {
                p.truncate((next() % p.len() as u64) as usize);
            }
            if let Ok(capture) = PcapTcpReader::from_bytes(&p) {
                let mut out = Vec::new();
                decode_pcap(&capture, ALL_OPTIONS[round % 3], &mut out).unwrap();
                check_lines(&out);
            }
        }
    }
}
