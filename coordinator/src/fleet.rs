//! The live worker table, built from heartbeats.
//!
//! A worker silent for longer than the timeout is marked gone (kept in the
//! table so the dashboard shows it); one silent for ten timeouts is dropped.

use std::collections::BTreeMap;

use igentai_protocol::{Heartbeat, WorkerState, WorkerStats};

use crate::stats::RunStats;

struct Entry {
    heartbeat: Heartbeat,
    last_seen_ms: u64,
    alive: bool,
}

/// What a heartbeat told us about its worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// First heartbeat from this worker.
    New,
    /// It had been marked gone and is back.
    Returned,
    Known,
}

pub struct Fleet {
    workers: BTreeMap<String, Entry>,
    timeout_ms: u64,
}

impl Fleet {
    pub fn new(timeout_ms: u64) -> Self {
        Self {
            workers: BTreeMap::new(),
            timeout_ms,
        }
    }

    pub fn observe(&mut self, heartbeat: Heartbeat, now_ms: u64) -> Seen {
        match self.workers.get_mut(&heartbeat.worker_id) {
            Some(entry) => {
                let seen = if entry.alive { Seen::Known } else { Seen::Returned };
                entry.heartbeat = heartbeat;
                entry.last_seen_ms = now_ms;
                entry.alive = true;
                seen
            }
            None => {
                self.workers.insert(
                    heartbeat.worker_id.clone(),
                    Entry {
                        heartbeat,
                        last_seen_ms: now_ms,
                        alive: true,
                    },
                );
                Seen::New
            }
        }
    }

    /// Marks silent workers gone; returns the ids that just went.
    pub fn sweep(&mut self, now_ms: u64) -> Vec<String> {
        let timeout = self.timeout_ms;
        self.workers
            .retain(|_, e| now_ms.saturating_sub(e.last_seen_ms) < timeout * 10);
        let mut gone = Vec::new();
        for (id, e) in &mut self.workers {
            if e.alive && now_ms.saturating_sub(e.last_seen_ms) >= timeout {
                e.alive = false;
                gone.push(id.clone());
            }
        }
        gone
    }

    pub fn alive(&self) -> impl Iterator<Item = &Heartbeat> {
        self.workers
            .values()
            .filter(|e| e.alive)
            .map(|e| &e.heartbeat)
    }

    /// Alive workers that report themselves busy with some run.
    pub fn working(&self) -> impl Iterator<Item = &Heartbeat> {
        self.alive().filter(|h| h.state != WorkerState::Idle)
    }

    /// Number of alive workers that report each provider healthy.
    pub fn healthy_per_provider(&self) -> BTreeMap<String, u32> {
        let mut out = BTreeMap::new();
        for hb in self.alive() {
            for p in hb.providers.iter().filter(|p| p.healthy) {
                *out.entry(p.name.clone()).or_insert(0) += 1;
            }
        }
        out
    }

    pub fn stats(&self, now_ms: u64, run: &RunStats) -> Vec<WorkerStats> {
        self.workers
            .iter()
            .map(|(id, e)| {
                let counts = run.worker(id);
                WorkerStats {
                    worker_id: id.clone(),
                    alive: e.alive,
                    state: e.heartbeat.state,
                    run_id: e.heartbeat.run_id.clone(),
                    last_seen_ms_ago: now_ms.saturating_sub(e.last_seen_ms),
                    in_flight: e.heartbeat.in_flight,
                    batches: counts.batches,
                    candidates: counts.candidates,
                    unique: counts.unique,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use igentai_protocol::ProviderHealth;

    fn hb(id: &str, state: WorkerState) -> Heartbeat {
        Heartbeat {
            v: 1,
            worker_id: id.into(),
            state,
            run_id: None,
            partition: None,
            concurrency: 4,
            in_flight: 0,
            batches_published: 0,
            items_published: 0,
            publish_retries: 0,
            llm_failures: 0,
            providers: vec![ProviderHealth {
                name: "sim".into(),
                kind: "sim".into(),
                model: "sim-1".into(),
                healthy: true,
                ..Default::default()
            }],
            started_at_ms: 0,
            sent_at_ms: 0,
        version: "0".into(),
        }
    }

    #[test]
    fn workers_come_and_go() {
        let mut fleet = Fleet::new(1_000);
        assert_eq!(fleet.observe(hb("a", WorkerState::Idle), 0), Seen::New);
        assert_eq!(fleet.observe(hb("b", WorkerState::Running), 500), Seen::New);
        assert_eq!(fleet.observe(hb("a", WorkerState::Idle), 900), Seen::Known);
        assert!(fleet.sweep(1_200).is_empty());
        assert_eq!(fleet.sweep(1_600), ["b"]);
        assert_eq!(fleet.alive().count(), 1);
        assert_eq!(fleet.working().count(), 0);
        assert_eq!(fleet.observe(hb("b", WorkerState::Running), 1_700), Seen::Returned);
        assert_eq!(fleet.working().count(), 1);
        assert_eq!(fleet.healthy_per_provider()["sim"], 2);
        // Silent for ten timeouts: dropped from the table.
        fleet.sweep(20_000);
        assert_eq!(fleet.stats(20_000, &RunStats::default()).len(), 0);
    }
}
