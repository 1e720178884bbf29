//! What the coordinator reports each tick: the metrics snapshot (published
//! on `igentai.metrics`, answered to `status`) and the topic folder's
//! `state.json` and `metrics.json`.

use igentai_protocol::{MetricsSnapshot, RunState, Totals, VERSION};

use super::state::Coordinator;
use crate::judge::Judging;
use crate::topic::state::TopicState;
use crate::topic::store::{METRICS, STATE};

impl Coordinator {
    pub(super) fn snapshot(&mut self, now: u64) -> MetricsSnapshot {
        self.report.seq = (self.report.seq + 1).max(now);
        let topic = self
            .run
            .as_ref()
            .and_then(|r| self.ingest.get(&r.info.topic));
        let unique = topic.map_or(0, |t| t.len());
        let mut providers = self.stats.providers(now);
        self.workers.fleet.add_provider_health(&mut providers);
        let mut partitions = self.stats.partitions(now);
        self.steering.annotate(&mut partitions);
        let (weights, weights_version, weights_manual) = self.steering.weights();
        let streams = self.shared.streams.borrow().clone();
        MetricsSnapshot {
            v: VERSION,
            seq: self.report.seq,
            ts_ms: now,
            state: self.run.as_ref().map_or(RunState::Idle, |r| r.state),
            run: self.run.as_ref().map(|r| r.info.clone()),
            totals: Totals {
                validity: self.stats.validity(
                    self.run.as_ref().map_or(0.0, |r| r.info.judge_rate),
                    self.judging.as_ref().map_or(0, Judging::waiting),
                ),
                ..self.stats.totals(unique, now)
            },
            providers,
            models: self.stats.models(now),
            workers: self.workers.fleet.stats(now, &self.stats),
            partitions,
            arms: self.steering.arms(),
            weights: weights.clone(),
            weights_version,
            weights_manual,
            backlog: self.ingest.backlog + self.ingest.pending() as u64,
            estimate: topic.and_then(|t| t.estimate()),
            last_error: self
                .report
                .last_error
                .clone()
                .or_else(|| self.ingest.open_error().map(str::to_string))
                .or_else(|| self.ingest.set_aside().map(str::to_string))
                .or_else(|| self.ingest.restore_gap().map(str::to_string))
                .or_else(|| crate::replication::replicas::problem(&streams, self.shared.replicas)),
            streams,
        }
    }

    pub(super) fn persist(&mut self, now: u64) {
        let snapshot = self.snapshot(now);
        self.persist_with(now, &snapshot);
    }

    /// Writes the run's `state.json` and `metrics.json` (atomically).
    pub(super) fn persist_with(&mut self, now: u64, snapshot: &MetricsSnapshot) {
        let Some(run) = &self.run else { return };
        let Some(topic) = self.ingest.get(&run.info.topic) else {
            return;
        };
        let state = TopicState {
            topic: run.info.topic.clone(),
            slug: topic.slug().to_string(),
            unique: topic.len(),
            updated_at_ms: now,
            run: Some(run.clone()),
            stats: self.stats.clone(),
        };
        let written = topic
            .write_json(STATE, &state)
            .and_then(|()| topic.write_json(METRICS, snapshot));
        if let Err(e) = written {
            self.report_error(format!("cannot write state.json/metrics.json: {e}"));
        }
    }
}
