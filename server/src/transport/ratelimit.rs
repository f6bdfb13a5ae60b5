//! Per-connection request rate limit: N per rolling second and M per rolling minute.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use chatwire_protocol::ErrorCode;

/// Timestamps of the counted requests of the last minute.
pub(crate) struct RateLimit {
    per_second: u32,
    per_minute: u32,
    recent: VecDeque<Instant>,
}

impl RateLimit {
    pub fn new(per_second: u32, per_minute: u32) -> Self {
        RateLimit {
            per_second,
            per_minute,
            recent: VecDeque::new(),
        }
    }

    /// Counts a request, or refuses it with 32/33 (refused requests do not count).
    pub fn check(&mut self, now: Instant) -> Result<(), ErrorCode> {
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60))
        {
            self.recent.pop_front();
        }
        if self.per_second > 0 {
            let last_second = self
                .recent
                .iter()
                .rev()
                .take_while(|t| now.duration_since(**t) < Duration::from_secs(1))
                .count();
            if last_second >= self.per_second as usize {
                return Err(ErrorCode::RateLimitSecond);
            }
        }
        if self.per_minute > 0 && self.recent.len() >= self.per_minute as usize {
            return Err(ErrorCode::RateLimitMinute);
        }
        if self.per_second > 0 || self.per_minute > 0 {
            self.recent.push_back(now);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_the_21st_request_in_a_second_and_recovers() {
        let mut rl = RateLimit::new(20, 600);
        let t0 = Instant::now();
        for _ in 0..20 {
            assert_eq!(rl.check(t0), Ok(()));
        }
        assert_eq!(rl.check(t0), Err(ErrorCode::RateLimitSecond));
        assert_eq!(rl.check(t0 + Duration::from_millis(1000)), Ok(()));
    }

    #[test]
    fn refuses_past_the_minute_limit() {
        let mut rl = RateLimit::new(20, 30);
        let t0 = Instant::now();
        for i in 0..30 {
            assert_eq!(rl.check(t0 + Duration::from_millis(100 * i)), Ok(()));
        }
        assert_eq!(
            rl.check(t0 + Duration::from_secs(10)),
            Err(ErrorCode::RateLimitMinute)
        );
        assert_eq!(rl.check(t0 + Duration::from_secs(61)), Ok(()));
    }
}
