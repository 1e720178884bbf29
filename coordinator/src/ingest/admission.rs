//! Admission: which readable candidate batches the coordinator lets in.
//!
//! A worker may speak only for itself, for a run the coordinator started,
//! and within what one LLM answer can be. So a batch is rejected (counted,
//! never clamped) when the worker id in its subject is not the one in its
//! body, when its batch id is not that worker's own (`<worker_id>-` and 128
//! random bits, `igentai_protocol::ids`), when its run was never started
//! on this data dir or its topic is not that run's topic, when it names a
//! provider its worker does not report in heartbeats, or when it claims
//! more items, tokens, cost or latency than one call can produce. nats-server already keeps a worker to its own
//! subject (`nats.conf`); these checks hold even for a batch published with
//! broader rights, and they are what keeps a claimed cost from ending a run
//! on budget.
//!
//! The runs started here are kept in `<data_dir>/runs.jsonl`, one line per
//! run, so batches of earlier runs (still in the stream after a restart)
//! land in their folder instead of being lost.

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use igentai_protocol::{CandidateBatch, ids, subjects};
use serde::{Deserialize, Serialize};

use crate::ingest::batch::Reject;
use crate::topic::folders::topic_key;

/// The ledger of runs started on a data dir.
pub const RUNS: &str = "runs.jsonl";

/// Items one batch may hold: an answer to at most 200 asked-for items
/// (`control::MAX_ITEMS_PER_REQUEST`) with room for a model that lists more.
pub const MAX_BATCH_ITEMS: usize = 2_000;

/// What one batch may claim.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Items in one batch.
    pub max_items: usize,
    /// Tokens (in + out) of one LLM call.
    pub max_tokens: u64,
    /// The highest price of any provider, in USD per million tokens: a
    /// batch may claim at most its tokens at this price.
    pub max_usd_per_mtok: f64,
}

/// One line of [`RUNS`].
#[derive(Debug, Serialize, Deserialize)]
struct Started {
    run_id: String,
    topic: String,
}

/// A run's topic as started, and its topic key: a batch names the topic as
/// its assignment spelled it, so the key is needed only when it does not.
/// The key is the one that picks the topic's folder, so a batch admitted
/// into a run is written to that run's folder.
#[derive(Debug, Clone, PartialEq)]
struct RunTopic {
    topic: String,
    key: String,
}

impl RunTopic {
    fn new(topic: &str) -> RunTopic {
        RunTopic {
            topic: topic.to_string(),
            key: topic_key(topic),
        }
    }

    fn matches(&self, topic: &str) -> bool {
        self.topic == topic || self.key == topic_key(topic)
    }
}

/// The runs started on a data dir and the limits of one batch.
#[derive(Debug)]
pub struct Admission {
    limits: Limits,
    runs: HashMap<String, RunTopic>,
    ledger: PathBuf,
    /// The providers each worker reports in its heartbeats.
    providers: Providers,
}

/// Worker id → the provider names its last heartbeat listed. A worker
/// not heard from yet (a coordinator just restarted, reading batches still
/// in the stream) is not judged on its provider.
pub type Providers = HashMap<String, Vec<String>>;

