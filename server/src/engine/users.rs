//! Users: lookup, editUser, presence, subscriptions, manageNotification (docs/BEHAVIOUR.md section 3).

use std::collections::HashSet;

use chatwire_protocol::{
    EditUser, ErrorCode, EventName, EventObject, EventPayload, GetUsers, ManageNotification,
    SetStatus, StatusObject, Subscribe, SubscriptionListObject, Unsubscribe, UserId, UserIdsObject,
    UserRef, MAX_GET_USERS, MAX_SUBSCRIBE_IDS, MAX_SUBSCRIPTIONS,
};

use super::{encode_frame, Ctx, Engine, Fail, Outcome};
use crate::names::short_name;
use crate::outbound::ConnId;

/// The values `manageNotification` accepts.
const NOTIFICATION_EVENTS: [&str; 3] = ["onSendMessage", "onEditMessage", "onCreateConversation"];

impl Engine {
    /// Resolves a user reference: unknown ids and names give 25.
    pub(crate) fn resolve_user(&self, user: &UserRef) -> Result<UserId, Fail> {
        let id = match user {
            UserRef::Id(id) => self.state.users.contains_key(id).then_some(*id),
            UserRef::Name(name) => short_name(name, &self.config.domain)
                .and_then(|n| self.state.by_name.get(&n).copied()),
        };
        id.ok_or_else(|| ErrorCode::UserNotFound.into())
    }

    fn user_frame_object(&self, user: UserId, viewer: UserId) -> EventObject {
        let rec = &self.state.users[&user].rec;
        EventObject::User(Box::new(self.state.user_object(
            rec,
            viewer == user,
            &self.config.domain,
        )))
    }

    fn public_user_object(&self, user: UserId) -> EventObject {
        let rec = &self.state.users[&user].rec;
        EventObject::User(Box::new(self.state.user_object(
            rec,
            false,
            &self.config.domain,
        )))
    }

    pub(crate) fn get_user(&mut self, ctx: &Ctx, user: UserRef) -> Outcome {
        let id = self.resolve_user(&user)?;
        let payload = self.payload(ctx, Some(self.user_frame_object(id, ctx.user)));
        self.reply(ctx, EventName::GetUser, payload);
        Ok(())
    }

    pub(crate) fn get_users(&mut self, ctx: &Ctx, req: GetUsers) -> Outcome {
        if req.users.is_empty() {
            return Err(ErrorCode::NothingRequested.into());
        }
        if req.users.len() > MAX_GET_USERS {
            return Err(ErrorCode::TooMany.into());
        }
        let ids = req
            .users
            .iter()
            .map(|u| self.resolve_user(u))
            .collect::<Result<Vec<_>, _>>()?;
        let mut seen = HashSet::new();
        for id in ids {
            if seen.insert(id) {
                let payload = self.payload(ctx, Some(self.user_frame_object(id, ctx.user)));
                self.reply(ctx, EventName::GetUser, payload);
            }
        }
        Ok(())
    }

    /// Sends a user's `onEditUser`: self view to the caller and the user's other connections,
    /// and (when `to_subscribers`) the public view to subscribers' connections.
    fn broadcast_user(&mut self, ctx: &Ctx, to_subscribers: bool) {
        let own = encode_frame(
            EventName::EditUser,
            ctx.request_uuid.as_deref(),
            self.payload(ctx, Some(self.user_frame_object(ctx.user, ctx.user))),
        );
        self.deliver(ctx, own, [ctx.user]);
        if to_subscribers {
            let subscribers: Vec<UserId> = self
                .state
                .subscribers
                .get(&ctx.user)
                .map(|s| s.iter().copied().filter(|u| *u != ctx.user).collect())
                .unwrap_or_default();
            let public_view = self.payload(ctx, Some(self.public_user_object(ctx.user)));
            let frame = encode_frame(
                EventName::EditUser,
                ctx.request_uuid.as_deref(),
                public_view,
            );
            let to = self.conns_of(subscribers);
            self.out.send(frame, to);
        }
    }

    pub(crate) fn edit_user(&mut self, ctx: &Ctx, req: EditUser) -> Outcome {
        let user = &mut self
            .state
            .users
            .get_mut(&ctx.user)
            .expect("caller exists")
            .rec;
        if let Some(data) = req.custom_data {
            user.custom_data = data;
        }
        if let Some(data) = req.private_custom_data {
            user.private_custom_data = data;
        }
        self.save_user(ctx.user);
        self.broadcast_user(ctx, true);
        Ok(())
    }

    pub(crate) fn manage_notification(&mut self, ctx: &Ctx, req: ManageNotification) -> Outcome {
        let list = req.notifications.unwrap_or_default();
        if list
            .iter()
            .any(|n| !NOTIFICATION_EVENTS.contains(&n.as_str()))
        {
            return Err(ErrorCode::UnsupportedNotification.into());
        }
        let mut selected: Vec<String> = Vec::new();
        for n in list {
            if !selected.contains(&n) {
                selected.push(n);
            }
        }
        self.state
            .users
            .get_mut(&ctx.user)
            .expect("caller exists")
            .rec
            .notification_events = selected;
        self.save_user(ctx.user);
        self.broadcast_user(ctx, false);
        Ok(())
    }

    /// Whether at least one of the user's connections, on this node or another, has set
    /// online.
    pub(crate) fn aggregate_online(&self, user: UserId) -> bool {
        self.online_here(user) || self.online_elsewhere(user)
    }

