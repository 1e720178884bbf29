//! The current run: what was asked for, its state, and when it must stop.
//!
//! The run is saved in `<data_dir>/current-run.json` whenever it changes, so
//! a coordinator restarted mid-run (after a crash, or on another host with
//! the same data dir) carries on with the same run.

use std::io;
use std::path::Path;

use igentai_protocol::{Assignment, RunInfo, RunState, StartRequest, VERSION};
use serde::{Deserialize, Serialize};

use crate::store::write_atomic;

pub const CURRENT_RUN: &str = "current-run.json";
/// Items asked for per LLM request when the start command does not say.
pub const DEFAULT_ITEMS_PER_REQUEST: u32 = 20;

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
                budget_usd: request.budget_usd,
                max_duration_s: request.max_duration_s,
                resumed_items,
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
    pub fn stop_reason(&self, unique: u64, cost_usd: f64, now_ms: u64) -> Option<String> {
        let info = &self.info;
        if let Some(target) = info.target
            && unique >= target
        {
            return Some(format!("target reached ({unique} of {target} unique items)"));
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

    #[test]
    fn stop_conditions() {
        assert_eq!(run(None, None, None).stop_reason(1_000_000, 1e6, 1e12 as u64), None);
        let r = run(Some(100), None, None);
        assert_eq!(r.stop_reason(99, 0.0, 2_000), None);
        assert!(r.stop_reason(100, 0.0, 2_000).unwrap().starts_with("target reached"));
        let r = run(None, Some(2.0), None);
        assert_eq!(r.stop_reason(5, 1.99, 2_000), None);
        assert!(r.stop_reason(5, 2.0, 2_000).unwrap().starts_with("budget spent"));
        let r = run(None, None, Some(10));
        assert_eq!(r.stop_reason(5, 0.0, 10_999), None);
        assert!(r.stop_reason(5, 0.0, 11_000).unwrap().starts_with("maximum duration"));
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
}
