//! A connection's bounded outbound queue and its close request: the handle the engine (and the
//! connection's own read loop) sends through, and the end its writer task drains.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

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

/// Shared between the connection task (which owns the socket) and whoever sends to it.
pub(crate) struct ConnShared {
    pub id: ConnId,
    tx: mpsc::UnboundedSender<Frame>,
    /// Frames queued and not yet written (bounded by `capacity`). A counter on an unbounded
    /// channel instead of a bounded channel: the engine pushes one frame per receiver of every
    /// event, and a bounded channel's semaphore takes a lock on each receive.
    queued: AtomicUsize,
    capacity: usize,
    close: Mutex<Option<CloseRequest>>,
    notify: Notify,
}

/// The connection task's end of the outbound queue.
pub(crate) type Outbound = mpsc::UnboundedReceiver<Frame>;

impl ConnShared {
    /// A new handle and the receiving end of its queue.
    pub fn new(capacity: usize) -> (std::sync::Arc<ConnShared>, Outbound) {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = ConnShared {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            tx,
            queued: AtomicUsize::new(0),
            capacity: capacity.max(1),
            close: Mutex::new(None),
            notify: Notify::new(),
        };
        (std::sync::Arc::new(shared), rx)
    }

    /// Queues a frame; a full queue closes the connection with 4004 instead of growing.
    pub fn send(&self, frame: Frame) {
        if self.queued.fetch_add(1, Ordering::Relaxed) >= self.capacity {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            self.close(4004, "slow consumer: outbound queue full", false);
            return;
        }
        // An error means the connection task is gone: nothing to deliver to.
        let _ = self.tx.send(frame);
    }

    /// The writer has written `n` frames it took off the queue.
    pub fn written(&self, n: usize) {
        self.queued.fetch_sub(n, Ordering::Relaxed);
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

    /// Waits for a close request.
    pub async fn closed(&self) -> CloseRequest {
        loop {
            if let Some(req) = self.close.lock().unwrap_or_else(|e| e.into_inner()).clone() {
                return req;
            }
            self.notify.notified().await;
        }
    }
}
