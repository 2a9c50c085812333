//! `fabric_controller`: see `nvme_fuzz::fabric::fabric_controller`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nvme_fuzz::fabric::fabric_controller(data));
