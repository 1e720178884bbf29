//! The `openai` provider against a local wiremock server replaying the
//! bodies and headers that OpenAI and compatible servers (Ollama, vLLM,
//! llama.cpp, Azure) really send: answers, every error status, rate-limit
//! headers, timeouts, refused connections and malformed bodies.

mod common;

use std::time::Duration;

use common::{KEY, call, json, providers, serving};
use tokio::time::Instant;
use wiremock::ResponseTemplate;
use worker::providers::{LlmError, Providers, Unavailable};

const ROUTE: &str = "/v1/chat/completions";

fn openai(server_uri: &str, extra: &str) -> Providers {
    providers(&format!(
        "[[providers]]\nname='oa'\nkind='openai'\nbase_url='{server_uri}/v1'\nmodel='gpt-4o-mini'\n\
         api_key_env='TEST_KEY'\nprice_in_per_m=0.15\nprice_out_per_m=0.6\n{extra}"
    ))
}

const ANSWER: &str = r#"{
  "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
  "object": "chat.completion",
  "created": 1741569952,
  "model": "gpt-4o-mini-2024-07-18",
  "choices": [{
    "index": 0,
    "message": {"role": "assistant", "content": "Here are 3 Paris attractions:\n\n1. **Louvre**\n2. Musée d'Orsay\n3. Sainte-Chapelle", "refusal": null, "annotations": []},
    "logprobs": null,
    "finish_reason": "stop"
  }],
  "usage": {"prompt_tokens": 52, "completion_tokens": 21, "total_tokens": 73,
    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0}},
  "service_tier": "default",
  "system_fingerprint": "fp_06737a9306"
}"#;

#[tokio::test]
async fn an_answer_with_usage_headers_and_the_request_it_answers() {
    let server = serving(
        ROUTE,
        json(200, ANSWER)
            .insert_header("x-request-id", "req_7f3c2a")
            .insert_header("x-ratelimit-limit-requests", "10000")
            .insert_header("x-ratelimit-remaining-requests", "9999")
            .insert_header("x-ratelimit-reset-requests", "6ms"),
    )
    .await;
    let p = openai(&server.uri(), "temperature=0.9\nmax_tokens=500");
    let c = call(&p).await.unwrap();
    assert_eq!(
        worker::parse::parse(&c.text, &common::prompt()),
        ["Louvre", "Musée d'Orsay", "Sainte-Chapelle"]
    );
    assert_eq!((c.tokens_in, c.tokens_out), (52, 21));
    assert_eq!(c.model, "gpt-4o-mini-2024-07-18");
    assert_eq!(c.finish_reason.as_deref(), Some("stop"));
    assert_eq!(c.request_id.as_deref(), Some("req_7f3c2a"));
    assert!((c.cost_usd - (52.0 * 0.15 + 21.0 * 0.6) / 1e6).abs() < 1e-12);

    let requests = server.received_requests().await.unwrap();
    let request = &requests[0];
    assert_eq!(
        request.headers["authorization"],
        format!("Bearer {KEY}").as_str()
    );
    let body: serde_json::Value = request.body_json().unwrap();
    assert_eq!(body["model"], "gpt-4o-mini");
    assert_eq!(body["messages"][0]["role"], "system");
    // Structured output by default: the items schema, and a prompt asking
    // for the JSON object.
    assert_eq!(
        body["messages"][1]["content"],
        format!(
            "List 3 distinct Paris attractions.\n{}",
            worker::prompt::JSON_FORMAT
        )
    );
    assert_eq!(body["response_format"]["type"], "json_schema");
    assert_eq!(
        body["response_format"]["json_schema"],
        serde_json::json!({"name": "items", "strict": true, "schema": worker::providers::items_schema()})
    );
    assert_eq!(
        (body["temperature"].as_f64(), body["max_tokens"].as_u64()),
        (Some(0.9), Some(500))
    );
    let health = p.health(Instant::now());
    assert_eq!((health[0].requests, health[0].healthy), (1, true));
    assert_eq!(health[0].output, "json_schema");
}

