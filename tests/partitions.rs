//! Partitions over a run, on a real nats-server with the real binaries: the
//! coordinator asks a worker for the topic's sub-categories, spreads the
//! workers over them, splits the ones that saturate and retires the barren
//! ones, and status shows each step. The sim's world is small (4 × 4
//! sub-categories, 400 items) so it saturates within seconds.

use std::time::Duration;

use igentai_protocol::{MetricsSnapshot, PartitionStats};
use testkit::{Fleet, wait_for};

const PROVIDERS: &str = r#"
[[providers]]
name = "sim-small-world"
kind = "sim"
[providers.sim]
universe = 400
fanout = 4
depth = 2
latency_ms = 20
"#;

const WITHIN: Duration = Duration::from_secs(90);

/// Partitions of the tree (not the whole topic) in `state`.
fn in_state<'a>(s: &'a MetricsSnapshot, state: &str) -> Vec<&'a PartitionStats> {
    s.partitions
        .iter()
        .filter(|p| p.state == state && p.name != "(whole topic)")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_are_created_assigned_split_and_retired() {
    let fleet = Fleet::builder()
        .workers(3)
        .providers(PROVIDERS)
        .coordinator_env(&[
            ("IGENTAI_PARTITION_JUDGE_AFTER", "40"),
            ("IGENTAI_AVOID_REFRESH_MS", "1000"),
        ])
        .start()
        .await;
    let control = &fleet.control;
    control
        .wait_status("3 workers alive", WITHIN, |s| {
            (s.workers.iter().filter(|w| w.alive).count() == 3).then_some(())
        })
        .await;

    let start = r#"{"topic":"Paris attractions","strategies":{"weights":true,"partitions":true,"avoid":true}}"#;
    let started = control.start(start).await;

    // The topic's sub-categories appear and every worker works on one.
    let created = wait_for("partitions assigned to every worker", WITHIN, || async {
        let s = control.try_status().await?;
        let on_partitions = s
            .workers
            .iter()
            .filter(|w| {
                w.partition
                    .as_ref()
                    .is_some_and(|p| s.partitions.iter().any(|q| &q.name == p))
            })
            .count();
        (s.partitions.len() > 2 && on_partitions == 3).then_some(s)
    })
    .await;
    let level1: Vec<&str> = created
        .partitions
        .iter()
        .map(|p| p.name.as_str())
        .filter(|n| *n != "(whole topic)" && !n.contains(" > "))
        .collect();
    assert_eq!(level1.len(), 4, "the sim names 4: {:?}", created.partitions);

    // Saturated partitions split into sub-categories the workers move to.
    let split = wait_for("a partition split, its children worked", WITHIN, || async {
        let s = control.try_status().await?;
        let parents: Vec<String> = in_state(&s, "split")
            .iter()
            .map(|p| p.name.clone())
            .collect();
        let worked_child = s.workers.iter().any(|w| {
            w.partition.as_ref().is_some_and(|p| {
                parents
                    .iter()
                    .any(|parent| p.starts_with(&format!("{parent} > ")))
            })
        });
        (!parents.is_empty() && worked_child).then_some(s)
    })
    .await;
    for parent in in_state(&split, "split") {
        let children = split
            .partitions
            .iter()
            .filter(|p| p.name.starts_with(&format!("{} > ", parent.name)))
            .count();
        assert_eq!(
            children, 4,
            "{} has the sim's 4 sub-categories",
            parent.name
        );
        assert!(
            parent.yields.candidates > 0,
            "it was worked before: {parent:?}"
        );
    }

    // Leaves cannot split (the sim names nothing below them): once barren
    // they retire.
    let retired = wait_for("a partition retired", WITHIN, || async {
        let s = control.try_status().await?;
        (!in_state(&s, "retired").is_empty()).then_some(s)
    })
    .await;
    for p in in_state(&retired, "retired") {
        assert!(p.name.contains(" > "), "only leaves retire: {p:?}");
        assert!(p.yields.candidates > 0, "judged on its answers: {p:?}");
        assert!(
            p.yields.uniqueness_ratio < 0.6,
            "a retired partition had stopped paying: {p:?}"
        );
    }
    assert!(
        retired.totals.unique > 0
            && retired
                .run
                .as_ref()
                .is_some_and(|r| r.run_id == started.run_id)
    );

    control.stop().await;
}
