//! Property tests (issue 6, part 2): random sequences of actions by several users on a few
//! conversations, refused ones included, run against a fresh in-process server per case.
//!
//! Every user is logged in on one connection that records every frame it receives. A reference
//! model of docs/BEHAVIOUR.md sections 4-6 predicts the outcome (result or error code) and the seq of every
//! action. After the run the test checks:
//!
//! 1. per conversation, the seqs each connection receives live are strictly increasing;
//! 2. the seqs assigned are gap-free from 1 to `last_seq` (union of the live streams, and union
//!    of the retransmits of every participant and former participant), copies of one seq are
//!    identical everywhere, and a deleted conversation's `onRemoveConversation` takes `last_seq + 1`;
//! 3. `retransmitEvents` (paged by 100) returns to each user exactly the events docs/BEHAVIOUR.md 7.4 lets them
//!    see, payload for payload identical to the live frames, and the events of their
//!    participation intervals are exactly those they received live;
//! 4. no user receives live an event of a conversation outside their participation intervals
//!    (and non-participants get 19 from retransmit / getConversation of a private conversation);
//! 5. replaying the retransmitted log (snapshots, sends, edits, removals) reproduces
//!    `getConversation`'s participants, flags, title and settings, and the model's messages; the
//!    live/removed state of each stored message is probed with a non-mutating `editMessage`.
//!
//! Refused actions must leave no trace: no frame with their `request_uuid` on another connection
//! and no seq consumed (covered by the gap-free check and the model's seq prediction).
//!
//! `PROPTEST_CASES` overrides the number of cases (default 48).

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use common::{Client, Harness};
use proptest::prelude::*;
use proptest::test_runner::{Config as PtConfig, TestRunner};
use serde_json::{json, Value};

const USERS: usize = 4;
const IN_CONV: usize = 1000;
const OWNER: u64 = 65535;
const NO_SUCH_MSG: &str = "2b9c1d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d";
const PERSISTED: [&str; 5] = [
    "onCreateConversation",
    "onEditConversation",
    "onSendMessage",
    "onEditMessage",
    "onRemoveMessage",
];

static CASES: AtomicUsize = AtomicUsize::new(0);
static ACTIONS: AtomicUsize = AtomicUsize::new(0);
static REFUSED: AtomicUsize = AtomicUsize::new(0);
static EVENTS: AtomicUsize = AtomicUsize::new(0);
static FRAMES: AtomicUsize = AtomicUsize::new(0);
/// (action, outcome: "ok" or the error code) -> count.
static OUTCOMES: Mutex<BTreeMap<(&'static str, String), usize>> = Mutex::new(BTreeMap::new());

// ------------------------------------------------------------------------------- scenario

#[derive(Clone, Debug)]
struct ConvSpec {
    creator: usize,
    public: bool,
    uber: bool,
    members: Vec<(usize, Option<u64>)>,
}

/// A generated action. `user` / `actor` values below `USERS` name that user; a value `USERS + k`
/// means "the k-th current participant of the conversation" (mod their number), so that many
/// actions come from participants. `nth` below `IN_CONV` is the nth message sent anywhere (mod
/// their number; one of another conversation gives 10); `IN_CONV + k` is the k-th message of
/// this conversation. `Model::resolve` turns both into plain indexes before execution.
#[derive(Clone, Debug)]
enum Action {
    Send {
        user: usize,
        conv: usize,
        text: String,
    },
    Edit {
        user: usize,
        conv: usize,
        nth: usize,
        text: String,
    },
    Remove {
        user: usize,
        conv: usize,
        nth: usize,
    },
    Add {
        actor: usize,
        conv: usize,
        target: usize,
        flags: Option<u64>,
    },
    RemoveP {
        actor: usize,
        conv: usize,
        target: usize,
    },
    EditP {
        actor: usize,
        conv: usize,
        target: usize,
        flags: Option<u64>,
    },
    Leave {
        user: usize,
        conv: usize,
    },
    Join {
        user: usize,
        conv: usize,
    },
    EditConv {
        user: usize,
        conv: usize,
        title: Option<String>,
        public: Option<bool>,
    },
}

#[derive(Clone, Debug)]
struct Scenario {
    convs: Vec<ConvSpec>,
    /// Also a direct conversation between user 0 and user 1 (the last conversation index).
    direct: bool,
    actions: Vec<Action>,
}

fn flags() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => Just(7u64),
        2 => Just(OWNER),
        1 => Just(32768u64),
        2 => Just(15u64),
        1 => Just(63u64),
        3 => 0u64..64,
    ]
}

fn opt_flags() -> impl Strategy<Value = Option<u64>> {
    prop_oneof![1 => Just(None), 4 => flags().prop_map(Some)]
}

fn text() -> impl Strategy<Value = String> {
    "[a-zé✓ ]{1,8}"
}

fn conv_spec() -> impl Strategy<Value = ConvSpec> {
    (
        0..USERS,
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec((0..USERS, opt_flags()), 0..4),
    )
        .prop_map(|(creator, public, uber, members)| ConvSpec {
            creator,
            public,
            uber,
            members,
        })
}

