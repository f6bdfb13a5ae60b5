//! Committing an outbox: its writes go to the store as one batch; once they are durable (or
//! failed, or stale), its frames are released in commit order by [`release_loop`], and other
//! nodes are told what was committed.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use chatwire_protocol::ErrorCode;

use super::{error_for, remote, Command, Ctx, Engine, Outbox};
use crate::metrics::Metrics;
use crate::store::{Batch, StoreError, Write};

/// A committed outbox: whether the commit succeeded, and the request that produced it (which
/// gets error 30 if it did not).
pub(super) type Released = (Outbox, bool, Option<Ctx>);

/// Sends the frames of committed outboxes, in commit order. It runs as a task on the server's
/// runtime, so that waking the writer of each receiving connection is a wake within the runtime
/// (one cross-thread wake per outbox instead of one per receiver).
pub(super) async fn release_loop(
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Released>,
    metrics: Arc<Metrics>,
) {
    let mut batch = Vec::new();
    while rx.recv_many(&mut batch, 64).await > 0 {
        for (out, ok, request) in batch.drain(..) {
            if let (false, Some(ctx)) = (ok, &request) {
                metrics.request_error(ctx.action.name(), ErrorCode::Unavailable.code());
                ctx.conn
                    .reply(error_for(ctx, ErrorCode::Unavailable.into()));
            }
            let started = Instant::now();
            out.release(ok);
            metrics.fanout.observe(started.elapsed().as_secs_f64());
        }
    }
}

impl Engine {
    /// Commits the outbox; its frames go out once the writes are durable. If the commit fails,
    /// the caller of `request` (if any) gets error 30 instead.
    pub(super) fn release(&mut self, request: Option<Ctx>) {
        let mut out = std::mem::take(&mut self.out);
        if out.is_empty() {
            return;
        }
        let shared = self.clustered();
        // With other nodes a batch may fail as stale: keep it to tell what was delivered.
        let batch = if shared {
            out.batch.clone()
        } else {
            std::mem::take(&mut out.batch)
        };
        let failed = self.failed.clone();
        let released = self.released.clone();
        let metrics = self.metrics.clone();
        let events = batch
            .writes
            .iter()
            .filter(|w| matches!(w, Write::Event(_)))
            .count() as u64;
        let unlogged = std::mem::take(&mut out.unlogged);
        // Other nodes send the request's events with its request_uuid, as this node does.
        let request_uuid = request.as_ref().and_then(|ctx| ctx.request_uuid.clone());
        let announce = self.bus.as_ref().and_then(|bus| {
            remote::announcement(bus.node, &batch, unlogged).map(|mut a| {
                a.request_uuid = request_uuid;
                (bus.clone(), a)
            })
        });
        let fault = self.fault.clone();
        let (stale, wake, lost) = (self.stale.clone(), self.wake.clone(), self.lost.clone());
        let stale_everywhere = self.stale_everywhere.clone();
        let started = Instant::now();
        self.store.commit(
            batch,
            Box::new(move |result| {
                if let Err(e @ StoreError::Stale(why)) = &result {
                    tracing::debug!(%why, "stale batch: the engine runs it again");
                    metrics.store_commit_stale.inc();
                    if e.stale_everywhere() {
                        stale_everywhere.store(true, Ordering::SeqCst);
                    }
                    if let Ok(mut list) = stale.lock() {
                        list.push((out, request));
                    }
                    let _ = wake.send(Command::Stale);
                    return;
                }
                if shared {
                    if result.is_err() {
                        // Its frames never leave: what it delivered must be delivered again
                        // (from the log) once the node recovers.
                        if let Ok(mut l) = lost.lock() {
                            l.extend(out.positions());
                        }
                    }
                    out.batch = Batch::default();
                }
                if let (Ok(()), Some((bus, announce))) = (&result, announce) {
                    if let (Some(f), false) = (&fault, announce.events.is_empty()) {
                        f.after_commit();
                    }
                    bus.publish(crate::bus::Outgoing::Committed(announce));
                }
                let ok = result.is_ok();
                metrics
                    .store_commit
                    .observe(started.elapsed().as_secs_f64());
                if ok {
                    metrics.events_committed.inc_by(events);
                } else {
                    if !failed.swap(true, Ordering::SeqCst) {
                        tracing::error!(
                            "a store commit failed: changes are refused until a restart"
                        );
                    }
                    metrics.store_commit_failures.inc();
                }
                // Fails only once the runtime is gone: then there is no one to send to.
                let _ = released.send((out, ok, request));
            }),
        );
    }
}
