//! Which version of each user record the engine's cache holds, so that the writer can refuse
//! a user write computed on a record another node changed since (a lost update).
//!
//! A version is a hash of the record's JSON text as stored. The store learns it whenever the
//! engine's cache learns the record: from `load`, from a read of committed rows, and from the
//! engine's own writes (at queue time: later batches are computed on top of them). Each queued
//! batch that writes a user records the version its write was computed on; the writer, under
//! `SELECT ... FOR UPDATE` of those rows, checks that the stored text still has that version.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

use crate::store::{Batch, Write};

/// A record version: the hash of its stored text; `None`: no row.
pub(super) type Version = Option<u64>;

/// Hashes a stored text.
pub(super) fn version_of(text: &str) -> u64 {
    let mut h = DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

#[derive(Default)]
pub(super) struct UserVersions {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// The version the engine's cache holds, per user id.
    known: HashMap<u64, u64>,
    /// Per user id, the base version of each queued batch that writes it, in queue order.
    bases: HashMap<u64, VecDeque<Version>>,
}

impl UserVersions {
    /// The cache now holds this stored text of `user` (a read of committed state).
    pub fn learn(&self, user: u64, text: &str) {
        if let Ok(mut i) = self.inner.lock() {
            i.known.insert(user, version_of(text));
        }
    }

    /// The cache was reloaded: forget everything known.
    pub fn reset(&self) {
        if let Ok(mut i) = self.inner.lock() {
            i.known.clear();
        }
    }

    /// A batch is queued: records the base of each user it writes and makes its writes the
    /// versions the cache holds.
    pub fn queued(&self, batch: &Batch) {
        let mut last: HashMap<u64, String> = HashMap::new();
        for w in &batch.writes {
            if let Write::User(u) = w {
                last.insert(u.id.get(), super::writer::encode(u));
            }
        }
        if last.is_empty() {
            return;
        }
        if let Ok(mut i) = self.inner.lock() {
            for (id, text) in last {
                let base = i.known.insert(id, version_of(&text));
                i.bases.entry(id).or_default().push_back(base);
            }
        }
    }

    /// The writer takes a group: for each user the group writes, the base of its first batch
    /// writing it (every batch's entry is consumed).
    pub fn take_bases(&self, group: &[&Batch]) -> HashMap<u64, Version> {
        let mut out = HashMap::new();
        let Ok(mut i) = self.inner.lock() else {
            return out;
        };
        for batch in group {
            let mut seen = std::collections::HashSet::new();
            for w in &batch.writes {
                if let Write::User(u) = w {
                    let id = u.id.get();
                    if !seen.insert(id) {
                        continue;
                    }
                    let base = i.bases.get_mut(&id).and_then(VecDeque::pop_front);
                    if let Some(q) = i.bases.get(&id) {
                        if q.is_empty() {
                            i.bases.remove(&id);
                        }
                    }
                    if let Some(base) = base {
                        out.entry(id).or_insert(base);
                    }
                }
            }
        }
        out
    }
}
