//! Batches that failed as stale (another node committed first): re-read what they wrote,
//! deliver what other nodes committed, run the requests again in their order.

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use chatwire_protocol::UserId;

use super::{Engine, State, MAX_RERUNS};
use crate::store::Write;

impl Engine {
    /// Batches failed as stale: waits until nothing is queued (every batch behind them failed
    /// too), reloads the state, delivers what other nodes committed, and runs the requests
    /// again in their order.
    pub(crate) fn on_stale(&mut self) {
        if let Err(e) = self.store.resume() {
            tracing::warn!(error = %e, "store unavailable after a stale batch");
        }
        let failed = match self.stale.lock() {
            Ok(mut list) => std::mem::take(&mut *list),
            Err(_) => return,
        };
        if failed.is_empty() {
            return;
        }
        for (out, _) in &failed {
            for (conv, seq) in out.positions() {
                let d = self.delivered.entry(conv).or_insert(0);
                *d = (*d).min(seq.saturating_sub(1));
            }
        }
        if self.stale_everywhere.swap(false, Ordering::SeqCst) {
            match self.store.load() {
                Ok(snapshot) => self.state.reload(State::from_snapshot(snapshot)),
                Err(e) => tracing::warn!(error = %e, "reloading the state failed"),
            }
        } else {
            self.reload_written(failed.iter().map(|(out, _)| &out.batch));
        }
        self.clamp_delivered();
        self.refill_behind();
        self.release(None);
        for (mut out, ctx) in failed {
            let credit = out.credit.take();
            match (out.rerun.take(), credit) {
                (Some(mut r), Some(credit)) if r.attempts < MAX_RERUNS => {
                    r.attempts += 1;
                    self.run(r, credit);
                }
                (_, credit) => {
                    // Out of attempts (the release path answers 30), or not a request: other
                    // nodes' events were refilled above; what wrote nothing (error replies,
                    // presence) still goes out; what wrote is refused.
                    let ok = ctx.is_none() && out.batch.is_empty();
                    out.credit = credit;
                    out.deliveries.retain(|d| !d.remote);
                    out.remote.clear();
                    let _ = self.released.send((out, ok, ctx));
                }
            }
        }
    }

    /// Reloads from the database every row the failed batches wrote (their changes are in the
    /// cache but were never committed, and the rows they were computed on are outdated): the
    /// conversations with their memberships, the users, the tokens. What the database does
    /// not have (created by a failed batch) leaves the cache.
    fn reload_written<'a>(&mut self, batches: impl Iterator<Item = &'a crate::store::Batch>) {
        let mut convs = std::collections::BTreeSet::new();
        let mut users = std::collections::BTreeSet::new();
        let mut tokens = std::collections::BTreeSet::new();
        for batch in batches {
            for w in &batch.writes {
                match w {
                    Write::Event(e) => {
                        convs.insert(e.conversation);
                    }
                    Write::Conversation(c) => {
                        convs.insert(c.uuid);
                    }
                    Write::Member(c, _) | Write::DeleteMembers(c) => {
                        convs.insert(*c);
                    }
                    Write::User(u) => {
                        users.insert(u.id);
                    }
                    Write::Token(t) => {
                        tokens.insert(t.hash.clone());
                    }
                    Write::DeleteToken(h) => {
                        tokens.insert(h.clone());
                    }
                    _ => {}
                }
            }
        }
        let _ = self.store.flush();
        for id in convs {
            match self.store.conversation(id) {
                Ok(Some((rec, members))) => self.state.put_conversation(rec, members),
                Ok(None) => self.state.remove_conversation(id),
                Err(e) => tracing::warn!(error = %e, conv = %id, "reloading a conversation failed"),
            }
        }
        if !users.is_empty() {
            let ids: Vec<UserId> = users.iter().copied().collect();
            match self.store.users(&ids) {
                Ok(recs) => {
                    let found: HashSet<UserId> = recs.iter().map(|r| r.id).collect();
                    for rec in recs {
                        self.state.put_user(rec);
                    }
                    for id in ids.into_iter().filter(|id| !found.contains(id)) {
                        self.state.remove_user(id);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "reloading users failed"),
            }
        }
        for hash in tokens {
            match self.store.token(&hash) {
                Ok(Some(t)) => {
                    self.state.tokens.insert(hash, t);
                }
                Ok(None) => {
                    self.state.tokens.remove(&hash);
                }
                Err(e) => tracing::warn!(error = %e, "reloading a token failed"),
            }
        }
    }
}
