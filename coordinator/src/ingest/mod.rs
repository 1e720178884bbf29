//! Ingest: candidate batches from the JetStream stream, through dedup, onto
//! disk, acknowledged only once what they added is synced (group commit).
//!
//! The invariant: every new item of an acknowledged batch is in
//! `output.txt` exactly once. A batch is acknowledged only after the files
//! holding its new items were synced; a crash before that leaves it
//! unacknowledged, JetStream redelivers it, and the seen-set rebuilt from
//! `output.txt` turns whatever was already written into duplicates.
//!
//! Commits are pipelined: [`Ingest::start_commit`] hands the appended lines
//! to a blocking thread that writes and `fdatasync`s them while the event
//! loop goes on deduplicating the next batches; when the sync is done
//! ([`Ingest::synced`]), [`Ingest::finish_commit`] acknowledges exactly the
//! batches it covered. One sync is in flight at a time.

pub mod admission;
pub mod batch;
pub mod stream;
pub mod strikes;

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind};
use bytes::Bytes;
use igentai_protocol::{CandidateBatch, subjects};
use tokio::task::JoinHandle;

use crate::ingest::admission::Admission;
use crate::ingest::batch::Reject;
use crate::replication::ledger::{Ledger, Marks, Outbox};
use crate::replication::restore::Gap;
use crate::run::stats::BatchOutcome;
use crate::topic::Scratch;
pub use crate::topic::Topic;
use crate::topic::store::{Recovery, VerdictRecord};

/// Start a commit once this many batches wait for one, without waiting
/// for the commit interval.
pub const MAX_PENDING: usize = 512;

/// What became of one stream message.
pub enum Ingested {
    /// Read and deduplicated; waits for the next commit to be acknowledged.
    /// [`Ingest::duplicates`] has a sample of its known candidates.
    Pending {
        batch: Box<CandidateBatch>,
        outcome: BatchOutcome,
    },
    /// A batch counted before, delivered again: deduplicated (it may
    /// still add items a crash kept off the disk) and acknowledged with the
    /// next commit, but not counted again.
    Repeat,
    /// Unreadable or not admitted: terminated (never redelivered) and to be
    /// counted.
    Rejected(Reject),
}

/// A sync in flight and the batches it makes durable.
struct Syncing {
    task: JoinHandle<io::Result<Marks>>,
    messages: Vec<jetstream::Message>,
    events: Vec<Bytes>,
}

pub struct Ingest {
    data_dir: PathBuf,
    /// Open topics by topic key ([`key`]): every spelling of one topic
    /// shares one open folder. Two would each hold what the other buffered
    /// and not yet synced, and write it again.
    topics: HashMap<String, Topic>,
    /// Deduplicated and written to the buffers, waiting for a commit.
    pending: Vec<jetstream::Message>,
    /// Their new items, as `igentai.items` payloads.
    events: Vec<Bytes>,
    syncing: Option<Syncing>,
    /// The items ledger, once the coordinator opened it.
    ledger: Option<Ledger>,
    scratch: Scratch,
    logged_rejects: HashSet<&'static str>,
    /// The open topics were dropped after a write error: the run's
    /// counters must be rebuilt from the batch logs.
    recount: bool,
    /// Verdicts recorded since the last commit started: a commit is due
    /// even when no batch waits.
    verdicts: usize,
    /// Topics (by key) that caught up with batches from the items ledger
    /// when opened, since the last [`Ingest::take_recount`].
    caught_up: HashSet<String>,
    /// Topics whose folder could not be opened, by normalized topic: why.
    open_errors: std::collections::BTreeMap<String, String>,
    /// Topics whose restore found entries gone from the items stream, by
    /// normalized topic: what may be missing. Kept while the coordinator
    /// runs: the folder's mark has moved past the gap, so the next start
    /// does not find it again (the log keeps it).
    restore_gaps: std::collections::BTreeMap<String, String>,
    /// Messages the server still holds for us, as of the last one received.
    pub backlog: u64,
    /// Batches whose commits failed on their content (`strikes.rs`), and
    /// the last one set aside, for `last_error`.
    strikes: strikes::Strikes,
    set_aside: Option<String>,
}

