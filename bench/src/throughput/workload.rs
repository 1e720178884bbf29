//! The candidates the benchmarks feed the coordinator: item names shaped
//! like LLM list answers (capitalised words, a few accented, some with an
//! article, a list marker or trailing punctuation), in 50-item batches of
//! which half are items seen before, spelled differently.
//!
//! Deterministic: the same arguments give the same items, so the bare
//! limit and the coordinator see identical messages.

use bytes::Bytes;
use igentai_protocol::{CandidateBatch, VERSION};

/// The topic every benchmark batch belongs to.
pub const TOPIC: &str = "Benchmark landmarks";
/// Items per batch, and how many of them are new.
pub const BATCH_ITEMS: usize = 50;
pub const NEW_PER_BATCH: usize = 25;

const ADJECTIVES: [&str; 16] = [
    "Golden",
    "Silent",
    "Royal",
    "Ancient",
    "Hidden",
    "Grand",
    "Little",
    "Old",
    "Crystal",
    "Northern",
    "Sacred",
    "Painted",
    "Iron",
    "Forgotten",
    "Blue",
    "Crimson",
];
const NOUNS: [&str; 16] = [
    "Harbor",
    "Tower",
    "Garden",
    "Bridge",
    "Cathedral",
    "Market",
    "Museum",
    "Fountain",
    "Palace",
    "Library",
    "Theatre",
    "Abbey",
    "Café",
    "Gallery",
    "Square",
    "Château",
];
const PLACES: [&str; 16] = [
    "Lyon", "Kyoto", "Porto", "Quebec", "Zürich", "Bergen", "Cusco", "Hanoi", "Tbilisi", "Sevilla",
    "Malmö", "Oaxaca", "Galway", "Tallinn", "Córdoba", "Dakar",
];

/// The `n`th distinct item: unique for every `n`.
pub fn item(n: u64) -> String {
    let a = ADJECTIVES[(n % 16) as usize];
    let b = NOUNS[((n / 16) % 16) as usize];
    let c = PLACES[((n / 256) % 16) as usize];
    format!("{a} {b} of {c} {}", n / 4096)
}

/// Another spelling of item `n` that normalizes to the same key, as models
/// repeat themselves: lower case, an article, typographic quotes, emphasis
/// or a trailing period. (List markers are the worker's to cut: the
/// coordinator keeps what reaches it as part of the name.)
pub fn respelling(n: u64, variant: u64) -> String {
    let base = item(n);
    match variant % 5 {
        0 => base.to_lowercase(),
        1 => format!("The {base}"),
        2 => format!("“{base}”"),
        3 => format!("**{base}**"),
        _ => format!("{base}."),
    }
}

/// The items of batch `i`: [`NEW_PER_BATCH`] never seen before, the rest
/// respellings of items from earlier batches (or of its own, for the first).
pub fn batch_items(i: u64) -> Vec<String> {
    let first_new = i * NEW_PER_BATCH as u64;
    let mut items: Vec<String> = (first_new..first_new + NEW_PER_BATCH as u64)
        .map(item)
        .collect();
    let seen = first_new + NEW_PER_BATCH as u64;
    for k in 0..(BATCH_ITEMS - NEW_PER_BATCH) as u64 {
        // Spread over everything seen so far, recent items more often.
        let mix =
            (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ k.wrapping_mul(0xBF58_476D_1CE4_E5B9)) >> 11;
        let back = if k.is_multiple_of(2) {
            seen.min(500)
        } else {
            seen
        };
        let n = seen - 1 - mix % back;
        items.push(respelling(n, i + k));
    }
    items
}

/// Batch `i` as a worker would publish it.
pub fn batch(i: u64, run_id: &str) -> CandidateBatch {
    let worker = i % 8;
    CandidateBatch {
        v: VERSION,
        batch_id: format!("bench-w{worker}-{i:032x}"),
        run_id: run_id.to_string(),
        topic: TOPIC.to_string(),
        worker_id: format!("bench-w{worker}"),
        provider: ["sim-small", "sim-large"][(i % 2) as usize].to_string(),
        model: ["sim-1", "sim-2"][(i % 2) as usize].to_string(),
        partition: None,
        items: batch_items(i),
        tokens_in: 180,
        tokens_cached_in: 0,
        tokens_out: 420,
        latency_ms: 900,
        cost_usd: 0.0003,
        finish_reason: Some("stop".into()),
        request_id: None,
        created_at_ms: 1_700_000_000_000 + i,
    }
}

/// `count` batches, encoded as their JSON payloads.
pub fn payloads(count: u64, run_id: &str) -> Vec<(String, Bytes)> {
    (0..count)
        .map(|i| {
            let b = batch(i, run_id);
            let json = serde_json::to_vec(&b).expect("batches serialize");
            (b.batch_id, Bytes::from(json))
        })
        .collect()
}

/// The candidates of `count` batches, one flat list (for the dedup core).
pub fn candidates(count: u64) -> Vec<String> {
    (0..count).flat_map(batch_items).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn half_of_every_batch_is_known() {
        let key = |s: &str| coordinator::normalize(s);
        let mut seen = HashSet::new();
        for i in 0..200 {
            let items = batch_items(i);
            assert_eq!(items.len(), BATCH_ITEMS);
            let fresh = items.iter().filter(|s| seen.insert(key(s))).count();
            assert_eq!(fresh, NEW_PER_BATCH, "batch {i}");
        }
    }
}
