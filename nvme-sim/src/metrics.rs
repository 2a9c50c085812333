//! Throughput and latency metrics of a workload, independent of who ran it: the simulator feeds virtual time, a
//! socket runner feeds real time. Both record completions into a [`Recorder`] and get the same [`Summary`] and
//! [`Series`] back.
//!
//! * **Throughput over time.** Completions are counted per [`Recorder::resolution`] (default 1 ms) over a horizon
//!   fixed at construction (the run's length: the recorder is bounded by its configuration, never by its input);
//!   [`Recorder::series`] sums them into bins of any multiple of the resolution (the report uses 10 ms and 100 ms).
//! * **The dip** ([`Dip`]). The baseline is the mean completion rate over the 1 s before the fault. The rate is then
//!   looked at in windows of [`Recorder::summary`]'s `window` (default 100 ms) aligned on the fault: the dip starts
//!   at the first window below 90 % of the baseline and ends at the first later window back at 90 % or more; its
//!   depth is the share of the baseline lost in the lowest window of the dip.
//! * **Latency**, split into reads and writes ([`LatencyStats`]): the exact maximum (the stall an application saw)
//!   and p99 / p99.9 / p99.99 from an [`hdrhistogram`] histogram with 3 significant digits (each quantile within
//!   0.1 % of the exact one), and the longest interval without any completion ([`Summary::longest_gap_ms`]).
//!
//! Times are [`Duration`]s since the start of the run (whatever the runner calls its start). Output types are
//! serde-serializable; times in them are milliseconds as `f64`, so the JSON reads without unit conversion.
//!
//! ```
//! use core::time::Duration;
//! use nvme_sim::metrics::{IoKind, Recorder};
//!
//! let ms = Duration::from_millis;
//! let mut r = Recorder::new(ms(1), Duration::from_secs(4));
//! // 1000 IOPS of 4 KiB reads, nothing from 2.0 s to 2.5 s (a stall), then 1000 IOPS again.
//! for t in (1..4000).filter(|t| !(2000..2500).contains(t)) {
//!     let latency = if t == 2500 { ms(501) } else { ms(1) };
//!     r.record(ms(t), IoKind::Read, latency, 4096);
//! }
//! let s = r.summary(Some(ms(2000)), ms(100));
//! let dip = s.dip.unwrap();
//! assert_eq!((dip.start_ms, dip.recovered_ms, dip.depth), (2000.0, Some(2500.0), 1.0));
//! assert_eq!(s.reads.max_ms, 501.0);
//! assert_eq!(s.longest_gap_ms, 501.0);
//! ```

use core::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// The share of the baseline below which the rate is in a dip, and at or above which it is back.
pub const RECOVERED_SHARE: f64 = 0.9;

/// The window before the fault whose mean rate is the baseline.
pub const BASELINE_WINDOW: Duration = Duration::from_secs(1);

/// The largest latency the histograms hold exactly enough (1 hour); a longer one is recorded as this value (the
/// exact maximum is kept beside the histogram).
const HIST_HIGH_NS: u64 = 3_600_000_000_000;
/// The smallest latency the histograms tell apart (1 us); shorter ones count as 1 us.
const HIST_LOW_NS: u64 = 1_000;
/// Significant digits of the histograms.
const HIST_SIGFIG: u8 = 3;

/// Whether a completion was a read or a write (anything else, e.g. a flush, counts as a write: it is not
/// side-effect free).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IoKind {
    /// A read.
    Read,
    /// A write.
    Write,
}

/// One bin of the per-resolution counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Count {
    read_ios: u32,
    write_ios: u32,
    read_bytes: u64,
    write_bytes: u64,
}

/// Latencies of one kind of I/O.
#[derive(Clone, Debug)]
struct Latencies {
    hist: Histogram<u64>,
    max: u64,
    count: u64,
}

impl Latencies {
    fn new() -> Latencies {
        // Bounds are constants that satisfy hdrhistogram's rules (low >= 1, high >= 2 x low, sigfig <= 5).
        let hist = Histogram::new_with_bounds(HIST_LOW_NS, HIST_HIGH_NS, HIST_SIGFIG)
            .expect("constant histogram bounds are valid");
        Latencies { hist, max: 0, count: 0 }
    }

