//! Property tests: `parse(emit(x)) == x` for every PDU type under random parameters (digests, PDAs); the deframer
//! gives the same PDUs for every split of a stream (1-byte chunks included); every single-bit flip in digest-covered
//! bytes is detected while flips in PAD are accepted unchanged; arbitrary or mutated bytes never panic.

use nvme_proto::tcp::*;
use proptest::collection::vec;
use proptest::prelude::*;

/// A PDU that owns its bytes, so strategies can produce it and decoded PDUs can outlive their buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Owned {
    IcReq(IcReq),
    IcResp(IcResp),
    Term { sender: Role, fes: u16, fei: u32, data: Vec<u8> },
    Cmd { sqe: Vec<u8>, data: Vec<u8> },
    Resp { cqe: [u8; 16] },
    H2C { cccid: u16, ttag: u16, datao: u32, data: Vec<u8>, last: bool },
    C2H { cccid: u16, datao: u32, data: Vec<u8>, last: bool, success: bool },
    R2T(R2T),
}

impl Owned {
    fn pdu(&self) -> Pdu<'_> {
        match self {
            Owned::IcReq(r) => Pdu::IcReq(*r),
            Owned::IcResp(r) => Pdu::IcResp(*r),
            Owned::Term { sender, fes, fei, data } => {
                Pdu::TermReq(TermReq { sender: *sender, fes: Fes(*fes), fei: *fei, data })
            }
            Owned::Cmd { sqe, data } => Pdu::CapsuleCmd(CapsuleCmd { sqe: sqe.as_slice().try_into().unwrap(), data }),
            Owned::Resp { cqe } => Pdu::CapsuleResp(CapsuleResp { cqe: *cqe }),
            Owned::H2C { cccid, ttag, datao, data, last } => {
                Pdu::H2CData(H2CData { cccid: *cccid, ttag: *ttag, datao: *datao, data, last: *last })
            }
            Owned::C2H { cccid, datao, data, last, success } => {
                Pdu::C2HData(C2HData { cccid: *cccid, datao: *datao, data, last: *last, success: *success })
            }
            Owned::R2T(r) => Pdu::R2T(*r),
        }
    }

    fn from_pdu(p: &Pdu<'_>) -> Owned {
        match p {
            Pdu::IcReq(r) => Owned::IcReq(*r),
            Pdu::IcResp(r) => Owned::IcResp(*r),
            Pdu::TermReq(t) => Owned::Term { sender: t.sender, fes: t.fes.0, fei: t.fei, data: t.data.to_vec() },
            Pdu::CapsuleCmd(c) => Owned::Cmd { sqe: c.sqe.to_vec(), data: c.data.to_vec() },
            Pdu::CapsuleResp(c) => Owned::Resp { cqe: c.cqe },
            Pdu::H2CData(d) => {
                Owned::H2C { cccid: d.cccid, ttag: d.ttag, datao: d.datao, data: d.data.to_vec(), last: d.last }
            }
            Pdu::C2HData(d) => {
                Owned::C2H { cccid: d.cccid, datao: d.datao, data: d.data.to_vec(), last: d.last, success: d.success }
            }
            Pdu::R2T(r) => Owned::R2T(*r),
        }
    }

    fn receiver(&self) -> Role {
        self.pdu().pdu_type().sender().peer()
    }

    fn encode(&self, params: &Params) -> Vec<u8> {
        let pdu = self.pdu();
        let mut buf = vec![0; pdu.buffer_len(params)];
        assert_eq!(pdu.emit(params, &mut buf), Ok(buf.len()));
        buf
    }
}

fn params() -> impl Strategy<Value = Params> {
    (any::<bool>(), any::<bool>(), 0..=MAX_PDA, 0..=MAX_PDA, any::<u32>(), 1024u32..=0x3FFF_FFFF).prop_map(
        |(header_digest, data_digest, hpda, cpda, maxr2t, m)| Params {
            header_digest,
            data_digest,
            hpda,
            cpda,
            maxr2t,
            maxh2cdata: m * 4,
        },
    )
}

fn data(min: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), min..200)
}

fn offset() -> impl Strategy<Value = u32> {
    prop_oneof![Just(0u32), 0..u32::MAX / 2]
}

fn to_host() -> impl Strategy<Value = Owned> {
    prop_oneof![
        any::<[u8; 16]>().prop_map(|cqe| Owned::Resp { cqe }),
        (any::<u16>(), offset(), data(1), any::<bool>(), any::<bool>())
            .prop_map(|(cccid, datao, data, last, s)| { Owned::C2H { cccid, datao, data, last, success: s && last } }),
        (any::<u16>(), any::<u16>(), offset(), 1..u32::MAX / 2).prop_map(|(cccid, ttag, r2to, r2tl)| Owned::R2T(R2T {
            cccid,
            ttag,
            r2to,
            r2tl
        })),
    ]
}

