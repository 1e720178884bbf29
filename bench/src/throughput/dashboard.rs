//! Dashboard: 200 WebSocket clients on one real release dashboard. Metrics
//! snapshots (a run with providers, workers and partitions, as a busy
//! coordinator publishes them) go out on `igentai.metrics` with the send
//! time embedded as their `seq` (microseconds since the epoch, so it also
//! grows as the relay requires); every client records when each one
//! arrives. Reported: broadcast latency p50/p99/max over all clients and
//! snapshots, and the dashboard's CPU time.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use futures::StreamExt;
use igentai_protocol::{
    Estimate, MetricsSnapshot, PartitionStats, ProviderStats, RunInfo, RunState, Strategies,
    Totals, VERSION, WorkerState, WorkerStats, Yield, subjects,
};
use testkit::{NatsServer, Proc, Role, creds, free_port, wait_for};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use super::procs::{self, bin};
use super::report::Row;

pub struct Results {
    pub clients: usize,
    pub snapshots: u64,
    pub snapshot_bytes: usize,
    pub latencies_us: Vec<u64>,
    pub expected: u64,
    /// Time spent publishing the snapshots.
    pub publishing: Duration,
    /// Publishing and a grace period for the last ones to arrive (CPU is
    /// measured over it).
    pub window: Duration,
    pub cpu: Duration,
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Workers in every snapshot.
const WORKERS: usize = 20;

/// A snapshot of a busy run: 3 providers, `workers` workers, 12 partitions.
fn snapshot(seq: u64, workers: usize) -> anyhow::Result<Vec<u8>> {
    let yields = Yield {
        batches: 1200,
        candidates: 24_000,
        unique: 9_000,
        tokens_in: 216_000,
        tokens_out: 504_000,
        cost_usd: 0.33,
        uniqueness_ratio: 0.375,
        unique_per_min: 1800.0,
        ..Yield::default()
    };
    let run_id = "benchmark-landmarks-1700000000000".to_string();
    let providers = ["sim-small", "sim-large", "openai"]
        .iter()
        .map(|p| {
            let stats = ProviderStats {
                model: format!("{p}-model"),
                yields: yields.clone(),
                requests: 1300,
                failures: [("rate_limited".to_string(), 12), ("timeout".to_string(), 1)].into(),
                healthy_workers: workers as u32,
                open_breakers: 0,
                judge_calls: 40,
                judge_cost_usd: 0.02,
            };
            (p.to_string(), stats)
        })
        .collect();
    let snapshot = MetricsSnapshot {
        v: VERSION,
        seq,
        ts_ms: seq / 1000,
        state: RunState::Running,
        run: Some(RunInfo {
            run_id: run_id.clone(),
            topic: "Benchmark landmarks".into(),
            slug: "benchmark-landmarks".into(),
            output_dir: "data/benchmark-landmarks".into(),
            started_at_ms: 1_700_000_000_000,
            stopped_at_ms: None,
            stop_reason: None,
            target: Some(100_000),
            target_valid: false,
            budget_usd: Some(5.0),
            max_duration_s: None,
            min_coverage: None,
            min_yield_per_1k_tokens: None,
            strategies: Strategies::default(),
            resumed_items: 0,
            judge_rate: 1.0,
            judge_provider: None,
            judge_confirm: false,
            judge_closed: false,
        }),
        totals: Totals {
            unique: 36_000,
            new_this_run: 36_000,
            candidates: 96_000,
            duplicates: 60_000,
            batches: 4_800,
            uniqueness_ratio: 0.375,
            unique_per_min: 7200.0,
            tokens_in: 864_000,
            tokens_out: 2_016_000,
            cost_usd: 1.32,
            elapsed_s: 300.0,
            ..Totals::default()
        },
        providers,
        models: ["sim-small-model", "sim-large-model", "openai-model"]
            .iter()
            .map(|m| (m.to_string(), yields.clone()))
            .collect(),
        workers: (0..workers)
            .map(|i| WorkerStats {
                worker_id: format!("host-{i}"),
                alive: true,
                state: WorkerState::Running,
                run_id: Some(run_id.clone()),
                partition: Some(format!("Partition {}", i % 12)),
                last_seen_ms_ago: 400,
                in_flight: 4,
                llm_failures: 2,
                publish_retries: 0,
                yields: yields.clone(),
                vendor_batches: vec![],
            })
            .collect(),
        partitions: (0..12)
            .map(|i| PartitionStats {
                name: format!("Partition {i}"),
                state: "active".into(),
                yields: yields.clone(),
            })
            .collect(),
        arms: Vec::new(),
        weights: [("sim-small", 0.5), ("sim-large", 0.3), ("openai", 0.2)]
            .iter()
            .map(|(p, w)| (p.to_string(), *w))
            .collect(),
        weights_version: 17,
        weights_manual: false,
        backlog: 3,
        estimate: Some(Estimate {
            total: 52_000.0,
            coverage: 0.69,
            f1: 9_000,
            f2: 5_000,
            valid: true,
        }),
        last_error: None,
        streams: Vec::new(),
    };
    Ok(serde_json::to_vec(&snapshot)?)
}

/// One browser: connects, says so on `connected`, then records the latency
/// of every snapshot with `seq >= min_seq` until `done`.
async fn client(
    url: String,
    min_seq: u64,
    connected: mpsc::Sender<()>,
    done: CancellationToken,
) -> anyhow::Result<Vec<u64>> {
    #[derive(serde::Deserialize)]
    struct Frame<'a> {
        #[serde(rename = "type")]
        kind: &'a str,
        #[serde(borrow)]
        data: Option<&'a serde_json::value::RawValue>,
    }
    #[derive(serde::Deserialize)]
    struct Head {
        seq: u64,
    }
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await?;
    connected.send(()).await?;
    let mut latencies = Vec::new();
    loop {
        let msg = tokio::select! {
            _ = done.cancelled() => break,
            msg = ws.next() => msg,
        };
        let Some(msg) = msg else { break };
        let Message::Text(text) = msg? else { continue };
        let received = now_us();
        let frame: Frame = serde_json::from_str(text.as_str())?;
        if let ("metrics", Some(data)) = (frame.kind, frame.data) {
            let head: Head = serde_json::from_str(data.get())?;
            if head.seq >= min_seq {
                latencies.push(received.saturating_sub(head.seq));
            }
        }
    }
    let _ = ws.close(None).await;
    Ok(latencies)
}

