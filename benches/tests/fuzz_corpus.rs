//! Replays the checked-in seed corpora of the `ccr_engine` and `sim_faults` fuzz targets (`fuzz/corpus/<target>/`,
//! every file) through the harnesses the targets run (`fuzz/src/ccr.rs`, `fuzz/src/sim.rs`, included below), on the
//! stable toolchain, as part of `cargo test`. The nvme-proto targets are replayed by
//! `nvme-proto/tests/fuzz_corpus.rs`; these two live here because the nvme-proto tests cannot depend on nvme-ccr
//! and nvme-sim (which depend on nvme-proto).
//!
//! The seeds are arbitrary bytes from a fixed generator ([`seeds`]); the harnesses read them with `arbitrary`, so
//! any bytes are a valid input. `NVME_FUZZ_WRITE_SEEDS=1 cargo test -p benches --test fuzz_corpus` rewrites them.

#[path = "../../fuzz/src/ccr.rs"]
mod ccr;
#[path = "../../fuzz/src/sim.rs"]
mod sim;

#[path = "../../fuzz/src/replay.rs"]
mod replay;

use replay::Harness;

const TARGETS: [(&str, Harness); 2] = [("ccr_engine", ccr::ccr_engine), ("sim_faults", sim::sim_faults)];

#[test]
fn every_corpus_file_replays_through_its_harness() {
    replay::replay_all(env!("CARGO_MANIFEST_DIR"), &TARGETS);
}

#[test]
fn seed_files_match_their_generator() {
    replay::check_or_write_seeds(env!("CARGO_MANIFEST_DIR"), seeds());
}

/// SplitMix64: a fixed, dependency-free byte source for the seeds.
fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed;
    (0..len)
        .map(|_| {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (z ^ (z >> 31)) as u8
        })
        .collect()
}

/// Every seed file: (target, file name, bytes).
fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut s = Vec::new();
    for (i, len) in [64usize, 256, 1024, 4096].into_iter().enumerate() {
        s.push(("ccr_engine", format!("random_{len}"), bytes(0xCC00 + i as u64, len)));
    }
    s.push(("ccr_engine", "zeros_512".to_string(), vec![0u8; 512]));
    for (i, len) in [48usize, 96, 160, 256].into_iter().enumerate() {
        s.push(("sim_faults", format!("random_{len}"), bytes(0x5100 + i as u64, len)));
    }
    s.push(("sim_faults", "zeros_64".to_string(), vec![0u8; 64]));
    s
}
