//! `batches.jsonl`: one line per batch the coordinator counted, so that a
//! batch is counted once however often it arrives.
//!
//! JetStream delivers a batch again when the coordinator crashed before
//! acknowledging it, when it handed the batch back after a write error, or
//! when the ack wait ran out; a worker may also publish a batch again after
//! the stream's duplicate window. Its items deduplicate to nothing either
//! way, but its candidates, tokens, cost and sightings would be counted
//! twice: early budget stops, too optimistic coverage. So every counted
//! batch leaves a line here (its header without the items, what it added,
//! and the known items it sighted again: `sightings.rs`), and a batch whose
//! id is already here is not counted again.
//!
//! The line of a batch is synced before its items are written (see
//! `store::PendingSync`): after a crash, a batch is either not counted and
//! comes again to be counted, or counted with its items still to come, which
//! its redelivery writes without counting it. A restarted coordinator
//! rebuilds the run's statistics from these lines ([`replay`]), so the
//! counters are exactly those of the batches acknowledged or about to be.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom};
use std::path::Path;

use igentai_protocol::CandidateBatch;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_128_with_seed;

use crate::run::stats::BatchOutcome;
use crate::topic::sightings::Sighted;
use crate::topic::store::PendingSync;

pub const BATCHES: &str = "batches.jsonl";

/// Keeps batch id hashes apart from key hashes.
const BATCH_SEED: u64 = 0x0062_6174_6368;

/// One counted batch: when, what it added, its header (items left out:
/// they are in `items.jsonl`), and what it sighted again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchLine {
    pub at_ms: u64,
    pub outcome: BatchOutcome,
    pub batch: CandidateBatch,
    /// The known items its candidates named again (`sightings.rs`); left
    /// out when none, and absent from lines of earlier versions.
    #[serde(default, skip_serializing_if = "Sighted::is_empty")]
    pub sighted: Sighted,
}

impl BatchLine {
    pub fn new(
        batch: &CandidateBatch,
        outcome: BatchOutcome,
        sighted: Sighted,
        at_ms: u64,
    ) -> Self {
        let mut batch = batch.clone();
        batch.items = Vec::new();
        Self {
            at_ms,
            outcome,
            batch,
            sighted,
        }
    }
}

/// What opening the log reads of a line: its batch id only, so a large
/// log opens without building every header.
#[derive(Deserialize)]
struct Counted<'a> {
    #[serde(borrow)]
    batch: BatchId<'a>,
}

/// A line still to be summed into the sighting counts on open: its batch
/// id and its sightings.
#[derive(Deserialize)]
struct CountedSighted<'a> {
    #[serde(borrow)]
    batch: BatchId<'a>,
    #[serde(default)]
    sighted: Sighted,
}

#[derive(Deserialize)]
struct BatchId<'a> {
    #[serde(borrow)]
    batch_id: Cow<'a, str>,
}

/// A topic folder's counted batches: their ids, and lines appended since
/// the last sync.
pub struct BatchLog {
    file: File,
    buf: Vec<u8>,
    counted: HashSet<u128>,
    /// The file's length once every line handed to a sync is written.
    end: u64,
}

impl BatchLog {
    /// Opens (creating) `batches.jsonl` in `dir`, cutting a torn last line,
    /// and calls `sighted` with the sightings of every line starting at
    /// byte `from` or later (the lines the sighting counts do not hold
    /// yet). A line that cannot be read is skipped with a warning: its
    /// batch would be counted again if it came again, nothing else.
    pub fn open(dir: &Path, from: u64, mut sighted: impl FnMut(&[u64])) -> io::Result<BatchLog> {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(dir.join(BATCHES))?;
        let mut counted = HashSet::new();
        let mut unreadable = 0u64;
        let end = read_lines(&mut file, |start, line| {
            let id = match start >= from {
                true => serde_json::from_slice::<CountedSighted>(line).map(|line| {
                    sighted(&line.sighted.0);
                    id_hash(&line.batch.batch_id)
                }),
                false => serde_json::from_slice::<Counted>(line)
                    .map(|line| id_hash(&line.batch.batch_id)),
            };
            match id {
                Ok(id) => {
                    counted.insert(id);
                }
                Err(_) => unreadable += 1,
            }
        })?;
        if unreadable > 0 {
            tracing::warn!(folder = %dir.display(), unreadable, "skipped unreadable lines of batches.jsonl");
        }
        Ok(BatchLog {
            file,
            buf: Vec::new(),
            counted,
            end,
        })
    }

    /// The file's length once every line handed to a sync is written.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// Whether the batch `id` was counted before (now or in an earlier
    /// process).
    pub fn is_counted(&self, id: &str) -> bool {
        self.counted.contains(&id_hash(id))
    }

