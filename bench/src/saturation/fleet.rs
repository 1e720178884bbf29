//! The fleet phase: a real nats-server, the real coordinator and worker
//! (release binaries beside this benchmark) on the same model server, one
//! run on the topic with a constant prompt (no partitions, no avoid hints,
//! no learned weights) and no judge, so every call is an item call with
//! the prompt the load generator sends. The calls are read back from the
//! run's own batch log (`batches.jsonl`: each batch's tokens, latency and
//! when it was made); the status totals over the window are a cross-check.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use igentai_protocol::{CandidateBatch, WorkerState, now_ms};
use serde::Deserialize;
use testkit::{NatsServer, Proc, Role, creds};

use super::cpu::{Sample, find_pid};
use super::window::{Call, Window};
use super::{Phase, SERVER};
use crate::throughput::procs::{self, bin};

/// Bounds on the waits around the window: a 0.5B model on a shared core
/// answers a call in tens of seconds.
const JOIN_WITHIN: Duration = Duration::from_secs(60);
const FIRST_ANSWER_WITHIN: Duration = Duration::from_secs(600);
const SETTLE_WITHIN: Duration = Duration::from_secs(900);

/// What to run.
pub struct Setup<'a> {
    /// Scratch folder: nats-server's store, the data dir, the logs.
    pub dir: &'a Path,
    /// The worker's providers file.
    pub providers_toml: String,
    pub topic: &'a str,
    pub items_per_request: u32,
    pub concurrency: u32,
    pub window: Duration,
    /// The model server's pid, for its CPU time.
    pub server_pid: Option<u32>,
}

/// What the fleet phase measured.
pub struct Measured {
    /// From the calls of the run's batch log answered in the window.
    pub phase: Phase,
    /// Output tokens the status totals gained over the window, per second.
    pub status_out_per_s: f64,
}

/// Starts the fleet, lets it answer once, measures `window`, stops the run
/// and waits until every call is in and counted.
pub async fn measure(setup: &Setup<'_>) -> anyhow::Result<Measured> {
    let dir = setup.dir;
    let nats = NatsServer::start(dir).await;
    let data = dir.join("data");
    let providers = dir.join("providers.toml");
    std::fs::write(&providers, &setup.providers_toml)?;
    let utf8 = |p: &Path| p.to_str().map(str::to_string).context("UTF-8 path");
    let (data_s, providers_s) = (utf8(&data)?, utf8(&providers)?);

    let [user, password] = creds(Role::Coordinator);
    let mut coordinator = Proc::spawn(
        "coordinator",
        &bin("coordinator")?,
        &[],
        &[
            ("NATS_URL", nats.url.as_str()),
            user,
            password,
            ("IGENTAI_DATA_DIR", data_s.as_str()),
            ("IGENTAI_JUDGE_RATE", "0"),
        ],
        dir,
    );
    let identity = nats.add_worker("w1").await;
    let [worker_user, worker_password] = identity.env();
    let concurrency = setup.concurrency.to_string();
    let mut worker = Proc::spawn(
        "w1",
        &bin("worker")?,
        &[
            "--worker-id",
            "w1",
            "--providers",
            &providers_s,
            "--concurrency",
            &concurrency,
        ],
        &[
            ("NATS_URL", nats.url.as_str()),
            worker_user,
            worker_password,
            // A stop lets the calls in flight finish: the server computes
            // them anyway, and the next phase must find it idle.
            ("IGENTAI_STOP_GRACE_MS", "900000"),
        ],
        dir,
    );
    let control = nats.control().await;
    control.wait_workers(1, JOIN_WITHIN).await;
    control.start(&start_request(setup).to_string()).await;
    control
        .wait_status("the fleet's first answer", FIRST_ANSWER_WITHIN, |s| {
            (s.totals.batches > 0).then_some(())
        })
        .await;

    let conf = dir.join("nats-server.conf");
    let nats_pid = find_pid(&["-c", &utf8(&conf)?]);
    let mut watched = vec![("worker", worker.pid()), ("coordinator", coordinator.pid())];
    watched.extend(nats_pid.map(|p| ("nats-server", p)));
    watched.extend(setup.server_pid.map(|p| (SERVER, p)));

    let before = control.status().await.totals.tokens_out;
    let cpu_before = Sample::now(&watched);
    let (from_ms, started) = (now_ms(), Instant::now());
    tokio::time::sleep(setup.window).await;
    let (to_ms, wall) = (now_ms(), started.elapsed());
    let cpu = Sample::now(&watched).shares_since(&cpu_before, wall);
    let status = control.status().await;
    let after = status.totals.tokens_out;
    let failures = status.workers.iter().map(|w| w.llm_failures).sum();
    let load_after = procs::load_average();
    anyhow::ensure!(
        worker.is_running() && coordinator.is_running(),
        "a fleet process exited\n{}\n{}",
        worker.log_tail(),
        coordinator.log_tail()
    );

    control.stop().await;
    control
        .wait_status("the worker to finish its calls", SETTLE_WITHIN, |s| {
            s.workers
                .iter()
                .all(|w| w.state == WorkerState::Idle && w.in_flight == 0)
                .then_some(())
        })
        .await;
    let js = async_nats::jetstream::new(control.client.clone());
    testkit::stream::wait_drained(&js, JOIN_WITHIN).await;
    worker.terminate(JOIN_WITHIN).await;
    coordinator.terminate(JOIN_WITHIN).await;

    let folder = data.join(coordinator::folder_for(&data, setup.topic)?);
    let calls = batch_log(&folder.join("batches.jsonl"))?;
    // From the first answer, as a bare phase's window opens on its first.
    let first = calls.iter().map(|c| c.done_ms).min().unwrap_or(from_ms);
    let window = Window::of(&calls, first, to_ms).ok_or_else(|| {
        anyhow::anyhow!("fewer than two answers in the window: give it more --seconds")
    })?;
    Ok(Measured {
        phase: Phase {
            name: "fleet",
            concurrency: setup.concurrency as usize,
            window,
            failures,
            cpu,
            load_after,
        },
        status_out_per_s: after.saturating_sub(before) as f64 / wall.as_secs_f64(),
    })
}

/// A run whose every call sends the same prompt: no partitions, no avoid
/// hints, no learned weights, no judge.
fn start_request(setup: &Setup<'_>) -> serde_json::Value {
    serde_json::json!({
        "topic": setup.topic,
        "items_per_request": setup.items_per_request,
        "strategies": {"weights": false, "partitions": false, "avoid": false},
        "judge_rate": 0,
    })
}

/// One line of `batches.jsonl`, as far as it is read here.
#[derive(Deserialize)]
struct Line {
    batch: CandidateBatch,
}

/// The calls a topic's batch log counted.
fn batch_log(path: &Path) -> anyhow::Result<Vec<Call>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    text.lines()
        .map(|l| {
            let b = serde_json::from_str::<Line>(l)
                .with_context(|| format!("a line of {}", path.display()))?
                .batch;
            Ok(Call {
                sent_ms: b.created_at_ms.saturating_sub(b.latency_ms),
                done_ms: b.created_at_ms,
                tokens_in: b.tokens_in,
                tokens_cached_in: b.tokens_cached_in,
                tokens_out: b.tokens_out,
            })
        })
        .collect()
}
