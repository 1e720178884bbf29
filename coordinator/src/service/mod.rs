//! The coordinator's event loop: control requests, heartbeats, candidate
//! batches, the metrics tick and answers from workers, one at a time.
//!
//! Only this file and `ingest.rs` / `commands.rs` touch NATS; the decisions
//! are made by the pure modules (`control`, `run`, `stats`, `fleet`, `dedup`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream;
use futures::StreamExt;
use igentai_protocol::{
    Heartbeat, MetricsSnapshot, PartitionRequest, RunState, VERSION, WorkerCommand, WorkerState,
    now_ms, subjects,
};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::admission::Admission;
use crate::commands::{self, Answer};
use crate::config::Config;
use crate::fleet::{Fleet, Seen};
use crate::ingest::{Ingest, Ingested, MAX_PENDING, UnsafeStream, open_stream};
use crate::ledger::Ledger;
use crate::ownership;
use crate::run::{Progress, Run};
use crate::stats::RunStats;
use crate::steer::Steering;
use crate::store::{METRICS, STATE};

mod verbs;

/// Workers are not sent the same kind of command again within this time.
const COMMAND_RETRY_MS: u64 = 3_000;
/// How long a worker may take to name sub-categories.
const PARTITION_TIMEOUT: Duration = Duration::from_secs(120);
/// How often sighting counts are saved (they only feed the estimate).
const SIGHTINGS_SAVE_MS: u64 = 10_000;

/// `state.json`: the topic's last known state, written atomically each tick.
#[derive(Serialize, Deserialize)]
struct TopicState {
    topic: String,
    slug: String,
    unique: u64,
    updated_at_ms: u64,
    run: Option<Run>,
    #[serde(default)]
    stats: RunStats,
}

enum Event {
    Shutdown,
    LeaseLost,
    Commit,
    Tick,
    Control(async_nats::Message),
    Heartbeat(async_nats::Message),
    /// The sync in flight ended.
    Synced(std::io::Result<crate::ledger::Marks>),
    Batch(Box<Option<Result<jetstream::Message, Box<dyn std::error::Error + Send + Sync>>>>),
    Answer(Answer),
}

pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let client = config
        .nats
        .connect("coordinator", "igentai-coordinator")
        .await?;
    let js = jetstream::new(client.clone());
    // Copies of the stream and the buckets: decided once, from the cluster.
    let Some(replicas) =
        crate::replicas::decide(&client, config.stream_replicas, &shutdown).await?
    else {
        return Ok(());
    };
    // One writer: nothing below (control, the stream, the data dir) before
    // this coordinator owns the data dir and the stream.
    let ownership = ownership::acquire(
        &js,
        &config.data_dir,
        config.lease_ttl(replicas),
        replicas,
        config.standby,
        &shutdown,
    )
    .await?;
    let Some(ownership) = ownership else {
        return Ok(());
    };
    let keeper = ownership.keep();
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("create data dir {}", config.data_dir.display()))?;
    let mut control = client.subscribe(subjects::CONTROL_ALL).await?;
    let mut heartbeats = client.subscribe(subjects::HEARTBEAT_ALL).await?;
    let (results_tx, mut results_rx) = mpsc::channel(256);

    let setup = async {
        let Some(batches) = open_stream_retrying(&js, replicas, &shutdown).await? else {
            return Ok(None);
        };
        // Runs another coordinator started (on another data dir) are known
        // too, and its current run is carried on.
        let runs = crate::runs_kv::bucket(&js, replicas).await?;
        let shared = crate::runs_kv::current(&runs).await?;
        let ledger = Ledger::open(&js, replicas).await?;
        let mut state =
            Coordinator::new(config.clone(), client.clone(), results_tx, ledger, shared).await?;
        let known = crate::runs_kv::learn(&runs, &mut state.admission).await?;
        tracing::debug!(runs = known, "runs known from NATS");
        state.runs = Some(runs);
        state.replicas = replicas;
        state.streams = crate::replicas::watch_streams(
            js.clone(),
            vec![
                subjects::STREAM.to_string(),
                subjects::ITEMS_STREAM.to_string(),
            ],
            shutdown.clone(),
        );
        anyhow::Ok(Some((batches, state)))
    };
    let (mut batches, mut state) = match setup.await {
        Ok(Some(ready)) => ready,
        Ok(None) => {
            keeper.release().await;
            return Ok(());
        }
        Err(e) => {
            keeper.release().await;
            return Err(e);
        }
    };
    tracing::info!(data_dir = %config.data_dir.display(), "coordinator ready");

    let mut tick = tokio::time::interval(config.metrics_interval());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // Group commit: a commit starts once MAX_PENDING batches wait, or the
    // commit interval after the first of them arrived; while one syncs,
    // the next batches are deduplicated and wait for the next one.
    let mut commit_at: Option<Instant> = None;
    let mut commit_due = false;
    loop {
        let event = tokio::select! {
            biased;
            _ = shutdown.cancelled() => Event::Shutdown,
            _ = keeper.lost() => Event::LeaseLost,
            result = state.ingest.synced(), if state.ingest.is_syncing() => Event::Synced(result),
            _ = sleep_until(commit_at) => Event::Commit,
            _ = tick.tick() => Event::Tick,
            Some(msg) = control.next() => Event::Control(msg),
            Some(msg) = heartbeats.next() => Event::Heartbeat(msg),
            Some(answer) = results_rx.recv() => Event::Answer(answer),
            msg = batches.next() => Event::Batch(Box::new(msg.map(|r| r.map_err(Into::into)))),
        };
        match event {
            Event::Shutdown => break,
            // Another coordinator may be consuming already: write and
            // acknowledge nothing more; what is pending is redelivered to it.
            Event::LeaseLost => anyhow::bail!(
                "lost ownership of the candidate stream (lease not renewed): stopped without committing"
            ),
            Event::Commit => {
                commit_at = None;
                commit_due = true;
            }
            Event::Synced(result) => state.finish_commit(result).await,
            Event::Tick => state.tick().await,
            Event::Control(msg) => state.handle_control(msg).await,
            Event::Heartbeat(msg) => state.handle_heartbeat(&msg),
            Event::Answer(answer) => state.handle_answer(answer),
            Event::Batch(batch) => match *batch {
                Some(Ok(msg)) => {
                    state.handle_batch(msg).await;
                    if commit_at.is_none() && !commit_due && state.ingest.waiting() > 0 {
                        commit_at = Some(Instant::now() + config.commit_interval());
                    }
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "candidate stream error");
                }
                None => {
                    tracing::warn!("candidate stream ended; reopening");
                    match open_stream_retrying(&js, replicas, &shutdown).await? {
                        Some(s) => batches = s,
                        None => break,
                    }
                }
            },
        }
        let waiting = state.ingest.waiting();
        if !state.ingest.is_syncing() && waiting > 0 && (commit_due || waiting >= MAX_PENDING) {
            commit_at = None;
            commit_due = false;
            state.start_commit().await;
        }
    }

    tracing::info!("shutting down: committing pending batches");
    state.commit().await;
    state.persist(now_ms());
    state.share_run().await;
    state.save_sightings(now_ms(), true);
    // Everything is written and acknowledged: a standby may take over now
    // (the release is a request behind the last acks on this connection).
    keeper.release().await;
    igentai_client::close(&client).await
}

