//! The identifiers and numbers a candidate batch carries, and what each
//! may be: one rule, used by the worker that makes them and by the
//! coordinator that admits them.
//!
//! Identifiers end up in NATS headers (`Nats-Msg-Id` = batch id, in the
//! candidate stream and in the items ledger), in subjects, in file names
//! and in every metric's labels, so they are kept to the charset of a
//! subject token ([`subjects::valid_token`]): a CR or LF in a header value
//! is not a value, it is a second header. Names that are free text
//! (model, partition) may hold any printable character but no control
//! character or line separator, and every one has a length limit.
//!
//! A batch id belongs to its worker: `<worker_id>-<32 hex digits>`, the
//! digits 128 random bits. JetStream deduplicates by `Nats-Msg-Id` across
//! the whole stream, so an id another worker could guess is an id it could
//! publish first, and the real batch would be dropped as its duplicate.

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::CandidateBatch;
use crate::subjects;

/// The longest run or batch id, in bytes (a run id is a topic slug of up
/// to 60 characters and a timestamp; a batch id a worker id, a dash and
/// [`BATCH_ID_RANDOM_HEX`] digits).
pub const MAX_ID_BYTES: usize = 128;

/// Hex digits of randomness at the end of a batch id: 128 bits.
pub const BATCH_ID_RANDOM_HEX: usize = 32;

/// The longest model name, in bytes.
pub const MAX_MODEL_BYTES: usize = 256;

/// The longest partition (a path of sub-category names, "A > B"), in bytes.
pub const MAX_PARTITION_BYTES: usize = 4096;

/// The longest finish reason or provider request id, in bytes.
pub const MAX_NOTE_BYTES: usize = 256;

/// The longest an LLM call may claim to have taken: an hour. A worker's
/// call timeout is minutes; a larger claim would only drag its provider's
/// speed, and so its weight, towards zero.
pub const MAX_LATENCY_MS: u64 = 3_600_000;

/// Whether `s` is a run or batch id: non-empty, at most [`MAX_ID_BYTES`]
/// bytes of the characters of a subject token (ASCII letters, digits, `-`
/// and `_`).
pub fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_ID_BYTES
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether `s` is a usable name of free text: not blank, at most `max`
/// bytes, no control character or line separator.
pub fn valid_label(s: &str, max: usize) -> bool {
    !s.trim().is_empty()
        && s.len() <= max
        && !s
            .chars()
            .any(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}'))
}

