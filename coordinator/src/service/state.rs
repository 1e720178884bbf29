//! The coordinator's state, grouped into its parts, and what the event
//! loop asks of it: one `handle_*` method per event.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream;
use igentai_protocol::{
    Heartbeat, PartitionRequest, VERSION, WorkerCommand, WorkerState, now_ms, subjects,
};
use tokio::sync::mpsc;

use crate::config::Config;
use crate::fleet::dispatch::{self, Answer};
use crate::fleet::{Fleet, Seen};
use crate::ingest::admission::Admission;
use crate::ingest::{Ingest, Ingested};
use crate::judge::Judging;
use crate::replication::ledger::Ledger;
use crate::run::stats::RunStats;
use crate::run::{Progress, Run};
use crate::steer::Steering;
use crate::topic::Topic;
use crate::topic::state::TopicState;

/// Workers are not sent the same kind of command again within this time.
const COMMAND_RETRY_MS: u64 = 3_000;
/// How long a worker may take to name sub-categories.
const PARTITION_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a judge job may take before its items are sent again.
pub(super) const JUDGE_TIMEOUT: Duration = Duration::from_secs(120);
/// How often the sighting counts' cache is saved (it only spares summing
/// the batch lines again on open).
const SIGHTINGS_SAVE_MS: u64 = 10_000;

/// The run's counters: every batch in its topic's batch log and every
/// verdict record of its items, plus the rejected and repeated counts and
/// the unrecorded judge spend of `earlier` (those are in no file). A folder from before the batch log keeps `earlier` as it is.
fn counted_stats(
    ingest: &Ingest,
    run: &Run,
    earlier: Option<&RunStats>,
) -> anyhow::Result<RunStats> {
    let mut stats = RunStats::new(run.info.started_at_ms);
    let folder = ingest.folder(&run.info.topic)?;
    let logged = crate::topic::batchlog::replay(&folder, &run.info.run_id, |line| {
        stats.record_batch(&line.batch, line.outcome, line.at_ms);
    })?;
    // The verdicts on its items, and what their judge calls cost.
    crate::topic::store::verdict_records(&folder, |record| {
        if record.run == run.info.run_id {
            stats.record_verdict(&record);
        }
    })?;
    match earlier {
        Some(earlier) if !logged => Ok(earlier.clone()),
        Some(earlier) => {
            stats.carry_uncounted(earlier);
            Ok(stats)
        }
        None => Ok(stats),
    }
}

/// Everything the event loop owns, in its parts.
pub(super) struct Coordinator {
    pub(super) config: Config,
    pub(super) nats: Links,
    /// The current run and its counters.
    pub(super) run: Option<Run>,
    pub(super) stats: RunStats,
    pub(super) steering: Steering,
    pub(super) workers: Workers,
    pub(super) ingest: Ingest,
    /// The runs started here and what one batch may claim.
    pub(super) admission: Admission,
    pub(super) shared: Shared,
    pub(super) report: Report,
    /// The current run's judging, when it judges its items.
    pub(super) judging: Option<Judging>,
}

/// The NATS connection and the channel that brings workers' answers back
/// to the loop.
pub(super) struct Links {
    pub(super) client: async_nats::Client,
    pub(super) results: mpsc::Sender<Answer>,
}

/// The live worker table and what was last said to each worker.
pub(super) struct Workers {
    pub(super) fleet: Fleet,
    pub(super) last_command_ms: HashMap<String, u64>,
    pub(super) logged_bad_heartbeat: HashSet<String>,
}

/// What other coordinators see: the runs bucket, the current run as last
/// shared there, and the streams' copies.
pub(super) struct Shared {
    /// The runs bucket in NATS (`replication/runs_bucket.rs`), once opened.
    pub(super) bucket: Option<async_nats::jetstream::kv::Store>,
    /// The current run as last shared there.
    pub(super) run: Option<Run>,
    /// Copies of each stream and bucket the coordinator creates.
    pub(super) replicas: usize,
    /// The streams' replication, read in the background.
    pub(super) streams: tokio::sync::watch::Receiver<Vec<igentai_protocol::StreamStatus>>,
}

