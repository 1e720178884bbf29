//! `Generation`: the slots working on one run, and how they end. It
//! starts `--concurrency` slots (`generate.rs`) and a batch runner per
//! batch-mode provider (`batches/`) on one assignment, passes
//! them its updates through a `watch` channel, and stops them in order of
//! force: no new call, then abandon calls in flight, then abandon
//! publishes still retrying.

use std::sync::Arc;
use std::time::Duration;

use igentai_protocol::Assignment;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::batches;
use crate::generate::{Shared, Signals, slot};

/// The slots working on one run.
pub(crate) struct Generation {
    pub(crate) run_id: String,
    pub(crate) assignment: watch::Sender<Arc<Assignment>>,
    /// The newest weight update applied (updates may arrive out of order).
    pub(crate) weights_version: u64,
    signals: Arc<Signals>,
    slots: TaskTracker,
}

impl Generation {
    pub(crate) fn start(assignment: Assignment, shared: &Arc<Shared>, concurrency: u32) -> Self {
        let run_id = assignment.run_id.clone();
        let (tx, rx) = watch::channel(Arc::new(assignment));
        let signals = Arc::new(Signals {
            soft: CancellationToken::new(),
            stop_batches: CancellationToken::new(),
            hard: CancellationToken::new(),
            give_up: CancellationToken::new(),
        });
        let slots = TaskTracker::new();
        for _ in 0..concurrency.max(1) {
            slots.spawn(slot(shared.clone(), rx.clone(), signals.clone()));
        }
        for index in 0..shared.batch_providers.len() {
            slots.spawn(batches::runner(
                shared.clone(),
                index,
                rx.clone(),
                signals.clone(),
            ));
        }
        slots.close();
        tracing::info!(%run_id, concurrency, "working on run");
        Generation {
            run_id,
            assignment: tx,
            weights_version: 0,
            signals,
            slots,
        }
    }

    /// A stop: vendor batches in flight are cancelled (what they delivered
    /// is published), then as [`Generation::finish`].
    pub(crate) async fn stop(self, grace: Duration, publish_grace: Duration) -> Result<(), String> {
        self.signals.stop_batches.cancel();
        self.finish(grace, publish_grace).await
    }

    /// Starts no new call; lets calls in flight finish for `grace`, then
    /// abandons them; lets paid answers publish for `publish_grace`, then
    /// gives them up. Ok when nothing was abandoned.
    pub(crate) async fn finish(
        self,
        grace: Duration,
        publish_grace: Duration,
    ) -> Result<(), String> {
        self.signals.soft.cancel();
        if tokio::time::timeout(grace, self.slots.wait()).await.is_ok() {
            return Ok(());
        }
        self.signals.hard.cancel();
        if tokio::time::timeout(publish_grace, self.slots.wait())
            .await
            .is_ok()
        {
            return Ok(());
        }
        self.signals.give_up.cancel();
        self.slots.wait().await;
        Err("some answers could not be published before the deadline".into())
    }
}