/// The run's counters: every batch in its topic's batch log, plus the
/// rejected and repeated counts of `earlier` (those batches are not in the
/// log). A folder from before the batch log keeps `earlier` as it is.
fn counted_stats(
    ingest: &Ingest,
    run: &Run,
    earlier: Option<&RunStats>,
) -> anyhow::Result<RunStats> {
    let mut stats = RunStats::new(run.info.started_at_ms);
    let folder = ingest.folder(&run.info.topic)?;
    let logged = crate::batchlog::replay(&folder, &run.info.run_id, |line| {
        stats.record_batch(&line.batch, line.outcome, line.at_ms);
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

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Opens the candidate stream, retrying while NATS is unreachable; an
/// existing stream that could lose batches is an error ([`UnsafeStream`]).
async fn open_stream_retrying(
    js: &jetstream::Context,
    replicas: usize,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<async_nats::jetstream::consumer::pull::Stream>> {
    let mut delay = Duration::from_millis(200);
    loop {
        match open_stream(js, replicas).await {
            Ok(stream) => return Ok(Some(stream)),
            Err(e) if e.is::<UnsafeStream>() => return Err(e),
            Err(e) => {
                tracing::warn!(error = format!("{e:#}"), retry_in = ?delay, "cannot open the candidate stream")
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(None),
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

struct Coordinator {
    config: Config,
    client: async_nats::Client,
    results: mpsc::Sender<Answer>,
    run: Option<Run>,
    stats: RunStats,
    steering: Steering,
    fleet: Fleet,
    ingest: Ingest,
    /// The runs started here and what one batch may claim.
    admission: Admission,
    /// The runs bucket in NATS (`runs_kv.rs`), once opened.
    runs: Option<async_nats::jetstream::kv::Store>,
    /// The current run as last shared there.
    shared_run: Option<Run>,
    /// Copies of each stream and bucket the coordinator creates
    /// (`replicas.rs`).
    replicas: usize,
    /// The streams' replication, read in the background (`replicas.rs`).
    streams: tokio::sync::watch::Receiver<Vec<igentai_protocol::StreamStatus>>,
    seq: u64,
    last_error: Option<String>,
    last_command_ms: HashMap<String, u64>,
    logged_bad_heartbeat: HashSet<String>,
    sightings_saved_ms: u64,
}

impl Coordinator {
    /// Loads the current run (this data dir's, or the one another
    /// coordinator shared, whichever is later) and reopens its topic,
    /// restoring it from the items ledger where this data dir lacks it.
    async fn new(
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
        let mut admission = Admission::load(&config.data_dir, config.limits())
            .context("read the ledger of runs")?;
        if let Some(run) = &run {
            // A data dir from before the ledger knows its current run.
            admission
                .remember(&run.info.run_id, &run.info.topic)
                .context("record the current run in the ledger of runs")?;
        }
        let mut stats = RunStats::new(now_ms());
        if let Some(run) = &mut run {
            let topic = ingest
                .open(&run.info.topic)
                .await
                .with_context(|| format!("open the folder of topic {:?}", run.info.topic))?;
            // The folder is this data dir's, wherever the run started.
            run.info.output_dir = topic.store.dir.display().to_string();
            run.info.slug = topic.store.slug.clone();
            let saved = std::fs::read(topic.store.dir.join(STATE))
                .ok()
                .and_then(|b| serde_json::from_slice::<TopicState>(&b).ok())
                .filter(|s| s.run.as_ref().map(|r| &r.info.run_id) == Some(&run.info.run_id))
                .map(|s| s.stats);
            let unique = topic.store.len();
            stats = counted_stats(&ingest, run, saved.as_ref())
                .with_context(|| format!("read the batch log of topic {:?}", run.info.topic))?;
            tracing::info!(run_id = %run.info.run_id, topic = %run.info.topic, state = ?run.state,
                unique, batches = stats.totals(unique, now_ms()).batches, "restored the last run");
        }
        if let Some(run) = &run {
            run.save(&config.data_dir)
                .context("save current-run.json")?;
        }
        let strategies = run.as_ref().map(|r| r.info.strategies).unwrap_or_default();
        Ok(Self {
            steering: Steering::tuned(strategies, None, config.tuning()),
            fleet: Fleet::new(config.heartbeat_timeout_ms),
            config,
            client,
            results,
            run,
            stats,
            ingest,
            admission,
            runs: None,
            shared_run: shared,
            replicas: 1,
            streams: tokio::sync::watch::channel(Vec::new()).1,
            seq: 0,
            last_error: None,
            sightings_saved_ms: now_ms(),
            last_command_ms: HashMap::new(),
            logged_bad_heartbeat: HashSet::new(),
        })
    }

    /// Providers some alive worker reports healthy.
    fn healthy_providers(&self) -> Vec<String> {
        let mut providers = BTreeMap::new();
        self.fleet.add_provider_health(&mut providers);
        providers
            .into_iter()
            .filter(|(_, p)| p.healthy_workers > 0)
            .map(|(name, _)| name)
            .collect()
    }

    fn handle_answer(&mut self, answer: Answer) {
        match answer {
            Answer::Worker(r) => {
                if !r.ok {
                    tracing::debug!(worker_id = %r.worker_id, error = ?r.error, "worker command failed");
                }
            }
            Answer::Partitions {
                run_id,
                parent,
                result,
                tokens,
                cost_usd,
            } => {
                if self.run.as_ref().map(|r| &r.info.run_id) != Some(&run_id) {
                    return;
                }
                self.steering.charge_split(tokens, cost_usd);
                let added = self.steering.split_done(parent.as_deref(), result);
                tracing::info!(parent = ?parent, added, "partitions added");
            }
        }
    }

    fn command(&mut self, worker_id: &str, command: WorkerCommand, now: u64) {
        self.last_command_ms.insert(worker_id.to_string(), now);
        commands::send(
            &self.client,
            worker_id,
            command,
            self.config.stop_timeout(),
            &self.results,
        );
    }

    fn handle_heartbeat(&mut self, msg: &async_nats::Message) {
        let subject_worker = subjects::heartbeat_worker(&msg.subject).unwrap_or_default();
        let hb = match serde_json::from_slice::<Heartbeat>(&msg.payload) {
            Ok(hb) if hb.worker_id == subject_worker => hb,
            Ok(_) | Err(_) => {
                if self.logged_bad_heartbeat.insert(subject_worker.to_string()) {
                    tracing::warn!(subject = %msg.subject, "ignoring an unreadable heartbeat");
                }
                return;
            }
        };
        let now = now_ms();
        let (seen, failed) = self.fleet.observe(hb.clone(), now);
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
    fn reconcile(&mut self, hb: &Heartbeat, now: u64) {
        let recently = self
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

    async fn handle_batch(&mut self, msg: jetstream::Message) {
        match self.ingest.receive(msg, &self.admission).await {
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
    async fn commit(&mut self) {
        let result = self.ingest.commit(&self.client).await;
        self.committed(result);
    }

    /// Starts syncing the waiting batches; the loop hears when it is done.
    async fn start_commit(&mut self) {
        if let Err(e) = self.ingest.start_commit(&self.client).await {
            self.committed(Err(e));
        }
    }

    async fn finish_commit(&mut self, result: std::io::Result<crate::ledger::Marks>) {
        let result = self.ingest.finish_commit(result, &self.client).await;
        self.committed(result);
    }

    fn committed(&mut self, result: std::io::Result<usize>) {
        match result {
            Ok(_) => {
                if self.last_error.take().is_some() {
                    tracing::info!("writing items works again");
                }
            }
            Err(e) => self.report_error(format!(
                "cannot sync items to disk: {e}; batches are held back and retried"
            )),
        }
        if self.ingest.take_abandoned() {
            self.recount();
        }
        self.check_stop(now_ms());
    }

    /// Rebuilds the run's counters from the batch log after the open
    /// topics were dropped: the batches counted since the last sync are
    /// handed back and will be counted when they come again.
    fn recount(&mut self) {
        let Some(run) = &self.run else {
            return;
        };
        match counted_stats(&self.ingest, run, Some(&self.stats)) {
            Ok(stats) => self.stats = stats,
            Err(e) => self.report_error(format!("cannot read the batch log: {e:#}")),
        }
    }

    fn report_error(&mut self, error: String) {
        if self.last_error.as_ref() != Some(&error) {
            tracing::error!(%error);
        }
        self.last_error = Some(error);
    }

    fn check_stop(&mut self, now: u64) {
        let Some(run) = self.run.as_ref().filter(|r| r.is_running()) else {
            return;
        };
        let topic = self.ingest.get(&run.info.topic);
        let progress = Progress {
            unique: topic.map_or(0, |t| t.store.len()),
            cost_usd: self.stats.cost_usd(),
            candidates: self.stats.candidates(),
            estimate: topic.and_then(|t| t.seen.estimate()),
            recent_yield_per_1k_tokens: self.stats.recent_yield_per_1k_tokens(),
        };
        if let Some(reason) = run.stop_reason(&progress, now) {
            self.finish_run(&reason, None);
        }
    }

    /// Saves sighting counts of open topics (every few seconds, and at exit).
    fn save_sightings(&mut self, now: u64, force: bool) {
        if !force && now.saturating_sub(self.sightings_saved_ms) < SIGHTINGS_SAVE_MS {
            return;
        }
        self.sightings_saved_ms = now;
        let saved: std::io::Result<()> = self.ingest.topics().try_for_each(|t| t.save_sightings());
        if let Err(e) = saved {
            tracing::warn!(error = %e, "cannot save sighting counts");
        }
    }

    async fn tick(&mut self) {
        let now = now_ms();
        for worker_id in self.fleet.sweep(now) {
            tracing::warn!(%worker_id, timeout_ms = self.config.heartbeat_timeout_ms, "worker gone silent");
        }
        self.stats.expire(now);
        self.check_stop(now);
        self.steer(now).await;
        self.save_sightings(now, false);
        let snapshot = self.snapshot(now);
        let payload = serde_json::to_vec(&snapshot).expect("snapshots serialize");
        if let Err(e) = self.client.publish(subjects::METRICS, payload.into()).await {
            tracing::warn!(error = %e, "could not publish metrics");
        }
        self.persist_with(now, &snapshot);
        self.share_run().await;
    }

    /// Shares the current run in NATS when it changed since it last was.
    async fn share_run(&mut self) {
        let (Some(runs), Some(run)) = (&self.runs, &self.run) else {
            return;
        };
        if self.shared_run.as_ref() == Some(run) {
            return;
        }
        match crate::runs_kv::save_current(runs, run).await {
            Ok(()) => self.shared_run = Some(run.clone()),
            Err(e) => tracing::warn!(error = format!("{e:#}"), "cannot share the current run"),
        }
    }

    /// Carries out the steering plan: weights, partition requests, fresh
    /// assignments.
    async fn steer(&mut self, now: u64) {
        let Some(run) = self.run.clone().filter(|r| r.is_running()) else {
            return;
        };
        let mut workers: Vec<String> = self.fleet.alive().map(|h| h.worker_id.clone()).collect();
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
            commands::request_partitions(&self.client, request, PARTITION_TIMEOUT, &self.results);
        }
        for worker_id in plan.reassign {
            let assignment = self.steering.assignment(&run, &worker_id, now);
            self.command(&worker_id, WorkerCommand::Assign(assignment), now);
        }
    }

    fn snapshot(&mut self, now: u64) -> MetricsSnapshot {
        self.seq = (self.seq + 1).max(now);
        let topic = self
            .run
            .as_ref()
            .and_then(|r| self.ingest.get(&r.info.topic));
        let unique = topic.map_or(0, |t| t.store.len());
        let mut providers = self.stats.providers(now);
        self.fleet.add_provider_health(&mut providers);
        let mut partitions = self.stats.partitions(now);
        self.steering.annotate(&mut partitions);
        let (weights, weights_version, weights_manual) = self.steering.weights();
        let streams = self.streams.borrow().clone();
        MetricsSnapshot {
            v: VERSION,
            seq: self.seq,
            ts_ms: now,
            state: self.run.as_ref().map_or(RunState::Idle, |r| r.state),
            run: self.run.as_ref().map(|r| r.info.clone()),
            totals: self.stats.totals(unique, now),
            providers,
            models: self.stats.models(now),
            workers: self.fleet.stats(now, &self.stats),
            partitions,
            arms: self.steering.arms(),
            weights: weights.clone(),
            weights_version,
            weights_manual,
            backlog: self.ingest.backlog + self.ingest.pending() as u64,
            estimate: topic.and_then(|t| t.seen.estimate()),
            last_error: self
                .last_error
                .clone()
                .or_else(|| self.ingest.open_error().map(str::to_string))
                .or_else(|| crate::replicas::problem(&streams, self.replicas)),
            streams,
        }
    }

    fn persist(&mut self, now: u64) {
        let snapshot = self.snapshot(now);
        self.persist_with(now, &snapshot);
    }

    /// Writes the run's `state.json` and `metrics.json` (atomically).
    fn persist_with(&mut self, now: u64, snapshot: &MetricsSnapshot) {
        let Some(run) = &self.run else { return };
        let Some(topic) = self.ingest.get(&run.info.topic) else {
            return;
        };
        let state = TopicState {
            topic: run.info.topic.clone(),
            slug: topic.store.slug.clone(),
            unique: topic.store.len(),
            updated_at_ms: now,
            run: Some(run.clone()),
            stats: self.stats.clone(),
        };
        let written = topic
            .store
            .write_json(STATE, &state)
            .and_then(|()| topic.store.write_json(METRICS, snapshot));
        if let Err(e) = written {
            self.report_error(format!("cannot write state.json/metrics.json: {e}"));
        }
    }
}
