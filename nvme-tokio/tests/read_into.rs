//! Reads into caller buffers over sockets: `read_into` fills the caller's slice (split into commands when it is
//! larger than the transfer limit), `read_buf` gives back the very buffer lent, `write_shared` writes from a shared
//! buffer.

mod common;

use std::sync::Arc;

use nvme_tokio::host::{HostError, IoError, Multipath};

#[tokio::test]
async fn read_into_and_read_buf_fill_the_callers_buffers() {
    let target = common::start(common::target_config("read_into")).await;
    let addr = target.local_addr();
    let (mp, _ev) = Multipath::connect(&[addr, addr], &common::host("read_into", 5000)).await.unwrap();
    let max = mp.max_transfer();
    // More than one command's worth: the pattern of each 512-byte block is its index.
    let len = max + 8 * 512;
    let data: Vec<u8> = (0..len).map(|i| (i / 512) as u8 ^ (i % 13) as u8).collect();
    mp.write(100, &data).await.unwrap();

    let mut out = vec![0u8; len];
    mp.read_into(100, &mut out).await.unwrap();
    assert!(out == data, "read_into returned other bytes");

    let buf = vec![0u8; 4096];
    let ptr = buf.as_ptr();
    let got = mp.read_buf(101, buf).await.unwrap();
    assert_eq!(got.as_ptr(), ptr, "the buffer lent comes back");
    assert!(got[..] == data[512..512 + 4096]);

    let shared: Arc<[u8]> = vec![0x3C; 4096].into();
    mp.write_shared(7, shared.clone()).await.unwrap();
    mp.write_shared(15, shared).await.unwrap();
    let mut back = vec![0u8; 16 * 512];
    mp.read_into(7, &mut back).await.unwrap();
    assert!(back.iter().all(|&b| b == 0x3C));

    // Not whole blocks, or one command over the limit: refused, nothing sent.
    let mut odd = vec![0u8; 100];
    assert_eq!(mp.read_into(0, &mut odd).await, Err(HostError::Io(IoError::Invalid)));
    assert_eq!(mp.read_buf(0, vec![0; max + 512]).await, Err(HostError::Io(IoError::Invalid)));
    mp.close().await;
    target.shutdown();
}
