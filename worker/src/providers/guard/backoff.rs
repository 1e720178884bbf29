//! When to call a provider again after it failed: exponential backoff with
//! jitter, and never before the provider's own `Retry-After`.
//!
//! Pure: the caller passes the time and a uniform draw for the jitter. The
//! backoff belongs to the provider, not to one call: while it runs, every
//! slot of the worker picks another provider or waits.

use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    consecutive: u32,
    not_before: Option<Instant>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(Duration::from_millis(200), Duration::from_secs(30))
    }
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Self {
        Backoff {
            base,
            max,
            consecutive: 0,
            not_before: None,
        }
    }

    /// Records a failure and returns the wait before the next call: half of
    /// `base · 2^(n-1)` (capped) plus a random share of the other half, or
    /// the provider's `retry_after` plus up to 20% when it gave one, so a
    /// fleet told "retry in 2 s" does not return in the same millisecond.
    pub fn on_failure(
        &mut self,
        now: Instant,
        retry_after: Option<Duration>,
        unit: f64,
    ) -> Duration {
        self.consecutive = self.consecutive.saturating_add(1);
        let unit = unit.clamp(0.0, 1.0);
        let wait = match retry_after {
            Some(after) => after + after.mul_f64(0.2 * unit),
            None => {
                let exp = self
                    .base
                    .saturating_mul(1u32 << (self.consecutive - 1).min(20))
                    .min(self.max);
                exp / 2 + (exp / 2).mul_f64(unit)
            }
        };
        let until = now + wait;
        self.not_before = Some(self.not_before.map_or(until, |t| t.max(until)));
        wait
    }

    pub fn on_success(&mut self) {
        self.consecutive = 0;
        self.not_before = None;
    }

    /// The earliest next call, when later than `now`.
    pub fn wait_until(&self, now: Instant) -> Option<Instant> {
        self.not_before.filter(|t| *t > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn grows_exponentially_within_jitter_and_cap() {
        let t = Instant::now();
        let mut b = Backoff::new(100 * MS, 1000 * MS);
        for (n, exp) in [100u32, 200, 400, 800, 1000, 1000].into_iter().enumerate() {
            let low = b.clone().on_failure(t, None, 0.0);
            let high = b.clone().on_failure(t, None, 1.0);
            assert_eq!((low, high), (exp / 2 * MS, exp * MS), "failure {}", n + 1);
            b.on_failure(t, None, 0.5);
        }
        b.on_success();
        assert_eq!(b.wait_until(t), None);
        assert_eq!(b.on_failure(t, None, 1.0), 100 * MS);
    }

    #[test]
    fn honours_retry_after() {
        let t = Instant::now();
        let mut b = Backoff::default();
        let wait = b.on_failure(t, Some(Duration::from_secs(2)), 0.5);
        assert_eq!(wait, 2200 * MS);
        assert_eq!(b.wait_until(t), Some(t + wait));
        // A shorter backoff from another slot does not shorten it.
        b.on_failure(t, None, 0.0);
        assert_eq!(b.wait_until(t), Some(t + wait));
        assert_eq!(b.wait_until(t + wait), None);
    }
}
