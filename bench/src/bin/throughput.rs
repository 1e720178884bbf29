//! `throughput`: runs igentai's throughput and memory benchmarks against
//! the release binaries next to it, prints a table, and with `--write`
//! records it in `BENCHMARKS.md` between its markers. `scripts/bench.sh`
//! builds everything and runs it.

use std::path::PathBuf;
use std::time::Duration;

use bench::throughput::{dashboard, dedup, fleet, ingest, memory, report};
use clap::{Parser, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Bench {
    Ingest,
    Dedup,
    Memory,
    Fleet,
    Dashboard,
}

#[derive(Debug, Parser)]
#[command(about = "igentai throughput and memory benchmarks")]
struct Args {
    /// Benchmarks to run (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Bench>,
    /// Ingest: 50-item batches to drain.
    #[arg(long, default_value_t = 100_000)]
    ingest_batches: u64,
    /// Dedup core: 50-item batches of candidates.
    #[arg(long, default_value_t = 80_000)]
    dedup_batches: u64,
    /// Dedup core: rounds, the best one counts.
    #[arg(long, default_value_t = 3)]
    dedup_rounds: usize,
    /// Memory: unique items on disk.
    #[arg(long, default_value_t = 10_000_000)]
    memory_items: u64,
    /// Fleet: worker processes.
    #[arg(long, default_value_t = 100)]
    fleet_workers: usize,
    /// Fleet: the mock server's latency per request.
    #[arg(long, default_value_t = 1000)]
    fleet_latency_ms: u64,
    /// Fleet: LLM calls in flight per worker.
    #[arg(long, default_value_t = 4)]
    fleet_concurrency: u32,
    /// Fleet: measurement window after a 10 s warm-up.
    #[arg(long, default_value_t = 20)]
    fleet_window_s: u64,
    /// Dashboard: WebSocket clients.
    #[arg(long, default_value_t = 200)]
    dashboard_clients: usize,
    /// Dashboard: snapshots published.
    #[arg(long, default_value_t = 200)]
    dashboard_snapshots: u64,
    /// Dashboard: snapshots per second.
    #[arg(long, default_value_t = 20)]
    dashboard_rate: u64,
    /// Rewrite the throughput section of this file (BENCHMARKS.md).
    #[arg(long)]
    write: Option<PathBuf>,
    /// The command line to record with the results.
    #[arg(long, default_value = "target/release/throughput")]
    command: String,
}

fn temp_dir(name: &str) -> anyhow::Result<tempfile::TempDir> {
    Ok(tempfile::Builder::new()
        .prefix(&format!("igentai-bench-{name}-"))
        .tempdir()?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runs = |b: Bench| args.only.is_empty() || args.only.contains(&b);
    let mut report = report::Report::now(&args.command);
    eprintln!("machine: {}", report.machine);

    if runs(Bench::Dedup) {
        eprintln!(
            "dedup core: {} batches, best of {}",
            args.dedup_batches, args.dedup_rounds
        );
        let (batches, rounds) = (args.dedup_batches, args.dedup_rounds);
        let r = tokio::task::spawn_blocking(move || dedup::measure(batches, rounds)).await?;
        report.rows.extend(dedup::rows(&r));
        report.notes.extend(dedup::notes(&r));
    }
    if runs(Bench::Ingest) {
        eprintln!("ingest: {} batches", args.ingest_batches);
        let dir = temp_dir("ingest")?;
        let r = ingest::measure(dir.path(), args.ingest_batches).await?;
        report.rows.extend(ingest::rows(&r));
        report.notes.extend(ingest::notes(&r));
    }
    if runs(Bench::Memory) {
        eprintln!("memory: {} items", args.memory_items);
        let dir = temp_dir("memory")?;
        let r = memory::measure(dir.path(), args.memory_items).await?;
        report.rows.extend(memory::rows(&r));
    }
    if runs(Bench::Fleet) {
        eprintln!("fleet: {} workers", args.fleet_workers);
        let dir = temp_dir("fleet")?;
        let settings = fleet::Settings {
            workers: args.fleet_workers,
            latency: Duration::from_millis(args.fleet_latency_ms),
            concurrency: args.fleet_concurrency,
            warmup: Duration::from_secs(10),
            window: Duration::from_secs(args.fleet_window_s),
        };
        let r = fleet::measure(dir.path(), &settings).await?;
        report.rows.extend(fleet::rows(&r));
    }
    if runs(Bench::Dashboard) {
        eprintln!("dashboard: {} clients", args.dashboard_clients);
        let dir = temp_dir("dashboard")?;
        let r = dashboard::measure(
            dir.path(),
            args.dashboard_clients,
            args.dashboard_snapshots,
            args.dashboard_rate,
        )
        .await?;
        report.rows.extend(dashboard::rows(&r));
    }

    println!("{}", report.table());
    for note in &report.notes {
        println!("- {note}");
    }
    if let Some(path) = &args.write {
        report.write(path)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
