//! A terminal chat client on the SDK's live model (inbox, timelines, users cache). Run it in
//! two terminals as two users:
//!
//! ```sh
//! cargo run --example chat -- ws://127.0.0.1:8080 alice secret-password
//! CHATWIRE_URL=ws://127.0.0.1:8080 CHATWIRE_USER=bob CHATWIRE_PASSWORD=secret-password \
//!     cargo run --example chat
//! ```
//!
//! It starts with your conversations (unread counts and last message, newest first). `/open 2`
//! or `/open lunch` makes a conversation current; the prompt shows which one; any other line is
//! sent there. New messages elsewhere print as one line each. `/more` scrolls back through
//! history. Set `CHATWIRE_STORE=alice.db` to keep state in a SQLite file: the inbox is then
//! shown at once on the next start, before the server answers.
//!
//! On a terminal it edits the line itself (non-canonical mode through `stty`; backspace,
//! Ctrl-U, Ctrl-D/Ctrl-C to quit), so it sees the first keystroke of a message and sends
//! "typing" then (the SDK throttles it to one per 10 s per conversation), and incoming lines
//! never garble what you are typing. Reading from a pipe it works line by line, so scripts can
//! drive it; there `/t` sends "typing", and a line ending in `...` is kept as a draft continued
//! by the next line (and sends "typing").

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::sync::Arc;

use chatwire::store::SqliteStore;
use chatwire::{
    ConnectionState, Conversation, ConversationId, Error, Inbox, InboxChange, InboxEntry,
    MessageId, Messenger, NewConversation, Timeline, TimelineDiff, TimelineItem, TimelineUpdates,
    UserId,
};
use futures::StreamExt;

mod input;
mod show;
use input::{Input, Keyboard};
use show::{clear, clock, describe, explain, next_diff, preview, print_list, split_title, HELP};

type AnyResult<T> = Result<T, Box<dyn std::error::Error>>;

/// The server's default application domain: `alice` means `alice@chatwire.local`.
const DEFAULT_DOMAIN: &str = "chatwire.local";
/// Messages shown when a conversation is opened.
const OPEN_LINES: usize = 15;

#[tokio::main]
async fn main() -> AnyResult<()> {
    let mut args = std::env::args().skip(1);
    let setting = |arg: Option<String>, var: &str| arg.or_else(|| std::env::var(var).ok());
    let url = setting(args.next(), "CHATWIRE_URL").unwrap_or_else(|| "ws://127.0.0.1:8080".into());
    let (Some(user), Some(password)) = (
        setting(args.next(), "CHATWIRE_USER"),
        setting(args.next(), "CHATWIRE_PASSWORD"),
    ) else {
        eprintln!(
            "usage: chat [URL USER PASSWORD] (or CHATWIRE_URL, CHATWIRE_USER, CHATWIRE_PASSWORD)"
        );
        std::process::exit(2);
    };
    let user = if user.contains('@') {
        user
    } else {
        format!("{user}@{DEFAULT_DOMAIN}")
    };

    let mut builder = Messenger::builder(&url).password(&user, password);
    if let Ok(path) = std::env::var("CHATWIRE_STORE") {
        let store = Arc::new(SqliteStore::open(&path)?);
        let saved = Inbox::saved(store.as_ref()).await?;
        if !saved.is_empty() {
            println!("saved conversations (connecting...):");
            print_list(&saved, &HashSet::new());
        }
        builder = builder.store(store);
    }
    println!("connecting to {url} as {user} ...");
    let m = match builder.connect().await {
        Ok(m) => m,
        Err(e) => {
            eprintln!("could not log in: {e}");
            std::process::exit(1);
        }
    };
    let me = m.me().await?;
    println!(
        "logged in as {} ({}). /help for commands",
        me.display_name, me.name
    );
    let mut chat = Chat::new(m);
    chat.inbox.loaded().await?;
    chat.list();

    let mut keyboard = Keyboard::open();
    let mut changes = chat.inbox.changes();
    let mut state = chat.m.connection_state_watch();
    chat.prompt("");
    loop {
        // Every branch is cancel safe: nothing is lost when another one wins.
        tokio::select! {
            input = keyboard.next() => {
                let line = match input {
                    Input::End => break,
                    Input::Started => {
                        if let Some((id, _)) = &chat.current {
                            chat.typing_notice(*id).await;
                        }
                        continue;
                    }
                    Input::Line(line) => line,
                };
                match chat.command(line.trim()).await {
                    Ok(true) => break,
                    Ok(false) => {}
                    Err(e) => match e.downcast_ref::<Error>() {
                        Some(e) => println!("! {}", explain(e)),
                        None => println!("! {e}"),
                    },
                }
                chat.shown_something = true;
            }
            change = changes.next() => {
                let Some(change) = change else { break };
                chat.inbox_changed(change);
            }
            diff = next_diff(&mut chat.updates) => {
                if let Some(diff) = diff {
                    chat.timeline_changed(diff).await;
                }
            }
            changed = state.changed() => {
                if changed.is_err() { break }
                let now = state.borrow_and_update().clone();
                if !chat.connection(now) { break }
            }
        }
        if std::mem::take(&mut chat.shown_something) {
            chat.prompt(keyboard.current());
        }
    }
    chat.m.shutdown().await;
    Ok(())
}

