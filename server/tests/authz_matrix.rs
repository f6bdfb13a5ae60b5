//! Authorization matrix (docs/BEHAVIOUR.md §2.5, §2.7, §3–§8, §12; issue 6 part 1).
//!
//! Every client action of §2.5 × every role × two paths, generated from the table in
//! [`expected`]:
//!
//! * **live**: the action itself (exact error code, or the allowed effect) and who receives its
//!   broadcast (the owner `o` and the watcher `w`, both participants, get exactly one copy or
//!   nothing; the outsider `z` never gets anything); a refused action leaves no trace: no frame to
//!   any other connection, no seq consumed, the conversation object unchanged;
//! * **retransmit**: what `retransmitEvents` returns to the acting role afterwards (exactly the
//!   events the visibility rules of §7.4 / D2 / D12 allow, identical to the owner's copies), and,
//!   for persisted events, that the log entry equals the live frame.
//!
//! Known-bad patterns covered by the table: acting on a conversation uuid you are not in
//! (`stranger`, `uber-before`, `former`, `removed`); edits after a right was revoked (every
//! member role with a missing bit first gets 63, sends its own message, then is cut down with
//! `editParticipants` before the row runs); retransmit after removal (`removed`/`former`: events
//! after L exist and must stay invisible); private user data of others (`getUser`, `getUsers`,
//! the subscriber's copy of `onEditUser`, `manageNotification` not reaching subscribers).
//!
//! Each role runs in its own task with its own users; every row builds a fresh conversation
//! (the direct conversation is unique per pair, so the direct roles reuse theirs and add fresh
//! messages per row).

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Client, Harness, TestUser};
use serde_json::{json, Value};

const QUIET: Duration = Duration::from_millis(150);

const WRITE: u64 = 1;
const EDIT: u64 = 2;
const REMOVE: u64 = 4;
const MANAGE: u64 = 8;
const EDIT_ALL: u64 = 16;
const REMOVE_ALL: u64 = 32;
const OWNER: u64 = 32768;

const PUBLIC_KEYS: [&str; 5] = [
    "custom_data",
    "deleted",
    "display_name",
    "user_id",
    "user_name",
];
const PRIVATE_KEYS: [&str; 4] = [
    "conversations_list",
    "leave_conversations",
    "notification_events",
    "private_custom_data",
];

// ---------------------------------------------------------------- the table

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Regular (not public, not direct).
    Group,
    Direct,
    /// Uber and public.
    Uber,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// The creator (another owner `o` exists for setup).
    Owner,
    /// A second owner (65535) added by the creator.
    Admin,
    /// Flags 15: write, edit, remove, manage.
    Manager,
    /// Flags 63 minus this bit (granted 63 first, then revoked).
    Missing(u64),
    /// Flags 0 (granted 63 first, then revoked).
    ReadOnly,
    /// Left the conversation; events follow after L.
    Former,
    /// Removed by the owner; events follow after L.
    Removed,
    /// Never a participant.
    Stranger,
    /// Created the direct conversation (owner).
    DirectCreator,
    /// The other side of a direct conversation (flags 7).
    DirectPeer,
    /// Not yet joined a public uber conversation that already has messages.
    UberBefore,
    /// Joined a public uber conversation after a message was sent.
    UberAfter,
    /// Joined, then left a public uber conversation; messages before, during and after.
    UberLeft,
}

impl Role {
    fn all() -> Vec<Role> {
        vec![
            Role::Owner,
            Role::Admin,
            Role::Manager,
            Role::Missing(WRITE),
            Role::Missing(EDIT),
            Role::Missing(REMOVE),
            Role::Missing(MANAGE),
            Role::Missing(EDIT_ALL),
            Role::Missing(REMOVE_ALL),
            Role::ReadOnly,
            Role::Former,
            Role::Removed,
            Role::Stranger,
            Role::DirectCreator,
            Role::DirectPeer,
            Role::UberBefore,
            Role::UberAfter,
            Role::UberLeft,
        ]
    }

    fn name(self) -> String {
        match self {
            Role::Owner => "owner".into(),
            Role::Admin => "admin".into(),
            Role::Manager => "manager".into(),
            Role::Missing(bit) => format!(
                "no-{}",
                match bit {
                    WRITE => "write",
                    EDIT => "edit",
                    REMOVE => "remove",
                    MANAGE => "manage",
                    EDIT_ALL => "edit-all",
                    REMOVE_ALL => "remove-all",
                    _ => unreachable!(),
                }
            ),
            Role::ReadOnly => "read-only".into(),
            Role::Former => "former".into(),
            Role::Removed => "removed".into(),
            Role::Stranger => "stranger".into(),
            Role::DirectCreator => "direct-creator".into(),
            Role::DirectPeer => "direct-peer".into(),
            Role::UberBefore => "uber-before".into(),
            Role::UberAfter => "uber-after".into(),
            Role::UberLeft => "uber-left".into(),
        }
    }

    fn kind(self) -> Kind {
        match self {
            Role::DirectCreator | Role::DirectPeer => Kind::Direct,
            Role::UberBefore | Role::UberAfter | Role::UberLeft => Kind::Uber,
            _ => Kind::Group,
        }
    }

    /// A current participant when the row starts.
    fn member(self) -> bool {
        !matches!(
            self,
            Role::Former | Role::Removed | Role::Stranger | Role::UberBefore | Role::UberLeft
        )
    }

    /// A former participant when the row starts (D12).
    fn former(self) -> bool {
        matches!(self, Role::Former | Role::Removed | Role::UberLeft)
    }

