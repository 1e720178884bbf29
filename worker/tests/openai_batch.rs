//! OpenAI's Batch API replayed by a local server with the vendor's shapes:
//! the upload and the batch made of it, polls until the batch ends, the
//! output and error files (answers, refused requests, expired and
//! cancelled ones) and lines that are no result at all.

mod common;

use std::time::Duration;

use wiremock::matchers::{body_partial_json, body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};
use worker::providers::batch_api::{BatchClient, End, Request, Status};

use common::{KEY, batch_client, json, prompt};

fn client(server: &MockServer) -> BatchClient {
    let toml = format!(
        "[[providers]]\nname='gpt-batch'\nkind='openai'\nmodel='gpt-4o-mini'\nbase_url='{}/v1'\n\
         api_key_env='TEST_KEY'\nprice_in_per_m=1.0\nprice_out_per_m=2.0\nmode='batch'\n",
        server.uri()
    );
    batch_client(&toml)
}

fn requests(ids: &[&str]) -> Vec<Request> {
    ids.iter()
        .map(|id| Request {
            custom_id: id.to_string(),
            prompt: prompt(),
        })
        .collect()
}

/// A batch object as `GET /v1/batches/{id}` answers it.
fn batch(status: &str, counts: (u64, u64, u64), output: &str, error: &str) -> String {
    let file = |f: &str| match f {
        "" => "null".to_string(),
        f => format!("\"{f}\""),
    };
    format!(
        r#"{{"id":"batch_67cb","object":"batch","endpoint":"/v1/chat/completions","errors":null,
"input_file_id":"file-in1","completion_window":"24h","status":"{status}",
"output_file_id":{},"error_file_id":{},"created_at":1741569952,"in_progress_at":1741569953,
"expires_at":1741656352,"finalizing_at":null,"completed_at":null,"failed_at":null,"expired_at":null,
"cancelling_at":null,"cancelled_at":null,
"request_counts":{{"total":{},"completed":{},"failed":{}}},"metadata":{{}}}}"#,
        file(output),
        file(error),
        counts.0,
        counts.1,
        counts.2
    )
}

/// One output line: the Chat Completions answer the live endpoint gives.
fn answered(custom_id: &str, items: &str, cached: u64) -> String {
    format!(
        r#"{{"id":"batch_req_{custom_id}","custom_id":"{custom_id}","response":{{"status_code":200,"request_id":"req_{custom_id}","body":{{"id":"chatcmpl-{custom_id}","object":"chat.completion","created":1741570000,"model":"gpt-4o-mini-2024-07-18","choices":[{{"index":0,"message":{{"role":"assistant","content":"{{\"items\":[{items}]}}","refusal":null}},"logprobs":null,"finish_reason":"stop"}}],"usage":{{"prompt_tokens":1000,"completion_tokens":100,"total_tokens":1100,"prompt_tokens_details":{{"cached_tokens":{cached}}}}},"system_fingerprint":"fp_06737a9306"}}}},"error":null}}"#
    )
}

fn jsonl(lines: &[&str]) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(lines.join("\n").into_bytes(), "application/jsonl")
}

async fn serve_file(server: &MockServer, id: &str, lines: &[&str]) {
    Mock::given(method("GET"))
        .and(path(format!("/v1/files/{id}/content")))
        .respond_with(jsonl(lines))
        .mount(server)
        .await;
}

async fn serve_batch(server: &MockServer, body: String) {
    Mock::given(method("GET"))
        .and(path("/v1/batches/batch_67cb"))
        .respond_with(json(200, &body))
        .mount(server)
        .await;
}

async fn ended(client: &BatchClient) -> Status {
    tokio::time::timeout(Duration::from_secs(10), client.poll("batch_67cb"))
        .await
        .expect("the poll answers")
        .expect("a batch")
}

