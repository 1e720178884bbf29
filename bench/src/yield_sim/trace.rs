//! What one run of the yield benchmark recorded: the totals after every
//! answer (unique keys and, from the sim's truth, true distinct items), so
//! the run can be read at any token or dollar budget, and the weights after
//! every tick.

use std::collections::BTreeMap;

use super::truth::Tally;

/// Totals after one answer.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Point {
    pub ms: u64,
    pub tokens: u64,
    pub usd: f64,
    /// Unique keys (what the coordinator counts as new items).
    pub unique: u64,
    /// What those keys really are (`truth.rs`).
    pub truth: Tally,
}

/// What a run recorded.
#[derive(Debug, Default)]
pub struct Trace {
    pub points: Vec<Point>,
    /// The weights in force after each tick.
    pub weights: Vec<(u64, BTreeMap<String, f64>)>,
    /// The provider that degraded, if one did.
    pub degraded: Option<String>,
    /// Partitions by state at the end (`active`, `split`, `retired`).
    pub partitions: BTreeMap<String, usize>,
    /// What each provider was asked and answered.
    pub by_provider: BTreeMap<String, Usage>,
    /// Every answer, in order.
    pub answers: Vec<Answer>,
}

/// One answer.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Answer {
    pub ms: u64,
    /// Index of the provider in the fleet.
    pub provider: usize,
    pub tokens: u64,
    pub usd: f64,
    pub new: u64,
    pub hinted: bool,
}

/// One provider's answers in a run.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    pub answers: u64,
    /// Answers whose prompt carried an avoid hint.
    pub hinted: u64,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub usd: f64,
    pub new: u64,
}

impl Trace {
    /// The totals when `tokens` had been spent (the last answer within).
    pub fn at_tokens(&self, tokens: u64) -> Point {
        let i = self.points.partition_point(|p| p.tokens <= tokens);
        i.checked_sub(1)
            .map_or_else(Point::default, |i| self.points[i])
    }

    /// The totals when `usd` had been spent.
    pub fn at_usd(&self, usd: f64) -> Point {
        let i = self.points.partition_point(|p| p.usd <= usd);
        i.checked_sub(1)
            .map_or_else(Point::default, |i| self.points[i])
    }

    pub fn last(&self) -> Point {
        self.points.last().copied().unwrap_or_default()
    }
}
