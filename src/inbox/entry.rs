//! The values the inbox shows: one [`InboxEntry`] per conversation, its [`LastMessage`], and the
//! [`InboxChange`]s its stream yields.

use std::time::SystemTime;

use chatwire_protocol::{ConversationId, JsonMap, MessageId, Seq, UserId};

use crate::model::Conversation;

/// The newest message of a conversation as a reader sees it: edits applied, a removal shown.
///
/// # Examples
/// ```no_run
/// # async fn demo(m: chatwire::Messenger) -> chatwire::Result<()> {
/// for entry in m.inbox().snapshot() {
///     if let Some(last) = &entry.last_message {
///         let text = if last.removed { "(removed)" } else { last.text.as_str() };
///         let edited = if last.edited_at.is_some() { " (edited)" } else { "" };
///         println!("{}: {text}{edited}", entry.name);
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LastMessage {
    /// The message.
    pub id: MessageId,
    /// The seq of the event that sent it.
    pub seq: Seq,
    /// Who sent it.
    pub sender: UserId,
    /// Its text after the latest edit (`""` once removed).
    pub text: String,
    /// Its payload after the latest edit (empty once removed).
    pub payload: Vec<JsonMap>,
    /// When it was sent.
    pub sent_at: SystemTime,
    /// When it was last edited.
    pub edited_at: Option<SystemTime>,
    /// It was removed (the entry shows the removal rather than an older message).
    pub removed: bool,
}

/// One conversation of the [`Inbox`](crate::Inbox).
///
/// # Examples
/// ```no_run
/// # async fn demo(m: chatwire::Messenger) -> chatwire::Result<()> {
/// let inbox = m.inbox();
/// inbox.loaded().await?;
/// for (n, entry) in inbox.snapshot().iter().enumerate() {
///     let typing = if entry.typing.is_empty() { "" } else { " (typing...)" };
///     println!("{:>2}. {} [{} unread]{typing}", n + 1, entry.name, entry.unread);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct InboxEntry {
    /// The conversation as of its latest event: title, class, participants, permissions,
    /// custom data, last seq.
    pub conversation: Conversation,
    /// What to call it: the title; for a direct conversation the other person's display name;
    /// for an untitled group the participants' names.
    pub name: String,
    /// The newest message, if the conversation has one you may see.
    pub last_message: Option<LastMessage>,
    /// Messages after both your read mark and the event that made you a participant, not your
    /// own, not removed, not hidden from you. Exact: counted from the events, never estimated.
    pub unread: u32,
    /// Your read mark (the same on every device of yours).
    pub read_mark: Seq,
    /// Who is typing now (each until 10 s after their last typing event, or their message).
    pub typing: Vec<UserId>,
    /// Time of the conversation's latest event (the inbox's sort key, newest first).
    pub last_activity: SystemTime,
}

impl InboxEntry {
    /// The conversation's id.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger) -> chatwire::Result<()> {
    /// let first = m.inbox().snapshot().first().map(|e| e.id());
    /// # let _ = first;
    /// # Ok(()) }
    /// ```
    pub fn id(&self) -> ConversationId {
        self.conversation.id
    }
}

/// What changed in the [`Inbox`](crate::Inbox) (see [`Inbox::changes`](crate::Inbox::changes)).
///
/// # Examples
/// ```no_run
/// # async fn demo(m: chatwire::Messenger) -> chatwire::Result<()> {
/// use chatwire::InboxChange;
/// use futures::StreamExt;
/// let inbox = m.inbox();
/// let mut changes = inbox.changes();
/// while let Some(change) = changes.next().await {
///     match change {
///         InboxChange::Updated(entry) => println!("{}: {} unread", entry.name, entry.unread),
///         InboxChange::Removed(id) => println!("{id} is gone"),
///         InboxChange::Reloaded => println!("{} conversations", inbox.snapshot().len()),
///         _ => {}
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum InboxChange {
    /// An entry appeared or changed (its new state).
    Updated(Box<InboxEntry>),
    /// A conversation left the inbox: you left or were removed, or it was deleted.
    Removed(ConversationId),
    /// Many entries changed at once (loaded from the server, or reloaded after a history
    /// reset); read [`Inbox::snapshot`](crate::Inbox::snapshot) again.
    Reloaded,
}
