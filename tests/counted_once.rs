//! Counted once: a batch that arrives again (a worker publishing it again
//! after the stream's duplicate window, JetStream redelivering it after a
//! coordinator crash) adds to candidates, tokens, cost and yields once, on
//! a real nats-server with the real coordinator.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use async_nats::jetstream;
use igentai_protocol::{CandidateBatch, MetricsSnapshot, Totals};
use testkit::wait_for;

use common::{
    Fleet, batch, lines, publish_batch, publish_raw, spawn_coordinator, start_run, wait_drained,
    wait_stream,
};

const TOPIC: &str = "Rare cheeses";

/// Six batches from two providers and two partitions, with duplicates and
/// a near-duplicate between them.
fn batches(run_id: &str) -> Vec<CandidateBatch> {
    let items: [&[&str]; 6] = [
        &["Brie", "Comté", "Gouda"],
        &["Brie", "Stilton", "Roquefort"],
        &["Salmaella", "Salmaella (Bergamo)", "Taleggio"],
        &["Gouda", "Epoisses", "Morbier", "Reblochon"],
        &["Comté", "Cantal"],
        &["Mimolette", "Brie", "Stilton", "Ossau-Iraty"],
    ];
    items
        .iter()
        .enumerate()
        .map(|(i, items)| {
            let provider = if i % 2 == 0 { "p-even" } else { "p-odd" };
            let mut b = batch(&format!("b{i}"), run_id, TOPIC, provider, items);
            b.partition = Some(if i < 3 { "soft" } else { "hard" }.to_string());
            b.tokens_in = 100 + i as u64;
            b.tokens_out = 40 + 7 * i as u64;
            b.cost_usd = 0.001 * (i + 1) as f64;
            b
        })
        .collect()
}

async fn wait_counted(
    fleet: &Fleet,
    what: &str,
    done: impl Fn(&Totals) -> bool,
) -> MetricsSnapshot {
    wait_for(what, Duration::from_secs(60), || async {
        let s = fleet.try_status().await?;
        done(&s.totals).then_some(s)
    })
    .await
}

/// What a run counted, without what differs between two runs (ids, times,
/// rates) or what only repeats add.
#[derive(Debug, PartialEq)]
struct Counted {
    totals: (u64, u64, u64, u64, u64, u64, u64, u64),
    cost_micros: u64,
    providers: BTreeMap<String, (u64, u64, u64, u64)>,
    partitions: BTreeMap<String, (u64, u64, u64)>,
}

