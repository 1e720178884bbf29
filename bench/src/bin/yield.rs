//! `yield`: how many new items per 1k tokens and per dollar each steering
//! strategy gets from a simulated fleet, the regret of the learned provider
//! weights, and how fast they leave a degrading provider. Prints the
//! results as Markdown and, with `--write`, puts them into `BENCHMARKS.md`
//! between its own markers. `scripts/bench-yield.sh` runs it.

use std::path::PathBuf;

use anyhow::Context;
use bench::yield_sim::experiments::{self, Settings};
use bench::yield_sim::fleet::Fleet;
use bench::yield_sim::report::{self, Provenance, Results};
use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "yield",
    about = "Yield benchmark of igentai's steering strategies (virtual time)"
)]
struct Args {
    /// Seeded runs per configuration; results are their mean.
    #[arg(long, default_value_t = 3)]
    seeds: u64,
    /// Token budgets, from unsaturated to saturating.
    #[arg(long, value_delimiter = ',', default_values_t = [100_000u64, 1_000_000, 3_000_000])]
    budgets: Vec<u64>,
    /// Dollar budgets at which the learned weights meet the fixed allocations.
    #[arg(long, value_delimiter = ',', default_values_t = [0.15f64, 0.5])]
    regret_usd: Vec<f64>,
    /// Put the results into this Markdown file, between
    /// `<!-- yield:begin -->` and `<!-- yield:end -->`.
    #[arg(long)]
    write: Option<PathBuf>,
    /// The command that produced the numbers, as recorded.
    #[arg(long, default_value = "cargo run --release -p bench --bin yield")]
    command: String,
    /// The machine, as recorded.
    #[arg(long, default_value = "an unnamed machine")]
    machine: String,
    /// The date, as recorded.
    #[arg(long, default_value = "on an unrecorded date")]
    date: String,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let fleet = Fleet::standard();
    let settings = Settings {
        seeds: args.seeds.max(1),
        budgets: args.budgets,
        regret_usd: args.regret_usd,
        ..Settings::default()
    };
    let started = std::time::Instant::now();
    let yields = experiments::yields(&fleet, &settings);
    let regret = experiments::regret(&fleet, &settings);
    let move_away = experiments::move_away(&fleet, &settings);
    let results = Results {
        fleet: &fleet,
        settings: &settings,
        yields: &yields,
        regret: &regret,
        move_away: &move_away,
    };
    let provenance = Provenance {
        command: args.command,
        machine: args.machine,
        date: args.date,
    };
    let section = report::markdown(&results, &provenance);
    println!("{section}");
    eprintln!("ran in {:.1} s", started.elapsed().as_secs_f64());
    if let Some(path) = args.write {
        let existing = match std::fs::read_to_string(&path) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("read {}", path.display())),
        };
        let text = report::splice(existing.as_deref(), &section);
        std::fs::write(&path, text).with_context(|| format!("write {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
