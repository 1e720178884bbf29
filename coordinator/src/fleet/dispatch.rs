//! Commands to workers (`igentai.work.<worker_id>`, request-reply), sent
//! from spawned tasks so the event loop never waits on a worker.
//!
//! A command names its run and goes to one worker's subject, which only
//! that worker may read (`nats.conf`); its answer counts only when it names
//! that worker, so no worker confirms a stop for another.

use std::time::Duration;

use igentai_protocol::{
    PartitionReply, PartitionRequest, Reply, StopReply, StopWork, VERSION, WorkerAck,
    WorkerCommand, subjects,
};
use tokio::sync::mpsc;

/// An answer fed back into the event loop.
#[derive(Debug)]
pub enum Answer {
    Worker(CommandResult),
    Partitions {
        run_id: String,
        parent: Option<String>,
        result: Result<Vec<String>, String>,
        /// Tokens and cost the job reported, answered or refused.
        tokens: u64,
        cost_usd: f64,
    },
}

/// A worker's answer to a command.
#[derive(Debug)]
pub struct CommandResult {
    pub worker_id: String,
    pub ok: bool,
    pub error: Option<String>,
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
/// back as [`Answer::Partitions`].
pub fn request_partitions(
    client: &async_nats::Client,
    request: PartitionRequest,
    timeout: Duration,
    results: &mpsc::Sender<Answer>,
) {
    let (client, results) = (client.clone(), results.clone());
    tokio::spawn(async move {
        let payload = serde_json::to_vec(&request).expect("partition requests serialize");
        let answer = tokio::time::timeout(
            timeout,
            client.request(subjects::PARTITION_JOBS, payload.into()),
        )
        .await;
        let (mut tokens, mut cost_usd) = (0, 0.0);
        let result = match answer {
            Err(_) => Err(format!("no answer within {timeout:?}")),
            Ok(Err(e)) => Err(e.to_string()),
            Ok(Ok(msg)) => match serde_json::from_slice::<PartitionReply>(&msg.payload) {
                Ok(r) => {
                    tokens = r.tokens_in.saturating_add(r.tokens_out);
                    cost_usd = if r.cost_usd.is_finite() {
                        r.cost_usd.max(0.0)
                    } else {
                        0.0
                    };
                    match r.ok {
                        true => Ok(r.partitions),
                        false => Err(r.error.unwrap_or_else(|| "refused".into())),
                    }
                }
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
                tokens,
                cost_usd,
            })
            .await;
    });
}

async fn request(
    client: &async_nats::Client,
    worker_id: &str,
    command: &WorkerCommand,
    timeout: Duration,
) -> CommandResult {
    let payload = serde_json::to_vec(command).expect("worker commands serialize");
    let answer = tokio::time::timeout(
        timeout,
        client.request(subjects::worker_command(worker_id), payload.into()),
    )
    .await;
    let (ok, error) = match answer {
        Err(_) => (false, Some(format!("no answer within {timeout:?}"))),
        Ok(Err(e)) => (false, Some(e.to_string())),
        Ok(Ok(msg)) => match serde_json::from_slice::<WorkerAck>(&msg.payload) {
            Ok(ack) => confirmed(worker_id, ack),
            Err(e) => (false, Some(format!("unreadable answer: {e}"))),
        },
    };
    CommandResult {
        worker_id: worker_id.to_string(),
        ok,
        error,
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
        for r in results {
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
        };
        assert_eq!(confirmed(addressee, ack).0, expected, "{addressee}");
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
