//! Judging a run's items: every new item gets one verdict from a judge job
//! a worker answers, the verdicts are records in `items.jsonl` and the
//! items ledger, `valid.txt` holds the valid items once each, a fresh data
//! dir restores the same verdicts from the ledger, and the judge's calls
//! are charged to the run. Real nats-server, real coordinator and worker
//! binaries on the sim.

mod common;

use std::path::Path;
use std::time::Duration;

use async_nats::jetstream;
use igentai_protocol::{MetricsSnapshot, RunState};
use testkit::fleet::{CoordinatorSpec, WorkerSpec};
use testkit::{Control, NatsServer, wait_for};

use common::{try_status, wait_log, wait_stream};

const TOPIC: &str = "Judged cheeses";
const WITHIN: Duration = Duration::from_secs(90);
const TARGET: u64 = 150;

/// The status once the run stopped and every new item has its verdict.
async fn all_judged(client: &async_nats::Client) -> MetricsSnapshot {
    wait_for("every new item judged", WITHIN, || async {
        let s = try_status(client).await?;
        let v = &s.totals.validity;
        (s.state == RunState::Stopped
            && s.totals.new_this_run >= TARGET
            && v.judged == s.totals.new_this_run
            && v.waiting == 0)
            .then_some(s)
    })
    .await
}