fn nth() -> impl Strategy<Value = usize> {
    prop_oneof![1 => 0..64usize, 3 => IN_CONV..IN_CONV + 64]
}

fn action() -> impl Strategy<Value = Action> {
    let u = || 0..2 * USERS;
    let c = || 0..4usize;
    prop_oneof![
        6 => (u(), c(), text()).prop_map(|(user, conv, text)| Action::Send { user, conv, text }),
        3 => (u(), c(), nth(), text())
            .prop_map(|(user, conv, nth, text)| Action::Edit { user, conv, nth, text }),
        2 => (u(), c(), nth()).prop_map(|(user, conv, nth)| Action::Remove { user, conv, nth }),
        3 => (u(), c(), 0..USERS, opt_flags())
            .prop_map(|(actor, conv, target, flags)| Action::Add { actor, conv, target, flags }),
        2 => (u(), c(), 0..USERS)
            .prop_map(|(actor, conv, target)| Action::RemoveP { actor, conv, target }),
        2 => (u(), c(), 0..USERS, opt_flags())
            .prop_map(|(actor, conv, target, flags)| Action::EditP { actor, conv, target, flags }),
        1 => (u(), c()).prop_map(|(user, conv)| Action::Leave { user, conv }),
        2 => (u(), c()).prop_map(|(user, conv)| Action::Join { user, conv }),
        1 => (
            u(),
            c(),
            prop_oneof![Just(None), Just(Some(String::new())), "[a-z]{1,12}".prop_map(Some)],
            prop::option::of(any::<bool>()),
        )
            .prop_map(|(user, conv, title, public)| Action::EditConv { user, conv, title, public }),
    ]
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        prop::collection::vec(conv_spec(), 3),
        any::<bool>(),
        prop::collection::vec(action(), 10..=40),
    )
        .prop_map(|(convs, direct, actions)| Scenario {
            convs,
            direct,
            actions,
        })
}

// ---------------------------------------------------------------------------------- model

fn normalize(f: u64) -> u64 {
    if f & 32768 != 0 {
        OWNER
    } else {
        f & 63
    }
}

#[derive(Debug)]
struct MConv {
    uuid: String,
    direct: bool,
    uber: bool,
    public: bool,
    title: String,
    parts: Vec<(usize, u64)>,
    deleted: bool,
    /// Last persisted seq (the removal, if deleted, is `seq + 1`).
    seq: u64,
}

impl MConv {
    fn flags(&self, u: usize) -> Option<u64> {
        self.parts.iter().find(|p| p.0 == u).map(|p| p.1)
    }

    fn drop_user(&mut self, u: usize) {
        self.parts.retain(|p| p.0 != u);
        if self.parts.is_empty() {
            self.deleted = true;
        } else if !self.parts.iter().any(|p| p.1 == OWNER) {
            self.parts[0].1 = OWNER; // D7
        }
    }
}

#[derive(Debug)]
struct MMsg {
    uuid: String,
    conv: usize,
    sender: usize,
    text: String,
    removed: bool,
}

#[derive(Default, Debug)]
struct Model {
    convs: Vec<MConv>,
    msgs: Vec<MMsg>,
}

impl Model {
    fn msg(&self, nth: usize) -> Option<&MMsg> {
        if self.msgs.is_empty() {
            None
        } else {
            Some(&self.msgs[nth % self.msgs.len()])
        }
    }

    /// The conversation an action's `conv` index designates.
    fn ci(&self, conv: usize) -> usize {
        conv % self.convs.len()
    }

    /// Resolves the relative user and message references of a generated action.
    fn resolve(&self, a: &Action) -> Action {
        let mut a = a.clone();
        let conv = match &a {
            Action::Send { conv, .. }
            | Action::Edit { conv, .. }
            | Action::Remove { conv, .. }
            | Action::Add { conv, .. }
            | Action::RemoveP { conv, .. }
            | Action::EditP { conv, .. }
            | Action::Leave { conv, .. }
            | Action::Join { conv, .. }
            | Action::EditConv { conv, .. } => self.ci(*conv),
        };
        let c = &self.convs[conv];
        let who = |v: &mut usize| {
            if *v >= USERS {
                *v = if c.parts.is_empty() {
                    *v % USERS
                } else {
                    c.parts[(*v - USERS) % c.parts.len()].0
                };
            }
        };
        let msg = |n: &mut usize| {
            if *n >= IN_CONV {
                let mine: Vec<usize> = (0..self.msgs.len())
                    .filter(|i| self.msgs[*i].conv == conv)
                    .collect();
                *n = if mine.is_empty() {
                    *n - IN_CONV
                } else {
                    mine[(*n - IN_CONV) % mine.len()]
                };
            }
        };
        match &mut a {
            Action::Send { user, .. }
            | Action::Leave { user, .. }
            | Action::Join { user, .. }
            | Action::EditConv { user, .. } => who(user),
            Action::Edit { user, nth, .. } | Action::Remove { user, nth, .. } => {
                who(user);
                msg(nth);
            }
            Action::Add { actor, .. }
            | Action::RemoveP { actor, .. }
            | Action::EditP { actor, .. } => who(actor),
        }
        a
    }

