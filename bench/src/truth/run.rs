//! One strategy on one universe against a real model, at a token budget:
//! the calls, what the worker's parser takes from each answer, and what
//! the coordinator's topic folder stores of it, and the judge's verdict on
//! every stored line, asked while the run goes on as a run asks it.
//!
//! The product's own pieces do the work: prompts from `worker::prompt`,
//! the call through the worker's OpenAI-compatible provider, answers read
//! by `worker::parse`, dedup by a real `coordinator::Topic` in a scratch
//! folder (vetting, the exact key, the name key and its near-duplicate
//! merge, the sighting counts behind Chao1), and the steering by the
//! coordinator's own `Steering` (partition tree, arms, avoid tallies) for
//! [`WORKERS`] workers taking turns on the one server, its clock the
//! bench's own.

use std::borrow::Cow;
use std::cell::Cell;
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use coordinator::{Run, Scratch, Steering, Topic};
use igentai_protocol::{
    Answer, CandidateBatch, Estimate, ItemsEvent, JudgeRequest, PartitionRequest, StartRequest,
    Strategies, VERSION,
};
use worker::jobs::judge::{Answerer, JudgedTopic, TopicAnswers, second_verdict};
use worker::parse::{parse_answer, parse_verdicts};
use worker::prompt::{self, Prompt};
use worker::providers::{Completion, Provider};

/// Items asked for per call: the coordinator's default.
pub const ITEMS_PER_REQUEST: u32 = 20;
/// The fleet the steering plans for; they take turns on the one server.
pub const WORKERS: usize = 4;
/// Stored lines judged per call.
pub const JUDGE_CHUNK: usize = 20;
/// Calls that fail in a row before a run gives up.
const MAX_FAILURES: u32 = 5;
/// The provider's name in the steering's weights.
const PROVIDER: &str = "local";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Every strategy off (`--no-weights --no-partitions --no-avoid`): the
    /// plain prompt of `worker::prompt::build`, again and again.
    None,
    /// Every strategy on, as a run starts by default: the coordinator's
    /// steering decides partitions (when to split, which to work, which
    /// to retire), the broad prompt's share and the avoid hints.
    All,
}

