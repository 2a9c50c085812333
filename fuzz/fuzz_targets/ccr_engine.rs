//! `ccr_engine`: see `nvme_fuzz::ccr::ccr_engine`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nvme_fuzz::ccr::ccr_engine(data));
