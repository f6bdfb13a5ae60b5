//! Users, presence and subscriptions: reading user records, editing your own, setting your
//! status, and subscribing to other users' presence and profile changes.

use std::future::IntoFuture;

use chatwire_protocol::{
    EditUser, GetUsers, JsonMap, Request, SetStatus, Subscribe, Unsubscribe, UserId, UserRef,
    MAX_GET_USERS, MAX_SUBSCRIBE_IDS,
};
use futures::future::BoxFuture;

use crate::error::Result;
use crate::messenger::dedup;
use crate::model::User;
use crate::request_id::RequestId;
use crate::{checks, decode, Messenger};

impl Messenger {
    /// Your own user record, with private data.
    ///
    /// # Errors
    /// Only the [common errors](crate::Messenger#errors).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger) -> chatwire::Result<()> {
    /// let me = m.me().await?;
    /// let private = me.private.expect("your own record has the private fields");
    /// println!("{} is in {} conversations", me.name, private.conversations.len());
    /// # Ok(()) }
    /// ```
    pub async fn me(&self) -> Result<User> {
        self.get_user(self.user_id()).await
    }

    /// A user by IM id. Fails with code 25 for an unknown user.
    ///
    /// # Errors
    /// The [common errors](crate::Messenger#errors), and [`Error::Server`](crate::Error::Server)
    /// with code 25 ([`ErrorCode::UserNotFound`](crate::ErrorCode::UserNotFound)) for an unknown
    /// user (a deleted user is returned with [`User::deleted`](crate::User::deleted)).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId, bob: chatwire::UserId) -> chatwire::Result<()> {
    /// let bob = m.get_user(bob).await?;
    /// println!("{} ({})", bob.display_name, bob.name);
    /// # Ok(()) }
    /// ```
    pub async fn get_user(&self, user: UserId) -> Result<User> {
        decode::user(self.call_one(Request::GetUser(UserRef::Id(user))).await?)
    }

    /// A user by name: `name@app.account`, or just `name` for a user of your own application.
    ///
    /// # Errors
    /// The [common errors](crate::Messenger#errors), and [`Error::Server`](crate::Error::Server)
    /// with code 25 ([`ErrorCode::UserNotFound`](crate::ErrorCode::UserNotFound)) when no user has
    /// that name.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger) -> chatwire::Result<()> {
    /// let bob = m.get_user_by_name("bob").await?;
    /// let same = m.get_user_by_name("bob@chatwire.local").await?;
    /// assert_eq!(bob.id, same.id);
    /// # Ok(()) }
    /// ```
    pub async fn get_user_by_name(&self, name: &str) -> Result<User> {
        let full = self.full_name(name);
        decode::user(self.call_one(Request::GetUser(UserRef::Name(full))).await?)
    }

    /// Any number of users by id, in the order given (duplicates once); the SDK sends batches
    /// of 50.
    ///
    /// # Errors
    /// The [common errors](crate::Messenger#errors), and:
    /// - [`Error::InvalidArgument`](crate::Error::InvalidArgument)
    ///   ([`EmptyList`](crate::InvalidArgumentKind::EmptyList)) when no user is given (nothing is
    ///   sent).
    /// - [`Error::Server`](crate::Error::Server) with code 25
    ///   ([`ErrorCode::UserNotFound`](crate::ErrorCode::UserNotFound)) when any user of a batch is
    ///   unknown.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId, bob: chatwire::UserId) -> chatwire::Result<()> {
    /// let users = m.get_users([m.user_id(), bob]).await?;
    /// assert_eq!(users.len(), 2);
    /// # Ok(()) }
    /// ```
    pub async fn get_users(&self, users: impl IntoIterator<Item = UserId>) -> Result<Vec<User>> {
        let ids = dedup(users);
        checks::non_empty(&ids, "get_users")?;
        let mut out = Vec::with_capacity(ids.len());
        for batch in ids.chunks(MAX_GET_USERS) {
            let request = Request::GetUsers(GetUsers {
                users: batch.iter().map(|u| UserRef::Id(*u)).collect(),
            });
            for frame in self.call(request).await? {
                out.push(decode::user(frame)?);
            }
        }
        Ok(out)
    }

