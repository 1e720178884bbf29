//! Batches that could stop ingestion for everyone, on the real nats-server
//! and the real coordinator: a batch id holding a CR or LF (which would go
//! into the items ledger's `Nats-Msg-Id` header), identifiers out of their
//! charset or length, and batch ids that are not their worker's own. Each
//! is set aside (terminated, counted by kind) and the good batches around
//! it are stored and acknowledged; a real worker's batch ids are its own.

mod common;

use std::time::Duration;

use async_nats::jetstream;
use igentai_protocol::{CandidateBatch, subjects};
use testkit::wait_for;

use common::claims::{Running, publish_as};
use common::{batch, lines};

const WAIT: Duration = Duration::from_secs(30);

/// The output file of topic folder `slug`.
fn output(run: &Running, slug: &str) -> std::path::PathBuf {
    run.folder(slug).join("output.txt")
}

/// A batch of worker `worker_id` with its `n`th well-formed batch id.
fn batch_of(run: &Running, worker_id: &str, n: u128, items: &[&str]) -> CandidateBatch {
    CandidateBatch {
        worker_id: worker_id.to_string(),
        batch_id: format!("{worker_id}-{n:032x}"),
        ..batch("", &run.run_id, "Rare cheeses", "sim", items)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_id_with_a_line_break_is_set_aside_and_the_batches_around_it_are_stored() {
    let run = Running::start("Rare cheeses").await;
    run.nats.add_worker("w1").await;
    let before = batch_of(&run, "w1", 1, &["Brie"]);
    let mut poison = batch_of(&run, "w1", 2, &["Poison"]);
    poison.batch_id = "w1-00000000000000000000000000000002\r\nX-Evil: 1".into();
    let mut line_feed = batch_of(&run, "w1", 3, &["Poison too"]);
    line_feed.batch_id = "w1-\n00000000000000000000000000000003".into();
    let after = batch_of(&run, "w1", 4, &["Comté"]);
    publish_as(&run.nats, "w1", &before.batch_id, &before).await;
    publish_as(&run.nats, "w1", "w1-poison-2", &poison).await;
    publish_as(&run.nats, "w1", "w1-poison-3", &line_feed).await;
    publish_as(&run.nats, "w1", &after.batch_id, &after).await;

    let s = run.counted(2, 2).await;
    assert_eq!(
        s.totals.rejected_by_kind.get("bad_identifier"),
        Some(&2),
        "{:?}",
        s.totals
    );
    // Stored and acknowledged: the stream drains (the poison is
    // terminated, not handed back) and the folder holds the good items.
    common::wait_drained(&jetstream::new(run.operator.clone()), WAIT).await;
    assert_eq!(lines(&output(&run, "rare-cheeses")), ["Brie", "Comté"]);
    // Ingestion goes on for batches published later.
    let later = batch_of(&run, "w1", 5, &["Roquefort"]);
    publish_as(&run.nats, "w1", &later.batch_id, &later).await;
    run.counted(3, 2).await;
    common::wait_drained(&jetstream::new(run.operator.clone()), WAIT).await;
    assert_eq!(
        lines(&output(&run, "rare-cheeses")),
        ["Brie", "Comté", "Roquefort"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_identifier_of_a_batch_is_checked() {
    let run = Running::start("Rare cheeses").await;
    run.nats.add_worker("w1").await;
    type Edit = fn(&mut CandidateBatch);
    let bad: [(&str, Edit); 8] = [
        ("run id with a newline", |b| b.run_id.push('\n')),
        ("run id too long", |b| b.run_id = "r".repeat(200)),
        ("provider with a dot", |b| b.provider = "sim.evil".into()),
        ("provider with a newline", |b| b.provider = "sim\n".into()),
        ("model with a newline", |b| b.model = "m\r\nX: y".into()),
        ("model too long", |b| b.model = "m".repeat(300)),
        ("partition with a control character", |b| {
            b.partition = Some("Blue\u{1b}[31m".into())
        }),
        ("partition too long", |b| {
            b.partition = Some("p".repeat(5000))
        }),
    ];
    for (i, (name, edit)) in bad.iter().enumerate() {
        let mut b = batch_of(&run, "w1", i as u128 + 10, &[name]);
        edit(&mut b);
        publish_as(&run.nats, "w1", &b.batch_id.clone(), &b).await;
    }
    let good = batch_of(&run, "w1", 1, &["Brie"]);
    publish_as(&run.nats, "w1", &good.batch_id, &good).await;

    let s = run.counted(1, bad.len() as u64).await;
    let kinds = &s.totals.rejected_by_kind;
    // A run id too long for an id is an identifier problem, not an unknown run.
    assert_eq!(
        kinds.get("bad_identifier"),
        Some(&(bad.len() as u64)),
        "{kinds:?}"
    );
    assert_eq!(
        s.providers.keys().collect::<Vec<_>>(),
        ["sim"],
        "{:?}",
        s.providers
    );
    common::wait_drained(&jetstream::new(run.operator.clone()), WAIT).await;
    assert_eq!(lines(&output(&run, "rare-cheeses")), ["Brie"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_id_must_be_the_worker_s_own_and_unguessable() {
    let run = Running::start("Rare cheeses").await;
    run.nats.add_worker("w1").await;
    run.nats.add_worker("w2").await;
    // w1 takes an id of w2's form: were it admitted, w2's batch with that
    // id would be a repeat, neither counted nor in the ledger.
    let w2_id = "w2-0000000000000000000000000000abcd";
    let mut shadow = batch_of(&run, "w1", 1, &["Shadow"]);
    shadow.batch_id = w2_id.into();
    // Ids a worker could predict: start time and a counter.
    let mut counter = batch_of(&run, "w1", 2, &["Counter"]);
    counter.batch_id = "w1-18c2f3a9b00-7".into();
    let mut short = batch_of(&run, "w1", 3, &["Short"]);
    short.batch_id = "w1-abcd".into();
    for b in [&shadow, &counter, &short] {
        publish_as(&run.nats, "w1", &format!("msg-{}", b.items[0]), b).await;
    }
    let mut honest = batch_of(&run, "w2", 0xabcd, &["Brie"]);
    honest.batch_id = w2_id.into();
    publish_as(&run.nats, "w2", w2_id, &honest).await;

    let s = run.counted(1, 3).await;
    assert_eq!(
        s.totals.rejected_by_kind.get("foreign_batch_id"),
        Some(&3),
        "{:?}",
        s.totals
    );
    assert_eq!(s.totals.repeated_batches, 0, "{:?}", s.totals);
    common::wait_drained(&jetstream::new(run.operator.clone()), WAIT).await;
    assert_eq!(lines(&output(&run, "rare-cheeses")), ["Brie"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_worker_s_batch_ids_are_its_own_and_admitted() {
    let fleet = common::Fleet::start(1).await;
    fleet.wait_workers(1).await;
    let reply = fleet
        .request(
            subjects::CONTROL_START,
            r#"{"topic":"Rare cheeses","strategies":{"partitions":false}}"#,
        )
        .await;
    assert_eq!(reply["ok"], true, "{reply}");
    let s = wait_for("a few batches ingested", WAIT, || async {
        let s = fleet.try_status().await?;
        (s.totals.batches >= 5).then_some(s)
    })
    .await;
    assert_eq!(s.totals.rejected_batches, 0, "{:?}", s.totals);
    // The ids, as the batch log keeps them.
    let log = std::fs::read_to_string(fleet.data.join("rare-cheeses").join("batches.jsonl"))
        .expect("the batch log");
    let ids: Vec<String> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["batch"]["batch_id"].as_str().map(str::to_string))
        .collect();
    assert!(!ids.is_empty(), "{log}");
    for id in &ids {
        let random = id.strip_prefix("w1-").expect("the worker's prefix");
        assert_eq!(random.len(), 32, "{id}");
        assert!(random.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
    }
}
