//! Workers against faulty providers and a faulty NATS, with the real
//! binaries: two workers share three sim providers from a providers.toml,
//! one failing half its calls, one answering every call with a 429, one
//! healthy. The fleet keeps producing through the working ones; nats-server
//! is killed and restarted mid-run; a worker gets SIGTERM mid-run. Every
//! answer a worker received (a paid answer) ends up acknowledged by
//! JetStream and ingested by the coordinator.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use async_nats::jetstream;
use coordinator::topic::store::ItemRecord;
use futures::StreamExt;
use igentai_protocol::{Heartbeat, StartReply, StopReply, WorkerState, subjects};
use testkit::{NatsServer, Proc, WorkerIdentity, bin_path, wait_for};

use common::{lines, spawn_coordinator, wait_drained};

const PROVIDERS: &str = r#"
[[providers]]
name = "flaky"
kind = "sim"
[providers.sim]
latency_ms = 60
failure_rate = 0.5

[[providers]]
name = "limited"
kind = "sim"
[providers.sim]
latency_ms = 60
rate_limit_rate = 1.0

[[providers]]
name = "steady"
kind = "sim"
[providers.sim]
latency_ms = 60
"#;

/// A worker logged in as its own user, which `nats.add_worker(id)` made.
fn spawn_worker(dir: &Path, nats_url: &str, id: &str, providers: &Path) -> Proc {
    let identity = WorkerIdentity::new(id);
    let [user, password] = identity.env();
    Proc::spawn(
        id,
        &bin_path("worker"),
        &[
            "--worker-id",
            id,
            "--concurrency",
            "4",
            "--providers",
            providers.to_str().unwrap(),
        ],
        &[
            ("NATS_URL", nats_url),
            user,
            password,
            ("IGENTAI_HEARTBEAT_INTERVAL_MS", "200"),
        ],
        dir,
    )
}

/// Answers a worker received: calls made minus calls failed (including
/// calls abandoned at shutdown).
fn answers(hb: &Heartbeat) -> u64 {
    hb.providers
        .iter()
        .map(|p| p.requests - p.failures.values().sum::<u64>())
        .sum()
}

fn provider<'a>(hb: &'a Heartbeat, name: &str) -> &'a igentai_protocol::ProviderHealth {
    hb.providers
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("{name} in {hb:?}"))
}

