//! Micro-benchmarks of the server's hot paths (issue 5), through public APIs only:
//!
//! - `store_append/*`: the durable append of one `sendMessage`: a [`Batch`] of
//!   `Write::Message` + `Write::Event` + `Write::Conversation` (what the engine commits per
//!   message), committed and waited for until its completion runs. [`MemoryStore`] and
//!   [`SqliteStore`] (WAL, `synchronous=FULL`, in a temporary directory: set `TMPDIR` to choose
//!   the disk). `*_x64` commits 64 batches back to back and waits for the last completion: the
//!   SQLite writer thread group-commits whatever is queued in one transaction, so this shows the
//!   throughput under load (criterion reports elements/s, one element = one message).
//! - `broadcast/*`: one `onSendMessage` frame to N = 1000 connections. `serialize_once`
//!   reproduces the engine's pattern (`engine/mod.rs` + `engine/outbox.rs`): the payload is
//!   encoded once (`Arc<str>`, also the log record), wrapped once with
//!   [`chatwire_protocol::wrap_payload`] into a shared `Frame` (`outbound/frame.rs`, mirrored
//!   below), and each receiver gets a clone through its outbound queue (`outbound/queue.rs`: an
//!   unbounded tokio channel of frames tagged reply or broadcast, and a counter of broadcasts
//!   bounded at 1024 as `Limits::outbound_queue`; the caller's copy is a reply).
//!   `serialize_per_receiver` encodes the frame again for every receiver, for the ratio. Only
//!   the serialization and the sends are timed; draining the queues between iterations is not.
//! - `broadcast_writers/*`: what the 1000 writer tasks do with the frame they took off their
//!   queue: turn it into axum's `Utf8Bytes` for the socket. `shared_conversion` is the server's
//!   `Frame::into_wire` (the first receiver copies the text once, the others clone that
//!   `Utf8Bytes`); `copy_per_receiver` copies the text for each receiver, for the ratio.
//! - `broadcast_queue/*`: the same frame into 1000 queues and taken off again, the server's
//!   counter + unbounded channel vs a bounded channel (the earlier design).
//!
//! Run: `cargo bench -p chatwire-server --bench server` (add `-- --quick` for a short run).

// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

use std::any::Any;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc as std_mpsc, Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;
use chatwire_protocol::{
    wrap_payload, ConversationId, EventName, EventObject, EventPayload, JsonMap, MessageId,
    MessageObject, Seq, ServerFrame, UserId,
};
use chatwire_server::store::{
    Batch, ConversationRecord, EventRecord, MemoryStore, MessageRecord, SqliteStore, Store, Write,
};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use serde_json::{json, Value};
use tokio::sync::mpsc;

const TIMESTAMP: i64 = 1_767_225_600;
const REQUEST_UUID: &str = "0b7c1f0e-5d7a-4f3c-9a51-2f6f0d3c8e11";
/// `Limits::outbound_queue` default.
const OUTBOUND_QUEUE: usize = 1024;
const RECEIVERS: usize = 1000;
const GROUP: u64 = 64;

fn user(n: u64) -> UserId {
    UserId::new(n).expect("valid user id")
}

fn map(v: Value) -> JsonMap {
    match v {
        Value::Object(m) => m,
        _ => unreachable!("object literal"),
    }
}

fn text() -> String {
    "Hey, are we still on for the design review at 3pm? I pushed the new mock-ups to the shared \
     folder, take a look when you get a chance."
        .to_string()
}

fn attachment() -> Vec<JsonMap> {
    vec![map(json!({
        "type": "attachment",
        "name": "mockup-v3.png",
        "size": 482133,
        "url": "https://files.example.com/a/9f8e7d6c/mockup-v3.png",
    }))]
}

fn send_payload(conversation: ConversationId, message: MessageId, seq: u64) -> EventPayload {
    let mut payload = EventPayload::new(Some(user(7)), "sendMessage", TIMESTAMP);
    payload.seq = Some(Seq(seq));
    payload.object = Some(EventObject::Message(MessageObject {
        uuid: message,
        conversation,
        text: text(),
        payload: attachment(),
    }));
    payload
}

// ---------------------------------------------------------------------------------------------
// Store append.

/// Produces the batch the engine commits for one `sendMessage` with the next seq.
struct Appender {
    conversation: ConversationId,
    seq: AtomicU64,
}

impl Appender {
    fn new() -> Self {
        Appender {
            conversation: ConversationId::new_v4(),
            seq: AtomicU64::new(1),
        }
    }

