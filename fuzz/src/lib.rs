//! Fuzz harnesses for the NVMe/TCP recovery workspace, one public function per cargo-fuzz target.
//!
//! Each module is a plain Rust file that the stable replay tests of the workspace also include with `#[path]`
//! (so the seed corpora run under `cargo test` without libFuzzer): [`proto`] by `nvme-proto/tests/fuzz_corpus.rs`,
//! [`ccr`] and [`sim`] by `benches/tests/fuzz_corpus.rs`, [`fabric`] by `nvme-fabric/tests/fuzz_corpus.rs`, [`auth`] by
//! `nvme-fabric/tests/auth_fuzz_corpus.rs`. The
//! replays share `replay.rs` (corpus paths, replay loop, seed-file check), which only they include. See
//! `fuzz/README.md`.

pub mod auth;
pub mod ccr;
pub mod fabric;
pub mod proto;
pub mod sim;
