//! Durable means durable: a coordinator finding a candidate stream whose
//! settings could drop or lose batches refuses to run on it, saying what is
//! wrong and how to fix it, and runs on the stream it creates itself.

mod common;

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use igentai_protocol::subjects;
use testkit::NatsServer;

use common::spawn_coordinator;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_could_drop_batches_is_refused() {
    let dir = testkit::test_dir();
    let nats = NatsServer::start(dir.path()).await;
    let js = jetstream::new(nats.client().await);
    // As an operator might have made it by hand: keeps everything, and
    // drops the oldest unread batches when full.
    let mut unsafe_config = igentai_client::stream::candidates(1);
    unsafe_config.retention = stream::RetentionPolicy::Limits;
    unsafe_config.discard = stream::DiscardPolicy::Old;
    js.create_stream(unsafe_config).await.unwrap();

    let data = dir.path().join("data");
    let mut coordinator = spawn_coordinator(dir.path(), &nats.url, &data);
    let status = coordinator.wait_exit(Duration::from_secs(30)).await;
    assert!(!status.success(), "{status:?}");
    let log = coordinator.log_text();
    for needle in [
        "could lose batches",
        "retention",
        "discard",
        "nats stream rm",
    ] {
        assert!(log.contains(needle), "{needle:?} missing:\n{log}");
    }
    // It touched nothing: the stream is as it was, with no consumer.
    let mut stream = js.get_stream(subjects::STREAM).await.unwrap();
    let info = stream.info().await.unwrap();
    assert_eq!(info.config.discard, stream::DiscardPolicy::Old);
    assert_eq!(info.state.consumer_count, 0);

    // Deleted as the error says, the coordinator creates it safely.
    js.delete_stream(subjects::STREAM).await.unwrap();
    let mut coordinator = spawn_coordinator(dir.path(), &nats.url, &data);
    let created = testkit::wait_for("the candidate stream", Duration::from_secs(30), || async {
        let mut stream = js.get_stream(subjects::STREAM).await.ok()?;
        let info = stream.info().await.ok()?.clone();
        (info.state.consumer_count == 1).then_some(info)
    })
    .await;
    assert!(igentai_client::stream::unsafe_settings(&created.config).is_empty());
    assert!(coordinator.is_running());
}
