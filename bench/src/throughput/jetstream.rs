//! The candidate stream as the benchmarks use it: filled with batches as
//! workers publish them (`Nats-Msg-Id`, bounded publish-acks in flight),
//! watched until it is empty, and the nats-server behind it found by port
//! so its CPU time can be read.

use std::time::{Duration, Instant};

use anyhow::Context;
use async_nats::jetstream::{self, message::PublishMessage};
use bytes::Bytes;
use futures::stream::{FuturesUnordered, StreamExt};
use igentai_protocol::subjects;

/// Publish-acks a publisher keeps in flight.
const WINDOW: usize = 1024;

/// The candidate stream with the coordinator's own configuration.
pub async fn create_stream(js: &jetstream::Context) -> anyhow::Result<jetstream::stream::Stream> {
    js.get_or_create_stream(igentai_client::stream::candidates(1))
        .await
        .context("create the candidate stream")
}

/// Publishes every payload to the candidate stream, each with its id
/// prefixed by `id_prefix` (ids must differ between runs of the same
/// payloads, or the stream's duplicate window drops them); returns how long
/// it took until the last was acknowledged.
pub async fn publish(
    js: &jetstream::Context,
    payloads: &[(String, Bytes)],
    id_prefix: &str,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut acks = FuturesUnordered::new();
    for (i, (id, payload)) in payloads.iter().enumerate() {
        if acks.len() >= WINDOW {
            acks.next().await.context("ack stream")??;
        }
        let subject = subjects::candidates(&format!("bench-w{}", i % 8));
        let message = PublishMessage::build()
            .payload(payload.clone())
            .message_id(format!("{id_prefix}{id}"));
        let ack = js.send_publish(subject, message).await?;
        acks.push(async move { ack.await.map(|_| ()).context("publish ack") });
    }
    while let Some(ack) = acks.next().await {
        ack?;
    }
    Ok(started.elapsed())
}

/// Messages the candidate stream holds.
pub async fn stored(stream: &jetstream::stream::Stream) -> anyhow::Result<u64> {
    Ok(stream.get_info().await?.state.messages)
}

/// Waits until the stream holds no message (every batch acknowledged), for
/// at most `within`; polls every few milliseconds.
pub async fn wait_empty(
    stream: &jetstream::stream::Stream,
    within: Duration,
) -> anyhow::Result<Instant> {
    let deadline = Instant::now() + within;
    loop {
        if stored(stream).await? == 0 {
            return Ok(Instant::now());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the candidate stream did not drain within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The pid of the nats-server listening on `port` (testkit starts it with
/// `-p <port>`).
pub fn server_pid(port: u16) -> Option<u32> {
    let port = port.to_string();
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
        let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
        let is_nats = args.first().is_some_and(|a| a.ends_with(b"nats-server"));
        let on_port = args
            .windows(2)
            .any(|w| w[0] == b"-p" && w[1] == port.as_bytes());
        (is_nats && on_port).then_some(pid)
    })
}
