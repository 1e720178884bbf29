//! Jobs: one LLM call the coordinator asks of any worker of the queue
//! group, answered by request-reply. `partitions.rs` names sub-categories
//! of a topic or a partition; `judge.rs` says which items are real
//! instances of the topic. Both ask one of the worker's providers, chosen
//! by the job's weights like any call ([`call`]), and answer with what the
//! call cost.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::generate::{Shared, wait_for_provider};
use crate::prompt::Prompt;
use crate::providers::Completion;
use crate::rng::{Rng, entropy};

pub mod judge;
pub mod partitions;

pub use partitions::distinct;

/// How long a job waits for a provider to become available: half the time
/// the coordinator gives a job (120 s), the other half left for the call.
/// A local model on a CPU holds its slot for 10-30 s a call.
const LEASE_WAIT: Duration = Duration::from_secs(60);

/// Why a job's call gave no answer, and the provider asked (empty when
/// none was).
pub(crate) struct Failed {
    pub provider: String,
    pub error: String,
}

/// Asks one provider, chosen by `weights`, for `prompt`: waits up to
/// [`LEASE_WAIT`] for one to be free; `cancel` (shutdown) abandons it.
pub(crate) async fn call(
    shared: &Shared,
    weights: &BTreeMap<String, f64>,
    prompt: &Prompt,
    cancel: &CancellationToken,
) -> Result<(String, Completion), Failed> {
    let failed = |provider: &str, error: String| Failed {
        provider: provider.to_string(),
        error,
    };
    let mut rng = Rng::new(entropy());
    let deadline = Instant::now() + LEASE_WAIT;
    let lease = loop {
        let released = shared.providers.released().notified();
        match shared.providers.lease(
            weights,
            &mut rng,
            Instant::now(),
            prompt.estimated_call_tokens(),
        ) {
            Ok(lease) => break lease,
            Err(_) if Instant::now() >= deadline => {
                return Err(failed(
                    "",
                    format!("no provider available within {LEASE_WAIT:?}"),
                ));
            }
            Err(wait) => {
                if !wait_for_provider(wait, released, cancel).await {
                    return Err(failed("", "the worker is shutting down".into()));
                }
            }
        }
    };
    let provider = lease.entry().name.clone();
    shared.counters.in_flight.fetch_add(1, Ordering::Relaxed);
    let result = tokio::select! {
        r = lease.call(prompt) => Some(r),
        _ = cancel.cancelled() => None,
    };
    shared.counters.in_flight.fetch_sub(1, Ordering::Relaxed);
    match result {
        None => Err(failed(&provider, "the worker is shutting down".into())),
        Some(Err(e)) => {
            shared.counters.llm_failures.fetch_add(1, Ordering::Relaxed);
            Err(failed(&provider, e.to_string()))
        }
        Some(Ok(completion)) => Ok((provider, completion)),
    }
}
