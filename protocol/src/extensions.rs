//! chatwire extensions beyond the original protocol (docs/PROTOCOL.md section 12).
//!
//! Every extension is advertised by the server in the `loginSuccessful` options object under
//! [`EXTENSIONS_KEY`] ([`ServerExtensions`]), a key the official Web SDK ignores; a client opts in
//! to idempotency keys in its `login` options ([`ClientExtensions`]). Catch-up in one request
//! ([`CatchUp`] → [`CatchUpPage`]) and custom-data merge patches ([`apply_merge_patch`]) need no
//! opt-in: sending them is the opt-in.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::fields::{missing, Fields};
use crate::objects::{ConversationObject, RetransmittedEvent};
use crate::{lenient, ConversationId, DecodeError, Seq};

/// The key of the extension object in `loginSuccessful` and `login` options.
pub const EXTENSIONS_KEY: &str = "chatwire";
/// The version of the extension set described here.
pub const EXTENSIONS_VERSION: u32 = 1;
/// Extension name: one-request catch-up (`catchUp`).
pub const EXT_CATCH_UP: &str = "catchUp";
/// Extension name: idempotency keys on seq-consuming mutations.
pub const EXT_IDEMPOTENCY: &str = "idempotency";
/// Extension name: `custom_data_patch` on `editConversation`.
pub const EXT_CUSTOM_DATA_PATCH: &str = "customDataPatch";
/// Maximum positions in one `catchUp` request.
pub const MAX_CATCH_UP_POSITIONS: usize = 500;
/// Maximum events in one `onCatchUp` page.
pub const CATCH_UP_PAGE_EVENTS: usize = 100;
/// Approximate size budget of one `onCatchUp` page, in bytes.
pub const CATCH_UP_PAGE_BYTES: usize = 256 * 1024;
/// Maximum length of an idempotency key, in characters.
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 128;
/// The shortest idempotency window a server may advertise, in seconds.
pub const MIN_IDEMPOTENCY_WINDOW_SECS: u64 = 86_400;

/// The limits a server advertises at login (0 means "no limit").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AdvertisedLimits {
    /// Messaging requests per rolling second per connection.
    pub requests_per_second: u32,
    /// Messaging requests per rolling minute per connection.
    pub requests_per_minute: u32,
    /// Outbound queue per connection, in frames.
    pub outbound_queue: usize,
    /// Maximum client frame size, in bytes.
    pub max_frame_bytes: usize,
}

impl AdvertisedLimits {
    /// Limits with the given values.
    ///
    /// ```
    /// use chatwire_protocol::AdvertisedLimits;
    /// let l = AdvertisedLimits::new(20, 600, 1024, 65536);
    /// assert_eq!(l.requests_per_second, 20);
    /// ```
    pub fn new(
        requests_per_second: u32,
        requests_per_minute: u32,
        outbound_queue: usize,
        max_frame_bytes: usize,
    ) -> Self {
        AdvertisedLimits {
            requests_per_second,
            requests_per_minute,
            outbound_queue,
            max_frame_bytes,
        }
    }
}

impl Default for AdvertisedLimits {
    /// The specification's defaults (20/s, 600/min, 1 024 frames, 65 536 bytes).
    fn default() -> Self {
        AdvertisedLimits::new(20, 600, 1024, crate::DEFAULT_MAX_FRAME_BYTES)
    }
}

/// What a server advertises under [`EXTENSIONS_KEY`] in `loginSuccessful`.
///
/// ```
/// use chatwire_protocol::{ServerExtensions, EXT_CATCH_UP};
/// use serde_json::json;
/// let ext = ServerExtensions::new(Default::default(), 86400);
/// let mut options = json!({"OAuth": {}});
/// ext.insert_into(&mut options);
/// let params = vec![json!("Alice"), options];
/// let read = ServerExtensions::from_login_params(&params).unwrap();
/// assert!(read.has(EXT_CATCH_UP));
/// assert_eq!(read, ext);
/// assert_eq!(ServerExtensions::from_login_params(&[json!("Alice"), json!({"OAuth": {}})]), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ServerExtensions {
    /// [`EXTENSIONS_VERSION`] of the server.
    pub version: u32,
    /// Names of the extensions the server supports.
    pub extensions: Vec<String>,
    /// The server's per-connection limits.
    pub limits: AdvertisedLimits,
    /// How long idempotency keys are remembered, in seconds.
    pub idempotency_window: u64,
}

