//! The fleet on a real language model: nats-server, the coordinator and a
//! worker with the real binaries, calling llama-cpp-python's
//! OpenAI-compatible server running SmolLM2-135M-Instruct (testkit's
//! [`LlamaServer`]). A 135M model writes what real models write (echoes,
//! placeholders, descriptions, numbering) far more often than a large one,
//! so it is a hard test of what reaches `output.txt`.
//!
//! The model is stochastic: the tests check properties, never answers.
//! In structured (`output = "json"`) and text (`output = "text"`) mode a run
//! stops on its target with names only in `output.txt` (fewer than 2% of
//! lines anything else, fewer than 2% near-duplicate variants), no key twice,
//! provenance naming the provider and model, and tokens and cost taken from
//! the server's usage. A tiny budget stops a run after a few calls, spending
//! at most what the calls in flight add.
//!
//! One model at a time ([`ONE_MODEL`]): the machine's cores go to the
//! server the bounded waits were sized for.

mod common;

#[path = "common/names.rs"]
mod names;

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use coordinator::ItemRecord;
use coordinator::normalize;
use igentai_protocol::WorkerState;
use igentai_protocol::{Assignment, MetricsSnapshot, RunState, StartReply, VERSION};
use testkit::llama::MODEL_ALIAS;
use testkit::{Control, LlamaServer, NatsServer, Proc, WorkerSpec, wait_for};

use common::{lines, spawn_coordinator_with, wait_drained};

const TOPIC: &str = "fruits";
const TARGET: u64 = 30;
const ITEMS_PER_REQUEST: u32 = 10;
const MAX_TOKENS: u64 = 200;
/// Calls in flight from the one worker (the server answers one at a time;
/// the second keeps it busy between answers).
const SLOTS: u64 = 2;
/// USD per million tokens, in and out: any price will do, it only has to
/// show in the cost.
const PRICE_IN: f64 = 0.5;
const PRICE_OUT: f64 = 1.5;
/// A run on the real model: model answers take seconds each.
const RUN_WITHIN: Duration = Duration::from_secs(240);

/// Serializes the tests of this file: one model server at a time.
static ONE_MODEL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The provider file of the worker: the local server, in `output` mode
/// (`None`: the provider's default).
fn providers_toml(base_url: &str, output: Option<&str>, price_in: f64, price_out: f64) -> String {
    let output = output
        .map(|o| format!("output = \"{o}\"\n"))
        .unwrap_or_default();
    format!(
        r#"[[providers]]
name = "local"
kind = "openai"
base_url = "{base_url}"
model = "{MODEL_ALIAS}"
{output}max_tokens = {MAX_TOKENS}
temperature = 0.8
price_in_per_m = {price_in}
price_out_per_m = {price_out}
max_concurrency = {SLOTS}
timeout_s = 300
"#
    )
}

/// The model server, nats-server, the coordinator and one worker.
struct RealFleet {
    worker: Proc,
    coordinator: Proc,
    control: Control,
    nats: NatsServer,
    llama: LlamaServer,
    dir: tempfile::TempDir,
}

impl RealFleet {
    async fn start(output: Option<&str>, price_in: f64, price_out: f64) -> RealFleet {
        Self::start_judging(output, price_in, price_out, 0.0).await
    }

    /// [`RealFleet::start`] with a coordinator judging a share `judge_rate`
    /// of the new items.
    async fn start_judging(
        output: Option<&str>,
        price_in: f64,
        price_out: f64,
        judge_rate: f64,
    ) -> RealFleet {
        let dir = testkit::test_dir();
        let llama = LlamaServer::start(dir.path()).await;
        let nats = NatsServer::start(dir.path()).await;
        let data = dir.path().join("data");
        let providers = dir.path().join("providers.toml");
        let toml = providers_toml(&llama.base_url(), output, price_in, price_out);
        std::fs::write(&providers, toml).unwrap();
        // The coordinator is told the dearest price, as an operator of
        // expensive models must: it rejects batches costing more.
        let ceiling = price_in.max(price_out).to_string();
        let coordinator = spawn_coordinator_with(
            dir.path(),
            &nats.url,
            &data,
            &[
                ("IGENTAI_MAX_USD_PER_MTOK", &ceiling),
                ("IGENTAI_JUDGE_RATE", &judge_rate.to_string()),
            ],
        );
        // In-flight answers may finish after a stop: they are paid for and
        // slow.
        let worker = WorkerSpec::on("w1", &providers)
            .concurrency(SLOTS as u32)
            .env(&[("IGENTAI_STOP_GRACE_MS", "120000")])
            .spawn(dir.path(), &nats)
            .await;
        let control = nats.control().await;
        let mut fleet = RealFleet {
            worker,
            coordinator,
            control,
            nats,
            llama,
            dir,
        };
        fleet.wait_worker().await;
        fleet
    }

