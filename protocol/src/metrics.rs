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
    /// The target counts valid items, not unique ones.
    #[serde(default)]
    pub target_valid: bool,
    #[serde(default)]
    pub budget_usd: Option<f64>,
    #[serde(default)]
    pub max_duration_s: Option<u64>,
    #[serde(default)]
    pub min_coverage: Option<f64>,
    #[serde(default)]
    pub min_yield_per_1k_tokens: Option<f64>,
    #[serde(default)]
    pub strategies: crate::Strategies,
    /// Unique items already on disk when the run started.
    pub resumed_items: u64,
    /// Share of the run's new items a judge checks (0: none).
    #[serde(default)]
    pub judge_rate: f64,
    /// The provider that judges, when the run names one.
    #[serde(default)]
    pub judge_provider: Option<String>,
    /// Whether the judge confirms each item its labels accept with a
    /// second question.
    #[serde(default)]
    pub judge_confirm: bool,
    /// Whether the topic's members form a closed list the judge checks
    /// items of another kind against.
    #[serde(default)]
    pub judge_closed: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Unique items of the topic, including those found by earlier runs.
    pub unique: u64,
    /// Unique items found by this run.
    pub new_this_run: u64,
    pub candidates: u64,
    /// Candidates that were not new: plain duplicates and near-duplicates.
    pub duplicates: u64,
    /// Of the duplicates, those merged into an earlier item as a variant
    /// spelling ("Salmaella (Bergamo)" of "Salmaella"), recorded as aliases.
    #[serde(default)]
    pub near_duplicates: u64,
    pub batches: u64,
    /// Candidate lines dropped as unusable (empty, too long, control characters).
    pub invalid_items: u64,
    /// Batches terminated as unreadable (not JSON, wrong schema, oversize).
    pub rejected_batches: u64,
    /// Rejected batches by kind: `too_large`, `not_utf8`, `schema`, `field`.
    #[serde(default)]
    pub rejected_by_kind: BTreeMap<String, u64>,
    /// Batches that arrived again after they were counted (redelivered by
    /// JetStream or published again by a worker): deduplicated, not
    /// counted twice.
    #[serde(default)]
    pub repeated_batches: u64,
    /// new_this_run / candidates.
    pub uniqueness_ratio: f64,
    /// New unique items per minute over the last minute.
    pub unique_per_min: f64,
    pub tokens_in: u64,
    /// Of `tokens_in`, those read from the providers' prompt caches.
    #[serde(default)]
    pub tokens_cached_in: u64,
    pub tokens_out: u64,
    pub cost_usd: f64,
    pub elapsed_s: f64,
    /// What judges said of this run's new items (their calls are in the
    /// tokens and cost above).
    #[serde(default)]
    pub validity: Validity,
}

/// What judges said of a run's new items: counts, the valid share with its
/// 95% interval (Wilson), and what the judging cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Validity {
    /// Share of the new items sent to a judge (0: none).
    pub rate: f64,
    /// Items with a verdict, and each verdict.
    pub judged: u64,
    pub valid: u64,
    pub invalid: u64,
    pub unsure: u64,
    /// valid / judged (0 while none is judged) and its 95% interval.
    pub valid_share: f64,
    pub valid_share_low: f64,
    pub valid_share_high: f64,
    /// New items that are valid: counted when every item is judged,
    /// estimated (new items × valid share) when they are sampled.
    pub valid_items: f64,
    /// valid_items per US dollar of the whole run (judging included).
    pub valid_per_usd: f64,
    /// Items waiting for their verdict.
    pub waiting: u64,
    /// Judge calls answered and failed.
    pub jobs: u64,
    pub failed_jobs: u64,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub cost_usd: f64,
}

