//! `restore`: how long a coordinator on a fresh data dir takes to restore a
//! topic from the items ledger, against reopening the same topic from its
//! own `output.txt` and `items.jsonl` (a restart on the same host).
//!
//! For each size, the topic is written the way ingest writes it: batches
//! of new items deduplicated into a folder, each commit's entries published
//! to the `IGENTAI_ITEMS` stream of a real nats-server (the repository's
//! `nats.conf`) and acknowledged before the files are synced. Then, in the
//! same run: the folder is reopened from disk, and a fresh data dir opens
//! the topic through `Ingest::open`, which reads the ledger and writes the
//! folder anew. Both must end with the same items.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use async_nats::jetstream;
use bench::throughput::procs;
use bench::throughput::report::{Report, Row, publish};
use clap::Parser;
use coordinator::Ingest;
use coordinator::Ledger;
use coordinator::{Scratch, Topic};
use igentai_protocol::{CandidateBatch, VERSION};
use testkit::NatsServer;

const BEGIN: &str = "<!-- restore:begin -->";
const END: &str = "<!-- restore:end -->";
const TOPIC: &str = "Restore benchmark items";
/// Items per batch (an LLM answer holds 10 to 50; larger batches only make
/// writing the topic faster, not restoring it).
const BATCH_ITEMS: usize = 1_000;

#[derive(Debug, Parser)]
#[command(about = "restoring a topic from the items ledger vs reopening it from disk")]
struct Args {
    /// Topic sizes, in items.
    #[arg(long, value_delimiter = ',', default_value = "1000000,10000000")]
    items: Vec<u64>,
    /// Rewrite the restore section of this file (BENCHMARKS.md).
    #[arg(long)]
    write: Option<std::path::PathBuf>,
}

struct Measured {
    items: u64,
    write: Duration,
    reopen: Duration,
    restore: Duration,
    stream_bytes: u64,
}

fn batch(n: u64) -> CandidateBatch {
    CandidateBatch {
        v: VERSION,
        batch_id: format!("b{n}"),
        run_id: "bench-run".into(),
        topic: TOPIC.into(),
        worker_id: "w1".into(),
        provider: "sim".into(),
        model: "sim-model".into(),
        partition: None,
        items: Vec::new(),
        tokens_in: 100,
        tokens_cached_in: 0,
        tokens_out: 900,
        latency_ms: 1_000,
        cost_usd: 0.001,
        finish_reason: Some("stop".into()),
        request_id: None,
        created_at_ms: 0,
    }
}

/// Writes `items` items into a topic folder under `data`, publishing each
/// commit to the ledger first, as ingest does.
async fn write_topic(data: &Path, ledger: &Ledger, items: u64) -> anyhow::Result<()> {
    let (mut topic, _) = Topic::open(data, TOPIC)?;
    topic.publish_to_ledger();
    let mut scratch = Scratch::default();
    let mut next = 0u64;
    let mut n = 0u64;
    while next < items {
        let count = (items - next).min(BATCH_ITEMS as u64);
        let names: Vec<std::borrow::Cow<'_, str>> = (next..next + count)
            .map(|i| format!("Benchmark item {i} of the ledger").into())
            .collect();
        let batch = batch(n);
        let taken = topic.take(&batch, &names, "2026-01-01T00:00:00.000Z", 0, &mut scratch);
        anyhow::ensure!(
            taken.outcome.new == count,
            "every item is new: {:?}",
            taken.outcome
        );
        if let Some(outbox) = topic.take_outbox(TOPIC) {
            ledger.publish(&[outbox]).await?;
        }
        topic.write_all()?;
        next += count;
        n += 1;
    }
    Ok(())
}

