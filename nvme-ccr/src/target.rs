//! The controller side of Cross-Controller Reset (TP8028), Sans-IO, shared by the simulator and the test target.
//!
//! One [`Target`] models the controllers of one subsystem. It keeps each controller's instance identity (CIU,
//! CIRN), executes CCRs received on a source controller, keeps the per-source CCR log, and says when to raise the
//! CCR Completed notice. It does not run commands: the driver tells it when an impacted controller has finished
//! its teardown (every command it accepted executed or cancelled, [notes::ccr_cqt §11](crate::notes::ccr_cqt)), and
//! only then does a CCR succeed.
//!
//! # Call order
//!
//! * [`Target::add_controller`] when a host connects (with the host's key: CCRs only reach controllers of the
//!   same host), [`Target::controller_ready`] each time CSTS.RDY goes 0 -> 1 (renews CIU and CIRN),
//!   [`Target::handle_controller_fatal`] when a controller fails on its own (keep-alive expiry, transport
//!   loss), [`Target::handle_teardown_complete`] when a failed controller is gone.
//! * [`Target::handle_ccr`] for each CCR command, [`Target::handle_get_ccr_log`] for each Get Log Page 0x1E.
//! * Then drain [`Target::poll_answer`] (CCR completions to send), [`Target::poll_fail_controller`] (impacted
//!   controllers to fail: drop their connections, report [`Target::handle_teardown_complete`] when their
//!   outstanding commands are gone) and [`Target::poll_aen`] (notices to complete an outstanding AER with).
//!
//! Randomness is an input: every call that needs a random value takes it as a `u64`.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::num::NonZeroU8;

use nvme_proto::cmd::{
    AsyncEvent, CCR_LOG_MAX_ENTRIES, CcrLogEntry, CcrLogPage, CcrResult, Ccrl, Ccrs, CrossControllerReset, Status,
    StatusCode,
};

/// The host a controller belongs to (a key derived from its host NQN). A CCR only finds impacted controllers of
/// the source's own host ([notes::ccr_cqt §8.2, §15](crate::notes::ccr_cqt)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HostId(pub u64);

/// Linux nvmet's CCRL, "as recommended by TP8028" ([notes::ccr_cqt §8.1](crate::notes::ccr_cqt)).
pub const DEFAULT_CCRL: Ccrl = Ccrl::Limit(NonZeroU8::new(4).unwrap());

/// The status for "impacted controller not found" (no controller of the source's host with that ICID + CIU + CIRN,
/// or the source itself). **Unconfirmed**: no dedicated code is known; best guess Invalid Field in Command (SCT 0 /
/// SC 0x02), sent with DNR ([notes::ccr_cqt §3, §17](crate::notes::ccr_cqt)).
pub const CCR_NOT_FOUND: StatusCode = StatusCode::INVALID_FIELD;

/// DW0 of a CCR completed in IRS mode. IRS = 1 is certain; **unconfirmed**: V = 1 ("identity validated", best guess
/// from the name) and CLRI = 0 (we model no controller-level reset) ([notes::ccr_cqt §3](crate::notes::ccr_cqt)).
pub const IRS_RESULT: CcrResult = CcrResult { irs: true, v: true, clri: false };

/// CCRF of an entry that ended in Success. **Unconfirmed**: V (bit 0) set, best guess from the name; RETRY bits 0
/// ([notes::ccr_cqt §4](crate::notes::ccr_cqt)).
pub const SUCCESS_CCRF: u8 = CcrLogEntry::CCRF_V;

/// Target configuration, including the fault switches of [notes::ccr_cqt §11](crate::notes::ccr_cqt). The switches may
/// be flipped at any time through [`Target::config_mut`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TargetConfig {
    /// CCRL reported in Identify and enforced per source (0x41). [`Ccrl::NotReported`]: nothing is enforced.
    pub ccrl: Ccrl,
    /// Entries one source's CCR log holds (0x40 beyond); at most 511.
    pub log_capacity: usize,
    /// Immediate Reset Successful mode: the CCR command completes only when the impacted controller's teardown
    /// is complete, with IRS = 1 (and V = 1), and no log entry or AEN.
    pub irs: bool,
    /// `ccr-fail`: accept the CCR (entry In Progress, success with IRS = 0) but record CCRS = Failed at once (with
    /// the AEN) and do not fail the impacted controller.
    pub ccr_fail: bool,
    /// `ccr-unsupported`: answer every CCR with Invalid Command Opcode + DNR, as the Linux 6.1 target does.
    pub ccr_unsupported: bool,
}

