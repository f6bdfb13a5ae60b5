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
//! `connect()` returns when every step of the first catch-up is done.

use chatwire_protocol::{
    ConversationId, ConversationRef, DecodeError, ErrorCode, EventObject, GetConversations,
    Request, RetransmitEvents, ServerFrame, UserRef, MAX_GET_CONVERSATIONS, MAX_RETRANSMIT,
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
        if let (Some(old), Some(new)) = (&self.epoch, &me.store_epoch) {
            if old != new {
                tracing::warn!("the server's data store changed; restarting event tracking");
                self.sync = None;
                self.synced_once = false;
                self.emit(Event::HistoryReset);
            }
        }
        if me.store_epoch.is_some() {
            self.epoch = me.store_epoch.clone();
        }
        self.me = Some(me.user_id);
        self.out.me.send_replace(Some(me.user_id));
        let sync = self.sync.get_or_insert_with(|| SeqSync::new(me.user_id));
        let mut ids = sync.known();
        for id in me.conversations_list.unwrap_or_default() {
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
            let _ = self.out.events.send(Event::HistoryReset);
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
