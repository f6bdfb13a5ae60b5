//! Reading past events: one `retransmitEvents` call, or the whole history as a stream.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use chatwire_protocol::{ConversationId, Request, RetransmitEvents, Seq, MAX_RETRANSMIT};
use futures::Stream;

use crate::error::Result;
use crate::event::Event;
use crate::{checks, decode, Messenger};

/// Which events to retransmit: exactly two of first seq, last seq and count, so an invalid
/// combination cannot be written. A `[from, to]` window may span 100 (`to - from <= 100`, so
/// 101 events, the window the official tutorial asks for: `lastSeq - 100 ..= lastSeq`); the
/// count forms take at most 100.
///
/// # Examples
/// ```
/// use chatwire::{EventRange, Seq};
/// let first_page = EventRange::between(Seq(1), Seq(100));
/// let newest = EventRange::ending_at(Seq(250), 50);
/// let next = EventRange::starting_at(Seq(101), 100);
/// # let _ = (first_page, newest, next);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventRange {
    /// `[from, to]`.
    Between {
        /// First seq.
        from: Seq,
        /// Last seq.
        to: Seq,
    },
    /// `count` events starting at `from` (fewer if the log ends sooner).
    StartingAt {
        /// First seq.
        from: Seq,
        /// Number of events (1-100).
        count: u8,
    },
    /// `count` events ending at `to`.
    EndingAt {
        /// Last seq.
        to: Seq,
        /// Number of events (1-100).
        count: u8,
    },
}

impl EventRange {
    /// `[from, to]`, with `to - from <= 100` (at most 101 events).
    ///
    /// # Examples
    /// ```
    /// use chatwire::{EventRange, Seq};
    /// let first_hundred = EventRange::between(Seq(1), Seq(100));
    /// // The official tutorial's history window: the last seq and the 100 before it.
    /// let last = Seq(250);
    /// let tutorial = EventRange::between(Seq(last.get() - 100), last);
    /// # let _ = (first_hundred, tutorial);
    /// ```
    pub fn between(from: Seq, to: Seq) -> Self {
        EventRange::Between { from, to }
    }
    /// `count` events from `from`.
    ///
    /// # Examples
    /// ```
    /// use chatwire::{EventRange, Seq};
    /// // Everything after what you have seen, 100 at a time.
    /// let seen = Seq(41);
    /// let next = EventRange::starting_at(seen.next(), 100);
    /// assert_eq!(next, EventRange::StartingAt { from: Seq(42), count: 100 });
    /// ```
    pub fn starting_at(from: Seq, count: u8) -> Self {
        EventRange::StartingAt { from, count }
    }
    /// `count` events up to `to`.
    ///
    /// # Examples
    /// ```
    /// use chatwire::{EventRange, Seq};
    /// // The latest 20 events of a conversation whose last seq is 250.
    /// let latest = EventRange::ending_at(Seq(250), 20);
    /// # let _ = latest;
    /// ```
    pub fn ending_at(to: Seq, count: u8) -> Self {
        EventRange::EndingAt { to, count }
    }

    fn fields(&self) -> (Option<i64>, Option<i64>, Option<i64>) {
        match *self {
            EventRange::Between { from, to } => {
                (Some(from.get() as i64), Some(to.get() as i64), None)
            }
            EventRange::StartingAt { from, count } => {
                (Some(from.get() as i64), None, Some(count.into()))
            }
            EventRange::EndingAt { to, count } => (None, Some(to.get() as i64), Some(count.into())),
        }
    }
}

/// The result of [`Messenger::retransmit_events`].
///
/// # Examples
/// ```no_run
/// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId) -> chatwire::Result<()> {
/// use chatwire::{EventRange, Seq};
/// let last = m.get_conversation(chat).await?.last_seq;
/// let replay = m.retransmit_events(chat, EventRange::ending_at(last, 50)).await?;
/// println!("seqs {}..={}: {} visible events", replay.from, replay.to, replay.events.len());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Replay {
    /// First seq of the covered range.
    pub from: Seq,
    /// Last seq of the covered range.
    pub to: Seq,
    /// The events of the range you may see, ascending (seqs missing from the range are hidden
    /// from you, not lost), each with [`crate::EventMeta::replayed`] set.
    pub events: Vec<Event>,
}