    fn record(&mut self, ns: u64) {
        self.hist.saturating_record(ns.clamp(HIST_LOW_NS, HIST_HIGH_NS));
        self.max = self.max.max(ns);
        self.count += 1;
    }

    fn stats(&self) -> LatencyStats {
        let q = |q: f64| if self.count == 0 { 0.0 } else { ms(self.hist.value_at_quantile(q)) };
        LatencyStats {
            count: self.count,
            max_ms: ms(self.max),
            p50_ms: q(0.5),
            p99_ms: q(0.99),
            p999_ms: q(0.999),
            p9999_ms: q(0.9999),
        }
    }
}

/// Records completions and computes the metrics. Memory is fixed at construction: `horizon / resolution` bins of
/// 24 bytes and two histograms (about 2 x 300 KiB).
#[derive(Clone, Debug)]
pub struct Recorder {
    resolution: Duration,
    bins: Vec<Count>,
    reads: Latencies,
    writes: Latencies,
    beyond_horizon: u64,
    last_completion: Option<Duration>,
    longest_gap: Duration,
}

impl Recorder {
    /// A recorder counting completions per `resolution` from 0 up to `horizon` (completions at or after the horizon
    /// still count in the latencies and in [`Summary::beyond_horizon`], not in the series). A zero resolution is
    /// taken as 1 ms.
    pub fn new(resolution: Duration, horizon: Duration) -> Recorder {
        let resolution = if resolution.is_zero() { Duration::from_millis(1) } else { resolution };
        let n = horizon.as_nanos().div_ceil(resolution.as_nanos());
        Recorder {
            resolution,
            bins: vec![Count::default(); usize::try_from(n).unwrap_or(usize::MAX)],
            reads: Latencies::new(),
            writes: Latencies::new(),
            beyond_horizon: 0,
            last_completion: None,
            longest_gap: Duration::ZERO,
        }
    }

    /// The width of the recorder's finest bin.
    pub fn resolution(&self) -> Duration {
        self.resolution
    }

    /// The time up to which completions are binned.
    pub fn horizon(&self) -> Duration {
        self.resolution * u32::try_from(self.bins.len()).unwrap_or(u32::MAX)
    }

    /// One completion at `at` (since the start of the run) of an I/O that took `latency` and moved `bytes`.
    /// Completions are expected in time order; one earlier than the previous counts normally but does not shorten
    /// the longest gap.
    pub fn record(&mut self, at: Duration, kind: IoKind, latency: Duration, bytes: u64) {
        let lat = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        match kind {
            IoKind::Read => self.reads.record(lat),
            IoKind::Write => self.writes.record(lat),
        }
        let gap = at.saturating_sub(self.last_completion.unwrap_or(Duration::ZERO));
        self.longest_gap = self.longest_gap.max(gap);
        self.last_completion = Some(self.last_completion.map_or(at, |l| l.max(at)));
        let i = at.as_nanos() / self.resolution.as_nanos();
        match usize::try_from(i).ok().and_then(|i| self.bins.get_mut(i)) {
            Some(b) => match kind {
                IoKind::Read => {
                    b.read_ios = b.read_ios.saturating_add(1);
                    b.read_bytes = b.read_bytes.saturating_add(bytes);
                }
                IoKind::Write => {
                    b.write_ios = b.write_ios.saturating_add(1);
                    b.write_bytes = b.write_bytes.saturating_add(bytes);
                }
            },
            None => self.beyond_horizon += 1,
        }
    }

    /// Completions per bin of width `bin` (rounded to a multiple of the resolution, at least one), from 0 to the
    /// horizon.
    pub fn series(&self, bin: Duration) -> Series {
        let k = self.factor(bin);
        let mut s = Series {
            bin_ms: ms_of(self.resolution) * k as f64,
            read_ios: Vec::new(),
            write_ios: Vec::new(),
            read_bytes: Vec::new(),
            write_bytes: Vec::new(),
        };
        for chunk in self.bins.chunks(k) {
            let sum = chunk.iter().fold(Count::default(), |a, b| Count {
                read_ios: a.read_ios.saturating_add(b.read_ios),
                write_ios: a.write_ios.saturating_add(b.write_ios),
                read_bytes: a.read_bytes.saturating_add(b.read_bytes),
                write_bytes: a.write_bytes.saturating_add(b.write_bytes),
            });
            s.read_ios.push(u64::from(sum.read_ios));
            s.write_ios.push(u64::from(sum.write_ios));
            s.read_bytes.push(sum.read_bytes);
            s.write_bytes.push(sum.write_bytes);
        }
        s
    }

