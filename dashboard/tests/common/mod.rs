//! Harness for the dashboard's tests: a real nats-server, the real
//! `dashboard` binary on a free port, a WebSocket client and testkit's
//! minimal HTTP/1.1 client ([`testkit::http`]) bounded by [`FRAME`]; a real
//! headless browser ([`browser`]) and a strict Prometheus text reader
//! ([`exposition`]).

#![allow(dead_code)]

pub mod browser;
pub mod exposition;

use std::path::Path;
use std::time::Duration;

use futures::StreamExt;
use igentai_protocol::{ItemsEvent, MetricsSnapshot, NewItem, Totals, subjects};
use serde::Deserialize;
use serde_json::value::RawValue;
use tempfile::TempDir;
use testkit::{NatsServer, Proc, Role};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const WAIT: Duration = Duration::from_secs(20);
/// How long a test waits for a frame it expects.
pub const FRAME: Duration = Duration::from_secs(10);

pub struct Setup {
    pub dashboard: Proc,
    pub addr: String,
    pub client: async_nats::Client,
    pub nats: NatsServer,
    pub dir: TempDir,
}

/// nats-server, then the dashboard (with `extra` arguments), up and healthy.
/// The client plays the coordinator, with the coordinator's permissions.
pub async fn setup(extra: &[&str]) -> Setup {
    setup_authorized(extra, &[]).await
}

/// [`setup`] for a dashboard started with `token` among `extra`.
pub async fn setup_with_token(extra: &[&str], token: &str) -> Setup {
    let bearer = format!("Bearer {token}");
    setup_authorized(extra, &[("authorization", bearer.as_str())]).await
}

async fn setup_authorized(extra: &[&str], auth: &[(&str, &str)]) -> Setup {
    let dir = testkit::test_dir();
    let nats = NatsServer::start(dir.path()).await;
    let client = nats.client_as(Role::Coordinator).await;
    let (dashboard, addr) = start_dashboard(&nats.url, extra, dir.path()).await;
    wait_nats_connected(&addr, auth).await;
    Setup {
        dashboard,
        addr,
        client,
        nats,
        dir,
    }
}

/// The dashboard, logged in to NATS as `dashboard`.
pub async fn start_dashboard(nats_url: &str, extra: &[&str], log_dir: &Path) -> (Proc, String) {
    let addr = format!("127.0.0.1:{}", testkit::free_port());
    let mut args = vec!["--nats-url", nats_url, "--listen", &addr];
    args.extend_from_slice(extra);
    let proc = Proc::spawn(
        "dashboard",
        Path::new(env!("CARGO_BIN_EXE_dashboard")),
        &args,
        &testkit::creds(Role::Dashboard),
        log_dir,
    );
    wait_healthy(&addr).await;
    (proc, addr)
}

pub async fn wait_healthy(addr: &str) {
    testkit::wait_for(
        "the dashboard to answer /healthz",
        WAIT,
        move || async move {
            let response = try_http(addr, "GET", "/healthz", &[], b"").await.ok()?;
            (response.status == 200).then_some(())
        },
    )
    .await;
}

/// The dashboard connects to NATS in the background: wait until it has
/// (`auth`: the headers that pass its token, if it has one).
pub async fn wait_nats_connected(addr: &str, auth: &[(&str, &str)]) {
    #[derive(Deserialize)]
    struct Relay {
        nats: String,
    }
    testkit::wait_for(
        "the dashboard to connect to NATS",
        WAIT,
        move || async move {
            let response = try_http(addr, "GET", "/api/relay", auth, b"").await.ok()?;
            let relay: Relay = serde_json::from_str(&response.body).ok()?;
            (relay.nats == "connected").then_some(())
        },
    )
    .await;
}

// ---- messages ---------------------------------------------------------

