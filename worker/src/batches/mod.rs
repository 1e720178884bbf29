//! The batch runner: one per batch-mode provider while the worker has an
//! assignment, beside the live slots. It builds a batch of prompts from
//! the assignment of the moment, as many as the slots' turns drew for its
//! provider (`turns.rs`: the weights split the worker's effort between
//! live calls and batches), or, on a worker without live providers, a
//! full batch whenever the weights want the provider; it submits the batch
//! to the vendor's batch API,
//! polls it with a doubling delay, and publishes each answer as a
//! candidate batch through the live slots' path (`generate::batch`,
//! `publish`), so the same parser and the same exactly-once apply.
//!
//! A submitted batch is recorded in the worker's key-value bucket before
//! anything else happens to it (`record.rs`), so a restarted worker
//! resumes polling it instead of paying for it twice; each answer's
//! candidate batch id is derived from the vendor's batch id and the
//! request's custom id, so an answer published again after a restart is a
//! duplicate JetStream and the coordinator drop. The record goes once
//! every answer is acknowledged. Requests that failed for the vendor's
//! reasons or expired are sent again alone, in a new batch, a bounded
//! number of times.

pub mod record;
pub mod turns;
pub mod view;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_nats::jetstream::kv;
use igentai_protocol::{Assignment, ids, now_ms};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::generate::{self, Shared, Signals};
use crate::prompt;
use crate::providers::batch_api::{BatchClient, End, Request, Results, Status};
use crate::providers::settings::{Batch, Settings};
use crate::publish::publish;
use record::Record;

/// Submissions of one request, the first included: a request that failed
/// this often is not worth another day's wait.
const MAX_ATTEMPTS: u32 = 3;

/// How often the runner looks at the assignment's weights while it waits
/// for a poll: a provider whose weight rises above 0 gets a batch soon.
const RECHECK: Duration = Duration::from_secs(1);

/// A batch-mode provider as the runner uses it.
pub struct BatchProvider {
    pub name: String,
    pub client: BatchClient,
    pub batch: Batch,
    /// Batches in flight at once.
    pub max_concurrency: usize,
    /// Requests the slots' turns drew for its next batch.
    pub pending: turns::Pending,
    /// Its batches in flight, as its runner last counted them.
    in_flight: AtomicUsize,
}

impl BatchProvider {
    /// Whether a turn may go to this provider (`turns::takes_turns`).
    pub fn takes_turns(&self) -> bool {
        turns::takes_turns(
            self.in_flight.load(Ordering::Relaxed),
            self.max_concurrency,
            self.pending.count(),
            self.batch.size,
        )
    }

    /// Records its batches in flight, for the turns and the heartbeats.
    fn show(&self, shared: &Shared, tracked: &[Tracked]) {
        self.in_flight.store(tracked.len(), Ordering::Relaxed);
        shared.batch_view.set(&self.name, &view(tracked));
    }

    /// The batch-mode providers among `settings`.
    pub fn build_all(settings: &[Settings]) -> anyhow::Result<Vec<BatchProvider>> {
        let mut out = Vec::new();
        for s in settings {
            if let (Some(client), Some(batch)) = (BatchClient::build(s)?, s.batch) {
                out.push(BatchProvider {
                    name: s.name.clone(),
                    client,
                    batch,
                    max_concurrency: s.max_concurrency.max(1) as usize,
                    pending: turns::Pending::default(),
                    in_flight: AtomicUsize::new(0),
                });
            }
        }
        Ok(out)
    }
}

/// One batch the runner waits for.
struct Tracked {
    record: Record,
    next_poll: Instant,
    delay: Duration,
    /// As last polled.
    status: Option<Status>,
}

impl Tracked {
    fn new(record: Record, first: Duration) -> Tracked {
        Tracked {
            record,
            next_poll: Instant::now() + first,
            delay: first,
            status: None,
        }
    }