/// What the coordinator reports: the metrics sequence, the last error, and
/// when sighting counts were last saved.
pub(super) struct Report {
    pub(super) seq: u64,
    pub(super) last_error: Option<String>,
    pub(super) sightings_saved_ms: u64,
}

impl Coordinator {
    /// Loads the current run (this data dir's, or the one another
    /// coordinator shared, whichever is later) and reopens its topic,
    /// restoring it from the items ledger where this data dir lacks it.
    pub(super) async fn new(
        config: Config,
        client: async_nats::Client,
        results: mpsc::Sender<Answer>,
        ledger: Ledger,
        shared: Option<Run>,
    ) -> anyhow::Result<Self> {
        let mut ingest = Ingest::new(config.data_dir.clone());
        ingest.set_ledger(ledger);
        let local = Run::load(&config.data_dir).context("read current-run.json")?;
        let mut run = crate::run::latest(local, shared.clone());
        let mut admission =
            Admission::load(&config.data_dir, config.limits()).context("read the run log")?;
        if let Some(run) = &run {
            // The run log may predate the current run (a data dir older than it).
            admission
                .remember(&run.info.run_id, &run.info.topic)
                .context("record the current run in the run log")?;
        }
        let mut stats = RunStats::new(now_ms());
        if let Some(run) = &mut run {
            let topic = ingest
                .open(&run.info.topic)
                .await
                .with_context(|| format!("open the folder of topic {:?}", run.info.topic))?;
            // The folder is this data dir's, wherever the run started.
            run.info.output_dir = topic.dir().display().to_string();
            run.info.slug = topic.slug().to_string();
            let saved = TopicState::read(topic.dir())
                .ok()
                .flatten()
                .filter(|s| s.run.as_ref().map(|r| &r.info.run_id) == Some(&run.info.run_id))
                .map(|s| s.stats);
            let unique = topic.len();
            stats = counted_stats(&ingest, run, saved.as_ref())
                .with_context(|| format!("read the batch log of topic {:?}", run.info.topic))?;
            // Counted from the log just now, caught up or not.
            ingest.take_recount(Some(&run.info.topic));
            tracing::info!(run_id = %run.info.run_id, topic = %run.info.topic, state = ?run.state,
                unique, batches = stats.totals(unique, now_ms()).batches, "restored the last run");
        }
        if let Some(run) = &run {
            run.save(&config.data_dir)
                .context("save current-run.json")?;
        }
        let strategies = run.as_ref().map(|r| r.info.strategies).unwrap_or_default();
        let judging = run
            .as_ref()
            .and_then(|r| Judging::for_run(&r.info, config.judge_batch));
        Ok(Self {
            judging,
            steering: Steering::tuned(strategies, None, config.tuning()),
            workers: Workers {
                fleet: Fleet::new(config.heartbeat_timeout_ms),
                last_command_ms: HashMap::new(),
                logged_bad_heartbeat: HashSet::new(),
            },
            config,
            nats: Links { client, results },
            run,
            stats,
            ingest,
            admission,
            shared: Shared {
                bucket: None,
                run: shared,
                replicas: 1,
                streams: tokio::sync::watch::channel(Vec::new()).1,
            },
            report: Report {
                seq: 0,
                last_error: None,
                sightings_saved_ms: now_ms(),
            },
        })
    }

    /// Providers some alive worker reports healthy.
    pub(super) fn healthy_providers(&self) -> Vec<String> {
        let mut providers = BTreeMap::new();
        self.workers.fleet.add_provider_health(&mut providers);
        providers
            .into_iter()
            .filter(|(_, p)| p.healthy_workers > 0)
            .map(|(name, _)| name)
            .collect()
    }

