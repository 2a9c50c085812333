//! `auth_exchange`: see `nvme_fuzz::auth::auth_exchange`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nvme_fuzz::auth::auth_exchange(data));
