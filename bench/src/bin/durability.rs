//! `durability`: what JetStream's `sync_interval: always` costs a worker
//! publishing candidate batches. nats-server acknowledges a publish once
//! the message is written to its store file; by default it `fsync`s that
//! file every two minutes, so a machine crash (power loss, kernel panic)
//! can lose batches it already acknowledged; with `always` it `fsync`s
//! before every acknowledgement. This runs the repository's `nats.conf`
//! both ways in one run and compares the publish rates: one publish at a
//! time (a worker's pattern: one batch per LLM answer) and many in flight.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use async_nats::jetstream::{self, message::PublishMessage};
use bench::throughput::procs;
use bench::throughput::report::{Report, Row, publish};
use clap::Parser;
use testkit::server::{render_nats_conf, spawn_node, wait_node};
use testkit::{Role, free_port};

const BEGIN: &str = "<!-- durability:begin -->";
const END: &str = "<!-- durability:end -->";
/// About one LLM answer's batch.
const BATCH_BYTES: usize = 2048;

#[derive(Debug, Parser)]
#[command(about = "the cost of sync_interval: always on publishing batches")]
struct Args {
    /// Batches published one at a time, per mode.
    #[arg(long, default_value_t = 2_000)]
    sequential: u64,
    /// Batches published with many in flight, per mode.
    #[arg(long, default_value_t = 20_000)]
    pipelined: u64,
    /// Publishes in flight in the pipelined phase.
    #[arg(long, default_value_t = 64)]
    in_flight: usize,
    /// Rewrite the durability section of this file (BENCHMARKS.md).
    #[arg(long)]
    write: Option<PathBuf>,
}

/// Publish rates of one server configuration.
struct Rates {
    sequential: f64,
    pipelined: f64,
}

/// The repository's `nats.conf`, with `sync_interval: always` in its
/// `jetstream` block when `always`.
fn config(dir: &Path, always: bool) -> anyhow::Result<String> {
    let conf = render_nats_conf(dir, &[]);
    if !always {
        return Ok(conf);
    }
    anyhow::ensure!(
        conf.contains("jetstream {"),
        "nats.conf has no jetstream block"
    );
    Ok(conf.replacen("jetstream {", "jetstream {\n  sync_interval: always", 1))
}

async fn measure(dir: &Path, always: bool, args: &Args) -> anyhow::Result<Rates> {
    let conf = dir.join("nats.conf");
    std::fs::write(&conf, config(dir, always)?)?;
    let store = dir.join("store");
    let port = free_port();
    let mut server = spawn_node("nats-server", &conf, port, free_port(), &store, dir);
    let url = format!("nats://127.0.0.1:{port}");
    wait_node("nats-server", &url).await;
    let client = testkit::login::connect(Role::Operator, &[url]).await;
    let js = jetstream::new(client);
    js.get_or_create_stream(igentai_client::stream::candidates(1))
        .await
        .context("create the candidate stream")?;
    let payload = bytes::Bytes::from(vec![b'x'; BATCH_BYTES]);
    let subject = igentai_protocol::subjects::candidates("bench");

    let started = Instant::now();
    for i in 0..args.sequential {
        let message = PublishMessage::build()
            .payload(payload.clone())
            .message_id(format!("s{i}"));
        js.send_publish(subject.clone(), message)
            .await?
            .await
            .context("publish ack")?;
    }
    let sequential = args.sequential as f64 / started.elapsed().as_secs_f64();

    let started = Instant::now();
    let mut acks = futures::stream::FuturesUnordered::<
        futures::future::BoxFuture<'static, anyhow::Result<()>>,
    >::new();
    for i in 0..args.pipelined {
        if acks.len() >= args.in_flight
            && let Some(ack) = futures::StreamExt::next(&mut acks).await
        {
            ack?;
        }
        let message = PublishMessage::build()
            .payload(payload.clone())
            .message_id(format!("p{i}"));
        let ack = js.send_publish(subject.clone(), message).await?;
        acks.push(Box::pin(async move {
            ack.await.map(|_| ()).context("publish ack")
        }));
    }
    while let Some(ack) = futures::StreamExt::next(&mut acks).await {
        ack?;
    }
    let pipelined = args.pipelined as f64 / started.elapsed().as_secs_f64();
    server.kill9();
    Ok(Rates {
        sequential,
        pipelined,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let load_before = procs::load_average();
    let mut rates = Vec::new();
    for always in [false, true] {
        let dir = tempfile::Builder::new()
            .prefix("igentai-bench-durability-")
            .tempdir()?;
        rates.push(measure(dir.path(), always, &args).await?);
    }
    let (default, always) = (&rates[0], &rates[1]);
    let rows = vec![
        Row::info(
            "durability",
            "one publish at a time, acks/s: default (fsync every 2 min) / always",
            format!("{:.0} / {:.0}", default.sequential, always.sequential),
        ),
        Row::info(
            "durability",
            "one publish at a time, always ÷ default",
            format!("{:.2}", always.sequential / default.sequential),
        ),
        Row::info(
            "durability",
            format!(
                "{} publishes in flight, acks/s: default / always",
                args.in_flight
            ),
            format!("{:.0} / {:.0}", default.pipelined, always.pipelined),
        ),
        Row::info(
            "durability",
            format!("{} in flight, always ÷ default", args.in_flight),
            format!("{:.2}", always.pipelined / default.pipelined),
        ),
    ];
    let report = Report {
        rows,
        load_before,
        ..Report::now("cargo run -p bench --bin durability -- --write BENCHMARKS.md")
    };
    let mut section = report.header("Durability: `sync_interval: always`");
    let _ = writeln!(
        section,
        "- Load average (1 min) when the run started: {}; batches of {BATCH_BYTES} bytes to \
         the candidate stream, the repository's `nats.conf` with and without \
         `sync_interval: always`, one run\n",
        report.load_before
    );
    section.push_str(&report.table());
    publish(&section, args.write.as_deref(), BEGIN, END)
}