    fn batch(&self) -> Batch {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let message = MessageId::new_v4();
        let payload: Arc<str> =
            serde_json::to_string(&send_payload(self.conversation, message, seq))
                .expect("payload")
                .into();
        Batch {
            writes: vec![
                Write::Message(Box::new(MessageRecord {
                    conversation: self.conversation,
                    uuid: message,
                    sender: user(7),
                    text: text(),
                    payload: attachment(),
                    removed: false,
                })),
                Write::Event(EventRecord {
                    conversation: self.conversation,
                    seq,
                    event: "onSendMessage".into(),
                    initiator: user(7),
                    is_message: true,
                    payload,
                }),
                Write::Conversation(Box::new(ConversationRecord {
                    uuid: self.conversation,
                    ordinal: 1,
                    title: "Design review".into(),
                    direct: false,
                    uber: false,
                    public: false,
                    custom_data: map(json!({"topic": "q3-launch"})),
                    created_at: TIMESTAMP - 86_400,
                    last_update: TIMESTAMP,
                    last_seq: seq,
                    next_position: 11,
                    deleted: false,
                })),
            ],
        }
    }
}

/// Commits `n` batches back to back and blocks until the last one's completion ran.
/// Batch construction is not timed.
fn commit_and_wait(store: &dyn Store, batches: Vec<Batch>) -> Duration {
    let (tx, rx) = std_mpsc::sync_channel::<()>(1);
    let last = batches.len() - 1;
    let start = Instant::now();
    for (i, batch) in batches.into_iter().enumerate() {
        if i == last {
            let tx = tx.clone();
            store.commit(
                batch,
                Box::new(move |r| {
                    r.expect("commit");
                    let _ = tx.send(());
                }),
            );
        } else {
            store.commit(batch, Box::new(|r| r.expect("commit")));
        }
    }
    rx.recv().expect("completion");
    start.elapsed()
}

fn bench_store(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let memory = MemoryStore::new();
    let sqlite = SqliteStore::open(dir.path()).expect("sqlite");
    let stores: [(&str, &dyn Store); 2] = [("memory", &memory), ("sqlite", &sqlite)];

    let mut group = c.benchmark_group("store_append");
    for (name, store) in stores {
        let appender = Appender::new();
        group.throughput(Throughput::Elements(1));
        group.bench_function(BenchmarkId::new(name, "x1"), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| commit_and_wait(store, vec![appender.batch()]))
                    .sum()
            })
        });
        group.throughput(Throughput::Elements(GROUP));
        group.bench_function(BenchmarkId::new(name, format!("x{GROUP}")), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        let batches = (0..GROUP).map(|_| appender.batch()).collect();
                        commit_and_wait(store, batches)
                    })
                    .sum()
            })
        });
        // Everything written is readable (read-your-writes) and durable once flushed.
        // (Nothing was written when a filter skipped these benchmarks.)
        store.flush().expect("flush");
        let last = appender.seq.load(Ordering::Relaxed);
        if last > 1 {
            let events = store.events(appender.conversation, last, last);
            assert_eq!(events.expect("events").len(), 1);
        }
    }
    group.finish();
    drop(sqlite);
}

// ---------------------------------------------------------------------------------------------
// Broadcast fan-out.

/// The server's `outbound::Frame` (private to the server crate, so mirrored here): one
/// encoded frame shared by its receivers, turned into the transport's form once.
#[derive(Clone)]
struct Frame(Arc<Shared>);

struct Shared {
    text: String,
    wire: OnceLock<Box<dyn Any + Send + Sync>>,
}

impl Frame {
    fn new(text: String) -> Frame {
        Frame(Arc::new(Shared {
            text,
            wire: OnceLock::new(),
        }))
    }

    fn as_str(&self) -> &str {
        &self.0.text
    }

    /// As `Frame::into_wire` in the server.
    fn into_wire<W: Clone + Send + Sync + 'static>(self, convert: fn(String) -> W) -> W {
        // A shared frame some receiver already converted (the common case of a broadcast).
        if let Some(w) = self.0.wire.get().and_then(|w| w.downcast_ref::<W>()) {
            return w.clone();
        }
        match Arc::try_unwrap(self.0) {
            // The only receiver: its text becomes the wire form without a copy.
            Ok(shared) => convert(shared.text),
            // The first of several receivers to convert (another may be converting right now:
            // then this waits for its result).
            Err(shared) => {
                let wire = shared
                    .wire
                    .get_or_init(|| Box::new(convert(shared.text.clone())));
                match wire.downcast_ref::<W>() {
                    Some(w) => w.clone(),
                    // Converted to another type before (never with one transport).
                    None => convert(shared.text.clone()),
                }
            }
        }
    }
}

