//! Fleet: 100 real release worker processes calling a local
//! OpenAI-compatible mock server with a fixed latency, with a real
//! coordinator running a started run. After a warm-up, a measurement window
//! reads each worker's resident memory (VmRSS) and CPU time (utime + stime)
//! and the requests the mock served: CPU time per request = the workers'
//! CPU over the window / requests served in it.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use igentai_protocol::subjects;
use testkit::{NatsServer, Proc, Role, creds};

use super::mock_llm::MockLlm;
use super::procs::{self, bin, mib};
use super::report::Row;

pub struct Settings {
    pub workers: usize,
    pub latency: Duration,
    pub concurrency: u32,
    pub warmup: Duration,
    pub window: Duration,
}

pub struct Results {
    pub settings_line: String,
    pub workers: usize,
    pub rss: Vec<u64>,
    pub requests: u64,
    pub window: Duration,
    pub workers_cpu: Duration,
    pub coordinator_cpu: Duration,
    pub coordinator_rss: u64,
}

pub async fn measure(dir: &Path, s: &Settings) -> anyhow::Result<Results> {
    let nats = NatsServer::start(dir).await;
    let client = nats.client().await;
    let mock = MockLlm::start(s.latency).await?;
    let providers = dir.join("providers.toml");
    std::fs::write(
        &providers,
        format!(
            "[[providers]]\nname = \"mock\"\nkind = \"openai\"\nbase_url = \"{}\"\n\
             model = \"mock-1\"\nprice_in_per_m = 0.15\nprice_out_per_m = 0.6\n\
             max_concurrency = {}\ntimeout_s = 60\n",
            mock.base_url(),
            s.concurrency
        ),
    )?;
    let data = dir.join("data");
    let data_s = data.to_str().context("utf-8 path")?;
    let [user, password] = creds(Role::Coordinator);
    let mut coordinator = Proc::spawn(
        "coordinator",
        &bin("coordinator")?,
        &[],
        &[
            ("NATS_URL", nats.url.as_str()),
            user,
            password,
            ("IGENTAI_DATA_DIR", data_s),
        ],
        dir,
    );
    let worker_bin = bin("worker")?;
    let mut identities = Vec::new();
    for i in 0..s.workers {
        identities.push(nats.add_worker(&format!("bench-w{i:03}")).await);
    }
    let concurrency = s.concurrency.to_string();
    let providers_s = providers.to_str().context("utf-8 path")?;
    let mut workers: Vec<Proc> = identities
        .iter()
        .map(|identity| {
            let (id, [worker_user, worker_password]) = (&identity.id, identity.env());
            Proc::spawn(
                id,
                &worker_bin,
                &[
                    "--worker-id",
                    id,
                    "--providers",
                    providers_s,
                    "--concurrency",
                    &concurrency,
                ],
                &[
                    ("NATS_URL", nats.url.as_str()),
                    worker_user,
                    worker_password,
                ],
                dir,
            )
        })
        .collect();

    // Start the run once the coordinator answers.
    let started = Instant::now();
    loop {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(60),
            "the coordinator did not accept the run within 60 s"
        );
        let asked = client.request(
            subjects::CONTROL_START,
            r#"{"topic":"Fleet benchmark"}"#.into(),
        );
        if let Ok(Ok(reply)) = tokio::time::timeout(Duration::from_secs(2), asked).await
            && serde_json::from_slice::<serde_json::Value>(&reply.payload)
                .is_ok_and(|v| v["ok"] == true)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(s.warmup).await;
    for w in &mut workers {
        anyhow::ensure!(w.is_running(), "{} exited\n{}", w.name, w.log_tail());
    }

    let cpu = |ws: &[Proc]| -> anyhow::Result<Duration> {
        ws.iter().map(|w| procs::cpu_time(w.pid())).sum()
    };
    let before = cpu(&workers)?;
    let coordinator_before = procs::cpu_time(coordinator.pid())?;
    let served_before = mock.served();
    let window_start = Instant::now();
    tokio::time::sleep(s.window).await;
    let window = window_start.elapsed();
    let requests = mock.served() - served_before;
    let workers_cpu = cpu(&workers)? - before;
    let coordinator_cpu = procs::cpu_time(coordinator.pid())? - coordinator_before;
    let rss = workers
        .iter()
        .map(|w| procs::memory(w.pid()).map(|m| m.rss))
        .collect::<anyhow::Result<Vec<u64>>>()?;
    let coordinator_rss = procs::memory(coordinator.pid())?.rss;

    let _ = tokio::time::timeout(
        Duration::from_secs(20),
        client.request(subjects::CONTROL_STOP, "".into()),
    )
    .await;
    drop(workers);
    coordinator.terminate(Duration::from_secs(30)).await;
    Ok(Results {
        settings_line: format!(
            "{} workers × {} calls in flight, mock latency {} ms",
            s.workers,
            s.concurrency,
            s.latency.as_millis()
        ),
        workers: s.workers,
        rss,
        requests,
        window,
        workers_cpu,
        coordinator_cpu,
        coordinator_rss,
    })
}

pub fn rows(r: &Results) -> Vec<Row> {
    const B: &str = "Fleet";
    let max_rss = r.rss.iter().copied().max().unwrap_or(0);
    let mean_rss = r.rss.iter().sum::<u64>() / r.rss.len().max(1) as u64;
    let secs = r.window.as_secs_f64();
    let per_request_ms = 1000.0 * r.workers_cpu.as_secs_f64() / r.requests.max(1) as f64;
    vec![
        Row::info(
            B,
            format!("workload: {}", r.settings_line),
            format!(
                "{:.0} requests/s over {:.0} s",
                r.requests as f64 / secs,
                secs
            ),
        ),
        Row::target(
            B,
            format!("worker resident memory (VmRSS), mean of {}", r.workers),
            format!("{:.1} MiB", mib(mean_rss)),
            "≤ 20 MB",
            mean_rss <= 20_000_000,
        ),
        Row::target(
            B,
            "worker resident memory (VmRSS), largest",
            format!("{:.1} MiB", mib(max_rss)),
            "≤ 20 MB",
            max_rss <= 20_000_000,
        ),
        Row::info(
            B,
            "worker CPU time per request (all workers' CPU / requests served)",
            format!("{per_request_ms:.2} ms"),
        ),
        Row::info(
            B,
            "CPU share of one core: all workers / coordinator",
            format!(
                "{:.0}% / {:.0}%",
                100.0 * r.workers_cpu.as_secs_f64() / secs,
                100.0 * r.coordinator_cpu.as_secs_f64() / secs
            ),
        ),
        Row::info(
            B,
            "coordinator resident memory",
            format!("{:.1} MiB", mib(r.coordinator_rss)),
        ),
    ]
}
