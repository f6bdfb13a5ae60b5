//! The client stores keep what the messenger writes, atomically, across a reopen (SQLite).

use chatwire::store::{Changes, MemoryStore, OutboxEntry, SqliteStore, Store};
use chatwire::{ConversationId, UserId};

fn conv(n: u8) -> ConversationId {
    ConversationId::parse(&format!("6f1c2a9e-0b5d-4c3a-9e7f-1a2b3c4d5e{n:02x}")).unwrap()
}

async fn exercise(store: &dyn Store) {
    let mut c = Changes::default();
    c.epoch = Some("e1".into());
    c.user = UserId::new(17);
    c.positions = vec![(conv(1), 4), (conv(2), 9)];
    c.left = vec![conv(2)];
    let mut payload = serde_json::Map::new();
    payload.insert("text".into(), "hi".into());
    c.outbox_put = vec![
        OutboxEntry::new(1, "k1", "sendMessage", Some(conv(1)), payload.clone(), 100),
        OutboxEntry::new(2, "k2", "sendMessage", Some(conv(1)), payload, 101),
    ];
    c.kv = vec![("inbox".into(), Some(b"[1]".to_vec()))];
    store.commit(c).await.unwrap();

    let s = store.load().await.unwrap();
    assert_eq!(s.epoch.as_deref(), Some("e1"));
    assert_eq!(s.user, UserId::new(17));
    assert_eq!(s.positions[&conv(1)], 4);
    assert_eq!(s.positions[&conv(2)], 9);
    assert!(s.left.contains(&conv(2)));
    assert_eq!(s.outbox.keys().copied().collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(s.outbox[&2].key, "k2");
    assert_eq!(s.kv["inbox"], b"[1]");

    // Forget then track again in one batch: the new position wins.
    let mut c = Changes::default();
    c.forget = vec![conv(2), conv(1)];
    c.positions = vec![(conv(1), 2)];
    c.outbox_remove = vec![1];
    c.kv = vec![("inbox".into(), None)];
    store.commit(c).await.unwrap();
    let s = store.load().await.unwrap();
    assert_eq!(s.positions.get(&conv(1)), Some(&2));
    assert!(!s.positions.contains_key(&conv(2)));
    assert!(s.left.is_empty());
    assert_eq!(s.outbox.keys().copied().collect::<Vec<_>>(), vec![2]);
    assert!(s.kv.is_empty());

    // A reset forgets everything before the batch's own writes.
    let mut c = Changes::default();
    c.reset = true;
    c.epoch = Some("e2".into());
    store.commit(c).await.unwrap();
    let s = store.load().await.unwrap();
    assert_eq!(s.epoch.as_deref(), Some("e2"));
    assert_eq!(s.user, None);
    assert!(s.positions.is_empty() && s.outbox.is_empty());
}

#[tokio::test]
async fn memory_store_applies_changes() {
    exercise(&MemoryStore::new()).await;
}

#[tokio::test]
async fn sqlite_store_applies_changes_and_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/alice.db");
    exercise(&SqliteStore::open(&path).unwrap()).await;
    {
        let store = SqliteStore::open(&path).unwrap();
        let mut c = Changes::default();
        c.positions = vec![(conv(7), 70)];
        store.commit(c).await.unwrap();
    }
    let reopened = SqliteStore::open(&path).unwrap();
    let s = reopened.load().await.unwrap();
    assert_eq!(s.epoch.as_deref(), Some("e2"));
    assert_eq!(s.positions[&conv(7)], 70);
}

#[test]
fn sqlite_store_refuses_a_file_that_is_not_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junk.db");
    std::fs::write(
        &path,
        b"this is not a database, it is a text file of some length",
    )
    .unwrap();
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(err.to_string().contains("store backend"), "{err}");
}
