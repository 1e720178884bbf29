//! One writer: a second coordinator on the same data dir, or on another
//! data dir against the same NATS, refuses to start and names the owner;
//! with `--standby` it waits without writing and takes over when the owner
//! is killed (nothing lost, nothing twice) or stops (at once, not after the
//! lease's TTL); and an owner whose lease is taken away stops.

mod common;

use std::path::Path;
use std::process::ExitStatus;
use std::time::Duration;

use async_nats::jetstream;
use coordinator::{LEASE_BUCKET, LEASE_KEY, LOCK_FILE};
use testkit::{KnownStream, NatsServer, Proc, check_folder, wait_for};

use common::{
    lock_owner, log_has, spawn_coordinator, spawn_coordinator_as, start_run, wait_drained,
    wait_log, wait_stream,
};

const TOPIC: &str = "One writer items";
const FOLDER: &str = "one-writer-items";

/// Waits (bounded) for coordinator `proc` to exit; its status and
/// everything it printed.
async fn wait_exit(proc: &mut Proc) -> (ExitStatus, String) {
    let status = proc.wait_exit(Duration::from_secs(30)).await;
    (status, proc.log_text())
}

async fn run_to_exit(
    name: &str,
    dir: &Path,
    nats_url: &str,
    data: &Path,
    args: &[&str],
) -> (ExitStatus, String) {
    let mut started = spawn_coordinator_as(name, dir, nats_url, data, args);
    wait_exit(&mut started).await
}

/// `n` batches of 20 items drawn from 600, so many repeat across batches.
fn candidate_batches(n: usize) -> KnownStream {
    KnownStream::spread(0..n, 20, 600, (37, 11), ("Item ", 3))
}

