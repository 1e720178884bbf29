//! igentai's dashboard: relays the coordinator's metrics snapshots and new
//! items from NATS to browsers over a WebSocket, serves the page that shows
//! them (with charts, tables and a searchable feed), forwards the page's
//! start/stop/status/weights actions to the coordinator's control subjects,
//! exposes the run to Prometheus (`/metrics`) and offers the current
//! topic's `output.txt` for download.
//!
//! The dashboard only reads metrics and forwards control requests a person
//! made: it never publishes work and keeps no state worth persisting, so it
//! can be restarted, or run several times, at will.
//!
//! Code map: [`config`] (command line), [`relay`] (NATS → [`feed`]),
//! [`feed`] (latest snapshot, recent items, broadcast), [`history`] (the
//! run's chart points), [`frame`] (what goes on the WebSocket), [`ws`] (one
//! browser session), [`control`] (HTTP → NATS requests), [`host`] (the
//! names it answers to), [`auth`] (the token), [`output`] (the `output.txt` download), [`prometheus`]
//! and [`exposition`] (`/metrics`), [`assets`] (the embedded page),
//! [`http`] (routes).

pub mod assets;
pub mod auth;
pub mod config;
pub mod control;
pub mod exposition;
pub mod feed;
pub mod frame;
pub mod history;
pub mod host;
pub mod http;
pub mod output;
pub mod prometheus;
pub mod relay;
pub mod ws;

use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

pub use config::Config;

use crate::auth::Access;
use crate::control::Control;
use crate::feed::Feed;
use crate::host::AllowedHosts;
use crate::http::AppState;

/// Serves the dashboard until `shutdown` is cancelled, then closes the
/// WebSocket sessions and drains the NATS client.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let listener = TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr().context("listening address")?;
    if !addr.ip().is_loopback() && config.token.is_none() {
        anyhow::bail!(
            "refusing to listen on {addr} without a token: anyone who can reach it could \
             read the run and start paid ones. Set --token <secret> (or \
             IGENTAI_DASHBOARD_TOKEN), or listen on 127.0.0.1"
        );
    }
    let hosts = AllowedHosts::new(addr.ip(), &config.allowed_hosts);

    let client = connect(&config).await?;
    let feed = Feed::new(config.ws_buffer as usize);
    let subscriptions = relay::subscribe(&client).await?;
    let tasks = TaskTracker::new();
    tasks.spawn(relay::run(subscriptions, feed.clone(), shutdown.clone()));

    let sessions = TaskTracker::new();
    let app = http::router(AppState {
        feed,
        control: Control::new(client.clone(), config.request_timeout()),
        shutdown: shutdown.clone(),
        sessions: sessions.clone(),
        data_dir: config.data_dir.clone(),
        access: Access::new(config.token.clone(), addr.port()),
        hosts: Arc::new(hosts.clone()),
    });
    info!(
        data_dir = %config.data_dir.display(),
        token = config.token.is_some(),
        allowed_hosts = %hosts.extra(),
        "dashboard listening on http://{addr}"
    );
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.clone().cancelled_owned())
        .await
        .context("web server failed");

    // The server may also have stopped on its own: stop everything else too.
    shutdown.cancel();
    sessions.close();
    sessions.wait().await;
    tasks.close();
    tasks.wait().await;
    if let Err(e) = igentai_client::close(&client).await {
        warn!(error = %e, "closing the NATS connection failed");
    }
    info!("dashboard stopped");
    served
}

/// Connects in the background, as every role does (`igentai_client`): the
/// page is served (and says "no data") while NATS is unreachable, and the
/// client reconnects forever.
async fn connect(config: &Config) -> anyhow::Result<async_nats::Client> {
    info!(server = %config::redact_url(&config.nats.url), "connecting to NATS");
    let timeout = config.request_timeout();
    config
        .nats
        .connect_with("dashboard", "igentai-dashboard", |options| {
            options.request_timeout(Some(timeout))
        })
        .await
}
