//! Pacing: the connection task sends its requests (the application's calls and its own
//! catch-up requests alike) no faster than the server's per-connection rate limits.
//!
//! The server counts messaging requests over a rolling second and a rolling minute (20 and 600
//! by default) and refuses the excess with 32/33. The pacer keeps the send times of the last
//! minute and says when the next request may go. It stays a little under each limit (a margin
//! for the time a frame spends on the network, which can bunch requests up on arrival); a
//! refusal that happens anyway is retried, never reported as data loss.

use std::collections::VecDeque;
use std::time::Duration;

use chatwire_protocol::AdvertisedLimits;
use tokio::time::Instant;

/// Extra length added to each window, for network jitter between our clock and the server's.
const WINDOW_MARGIN: Duration = Duration::from_millis(60);

/// Sends per rolling window, from the server's limits.
#[derive(Debug)]
pub(crate) struct Pacer {
    /// (window, requests allowed in it); a limit of 0 (off) is left out.
    windows: Vec<(Duration, usize)>,
    /// Send times within the longest window, oldest first.
    sent: VecDeque<Instant>,
}

impl Pacer {
    /// A pacer for these limits (the specification's defaults when the server advertised none).
    pub fn new(limits: AdvertisedLimits) -> Pacer {
        let mut windows = Vec::new();
        if limits.requests_per_second > 0 {
            windows.push((
                Duration::from_secs(1) + WINDOW_MARGIN,
                budget(limits.requests_per_second, 1),
            ));
        }
        if limits.requests_per_minute > 0 {
            windows.push((
                Duration::from_secs(60) + WINDOW_MARGIN,
                budget(limits.requests_per_minute, 10),
            ));
        }
        Pacer {
            windows,
            sent: VecDeque::new(),
        }
    }

    /// The earliest time the next request may be sent (`now` or later).
    pub fn next_at(&mut self, now: Instant) -> Instant {
        let longest = self.windows.iter().map(|w| w.0).max().unwrap_or_default();
        while self
            .sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= longest)
        {
            self.sent.pop_front();
        }
        let mut at = now;
        for &(window, allowed) in &self.windows {
            let in_window = self
                .sent
                .iter()
                .rev()
                .take_while(|t| now.duration_since(**t) < window)
                .count();
            if in_window >= allowed {
                // The oldest send that keeps the window full must leave it first.
                let oldest = self.sent[self.sent.len() - allowed];
                at = at.max(oldest + window);
            }
        }
        at
    }

    /// Records a send at `now`.
    pub fn sent(&mut self, now: Instant) {
        self.sent.push_back(now);
    }
}

/// Requests allowed per window: the limit less a small margin, at least 1.
fn budget(limit: u32, margin: u32) -> usize {
    limit.saturating_sub(margin).max(1) as usize
}

/// The delay before retry number `attempt` (1-based) of a refused or unanswered request:
/// 250 ms doubling up to 8 s, with up to 25 % random reduction.
pub(crate) fn retry_delay(attempt: u32) -> Duration {
    let base = Duration::from_millis(250).saturating_mul(1 << attempt.saturating_sub(1).min(5));
    let base = base.min(Duration::from_secs(8));
    base.mul_f64(1.0 - rand::random::<f64>() * 0.25)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_second: u32, per_minute: u32) -> AdvertisedLimits {
        AdvertisedLimits::new(per_second, per_minute, 1024, 65536)
    }

    /// Sends `n` requests as fast as the pacer allows; returns the send times.
    fn run(pacer: &mut Pacer, start: Instant, n: usize) -> Vec<Instant> {
        let mut now = start;
        let mut times = Vec::new();
        for _ in 0..n {
            now = pacer.next_at(now);
            pacer.sent(now);
            times.push(now);
        }
        times
    }

    fn max_in_window(times: &[Instant], window: Duration) -> usize {
        (0..times.len())
            .map(|i| {
                times[i..]
                    .iter()
                    .take_while(|t| t.duration_since(times[i]) < window)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn a_burst_stays_under_both_rolling_windows() {
        let mut pacer = Pacer::new(limits(20, 600));
        let start = Instant::now();
        let times = run(&mut pacer, start, 700);
        assert!(max_in_window(&times, Duration::from_secs(1)) <= 19);
        assert!(max_in_window(&times, Duration::from_secs(60)) <= 590);
        // The first 19 go at once; the 700th waits for the minute window.
        assert_eq!(times[18], start);
        assert!(times[19] > start);
        assert!(times[699].duration_since(start) >= Duration::from_secs(60));
    }

    #[test]
    fn limits_that_are_off_do_not_pace() {
        let mut pacer = Pacer::new(limits(0, 0));
        let start = Instant::now();
        let times = run(&mut pacer, start, 1000);
        assert!(times.iter().all(|t| *t == start));
    }

    #[test]
    fn tiny_limits_still_let_one_request_through() {
        let mut pacer = Pacer::new(limits(1, 1));
        let start = Instant::now();
        let times = run(&mut pacer, start, 3);
        assert_eq!(times[0], start);
        assert!(times[1].duration_since(start) >= Duration::from_secs(60));
    }

    #[test]
    fn retry_delays_grow_and_are_capped() {
        assert!(retry_delay(1) <= Duration::from_millis(250));
        assert!(retry_delay(1) >= Duration::from_millis(187));
        assert!(retry_delay(3) >= Duration::from_millis(750));
        assert!(retry_delay(30) <= Duration::from_secs(8));
    }
}
