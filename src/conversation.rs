//! Conversation builders: creation presets, custom-data patches, participants with default
//! permissions, admins.

use std::future::IntoFuture;

use chatwire_protocol::{
    ConversationId, CreateConversation, EditConversation, JsonMap, ManageParticipants,
    ParticipantSpec, Permissions, RemoveParticipants, Request, UserId, MAX_TITLE_CHARS,
};
use futures::future::BoxFuture;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::messenger::{check_custom_data, conversation_of, dedup};
use crate::model::{Conversation, PERMISSIONS_KEY};
use crate::Messenger;

#[derive(Debug, Clone, PartialEq)]
enum Preset {
    Chat,
    Direct(UserId),
    Broadcast,
}

/// A conversation to create, from a preset that encodes the usual permissions.
///
/// | preset | members may | stored default for later members |
/// |---|---|---|
/// | [`NewConversation::chat`] | write, edit and remove their own messages, manage participants | [`NewConversation::CHAT`] |
/// | [`NewConversation::direct`] | write, edit and remove their own messages (exactly one other user; never public or uber) | none |
/// | [`NewConversation::broadcast`] | read only | [`Permissions::NONE`] |
///
/// The creator is always the owner. The default for members added later is stored in the
/// conversation's custom data under `"permissions"` and applied by
/// [`Messenger::add_participants`] when no explicit permissions are given.
///
/// # Examples
/// ```
/// use chatwire::{NewConversation, Permissions, UserId};
/// let bob: UserId = "1002".parse().unwrap();
/// let team = NewConversation::chat().title("Team").participant(bob).public(true);
/// let news = NewConversation::broadcast().title("News").member_permissions(Permissions::NONE);
/// # let _ = (team, news);
/// ```
#[derive(Debug, Clone)]
#[must_use = "pass it to Messenger::create_conversation"]
pub struct NewConversation {
    preset: Preset,
    title: Option<String>,
    public: bool,
    uber: bool,
    custom_data: JsonMap,
    participants: Vec<(UserId, Option<Permissions>)>,
    member_permissions: Permissions,
    error: Option<String>,
}

impl NewConversation {
    /// Chat members' permissions: write, edit own, remove own, manage participants (15).
    ///
    /// # Examples
    /// ```
    /// use chatwire::{NewConversation, Permissions};
    /// assert!(NewConversation::CHAT.contains(Permissions::MANAGE));
    /// assert!(!NewConversation::CHAT.contains(Permissions::EDIT_ALL));
    /// ```
    pub const CHAT: Permissions = Permissions::from_bits(15);
    /// Direct conversation members' permissions: write, edit own, remove own (7).
    ///
    /// # Examples
    /// ```
    /// use chatwire::{NewConversation, Permissions};
    /// assert_eq!(NewConversation::DIRECT, Permissions::DEFAULT);
    /// assert!(!NewConversation::DIRECT.contains(Permissions::MANAGE));
    /// ```
    pub const DIRECT: Permissions = Permissions::DEFAULT;

    fn new(preset: Preset, member_permissions: Permissions) -> Self {
        NewConversation {
            preset,
            title: None,
            public: false,
            uber: false,
            custom_data: JsonMap::new(),
            participants: Vec::new(),
            member_permissions,
            error: None,
        }
    }

    /// A group chat: members write, edit and remove their own messages and manage participants.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId, bob: chatwire::UserId) -> chatwire::Result<()> {
    /// use chatwire::NewConversation;
    /// let team = m.create_conversation(NewConversation::chat().title("Team").participant(bob)).await?;
    /// assert_eq!(team.default_permissions(), Some(NewConversation::CHAT));
    /// # Ok(()) }
    /// ```
    pub fn chat() -> Self {
        Self::new(Preset::Chat, Self::CHAT)
    }

