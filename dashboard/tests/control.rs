//! `/api/*` end to end: the dashboard forwards start/stop/status/weights to
//! the control subjects of a real nats-server and hands back whatever
//! answers there (a responder played by the test), byte for byte; with
//! nobody answering it says so in JSON, quickly. With a token, they need
//! it, reads included.

mod common;

use std::time::{Duration, Instant};

use futures::StreamExt;

use common::*;
use igentai_protocol::MAX_CONTROL_BYTES;
use igentai_protocol::subjects::{CONTROL_START, CONTROL_STATUS, CONTROL_STOP, CONTROL_WEIGHTS};

#[tokio::test]
async fn status_is_answered_through_or_reported_missing() {
    let s = setup(&["--request-timeout-ms", "800"]).await;

    // Nobody subscribed: NATS says "no responders" at once.
    let started = Instant::now();
    let response = http(&s.addr, "GET", "/api/status", &[], b"").await;
    assert_eq!(response.status, 502, "{response:?}");
    assert!(
        json_error(&response).contains("no coordinator"),
        "{response:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));

    // Subscribed but silent: the request times out after the configured 800 ms.
    let _silent = responder(&s, CONTROL_WEIGHTS, |_| None).await;
    let started = Instant::now();
    let response = http(&s.addr, "POST", "/api/weights", &[], b"{}").await;
    assert_eq!(response.status, 504, "{response:?}");
    assert!(json_error(&response).contains("800 ms"), "{response:?}");
    let waited = started.elapsed();
    assert!(
        (Duration::from_millis(700)..Duration::from_secs(5)).contains(&waited),
        "{waited:?}"
    );

    // Answered: the reply comes back as-is.
    const STATUS: &str = r#"{"ok":true,"seq":42,"state":"idle","note":"<b>as is</b>"}"#;
    let mut asked = responder(&s, CONTROL_STATUS, |_| Some(STATUS.as_bytes().to_vec())).await;
    let response = http(&s.addr, "GET", "/api/status", &[], b"").await;
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.body, STATUS);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(
        asked.recv().await,
        Some(Vec::new()),
        "status is asked with an empty body"
    );
}

/// A stop answers once the workers confirmed, which may take longer than
/// the dashboard's request timeout: its Stop waits as long as `coordinator
/// ctl stop` does.
#[tokio::test]
async fn a_stop_waits_longer_than_the_request_timeout() {
    let s = setup(&["--request-timeout-ms", "800"]).await;
    const STOPPED: &str = r#"{"ok":true,"state":"stopped","unique":7}"#;
    // The coordinator's part: the stop request reaches it, and it answers
    // when the test says its workers confirmed.
    let mut sub = testkit::subscribe_confirmed(&s.nats, &s.client, CONTROL_STOP).await;
    let (asked, mut stop_request) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(msg) = sub.next().await {
            if !testkit::is_probe(&msg) {
                let _ = asked.send(msg.reply.expect("a request"));
            }
        }
    });
    let addr = s.addr.clone();
    let mut page = tokio::spawn(async move { http(&addr, "POST", "/api/stop", &[], b"").await });
    let reply_to = tokio::time::timeout(Duration::from_secs(10), stop_request.recv())
        .await
        .expect("the stop reaches the coordinator")
        .expect("a reply subject");
    // Three times the request timeout later, the page still waits.
    let waiting = tokio::time::timeout(Duration::from_millis(2400), &mut page).await;
    assert!(
        waiting.is_err(),
        "answered before the workers confirmed: {waiting:?}"
    );
    s.client
        .publish(reply_to, STOPPED.into())
        .await
        .expect("reply");
    let response = tokio::time::timeout(Duration::from_secs(10), page)
        .await
        .expect("the page gets the answer")
        .expect("request task");
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.body, STOPPED);
}