    pub(super) async fn handle_answer(&mut self, answer: Answer) {
        match answer {
            Answer::Verdicts {
                run_id,
                job,
                result,
                judge,
                spend,
            } => {
                if self.run.as_ref().map(|r| &r.info.run_id) != Some(&run_id) {
                    return;
                }
                // Answered or not, the run paid for it: an answer's spend
                // rides on its first verdict record.
                let judging = self.judging.as_mut().filter(|j| j.run_id == run_id);
                match (result, judging) {
                    (Ok(answers), Some(judging)) => {
                        let items = judging.done(job).unwrap_or_default();
                        let topic = judging.topic.clone();
                        let recorded = self
                            .record_verdicts(&topic, &run_id, items, answers, &judge, spend)
                            .await;
                        if !recorded {
                            self.stats.record_judge_job(&judge.provider, spend, true);
                        }
                    }
                    (Ok(_), None) => self.stats.record_judge_job(&judge.provider, spend, true),
                    (Err(_), judging) => {
                        self.stats.record_judge_job(&judge.provider, spend, false);
                        if let Some(judging) = judging {
                            judging.failed(job);
                        }
                    }
                }
                self.judge().await;
            }
            Answer::Worker(r) => {
                if !r.ok {
                    tracing::debug!(worker_id = %r.worker_id, error = ?r.error, "worker command failed");
                }
            }
            Answer::Partitions {
                run_id,
                parent,
                result,
                spend,
            } => {
                if self.run.as_ref().map(|r| &r.info.run_id) != Some(&run_id) {
                    return;
                }
                // The run paid for it: its totals and budget include it.
                self.stats.record_job(spend);
                let tokens = spend.tokens_in.saturating_add(spend.tokens_out);
                self.steering.charge_split(tokens, spend.cost_usd);
                // Names of items found already are members, not
                // sub-categories (a small model asked to split "US states"
                // names states); none left counts as a failed split.
                let topic = self.run.as_ref().map(|r| r.info.topic.clone());
                let result = match topic {
                    Some(topic) => {
                        result.and_then(|names| self.ingest.sub_categories(&topic, names))
                    }
                    None => result,
                };
                let added = self.steering.split_done(parent.as_deref(), result);
                tracing::info!(parent = ?parent, added, "partitions added");
            }
        }
    }

    pub(super) fn command(&mut self, worker_id: &str, command: WorkerCommand, now: u64) {
        self.workers
            .last_command_ms
            .insert(worker_id.to_string(), now);
        dispatch::send(
            &self.nats.client,
            worker_id,
            command,
            self.config.stop_timeout(),
            &self.nats.results,
        );
    }

    pub(super) fn handle_heartbeat(&mut self, msg: &async_nats::Message) {
        let subject_worker = subjects::heartbeat_worker(&msg.subject).unwrap_or_default();
        let hb = match serde_json::from_slice::<Heartbeat>(&msg.payload) {
            Ok(hb) if hb.worker_id == subject_worker => hb,
            Ok(_) | Err(_) => {
                if self
                    .workers
                    .logged_bad_heartbeat
                    .insert(subject_worker.to_string())
                {
                    tracing::warn!(subject = %msg.subject, "ignoring an unreadable heartbeat");
                }
                return;
            }
        };
        let now = now_ms();
        let providers = hb.providers.iter().map(|p| p.name.as_str());
        self.admission.observe_providers(&hb.worker_id, providers);
        let (seen, failed) = self.workers.fleet.observe(hb.clone(), now);
        match seen {
            Seen::New => tracing::info!(worker_id = %hb.worker_id, "worker joined"),
            Seen::Returned => tracing::info!(worker_id = %hb.worker_id, "worker is back"),
            Seen::Known => {}
        }
        for (provider, n) in failed {
            self.steering.observe_failures(&provider, n, now);
        }
        self.reconcile(&hb, now);
    }

    /// Brings a worker in line with the run: assign it if it is not working
    /// on the running run, stop it if it works on a run that is over.
    pub(super) fn reconcile(&mut self, hb: &Heartbeat, now: u64) {
        let recently = self
            .workers
            .last_command_ms
            .get(&hb.worker_id)
            .is_some_and(|t| now.saturating_sub(*t) < COMMAND_RETRY_MS);
        if recently || hb.state == WorkerState::Stopping {
            return;
        }
        match self.run.as_ref().filter(|r| r.is_running()) {
            Some(run)
                if hb.run_id.as_deref() != Some(run.info.run_id.as_str())
                    || hb.partition.as_deref() != self.steering.desired(&hb.worker_id) =>
            {
                let assignment = self.steering.assignment(run, &hb.worker_id, now);
                self.command(&hb.worker_id, WorkerCommand::Assign(assignment), now);
            }
            None if hb.state == WorkerState::Running => {
                if let Some(run_id) = hb.run_id.clone() {
                    let stop =
                        WorkerCommand::Stop(igentai_protocol::StopWork { v: VERSION, run_id });
                    self.command(&hb.worker_id, stop, now);
                }
            }
            _ => {}
        }
    }

