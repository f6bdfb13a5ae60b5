//! Local checks: what the SDK verifies before sending, and [`InvalidArgument`], the error that
//! says which check failed.
//!
//! The limits are the protocol crate's (the ones the server applies), so a call the SDK lets
//! through is not refused with code 0, 2 or 22 for the same reason.

use chatwire_protocol::{
    custom_data_fits, custom_data_size, text_fits, title_fits, JsonMap, MAX_CUSTOM_DATA_BYTES,
    MAX_RETRANSMIT, MAX_TEXT_CHARS, MAX_TITLE_CHARS,
};

use crate::error::Error;
use crate::history::EventRange;

/// Which local check an [`InvalidArgument`] comes from; see [`InvalidArgument::kind`].
///
/// # Examples
/// ```
/// use chatwire::{Error, InvalidArgumentKind};
/// fn advice(e: &Error) -> &'static str {
///     match e {
///         Error::InvalidArgument(e) => match e.kind() {
///             InvalidArgumentKind::TextTooLong => "split the text into several messages",
///             InvalidArgumentKind::TooMany => "page through the range",
///             _ => "fix the call",
///         },
///         _ => "not a local check",
///     }
/// }
/// # let _ = advice;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InvalidArgumentKind {
    /// A call that takes a list of users, conversations or participants got none.
    EmptyList,
    /// A range asked for more than [`MAX_RETRANSMIT`](crate::protocol::MAX_RETRANSMIT) (100)
    /// events in one call.
    TooMany,
    /// A message text over [`MAX_TEXT_CHARS`](crate::protocol::MAX_TEXT_CHARS) (5 000)
    /// characters.
    TextTooLong,
    /// A conversation title over [`MAX_TITLE_CHARS`](crate::protocol::MAX_TITLE_CHARS) (50)
    /// characters.
    TitleTooLong,
    /// A custom data object over
    /// [`MAX_CUSTOM_DATA_BYTES`](crate::protocol::MAX_CUSTOM_DATA_BYTES) (5 120) bytes
    /// serialized.
    CustomDataTooLarge,
    /// A message with neither text nor payload, or an edit that would leave it so.
    EmptyMessage,
    /// A direct conversation made public.
    DirectPublic,
    /// A direct conversation made uber.
    DirectUber,
    /// A direct conversation given participants besides its one other user.
    DirectParticipants,
    /// An [`EventRange`](crate::EventRange) the server would refuse other than for its length:
    /// a seq of 0, `from` after `to`, or a count of 0.
    RetransmitRange,
    /// The server URL does not parse or is not `ws://` / `wss://`.
    ServerUrl,
    /// The TLS settings: certificate PEM data that does not parse or holds no certificate.
    Tls,
    /// [`MessengerBuilder::connect`](crate::MessengerBuilder::connect) without credentials.
    NoCredentials,
    /// An idempotency key that is empty or longer than 128 characters.
    IdempotencyKey,
}

/// A local check failed before anything was sent: which one ([`InvalidArgument::kind`]) and a
/// message naming the argument and how to fix it.
///
/// # Examples
/// ```no_run
/// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId) -> chatwire::Result<()> {
/// use chatwire::{Error, InvalidArgumentKind};
/// let long = "a".repeat(6000);
/// match m.send_message(chat, long).await {
///     Err(Error::InvalidArgument(e)) if e.kind() == InvalidArgumentKind::TextTooLong => {
///         eprintln!("{e}"); // "text is 6000 characters; the limit is 5000: ..."
///     }
///     other => { other?; }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidArgument {
    kind: InvalidArgumentKind,
    message: String,
}

impl InvalidArgument {
    /// An error of `kind` with a message (for applications that stand in for a
    /// [`Messenger`](crate::Messenger) in their own tests).
    ///
    /// # Examples
    /// ```
    /// use chatwire::{Error, InvalidArgument, InvalidArgumentKind};
    /// let e = InvalidArgument::new(InvalidArgumentKind::EmptyList, "no users given");
    /// let error = Error::from(e);
    /// assert_eq!(error.to_string(), "invalid argument: no users given");
    /// ```
    pub fn new(kind: InvalidArgumentKind, message: impl Into<String>) -> Self {
        InvalidArgument {
            kind,
            message: message.into(),
        }
    }

