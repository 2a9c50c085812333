//! What the host knows about one controller (one path), and the time-based hold formula (TP4129,
//! [notes::ccr_cqt §6](crate::notes::ccr_cqt)).

use core::time::Duration;

use nvme_proto::cmd::{Ccrl, Cqt, IdentifyController};

/// One instance of a controller: CNTLID, CIU and CIRN from its Identify Controller data (bytes 79:78, 135 and
/// 143:136; NVMe Base 2.3 / TP8028). A reconnect may reuse the CNTLID but renews CIU and CIRN, so a CCR naming an
/// old instance does not match the new one ([notes::ccr_cqt §2](crate::notes::ccr_cqt)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Instance {
    /// CNTLID (Identify bytes 79:78): the ICID a CCR names.
    pub cntlid: u16,
    /// CIU (Identify byte 135), 0 on pre-TP8028 controllers; sent exactly as read.
    pub ciu: u8,
    /// CIRN (Identify bytes 143:136), 0 on pre-TP8028 controllers; sent exactly as read.
    pub cirn: u64,
}

/// The facts the host learns when a controller becomes live (Identify Controller and the Connect it made).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ControllerFacts {
    /// CNTLID (Identify bytes 79:78).
    pub cntlid: u16,
    /// CIU (Identify byte 135).
    pub ciu: u8,
    /// CIRN (Identify bytes 143:136).
    pub cirn: u64,
    /// CQT (Identify bytes 387:386). [`Cqt::NotReported`] (0 on the wire) means "not reported", not "quiesces
    /// instantly": the hold then uses the administrator-set fallback F ([notes::ccr_cqt §6.3](crate::notes::ccr_cqt)).
    pub cqt: Cqt,
    /// CCRL (Identify byte 1807): how many CCRs this controller accepts in flight as a source.
    /// [`Ccrl::NotReported`] (pre-TP8028): the engine still uses it as a source, one CCR at a time
    /// ([notes::ccr_cqt §2](crate::notes::ccr_cqt)).
    pub ccrl: Ccrl,
    /// The keep-alive timeout the host asked for in Connect (KATO).
    pub kato: Duration,
    /// CTRATT bit 6 (Identify bytes 99:96), Traffic Based Keep Alive Support.
    pub tbkas: bool,
}

/// The value that takes CQT's place in every formula: the reported CQT, or `fallback` (F) when none was reported.
/// F is never added on top of a reported CQT ([notes::ccr_cqt §6.3](crate::notes::ccr_cqt)).
pub const fn cqt_or_fallback(cqt: Cqt, fallback: Duration) -> Duration {
    match cqt.duration() {
        Some(d) => d,
        None => fallback,
    }
}

impl ControllerFacts {
    /// The facts of a controller from its Identify Controller data and the KATO the host asked for in Connect.
    pub const fn from_identify(id: &IdentifyController<'_>, kato: Duration) -> Self {
        Self { cntlid: id.cntlid, ciu: id.ciu, cirn: id.cirn, cqt: id.cqt, ccrl: id.ccrl, kato, tbkas: id.tbkas() }
    }

    /// The instance these facts describe.
    pub const fn instance(&self) -> Instance {
        Instance { cntlid: self.cntlid, ciu: self.ciu, cirn: self.cirn }
    }

    /// The time-based hold ([notes::ccr_cqt §6.3](crate::notes::ccr_cqt)):
    /// `(TBKAS ? 3 : 2) x KATO + (CQT != 0 ? CQT : F)`, measured from loss detection. Saturates instead of overflowing.
    ///
    /// KATO 5 s, TBKAS, CQT 1 ms gives 15 001 ms; KATO 5 s, TBKAS, CQT not reported and F = 10 s gives 25 000 ms.
    pub fn hold(&self, cqt_fallback: Duration) -> Duration {
        let m = if self.tbkas { 3 } else { 2 };
        self.kato.saturating_mul(m).saturating_add(cqt_or_fallback(self.cqt, cqt_fallback))
    }

