//! Every NATS subject igentai uses, and the JetStream names behind them.
//!
//! Worker ids become subject tokens, so [`valid_token`] guards them: a token
//! with a dot, a wildcard or whitespace would route messages somewhere else.

/// Control requests, answered by the coordinator (request-reply).
pub const CONTROL_START: &str = "igentai.control.start";
pub const CONTROL_STOP: &str = "igentai.control.stop";
pub const CONTROL_STATUS: &str = "igentai.control.status";
pub const CONTROL_WEIGHTS: &str = "igentai.control.weights";
/// Wildcard the coordinator subscribes to for every control verb.
pub const CONTROL_ALL: &str = "igentai.control.*";

/// Metrics snapshots from the coordinator, about once a second.
pub const METRICS: &str = "igentai.metrics";
/// New unique items, one message per ingested batch that had any.
pub const ITEMS: &str = "igentai.items";

/// Worker heartbeats; the last token is the worker id.
pub const HEARTBEAT_ALL: &str = "igentai.heartbeat.*";
const HEARTBEAT_PREFIX: &str = "igentai.heartbeat.";

/// Candidate batches, captured by the JetStream stream [`STREAM`].
pub const CANDIDATES_ALL: &str = "igentai.candidates.>";
const CANDIDATES_PREFIX: &str = "igentai.candidates.";

/// Weight updates from the coordinator to every worker.
pub const WEIGHTS: &str = "igentai.weights";

/// Partition jobs: "list sub-categories of ...", answered by one worker of
/// the queue group [`WORKERS_QUEUE`] (request-reply).
pub const PARTITION_JOBS: &str = "igentai.jobs.partitions";
/// Judge jobs: "which of these items are real instances of the topic",
/// answered by one worker of the queue group [`WORKERS_QUEUE`].
pub const JUDGE_JOBS: &str = "igentai.jobs.judge";
/// The queue group workers answer jobs in.
pub const WORKERS_QUEUE: &str = "igentai-workers";

/// Commands to one worker (request-reply); the last token is the worker id.
const WORK_PREFIX: &str = "igentai.work.";

/// The JetStream stream holding candidate batches until the coordinator has
/// written and acknowledged them.
pub const STREAM: &str = "IGENTAI_CANDIDATES";
/// The coordinator's durable pull consumer on [`STREAM`].
pub const CONSUMER: &str = "coordinator";

/// The JetStream stream holding every line the topic folders gained (the
/// items ledger): a topic can be restored from it on another host.
pub const ITEMS_STREAM: &str = "IGENTAI_ITEMS";
/// Ledger entries, captured by [`ITEMS_STREAM`]:
/// `igentai.ledger.<topic id>.<batch|item|alias>`.
pub const LEDGER_ALL: &str = "igentai.ledger.>";
/// The ledger's fence, in [`ITEMS_STREAM`]: each coordinator that takes
/// the lease publishes here first, and the seal of each of its commits
/// ([`LEDGER_SEALS`]) expects this subject's last sequence to be its own.
pub const LEDGER_FENCE: &str = "igentai.ledger.fence";
/// The coordinator's commit seals: one per topic per commit, published
/// after the commit's entries, expecting its fence to be the last.
pub const LEDGER_SEALS: &str = "igentai.ledger.seals";
const LEDGER_PREFIX: &str = "igentai.ledger.";

/// Where replies to a role's requests arrive (`_INBOX.<role>`); `nats.conf`
/// lets each role read only its own.
const INBOX_PREFIX: &str = "_INBOX.";

/// The inbox prefix of `role` (`coordinator`, `dashboard`, `operator`):
/// `_INBOX.<role>`.
pub fn inbox_prefix(role: &str) -> String {
    format!("{INBOX_PREFIX}{role}")
}

/// A worker's NATS role, which its inbox prefix and its user are named
/// after: `worker.<id>`.
pub fn worker_role(worker_id: &str) -> String {
    format!("worker.{worker_id}")
}

/// The inbox prefix of worker `worker_id`: `_INBOX.worker.<id>`.
pub fn worker_inbox_prefix(worker_id: &str) -> String {
    inbox_prefix(&worker_role(worker_id))
}

/// The key-value bucket holding worker `worker_id`'s submitted vendor
/// batches (`IGENTAI_BATCHES_<id>`), so a restarted worker resumes them;
/// `nats.conf` gives each worker its own bucket and no other.
pub fn batches_bucket(worker_id: &str) -> String {
    format!("IGENTAI_BATCHES_{worker_id}")
}

pub fn heartbeat(worker_id: &str) -> String {
    format!("{HEARTBEAT_PREFIX}{worker_id}")
}

pub fn candidates(worker_id: &str) -> String {
    format!("{CANDIDATES_PREFIX}{worker_id}")
}

/// The subject prefix of one topic's ledger entries.
pub fn ledger(topic_id: &str) -> String {
    format!("{LEDGER_PREFIX}{topic_id}")
}

pub fn worker_command(worker_id: &str) -> String {
    format!("{WORK_PREFIX}{worker_id}")
}

/// The verb of a control subject (`igentai.control.start` → `start`).
pub fn control_verb(subject: &str) -> Option<&str> {
    subject.strip_prefix("igentai.control.")
}

/// The worker id at the end of a heartbeat subject.
pub fn heartbeat_worker(subject: &str) -> Option<&str> {
    subject.strip_prefix(HEARTBEAT_PREFIX)
}

/// The worker id at the end of a candidate subject.
pub fn candidates_worker(subject: &str) -> Option<&str> {
    subject.strip_prefix(CANDIDATES_PREFIX)
}

/// Whether `s` can stand as one subject token: non-empty, at most 64 bytes of
/// ASCII letters, digits, `-` and `_`.
pub fn valid_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        for (token, ok) in [
            ("worker-1", true),
            ("host_a-123", true),
            ("", false),
            ("a.b", false),
            ("a*", false),
            ("a>", false),
            ("a b", false),
            ("é", false),
        ] {
            assert_eq!(valid_token(token), ok, "{token:?}");
        }
        assert!(!valid_token(&"x".repeat(65)));
    }

    #[test]
    fn subjects_round_trip() {
        assert_eq!(heartbeat_worker(&heartbeat("w1")), Some("w1"));
        assert_eq!(control_verb(CONTROL_STOP), Some("stop"));
        assert_eq!(candidates("w1"), "igentai.candidates.w1");
        assert_eq!(candidates_worker(&candidates("w1")), Some("w1"));
        assert_eq!(candidates_worker(&heartbeat("w1")), None);
        assert_eq!(worker_command("w1"), "igentai.work.w1");
        assert_eq!(inbox_prefix("dashboard"), "_INBOX.dashboard");
        assert_eq!(worker_inbox_prefix("w1"), "_INBOX.worker.w1");
    }
}
