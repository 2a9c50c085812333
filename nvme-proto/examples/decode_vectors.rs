//! Decodes every NVMe/TCP vector of nvme_proto::notes::vectors (and the extra ones of tests/tcp_vectors.rs) with the
//! streaming deframer, and prints one line per PDU: type, flags, HLEN, PDO, PLEN, digest status and the key fields;
//! for the negative vectors, the error with its FES, FEI and whether it is fatal.
//!
//! Run: `cargo run -p nvme-proto --example decode_vectors`

use nvme_proto::tcp::{CommonHeader, Decoded, Deframer, IcReq, IcResp, Params, Pdu, PduError, PduFlags, Role, TermReq};

struct Vector {
    name: &'static str,
    /// Who receives it (and so validates it).
    receiver: Role,
    /// The negotiated parameters; `None`: an IC PDU, decoded by a fresh deframer.
    params: Option<Params>,
    hex: &'static str,
}

const HD: Params =
    Params { header_digest: true, data_digest: false, hpda: 0, cpda: 0, maxr2t: 0, maxh2cdata: 0x40_0000 };
const HD_DD: Params = Params { data_digest: true, ..HD };
const CPDA7: Params = Params { cpda: 7, ..HD_DD };
const NONE: Params = Params { header_digest: false, ..HD };

const IC_REQ: &str = "00 00 80 00 80 00 00 00 00 00 00 03 00 00 00 00";
const IC_RESP: &str = "01 00 80 00 80 00 00 00 00 00 00 03 00 00 40 00";

const VECTORS: &[Vector] = &[
    Vector {
        name: "2.1 A",
        receiver: Role::Host,
        params: Some(HD),
        hex: "05 01 18 00 1c 00 00 00 01 00 00 00 00 00 00 00 01 00 00 00 01 00 00 00 fa c8 76 ef",
    },
    Vector {
        name: "2.2 B",
        receiver: Role::Controller,
        params: Some(HD_DD),
        hex: "06 07 18 1c 28 00 00 00 09 00 03 00 00 00 00 00 08 00 00 00 00 00 00 00 ed 95 2e 61 01 02 03 04 05 06 07 08 81 1f 89 46",
    },
    Vector {
        name: "2.3 C",
        receiver: Role::Controller,
        params: Some(HD),
        hex: "04 01 48 00 4c 00 00 00 18 40 10 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 5a 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 75 18 f1 64",
    },
    Vector {
        name: "2.4 A-bad-header",
        receiver: Role::Host,
        params: Some(HD),
        hex: "05 01 18 00 1c 00 00 00 01 00 00 00 00 00 00 00 02 00 00 00 01 00 00 00 fa c8 76 ef",
    },
    Vector {
        name: "2.4 B-bad-data",
        receiver: Role::Controller,
        params: Some(HD_DD),
        hex: "06 07 18 1c 28 00 00 00 09 00 03 00 00 00 00 00 08 00 00 00 00 00 00 00 ed 95 2e 61 01 02 03 04 05 06 07 09 81 1f 89 46",
    },
    Vector {
        name: "2.5 padded",
        receiver: Role::Controller,
        params: Some(CPDA7),
        hex: "06 07 18 20 2c 00 00 00 09 00 03 00 00 00 00 00 08 00 00 00 00 00 00 00 44 46 5f 94 00 00 00 00 01 02 03 04 05 06 07 08 81 1f 89 46",
    },
    Vector {
        name: "2.5 PAD-flipped",
        receiver: Role::Controller,
        params: Some(CPDA7),
        hex: "06 07 18 20 2c 00 00 00 09 00 03 00 00 00 00 00 08 00 00 00 00 00 00 00 44 46 5f 94 ff ff ff ff 01 02 03 04 05 06 07 08 81 1f 89 46",
    },
    Vector { name: "3.3 ICReq", receiver: Role::Controller, params: None, hex: IC_REQ },
    Vector { name: "3.3 ICResp", receiver: Role::Host, params: None, hex: IC_RESP },
    Vector {
        name: "3.3 CCR cmd",
        receiver: Role::Controller,
        params: Some(HD),
        hex: "04 01 48 00 4c 00 00 00 38 40 21 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 5a 02 00 07 00 00 00 00 00 88 77 66 55 44 33 22 11 00 00 00 00 00 00 00 00 92 33 4c 40",
    },
    Vector {
        name: "3.3 CCR resp",
        receiver: Role::Host,
        params: Some(HD),
        hex: "05 01 18 00 1c 00 00 00 00 00 00 00 00 00 00 00 05 00 00 00 21 00 00 00 e2 53 42 eb",
    },
    Vector {
        name: "3.3 CCR limit",
        receiver: Role::Host,
        params: Some(HD),
        hex: "05 01 18 00 1c 00 00 00 00 00 00 00 00 00 00 00 06 00 00 00 21 00 82 02 6b 6e bb 0d",
    },
    Vector {
        name: "extra R2T",
        receiver: Role::Host,
        params: Some(HD),
        hex: "09 01 18 00 1c 00 00 00 09 00 03 00 00 00 00 00 08 00 00 00 00 00 00 00 cd 95 1c 6e",
    },
    Vector {
        name: "extra C2HData",
        receiver: Role::Host,
        params: Some(HD_DD),
        hex: "07 0f 18 1c 24 00 00 00 21 00 00 00 00 00 00 00 04 00 00 00 00 00 00 00 79 5f b0 23 de ad be ef 8e 77 dc f1",
    },
    Vector {
        name: "extra write cmd",
        receiver: Role::Controller,
        params: Some(HD_DD),
        hex: "04 03 48 4c 58 00 00 00 01 40 05 00 01 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 08 00 00 00 00 00 00 01 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 92 f3 f1 7b 10 11 12 13 14 15 16 17 9d e4 72 6b",
    },
    Vector {
        name: "extra H2CTermReq",
        receiver: Role::Controller,
        params: Some(NONE),
        hex: "02 00 18 00 30 00 00 00 03 00 fa c8 76 ef 00 00 00 00 00 00 00 00 00 00 05 01 18 00 1c 00 00 00 01 00 00 00 00 00 00 00 02 00 00 00 01 00 00 00",
    },
];

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace().map(|b| u8::from_str_radix(b, 16).expect("hex byte")).collect()
}

