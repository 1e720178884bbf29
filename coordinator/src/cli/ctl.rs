//! `coordinator ctl`: control commands from a terminal, for machines without
//! the `nats` CLI. `start`, `stop`, `status` and `weights` send the same
//! requests as `nats req` and print the reply; `watch` follows a run's
//! progress live ([`crate::cli::watch`]).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use async_nats::RequestErrorKind;
use clap::Subcommand;
use igentai_protocol::{
    BatchesStopped, ControlVerb, StartRequest, StopReply, Strategies, VERSION, WeightsRequest,
};

use crate::cli::watch::{thousands, usd};

/// How long `ctl` waits for the coordinator's answer, whatever the verb:
/// as long as a stop may take.
const ANSWER: Duration = igentai_client::STOP_ANSWER;

#[derive(Debug, Subcommand)]
pub enum Verb {
    /// Start (or resume) a topic.
    Start {
        /// The topic, e.g. "Paris attractions".
        topic: String,
        /// Stop once this many unique items exist.
        #[arg(long)]
        target: Option<u64>,
        /// The target counts valid items (judged real), not unique ones.
        #[arg(long, requires = "target")]
        target_valid: bool,
        /// Stop once the run has spent this many US dollars.
        #[arg(long)]
        budget_usd: Option<f64>,
        /// Stop after this many seconds.
        #[arg(long)]
        max_duration_s: Option<u64>,
        /// Stop once the estimated coverage reaches this share (0-1].
        #[arg(long)]
        min_coverage: Option<f64>,
        /// Stop once recent answers yield fewer new items per 1k tokens.
        #[arg(long)]
        min_yield_per_1k_tokens: Option<f64>,
        /// Items asked for per LLM request.
        #[arg(long)]
        items_per_request: Option<u32>,
        /// Don't learn provider weights from yield (spread requests evenly).
        #[arg(long)]
        no_weights: bool,
        /// Don't split the topic into partitions.
        #[arg(long)]
        no_partitions: bool,
        /// Don't tell models which items they keep repeating.
        #[arg(long)]
        no_avoid: bool,
        /// Share of new items a judge checks (0-1; the coordinator's
        /// --judge-rate by default).
        #[arg(long)]
        judge_rate: Option<f64>,
        /// The provider that judges (any, by the run's weights, by default).
        #[arg(long)]
        judge_provider: Option<String>,
        /// Confirm each item the judge accepts with a second question
        /// (the coordinator's --judge-confirm by default).
        #[arg(long)]
        judge_confirm: bool,
        /// The topic's members form a closed list (the US states): the
        /// judge checks an item of another kind against the members it
        /// lists (the coordinator's --judge-closed by default).
        #[arg(long)]
        judge_closed: bool,
    },
    /// Stop the running run; returns once the workers confirmed.
    Stop,
    /// Print the status: run, totals, providers, workers.
    Status,
    /// Follow the run live: a progress bar toward the target (or coverage),
    /// rate and cost; exits when the run stops, or on Ctrl-C.
    Watch {
        /// Follow this run (the `run_id` that `start` printed): exit once it
        /// stops, even if it stopped before the first snapshot arrived.
        #[arg(long)]
        run_id: Option<String>,
    },
    /// Print the provider weights; with NAME=WEIGHT pairs, override them
    /// until `--clear`.
    Weights {
        /// e.g. `sim-small=0.7 sim-large=0.3`
        #[arg(value_parser = parse_weight)]
        weights: Vec<(String, f64)>,
        /// Go back to weights learned from yield.
        #[arg(long, conflicts_with = "weights")]
        clear: bool,
    },
}

/// `NAME=WEIGHT`.
fn parse_weight(s: &str) -> Result<(String, f64), String> {
    let (name, weight) = s
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=WEIGHT, got {s:?}"))?;
    let weight = weight
        .trim()
        .parse::<f64>()
        .map_err(|e| format!("weight of {name:?}: {e}"))?;
    Ok((name.trim().to_string(), weight))
}

