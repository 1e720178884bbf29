//! The items stream keeps a topic's whole history, and a coordinator says
//! so when it cannot: an existing `IGENTAI_ITEMS` whose settings could drop
//! entries is refused, a restore that finds entries after the folder's
//! mark already gone is reported, and a folder whose mark belongs to an
//! earlier items stream (deleted, then grown again) is published to the
//! new one. Real nats-server, real coordinator binaries; batches published
//! as workers publish them.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, stream};
use igentai_protocol::{MetricsSnapshot, subjects};
use testkit::stream::publish_all;
use testkit::{KnownBatch, KnownStream, NatsServer, check_folder, wait_for};

use common::{spawn_coordinator_as, start_run, try_status, wait_drained, wait_log, wait_stream};

const TOPIC: &str = "Items kept for good";
const FOLDER: &str = "items-kept-for-good";
const WITHIN: Duration = Duration::from_secs(60);
/// The log line of a folder published to the items stream (backfill).
const BACKFILLED: &str = "published the folder to the items ledger";

/// 20 batches of 20 items drawn from 500; and every item they hold.
fn batches() -> (Vec<KnownBatch>, BTreeSet<String>) {
    let stream = KnownStream::spread(0..20, 20, 500, (37, 11), ("Kept item ", 3));
    let items = stream.items();
    (stream.batches, items)
}

/// The status once the coordinator counted `batches` batches.
async fn counted(client: &async_nats::Client, batches: u64) -> MetricsSnapshot {
    wait_for(&format!("{batches} batches counted"), WITHIN, || async {
        let s = try_status(client).await?;
        (s.totals.batches == batches).then_some(s)
    })
    .await
}

/// Runs the topic on a coordinator named `name` on data dir `data`: 20
/// batches counted, then the coordinator stopped. Returns every item.
async fn run_topic(
    dir: &Path,
    nats: &NatsServer,
    js: &jetstream::Context,
    name: &str,
    data: &Path,
) -> BTreeSet<String> {
    let client = nats.client().await;
    let mut coordinator = spawn_coordinator_as(name, dir, &nats.url, data, &[]);
    wait_stream(js).await;
    let run_id = start_run(&client, TOPIC).await;
    let (written, items) = batches();
    publish_all(js, &run_id, TOPIC, &written).await;
    wait_drained(js, WITHIN).await;
    counted(&client, 20).await;
    assert!(coordinator.terminate(WITHIN).await.success());
    items
}

/// The items stream as it is now.
async fn items_stream(js: &jetstream::Context) -> stream::Info {
    let mut stream = js
        .get_stream(subjects::ITEMS_STREAM)
        .await
        .expect("the items stream");
    stream
        .info()
        .await
        .expect("the items stream's info")
        .clone()
}

/// The topic folder's `ledger.json`.
fn read_mark(folder: &Path) -> serde_json::Value {
    let path = folder.join(coordinator::MARK);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_slice(&bytes).expect("ledger.json is JSON")
}

/// Rewrites the folder's `ledger.json` as a coordinator without stream
/// incarnations wrote it: its subject and sequence only.
fn write_old_mark(folder: &Path) -> u64 {
    let mark = read_mark(folder);
    let sequence = mark["sequence"].as_u64().expect("a sequence");
    let old = serde_json::json!({ "subject": mark["subject"], "sequence": sequence });
    std::fs::write(folder.join(coordinator::MARK), old.to_string()).expect("write ledger.json");
    sequence
}

