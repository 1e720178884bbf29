//! The worker's event loop: commands from the coordinator (arriving on the
//! micro service's `work` endpoint), weight updates, partition and judge jobs, the
//! heartbeat tick and shutdown, each handled by a small `handle_*`
//! function. The slots working on a run are a `Generation`
//! (`generation.rs`), partition and judge jobs run in tasks of their own
//! (`jobs/`).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use async_nats::service::Request;
use futures::StreamExt;
use igentai_protocol::{
    Heartbeat, JudgeRequest, PartitionRequest, VERSION, WeightsUpdate, WorkerAck, WorkerCommand,
    WorkerState, now_ms, subjects,
};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::batches::{self, BatchProvider};
use crate::config::Config;
use crate::generate::Shared;
use crate::generation::Generation;
use crate::providers::Providers;
use crate::{jobs, micro};

pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let worker_id = config.worker_id()?;
    let settings = config.provider_settings()?;
    for s in &settings {
        // Never the key: only where it comes from.
        tracing::info!(provider = %s.name, kind = s.kind.as_str(), model = %s.model, base_url = %s.base_url,
            key_from = s.api_key_env.as_deref().unwrap_or("-"), "provider");
    }
    let providers = Providers::build(&settings, &worker_id)?;
    let client = config
        .nats
        // Its own inbox prefix, the only one its NATS user may read: no
        // worker sees another's JetStream acks or replies.
        .connect(
            &igentai_protocol::subjects::worker_role(&worker_id),
            &format!("igentai-worker-{worker_id}"),
        )
        .await?;
    let mut shared = Shared::new(client.clone(), worker_id.clone(), providers);
    shared.batch_providers = BatchProvider::build_all(&settings)?;
    if !shared.batch_providers.is_empty() {
        shared.batch_store = Some(batches::record::open(&shared.js, &worker_id).await?);
    }
    let shared = Arc::new(shared);
    let micro::Micro {
        service,
        mut commands,
        mut partition_jobs,
        mut judge_jobs,
    } = micro::start(&shared, config.concurrency).await?;
    let mut weights = client
        .subscribe(subjects::WEIGHTS)
        .await
        .context("subscribe to weight updates")?;
    tracing::info!(%worker_id, concurrency = config.concurrency, "worker ready");

    let mut current: Option<Generation> = None;
    let finishing = TaskTracker::new();
    let jobs = TaskTracker::new();
    let mut tick =
        tokio::time::interval(Duration::from_millis(config.heartbeat_interval_ms.max(10)));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => heartbeat(&shared, &config, current.as_ref(), &finishing).await,
            Some(request) = commands.next() => {
                handle_command(request, &shared, &config, &mut current, &finishing).await;
            }
            Some(msg) = weights.next() => handle_weights(&msg.payload, current.as_mut()),
            Some(request) = partition_jobs.next() => {
                jobs.spawn(handle_partition_job(request, shared.clone(), shutdown.clone()));
            }
            Some(request) = judge_jobs.next() => {
                jobs.spawn(handle_judge_job(request, shared.clone(), shutdown.clone()));
            }
        }
    }

    tracing::info!("shutting down");
    if let Some(generation) = current.take() {
        let run_id = generation.run_id.clone();
        if let Err(e) = generation
            .finish(config.stop_grace(), config.publish_grace())
            .await
        {
            tracing::error!(%run_id, error = %e, "stopped with losses");
        }
    }
    finishing.close();
    jobs.close();
    let _ = tokio::time::timeout(config.stop_grace() + config.publish_grace(), async {
        tokio::join!(finishing.wait(), jobs.wait())
    })
    .await;
    heartbeat(&shared, &config, None, &TaskTracker::new()).await;
    if let Err(e) = service.stop().await {
        tracing::debug!(error = %e, "micro service stop");
    }
    igentai_client::close(&client).await?;
    let c = &shared.counters;
    // Every batch counted here was acknowledged by JetStream: what the
    // coordinator must have ingested from this worker.
    tracing::info!(
        batches_published = c.batches_published.load(Ordering::Relaxed),
        items_published = c.items_published.load(Ordering::Relaxed),
        "stopped"
    );
    Ok(())
}

async fn handle_command(
    request: Request,
    shared: &Arc<Shared>,
    config: &Config,
    current: &mut Option<Generation>,
    finishing: &TaskTracker,
) {
    let command = match serde_json::from_slice::<WorkerCommand>(&request.message.payload) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "ignoring an unreadable command");
            reply(shared, request, Err(format!("unreadable command: {e}"))).await;
            return;
        }
    };
    match command {
        WorkerCommand::Assign(assignment) => {
            match current.as_ref() {
                Some(g) if g.run_id == assignment.run_id => {
                    g.assignment.send_replace(Arc::new(assignment));
                }
                _ => {
                    if let Some(old) = current.take() {
                        let (grace, publish) = (config.stop_grace(), config.publish_grace());
                        finishing.spawn(async move {
                            let _ = old.finish(grace, publish).await;
                        });
                    }
                    *current = Some(Generation::start(assignment, shared, config.concurrency));
                }
            }
            reply(shared, request, Ok(())).await;
        }
        WorkerCommand::Stop(stop) => {
            if current.as_ref().is_none_or(|g| g.run_id != stop.run_id) {
                reply(shared, request, Ok(())).await;
                return;
            }
            let generation = current.take().expect("checked above");
            let (shared, grace, publish) =
                (shared.clone(), config.stop_grace(), config.publish_grace());
            // Answered once every slot ended and its batches were acknowledged.
            finishing.spawn(async move {
                let result = generation.stop(grace, publish).await;
                tracing::info!(run_id = %stop.run_id, ok = result.is_ok(), "stopped");
                reply(&shared, request, result).await;
            });
        }
    }
}