    /// Flags while a participant.
    fn flags(self) -> u64 {
        match self {
            Role::Owner | Role::Admin | Role::DirectCreator => 65535,
            Role::Manager => 15,
            Role::Missing(bit) => 63 - bit,
            Role::ReadOnly => 0,
            Role::DirectPeer | Role::UberAfter => 7,
            Role::Former | Role::Removed | Role::Stranger | Role::UberBefore | Role::UberLeft => 0,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    CreateConversation,
    EditConversation,
    GetConversation,
    GetConversations,
    GetPublicConversations,
    JoinConversation,
    LeaveConversation,
    AddParticipants,
    EditParticipants,
    RemoveParticipants,
    SendMessage,
    EditOwnMessage,
    EditOthersMessage,
    RemoveOwnMessage,
    RemoveOthersMessage,
    TypingMessage,
    IsRead,
    RetransmitEvents,
    GetUser,
    GetUsers,
    EditUser,
    SetStatus,
    Subscribe,
    GetSubscriptionList,
    Unsubscribe,
    ManageNotification,
}

/// In this order: `GetSubscriptionList` after `Subscribe`, `Unsubscribe` after both.
const OPS: [Op; 26] = [
    Op::CreateConversation,
    Op::EditConversation,
    Op::GetConversation,
    Op::GetConversations,
    Op::GetPublicConversations,
    Op::JoinConversation,
    Op::LeaveConversation,
    Op::AddParticipants,
    Op::EditParticipants,
    Op::RemoveParticipants,
    Op::SendMessage,
    Op::EditOwnMessage,
    Op::EditOthersMessage,
    Op::RemoveOwnMessage,
    Op::RemoveOthersMessage,
    Op::TypingMessage,
    Op::IsRead,
    Op::RetransmitEvents,
    Op::GetUser,
    Op::GetUsers,
    Op::EditUser,
    Op::SetStatus,
    Op::Subscribe,
    Op::GetSubscriptionList,
    Op::Unsubscribe,
    Op::ManageNotification,
];

impl Op {
    fn action(self) -> &'static str {
        match self {
            Op::CreateConversation => "createConversation",
            Op::EditConversation => "editConversation",
            Op::GetConversation => "getConversation",
            Op::GetConversations => "getConversations",
            Op::GetPublicConversations => "getPublicConversations",
            Op::JoinConversation => "joinConversation",
            Op::LeaveConversation => "leaveConversation",
            Op::AddParticipants => "addParticipants",
            Op::EditParticipants => "editParticipants",
            Op::RemoveParticipants => "removeParticipants",
            Op::SendMessage => "sendMessage",
            Op::EditOwnMessage | Op::EditOthersMessage => "editMessage",
            Op::RemoveOwnMessage | Op::RemoveOthersMessage => "removeMessage",
            Op::TypingMessage => "typingMessage",
            Op::IsRead => "isRead",
            Op::RetransmitEvents => "retransmitEvents",
            Op::GetUser => "getUser",
            Op::GetUsers => "getUsers",
            Op::EditUser => "editUser",
            Op::SetStatus => "setStatus",
            Op::Subscribe => "subscribe",
            Op::GetSubscriptionList => "getSubscriptionList",
            Op::Unsubscribe => "unsubscribe",
            Op::ManageNotification => "manageNotification",
        }
    }

    /// The persisted event an allowed call appends to the row's conversation, if any.
    fn persisted(self) -> Option<&'static str> {
        match self {
            Op::EditConversation
            | Op::JoinConversation
            | Op::LeaveConversation
            | Op::AddParticipants
            | Op::EditParticipants
            | Op::RemoveParticipants => Some("onEditConversation"),
            Op::SendMessage => Some("onSendMessage"),
            Op::EditOwnMessage | Op::EditOthersMessage => Some("onEditMessage"),
            Op::RemoveOwnMessage | Op::RemoveOthersMessage => Some("onRemoveMessage"),
            _ => None,
        }
    }
}

/// The documented outcome of `op` by `role`: `None` = allowed, `Some(code)` = that error.
fn expected(role: Role, op: Op) -> Option<u64> {
    let kind = role.kind();
    let member = role.member();
    let flags = role.flags();
    // §5.2: participant (else 19), then the permission (else 12).
    let need = |bit: u64| {
        if !member {
            Some(19)
        } else if flags & bit != bit {
            Some(12)
        } else {
            None
        }
    };
    match op {
        // Not tied to a conversation role (D16): every logged-in user may.
        Op::CreateConversation
        | Op::GetPublicConversations
        | Op::GetUser
        | Op::GetUsers
        | Op::EditUser
        | Op::SetStatus
        | Op::Subscribe
        | Op::GetSubscriptionList
        | Op::Unsubscribe
        | Op::ManageNotification => None,
        // §4.3: participants, former participants, anyone for a public conversation.
        Op::GetConversation | Op::GetConversations => {
            if member || role.former() || kind == Kind::Uber {
                None
            } else {
                Some(19)
            }
        }
        // §7.3 check 4.
        Op::RetransmitEvents => (!(member || role.former())).then_some(19),
        Op::EditConversation => need(OWNER),
        // §4.4: direct → 39; not public → 15; participant → 13.
        Op::JoinConversation => match kind {
            Kind::Direct => Some(39),
            Kind::Group => Some(15),
            Kind::Uber => member.then_some(13),
        },
        // §4.4: direct → 40; not a participant → 19.
        Op::LeaveConversation => {
            if kind == Kind::Direct {
                Some(40)
            } else {
                (!member).then_some(19)
            }
        }
        // §5.3: 19 → direct 37 → manage 12.
        Op::AddParticipants => {
            if !member {
                Some(19)
            } else if kind == Kind::Direct {
                Some(37)
            } else {
                need(MANAGE)
            }
        }
        // D21: allowed on direct conversations.
        Op::EditParticipants => need(MANAGE),
        // §5.3: 19 → direct 38 → manage 12.
        Op::RemoveParticipants => {
            if !member {
                Some(19)
            } else if kind == Kind::Direct {
                Some(38)
            } else {
                need(MANAGE)
            }
        }
        Op::SendMessage | Op::TypingMessage => need(WRITE),
        Op::EditOwnMessage => need(EDIT),
        Op::EditOthersMessage => need(EDIT_ALL),
        Op::RemoveOwnMessage => need(REMOVE),
        Op::RemoveOthersMessage => need(REMOVE_ALL),
        // §7.5.
        Op::IsRead => (!member).then_some(19),
    }
}

// ---------------------------------------------------------------- helpers

fn obj(frame: &Value) -> &Value {
    &frame["payload"]["object"]
}