impl Ingest {
    pub fn new(data_dir: PathBuf) -> Self {
        Self {
            data_dir,
            topics: HashMap::new(),
            pending: Vec::new(),
            events: Vec::new(),
            syncing: None,
            ledger: None,
            scratch: Scratch::default(),
            logged_rejects: HashSet::new(),
            recount: false,
            verdicts: 0,
            caught_up: HashSet::new(),
            open_errors: std::collections::BTreeMap::new(),
            restore_gaps: std::collections::BTreeMap::new(),
            backlog: 0,
            strikes: strikes::Strikes::default(),
            set_aside: None,
        }
    }

    /// Publishes what the folders gain to the items ledger from now on,
    /// and catches topics up from it when they are opened.
    pub fn set_ledger(&mut self, ledger: Ledger) {
        self.ledger = Some(ledger);
    }

    /// The open topic, opening (and repairing) its folder if needed, and
    /// catching it up with the items ledger: a fresh folder is restored
    /// from it (see `replication/ledger/`).
    pub async fn open(&mut self, topic: &str) -> io::Result<&mut Topic> {
        let key = key(topic);
        if !self.topics.contains_key(&key) {
            let (opened, caught_up) = match self.open_folder(topic).await {
                Ok((opened, caught_up, gap)) => {
                    if let Some(gap) = gap {
                        self.restore_gaps.insert(key.clone(), gap.to_string());
                    }
                    (opened, caught_up)
                }
                Err(e) => {
                    let error = format!(
                        "cannot open the folder of topic {topic:?}: {e}; its batches wait and are retried"
                    );
                    if self.open_errors.get(&key) != Some(&error) {
                        tracing::error!(%error);
                    }
                    self.open_errors.insert(key, error);
                    return Err(e);
                }
            };
            self.open_errors.remove(&key);
            if caught_up {
                self.caught_up.insert(key.clone());
            }
            self.topics.insert(key.clone(), opened);
        }
        Ok(self.topics.get_mut(&key).expect("inserted above"))
    }

    /// Opens the folder of `topic` and catches it up with the items
    /// ledger; with whether that added batches to its log, and the gap the
    /// restore found, if any.
    async fn open_folder(&self, topic: &str) -> io::Result<(Topic, bool, Option<Gap>)> {
        let (mut opened, recovery) = Topic::open(&self.data_dir, topic)?;
        log_opened(topic, &opened, &recovery);
        let logged = opened.batches_counted();
        let mut gap = None;
        if let Some(ledger) = &self.ledger {
            gap = crate::replication::restore::catch_up(ledger, topic, &mut opened).await?;
            opened.publish_to_ledger();
        }
        let caught_up = opened.batches_counted() > logged;
        Ok((opened, caught_up, gap))
    }

    /// Batches received and not yet acknowledged (waiting or syncing).
    pub fn pending(&self) -> usize {
        self.pending.len() + self.syncing.as_ref().map_or(0, |s| s.messages.len())
    }

    /// Batches and verdicts waiting for a commit to start.
    pub fn waiting(&self) -> usize {
        self.pending.len() + self.verdicts
    }

    /// Records a judge's verdict in its topic's folder (buffered for the
    /// next commit); false when the item already has one, or is not the
    /// item on that line.
    pub async fn add_verdict(&mut self, topic: &str, record: &VerdictRecord) -> io::Result<bool> {
        let added = self.open(topic).await?.add_verdict(record);
        self.verdicts += usize::from(added);
        Ok(added)
    }

    pub fn is_syncing(&self) -> bool {
        self.syncing.is_some()
    }