    fn factor(&self, bin: Duration) -> usize {
        let k = bin.as_nanos() / self.resolution.as_nanos();
        usize::try_from(k).unwrap_or(usize::MAX).clamp(1, self.bins.len().max(1))
    }

    /// Completions (reads and writes) in resolution bins `from..to` (clamped to the horizon).
    fn ios(&self, from: usize, to: usize) -> u64 {
        let to = to.min(self.bins.len());
        self.bins.get(from..to).map_or(0, |b| b.iter().map(|c| u64::from(c.read_ios) + u64::from(c.write_ios)).sum())
    }

    /// The metrics, with the dip measured around `fault` (none without a fault, or when nothing completed in the
    /// second before it) in windows of `window` (rounded to a multiple of the resolution). The fault time is
    /// rounded down to the resolution.
    pub fn summary(&self, fault: Option<Duration>, window: Duration) -> Summary {
        let dip = fault.and_then(|f| self.dip(f, window));
        let baseline = fault.and_then(|f| self.baseline(f));
        Summary {
            reads: self.reads.stats(),
            writes: self.writes.stats(),
            longest_gap_ms: ms_of(self.longest_gap),
            fault_ms: fault.map(ms_of),
            baseline_iops: baseline,
            dip,
            beyond_horizon: self.beyond_horizon,
        }
    }

    /// Resolution index of `t`, rounded down.
    fn index(&self, t: Duration) -> usize {
        usize::try_from(t.as_nanos() / self.resolution.as_nanos()).unwrap_or(usize::MAX)
    }

    /// The mean rate (IOPS) over the second before `fault`: `None` when that second holds no completion or starts
    /// before the run.
    fn baseline(&self, fault: Duration) -> Option<f64> {
        let f = self.index(fault);
        let w = self.index(BASELINE_WINDOW).max(1);
        let from = f.checked_sub(w)?;
        let n = self.ios(from, f);
        (n > 0).then(|| n as f64 / BASELINE_WINDOW.as_secs_f64())
    }

    fn dip(&self, fault: Duration, window: Duration) -> Option<Dip> {
        let baseline = self.baseline(fault)?;
        let f = self.index(fault);
        let k = self.factor(window);
        let win_s = self.resolution.as_secs_f64() * k as f64;
        let threshold = baseline * RECOVERED_SHARE;
        let rate = |w: usize| self.ios(f + w * k, f + (w + 1) * k) as f64 / win_s;
        // Only whole windows inside the horizon.
        let windows = self.bins.len().saturating_sub(f) / k;
        let start = (0..windows).find(|&w| rate(w) < threshold)?;
        let end = (start + 1..windows).find(|&w| rate(w) >= threshold);
        let lowest = (start..end.unwrap_or(windows)).map(rate).fold(f64::INFINITY, f64::min);
        let at = |w: usize| ms_of(self.resolution) * (f + w * k) as f64;
        Some(Dip {
            window_ms: ms_of(self.resolution) * k as f64,
            start_ms: at(start),
            recovered_ms: end.map(at),
            duration_ms: end.map(|e| ms_of(self.resolution) * ((e - start) * k) as f64),
            back_to_90_ms: end.map(|e| ms_of(self.resolution) * (e * k) as f64),
            lowest_iops: lowest,
            depth: 1.0 - lowest / baseline,
        })
    }
}

/// Nanoseconds to milliseconds.
fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// A duration in milliseconds.
fn ms_of(d: Duration) -> f64 {
    d.as_nanos() as f64 / 1e6
}

/// Completions per bin: bin `i` covers `[i x bin_ms, (i + 1) x bin_ms)` from the start of the run.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Series {
    /// Width of a bin, ms.
    pub bin_ms: f64,
    /// Reads completed per bin.
    pub read_ios: Vec<u64>,
    /// Writes completed per bin.
    pub write_ios: Vec<u64>,
    /// Bytes read per bin.
    pub read_bytes: Vec<u64>,
    /// Bytes written per bin.
    pub write_bytes: Vec<u64>,
}

impl Series {
    /// I/Os per second (reads and writes) per bin.
    pub fn iops(&self) -> Vec<f64> {
        let per_s = 1000.0 / self.bin_ms;
        self.read_ios.iter().zip(&self.write_ios).map(|(r, w)| (r + w) as f64 * per_s).collect()
    }

