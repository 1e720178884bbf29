//! `BatchView`: each batch runner's batches in flight as last seen, which
//! the heartbeat reports; written by the runners, read by the event loop.

use std::collections::BTreeMap;
use std::sync::Mutex;

use igentai_protocol::{BatchesInFlight, BatchesStopped};

#[derive(Debug, Default)]
pub struct BatchView {
    in_flight: Mutex<BTreeMap<String, BatchesInFlight>>,
    /// What the last stop cancelled, until its answer reports it.
    stopped: Mutex<Vec<BatchesStopped>>,
}

impl BatchView {
    /// Replaces what `provider`'s runner reports.
    pub fn set(&self, provider: &str, batches: &BatchesInFlight) {
        let entry = BatchesInFlight {
            provider: provider.to_string(),
            ..batches.clone()
        };
        self.lock().insert(provider.to_string(), entry);
    }

    /// Every batch-mode provider's entry, by name.
    pub fn all(&self) -> Vec<BatchesInFlight> {
        self.lock().values().cloned().collect()
    }

    /// Records what a stop cancelled in one provider.
    pub fn stopped(&self, stopped: BatchesStopped) {
        lock(&self.stopped).push(stopped);
    }

    /// What stops cancelled since the last call, for the stop's answer.
    pub fn take_stopped(&self) -> Vec<BatchesStopped> {
        std::mem::take(&mut *lock(&self.stopped))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, BatchesInFlight>> {
        lock(&self.in_flight)
    }
}

/// Plain data replaced in one step: a panic elsewhere cannot leave it
/// half-written.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