impl ServerExtensions {
    /// Every extension of this version ([`ServerExtensions::ALL`]), with these limits and
    /// idempotency window.
    pub fn new(limits: AdvertisedLimits, idempotency_window: u64) -> Self {
        Self::with(Self::ALL, limits, idempotency_window)
    }

    /// Every extension this version defines.
    pub const ALL: &'static [&'static str] =
        &[EXT_CATCH_UP, EXT_IDEMPOTENCY, EXT_CUSTOM_DATA_PATCH];

    /// The named extensions only.
    pub fn with(names: &[&str], limits: AdvertisedLimits, idempotency_window: u64) -> Self {
        ServerExtensions {
            version: EXTENSIONS_VERSION,
            extensions: names.iter().map(|n| n.to_string()).collect(),
            limits,
            idempotency_window,
        }
    }

    /// Whether the server supports the extension `name`.
    pub fn has(&self, name: &str) -> bool {
        self.extensions.iter().any(|e| e == name)
    }

    /// Reads the advertisement from `loginSuccessful` params (`None` from a server without
    /// extensions, or an advertisement this version cannot read).
    pub fn from_login_params(params: &[Value]) -> Option<ServerExtensions> {
        let ext = params.get(1)?.get(EXTENSIONS_KEY)?;
        serde_json::from_value(ext.clone()).ok()
    }

    /// Adds the advertisement to a `loginSuccessful` options object.
    pub fn insert_into(&self, options: &mut Value) {
        if let Value::Object(map) = options {
            map.insert(
                EXTENSIONS_KEY.into(),
                serde_json::to_value(self).expect("serializes"),
            );
        }
    }
}

/// What a client asks for under [`EXTENSIONS_KEY`] in its `login` options.
///
/// ```
/// use chatwire_protocol::{ClientExtensions, ClientSession, Credential};
/// let mut frame = ClientSession::Login(Some(("a@app.acc".into(), Credential::Password("pw".into())))).to_frame();
/// ClientExtensions { idempotency: true }.apply(&mut frame.params);
/// assert!(ClientExtensions::from_login_params(&frame.params).idempotency);
/// // The login itself reads as before.
/// assert!(matches!(ClientSession::from_frame(&frame), ClientSession::Login(Some(_))));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientExtensions {
    /// Honour `idempotency_key` on this connection's mutations.
    #[serde(default)]
    pub idempotency: bool,
}

impl ClientExtensions {
    /// Reads the opt-in from `login` params (nothing asked when absent or malformed).
    pub fn from_login_params(params: &[Value]) -> ClientExtensions {
        params
            .get(2)
            .and_then(|o| o.get(EXTENSIONS_KEY))
            .and_then(|e| serde_json::from_value(e.clone()).ok())
            .unwrap_or_default()
    }

    /// Adds the opt-in to `login` params (creating the options object if needed).
    pub fn apply(&self, params: &mut Vec<Value>) {
        while params.len() < 3 {
            params.push(if params.len() == 2 {
                Value::Object(Map::new())
            } else {
                Value::String(String::new())
            });
        }
        if !params[2].is_object() {
            params[2] = Value::Object(Map::new());
        }
        if let Value::Object(map) = &mut params[2] {
            map.insert(
                EXTENSIONS_KEY.into(),
                serde_json::to_value(self).expect("serializes"),
            );
        }
    }
}

/// Checks an idempotency key: 1 to [`MAX_IDEMPOTENCY_KEY_CHARS`] characters.
///
/// ```
/// use chatwire_protocol::check_idempotency_key;
/// assert!(check_idempotency_key("reply:c1:41").is_ok());
/// assert!(check_idempotency_key("").is_err());
/// assert!(check_idempotency_key(&"k".repeat(129)).is_err());
/// ```
pub fn check_idempotency_key(key: &str) -> Result<(), DecodeError> {
    let n = key.chars().count();
    if n == 0 || n > MAX_IDEMPOTENCY_KEY_CHARS {
        return Err(DecodeError::invalid(
            "idempotency_key",
            format!("must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} characters, got {n}"),
        ));
    }
    Ok(())
}

