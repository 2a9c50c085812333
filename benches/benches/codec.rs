//! NVMe/TCP codec benchmarks, each next to the limit it is measured against in the same run (BENCHMARKS.md):
//!
//! * `header_decode`: view + validation of CapsuleCmd (72 B), CapsuleResp (24 B) and ICReq (128 B), next to a copy
//!   of the same bytes (and CRC-32C of them: what a header digest adds);
//! * `c2h_digest`: C2HData of 4 KiB and 128 KiB decoded with header and data digests verified, next to raw
//!   CRC-32C of the same data (goal: at least 0.9 of CRC-32C throughput);
//! * `c2h_plain`: the same PDUs without digests, next to memcpy of the data (goal: at least 10x memcpy, since a
//!   zero-copy decode never touches the payload);
//! * `deframer`: the deframer over mixed streams with both digests, a host's (4 KiB C2HData, CapsuleResp, R2T) and a
//!   controller's (Read and Write CapsuleCmds, 4 KiB H2CData), delivered in 1 B, 1500 B and 64 KiB chunks, next
//!   to CRC-32C and memcpy of the whole stream;
//! * `encode`: the same PDUs written into a caller buffer, digests included, next to memcpy + CRC-32C of the data;
//! * `crc32c_backends`: CRC-32C of the same buffers (24 B, 72 B, 128 B headers; 4 KiB, 64 KiB data; the 269 568-byte
//!   host stream) by crc-fast (nvme-proto's hosted backend), the `crc32c` crate (SSE4.2, 3-way interleaved) and the
//!   `crc` crate's slice-by-16 table (nvme-proto's bare-metal and `portable-crc` backend).
//!
//! Throughput is in bytes of the PDU (header benches) or of the data (data benches), so each ratio compares like
//! with like.

use std::hint::black_box;
use std::time::Duration;

use benches::*;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use nvme_proto::crc::crc32c;
use nvme_proto::tcp::{Decoded, Deframer, IcReq, Params, Pdu, Role};

fn header_decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("header_decode");
    let plain = Params::default();
    let ic_req = IcReq { hpda: 0, header_digest: true, data_digest: true, maxr2t: 0 };
    let cases: [(&str, Vec<u8>, Role); 3] = [
        ("capsule_cmd_72B", encode(&plain, &capsule_cmd(&[])), Role::Controller),
        ("capsule_resp_24B", encode(&plain, &capsule_resp(1)), Role::Host),
        ("ic_req_128B", encode(&plain, &Pdu::IcReq(ic_req)), Role::Controller),
    ];
    for (name, wire, receiver) in &cases {
        g.throughput(Throughput::Bytes(wire.len() as u64));
        g.bench_function(BenchmarkId::new("decode", name), |b| {
            b.iter(|| Pdu::parse(black_box(wire), &plain, *receiver).expect("valid"))
        });
        let mut apart = Apart::new(wire, wire.len());
        let dst = apart.get();
        g.bench_function(BenchmarkId::new("copy", name), |b| {
            b.iter(|| {
                dst.copy_from_slice(black_box(wire));
                black_box(&dst);
            })
        });
        // What a header digest adds: CRC-32C of the same bytes (the per-call cost of a short CRC).
        g.bench_function(BenchmarkId::new("crc32c", name), |b| b.iter(|| crc32c(black_box(wire))));
    }
    g.finish();
}

/// C2HData decode with and without digests, next to CRC-32C and memcpy of the same data.
fn c2h_data(c: &mut Criterion) {
    for (group, params) in [("c2h_digest", both_digests()), ("c2h_plain", Params::default())] {
        let mut g = c.benchmark_group(group);
        for size in [4096usize, 128 * 1024] {
            let data = payload(size);
            let wire = encode(&params, &c2h_data_pdu(&data));
            let label = size_label(size);
            g.throughput(Throughput::Bytes(size as u64));
            g.bench_function(BenchmarkId::new("decode", &label), |b| {
                b.iter(|| Pdu::parse(black_box(&wire), &params, Role::Host).expect("valid"))
            });
            if params.data_digest {
                g.bench_function(BenchmarkId::new("crc32c", &label), |b| b.iter(|| crc32c(black_box(&data))));
            } else {
                let mut apart = Apart::new(&data, size);
                let dst = apart.get();
                g.bench_function(BenchmarkId::new("memcpy", &label), |b| {
                    b.iter(|| {
                        dst.copy_from_slice(black_box(&data));
                        black_box(&dst);
                    })
                });
            }
        }
        g.finish();
    }
}