fn uuid_of(frame: &Value) -> String {
    obj(frame)["uuid"].as_str().expect("uuid").to_string()
}

fn seq_of(frame: &Value) -> u64 {
    frame["payload"]["seq"]
        .as_u64()
        .unwrap_or_else(|| panic!("no seq: {frame}"))
}

/// The conversation a frame is about (message events carry it in `conversation`).
fn conv_of(frame: &Value) -> Option<&str> {
    let o = obj(frame);
    o["conversation"].as_str().or(o["uuid"].as_str())
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
    k.sort();
    k
}

fn public_keys() -> Vec<String> {
    PUBLIC_KEYS.iter().map(|s| s.to_string()).collect()
}

/// The self view: public and private keys, plus the chatwire addition `store_epoch` (self view
/// only) when the server sends it.
fn self_keys_of(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = PUBLIC_KEYS
        .iter()
        .chain(PRIVATE_KEYS.iter())
        .map(|s| s.to_string())
        .collect();
    if v.get("store_epoch").is_some() {
        k.push("store_epoch".into());
    }
    k.sort();
    k
}

fn list_contains(v: &Value, s: &str) -> bool {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .any(|e| e == s)
}

/// Reads frames until one of `conv` with a seq ≥ `seq` arrives; drops everything before it.
async fn drain(c: &mut Client, conv: &str, seq: u64) {
    loop {
        let f = c
            .next()
            .await
            .unwrap_or_else(|| panic!("drain: no frame with seq {seq} of {conv}"));
        if conv_of(&f) == Some(conv) && f["payload"]["seq"].as_u64().is_some_and(|s| s >= seq) {
            break;
        }
    }
    c.pending.clear();
}

/// Asserts that no frame carrying `id` arrives within `d` (other frames are dropped).
async fn no_frame_with(c: &mut Client, id: &str, d: Duration, ctx: &str) {
    let end = Instant::now() + d;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match c.next_within(left).await {
            Some(f) => assert_ne!(f["request_uuid"], id, "{ctx}: unexpected frame {f}"),
            None => break,
        }
    }
}

/// Collects a retransmit reply that starts with `first`: `Err(code)` or the event frames.
async fn collect(c: &mut Client, first: Value) -> Result<Vec<Value>, u64> {
    if first["event"] == "onError" {
        return Err(first["payload"]["code"].as_u64().expect("code"));
    }
    assert_eq!(first["event"], "onRetransmitEvents", "{first}");
    let n = first["payload"]["count"].as_u64().expect("count") as usize;
    if n == 0 {
        assert!(first["payload"].get("object").is_none(), "{first}");
        return Ok(Vec::new());
    }
    let id = first["request_uuid"]
        .as_str()
        .expect("request_uuid")
        .to_string();
    let mut frames = vec![first];
    while frames.len() < n {
        frames.push(c.reply_to(&id).await);
    }
    Ok(frames)
}

fn rt_payload(conv: &str, to: u64) -> Value {
    json!({"conversation": conv, "events_to": to, "count": 100})
}

async fn retransmit(c: &mut Client, conv: &str, to: u64) -> Result<Vec<Value>, u64> {
    let first = c.request("retransmitEvents", rt_payload(conv, to)).await;
    collect(c, first).await
}

// ---------------------------------------------------------------- the model of one conversation

#[derive(Clone, Copy, PartialEq, Eq)]
enum Who {
    O,
    W,
    X,
}

/// What the test knows about the row's conversation: its log and the actor's intervals (§7.4).
#[derive(Clone, Default)]
struct Fx {
    conv: String,
    uber: bool,
    /// (seq, is a message event), every persisted event in order.
    log: Vec<(u64, bool)>,
    /// The actor's participation intervals [a, b] (b = None while a participant).
    intervals: Vec<(u64, Option<u64>)>,
    own: Option<String>,
    other: String,
    /// Highest seq broadcast to `o` / `w` (events they did not cause) and how far they drained.
    o_seen: u64,
    w_seen: u64,
    o_drained: u64,
    w_drained: u64,
}

impl Fx {
    fn last(&self) -> u64 {
        self.log.last().map(|e| e.0).unwrap_or(0)
    }

    fn record(&mut self, seq: u64, is_msg: bool, who: Who) {
        assert_eq!(seq, self.last() + 1, "seq gap in {}", self.conv);
        self.log.push((seq, is_msg));
        if who != Who::O {
            self.o_seen = seq;
        }
        if who != Who::W {
            self.w_seen = seq;
        }
    }

    fn close(&mut self, seq: u64) {
        let last = self.intervals.last_mut().expect("a participant");
        assert!(last.1.is_none());
        last.1 = Some(seq);
    }

    /// §7.4 / D2 / D12: may the actor see this event?
    fn visible(&self, seq: u64, is_msg: bool) -> bool {
        let Some(&(_, l)) = self.intervals.last() else {
            return false;
        };
        if l.is_some_and(|l| seq > l) {
            return false;
        }
        !self.uber
            || !is_msg
            || self
                .intervals
                .iter()
                .any(|&(a, b)| seq >= a && b.is_none_or(|b| seq <= b))
    }
}

/// Sends a request that must succeed with a persisted event; records it in the model.
async fn step(c: &mut Client, who: Who, fx: &mut Fx, event: &str, payload: Value) -> Value {
    let f = c.ok(event, payload).await;
    let is_msg = f["event"].as_str().unwrap().ends_with("Message");
    if fx.conv.is_empty() {
        fx.conv = uuid_of(&f);
    }
    fx.record(seq_of(&f), is_msg, who);
    f
}

// ---------------------------------------------------------------- one role group

struct Group {
    role: Role,
    /// Owner used for setup (second owner when the role is the creator); participant of every
    /// regular and uber conversation, never of the direct one.
    o: Client,
    /// Watcher: participant (7) of every conversation of the group (the other side of the
    /// direct one) and subscriber of the actor.
    w: Client,
    /// The actor and the actor's second connection.
    x: Client,
    x2: Client,
    /// Outsider: never in anything, subscribed to nobody; must never receive a frame.
    z: Client,
    ou: TestUser,
    wu: TestUser,
    tu: TestUser,
    nu: TestUser,
    xu: TestUser,
    direct: Option<Fx>,
}

