//! A misbehaving peer (malformed PDUs, PDUs out of sequence, an oversized PLEN, a bad header digest, an abrupt
//! close mid-PDU) gets the termination request nvme-tcp.md §7 and §9.1 prescribe, or a close, and the target
//! keeps serving its other connections: a well-behaved controller connected before does verified I/O after each.

mod common;

use std::time::Duration;

use nvme_proto::cmd::{KeepAlive, Sqe};
use nvme_proto::tcp::{CapsuleCmd, Fes, H2CData, IcReq, IcResp, Params, Pdu, TermReq};
use nvme_tokio::host::Controller;
use nvme_tokio::target::Target;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends `bytes` on a fresh connection (after an IC exchange with `params` when `ic` is set), then reads until
/// the target closes; returns what came after the ICResp.
async fn misbehave(target: &Target, ic: Option<Params>, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(target.local_addr()).await.unwrap();
    if let Some(p) = ic {
        let mut buf = [0u8; 128];
        p.ic_req().emit(&mut buf).unwrap();
        s.write_all(&buf).await.unwrap();
        s.read_exact(&mut buf).await.unwrap();
        let resp = IcResp::parse(&buf).unwrap();
        assert_eq!((resp.header_digest, resp.data_digest), (p.header_digest, p.data_digest), "digests echoed");
    }
    s.write_all(bytes).await.unwrap();
    let mut got = Vec::new();
    let r = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut got)).await;
    assert!(r.is_ok(), "the target closes the connection");
    got
}

fn term(got: &[u8]) -> (Fes, u32) {
    let t = TermReq::parse(got).unwrap_or_else(|e| panic!("expected a C2HTermReq, got {got:02x?}: {e}"));
    (t.fes, t.fei)
}

/// A healthy controller does a verified write and read; the target still lists it.
async fn still_serving(target: &Target, ctrl: &Controller, round: u8) {
    let data = vec![round; 8192];
    ctrl.write(64, &data).await.unwrap();
    assert_eq!(ctrl.read(64, data.len()).await.unwrap(), data);
    assert!(target.live_controllers().contains(&ctrl.cntlid()));
}

fn keep_alive_capsule(params: &Params) -> Vec<u8> {
    let sqe: Sqe = KeepAlive.to_sqe(1);
    let pdu = Pdu::CapsuleCmd(CapsuleCmd { sqe: sqe.to_bytes(), data: &[] });
    let mut v = vec![0u8; pdu.buffer_len(params)];
    pdu.emit(params, &mut v).unwrap();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_misbehaviour_is_answered_and_other_connections_keep_working() {
    let name = "misbehaving";
    let target = common::start(common::target_config(name)).await;
    let (good, _events) = Controller::connect(target.local_addr(), &common::host(name, 0)).await.unwrap();
    still_serving(&target, &good, 1).await;
    let plain = Params::default();

    // An undefined PDU type before anything else: FES 0x01, FEI 0 (§9.1 step 1).
    let got = misbehave(&target, None, &[0x0C, 0, 24, 0, 24, 0, 0, 0]).await;
    assert_eq!(term(&got), (Fes::INVALID_HEADER_FIELD, 0));
    still_serving(&target, &good, 2).await;

    // A capsule before the IC exchange: PDU Sequence Error, FEI 0 (§6, §7.2).
    let got = misbehave(&target, None, &keep_alive_capsule(&plain)).await;
    assert_eq!(term(&got), (Fes::PDU_SEQUENCE_ERROR, 0));
    still_serving(&target, &good, 3).await;

    // A second ICReq after the exchange: out of sequence, FES 0x01, FEI 0 (§9.1 step 1a).
    let mut icreq = [0u8; 128];
    IcReq { hpda: 0, header_digest: false, data_digest: false, maxr2t: 0 }.emit(&mut icreq).unwrap();
    let got = misbehave(&target, Some(plain), &icreq).await;
    assert_eq!(term(&got), (Fes::INVALID_HEADER_FIELD, 0));
    still_serving(&target, &good, 4).await;

    // A capsule announcing 16 MiB: refused from its 8-byte header, before any body (FES 0x01, FEI 4, PLEN).
    let got = misbehave(&target, Some(plain), &[0x04, 0, 72, 72, 0, 0, 0, 1]).await;
    assert_eq!(term(&got), (Fes::INVALID_HEADER_FIELD, 4));
    assert_eq!(&TermReq::parse(&got).unwrap().data[..8], &[0x04, 0, 72, 72, 0, 0, 0, 1], "offending header copied");
    still_serving(&target, &good, 5).await;

    // H2CData for a transfer tag the target never gave: FES 0x01, FEI 10 (TTAG) (§8.2).
    let h2c = Pdu::H2CData(H2CData { cccid: 3, ttag: 7, datao: 0, data: &[1; 512], last: true });
    let mut bytes = vec![0u8; h2c.buffer_len(&plain)];
    h2c.emit(&plain, &mut bytes).unwrap();
    let got = misbehave(&target, Some(plain), &bytes).await;
    assert_eq!(term(&got), (Fes::INVALID_HEADER_FIELD, 10));
    still_serving(&target, &good, 6).await;

    // A wrong header digest: FES 0x03 with the received digest as FEI (§5.4, §7.1).
    let digests = Params { header_digest: true, ..Params::default() };
    let mut bytes = keep_alive_capsule(&digests);
    bytes[72..76].copy_from_slice(&0xDEAD_BEEFu32.to_le_bytes());
    let got = misbehave(&target, Some(digests), &bytes).await;
    assert_eq!(term(&got), (Fes::HEADER_DIGEST_ERROR, 0xDEAD_BEEF));
    still_serving(&target, &good, 7).await;

    // A TermReq whose PLEN is out of 24..=152: closed without an answer (§7.2).
    let got = misbehave(&target, Some(plain), &[0x02, 0, 24, 0, 20, 0, 0, 0]).await;
    assert!(got.is_empty(), "no answer to an impossible TermReq: {got:02x?}");
    still_serving(&target, &good, 8).await;

    // An abrupt close in the middle of a PDU: nothing to answer; the target just drops the connection.
    {
        let mut s = TcpStream::connect(target.local_addr()).await.unwrap();
        let mut ic = [0u8; 128];
        plain.ic_req().emit(&mut ic).unwrap();
        s.write_all(&ic).await.unwrap();
        s.read_exact(&mut ic).await.unwrap();
        s.write_all(&keep_alive_capsule(&plain)[..40]).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    still_serving(&target, &good, 9).await;
    assert_eq!(target.live_controllers(), vec![good.cntlid()], "no controller was created or lost");
    good.close().await;
    target.shutdown();
}