impl Default for TargetConfig {
    /// CCRL 4, a full-size log, no IRS, no faults.
    fn default() -> Self {
        Self {
            ccrl: DEFAULT_CCRL,
            log_capacity: CCR_LOG_MAX_ENTRIES,
            irs: false,
            ccr_fail: false,
            ccr_unsupported: false,
        }
    }
}

/// The instance identity a controller reports in Identify Controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Identity {
    /// CNTLID (bytes 79:78).
    pub cntlid: u16,
    /// CIU (byte 135), never 0.
    pub ciu: u8,
    /// CIRN (bytes 143:136).
    pub cirn: u64,
}

/// The completion of one CCR command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CcrAnswer {
    /// The source controller the CCR was received on.
    pub source: u16,
    /// The caller's request token given to [`Target::handle_ccr`].
    pub req: u64,
    /// The status field of the CQE.
    pub status: Status,
    /// CQE DW0 ([`CcrResult`]; 0 on errors).
    pub dw0: u32,
}

/// A CCR Completed notice to send on `source` (complete an outstanding AER with `event.to_dw0()`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TargetAen {
    /// The source controller.
    pub source: u16,
    /// The event: Notice, AEI 0xF4 (unconfirmed), LID 0x1E.
    pub event: AsyncEvent,
}

/// An input the target refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TargetError {
    /// No controller has this CNTLID.
    UnknownController,
    /// A controller with this CNTLID already exists.
    DuplicateController,
}

impl core::fmt::Display for TargetError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(self, f)
    }
}

impl core::error::Error for TargetError {}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Ctrl {
    /// Internal, never reused: entries and pending CCRs name the impacted controller by it.
    uid: u64,
    id: Identity,
    host: HostId,
    /// Failing (fatal or named by a CCR): its teardown is under way.
    failing: bool,
    /// This controller's CCR log as a source, and for each entry the uid of the impacted controller.
    log: Vec<CcrLogEntry>,
    log_uids: Vec<u64>,
    /// A CCR notice was raised and the log not read since: further notices are masked (NVMe AER rule).
    aen_masked: bool,
}

/// A CCR in IRS mode waiting for its impacted controller's teardown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct IrsWait {
    source_uid: u64,
    source: u16,
    impacted_uid: u64,
    req: u64,
}

/// The controller side of CCR for one subsystem. See the module docs for the call order.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    config: TargetConfig,
    ctrls: Vec<Ctrl>,
    irs_waits: Vec<IrsWait>,
    next_uid: u64,
    answers: VecDeque<CcrAnswer>,
    fails: VecDeque<u16>,
    aens: VecDeque<TargetAen>,
}

const fn nonzero(ciu: u8) -> u8 {
    if ciu == 0 { 1 } else { ciu }
}

