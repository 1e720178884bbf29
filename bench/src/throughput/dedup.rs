//! Dedup core: on one thread, candidates normalized, hashed and inserted
//! into a `SeenSet`, against inserting the same candidates' precomputed
//! 128-bit hashes into a fresh `SeenSet` (the limit: what the set itself
//! costs). The full item path the coordinator runs (`batch::vet`: trim,
//! checks, whitespace, normalize, hash) is reported beside it.

use std::hint::black_box;
use std::time::{Duration, Instant};

use coordinator::SeenSet;
use coordinator::Vetter;
use coordinator::{Normalizer, key_hash, normalize};

use super::report::Row;
use super::workload;

pub struct Results {
    pub candidates: usize,
    pub unique: usize,
    pub limit: Duration,
    pub normalized: Duration,
    pub interleaved: Duration,
    pub keys_only: Duration,
    pub vetted: Duration,
}

/// Best of `rounds`: the machine is shared, the minimum is the least noisy.
fn best(rounds: usize, mut f: impl FnMut() -> Duration) -> Duration {
    (0..rounds).map(|_| f()).min().unwrap_or_default()
}

pub fn measure(batches: u64, rounds: usize) -> Results {
    // Laid out one after another, as the items of a received batch are.
    let candidates = workload::candidates(batches);
    let arena: String = candidates.concat();
    let mut at = 0;
    let candidates: Vec<&str> = candidates
        .iter()
        .map(|c| {
            at += c.len();
            &arena[at - c.len()..at]
        })
        .collect();
    let hashes: Vec<u128> = candidates.iter().map(|c| key_hash(&normalize(c))).collect();
    let unique = {
        let mut seen = SeenSet::default();
        hashes.iter().filter(|&&h| seen.insert(h)).count()
    };
    // Batch by batch, as the coordinator inserts: the set reads a batch's
    // slots together, so their cache misses overlap.
    let limit = best(rounds, || {
        let mut seen = SeenSet::default();
        let mut new = [false; workload::BATCH_ITEMS];
        let started = Instant::now();
        for batch in hashes.chunks(workload::BATCH_ITEMS) {
            let new = &mut new[..batch.len()];
            seen.insert_batch(black_box(batch), new);
            black_box(new);
        }
        started.elapsed()
    });
    // As the coordinator does: a batch's keys first, then its inserts, so
    // the set's cache misses overlap instead of queueing behind each key.
    let normalized = best(rounds, || {
        let mut seen = SeenSet::default();
        let mut normalizer = Normalizer::default();
        let mut keys = Vec::with_capacity(workload::BATCH_ITEMS);
        let mut new = [false; workload::BATCH_ITEMS];
        let started = Instant::now();
        for batch in candidates.chunks(workload::BATCH_ITEMS) {
            keys.clear();
            keys.extend(batch.iter().map(|c| key_hash(normalizer.key(black_box(c)))));
            let new = &mut new[..keys.len()];
            seen.insert_batch(&keys, new);
            black_box(new);
        }
        started.elapsed()
    });
    let interleaved = best(rounds, || {
        let mut seen = SeenSet::default();
        let mut normalizer = Normalizer::default();
        let started = Instant::now();
        for c in &candidates {
            black_box(seen.insert(key_hash(normalizer.key(black_box(c)))));
        }
        started.elapsed()
    });
    let keys_only = best(rounds, || {
        let mut normalizer = Normalizer::default();
        let started = Instant::now();
        for c in &candidates {
            black_box(key_hash(normalizer.key(black_box(c))));
        }
        started.elapsed()
    });
    let vetted = best(rounds, || {
        let mut seen = SeenSet::default();
        let mut vetter = Vetter::default();
        let mut keys = Vec::with_capacity(workload::BATCH_ITEMS);
        let mut new = [false; workload::BATCH_ITEMS];
        let started = Instant::now();
        for batch in candidates.chunks(workload::BATCH_ITEMS) {
            keys.clear();
            keys.extend(
                batch
                    .iter()
                    .filter_map(|c| vetter.vet(black_box(c)).map(|v| v.hash)),
            );
            let new = &mut new[..keys.len()];
            seen.insert_batch(&keys, new);
            black_box(new);
        }
        started.elapsed()
    });
    Results {
        candidates: candidates.len(),
        unique,
        limit,
        normalized,
        interleaved,
        keys_only,
        vetted,
    }
}

pub fn rows(r: &Results) -> Vec<Row> {
    const B: &str = "Dedup core";
    let rate = |d: Duration| r.candidates as f64 / d.as_secs_f64();
    let (limit, normalized, vetted) = (rate(r.limit), rate(r.normalized), rate(r.vetted));
    let ratio = normalized / limit;
    vec![
        Row::info(
            B,
            format!(
                "workload: {} candidates, {} unique, one thread",
                r.candidates, r.unique
            ),
            "",
        ),
        Row::info(
            B,
            "limit: precomputed 128-bit hashes into SeenSet, by batch, inserts/s",
            format!("{limit:.0}"),
        ),
        Row::info(
            B,
            "normalize + hash + insert, 50 keys then their inserts, inserts/s",
            format!("{normalized:.0}"),
        ),
        Row::target(
            B,
            "normalize + hash + insert / limit",
            format!("{:.0}%", 100.0 * ratio),
            "≥ 50%",
            ratio >= 0.5,
        ),
        Row::info(
            B,
            "normalize + hash + insert, one candidate at a time, inserts/s",
            format!("{:.0}", rate(r.interleaved)),
        ),
        Row::info(
            B,
            "normalize + hash alone, keys/s",
            format!("{:.0}", rate(r.keys_only)),
        ),
        Row::info(
            B,
            "full item path (vet: checks, spelling kept, key, hash) + insert, by batch, inserts/s",
            format!("{vetted:.0} ({:.0}% of limit)", 100.0 * vetted / limit),
        ),
    ]
}

/// What bounds the result, from the numbers measured.
pub fn notes(r: &Results) -> Vec<String> {
    let ns = |d: Duration| 1e9 * d.as_secs_f64() / r.candidates as f64;
    vec![format!(
        "Dedup core: an insert costs {:.0} ns (mostly a cache miss into the seen-set) and a key \
         {:.0} ns (normalize + 128-bit hash); together {:.0} ns when a batch's keys are computed \
         before its inserts, {:.0} ns one candidate at a time (the misses no longer overlap).",
        ns(r.limit),
        ns(r.keys_only),
        ns(r.normalized),
        ns(r.interleaved)
    )]
}
