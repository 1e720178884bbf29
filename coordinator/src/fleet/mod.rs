//! The live worker table, built from heartbeats.
//!
//! A worker silent for longer than the timeout is marked gone (kept in the
//! table so the dashboard shows it); one silent for ten timeouts is dropped.

pub mod dispatch;

use std::collections::BTreeMap;

use igentai_protocol::{Heartbeat, ProviderStats, WorkerStats};

use crate::run::stats::RunStats;

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

    /// Takes in a heartbeat. Returns what it says of its worker, and the
    /// failed LLM calls per provider since the worker's previous heartbeat
    /// (none for a worker's first: its counters may be old news).
    pub fn observe(&mut self, heartbeat: Heartbeat, now_ms: u64) -> (Seen, Vec<(String, u64)>) {
        match self.workers.get_mut(&heartbeat.worker_id) {
            Some(entry) => {
                let seen = if entry.alive {
                    Seen::Known
                } else {
                    Seen::Returned
                };
                let failed = failed_since(&entry.heartbeat, &heartbeat);
                entry.heartbeat = heartbeat;
                entry.last_seen_ms = now_ms;
                entry.alive = true;
                (seen, failed)
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
                (Seen::New, Vec::new())
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

    #[cfg(test)]
    /// Alive workers that report themselves busy with some run.
    pub fn working(&self) -> impl Iterator<Item = &Heartbeat> {
        self.alive()
            .filter(|h| h.state != igentai_protocol::WorkerState::Idle)
    }

    /// Adds what the fleet reports about each provider to `providers`:
    /// calls and failures summed over every worker in the table (counters
    /// run since each worker started), healthy workers and open breakers
    /// among the alive ones.
    pub fn add_provider_health(&self, providers: &mut BTreeMap<String, ProviderStats>) {
        for e in self.workers.values() {
            for p in &e.heartbeat.providers {
                let stats = providers.entry(p.name.clone()).or_default();
                if stats.model.is_empty() {
                    stats.model.clone_from(&p.model);
                }
                stats.requests += p.requests;
                for (kind, n) in &p.failures {
                    *stats.failures.entry(kind.clone()).or_default() += n;
                }
                if e.alive {
                    stats.healthy_workers += u32::from(p.healthy);
                    stats.open_breakers += u32::from(p.breaker == "open");
                }
            }
        }
    }

    pub fn stats(&self, now_ms: u64, run: &RunStats) -> Vec<WorkerStats> {
        self.workers
            .iter()
            .map(|(id, e)| WorkerStats {
                worker_id: id.clone(),
                alive: e.alive,
                state: e.heartbeat.state,
                run_id: e.heartbeat.run_id.clone(),
                partition: e.heartbeat.partition.clone(),
                last_seen_ms_ago: now_ms.saturating_sub(e.last_seen_ms),
                in_flight: e.heartbeat.in_flight,
                llm_failures: e.heartbeat.llm_failures,
                publish_retries: e.heartbeat.publish_retries,
                yields: run.worker(id, now_ms),
                vendor_batches: e.heartbeat.vendor_batches.clone(),
            })
            .collect()
    }
}

/// Failed calls per provider between two heartbeats of one worker, from
/// its counters since start; a counter that went down means the worker
/// restarted, and all it counts is new.
fn failed_since(before: &Heartbeat, now: &Heartbeat) -> Vec<(String, u64)> {
    let total = |p: &igentai_protocol::ProviderHealth| p.failures.values().sum::<u64>();
    now.providers
        .iter()
        .filter_map(|p| {
            let was = before
                .providers
                .iter()
                .find(|b| b.name == p.name)
                .map_or(0, total);
            let is = total(p);
            let failed = if is >= was { is - was } else { is };
            (failed > 0).then(|| (p.name.clone(), failed))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use igentai_protocol::{ProviderHealth, WorkerState};

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
                breaker: "closed".into(),
                requests: 10,
                failures: [("rate_limited".to_string(), 2)].into(),
                output: "text".into(),
            }],
            started_at_ms: 0,
            sent_at_ms: 0,
            version: "0".into(),
            vendor_batches: vec![],
        }
    }

    #[test]
    fn workers_come_and_go() {
        let mut fleet = Fleet::new(1_000);
        assert_eq!(fleet.observe(hb("a", WorkerState::Idle), 0).0, Seen::New);
        assert_eq!(
            fleet.observe(hb("b", WorkerState::Running), 500).0,
            Seen::New
        );
        assert_eq!(
            fleet.observe(hb("a", WorkerState::Idle), 900).0,
            Seen::Known
        );
        assert!(fleet.sweep(1_200).is_empty());
        assert_eq!(fleet.sweep(1_600), ["b"]);
        assert_eq!(fleet.alive().count(), 1);
        assert_eq!(fleet.working().count(), 0);
        assert_eq!(
            fleet.observe(hb("b", WorkerState::Running), 1_700).0,
            Seen::Returned
        );
        assert_eq!(fleet.working().count(), 1);
        let mut providers = BTreeMap::new();
        fleet.add_provider_health(&mut providers);
        assert_eq!(providers["sim"].healthy_workers, 2);
        assert_eq!(providers["sim"].requests, 20);
        assert_eq!(providers["sim"].failures["rate_limited"], 4);
        // Silent for ten timeouts: dropped from the table.
        fleet.sweep(20_000);
        assert_eq!(fleet.stats(20_000, &RunStats::new(0)).len(), 0);
    }

    #[test]
    fn failures_are_counted_between_heartbeats() {
        let with = |failures: &[(&str, u64)], other: u64| {
            let mut h = hb("a", WorkerState::Running);
            h.providers[0].failures = failures.iter().map(|(k, n)| (k.to_string(), *n)).collect();
            let mut second = h.providers[0].clone();
            second.name = "other".into();
            second.failures = [("timeout".to_string(), other)].into();
            h.providers.push(second);
            h
        };
        let mut fleet = Fleet::new(1_000);
        // A worker's first heartbeat is the baseline, whatever it counts.
        let (_, failed) = fleet.observe(with(&[("rate_limited", 5)], 1), 0);
        assert!(failed.is_empty());
        let (_, failed) = fleet.observe(with(&[("rate_limited", 7), ("server_error", 3)], 1), 100);
        assert_eq!(failed, [("sim".to_string(), 5)]);
        let (_, failed) = fleet.observe(with(&[("rate_limited", 7), ("server_error", 3)], 4), 200);
        assert_eq!(failed, [("other".to_string(), 3)]);
        // Counters went down: the worker restarted, all it counts is new.
        let (_, failed) = fleet.observe(with(&[("timeout", 2)], 0), 300);
        assert_eq!(failed, [("sim".to_string(), 2)]);
    }
}
