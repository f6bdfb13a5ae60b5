//! Catching up after every login, and discovering conversations joined while away.
//!
//! 1. `getUser` of ourselves ([`Internal::Me`]): our id, the store epoch and
//!    `conversations_list`.
//! 2. `getConversations` in batches of [`MAX_GET_CONVERSATIONS`] for every tracked and listed
//!    conversation; a batch refused with 8, 16 or 19 is asked again one by one.
//! 3. Each conversation's current state ([`Task::observe`]) sets the seq target; the gap logic
//!    of [`SeqSync`] fills the rest.
//! 4. A conversation we were added to while disconnected is scanned backwards
//!    ([`Internal::Scan`]) to the event where its snapshots start to include us.
//!
//! With the server's one-request catch-up extension (`catchUp`, docs/PROTOCOL.md section 12.4),
//! steps 2 to 4 after a reconnect are pages of `catchUp` instead: the positions of every tracked
//! conversation (and `null` for those in `conversations_list` we do not know), at most
//! [`MAX_CATCH_UP_POSITIONS`] per request, each page answered with the covered ranges and their
//! events; a page that ends early is followed by another from the advanced positions.
//!
//! `connect()` returns when every step of the first catch-up is done.

use std::collections::HashMap;

use chatwire_protocol::{
    CatchUp, CatchUpPosition, CatchUpState, ConversationId, ConversationRef, DecodeError,
    ErrorCode, EventObject, GetConversations, Request, RetransmitEvents, ServerFrame, UserRef,
    EXT_CATCH_UP, MAX_CATCH_UP_POSITIONS, MAX_GET_CONVERSATIONS, MAX_RETRANSMIT,
};

use super::pending::Internal;
use super::sync::SeqSync;
use super::Task;
use crate::error::{Error, Result};
use crate::event::Event;

impl Task {
    /// Queues the first catch-up step for user `user` (just logged in).
    pub(super) fn start_catchup(&mut self, user: String) {
        self.catchup_left = 1;
        self.internal
            .push_back((Request::GetUser(UserRef::Name(user)), Internal::Me));
    }