struct Chat {
    m: Messenger,
    me: UserId,
    inbox: Inbox,
    /// The numbering of the last list shown, for `/open <number>`.
    listed: Vec<ConversationId>,
    current: Option<(ConversationId, Timeline)>,
    updates: Option<TimelineUpdates>,
    /// Message numbers of the current conversation as last shown (`[n]` = index + 1).
    shown: Vec<MessageId>,
    /// Unread counts as last seen, to announce new messages elsewhere once.
    unread: HashMap<ConversationId, u32>,
    /// Who was shown typing in the current conversation.
    typing: HashSet<UserId>,
    offline: bool,
    /// The start of a message ended with `...`, waiting for the rest.
    draft: String,
    /// Something was printed since the last prompt.
    shown_something: bool,
}

impl Chat {
    fn new(m: Messenger) -> Self {
        Chat {
            me: m.user_id(),
            inbox: m.inbox(),
            m,
            listed: Vec::new(),
            current: None,
            updates: None,
            shown: Vec::new(),
            unread: HashMap::new(),
            typing: HashSet::new(),
            offline: false,
            shown_something: false,
            draft: String::new(),
        }
    }

    /// Prints an incoming line over the prompt.
    fn say(&mut self, line: String) {
        println!("{}{line}", clear());
        self.shown_something = true;
    }

    fn prompt(&self, typed: &str) {
        let place = match &self.current {
            Some((id, _)) => self.inbox.entry(*id).map_or_else(|| "?".into(), |e| e.name),
            None => "no conversation: /open one".into(),
        };
        let status = if self.offline { " (offline)" } else { "" };
        print!("[{place}]{status}> {typed}");
        let _ = std::io::stdout().flush();
    }

