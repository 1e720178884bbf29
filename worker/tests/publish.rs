//! A publish whose acknowledgement was lost with its connection, on a real
//! nats-server restarted under it: the worker publishes again (same id)
//! once it has reconnected and the stream is back, and the batch is stored
//! once.

use std::time::Duration;

use futures::StreamExt;
use igentai_protocol::{CandidateBatch, VERSION, subjects};
use testkit::NatsServer;
use tokio_util::sync::CancellationToken;
use worker::counters::Counters;

mod common;

fn batch() -> CandidateBatch {
    CandidateBatch {
        v: VERSION,
        batch_id: "w1-lost-ack".into(),
        run_id: "r1".into(),
        topic: "t".into(),
        worker_id: "w1".into(),
        provider: "sim".into(),
        model: "sim-1".into(),
        partition: None,
        items: vec!["Brie".into()],
        tokens_in: 10,
        tokens_cached_in: 0,
        tokens_out: 5,
        latency_ms: 1,
        cost_usd: 0.0,
        finish_reason: None,
        request_id: None,
        created_at_ms: 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ack_lost_with_its_connection_is_published_again_and_stored_once() {
    let dir = testkit::test_dir();
    let mut nats = NatsServer::start(dir.path()).await;
    // No stream yet: a plain subscriber takes the publish and never
    // answers, as a node that dies before acknowledging it.
    let swallower = nats.client().await;
    let mut swallowed = swallower
        .subscribe(subjects::CANDIDATES_ALL)
        .await
        .expect("subscribe");
    swallower.flush().await.expect("flush");
    let js = async_nats::jetstream::new(nats.client().await);
    let counters = std::sync::Arc::new(Counters::default());
    let publishing = {
        let (js, counters) = (js.clone(), counters.clone());
        tokio::spawn(async move {
            worker::publish::publish(&js, &batch(), &counters, &CancellationToken::new()).await
        })
    };
    tokio::time::timeout(Duration::from_secs(10), swallowed.next())
        .await
        .expect("the publish reaches the server")
        .expect("a message");

    nats.restart().await;
    common::create_stream(&nats.client().await).await;
    let delivered = tokio::time::timeout(Duration::from_secs(30), publishing)
        .await
        .expect("published again right after the reconnect")
        .expect("the publish task");
    assert!(delivered);
    let stored = js
        .get_stream(subjects::STREAM)
        .await
        .expect("the stream")
        .info()
        .await
        .expect("its info")
        .state
        .messages;
    assert_eq!(stored, 1);
    assert!(
        counters
            .publish_retries
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1
    );
}
