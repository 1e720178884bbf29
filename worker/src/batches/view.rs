//! `BatchView`: each batch runner's batches in flight as last seen, which
//! the heartbeat reports; written by the runners, read by the event loop.

use std::collections::BTreeMap;
use std::sync::Mutex;

use igentai_protocol::BatchesInFlight;

#[derive(Debug, Default)]
pub struct BatchView(Mutex<BTreeMap<String, BatchesInFlight>>);

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

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, BatchesInFlight>> {
        // Plain data replaced in one step: a panic elsewhere cannot leave
        // it half-written.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}
