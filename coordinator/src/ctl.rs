//! `coordinator ctl`: control commands from a terminal, for machines without
//! the `nats` CLI. Sends the same requests as `nats req` and prints the reply.

use std::time::Duration;

use anyhow::Context;
use clap::Subcommand;
use igentai_protocol::{ControlVerb, StartRequest, VERSION};

#[derive(Debug, Subcommand)]
pub enum Verb {
    /// Start (or resume) a topic.
    Start {
        /// The topic, e.g. "Paris attractions".
        topic: String,
        /// Stop once this many unique items exist.
        #[arg(long)]
        target: Option<u64>,
        /// Stop once the run has spent this many US dollars.
        #[arg(long)]
        budget_usd: Option<f64>,
        /// Stop after this many seconds.
        #[arg(long)]
        max_duration_s: Option<u64>,
        /// Stop once the estimated coverage reaches this share (0-1].
        #[arg(long)]
        min_coverage: Option<f64>,
        /// Stop once recent answers yield fewer new items per 1k tokens.
        #[arg(long)]
        min_yield_per_1k_tokens: Option<f64>,
        /// Items asked for per LLM request.
        #[arg(long)]
        items_per_request: Option<u32>,
    },
    /// Stop the running run; returns once the workers confirmed.
    Stop,
    /// Print the status: run, totals, providers, workers.
    Status,
}

/// Sends the command and prints the reply; fails when the coordinator
/// refused it or did not answer.
pub async fn ctl(nats_url: &str, verb: Verb) -> anyhow::Result<()> {
    let client = async_nats::ConnectOptions::new()
        .name("igentai-ctl")
        .connection_timeout(Duration::from_secs(5))
        .connect(nats_url)
        .await
        .with_context(|| format!("connect to NATS at {nats_url}"))?;
    let (verb, payload) = match verb {
        Verb::Start {
            topic,
            target,
            budget_usd,
            max_duration_s,
            min_coverage,
            min_yield_per_1k_tokens,
            items_per_request,
        } => {
            let request = StartRequest {
                v: VERSION,
                topic,
                target,
                budget_usd,
                max_duration_s,
                min_coverage,
                min_yield_per_1k_tokens,
                items_per_request,
                prompt_template: None,
                strategies: Default::default(),
            };
            (ControlVerb::Start, serde_json::to_vec(&request)?)
        }
        Verb::Stop => (ControlVerb::Stop, Vec::new()),
        Verb::Status => (ControlVerb::Status, Vec::new()),
    };
    let answer = tokio::time::timeout(
        Duration::from_secs(30),
        client.request(verb.subject(), payload.into()),
    )
    .await
    .context("the coordinator did not answer within 30 s")?
    .context("no coordinator answered (is it running?)")?;
    let reply: serde_json::Value =
        serde_json::from_slice(&answer.payload).context("unreadable reply")?;
    println!("{}", serde_json::to_string_pretty(&reply)?);
    if reply.get("ok") != Some(&serde_json::Value::Bool(true)) {
        anyhow::bail!("the coordinator refused the command");
    }
    Ok(())
}
