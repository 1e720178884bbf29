//! A dashboard listening beyond loopback guards its data with the token,
//! not only its controls: the real binary on 0.0.0.0, with a real
//! nats-server, answers `/api/status`, `/api/output.txt`, `/metrics`,
//! `/api/relay` and the WebSocket with 401 without the token and serves
//! them with it (as `Authorization: Bearer`, or the cookie `/api/login`
//! sets for the page). Without a token it refuses to start.

mod common;

use std::path::Path;
use std::process::Stdio;

use common::*;
use igentai_protocol::subjects::{CONTROL_STATUS, CONTROL_STOP};
use testkit::{NatsServer, Proc, Role};
use tokio_tungstenite::tungstenite::Error as WsError;

const TOKEN: &str = "s3cret;Token_42";

/// The data routes, and a line each serves once authorized.
const DATA: &[(&str, &str)] = &[
    ("/api/status", r#""seq":7"#),
    ("/api/output.txt", "Louvre\n"),
    ("/metrics", "igentai_unique_items 10"),
    ("/api/relay", r#""nats":"connected""#),
];

#[tokio::test]
async fn beyond_loopback_every_data_route_needs_the_token() {
    let data = tempfile::tempdir().expect("data dir");
    let folder = data.path().join("paris-attractions");
    std::fs::create_dir_all(&folder).expect("topic folder");
    std::fs::write(folder.join("output.txt"), "Louvre\nEiffel Tower\n").expect("output.txt");

    let dir = testkit::test_dir();
    let nats = NatsServer::start(dir.path()).await;
    let port = testkit::free_port();
    let listen = format!("0.0.0.0:{port}");
    let data_dir = data.path().to_str().expect("UTF-8 path");
    // The token comes from the environment, as the scripts give it.
    let mut env = testkit::creds(Role::Dashboard).to_vec();
    env.push(("IGENTAI_DASHBOARD_TOKEN", TOKEN));
    let _dashboard = Proc::spawn(
        "dashboard",
        Path::new(env!("CARGO_BIN_EXE_dashboard")),
        &[
            "--nats-url",
            &nats.url,
            "--listen",
            &listen,
            "--data-dir",
            data_dir,
        ],
        &env,
        dir.path(),
    );
    let addr = format!("127.0.0.1:{port}");
    wait_healthy(&addr).await;
    let bearer = format!("Bearer {TOKEN}");
    let auth = [("authorization", bearer.as_str())];
    wait_nats_connected(&addr, &auth).await;

    let client = nats.client_as(Role::Coordinator).await;
    let s = Setup {
        dashboard: _dashboard,
        addr,
        client,
        nats,
        dir,
    };
    let _status = responder(&s, CONTROL_STATUS, |_| {
        Some(br#"{"ok":true,"seq":7}"#.to_vec())
    })
    .await;
    let mut stops = responder(&s, CONTROL_STOP, |_| {
        Some(br#"{"ok":false,"error":"no run is active"}"#.to_vec())
    })
    .await;
    // A snapshot naming the topic, so the download has a file to serve.
    let addr = s.addr.as_str();
    let client = &s.client;
    let auth = &auth;
    testkit::wait_for("the dashboard to relay a snapshot", WAIT, || async move {
        publish_snapshot(client, &snapshot(1, 10)).await;
        let response = http(addr, "GET", "/api/output.txt", auth, b"").await;
        (response.status == 200).then_some(())
    })
    .await;

    // The page holds no data: it loads, then asks for the token.
    for path in ["/", "/app.js", "/healthz"] {
        let response = http(addr, "GET", path, &[], b"").await;
        assert_eq!(response.status, 200, "{path}: {response:?}");
    }

    let wrong = format!("Bearer {TOKEN}x");
    for (path, served) in DATA {
        for headers in [vec![], vec![("authorization", wrong.as_str())]] {
            let response = http(addr, "GET", path, &headers, b"").await;
            assert_eq!(response.status, 401, "{path} {headers:?}: {response:?}");
            let error = json_error(&response);
            assert!(error.contains("--token"), "{error}");
            assert!(!response.body.contains(served), "{path}: {response:?}");
        }
        let response = http(addr, "GET", path, auth, b"").await;
        assert_eq!(response.status, 200, "{path}: {response:?}");
        assert!(response.body.contains(served), "{path}: {response:?}");
    }

    // The WebSocket: refused without, served with the header.
    for headers in [vec![], vec![("authorization", wrong.as_str())]] {
        let ws = ws_with(addr, &headers).await;
        assert!(
            matches!(&ws, Err(WsError::Http(response)) if response.status() == 401),
            "{headers:?}: {ws:?}"
        );
    }
    let mut ws = ws_with(addr, auth).await.expect("authorized websocket");
    assert_eq!(recv(&mut ws).await.metrics().seq, 1);
    close(ws).await;

    // Controls: refused without, forwarded with.
    let response = http(addr, "POST", "/api/stop", &[], b"").await;
    assert_eq!(response.status, 401, "{response:?}");
    let response = http(addr, "POST", "/api/stop", auth, b"").await;
    assert_eq!(response.status, 422, "{response:?}");
    assert_eq!(stops.recv().await.as_deref(), Some(&b""[..]));
    assert!(
        stops.try_recv().is_err(),
        "the refused stop never reached NATS"
    );

    // The page's way: the token once on /api/login, then the cookie.
    let response = http(addr, "POST", "/api/login", &[], b"").await;
    assert_eq!(response.status, 401, "{response:?}");
    let response = http(
        addr,
        "POST",
        "/api/login",
        &[("authorization", wrong.as_str())],
        b"",
    )
    .await;
    assert_eq!(response.status, 401, "{response:?}");
    assert_eq!(response.header("set-cookie"), None);
    let response = http(addr, "POST", "/api/login", auth, b"").await;
    assert_eq!(response.status, 200, "{response:?}");
    let set_cookie = response.header("set-cookie").expect("a cookie").to_string();
    assert!(
        set_cookie.ends_with("; Path=/; HttpOnly; SameSite=Strict"),
        "{set_cookie}"
    );
    assert!(!set_cookie.contains(TOKEN), "{set_cookie}");
    let cookie = set_cookie.split(';').next().unwrap_or_default();
    let with_cookie = [("cookie", cookie)];
    for (path, served) in DATA {
        let response = http(addr, "GET", path, &with_cookie, b"").await;
        assert_eq!(response.status, 200, "{path}: {response:?}");
        assert!(response.body.contains(served), "{path}: {response:?}");
    }
    let mut ws = ws_with(addr, &with_cookie)
        .await
        .expect("websocket with the cookie");
    assert_eq!(recv(&mut ws).await.metrics().seq, 1);
    close(ws).await;
}

#[tokio::test]
async fn beyond_loopback_without_a_token_it_refuses_to_start() {
    let dir = testkit::test_dir();
    let nats = NatsServer::start(dir.path()).await;
    let listen = format!("0.0.0.0:{}", testkit::free_port());
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_dashboard"))
        .args(["--nats-url", &nats.url, "--listen", &listen])
        .envs(testkit::creds(Role::Dashboard))
        .env_remove("IGENTAI_DASHBOARD_TOKEN")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(WAIT, run)
        .await
        .expect("the dashboard must exit, not serve without a token")
        .expect("run the dashboard");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{}: {stderr}", output.status);
    assert!(
        stderr.contains(&format!("refusing to listen on {listen} without a token"))
            && stderr.contains("--token"),
        "{stderr}"
    );
}
