//! One line of `items.jsonl`: an item with its provenance, or an alias
//! record naming a near-duplicate spelling and the item it merged into.
//!
//! An item record's `seq` is its line in `output.txt`. An alias record has
//! no `seq` (no line of its own) but `alias_of`, the `seq` of the item, and
//! starts with `{"alias_of":` so that a reader (and recovery) can tell the
//! two apart without parsing every line.

use serde::{Deserialize, Serialize};

/// How every alias record starts.
pub const ALIAS_PREFIX: &[u8] = b"{\"alias_of\":";

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One line of `items.jsonl`: an item with its provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemRecord {
    /// The item this spelling merged into (alias records only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias_of: Option<u64>,
    /// The line in `output.txt` (item records only; 0 in alias records).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub seq: u64,
    pub item: String,
    pub key: String,
    pub provider: String,
    pub model: String,
    pub worker: String,
    pub partition: Option<String>,
    pub run: String,
    pub batch: String,
    /// RFC 3339, UTC.
    pub ts: String,
}

impl ItemRecord {
    /// The record borrowed, as [`TopicStore::append`] takes it.
    pub fn borrowed(&self) -> RecordRef<'_> {
        RecordRef {
            alias_of: self.alias_of,
            seq: self.seq,
            item: &self.item,
            key: &self.key,
            provider: &self.provider,
            model: &self.model,
            worker: &self.worker,
            partition: self.partition.as_deref(),
            run: &self.run,
            batch: &self.batch,
            ts: &self.ts,
        }
    }
}

/// An [`ItemRecord`] borrowed from the batch it came from, so appending
/// copies nothing; it serializes to the same JSON line.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct RecordRef<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alias_of: Option<u64>,
    #[serde(skip_serializing_if = "is_zero")]
    pub seq: u64,
    pub item: &'a str,
    pub key: &'a str,
    pub provider: &'a str,
    pub model: &'a str,
    pub worker: &'a str,
    pub partition: Option<&'a str>,
    pub run: &'a str,
    pub batch: &'a str,
    pub ts: &'a str,
}

impl RecordRef<'_> {
    /// Appends the record as one line of JSON (without the newline).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        serde_json::to_writer(&mut *out, self).expect("writing to a Vec cannot fail");
    }
}

/// How every verdict record starts.
pub const VERDICT_PREFIX: &[u8] = b"{\"verdict_of\":";

/// A verdict record of `items.jsonl`: what a judge said of the item on
/// line `verdict_of` of `output.txt`. Written once per item, after it,
/// never rewritten. It carries the item (so the ledger can find it on
/// another host, where its line may differ) and the item's provenance (so
/// valid items are counted per provider, model and partition without
/// looking the item up).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerdictRecord {
    pub verdict_of: u64,
    pub item: String,
    pub verdict: igentai_protocol::Answer,
    /// The judged item's provider, model and partition.
    pub provider: String,
    pub model: String,
    pub partition: Option<String>,
    /// Who judged: the provider, its model and the worker that asked it.
    pub judge: String,
    pub judge_model: String,
    pub worker: String,
    pub run: String,
    /// RFC 3339, UTC.
    pub ts: String,
    /// What the judge call cost, on the first verdict of each call only,
    /// so the run's judge spend is rebuilt from the records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobSpend>,
}

/// A judge call's tokens and cost.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct JobSpend {
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub cost_usd: f64,
}

impl JobSpend {
    pub fn spend(&self) -> crate::run::stats::Spend {
        crate::run::stats::Spend {
            tokens_in: self.tokens_in,
            tokens_out: self.tokens_out,
            cost_usd: self.cost_usd,
        }
    }
}
