//! The web server: the page and its assets ([`crate::assets`]), the `/ws`
//! feed, the control endpoints `/api/{start,stop,weights}` and
//! `/api/status`, the `output.txt` download, `/metrics` for Prometheus,
//! `/api/relay` (the relay's own counters), `/api/login` and `/healthz`.
//!
//! Three gates, in order. Every route, whatever it is, first needs a `Host`
//! this dashboard answers to ([`crate::host`]; 421 otherwise), which stops
//! DNS rebinding. With a token ([`crate::auth`]), every route but the page,
//! its assets, `/healthz` and `/api/login` needs it (401 otherwise). And
//! requests a browser makes on behalf of another site are refused: a POST or
//! WebSocket upgrade whose `Origin` is not this server's own host gets 403.
//! Tools such as curl send no `Origin` and are served.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
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
use crate::auth::Access;
use crate::control::{Answer, Control};
use crate::feed::{Feed, Stats};
use crate::host::{AllowedHosts, HostName};
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
    /// Who may use the data and control routes.
    pub access: Access,
    /// The names requests may carry in `Host`.
    pub hosts: Arc<AllowedHosts>,
}

pub fn router(state: AppState) -> Router {
    // The page holds no data: it loads without the token, then asks for it.
    let mut open = Router::new();
    for asset in ASSETS {
        open = open.route(asset.path, get(move || async move { asset.response() }));
    }
    let open = open
        .route("/healthz", get(|| async { "ok" }))
        .route("/api/login", post(login));
    let guarded = Router::new()
        .route("/ws", get(websocket))
        .route("/metrics", get(metrics))
        .route("/api/relay", get(relay_stats))
        .route("/api/status", get(status))
        .route("/api/output.txt", get(download))
        .route("/api/start", post(start))
        .route("/api/stop", post(stop))
        .route("/api/weights", post(weights))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    open.merge(guarded)
        // Outermost, so it also covers unknown paths and wrong methods.
        .layer(middleware::from_fn_with_state(
            state.hosts.clone(),
            require_allowed_host,
        ))
        .with_state(state)
}

/// Refuses a request unless every name it carries (each `Host` header, and
/// the authority of an absolute request target) is allowed; one without
/// any name is refused too.
async fn require_allowed_host(
    State(hosts): State<Arc<AllowedHosts>>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request
        .headers()
        .get_all(header::HOST)
        .iter()
        .map(|h| h.to_str().unwrap_or_default());
    let authority = request.uri().authority().map(|a| a.as_str());
    let mut named = false;
    for name in headers.chain(authority) {
        named = true;
        match HostName::from_authority(name) {
            Some(name) if hosts.allows(&name) => {}
            Some(name) => return misdirected(Some(&name)).into_response(),
            None => return misdirected(None).into_response(),
        }
    }
    if !named {
        return misdirected(None).into_response();
    }
    next.run(request).await
}

fn misdirected(name: Option<&HostName>) -> Answer {
    let what = match name {
        Some(name) => format!("this dashboard does not answer to the name {name}"),
        None => "this request names no host (or an unreadable one) in its Host header".into(),
    };
    let allow = match name {
        Some(name) => format!("--allowed-host {name}"),
        None => "--allowed-host NAME".into(),
    };
    Answer::error(
        StatusCode::MISDIRECTED_REQUEST,
        format!(
            "{what}: it serves localhost, loopback addresses, the address it listens on and \
             names allowed by the operator. If this name is really this machine, start the \
             dashboard with `{allow}` (or IGENTAI_DASHBOARD_HOSTS, comma-separated)"
        ),
    )
}

async fn require_token(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if !state.access.admits(request.headers()) {
        return unauthorized().into_response();
    }
    next.run(request).await
}

/// `POST /api/login` with `Authorization: Bearer <token>`: answers with the
/// cookie that lets the page open `/ws`, download `output.txt` and use the
/// controls without sending the token again.
async fn login(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if !same_origin(&headers) {
        return cross_origin().into_response();
    }
    if !state.access.admits_bearer(&headers) {
        return unauthorized().into_response();
    }
    let mut response = Answer {
        status: StatusCode::OK,
        body: Bytes::from_static(br#"{"ok":true}"#),
    }
    .into_response();
    if let Some(cookie) = state.access.login_cookie() {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
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
        "this dashboard requires its token: send `Authorization: Bearer <token>` (the \
         dashboard's --token / IGENTAI_DASHBOARD_TOKEN), or enter it on the page",
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