impl Strategy {
    pub fn name(self) -> &'static str {
        match self {
            Strategy::None => "none",
            Strategy::All => "all",
        }
    }

    fn strategies(self) -> Strategies {
        match self {
            Strategy::None => Strategies {
                weights: false,
                partitions: false,
                avoid: false,
            },
            Strategy::All => Strategies::default(),
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
    /// Every sub-category the steering was given, by its path.
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
/// are spent; `dir` holds the scratch topic folder. As a run does, `judge`
/// is asked about the new stored lines [`JUDGE_CHUNK`] at a time while the
/// run goes on (the last ones at its end), and the steering hears each
/// verdict; the judge's spend is booked apart, in the `Judged`.
pub async fn collect(
    provider: &Provider,
    judge: Judge<'_>,
    topic: &str,
    strategy: Strategy,
    budget: u64,
    dir: &Path,
) -> anyhow::Result<(Collected, Judged)> {
    let (mut folder, _) = Topic::open(dir, topic).context("open the scratch topic folder")?;
    let mut scratch = Scratch::default();
    let mut out = Collected::default();
    let mut failures = 0;
    let run_id = format!("truth-{}", strategy.name());
    let request = StartRequest {
        topic: topic.to_string(),
        strategies: strategy.strategies(),
        items_per_request: Some(ITEMS_PER_REQUEST),
        ..Default::default()
    };
    let run = Run::new(&request, "truth", dir, 0, 0);
    let mut steering = Steering::new(strategy.strategies(), None);
    let workers: Vec<String> = (1..=WORKERS).map(|i| format!("w{i}")).collect();
    let providers = [PROVIDER.to_string()];
    let started = Instant::now();
    let now = || started.elapsed().as_millis() as u64;
    let mut turn = 0usize;
    let mut judged = Judged::default();
    // Stored lines not judged yet, with the partition that found them.
    let mut unjudged: Vec<(String, Option<String>)> = Vec::new();
    while spent(&out) < budget {
        let plan = steering.tick(&providers, &workers, now());
        for parent in plan.split {
            let request = PartitionRequest {
                v: VERSION,
                run_id: run_id.clone(),
                topic: topic.to_string(),
                parent: parent.clone(),
                count: steering.fanout(),
                weights: Default::default(),
            };
            let prompt = prompt::partitions(&request);
            let before = (out.tokens_in + out.tokens_out, out.cost_usd);
            // As the coordinator takes a split: names of found items are
            // members, not sub-categories.
            let names = match call(provider, &prompt, &mut out).await {
                Some(c) => folder.sub_categories(items_of(&c, &prompt), &mut scratch),
                None => Err("the call failed".to_string()),
            };
            steering.charge_split(
                out.tokens_in + out.tokens_out - before.0,
                out.cost_usd - before.1,
            );
            let prefix = parent.map(|p| format!("{p} > ")).unwrap_or_default();
            if let Ok(names) = &names {
                out.partitions
                    .extend(names.iter().map(|n| format!("{prefix}{n}")));
            }
            steering.split_done(request.parent.as_deref(), names);
        }
        let worker = &workers[turn % WORKERS];
        turn += 1;
        let assignment = steering.assignment(&run, worker, now());
        let prompt = prompt::build(&assignment);
        let asked = Instant::now();
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
                partition: assignment.partition.is_some(),
                avoid: !assignment.avoid.is_empty(),
                item: item.clone(),
            });
        }
        let batch = CandidateBatch {
            v: VERSION,
            batch_id: format!("{run_id}-{}", out.calls),
            run_id: run_id.clone(),
            topic: topic.to_string(),
            worker_id: worker.clone(),
            provider: PROVIDER.into(),
            model: c.model.clone(),
            partition: assignment.partition.clone(),
            items: vec![],
            tokens_in: c.tokens_in,
            tokens_cached_in: c.tokens_cached_in,
            tokens_out: c.tokens_out,
            latency_ms: asked.elapsed().as_millis() as u64,
            cost_usd: c.cost_usd,
            finish_reason: c.finish_reason.clone(),
            request_id: c.request_id.clone(),
            created_at_ms: 0,
        };
        let cows: Vec<Cow<'_, str>> = items.iter().map(|s| Cow::Borrowed(s.as_str())).collect();
        let taken = folder.take(&batch, &cows, "1970-01-01T00:00:00Z", 0, &mut scratch);
        steering.observe(&batch, taken.outcome, &scratch.duplicates(), now());
        if let Some(event) = taken.event {
            let event: ItemsEvent =
                serde_json::from_slice(&event).context("the topic's items event")?;
            for item in event.items {
                out.stored.push(item.text.clone());
                unjudged.push((item.text, assignment.partition.clone()));
            }
        }
        if unjudged.len() >= JUDGE_CHUNK {
            judge_lines(judge, topic, &mut unjudged, &mut judged, &mut steering).await;
        }
        folder
            .write_all()
            .context("write the scratch topic folder")?;
        if let Some(last) = out.points.last_mut() {
            last.stored = out.stored.len();
        }
    }
    judge_lines(judge, topic, &mut unjudged, &mut judged, &mut steering).await;
    out.estimate = folder.estimate();
    Ok((out, judged))
}

/// Judges the lines in `unjudged` (emptying it), records the verdicts in
/// `judged` and tells the steering each, under the partition that found it.
async fn judge_lines(
    judge: Judge<'_>,
    topic: &str,
    unjudged: &mut Vec<(String, Option<String>)>,
    judged: &mut Judged,
    steering: &mut Steering,
) {
    for chunk in std::mem::take(unjudged).chunks(JUDGE_CHUNK) {
        let lines: Vec<String> = chunk.iter().map(|(l, _)| l.clone()).collect();
        let verdicts = judge_chunk(judge, topic, &lines, judged).await;
        for ((_, partition), verdict) in chunk.iter().zip(verdicts) {
            steering.observe_verdict(PROVIDER, partition.as_deref(), verdict);
        }
    }
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
    /// Second questions asked of the model (a few per line the labels
    /// called a member; a topic answer recalled is free and not counted),
    /// and the "yes" their answers overturned.
    pub second_calls: u32,
    pub overturned: u32,
    /// Wall time of the judge's calls.
    pub seconds: f64,
    /// The judge's answers about the topic alone, asked once a run as a
    /// worker asks them once (`TopicAnswers`).
    pub topic_answers: TopicAnswers,
}

