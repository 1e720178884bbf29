//! Sighting counts travel with the items ledger: a topic restored on a
//! fresh data dir (another host) has the same counts, and so the same
//! coverage estimate (Chao1: items seen once and twice), as the folder
//! that wrote them, and keeps them across its own restart. Real
//! nats-server, real coordinator binaries; batches published as workers
//! publish them.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use async_nats::jetstream;
use igentai_protocol::{Estimate, MetricsSnapshot};
use testkit::stream::publish_all;
use testkit::{KnownBatch, KnownStream, NatsServer, wait_for};

use common::{spawn_coordinator_as, start_run, try_status, wait_drained, wait_log, wait_stream};

const TOPIC: &str = "Sightings that travel";
const WITHIN: Duration = Duration::from_secs(60);

/// 40 batches of 20 items spread over 300 (so most repeat across
/// batches), then a batch with a new item twice, and one with a
/// near-duplicate spelling of an item twice; and each batch's items as the
/// items they count for (a near-duplicate counts for the item it merges
/// into).
fn batches() -> (Vec<KnownBatch>, Vec<Vec<String>>) {
    let mut batches = KnownStream::spread(0..40, 20, 300, (41, 13), ("Item ", 3)).batches;
    let mut counted: Vec<Vec<String>> = batches.iter().map(|b| b.items.clone()).collect();
    let strings = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    for (id, items, as_counted) in [
        (
            "b-new",
            ["Brie", "Gouda", "Gouda"],
            ["Brie", "Gouda", "Gouda"],
        ),
        (
            "b-variant",
            ["Brie (Bergamo, Italy)", "Brie (Bergamo, Italy)", "Gouda"],
            ["Brie", "Brie", "Gouda"],
        ),
    ] {
        batches.push(KnownBatch {
            id: id.into(),
            items: strings(&items),
        });
        counted.push(strings(&as_counted));
    }
    (batches, counted)
}

/// Items seen exactly once and exactly twice, and how many distinct.
fn expected(counted: &[Vec<String>]) -> (u64, u64, u64) {
    let mut counts = BTreeMap::<&str, u64>::new();
    for item in counted.iter().flatten() {
        *counts.entry(item).or_default() += 1;
    }
    let with = |n: u64| counts.values().filter(|&&c| c == n).count() as u64;
    (with(1), with(2), counts.len() as u64)
}

/// The status once `batches` batches are counted and the open topic has
/// an estimate; it holds `unique` items.
async fn settled(client: &async_nats::Client, batches: u64, unique: u64) -> MetricsSnapshot {
    let status = wait_for(&format!("{batches} batches counted"), WITHIN, || async {
        let s = try_status(client).await?;
        (s.totals.batches == batches && s.estimate.is_some()).then_some(s)
    })
    .await;
    assert_eq!(status.totals.unique, unique, "{:?}", status.totals);
    status
}

fn f1_f2(estimate: &Option<Estimate>) -> (u64, u64) {
    let e = estimate.as_ref().expect("an estimate");
    (e.f1, e.f2)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_restored_on_a_fresh_data_dir_has_the_sighting_counts_it_was_written_with() {
    let dir = testkit::test_dir();
    let nats = NatsServer::start(dir.path()).await;
    let client = nats.client().await;
    let js = jetstream::new(client.clone());
    let (host_a, host_b) = (dir.path().join("host-a"), dir.path().join("host-b"));
    let (batches, counted) = batches();
    let (f1, f2, unique) = expected(&counted);
    let n = batches.len() as u64;
    assert!(f2 > 0 && f1 > 0, "the stream repeats items: {f1} {f2}");

    // Host A counts every sighting as it takes the batches in.
    let mut a = spawn_coordinator_as("a", dir.path(), &nats.url, &host_a, &[]);
    wait_stream(&js).await;
    let run_id = start_run(&client, TOPIC).await;
    publish_all(&js, &run_id, TOPIC, &batches).await;
    wait_drained(&js, WITHIN).await;
    let on_a = settled(&client, n, unique).await;
    assert_eq!(f1_f2(&on_a.estimate), (f1, f2), "{:?}", on_a.estimate);
    assert!(a.terminate(WITHIN).await.success());

    // Host B starts with nothing and restores the topic from the items
    // stream: the same counts, so the same estimate.
    let mut b = spawn_coordinator_as("b", dir.path(), &nats.url, &host_b, &[]);
    wait_log(dir.path(), "b", "caught up with the items ledger", WITHIN).await;
    let on_b = settled(&client, n, unique).await;
    assert_eq!(
        on_b.run.as_ref().map(|r| r.run_id.as_str()),
        Some(run_id.as_str())
    );
    assert_eq!(on_b.estimate, on_a.estimate);

    // And keeps them when it opens its own folder again.
    assert!(b.terminate(WITHIN).await.success());
    let _b = spawn_coordinator_as("b-again", dir.path(), &nats.url, &host_b, &[]);
    wait_log(dir.path(), "b-again", "coordinator ready", WITHIN).await;
    let again = settled(&client, n, unique).await;
    assert_eq!(again.estimate, on_a.estimate);
}
