//! The current run's history for the page's charts: a few numbers per
//! snapshot (unique items, rate, uniqueness, cost, weights), so a page that
//! opens or reconnects mid-run draws the whole run, not just what happened
//! since it connected.
//!
//! Memory stays bounded however long a run lasts: when the history is full
//! every other point is dropped and points are kept half as often from then
//! on, so it always spans the whole run at a resolution that coarsens with
//! its length. A new run (another `run_id`) starts a new history.

use std::collections::BTreeMap;

use igentai_protocol::MetricsSnapshot;
use serde::Serialize;

/// Points kept at most; a page draws this many per chart without effort.
pub const CAPACITY: usize = 1200;

/// One snapshot, reduced to what the charts draw.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    pub ts_ms: u64,
    pub unique: u64,
    pub unique_per_min: f64,
    pub uniqueness_ratio: f64,
    pub cost_usd: f64,
    pub weights: BTreeMap<String, f64>,
}

impl Point {
    pub fn of(snapshot: &MetricsSnapshot) -> Point {
        Point {
            ts_ms: snapshot.ts_ms,
            unique: snapshot.totals.unique,
            unique_per_min: snapshot.totals.unique_per_min,
            uniqueness_ratio: snapshot.totals.uniqueness_ratio,
            cost_usd: snapshot.totals.cost_usd,
            weights: snapshot.weights.clone(),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct History {
    run_id: Option<String>,
    points: Vec<Point>,
    /// Minimum time between kept points; doubles whenever the history fills.
    spacing_ms: u64,
}

impl History {
    /// Records `snapshot`; returns whether it started a new run's history.
    pub fn record(&mut self, snapshot: &MetricsSnapshot) -> bool {
        let run_id = snapshot.run.as_ref().map(|run| run.run_id.as_str());
        let new_run = self.run_id.as_deref() != run_id;
        if new_run {
            *self = History {
                run_id: run_id.map(str::to_string),
                ..History::default()
            };
        }
        let point = Point::of(snapshot);
        if let Some(last) = self.points.last()
            && point.ts_ms < last.ts_ms.saturating_add(self.spacing_ms.max(1))
        {
            return new_run;
        }
        if self.points.len() == CAPACITY {
            self.thin();
        }
        self.points.push(point);
        new_run
    }

    pub fn run_id(&self) -> Option<&str> {
        self.run_id.as_deref()
    }

    pub fn points(&self) -> &[Point] {
        &self.points
    }

    /// Keeps every other point (always the first), and from now on points
    /// twice as far apart as the ones kept.
    fn thin(&mut self) {
        let mut index = 0;
        self.points.retain(|_| {
            index += 1;
            index % 2 == 1
        });
        let span = match (self.points.first(), self.points.last()) {
            (Some(first), Some(last)) => last.ts_ms - first.ts_ms,
            _ => 0,
        };
        let typical = span / self.points.len().max(1) as u64;
        self.spacing_ms = (self.spacing_ms * 2).max(typical);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(run_id: &str, ts_ms: u64, unique: u64) -> MetricsSnapshot {
        serde_json::from_value(serde_json::json!({
            "seq": ts_ms, "ts_ms": ts_ms, "state": "running",
            "run": {"run_id": run_id, "topic": "t", "slug": "t", "output_dir": "d",
                    "started_at_ms": 0, "resumed_items": 0},
            "totals": {"unique": unique, "new_this_run": unique, "candidates": 0,
                       "duplicates": 0, "batches": 0, "invalid_items": 0,
                       "rejected_batches": 0, "uniqueness_ratio": 0.5,
                       "unique_per_min": 60.0, "tokens_in": 0, "tokens_out": 0,
                       "cost_usd": 0.25, "elapsed_s": 1.0},
            "providers": {}, "workers": [], "partitions": [],
            "weights": {"sim": 1.0}, "backlog": 0
        }))
        .unwrap()
    }

    #[test]
    fn a_new_run_starts_a_new_history() {
        let mut history = History::default();
        assert!(history.record(&snapshot("r1", 1000, 1)));
        assert!(!history.record(&snapshot("r1", 2000, 2)));
        // A repeated timestamp adds nothing.
        assert!(!history.record(&snapshot("r1", 2000, 3)));
        assert_eq!(history.points().len(), 2);
        assert_eq!(history.points()[1].unique, 2);
        assert_eq!(history.points()[1].weights["sim"], 1.0);

        assert!(history.record(&snapshot("r2", 3000, 5)));
        assert_eq!(history.run_id(), Some("r2"));
        assert_eq!(history.points().len(), 1);
    }

    #[test]
    fn a_long_run_stays_bounded_and_spans_from_its_start() {
        let mut history = History::default();
        let snapshots = CAPACITY as u64 * 10;
        for i in 0..snapshots {
            history.record(&snapshot("r1", 1000 * i, i));
            assert!(history.points().len() <= CAPACITY, "at {i}");
        }
        let points = history.points();
        assert_eq!(points[0].ts_ms, 0, "the start of the run is kept");
        let last = points.last().unwrap().ts_ms;
        assert!(
            last >= 1000 * (snapshots - 1) - history.spacing_ms,
            "the end of the run is near: {last}"
        );
        assert!(points.len() > CAPACITY / 4, "{} points", points.len());
        assert!(points.windows(2).all(|w| w[0].ts_ms < w[1].ts_ms));
    }
}
