//! Conversations: create, edit, get, public list, join, leave, deletion (docs/BEHAVIOUR.md section 4).

use std::collections::HashMap;

use chatwire_protocol::{
    apply_merge_patch, custom_data_fits, ConversationId, ConversationRef, CreateConversation,
    EditConversation, ErrorCode, EventName, EventObject, EventPayload, GetConversations, JsonMap,
    Permissions, PublicConversationsObject, Seq, UserId, DEFAULT_TITLE, MAX_CUSTOM_DATA_BYTES,
    MAX_GET_CONVERSATIONS, MAX_PARTICIPANTS,
};

use super::state::{pair, Conversation};
use super::{encode_frame, Ctx, Engine, Fail, Outcome};
use crate::store::{ConversationRecord, IdKind, Write};

fn title_or_default(title: Option<String>) -> String {
    match title {
        Some(t) if !t.is_empty() => t,
        _ => DEFAULT_TITLE.to_string(),
    }
}

/// `data` with the merge patch applied: 0 when the result exceeds the custom data limit.
fn patched(data: &JsonMap, patch: &JsonMap) -> Result<JsonMap, Fail> {
    let mut data = data.clone();
    apply_merge_patch(&mut data, patch);
    if !custom_data_fits(&data) {
        return Err(Fail {
            code: ErrorCode::InvalidParameter,
            detail: Some(format!(
                "Invalid parameter: custom_data_patch: the patched custom data would exceed \
                 {MAX_CUSTOM_DATA_BYTES} bytes."
            )),
        });
    }
    Ok(data)
}

impl Engine {
    pub(crate) fn create_conversation(&mut self, ctx: &Ctx, req: CreateConversation) -> Outcome {
        let direct = req.direct == Some(true);
        if direct && (req.enable_public_join == Some(true) || req.uber_conversation == Some(true)) {
            return Err(ErrorCode::DirectNotPublicOrUber.into());
        }
        // Distinct others, first occurrence wins; the creator's own entry is ignored.
        let mut others: Vec<(UserId, Permissions)> = Vec::new();
        for p in &req.participants {
            if p.user_id != ctx.user && !others.iter().any(|(u, _)| *u == p.user_id) {
                others.push((p.user_id, p.flags.unwrap_or(Permissions::DEFAULT)));
            }
        }
        if direct && others.len() != 1 {
            return Err(ErrorCode::DirectNeedsOneOther.into());
        }
        if others.len() + 1 > MAX_PARTICIPANTS {
            return Err(ErrorCode::TooMany.into());
        }
        if others
            .iter()
            .any(|(u, _)| !self.state.users.contains_key(u))
        {
            return Err(ErrorCode::UserNotFound.into());
        }
        if others.iter().any(|(u, _)| self.state.users[u].rec.deleted) {
            return Err(ErrorCode::UserValidationFailed.into());
        }
        if direct {
            if let Some(existing) = self.state.direct.get(&pair(ctx.user, others[0].0)).copied() {
                let conv = self.conv(existing);
                let mut payload = self.payload(
                    ctx,
                    Some(EventObject::Conversation(Box::new(conv.object()))),
                );
                payload.seq = Some(Seq(conv.rec.last_seq));
                self.reply(ctx, EventName::CreateConversation, payload);
                return Ok(());
            }
        }

        let uuid = ConversationId::new_v4();
        let ordinal = self.allocate(IdKind::Ordinal)?;
        let rec = ConversationRecord {
            uuid,
            ordinal,
            title: title_or_default(req.title),
            direct,
            uber: req.uber_conversation == Some(true),
            public: req.enable_public_join == Some(true),
            custom_data: req.custom_data.unwrap_or_default(),
            created_at: ctx.now,
            last_update: ctx.now,
            last_seq: 0,
            next_position: 0,
            deleted: false,
        };
        let mut conv = Conversation {
            rec,
            members: HashMap::new(),
            participants: Vec::new(),
            fanout: None,
        };
        let event = conv.next_event(ctx.now);
        conv.admit(ctx.user, Permissions::ALL, event.0);
        for (user, flags) in &others {
            conv.admit(*user, *flags, event.0);
        }
        if conv.rec.public {
            self.state.public.insert(ordinal, uuid);
        }
        if direct {
            self.state.direct.insert(pair(ctx.user, others[0].0), uuid);
        }
        let participants = conv.participants.clone();
        let object = EventObject::Conversation(Box::new(conv.object()));
        self.state.conversations.insert(uuid, conv);
        for user in &participants {
            self.joined(*user, uuid);
            self.save_member(uuid, *user);
        }
        let frame = self.log_event(ctx, uuid, event, EventName::CreateConversation, object);
        self.deliver(ctx, frame, participants);
        Ok(())
    }

