//! The metrics snapshot (`igentai.metrics`), the new-items feed
//! (`igentai.items`) and the run description they share with `status`.
//!
//! `seq` grows across coordinator restarts (it starts at the wall clock in
//! milliseconds), so consumers can drop any snapshot whose `seq` is not
//! greater than the last one they showed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// No run was started since the coordinator came up.
    Idle,
    Running,
    Stopped,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub run_id: String,
    pub topic: String,
    pub slug: String,
    pub output_dir: String,
    pub started_at_ms: u64,
    #[serde(default)]
    pub stopped_at_ms: Option<u64>,
    /// Why the run stopped: `stop command`, `target reached`, ...
    #[serde(default)]
    pub stop_reason: Option<String>,
    #[serde(default)]
    pub target: Option<u64>,
    #[serde(default)]
    pub budget_usd: Option<f64>,
    #[serde(default)]
    pub max_duration_s: Option<u64>,
    /// Unique items already on disk when the run started.
    pub resumed_items: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Unique items of the topic, including those found by earlier runs.
    pub unique: u64,
    /// Unique items found by this run.
    pub new_this_run: u64,
    pub candidates: u64,
    pub duplicates: u64,
    pub batches: u64,
    /// Candidate lines dropped as unusable (empty, too long, control characters).
    pub invalid_items: u64,
    /// Batches terminated as unreadable (not JSON, wrong schema, oversize).
    pub rejected_batches: u64,
    /// new_this_run / candidates.
    pub uniqueness_ratio: f64,
    /// New unique items per minute over the last minute.
    pub unique_per_min: f64,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub cost_usd: f64,
    pub elapsed_s: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProviderStats {
    pub model: String,
    pub batches: u64,
    pub candidates: u64,
    pub unique: u64,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub cost_usd: f64,
    pub uniqueness_ratio: f64,
    pub latency_p50_ms: u64,
    pub latency_p95_ms: u64,
    /// Workers that currently report this provider healthy.
    pub healthy_workers: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerStats {
    pub worker_id: String,
    /// False once the worker has been silent past the heartbeat timeout.
    pub alive: bool,
    pub state: crate::WorkerState,
    #[serde(default)]
    pub run_id: Option<String>,
    pub last_seen_ms_ago: u64,
    pub in_flight: u32,
    pub batches: u64,
    pub candidates: u64,
    pub unique: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionStats {
    /// The sub-category, or `(whole topic)`.
    pub name: String,
    pub state: String,
    pub candidates: u64,
    pub unique: u64,
}

/// How many distinct items the topic seems to hold (Chao1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// S_obs + f1² / (2 f2), bias-corrected when f2 = 0.
    pub total: f64,
    /// unique / total, in [0, 1].
    pub coverage: f64,
    /// Items seen exactly once and exactly twice.
    pub f1: u64,
    pub f2: u64,
}

/// Published on `igentai.metrics` about once a second, and the body of the
/// `status` reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsSnapshot {
    #[serde(default = "crate::default_version")]
    pub v: u32,
    pub seq: u64,
    pub ts_ms: u64,
    pub state: RunState,
    #[serde(default)]
    pub run: Option<RunInfo>,
    pub totals: Totals,
    pub providers: BTreeMap<String, ProviderStats>,
    pub workers: Vec<WorkerStats>,
    pub partitions: Vec<PartitionStats>,
    pub weights: BTreeMap<String, f64>,
    /// Batches in the stream not yet ingested.
    pub backlog: u64,
    #[serde(default)]
    pub estimate: Option<Estimate>,
    /// The last problem that needs an operator (an unwritable data dir, ...),
    /// cleared once things work again.
    #[serde(default)]
    pub last_error: Option<String>,
}

/// Published on `igentai.items` for each ingested batch with new items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemsEvent {
    #[serde(default = "crate::default_version")]
    pub v: u32,
    pub run_id: String,
    pub items: Vec<NewItem>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewItem {
    /// Line number in `output.txt`, from 1.
    pub seq: u64,
    pub text: String,
    pub provider: String,
    pub worker_id: String,
    #[serde(default)]
    pub partition: Option<String>,
}