    /// Bytes per second (read and written) per bin.
    pub fn bandwidth(&self) -> Vec<f64> {
        let per_s = 1000.0 / self.bin_ms;
        self.read_bytes.iter().zip(&self.write_bytes).map(|(r, w)| (r + w) as f64 * per_s).collect()
    }
}

/// The admin stream's figures ([`Scenario::admin_interval`](crate::Scenario::admin_interval)): the monitoring reads
/// sent, answered and failed with their path, and the longest one, submission to completion (ms): the admin stall.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct AdminStats {
    /// Reads sent.
    pub sent: u64,
    /// Reads answered by their controller.
    pub completed: u64,
    /// Reads completed with their path's failure (after recovery released them).
    pub failed: u64,
    /// The longest read, answered or failed, ms: the admin stall.
    pub max_ms: f64,
    /// The longest failed read, ms: how long recovery held it (0 when none failed).
    pub failed_max_ms: f64,
}

/// Latency of one kind of I/O, ms.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct LatencyStats {
    /// Completions.
    pub count: u64,
    /// The longest latency (exact): the stall this kind of I/O saw.
    pub max_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// 99.99th percentile.
    pub p9999_ms: f64,
}

/// The drop in throughput after a fault. Times are ms since the start of the run unless named otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Dip {
    /// Width of the windows the rate is measured in.
    pub window_ms: f64,
    /// Start of the first window (from the fault on) below 90 % of the baseline.
    pub start_ms: f64,
    /// Start of the first later window at 90 % of the baseline or more (`None`: not back before the horizon).
    pub recovered_ms: Option<f64>,
    /// `recovered_ms - start_ms`.
    pub duration_ms: Option<f64>,
    /// From the fault to `recovered_ms`: the time back to 90 % of the baseline.
    pub back_to_90_ms: Option<f64>,
    /// The lowest window's rate in the dip (IOPS).
    pub lowest_iops: f64,
    /// The share of the baseline lost at the lowest point: 0 (none) to 1 (no completion at all).
    pub depth: f64,
}

