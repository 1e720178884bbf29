//! Commands to workers (`igentai.work.<worker_id>`, request-reply), sent
//! from spawned tasks so the event loop never waits on a worker.
//!
//! A command names its run and goes to one worker's subject, which only
//! that worker may read (`nats.conf`); its answer counts only when it names
//! that worker, so no worker confirms a stop for another.

use std::time::Duration;

use igentai_protocol::{
    JudgeReply, JudgeRequest, PartitionReply, PartitionRequest, Reply, StopReply, StopWork,
    VERSION, WorkerAck, WorkerCommand, subjects,
};
use tokio::sync::mpsc;

use crate::ingest::admission::{Limits, check_spend};
use crate::run::stats::Spend;

/// An answer fed back into the event loop.
#[derive(Debug)]
pub enum Answer {
    Worker(CommandResult),
    Partitions {
        run_id: String,
        parent: Option<String>,
        result: Result<Vec<String>, String>,
        /// Tokens and cost the job reported, answered or refused, within
        /// what one call can spend (nothing when it claimed more).
        spend: Spend,
    },
    Verdicts {
        run_id: String,
        /// The job's number in the run's judging.
        job: u64,
        /// One answer per item, in the order sent, or why not.
        result: Result<Vec<igentai_protocol::Answer>, String>,
        /// The provider that judged, its model and the worker asked.
        judge: Judge,
        spend: Spend,
    },
}

/// Who answered a judge job.
#[derive(Debug, Clone, Default)]
pub struct Judge {
    pub provider: String,
    pub model: String,
    pub worker_id: String,
}

/// A worker's answer to a command.
#[derive(Debug)]
pub struct CommandResult {
    pub worker_id: String,
    pub ok: bool,
    pub error: Option<String>,
    /// On a stop: the vendor batches the worker cancelled.
    pub batches_stopped: Vec<igentai_protocol::BatchesStopped>,
}

/// Sends `command` to one worker and reports its answer on `results`.
pub fn send(
    client: &async_nats::Client,
    worker_id: &str,
    command: WorkerCommand,
    timeout: Duration,
    results: &mpsc::Sender<Answer>,
) {
    let (client, results, worker_id) = (client.clone(), results.clone(), worker_id.to_string());
    tokio::spawn(async move {
        let result = request(&client, &worker_id, &command, timeout).await;
        let _ = results.send(Answer::Worker(result)).await;
    });
}

/// Asks one worker of the queue group for sub-categories; the answer comes
/// back as [`Answer::Partitions`], its spend held to `limits` like a
/// batch's.
pub fn request_partitions(
    client: &async_nats::Client,
    request: PartitionRequest,
    timeout: Duration,
    limits: Limits,
    results: &mpsc::Sender<Answer>,
) {
    let (client, results) = (client.clone(), results.clone());
    tokio::spawn(async move {
        let payload = match serde_json::to_vec(&request) {
            Ok(payload) => payload,
            Err(e) => {
                tracing::error!(error = %e, "cannot encode a partition request");
                return;
            }
        };
        let answer = tokio::time::timeout(
            timeout,
            client.send_request(
                subjects::PARTITION_JOBS,
                igentai_client::request_within(payload, timeout),
            ),
        )
        .await;
        let mut spend = Spend::default();
        let result = match answer {
            Err(_) => Err(format!("no answer within {timeout:?}")),
            Ok(Err(e)) => Err(e.to_string()),
            Ok(Ok(msg)) => match serde_json::from_slice::<PartitionReply>(&msg.payload) {
                Ok(r) => judge(r, &limits, &mut spend),
                Err(e) => Err(format!("unreadable answer: {e}")),
            },
        };
        if let Err(e) = &result {
            tracing::warn!(parent = ?request.parent, error = %e, "partition request failed");
        }
        let _ = results
            .send(Answer::Partitions {
                run_id: request.run_id,
                parent: request.parent,
                result,
                spend,
            })
            .await;
    });
}

/// A partition job's answer: its names (those that can be partitions) or
/// why not, and into `spend` what it cost, unless it claims more than one
/// call can, in which case it is not believed at all.
fn judge(reply: PartitionReply, limits: &Limits, spend: &mut Spend) -> Result<Vec<String>, String> {
    let claimed = check_spend(limits, 0, reply.tokens_in, reply.tokens_out, reply.cost_usd);
    if let Err(reject) = claimed {
        return Err(format!("answer of worker {:?}: {reject}", reply.worker_id));
    }
    *spend = Spend {
        tokens_in: reply.tokens_in,
        tokens_out: reply.tokens_out,
        cost_usd: reply.cost_usd,
    };
    match reply.ok {
        // A name a batch could not carry back as its partition is dropped.
        true => Ok(reply
            .partitions
            .into_iter()
            .filter(|p| {
                igentai_protocol::ids::valid_label(p, igentai_protocol::ids::MAX_NOTE_BYTES)
            })
            .collect()),
        false => Err(reply.error.unwrap_or_else(|| "refused".into())),
    }
}

