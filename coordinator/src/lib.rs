//! The igentai coordinator: the system's memory.
//!
//! It answers control requests, tells workers what to generate, reads their
//! candidate batches from JetStream, deduplicates them globally, persists
//! every unique item exactly once, keeps statistics and publishes metrics.
//! See `ARCHITECTURE.md` at the repository root for the map.

pub mod admission;
pub mod arms;
pub mod avoid;
pub mod batch;
pub mod batchlog;
pub mod commands;
pub mod config;
pub mod control;
pub mod ctl;
pub mod dedup;
pub mod fleet;
pub mod folders;
pub mod fuzzing;
pub mod ingest;
pub mod ledger;
pub mod name_pairs;
pub mod names;
pub mod normalize;
pub mod owner;
pub mod ownership;
pub mod partitions;
pub mod record;
pub mod replicas;
pub mod restore;
pub mod run;
pub mod runs_kv;
pub mod service;
pub mod stats;
pub mod steer;
pub mod store;
pub mod table;
pub mod topic;
pub mod verify;
pub mod watch;
pub mod weights;

pub use config::Config;
pub use service::run;
