//! The log of the socket subcommands: a `tracing` subscriber writing to standard error, one line per event with an
//! RFC 3339 UTC timestamp (microseconds), the level, the target and the fields (nvme-tokio emits the events).
//!
//! Level: `-v` debug, `-vv` trace, `-q` warn, `-qq` error, none of them: `RUST_LOG` when it is set, else info.
//! `RUST_LOG` is a list of `LEVEL` or `TARGET=LEVEL` entries separated by commas (tracing-subscriber's `Targets`
//! syntax: no span or field filters), e.g. `RUST_LOG=nvme_tokio::target::log=debug`.

use clap::Args;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The log flags.
#[derive(Args, Clone, Debug, Default)]
pub struct LogArgs {
    /// More log on standard error: -v debug (every media operation), -vv trace.
    #[arg(short, long, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Less log on standard error: -q warnings only, -qq errors only.
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub quiet: u8,
}

impl LogArgs {
    /// The filter these flags and `rust_log` (the value of `RUST_LOG`, if set) select.
    pub fn filter(&self, rust_log: Option<&str>) -> Result<Targets, String> {
        let level = match (self.verbose, self.quiet) {
            (0, 0) => match rust_log.map(str::trim).filter(|s| !s.is_empty()) {
                Some(spec) => return spec.parse::<Targets>().map_err(|e| format!("RUST_LOG={spec:?}: {e}")),
                None => LevelFilter::INFO,
            },
            (1, _) => LevelFilter::DEBUG,
            (_, 0) => LevelFilter::TRACE,
            (_, 1) => LevelFilter::WARN,
            _ => LevelFilter::ERROR,
        };
        Ok(Targets::new().with_default(level))
    }

    /// Installs the subscriber for the process (once; a second call changes nothing). A `RUST_LOG` that does not
    /// parse is an error, for the caller to report.
    pub fn init(&self) -> Result<(), String> {
        let filter = self.filter(std::env::var("RUST_LOG").ok().as_deref())?;
        let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(false);
        let _ = tracing_subscriber::registry().with(filter).with(fmt).try_init();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    fn allows(t: &Targets, target: &str, level: Level) -> bool {
        t.would_enable(target, &level)
    }

    #[test]
    fn flags_choose_the_level_and_override_rust_log() {
        let t = |v, q, env| LogArgs { verbose: v, quiet: q }.filter(env).unwrap();
        let lib = "nvme_tokio::target::log";
        assert!(allows(&t(0, 0, None), lib, Level::INFO) && !allows(&t(0, 0, None), lib, Level::DEBUG));
        assert!(allows(&t(1, 0, None), lib, Level::DEBUG) && !allows(&t(1, 0, None), lib, Level::TRACE));
        assert!(allows(&t(2, 0, None), lib, Level::TRACE));
        assert!(allows(&t(0, 1, None), lib, Level::WARN) && !allows(&t(0, 1, None), lib, Level::INFO));
        assert!(allows(&t(0, 2, None), lib, Level::ERROR) && !allows(&t(0, 2, None), lib, Level::WARN));
        // RUST_LOG counts only without flags.
        let env = Some("warn,nvme_tokio::target::log=debug");
        assert!(allows(&t(0, 0, env), lib, Level::DEBUG));
        assert!(!allows(&t(0, 0, env), "nvme_tokio::target", Level::INFO));
        assert!(!allows(&t(0, 1, env), lib, Level::DEBUG));
        assert!(allows(&t(0, 0, Some("  ")), lib, Level::INFO), "an empty RUST_LOG is no RUST_LOG");
        assert!(LogArgs::default().filter(Some("nvme_tokio=loud")).is_err());
    }
}
