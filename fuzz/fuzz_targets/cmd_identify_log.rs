//! `cmd_identify_log`: see `nvme_fuzz::proto::cmd_identify_log`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nvme_fuzz::proto::cmd_identify_log(data));
