//! Replays the checked-in seed corpora of the `fabric_controller` and `fabric_host` fuzz targets
//! (`fuzz/corpus/<target>/`, every file) through the very harnesses the targets run (`fuzz/src/fabric.rs`, included
//! below), on the stable toolchain and without `cfg(fuzzing)` (digests are checked for real here). Crashes the
//! fuzzer found are pinned below as `regression_*` tests.
//!
//! The seeds are built by [`seeds`]: streams our own encoders make (IC, Connect, admin and I/O commands, R2T
//! transfers, protocol errors) and, for the host, the controller side of a real bring-up recorded from a
//! `Subsystem`. `NVME_FUZZ_WRITE_SEEDS=1 cargo test -p nvme-fabric --test fuzz_corpus` rewrites the files.

#[path = "../../fuzz/src/fabric.rs"]
mod fabric;
#[path = "../../fuzz/src/replay.rs"]
mod replay;

use std::collections::BTreeMap;

use fabric::{ControllerStart, controller_prefix, encode, host_config, host_peer_config};
use nvme_ccr::Policy;
use nvme_fabric::Instant;
use nvme_fabric::conn::{ConnEvent, ConnId};
use nvme_fabric::controller::Subsystem;
use nvme_fabric::host::Host;
use nvme_proto::cmd::{
    AsyncEventRequest, Cc, Cqe, CrossControllerReset, Feature, Flush, GetLogPage, Identify, KeepAlive, NumberOfQueues,
    PropertyGet, PropertyOffset, PropertySet, ReadWrite, SetFeatures, SglDescriptor, Sqe, Status,
};
use nvme_proto::tcp::{C2HData, CapsuleCmd, CapsuleResp, Fes, H2CData, Params, Pdu, R2T, Role, TermReq};
use replay::Harness;

const TARGETS: [(&str, Harness); 2] =
    [("fabric_controller", fabric::fabric_controller), ("fabric_host", fabric::fabric_host)];

#[test]
fn every_corpus_file_replays_through_its_harness() {
    replay::replay_all(env!("CARGO_MANIFEST_DIR"), &TARGETS);
}

#[test]
fn seed_files_match_their_generator() {
    replay::check_or_write_seeds(env!("CARGO_MANIFEST_DIR"), seeds());
}

/// Runs one file of `target`'s corpus (a crash the fuzzer found, kept there so the replay runs it too).
fn regression(target: &str, name: &str, run: Harness) {
    let path = replay::corpus_dir(env!("CARGO_MANIFEST_DIR"), target).join(name);
    run(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())));
}

/// An H2CData whose DATAL is over MAXH2CDATA, its start buffered from an earlier input: the subsystem waited for
/// all PLEN bytes before refusing it (fixed: the header is checked as soon as it is in).
#[test]
fn regression_fabric_controller_header_error_after_buffered_start() {
    regression("fabric_controller", "regression_header_error_after_buffered_start", fabric::fabric_controller);
}

fn params(hd: bool, dd: bool, maxh2cdata: u32) -> Params {
    Params { header_digest: hd, data_digest: dd, maxh2cdata, ..Params::default() }
}

fn cap(sqe: Sqe, data: &[u8], p: &Params) -> Vec<u8> {
    encode(&Pdu::CapsuleCmd(CapsuleCmd { sqe: sqe.to_bytes(), data }), p)
}

fn with_data(mut sqe: Sqe, len: u32) -> Sqe {
    sqe.dptr = SglDescriptor::transport_data(len);
    sqe
}

fn in_capsule_write(cid: u16, slba: u64, blocks: u32) -> Sqe {
    let mut w = ReadWrite::new(1, slba, blocks, 512).unwrap().to_write_sqe(cid);
    w.dptr = SglDescriptor::in_capsule(0, blocks * 512);
    w
}

fn read(cid: u16, slba: u64, blocks: u32) -> Sqe {
    ReadWrite::new(1, slba, blocks, 512).unwrap().to_read_sqe(cid)
}

fn resp(cid: u16, dw0: u32, p: &Params) -> Vec<u8> {
    let cqe = Cqe { dw0, ..Cqe::new(cid, Status::SUCCESS) };
    encode(&Pdu::CapsuleResp(CapsuleResp { cqe: cqe.to_bytes() }), p)
}

