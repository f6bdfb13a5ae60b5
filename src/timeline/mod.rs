//! [`Timeline`]: the messages of one conversation as a reader sees them, loaded backwards in
//! windows of 100 events and kept current from the event stream.
//!
//! Memory policy: a timeline holds at most [`TIMELINE_CAPACITY`] messages (plus at most one
//! window). New messages beyond it push the oldest out ([`TimelineDiff::TrimFront`]; they can be
//! loaded again with [`Timeline::paginate_back`]), and `paginate_back` stops loading once the
//! window is full. Edits and removals of messages not loaded yet are remembered (up to 10 000)
//! so that those messages show their latest state when loaded.

mod item;
mod window;

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use chatwire_protocol::{ConversationId, Seq, MAX_RETRANSMIT};
use futures::{Stream, StreamExt};
use tokio::sync::broadcast;

pub use item::{TimelineDiff, TimelineItem};

use crate::error::Result;
use crate::event::Event;
use crate::history::EventRange;
use crate::Messenger;
use window::Window;

/// The most messages a [`Timeline`] keeps (see the [memory policy](Timeline#memory)).
pub const TIMELINE_CAPACITY: usize = 5_000;

struct Inner {
    conversation: ConversationId,
    window: Mutex<Window>,
    updates: broadcast::Sender<TimelineDiff>,
    /// One pagination at a time.
    paginating: tokio::sync::Mutex<()>,
    task: std::sync::OnceLock<tokio::task::AbortHandle>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(task) = self.task.get() {
            task.abort();
        }
    }
}

/// The messages of one conversation (see [`Messenger::timeline`]); cheap to clone.
///
/// # Memory
/// At most [`TIMELINE_CAPACITY`] messages (plus one window of history): new messages beyond it
/// push the oldest out, and [`Timeline::paginate_back`] stops loading when it is full. For
/// reading further back, use [`Messenger::history`].
///
/// # Examples
/// ```no_run
/// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId) -> chatwire::Result<()> {
/// use futures::StreamExt;
/// let timeline = m.timeline(chat).await?;
/// let mut updates = timeline.updates();
/// timeline.paginate_back(50).await?;
/// for item in timeline.items() {
///     println!("{}: {}", item.sender, item.text);
/// }
/// while let Some(diff) = updates.next().await {
///     println!("{diff:?}");
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Timeline {
    inner: Arc<Inner>,
    messenger: Messenger,
}

impl std::fmt::Debug for Timeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timeline")
            .field("conversation", &self.inner.conversation)
            .field("items", &self.lock().items.len())
            .finish()
    }
}

impl Messenger {
    /// A live timeline of a conversation, starting empty at its latest event: new messages,
    /// edits and removals arrive as [`Timeline::updates`]; older messages load with
    /// [`Timeline::paginate_back`].
    ///
    /// # Errors
    /// The errors of [`Messenger::get_conversation`] (8, 16, 19).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId) -> chatwire::Result<()> {
    /// let timeline = m.timeline(chat).await?;
    /// let loaded = timeline.paginate_back(20).await?;
    /// println!("{loaded} messages");
    /// # Ok(()) }
    /// ```
    pub async fn timeline(&self, conversation: ConversationId) -> Result<Timeline> {
        // Subscribe first: every event after the snapshot's last seq arrives on this stream.
        let events = self.internal_events();
        let last_seq = self.get_conversation(conversation).await?.last_seq.get();
        let (updates, _) = broadcast::channel(crate::inbox::INBOX_CHANGE_BUFFER);
        let inner = Arc::new(Inner {
            conversation,
            window: Mutex::new(Window::new(last_seq, TIMELINE_CAPACITY)),
            updates,
            paginating: tokio::sync::Mutex::new(()),
            task: std::sync::OnceLock::new(),
        });
        let task = tokio::spawn(follow(Arc::downgrade(&inner), self.downgrade(), events));
        let _ = inner.task.set(task.abort_handle());
        Ok(Timeline {
            inner,
            messenger: self.clone(),
        })
    }
}

/// Folds the conversation's live events into the window.
async fn follow(
    inner: std::sync::Weak<Inner>,
    messenger: crate::messenger::WeakMessenger,
    mut events: crate::stream::EventStream,
) {
    while let Some(event) = events.next().await {
        let Some(inner) = inner.upgrade() else { break };
        let reset = matches!(event, Event::HistoryReset | Event::Lagged { .. })
            || matches!(&event, Event::Gap { conversation, .. } if *conversation == inner.conversation);
        if reset {
            // Start again at the live end.
            let Some(m) = messenger.upgrade() else { break };
            let last = match m.get_conversation(inner.conversation).await {
                Ok(c) => c.last_seq.get(),
                Err(_) => break,
            };
            *inner.window.lock().unwrap_or_else(|e| e.into_inner()) =
                Window::new(last, TIMELINE_CAPACITY);
            let _ = inner.updates.send(TimelineDiff::Clear);
            continue;
        }
        if event.conversation() != Some(inner.conversation) {
            continue;
        }
        let diffs = inner
            .window
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .live(&event);
        for diff in diffs {
            let _ = inner.updates.send(diff);
        }
    }
}

