//! Control verbs: `start`, `stop`, `status`, `weights`, as methods of the
//! coordinator's state. Decoding and validation are in `crate::service::decode`;
//! this file applies a valid request and answers it.

use igentai_protocol::{
    ControlVerb, Reply, RunState, StartReply, StopReply, VERSION, WeightsReply, WeightsUpdate,
    WorkerCommand, now_ms, subjects,
};

use super::state::Coordinator;
use crate::fleet::dispatch;
use crate::judge::Judging;
use crate::run::Run;
use crate::run::stats::RunStats;
use crate::service::decode;
use crate::steer::Steering;

impl Coordinator {
    pub(super) async fn handle_control(&mut self, msg: async_nats::Message) {
        let verb = subjects::control_verb(&msg.subject).unwrap_or_default();
        let reply: Option<Vec<u8>> = match ControlVerb::parse(verb) {
            Some(ControlVerb::Start) => Some(match self.start(&msg.payload).await {
                Ok(r) => Reply::ok(r).to_json(),
                Err(e) => Reply::err(e).to_json(),
            }),
            Some(ControlVerb::Stop) => match decode::decode_no_args(&msg.payload) {
                Err(e) => Some(Reply::err(e.to_string()).to_json()),
                Ok(()) if !self.run.as_ref().is_some_and(Run::is_running) => {
                    Some(Reply::err("no run is active").to_json())
                }
                Ok(()) => {
                    // Answered by the stop task once the workers confirmed.
                    self.finish_run("stop command", msg.reply.clone());
                    self.share_run().await;
                    None
                }
            },
            Some(ControlVerb::Status) => Some(match decode::decode_no_args(&msg.payload) {
                Ok(()) => {
                    let mut snapshot = self.snapshot(now_ms());
                    if let Some(backlog) = self.live_backlog().await {
                        snapshot.backlog = backlog;
                    }
                    Reply::ok(snapshot).to_json()
                }
                Err(e) => Reply::err(e.to_string()).to_json(),
            }),
            Some(ControlVerb::Weights) => Some(match self.weights(&msg.payload).await {
                Ok(r) => Reply::ok(r).to_json(),
                Err(e) => Reply::err(e).to_json(),
            }),
            None => Some(
                Reply::err(format!(
                    "unknown control verb {verb:?}: use start, stop, status or weights"
                ))
                .to_json(),
            ),
        };
        if let (Some(reply), Some(to)) = (reply, msg.reply)
            && let Err(e) = self.nats.client.publish(to, reply.into()).await
        {
            tracing::warn!(error = %e, "could not answer a control request");
        }
    }

    /// Batches in the stream not yet acknowledged by this coordinator, as
    /// JetStream counts them now: the ones not delivered yet plus the ones
    /// delivered and waiting for their commit (or still in the event
    /// queue). The metrics' backlog is as of the last batch read; `status`
    /// answers with this one, so "0" means everything published so far is
    /// written (scripts/stop.sh waits for it before stopping the
    /// coordinator). `None` when JetStream does not answer.
    async fn live_backlog(&self) -> Option<u64> {
        let js = async_nats::jetstream::new(self.nats.client.clone());
        let lookup = async {
            let mut consumer = js
                .get_consumer_from_stream::<async_nats::jetstream::consumer::pull::Config, _, _>(
                    subjects::CONSUMER,
                    subjects::STREAM,
                )
                .await
                .ok()?;
            let info = consumer.info().await.ok()?;
            Some(info.num_pending + info.num_ack_pending as u64)
        };
        tokio::time::timeout(std::time::Duration::from_secs(2), lookup)
            .await
            .ok()
            .flatten()
    }

