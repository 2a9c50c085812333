//! `auth_messages`: see `nvme_fuzz::proto::auth_messages`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nvme_fuzz::proto::auth_messages(data));
