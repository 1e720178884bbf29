//! Command line and environment of the `coordinator` binary.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::ingest::admission::{Limits, MAX_BATCH_ITEMS};
use crate::steer::partitions::Policy;
use crate::steer::{self, Tuning};

#[derive(Debug, Parser)]
#[command(
    name = "coordinator",
    version,
    about = "igentai coordinator: dedup, persistence, statistics and run control"
)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Send a control command to the running coordinator (no `nats` CLI needed).
    Ctl {
        #[command(subcommand)]
        verb: crate::cli::ctl::Verb,
    },
    /// Check a topic folder's `output.txt`: every dedup key once, no torn
    /// line; exits non-zero with what is wrong.
    Verify {
        /// The topic's folder, e.g. `data/rare-cheeses`.
        folder: PathBuf,
        /// Fail when it holds fewer items.
        #[arg(long, default_value_t = 0)]
        min_items: u64,
    },
}

/// The lease TTL on one nats-server.
pub const LEASE_TTL_MS: u64 = 10_000;
/// The lease TTL on a cluster, where the lease's node may die.
pub const CLUSTER_LEASE_TTL_MS: u64 = 30_000;

#[derive(Debug, Clone, Args)]
pub struct Config {
    #[command(flatten)]
    pub nats: igentai_client::NatsArgs,

    /// Folder holding one folder per topic, plus `current-run.json`.
    #[arg(long, env = "IGENTAI_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// How often the metrics snapshot is published and `metrics.json` written.
    #[arg(long, env = "IGENTAI_METRICS_INTERVAL_MS", default_value_t = 1000)]
    pub metrics_interval_ms: u64,

    /// A worker silent for this long is marked gone.
    #[arg(long, env = "IGENTAI_HEARTBEAT_TIMEOUT_MS", default_value_t = 10_000)]
    pub heartbeat_timeout_ms: u64,

    /// How long `stop` waits for workers to confirm they stopped.
    #[arg(long, env = "IGENTAI_STOP_TIMEOUT_MS", default_value_t = 15_000)]
    pub stop_timeout_ms: u64,

    /// Group commit: how long a batch may wait for others before the files
    /// are synced and the batches acknowledged.
    #[arg(long, env = "IGENTAI_COMMIT_INTERVAL_MS", default_value_t = 5)]
    pub commit_interval_ms: u64,

    /// Share of each run's new items a judge checks, in [0, 1] (a start
    /// request's `judge_rate` overrides it): 1 judges every item, so
    /// `valid.txt` is the complete list of valid items; less samples them
    /// for an estimate of the valid share; 0 judges none.
    #[arg(long, env = "IGENTAI_JUDGE_RATE", default_value_t = 1.0)]
    pub judge_rate: f64,

    /// The provider that judges, e.g. a stronger model than the generators
    /// (a start request's `judge_provider` overrides it); unset, any
    /// provider by the run's weights.
    #[arg(long, env = "IGENTAI_JUDGE_PROVIDER")]
    pub judge_provider: Option<String>,

    /// Confirm each item the judge's labels accept with a second
    /// question, alone: which member of the topic is it? (a start
    /// request's `judge_confirm` overrides it).
    #[arg(long, env = "IGENTAI_JUDGE_CONFIRM")]
    pub judge_confirm: bool,

    /// The topic's members form a closed list (the US states, the
    /// chemical elements): confirming, the judge rejects an item it gives
    /// a kind no member has and checks one of another kind against the
    /// members it lists by the item's first letters (a start request's
    /// `judge_closed` overrides it).
    #[arg(long, env = "IGENTAI_JUDGE_CLOSED")]
    pub judge_closed: bool,

    /// Items per judge call.
    #[arg(long, env = "IGENTAI_JUDGE_BATCH", default_value_t = 20)]
    pub judge_batch: usize,

    /// Candidates a partition's recent answers need before it is judged:
    /// kept, split into sub-categories, or retired.
    #[arg(long, env = "IGENTAI_PARTITION_JUDGE_AFTER", default_value_t = Policy::default().judge_after)]
    pub partition_judge_after: u64,