    /// The next poll after this one: the delay doubled, up to `max`.
    fn later(&mut self, max: Duration) {
        self.delay = (self.delay * 2).min(max);
        self.next_poll = Instant::now() + self.delay;
    }
}

/// Runs the batches of provider `index` of `shared.batch_providers` until
/// `signals.soft`: batches still in flight then stay in the bucket, and
/// the next runner (after a restart, or for the next assignment) resumes
/// them.
pub(crate) async fn runner(
    shared: Arc<Shared>,
    index: usize,
    assignment: watch::Receiver<Arc<Assignment>>,
    signals: Arc<Signals>,
) {
    let provider = &shared.batch_providers[index];
    let Some(store) = shared.batch_store.clone() else {
        return;
    };
    let mut tracked = resume(&store, provider).await;
    let mut submit_at = Instant::now();
    let mut submit_delay = provider.batch.poll_first;
    // Turns drawn for an earlier assignment are not this one's requests.
    provider.pending.clear();
    let paced = !shared.providers.live_names().is_empty();
    provider.show(&shared, &tracked);
    while !signals.soft.is_cancelled() {
        let current = assignment.borrow().clone();
        let now = Instant::now();
        let due = match tracked.len() < provider.max_concurrency && now >= submit_at {
            false => None,
            true if paced => {
                provider
                    .pending
                    .take_due(now, provider.batch.size, provider.batch.fill)
            }
            true => turns::wanted(&current.weights, &provider.name).then_some(provider.batch.size),
        };
        if let Some(n) = due {
            if !generate::wait_connected(&shared.client, &signals.soft).await {
                break;
            }
            match submit(&shared, provider, &store, &current, fresh_ids(n), 1).await {
                Ok(t) => {
                    tracked.push(t);
                    submit_delay = provider.batch.poll_first;
                }
                Err(e) => {
                    tracing::warn!(provider = %provider.name, error = %e, "batch not submitted; trying again later");
                    if paced {
                        provider.pending.put_back(n, now);
                    }
                    submit_at = Instant::now() + submit_delay;
                    submit_delay = (submit_delay * 2).min(provider.batch.poll_max);
                }
            }
            provider.show(&shared, &tracked);
            continue;
        }
        // Drawn requests wake the runner only when a batch could go.
        let room = paced && tracked.len() < provider.max_concurrency && now >= submit_at;
        let wake = tracked
            .iter()
            .map(|t| t.next_poll)
            .chain(
                provider
                    .pending
                    .due_by(provider.batch.fill)
                    .filter(|_| room),
            )
            .chain([Instant::now() + RECHECK])
            .min()
            .expect("one time at least");
        tokio::select! {
            _ = tokio::time::sleep_until(wake) => {}
            // A full batch goes at once.
            _ = provider.pending.drawn(), if room => {}
            _ = signals.soft.cancelled() => break,
        }
        let mut next = Vec::with_capacity(tracked.len());
        for t in tracked.drain(..) {
            if t.next_poll > Instant::now() {
                next.push(t);
                continue;
            }
            next.extend(step(&shared, provider, &store, t, &signals).await);
        }
        tracked = next;
        provider.show(&shared, &tracked);
    }
    if signals.stop_batches.is_cancelled() && !tracked.is_empty() {
        let (stopped, left) = cancel_all(&shared, provider, &store, tracked, &signals).await;
        tracing::info!(provider = %provider.name, cancelled = stopped.cancelled, answers = stopped.answers,
            paid_usd = stopped.cost_usd, unfinished = stopped.unfinished,
            "batches cancelled on stop; what they delivered is published and paid for");
        provider.show(&shared, &left);
        shared.batch_view.stopped(igentai_protocol::BatchesStopped {
            worker_id: shared.worker_id.clone(),
            ..stopped
        });
    }
}