#[tokio::test]
async fn start_forwards_the_body_verbatim() {
    let s = setup(&[]).await;
    let mut got = responder(&s, CONTROL_START, |body| {
        let body = String::from_utf8_lossy(body);
        let reply: &[u8] = if body.contains("refuse") {
            br#"{"ok":false,"error":"unknown field `budjet_usd` <script>"}"#
        } else if body.contains("garble") {
            b"<html>not a reply</html>"
        } else {
            br#"{"ok":true,"run_id":"r1","topic":"t","slug":"t","output_dir":"data/t","resumed":false,"known_items":0}"#
        };
        Some(reply.to_vec())
    })
    .await;
    let json = [("content-type", "application/json")];

    let body = r#"{"topic":"Paris <b>attractions</b>", "target": 5,"budget_usd":0.5}"#;
    let response = http(&s.addr, "POST", "/api/start", &json, body.as_bytes()).await;
    assert_eq!(response.status, 200, "{response:?}");
    assert!(
        response.body.starts_with(r#"{"ok":true,"run_id":"r1""#),
        "{response:?}"
    );
    assert_eq!(got.recv().await.as_deref(), Some(body.as_bytes()));

    // The coordinator's refusal is the message the user reads.
    let refused = r#"{"topic":"x","budjet_usd":1,"refuse":true}"#;
    let response = http(&s.addr, "POST", "/api/start", &json, refused.as_bytes()).await;
    assert_eq!(response.status, 422, "{response:?}");
    assert_eq!(json_error(&response), "unknown field `budjet_usd` <script>");
    assert_eq!(got.recv().await.as_deref(), Some(refused.as_bytes()));

    // A reply that is not a reply is reported, not passed off as one.
    let response = http(&s.addr, "POST", "/api/start", &json, b"garble").await;
    assert_eq!(response.status, 502, "{response:?}");
    assert!(json_error(&response).contains("unreadable"), "{response:?}");
    assert_eq!(got.recv().await.as_deref(), Some(&b"garble"[..]));

    // Too large, or from another site's page: refused here, never forwarded.
    let huge = format!(r#"{{"topic":"{}"}}"#, "x".repeat(MAX_CONTROL_BYTES));
    let response = http(&s.addr, "POST", "/api/start", &json, huge.as_bytes()).await;
    assert_eq!(response.status, 413, "{response:?}");
    assert!(
        json_error(&response).contains(&MAX_CONTROL_BYTES.to_string()),
        "{response:?}"
    );

    let evil = [
        ("content-type", "text/plain"),
        ("origin", "http://evil.example"),
    ];
    let response = http(&s.addr, "POST", "/api/start", &evil, br#"{"topic":"evil"}"#).await;
    assert_eq!(response.status, 403, "{response:?}");
    json_error(&response);

    // The dashboard's own page is welcome.
    let own_origin = format!("http://{}", s.addr);
    let own = [
        ("content-type", "application/json"),
        ("origin", own_origin.as_str()),
    ];
    let response = http(
        &s.addr,
        "POST",
        "/api/start",
        &own,
        br#"{"topic":"own page"}"#,
    )
    .await;
    assert_eq!(response.status, 200, "{response:?}");
    // The next request the coordinator saw is this one: the refused two never reached it.
    assert_eq!(
        got.recv().await.as_deref(),
        Some(&br#"{"topic":"own page"}"#[..])
    );
}

#[tokio::test]
async fn weights_are_forwarded_verbatim() {
    let s = setup(&[]).await;
    let mut got = responder(&s, CONTROL_WEIGHTS, |body| {
        let reply: &[u8] = if body.is_empty() || body.starts_with(br#"{"weights""#) {
            br#"{"ok":true,"weights":{"sim":0.7,"big":0.3},"version":4,"manual":true}"#
        } else {
            br#"{"ok":false,"error":"weight of \"sim\" must be a finite number >= 0, got -1"}"#
        };
        Some(reply.to_vec())
    })
    .await;
    let json = [("content-type", "application/json")];

    let body = br#"{"weights":{"sim":0.7,"big":0.3}}"#;
    let response = http(&s.addr, "POST", "/api/weights", &json, body).await;
    assert_eq!(response.status, 200, "{response:?}");
    assert!(response.body.contains(r#""manual":true"#), "{response:?}");
    assert_eq!(got.recv().await.as_deref(), Some(&body[..]));

    // An empty body reads them.
    let response = http(&s.addr, "POST", "/api/weights", &[], b"").await;
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(got.recv().await.as_deref(), Some(&b""[..]));

    let refused = br#"{"clear":false,"weights2":{"sim":-1}}"#;
    let response = http(&s.addr, "POST", "/api/weights", &json, refused).await;
    assert_eq!(response.status, 422, "{response:?}");
    assert!(
        json_error(&response).contains("finite number"),
        "{response:?}"
    );
    assert_eq!(got.recv().await.as_deref(), Some(&refused[..]));
}

#[tokio::test]
async fn with_a_token_the_controls_and_reads_need_it() {
    const TOKEN: &str = "s3cret-Token_42";
    // The old flag name still works.
    let s = setup_with_token(&["--control-token", TOKEN], TOKEN).await;
    let mut starts = responder(&s, CONTROL_START, |_| {
        Some(br#"{"ok":true,"run_id":"r1","topic":"t","slug":"t","output_dir":"data/t","resumed":false,"known_items":0}"#.to_vec())
    })
    .await;
    let mut stops = responder(&s, CONTROL_STOP, |_| {
        Some(br#"{"ok":false,"error":"no run is active"}"#.to_vec())
    })
    .await;
    let mut weights = responder(&s, CONTROL_WEIGHTS, |_| {
        Some(br#"{"ok":true,"weights":{},"version":0,"manual":false}"#.to_vec())
    })
    .await;
    let _status = responder(&s, CONTROL_STATUS, |_| {
        Some(br#"{"ok":true,"seq":1}"#.to_vec())
    })
    .await;

    let wrong = format!("Bearer {TOKEN}x");
    let lower = format!("Bearer {}", TOKEN.to_lowercase());
    for path in ["/api/start", "/api/stop", "/api/weights"] {
        for headers in [
            vec![],
            vec![("authorization", wrong.as_str())],
            vec![("authorization", lower.as_str())],
            vec![("authorization", TOKEN)],
        ] {
            let response = http(&s.addr, "POST", path, &headers, br#"{"topic":"t"}"#).await;
            assert_eq!(response.status, 401, "{path} {headers:?}: {response:?}");
            assert!(
                json_error(&response).contains("requires its token"),
                "{response:?}"
            );
            assert_eq!(
                response.header("www-authenticate"),
                Some(r#"Bearer realm="igentai dashboard""#)
            );
            assert!(!response.body.contains(TOKEN), "the token is never echoed");
        }
    }

    let right = format!("Bearer {TOKEN}");
    let auth = [("authorization", right.as_str())];
    let response = http(&s.addr, "POST", "/api/start", &auth, br#"{"topic":"t"}"#).await;
    assert_eq!(response.status, 200, "{response:?}");
    let response = http(&s.addr, "POST", "/api/stop", &auth, b"").await;
    assert_eq!(response.status, 422, "{response:?}");
    let response = http(&s.addr, "POST", "/api/weights", &auth, b"").await;
    assert_eq!(response.status, 200, "{response:?}");
    // Only the authorized requests reached the coordinator.
    assert_eq!(
        starts.recv().await.as_deref(),
        Some(&br#"{"topic":"t"}"#[..])
    );
    assert_eq!(stops.recv().await.as_deref(), Some(&b""[..]));
    assert_eq!(weights.recv().await.as_deref(), Some(&b""[..]));
    assert!(starts.try_recv().is_err() && stops.try_recv().is_err() && weights.try_recv().is_err());

    // Reading needs it too, on loopback as well.
    for path in ["/api/status", "/metrics", "/api/relay"] {
        let response = http(&s.addr, "GET", path, &[], b"").await;
        assert_eq!(response.status, 401, "{path}: {response:?}");
        let response = http(&s.addr, "GET", path, &auth, b"").await;
        assert_eq!(response.status, 200, "{path}: {response:?}");
    }
}