/// The verdict records of a folder's `items.jsonl`: (item, verdict).
fn verdicts(folder: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(folder.join("items.jsonl")).unwrap();
    text.lines()
        .filter(|l| l.starts_with("{\"verdict_of\":"))
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["item"].as_str().unwrap().to_string(),
                v["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Checks that each judge job of a run with `judge_confirm` paid for the
/// second questions about every item it judged valid: the input tokens the
/// job's first verdict record carries are at least its labelling prompt's
/// plus a kind and a strict question's per "yes" (the sim counts a
/// prompt's estimated tokens). A job whose worker skipped the questions
/// carries the labelling prompt's alone.
fn confirmed_and_charged(folder: &Path) {
    use worker::prompt::{self, Question};
    let text = std::fs::read_to_string(folder.join("items.jsonl")).unwrap();
    let mut jobs: Vec<(u64, Vec<(String, bool)>)> = Vec::new();
    for line in text.lines().filter(|l| l.starts_with("{\"verdict_of\":")) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if let Some(tokens_in) = v["job"]["tokens_in"].as_u64() {
            jobs.push((tokens_in, vec![]));
        }
        let item = v["item"].as_str().unwrap().to_string();
        jobs.last_mut()
            .expect("a job's first verdict carries its spend")
            .1
            .push((item, v["verdict"] == "yes"));
    }
    let mut confirmed = 0;
    for (tokens_in, judged) in &jobs {
        let labels = prompt::judge(&igentai_protocol::JudgeRequest {
            v: 1,
            run_id: String::new(),
            topic: TOPIC.into(),
            items: judged.iter().map(|(item, _)| item.clone()).collect(),
            weights: Default::default(),
            confirm: true,
            closed: false,
        })
        .estimated_tokens();
        let questions: u64 = judged
            .iter()
            .filter(|(_, yes)| *yes)
            .flat_map(|(item, _)| [Question::Kind, Question::Strict].map(|q| (item, q)))
            .map(|(item, q)| prompt::identify(TOPIC, item, q).estimated_tokens())
            .sum();
        assert!(
            *tokens_in >= labels + questions,
            "a job charged {tokens_in} input tokens: labels {labels}, second questions at least \
             {questions}: {judged:?}"
        );
        confirmed += usize::from(questions > 0);
    }
    assert!(confirmed > 0, "no job judged an item valid: {jobs:?}");
}

fn verify(folder: &Path) {
    let out = std::process::Command::new(testkit::bin_path("coordinator"))
        .args(["verify", folder.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "coordinator verify failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_new_item_is_judged_once_restored_elsewhere_and_charged_to_the_run() {
    let dir = testkit::test_dir();
    let nats = NatsServer::start(dir.path()).await;
    let client = nats.client().await;
    let js = jetstream::new(client.clone());
    let (host_a, host_b) = (dir.path().join("host-a"), dir.path().join("host-b"));
    let judged = [("IGENTAI_JUDGE_RATE", "1"), ("IGENTAI_JUDGE_BATCH", "7")];
    let mut a = CoordinatorSpec::new()
        .name("a")
        .env(&judged)
        .spawn(dir.path(), &nats.url, &host_a);
    wait_stream(&js).await;
    let _w1 = WorkerSpec::sim("w1").spawn(dir.path(), &nats).await;
    let _w2 = WorkerSpec::sim("w2").spawn(dir.path(), &nats).await;
    let control = Control::new(&client);
    control.wait_workers(2, WITHIN).await;
    control
        .start(&format!(
            r#"{{"topic":"{TOPIC}","target":{TARGET},"judge_confirm":true,"judge_closed":true,"strategies":{{"partitions":false}}}}"#
        ))
        .await;

    let s = all_judged(&client).await;
    assert_eq!(
        s.run
            .as_ref()
            .map(|r| (r.judge_rate, r.judge_confirm, r.judge_closed)),
        Some((1.0, true, true))
    );
    let v = &s.totals.validity;
    assert_eq!(v.valid + v.invalid + v.unsure, v.judged, "{v:?}");
    // Judge calls were made and paid for: in the run's totals, beside the
    // generators' batches (no partition jobs in this run).
    assert!(v.jobs > 0 && v.tokens_in > 0 && v.cost_usd > 0.0, "{v:?}");
    let batches: f64 = s.providers.values().map(|p| p.yields.cost_usd).sum();
    assert!(
        (s.totals.cost_usd - (batches + v.cost_usd)).abs() < 1e-9,
        "totals ${} = batches ${batches} + judging ${}",
        s.totals.cost_usd,
        v.cost_usd
    );
    let judges: u64 = s.providers.values().map(|p| p.judge_calls).sum();
    assert_eq!(judges, v.jobs, "each judge call shown on its provider");

    // On disk: one verdict per new item, valid.txt the valid ones in order.
    // Verdicts reach the folder with its next commit, after the status
    // counted them.
    let folder = Path::new(&s.run.as_ref().unwrap().output_dir).to_path_buf();
    let on_a = wait_for("the folder holds every verdict", WITHIN, || async {
        let on_disk = verdicts(&folder);
        (on_disk.len() as u64 >= v.judged).then_some(on_disk)
    })
    .await;
    assert_eq!(on_a.len() as u64, v.judged);
    let mut items: Vec<&str> = on_a.iter().map(|(i, _)| i.as_str()).collect();
    items.sort_unstable();
    items.dedup();
    assert_eq!(items.len(), on_a.len(), "an item judged twice");
    let valid: Vec<&str> = on_a
        .iter()
        .filter(|(_, verdict)| verdict == "yes")
        .map(|(i, _)| i.as_str())
        .collect();
    let valid_txt = std::fs::read_to_string(folder.join("valid.txt")).unwrap();
    assert_eq!(valid_txt.lines().collect::<Vec<_>>(), valid);
    assert_eq!(valid.len() as u64, v.valid);
    confirmed_and_charged(&folder);
    verify(&folder);
    assert!(a.terminate(WITHIN).await.success());

    // Another host restores the folder from the items ledger, verdicts
    // and valid.txt included.
    let _b = CoordinatorSpec::new()
        .name("b")
        .env(&judged)
        .spawn(dir.path(), &nats.url, &host_b);
    wait_log(dir.path(), "b", "caught up with the items ledger", WITHIN).await;
    let (restored, on_host_b) = wait_for("host b's folder", WITHIN, || async {
        let s = try_status(&client).await?;
        let folder = Path::new(&s.run.as_ref()?.output_dir).to_path_buf();
        folder.starts_with(&host_b).then_some((folder, s))
    })
    .await;
    // The run's counters too: its verdicts and what judging cost.
    let b = &on_host_b.totals.validity;
    assert_eq!(
        (b.judged, b.valid, b.jobs),
        (v.judged, v.valid, v.jobs),
        "{b:?}"
    );
    assert!((b.cost_usd - v.cost_usd).abs() < 1e-12, "{b:?} {v:?}");
    let mut on_b = verdicts(&restored);
    let mut expected = on_a.clone();
    on_b.sort();
    expected.sort();
    assert_eq!(on_b, expected);
    assert_eq!(
        std::fs::read_to_string(restored.join("valid.txt")).unwrap(),
        valid_txt
    );
    verify(&restored);
}

// ---- steering on valid items ------------------------------------------

/// Two sims of one world: `honest` names real items; `liar`, at half the
/// price, makes most of its items up. Both judge well; `honest` judges.
const HONEST_AND_LIAR: &str = r#"
[[providers]]
name = "honest"
kind = "sim"
price_in_per_m = 1.0
price_out_per_m = 4.0
[providers.sim]
seed = 7
universe = 20000
latency_ms = 40
invention_rate = 0.0
invention_exhausted = 0.0

[[providers]]
name = "liar"
kind = "sim"
price_in_per_m = 0.5
price_out_per_m = 2.0
[providers.sim]
seed = 7
universe = 20000
latency_ms = 40
invention_rate = 0.8
invention_growth = 0.0
"#;

/// The world both sims name items of: what is real.
fn world(topic: &str) -> worker::providers::sim::Universe {
    let config = worker::providers::sim::SimConfig {
        seed: 7,
        universe: 20000,
        ..Default::default()
    };
    worker::providers::sim::Universe::new(topic, &config)
}

/// Starts a run of `topic` spending `budget` dollars, judged or not, waits
/// until it stops and returns its last status and its real items per
/// dollar (members of the world in `output.txt` per dollar spent).
async fn run_on_budget(
    control: &Control,
    client: &async_nats::Client,
    topic: &str,
    judge_rate: f64,
    budget: f64,
) -> (MetricsSnapshot, f64) {
    let request = serde_json::json!({
        "topic": topic,
        "budget_usd": budget,
        "judge_rate": judge_rate,
        "judge_provider": "honest",
        "strategies": {"partitions": false, "avoid": false},
    });
    let started = control.start(&request.to_string()).await;
    let s = wait_for(
        &format!("run {topic:?} spent its budget"),
        WITHIN,
        || async {
            let s = try_status(client).await?;
            (s.state == RunState::Stopped
                && s.run.as_ref().map(|r| r.run_id.as_str()) == Some(started.run_id.as_str()))
            .then_some(s)
        },
    )
    .await;
    let world = world(topic);
    let output =
        std::fs::read_to_string(Path::new(&started.output_dir).join("output.txt")).unwrap();
    let real = output.lines().filter(|l| world.member(l).is_some()).count();
    (s.clone(), real as f64 / s.totals.cost_usd)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inventing_provider_loses_weight_once_items_are_judged() {
    let dir = testkit::test_dir();
    let nats = NatsServer::start(dir.path()).await;
    let client = nats.client().await;
    let js = jetstream::new(client.clone());
    let providers = dir.path().join("providers.toml");
    std::fs::write(&providers, HONEST_AND_LIAR).unwrap();
    let _coordinator =
        CoordinatorSpec::new().spawn(dir.path(), &nats.url, &dir.path().join("data"));
    wait_stream(&js).await;
    let _w1 = WorkerSpec::on("w1", &providers)
        .spawn(dir.path(), &nats)
        .await;
    let _w2 = WorkerSpec::on("w2", &providers)
        .spawn(dir.path(), &nats)
        .await;
    let control = Control::new(&client);
    control.wait_workers(2, WITHIN).await;

    // Judged: the liar's cheap inventions count for what is real in them,
    // and its weight falls below the honest provider's.
    let request = serde_json::json!({
        "topic": "Judged minerals",
        "judge_rate": 1.0,
        "judge_provider": "honest",
        "strategies": {"partitions": false, "avoid": false},
    });
    control.start(&request.to_string()).await;
    let weights = wait_for(
        "the liar's weight below the honest one's",
        WITHIN,
        || async {
            let s = try_status(&client).await?;
            let w = |p: &str| s.weights.get(p).copied().unwrap_or(0.0);
            (s.totals.validity.judged >= 100 && w("liar") < w("honest")).then_some(s)
        },
    )
    .await;
    let share = |p: &str| weights.providers[p].yields.valid_share;
    assert!(
        share("liar") < 0.5 && share("honest") > 0.8,
        "{:?}",
        weights.providers
    );
    control.stop().await;

    // At equal spend, judged runs buy more real items per dollar than
    // unjudged ones, where the liar's cheap "new" items win the weights.
    let budget = 0.2;
    let (judged, judged_per_usd) =
        run_on_budget(&control, &client, "Judged gemstones", 1.0, budget).await;
    let (unjudged, unjudged_per_usd) =
        run_on_budget(&control, &client, "Unjudged gemstones", 0.0, budget).await;
    assert_eq!(unjudged.totals.validity.judged, 0);
    assert!(
        judged_per_usd > unjudged_per_usd,
        "real items per $: judged {judged_per_usd:.0}, unjudged {unjudged_per_usd:.0}\n\
         judged weights {:?}, unjudged weights {:?}",
        judged.weights,
        unjudged.weights
    );
}