    pub(crate) fn edit_conversation(&mut self, ctx: &Ctx, req: EditConversation) -> Outcome {
        let id = self.conversation_id(&req.uuid)?;
        let conv = self.conv(id);
        let flags = conv.flags(ctx.user).ok_or(ErrorCode::NotParticipant)?;
        if !flags.is_owner() {
            return Err(ErrorCode::AccessDenied.into());
        }
        if conv.rec.direct && req.enable_public_join == Some(true) {
            return Err(ErrorCode::DirectNotPublicOrUber.into());
        }
        // A merge patch applies to the data as it is now, in seq order with every other edit
        // (chatwire extension, docs/PROTOCOL.md section 12.5).
        let custom_data = match req.custom_data_patch {
            Some(patch) => Some(patched(&conv.rec.custom_data, &patch)?),
            None => req.custom_data,
        };
        let conv = self.conv_mut(id);
        if let Some(title) = req.title {
            conv.rec.title = title_or_default(Some(title));
        }
        if let Some(public) = req.enable_public_join {
            conv.rec.public = public;
        }
        if let Some(data) = custom_data {
            conv.rec.custom_data = data;
        }
        let event = conv.next_event(ctx.now);
        let (ordinal, public) = (conv.rec.ordinal, conv.rec.public);
        if public {
            self.state.public.insert(ordinal, id);
        } else {
            self.state.public.remove(&ordinal);
        }
        self.broadcast_conversation_event(ctx, id, event, Vec::new());
        Ok(())
    }

    /// Logs an `onEditConversation` with the current snapshot and sends it to the participants
    /// and to `departed` (users who left or were removed by this event).
    pub(crate) fn broadcast_conversation_event(
        &mut self,
        ctx: &Ctx,
        id: ConversationId,
        event: (u64, i64),
        departed: Vec<UserId>,
    ) {
        let object = EventObject::Conversation(Box::new(self.conv(id).object()));
        let frame = self.log_event(ctx, id, event, EventName::EditConversation, object);
        let mut recipients = self.conv(id).participants.clone();
        recipients.extend(departed);
        self.deliver(ctx, frame, recipients);
    }

    /// Read access: participants, former participants and, for public conversations, anyone.
    fn check_read_access(&self, id: ConversationId, user: UserId) -> Result<(), Fail> {
        let conv = self.conv(id);
        if conv.members.contains_key(&user) || conv.rec.public {
            Ok(())
        } else {
            Err(ErrorCode::NotParticipant.into())
        }
    }

    fn get_result(&self, ctx: &Ctx, id: ConversationId) -> EventPayload {
        let conv = self.conv(id);
        let mut payload = self.payload(
            ctx,
            Some(EventObject::Conversation(Box::new(conv.object()))),
        );
        payload.seq = Some(Seq(conv.rec.last_seq));
        payload
    }

    pub(crate) fn get_conversation(&mut self, ctx: &Ctx, req: ConversationRef) -> Outcome {
        let id = self.conversation_id(&req.uuid)?;
        self.check_read_access(id, ctx.user)?;
        let payload = self.get_result(ctx, id);
        self.reply(ctx, EventName::GetConversation, payload);
        Ok(())
    }

    pub(crate) fn get_conversations(&mut self, ctx: &Ctx, req: GetConversations) -> Outcome {
        if req.uuid.is_empty() {
            return Err(ErrorCode::NothingRequested.into());
        }
        if req.uuid.len() > MAX_GET_CONVERSATIONS {
            return Err(ErrorCode::TooMany.into());
        }
        // Each check runs over every item before the next check (docs/BEHAVIOUR.md section 2.7).
        let found: Vec<Option<ConversationId>> = req
            .uuid
            .iter()
            .map(|u| {
                ConversationId::parse(u).filter(|id| self.state.conversations.contains_key(id))
            })
            .collect();
        if found.iter().any(Option::is_none) {
            return Err(ErrorCode::ConversationNotFound.into());
        }
        let ids: Vec<ConversationId> = found.into_iter().flatten().collect();
        if ids.iter().any(|id| self.conv(*id).rec.deleted) {
            return Err(ErrorCode::ConversationDeleted.into());
        }
        for id in &ids {
            self.check_read_access(*id, ctx.user)?;
        }
        let mut seen = std::collections::HashSet::new();
        for id in ids {
            if seen.insert(id) {
                let payload = self.get_result(ctx, id);
                self.reply(ctx, EventName::GetConversation, payload);
            }
        }
        Ok(())
    }

    pub(crate) fn get_public_conversations(&mut self, ctx: &Ctx) -> Outcome {
        let uuid = self.state.public.values().copied().collect();
        let payload = self.payload(
            ctx,
            Some(EventObject::PublicConversations(
                PublicConversationsObject { uuid },
            )),
        );
        self.reply(ctx, EventName::GetPublicConversations, payload);
        Ok(())
    }