/// A structured answer: the JSON object in `content`, as OpenAI returns
/// it under `json_schema`; cut at the output limit, its complete strings.
#[tokio::test]
async fn structured_answers_and_text_on_request() {
    let body = r#"{"id":"chatcmpl-C1","object":"chat.completion","created":1741569952,"model":"gpt-4o-mini-2024-07-18",
        "choices":[{"index":0,"message":{"role":"assistant","content":"{\"items\":[\"Louvre\",\"Musée d'Orsay\",\"Eiffel Tower - iconic iron tower\"]}","refusal":null},"finish_reason":"stop"}],
        "usage":{"prompt_tokens":80,"completion_tokens":19,"total_tokens":99}}"#;
    let server = serving(ROUTE, json(200, body)).await;
    let c = call(&openai(&server.uri(), "")).await.unwrap();
    assert_eq!(
        worker::parse::parse(&c.text, &common::prompt()),
        ["Louvre", "Musée d'Orsay", "Eiffel Tower"]
    );
    let cut = r#"{"choices":[{"message":{"content":"{\"items\": [\"Louvre\", \"Orsay\", \"Panth"},"finish_reason":"length"}],"usage":{"prompt_tokens":80,"completion_tokens":16}}"#;
    let server = serving(ROUTE, json(200, cut)).await;
    let c = call(&openai(&server.uri(), "")).await.unwrap();
    assert_eq!(c.finish_reason.as_deref(), Some("length"));
    assert_eq!(
        worker::parse::parse_answer(&c.text, true, &common::prompt()),
        ["Louvre", "Orsay"]
    );
    // `output = "text"`: no response_format, the text prompt unchanged.
    let server = serving(ROUTE, json(200, ANSWER)).await;
    let p = openai(&server.uri(), "output='text'");
    call(&p).await.unwrap();
    let sent: serde_json::Value = server.received_requests().await.unwrap()[0]
        .body_json()
        .unwrap();
    assert!(sent.get("response_format").is_none(), "{sent}");
    assert_eq!(
        sent["messages"][1]["content"],
        "List 3 distinct Paris attractions."
    );
    assert_eq!(p.health(Instant::now())[0].output, "text");
}

/// llama-cpp-python refuses `json_schema` with a 500 (its real body, from
/// the server itself) and accepts `json_object` with the schema: the call
/// is retried once in that form, and later calls use it directly.
#[tokio::test]
async fn a_refused_json_schema_falls_back_to_json_object_once() {
    use wiremock::matchers::{body_partial_json, method, path};
    use wiremock::{Mock, MockServer};
    let server = MockServer::start().await;
    let refused = include_str!("fixtures/smollm2/json-schema-refused-500.json");
    Mock::given(method("POST"))
        .and(path(ROUTE))
        .and(body_partial_json(
            serde_json::json!({"response_format": {"type": "json_schema"}}),
        ))
        .respond_with(json(500, refused))
        .with_priority(1)
        .mount(&server)
        .await;
    let answer = r#"{"id":"chatcmpl-9","object":"chat.completion","created":1764262000,"model":"smollm2",
        "choices":[{"index":0,"message":{"role":"assistant","content":"{ \"items\": [\"Louvre\", \"Orsay\"] }"},"logprobs":null,"finish_reason":"stop"}],
        "usage":{"prompt_tokens":67,"completion_tokens":12,"total_tokens":79}}"#;
    Mock::given(method("POST"))
        .and(path(ROUTE))
        .respond_with(json(200, answer))
        .with_priority(2)
        .mount(&server)
        .await;
    let p = openai(&server.uri(), "");
    for _ in 0..2 {
        let c = call(&p).await.unwrap();
        assert_eq!(
            worker::parse::parse(&c.text, &common::prompt()),
            ["Louvre", "Orsay"]
        );
    }
    let sent: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| r.body_json::<serde_json::Value>().unwrap()["response_format"]["type"].to_string())
        .collect();
    assert_eq!(
        sent,
        ["\"json_schema\"", "\"json_object\"", "\"json_object\""]
    );
    let health = &p.health(Instant::now())[0];
    assert_eq!(
        (health.output.as_str(), health.requests, health.healthy),
        ("json_object", 2, true)
    );
    assert!(health.failures.is_empty(), "{health:?}");
}