    /// The most CCRs the host keeps in flight through this controller as a source: CCRL, or 1 when CCRL = 0
    /// ("limit not reported", [notes::ccr_cqt §2](crate::notes::ccr_cqt)).
    pub const fn ccr_limit(&self) -> usize {
        match self.ccrl {
            Ccrl::NotReported => 1,
            Ccrl::Limit(n) => n.get() as usize,
        }
    }

    /// Whether the controller reported neither CIU nor CCRL, i.e. looks older than TP8028. Such a source that
    /// answers Invalid Field in Command is marked CCR-incapable ([notes::ccr_cqt §2](crate::notes::ccr_cqt)).
    pub const fn looks_pre_tp8028(&self) -> bool {
        self.ciu == 0 || matches!(self.ccrl, Ccrl::NotReported)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(kato_ms: u64, tbkas: bool, cqt_ms: u16) -> ControllerFacts {
        ControllerFacts {
            cntlid: 1,
            ciu: 1,
            cirn: 1,
            cqt: Cqt::from_raw(cqt_ms),
            ccrl: Ccrl::from_raw(4),
            kato: Duration::from_millis(kato_ms),
            tbkas,
        }
    }

    const F: Duration = Duration::from_secs(10);

    #[test]
    fn hold_matches_the_worked_examples_of_ccr_cqt_6_4() {
        assert_eq!(facts(5_000, false, 0).hold(F), Duration::from_millis(20_000));
        assert_eq!(facts(5_000, true, 0).hold(F), Duration::from_millis(25_000));
        assert_eq!(facts(5_000, true, 1).hold(F), Duration::from_millis(15_001));
        assert_eq!(facts(5_000, false, 5_000).hold(F), Duration::from_millis(15_000));
        assert_eq!(facts(10_000, true, 2_000).hold(F), Duration::from_millis(32_000));
    }

    #[test]
    fn cqt_zero_is_not_reported_and_fallback_is_never_added_to_a_reported_cqt() {
        assert_eq!(Cqt::from_raw(0), Cqt::NotReported);
        assert_eq!(cqt_or_fallback(Cqt::from_raw(7), F), Duration::from_millis(7));
        assert_eq!(cqt_or_fallback(Cqt::NotReported, F), F);
    }

    #[test]
    fn hold_saturates_instead_of_overflowing() {
        let mut f = facts(0, true, 1);
        f.kato = Duration::MAX;
        assert_eq!(f.hold(F), Duration::MAX);
    }

    #[test]
    fn facts_from_identify_controller_bytes() {
        let mut buf = [0u8; 4096];
        buf[78..80].copy_from_slice(&7u16.to_le_bytes());
        buf[96] = 1 << 6; // CTRATT.TBKAS
        buf[135] = 0x42;
        buf[136..144].copy_from_slice(&0x0123_4567_89AB_CDEFu64.to_le_bytes());
        buf[386..388].copy_from_slice(&1u16.to_le_bytes());
        buf[1807] = 4;
        let id = IdentifyController::parse(&buf).unwrap();
        let f = ControllerFacts::from_identify(&id, Duration::from_secs(5));
        assert_eq!(f.instance(), Instance { cntlid: 7, ciu: 0x42, cirn: 0x0123_4567_89AB_CDEF });
        assert_eq!((f.cqt, f.ccrl, f.tbkas), (Cqt::from_raw(1), Ccrl::from_raw(4), true));
        assert_eq!(f.hold(F), Duration::from_millis(15_001));
        buf[96] = 0;
        buf[386] = 0;
        let f = ControllerFacts::from_identify(&IdentifyController::parse(&buf).unwrap(), Duration::from_secs(5));
        assert_eq!(f.hold(F), Duration::from_millis(20_000));
    }

    #[test]
    fn ccrl_zero_means_one_at_a_time() {
        let mut f = facts(5_000, true, 1);
        f.ccrl = Ccrl::from_raw(0);
        assert_eq!(f.ccr_limit(), 1);
        assert!(f.looks_pre_tp8028());
        f.ccrl = Ccrl::from_raw(4);
        assert_eq!(f.ccr_limit(), 4);
        assert!(!f.looks_pre_tp8028());
    }
}
