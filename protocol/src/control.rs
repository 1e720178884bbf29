//! Control requests (`igentai.control.<verb>`) and the replies to them.
//!
//! Every reply is `{"ok": true, ...}` or `{"ok": false, "error": "..."}`.
//! Requests come from people (`nats req`, the dashboard, `coordinator ctl`),
//! so unknown fields are refused rather than silently ignored: a typo such as
//! `"budjet_usd"` must not start an unbounded run.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::metrics::RunState;

/// The verbs of `igentai.control.<verb>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlVerb {
    Start,
    Stop,
    Status,
    Weights,
}

impl ControlVerb {
    pub fn parse(verb: &str) -> Option<Self> {
        match verb {
            "start" => Some(Self::Start),
            "stop" => Some(Self::Stop),
            "status" => Some(Self::Status),
            "weights" => Some(Self::Weights),
            _ => None,
        }
    }

    pub fn subject(self) -> &'static str {
        use crate::subjects::*;
        match self {
            Self::Start => CONTROL_START,
            Self::Stop => CONTROL_STOP,
            Self::Status => CONTROL_STATUS,
            Self::Weights => CONTROL_WEIGHTS,
        }
    }
}

/// `igentai.control.start` as JSON. A plain-text payload is the topic alone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartRequest {
    #[serde(default = "crate::default_version")]
    pub v: u32,
    pub topic: String,
    /// Stop once this many unique items exist for the topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<u64>,
    /// The target counts valid items (judged "yes"; estimated from the
    /// valid share when the run samples), not unique ones.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub target_valid: bool,
    /// Stop once the run has spent this much, in US dollars.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_usd: Option<f64>,
    /// Stop after this many seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration_s: Option<u64>,
    /// Stop once the estimated coverage (found / Chao1 estimate) reaches
    /// this share, in (0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_coverage: Option<f64>,
    /// Stop once the last answers yield fewer new items per 1k tokens than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_yield_per_1k_tokens: Option<f64>,
    /// How many items each LLM request asks for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items_per_request: Option<u32>,
    /// Overrides the workers' prompt template (`{topic}`, `{count}` are filled in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_template: Option<String>,
    /// Which yield strategies run (all by default), so each one's effect
    /// can be measured by switching it off.
    #[serde(default)]
    pub strategies: Strategies,
    /// Share of the new items a judge checks, in [0, 1]: 1 judges every
    /// item (the list of valid items is complete), less samples them (an
    /// estimate of the valid share), 0 judges none. The coordinator's
    /// `--judge-rate` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge_rate: Option<f64>,
    /// The provider that judges (e.g. a stronger model than the
    /// generators); any provider, by the run's weights, when unset (the
    /// coordinator's `--judge-provider`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge_provider: Option<String>,
    /// Whether the judge asks about each item its labels accept again,
    /// alone, which member of the topic it is (more precise verdicts, at
    /// about 90 tokens an accepted item); the coordinator's
    /// `--judge-confirm` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge_confirm: Option<bool>,
    /// Whether the topic's members form a closed list (the US states,
    /// the chemical elements; not "rare cheeses"): confirming, the judge
    /// then rejects an item it gives a kind no member has (`Ethanol`, "an
    /// alcohol") and checks one of a kind members have (`Methane`, "a
    /// gas") against the members it lists by the item's first letters; the
    /// coordinator's `--judge-closed` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge_closed: Option<bool>,
}

/// The strategies that make more unique items per token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Strategies {
    /// Learn provider weights from measured yield (else: uniform).
    #[serde(default = "yes")]
    pub weights: bool,
    /// Split the topic into sub-categories and spread workers over them.
    #[serde(default = "yes")]
    pub partitions: bool,
    /// Tell models which items they keep repeating.
    #[serde(default = "yes")]
    pub avoid: bool,
}

fn yes() -> bool {
    true
}

impl Default for Strategies {
    fn default() -> Self {
        Self {
            weights: true,
            partitions: true,
            avoid: true,
        }
    }
}

/// `igentai.control.weights`: set a manual override (`weights`), clear it
/// (`clear`), or with neither, just read the weights.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightsRequest {
    #[serde(default = "crate::default_version")]
    pub v: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<std::collections::BTreeMap<String, f64>>,
    #[serde(default)]
    pub clear: bool,
}