/// Deletes the items stream and makes a new one that grew past `sequence`
/// with another topic's entries, as it would once other topics ran on it.
async fn replace_items_stream(js: &jetstream::Context, sequence: u64) {
    js.delete_stream(subjects::ITEMS_STREAM)
        .await
        .expect("delete the items stream");
    js.create_stream(igentai_client::stream::items(1))
        .await
        .expect("create the items stream again");
    let subject = format!("{}.batch", coordinator::topic_subject("Another topic"));
    let mut acks = Vec::new();
    for i in 0..sequence + 10 {
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", format!("another-{i}").as_str());
        let ack = js
            .publish_with_headers(subject.clone(), headers, "{}".into())
            .await
            .expect("publish an entry of another topic");
        acks.push(ack);
    }
    for ack in acks {
        ack.await.expect("the items stream stored the entry");
    }
    assert!(items_stream(js).await.state.last_sequence > sequence);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_items_stream_that_could_drop_history_is_refused() {
    let dir = testkit::test_dir();
    let nats = NatsServer::start(dir.path()).await;
    let js = jetstream::new(nats.client().await);
    // As an operator might have made it by hand: entries expire, a topic
    // keeps only its last entries of each kind, and a full stream drops
    // its oldest.
    let mut unsafe_config = igentai_client::stream::items(1);
    unsafe_config.max_age = Duration::from_secs(3600);
    unsafe_config.max_messages_per_subject = 1000;
    unsafe_config.max_bytes = 1 << 30;
    unsafe_config.discard = stream::DiscardPolicy::Old;
    js.create_stream(unsafe_config).await.expect("create");

    let data = dir.path().join("data");
    let mut refused = spawn_coordinator_as("refused", dir.path(), &nats.url, &data, &[]);
    let status = refused.wait_exit(Duration::from_secs(30)).await;
    assert!(!status.success(), "{status:?}");
    let log = refused.log_text();
    for needle in [
        "IGENTAI_ITEMS",
        "max_age",
        "max_msgs_per_subject",
        "max_bytes",
        "discard",
        "nats stream edit IGENTAI_ITEMS",
    ] {
        assert!(log.contains(needle), "{needle:?} missing:\n{log}");
    }
    // It touched nothing: the stream is as the operator left it.
    let info = items_stream(&js).await;
    assert_eq!(info.config.max_age, Duration::from_secs(3600));
    assert_eq!(info.config.discard, stream::DiscardPolicy::Old);

    // Fixed as the error says (the API's form of `nats stream edit`), the
    // coordinator runs on it.
    let mut fixed = info.config.clone();
    fixed.max_age = Duration::ZERO;
    fixed.max_messages_per_subject = -1;
    fixed.discard = stream::DiscardPolicy::New;
    js.update_stream(fixed)
        .await
        .expect("edit the items stream");
    let mut coordinator = spawn_coordinator_as("fixed", dir.path(), &nats.url, &data, &[]);
    wait_log(dir.path(), "fixed", "coordinator ready", WITHIN).await;
    assert!(coordinator.is_running());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_missing_entries_the_stream_no_longer_holds_says_so() {
    let dir = testkit::test_dir();
    let nats = NatsServer::start(dir.path()).await;
    let client = nats.client().await;
    let js = jetstream::new(client.clone());
    run_topic(dir.path(), &nats, &js, "a", &dir.path().join("host-a")).await;

    // The first half of the stream is gone (a purge, or a limit the stream
    // had before it was checked).
    let cut = items_stream(&js).await.state.last_sequence / 2;
    let stream = js.get_stream(subjects::ITEMS_STREAM).await.expect("stream");
    stream.purge().sequence(cut).await.expect("purge");
    assert_eq!(items_stream(&js).await.state.first_sequence, cut);

    // A fresh data dir restores what is left, and says it may be partial.
    let _b = spawn_coordinator_as("b", dir.path(), &nats.url, &dir.path().join("host-b"), &[]);
    wait_log(dir.path(), "b", "coordinator ready", WITHIN).await;
    let log = std::fs::read_to_string(dir.path().join("b.log")).expect("b's log");
    let warning = log
        .lines()
        .find(|l| l.contains("WARN") && l.contains("no longer holds"))
        .unwrap_or_else(|| panic!("no warning of the missing entries:\n{log}"));
    for needle in [TOPIC, "mark=0", &format!("first_available={cut}")] {
        assert!(warning.contains(needle), "{needle:?} missing: {warning}");
    }
    let status = try_status(&client).await.expect("status");
    let error = status.last_error.unwrap_or_default();
    for needle in [TOPIC, "no longer holds", &cut.to_string()] {
        assert!(error.contains(needle), "{needle:?} missing: {error:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mark_of_a_deleted_items_stream_does_not_block_the_backfill() {
    let dir = testkit::test_dir();
    let nats = NatsServer::start(dir.path()).await;
    let client = nats.client().await;
    let js = jetstream::new(client.clone());
    let host_a = dir.path().join("host-a");
    let all = run_topic(dir.path(), &nats, &js, "a", &host_a).await;
    let mark = read_mark(&host_a.join(FOLDER))["sequence"]
        .as_u64()
        .expect("a mark");

    // The operator deletes the items stream; it is made again and grows
    // past the folder's mark before the folder's coordinator comes back.
    replace_items_stream(&js, mark).await;
    let mut a = spawn_coordinator_as("a-again", dir.path(), &nats.url, &host_a, &[]);
    wait_log(dir.path(), "a-again", BACKFILLED, WITHIN).await;
    assert!(a.terminate(WITHIN).await.success());

    // So the topic moves again: a fresh data dir restores all of it.
    let _b = spawn_coordinator_as("b", dir.path(), &nats.url, &dir.path().join("host-b"), &[]);
    wait_log(dir.path(), "b", "coordinator ready", WITHIN).await;
    check_folder(&dir.path().join("host-b").join(FOLDER), &all);
    let status = counted(&client, 20).await;
    assert_eq!(status.totals.unique, all.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mark_from_before_incarnations_is_kept_on_its_stream_and_dropped_on_another() {
    let dir = testkit::test_dir();
    let nats = NatsServer::start(dir.path()).await;
    let js = jetstream::new(nats.client().await);
    let host_a = dir.path().join("host-a");
    let folder = host_a.join(FOLDER);
    run_topic(dir.path(), &nats, &js, "a", &host_a).await;

    // A mark written before marks named their stream, on the same stream:
    // nothing is published again (the new owner's fence is the only new
    // entry), and the mark now names the stream.
    write_old_mark(&folder);
    let before = items_stream(&js).await.state.messages;
    let mut a = spawn_coordinator_as("a-same", dir.path(), &nats.url, &host_a, &[]);
    wait_log(dir.path(), "a-same", "coordinator ready", WITHIN).await;
    assert_eq!(items_stream(&js).await.state.messages, before + 1);
    assert!(!common::log_has(dir.path(), "a-same", BACKFILLED));
    assert!(
        read_mark(&folder)["stream_created_ns"].is_u64(),
        "{}",
        read_mark(&folder)
    );
    assert!(a.terminate(WITHIN).await.success());

    // The same old mark on a stream made since, grown past it: the folder
    // is published to the new stream.
    let sequence = write_old_mark(&folder);
    replace_items_stream(&js, sequence).await;
    let _a = spawn_coordinator_as("a-new", dir.path(), &nats.url, &host_a, &[]);
    wait_log(dir.path(), "a-new", BACKFILLED, WITHIN).await;
}
