//! Prometheus metrics: one [`Metrics`] (and one registry) per running server, so servers in the
//! same process (tests) never share counters. Every label has a bounded set of values: actions
//! the protocol does not know count as `unknown`, close codes outside the protocol's as
//! `other`. The names and their meaning are listed in docs/SERVER.md ("Operating").

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chatwire_protocol::Action;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

/// A label set with one label.
macro_rules! label_set {
    ($name:ident { $($field:ident),+ }) => {
        #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
        pub(crate) struct $name {
            $(pub $field: &'static str,)+
        }
    };
}

label_set!(StateLabel { state });
label_set!(ResultLabel { result });
label_set!(ActionLabel { action });
label_set!(ErrorLabel { action, code });
label_set!(KindLabel { kind });
label_set!(CodeLabel { code });
label_set!(AdminLabel { method, result });

/// The server's metrics and the registry they are exposed from.
pub(crate) struct Metrics {
    registry: Registry,
    /// Open WebSocket connections by `state` (`open`: all of them, `logged_in`: those logged in).
    pub connections: Family<StateLabel, Gauge>,
    /// Login attempts by `result` (`success`, `failure`, `throttled`).
    pub logins: Family<ResultLabel, Counter>,
    /// Messaging requests received, by `action`.
    pub requests: Family<ActionLabel, Counter>,
    /// Refused messaging requests by `action` and error `code`.
    pub request_errors: Family<ErrorLabel, Counter>,
    /// Log events (seqs) made durable.
    pub events_committed: Counter,
    /// Frames written to clients, by `kind` (`reply`, `broadcast`).
    pub deliveries: Family<KindLabel, Counter>,
    /// Connections the server closed, by close `code` (4004: outbound queue full).
    pub closes: Family<CodeLabel, Counter>,
    /// Store commit latency (queued to durable).
    pub store_commit: Histogram,
    /// Commits the store failed.
    pub store_commit_failures: Counter,
    /// Commits refused as stale (another node committed first; the requests ran again).
    pub store_commit_stale: Counter,
    /// 1 while the bus to the other nodes (NATS) is connected; 0 when down or not configured.
    pub bus_up: Gauge,
    /// Time to queue one committed change's frames to every receiving connection.
    pub fanout: Histogram,
    /// History catch-up requests by `action` (`catchUp`, `retransmitEvents`).
    pub catchup: Family<ActionLabel, Counter>,
    /// Admin API calls by `method` and `result` (`ok`, `error`, `unauthorized`).
    pub admin_calls: Family<AdminLabel, Counter>,
    /// 1 while the store answers its health check.
    pub store_up: Gauge,
    /// Set once a commit failed: the engine refuses changes until a restart.
    pub commits_failed: Arc<AtomicBool>,
}

impl Metrics {
    /// A fresh set of metrics in a registry of its own.
    pub fn new() -> Arc<Metrics> {
        let mut r = Registry::default();
        let connections = Family::<StateLabel, Gauge>::default();
        r.register(
            "chatwire_connections",
            "Open WebSocket connections by state (open, logged_in)",
            connections.clone(),
        );
        let logins = Family::<ResultLabel, Counter>::default();
        r.register(
            "chatwire_logins",
            "Login attempts by result (success, failure, throttled)",
            logins.clone(),
        );
        let requests = Family::<ActionLabel, Counter>::default();
        r.register(
            "chatwire_requests",
            "Messaging requests received, by action (unknown names count as unknown)",
            requests.clone(),
        );
        let request_errors = Family::<ErrorLabel, Counter>::default();
        r.register(
            "chatwire_request_errors",
            "Messaging requests refused, by action and error code",
            request_errors.clone(),
        );
        let events_committed = Counter::default();
        r.register(
            "chatwire_events_committed",
            "Conversation log events made durable",
            events_committed.clone(),
        );
        let deliveries = Family::<KindLabel, Counter>::default();
        r.register(
            "chatwire_deliveries",
            "Frames written to clients, by kind (reply, broadcast)",
            deliveries.clone(),
        );
        let closes = Family::<CodeLabel, Counter>::default();
        r.register(
            "chatwire_connection_closes",
            "Connections closed by the server, by WebSocket close code (4004: outbound queue full)",
            closes.clone(),
        );
        let store_commit = Histogram::new(exponential_buckets(0.000_25, 2.0, 14));
        r.register_with_unit(
            "chatwire_store_commit",
            "Store commit latency, from queued to durable",
            Unit::Seconds,
            store_commit.clone(),
        );
        let store_commit_failures = Counter::default();
        r.register(
            "chatwire_store_commit_failures",
            "Store commits that failed (the server then refuses changes until restarted)",
            store_commit_failures.clone(),
        );
        let store_commit_stale = Counter::default();
        r.register(
            "chatwire_store_commit_stale",
            "Commits refused because another node committed first (their requests run again)",
            store_commit_stale.clone(),
        );
        let bus_up = Gauge::default();
        r.register(
            "chatwire_bus_up",
            "1 while the bus to the other nodes (NATS) is connected",
            bus_up.clone(),
        );
        let fanout = Histogram::new(exponential_buckets(0.000_01, 2.0, 16));
        r.register_with_unit(
            "chatwire_fanout",
            "Time to queue one committed change's frames to every receiving connection",
            Unit::Seconds,
            fanout.clone(),
        );
        let catchup = Family::<ActionLabel, Counter>::default();
        r.register(
            "chatwire_catchup_requests",
            "History catch-up requests, by action (catchUp, retransmitEvents)",
            catchup.clone(),
        );
        let admin_calls = Family::<AdminLabel, Counter>::default();
        r.register(
            "chatwire_admin_calls",
            "Admin API calls by method and result (ok, error, unauthorized)",
            admin_calls.clone(),
        );
        let store_up = Gauge::default();
        r.register(
            "chatwire_store_up",
            "1 when the store answered its last health check, else 0",
            store_up.clone(),
        );
        Arc::new(Metrics {
            registry: r,
            connections,
            logins,
            requests,
            request_errors,
            events_committed,
            deliveries,
            closes,
            store_commit,
            store_commit_failures,
            store_commit_stale,
            bus_up,
            fanout,
            catchup,
            admin_calls,
            store_up,
            commits_failed: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The metrics in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }

    /// Counts a login attempt.
    pub fn login(&self, result: &'static str) {
        self.logins.get_or_create(&ResultLabel { result }).inc();
    }

    /// Counts a refused request.
    pub fn request_error(&self, action: &'static str, code: u32) {
        let code = error_code_label(code);
        self.request_errors
            .get_or_create(&ErrorLabel { action, code })
            .inc();
    }

    /// Counts a connection the server closed with `code`.
    pub fn closed(&self, code: u16) {
        let code = close_code_label(code);
        self.closes.get_or_create(&CodeLabel { code }).inc();
    }

    /// The gauge of connections in `state` (`open`, `logged_in`).
    pub fn connections(&self, state: &'static str) -> Gauge {
        self.connections
            .get_or_create(&StateLabel { state })
            .clone()
    }

    /// Whether a commit failed since start (the engine then refuses changes).
    pub fn commits_failed(&self) -> bool {
        self.commits_failed.load(Ordering::SeqCst)
    }
}

/// The label for an action name sent by a client: the protocol's name, or `unknown`.
pub(crate) fn action_label(name: Option<&str>) -> &'static str {
    name.and_then(Action::from_name)
        .map(|a| a.name())
        .unwrap_or("unknown")
}

/// Error codes are a small fixed set (SPEC codes 0-33 and 500); anything else is `other`.
fn error_code_label(code: u32) -> &'static str {
    const CODES: [&str; 34] = [
        "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
        "17", "18", "19", "20", "21", "22", "23", "24", "25", "26", "27", "28", "29", "30", "31",
        "32", "33",
    ];
    match code {
        500 => "500",
        c => CODES.get(c as usize).copied().unwrap_or("other"),
    }
}

/// The close codes the server uses; anything else is `other`.
fn close_code_label(code: u16) -> &'static str {
    match code {
        1000 => "1000",
        1001 => "1001",
        1009 => "1009",
        4000 => "4000",
        4001 => "4001",
        4002 => "4002",
        4003 => "4003",
        4004 => "4004",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_stay_bounded() {
        assert_eq!(action_label(Some("sendMessage")), "sendMessage");
        assert_eq!(action_label(Some("no-such-action")), "unknown");
        assert_eq!(action_label(None), "unknown");
        assert_eq!(error_code_label(30), "30");
        assert_eq!(error_code_label(500), "500");
        assert_eq!(error_code_label(77), "other");
        assert_eq!(close_code_label(4004), "4004");
        assert_eq!(close_code_label(3000), "other");
    }

    #[test]
    fn registries_are_separate() {
        let (a, b) = (Metrics::new(), Metrics::new());
        a.login("success");
        assert!(a
            .encode()
            .contains("chatwire_logins_total{result=\"success\"} 1"));
        assert!(!b.encode().contains("result=\"success\""));
    }
}
