//! Judging: which of a run's new items are real instances of its topic.
//!
//! A run judges a share of its new items (`judge_rate`: all, a sample, or
//! none). [`Judging`] reads the run's item records from its topic's
//! `items.jsonl` as they are committed (a tail: each record once, from the
//! start after a restart or a reopened folder), keeps those sampled and
//! without a verdict, and hands them out in jobs of up to `batch` items;
//! the coordinator sends each job to one worker (`igentai.jobs.judge`) and
//! records the verdicts it brings back (`Topic::add_verdict`: once per
//! item, whatever comes again). A job that fails puts its items back, up
//! to [`MAX_ATTEMPTS`] times.
//!
//! Sampling is a function of the item's key, so a restarted coordinator,
//! or another host restoring the folder, samples the same items.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Seek, SeekFrom};

use igentai_protocol::RunInfo;
use xxhash_rust::xxh3::xxh3_64;

use crate::keys::normalize::normalize;
use crate::topic::Topic;
use crate::topic::record::{ALIAS_PREFIX, ItemRecord, VERDICT_PREFIX};
use crate::topic::store::ITEMS;

/// Times an item is sent to a judge before it is left without a verdict.
pub const MAX_ATTEMPTS: u32 = 3;

/// Items kept ready beyond those in flight: enough for the next jobs.
const READ_AHEAD: usize = 400;

/// An item waiting for its verdict, with its provenance.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub seq: u64,
    pub item: String,
    pub provider: String,
    pub model: String,
    pub partition: Option<String>,
    attempts: u32,
}

/// Whether the item `item` is among the share `rate` of items judged: the
/// same answer on every host.
pub fn sampled(item: &str, rate: f64) -> bool {
    if rate >= 1.0 {
        return true;
    }
    if rate <= 0.0 {
        return false;
    }
    let h = xxh3_64(normalize(item).as_bytes());
    (h as f64) < rate * u64::MAX as f64
}

/// One run's judging.
#[derive(Debug)]
pub struct Judging {
    pub run_id: String,
    pub topic: String,
    pub rate: f64,
    /// The provider asked, when the run names one.
    pub provider: Option<String>,
    /// Whether the judge confirms what its labels accept.
    pub confirm: bool,
    /// Whether the topic's members form a closed list.
    pub closed: bool,
    batch: usize,
    /// Bytes of `items.jsonl` read.
    offset: u64,
    queue: VecDeque<Pending>,
    in_flight: HashMap<u64, Vec<Pending>>,
    next_job: u64,
    /// Items left without a verdict after [`MAX_ATTEMPTS`] failed jobs.
    pub given_up: u64,
}

impl Judging {
    /// The judging of `run`, `None` when it judges nothing.
    pub fn for_run(run: &RunInfo, batch: usize) -> Option<Judging> {
        (run.judge_rate > 0.0).then(|| Judging {
            run_id: run.run_id.clone(),
            topic: run.topic.clone(),
            rate: run.judge_rate,
            provider: run.judge_provider.clone(),
            confirm: run.judge_confirm,
            closed: run.judge_closed,
            batch: batch.clamp(1, igentai_protocol::MAX_JUDGE_ITEMS),
            offset: 0,
            queue: VecDeque::new(),
            in_flight: HashMap::new(),
            next_job: 0,
            given_up: 0,
        })
    }

    /// Starts reading the folder again from the start (it was reopened:
    /// what it holds may differ from what was read). Jobs in flight still
    /// count: their verdicts are checked against the folder.
    pub fn reset(&mut self) {
        self.offset = 0;
        self.queue.clear();
    }

    /// Items waiting for a verdict: queued or in a job.
    pub fn waiting(&self) -> u64 {
        (self.queue.len() + self.in_flight.values().map(Vec::len).sum::<usize>()) as u64
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Reads the run's committed item records that `topic`'s
    /// `items.jsonl` gained since the last call, queueing those sampled
    /// and without a verdict (up to [`READ_AHEAD`] queued).
    pub fn read(&mut self, topic: &Topic) -> io::Result<()> {
        if self.queue.len() >= READ_AHEAD {
            return Ok(());
        }
        let mut file = match File::open(topic.dir().join(ITEMS)) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        file.seek(SeekFrom::Start(self.offset))?;
        let mut reader = BufReader::new(file);
        let mut line = Vec::with_capacity(256);
        let in_flight: std::collections::HashSet<u64> =
            self.in_flight.values().flatten().map(|p| p.seq).collect();
        while self.queue.len() < READ_AHEAD {
            line.clear();
            let n = reader.read_until(b'\n', &mut line)?;
            if n == 0 || line.last() != Some(&b'\n') {
                break;
            }
            let record = &line[..n - 1];
            if record.starts_with(ALIAS_PREFIX) || record.starts_with(VERDICT_PREFIX) {
                self.offset += n as u64;
                continue;
            }
            let Ok(record) = serde_json::from_slice::<ItemRecord>(record) else {
                self.offset += n as u64;
                continue;
            };
            // Not committed yet: read again next time.
            if record.seq > topic.committed_len() {
                break;
            }
            self.offset += n as u64;
            if record.run == self.run_id
                && topic.verdict(record.seq).is_none()
                && !in_flight.contains(&record.seq)
                && sampled(&record.item, self.rate)
            {
                self.queue.push_back(Pending {
                    seq: record.seq,
                    item: record.item,
                    provider: record.provider,
                    model: record.model,
                    partition: record.partition,
                    attempts: 0,
                });
            }
        }
        Ok(())
    }

    /// The next job: its id and up to `batch` items, or `None` when none wait.
    pub fn next_job(&mut self) -> Option<(u64, Vec<String>)> {
        if self.queue.is_empty() {
            return None;
        }
        let take = self.batch.min(self.queue.len());
        let items: Vec<Pending> = self.queue.drain(..take).collect();
        self.next_job += 1;
        let texts = items.iter().map(|p| p.item.clone()).collect();
        self.in_flight.insert(self.next_job, items);
        Some((self.next_job, texts))
    }

    /// The items of an answered job (`None` for a job this run did not
    /// send, or answered already).
    pub fn done(&mut self, job: u64) -> Option<Vec<Pending>> {
        self.in_flight.remove(&job)
    }

    /// A job failed: its items wait again, unless they failed too often.
    pub fn failed(&mut self, job: u64) {
        let Some(items) = self.in_flight.remove(&job) else {
            return;
        };
        for mut p in items.into_iter().rev() {
            p.attempts += 1;
            match p.attempts >= MAX_ATTEMPTS {
                true => self.given_up += 1,
                false => self.queue.push_front(p),
            }
        }
    }
}

#[cfg(test)]
mod tests;
