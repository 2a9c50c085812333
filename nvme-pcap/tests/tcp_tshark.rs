//! tshark as an independent oracle for our encoder (the captures it accepts: nvme_proto::notes::vectors §4): one pcap
//! with every PDU type, on a connection without digests and one with header and data digests, each starting with ICReq,
//! ICResp and a Fabrics Connect as tshark needs; tshark runs once and every PDU's framing, digest status and command
//! fields must match what we encoded. No padding (CPDA = HPDA = 0): tshark 4.0 ignores PDO.

use std::process::{Command, Stdio};
use std::time::Duration;

use nvme_pcap::{Direction, PcapTcpWriter, TcpFlow};
use nvme_proto::tcp::*;

/// What we encoded into one frame, in tshark's terms (`None`: the field must be absent).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Row {
    src_port: u64,
    pdu_type: u64,
    flags: u64,
    hlen: u64,
    pdo: u64,
    plen: u64,
    hdgst_status: Option<u64>,
    ddgst_status: Option<u64>,
    /// CCCID of a data PDU or R2T (`nvme-tcp.cmd.cid`).
    cccid: Option<u64>,
    ttag: Option<u64>,
    data_offset: Option<u64>,
    data_length: Option<u64>,
    r2t_offset: Option<u64>,
    r2t_length: Option<u64>,
    /// FES of either TermReq.
    fes: Option<u64>,
    /// FEI of either TermReq (tshark files it by FES: `.phfo` for FES 1, `.phd` for FES 3).
    fei: Option<u64>,
    /// CID in the SQE (admin or fabrics) or the CQE.
    sqe_cid: Option<u64>,
    cqe_cid: Option<u64>,
}

const FIELDS: [&str; 25] = [
    "tcp.srcport",
    "nvme-tcp.type",
    "nvme-tcp.flags",
    "nvme-tcp.hlen",
    "nvme-tcp.pdo",
    "nvme-tcp.plen",
    "nvme-tcp.hdgst.status",
    "nvme-tcp.ddgst.status",
    "nvme-tcp.cmd.cid",
    "nvme-tcp.ttag",
    "nvme-tcp.data.offset",
    "nvme-tcp.data.length",
    "nvme-tcp.r2t.offset",
    "nvme-tcp.r2t.length",
    "nvme-tcp.h2ctermreq.fes",
    "nvme-tcp.c2htermreq.fes",
    "nvme.cmd.cid",
    "nvme.fabrics.cmd.cid",
    "nvme.cqe.cid",
    "nvme.fabrics.cmd.connect.kato",
    "nvme.fabrics.cmd.connect.data.subnqn",
    "nvme-tcp.h2ctermreq.phfo",
    "nvme-tcp.h2ctermreq.phd",
    "nvme-tcp.c2htermreq.phfo",
    "nvme-tcp.c2htermreq.phd",
];

const SUBNQN: &str = "nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-000000000001";

fn num(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    Some(match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).unwrap_or_else(|_| panic!("not hex: {s}")),
        None => s.parse().unwrap_or_else(|_| panic!("not a number: {s}")),
    })
}

struct Capture {
    pcap: PcapTcpWriter<Vec<u8>>,
    rows: Vec<Row>,
    ts: Duration,
    /// The KATO tshark must decode from each Connect.
    katos: Vec<u64>,
    /// The host's TCP port of the flow being written (`TcpFlow::numbered(n)` uses 40000 + n).
    host_port: u64,
}

impl Capture {
    /// Encodes `pdu` under `params`, checks our own decoder reads it back, writes it as one frame and records what
    /// tshark must see.
    fn send(&mut self, flow: &mut TcpFlow, params: &Params, pdu: Pdu<'_>) {
        let mut buf = vec![0; pdu.buffer_len(params)];
        let n = pdu.emit(params, &mut buf).unwrap();
        assert_eq!(Pdu::parse(&buf, params, pdu.pdu_type().sender().peer()), Ok(pdu));
        let dir = match pdu.pdu_type().sender() {
            Role::Host => Direction::HostToController,
            Role::Controller => Direction::ControllerToHost,
        };
        self.ts += Duration::from_micros(100);
        self.pcap.write(flow, dir, self.ts, &buf[..n]).unwrap();

        let ch = CommonHeader::view(&buf).unwrap();
        let hd = ch.flags.contains(PduFlags::HDGSTF);
        let dd = ch.flags.contains(PduFlags::DDGSTF);
        let mut row = Row {
            src_port: if dir == Direction::HostToController { self.host_port } else { 4420 },
            pdu_type: u64::from(ch.pdu_type.0),
            flags: u64::from(ch.flags.0),
            hlen: u64::from(ch.hlen),
            pdo: u64::from(ch.pdo),
            plen: u64::from(ch.plen.get()),
            hdgst_status: hd.then_some(1),
            ddgst_status: dd.then_some(1),
            ..Row::default()
        };
        match pdu {
            Pdu::TermReq(t) => {
                row.fes = Some(u64::from(t.fes.0));
                row.fei = Some(u64::from(t.fei));
            }
            Pdu::CapsuleCmd(c) => row.sqe_cid = Some(u64::from(c.cid())),
            Pdu::CapsuleResp(c) => row.cqe_cid = Some(u64::from(c.cid())),
            Pdu::H2CData(d) => {
                row.cccid = Some(d.cccid.into());
                row.ttag = Some(d.ttag.into());
                row.data_offset = Some(d.datao.into());
                row.data_length = Some(d.data.len() as u64);
            }
            Pdu::C2HData(d) => {
                row.cccid = Some(d.cccid.into());
                row.ttag = Some(0);
                row.data_offset = Some(d.datao.into());
                row.data_length = Some(d.data.len() as u64);
            }
            Pdu::R2T(r) => {
                row.cccid = Some(r.cccid.into());
                row.ttag = Some(r.ttag.into());
                row.r2t_offset = Some(r.r2to.into());
                row.r2t_length = Some(r.r2tl.into());
            }
            Pdu::IcReq(_) | Pdu::IcResp(_) => {}
        }
        self.rows.push(row);
    }
}

