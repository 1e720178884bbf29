//! The igentai coordinator: the system's memory.
//!
//! It answers control requests, tells workers what to generate, reads their
//! candidate batches from JetStream, deduplicates them globally, persists
//! every unique item exactly once, keeps statistics and publishes metrics.
//! See `ARCHITECTURE.md` at the repository root for the map.

pub mod cli;
pub mod config;
pub mod fleet;
pub mod fuzzing;
pub mod ingest;
pub mod keys;
pub mod replication;
pub mod run;
pub mod service;
pub mod steer;
pub mod topic;

pub use config::Config;
pub use service::serve;