impl Group {
    async fn new(h: &Harness, role: Role) -> Group {
        let n = role.name();
        let ou = h.user(&format!("{n}-o")).await;
        let wu = h.user(&format!("{n}-w")).await;
        let tu = h.user(&format!("{n}-t")).await;
        let nu = h.user(&format!("{n}-n")).await;
        let xu = h.user(&format!("{n}-x")).await;
        let zu = h.user(&format!("{n}-z")).await;
        let mut w = h.login(&wu).await;
        w.ok("subscribe", json!({"user_id": [xu.im_id]})).await;
        Group {
            role,
            o: h.login(&ou).await,
            w,
            x: h.login(&xu).await,
            x2: h.login(&xu).await,
            z: h.login(&zu).await,
            ou,
            wu,
            tu,
            nu,
            xu,
            direct: None,
        }
    }

    fn kind(&self) -> Kind {
        self.role.kind()
    }

    /// A participant that sees every event of the row's conversation.
    fn checker(&mut self) -> &mut Client {
        if self.kind() == Kind::Direct {
            &mut self.w
        } else {
            &mut self.o
        }
    }

    /// `{seq, object}` of the conversation as the checker sees it.
    async fn state(&mut self, conv: &str) -> Value {
        let g = self
            .checker()
            .ok("getConversation", json!({"uuid": conv}))
            .await;
        assert_eq!(g["payload"]["seq"], obj(&g)["last_seq"], "{g}");
        json!({"seq": g["payload"]["seq"], "object": obj(&g)})
    }

    /// `o`, `w` and `z` receive nothing for a while.
    async fn silence(&mut self) {
        futures::join!(
            self.o.expect_silence(QUIET),
            self.w.expect_silence(QUIET),
            self.z.expect_silence(QUIET)
        );
    }

    async fn fixture(&mut self) -> Fx {
        let mut fx = match self.kind() {
            Kind::Group => self.group_fixture().await,
            Kind::Uber => self.uber_fixture().await,
            Kind::Direct => self.direct_fixture().await,
        };
        if self.kind() != Kind::Direct && fx.o_seen > fx.o_drained {
            drain(&mut self.o, &fx.conv, fx.o_seen).await;
            fx.o_drained = fx.o_seen;
        }
        if fx.w_seen > fx.w_drained {
            drain(&mut self.w, &fx.conv, fx.w_seen).await;
            fx.w_drained = fx.w_seen;
        }
        self.x.pending.clear();
        fx
    }

    async fn group_fixture(&mut self) -> Fx {
        let role = self.role;
        let (o, w, t, x) = (self.ou.im_id, self.wu.im_id, self.tu.im_id, self.xu.im_id);
        let mut fx = Fx::default();
        if role == Role::Owner {
            step(
                &mut self.x,
                Who::X,
                &mut fx,
                "createConversation",
                json!({"title": "matrix", "participants": [
                    {"user_id": o, "flags": 65535},
                    {"user_id": w, "flags": 7},
                    {"user_id": t, "flags": 7},
                ]}),
            )
            .await;
        } else {
            let mut parts = vec![
                json!({"user_id": w, "flags": 7}),
                json!({"user_id": t, "flags": 7}),
            ];
            let start_flags = match role {
                Role::Admin => 65535,
                Role::Former | Role::Removed => 7,
                _ => 63,
            };
            if role != Role::Stranger {
                parts.push(json!({"user_id": x, "flags": start_flags}));
            }
            step(
                &mut self.o,
                Who::O,
                &mut fx,
                "createConversation",
                json!({"title": "matrix", "participants": parts}),
            )
            .await;
        }
        let conv = fx.conv.clone();
        if role != Role::Stranger {
            fx.intervals.push((1, None));
            let f = step(
                &mut self.x,
                Who::X,
                &mut fx,
                "sendMessage",
                json!({"conversation": conv, "text": "own"}),
            )
            .await;
            fx.own = Some(uuid_of(&f));
        }
        let f = step(
            &mut self.o,
            Who::O,
            &mut fx,
            "sendMessage",
            json!({"conversation": conv, "text": "other"}),
        )
        .await;
        fx.other = uuid_of(&f);
        match role {
            // Granted 63, sent, now revoked: the row checks the right again (Mattermost).
            Role::Manager | Role::Missing(_) | Role::ReadOnly => {
                let f = step(
                    &mut self.o,
                    Who::O,
                    &mut fx,
                    "editParticipants",
                    json!({"uuid": conv, "participants": [{"user_id": x, "flags": role.flags()}]}),
                )
                .await;
                let me = obj(&f)["participants"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|p| p["user_id"] == x)
                    .cloned()
                    .unwrap();
                assert_eq!(me["flags"], role.flags());
            }
            Role::Former => {
                let f = step(
                    &mut self.x,
                    Who::X,
                    &mut fx,
                    "leaveConversation",
                    json!({"uuid": conv}),
                )
                .await;
                fx.close(seq_of(&f));
            }
            Role::Removed => {
                let f = step(
                    &mut self.o,
                    Who::O,
                    &mut fx,
                    "removeParticipants",
                    json!({"uuid": conv, "participants": [x]}),
                )
                .await;
                fx.close(seq_of(&f));
            }
            _ => {}
        }
        if role.former() {
            // Events after L that the former participant must never see (Synapse).
            step(
                &mut self.o,
                Who::O,
                &mut fx,
                "sendMessage",
                json!({"conversation": conv, "text": "after you left"}),
            )
            .await;
            step(
                &mut self.o,
                Who::O,
                &mut fx,
                "editConversation",
                json!({"uuid": conv, "title": "after you left"}),
            )
            .await;
        }
        fx
    }

