//! The worker in-process (`worker::run`) on a real nats-server with three
//! HTTP providers on wiremock: one answers, one fails with 500s, one
//! answers 429. Batches come only from the healthy one, the failing one's
//! breaker opens, the limited one stays healthy but backs off; the worker
//! is a NATS micro service; keys appear nowhere on the wire; shutdown is
//! clean.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use async_nats::jetstream::consumer;
use common::json;
use futures::StreamExt;
use igentai_protocol::{Assignment, CandidateBatch, Heartbeat, WorkerAck, WorkerCommand, subjects};
use testkit::NatsServer;
use tokio_util::sync::CancellationToken;
use worker::micro::SERVICE_NAME;

const KEY_VAR: &str = "IGENTAI_SERVICE_TEST_ANTHROPIC_KEY";
const KEY: &str = "sk-ant-secret-do-not-leak-42";

const ANSWER: &str = r#"{"id":"chatcmpl-1","object":"chat.completion","model":"qwen2.5-7b",
  "choices":[{"index":0,"message":{"role":"assistant","content":"1. Louvre\n2. Orsay\n3. Pantheon"},"finish_reason":"stop"}],
  "usage":{"prompt_tokens":40,"completion_tokens":12,"total_tokens":52}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produces_through_the_healthy_provider_as_a_micro_service() {
    // SAFETY: the only test in this binary, set before any thread reads it.
    unsafe { std::env::set_var(KEY_VAR, KEY) };
    let dir = testkit::test_dir();
    let nats = NatsServer::start(dir.path()).await;
    let client = nats.client().await;
    // What the coordinator creates; the worker only publishes into it.
    let stream = common::create_stream(&client).await;

    let good = common::serving(
        "/v1/chat/completions",
        json(200, ANSWER).insert_header("x-request-id", "req_good"),
    )
    .await;
    let broken = common::serving(
        "/v1/chat/completions",
        json(500, r#"{"error":{"message":"boom","type":"server_error"}}"#),
    )
    .await;
    let limited = common::serving(
        "/v1/messages",
        json(
            429,
            r#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#,
        )
        .insert_header("retry-after", "1"),
    )
    .await;
    let file = dir.path().join("providers.toml");
    std::fs::write(
        &file,
        format!(
            "[[providers]]\nname='good'\nkind='openai'\nbase_url='{}/v1'\nmodel='qwen2.5-7b'\nprice_in_per_m=1\nprice_out_per_m=2\n\
             [[providers]]\nname='broken'\nkind='openai'\nbase_url='{}/v1'\nmodel='m'\n\
             [[providers]]\nname='limited'\nkind='anthropic'\nbase_url='{}'\nmodel='claude-haiku-4-5'\napi_key_env='{KEY_VAR}'\n",
            good.uri(),
            broken.uri(),
            limited.uri()
        ),
    )
    .unwrap();
    let mut heartbeats = client.subscribe(subjects::heartbeat("t1")).await.unwrap();
    let shutdown = CancellationToken::new();
    let running = common::spawn_worker_on(
        &nats,
        "t1",
        &file,
        &["--concurrency", "3", "--heartbeat-interval-ms", "100"],
        &shutdown,
    )
    .await;

    // Registered as a micro service, its endpoint the command subject.
    let info = common::service_info(&client).await;
    assert_eq!(info["metadata"]["worker_id"], "t1");
    assert_eq!(info["metadata"]["providers"], "good,broken,limited");
    let work = info["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "work")
        .cloned()
        .expect("a work endpoint");
    assert_eq!(work["subject"], subjects::worker_command("t1"));

    let weights: BTreeMap<String, f64> = [("good", 1.0), ("broken", 1.0), ("limited", 1.0)]
        .into_iter()
        .map(|(n, w)| (n.to_string(), w))
        .collect();
    let assign = WorkerCommand::Assign(Assignment {
        v: 1,
        run_id: "run-1".into(),
        topic: "Paris attractions".into(),
        partition: Some("museums".into()),
        avoid: vec![],
        items_per_request: 3,
        prompt_template: None,
        weights,
    });
    let answer = client
        .request(
            subjects::worker_command("t1"),
            serde_json::to_vec(&assign).unwrap().into(),
        )
        .await
        .unwrap();
    let ack: WorkerAck = serde_json::from_slice(&answer.payload).unwrap();
    assert!(ack.ok, "{ack:?}");

    // Batches flow, all from the healthy provider, with full provenance.
    let consumer = stream
        .create_consumer(consumer::pull::Config::default())
        .await
        .unwrap();
    let mut batches = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        while batches.len() < 20 {
            let mut messages = consumer.fetch().max_messages(50).messages().await.unwrap();
            while let Some(Ok(msg)) = messages.next().await {
                batches.push(serde_json::from_slice::<CandidateBatch>(&msg.payload).unwrap());
                msg.ack().await.unwrap();
            }
        }
    })
    .await
    .expect("20 batches within 30 s");
    for b in &batches {
        assert_eq!(
            (b.provider.as_str(), b.model.as_str()),
            ("good", "qwen2.5-7b")
        );
        assert_eq!(b.items, ["Louvre", "Orsay", "Pantheon"]);
        assert_eq!(
            (b.tokens_in, b.tokens_out, b.partition.as_deref()),
            (40, 12, Some("museums"))
        );
        assert_eq!(
            (b.request_id.as_deref(), b.finish_reason.as_deref()),
            (Some("req_good"), Some("stop"))
        );
        assert!((b.cost_usd - (40.0 + 24.0) / 1e6).abs() < 1e-12);
    }

    // Heartbeats: the failing provider's breaker opens, the limited one
    // backs off but stays healthy; the key is nowhere.
    let hb: Heartbeat = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let msg = heartbeats.next().await.unwrap();
            assert!(!String::from_utf8_lossy(&msg.payload).contains(KEY));
            let hb: Heartbeat = serde_json::from_slice(&msg.payload).unwrap();
            let p = |n: &str| hb.providers.iter().find(|p| p.name == n).cloned().unwrap();
            if p("broken").breaker == "open"
                && p("limited")
                    .failures
                    .get("rate_limited")
                    .is_some_and(|n| *n >= 2)
            {
                return hb;
            }
        }
    })
    .await
    .expect("the breaker opens and rate limits are counted");
    let p = |n: &str| hb.providers.iter().find(|p| p.name == n).cloned().unwrap();
    assert!(!p("broken").healthy && p("broken").failures["server_error"] >= 5);
    assert!(p("limited").healthy && p("limited").breaker == "closed");
    assert!(p("good").healthy && p("good").failures.is_empty() && p("good").requests >= 20);
    assert_eq!(p("limited").kind, "anthropic");

    let stats = client
        .request(format!("$SRV.STATS.{SERVICE_NAME}"), "".into())
        .await
        .unwrap();
    assert!(!String::from_utf8_lossy(&stats.payload).contains(KEY));
    let stats: serde_json::Value = serde_json::from_slice(&stats.payload).unwrap();
    let work = stats["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "work")
        .cloned()
        .expect("stats of the work endpoint");
    let data = &work["data"];
    assert_eq!(data["worker_id"], "t1");
    assert_eq!(data["providers"].as_array().unwrap().len(), 3);
    assert!(work["num_requests"].as_u64() >= Some(1));
    let limited_requests = limited.received_requests().await.unwrap();
    assert_eq!(limited_requests[0].headers["x-api-key"], KEY);

    shutdown.cancel();
    let result = tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .expect("the worker exits within its grace periods")
        .unwrap();
    assert!(result.is_ok(), "{result:?}");
}
