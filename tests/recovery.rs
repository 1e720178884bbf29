//! Exactly-once ingest under crashes: a predetermined candidate stream with
//! many duplicates, while the coordinator is killed with SIGKILL and
//! replaced (by a standby, or restarted by hand) with a second coordinator
//! refused each round, or nats-server itself is restarted. At the end
//! `output.txt` holds the expected unique set exactly: nothing lost,
//! nothing twice.

mod common;

use std::path::Path;
use std::time::Duration;

use async_nats::jetstream;
use testkit::{KnownStream, check_folder, wait_for};

use common::{
    lock_owner, log_has, spawn_coordinator, spawn_coordinator_as, start_run, wait_drained,
    wait_log, wait_stream,
};

const TOPIC: &str = "Crash test items";
const FOLDER: &str = "crash-test-items";
const BATCHES: usize = 800;
const PER_BATCH: usize = 25;

/// The candidate stream: popularity-skewed draws from 4000 items, so most
/// candidates are duplicates.
fn candidate_stream() -> KnownStream {
    KnownStream::skewed(
        0x2545_F491_4F6C_DD1D,
        BATCHES,
        PER_BATCH,
        4000,
        ("Item ", 4),
        "b",
    )
}

fn output_lines(data: &Path) -> usize {
    testkit::folder::output_lines(&data.join(FOLDER)).len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coordinator_killed_three_times_loses_and_repeats_nothing() {
    let dir = testkit::test_dir();
    let nats = testkit::NatsServer::start(dir.path()).await;
    let data = dir.path().join("data");
    let mut coordinator = spawn_coordinator(dir.path(), &nats.url, &data);
    let js = jetstream::new(nats.client().await);
    wait_stream(&js).await;
    let run_id = start_run(&nats.client().await, TOPIC).await;

    let stream = candidate_stream();
    let expected = stream.items();
    let publisher = stream.spawn_publish(&js, &run_id, TOPIC);
    for (kill, share) in [0.2, 0.45, 0.7].into_iter().enumerate() {
        // Each round a second coordinator is refused while the owner lives,
        // and in the first and last a standby waits to take over; in the
        // middle one a coordinator started by hand after the kill does.
        let refused = format!("refused-{kill}");
        let mut second = spawn_coordinator_as(&refused, dir.path(), &nats.url, &data, &[]);
        let standby = format!("standby-{kill}");
        let next = (kill != 1)
            .then(|| spawn_coordinator_as(&standby, dir.path(), &nats.url, &data, &["--standby"]));
        wait_for(
            &format!("{refused} to exit"),
            Duration::from_secs(30),
            || {
                let exited = !second.is_running();
                async move { exited.then_some(()) }
            },
        )
        .await;
        assert!(log_has(
            dir.path(),
            &refused,
            "another coordinator owns data dir"
        ));
        if next.is_some() {
            wait_log(dir.path(), &standby, "standing by", Duration::from_secs(30)).await;
        }

        let threshold = (expected.len() as f64 * share) as usize;
        wait_for(
            &format!("{threshold} items before kill {}", kill + 1),
            Duration::from_secs(120),
            || async { (output_lines(&data) >= threshold).then_some(()) },
        )
        .await;
        coordinator.kill9();
        coordinator = next.unwrap_or_else(|| spawn_coordinator(dir.path(), &nats.url, &data));
        let pid = coordinator.pid();
        wait_for(
            "the next coordinator to own the data dir",
            Duration::from_secs(30),
            || async { (lock_owner(&data) == Some(pid)).then_some(()) },
        )
        .await;
    }
    tokio::time::timeout(Duration::from_secs(120), publisher)
        .await
        .expect("publisher finishes")
        .unwrap();
    // Batches delivered to a killed coordinator come back after the ack wait.
    wait_drained(&js, Duration::from_secs(180)).await;
    check_folder(&data.join(FOLDER), &expected);
    // Each of those redeliveries counted once: every batch and candidate
    // of the stream, none twice, none lost with a killed process.
    let client = nats.client().await;
    let totals = wait_for("the counters", Duration::from_secs(30), || async {
        common::try_status(&client).await.map(|s| s.totals)
    })
    .await;
    assert_eq!(
        (totals.batches, totals.candidates, totals.unique),
        (
            BATCHES as u64,
            (BATCHES * PER_BATCH) as u64,
            expected.len() as u64
        )
    );
    assert!(coordinator.is_running());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_server_restarted_mid_stream_loses_and_repeats_nothing() {
    let dir = testkit::test_dir();
    let mut nats = testkit::NatsServer::start(dir.path()).await;
    let data = dir.path().join("data");
    let mut coordinator = spawn_coordinator(dir.path(), &nats.url, &data);
    let js = jetstream::new(nats.client().await);
    wait_stream(&js).await;
    let run_id = start_run(&nats.client().await, TOPIC).await;

    let stream = candidate_stream();
    let expected = stream.items();
    let publisher = stream.spawn_publish(&js, &run_id, TOPIC);
    let threshold = expected.len() / 3;
    wait_for("a third of the items", Duration::from_secs(120), || async {
        (output_lines(&data) >= threshold).then_some(())
    })
    .await;
    nats.restart().await;
    tokio::time::timeout(Duration::from_secs(180), publisher)
        .await
        .expect("publisher finishes after the restart")
        .unwrap();
    wait_drained(&js, Duration::from_secs(180)).await;
    check_folder(&data.join(FOLDER), &expected);
    assert!(
        coordinator.is_running(),
        "the coordinator reconnects by itself"
    );
}
