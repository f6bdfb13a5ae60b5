//! The inbox's background task: loads from the server, folds events in, recounts where a read
//! mark moved back or events were missed, resolves names, expires typing, saves to the store.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chatwire_protocol::ConversationId;
use futures::StreamExt;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::fold::Folded;
use super::{load, persist, Command, Inbox, InboxChange, Inner};
use crate::event::{ConnectionState, Event};
use crate::stream::EventStream;
use crate::Messenger;

/// Longest wait between attempts to load while the server cannot be reached.
const MAX_RETRY: Duration = Duration::from_secs(30);

struct Work {
    load: bool,
    rescans: HashSet<ConversationId>,
    names: bool,
    retry_at: Option<Instant>,
    backoff: Duration,
    save_due: Option<Instant>,
}

pub(super) async fn run(
    inner: Arc<Inner>,
    mut events: EventStream,
    mut commands: mpsc::UnboundedReceiver<Command>,
    loaded: watch::Sender<bool>,
) {
    // An unbounded hand-off, so that a slow load never holds up the connection (with a store,
    // a full event buffer stops the connection from reading the replies the load waits for).
    let (tx, mut rx) = mpsc::unbounded_channel();
    let forwarder = tokio::spawn(async move {
        while let Some(event) = events.next().await {
            if tx.send(event).is_err() {
                break;
            }
        }
    });
    let inbox = Inbox {
        inner: inner.clone(),
    };
    let mut work = Work {
        load: true,
        rescans: HashSet::new(),
        names: false,
        retry_at: None,
        backoff: Duration::from_secs(1),
        save_due: None,
    };
    loop {
        if (work.load || !work.rescans.is_empty() || work.names)
            && work.retry_at.is_none_or(|t| Instant::now() >= t)
        {
            let Some(m) = inner.messenger.upgrade() else {
                break;
            };
            do_work(&inbox, &m, &mut work, &loaded).await;
        }
        let now = Instant::now();
        let typing = inbox.lock().next_typing_expiry().map(Instant::from_std);
        let wake = [typing, work.retry_at, work.save_due]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(now + Duration::from_secs(3600));
        tokio::select! {
            event = rx.recv() => {
                let Some(event) = event else { break };
                if matches!(event, Event::Connection(ConnectionState::Live)) {
                    work.retry_at = None;
                    work.backoff = Duration::from_secs(1);
                }
                if matches!(event, Event::Connection(ConnectionState::Closed { .. })) {
                    break;
                }
                let folded = inbox.lock().fold(&event, std::time::Instant::now());
                publish(&inbox, folded, &mut work);
            }
            command = commands.recv() => {
                let Some(Command::Read(conversation, seq)) = command else { continue };
                let mut folded = Folded::default();
                inbox.lock().read(conversation, seq, &mut folded);
                publish(&inbox, folded, &mut work);
            }
            _ = tokio::time::sleep_until(wake) => {}
        }
        let expired = inbox.lock().expire_typing(std::time::Instant::now());
        for id in expired {
            if let Some(e) = inbox.lock().entry(id, std::time::Instant::now()) {
                let _ = inner.changes.send(InboxChange::Updated(Box::new(e)));
            }
        }
        if work.save_due.is_some_and(|t| Instant::now() >= t) {
            work.save_due = None;
            if let Some(m) = inner.messenger.upgrade() {
                save(&inbox, &m);
            }
        }
    }
    forwarder.abort();
}

/// Sends the changes of one fold to the streams and notes the work it asks for.
fn publish(inbox: &Inbox, folded: Folded, work: &mut Work) {
    if folded.reload {
        work.load = true;
        return;
    }
    work.rescans.extend(folded.rescan);
    work.names |= !folded.added.is_empty();
    let now = std::time::Instant::now();
    let mut seen = HashSet::new();
    for id in folded.changed {
        if seen.insert(id) {
            if let Some(e) = inbox.lock().entry(id, now) {
                let _ = inbox.inner.changes.send(InboxChange::Updated(Box::new(e)));
            }
        }
    }
    for id in folded.removed {
        work.rescans.remove(&id);
        let _ = inbox.inner.changes.send(InboxChange::Removed(id));
    }
    if inbox.is_loaded() && work.save_due.is_none() {
        work.save_due = Some(Instant::now() + persist::SAVE_INTERVAL);
    }
}

