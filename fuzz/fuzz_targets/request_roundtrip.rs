//! Arbitrary JSON (serde_json::from_slice of the input): decode(encode(decode(x))) == decode(x)
//! for request payloads, client frames, session frames and server frames.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| chatwire_fuzz::checks::request_roundtrip(data));