/// What `weights` answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeightsReply {
    pub weights: std::collections::BTreeMap<String, f64>,
    pub version: u64,
    pub manual: bool,
}

/// What `start` answers on success.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartReply {
    pub run_id: String,
    pub topic: String,
    pub slug: String,
    /// The topic's folder: `output.txt`, `items.jsonl`, `state.json`, `metrics.json`.
    pub output_dir: String,
    /// Whether the folder already held items from an earlier run.
    pub resumed: bool,
    /// Unique items already known when the run started.
    pub known_items: u64,
}

/// What `stop` answers on success.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StopReply {
    pub run_id: String,
    pub topic: String,
    pub state: RunState,
    pub stop_reason: String,
    pub unique: u64,
    /// Workers that confirmed they stopped and flushed their last batches.
    pub workers_stopped: Vec<String>,
    /// Workers that did not confirm in time (they stop on their next
    /// heartbeat exchange; their late batches are still ingested).
    pub workers_unresponsive: Vec<String>,
    /// Vendor batches the workers cancelled, with what they had delivered
    /// and what that cost (batch mode).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub batches_stopped: Vec<crate::BatchesStopped>,
}

/// The reply envelope: `ok` plus either an error or the body's fields.
#[derive(Debug, Clone, Serialize)]
pub struct Reply<T> {
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub body: Option<T>,
}

impl<T: Serialize> Reply<T> {
    pub fn ok(body: T) -> Self {
        Self {
            ok: true,
            error: None,
            body: Some(body),
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("reply types serialize infallibly")
    }
}

impl Reply<()> {
    pub fn err(error: impl Into<String>) -> Self {
        Self {
            ok: false,
            error: Some(error.into()),
            body: None,
        }
    }
}

/// Why a reply could not be turned into its body.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplyError {
    /// The coordinator answered `{"ok": false, "error": ...}`.
    Refused(String),
    /// The bytes were not a reply of the expected shape.
    Malformed(String),
}

impl std::fmt::Display for ReplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refused(e) => write!(f, "refused: {e}"),
            Self::Malformed(e) => write!(f, "malformed reply: {e}"),
        }
    }
}

impl std::error::Error for ReplyError {}

#[derive(Deserialize)]
struct Head {
    ok: bool,
    #[serde(default)]
    error: Option<String>,
}

/// Decodes a control reply into its body, or the error it carries.
pub fn decode_reply<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ReplyError> {
    let head: Head =
        serde_json::from_slice(bytes).map_err(|e| ReplyError::Malformed(e.to_string()))?;
    if !head.ok {
        return Err(ReplyError::Refused(
            head.error.unwrap_or_else(|| "no error message".into()),
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| ReplyError::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_flatten_and_decode() {
        let reply = Reply::ok(StartReply {
            run_id: "r1".into(),
            topic: "t".into(),
            slug: "t".into(),
            output_dir: "data/t".into(),
            resumed: false,
            known_items: 0,
        });
        let json = String::from_utf8(reply.to_json()).unwrap();
        assert!(json.starts_with(r#"{"ok":true,"run_id":"r1""#), "{json}");
        let back: StartReply = decode_reply(json.as_bytes()).unwrap();
        assert_eq!(back.run_id, "r1");

        let err = Reply::err("no topic").to_json();
        assert_eq!(err, br#"{"ok":false,"error":"no topic"}"#);
        assert_eq!(
            decode_reply::<StartReply>(&err),
            Err(ReplyError::Refused("no topic".into()))
        );
        assert!(matches!(
            decode_reply::<StartReply>(b"nope"),
            Err(ReplyError::Malformed(_))
        ));
    }

    #[test]
    fn start_request_refuses_unknown_fields() {
        let r: Result<StartRequest, _> = serde_json::from_str(r#"{"topic":"x","budjet_usd":1}"#);
        assert!(r.unwrap_err().to_string().contains("budjet_usd"));
        let r: StartRequest = serde_json::from_str(r#"{"topic":"x","target":5}"#).unwrap();
        assert_eq!((r.v, r.target), (crate::VERSION, Some(5)));
    }
}