fn output_len(data: &Path) -> usize {
    std::fs::read_to_string(data.join(FOLDER).join("output.txt")).map_or(0, |s| s.lines().count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_coordinator_on_the_same_data_dir_is_refused_naming_the_owner() {
    let dir = testkit::test_dir();
    let nats = NatsServer::start(dir.path()).await;
    let data = dir.path().join("data");
    let mut owner = spawn_coordinator(dir.path(), &nats.url, &data);
    wait_stream(&jetstream::new(nats.client().await)).await;

    let (status, log) = run_to_exit("second", dir.path(), &nats.url, &data, &[]).await;
    assert_eq!(
        status.code(),
        Some(1),
        "the second coordinator must not run\n{log}"
    );
    assert!(
        log.contains(&format!(
            "another coordinator owns data dir {}",
            data.display()
        )) && log.contains(&format!("pid {}", owner.pid()))
            && log.contains("--standby"),
        "the refusal names the owner:\n{log}"
    );
    assert!(owner.is_running());
    assert_eq!(lock_owner(&data), Some(owner.pid()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_coordinator_on_the_same_nats_is_refused_by_the_lease() {
    let dir = testkit::test_dir();
    let nats = NatsServer::start(dir.path()).await;
    let data = dir.path().join("data");
    let mut owner = spawn_coordinator(dir.path(), &nats.url, &data);
    wait_stream(&jetstream::new(nats.client().await)).await;

    let other = dir.path().join("other-data");
    let (status, log) = run_to_exit("second", dir.path(), &nats.url, &other, &[]).await;
    assert_eq!(
        status.code(),
        Some(1),
        "the second coordinator must not run\n{log}"
    );
    assert!(
        log.contains("another coordinator consumes the candidate stream on this NATS")
            && log.contains(&format!("pid {}", owner.pid()))
            && log.contains(&format!(
                "data dir {}",
                data.canonicalize().unwrap().display()
            )),
        "the refusal names the owner:\n{log}"
    );
    assert!(owner.is_running());
    let written: Vec<_> = std::fs::read_dir(&other)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        written,
        [LOCK_FILE],
        "the refused one wrote only its lock file"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_takes_over_from_a_killed_owner_without_a_duplicate() {
    let dir = testkit::test_dir();
    let nats = NatsServer::start(dir.path()).await;
    let data = dir.path().join("data");
    let mut owner = spawn_coordinator(dir.path(), &nats.url, &data);
    let js = jetstream::new(nats.client().await);
    wait_stream(&js).await;
    let run_id = start_run(&nats.client().await, TOPIC).await;
    let mut standby = spawn_coordinator_as("standby", dir.path(), &nats.url, &data, &["--standby"]);
    wait_log(
        dir.path(),
        "standby",
        "standing by",
        Duration::from_secs(30),
    )
    .await;
    assert!(log_has(
        dir.path(),
        "standby",
        &format!("pid {}", owner.pid())
    ));

    let stream = candidate_batches(300);
    let expected = stream.items();
    // Published in the background, so the owner dies mid-stream.
    let publisher = stream.spawn_publish(&js, &run_id, TOPIC);
    wait_for("the owner to ingest", Duration::from_secs(60), || async {
        (output_len(&data) >= 300).then_some(())
    })
    .await;
    // While the owner lives the standby has written nothing: the lock still
    // names the owner and the standby never got ready.
    assert!(standby.is_running());
    assert_eq!(lock_owner(&data), Some(owner.pid()));
    assert!(!log_has(dir.path(), "standby", "coordinator ready"));

    owner.kill9();
    wait_log(
        dir.path(),
        "standby",
        "coordinator ready",
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(lock_owner(&data), Some(standby.pid()));
    tokio::time::timeout(Duration::from_secs(60), publisher)
        .await
        .expect("the publisher finishes")
        .unwrap();
    // Batches the killed owner held unacknowledged come back after the ack wait.
    wait_drained(&js, Duration::from_secs(120)).await;
    check_folder(&data.join(FOLDER), &expected);
    assert!(standby.is_running());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_takes_over_from_a_stopped_owner_without_waiting_for_the_ttl() {
    let dir = testkit::test_dir();
    let nats = NatsServer::start(dir.path()).await;
    let data = dir.path().join("data");
    // The owner creates the lease bucket: its entries live a minute.
    let mut owner = spawn_coordinator_as(
        "owner",
        dir.path(),
        &nats.url,
        &data,
        &["--lease-ttl-ms", "60000"],
    );
    let js = jetstream::new(nats.client().await);
    wait_stream(&js).await;
    let run_id = start_run(&nats.client().await, TOPIC).await;
    let other = dir.path().join("other-data");
    let mut standby = spawn_coordinator_as(
        "standby",
        dir.path(),
        &nats.url,
        &other,
        &["--standby", "--lease-ttl-ms", "1500"],
    );
    wait_log(
        dir.path(),
        "standby",
        "standing by",
        Duration::from_secs(30),
    )
    .await;
    assert!(log_has(
        dir.path(),
        "standby",
        "consumes the candidate stream"
    ));
    let written: Vec<_> = std::fs::read_dir(&other)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        written,
        [LOCK_FILE],
        "a standby writes nothing but its lock"
    );

    assert!(owner.terminate(Duration::from_secs(30)).await.success());
    // Far less than the lease's minute: the owner released it on exit.
    wait_log(
        dir.path(),
        "standby",
        "coordinator ready",
        Duration::from_secs(20),
    )
    .await;
    let stream = candidate_batches(20);
    let expected = stream.items();
    stream.publish(&js, &run_id, TOPIC).await;
    wait_drained(&js, Duration::from_secs(60)).await;
    check_folder(&other.join(FOLDER), &expected);
    assert!(standby.is_running());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_on_another_data_dir_takes_over_once_a_killed_owners_lease_expires() {
    let dir = testkit::test_dir();
    let nats = NatsServer::start(dir.path()).await;
    let data = dir.path().join("data");
    let mut owner = spawn_coordinator_as(
        "owner",
        dir.path(),
        &nats.url,
        &data,
        &["--lease-ttl-ms", "2000"],
    );
    let js = jetstream::new(nats.client().await);
    wait_stream(&js).await;
    let run_id = start_run(&nats.client().await, TOPIC).await;
    let other = dir.path().join("other-data");
    let mut standby = spawn_coordinator_as(
        "standby",
        dir.path(),
        &nats.url,
        &other,
        &["--standby", "--lease-ttl-ms", "2000"],
    );
    wait_log(
        dir.path(),
        "standby",
        "standing by",
        Duration::from_secs(30),
    )
    .await;
    owner.kill9();
    wait_log(
        dir.path(),
        "standby",
        "coordinator ready",
        Duration::from_secs(30),
    )
    .await;
    let stream = candidate_batches(20);
    let expected = stream.items();
    stream.publish(&js, &run_id, TOPIC).await;
    wait_drained(&js, Duration::from_secs(60)).await;
    check_folder(&other.join(FOLDER), &expected);
    assert!(standby.is_running());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_whose_lease_is_taken_away_stops_and_says_so() {
    let dir = testkit::test_dir();
    let nats = NatsServer::start(dir.path()).await;
    let data = dir.path().join("data");
    let mut owner = spawn_coordinator_as(
        "owner",
        dir.path(),
        &nats.url,
        &data,
        &["--lease-ttl-ms", "1500"],
    );
    let js = jetstream::new(nats.client().await);
    wait_stream(&js).await;
    wait_log(
        dir.path(),
        "owner",
        "coordinator ready",
        Duration::from_secs(30),
    )
    .await;
    // The operator deletes the lease (`nats kv del igentai_lease
    // coordinator`; another owner would replace it): the owner's next
    // renewal finds it changed.
    let lease = js
        .get_key_value(LEASE_BUCKET)
        .await
        .expect("the lease bucket");
    lease.delete(LEASE_KEY).await.expect("delete the lease");
    let (status, log) = wait_exit(&mut owner).await;
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(
        log.contains("lost ownership of the candidate stream"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_stopped_while_standing_by_exits_cleanly_and_takes_nothing() {
    let dir = testkit::test_dir();
    let nats = NatsServer::start(dir.path()).await;
    let data = dir.path().join("data");
    let mut owner = spawn_coordinator(dir.path(), &nats.url, &data);
    wait_stream(&jetstream::new(nats.client().await)).await;
    let mut standby = spawn_coordinator_as("standby", dir.path(), &nats.url, &data, &["--standby"]);
    wait_log(
        dir.path(),
        "standby",
        "standing by",
        Duration::from_secs(30),
    )
    .await;

    assert!(standby.terminate(Duration::from_secs(30)).await.success());
    assert!(owner.is_running());
    assert_eq!(lock_owner(&data), Some(owner.pid()));
    // The owner still holds the lease too.
    let other = dir.path().join("other-data");
    let (status, log) = run_to_exit("second", dir.path(), &nats.url, &other, &[]).await;
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(log.contains(&format!("pid {}", owner.pid())), "{log}");
}
