//! `merge`: how well the coordinator's near-duplicate merge does on the
//! labeled spelling pairs (`bench/data/name_pairs.tsv`): precision (right
//! merges among all merges: a wrong one loses a real item) and recall
//! (variants found among all true variants), against the targets of
//! 99.5 % and 80 %, and how fast name keys are computed. Prints a table
//! and the pairs it got wrong; with `--write`, records them in
//! `BENCHMARKS.md` between `<!-- merge:begin -->` and `<!-- merge:end -->`.

use std::fmt::Write as _;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use bench::throughput::report::{Report, Row, publish};
use bench::throughput::workload;
use clap::Parser;
use coordinator::name_pairs::{self, LABELED};
use coordinator::{NameRules, Namer};

const BEGIN: &str = "<!-- merge:begin -->";
const END: &str = "<!-- merge:end -->";
const PRECISION_TARGET: f64 = 0.995;
const RECALL_TARGET: f64 = 0.80;

#[derive(Debug, Parser)]
#[command(about = "precision and recall of the near-duplicate merge on labeled pairs")]
struct Args {
    /// Labeled pairs (`label<TAB>a<TAB>b`); default: the shipped set.
    #[arg(long)]
    pairs: Option<PathBuf>,
    /// Spellings to compute name keys of, for the rate.
    #[arg(long, default_value_t = 1_000_000)]
    keys: u64,
    /// Record the results in this file (e.g. BENCHMARKS.md).
    #[arg(long)]
    write: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let text = match &args.pairs {
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?
        }
        None => LABELED.to_string(),
    };
    let pairs = name_pairs::parse(&text).map_err(anyhow::Error::msg)?;
    let score = name_pairs::score(&pairs);

    let mut namer = Namer::default();
    let spellings: Vec<String> = (0..args.keys)
        .map(|n| match n % 3 {
            0 => workload::item(n),
            1 => format!("{} (Bergamo, Italy)", workload::item(n)),
            _ => format!("Crème Brûlée n° {n} - a dessert"),
        })
        .collect();
    let started = Instant::now();
    for s in &spellings {
        black_box(namer.key(black_box(s), NameRules::default()));
    }
    let rate = args.keys as f64 / started.elapsed().as_secs_f64();

    let same = pairs.iter().filter(|p| p.same).count();
    let rows = vec![
        Row::info(
            "merge",
            "labeled pairs (same / different)",
            format!("{} ({same} / {})", pairs.len(), pairs.len() - same),
        ),
        Row::info(
            "merge",
            "merged right / merged wrongly / missed / kept apart",
            format!(
                "{} / {} / {} / {}",
                score.true_merges, score.false_merges, score.missed, score.kept_apart
            ),
        ),
        Row::target(
            "merge",
            "precision",
            format!("{:.1} %", score.precision() * 100.0),
            format!("≥ {:.1} %", PRECISION_TARGET * 100.0),
            score.precision() >= PRECISION_TARGET,
        ),
        Row::target(
            "merge",
            "recall",
            format!("{:.1} %", score.recall() * 100.0),
            format!("≥ {:.0} %", RECALL_TARGET * 100.0),
            score.recall() >= RECALL_TARGET,
        ),
        Row::info(
            "merge",
            "name keys per second (one thread)",
            format!("{rate:.0}"),
        ),
    ];
    let report = Report {
        rows,
        ..Report::now("cargo run --release -p bench --bin merge -- --write BENCHMARKS.md")
    };

    let mut section = report.header("Near-duplicate merge");
    let _ = writeln!(
        section,
        "- Labeled set: `bench/data/name_pairs.tsv`; the rule: `coordinator/src/keys/names.rs`\n"
    );
    section.push_str(&report.table());
    let list = |pairs: &[(String, String)]| {
        pairs
            .iter()
            .map(|(a, b)| format!("`{a}` / `{b}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(
        section,
        "\n- Merged wrongly: {}",
        if score.false_merge_pairs.is_empty() {
            "none".to_string()
        } else {
            list(&score.false_merge_pairs)
        }
    );
    let _ = writeln!(
        section,
        "- Missed (kept as separate items): {}",
        list(&score.missed_pairs)
    );
    publish(&section, args.write.as_deref(), BEGIN, END)
}
