//! [`EventStream`]: the events a [`Messenger`](crate::Messenger) delivers, and their
//! acknowledgement when the messenger keeps durable state ([`AckMode`]).

use std::collections::HashMap;
use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use chatwire_protocol::ConversationId;
use futures::Stream;
use tokio::sync::broadcast;

use crate::event::Event;

/// When a delivered event counts as handled, with a durable store
/// ([`MessengerBuilder::store`](crate::MessengerBuilder::store)).
///
/// The store keeps, per conversation, the highest acknowledged seq; after a crash or restart
/// exactly the events after it are delivered again (marked
/// [`replayed`](crate::EventMeta::replayed)). Without a store nothing is acknowledged.
///
/// # Examples
/// ```no_run
/// # async fn demo() -> chatwire::Result<()> {
/// use chatwire::{AckMode, Messenger};
/// use chatwire::store::MemoryStore;
/// let messenger = Messenger::builder("ws://127.0.0.1:8080")
///     .password("bot@chatwire.local", "secret-password")
///     .store(MemoryStore::new())
///     .ack_mode(AckMode::Manual)
///     .connect()
///     .await?;
/// # let _ = messenger;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum AckMode {
    /// An event is acknowledged when the application asks the stream for the next one (the
    /// default): handle an event completely before polling again.
    #[default]
    Auto,
    /// Events are acknowledged only by [`Messenger::ack`](crate::Messenger::ack), for
    /// applications that hand events to other tasks.
    Manual,
}

/// Writes to the store's key-value area (`None` deletes).
type KvWrites = Vec<(String, Option<Vec<u8>>)>;

/// Acknowledged positions not yet written to the store, shared by the streams, `ack()` and the
/// connection task (which writes them at least every 100 ms).
#[derive(Debug, Clone, Default)]
pub(crate) struct Acks {
    acked: Arc<Mutex<HashMap<ConversationId, u64>>>,
    /// Writes to the store's key-value area from higher layers (the inbox), written with the
    /// positions.
    kv: Arc<Mutex<KvWrites>>,
}

impl Acks {
    /// Acknowledges `event` (persisted events only; others carry nothing to keep).
    pub fn ack(&self, event: &Event) {
        if let Some(key) = key(event) {
            self.ack_key(key);
        }
    }

    fn ack_key(&self, (conv, seq): (ConversationId, u64)) {
        let mut acked = self.acked.lock().unwrap_or_else(|e| e.into_inner());
        let slot = acked.entry(conv).or_insert(0);
        *slot = (*slot).max(seq);
    }

    /// Queues a write to the store's key-value area (`None` deletes).
    pub fn put_kv(&self, key: String, value: Option<Vec<u8>>) {
        let mut kv = self.kv.lock().unwrap_or_else(|e| e.into_inner());
        kv.retain(|(k, _)| *k != key);
        kv.push((key, value));
    }

    /// Takes the key-value writes queued since the last call.
    pub fn take_kv(&self) -> KvWrites {
        std::mem::take(&mut *self.kv.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Takes the acknowledgements made since the last call.
    pub fn take(&self) -> HashMap<ConversationId, u64> {
        std::mem::take(&mut *self.acked.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// What acknowledging `event` records: its conversation and seq (persisted events only).
fn key(event: &Event) -> Option<(ConversationId, u64)> {
    Some((event.conversation()?, event.seq()?.get()))
}

/// A stream of [`Event`]s; see [`Messenger::events`](crate::Messenger::events).
///
/// # Ordering
/// Persisted events of one conversation arrive in seq order, each once. Events of different
/// conversations interleave in the order the SDK received or replayed them.
///
/// # Cancel safety
/// `StreamExt::next` is cancel safe: dropping it before it completes loses no event.
///
/// # Examples
/// ```no_run
/// # async fn demo(m: chatwire::Messenger) -> chatwire::Result<()> {
/// use futures::StreamExt;
/// // Two independent consumers; each gets every event.
/// let mut ui = m.events();
/// let mut log = m.events();
/// tokio::spawn(async move {
///     while let Some(event) = log.next().await {
///         println!("{event:?}");
///     }
/// });
/// while let Some(event) = ui.next().await {
///     let _ = event;
/// }
/// # Ok(()) }
/// ```
pub struct EventStream {
    inner: Pin<Box<dyn Stream<Item = Event> + Send>>,
    /// Auto acknowledgement: the stream acknowledges the previous event on the next poll.
    acks: Option<Acks>,
    previous: Option<(ConversationId, u64)>,
}

impl EventStream {
    pub(crate) fn new(rx: broadcast::Receiver<Event>, acks: Option<Acks>) -> Self {
        let inner = futures::stream::unfold(rx, |mut rx| async move {
            match rx.recv().await {
                Ok(event) => Some((event, rx)),
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    Some((Event::Lagged { missed }, rx))
                }
                Err(broadcast::error::RecvError::Closed) => None,
            }
        });
        EventStream {
            inner: Box::pin(inner),
            acks,
            previous: None,
        }
    }
}

impl Stream for EventStream {
    type Item = Event;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        if let Some(previous) = self.previous.take() {
            if let Some(acks) = &self.acks {
                acks.ack_key(previous);
            }
        }
        let next = self.inner.as_mut().poll_next(cx);
        if let (Poll::Ready(Some(event)), true) = (&next, self.acks.is_some()) {
            self.previous = key(event);
        }
        next
    }
}

impl fmt::Debug for EventStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EventStream")
    }
}