/// A server refusing both JSON forms (OpenAI's 400 for a model without
/// structured outputs) is asked in text, and stays so.
#[tokio::test]
async fn refusing_both_json_forms_falls_back_to_text() {
    use wiremock::matchers::{body_partial_json, method, path};
    use wiremock::{Mock, MockServer};
    let server = MockServer::start().await;
    for (priority, kind) in [(1, "json_schema"), (2, "json_object")] {
        let body = format!(
            r#"{{"error":{{"message":"Invalid parameter: 'response_format' of type '{kind}' is not supported with this model.","type":"invalid_request_error","param":"response_format","code":null}}}}"#
        );
        Mock::given(method("POST"))
            .and(path(ROUTE))
            .and(body_partial_json(
                serde_json::json!({"response_format": {"type": kind}}),
            ))
            .respond_with(json(400, &body))
            .with_priority(priority)
            .mount(&server)
            .await;
    }
    Mock::given(method("POST"))
        .and(path(ROUTE))
        .respond_with(json(200, ANSWER))
        .with_priority(3)
        .mount(&server)
        .await;
    let p = openai(&server.uri(), "");
    call(&p).await.unwrap();
    call(&p).await.unwrap();
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 4, "schema, object, text; then text only");
    let last: serde_json::Value = requests[3].body_json().unwrap();
    assert!(last.get("response_format").is_none(), "{last}");
    assert_eq!(p.health(Instant::now())[0].output, "text");
}

#[tokio::test]
async fn a_local_server_without_key_usage_or_options() {
    // Ollama's shape; llama.cpp and some proxies omit usage entirely.
    let body = r#"{"id":"chatcmpl-123","object":"chat.completion","created":1741570000,"model":"llama3.1",
        "system_fingerprint":"fp_ollama","choices":[{"index":0,"message":{"role":"assistant",
        "content":"- Louvre\n- Orsay"},"finish_reason":"stop"}]}"#;
    let server = serving(ROUTE, json(200, body)).await;
    let p = providers(&format!(
        "[[providers]]\nname='local'\nkind='openai'\nbase_url='{}/v1/'\nmodel='llama3.1'",
        server.uri()
    ));
    let c = call(&p).await.unwrap();
    assert_eq!(
        worker::parse::parse(&c.text, &common::prompt()),
        ["Louvre", "Orsay"]
    );
    assert!(c.tokens_in > 0 && c.tokens_out > 0, "estimated: {c:?}");
    assert_eq!(
        (c.cost_usd, c.request_id.as_deref()),
        (0.0, Some("chatcmpl-123"))
    );
    let request = &server.received_requests().await.unwrap()[0];
    assert!(!request.headers.contains_key("authorization"));
    let sent: serde_json::Value = request.body_json().unwrap();
    assert!(
        sent.get("temperature").is_none() && sent.get("max_tokens").is_none(),
        "{sent}"
    );
}

