//! The `dashboard` binary: parses the command line, starts logging, turns
//! SIGINT/SIGTERM into a shutdown, and runs [`dashboard::run`].

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = dashboard::Config::parse();
    igentai_client::init_tracing("info");
    dashboard::run(config, igentai_client::shutdown_on_signals()).await
}
