//! The command channel from [`Messenger`](crate::Messenger) handles to the connection task.
//!
//! A bounded `mpsc` channel ([`DEFAULT_COMMAND_CAPACITY`](crate::DEFAULT_COMMAND_CAPACITY) by
//! default): when it is full a caller waits for room, within its request timeout. Each request
//! carries the deadline its caller set, so the task can drop requests nobody waits for any more.
//! Closing is a separate signal, not a queued command: `close()` cannot wait for room, and once it
//! has been called no request taken afterwards is sent.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chatwire_protocol::{Request, ServerFrame};
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::time::Instant;

use crate::error::Result;
use crate::request_id::RequestId;

/// Where the task sends a request's complete reply.
pub(crate) type Reply = oneshot::Sender<Result<Vec<ServerFrame>>>;

/// A message from a `Messenger` handle to the task.
pub(crate) enum Command {
    /// Send `request` and answer on `reply`, unless the caller gave up (`reply` closed) or
    /// `deadline` passed.
    Request {
        request: Request,
        reply: Reply,
        /// When the caller's request timeout ends (measured from the call, not from when the
        /// task took the request). Changes that enter the outbox time out from their first
        /// send instead.
        deadline: Instant,
        /// The idempotency key the application chose for a change (default: a new UUID).
        key: Option<String>,
        /// The call's `request_uuid`, the same on every attempt.
        id: RequestId,
    },
}

/// `close()` was called: a flag (checked before each command is taken) and a wake-up.
#[derive(Default)]
struct CloseSignal {
    closed: AtomicBool,
    wake: Notify,
}

/// The handles' end: cheap to share (`Messenger` keeps it in an `Arc`).
pub(crate) struct CommandSender {
    tx: mpsc::Sender<Command>,
    close: Arc<CloseSignal>,
}

/// The task's end.
pub(crate) struct CommandReceiver {
    rx: mpsc::Receiver<Command>,
    close: Arc<CloseSignal>,
    /// Commands that arrived after `close()`: kept unanswered until the task ends, so their
    /// callers see the messenger closed rather than a drop.
    parked: Vec<Command>,
}

/// A command channel holding up to `capacity` requests (at least 1).
pub(crate) fn channel(capacity: usize) -> (CommandSender, CommandReceiver) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let close = Arc::new(CloseSignal::default());
    (
        CommandSender {
            tx,
            close: close.clone(),
        },
        CommandReceiver {
            rx,
            close,
            parked: Vec::new(),
        },
    )
}

impl CommandSender {
    /// Queues a command, waiting while the channel is full; `Err` when the task has ended.
    pub async fn send(&self, command: Command) -> std::result::Result<(), Command> {
        self.tx.send(command).await.map_err(|e| e.0)
    }

    /// Asks the task to close; requests queued behind the call are not sent.
    pub fn close(&self) {
        self.close.closed.store(true, Ordering::SeqCst);
        self.close.wake.notify_one();
    }
}

impl CommandReceiver {
    /// The next command; `None` once the messenger is closed or every handle is dropped.
    ///
    /// Cancel safe: a command is only taken from the channel when it is returned.
    pub async fn recv(&mut self) -> Option<Command> {
        if !self.is_closed() {
            tokio::select! {
                biased;
                _ = self.close.wake.notified() => {}
                command = self.rx.recv() => match command {
                    Some(command) if !self.is_closed() => return Some(command),
                    Some(command) => self.parked.push(command),
                    None => return None,
                },
            }
        }
        // Later sends fail at once; queued ones stay unanswered until the task ends.
        self.rx.close();
        None
    }

    /// A command already waiting in the channel, without waiting; `None` when there is none
    /// (or the messenger is closed: [`CommandReceiver::recv`] reports that).
    pub fn try_recv(&mut self) -> Option<Command> {
        if self.is_closed() {
            return None;
        }
        self.rx.try_recv().ok()
    }

    fn is_closed(&self) -> bool {
        self.close.closed.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chatwire_protocol::{Request, UserRef};

    use super::*;

    fn request(deadline: Instant) -> (Command, oneshot::Receiver<Result<Vec<ServerFrame>>>) {
        let (reply, rx) = oneshot::channel();
        let request = Request::GetUser(UserRef::Name("a@b.c".into()));
        (
            Command::Request {
                request,
                reply,
                deadline,
                key: None,
                id: RequestId::new(),
            },
            rx,
        )
    }

    #[tokio::test]
    async fn a_full_channel_makes_the_sender_wait() {
        let (tx, mut rx) = channel(1);
        let later = Instant::now() + Duration::from_secs(60);
        let (first, _a) = request(later);
        let (second, _b) = request(later);
        tx.send(first).await.ok().unwrap();
        let blocked = tokio::time::timeout(Duration::from_millis(50), tx.send(second)).await;
        assert!(blocked.is_err(), "the second send waits for room");
        assert!(rx.recv().await.is_some());
        let (third, _c) = request(later);
        tx.send(third).await.ok().unwrap();
    }

    #[tokio::test]
    async fn close_wins_over_queued_requests() {
        let (tx, mut rx) = channel(4);
        let (command, mut reply) = request(Instant::now() + Duration::from_secs(60));
        tx.close();
        tx.send(command).await.ok().unwrap();
        assert!(rx.recv().await.is_none());
        assert!(rx.recv().await.is_none(), "stays closed");
        // Unanswered, but kept until the task ends.
        assert!(reply.try_recv().is_err());
        drop(rx);
        assert!(matches!(
            reply.try_recv(),
            Err(oneshot::error::TryRecvError::Closed)
        ));
    }

    #[tokio::test]
    async fn dropping_every_sender_ends_the_stream() {
        let (tx, mut rx) = channel(4);
        drop(tx);
        assert!(rx.recv().await.is_none());
    }
}
