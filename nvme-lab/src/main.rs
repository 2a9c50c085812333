//! `nvme-lab`: the command-line lab of the NVMe/TCP failover reference.
//!
//! * `matrix`: every recovery policy against every workload and fault, simulated; a table (or JSON lines) of
//!   corruption, completed commands, I/O stall and detection-to-release time.
//! * `run`: one simulated scenario with its timeline; optional SVG latency plot and pcap of the simulated wire.
//! * `explore`: random fault schedules over many seeds, in parallel, looking for corruption.
//! * `decode`: NVMe/TCP bytes (hex or pcap) to one JSON line per PDU, through nvme-proto's deframer.
//!
//! Exit status: 0 success; 1 a finding (a matrix expectation failed, explore found forbidden corruption, decode met
//! an undecodable PDU, a bad digest or a truncated stream); 2 bad arguments or unreadable input.

mod decode;
mod hex;
mod json;

use std::io::{self, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Exit status for a finding (see the crate documentation).
const EXIT_FINDING: u8 = 1;
/// Exit status for bad arguments or unreadable input (clap uses 2 for argument errors too).
const EXIT_USAGE: u8 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "nvme-lab",
    version,
    about = "NVMe/TCP failover lab: simulate recovery policies, explore fault schedules, decode NVMe/TCP traffic",
    long_about = "NVMe/TCP failover lab.\n\n\
        Simulates the Linux failover test (two paths, round-robin multipath, the target delays a write and fails its \
        controller, rw_test checks the block) for each host recovery policy: legacy (retry at once), cqt (hold for \
        (TBKAS ? 3 : 2) x KATO + CQT), ccr (Cross-Controller Reset, then the timer) and ccr-filter (as ccr, reads \
        released at once). Also decodes NVMe/TCP captures.\n\n\
        Exit status: 0 success; 1 a finding (matrix expectation failed, explore found corruption where it is \
        forbidden, decode met a bad PDU, digest or truncated stream); 2 bad arguments or unreadable input.",
    after_help = "Start with: nvme-lab matrix"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Decode NVMe/TCP PDUs from hex text or a pcap into JSON lines.
    #[command(long_about = DECODE_HELP)]
    Decode(DecodeArgs),
}

const DECODE_HELP: &str = "Decode NVMe/TCP PDUs into one JSON object per line.\n\n\
    Input: --hex HEX, --pcap FILE (classic pcap, link type raw IP or Ethernet, IPv4/TCP; '-' reads the pcap from \
    stdin), or, with neither, hex text on stdin. Hex text is groups of hex digits separated by spaces, commas, \
    colons or newlines, each group optionally prefixed by 0x (\"05 01 18\", \"050118\", \"0x05,0x01\").\n\n\
    Hex input is one byte stream that may hold PDUs of both directions: each PDU's direction comes from its type \
    (even types are host to controller). A pcap is reassembled per TCP connection and direction; PDUs are printed in \
    the order of the frames that complete them. Commands are tracked by CID per connection, so CQEs and data decode \
    in context (CCR result IRS/V/CLRI, AER events, Connect CNTLID, Identify Controller fields CQT/CIU/CIRN/CCRL/KAS/\
    TBKAS, CCR log entries).\n\n\
    Each line has: type, hlen, pdo, plen, flags, hdgst and ddgst (\"good\", \"bad\" or \"absent\"), dir (h2c/c2h), \
    offset (byte offset in its stream), and for pcaps frame, time (s since the first frame), conn, src, dst; then \
    the PDU's fields by name (cmd for an SQE, cqe for a CQE, cccid/datao/datal for data PDUs, ...).\n\n\
    A PDU that fails validation gives {\"error\": ..., \"fes\": N, \"fei\": N, \"offset\": N}, FES and FEI as a \
    termination request would carry them (null when none would be sent), and ends its stream (the framing can no \
    longer be trusted). A bad data digest is not fatal: the PDU is printed with \"ddgst\": \"bad\" and decoding goes \
    on. A stream cut inside a PDU gives {\"error\": \"truncated: need N more bytes\"}. The exit status is 1 if any \
    of these occurred.";

