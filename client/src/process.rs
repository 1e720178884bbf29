//! What every igentai binary does before it runs: logging and the shutdown
//! signal. One home, so the coordinator, the workers and the dashboard log
//! alike and stop alike.
//!
//! Logs go to standard output; colours only when that is a terminal, so the
//! log files the scripts write (`run/*.log`) hold plain text. SIGINT and
//! SIGTERM cancel one [`CancellationToken`]; each service stops taking work
//! on it, finishes or hands back what is in flight, persists and drains NATS.

use std::io::IsTerminal;

use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

/// Starts logging with `RUST_LOG`, or `default_filter` when it is unset.
pub fn init_tracing(default_filter: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter)),
        )
        .with_ansi(std::io::stdout().is_terminal())
        .init();
}

/// A token cancelled on the first SIGINT or SIGTERM. Call inside the
/// tokio runtime.
pub fn shutdown_on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops this process");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        tracing::info!("shutdown requested");
        cancel.cancel();
    });
    token
}
