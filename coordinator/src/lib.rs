//! The igentai coordinator: the system's memory.
//!
//! It answers control requests, tells workers what to generate, reads their
//! candidate batches from JetStream, deduplicates them globally, persists
//! every unique item exactly once, keeps statistics and publishes metrics.
//! See `ARCHITECTURE.md` at the repository root for the map.
//!
//! The modules are the crate's own. What other crates use is re-exported
//! below, on purpose: the service and its command line for the binary, and
//! for the benchmarks and the system tests the pieces they measure or
//! check (keys, a topic folder's files, ingest, the lease and the ledger's
//! names, the steering).

mod cli;
mod config;
mod fleet;
pub mod fuzzing;
mod ingest;
mod judge;
mod keys;
mod replication;
mod run;
mod service;
mod steer;
mod topic;

/// The binary: its command line and its three entry points.
pub use cli::{ctl::ctl, verify::verify};
pub use config::{Cli, Command, Config};
pub use service::serve;

/// When two spellings are one item.
pub use keys::name_pairs;
pub use keys::names::{NameRules, Namer};
pub use keys::normalize::{Normalizer, key_hash, normalize};
pub use keys::seen::SeenSet;

/// A topic folder and its files.
pub use topic::folders::folder_for;
pub use topic::keylog::KEYS;
pub use topic::store::{ItemRecord, OUTPUT, SIGHTINGS};
pub use topic::{Scratch, Topic};

/// Ingest: the candidate stream's consumer and a batch's vetting.
pub use ingest::batch::{Vetter, vet};
pub use ingest::stream::consumer_config;
pub use ingest::{Ingest, MAX_PENDING};

/// Replication: the items ledger and the lease.
pub use replication::ledger::{Ledger, MARK, topic_subject};
pub use replication::owner::{LEASE_BUCKET, LEASE_KEY, LOCK_FILE, Owner};

/// A run and the steering.
pub use run::Run;
pub use run::stats::{BatchOutcome, WHOLE_TOPIC};
pub use steer::{Steering, Tuning};
