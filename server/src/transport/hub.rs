//! The engine's handle on one connection: a bounded outbound queue and a close request.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use axum::extract::ws::Utf8Bytes;
use tokio::sync::{mpsc, Notify};

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
    tx: mpsc::Sender<Utf8Bytes>,
    close: Mutex<Option<CloseRequest>>,
    notify: Notify,
}

impl ConnShared {
    /// A new handle and the receiving end of its queue.
    pub fn new(capacity: usize) -> (std::sync::Arc<ConnShared>, mpsc::Receiver<Utf8Bytes>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let shared = ConnShared {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            tx,
            close: Mutex::new(None),
            notify: Notify::new(),
        };
        (std::sync::Arc::new(shared), rx)
    }

    /// Queues a frame; a full queue closes the connection with 4004 instead of growing.
    pub fn send(&self, frame: Utf8Bytes) {
        match self.tx.try_send(frame) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.close(4004, "slow consumer: outbound queue full", false);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
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
