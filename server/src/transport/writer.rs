//! A connection's writer task: owns the WebSocket sink, drains the connection's bounded
//! outbound queue in batches, and sends the close frame. Frames become WebSocket messages here
//! and nowhere else.

use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures::stream::SplitSink;
use futures::SinkExt;
use tokio::time::Duration;

use crate::metrics::{KindLabel, Metrics};
use crate::outbound::{CloseRequest, ConnShared, Frame, Kind, Outbound};

/// The sending half of the connection's WebSocket.
pub(super) type Sink = SplitSink<WebSocket, Message>;

/// Frames taken off the queue at once (and written with one flush).
const WRITE_BATCH: usize = 256;

/// How long a close (with its drained frames) may take before the socket is dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// A frame as WebSocket text: the text itself when this connection is its only receiver,
/// otherwise a clone of the one `Utf8Bytes` all its receivers share (never a copy each).
fn wire(frame: Frame) -> Utf8Bytes {
    frame.into_wire(Utf8Bytes::from)
}

/// Owns the sink: sends queued frames in batches (one flush per batch) until a close is
/// requested, then sends the close frame. A close request also interrupts a write that is
/// blocked on a full socket (a client that stopped reading). A batch counts against the
/// outbound queue (replies and broadcasts apart) until it is written. Returns the close it
/// sent, if any.
pub(super) async fn write_loop(
    mut sink: Sink,
    mut rx: Outbound,
    shared: Arc<ConnShared>,
    metrics: Arc<Metrics>,
) -> Option<CloseRequest> {
    let mut taken = Vec::with_capacity(16);
    let mut batch = Vec::with_capacity(16);
    let req = loop {
        let n = tokio::select! {
            biased;
            req = shared.closed() => break req,
            n = rx.recv_many(&mut taken, WRITE_BATCH) => n,
        };
        if n == 0 {
            return None;
        }
        let mut replies = 0;
        batch.extend(taken.drain(..).map(|(frame, kind)| {
            replies += usize::from(kind == Kind::Reply);
            wire(frame)
        }));
        let mut next = 0;
        let sent = tokio::select! {
            biased;
            req = shared.closed() => Err(req),
            ok = send_batch(&mut sink, &mut batch, &mut next) => Ok(ok),
        };
        shared.written(replies, n - replies);
        count_deliveries(&metrics, replies, n - replies);
        match sent {
            Ok(true) => batch.clear(),
            Ok(false) => return None,
            Err(req) => {
                // Frames of the interrupted batch not yet written come before the queue's.
                batch.drain(..next);
                break req;
            }
        }
    };
    metrics.closed(req.code);
    finish(&mut sink, batch, &mut rx, req.clone()).await;
    Some(req)
}

fn count_deliveries(metrics: &Metrics, replies: usize, broadcasts: usize) {
    for (kind, n) in [("reply", replies), ("broadcast", broadcasts)] {
        if n > 0 {
            metrics
                .deliveries
                .get_or_create(&KindLabel { kind })
                .inc_by(n as u64);
        }
    }
}

/// Writes `batch[*next..]`, advancing `next`, then flushes.
async fn send_batch(sink: &mut Sink, batch: &mut [Utf8Bytes], next: &mut usize) -> bool {
    while *next < batch.len() {
        let frame = std::mem::take(&mut batch[*next]);
        *next += 1;
        if sink.feed(Message::Text(frame)).await.is_err() {
            return false;
        }
    }
    sink.flush().await.is_ok()
}

/// Sends what is left (if the close asks to drain), then the close frame.
async fn finish(sink: &mut Sink, unsent: Vec<Utf8Bytes>, rx: &mut Outbound, req: CloseRequest) {
    if req.code != 1000 || !req.reason.is_empty() {
        tracing::debug!(code = req.code, reason = %req.reason, "closing");
    }
    let close = async {
        if req.drain {
            let queued = std::iter::from_fn(|| rx.try_recv().ok()).map(|(frame, _)| wire(frame));
            for frame in unsent.into_iter().chain(queued) {
                if sink.feed(Message::Text(frame)).await.is_err() {
                    return;
                }
            }
        }
        let frame = CloseFrame {
            code: req.code,
            reason: Utf8Bytes::from(req.reason),
        };
        let _ = sink.send(Message::Close(Some(frame))).await;
        let _ = sink.close().await;
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, close).await;
}