    /// The outcome docs/BEHAVIOUR.md predicts: Ok or the error code (checks in the documented order).
    fn decide(&self, a: &Action) -> Result<(), u64> {
        let has = |f: u64, bit: u64| f & bit != 0;
        match a {
            Action::Send { user, conv, .. } => {
                let c = &self.convs[self.ci(*conv)];
                if c.deleted {
                    return Err(16);
                }
                let f = c.flags(*user).ok_or(19u64)?;
                if !has(f, 1) {
                    return Err(12);
                }
                Ok(())
            }
            Action::Edit {
                user, conv, nth, ..
            }
            | Action::Remove { user, conv, nth } => {
                let ci = self.ci(*conv);
                let c = &self.convs[ci];
                if c.deleted {
                    return Err(16);
                }
                let f = c.flags(*user).ok_or(19u64)?;
                let m = match self.msg(*nth) {
                    Some(m) if m.conv == ci => m,
                    _ => return Err(10),
                };
                if m.removed {
                    return Err(11);
                }
                let (own, other) = if matches!(a, Action::Edit { .. }) {
                    (2, 16)
                } else {
                    (4, 32)
                };
                let need = if m.sender == *user { own } else { other };
                if !has(f, need) {
                    return Err(12);
                }
                Ok(())
            }
            Action::Add {
                actor,
                conv,
                target,
                flags,
            } => {
                let c = &self.convs[self.ci(*conv)];
                if c.deleted {
                    return Err(16);
                }
                let f = c.flags(*actor).ok_or(19u64)?;
                if c.direct {
                    return Err(37);
                }
                if !has(f, 8) {
                    return Err(12);
                }
                if normalize(flags.unwrap_or(7)) == OWNER && f != OWNER {
                    return Err(12);
                }
                if c.flags(*target).is_some() {
                    return Err(13);
                }
                Ok(())
            }
            Action::RemoveP {
                actor,
                conv,
                target,
            } => {
                let c = &self.convs[self.ci(*conv)];
                if c.deleted {
                    return Err(16);
                }
                let f = c.flags(*actor).ok_or(19u64)?;
                if c.direct {
                    return Err(38);
                }
                if !has(f, 8) {
                    return Err(12);
                }
                let tf = c.flags(*target).ok_or(19u64)?;
                if tf == OWNER && f != OWNER {
                    return Err(12);
                }
                Ok(())
            }
            Action::EditP {
                actor,
                conv,
                target,
                flags,
            } => {
                let c = &self.convs[self.ci(*conv)];
                if c.deleted {
                    return Err(16);
                }
                let f = c.flags(*actor).ok_or(19u64)?;
                if !has(f, 8) {
                    return Err(12);
                }
                let tf = c.flags(*target).ok_or(19u64)?;
                let nf = normalize(flags.unwrap_or(7));
                if (tf == OWNER || nf == OWNER) && f != OWNER {
                    return Err(12);
                }
                let owners_left = c
                    .parts
                    .iter()
                    .filter(|p| {
                        if p.0 == *target {
                            nf == OWNER
                        } else {
                            p.1 == OWNER
                        }
                    })
                    .count();
                if owners_left == 0 {
                    return Err(12);
                }
                Ok(())
            }
            Action::Leave { user, conv } => {
                let c = &self.convs[self.ci(*conv)];
                if c.deleted {
                    return Err(16);
                }
                if c.direct {
                    return Err(40);
                }
                c.flags(*user).ok_or(19u64)?;
                Ok(())
            }
            Action::Join { user, conv } => {
                let c = &self.convs[self.ci(*conv)];
                if c.deleted {
                    return Err(16);
                }
                if c.direct {
                    return Err(39);
                }
                if !c.public {
                    return Err(15);
                }
                if c.flags(*user).is_some() {
                    return Err(13);
                }
                Ok(())
            }
            Action::EditConv {
                user, conv, public, ..
            } => {
                let c = &self.convs[self.ci(*conv)];
                if c.deleted {
                    return Err(16);
                }
                let f = c.flags(*user).ok_or(19u64)?;
                if f != OWNER {
                    return Err(12);
                }
                if c.direct && *public == Some(true) {
                    return Err(34);
                }
                Ok(())
            }
        }
    }