    /// Reads one stream message: rejects it (unreadable, or not admitted),
    /// or deduplicates its items into the topic's buffers and keeps it for
    /// the next commit's ack. A topic folder that cannot be opened is an
    /// error: the batch is handed back for later, and nothing else changes.
    pub async fn receive(
        &mut self,
        msg: jetstream::Message,
        admission: &Admission,
    ) -> io::Result<Ingested> {
        if let Ok(info) = msg.info() {
            self.backlog = info.pending;
        }
        let payload = msg.payload.clone();
        let decoded = match self.struck_out(&msg) {
            Some(reject) => Err(reject),
            None => batch::decode(&payload).and_then(|d| {
                admission
                    .check(&d.batch, d.items.len(), &msg.subject)
                    .map(|()| d)
            }),
        };
        let batch::Decoded { batch, items } = match decoded {
            Ok(b) => b,
            Err(reject) => {
                if self.logged_rejects.insert(reject.kind()) {
                    tracing::warn!(kind = reject.kind(), error = %reject, subject = %msg.subject,
                        "rejected a candidate batch (further rejections of this kind are only counted)");
                }
                if let Err(e) = msg.ack_with(AckKind::Term).await {
                    tracing::warn!(error = %e, "could not terminate a rejected batch");
                }
                return Ok(Ingested::Rejected(reject));
            }
        };

        let now = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
        let now_ms = igentai_protocol::now_ms();
        let mut scratch = std::mem::take(&mut self.scratch);
        let topic = match self.open(&batch.topic).await {
            Ok(topic) => topic,
            Err(e) => {
                // This topic's batches wait (redelivered later); the other
                // topics, and a sync in flight, go on untouched.
                self.scratch = scratch;
                nak(vec![msg]);
                let folder = format!("cannot open the folder of topic {:?}: {e}", batch.topic);
                return Err(io::Error::new(e.kind(), folder));
            }
        };
        let taken = topic.take(&batch, &items, &now, now_ms, &mut scratch);
        self.scratch = scratch;
        self.events.extend(taken.event);
        self.pending.push(msg);
        if !taken.first {
            return Ok(Ingested::Repeat);
        }
        Ok(Ingested::Pending {
            batch: Box::new(batch),
            outcome: taken.outcome,
        })
    }

    /// A sample of the last batch's candidates that were known already
    /// (key hash and spelling), until the next batch is received.
    pub fn duplicates(&self) -> Vec<(u128, &str)> {
        self.scratch.duplicates()
    }

    /// Starts a commit of every waiting batch: their items are written and
    /// synced on a blocking thread (see [`Self::synced`]).
    /// Batches that added nothing to any file are acknowledged at once. A
    /// no-op while another sync is in flight.
    pub async fn start_commit(&mut self, client: &async_nats::Client) -> io::Result<()> {
        if self.syncing.is_some() || self.waiting() == 0 {
            return Ok(());
        }
        self.verdicts = 0;
        // A topic's batch lines are synced before its items (batchlog.rs).
        let flushed: io::Result<Vec<_>> =
            self.topics.values_mut().map(Topic::take_for_sync).collect();
        let files: Vec<_> = match flushed {
            Ok(files) => files.into_iter().flatten().collect(),
            Err(e) => {
                self.abandon();
                return Err(e);
            }
        };
        let outboxes: Vec<Outbox> = self
            .topics
            .iter_mut()
            .filter_map(|(key, t)| t.take_outbox(key))
            .collect();
        let messages = std::mem::take(&mut self.pending);
        let events = std::mem::take(&mut self.events);
        if files.is_empty() {
            acknowledge(&messages, &events, client).await;
            return Ok(());
        }
        // The ledger first: what the files gain is in NATS before it is on
        // disk, so a batch acknowledged after both is in both, and a
        // failure in between leaves the ledger ahead (caught up on open).
        let ledger = self.ledger.clone();
        let task = tokio::spawn(async move {
            let marks = match &ledger {
                Some(ledger) => ledger.publish(&outboxes).await?,
                None => Vec::new(),
            };
            tokio::task::spawn_blocking(move || {
                files.into_iter().try_for_each(|f| f.write_and_sync())
            })
            .await
            .unwrap_or_else(|e| Err(io::Error::other(e)))?;
            Ok(marks)
        });
        self.syncing = Some(Syncing {
            task,
            messages,
            events,
        });
        Ok(())
    }

    /// Waits for the sync in flight (forever when there is none). Safe to
    /// cancel: the sync goes on and is awaited again next time.
    pub async fn synced(&mut self) -> io::Result<Marks> {
        match self.syncing.as_mut() {
            Some(syncing) => (&mut syncing.task)
                .await
                .unwrap_or_else(|e| Err(io::Error::other(e))),
            None => std::future::pending().await,
        }
    }

