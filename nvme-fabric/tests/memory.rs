//! Memory a peer can make the subsystem hold, measured by a counting allocator (the `allocation-counter` crate
//! installs itself as this test binary's global allocator and counts per thread) and compared with the subsystem's
//! own accounting (`Subsystem::conn_usage`) and the bound the controller module documents: at most `output_limit`
//! plus one largest transfer of output, `output_limit` of write data, and the receive buffer.

mod common;

use allocation_counter::measure;
use common::{Rig, encode};
use nvme_fabric::conn::{ConnEvent, ConnId, PDU_OVERHEAD};
use nvme_fabric::controller::SubsystemConfig;
use nvme_proto::cmd::{KeepAlive, ReadWrite, Sqe};
use nvme_proto::tcp::{CapsuleCmd, Params, Pdu};

/// A subsystem with a small output limit (64 KiB, MDTS 2: 16 KiB transfers), one admin and one I/O queue connected.
fn rig() -> (Rig, ConnId, ConnId) {
    let mut cfg = SubsystemConfig::new(common::NQN);
    cfg.namespace.blocks = 2048;
    cfg.mdts = 2;
    cfg.output_limit = 64 * 1024;
    let mut r = Rig::new(cfg);
    let (a, cntlid) = r.admin(0);
    let io = r.io(cntlid, 1);
    (r, a, io)
}

/// `n` copies of `sqe` as capsules under the connection's parameters.
fn capsules(r: &Rig, c: ConnId, n: u16, sqe: impl Fn(u16) -> Sqe) -> Vec<u8> {
    let p: Params = r.conns[&c].params;
    (0..n).flat_map(|i| encode(&Pdu::CapsuleCmd(CapsuleCmd { sqe: sqe(i).to_bytes(), data: &[] }), &p)).collect()
}

/// Feeds `input` to a peer that never reads its output (media served at once); returns the bytes taken.
fn feed_never_reading(r: &mut Rig, c: ConnId, input: &[u8]) -> usize {
    let mut at = 0;
    loop {
        let n = r.sub.handle_input(r.now, c, &input[at..]);
        at += n;
        let mut progress = n > 0;
        while let Some(ev) = r.sub.poll_conn_event() {
            assert!(!matches!(ev, ConnEvent::Close(..)), "{ev:?}");
        }
        while let Some(req) = r.sub.poll_media() {
            progress = true;
            r.run_media(req);
        }
        while r.sub.poll_event().is_some() {}
        if !progress || at == input.len() {
            return at;
        }
    }
}

#[test]
fn a_peer_that_never_reads_its_read_data_holds_at_most_the_documented_bound() {
    let (mut r, _, io) = rig();
    let input = capsules(&r, io, 200, |i| ReadWrite::new(1, 0, 32, 512).unwrap().to_read_sqe(i));
    let cfg = r.sub.config().clone();
    let mut taken = 0;
    let info = measure(|| taken = feed_never_reading(&mut r, io, &input));
    let u = r.sub.conn_usage(io).unwrap();
    assert!(taken < input.len(), "backpressure stopped the reading");
    // One transfer beyond the limit, with its PDU headers and response.
    let transfer = cfg.max_transfer() + PDU_OVERHEAD * (cfg.max_transfer().div_ceil(cfg.max_data_pdu as usize) + 1);
    let bound = cfg.output_limit + transfer + u.receive;
    assert!(u.output + u.reads <= bound, "{u:?}");
    assert!(info.bytes_current as usize <= bound, "held {} bytes, bound {bound}: {u:?}", info.bytes_current);
}

#[test]
fn a_peer_that_never_reads_its_small_answers_holds_at_most_the_documented_bound() {
    let (mut r, a, _) = rig();
    // 20 000 Keep Alives: each answer is a 24-byte CapsuleResp (28 with the header digest).
    let input = capsules(&r, a, 20_000, |i| KeepAlive.to_sqe(i));
    let cfg = r.sub.config().clone();
    let mut taken = 0;
    let info = measure(|| taken = feed_never_reading(&mut r, a, &input));
    let u = r.sub.conn_usage(a).unwrap();
    let transfer = cfg.max_transfer() + PDU_OVERHEAD * (cfg.max_transfer().div_ceil(cfg.max_data_pdu as usize) + 1);
    let bound = cfg.output_limit + transfer + u.receive;
    assert!(u.output <= bound, "{u:?}");
    assert!(
        info.bytes_current as usize <= bound,
        "held {} bytes, bound {bound}: {u:?}, took {taken}",
        info.bytes_current
    );
}