    /// Applies a successful action (`result` is the caller's result frame).
    fn apply(&mut self, a: &Action, result: &Value) {
        match a {
            Action::Send { user, conv, text } => {
                let ci = self.ci(*conv);
                self.convs[ci].seq += 1;
                self.msgs.push(MMsg {
                    uuid: result["payload"]["object"]["uuid"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                    conv: ci,
                    sender: *user,
                    text: text.clone(),
                    removed: false,
                });
            }
            Action::Edit {
                conv, nth, text, ..
            } => {
                let ci = self.ci(*conv);
                self.convs[ci].seq += 1;
                let n = nth % self.msgs.len();
                self.msgs[n].text = text.clone();
            }
            Action::Remove { conv, nth, .. } => {
                let ci = self.ci(*conv);
                self.convs[ci].seq += 1;
                let n = nth % self.msgs.len();
                self.msgs[n].removed = true;
            }
            Action::Add {
                conv,
                target,
                flags,
                ..
            } => {
                let ci = self.ci(*conv);
                let c = &mut self.convs[ci];
                c.seq += 1;
                c.parts.push((*target, normalize(flags.unwrap_or(7))));
            }
            Action::RemoveP { conv, target, .. } => {
                let ci = self.ci(*conv);
                let c = &mut self.convs[ci];
                c.seq += 1;
                c.drop_user(*target);
            }
            Action::EditP {
                conv,
                target,
                flags,
                ..
            } => {
                let ci = self.ci(*conv);
                let c = &mut self.convs[ci];
                c.seq += 1;
                let nf = normalize(flags.unwrap_or(7));
                c.parts.iter_mut().find(|p| p.0 == *target).unwrap().1 = nf;
            }
            Action::Leave { user, conv } => {
                let ci = self.ci(*conv);
                let c = &mut self.convs[ci];
                c.seq += 1;
                c.drop_user(*user);
            }
            Action::Join { user, conv } => {
                let ci = self.ci(*conv);
                let c = &mut self.convs[ci];
                c.seq += 1;
                c.parts.push((*user, 7));
            }
            Action::EditConv {
                conv,
                title,
                public,
                ..
            } => {
                let ci = self.ci(*conv);
                let c = &mut self.convs[ci];
                c.seq += 1;
                if let Some(t) = title {
                    c.title = if t.is_empty() {
                        "New conversation".into()
                    } else {
                        t.clone()
                    };
                }
                if let Some(p) = public {
                    c.public = *p;
                }
            }
        }
    }
}

// ------------------------------------------------------------------------ recording client

/// One logged-in connection per user that records every frame it receives, in order.
struct Conn {
    c: Client,
    log: Vec<Value>,
}

impl Conn {
    async fn send(&mut self, event: &str, payload: Value) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        self.c
            .send(
                json!({"service": "chat", "event": event, "request_uuid": id, "payload": payload}),
            )
            .await;
        id
    }

    /// The next frame carrying `id`; everything read on the way is recorded.
    async fn until(&mut self, id: &str) -> Value {
        loop {
            let v = self
                .c
                .next()
                .await
                .unwrap_or_else(|| panic!("no frame for {id} (closed: {:?})", self.c.closed));
            self.log.push(v.clone());
            if v["request_uuid"] == id {
                return v;
            }
        }
    }

    async fn call(&mut self, event: &str, payload: Value) -> (String, Value) {
        let id = self.send(event, payload).await;
        let v = self.until(&id).await;
        (id, v)
    }

    /// Retransmits [1, n] in windows of 100; returns the inner `{event, payload}` objects, or
    /// the error code of the first window.
    async fn retransmit_all(&mut self, conv: &str, n: u64) -> Result<Vec<Value>, u64> {
        let mut out = Vec::new();
        let mut from = 1;
        while from <= n {
            let to = (from + 99).min(n);
            let (id, first) = self
                .call(
                    "retransmitEvents",
                    json!({"conversation": conv, "events_from": from, "events_to": to}),
                )
                .await;
            if first["event"] == "onError" {
                assert_eq!(from, 1, "a later window failed: {first}");
                return Err(first["payload"]["code"].as_u64().unwrap());
            }
            assert_eq!(first["event"], "onRetransmitEvents", "{first}");
            let p = &first["payload"];
            assert_eq!(
                (p["from_seq"].as_u64(), p["to_seq"].as_u64()),
                (Some(from), Some(to))
            );
            let count = p["count"].as_u64().unwrap();
            if count == 0 {
                assert!(p.get("object").is_none(), "{first}");
            } else {
                let mut frames = vec![first];
                for _ in 1..count {
                    frames.push(self.until(&id).await);
                }
                for f in frames {
                    assert_eq!(f["payload"]["count"], count, "{f}");
                    out.push(f["payload"]["object"].clone());
                }
            }
            from = to + 1;
        }
        Ok(out)
    }
}

fn is_message_event(e: &str) -> bool {
    matches!(e, "onSendMessage" | "onEditMessage" | "onRemoveMessage")
}

/// (conversation uuid, seq) of a live persisted event or onRemoveConversation frame.
fn live_key(v: &Value) -> Option<(String, u64)> {
    let e = v["event"].as_str()?;
    if !PERSISTED.contains(&e) && e != "onRemoveConversation" {
        return None;
    }
    let p = &v["payload"];
    let conv = if is_message_event(e) {
        p["object"]["conversation"].as_str()?
    } else {
        p["object"]["uuid"].as_str()?
    };
    Some((
        conv.to_string(),
        p["seq"].as_u64().expect("persisted event has a seq"),
    ))
}

fn snapshot_parts(obj: &Value) -> Vec<(u64, u64)> {
    obj["participants"]
        .as_array()
        .unwrap_or_else(|| panic!("no participants in {obj}"))
        .iter()
        .map(|p| (p["user_id"].as_u64().unwrap(), p["flags"].as_u64().unwrap()))
        .collect()
}

// --------------------------------------------------------------------------------- a case

fn run_case(s: &Scenario) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run_case_async(s));
}