    /// Waits until the coordinator sees the worker; a worker that exits
    /// (a providers file it refuses) fails at once with its log.
    async fn wait_worker(&mut self) {
        let (worker, control) = (&mut self.worker, &self.control);
        wait_for("the worker to join", Duration::from_secs(30), || {
            assert!(
                worker.is_running(),
                "the worker exited\n{}",
                worker.log_tail()
            );
            async move {
                let s = control.try_status().await?;
                s.workers.iter().any(|w| w.alive).then_some(())
            }
        })
        .await;
    }

    /// Starts a run with a focused, constant prompt: no partitions and no
    /// avoid hints, so every call sends the same prompt.
    async fn start_run(&self, limits: &str) -> StartReply {
        let request = format!(
            r#"{{"topic":"{TOPIC}","items_per_request":{ITEMS_PER_REQUEST},{limits},
                "strategies":{{"weights":false,"partitions":false,"avoid":false}}}}"#
        );
        self.control.start(&request).await
    }

    /// Waits for the run to stop by itself, then until the worker is idle
    /// with nothing in flight and every batch is ingested: the final
    /// numbers.
    async fn wait_stopped_and_settled(&self) -> MetricsSnapshot {
        // The last totals seen, for the message when the run never stops.
        let last = std::cell::RefCell::new(None);
        let stopped = tokio::time::timeout(
            RUN_WITHIN,
            wait_for("the run to stop", RUN_WITHIN * 2, || async {
                let s = self.control.try_status().await?;
                if s.state == RunState::Stopped {
                    return Some(());
                }
                *last.borrow_mut() = Some(s.totals);
                None
            }),
        )
        .await;
        let last = last.into_inner();
        assert!(
            stopped.is_ok(),
            "the run did not stop within {RUN_WITHIN:?}; last totals: {last:?}\n{}",
            self.llama.log_tail()
        );
        wait_for("the worker to go idle", RUN_WITHIN, || async {
            let s = self.control.try_status().await?;
            s.workers
                .iter()
                .all(|w| w.state == WorkerState::Idle && w.in_flight == 0)
                .then_some(())
        })
        .await;
        let js = async_nats::jetstream::new(self.control.client.clone());
        wait_drained(&js, Duration::from_secs(30)).await;
        self.control
            .try_status()
            .await
            .expect("status after the run")
    }

    /// The prompt every call of a run sends, as the worker builds it.
    fn prompt(&self) -> worker::prompt::Prompt {
        worker::prompt::build(&Assignment {
            v: VERSION,
            run_id: "real-model".into(),
            topic: TOPIC.into(),
            partition: None,
            avoid: vec![],
            items_per_request: ITEMS_PER_REQUEST,
            prompt_template: None,
            weights: Default::default(),
        })
    }

    /// Input tokens of the run's prompt as the server counts them.
    async fn prompt_tokens(&self) -> u64 {
        let prompt = self.prompt();
        let answer = self
            .llama
            .chat(&serde_json::json!({
                "model": MODEL_ALIAS,
                "messages": [
                    {"role": "system", "content": prompt.system},
                    {"role": "user", "content": prompt.user},
                ],
                "max_tokens": 1,
            }))
            .await;
        answer["usage"]["prompt_tokens"]
            .as_u64()
            .unwrap_or_else(|| panic!("usage.prompt_tokens in {answer}"))
    }
}

fn cost(tokens_in: u64, tokens_out: u64, price_in: f64, price_out: f64) -> f64 {
    (tokens_in as f64 * price_in + tokens_out as f64 * price_out) / 1e6
}

fn assert_close(actual: f64, expected: f64, what: &str) {
    assert!(
        (actual - expected).abs() <= 1e-9 + expected.abs() * 1e-6,
        "{what}: {actual} != {expected}"
    );
}

