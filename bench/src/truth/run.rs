//! One strategy on one universe against a real model, at a token budget:
//! the calls, what the worker's parser takes from each answer, and what
//! the coordinator's topic folder stores of it; then the judge's verdict on
//! every stored line.
//!
//! The product's own pieces do the work: prompts from `worker::prompt`,
//! the call through the worker's OpenAI-compatible provider, answers read
//! by `worker::parse`, and dedup by a real `coordinator::Topic` in a
//! scratch folder (vetting, the exact key, the name key and its near-
//! duplicate merge, the sighting counts behind Chao1). Only the steering is
//! simplified (see [`Strategy::All`]).

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;
use coordinator::{Scratch, Topic};
use igentai_protocol::{
    Answer, Assignment, CandidateBatch, Estimate, ItemsEvent, JudgeRequest, PartitionRequest,
    VERSION,
};
use worker::parse::{parse_answer, parse_verdicts};
use worker::prompt::{self, Prompt};
use worker::providers::{Completion, Provider};

/// Items asked for per call: the coordinator's default.
pub const ITEMS_PER_REQUEST: u32 = 20;
/// Sub-categories asked for: the coordinator's partition fan-out.
pub const FANOUT: u32 = 8;
/// Items named in an avoid hint, at most (the coordinator's policy).
pub const AVOID_ITEMS: usize = 20;
/// Duplicate sightings an item needs before a hint names it.
pub const AVOID_MIN_REPEATS: u32 = 2;
/// Stored lines judged per call.
pub const JUDGE_CHUNK: usize = 20;
/// Calls that fail in a row before a run gives up.
const MAX_FAILURES: u32 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// The plain prompt of `worker::prompt::build`, again and again.
    None,
    /// Partitions and avoid hints: one call for the topic's
    /// sub-categories, then item prompts rotating through them, each with
    /// the items repeated most so far (at least [`AVOID_MIN_REPEATS`]
    /// duplicate sightings, at most [`AVOID_ITEMS`]). Simpler than the
    /// coordinator's steering: one level of partitions, never split or
    /// retired, and one topic-wide avoid tally sent on every call once it
    /// names anything (the coordinator keeps one per partition and sends
    /// it only while the partition's answers are mostly duplicates).
    All,
}

impl Strategy {
    pub fn name(self) -> &'static str {
        match self {
            Strategy::None => "none",
            Strategy::All => "all",
        }
    }
}

/// The run after one more call.
#[derive(Debug, Clone, Copy, Default)]
pub struct Point {
    pub tokens: u64,
    pub cost_usd: f64,
    /// Stored lines so far.
    pub stored: usize,
}

/// One item of an answer, where it stood and under which prompt.
#[derive(Debug, Clone)]
pub struct Line {
    /// 1-based position among the items the parser took from the answer.
    pub position: usize,
    pub partition: bool,
    pub avoid: bool,
    pub item: String,
}

/// What one run produced.
#[derive(Debug, Default)]
pub struct Collected {
    /// After each call, item and partition calls alike.
    pub points: Vec<Point>,
    /// The topic folder's lines, in order.
    pub stored: Vec<String>,
    pub lines: Vec<Line>,
    pub partitions: Vec<String>,
    pub estimate: Option<Estimate>,
    pub calls: u32,
    pub failed_calls: u32,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub cost_usd: f64,
    /// Answers cut at the output limit.
    pub truncated: u32,
}