    /// Runs one input line; `Ok(true)` means quit.
    async fn command(&mut self, line: &str) -> AnyResult<bool> {
        if line.is_empty() {
            return Ok(false);
        }
        if !line.starts_with('/') {
            let id = self.current_id()?;
            if let Some(part) = line.strip_suffix("...") {
                self.draft.push_str(part);
                self.draft.push(' ');
                self.typing_notice(id).await;
                println!("(draft kept: finish it on the next line)");
                return Ok(false);
            }
            let text = format!("{}{line}", std::mem::take(&mut self.draft));
            if let Err(e) = self.m.send_message(id, text).await {
                println!("! not sent: {}", explain(&e));
            }
            return Ok(false);
        }
        let (cmd, rest) = line.split_once(' ').unwrap_or((line, ""));
        let rest = rest.trim();
        if let Ok(n) = cmd[1..].parse::<usize>() {
            return self.open(&n.to_string()).await.map(|_| false);
        }
        match cmd {
            "/help" | "/h" => println!("{HELP}"),
            "/quit" | "/exit" | "/q" => return Ok(true),
            "/list" | "/l" => self.list(),
            "/open" | "/o" => self.open(rest).await?,
            "/more" => self.more(rest.parse().unwrap_or(20)).await?,
            "/direct" => {
                let user = self.user_by_name(rest).await?;
                let c = self
                    .m
                    .create_conversation(NewConversation::direct(user))
                    .await?;
                self.show_conversation(c.id).await?;
            }
            "/create" => self.create(rest).await?,
            "/public" => {
                let ids = self.m.get_public_conversations().await?;
                if ids.is_empty() {
                    println!("no public conversations");
                }
                for c in self.m.get_conversations(ids).await.unwrap_or_default() {
                    println!("  {}  {} ({} people)", c.id, c.title, c.participants.len());
                }
            }
            "/join" => {
                let id = rest
                    .parse()
                    .map_err(|_| "usage: /join <uuid> (see /public)")?;
                let c = self.m.join_conversation(id).await?;
                self.show_conversation(c.id).await?;
            }
            "/add" => {
                let id = self.current_id()?;
                let mut users = Vec::new();
                for name in rest.split_whitespace() {
                    users.push(self.user_by_name(name).await?);
                }
                if users.is_empty() {
                    return Err("usage: /add <user...>".into());
                }
                self.m.add_participants(id, users).await?;
            }
            "/who" => self.who().await?,
            "/edit" => {
                let (n, text) = rest.split_once(' ').ok_or("usage: /edit <n> <text>")?;
                let (id, msg) = self.numbered(n)?;
                self.m.edit_message(id, msg).text(text.trim()).await?;
            }
            "/remove" => {
                let (id, msg) = self.numbered(rest)?;
                self.m.remove_message(id, msg).await?;
            }
            "/t" | "/typing" => {
                let id = self.current_id()?;
                self.typing_notice(id).await;
            }
            "/read" => {
                self.inbox.mark_as_read(self.current_id()?).await?;
            }
            "/leave" => {
                let id = self.current_id()?;
                self.m.leave_conversation(id).await?;
                self.close_current();
                println!("left it");
            }
            _ => println!("! unknown command {cmd}; /help lists them"),
        }
        Ok(false)
    }

    fn current_id(&self) -> AnyResult<ConversationId> {
        match &self.current {
            Some((id, _)) => Ok(*id),
            None => Err("no current conversation: /list, then /open <number or name>".into()),
        }
    }

    fn close_current(&mut self) {
        self.current = None;
        self.updates = None;
        self.shown.clear();
        self.typing.clear();
    }

    async fn typing_notice(&self, id: ConversationId) {
        match self.m.typing(id).await {
            Ok(()) | Err(Error::TypingThrottled(_)) => {}
            Err(e) => println!("! {}", explain(&e)),
        }
    }

    fn list(&mut self) {
        let entries = self.inbox.snapshot();
        self.listed = entries.iter().map(|e| e.id()).collect();
        if entries.is_empty() {
            println!("no conversations yet: /direct <user> or /create <title> <user...>");
        }
        let typing: HashSet<ConversationId> = entries
            .iter()
            .filter(|e| !e.typing.is_empty())
            .map(|e| e.id())
            .collect();
        print_list(&entries, &typing);
    }

    /// `/open 2`, `/open lunch`: by list number, or by (the start of) a name.
    async fn open(&mut self, what: &str) -> AnyResult<()> {
        let entries = self.inbox.snapshot();
        let id = if let Ok(n) = what.parse::<usize>() {
            let listed = if self.listed.is_empty() {
                entries.iter().map(|e| e.id()).collect()
            } else {
                self.listed.clone()
            };
            *n.checked_sub(1)
                .and_then(|i| listed.get(i))
                .ok_or_else(|| format!("no conversation number {n}: /list shows the numbers"))?
        } else if what.is_empty() {
            return Err("usage: /open <number or name>".into());
        } else {
            let lower = what.to_lowercase();
            let found: Vec<&InboxEntry> = entries
                .iter()
                .filter(|e| e.name.to_lowercase().starts_with(&lower))
                .collect();
            match found.as_slice() {
                [one] => one.id(),
                [] => return Err(format!("no conversation called \"{what}\"").into()),
                many => {
                    let names: Vec<&str> = many.iter().map(|e| e.name.as_str()).collect();
                    return Err(format!("\"{what}\" matches {}; say more", names.join(", ")).into());
                }
            }
        };
        self.show_conversation(id).await
    }