/// Asks one worker of the queue group for verdicts on `request.items`;
/// the answer comes back as [`Answer::Verdicts`], its spend held to
/// `limits` like a batch's.
pub fn request_verdicts(
    client: &async_nats::Client,
    request: JudgeRequest,
    job: u64,
    timeout: Duration,
    limits: Limits,
    results: &mpsc::Sender<Answer>,
) {
    let (client, results) = (client.clone(), results.clone());
    tokio::spawn(async move {
        let payload = serde_json::to_vec(&request).expect("judge requests serialize");
        let answer = tokio::time::timeout(
            timeout,
            client.send_request(
                subjects::JUDGE_JOBS,
                igentai_client::request_within(payload, timeout),
            ),
        )
        .await;
        let mut spend = Spend::default();
        let mut judge = Judge::default();
        let result = match answer {
            Err(_) => Err(format!("no answer within {timeout:?}")),
            Ok(Err(e)) => Err(e.to_string()),
            Ok(Ok(msg)) => match serde_json::from_slice::<JudgeReply>(&msg.payload) {
                Ok(r) => verdicts(r, request.items.len(), &limits, &mut spend, &mut judge),
                Err(e) => Err(format!("unreadable answer: {e}")),
            },
        };
        if let Err(e) = &result {
            tracing::warn!(job, error = %e, "judge job failed");
        }
        let _ = results
            .send(Answer::Verdicts {
                run_id: request.run_id,
                job,
                result,
                judge,
                spend,
            })
            .await;
    });
}

/// A judge job's answers, one per item sent, or why not; into `spend`
/// what its calls cost and into `judge` who answered, unless it claims more
/// than a candidate batch may spend or names itself with what a record
/// cannot carry, in which case it is not believed at all.
fn verdicts(
    reply: JudgeReply,
    sent: usize,
    limits: &Limits,
    spend: &mut Spend,
    judge: &mut Judge,
) -> Result<Vec<igentai_protocol::Answer>, String> {
    use igentai_protocol::ids::{MAX_NOTE_BYTES, valid_label};
    let worker = reply.worker_id.clone();
    if let Err(reject) = check_spend(limits, 0, reply.tokens_in, reply.tokens_out, reply.cost_usd) {
        return Err(format!("answer of worker {worker:?}: {reject}"));
    }
    if reply.tokens_cached_in > reply.tokens_in {
        return Err(format!(
            "answer of worker {worker:?}: more cached input tokens than input tokens"
        ));
    }
    for label in [&reply.worker_id, &reply.provider, &reply.model] {
        if !label.is_empty() && !valid_label(label, MAX_NOTE_BYTES) {
            return Err(format!(
                "answer of worker {worker:?}: an unusable name {label:?}"
            ));
        }
    }
    *spend = Spend {
        tokens_in: reply.tokens_in,
        tokens_out: reply.tokens_out,
        cost_usd: reply.cost_usd,
    };
    *judge = Judge {
        provider: reply.provider,
        model: reply.model,
        worker_id: reply.worker_id,
    };
    match reply.ok {
        true if reply.answers.len() == sent => Ok(reply.answers),
        true => Err(format!(
            "answer of worker {worker:?}: {} verdicts for {sent} items",
            reply.answers.len()
        )),
        false => Err(reply.error.unwrap_or_else(|| "refused".into())),
    }
}

async fn request(
    client: &async_nats::Client,
    worker_id: &str,
    command: &WorkerCommand,
    timeout: Duration,
) -> CommandResult {
    let payload = match serde_json::to_vec(command) {
        Ok(payload) => payload,
        Err(e) => {
            return CommandResult {
                worker_id: worker_id.to_string(),
                ok: false,
                error: Some(format!("cannot encode the command: {e}")),
                batches_stopped: vec![],
            };
        }
    };
    let answer = tokio::time::timeout(
        timeout,
        client.send_request(
            subjects::worker_command(worker_id),
            igentai_client::request_within(payload, timeout),
        ),
    )
    .await;
    let mut batches_stopped = vec![];
    let (ok, error) = match answer {
        Err(_) => (false, Some(format!("no answer within {timeout:?}"))),
        Ok(Err(e)) => (false, Some(e.to_string())),
        Ok(Ok(msg)) => match serde_json::from_slice::<WorkerAck>(&msg.payload) {
            Ok(ack) => {
                // Counted only from the worker asked, about itself.
                if ack.worker_id == worker_id {
                    batches_stopped = ack.batches_stopped.clone();
                    batches_stopped.retain(|b| b.worker_id == worker_id);
                }
                confirmed(worker_id, ack)
            }
            Err(e) => (false, Some(format!("unreadable answer: {e}"))),
        },
    };
    CommandResult {
        worker_id: worker_id.to_string(),
        ok,
        error,
        batches_stopped,
    }
}