/// Calls the model with `strategy` until `budget` tokens (input + output)
/// are spent; `dir` holds the scratch topic folder.
pub async fn collect(
    provider: &Provider,
    topic: &str,
    strategy: Strategy,
    budget: u64,
    dir: &Path,
) -> anyhow::Result<Collected> {
    let (mut folder, _) = Topic::open(dir, topic).context("open the scratch topic folder")?;
    let mut scratch = Scratch::default();
    let mut out = Collected::default();
    let mut tally = Tally::default();
    let mut failures = 0;
    let run_id = format!("truth-{}", strategy.name());
    if strategy == Strategy::All {
        let request = PartitionRequest {
            v: VERSION,
            run_id: run_id.clone(),
            topic: topic.to_string(),
            parent: None,
            count: FANOUT,
            weights: Default::default(),
        };
        let prompt = prompt::partitions(&request);
        // A partition answer the parser finds nothing in is asked again,
        // twice at most, as the coordinator retries a failed split.
        for _ in 0..3 {
            if let Some(c) = call(provider, &prompt, &mut out).await {
                out.partitions = items_of(&c, &prompt);
                if !out.partitions.is_empty() {
                    break;
                }
            }
        }
    }
    let mut turn = 0usize;
    while spent(&out) < budget {
        let partition = (!out.partitions.is_empty())
            .then(|| out.partitions[turn % out.partitions.len()].clone());
        turn += 1;
        let avoid = match strategy {
            Strategy::None => vec![],
            Strategy::All => tally.hint(),
        };
        let prompt = prompt::build(&Assignment {
            v: VERSION,
            run_id: run_id.clone(),
            topic: topic.to_string(),
            partition: partition.clone(),
            avoid: avoid.clone(),
            items_per_request: ITEMS_PER_REQUEST,
            prompt_template: None,
            weights: Default::default(),
        });
        let Some(c) = call(provider, &prompt, &mut out).await else {
            failures += 1;
            anyhow::ensure!(
                failures < MAX_FAILURES,
                "{MAX_FAILURES} calls in a row failed"
            );
            continue;
        };
        failures = 0;
        let items = items_of(&c, &prompt);
        for (i, item) in items.iter().enumerate() {
            out.lines.push(Line {
                position: i + 1,
                partition: partition.is_some(),
                avoid: !avoid.is_empty(),
                item: item.clone(),
            });
        }
        let batch = CandidateBatch {
            v: VERSION,
            batch_id: format!("{run_id}-{}", out.calls),
            run_id: run_id.clone(),
            topic: topic.to_string(),
            worker_id: "truth".into(),
            provider: "local".into(),
            model: c.model.clone(),
            partition,
            items: vec![],
            tokens_in: c.tokens_in,
            tokens_cached_in: c.tokens_cached_in,
            tokens_out: c.tokens_out,
            latency_ms: 0,
            cost_usd: c.cost_usd,
            finish_reason: c.finish_reason.clone(),
            request_id: c.request_id.clone(),
            created_at_ms: 0,
        };
        let cows: Vec<Cow<'_, str>> = items.iter().map(|s| Cow::Borrowed(s.as_str())).collect();
        let taken = folder.take(&batch, &cows, "1970-01-01T00:00:00Z", 0, &mut scratch);
        for (hash, spelling) in scratch.duplicates() {
            tally.record(hash, spelling);
        }
        if let Some(event) = taken.event {
            let event: ItemsEvent =
                serde_json::from_slice(&event).context("the topic's items event")?;
            out.stored.extend(event.items.into_iter().map(|i| i.text));
        }
        folder
            .write_all()
            .context("write the scratch topic folder")?;
        if let Some(last) = out.points.last_mut() {
            last.stored = out.stored.len();
        }
    }
    out.estimate = folder.estimate();
    Ok(out)
}

/// Input plus output tokens spent so far.
fn spent(out: &Collected) -> u64 {
    out.tokens_in + out.tokens_out
}

/// One call, booked in `out`; `None` (and counted) when it fails.
async fn call(provider: &Provider, prompt: &Prompt, out: &mut Collected) -> Option<Completion> {
    match provider.complete(prompt).await {
        Ok(c) => {
            out.calls += 1;
            out.tokens_in += c.tokens_in;
            out.tokens_out += c.tokens_out;
            out.cost_usd += c.cost_usd;
            if c.finish_reason.as_deref() == Some("length") {
                out.truncated += 1;
            }
            out.points.push(Point {
                tokens: spent(out),
                cost_usd: out.cost_usd,
                stored: out.stored.len(),
            });
            Some(c)
        }
        Err(e) => {
            eprintln!("a call failed: {e}");
            out.failed_calls += 1;
            None
        }
    }
}

/// The items of an answer, as the worker's parser takes them.
fn items_of(c: &Completion, prompt: &Prompt) -> Vec<String> {
    let truncated = c.finish_reason.as_deref() == Some("length");
    parse_answer(&c.text, truncated, prompt)
}

/// Duplicate sightings by the key's hash, each under its first spelling.
#[derive(Debug, Default)]
struct Tally {
    counts: HashMap<u128, (String, u32, usize)>,
}