pub async fn measure(
    dir: &Path,
    clients: usize,
    snapshots: u64,
    rate_hz: u64,
) -> anyhow::Result<Results> {
    let nats = NatsServer::start(dir).await;
    // Plays the coordinator, with its permissions.
    let publisher = nats.client_as(Role::Coordinator).await;
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let data = dir.join("data");
    let [user, password] = creds(Role::Dashboard);
    let mut dashboard = Proc::spawn(
        "dashboard",
        &bin("dashboard")?,
        &["--listen", &listen],
        &[
            ("NATS_URL", nats.url.as_str()),
            user,
            password,
            ("IGENTAI_DATA_DIR", data.to_str().context("utf-8 path")?),
        ],
        dir,
    );
    wait_for(
        "the dashboard to listen",
        Duration::from_secs(30),
        || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .ok()
        },
    )
    .await;
    // A first snapshot, not measured, so clients connect to a live feed.
    publisher
        .publish(subjects::METRICS, snapshot(1, WORKERS)?.into())
        .await?;
    publisher.flush().await?;

    let min_seq = now_us();
    let done = CancellationToken::new();
    let (connected_tx, mut connected) = mpsc::channel(clients);
    let url = format!("ws://{listen}/ws");
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            tokio::spawn(client(
                url.clone(),
                min_seq,
                connected_tx.clone(),
                done.clone(),
            ))
        })
        .collect();
    drop(connected_tx);
    tokio::time::timeout(Duration::from_secs(60), async {
        for _ in 0..clients {
            connected
                .recv()
                .await
                .context("a client failed to connect")?;
        }
        anyhow::Ok(())
    })
    .await
    .context("clients did not connect within 60 s")??;
    // Let the connect-time frames (history, latest snapshot) go out first.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let period = Duration::from_micros(1_000_000 / rate_hz.max(1));
    let sample = snapshot(now_us(), WORKERS)?;
    let cpu_before = procs::cpu_time(dashboard.pid())?;
    let started = Instant::now();
    let mut ticker = tokio::time::interval(period);
    for _ in 0..snapshots {
        ticker.tick().await;
        publisher
            .publish(subjects::METRICS, snapshot(now_us(), WORKERS)?.into())
            .await?;
    }
    publisher.flush().await?;
    let publishing = started.elapsed();
    // The last snapshot gets a moment to reach everyone.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let window = started.elapsed();
    let cpu = procs::cpu_time(dashboard.pid())? - cpu_before;
    done.cancel();

    let mut latencies_us = Vec::new();
    for task in tasks {
        latencies_us.extend(task.await??);
    }
    dashboard.terminate(Duration::from_secs(30)).await;
    Ok(Results {
        clients,
        snapshots,
        snapshot_bytes: sample.len(),
        latencies_us,
        expected: snapshots * clients as u64,
        publishing,
        window,
        cpu,
    })
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

pub fn rows(r: &Results) -> Vec<Row> {
    const B: &str = "Dashboard";
    let mut sorted = r.latencies_us.clone();
    sorted.sort_unstable();
    let ms = |us: u64| us as f64 / 1000.0;
    let p99 = ms(percentile(&sorted, 0.99));
    let cpu_s = r.cpu.as_secs_f64();
    vec![
        Row::info(
            B,
            format!(
                "workload: {} WebSocket clients, {} snapshots of {} bytes at {:.0}/s",
                r.clients,
                r.snapshots,
                r.snapshot_bytes,
                r.snapshots as f64 / r.publishing.as_secs_f64()
            ),
            format!("{} of {} frames received", sorted.len(), r.expected),
        ),
        Row::info(
            B,
            "broadcast latency p50 / max",
            format!(
                "{:.1} ms / {:.1} ms",
                ms(percentile(&sorted, 0.5)),
                ms(sorted.last().copied().unwrap_or(0))
            ),
        ),
        Row::target(
            B,
            "broadcast latency p99",
            format!("{p99:.1} ms"),
            "≤ 100 ms",
            p99 <= 100.0 && sorted.len() as u64 == r.expected,
        ),
        Row::info(
            B,
            "dashboard CPU: share of one core / per snapshot sent to every client",
            format!(
                "{:.1}% / {:.2} ms",
                100.0 * cpu_s / r.window.as_secs_f64(),
                1000.0 * cpu_s / r.snapshots as f64
            ),
        ),
    ]
}