/// A stop: every batch in flight cancelled at its vendor, polled until it
/// ends or the stop grace ends (`signals.hard`), and what it delivered
/// published. Batches still cancelling then stay recorded (marked
/// cancelled, so their failures are never sent again) and are returned.
async fn cancel_all(
    shared: &Shared,
    provider: &BatchProvider,
    store: &kv::Store,
    tracked: Vec<Tracked>,
    signals: &Signals,
) -> (igentai_protocol::BatchesStopped, Vec<Tracked>) {
    let mut stopped = igentai_protocol::BatchesStopped {
        provider: provider.name.clone(),
        ..Default::default()
    };
    let mut pending = Vec::with_capacity(tracked.len());
    for mut t in tracked {
        let cancelled = tokio::select! {
            r = provider.client.cancel(&t.record.vendor_id) => r,
            _ = signals.hard.cancelled() => Err(crate::providers::LlmError::Timeout),
        };
        match cancelled {
            Ok(_) => stopped.cancelled += 1,
            Err(e) => {
                tracing::warn!(vendor_id = %t.record.vendor_id, error = %e, "batch not cancelled")
            }
        }
        t.record.cancelled = true;
        if let Err(e) = record::save(store, &t.record).await {
            tracing::warn!(vendor_id = %t.record.vendor_id, error = %e, "batch not marked cancelled");
        }
        pending.push(t);
    }
    while !pending.is_empty() && !signals.hard.is_cancelled() {
        let mut next = Vec::with_capacity(pending.len());
        for t in pending {
            let polled = tokio::select! {
                r = provider.client.poll(&t.record.vendor_id) => r.ok(),
                _ = signals.hard.cancelled() => None,
            };
            match polled {
                Some(status) if status.end.is_some() => {
                    let mut t = t;
                    match finish(shared, provider, store, &mut t, &status, signals).await {
                        Ok(done) => {
                            stopped.answers += done.answers;
                            stopped.cost_usd += done.cost_usd;
                        }
                        Err(_) => next.push(t),
                    }
                }
                _ => next.push(t),
            }
        }
        pending = next;
        if pending.is_empty() {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(provider.batch.poll_first) => {}
            _ = signals.hard.cancelled() => {}
        }
    }
    stopped.unfinished = pending.len() as u32;
    (stopped, pending)
}

/// The records of `provider` in the bucket, to be polled at once.
async fn resume(store: &kv::Store, provider: &BatchProvider) -> Vec<Tracked> {
    let records = match record::list(store).await {
        Ok(records) => records,
        Err(e) => {
            tracing::error!(provider = %provider.name, error = %e, "cannot list the batches in flight; none resumed");
            return vec![];
        }
    };
    records
        .into_iter()
        .filter(|r| r.provider == provider.name)
        .map(|r| {
            tracing::info!(provider = %r.provider, vendor_id = %r.vendor_id, run_id = %r.assignment.run_id,
                published = r.published.len(), "resuming a batch submitted before");
            Tracked::new(r, Duration::ZERO)
        })
        .collect()
}

/// `r0` … `r<n-1>`: a custom id need only be unique within its batch.
fn fresh_ids(n: u32) -> Vec<String> {
    (0..n).map(|i| format!("r{i}")).collect()
}

/// Submits one batch of `custom_ids`, each a prompt built from
/// `assignment`, and records it before anything else can happen to it.
async fn submit(
    shared: &Shared,
    provider: &BatchProvider,
    store: &kv::Store,
    assignment: &Assignment,
    custom_ids: Vec<String>,
    attempt: u32,
) -> anyhow::Result<Tracked> {
    let prompt = prompt::build(assignment);
    let requests: Vec<Request> = custom_ids
        .iter()
        .map(|id| Request {
            custom_id: id.clone(),
            prompt: prompt.clone(),
        })
        .collect();
    let vendor_id = provider.client.submit(&requests).await?;
    let record = Record {
        vendor_id,
        provider: provider.name.clone(),
        assignment: assignment.clone(),
        custom_ids,
        published: BTreeSet::new(),
        submitted_at_ms: now_ms(),
        attempt,
        cancelled: false,
    };
    tracing::info!(provider = %record.provider, vendor_id = %record.vendor_id,
        requests = requests.len(), attempt, "batch submitted");
    shared
        .counters
        .batch_requests_submitted
        .fetch_add(requests.len() as u64, Ordering::Relaxed);
    if let Err(e) = record::save(store, &record).await {
        // Still polled by this process; only a restart would lose it.
        tracing::error!(vendor_id = %record.vendor_id, error = %e, "batch not recorded: a restart would not resume it");
    }
    Ok(Tracked::new(record, provider.batch.poll_first))
}