/// What [`Recorder::summary`] computes.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Reads.
    pub reads: LatencyStats,
    /// Writes.
    pub writes: LatencyStats,
    /// The longest interval without any completion (from the start of the run to the first completion included).
    pub longest_gap_ms: f64,
    /// The fault time given.
    pub fault_ms: Option<f64>,
    /// The mean rate over the second before the fault (IOPS).
    pub baseline_iops: Option<f64>,
    /// The dip (`None`: no fault, no baseline, or the rate never fell below 90 % of the baseline).
    pub dip: Option<Dip>,
    /// Completions at or after the horizon (not in the series nor in the dip).
    pub beyond_horizon: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(t: u64) -> Duration {
        Duration::from_millis(t)
    }

    /// A steady 1000 IOPS (one read per ms) for 2 s, 250 IOPS from the fault at 2 s to 5 s, 1000 IOPS to 8 s.
    fn stepped() -> Recorder {
        let mut r = Recorder::new(ms(1), ms(8000));
        for t in 0..8000u64 {
            let slow = (2000..5000).contains(&t);
            if !slow || t % 4 == 0 {
                r.record(ms(t), IoKind::Read, ms(1), 4096);
            }
        }
        r
    }

    #[test]
    fn dip_depth_duration_and_time_back_match_the_hand_computed_values() {
        let s = stepped().summary(Some(ms(2000)), ms(100));
        assert_eq!(s.baseline_iops, Some(1000.0));
        let d = s.dip.unwrap();
        // 25 reads per 100 ms window = 250 IOPS: 75 % of the baseline lost, 3 s long, back at 5 s.
        assert_eq!(d.lowest_iops, 250.0);
        assert_eq!(d.depth, 0.75);
        assert_eq!(
            (d.start_ms, d.recovered_ms, d.duration_ms, d.back_to_90_ms),
            (2000.0, Some(5000.0), Some(3000.0), Some(3000.0))
        );
    }

    #[test]
    fn a_dip_that_starts_late_and_never_ends() {
        let mut r = Recorder::new(ms(1), ms(3000));
        for t in 0..1500u64 {
            r.record(ms(t), IoKind::Write, ms(2), 512);
        }
        // Fault at 1.2 s; the rate holds until 1.5 s, then nothing.
        let d = r.summary(Some(ms(1200)), ms(100)).dip.unwrap();
        assert_eq!((d.start_ms, d.recovered_ms, d.back_to_90_ms, d.depth), (1500.0, None, None, 1.0));
    }

    #[test]
    fn no_dip_without_fault_baseline_or_drop() {
        let r = stepped();
        assert_eq!(r.summary(None, ms(100)).dip, None);
        // The second before 0.5 s starts before the run: no baseline.
        assert_eq!(r.summary(Some(ms(500)), ms(100)).baseline_iops, None);
        // A fault at 6 s: the rate stays at 1000 IOPS.
        let s = r.summary(Some(ms(6000)), ms(100));
        assert_eq!((s.baseline_iops, s.dip), (Some(1000.0), None));
    }

    #[test]
    fn series_sum_the_resolution_bins() {
        let r = stepped();
        let s10 = r.series(ms(10));
        assert_eq!(s10.bin_ms, 10.0);
        assert_eq!(s10.read_ios.len(), 800);
        assert_eq!((s10.read_ios[0], s10.read_ios[250], s10.write_ios[0]), (10, 3, 0));
        assert_eq!(s10.read_bytes[0], 40960);
        let s100 = r.series(ms(100));
        assert_eq!(s100.iops()[19..21], [1000.0, 250.0]);
        assert_eq!(s100.bandwidth()[0], 1000.0 * 4096.0);
        // 10 us is finer than the resolution: one bin per resolution step.
        assert_eq!(r.series(Duration::from_micros(10)).bin_ms, 1.0);
    }

    #[test]
    fn percentiles_are_split_into_reads_and_writes() {
        let mut r = Recorder::new(ms(1), ms(100));
        // Reads of 1..=10000 us; writes all 7 ms but one of 2 s.
        for i in 1..=10_000u64 {
            r.record(ms(50), IoKind::Read, Duration::from_micros(i), 4096);
        }
        for _ in 0..99 {
            r.record(ms(50), IoKind::Write, ms(7), 4096);
        }
        r.record(ms(50), IoKind::Write, ms(2000), 4096);
        let s = r.summary(None, ms(100));
        let close = |got: f64, want: f64| (got - want).abs() <= want * 0.001;
        assert_eq!(s.reads.count, 10_000);
        assert!(close(s.reads.p99_ms, 9.9), "{}", s.reads.p99_ms);
        assert!(close(s.reads.p999_ms, 9.99), "{}", s.reads.p999_ms);
        assert!(close(s.reads.p9999_ms, 9.999), "{}", s.reads.p9999_ms);
        assert_eq!(s.reads.max_ms, 10.0);
        assert!(close(s.writes.p99_ms, 7.0), "{}", s.writes.p99_ms);
        assert!(close(s.writes.p999_ms, 2000.0), "{}", s.writes.p999_ms);
        assert_eq!(s.writes.max_ms, 2000.0);
    }

    #[test]
    fn longest_gap_and_the_horizon() {
        let mut r = Recorder::new(ms(10), ms(100));
        r.record(ms(30), IoKind::Read, ms(1), 1);
        r.record(ms(90), IoKind::Read, ms(1), 1);
        r.record(ms(80), IoKind::Read, ms(1), 1);
        r.record(ms(250), IoKind::Write, ms(1), 1);
        let s = r.summary(None, ms(100));
        assert_eq!((s.longest_gap_ms, s.beyond_horizon), (160.0, 1));
        assert_eq!(r.series(ms(100)).read_ios, vec![3]);
        assert_eq!(r.horizon(), ms(100));
        let empty = Recorder::new(Duration::ZERO, ms(5)).summary(Some(ms(1)), ms(1));
        assert_eq!((empty.reads.p99_ms, empty.dip), (0.0, None));
    }

    #[test]
    fn summary_serializes_with_millisecond_fields() {
        let s = stepped().summary(Some(ms(2000)), ms(100));
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["dip"]["back_to_90_ms"], 3000.0);
        assert_eq!(v["reads"]["count"], 5000 + 750);
        assert_eq!(v["baseline_iops"], 1000.0);
        let series = serde_json::to_value(stepped().series(ms(1000))).unwrap();
        assert_eq!(series["read_ios"][2], 250);
    }
}