    pub(super) async fn handle_batch(&mut self, msg: jetstream::Message) {
        let received = self.ingest.receive(msg, &self.admission).await;
        // Before this batch is counted: the log holds what is on disk, and
        // this batch is not on disk yet.
        let run_topic = self.run.as_ref().map(|r| r.info.topic.as_str());
        if self.ingest.take_recount(run_topic) {
            self.recount();
        }
        match received {
            Ok(Ingested::Pending { batch, outcome }) => {
                if self.run.as_ref().map(|r| &r.info.run_id) == Some(&batch.run_id) {
                    let now = now_ms();
                    self.stats.record_batch(&batch, outcome, now);
                    let duplicates = self.ingest.duplicates();
                    self.steering.observe(&batch, outcome, &duplicates, now);
                }
            }
            Ok(Ingested::Repeat) => self.stats.record_repeated(),
            Ok(Ingested::Rejected(reject)) => self.stats.record_rejected(reject.kind()),
            // Reported in last_error while it lasts (`Ingest::open_error`).
            Err(e) => tracing::debug!(error = %e, "a batch waits"),
        }
    }

    /// Commits everything and waits for the acks (at shutdown).
    pub(super) async fn commit(&mut self) {
        let result = self.ingest.commit(&self.nats.client).await;
        self.committed(result);
    }

    /// Starts syncing the waiting batches; the loop hears when it is done.
    pub(super) async fn start_commit(&mut self) {
        match self.ingest.start_commit(&self.nats.client).await {
            Err(e) => self.committed(Err(e)),
            // Nothing to write (repeats only): acknowledged at once, and a
            // commit that works, so an earlier write error is over.
            Ok(()) if !self.ingest.is_syncing() => self.committed(Ok(0)),
            Ok(()) => {}
        }
    }

    pub(super) async fn finish_commit(
        &mut self,
        result: std::io::Result<crate::replication::ledger::Marks>,
    ) {
        let result = self.ingest.finish_commit(result, &self.nats.client).await;
        self.committed(result);
    }

    pub(super) fn committed(&mut self, result: std::io::Result<usize>) {
        match result {
            Ok(_) => {
                if self.report.last_error.take().is_some() {
                    tracing::info!("writing items works again");
                }
            }
            Err(e) => self.report_error(format!(
                "cannot sync items to disk: {e}; batches are held back and retried"
            )),
        }
        let run_topic = self.run.as_ref().map(|r| r.info.topic.as_str());
        if self.ingest.take_recount(run_topic) {
            self.recount();
        }
        self.check_stop(now_ms());
    }

    /// Rebuilds the run's counters from the batch log after the open
    /// topics were dropped: the batches counted since the last sync are
    /// handed back and will be counted when they come again.
    pub(super) fn recount(&mut self) {
        let Some(run) = &self.run else {
            return;
        };
        match counted_stats(&self.ingest, run, Some(&self.stats)) {
            Ok(stats) => self.stats = stats,
            Err(e) => self.report_error(format!("cannot read the batch log: {e:#}")),
        }
        // The folder was reopened: read what it holds again.
        if let Some(judging) = &mut self.judging {
            judging.reset();
        }
    }

    pub(super) fn report_error(&mut self, error: String) {
        if self.report.last_error.as_ref() != Some(&error) {
            tracing::error!(%error);
        }
        self.report.last_error = Some(error);
    }