    /// A direct (1:1) conversation with `user`; creating it again returns the existing one.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId, bob: chatwire::UserId) -> chatwire::Result<()> {
    /// use chatwire::NewConversation;
    /// let first = m.create_conversation(NewConversation::direct(bob)).await?;
    /// let again = m.create_conversation(NewConversation::direct(bob)).await?;
    /// assert_eq!(first.id, again.id);
    /// # Ok(()) }
    /// ```
    pub fn direct(user: UserId) -> Self {
        Self::new(Preset::Direct(user), Self::DIRECT)
    }

    /// A broadcast channel: members only read; the owner (and admins) write.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger) -> chatwire::Result<()> {
    /// use chatwire::{NewConversation, Permissions};
    /// let news = m.create_conversation(NewConversation::broadcast().title("News").public(true)).await?;
    /// assert_eq!(news.default_permissions(), Some(Permissions::NONE));
    /// # Ok(()) }
    /// ```
    pub fn broadcast() -> Self {
        Self::new(Preset::Broadcast, Permissions::NONE)
    }

    /// Same as [`NewConversation::broadcast`].
    ///
    /// # Examples
    /// ```
    /// use chatwire::NewConversation;
    /// let channel = NewConversation::channel().title("Announcements");
    /// # let _ = channel;
    /// ```
    pub fn channel() -> Self {
        Self::broadcast()
    }

    /// Title, at most 50 characters (default: the server's "New conversation").
    ///
    /// A longer title is reported by [`Messenger::create_conversation`] as
    /// [`Error::InvalidArgument`], before anything is sent.
    ///
    /// # Examples
    /// ```
    /// use chatwire::NewConversation;
    /// let chat = NewConversation::chat().title("Book club");
    /// # let _ = chat;
    /// ```
    pub fn title(mut self, title: impl Into<String>) -> Self {
        let title = title.into();
        if title.chars().count() > MAX_TITLE_CHARS {
            self.error = Some(format!("title longer than {MAX_TITLE_CHARS} characters"));
        }
        self.title = Some(title);
        self
    }

    /// Anyone may join (default false; not for direct conversations).
    ///
    /// A direct conversation made public is reported by [`Messenger::create_conversation`] as
    /// [`Error::InvalidArgument`].
    ///
    /// # Examples
    /// ```
    /// use chatwire::NewConversation;
    /// let lobby = NewConversation::chat().title("Lobby").public(true);
    /// # let _ = lobby;
    /// ```
    pub fn public(mut self, public: bool) -> Self {
        if public && matches!(self.preset, Preset::Direct(_)) {
            self.error = Some("a direct conversation cannot be public".into());
        }
        self.public = public;
        self
    }

    /// Members see only messages from the periods they were members (default false; not for
    /// direct conversations).
    ///
    /// # Examples
    /// ```
    /// use chatwire::NewConversation;
    /// // Newcomers do not see what was said before they joined.
    /// let support = NewConversation::chat().title("Support").public(true).uber(true);
    /// # let _ = support;
    /// ```
    pub fn uber(mut self, uber: bool) -> Self {
        if uber && matches!(self.preset, Preset::Direct(_)) {
            self.error = Some("a direct conversation cannot be uber".into());
        }
        self.uber = uber;
        self
    }

    /// Application data (the SDK adds `"permissions"`; at most 5 120 bytes in all).
    ///
    /// # Examples
    /// ```
    /// use chatwire::NewConversation;
    /// use serde_json::json;
    /// let data = json!({"color": "teal"}).as_object().unwrap().clone();
    /// let chat = NewConversation::chat().title("Design").custom_data(data);
    /// # let _ = chat;
    /// ```
    pub fn custom_data(mut self, data: JsonMap) -> Self {
        self.custom_data = data;
        self
    }

    /// Adds a member with the preset's permissions.
    ///
    /// # Examples
    /// ```
    /// use chatwire::{NewConversation, UserId};
    /// let bob: UserId = "1002".parse().unwrap();
    /// let chat = NewConversation::chat().participant(bob);
    /// # let _ = chat;
    /// ```
    pub fn participant(self, user: UserId) -> Self {
        self.participant_with(user, None)
    }

