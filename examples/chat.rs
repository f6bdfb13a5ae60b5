//! An interactive terminal chat client. Run it in two terminals as two users:
//!
//! ```sh
//! cargo run --example chat -- ws://127.0.0.1:8080 alice secret-password
//! CHATWIRE_URL=ws://127.0.0.1:8080 CHATWIRE_USER=bob CHATWIRE_PASSWORD=secret-password \
//!     cargo run --example chat
//! ```
//!
//! Type `/help` for the commands; any other line is sent to the current conversation.
//! Incoming messages, edits, removals, typing, read marks and membership changes are printed
//! as they arrive. Each message shows its number in its conversation (`[3]`, its seq, the
//! same in every client) for `/edit` and `/remove`.

use std::collections::HashMap;

use chatwire::{
    ConnectionState, Conversation, ConversationId, Error, Event, EventMeta, MessageId, Messenger,
    NewConversation, Seq, UserId,
};
use futures::StreamExt;
use tokio::io::{AsyncBufReadExt, BufReader};

type AnyResult<T> = Result<T, Box<dyn std::error::Error>>;

const HELP: &str = "\
commands:
  /list                      your conversations (numbered, for /open)
  /public                    public conversations you can /join
  /create <title> [user...]  a group chat (quote a title with spaces: \"Team lunch\")
  /direct <user>             a 1:1 conversation
  /join <uuid>               join a public conversation
  /open <number or uuid>     make a conversation current (shows its last messages)
  /add <user...>             add people to the current conversation
  /leave                     leave the current conversation
  <text>                     send to the current conversation
  /edit <n> <text>           edit message [n] of the current conversation
  /remove <n>                remove message [n]
  /read                      mark the current conversation read
  /who                       participants of the current conversation
  /history [count]           the last messages (default 20)
  /quit";

/// The server's default application domain: `alice` means `alice@chatwire.local`.
const DEFAULT_DOMAIN: &str = "chatwire.local";

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

    println!("connecting to {url} as {user} ...");
    let messenger = Messenger::builder(&url)
        .password(&user, password)
        .connect()
        .await?;
    let mut events = messenger.events();
    let mut chat = Chat::new(messenger);
    let me = chat.m.me().await?;
    println!(
        "logged in as {} ({}). /help for commands",
        me.display_name, me.name
    );
    chat.list().await?;

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        // Both branches are cancel safe: no line and no event is lost when the other wins.
        tokio::select! {
            line = lines.next_line() => {
                let Some(line) = line? else { break }; // end of input
                match chat.command(line.trim()).await {
                    Ok(true) => break,
                    Ok(false) => {}
                    Err(e) => println!("! {e}"),
                }
            }
            event = events.next() => {
                let Some(event) = event else { break };
                if let Event::Connection(ConnectionState::Closed { reason }) = &event {
                    println!("* connection closed: {reason}");
                    break;
                }
                chat.show(event).await;
            }
        }
    }
    chat.m.close();
    Ok(())
}

/// What the client remembers of a conversation.
#[derive(Default)]
struct Info {
    title: String,
    participants: Vec<UserId>,
    /// The messages this client has seen, by the seq of their `MessageSent` event.
    messages: HashMap<MessageId, Seq>,
}

struct Chat {
    m: Messenger,
    me: UserId,
    names: HashMap<UserId, String>,
    convs: HashMap<ConversationId, Info>,
    /// The numbering of the last `/list`, for `/open <number>`.
    listed: Vec<ConversationId>,
    current: Option<ConversationId>,
}

impl Chat {
    fn new(m: Messenger) -> Self {
        Chat {
            me: m.user_id(),
            m,
            names: HashMap::new(),
            convs: HashMap::new(),
            listed: Vec::new(),
            current: None,
        }
    }

