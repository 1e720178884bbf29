//! Near-duplicates on a real nats-server with the real coordinator: variant
//! spellings of an item merge into the first one (alias records in
//! `items.jsonl`, counted as `near_duplicates` per provider and partition),
//! items that only look alike stay apart, invisible characters and case
//! folding make one key, and a restarted coordinator keeps the name index
//! and the aliases.

mod common;

use std::path::Path;
use std::time::Duration;

use async_nats::jetstream;
use coordinator::ItemRecord;
use coordinator::WHOLE_TOPIC;
use igentai_protocol::{MetricsSnapshot, StartReply, subjects};
use testkit::wait_for;

use common::{
    Fleet, batch, lines, publish_batch, spawn_coordinator, start_run, wait_drained, wait_stream,
};

const TOPIC: &str = "Rare cheeses";

/// (alias_of, spelling) of every alias record, in file order.
fn aliases(folder: &Path) -> Vec<(u64, String)> {
    lines(&folder.join("items.jsonl"))
        .iter()
        .map(|l| serde_json::from_str::<ItemRecord>(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .filter_map(|r| r.alias_of.map(|of| (of, r.item)))
        .collect()
}

async fn counted(fleet: &Fleet, batches: u64) -> MetricsSnapshot {
    wait_for("the batches counted", Duration::from_secs(30), || async {
        let s = fleet.try_status().await?;
        (s.totals.batches == batches).then_some(s)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn variants_merge_as_counted_aliases_and_survive_a_restart() {
    let mut fleet = Fleet::start(0).await;
    fleet.wait_workers(0).await;
    let reply = fleet
        .request(subjects::CONTROL_START, format!(r#"{{"topic":"{TOPIC}"}}"#))
        .await;
    let run: StartReply =
        serde_json::from_value(reply.clone()).unwrap_or_else(|_| panic!("{reply}"));
    let js = jetstream::new(fleet.client.clone());
    wait_stream(&js).await;

    let mut first = batch(
        "n1",
        &run.run_id,
        TOPIC,
        "p1",
        &[
            "Salmaella",
            "Salmaella (Bergamo, Italy)",
            "Chablis",
            "Chablis (French Cheese of France)",
            "Toy Story",
            "Toy Story 2",
            "Henry IV",
            "Henry V",
            "Paris",
            "Paris, Texas",
            "Bundesliga",
            "2. Bundesliga",
            "Mercury (planet)",
            "Mercury (element)",
        ],
    );
    first.partition = Some("soft".into());
    let second = batch(
        "n2",
        &run.run_id,
        TOPIC,
        "p2",
        &[
            "Salmaella (Tuscany, Italy)",
            "Lou\u{200B}vre",
            "Louvre",
            "\u{FEFF}Chablis",
            "Eiffel Tower",
            "Eiffel Tower - iconic iron tower",
            "STRASSE",
            "Stra\u{DF}e",
        ],
    );
    publish_batch(&js, &first).await;
    publish_batch(&js, &second).await;
    wait_drained(&js, Duration::from_secs(30)).await;

    let s = counted(&fleet, 2).await;
    let t = &s.totals;
    assert_eq!(
        (t.unique, t.candidates, t.duplicates, t.near_duplicates),
        (15, 22, 7, 4)
    );
    let near = |p: &str| s.providers[p].yields.near_duplicates;
    assert_eq!((near("p1"), near("p2")), (2, 2));
    let by_partition: Vec<(String, u64)> = s
        .partitions
        .iter()
        .map(|p| (p.name.clone(), p.yields.near_duplicates))
        .collect();
    assert!(
        by_partition.contains(&("soft".into(), 2)),
        "{by_partition:?}"
    );
    assert!(
        by_partition.contains(&(WHOLE_TOPIC.into(), 2)),
        "{by_partition:?}"
    );
    // Near-duplicates are not new: the yield counts the new items only.
    assert_eq!(s.providers["p1"].yields.unique, 12);

    let folder = fleet.data.join("rare-cheeses");
    let expected = [
        "Salmaella",
        "Chablis",
        "Toy Story",
        "Toy Story 2",
        "Henry IV",
        "Henry V",
        "Paris",
        "Paris, Texas",
        "Bundesliga",
        "2. Bundesliga",
        "Mercury (planet)",
        "Mercury (element)",
        "Louvre",
        "Eiffel Tower",
        "STRASSE",
    ];
    assert_eq!(lines(&folder.join("output.txt")), expected);
    assert_eq!(
        aliases(&folder),
        [
            (1, "Salmaella (Bergamo, Italy)".to_string()),
            (2, "Chablis (French Cheese of France)".to_string()),
            (1, "Salmaella (Tuscany, Italy)".to_string()),
            (14, "Eiffel Tower - iconic iron tower".to_string()),
        ]
    );
    // Item records still match output.txt line by line.
    let records: Vec<ItemRecord> = lines(&folder.join("items.jsonl"))
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|r: &ItemRecord| r.alias_of.is_none())
        .collect();
    let seqs: Vec<u64> = records.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=15).collect::<Vec<u64>>());
    assert_eq!(records[12].item, "Louvre");

    // Restarted, the coordinator rebuilds the name index from output.txt
    // and the aliases from items.jsonl.
    let status = fleet.coordinator.terminate(Duration::from_secs(20)).await;
    assert!(status.success(), "{status:?}");
    fleet.coordinator = spawn_coordinator(fleet.dir.path(), &fleet.nats.url, &fleet.data);
    wait_for("the restarted coordinator", Duration::from_secs(30), || {
        fleet.try_status()
    })
    .await;
    let third = batch(
        "n3",
        &run.run_id,
        TOPIC,
        "p1",
        &[
            "Salmaella (Bergamo, Italy)",
            "Chablis (Burgundy)",
            "Toy Story 3",
            "Eiffel Tower (Paris)",
        ],
    );
    publish_batch(&js, &third).await;
    wait_drained(&js, Duration::from_secs(30)).await;
    let s = counted(&fleet, 3).await;
    assert_eq!(
        (
            s.totals.unique,
            s.totals.candidates,
            s.totals.near_duplicates
        ),
        (16, 26, 6)
    );
    let output = lines(&folder.join("output.txt"));
    assert_eq!(output.len(), 16);
    assert_eq!(output[15], "Toy Story 3");
    // The known alias is a plain duplicate now: no second record for it.
    let after = aliases(&folder);
    assert_eq!(after.len(), 6, "{after:?}");
    assert_eq!(
        after[4..],
        [
            (2, "Chablis (Burgundy)".to_string()),
            (14, "Eiffel Tower (Paris)".to_string()),
        ]
    );
    assert!(fleet.coordinator_alive());
}

/// Plurals fold by topic: in a topic of kinds `Blue Cheeses` is `Blue
/// Cheese` again; in a topic of titles `Alien` and `Aliens` are two films,
/// also once the folder is reopened after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plurals_merge_in_topics_of_kinds_but_not_of_titles() {
    let mut fleet = Fleet::start(0).await;
    fleet.wait_workers(0).await;
    let js = jetstream::new(fleet.client.clone());

    let run = start_run(&fleet.client, TOPIC).await;
    wait_stream(&js).await;
    // Plurals fold in a topic of kinds (but not in a title-cased name,
    // which may be a person's: `Robert Adams`).
    let cheeses = ["Blue cheeses", "Blue cheese", "Goat cheeses"];
    publish_batch(&js, &batch("f1", &run, TOPIC, "p1", &cheeses)).await;
    wait_drained(&js, Duration::from_secs(30)).await;
    counted(&fleet, 1).await;
    fleet
        .request(subjects::CONTROL_STOP, "{}".to_string())
        .await;

    let films = "Science fiction films";
    let run = start_run(&fleet.client, films).await;
    // In a topic of titles the number is part of the name, and a year tells
    // a film from the bare name and from its remakes.
    let titles = [
        "Alien",
        "Aliens",
        "Predators",
        "Predator",
        "Alien (1979)",
        "Alien [1979]",
    ];
    publish_batch(&js, &batch("f2", &run, films, "p1", &titles)).await;
    wait_drained(&js, Duration::from_secs(30)).await;

    let cheese_folder = fleet.data.join("rare-cheeses");
    assert_eq!(
        lines(&cheese_folder.join("output.txt")),
        ["Blue cheeses", "Goat cheeses"]
    );
    assert_eq!(aliases(&cheese_folder), [(1, "Blue cheese".to_string())]);
    let films_folder = fleet.data.join("science-fiction-films");
    assert_eq!(
        lines(&films_folder.join("output.txt")),
        ["Alien", "Aliens", "Predators", "Predator", "Alien (1979)"]
    );
    assert_eq!(aliases(&films_folder), [(5, "Alien [1979]".to_string())]);

    // Reopened from disk, the folder keeps its topic's rules.
    let status = fleet.coordinator.terminate(Duration::from_secs(20)).await;
    assert!(status.success(), "{status:?}");
    fleet.coordinator = spawn_coordinator(fleet.dir.path(), &fleet.nats.url, &fleet.data);
    wait_for("the restarted coordinator", Duration::from_secs(30), || {
        fleet.try_status()
    })
    .await;
    let sequels = ["Aliens (1986)", "Aliens [1986]", "Predator - 1987 film"];
    publish_batch(&js, &batch("f3", &run, films, "p1", &sequels)).await;
    wait_drained(&js, Duration::from_secs(30)).await;
    assert_eq!(lines(&films_folder.join("output.txt")).len(), 6);
    assert_eq!(
        aliases(&films_folder),
        [
            (5, "Alien [1979]".to_string()),
            (6, "Aliens [1986]".to_string()),
            (4, "Predator - 1987 film".to_string()),
        ]
    );
}