#[derive(Args, Debug)]
struct DecodeArgs {
    /// PDU bytes as hex text.
    #[arg(long, conflicts_with = "pcap", value_name = "HEX")]
    hex: Option<String>,
    /// A classic pcap file ('-' for stdin).
    #[arg(long, value_name = "FILE")]
    pcap: Option<PathBuf>,
    /// Digest expectations. auto: as negotiated by the connection's ICReq/ICResp when present, else as each PDU's
    /// HDGSTF/DDGSTF flags announce. on: both digests required. off: no digests allowed.
    #[arg(long, value_enum, default_value_t = DigestArg::Auto)]
    digests: DigestArg,
    /// Opcode space for SQEs. auto: from the connection's Fabrics Connect (QID 0 admin, else I/O), admin before
    /// any Connect is seen (opcode 0x02 is Get Log Page on admin queues, Read on I/O queues).
    #[arg(long, value_enum, default_value_t = QueueArg::Auto)]
    queue: QueueArg,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum DigestArg {
    Auto,
    On,
    Off,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum QueueArg {
    Auto,
    Admin,
    Io,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Cmd::Decode(args) => run_decode(args),
    }
}

/// Prints `msg` on stderr and returns the usage exit status.
fn usage_error(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("nvme-lab: {msg}");
    ExitCode::from(EXIT_USAGE)
}

fn run_decode(args: DecodeArgs) -> ExitCode {
    let opts = decode::Options {
        digests: match args.digests {
            DigestArg::Auto => decode::DigestMode::Auto,
            DigestArg::On => decode::DigestMode::On,
            DigestArg::Off => decode::DigestMode::Off,
        },
        queue: match args.queue {
            QueueArg::Auto => decode::QueueMode::Auto,
            QueueArg::Admin => decode::QueueMode::Admin,
            QueueArg::Io => decode::QueueMode::Io,
        },
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let result = if let Some(path) = &args.pcap {
        let read = if path.as_os_str() == "-" {
            nvme_proto::capture::PcapTcpReader::read(io::stdin().lock())
        } else {
            match std::fs::File::open(path) {
                Ok(f) => nvme_proto::capture::PcapTcpReader::read(io::BufReader::new(f)),
                Err(e) => return usage_error(format!("cannot open {}: {e}", path.display())),
            }
        };
        let capture = match read {
            Ok(c) => c,
            Err(e) => return usage_error(format!("{}: {e}", path.display())),
        };
        if capture.skipped_frames() > 0 {
            eprintln!(
                "nvme-lab: {} of {} frames are not IPv4/TCP (or not usable) and were skipped",
                capture.skipped_frames(),
                capture.frames()
            );
        }
        decode::decode_pcap(&capture, opts, &mut out)
    } else {
        let text = match &args.hex {
            Some(h) => h.clone(),
            None => {
                if io::stdin().is_terminal() {
                    eprintln!("nvme-lab: reading hex from stdin (end with Ctrl-D); see --help for --hex and --pcap");
                }
                let mut s = String::new();
                if let Err(e) = io::stdin().lock().read_to_string(&mut s) {
                    return usage_error(format!("cannot read stdin as text: {e}"));
                }
                s
            }
        };
        let bytes = match hex::parse_hex(&text) {
            Ok(b) => b,
            Err(e) => return usage_error(e),
        };
        decode::decode_hex(&bytes, opts, &mut out)
    };
    let summary = match result.and_then(|s| out.flush().map(|()| s)) {
        Ok(s) => s,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return ExitCode::SUCCESS,
        Err(e) => return usage_error(format!("cannot write the output: {e}")),
    };
    if summary.errors > 0 {
        eprintln!("nvme-lab: {} PDUs decoded, {} errors", summary.pdus, summary.errors);
        ExitCode::from(EXIT_FINDING)
    } else {
        ExitCode::SUCCESS
    }
}