/// One position of a [`CatchUp`] request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CatchUpPosition {
    /// Conversation uuid as sent.
    pub conversation: String,
    /// The last seq the client delivered (`0`: none); `None`: unknown to the client, covered
    /// from the start of the caller's current participation.
    pub seq: Option<u64>,
}

/// `catchUp`: positions of up to [`MAX_CATCH_UP_POSITIONS`] conversations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CatchUp {
    /// The positions, in the order the client wants them covered.
    pub positions: Vec<CatchUpPosition>,
}

impl CatchUp {
    /// Decodes the payload (the code-0 checks; 21 and 22 belong to the server).
    pub(crate) fn decode(payload: &Map<String, Value>) -> Result<CatchUp, DecodeError> {
        let f = Fields(payload);
        let list = f
            .opt_list("positions")?
            .ok_or_else(|| missing("positions"))?;
        let mut positions = Vec::with_capacity(list.len());
        for (i, item) in list.iter().enumerate() {
            let field = format!("positions[{i}]");
            let Value::Object(obj) = item else {
                return Err(DecodeError::invalid(field, "expected an object"));
            };
            let conversation = match obj.get("conversation") {
                Some(Value::String(s)) => s.clone(),
                _ => {
                    return Err(DecodeError::invalid(
                        format!("{field}.conversation"),
                        "expected a string",
                    ))
                }
            };
            let seq = match obj.get("seq") {
                None | Some(Value::Null) => None,
                Some(v) => Some(
                    lenient::int_of(v)
                        .and_then(|n| u64::try_from(n).ok())
                        .ok_or_else(|| {
                            DecodeError::invalid(
                                format!("{field}.seq"),
                                "expected an integer >= 0 or null",
                            )
                        })?,
                ),
            };
            positions.push(CatchUpPosition { conversation, seq });
        }
        Ok(CatchUp { positions })
    }
}

/// Where the caller stands in a conversation listed in a [`CatchUp`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CatchUpState {
    /// The caller is a participant.
    Participant,
    /// The caller left or was removed; readable up to `last_seq`.
    Former,
    /// The conversation was deleted; `last_seq` is its final seq.
    Deleted,
    /// No conversation ever had this uuid.
    NotFound,
    /// The caller was never a participant.
    NotParticipant,
    /// A state this version does not know.
    #[serde(other)]
    Unknown,
}

/// One conversation of an `onCatchUp` page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CatchUpEntry {
    /// The conversation uuid as listed by the client.
    pub conversation: String,
    /// Where the caller stands.
    pub state: CatchUpState,
    /// The last seq the caller may read: the conversation's last seq, L for a former
    /// participant, the final seq of a deleted conversation; 0 when unknown.
    #[serde(default, deserialize_with = "lenient::u64")]
    pub last_seq: u64,
    /// Covered range start (with `to_seq`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_seq: Option<Seq>,
    /// Covered range end (with `from_seq`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_seq: Option<Seq>,
    /// Participants: the seq of the event that began the current participation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joined_seq: Option<Seq>,
    /// Participants: the caller's read mark.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_read: Option<u64>,
    /// Participants and former participants: the current snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<Box<ConversationObject>>,
}

impl CatchUpEntry {
    /// An entry with only the state and last seq set.
    pub fn new(conversation: impl Into<String>, state: CatchUpState, last_seq: u64) -> Self {
        CatchUpEntry {
            conversation: conversation.into(),
            state,
            last_seq,
            from_seq: None,
            to_seq: None,
            joined_seq: None,
            last_read: None,
            object: None,
        }
    }

    /// The conversation id, if the uuid is a valid one.
    pub fn id(&self) -> Option<ConversationId> {
        ConversationId::parse(&self.conversation)
    }

    /// The covered range, if any.
    pub fn covered(&self) -> Option<(u64, u64)> {
        Some((self.from_seq?.get(), self.to_seq?.get()))
    }
}

/// The `object` of an `onCatchUp` frame: one page.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct CatchUpPage {
    /// One entry per listed conversation the page reached, in request order.
    pub conversations: Vec<CatchUpEntry>,
    /// The events of the covered ranges, ascending by seq per conversation.
    pub events: Vec<RetransmittedEvent>,
    /// Whether some listed conversation is not covered up to its `last_seq` yet.
    pub more: bool,
}