fn flags(f: PduFlags) -> String {
    let names: Vec<&str> =
        [(PduFlags::HDGSTF, "H"), (PduFlags::DDGSTF, "D"), (PduFlags::LAST_PDU, "L"), (PduFlags::SUCCESS, "S")]
            .into_iter()
            .filter(|(bit, _)| f.contains(*bit))
            .map(|(_, n)| n)
            .collect();
    format!("0x{:02x}[{}]", f.0, names.join(""))
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn fields(pdu: &Pdu<'_>) -> String {
    match pdu {
        Pdu::IcReq(IcReq { hpda, header_digest, data_digest, maxr2t }) => {
            format!("pfv 0 hpda {hpda} hdgst {header_digest} ddgst {data_digest} maxr2t {maxr2t} (0's based)")
        }
        Pdu::IcResp(IcResp { cpda, header_digest, data_digest, maxh2cdata }) => {
            format!("pfv 0 cpda {cpda} hdgst {header_digest} ddgst {data_digest} maxh2cdata {maxh2cdata:#x}")
        }
        Pdu::TermReq(TermReq { fes, fei, data, .. }) => {
            format!("fes {fes:?} fei {fei:#010x} copied {} bytes", data.len())
        }
        Pdu::CapsuleCmd(c) => format!(
            "opcode {:#04x} cid {:#06x} sgl1 type {:#04x} in-capsule {} bytes",
            c.sqe[0],
            c.cid(),
            c.sqe[39],
            c.data.len()
        ),
        Pdu::CapsuleResp(c) => format!(
            "cid {:#06x} dw0 {:#010x} sqhd {} sqid {} status {:#06x}",
            c.cid(),
            u32::from_le_bytes(c.cqe[0..4].try_into().unwrap()),
            le16(&c.cqe, 8),
            le16(&c.cqe, 10),
            le16(&c.cqe, 14)
        ),
        Pdu::H2CData(d) => format!(
            "cccid {:#06x} ttag {:#06x} datao {} datal {} last {} data {:02x?}",
            d.cccid,
            d.ttag,
            d.datao,
            d.data.len(),
            d.last,
            d.data
        ),
        Pdu::C2HData(d) => format!(
            "cccid {:#06x} datao {} datal {} last {} success {} data {:02x?}",
            d.cccid,
            d.datao,
            d.data.len(),
            d.last,
            d.success,
            d.data
        ),
        Pdu::R2T(r) => format!("cccid {:#06x} ttag {:#06x} r2to {} r2tl {}", r.cccid, r.ttag, r.r2to, r.r2tl),
    }
}

fn error_line(err: &PduError, deframer: &Deframer, bytes: &[u8]) -> String {
    let mut s = format!("ERROR {err}; ");
    match err.fes() {
        Some(fes) => s += &format!("FES {fes:?} FEI {:#x} ", err.fei()),
        None => s += "no FES, ",
    }
    s += if err.is_fatal() { "fatal" } else { "not fatal" };
    if let (Some(cccid), Some(status), Some(n)) = (err.cccid(), err.command_status(), err.consumed()) {
        s += &format!(": fail CCCID {cccid:#06x} with status {status:#06x}, drop {n} bytes, continue");
    }
    match deframer.term_req(err, bytes) {
        Some(t) => s += &format!("; send {} PLEN {}", t.pdu_type(), t.buffer_len()),
        None if err.is_fatal() => s += "; close without TermReq",
        None => {}
    }
    s
}

fn main() {
    let mut failures = 0;
    for v in VECTORS {
        let mut bytes = hex(v.hex);
        if v.params.is_none() {
            bytes.resize(128, 0); // IC PDUs: 112 reserved zero bytes follow the 16 shown.
        }
        let mut d = match v.params {
            Some(p) => Deframer::established(v.receiver, p),
            None => Deframer::new(v.receiver),
        };
        let ch = CommonHeader::view(&bytes).expect("at least 8 bytes");
        let head = format!(
            "{:<18} {:<11} flags {:<10} hlen {:>3} pdo {:>2} plen {:>3}",
            v.name,
            ch.pdu_type.to_string(),
            flags(ch.flags),
            ch.hlen,
            ch.pdo,
            ch.plen.get()
        );
        match d.decode(&bytes) {
            Ok(Decoded::Pdu { pdu, consumed }) => {
                let dg = |on: bool| if on { "good" } else { "-" };
                let has_data = ch.flags.contains(PduFlags::DDGSTF);
                println!(
                    "{head} hdgst {:<4} ddgst {:<4} {}",
                    dg(ch.flags.contains(PduFlags::HDGSTF)),
                    dg(has_data),
                    fields(&pdu)
                );
                assert_eq!(consumed, bytes.len());
                if v.name.contains("bad") {
                    failures += 1;
                }
            }
            Ok(Decoded::Need(n)) => {
                println!("{head} incomplete: need {n} more bytes");
                failures += 1;
            }
            Err(err) => {
                println!("{head} {}", error_line(&err, &d, &bytes));
                if !v.name.contains("bad") {
                    failures += 1;
                }
            }
        }
    }
    if failures > 0 {
        eprintln!("{failures} vector(s) did not decode as nvme_proto::notes::vectors says");
        std::process::exit(1);
    }
}
