//! Benchmarks of the workspace (`benches/benches/`, run with `cargo bench -p benches`), and the replay of the
//! `nvme-ccr` and `nvme-sim` fuzz corpora (`benches/tests/fuzz_corpus.rs`). The figures, the limits they are
//! compared with and the machine are in `BENCHMARKS.md`.
//!
//! This library holds the inputs the benchmarks share: PDUs and streams built with nvme-proto's encoders.

use nvme_proto::cmd::{Cqe, CrossControllerReset, IoCommand, ReadWrite, Status};
use nvme_proto::tcp::{C2HData, CapsuleCmd, CapsuleResp, H2CData, Params, Pdu, R2T};

/// Header and data digests on, PDA 0: what a Linux host negotiates with digests enabled.
pub fn both_digests() -> Params {
    Params { header_digest: true, data_digest: true, ..Params::default() }
}

/// `len` bytes of a fixed pattern.
pub fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(7)).collect()
}

/// The encoding of `pdu` under `params`.
pub fn encode(params: &Params, pdu: &Pdu<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; pdu.buffer_len(params)];
    let n = pdu.emit(params, &mut buf).expect("a benchmark PDU encodes");
    buf.truncate(n);
    buf
}

/// A CapsuleCmd carrying a Cross-Controller Reset SQE (72-byte header), with `data` in capsule.
pub fn capsule_cmd(data: &[u8]) -> Pdu<'_> {
    let sqe = CrossControllerReset { icid: 2, ciu: 7, cirn: 0x1122_3344_5566_7788 }.to_sqe(0x21).to_bytes();
    Pdu::CapsuleCmd(CapsuleCmd { sqe, data })
}

/// A successful CapsuleResp for `cid` (24-byte header).
pub fn capsule_resp(cid: u16) -> Pdu<'static> {
    Pdu::CapsuleResp(CapsuleResp { cqe: Cqe::new(cid, Status::SUCCESS).to_bytes() })
}

/// The only C2HData of a read: `data` at offset 0, LAST_PDU set.
pub fn c2h_data_pdu(data: &[u8]) -> Pdu<'_> {
    Pdu::C2HData(C2HData { cccid: 0x42, datao: 0, data, last: true, success: false })
}

/// What a host receives for `reads` 4 KiB reads and as many 4 KiB writes on one I/O queue: per read a 4 KiB
/// C2HData and a CapsuleResp, per write an R2T and a CapsuleResp, encoded under `params`.
pub fn mixed_host_stream(params: &Params, reads: u16) -> Vec<u8> {
    let data = payload(4096);
    let mut out = Vec::new();
    for cid in 0..reads {
        let read = Pdu::C2HData(C2HData { cccid: cid, datao: 0, data: &data, last: true, success: false });
        out.extend(encode(params, &read));
        out.extend(encode(params, &capsule_resp(cid)));
        let write = cid + reads;
        let r2t = Pdu::R2T(R2T { cccid: write, ttag: cid, r2to: 0, r2tl: 4096 });
        out.extend(encode(params, &r2t));
        out.extend(encode(params, &capsule_resp(write)));
    }
    out
}

/// What a controller receives on the same queue: per write a CapsuleCmd (Write SQE) and a 4 KiB H2CData, per read a
/// CapsuleCmd (Read SQE), encoded under `params`.
pub fn mixed_controller_stream(params: &Params, reads: u16) -> Vec<u8> {
    let data = payload(4096);
    let mut out = Vec::new();
    for cid in 0..reads {
        let read = ReadWrite::new(1, u64::from(cid) * 8, 8, 512).expect("a valid Read");
        out.extend(encode(
            params,
            &Pdu::CapsuleCmd(CapsuleCmd { sqe: IoCommand::Read(read).to_sqe(cid).to_bytes(), data: &[] }),
        ));
        let write = cid + reads;
        let rw = ReadWrite::new(1, u64::from(write) * 8, 8, 512).expect("a valid Write");
        out.extend(encode(
            params,
            &Pdu::CapsuleCmd(CapsuleCmd { sqe: IoCommand::Write(rw).to_sqe(write).to_bytes(), data: &[] }),
        ));
        let h2c = Pdu::H2CData(H2CData { cccid: write, ttag: cid, datao: 0, data: &data, last: true });
        out.extend(encode(params, &h2c));
    }
    out
}

/// A zeroed buffer of `len` bytes placed half a page away from `other` modulo 4096 bytes, so that stores to it
/// never 4K-alias loads from `other`. Without this, a copy's speed depends on where the allocator happened to put
/// the two buffers (an aliasing pair made a 72-byte copy ten times slower in one run).
pub struct Apart {
    buf: Vec<u8>,
    start: usize,
    len: usize,
}

impl Apart {
    /// A buffer for `len` bytes, apart from `other`.
    pub fn new(other: &[u8], len: usize) -> Self {
        let buf = vec![0u8; len + 4096];
        let (base, them) = (buf.as_ptr() as usize, other.as_ptr() as usize);
        let start = (them + 2048).wrapping_sub(base) % 4096;
        Apart { buf, start, len }
    }

    /// The buffer.
    pub fn get(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.start + self.len]
    }
}
