//! One folder per topic, for good, with the real coordinator on a real
//! nats-server: spellings of one topic reach one folder across restarts
//! (even once its `state.json` is gone), topics whose slugs collide get
//! folders of their own, and no topic writes into the JetStream store.

mod common;

use std::time::Duration;

use async_nats::jetstream;
use testkit::wait_for;

use common::{Fleet, batch, lines, publish_batch, spawn_coordinator, wait_drained, wait_stream};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_topic_keeps_one_folder_across_spellings_and_restarts() {
    // Earlier scripts kept nats-server's store in data/nats (now
    // data/.nats/<name>): a folder by that name is not a topic's.
    let (mut fleet, ()) = Fleet::start_with(0, |data| {
        std::fs::create_dir_all(data.join("nats").join("jetstream")).unwrap();
    })
    .await;
    fleet.wait_workers(0).await;
    let js = jetstream::new(fleet.client.clone());

    let beatles = fleet.control.switch_to("The Beatles songs").await;
    wait_stream(&js).await;
    let b = batch(
        "s1",
        &beatles.run_id,
        "The Beatles songs",
        "p",
        &["Help!", "Yesterday"],
    );
    publish_batch(&js, &b).await;
    assert_eq!(
        fleet.control.switch_to("Beatles songs").await.slug,
        beatles.slug
    );
    assert_eq!(
        fleet.control.switch_to("the beatles-songs").await.slug,
        beatles.slug
    );

    let nats = fleet.control.switch_to("nats").await;
    assert_ne!(nats.slug, "nats");
    publish_batch(
        &js,
        &batch("s2", &nats.run_id, "nats", "p", &["Core", "JetStream"]),
    )
    .await;

    let c = fleet.control.switch_to("C libraries").await;
    let cpp = fleet.control.switch_to("C++ libraries").await;
    assert_ne!(c.slug, cpp.slug);
    publish_batch(&js, &batch("s3", &c.run_id, "C libraries", "p", &["zlib"])).await;
    publish_batch(
        &js,
        &batch("s4", &cpp.run_id, "C++ libraries", "p", &["Boost"]),
    )
    .await;
    wait_drained(&js, Duration::from_secs(30)).await;

    let output = |slug: &str| lines(&fleet.data.join(slug).join("output.txt"));
    assert_eq!(output(&beatles.slug), ["Help!", "Yesterday"]);
    assert_eq!(output(&nats.slug), ["Core", "JetStream"]);
    assert_eq!(output(&c.slug), ["zlib"]);
    assert_eq!(output(&cpp.slug), ["Boost"]);
    assert!(!fleet.data.join("nats").join("output.txt").exists());

    // Restarted, and with the folder's state.json lost, the same spellings
    // reach the same folders.
    let status = fleet.coordinator.terminate(Duration::from_secs(20)).await;
    assert!(status.success(), "{status:?}");
    std::fs::remove_file(fleet.data.join(&beatles.slug).join("state.json")).unwrap();
    fleet.coordinator = spawn_coordinator(fleet.dir.path(), &fleet.nats.url, &fleet.data);
    wait_for("the restarted coordinator", Duration::from_secs(30), || {
        fleet.try_status()
    })
    .await;
    let again = fleet.control.switch_to("BEATLES SONGS").await;
    assert_eq!(again.slug, beatles.slug);
    assert_eq!(
        fleet.control.switch_to("C++ Libraries").await.slug,
        cpp.slug
    );
    assert_eq!(fleet.control.switch_to("C libraries").await.slug, c.slug);
    let b = batch(
        "s5",
        &again.run_id,
        "BEATLES SONGS",
        "p",
        &["Help!", "Let It Be"],
    );
    publish_batch(&js, &b).await;
    wait_drained(&js, Duration::from_secs(30)).await;
    assert_eq!(output(&beatles.slug), ["Help!", "Yesterday", "Let It Be"]);
}

/// A topic whose folder cannot be opened holds back its own batches and
/// says so in `last_error`; the other topic's batches land, each counted
/// once, and the held-back ones land once the folder is repaired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_that_cannot_be_opened_holds_back_only_its_batches() {
    let mut fleet = Fleet::start(0).await;
    fleet.wait_workers(0).await;
    let js = jetstream::new(fleet.client.clone());
    let broken = fleet.control.switch_to("Broken topic").await;
    let good = fleet.control.switch_to("Good topic").await;
    wait_stream(&js).await;

    // Restarted with the broken topic closed, and its output.txt made a
    // folder: opening the topic fails.
    let status = fleet.coordinator.terminate(Duration::from_secs(20)).await;
    assert!(status.success(), "{status:?}");
    let output = fleet.data.join(&broken.slug).join("output.txt");
    std::fs::remove_file(&output).unwrap();
    std::fs::create_dir(&output).unwrap();
    fleet.coordinator = spawn_coordinator(fleet.dir.path(), &fleet.nats.url, &fleet.data);

    let mut candidates = 0;
    for i in 0..20 {
        let held = batch(
            &format!("x{i}"),
            &broken.run_id,
            "Broken topic",
            "p",
            &["Held"],
        );
        publish_batch(&js, &held).await;
        let items = [format!("Good {i}"), format!("Fine {i}")];
        let items: Vec<&str> = items.iter().map(String::as_str).collect();
        candidates += items.len() as u64;
        publish_batch(
            &js,
            &batch(&format!("g{i}"), &good.run_id, "Good topic", "p", &items),
        )
        .await;
    }
    let s = wait_for(
        "the good topic's batches",
        Duration::from_secs(60),
        || async {
            let s = fleet.try_status().await?;
            (s.totals.batches == 20).then_some(s)
        },
    )
    .await;
    let error = s.last_error.clone().unwrap_or_default();
    assert!(error.contains("Broken topic"), "{error:?}");
    assert_eq!(
        (s.totals.candidates, s.totals.repeated_batches),
        (candidates, 0)
    );
    // Counted when received, written with the next commit.
    let good_output = fleet.data.join(&good.slug).join("output.txt");
    wait_for(
        "the good topic's items",
        Duration::from_secs(30),
        || async { (lines(&good_output).len() == 40).then_some(()) },
    )
    .await;

    // Repaired, the held-back batches land (one item: the same one).
    std::fs::remove_dir(&output).unwrap();
    wait_drained(&js, Duration::from_secs(60)).await;
    assert_eq!(lines(&output), ["Held"]);
    let s = fleet.status().await;
    assert_eq!(s.totals.candidates, candidates);
}
