//! `truth`: what a real model names on topics whose complete answer set
//! is known (US states, chemical elements, UN member states), what igentai
//! stores of it, and what the judge makes of the stored list.
//!
//! It starts llama-cpp-python's server on a real model (SmolLM2-135M or
//! Qwen2.5-Coder-0.5B, testkit's `LlamaServer`), calls it through the
//! worker's OpenAI-compatible provider, in-process and without NATS, and
//! for each universe runs each strategy (`none`, `all`) to the same token
//! budget: answers parsed by the worker's parser, stored by a real
//! coordinator topic folder, every stored line judged with the judge
//! prompt (by `--judge-model`, the same model by default) 20 new lines a
//! call while the run goes on, its verdicts steering `all` as a run's do,
//! asked for in `--judge-output`
//! mode (json by default: the judge's schema holds each answer string to
//! its labels) whatever `--output` the items are asked in. Prints the tables; with
//! `--write`, records them in `BENCHMARKS.md` between
//! `<!-- truth:begin -->` and `<!-- truth:end -->`.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use bench::models::{Calls, Model, Output, server_version};
use bench::throughput::report::{Report, publish, release_command};
use bench::truth::report::{self, BEGIN, END, Outcome};
use bench::truth::run::{self, ITEMS_PER_REQUEST, JUDGE_CHUNK, Strategy, WORKERS};
use bench::truth::score::score;
use bench::truth::universe::Universe;
use clap::Parser;
use testkit::{LlamaServer, llama};

#[derive(Debug, Parser)]
#[command(
    about = "what a real model names on closed topics, what igentai stores and what the judge keeps"
)]
struct Args {
    #[arg(long, value_enum, default_value = "qwen")]
    model: Model,
    /// Tokens (input + output) each strategy may spend per universe; the
    /// judge's tokens are counted apart.
    #[arg(long, default_value_t = 8000)]
    tokens: u64,
    /// Universes to run (file names in bench/data/universes/ without
    /// `.txt`); default: all.
    #[arg(long = "universe")]
    universes: Vec<String>,
    /// The server's seed.
    #[arg(long, default_value_t = llama::DEFAULT_SEED)]
    seed: u32,
    /// The server's threads.
    #[arg(long, default_value_t = 2)]
    threads: u32,
    /// `max_tokens` of an item call (a judge call gets the same).
    #[arg(long, default_value_t = 400)]
    max_tokens: u32,
    #[arg(long, default_value_t = 0.8)]
    temperature: f64,
    /// How answers are asked for: text (the form llama-cpp-python answers
    /// without a grammar) or json (`json_object`, the worker's default).
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
    /// How the judge's verdicts are asked for, apart from `--output`: json
    /// (the judge's schema, whose strings are its labels, so a server
    /// enforcing it makes the model label every item) or text.
    #[arg(long, value_enum, default_value = "json")]
    judge_output: Output,
    /// The judge's model (default: `--model`); another one gets a server
    /// of its own, e.g. `qwen15` judging `qwen`.
    #[arg(long, value_enum)]
    judge_model: Option<Model>,
    /// Confirm each line the judge's labels accept with the second
    /// question, as a run with `judge_confirm` does.
    #[arg(long)]
    judge_confirm: bool,
    /// Confirming, check a line the judge gives another kind against the
    /// members it lists by the line's first letters, as a run with
    /// `judge_closed` does (every universe here is a closed list).
    #[arg(long)]
    judge_closed: bool,
    /// Nominal USD per million input tokens.
    #[arg(long, default_value_t = 0.15)]
    price_in: f64,
    /// Nominal USD per million output tokens.
    #[arg(long, default_value_t = 0.60)]
    price_out: f64,
    /// Record the results in this file (e.g. BENCHMARKS.md).
    #[arg(long)]
    write: Option<PathBuf>,
    /// Write each run's stored lines, the member each names and the
    /// judge's verdict into this folder (`<universe>-<strategy>.tsv`).
    #[arg(long)]
    dump: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let command = release_command("truth");
    let universes = Universe::builtin(&args.universes).map_err(anyhow::Error::msg)?;
    let (model_path, alias, label) = args.model.served();
    let judge_model = args.judge_model.unwrap_or(args.model);
    let report = Report::now(&command);
    let dir = tempfile::tempdir().context("a scratch dir")?;
    eprintln!("starting the model server on {}", model_path.display());
    let server =
        LlamaServer::start_with(dir.path(), &model_path, alias, args.seed, args.threads).await;
    let calls = |output| Calls {
        output,
        max_tokens: args.max_tokens,
        temperature: args.temperature,
        price_in: args.price_in,
        price_out: args.price_out,
    };
    let generator = calls(args.output).provider(&server.base_url(), alias)?;
    // A judge of another model gets a server of its own.
    let (judge_label, judge_server) = if judge_model == args.model {
        ("the same model".to_string(), None)
    } else {
        let (path, judge_alias, judge_label) = judge_model.served();
        eprintln!("starting the judge's model server on {}", path.display());
        let judge_server =
            LlamaServer::start_with(dir.path(), &path, judge_alias, args.seed, args.threads).await;
        (judge_label.to_string(), Some((judge_server, judge_alias)))
    };
    let judge = match &judge_server {
        None => calls(args.judge_output).provider(&server.base_url(), alias)?,
        Some((s, judge_alias)) => calls(args.judge_output).provider(&s.base_url(), judge_alias)?,
    };

