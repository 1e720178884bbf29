//! The web server itself: health, the embedded page and its assets (the
//! vendored chart library included), and a clean exit on SIGTERM with
//! browsers still connected.

mod common;

use std::time::Duration;

use common::*;
use futures::StreamExt;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn serves_health_and_the_page() {
    let s = setup(&[]).await;

    let health = http(&s.addr, "GET", "/healthz", &[], b"").await;
    assert_eq!((health.status, health.body.as_str()), (200, "ok"));

    for (path, content_type, marker) in [
        (
            "/",
            "text/html; charset=utf-8",
            r#"<script type="module" src="app.js">"#,
        ),
        (
            "/app.js",
            "text/javascript; charset=utf-8",
            "new WebSocket(",
        ),
        ("/charts.js", "text/javascript; charset=utf-8", "uPlot"),
        (
            "/style.css",
            "text/css; charset=utf-8",
            "prefers-color-scheme",
        ),
        (
            "/vendor/uplot/uPlot.iife.min.js",
            "text/javascript; charset=utf-8",
            "var uPlot=",
        ),
        (
            "/vendor/uplot/uPlot.min.css",
            "text/css; charset=utf-8",
            ".uplot",
        ),
    ] {
        let response = http(&s.addr, "GET", path, &[], b"").await;
        assert_eq!(response.status, 200, "{path}: {response:?}");
        assert_eq!(
            response.header("content-type"),
            Some(content_type),
            "{path}"
        );
        assert!(response.body.contains(marker), "{path} lacks {marker}");
        let csp = response
            .header("content-security-policy")
            .unwrap_or_default();
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
    }

    assert_eq!(http(&s.addr, "GET", "/nope", &[], b"").await.status, 404);
    assert_eq!(
        http(&s.addr, "GET", "/api/start", &[], b"").await.status,
        405
    );

    // Another site's page may not open the feed; the dashboard's own page may.
    let evil = ws_with(&s.addr, &[("origin", "http://evil.example")]).await;
    assert!(
        matches!(&evil, Err(WsError::Http(response)) if response.status() == 403),
        "{evil:?}"
    );
    let own = ws_with(
        &s.addr,
        &[("origin", format!("http://{}", s.addr).as_str())],
    )
    .await;
    assert!(own.is_ok(), "{own:?}");
}

#[tokio::test]
async fn exits_cleanly_on_sigterm_with_clients_connected() {
    let mut s = setup(&[]).await;
    let first = prime(&s.client, &s.addr, 1).await;
    let mut ws = ws_connect(&s.addr).await;
    assert_eq!(recv(&mut ws).await.data, first);

    let status = s.dashboard.terminate(Duration::from_secs(10)).await;
    assert!(status.success(), "dashboard exited with {status}");

    // The client was told, with a close frame, rather than cut off.
    let closed = tokio::time::timeout(FRAME, async {
        while let Some(msg) = ws.next().await {
            if let Ok(Message::Close(frame)) = msg {
                return frame;
            }
        }
        None
    })
    .await
    .expect("the connection ends");
    let frame = closed.expect("a close frame with a reason");
    assert_eq!(frame.reason.as_str(), "dashboard shutting down");
}