    /// Runs one input line; `Ok(true)` means quit.
    async fn command(&mut self, line: &str) -> AnyResult<bool> {
        if line.is_empty() {
            return Ok(false);
        }
        if !line.starts_with('/') {
            if let Err(e) = self.send(line).await {
                // Never re-sent automatically: after a drop it may or may not have arrived.
                println!("! not sent ({e}); check /history and send it again");
            }
            return Ok(false);
        }
        let (cmd, rest) = line.split_once(' ').unwrap_or((line, ""));
        let rest = rest.trim();
        match cmd {
            "/help" => println!("{HELP}"),
            "/quit" | "/exit" => return Ok(true),
            "/list" => self.list().await?,
            "/public" => self.public().await?,
            "/create" => self.create(rest).await?,
            "/direct" => {
                let user = self.m.get_user_by_name(rest).await?;
                let c = self
                    .m
                    .create_conversation(NewConversation::direct(user.id))
                    .await?;
                self.open_conversation(c).await?;
            }
            "/join" => {
                let c = self.m.join_conversation(rest.parse()?).await?;
                self.open_conversation(c).await?;
            }
            "/open" => {
                let id = match rest.parse::<usize>() {
                    Ok(n) => *n
                        .checked_sub(1)
                        .and_then(|i| self.listed.get(i))
                        .ok_or("no such number in the last /list")?,
                    Err(_) => rest.parse()?,
                };
                let c = self.m.get_conversation(id).await?;
                self.open_conversation(c).await?;
            }
            "/add" => {
                let conv = self.current()?;
                let mut ids = Vec::new();
                for name in rest.split_whitespace() {
                    ids.push(self.m.get_user_by_name(name).await?.id);
                }
                self.m.add_participants(conv, ids).await?;
            }
            "/leave" => {
                let conv = self.current()?;
                self.m.leave_conversation(conv).await?;
                self.current = None;
            }
            "/edit" => {
                let (n, text) = rest.split_once(' ').ok_or("usage: /edit <n> <text>")?;
                let (conv, msg) = self.numbered(n)?;
                self.m.edit_message(conv, msg).text(text.trim()).await?;
            }
            "/remove" => {
                let (conv, msg) = self.numbered(rest)?;
                self.m.remove_message(conv, msg).await?;
            }
            "/read" => {
                let conv = self.current()?;
                let last = self.m.get_conversation(conv).await?.last_seq;
                let mark = self.m.mark_as_read(conv, last).await?;
                println!("* marked read up to #{mark}");
            }
            "/who" => self.who().await?,
            "/history" => {
                let count = if rest.is_empty() { 20 } else { rest.parse()? };
                self.history(self.current()?, count).await?;
            }
            _ => println!("! unknown command {cmd}; /help lists them"),
        }
        Ok(false)
    }

    async fn send(&mut self, text: &str) -> AnyResult<()> {
        let conv = self.current()?;
        // Tell the others we are typing (at most once per 10 s per conversation: the SDK
        // refuses earlier calls locally with TypingThrottled, which is fine to ignore).
        match self.m.typing(conv).await {
            Ok(()) | Err(Error::TypingThrottled(_)) => {}
            Err(e) => println!("! typing: {e}"),
        }
        // Our own message comes back on the event stream, where it is printed and numbered.
        self.m.send_message(conv, text).await?;
        Ok(())
    }

    async fn list(&mut self) -> AnyResult<()> {
        let ids = self
            .m
            .me()
            .await?
            .private
            .map(|p| p.conversations)
            .unwrap_or_default();
        if ids.is_empty() {
            println!("* you are in no conversation yet: /create, /direct, /public and /join");
            return Ok(());
        }
        let conversations = self.m.get_conversations(ids).await?;
        self.listed = conversations.iter().map(|c| c.id).collect();
        println!("* your conversations:");
        for (i, c) in conversations.into_iter().enumerate() {
            let mark = if Some(c.id) == self.current { "*" } else { " " };
            let line = self.describe(&c).await;
            println!(" {mark}{:>2}. {line}", i + 1);
            self.remember(&c).await;
        }
        Ok(())
    }

    async fn public(&mut self) -> AnyResult<()> {
        let ids = self.m.get_public_conversations().await?;
        if ids.is_empty() {
            println!("* no public conversations");
            return Ok(());
        }
        println!("* public conversations (/join <uuid>):");
        for c in self.m.get_conversations(ids).await? {
            println!("   {}", self.describe(&c).await);
        }
        Ok(())
    }

    async fn create(&mut self, rest: &str) -> AnyResult<()> {
        let (title, users) = match rest.strip_prefix('"') {
            Some(quoted) => quoted.split_once('"').ok_or("missing closing quote")?,
            None => rest.split_once(' ').unwrap_or((rest, "")),
        };
        if title.is_empty() {
            return Err("usage: /create <title> [user...]".into());
        }
        let mut new = NewConversation::chat().title(title);
        for name in users.split_whitespace() {
            new = new.participant(self.m.get_user_by_name(name).await?.id);
        }
        let c = self.m.create_conversation(new).await?;
        self.open_conversation(c).await
    }

    async fn open_conversation(&mut self, c: Conversation) -> AnyResult<()> {
        self.remember(&c).await;
        self.current = Some(c.id);
        println!("* now in {}", self.describe(&c).await);
        self.history(c.id, 10).await
    }

