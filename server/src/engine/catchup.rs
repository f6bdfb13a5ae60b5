//! `catchUp` -> `onCatchUp` (chatwire extension, docs/PROTOCOL.md section 12.4): where the caller
//! stands in each listed conversation and the events after its position, in one bounded page.
//!
//! The events are exactly what `retransmitEvents` would return for the covered ranges: the
//! stored event and payload, filtered by the same visibility rule (docs/BEHAVIOUR.md section 7.4:
//! former participants up to L, uber conversations by participation interval). The page is
//! encoded with `CatchUpPage::encode`, which copies the stored payloads as they are, and goes to
//! the calling connection only. Nothing is written.

use std::collections::HashSet;

use chatwire_protocol::{
    CatchUp, CatchUpEntry, CatchUpPage, CatchUpPosition, CatchUpState, ConversationId, ErrorCode,
    EventName, EventPayload, Seq, UserId, CATCH_UP_PAGE_BYTES, CATCH_UP_PAGE_EVENTS,
    MAX_CATCH_UP_POSITIONS,
};

use super::outbox::{encode_payload, wrap};
use super::{Ctx, Engine, Fail, Outcome};
use crate::store::EventRecord;

/// Seqs read from the store at a time while filling a page.
const READ_CHUNK: u64 = CATCH_UP_PAGE_EVENTS as u64;

/// What the page's encoding adds around each event besides its name and payload
/// (`{"event":"","payload":}` and a comma).
const EVENT_OVERHEAD: usize = 24;

/// One conversation's entry and the range of seqs the caller still needs from it.
struct Plan {
    entry: CatchUpEntry,
    /// `[first, last]` after the position, when there is anything there.
    wanted: Option<(u64, u64)>,
    conversation: Option<ConversationId>,
}

/// A page being filled within the budget of [`CATCH_UP_PAGE_EVENTS`] events and about
/// [`CATCH_UP_PAGE_BYTES`] bytes.
#[derive(Default)]
struct Page {
    entries: Vec<CatchUpEntry>,
    events: Vec<EventRecord>,
    bytes: usize,
}

impl Page {
    /// Whether an entry of `bytes` fits (the first item of a page always does).
    fn entry_fits(&self, bytes: usize) -> bool {
        self.entries.is_empty() || self.bytes + bytes <= CATCH_UP_PAGE_BYTES
    }

    /// Whether an event of `bytes` fits (the first event of a page always does, so that a
    /// page makes progress even past an event larger than the whole budget).
    fn event_fits(&self, bytes: usize) -> bool {
        self.events.is_empty()
            || (self.events.len() < CATCH_UP_PAGE_EVENTS
                && self.bytes + bytes <= CATCH_UP_PAGE_BYTES)
    }

    fn encode(&self, more: bool) -> String {
        let events: Vec<(&str, &str)> = self
            .events
            .iter()
            .map(|e| (e.event.as_str(), &*e.payload))
            .collect();
        CatchUpPage::encode(&self.entries, &events, more)
    }
}

/// The positions without repeats (the first position of a conversation counts).
fn distinct(positions: Vec<CatchUpPosition>) -> Vec<CatchUpPosition> {
    let mut seen = HashSet::new();
    positions
        .into_iter()
        .filter(|p| {
            let key = ConversationId::parse(&p.conversation)
                .map(|id| id.to_string())
                .unwrap_or_else(|| p.conversation.to_lowercase());
            seen.insert(key)
        })
        .collect()
}

impl Engine {
    pub(crate) fn catch_up(&mut self, ctx: &Ctx, req: CatchUp) -> Outcome {
        if req.positions.is_empty() {
            return Err(ErrorCode::NothingRequested.into());
        }
        if req.positions.len() > MAX_CATCH_UP_POSITIONS {
            return Err(ErrorCode::TooMany.into());
        }
        let mut page = Page::default();
        // Whether something listed is not covered up to its last seq by this page.
        let mut more = false;
        for position in distinct(req.positions) {
            let plan = self.plan(ctx.user, position);
            let bytes = serde_json::to_string(&plan.entry).map_or(0, |s| s.len());
            if !page.entry_fits(bytes) {
                // This conversation and the ones after it wait for the next page.
                more = true;
                break;
            }
            page.bytes += bytes;
            let mut entry = plan.entry;
            if let (Some((first, last)), Some(id)) = (plan.wanted, plan.conversation) {
                let covered_to = self.fill(ctx.user, id, first, last, &mut page)?;
                if let Some(to) = covered_to {
                    entry.from_seq = Some(Seq(first));
                    entry.to_seq = Some(Seq(to));
                }
                if covered_to != Some(last) {
                    more = true;
                }
            }
            page.entries.push(entry);
            if more {
                // The budget ran out inside this conversation.
                break;
            }
        }
        let frame = wrap(
            &EventName::CatchUp,
            ctx.request_uuid.as_deref(),
            &page_payload(ctx, &page.encode(more)),
        );
        self.out.reply(frame, &ctx.conn);
        Ok(())
    }

