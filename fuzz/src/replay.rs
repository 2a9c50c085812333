//! The corpus plumbing both stable replay tests share (`nvme-proto/tests/fuzz_corpus.rs`,
//! `benches/tests/fuzz_corpus.rs` include this file with `#[path]`): where a target's corpus is, replaying every file
//! through its harness, and checking (or, with `NVME_FUZZ_WRITE_SEEDS=1`, rewriting) the seed files against their
//! generator. Not used by the fuzz targets themselves.

use std::path::{Path, PathBuf};

/// A harness: runs one input.
pub type Harness = fn(&[u8]);

/// The corpus directory of `target` (`fuzz/corpus/<target>`), from a workspace crate's manifest directory.
pub fn corpus_dir(manifest_dir: &str, target: &str) -> PathBuf {
    Path::new(manifest_dir).join("../fuzz/corpus").join(target)
}

/// Every file of `target`'s corpus, sorted.
pub fn corpus_files(manifest_dir: &str, target: &str) -> Vec<PathBuf> {
    let dir = corpus_dir(manifest_dir, target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs every corpus file of every target through its harness; each target must have at least four seeds.
pub fn replay_all(manifest_dir: &str, targets: &[(&str, Harness)]) {
    for &(target, run) in targets {
        let files = corpus_files(manifest_dir, target);
        assert!(files.len() >= 4, "{target}: only {} seed files", files.len());
        for file in files {
            eprintln!("{target}: {}", file.display());
            run(&std::fs::read(&file).expect("readable seed"));
        }
    }
}

/// Checks that every seed file holds what its generator builds (`seeds`: target, file name, bytes); with
/// `NVME_FUZZ_WRITE_SEEDS` set, writes them instead.
pub fn check_or_write_seeds<N: AsRef<Path>>(manifest_dir: &str, seeds: Vec<(&str, N, Vec<u8>)>) {
    let write = std::env::var_os("NVME_FUZZ_WRITE_SEEDS").is_some();
    for (target, name, bytes) in seeds {
        let dir = corpus_dir(manifest_dir, target);
        let path = dir.join(name);
        if write {
            std::fs::create_dir_all(&dir).expect("corpus directory");
            std::fs::write(&path, &bytes).expect("seed written");
        } else {
            let on_disk = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(
                on_disk == bytes,
                "{} differs from its generator (NVME_FUZZ_WRITE_SEEDS=1 rewrites it)",
                path.display()
            );
        }
    }
}