#[tokio::test]
async fn cut_filtered_and_refused_answers_are_answers() {
    for (body, finish, text) in [
        (
            r#"{"choices":[{"message":{"content":"1. Louvre\n2. Orsay\n3. Sainte-Cha"},"finish_reason":"length"}],"usage":{"prompt_tokens":10,"completion_tokens":16}}"#,
            "length",
            "1. Louvre\n2. Orsay\n3. Sainte-Cha",
        ),
        (
            r#"{"choices":[{"message":{"role":"assistant","content":null},"finish_reason":"content_filter"}],"usage":{"prompt_tokens":10,"completion_tokens":0}}"#,
            "content_filter",
            "",
        ),
        (
            r#"{"choices":[{"message":{"role":"assistant","content":null,"refusal":"I'm sorry, I can't help with that."},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":9}}"#,
            "content_filter",
            "",
        ),
    ] {
        let server = serving(ROUTE, json(200, body)).await;
        let c = call(&openai(&server.uri(), "")).await.unwrap();
        assert_eq!(
            (c.finish_reason.as_deref(), c.text.as_str()),
            (Some(finish), text),
            "{body}"
        );
    }
    let cut = "1. Louvre\n2. Orsay\n3. Sainte-Cha";
    assert_eq!(
        worker::parse::parse_answer(cut, true, &common::prompt()),
        ["Louvre", "Orsay"]
    );
}

