//! A real in-process server fed an arbitrary frame sequence (the input split at `\n`) on a fresh
//! logged-in WebSocket connection; it must answer and stay alive.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| chatwire_fuzz::server_checks::server_session(data));
