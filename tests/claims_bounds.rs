//! Every number a worker claims is bounded, on the real nats-server and
//! the real coordinator: a batch's latency (a huge one would drive its
//! provider's speed, and weight, to zero), the provider it names (one the
//! worker reports in its heartbeats), and a partition job's tokens and
//! cost, which are charged to the run: its totals and its budget.

mod common;

use std::time::Duration;

use async_nats::jetstream;
use futures::StreamExt;
use igentai_protocol::{
    CandidateBatch, MetricsSnapshot, PartitionReply, PartitionRequest, ProviderHealth, RunState,
    StartReply, VERSION, WorkerAck, decode_reply, subjects,
};
use testkit::{CoordinatorSpec, NatsServer, wait_for};

use common::claims::{beat, heartbeat, publish_as};
use common::{batch, spawn_coordinator, try_status};

const WAIT: Duration = Duration::from_secs(30);

/// A stand-in worker `w1`: heartbeats listing one healthy provider `sim`,
/// acknowledges its commands, and answers partition jobs with `reply`.
/// Stops when dropped.
struct FakeWorker(Vec<tokio::task::JoinHandle<()>>);

impl Drop for FakeWorker {
    fn drop(&mut self) {
        self.0.iter().for_each(|t| t.abort());
    }
}

async fn fake_worker(nats: &NatsServer, reply: Option<PartitionReply>) -> FakeWorker {
    let identity = nats.add_worker("w1").await;
    let client = identity
        .options()
        .connect(&nats.url)
        .await
        .expect("w1 logs in");
    let mut tasks = Vec::new();
    let mut commands =
        testkit::subscribe_confirmed(nats, &client, &subjects::worker_command("w1")).await;
    let answering = client.clone();
    tasks.push(tokio::spawn(async move {
        while let Some(msg) = commands.next().await {
            let ack = WorkerAck {
                v: VERSION,
                worker_id: "w1".into(),
                ok: true,
                error: None,
                batches_stopped: vec![],
            };
            if let Some(to) = msg.reply {
                let _ = answering
                    .publish(to, serde_json::to_vec(&ack).unwrap().into())
                    .await;
            }
        }
    }));
    if let Some(reply) = reply {
        let mut jobs = client
            .queue_subscribe(subjects::PARTITION_JOBS, subjects::WORKERS_QUEUE.into())
            .await
            .expect("w1 takes partition jobs");
        client.flush().await.unwrap();
        let answering = client.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(msg) = jobs.next().await {
                let Ok(_request) = serde_json::from_slice::<PartitionRequest>(&msg.payload) else {
                    continue;
                };
                if let Some(to) = msg.reply {
                    let _ = answering
                        .publish(to, serde_json::to_vec(&reply).unwrap().into())
                        .await;
                }
            }
        }));
    }
    tasks.push(beat(
        client,
        heartbeat(
            "w1",
            vec![ProviderHealth {
                name: "sim".into(),
                kind: "sim".into(),
                model: "sim-model".into(),
                healthy: true,
                ..ProviderHealth::default()
            }],
        ),
    ));
    FakeWorker(tasks)
}

async fn wait_alive(operator: &async_nats::Client) {
    wait_for("w1 alive", WAIT, || async {
        let s = try_status(operator).await?;
        s.workers
            .iter()
            .any(|w| w.worker_id == "w1" && w.alive)
            .then_some(())
    })
    .await;
}

async fn start(operator: &async_nats::Client, request: &str) -> String {
    let reply = operator
        .request(subjects::CONTROL_START, request.to_string().into())
        .await
        .expect("start answered");
    let started: StartReply = decode_reply(&reply.payload).expect("started");
    started.run_id
}