/// Whether `ack` confirms a command sent to `worker_id`: only an answer
/// that names the addressee counts, whoever else managed to answer.
fn confirmed(worker_id: &str, ack: WorkerAck) -> (bool, Option<String>) {
    if ack.worker_id != worker_id {
        return (
            false,
            Some(format!(
                "answered as worker {:?}, not {worker_id:?}",
                ack.worker_id
            )),
        );
    }
    (ack.ok, ack.error)
}

/// Stops `workers` on `run_id` in parallel and, once all confirmed (or the
/// timeout passed), answers the stop request on `reply_to`.
pub fn stop_all(
    client: &async_nats::Client,
    workers: Vec<String>,
    mut reply: StopReply,
    reply_to: Option<async_nats::Subject>,
    timeout: Duration,
) {
    let client = client.clone();
    tokio::spawn(async move {
        let command = WorkerCommand::Stop(StopWork {
            v: VERSION,
            run_id: reply.run_id.clone(),
        });
        let results = futures::future::join_all(
            workers
                .iter()
                .map(|w| request(&client, w, &command, timeout)),
        )
        .await;
        for mut r in results {
            for b in &r.batches_stopped {
                tracing::info!(worker_id = %b.worker_id, provider = %b.provider, cancelled = b.cancelled,
                    answers = b.answers, paid_usd = b.cost_usd, unfinished = b.unfinished,
                    "vendor batches cancelled by the stop");
            }
            reply.batches_stopped.append(&mut r.batches_stopped);
            if r.ok {
                reply.workers_stopped.push(r.worker_id);
            } else {
                tracing::warn!(worker_id = %r.worker_id, error = ?r.error, "worker did not confirm stop");
                reply.workers_unresponsive.push(r.worker_id);
            }
        }
        tracing::info!(run_id = %reply.run_id, stopped = reply.workers_stopped.len(),
            unresponsive = reply.workers_unresponsive.len(), "workers stopped");
        if let Some(reply_to) = reply_to {
            let payload = Reply::ok(reply).to_json();
            if let Err(e) = client.publish(reply_to, payload.into()).await {
                tracing::warn!(error = %e, "could not answer stop");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(addressee: &str, ack: (&str, bool), expected: bool) {
        let ack = WorkerAck {
            v: VERSION,
            worker_id: ack.0.to_string(),
            ok: ack.1,
            error: None,
            batches_stopped: vec![],
        };
        assert_eq!(confirmed(addressee, ack).0, expected, "{addressee}");
    }

    const LIMITS: Limits = Limits {
        max_items: 2_000,
        max_tokens: 10_000,
        max_usd_per_mtok: 100.0,
    };

    fn reply(tokens_in: u64, tokens_out: u64, cost_usd: f64) -> PartitionReply {
        PartitionReply {
            v: VERSION,
            worker_id: "w1".into(),
            ok: true,
            error: None,
            partitions: vec!["Soft".into(), "Blue\nX".into(), "".into()],
            provider: "sim".into(),
            tokens_in,
            tokens_out,
            cost_usd,
        }
    }

    #[test]
    fn partition_answers_are_held_to_what_one_call_can_spend() {
        for (tokens_in, tokens_out, cost, believed) in [
            (2_000, 1_000, 0.25, true),
            (6_000, 4_000, 1.0, true),
            (6_000, 4_001, 0.0, false),
            (u64::MAX, 1, 0.0, false),
            (2_000, 1_000, 0.31, false),
            (2_000, 1_000, 1e300, false),
            (2_000, 1_000, -1.0, false),
            (2_000, 1_000, f64::NAN, false),
            (2_000, 1_000, f64::INFINITY, false),
        ] {
            let mut spend = Spend::default();
            let result = judge(reply(tokens_in, tokens_out, cost), &LIMITS, &mut spend);
            let case = format!("{tokens_in} {tokens_out} {cost}");
            assert_eq!(result.is_ok(), believed, "{case}: {result:?}");
            match believed {
                true => assert_eq!(spend.cost_usd, cost, "{case}"),
                false => assert_eq!(spend, Spend::default(), "{case}"),
            }
        }
        let mut spend = Spend::default();
        let names = judge(reply(1, 1, 0.0), &LIMITS, &mut spend).unwrap();
        assert_eq!(names, ["Soft"]);
        let mut refused = reply(10, 10, 0.001);
        (refused.ok, refused.error) = (false, Some("busy".into()));
        assert_eq!(judge(refused, &LIMITS, &mut spend), Err("busy".into()));
        assert_eq!(spend.tokens_in, 10, "a refusal still costs what it spent");
    }

    #[test]
    fn only_the_addressee_confirms() {
        for (addressee, ack, expected) in [
            ("w1", ("w1", true), true),
            ("w1", ("w1", false), false),
            ("w1", ("w2", true), false),
            ("w1", ("", true), false),
        ] {
            check(addressee, ack, expected);
        }
    }
}
