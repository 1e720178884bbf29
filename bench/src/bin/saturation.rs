//! `saturation`: does the fleet keep a real model server busy? The same
//! prompt, sent through the worker's `openai` provider to the same
//! llama-cpp-python server, first by a bare load generator at each
//! `--concurrency` (the server's best concurrency is the one that makes
//! most output tokens per second), then by the fleet (nats-server, the
//! real coordinator and one real worker with that many calls in flight),
//! then bare again at the best concurrency, since the load of a shared
//! machine drifts between phases. Each phase has a fresh server with the
//! same seed, so each gets the same answers in the same order. Reports the
//! fleet's share of the bare output tokens per second (target ≥ 95%), the
//! prompt tokens the server says it read from its cache, and what limits
//! the share; with
//! `--write`, records them in `BENCHMARKS.md` between
//! `<!-- saturation:begin -->` and `<!-- saturation:end -->`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use bench::models::{Model, Output, server_version};
use bench::saturation::cpu::find_pid;
use bench::saturation::report::{self, BEGIN, END, in_flight};
use bench::saturation::{Phase, bare, fleet, providers_toml};
use bench::throughput::procs::bin;
use bench::throughput::report::{Report, publish, release_command};
use clap::Parser;
use igentai_protocol::{Assignment, VERSION};
use testkit::{LlamaServer, llama};
use worker::prompt::Prompt;
use worker::providers::{Provider, settings};

#[derive(Debug, Parser)]
#[command(about = "the fleet's share of a real model server's output tokens per second")]
struct Args {
    #[arg(long, value_enum, default_value = "smollm2")]
    model: Model,
    /// Length of each phase's measurement window.
    #[arg(long, default_value_t = 120)]
    seconds: u64,
    /// The bare load generator's calls in flight, one phase each.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 2, 4])]
    concurrency: Vec<usize>,
    /// The fleet's calls in flight (default: the server's best
    /// concurrency, as the bare phases found it).
    #[arg(long)]
    fleet_concurrency: Option<usize>,
    /// The server's threads (one leaves the other core to the clients).
    #[arg(long, default_value_t = 1)]
    threads: u32,
    /// The server's seed.
    #[arg(long, default_value_t = llama::DEFAULT_SEED)]
    seed: u32,
    #[arg(long, default_value = "US states")]
    topic: String,
    /// Items each call asks for.
    #[arg(long, default_value_t = 20)]
    items: u32,
    /// `max_tokens` of a call.
    #[arg(long, default_value_t = 400)]
    max_tokens: u32,
    #[arg(long, default_value_t = 0.8)]
    temperature: f64,
    /// How answers are asked for: text, or json (the worker's default;
    /// llama-cpp-python then answers `json_object` under a grammar).
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
    /// Record the results in this file (e.g. BENCHMARKS.md).
    #[arg(long)]
    write: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        !args.concurrency.is_empty() && !args.concurrency.contains(&0),
        "--concurrency needs one or more counts above 0"
    );
    anyhow::ensure!(
        args.fleet_concurrency != Some(0),
        "--fleet-concurrency needs a count above 0"
    );
    // The fleet's binaries, before minutes go into the bare phases.
    bin("coordinator")?;
    bin("worker")?;
    let command = release_command("saturation");
    let report = Report::now(&command);
    let window = Duration::from_secs(args.seconds);
    let dir = tempfile::Builder::new()
        .prefix("igentai-bench-saturation-")
        .tempdir()?;
    let prompt = worker::prompt::build(&Assignment {
        v: VERSION,
        run_id: "saturation".to_string(),
        topic: args.topic.clone(),
        partition: None,
        avoid: Vec::new(),
        items_per_request: args.items,
        prompt_template: None,
        weights: Default::default(),
    });

    let mut bare = Vec::new();
    for &c in &args.concurrency {
        let served = Served::start(&args, dir.path(), &prompt).await?;
        eprintln!("bare load generator, {}, {} s", in_flight(c), args.seconds);
        let phase = bare::measure(&served.provider, &prompt, c, window, served.pid).await?;
        progress(&phase);
        bare.push(phase);
    }
    let best = report::best(&bare).context("no bare phase")?.concurrency;
    let fleet_concurrency = args.fleet_concurrency.unwrap_or(best);

    let served = Served::start(&args, dir.path(), &prompt).await?;
    eprintln!(
        "fleet: one worker, {}, {} s",
        in_flight(fleet_concurrency),
        args.seconds
    );
    let fleet_dir = dir.path().join("fleet");
    std::fs::create_dir_all(&fleet_dir)?;
    let measured = fleet::measure(&fleet::Setup {
        dir: &fleet_dir,
        providers_toml: served.providers_toml(&args, fleet_concurrency),
        topic: &args.topic,
        items_per_request: args.items,
        concurrency: fleet_concurrency as u32,
        window,
        server_pid: served.pid,
    })
    .await?;
    progress(&measured.phase);

    let served = Served::start(&args, dir.path(), &prompt).await?;
    eprintln!("bare again, {}, {} s", in_flight(best), args.seconds);
    let again = Phase {
        name: "bare again",
        ..bare::measure(&served.provider, &prompt, best, window, served.pid).await?
    };
    progress(&again);
    drop(served);

    let fleet = &measured.phase;
    let mut section =
        report.header("Saturation: the fleet's share of a real model server's throughput");
    let levels: Vec<String> = args.concurrency.iter().map(usize::to_string).collect();
    let _ = writeln!(
        section,
        "- Model: {label}, behind llama-cpp-python {}'s OpenAI-compatible server \
         (`--n_ctx 2048 --n_threads {threads} --seed {seed}`, loopback)\n\
         - Load average (1 min) when the run started: {load}; after each phase: in the table \
         (the machine is shared: the bare phase runs again after the fleet to show the drift)\n\
         - Prompt: the worker's item prompt for \"{topic}\", {items} items, no partition, no \
         avoid hints, asked in `{output}` mode through the worker's `openai` provider, \
         temperature {temp}, `max_tokens` {max}\n\
         - Phases, in order: the bare load generator (loops that only send the prompt) at {levels} \
         calls in flight; the fleet (nats-server, the coordinator and one worker, release \
         binaries) with {fleet} ({why}), its run started with \
         partitions, avoid hints and learned weights off and `judge_rate` 0, so every call is an \
         item call with the same prompt; the bare load generator again at the best. Each \
         phase has a model server of its own, started with the same seed and warmed up with \
         one call: llama-cpp-python seeds each request from the one before, so every phase \
         gets the same answers in the same order. Each window {seconds} s (the fleet's from \
         its first answer)\n\
         - Rates: the output tokens of the calls answered in the window, from its first answer \
         to its last (the fleet's calls from its batch log: each batch's time and latency); \
         *no call open*: the share of that span in which the server had no request; CPU: \
         share of one core over the window\n",
        server_version(),
        label = args.model.served().2,
        threads = args.threads,
        seed = args.seed,
        load = report.load_before,
        topic = args.topic,
        items = args.items,
        output = args.output.as_str(),
        temp = args.temperature,
        max = args.max_tokens,
        levels = levels.join(", "),
        fleet = in_flight(fleet_concurrency),
        why = if args.fleet_concurrency.is_some() {
            "`--fleet-concurrency`"
        } else {
            "the best of them"
        },
        seconds = args.seconds,
    );
    let mut phases: Vec<&Phase> = bare.iter().collect();
    phases.extend([fleet, &again]);
    section.push_str(&report::phases_table(&phases));
    section.push('\n');
    let summary = Report {
        rows: report::rows(&bare, fleet, &again, measured.status_out_per_s),
        ..Default::default()
    };
    section.push_str(&summary.table());
    section.push_str("\nWhat limits the share:\n\n");
    for note in report::limits(&bare, fleet, &again) {
        let _ = writeln!(section, "- {note}");
    }
    section.push_str(
        "- llama-cpp-python's server computes one request at a time (one lock around the \
         model): more calls in flight only keep the next request queued, so that the server \
         does not idle between an answer and the next request.\n\
         - Cached prompt tokens: the server's usage has no `prompt_tokens_details`, so it \
         reports none (the 0 above is the worker's `tokens_cached_in` of every answer). It \
         does keep the longest token prefix the next prompt shares with the last request in \
         its KV cache (`Llama.generate` in llama_cpp), and says so only in its verbose log.\n",
    );
    publish(&section, args.write.as_deref(), BEGIN, END)
}