    /// Ends the sync in flight with its `result`: counts the sightings of
    /// the batches it covered (`topic/sightings.rs`), acknowledges them and
    /// publishes their new items, or on a failed sync hands
    /// back every unacknowledged batch for redelivery and drops the open
    /// topics, to be reopened from disk. Returns how many were acknowledged.
    pub async fn finish_commit(
        &mut self,
        result: io::Result<Marks>,
        client: &async_nats::Client,
    ) -> io::Result<usize> {
        let Some(syncing) = self.syncing.take() else {
            return result.map(|_| 0);
        };
        let marks = match result {
            Ok(marks) => marks,
            Err(e) => {
                // A batch's content, not the environment: strike them all,
                // and let them come back apart (strikes.rs).
                if strikes::content_failure(&e) {
                    self.strikes
                        .strike(syncing.messages.iter().filter_map(sequence));
                    nak_spread(syncing.messages);
                } else {
                    nak(syncing.messages);
                }
                self.abandon();
                return Err(e);
            }
        };
        self.topics.values_mut().for_each(Topic::committed);
        acknowledge(&syncing.messages, &syncing.events, client).await;
        let created = self.ledger.as_ref().map_or(0, Ledger::created);
        for (key, sequence) in marks {
            let Some(topic) = self.topics.get(&key) else {
                continue;
            };
            // A mark left behind only makes the next open read more.
            if let Err(e) = topic.set_mark(sequence, created) {
                tracing::warn!(error = %e, "cannot record the folder's place in the items ledger");
            }
        }
        Ok(syncing.messages.len())
    }

    /// Commits everything received so far and waits until it is
    /// acknowledged (at shutdown). On a write error nothing more is
    /// acknowledged: the batches are handed back for redelivery and the
    /// topics are reopened from disk on their next batch.
    pub async fn commit(&mut self, client: &async_nats::Client) -> io::Result<usize> {
        let mut acked = 0;
        for _ in 0..2 {
            if !self.is_syncing() {
                self.start_commit(client).await?;
            }
            if self.is_syncing() {
                let result = self.synced().await;
                acked += self.finish_commit(result, client).await?;
            }
        }
        Ok(acked)
    }

    /// Fencing: this coordinator lost the lease. Hands back every batch it
    /// holds, waiting or syncing, unacknowledged, so the new owner gets
    /// them at once rather than after the ack wait; writes nothing.
    pub async fn hand_back(&mut self) {
        let mut messages = std::mem::take(&mut self.pending);
        if let Some(syncing) = self.syncing.take() {
            syncing.task.abort();
            messages.extend(syncing.messages);
        }
        let naks = messages.iter().map(|m| m.ack_with(AckKind::Nak(None)));
        futures::future::join_all(naks).await;
    }

    /// Gives up on everything not yet in a sync: waiting batches are handed
    /// back (redelivered later) and open topics are dropped, to be reopened
    /// and repaired from disk.
    fn abandon(&mut self) {
        nak(std::mem::take(&mut self.pending));
        self.events.clear();
        self.verdicts = 0;
        self.topics.clear();
        self.recount = true;
    }

    /// A batch to set aside: its commits failed on its content
    /// [`strikes::MAX_STRIKES`] times. Named in [`Self::set_aside`].
    fn struck_out(&mut self, msg: &jetstream::Message) -> Option<Reject> {
        let strikes = self.strikes.struck_out(sequence(msg)?)?;
        let batch_id = serde_json::from_slice::<CandidateBatch>(&msg.payload)
            .map_or_else(|_| "(unreadable)".into(), |b| format!("{:?}", b.batch_id));
        self.set_aside = Some(format!(
            "set aside batch {batch_id} on {}: its commits failed {strikes} times",
            msg.subject
        ));
        Some(Reject::CommitFailed { batch_id, strikes })
    }

    /// The last batch set aside because its commits kept failing.
    pub fn set_aside(&self) -> Option<&str> {
        self.set_aside.as_deref()
    }

    /// Why a topic's folder could not be opened, while one cannot.
    pub fn open_error(&self) -> Option<&str> {
        self.open_errors.values().next().map(String::as_str)
    }

    /// A restore that found entries gone from the items stream: its topic
    /// may be incomplete (for `last_error`).
    pub fn restore_gap(&self) -> Option<&str> {
        self.restore_gaps.values().next().map(String::as_str)
    }