    /// Makes `id` current: its last messages, then live updates; marks it read.
    async fn show_conversation(&mut self, id: ConversationId) -> AnyResult<()> {
        let timeline = self.m.timeline(id).await?;
        self.updates = Some(timeline.updates());
        timeline.paginate_back(OPEN_LINES).await?;
        self.current = Some((id, timeline));
        self.typing.clear();
        let name = self
            .inbox
            .entry(id)
            .map_or_else(|| "conversation".into(), |e| e.name);
        println!("--- {name} ---");
        self.reprint(OPEN_LINES).await;
        self.read_current().await;
        Ok(())
    }

    /// Prints the newest `count` loaded messages of the current conversation, numbered.
    async fn reprint(&mut self, count: usize) {
        let Some((_, timeline)) = &self.current else {
            return;
        };
        let items = timeline.items();
        let from = items.len().saturating_sub(count);
        if from == 0 && timeline.reached_start() {
            println!("(start of the conversation)");
        }
        self.names_for(&items[from..]).await;
        self.shown = items[from..].iter().map(|i| i.id).collect();
        for (n, item) in items[from..].iter().enumerate() {
            println!("{}", self.line(n + 1, item, ""));
        }
    }

    async fn more(&mut self, count: usize) -> AnyResult<()> {
        let Some((_, timeline)) = &self.current else {
            return Err("no current conversation".into());
        };
        let added = timeline.paginate_back(count).await?;
        if added == 0 {
            println!("(nothing older)");
            return Ok(());
        }
        let total = self.shown.len() + added;
        println!("--- {added} older ---");
        self.reprint(total).await;
        Ok(())
    }

    fn line(&self, n: usize, item: &TimelineItem, tag: &str) -> String {
        let who = self.name(item.sender);
        let time = clock(item.sent_at);
        if item.removed {
            return format!("[{n}] {time} {who}: (removed){tag}");
        }
        let edited = if item.edited_at.is_some() {
            " (edited)"
        } else {
            ""
        };
        format!("[{n}] {time} {who}: {}{edited}{tag}", item.text)
    }

    fn name(&self, user: UserId) -> String {
        if user == self.me {
            return "you".into();
        }
        self.m
            .users_cache()
            .display_name(user)
            .unwrap_or_else(|| format!("user {user}"))
    }

    /// Looks up the senders the cache does not know yet (one batch).
    async fn names_for(&self, items: &[TimelineItem]) {
        let cache = self.m.users_cache();
        let missing: Vec<UserId> = items
            .iter()
            .map(|i| i.sender)
            .filter(|u| cache.cached(*u).is_none())
            .collect();
        if !missing.is_empty() {
            let _ = cache.users(missing).await;
        }
    }

    async fn timeline_changed(&mut self, diff: TimelineDiff) {
        match diff {
            TimelineDiff::Append(item) => {
                self.names_for(std::slice::from_ref(&item)).await;
                self.shown.push(item.id);
                self.say(self.line(self.shown.len(), &item, ""));
                if item.sender != self.me {
                    self.read_current().await;
                }
            }
            TimelineDiff::Set { item, .. } => {
                if let Some(n) = self.shown.iter().position(|id| *id == item.id) {
                    let tag = if item.removed { "" } else { "  <- edited" };
                    self.say(self.line(n + 1, &item, tag));
                }
            }
            TimelineDiff::Clear => {
                self.say("* history reloaded".into());
                self.shown.clear();
            }
            _ => {}
        }
    }