async fn run_case_async(s: &Scenario) {
    let h = Harness::unlimited().await;
    let mut ids = Vec::new();
    let mut conns = Vec::new();
    for i in 0..USERS {
        let u = h.user(&format!("u{i}")).await;
        ids.push(u.im_id);
        let mut c = h.login(&u).await;
        let log: Vec<Value> = c.pending.drain(..).collect();
        conns.push(Conn { c, log });
    }
    let idx_of = |id: u64| ids.iter().position(|x| *x == id).unwrap();
    let mut model = Model::default();

    // Setup: the generated conversations (and maybe a direct one).
    for (i, spec) in s.convs.iter().enumerate() {
        let parts: Vec<Value> = spec
            .members
            .iter()
            .map(|(u, f)| match f {
                Some(f) => json!({"user_id": ids[*u], "flags": f}),
                None => json!({"user_id": ids[*u]}),
            })
            .collect();
        let (_, r) = conns[spec.creator]
            .call(
                "createConversation",
                json!({"title": format!("c{i}"), "enable_public_join": spec.public,
                       "uber_conversation": spec.uber, "participants": parts}),
            )
            .await;
        assert_eq!(r["event"], "onCreateConversation", "{r}");
        let mut mparts = vec![(spec.creator, OWNER)];
        for (u, f) in &spec.members {
            if !mparts.iter().any(|p| p.0 == *u) {
                mparts.push((*u, normalize(f.unwrap_or(7))));
            }
        }
        model.convs.push(MConv {
            uuid: r["payload"]["object"]["uuid"].as_str().unwrap().to_string(),
            direct: false,
            uber: spec.uber,
            public: spec.public,
            title: format!("c{i}"),
            parts: mparts,
            deleted: false,
            seq: 1,
        });
    }
    if s.direct {
        let (_, r) = conns[0]
            .call(
                "createConversation",
                json!({"direct": true, "participants": [{"user_id": ids[1]}]}),
            )
            .await;
        assert_eq!(r["event"], "onCreateConversation", "{r}");
        model.convs.push(MConv {
            uuid: r["payload"]["object"]["uuid"].as_str().unwrap().to_string(),
            direct: true,
            uber: false,
            public: false,
            title: "New conversation".into(),
            parts: vec![(0, OWNER), (1, 7)],
            deleted: false,
            seq: 1,
        });
    }
    for (ci, c) in model.convs.iter().enumerate() {
        let want: Vec<(u64, u64)> = c.parts.iter().map(|p| (ids[p.0], p.1)).collect();
        let (_, g) = conns[c.parts[0].0]
            .call("getConversation", json!({"uuid": c.uuid}))
            .await;
        assert_eq!(snapshot_parts(&g["payload"]["object"]), want, "conv {ci}");
    }

    // The actions, one at a time, each checked against the model.
    let mut refused_ids: Vec<(usize, String)> = Vec::new();
    for (step, a) in s.actions.iter().enumerate() {
        let a = &model.resolve(a);
        let expected = model.decide(a);
        let msg_uuid = |nth: usize| {
            model
                .msg(nth)
                .map(|m| m.uuid.clone())
                .unwrap_or_else(|| NO_SUCH_MSG.to_string())
        };
        let cu = |conv: usize| model.convs[model.ci(conv)].uuid.clone();
        let (user, event, payload, result_event) = match a {
            Action::Send { user, conv, text } => (
                *user,
                "sendMessage",
                json!({"conversation": cu(*conv), "text": text}),
                "onSendMessage",
            ),
            Action::Edit {
                user,
                conv,
                nth,
                text,
            } => (
                *user,
                "editMessage",
                json!({"uuid": msg_uuid(*nth), "conversation": cu(*conv), "text": text}),
                "onEditMessage",
            ),
            Action::Remove { user, conv, nth } => (
                *user,
                "removeMessage",
                json!({"uuid": msg_uuid(*nth), "conversation": cu(*conv)}),
                "onRemoveMessage",
            ),
            Action::Add {
                actor,
                conv,
                target,
                flags,
            } => {
                let p = match flags {
                    Some(f) => json!({"user_id": ids[*target], "flags": f}),
                    None => json!({"user_id": ids[*target]}),
                };
                (
                    *actor,
                    "addParticipants",
                    json!({"uuid": cu(*conv), "participants": [p]}),
                    "onEditConversation",
                )
            }
            Action::RemoveP {
                actor,
                conv,
                target,
            } => (
                *actor,
                "removeParticipants",
                json!({"uuid": cu(*conv), "participants": [ids[*target]]}),
                "onEditConversation",
            ),
            Action::EditP {
                actor,
                conv,
                target,
                flags,
            } => {
                let p = match flags {
                    Some(f) => json!({"user_id": ids[*target], "flags": f}),
                    None => json!({"user_id": ids[*target]}),
                };
                (
                    *actor,
                    "editParticipants",
                    json!({"uuid": cu(*conv), "participants": [p]}),
                    "onEditConversation",
                )
            }
            Action::Leave { user, conv } => (
                *user,
                "leaveConversation",
                json!({"uuid": cu(*conv)}),
                "onEditConversation",
            ),
            Action::Join { user, conv } => (
                *user,
                "joinConversation",
                json!({"uuid": cu(*conv)}),
                "onEditConversation",
            ),
            Action::EditConv {
                user,
                conv,
                title,
                public,
            } => {
                let mut p = json!({"uuid": cu(*conv)});
                if let Some(t) = title {
                    p["title"] = json!(t);
                }
                if let Some(b) = public {
                    p["enable_public_join"] = json!(b);
                }
                (*user, "editConversation", p, "onEditConversation")
            }
        };
        let (id, r) = conns[user].call(event, payload.clone()).await;
        ACTIONS.fetch_add(1, Ordering::Relaxed);
        let outcome = match expected {
            Ok(()) => "ok".to_string(),
            Err(code) => code.to_string(),
        };
        *OUTCOMES
            .lock()
            .unwrap()
            .entry((event, outcome))
            .or_default() += 1;
        match expected {
            Err(code) => {
                assert_eq!(
                    (r["event"].as_str(), r["payload"]["code"].as_u64()),
                    (Some("onError"), Some(code)),
                    "step {step}: {a:?} ({event} {payload}) should fail with {code}: {r}"
                );
                REFUSED.fetch_add(1, Ordering::Relaxed);
                refused_ids.push((user, id));
            }
            Ok(()) => {
                assert_eq!(
                    r["event"], result_event,
                    "step {step}: {a:?} ({event} {payload}) should succeed: {r}"
                );
                model.apply(a, &r);
                let ci = match a {
                    Action::Send { conv, .. }
                    | Action::Edit { conv, .. }
                    | Action::Remove { conv, .. }
                    | Action::Add { conv, .. }
                    | Action::RemoveP { conv, .. }
                    | Action::EditP { conv, .. }
                    | Action::Leave { conv, .. }
                    | Action::Join { conv, .. }
                    | Action::EditConv { conv, .. } => model.ci(*conv),
                };
                let c = &model.convs[ci];
                assert_eq!(r["payload"]["seq"], c.seq, "step {step}: {a:?}: seq of {r}");
                assert_eq!(r["payload"]["initiator"], ids[user], "step {step}: {r}");
                if result_event == "onEditConversation" {
                    let want: Vec<(u64, u64)> = c.parts.iter().map(|p| (ids[p.0], p.1)).collect();
                    let o = &r["payload"]["object"];
                    assert_eq!(snapshot_parts(o), want, "step {step}: {a:?}: {r}");
                    assert_eq!(o["title"], c.title.as_str(), "step {step}: {r}");
                    assert_eq!(o["enable_public_join"], c.public, "step {step}: {r}");
                }
            }
        }
    }

    // Barrier: a reply on each connection comes after every broadcast produced before it.
    for c in conns.iter_mut() {
        let (_, r) = c.call("getSubscriptionList", json!({})).await;
        assert_eq!(r["event"], "onGetSubscriptionList");
    }
    let settled: Vec<usize> = conns.iter().map(|c| c.log.len()).collect();

    // Refused actions left no trace on other connections.
    for (user, id) in &refused_ids {
        for (u, c) in conns.iter().enumerate() {
            let n = c
                .log
                .iter()
                .filter(|v| v["request_uuid"] == id.as_str())
                .count();
            assert_eq!(
                n,
                usize::from(u == *user),
                "refused request {id} seen by u{u}"
            );
        }
    }

    // 1. Live seqs strictly increasing per connection and conversation; collect them.
    // live[u][conv uuid] = [(seq, frame)]
    let mut live: Vec<HashMap<String, Vec<(u64, Value)>>> = vec![HashMap::new(); USERS];
    for (u, c) in conns.iter().enumerate() {
        FRAMES.fetch_add(c.log.len(), Ordering::Relaxed);
        for v in &c.log {
            if let Some((conv, seq)) = live_key(v) {
                let l = live[u].entry(conv.clone()).or_default();
                if let Some((last, _)) = l.last() {
                    assert!(
                        seq > *last,
                        "u{u} received seq {seq} after {last} in {conv}: {v}"
                    );
                }
                l.push((seq, v.clone()));
            }
        }
    }
    let uuid_index: HashMap<&str, usize> = model
        .convs
        .iter()
        .enumerate()
        .map(|(i, c)| (c.uuid.as_str(), i))
        .collect();
    for l in &live {
        for conv in l.keys() {
            assert!(
                uuid_index.contains_key(conv.as_str()),
                "event of unknown conversation {conv}"
            );
        }
    }

    for (ci, mc) in model.convs.iter().enumerate() {
        let conv = mc.uuid.as_str();
        let n = mc.seq;
        EVENTS.fetch_add(n as usize, Ordering::Relaxed);

        // 2. The global log from the union of live streams: gap-free 1..=n, identical copies.
        let mut log: BTreeMap<u64, Value> = BTreeMap::new();
        let mut removal: Option<Value> = None;
        for l in &live {
            for (seq, v) in l.get(conv).into_iter().flatten() {
                let inner = json!({"event": v["event"], "payload": v["payload"]});
                if v["event"] == "onRemoveConversation" {
                    assert_eq!(*seq, n + 1, "conv {ci}: removal seq: {v}");
                    if let Some(r) = &removal {
                        assert_eq!(r, &inner, "conv {ci}: removal copies differ");
                    }
                    removal = Some(inner);
                    continue;
                }
                if let Some(prev) = log.get(seq) {
                    assert_eq!(prev, &inner, "conv {ci}: copies of seq {seq} differ");
                }
                log.insert(*seq, inner);
            }
        }
        let seqs: Vec<u64> = log.keys().copied().collect();
        assert_eq!(
            seqs,
            (1..=n).collect::<Vec<_>>(),
            "conv {ci}: live seqs not gap-free"
        );
        assert_eq!(removal.is_some(), mc.deleted, "conv {ci}: removal frame");

        // Participation intervals from the snapshots.
        let mut intervals: Vec<Vec<(u64, Option<u64>)>> = vec![Vec::new(); USERS];
        let mut current: BTreeSet<usize> = BTreeSet::new();
        let mut is_conv_event = BTreeMap::new();
        for (seq, e) in &log {
            let ev = e["event"].as_str().unwrap();
            is_conv_event.insert(*seq, !is_message_event(ev));
            if is_message_event(ev) {
                assert_eq!(e["payload"]["object"]["conversation"], conv);
                continue;
            }
            let o = &e["payload"]["object"];
            assert_eq!(o["last_seq"], *seq, "conv {ci}: snapshot last_seq");
            assert_eq!(o["last_update"], e["payload"]["timestamp"], "conv {ci}");
            let now: BTreeSet<usize> = snapshot_parts(o).iter().map(|p| idx_of(p.0)).collect();
            for u in now.difference(&current) {
                intervals[*u].push((*seq, None));
            }
            for u in current.difference(&now) {
                intervals[*u].last_mut().unwrap().1 = Some(*seq);
            }
            current = now;
        }
        let model_now: BTreeSet<usize> = mc.parts.iter().map(|p| p.0).collect();
        assert_eq!(current, model_now, "conv {ci}: participants");
        let in_intervals = |u: usize, seq: u64| {
            intervals[u]
                .iter()
                .any(|(a, b)| *a <= seq && seq <= b.unwrap_or(u64::MAX))
        };

        // 3/4. Live delivery is exactly the user's participation intervals (+ the removal frame
        // for the users removed by the emptying event).
        for u in 0..USERS {
            let got: Vec<u64> = live[u]
                .get(conv)
                .map(|l| l.iter().map(|x| x.0).collect())
                .unwrap_or_default();
            let mut want: Vec<u64> = (1..=n).filter(|s| in_intervals(u, *s)).collect();
            if mc.deleted && intervals[u].last().is_some_and(|i| i.1 == Some(n)) {
                want.push(n + 1);
            }
            assert_eq!(
                got, want,
                "conv {ci}: live seqs of u{u} (intervals {:?})",
                intervals[u]
            );
        }

        if mc.deleted {
            for (u, c) in conns.iter_mut().enumerate() {
                let (_, g) = c.call("getConversation", json!({"uuid": conv})).await;
                assert_eq!(g["payload"]["code"], 16, "conv {ci} u{u}: {g}");
                let r = c.retransmit_all(conv, 1).await;
                assert_eq!(r, Err(16), "conv {ci} u{u}");
            }
            continue;
        }

        // 3. Retransmit per user equals what docs/BEHAVIOUR.md 7.4 lets them see, payloads as broadcast.
        let mut union: BTreeMap<u64, Value> = BTreeMap::new();
        for u in 0..USERS {
            let r = conns[u].retransmit_all(conv, n).await;
            if intervals[u].is_empty() {
                assert_eq!(r, Err(19), "conv {ci}: u{u} never participated");
                continue;
            }
            let got = r.unwrap_or_else(|e| panic!("conv {ci}: retransmit by u{u}: {e}"));
            let l = intervals[u].last().unwrap().1.unwrap_or(u64::MAX);
            let want: Vec<u64> = (1..=n)
                .filter(|s| *s <= l && (!mc.uber || is_conv_event[s] || in_intervals(u, *s)))
                .collect();
            let got_seqs: Vec<u64> = got
                .iter()
                .map(|e| e["payload"]["seq"].as_u64().unwrap())
                .collect();
            assert_eq!(
                got_seqs, want,
                "conv {ci}: retransmit to u{u} ({:?})",
                intervals[u]
            );
            for e in got {
                let seq = e["payload"]["seq"].as_u64().unwrap();
                assert_eq!(e, log[&seq], "conv {ci}: retransmitted seq {seq} to u{u}");
                union.insert(seq, e);
            }
        }
        assert_eq!(
            union.keys().copied().collect::<Vec<_>>(),
            (1..=n).collect::<Vec<_>>(),
            "conv {ci}: retransmitted seqs not gap-free"
        );

        // 5. Replay the retransmitted log and compare with the stored state.
        let mut snap = Value::Null;
        let mut msgs: BTreeMap<String, (String, bool)> = BTreeMap::new();
        for e in union.values() {
            let o = &e["payload"]["object"];
            match e["event"].as_str().unwrap() {
                "onSendMessage" => {
                    let old = msgs.insert(
                        o["uuid"].as_str().unwrap().to_string(),
                        (o["text"].as_str().unwrap().to_string(), false),
                    );
                    assert!(old.is_none(), "conv {ci}: message uuid reused");
                }
                "onEditMessage" => {
                    let m = msgs
                        .get_mut(o["uuid"].as_str().unwrap())
                        .expect("edit of a sent message");
                    assert!(!m.1, "conv {ci}: edit of a removed message in the log");
                    m.0 = o["text"].as_str().unwrap().to_string();
                }
                "onRemoveMessage" => {
                    let m = msgs
                        .get_mut(o["uuid"].as_str().unwrap())
                        .expect("removal of a sent message");
                    assert!(!m.1, "conv {ci}: second removal in the log");
                    m.1 = true;
                }
                _ => snap = o.clone(),
            }
        }
        let owner = mc.parts.iter().find(|p| p.1 == OWNER).unwrap().0;
        let (_, g) = conns[owner]
            .call("getConversation", json!({"uuid": conv}))
            .await;
        let go = &g["payload"]["object"];
        assert_eq!(g["payload"]["seq"], n, "conv {ci}: {g}");
        assert_eq!(go["last_seq"], n, "conv {ci}: {g}");
        assert_eq!(
            go["last_update"], union[&n]["payload"]["timestamp"],
            "conv {ci}"
        );
        for k in [
            "participants",
            "title",
            "enable_public_join",
            "custom_data",
            "uber_conversation",
            "direct",
            "created_at",
        ] {
            assert_eq!(
                go[k], snap[k],
                "conv {ci}: {k} differs from the replayed log: {g}"
            );
        }
        let want: Vec<(u64, u64)> = mc.parts.iter().map(|p| (ids[p.0], p.1)).collect();
        assert_eq!(snapshot_parts(go), want, "conv {ci}: model participants");
        assert_eq!(go["title"], mc.title.as_str(), "conv {ci}: model title");
        assert_eq!(
            go["enable_public_join"], mc.public,
            "conv {ci}: model public"
        );
        let model_msgs: BTreeMap<String, (String, bool)> = model
            .msgs
            .iter()
            .filter(|m| m.conv == ci)
            .map(|m| (m.uuid.clone(), (m.text.clone(), m.removed)))
            .collect();
        assert_eq!(
            msgs, model_msgs,
            "conv {ci}: replayed messages differ from the model"
        );
        // Probe the stored message state without changing it: an owner's edit to an empty
        // message fails last (0) on a live message and with 11 on a removed one.
        for (m, (_, removed)) in &msgs {
            let (_, r) = conns[owner]
                .call(
                    "editMessage",
                    json!({"uuid": m, "conversation": conv, "text": ""}),
                )
                .await;
            let want = if *removed { 11 } else { 0 };
            assert_eq!(r["payload"]["code"], want, "conv {ci}: probe of {m}: {r}");
        }

        // 4. getConversation access: participants, former participants, or public.
        for (u, c) in conns.iter_mut().enumerate() {
            let (_, g) = c.call("getConversation", json!({"uuid": conv})).await;
            if intervals[u].is_empty() && !mc.public {
                assert_eq!(g["payload"]["code"], 19, "conv {ci} u{u}: {g}");
            } else {
                assert_eq!(g["event"], "onGetConversation", "conv {ci} u{u}: {g}");
            }
        }
    }

    // Nothing else arrived after the first barrier: the checks above are caller-only.
    for (u, c) in conns.iter_mut().enumerate() {
        let (_, r) = c.call("getSubscriptionList", json!({})).await;
        assert_eq!(r["event"], "onGetSubscriptionList");
        let stray: Vec<&Value> = c.log[settled[u]..]
            .iter()
            .filter(|v| live_key(v).is_some())
            .collect();
        assert!(
            stray.is_empty(),
            "u{u} received events after the run: {stray:?}"
        );
    }
    CASES.fetch_add(1, Ordering::Relaxed);
    h.server.shutdown().await;
}

#[test]
fn random_action_sequences_keep_log_and_visibility_invariants() {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48);
    let mut runner = TestRunner::new(PtConfig {
        cases,
        failure_persistence: None,
        max_shrink_iters: 400,
        ..PtConfig::default()
    });
    let start = Instant::now();
    let result = runner.run(&scenario(), |s| {
        run_case(&s);
        Ok(())
    });
    println!(
        "properties: {} passing case runs (incl. shrink runs), {} actions executed ({} refused), \
         {} persisted events checked, {} frames recorded, {:.1?}",
        CASES.load(Ordering::Relaxed),
        ACTIONS.load(Ordering::Relaxed),
        REFUSED.load(Ordering::Relaxed),
        EVENTS.load(Ordering::Relaxed),
        FRAMES.load(Ordering::Relaxed),
        start.elapsed()
    );
    for ((action, outcome), n) in OUTCOMES.lock().unwrap().iter() {
        println!("  {action:>20} {outcome:>3}: {n}");
    }
    if let Err(e) = result {
        panic!("{e}");
    }
}