impl Timeline {
    /// The conversation.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId) -> chatwire::Result<()> {
    /// assert_eq!(m.timeline(chat).await?.conversation(), chat);
    /// # Ok(()) }
    /// ```
    pub fn conversation(&self) -> ConversationId {
        self.inner.conversation
    }

    /// The loaded messages, oldest first.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId) -> chatwire::Result<()> {
    /// let timeline = m.timeline(chat).await?;
    /// timeline.paginate_back(10).await?;
    /// let newest = timeline.items().last().cloned();
    /// # let _ = newest;
    /// # Ok(()) }
    /// ```
    pub fn items(&self) -> Vec<TimelineItem> {
        self.lock().items.iter().cloned().collect()
    }

    /// Whether the first message of the conversation (that you may see) is loaded.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId) -> chatwire::Result<()> {
    /// let timeline = m.timeline(chat).await?;
    /// // Everything the window can hold.
    /// while timeline.paginate_back(100).await? > 0 {}
    /// let complete = timeline.reached_start();
    /// # let _ = complete;
    /// # Ok(()) }
    /// ```
    pub fn reached_start(&self) -> bool {
        self.lock().next_back == 0
    }

    /// Loads at least `n` older messages (fewer at the start of the conversation or when the
    /// window is full), reading history backwards in windows of 100 events; returns how many
    /// were added: 0 once the start is reached ([`Timeline::reached_start`]) or the window holds
    /// [`TIMELINE_CAPACITY`] messages. They also arrive as one [`TimelineDiff::Prepend`] per
    /// window.
    ///
    /// # Errors
    /// The errors of [`Messenger::retransmit_events`]; messages loaded before the error stay.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId) -> chatwire::Result<()> {
    /// let timeline = m.timeline(chat).await?;
    /// let first_screen = timeline.paginate_back(30).await?;
    /// assert!(first_screen <= timeline.items().len());
    /// # Ok(()) }
    /// ```
    pub async fn paginate_back(&self, n: usize) -> Result<usize> {
        let _one = self.inner.paginating.lock().await;
        let mut added = 0;
        while added < n {
            let (to, room) = {
                let w = self.lock();
                (w.next_back, w.room())
            };
            if to == 0 || room == 0 {
                break;
            }
            let count = to.min(MAX_RETRANSMIT) as u8;
            let replay = self
                .messenger
                .retransmit_events(
                    self.inner.conversation,
                    EventRange::ending_at(Seq(to), count),
                )
                .await?;
            let (got, diff) = self
                .lock()
                .prepend(replay.from.get().max(1), &replay.events);
            added += got;
            if let Some(diff) = diff {
                let _ = self.inner.updates.send(diff);
            }
        }
        Ok(added)
    }

    /// The changes from now on, as a stream of diffs (ends when every handle of this timeline
    /// is dropped).
    ///
    /// # Cancel safety
    /// `next()` is cancel safe.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId) -> chatwire::Result<()> {
    /// use futures::StreamExt;
    /// let timeline = m.timeline(chat).await?;
    /// let mut updates = timeline.updates();
    /// m.send_message(chat, "hello").await?;
    /// let diff = updates.next().await;
    /// # let _ = diff;
    /// # Ok(()) }
    /// ```
    pub fn updates(&self) -> TimelineUpdates {
        let rx = self.inner.updates.subscribe();
        let inner = futures::stream::unfold(rx, |mut rx| async move {
            match rx.recv().await {
                Ok(diff) => Some((diff, rx)),
                Err(broadcast::error::RecvError::Lagged(_)) => Some((TimelineDiff::Lagged, rx)),
                Err(broadcast::error::RecvError::Closed) => None,
            }
        });
        TimelineUpdates {
            inner: Box::pin(inner),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Window> {
        self.inner.window.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The stream of [`Timeline::updates`].
///
/// # Examples
/// ```no_run
/// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId) -> chatwire::Result<()> {
/// use futures::StreamExt;
/// let mut updates: chatwire::TimelineUpdates = m.timeline(chat).await?.updates();
/// let first = updates.next().await;
/// # let _ = first;
/// # Ok(()) }
/// ```
pub struct TimelineUpdates {
    inner: Pin<Box<dyn Stream<Item = TimelineDiff> + Send>>,
}

impl Stream for TimelineUpdates {
    type Item = TimelineDiff;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<TimelineDiff>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl std::fmt::Debug for TimelineUpdates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TimelineUpdates")
    }
}