    /// Any number of users by name (`name@app.account`, or just `name` for a user of your own
    /// application), in the order given (duplicates once); the SDK sends batches of 50. The
    /// official SDKs' `getUsers` by names.
    ///
    /// # Errors
    /// The [common errors](crate::Messenger#errors), and:
    /// - [`Error::InvalidArgument`](crate::Error::InvalidArgument)
    ///   ([`EmptyList`](crate::InvalidArgumentKind::EmptyList)) when no name is given (nothing is
    ///   sent).
    /// - [`Error::Server`](crate::Error::Server) with code 25
    ///   ([`ErrorCode::UserNotFound`](crate::ErrorCode::UserNotFound)) when any user of a batch is
    ///   unknown.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger) -> chatwire::Result<()> {
    /// let users = m.get_users_by_names(["alice", "bob@chatwire.local"]).await?;
    /// for user in users {
    ///     println!("{} is user {}", user.name, user.id);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn get_users_by_names<S: AsRef<str>>(
        &self,
        names: impl IntoIterator<Item = S>,
    ) -> Result<Vec<User>> {
        let names = dedup(names.into_iter().map(|n| self.full_name(n.as_ref())));
        checks::non_empty(&names, "get_users_by_names")?;
        let mut out = Vec::with_capacity(names.len());
        for batch in names.chunks(MAX_GET_USERS) {
            let request = Request::GetUsers(GetUsers {
                users: batch.iter().map(|n| UserRef::Name(n.clone())).collect(),
            });
            for frame in self.call(request).await? {
                out.push(decode::user(frame)?);
            }
        }
        Ok(out)
    }

    /// `name` in the canonical full form (lower case; our own domain when none is given).
    fn full_name(&self, name: &str) -> String {
        if name.contains('@') {
            name.to_lowercase()
        } else {
            format!("{}@{}", name.to_lowercase(), self.domain())
        }
    }

    /// Replaces your public and/or private custom data; see [`UserEdit`].
    ///
    /// # Errors
    /// Awaiting the [`UserEdit`] fails as described there.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger) -> chatwire::Result<()> {
    /// use serde_json::json;
    /// let profile = json!({"avatar": "https://example.com/a.png"});
    /// let me = m.edit_user().custom_data(profile.as_object().unwrap().clone()).await?;
    /// assert_eq!(me.custom_data["avatar"], "https://example.com/a.png");
    /// # Ok(()) }
    /// ```
    pub fn edit_user(&self) -> UserEdit<'_> {
        UserEdit {
            messenger: self,
            request: EditUser::default(),
            id: RequestId::new(),
        }
    }

    /// Sets this connection's presence; returns your resulting aggregate status (online while
    /// any of your connections is online). Re-applied automatically after a reconnect.
    ///
    /// # Errors
    /// Only the [common errors](crate::Messenger#errors).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger) -> chatwire::Result<()> {
    /// let online = m.set_status(true).await?;
    /// assert!(online);
    /// # Ok(()) }
    /// ```
    pub async fn set_status(&self, online: bool) -> Result<bool> {
        decode::status(
            self.call_one(Request::SetStatus(SetStatus { online }))
                .await?,
        )
    }

    /// Subscribes to users' presence and profile changes (any number; batches of 50).
    ///
    /// # Errors
    /// The [common errors](crate::Messenger#errors), and:
    /// - [`Error::InvalidArgument`](crate::Error::InvalidArgument)
    ///   ([`EmptyList`](crate::InvalidArgumentKind::EmptyList)) when no user is given (nothing is
    ///   sent).
    /// - [`Error::Server`](crate::Error::Server) with code 25
    ///   ([`ErrorCode::UserNotFound`](crate::ErrorCode::UserNotFound)) for an unknown user, 22
    ///   ([`ErrorCode::TooMany`](crate::ErrorCode::TooMany)) when you would have more than 1 000
    ///   subscriptions. Batches sent before the failing one stay subscribed.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId, bob: chatwire::UserId) -> chatwire::Result<()> {
    /// let subscribed = m.subscribe([bob, bob]).await?;
    /// assert_eq!(subscribed, [bob]);
    /// assert!(m.get_subscriptions().await?.contains(&bob));
    /// # Ok(()) }
    /// ```
    ///
    /// Returns the ids the server confirmed (each once, in the order given), as the official
    /// SDKs' `subscribe` does.
    pub async fn subscribe(&self, users: impl IntoIterator<Item = UserId>) -> Result<Vec<UserId>> {
        let ids = dedup(users);
        checks::non_empty(&ids, "subscribe")?;
        let mut confirmed = Vec::with_capacity(ids.len());
        for batch in ids.chunks(MAX_SUBSCRIBE_IDS) {
            let reply = self
                .call_one(Request::Subscribe(Subscribe {
                    user_id: batch.to_vec(),
                }))
                .await?;
            confirmed.extend(decode::user_ids(reply)?);
        }
        Ok(confirmed)
    }

    /// Unsubscribes from users; returns the ids that were subscribed. Unknown or unsubscribed
    /// ids are ignored.
    ///
    /// # Errors
    /// The [common errors](crate::Messenger#errors), and
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument)
    /// ([`EmptyList`](crate::InvalidArgumentKind::EmptyList)) when no user is given (nothing is
    /// sent; see [`Messenger::unsubscribe_all`]).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId, bob: chatwire::UserId) -> chatwire::Result<()> {
    /// let removed = m.unsubscribe([bob]).await?;
    /// assert!(removed.len() <= 1);
    /// # Ok(()) }
    /// ```
    pub async fn unsubscribe(
        &self,
        users: impl IntoIterator<Item = UserId>,
    ) -> Result<Vec<UserId>> {
        let ids = dedup(users);
        checks::non_empty(&ids, "unsubscribe (use unsubscribe_all for every user)")?;
        decode::user_ids(
            self.call_one(Request::Unsubscribe(Unsubscribe {
                user_id: Some(ids),
                all: None,
            }))
            .await?,
        )
    }

    /// Removes every subscription; returns the ids removed.
    ///
    /// # Errors
    /// Only the [common errors](crate::Messenger#errors).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger) -> chatwire::Result<()> {
    /// let removed = m.unsubscribe_all().await?;
    /// println!("unsubscribed from {} users", removed.len());
    /// assert!(m.get_subscriptions().await?.is_empty());
    /// # Ok(()) }
    /// ```
    pub async fn unsubscribe_all(&self) -> Result<Vec<UserId>> {
        decode::user_ids(
            self.call_one(Request::Unsubscribe(Unsubscribe {
                user_id: None,
                all: Some(true),
            }))
            .await?,
        )
    }

    /// Your subscriptions, in subscription order.
    ///
    /// # Errors
    /// Only the [common errors](crate::Messenger#errors).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger) -> chatwire::Result<()> {
    /// for user in m.get_users(m.get_subscriptions().await?).await? {
    ///     println!("{}", user.display_name);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn get_subscriptions(&self) -> Result<Vec<UserId>> {
        decode::subscriptions(self.call_one(Request::GetSubscriptionList).await?)
    }
}