/// A seed: the three setup bytes, then the stream.
fn seed(b: [u8; 3], stream: Vec<u8>) -> Vec<u8> {
    let mut v = b.to_vec();
    v.extend(stream);
    v
}

/// The admin-queue bytes a real subsystem sends while the host of `fabric_host` comes up against it (no digests):
/// the controller side of the bring-up.
fn recorded_bring_up() -> Vec<u8> {
    let now = Instant::ZERO;
    let mut host = Host::new(host_config(Policy::Ccr, false, false), 1).unwrap();
    let mut sub = Subsystem::new(host_peer_config(), 7).unwrap();
    host.start(now);
    let mut h2s: BTreeMap<ConnId, ConnId> = BTreeMap::new();
    let mut admin = None;
    let mut recorded = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    for _ in 0..1000 {
        let mut progress = false;
        while let Some(open) = host.poll_open() {
            progress = true;
            admin.get_or_insert(open.conn);
            h2s.insert(open.conn, sub.accept(now).unwrap());
            host.handle_connected(now, open.conn);
        }
        while let Some(ev) = host.poll_conn_event() {
            progress = true;
            if let ConnEvent::Transmit(h) = ev {
                loop {
                    let n = host.poll_transmit(now, h, &mut buf).unwrap();
                    if n == 0 {
                        break;
                    }
                    assert_eq!(sub.handle_input(now, h2s[&h], &buf[..n]), n);
                }
            }
        }
        while let Some(ev) = sub.poll_conn_event() {
            progress = true;
            if let ConnEvent::Transmit(s) = ev {
                let h = *h2s.iter().find(|(_, v)| **v == s).unwrap().0;
                loop {
                    let n = sub.poll_transmit(now, s, &mut buf).unwrap();
                    if n == 0 {
                        break;
                    }
                    if Some(h) == admin {
                        recorded.extend_from_slice(&buf[..n]);
                    }
                    host.handle_input(now, h, &buf[..n]);
                }
            }
        }
        while sub.poll_event().is_some() || host.poll_event().is_some() {
            progress = true;
        }
        if !progress {
            break;
        }
    }
    assert_eq!(host.path_phase(0), Some(nvme_fabric::host::PathPhase::Live), "the recording is of a whole bring-up");
    recorded
}

