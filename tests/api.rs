//! Compile-time pins of the public API's auto traits, the error kinds and the reconnect policy.

use std::time::Duration;

use chatwire::{
    ConnectStage, Conversation, ConversationId, Error, ErrorCode, Event, EventRange, EventStream,
    History, InvalidArgument, InvalidArgumentKind, Message, Messenger, MessengerBuilder,
    NewConversation, NewParticipant, Participant, Permissions, ReconnectPolicy, Seq, User, UserId,
    DEFAULT_EVENT_BUFFER, DEFAULT_KEEP_ALIVE, DEFAULT_REQUEST_TIMEOUT, TYPING_THROTTLE,
};

fn clone_send_sync<T: Clone + Send + Sync + 'static>() {}
fn send_sync_static<T: Send + Sync + 'static>() {}
fn send<T: Send>() {}
fn std_error<T: std::error::Error + Send + Sync + 'static>() {}

#[test]
fn auto_traits() {
    clone_send_sync::<Messenger>();
    send_sync_static::<Error>();
    std_error::<Error>();
    std_error::<InvalidArgument>();
    clone_send_sync::<InvalidArgument>();
    send::<EventStream>();
    send::<History>();
    send::<MessengerBuilder>();
    clone_send_sync::<Event>();
    clone_send_sync::<Conversation>();
    clone_send_sync::<Message>();
    clone_send_sync::<User>();
    clone_send_sync::<Participant>();
    clone_send_sync::<NewConversation>();
    clone_send_sync::<ReconnectPolicy>();
    // a Messenger future can be spawned
    fn spawnable<F: std::future::Future + Send + 'static>(_: F) {}
    fn check(m: Messenger) {
        spawnable(async move { m.me().await });
        let _ = std::mem::size_of::<Option<Messenger>>();
    }
    let _ = check;
    // `Box<dyn Error>` conversion through `?`
    fn boxed() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        Err(Error::NotLoggedIn)?
    }
    assert_eq!(boxed().unwrap_err().to_string(), "not logged in");
}

fn all_errors() -> Vec<Error> {
    vec![
        Error::Server {
            code: ErrorCode::AccessDenied,
            description: "Access denied.".into(),
            action: "sendMessage".into(),
        },
        Error::Server {
            code: ErrorCode::RateLimitSecond,
            description: "Too many".into(),
            action: "getUser".into(),
        },
        Error::Timeout(Duration::from_secs(20)),
        Error::Disconnected,
        Error::NotLoggedIn,
        Error::InvalidArgument(InvalidArgument::new(
            InvalidArgumentKind::TextTooLong,
            "text too long",
        )),
        Error::TypingThrottled(TYPING_THROTTLE),
        Error::LoginFailed {
            code: 401,
            reason: "bad password".into(),
        },
        Error::LoginFailed {
            code: 429,
            reason: "slow down".into(),
        },
        Error::Connect {
            url: "ws://127.0.0.1:9/platform".into(),
            stage: ConnectStage::Tcp,
            source: Box::new(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                "connection refused",
            )),
        },
    ]
}

#[test]
fn error_display_is_informative() {
    for e in all_errors() {
        let s = e.to_string();
        assert!(!s.trim().is_empty(), "{e:?}");
        assert!(!format!("{e:?}").is_empty());
    }
    let e = &all_errors()[0];
    let s = e.to_string();
    assert!(
        s.contains("sendMessage") && s.contains("12") && s.contains("Access denied"),
        "{s}"
    );
    assert!(all_errors()[5].to_string().contains("text too long"));
    assert!(all_errors()[7].to_string().contains("401"));
    assert!(all_errors()[9].to_string().contains("connection refused"));
}

#[test]
fn invalid_argument_kind_message_and_parts() {
    let e = InvalidArgument::new(InvalidArgumentKind::EmptyList, "get_users: no users");
    assert_eq!(e.kind(), InvalidArgumentKind::EmptyList);
    assert_eq!(e.message(), "get_users: no users");
    assert_eq!(e.to_string(), "get_users: no users");
    let error = Error::from(e.clone());
    assert_eq!(error.to_string(), "invalid argument: get_users: no users");
    assert!(!error.is_retryable());
    assert_eq!(error.code(), None);
    match error {
        Error::InvalidArgument(inner) => assert_eq!(inner, e),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        e.into_parts(),
        (InvalidArgumentKind::EmptyList, "get_users: no users".into())
    );
}

#[test]
fn error_codes_and_retryability() {
    let retryable: Vec<bool> = all_errors().iter().map(Error::is_retryable).collect();
    assert_eq!(
        retryable,
        [false, true, true, true, false, false, true, false, true, true]
    );
    let codes: Vec<Option<u32>> = all_errors()
        .iter()
        .map(|e| e.code().map(ErrorCode::code))
        .collect();
    assert_eq!(
        codes,
        [
            Some(12),
            Some(32),
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None
        ]
    );
    for (code, retry) in [
        (30, true),
        (32, true),
        (33, true),
        (500, true),
        (8, false),
        (19, false),
    ] {
        let e = Error::Server {
            code: ErrorCode::from_code(code),
            description: String::new(),
            action: "x".into(),
        };
        assert_eq!(e.code().unwrap().code(), code);
        assert_eq!(e.is_retryable(), retry, "code {code}");
    }
}