    async fn uber_fixture(&mut self) -> Fx {
        let role = self.role;
        let (w, t) = (self.wu.im_id, self.tu.im_id);
        let mut fx = Fx {
            uber: true,
            ..Fx::default()
        };
        step(
            &mut self.o,
            Who::O,
            &mut fx,
            "createConversation",
            json!({"title": "uber", "uber_conversation": true, "enable_public_join": true,
                   "participants": [{"user_id": w, "flags": 7}, {"user_id": t, "flags": 7}]}),
        )
        .await;
        let conv = fx.conv.clone();
        let f = step(
            &mut self.o,
            Who::O,
            &mut fx,
            "sendMessage",
            json!({"conversation": conv, "text": "before you joined"}),
        )
        .await;
        fx.other = uuid_of(&f);
        if matches!(role, Role::UberAfter | Role::UberLeft) {
            let f = step(
                &mut self.x,
                Who::X,
                &mut fx,
                "joinConversation",
                json!({"uuid": conv}),
            )
            .await;
            fx.intervals.push((seq_of(&f), None));
            step(
                &mut self.o,
                Who::O,
                &mut fx,
                "sendMessage",
                json!({"conversation": conv, "text": "while you are in"}),
            )
            .await;
            let f = step(
                &mut self.x,
                Who::X,
                &mut fx,
                "sendMessage",
                json!({"conversation": conv, "text": "own"}),
            )
            .await;
            fx.own = Some(uuid_of(&f));
        }
        if role == Role::UberLeft {
            let f = step(
                &mut self.x,
                Who::X,
                &mut fx,
                "leaveConversation",
                json!({"uuid": conv}),
            )
            .await;
            fx.close(seq_of(&f));
            step(
                &mut self.o,
                Who::O,
                &mut fx,
                "sendMessage",
                json!({"conversation": conv, "text": "after you left"}),
            )
            .await;
            step(
                &mut self.o,
                Who::O,
                &mut fx,
                "editConversation",
                json!({"uuid": conv, "title": "after you left"}),
            )
            .await;
        }
        fx
    }

    async fn direct_fixture(&mut self) -> Fx {
        let mut fx = match self.direct.take() {
            Some(fx) => fx,
            None => {
                let mut fx = Fx::default();
                if self.role == Role::DirectCreator {
                    let w = self.wu.im_id;
                    step(
                        &mut self.x,
                        Who::X,
                        &mut fx,
                        "createConversation",
                        json!({"direct": true, "participants": [{"user_id": w}]}),
                    )
                    .await;
                } else {
                    let x = self.xu.im_id;
                    step(
                        &mut self.w,
                        Who::W,
                        &mut fx,
                        "createConversation",
                        json!({"direct": true, "participants": [{"user_id": x}]}),
                    )
                    .await;
                }
                fx.intervals.push((1, None));
                fx
            }
        };
        let conv = fx.conv.clone();
        let f = step(
            &mut self.x,
            Who::X,
            &mut fx,
            "sendMessage",
            json!({"conversation": conv, "text": "own"}),
        )
        .await;
        fx.own = Some(uuid_of(&f));
        let f = step(
            &mut self.w,
            Who::W,
            &mut fx,
            "sendMessage",
            json!({"conversation": conv, "text": "other"}),
        )
        .await;
        fx.other = uuid_of(&f);
        fx
    }

    fn payload(&self, op: Op, fx: &Fx) -> Value {
        let conv = &fx.conv;
        let own = fx.own.clone().unwrap_or_else(|| fx.other.clone());
        let other = &fx.other;
        let target = if self.kind() == Kind::Direct {
            self.wu.im_id
        } else {
            self.tu.im_id
        };
        match op {
            Op::CreateConversation if self.kind() == Kind::Direct => {
                json!({"title": "ignored", "direct": true, "participants": [{"user_id": self.wu.im_id}]})
            }
            Op::CreateConversation => {
                json!({"title": "fresh", "participants": [{"user_id": self.wu.im_id, "flags": 7}]})
            }
            Op::EditConversation => json!({"uuid": conv, "title": "renamed"}),
            Op::GetConversation => json!({"uuid": conv}),
            Op::GetConversations => json!({"uuid": [conv]}),
            Op::GetPublicConversations => json!({}),
            Op::JoinConversation | Op::LeaveConversation => json!({"uuid": conv}),
            Op::AddParticipants => {
                json!({"uuid": conv, "participants": [{"user_id": self.nu.im_id, "flags": 7}]})
            }
            Op::EditParticipants => {
                json!({"uuid": conv, "participants": [{"user_id": target, "flags": 3}]})
            }
            Op::RemoveParticipants => json!({"uuid": conv, "participants": [target]}),
            Op::SendMessage => json!({"conversation": conv, "text": "hello"}),
            Op::EditOwnMessage => json!({"uuid": own, "conversation": conv, "text": "edited"}),
            Op::EditOthersMessage => {
                json!({"uuid": other, "conversation": conv, "text": "edited"})
            }
            Op::RemoveOwnMessage => json!({"uuid": own, "conversation": conv}),
            Op::RemoveOthersMessage => json!({"uuid": other, "conversation": conv}),
            Op::TypingMessage => json!({"conversation": conv}),
            Op::IsRead => json!({"conversation": conv, "seq": fx.last()}),
            Op::RetransmitEvents => rt_payload(conv, fx.last()),
            Op::GetUser => json!({"user_id": self.ou.im_id}),
            Op::GetUsers => {
                json!({"users": [{"user_id": self.ou.im_id}, {"user_name": self.xu.full_name}]})
            }
            Op::EditUser => json!({
                "custom_data": {"role": self.role.name()},
                "private_custom_data": {"secret": self.role.name()},
            }),
            Op::SetStatus => json!({"online": true}),
            Op::Subscribe | Op::Unsubscribe => json!({"user_id": [self.ou.im_id]}),
            Op::GetSubscriptionList => json!({}),
            Op::ManageNotification => json!({"notifications": ["onSendMessage"]}),
        }
    }

