//! Which results of an ended batch are published and which requests are
//! sent again: one `check` per case.

use super::*;
use crate::providers::batch_api::Failure;
use crate::providers::{Completion, LlmError};

fn record(ids: &[&str], published: &[&str]) -> Record {
    Record {
        vendor_id: "batch_1".into(),
        provider: "gpt".into(),
        assignment: Assignment {
            v: 1,
            run_id: "r-1".into(),
            topic: "t".into(),
            partition: None,
            avoid: vec![],
            items_per_request: 5,
            prompt_template: None,
            weights: Default::default(),
        },
        custom_ids: ids.iter().map(|s| s.to_string()).collect(),
        published: published.iter().map(|s| s.to_string()).collect(),
        submitted_at_ms: 0,
        attempt: 1,
        cancelled: false,
    }
}

fn answer(text: &str) -> Completion {
    Completion {
        text: text.into(),
        model: "m".into(),
        tokens_in: 1,
        tokens_cached_in: 0,
        tokens_out: 1,
        cost_usd: 0.0,
        finish_reason: Some("stop".into()),
        request_id: None,
        limits: Default::default(),
    }
}

fn failure(retry: bool) -> Failure {
    Failure {
        error: LlmError::Timeout,
        retry,
    }
}

/// `results` sorted against `record`: the ids published, sent again,
/// failed and malformed.
fn check(
    record: &Record,
    results: Vec<(&str, Result<Completion, Failure>)>,
    refused_whole: bool,
    expected: (&[&str], &[&str], u64, u64),
) {
    let results = Results {
        answers: results
            .into_iter()
            .map(|(id, r)| (id.to_string(), r))
            .collect(),
        malformed: 1,
    };
    let sorted = sort(record, results, refused_whole);
    let published: Vec<&str> = sorted.answers.iter().map(|(id, _)| id.as_str()).collect();
    let retry: Vec<&str> = sorted.retry.iter().map(String::as_str).collect();
    assert_eq!(
        (
            published.as_slice(),
            retry.as_slice(),
            sorted.failed,
            sorted.malformed
        ),
        expected
    );
}

#[test]
fn answers_failures_and_strangers() {
    let r = record(&["r0", "r1", "r2", "r3"], &[]);
    check(
        &r,
        vec![
            ("r2", Ok(answer("a"))),
            ("r0", Err(failure(true))),
            ("r1", Err(failure(false))),
            ("r2", Ok(answer("again"))),
            ("r9", Ok(answer("not ours"))),
        ],
        false,
        // r3 never came back: sent again. A repeated and a foreign line are
        // counted with the file's own malformed one.
        (&["r2"], &["r0", "r3"], 1, 3),
    );
}

#[test]
fn answers_published_before_a_restart_are_not_published_again() {
    let r = record(&["r0", "r1"], &["r0"]);
    check(
        &r,
        vec![("r0", Ok(answer("a"))), ("r1", Ok(answer("b")))],
        false,
        (&["r1"], &[], 0, 1),
    );
    // Published and then missing from the results: nothing to send again.
    check(&r, vec![], false, (&[], &["r1"], 0, 1));
}

#[test]
fn a_batch_refused_whole_is_not_sent_again() {
    let r = record(&["r0", "r1"], &[]);
    check(&r, vec![], true, (&[], &[], 2, 1));
}