fn to_controller() -> impl Strategy<Value = Owned> {
    prop_oneof![
        (vec(any::<u8>(), 64), data(0)).prop_map(|(sqe, data)| Owned::Cmd { sqe, data }),
        (any::<u16>(), any::<u16>(), offset(), data(1), any::<bool>())
            .prop_map(|(cccid, ttag, datao, data, last)| Owned::H2C { cccid, ttag, datao, data, last }),
    ]
}

fn term() -> impl Strategy<Value = Owned> {
    (prop_oneof![Just(Role::Host), Just(Role::Controller)], any::<u16>(), any::<u32>(), vec(any::<u8>(), 0..=128))
        .prop_map(|(sender, fes, fei, data)| Owned::Term { sender, fes, fei, data })
}

fn ic() -> impl Strategy<Value = Owned> {
    prop_oneof![
        (0..=MAX_PDA, any::<bool>(), any::<bool>(), any::<u32>())
            .prop_map(|(hpda, h, d, maxr2t)| Owned::IcReq(IcReq { hpda, header_digest: h, data_digest: d, maxr2t })),
        (0..=MAX_PDA, any::<bool>(), any::<bool>(), 1024u32..=0x3FFF_FFFF).prop_map(|(cpda, h, d, m)| Owned::IcResp(
            IcResp { cpda, header_digest: h, data_digest: d, maxh2cdata: m * 4 }
        )),
    ]
}

fn any_pdu() -> impl Strategy<Value = Owned> {
    prop_oneof![to_host(), to_controller(), term(), ic()]
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![Just(Role::Host), Just(Role::Controller)]
}

/// A receiver, its connection parameters and the stream it receives: its IC PDU, established PDUs, optionally a
/// closing TermReq.
fn stream() -> impl Strategy<Value = (Role, Params, Vec<Owned>)> {
    (role(), params(), any::<bool>()).prop_flat_map(|(receiver, params, closing)| {
        let body = match receiver {
            Role::Host => vec(to_host(), 1..8).boxed(),
            Role::Controller => vec(to_controller(), 1..8).boxed(),
        };
        (Just(receiver), Just(params), body).prop_map(move |(receiver, params, mut pdus)| {
            let first = match receiver {
                Role::Host => Owned::IcResp(params.ic_resp()),
                Role::Controller => Owned::IcReq(params.ic_req()),
            };
            pdus.insert(0, first);
            if closing {
                pdus.push(Owned::Term { sender: receiver.peer(), fes: 1, fei: 4, data: vec![0xAB; 24] });
            }
            (receiver, params, pdus)
        })
    })
}

/// Feeds `wire` to a fresh deframer in chunks of the given sizes (cycled) and returns the PDUs it yields, checking
/// the `Need` contract on the way.
fn deframe(receiver: Role, params: Params, wire: &[u8], lens: &[usize], chunks: &[usize]) -> Vec<Owned> {
    let mut d = Deframer::new(receiver);
    let mut buf: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    let mut at = 0;
    let mut sizes = chunks.iter().cycle();
    while at < wire.len() {
        let n = (*sizes.next().unwrap()).clamp(1, wire.len() - at);
        buf.extend_from_slice(&wire[at..at + n]);
        at += n;
        loop {
            match d.decode(&buf) {
                Ok(Decoded::Need(need)) => {
                    let current = lens[out.len()];
                    assert!(need > 0 && buf.len() + need <= current, "Need({need}) with {} of {current}", buf.len());
                    break;
                }
                Ok(Decoded::Pdu { pdu, consumed }) => {
                    assert_eq!(consumed, lens[out.len()]);
                    let was_ic = matches!(pdu, Pdu::IcReq(_) | Pdu::IcResp(_));
                    out.push(Owned::from_pdu(&pdu));
                    buf.drain(..consumed);
                    if was_ic {
                        d.set_params(params);
                    }
                    if buf.is_empty() {
                        break;
                    }
                }
                Err(e) => panic!("valid stream rejected: {e:?}"),
            }
        }
    }
    assert!(buf.is_empty());
    out
}

