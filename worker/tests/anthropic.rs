//! The `anthropic` provider against a local wiremock server replaying the
//! Messages API's real bodies and headers: content blocks, usage, stop
//! reasons, its error JSON, 429 with `retry-after`, 529 overloaded.

mod common;

use std::time::Duration;

use common::{KEY, call, json, providers, serving};
use tokio::time::Instant;
use worker::providers::{LlmError, Providers, Unavailable};

const ROUTE: &str = "/v1/messages";

fn anthropic(server_uri: &str, extra: &str) -> Providers {
    providers(&format!(
        "[[providers]]\nname='claude'\nkind='anthropic'\nbase_url='{server_uri}'\nmodel='claude-haiku-4-5'\n\
         api_key_env='TEST_KEY'\nprice_in_per_m=1.0\nprice_out_per_m=5.0\n{extra}"
    ))
}

const ANSWER: &str = r#"{
  "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
  "type": "message",
  "role": "assistant",
  "model": "claude-haiku-4-5-20251001",
  "content": [
    {"type": "text", "text": "Here are 3 Paris attractions:\n\n1. Louvre\n2. Musée d'Orsay"},
    {"type": "text", "text": "3. Sainte-Chapelle"}
  ],
  "stop_reason": "end_turn",
  "stop_sequence": null,
  "usage": {"input_tokens": 48, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 27, "service_tier": "standard"}
}"#;

fn error_body(kind: &str, message: &str) -> String {
    format!(
        r#"{{"type":"error","error":{{"type":"{kind}","message":"{message}"}},"request_id":"req_011CSHoEeqs5C35K2UUqR7Fy"}}"#
    )
}

#[tokio::test]
async fn an_answer_in_content_blocks_and_the_request_it_answers() {
    let server = serving(
        ROUTE,
        json(200, ANSWER)
            .insert_header("request-id", "req_018EeWyXxfu5pfWkrYcMdjWG")
            .insert_header("anthropic-ratelimit-requests-limit", "50")
            .insert_header("anthropic-ratelimit-requests-remaining", "49")
            .insert_header("anthropic-ratelimit-requests-reset", "2030-01-01T00:00:00Z"),
    )
    .await;
    let p = anthropic(&server.uri(), "temperature=0.7\nmax_tokens=1000");
    let c = call(&p).await.unwrap();
    assert_eq!(
        worker::parse::parse(&c.text, &common::prompt()),
        ["Louvre", "Musée d'Orsay", "Sainte-Chapelle"]
    );
    assert_eq!((c.tokens_in, c.tokens_out), (48, 27));
    assert_eq!(c.model, "claude-haiku-4-5-20251001");
    assert_eq!(c.finish_reason.as_deref(), Some("stop"));
    assert_eq!(
        c.request_id.as_deref(),
        Some("req_018EeWyXxfu5pfWkrYcMdjWG")
    );
    assert!((c.cost_usd - (48.0 * 1.0 + 27.0 * 5.0) / 1e6).abs() < 1e-12);

    let request = &server.received_requests().await.unwrap()[0];
    assert_eq!(request.headers["x-api-key"], KEY);
    assert_eq!(request.headers["anthropic-version"], "2023-06-01");
    assert!(!request.headers.contains_key("authorization"));
    let body: serde_json::Value = request.body_json().unwrap();
    assert_eq!(body["model"], "claude-haiku-4-5");
    assert_eq!(body["system"], "You produce long, precise lists.");
    assert_eq!(body["messages"][0]["role"], "user");
    // 3 items need far less than the configured bound.
    assert_eq!(body["max_tokens"].as_u64(), Some(3 * 25 + 256));
    assert_eq!(body["temperature"].as_f64(), Some(0.7));
    // Structured output by default: the items tool, which the model must call.
    assert_eq!(body["tools"][0]["name"], "record_items");
    assert_eq!(
        body["tools"][0]["input_schema"],
        worker::providers::items_schema()
    );
    assert_eq!(
        body["tool_choice"],
        serde_json::json!({"type": "tool", "name": "record_items"})
    );
}

