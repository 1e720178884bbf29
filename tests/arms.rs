//! Strategies earning their place, on a real nats-server with the real
//! binaries and sim workers: the broad prompt stays measured as an arm, and
//! partitioned work is judged against it while the run goes. With a weak
//! model as measured on a real one (`partition_sense = 0`: it names
//! nonsense sub-categories and answers few items under them, drawn from
//! the whole topic, while the longer prompts and the partition jobs cost
//! more), partitions are suppressed and the broad prompt gets the work;
//! with a model that follows them (the sim's default obedience)
//! partitions keep most of the work.

use std::time::Duration;

use igentai_protocol::{ArmStats, MetricsSnapshot};
use testkit::{Fleet, wait_for};

/// A sim that cannot use partitions: nonsense sub-categories, under which
/// it answers fewer items and from the whole topic (a small real model
/// held 3.4 items under its own sub-categories against 7.9 under the broad
/// prompt). In and out tokens cost the same, so a dollar and a token tell
/// the same story.
const IGNORES_PARTITIONS: &str = r#"
[[providers]]
name = "sim-ignores-partitions"
kind = "sim"
price_in_per_m = 1.0
price_out_per_m = 1.0
[providers.sim]
latency_ms = 20
partition_obedience = 0.0
partition_sense = 0.0
"#;

/// The sim's default obedience to partitions.
const FOLLOWS_PARTITIONS: &str = r#"
[[providers]]
name = "sim-follows-partitions"
kind = "sim"
price_in_per_m = 1.0
price_out_per_m = 1.0
[providers.sim]
latency_ms = 20
"#;

const WITHIN: Duration = Duration::from_secs(45);

/// The coordinator and three sim workers on `providers`, running a topic
/// with partitions on (avoid hints off, so partitions alone are judged).
async fn start(providers: &str) -> Fleet {
    let run = Fleet::builder()
        .workers(3)
        .providers(providers)
        .start()
        .await;
    run.control.wait_workers(3, WITHIN).await;
    let start = r#"{"topic":"Paris attractions","items_per_request":10,
        "strategies":{"weights":true,"partitions":true,"avoid":false}}"#;
    run.control.start(start).await;
    run
}

fn arm<'a>(s: &'a MetricsSnapshot, name: &str) -> &'a ArmStats {
    s.arms
        .iter()
        .find(|a| a.name == name)
        .unwrap_or_else(|| panic!("no arm {name}: {:?}", s.arms))
}

/// Workers whose heartbeat says they work on a partition.
fn partitioned(s: &MetricsSnapshot) -> usize {
    s.workers.iter().filter(|w| w.partition.is_some()).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_a_model_ignores_are_suppressed_for_the_broad_prompt() {
    let run = start(IGNORES_PARTITIONS).await;
    // Partitions are tried first: the workers move to sub-categories.
    wait_for("workers on partitions", WITHIN, || async {
        let s = run.try_status().await?;
        (partitioned(&s) >= 2).then_some(())
    })
    .await;
    let suppressed = wait_for("the partitions arm suppressed", WITHIN, || async {
        let s = run.try_status().await?;
        (arm(&s, "partitions").state == "suppressed").then_some(s)
    })
    .await;
    let (partitions, broad) = (arm(&suppressed, "partitions"), arm(&suppressed, "broad"));
    assert_eq!(partitions.against, "broad");
    assert!(
        partitions.batches > 0 && broad.batches > 0,
        "both measured: {:?}",
        suppressed.arms
    );
    assert!(
        partitions.vs_baseline > 0.0 && partitions.vs_baseline < 0.95,
        "it lost clearly: {partitions:?}"
    );
    assert!(partitions.share <= 0.15 && broad.share >= 0.85);
    // The workers go back to the broad prompt (a partition re-tested now
    // and then).
    wait_for(
        "the broad prompt doing most of the work",
        WITHIN,
        || async {
            let s = run.try_status().await?;
            (partitioned(&s) == 0 && arm(&s, "partitions").state == "suppressed").then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_a_model_follows_keep_most_of_the_work() {
    let run = start(FOLLOWS_PARTITIONS).await;
    // Once both arms have plenty of answers, partitions clearly yield more
    // and keep (or, if the early answers suppressed them while the broad
    // prompt still found the popular items, win back) most of the work.
    let judged = wait_for(
        "partitions measured ahead of the broad prompt and active",
        WITHIN,
        || async {
            let s = run.try_status().await?;
            let (p, b) = (arm(&s, "partitions"), arm(&s, "broad"));
            (p.batches >= 1_000 && b.batches >= 200 && p.vs_baseline > 1.05 && p.state == "active")
                .then_some(s)
        },
    )
    .await;
    let partitions = arm(&judged, "partitions");
    assert_eq!(partitions.state, "active", "{:?}", judged.arms);
    assert!(
        partitions.vs_baseline > 1.05,
        "narrow prompts reach what the broad one misses: {partitions:?}"
    );
    assert!(partitions.share >= 0.8);
    // And the workers are on partitions, the broad prompt on its floor.
    wait_for("most workers on partitions", WITHIN, || async {
        let s = run.try_status().await?;
        (partitioned(&s) >= 2 && arm(&s, "partitions").state == "active").then_some(())
    })
    .await;
}
