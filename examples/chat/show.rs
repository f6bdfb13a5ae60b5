//! How the chat client words things: the conversation list, permissions, errors, times.

use std::collections::HashSet;

use chatwire::{ConversationId, Error, InboxEntry, Permissions, TimelineDiff, TimelineUpdates};
use futures::StreamExt;

/// The numbered conversation list.
pub fn print_list(entries: &[InboxEntry], typing: &HashSet<ConversationId>) {
    for (n, e) in entries.iter().enumerate() {
        let unread = if e.unread > 0 {
            format!(" ({} unread)", e.unread)
        } else {
            String::new()
        };
        let last = match &e.last_message {
            Some(m) if m.removed => "  (message removed)".to_owned(),
            Some(m) => format!("  {}", preview(&m.text)),
            None => String::new(),
        };
        let typing = if typing.contains(&e.id()) {
            "  (typing...)"
        } else {
            ""
        };
        let kind = if e.conversation.direct { "@" } else { "#" };
        println!("{:>3}. {kind}{}{unread}{last}{typing}", n + 1, e.name);
    }
}

/// Permissions in words.
pub fn describe(p: Permissions) -> String {
    if p.is_owner() {
        return "owner".into();
    }
    let words: Vec<&str> = [
        (Permissions::WRITE, "write"),
        (Permissions::EDIT, "edit own"),
        (Permissions::REMOVE, "remove own"),
        (Permissions::MANAGE, "manage people"),
        (Permissions::EDIT_ALL, "edit any"),
        (Permissions::REMOVE_ALL, "remove any"),
    ]
    .into_iter()
    .filter(|(flag, _)| p.contains(*flag))
    .map(|(_, word)| word)
    .collect();
    if words.is_empty() {
        "read only".into()
    } else {
        words.join(", ")
    }
}

/// A clear sentence for the errors people run into.
pub fn explain(e: &Error) -> String {
    use chatwire::ErrorCode::*;
    match e.code() {
        Some(AccessDenied) => "you are not allowed to do that here".into(),
        Some(NotParticipant) => "you are not in this conversation any more".into(),
        Some(RateLimitSecond | RateLimitMinute) => "too fast; wait a moment".into(),
        _ if e.is_retryable() => format!("{e} (will work again once reconnected)"),
        _ => e.to_string(),
    }
}

pub fn preview(text: &str) -> String {
    let one_line = text.replace('\n', " ");
    match one_line.char_indices().nth(60) {
        Some((i, _)) => format!("{}...", &one_line[..i]),
        None => one_line,
    }
}

pub fn clock(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("{:02}:{:02}", secs / 3600 % 24, secs / 60 % 60)
}

/// The commands.
pub const HELP: &str = "\
  /list                      your conversations, newest first (also /l)
  /open <number or name>     make a conversation current (also /o; a bare number works too)
  /more [count]              older messages of the current conversation (default 20)
  /direct <user>             a 1:1 conversation with someone (by user name)
  /create <title> [user...]  a group chat (quote a title with spaces: \"Team lunch\")
  /public, /join <uuid>      public conversations, and joining one
  /add <user...>             add people to the current conversation
  /who                       participants and what each may do
  /edit <n> <text>           edit message [n];  /remove <n>  remove it
  /t                         tell the others you are typing
  /read                      mark the current conversation read (done as you read, anyway)
  /leave                     leave the current conversation
  /quit
  <text>                     send to the current conversation";

/// Clears the prompt line before an incoming line (on a terminal).
pub fn clear() -> &'static str {
    use std::io::IsTerminal;
    if std::io::stdout().is_terminal() {
        "\r\x1b[K"
    } else {
        ""
    }
}

/// The next diff of the open timeline (never, with none open).
pub async fn next_diff(updates: &mut Option<TimelineUpdates>) -> Option<TimelineDiff> {
    match updates {
        Some(u) => u.next().await,
        None => std::future::pending().await,
    }
}

/// `/create` arguments: a title (quoted if it has spaces) and user names.
pub fn split_title(rest: &str) -> Result<(&str, &str), String> {
    let (title, others) = match rest.strip_prefix('"') {
        Some(quoted) => quoted.split_once('"').ok_or("missing closing quote")?,
        None => rest.split_once(' ').unwrap_or((rest, "")),
    };
    if title.is_empty() {
        return Err("usage: /create <title> [user...]".into());
    }
    Ok((title, others))
}
