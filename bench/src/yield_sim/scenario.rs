//! What one run of the yield benchmark does: its strategies, a fixed
//! allocation or learned weights, when it stops, and whether a provider
//! degrades on the way.

use std::collections::BTreeMap;

use coordinator::Tuning;
use igentai_protocol::Strategies;

use super::fleet::Degradation;

/// What one run does and when it stops.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub strategies: Strategies,
    /// A fixed allocation (a manual weight override) instead of learning.
    pub fixed: Option<BTreeMap<String, f64>>,
    pub limit: Limit,
    /// At this time (ms) the provider weighted highest degrades.
    pub degrade: Option<(u64, Degradation)>,
    pub seed: u64,
    /// The policies' settings (the coordinator's defaults unless tuning).
    pub tuning: Tuning,
}

/// The run stops at whichever comes first.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    pub tokens: u64,
    pub usd: f64,
    pub ms: u64,
}

impl Limit {
    pub fn tokens(tokens: u64) -> Self {
        Limit {
            tokens,
            usd: f64::INFINITY,
            ms: u64::MAX,
        }
    }

    pub fn usd(usd: f64) -> Self {
        Limit {
            usd,
            ..Limit::tokens(u64::MAX)
        }
    }

    pub fn seconds(s: u64) -> Self {
        Limit {
            ms: s * 1000,
            ..Limit::tokens(u64::MAX)
        }
    }
}
