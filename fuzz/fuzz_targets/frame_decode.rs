//! Arbitrary bytes -> text -> parse_client_frame, Request::decode for every action,
//! ServerFrame::decode, ClientSession/ServerSession::from_frame: nothing may panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| chatwire_fuzz::checks::frame_decode(data));
