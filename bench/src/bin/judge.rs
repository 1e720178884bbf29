//! `judge`: how well a judge model and the judge prompt tell members from
//! non-members, on fixed lines a real model stored for each known universe
//! (`bench/data/judged/`; the universe files decide which are members).
//!
//! It starts llama-cpp-python's server on the judge's model (Qwen2.5-Coder-
//! 1.5B by default), asks it about every line with the worker's judge
//! prompt through the worker's `openai` provider, 20 lines a call, then
//! (unless `--labels-only`) asks the second questions about each line it
//! called a member, as a worker's judge job with `judge_confirm` does, and
//! reports per universe: the precision of
//! what it accepts, the share of the members it keeps, its false accepts
//! and rejects, what it costs.
//! The same lines every run, so a prompt or a model is compared on equal
//! terms. Prints the table; with `--write`, records it in `BENCHMARKS.md`
//! between `<!-- judge:begin -->` and `<!-- judge:end -->`.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use bench::models::{Calls, Model, Output, server_version};
use bench::throughput::report::{Report, publish, release_command};
use bench::truth::judged;
use bench::truth::run::{self, JUDGE_CHUNK};
use bench::truth::score::{judge_score, ratio};
use bench::truth::universe::Universe;
use clap::Parser;
use testkit::{LlamaServer, llama};

const BEGIN: &str = "<!-- judge:begin -->";
const END: &str = "<!-- judge:end -->";

#[derive(Debug, Parser)]
#[command(about = "the judge's accuracy on fixed lines of known universes")]
struct Args {
    #[arg(long, value_enum, default_value = "qwen15")]
    model: Model,
    /// Universes to judge (file names in bench/data/judged/); default: all.
    #[arg(long = "universe")]
    universes: Vec<String>,
    /// Judge only the first N lines of each universe.
    #[arg(long)]
    limit: Option<usize>,
    #[arg(long, default_value_t = llama::DEFAULT_SEED)]
    seed: u32,
    #[arg(long, default_value_t = 2)]
    threads: u32,
    /// The labels alone, without `judge_confirm`'s second questions.
    #[arg(long)]
    labels_only: bool,
    /// Check a line the judge gives another kind against the members it
    /// lists by the line's first letters, as a run with `judge_closed`
    /// does (every universe here is a closed list).
    #[arg(long)]
    judge_closed: bool,
    /// How the verdicts are asked for.
    #[arg(long, value_enum, default_value = "json")]
    output: Output,
    /// Nominal USD per million input tokens.
    #[arg(long, default_value_t = 0.15)]
    price_in: f64,
    /// Nominal USD per million output tokens.
    #[arg(long, default_value_t = 0.60)]
    price_out: f64,
    /// Record the results in this file (e.g. BENCHMARKS.md).
    #[arg(long)]
    write: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let command = release_command("judge");
    let universes = Universe::builtin(&args.universes).map_err(anyhow::Error::msg)?;
    let report = Report::now(&command);
    let (path, alias, label) = args.model.served();
    let dir = tempfile::tempdir().context("a scratch dir")?;
    eprintln!("starting the judge's model server on {}", path.display());
    let server = LlamaServer::start_with(dir.path(), &path, alias, args.seed, args.threads).await;
    let judge = Calls {
        output: args.output,
        // What a judge call may write is the prompt's to raise.
        max_tokens: 400,
        temperature: 0.0,
        price_in: args.price_in,
        price_out: args.price_out,
    }
    .provider(&server.base_url(), alias)?;

    let mut table = String::from(
        "| universe | lines | members | accepted | precision of the accepted | members kept | \
         false accepts | false rejects | unsure | overturned by the second questions | \
         tokens / line | lines / s |\n\
         |---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n",
    );
    let mut false_accepts = String::new();
    for universe in &universes {
        let mut lines = judged::lines(&universe.name)
            .with_context(|| format!("no judged lines for {}", universe.name))?;
        lines.truncate(args.limit.unwrap_or(usize::MAX));
        eprintln!("{}: judging {} lines", universe.name, lines.len());
        let judged = run::judge(
            run::Judge {
                provider: &judge,
                confirm: !args.labels_only,
                closed: args.judge_closed,
            },
            &universe.topic,
            &lines,
        )
        .await;
        let j = judge_score(universe, &lines, &judged.verdicts);
        let members = lines
            .iter()
            .filter(|l| universe.find(l).member().is_some())
            .count();
        let _ = writeln!(
            table,
            "| {} | {} | {members} | {} | {:.1}% | {:.1}% | {} | {} | {} | {} ({} calls) | {:.1} | {:.2} |",
            universe.name,
            lines.len(),
            j.yes,
            100.0 * j.precision(),
            100.0 * j.kept(members),
            j.false_accepts,
            j.false_rejects,
            j.unsure,
            judged.overturned,
            judged.second_calls,
            ratio((judged.tokens_in + judged.tokens_out) as usize, lines.len()),
            lines.len() as f64 / judged.seconds.max(1e-9),
        );
        let accepted: Vec<&str> = lines
            .iter()
            .zip(&judged.verdicts)
            .filter(|(l, v)| {
                **v == igentai_protocol::Answer::Yes && universe.find(l).member().is_none()
            })
            .map(|(l, _)| l.as_str())
            .collect();
        let _ = writeln!(
            false_accepts,
            "- {}: {}",
            universe.name,
            if accepted.is_empty() {
                "none".to_string()
            } else {
                accepted.join(", ")
            }
        );
    }
    drop(server);

    let mut section = report.header("The judge on fixed lines");
    let _ = writeln!(
        section,
        "- Judge: {label}, behind llama-cpp-python {}'s OpenAI-compatible server \
         (`--n_ctx 2048 --n_threads {} --seed {}`, loopback), called through the worker's \
         `openai` provider in `{}` mode at temperature 0, {JUDGE_CHUNK} lines a call, with the \
         worker's judge prompt (`worker::prompt::judge`){}\n\
         - Lines: `bench/data/judged/`, what Qwen2.5-Coder-0.5B stored in the truth \
         benchmark's runs{}; members as `bench/data/universes/` spells them (a symbol or a \
         postal code counts)\n\
         - Load average (1 min) when the run started: {}\n",
        server_version(),
        args.threads,
        args.seed,
        args.output.as_str(),
        match args.labels_only {
            true => "; the labels alone".to_string(),
            false => format!(
                ", then `judge_confirm`'s second questions about each line it called a member \
                 (`worker::jobs::judge::second_verdict`: its kind, which member it is, a \
                 code's name backwards; one line a call){}",
                match args.judge_closed {
                    true => {
                        ", each universe a closed list (`judge_closed`: a line of a kind \
                         no member has is out, one of another kind must be among the \
                         members listed by its first letters)"
                    }
                    false => "",
                }
            ),
        },
        args.limit
            .map(|n| format!(" (the first {n} of each)"))
            .unwrap_or_default(),
        report.load_before,
    );
    section.push_str(&table);
    section.push_str("\nNon-members it accepted:\n\n");
    section.push_str(&false_accepts);
    publish(&section, args.write.as_deref(), BEGIN, END)
}