/// What a source of candidates (a provider, a model, a worker, a
/// partition) produced in this run, and how well it paid.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Yield {
    /// Answers ingested (one batch per LLM answer).
    pub batches: u64,
    pub candidates: u64,
    /// New unique items.
    pub unique: u64,
    /// Candidates merged into an earlier item as a variant spelling.
    #[serde(default)]
    pub near_duplicates: u64,
    pub tokens_in: u64,
    /// Of `tokens_in`, those read from the providers' prompt caches.
    #[serde(default)]
    pub tokens_cached_in: u64,
    pub tokens_out: u64,
    pub cost_usd: f64,
    /// unique / candidates.
    pub uniqueness_ratio: f64,
    /// New unique items per minute over the last minute.
    pub unique_per_min: f64,
    /// New unique items per minute over the last five minutes.
    pub unique_per_min_5m: f64,
    pub unique_per_1k_tokens: f64,
    /// New unique items per US dollar; 0 while nothing was spent.
    pub unique_per_usd: f64,
    pub latency_p50_ms: u64,
    pub latency_p95_ms: u64,
    /// Of its new items, those a judge saw, and those it called valid.
    #[serde(default)]
    pub judged: u64,
    #[serde(default)]
    pub valid: u64,
    /// valid / judged (0 while none is judged).
    #[serde(default)]
    pub valid_share: f64,
    /// New items × valid share per US dollar: what steering rewards when
    /// items are judged.
    #[serde(default)]
    pub valid_per_usd: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProviderStats {
    pub model: String,
    #[serde(flatten)]
    pub yields: Yield,
    /// LLM calls made by the fleet (answered or failed), from heartbeats.
    pub requests: u64,
    /// Failed calls by kind (`rate_limited`, `server_error`, ...), from heartbeats.
    pub failures: BTreeMap<String, u64>,
    /// Workers that currently report this provider healthy.
    pub healthy_workers: u32,
    /// Judge jobs this provider answered (each one labelling call and the
    /// second questions it asked), and what they cost (charged to the
    /// run, not to the provider's yield).
    #[serde(default)]
    pub judge_calls: u64,
    #[serde(default)]
    pub judge_cost_usd: f64,
    /// Workers whose circuit breaker for this provider is open.
    pub open_breakers: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerStats {
    pub worker_id: String,
    /// False once the worker has been silent past the heartbeat timeout.
    pub alive: bool,
    pub state: crate::WorkerState,
    #[serde(default)]
    pub run_id: Option<String>,
    #[serde(default)]
    pub partition: Option<String>,
    pub last_seen_ms_ago: u64,
    pub in_flight: u32,
    pub llm_failures: u64,
    pub publish_retries: u64,
    #[serde(flatten)]
    pub yields: Yield,
    /// Vendor batches in flight, per batch-mode provider.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vendor_batches: Vec<crate::BatchesInFlight>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionStats {
    /// The sub-category, or `(whole topic)`.
    pub name: String,
    /// `active`, `split` (its sub-categories replaced it), `retired`
    /// (barren) or `invalid` (judged mostly not members; never worked).
    pub state: String,
    #[serde(flatten)]
    pub yields: Yield,
}

/// How one way of prompting pays in this run: the plain broad prompt, or a
/// strategy judged against it (partitions against `broad`, avoid hints
/// against `unhinted`: the same prompts with the hint withheld).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ArmStats {
    /// `broad`, `partitions`, `avoid` or `unhinted`.
    pub name: String,
    /// The arm it is judged against; empty for a baseline.
    #[serde(default)]
    pub against: String,
    /// `baseline`, `active` (gets most of the work) or `suppressed` (lost
    /// against its baseline; re-tested on a small share).
    pub state: String,
    /// Share of the assignments it gets now, in [0, 1].
    pub share: f64,
    /// Answers ingested under it in this run.
    pub batches: u64,
    /// Tokens spent under it in this run, its own costs included
    /// (partition jobs are charged to `partitions`).
    pub tokens: u64,
    pub cost_usd: f64,
    /// New unique items of its answers in this run.
    pub unique: u64,
    /// New items per 1k tokens over its recent answers, as it is judged.
    pub unique_per_1k_tokens: f64,
    /// New items per US dollar over its recent answers; 0 while unpriced.
    pub unique_per_usd: f64,
    /// Its recent yield relative to its baseline's (1 = as good); 0 while
    /// either has too little evidence.
    pub vs_baseline: f64,
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
    /// Of the items judged valid only (once items are judged): how many
    /// valid items the topic holds, and the share of them found.
    #[serde(default)]
    pub valid: bool,
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
    /// Per model (several providers may serve one model).
    #[serde(default)]
    pub models: BTreeMap<String, Yield>,
    pub workers: Vec<WorkerStats>,
    pub partitions: Vec<PartitionStats>,
    /// The broad prompt and each strategy as arms: what they yield and
    /// which are used.
    #[serde(default)]
    pub arms: Vec<ArmStats>,
    pub weights: BTreeMap<String, f64>,
    /// Version of `weights`; grows with every change.
    #[serde(default)]
    pub weights_version: u64,
    /// The weights are a manual override (`igentai.control.weights`).
    #[serde(default)]
    pub weights_manual: bool,
    /// Batches in the stream not yet ingested.
    pub backlog: u64,
    #[serde(default)]
    pub estimate: Option<Estimate>,
    /// The last problem that needs an operator (an unwritable data dir, ...),
    /// cleared once things work again.
    #[serde(default)]
    pub last_error: Option<String>,
    /// The JetStream streams the coordinator depends on: where their
    /// copies are and which node leads them.
    #[serde(default)]
    pub streams: Vec<StreamStatus>,
}

/// A JetStream stream's replication as its info reports it: the candidate
/// stream survives the loss of a node when `replicas` is 3 and every peer
/// is current.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamStatus {
    pub name: String,
    /// Copies the stream is configured to keep.
    pub replicas: usize,
    /// The node (server name) that leads the stream; `None` on a single
    /// server without a name, or while a new leader is being elected.
    #[serde(default)]
    pub leader: Option<String>,
    /// The other nodes holding a copy, with whether each is up to date.
    #[serde(default)]
    pub peers: Vec<StreamPeer>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamPeer {
    pub name: String,
    pub current: bool,
    #[serde(default)]
    pub offline: bool,
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
