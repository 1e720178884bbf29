//! The igentai worker: waits for the coordinator's assignment, then calls
//! LLM providers (OpenAI-compatible, Anthropic, sim) in `--concurrency`
//! slots, each provider behind its own breaker, backoff and limits, parses
//! their answers and publishes one candidate batch per answer to JetStream.
//! See `ARCHITECTURE.md` at the repository root for the map.
//!
//! Public are the modules the benchmarks, the system tests and the fuzz
//! target use; the event loop and the slots are private to the crate.

pub mod batches;
mod config;
pub mod counters;
pub mod fuzzing;
mod generate;
mod generation;
pub mod jobs;
pub mod micro;
pub mod parse;
pub mod prompt;
pub mod providers;
pub mod publish;
pub mod rng;
mod service;

pub use config::{Config, WORKER_USER_PREFIX};
pub use service::run;
