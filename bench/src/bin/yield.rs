//! `yield`: how many true distinct items per 1k tokens and per dollar each
//! steering strategy gets from a simulated fleet (with the unique keys the
//! coordinator counted, their inflation, junk and wrong merges), every
//! strategy against none on one model alone, the regret of the learned
//! provider weights, and how fast they leave a degrading provider. Prints the
//! results as Markdown and, with `--write`, puts them into `BENCHMARKS.md`
//! between its own markers. `scripts/bench-yield.sh` runs it.

use std::path::PathBuf;

use anyhow::Context;
use bench::throughput::report::write_between;
use bench::yield_sim::engine::{self, Limit, Scenario};
use bench::yield_sim::experiments::{self, Settings};
use bench::yield_sim::fleet::Fleet;
use bench::yield_sim::report::{self, Provenance, Results};
use clap::Parser;
use coordinator::Tuning;

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
    /// Measure only these strategies besides naive (for quick iterations;
    /// default: naive, weights, partitions, avoid, all).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Skip some measurements (for quick iterations): `yields`, `alone`,
    /// `regret`, `move-away`, `batch`.
    #[arg(long, value_delimiter = ',')]
    skip: Vec<String>,
    /// Models run alone (all strategies against none).
    #[arg(long, value_delimiter = ',', default_values_t = ["mini".to_string(), "max".to_string()])]
    alone: Vec<String>,
    /// Tokens each run of a model alone gets.
    #[arg(long, default_value_t = 1_000_000)]
    alone_tokens: u64,
    /// The model run live, in batch mode and both.
    #[arg(long, default_value = "mid")]
    batch_model: String,
    /// Dollar budgets at which batch and live are compared.
    #[arg(long, value_delimiter = ',', default_values_t = [1.0f64, 5.0, 20.0])]
    batch_usd: Vec<f64>,
    /// Also print, per strategy, what each provider was asked and found in
    /// the first seed's run at the largest budget.
    #[arg(long)]
    detail: bool,
    /// Override a policy setting, for tuning runs (repeatable):
    /// `weights.temperature=0.3`, `weights.floor`, `weights.half_life_s`,
    /// `weights.step`, `avoid.items`, `avoid.below`, `avoid.window`,
    /// `avoid.refresh_ms`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
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
    let mut tuning = Tuning::default();
    for assignment in &args.set {
        tune(&mut tuning, assignment)?;
    }
    let settings = Settings {
        tuning,
        seeds: args.seeds.max(1),
        budgets: args.budgets,
        regret_usd: args.regret_usd,
        only: args.only,
        alone: args.alone,
        alone_tokens: args.alone_tokens,
        batch_model: args.batch_model,
        batch_usd: args.batch_usd,
        ..Settings::default()
    };
    let started = std::time::Instant::now();
    if args.detail {
        detail(&fleet, &settings);
    }
    let skip = |part: &str| args.skip.iter().any(|s| s == part);
    let yields = match skip("yields") {
        true => Vec::new(),
        false => experiments::yields(&fleet, &settings),
    };
    let alone = match skip("alone") {
        true => Vec::new(),
        false => experiments::alone(&fleet, &settings),
    };
    let regret = match skip("regret") {
        true => Vec::new(),
        false => experiments::regret(&fleet, &settings),
    };
    let move_away = match skip("move-away") {
        true => Vec::new(),
        false => experiments::move_away(&fleet, &settings),
    };
    let batch = match skip("batch") {
        true => Vec::new(),
        false => experiments::batch_or_live(&fleet, &settings),
    };
    let results = Results {
        fleet: &fleet,
        settings: &settings,
        yields: &yields,
        alone: &alone,
        regret: &regret,
        move_away: &move_away,
        batch: &batch,
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
        let section = format!("{}\n", section.trim_end());
        write_between(&path, report::BEGIN, report::END, &section)
            .with_context(|| format!("write {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// Applies one `key=value` override to `tuning`.
fn tune(tuning: &mut Tuning, assignment: &str) -> anyhow::Result<()> {
    let (key, value) = assignment
        .split_once('=')
        .with_context(|| format!("--set {assignment}: expected KEY=VALUE"))?;
    let x: f64 = value
        .parse()
        .with_context(|| format!("--set {assignment}: not a number"))?;
    let w = &mut tuning.weights;
    let a = &mut tuning.avoid;
    match key {
        "weights.temperature" => w.temperature = x,
        "weights.floor" => w.floor = x,
        "weights.half_life_s" => w.half_life_s = x,
        "weights.half_life_answers" => w.half_life_answers = x,
        "weights.step" => w.step = x,
        "avoid.items" => a.items = x as usize,
        "avoid.below" => a.below = x,
        "avoid.min_rate" => a.min_rate = x,
        "avoid.min_repeats" => a.min_repeats = x as u32,
        "avoid.window" => a.window = x as usize,
        "avoid.refresh_ms" => tuning.avoid_refresh_ms = x as u64,
        _ => anyhow::bail!("--set {assignment}: unknown setting {key}"),
    }
    Ok(())
}

/// Per strategy, what each provider was asked and found (seed 1, largest
/// budget), on stderr.
fn detail(fleet: &Fleet, settings: &Settings) {
    let max = settings.budgets.iter().copied().max().unwrap_or(0);
    for (name, strategies) in experiments::strategies() {
        if !settings.only.is_empty() && !settings.only.iter().any(|o| o == name) {
            continue;
        }
        let trace = engine::run(
            fleet,
            &Scenario {
                strategies,
                fixed: None,
                limit: Limit::tokens(max),
                degrade: None,
                seed: 1,
                tuning: settings.tuning.clone(),
            },
        );
        let last = trace.last();
        eprintln!(
            "{name}: {} new keys, {} true distinct ({} junk, {} described, {} wrong merges), {} tokens, ${:.3}, {:.0} s, partitions {:?}",
            last.unique,
            last.truth.distinct,
            last.truth.junk,
            last.truth.described,
            last.truth.wrong_merges,
            last.tokens,
            last.usd,
            last.ms as f64 / 1000.0,
            trace.partitions
        );
        for (provider, u) in &trace.by_provider {
            let tokens = (u.tokens_in + u.tokens_out) as f64;
            eprintln!(
                "  {provider:6} answers {:6} hinted {:5.1}% tokens in {:9} out {:9} ${:7.3} new {:6} new/1k {:5.1} new/$ {:7.0}",
                u.answers,
                100.0 * u.hinted as f64 / u.answers.max(1) as f64,
                u.tokens_in,
                u.tokens_out,
                u.usd,
                u.new,
                1000.0 * u.new as f64 / tokens.max(1.0),
                u.new as f64 / u.usd.max(1e-12)
            );
        }
        // Per window of virtual time: each provider's share of the tokens,
        // new items per 1k tokens and per dollar.
        let window = (last.ms / 8).max(1000);
        let names = fleet.names();
        let mut from = 0;
        while from < last.ms {
            let mut row = format!(
                "  {:5.0}-{:5.0} s:",
                from as f64 / 1e3,
                (from + window) as f64 / 1e3
            );
            let answers: Vec<_> = trace
                .answers
                .iter()
                .filter(|a| a.ms >= from && a.ms < from + window)
                .collect();
            let all_tokens: u64 = answers.iter().map(|a| a.tokens).sum();
            let all_new: u64 = answers.iter().map(|a| a.new).sum();
            row += &format!(
                " new/1k {:5.1} |",
                1000.0 * all_new as f64 / all_tokens.max(1) as f64
            );
            for (p, provider) in names.iter().enumerate() {
                let mine: Vec<_> = answers.iter().filter(|a| a.provider == p).collect();
                let tokens: u64 = mine.iter().map(|a| a.tokens).sum();
                let usd: f64 = mine.iter().map(|a| a.usd).sum();
                let new: u64 = mine.iter().map(|a| a.new).sum();
                let hinted = mine.iter().filter(|a| a.hinted).count();
                row += &format!(
                    " {provider} {:3.0}% {:4.1}/1k {:6.0}/$ h{:3.0}% |",
                    100.0 * tokens as f64 / all_tokens.max(1) as f64,
                    1000.0 * new as f64 / tokens.max(1) as f64,
                    new as f64 / usd.max(1e-12),
                    100.0 * hinted as f64 / mine.len().max(1) as f64
                );
            }
            if let Some((_, w)) = trace.weights.iter().rev().find(|(t, _)| *t < from + window) {
                let w: Vec<String> = w.iter().map(|(n, x)| format!("{n} {x:.2}")).collect();
                row += &format!(" weights {}", w.join(" "));
            }
            eprintln!("{row}");
            from += window;
        }
    }
}