/// `s` made a [`valid_label`] of at most `max` bytes, for names a worker
/// passes on from a provider's answer (its model, finish reason, request
/// id): control characters and line separators removed, cut at a character
/// boundary, trimmed; `None` when nothing is left.
pub fn clean_label(s: &str, max: usize) -> Option<String> {
    let mut out = String::with_capacity(s.len().min(max));
    for c in s
        .chars()
        .filter(|&c| !(c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')))
    {
        if out.len() + c.len_utf8() > max {
            break;
        }
        out.push(c);
    }
    let out = out.trim();
    (!out.is_empty()).then(|| out.to_string())
}

/// A fresh batch id of worker `worker_id`: its id, a dash, and 128 bits
/// no other client can predict.
pub fn new_batch_id(worker_id: &str) -> String {
    batch_id_from(worker_id, random_u128())
}

/// The batch id of worker `worker_id` carrying `bits`: for an answer that
/// may be published again after a restart (a vendor batch's result), the
/// bits are a hash of what names the answer, so the republish has the same
/// id and is stored once. The hash covers the vendor's batch id, which no
/// other client knows.
pub fn batch_id_from(worker_id: &str, bits: u128) -> String {
    format!("{worker_id}-{bits:032x}")
}

/// Whether `batch_id` is one `worker_id` may use: `<worker_id>-` followed
/// by exactly [`BATCH_ID_RANDOM_HEX`] lowercase hex digits.
pub fn batch_id_of(batch_id: &str, worker_id: &str) -> bool {
    batch_id
        .strip_prefix(worker_id)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|random| {
            random.len() == BATCH_ID_RANDOM_HEX
                && random
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

/// The first identifier of `batch` that breaks its rule, by field name.
/// Whether the batch id is the worker's own is [`batch_id_of`]'s question.
pub fn invalid_identifier(batch: &CandidateBatch) -> Option<&'static str> {
    let label = |s: &Option<String>, max| s.as_deref().is_some_and(|s| !valid_label(s, max));
    if !valid_id(&batch.batch_id) {
        Some("batch_id")
    } else if !valid_id(&batch.run_id) {
        Some("run_id")
    } else if !subjects::valid_token(&batch.worker_id) {
        Some("worker_id")
    } else if !subjects::valid_token(&batch.provider) {
        Some("provider")
    } else if !valid_label(&batch.model, MAX_MODEL_BYTES) {
        Some("model")
    } else if label(&batch.partition, MAX_PARTITION_BYTES) {
        Some("partition")
    } else if label(&batch.finish_reason, MAX_NOTE_BYTES) {
        Some("finish_reason")
    } else if label(&batch.request_id, MAX_NOTE_BYTES) {
        Some("request_id")
    } else {
        None
    }
}

/// 128 bits from SipHash keyed by the operating system's randomness
/// (std's `RandomState`), over a counter that never repeats in a process:
/// unpredictable without the key, with no dependency.
fn random_u128() -> u128 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let keyed = RandomState::new();
    let high = keyed.hash_one((n, 0u8));
    let low = keyed.hash_one((n, 1u8));
    (u128::from(high) << 64) | u128::from(low)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cleaned_label_is_always_valid() {
        for (raw, max, expected) in [
            ("qwen2.5-7b", 64, Some("qwen2.5-7b")),
            ("a\nb\tc\u{2028}d", 64, Some("abcd")),
            ("  \r\n ", 64, None),
            ("ééé", 5, Some("éé")),
            (
                "/models/qwen2.5-0.5b-instruct-q4_k_m.gguf",
                16,
                Some("/models/qwen2.5-"),
            ),
        ] {
            let cleaned = clean_label(raw, max);
            assert_eq!(cleaned.as_deref(), expected, "{raw:?}");
            if let Some(c) = cleaned {
                assert!(valid_label(&c, max), "{c:?}");
            }
        }
        let long = "x".repeat(10_000);
        assert!(valid_label(
            &clean_label(&long, MAX_NOTE_BYTES).unwrap(),
            MAX_NOTE_BYTES
        ));
    }

    #[test]
    fn ids() {
        for (id, ok) in [
            ("rare-cheeses-1700000000000", true),
            ("w1-0123456789abcdef0123456789abcdef", true),
            ("", false),
            ("a\nb", false),
            ("a\rb", false),
            ("a b", false),
            ("a.b", false),
            ("a:b", false),
            ("é", false),
        ] {
            assert_eq!(valid_id(id), ok, "{id:?}");
        }
        assert!(valid_id(&"x".repeat(MAX_ID_BYTES)));
        assert!(!valid_id(&"x".repeat(MAX_ID_BYTES + 1)));
        // The longest worker id makes a batch id that fits.
        assert!(valid_id(&new_batch_id(&"w".repeat(64))));
    }

    #[test]
    fn labels() {
        for (label, ok) in [
            ("gpt-4o-mini", true),
            ("meta-llama/Llama-3.1-8B:q4", true),
            ("Châteaux > Loire", true),
            ("", false),
            ("  ", false),
            ("a\nb", false),
            ("a\u{0}b", false),
            ("a\u{2028}b", false),
        ] {
            assert_eq!(valid_label(label, 64), ok, "{label:?}");
        }
        assert!(!valid_label(&"x".repeat(65), 64));
    }

    #[test]
    fn batch_ids_belong_to_their_worker_and_are_not_guessable() {
        let a = new_batch_id("w1");
        let b = new_batch_id("w1");
        assert_ne!(a, b);
        assert!(batch_id_of(&a, "w1"), "{a}");
        assert!(!batch_id_of(&a, "w2"));
        assert!(!batch_id_of(&a, "w"), "a prefix of the worker id");
        let random = &a["w1-".len()..];
        for (id, ok) in [
            (format!("w1-{random}"), true),
            (format!("w1-{}", random.to_uppercase()), false),
            (format!("w1-{}", &random[1..]), false),
            (format!("w1-{random}0"), false),
            (format!("w1{random}"), false),
            (format!("w1-{}g", &random[1..]), false),
            ("w1-18c2f3a9b00-7".to_string(), false),
        ] {
            assert_eq!(batch_id_of(&id, "w1"), ok, "{id}");
        }
        assert!(batch_id_of(&batch_id_from("w1", 7), "w1"));
        assert_eq!(batch_id_from("w1", 7), batch_id_from("w1", 7));
        // Different bits across many ids: no counter shows through.
        let ids: std::collections::HashSet<String> = (0..1000)
            .map(|_| new_batch_id("w1")[3..19].to_string())
            .collect();
        assert_eq!(ids.len(), 1000);
    }
}
