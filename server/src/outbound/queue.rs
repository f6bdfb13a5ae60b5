//! A connection's bounded outbound queue and its close request: the handle the engine (and the
//! connection's own read loop) sends through, and the end its writer task drains.
//!
//! Frames are of two kinds, counted apart in one FIFO queue:
//!
//! - **broadcasts** (events other connections caused, presence, server-initiated frames): the
//!   connection cannot slow them down, so when `capacity` of them are waiting the connection is
//!   closed with 4004 (slow consumer) instead of buffering;
//! - **replies** (the connection's own results, errors, retransmit and catch-up pages, session
//!   answers): the connection asked for them, so they never close it. Instead the read loop
//!   reserves room for a request's replies before handing it to the engine
//!   ([`ConnShared::reserve`]) and stops reading while replies fill the queue: a client that
//!   asks for much at once is slowed down, not disconnected, and memory stays bounded.
//!
//! Both counts are atomics on an unbounded channel: the fan-out path pays one atomic add per
//! frame and no lock (see docs/PERFORMANCE.md).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, Notify};

use super::frame::Frame;

/// Connection id, unique within a server process.
pub(crate) type ConnId = u64;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A request to close a connection.
#[derive(Debug, Clone)]
pub(crate) struct CloseRequest {
    pub code: u16,
    pub reason: String,
    /// Send frames already queued before closing (false for a slow consumer).
    pub drain: bool,
}

/// What a queued frame is, for the two counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// An answer to this connection's own request (or a session frame).
    Reply,
    /// Anything else.
    Broadcast,
}

/// Shared between the connection task (which owns the socket) and whoever sends to it.
pub(crate) struct ConnShared {
    pub id: ConnId,
    tx: mpsc::UnboundedSender<(Frame, Kind)>,
    /// Broadcast frames queued and not yet written (at most `capacity`; 4004 beyond).
    broadcasts: AtomicUsize,
    /// Reply frames queued and not yet written, plus the room reserved for the replies of
    /// requests the engine has not answered yet ([`ReplyCredit`]).
    replies: AtomicUsize,
    capacity: usize,
    close: Mutex<Option<CloseRequest>>,
    notify: Notify,
    /// Signalled when reply room may have become free (replies written, credits returned).
    room: Notify,
}

/// The connection task's end of the outbound queue.
pub(crate) type Outbound = mpsc::UnboundedReceiver<(Frame, Kind)>;

/// Room reserved in a connection's queue for the replies of one request; returned when
/// dropped (once the engine has queued those replies, or dropped the request).
pub(crate) struct ReplyCredit {
    conn: Arc<ConnShared>,
    frames: usize,
}

impl Drop for ReplyCredit {
    fn drop(&mut self) {
        self.conn.replies.fetch_sub(self.frames, Ordering::AcqRel);
        self.conn.room.notify_one();
    }
}

impl ConnShared {
    /// A new handle and the receiving end of its queue.
    pub fn new(capacity: usize) -> (Arc<ConnShared>, Outbound) {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = ConnShared {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            tx,
            broadcasts: AtomicUsize::new(0),
            replies: AtomicUsize::new(0),
            capacity: capacity.max(1),
            close: Mutex::new(None),
            notify: Notify::new(),
            room: Notify::new(),
        };
        (Arc::new(shared), rx)
    }

    /// Queues a broadcast; when `capacity` broadcasts are already waiting, closes the
    /// connection with 4004 instead of growing.
    pub fn send(&self, frame: Frame) {
        if self.broadcasts.fetch_add(1, Ordering::Relaxed) >= self.capacity {
            self.broadcasts.fetch_sub(1, Ordering::Relaxed);
            self.close(4004, "slow consumer: outbound queue full", false);
            return;
        }
        // An error means the connection task is gone: nothing to deliver to.
        let _ = self.tx.send((frame, Kind::Broadcast));
    }

    /// Queues a reply. Replies never close the connection; the read loop keeps their number
    /// bounded by reserving room before each request ([`ConnShared::reserve`]).
    pub fn reply(&self, frame: Frame) {
        self.replies.fetch_add(1, Ordering::AcqRel);
        let _ = self.tx.send((frame, Kind::Reply));
    }

