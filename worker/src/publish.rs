//! Publishing candidate batches to JetStream, at least once.
//!
//! A batch is published with `Nats-Msg-Id` = its batch id and retried with
//! the same id until the stream acknowledges it, so a retry after a lost
//! acknowledgement is stored once. A paid answer is given up only when the
//! process must exit and its bound has passed.

use std::sync::atomic::Ordering;
use std::time::Duration;

use async_nats::jetstream::{self, message::PublishMessage};
use igentai_protocol::{CandidateBatch, subjects};
use tokio_util::sync::CancellationToken;

use crate::counters::Counters;
use crate::rng::{Rng, entropy};

/// How long to wait for the stream's acknowledgement of one attempt. On a
/// cluster, a publish the stream's leader took and died with is never
/// acknowledged while the worker's own connection stays up: only this
/// timeout ends the wait, so it bounds how long a dead node stalls a
/// worker (with the new leader's election, about 5 s; tests/cluster.rs
/// measures it). An acknowledgement normally takes milliseconds, and a
/// retry with the same id is stored once.
const ACK_TIMEOUT: Duration = Duration::from_secs(3);

/// Publishes until acknowledged; false when `give_up` fired first.
pub async fn publish(
    js: &jetstream::Context,
    batch: &CandidateBatch,
    counters: &Counters,
    give_up: &CancellationToken,
) -> bool {
    let subject = subjects::candidates(&batch.worker_id);
    let payload: bytes::Bytes = serde_json::to_vec(batch).expect("batches serialize").into();
    let mut delay = Duration::from_millis(100);
    let mut rng = Rng::new(entropy());
    for attempt in 1u64.. {
        let message = PublishMessage::build()
            .payload(payload.clone())
            .message_id(&batch.batch_id);
        let outcome = async {
            let ack = js
                .send_publish(subject.clone(), message)
                .await
                .map_err(|e| e.to_string())?;
            match tokio::time::timeout(ACK_TIMEOUT, ack).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!("no acknowledgement within {ACK_TIMEOUT:?}")),
            }
        };
        let result = tokio::select! {
            r = outcome => r,
            _ = give_up.cancelled() => Err("giving up".into()),
        };
        match result {
            Ok(()) => {
                counters.batches_published.fetch_add(1, Ordering::Relaxed);
                counters
                    .items_published
                    .fetch_add(batch.items.len() as u64, Ordering::Relaxed);
                return true;
            }
            Err(error) => {
                counters.publish_retries.fetch_add(1, Ordering::Relaxed);
                if attempt == 1 || attempt % 20 == 0 {
                    tracing::warn!(batch_id = %batch.batch_id, attempt, %error, "publish failed; retrying with the same id");
                }
            }
        }
        let jittered = delay.mul_f64(0.5 + rng.unit());
        tokio::select! {
            _ = tokio::time::sleep(jittered) => {}
            _ = give_up.cancelled() => {
                tracing::error!(batch_id = %batch.batch_id, items = batch.items.len(),
                    "gave up publishing a batch at exit; its answer is lost");
                return false;
            }
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
    unreachable!("the retry loop only ends by returning")
}
