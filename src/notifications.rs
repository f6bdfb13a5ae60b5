//! Push-notification selection (`manageNotification`): which events the user wants pushed to
//! devices that are offline.
//!
//! The server stores the selection and shows it in the user's own record
//! ([`PrivateUserData::notification_events`](crate::PrivateUserData::notification_events));
//! delivering push notifications is up to the application's own push service.

use std::fmt;

use chatwire_protocol::{ManageNotification, Request};

use crate::error::Result;
use crate::messenger::dedup;
use crate::model::User;
use crate::{decode, Messenger};

/// An event a user can select for push notifications.
///
/// # Examples
/// ```
/// use chatwire::Notification;
/// assert_eq!(Notification::SendMessage.name(), "onSendMessage");
/// assert_eq!(Notification::from_name("onEditMessage"), Some(Notification::EditMessage));
/// assert_eq!(Notification::from_name("onTyping"), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Notification {
    /// A new message (`onSendMessage`).
    SendMessage,
    /// An edited message (`onEditMessage`).
    EditMessage,
    /// A conversation the user was added to at its creation (`onCreateConversation`).
    CreateConversation,
}

impl Notification {
    /// Every selectable event.
    pub const ALL: [Notification; 3] = [
        Notification::SendMessage,
        Notification::EditMessage,
        Notification::CreateConversation,
    ];

    /// The wire name, as stored in
    /// [`PrivateUserData::notification_events`](crate::PrivateUserData::notification_events).
    pub fn name(self) -> &'static str {
        match self {
            Notification::SendMessage => "onSendMessage",
            Notification::EditMessage => "onEditMessage",
            Notification::CreateConversation => "onCreateConversation",
        }
    }

    /// The event for a wire name, if it is one of the selectable ones.
    pub fn from_name(name: &str) -> Option<Notification> {
        Notification::ALL.into_iter().find(|n| n.name() == name)
    }
}

impl fmt::Display for Notification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl crate::PrivateUserData {
    /// The push-notification selection as typed values (names this SDK version does not know
    /// are left out; [`notification_events`](crate::PrivateUserData::notification_events) keeps
    /// them all).
    ///
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger) -> chatwire::Result<()> {
    /// use chatwire::Notification;
    /// let me = m.me().await?;
    /// let on = me.private.map(|p| p.notifications()).unwrap_or_default();
    /// println!("new messages pushed: {}", on.contains(&Notification::SendMessage));
    /// # Ok(()) }
    /// ```
    pub fn notifications(&self) -> Vec<Notification> {
        self.notification_events
            .iter()
            .filter_map(|name| Notification::from_name(name))
            .collect()
    }
}

impl Messenger {
    /// Replaces your push-notification selection (`manageNotification`); an empty list turns
    /// every notification off. Returns your own record with the new selection; your other
    /// devices receive an [`Event::UserEdited`](crate::Event::UserEdited) with it (nobody else
    /// does).
    ///
    /// # Errors
    /// The [common errors](crate::Messenger#errors).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger) -> chatwire::Result<()> {
    /// use chatwire::Notification;
    /// let me = m.manage_notifications([Notification::SendMessage]).await?;
    /// let private = me.private.expect("own record");
    /// assert_eq!(private.notification_events, ["onSendMessage"]);
    /// m.manage_notifications([]).await?; // all off
    /// # Ok(()) }
    /// ```
    pub async fn manage_notifications(
        &self,
        notifications: impl IntoIterator<Item = Notification>,
    ) -> Result<User> {
        let names = dedup(notifications)
            .into_iter()
            .map(|n| n.name().to_string())
            .collect();
        let request = Request::ManageNotification(ManageNotification {
            notifications: Some(names),
        });
        decode::user(self.call_one(request).await?)
    }
}