    /// Adds members with the preset's permissions.
    ///
    /// # Examples
    /// ```
    /// use chatwire::{NewConversation, UserId};
    /// let team: Vec<UserId> = ["1002", "1003"].iter().map(|s| s.parse().unwrap()).collect();
    /// let chat = NewConversation::chat().title("Team").participants(team);
    /// # let _ = chat;
    /// ```
    pub fn participants(mut self, users: impl IntoIterator<Item = UserId>) -> Self {
        for u in users {
            self = self.participant_with(u, None);
        }
        self
    }

    /// Adds a member with explicit permissions (`None`: the preset's).
    ///
    /// # Examples
    /// ```
    /// use chatwire::{NewConversation, Permissions, UserId};
    /// let bob: UserId = "1002".parse().unwrap();
    /// let carol: UserId = "1003".parse().unwrap();
    /// // Carol may only read; Bob may also manage participants; admins: Permissions::ALL.
    /// let chat = NewConversation::chat()
    ///     .participant_with(bob, Permissions::DEFAULT | Permissions::MANAGE)
    ///     .participant_with(carol, Permissions::NONE);
    /// # let _ = chat;
    /// ```
    pub fn participant_with(
        mut self,
        user: UserId,
        permissions: impl Into<Option<Permissions>>,
    ) -> Self {
        if matches!(self.preset, Preset::Direct(_)) {
            self.error = Some("a direct conversation has exactly one other participant".into());
        }
        self.participants.push((user, permissions.into()));
        self
    }

    /// Overrides the preset's permissions for members (now and added later).
    ///
    /// # Examples
    /// ```
    /// use chatwire::{NewConversation, Permissions};
    /// // A support channel where members may write but not edit or remove.
    /// let support = NewConversation::broadcast().member_permissions(Permissions::WRITE);
    /// # let _ = support;
    /// ```
    pub fn member_permissions(mut self, permissions: Permissions) -> Self {
        self.member_permissions = permissions;
        self
    }

    pub(crate) fn into_request(mut self) -> Result<Request> {
        if let Some(e) = self.error {
            return Err(Error::InvalidArgument(e));
        }
        let direct = matches!(self.preset, Preset::Direct(_));
        if let Preset::Direct(other) = self.preset {
            self.participants = vec![(other, None)];
        } else {
            self.custom_data.insert(
                PERMISSIONS_KEY.into(),
                Value::from(self.member_permissions.bits()),
            );
        }
        check_custom_data("custom_data", &self.custom_data)?;
        let member = self.member_permissions;
        Ok(Request::CreateConversation(CreateConversation {
            title: self.title,
            direct: Some(direct),
            enable_public_join: Some(self.public),
            uber_conversation: Some(self.uber),
            custom_data: Some(self.custom_data),
            participants: self
                .participants
                .into_iter()
                .map(|(user_id, p)| ParticipantSpec {
                    user_id,
                    flags: Some(p.unwrap_or(member)),
                })
                .collect(),
        }))
    }
}

/// Changes to a conversation's custom data: only the named keys change; the SDK merges them
/// onto the current value, so no other key is lost.
///
/// # Examples
/// ```
/// use chatwire::CustomDataPatch;
/// use serde_json::json;
/// let patch = CustomDataPatch::new().set("topic", json!("Q3 plans")).remove("draft");
/// let mut data = json!({"draft": true, "color": "red"}).as_object().unwrap().clone();
/// patch.apply(&mut data);
/// assert_eq!(serde_json::Value::Object(data), json!({"color": "red", "topic": "Q3 plans"}));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CustomDataPatch {
    ops: Vec<(String, Option<Value>)>,
}

