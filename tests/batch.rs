//! Batch mode with the real binaries: a worker whose only provider is in
//! batch mode (OpenAI's Batch API, replayed with state by
//! `testkit::BatchVendor`) submits one batch and records it in its bucket;
//! it is killed (SIGKILL) before the batch ends, started again with the
//! same id, resumes the batch from the bucket instead of submitting it
//! again, and every answer is stored exactly once in the topic folder.
//! While a batch runs, the coordinator's snapshot shows it on its worker's
//! row; a stop cancels it, and the stop's reply says what was cancelled and
//! what the answers delivered before the cancel cost.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use async_nats::jetstream;
use futures::TryStreamExt;
use igentai_protocol::subjects;
use testkit::batch_vendor::DELIVERED_ON_CANCEL;
use testkit::{BatchVendor, Fleet, WorkerSpec, check_folder, wait_for};

const REQUESTS: usize = 5;
const WITHIN: Duration = Duration::from_secs(60);

async fn records(js: &jetstream::Context) -> usize {
    match js.get_key_value(subjects::batches_bucket("w1")).await {
        Ok(store) => match store.keys().await {
            Ok(keys) => keys
                .try_collect::<Vec<String>>()
                .await
                .map_or(0, |k| k.len()),
            Err(_) => 0,
        },
        Err(_) => 0,
    }
}

/// The providers file of one batch-mode provider `bulk` on `vendor`, at
/// these live prices per million tokens, polling fast.
fn bulk(vendor: &BatchVendor, price_in: f64, price_out: f64) -> String {
    format!(
        "[[providers]]\nname='bulk'\nkind='openai'\nbase_url='{}'\nmodel='gpt-4o-mini'\n\
         price_in_per_m={price_in}\nprice_out_per_m={price_out}\nmode='batch'\n\
         batch_size={REQUESTS}\nbatch_poll_s=0.05\nbatch_poll_max_s=0.2\nmax_concurrency=1\n",
        vendor.base_url()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_resumes_its_batch_and_every_answer_is_stored_once() {
    let vendor = BatchVendor::start(1).await;
    let providers = bulk(&vendor, 0.15, 0.6);
    let mut fleet = Fleet::builder()
        .providers(&providers)
        .workers(1)
        .concurrency(1)
        .start()
        .await;
    fleet.wait_workers(1).await;
    let started = fleet
        .control
        .start(
            r#"{"topic":"Paris attractions","items_per_request":2,
                "strategies":{"weights":false,"partitions":false,"avoid":false}}"#,
        )
        .await;
    let js = jetstream::new(fleet.client.clone());

    wait_for("the batch is recorded and polled", WITHIN, || async {
        (records(&js).await == 1 && vendor.polls() >= 2).then_some(())
    })
    .await;
    fleet.workers[0].kill9();
    vendor.release();
    let path = fleet.dir.path().join("providers.toml");
    let again = WorkerSpec::on("w1", &path)
        .concurrency(1)
        .spawn(fleet.dir.path(), &fleet.nats)
        .await;
    fleet.workers[0] = again;

    let expected: BTreeSet<String> = (0..REQUESTS)
        .flat_map(|i| BatchVendor::items_of(&format!("r{i}")))
        .map(str::to_string)
        .collect();
    fleet
        .control
        .wait_status("every answer of the batch ingested", WITHIN, |s| {
            (s.totals.unique >= expected.len() as u64).then_some(())
        })
        .await;
    wait_for("the batch's record removed", WITHIN, || async {
        (records(&js).await == 0).then_some(())
    })
    .await;
    let stopped = fleet.control.stop().await;
    assert_eq!(stopped.unique, expected.len() as u64, "{stopped:?}");

    assert_eq!(
        vendor.submissions_before_results(),
        1,
        "resumed, never submitted again"
    );
    let totals = fleet.status().await.totals;
    assert_eq!(
        (totals.batches, totals.unique, totals.rejected_batches),
        (REQUESTS as u64, expected.len() as u64, 0),
        "one candidate batch per answer, none twice: {totals:?}"
    );
    // Counted is not yet written: a batch leaves the stream once its
    // items are synced.
    common::wait_drained(&js, WITHIN).await;
    check_folder(Path::new(&started.output_dir), &expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_in_flight_is_shown_and_a_stop_says_what_it_cancelled_and_paid() {
    let vendor = BatchVendor::start(1).await;
    let providers = format!(
        "[[providers]]\nname='bulk'\nkind='openai'\nbase_url='{}'\nmodel='gpt-4o-mini'\n\
         price_in_per_m=1\nprice_out_per_m=2\nmode='batch'\nbatch_size={REQUESTS}\n\
         batch_poll_s=0.05\nbatch_poll_max_s=0.2\nmax_concurrency=1\n",
        vendor.base_url()
    );
    let fleet = Fleet::builder()
        .providers(&providers)
        .workers(1)
        .concurrency(1)
        .start()
        .await;
    fleet.wait_workers(1).await;
    fleet
        .control
        .start(
            r#"{"topic":"Paris attractions","items_per_request":2,
                "strategies":{"weights":false,"partitions":false,"avoid":false}}"#,
        )
        .await;

    let shown = fleet
        .control
        .wait_status("the batch in flight on w1's row", WITHIN, |s| {
            s.workers
                .iter()
                .find(|w| w.worker_id == "w1")
                .and_then(|w| w.vendor_batches.first().cloned())
                .filter(|b| b.batches == 1)
        })
        .await;
    assert_eq!(
        (shown.provider.as_str(), shown.requests, shown.done),
        ("bulk", REQUESTS as u64, 0),
        "{shown:?}"
    );
    assert!(shown.oldest_submitted_at_ms.is_some(), "{shown:?}");

    let stopped = fleet.control.stop().await;
    assert_eq!(stopped.workers_stopped, ["w1"], "{stopped:?}");
    let [b] = &stopped.batches_stopped[..] else {
        panic!("one worker's batches stopped: {stopped:?}");
    };
    let delivered = DELIVERED_ON_CANCEL as u64;
    assert_eq!(
        (
            b.worker_id.as_str(),
            b.provider.as_str(),
            b.cancelled,
            b.answers,
            b.unfinished
        ),
        ("w1", "bulk", 1, delivered, 0)
    );
    // Each answer at (1000 × $1 + 100 × $2) / 1M tokens, at half price.
    let paid = delivered as f64 * 0.0006;
    assert!((b.cost_usd - paid).abs() < 1e-9, "{b:?}");
    assert_eq!(vendor.cancelled(), 1);

    // The answers paid for are kept, and counted at the price paid.
    let totals = fleet
        .control
        .wait_status("the delivered answers ingested", WITHIN, |s| {
            (s.totals.batches == delivered).then(|| s.totals.clone())
        })
        .await;
    assert!((totals.cost_usd - paid).abs() < 1e-9, "{totals:?}");
}