/// Status, body and headers as the vendors send them, and what each means.
#[tokio::test]
async fn error_statuses_map_to_what_the_worker_does_next() {
    let cases: Vec<common::ErrorCase> = vec![
        (
            "400 context too long",
            json(400, r#"{"error":{"message":"This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#),
            |e| matches!(e, LlmError::Rejected { status: 400, message } if message.contains("maximum context length")),
            false,
        ),
        (
            "401 bad key, echoed",
            json(401, &format!(r#"{{"error":{{"message":"Incorrect API key provided: {KEY}. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}}}"#)),
            |e| matches!(e, LlmError::Rejected { status: 401, message } if message.contains("Incorrect API key provided: ***.") && !message.contains(KEY)),
            false,
        ),
        (
            "403 region",
            json(403, r#"{"error":{"code":"unsupported_country_region_territory","message":"Country, region, or territory not supported","param":null,"type":"request_forbidden"}}"#),
            |e| matches!(e, LlmError::Rejected { status: 403, .. }),
            false,
        ),
        (
            "404 model",
            json(404, r#"{"error":{"message":"The model `gpt-9` does not exist or you do not have access to it.","type":"invalid_request_error","param":null,"code":"model_not_found"}}"#),
            |e| matches!(e, LlmError::Rejected { status: 404, message } if message.contains("gpt-9")),
            false,
        ),
        (
            "404 ollama model",
            json(404, r#"{"error":"model \"llama9\" not found, try pulling it first"}"#),
            |e| matches!(e, LlmError::Rejected { status: 404, message } if message.contains("try pulling")),
            false,
        ),
        (
            "429 quota",
            json(429, r#"{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#),
            |e| e.kind() == "quota_exhausted",
            false,
        ),
        (
            "500",
            json(500, r#"{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}"#),
            |e| matches!(e, LlmError::Server { status: 500, retry_after: None, .. }),
            true,
        ),
        (
            "502 from a proxy",
            ResponseTemplate::new(502).set_body_raw(b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n".to_vec(), "text/html"),
            |e| matches!(e, LlmError::Server { status: 502, message, .. } if message.contains("502 Bad Gateway")),
            true,
        ),
        (
            "503 overloaded with retry-after",
            json(503, r#"{"error":{"message":"The engine is currently overloaded, please try again later.","type":"server_error","param":null,"code":null}}"#).insert_header("retry-after", "1"),
            |e| matches!(e, LlmError::Server { status: 503, retry_after: Some(d), .. } if *d == Duration::from_secs(1)),
            true,
        ),
        (
            "503 llama.cpp loading",
            json(503, r#"{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}"#),
            |e| matches!(e, LlmError::Server { status: 503, message, .. } if message == "unavailable_error: Loading model"),
            true,
        ),
        ("200 not JSON", json(200, "upstream connect error or disconnect/reset before headers"), |e| e.kind() == "unparseable", true),
        ("200 no choices", json(200, r#"{"id":"x","object":"chat.completion","choices":[]}"#), |e| e.kind() == "unparseable", true),
        ("200 wrong object", json(200, r#"{"object":"list","data":[]}"#), |e| e.kind() == "unparseable", true),
        ("200 cut body", json(200, r#"{"id":"x","choices":[{"message":{"content":"1. Lou"#), |e| e.kind() == "unparseable", true),
    ];
    for (name, response, expected, healthy_after) in cases {
        let server = serving(ROUTE, response).await;
        let p = openai(&server.uri(), "");
        let error = call(&p).await.unwrap_err();
        assert!(expected(&error), "{name}: {error:?}");
        let health = &p.health(Instant::now())[0];
        assert_eq!(health.healthy, healthy_after, "{name}: {health:?}");
        assert_eq!(health.failures[error.kind()], 1, "{name}");
        if !healthy_after {
            // Misconfigured: not retried, the breaker open for a long time.
            assert_eq!(health.breaker, "open", "{name}");
            assert!(
                matches!(p.entries()[0].try_lease(Instant::now(), 1), Err(Unavailable::Until(t)) if t > Instant::now() + Duration::from_secs(60))
            );
        }
        assert_eq!(
            server.received_requests().await.unwrap().len(),
            1,
            "{name}: not retried by the call"
        );
    }
}

#[tokio::test]
async fn rate_limits_honour_retry_after_and_ratelimit_headers() {
    let body = r#"{"error":{"message":"Rate limit reached for gpt-4o-mini in organization org-x on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s.","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#;
    for (response, after) in [
        (json(429, body).insert_header("retry-after", "20"), 20.0),
        (
            json(429, body)
                .insert_header("retry-after-ms", "1500")
                .insert_header("retry-after", "2"),
            1.5,
        ),
        (
            json(429, body)
                .insert_header("x-ratelimit-remaining-requests", "0")
                .insert_header("x-ratelimit-reset-requests", "6m0s"),
            360.0,
        ),
    ] {
        let server = serving(ROUTE, response).await;
        let p = openai(&server.uri(), "");
        let error = call(&p).await.unwrap_err();
        assert!(
            matches!(&error, LlmError::RateLimited { retry_after: Some(d), message } if d.as_secs_f64() == after && message.contains("Rate limit reached")),
            "{error:?}"
        );
        // Still healthy, but not called again before the provider said.
        let health = &p.health(Instant::now())[0];
        assert_eq!((health.healthy, health.breaker.as_str()), (true, "closed"));
        assert!(
            matches!(p.entries()[0].try_lease(Instant::now(), 1), Err(Unavailable::Until(t)) if t >= Instant::now() + Duration::from_secs_f64(after * 0.99))
        );
    }
}

#[tokio::test]
async fn an_exhausted_quota_on_a_good_answer_pauses_the_provider() {
    let server = serving(
        ROUTE,
        json(200, ANSWER)
            .insert_header("x-ratelimit-remaining-requests", "0")
            .insert_header("x-ratelimit-reset-requests", "30s"),
    )
    .await;
    let p = openai(&server.uri(), "");
    call(&p).await.unwrap();
    let at = Instant::now();
    assert!(
        matches!(p.entries()[0].try_lease(at, 1), Err(Unavailable::Until(t)) if t >= at + Duration::from_secs(29))
    );
}

#[tokio::test]
async fn timeouts_and_refused_connections() {
    let slow = serving(ROUTE, json(200, ANSWER).set_delay(Duration::from_secs(5))).await;
    let p = openai(&slow.uri(), "timeout_s=0.2");
    let started = std::time::Instant::now();
    assert_eq!(call(&p).await.unwrap_err(), LlmError::Timeout);
    assert!(started.elapsed() < Duration::from_secs(3));

    let port = testkit::free_port();
    let p = openai(&format!("http://127.0.0.1:{port}"), "");
    let error = call(&p).await.unwrap_err();
    assert!(
        matches!(&error, LlmError::Transport(m) if m.starts_with("cannot connect")),
        "{error:?}"
    );
    assert_eq!(p.health(Instant::now())[0].failures["transport"], 1);
}

#[tokio::test]
async fn repeated_server_errors_open_the_breaker() {
    let server = serving(
        ROUTE,
        json(500, r#"{"error":{"message":"boom","type":"server_error"}}"#),
    )
    .await;
    let p = openai(&server.uri(), "");
    let entry = &p.entries()[0];
    let mut calls = 0;
    while entry.healthy(Instant::now()) {
        // Wait out the backoff between calls, as a slot would.
        let lease = loop {
            match entry.try_lease(Instant::now(), 1) {
                Ok(lease) => break lease,
                Err(Unavailable::Until(t)) => tokio::time::sleep_until(t).await,
                Err(Unavailable::Busy) => panic!("nothing else is in flight"),
            }
        };
        lease.call(&common::prompt()).await.unwrap_err();
        calls += 1;
        assert!(calls <= 5, "the breaker opens after 5 consecutive failures");
    }
    assert_eq!(calls, 5);
    assert_eq!(p.health(Instant::now())[0].breaker, "open");
}

#[test]
fn keys_stay_out_of_debug_output() {
    let env = |_: &str| Some(KEY.to_string());
    let settings = worker::providers::settings::parse(
        "[[providers]]\nname='oa'\nkind='openai'\nmodel='m'\napi_key_env='TEST_KEY'",
        env,
    )
    .unwrap();
    let printed = format!("{settings:?}");
    assert!(
        !printed.contains(KEY) && printed.contains("ApiKey(***)"),
        "{printed}"
    );
}

#[tokio::test]
async fn cached_prompt_tokens_are_priced_at_the_cached_price() {
    // A long prompt whose first 1,536 tokens came from the prompt cache.
    let body = ANSWER.replace(
        r#""prompt_tokens": 52, "completion_tokens": 21, "total_tokens": 73,
    "prompt_tokens_details": {"cached_tokens": 0"#,
        r#""prompt_tokens": 2006, "completion_tokens": 21, "total_tokens": 2027,
    "prompt_tokens_details": {"cached_tokens": 1536"#,
    );
    assert_ne!(body, ANSWER, "the usage was replaced");
    let server = serving(ROUTE, json(200, &body)).await;
    // Default: cached input at half the input price.
    let c = call(&openai(&server.uri(), "")).await.unwrap();
    assert_eq!(
        (c.tokens_in, c.tokens_cached_in, c.tokens_out),
        (2006, 1536, 21)
    );
    let expected = (470.0 * 0.15 + 1536.0 * 0.075 + 21.0 * 0.6) / 1e6;
    assert!(
        (c.cost_usd - expected).abs() < 1e-12,
        "{} {expected}",
        c.cost_usd
    );
    // A model with a deeper discount, set in the providers file.
    let c = call(&openai(&server.uri(), "price_cache_read_per_m=0.015"))
        .await
        .unwrap();
    let expected = (470.0 * 0.15 + 1536.0 * 0.015 + 21.0 * 0.6) / 1e6;
    assert!(
        (c.cost_usd - expected).abs() < 1e-12,
        "{} {expected}",
        c.cost_usd
    );
}

#[tokio::test]
async fn more_cached_tokens_than_prompt_tokens_count_as_the_prompt() {
    let body = ANSWER.replace(r#""cached_tokens": 0"#, r#""cached_tokens": 9999"#);
    let server = serving(ROUTE, json(200, &body)).await;
    let c = call(&openai(&server.uri(), "")).await.unwrap();
    assert_eq!((c.tokens_in, c.tokens_cached_in), (52, 52));
}

/// A judge call in structured mode: the schema asks for one entry per item,
/// each naming an item asked about and then one of the judge's labels (so
/// a server enforcing it, as llama.cpp does, makes a small model label
/// every item right after its name rather than repeat the list or recite
/// the labels), and the answer's entries, out of order, go to the items
/// they name.
#[tokio::test]
async fn a_judge_call_asks_for_one_label_per_item() {
    use igentai_protocol::Answer;
    let answer = ANSWER.replace(
        r#""Here are 3 Paris attractions:\n\n1. **Louvre**\n2. Musée d'Orsay\n3. Sainte-Chapelle""#,
        r#""{\"verdicts\": [{\"item\": \"Louvre\", \"label\": \"member\"}, {\"item\": \"Le Truc\", \"label\": \"unsure\"}, {\"item\": \"Moon Tower\", \"label\": \"invented\"}]}""#,
    );
    let server = serving(ROUTE, json(200, &answer)).await;
    let p = openai(&server.uri(), "");
    let request = igentai_protocol::JudgeRequest {
        v: 1,
        run_id: "r".into(),
        topic: "Paris attractions".into(),
        items: vec!["Louvre".into(), "Moon Tower".into(), "Le Truc".into()],
        weights: Default::default(),
        confirm: false,
        closed: false,
    };
    let prompt = worker::prompt::judge(&request);
    let lease = p.entries()[0]
        .try_lease(Instant::now(), 100)
        .expect("the provider is available");
    let c = lease.call(&prompt).await.unwrap();
    assert_eq!(
        worker::parse::parse_verdicts(&c.text, &request.items),
        [Answer::Yes, Answer::No, Answer::Unsure]
    );
    let body: serde_json::Value = server.received_requests().await.unwrap()[0]
        .body_json()
        .unwrap();
    let schema = &body["response_format"]["json_schema"]["schema"]["properties"]["verdicts"];
    assert_eq!(
        schema["items"]["properties"]["label"]["enum"],
        serde_json::json!(["member", "other", "invented", "unsure"])
    );
    assert_eq!(
        schema["items"]["properties"]["item"]["enum"],
        serde_json::json!(["Louvre", "Moon Tower", "Le Truc"])
    );
    assert_eq!(
        (schema["minItems"].as_u64(), schema["maxItems"].as_u64()),
        (Some(3), Some(3))
    );
    let user = body["messages"][1]["content"].as_str().unwrap();
    assert!(user.contains(worker::prompt::JUDGE_JSON_FORMAT), "{user}");
    assert!(
        user.ends_with("1. Louvre\n2. Moon Tower\n3. Le Truc"),
        "{user}"
    );
}

#[tokio::test]
async fn the_judge_s_second_question_is_asked_in_plain_text() {
    let answer = ANSWER.replace(
        r#""Here are 3 Paris attractions:\n\n1. **Louvre**\n2. Musée d'Orsay\n3. Sainte-Chapelle""#,
        r#""The Louvre""#,
    );
    let server = serving(ROUTE, json(200, &answer)).await;
    // A provider asking for structured output (the default) asks for no
    // JSON here: the answer is one name.
    let p = openai(&server.uri(), "max_tokens=400\ntemperature=0.7");
    let prompt = worker::prompt::identify(
        "Paris attractions",
        "Louvre",
        worker::prompt::Question::Strict,
    );
    let lease = p.entries()[0]
        .try_lease(Instant::now(), 100)
        .expect("the provider is available");
    let c = lease.call(&prompt).await.unwrap();
    assert!(
        worker::parse::identity::confirms("Louvre", &c.text),
        "{}",
        c.text
    );
    let body: serde_json::Value = server.received_requests().await.unwrap()[0]
        .body_json()
        .unwrap();
    assert!(body.get("response_format").is_none(), "{body}");
    assert_eq!(body["messages"][1]["content"], prompt.user.as_str());
    assert_eq!(body["temperature"], 0.0);
    assert_eq!(body["max_tokens"], 19);
}
