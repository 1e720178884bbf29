//! What stands between a worker and one provider: the circuit breaker
//! (`breaker.rs`), the backoff after a failure (`backoff.rs`), both applied
//! together by the `Gate` (`gate.rs`), and the client-side rate limits
//! (`limiter.rs`). All pure: every method takes the time, so the provider
//! pool and the yield benchmark's simulated fleet share them.

pub mod backoff;
pub mod breaker;
pub mod gate;
pub mod limiter;

pub use backoff::Backoff;
pub use breaker::{Admission, Breaker, Policy};
pub use gate::{Failed, Gate, MISCONFIGURED_COOLDOWN};
pub use limiter::Limiter;