    /// Candidates the whole topic's recent answers need before it is
    /// judged for its first split (below the split threshold it is split);
    /// 0 splits it at once.
    #[arg(long, env = "IGENTAI_TOPIC_JUDGE_AFTER", default_value_t = Policy::default().topic_judge_after)]
    pub topic_judge_after: u64,

    /// Deepest level of sub-categories (the topic's own are level 1).
    #[arg(long, env = "IGENTAI_PARTITION_MAX_DEPTH", default_value_t = Policy::default().max_depth)]
    pub partition_max_depth: u32,

    /// Wait while another coordinator owns the data dir or the candidate
    /// stream, and take over when it exits or dies, instead of refusing
    /// to start.
    #[arg(long, env = "IGENTAI_STANDBY")]
    pub standby: bool,

    /// The lease in NATS that makes this coordinator the only consumer of
    /// the candidate stream expires this long after its last renewal
    /// (renewed every third of it): how long a standby on another data dir
    /// waits after the owner was killed. Set when the lease bucket is
    /// created; an existing bucket keeps its own. Default 10 s on one
    /// nats-server, 30 s on a cluster (see `lease_ttl`).
    #[arg(long, env = "IGENTAI_LEASE_TTL_MS")]
    pub lease_ttl_ms: Option<u64>,

    /// Copies of the candidate stream, the items stream and the
    /// coordinator's buckets:
    /// `auto` (min(3, nodes of the NATS cluster)) or a count; a count the
    /// cluster cannot place stops the coordinator with an error. An
    /// existing stream with fewer copies is grown to it.
    #[arg(long, env = "IGENTAI_STREAM_REPLICAS", default_value = "auto")]
    pub stream_replicas: crate::replication::replicas::Replicas,

    /// How often a worker's avoid hint is refreshed.
    #[arg(long, env = "IGENTAI_AVOID_REFRESH_MS", default_value_t = steer::AVOID_REFRESH_MS)]
    pub avoid_refresh_ms: u64,

    /// Tokens (in + out) one candidate batch may claim; a batch claiming
    /// more is rejected.
    #[arg(long, env = "IGENTAI_MAX_BATCH_TOKENS", default_value_t = 200_000)]
    pub max_batch_tokens: u64,

    /// The highest price of any provider the workers call, in USD per
    /// million tokens: a batch claiming more than its tokens at this price
    /// is rejected, so no batch can spend a run's budget by itself.
    #[arg(long, env = "IGENTAI_MAX_USD_PER_MTOK", default_value_t = 100.0)]
    pub max_usd_per_mtok: f64,
}

impl Config {
    pub fn metrics_interval(&self) -> Duration {
        Duration::from_millis(self.metrics_interval_ms.max(10))
    }

    pub fn commit_interval(&self) -> Duration {
        Duration::from_millis(self.commit_interval_ms)
    }

    /// The lease TTL for a lease kept in `replicas` copies, at least a
    /// second so that renewing it every third of it stays cheap. A
    /// replicated lease is unanswered while its node's successor is
    /// elected (about 5 s, measured in tests/cluster.rs), and a lease
    /// unrenewed for two thirds of its TTL is given up: on a cluster the
    /// default outlasts an election.
    pub fn lease_ttl(&self, replicas: usize) -> Duration {
        let default = if replicas > 1 {
            CLUSTER_LEASE_TTL_MS
        } else {
            LEASE_TTL_MS
        };
        Duration::from_millis(self.lease_ttl_ms.unwrap_or(default).max(1_000))
    }

    pub fn stop_timeout(&self) -> Duration {
        Duration::from_millis(self.stop_timeout_ms)
    }

    /// What one candidate batch may claim.
    pub fn limits(&self) -> Limits {
        Limits {
            max_items: MAX_BATCH_ITEMS,
            max_tokens: self.max_batch_tokens,
            max_usd_per_mtok: self.max_usd_per_mtok,
        }
    }

    /// The steering policies with this configuration's knobs.
    pub fn tuning(&self) -> Tuning {
        let defaults = Tuning::default();
        Tuning {
            partitions: Policy {
                judge_after: self.partition_judge_after.max(1),
                topic_judge_after: self.topic_judge_after,
                max_depth: self.partition_max_depth.max(1),
                ..defaults.partitions
            },
            avoid_refresh_ms: self.avoid_refresh_ms,
            ..defaults
        }
    }
}