impl Admission {
    /// Reads the ledger of `data_dir` (a torn or unreadable line is
    /// skipped: it is a run whose start was never answered).
    pub fn load(data_dir: &Path, limits: Limits) -> io::Result<Admission> {
        let ledger = data_dir.join(RUNS);
        let text = match std::fs::read_to_string(&ledger) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e),
        };
        let runs = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Started>(l).ok())
            .map(|s| (s.run_id, RunTopic::new(&s.topic)))
            .collect();
        Ok(Admission {
            limits,
            runs,
            ledger,
            providers: Providers::new(),
        })
    }

    /// Records a run as started here (synced before it returns, so a run
    /// whose start was answered is known after any crash).
    pub fn remember(&mut self, run_id: &str, topic: &str) -> io::Result<()> {
        if self.runs.contains_key(run_id) {
            return Ok(());
        }
        let mut line = serde_json::to_vec(&Started {
            run_id: run_id.to_string(),
            topic: topic.to_string(),
        })?;
        line.push(b'\n');
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.ledger)?;
        // A torn last line (a crash mid-write) would swallow this one.
        if file.metadata()?.len() > 0 && !ends_with_newline(&self.ledger)? {
            file.write_all(b"\n")?;
        }
        file.write_all(&line)?;
        file.sync_data()?;
        self.runs.insert(run_id.to_string(), RunTopic::new(topic));
        Ok(())
    }

    /// Whether `batch` (with `items` items, read from `subject`) may come in.
    pub fn check(&self, batch: &CandidateBatch, items: usize, subject: &str) -> Result<(), Reject> {
        check(
            &self.runs,
            &self.providers,
            &self.limits,
            batch,
            items,
            subject,
        )
    }

    /// Learns the providers `worker_id` has, from its heartbeat.
    pub fn observe_providers<'a>(
        &mut self,
        worker_id: &str,
        names: impl IntoIterator<Item = &'a str>,
    ) {
        let names: Vec<String> = names.into_iter().map(str::to_string).collect();
        match self.providers.get_mut(worker_id) {
            Some(known) if *known == names => {}
            Some(known) => *known = names,
            None => {
                self.providers.insert(worker_id.to_string(), names);
            }
        }
    }

    /// What one call may claim (partition jobs are held to it too).
    pub fn limits(&self) -> Limits {
        self.limits
    }
}

fn ends_with_newline(path: &Path) -> io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path)?;
    file.seek(SeekFrom::End(-1))?;
    let mut last = [0u8];
    file.read_exact(&mut last)?;
    Ok(last[0] == b'\n')
}

fn check(
    runs: &HashMap<String, RunTopic>,
    providers: &Providers,
    limits: &Limits,
    batch: &CandidateBatch,
    items: usize,
    subject: &str,
) -> Result<(), Reject> {
    if subjects::candidates_worker(subject) != Some(batch.worker_id.as_str()) {
        return Err(Reject::WrongWorker {
            subject: subject.to_string(),
            worker_id: batch.worker_id.clone(),
        });
    }
    // Another worker's id would make that worker's own batch a repeat,
    // neither counted nor in the items ledger.
    if !ids::batch_id_of(&batch.batch_id, &batch.worker_id) {
        return Err(Reject::ForeignBatchId {
            batch_id: batch.batch_id.clone(),
            worker_id: batch.worker_id.clone(),
        });
    }
    match runs.get(&batch.run_id) {
        None => return Err(Reject::UnknownRun(batch.run_id.clone())),
        Some(topic) if !topic.matches(&batch.topic) => {
            return Err(Reject::WrongTopic(batch.run_id.clone()));
        }
        Some(_) => {}
    }
    if let Some(known) = providers.get(&batch.worker_id)
        && !known.contains(&batch.provider)
    {
        return Err(Reject::UnknownProvider {
            provider: batch.provider.clone(),
            worker_id: batch.worker_id.clone(),
        });
    }
    if batch.latency_ms > ids::MAX_LATENCY_MS {
        return Err(Reject::OverLimit(format!(
            "a call of {} ms; the limit is {} ms",
            batch.latency_ms,
            ids::MAX_LATENCY_MS
        )));
    }
    if batch.tokens_cached_in > batch.tokens_in {
        return Err(Reject::OverLimit(format!(
            "{} cached input tokens of {} input tokens",
            batch.tokens_cached_in, batch.tokens_in
        )));
    }
    check_spend(
        limits,
        items,
        batch.tokens_in,
        batch.tokens_out,
        batch.cost_usd,
    )
}

