//! Readable traces: each step of a path as a numbered line (who sent what, which fault, what landed), and a run's
//! summary.

use std::fmt::Write as _;

use nvme_fabric::controller::Event as SubEvent;
use nvme_fabric::controller::Subsystem;
use nvme_fabric::host::HostEvent;
use nvme_proto::cmd::{Cqe, Sqe};
use nvme_proto::tcp::{Decoded, Deframer, Params, Pdu, Role};
use stateright::Path;

use crate::{Action, FailoverModel, Fault, Link, Msg, State};

/// The numbered trace of `path`: each step's action and what followed from it.
pub fn describe_path(model: &FailoverModel, path: &Path<State, Action>) -> Vec<String> {
    let mut out = Vec::new();
    let steps = path.clone().into_vec();
    let mut n = 0;
    for (state, action) in steps {
        let Some(action) = action else { continue };
        n += 1;
        let mut log = Vec::new();
        let next = model.step(&state, action, Some(&mut log));
        if let Some(v) = next.host.engine_violation()
            && state.host.engine_violation().is_none()
        {
            log.push(format!("ENGINE INVARIANT BROKEN: {v}"));
        }
        let t = format!("{:>7.3} s", state.now.elapsed().as_secs_f64());
        match log.split_first() {
            Some((first, rest)) => {
                out.push(format!("{n:>3}. [{t}] {first}"));
                out.extend(rest.iter().map(|l| format!("                   {l}")));
            }
            None => out.push(format!("{n:>3}. [{t}] {action:?} (nothing happens)")),
        }
    }
    out
}

/// A fault in words.
pub fn describe_fault(f: &Fault) -> String {
    match f {
        Fault::Fopcode { path, delay, freeze } => format!(
            "fopcode on path {path}'s controller: its next write stays up to {:.1} s in the backend, the controller {}",
            delay.as_secs_f64(),
            if *freeze { "freezes" } else { "fails at once" }
        ),
        Fault::Loss { path } => format!("path {path}'s connections are lost"),
        Fault::Freeze { path } => format!("path {path}'s connections freeze"),
        Fault::FailCcr => "fail-ccr: accepted CCRs end Failed".into(),
        Fault::NoCcr => "no-ccr: CCRs are refused".into(),
        Fault::LoseAen => "the next CCR Completed notice (AEN) is lost".into(),
        Fault::FailLogRead => "the next CCR log read fails".into(),
    }
}

fn opcode_name(admin: bool, opcode: u8) -> String {
    let name = match (admin, opcode) {
        (false, 0x01) => "Write",
        (false, 0x02) => "Read",
        (false, 0x00) => "Flush",
        (true, 0x38) => "Cross-Controller Reset",
        (true, 0x02) => "Get Log Page",
        (true, 0x0C) => "Asynchronous Event Request",
        (true, 0x18) => "Keep Alive",
        (true, 0x06) => "Identify",
        (true, 0x09) => "Set Features",
        (true, 0x7F) => "Fabrics",
        _ => return format!("opcode {opcode:#04x}"),
    };
    name.into()
}

/// The PDUs of one message, decoded for reading.
fn pdus(bytes: &[u8], receiver: Role, admin: bool) -> Vec<String> {
    let mut d = Deframer::established(receiver, Params::default());
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        match d.decode(&bytes[at..]) {
            Ok(Decoded::Pdu { pdu, consumed }) => {
                out.push(match pdu {
                    Pdu::CapsuleCmd(c) => {
                        let sqe = Sqe::from_bytes(&c.sqe);
                        let value = if !admin && sqe.opcode == 0x01 {
                            c.data.first().map(|v| format!(" W{v}")).unwrap_or_default()
                        } else {
                            String::new()
                        };
                        format!("{} cid {}{value}", opcode_name(admin, sqe.opcode), sqe.cid)
                    }
                    Pdu::CapsuleResp(r) => {
                        let cqe = Cqe::from_bytes(&r.cqe);
                        if cqe.status.is_success() {
                            format!("completion cid {} success (DW0 {:#x})", cqe.cid, cqe.dw0)
                        } else {
                            format!("completion cid {} status {:#06x}", cqe.cid, cqe.status.to_word())
                        }
                    }
                    Pdu::C2HData(c) => format!("C2HData cid {} ({} bytes)", c.cccid, c.data.len()),
                    Pdu::H2CData(c) => format!("H2CData cid {} ({} bytes)", c.cccid, c.data.len()),
                    Pdu::R2T(r) => format!("R2T cid {}", r.cccid),
                    Pdu::TermReq(_) => "termination request".into(),
                    Pdu::IcReq(_) => "ICReq".into(),
                    Pdu::IcResp(_) => "ICResp".into(),
                });
                at += consumed;
            }
            _ => {
                out.push(format!("{} undecoded bytes", bytes.len() - at));
                break;
            }
        }
    }
    out
}