impl CustomDataPatch {
    /// An empty patch.
    ///
    /// # Examples
    /// ```
    /// use chatwire::CustomDataPatch;
    /// assert_eq!(CustomDataPatch::new(), CustomDataPatch::default());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to `value`.
    ///
    /// # Examples
    /// ```
    /// use chatwire::CustomDataPatch;
    /// let mut data = chatwire::JsonMap::new();
    /// CustomDataPatch::new().set("pinned", 3).apply(&mut data);
    /// assert_eq!(data["pinned"], 3);
    /// ```
    pub fn set(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.ops.push((key.into(), Some(value.into())));
        self
    }

    /// Deletes `key`.
    ///
    /// # Examples
    /// ```
    /// use chatwire::CustomDataPatch;
    /// let mut data = chatwire::JsonMap::new();
    /// data.insert("draft".into(), true.into());
    /// CustomDataPatch::new().remove("draft").apply(&mut data);
    /// assert!(data.is_empty());
    /// ```
    pub fn remove(mut self, key: impl Into<String>) -> Self {
        self.ops.push((key.into(), None));
        self
    }

    /// Applies the changes in order.
    ///
    /// # Examples
    /// ```
    /// use chatwire::CustomDataPatch;
    /// let mut data = chatwire::JsonMap::new();
    /// // Later changes of the same key win.
    /// CustomDataPatch::new().set("n", 1).set("n", 2).apply(&mut data);
    /// assert_eq!(data["n"], 2);
    /// ```
    pub fn apply(&self, data: &mut JsonMap) {
        for (key, value) in &self.ops {
            match value {
                Some(v) => {
                    data.insert(key.clone(), v.clone());
                }
                None => {
                    data.remove(key);
                }
            }
        }
    }
}

/// Builder of [`Messenger::edit_conversation`] (owner only). Await it to send.
///
/// # Errors
/// Awaiting it fails with [`Error::InvalidArgument`] for a title over 50 characters or merged
/// custom data over 5 120 bytes (nothing is sent), with the errors of
/// [`Messenger::get_conversation`] when a custom-data patch is given (the current value is read
/// first), and with [`Error::Server`] code 8 / 16 (unknown / deleted conversation), 19 (not a
/// participant), 12 (not an owner) or 34 (a direct conversation made public).
///
/// # Examples
/// ```no_run
/// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId) -> chatwire::Result<()> {
/// use chatwire::CustomDataPatch;
/// let edited = m
///     .edit_conversation(chat)
///     .title("Q3 planning")
///     .custom_data(CustomDataPatch::new().set("topic", "budget"))
///     .await?;
/// assert_eq!(edited.title, "Q3 planning");
/// # Ok(()) }
/// ```
#[must_use = "await the edit to send it"]
pub struct ConversationEdit<'a> {
    messenger: &'a Messenger,
    conversation: ConversationId,
    title: Option<String>,
    public: Option<bool>,
    patch: Option<CustomDataPatch>,
}

impl ConversationEdit<'_> {
    /// New title (`""` resets to "New conversation").
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId) -> chatwire::Result<()> {
    /// let reset = m.edit_conversation(chat).title("").await?;
    /// assert_eq!(reset.title, "New conversation");
    /// # Ok(()) }
    /// ```
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Opens or closes public join.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId) -> chatwire::Result<()> {
    /// let closed = m.edit_conversation(chat).public(false).await?;
    /// assert!(!closed.public);
    /// # Ok(()) }
    /// ```
    pub fn public(mut self, public: bool) -> Self {
        self.public = Some(public);
        self
    }

    /// Changes custom-data keys (merged onto the current custom data).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId) -> chatwire::Result<()> {
    /// use chatwire::CustomDataPatch;
    /// // Other keys (such as the stored default permissions) are kept.
    /// let patch = CustomDataPatch::new().set("topic", "release").remove("draft");
    /// let edited = m.edit_conversation(chat).custom_data(patch).await?;
    /// assert_eq!(edited.custom_data["topic"], "release");
    /// # Ok(()) }
    /// ```
    pub fn custom_data(mut self, patch: CustomDataPatch) -> Self {
        self.patch = Some(patch);
        self
    }
}