    /// One row: the live path and the retransmit path of (role, op). Returns the combinations
    /// checked (2).
    async fn row(&mut self, op: Op) -> usize {
        let role = self.role;
        let mut fx = self.fixture().await;
        let conv = fx.conv.clone();
        let before = self.state(&conv).await;
        assert_eq!(before["seq"], fx.last(), "model and server disagree");
        let event = op.action();
        let payload = self.payload(op, &fx);
        let ctx = format!("[{} {:?}] {event} {payload}", role.name(), op);
        let r = self.x.request(event, payload.clone()).await;
        match expected(role, op) {
            Some(code) => {
                assert_eq!(r["event"], "onError", "{ctx}: should fail with {code}: {r}");
                assert_eq!(r["payload"]["code"], code, "{ctx}: {r}");
                assert_eq!(r["payload"]["on_incoming_event"], event, "{ctx}: {r}");
                assert_eq!(r["payload"]["initiator"], self.xu.im_id, "{ctx}: {r}");
                // No trace: nobody hears of it, no seq consumed, nothing changed.
                self.silence().await;
                assert_eq!(
                    self.state(&conv).await,
                    before,
                    "{ctx}: refused but changed"
                );
            }
            None => {
                assert_ne!(r["event"], "onError", "{ctx}: should succeed: {r}");
                assert_eq!(r["payload"]["on_incoming_event"], event, "{ctx}: {r}");
                assert_eq!(r["payload"]["initiator"], self.xu.im_id, "{ctx}: {r}");
                self.allowed(op, &mut fx, r, &before, &ctx).await;
            }
        }
        // Retransmit path: the actor sees exactly what §7.4 allows, as the owner saw it.
        self.check_retransmit(&fx, None, &ctx).await;
        if self.kind() == Kind::Direct {
            self.direct = Some(fx);
        }
        2
    }

