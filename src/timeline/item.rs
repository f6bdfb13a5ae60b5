//! What a [`Timeline`](crate::Timeline) holds and the diffs its stream yields.

use std::time::SystemTime;

use chatwire_protocol::{JsonMap, MessageId, Seq, UserId};

/// One message as a reader sees it: edits applied, a removal marked.
///
/// # Examples
/// ```no_run
/// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId) -> chatwire::Result<()> {
/// let timeline = m.timeline(chat).await?;
/// timeline.paginate_back(20).await?;
/// for item in timeline.items() {
///     let text = if item.removed { "(removed)" } else { item.text.as_str() };
///     println!("[{}] {}: {text}", item.seq, item.sender);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TimelineItem {
    /// The message.
    pub id: MessageId,
    /// The seq of the event that sent it (its number in the conversation).
    pub seq: Seq,
    /// Who sent it.
    pub sender: UserId,
    /// Text after the latest edit (`""` once removed).
    pub text: String,
    /// Payload after the latest edit (empty once removed).
    pub payload: Vec<JsonMap>,
    /// When it was sent.
    pub sent_at: SystemTime,
    /// When it was last edited.
    pub edited_at: Option<SystemTime>,
    /// It was removed.
    pub removed: bool,
}

impl TimelineItem {
    pub(crate) fn mark_removed(&mut self) {
        self.removed = true;
        self.text.clear();
        self.payload.clear();
    }
}

/// A change to a [`Timeline`](crate::Timeline)'s items, in the order to apply them to a copy
/// of [`Timeline::items`](crate::Timeline::items) taken before.
///
/// # Examples
/// ```no_run
/// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId) -> chatwire::Result<()> {
/// use chatwire::TimelineDiff;
/// use futures::StreamExt;
/// let timeline = m.timeline(chat).await?;
/// let mut updates = timeline.updates();
/// let mut shown = timeline.items();
/// while let Some(diff) = updates.next().await {
///     match diff {
///         TimelineDiff::Append(item) => shown.push(item),
///         TimelineDiff::Prepend(items) => { shown.splice(0..0, items); }
///         TimelineDiff::Set { index, item } => shown[index] = item,
///         TimelineDiff::TrimFront(n) => { shown.drain(..n); }
///         TimelineDiff::Clear => shown.clear(),
///         _ => shown = timeline.items(),
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TimelineDiff {
    /// A new message at the end.
    Append(TimelineItem),
    /// Older messages loaded at the start (oldest first).
    Prepend(Vec<TimelineItem>),
    /// The item at `index` changed (edited or removed).
    Set {
        /// Its position in the items.
        index: usize,
        /// Its new state.
        item: TimelineItem,
    },
    /// The oldest `n` items were dropped (the window is full; see
    /// [`TIMELINE_CAPACITY`](crate::TIMELINE_CAPACITY)).
    TrimFront(usize),
    /// Everything was dropped (the server's history was replaced, or this timeline missed
    /// events); the timeline starts again at the live end.
    Clear,
    /// The updates stream fell behind and missed diffs: read
    /// [`Timeline::items`](crate::Timeline::items) again.
    Lagged,
}
