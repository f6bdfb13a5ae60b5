//! [`UsersCache`]: users looked up on demand, in batches, kept for [`USER_CACHE_TTL`], with
//! presence and profile changes taken from the events the user already receives.
//!
//! The cache never subscribes to anyone: subscriptions are shared by all of a user's devices
//! and capped at 1 000, so they stay the application's choice. Presence is known for users the
//! application subscribed to (and yourself); a display name changed through the admin API sends
//! no event, hence the refresh after [`USER_CACHE_TTL`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chatwire_protocol::UserId;
use futures::StreamExt;

use crate::error::Result;
use crate::event::Event;
use crate::model::User;
use crate::Messenger;

/// How long a user record is used before it is read again.
pub const USER_CACHE_TTL: Duration = Duration::from_secs(300);

#[derive(Default)]
struct Cached {
    user: Option<(User, Instant)>,
    online: Option<bool>,
}

/// Users by id, fetched on demand in batches and refreshed after [`USER_CACHE_TTL`] (see
/// [`Messenger::users_cache`]).
///
/// # Examples
/// ```no_run
/// # async fn demo(m: chatwire::Messenger, bob: chatwire::UserId) -> chatwire::Result<()> {
/// let users = m.users_cache();
/// let bob = users.user(bob).await?;
/// println!("{} online: {:?}", bob.display_name, users.presence(bob.id));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct UsersCache {
    users: Arc<Mutex<HashMap<UserId, Cached>>>,
    messenger: crate::messenger::WeakMessenger,
}

impl std::fmt::Debug for UsersCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsersCache")
            .field("users", &self.lock().len())
            .finish()
    }
}

impl Messenger {
    /// The users cache of this messenger (created on first use; later calls return the same
    /// cache). Must be called inside a Tokio runtime.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId) -> chatwire::Result<()> {
    /// let conversation = m.get_conversation(chat).await?;
    /// let people = m.users_cache().users(conversation.participants.iter().map(|p| p.user)).await?;
    /// for user in people {
    ///     println!("{}", user.display_name);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn users_cache(&self) -> UsersCache {
        let (_, slot) = self.live_slots();
        slot.get_or_init(|| UsersCache::start(self)).clone()
    }
}

impl UsersCache {
    fn start(m: &Messenger) -> UsersCache {
        let cache = UsersCache {
            users: Arc::default(),
            messenger: m.downgrade(),
        };
        let users = Arc::downgrade(&cache.users);
        let mut events = m.internal_events();
        tokio::spawn(async move {
            while let Some(event) = events.next().await {
                let Some(users) = users.upgrade() else { break };
                let mut users = users.lock().unwrap_or_else(|e| e.into_inner());
                match event {
                    Event::Status { user, online, .. } => {
                        users.entry(user).or_default().online = Some(online);
                    }
                    Event::UserEdited { user, .. } => {
                        let id = user.id;
                        users.entry(id).or_default().user = Some((user, Instant::now()));
                    }
                    _ => {}
                }
            }
        });
        cache
    }

    /// A user, from the cache while fresh, else from the server.
    ///
    /// # Errors
    /// The errors of [`Messenger::get_user`], and [`Error::NotLoggedIn`](crate::Error::NotLoggedIn)
    /// once the messenger is gone.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, bob: chatwire::UserId) -> chatwire::Result<()> {
    /// let name = m.users_cache().user(bob).await?.display_name;
    /// # let _ = name;
    /// # Ok(()) }
    /// ```
    pub async fn user(&self, id: UserId) -> Result<crate::User> {
        let mut users = self.users([id]).await?;
        users.pop().ok_or(crate::Error::NotLoggedIn)
    }

    /// Users in the order given (duplicates once): fresh ones from the cache, the others in one
    /// batched `getUsers` (50 per request).
    ///
    /// # Errors
    /// The errors of [`Messenger::get_users`], and [`Error::NotLoggedIn`](crate::Error::NotLoggedIn)
    /// once the messenger is gone.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, alice: chatwire::UserId, bob: chatwire::UserId) -> chatwire::Result<()> {
    /// let both = m.users_cache().users([alice, bob]).await?;
    /// assert_eq!(both.len(), 2);
    /// # Ok(()) }
    /// ```
    pub async fn users(&self, ids: impl IntoIterator<Item = UserId>) -> Result<Vec<User>> {
        let ids = crate::messenger::dedup(ids);
        let now = Instant::now();
        let missing: Vec<UserId> = {
            let users = self.lock();
            ids.iter()
                .copied()
                .filter(|id| {
                    users
                        .get(id)
                        .and_then(|c| c.user.as_ref())
                        .is_none_or(|(_, at)| now.duration_since(*at) >= USER_CACHE_TTL)
                })
                .collect()
        };
        if !missing.is_empty() {
            let m = self.messenger.upgrade().ok_or(crate::Error::NotLoggedIn)?;
            let fetched = m.get_users(missing).await?;
            let mut users = self.lock();
            for u in fetched {
                let id = u.id;
                users.entry(id).or_default().user = Some((u, Instant::now()));
            }
        }
        let users = self.lock();
        Ok(ids
            .iter()
            .filter_map(|id| {
                users
                    .get(id)
                    .and_then(|c| c.user.as_ref())
                    .map(|(u, _)| u.clone())
            })
            .collect())
    }

    /// A cached user (however old), without asking the server.
    ///
    /// # Examples
    /// ```no_run
    /// # fn demo(m: chatwire::Messenger, bob: chatwire::UserId) {
    /// let name = m.users_cache().cached(bob).map_or("someone".to_owned(), |u| u.display_name);
    /// # let _ = name;
    /// # }
    /// ```
    pub fn cached(&self, id: UserId) -> Option<User> {
        self.lock()
            .get(&id)
            .and_then(|c| c.user.as_ref())
            .map(|(u, _)| u.clone())
    }

    /// A cached display name, without asking the server.
    ///
    /// # Examples
    /// ```no_run
    /// # fn demo(m: chatwire::Messenger, bob: chatwire::UserId) {
    /// println!("{}", m.users_cache().display_name(bob).unwrap_or_else(|| bob.to_string()));
    /// # }
    /// ```
    pub fn display_name(&self, id: UserId) -> Option<String> {
        self.cached(id).map(|u| u.display_name)
    }

    /// The last presence received for a user (`None` until a presence event arrived: subscribe
    /// to the user to receive them).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, bob: chatwire::UserId) -> chatwire::Result<()> {
    /// m.subscribe([bob]).await?;
    /// let online = m.users_cache().presence(bob).unwrap_or(false);
    /// # let _ = online;
    /// # Ok(()) }
    /// ```
    pub fn presence(&self, id: UserId) -> Option<bool> {
        self.lock().get(&id).and_then(|c| c.online)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, Cached>> {
        self.users.lock().unwrap_or_else(|e| e.into_inner())
    }
}
