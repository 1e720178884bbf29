//! Unit tests of `Judging`: what is read, sampled, handed out and sent again.

use std::borrow::Cow;

use igentai_protocol::{Answer, RunInfo};

use super::*;
use crate::topic::{Scratch, test_batch};

fn run(rate: f64) -> RunInfo {
    RunInfo {
        run_id: "r1".into(),
        topic: "Cheeses".into(),
        slug: "cheeses".into(),
        output_dir: String::new(),
        started_at_ms: 0,
        stopped_at_ms: None,
        stop_reason: None,
        target: None,
        target_valid: false,
        budget_usd: None,
        max_duration_s: None,
        min_coverage: None,
        min_yield_per_1k_tokens: None,
        strategies: Default::default(),
        resumed_items: 0,
        judge_rate: rate,
        judge_provider: None,
        judge_confirm: false,
        judge_closed: false,
    }
}

/// Takes a batch of `items` of run `run_id` into `topic`.
fn take(topic: &mut Topic, id: &str, run_id: &str, items: &[&str]) {
    let batch = igentai_protocol::CandidateBatch {
        run_id: run_id.into(),
        ..test_batch(id)
    };
    let items: Vec<Cow<'_, str>> = items.iter().map(|s| Cow::Borrowed(*s)).collect();
    topic.take(&batch, &items, "t", 1, &mut Scratch::default());
}

#[test]
fn sampling_is_a_function_of_the_item_and_keeps_its_rate() {
    assert!(sampled("Brie", 1.0) && !sampled("Brie", 0.0));
    let n = 20_000;
    let kept = (0..n)
        .filter(|i| sampled(&format!("item {i}"), 0.25))
        .count();
    // Binomial(20000, 0.25): sd about 61, so 5 sd either side.
    assert!((4700..=5300).contains(&kept), "{kept}");
    // Another spelling of one key is sampled alike.
    assert_eq!(
        (0..200)
            .map(|i| sampled(&format!("Item {i}"), 0.5))
            .collect::<Vec<_>>(),
        (0..200)
            .map(|i| sampled(&format!("  item {i} "), 0.5))
            .collect::<Vec<_>>()
    );
}

#[test]
fn reads_the_runs_committed_items_once_and_hands_them_out_in_jobs() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut topic, _) = Topic::open(tmp.path(), "Cheeses").unwrap();
    take(&mut topic, "b0", "r0", &["Old cheese"]);
    take(&mut topic, "b1", "r1", &["Brie", "Comté", "Gouda"]);
    topic.write_all().unwrap();
    // Taken, not committed: not read yet.
    take(&mut topic, "b2", "r1", &["Feta"]);
    let mut judging = Judging::for_run(&run(1.0), 2).unwrap();
    judging.read(&topic).unwrap();
    assert_eq!(judging.waiting(), 3);
    let (job1, items) = judging.next_job().unwrap();
    assert_eq!(items, ["Brie", "Comté"]);
    topic.write_all().unwrap();
    judging.read(&topic).unwrap();
    let (job2, items) = judging.next_job().unwrap();
    assert_eq!(items, ["Gouda", "Feta"]);
    assert!(judging.next_job().is_none());
    // Read again from the start (a reopened folder): what is in flight is
    // not queued twice.
    judging.reset();
    judging.read(&topic).unwrap();
    assert!(judging.next_job().is_none());
    let done = judging.done(job1).unwrap();
    assert_eq!(done.iter().map(|p| p.seq).collect::<Vec<_>>(), [2, 3]);
    assert!(judging.done(job1).is_none(), "a job is answered once");
    // A judged item is not read again.
    let record = crate::topic::store::VerdictRecord {
        verdict_of: 4,
        item: "Gouda".into(),
        verdict: Answer::Yes,
        provider: "sim".into(),
        model: "m".into(),
        partition: None,
        judge: "j".into(),
        judge_model: "jm".into(),
        worker: "w".into(),
        run: "r1".into(),
        ts: "t".into(),
        job: None,
    };
    assert!(topic.add_verdict(&record));
    judging.failed(job2);
    let (_, items) = judging.next_job().unwrap();
    assert_eq!(items, ["Gouda", "Feta"], "a failed job's items wait again");
    // Job 1's answer was not recorded: its items are read again; Gouda
    // has its verdict and Feta is in flight.
    judging.reset();
    judging.read(&topic).unwrap();
    assert_eq!(judging.waiting(), 4);
    let (_, items) = judging.next_job().unwrap();
    assert_eq!(items, ["Brie", "Comté"]);
    assert!(judging.next_job().is_none());
}

#[test]
fn an_item_whose_jobs_keep_failing_is_given_up() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut topic, _) = Topic::open(tmp.path(), "Cheeses").unwrap();
    take(&mut topic, "b1", "r1", &["Brie"]);
    topic.write_all().unwrap();
    let mut judging = Judging::for_run(&run(1.0), 20).unwrap();
    judging.read(&topic).unwrap();
    for _ in 0..MAX_ATTEMPTS {
        let (job, _) = judging.next_job().unwrap();
        judging.failed(job);
    }
    assert!(judging.next_job().is_none());
    assert_eq!((judging.given_up, judging.waiting()), (1, 0));
    assert!(
        Judging::for_run(&run(0.0), 20).is_none(),
        "rate 0 judges nothing"
    );
}