    async fn who(&mut self) -> AnyResult<()> {
        let c = self.m.get_conversation(self.current()?).await?;
        self.remember(&c).await;
        let ids: Vec<UserId> = c.participants.iter().map(|p| p.user).collect();
        for u in self.m.get_users(ids).await? {
            self.names.insert(u.id, u.display_name.clone());
        }
        println!("* in \"{}\":", c.title);
        for p in &c.participants {
            let name = self.name(p.user).await;
            println!(
                "   {name} (user {}): {:?}, read up to #{}",
                p.user, p.permissions, p.last_read
            );
        }
        Ok(())
    }

    /// Prints the last `count` messages as they read now (edits applied, removed ones left
    /// out), oldest first. `history()` pages backwards, so an edit or removal is seen before
    /// the message it changes.
    async fn history(&mut self, conv: ConversationId, count: usize) -> AnyResult<()> {
        let mut history = self.m.history(conv);
        let mut edits: HashMap<MessageId, String> = HashMap::new();
        let mut removed = Vec::new();
        let mut newest_first = Vec::new();
        while newest_first.len() < count {
            let Some(event) = history.next().await else {
                break;
            };
            match event? {
                Event::MessageEdited { message, .. } => {
                    edits.entry(message.id).or_insert(message.text);
                }
                Event::MessageRemoved { message, .. } => removed.push(message),
                Event::MessageSent { meta, message } if !removed.contains(&message.id) => {
                    let edited = edits.remove(&message.id);
                    newest_first.push((meta, message, edited));
                }
                _ => {}
            }
        }
        if newest_first.is_empty() {
            println!("  (no messages yet)");
        }
        for (meta, message, edited) in newest_first.into_iter().rev() {
            let n = self.number(conv, message.id, meta.seq);
            let who = self.name_of(&meta).await;
            let time = clock(&meta);
            match edited {
                Some(text) => println!("  [{n}] {time} {who}: {text}  (edited)"),
                None => println!("  [{n}] {time} {who}: {}", message.text),
            }
        }
        Ok(())
    }

    /// Prints one event as it arrives.
    async fn show(&mut self, event: Event) {
        match event {
            Event::MessageSent { meta, message } => {
                if self.seen(message.conversation, message.id) {
                    return; // already shown by /open or /history
                }
                let n = self.number(message.conversation, message.id, meta.seq);
                let place = self.place(message.conversation).await;
                let who = self.name_of(&meta).await;
                let late = if meta.replayed {
                    "  (while offline)"
                } else {
                    ""
                };
                println!("{place}[{n}] {who}: {}{late}", message.text);
            }
            Event::MessageEdited { meta, message } => {
                let n = self.number(message.conversation, message.id, None);
                let place = self.place(message.conversation).await;
                let who = self.name_of(&meta).await;
                println!("{place}[{n}] edited by {who}: {}", message.text);
            }
            Event::MessageRemoved {
                meta,
                conversation,
                message,
            } => {
                let n = self.number(conversation, message, None);
                let place = self.place(conversation).await;
                let who = self.name_of(&meta).await;
                println!("{place}[{n}] removed by {who}");
            }
            Event::Typing { meta, conversation } if meta.initiator != Some(self.me) => {
                let place = self.place(conversation).await;
                println!("{place}{} is typing...", self.name_of(&meta).await);
            }
            Event::Read {
                meta,
                conversation,
                seq,
            } if meta.initiator != Some(self.me) => {
                let place = self.place(conversation).await;
                println!("{place}{} read up to #{seq}", self.name_of(&meta).await);
            }
            Event::ConversationCreated { meta, conversation } => {
                if self.convs.contains_key(&conversation.id) {
                    return; // our own /create or /direct: already shown
                }
                let who = self.name_of(&meta).await;
                self.remember(&conversation).await;
                println!(
                    "* {who} created {} (/open {})",
                    self.describe(&conversation).await,
                    conversation.id
                );
            }
            Event::ConversationEdited { meta, conversation } => {
                self.membership(&meta, &conversation).await;
                self.remember(&conversation).await;
            }
            Event::ConversationRemoved { conversation, .. } => {
                let place = self.place(conversation).await;
                println!("{place}the conversation was deleted");
                if self.current == Some(conversation) {
                    self.current = None;
                }
            }
            Event::Connection(state) => println!("* connection: {state:?}"),
            Event::Gap {
                conversation,
                from,
                to,
            } => {
                let place = self.place(conversation).await;
                println!("{place}events #{from}..#{to} could not be fetched");
            }
            Event::Lagged { missed } => println!("* fell behind: {missed} events not shown"),
            _ => {}
        }
    }