fn counted(s: &MetricsSnapshot) -> Counted {
    let t = &s.totals;
    Counted {
        totals: (
            t.unique,
            t.new_this_run,
            t.candidates,
            t.duplicates,
            t.near_duplicates,
            t.batches,
            t.tokens_in,
            t.tokens_out,
        ),
        cost_micros: (t.cost_usd * 1e6).round() as u64,
        providers: s
            .providers
            .iter()
            .map(|(name, p)| {
                let y = &p.yields;
                (
                    name.clone(),
                    (y.batches, y.candidates, y.unique, y.near_duplicates),
                )
            })
            .collect(),
        partitions: s
            .partitions
            .iter()
            .map(|p| {
                let y = &p.yields;
                (p.name.clone(), (y.batches, y.candidates, y.unique))
            })
            .collect(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_published_again_count_once_across_a_restart() {
    // The reference: every batch delivered once.
    let once = Fleet::start(0).await;
    let run = start_run(&once.client, TOPIC).await;
    let js = jetstream::new(once.client.clone());
    wait_stream(&js).await;
    for b in batches(&run) {
        publish_batch(&js, &b).await;
    }
    let reference = wait_counted(&once, "six batches counted", |t| t.batches == 6).await;
    assert_eq!(reference.totals.repeated_batches, 0);
    wait_drained(&js, Duration::from_secs(30)).await;
    let reference_output = lines(&once.data.join("rare-cheeses").join("output.txt"));
    drop(once);

    // Every batch again, as a worker publishing after the stream's
    // duplicate window would (another message id, the same batch id),
    // some right after the first copy, some after the others.
    let mut fleet = Fleet::start(0).await;
    let run = start_run(&fleet.client, TOPIC).await;
    let js = jetstream::new(fleet.client.clone());
    wait_stream(&js).await;
    let batches = batches(&run);
    let again = |b: &CandidateBatch, n: u32| (format!("{}-again-{n}", b.batch_id), b.clone());
    for b in &batches[..3] {
        publish_batch(&js, b).await;
        let (id, copy) = again(b, 1);
        publish_raw(&js, &id, serde_json::to_vec(&copy).unwrap()).await;
    }
    for b in &batches[3..] {
        publish_batch(&js, b).await;
    }
    for b in &batches[3..] {
        let (id, copy) = again(b, 1);
        publish_raw(&js, &id, serde_json::to_vec(&copy).unwrap()).await;
    }
    let s = wait_counted(&fleet, "six repeats seen", |t| t.repeated_batches == 6).await;
    assert_eq!(counted(&s), counted(&reference));
    wait_drained(&js, Duration::from_secs(30)).await;
    let folder = fleet.data.join("rare-cheeses");
    assert_eq!(lines(&folder.join("output.txt")), reference_output);

    // Restarted, the coordinator still knows which batches it counted: its
    // counters come back equal and the batches once more count nothing.
    let status = fleet.coordinator.terminate(Duration::from_secs(20)).await;
    assert!(status.success(), "{status:?}");
    fleet.coordinator = spawn_coordinator(fleet.dir.path(), &fleet.nats.url, &fleet.data);
    let restored = wait_counted(&fleet, "the restarted coordinator", |_| true).await;
    assert_eq!(counted(&restored), counted(&reference));
    for b in &batches {
        let (id, copy) = again(b, 2);
        publish_raw(&js, &id, serde_json::to_vec(&copy).unwrap()).await;
    }
    let s = wait_counted(&fleet, "twelve repeats seen", |t| t.repeated_batches == 12).await;
    assert_eq!(counted(&s), counted(&reference));
    wait_drained(&js, Duration::from_secs(30)).await;
    assert_eq!(lines(&folder.join("output.txt")), reference_output);
}

/// The coordinator is killed (kill -9) in the middle of a backlog, twice:
/// the batches it had counted but not acknowledged come again, and the
/// counters still add up to every batch exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_killed_mid_backlog_counts_every_batch_once() {
    let mut fleet = Fleet::start(0).await;
    let run = start_run(&fleet.client, TOPIC).await;
    let js = jetstream::new(fleet.client.clone());
    wait_stream(&js).await;
    fleet.coordinator.kill9();

    const BATCHES: usize = 400;
    let mut expected_candidates = 0u64;
    let mut expected_cost = 0u64;
    for i in 0..BATCHES {
        let items: Vec<String> = (0..5).map(|j| format!("Cheese {}", i * 3 + j)).collect();
        let items: Vec<&str> = items.iter().map(String::as_str).collect();
        let mut b = batch(&format!("k{i}"), &run, TOPIC, "p", &items);
        b.cost_usd = 0.000_01 * (1 + i % 7) as f64;
        expected_candidates += items.len() as u64;
        expected_cost += (b.cost_usd * 1e6).round() as u64;
        publish_batch(&js, &b).await;
    }

    for round in 1..=2u64 {
        fleet.coordinator = spawn_coordinator(fleet.dir.path(), &fleet.nats.url, &fleet.data);
        let floor = round * BATCHES as u64 / 4;
        wait_counted(&fleet, "part of the backlog counted", |t| {
            t.batches >= floor
        })
        .await;
        fleet.coordinator.kill9();
    }
    fleet.coordinator = spawn_coordinator(fleet.dir.path(), &fleet.nats.url, &fleet.data);
    wait_drained(&js, Duration::from_secs(60)).await;
    let s = wait_counted(&fleet, "every batch counted", |t| {
        t.batches >= BATCHES as u64
    })
    .await;
    let t = &s.totals;
    assert_eq!(t.batches, BATCHES as u64);
    assert_eq!(t.candidates, expected_candidates);
    assert_eq!((t.cost_usd * 1e6).round() as u64, expected_cost);
    assert_eq!(t.tokens_in, 100 * BATCHES as u64);
    let output = lines(&fleet.data.join("rare-cheeses").join("output.txt"));
    assert_eq!(t.unique, output.len() as u64);
    assert_eq!(t.new_this_run, output.len() as u64);
    // Items overlap between neighbouring batches: 3 new per batch, plus 2.
    assert_eq!(output.len(), BATCHES * 3 + 2);
}
