//! [`ReconnectPolicy`]: when to try again after the connection drops.

use std::time::Duration;

/// How the SDK reconnects after the connection drops.
///
/// The first retry happens at once; retry `n >= 2` waits
/// `min(max_delay, initial_delay * multiplier^(n-2))`, reduced by a random jitter of up to
/// `jitter` (a fraction) so that many clients do not reconnect in lockstep.
///
/// Build one with [`ReconnectPolicy::new`] (or `default()`) and the setters; the fields can be
/// read but not set directly (the struct is `#[non_exhaustive]`, so new options can be added).
///
/// | option | default |
/// |---|---|
/// | [`initial_delay`](ReconnectPolicy::initial_delay) | 500 ms |
/// | [`max_delay`](ReconnectPolicy::max_delay) | 30 s |
/// | [`multiplier`](ReconnectPolicy::multiplier) | 2.0 |
/// | [`jitter`](ReconnectPolicy::jitter) | 0.5 |
/// | [`max_attempts`](ReconnectPolicy::max_attempts) | never give up |
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use chatwire::ReconnectPolicy;
/// let p = ReconnectPolicy::default();
/// assert_eq!(p.delay_with(1, 0.0), Duration::ZERO);
/// assert_eq!(p.delay_with(2, 0.0), Duration::from_millis(500));
/// assert_eq!(p.delay_with(3, 0.0), Duration::from_secs(1));
/// assert_eq!(p.delay_with(30, 0.0), Duration::from_secs(30));
/// assert_eq!(p.delay_with(2, 1.0), Duration::from_millis(250));
///
/// let quick = ReconnectPolicy::new()
///     .initial_delay(Duration::from_millis(100))
///     .max_delay(Duration::from_secs(5))
///     .max_attempts(20);
/// assert_eq!(quick.initial_delay, Duration::from_millis(100));
/// assert_eq!(quick.max_attempts, Some(20));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ReconnectPolicy {
    /// Delay before the second retry (default 500 ms).
    pub initial_delay: Duration,
    /// Upper bound of any delay (default 30 s).
    pub max_delay: Duration,
    /// Growth factor per retry (default 2).
    pub multiplier: f64,
    /// Random reduction of each delay, as a fraction in `0.0..=1.0` (default 0.5).
    pub jitter: f64,
    /// Give up after this many consecutive failed attempts (default: never).
    pub max_attempts: Option<u32>,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        ReconnectPolicy {
            initial_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            multiplier: 2.0,
            jitter: 0.5,
            max_attempts: None,
        }
    }
}

impl ReconnectPolicy {
    /// The default policy (see the table on [`ReconnectPolicy`]); the same as `default()`.
    ///
    /// # Examples
    /// ```
    /// use chatwire::ReconnectPolicy;
    /// assert_eq!(ReconnectPolicy::new(), ReconnectPolicy::default());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Never reconnect: the messenger closes when the connection drops.
    ///
    /// # Examples
    /// ```
    /// use chatwire::ReconnectPolicy;
    /// assert_eq!(ReconnectPolicy::never().max_attempts, Some(0));
    /// ```
    pub fn never() -> Self {
        ReconnectPolicy {
            max_attempts: Some(0),
            ..Self::default()
        }
    }

    /// Sets the delay before the second retry (default 500 ms).
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use chatwire::ReconnectPolicy;
    /// let policy = ReconnectPolicy::new().initial_delay(Duration::from_secs(1));
    /// assert_eq!(policy.delay_with(2, 0.0), Duration::from_secs(1));
    /// ```
    pub fn initial_delay(mut self, delay: Duration) -> Self {
        self.initial_delay = delay;
        self
    }

    /// Sets the upper bound of any delay (default 30 s).
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use chatwire::ReconnectPolicy;
    /// let policy = ReconnectPolicy::new().max_delay(Duration::from_secs(2));
    /// assert_eq!(policy.delay_with(10, 0.0), Duration::from_secs(2));
    /// ```
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// Sets the growth factor per retry (default 2.0; values below 1 mean no growth).
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use chatwire::ReconnectPolicy;
    /// let policy = ReconnectPolicy::new().multiplier(3.0);
    /// assert_eq!(policy.delay_with(3, 0.0), Duration::from_millis(1500));
    /// ```
    pub fn multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = multiplier;
        self
    }

    /// Sets the random reduction of each delay, a fraction in `0.0..=1.0` (default 0.5;
    /// `0.0` makes the delays exact).
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use chatwire::ReconnectPolicy;
    /// let steady = ReconnectPolicy::new().jitter(0.0);
    /// assert_eq!(steady.delay(2), Duration::from_millis(500));
    /// ```
    pub fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter;
        self
    }

    /// Gives up after `attempts` consecutive failed attempts (default: never give up).
    ///
    /// # Examples
    /// ```
    /// use chatwire::ReconnectPolicy;
    /// let policy = ReconnectPolicy::default().max_attempts(10);
    /// assert_eq!(policy.max_attempts, Some(10));
    /// ```
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts);
        self
    }

    /// The delay before retry `attempt` (1-based) with a random jitter.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use chatwire::ReconnectPolicy;
    /// let policy = ReconnectPolicy::default();
    /// assert_eq!(policy.delay(1), Duration::ZERO);
    /// // 1 s for the third attempt, less up to half of it as jitter.
    /// let third = policy.delay(3);
    /// assert!(third >= Duration::from_millis(500) && third <= Duration::from_secs(1));
    /// ```
    pub fn delay(&self, attempt: u32) -> Duration {
        self.delay_with(attempt, rand::random::<f64>())
    }

    /// The delay before retry `attempt` for a given random value in `0.0..=1.0`.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use chatwire::ReconnectPolicy;
    /// let steady = ReconnectPolicy::default().jitter(0.0);
    /// assert_eq!(steady.delay_with(4, 0.9), Duration::from_secs(2));
    /// ```
    pub fn delay_with(&self, attempt: u32, random: f64) -> Duration {
        if attempt <= 1 {
            return Duration::ZERO;
        }
        let exp = self.multiplier.max(1.0).powi((attempt - 2).min(64) as i32);
        let base = self.initial_delay.as_secs_f64() * exp;
        let capped = base.min(self.max_delay.as_secs_f64());
        let factor = 1.0 - self.jitter.clamp(0.0, 1.0) * random.clamp(0.0, 1.0);
        Duration::from_secs_f64(capped * factor)
    }
}
