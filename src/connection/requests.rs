//! Sending requests: every request (the application's calls and the task's own catch-up) waits
//! for the [`Pacer`](super::pacer::Pacer) in one queue, is written with a fresh `request_uuid`
//! and kept in [`Pending`](super::pending::Pending) until answered; refusals that pass (rate
//! limits, a store briefly unavailable) and missing answers are sent again with backoff.

use chatwire_protocol::{ErrorCode, MessagingFrame, Request, RetransmitEvents, ServerFrame};
use tokio::time::Instant;

use super::pacer::retry_delay;
use super::pending::{Expect, Internal, Origin, Sent};
use super::{Outgoing, Task, MAX_INTERNAL_IN_FLIGHT, MAX_UNEXPECTED_RETRIES};
use crate::error::{Error, Result};

impl Task {
    /// Queues a request behind the pacer.
    pub(super) fn send_request(&mut self, request: Request, origin: Origin) {
        self.send_call(request, origin, None);
    }

    /// [`Task::send_request`] with the `request_uuid` an application's call chose.
    pub(super) fn send_call(&mut self, request: Request, origin: Origin, id: Option<String>) {
        self.paced.push_back(Sent {
            request,
            origin,
            key: None,
            attempt: 0,
            id,
        });
    }

    /// Writes the requests the pacer lets through (due retries first); returns when the task
    /// must wake up next: for the pacer, a retry, or an unanswered request of its own.
    pub(super) fn release(&mut self) -> Option<Instant> {
        let now = Instant::now();
        for sent in self
            .pending
            .take_expired_internal(now - self.config.request_timeout)
        {
            tracing::debug!(action = %sent.request.action(), "no answer in time; sending again");
            self.retry_later(sent);
        }
        let (mut due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.retries)
            .into_iter()
            .partition(|(at, _)| *at <= now);
        self.retries = later;
        // Retries go before newer requests, oldest first.
        due.sort_by_key(|(at, _)| *at);
        for (_, sent) in due.into_iter().rev() {
            self.paced.push_front(sent);
        }
        let mut wake = None;
        while let Some(front) = self.paced.front() {
            if matches!(&front.origin, Origin::User(reply) if reply.is_closed()) {
                self.paced.pop_front();
                continue;
            }
            let at = self.pacer.next_at(now);
            if at > now {
                wake = Some(at);
                break;
            }
            let sent = self.paced.pop_front().expect("checked");
            self.pacer.sent(now);
            self.write_request(sent, now);
        }
        let retry = self.retries.iter().map(|(at, _)| *at).min();
        let expiry = self
            .pending
            .oldest_internal()
            .map(|at| at + self.config.request_timeout);
        let change_timeout = self.outbox_timeouts(now);
        [wake, retry, expiry, change_timeout]
            .into_iter()
            .flatten()
            .min()
    }

    fn write_request(&mut self, sent: Sent, now: Instant) {
        let id = sent
            .id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let expect = match &sent.request {
            Request::GetUsers(r) => Expect::Items(r.users.len()),
            Request::GetConversations(r) => Expect::Items(r.uuid.len()),
            Request::RetransmitEvents(_) => Expect::Retransmit,
            _ => Expect::One,
        };
        if let Origin::Outbox(entry) = sent.origin {
            self.change_sent(entry, now);
        }
        self.to_write.push(Outgoing {
            text: MessagingFrame::encode_request_with_key(&sent.request, &id, sent.key.as_deref()),
            request: matches!(sent.origin, Origin::User(_)).then(|| id.clone()),
        });
        self.pending.insert(id, expect, sent, now);
    }

    /// Sends `sent` again after a growing delay.
    pub(super) fn retry_later(&mut self, mut sent: Sent) {
        sent.attempt += 1;
        let at = Instant::now() + retry_delay(sent.attempt);
        self.retries.push((at, sent));
    }

    /// Whether a refused request should be sent again rather than answered with the error.
    pub(super) fn should_retry(&self, sent: &Sent, result: &Result<Vec<ServerFrame>>) -> bool {
        let Err(Error::Server { code, .. }) = result else {
            return false;
        };
        let passing = matches!(
            code,
            ErrorCode::RateLimitSecond | ErrorCode::RateLimitMinute
        );
        match &sent.origin {
            Origin::User(reply) => passing && self.config.retry_rate_limited && !reply.is_closed(),
            // Nothing was carried out: the change stays the SDK's to deliver.
            Origin::Outbox(_) => passing || *code == ErrorCode::Unavailable,
            Origin::Internal(_) => match code {
                _ if passing || *code == ErrorCode::Unavailable => true,
                // What the server can never provide: handled by the caller (removed, gap).
                ErrorCode::ConversationNotFound
                | ErrorCode::ConversationDeleted
                | ErrorCode::NotParticipant
                | ErrorCode::SeqBeyondLast => false,
                _ => sent.attempt < MAX_UNEXPECTED_RETRIES,
            },
        }
    }

    /// Moves catch-up requests and gap fills into the outbox, within the in-flight budget.
    pub(super) fn pump(&mut self) {
        while self.internal_in_flight < MAX_INTERNAL_IN_FLIGHT {
            if let Some((request, internal)) = self.internal.pop_front() {
                self.internal_in_flight += 1;
                self.send_request(request, Origin::Internal(internal));
                continue;
            }
            if self.catchup_pages > 0 {
                // The catch-up pages cover the gaps; fill what is left after them.
                return;
            }
            let Some(sync) = self.sync.as_mut() else {
                return;
            };
            let wanted = sync.wanted(MAX_INTERNAL_IN_FLIGHT - self.internal_in_flight);
            if wanted.is_empty() {
                return;
            }
            for (conversation, from, to) in wanted {
                self.internal_in_flight += 1;
                let request = Request::RetransmitEvents(RetransmitEvents {
                    conversation: conversation.to_string(),
                    events_from: Some(from as i64),
                    events_to: Some(to as i64),
                    count: None,
                });
                self.send_request(
                    request,
                    Origin::Internal(Internal::Fill {
                        conversation,
                        from,
                        to,
                    }),
                );
            }
        }
    }
}
