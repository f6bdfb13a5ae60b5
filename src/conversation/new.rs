//! [`NewConversation`]: a conversation to create, from a preset that encodes the usual
//! permissions (chat, direct, broadcast).

use chatwire_protocol::{
    CreateConversation, JsonMap, ParticipantSpec, Permissions, Request, UserId,
};

use super::permissions;
use crate::checks::{self, InvalidArgument, InvalidArgumentKind};
use crate::error::Result;
use crate::request_id::RequestId;
#[cfg(doc)]
use crate::{Error, Messenger};

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
/// conversation's custom data under [`PERMISSIONS_KEY`](crate::PERMISSIONS_KEY) and applied by
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
    /// The last failed check of a setter (the setters never fail; creating does).
    error: Option<InvalidArgument>,
    /// The idempotency key of the creation (default: a new UUID).
    key: Option<String>,
    /// The request id of the creation.
    id: RequestId,
}

impl NewConversation {
    /// The id this call is sent with, chosen when it was built (a clone keeps it: give each creation its own `NewConversation`). The events it causes carry it in
    /// [`EventMeta::request_id`](crate::EventMeta::request_id), on every device: see
    /// [`RequestId`](crate::RequestId).
    pub fn request_id(&self) -> &RequestId {
        &self.id
    }

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
            key: None,
            id: RequestId::new(),
        }
    }

    /// The idempotency key of the creation (default: a new UUID): sent with every attempt, so a
    /// creation cut off by a drop or a restart makes one conversation; see
    /// [`MessageSend::idempotency_key`](crate::MessageSend::idempotency_key).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger) -> chatwire::Result<()> {
    /// use chatwire::NewConversation;
    /// let chat = m
    ///     .create_conversation(NewConversation::chat().title("Ticket 4711").idempotency_key("ticket-4711"))
    ///     .await?;
    /// # let _ = chat;
    /// # Ok(()) }
    /// ```
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        let key = key.into();
        if let Err(e) = crate::checks::idempotency_key(&key) {
            self.error = Some(e);
        }
        self.key = Some(key);
        self
    }

    /// The idempotency key set with [`NewConversation::idempotency_key`].
    pub(crate) fn take_key(&mut self) -> Option<String> {
        self.key.take()
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
    /// [`Error::InvalidArgument`] ([`TitleTooLong`](InvalidArgumentKind::TitleTooLong)), before
    /// anything is sent.
    ///
    /// # Examples
    /// ```
    /// use chatwire::NewConversation;
    /// let chat = NewConversation::chat().title("Book club");
    /// # let _ = chat;
    /// ```
    pub fn title(mut self, title: impl Into<String>) -> Self {
        let title = title.into();
        if let Err(e) = checks::title(&title) {
            self.error = Some(e);
        }
        self.title = Some(title);
        self
    }

    /// Anyone may join (default false; not for direct conversations).
    ///
    /// A direct conversation made public is reported by [`Messenger::create_conversation`] as
    /// [`Error::InvalidArgument`] ([`DirectPublic`](InvalidArgumentKind::DirectPublic)).
    ///
    /// # Examples
    /// ```
    /// use chatwire::NewConversation;
    /// let lobby = NewConversation::chat().title("Lobby").public(true);
    /// # let _ = lobby;
    /// ```
    pub fn public(mut self, public: bool) -> Self {
        if public && self.is_direct() {
            self.error = Some(InvalidArgument::new(
                InvalidArgumentKind::DirectPublic,
                "a direct conversation cannot be public: use NewConversation::chat for a public one",
            ));
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
        if uber && self.is_direct() {
            self.error = Some(InvalidArgument::new(
                InvalidArgumentKind::DirectUber,
                "a direct conversation cannot be uber: use NewConversation::chat for an uber one",
            ));
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
        if self.is_direct() {
            self.error = Some(InvalidArgument::new(
                InvalidArgumentKind::DirectParticipants,
                "a direct conversation has exactly one other participant, given to \
                 NewConversation::direct: use NewConversation::chat for more",
            ));
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

    fn is_direct(&self) -> bool {
        matches!(self.preset, Preset::Direct(_))
    }

    pub(crate) fn into_request(mut self) -> Result<Request> {
        if let Some(e) = self.error {
            return Err(e.into());
        }
        let direct = self.is_direct();
        if let Preset::Direct(other) = self.preset {
            self.participants = vec![(other, None)];
        } else {
            permissions::store_default(&mut self.custom_data, self.member_permissions);
        }
        checks::custom_data("custom_data", &self.custom_data)?;
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