    /// Records `line`'s batch as counted, to be written with the next
    /// sync; returns the line as written (without its newline).
    pub fn append(&mut self, line: &BatchLine) -> &[u8] {
        self.counted.insert(id_hash(&line.batch.batch_id));
        let start = self.buf.len();
        serde_json::to_writer(&mut self.buf, line).expect("a batch line serializes");
        self.buf.push(b'\n');
        &self.buf[start..self.buf.len() - 1]
    }

    /// The lines appended since the last call, with a handle to write and
    /// sync them.
    pub fn take_for_sync(&mut self) -> io::Result<Option<PendingSync>> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let file = self.file.try_clone()?;
        let buf = std::mem::take(&mut self.buf);
        self.end += buf.len() as u64;
        Ok(Some(PendingSync::new(vec![(file, buf)])))
    }

    /// Batches counted into the folder.
    pub fn len(&self) -> usize {
        self.counted.len()
    }

    pub fn is_empty(&self) -> bool {
        self.counted.is_empty()
    }
}

fn id_hash(id: &str) -> u128 {
    xxh3_128_with_seed(id.as_bytes(), BATCH_SEED)
}

/// Calls `each` with every readable line of `dir`'s `batches.jsonl` whose
/// batch belongs to `run_id`, in order. `Ok(false)` when the folder has no
/// batch log (written by an older version).
pub fn replay(dir: &Path, run_id: &str, mut each: impl FnMut(BatchLine)) -> io::Result<bool> {
    let mut file = match File::open(dir.join(BATCHES)) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    file.seek(SeekFrom::Start(0))?;
    for line in BufReader::new(file).split(b'\n') {
        if let Ok(line) = serde_json::from_slice::<BatchLine>(&line?)
            && line.batch.run_id == run_id
        {
            each(line);
        }
    }
    Ok(true)
}

/// Reads complete lines from the start of `file` (each with where it
/// starts), cutting a torn last one; returns the length kept.
fn read_lines(file: &mut File, mut line: impl FnMut(u64, &[u8])) -> io::Result<u64> {
    file.seek(SeekFrom::Start(0))?;
    let mut reader = BufReader::new(&mut *file);
    let mut buf = Vec::new();
    let mut complete = 0u64;
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf)?;
        if n == 0 {
            break;
        }
        if buf.last() != Some(&b'\n') {
            break;
        }
        line(complete, &buf[..n - 1]);
        complete += n as u64;
    }
    drop(reader);
    if file.metadata()?.len() > complete {
        file.set_len(complete)?;
    }
    Ok(complete)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(id: &str, run: &str) -> CandidateBatch {
        serde_json::from_value(serde_json::json!({
            "batch_id": id, "run_id": run, "topic": "t", "worker_id": "w",
            "provider": "p", "model": "m", "items": ["a", "b"], "tokens_in": 3,
            "tokens_out": 4, "latency_ms": 5, "cost_usd": 0.25, "created_at_ms": 6
        }))
        .unwrap()
    }

    fn outcome(new: u64) -> BatchOutcome {
        BatchOutcome {
            candidates: 2,
            new,
            invalid: 0,
            near_duplicates: 0,
        }
    }

    #[test]
    fn counted_batches_survive_a_reopen_and_replay_by_run() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = BatchLog::open(dir.path(), 0, |_| {}).unwrap();
        assert!(!log.is_counted("b1"));
        log.append(&BatchLine::new(
            &batch("b1", "r1"),
            outcome(2),
            Sighted::default(),
            10,
        ));
        log.append(&BatchLine::new(
            &batch("b2", "r2"),
            outcome(1),
            Sighted::default(),
            11,
        ));
        assert!(log.is_counted("b1") && log.is_counted("b2"));
        log.take_for_sync()
            .unwrap()
            .unwrap()
            .write_and_sync()
            .unwrap();
        assert!(log.take_for_sync().unwrap().is_none());

        // A torn last line (a crash mid-write) is cut; its batch is not
        // counted and will be counted when it comes again.
        let path = dir.path().join(BATCHES);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(br#"{"at_ms":12,"outcome":"#);
        std::fs::write(&path, bytes).unwrap();

        let log = BatchLog::open(dir.path(), 0, |_| {}).unwrap();
        assert_eq!(log.len(), 2);
        assert!(log.is_counted("b1") && !log.is_counted("b3"));
        assert!(std::fs::read(&path).unwrap().ends_with(b"}\n"));

        let mut lines = Vec::new();
        assert!(replay(dir.path(), "r1", |l| lines.push(l)).unwrap());
        assert_eq!(lines.len(), 1);
        let line = &lines[0];
        assert_eq!(
            (line.at_ms, line.outcome, line.batch.batch_id.as_str()),
            (10, outcome(2), "b1")
        );
        // The header is kept, the items are not.
        assert_eq!((line.batch.cost_usd, line.batch.tokens_out), (0.25, 4));
        assert!(line.batch.items.is_empty());
    }

    #[test]
    fn a_folder_without_a_log_replays_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!replay(dir.path(), "r1", |_| panic!("no line")).unwrap());
    }
}
