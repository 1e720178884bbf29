//! Restoring a topic from the items ledger (`ledger/`), and the other
//! way round.
//!
//! When a topic is opened, [`catch_up`] reads what the ledger holds for it
//! beyond the folder's mark and applies it (`Topic::apply`, idempotent):
//! a fresh data dir (another host) gets the whole topic, a folder left
//! behind while another host owned the run gets what it missed, a current
//! one reads nothing. A folder the ledger holds nothing of (written before
//! the ledger existed, or its stream was deleted) is published to it
//! instead ([`backfill`]), so that any host can restore it later; so is a
//! folder whose mark belongs to an earlier items stream (deleted, and
//! perhaps grown past the mark since), which is no mark of this one.
//!
//! A restore that finds entries after the folder's mark already gone from
//! the stream (a purge, or a limit) says so ([`Gap`]) rather than report
//! a complete restore.

use std::io::{self, BufRead};
use std::path::Path;

use crate::keys::normalize::{Normalizer, key_hash};
use crate::replication::ledger::{self, Entry, Ledger, Outbox, Place};
use crate::topic::batchlog::BatchLine;
use crate::topic::{Apply, Topic};

/// Ledger entries applied between two writes of a restoring folder.
const RESTORE_FLUSH: usize = 100_000;

/// Entries of a topic a restore could not read: the items stream's first
/// entry is beyond the folder's mark + 1 while the folder was behind, so
/// the entries between were removed and the folder may miss some.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "topic {topic:?} may be incomplete: the items stream no longer holds every entry after \
     this folder's mark {mark} (its first is now {first_available}; the entries between were \
     removed by a purge or a limit), so what was restored from it may miss some of its items"
)]
pub struct Gap {
    pub topic: String,
    /// The folder's mark: the last sequence it held.
    pub mark: u64,
    /// The stream's first sequence.
    pub first_available: u64,
}

/// Where a folder starts reading its topic, and what its mark says.
struct Start {
    /// The last sequence the folder holds.
    after: u64,
    /// Its mark is of an earlier items stream: publish the folder to this
    /// one, which may lack any of it.
    republish: bool,
    /// Its mark does not name this stream yet: write it again.
    rewrite: bool,
}

/// Applies what the items ledger holds for `topic` beyond the folder's
/// mark, and makes it durable before the topic takes batches. A folder the
/// ledger knows nothing of (written before the ledger existed, or the
/// stream was deleted), or whose mark is of an earlier stream, is
/// published to it too. Returns the [`Gap`] found, if any (also logged).
pub async fn catch_up(ledger: &Ledger, name: &str, topic: &mut Topic) -> io::Result<Option<Gap>> {
    let subject = ledger::topic_subject(name);
    let dir = topic.dir().to_path_buf();
    let start = start(ledger, name, &subject, &dir).await?;
    let after = start.after;
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
    let created = ledger.created();
    if (start.republish || !read.held) && !topic.is_empty() {
        let (entries, last) = backfill(ledger, name, &subject, &dir).await?;
        ledger::set_mark(&dir, &subject, last.max(read.last), created)?;
        tracing::info!(
            topic = name,
            entries,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "published the folder to the items ledger, which did not hold the topic"
        );
    } else if read.last != after || start.rewrite {
        ledger::set_mark(&dir, &subject, read.last, created)?;
    }
    if read.last != after {
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
    Ok(read
        .gap
        .map(|first_available| gap_found(name, after, first_available)))
}

/// Logs (as a warning) and returns the gap a restore of `name` found.
fn gap_found(name: &str, mark: u64, first_available: u64) -> Gap {
    tracing::warn!(
        topic = name,
        mark,
        first_available,
        "the items stream no longer holds every entry after the folder's mark: \
         the restored topic may be incomplete"
    );
    Gap {
        topic: name.to_string(),
        mark,
        first_available,
    }
}

/// Where the folder `dir` starts reading its topic `subject` from.
///
/// A mark of an earlier items stream (deleted, perhaps grown past the
/// mark since) is no mark of this one: the folder reads the whole topic
/// and is published to this stream, idempotently (the stream drops a
/// repeated `Nats-Msg-Id` within its window, and applying drops a known
/// batch or key anywhere).
///
/// A mark written before marks named their stream is kept when this
/// stream holds an entry of the topic at or before it, as the stream the
/// mark was made on does: treating every such mark as no mark would read
/// every topic again in full, and publish every folder again, on the
/// first start after an upgrade. Otherwise (the topic is absent, or
/// begins after the mark) it is a mark of an earlier stream.
async fn start(ledger: &Ledger, name: &str, subject: &str, dir: &Path) -> io::Result<Start> {
    let place = ledger::place(dir, subject, ledger.created());
    let (after, republish) = match place {
        Place::Start => (0, false),
        Place::After(after) => (after, false),
        Place::Earlier(mark) => earlier(name, mark),
        Place::Unknown(mark) => {
            let held = ledger
                .holds_up_to(subject, mark)
                .await
                .map_err(|e| io::Error::new(e.kind(), format!("read the items ledger: {e}")))?;
            match held {
                true => (mark, false),
                false => earlier(name, mark),
            }
        }
    };
    Ok(Start {
        after,
        republish,
        // A mark that does not name this stream is written again, naming it.
        rewrite: matches!(place, Place::Earlier(_) | Place::Unknown(_)),
    })
}

/// A mark of an earlier items stream: logged, and read as no mark.
fn earlier(name: &str, mark: u64) -> (u64, bool) {
    tracing::info!(
        topic = name,
        mark,
        "the folder's mark is of an earlier items stream: reading the topic from the start \
         and publishing the folder to this one"
    );
    (0, true)
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