/// A running snapshot with `unique` items. Built from the fields every
/// snapshot must have, so fields the protocol adds with defaults don't
/// concern these tests; parsing it proves it is a snapshot all the same.
pub fn snapshot(seq: u64, unique: u64) -> MetricsSnapshot {
    let mut snapshot: MetricsSnapshot = serde_json::from_value(serde_json::json!({
        "seq": seq,
        "ts_ms": seq,
        "state": "running",
        "run": {
            "run_id": "run-1",
            "topic": "Paris <b>attractions</b>",
            "slug": "paris-attractions",
            "output_dir": "data/paris-attractions",
            "started_at_ms": 1,
            "target": 1000,
            "resumed_items": 0,
        },
        "totals": Totals::default(),
        "providers": {},
        "workers": [],
        "partitions": [],
        "weights": {},
        "backlog": 0,
    }))
    .expect("a snapshot the protocol accepts");
    snapshot.totals.unique = unique;
    snapshot.totals.new_this_run = unique;
    snapshot.totals.candidates = unique * 2;
    snapshot.totals.duplicates = unique;
    snapshot
}

pub fn items_event(first_seq: u64, texts: &[&str]) -> ItemsEvent {
    ItemsEvent {
        v: 1,
        run_id: "run-1".into(),
        items: texts
            .iter()
            .zip(first_seq..)
            .map(|(text, seq)| NewItem {
                seq,
                text: text.to_string(),
                provider: "sim".into(),
                worker_id: "w1".into(),
                partition: None,
            })
            .collect(),
    }
}

/// Publishes `payload` and waits until the server has it, so what follows
/// is ordered after it.
pub async fn publish(client: &async_nats::Client, subject: &'static str, payload: String) {
    client
        .publish(subject, payload.into())
        .await
        .expect("publish");
    client.flush().await.expect("flush");
}

pub async fn publish_snapshot(client: &async_nats::Client, snapshot: &MetricsSnapshot) -> String {
    let json = serde_json::to_string(snapshot).expect("snapshot serializes");
    publish(client, subjects::METRICS, json.clone()).await;
    json
}

pub async fn publish_items(client: &async_nats::Client, event: &ItemsEvent) -> String {
    let json = serde_json::to_string(event).expect("event serializes");
    publish(client, subjects::ITEMS, json.clone()).await;
    json
}

/// Plays the coordinator on one control subject: answers every request
/// with `answer(payload)` (or not at all for `None`), and reports each
/// payload it got. Returns once the server routes the dashboard's requests
/// to it ([`testkit::subscribe_confirmed`]).
pub async fn responder(
    s: &Setup,
    subject: &'static str,
    answer: fn(&[u8]) -> Option<Vec<u8>>,
) -> mpsc::UnboundedReceiver<Vec<u8>> {
    let mut sub = testkit::subscribe_confirmed(&s.nats, &s.client, subject).await;
    let (tx, rx) = mpsc::unbounded_channel();
    let client = s.client.clone();
    tokio::spawn(async move {
        while let Some(msg) = sub.next().await {
            if testkit::is_probe(&msg) {
                continue;
            }
            let _ = tx.send(msg.payload.to_vec());
            if let (Some(reply), Some(body)) = (msg.reply, answer(&msg.payload)) {
                client.publish(reply, body.into()).await.expect("reply");
            }
        }
    });
    rx
}

// ---- WebSocket --------------------------------------------------------

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A relayed frame: its type and its `data`, exactly as sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Got {
    pub kind: String,
    pub data: String,
}

impl Got {
    pub fn metrics(&self) -> MetricsSnapshot {
        assert_eq!(self.kind, "metrics", "{self:?}");
        serde_json::from_str(&self.data).expect("metrics frame holds a snapshot")
    }

    pub fn items(&self) -> ItemsEvent {
        assert_eq!(self.kind, "items", "{self:?}");
        serde_json::from_str(&self.data).expect("items frame holds an items event")
    }
}

#[derive(Deserialize)]
struct WireFrame<'a> {
    #[serde(rename = "type")]
    kind: String,
    #[serde(borrow)]
    data: &'a RawValue,
}

pub async fn ws_connect(addr: &str) -> Ws {
    let (ws, _) = tokio::time::timeout(
        FRAME,
        tokio_tungstenite::connect_async(format!("ws://{addr}/ws")),
    )
    .await
    .expect("websocket handshake timed out")
    .expect("websocket handshake");
    ws
}

