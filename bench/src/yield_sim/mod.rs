//! The yield benchmark: how many new items (true distinct items of the
//! sim's world, not just unique keys) per 1k tokens and per dollar each
//! steering strategy gets from a simulated fleet, how close the
//! learned weights come to the best fixed allocation, and how fast they
//! move away from a provider that degrades. Everything runs in virtual
//! time (`engine.rs`) on the real coordinator and worker code.

pub mod batch;
pub mod engine;
pub mod experiments;
pub mod fleet;
pub mod report;
pub mod scenario;
pub mod trace;
pub mod truth;