/// One poll of `t`: it is still running (polled again later), or it
/// ended, its answers are published and what failed is sent again.
async fn step(
    shared: &Shared,
    provider: &BatchProvider,
    store: &kv::Store,
    mut t: Tracked,
    signals: &Signals,
) -> Vec<Tracked> {
    let polled = tokio::select! {
        r = provider.client.poll(&t.record.vendor_id) => r,
        _ = signals.hard.cancelled() => { return vec![t] }
    };
    match polled {
        Ok(status) if status.end.is_none() => {
            t.status = Some(status);
            t.later(provider.batch.poll_max);
            vec![t]
        }
        Ok(status) => match finish(shared, provider, store, &mut t, &status, signals).await {
            Ok(done) => done.again.into_iter().collect(),
            Err(e) => {
                tracing::warn!(vendor_id = %t.record.vendor_id, error = %e, "batch results not read; trying again later");
                t.status = Some(status);
                t.later(provider.batch.poll_max);
                vec![t]
            }
        },
        Err(e) => {
            tracing::warn!(vendor_id = %t.record.vendor_id, error = %e, "batch poll failed; trying again later");
            t.later(provider.batch.poll_max);
            vec![t]
        }
    }
}

/// What an ended batch came to.
struct Finished {
    /// Its failed requests, submitted again as a new batch.
    again: Option<Tracked>,
    /// Answers published now, and what they cost.
    answers: u64,
    cost_usd: f64,
}

/// An ended batch: its answers published, its record removed once all
/// are acknowledged, and its retryable failures submitted again as a new
/// batch, unless it was cancelled. Err when the results could not be read
/// or not every answer could be published.
async fn finish(
    shared: &Shared,
    provider: &BatchProvider,
    store: &kv::Store,
    t: &mut Tracked,
    status: &Status,
    signals: &Signals,
) -> anyhow::Result<Finished> {
    let prompt = prompt::build(&t.record.assignment);
    let results = tokio::select! {
        r = provider.client.results(status, prompt.estimated_tokens()) => r?,
        _ = signals.hard.cancelled() => anyhow::bail!("abandoned at shutdown"),
    };
    let refused_whole = matches!(status.end, Some(End::Failed(_)));
    let sorted = sort(&t.record, results, refused_whole);
    shared
        .counters
        .batch_lines_malformed
        .fetch_add(sorted.malformed, Ordering::Relaxed);
    let (mut unpublished, mut answers, mut cost_usd) = (0, 0, 0.0);
    for (custom_id, completion) in sorted.answers {
        let latency = Duration::from_millis(
            now_ms()
                .saturating_sub(t.record.submitted_at_ms)
                .min(ids::MAX_LATENCY_MS),
        );
        let batch_id = record::result_batch_id(
            &shared.worker_id,
            &provider.name,
            &t.record.vendor_id,
            &custom_id,
        );
        let batch = generate::batch(
            shared,
            &t.record.assignment,
            &prompt,
            &provider.name,
            completion,
            latency,
            batch_id,
        );
        if publish(&shared.js, &batch, &shared.counters, &signals.give_up).await {
            t.record.published.insert(custom_id);
            answers += 1;
            cost_usd += batch.cost_usd;
        } else {
            unpublished += 1;
        }
    }
    tracing::info!(provider = %provider.name, vendor_id = %t.record.vendor_id, end = ?status.end,
        published = t.record.published.len(), failed = sorted.failed, retry = sorted.retry.len(),
        malformed = sorted.malformed, "batch ended");
    if unpublished > 0 {
        // Kept for the next run of the worker, which publishes the rest.
        record::save(store, &t.record).await?;
        anyhow::bail!("{unpublished} answers not published");
    }
    let again = match (sorted.retry.is_empty(), t.record.attempt >= MAX_ATTEMPTS) {
        (true, _) => None,
        (false, true) => {
            tracing::warn!(vendor_id = %t.record.vendor_id, requests = sorted.retry.len(),
                "requests failed {MAX_ATTEMPTS} times; not sent again");
            None
        }
        (false, false) if signals.soft.is_cancelled() || t.record.cancelled => None,
        (false, false) => {
            let retried = submit(
                shared,
                provider,
                store,
                &t.record.assignment,
                sorted.retry,
                t.record.attempt + 1,
            )
            .await;
            match retried {
                Ok(again) => Some(again),
                Err(e) => {
                    tracing::warn!(vendor_id = %t.record.vendor_id, error = %e, "failed requests not sent again");
                    None
                }
            }
        }
    };
    if let Err(e) = record::remove(store, &t.record).await {
        tracing::warn!(vendor_id = %t.record.vendor_id, error = %e, "batch record not removed; a restart republishes its answers, which are dropped as duplicates");
    }
    Ok(Finished {
        again,
        answers,
        cost_usd,
    })
}