    /// Our own user record: who we are, whether the server's store changed, and which
    /// conversations to read.
    pub(super) fn on_me(&mut self, result: Result<Vec<ServerFrame>>) {
        let me = match result {
            Ok(frames) => frames
                .into_iter()
                .next()
                .and_then(|f| match f.payload.object {
                    Some(EventObject::User(u)) => Some(*u),
                    _ => None,
                }),
            Err(e) => {
                tracing::warn!(error = %e, "could not read own user");
                None
            }
        };
        let Some(me) = me else {
            self.catchup_left = 0;
            if let Some(ready) = self.ready.take() {
                let _ = ready.send(Err(Error::Protocol(DecodeError::Malformed(
                    "own user record".into(),
                ))));
            }
            return;
        };
        let mut reset = false;
        if let (Some(old), Some(new)) = (&self.epoch, &me.store_epoch) {
            if old != new {
                tracing::warn!("the server's data store changed; restarting event tracking");
                self.sync = None;
                self.synced_once = false;
                reset = true;
                self.emit(Event::HistoryReset);
            }
        }
        if me.store_epoch.is_some() {
            self.epoch = me.store_epoch.clone();
        }
        match self.resume_from_store(me.user_id, reset) {
            Err(e) => {
                self.catchup_left = 0;
                if let Some(ready) = self.ready.take() {
                    let _ = ready.send(Err(e.into()));
                }
                return;
            }
            Ok(true) => {
                // Resuming: what was missed can be more than the event buffer holds, and the
                // stream waits for the application to read it, so `connect()` returns now and
                // the catch-up arrives on the stream.
                if let Some(ready) = self.ready.take() {
                    let _ = ready.send(Ok(()));
                }
            }
            Ok(false) => {}
        }
        self.me = Some(me.user_id);
        self.out.me.send_replace(Some(me.user_id));
        let sync = self.sync.get_or_insert_with(|| SeqSync::new(me.user_id));
        let listed = me.conversations_list.unwrap_or_default();
        let one_request = self.synced_once
            && self
                .extensions
                .as_ref()
                .is_some_and(|e| e.has(EXT_CATCH_UP));
        if one_request {
            let mut positions: Vec<(ConversationId, Option<u64>)> = sync
                .known()
                .into_iter()
                .map(|id| (id, sync.delivered(id)))
                .collect();
            for id in listed {
                if !sync.is_tracked(id) {
                    // Joined while away: hold its live events until the page says where we
                    // joined.
                    sync.hold(id);
                    positions.push((id, None));
                }
            }
            for chunk in positions.chunks(MAX_CATCH_UP_POSITIONS) {
                self.queue_catch_up(chunk.to_vec());
            }
            for frame in std::mem::take(&mut self.early) {
                self.route_event(frame);
            }
            self.catchup_step_done();
            return;
        }
        let mut ids = sync.known();
        for id in listed {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        for batch in ids.chunks(MAX_GET_CONVERSATIONS) {
            self.catchup_left += 1;
            let request = Request::GetConversations(GetConversations {
                uuid: batch.iter().map(|c| c.to_string()).collect(),
            });
            self.internal
                .push_back((request, Internal::Conversations(batch.to_vec())));
        }
        for frame in std::mem::take(&mut self.early) {
            self.route_event(frame);
        }
        self.catchup_step_done();
    }

    /// One `getConversations` batch; if refused because one of them is gone or not ours any
    /// more, each is asked on its own.
    pub(super) fn on_conversations(
        &mut self,
        ids: Vec<ConversationId>,
        result: Result<Vec<ServerFrame>>,
    ) {
        match result {
            Ok(frames) => frames.iter().for_each(|f| self.observe(f)),
            Err(e)
                if matches!(
                    e.code(),
                    Some(
                        ErrorCode::ConversationNotFound
                            | ErrorCode::ConversationDeleted
                            | ErrorCode::NotParticipant
                    )
                ) =>
            {
                for id in ids {
                    self.catchup_left += 1;
                    self.internal.push_back((
                        Request::GetConversation(ConversationRef {
                            uuid: id.to_string(),
                        }),
                        Internal::Conversation(id),
                    ));
                }
            }
            Err(e) => tracing::warn!(error = %e, "catch-up: getConversations failed"),
        }
        self.catchup_step_done();
    }

    /// One conversation asked on its own: deleted (announced if tracked), not ours any more
    /// (forgotten), or its current state.
    pub(super) fn on_conversation(&mut self, id: ConversationId, result: Result<Vec<ServerFrame>>) {
        match result {
            Ok(frames) => frames.iter().for_each(|f| self.observe(f)),
            Err(e) => match e.code() {
                Some(ErrorCode::ConversationNotFound | ErrorCode::ConversationDeleted) => {
                    if self.sync.as_ref().is_some_and(|s| s.is_tracked(id)) {
                        self.emit(Event::ConversationRemoved {
                            meta: None,
                            conversation: id,
                        });
                    }
                    if let Some(s) = self.sync.as_mut() {
                        s.forget(id);
                    }
                }
                Some(ErrorCode::NotParticipant) => {
                    if let Some(s) = self.sync.as_mut() {
                        s.forget(id);
                    }
                }
                _ => tracing::warn!(error = %e, "catch-up: getConversation failed"),
            },
        }
        self.catchup_step_done();
    }

    /// A conversation's current state during catch-up.
    fn observe(&mut self, frame: &ServerFrame) {
        let (Some(EventObject::Conversation(c)), Some(sync)) =
            (&frame.payload.object, self.sync.as_mut())
        else {
            return;
        };
        let last = frame
            .payload
            .seq
            .map(|s| s.get())
            .unwrap_or(c.last_seq.get());
        let member = c.participants.iter().any(|p| Some(p.user_id) == self.me);
        if sync
            .delivered(c.uuid)
            .is_some_and(|delivered| last < delivered)
        {
            // The server's log went back (a data dir restored from a backup): its seqs after
            // `last` will name other events, so start this conversation over from now.
            tracing::warn!(conversation = %c.uuid, last, "conversation history went back; resetting it");
            sync.forget(c.uuid);
            sync.track_from(c.uuid, last);
            self.emit(Event::HistoryReset);
        } else if sync.is_tracked(c.uuid) {
            sync.set_last(c.uuid, last);
        } else if member && !self.synced_once {
            // On the first login, history starts now (older events on request).
            sync.track_from(c.uuid, last);
        } else if member {
            // Added while we were disconnected: deliver everything since we joined.
            sync.discover(c.uuid, last);
            self.scans.insert(c.uuid, Vec::new());
            self.queue_scan(c.uuid, last);
        }
    }

    fn queue_scan(&mut self, conversation: ConversationId, to: u64) {
        let request = Request::RetransmitEvents(RetransmitEvents {
            conversation: conversation.to_string(),
            events_from: None,
            events_to: Some(to as i64),
            count: Some(to.min(MAX_RETRANSMIT) as i64),
        });
        self.internal
            .push_back((request, Internal::Scan { conversation }));
    }

    /// One page of a backward scan: stop at the newest point where the snapshots stop
    /// including us (we joined with the conversation event after it), or at seq 1.
    pub(super) fn on_scan(
        &mut self,
        conversation: ConversationId,
        result: Result<Vec<ServerFrame>>,
    ) {
        let Some(mut collected) = self.scans.remove(&conversation) else {
            return;
        };
        let frames = match result {
            Ok(frames) => frames,
            Err(e) => {
                tracing::warn!(error = %e, %conversation, "discovery failed");
                if let Some(sync) = self.sync.as_mut() {
                    sync.forget(conversation);
                }
                return;
            }
        };
        let from = frames
            .first()
            .and_then(|f| f.payload.from_seq)
            .map(|s| s.get())
            .unwrap_or(1);
        collected.extend(frames.into_iter().filter_map(Event::from_retransmitted));
        collected.sort_by_key(|(seq, _)| std::cmp::Reverse(*seq));
        let mut join = None;
        let mut boundary = None;
        for (seq, ev) in &collected {
            if let Event::ConversationCreated {
                conversation: c, ..
            }
            | Event::ConversationEdited {
                conversation: c, ..
            } = ev
            {
                if self.me.is_some_and(|me| c.participant(me).is_some()) {
                    join = Some(*seq);
                } else {
                    boundary = Some(*seq);
                    break;
                }
            }
        }
        if boundary.is_none() && from > 1 {
            self.scans.insert(conversation, collected);
            self.queue_scan(conversation, from - 1);
            return;
        }
        let join = join.or(boundary.map(|b| b + 1)).unwrap_or(1);
        let mut out = Vec::new();
        if let Some(sync) = self.sync.as_mut() {
            sync.discovered(conversation, join, collected, &mut out);
        }
        self.emit_all(out);
    }

    fn queue_catch_up(&mut self, positions: Vec<(ConversationId, Option<u64>)>) {
        self.catchup_left += 1;
        self.catchup_pages += 1;
        let request = Request::CatchUp(CatchUp {
            positions: positions
                .iter()
                .map(|(id, seq)| CatchUpPosition {
                    conversation: id.to_string(),
                    seq: *seq,
                })
                .collect(),
        });
        self.internal
            .push_back((request, Internal::CatchUp(positions)));
    }

    /// One `onCatchUp` page: deliver the covered ranges, drop what is gone, and ask for the
    /// rest from the advanced positions.
    pub(super) fn on_catch_up(
        &mut self,
        positions: Vec<(ConversationId, Option<u64>)>,
        result: Result<Vec<ServerFrame>>,
    ) {
        self.catchup_pages = self.catchup_pages.saturating_sub(1);
        let page = match result {
            Ok(frames) => frames
                .into_iter()
                .next()
                .and_then(|f| match f.payload.object {
                    Some(EventObject::CatchUp(page)) => Some(*page),
                    _ => None,
                }),
            Err(e) => {
                // Retryable refusals never get here (they are sent again); a permanent one
                // means the server cannot serve this request: fall back to the original calls.
                tracing::warn!(error = %e, "catch-up refused; falling back to getConversations");
                None
            }
        };
        let Some(page) = page else {
            self.fall_back(positions);
            self.catchup_step_done();
            return;
        };
        let mut remaining: Vec<(ConversationId, Option<u64>)> = positions;
        let mut by_conv: HashMap<ConversationId, Vec<(u64, crate::event::Event)>> = HashMap::new();
        for inner in page.events {
            let Some(seq) = inner.payload.seq.map(|s| s.get()) else {
                continue;
            };
            let frame = ServerFrame {
                event: inner.event,
                request_uuid: None,
                payload: inner.payload,
            };
            if let Some(event) = crate::event::Event::from_frame(frame, true) {
                if let Some(conv) = event.conversation() {
                    by_conv.entry(conv).or_default().push((seq, event));
                }
            }
        }
        let mut out = Vec::new();
        for entry in page.conversations {
            let Some(id) = entry.id() else { continue };
            let Some(slot) = remaining.iter().position(|(c, _)| *c == id) else {
                continue;
            };
            let Some(sync) = self.sync.as_mut() else {
                return;
            };
            let position = remaining[slot].1;
            let done = match entry.state {
                CatchUpState::Participant | CatchUpState::Former
                    if position.is_some_and(|p| entry.last_seq < p) =>
                {
                    // The server's log went back (a data dir restored from a backup): its seqs
                    // after `last_seq` will name other events, so start over from now.
                    tracing::warn!(conversation = %id, last = entry.last_seq, "conversation history went back; resetting it");
                    sync.forget(id);
                    sync.track_from(id, entry.last_seq);
                    out.push(crate::event::Event::HistoryReset);
                    true
                }
                CatchUpState::Participant | CatchUpState::Former => {
                    let events = by_conv.remove(&id).unwrap_or_default();
                    match entry.covered() {
                        Some(range) => {
                            sync.caught_up(id, range, entry.last_seq, events, &mut out);
                            remaining[slot].1 = Some(range.1);
                            range.1 >= entry.last_seq
                        }
                        None if sync.is_held(id) => false,
                        None if entry.state == CatchUpState::Former => {
                            // Our leave was delivered already.
                            sync.forget(id);
                            true
                        }
                        None => {
                            sync.set_last(id, entry.last_seq);
                            remaining[slot].1.is_some_and(|p| p >= entry.last_seq)
                        }
                    }
                }
                CatchUpState::Deleted | CatchUpState::NotFound => {
                    if sync.is_tracked(id) && !sync.is_held(id) {
                        out.push(crate::event::Event::ConversationRemoved {
                            meta: None,
                            conversation: id,
                        });
                    }
                    sync.forget(id);
                    true
                }
                _ => {
                    sync.forget(id);
                    true
                }
            };
            if done {
                remaining.remove(slot);
            }
        }
        self.emit_all(out);
        if page.more && !remaining.is_empty() {
            self.queue_catch_up(remaining);
        } else if let Some(sync) = self.sync.as_mut() {
            // Nothing more will come for these: stop holding their live events.
            for (id, _) in remaining {
                if sync.is_held(id) {
                    sync.forget(id);
                }
            }
        }
        self.catchup_step_done();
    }

    /// The original calls for positions the extension could not serve.
    fn fall_back(&mut self, positions: Vec<(ConversationId, Option<u64>)>) {
        if let Some(sync) = self.sync.as_mut() {
            for (id, _) in &positions {
                if sync.is_held(*id) {
                    // Discovered the original way (a backward scan).
                    sync.forget(*id);
                }
            }
        }
        let ids: Vec<ConversationId> = positions.into_iter().map(|(id, _)| id).collect();
        for batch in ids.chunks(MAX_GET_CONVERSATIONS) {
            self.catchup_left += 1;
            let request = Request::GetConversations(GetConversations {
                uuid: batch.iter().map(|c| c.to_string()).collect(),
            });
            self.internal
                .push_back((request, Internal::Conversations(batch.to_vec())));
        }
    }

    /// One catch-up step finished; the last one completes `connect()`.
    fn catchup_step_done(&mut self) {
        self.catchup_left = self.catchup_left.saturating_sub(1);
        if self.catchup_left == 0 {
            self.synced_once = true;
            if let Some(ready) = self.ready.take() {
                let _ = ready.send(Ok(()));
            }
        }
    }
}
