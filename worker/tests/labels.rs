//! What a provider reports about its answer (model, finish reason, request
//! id) is passed on only as a batch may carry it: a worker in-process on a
//! real nats-server, one OpenAI-compatible provider on a local HTTP server
//! that names its model with a line break and sends a long request id.
//! Every batch it publishes passes the coordinator's identifier rule.

mod common;

use std::time::Duration;

use async_nats::jetstream::consumer;
use common::json;
use futures::StreamExt;
use igentai_protocol::{Assignment, CandidateBatch, WorkerCommand, ids, subjects};
use testkit::NatsServer;
use tokio_util::sync::CancellationToken;

const ODD_ANSWER: &str = r#"{"id":"chatcmpl-1","object":"chat.completion","model":"local\nmodel\u0007",
  "choices":[{"index":0,"message":{"role":"assistant","content":"1. Louvre\n2. Orsay"},"finish_reason":"stop"}],
  "usage":{"prompt_tokens":40,"completion_tokens":12,"total_tokens":52}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_provider_labels_are_cleaned_not_rejected() {
    let dir = testkit::test_dir();
    let nats = NatsServer::start(dir.path()).await;
    let client = nats.client().await;
    let stream = common::create_stream(&client).await;
    let long_id = "r".repeat(ids::MAX_NOTE_BYTES * 2);
    let server = common::serving(
        "/v1/chat/completions",
        json(200, ODD_ANSWER).insert_header("x-request-id", long_id.as_str()),
    )
    .await;
    let file = dir.path().join("providers.toml");
    std::fs::write(
        &file,
        format!(
            "[[providers]]\nname='local'\nkind='openai'\nbase_url='{}/v1'\nmodel='m'\n",
            server.uri()
        ),
    )
    .unwrap();
    let shutdown = CancellationToken::new();
    let running = common::spawn_worker_on(&nats, "l1", &file, &[], &shutdown).await;
    let assign = WorkerCommand::Assign(Assignment {
        v: 1,
        run_id: "run-1".into(),
        topic: "Paris attractions".into(),
        partition: None,
        avoid: vec![],
        items_per_request: 2,
        prompt_template: None,
        weights: [("local".to_string(), 1.0)].into_iter().collect(),
    });
    let payload = serde_json::to_vec(&assign).unwrap();
    testkit::wait_for(
        "the worker takes the assignment",
        Duration::from_secs(20),
        || {
            let (client, payload) = (client.clone(), payload.clone());
            async move {
                let answer = client
                    .request(subjects::worker_command("l1"), payload.into())
                    .await
                    .ok()?;
                let ack: igentai_protocol::WorkerAck =
                    serde_json::from_slice(&answer.payload).ok()?;
                ack.ok.then_some(())
            }
        },
    )
    .await;

    let consumer = stream
        .create_consumer(consumer::pull::Config::default())
        .await
        .unwrap();
    let mut messages = consumer.messages().await.unwrap();
    for _ in 0..3 {
        let msg = tokio::time::timeout(Duration::from_secs(30), messages.next())
            .await
            .expect("a batch within 30 s")
            .expect("the stream")
            .expect("a message");
        let batch: CandidateBatch = serde_json::from_slice(&msg.payload).unwrap();
        assert_eq!(ids::invalid_identifier(&batch), None, "{batch:?}");
        assert_eq!(batch.model, "localmodel");
        assert_eq!(
            batch.request_id.as_deref().map(str::len),
            Some(ids::MAX_NOTE_BYTES)
        );
        assert_eq!(batch.items, ["Louvre", "Orsay"]);
        msg.ack().await.unwrap();
    }
    shutdown.cancel();
    running.await.unwrap().unwrap();
}
