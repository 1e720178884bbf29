//! Unit tests of `stats.rs`.
use super::*;

fn batch(provider: &str, worker: &str, partition: Option<&str>, latency_ms: u64) -> CandidateBatch {
    CandidateBatch {
        v: 1,
        batch_id: "b".into(),
        run_id: "r".into(),
        topic: "t".into(),
        worker_id: worker.into(),
        provider: provider.into(),
        model: format!("{provider}-model"),
        partition: partition.map(Into::into),
        items: vec![],
        tokens_in: 100,
        tokens_cached_in: 0,
        tokens_out: 100,
        latency_ms,
        cost_usd: 0.01,
        finish_reason: None,
        request_id: None,
        created_at_ms: 0,
    }
}

fn outcome(candidates: u64, new: u64, invalid: u64) -> BatchOutcome {
    BatchOutcome {
        candidates,
        new,
        invalid,
        near_duplicates: 0,
    }
}

#[test]
fn known_stream_gives_known_numbers() {
    let mut stats = RunStats::new(0);
    stats.record_batch(&batch("a", "w1", None, 100), outcome(10, 10, 0), 1_000);
    stats.record_batch(
        &batch("a", "w2", Some("museums"), 300),
        outcome(10, 4, 1),
        2_000,
    );
    stats.record_batch(
        &batch("b", "w1", Some("museums"), 200),
        outcome(20, 6, 0),
        3_000,
    );
    stats.record_rejected("schema");
    stats.record_rejected("schema");
    stats.record_rejected("too_large");

    let t = stats.totals(25, 30_000);
    assert_eq!(
        (t.batches, t.candidates, t.duplicates, t.new_this_run),
        (3, 40, 20, 20)
    );
    assert_eq!((t.invalid_items, t.rejected_batches, t.unique), (1, 3, 25));
    assert_eq!(t.rejected_by_kind["schema"], 2);
    assert_eq!((t.tokens_in, t.tokens_out), (300, 300));
    assert!((t.cost_usd - 0.03).abs() < 1e-12);
    assert!((t.uniqueness_ratio - 0.5).abs() < 1e-12);
    // 20 new items within the first 30 s: 40 per minute.
    assert!(
        (t.unique_per_min - 40.0).abs() < 1e-9,
        "{}",
        t.unique_per_min
    );
    // A minute later the 1-minute window has moved past them; the
    // 5-minute one still holds them, spread over 90 s.
    stats.expire(90_000);
    assert_eq!(stats.totals(25, 90_000).unique_per_min, 0.0);
    let a = &stats.providers(90_000)["a"].yields;
    assert!(
        (a.unique_per_min_5m - 14.0 * 60.0 / 90.0).abs() < 1e-9,
        "{}",
        a.unique_per_min_5m
    );

    let p = stats.providers(30_000);
    let a = &p["a"].yields;
    assert_eq!((a.batches, a.candidates, a.unique), (2, 20, 14));
    assert!((a.uniqueness_ratio - 0.7).abs() < 1e-12);
    assert!((a.unique_per_1k_tokens - 35.0).abs() < 1e-9);
    assert!((a.unique_per_usd - 700.0).abs() < 1e-9);
    assert_eq!((a.latency_p50_ms, a.latency_p95_ms), (100, 300));
    assert_eq!(p["b"].model, "b-model");
    assert_eq!(stats.models(30_000)["a-model"].unique, 14);
    let w1 = stats.worker("w1", 30_000);
    assert_eq!((w1.batches, w1.candidates, w1.unique), (2, 30, 16));
    let parts = stats.partitions(30_000);
    assert_eq!(
        parts
            .iter()
            .map(|p| (p.name.as_str(), p.yields.unique))
            .collect::<Vec<_>>(),
        [(WHOLE_TOPIC, 10), ("museums", 10)]
    );
    assert_eq!(stats.recent_yield_per_1k_tokens(), None);
    for _ in 0..RECENT_BATCHES - 1 {
        stats.record_batch(&batch("a", "w1", None, 100), outcome(10, 0, 0), 4_000);
    }
    // 52 answers: the window slid past the first two; the third's 6 new
    // items remain, over 50 × 200 tokens.
    assert_eq!(stats.recent_yield_per_1k_tokens(), Some(0.6));
}

