//! The current run: what was asked for, its state, and when it must stop.
//!
//! The run is saved in `<data_dir>/current-run.json` whenever it changes, so
//! a coordinator restarted mid-run (after a crash, or on another host with
//! the same data dir) carries on with the same run.

pub mod stats;

use std::io;
use std::path::Path;

use igentai_protocol::{Assignment, Estimate, RunInfo, RunState, StartRequest, VERSION};
use serde::{Deserialize, Serialize};

use crate::topic::store::write_atomic;

pub const CURRENT_RUN: &str = "current-run.json";
/// Items asked for per LLM request when the start command does not say.
pub const DEFAULT_ITEMS_PER_REQUEST: u32 = 20;
/// Candidates needed before the coverage estimate may stop a run: Chao1 is
/// unreliable on a handful of sightings.
pub const MIN_CANDIDATES_FOR_ESTIMATE: u64 = 500;

/// Where a run stands, as the stop conditions need it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    pub unique: u64,
    /// Valid items of the topic: counted when every item is judged,
    /// estimated when sampled.
    pub valid: u64,
    pub cost_usd: f64,
    pub candidates: u64,
    pub estimate: Option<Estimate>,
    /// New items per 1k tokens over the last answers, once there are enough.
    pub recent_yield_per_1k_tokens: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub info: RunInfo,
    pub state: RunState,
    pub items_per_request: u32,
    #[serde(default)]
    pub prompt_template: Option<String>,
}

impl Run {
    pub fn new(
        request: &StartRequest,
        slug: &str,
        output_dir: &Path,
        resumed_items: u64,
        now_ms: u64,
    ) -> Self {
        Run {
            info: RunInfo {
                run_id: format!("{slug}-{now_ms}"),
                topic: request.topic.clone(),
                slug: slug.to_string(),
                output_dir: output_dir.display().to_string(),
                started_at_ms: now_ms,
                stopped_at_ms: None,
                stop_reason: None,
                target: request.target,
                target_valid: request.target_valid,
                budget_usd: request.budget_usd,
                max_duration_s: request.max_duration_s,
                min_coverage: request.min_coverage,
                min_yield_per_1k_tokens: request.min_yield_per_1k_tokens,
                strategies: request.strategies,
                resumed_items,
                judge_rate: request.judge_rate.unwrap_or(0.0),
                judge_provider: request.judge_provider.clone(),
                judge_confirm: request.judge_confirm.unwrap_or(false),
                judge_closed: request.judge_closed.unwrap_or(false),
            },
            state: RunState::Running,
            items_per_request: request
                .items_per_request
                .unwrap_or(DEFAULT_ITEMS_PER_REQUEST),
            prompt_template: request.prompt_template.clone(),
        }
    }

    pub fn is_running(&self) -> bool {
        self.state == RunState::Running
    }

    pub fn finish(&mut self, reason: &str, now_ms: u64) {
        self.state = RunState::Stopped;
        self.info.stopped_at_ms = Some(now_ms);
        self.info.stop_reason = Some(reason.to_string());
    }

    /// Why the run must stop now, if it must.
    pub fn stop_reason(&self, p: &Progress, now_ms: u64) -> Option<String> {
        let info = &self.info;
        let (unique, cost_usd) = (p.unique, p.cost_usd);
        if let Some(target) = info.target {
            let (found, what) = match info.target_valid {
                true => (p.valid, "valid"),
                false => (unique, "unique"),
            };
            if found >= target {
                return Some(format!("target reached ({found} of {target} {what} items)"));
            }
        }
        if let Some(budget) = info.budget_usd
            && cost_usd >= budget
        {
            return Some(format!("budget spent (${cost_usd:.4} of ${budget:.4})"));
        }
        if let Some(max) = info.max_duration_s
            && now_ms.saturating_sub(info.started_at_ms) >= max * 1000
        {
            return Some(format!("maximum duration reached ({max} s)"));
        }
        if let (Some(min), Some(estimate)) = (info.min_coverage, &p.estimate)
            && p.candidates >= MIN_CANDIDATES_FOR_ESTIMATE
            && estimate.coverage >= min
        {
            return Some(format!(
                "coverage reached ({:.1}% of an estimated {:.0} items)",
                estimate.coverage * 100.0,
                estimate.total
            ));
        }
        if let (Some(min), Some(recent)) =
            (info.min_yield_per_1k_tokens, p.recent_yield_per_1k_tokens)
            && recent < min
        {
            return Some(format!(
                "yield too low ({recent:.2} new items per 1k tokens over the last answers, minimum {min})"
            ));
        }
        None
    }

    /// The work a worker should do for this run.
    pub fn assignment(&self) -> Assignment {
        Assignment {
            v: VERSION,
            run_id: self.info.run_id.clone(),
            topic: self.info.topic.clone(),
            partition: None,
            avoid: Vec::new(),
            items_per_request: self.items_per_request,
            prompt_template: self.prompt_template.clone(),
            weights: Default::default(),
        }
    }

    pub fn save(&self, data_dir: &Path) -> io::Result<()> {
        write_atomic(
            &data_dir.join(CURRENT_RUN),
            &serde_json::to_vec_pretty(self)?,
        )
    }