    /// The entry of one listed conversation and what is wanted from it.
    fn plan(&self, user: UserId, position: CatchUpPosition) -> Plan {
        let name = position.conversation;
        let id = ConversationId::parse(&name);
        let Some(conv) = id.and_then(|id| self.state.conversations.get(&id)) else {
            return Plan {
                entry: CatchUpEntry::new(name, CatchUpState::NotFound, 0),
                wanted: None,
                conversation: None,
            };
        };
        if conv.rec.deleted {
            return Plan {
                entry: CatchUpEntry::new(name, CatchUpState::Deleted, conv.rec.last_seq),
                wanted: None,
                conversation: None,
            };
        }
        let Some(member) = conv.members.get(&user) else {
            return Plan {
                entry: CatchUpEntry::new(name, CatchUpState::NotParticipant, 0),
                wanted: None,
                conversation: None,
            };
        };
        // The start of the latest participation interval: `joined_seq` of a participant,
        // where a `null` position starts (for a former participant too).
        let joined = member.intervals.last().map_or(1, |(a, _)| *a);
        let (mut entry, last) = match conv.left_at(user) {
            None => {
                let mut e = CatchUpEntry::new(name, CatchUpState::Participant, conv.rec.last_seq);
                e.joined_seq = Some(Seq(joined));
                e.last_read = Some(member.last_read);
                (e, conv.rec.last_seq)
            }
            Some(left) => (CatchUpEntry::new(name, CatchUpState::Former, left), left),
        };
        entry.object = Some(Box::new(conv.object()));
        let first = position.seq.map_or(joined, |p| p.saturating_add(1));
        Plan {
            entry,
            wanted: (first <= last).then_some((first, last)),
            conversation: id,
        }
    }

    /// Adds the events of `[first, last]` the caller may see to the page, as far as the budget
    /// allows. Returns the end of the covered range: `last` when every event fitted, else the
    /// seq of the last event included (`None` if none was).
    fn fill(
        &self,
        user: UserId,
        id: ConversationId,
        first: u64,
        last: u64,
        page: &mut Page,
    ) -> Result<Option<u64>, Fail> {
        let conv = self.conv(id);
        let mut included = None;
        let mut from = first;
        while from <= last {
            let to = last.min(from.saturating_add(READ_CHUNK - 1));
            for event in self.store.events(id, from, to)? {
                if !conv.visible(user, event.seq, event.is_message) {
                    // Hidden from the caller: covered, not sent.
                    continue;
                }
                let bytes = event.payload.len() + event.event.len() + EVENT_OVERHEAD;
                if !page.event_fits(bytes) {
                    return Ok(included);
                }
                page.bytes += bytes;
                included = Some(event.seq);
                page.events.push(event);
            }
            from = to + 1;
        }
        Ok(Some(last))
    }
}

/// The `onCatchUp` payload around an encoded page: the fields of every reply
/// (`initiator`, `on_incoming_event`, `timestamp`) and the page as `object`, the last field, as
/// `EventPayload` serializes it.
fn page_payload(ctx: &Ctx, page: &str) -> String {
    let mut payload = encode_payload(&EventPayload::new(
        Some(ctx.user),
        ctx.action.name(),
        ctx.now,
    ));
    payload.pop(); // the closing brace
    payload.reserve(page.len() + 12);
    payload.push_str(r#","object":"#);
    payload.push_str(page);
    payload.push('}');
    payload
}

#[cfg(test)]
mod tests {
    use super::*;
    use chatwire_protocol::{EventObject, ServerFrame};

    #[test]
    fn repeated_conversations_count_once_whatever_their_case() {
        let id = "6f1c2a9e-0b5d-4c3a-9e7f-1a2b3c4d5e6f";
        let positions = vec![
            CatchUpPosition {
                conversation: id.into(),
                seq: Some(3),
            },
            CatchUpPosition {
                conversation: "nope".into(),
                seq: None,
            },
            CatchUpPosition {
                conversation: id.to_uppercase(),
                seq: Some(9),
            },
            CatchUpPosition {
                conversation: "NOPE".into(),
                seq: Some(1),
            },
        ];
        let kept = distinct(positions);
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].seq, Some(3), "the first position counts");
        assert_eq!(kept[1].conversation, "nope");
    }

    #[test]
    fn a_page_always_takes_its_first_item_and_event() {
        let mut page = Page::default();
        assert!(page.entry_fits(CATCH_UP_PAGE_BYTES * 2));
        assert!(page.event_fits(CATCH_UP_PAGE_BYTES * 2));
        page.entries
            .push(CatchUpEntry::new("c", CatchUpState::NotFound, 0));
        page.bytes = CATCH_UP_PAGE_BYTES - 10;
        assert!(!page.entry_fits(11));
        assert!(page.entry_fits(10));
    }

    #[test]
    fn the_payload_reads_as_an_on_catch_up_frame() {
        let (conn, _rx) = crate::outbound::ConnShared::new(1);
        let ctx = Ctx {
            conn,
            user: UserId::new(1001).unwrap(),
            request_uuid: Some("r1".into()),
            action: chatwire_protocol::Action::CatchUp,
            now: 1_767_225_600,
        };
        let entries = [CatchUpEntry::new("c", CatchUpState::NotFound, 0)];
        let page = CatchUpPage::encode(&entries, &[], true);
        let text = chatwire_protocol::wrap_payload(
            &EventName::CatchUp,
            Some("r1"),
            &page_payload(&ctx, &page),
        );
        let frame = ServerFrame::decode(&text).unwrap();
        assert_eq!(frame.event, EventName::CatchUp);
        assert_eq!(frame.payload.on_incoming_event, "catchUp");
        assert_eq!(frame.payload.timestamp, 1_767_225_600);
        let Some(EventObject::CatchUp(page)) = frame.payload.object else {
            panic!("{text}")
        };
        assert!(page.more);
        assert_eq!(page.conversations, entries);
    }
}