/// The deframer over mixed streams in chunks, next to CRC-32C and memcpy of the whole stream.
fn deframer(c: &mut Criterion) {
    let params = both_digests();
    let mut g = c.benchmark_group("deframer");
    for (side, receiver, stream) in [
        ("host", Role::Host, mixed_host_stream(&params, 64)),
        ("controller", Role::Controller, mixed_controller_stream(&params, 64)),
    ] {
        let pdus = deframe(&params, receiver, &stream, stream.len());
        g.throughput(Throughput::Bytes(stream.len() as u64));
        for chunk in [1usize, 1500, 64 * 1024] {
            g.bench_function(BenchmarkId::new(format!("{side}_stream"), chunk_label(chunk)), |b| {
                b.iter(|| assert_eq!(deframe(&params, receiver, black_box(&stream), chunk), pdus))
            });
        }
        g.bench_function(BenchmarkId::new(format!("{side}_stream"), "crc32c"), |b| {
            b.iter(|| crc32c(black_box(&stream)))
        });
        let mut apart = Apart::new(&stream, stream.len());
        let dst = apart.get();
        g.bench_function(BenchmarkId::new(format!("{side}_stream"), "memcpy"), |b| {
            b.iter(|| {
                dst.copy_from_slice(black_box(&stream));
                black_box(&dst);
            })
        });
    }
    g.finish();
}

/// Feeds `stream` to a deframer `chunk` bytes at a time (a contiguous receive buffer that grows by one socket read
/// per `Need`); returns the number of PDUs.
fn deframe(params: &Params, receiver: Role, stream: &[u8], chunk: usize) -> usize {
    let mut d = Deframer::established(receiver, *params);
    let (mut start, mut avail, mut n) = (0, chunk.min(stream.len()), 0);
    while start < stream.len() {
        match d.decode(&stream[start..avail]).expect("valid stream") {
            Decoded::Need(_) => {
                assert!(avail < stream.len(), "the stream ends inside a PDU");
                avail = (avail + chunk).min(stream.len());
            }
            Decoded::Pdu { pdu, consumed } => {
                black_box(pdu);
                start += consumed;
                n += 1;
                avail = avail.max(start);
            }
        }
    }
    n
}

/// Encoding into a caller buffer, digests included, next to memcpy + CRC-32C of the same data.
fn encode_pdus(c: &mut Criterion) {
    let params = both_digests();
    let mut g = c.benchmark_group("encode");
    let mut scratch = vec![0u8; 256 * 1024];
    let out = &mut scratch[..];
    let ic_req = IcReq { hpda: 0, header_digest: true, data_digest: true, maxr2t: 0 };
    for (name, pdu) in [
        ("capsule_cmd_72B", capsule_cmd(&[])),
        ("capsule_resp_24B", capsule_resp(1)),
        ("ic_req_128B", Pdu::IcReq(ic_req)),
    ] {
        g.throughput(Throughput::Bytes(pdu.buffer_len(&params) as u64));
        g.bench_function(BenchmarkId::new("emit", name), |b| {
            b.iter(|| black_box(&pdu).emit(&params, out).expect("fits"))
        });
    }
    for size in [4096usize, 128 * 1024] {
        let data = payload(size);
        let pdu = c2h_data_pdu(&data);
        let label = size_label(size);
        let mut apart = Apart::new(&data, size + 64);
        let out = apart.get();
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_function(BenchmarkId::new("emit_c2h_data", &label), |b| {
            b.iter(|| black_box(&pdu).emit(&params, out).expect("fits"))
        });
        g.bench_function(BenchmarkId::new("memcpy_crc32c", &label), |b| {
            b.iter(|| {
                out[..size].copy_from_slice(black_box(&data));
                crc32c(&out[..size])
            })
        });
    }
    g.finish();
}

/// The three CRC-32C crates on the same buffers, in the same run.
fn crc32c_backends(c: &mut Criterion) {
    let mut g = c.benchmark_group("crc32c_backends");
    let table = crc::Crc::<u32, crc::Table<16>>::new(&crc::CRC_32_ISCSI);
    let stream = mixed_host_stream(&both_digests(), 64);
    let bytes = payload(64 * 1024);
    let mut cases: Vec<(String, &[u8])> = [24usize, 72, 128].iter().map(|&n| (format!("{n}B"), &bytes[..n])).collect();
    cases.push(("4KiB".into(), &bytes[..4096]));
    cases.push(("64KiB".into(), &bytes[..]));
    cases.push(("host_stream".into(), &stream[..]));
    for (label, data) in cases {
        assert_eq!(crc_fast::crc32_iscsi(data), crc32c::crc32c(data));
        assert_eq!(crc_fast::crc32_iscsi(data), table.checksum(data));
        g.throughput(Throughput::Bytes(data.len() as u64));
        g.bench_function(BenchmarkId::new("crc_fast", &label), |b| b.iter(|| crc_fast::crc32_iscsi(black_box(data))));
        g.bench_function(BenchmarkId::new("crc32c_crate", &label), |b| b.iter(|| crc32c::crc32c(black_box(data))));
        g.bench_function(BenchmarkId::new("crc_table16", &label), |b| b.iter(|| table.checksum(black_box(data))));
    }
    g.finish();
}

fn size_label(size: usize) -> String {
    format!("{}KiB", size / 1024)
}

fn chunk_label(chunk: usize) -> String {
    if chunk.is_multiple_of(1024) { format!("{}KiB", chunk / 1024) } else { format!("{chunk}B") }
}

criterion_group! {
    name = codec;
    config = Criterion::default().measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_secs(1));
    targets = header_decode, c2h_data, deframer, encode_pdus, crc32c_backends
}
criterion_main!(codec);