/// Applies a weight update of the current run, unless an assignment or
/// update already brought newer weights.
fn handle_weights(payload: &[u8], current: Option<&mut Generation>) {
    let update = match serde_json::from_slice::<WeightsUpdate>(payload) {
        Ok(u) => u,
        Err(e) => {
            tracing::warn!(error = %e, "ignoring an unreadable weight update");
            return;
        }
    };
    let Some(generation) = current.filter(|g| g.run_id == update.run_id) else {
        return;
    };
    if update.version < generation.weights_version {
        return;
    }
    generation.weights_version = update.version;
    tracing::debug!(version = update.version, weights = ?update.weights, "weights updated");
    generation.assignment.send_modify(|a| {
        let mut next = (**a).clone();
        next.weights = update.weights;
        *a = Arc::new(next);
    });
}

/// Answers a partition job from a task of its own: it makes an LLM call.
async fn handle_partition_job(request: Request, shared: Arc<Shared>, shutdown: CancellationToken) {
    let reply = match serde_json::from_slice::<PartitionRequest>(&request.message.payload) {
        Ok(job) => {
            let reply = jobs::partitions::answer(&shared, &job, &shutdown).await;
            tracing::info!(parent = ?job.parent, ok = reply.ok, found = reply.partitions.len(),
                provider = %reply.provider, error = ?reply.error, "partition job answered");
            reply
        }
        Err(e) => {
            tracing::warn!(error = %e, "refusing an unreadable partition job");
            igentai_protocol::PartitionReply {
                v: VERSION,
                worker_id: shared.worker_id.clone(),
                ok: false,
                error: Some(format!("unreadable partition job: {e}")),
                partitions: vec![],
                provider: String::new(),
                tokens_in: 0,
                tokens_out: 0,
                cost_usd: 0.0,
            }
        }
    };
    let payload = serde_json::to_vec(&reply).expect("partition replies serialize");
    if let Err(e) = request.respond(Ok(payload.into())).await {
        tracing::warn!(error = %e, "could not answer a partition job");
    }
}

/// Answers a judge job from a task of its own: it makes an LLM call.
async fn handle_judge_job(request: Request, shared: Arc<Shared>, shutdown: CancellationToken) {
    let reply = match serde_json::from_slice::<JudgeRequest>(&request.message.payload) {
        Ok(job) => {
            let reply = jobs::judge::answer(&shared, &job, &shutdown).await;
            tracing::info!(items = job.items.len(), ok = reply.ok, provider = %reply.provider,
                error = ?reply.error, "judge job answered");
            reply
        }
        Err(e) => {
            tracing::warn!(error = %e, "refusing an unreadable judge job");
            jobs::judge::refusal(&shared.worker_id, format!("unreadable judge job: {e}"))
        }
    };
    let payload = serde_json::to_vec(&reply).expect("judge replies serialize");
    if let Err(e) = request.respond(Ok(payload.into())).await {
        tracing::warn!(error = %e, "could not answer a judge job");
    }
}

/// Answers a command with a [`WorkerAck`] (also a refusal: the
/// coordinator reads the ack, not the micro service's error headers).
async fn reply(shared: &Shared, request: Request, result: Result<(), String>) {
    if request.message.reply.is_none() {
        return;
    }
    let ack = WorkerAck {
        v: VERSION,
        worker_id: shared.worker_id.clone(),
        ok: result.is_ok(),
        error: result.err(),
        batches_stopped: shared.batch_view.take_stopped(),
    };
    let payload = serde_json::to_vec(&ack).expect("acks serialize");
    if let Err(e) = request.respond(Ok(payload.into())).await {
        tracing::warn!(error = %e, "could not answer a command");
    }
}

async fn heartbeat(
    shared: &Shared,
    config: &Config,
    current: Option<&Generation>,
    finishing: &TaskTracker,
) {
    let state = match current {
        Some(_) => WorkerState::Running,
        None if !finishing.is_empty() => WorkerState::Stopping,
        None => WorkerState::Idle,
    };
    let assignment = current.map(|g| g.assignment.borrow().clone());
    let c = &shared.counters;
    let hb = Heartbeat {
        v: VERSION,
        worker_id: shared.worker_id.clone(),
        state,
        run_id: current.map(|g| g.run_id.clone()),
        partition: assignment.and_then(|a| a.partition.clone()),
        concurrency: config.concurrency,
        in_flight: c.in_flight.load(Ordering::Relaxed),
        batches_published: c.batches_published.load(Ordering::Relaxed),
        items_published: c.items_published.load(Ordering::Relaxed),
        publish_retries: c.publish_retries.load(Ordering::Relaxed),
        llm_failures: c.llm_failures.load(Ordering::Relaxed),
        providers: shared.providers.health(Instant::now()),
        started_at_ms: shared.started_at_ms,
        sent_at_ms: now_ms(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        vendor_batches: shared.vendor_batches(),
    };
    let payload = serde_json::to_vec(&hb).expect("heartbeats serialize");
    if let Err(e) = shared
        .client
        .publish(subjects::heartbeat(&shared.worker_id), payload.into())
        .await
    {
        tracing::debug!(error = %e, "heartbeat not sent");
    }
}
