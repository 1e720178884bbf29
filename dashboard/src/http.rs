//! The web server: the page and its assets ([`crate::assets`]), the `/ws`
//! feed, the control endpoints `/api/{start,stop,weights}` and
//! `/api/status`, the `output.txt` download, `/metrics` for Prometheus,
//! `/api/relay` (the relay's own counters) and `/healthz`.
//!
//! The control endpoints can start runs that cost money, so requests a
//! browser makes on behalf of another site are refused: a POST or WebSocket
//! upgrade whose `Origin` is not this server's own host gets 403. Tools such
//! as curl send no `Origin` and are served. When a control token is
//! configured, the POSTs also need it (401 otherwise).

use std::path::PathBuf;

use axum::body::Body;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use igentai_protocol::{ControlVerb, MAX_CONTROL_BYTES};
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::assets::ASSETS;
use crate::auth::ControlToken;
use crate::control::{Answer, Control};
use crate::feed::{Feed, Stats};
use crate::{exposition, output, prometheus, ws};

/// What every handler may use.
#[derive(Clone)]
pub struct AppState {
    pub feed: Feed,
    pub control: Control,
    /// Cancelled on shutdown; WebSocket sessions close when it is.
    pub shutdown: CancellationToken,
    /// WebSocket sessions, so shutdown can wait for their close frames.
    pub sessions: TaskTracker,
    /// The coordinator's data folder, for the `output.txt` download.
    pub data_dir: PathBuf,
    /// Required by the control POSTs when set.
    pub token: Option<ControlToken>,
}

pub fn router(state: AppState) -> Router {
    let mut router = Router::new();
    for asset in ASSETS {
        router = router.route(asset.path, get(move || async move { asset.response() }));
    }
    router
        .route("/healthz", get(|| async { "ok" }))
        .route("/ws", get(websocket))
        .route("/metrics", get(metrics))
        .route("/api/relay", get(relay_stats))
        .route("/api/status", get(status))
        .route("/api/output.txt", get(download))
        .route("/api/start", post(start))
        .route("/api/stop", post(stop))
        .route("/api/weights", post(weights))
        .with_state(state)
}

async fn websocket(
    State(state): State<AppState>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    if !same_origin(&headers) {
        return cross_origin().into_response();
    }
    let AppState {
        feed,
        shutdown,
        sessions,
        ..
    } = state;
    upgrade.on_upgrade(move |socket| sessions.track_future(ws::serve(socket, feed, shutdown)))
}

/// `GET /api/relay`: the dashboard's own view, no coordinator involved.
#[derive(Serialize)]
struct RelayView {
    /// `connected`, `connecting` (never connected yet) or `disconnected`.
    nats: &'static str,
    #[serde(flatten)]
    stats: Stats,
}

async fn relay_stats(State(state): State<AppState>) -> Json<RelayView> {
    Json(RelayView {
        nats: state.control.nats_state(),
        stats: state.feed.stats(),
    })
}

/// `GET /metrics`: Prometheus text format.
async fn metrics(State(state): State<AppState>) -> Response {
    let snapshot = state.feed.snapshot();
    let text = prometheus::render(
        snapshot.as_deref(),
        &state.feed.stats(),
        state.control.nats_state() == "connected",
    );
    (
        [
            (header::CONTENT_TYPE, exposition::CONTENT_TYPE),
            (header::CACHE_CONTROL, "no-store"),
        ],
        text,
    )
        .into_response()
}

/// `GET /api/output.txt`: the current topic's items, one per line.
async fn download(State(state): State<AppState>) -> Response {
    let snapshot = state.feed.snapshot();
    let slug = snapshot
        .as_ref()
        .and_then(|s| s.run.as_ref())
        .map(|run| run.slug.as_str());
    output::download(&state.data_dir, slug).await
}

async fn status(State(state): State<AppState>) -> Answer {
    state
        .control
        .forward(ControlVerb::Status, Bytes::new())
        .await
}

async fn start(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Answer {
    forward_post(&state, ControlVerb::Start, &headers, body).await
}

async fn stop(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Answer {
    forward_post(&state, ControlVerb::Stop, &headers, body).await
}

/// An empty body reads the weights; `{"weights":{..}}` overrides them,
/// `{"clear":true}` goes back to learned ones.
async fn weights(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Answer {
    forward_post(&state, ControlVerb::Weights, &headers, body).await
}

async fn forward_post(
    state: &AppState,
    verb: ControlVerb,
    headers: &HeaderMap,
    body: Body,
) -> Answer {
    if !same_origin(headers) {
        return cross_origin();
    }
    if let Some(token) = &state.token
        && !token.admits(headers)
    {
        return unauthorized();
    }
    match read_body(headers, body, MAX_CONTROL_BYTES).await {
        Ok(body) => state.control.forward(verb, body).await,
        Err(answer) => answer,
    }
}

fn cross_origin() -> Answer {
    Answer::error(
        StatusCode::FORBIDDEN,
        "cross-origin request refused: use the dashboard page or a client without an Origin header",
    )
}

fn unauthorized() -> Answer {
    Answer::error(
        StatusCode::UNAUTHORIZED,
        "this dashboard requires its control token: send `Authorization: Bearer <token>` \
         (the token is the dashboard's --control-token / IGENTAI_DASHBOARD_TOKEN)",
    )
}

/// The request body, refused with a JSON error past `limit` bytes.
async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, Answer> {
    let too_large = || {
        Answer::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body is larger than {limit} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(too_large());
    }
    let mut stream = body.into_data_stream();
    let mut buf = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            Answer::error(
                StatusCode::BAD_REQUEST,
                format!("cannot read request body: {e}"),
            )
        })?;
        if buf.len() + chunk.len() > limit {
            return Err(too_large());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// True when the request has no `Origin` (not sent by a browser on behalf of
/// a page) or its `Origin` names the host the request was sent to.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .filter(|(scheme, _)| matches!(*scheme, "http" | "https"))
        .map(|(_, rest)| rest);
    match (origin_host, host) {
        (Some(origin_host), Some(host)) => origin_host.eq_ignore_ascii_case(host),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(origin: Option<&str>, host: Option<&str>, allowed: bool) {
        let mut headers = HeaderMap::new();
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, origin.parse().unwrap());
        }
        if let Some(host) = host {
            headers.insert(header::HOST, host.parse().unwrap());
        }
        assert_eq!(same_origin(&headers), allowed, "{origin:?} {host:?}");
    }

    #[test]
    fn only_own_origin_or_none() {
        check(None, Some("127.0.0.1:8080"), true);
        check(None, None, true);
        check(Some("http://127.0.0.1:8080"), Some("127.0.0.1:8080"), true);
        check(Some("https://Dash.Example"), Some("dash.example"), true);
        check(Some("http://evil.example"), Some("127.0.0.1:8080"), false);
        check(Some("http://127.0.0.1:9999"), Some("127.0.0.1:8080"), false);
        check(Some("null"), Some("127.0.0.1:8080"), false);
        check(Some("file://127.0.0.1:8080"), Some("127.0.0.1:8080"), false);
        check(Some("http://127.0.0.1:8080"), None, false);
    }
}
