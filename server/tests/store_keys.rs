//! Idempotency keys in both stores: read-your-writes before the commit is durable, durable
//! across a reopen (SQLite), and pruned by age.

use std::sync::mpsc;

use chatwire_protocol::{ConversationId, UserId};
use chatwire_server::store::{Batch, IdempotencyRecord, MemoryStore, SqliteStore, Store, Write};

fn record(user: u64, key: &str, created: i64) -> IdempotencyRecord {
    IdempotencyRecord {
        user: UserId::new(user).unwrap(),
        key: key.into(),
        action: "sendMessage".into(),
        conversation: ConversationId::parse("6f1c2a9e-0b5d-4c3a-9e7f-1a2b3c4d5e6f").unwrap(),
        seq: 7,
        created,
    }
}

fn commit(store: &dyn Store, writes: Vec<Write>) {
    let (tx, rx) = mpsc::channel();
    store.commit(
        Batch { writes },
        Box::new(move |r| {
            let _ = tx.send(r.is_ok());
        }),
    );
    assert!(rx.recv().unwrap(), "commit failed");
}

fn exercise(store: &dyn Store) {
    let alice = UserId::new(1).unwrap();
    let bob = UserId::new(2).unwrap();
    commit(
        store,
        vec![
            Write::Idempotency(record(1, "k-old", 100)),
            Write::Idempotency(record(1, "k-new", 200)),
        ],
    );
    assert_eq!(
        store.idempotency(alice, "k-new").unwrap(),
        Some(record(1, "k-new", 200))
    );
    // Keys belong to one user.
    assert_eq!(store.idempotency(bob, "k-new").unwrap(), None);
    commit(store, vec![Write::PruneIdempotency { before: 150 }]);
    assert_eq!(store.idempotency(alice, "k-old").unwrap(), None);
    assert!(store.idempotency(alice, "k-new").unwrap().is_some());
}

#[test]
fn memory_store_keeps_and_prunes_keys() {
    exercise(&MemoryStore::new());
}

#[test]
fn sqlite_store_keeps_keys_across_a_reopen_and_prunes_them() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SqliteStore::open(dir.path()).unwrap();
        exercise(&store);
        // Visible before the writer made it durable (read your writes), then after.
        store.commit(
            Batch {
                writes: vec![Write::Idempotency(record(3, "k", 300))],
            },
            Box::new(|_| {}),
        );
        assert!(store
            .idempotency(UserId::new(3).unwrap(), "k")
            .unwrap()
            .is_some());
        store.flush().unwrap();
    }
    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(
        store.idempotency(UserId::new(3).unwrap(), "k").unwrap(),
        Some(record(3, "k", 300))
    );
    assert!(store
        .idempotency(UserId::new(1).unwrap(), "k-new")
        .unwrap()
        .is_some());
    assert!(store
        .idempotency(UserId::new(1).unwrap(), "k-old")
        .unwrap()
        .is_none());
}
