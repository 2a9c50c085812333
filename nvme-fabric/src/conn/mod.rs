//! One NVMe/TCP queue pair's transport, shared by both roles: the receive side (a bounded buffer in front of
//! nvme-proto's [`Deframer`](nvme_proto::tcp::Deframer)) and the transmit side (a queue of PDUs encoded straight into
//! the caller's buffer). The role layers ([`crate::controller`] and [`crate::host`]) add what a queue pair means to
//! each end: command slots, R2T and H2CData, C2HData reassembly.
//!
//! Facts: [`nvme_proto::notes::tcp`] §6 (IC exchange), §7 (termination requests), §8 (data transfer), §9 (receive
//! checks).

mod rx;
mod tx;

pub(crate) use rx::{Receiver, RxStep};
pub(crate) use tx::{SmallPdu, Transmitter, TxItem};

use core::fmt;

use nvme_proto::tcp::{DIGEST_LEN, Fes, PduError};

/// The runtime's name for one TCP connection of a [`Subsystem`](crate::controller::Subsystem) or a
/// [`Host`](crate::host::Host). Never reused within one of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn {}", self.0)
    }
}

/// The most bytes any PDU we send takes beyond its data: the 72-byte CapsuleCmd header, a header digest, PAD up to
/// a PDO of at most 255 (PDA up to 128 bytes) and a data digest.
pub const PDU_OVERHEAD: usize = 256 + DIGEST_LEN;

/// Why a connection ended (or is ending). Small and `Copy`: it names the cause a runtime logs and a host reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CloseCause {
    /// The peer closed the TCP connection or it failed (reported by the runtime with `handle_closed`).
    PeerClosed,
    /// The peer sent a termination request with this FES and FEI.
    TermReceived {
        /// Fatal Error Status received.
        fes: Fes,
        /// Fatal Error Information received.
        fei: u32,
    },
    /// The peer broke the transport protocol; we sent a termination request with this FES and FEI (or none, when
    /// `fes` is `None`: a TermReq of impossible length, which is closed on without an answer).
    ProtocolError {
        /// FES we sent.
        fes: Option<Fes>,
        /// FEI we sent.
        fei: u32,
    },
    /// The peer sent more commands than the queue's SQSIZE allows; we sent FES 0x02 (PDU Sequence Error) and
    /// closed, as Linux nvmet closes a queue that runs out of command slots.
    QueueOverflow,
    /// No ICReq (controller) or ICResp (host) arrived in time.
    IcTimeout,
    /// No Fabrics Connect completed in time after the IC exchange.
    ConnectTimeout,
    /// The controller this connection belongs to failed (fault, CCR, keep-alive expiry, loss of its admin queue).
    ControllerFailed,
    /// (Controller) the queue's in-band authentication failed this way; its last answer (the AUTH_Failure1, when
    /// this side refused) is still sent.
    AuthenticationFailed(crate::auth::AuthFailure),
    /// Our side closed it on purpose (shutdown, disconnect, a host tearing an association down).
    Local,
}

impl CloseCause {
    /// The cause of a fatal receive error: the FES and FEI of the TermReq we send for it.
    pub(crate) fn protocol(err: &PduError) -> Self {
        CloseCause::ProtocolError { fes: err.fes(), fei: err.fei() }
    }
}

impl fmt::Display for CloseCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseCause::PeerClosed => f.write_str("closed by the peer"),
            CloseCause::TermReceived { fes, fei } => write!(f, "termination request received: {fes}, FEI {fei:#x}"),
            CloseCause::ProtocolError { fes: Some(fes), fei } => {
                write!(f, "peer broke the protocol: sent {fes}, FEI {fei:#x}")
            }
            CloseCause::ProtocolError { fes: None, .. } => {
                f.write_str("peer broke the protocol (closed without reply)")
            }
            CloseCause::QueueOverflow => f.write_str("peer exceeded the queue's SQSIZE"),
            CloseCause::IcTimeout => f.write_str("IC exchange timed out"),
            CloseCause::ConnectTimeout => f.write_str("Fabrics Connect timed out"),
            CloseCause::ControllerFailed => f.write_str("its controller failed"),
            CloseCause::AuthenticationFailed(a) => write!(f, "authentication failed: {a}"),
            CloseCause::Local => f.write_str("closed locally"),
        }
    }
}

/// What one connection holds now, from the model's own accounting ([`Subsystem::conn_usage`] and
/// [`Host::conn_usage`]): the figures the bounds documented on [`Subsystem`] are about.
///
/// [`Subsystem::conn_usage`]: crate::controller::Subsystem::conn_usage
/// [`Host::conn_usage`]: crate::host::Host::conn_usage
/// [`Subsystem`]: crate::controller::Subsystem
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ConnUsage {
    /// The transmit queue: the bytes still to send and the queue's own bookkeeping, as backpressure counts it.
    pub output: usize,
    /// Controller: reads the media is filling, each counted as what it will hold once queued (data, PDU headers,
    /// bookkeeping). Host: the read buffers of its outstanding commands.
    pub reads: usize,
    /// Controller: write buffers receiving data or waiting for the media. Host: the write data of its outstanding
    /// commands (shared with the caller).
    pub writes: usize,
    /// The receive buffer's allocation (it holds at most one partial PDU), bytes.
    pub receive: usize,
    /// Commands outstanding.
    pub commands: usize,
    /// Controller: idle data buffers kept for reuse, bytes of capacity (at most queue depth buffers of the largest
    /// transfer, and `output_limit` bytes). Host: 0 (the caller lends read buffers).
    pub pool: usize,
}

/// What the runtime is asked to do with a connection (pulled with `poll_conn_event` on the endpoint).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnEvent {
    /// The connection has bytes to send: call `poll_transmit` for it. Raised once per change from "nothing to send"
    /// to "something to send"; polling until it returns 0 re-arms it.
    Transmit(ConnId),
    /// Close the TCP connection once everything `poll_transmit` gives has been written (a TermReq is always last).
    /// The endpoint has forgotten the connection's protocol state; it still hands out the remaining bytes.
    Close(ConnId, CloseCause),
    /// The connection stopped taking input (its unsent output is over the configured bound) and now takes it again:
    /// call `handle_input` with the bytes it left unconsumed.
    Resume(ConnId),
    /// A fault froze the path: from now on deliver nothing on this connection in either direction, and do not close
    /// it (the peer only notices by its timers).
    Freeze(ConnId),
}

/// A `poll_transmit` buffer was too short for the next PDU: give one of at least `needed` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BufferTooShort {
    /// The length of the next PDU.
    pub needed: usize,
}

impl fmt::Display for BufferTooShort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "transmit buffer too short: the next PDU needs {} bytes", self.needed)
    }
}

impl core::error::Error for BufferTooShort {}