impl Messenger {
    /// Fetches up to 100 past events of a conversation (participants and former participants).
    ///
    /// # Ordering
    /// [`Replay::events`] ascend by seq; seqs of the covered range that are missing are hidden from
    /// you (uber conversations, former participants), not lost.
    ///
    /// # Errors
    /// The [common errors](crate::Messenger#errors), and:
    /// - [`Error::InvalidArgument`](crate::Error::InvalidArgument) for a range the server would
    ///   refuse (nothing is sent): a seq of 0, `from` after `to` or a count of 0
    ///   ([`RetransmitRange`](crate::InvalidArgumentKind::RetransmitRange)), a count over 100 or a
    ///   `between` span over 100 (101 events)
    ///   ([`TooMany`](crate::InvalidArgumentKind::TooMany)).
    /// - [`Error::Server`](crate::Error::Server) with code 8
    ///   ([`ErrorCode::ConversationNotFound`](crate::ErrorCode::ConversationNotFound)), 16 ([`ErrorCode::ConversationDeleted`](crate::ErrorCode::ConversationDeleted)), 19
    ///   ([`ErrorCode::NotParticipant`](crate::ErrorCode::NotParticipant): never a participant) or
    ///   24 ([`ErrorCode::SeqBeyondLast`](crate::ErrorCode::SeqBeyondLast): the range starts, or for
    ///   [`EventRange::between`] / [`EventRange::ending_at`] ends, after the last event).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId) -> chatwire::Result<()> {
    /// use chatwire::{EventRange, Seq};
    /// let replay = m.retransmit_events(chat, EventRange::starting_at(Seq(1), 100)).await?;
    /// for event in &replay.events {
    ///     assert!(event.meta().is_some_and(|meta| meta.replayed));
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn retransmit_events(
        &self,
        conversation: ConversationId,
        range: EventRange,
    ) -> Result<Replay> {
        checks::event_range(&range)?;
        let (events_from, events_to, count) = range.fields();
        let request = Request::RetransmitEvents(RetransmitEvents {
            conversation: conversation.to_string(),
            events_from,
            events_to,
            count,
        });
        Ok(decode::replay(self.call(request).await?))
    }

    /// The whole history of a conversation, newest first, fetched lazily in windows of 100.
    ///
    /// # Ordering
    /// Descending seq; events you may not see are skipped.
    ///
    /// # Cancel safety
    /// `next()` is cancel safe: a window being fetched is kept and continued.
    ///
    /// # Errors
    /// The stream yields one `Err` and then ends when fetching fails: the
    /// [common errors](crate::Messenger#errors), the errors of [`Messenger::get_conversation`]
    /// (8 / 16 / 19) for the first window, then those of [`Messenger::retransmit_events`].
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId) -> chatwire::Result<()> {
    /// use chatwire::Event;
    /// use futures::StreamExt;
    /// // The 20 most recent messages, newest first.
    /// let mut history = m.history(chat);
    /// let mut texts = Vec::new();
    /// while let Some(event) = history.next().await {
    ///     if let Event::MessageSent { message, .. } = event? {
    ///         texts.push(message.text);
    ///         if texts.len() == 20 {
    ///             break;
    ///         }
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn history(&self, conversation: ConversationId) -> History {
        let messenger = self.clone();
        let state = HistoryState {
            messenger,
            conversation,
            next_to: None,
            buffer: VecDeque::new(),
            done: false,
        };
        let inner = futures::stream::unfold(state, |mut s| async move {
            loop {
                if let Some(e) = s.buffer.pop_front() {
                    return Some((Ok(e), s));
                }
                if s.done {
                    return None;
                }
                let to = match s.next_to {
                    Some(to) => to,
                    None => match s.messenger.get_conversation(s.conversation).await {
                        Ok(c) => c.last_seq.get(),
                        Err(e) => {
                            s.done = true;
                            return Some((Err(e), s));
                        }
                    },
                };
                if to == 0 {
                    return None;
                }
                let count = to.min(MAX_RETRANSMIT) as u8;
                match s
                    .messenger
                    .retransmit_events(s.conversation, EventRange::ending_at(Seq(to), count))
                    .await
                {
                    Ok(replay) => {
                        let first = replay.from.get().max(1);
                        s.next_to = Some(first - 1);
                        s.done = first <= 1;
                        s.buffer.extend(replay.events.into_iter().rev());
                    }
                    Err(e) => {
                        s.done = true;
                        return Some((Err(e), s));
                    }
                }
            }
        });
        // Fused: polling again after the end keeps returning `None`.
        History {
            inner: Box::pin(futures::StreamExt::fuse(inner)),
        }
    }
}

struct HistoryState {
    messenger: Messenger,
    conversation: ConversationId,
    next_to: Option<u64>,
    buffer: VecDeque<Event>,
    done: bool,
}

/// The stream of [`Messenger::history`].
///
/// # Ordering
/// Descending seq (newest first); events you may not see are skipped.
///
/// # Cancel safety
/// `StreamExt::next` is cancel safe: a window being fetched is kept and continued.
///
/// # Examples
/// ```no_run
/// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId) -> chatwire::Result<()> {
/// use futures::TryStreamExt;
/// let all: Vec<chatwire::Event> = m.history(chat).try_collect().await?;
/// println!("{} events", all.len());
/// # Ok(()) }
/// ```
pub struct History {
    inner: Pin<Box<dyn Stream<Item = Result<Event>> + Send>>,
}

impl Stream for History {
    type Item = Result<Event>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("History")
    }
}
