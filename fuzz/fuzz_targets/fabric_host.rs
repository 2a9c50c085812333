//! `fabric_host`: see `nvme_fuzz::fabric::fabric_host`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nvme_fuzz::fabric::fabric_host(data));
