//! Replays the fuzz inputs through the same checks as the cargo-fuzz targets (issue 6, part 4),
//! on stable and without cargo-fuzz: the seed corpora (`fuzz/seeds/`) and every crashing input
//! kept after its fix (`fuzz/regressions/`), for `frame_decode` and `request_roundtrip`.

#[allow(dead_code, missing_docs)]
#[path = "../../fuzz/src/checks.rs"]
mod checks;

use std::fs;
use std::path::{Path, PathBuf};

/// The input files of one target under `fuzz/<kind>/<target>/` (README files excluded).
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz")
        .join(kind)
        .join(target);
    let Ok(entries) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != "README.md"))
        .collect();
    files.sort();
    files
}

fn replay(kind: &str, target: &str, check: fn(&[u8])) -> usize {
    let files = inputs(kind, target);
    for file in &files {
        let data = fs::read(file).expect("readable input");
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(outcome.is_ok(), "{target}: {} panics", file.display());
    }
    files.len()
}

#[test]
fn frame_decode_seeds_do_not_panic() {
    let n = replay("seeds", "frame_decode", checks::frame_decode);
    assert!(
        n >= 30,
        "expected the seed corpus in fuzz/seeds/frame_decode, found {n} files"
    );
}

#[test]
fn request_roundtrip_seeds_are_stable() {
    let n = replay("seeds", "request_roundtrip", checks::request_roundtrip);
    assert!(
        n >= 30,
        "expected the seed corpus in fuzz/seeds/request_roundtrip, found {n} files"
    );
}

#[test]
fn frame_decode_regressions() {
    replay("regressions", "frame_decode", checks::frame_decode);
}

#[test]
fn request_roundtrip_regressions() {
    replay(
        "regressions",
        "request_roundtrip",
        checks::request_roundtrip,
    );
}

/// The frame_decode checks also run over the round-trip seeds and vice versa: both corpora are
/// valid inputs of both targets.
#[test]
fn seeds_cross_checked() {
    replay("seeds", "request_roundtrip", checks::frame_decode);
    replay("seeds", "frame_decode", checks::request_roundtrip);
    replay("regressions", "request_roundtrip", checks::frame_decode);
    replay("regressions", "frame_decode", checks::request_roundtrip);
}