fn sqe(opcode: u8, cid: u16, sgl_type: u8, sgl_len: u32) -> [u8; 64] {
    let mut s = [0u8; 64];
    s[0] = opcode;
    s[1] = 0x40;
    s[2..4].copy_from_slice(&cid.to_le_bytes());
    s[32..36].copy_from_slice(&sgl_len.to_le_bytes());
    s[39] = sgl_type;
    s
}

fn cqe(cid: u16, dw0: u32) -> [u8; 16] {
    let mut c = [0u8; 16];
    c[0..4].copy_from_slice(&dw0.to_le_bytes());
    c[12..14].copy_from_slice(&cid.to_le_bytes());
    c
}

/// One connection: IC exchange, Connect, a read answered by two C2HData (the last with SUCCESS), a write through an
/// R2T and two H2CData, a command with in-capsule data, a TermReq at the end.
fn conversation(cap: &mut Capture, flow: &mut TcpFlow, params: Params, term_sender: Role) {
    let none = Params { header_digest: false, data_digest: false, ..params };
    cap.send(flow, &none, Pdu::IcReq(params.ic_req()));
    cap.send(flow, &none, Pdu::IcResp(params.ic_resp()));

    // Fabrics Connect, built by hand: opcode 0x7F, FCTYPE 0x01, SGL1 in-capsule (0x01) 1024 bytes, QID 0, SQSIZE 31,
    // KATO 5000 ms; data: HOSTID, CNTLID 0xFFFF at 16, SUBNQN at 256, HOSTNQN at 512.
    let mut connect = sqe(0x7F, 0, 0x01, 1024);
    connect[4] = 0x01;
    connect[42..44].copy_from_slice(&0u16.to_le_bytes());
    connect[44..46].copy_from_slice(&31u16.to_le_bytes());
    connect[48..52].copy_from_slice(&5000u32.to_le_bytes());
    let mut data = vec![0u8; 1024];
    data[..16].copy_from_slice(&[0x11; 16]);
    data[16..18].copy_from_slice(&0xFFFFu16.to_le_bytes());
    let subnqn = SUBNQN.as_bytes();
    let hostnqn = b"nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-000000000002";
    data[256..256 + subnqn.len()].copy_from_slice(subnqn);
    data[512..512 + hostnqn.len()].copy_from_slice(hostnqn);
    cap.send(flow, &params, Pdu::CapsuleCmd(CapsuleCmd { sqe: connect, data: &data }));
    cap.katos.push(5000);
    cap.send(flow, &params, Pdu::CapsuleResp(CapsuleResp { cqe: cqe(0, 1) }));

    // A read (Get Log Page, 64 bytes) answered by two C2HData; the last one with SUCCESS, so no CapsuleResp.
    cap.send(flow, &params, Pdu::CapsuleCmd(CapsuleCmd { sqe: sqe(0x02, 1, 0x5A, 64), data: &[] }));
    let log: Vec<u8> = (0..64).collect();
    cap.send(
        flow,
        &params,
        Pdu::C2HData(C2HData { cccid: 1, datao: 0, data: &log[..32], last: false, success: false }),
    );
    cap.send(flow, &params, Pdu::C2HData(C2HData { cccid: 1, datao: 32, data: &log[32..], last: true, success: true }));

    // A write of 64 bytes through an R2T.
    cap.send(flow, &params, Pdu::CapsuleCmd(CapsuleCmd { sqe: sqe(0x09, 2, 0x5A, 64), data: &[] }));
    cap.send(flow, &params, Pdu::R2T(R2T { cccid: 2, ttag: 5, r2to: 0, r2tl: 64 }));
    cap.send(flow, &params, Pdu::H2CData(H2CData { cccid: 2, ttag: 5, datao: 0, data: &log[..32], last: false }));
    cap.send(flow, &params, Pdu::H2CData(H2CData { cccid: 2, ttag: 5, datao: 32, data: &log[32..], last: true }));
    cap.send(flow, &params, Pdu::CapsuleResp(CapsuleResp { cqe: cqe(2, 0) }));

    // In-capsule data (SGL 0x01, 16 bytes).
    cap.send(flow, &params, Pdu::CapsuleCmd(CapsuleCmd { sqe: sqe(0x09, 3, 0x01, 16), data: &log[..16] }));
    cap.send(flow, &params, Pdu::CapsuleResp(CapsuleResp { cqe: cqe(3, 0) }));

    // The end: a TermReq with a copied 24-byte header.
    let copied = [0x5Au8; 24];
    let (fes, fei) = match term_sender {
        Role::Host => (Fes::INVALID_HEADER_FIELD, 2),
        Role::Controller => (Fes::HEADER_DIGEST_ERROR, 0x1234_5678),
    };
    cap.send(flow, &none, Pdu::TermReq(TermReq { sender: term_sender, fes, fei, data: &copied }));
}