    /// The allowed effect of `op`, its recipients, and its log entry.
    async fn allowed(&mut self, op: Op, fx: &mut Fx, r: Value, before: &Value, ctx: &str) {
        let kind = self.kind();
        let conv = fx.conv.clone();
        let seq0 = fx.last();
        let id = r["request_uuid"]
            .as_str()
            .expect("request_uuid")
            .to_string();
        let x = self.xu.im_id;
        let o = self.ou.im_id;
        if let Some(ev) = op.persisted() {
            assert_eq!(r["event"], ev, "{ctx}: {r}");
            let seq = seq_of(&r);
            assert_eq!(seq, seq0 + 1, "{ctx}: {r}");
            let ob = obj(&r);
            match op {
                Op::SendMessage => {
                    assert_eq!(ob["text"], "hello", "{ctx}: {r}");
                    assert_eq!(ob["conversation"], conv.as_str(), "{ctx}: {r}");
                }
                Op::EditOwnMessage | Op::EditOthersMessage => {
                    let target = if op == Op::EditOwnMessage {
                        fx.own.clone().unwrap()
                    } else {
                        fx.other.clone()
                    };
                    assert_eq!(ob["uuid"], target.as_str(), "{ctx}: {r}");
                    assert_eq!(ob["text"], "edited", "{ctx}: {r}");
                }
                Op::RemoveOwnMessage | Op::RemoveOthersMessage => {
                    let target = if op == Op::RemoveOwnMessage {
                        fx.own.clone().unwrap()
                    } else {
                        fx.other.clone()
                    };
                    assert_eq!(
                        *ob,
                        json!({"uuid": target, "conversation": conv}),
                        "{ctx}: {r}"
                    );
                }
                _ => {
                    assert_eq!(ob["last_seq"], seq, "{ctx}: {r}");
                    let parts: Vec<(u64, u64)> = ob["participants"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|p| (p["user_id"].as_u64().unwrap(), p["flags"].as_u64().unwrap()))
                        .collect();
                    let has = |id: u64| parts.iter().any(|p| p.0 == id);
                    match op {
                        Op::EditConversation => assert_eq!(ob["title"], "renamed", "{ctx}"),
                        Op::JoinConversation => {
                            assert_eq!(parts.last(), Some(&(x, 7)), "{ctx}: {r}")
                        }
                        Op::LeaveConversation => assert!(!has(x), "{ctx}: {r}"),
                        Op::AddParticipants => {
                            assert_eq!(parts.last(), Some(&(self.nu.im_id, 7)), "{ctx}: {r}")
                        }
                        Op::EditParticipants => {
                            let t = if kind == Kind::Direct {
                                self.wu.im_id
                            } else {
                                self.tu.im_id
                            };
                            assert!(parts.contains(&(t, 3)), "{ctx}: {r}");
                        }
                        Op::RemoveParticipants => assert!(!has(self.tu.im_id), "{ctx}: {r}"),
                        _ => unreachable!(),
                    }
                }
            }
            // Recipients: every participant (o, w) gets one identical copy; z nothing.
            let w_copy = self.w.reply_to(&id).await;
            assert_eq!(w_copy["event"], r["event"], "{ctx}: {w_copy}");
            assert_eq!(w_copy["payload"], r["payload"], "{ctx}: {w_copy}");
            if kind != Kind::Direct {
                let o_copy = self.o.reply_to(&id).await;
                assert_eq!(o_copy["event"], r["event"], "{ctx}: {o_copy}");
                assert_eq!(o_copy["payload"], r["payload"], "{ctx}: {o_copy}");
            }
            self.silence().await;
            // Model update and the log entry equals the live frame.
            let is_msg = ev.ends_with("Message");
            fx.record(seq, is_msg, Who::X);
            fx.o_drained = fx.o_seen;
            fx.w_drained = fx.w_seen;
            match op {
                Op::JoinConversation => fx.intervals.push((seq, None)),
                Op::LeaveConversation => fx.close(seq),
                _ => {}
            }
            let logged = retransmit(self.checker(), &conv, seq).await.expect(ctx);
            let last = logged.last().expect("the new event");
            assert_eq!(
                obj(last),
                &json!({"event": r["event"], "payload": r["payload"]}),
                "{ctx}: log entry differs from the live frame"
            );
            return;
        }

        // Ephemeral results: no seq consumed.
        match op {
            Op::CreateConversation if kind == Kind::Direct => {
                // D8: the existing conversation, caller only, nothing appended.
                assert_eq!(r["event"], "onCreateConversation", "{ctx}: {r}");
                assert_eq!(uuid_of(&r), conv, "{ctx}: {r}");
                assert_eq!(seq_of(&r), seq0, "{ctx}: {r}");
                assert_eq!(obj(&r), &before["object"], "{ctx}: {r}");
                self.silence().await;
            }
            Op::CreateConversation => {
                assert_eq!(r["event"], "onCreateConversation", "{ctx}: {r}");
                assert_eq!(seq_of(&r), 1, "{ctx}: {r}");
                let new = uuid_of(&r);
                let parts: Vec<(u64, u64)> = obj(&r)["participants"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| (p["user_id"].as_u64().unwrap(), p["flags"].as_u64().unwrap()))
                    .collect();
                assert_eq!(parts, vec![(x, 65535), (self.wu.im_id, 7)], "{ctx}: {r}");
                let w_copy = self.w.reply_to(&id).await;
                assert_eq!(w_copy["event"], r["event"], "{ctx}");
                assert_eq!(w_copy["payload"], r["payload"], "{ctx}");
                self.silence().await;
                let logged = retransmit(&mut self.w, &new, 1).await.expect(ctx);
                assert_eq!(logged.len(), 1, "{ctx}");
                assert_eq!(
                    obj(&logged[0]),
                    &json!({"event": r["event"], "payload": r["payload"]}),
                    "{ctx}"
                );
            }
            Op::GetConversation | Op::GetConversations => {
                assert_eq!(r["event"], "onGetConversation", "{ctx}: {r}");
                assert_eq!(seq_of(&r), seq0, "{ctx}: {r}");
                assert_eq!(obj(&r), &before["object"], "{ctx}: {r}");
                self.silence().await;
            }
            Op::GetPublicConversations => {
                assert_eq!(r["event"], "onGetPublicConversations", "{ctx}: {r}");
                assert_eq!(
                    list_contains(&obj(&r)["uuid"], &conv),
                    kind == Kind::Uber,
                    "{ctx}: {r}"
                );
                self.silence().await;
            }
            Op::TypingMessage => {
                assert_eq!(r["event"], "onTyping", "{ctx}: {r}");
                assert_eq!(*obj(&r), json!({"conversation": conv}), "{ctx}: {r}");
                let w_copy = self.w.reply_to(&id).await;
                assert_eq!(w_copy["event"], "onTyping", "{ctx}");
                assert_eq!(obj(&w_copy), obj(&r), "{ctx}");
                if kind != Kind::Direct {
                    let o_copy = self.o.reply_to(&id).await;
                    assert_eq!(obj(&o_copy), obj(&r), "{ctx}");
                }
                // D17: not echoed to the initiator's other connections.
                futures::join!(
                    self.o.expect_silence(QUIET),
                    self.w.expect_silence(QUIET),
                    self.z.expect_silence(QUIET),
                    no_frame_with(&mut self.x2, &id, QUIET, ctx)
                );
            }
            Op::IsRead => {
                assert_eq!(r["event"], "isRead", "{ctx}: {r}");
                assert_eq!(
                    *obj(&r),
                    json!({"conversation": conv, "seq": seq0}),
                    "{ctx}: {r}"
                );
                let w_copy = self.w.reply_to(&id).await;
                assert_eq!(w_copy["event"], "isRead", "{ctx}");
                assert_eq!(obj(&w_copy), obj(&r), "{ctx}");
                if kind != Kind::Direct {
                    let o_copy = self.o.reply_to(&id).await;
                    assert_eq!(obj(&o_copy), obj(&r), "{ctx}");
                }
                self.silence().await;
                // The read mark is stored, no seq consumed, nothing else changed.
                let mut expect = before.clone();
                for p in expect["object"]["participants"]
                    .as_array_mut()
                    .unwrap()
                    .iter_mut()
                {
                    if p["user_id"] == x {
                        p["last_read"] = json!(seq0);
                    }
                }
                assert_eq!(self.state(&conv).await, expect, "{ctx}");
                return;
            }
            Op::RetransmitEvents => {
                // Live path of the retransmit itself: caller only, content per §7.4.
                let frames = collect(&mut self.x, r).await.map_err(|c| c.to_string());
                self.silence().await;
                self.check_retransmit(fx, Some(frames.expect(ctx)), ctx)
                    .await;
            }
            Op::GetUser => {
                assert_eq!(r["event"], "onGetUser", "{ctx}: {r}");
                assert_eq!(obj(&r)["user_id"], o, "{ctx}: {r}");
                // Private data of others is never visible.
                assert_eq!(keys(obj(&r)), public_keys(), "{ctx}: {r}");
                self.silence().await;
            }
            Op::GetUsers => {
                let second = self.x.reply_to(&id).await;
                assert_eq!(r["event"], "onGetUser", "{ctx}: {r}");
                assert_eq!(obj(&r)["user_id"], o, "{ctx}: {r}");
                assert_eq!(keys(obj(&r)), public_keys(), "{ctx}: {r}");
                let me = obj(&second);
                assert_eq!(me["user_id"], x, "{ctx}: {second}");
                assert_eq!(keys(me), self_keys_of(me), "{ctx}: {second}");
                assert_eq!(
                    list_contains(&me["conversations_list"], &conv),
                    self.role.member(),
                    "{ctx}: {second}"
                );
                assert_eq!(
                    list_contains(&me["leave_conversations"], &conv),
                    self.role.former(),
                    "{ctx}: {second}"
                );
                self.silence().await;
            }
            Op::EditUser => {
                assert_eq!(r["event"], "onEditUser", "{ctx}: {r}");
                let me = obj(&r);
                assert_eq!(keys(me), self_keys_of(me), "{ctx}: {r}");
                assert_eq!(me["private_custom_data"]["secret"], self.role.name());
                // Self view to the user's other connection, public view to the subscriber.
                let x2_copy = self.x2.reply_to(&id).await;
                assert_eq!(obj(&x2_copy), me, "{ctx}: {x2_copy}");
                let w_copy = self.w.reply_to(&id).await;
                assert_eq!(w_copy["event"], "onEditUser", "{ctx}: {w_copy}");
                assert_eq!(keys(obj(&w_copy)), public_keys(), "{ctx}: {w_copy}");
                assert_eq!(obj(&w_copy)["custom_data"], me["custom_data"], "{ctx}");
                assert!(
                    !w_copy.to_string().contains("secret"),
                    "{ctx}: private data leaked: {w_copy}"
                );
                self.silence().await;
            }
            Op::SetStatus => {
                assert_eq!(r["event"], "onSetStatus", "{ctx}: {r}");
                assert_eq!(*obj(&r), json!({"online": true}), "{ctx}: {r}");
                for c in [&mut self.x2, &mut self.w] {
                    let copy = c.reply_to(&id).await;
                    assert_eq!(copy["event"], "onSetStatus", "{ctx}: {copy}");
                    assert_eq!(copy["payload"]["initiator"], x, "{ctx}: {copy}");
                    assert_eq!(obj(&copy), obj(&r), "{ctx}: {copy}");
                }
                self.silence().await;
            }
            Op::Subscribe | Op::Unsubscribe => {
                let ev = if op == Op::Subscribe {
                    "onSubscribe"
                } else {
                    "onUnsubscribe"
                };
                assert_eq!(r["event"], ev, "{ctx}: {r}");
                assert_eq!(*obj(&r), json!({"user_id": [o]}), "{ctx}: {r}");
                let copy = self.x2.reply_to(&id).await;
                assert_eq!(obj(&copy), obj(&r), "{ctx}: {copy}");
                // The subscribed-to user (o) is never informed.
                self.silence().await;
            }
            Op::GetSubscriptionList => {
                assert_eq!(r["event"], "onGetSubscriptionList", "{ctx}: {r}");
                assert_eq!(*obj(&r), json!({"subscriptions": [o]}), "{ctx}: {r}");
                self.silence().await;
            }
            Op::ManageNotification => {
                assert_eq!(r["event"], "onEditUser", "{ctx}: {r}");
                let me = obj(&r);
                assert_eq!(keys(me), self_keys_of(me), "{ctx}: {r}");
                assert_eq!(me["notification_events"], json!(["onSendMessage"]), "{ctx}");
                let copy = self.x2.reply_to(&id).await;
                assert_eq!(obj(&copy), me, "{ctx}: {copy}");
                // D20: not to subscribers (w).
                self.silence().await;
            }
            _ => unreachable!("{op:?}"),
        }
        assert_eq!(self.state(&conv).await, *before, "{ctx}: changed");
    }

