//! The run log in NATS: every run a coordinator starts is also a key
//! of the JetStream key-value bucket `igentai_runs` (run id → topic), so a
//! coordinator taking over on another data dir (another host) knows the
//! runs whose batches are still in the stream and lets them in
//! (`admission.rs`) instead of rejecting them as unknown. The key
//! [`CURRENT`] holds the current run itself (its `current-run.json`), so
//! that coordinator carries on with it.

use anyhow::Context;
use async_nats::jetstream::{self, kv};
use futures::TryStreamExt;

use crate::ingest::admission::Admission;
use crate::run::Run;

pub const RUNS_BUCKET: &str = "igentai_runs";
/// The key of the current run (no run id looks like it: ids end in a
/// timestamp).
pub const CURRENT: &str = "current";

/// The bucket, created with `replicas` copies when missing.
pub async fn bucket(js: &jetstream::Context, replicas: usize) -> anyhow::Result<kv::Store> {
    if let Ok(store) = js.get_key_value(RUNS_BUCKET).await {
        return Ok(store);
    }
    js.create_key_value(kv::Config {
        bucket: RUNS_BUCKET.to_string(),
        description: "runs started by a coordinator: run id -> topic".to_string(),
        history: 1,
        storage: jetstream::stream::StorageType::File,
        num_replicas: replicas,
        ..Default::default()
    })
    .await
    .context("create the runs bucket")
}

/// Every run in the bucket: (run id, topic).
pub async fn runs(store: &kv::Store) -> anyhow::Result<Vec<(String, String)>> {
    let keys: Vec<String> = store
        .keys()
        .await
        .context("list the runs bucket")?
        .try_collect()
        .await
        .context("list the runs bucket")?;
    let mut runs = Vec::with_capacity(keys.len());
    for run_id in keys.into_iter().filter(|k| k != CURRENT) {
        let Some(topic) = store.get(&run_id).await.context("read a run")? else {
            continue;
        };
        runs.push((run_id, String::from_utf8_lossy(&topic).into_owned()));
    }
    Ok(runs)
}

/// Adds `runs` (from [`runs`]) to `admission` and its local ledger.
pub fn learn(runs: &[(String, String)], admission: &mut Admission) -> anyhow::Result<()> {
    for (run_id, topic) in runs {
        admission
            .remember(run_id, topic)
            .context("record a run in the run log")?;
    }
    Ok(())
}

/// Records a run started here in the bucket.
pub async fn record(store: &kv::Store, run_id: &str, topic: &str) -> anyhow::Result<()> {
    store
        .put(run_id, topic.to_string().into())
        .await
        .with_context(|| format!("record run {run_id} in NATS"))?;
    Ok(())
}

/// The current run as the last coordinator shared it.
pub async fn current(store: &kv::Store) -> anyhow::Result<Option<Run>> {
    let Some(bytes) = store.get(CURRENT).await.context("read the current run")? else {
        return Ok(None);
    };
    match serde_json::from_slice(&bytes) {
        Ok(run) => Ok(Some(run)),
        Err(e) => {
            tracing::warn!(error = %e, "ignoring an unreadable current run in NATS");
            Ok(None)
        }
    }
}

/// Shares the current run (after every change of it).
pub async fn save_current(store: &kv::Store, run: &Run) -> anyhow::Result<()> {
    let bytes = serde_json::to_vec(run).context("encode the current run")?;
    store
        .put(CURRENT, bytes.into())
        .await
        .context("share the current run in NATS")?;
    Ok(())
}
