//! One generation slot: prompt → provider → parse → publish, in a loop,
//! until the assignment is withdrawn. A worker runs `--concurrency` slots.
//!
//! Three signals end a slot, in order of force: `soft` (start no new call),
//! `hard` (abandon the call in flight) and `give_up` (abandon a publish that
//! still retries; only at process exit, after its bound).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_nats::jetstream;
use igentai_protocol::{Assignment, CandidateBatch, VERSION, ids, now_ms};
use tokio::sync::futures::Notified;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::batches::turns::{self, Pace};
use crate::batches::{BatchProvider, view::BatchView};
use crate::counters::Counters;
use crate::jobs::judge::TopicAnswers;
use crate::parse::parse_answer;
use crate::prompt::{self, Prompt};
use crate::providers::{Completion, Providers, Wait};
use crate::publish::publish;
use crate::rng::{Rng, entropy};

/// What every slot of a worker shares.
pub struct Shared {
    pub client: async_nats::Client,
    pub js: jetstream::Context,
    pub worker_id: String,
    pub providers: Providers,
    pub counters: Counters,
    pub started_at_ms: u64,
    /// The batch-mode providers, each run by a batch runner (`batches/`).
    pub batch_providers: Vec<BatchProvider>,
    /// The worker's bucket of vendor batches in flight; `None` without a
    /// batch-mode provider.
    pub batch_store: Option<async_nats::jetstream::kv::Store>,
    /// The batch runners' batches in flight, for heartbeats.
    pub batch_view: BatchView,
    /// How long a live call takes lately: a turn given to a batch lasts
    /// as long.
    pub pace: Pace,
    /// The judge's answers about a topic alone, asked once a worker.
    pub topic_answers: TopicAnswers,
}

impl Shared {
    pub fn new(client: async_nats::Client, worker_id: String, providers: Providers) -> Self {
        Self {
            js: jetstream::new(client.clone()),
            client,
            worker_id,
            providers,
            counters: Counters::default(),
            started_at_ms: now_ms(),
            batch_providers: vec![],
            batch_store: None,
            batch_view: BatchView::default(),
            pace: Pace::default(),
            topic_answers: TopicAnswers::default(),
        }
    }

    /// The batch-mode provider this slot's turn goes to (an index into
    /// `batch_providers`), or `None` for a live call (`batches::turns`).
    fn batch_turn(&self, assignment: &Assignment, rng: &mut Rng) -> Option<usize> {
        if self.batch_providers.is_empty() {
            return None;
        }
        // A provider that cannot take more requests gets no turns: they go
        // to live calls instead of piling up.
        let open: Vec<usize> = (0..self.batch_providers.len())
            .filter(|&i| self.batch_providers[i].takes_turns())
            .collect();
        let batch: Vec<&str> = open
            .iter()
            .map(|&i| self.batch_providers[i].name.as_str())
            .collect();
        turns::draw(
            &assignment.weights,
            &self.providers.live_names(),
            &batch,
            rng,
        )
        .map(|k| open[k])
    }

    /// The batch runners' batches in flight, each with the requests drawn
    /// for its next batch.
    pub fn vendor_batches(&self) -> Vec<igentai_protocol::BatchesInFlight> {
        let mut all = self.batch_view.all();
        for entry in &mut all {
            if let Some(p) = self
                .batch_providers
                .iter()
                .find(|p| p.name == entry.provider)
            {
                entry.drawn = u64::from(p.pending.count());
            }
        }
        all
    }

    /// The worker's id and 128 random bits: unique across restarts, and
    /// no other client can take it first (`igentai_protocol::ids`).
    fn batch_id(&self) -> String {
        igentai_protocol::ids::new_batch_id(&self.worker_id)
    }
}

pub struct Signals {
    pub soft: CancellationToken,
    /// Set before `soft` by a stop: batch runners cancel their vendor
    /// batches instead of leaving them for the next run of the worker.
    pub stop_batches: CancellationToken,
    pub hard: CancellationToken,
    pub give_up: CancellationToken,
}

