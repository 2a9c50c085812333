//! The target's log: the events a failover test follows, in order, with their fields. Alone in its test binary: the
//! subscriber is the test thread's (`set_default`), tracing caches each callsite's interest process-wide, and beside
//! the multi-threaded tests of listeners.rs one event was once missing from the collected log.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nvme_tokio::host::Controller;

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The log of a fopcode run at debug level: the arming, the fault with the held data, the controller's failure, the
/// held write reaching the media after its delay, the teardown, and the media operations with their data, in this
/// order. (Current-thread runtime: every task runs on the thread the subscriber is set for.)
#[tokio::test]
async fn the_log_follows_a_held_write_from_the_fault_to_the_media() {
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let name = "listeners-log";
    let target = common::start(common::target_config(name)).await;
    let (c, _events) = Controller::connect(target.local_addr(), &common::host(name, 0)).await.unwrap();
    let id = c.cntlid();
    c.write(8, &[9; 4096]).await.unwrap();
    target.apply_line("fopcode 1 200").unwrap();
    assert!(c.write(8, &[5; 4096]).await.is_err(), "its controller fails");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(target.read_blocks(8, 4096).unwrap(), vec![5; 4096]);
    target.shutdown();

    let log = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    let find = |from: usize, needles: &[&str]| -> usize {
        log.lines()
            .enumerate()
            .skip(from)
            .find(|(_, l)| needles.iter().all(|n| l.contains(n)))
            .map(|(i, _)| i)
            .unwrap_or_else(|| panic!("no line with {needles:?} after line {from} in:\n{log}"))
    };
    let cntlid = format!("cntlid={id}");
    let created = find(0, &["INFO", "controller created", &cntlid, "kato_ms=0"]);
    let first = find(created, &["DEBUG", "media", &cntlid, "kind=write", "slba=8", "len=4096", "data=all:09"]);
    let armed = find(first, &["INFO", "control line applied", "fopcode 1 200", &format!("controller {id}")]);
    let fired =
        find(armed, &["WARN", "fault fired: command held", &cntlid, "opcode=0x01", "delay_ms=200", "data=all:05"]);
    let failed = find(fired, &["WARN", "controller failed", &cntlid, "cause=fault fired", "waiting=1"]);
    let landed =
        find(failed, &["WARN", "held command reached the media", &cntlid, "kind=write", "slba=8", "data=all:05"]);
    find(landed, &["INFO", "controller torn down", &cntlid]);
    let held_ms: u64 = log.lines().nth(landed).unwrap().split("held_ms=").nth(1).unwrap()[..3].trim().parse().unwrap();
    assert!(held_ms >= 200, "held {held_ms} ms");
}