impl Target {
    /// A target with no controllers.
    pub fn new(config: TargetConfig) -> Self {
        Self {
            config,
            ctrls: Vec::new(),
            irs_waits: Vec::new(),
            next_uid: 0,
            answers: VecDeque::new(),
            fails: VecDeque::new(),
            aens: VecDeque::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &TargetConfig {
        &self.config
    }

    /// The configuration, to flip the fault switches.
    pub fn config_mut(&mut self) -> &mut TargetConfig {
        &mut self.config
    }

    fn find(&self, cntlid: u16) -> Option<usize> {
        self.ctrls.iter().position(|c| c.id.cntlid == cntlid)
    }

    /// A controller was created (Connect) for `host`; `random` seeds its CIU (non-zero) and CIRN. It is not
    /// ready yet.
    pub fn add_controller(&mut self, cntlid: u16, host: HostId, random: u64) -> Result<Identity, TargetError> {
        if self.find(cntlid).is_some() {
            return Err(TargetError::DuplicateController);
        }
        let id = Identity { cntlid, ciu: nonzero((random >> 56) as u8), cirn: random };
        self.ctrls.push(Ctrl {
            uid: self.next_uid,
            id,
            host,
            failing: false,
            log: Vec::new(),
            log_uids: Vec::new(),
            aen_masked: false,
        });
        self.next_uid += 1;
        Ok(id)
    }

    /// CSTS.RDY went 0 -> 1: CIU is incremented (skipping 0), CIRN becomes `random`, and completed entries of
    /// its CCR log are removed ([notes::ccr_cqt §4, §8.1](crate::notes::ccr_cqt)). Returns the identity Identify now
    /// reports.
    pub fn controller_ready(&mut self, cntlid: u16, random: u64) -> Result<Identity, TargetError> {
        let i = self.find(cntlid).ok_or(TargetError::UnknownController)?;
        let c = &mut self.ctrls[i];
        c.id.ciu = nonzero(c.id.ciu.wrapping_add(1));
        c.id.cirn = random;
        let mut k = 0;
        while k < c.log.len() {
            if c.log[k].ccrs == Ccrs::IN_PROGRESS {
                k += 1;
            } else {
                c.log.remove(k);
                c.log_uids.remove(k);
            }
        }
        c.aen_masked = false;
        Ok(c.id)
    }

    /// The identity `cntlid` reports now.
    pub fn identity(&self, cntlid: u16) -> Option<Identity> {
        self.find(cntlid).map(|i| self.ctrls[i].id)
    }

    /// `cntlid` failed on its own (keep-alive expiry, lost connection): its teardown is under way, so a CCR naming
    /// it does not ask to fail it again. Report [`handle_teardown_complete`](Self::handle_teardown_complete) when
    /// it is gone.
    pub fn handle_controller_fatal(&mut self, cntlid: u16) -> Result<(), TargetError> {
        let i = self.find(cntlid).ok_or(TargetError::UnknownController)?;
        self.ctrls[i].failing = true;
        Ok(())
    }

    /// CCRs initiated through controller `i` as a source that are still in progress.
    fn in_progress(&self, i: usize) -> usize {
        let c = &self.ctrls[i];
        c.log.iter().filter(|e| e.ccrs == Ccrs::IN_PROGRESS).count()
            + self.irs_waits.iter().filter(|w| w.source_uid == c.uid).count()
    }

    fn answer(&mut self, source: u16, req: u64, status: Status, dw0: u32) {
        self.answers.push_back(CcrAnswer { source, req, status, dw0 });
    }

    /// A Cross-Controller Reset arrived on controller `source` (the caller's request token `req`). The answer is
    /// queued for [`poll_answer`](Self::poll_answer), now or (IRS mode) when the teardown completes.
    ///
    /// Checks, in this order ([notes::ccr_cqt §8.2](crate::notes::ccr_cqt)): `ccr-unsupported` -> Invalid Command
    /// Opcode + DNR; the impacted controller is found among the same host's controllers by ICID + CIU + CIRN (not the
    /// source itself), otherwise [`CCR_NOT_FOUND`] + DNR; in-progress
    /// CCRs through this source >= CCRL -> 0x41; one already in progress for the same impacted controller ->
    /// 0x3F; log full -> 0x40. Then the CCR is accepted.
    pub fn handle_ccr(&mut self, source: u16, req: u64, cmd: CrossControllerReset) -> Result<(), TargetError> {
        let s = self.find(source).ok_or(TargetError::UnknownController)?;
        if self.config.ccr_unsupported {
            self.answer(source, req, Status::new(StatusCode::INVALID_OPCODE).with_dnr(true), 0);
            return Ok(());
        }
        let host = self.ctrls[s].host;
        let Some(t) = self
            .ctrls
            .iter()
            .position(|c| c.host == host && c.id.cntlid == cmd.icid && c.id.ciu == cmd.ciu && c.id.cirn == cmd.cirn)
        else {
            self.answer(source, req, Status::new(CCR_NOT_FOUND).with_dnr(true), 0);
            return Ok(());
        };
        if t == s {
            self.answer(source, req, Status::new(CCR_NOT_FOUND).with_dnr(true), 0);
            return Ok(());
        }
        if let Ccrl::Limit(limit) = self.config.ccrl
            && self.in_progress(s) >= limit.get() as usize
        {
            self.answer(source, req, Status::new(StatusCode::CCR_LIMIT_EXCEEDED), 0);
            return Ok(());
        }
        let (source_uid, impacted_uid) = (self.ctrls[s].uid, self.ctrls[t].uid);
        let src = &self.ctrls[s];
        let same = src.log.iter().zip(&src.log_uids).any(|(e, &u)| u == impacted_uid && e.ccrs == Ccrs::IN_PROGRESS)
            || self.irs_waits.iter().any(|w| w.source_uid == source_uid && w.impacted_uid == impacted_uid);
        if same {
            self.answer(source, req, Status::new(StatusCode::CCR_IN_PROGRESS), 0);
            return Ok(());
        }
        let irs = self.config.irs && !self.config.ccr_fail;
        if !irs && src.log.len() >= self.config.log_capacity.min(CCR_LOG_MAX_ENTRIES) {
            self.answer(source, req, Status::new(StatusCode::CCR_LOG_PAGE_FULL), 0);
            return Ok(());
        }
        if irs {
            self.irs_waits.push(IrsWait { source_uid, source, impacted_uid, req });
        } else {
            let entry = CcrLogEntry { icid: cmd.icid, ciu: cmd.ciu, acid: source, ccrs: Ccrs::IN_PROGRESS, ccrf: 0 };
            let src = &mut self.ctrls[s];
            src.log.push(entry);
            src.log_uids.push(impacted_uid);
            self.answer(source, req, Status::SUCCESS, CcrResult::default().to_dw0());
        }
        if self.config.ccr_fail {
            let src = &mut self.ctrls[s];
            if let Some(e) = src.log.last_mut() {
                e.ccrs = Ccrs::FAILED;
            }
            self.notify(s);
        } else if !self.ctrls[t].failing {
            self.ctrls[t].failing = true;
            self.fails.push_back(cmd.icid);
        }
        Ok(())
    }

    fn notify(&mut self, i: usize) {
        let c = &mut self.ctrls[i];
        if !c.aen_masked {
            c.aen_masked = true;
            self.aens.push_back(TargetAen { source: c.id.cntlid, event: AsyncEvent::ccr_completed() });
        }
    }

    /// `cntlid` is gone: every command it accepted has executed or been cancelled. CCRs naming it succeed (entries
    /// CCRS = Success with V = 1, and a notice to each source; IRS-mode CCRs complete with IRS = 1). The
    /// controller, its own CCR log and the CCRs it initiated as a source disappear with it.
    pub fn handle_teardown_complete(&mut self, cntlid: u16) -> Result<(), TargetError> {
        let i = self.find(cntlid).ok_or(TargetError::UnknownController)?;
        let gone = self.ctrls.remove(i);
        for k in 0..self.ctrls.len() {
            let c = &mut self.ctrls[k];
            let mut changed = false;
            for (e, &u) in c.log.iter_mut().zip(&c.log_uids) {
                if u == gone.uid && e.ccrs == Ccrs::IN_PROGRESS {
                    e.ccrs = Ccrs::SUCCESS;
                    e.ccrf |= SUCCESS_CCRF;
                    changed = true;
                }
            }
            if changed {
                self.notify(k);
            }
        }
        let mut k = 0;
        while k < self.irs_waits.len() {
            let w = self.irs_waits[k];
            if w.source_uid == gone.uid {
                self.irs_waits.swap_remove(k);
            } else if w.impacted_uid == gone.uid {
                self.irs_waits.swap_remove(k);
                self.answer(w.source, w.req, Status::SUCCESS, IRS_RESULT.to_dw0());
            } else {
                k += 1;
            }
        }
        Ok(())
    }

    /// A Get Log Page for the CCR log (LID 0x1E) arrived on `source`: writes the page into `buf` (as many bytes as
    /// asked for; a short buffer gets the page's first bytes, bytes past the page are zeroed) and returns
    /// `buf.len()`. With `rmc`, completed entries (Success or Failed) that fitted whole in `buf` are removed.
    /// Reading the log unmasks the CCR notice.
    pub fn handle_get_ccr_log(&mut self, source: u16, rmc: bool, buf: &mut [u8]) -> Result<usize, TargetError> {
        let i = self.find(source).ok_or(TargetError::UnknownController)?;
        let c = &mut self.ctrls[i];
        let mut page = [0u8; CcrLogPage::buffer_len(CCR_LOG_MAX_ENTRIES)];
        // The log never holds more than 511 entries (capacity is capped), so emit cannot fail.
        let len = CcrLogPage::emit(&c.log, &mut page).unwrap_or(0);
        let n = len.min(buf.len());
        buf[..n].copy_from_slice(&page[..n]);
        buf[n..].fill(0);
        if rmc {
            let whole = n.saturating_sub(8) / 8;
            let mut k = 0;
            let mut seen = 0;
            while k < c.log.len() && seen < whole {
                seen += 1;
                if c.log[k].ccrs == Ccrs::IN_PROGRESS {
                    k += 1;
                } else {
                    c.log.remove(k);
                    c.log_uids.remove(k);
                }
            }
        }
        c.aen_masked = false;
        Ok(buf.len())
    }

    /// Entries in `source`'s CCR log.
    pub fn log_len(&self, source: u16) -> Option<usize> {
        self.find(source).map(|i| self.ctrls[i].log.len())
    }

    /// The next CCR completion to send.
    pub fn poll_answer(&mut self) -> Option<CcrAnswer> {
        self.answers.pop_front()
    }

    /// The next controller (CNTLID) a CCR asks to fail: mark it fatal, drop its connections, and call
    /// [`handle_teardown_complete`](Self::handle_teardown_complete) once its outstanding commands are gone.
    pub fn poll_fail_controller(&mut self) -> Option<u16> {
        self.fails.pop_front()
    }

    /// The next CCR Completed notice to raise.
    pub fn poll_aen(&mut self) -> Option<TargetAen> {
        self.aens.pop_front()
    }
}
