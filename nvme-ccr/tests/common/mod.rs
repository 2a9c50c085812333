//! Shared test harness: an engine plus everything it asked for, and timeline helpers.
#![allow(dead_code)]

use core::time::Duration;

use nvme_ccr::{
    CommandKind, Config, ControllerFacts, Cqt, Engine, Event, Instant, PathAction, PathId, Policy, ReadCcrLog, Release,
    SendCcr,
};
use nvme_proto::cmd::{AsyncEvent, CcrLogEntry, CcrLogPage, Ccrl, Ccrs, Status, StatusCode};

/// `t` milliseconds after the epoch.
pub fn ms(t: u64) -> Instant {
    Instant::from_millis(t)
}

/// The seed defaults (nvme_ccr::notes::ccr_cqt §11): KATO 5 s, TBKAS, CQT 1 ms, CCRL 4; CIU and CIRN derived from the
/// CNTLID.
pub fn facts(cntlid: u16) -> ControllerFacts {
    ControllerFacts {
        cntlid,
        ciu: 0x10 + cntlid as u8,
        cirn: 0xC1C1_0000 + cntlid as u64,
        cqt: Cqt::from_raw(1),
        ccrl: Ccrl::from_raw(4),
        kato: Duration::from_secs(5),
        tbkas: true,
    }
}

/// A CCR log page with `entries` (ICID, CIU, CCRS).
pub fn page(entries: &[(u16, u8, Ccrs)]) -> Vec<u8> {
    let entries: Vec<CcrLogEntry> =
        entries.iter().map(|&(icid, ciu, ccrs)| CcrLogEntry { icid, ciu, acid: 0, ccrs, ccrf: 0 }).collect();
    let mut buf = vec![0u8; CcrLogPage::buffer_len(entries.len())];
    CcrLogPage::emit(&entries, &mut buf).unwrap();
    buf
}

/// A status with `code`.
pub fn status(code: StatusCode) -> Status {
    Status::new(code)
}

/// DW0 of the CCR Completed notice.
pub fn ccr_aen() -> u32 {
    AsyncEvent::ccr_completed().to_dw0()
}

/// The engine and every output it produced, drained after each step.
pub struct Host {
    pub e: Engine,
    pub ccrs: Vec<SendCcr>,
    pub reads: Vec<ReadCcrLog>,
    pub releases: Vec<Release>,
    pub actions: Vec<PathAction>,
    pub events: Vec<Event>,
}

impl Host {
    pub fn new(policy: Policy) -> Self {
        Self::with(Config::new(policy))
    }

    pub fn with(config: Config) -> Self {
        Self { e: Engine::new(config), ccrs: vec![], reads: vec![], releases: vec![], actions: vec![], events: vec![] }
    }

    /// Adds controllers with the default facts for each CNTLID.
    pub fn paths(&mut self, cntlids: &[u16]) -> Vec<PathId> {
        cntlids.iter().map(|&c| self.e.add_controller(ms(0), facts(c)).unwrap()).collect()
    }

    /// Pulls every output, in the documented order.
    pub fn drain(&mut self) {
        while let Some(c) = self.e.poll_ccr() {
            self.ccrs.push(c);
        }
        while let Some(r) = self.e.poll_log_read() {
            self.reads.push(r);
        }
        while let Some(r) = self.e.poll_release() {
            self.releases.push(r);
        }
        while let Some(a) = self.e.poll_path_action() {
            self.actions.push(a);
        }
        while let Some(ev) = self.e.poll_event() {
            self.events.push(ev);
        }
    }

    /// The one CCR asked for since the last call (panics otherwise).
    pub fn one_ccr(&mut self) -> SendCcr {
        self.drain();
        assert_eq!(self.ccrs.len(), 1, "expected exactly one CCR, got {:?}", self.ccrs);
        self.ccrs.pop().unwrap()
    }

    /// The one log read asked for since the last call (panics otherwise).
    pub fn one_read(&mut self) -> ReadCcrLog {
        self.drain();
        assert_eq!(self.reads.len(), 1, "expected exactly one log read, got {:?}", self.reads);
        self.reads.pop().unwrap()
    }

    /// Takes the releases so far.
    pub fn take_releases(&mut self) -> Vec<Release> {
        self.drain();
        std::mem::take(&mut self.releases)
    }

    /// Whether an event matching `f` was reported.
    pub fn saw(&mut self, f: impl Fn(&Event) -> bool) -> bool {
        self.drain();
        self.events.iter().any(f)
    }

    /// Submits `token` of `kind` on `path` at `now`.
    pub fn submit(&mut self, now: Instant, path: PathId, token: u64, kind: CommandKind) {
        self.e.handle_submit(now, path, token, kind).unwrap();
    }
}