    /// Prints who joined, left, was added or removed, and title changes.
    async fn membership(&mut self, meta: &EventMeta, c: &Conversation) {
        let who = self.name_of(meta).await;
        let place = self.place(c.id).await;
        let (before, old_title) = match self.convs.get(&c.id) {
            Some(info) => (info.participants.clone(), info.title.clone()),
            None => (Vec::new(), c.title.clone()),
        };
        let now: Vec<UserId> = c.participants.iter().map(|p| p.user).collect();
        let by = |u: UserId| meta.initiator == Some(u);
        for u in now.iter().filter(|u| !before.contains(u)) {
            let name = self.name(*u).await;
            if by(*u) {
                println!("{place}{name} joined");
            } else {
                println!("{place}{who} added {name}");
            }
        }
        for u in before.iter().filter(|u| !now.contains(u)) {
            let name = self.name(*u).await;
            if by(*u) {
                println!("{place}{name} left");
            } else {
                println!("{place}{who} removed {name}");
            }
            if *u == self.me && self.current == Some(c.id) {
                self.current = None;
            }
        }
        if !c.direct && old_title != c.title {
            println!("{place}{who} renamed it \"{}\"", c.title);
        }
        if meta.action.name() == "editParticipants" {
            println!("{place}{who} changed permissions");
        }
    }

    fn current(&self) -> AnyResult<ConversationId> {
        self.current
            .ok_or_else(|| "no current conversation: /list then /open <number>".into())
    }

    /// Message `[n]` of the current conversation.
    fn numbered(&self, n: &str) -> AnyResult<(ConversationId, MessageId)> {
        let conv = self.current()?;
        let n = Seq(n.trim().parse()?);
        let msg = self
            .convs
            .get(&conv)
            .and_then(|info| info.messages.iter().find(|(_, seq)| **seq == n))
            .ok_or("no such message number (see /history)")?;
        Ok((conv, *msg.0))
    }

    fn seen(&self, conv: ConversationId, msg: MessageId) -> bool {
        self.convs
            .get(&conv)
            .is_some_and(|info| info.messages.contains_key(&msg))
    }

    /// The number of a message: the seq of its `MessageSent` (recorded when given), or `?`
    /// for one this client has not seen.
    fn number(&mut self, conv: ConversationId, msg: MessageId, sent: Option<Seq>) -> String {
        let info = self.convs.entry(conv).or_default();
        if let Some(seq) = sent {
            info.messages.insert(msg, seq);
        }
        info.messages
            .get(&msg)
            .map_or_else(|| "?".to_string(), Seq::to_string)
    }

    async fn remember(&mut self, c: &Conversation) {
        let title = match c.participants.iter().find(|p| p.user != self.me) {
            // A direct conversation is named after the other person.
            Some(other) if c.direct => format!("@{}", self.name(other.user).await),
            _ => c.title.clone(),
        };
        let info = self.convs.entry(c.id).or_default();
        info.title = title;
        info.participants = c.participants.iter().map(|p| p.user).collect();
    }

    /// The prefix of a line about a conversation: empty for the current one.
    async fn place(&mut self, conv: ConversationId) -> String {
        if self.current == Some(conv) {
            return String::new();
        }
        let known = self.convs.get(&conv).filter(|i| !i.title.is_empty());
        let title = match known {
            Some(info) => info.title.clone(),
            None => match self.m.get_conversation(conv).await {
                Ok(c) => {
                    self.remember(&c).await;
                    c.title
                }
                Err(_) => conv.to_string(),
            },
        };
        format!("<{title}> ")
    }

    async fn describe(&mut self, c: &Conversation) -> String {
        let mut names = Vec::new();
        for p in &c.participants {
            names.push(self.name(p.user).await);
        }
        let kind = if c.direct {
            "direct"
        } else if c.public {
            "public"
        } else {
            "chat"
        };
        format!("\"{}\" ({kind}; {}) {}", c.title, names.join(", "), c.id)
    }

    async fn name_of(&mut self, meta: &EventMeta) -> String {
        match meta.initiator {
            Some(u) => self.name(u).await,
            None => "someone".into(),
        }
    }

    /// A user's display name (cached; "you" for yourself).
    async fn name(&mut self, user: UserId) -> String {
        if user == self.me {
            return "you".into();
        }
        if let Some(name) = self.names.get(&user) {
            return name.clone();
        }
        let name = match self.m.get_user(user).await {
            Ok(u) => u.display_name,
            Err(_) => format!("user {user}"),
        };
        self.names.insert(user, name.clone());
        name
    }
}

/// `HH:MM` (UTC) of an event.
fn clock(meta: &EventMeta) -> String {
    let secs = meta
        .timestamp
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
        % 86_400;
    format!("{:02}:{:02}", secs / 3600, secs / 60 % 60)
}