/// A delivery in words.
pub(crate) fn describe_delivery(
    link: &Link,
    conn: nvme_fabric::conn::ConnId,
    to_host: bool,
    msg: &Msg,
    sub: &Subsystem,
) -> String {
    let cntlid = sub.conn_controller(link.sub).map_or_else(|| "?".to_string(), |c| c.to_string());
    let queue = if link.queue == 0 { "admin".to_string() } else { format!("I/O queue {}", link.queue) };
    let (from, to) = if to_host {
        (format!("controller {cntlid}"), "host".to_string())
    } else {
        ("host".to_string(), format!("controller {cntlid}"))
    };
    let what = match msg {
        Msg::Close => "connection closed".to_string(),
        Msg::Bytes(b) => {
            let role = if to_host { Role::Host } else { Role::Controller };
            pdus(b, role, link.queue == 0).join(", ")
        }
    };
    format!("{from} -> {to} (path {}, {queue}, {}): {what}", link.path, conn.0)
}

/// A subsystem event worth a line.
pub(crate) fn describe_sub_event(ev: &SubEvent) -> Option<String> {
    Some(match ev {
        SubEvent::ControllerFailed { cntlid, cause, waiting, .. } => {
            format!("target: controller {cntlid} failed ({cause:?}), {waiting} media operation(s) still running")
        }
        SubEvent::TeardownComplete { cntlid } => format!("target: controller {cntlid}'s teardown is complete"),
        SubEvent::FaultFired { cntlid, delay, action, .. } => format!(
            "target: fault fires on controller {cntlid}: the write stays up to {:.1} s in the backend ({action:?})",
            delay.as_secs_f64()
        ),
        SubEvent::CcrReceived { source, icid, .. } => format!("target: CCR for controller {icid} via {source}"),
        SubEvent::CcrAnswered { source, status, dw0 } => {
            format!("target: CCR via {source} answered {:#06x} (DW0 {dw0:#x})", status.to_word())
        }
        SubEvent::CcrNotice { source } => format!("target: CCR Completed notice on controller {source}"),
        _ => return None,
    })
}

/// A host event worth a line.
pub(crate) fn describe_host_event(ev: &HostEvent) -> Option<String> {
    Some(match ev {
        HostEvent::PathFailed { path, failure, was_live } => {
            format!("host: path {path} failed ({failure}){}", if *was_live { ", its commands are held" } else { "" })
        }
        HostEvent::PathGone { path } => format!("host: path {path} given up"),
        HostEvent::Engine(e) => format!("host engine: {e:?}"),
        _ => return None,
    })
}

/// A run's report as text: sizes, time and a verdict per property; for a violation the word `counterexample` and its
/// numbered trace.
pub fn summarize(r: &crate::Report) -> String {
    let mut s = String::new();
    let setup = &r.setup;
    let _ = writeln!(
        s,
        "policy {}{}: paths {}, writes {}{}, depth {}, faults {}{}{}: {} states explored, {} unique, depth {}, {:.1} s{}",
        setup.policy,
        if setup.noncompliant { " (noncompliant target)" } else { "" },
        setup.paths,
        setup.writes,
        if setup.blocks > 1 { format!(" to {} blocks", setup.blocks) } else { String::new() },
        setup.depth,
        setup.faults,
        if setup.kato > 0 { format!(", KATO {} s", setup.kato) } else { String::new() },
        if setup.reconnect { ", reconnect" } else { "" },
        r.states,
        r.unique,
        r.max_depth,
        r.elapsed.as_secs_f64(),
        if r.complete { ", complete" } else { ", stopped at the first counterexample" }
    );
    for (name, verdict) in &r.verdicts {
        let _ = writeln!(s, "  {name}: {verdict}");
    }
    if let Some(c) = &r.counterexample {
        let _ = writeln!(s, "counterexample to \"{}\" ({} steps):", c.property, c.actions.len());
        for l in &c.trace {
            let _ = writeln!(s, "  {l}");
        }
    }
    s
}
