//! `GET /metrics` end to end: the real dashboard binary turns snapshots
//! relayed from a real nats-server into Prometheus text that a strict
//! reader accepts, with per-provider, per-worker (vendor batches in flight
//! included) and run numbers, even when provider names, worker ids and
//! partitions hold quotes, backslashes and line breaks.

mod common;

use common::exposition::{self, Sample};
use common::*;
use igentai_protocol::{
    BatchesInFlight, PartitionStats, ProviderStats, WorkerState, WorkerStats, Yield,
};

const BASE: u64 = 1_700_000_000_000;

/// A sample expected in the exposition: name, labels, value.
type Expected<'a> = (&'a str, &'a [(&'a str, &'a str)], f64);

async fn scrape(addr: &str) -> Vec<Sample> {
    let response = http(addr, "GET", "/metrics", &[], b"").await;
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    exposition::parse(&response.body)
        .unwrap_or_else(|e| panic!("not Prometheus text: {e}\n{}", response.body))
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && s.labels.len() == labels.len()
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
}

#[tokio::test]
async fn metrics_are_strict_prometheus_text_with_odd_names_escaped() {
    exposition::self_check();
    let s = setup(&[]).await;

    // Before any snapshot: the dashboard's own numbers, and that it has none.
    let samples = scrape(&s.addr).await;
    assert_eq!(
        value(&samples, "igentai_dashboard_snapshot_available", &[]),
        Some(0.0)
    );
    assert_eq!(
        value(&samples, "igentai_dashboard_nats_connected", &[]),
        Some(1.0)
    );

    let odd_provider = "sim \"quoted\" \\ back\nslash";
    let odd_worker = "w\"1\\";
    let odd_partition = "Musées \"d'art\"\nà Paris";
    let yields = Yield {
        batches: 7,
        candidates: 140,
        unique: 90,
        tokens_in: 1000,
        tokens_cached_in: 400,
        tokens_out: 2000,
        cost_usd: 0.5,
        uniqueness_ratio: 90.0 / 140.0,
        unique_per_min: 12.5,
        unique_per_1k_tokens: 30.0,
        unique_per_usd: 180.0,
        latency_p50_ms: 250,
        latency_p95_ms: 900,
        ..Yield::default()
    };
    let mut snapshot = snapshot(BASE, 90);
    snapshot.totals.cost_usd = 0.5;
    snapshot.totals.tokens_in = 1000;
    snapshot.totals.tokens_cached_in = 400;
    snapshot.totals.validity.valid = 70;
    snapshot.totals.validity.invalid = 15;
    snapshot.totals.validity.valid_share = 0.7;
    snapshot.totals.validity.valid_per_usd = 140.0;
    snapshot.totals.rejected_batches = 3;
    snapshot.totals.rejected_by_kind.insert("schema".into(), 2);
    snapshot.providers.insert(
        odd_provider.into(),
        ProviderStats {
            model: "model \"x\"".into(),
            yields: yields.clone(),
            requests: 12,
            failures: [("rate_limited".to_string(), 4)].into(),
            healthy_workers: 1,
            open_breakers: 0,
            judge_calls: 3,
            judge_cost_usd: 0.25,
        },
    );
    snapshot.weights.insert(odd_provider.into(), 0.75);
    snapshot.workers.push(WorkerStats {
        worker_id: odd_worker.into(),
        alive: true,
        state: WorkerState::Running,
        run_id: Some("run-1".into()),
        partition: Some(odd_partition.into()),
        last_seen_ms_ago: 1500,
        in_flight: 2,
        llm_failures: 4,
        publish_retries: 1,
        yields: yields.clone(),
        vendor_batches: vec![BatchesInFlight {
            provider: odd_provider.into(),
            batches: 2,
            oldest_submitted_at_ms: Some(BASE - 90_000),
            requests: 400,
            done: 150,
            failed: 3,
            drawn: 40,
        }],
    });
    snapshot.partitions.push(PartitionStats {
        name: odd_partition.into(),
        state: "active".into(),
        yields,
    });
    snapshot
        .models
        .insert("model \"x\"".into(), Yield::default());
    snapshot.last_error = Some("disk full".into());
    publish_snapshot(&s.client, &snapshot).await;

    let addr = s.addr.as_str();
    let samples = testkit::wait_for("/metrics to show the snapshot", WAIT, move || async move {
        let samples = scrape(addr).await;
        (value(&samples, "igentai_snapshot_seq", &[]) == Some(BASE as f64)).then_some(samples)
    })
    .await;

    let expected: &[Expected] = &[
        ("igentai_dashboard_snapshot_available", &[], 1.0),
        ("igentai_unique_items", &[], 90.0),
        ("igentai_candidates_total", &[], 180.0),
        ("igentai_cost_usd_total", &[], 0.5),
        ("igentai_tokens_total", &[("direction", "in")], 1000.0),
        ("igentai_tokens_total", &[("direction", "cached_in")], 400.0),
        ("igentai_verdicts_total", &[("verdict", "yes")], 70.0),
        ("igentai_verdicts_total", &[("verdict", "no")], 15.0),
        ("igentai_valid_share", &[], 0.7),
        ("igentai_valid_per_usd", &[], 140.0),
        ("igentai_run_target_items", &[], 1000.0),
        ("igentai_run_state", &[("state", "running")], 1.0),
        ("igentai_run_state", &[("state", "stopped")], 0.0),
        ("igentai_rejected_batches_total", &[("kind", "schema")], 2.0),
        ("igentai_rejected_batches_total", &[("kind", "other")], 1.0),
        ("igentai_coordinator_problem", &[], 1.0),
        (
            "igentai_provider_weight",
            &[("provider", odd_provider)],
            0.75,
        ),
        (
            "igentai_provider_requests_total",
            &[("provider", odd_provider)],
            12.0,
        ),
        (
            "igentai_provider_failures_total",
            &[("provider", odd_provider), ("kind", "rate_limited")],
            4.0,
        ),
        (
            "igentai_provider_unique_items_total",
            &[("provider", odd_provider)],
            90.0,
        ),
        (
            "igentai_provider_latency_p95_seconds",
            &[("provider", odd_provider)],
            0.9,
        ),
        (
            "igentai_provider_unique_per_usd",
            &[("provider", odd_provider)],
            180.0,
        ),
        ("igentai_worker_alive", &[("worker", odd_worker)], 1.0),
        ("igentai_worker_in_flight", &[("worker", odd_worker)], 2.0),
        (
            "igentai_worker_batches_total",
            &[("worker", odd_worker)],
            7.0,
        ),
        (
            "igentai_worker_last_seen_seconds",
            &[("worker", odd_worker)],
            1.5,
        ),
        (
            "igentai_worker_vendor_batches",
            &[("worker", odd_worker), ("provider", odd_provider)],
            2.0,
        ),
        (
            "igentai_worker_vendor_batch_requests",
            &[
                ("worker", odd_worker),
                ("provider", odd_provider),
                ("state", "all"),
            ],
            400.0,
        ),
        (
            "igentai_worker_vendor_batch_requests",
            &[
                ("worker", odd_worker),
                ("provider", odd_provider),
                ("state", "done"),
            ],
            150.0,
        ),
        (
            "igentai_worker_vendor_batch_requests",
            &[
                ("worker", odd_worker),
                ("provider", odd_provider),
                ("state", "failed"),
            ],
            3.0,
        ),
        (
            "igentai_worker_vendor_batch_oldest_age_seconds",
            &[("worker", odd_worker), ("provider", odd_provider)],
            90.0,
        ),
        (
            "igentai_partition_info",
            &[("partition", odd_partition), ("state", "active")],
            1.0,
        ),
        (
            "igentai_partition_unique_items_total",
            &[("partition", odd_partition)],
            90.0,
        ),
        (
            "igentai_model_batches_total",
            &[("model", "model \"x\"")],
            0.0,
        ),
    ];
    for (name, labels, want) in expected {
        assert_eq!(
            value(&samples, name, labels),
            Some(*want),
            "{name}{labels:?}"
        );
    }
    let info = samples
        .iter()
        .find(|s| s.name == "igentai_run_info")
        .expect("run info");
    assert_eq!(info.labels["topic"], "Paris <b>attractions</b>");
    assert_eq!(info.labels["slug"], "paris-attractions");
}
