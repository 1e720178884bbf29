//! Messages between the coordinator and the workers: commands to a worker,
//! its heartbeats, and the candidate batches it publishes to JetStream.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A request on `igentai.work.<worker_id>`; the worker answers [`WorkerAck`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum WorkerCommand {
    /// Work on this run (replacing any earlier assignment).
    Assign(Assignment),
    /// Stop working on this run: start no new LLM call, publish what is in
    /// flight (within a bound), then answer.
    Stop(StopWork),
}

/// What a worker should generate. Re-sent whenever it changes, and whenever
/// a heartbeat shows the worker is not working on the current run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    #[serde(default = "crate::default_version")]
    pub v: u32,
    pub run_id: String,
    pub topic: String,
    /// A sub-category of the topic to focus on; `None` is the whole topic.
    #[serde(default)]
    pub partition: Option<String>,
    /// A sample of items already found, which the prompt asks not to repeat.
    #[serde(default)]
    pub avoid: Vec<String>,
    pub items_per_request: u32,
    #[serde(default)]
    pub prompt_template: Option<String>,
    /// Provider name → relative weight; empty means uniform.
    #[serde(default)]
    pub weights: BTreeMap<String, f64>,
}

/// Published on `igentai.weights` whenever the weights change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeightsUpdate {
    #[serde(default = "crate::default_version")]
    pub v: u32,
    pub run_id: String,
    /// Grows with every change; workers ignore an update older than theirs.
    pub version: u64,
    /// Provider name → relative weight.
    pub weights: BTreeMap<String, f64>,
    /// Set by an operator (`igentai.control.weights`) rather than learned.
    pub manual: bool,
}

/// A request on `igentai.jobs.partitions`: name sub-categories.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionRequest {
    #[serde(default = "crate::default_version")]
    pub v: u32,
    pub run_id: String,
    pub topic: String,
    /// The partition to split (a path "A > B"); `None` splits the topic.
    #[serde(default)]
    pub parent: Option<String>,
    /// How many sub-categories to ask for.
    pub count: u32,
    /// Provider name → weight, to choose the provider asked.
    #[serde(default)]
    pub weights: BTreeMap<String, f64>,
}

/// The answer to a [`PartitionRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionReply {
    #[serde(default = "crate::default_version")]
    pub v: u32,
    pub worker_id: String,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Sub-category names (not paths).
    #[serde(default)]
    pub partitions: Vec<String>,
    #[serde(default)]
    pub provider: String,
    #[serde(default)]
    pub tokens_in: u64,
    #[serde(default)]
    pub tokens_out: u64,
    #[serde(default)]
    pub cost_usd: f64,
}

/// Most items one judge job may carry.
pub const MAX_JUDGE_ITEMS: usize = 100;

/// A request on `igentai.jobs.judge`: say of each item whether it is a
/// real, specific instance of the topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeRequest {
    #[serde(default = "crate::default_version")]
    pub v: u32,
    pub run_id: String,
    pub topic: String,
    /// The items to judge, as stored (at most [`MAX_JUDGE_ITEMS`]).
    pub items: Vec<String>,
    /// Provider name → weight, to choose the provider asked: the run's
    /// judge provider alone when it has one.
    #[serde(default)]
    pub weights: BTreeMap<String, f64>,
    /// Ask about each item the labels call a member again, alone: which
    /// member of the topic is it? (the run's `judge_confirm`).
    #[serde(default)]
    pub confirm: bool,
    /// The topic's members form a closed list the judge can name (the
    /// run's `judge_closed`): confirming, an item given a kind that is not
    /// the topic is out when the judge says no member is of that kind, and
    /// else must be among the members it lists by its name's first letters.
    #[serde(default)]
    pub closed: bool,
}

/// What a judge said of one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Answer {
    /// A real, specific instance of the topic.
    Yes,
    /// Not real, or real but of another kind (a category, a description).
    No,
    /// The judge could not tell, or gave no readable answer.
    Unsure,
}

impl Answer {
    pub fn as_str(self) -> &'static str {
        match self {
            Answer::Yes => "yes",
            Answer::No => "no",
            Answer::Unsure => "unsure",
        }
    }
}

