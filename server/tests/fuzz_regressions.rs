//! Replays server-connection fuzz inputs (issue 6, part 4) through the same check as the
//! `server_session` cargo-fuzz target, on stable and without cargo-fuzz: a real in-process
//! server, a fresh logged-in connection per input, the input's frames, then a liveness probe.
//! Inputs: every crashing input kept after its fix (`fuzz/regressions/server_session/`) and the
//! seed corpus (`fuzz/seeds/server_session/`).

#[allow(dead_code, missing_docs)]
#[path = "../../fuzz/src/server_checks.rs"]
mod server_checks;

use std::fs;
use std::path::{Path, PathBuf};

fn inputs(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz")
        .join(kind)
        .join("server_session");
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

/// One test, so that the process-wide fixture server is used by a single test thread.
#[test]
fn server_session_inputs_keep_the_server_alive() {
    let seeds = inputs("seeds");
    assert!(
        seeds.len() >= 20,
        "expected the seed corpus in fuzz/seeds/server_session"
    );
    for file in inputs("regressions").iter().chain(&seeds) {
        let data = fs::read(file).expect("readable input");
        let outcome = std::panic::catch_unwind(|| server_checks::server_session(&data));
        assert!(outcome.is_ok(), "server_session: {} fails", file.display());
    }
}
