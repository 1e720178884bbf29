//! Batch mode with the real binaries: a worker whose only provider is in
//! batch mode (OpenAI's Batch API, replayed with state by
//! `testkit::BatchVendor`) submits one batch and records it in its bucket;
//! it is killed (SIGKILL) before the batch ends, started again with the
//! same id, resumes the batch from the bucket instead of submitting it
//! again, and every answer is stored exactly once in the topic folder.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use async_nats::jetstream;
use futures::TryStreamExt;
use igentai_protocol::subjects;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_resumes_its_batch_and_every_answer_is_stored_once() {
    let vendor = BatchVendor::start(1).await;
    let providers = format!(
        "[[providers]]\nname='bulk'\nkind='openai'\nbase_url='{}'\nmodel='gpt-4o-mini'\n\
         price_in_per_m=0.15\nprice_out_per_m=0.6\nmode='batch'\nbatch_size={REQUESTS}\n\
         batch_poll_s=0.05\nbatch_poll_max_s=0.2\nmax_concurrency=1\n",
        vendor.base_url()
    );
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
    check_folder(Path::new(&started.output_dir), &expected);
}
