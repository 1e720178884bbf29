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
use coordinator::ItemRecord;
use futures::StreamExt;
use igentai_protocol::{Heartbeat, WorkerState, subjects};
use testkit::{NatsServer, WorkerSpec};

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
    let worker = |id| WorkerSpec::on(id, &providers).concurrency(4);
    let _w1 = worker("w1").spawn(dir.path(), &nats).await;
    let mut w2 = worker("w2").spawn(dir.path(), &nats).await;
    let control = nats.control().await;
    control.wait_workers(2, Duration::from_secs(30)).await;

    // Uniform weights and no partition jobs: the worker alone must route
    // around the faults, and every answer it gets is a batch.
    let start = r#"{"topic":"Fault tolerance","items_per_request":10,
        "strategies":{"weights":false,"partitions":false}}"#;
    let started = control.start(start).await;
    control
        .wait_status(
            "300 unique items through faulty providers",
            Duration::from_secs(60),
            |s| (s.totals.unique >= 300).then_some(()),
        )
        .await;

    // nats-server dies with answers in flight; workers hold them, stop
    // calling LLMs while it is away, and resume once it is back.
    let before = control.status().await.totals.unique;
    nats.restart().await;
    let control = nats.control().await;
    let mut heartbeats = control
        .client
        .subscribe(subjects::HEARTBEAT_ALL)
        .await
        .unwrap();
    control
        .wait_status(
            "300 more unique items after the restart",
            Duration::from_secs(90),
            |s| (s.totals.unique >= before + 300).then_some(()),
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

    let stopped = control.stop().await;
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
    let js = jetstream::new(control.client.clone());
    wait_drained(&js, Duration::from_secs(60)).await;
    let status = control.status().await;
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
