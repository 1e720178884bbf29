//! Fencing: a coordinator that lost its lease writes nothing more. Taking
//! the lease over is immediate (the TTL expired while the owner was
//! frozen, or the operator deleted the lease), while the old owner notices
//! only at its next renewal; meanwhile NATS itself refuses its ledger
//! entries, so it stops without acknowledging, its batches go to the new
//! owner, and the new owner's folder holds every item of every
//! acknowledged batch once. Real nats-server, real coordinator binaries,
//! batches published as workers publish them, under a steady stream.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use coordinator::ItemRecord;
use coordinator::topic_subject;
use coordinator::{LEASE_BUCKET, LEASE_KEY};
use futures::StreamExt;
use igentai_protocol::subjects;
use testkit::{NatsServer, Proc, wait_for};

use common::{
    batch, log_has, publish_batch, spawn_coordinator_as, start_run, wait_drained, wait_log,
    wait_stream,
};

const TOPIC: &str = "Fenced items";
const FOLDER: &str = "fenced-items";
const WITHIN: Duration = Duration::from_secs(60);
/// Both coordinators: standbys with a short lease, so a frozen owner's
/// lease expires quickly.
const STANDBY: [&str; 3] = ["--standby", "--lease-ttl-ms", "1500"];
const LOST: &str = "lost ownership of the candidate stream";

/// Publishes batches every few milliseconds until stopped, as workers do;
/// every item published.
struct Publisher {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<BTreeSet<String>>,
}

impl Publisher {
    fn start(js: &jetstream::Context, run_id: &str) -> Publisher {
        let stop = Arc::new(AtomicBool::new(false));
        let (js, run_id, flag) = (js.clone(), run_id.to_string(), stop.clone());
        let task = tokio::spawn(async move {
            let mut all = BTreeSet::new();
            let mut pace = tokio::time::interval(Duration::from_millis(8));
            let mut i = 0usize;
            while !flag.load(Ordering::Relaxed) {
                pace.tick().await;
                // 20 items from a million, so most are new for the whole
                // test and every commit has ledger entries to publish.
                let items: Vec<String> = (0..20)
                    .map(|j| format!("Item {:07}", (i * 7919 + j * 613) % 1_000_000))
                    .collect();
                let refs: Vec<&str> = items.iter().map(String::as_str).collect();
                publish_batch(&js, &batch(&format!("b{i}"), &run_id, TOPIC, "sim", &refs)).await;
                all.extend(items);
                i += 1;
            }
            all
        });
        Publisher { stop, task }
    }

    async fn finish(self) -> BTreeSet<String> {
        self.stop.store(true, Ordering::Relaxed);
        tokio::time::timeout(WITHIN, self.task)
            .await
            .expect("the publisher stops")
            .unwrap()
    }
}

fn output(data: &Path) -> Vec<String> {
    common::lines(&data.join(FOLDER).join("output.txt"))
}

fn signal(proc: &Proc, signal: &str) {
    let sent = Command::new("kill")
        .args([signal, &proc.pid().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill {signal} {}", proc.pid());
}

/// Every item the items ledger holds for the topic.
async fn ledger_items(js: &jetstream::Context) -> BTreeSet<String> {
    let stream = js
        .get_stream(subjects::ITEMS_STREAM)
        .await
        .expect("the items stream");
    let consumer = stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: format!("{}.item", topic_subject(TOPIC)),
            ..Default::default()
        })
        .await
        .expect("an ordered consumer");
    let mut items = BTreeSet::new();
    if consumer.cached_info().num_pending == 0 {
        return items;
    }
    let mut messages = consumer.messages().await.expect("messages");
    while let Some(message) = tokio::time::timeout(WITHIN, messages.next())
        .await
        .expect("the ledger answers")
    {
        let message = message.expect("a ledger entry");
        let record: ItemRecord = serde_json::from_slice(&message.payload).expect("an item record");
        items.insert(record.item);
        if message.info().expect("info").pending == 0 {
            break;
        }
    }
    items
}

