//! The gate in front of one provider: its circuit breaker and its backoff,
//! applied together. Pure (the time is an argument), so the worker's
//! provider pool (`providers/entry.rs`) and the yield benchmark's simulated
//! fleet avoid a failing provider by the same rule.

use std::time::Duration;

use tokio::time::Instant;

use super::backoff::Backoff;
use super::breaker::{Admission, Breaker, Policy};
use crate::providers::error::LlmError;

/// How long a misconfigured provider rests before it is probed again: long
/// enough not to hammer a refused key, short enough that a fixed one
/// recovers overnight without a restart.
pub const MISCONFIGURED_COOLDOWN: Duration = Duration::from_secs(600);

/// What a failed call did to the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failed {
    /// The provider refuses its configuration (a bad key): the breaker
    /// rests for [`MISCONFIGURED_COOLDOWN`].
    Misconfigured,
    /// The next call waits this long at least.
    Backoff(Duration),
}

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
    /// Admits a call now (a normal call or the half-open probe), or says
    /// until when not: `Err(None)` while the probe already out decides.
    pub fn admit(&mut self, now: Instant) -> Result<Admission, Option<Instant>> {
        let backoff = self.backoff.wait_until(now);
        if let Some(t) = self.breaker.reopens_at().filter(|t| *t > now) {
            return Err(Some(backoff.map_or(t, |b| b.max(t))));
        }
        if let Some(t) = backoff {
            return Err(Some(t));
        }
        self.breaker
            .admit(now)
            .ok_or_else(|| self.breaker.reopens_at())
    }

    pub fn on_success(&mut self) {
        self.breaker.on_success();
        self.backoff.on_success();
    }

    /// Records a failed call; `unit` is a uniform draw for the jitter.
    pub fn on_failure(
        &mut self,
        error: &LlmError,
        admission: Admission,
        now: Instant,
        unit: f64,
    ) -> Failed {
        if error.is_misconfiguration() {
            self.breaker.trip(now, MISCONFIGURED_COOLDOWN);
            return Failed::Misconfigured;
        }
        if error.is_unhealthy() {
            self.breaker.on_failure(now);
        } else if admission == Admission::Probe {
            self.breaker.on_neutral();
        }
        Failed::Backoff(self.backoff.on_failure(now, error.retry_after(), unit))
    }

    /// An admitted call that never reached the provider: a probe goes back.
    pub fn on_unused(&mut self, admission: Admission) {
        if admission == Admission::Probe {
            self.breaker.on_neutral();
        }
    }

    pub fn healthy(&mut self, now: Instant) -> bool {
        self.breaker.healthy(now)
    }

    pub fn reopens_at(&self) -> Option<Instant> {
        self.breaker.reopens_at()
    }

    pub fn state_name(&mut self, now: Instant) -> &'static str {
        self.breaker.state_name(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_close_the_gate_until_their_time() {
        let now = Instant::now();
        let mut gate = Gate::default();
        assert_eq!(gate.admit(now), Ok(Admission::Call));
        gate.on_success();

        // A server error: a backoff, the call after it waits.
        let server = LlmError::Server {
            status: 500,
            message: "boom".into(),
            retry_after: None,
        };
        let Failed::Backoff(wait) = gate.on_failure(&server, Admission::Call, now, 0.5) else {
            panic!("a server error backs off");
        };
        assert!(wait > Duration::ZERO);
        assert_eq!(gate.admit(now), Err(Some(now + wait)));
        assert!(gate.admit(now + wait).is_ok());
        gate.on_success();

        // A refused key rests the provider for the cooldown.
        let refused = LlmError::Rejected {
            status: 401,
            message: "bad key".into(),
        };
        assert_eq!(
            gate.on_failure(&refused, Admission::Call, now, 0.5),
            Failed::Misconfigured
        );
        assert!(!gate.healthy(now));
        assert_eq!(
            gate.admit(now + Duration::from_secs(1)),
            Err(Some(now + MISCONFIGURED_COOLDOWN))
        );
        // After it, one probe; a second caller waits for its answer.
        let later = now + MISCONFIGURED_COOLDOWN;
        assert_eq!(gate.admit(later), Ok(Admission::Probe));
        assert_eq!(gate.admit(later), Err(None));
        gate.on_unused(Admission::Probe);
        assert_eq!(gate.admit(later), Ok(Admission::Probe));
    }
}
