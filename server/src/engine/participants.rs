//! Managing participants: add, edit, remove (docs/BEHAVIOUR.md sections 5.2 and 5.3).

use chatwire_protocol::{
    ErrorCode, ManageParticipants, Permissions, RemoveParticipants, UserId, MAX_PARTICIPANTS,
};

use super::{Ctx, Engine, Fail, Outcome};

/// First occurrence wins.
fn dedup<T: Copy, K: PartialEq>(
    items: impl IntoIterator<Item = T>,
    key: impl Fn(&T) -> K,
) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for item in items {
        if !out.iter().any(|o| key(o) == key(&item)) {
            out.push(item);
        }
    }
    out
}

impl Engine {
    pub(crate) fn add_participants(&mut self, ctx: &Ctx, req: ManageParticipants) -> Outcome {
        if req.participants.is_empty() {
            return Err(ErrorCode::NothingRequested.into());
        }
        let id = self.conversation_id(&req.uuid)?;
        let conv = self.conv(id);
        let caller = conv.flags(ctx.user).ok_or(ErrorCode::NotParticipant)?;
        if conv.rec.direct {
            return Err(ErrorCode::DirectAdd.into());
        }
        if !caller.contains(Permissions::MANAGE) {
            return Err(ErrorCode::AccessDenied.into());
        }
        let list: Vec<(UserId, Permissions)> = dedup(
            req.participants
                .iter()
                .map(|p| (p.user_id, p.flags.unwrap_or(Permissions::DEFAULT))),
            |(u, _)| *u,
        );
        if list.iter().any(|(u, _)| !self.state.users.contains_key(u)) {
            return Err(ErrorCode::UserNotFound.into());
        }
        if list.iter().any(|(u, _)| self.state.users[u].rec.deleted) {
            return Err(ErrorCode::UserValidationFailed.into());
        }
        if !caller.is_owner() && list.iter().any(|(_, f)| f.is_owner()) {
            return Err(ErrorCode::AccessDenied.into());
        }
        if list.iter().any(|(u, _)| conv.is_participant(*u)) {
            return Err(ErrorCode::AlreadyParticipant.into());
        }
        if conv.participants.len() + list.len() > MAX_PARTICIPANTS {
            return Err(ErrorCode::TooMany.into());
        }
        let conv = self.conv_mut(id);
        let event = conv.next_event(ctx.now);
        for (user, flags) in &list {
            conv.admit(*user, *flags, event.0);
        }
        for (user, _) in &list {
            self.joined(*user, id);
            self.save_member(id, *user);
        }
        self.broadcast_conversation_event(ctx, id, event, Vec::new());
        Ok(())
    }

    pub(crate) fn edit_participants(&mut self, ctx: &Ctx, req: ManageParticipants) -> Outcome {
        if req.participants.is_empty() {
            return Err(ErrorCode::NothingRequested.into());
        }
        let id = self.conversation_id(&req.uuid)?;
        let conv = self.conv(id);
        let caller = conv.flags(ctx.user).ok_or(ErrorCode::NotParticipant)?;
        if !caller.contains(Permissions::MANAGE) {
            return Err(ErrorCode::AccessDenied.into());
        }
        let list: Vec<(UserId, Permissions)> = dedup(
            req.participants
                .iter()
                .map(|p| (p.user_id, p.flags.unwrap_or(Permissions::DEFAULT))),
            |(u, _)| *u,
        );
        if list.iter().any(|(u, _)| !self.state.users.contains_key(u)) {
            return Err(ErrorCode::UserNotFound.into());
        }
        if list.iter().any(|(u, _)| !conv.is_participant(*u)) {
            return Err(ErrorCode::NotParticipant.into());
        }
        let touches_owner = list
            .iter()
            .any(|(u, f)| f.is_owner() || conv.members[u].flags.is_owner());
        if touches_owner && !caller.is_owner() {
            return Err(ErrorCode::AccessDenied.into());
        }
        let owner_left =
            conv.participants
                .iter()
                .any(|u| match list.iter().find(|(l, _)| l == u) {
                    Some((_, f)) => f.is_owner(),
                    None => conv.members[u].flags.is_owner(),
                });
        if !owner_left {
            return Err(no_owner());
        }
        let conv = self.conv_mut(id);
        let event = conv.next_event(ctx.now);
        for (user, flags) in &list {
            conv.members.get_mut(user).expect("participant").flags = *flags;
        }
        for (user, _) in &list {
            self.save_member(id, *user);
        }
        self.broadcast_conversation_event(ctx, id, event, Vec::new());
        Ok(())
    }

    pub(crate) fn remove_participants(&mut self, ctx: &Ctx, req: RemoveParticipants) -> Outcome {
        if req.participants.is_empty() {
            return Err(ErrorCode::NothingRequested.into());
        }
        let id = self.conversation_id(&req.uuid)?;
        let conv = self.conv(id);
        let caller = conv.flags(ctx.user).ok_or(ErrorCode::NotParticipant)?;
        if conv.rec.direct {
            return Err(ErrorCode::DirectRemove.into());
        }
        if !caller.contains(Permissions::MANAGE) {
            return Err(ErrorCode::AccessDenied.into());
        }
        let list = dedup(req.participants.iter().copied(), |u| *u);
        if list.iter().any(|u| !self.state.users.contains_key(u)) {
            return Err(ErrorCode::UserNotFound.into());
        }
        if list.iter().any(|u| !conv.is_participant(*u)) {
            return Err(ErrorCode::NotParticipant.into());
        }
        if !caller.is_owner() && list.iter().any(|u| conv.members[u].flags.is_owner()) {
            return Err(ErrorCode::AccessDenied.into());
        }
        self.depart(ctx, id, list);
        Ok(())
    }
}

/// The refusal of an `editParticipants` that would leave no owner.
fn no_owner() -> Fail {
    Fail {
        code: ErrorCode::AccessDenied,
        detail: Some("Access denied: the conversation would be left without an owner.".into()),
    }
}