    pub(super) fn check_stop(&mut self, now: u64) {
        let Some(run) = self.run.as_ref().filter(|r| r.is_running()) else {
            return;
        };
        let topic = self.ingest.get(&run.info.topic);
        let unique = topic.map_or(0, |t| t.len());
        let valid = match run.info.judge_rate >= 1.0 {
            true => topic.map_or(0, Topic::valid_count),
            false => {
                let share = self.stats.validity(run.info.judge_rate, 0).valid_share;
                (unique as f64 * share) as u64
            }
        };
        let progress = Progress {
            unique,
            valid,
            cost_usd: self.stats.cost_usd(),
            candidates: self.stats.candidates(),
            estimate: topic.and_then(|t| t.estimate()),
            recent_yield_per_1k_tokens: self.stats.recent_yield_per_1k_tokens(),
        };
        if let Some(reason) = run.stop_reason(&progress, now) {
            self.finish_run(&reason, None);
        }
    }

    /// Saves the sighting counts' cache of open topics (every few seconds,
    /// and at exit).
    pub(super) fn save_sightings(&mut self, now: u64, force: bool) {
        if !force && now.saturating_sub(self.report.sightings_saved_ms) < SIGHTINGS_SAVE_MS {
            return;
        }
        self.report.sightings_saved_ms = now;
        let saved: std::io::Result<()> = self.ingest.topics().try_for_each(|t| t.save_sightings());
        if let Err(e) = saved {
            tracing::warn!(error = %e, "cannot save sighting counts");
        }
    }

    pub(super) async fn tick(&mut self) {
        let now = now_ms();
        for worker_id in self.workers.fleet.sweep(now) {
            tracing::warn!(%worker_id, timeout_ms = self.config.heartbeat_timeout_ms, "worker gone silent");
        }
        self.stats.expire(now);
        self.check_stop(now);
        self.steer(now).await;
        self.judge().await;
        self.save_sightings(now, false);
        let snapshot = self.snapshot(now);
        let payload = serde_json::to_vec(&snapshot).expect("snapshots serialize");
        if let Err(e) = self
            .nats
            .client
            .publish(subjects::METRICS, payload.into())
            .await
        {
            tracing::warn!(error = %e, "could not publish metrics");
        }
        self.persist_with(now, &snapshot);
        self.share_run().await;
    }

    /// Shares the current run in NATS when it changed since it last was.
    pub(super) async fn share_run(&mut self) {
        let (Some(runs), Some(run)) = (&self.shared.bucket, &self.run) else {
            return;
        };
        if self.shared.run.as_ref() == Some(run) {
            return;
        }
        match crate::replication::runs_bucket::save_current(runs, run).await {
            Ok(()) => self.shared.run = Some(run.clone()),
            Err(e) => tracing::warn!(error = format!("{e:#}"), "cannot share the current run"),
        }
    }

    /// Carries out the steering plan: weights, partition requests, fresh
    /// assignments.
    pub(super) async fn steer(&mut self, now: u64) {
        let Some(run) = self.run.clone().filter(|r| r.is_running()) else {
            return;
        };
        let mut workers: Vec<String> = self
            .workers
            .fleet
            .alive()
            .map(|h| h.worker_id.clone())
            .collect();
        workers.sort();
        let plan = self.steering.tick(&self.healthy_providers(), &workers, now);
        if plan.weights_changed {
            self.publish_weights().await;
        }
        if plan.arms_changed {
            for arm in self
                .steering
                .arms()
                .iter()
                .filter(|a| !a.against.is_empty())
            {
                tracing::info!(arm = %arm.name, state = %arm.state, share = arm.share,
                    vs_baseline = arm.vs_baseline, "strategy judged against its baseline");
            }
        }
        for parent in plan.split {
            let request = PartitionRequest {
                v: VERSION,
                run_id: run.info.run_id.clone(),
                topic: run.info.topic.clone(),
                parent,
                count: self.steering.fanout(),
                weights: self.steering.weights().0.clone(),
            };
            dispatch::request_partitions(
                &self.nats.client,
                request,
                PARTITION_TIMEOUT,
                self.admission.limits(),
                &self.nats.results,
            );
        }
        for worker_id in plan.reassign {
            let assignment = self.steering.assignment(&run, &worker_id, now);
            self.command(&worker_id, WorkerCommand::Assign(assignment), now);
        }
    }
}
