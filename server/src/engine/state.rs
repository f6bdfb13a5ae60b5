//! In-memory state: users and conversations, as loaded from the store and kept current.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use chatwire_protocol::{
    ConversationId, ConversationObject, ParticipantObject, Permissions, Seq, UserId, UserObject,
};

use crate::names::full_name;
use crate::outbound::{ConnId, ConnShared};
use crate::store::{ConversationRecord, MemberRecord, Snapshot, TokenRecord, UserRecord};

/// A user and the connections logged in as them.
pub(crate) struct User {
    pub rec: UserRecord,
    /// Logged-in connections, in login order.
    pub conns: Vec<ConnId>,
}

/// A logged-in connection.
pub(crate) struct Conn {
    pub user: UserId,
    pub handle: Arc<ConnShared>,
    /// This connection's presence flag (`setStatus`).
    pub online: bool,
}

/// A conversation: metadata, every membership (current and former) and the participant order.
pub(crate) struct Conversation {
    pub rec: ConversationRecord,
    pub members: HashMap<UserId, MemberRecord>,
    /// Current participants in membership order.
    pub participants: Vec<UserId>,
    /// The participants' connections, as of a connection generation ([`State::conn_generation`]);
    /// dropped whenever `participants` changes.
    pub fanout: Option<Fanout>,
}

/// The connections an event of a conversation goes to, computed once and reused until a
/// participant or a logged-in connection changes.
pub(crate) struct Fanout {
    pub generation: u64,
    pub conns: Arc<[Arc<ConnShared>]>,
}

impl Conversation {
    pub fn is_participant(&self, user: UserId) -> bool {
        self.members
            .get(&user)
            .is_some_and(MemberRecord::is_participant)
    }

    /// The caller's flags if they are a participant.
    pub fn flags(&self, user: UserId) -> Option<Permissions> {
        self.members
            .get(&user)
            .filter(|m| m.is_participant())
            .map(|m| m.flags)
    }

    /// For a former participant, L: the seq of the event by which they last left.
    pub fn left_at(&self, user: UserId) -> Option<u64> {
        match self.members.get(&user)?.intervals.last()? {
            (_, Some(end)) => Some(*end),
            (_, None) => None,
        }
    }

    /// Whether `user` may see the log entry `seq` (docs/BEHAVIOUR.md section 7.4).
    pub fn visible(&self, user: UserId, seq: u64, is_message: bool) -> bool {
        let Some(member) = self.members.get(&user) else {
            return false;
        };
        if let Some(limit) = self.left_at(user) {
            if seq > limit {
                return false;
            }
        }
        if self.rec.uber && is_message {
            return member
                .intervals
                .iter()
                .any(|(a, b)| seq >= *a && b.is_none_or(|b| seq <= b));
        }
        true
    }

    /// The snapshot sent in events and get results.
    pub fn object(&self) -> ConversationObject {
        ConversationObject {
            uuid: self.rec.uuid,
            title: self.rec.title.clone(),
            direct: self.rec.direct,
            uber_conversation: self.rec.uber,
            enable_public_join: self.rec.public,
            custom_data: self.rec.custom_data.clone(),
            participants: self
                .participants
                .iter()
                .filter_map(|u| self.members.get(u))
                .map(|m| ParticipantObject {
                    user_id: m.user,
                    flags: m.flags,
                    last_read: Seq(m.last_read),
                })
                .collect(),
            created_at: self.rec.created_at,
            last_update: self.rec.last_update,
            last_seq: Seq(self.rec.last_seq),
        }
    }

    /// Assigns the next seq and its timestamp (never smaller than the previous entry's).
    pub fn next_event(&mut self, now: i64) -> (u64, i64) {
        self.rec.last_seq += 1;
        self.rec.last_update = self.rec.last_update.max(now);
        (self.rec.last_seq, self.rec.last_update)
    }