/// The next heartbeat of `worker` that satisfies `done`.
async fn heartbeat_where(
    heartbeats: &mut async_nats::Subscriber,
    worker: &str,
    what: &str,
    within: Duration,
    done: impl Fn(&Heartbeat) -> bool,
) -> Heartbeat {
    tokio::time::timeout(within, async {
        loop {
            let msg = heartbeats
                .next()
                .await
                .expect("heartbeat subscription open");
            let hb: Heartbeat = serde_json::from_slice(&msg.payload).expect("heartbeats decode");
            if hb.worker_id == worker && done(&hb) {
                return hb;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no heartbeat from {worker} {what} within {within:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_survives_faulty_providers_a_nats_restart_and_sigterm() {
    let dir = testkit::test_dir();
    let mut nats = NatsServer::start(dir.path()).await;
    let data = dir.path().join("data");
    let providers = dir.path().join("providers.toml");
    std::fs::write(&providers, PROVIDERS).unwrap();
    let _coordinator = spawn_coordinator(dir.path(), &nats.url, &data);
    nats.add_worker("w1").await;
    nats.add_worker("w2").await;
    let _w1 = spawn_worker(dir.path(), &nats.url, "w1", &providers);
    let mut w2 = spawn_worker(dir.path(), &nats.url, "w2", &providers);
    let client = nats.client().await;
    let status = || async {
        let msg = client
            .request(subjects::CONTROL_STATUS, "".into())
            .await
            .ok()?;
        igentai_protocol::decode_reply::<igentai_protocol::MetricsSnapshot>(&msg.payload).ok()
    };
    wait_for("2 workers alive", Duration::from_secs(30), || async {
        (status().await?.workers.iter().filter(|w| w.alive).count() == 2).then_some(())
    })
    .await;

    // Uniform weights and no partition jobs: the worker alone must route
    // around the faults, and every answer it gets is a batch.
    let start = r#"{"topic":"Fault tolerance","items_per_request":10,
        "strategies":{"weights":false,"partitions":false}}"#;
    let reply = client
        .request(subjects::CONTROL_START, start.into())
        .await
        .unwrap();
    let started: StartReply = igentai_protocol::decode_reply(&reply.payload).expect("start is ok");
    let unique = || async { Some(status().await?.totals.unique) };
    wait_for(
        "300 unique items through faulty providers",
        Duration::from_secs(60),
        || async { (unique().await? >= 300).then_some(()) },
    )
    .await;

    // nats-server dies with answers in flight; workers hold them, stop
    // calling LLMs while it is away, and resume once it is back.
    let before = unique().await.unwrap();
    nats.restart().await;
    let client = nats.client().await;
    let mut heartbeats = client.subscribe(subjects::HEARTBEAT_ALL).await.unwrap();
    let status = || async {
        let msg = client
            .request(subjects::CONTROL_STATUS, "".into())
            .await
            .ok()?;
        igentai_protocol::decode_reply::<igentai_protocol::MetricsSnapshot>(&msg.payload).ok()
    };
    wait_for(
        "300 more unique items after the restart",
        Duration::from_secs(90),
        || async { (status().await?.totals.unique >= before + 300).then_some(()) },
    )
    .await;

    // The failing provider's calls are half failures, the limited one's all
    // rate limits (and it stays healthy: it is throttled, not broken).
    let hb = heartbeat_where(
        &mut heartbeats,
        "w1",
        "at all",
        Duration::from_secs(10),
        |_| true,
    )
    .await;
    let (flaky, limited, steady) = (
        provider(&hb, "flaky"),
        provider(&hb, "limited"),
        provider(&hb, "steady"),
    );
    assert!(
        flaky.failures.get("server_error").is_some_and(|n| *n > 0),
        "{flaky:?}"
    );
    assert!(
        flaky.requests > flaky.failures["server_error"],
        "flaky answers half: {flaky:?}"
    );
    assert!(
        limited.requests > 0 && limited.failures["rate_limited"] == limited.requests,
        "{limited:?}"
    );
    assert_eq!(limited.breaker, "closed");
    assert!(
        steady.failures.is_empty() && steady.requests > 0,
        "{steady:?}"
    );

    // SIGTERM mid-run: w2 finishes or abandons its calls, publishes what it
    // got, says so in a last heartbeat, and exits 0.
    let exit = w2.terminate(Duration::from_secs(30)).await;
    assert!(exit.success(), "w2 exited with {exit}");
    let last = heartbeat_where(
        &mut heartbeats,
        "w2",
        "idle after SIGTERM",
        Duration::from_secs(10),
        |h| h.state == WorkerState::Idle,
    )
    .await;
    assert_eq!(last.in_flight, 0);
    assert_eq!(
        answers(&last),
        last.batches_published,
        "w2 lost a paid answer: {last:?}"
    );

    let reply = tokio::time::timeout(
        Duration::from_secs(40),
        client.request(subjects::CONTROL_STOP, "".into()),
    )
    .await
    .expect("stop answers")
    .unwrap();
    let stopped: StopReply = igentai_protocol::decode_reply(&reply.payload).expect("stop is ok");
    assert!(
        stopped.workers_stopped.contains(&"w1".to_string()),
        "{stopped:?}"
    );
    let w1 = heartbeat_where(
        &mut heartbeats,
        "w1",
        "idle after stop",
        Duration::from_secs(10),
        |h| h.state == WorkerState::Idle && h.in_flight == 0,
    )
    .await;
    assert_eq!(
        answers(&w1),
        w1.batches_published,
        "w1 lost a paid answer: {w1:?}"
    );

    // Everything acknowledged was ingested; only working providers wrote items.
    let js = jetstream::new(client.clone());
    wait_drained(&js, Duration::from_secs(60)).await;
    let status = status().await.unwrap();
    let ingested: BTreeMap<&str, u64> = status
        .workers
        .iter()
        .map(|w| (w.worker_id.as_str(), w.yields.batches))
        .collect();
    for hb in [&w1, &last] {
        assert!(
            ingested
                .get(hb.worker_id.as_str())
                .is_some_and(|n| *n >= hb.batches_published),
            "{}: published {}, ingested {ingested:?}",
            hb.worker_id,
            hb.batches_published
        );
    }
    let out_dir = Path::new(&started.output_dir);
    let records: Vec<ItemRecord> = common::item_records(&out_dir.join("items.jsonl"));
    let providers: BTreeSet<&str> = records.iter().map(|r| r.provider.as_str()).collect();
    assert_eq!(providers, BTreeSet::from(["flaky", "steady"]));
    assert_eq!(records.len(), lines(&out_dir.join("output.txt")).len());
}