    async fn start(&mut self, payload: &[u8]) -> Result<StartReply, String> {
        let mut request = decode::decode_start(payload).map_err(|e| e.to_string())?;
        request.judge_rate = Some(
            request
                .judge_rate
                .unwrap_or(self.config.judge_rate)
                .clamp(0.0, 1.0),
        );
        request.judge_confirm = Some(request.judge_confirm.unwrap_or(self.config.judge_confirm));
        request.judge_closed = Some(request.judge_closed.unwrap_or(self.config.judge_closed));
        if request.judge_provider.is_none() {
            request
                .judge_provider
                .clone_from(&self.config.judge_provider);
        }
        if let Some(run) = self.run.as_ref().filter(|r| r.is_running()) {
            return Err(format!(
                "a run is already active ({:?}, run {}); stop it first",
                run.info.topic, run.info.run_id
            ));
        }
        let now = now_ms();
        let topic = self
            .ingest
            .open(&request.topic)
            .await
            .map_err(|e| format!("cannot open the topic's folder: {e}"))?;
        let known = topic.len();
        let run = Run::new(&request, topic.slug(), topic.dir(), known, now);
        self.admission
            .remember(&run.info.run_id, &run.info.topic)
            .map_err(|e| format!("cannot record the run: {e}"))?;
        if let Some(runs) = &self.shared.bucket {
            crate::replication::runs_bucket::record(runs, &run.info.run_id, &run.info.topic)
                .await
                .map_err(|e| format!("cannot record the run: {e:#}"))?;
        }
        run.save(&self.config.data_dir)
            .map_err(|e| format!("cannot save the run: {e}"))?;
        if let Some(runs) = &self.shared.bucket {
            crate::replication::runs_bucket::save_current(runs, &run)
                .await
                .map_err(|e| format!("cannot share the run: {e:#}"))?;
            self.shared.run = Some(run.clone());
        }
        let reply = StartReply {
            run_id: run.info.run_id.clone(),
            topic: run.info.topic.clone(),
            slug: run.info.slug.clone(),
            output_dir: run.info.output_dir.clone(),
            resumed: known > 0,
            known_items: known,
        };
        tracing::info!(run_id = %reply.run_id, topic = %reply.topic, known, "run started");
        self.stats = RunStats::new(now);
        self.steering = Steering::tuned(
            run.info.strategies,
            self.steering.manual(),
            self.config.tuning(),
        );
        let workers: Vec<String> = self
            .workers
            .fleet
            .alive()
            .map(|h| h.worker_id.clone())
            .collect();
        for worker_id in workers {
            let assignment = self.steering.assignment(&run, &worker_id, now);
            self.command(&worker_id, WorkerCommand::Assign(assignment), now);
        }
        self.judging = Judging::for_run(&run.info, self.config.judge_batch);
        self.run = Some(run);
        self.persist(now);
        Ok(reply)
    }

    /// `weights`: read the weights, set a manual override, or clear it.
    async fn weights(&mut self, payload: &[u8]) -> Result<WeightsReply, String> {
        let request = decode::decode_weights(payload).map_err(|e| e.to_string())?;
        if request.clear {
            self.steering.set_manual(None);
            tracing::info!("manual weights cleared");
        } else if let Some(weights) = request.weights {
            tracing::info!(?weights, "manual weights set");
            self.steering.set_manual(Some(weights));
        }
        if request.clear || self.steering.manual().is_some() {
            self.publish_weights().await;
        }
        let (weights, version, manual) = self.steering.weights();
        Ok(WeightsReply {
            weights: weights.clone(),
            version,
            manual,
        })
    }

    pub(super) async fn publish_weights(&self) {
        let Some(run) = self.run.as_ref().filter(|r| r.is_running()) else {
            return;
        };
        let (weights, version, manual) = self.steering.weights();
        let update = WeightsUpdate {
            v: VERSION,
            run_id: run.info.run_id.clone(),
            version,
            weights: weights.clone(),
            manual,
        };
        let payload = serde_json::to_vec(&update).expect("weight updates serialize");
        if let Err(e) = self
            .nats
            .client
            .publish(subjects::WEIGHTS, payload.into())
            .await
        {
            tracing::warn!(error = %e, "could not publish weights");
        }
    }

    /// Ends the running run and stops its workers; `reply_to` gets the
    /// answer once they confirmed.
    pub(super) fn finish_run(&mut self, reason: &str, reply_to: Option<async_nats::Subject>) {
        let now = now_ms();
        let Some(run) = self.run.as_mut() else { return };
        run.finish(reason, now);
        if let Err(e) = run.save(&self.config.data_dir) {
            tracing::error!(error = %e, "cannot save the stopped run");
        }
        let reply = StopReply {
            run_id: run.info.run_id.clone(),
            topic: run.info.topic.clone(),
            state: RunState::Stopped,
            stop_reason: reason.to_string(),
            unique: self.ingest.get(&run.info.topic).map_or(0, |t| t.len()),
            workers_stopped: Vec::new(),
            workers_unresponsive: Vec::new(),
            batches_stopped: Vec::new(),
        };
        tracing::info!(run_id = %reply.run_id, reason, unique = reply.unique, "run stopped");
        let workers: Vec<String> = self
            .workers
            .fleet
            .alive()
            .map(|h| h.worker_id.clone())
            .collect();
        for w in &workers {
            self.workers.last_command_ms.insert(w.clone(), now);
        }
        dispatch::stop_all(
            &self.nats.client,
            workers,
            reply,
            reply_to,
            self.config.stop_timeout(),
        );
        self.persist(now);
    }
}