/// Runs the deframer over arbitrary bytes the way a driver would; must never panic or loop.
fn drive(mut d: Deframer, mut buf: &[u8]) {
    for _ in 0..64 {
        match d.decode(buf) {
            Ok(Decoded::Need(n)) => {
                assert!(n > 0);
                return;
            }
            Ok(Decoded::Pdu { consumed, .. }) => {
                assert!(consumed >= 24 && consumed <= buf.len());
                buf = &buf[consumed..];
            }
            Err(e) => {
                let _ = d.term_req(&e, buf);
                if let Some(n) = e.consumed() {
                    assert!(n <= buf.len());
                    buf = &buf[n..];
                } else {
                    assert!(e.is_fatal());
                    assert_eq!(d.decode(buf), Err(PduError::Closed));
                    return;
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn parse_of_emit_is_identity(params in params(), x in any_pdu()) {
        let wire = x.encode(&params);
        let receiver = x.receiver();
        let pdu = Pdu::parse(&wire, &params, receiver).unwrap();
        prop_assert_eq!(Owned::from_pdu(&pdu), x.clone());
        let mut d = if x.pdu().pdu_type().is_ic() {
            Deframer::new(receiver)
        } else {
            Deframer::established(receiver, params)
        };
        prop_assert_eq!(d.decode(&wire), Ok(Decoded::Pdu { pdu, consumed: wire.len() }));
        // One byte short: the error says how many bytes are needed.
        let mut short = vec![0; wire.len() - 1];
        prop_assert_eq!(x.pdu().emit(&params, &mut short), Err(EmitError::BufferTooShort { needed: wire.len() }));
        // Digest flags follow the parameters; PAD (if any) is zeros.
        let flags = wire[1];
        let pdo = usize::from(wire[3]);
        let digestable = !matches!(x, Owned::IcReq(_) | Owned::IcResp(_) | Owned::Term { .. });
        prop_assert_eq!(flags & 1 != 0, digestable && params.header_digest);
        prop_assert_eq!(flags & 2 != 0, params.data_digest && pdo != 0);
        if pdo != 0 {
            let header_end = usize::from(wire[2]) + if flags & 1 != 0 { 4 } else { 0 };
            prop_assert!(wire[header_end..pdo].iter().all(|&b| b == 0));
            prop_assert_eq!(pdo % params.pda_bytes(receiver), 0);
        }
    }

    #[test]
    fn every_split_of_a_stream_gives_the_same_pdus(
        (receiver, params, pdus) in stream(),
        chunks in vec(1usize..80, 1..16),
    ) {
        let encoded: Vec<Vec<u8>> = pdus.iter().map(|p| p.encode(&params)).collect();
        let lens: Vec<usize> = encoded.iter().map(Vec::len).collect();
        let wire = encoded.concat();
        prop_assert_eq!(&deframe(receiver, params, &wire, &lens, &chunks), &pdus);
        prop_assert_eq!(&deframe(receiver, params, &wire, &lens, &[1]), &pdus);
        prop_assert_eq!(&deframe(receiver, params, &wire, &lens, &[wire.len()]), &pdus);
    }

    #[test]
    fn every_bit_flip_under_a_digest_is_detected(
        x in prop_oneof![to_host(), to_controller()],
        hpda in 0..=MAX_PDA,
        cpda in 0..=MAX_PDA,
    ) {
        let params = Params { header_digest: true, data_digest: true, hpda, cpda, ..Params::default() };
        let receiver = x.receiver();
        let wire = x.encode(&params);
        let (hlen, pdo) = (usize::from(wire[2]), usize::from(wire[3]));
        let header_end = hlen + 4;
        for byte in 0..wire.len() {
            for bit in 0..8 {
                let mut w = wire.clone();
                w[byte] ^= 1 << bit;
                let got = Deframer::established(receiver, params).decode(&w);
                if byte < header_end {
                    // Header or HDGST: some fatal error (a header digest error unless an earlier check fires).
                    let err = got.expect_err("header flip accepted");
                    prop_assert!(err.is_fatal(), "byte {} bit {}: {:?}", byte, bit, err);
                } else if pdo != 0 && byte >= pdo {
                    // Data or DDGST: the command fails, the stream survives.
                    let err = got.expect_err("data flip accepted");
                    prop_assert!(matches!(err, PduError::DataDigest(_)), "byte {} bit {}: {:?}", byte, bit, err);
                    prop_assert_eq!(err.consumed(), Some(wire.len()));
                } else {
                    // PAD: no digest covers it; accepted unchanged.
                    prop_assert!(pdo != 0 && byte >= header_end && byte < pdo);
                    prop_assert_eq!(got, Ok(Decoded::Pdu { pdu: x.pdu(), consumed: wire.len() }));
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in vec(any::<u8>(), 0..400),
        receiver in role(),
        params in params(),
        fresh in any::<bool>(),
        max_plen in prop_oneof![Just(DEFAULT_MAX_PLEN), 0u32..1024],
    ) {
        let d = if fresh { Deframer::new(receiver) } else { Deframer::established(receiver, params) };
        drive(d.with_max_plen(max_plen), &bytes);
        let _ = Pdu::parse(&bytes, &params, receiver);
        let _ = IcReq::parse(&bytes);
        let _ = IcResp::parse(&bytes);
        let _ = TermReq::parse(&bytes);
        let _ = CapsuleCmd::parse(&bytes, &params);
        let _ = CapsuleResp::parse(&bytes, &params);
        let _ = H2CData::parse(&bytes, &params);
        let _ = C2HData::parse(&bytes, &params);
        let _ = R2T::parse(&bytes, &params);
    }

    #[test]
    fn mutated_streams_never_panic(
        (receiver, params, pdus) in stream(),
        edits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut wire: Vec<u8> = pdus.iter().flat_map(|p| p.encode(&params)).collect();
        for (at, v) in edits {
            let i = at.index(wire.len());
            wire[i] = v;
        }
        // Established with the stream's params, skipping the IC PDU, so the mutations reach deep checks.
        let ic_len = pdus[0].encode(&params).len();
        drive(Deframer::established(receiver, params), &wire[ic_len..]);
        drive(Deframer::new(receiver), &wire);
    }
}
