//! `rw-test`'s progress line: on standard error when it is a terminal (hidden otherwise, so scripts see exactly the
//! Linux test's output), showing what the host waits for and until when, from the host's events.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use nvme_ccr::Event as E;
use nvme_tokio::host::HostEvent;

/// The progress line (cheap to clone: every clone draws the same line).
#[derive(Clone, Debug)]
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A spinner on standard error, drawn only when standard error is a terminal.
    pub fn stderr(iterations: u32) -> Progress {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed}] {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(format!("rw_test: {iterations} iteration(s), connecting"));
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress { bar }
    }

    /// Shows `msg` when there is one.
    pub fn show(&self, msg: Option<String>) {
        if let Some(m) = msg {
            self.bar.set_message(m);
        }
    }

    /// Clears the line for good.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }

    /// `inner`, with the line cleared while each write happens (so output lines never mix with it).
    pub fn writer<W: Write>(&self, inner: W) -> Suspended<W> {
        Suspended { bar: self.bar.clone(), inner }
    }
}

/// A writer that hides the progress line while it writes.
pub struct Suspended<W> {
    bar: ProgressBar,
    inner: W,
}

impl<W: Write> Write for Suspended<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let inner = &mut self.inner;
        self.bar.suspend(|| inner.write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// What the host is waiting for, per failed path, from its events.
#[derive(Debug, Default)]
pub struct HoldState {
    /// Engine path -> the text of its hold.
    holds: BTreeMap<u32, String>,
}

impl HoldState {
    /// Takes one event; returns the new line when it changed what the line shows.
    pub fn update(&mut self, ev: &HostEvent) -> Option<String> {
        match *ev {
            HostEvent::Engine(E::FencingStarted { path, held, deadline, .. }) => {
                self.holds.insert(
                    path.0,
                    format!("{path}: {held} command(s) held until {deadline} unless a CCR proves the reset"),
                );
            }
            HostEvent::Engine(E::CcrSent { path, source, ccr }) => {
                self.holds.entry(path.0).and_modify(|h| *h = format!("{h}; {ccr} sent via {source}"));
            }
            HostEvent::Engine(E::FellBackToTimer { path, remaining }) => {
                self.holds.entry(path.0).and_modify(|h| {
                    *h = format!("{path}: no CCR source left, waiting {} ms for the timer", remaining.as_millis())
                });
            }
            HostEvent::Engine(E::HoldExtendedByCcr { path, source, ccr }) => {
                self.holds.insert(path.0, format!("{path}: held until {ccr} via {source} resolves"));
            }
            HostEvent::Engine(E::HoldAwaitingPath { path }) => {
                self.holds.insert(path.0, format!("{path}: no path live, held until a path comes back"));
            }
            HostEvent::Engine(E::HoldReleased { path, .. }) => {
                self.holds.remove(&path.0);
                return Some(if self.holds.is_empty() { format!("rw_test running; {}", ev) } else { self.line() });
            }
            HostEvent::PathLive { .. } if self.holds.is_empty() => return Some(format!("rw_test running; {ev}")),
            HostEvent::PathFailed { .. } if self.holds.is_empty() => return Some(format!("rw_test running; {ev}")),
            _ => return None,
        }
        Some(self.line())
    }

    fn line(&self) -> String {
        let holds: Vec<&str> = self.holds.values().map(String::as_str).collect();
        format!("waiting: {}", holds.join(" | "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nvme_ccr::{CcrId, Instance, Instant, PathId, ReleaseReason};

    #[test]
    fn the_line_names_the_hold_its_deadline_and_the_ccr() {
        let mut s = HoldState::default();
        let fence = HostEvent::Engine(E::FencingStarted {
            path: PathId(0),
            instance: Instance { cntlid: 1, ciu: 1, cirn: 7 },
            held: 1,
            released_at_once: 0,
            deadline: Instant::from_millis(15_101),
        });
        assert_eq!(
            s.update(&fence).unwrap(),
            "waiting: path 0: 1 command(s) held until t=15101.0 ms unless a CCR proves the reset"
        );
        let sent = HostEvent::Engine(E::CcrSent { path: PathId(0), source: PathId(1), ccr: CcrId(0) });
        assert!(s.update(&sent).unwrap().ends_with("the reset; CCR #0 sent via path 1"));
        assert_eq!(s.update(&HostEvent::Aen { path: 1, dw0: 0 }), None);
        let released = HostEvent::Engine(E::HoldReleased {
            path: PathId(0),
            reason: ReleaseReason::CcrSucceeded { source: PathId(1) },
            after: Duration::from_millis(2010),
            released: 1,
        });
        let line = s.update(&released).unwrap();
        assert!(
            line.starts_with("rw_test running; recovery: path 0: 1 held command(s) released after 2010.0 ms"),
            "{line}"
        );
    }
}
