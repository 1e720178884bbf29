//! Counters shared by a worker's tasks and reported in its heartbeats.

use std::sync::atomic::{AtomicU32, AtomicU64};

#[derive(Debug, Default)]
pub struct Counters {
    pub in_flight: AtomicU32,
    pub batches_published: AtomicU64,
    pub items_published: AtomicU64,
    pub publish_retries: AtomicU64,
    pub llm_failures: AtomicU64,
    /// Requests sent in vendor batches (resubmissions included).
    pub batch_requests_submitted: AtomicU64,
    /// Lines of vendor batch results that were no usable result.
    pub batch_lines_malformed: AtomicU64,
}
