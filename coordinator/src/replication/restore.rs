//! Restoring a topic from the items ledger (`ledger.rs`), and the other
//! way round.
//!
//! When a topic is opened, [`catch_up`] reads what the ledger holds for it
//! beyond the folder's mark and applies it (`Topic::apply`, idempotent):
//! a fresh data dir (another host) gets the whole topic, a folder left
//! behind while another host owned the run gets what it missed, a current
//! one reads nothing. A folder the ledger holds nothing of (written before
//! the ledger existed, or its stream was deleted) is published to it
//! instead ([`backfill`]), so that any host can restore it later.

use std::io::{self, BufRead};
use std::path::Path;

use crate::keys::normalize::{Normalizer, key_hash};
use crate::replication::ledger::{self, Entry, Ledger, Outbox};
use crate::topic::batchlog::BatchLine;
use crate::topic::{Apply, Topic};

/// Ledger entries applied between two writes of a restoring folder.
const RESTORE_FLUSH: usize = 100_000;

/// Applies what the items ledger holds for `topic` beyond the folder's
/// mark, and makes it durable before the topic takes batches. A folder the
/// ledger knows nothing of (written before the ledger existed, or the
/// stream was deleted) is published to it instead.
pub async fn catch_up(ledger: &Ledger, name: &str, topic: &mut Topic) -> io::Result<()> {
    let subject = ledger::topic_subject(name);
    let dir = topic.dir().to_path_buf();
    let after = ledger::mark(&dir, &subject);
    let started = std::time::Instant::now();
    let mut apply = Apply::default();
    let mut applied = 0usize;
    let read = ledger
        .read_after(&subject, after, |kind, line| {
            topic.apply(kind, line, &mut apply);
            applied += 1;
            // Written as it goes, so a large topic is not held in memory;
            // a crash before the mark moves only means reading it again.
            match applied % RESTORE_FLUSH {
                0 => topic.write_all(),
                _ => Ok(()),
            }
        })
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("read the items ledger: {e}")))?;
    topic.finish_apply(&mut apply);
    topic.write_all()?;
    if !read.held && !topic.is_empty() {
        let (entries, last) = backfill(ledger, name, &subject, &dir).await?;
        ledger::set_mark(&dir, &subject, last)?;
        tracing::info!(
            topic = name,
            entries,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "published the folder to the items ledger, which did not hold the topic"
        );
    } else if read.last != after {
        ledger::set_mark(&dir, &subject, read.last)?;
        let a = &apply.applied;
        tracing::info!(
            topic = name,
            from = after + 1,
            to = read.last,
            batches = a.batches,
            items = a.items,
            aliases = a.aliases,
            known = a.known,
            skipped = a.skipped,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "caught up with the items ledger"
        );
    }
    Ok(())
}

/// Publishes every line of the folder `dir` (its batch log, then its item
/// and alias records) to the ledger; returns how many, and the last
/// sequence. Lines that cannot be read are left out, as on open.
async fn backfill(
    ledger: &Ledger,
    name: &str,
    subject: &str,
    dir: &Path,
) -> io::Result<(u64, u64)> {
    const CHUNK: usize = 4096;
    let mut normalizer = Normalizer::default();
    let (mut published, mut last) = (0u64, 0u64);
    let mut entries = Vec::with_capacity(CHUNK);
    for (file, batches) in [
        (crate::topic::batchlog::BATCHES, true),
        (crate::topic::store::ITEMS, false),
    ] {
        let reader = match std::fs::File::open(dir.join(file)) {
            Ok(f) => io::BufReader::new(f),
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for line in reader.split(b'\n') {
            let line = line?;
            let entry = match batches {
                true => serde_json::from_slice::<BatchLine>(&line)
                    .ok()
                    .map(|b| Entry::batch(&b.batch.batch_id, &line)),
                false => serde_json::from_slice::<crate::topic::record::ItemRecord>(&line)
                    .ok()
                    .map(|r| {
                        let hash = key_hash(normalizer.key(&r.item));
                        match r.alias_of {
                            Some(_) => Entry::alias(hash, &line),
                            None => Entry::item(hash, &line),
                        }
                    }),
            };
            entries.extend(entry);
            if entries.len() >= CHUNK {
                published += entries.len() as u64;
                last = last.max(publish_all(ledger, name, subject, &mut entries).await?);
            }
        }
    }
    published += entries.len() as u64;
    last = last.max(publish_all(ledger, name, subject, &mut entries).await?);
    Ok((published, last))
}

/// Publishes (and empties) `entries`; returns the highest sequence.
async fn publish_all(
    ledger: &Ledger,
    name: &str,
    subject: &str,
    entries: &mut Vec<Entry>,
) -> io::Result<u64> {
    let outbox = Outbox {
        topic: name.to_string(),
        subject: subject.to_string(),
        entries: std::mem::take(entries),
    };
    let marks = ledger.publish(std::slice::from_ref(&outbox)).await?;
    Ok(marks.into_iter().map(|(_, s)| s).max().unwrap_or(0))
}
