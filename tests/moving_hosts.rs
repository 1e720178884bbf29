//! A coordinator that moves hosts: every line a topic folder gains is also
//! in the replicated items stream, so a coordinator started on a fresh data
//! dir (another host) restores the topic from it and carries on with the
//! run, and a data dir left behind catches up when it is the owner again.
//! Real nats-server, real coordinator binaries; batches published as
//! workers publish them.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use async_nats::jetstream;
use igentai_protocol::{MetricsSnapshot, RunState, subjects};
use testkit::stream::publish_all;
use testkit::{KnownBatch, KnownStream, NatsServer, check_folder, wait_for};

use common::{spawn_coordinator_as, start_run, try_status, wait_drained, wait_log, wait_stream};

const TOPIC: &str = "Items that move hosts";
const FOLDER: &str = "items-that-move-hosts";
const WITHIN: Duration = Duration::from_secs(60);

/// `n` batches (ids from `first`) of 20 items drawn from 700, so many
/// repeat across batches; and every item they hold.
fn batches(first: usize, n: usize) -> (Vec<KnownBatch>, BTreeSet<String>) {
    let stream = KnownStream::spread(first..first + n, 20, 700, (41, 13), ("Item ", 3));
    let items = stream.items();
    (stream.batches, items)
}

async fn publish(js: &jetstream::Context, run_id: &str, batches: &[KnownBatch]) {
    publish_all(js, run_id, TOPIC, batches).await;
}

/// The status once the coordinator counted `batches` batches.
async fn counted(client: &async_nats::Client, batches: u64) -> MetricsSnapshot {
    wait_for(&format!("{batches} batches counted"), WITHIN, || async {
        let s = try_status(client).await?;
        (s.totals.batches == batches).then_some(s)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_on_a_fresh_data_dir_restores_the_topic_and_carries_on_with_the_run() {
    let dir = testkit::test_dir();
    let nats = NatsServer::start(dir.path()).await;
    let client = nats.client().await;
    let js = jetstream::new(client.clone());
    let (host_a, host_b) = (dir.path().join("host-a"), dir.path().join("host-b"));
    let ttl = ["--standby", "--lease-ttl-ms", "2000"];

    // Host A runs the topic: a first part acknowledged, a second part in
    // flight when it is killed.
    let mut a = spawn_coordinator_as("a", dir.path(), &nats.url, &host_a, &ttl);
    wait_stream(&js).await;
    let run_id = start_run(&client, TOPIC).await;
    let (first, first_items) = batches(0, 30);
    publish(&js, &run_id, &first).await;
    wait_drained(&js, WITHIN).await;
    counted(&client, 30).await;
    let (second, second_items) = batches(30, 40);
    publish(&js, &run_id, &second[..20]).await;
    a.kill9();
    publish(&js, &run_id, &second[20..]).await;

    // Host B starts with nothing: it restores what A wrote from the items
    // stream and goes on with A's run.
    let mut b = spawn_coordinator_as("b", dir.path(), &nats.url, &host_b, &ttl);
    wait_log(dir.path(), "b", "coordinator ready", WITHIN).await;
    assert!(
        common::log_has(dir.path(), "b", "caught up with the items ledger"),
        "B restored nothing from the items stream"
    );
    wait_drained(&js, WITHIN).await;
    let after = counted(&client, 70).await;
    let all: BTreeSet<String> = first_items.union(&second_items).cloned().collect();
    check_folder(&host_b.join(FOLDER), &all);
    // The same run, its counters continued: each batch counted once.
    let run = after.run.as_ref().expect("a run");
    assert_eq!(run.run_id, run_id);
    assert_eq!(after.state, RunState::Running);
    assert_eq!(after.totals.candidates, 70 * 20);
    assert_eq!(after.totals.unique, all.len() as u64);
    // Batches A counted but was killed before acknowledging come again:
    // shown as repeats, not counted twice.
    assert!(after.totals.repeated_batches <= 40, "{:?}", after.totals);
    // B finishes the run.
    let reply = client
        .request(subjects::CONTROL_STOP, "".into())
        .await
        .expect("stop answered");
    let reply: igentai_protocol::StopReply =
        igentai_protocol::decode_reply(&reply.payload).expect("the run stops");
    assert_eq!(
        (reply.run_id.as_str(), reply.unique),
        (run_id.as_str(), all.len() as u64)
    );

    // Host A comes back as the owner with its folder left behind: it
    // catches up with what B added, and nothing is twice.
    assert!(b.terminate(WITHIN).await.success());
    let _a = spawn_coordinator_as("a-again", dir.path(), &nats.url, &host_a, &ttl);
    wait_log(dir.path(), "a-again", "coordinator ready", WITHIN).await;
    check_folder(&host_a.join(FOLDER), &all);
    let last = try_status(&client).await.expect("status");
    assert_eq!(last.state, RunState::Stopped);
    assert_eq!(last.totals.batches, 70);
    assert_eq!(last.totals.candidates, 70 * 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_the_items_stream_lost_is_published_to_it_again() {
    let dir = testkit::test_dir();
    let nats = NatsServer::start(dir.path()).await;
    let client = nats.client().await;
    let js = jetstream::new(client.clone());
    let (host_a, host_b) = (dir.path().join("host-a"), dir.path().join("host-b"));

    let mut a = spawn_coordinator_as("a", dir.path(), &nats.url, &host_a, &[]);
    wait_stream(&js).await;
    let run_id = start_run(&client, TOPIC).await;
    let (written, expected) = batches(0, 20);
    publish(&js, &run_id, &written).await;
    wait_drained(&js, WITHIN).await;
    counted(&client, 20).await;
    assert!(a.terminate(WITHIN).await.success());
    // The operator deletes the items stream (or the folder predates it).
    js.delete_stream(subjects::ITEMS_STREAM)
        .await
        .expect("delete the items stream");

    let mut a = spawn_coordinator_as("a-again", dir.path(), &nats.url, &host_a, &[]);
    wait_log(
        dir.path(),
        "a-again",
        "published the folder to the items ledger",
        WITHIN,
    )
    .await;
    assert!(a.terminate(WITHIN).await.success());

    let _b = spawn_coordinator_as("b", dir.path(), &nats.url, &host_b, &[]);
    wait_log(dir.path(), "b", "coordinator ready", WITHIN).await;
    check_folder(&host_b.join(FOLDER), &expected);
    let status = counted(&client, 20).await;
    assert_eq!(status.totals.candidates, 20 * 20);
    assert_eq!(status.run.expect("the run").run_id, run_id);
}
