//! Entry points for the fuzz targets in `fuzz/` and for replaying their
//! corpus in ordinary tests: each takes arbitrary bytes, runs one decoder,
//! and checks the properties every output must have. A violated property
//! panics, which the fuzzer reports as a crash.

use crate::ingest::batch;
use crate::keys::normalize;
use crate::service::decode as control;

/// The normalized key: no panic, no surrounding, doubled or odd whitespace.
pub fn normalize(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let key = normalize::normalize(&text);
    assert_eq!(key.trim(), key, "key has surrounding whitespace: {key:?}");
    assert!(!key.contains("  "), "key has doubled spaces: {key:?}");
    assert!(
        key.chars().all(|c| c == ' ' || !c.is_whitespace()),
        "key keeps a whitespace other than a space: {key:?}"
    );
    let _ = normalize::key_hash(&key);
}

/// Every control decoder: no panic; an accepted start has a clean topic.
pub fn control_decode(data: &[u8]) {
    if let Ok(request) = control::decode_start(data) {
        assert!(!request.topic.is_empty());
        assert_eq!(request.topic.trim(), request.topic);
        assert!(!request.topic.chars().any(char::is_control));
        assert!(request.topic.chars().count() <= control::MAX_TOPIC_CHARS);
    }
    let _ = control::decode_no_args(data);
    if let Ok(request) = control::decode_weights(data)
        && let Some(weights) = request.weights
    {
        assert!(weights.values().all(|w| w.is_finite() && *w >= 0.0));
        assert!(weights.values().sum::<f64>() > 0.0);
    }
}

/// Batch decoding and item vetting: no panic; kept items are single-line,
/// trimmed, bounded and have a non-empty key.
pub fn batch_decode(data: &[u8]) {
    if let Ok(b) = batch::decode(data) {
        for raw in &b.items {
            check_item(raw);
        }
    }
    check_item(&String::from_utf8_lossy(data));
}

fn check_item(raw: &str) {
    if let Some(item) = batch::vet(raw) {
        assert!(!item.key.is_empty());
        assert_eq!(item.text.trim(), item.text);
        assert!(!item.text.chars().any(|c| c.is_control()));
        assert!(item.text.chars().count() <= igentai_protocol::MAX_ITEM_CHARS);
        assert_eq!(item.hash, normalize::key_hash(&item.key));
    }
}
