//! `cmd_queue_entries`: see `nvme_fuzz::proto::cmd_queue_entries`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nvme_fuzz::proto::cmd_queue_entries(data));