/// A model server of its own for one phase, warmed up with one call.
/// llama-cpp-python seeds each request from the seed of the one before,
/// so on a fresh server with the same `--seed` every phase's n-th call is
/// sampled alike: every phase, bare or fleet, gets the same answers in
/// the same order, and their lengths (which set tokens per second) do not
/// differ from phase to phase.
struct Served {
    server: LlamaServer,
    pid: Option<u32>,
    /// The bare load generator's provider, the one the warm-up call used.
    provider: Provider,
}

impl Served {
    async fn start(args: &Args, dir: &Path, prompt: &Prompt) -> anyhow::Result<Served> {
        let (model, alias, _) = args.model.served();
        eprintln!("starting the model server on {}", model.display());
        let server = LlamaServer::start_with(dir, &model, alias, args.seed, args.threads).await;
        let pid = find_pid(&["llama_cpp.server", "--port", &server.port.to_string()]);
        let most = args.concurrency.iter().copied().max().unwrap_or(1);
        let toml = client_toml(args, &server.base_url(), most);
        let provider = Provider::build(&settings::parse(&toml, |_| None)?[0], "saturation")?;
        provider
            .complete(prompt)
            .await
            .context("the warm-up call")?;
        Ok(Served {
            server,
            pid,
            provider,
        })
    }

    /// The providers file of a client of this server with `concurrency`
    /// calls in flight.
    fn providers_toml(&self, args: &Args, concurrency: usize) -> String {
        client_toml(args, &self.server.base_url(), concurrency)
    }
}

/// The providers file of a client of the server at `base_url`.
fn client_toml(args: &Args, base_url: &str, concurrency: usize) -> String {
    providers_toml(
        base_url,
        args.model.served().1,
        args.output.as_str(),
        args.max_tokens,
        args.temperature,
        concurrency,
    )
}

/// One line on stderr as each phase ends.
fn progress(p: &Phase) {
    eprintln!(
        "  {} at {}: {:.1} output tokens/s over {:.0} s ({} calls, no call open {:.1}%)",
        p.name,
        p.concurrency,
        p.window.out_per_s(),
        p.window.seconds,
        p.window.calls,
        100.0 * p.window.idle_share
    );
}
