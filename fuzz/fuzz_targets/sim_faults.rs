//! `sim_faults`: see `nvme_fuzz::sim::sim_faults`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nvme_fuzz::sim::sim_faults(data));
