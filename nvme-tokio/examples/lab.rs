//! The three subcommands of `nvme_tokio::cli` as a stand-alone program, for use before (or besides) `nvme-lab`:
//!
//! ```text
//! cargo run --release -p nvme-tokio --example lab -- target --listen 127.0.0.1:4420 --fopcode 1,2000 --cqt 1
//! cargo run --release -p nvme-tokio --example lab -- rw-test --paths 127.0.0.1:4420,127.0.0.1:4420 --policy ccr
//! cargo run --release -p nvme-tokio --example lab -- ccr-check --addr 127.0.0.1:4420
//! ```

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use nvme_tokio::cli::{self, CcrCheckArgs, RwTestArgs, TargetArgs};

#[derive(Parser)]
#[command(name = "lab", about = "nvme-tokio's target, rw-test and ccr-check")]
struct Lab {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve one subsystem (fault switches on standard input).
    Target(TargetArgs),
    /// The seed's rw_test over real sockets.
    RwTest(RwTestArgs),
    /// Probe a target's Cross-Controller Reset support.
    CcrCheck(CcrCheckArgs),
}

fn main() -> ExitCode {
    match Lab::parse().cmd {
        Cmd::Target(a) => cli::target(a),
        Cmd::RwTest(a) => cli::rw_test(a),
        Cmd::CcrCheck(a) => cli::ccr_check(a),
    }
}
