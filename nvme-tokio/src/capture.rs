//! A pcap of the drivers' own traffic: each connection records the bytes it writes to and reads from its socket, as
//! they cross it. nvme-pcap's [`PcapTcpWriter`] cuts them into TCP segments with running sequence numbers, so no PDU
//! boundary is needed here (tshark and nvme-pcap's [`PcapTcpReader`](nvme_pcap::PcapTcpReader) reassemble the
//! stream).

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use nvme_pcap::{Direction, PcapTcpWriter, TcpFlow};

/// A pcap file that the drivers write their own traffic into (no capture privilege needed). Cheap to clone;
/// every connection of a host or a target shares one. Bytes are written, unbuffered, as they are sent or received,
/// so the file is complete even if the process is killed.
///
/// Frames carry the real addresses (IPv4 or IPv6) and ports of the connection; tshark decodes port 4420 as NVMe/TCP
/// by itself, any other port needs `-d tcp.port==PORT,nvme-tcp`.
#[derive(Clone)]
pub struct Capture {
    inner: Arc<Mutex<CaptureInner>>,
}

struct CaptureInner {
    writer: PcapTcpWriter<File>,
    epoch: std::time::Instant,
    flows: HashMap<u64, TcpFlow>,
    next_flow: u64,
    /// The first write error, after which nothing more is written.
    failed: Option<String>,
}

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Capture")
    }
}

impl Capture {
    /// Creates (truncates) `path` and writes the pcap header.
    pub fn create(path: &Path) -> io::Result<Capture> {
        let file = File::create(path)?;
        let writer = PcapTcpWriter::new(file)?;
        let inner = CaptureInner {
            writer,
            epoch: std::time::Instant::now(),
            flows: HashMap::new(),
            next_flow: 0,
            failed: None,
        };
        Ok(Capture { inner: Arc::new(Mutex::new(inner)) })
    }

    /// The first error met while writing, if any (the capture stops at it).
    pub fn error(&self) -> Option<String> {
        self.inner.lock().map(|c| c.failed.clone()).unwrap_or_else(|_| Some("capture lock poisoned".into()))
    }

    /// A flow for the connection between `host` and `controller`, recorded by the side `recorder` (what that side
    /// receives travels towards it).
    pub(crate) fn flow(&self, host: SocketAddr, controller: SocketAddr, recorder: Side) -> ConnCapture {
        let id = match self.inner.lock() {
            Ok(mut c) => {
                let id = c.next_flow;
                c.next_flow += 1;
                c.flows.insert(id, TcpFlow::new(host, controller));
                id
            }
            Err(_) => u64::MAX,
        };
        let received = match recorder {
            Side::Host => Direction::ControllerToHost,
            Side::Controller => Direction::HostToController,
        };
        ConnCapture { cap: self.clone(), id, received }
    }
}

/// Which end of a connection records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    /// The host (it sends host to controller).
    Host,
    /// The controller (the target).
    Controller,
}

/// One connection's view of a [`Capture`], from one side.
#[derive(Clone)]
pub(crate) struct ConnCapture {
    cap: Capture,
    id: u64,
    /// The direction of what this side receives.
    received: Direction,
}

impl ConnCapture {
    /// Records bytes this side received.
    pub(crate) fn received(&self, bytes: &[u8]) {
        self.record(self.received, bytes);
    }

    /// Records bytes this side sent.
    pub(crate) fn sent(&self, bytes: &[u8]) {
        let dir = match self.received {
            Direction::HostToController => Direction::ControllerToHost,
            Direction::ControllerToHost => Direction::HostToController,
        };
        self.record(dir, bytes);
    }

    fn record(&self, dir: Direction, bytes: &[u8]) {
        let Ok(mut c) = self.cap.inner.lock() else { return };
        if c.failed.is_some() {
            return;
        }
        let ts = c.epoch.elapsed();
        let c = &mut *c;
        let Some(flow) = c.flows.get_mut(&self.id) else { return };
        if let Err(e) = c.writer.write(flow, dir, ts, bytes) {
            c.failed = Some(e.to_string());
        }
    }
}
