//! Shared checks of the chatwire fuzz targets. The same files are compiled into the stable
//! regression tests (`protocol/tests/fuzz_regressions.rs`, `server/tests/fuzz_regressions.rs`).

pub mod checks;
pub mod server_checks;