    /// The writer has written frames it took off the queue: `replies` replies and
    /// `broadcasts` broadcasts.
    pub fn written(&self, replies: usize, broadcasts: usize) {
        if broadcasts > 0 {
            self.broadcasts.fetch_sub(broadcasts, Ordering::Relaxed);
        }
        if replies > 0 {
            self.replies.fetch_sub(replies, Ordering::AcqRel);
            self.room.notify_one();
        }
    }

    /// Reserves room for `frames` replies: granted while the replies queued and reserved
    /// leave room for them within the capacity, and always when none are (so a request whose
    /// replies alone exceed the capacity still runs, on its own).
    pub fn reserve(self: &Arc<Self>, frames: usize) -> Option<ReplyCredit> {
        let load = self.replies.load(Ordering::Acquire);
        if load > 0 && load + frames > self.capacity {
            return None;
        }
        self.replies.fetch_add(frames, Ordering::AcqRel);
        Some(ReplyCredit {
            conn: self.clone(),
            frames,
        })
    }

    /// Whether replies (queued and reserved) exceed the capacity: the read loop then reads
    /// nothing more from the connection until the client has read some.
    pub fn replies_full(&self) -> bool {
        self.replies.load(Ordering::Acquire) > self.capacity
    }

    /// Waits until reply room may have become free (check again after it returns).
    pub async fn reply_room(&self) {
        self.room.notified().await;
    }

    /// Asks the connection task to close the socket (the first request wins).
    pub fn close(&self, code: u16, reason: &str, drain: bool) {
        let mut slot = self.close.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(CloseRequest {
                code,
                reason: reason.to_string(),
                drain,
            });
        }
        drop(slot);
        self.notify.notify_one();
    }

    /// The close request, if one was made.
    pub fn close_requested(&self) -> Option<CloseRequest> {
        self.close.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits for a close request.
    pub async fn closed(&self) -> CloseRequest {
        loop {
            if let Some(req) = self.close_requested() {
                return req;
            }
            self.notify.notified().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame() -> Frame {
        Frame::from("{}".to_string())
    }

    #[test]
    fn broadcasts_beyond_the_capacity_close_with_4004() {
        let (conn, mut rx) = ConnShared::new(3);
        for _ in 0..3 {
            conn.send(frame());
        }
        assert!(conn.close_requested().is_none());
        conn.send(frame());
        let close = conn.close_requested().expect("closed");
        assert_eq!((close.code, close.drain), (4004, false));
        let mut n = 0;
        while rx.try_recv().is_ok() {
            n += 1;
        }
        assert_eq!(n, 3, "the frame that did not fit was not queued");
    }

    #[test]
    fn replies_never_close_and_are_counted_apart() {
        let (conn, mut rx) = ConnShared::new(2);
        for _ in 0..10 {
            conn.reply(frame());
        }
        assert!(conn.close_requested().is_none());
        assert!(conn.replies_full());
        // Broadcasts still have their own room.
        conn.send(frame());
        conn.send(frame());
        assert!(conn.close_requested().is_none());
        let kinds: Vec<Kind> = std::iter::from_fn(|| rx.try_recv().ok().map(|q| q.1)).collect();
        assert_eq!(kinds.iter().filter(|k| **k == Kind::Reply).count(), 10);
        conn.written(10, 2);
        assert!(!conn.replies_full());
    }

    #[test]
    fn room_is_reserved_until_the_credit_is_returned() {
        let (conn, _rx) = ConnShared::new(100);
        let first = conn.reserve(60).expect("empty queue");
        assert!(conn.reserve(41).is_none(), "60 + 41 > 100");
        let second = conn.reserve(40).expect("60 + 40 fits");
        drop(first);
        let third = conn.reserve(60).expect("40 + 60 fits");
        drop((second, third));
        // More than the capacity at once is granted when nothing else waits.
        let big = conn.reserve(101).expect("alone");
        assert!(conn.replies_full());
        assert!(conn.reserve(1).is_none());
        drop(big);
        assert!(conn.reserve(1).is_some());
    }

    #[tokio::test]
    async fn writing_replies_signals_room() {
        let (conn, _rx) = ConnShared::new(1);
        conn.reply(frame());
        conn.reply(frame());
        assert!(conn.replies_full());
        let waiter = {
            let conn = conn.clone();
            tokio::spawn(async move { conn.reply_room().await })
        };
        conn.written(2, 0);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .unwrap();
        assert!(!conn.replies_full());
    }
}
