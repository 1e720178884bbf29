//! Anthropic's Message Batches replayed by a local server with the
//! vendor's shapes: the batch created with the live Messages bodies,
//! polled until it ends, its results (in any order: succeeded, errored,
//! canceled, expired, and lines that are no result) and a cancel.

mod common;

use std::time::Duration;

use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer};
use worker::providers::batch_api::{BatchClient, End, Request, Status};

use common::{KEY, batch_client, json, prompt};

fn client(server: &MockServer) -> BatchClient {
    let toml = format!(
        "[[providers]]\nname='claude-batch'\nkind='anthropic'\nmodel='claude-haiku-4-5'\nbase_url='{}'\n\
         api_key_env='TEST_KEY'\nprice_in_per_m=1.0\nprice_out_per_m=5.0\nmode='batch'\n",
        server.uri()
    );
    batch_client(&toml)
}

/// A message batch as the API reports it.
fn message_batch(
    server: &MockServer,
    processing_status: &str,
    counts: [u64; 5],
    cancel: bool,
) -> String {
    let [processing, succeeded, errored, canceled, expired] = counts;
    let ended = processing_status == "ended";
    let results_url = match ended {
        true => format!(
            "\"{}/v1/messages/batches/msgbatch_013Zva2CMHLNnXjNJJKqJ2EF/results\"",
            server.uri()
        ),
        false => "null".into(),
    };
    let cancel_at = match cancel {
        true => "\"2024-08-20T18:40:00.000000Z\"",
        false => "null",
    };
    format!(
        r#"{{"id":"msgbatch_013Zva2CMHLNnXjNJJKqJ2EF","type":"message_batch","processing_status":"{processing_status}",
"request_counts":{{"processing":{processing},"succeeded":{succeeded},"errored":{errored},"canceled":{canceled},"expired":{expired}}},
"ended_at":{},"created_at":"2024-08-20T18:37:24.100435Z","expires_at":"2024-08-21T18:37:24.100435Z",
"archived_at":null,"cancel_initiated_at":{cancel_at},"results_url":{results_url}}}"#,
        if ended {
            "\"2024-08-20T19:00:00Z\""
        } else {
            "null"
        }
    )
}

fn succeeded(custom_id: &str, items: &str) -> String {
    format!(
        r#"{{"custom_id":"{custom_id}","result":{{"type":"succeeded","message":{{"id":"msg_{custom_id}","type":"message","role":"assistant","model":"claude-haiku-4-5-20251001","content":[{{"type":"tool_use","id":"toolu_{custom_id}","name":"record_items","input":{{"items":[{items}]}}}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{{"input_tokens":600,"cache_creation_input_tokens":0,"cache_read_input_tokens":400,"output_tokens":100}}}}}}}}"#
    )
}

async fn serve_results(server: &MockServer, lines: &[&str]) {
    Mock::given(method("GET"))
        .and(path(
            "/v1/messages/batches/msgbatch_013Zva2CMHLNnXjNJJKqJ2EF/results",
        ))
        .and(header("x-api-key", KEY))
        .respond_with(
            wiremock::ResponseTemplate::new(200)
                .set_body_raw(lines.join("\n").into_bytes(), "application/binary"),
        )
        .mount(server)
        .await;
}

async fn serve_batch(server: &MockServer, body: String) {
    Mock::given(method("GET"))
        .and(path(
            "/v1/messages/batches/msgbatch_013Zva2CMHLNnXjNJJKqJ2EF",
        ))
        .and(header("anthropic-version", "2023-06-01"))
        .respond_with(json(200, &body))
        .mount(server)
        .await;
}

async fn poll(client: &BatchClient) -> Status {
    tokio::time::timeout(
        Duration::from_secs(10),
        client.poll("msgbatch_013Zva2CMHLNnXjNJJKqJ2EF"),
    )
    .await
    .expect("the poll answers")
    .expect("a message batch")
}

