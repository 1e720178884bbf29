//! A batch-mode provider in the worker (`worker::run`) on a real
//! nats-server, against OpenAI's Batch API replayed with state
//! (`testkit::BatchVendor`): one batch is submitted and recorded in the
//! worker's own key-value bucket, polled while in progress; the worker
//! stops and starts again with the same id, resumes the batch from the
//! bucket instead of submitting it again, and publishes each answer
//! exactly once, under an id of its own, priced at the batch rate. A stop
//! cancels the batch and says what was paid. Beside a live provider, the
//! weights split the worker's turns between live calls and batch requests.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_nats::jetstream;
use futures::{StreamExt, TryStreamExt};
use igentai_protocol::{
    Assignment, CandidateBatch, Heartbeat, WorkerAck, WorkerCommand, ids, subjects,
};
use testkit::{BatchVendor, NatsServer, wait_for};
use tokio_util::sync::CancellationToken;

const WORKER: &str = "b1";
const WITHIN: Duration = Duration::from_secs(30);

async fn assign(client: &async_nats::Client) {
    assign_weighted(client, &[("bulk", 1.0)]).await;
}

async fn assign_weighted(client: &async_nats::Client, weights: &[(&str, f64)]) {
    let weights: BTreeMap<String, f64> = weights.iter().map(|(n, w)| (n.to_string(), *w)).collect();
    let command = WorkerCommand::Assign(Assignment {
        v: 1,
        run_id: "run-1".into(),
        topic: "Paris attractions".into(),
        partition: None,
        avoid: vec![],
        items_per_request: 2,
        prompt_template: None,
        weights,
    });
    let answer = wait_for("the worker takes the assignment", WITHIN, || async {
        client
            .request(
                subjects::worker_command(WORKER),
                serde_json::to_vec(&command).unwrap().into(),
            )
            .await
            .ok()
    })
    .await;
    let ack: WorkerAck = serde_json::from_slice(&answer.payload).unwrap();
    assert!(ack.ok, "{ack:?}");
}

async fn keys(js: &jetstream::Context) -> Vec<String> {
    match js.get_key_value(subjects::batches_bucket(WORKER)).await {
        Ok(store) => store.keys().await.unwrap().try_collect().await.unwrap(),
        Err(_) => vec![],
    }
}