/// The answer as a `tool_use` block, as the Messages API returns a forced
/// tool call: its input is the answer.
#[tokio::test]
async fn a_tool_call_is_the_answer() {
    let body = r#"{"id":"msg_01Aq9w938a90dw8q","type":"message","role":"assistant","model":"claude-haiku-4-5-20251001",
        "content":[{"type":"tool_use","id":"toolu_01A09q90qw90lq917835lq9","name":"record_items",
          "input":{"items":["Louvre","Musée d'Orsay","Sainte-Chapelle (Gothic royal chapel, 1248)"]}}],
        "stop_reason":"tool_use","stop_sequence":null,
        "usage":{"input_tokens":512,"output_tokens":48}}"#;
    let server = serving(ROUTE, json(200, body)).await;
    let p = anthropic(&server.uri(), "");
    let c = call(&p).await.unwrap();
    assert_eq!(c.finish_reason.as_deref(), Some("stop"));
    assert_eq!(
        worker::parse::parse(&c.text, &common::prompt()),
        ["Louvre", "Musée d'Orsay", "Sainte-Chapelle"]
    );
    assert_eq!(p.health(Instant::now())[0].output, "tool");
}

/// A server that refuses tools (a proxy speaking an older Messages API)
/// is asked again in text, once, and in text from then on.
#[tokio::test]
async fn a_refused_tool_falls_back_to_text() {
    use wiremock::matchers::{body_partial_json, method, path};
    use wiremock::{Mock, MockServer};
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(ROUTE))
        .and(body_partial_json(
            serde_json::json!({"tool_choice": {"type": "tool"}}),
        ))
        .respond_with(json(
            400,
            &error_body(
                "invalid_request_error",
                "tools: Extra inputs are not permitted",
            ),
        ))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(ROUTE))
        .respond_with(json(200, ANSWER))
        .with_priority(2)
        .mount(&server)
        .await;
    let p = anthropic(&server.uri(), "");
    call(&p).await.unwrap();
    call(&p).await.unwrap();
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 3);
    let last: serde_json::Value = requests[2].body_json().unwrap();
    assert!(last.get("tools").is_none(), "{last}");
    assert_eq!(p.health(Instant::now())[0].output, "text");
}

#[tokio::test]
async fn stop_reasons_in_the_batch_vocabulary() {
    for (reason, finish) in [
        ("max_tokens", "length"),
        ("stop_sequence", "stop"),
        ("refusal", "content_filter"),
        ("pause_turn", "pause_turn"),
    ] {
        let body = format!(
            r#"{{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{{"type":"thinking","thinking":"hmm"}},{{"type":"text","text":"1. Louvre"}}],"stop_reason":"{reason}","usage":{{"input_tokens":5,"output_tokens":4}}}}"#
        );
        let server = serving(ROUTE, json(200, &body)).await;
        let c = call(&anthropic(&server.uri(), "")).await.unwrap();
        assert_eq!(c.finish_reason.as_deref(), Some(finish), "{reason}");
        assert_eq!(c.text, "1. Louvre", "thinking blocks are not the answer");
    }
}

#[tokio::test]
async fn error_json_and_statuses() {
    let cases: Vec<common::ErrorCase> = vec![
        (
            "400 prompt too long",
            json(
                400,
                &error_body(
                    "invalid_request_error",
                    "prompt is too long: 215000 tokens > 200000 maximum",
                ),
            ),
            |e| matches!(e, LlmError::Rejected { status: 400, message } if message == "invalid_request_error: prompt is too long: 215000 tokens > 200000 maximum"),
            false,
        ),
        (
            "400 no credit",
            json(
                400,
                &error_body(
                    "invalid_request_error",
                    "Your credit balance is too low to access the Anthropic API.",
                ),
            ),
            |e| e.kind() == "client_error",
            false,
        ),
        (
            "401",
            json(
                401,
                &error_body("authentication_error", "invalid x-api-key"),
            ),
            |e| matches!(e, LlmError::Rejected { status: 401, .. }),
            false,
        ),
        (
            "403",
            json(
                403,
                &error_body(
                    "permission_error",
                    "Your API key does not have permission to use the specified resource.",
                ),
            ),
            |e| matches!(e, LlmError::Rejected { status: 403, .. }),
            false,
        ),
        (
            "404",
            json(404, &error_body("not_found_error", "model: claude-9")),
            |e| matches!(e, LlmError::Rejected { status: 404, message } if message.ends_with("model: claude-9")),
            false,
        ),
        (
            "500",
            json(500, &error_body("api_error", "Internal server error")),
            |e| matches!(e, LlmError::Server { status: 500, .. }),
            true,
        ),
        (
            "529 overloaded",
            json(529, &error_body("overloaded_error", "Overloaded"))
                .insert_header("retry-after", "3"),
            |e| matches!(e, LlmError::Overloaded { retry_after: Some(d), message } if *d == Duration::from_secs(3) && message == "overloaded_error: Overloaded"),
            true,
        ),
        (
            "200 garbage",
            json(200, "<!DOCTYPE html><html>"),
            |e| e.kind() == "unparseable",
            true,
        ),
        (
            "200 an error object",
            json(200, &error_body("api_error", "Internal server error")),
            |e| e.kind() == "unparseable",
            true,
        ),
    ];
    for (name, response, expected, healthy_after) in cases {
        let server = serving(ROUTE, response).await;
        let p = anthropic(&server.uri(), "");
        let error = call(&p).await.unwrap_err();
        assert!(expected(&error), "{name}: {error:?}");
        let health = &p.health(Instant::now())[0];
        assert_eq!(health.healthy, healthy_after, "{name}: {health:?}");
        assert_eq!(health.failures[error.kind()], 1, "{name}");
        assert_eq!(server.received_requests().await.unwrap().len(), 1, "{name}");
    }
}

