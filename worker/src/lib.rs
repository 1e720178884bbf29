//! The igentai worker: waits for the coordinator's assignment, then calls
//! LLM providers in `--concurrency` slots, parses their answers and
//! publishes one candidate batch per answer to JetStream.
//! See `ARCHITECTURE.md` at the repository root for the map.

pub mod config;
pub mod counters;
pub mod generate;
pub mod parse;
pub mod prompt;
pub mod providers;
pub mod publish;
pub mod rng;
pub mod service;

pub use config::Config;
pub use service::run;