/// The control verb and payload a command sends (`watch` sends none: it
/// follows the metrics instead).
fn command(verb: Verb) -> anyhow::Result<(ControlVerb, Vec<u8>)> {
    Ok(match verb {
        Verb::Watch { .. } => anyhow::bail!("watch sends no command"),
        Verb::Start {
            topic,
            target,
            target_valid,
            budget_usd,
            max_duration_s,
            min_coverage,
            min_yield_per_1k_tokens,
            items_per_request,
            no_weights,
            no_partitions,
            no_avoid,
            judge_rate,
            judge_provider,
            judge_confirm,
            judge_closed,
        } => {
            let request = StartRequest {
                v: VERSION,
                topic,
                target,
                target_valid,
                budget_usd,
                max_duration_s,
                min_coverage,
                min_yield_per_1k_tokens,
                items_per_request,
                prompt_template: None,
                strategies: Strategies {
                    weights: !no_weights,
                    partitions: !no_partitions,
                    avoid: !no_avoid,
                },
                judge_rate,
                judge_provider,
                judge_confirm: judge_confirm.then_some(true),
                judge_closed: judge_closed.then_some(true),
            };
            (ControlVerb::Start, serde_json::to_vec(&request)?)
        }
        Verb::Stop => (ControlVerb::Stop, Vec::new()),
        Verb::Status => (ControlVerb::Status, Vec::new()),
        Verb::Weights { weights, clear } => {
            let payload = if weights.is_empty() && !clear {
                Vec::new()
            } else {
                let weights: BTreeMap<String, f64> = weights.into_iter().collect();
                serde_json::to_vec(&WeightsRequest {
                    v: VERSION,
                    weights: (!weights.is_empty()).then_some(weights),
                    clear,
                })?
            };
            (ControlVerb::Weights, payload)
        }
    })
}

/// Sends the command and prints the reply; fails when the coordinator
/// refused it or did not answer.
pub async fn ctl(nats: &igentai_client::NatsArgs, verb: Verb) -> anyhow::Result<()> {
    let client = nats
        .connect_once("operator", Duration::from_secs(5))
        .await?;
    let (verb, payload) = match verb {
        Verb::Watch { run_id } => return crate::cli::watch::watch(&client, run_id).await,
        verb => command(verb)?,
    };
    let answer = client
        .send_request(
            verb.subject(),
            igentai_client::request_within(payload, ANSWER),
        )
        .await
        .map_err(|e| match e.kind() {
            RequestErrorKind::TimedOut => {
                anyhow::anyhow!("the coordinator did not answer within {ANSWER:?}")
            }
            RequestErrorKind::NoResponders => {
                anyhow::anyhow!("no coordinator answered (is it running?)")
            }
            _ => anyhow::anyhow!("the request failed: {e}"),
        })?;
    let reply: serde_json::Value =
        serde_json::from_slice(&answer.payload).context("unreadable reply")?;
    println!("{}", serde_json::to_string_pretty(&reply)?);
    if reply.get("ok") != Some(&serde_json::Value::Bool(true)) {
        anyhow::bail!("the coordinator refused the command");
    }
    // Said beside the reply, which stays the only thing on stdout.
    if verb == ControlVerb::Stop
        && let Ok(stop) = serde_json::from_value::<StopReply>(reply)
        && let Some(line) = batches_stopped_line(&stop.batches_stopped)
    {
        eprintln!("{line}");
    }
    Ok(())
}