#[test]
fn near_duplicates_count_per_provider_and_partition() {
    let mut stats = RunStats::new(0);
    let near = |candidates, new, near| BatchOutcome {
        near_duplicates: near,
        ..outcome(candidates, new, 0)
    };
    stats.record_batch(&batch("a", "w1", Some("soft"), 100), near(10, 5, 2), 1_000);
    stats.record_batch(&batch("b", "w2", None, 100), near(10, 3, 1), 2_000);
    stats.record_batch(&batch("a", "w2", Some("soft"), 100), near(4, 0, 0), 3_000);
    let t = stats.totals(8, 3_000);
    assert_eq!((t.duplicates, t.near_duplicates), (16, 3));
    let p = stats.providers(3_000);
    assert_eq!(
        (p["a"].yields.near_duplicates, p["b"].yields.near_duplicates),
        (2, 1)
    );
    let parts: Vec<(String, u64)> = stats
        .partitions(3_000)
        .into_iter()
        .map(|p| (p.name, p.yields.near_duplicates))
        .collect();
    assert_eq!(
        parts,
        [(WHOLE_TOPIC.to_string(), 1), ("soft".to_string(), 2)]
    );
    assert_eq!(stats.worker("w2", 3_000).near_duplicates, 1);
    // Near-duplicates are not new: the yield counts only new items.
    assert_eq!(p["a"].yields.unique, 5);
    let restored: RunStats = serde_json::from_str(&serde_json::to_string(&stats).unwrap()).unwrap();
    assert_eq!(restored.totals(8, 3_000).near_duplicates, 3);
}

#[test]
fn percentiles() {
    let v: Vec<u64> = (1..=100).collect();
    assert_eq!((percentile(&v, 0.5), percentile(&v, 0.95)), (50, 95));
    assert_eq!(percentile(&[7], 0.95), 7);
    assert_eq!(percentile(&[], 0.5), 0);
}

#[test]
fn survives_a_save_and_load() {
    let mut stats = RunStats::new(0);
    stats.record_batch(&batch("a", "w1", None, 100), outcome(10, 5, 0), 1_000);
    stats.record_rejected("schema");
    let restored: RunStats = serde_json::from_str(&serde_json::to_string(&stats).unwrap()).unwrap();
    assert_eq!(restored.totals(5, 2_000).candidates, 10);
    assert_eq!(restored.totals(5, 2_000).rejected_batches, 1);
    assert!((restored.cost_usd() - 0.01).abs() < 1e-12);
}

#[test]
fn partition_jobs_are_charged_to_the_run() {
    let mut stats = RunStats::new(0);
    stats.record_batch(&batch("a", "w1", None, 100), outcome(10, 5, 0), 1_000);
    let job = Spend {
        tokens_in: 2_000,
        tokens_out: 1_000,
        cost_usd: 0.25,
    };
    stats.record_job(job);
    let t = stats.totals(5, 2_000);
    assert!(
        (stats.cost_usd() - 0.26).abs() < 1e-12,
        "{}",
        stats.cost_usd()
    );
    assert!((t.cost_usd - 0.26).abs() < 1e-12);
    assert_eq!(t.batches, 1);
    // Per provider only answers count: a job is not an answer.
    assert!((stats.providers(2_000)["a"].yields.cost_usd - 0.01).abs() < 1e-12);
    // Carried over a rebuild from the batch log, and over a restart.
    let mut rebuilt = RunStats::new(0);
    rebuilt.carry_uncounted(&stats);
    assert!((rebuilt.cost_usd() - 0.25).abs() < 1e-12);
    let restored: RunStats = serde_json::from_str(&serde_json::to_string(&stats).unwrap()).unwrap();
    assert_eq!(restored.totals(5, 2_000).tokens_out, t.tokens_out);
}