#[test]
#[ignore = "needs tshark: apt-get install tshark"]
fn tshark_decodes_every_pdu_type_with_and_without_digests() {
    let mut cap = Capture {
        pcap: PcapTcpWriter::new(Vec::new()).unwrap(),
        rows: vec![],
        ts: Duration::ZERO,
        katos: vec![],
        host_port: 0,
    };
    let plain = Params::default();
    let digests = Params { header_digest: true, data_digest: true, ..Params::default() };
    let mut flow1 = TcpFlow::numbered(1);
    cap.host_port = 40001;
    conversation(&mut cap, &mut flow1, plain, Role::Host);
    let mut flow2 = TcpFlow::numbered(2);
    cap.host_port = 40002;
    conversation(&mut cap, &mut flow2, digests, Role::Controller);
    let pcap = cap.pcap.into_inner();
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("tcp_tshark_every_pdu.pcap");
    std::fs::write(&path, &pcap).unwrap();

    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(&path);
    cmd.args(["-o", "nvme-tcp.check_hdgst:TRUE", "-o", "nvme-tcp.check_ddgst:TRUE", "-T", "fields"]);
    cmd.args(["-E", "separator=/t", "-E", "occurrence=a"]);
    for f in FIELDS {
        cmd.args(["-e", f]);
    }
    let out = cmd.stdin(Stdio::null()).output().expect("tshark not runnable");
    assert!(out.status.success(), "tshark failed: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), cap.rows.len(), "one frame per PDU:\n{stdout}");

    let types: std::collections::BTreeSet<u64> = cap.rows.iter().map(|r| r.pdu_type).collect();
    assert_eq!(types.into_iter().collect::<Vec<_>>(), vec![0, 1, 2, 3, 4, 5, 6, 7, 9], "all nine types");

    let mut connects = 0;
    for (i, (line, want)) in lines.iter().zip(&cap.rows).enumerate() {
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(cols.len(), FIELDS.len(), "frame {}: {line}", i + 1);
        let c = |name: &str| num(cols[FIELDS.iter().position(|f| *f == name).unwrap()]);
        let got = Row {
            src_port: c("tcp.srcport").unwrap(),
            pdu_type: c("nvme-tcp.type").unwrap(),
            flags: c("nvme-tcp.flags").unwrap(),
            hlen: c("nvme-tcp.hlen").unwrap(),
            pdo: c("nvme-tcp.pdo").unwrap(),
            plen: c("nvme-tcp.plen").unwrap(),
            hdgst_status: c("nvme-tcp.hdgst.status"),
            ddgst_status: c("nvme-tcp.ddgst.status"),
            cccid: c("nvme-tcp.cmd.cid"),
            ttag: c("nvme-tcp.ttag"),
            data_offset: c("nvme-tcp.data.offset"),
            data_length: c("nvme-tcp.data.length"),
            r2t_offset: c("nvme-tcp.r2t.offset"),
            r2t_length: c("nvme-tcp.r2t.length"),
            fes: c("nvme-tcp.h2ctermreq.fes").or(c("nvme-tcp.c2htermreq.fes")),
            fei: [
                "nvme-tcp.h2ctermreq.phfo",
                "nvme-tcp.h2ctermreq.phd",
                "nvme-tcp.c2htermreq.phfo",
                "nvme-tcp.c2htermreq.phd",
            ]
            .into_iter()
            .find_map(c),
            sqe_cid: c("nvme.cmd.cid").or(c("nvme.fabrics.cmd.cid")),
            cqe_cid: c("nvme.cqe.cid"),
        };
        assert_eq!(&got, want, "frame {}: {line}", i + 1);
        if let Some(kato) = c("nvme.fabrics.cmd.connect.kato") {
            assert_eq!(kato, cap.katos[connects], "frame {}", i + 1);
            // The in-capsule data was found where PDO points.
            assert_eq!(cols[FIELDS.iter().position(|f| *f == "nvme.fabrics.cmd.connect.data.subnqn").unwrap()], SUBNQN);
            connects += 1;
        }
    }
    assert_eq!(connects, 2, "tshark decoded both Connect commands");
}