/// A connection's outbound queue as in `outbound/queue.rs`: an unbounded channel of frames
/// tagged reply or broadcast, and a counter of queued broadcasts bounded by `OUTBOUND_QUEUE` (a
/// full queue closes the connection there; replies are counted apart and never close it).
struct Queue {
    id: u64,
    tx: mpsc::UnboundedSender<(Frame, bool)>,
    queued: AtomicUsize,
}

impl Queue {
    /// A broadcast.
    fn send(&self, frame: Frame) {
        if self.queued.fetch_add(1, Ordering::Relaxed) >= OUTBOUND_QUEUE {
            panic!("queue full: the benchmark drains after every iteration");
        }
        let _ = self.tx.send((frame, false));
    }

    /// As `engine/outbox.rs` releases a delivery: the caller's copy is a reply.
    fn push(&self, frame: Frame, reply_to: Option<u64>) {
        if reply_to == Some(self.id) {
            let _ = self.tx.send((frame, true));
        } else {
            self.send(frame);
        }
    }
}

/// The earlier design, for comparison: a bounded tokio channel (its semaphore takes a lock on
/// every receive).
struct BoundedQueue(mpsc::Sender<Frame>);

impl BoundedQueue {
    fn send(&self, frame: Frame) {
        if self.0.try_send(frame).is_err() {
            panic!("queue full: the benchmark drains after every iteration");
        }
    }
}

struct Receivers {
    tx: Vec<Queue>,
    rx: Vec<mpsc::UnboundedReceiver<(Frame, bool)>>,
}

impl Receivers {
    fn new(n: usize) -> Self {
        let (tx, rx) = (0..n)
            .map(|id| {
                let (tx, rx) = mpsc::unbounded_channel();
                let queued = AtomicUsize::new(0);
                let id = id as u64;
                (Queue { id, tx, queued }, rx)
            })
            .unzip();
        Receivers { tx, rx }
    }

    /// Empties every queue (as the writers do); returns the number of frames and bytes received.
    fn drain(&mut self) -> (usize, usize) {
        let (mut frames, mut bytes) = (0, 0);
        for (rx, q) in self.rx.iter_mut().zip(&self.tx) {
            let mut n = 0;
            let mut broadcasts = 0;
            while let Ok((frame, reply)) = rx.try_recv() {
                n += 1;
                broadcasts += usize::from(!reply);
                bytes += frame.as_str().len();
            }
            q.queued.fetch_sub(broadcasts, Ordering::Relaxed);
            frames += n;
        }
        (frames, bytes)
    }
}

struct BoundedReceivers {
    tx: Vec<BoundedQueue>,
    rx: Vec<mpsc::Receiver<Frame>>,
}

impl BoundedReceivers {
    fn new(n: usize) -> Self {
        let (tx, rx) = (0..n)
            .map(|_| {
                let (tx, rx) = mpsc::channel(OUTBOUND_QUEUE);
                (BoundedQueue(tx), rx)
            })
            .unzip();
        BoundedReceivers { tx, rx }
    }

    fn drain(&mut self) -> usize {
        let mut frames = 0;
        for rx in &mut self.rx {
            while rx.try_recv().is_ok() {
                frames += 1;
            }
        }
        frames
    }
}

/// One broadcast, serialized once (the engine's way).
fn broadcast_once(payload: &EventPayload, receivers: &[Queue]) -> Arc<str> {
    let json: Arc<str> = serde_json::to_string(payload).expect("payload").into();
    let frame = Frame::new(wrap_payload(
        &EventName::SendMessage,
        Some(REQUEST_UUID),
        &json,
    ));
    // The first receiver stands for the caller, whose copy is its result (a reply).
    let caller = receivers.first().map(|q| q.id);
    for q in receivers {
        q.push(frame.clone(), caller);
    }
    json // the engine keeps it as the log record's payload
}

/// One broadcast, serialized again for every receiver.
fn broadcast_per_receiver(frame: &ServerFrame, receivers: &[Queue]) {
    for q in receivers {
        q.send(Frame::new(frame.encode()));
    }
}