fn from_w1(n: u128, run_id: &str, items: &[&str]) -> CandidateBatch {
    CandidateBatch {
        worker_id: "w1".into(),
        batch_id: format!("w1-{n:032x}"),
        ..batch("", run_id, "Rare cheeses", "sim", items)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_latency_or_a_provider_the_worker_does_not_have_is_rejected() {
    let dir = testkit::test_dir();
    let nats = NatsServer::start(dir.path()).await;
    let _coordinator = spawn_coordinator(dir.path(), &nats.url, &dir.path().join("data"));
    let operator = nats.client().await;
    common::wait_stream(&jetstream::new(operator.clone())).await;
    let _w1 = fake_worker(&nats, None).await;
    wait_alive(&operator).await;
    let run_id = start(
        &operator,
        r#"{"topic":"Rare cheeses","strategies":{"partitions":false}}"#,
    )
    .await;

    let mut slow = from_w1(1, &run_id, &["Slow"]);
    slow.latency_ms = 1_000_000_000_000_000;
    let mut forged = from_w1(2, &run_id, &["Forged"]);
    forged.provider = "expensive".into();
    let good = from_w1(3, &run_id, &["Brie"]);
    for b in [&slow, &forged, &good] {
        publish_as(&nats, "w1", &b.batch_id, b).await;
    }
    let s: MetricsSnapshot = wait_for("3 batches counted", WAIT, || async {
        let s = try_status(&operator).await?;
        (s.totals.batches == 1 && s.totals.rejected_batches == 2).then_some(s)
    })
    .await;
    let kinds = &s.totals.rejected_by_kind;
    assert_eq!(kinds.get("over_limit"), Some(&1), "{kinds:?}");
    assert_eq!(kinds.get("unknown_provider"), Some(&1), "{kinds:?}");
    let sim = &s.providers["sim"].yields;
    assert_eq!(sim.latency_p95_ms, good.latency_ms, "{sim:?}");
    assert!(!s.providers.contains_key("expensive"), "{:?}", s.providers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_job_s_cost_is_the_run_s_and_counts_toward_its_budget() {
    let dir = testkit::test_dir();
    let nats = NatsServer::start(dir.path()).await;
    // The topic is split at once: no batch comes to tell it saturated.
    let _coordinator = CoordinatorSpec::new()
        .env(&[("IGENTAI_TOPIC_JUDGE_AFTER", "0")])
        .spawn(dir.path(), &nats.url, &dir.path().join("data"));
    let operator = nats.client().await;
    common::wait_stream(&jetstream::new(operator.clone())).await;
    // 3000 tokens at the default ceiling of $100 per million: up to $0.30.
    let reply = PartitionReply {
        v: VERSION,
        worker_id: "w1".into(),
        ok: true,
        error: None,
        partitions: vec!["Soft".into(), "Blue".into()],
        provider: "sim".into(),
        tokens_in: 2000,
        tokens_out: 1000,
        cost_usd: 0.25,
    };
    let _w1 = fake_worker(&nats, Some(reply)).await;
    wait_alive(&operator).await;
    start(&operator, r#"{"topic":"Rare cheeses","budget_usd":0.2}"#).await;

    // No batch at all: only the partition job spent, and it ends the run.
    let s = wait_for("the partition job charged to the run", WAIT, || async {
        let s = try_status(&operator).await?;
        (s.totals.cost_usd > 0.0).then_some(s)
    })
    .await;
    assert_eq!(s.totals.cost_usd, 0.25, "{:?}", s.totals);
    assert_eq!(
        (s.totals.tokens_in, s.totals.tokens_out),
        (2000, 1000),
        "{:?}",
        s.totals
    );
    assert_eq!(s.totals.batches, 0);
    let stopped = wait_for("the run stopped on its budget", WAIT, || async {
        let s = try_status(&operator).await?;
        (s.state != RunState::Running).then_some(s)
    })
    .await;
    let reason = stopped.run.and_then(|r| r.stop_reason).unwrap_or_default();
    assert!(reason.contains("budget"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_job_claiming_more_than_one_call_can_is_not_charged() {
    let dir = testkit::test_dir();
    let nats = NatsServer::start(dir.path()).await;
    let _coordinator = spawn_coordinator(dir.path(), &nats.url, &dir.path().join("data"));
    let operator = nats.client().await;
    common::wait_stream(&jetstream::new(operator.clone())).await;
    let reply = PartitionReply {
        v: VERSION,
        worker_id: "w1".into(),
        ok: true,
        error: None,
        partitions: vec!["Soft".into(), "Blue".into()],
        provider: "sim".into(),
        tokens_in: u64::MAX / 2,
        tokens_out: u64::MAX / 2,
        cost_usd: 1e300,
    };
    let _w1 = fake_worker(&nats, Some(reply)).await;
    wait_alive(&operator).await;
    let run_id = start(&operator, r#"{"topic":"Rare cheeses","budget_usd":1.0}"#).await;
    // Wait for the partition answer to be judged: its partitions are not
    // used, so the steering asks again; meanwhile a batch comes in.
    let good = from_w1(1, &run_id, &["Brie"]);
    publish_as(&nats, "w1", &good.batch_id, &good).await;
    let s = wait_for("the batch counted", WAIT, || async {
        let s = try_status(&operator).await?;
        (s.totals.batches == 1).then_some(s)
    })
    .await;
    // A few snapshots later the claim still has not reached the totals.
    let seq = s.seq;
    let later = wait_for("a later snapshot", WAIT, || async {
        try_status(&operator).await.filter(|l| l.seq > seq + 1000)
    })
    .await;
    assert_eq!(later.totals.cost_usd, good.cost_usd, "{:?}", later.totals);
    assert_eq!(later.totals.tokens_in, good.tokens_in, "{:?}", later.totals);
    assert_eq!(later.state, RunState::Running);
    assert!(
        later.partitions.iter().all(|p| p.name != "Soft"),
        "{:?}",
        later.partitions
    );
}