#[tokio::test]
async fn a_batch_of_messages_bodies_and_its_results_in_any_order() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/messages/batches"))
        .and(header("x-api-key", KEY))
        .and(body_string_contains(r#""custom_id":"r1","params":{"#))
        .and(body_string_contains(r#""custom_id":"r2""#))
        .and(body_string_contains(r#""tool_choice""#))
        .respond_with(json(
            200,
            &message_batch(&server, "in_progress", [2, 0, 0, 0, 0], false),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let client = client(&server);
    let requests: Vec<Request> = ["r1", "r2"]
        .iter()
        .map(|id| Request {
            custom_id: id.to_string(),
            prompt: prompt(),
        })
        .collect();
    let id = client.submit(&requests).await.unwrap();
    assert_eq!(id, "msgbatch_013Zva2CMHLNnXjNJJKqJ2EF");

    serve_batch(
        &server,
        message_batch(&server, "ended", [0, 2, 1, 0, 1], false),
    )
    .await;
    serve_results(
        &server,
        &[
            r#"{"custom_id":"r3","result":{"type":"errored","error":{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field required"}}}}"#,
            &succeeded("r2", r#""Louvre","Orsay""#),
            "{{{ garbage",
            r#"{"custom_id":"r5","result":{"type":"mystery"}}"#,
            r#"{"custom_id":"r4","result":{"type":"expired"}}"#,
            &succeeded("r1", r#""Eiffel Tower""#),
            r#"{"custom_id":"r6","result":{"type":"errored","error":{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}}}"#,
        ],
    )
    .await;
    let status = poll(&client).await;
    assert_eq!(status.end, Some(End::Expired));
    assert_eq!(
        (
            status.counts.total,
            status.counts.done,
            status.counts.failed
        ),
        (4, 2, 2)
    );
    let results = client.results(&status, 50).await.unwrap();
    assert_eq!(results.malformed, 2, "garbage and an unknown result type");
    let ids: Vec<&str> = results.answers.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["r3", "r2", "r4", "r1", "r6"]);
    let r2 = results.answers[1].1.as_ref().unwrap();
    assert_eq!(r2.text, r#"{"items":["Louvre","Orsay"]}"#);
    assert_eq!(
        (r2.tokens_in, r2.tokens_cached_in, r2.tokens_out),
        (1000, 400, 100)
    );
    assert_eq!(r2.finish_reason.as_deref(), Some("stop"));
    // (600 × 1.0 + 400 × 0.1 cached + 100 × 5.0) / 1e6, at half price.
    assert!((r2.cost_usd - 0.00057).abs() < 1e-12, "{}", r2.cost_usd);
    let refused = results.answers[0].1.as_ref().unwrap_err();
    assert_eq!(
        (refused.error.kind(), refused.retry),
        ("client_error", false)
    );
    assert!(
        refused.error.to_string().contains("max_tokens"),
        "{}",
        refused.error
    );
    let expired = results.answers[2].1.as_ref().unwrap_err();
    assert!(expired.retry);
    let overloaded = results.answers[4].1.as_ref().unwrap_err();
    assert_eq!(
        (overloaded.error.kind(), overloaded.retry),
        ("overloaded", true)
    );
}

#[tokio::test]
async fn a_cancelled_batch_delivers_what_was_answered_before() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(
            "/v1/messages/batches/msgbatch_013Zva2CMHLNnXjNJJKqJ2EF/cancel",
        ))
        .respond_with(json(
            200,
            &message_batch(&server, "canceling", [2, 1, 0, 0, 0], true),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let client = client(&server);
    let canceling = client
        .cancel("msgbatch_013Zva2CMHLNnXjNJJKqJ2EF")
        .await
        .unwrap();
    assert_eq!(canceling.end, None);
    serve_batch(
        &server,
        message_batch(&server, "ended", [0, 1, 0, 2, 0], true),
    )
    .await;
    serve_results(
        &server,
        &[
            r#"{"custom_id":"b","result":{"type":"canceled"}}"#,
            &succeeded("a", r#""Louvre""#),
            r#"{"custom_id":"c","result":{"type":"canceled"}}"#,
        ],
    )
    .await;
    let status = poll(&client).await;
    assert_eq!(status.end, Some(End::Cancelled));
    let results = client.results(&status, 50).await.unwrap();
    let answered: Vec<&str> = results
        .answers
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(id, _)| id.as_str())
        .collect();
    assert_eq!(answered, ["a"]);
    assert_eq!(results.answers.len(), 3);
}

#[tokio::test]
async fn results_elsewhere_than_the_providers_origin_are_not_fetched_with_the_key() {
    let server = MockServer::start().await;
    let elsewhere = MockServer::start().await;
    let body = message_batch(&elsewhere, "ended", [0, 1, 0, 0, 0], false);
    serve_batch(&server, body).await;
    serve_results(&elsewhere, &[&succeeded("a", r#""Louvre""#)]).await;
    let client = client(&server);
    let status = poll(&client).await;
    let error = client.results(&status, 50).await.unwrap_err();
    assert!(
        error.to_string().contains("not on the provider's origin"),
        "{error}"
    );
    assert!(
        elsewhere
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty(),
        "the other server never saw the key"
    );
}

#[tokio::test]
async fn unknown_statuses_and_other_objects_are_unparseable() {
    let server = MockServer::start().await;
    serve_batch(
        &server,
        r#"{"id":"msgbatch_013Zva2CMHLNnXjNJJKqJ2EF","type":"message_batch","processing_status":"sleeping","request_counts":{}}"#
            .into(),
    )
    .await;
    let error = client(&server)
        .poll("msgbatch_013Zva2CMHLNnXjNJJKqJ2EF")
        .await
        .unwrap_err();
    assert!(error.to_string().contains("sleeping"), "{error}");
    let server = MockServer::start().await;
    serve_batch(
        &server,
        r#"{"id":"msg_1","type":"message","processing_status":"ended"}"#.into(),
    )
    .await;
    let error = client(&server)
        .poll("msgbatch_013Zva2CMHLNnXjNJJKqJ2EF")
        .await
        .unwrap_err();
    assert_eq!(error.kind(), "unparseable");
}