async fn stop_worker(
    shutdown: CancellationToken,
    running: tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    shutdown.cancel();
    let result = tokio::time::timeout(WITHIN, running)
        .await
        .expect("the worker exits within its grace periods")
        .unwrap();
    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_survives_a_restart_and_each_answer_is_published_once() {
    let dir = testkit::test_dir();
    let nats = NatsServer::start(dir.path()).await;
    let client = nats.client().await;
    let js = jetstream::new(client.clone());
    let stream = common::create_stream(&client).await;
    let vendor = BatchVendor::start(1).await;
    let file = dir.path().join("providers.toml");
    std::fs::write(
        &file,
        format!(
            "[[providers]]\nname='bulk'\nkind='openai'\nbase_url='{}'\nmodel='gpt-4o-mini'\n\
             price_in_per_m=1\nprice_out_per_m=2\nmode='batch'\nbatch_size=3\nbatch_poll_s=0.05\n\
             batch_poll_max_s=0.2\nmax_concurrency=1\n",
            vendor.base_url()
        ),
    )
    .unwrap();
    let args = ["--concurrency", "1", "--heartbeat-interval-ms", "100"];
    let mut heartbeats = client.subscribe(subjects::heartbeat(WORKER)).await.unwrap();

    // First life: the batch is submitted, recorded and polled in progress.
    let shutdown = CancellationToken::new();
    let running = common::spawn_worker_on(&nats, WORKER, &file, &args, &shutdown).await;
    assign(&client).await;
    wait_for("the batch is recorded and polled twice", WITHIN, || async {
        (keys(&js).await.len() == 1 && vendor.polls() >= 2).then_some(())
    })
    .await;
    let hb: Heartbeat = tokio::time::timeout(WITHIN, async {
        loop {
            let msg = heartbeats.next().await.unwrap();
            let hb: Heartbeat = serde_json::from_slice(&msg.payload).unwrap();
            if hb.vendor_batches.iter().any(|b| b.batches == 1) {
                return hb;
            }
        }
    })
    .await
    .expect("heartbeats report the batch in flight");
    let b = &hb.vendor_batches[0];
    assert_eq!((b.provider.as_str(), b.requests, b.done), ("bulk", 3, 0));
    assert!(b.oldest_submitted_at_ms.is_some());
    stop_worker(shutdown, running).await;
    assert_eq!(keys(&js).await.len(), 1, "the batch outlives the worker");
    assert_eq!(stream.get_info().await.unwrap().state.messages, 0);

    // Second life: resumed from the bucket, completed, published once.
    vendor.release();
    let shutdown = CancellationToken::new();
    let running = common::spawn_worker_on(&nats, WORKER, &file, &args, &shutdown).await;
    assign(&client).await;
    wait_for(
        "every answer published and the record removed",
        WITHIN,
        || async {
            let mut stream = stream.clone();
            let messages = stream.info().await.ok()?.state.messages;
            (messages >= 3 && keys(&js).await.is_empty()).then_some(())
        },
    )
    .await;
    // The runner then asks for another batch and is refused: still one.
    wait_for("a second submission is tried", WITHIN, || async {
        (vendor.attempts() >= 2).then_some(())
    })
    .await;
    stop_worker(shutdown, running).await;

    assert_eq!(
        vendor.submissions_before_results(),
        1,
        "resumed, never submitted again"
    );
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::Config::default())
        .await
        .unwrap();
    let mut batches = Vec::new();
    let mut messages = consumer
        .fetch()
        .max_messages(10)
        .expires(Duration::from_secs(1))
        .messages()
        .await
        .unwrap();
    while let Some(Ok(msg)) = messages.next().await {
        batches.push(serde_json::from_slice::<CandidateBatch>(&msg.payload).unwrap());
    }
    assert_eq!(batches.len(), 3, "one candidate batch per answer");
    let ids: BTreeSet<&str> = batches.iter().map(|b| b.batch_id.as_str()).collect();
    assert_eq!(ids.len(), 3);
    let mut items: Vec<String> = batches.iter().flat_map(|b| b.items.clone()).collect();
    items.sort();
    let mut expected: Vec<String> = ["r0", "r1", "r2"]
        .iter()
        .flat_map(|id| BatchVendor::items_of(id))
        .map(str::to_string)
        .collect();
    expected.sort();
    assert_eq!(items, expected);
    for b in &batches {
        assert!(ids::batch_id_of(&b.batch_id, WORKER), "{}", b.batch_id);
        assert_eq!((b.provider.as_str(), b.run_id.as_str()), ("bulk", "run-1"));
        assert_eq!((b.tokens_in, b.tokens_out), (1000, 100));
        // (1000 × 1 + 100 × 2) / 1e6 at half price.
        assert!((b.cost_usd - 0.0006).abs() < 1e-12, "{}", b.cost_usd);
        assert!(
            b.request_id
                .as_deref()
                .is_some_and(|r| r.starts_with("req_r"))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_cancels_the_batch_publishes_what_it_delivered_and_says_what_was_paid() {
    let dir = testkit::test_dir();
    let nats = NatsServer::start(dir.path()).await;
    let client = nats.client().await;
    let js = jetstream::new(client.clone());
    let stream = common::create_stream(&client).await;
    let vendor = BatchVendor::start(5).await;
    let file = dir.path().join("providers.toml");
    std::fs::write(
        &file,
        format!(
            "[[providers]]\nname='bulk'\nkind='openai'\nbase_url='{}'\nmodel='gpt-4o-mini'\n\
             price_in_per_m=1\nprice_out_per_m=2\nmode='batch'\nbatch_size=4\nbatch_poll_s=0.05\n\
             batch_poll_max_s=0.2\nmax_concurrency=1\n",
            vendor.base_url()
        ),
    )
    .unwrap();
    let shutdown = CancellationToken::new();
    let running = common::spawn_worker_on(
        &nats,
        WORKER,
        &file,
        &["--concurrency", "1", "--heartbeat-interval-ms", "100"],
        &shutdown,
    )
    .await;
    assign(&client).await;
    wait_for("the batch is recorded and polled", WITHIN, || async {
        (keys(&js).await.len() == 1 && vendor.polls() >= 1).then_some(())
    })
    .await;

    let stop = WorkerCommand::Stop(igentai_protocol::StopWork {
        v: 1,
        run_id: "run-1".into(),
    });
    let answer = tokio::time::timeout(
        WITHIN,
        client.request(
            subjects::worker_command(WORKER),
            serde_json::to_vec(&stop).unwrap().into(),
        ),
    )
    .await
    .expect("the stop is answered")
    .unwrap();
    let ack: WorkerAck = serde_json::from_slice(&answer.payload).unwrap();
    assert!(ack.ok, "{ack:?}");
    let [stopped] = &ack.batches_stopped[..] else {
        panic!("one provider's batches stopped: {ack:?}");
    };
    let delivered = testkit::batch_vendor::DELIVERED_ON_CANCEL as u64;
    assert_eq!(
        (
            stopped.worker_id.as_str(),
            stopped.provider.as_str(),
            stopped.cancelled,
            stopped.answers,
            stopped.unfinished
        ),
        (WORKER, "bulk", 1, delivered, 0)
    );
    // Each delivered answer at (1000 × 1 + 100 × 2) / 1e6, half price.
    assert!(
        (stopped.cost_usd - delivered as f64 * 0.0006).abs() < 1e-9,
        "{stopped:?}"
    );
    assert_eq!(vendor.cancelled(), 1);
    assert!(keys(&js).await.is_empty(), "nothing left to resume");
    let mut info = stream.clone();
    assert_eq!(info.info().await.unwrap().state.messages, delivered);
    let attempts = vendor.attempts();
    stop_worker(shutdown, running).await;
    assert_eq!(
        vendor.attempts(),
        attempts,
        "nothing submitted after the stop"
    );
}

/// A nats-server with the candidate stream, the replayed vendor (every
/// batch in progress until released) and a providers file: a live sim
/// provider `live` and a batch-mode one `bulk` on the vendor, batches of
/// 10 after 0.2 s at most, `max_concurrency` of them in flight.
struct LiveAndBulk {
    _dir: tempfile::TempDir,
    nats: NatsServer,
    client: async_nats::Client,
    stream: jetstream::stream::Stream,
    vendor: BatchVendor,
    file: std::path::PathBuf,
}

impl LiveAndBulk {
    async fn start(max_concurrency: u32) -> LiveAndBulk {
        let dir = testkit::test_dir();
        let nats = NatsServer::start(dir.path()).await;
        let client = nats.client().await;
        let stream = common::create_stream(&client).await;
        let vendor = BatchVendor::start(usize::MAX).await;
        let file = dir.path().join("providers.toml");
        std::fs::write(
            &file,
            format!(
                "[[providers]]\nname='live'\nkind='sim'\n[providers.sim]\nlatency_ms=10\n\n\
                 [[providers]]\nname='bulk'\nkind='openai'\nbase_url='{}'\nmodel='gpt-4o-mini'\n\
                 mode='batch'\nbatch_size=10\nbatch_fill_s=0.2\nbatch_poll_s=30\n\
                 max_concurrency={max_concurrency}\n",
                vendor.base_url()
            ),
        )
        .unwrap();
        LiveAndBulk {
            _dir: dir,
            nats,
            client,
            stream,
            vendor,
            file,
        }
    }

    /// Starts the worker (two slots, and `args`) and assigns it `weights`.
    async fn run(
        &self,
        args: &[&str],
        weights: &[(&str, f64)],
    ) -> (
        CancellationToken,
        tokio::task::JoinHandle<anyhow::Result<()>>,
    ) {
        let shutdown = CancellationToken::new();
        let args = [&["--concurrency", "2"], args].concat();
        let running =
            common::spawn_worker_on(&self.nats, WORKER, &self.file, &args, &shutdown).await;
        assign_weighted(&self.client, weights).await;
        (shutdown, running)
    }

    /// Candidate batches published: with batches in progress, live answers.
    async fn live_answers(&self) -> usize {
        let mut stream = self.stream.clone();
        stream.info().await.unwrap().state.messages as usize
    }
}

/// Share of a worker's turns that became batch requests, with a live sim
/// provider and a batch-mode one weighted `live` and `bulk`: the worker
/// runs until at least `requests` batch requests were submitted and
/// `answers` live answers published, then shuts down (requests drawn and
/// not yet submitted then, at most a batch or what 0.2 s drew, are not
/// counted).
async fn batch_share(live: f64, bulk: f64, requests: usize, answers: usize) -> f64 {
    // Batches stay in progress: every answer published is a live one.
    let fx = LiveAndBulk::start(1000).await;
    let (shutdown, running) = fx.run(&[], &[("live", live), ("bulk", bulk)]).await;
    wait_for("enough turns both ways", WITHIN, || async {
        (fx.vendor.requests() >= requests && fx.live_answers().await >= answers).then_some(())
    })
    .await;
    stop_worker(shutdown, running).await;
    let (requests, answers) = (fx.vendor.requests(), fx.live_answers().await);
    assert!(
        requests > 0 && answers > 0,
        "both ways get turns: {requests} requests, {answers} live answers"
    );
    requests as f64 / (requests + answers) as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_weights_split_the_turns_between_live_calls_and_batches() {
    let share = batch_share(0.2, 0.8, 150, 30).await;
    assert!((0.7..=0.9).contains(&share), "batch weight 0.8: {share}");
    let share = batch_share(0.8, 0.2, 40, 150).await;
    assert!((0.1..=0.3).contains(&share), "batch weight 0.2: {share}");
}

/// A batch provider at its limit of batches in flight, with its next batch
/// already drawn, takes no more turns: they go to live calls, and the
/// drawn requests stay one batch (before, they piled up four to one live
/// answer at these weights).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_provider_at_its_limit_leaves_its_turns_to_live_calls() {
    // Batches stay in progress: the one batch allowed never ends.
    let fx = LiveAndBulk::start(1).await;
    let args = ["--heartbeat-interval-ms", "100"];
    let (shutdown, running) = fx.run(&args, &[("live", 0.2), ("bulk", 0.8)]).await;
    wait_for("a batch in flight and 200 live answers", WITHIN, || async {
        (fx.vendor.requests() > 0 && fx.live_answers().await >= 200).then_some(())
    })
    .await;
    // Heartbeats from now on.
    let mut heartbeats = fx
        .client
        .subscribe(subjects::heartbeat(WORKER))
        .await
        .unwrap();
    let drawn = tokio::time::timeout(WITHIN, async {
        loop {
            let msg = heartbeats.next().await.unwrap();
            let hb: Heartbeat = serde_json::from_slice(&msg.payload).unwrap();
            if let Some(b) = hb.vendor_batches.iter().find(|b| b.batches == 1) {
                return b.drawn;
            }
        }
    })
    .await
    .expect("heartbeats report the batch in flight");
    stop_worker(shutdown, running).await;
    assert_eq!(
        fx.vendor.attempts(),
        1,
        "one batch at a time, and it never ended"
    );
    assert!(
        (1..=10).contains(&drawn),
        "the next batch is drawn, and no more: {drawn} requests"
    );
}
