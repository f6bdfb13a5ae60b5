//! Reading past events: one `retransmitEvents` call, or the whole history as a stream.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use chatwire_protocol::{ConversationId, Request, RetransmitEvents, Seq, MAX_RETRANSMIT};
use futures::Stream;

use crate::connection::replayed_event;
use crate::error::{Error, Result};
use crate::event::Event;
use crate::Messenger;

/// Which events to retransmit: exactly two of first seq, last seq and count, so an invalid
/// combination cannot be written. At most 100 events.
///
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
    /// `[from, to]` (at most 100 events).
    pub fn between(from: Seq, to: Seq) -> Self {
        EventRange::Between { from, to }
    }
    /// `count` events from `from`.
    pub fn starting_at(from: Seq, count: u8) -> Self {
        EventRange::StartingAt { from, count }
    }
    /// `count` events up to `to`.
    pub fn ending_at(to: Seq, count: u8) -> Self {
        EventRange::EndingAt { to, count }
    }

    fn check(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::InvalidArgument(m.to_string()));
        match *self {
            EventRange::Between { from, to } => {
                if from.get() < 1 {
                    return bad("seq starts at 1");
                }
                if from > to {
                    return bad("from is after to");
                }
                if to.get() - from.get() + 1 > MAX_RETRANSMIT {
                    return bad("at most 100 events per call");
                }
            }
            EventRange::StartingAt { from: s, count } | EventRange::EndingAt { to: s, count } => {
                if s.get() < 1 {
                    return bad("seq starts at 1");
                }
                if count == 0 || u64::from(count) > MAX_RETRANSMIT {
                    return bad("count must be 1 to 100");
                }
            }
        }
        Ok(())
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
    pub async fn retransmit_events(
        &self,
        conversation: ConversationId,
        range: EventRange,
    ) -> Result<Replay> {
        range.check()?;
        let (events_from, events_to, count) = range.fields();
        let request = Request::RetransmitEvents(RetransmitEvents {
            conversation: conversation.to_string(),
            events_from,
            events_to,
            count,
        });
        let frames = self.call(request).await?;
        let (from, to) = frames
            .first()
            .map(|f| {
                (
                    f.payload.from_seq.unwrap_or_default(),
                    f.payload.to_seq.unwrap_or_default(),
                )
            })
            .unwrap_or_default();
        let events = frames
            .into_iter()
            .filter_map(replayed_event)
            .map(|(_, e)| e)
            .collect();
        Ok(Replay { from, to, events })
    }

    /// The whole history of a conversation, newest first, fetched lazily in windows of 100.
    ///
    /// # Ordering
    /// Descending seq; events you may not see are skipped.
    ///
    /// # Cancel safety
    /// `next()` is cancel safe: a window being fetched is kept and continued.
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
