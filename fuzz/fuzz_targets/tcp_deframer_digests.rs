//! `tcp_deframer_digests`: see `nvme_fuzz::proto::tcp_deframer_digests`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nvme_fuzz::proto::tcp_deframer_digests(data));
