//! `tcp_pdu_roundtrip`: see `nvme_fuzz::proto::tcp_pdu_roundtrip`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nvme_fuzz::proto::tcp_pdu_roundtrip(data));
