//! One worker's gate in front of one provider, in virtual time: the
//! worker's own circuit breaker and backoff (`worker::breaker`,
//! `worker::retry`), applied the way its provider pool applies them, so a
//! failing provider is avoided in the benchmark as it is in the fleet.

use std::time::Duration;

use tokio::time::Instant;
use worker::breaker::{Admission, Breaker, Policy};
use worker::providers::LlmError;
use worker::retry::Backoff;

pub struct Gate {
    breaker: Breaker,
    backoff: Backoff,
}

impl Default for Gate {
    fn default() -> Self {
        Gate {
            breaker: Breaker::new(Policy::default()),
            backoff: Backoff::default(),
        }
    }
}

impl Gate {
    /// Admits a call now, or says when to try again.
    pub fn admit(&mut self, now: Instant) -> Result<Admission, Instant> {
        let backoff = self.backoff.wait_until(now);
        if let Some(t) = self.breaker.reopens_at().filter(|t| *t > now) {
            return Err(backoff.map_or(t, |b| b.max(t)));
        }
        if let Some(t) = backoff {
            return Err(t);
        }
        // Only a probe already out refuses here; it ends within a call.
        self.breaker
            .admit(now)
            .ok_or(now + Duration::from_millis(500))
    }

    /// Records how a call ended; `unit` is a uniform draw for the jitter.
    pub fn record(
        &mut self,
        result: Result<(), &LlmError>,
        admission: Admission,
        now: Instant,
        unit: f64,
    ) {
        let error = match result {
            Ok(()) => {
                self.breaker.on_success();
                self.backoff.on_success();
                return;
            }
            Err(e) => e,
        };
        if error.is_unhealthy() {
            self.breaker.on_failure(now);
        } else if admission == Admission::Probe {
            self.breaker.on_neutral();
        }
        self.backoff.on_failure(now, error.retry_after(), unit);
    }

    pub fn healthy(&mut self, now: Instant) -> bool {
        self.breaker.healthy(now)
    }
}
