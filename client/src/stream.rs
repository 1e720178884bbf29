//! The candidate stream's configuration, in one place: the coordinator
//! creates the stream with it and checks an existing one against it, and
//! the tests and benchmarks that stand in for the coordinator create the
//! same stream.

use std::time::Duration;

use async_nats::jetstream::stream::{Config, DiscardPolicy, RetentionPolicy, StorageType};
use igentai_protocol::subjects;

/// Workers retry a publish with the same `Nats-Msg-Id` for up to this long
/// and it is still stored once.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(600);

/// The candidate stream: file-backed work queue, refusing rather than
/// dropping when full, deduplicating retried publishes by `Nats-Msg-Id`,
/// kept on `replicas` nodes of a cluster (1 on a single server).
pub fn candidates(replicas: usize) -> Config {
    Config {
        name: subjects::STREAM.to_string(),
        subjects: vec![subjects::CANDIDATES_ALL.to_string()],
        storage: StorageType::File,
        // A batch leaves the stream once the coordinator has written it.
        retention: RetentionPolicy::WorkQueue,
        // Refuse new batches rather than drop unread ones when full.
        discard: DiscardPolicy::New,
        max_bytes: 8 * 1024 * 1024 * 1024,
        max_message_size: 1024 * 1024,
        duplicate_window: DUPLICATE_WINDOW,
        num_replicas: replicas.max(1),
        ..Default::default()
    }
}

/// What makes an existing candidate stream unsafe: settings under which
/// the server could drop a batch no coordinator has read, or lose it on a
/// restart. Empty when the stream is fine. Sizes may differ: an operator
/// may grow or shrink them.
pub fn unsafe_settings(config: &Config) -> Vec<String> {
    let mut problems = Vec::new();
    if config.storage != StorageType::File {
        problems.push("storage is memory: batches are lost when nats-server restarts".into());
    }
    if config.retention != RetentionPolicy::WorkQueue {
        problems.push(format!(
            "retention is {:?}, not WorkQueue: acknowledged batches are kept, unread ones may be removed",
            config.retention
        ));
    }
    if config.discard != DiscardPolicy::New {
        problems.push("discard policy is Old: a full stream drops unread batches".into());
    }
    if !config.max_age.is_zero() {
        problems.push(format!(
            "max_age is {:?}: unread batches expire",
            config.max_age
        ));
    }
    if config.max_messages_per_subject > 0 {
        problems.push(format!(
            "max_msgs_per_subject is {}: a busy worker's older batches are dropped",
            config.max_messages_per_subject
        ));
    }
    if config.duplicate_window < DUPLICATE_WINDOW {
        problems.push(format!(
            "duplicate_window is {:?}, under {:?}: a worker's retried publish is stored twice",
            config.duplicate_window, DUPLICATE_WINDOW
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(change: impl FnOnce(&mut Config), problem: Option<&str>) {
        let mut config = candidates(1);
        change(&mut config);
        let problems = unsafe_settings(&config);
        match problem {
            None => assert!(problems.is_empty(), "{problems:?}"),
            Some(p) => {
                assert_eq!(problems.len(), 1, "{problems:?}");
                assert!(problems[0].contains(p), "{problems:?}");
            }
        }
    }

    #[test]
    fn drops_and_losses_are_named() {
        check(|_| {}, None);
        check(|c| c.max_bytes = 1 << 30, None);
        check(|c| c.num_replicas = 3, None);
        check(|c| c.storage = StorageType::Memory, Some("memory"));
        check(|c| c.retention = RetentionPolicy::Limits, Some("retention"));
        check(|c| c.discard = DiscardPolicy::Old, Some("discard"));
        check(|c| c.max_age = Duration::from_secs(60), Some("max_age"));
        check(
            |c| c.max_messages_per_subject = 10,
            Some("max_msgs_per_subject"),
        );
        check(
            |c| c.duplicate_window = Duration::from_secs(120),
            Some("duplicate_window"),
        );
    }
}