pub async fn slot(
    shared: Arc<Shared>,
    assignment: watch::Receiver<Arc<Assignment>>,
    signals: Arc<Signals>,
) {
    let mut rng = Rng::new(entropy());
    // This turn was drawn for a live call, which waits for a provider.
    let mut live_turn = false;
    while !signals.soft.is_cancelled() {
        // Answers that cannot be delivered are money spent for nothing.
        if !wait_connected(&shared.client, &signals.soft).await {
            break;
        }
        let assignment = assignment.borrow().clone();
        if !live_turn {
            if let Some(i) = shared.batch_turn(&assignment, &mut rng) {
                // One request of the provider's next vendor batch; the
                // slot rests as long as a live call would take.
                shared.batch_providers[i].pending.add(Instant::now());
                if !pause(shared.pace.get(), &signals.soft).await {
                    break;
                }
                continue;
            }
            live_turn = true;
        }
        let prompt = prompt::build(&assignment);
        // Registered before the lease attempt, so a call ending in between
        // still wakes this slot.
        let released = shared.providers.released().notified();
        let lease = match shared.providers.lease(
            &assignment.weights,
            &mut rng,
            Instant::now(),
            prompt.estimated_call_tokens(),
        ) {
            Ok(lease) => lease,
            Err(wait) => {
                if !wait_for_provider(wait, released, &signals.soft).await {
                    break;
                }
                continue;
            }
        };
        live_turn = false;
        let provider = lease.entry().name.clone();
        shared.counters.in_flight.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let result = tokio::select! {
            r = lease.call(&prompt) => Some(r),
            _ = signals.hard.cancelled() => None,
        };
        shared.counters.in_flight.fetch_sub(1, Ordering::Relaxed);
        let Some(result) = result else { break };
        shared.pace.observe(started.elapsed());
        match result {
            Ok(completion) => {
                let batch = batch(
                    &shared,
                    &assignment,
                    &prompt,
                    &provider,
                    completion,
                    started.elapsed(),
                    shared.batch_id(),
                );
                publish(&shared.js, &batch, &shared.counters, &signals.give_up).await;
            }
            Err(_) => {
                // Recorded by the lease: the provider backs off, and the
                // next turn of the loop picks another one or waits.
                shared.counters.llm_failures.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The model a batch names when its provider's answer named none usable.
const UNKNOWN_MODEL: &str = "unknown";

/// One answer as the candidate batch `batch_id`, from a live slot or a
/// batch runner. A cut answer (`length`) loses its last line, which is
/// likely a partial item.
pub(crate) fn batch(
    shared: &Shared,
    assignment: &Assignment,
    prompt: &Prompt,
    provider: &str,
    completion: Completion,
    latency: Duration,
    batch_id: String,
) -> CandidateBatch {
    let truncated = completion.finish_reason.as_deref() == Some("length");
    // What the provider reported is passed on only as a batch may carry it
    // (`protocol::ids`): an odd model name or a long request id must not
    // get the whole answer rejected.
    let label = |s: Option<String>, max| match s {
        Some(s) if ids::valid_label(&s, max) => Some(s),
        s => s.and_then(|s| ids::clean_label(&s, max)),
    };
    CandidateBatch {
        v: VERSION,
        batch_id,
        run_id: assignment.run_id.clone(),
        topic: assignment.topic.clone(),
        worker_id: shared.worker_id.clone(),
        provider: provider.to_string(),
        model: label(Some(completion.model), ids::MAX_MODEL_BYTES)
            .unwrap_or_else(|| UNKNOWN_MODEL.to_string()),
        partition: assignment.partition.clone(),
        items: parse_answer(&completion.text, truncated, prompt),
        tokens_in: completion.tokens_in,
        tokens_cached_in: completion.tokens_cached_in,
        tokens_out: completion.tokens_out,
        latency_ms: latency.as_millis() as u64,
        cost_usd: completion.cost_usd,
        finish_reason: label(completion.finish_reason, ids::MAX_NOTE_BYTES),
        request_id: label(completion.request_id, ids::MAX_NOTE_BYTES),
        created_at_ms: now_ms(),
    }
}

/// Waits until a provider may be free again: the time `wait` names, or a
/// call ending, bounded so a missed wake-up costs at most a second. False
/// when cancelled first.
pub(crate) async fn wait_for_provider(
    wait: Wait,
    released: Notified<'_>,
    cancel: &CancellationToken,
) -> bool {
    let cap = Instant::now() + Duration::from_secs(1);
    let until = match wait {
        Wait::Until(t) => t.min(cap),
        Wait::Released => cap,
    };
    tokio::select! {
        _ = tokio::time::sleep_until(until) => true,
        _ = released => true,
        _ = cancel.cancelled() => false,
    }
}

/// Sleeps unless cancelled; false when cancelled.
async fn pause(d: Duration, cancel: &CancellationToken) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = cancel.cancelled() => false,
    }
}

/// Waits until the NATS connection is up; false when cancelled first.
pub(crate) async fn wait_connected(
    client: &async_nats::Client,
    cancel: &CancellationToken,
) -> bool {
    let mut logged = false;
    loop {
        if client.connection_state() == async_nats::connection::State::Connected {
            return true;
        }
        if !logged {
            tracing::warn!("NATS is unreachable: no new LLM calls until it is back");
            logged = true;
        }
        if !pause(Duration::from_millis(100), cancel).await {
            return false;
        }
    }
}
