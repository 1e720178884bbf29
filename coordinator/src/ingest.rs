//! Ingest: candidate batches from the JetStream stream, through dedup, onto
//! disk, acknowledged only once what they added is synced (group commit).
//!
//! The invariant: every new item of an acknowledged batch is in
//! `output.txt` exactly once. A batch is acknowledged only after
//! [`Ingest::commit`] synced the files; a crash before that leaves it
//! unacknowledged, JetStream redelivers it, and the seen-set rebuilt from
//! `output.txt` turns whatever was already written into duplicates.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream::{self, AckKind, consumer::pull, stream};
use igentai_protocol::{CandidateBatch, ItemsEvent, NewItem, VERSION, subjects};

use crate::batch::{self, Reject};
use crate::dedup::SeenSet;
use crate::normalize::normalize;
use crate::stats::BatchOutcome;
use crate::store::{ItemRecord, Recovery, SIGHTINGS, TopicStore, write_atomic};

/// Commit at the latest once this many batches wait for their ack.
pub const MAX_PENDING: usize = 512;

/// A topic open for ingest: its folder and everything it already holds.
pub struct Topic {
    pub store: TopicStore,
    pub seen: SeenSet,
}

impl Topic {
    pub fn open(data_dir: &std::path::Path, topic: &str) -> std::io::Result<(Topic, Recovery)> {
        let mut seen = SeenSet::default();
        let (store, recovery) = TopicStore::open(data_dir, topic, |line| {
            let key = normalize(line);
            if !key.is_empty() {
                seen.insert(crate::normalize::key_hash(&key));
            }
        })?;
        match std::fs::read(store.dir.join(SIGHTINGS)) {
            Ok(saved) => seen.restore_counts(&saved),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        Ok((Topic { store, seen }, recovery))
    }

    /// Saves the sighting counts (one byte per item, `output.txt` order),
    /// so the saturation estimate survives a restart.
    pub fn save_sightings(&self) -> std::io::Result<()> {
        write_atomic(&self.store.dir.join(SIGHTINGS), self.seen.counts())
    }
}

/// What became of one stream message.
pub enum Ingested {
    /// Read and deduplicated; waits for the next commit to be acknowledged.
    Pending {
        batch: Box<CandidateBatch>,
        outcome: BatchOutcome,
        /// The batch's candidates that were already known (a sample).
        duplicates: Vec<String>,
    },
    /// Unreadable: terminated (never redelivered) and to be counted.
    Rejected(Reject),
}

pub struct Ingest {
    data_dir: PathBuf,
    /// Open topics by normalized topic.
    topics: HashMap<String, Topic>,
    pending: Vec<jetstream::Message>,
    events: Vec<ItemsEvent>,
    logged_rejects: HashSet<&'static str>,
    /// Messages the server still holds for us, as of the last one received.
    pub backlog: u64,
}

impl Ingest {
    pub fn new(data_dir: PathBuf) -> Self {
        Self {
            data_dir,
            topics: HashMap::new(),
            pending: Vec::new(),
            events: Vec::new(),
            logged_rejects: HashSet::new(),
            backlog: 0,
        }
    }