impl<'a> IntoFuture for ConversationEdit<'a> {
    type Output = Result<Conversation>;
    type IntoFuture = BoxFuture<'a, Result<Conversation>>;
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            if self
                .title
                .as_ref()
                .is_some_and(|t| t.chars().count() > MAX_TITLE_CHARS)
            {
                return Err(Error::InvalidArgument(format!(
                    "title longer than {MAX_TITLE_CHARS} characters"
                )));
            }
            let custom_data = match self.patch {
                None => None,
                Some(patch) => {
                    let mut data = self
                        .messenger
                        .get_conversation(self.conversation)
                        .await?
                        .custom_data;
                    patch.apply(&mut data);
                    check_custom_data("custom_data", &data)?;
                    Some(data)
                }
            };
            let request = Request::EditConversation(EditConversation {
                uuid: self.conversation.to_string(),
                title: self.title,
                enable_public_join: self.public,
                custom_data,
                custom_data_patch: None,
            });
            conversation_of(self.messenger.call_one(request).await?)
        })
    }
}

/// A participant to add: a user, optionally with explicit permissions.
///
/// # Examples
/// ```
/// use chatwire::{NewParticipant, Permissions, UserId};
/// let bob: UserId = "1002".parse().unwrap();
/// let plain: NewParticipant = bob.into();
/// let writer: NewParticipant = (bob, Permissions::WRITE).into();
/// # let _ = (plain, writer);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewParticipant {
    /// The user.
    pub user: UserId,
    /// Explicit permissions (`None`: the conversation's stored default).
    pub permissions: Option<Permissions>,
}

impl From<UserId> for NewParticipant {
    fn from(user: UserId) -> Self {
        NewParticipant {
            user,
            permissions: None,
        }
    }
}

impl From<(UserId, Permissions)> for NewParticipant {
    fn from((user, permissions): (UserId, Permissions)) -> Self {
        NewParticipant {
            user,
            permissions: Some(permissions),
        }
    }
}

impl Messenger {
    /// Creates a conversation from a preset ([`NewConversation`]). For a direct conversation
    /// that already exists, returns the existing one.
    ///
    /// # Errors
    /// - [`Error::InvalidArgument`] for a title over 50 characters, a public or uber direct
    ///   conversation, extra participants of a direct conversation, or custom data over 5 120 bytes
    ///   (nothing is sent).
    /// - [`Error::Server`] with code 34 / 35 (direct rules), 22
    ///   ([`ErrorCode::TooMany`](crate::ErrorCode::TooMany): over 1 000 participants), 25
    ///   ([`ErrorCode::UserNotFound`](crate::ErrorCode::UserNotFound)) for an unknown participant or
    ///   18 ([`ErrorCode::UserValidationFailed`](crate::ErrorCode::UserValidationFailed)) for a
    ///   deleted one.
    /// - [`Error::Timeout`], [`Error::Disconnected`] or [`Error::NotLoggedIn`] when there is no
    ///   reply, the connection drops or the messenger is closed; [`Error::Server`] with code 32 or 33
    ///   when the server's rate limit is reached (both retryable, see [`Error::is_retryable`]).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId, bob: chatwire::UserId) -> chatwire::Result<()> {
    /// use chatwire::NewConversation;
    /// let lunch = m.create_conversation(NewConversation::chat().title("Lunch").participant(bob)).await?;
    /// assert_eq!(lunch.participants[0].user, m.user_id()); // the creator, owner
    /// # Ok(()) }
    /// ```
    pub async fn create_conversation(&self, conversation: NewConversation) -> Result<Conversation> {
        conversation_of(self.call_one(conversation.into_request()?).await?)
    }