/// What a stop did to the vendor batches in flight (batch mode): how many
/// were cancelled, the answers the vendors had already delivered (billed,
/// and kept) with their cost, and those still cancelling; `None` when no
/// worker had any.
pub fn batches_stopped_line(stopped: &[BatchesStopped]) -> Option<String> {
    let cancelled: u64 = stopped.iter().map(|b| u64::from(b.cancelled)).sum();
    let answers: u64 = stopped.iter().map(|b| b.answers).sum();
    let cost: f64 = stopped.iter().map(|b| b.cost_usd).sum();
    let unfinished: u64 = stopped.iter().map(|b| u64::from(b.unfinished)).sum();
    if cancelled + answers + unfinished == 0 {
        return None;
    }
    let plural = |n: u64, one: &str, many: &str| {
        format!("{} {}", thousands(n), if n == 1 { one } else { many })
    };
    let mut line = format!(
        "cancelled {}: {} already paid for ({}), kept",
        plural(cancelled, "vendor batch", "vendor batches"),
        plural(answers, "answer", "answers"),
        usd(cost)
    );
    if unfinished > 0 {
        let (their, end) = match unfinished {
            1 => ("its", "it ends"),
            _ => ("their", "they end"),
        };
        line.push_str(&format!(
            "; {} still cancelling, {their} answers published once {end}",
            thousands(unfinished)
        ));
    }
    Some(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stopped(
        worker: &str,
        cancelled: u32,
        answers: u64,
        cost_usd: f64,
        unfinished: u32,
    ) -> BatchesStopped {
        BatchesStopped {
            worker_id: worker.into(),
            provider: "bulk".into(),
            cancelled,
            answers,
            cost_usd,
            unfinished,
        }
    }

    #[test]
    fn a_stop_says_what_it_cancelled_and_what_was_paid() {
        let check = |stopped: &[BatchesStopped], expected: Option<&str>| {
            assert_eq!(
                batches_stopped_line(stopped).as_deref(),
                expected,
                "{stopped:?}"
            );
        };
        check(&[], None);
        check(&[stopped("w1", 0, 0, 0.0, 0)], None);
        check(
            &[stopped("w1", 1, 1, 0.0012, 0)],
            Some("cancelled 1 vendor batch: 1 answer already paid for ($0.0012), kept"),
        );
        check(
            &[
                stopped("w1", 2, 1_200, 1.5, 0),
                stopped("w2", 1, 34, 0.25, 1),
            ],
            Some(
                "cancelled 3 vendor batches: 1,234 answers already paid for ($1.75), kept; \
                 1 still cancelling, its answers published once it ends",
            ),
        );
        check(
            &[stopped("w1", 2, 0, 0.0, 2)],
            Some(
                "cancelled 2 vendor batches: 0 answers already paid for ($0.00), kept; \
                 2 still cancelling, their answers published once they end",
            ),
        );
    }

    /// The start request `coordinator ctl start <args>` sends.
    fn start_sent(args: &[&str]) -> StartRequest {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(subcommand)]
            verb: Verb,
        }
        let typed = ["ctl", "start"].iter().chain(args);
        let verb = <Cli as clap::Parser>::try_parse_from(typed).unwrap().verb;
        let (verb, payload) = command(verb).unwrap();
        assert_eq!(verb, ControlVerb::Start);
        serde_json::from_slice(&payload).unwrap()
    }

    #[test]
    fn start_flags_become_the_request() {
        let plain = start_sent(&["Rare cheeses"]);
        assert_eq!(
            (
                plain.topic.as_str(),
                plain.judge_rate,
                plain.judge_confirm,
                plain.judge_closed
            ),
            ("Rare cheeses", None, None, None),
            "unset: the coordinator's defaults"
        );
        let judged = start_sent(&[
            "Rare cheeses",
            "--judge-rate",
            "0.5",
            "--judge-provider",
            "big",
            "--judge-confirm",
            "--judge-closed",
            "--no-avoid",
        ]);
        assert_eq!(
            (
                judged.judge_rate,
                judged.judge_provider.as_deref(),
                judged.judge_confirm,
                judged.judge_closed,
                judged.strategies.avoid,
                judged.strategies.partitions,
            ),
            (Some(0.5), Some("big"), Some(true), Some(true), false, true)
        );
    }

    #[test]
    fn weight_pairs() {
        assert_eq!(parse_weight("sim=0.7"), Ok(("sim".into(), 0.7)));
        assert_eq!(parse_weight(" big = 1 "), Ok(("big".into(), 1.0)));
        assert!(parse_weight("sim").is_err());
        assert!(parse_weight("sim=lots").is_err());
    }
}
