//! The live inbox: the user's conversations with their last message, exact unread count and
//! who is typing, kept current from the event stream by one background task per messenger.
//!
//! Layering: the task reads an internal event stream (never the application's first stream,
//! whose acknowledgements belong to the application) and makes ordinary [`Messenger`] calls;
//! it holds the messenger weakly, so it ends with the last application handle.

mod entry;
mod fold;
mod load;
mod persist;
mod task;

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use chatwire_protocol::{ConversationId, Seq};
use futures::Stream;
use tokio::sync::{broadcast, mpsc, watch};

pub use entry::{InboxChange, InboxEntry, LastMessage};
pub use fold::TYPING_EXPIRY;

use crate::error::{Error, Result};
use crate::messenger::WeakMessenger;
use crate::store::{Store, StoreError};
use crate::Messenger;
use fold::InboxState;

/// How many changes a [`Inbox::changes`] stream may fall behind before it gets
/// [`InboxChange::Reloaded`] instead.
pub const INBOX_CHANGE_BUFFER: usize = 1024;

/// Requests from the handles to the task.
enum Command {
    /// Our read mark moved (our own call succeeded).
    Read(ConversationId, Seq),
}

struct Inner {
    state: Mutex<InboxState>,
    /// Entries saved by an earlier run, shown until the first load completes.
    saved: Mutex<Option<Vec<InboxEntry>>>,
    changes: broadcast::Sender<InboxChange>,
    commands: mpsc::UnboundedSender<Command>,
    loaded: watch::Receiver<bool>,
    messenger: WeakMessenger,
}

/// The live list of your conversations (see [`Messenger::inbox`]).
///
/// Cheap to clone; every clone shows the same inbox.
///
/// # Examples
/// ```no_run
/// # async fn demo(m: chatwire::Messenger) -> chatwire::Result<()> {
/// use futures::StreamExt;
/// let inbox = m.inbox();
/// let mut changes = inbox.changes();
/// inbox.loaded().await?;
/// loop {
///     for entry in inbox.snapshot() {
///         println!("{} ({} unread)", entry.name, entry.unread);
///     }
///     if changes.next().await.is_none() {
///         break;
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Inbox {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Inbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbox")
            .field("loaded", &*self.inner.loaded.borrow())
            .finish()
    }
}

impl Messenger {
    /// The live inbox: your conversations, newest activity first, each with its last message,
    /// exact unread count and who is typing; kept current from the events.
    ///
    /// The first call starts it (loading from the server in the background: one `catchUp`
    /// request per 500 conversations, then a window of 100 events per conversation, more where
    /// more is unread); later calls return the same inbox. With a
    /// [store](crate::MessengerBuilder::store) the inbox is saved in the store's key-value area
    /// and a restarted application sees the saved entries at once; [`Inbox::saved`] reads them
    /// even before connecting.
    ///
    /// Conversations you join, leave, are removed from, or that are deleted appear and
    /// disappear by themselves. Unread counts are exact: messages after both your read mark and
    /// the event that made you a participant, not your own, not removed and not hidden from
    /// you; they move on all your devices when any of them marks a conversation read.
    ///
    /// Must be called inside a Tokio runtime (it starts a task).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger) -> chatwire::Result<()> {
    /// let inbox = m.inbox();
    /// inbox.loaded().await?;
    /// let unread: u32 = inbox.snapshot().iter().map(|e| e.unread).sum();
    /// println!("{unread} unread messages");
    /// # Ok(()) }
    /// ```
    pub fn inbox(&self) -> Inbox {
        let (slot, _) = self.live_slots();
        slot.get_or_init(|| Inbox::start(self)).clone()
    }
}

impl Inbox {
    fn start(m: &Messenger) -> Inbox {
        let saved = m
            .saved_kv(persist::KEY)
            .and_then(|b| persist::decode(b, Some(m.user_id())));
        let (changes, _) = broadcast::channel(INBOX_CHANGE_BUFFER);
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (loaded_tx, loaded) = watch::channel(false);
        let inner = Arc::new(Inner {
            state: Mutex::new(InboxState::new(m.user_id())),
            saved: Mutex::new(saved),
            changes,
            commands,
            loaded,
            messenger: m.downgrade(),
        });
        let events = m.internal_events();
        tokio::spawn(task::run(inner.clone(), events, command_rx, loaded_tx));
        Inbox { inner }
    }

    /// The inbox saved in `store` by an earlier run (newest activity first; empty when none),
    /// for showing it before [`connect`](crate::MessengerBuilder::connect) returns or while
    /// offline. Call it before handing the store to the builder (share it with `Arc`).
    ///
    /// # Errors
    /// The store's own errors.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::sync::Arc;
    /// use chatwire::{Inbox, Messenger};
    /// use chatwire::store::SqliteStore;
    /// let store = Arc::new(SqliteStore::open("alice.db")?);
    /// for entry in Inbox::saved(store.as_ref()).await? {
    ///     println!("{} ({} unread)", entry.name, entry.unread);
    /// }
    /// let m = Messenger::builder("ws://127.0.0.1:8080")
    ///     .password("alice@chatwire.local", "secret-password")
    ///     .store(store)
    ///     .connect()
    ///     .await?;
    /// # let _ = m;
    /// # Ok(()) }
    /// ```
    pub async fn saved(store: &dyn Store) -> std::result::Result<Vec<InboxEntry>, StoreError> {
        persist::saved(store).await
    }

