//! A submitted vendor batch as the worker remembers it, in its key-value
//! bucket (`IGENTAI_BATCHES_<worker_id>`): enough to resume it after a
//! restart without submitting it again (the vendor's id, the assignment
//! its prompts were built from, which results are already published), and
//! the deterministic ids that make a republished result a duplicate.

use std::collections::BTreeSet;

use anyhow::Context;
use async_nats::jetstream::{self, kv};
use futures::TryStreamExt;
use igentai_protocol::{Assignment, ids, subjects};
use serde::{Deserialize, Serialize};

/// One vendor batch in flight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The vendor's batch id.
    pub vendor_id: String,
    pub provider: String,
    /// What every prompt of the batch was built from (`prompt::build`),
    /// and the run, topic and partition its answers belong to.
    pub assignment: Assignment,
    pub custom_ids: Vec<String>,
    /// The custom ids whose answers JetStream acknowledged.
    #[serde(default)]
    pub published: BTreeSet<String>,
    pub submitted_at_ms: u64,
    /// 1 for a first submission, one more for each resubmission of
    /// requests that failed or expired.
    pub attempt: u32,
    /// Cancelled by a stop: what it delivered is published, nothing of it
    /// is sent again.
    #[serde(default)]
    pub cancelled: bool,
}

impl Record {
    /// The record's key in the bucket: a hash of provider and vendor id,
    /// which is always a valid key whatever the vendor's id looks like.
    pub fn key(&self) -> String {
        key(&self.provider, &self.vendor_id)
    }
}

fn key(provider: &str, vendor_id: &str) -> String {
    let bits = xxhash_rust::xxh3::xxh3_128(format!("{provider}\0{vendor_id}").as_bytes());
    format!("{bits:032x}")
}

/// The candidate batch id of one result: the same for every publish of
/// it, by any run of this worker, and no other answer's.
pub fn result_batch_id(
    worker_id: &str,
    provider: &str,
    vendor_id: &str,
    custom_id: &str,
) -> String {
    let named = format!("{worker_id}\0{provider}\0{vendor_id}\0{custom_id}");
    ids::batch_id_from(worker_id, xxhash_rust::xxh3::xxh3_128(named.as_bytes()))
}

/// The worker's bucket of vendor batches, created when missing.
pub async fn open(js: &jetstream::Context, worker_id: &str) -> anyhow::Result<kv::Store> {
    let bucket = subjects::batches_bucket(worker_id);
    if let Ok(store) = js.get_key_value(&bucket).await {
        return Ok(store);
    }
    js.create_key_value(kv::Config {
        bucket: bucket.clone(),
        description: "vendor batches this worker submitted and has not published yet".into(),
        history: 1,
        storage: jetstream::stream::StorageType::File,
        ..Default::default()
    })
    .await
    .with_context(|| format!("create the key-value bucket {bucket}"))
}

/// Every record in the bucket; unreadable values are logged and skipped.
pub async fn list(store: &kv::Store) -> anyhow::Result<Vec<Record>> {
    let keys: Vec<String> = store
        .keys()
        .await
        .context("list the batch bucket")?
        .try_collect()
        .await
        .context("list the batch bucket")?;
    let mut records = Vec::with_capacity(keys.len());
    for key in keys {
        let Some(value) = store.get(&key).await.context("read a batch record")? else {
            continue;
        };
        match serde_json::from_slice::<Record>(&value) {
            Ok(record) => records.push(record),
            Err(e) => tracing::warn!(%key, error = %e, "skipping an unreadable batch record"),
        }
    }
    Ok(records)
}

pub async fn save(store: &kv::Store, record: &Record) -> anyhow::Result<()> {
    let value = serde_json::to_vec(record).expect("records serialize");
    store
        .put(record.key(), value.into())
        .await
        .context("save a batch record")?;
    Ok(())
}

pub async fn remove(store: &kv::Store, record: &Record) -> anyhow::Result<()> {
    store
        .delete(record.key())
        .await
        .context("delete a batch record")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_ids_are_the_workers_and_stable() {
        let a = result_batch_id("w1", "gpt", "batch_1", "r1");
        assert!(ids::batch_id_of(&a, "w1"), "{a}");
        assert_eq!(a, result_batch_id("w1", "gpt", "batch_1", "r1"));
        for other in [
            result_batch_id("w1", "gpt", "batch_1", "r2"),
            result_batch_id("w1", "gpt", "batch_2", "r1"),
            result_batch_id("w1", "claude", "batch_1", "r1"),
            result_batch_id("w2", "gpt", "batch_1", "r1"),
        ] {
            assert_ne!(a, other);
        }
        assert!(ids::valid_id(&result_batch_id(
            &"w".repeat(64),
            "p",
            "v",
            "c"
        )));
    }
}