impl Tally {
    fn record(&mut self, hash: u128, spelling: &str) {
        let order = self.counts.len();
        self.counts
            .entry(hash)
            .or_insert_with(|| (spelling.to_string(), 0, order))
            .1 += 1;
    }

    /// The most repeated items, most first (the first seen among equals).
    fn hint(&self) -> Vec<String> {
        let mut hot: Vec<&(String, u32, usize)> = self
            .counts
            .values()
            .filter(|(_, n, _)| *n >= AVOID_MIN_REPEATS)
            .collect();
        hot.sort_by_key(|(_, n, order)| (std::cmp::Reverse(*n), *order));
        hot.into_iter()
            .take(AVOID_ITEMS)
            .map(|(s, _, _)| s.clone())
            .collect()
    }
}

/// The judge's verdicts on stored lines, and what they cost.
#[derive(Debug, Default)]
pub struct Judged {
    pub verdicts: Vec<Answer>,
    pub calls: u32,
    pub failed_calls: u32,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub cost_usd: f64,
    /// Answered calls in which the parser found no label at all (the
    /// model repeated the items, say).
    pub unlabelled_calls: u32,
    /// Answered calls whose answer is a JSON list of another length than
    /// the lines asked about (the lines past its end stay `Unsure`).
    pub miscounted_calls: u32,
    /// The first answer, as the model wrote it.
    pub sample: Option<String>,
    /// Wall time of the judge's calls.
    pub seconds: f64,
}

/// Asks the judge about every line of `stored`, [`JUDGE_CHUNK`] at a time;
/// a chunk whose call fails stays `Unsure`.
pub async fn judge(provider: &Provider, topic: &str, stored: &[String]) -> Judged {
    let mut out = Judged::default();
    let started = std::time::Instant::now();
    for chunk in stored.chunks(JUDGE_CHUNK) {
        let prompt = prompt::judge(&JudgeRequest {
            v: VERSION,
            run_id: "truth-judge".into(),
            topic: topic.to_string(),
            items: chunk.to_vec(),
            weights: Default::default(),
        });
        match provider.complete(&prompt).await {
            Ok(c) => {
                out.calls += 1;
                out.tokens_in += c.tokens_in;
                out.tokens_out += c.tokens_out;
                out.cost_usd += c.cost_usd;
                let verdicts = parse_verdicts(&c.text, chunk);
                if verdicts.iter().all(|v| *v == Answer::Unsure) {
                    out.unlabelled_calls += 1;
                }
                if json_labels(&c.text).is_some_and(|n| n != chunk.len()) {
                    out.miscounted_calls += 1;
                }
                out.verdicts.extend(verdicts);
                out.sample.get_or_insert(c.text);
            }
            Err(e) => {
                eprintln!("a judge call failed: {e}");
                out.failed_calls += 1;
                out.verdicts.extend(vec![Answer::Unsure; chunk.len()]);
            }
        }
    }
    out.seconds = started.elapsed().as_secs_f64();
    out
}

/// How many verdicts an answer of the form `{"verdicts": [...]}` (or the
/// labels alone, `{"items": [...]}`) holds.
fn json_labels(text: &str) -> Option<usize> {
    let value: serde_json::Value = serde_json::from_str(text.trim()).ok()?;
    value
        .get("verdicts")
        .or_else(|| value.get("items"))?
        .as_array()
        .map(Vec::len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hint_names_the_most_repeated_first() {
        let mut t = Tally::default();
        for (hash, s) in [
            (1, "Ohio"),
            (2, "Utah"),
            (2, "utah"),
            (1, "ohio"),
            (1, "Ohio"),
            (3, "Iowa"),
        ] {
            t.record(hash, s);
        }
        // Iowa was repeated once: below the threshold.
        assert_eq!(t.hint(), ["Ohio", "Utah"]);
    }

    #[test]
    fn json_labels_counts_the_items_list() {
        for (text, expected) in [
            (r#"{"items": ["member", "other"]}"#, Some(2)),
            (" {\"items\": []}\n", Some(0)),
            ("1. member\n2. other", None),
            (r#"{"labels": ["member"]}"#, None),
            (
                r#"{"verdicts": [{"item": "A", "label": "member"}]}"#,
                Some(1),
            ),
        ] {
            assert_eq!(json_labels(text), expected, "{text}");
        }
    }
}