/// Every seed file: (target, file name, bytes).
fn seeds() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let mut s = Vec::new();
    let c = "fabric_controller";
    let cfg0 = fabric::controller_config(0);
    let maxh2c = cfg0.maxh2cdata;
    let plain = params(false, false, maxh2c);
    let both = params(true, true, maxh2c);

    // From accept: IC, admin Connect and a few admin commands, all at once.
    let mut st = controller_prefix(ControllerStart::Admin, false, false, 0, &cfg0);
    st.extend(cap(PropertyGet::new(PropertyOffset::CAP).to_sqe(1), &[], &plain));
    st.extend(cap(with_data(Identify::controller().to_sqe(2), 4096), &[], &plain));
    st.extend(cap(KeepAlive.to_sqe(3), &[], &plain));
    s.push((c, "accepted_ic_connect_admin", seed([0x00, 0x07, 0x00], st)));

    // The admin queue with both digests, one byte at a time: enable, identify, queues, AER, a CCR naming nobody,
    // the CCR log.
    let mut st = Vec::new();
    st.extend(cap(PropertySet::cc(Cc::ENABLE).to_sqe(1), &[], &both));
    st.extend(cap(with_data(Identify::controller().to_sqe(2), 4096), &[], &both));
    let nq = SetFeatures::new(Feature::NumberOfQueues(NumberOfQueues::with_count(2)));
    st.extend(cap(nq.to_sqe(3), &[], &both));
    st.extend(cap(AsyncEventRequest.to_sqe(4), &[], &both));
    st.extend(cap(CrossControllerReset { icid: 2, ciu: 1, cirn: 7 }.to_sqe(5), &[], &both));
    st.extend(cap(with_data(GetLogPage::ccr_log(true, 4096).to_sqe(6), 4096), &[], &both));
    s.push((c, "admin_digests_bytewise", seed([0x0E, 0x00, 0x01], st)));

    // An I/O queue: an in-capsule write, a write by R2T (TTAG 0, the pool's first) in two H2CData, a read, a flush.
    let mut st = Vec::new();
    st.extend(cap(in_capsule_write(1, 0, 2), &[0x11; 1024], &plain));
    st.extend(cap(with_data(ReadWrite::new(1, 8, 16, 512).unwrap().to_write_sqe(2), 8192), &[], &plain));
    let data = vec![0x22u8; 8192];
    st.extend(encode(&Pdu::H2CData(H2CData { cccid: 2, ttag: 0, datao: 0, data: &data[..4096], last: false }), &plain));
    st.extend(encode(
        &Pdu::H2CData(H2CData { cccid: 2, ttag: 0, datao: 4096, data: &data[4096..], last: true }),
        &plain,
    ));
    st.extend(cap(read(3, 0, 16), &[], &plain));
    st.extend(cap(Flush { nsid: 1 }.to_sqe(4), &[], &plain));
    s.push((c, "io_writes_read_flush", seed([0x03, 0x0B, 0x00], st.clone())));

    // The same I/O with the media answering only at the end and a freeze fault on the first write.
    s.push((c, "io_held_media_freeze", seed([0x23, 0x4B, 0x01], st)));

    // A peer that never reads: reads of the largest transfer until backpressure.
    let st: Vec<u8> = (0..24u16).flat_map(|cid| cap(read(cid % 8, 0, 16), &[], &plain)).collect();
    s.push((c, "io_never_read", seed([0x13, 0x06, 0x00], st)));

    // Protocol errors: H2CData with a TTAG never issued; more commands than SQSIZE.
    let mut st = cap(with_data(ReadWrite::new(1, 0, 8, 512).unwrap().to_write_sqe(1), 4096), &[], &plain);
    st.extend(encode(&Pdu::H2CData(H2CData { cccid: 1, ttag: 5, datao: 0, data: &[0; 4096], last: true }), &plain));
    s.push((c, "io_unknown_ttag", seed([0x03, 0x07, 0x00], st)));
    let st: Vec<u8> = (0..9u16).flat_map(|cid| cap(read(cid, 0, 1), &[], &plain)).collect();
    s.push((c, "io_queue_overflow", seed([0x23, 0x07, 0x00], st)));

    let h = "fabric_host";
    let recorded = recorded_bring_up();
    // The controller side of a bring-up, from the ICResp on, arriving whole; and after the ICResp, bytewise.
    s.push((h, "connecting_recorded_bring_up", seed([0x00, 0x07, 0x00], recorded.clone())));
    s.push((h, "after_ic_recorded_bring_up_bytewise", seed([0x01, 0x00, 0x00], recorded[128..].to_vec())));
    // A live association with I/O submitted: on I/O queue 1 the Read is CID 0 and the in-capsule Write CID 1.
    let peer = host_peer_config();
    let p = params(false, false, peer.maxh2cdata);
    let mut st =
        encode(&Pdu::C2HData(C2HData { cccid: 0, datao: 0, data: &[0x33; 2048], last: false, success: false }), &p);
    st.extend(encode(
        &Pdu::C2HData(C2HData { cccid: 0, datao: 2048, data: &[0x44; 2048], last: true, success: false }),
        &p,
    ));
    st.extend(resp(0, 0, &p));
    st.extend(resp(1, 0, &p));
    s.push((h, "live_io_read_data_and_answers", seed([0x13, 0x03, 0x00], st)));
    // An R2T for a command that writes nothing (the Read): FES 0x01.
    let st = encode(&Pdu::R2T(R2T { cccid: 0, ttag: 3, r2to: 0, r2tl: 512 }), &p);
    s.push((h, "live_io_r2t_for_a_read", seed([0x13, 0x07, 0x00], st)));
    // The admin queue with both digests: a response to no command, then a C2HTermReq.
    let pd = params(true, true, peer.maxh2cdata);
    let mut st = resp(31, 0, &pd);
    let t = TermReq { sender: Role::Controller, fes: Fes::PDU_SEQUENCE_ERROR, fei: 0, data: &[0; 8] };
    st.extend(encode(&Pdu::TermReq(t), &pd));
    s.push((h, "live_admin_digests_unknown_cid", seed([0x0E, 0x0B, 0x00], st)));
    s
}