    pub(crate) fn join_conversation(&mut self, ctx: &Ctx, req: ConversationRef) -> Outcome {
        let id = self.conversation_id(&req.uuid)?;
        let conv = self.conv(id);
        if conv.rec.direct {
            return Err(ErrorCode::DirectJoin.into());
        }
        if !conv.rec.public {
            return Err(ErrorCode::NotPublic.into());
        }
        if conv.is_participant(ctx.user) {
            return Err(ErrorCode::AlreadyParticipant.into());
        }
        if conv.participants.len() >= MAX_PARTICIPANTS {
            return Err(ErrorCode::TooMany.into());
        }
        let conv = self.conv_mut(id);
        let event = conv.next_event(ctx.now);
        conv.admit(ctx.user, Permissions::DEFAULT, event.0);
        self.joined(ctx.user, id);
        self.save_member(id, ctx.user);
        self.broadcast_conversation_event(ctx, id, event, Vec::new());
        Ok(())
    }

    pub(crate) fn leave_conversation(&mut self, ctx: &Ctx, req: ConversationRef) -> Outcome {
        let id = self.conversation_id(&req.uuid)?;
        let conv = self.conv(id);
        if conv.rec.direct {
            return Err(ErrorCode::DirectLeave.into());
        }
        if !conv.is_participant(ctx.user) {
            return Err(ErrorCode::NotParticipant.into());
        }
        self.depart(ctx, id, vec![ctx.user]);
        Ok(())
    }

    /// Removes `users` (all current participants) with one event: owner hand-over (D7), the
    /// `onEditConversation`, and deletion when nobody is left (section 4.5).
    pub(crate) fn depart(&mut self, ctx: &Ctx, id: ConversationId, users: Vec<UserId>) {
        let conv = self.conv_mut(id);
        let event = conv.next_event(ctx.now);
        for user in &users {
            conv.dismiss(*user, event.0);
        }
        self.hand_over_ownership(id);
        for user in &users {
            self.left(*user, id);
            self.save_member(id, *user);
        }
        self.broadcast_conversation_event(ctx, id, event, users.clone());
        if self.conv(id).participants.is_empty() {
            self.delete_conversation(ctx, id, users);
        }
    }

    /// D7: a non-empty conversation left without an owner gets the longest-standing remaining
    /// participant who is not deleted (else the first deleted one) as owner.
    fn hand_over_ownership(&mut self, id: ConversationId) {
        let conv = self.conv(id);
        if conv.participants.is_empty()
            || conv
                .participants
                .iter()
                .any(|u| conv.members[u].flags.is_owner())
        {
            return;
        }
        let heir = conv
            .participants
            .iter()
            .find(|u| self.state.users.get(u).is_some_and(|x| !x.rec.deleted))
            .or(conv.participants.first())
            .copied()
            .expect("non-empty");
        self.conv_mut(id)
            .members
            .get_mut(&heir)
            .expect("participant")
            .flags = Permissions::ALL;
        self.save_member(id, heir);
    }

    fn delete_conversation(&mut self, ctx: &Ctx, id: ConversationId, removed: Vec<UserId>) {
        let conv = self.conv_mut(id);
        let (seq, timestamp) = conv.next_event(ctx.now);
        conv.rec.deleted = true;
        let formers: Vec<UserId> = conv.members.keys().copied().collect();
        let mut object = conv.object();
        object.participants.clear();
        conv.members.clear();
        let (ordinal, rec) = (conv.rec.ordinal, conv.rec.clone());
        self.state.public.remove(&ordinal);
        for user in formers {
            if let Some(u) = self.state.users.get_mut(&user) {
                u.rec.conversations.retain(|c| *c != id);
                u.rec.left.retain(|c| *c != id);
                self.save_user(user);
            }
        }
        self.out.write(Write::Conversation(Box::new(rec)));
        self.out.write(Write::DeleteMembers(id));
        let mut payload = EventPayload::new(Some(ctx.user), "removeEmptyConversation", timestamp);
        payload.seq = Some(Seq(seq));
        payload.object = Some(EventObject::Conversation(Box::new(object)));
        let frame = encode_frame(
            EventName::RemoveConversation,
            ctx.request_uuid.as_deref(),
            payload,
        );
        self.announce_unlogged(&removed, &frame);
        let to = self.conns_of(removed);
        self.out.send(frame, to);
    }

    /// Bookkeeping of a user's lists when they become a participant.
    pub(crate) fn joined(&mut self, user: UserId, id: ConversationId) {
        if let Some(u) = self.state.users.get_mut(&user) {
            u.rec.left.retain(|c| *c != id);
            u.rec.conversations.retain(|c| *c != id);
            u.rec.conversations.push(id);
            self.save_user(user);
        }
    }

    /// Bookkeeping of a user's lists when they leave or are removed.
    pub(crate) fn left(&mut self, user: UserId, id: ConversationId) {
        if let Some(u) = self.state.users.get_mut(&user) {
            u.rec.conversations.retain(|c| *c != id);
            u.rec.left.retain(|c| *c != id);
            u.rec.left.push(id);
            self.save_user(user);
        }
    }
}