/// The answer to a [`JudgeRequest`]: one answer per item, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeReply {
    #[serde(default = "crate::default_version")]
    pub v: u32,
    pub worker_id: String,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default)]
    pub answers: Vec<Answer>,
    #[serde(default)]
    pub provider: String,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub tokens_in: u64,
    #[serde(default)]
    pub tokens_cached_in: u64,
    #[serde(default)]
    pub tokens_out: u64,
    #[serde(default)]
    pub cost_usd: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StopWork {
    #[serde(default = "crate::default_version")]
    pub v: u32,
    pub run_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerAck {
    #[serde(default = "crate::default_version")]
    pub v: u32,
    pub worker_id: String,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// On a stop: the vendor batches the worker cancelled, one entry per
    /// batch-mode provider, with what they had already delivered (and was
    /// paid for).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub batches_stopped: Vec<BatchesStopped>,
}

/// One batch-mode provider's batches cancelled by a stop: vendors bill
/// the requests answered before the cancel, which are published like any
/// answer; the rest is not billed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchesStopped {
    pub worker_id: String,
    pub provider: String,
    /// Batches the vendor was asked to cancel.
    pub cancelled: u32,
    /// Answers they had delivered, published.
    pub answers: u64,
    /// What those answers cost, at the batch price.
    pub cost_usd: f64,
    /// Batches still cancelling when the worker's stop grace ended: they
    /// stay recorded, and the worker publishes what they delivered once
    /// they end (on its next assignment or start).
    pub unfinished: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerState {
    /// Connected, waiting for an assignment.
    Idle,
    /// Calling LLMs for a run.
    Running,
    /// Finishing in-flight calls before going idle or exiting.
    Stopping,
}

/// Published on `igentai.heartbeat.<worker_id>` every heartbeat interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    #[serde(default = "crate::default_version")]
    pub v: u32,
    pub worker_id: String,
    pub state: WorkerState,
    /// The run the worker is working on, if any.
    #[serde(default)]
    pub run_id: Option<String>,
    #[serde(default)]
    pub partition: Option<String>,
    pub concurrency: u32,
    /// LLM calls in flight right now.
    pub in_flight: u32,
    /// Batches acknowledged by JetStream since the worker started.
    pub batches_published: u64,
    pub items_published: u64,
    /// Publishes retried after a failure or a missing acknowledgement.
    pub publish_retries: u64,
    pub llm_failures: u64,
    pub providers: Vec<ProviderHealth>,
    pub started_at_ms: u64,
    pub sent_at_ms: u64,
    /// The worker binary's version.
    pub version: String,
    /// Vendor batches in flight, one entry per batch-mode provider (none
    /// from a worker without one, or older than batch mode).
    #[serde(default)]
    pub vendor_batches: Vec<BatchesInFlight>,
}

/// One batch-mode provider's vendor batches in flight on one worker: how
/// many, since when, and how far their requests are.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchesInFlight {
    pub provider: String,
    /// Batches submitted and not yet published.
    pub batches: u32,
    /// When the oldest of them was submitted.
    #[serde(default)]
    pub oldest_submitted_at_ms: Option<u64>,
    /// Their requests, answered ones and failed ones as last polled.
    pub requests: u64,
    pub done: u64,
    pub failed: u64,
    /// Requests the worker's turns drew for its next batch, not yet
    /// submitted.
    #[serde(default)]
    pub drawn: u64,
}

/// One provider as one worker sees it. Counters are cumulative since the
/// worker started; the coordinator sums them across the fleet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProviderHealth {
    pub name: String,
    pub kind: String,
    pub model: String,
    pub healthy: bool,
    /// Circuit breaker state: `closed`, `open` or `half_open`.
    #[serde(default)]
    pub breaker: String,
    /// LLM calls made (answered or failed).
    #[serde(default)]
    pub requests: u64,
    /// Failed calls by kind: `rate_limited`, `server_error`, `client_error`,
    /// `timeout`, `transport`, `unparseable`, ...
    #[serde(default)]
    pub failures: BTreeMap<String, u64>,
    /// How answers are asked for: `json_schema`, `json_object` (OpenAI
    /// `response_format`), `tool` (an Anthropic tool), or `text`; a server
    /// that refused a structured form shows the one it fell back to.
    #[serde(default)]
    pub output: String,
}

/// One LLM answer, parsed: published to `igentai.candidates.<worker_id>`
/// with `Nats-Msg-Id` = `batch_id`, so a retried publish is stored once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateBatch {
    #[serde(default = "crate::default_version")]
    pub v: u32,
    pub batch_id: String,
    pub run_id: String,
    /// The run's topic, so a batch that outlives its run still finds its folder.
    pub topic: String,
    pub worker_id: String,
    pub provider: String,
    pub model: String,
    #[serde(default)]
    pub partition: Option<String>,
    pub items: Vec<String>,
    /// Every input token, cached or not.
    pub tokens_in: u64,
    /// Of `tokens_in`, those the provider read from its prompt cache (and
    /// billed at its cached price); 0 from workers that predate it.
    #[serde(default)]
    pub tokens_cached_in: u64,
    pub tokens_out: u64,
    pub latency_ms: u64,
    pub cost_usd: f64,
    #[serde(default)]
    pub finish_reason: Option<String>,
    #[serde(default)]
    pub request_id: Option<String>,
    pub created_at_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_tagged() {
        let cmd = WorkerCommand::Stop(StopWork {
            v: 1,
            run_id: "r".into(),
        });
        let json = serde_json::to_string(&cmd).unwrap();
        assert_eq!(json, r#"{"cmd":"stop","v":1,"run_id":"r"}"#);
        assert_eq!(serde_json::from_str::<WorkerCommand>(&json).unwrap(), cmd);
    }
}
