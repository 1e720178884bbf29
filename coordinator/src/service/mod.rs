//! The coordinator's event loop: control requests, heartbeats, candidate
//! batches, the metrics tick and answers from workers, one at a time.
//!
//! Setup and the `select!` loop only: each event is handed to a method of
//! [`Coordinator`] (`state.rs`); control requests are applied in
//! `control.rs`, after `decode.rs` validated them.

use anyhow::Context;
use async_nats::jetstream;
use futures::StreamExt;
use igentai_protocol::{now_ms, subjects};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::fleet::dispatch::Answer;
use crate::ingest::MAX_PENDING;
use crate::ingest::stream::open_stream_retrying;
use crate::replication::ledger::Ledger;
use crate::replication::ownership;
use state::Coordinator;

mod control;
pub mod decode;
mod judging;
mod report;
mod state;

enum Event {
    Shutdown,
    LeaseLost,
    Commit,
    Tick,
    Control(async_nats::Message),
    Heartbeat(async_nats::Message),
    /// The sync in flight ended.
    Synced(std::io::Result<crate::replication::ledger::Marks>),
    Batch(Box<Option<Result<jetstream::Message, Box<dyn std::error::Error + Send + Sync>>>>),
    Answer(Answer),
}

pub async fn serve(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let client = config
        .nats
        .connect("coordinator", "igentai-coordinator")
        .await?;
    let js = jetstream::new(client.clone());
    // Copies of the stream and the buckets: decided once, from the cluster.
    let Some(replicas) =
        crate::replication::replicas::decide(&client, config.stream_replicas, &shutdown).await?
    else {
        return Ok(());
    };
    // One writer: nothing below (control, the stream, the data dir) before
    // this coordinator owns the data dir and the stream.
    let ownership = ownership::acquire(
        &js,
        &config.data_dir,
        config.lease_ttl(replicas),
        replicas,
        config.standby,
        &shutdown,
    )
    .await?;
    let Some(ownership) = ownership else {
        return Ok(());
    };
    let record = ownership.record();
    let keeper = ownership.keep();
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("create data dir {}", config.data_dir.display()))?;
    let mut control = client.subscribe(subjects::CONTROL_ALL).await?;
    let mut heartbeats = client.subscribe(subjects::HEARTBEAT_ALL).await?;
    let (results_tx, mut results_rx) = mpsc::channel(256);

    let setup = async {
        let Some(batches) = open_stream_retrying(&js, replicas, &shutdown).await? else {
            return Ok(None);
        };
        // A cluster still electing, or too loaded to answer in time, is
        // waited for: each step is tried again until it works.
        use crate::replication::runs_bucket;
        use igentai_client::retry::{never, until_done};
        let Some(runs) = until_done("open the runs bucket", &shutdown, never, || {
            runs_bucket::bucket(&js, replicas)
        })
        .await?
        else {
            return Ok(None);
        };
        // Runs another coordinator started (on another data dir) are known
        // too, and its current run is carried on.
        let read_runs = || async {
            anyhow::Ok((
                runs_bucket::current(&runs).await?,
                runs_bucket::runs(&runs).await?,
            ))
        };
        let Some((shared, known)) =
            until_done("read the runs bucket", &shutdown, never, read_runs).await?
        else {
            return Ok(None);
        };
        // Fenced before any topic is opened (and caught up with the
        // ledger): from here on NATS refuses a stale owner's entries.
        let unsafe_items = |e: &anyhow::Error| e.is::<crate::replication::ledger::UnsafeItems>();
        let open_and_fence = || async {
            let mut ledger = Ledger::open(&js, replicas).await?;
            ledger.fence(record.clone()).await?;
            anyhow::Ok(ledger)
        };
        let Some(ledger) = until_done(
            "open and fence the items ledger",
            &shutdown,
            unsafe_items,
            open_and_fence,
        )
        .await?
        else {
            return Ok(None);
        };
        let mut state =
            Coordinator::new(config.clone(), client.clone(), results_tx, ledger, shared).await?;
        runs_bucket::learn(&known, &mut state.admission)?;
        tracing::debug!(runs = known.len(), "runs known from NATS");
        state.shared.bucket = Some(runs);
        state.shared.replicas = replicas;
        state.shared.streams = crate::replication::replicas::watch_streams(
            js.clone(),
            vec![
                subjects::STREAM.to_string(),
                subjects::ITEMS_STREAM.to_string(),
            ],
            shutdown.clone(),
        );
        anyhow::Ok(Some((batches, state)))
    };
    let (mut batches, mut state) = match setup.await {
        Ok(Some(ready)) => ready,
        Ok(None) => {
            keeper.release().await;
            return Ok(());
        }
        Err(e) => {
            keeper.release().await;
            return Err(e);
        }
    };
    tracing::info!(data_dir = %config.data_dir.display(), "coordinator ready");

    let mut tick = tokio::time::interval(config.metrics_interval());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // Group commit: a commit starts once MAX_PENDING batches wait, or the
    // commit interval after the first of them arrived; while one syncs,
    // the next batches are deduplicated and wait for the next one.
    let mut commit_at: Option<Instant> = None;
    let mut commit_due = false;
    loop {
        let event = tokio::select! {
            biased;
            _ = shutdown.cancelled() => Event::Shutdown,
            _ = keeper.lost() => Event::LeaseLost,
            result = state.ingest.synced(), if state.ingest.is_syncing() => Event::Synced(result),
            _ = sleep_until(commit_at) => Event::Commit,
            _ = tick.tick() => Event::Tick,
            Some(msg) = control.next() => Event::Control(msg),
            Some(msg) = heartbeats.next() => Event::Heartbeat(msg),
            Some(answer) = results_rx.recv() => Event::Answer(answer),
            msg = batches.next() => Event::Batch(Box::new(msg.map(|r| r.map_err(Into::into)))),
        };
        match event {
            Event::Shutdown => break,
            // Another coordinator may be consuming already: write and
            // acknowledge nothing more; what is pending is redelivered to it.
            Event::LeaseLost => anyhow::bail!(
                "lost ownership of the candidate stream (lease not renewed): stopped without committing"
            ),
            Event::Commit => {
                commit_at = None;
                commit_due = true;
            }
            Event::Synced(Err(e)) if crate::replication::ledger::is_fenced(&e) => {
                // Nothing of this commit or after is acknowledged: every
                // batch held goes back to the stream for the new owner.
                state.ingest.hand_back().await;
                let _ =
                    tokio::time::timeout(std::time::Duration::from_secs(2), client.flush()).await;
                anyhow::bail!(
                    "lost ownership of the candidate stream (lease taken over: the items ledger refused this coordinator's entries): stopped without acknowledging"
                )
            }
            Event::Synced(result) => state.finish_commit(result).await,
            Event::Tick => state.tick().await,
            Event::Control(msg) => state.handle_control(msg).await,
            Event::Heartbeat(msg) => state.handle_heartbeat(&msg),
            Event::Answer(answer) => state.handle_answer(answer).await,
            Event::Batch(batch) => match *batch {
                Some(Ok(msg)) => state.handle_batch(msg).await,
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "candidate stream error");
                }
                None => {
                    tracing::warn!("candidate stream ended; reopening");
                    match open_stream_retrying(&js, replicas, &shutdown).await? {
                        Some(s) => batches = s,
                        None => break,
                    }
                }
            },
        }
        let waiting = state.ingest.waiting();
        if commit_at.is_none() && !commit_due && waiting > 0 {
            commit_at = Some(Instant::now() + config.commit_interval());
        }
        if !state.ingest.is_syncing() && waiting > 0 && (commit_due || waiting >= MAX_PENDING) {
            commit_at = None;
            commit_due = false;
            state.start_commit().await;
        }
    }

    tracing::info!("shutting down: committing pending batches");
    state.commit().await;
    state.persist(now_ms());
    state.share_run().await;
    state.save_sightings(now_ms(), true);
    // Everything is written and acknowledged: a standby may take over now
    // (the release is a request behind the last acks on this connection).
    keeper.release().await;
    igentai_client::close(&client).await
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