    fn inbox_changed(&mut self, change: InboxChange) {
        let current = self.current.as_ref().map(|(id, _)| *id);
        match change {
            InboxChange::Updated(entry) => {
                let before = self.unread.insert(entry.id(), entry.unread).unwrap_or(0);
                if Some(entry.id()) == current {
                    self.show_typing(&entry);
                } else if entry.unread > before {
                    if let Some(last) = &entry.last_message {
                        let who = self.name(last.sender);
                        let text = preview(&last.text);
                        self.say(format!(
                            "* {} | {who}: {text} ({} unread)",
                            entry.name, entry.unread
                        ));
                    }
                }
            }
            InboxChange::Removed(id) if Some(id) == current => {
                self.say(
                    "* this conversation is no longer yours (left, removed or deleted)".into(),
                );
                self.close_current();
            }
            _ => {}
        }
    }

    fn show_typing(&mut self, entry: &InboxEntry) {
        let now: HashSet<UserId> = entry.typing.iter().copied().collect();
        let started: Vec<UserId> = now.difference(&self.typing).copied().collect();
        for user in started {
            self.say(format!("* {} is typing...", self.name(user)));
        }
        self.typing = now;
    }

    /// Prints one line per change of connectivity; `false` once closed for good.
    fn connection(&mut self, state: ConnectionState) -> bool {
        match state {
            ConnectionState::Reconnecting { .. } if !self.offline => {
                self.offline = true;
                self.say(
                    "* connection lost; reconnecting (what you send goes out once back)".into(),
                );
            }
            ConnectionState::Live if self.offline => {
                self.offline = false;
                self.say("* back online".into());
            }
            ConnectionState::Closed { reason } => {
                self.say(format!("* disconnected for good: {reason}"));
                return false;
            }
            _ => {}
        }
        true
    }

    async fn read_current(&self) {
        if let Some((id, _)) = &self.current {
            if let Err(e) = self.inbox.mark_as_read(*id).await {
                tracing::debug!(error = %e, "mark as read");
            }
        }
    }

    async fn create(&mut self, rest: &str) -> AnyResult<()> {
        let (title, others) = split_title(rest)?;
        let mut users = Vec::new();
        for name in others.split_whitespace() {
            users.push(self.user_by_name(name).await?);
        }
        let c = self
            .m
            .create_conversation(NewConversation::chat().title(title).participants(users))
            .await?;
        self.show_conversation(c.id).await
    }

    async fn who(&self) -> AnyResult<()> {
        let c: Conversation = self.m.get_conversation(self.current_id()?).await?;
        let ids: Vec<UserId> = c.participants.iter().map(|p| p.user).collect();
        let users = self.m.users_cache().users(ids).await?;
        for (p, u) in c.participants.iter().zip(users) {
            let online = match self.m.users_cache().presence(p.user) {
                Some(true) => " (online)",
                _ => "",
            };
            println!(
                "  {} ({}){online}: {}",
                u.display_name,
                u.name,
                describe(p.permissions)
            );
        }
        Ok(())
    }

    fn numbered(&self, n: &str) -> AnyResult<(ConversationId, MessageId)> {
        let id = self.current_id()?;
        let n: usize = n
            .trim()
            .parse()
            .map_err(|_| "give the message's [number]")?;
        let msg = n
            .checked_sub(1)
            .and_then(|i| self.shown.get(i))
            .ok_or_else(|| format!("no message [{n}] on screen"))?;
        Ok((id, *msg))
    }

    async fn user_by_name(&self, name: &str) -> AnyResult<UserId> {
        if name.is_empty() {
            return Err("give a user name".into());
        }
        match self.m.get_user_by_name(name).await {
            Ok(u) => Ok(u.id),
            Err(e) if e.code() == Some(chatwire::ErrorCode::UserNotFound) => {
                Err(format!("no user called \"{name}\"").into())
            }
            Err(e) => Err(e.into()),
        }
    }
}