    /// Whether the counters of the run on `run_topic` must be rebuilt from
    /// its batch log since the last call: the open topics were dropped (the
    /// batches counted since their last sync come again), or its topic
    /// opened and caught up with batches from the items ledger (a commit
    /// whose ledger publish succeeded and whose write failed: those
    /// batches come again as repeats, counted only in the log). Another
    /// topic catching up changes nothing of the run's counters.
    pub fn take_recount(&mut self, run_topic: Option<&str>) -> bool {
        let caught_up = run_topic.is_some_and(|t| self.caught_up.contains(&key(t)));
        self.caught_up.clear();
        std::mem::take(&mut self.recount) || caught_up
    }

    /// The folder `topic` is (or will be) stored in.
    pub fn folder(&self, topic: &str) -> io::Result<PathBuf> {
        Ok(self
            .data_dir
            .join(crate::topic::folders::folder_for(&self.data_dir, topic)?))
    }

    pub fn topics(&self) -> impl Iterator<Item = &Topic> {
        self.topics.values()
    }

    pub fn get(&self, topic: &str) -> Option<&Topic> {
        self.topics.get(&key(topic))
    }

    /// The sub-categories among `names` proposed for `topic`
    /// ([`Topic::sub_categories`]); all of them when it is not open.
    pub fn sub_categories(
        &mut self,
        topic: &str,
        names: Vec<String>,
    ) -> Result<Vec<String>, String> {
        match self.topics.get(&key(topic)) {
            Some(opened) => opened.sub_categories(names, &mut self.scratch),
            None => Ok(names),
        }
    }
}

fn log_opened(topic: &str, opened: &Topic, recovery: &Recovery) {
    tracing::info!(
        topic,
        folder = %opened.dir().display(),
        items = recovery.items,
        torn_bytes = recovery.torn_bytes,
        records_trimmed = recovery.records_trimmed,
        records_rebuilt = recovery.records_rebuilt,
        "opened topic folder"
    );
}

/// What open topics are keyed by: the key that picks the topic's folder.
fn key(topic: &str) -> String {
    crate::topic::folders::topic_key(topic)
}

/// Acknowledges synced batches, then announces their new items.
async fn acknowledge(
    messages: &[jetstream::Message],
    events: &[Bytes],
    client: &async_nats::Client,
) {
    for result in futures::future::join_all(messages.iter().map(|m| m.ack())).await {
        if let Err(e) = result {
            // The batch will be redelivered and dedup to nothing.
            tracing::warn!(error = %e, "ack failed");
        }
    }
    for payload in events {
        if let Err(e) = client.publish(subjects::ITEMS, payload.clone()).await {
            tracing::warn!(error = %e, "could not publish new items");
        }
    }
}

/// A message's place in the candidate stream.
fn sequence(msg: &jetstream::Message) -> Option<u64> {
    msg.info().ok().map(|i| i.stream_sequence)
}

/// Hands batches back each after its own delay (`strikes::spread_delay`).
fn nak_spread(messages: Vec<jetstream::Message>) {
    for msg in messages {
        let delay = msg
            .info()
            .map(|i| strikes::spread_delay(i.stream_sequence, i.delivered))
            .unwrap_or(Duration::from_secs(2));
        tokio::spawn(async move {
            let _ = msg.ack_with(AckKind::Nak(Some(delay))).await;
        });
    }
}

/// Hands batches back for redelivery a little later.
fn nak(messages: Vec<jetstream::Message>) {
    for msg in messages {
        tokio::spawn(async move {
            let _ = msg
                .ack_with(AckKind::Nak(Some(Duration::from_secs(2))))
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_spelling_of_a_topic_shares_one_open_folder() {
        let dir = tempfile::tempdir().unwrap();
        let mut ingest = Ingest::new(dir.path().to_path_buf());
        let dir_of = |t: &Topic| t.dir().to_path_buf();
        let folder = dir_of(ingest.open("The Beatles songs").await.unwrap());
        for spelling in ["Beatles songs", "the beatles-songs"] {
            let open = ingest.get(spelling).map(dir_of);
            assert_eq!(open, Some(folder.clone()), "{spelling}");
        }
        ingest.open("beatles songs").await.unwrap();
        assert_eq!(ingest.topics().count(), 1);
        ingest.open("Rare cheeses").await.unwrap();
        assert_eq!(ingest.topics().count(), 2);
    }
}
