//! Load for measuring a target's memory and CPU (BENCHMARKS.md, "Target under hostile load"): a raw NVMe/TCP host
//! that misbehaves the way the controller's bounds are meant to survive, then holds its connections open.
//!
//! ```text
//! cargo run --release -p nvme-lab --example target_load -- --addr 127.0.0.1:4420 never-reads --queues 16 --reads 128
//! cargo run --release -p nvme-lab --example target_load -- --addr 127.0.0.1:4420 write-flood --writes 65537
//! ```
//!
//! * `never-reads`: per I/O queue (SQSIZE 127), `--reads` Reads of `--len` bytes, sent at once; no answer is ever
//!   read. A target without an output bound keeps every answer (queues × reads × len bytes).
//! * `write-flood`: on one I/O queue, `--writes` Writes of `--len` bytes whose data is to come by R2T (SGL 0x5A),
//!   none ever sent. A target without SQSIZE enforcement keeps a transfer per Write (and runs out of transfer tags at
//!   65 536).
//!
//! Controllers are created with KATO 0, so no keep-alive timer ends the load. After sending, the program prints
//! `loaded`, holds the connections for `--hold-secs`, prints what each connection received, and exits.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Parser, Subcommand};
use nvme_proto::cmd::{Connect, ConnectData, Cqe, ReadWrite, SglDescriptor, Sqe};
use nvme_proto::tcp::{CapsuleCmd, CapsuleResp, IcReq, IcResp, Params, Pdu};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HOSTNQN: &str = "nqn.2014-08.org.example:target-load";
/// `nvme-lab target`'s default subsystem NQN (`DEFAULT_NQN` in nvme-lab's src/cli.rs).
const DEFAULT_NQN: &str = "nqn.2026-01.org.example:nvme-tokio";
/// I/O queues per controller (the target's default Number of Queues limit).
const QUEUES_PER_CONTROLLER: u16 = 16;

#[derive(Parser)]
struct Args {
    /// The target.
    #[arg(long, default_value = "127.0.0.1:4420")]
    addr: SocketAddr,
    /// Its subsystem NQN.
    #[arg(long, default_value = DEFAULT_NQN)]
    nqn: String,
    /// How long to hold the connections open after sending, seconds.
    #[arg(long, default_value_t = 10)]
    hold_secs: u64,
    #[command(subcommand)]
    load: Load,
}

#[derive(Subcommand)]
enum Load {
    /// Reads that are never read back.
    NeverReads {
        /// I/O queues (16 per controller).
        #[arg(long, default_value_t = 16)]
        queues: u16,
        /// Reads per queue (at most 128 keeps within SQSIZE).
        #[arg(long, default_value_t = 128)]
        reads: u32,
        /// Bytes per Read (a multiple of 512, at most 1 MiB).
        #[arg(long, default_value_t = 1 << 20)]
        len: u32,
    },
    /// Writes whose data never comes.
    WriteFlood {
        /// Writes on the one I/O queue.
        #[arg(long, default_value_t = 65_537)]
        writes: u32,
        /// Bytes per Write (a multiple of 512, at most 1 MiB).
        #[arg(long, default_value_t = 1 << 20)]
        len: u32,
    },
}

type Res<T> = Result<T, Box<dyn std::error::Error>>;

async fn ic(addr: SocketAddr) -> Res<TcpStream> {
    let mut s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    let mut buf = [0u8; 128];
    IcReq { hpda: 0, header_digest: false, data_digest: false, maxr2t: 0 }.emit(&mut buf)?;
    s.write_all(&buf).await?;
    s.read_exact(&mut buf).await?;
    IcResp::parse(&buf)?;
    Ok(s)
}

fn capsule(sqe: &Sqe, data: &[u8]) -> Vec<u8> {
    let pdu = Pdu::CapsuleCmd(CapsuleCmd { sqe: sqe.to_bytes(), data });
    let p = Params::default();
    let mut v = vec![0u8; pdu.buffer_len(&p)];
    let n = pdu.emit(&p, &mut v).unwrap_or(0);
    v.truncate(n);
    v
}

