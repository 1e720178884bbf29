//! `scaleout`: what keeping the candidate stream on three nodes costs its
//! ingest. The same publishes and the same drain through the
//! coordinator's consumer, in one run, against one nats-server with the
//! stream in one copy (R1) and a three-node cluster on this machine with
//! it in three (R3), where every acknowledged publish and every consumer
//! acknowledgement is first agreed on by a majority of the nodes.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use async_nats::jetstream::{self, message::PublishMessage};
use bench::throughput::procs;
use bench::throughput::report::{Report, Row, publish};
use clap::Parser;
use futures::StreamExt;
use igentai_protocol::subjects;
use testkit::{NatsCluster, NatsServer};

const BEGIN: &str = "<!-- scaleout:begin -->";
const END: &str = "<!-- scaleout:end -->";
/// About one LLM answer's batch.
const BATCH_BYTES: usize = 2048;

#[derive(Debug, Parser)]
#[command(about = "candidate stream ingest on one nats-server (R1) vs a three-node cluster (R3)")]
struct Args {
    /// Batches published one at a time, per setup.
    #[arg(long, default_value_t = 1_000)]
    sequential: u64,
    /// Batches published with many in flight, per setup; then drained.
    #[arg(long, default_value_t = 10_000)]
    pipelined: u64,
    /// Publishes in flight in the pipelined phase.
    #[arg(long, default_value_t = 64)]
    in_flight: usize,
    /// Rewrite the scale-out section of this file (BENCHMARKS.md).
    #[arg(long)]
    write: Option<PathBuf>,
}

/// Rates of one setup, per second.
struct Rates {
    sequential: f64,
    pipelined: f64,
    drained: f64,
}

async fn measure(
    client: async_nats::Client,
    replicas: usize,
    args: &Args,
) -> anyhow::Result<Rates> {
    let js = jetstream::new(client);
    let stream = js
        .create_stream(igentai_client::stream::candidates(replicas))
        .await
        .context("create the candidate stream")?;
    let payload = bytes::Bytes::from(vec![b'x'; BATCH_BYTES]);
    let subject = subjects::candidates("bench");

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
            && let Some(ack) = acks.next().await
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
    while let Some(ack) = acks.next().await {
        ack?;
    }
    let pipelined = args.pipelined as f64 / started.elapsed().as_secs_f64();

    // The coordinator's consumer, acknowledging each batch as it does
    // after a commit; the work queue is empty once every ack is applied.
    let total = args.sequential + args.pipelined;
    let consumer: jetstream::consumer::PullConsumer = stream
        .create_consumer(coordinator::consumer_config())
        .await
        .context("create the consumer")?;
    let started = Instant::now();
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(coordinator::MAX_PENDING)
        .messages()
        .await?;
    let mut pending = Vec::new();
    let mut read = 0;
    while read < total {
        let msg = tokio::time::timeout(Duration::from_secs(30), messages.next())
            .await
            .context("no batch within 30 s")?
            .context("the consumer ended")?
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        read += 1;
        pending.push(msg);
        if pending.len() >= coordinator::MAX_PENDING || read == total {
            for result in futures::future::join_all(pending.iter().map(|m| m.double_ack())).await {
                result.map_err(|e| anyhow::anyhow!("ack: {e}"))?;
            }
            pending.clear();
        }
    }
    let drained = total as f64 / started.elapsed().as_secs_f64();
    Ok(Rates {
        sequential,
        pipelined,
        drained,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let load_before = procs::load_average();
    let dir = tempfile::Builder::new()
        .prefix("igentai-bench-scaleout-")
        .tempdir()?;
    let one = {
        let path = dir.path().join("single");
        std::fs::create_dir_all(&path)?;
        let server = NatsServer::start(&path).await;
        measure(server.client().await, 1, &args).await?
    };
    let three = {
        let path = dir.path().join("cluster");
        std::fs::create_dir_all(&path)?;
        let cluster = NatsCluster::start(&path, 3).await;
        measure(cluster.client().await, 3, &args).await?
    };
    let row = |what: String, a: f64, b: f64| {
        Row::info("scale-out", what, format!("{a:.0} / {b:.0} ({:.2})", b / a))
    };
    let rows = vec![
        row(
            "one publish at a time, acks/s: 1 node R1 / 3 nodes R3 (R3 ÷ R1)".into(),
            one.sequential,
            three.sequential,
        ),
        row(
            format!(
                "{} publishes in flight, acks/s: 1 node R1 / 3 nodes R3 (R3 ÷ R1)",
                args.in_flight
            ),
            one.pipelined,
            three.pipelined,
        ),
        row(
            "drained by the coordinator's consumer, batches/s: 1 node R1 / 3 nodes R3 (R3 ÷ R1)"
                .into(),
            one.drained,
            three.drained,
        ),
    ];
    let report = Report {
        rows,
        load_before,
        ..Report::now("cargo run -p bench --bin scaleout -- --write BENCHMARKS.md")
    };
    let mut section = report.header("Scale-out: the candidate stream on one node vs three");
    let _ = writeln!(
        section,
        "- Load average (1 min) when the run started: {}; batches of {BATCH_BYTES} bytes; \
         the repository's `nats.conf` on one nats-server (stream R1), then on a three-node \
         cluster on this same machine (the nodes share its 2 cores; stream R3, the bench's \
         client on any node); one run\n",
        report.load_before
    );
    section.push_str(&report.table());
    section.push_str(
        "\nOn a real multi-host deployment each node has its own cores and disk, so the \
         nodes stop competing for this machine's two cores, but every replicated step \
         crosses the network: a publish is acknowledged once the stream's leader has \
         written it and one follower has confirmed it (a round trip between two hosts), \
         and so is each consumer acknowledgement that removes a batch from the work queue. \
         One publish at a time then pays about one RTT between nodes (plus the client's \
         own to its node) on top of what this table shows: ~0.1-0.5 ms in one data centre, \
         tens of ms across regions, so keep the nodes close (one region, different \
         failure domains). Many publishes in flight hide the RTT (each generation slot of \
         a worker has its own publish in flight, and a fleet runs many slots), and the coordinator's group commit acknowledges batches in \
         bulk. A killed node costs a leader election for the streams it led: a \
         worker's publishes stall for about 5-9 s (measured in tests/cluster.rs: the \
         longest pause between a worker's acknowledged batches after the stream's leader \
         was killed), then continue.\n",
    );
    publish(&section, args.write.as_deref(), BEGIN, END)
}