    /// Whether at least one of the user's connections on this node has set online.
    pub(crate) fn online_here(&self, user: UserId) -> bool {
        self.state.users.get(&user).is_some_and(|u| {
            u.conns
                .iter()
                .any(|c| self.state.conns.get(c).is_some_and(|c| c.online))
        })
    }

    /// The user and every subscriber of the user.
    pub(crate) fn presence_audience(&self, user: UserId) -> Vec<UserId> {
        let mut users = vec![user];
        if let Some(subs) = self.state.subscribers.get(&user) {
            users.extend(subs.iter().copied().filter(|u| *u != user));
        }
        users
    }

    pub(crate) fn set_status(&mut self, ctx: &Ctx, req: SetStatus) -> Outcome {
        if let Some(conn) = self.state.conns.get_mut(&ctx.conn.id) {
            conn.online = req.online;
        }
        let here = self.online_here(ctx.user);
        self.publish_presence(ctx.user, here);
        let online = self.aggregate_online(ctx.user);
        let frame = encode_frame(
            EventName::SetStatus,
            ctx.request_uuid.as_deref(),
            self.payload(ctx, Some(EventObject::Status(StatusObject { online }))),
        );
        let audience = self.presence_audience(ctx.user);
        self.deliver(ctx, frame, audience);
        Ok(())
    }

    /// A connection closed: forget it and send the offline presence if it was the user's last
    /// online connection (D11).
    pub(crate) fn detach(&mut self, conn_id: ConnId, now: i64) {
        let Some(conn) = self.state.conns.remove(&conn_id) else {
            return;
        };
        self.state.conn_generation += 1;
        if let Some(user) = self.state.users.get_mut(&conn.user) {
            user.conns.retain(|c| *c != conn_id);
        }
        let here = self.online_here(conn.user);
        self.publish_presence(conn.user, here);
        if conn.online && !self.aggregate_online(conn.user) {
            let mut payload = EventPayload::new(Some(conn.user), "setStatus", now);
            payload.object = Some(EventObject::Status(StatusObject { online: false }));
            let frame = encode_frame(EventName::SetStatus, None, payload);
            let to = self.conns_of(self.presence_audience(conn.user));
            self.out.send(frame, to);
        }
    }

    pub(crate) fn subscribe(&mut self, ctx: &Ctx, req: Subscribe) -> Outcome {
        if req.user_id.is_empty() {
            return Err(ErrorCode::NothingRequested.into());
        }
        if req.user_id.len() > MAX_SUBSCRIBE_IDS {
            return Err(ErrorCode::TooMany.into());
        }
        if req
            .user_id
            .iter()
            .any(|u| !self.state.users.contains_key(u))
        {
            return Err(ErrorCode::UserNotFound.into());
        }
        let mut requested: Vec<UserId> = Vec::new();
        for id in req.user_id {
            if !requested.contains(&id) {
                requested.push(id);
            }
        }
        let current = &self.state.users[&ctx.user].rec.subscriptions;
        let new: Vec<UserId> = requested
            .iter()
            .copied()
            .filter(|u| !current.contains(u))
            .collect();
        if current.len() + new.len() > MAX_SUBSCRIPTIONS {
            return Err(ErrorCode::TooMany.into());
        }
        for target in &new {
            self.state
                .subscribers
                .entry(*target)
                .or_default()
                .insert(ctx.user);
        }
        self.state
            .users
            .get_mut(&ctx.user)
            .expect("caller")
            .rec
            .subscriptions
            .extend(new);
        self.save_user(ctx.user);
        let frame = encode_frame(
            EventName::Subscribe,
            ctx.request_uuid.as_deref(),
            self.payload(
                ctx,
                Some(EventObject::UserIds(UserIdsObject { user_id: requested })),
            ),
        );
        self.deliver(ctx, frame, [ctx.user]);
        Ok(())
    }

    pub(crate) fn unsubscribe(&mut self, ctx: &Ctx, req: Unsubscribe) -> Outcome {
        let all = req.all == Some(true);
        let list = req.user_id.unwrap_or_default();
        if !all && list.is_empty() {
            return Err(ErrorCode::NothingRequested.into());
        }
        let user = &mut self.state.users.get_mut(&ctx.user).expect("caller").rec;
        let removed: Vec<UserId> = if all {
            std::mem::take(&mut user.subscriptions)
        } else {
            let mut removed = Vec::new();
            for id in list {
                if let Some(pos) = user.subscriptions.iter().position(|u| *u == id) {
                    user.subscriptions.remove(pos);
                    removed.push(id);
                }
            }
            removed
        };
        for target in &removed {
            if let Some(set) = self.state.subscribers.get_mut(target) {
                set.remove(&ctx.user);
            }
        }
        self.save_user(ctx.user);
        let frame = encode_frame(
            EventName::Unsubscribe,
            ctx.request_uuid.as_deref(),
            self.payload(
                ctx,
                Some(EventObject::UserIds(UserIdsObject { user_id: removed })),
            ),
        );
        self.deliver(ctx, frame, [ctx.user]);
        Ok(())
    }

    pub(crate) fn get_subscription_list(&mut self, ctx: &Ctx) -> Outcome {
        let subscriptions = self.state.users[&ctx.user].rec.subscriptions.clone();
        let payload = self.payload(
            ctx,
            Some(EventObject::SubscriptionList(SubscriptionListObject {
                subscriptions,
            })),
        );
        self.reply(ctx, EventName::GetSubscriptionList, payload);
        Ok(())
    }
}