/// Builder of [`Messenger::edit_user`]: each field is replaced as a whole when set (`{}`
/// clears it); unset fields stay as they are. Await it to send.
///
/// # Errors
/// Awaiting it fails with the [common errors](crate::Messenger#errors), and with
/// [`Error::InvalidArgument`](crate::Error::InvalidArgument)
/// ([`CustomDataTooLarge`](crate::InvalidArgumentKind::CustomDataTooLarge)) when a custom data
/// object is over 5 120 bytes serialized (nothing is sent).
///
/// # Examples
/// ```no_run
/// # async fn demo(m: chatwire::Messenger) -> chatwire::Result<()> {
/// use serde_json::json;
/// let public = json!({"bio": "Rustacean"}).as_object().unwrap().clone();
/// let private = json!({"theme": "dark"}).as_object().unwrap().clone();
/// let me = m.edit_user().custom_data(public).private_custom_data(private).await?;
/// assert_eq!(me.private.unwrap().custom_data["theme"], "dark");
/// # Ok(()) }
/// ```
#[must_use = "await the edit to send it"]
pub struct UserEdit<'a> {
    messenger: &'a Messenger,
    request: EditUser,
    id: RequestId,
}

impl UserEdit<'_> {
    /// The id this call is sent with, chosen when it was built. The events it causes carry it in
    /// [`EventMeta::request_id`](crate::EventMeta::request_id), on every device: see
    /// [`RequestId`](crate::RequestId).
    pub fn request_id(&self) -> &RequestId {
        &self.id
    }

    /// Replaces the public custom data (default: unchanged).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger) -> chatwire::Result<()> {
    /// let mut data = chatwire::JsonMap::new();
    /// data.insert("status".into(), "In a meeting".into());
    /// m.edit_user().custom_data(data).await?;
    /// # Ok(()) }
    /// ```
    pub fn custom_data(mut self, data: JsonMap) -> Self {
        self.request.custom_data = Some(data);
        self
    }

    /// Replaces the private custom data (default: unchanged).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger) -> chatwire::Result<()> {
    /// // `{}` clears it.
    /// let me = m.edit_user().private_custom_data(chatwire::JsonMap::new()).await?;
    /// assert!(me.private.unwrap().custom_data.is_empty());
    /// # Ok(()) }
    /// ```
    pub fn private_custom_data(mut self, data: JsonMap) -> Self {
        self.request.private_custom_data = Some(data);
        self
    }
}

impl<'a> IntoFuture for UserEdit<'a> {
    type Output = Result<User>;
    type IntoFuture = BoxFuture<'a, Result<User>>;
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            for (name, data) in [
                ("custom_data", &self.request.custom_data),
                ("private_custom_data", &self.request.private_custom_data),
            ] {
                if let Some(d) = data {
                    checks::custom_data(name, d)?;
                }
            }
            decode::user(
                self.messenger
                    .call_one_with(Request::EditUser(self.request), None, self.id)
                    .await?,
            )
        })
    }
}