    /// Which check failed.
    ///
    /// # Examples
    /// ```
    /// use chatwire::{InvalidArgument, InvalidArgumentKind};
    /// let e = InvalidArgument::new(InvalidArgumentKind::TitleTooLong, "title is 51 characters");
    /// assert_eq!(e.kind(), InvalidArgumentKind::TitleTooLong);
    /// ```
    pub fn kind(&self) -> InvalidArgumentKind {
        self.kind
    }

    /// What was wrong and how to fix it (also the `Display` text).
    ///
    /// # Examples
    /// ```
    /// use chatwire::{InvalidArgument, InvalidArgumentKind};
    /// let e = InvalidArgument::new(InvalidArgumentKind::EmptyList, "no users given");
    /// assert_eq!(e.message(), e.to_string());
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The kind and the message, by value.
    ///
    /// # Examples
    /// ```
    /// use chatwire::{InvalidArgument, InvalidArgumentKind};
    /// let e = InvalidArgument::new(InvalidArgumentKind::NoCredentials, "no credentials given");
    /// let (kind, message) = e.into_parts();
    /// assert_eq!((kind, message.as_str()), (InvalidArgumentKind::NoCredentials, "no credentials given"));
    /// ```
    pub fn into_parts(self) -> (InvalidArgumentKind, String) {
        (self.kind, self.message)
    }
}

impl std::fmt::Display for InvalidArgument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for InvalidArgument {}

impl From<InvalidArgument> for Error {
    fn from(e: InvalidArgument) -> Self {
        Error::InvalidArgument(e)
    }
}

impl Error {
    /// An [`Error::InvalidArgument`] of `kind`.
    pub(crate) fn invalid(kind: InvalidArgumentKind, message: impl Into<String>) -> Error {
        Error::InvalidArgument(InvalidArgument::new(kind, message))
    }
}

/// The result of a check; `?` turns its error into an [`Error::InvalidArgument`].
type Result<T = ()> = std::result::Result<T, InvalidArgument>;

/// A list argument has at least one element; `what` names the call and its argument.
pub(crate) fn non_empty<T>(list: &[T], what: &str) -> Result {
    if list.is_empty() {
        return Err(InvalidArgument::new(
            InvalidArgumentKind::EmptyList,
            format!("{what}: the list is empty; give at least one"),
        ));
    }
    Ok(())
}

/// A message text is within the protocol's limit.
pub(crate) fn text(text: &str) -> Result {
    if !text_fits(text) {
        return Err(InvalidArgument::new(
            InvalidArgumentKind::TextTooLong,
            format!(
                "text is {} characters; the limit is {MAX_TEXT_CHARS}: split it or move the rest \
                 into the payload",
                text.chars().count()
            ),
        ));
    }
    Ok(())
}

/// A conversation title is within the protocol's limit.
pub(crate) fn title(title: &str) -> Result {
    if !title_fits(title) {
        return Err(InvalidArgument::new(
            InvalidArgumentKind::TitleTooLong,
            format!(
                "title is {} characters; the limit is {MAX_TITLE_CHARS}: shorten it",
                title.chars().count()
            ),
        ));
    }
    Ok(())
}

/// A custom data object is within the protocol's limit; `name` names the field.
pub(crate) fn custom_data(name: &str, data: &JsonMap) -> Result {
    if !custom_data_fits(data) {
        return Err(InvalidArgument::new(
            InvalidArgumentKind::CustomDataTooLarge,
            format!(
                "{name} is {} bytes serialized; the limit is {MAX_CUSTOM_DATA_BYTES}: store large \
                 values elsewhere and keep a reference",
                custom_data_size(data)
            ),
        ));
    }
    Ok(())
}

/// The error of a message that would have neither text nor payload; `edit` for an edit.
pub(crate) fn empty_message(edit: bool) -> InvalidArgument {
    let message = if edit {
        "an edit cannot empty the message: keep the text or the payload (remove the message with \
         remove_message instead)"
    } else {
        "a message needs text or payload"
    };
    InvalidArgument::new(InvalidArgumentKind::EmptyMessage, message)
}

