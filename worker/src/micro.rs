//! The worker as a NATS micro service, so `nats micro ls` lists every
//! worker of the fleet and `nats micro stats igentai-worker` shows what
//! each one is doing (`$SRV.PING`, `$SRV.INFO`, `$SRV.STATS`).
//!
//! The service's endpoints are the worker's request subjects: `work` (its
//! command subject, `igentai.work.<worker_id>`), `partitions` and `judge`
//! (the jobs every worker answers in one queue group). Requests are
//! counted and timed by the service, and the stats carry the worker's
//! counters and its providers' health, the same values its heartbeats
//! publish.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use async_nats::service::endpoint::Endpoint;
use async_nats::service::{Service, ServiceExt};
use igentai_protocol::subjects;
use serde_json::json;
use tokio::time::Instant;

use crate::generate::Shared;

/// The name every worker registers under.
pub const SERVICE_NAME: &str = "igentai-worker";

/// The registered service and the request streams of its endpoints.
pub(crate) struct Micro {
    pub service: Service,
    pub commands: Endpoint,
    pub partition_jobs: Endpoint,
    pub judge_jobs: Endpoint,
}

/// Registers the service and its endpoints.
pub(crate) async fn start(shared: &Arc<Shared>, concurrency: u32) -> anyhow::Result<Micro> {
    let providers: Vec<&str> = shared
        .providers
        .entries()
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    let metadata = HashMap::from([
        ("worker_id".to_string(), shared.worker_id.clone()),
        ("providers".to_string(), providers.join(",")),
        ("concurrency".to_string(), concurrency.to_string()),
    ]);
    let for_stats = shared.clone();
    let service = shared
        .client
        .service_builder()
        .description("igentai worker: calls LLM providers and publishes candidate batches")
        .metadata(metadata)
        .stats_handler(move |_endpoint, _stats| stats(&for_stats))
        .start(SERVICE_NAME, env!("CARGO_PKG_VERSION"))
        .await
        .map_err(|e| anyhow::anyhow!("register the NATS micro service: {e}"))?;
    let commands = service
        .endpoint_builder()
        .name("work")
        .add(subjects::worker_command(&shared.worker_id))
        .await
        .map_err(|e| anyhow::anyhow!("subscribe to worker commands: {e}"))?;
    let partition_jobs = service
        .endpoint_builder()
        .name("partitions")
        .queue_group(subjects::WORKERS_QUEUE)
        .add(subjects::PARTITION_JOBS)
        .await
        .map_err(|e| anyhow::anyhow!("subscribe to partition jobs: {e}"))?;
    let judge_jobs = service
        .endpoint_builder()
        .name("judge")
        .queue_group(subjects::WORKERS_QUEUE)
        .add(subjects::JUDGE_JOBS)
        .await
        .map_err(|e| anyhow::anyhow!("subscribe to judge jobs: {e}"))?;
    Ok(Micro {
        service,
        commands,
        partition_jobs,
        judge_jobs,
    })
}

/// The `data` of the endpoint's stats.
fn stats(shared: &Shared) -> serde_json::Value {
    let c = &shared.counters;
    json!({
        "worker_id": shared.worker_id,
        "in_flight": c.in_flight.load(Ordering::Relaxed),
        "batches_published": c.batches_published.load(Ordering::Relaxed),
        "items_published": c.items_published.load(Ordering::Relaxed),
        "publish_retries": c.publish_retries.load(Ordering::Relaxed),
        "llm_failures": c.llm_failures.load(Ordering::Relaxed),
        "providers": shared.providers.health(Instant::now()),
    })
}