#[derive(Deserialize)]
struct RawPage<'a> {
    #[serde(default)]
    conversations: Vec<CatchUpEntry>,
    #[serde(borrow, default)]
    events: Vec<&'a RawValue>,
    #[serde(default)]
    more: bool,
}

impl CatchUpPage {
    /// Decodes a page from the raw text of `payload.object`.
    pub(crate) fn decode_raw(text: &str) -> Result<CatchUpPage, DecodeError> {
        let raw: RawPage<'_> = serde_json::from_str(text)
            .map_err(|e| DecodeError::invalid("payload.object", e.to_string()))?;
        let events = raw
            .events
            .into_iter()
            .map(|e| crate::frame::decode_inner_event(e.get()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CatchUpPage {
            conversations: raw.conversations,
            events,
            more: raw.more,
        })
    }

    /// Encodes a page whose events are given as (event name, encoded payload) pairs, as the
    /// server stores them: each payload is copied, never re-encoded.
    ///
    /// ```
    /// use chatwire_protocol::{CatchUpEntry, CatchUpPage, CatchUpState, EventName, EventObject, ServerFrame};
    /// let c = "6f1c2a9e-0b5d-4c3a-9e7f-1a2b3c4d5e6f";
    /// let m = "9d8c7b6a-5f4e-4d3c-b2a1-0f9e8d7c6b5a";
    /// let entries = [CatchUpEntry::new(c, CatchUpState::Deleted, 9)];
    /// let payload = format!(r#"{{"initiator":3,"on_incoming_event":"sendMessage","seq":8,"timestamp":5,"object":{{"uuid":"{m}","conversation":"{c}","text":"hi","payload":[]}}}}"#);
    /// let object = CatchUpPage::encode(&entries, &[("onSendMessage", payload.as_str())], false);
    /// let frame = format!(r#"{{"service":"chat","event":"onCatchUp","payload":{{"timestamp":1,"object":{object}}}}}"#);
    /// let Some(EventObject::CatchUp(page)) = ServerFrame::decode(&frame).unwrap().payload.object else { panic!() };
    /// assert_eq!(page.conversations, entries);
    /// assert_eq!(page.events[0].event, EventName::SendMessage);
    /// assert_eq!(page.events[0].payload.seq.unwrap().get(), 8);
    /// ```
    pub fn encode(entries: &[CatchUpEntry], events: &[(&str, &str)], more: bool) -> String {
        let mut out =
            String::with_capacity(256 + events.iter().map(|e| e.1.len() + 40).sum::<usize>());
        out.push_str(r#"{"conversations":"#);
        out.push_str(&serde_json::to_string(entries).expect("serializes"));
        out.push_str(r#","events":["#);
        for (i, (event, payload)) in events.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(r#"{"event":"#);
            out.push_str(&serde_json::to_string(event).expect("string"));
            out.push_str(r#","payload":"#);
            out.push_str(payload);
            out.push('}');
        }
        out.push_str(r#"],"more":"#);
        out.push_str(if more { "true" } else { "false" });
        out.push('}');
        out
    }
}

/// Applies a custom-data patch to an object, one level deep: a key whose value is `null` is
/// removed, any other value (objects included) replaces the key's value as a whole; keys the
/// patch does not name are kept. Unlike RFC 7386, object values are not merged recursively, so a
/// patch sets exactly the values it names.
///
/// ```
/// use chatwire_protocol::apply_merge_patch;
/// use serde_json::json;
/// let mut data = json!({"a": 1, "b": {"x": 1, "y": 2}, "c": 3}).as_object().unwrap().clone();
/// let patch = json!({"a": null, "b": {"z": 3}, "d": [1]}).as_object().unwrap().clone();
/// apply_merge_patch(&mut data, &patch);
/// assert_eq!(serde_json::Value::Object(data), json!({"b": {"z": 3}, "c": 3, "d": [1]}));
/// ```
pub fn apply_merge_patch(target: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (key, value) in patch {
        match value {
            Value::Null => {
                target.remove(key);
            }
            other => {
                target.insert(key.clone(), other.clone());
            }
        }
    }
}
