//! Client-side limits per provider: requests per minute and tokens per
//! minute, as token buckets, plus whatever quota the provider itself said
//! is exhausted (`x-ratelimit-remaining-* = 0` until its reset).
//!
//! Pure: every method takes the time. A bucket holds at most ten seconds'
//! worth, so a fresh worker does not fire a whole minute's quota at once.
//! Tokens are debited with an estimate when a call starts and corrected
//! with the real usage when it ends.

use std::time::Duration;

use tokio::time::Instant;

use crate::providers::http::headers::RateLimits;

/// Share of a minute's quota a bucket can hold.
const BURST_SECONDS: f64 = 10.0;

#[derive(Debug, Clone)]
struct Bucket {
    capacity: f64,
    per_sec: f64,
    level: f64,
    at: Instant,
}

impl Bucket {
    fn per_minute(limit: u32, now: Instant) -> Self {
        let per_sec = f64::from(limit) / 60.0;
        let capacity = (per_sec * BURST_SECONDS).max(1.0);
        Bucket {
            capacity,
            per_sec,
            level: capacity,
            at: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.level = (self.level + elapsed * self.per_sec).min(self.capacity);
        self.at = now;
    }

    /// When `amount` can be taken. A request larger than the bucket waits
    /// for a full bucket and then runs into debt, rather than never.
    fn ready_at(&mut self, now: Instant, amount: f64) -> Option<Instant> {
        self.refill(now);
        let need = amount.min(self.capacity);
        (self.level < need)
            .then(|| now + Duration::from_secs_f64((need - self.level) / self.per_sec))
    }
}

#[derive(Debug, Clone)]
pub struct Limiter {
    requests: Option<Bucket>,
    tokens: Option<Bucket>,
    blocked_until: Option<Instant>,
}

impl Limiter {
    pub fn new(requests_per_min: Option<u32>, tokens_per_min: Option<u32>, now: Instant) -> Self {
        Limiter {
            requests: requests_per_min.map(|l| Bucket::per_minute(l, now)),
            tokens: tokens_per_min.map(|l| Bucket::per_minute(l, now)),
            blocked_until: None,
        }
    }

    /// Takes one request and `tokens` now, or says when that will be possible.
    pub fn try_take(&mut self, now: Instant, tokens: u64) -> Result<(), Instant> {
        let blocked = self.blocked_until.filter(|t| *t > now);
        let requests = self.requests.as_mut().and_then(|b| b.ready_at(now, 1.0));
        let tok = self
            .tokens
            .as_mut()
            .and_then(|b| b.ready_at(now, tokens as f64));
        if let Some(at) = [blocked, requests, tok].into_iter().flatten().max() {
            return Err(at);
        }
        if let Some(b) = &mut self.requests {
            b.level -= 1.0;
        }
        if let Some(b) = &mut self.tokens {
            b.level -= tokens as f64;
        }
        Ok(())
    }

    /// Corrects the token debit once the real usage is known.
    pub fn settle(&mut self, estimated: u64, actual: u64) {
        if let Some(b) = &mut self.tokens {
            b.level = (b.level + estimated as f64 - actual as f64).min(b.capacity);
        }
    }

    /// What the provider said about its own quota.
    pub fn observe(&mut self, now: Instant, limits: &RateLimits) {
        if let Some(wait) = limits.exhausted_for() {
            self.block(now + wait);
        }
    }

    /// No call before `until` (a `Retry-After`, an exhausted quota).
    pub fn block(&mut self, until: Instant) {
        self.blocked_until = Some(self.blocked_until.map_or(until, |t| t.max(until)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn requests_per_minute() {
        let t = Instant::now();
        // 60/min: a burst of 10, then one a second.
        let mut l = Limiter::new(Some(60), None, t);
        for _ in 0..10 {
            l.try_take(t, 0).unwrap();
        }
        assert_eq!(l.try_take(t, 0), Err(t + S));
        l.try_take(t + S, 0).unwrap();
        assert!(l.try_take(t + S, 0).is_err());
    }

    #[test]
    fn tokens_per_minute_with_settlement() {
        let t = Instant::now();
        // 6000/min: 1000 in the bucket, 100 a second.
        let mut l = Limiter::new(None, Some(6000), t);
        l.try_take(t, 800).unwrap();
        assert_eq!(l.try_take(t, 800), Err(t + 6 * S));
        // The call used only 200: 600 come back.
        l.settle(800, 200);
        l.try_take(t, 800).unwrap();
        // Larger than the bucket: waits for a full bucket, then runs.
        let mut l = Limiter::new(None, Some(6000), t);
        l.try_take(t, 5000).unwrap();
        assert_eq!(l.try_take(t, 5000), Err(t + 50 * S));
    }

    #[test]
    fn provider_reported_exhaustion_blocks() {
        let t = Instant::now();
        let mut l = Limiter::new(None, None, t);
        l.try_take(t, 10).unwrap();
        l.observe(
            t,
            &RateLimits {
                requests_remaining: Some(0),
                requests_reset: Some(3 * S),
                ..Default::default()
            },
        );
        assert_eq!(l.try_take(t + S, 10), Err(t + 3 * S));
        l.try_take(t + 3 * S, 10).unwrap();
    }
}