/// IC and Connect; returns the socket and the CNTLID.
async fn connect(addr: SocketAddr, nqn: &str, connect: Connect, cntlid: u16) -> Res<(TcpStream, u16)> {
    let mut s = ic(addr).await?;
    let mut data = vec![0u8; ConnectData::LEN];
    ConnectData { hostid: [0x10; 16], cntlid, subnqn: nqn, hostnqn: HOSTNQN }.emit(&mut data)?;
    let mut sqe = connect.to_sqe(0);
    sqe.dptr = SglDescriptor::in_capsule(0, data.len() as u32);
    s.write_all(&capsule(&sqe, &data)).await?;
    let mut resp = [0u8; 24];
    s.read_exact(&mut resp).await?;
    let cqe = Cqe::from_bytes(&CapsuleResp::parse(&resp, &Params::default())?.cqe);
    if !cqe.status.is_success() {
        return Err(format!("Connect refused: {cqe:?}").into());
    }
    Ok((s, cqe.dw0 as u16))
}

/// `count` I/O queues (with their admin connections), SQSIZE 127.
async fn queues(addr: SocketAddr, nqn: &str, count: u16) -> Res<(Vec<TcpStream>, Vec<TcpStream>)> {
    let (mut admins, mut ios) = (Vec::new(), Vec::new());
    for q in 0..count {
        let qid = q % QUEUES_PER_CONTROLLER + 1;
        if qid == 1 {
            admins.push(connect(addr, nqn, Connect::admin(0), 0xFFFF).await?);
        }
        let cntlid = admins.last().map_or(0, |a| a.1);
        ios.push(connect(addr, nqn, Connect::io(qid, 127), cntlid).await?.0);
    }
    Ok((admins.into_iter().map(|a| a.0).collect(), ios))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Res<()> {
    let args = Args::parse();
    let (admins, ios, per_queue) = match args.load {
        Load::NeverReads { queues: q, reads, len } => {
            let rw = ReadWrite::new(1, 0, len / 512, 512).ok_or("bad --len")?;
            let (admins, ios) = queues(args.addr, &args.nqn, q).await?;
            let bytes: Vec<u8> = (0..reads).flat_map(|i| capsule(&rw.to_read_sqe(i as u16), &[])).collect();
            (admins, ios, bytes)
        }
        Load::WriteFlood { writes, len } => {
            let rw = ReadWrite::new(1, 0, len / 512, 512).ok_or("bad --len")?;
            let (admins, ios) = queues(args.addr, &args.nqn, 1).await?;
            let bytes: Vec<u8> = (0..writes).flat_map(|i| capsule(&rw.to_write_sqe(i as u16), &[])).collect();
            (admins, ios, bytes)
        }
    };
    // Send on every queue at once. A target that stops reading leaves the rest in the socket (the send does not
    // finish); one that closes the connection fails it. Nothing is ever read.
    let mut keep = Vec::new();
    let mut sends = Vec::new();
    for s in ios {
        let (rd, mut wr) = s.into_split();
        keep.push(rd);
        let bytes = per_queue.clone();
        sends.push(tokio::spawn(async move {
            let ok = wr.write_all(&bytes).await.is_ok();
            (ok, wr)
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (mut whole, mut failed, mut blocked) = (0, 0, 0);
    let mut pending = Vec::new();
    let mut writers = Vec::new();
    for t in sends {
        if !t.is_finished() {
            // Still sending: left running (and holding its socket) until the end.
            blocked += 1;
            pending.push(t);
            continue;
        }
        match t.await {
            Ok((true, wr)) => {
                whole += 1;
                writers.push(wr);
            }
            _ => failed += 1,
        }
    }
    println!(
        "loaded: {} bytes of commands per I/O queue; sent whole on {whole}, cut by a close on {failed}, blocked \
         (the target stopped reading) on {blocked}",
        per_queue.len()
    );
    tokio::time::sleep(Duration::from_secs(args.hold_secs)).await;
    drop((admins, keep, writers, pending));
    println!("done");
    Ok(())
}