    /// Makes `user` a participant from event `seq` on, at the end of the participant list.
    pub fn admit(&mut self, user: UserId, flags: Permissions, seq: u64) {
        let position = self.rec.next_position;
        self.rec.next_position += 1;
        let member = self.members.entry(user).or_insert_with(|| MemberRecord {
            user,
            flags,
            last_read: 0,
            position,
            intervals: Vec::new(),
        });
        member.flags = flags;
        member.last_read = 0;
        member.position = position;
        member.intervals.push((seq, None));
        self.participants.push(user);
        self.fanout = None;
    }

    /// Ends `user`'s participation with event `seq`.
    pub fn dismiss(&mut self, user: UserId, seq: u64) {
        if let Some(m) = self.members.get_mut(&user) {
            if let Some(last) = m.intervals.last_mut() {
                last.1 = Some(seq);
            }
        }
        self.participants.retain(|u| *u != user);
        self.fanout = None;
    }
}

/// Everything the engine holds.
#[derive(Default)]
pub(crate) struct State {
    pub users: HashMap<UserId, User>,
    pub by_name: HashMap<String, UserId>,
    pub by_admin_id: BTreeMap<u64, UserId>,
    pub subscribers: HashMap<UserId, HashSet<UserId>>,
    pub tokens: HashMap<String, TokenRecord>,
    pub conversations: HashMap<ConversationId, Conversation>,
    /// Public conversations by creation ordinal.
    pub public: BTreeMap<u64, ConversationId>,
    /// Direct conversation of each pair (smaller id first).
    pub direct: HashMap<(UserId, UserId), ConversationId>,
    pub conns: HashMap<ConnId, Conn>,
    /// Bumped whenever a connection logs in or goes away (invalidates every [`Fanout`]).
    pub conn_generation: u64,
    pub next_im_id: u64,
    pub next_admin_id: u64,
    pub next_ordinal: u64,
    /// The store's identity (sent in the user's own record).
    pub epoch: String,
}

/// IM ids start here, so that they visibly differ from admin ids (which start at 1).
const FIRST_IM_ID: u64 = 1001;

pub(crate) fn pair(a: UserId, b: UserId) -> (UserId, UserId) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

impl State {
    pub fn from_snapshot(snap: Snapshot) -> State {
        let epoch = snap.epoch.clone();
        let mut s = State {
            next_im_id: FIRST_IM_ID,
            next_admin_id: 1,
            next_ordinal: 1,
            epoch,
            ..State::default()
        };
        for rec in snap.users {
            s.next_im_id = s.next_im_id.max(rec.id.get() + 1);
            s.next_admin_id = s.next_admin_id.max(rec.admin_id + 1);
            s.by_name.insert(rec.name.clone(), rec.id);
            s.by_admin_id.insert(rec.admin_id, rec.id);
            for target in &rec.subscriptions {
                s.subscribers.entry(*target).or_default().insert(rec.id);
            }
            s.users.insert(
                rec.id,
                User {
                    rec,
                    conns: Vec::new(),
                },
            );
        }
        for t in snap.tokens {
            s.tokens.insert(t.hash.clone(), t);
        }
        for rec in snap.conversations {
            s.next_ordinal = s.next_ordinal.max(rec.ordinal + 1);
            if rec.public && !rec.deleted {
                s.public.insert(rec.ordinal, rec.uuid);
            }
            s.conversations.insert(
                rec.uuid,
                Conversation {
                    rec,
                    members: HashMap::new(),
                    participants: Vec::new(),
                    fanout: None,
                },
            );
        }
        for (conv, m) in snap.members {
            if let Some(c) = s.conversations.get_mut(&conv) {
                c.members.insert(m.user, m);
            }
        }
        for c in s.conversations.values_mut() {
            let mut current: Vec<&MemberRecord> =
                c.members.values().filter(|m| m.is_participant()).collect();
            current.sort_by_key(|m| m.position);
            c.participants = current.iter().map(|m| m.user).collect();
            if c.rec.direct && !c.rec.deleted && c.participants.len() == 2 {
                s.direct
                    .insert(pair(c.participants[0], c.participants[1]), c.rec.uuid);
            }
        }
        s
    }