/// The stale owner stopped with the lost lease named, and wrote nothing
/// the new owner lacks; the new owner holds every item of every batch
/// (all acknowledged: the stream drained) once, and so does the ledger.
async fn check_handover(
    js: &jetstream::Context,
    dir: &Path,
    stale: &[(&str, &Path)],
    owner: &Path,
    expected: &BTreeSet<String>,
) {
    wait_drained(js, Duration::from_secs(90)).await;
    let held = output(owner);
    let held_set: BTreeSet<String> = held.iter().cloned().collect();
    let missing: Vec<&String> = expected.difference(&held_set).collect();
    assert!(
        missing.is_empty(),
        "the owner lacks {} items of acknowledged batches, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    common::check_folder(&owner.join(FOLDER), expected);
    let ledger = ledger_items(js).await;
    let unknown: Vec<&String> = ledger.difference(&held_set).collect();
    assert!(
        unknown.is_empty(),
        "the ledger holds {} items the owner lacks, e.g. {:?}",
        unknown.len(),
        &unknown[..unknown.len().min(5)]
    );
    for (name, data) in stale {
        let theirs: BTreeSet<String> = output(data).into_iter().collect();
        let extra: Vec<&String> = theirs.difference(&held_set).collect();
        assert!(
            extra.is_empty(),
            "{name} stored {} items the owner lacks, e.g. {:?}",
            extra.len(),
            &extra[..extra.len().min(5)]
        );
        assert!(
            log_has(dir, name, LOST),
            "{name} did not name the lost lease"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_frozen_past_its_lease_writes_nothing_more_and_exits() {
    let dir = testkit::test_dir();
    let nats = NatsServer::start(dir.path()).await;
    let client = nats.client().await;
    let js = jetstream::new(client.clone());
    let (host_a, host_b) = (dir.path().join("host-a"), dir.path().join("host-b"));

    // Committing every 300 ms, A holds batches deduplicated and not yet
    // committed whenever it is frozen.
    let slow = [&STANDBY[..], &["--commit-interval-ms", "300"]].concat();
    let mut a = spawn_coordinator_as("a", dir.path(), &nats.url, &host_a, &slow);
    wait_log(dir.path(), "a", "coordinator ready", WITHIN).await;
    wait_stream(&js).await;
    let run_id = start_run(&client, TOPIC).await;
    let mut b = spawn_coordinator_as("b", dir.path(), &nats.url, &host_b, &STANDBY);
    wait_log(dir.path(), "b", "standing by", WITHIN).await;

    let publisher = Publisher::start(&js, &run_id);
    wait_for("A to ingest", WITHIN, || async {
        (output(&host_a).len() >= 500).then_some(())
    })
    .await;
    // Frozen mid-stream, with batches deduplicated and not yet committed;
    // its lease expires and B takes over and commits.
    signal(&a, "-STOP");
    wait_log(dir.path(), "b", "coordinator ready", WITHIN).await;
    let before = output(&host_b).len();
    wait_for("B to commit", WITHIN, || async {
        (output(&host_b).len() >= before + 200).then_some(())
    })
    .await;
    signal(&a, "-CONT");
    let status = a.wait_exit(WITHIN).await;
    assert_eq!(status.code(), Some(1), "{}", a.log_text());
    let expected = publisher.finish().await;
    check_handover(&js, dir.path(), &[("a", &host_a)], &host_b, &expected).await;
    assert!(b.is_running());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_whose_lease_is_deleted_under_load_hand_over_everything() {
    // About 1.5 s a round.
    const ROUNDS: usize = 20;
    let dir = testkit::test_dir();
    let nats = NatsServer::start(dir.path()).await;
    let client = nats.client().await;
    let js = jetstream::new(client.clone());
    let hosts = [dir.path().join("host-a"), dir.path().join("host-b")];

    let mut owner = spawn_coordinator_as("r0", dir.path(), &nats.url, &hosts[0], &STANDBY);
    wait_log(dir.path(), "r0", "coordinator ready", WITHIN).await;
    wait_stream(&js).await;
    let run_id = start_run(&client, TOPIC).await;
    let mut standby = spawn_coordinator_as("r1", dir.path(), &nats.url, &hosts[1], &STANDBY);
    wait_log(dir.path(), "r1", "standing by", WITHIN).await;
    let lease = js
        .get_key_value(LEASE_BUCKET)
        .await
        .expect("the lease bucket");

    let publisher = Publisher::start(&js, &run_id);
    let mut stale = Vec::new();
    for round in 1..=ROUNDS {
        let owner_host = &hosts[(round - 1) % 2];
        let at = output(owner_host).len();
        wait_for("the owner to commit", WITHIN, || async {
            (output(owner_host).len() >= at + 50).then_some(())
        })
        .await;
        // The operator: `nats kv del igentai_lease coordinator`.
        lease.delete(LEASE_KEY).await.expect("delete the lease");
        let status = owner.wait_exit(WITHIN).await;
        assert_eq!(status.code(), Some(1), "{}", owner.log_text());
        stale.push((format!("r{}", round - 1), owner_host.clone()));
        let name = format!("r{round}");
        wait_log(dir.path(), &name, "coordinator ready", WITHIN).await;
        // The one that stopped comes back as the standby.
        let next = format!("r{}", round + 1);
        owner = std::mem::replace(
            &mut standby,
            spawn_coordinator_as(&next, dir.path(), &nats.url, owner_host, &STANDBY),
        );
        wait_log(dir.path(), &next, "standing by", WITHIN).await;
    }
    let expected = publisher.finish().await;
    let last = &hosts[ROUNDS % 2];
    let stale: Vec<(&str, &Path)> = stale
        .iter()
        .map(|(n, h)| (n.as_str(), h.as_path()))
        .collect();
    // Each stale host's folder is compared with the last owner's, which
    // caught up with everything any of them acknowledged.
    check_handover(&js, dir.path(), &stale, last, &expected).await;
    assert!(owner.is_running());
}