/// A WebSocket handshake with extra `headers` (they replace the ones the
/// client would send, `Host` included); the refusal when there is one.
pub async fn ws_with(addr: &str, headers: &[(&str, &str)]) -> Result<Ws, WsError> {
    let mut request = format!("ws://{addr}/ws")
        .into_client_request()
        .expect("websocket request");
    for (name, value) in headers {
        request.headers_mut().insert(
            tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes())
                .expect("header name"),
            value.parse().expect("header value"),
        );
    }
    tokio::time::timeout(FRAME, tokio_tungstenite::connect_async(request))
        .await
        .expect("websocket handshake timed out")
        .map(|(ws, _)| ws)
}

/// A client whose socket receive buffer is capped at `bytes`, so a client
/// that stops reading pushes back on the dashboard quickly.
pub async fn ws_connect_with_recv_buffer(addr: &str, bytes: u32) -> Ws {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(bytes).expect("SO_RCVBUF");
    let stream = socket
        .connect(addr.parse().expect("socket address"))
        .await
        .expect("connect");
    let (ws, _) = tokio::time::timeout(
        FRAME,
        tokio_tungstenite::client_async(format!("ws://{addr}/ws"), MaybeTlsStream::Plain(stream)),
    )
    .await
    .expect("websocket handshake timed out")
    .expect("websocket handshake");
    ws
}

/// The next data frame (metrics or items; `hello` and the `history` sent
/// on connect are skipped), or `None` if none arrives within `within`.
pub async fn try_recv(ws: &mut Ws, within: Duration) -> Option<Got> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let got = try_recv_any(ws, deadline - tokio::time::Instant::now()).await?;
        if got.kind != "history" {
            return Some(got);
        }
    }
}

/// The next frame other than `hello`, or `None` if none arrives within `within`.
pub async fn try_recv_any(ws: &mut Ws, within: Duration) -> Option<Got> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next()).await.ok()?;
        let text = match msg {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(_))) | None => return None,
            Some(Ok(_)) => continue,
            Some(Err(e)) => panic!("websocket error: {e}"),
        };
        let frame: WireFrame<'_> = serde_json::from_str(text.as_str())
            .unwrap_or_else(|e| panic!("frame is not {{type, data}}: {e}: {text}"));
        if frame.kind == "hello" {
            continue;
        }
        return Some(Got {
            kind: frame.kind,
            data: frame.data.get().to_string(),
        });
    }
}

pub async fn recv(ws: &mut Ws) -> Got {
    try_recv(ws, FRAME)
        .await
        .expect("no frame within the timeout")
}

pub async fn close(mut ws: Ws) {
    let _ = ws.close(None).await;
}

/// Publishes snapshot `seq` until a freshly connected client sees it: from
/// then on the dashboard's subscription is live and holds that snapshot as
/// its latest. Returns the snapshot's JSON.
pub async fn prime(client: &async_nats::Client, addr: &str, seq: u64) -> String {
    let snapshot = snapshot(seq, 10);
    let snapshot = &snapshot;
    testkit::wait_for(
        "the dashboard to relay a first snapshot",
        WAIT,
        move || async move {
            let json = publish_snapshot(client, snapshot).await;
            let mut ws = ws_connect(addr).await;
            let got = try_recv(&mut ws, Duration::from_millis(500)).await;
            close(ws).await;
            got.filter(|got| got.kind == "metrics" && got.data == json)
                .map(|_| json)
        },
    )
    .await
}

// ---- HTTP -------------------------------------------------------------

pub use testkit::http::Response;

pub async fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    try_http(addr, method, path, headers, body)
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// Sends `Host: <addr>` unless `headers` name a host of their own.
pub async fn try_http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Response> {
    testkit::http::request(addr, method, path, headers, body, FRAME).await
}

/// Sends `request` as it is (no header added) and reads the response.
pub async fn raw_http(addr: &str, request: &[u8]) -> std::io::Result<Response> {
    testkit::http::raw_request(addr, request, FRAME).await
}

/// The `error` of a JSON error answer (`{"ok":false,"error":..}`).
pub fn json_error(response: &Response) -> String {
    assert_eq!(
        response.header("content-type"),
        Some("application/json"),
        "{response:?}"
    );
    #[derive(serde::Deserialize)]
    struct Error {
        ok: bool,
        error: String,
    }
    let error: Error = serde_json::from_str(&response.body)
        .unwrap_or_else(|e| panic!("not a JSON error ({e}): {response:?}"));
    assert!(!error.ok, "{response:?}");
    error.error
}