/// A retransmit range the server would accept (it refuses the others with code 0, 22 or 23).
pub(crate) fn event_range(range: &EventRange) -> Result {
    let shape = |m: &str| {
        Err(InvalidArgument::new(
            InvalidArgumentKind::RetransmitRange,
            m,
        ))
    };
    let too_many = |m: &str| Err(InvalidArgument::new(InvalidArgumentKind::TooMany, m));
    match *range {
        EventRange::Between { from, to } => {
            if from.get() < 1 {
                return shape("seq starts at 1: use Seq(1) for the first event");
            }
            if from > to {
                return shape("from is after to: give the lower seq first");
            }
            // The server allows a span of 100 (101 events), as the official SDK pages.
            if to.get() - from.get() > MAX_RETRANSMIT {
                return too_many(
                    "at most 101 events (a span of 100) per call: split the range into pages",
                );
            }
        }
        EventRange::StartingAt { from: s, count } | EventRange::EndingAt { to: s, count } => {
            if s.get() < 1 {
                return shape("seq starts at 1: use Seq(1) for the first event");
            }
            if count == 0 {
                return shape("count must be 1 to 100, not 0");
            }
            if u64::from(count) > MAX_RETRANSMIT {
                return too_many("count must be 1 to 100: split the range into pages");
            }
        }
    }
    Ok(())
}

/// An idempotency key of 1 to 128 characters.
pub(crate) fn idempotency_key(key: &str) -> std::result::Result<(), InvalidArgument> {
    chatwire_protocol::check_idempotency_key(key).map_err(|e| {
        InvalidArgument::new(
            InvalidArgumentKind::IdempotencyKey,
            format!("{e}; use a key of 1 to 128 characters"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(r: Result) -> InvalidArgumentKind {
        let e = r.expect_err("the check fails");
        assert!(!e.message().is_empty());
        e.kind()
    }

    #[test]
    fn limits_are_the_protocol_limits() {
        assert!(text(&"é".repeat(MAX_TEXT_CHARS)).is_ok());
        assert_eq!(
            kind(text(&"é".repeat(MAX_TEXT_CHARS + 1))),
            InvalidArgumentKind::TextTooLong
        );
        assert!(title(&"é".repeat(MAX_TITLE_CHARS)).is_ok());
        assert_eq!(
            kind(title(&"x".repeat(MAX_TITLE_CHARS + 1))),
            InvalidArgumentKind::TitleTooLong
        );
        let mut data = JsonMap::new();
        data.insert("k".into(), "x".repeat(MAX_CUSTOM_DATA_BYTES).into());
        assert_eq!(
            kind(custom_data("custom_data", &data)),
            InvalidArgumentKind::CustomDataTooLarge
        );
        assert!(custom_data("custom_data", &JsonMap::new()).is_ok());
        assert_eq!(
            kind(non_empty::<u8>(&[], "get_users")),
            InvalidArgumentKind::EmptyList
        );
        assert!(non_empty(&[1], "get_users").is_ok());
        assert_eq!(
            kind(Err(empty_message(true))),
            InvalidArgumentKind::EmptyMessage
        );
    }

    #[test]
    fn event_ranges() {
        use chatwire_protocol::Seq;
        assert!(event_range(&EventRange::between(Seq(1), Seq(101))).is_ok());
        assert!(event_range(&EventRange::ending_at(Seq(5), 100)).is_ok());
        for (range, want) in [
            (
                EventRange::between(Seq(0), Seq(3)),
                InvalidArgumentKind::RetransmitRange,
            ),
            (
                EventRange::between(Seq(5), Seq(2)),
                InvalidArgumentKind::RetransmitRange,
            ),
            (
                EventRange::starting_at(Seq(1), 0),
                InvalidArgumentKind::RetransmitRange,
            ),
            (
                EventRange::between(Seq(1), Seq(102)),
                InvalidArgumentKind::TooMany,
            ),
            (
                EventRange::ending_at(Seq(200), 101),
                InvalidArgumentKind::TooMany,
            ),
        ] {
            assert_eq!(kind(event_range(&range)), want, "{range:?}");
        }
    }
}