#[tokio::test]
async fn rate_limited_with_retry_after_and_quota_headers() {
    let response = json(
        429,
        &error_body(
            "rate_limit_error",
            "This request would exceed the rate limit for your organization of 50 requests per minute.",
        ),
    )
    .insert_header("retry-after", "7")
    .insert_header("anthropic-ratelimit-requests-limit", "50")
    .insert_header("anthropic-ratelimit-requests-remaining", "0")
    .insert_header("anthropic-ratelimit-requests-reset", "2030-01-01T00:00:00Z");
    let server = serving(ROUTE, response).await;
    let p = anthropic(&server.uri(), "");
    let error = call(&p).await.unwrap_err();
    assert!(
        matches!(&error, LlmError::RateLimited { retry_after: Some(d), .. } if *d == Duration::from_secs(7)),
        "retry-after wins over the reset time: {error:?}"
    );
    let health = &p.health(Instant::now())[0];
    assert_eq!((health.healthy, health.failures["rate_limited"]), (true, 1));
    let at = Instant::now();
    assert!(
        matches!(p.entries()[0].try_lease(at, 1), Err(Unavailable::Until(t)) if t >= at + Duration::from_secs(6))
    );
}

#[test]
fn a_missing_key_disables_the_provider_with_the_reason() {
    let p = providers(
        "[[providers]]\nname='claude'\nkind='anthropic'\nmodel='claude-haiku-4-5'\napi_key_env='NOT_SET_ANYWHERE'",
    );
    let health = &p.health(Instant::now())[0];
    assert_eq!((health.healthy, health.breaker.as_str()), (false, "open"));
    assert!(p.entries()[0].try_lease(Instant::now(), 1).is_err());
}

#[tokio::test]
async fn cache_reads_and_writes_are_priced_apart_from_input() {
    // Input after the cache breakpoint, reads of the cached prefix, and
    // writes, first as one count (5-minute cache), then split by lifetime.
    let usage = |cache: &str| {
        ANSWER.replace(
            r#""usage": {"input_tokens": 48, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 27"#,
            &format!(r#""usage": {{"input_tokens": 48, "cache_read_input_tokens": 3000, "output_tokens": 27, {cache}"#),
        )
    };
    let single = usage(r#""cache_creation_input_tokens": 200"#);
    let split = usage(
        r#""cache_creation_input_tokens": 300, "cache_creation": {"ephemeral_5m_input_tokens": 200, "ephemeral_1h_input_tokens": 100}"#,
    );
    assert_ne!(single, ANSWER, "the usage was replaced");
    for (body, tokens_in, written) in [
        (&single, 3248, 200.0 * 1.25),
        (&split, 3348, 200.0 * 1.25 + 100.0 * 2.0),
    ] {
        let server = serving(ROUTE, json(200, body)).await;
        let c = call(&anthropic(&server.uri(), "")).await.unwrap();
        assert_eq!(
            (c.tokens_in, c.tokens_cached_in, c.tokens_out),
            (tokens_in, 3000, 27)
        );
        // Input price 1.0, output 5.0: reads at 0.1 ×, writes at 1.25 ×
        // (5 minutes) and 2 × (1 hour).
        let expected = (48.0 + 3000.0 * 0.1 + written + 27.0 * 5.0) / 1e6;
        assert!(
            (c.cost_usd - expected).abs() < 1e-12,
            "{} {expected}",
            c.cost_usd
        );
    }
}
