//! Ingest on a real nats-server with the real coordinator: a torn last line
//! is repaired on start, a known stream gives known statistics and Chao1
//! values, and unreadable batches are terminated and counted.

mod common;

use std::time::Duration;

use async_nats::jetstream;
use igentai_protocol::{StartReply, subjects};
use testkit::wait_for;

use common::{
    Fleet, batch, lines, publish_batch, publish_raw, spawn_coordinator, start_run, wait_drained,
    wait_stream,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torn_last_line_is_repaired_on_start() {
    let dir = testkit::test_dir();
    let nats = testkit::NatsServer::start(dir.path()).await;
    let data = dir.path().join("data");
    let folder = data.join(coordinator::folder_for(&data, "Rare cheeses").unwrap());
    std::fs::create_dir_all(&folder).unwrap();
    // A crash in the middle of writing "Gamma": the line has no newline.
    std::fs::write(folder.join("output.txt"), "Alpha\nBeta\nGam").unwrap();

    let _coordinator = spawn_coordinator(dir.path(), &nats.url, &data);
    let js = jetstream::new(nats.client().await);
    wait_stream(&js).await;
    let run_id = start_run(&nats.client().await, "Rare cheeses").await;
    let b = batch(
        "b1",
        &run_id,
        "Rare cheeses",
        "sim",
        &["Gamma", "alpha", "Delta", "The Beta."],
    );
    publish_batch(&js, &b).await;
    wait_drained(&js, Duration::from_secs(30)).await;

    assert_eq!(
        lines(&folder.join("output.txt")),
        ["Alpha", "Beta", "Gamma", "Delta"]
    );
    let records = lines(&folder.join("items.jsonl"));
    assert_eq!(
        records.len(),
        4,
        "records rebuilt for the recovered lines: {records:?}"
    );
    assert!(
        records[0].contains(r#""run":"recovered""#),
        "{}",
        records[0]
    );
    assert!(records[3].contains(r#""item":"Delta""#), "{}", records[3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn known_stream_gives_known_statistics_and_bad_batches_are_counted() {
    let mut fleet = Fleet::start(0).await;
    fleet.wait_workers(0).await;
    let reply = fleet
        .request(subjects::CONTROL_START, r#"{"topic":"Rare cheeses"}"#)
        .await;
    let run: StartReply =
        serde_json::from_value(reply.clone()).unwrap_or_else(|_| panic!("{reply}"));
    let js = jetstream::new(fleet.client.clone());
    wait_stream(&js).await;

    let good = [
        batch(
            "g1",
            &run.run_id,
            "Rare cheeses",
            "p1",
            &["Brie", "Comté", "Roquefort", "Gouda"],
        ),
        batch(
            "g2",
            &run.run_id,
            "Rare cheeses",
            "p2",
            &["brie", "The Comté.", "Epoisses"],
        ),
        batch(
            "g3",
            &run.run_id,
            "Rare cheeses",
            "p1",
            &["Epoisses", "Brie", "ok", "bad\u{7}bell", "two\nlines", ""],
        ),
    ];
    for b in &good {
        publish_batch(&js, b).await;
    }
    let mut schema = serde_json::to_value(&good[0]).unwrap();
    schema["items"] = serde_json::json!("not a list");
    let mut oversize = good[0].clone();
    oversize.batch_id = "huge".into();
    oversize.items = vec!["x".repeat(100); 3000];
    let bad: Vec<(&str, Vec<u8>)> = vec![
        ("bad-json", b"this is not json".to_vec()),
        ("bad-schema", serde_json::to_vec(&schema).unwrap()),
        ("bad-utf8", b"{\"v\":1,\"items\":[\"\xff\xfe\"]}".to_vec()),
        ("bad-size", serde_json::to_vec(&oversize).unwrap()),
    ];
    for (id, payload) in bad {
        publish_raw(&js, id, payload).await;
    }
    wait_drained(&js, Duration::from_secs(30)).await;

    let s = wait_for("all batches counted", Duration::from_secs(30), || async {
        let s = fleet.status().await;
        (s.totals.batches == 3 && s.totals.rejected_batches == 4).then_some(s)
    })
    .await;
    let t = &s.totals;
    // Brie ×3, Comté ×2, Epoisses ×2, Roquefort, Gouda, ok ×1; 3 lines unusable.
    assert_eq!(
        (t.unique, t.new_this_run, t.candidates, t.duplicates),
        (6, 6, 10, 4)
    );
    assert_eq!(t.invalid_items, 3);
    assert!((t.uniqueness_ratio - 0.6).abs() < 1e-9);
    assert_eq!((t.tokens_in, t.tokens_out), (300, 150));
    assert!((t.cost_usd - 0.03).abs() < 1e-9);
    let kinds: Vec<(&str, u64)> = t
        .rejected_by_kind
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(kinds, [("not_utf8", 1), ("schema", 2), ("too_large", 1)]);

    let p1 = &s.providers["p1"].yields;
    assert_eq!((p1.batches, p1.candidates, p1.unique), (2, 7, 5));
    assert!((p1.unique_per_1k_tokens - 5.0 * 1000.0 / 300.0).abs() < 1e-9);
    assert!((p1.unique_per_usd - 250.0).abs() < 1e-9);
    let p2 = &s.providers["p2"].yields;
    assert_eq!((p2.batches, p2.candidates, p2.unique), (1, 3, 1));
    assert_eq!(s.models["p1-model"].unique, 5);

    // f1 = 3 (Roquefort, Gouda, ok), f2 = 2 (Comté, Epoisses): 6 + 9/4.
    let e = s.estimate.expect("an estimate");
    assert_eq!((e.f1, e.f2), (3, 2));
    assert!((e.total - 8.25).abs() < 1e-9, "{}", e.total);
    assert!((e.coverage - 6.0 / 8.25).abs() < 1e-9);

    let output = lines(&fleet.data.join("rare-cheeses/output.txt"));
    assert_eq!(
        output,
        ["Brie", "Comté", "Roquefort", "Gouda", "Epoisses", "ok"]
    );
    assert!(fleet.coordinator_alive());

    // A restarted coordinator continues the run with the same numbers:
    // counters from state.json, sighting counts from sightings.bin.
    let status = fleet.coordinator.terminate(Duration::from_secs(20)).await;
    assert!(status.success(), "{status:?}");
    fleet.coordinator = spawn_coordinator(fleet.dir.path(), &fleet.nats.url, &fleet.data);
    let after = wait_for("the restarted coordinator", Duration::from_secs(30), || {
        fleet.try_status()
    })
    .await;
    assert_eq!(after.run.as_ref().map(|r| &r.run_id), Some(&run.run_id));
    assert_eq!(after.totals.candidates, 10);
    assert_eq!(after.totals.rejected_batches, 4);
    let e = after.estimate.expect("an estimate after restart");
    assert_eq!((e.f1, e.f2), (3, 2));
}
