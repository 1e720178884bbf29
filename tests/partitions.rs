//! Partitions over a run, on a real nats-server with the real binaries: the
//! coordinator asks a worker for the topic's sub-categories, spreads the
//! workers over them, splits the ones that saturate and retires the barren
//! ones, and status shows each step. The sim's world is small (4 × 4
//! sub-categories, 400 items) so it saturates within seconds.

use std::time::Duration;

use igentai_protocol::{MetricsSnapshot, PartitionStats, StartReply, decode_reply, subjects};
use testkit::{NatsServer, Proc, Role, bin_path, creds, wait_for};

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

async fn status(client: &async_nats::Client) -> Option<MetricsSnapshot> {
    let msg = tokio::time::timeout(
        Duration::from_secs(5),
        client.request(subjects::CONTROL_STATUS, "".into()),
    )
    .await
    .ok()?
    .ok()?;
    Some(decode_reply(&msg.payload).expect("status is ok"))
}

/// Partitions of the tree (not the whole topic) in `state`.
fn in_state<'a>(s: &'a MetricsSnapshot, state: &str) -> Vec<&'a PartitionStats> {
    s.partitions
        .iter()
        .filter(|p| p.state == state && p.name != "(whole topic)")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_are_created_assigned_split_and_retired() {
    let dir = testkit::test_dir();
    let nats = NatsServer::start(dir.path()).await;
    let data = dir.path().join("data");
    let providers = dir.path().join("providers.toml");
    std::fs::write(&providers, PROVIDERS).unwrap();
    let [user, password] = creds(Role::Coordinator);
    let _coordinator = Proc::spawn(
        "coordinator",
        &bin_path("coordinator"),
        &[],
        &[
            ("NATS_URL", nats.url.as_str()),
            user,
            password,
            ("IGENTAI_DATA_DIR", data.to_str().unwrap()),
            ("IGENTAI_METRICS_INTERVAL_MS", "200"),
            ("IGENTAI_HEARTBEAT_TIMEOUT_MS", "3000"),
            ("IGENTAI_PARTITION_JUDGE_AFTER", "40"),
            ("IGENTAI_AVOID_REFRESH_MS", "1000"),
        ],
        dir.path(),
    );
    let mut identities = Vec::new();
    for i in 1..=3 {
        identities.push(nats.add_worker(&format!("w{i}")).await);
    }
    let _workers: Vec<Proc> = identities
        .iter()
        .map(|identity| {
            let (id, [user, password]) = (&identity.id, identity.env());
            Proc::spawn(
                id,
                &bin_path("worker"),
                &[
                    "--worker-id",
                    id,
                    "--concurrency",
                    "2",
                    "--providers",
                    providers.to_str().unwrap(),
                ],
                &[
                    ("NATS_URL", nats.url.as_str()),
                    user,
                    password,
                    ("IGENTAI_HEARTBEAT_INTERVAL_MS", "200"),
                ],
                dir.path(),
            )
        })
        .collect();
    let client = nats.client().await;
    wait_for("3 workers alive", WITHIN, || async {
        let s = status(&client).await?;
        (s.workers.iter().filter(|w| w.alive).count() == 3).then_some(())
    })
    .await;

    let start = r#"{"topic":"Paris attractions","strategies":{"weights":true,"partitions":true,"avoid":true}}"#;
    let reply = client
        .request(subjects::CONTROL_START, start.into())
        .await
        .unwrap();
    let started: StartReply = decode_reply(&reply.payload).expect("the run starts");

    // The topic's sub-categories appear and every worker works on one.
    let created = wait_for("partitions assigned to every worker", WITHIN, || async {
        let s = status(&client).await?;
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
        let s = status(&client).await?;
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
        let s = status(&client).await?;
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

    let reply = client
        .request(subjects::CONTROL_STOP, "".into())
        .await
        .unwrap();
    let stopped: serde_json::Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(stopped["ok"], true, "{stopped}");
}