/// Loads, recounts and resolves names; on failure, tries again later (with backoff).
async fn do_work(inbox: &Inbox, m: &Messenger, work: &mut Work, loaded: &watch::Sender<bool>) {
    let failed = if work.load {
        match load::load(m).await {
            Ok(convs) => {
                inbox.lock().convs = convs;
                work.load = false;
                work.rescans.clear();
                // Names first, so that the first snapshot after loading shows them.
                resolve_names(inbox, m).await;
                *inbox.inner.saved.lock().unwrap_or_else(|e| e.into_inner()) = None;
                loaded.send_replace(true);
                let _ = inbox.inner.changes.send(InboxChange::Reloaded);
                work.save_due.get_or_insert(Instant::now());
                None
            }
            Err(e) => Some(e),
        }
    } else {
        None
    };
    let failed = match failed {
        Some(e) => Some(e),
        None => rescan_all(inbox, m, work).await.err(),
    };
    if failed.is_none() && work.names {
        resolve_names(inbox, m).await;
        work.names = false;
    }
    match failed {
        None => {
            work.retry_at = None;
            work.backoff = Duration::from_secs(1);
        }
        Some(e) => {
            tracing::warn!(error = %e, retry_in = ?work.backoff, "inbox: loading failed; trying again");
            work.retry_at = Some(Instant::now() + work.backoff);
            work.backoff = (work.backoff * 2).min(MAX_RETRY);
        }
    }
}

/// Recounts the conversations that asked for it.
async fn rescan_all(inbox: &Inbox, m: &Messenger, work: &mut Work) -> crate::Result<()> {
    let ids: Vec<ConversationId> = work.rescans.iter().copied().collect();
    for id in ids {
        let Some(mut c) = inbox.lock().convs.get(&id).cloned() else {
            work.rescans.remove(&id);
            continue;
        };
        match load::rescan(m, &mut c).await {
            Ok(()) => {
                let mut state = inbox.lock();
                if let Some(slot) = state.convs.get_mut(&id) {
                    slot.candidates = c.candidates;
                    slot.counted_from = c.counted_from;
                    slot.last_message = c.last_message;
                }
                if let Some(e) = state.entry(id, std::time::Instant::now()) {
                    let _ = inbox.inner.changes.send(InboxChange::Updated(Box::new(e)));
                }
            }
            Err(e) if load::is_gone(&e) => {}
            Err(e) => return Err(e),
        }
        work.rescans.remove(&id);
    }
    Ok(())
}

/// Looks up the display names the inbox shows (direct and untitled conversations), in one
/// batch through the users cache.
async fn resolve_names(inbox: &Inbox, m: &Messenger) {
    let missing = inbox.lock().unnamed_users();
    if missing.is_empty() {
        return;
    }
    match m.users_cache().users(missing).await {
        Ok(users) => {
            let mut state = inbox.lock();
            for u in users {
                state.names.insert(u.id, u.display_name);
            }
            drop(state);
            let _ = inbox.inner.changes.send(InboxChange::Reloaded);
        }
        Err(e) => tracing::debug!(error = %e, "inbox: names not resolved"),
    }
}

/// Writes the inbox to the store's key-value area (nothing without a store).
fn save(inbox: &Inbox, m: &Messenger) {
    if !inbox.is_loaded() || !m.has_store() {
        return;
    }
    let entries = inbox.snapshot();
    let bytes = persist::encode(m.user_id(), &entries);
    m.put_kv(persist::KEY, Some(bytes));
}
