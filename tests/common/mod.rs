//! Helpers shared by the SDK's integration tests (`mod common;` in each test file).

// Each test file uses a different subset.
#![allow(dead_code)]

pub mod proxy;

use std::time::{Duration, SystemTime};

use chatwire::testing::{TestServer, TestUser};
use chatwire::{Error, Event, EventStream, InvalidArgumentKind, JsonMap, Messenger, UserId};
use futures::StreamExt;
use serde_json::Value;

/// A server without rate limits (tests send bursts).
pub async fn server() -> TestServer {
    let mut cfg = chatwire_server::testing::config(chatwire_server::Storage::Memory);
    cfg.limits.requests_per_second = 0;
    cfg.limits.requests_per_minute = 0;
    TestServer::with_config(cfg).await
}

/// A messenger logged in as `user`.
pub async fn login(server: &TestServer, user: &TestUser) -> Messenger {
    server.messenger(user).await.expect("login")
}

/// A JSON object literal as a [`JsonMap`].
pub fn obj(v: Value) -> JsonMap {
    v.as_object().expect("a JSON object").clone()
}

/// A user id no server knows.
pub fn unknown_user() -> UserId {
    UserId::new(9_000_000_000).unwrap()
}

/// The protocol error code of a server error; panics on anything else.
#[track_caller]
pub fn code_of<T: std::fmt::Debug>(r: chatwire::Result<T>) -> u32 {
    match r {
        Err(e @ Error::Server { .. }) => {
            assert!(!e.to_string().is_empty());
            e.code().expect("server errors carry a code").code()
        }
        other => panic!("expected a server error, got {other:?}"),
    }
}

/// A local check of `kind` failed, with a message.
#[track_caller]
pub fn assert_invalid<T: std::fmt::Debug>(r: chatwire::Result<T>, kind: InvalidArgumentKind) {
    match r {
        Err(Error::InvalidArgument(e)) => {
            assert_eq!(e.kind(), kind, "{e}");
            assert!(!e.message().is_empty());
        }
        other => panic!("expected InvalidArgument ({kind:?}), got {other:?}"),
    }
}

/// `t` lies within [start - 2 s, now + 2 s] (wire times are whole seconds).
#[track_caller]
pub fn assert_recent(t: SystemTime, start: SystemTime) {
    let lo = start - Duration::from_secs(2);
    let hi = SystemTime::now() + Duration::from_secs(2);
    assert!(t >= lo && t <= hi, "{t:?} not within {lo:?}..{hi:?}");
}

/// The next event, within 10 s.
pub async fn next_event(stream: &mut EventStream) -> Event {
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("an event within 10 s")
        .expect("stream open")
}

/// The next event matching `pred`, skipping others.
pub async fn wait_for(stream: &mut EventStream, mut pred: impl FnMut(&Event) -> bool) -> Event {
    loop {
        let e = next_event(stream).await;
        if pred(&e) {
            return e;
        }
    }
}

/// Every event up to and including the first matching `pred`.
pub async fn collect_until(
    stream: &mut EventStream,
    mut pred: impl FnMut(&Event) -> bool,
) -> Vec<Event> {
    let mut out = Vec::new();
    loop {
        let e = next_event(stream).await;
        let stop = pred(&e);
        out.push(e);
        if stop {
            return out;
        }
    }
}