#[test]
fn reconnect_policy_delays() {
    let p = ReconnectPolicy::default();
    assert_eq!(p.initial_delay, Duration::from_millis(500));
    assert_eq!(p.max_delay, Duration::from_secs(30));
    assert_eq!(p.max_attempts, None);
    // the first retry is immediate, whatever the jitter
    for r in [0.0, 0.5, 1.0] {
        assert_eq!(p.delay_with(0, r), Duration::ZERO);
        assert_eq!(p.delay_with(1, r), Duration::ZERO);
        assert_eq!(p.delay(1), Duration::ZERO);
    }
    // exponential growth without jitter
    let grow: Vec<Duration> = (2..=7).map(|n| p.delay_with(n, 0.0)).collect();
    let ms = |v: u64| Duration::from_millis(v);
    assert_eq!(
        grow,
        [ms(500), ms(1000), ms(2000), ms(4000), ms(8000), ms(16000)]
    );
    // the cap
    assert_eq!(p.delay_with(8, 0.0), Duration::from_secs(30));
    assert_eq!(p.delay_with(1000, 0.0), Duration::from_secs(30));
    assert_eq!(p.delay_with(u32::MAX, 0.0), Duration::from_secs(30));
    // jitter reduces by at most `jitter` (0.5), never adds
    for n in 2..40 {
        let full = p.delay_with(n, 0.0);
        let least = p.delay_with(n, 1.0);
        assert_eq!(least, full / 2, "attempt {n}");
        for _ in 0..20 {
            let d = p.delay(n);
            assert!(
                d >= least && d <= full,
                "attempt {n}: {d:?} not in {least:?}..={full:?}"
            );
        }
    }
    // out-of-range random values are clamped
    assert_eq!(p.delay_with(3, 7.0), p.delay_with(3, 1.0));
    assert_eq!(p.delay_with(3, -1.0), p.delay_with(3, 0.0));

    let custom = ReconnectPolicy::new()
        .initial_delay(Duration::from_secs(1))
        .max_delay(Duration::from_secs(5))
        .multiplier(3.0)
        .jitter(0.0)
        .max_attempts(4);
    assert_eq!(custom.delay_with(2, 1.0), Duration::from_secs(1));
    assert_eq!(custom.delay_with(3, 1.0), Duration::from_secs(3));
    assert_eq!(custom.delay_with(4, 1.0), Duration::from_secs(5));
    let flat = ReconnectPolicy::default()
        .multiplier(0.5) // below 1: no growth, never shrinking
        .jitter(0.0);
    assert_eq!(flat.delay_with(5, 0.0), Duration::from_millis(500));

    assert_eq!(ReconnectPolicy::never().max_attempts, Some(0));
    assert_eq!(
        ReconnectPolicy::default().max_attempts(7).max_attempts,
        Some(7)
    );
}

#[test]
fn documented_defaults() {
    assert_eq!(DEFAULT_REQUEST_TIMEOUT, Duration::from_secs(20));
    assert_eq!(TYPING_THROTTLE, Duration::from_secs(10));
    assert!(DEFAULT_KEEP_ALIVE <= Duration::from_secs(20));
    assert_eq!(DEFAULT_EVENT_BUFFER, 4096);
    assert_eq!(NewConversation::CHAT.bits(), 15);
    assert_eq!(NewConversation::DIRECT.bits(), 7);
}

#[test]
fn event_range_and_participant_constructors() {
    assert_eq!(
        EventRange::between(Seq(1), Seq(5)),
        EventRange::Between {
            from: Seq(1),
            to: Seq(5)
        }
    );
    assert_eq!(
        EventRange::starting_at(Seq(2), 9),
        EventRange::StartingAt {
            from: Seq(2),
            count: 9
        }
    );
    assert_eq!(
        EventRange::ending_at(Seq(3), 4),
        EventRange::EndingAt {
            to: Seq(3),
            count: 4
        }
    );
    let bob: UserId = "1002".parse().unwrap();
    let p: NewParticipant = bob.into();
    assert_eq!((p.user, p.permissions), (bob, None));
    let p: NewParticipant = (bob, Permissions::WRITE).into();
    assert_eq!(p.permissions, Some(Permissions::WRITE));
}

#[test]
fn event_accessors() {
    let conv = ConversationId::new_v4();
    let gap = Event::Gap {
        conversation: conv,
        from: Seq(3),
        to: Seq(9),
    };
    assert_eq!(gap.conversation(), Some(conv));
    assert!(gap.meta().is_none() && gap.seq().is_none());
    let lagged = Event::Lagged { missed: 5 };
    assert_eq!(lagged.conversation(), None);
    assert!(lagged.meta().is_none());
    let removed = Event::ConversationRemoved {
        meta: None,
        conversation: conv,
    };
    assert_eq!(removed.conversation(), Some(conv));
    assert!(removed.seq().is_none());
}

#[tokio::test]
async fn bad_urls_are_invalid_arguments() {
    for url in ["http://example.invalid", "not a url", "ftp://x/platform"] {
        match Messenger::builder(url)
            .password("a@b.c", "p")
            .connect()
            .await
        {
            Err(Error::InvalidArgument(e)) => {
                assert_eq!(e.kind(), InvalidArgumentKind::ServerUrl, "{url}: {e}");
                assert!(!e.message().is_empty());
            }
            other => panic!("{url}: {other:?}"),
        }
    }
    // nothing listens there: a connect error at the TCP stage, retryable
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    match Messenger::builder(&format!("ws://127.0.0.1:{port}"))
        .password("a@b.c", "p")
        .connect()
        .await
    {
        Err(
            e @ Error::Connect {
                stage: ConnectStage::Tcp,
                ..
            },
        ) => {
            assert!(e.is_retryable());
            let text = e.to_string();
            let url = format!("ws://127.0.0.1:{port}/platform");
            assert!(text.contains(&url) && text.contains("(TCP)"), "{text}");
            assert!(std::error::Error::source(&e).is_some());
        }
        other => panic!("{other:?}"),
    }
}
