//! A circuit breaker per provider: after repeated failures the provider is
//! not called for a cooldown (`open`); then exactly one probe call is let
//! through (`half_open`); its success closes the breaker, its failure opens
//! it again for twice as long (up to a bound).
//!
//! Pure: every method takes the time. A misconfigured provider (a refused
//! key, an unknown model, an exhausted quota) is opened at once for a long
//! cooldown with [`Breaker::trip`], and then probed like any other.

use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    /// Consecutive failures that open the breaker.
    pub failures: u32,
    /// First cooldown; doubled after each failed probe.
    pub cooldown: Duration,
    pub max_cooldown: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            failures: 5,
            cooldown: Duration::from_secs(10),
            max_cooldown: Duration::from_secs(300),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant, cooldown: Duration },
    HalfOpen { probing: bool, cooldown: Duration },
}

/// What [`Breaker::admit`] lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Call,
    /// The one call that decides whether the breaker closes.
    Probe,
}

#[derive(Debug, Clone)]
pub struct Breaker {
    policy: Policy,
    state: State,
}

impl Breaker {
    pub fn new(policy: Policy) -> Self {
        Breaker {
            policy,
            state: State::Closed { failures: 0 },
        }
    }

    /// An open breaker whose cooldown has passed is half open.
    fn settle(&mut self, now: Instant) {
        if let State::Open { until, cooldown } = self.state
            && now >= until
        {
            self.state = State::HalfOpen {
                probing: false,
                cooldown,
            };
        }
    }

    /// `closed`, `open` or `half_open`, as heartbeats report it.
    pub fn state_name(&mut self, now: Instant) -> &'static str {
        self.settle(now);
        match self.state {
            State::Closed { .. } => "closed",
            State::Open { .. } => "open",
            State::HalfOpen { .. } => "half_open",
        }
    }

    /// Whether calls may be made now or soon: not open.
    pub fn healthy(&mut self, now: Instant) -> bool {
        self.settle(now);
        !matches!(self.state, State::Open { .. })
    }

    /// When an open breaker lets its probe through.
    pub fn reopens_at(&self) -> Option<Instant> {
        match self.state {
            State::Open { until, .. } => Some(until),
            _ => None,
        }
    }

    /// Admits a call, or `None` while open or while the probe is out.
    pub fn admit(&mut self, now: Instant) -> Option<Admission> {
        self.settle(now);
        match &mut self.state {
            State::Closed { .. } => Some(Admission::Call),
            State::Open { .. } => None,
            State::HalfOpen { probing: true, .. } => None,
            State::HalfOpen { probing, .. } => {
                *probing = true;
                Some(Admission::Probe)
            }
        }
    }

    pub fn on_success(&mut self) {
        self.state = State::Closed { failures: 0 };
    }

    /// A failure that says the provider is unwell (5xx, timeout, garbage).
    pub fn on_failure(&mut self, now: Instant) {
        self.settle(now);
        match self.state {
            State::Closed { failures } if failures + 1 < self.policy.failures => {
                self.state = State::Closed {
                    failures: failures + 1,
                };
            }
            State::Closed { .. } => self.open(now, self.policy.cooldown),
            State::HalfOpen { cooldown, .. } => {
                self.open(now, (cooldown * 2).min(self.policy.max_cooldown));
            }
            State::Open { .. } => {}
        }
    }

    /// An outcome that says nothing about health (a rate limit, a call
    /// abandoned at shutdown): a probe in flight is given back.
    pub fn on_neutral(&mut self) {
        if let State::HalfOpen { probing, .. } = &mut self.state {
            *probing = false;
        }
    }

    /// Opens at once for `cooldown`: the provider cannot work as configured.
    pub fn trip(&mut self, now: Instant, cooldown: Duration) {
        self.open(now, cooldown);
    }

    fn open(&mut self, now: Instant, cooldown: Duration) {
        self.state = State::Open {
            until: now + cooldown,
            cooldown,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn breaker() -> Breaker {
        Breaker::new(Policy {
            failures: 3,
            cooldown: 10 * S,
            max_cooldown: 25 * S,
        })
    }

    #[test]
    fn opens_after_consecutive_failures_only() {
        let t = Instant::now();
        let mut b = breaker();
        b.on_failure(t);
        b.on_failure(t);
        b.on_success();
        b.on_failure(t);
        b.on_failure(t);
        assert_eq!(b.state_name(t), "closed");
        assert_eq!(b.admit(t), Some(Admission::Call));
        b.on_failure(t);
        assert_eq!(b.state_name(t), "open");
        assert_eq!(b.admit(t + 9 * S), None);
        assert!(!b.healthy(t + 9 * S));
        assert_eq!(b.reopens_at(), Some(t + 10 * S));
    }

    #[test]
    fn one_probe_then_close_or_reopen_longer() {
        let t = Instant::now();
        let mut b = breaker();
        b.trip(t, 10 * S);
        let t1 = t + 10 * S;
        assert_eq!(b.state_name(t1), "half_open");
        assert!(b.healthy(t1));
        assert_eq!(b.admit(t1), Some(Admission::Probe));
        assert_eq!(b.admit(t1), None, "only one probe at a time");
        b.on_failure(t1);
        assert_eq!(b.state_name(t1 + 19 * S), "open", "cooldown doubled");
        let t2 = t1 + 20 * S;
        assert_eq!(b.admit(t2), Some(Admission::Probe));
        b.on_failure(t2);
        assert_eq!(b.reopens_at(), Some(t2 + 25 * S), "capped");
        let t3 = t2 + 25 * S;
        assert_eq!(b.admit(t3), Some(Admission::Probe));
        b.on_neutral();
        assert_eq!(
            b.admit(t3),
            Some(Admission::Probe),
            "a neutral probe is given back"
        );
        b.on_success();
        assert_eq!(b.state_name(t3), "closed");
        assert_eq!(b.admit(t3), Some(Admission::Call));
    }
}