fn bench_broadcast(c: &mut Criterion) {
    let conversation = ConversationId::new_v4();
    let payload = send_payload(conversation, MessageId::new_v4(), 1301);
    let frame = ServerFrame {
        event: EventName::SendMessage,
        request_uuid: Some(REQUEST_UUID.into()),
        payload: payload.clone(),
    };
    // Both ways produce the same bytes.
    let mut check = Receivers::new(2);
    broadcast_once(&payload, &check.tx[..1]);
    broadcast_per_receiver(&frame, &check.tx[1..]);
    let (a, _) = check.rx[0].try_recv().expect("frame");
    let (b, _) = check.rx[1].try_recv().expect("frame");
    assert_eq!(a.as_str(), b.as_str());

    let mut group = c.benchmark_group("broadcast");
    group.throughput(Throughput::Elements(RECEIVERS as u64));
    let mut receivers = Receivers::new(RECEIVERS);
    group.bench_function(BenchmarkId::new("serialize_once", RECEIVERS), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                black_box(broadcast_once(black_box(&payload), &receivers.tx));
                total += start.elapsed();
                let (frames, _) = receivers.drain();
                assert_eq!(frames, RECEIVERS);
            }
            total
        })
    });
    group.bench_function(BenchmarkId::new("serialize_per_receiver", RECEIVERS), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                broadcast_per_receiver(black_box(&frame), &receivers.tx);
                total += start.elapsed();
                let (frames, _) = receivers.drain();
                assert_eq!(frames, RECEIVERS);
            }
            total
        })
    });
    group.finish();

    // The writers: each of the 1000 receivers turns its clone into the socket's `Utf8Bytes`.
    let mut writers = c.benchmark_group("broadcast_writers");
    writers.throughput(Throughput::Elements(RECEIVERS as u64));
    let text = frame.encode();
    let mut wires: Vec<Utf8Bytes> = Vec::with_capacity(RECEIVERS);
    writers.bench_function(BenchmarkId::new("shared_conversion", RECEIVERS), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let shared = Frame::new(text.clone());
                let taken: Vec<Frame> = (0..RECEIVERS).map(|_| shared.clone()).collect();
                drop(shared);
                let start = Instant::now();
                wires.extend(taken.into_iter().map(|f| f.into_wire(Utf8Bytes::from)));
                total += start.elapsed();
                assert_eq!(wires.len(), RECEIVERS);
                wires.clear();
            }
            total
        })
    });
    writers.bench_function(BenchmarkId::new("copy_per_receiver", RECEIVERS), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let shared = Frame::new(text.clone());
                let taken: Vec<Frame> = (0..RECEIVERS).map(|_| shared.clone()).collect();
                drop(shared);
                let start = Instant::now();
                wires.extend(taken.into_iter().map(|f| Utf8Bytes::from(f.as_str())));
                total += start.elapsed();
                assert_eq!(wires.len(), RECEIVERS);
                wires.clear();
            }
            total
        })
    });
    writers.finish();

    // The queue: one already serialized frame to every receiver, counter + unbounded channel
    // (the server) vs bounded channel (before), each including the receivers taking it off.
    let mut queues = c.benchmark_group("broadcast_queue");
    queues.throughput(Throughput::Elements(RECEIVERS as u64));
    let frame_bytes = Frame::new(frame.encode());
    queues.bench_function(BenchmarkId::new("counter_unbounded", RECEIVERS), |b| {
        b.iter(|| {
            for q in &receivers.tx {
                q.send(frame_bytes.clone());
            }
            assert_eq!(receivers.drain().0, RECEIVERS);
        })
    });
    let mut bounded = BoundedReceivers::new(RECEIVERS);
    queues.bench_function(BenchmarkId::new("bounded_channel", RECEIVERS), |b| {
        b.iter(|| {
            for q in &bounded.tx {
                q.send(frame_bytes.clone());
            }
            assert_eq!(bounded.drain(), RECEIVERS);
        })
    });
    queues.finish();

    // The two halves of `serialize_once`, for reference.
    let mut parts = c.benchmark_group("broadcast_parts");
    parts.bench_function("encode_payload_and_wrap", |b| {
        b.iter(|| {
            let json: Arc<str> = serde_json::to_string(black_box(&payload))
                .expect("payload")
                .into();
            wrap_payload(&EventName::SendMessage, Some(REQUEST_UUID), &json)
        })
    });
    parts.bench_function("server_frame_encode", |b| {
        b.iter(|| black_box(&frame).encode())
    });
    parts.finish();
}

criterion_group!(benches, bench_store, bench_broadcast);
criterion_main!(benches);