/// A run in `output` mode to its target, and every property of what it
/// left behind.
async fn names_only(output: &str) {
    let _one = ONE_MODEL.lock().await;
    let fleet = RealFleet::start(Some(output), PRICE_IN, PRICE_OUT).await;
    let started = fleet
        .start_run(&format!(r#""target":{TARGET},"max_duration_s":600"#))
        .await;
    let s = fleet.wait_stopped_and_settled().await;
    let reason = s.run.as_ref().and_then(|r| r.stop_reason.clone());
    assert!(
        reason
            .as_deref()
            .is_some_and(|r| r.starts_with("target reached")),
        "stopped for its target, not {reason:?}"
    );

    let dir = Path::new(&started.output_dir);
    let out = lines(&dir.join("output.txt"));
    println!(
        "{output} mode: {} lines from {} answers, {} candidates, {} invalid items\n{}",
        out.len(),
        s.totals.batches,
        s.totals.candidates,
        s.totals.invalid_items,
        out.join("\n")
    );
    assert!(out.len() as u64 >= TARGET, "{} lines", out.len());

    let mut keys = HashSet::new();
    for line in &out {
        assert!(keys.insert(normalize(line)), "{line:?} is listed twice");
    }
    let prompt = fleet.prompt();
    let offenders = names::offenders(&out, TOPIC, &[&prompt.system, &prompt.user]);
    assert!(
        offenders.len() * 50 < out.len(),
        "{} of {} lines are not names (2% allowed): {offenders:#?}",
        offenders.len(),
        out.len()
    );
    let variants = names::near_duplicates(&out);
    assert!(
        variants.len() * 50 < out.len(),
        "{} of {} lines are variants of earlier ones (2% allowed): {variants:#?}",
        variants.len(),
        out.len()
    );

    let records: Vec<ItemRecord> = lines(&dir.join("items.jsonl"))
        .iter()
        .map(|l| serde_json::from_str(l).expect("items.jsonl records decode"))
        .collect();
    // Alias records (a near-duplicate of an earlier item) sit between the
    // item records.
    let items: Vec<&str> = records
        .iter()
        .filter(|r| r.alias_of.is_none())
        .map(|r| r.item.as_str())
        .collect();
    assert_eq!(items, out, "items.jsonl lists output.txt's items in order");
    for r in &records {
        assert_eq!(
            (r.provider.as_str(), r.model.as_str(), r.run.as_str()),
            ("local", MODEL_ALIAS, started.run_id.as_str()),
            "provenance of {r:?}"
        );
    }

    // Usage is the server's: every call sent the same prompt, so the input
    // tokens are the server's count for it times the answers.
    let t = &s.totals;
    assert!(t.batches > 0 && t.tokens_out > 0, "{t:?}");
    assert!(t.tokens_out <= t.batches * MAX_TOKENS, "{t:?}");
    if output == "text" {
        let per_call = fleet.prompt_tokens().await;
        assert_eq!(t.tokens_in, t.batches * per_call, "{t:?}");
    } else {
        assert!(t.tokens_in > 0 && t.tokens_in % t.batches == 0, "{t:?}");
    }
    let expected = cost(t.tokens_in, t.tokens_out, PRICE_IN, PRICE_OUT);
    assert_close(t.cost_usd, expected, "cost of the run");
    let local = &s.providers["local"];
    assert_eq!(local.model, MODEL_ALIAS);
    assert_eq!(
        (local.yields.tokens_in, local.yields.tokens_out),
        (t.tokens_in, t.tokens_out)
    );
    assert_close(local.yields.cost_usd, t.cost_usd, "the provider's cost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_mode_on_a_real_model_yields_names_only() {
    names_only("text").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_mode_on_a_real_model_yields_names_only() {
    names_only("json").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_stops_a_run_on_a_real_model() {
    let _one = ONE_MODEL.lock().await;
    // About $0.02 a call at these prices (66 prompt tokens, 30 to 100
    // answer tokens): the budget lasts a few calls.
    let (price_in, price_out) = (200.0, 200.0);
    let budget = 0.1;
    let fleet = RealFleet::start(None, price_in, price_out).await;
    fleet
        .start_run(&format!(r#""budget_usd":{budget},"max_duration_s":600"#))
        .await;
    let s = fleet.wait_stopped_and_settled().await;
    let reason = s.run.as_ref().and_then(|r| r.stop_reason.clone());
    assert!(
        reason
            .as_deref()
            .is_some_and(|r| r.starts_with("budget spent")),
        "stopped for its budget, not {reason:?}"
    );
    let t = &s.totals;
    assert_close(
        t.cost_usd,
        cost(t.tokens_in, t.tokens_out, price_in, price_out),
        "cost of the run",
    );
    assert!(
        t.cost_usd >= budget,
        "stopped at ${} of ${budget}",
        t.cost_usd
    );
    // Past the budget by at most the answer that crossed it and the calls
    // in flight then (each slot starts its next call as soon as it has
    // published): each at most the prompt (the same every call) plus
    // max_tokens.
    let per_call_in = t.tokens_in / t.batches;
    let max_call = cost(per_call_in, MAX_TOKENS, price_in, price_out);
    assert!(
        t.cost_usd <= budget + (SLOTS + 1) as f64 * max_call,
        "spent ${} of ${budget} with {SLOTS} calls of at most ${max_call} in flight: {t:?}",
        t.cost_usd
    );
    println!(
        "budget ${budget}: stopped at ${:.4} after {} answers ({} in, {} out tokens)",
        t.cost_usd, t.batches, t.tokens_in, t.tokens_out
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_model_judges_the_items_and_its_verdicts_restore_elsewhere() {
    let _one = ONE_MODEL.lock().await;
    let mut fleet = RealFleet::start_judging(Some("text"), PRICE_IN, PRICE_OUT, 1.0).await;
    let started = fleet.start_run(r#""target":12"#).await;
    fleet.wait_stopped_and_settled().await;
    // Judging goes on after the stop until every new item has a verdict.
    let s = wait_for("every new item judged", RUN_WITHIN, || async {
        let s = fleet.control.try_status().await?;
        let v = &s.totals.validity;
        (v.judged > 0 && v.judged == s.totals.new_this_run && v.waiting == 0).then_some(s)
    })
    .await;
    let (t, v) = (&s.totals, &s.totals.validity);
    assert_eq!(v.valid + v.invalid + v.unsure, v.judged, "{v:?}");
    // The judge's calls are the run's: their tokens, from the server's
    // usage, are in the totals beside the generating calls', at the price.
    assert!(v.jobs >= 1 && v.tokens_in > 0 && v.tokens_out > 0, "{v:?}");
    let local = &s.providers["local"];
    assert_eq!(t.tokens_in, local.yields.tokens_in + v.tokens_in, "{t:?}");
    assert_eq!(
        t.tokens_out,
        local.yields.tokens_out + v.tokens_out,
        "{t:?}"
    );
    assert_close(
        t.cost_usd,
        cost(t.tokens_in, t.tokens_out, PRICE_IN, PRICE_OUT),
        "cost with the judge's calls",
    );
    assert_eq!(local.judge_calls, v.jobs);

    // Each new item has one verdict record; valid.txt lists the valid ones.
    let folder = Path::new(&started.output_dir).to_path_buf();
    let verdicts = |folder: &Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_to_string(folder.join("items.jsonl"))
            .unwrap()
            .lines()
            .filter(|l| l.starts_with("{\"verdict_of\":"))
            .map(|l| {
                let r: serde_json::Value = serde_json::from_str(l).unwrap();
                format!("{} = {}", r["item"], r["verdict"])
            })
            .collect();
        v.sort();
        v
    };
    let on_a = verdicts(&folder);
    assert_eq!(on_a.len() as u64, v.judged);
    let valid_txt = std::fs::read_to_string(folder.join("valid.txt")).unwrap();
    assert_eq!(valid_txt.lines().count() as u64, v.valid);
    println!("judged {} items on {MODEL_ALIAS}: {on_a:#?}", v.judged);

    // A coordinator on a fresh data dir restores them from the items ledger.
    assert!(fleet.coordinator.terminate(RUN_WITHIN).await.success());
    let host_b = fleet.dir.path().join("host-b");
    let _b = spawn_coordinator_with(fleet.dir.path(), &fleet.nats.url, &host_b, &[]);
    let restored = wait_for("the folder restored on host b", RUN_WITHIN, || async {
        let s = fleet.control.try_status().await?;
        let folder = Path::new(&s.run.as_ref()?.output_dir).to_path_buf();
        (folder.starts_with(&host_b) && s.totals.validity.judged == v.judged).then_some(folder)
    })
    .await;
    assert_eq!(verdicts(&restored), on_a);
    assert_eq!(
        std::fs::read_to_string(restored.join("valid.txt")).unwrap(),
        valid_txt
    );
}