/// A batch's results sorted against its record.
#[derive(Debug, Default, PartialEq)]
struct Sorted {
    /// Answers of the batch's own requests not yet published, once each.
    answers: Vec<(String, crate::providers::Completion)>,
    /// Requests to send again: failed for the vendor's reasons, expired,
    /// cancelled, or missing from the results of a batch that ran.
    retry: Vec<String>,
    /// Refused requests, or requests of a batch the vendor refused whole.
    failed: u64,
    /// Lines that were no result, or named a request the batch never had.
    malformed: u64,
}

/// Pure: which results to publish, which requests to send again. The
/// requests a batch has no result for are sent again, unless the vendor
/// refused the batch whole (`refused_whole`): the same would be refused.
fn sort(record: &Record, results: Results, refused_whole: bool) -> Sorted {
    let mut sorted = Sorted {
        malformed: results.malformed,
        ..Sorted::default()
    };
    let own: BTreeSet<&str> = record.custom_ids.iter().map(String::as_str).collect();
    let mut seen = BTreeSet::new();
    for (custom_id, outcome) in results.answers {
        if !own.contains(custom_id.as_str()) || !seen.insert(custom_id.clone()) {
            sorted.malformed += 1;
            continue;
        }
        match outcome {
            _ if record.published.contains(&custom_id) => {}
            Ok(completion) => sorted.answers.push((custom_id, completion)),
            Err(f) if f.retry => sorted.retry.push(custom_id),
            Err(_) => sorted.failed += 1,
        }
    }
    let missing = record
        .custom_ids
        .iter()
        .filter(|id| !seen.contains(*id) && !record.published.contains(*id));
    match refused_whole {
        true => sorted.failed += missing.count() as u64,
        false => sorted.retry.extend(missing.cloned()),
    }
    sorted
}

/// The batches of one provider as heartbeats report them.
fn view(tracked: &[Tracked]) -> igentai_protocol::BatchesInFlight {
    let mut v = igentai_protocol::BatchesInFlight {
        batches: tracked.len() as u32,
        oldest_submitted_at_ms: tracked.iter().map(|t| t.record.submitted_at_ms).min(),
        ..Default::default()
    };
    for t in tracked {
        let counts = t.status.as_ref().map(|s| s.counts).unwrap_or_default();
        v.requests += (t.record.custom_ids.len() as u64).max(counts.total);
        v.done += counts.done;
        v.failed += counts.failed;
    }
    v
}

#[cfg(test)]
mod tests;