    /// What the actor's `retransmitEvents` over the whole (≤ 100 event) log returns: 19 for a
    /// never-participant, else exactly the visible events, identical to the checker's copies.
    /// `frames`: an already received reply to check instead of asking again.
    async fn check_retransmit(&mut self, fx: &Fx, frames: Option<Vec<Value>>, ctx: &str) {
        let to = fx.last();
        let from = to.saturating_sub(99).max(1);
        let full = retransmit(self.checker(), &fx.conv, to)
            .await
            .unwrap_or_else(|c| panic!("{ctx}: checker retransmit failed with {c}"));
        let full: BTreeMap<u64, Value> = full
            .iter()
            .map(|f| (obj(f)["payload"]["seq"].as_u64().unwrap(), obj(f).clone()))
            .collect();
        let model: Vec<(u64, bool)> = fx
            .log
            .iter()
            .copied()
            .filter(|&(s, _)| s >= from && s <= to)
            .collect();
        assert_eq!(
            full.keys().copied().collect::<Vec<_>>(),
            model.iter().map(|e| e.0).collect::<Vec<_>>(),
            "{ctx}: checker does not see the whole log"
        );
        for &(s, is_msg) in &model {
            assert_eq!(
                full[&s]["event"].as_str().unwrap().ends_with("Message"),
                is_msg,
                "{ctx}: seq {s}"
            );
        }
        let got = match frames {
            Some(f) => Ok(f),
            None => retransmit(&mut self.x, &fx.conv, to).await,
        };
        if fx.intervals.is_empty() {
            assert_eq!(
                got.err(),
                Some(19),
                "{ctx}: retransmit by a non-participant"
            );
            return;
        }
        let got = got.unwrap_or_else(|c| panic!("{ctx}: actor retransmit failed with {c}"));
        let want: Vec<u64> = model
            .iter()
            .filter(|&&(s, m)| fx.visible(s, m))
            .map(|e| e.0)
            .collect();
        let seqs: Vec<u64> = got
            .iter()
            .map(|f| obj(f)["payload"]["seq"].as_u64().unwrap())
            .collect();
        assert_eq!(
            seqs, want,
            "{ctx}: visible events (intervals {:?})",
            fx.intervals
        );
        for f in &got {
            let p = &f["payload"];
            assert_eq!(p["from_seq"], from, "{ctx}: {f}");
            assert_eq!(p["to_seq"], to, "{ctx}: {f}");
            assert_eq!(p["count"], got.len(), "{ctx}: {f}");
            let s = obj(f)["payload"]["seq"].as_u64().unwrap();
            assert_eq!(
                obj(f),
                &full[&s],
                "{ctx}: replay differs from the owner's copy"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn authorization_matrix() {
    let started = Instant::now();
    let h = Arc::new(Harness::unlimited().await);
    let roles = Role::all();
    let mut tasks = Vec::new();
    for role in roles.clone() {
        let h = h.clone();
        tasks.push((
            role,
            tokio::spawn(async move {
                let mut g = Group::new(&h, role).await;
                let mut n = 0;
                for op in OPS {
                    n += g.row(op).await;
                }
                n
            }),
        ));
    }
    let mut total = 0;
    let mut failed = Vec::new();
    for (role, t) in tasks {
        match t.await {
            Ok(n) => total += n,
            Err(e) => failed.push(format!("{}: {e}", role.name())),
        }
    }
    assert!(failed.is_empty(), "role groups failed: {failed:#?}");
    assert_eq!(total, OPS.len() * roles.len() * 2);
    println!(
        "authorization matrix: {total} (action, role, path) combinations checked \
         ({} actions x {} roles x 2 paths: live, retransmit) in {:.1?}",
        OPS.len(),
        roles.len(),
        started.elapsed()
    );
}