    let mut outcomes = Vec::new();
    for universe in universes {
        for strategy in [Strategy::None, Strategy::All] {
            eprintln!(
                "{} / {}: collecting to {} tokens",
                universe.name,
                strategy.name(),
                args.tokens
            );
            let folder = dir
                .path()
                .join(format!("{}-{}", universe.name, strategy.name()));
            let (run, judged) = run::collect(
                &generator,
                run::Judge {
                    provider: &judge,
                    confirm: args.judge_confirm,
                    closed: args.judge_closed,
                },
                &universe.topic,
                strategy,
                args.tokens,
                &folder,
            )
            .await
            .with_context(|| format!("{} / {}", universe.name, strategy.name()))?;
            eprintln!(
                "{} / {}: {} stored lines from {} calls, judged in {} calls",
                universe.name,
                strategy.name(),
                run.stored.len(),
                run.calls,
                judged.calls
            );
            let score = score(&universe, &run, &judged);
            let outcome = Outcome {
                universe: universe.clone(),
                strategy,
                run,
                judged,
                score,
            };
            if let Some(dump) = &args.dump {
                std::fs::create_dir_all(dump)?;
                let file = dump.join(format!("{}-{}.tsv", universe.name, strategy.name()));
                std::fs::write(&file, report::stored_lines(&outcome))
                    .with_context(|| format!("write {}", file.display()))?;
            }
            outcomes.push(outcome);
        }
    }
    drop(server);
    drop(judge_server);

    let mut section =
        report.header("Known universes: what a real model names, and what the judge keeps");
    let _ = writeln!(
        section,
        "- Model: {label}, behind llama-cpp-python {}'s OpenAI-compatible server \
         (`--n_ctx 2048 --n_threads {threads} --seed {seed}`, loopback), called through the \
         worker's `openai` provider in `{output}` mode (the judge's calls in `{judge_output}` \
         mode, through a second provider), temperature {temp}, `max_tokens` {max}\n\
         - Load average (1 min) when the run started: {load}\n\
         - Universes: `bench/data/universes/` (names plus accepted spellings; an alias such as \
         a postal code or a symbol counts as the member, reported as another spelling)\n\
         - Budget: {tokens} tokens (input + output) per universe and strategy, the judge's \
         apart; nominal prices ${pin} in / ${pout} out per million tokens\n\
         - Strategies: `none` asks the worker's plain prompt ({items} items) again and again \
         (`--no-weights --no-partitions --no-avoid`); `all` is a run's default, every strategy \
         on, steered by the coordinator's own `Steering` (partition jobs, the tree's splits and \
         retirements, the broad prompt's share, per-partition avoid hints, each partition and \
         the partitions arm judged on its valid share from the judge's verdicts) for {workers} \
         workers taking turns on the one server\n\
         - Stored: a real coordinator topic folder (vetting, exact key, name key and its \
         near-duplicate merge, sighting counts and their Chao1 estimate); every stored line \
         judged by {judge_label} with the judge prompt, {chunk} new lines a call while the \
         run goes on (the last ones at its end), at temperature 0{confirm}",
        server_version(),
        threads = args.threads,
        seed = args.seed,
        output = args.output.as_str(),
        judge_output = args.judge_output.as_str(),
        temp = args.temperature,
        max = args.max_tokens,
        load = report.load_before,
        confirm = match args.judge_confirm {
            true => format!(
                ", each line it accepts confirmed by the second questions (`judge_confirm`){}",
                match args.judge_closed {
                    true => ", the universe a closed list (`judge_closed`)",
                    false => "",
                }
            ),
            false => String::new(),
        },
        tokens = args.tokens,
        pin = args.price_in,
        pout = args.price_out,
        items = ITEMS_PER_REQUEST,
        workers = WORKERS,
        chunk = JUDGE_CHUNK,
    );
    section.push_str("\n### The stored list against the universe\n\n");
    section.push_str(&report::stored_table(&outcomes));
    section.push_str("\n### The judge on the stored lines\n\n");
    section.push_str(&report::judge_table(&outcomes));
    section.push_str("\nThe judge's first answer in each run (its first 300 characters, ⏎ for a line break):\n\n");
    section.push_str(&report::judge_samples(&outcomes));
    section.push_str(
        "\n### Non-members by position in an answer\n\n\
         Every item the parser took from an answer, before dedup, by its position in that \
         answer: the share that names no member of the universe (all three universes and both \
         strategies together).\n\n",
    );
    section.push_str(&report::position_table(&outcomes));
    section.push('\n');
    section.push_str(&report::position_by_run(&outcomes));
    section.push_str("\n### Stored non-members the judge did not accept\n\n");
    section.push_str(&report::non_members(&outcomes));
    publish(&section, args.write.as_deref(), BEGIN, END)
}