    /// The open topic, opening (and repairing) its folder if needed.
    pub fn topic(&mut self, topic: &str) -> std::io::Result<&mut Topic> {
        let key = normalize(topic);
        if !self.topics.contains_key(&key) {
            let (opened, recovery) = Topic::open(&self.data_dir, topic)?;
            tracing::info!(
                topic,
                folder = %opened.store.dir.display(),
                items = recovery.items,
                torn_bytes = recovery.torn_bytes,
                records_trimmed = recovery.records_trimmed,
                records_rebuilt = recovery.records_rebuilt,
                "opened topic folder"
            );
            self.topics.insert(key.clone(), opened);
        }
        Ok(self.topics.get_mut(&key).expect("inserted above"))
    }

    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Reads one stream message: rejects it, or deduplicates its items into
    /// the topic's buffers and keeps it for the next commit's ack.
    pub async fn receive(&mut self, msg: jetstream::Message) -> std::io::Result<Ingested> {
        if let Ok(info) = msg.info() {
            self.backlog = info.pending;
        }
        let batch = match batch::decode(&msg.payload) {
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
        let appended = match self.topic(&batch.topic) {
            Ok(topic) => dedup_into(topic, &batch, &now),
            Err(e) => Err(e),
        };
        let (outcome, new_items, duplicates) = match appended {
            Ok(done) => done,
            Err(e) => {
                // The buffers may hold part of this batch: hand it back and
                // forget the topics, to be reopened from what is on disk.
                self.pending.push(msg);
                self.abandon();
                return Err(e);
            }
        };
        if !new_items.is_empty() {
            self.events.push(ItemsEvent {
                v: VERSION,
                run_id: batch.run_id.clone(),
                items: new_items,
            });
        }
        self.pending.push(msg);
        Ok(Ingested::Pending {
            batch: Box::new(batch),
            outcome,
            duplicates,
        })
    }

    /// Syncs every topic with new items, then acknowledges the batches behind
    /// them and publishes their new items. On a write error nothing is
    /// acknowledged: the batches are handed back for redelivery and the
    /// topics are reopened from disk on their next batch.
    pub async fn commit(&mut self, client: &async_nats::Client) -> std::io::Result<usize> {
        if self.pending.is_empty() {
            return Ok(0);
        }
        let synced = tokio::task::block_in_place(|| {
            self.topics.values_mut().try_for_each(|t| t.store.commit())
        });
        if let Err(e) = synced {
            self.abandon();
            return Err(e);
        }
        let acked = self.pending.len();
        let acks = self.pending.drain(..).collect::<Vec<_>>();
        for result in futures::future::join_all(acks.iter().map(|m| m.ack())).await {
            if let Err(e) = result {
                // The batch will be redelivered and dedup to nothing.
                tracing::warn!(error = %e, "ack failed");
            }
        }
        for event in self.events.drain(..) {
            let payload = serde_json::to_vec(&event).expect("items events serialize");
            if let Err(e) = client.publish(subjects::ITEMS, payload.into()).await {
                tracing::warn!(error = %e, "could not publish new items");
            }
        }
        Ok(acked)
    }

    /// Gives up on everything not yet committed: pending batches are handed
    /// back (redelivered later) and open topics are dropped, to be reopened
    /// and repaired from disk.
    fn abandon(&mut self) {
        for msg in self.pending.drain(..) {
            tokio::spawn(async move {
                let _ = msg
                    .ack_with(AckKind::Nak(Some(Duration::from_secs(2))))
                    .await;
            });
        }
        self.events.clear();
        self.topics.clear();
    }

    pub fn topics(&self) -> impl Iterator<Item = &Topic> {
        self.topics.values()
    }

    pub fn get(&self, topic: &str) -> Option<&Topic> {
        self.topics.get(&normalize(topic))
    }
}

/// Duplicates kept per batch for the avoid hints.
const DUPLICATE_SAMPLE: usize = 64;

/// Deduplicates a batch's items into a topic, buffering the new ones.
fn dedup_into(
    topic: &mut Topic,
    batch: &CandidateBatch,
    now: &str,
) -> std::io::Result<(BatchOutcome, Vec<NewItem>, Vec<String>)> {
    let mut outcome = BatchOutcome::default();
    let mut new_items = Vec::new();
    let mut duplicates = Vec::new();
    for raw in &batch.items {
        let Some(item) = batch::vet(raw) else {
            outcome.invalid += 1;
            continue;
        };
        outcome.candidates += 1;
        if !topic.seen.insert(item.hash) {
            if duplicates.len() < DUPLICATE_SAMPLE {
                duplicates.push(item.text);
            }
            continue;
        }
        outcome.new += 1;
        let seq = topic.store.append(ItemRecord {
            seq: 0,
            item: item.text.clone(),
            key: item.key,
            provider: batch.provider.clone(),
            model: batch.model.clone(),
            worker: batch.worker_id.clone(),
            partition: batch.partition.clone(),
            run: batch.run_id.clone(),
            batch: batch.batch_id.clone(),
            ts: now.to_string(),
        })?;
        new_items.push(NewItem {
            seq,
            text: item.text,
            provider: batch.provider.clone(),
            worker_id: batch.worker_id.clone(),
            partition: batch.partition.clone(),
        });
    }
    Ok((outcome, new_items, duplicates))
}

/// The candidate stream: file-backed work queue, refusing rather than
/// dropping when full, deduplicating retried publishes by `Nats-Msg-Id`.
pub fn stream_config() -> stream::Config {
    stream::Config {
        name: subjects::STREAM.to_string(),
        subjects: vec![subjects::CANDIDATES_ALL.to_string()],
        storage: stream::StorageType::File,
        // A batch leaves the stream once the coordinator has written it.
        retention: stream::RetentionPolicy::WorkQueue,
        // Refuse new batches rather than drop unread ones when full.
        discard: stream::DiscardPolicy::New,
        max_bytes: 8 * 1024 * 1024 * 1024,
        max_message_size: 1024 * 1024,
        // Workers retry a publish with the same Nats-Msg-Id for up to
        // this long and it is still stored once.
        duplicate_window: Duration::from_secs(600),
        ..Default::default()
    }
}

/// The coordinator's durable pull consumer on the candidate stream.
pub fn consumer_config() -> pull::Config {
    pull::Config {
        durable_name: Some(subjects::CONSUMER.to_string()),
        ack_policy: jetstream::consumer::AckPolicy::Explicit,
        ack_wait: Duration::from_secs(30),
        max_ack_pending: (MAX_PENDING * 8) as i64,
        ..Default::default()
    }
}

/// Creates (or finds) the candidate stream and the coordinator's durable
/// consumer, and starts pulling from it.
pub async fn open_stream(js: &jetstream::Context) -> anyhow::Result<pull::Stream> {
    let stream = js
        .get_or_create_stream(stream_config())
        .await
        .context("create or find the candidate stream")?;
    let consumer: jetstream::consumer::PullConsumer = stream
        .get_or_create_consumer(subjects::CONSUMER, consumer_config())
        .await
        .context("create or find the coordinator's consumer")?;
    consumer
        .stream()
        .max_messages_per_batch(MAX_PENDING)
        .messages()
        .await
        .context("start pulling candidate batches")
}