    /// Replaces one conversation with its committed row and memberships (another node changed
    /// it), keeping the public and direct indexes current.
    pub fn put_conversation(&mut self, rec: ConversationRecord, members: Vec<MemberRecord>) {
        let id = rec.uuid;
        self.public.retain(|_, c| *c != id);
        self.direct.retain(|_, c| *c != id);
        if rec.public && !rec.deleted {
            self.public.insert(rec.ordinal, id);
        }
        let members: HashMap<UserId, MemberRecord> =
            members.into_iter().map(|m| (m.user, m)).collect();
        let mut current: Vec<&MemberRecord> =
            members.values().filter(|m| m.is_participant()).collect();
        current.sort_by_key(|m| m.position);
        let participants: Vec<UserId> = current.iter().map(|m| m.user).collect();
        if rec.direct && !rec.deleted && participants.len() == 2 {
            self.direct
                .insert(pair(participants[0], participants[1]), id);
        }
        self.next_ordinal = self.next_ordinal.max(rec.ordinal + 1);
        self.conversations.insert(
            id,
            Conversation {
                rec,
                members,
                participants,
                fanout: None,
            },
        );
    }

    /// Forgets a conversation the database does not have (created by a batch that failed).
    pub fn remove_conversation(&mut self, id: ConversationId) {
        self.public.retain(|_, c| *c != id);
        self.direct.retain(|_, c| *c != id);
        self.conversations.remove(&id);
    }

    /// Forgets a user the database does not have (created by a batch that failed).
    pub fn remove_user(&mut self, id: UserId) {
        if let Some(old) = self.users.remove(&id) {
            self.unindex_user(id, &old.rec);
        }
    }

    /// Drops `old`'s entries from the name, admin id and subscriber indexes.
    fn unindex_user(&mut self, id: UserId, old: &UserRecord) {
        if self.by_name.get(&old.name) == Some(&id) {
            self.by_name.remove(&old.name);
        }
        if self.by_admin_id.get(&old.admin_id) == Some(&id) {
            self.by_admin_id.remove(&old.admin_id);
        }
        for target in &old.subscriptions {
            if let Some(set) = self.subscribers.get_mut(target) {
                set.remove(&id);
            }
        }
    }

    /// Replaces one user's record with the committed one (another node changed it), keeping
    /// the name, admin id and subscriber indexes current and the user's connections.
    pub fn put_user(&mut self, rec: UserRecord) {
        let id = rec.id;
        if let Some(old) = self.users.get(&id).map(|u| u.rec.clone()) {
            self.unindex_user(id, &old);
        }
        self.next_im_id = self.next_im_id.max(id.get() + 1);
        self.next_admin_id = self.next_admin_id.max(rec.admin_id + 1);
        self.by_name.insert(rec.name.clone(), id);
        self.by_admin_id.insert(rec.admin_id, id);
        for target in &rec.subscriptions {
            self.subscribers.entry(*target).or_default().insert(id);
        }
        match self.users.get_mut(&id) {
            Some(u) => u.rec = rec,
            None => {
                self.users.insert(
                    id,
                    User {
                        rec,
                        conns: Vec::new(),
                    },
                );
            }
        }
    }

    /// Replaces the durable state with `fresh` (reloaded from the store) and keeps what only
    /// lives in memory: the logged-in connections.
    pub fn reload(&mut self, mut fresh: State) {
        for (id, user) in &mut self.users {
            if let Some(u) = fresh.users.get_mut(id) {
                u.conns = std::mem::take(&mut user.conns);
            }
        }
        fresh.conns = std::mem::take(&mut self.conns);
        fresh.conn_generation = self.conn_generation + 1;
        *self = fresh;
    }

    /// The user object as `viewer` may see it.
    pub fn user_object(&self, user: &UserRecord, own: bool, domain: &str) -> UserObject {
        UserObject {
            user_id: user.id,
            user_name: full_name(&user.name, domain),
            display_name: user.display_name.clone(),
            custom_data: user.custom_data.clone(),
            deleted: user.deleted,
            private_custom_data: own.then(|| user.private_custom_data.clone()),
            conversations_list: own.then(|| user.conversations.clone()),
            leave_conversations: own.then(|| user.left.clone()),
            notification_events: own.then(|| user.notification_events.clone()),
            store_epoch: own.then(|| self.epoch.clone()),
        }
    }
}
