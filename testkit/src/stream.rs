//! A candidate stream known in advance, published the way a worker
//! publishes: each batch a `CandidateBatch` on the worker's candidate
//! subject with its batch id as the JetStream message id, retried with the
//! same id until acknowledged. The tests of what survives a crash know
//! every item the stream holds, so "nothing lost, nothing twice" is an
//! exact comparison with `output.txt` (see [`crate::folder`]).

use std::collections::BTreeSet;
use std::time::Duration;

use async_nats::jetstream;
use igentai_protocol::{CandidateBatch, VERSION, subjects};

use crate::wait_for;

/// The worker id the known batches claim: the operator publishes them.
pub const PUBLISHER: &str = "test-publisher";

/// One batch of a known stream: its id (the JetStream message id) and its
/// items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownBatch {
    pub id: String,
    pub items: Vec<String>,
}

/// Batches of items named `<label><number>`, the number zero-padded to
/// `width` digits; one spelling per item, so what `output.txt` holds does
/// not depend on which duplicate arrives first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownStream {
    pub batches: Vec<KnownBatch>,
}

impl KnownStream {
    /// `batches` batches of `per_batch` popularity-skewed draws (a xorshift
    /// from `seed`, squared so small numbers come often) from `universe`
    /// items, so most candidates are duplicates; ids `<id_prefix><i>`.
    pub fn skewed(
        seed: u64,
        batches: usize,
        per_batch: usize,
        universe: u64,
        (label, width): (&str, usize),
        id_prefix: &str,
    ) -> KnownStream {
        let mut x = seed;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let batches = (0..batches)
            .map(|i| KnownBatch {
                id: format!("{id_prefix}{i}"),
                items: (0..per_batch)
                    .map(|_| {
                        let u = (next() % 10_000) as f64 / 10_000.0;
                        let n = (u * u * universe as f64) as u64;
                        format!("{label}{n:0width$}")
                    })
                    .collect(),
            })
            .collect();
        KnownStream { batches }
    }

    /// Batches `ids` (named `b<i>`) of `per_batch` items each, item `j` of
    /// batch `i` numbered `(i * step.0 + j * step.1) % universe`: evenly
    /// spread, so many repeat across batches.
    pub fn spread(
        ids: std::ops::Range<usize>,
        per_batch: usize,
        universe: usize,
        step: (usize, usize),
        (label, width): (&str, usize),
    ) -> KnownStream {
        let batches = ids
            .map(|i| KnownBatch {
                id: format!("b{i}"),
                items: (0..per_batch)
                    .map(|j| {
                        let n = (i * step.0 + j * step.1) % universe;
                        format!("{label}{n:0width$}")
                    })
                    .collect(),
            })
            .collect();
        KnownStream { batches }
    }

    /// Every distinct item of the stream: what `output.txt` must hold.
    pub fn items(&self) -> BTreeSet<String> {
        items(&self.batches)
    }

    /// Publishes every batch, in order, each acknowledged before the next.
    pub async fn publish(&self, js: &jetstream::Context, run_id: &str, topic: &str) {
        publish_all(js, run_id, topic, &self.batches).await;
    }

    /// [`KnownStream::publish`] in the background.
    pub fn spawn_publish(
        &self,
        js: &jetstream::Context,
        run_id: &str,
        topic: &str,
    ) -> tokio::task::JoinHandle<()> {
        let (js, run_id, topic) = (js.clone(), run_id.to_string(), topic.to_string());
        let batches = self.batches.clone();
        tokio::spawn(async move { publish_all(&js, &run_id, &topic, &batches).await })
    }
}

/// Every distinct item of `batches`.
pub fn items(batches: &[KnownBatch]) -> BTreeSet<String> {
    batches.iter().flat_map(|b| b.items.clone()).collect()
}

/// Publishes `batches` of a run on `topic`, in order.
pub async fn publish_all(
    js: &jetstream::Context,
    run_id: &str,
    topic: &str,
    batches: &[KnownBatch],
) {
    for b in batches {
        let items: Vec<&str> = b.items.iter().map(String::as_str).collect();
        publish_batch(js, &batch(&b.id, run_id, topic, "sim", &items)).await;
    }
}

