//! The igentai worker: waits for the coordinator's assignment, then calls
//! LLM providers (OpenAI-compatible, Anthropic, sim) in `--concurrency`
//! slots, each provider behind its own breaker, backoff and limits, parses
//! their answers and publishes one candidate batch per answer to JetStream.
//! See `ARCHITECTURE.md` at the repository root for the map.

pub mod breaker;
pub mod config;
pub mod counters;
pub mod fuzzing;
pub mod gate;
pub mod generate;
pub mod jobs;
pub mod limiter;
pub mod micro;
pub mod parse;
pub mod prompt;
pub mod providers;
pub mod publish;
pub mod retry;
pub mod rng;
pub mod service;

pub use config::Config;
pub use service::run;