    /// The entries now, newest activity first. Before the first load completes these are the
    /// entries saved by an earlier run (or none).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger) -> chatwire::Result<()> {
    /// for (n, entry) in m.inbox().snapshot().iter().enumerate() {
    ///     println!("{}. {} [{}]", n + 1, entry.name, entry.unread);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn snapshot(&self) -> Vec<InboxEntry> {
        if !self.is_loaded() {
            if let Some(saved) = &*self.inner.saved.lock().unwrap_or_else(|e| e.into_inner()) {
                return saved.clone();
            }
        }
        self.lock().entries(Instant::now())
    }

    /// The entry of one conversation (`None` if it is not in the inbox).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId) -> chatwire::Result<()> {
    /// if let Some(entry) = m.inbox().entry(chat) {
    ///     println!("{} unread in {}", entry.unread, entry.name);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn entry(&self, conversation: ConversationId) -> Option<InboxEntry> {
        if !self.is_loaded() {
            let saved = self.inner.saved.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(saved) = &*saved {
                return saved.iter().find(|e| e.id() == conversation).cloned();
            }
        }
        self.lock().entry(conversation, Instant::now())
    }

    /// Whether the inbox has been loaded from the server (until then [`Inbox::snapshot`] shows
    /// saved entries).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger) -> chatwire::Result<()> {
    /// let inbox = m.inbox();
    /// if !inbox.is_loaded() {
    ///     println!("(showing saved conversations)");
    /// }
    /// # Ok(()) }
    /// ```
    pub fn is_loaded(&self) -> bool {
        *self.inner.loaded.borrow()
    }

    /// Waits until the inbox has been loaded from the server (it keeps trying while the
    /// connection is down).
    ///
    /// # Errors
    /// [`Error::NotLoggedIn`] if the messenger closed first.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger) -> chatwire::Result<()> {
    /// let inbox = m.inbox();
    /// inbox.loaded().await?;
    /// assert!(inbox.is_loaded());
    /// # Ok(()) }
    /// ```
    pub async fn loaded(&self) -> Result<()> {
        let mut loaded = self.inner.loaded.clone();
        loaded
            .wait_for(|l| *l)
            .await
            .map(|_| ())
            .map_err(|_| Error::NotLoggedIn)
    }

    /// The changes from now on, as a stream (ends when the messenger closes).
    ///
    /// # Cancel safety
    /// `next()` is cancel safe.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger) -> chatwire::Result<()> {
    /// use futures::StreamExt;
    /// let mut changes = m.inbox().changes();
    /// while let Some(change) = changes.next().await {
    ///     println!("{change:?}");
    /// }
    /// # Ok(()) }
    /// ```
    pub fn changes(&self) -> InboxChanges {
        let rx = self.inner.changes.subscribe();
        let inner = futures::stream::unfold(rx, |mut rx| async move {
            match rx.recv().await {
                Ok(change) => Some((change, rx)),
                Err(broadcast::error::RecvError::Lagged(_)) => Some((InboxChange::Reloaded, rx)),
                Err(broadcast::error::RecvError::Closed) => None,
            }
        });
        InboxChanges {
            inner: Box::pin(inner),
        }
    }

    /// Marks a conversation read up to its latest event; the unread count drops to 0 here and
    /// on your other devices. Returns the stored read mark.
    ///
    /// # Errors
    /// The errors of [`Messenger::mark_as_read`], and [`Error::NotLoggedIn`] once the
    /// messenger is gone.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId) -> chatwire::Result<()> {
    /// let inbox = m.inbox();
    /// inbox.mark_as_read(chat).await?;
    /// assert_eq!(inbox.entry(chat).map(|e| e.unread), Some(0));
    /// # Ok(()) }
    /// ```
    pub async fn mark_as_read(&self, conversation: ConversationId) -> Result<Seq> {
        let m = self.inner.messenger.upgrade().ok_or(Error::NotLoggedIn)?;
        let last = self
            .lock()
            .convs
            .get(&conversation)
            .map_or(Seq(0), |c| c.conversation.last_seq);
        let last = if last.get() == 0 {
            m.get_conversation(conversation).await?.last_seq
        } else {
            last
        };
        let stored = m.mark_as_read(conversation, last).await?;
        {
            let mut state = self.lock();
            let mut folded = fold::Folded::default();
            state.read(conversation, stored, &mut folded);
            if folded.rescan.is_empty() {
                if let Some(e) = state.entry(conversation, Instant::now()) {
                    let _ = self.inner.changes.send(InboxChange::Updated(Box::new(e)));
                }
            }
        }
        let _ = self
            .inner
            .commands
            .send(Command::Read(conversation, stored));
        Ok(stored)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, InboxState> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The stream of [`Inbox::changes`].
///
/// # Examples
/// ```no_run
/// # async fn demo(m: chatwire::Messenger) -> chatwire::Result<()> {
/// use futures::StreamExt;
/// let mut changes: chatwire::InboxChanges = m.inbox().changes();
/// let first = changes.next().await;
/// # let _ = first;
/// # Ok(()) }
/// ```
pub struct InboxChanges {
    inner: Pin<Box<dyn Stream<Item = InboxChange> + Send>>,
}

impl Stream for InboxChanges {
    type Item = InboxChange;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<InboxChange>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl std::fmt::Debug for InboxChanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InboxChanges")
    }
}