/// A batch id of `worker_id` as a worker makes one (`<worker_id>-` and 32
/// hex digits), the digits derived from `tag` so a test can name its
/// batches: the same tag is the same id.
pub fn batch_id(worker_id: &str, tag: &str) -> String {
    use std::hash::{Hash, Hasher};
    let half = |salt: u8| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (tag, salt).hash(&mut h);
        h.finish()
    };
    format!("{worker_id}-{:016x}{:016x}", half(0), half(1))
}

/// A candidate batch as a worker would publish it, its id made from `id`
/// ([`batch_id`]).
pub fn batch(
    id: &str,
    run_id: &str,
    topic: &str,
    provider: &str,
    items: &[&str],
) -> CandidateBatch {
    CandidateBatch {
        v: VERSION,
        batch_id: batch_id(PUBLISHER, id),
        run_id: run_id.to_string(),
        topic: topic.to_string(),
        worker_id: PUBLISHER.to_string(),
        provider: provider.to_string(),
        model: format!("{provider}-model"),
        partition: None,
        items: items.iter().map(|s| s.to_string()).collect(),
        tokens_in: 100,
        tokens_cached_in: 0,
        tokens_out: 50,
        latency_ms: 100,
        cost_usd: 0.01,
        finish_reason: Some("stop".into()),
        request_id: None,
        created_at_ms: 0,
    }
}

/// Publishes raw bytes to the candidate stream with a message id, retrying
/// (with the same id) until JetStream acknowledges: a worker's contract.
pub async fn publish_raw(js: &jetstream::Context, msg_id: &str, payload: Vec<u8>) {
    let payload: bytes::Bytes = payload.into();
    tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let message = jetstream::message::PublishMessage::build()
                .payload(payload.clone())
                .message_id(msg_id);
            if let Ok(ack) = js
                .send_publish(subjects::candidates(PUBLISHER), message)
                .await
                && let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(2), ack).await
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("batch {msg_id} not acknowledged within 60 s"));
}

pub async fn publish_batch(js: &jetstream::Context, batch: &CandidateBatch) {
    publish_raw(
        js,
        &batch.batch_id,
        serde_json::to_vec(batch).expect("a batch serializes"),
    )
    .await;
}

/// Waits until the coordinator created the candidate stream.
pub async fn wait_stream(js: &jetstream::Context) {
    wait_for("the candidate stream", Duration::from_secs(30), || async {
        js.get_stream(subjects::STREAM).await.ok().map(|_| ())
    })
    .await;
}

/// Waits until every published batch was ingested and acknowledged (the
/// work-queue stream is empty).
pub async fn wait_drained(js: &jetstream::Context, within: Duration) {
    wait_for("the candidate stream to drain", within, || async {
        let mut stream = js.get_stream(subjects::STREAM).await.ok()?;
        (stream.info().await.ok()?.state.messages == 0).then_some(())
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skewed_draws_repeat_popular_items_and_are_reproducible() {
        let a = KnownStream::skewed(0x2545_F491_4F6C_DD1D, 100, 25, 4000, ("Item ", 4), "b");
        let b = KnownStream::skewed(0x2545_F491_4F6C_DD1D, 100, 25, 4000, ("Item ", 4), "b");
        assert_eq!(a, b);
        assert_eq!(a.batches.len(), 100);
        assert_eq!(a.batches[7].id, "b7");
        let draws: Vec<u64> = a
            .batches
            .iter()
            .flat_map(|b| &b.items)
            .map(|i| i["Item ".len()..].parse().expect("Item <4 digits>"))
            .collect();
        assert!(draws.iter().all(|n| *n < 4000));
        // Half the draws (a quarter if uniform) fall in the first quarter.
        let low = draws.iter().filter(|n| **n < 1000).count();
        assert!((1100..1400).contains(&low), "{low} of 2500 below 1000");
        assert!(a.items().len() < 2500, "popular items repeat");
    }

    #[test]
    fn spread_numbers_items_from_the_batch_and_item_index() {
        let s = KnownStream::spread(30..32, 3, 700, (41, 13), ("Item ", 3));
        let ids: Vec<&str> = s.batches.iter().map(|b| b.id.as_str()).collect();
        assert_eq!(ids, ["b30", "b31"]);
        assert_eq!(s.batches[0].items, ["Item 530", "Item 543", "Item 556"]);
        assert_eq!(s.batches[1].items, ["Item 571", "Item 584", "Item 597"]);
        assert_eq!(s.items().len(), 6);
    }
}
