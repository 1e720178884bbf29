//! The streams' configuration, in one place: the candidate stream and the
//! items stream (the items ledger). The coordinator creates each with it
//! and checks an existing one against it, and the tests and benchmarks
//! that stand in for the coordinator create the same streams.

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

/// The items stream (`IGENTAI_ITEMS`, the items ledger): file-backed,
/// every entry kept (limits retention without limits), refusing rather
/// than dropping when a limit is set, retried publishes stored once within
/// the candidates' window.
pub fn items(replicas: usize) -> Config {
    Config {
        name: subjects::ITEMS_STREAM.to_string(),
        description: Some(
            "every line igentai's topic folders gained: batches, items, aliases".into(),
        ),
        subjects: vec![subjects::LEDGER_ALL.to_string()],
        storage: StorageType::File,
        retention: RetentionPolicy::Limits,
        discard: DiscardPolicy::New,
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
    problems.extend(memory(config, "batches are lost when nats-server restarts"));
    if config.retention != RetentionPolicy::WorkQueue {
        problems.push(format!(
            "retention is {:?}, not WorkQueue: acknowledged batches are kept, unread ones may be removed",
            config.retention
        ));
    }
    if config.discard != DiscardPolicy::New {
        problems.push("discard policy is Old: a full stream drops unread batches".into());
    }
    problems.extend(max_age(config, "unread batches expire"));
    problems.extend(per_subject(
        config,
        "a busy worker's older batches are dropped",
    ));
    if config.duplicate_window < DUPLICATE_WINDOW {
        problems.push(format!(
            "duplicate_window is {:?}, under {:?}: a worker's retried publish is stored twice",
            config.duplicate_window, DUPLICATE_WINDOW
        ));
    }
    problems
}

/// What makes an existing items stream unsafe: settings under which the
/// server could drop entries of a topic's history (a host restoring the
/// topic from it would get part of it, and not know), each with how to
/// fix it. Empty when the stream is fine. Limits with discard policy New
/// are fine: a full stream refuses entries, the commit waits and says so.
pub fn unsafe_items_settings(config: &Config) -> Vec<String> {
    let edit = |flags: &str| format!("fix: `nats stream edit {} {flags}`", config.name);
    let remake = format!(
        "cannot be edited: `nats stream rm {}`, and each coordinator publishes its topic \
         folders to the new stream when it opens them",
        config.name
    );
    let mut problems = Vec::new();
    problems.extend(
        memory(config, "the entries are lost when nats-server restarts")
            .map(|p| format!("{p} ({remake})")),
    );
    if config.retention != RetentionPolicy::Limits {
        problems.push(format!(
            "retention is {:?}, not Limits: entries are removed once read ({remake})",
            config.retention
        ));
    }
    problems.extend(
        max_age(config, "older entries are deleted")
            .map(|p| format!("{p} ({})", edit("--max-age=0s"))),
    );
    problems.extend(
        per_subject(
            config,
            "a topic keeps only its latest batches, items and aliases",
        )
        .map(|p| format!("{p} ({})", edit("--max-msgs-per-subject=-1"))),
    );
    if config.discard == DiscardPolicy::Old {
        let full = "with discard policy Old: a full stream deletes its oldest entries";
        let discard_new = edit("--discard=new");
        if config.max_messages > 0 {
            problems.push(format!(
                "max_msgs is {} {full} ({discard_new})",
                config.max_messages
            ));
        }
        if config.max_bytes > 0 {
            problems.push(format!(
                "max_bytes is {} {full} ({discard_new})",
                config.max_bytes
            ));
        }
    }
    problems
}

/// Memory storage: what the stream holds is `lost` on a restart.
fn memory(config: &Config, lost: &str) -> Option<String> {
    (config.storage != StorageType::File).then(|| format!("storage is memory: {lost}"))
}

/// A maximum age: what is older is `lost`.
fn max_age(config: &Config, lost: &str) -> Option<String> {
    (!config.max_age.is_zero()).then(|| format!("max_age is {:?}: {lost}", config.max_age))
}

/// A per-subject limit: what is older on one subject is `lost`.
fn per_subject(config: &Config, lost: &str) -> Option<String> {
    (config.max_messages_per_subject > 0).then(|| {
        format!(
            "max_msgs_per_subject is {}: {lost}",
            config.max_messages_per_subject
        )
    })
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

    /// `change` made to the items stream's settings finds `problems`
    /// (one of each, in order), each saying how to fix it.
    fn check_items(change: impl FnOnce(&mut Config), problems: &[&str]) {
        let mut config = items(1);
        change(&mut config);
        let found = unsafe_items_settings(&config);
        assert_eq!(found.len(), problems.len(), "{found:?}");
        for (found, expected) in found.iter().zip(problems) {
            assert!(found.contains(expected), "{expected:?} not in {found:?}");
            assert!(found.contains("nats stream"), "no fix in {found:?}");
        }
    }

    #[test]
    fn history_the_items_stream_could_drop_is_named_with_its_fix() {
        check_items(|_| {}, &[]);
        check_items(|c| c.num_replicas = 3, &[]);
        // Limits that refuse rather than drop are fine.
        check_items(
            |c| (c.max_bytes, c.max_messages) = (1 << 30, 1_000_000),
            &[],
        );
        check_items(|c| c.discard = DiscardPolicy::Old, &[]);
        check_items(|c| c.storage = StorageType::Memory, &["memory"]);
        check_items(|c| c.retention = RetentionPolicy::WorkQueue, &["retention"]);
        check_items(|c| c.retention = RetentionPolicy::Interest, &["retention"]);
        check_items(
            |c| c.max_age = Duration::from_secs(86_400),
            &["max_age is 86400s: older entries are deleted \
                 (fix: `nats stream edit IGENTAI_ITEMS --max-age=0s`)"],
        );
        check_items(
            |c| c.max_messages_per_subject = 100,
            &[
                "max_msgs_per_subject is 100: a topic keeps only its latest batches, items and \
               aliases (fix: `nats stream edit IGENTAI_ITEMS --max-msgs-per-subject=-1`)",
            ],
        );
        check_items(
            |c| (c.discard, c.max_messages) = (DiscardPolicy::Old, 1000),
            &["max_msgs is 1000 with discard policy Old"],
        );
        check_items(
            |c| (c.discard, c.max_bytes) = (DiscardPolicy::Old, 1 << 20),
            &[
                "max_bytes is 1048576 with discard policy Old: a full stream deletes its oldest \
               entries (fix: `nats stream edit IGENTAI_ITEMS --discard=new`)",
            ],
        );
        check_items(
            |c| {
                c.max_age = Duration::from_secs(60);
                c.max_messages_per_subject = 5;
                (c.discard, c.max_bytes) = (DiscardPolicy::Old, 1 << 20);
            },
            &["max_age", "max_msgs_per_subject", "max_bytes"],
        );
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