/// Whether `items` items, these tokens and this cost are what one call
/// can produce (a partition job's answer is held to the same, with no
/// items).
pub fn check_spend(
    limits: &Limits,
    items: usize,
    tokens_in: u64,
    tokens_out: u64,
    cost_usd: f64,
) -> Result<(), Reject> {
    if items > limits.max_items {
        return Err(Reject::OverLimit(format!(
            "{items} items; the limit is {}",
            limits.max_items
        )));
    }
    let tokens = tokens_in.saturating_add(tokens_out);
    if tokens > limits.max_tokens {
        return Err(Reject::OverLimit(format!(
            "{tokens} tokens; the limit is {}",
            limits.max_tokens
        )));
    }
    // Tokens at the highest price, with room for rounding in the worker's
    // own arithmetic.
    let ceiling = tokens as f64 * limits.max_usd_per_mtok / 1e6 * (1.0 + 1e-9);
    if !(cost_usd >= 0.0 && cost_usd <= ceiling) {
        return Err(Reject::OverLimit(format!(
            "cost ${cost_usd} for {tokens} tokens; the limit is ${ceiling:.6} (${} per million tokens)",
            limits.max_usd_per_mtok
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_items: 3,
        max_tokens: 1_000,
        max_usd_per_mtok: 10.0,
    };

    fn batch() -> CandidateBatch {
        CandidateBatch {
            v: 1,
            batch_id: "w1-0123456789abcdef0123456789abcdef".into(),
            run_id: "cheese-1".into(),
            topic: "Rare cheeses".into(),
            worker_id: "w1".into(),
            provider: "sim".into(),
            model: "m".into(),
            partition: None,
            items: Vec::new(),
            tokens_in: 400,
            tokens_cached_in: 0,
            tokens_out: 100,
            latency_ms: 1,
            cost_usd: 0.005,
            finish_reason: None,
            request_id: None,
            created_at_ms: 0,
        }
    }

    /// A change to a batch, its item count and its subject.
    type Edit = Box<dyn FnOnce(&mut CandidateBatch, &mut usize, &mut String)>;

    /// `edit` applied to a good batch of 2 items from `igentai.candidates.w1`
    /// is admitted (`None`) or rejected with this kind.
    fn check_case(edit: Edit) -> Option<&'static str> {
        let runs = HashMap::from([("cheese-1".to_string(), RunTopic::new("Rare cheeses"))]);
        let providers = Providers::from([
            (
                "w1".to_string(),
                vec!["sim".to_string(), "other".to_string()],
            ),
            ("w2".to_string(), vec!["sim".to_string()]),
        ]);
        let (mut b, mut items, mut subject) = (batch(), 2, subjects::candidates("w1"));
        edit(&mut b, &mut items, &mut subject);
        check(&runs, &providers, &LIMITS, &b, items, &subject)
            .err()
            .map(|r| r.kind())
    }

    #[test]
    fn admits_only_what_a_worker_may_claim() {
        let cases: Vec<(&str, Option<&str>, Edit)> = vec![
            ("good", None, Box::new(|_, _, _| {})),
            (
                "topic spelled differently",
                None,
                Box::new(|b, _, _| b.topic = "rare  CHEESES".into()),
            ),
            (
                "at every limit",
                None,
                Box::new(|b, i, _| {
                    *i = 3;
                    (b.tokens_in, b.tokens_out, b.cost_usd) = (600, 400, 0.01);
                }),
            ),
            (
                "another worker's id",
                Some("wrong_worker"),
                Box::new(|b, _, _| b.worker_id = "w2".into()),
            ),
            (
                "another worker's batch id",
                Some("foreign_batch_id"),
                Box::new(|b, _, _| b.batch_id = "w2-0123456789abcdef0123456789abcdef".into()),
            ),
            (
                "a guessable batch id",
                Some("foreign_batch_id"),
                Box::new(|b, _, _| b.batch_id = "w1-18c2f3a9b00-7".into()),
            ),
            (
                "a worker not heard from yet",
                None,
                Box::new(|b, _, s| {
                    (b.worker_id, b.provider) = ("w3".into(), "anything".into());
                    b.batch_id = "w3-0123456789abcdef0123456789abcdef".into();
                    *s = subjects::candidates("w3");
                }),
            ),
            (
                "another provider of the worker",
                None,
                Box::new(|b, _, _| b.provider = "other".into()),
            ),
            (
                "a provider the worker does not have",
                Some("unknown_provider"),
                Box::new(|b, _, _| b.provider = "expensive".into()),
            ),
            (
                "an hour-long call",
                None,
                Box::new(|b, _, _| b.latency_ms = ids::MAX_LATENCY_MS),
            ),
            (
                "1e15 ms",
                Some("over_limit"),
                Box::new(|b, _, _| b.latency_ms = 1_000_000_000_000_000),
            ),
            (
                "every input token cached",
                None,
                Box::new(|b, _, _| b.tokens_cached_in = b.tokens_in),
            ),
            (
                "more cached tokens than input tokens",
                Some("over_limit"),
                Box::new(|b, _, _| b.tokens_cached_in = b.tokens_in + 1),
            ),
            (
                "not a candidate subject",
                Some("wrong_worker"),
                Box::new(|_, _, s| *s = "igentai.heartbeat.w1".into()),
            ),
            (
                "unknown run",
                Some("unknown_run"),
                Box::new(|b, _, _| b.run_id = "forged-1".into()),
            ),
            (
                "another topic",
                Some("wrong_topic"),
                Box::new(|b, _, _| b.topic = "Paris".into()),
            ),
            (
                "too many items",
                Some("over_limit"),
                Box::new(|_, i, _| *i = 4),
            ),
            (
                "too many tokens",
                Some("over_limit"),
                Box::new(|b, _, _| b.tokens_out = 601),
            ),
            (
                "tokens overflow",
                Some("over_limit"),
                Box::new(|b, _, _| b.tokens_in = u64::MAX),
            ),
            (
                "cost above the price ceiling",
                Some("over_limit"),
                Box::new(|b, _, _| b.cost_usd = 0.0051),
            ),
            (
                "1e300",
                Some("over_limit"),
                Box::new(|b, _, _| b.cost_usd = 1e300),
            ),
            (
                "negative cost",
                Some("over_limit"),
                Box::new(|b, _, _| b.cost_usd = -1.0),
            ),
            (
                "NaN cost",
                Some("over_limit"),
                Box::new(|b, _, _| b.cost_usd = f64::NAN),
            ),
        ];
        for (name, expected, edit) in cases {
            assert_eq!(check_case(edit), expected, "{name}");
        }
    }

    #[test]
    fn a_batch_is_of_a_run_exactly_when_it_is_of_the_run_s_folder() {
        for (run, batch) in [
            ("Films (1990s)", "Films (1990s)!"),
            ("Films (1990s)", "Films 1990s"),
            ("Python - web frameworks", "Python - testing tools"),
            ("Python - web frameworks", "Python"),
            ("The Beatles songs", "beatles-songs"),
            ("Rare cheeses", "rare  CHEESES"),
            ("C++ libraries", "C libraries"),
        ] {
            assert_eq!(
                RunTopic::new(run).matches(batch),
                topic_key(run) == topic_key(batch),
                "{run:?} / {batch:?}"
            );
        }
    }

    #[test]
    fn the_ledger_survives_a_restart_and_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let mut admission = Admission::load(dir.path(), LIMITS).unwrap();
        let b = batch();
        let subject = subjects::candidates("w1");
        assert_eq!(
            admission.check(&b, 1, &subject).unwrap_err().kind(),
            "unknown_run"
        );
        admission.remember("cheese-1", "Rare cheeses").unwrap();
        admission.remember("cheese-1", "Rare cheeses").unwrap();
        assert_eq!(admission.check(&b, 1, &subject), Ok(()));
        // A crash in the middle of the next line.
        let ledger = dir.path().join(RUNS);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&ledger)
            .unwrap();
        f.write_all(br#"{"run_id":"tor"#).unwrap();
        let mut again = Admission::load(dir.path(), LIMITS).unwrap();
        assert_eq!(again.check(&b, 1, &subject), Ok(()));
        again.remember("paris-2", "Paris").unwrap();
        let reloaded = Admission::load(dir.path(), LIMITS).unwrap();
        let mut paris = batch();
        (paris.run_id, paris.topic) = ("paris-2".into(), "Paris".into());
        assert_eq!(reloaded.check(&paris, 1, &subject), Ok(()));
        assert_eq!(std::fs::read_to_string(&ledger).unwrap().lines().count(), 3);
    }
}
