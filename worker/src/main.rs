//! `worker`: one member of the fleet.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = worker::Config::parse();
    igentai_client::init_tracing("info,async_nats=warn");
    worker::run(config, igentai_client::shutdown_on_signals()).await
}