impl Judged {
    /// Adds what an answered call cost.
    fn book(&mut self, c: &Completion) {
        self.tokens_in += c.tokens_in;
        self.tokens_out += c.tokens_out;
        self.cost_usd += c.cost_usd;
    }
}

/// The judge a run asks, and whether it confirms each line its labels
/// accept with the second questions (a run's `judge_confirm`).
#[derive(Clone, Copy)]
pub struct Judge<'a> {
    pub provider: &'a Provider,
    pub confirm: bool,
    /// The universe is a closed list, as a run's `judge_closed` says.
    pub closed: bool,
}

/// Asks `judge` about every line of `stored`, [`JUDGE_CHUNK`] at a time.
pub async fn judge(judge: Judge<'_>, topic: &str, stored: &[String]) -> Judged {
    let mut out = Judged::default();
    for chunk in stored.chunks(JUDGE_CHUNK) {
        judge_chunk(judge, topic, chunk, &mut out).await;
    }
    out
}

/// One judge call about `lines`, booked in `out`; its verdicts (all
/// `Unsure` when the call fails).
async fn judge_chunk(
    Judge {
        provider,
        confirm,
        closed,
    }: Judge<'_>,
    topic: &str,
    lines: &[String],
    out: &mut Judged,
) -> Vec<Answer> {
    let started = std::time::Instant::now();
    let prompt = prompt::judge(&JudgeRequest {
        v: VERSION,
        run_id: "truth-judge".into(),
        topic: topic.to_string(),
        items: lines.to_vec(),
        weights: Default::default(),
        confirm,
        closed,
    });
    let verdicts = match provider.complete(&prompt).await {
        Ok(c) => {
            out.calls += 1;
            out.book(&c);
            let verdicts = parse_verdicts(&c.text, lines);
            if verdicts.iter().all(|v| *v == Answer::Unsure) {
                out.unlabelled_calls += 1;
            }
            if json_labels(&c.text).is_some_and(|n| n != lines.len()) {
                out.miscounted_calls += 1;
            }
            out.sample.get_or_insert(c.text);
            verdicts
        }
        Err(e) => {
            eprintln!("a judge call failed: {e}");
            out.failed_calls += 1;
            vec![Answer::Unsure; lines.len()]
        }
    };
    let verdicts = match confirm {
        true => {
            let topic = JudgedTopic {
                name: topic,
                closed,
            };
            second_questions(provider, topic, lines, verdicts, out).await
        }
        false => verdicts,
    };
    out.verdicts.extend(verdicts.iter().copied());
    out.seconds += started.elapsed().as_secs_f64();
    verdicts
}

/// The judge's second questions about each line it called a member, as a
/// worker's judge job asks it (`worker::jobs::judge::second_verdict`).
async fn second_questions(
    provider: &Provider,
    topic: JudgedTopic<'_>,
    lines: &[String],
    mut verdicts: Vec<Answer>,
    out: &mut Judged,
) -> Vec<Answer> {
    let by: Answerer = ("judge".to_string(), provider.model().to_string());
    for (line, verdict) in lines.iter().zip(verdicts.iter_mut()) {
        if *verdict != Answer::Yes {
            continue;
        }
        let (answers, made) = (&out.topic_answers, Cell::new(0));
        let ask = |prompt: Prompt| {
            let call = |prompt: Prompt| {
                made.set(made.get() + 1);
                async move { provider.complete(&prompt).await }
            };
            answers.ask(&by, prompt, call)
        };
        let (second, paid) = second_verdict(topic, line, ask).await;
        out.second_calls += made.get();
        for c in &paid {
            out.book(c);
        }
        match second {
            Answer::Yes => {}
            Answer::No => out.overturned += 1,
            Answer::Unsure => {
                eprintln!("a second question failed about {line:?}");
                out.failed_calls += 1;
            }
        }
        *verdict = second;
    }
    verdicts
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