async fn measure(nats: &NatsServer, root: &Path, items: u64) -> anyhow::Result<Measured> {
    let js = jetstream::new(nats.client().await);
    // A stream of its own for each size.
    if let Ok(stream) = js
        .get_stream(igentai_protocol::subjects::ITEMS_STREAM)
        .await
    {
        js.delete_stream(stream.cached_info().config.name.clone())
            .await?;
    }
    let ledger = Ledger::open(&js, 1).await?;
    let (written, restored) = (root.join("written"), root.join("restored"));
    std::fs::create_dir_all(&written)?;
    std::fs::create_dir_all(&restored)?;

    let started = Instant::now();
    write_topic(&written, &ledger, items).await?;
    let write = started.elapsed();

    let started = Instant::now();
    let (topic, recovery) = Topic::open(&written, TOPIC)?;
    let reopen = started.elapsed();
    anyhow::ensure!(recovery.items == items, "reopened {} items", recovery.items);
    drop(topic);

    let mut ingest = Ingest::new(restored.clone());
    ingest.set_ledger(ledger);
    let started = Instant::now();
    let len = ingest.open(TOPIC).await?.len();
    let restore = started.elapsed();
    anyhow::ensure!(len == items, "restored {len} of {items} items");
    let folder = |data: &Path| data.join(coordinator::folder_for(data, TOPIC).unwrap());
    let same = std::fs::read(folder(&written).join("output.txt"))?
        == std::fs::read(folder(&restored).join("output.txt"))?;
    anyhow::ensure!(same, "the restored output.txt differs");

    let mut stream = js
        .get_stream(igentai_protocol::subjects::ITEMS_STREAM)
        .await?;
    let stream_bytes = stream.info().await?.state.bytes;
    std::fs::remove_dir_all(&written)?;
    std::fs::remove_dir_all(&restored)?;
    Ok(Measured {
        items,
        write,
        reopen,
        restore,
        stream_bytes,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let load_before = procs::load_average();
    let dir = tempfile::Builder::new()
        .prefix("igentai-bench-restore-")
        .tempdir()?;
    let nats = NatsServer::start(dir.path()).await;
    let mut results = Vec::new();
    for &items in &args.items {
        let m = measure(&nats, dir.path(), items)
            .await
            .with_context(|| format!("measure {items} items"))?;
        println!(
            "{items} items: written in {:.1} s, reopened in {:.1} s, restored in {:.1} s",
            m.write.as_secs_f64(),
            m.reopen.as_secs_f64(),
            m.restore.as_secs_f64()
        );
        results.push(m);
    }
    let mut rows = Vec::new();
    for m in &results {
        let per_s = |d: Duration| m.items as f64 / d.as_secs_f64();
        let size = format!("{} items", m.items);
        rows.push(Row::info(
            "restore",
            format!("{size}: reopen from output.txt / restore from the ledger, s"),
            format!(
                "{:.1} / {:.1}",
                m.reopen.as_secs_f64(),
                m.restore.as_secs_f64()
            ),
        ));
        rows.push(Row::info(
            "restore",
            format!("{size}: restore ÷ reopen (time)"),
            format!("{:.1}", m.restore.as_secs_f64() / m.reopen.as_secs_f64()),
        ));
        rows.push(Row::info(
            "restore",
            format!("{size}: restored items/s"),
            format!("{:.0}", per_s(m.restore)),
        ));
        rows.push(Row::info(
            "restore",
            format!("{size}: written with the ledger, items/s (batches of {BATCH_ITEMS})"),
            format!("{:.0}", per_s(m.write)),
        ));
        rows.push(Row::info(
            "restore",
            format!("{size}: items stream on disk, MiB (bytes per item)"),
            format!(
                "{:.0} ({:.0})",
                procs::mib(m.stream_bytes),
                m.stream_bytes as f64 / m.items as f64
            ),
        ));
    }
    let report = Report {
        rows,
        load_before,
        ..Report::now("cargo run --release -p bench --bin restore -- --write BENCHMARKS.md")
    };
    let mut section = report.header("Restore from the items ledger");
    let _ = writeln!(
        section,
        "- Load average (1 min) when the run started: {}; one nats-server (the repository's \
         `nats.conf`), one replica; reopen = `Topic::open` of the folder that was written, \
         restore = `Ingest::open` on a fresh data dir (reads the ledger, writes and syncs the \
         folder), one run\n",
        report.load_before
    );
    section.push_str(&report.table());
    publish(&section, args.write.as_deref(), BEGIN, END)
}
