//! `coordinator`: runs the coordinator, or with `ctl`, sends it a command,
//! or with `verify`, checks a topic folder.

use clap::Parser;
use coordinator::{Cli, Command};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Ctl { verb }) => {
            return coordinator::ctl(&cli.config.nats, verb).await;
        }
        Some(Command::Verify { folder, min_items }) => {
            return coordinator::verify(&folder, min_items);
        }
        None => {}
    }
    igentai_client::init_tracing("info,async_nats=warn");
    coordinator::serve(cli.config, igentai_client::shutdown_on_signals()).await
}