    /// Edits title, public join and custom data (owner only); see [`ConversationEdit`].
    ///
    /// # Errors
    /// See [`ConversationEdit`]: 12 ([`ErrorCode::AccessDenied`](crate::ErrorCode::AccessDenied))
    /// when you are not an owner, 19 when you are not a participant, 8 / 16 for an unknown / deleted
    /// conversation.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId) -> chatwire::Result<()> {
    /// let renamed = m.edit_conversation(chat).title("Weekend plans").public(true).await?;
    /// assert!(renamed.public);
    /// # Ok(()) }
    /// ```
    pub fn edit_conversation(&self, conversation: ConversationId) -> ConversationEdit<'_> {
        ConversationEdit {
            messenger: self,
            conversation,
            title: None,
            public: None,
            patch: None,
        }
    }

    /// Adds participants (needs `MANAGE`). Those without explicit permissions get the
    /// conversation's stored default ([`Conversation::default_permissions`], else 7).
    ///
    /// # Errors
    /// - [`Error::InvalidArgument`] when the list is empty (nothing is sent).
    /// - [`Error::Server`] with code 8 / 16 (unknown / deleted conversation), 19
    ///   ([`ErrorCode::NotParticipant`](crate::ErrorCode::NotParticipant): you are not in it), 37
    ///   (a direct conversation), 12 ([`ErrorCode::AccessDenied`](crate::ErrorCode::AccessDenied):
    ///   no `MANAGE`, or granting owner without being one), 25 (unknown user), 18 (deleted user), 13
    ///   ([`ErrorCode::AlreadyParticipant`](crate::ErrorCode::AlreadyParticipant)) or 22 (over 1 000
    ///   participants), checked in that order. The call is atomic: all users are added or none.
    /// - The errors of [`Messenger::get_conversation`] when a participant has no explicit
    ///   permissions (the stored default is read first).
    /// - [`Error::Timeout`], [`Error::Disconnected`] or [`Error::NotLoggedIn`] when there is no
    ///   reply, the connection drops or the messenger is closed; [`Error::Server`] with code 32 or 33
    ///   when the server's rate limit is reached (both retryable, see [`Error::is_retryable`]).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId, bob: chatwire::UserId) -> chatwire::Result<()> {
    /// use chatwire::{NewParticipant, Permissions, UserId};
    /// let carol: UserId = "1003".parse().unwrap();
    /// // Bob gets the conversation's default permissions, Carol read-only.
    /// let after = m
    ///     .add_participants(chat, [NewParticipant::from(bob), (carol, Permissions::NONE).into()])
    ///     .await?;
    /// assert!(after.participant(carol).is_some());
    /// # Ok(()) }
    /// ```
    pub async fn add_participants<P: Into<NewParticipant>>(
        &self,
        conversation: ConversationId,
        participants: impl IntoIterator<Item = P>,
    ) -> Result<Conversation> {
        let list: Vec<NewParticipant> = participants.into_iter().map(Into::into).collect();
        if list.is_empty() {
            return Err(Error::InvalidArgument("no participants given".into()));
        }
        let default = if list.iter().any(|p| p.permissions.is_none()) {
            self.get_conversation(conversation)
                .await?
                .default_permissions()
                .unwrap_or(Permissions::DEFAULT)
        } else {
            Permissions::DEFAULT
        };
        let specs = list
            .into_iter()
            .map(|p| ParticipantSpec {
                user_id: p.user,
                flags: Some(p.permissions.unwrap_or(default)),
            })
            .collect();
        self.manage(conversation, specs, true).await
    }

    /// Replaces participants' permissions (needs `MANAGE`; touching owners needs owner).
    ///
    /// # Errors
    /// - [`Error::InvalidArgument`] when the list is empty (nothing is sent).
    /// - [`Error::Server`] with code 8 / 16 (unknown / deleted conversation), 19
    ///   ([`ErrorCode::NotParticipant`](crate::ErrorCode::NotParticipant): you or a target are not
    ///   in it), 12 ([`ErrorCode::AccessDenied`](crate::ErrorCode::AccessDenied): no `MANAGE`;
    ///   touching an owner or granting owner without being one; leaving no owner) or 25 (unknown
    ///   user). The call is atomic.
    /// - [`Error::Timeout`], [`Error::Disconnected`] or [`Error::NotLoggedIn`] when there is no
    ///   reply, the connection drops or the messenger is closed; [`Error::Server`] with code 32 or 33
    ///   when the server's rate limit is reached (both retryable, see [`Error::is_retryable`]).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId, bob: chatwire::UserId) -> chatwire::Result<()> {
    /// use chatwire::Permissions;
    /// let after = m.edit_participants(chat, [(bob, Permissions::WRITE)]).await?;
    /// assert_eq!(after.participant(bob).map(|p| p.permissions), Some(Permissions::WRITE));
    /// # Ok(()) }
    /// ```
    pub async fn edit_participants(
        &self,
        conversation: ConversationId,
        participants: impl IntoIterator<Item = (UserId, Permissions)>,
    ) -> Result<Conversation> {
        let specs: Vec<ParticipantSpec> = participants
            .into_iter()
            .map(|(user_id, p)| ParticipantSpec {
                user_id,
                flags: Some(p),
            })
            .collect();
        if specs.is_empty() {
            return Err(Error::InvalidArgument("no participants given".into()));
        }
        self.manage(conversation, specs, false).await
    }

    async fn manage(
        &self,
        conversation: ConversationId,
        participants: Vec<ParticipantSpec>,
        add: bool,
    ) -> Result<Conversation> {
        let body = ManageParticipants {
            uuid: conversation.to_string(),
            participants,
        };
        let request = if add {
            Request::AddParticipants(body)
        } else {
            Request::EditParticipants(body)
        };
        conversation_of(self.call_one(request).await?)
    }

    /// Removes participants (needs `MANAGE`; removing an owner needs owner).
    ///
    /// # Errors
    /// - [`Error::InvalidArgument`] when the list is empty (nothing is sent).
    /// - [`Error::Server`] with code 8 / 16 (unknown / deleted conversation), 19
    ///   ([`ErrorCode::NotParticipant`](crate::ErrorCode::NotParticipant): you or a target are not
    ///   in it), 38 (a direct conversation), 12
    ///   ([`ErrorCode::AccessDenied`](crate::ErrorCode::AccessDenied): no `MANAGE`, or removing an
    ///   owner without being one) or 25 (unknown user). The call is atomic.
    /// - [`Error::Timeout`], [`Error::Disconnected`] or [`Error::NotLoggedIn`] when there is no
    ///   reply, the connection drops or the messenger is closed; [`Error::Server`] with code 32 or 33
    ///   when the server's rate limit is reached (both retryable, see [`Error::is_retryable`]).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId, bob: chatwire::UserId) -> chatwire::Result<()> {
    /// let after = m.remove_participants(chat, [bob]).await?;
    /// assert!(after.participant(bob).is_none());
    /// # Ok(()) }
    /// ```
    pub async fn remove_participants(
        &self,
        conversation: ConversationId,
        users: impl IntoIterator<Item = UserId>,
    ) -> Result<Conversation> {
        let users = dedup(users);
        if users.is_empty() {
            return Err(Error::InvalidArgument("no participants given".into()));
        }
        let request = Request::RemoveParticipants(RemoveParticipants {
            uuid: conversation.to_string(),
            participants: users,
        });
        conversation_of(self.call_one(request).await?)
    }

    /// Makes participants admins: owner with every permission (needs owner).
    ///
    /// # Errors
    /// - [`Error::InvalidArgument`] when the list is empty (nothing is sent).
    /// - [`Error::Server`] with code 12 ([`ErrorCode::AccessDenied`](crate::ErrorCode::AccessDenied))
    ///   when you are not an owner, otherwise as [`Messenger::edit_participants`] (8 / 16, 19, 25).
    /// - [`Error::Timeout`], [`Error::Disconnected`] or [`Error::NotLoggedIn`] when there is no
    ///   reply, the connection drops or the messenger is closed; [`Error::Server`] with code 32 or 33
    ///   when the server's rate limit is reached (both retryable, see [`Error::is_retryable`]).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId, bob: chatwire::UserId) -> chatwire::Result<()> {
    /// let after = m.add_admins(chat, [bob]).await?;
    /// assert!(after.participant(bob).is_some_and(|p| p.permissions.is_owner()));
    /// # Ok(()) }
    /// ```
    pub async fn add_admins(
        &self,
        conversation: ConversationId,
        users: impl IntoIterator<Item = UserId>,
    ) -> Result<Conversation> {
        self.edit_participants(
            conversation,
            dedup(users).into_iter().map(|u| (u, Permissions::ALL)),
        )
        .await
    }

    /// Turns admins back into members with the conversation's default permissions.
    ///
    /// # Errors
    /// - The errors of [`Messenger::get_conversation`] (8 / 16 / 19; the default is read first).
    /// - [`Error::InvalidArgument`] when the list is empty (nothing is sent).
    /// - [`Error::Server`] with code 12 ([`ErrorCode::AccessDenied`](crate::ErrorCode::AccessDenied))
    ///   when you are not an owner or no owner would remain, otherwise as
    ///   [`Messenger::edit_participants`] (19, 25).
    /// - [`Error::Timeout`], [`Error::Disconnected`] or [`Error::NotLoggedIn`] when there is no
    ///   reply, the connection drops or the messenger is closed; [`Error::Server`] with code 32 or 33
    ///   when the server's rate limit is reached (both retryable, see [`Error::is_retryable`]).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId, bob: chatwire::UserId) -> chatwire::Result<()> {
    /// let after = m.remove_admins(chat, [bob]).await?;
    /// assert!(after.participant(bob).is_some_and(|p| !p.permissions.is_owner()));
    /// # Ok(()) }
    /// ```
    pub async fn remove_admins(
        &self,
        conversation: ConversationId,
        users: impl IntoIterator<Item = UserId>,
    ) -> Result<Conversation> {
        let default = self
            .get_conversation(conversation)
            .await?
            .default_permissions()
            .unwrap_or(Permissions::DEFAULT);
        self.edit_participants(conversation, dedup(users).into_iter().map(|u| (u, default)))
            .await
    }

    /// Sets the default permissions of members: stores them in the conversation's custom data
    /// and applies them to every current member who is not an owner (two requests, as the
    /// original demo does; needs owner).
    ///
    /// # Errors
    /// - The errors of [`Messenger::edit_conversation`]: 12
    ///   ([`ErrorCode::AccessDenied`](crate::ErrorCode::AccessDenied)) when you are not an owner, 19
    ///   when you are not a participant, 8 / 16 for an unknown / deleted conversation.
    /// - The errors of [`Messenger::edit_participants`] for the second request; the stored default
    ///   is then already changed, so calling again completes it.
    /// - [`Error::Timeout`], [`Error::Disconnected`] or [`Error::NotLoggedIn`] when there is no
    ///   reply, the connection drops or the messenger is closed; [`Error::Server`] with code 32 or 33
    ///   when the server's rate limit is reached (both retryable, see [`Error::is_retryable`]).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId) -> chatwire::Result<()> {
    /// use chatwire::Permissions;
    /// // Make a chat read-only for its members (owners keep every permission).
    /// let after = m.edit_permissions(chat, Permissions::NONE).await?;
    /// assert_eq!(after.default_permissions(), Some(Permissions::NONE));
    /// # Ok(()) }
    /// ```
    pub async fn edit_permissions(
        &self,
        conversation: ConversationId,
        permissions: Permissions,
    ) -> Result<Conversation> {
        let patch = CustomDataPatch::new().set(PERMISSIONS_KEY, permissions.bits());
        let current = self
            .edit_conversation(conversation)
            .custom_data(patch)
            .await?;
        let members: Vec<(UserId, Permissions)> = current
            .participants
            .iter()
            .filter(|p| !p.permissions.is_owner())
            .map(|p| (p.user, permissions))
            .collect();
        if members.is_empty() {
            return Ok(current);
        }
        self.edit_participants(conversation, members).await
    }
}