    /// The saved run, if there is one.
    pub fn load(data_dir: &Path) -> io::Result<Option<Run>> {
        match std::fs::read(data_dir.join(CURRENT_RUN)) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// The run to carry on with, from this data dir's `current-run.json` and
/// the copy shared in NATS (`runs_kv.rs`): the one started later; of one
/// run, the stopped copy (a stop is final, and the copy that missed it was
/// saved before it).
pub fn latest(local: Option<Run>, shared: Option<Run>) -> Option<Run> {
    match (local, shared) {
        (Some(l), Some(s)) if l.info.run_id == s.info.run_id => match s.is_running() {
            true => Some(l),
            false => Some(s),
        },
        (Some(l), Some(s)) => match s.info.started_at_ms > l.info.started_at_ms {
            true => Some(s),
            false => Some(l),
        },
        (l, s) => l.or(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(target: Option<u64>, budget_usd: Option<f64>, max_duration_s: Option<u64>) -> Run {
        let request = StartRequest {
            v: 1,
            topic: "t".into(),
            target,
            budget_usd,
            max_duration_s,
            ..Default::default()
        };
        Run::new(&request, "t", Path::new("data/t"), 0, 1_000)
    }

    fn progress(unique: u64, cost_usd: f64) -> Progress {
        Progress {
            unique,
            cost_usd,
            ..Progress::default()
        }
    }

    #[test]
    fn stop_conditions() {
        let huge = Progress {
            unique: 1_000_000,
            valid: 1_000_000,
            cost_usd: 1e6,
            candidates: 1 << 40,
            estimate: crate::keys::seen::chao1(10, 0, 5),
            recent_yield_per_1k_tokens: Some(0.0),
        };
        assert_eq!(run(None, None, None).stop_reason(&huge, 1e12 as u64), None);
        let r = run(Some(100), None, None);
        assert_eq!(r.stop_reason(&progress(99, 0.0), 2_000), None);
        assert!(
            r.stop_reason(&progress(100, 0.0), 2_000)
                .unwrap()
                .starts_with("target reached")
        );
        // A target of valid items counts those, not the unique ones.
        let mut r = run(Some(100), None, None);
        r.info.target_valid = true;
        let mostly_invented = Progress {
            valid: 40,
            ..progress(150, 0.0)
        };
        assert_eq!(r.stop_reason(&mostly_invented, 2_000), None);
        let enough = Progress {
            valid: 100,
            ..progress(150, 0.0)
        };
        assert_eq!(
            r.stop_reason(&enough, 2_000).as_deref(),
            Some("target reached (100 of 100 valid items)")
        );
        let r = run(None, Some(2.0), None);
        assert_eq!(r.stop_reason(&progress(5, 1.99), 2_000), None);
        assert!(
            r.stop_reason(&progress(5, 2.0), 2_000)
                .unwrap()
                .starts_with("budget spent")
        );
        let r = run(None, None, Some(10));
        assert_eq!(r.stop_reason(&progress(5, 0.0), 10_999), None);
        assert!(
            r.stop_reason(&progress(5, 0.0), 11_000)
                .unwrap()
                .starts_with("maximum duration")
        );
    }

    #[test]
    fn auto_stop_on_coverage_and_yield() {
        let mut r = run(None, None, None);
        r.info.min_coverage = Some(0.9);
        // 100 found, f1 = 10, f2 = 5: estimate 110, coverage 0.909.
        let mut p = Progress {
            unique: 100,
            estimate: crate::keys::seen::chao1(100, 10, 5),
            ..Progress::default()
        };
        p.candidates = MIN_CANDIDATES_FOR_ESTIMATE - 1;
        assert_eq!(
            r.stop_reason(&p, 2_000),
            None,
            "too few candidates to trust the estimate"
        );
        p.candidates = MIN_CANDIDATES_FOR_ESTIMATE;
        assert!(
            r.stop_reason(&p, 2_000)
                .unwrap()
                .starts_with("coverage reached (90.9%")
        );
        p.estimate = crate::keys::seen::chao1(100, 40, 5);
        assert_eq!(r.stop_reason(&p, 2_000), None);

        let mut r = run(None, None, None);
        r.info.min_yield_per_1k_tokens = Some(2.0);
        let mut p = progress(10, 0.0);
        assert_eq!(r.stop_reason(&p, 2_000), None, "no yield measured yet");
        p.recent_yield_per_1k_tokens = Some(2.5);
        assert_eq!(r.stop_reason(&p, 2_000), None);
        p.recent_yield_per_1k_tokens = Some(1.5);
        assert!(
            r.stop_reason(&p, 2_000)
                .unwrap()
                .starts_with("yield too low")
        );
    }

    #[test]
    fn saves_and_loads() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(Run::load(tmp.path()).unwrap(), None);
        let mut r = run(Some(5), None, None);
        r.finish("stop command", 2_000);
        r.save(tmp.path()).unwrap();
        let back = Run::load(tmp.path()).unwrap().unwrap();
        assert_eq!(back, r);
        assert_eq!(back.info.stop_reason.as_deref(), Some("stop command"));
    }

    #[test]
    fn the_latest_copy_of_the_run_wins() {
        let started = |at: u64| {
            let request = StartRequest {
                v: 1,
                topic: "t".into(),
                ..Default::default()
            };
            Run::new(&request, "t", Path::new("data/t"), 0, at)
        };
        let stopped = |at: u64| {
            let mut run = started(at);
            run.finish("stopped", at + 5);
            run
        };
        let check = |local: Option<Run>, shared: Option<Run>, expected: Option<Run>| {
            assert_eq!(latest(local, shared), expected);
        };
        check(None, None, None);
        check(Some(started(1)), None, Some(started(1)));
        check(None, Some(started(1)), Some(started(1)));
        // Another host started a newer run; or this one did.
        check(Some(stopped(1)), Some(started(9)), Some(started(9)));
        check(Some(started(9)), Some(stopped(1)), Some(started(9)));
        // One run: the stop wins, from either side.
        check(Some(started(1)), Some(stopped(1)), Some(stopped(1)));
        check(Some(stopped(1)), Some(started(1)), Some(stopped(1)));
    }
}
