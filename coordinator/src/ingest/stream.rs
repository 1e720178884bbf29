//! The candidate stream and the coordinator's durable pull consumer on it:
//! created when missing, checked when found (settings that could drop or
//! lose batches are refused), grown to the decided copies.

use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream::{self, consumer::pull};
use igentai_protocol::subjects;
use tokio_util::sync::CancellationToken;

use crate::ingest::MAX_PENDING;

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

/// An existing candidate stream whose settings could drop or lose batches:
/// the coordinator refuses to run on it rather than retry.
#[derive(Debug, thiserror::Error)]
#[error(
    "the candidate stream {stream} could lose batches: {problems}. Drain it (stop the workers, \
     let the coordinator empty it), then delete it (`nats stream rm {stream}`) so the \
     coordinator creates it anew, or fix it with `nats stream edit`"
)]
pub struct UnsafeStream {
    pub stream: String,
    pub problems: String,
}

/// Creates (or finds and checks) the candidate stream with `replicas`
/// copies (growing an existing one with fewer) and the coordinator's
/// durable consumer, and starts pulling from it.
pub async fn open_stream(js: &jetstream::Context, replicas: usize) -> anyhow::Result<pull::Stream> {
    let mut stream = js
        .get_or_create_stream(igentai_client::stream::candidates(replicas))
        .await
        .context("create or find the candidate stream")?;
    crate::replication::replicas::grow(js, &mut stream, replicas).await?;
    let info = stream
        .info()
        .await
        .context("read the candidate stream's settings")?;
    let problems = igentai_client::stream::unsafe_settings(&info.config);
    if !problems.is_empty() {
        return Err(UnsafeStream {
            stream: info.config.name.clone(),
            problems: problems.join("; "),
        }
        .into());
    }
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

/// Opens the candidate stream, retrying while NATS is unreachable or
/// JetStream not ready; an existing stream that could lose batches is an
/// error ([`UnsafeStream`]). `None` when shut down first.
pub async fn open_stream_retrying(
    js: &jetstream::Context,
    replicas: usize,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<pull::Stream>> {
    igentai_client::retry::until_done(
        "open the candidate stream",
        shutdown,
        |e| e.is::<UnsafeStream>(),
        || open_stream(js, replicas),
    )
    .await
}
