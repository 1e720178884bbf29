//! `batches.jsonl`: one line per batch the coordinator counted, so that a
//! batch is counted once however often it arrives.
//!
//! JetStream delivers a batch again when the coordinator crashed before
//! acknowledging it, when it handed the batch back after a write error, or
//! when the ack wait ran out; a worker may also publish a batch again after
//! the stream's duplicate window. Its items deduplicate to nothing either
//! way, but its candidates, tokens, cost and sightings would be counted
//! twice: early budget stops, too optimistic coverage. So every counted
//! batch leaves a line here (its header without the items, and what it
//! added), and a batch whose id is already here is not counted again.
//!
//! The line of a batch is synced before its items are written (see
//! `store::PendingSync`): after a crash, a batch is either not counted and
//! comes again to be counted, or counted with its items still to come, which
//! its redelivery writes without counting it. A restarted coordinator
//! rebuilds the run's statistics from these lines ([`replay`]), so the
//! counters are exactly those of the batches acknowledged or about to be.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom};
use std::path::Path;

use igentai_protocol::CandidateBatch;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_128_with_seed;

use crate::run::stats::BatchOutcome;
use crate::topic::store::PendingSync;

pub const BATCHES: &str = "batches.jsonl";

/// Keeps batch id hashes apart from key hashes.
const BATCH_SEED: u64 = 0x0062_6174_6368;

/// One counted batch: when, what it added, and its header (items left out:
/// they are in `items.jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchLine {
    pub at_ms: u64,
    pub outcome: BatchOutcome,
    pub batch: CandidateBatch,
}

impl BatchLine {
    pub fn new(batch: &CandidateBatch, outcome: BatchOutcome, at_ms: u64) -> Self {
        let mut batch = batch.clone();
        batch.items = Vec::new();
        Self {
            at_ms,
            outcome,
            batch,
        }
    }
}

/// A topic folder's counted batches: their ids, and lines appended since
/// the last sync.
pub struct BatchLog {
    file: File,
    buf: Vec<u8>,
    counted: HashSet<u128>,
}

impl BatchLog {
    /// Opens (creating) `batches.jsonl` in `dir`, cutting a torn last line.
    /// A line that cannot be read is skipped with a warning: its batch
    /// would be counted again if it came again, nothing else.
    pub fn open(dir: &Path) -> io::Result<BatchLog> {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(dir.join(BATCHES))?;
        let mut counted = HashSet::new();
        let mut unreadable = 0u64;
        read_lines(&mut file, |line| {
            match serde_json::from_slice::<BatchLine>(line) {
                Ok(line) => {
                    counted.insert(id_hash(&line.batch.batch_id));
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
        })
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
        let buf = std::mem::take(&mut self.buf);
        Ok(Some(PendingSync::new(vec![(self.file.try_clone()?, buf)])))
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

/// Reads complete lines from the start of `file`, cutting a torn last one.
fn read_lines(file: &mut File, mut line: impl FnMut(&[u8])) -> io::Result<()> {
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
        complete += n as u64;
        line(&buf[..n - 1]);
    }
    drop(reader);
    if file.metadata()?.len() > complete {
        file.set_len(complete)?;
    }
    Ok(())
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
        let mut log = BatchLog::open(dir.path()).unwrap();
        assert!(!log.is_counted("b1"));
        log.append(&BatchLine::new(&batch("b1", "r1"), outcome(2), 10));
        log.append(&BatchLine::new(&batch("b2", "r2"), outcome(1), 11));
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

        let log = BatchLog::open(dir.path()).unwrap();
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
