//! `tcp_deframer`: see `nvme_fuzz::proto::tcp_deframer`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nvme_fuzz::proto::tcp_deframer(data));