#[tokio::test]
async fn a_batch_is_uploaded_submitted_and_its_answers_priced_at_the_batch_rate() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/files"))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .and(body_string_contains("name=\"purpose\"\r\n\r\nbatch"))
        .and(body_string_contains(r#""custom_id":"r1","method":"POST","url":"/v1/chat/completions""#))
        .and(body_string_contains(r#""custom_id":"r2""#))
        .and(body_string_contains(r#""json_schema""#))
        .respond_with(json(
            200,
            r#"{"id":"file-in1","object":"file","bytes":2048,"created_at":1741569950,"filename":"batch.jsonl","purpose":"batch"}"#,
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/batches"))
        .and(body_partial_json(serde_json::json!({
            "input_file_id": "file-in1", "endpoint": "/v1/chat/completions", "completion_window": "24h"
        })))
        .respond_with(json(200, &batch("validating", (0, 0, 0), "", "")))
        .expect(1)
        .mount(&server)
        .await;
    let client = client(&server);
    let id = client.submit(&requests(&["r1", "r2"])).await.unwrap();
    assert_eq!(id, "batch_67cb");

    serve_batch(&server, batch("completed", (2, 2, 0), "file-out1", "")).await;
    // Out of order, with lines that are no result among them.
    serve_file(
        &server,
        "file-out1",
        &[
            &answered("r2", r#"\"Louvre\",\"Orsay\""#, 400),
            "not json at all",
            r#"{"unexpected":"shape"}"#,
            r#"{"id":"batch_req_x","custom_id":"r9","response":null,"error":null}"#,
            &answered("r1", r#"\"Eiffel Tower\""#, 0),
            "",
        ],
    )
    .await;
    let status = ended(&client).await;
    assert_eq!(status.end, Some(End::Completed));
    assert_eq!((status.counts.total, status.counts.done), (2, 2));
    let results = client.results(&status, 50).await.unwrap();
    assert_eq!(
        results.malformed, 3,
        "garbage, an unknown shape, an empty result"
    );
    let ids: Vec<&str> = results.answers.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["r2", "r1"], "in the file's order");
    let r2 = results.answers[0].1.as_ref().unwrap();
    assert_eq!(r2.text, r#"{"items":["Louvre","Orsay"]}"#);
    assert_eq!(
        (r2.tokens_in, r2.tokens_cached_in, r2.tokens_out),
        (1000, 400, 100)
    );
    assert_eq!(r2.request_id.as_deref(), Some("req_r2"));
    assert_eq!(r2.model, "gpt-4o-mini-2024-07-18");
    // (600 × 1.0 + 400 × 0.5 cached + 100 × 2.0) / 1e6, at half price.
    assert!((r2.cost_usd - 0.0005).abs() < 1e-12, "{}", r2.cost_usd);
    let r1 = results.answers[1].1.as_ref().unwrap();
    assert!((r1.cost_usd - 0.0006).abs() < 1e-12, "{}", r1.cost_usd);
}

#[tokio::test]
async fn refused_and_failed_requests_come_back_apart_from_the_answers() {
    let server = MockServer::start().await;
    serve_batch(
        &server,
        batch("completed", (3, 1, 2), "file-out2", "file-err2"),
    )
    .await;
    serve_file(&server, "file-out2", &[&answered("a", r#"\"Louvre\""#, 0)]).await;
    serve_file(
        &server,
        "file-err2",
        &[
            r#"{"id":"batch_req_b","custom_id":"b","response":{"status_code":400,"request_id":"req_b","body":{"error":{"message":"Invalid value for 'max_tokens'","type":"invalid_request_error","param":"max_tokens","code":null}}},"error":null}"#,
            r#"{"id":"batch_req_c","custom_id":"c","response":{"status_code":500,"request_id":"req_c","body":{"error":{"message":"The server had an error processing your request.","type":"server_error","param":null,"code":null}}},"error":null}"#,
        ],
    )
    .await;
    let client = client(&server);
    let results = client.results(&ended(&client).await, 50).await.unwrap();
    assert_eq!(results.malformed, 0);
    let [(a, ok), (b, refused), (c, failed)] = &results.answers[..] else {
        panic!("three results: {:?}", results.answers);
    };
    assert_eq!((a.as_str(), b.as_str(), c.as_str()), ("a", "b", "c"));
    assert!(ok.is_ok());
    let refused = refused.as_ref().unwrap_err();
    assert_eq!(
        (refused.error.kind(), refused.retry),
        ("client_error", false)
    );
    assert!(
        refused.error.to_string().contains("max_tokens"),
        "{}",
        refused.error
    );
    let failed = failed.as_ref().unwrap_err();
    assert_eq!((failed.error.kind(), failed.retry), ("server_error", true));
}

#[tokio::test]
async fn an_expired_batch_keeps_its_answers_and_marks_the_rest_for_resubmission() {
    let server = MockServer::start().await;
    serve_batch(
        &server,
        batch("expired", (3, 1, 2), "file-out3", "file-err3"),
    )
    .await;
    serve_file(&server, "file-out3", &[&answered("a", r#"\"Louvre\""#, 0)]).await;
    let expired = |id: &str| {
        format!(
            r#"{{"id":"batch_req_{id}","custom_id":"{id}","response":null,"error":{{"code":"batch_expired","message":"This request could not be executed before the completion window expired."}}}}"#
        )
    };
    serve_file(&server, "file-err3", &[&expired("b"), &expired("c")]).await;
    let client = client(&server);
    let status = ended(&client).await;
    assert_eq!(status.end, Some(End::Expired));
    let results = client.results(&status, 50).await.unwrap();
    assert!(results.answers[0].1.is_ok());
    for (id, outcome) in &results.answers[1..] {
        let failure = outcome.as_ref().unwrap_err();
        assert!(failure.retry, "{id} is sent again");
        assert!(
            failure.error.to_string().contains("batch_expired"),
            "{}",
            failure.error
        );
    }
}

#[tokio::test]
async fn a_cancelled_batch_delivers_what_was_answered_before() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/batches/batch_67cb/cancel"))
        .respond_with(json(200, &batch("cancelling", (3, 1, 0), "", "")))
        .expect(1)
        .mount(&server)
        .await;
    let client = client(&server);
    let cancelling = client.cancel("batch_67cb").await.unwrap();
    assert_eq!(cancelling.end, None, "still cancelling");
    serve_batch(&server, batch("cancelled", (3, 1, 2), "file-out4", "")).await;
    serve_file(&server, "file-out4", &[&answered("a", r#"\"Louvre\""#, 0)]).await;
    let status = ended(&client).await;
    assert_eq!(status.end, Some(End::Cancelled));
    let results = client.results(&status, 50).await.unwrap();
    assert_eq!(results.answers.len(), 1);
    assert!(results.answers[0].1.is_ok());
}

#[tokio::test]
async fn a_refused_batch_and_refused_calls_are_errors_not_answers() {
    let server = MockServer::start().await;
    let failed = r#"{"id":"batch_67cb","object":"batch","endpoint":"/v1/chat/completions",
"errors":{"object":"list","data":[{"code":"invalid_json_line","message":"This line is not parseable as valid JSON.","param":null,"line":1}]},
"input_file_id":"file-in1","completion_window":"24h","status":"failed","output_file_id":null,"error_file_id":null,
"created_at":1741569952,"request_counts":{"total":0,"completed":0,"failed":0},"metadata":null}"#;
    serve_batch(&server, failed.to_string()).await;
    let batches = client(&server);
    let status = ended(&batches).await;
    match &status.end {
        Some(End::Failed(reason)) => assert!(reason.contains("invalid_json_line"), "{reason}"),
        other => panic!("a failed batch: {other:?}"),
    }
    assert!(
        batches
            .results(&status, 50)
            .await
            .unwrap()
            .answers
            .is_empty()
    );

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/files"))
        .respond_with(json(
            401,
            r#"{"error":{"message":"Incorrect API key provided: sk-test-0123456789abcdef.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#,
        ))
        .mount(&server)
        .await;
    let error = client(&server)
        .submit(&requests(&["r1"]))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), "client_error");
    assert!(
        !error.to_string().contains(KEY),
        "the key is redacted: {error}"
    );

    Mock::given(method("GET"))
        .and(path("/v1/batches/batch_garbage"))
        .respond_with(json(200, "<html>oops</html>"))
        .mount(&server)
        .await;
    let error = client(&server).poll("batch_garbage").await.unwrap_err();
    assert_eq!(error.kind(), "unparseable");
}

#[tokio::test]
async fn non_utf8_and_oversized_lines_are_counted_and_skipped() {
    let server = MockServer::start().await;
    serve_batch(&server, batch("completed", (1, 1, 0), "file-out5", "")).await;
    let mut body = answered("a", r#"\"Louvre\""#, 0).into_bytes();
    body.extend_from_slice(b"\n\xff\xfe{\"custom_id\":\"b\"}\n");
    body.extend_from_slice(&vec![
        b'x';
        worker::providers::batch_api::MAX_LINE_BYTES + 1
    ]);
    body.push(b'\n');
    Mock::given(method("GET"))
        .and(path("/v1/files/file-out5/content"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, "application/jsonl"))
        .mount(&server)
        .await;
    let client = client(&server);
    let results = client.results(&ended(&client).await, 50).await.unwrap();
    assert_eq!(results.malformed, 2);
    assert_eq!(results.answers.len(), 1);
}