#[test]
fn writes_waiting_for_their_data_hold_at_most_the_write_budget() {
    let (mut r, _, _) = rig();
    let (_, cntlid) = r.admin(0);
    let io = r.io_sized(cntlid, 1, 127);
    // 128 writes of 16 KiB by R2T (2 MiB), none of whose data ever comes.
    let input = capsules(&r, io, 128, |i| ReadWrite::new(1, 0, 32, 512).unwrap().to_write_sqe(i));
    let cfg = r.sub.config().clone();
    let info = measure(|| assert_eq!(feed_never_reading(&mut r, io, &input), input.len()));
    let u = r.sub.conn_usage(io).unwrap();
    assert_eq!(u.commands, 128);
    assert_eq!(u.writes, cfg.output_limit, "R2Ts for 4 writes of 16 KiB: the budget");
    // The 124 waiting writes hold no buffer: what is held is the budget plus per-command bookkeeping.
    let bound = cfg.output_limit + u.output + 128 * 256;
    assert!(info.bytes_current as usize <= bound, "held {} bytes, bound {bound}: {u:?}", info.bytes_current);
}

#[test]
fn the_receive_buffer_never_allocates_more_than_the_pdu_it_holds() {
    let (mut r, _, io) = rig();
    r.command(io, &ReadWrite::new(1, 0, 32, 512).unwrap().to_write_sqe(1), &[]);
    let got = r.take(io);
    let [common::Got::R2T { ttag, .. }] = got[..] else { panic!("{got:?}") };
    let pdu = r.encode(io, &common::h2c(1, ttag, 0, &[7; 16384], true));
    let mut peak = 0;
    for piece in pdu.chunks(1000) {
        assert_eq!(r.sub.handle_input(r.now, io, piece), piece.len());
        peak = peak.max(r.sub.conn_usage(io).unwrap().receive);
    }
    r.pump();
    assert!(r.take(io).iter().any(|g| matches!(g, common::Got::Resp(c) if c.status.is_success())));
    assert!(peak <= pdu.len(), "the receive buffer grew to {peak} bytes for a PDU of {}", pdu.len());
}

#[test]
fn in_capsule_writes_waiting_for_the_media_hold_at_most_the_write_budget() {
    let (mut r, _, _) = rig();
    let (_, cntlid) = r.admin(0);
    let io = r.io_sized(cntlid, 1, 127);
    r.hold_media = true;
    // 128 in-capsule writes of 8 KiB (1 MiB) to a media that does not answer yet.
    let p: Params = r.conns[&io].params;
    let data = vec![0x77u8; 8192];
    let input: Vec<u8> = (0..128u16)
        .flat_map(|cid| {
            let mut w = ReadWrite::new(1, 0, 16, 512).unwrap().to_write_sqe(cid);
            w.dptr = nvme_proto::cmd::SglDescriptor::in_capsule(0, 8192);
            encode(&Pdu::CapsuleCmd(CapsuleCmd { sqe: w.to_bytes(), data: &data }), &p)
        })
        .collect();
    let cfg = r.sub.config().clone();
    let taken = r.send(io, &input);
    let u = r.sub.conn_usage(io).unwrap();
    assert!(u.writes <= cfg.output_limit + 8192, "write buffers {} over the budget: {u:?}", u.writes);
    assert!(taken < input.len(), "the rest waits (backpressure)");
    // The media answers: the rest is taken, every write is answered.
    let mut at = taken;
    while at < input.len() || !r.held.is_empty() {
        r.release_held();
        at += r.send(io, &input[at..]);
        assert!(r.sub.conn_usage(io).unwrap().writes <= cfg.output_limit + 8192);
    }
    let ok = r.take(io).iter().filter(|g| matches!(g, common::Got::Resp(c) if c.status.is_success())).count();
    assert_eq!(ok, 128);
}
