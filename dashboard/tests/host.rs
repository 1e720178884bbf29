//! The dashboard answers only to this machine's names (DNS rebinding: a
//! page on `evil.example` that makes its name resolve to 127.0.0.1 passes
//! the `Origin` check, but its requests say `Host: evil.example`). The real
//! binary on a real nats-server refuses such a request with 421 on every
//! route, the page, the WebSocket and the controls included, and serves
//! `localhost`, loopback addresses and names given with `--allowed-host`.

mod common;

use common::*;
use igentai_protocol::subjects::CONTROL_STOP;
use tokio_tungstenite::tungstenite::Error as WsError;

/// Every route, and a path that is none.
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/"),
    ("GET", "/app.js"),
    ("GET", "/healthz"),
    ("GET", "/api/status"),
    ("GET", "/api/output.txt"),
    ("GET", "/api/relay"),
    ("GET", "/metrics"),
    ("POST", "/api/start"),
    ("POST", "/api/stop"),
    ("POST", "/api/weights"),
    ("POST", "/api/login"),
    ("GET", "/nope"),
];

fn port(s: &Setup) -> &str {
    s.addr.rsplit_once(':').map(|(_, port)| port).unwrap_or("")
}

#[tokio::test]
async fn other_names_are_refused_on_every_route() {
    let s = setup(&[]).await;
    let mut stops = responder(&s, CONTROL_STOP, |_| {
        Some(br#"{"ok":false,"error":"no run is active"}"#.to_vec())
    })
    .await;
    let port = port(&s);

    let with_port = format!("evil.example:{port}");
    for host in ["evil.example", with_port.as_str(), "EVIL.example."] {
        for (method, path) in ROUTES {
            let response = http(&s.addr, method, path, &[("host", host)], b"").await;
            assert_eq!(response.status, 421, "{method} {path} {host}: {response:?}");
            let error = json_error(&response);
            assert!(
                error.contains("does not answer to the name evil.example")
                    && error.contains("--allowed-host evil.example"),
                "{error}"
            );
        }
        let ws = ws_with(&s.addr, &[("host", host)]).await;
        assert!(
            matches!(&ws, Err(WsError::Http(response)) if response.status() == 421),
            "{host}: {ws:?}"
        );
    }

    // A Host that is no name at all, and none: refused too.
    for host in ["<script>", "evil.example:http", "user@127.0.0.1"] {
        let response = http(&s.addr, "GET", "/", &[("host", host)], b"").await;
        assert_eq!(response.status, 421, "{host}: {response:?}");
        assert!(json_error(&response).contains("--allowed-host NAME"));
        assert!(!response.body.contains("<script>"), "{response:?}");
    }
    let response = raw_http(&s.addr, b"GET / HTTP/1.0\r\n\r\n")
        .await
        .expect("an answer");
    assert_eq!(response.status, 421, "{response:?}");
    // Every Host counts when there are several.
    let both = [("host", s.addr.as_str()), ("host", "evil.example")];
    let response = http(&s.addr, "GET", "/api/relay", &both, b"").await;
    assert_eq!(response.status, 421, "{response:?}");
    // An absolute request target names the host too.
    let absolute = format!(
        "GET http://evil.example:{port}/ HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        s.addr
    );
    let response = raw_http(&s.addr, absolute.as_bytes())
        .await
        .expect("an answer");
    assert_eq!(response.status, 421, "{response:?}");

    // None of the refused controls reached the coordinator; this one does.
    let response = http(&s.addr, "POST", "/api/stop", &[], b"").await;
    assert_eq!(response.status, 422, "{response:?}");
    assert_eq!(stops.recv().await.as_deref(), Some(&b""[..]));
    assert!(
        stops.try_recv().is_err(),
        "only the served stop was forwarded"
    );
}

#[tokio::test]
async fn this_machines_names_and_allowed_ones_are_served() {
    let s = setup(&["--allowed-host", "dash.example,Other.Example."]).await;
    let mut stops = responder(&s, CONTROL_STOP, |_| {
        Some(br#"{"ok":false,"error":"no run is active"}"#.to_vec())
    })
    .await;
    let port = port(&s);
    for host in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("127.1.2.3:{port}"),
        format!("[::1]:{port}"),
        "localhost".to_string(),
        format!("dash.example:{port}"),
        "other.example".to_string(),
    ] {
        let host = host.as_str();
        for path in ["/", "/healthz", "/api/relay", "/metrics"] {
            let response = http(&s.addr, "GET", path, &[("host", host)], b"").await;
            assert_eq!(response.status, 200, "{path} {host}: {response:?}");
        }
        let response = http(&s.addr, "POST", "/api/stop", &[("host", host)], b"").await;
        assert_eq!(response.status, 422, "{host}: {response:?}");
        assert_eq!(stops.recv().await.as_deref(), Some(&b""[..]), "{host}");
        let ws = ws_with(&s.addr, &[("host", host)]).await;
        assert!(ws.is_ok(), "{host}: {ws:?}");
    }
    assert!(
        stops.try_recv().is_err(),
        "only the served stops were forwarded"
    );
}
