//! The three measurements of the yield benchmark, each a set of runs of
//! the engine: new items per 1k tokens and per dollar of every strategy at
//! equal tokens; the regret of the learned weights against the best fixed
//! allocation in hindsight at equal dollars; and how fast the weights move
//! away from a provider that degrades mid-run.

use std::collections::BTreeMap;

use coordinator::steer::Tuning;
use igentai_protocol::Strategies;

use super::engine::{self, Limit, Scenario, Trace};
use super::fleet::{Degradation, Fleet};

/// What to run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Runs per configuration (seeds 1..=n); results are their mean.
    pub seeds: u64,
    /// Token budgets, from unsaturated to saturating.
    pub budgets: Vec<u64>,
    /// Dollar budgets at which allocations are compared.
    pub regret_usd: Vec<f64>,
    /// Steps of the grid of fixed allocations (4: shares of 0, ¼, ½, ¾, 1).
    pub grid_steps: u32,
    /// When the leading provider degrades, and how long the run goes on.
    pub degrade_at_s: u64,
    pub degrade_watch_s: u64,
    /// The policies' settings: the coordinator's defaults.
    pub tuning: Tuning,
    /// Strategies measured besides naive (empty: all of them).
    pub only: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            seeds: 3,
            budgets: vec![100_000, 1_000_000, 3_000_000],
            regret_usd: vec![0.15, 0.5],
            grid_steps: 4,
            degrade_at_s: 180,
            degrade_watch_s: 120,
            tuning: Tuning::default(),
            only: Vec::new(),
        }
    }
}

/// The strategies compared, by name.
pub fn strategies() -> Vec<(&'static str, Strategies)> {
    let s = |weights, partitions, avoid| Strategies {
        weights,
        partitions,
        avoid,
    };
    vec![
        ("naive", s(false, false, false)),
        ("weights", s(true, false, false)),
        ("partitions", s(false, true, false)),
        ("avoid", s(false, false, true)),
        ("all", s(true, true, true)),
    ]
}

/// One strategy at one budget, averaged over the seeds.
#[derive(Debug, Clone, PartialEq)]
pub struct YieldRow {
    pub strategy: &'static str,
    pub budget: u64,
    pub tokens: f64,
    pub usd: f64,
    pub unique: f64,
    pub per_1k_tokens: f64,
    pub per_usd: f64,
    /// Ratios to naive at the same budget.
    pub x_tokens: f64,
    pub x_usd: f64,
}

pub fn yields(fleet: &Fleet, settings: &Settings) -> Vec<YieldRow> {
    let max = settings.budgets.iter().copied().max().unwrap_or(0);
    let mut rows = Vec::new();
    let measured = |name: &str| {
        name == "naive" || settings.only.is_empty() || settings.only.iter().any(|o| o == name)
    };
    for (name, strategies) in strategies().into_iter().filter(|s| measured(s.0)) {
        let traces: Vec<Trace> = (1..=settings.seeds)
            .map(|seed| {
                engine::run(
                    fleet,
                    &Scenario {
                        strategies,
                        fixed: None,
                        limit: Limit::tokens(max),
                        degrade: None,
                        seed,
                        tuning: settings.tuning.clone(),
                    },
                )
            })
            .collect();
        for &budget in &settings.budgets {
            let points: Vec<_> = traces.iter().map(|t| t.at_tokens(budget)).collect();
            let n = points.len().max(1) as f64;
            let unique = points.iter().map(|p| p.unique as f64).sum::<f64>() / n;
            let tokens = points.iter().map(|p| p.tokens as f64).sum::<f64>() / n;
            let usd = points.iter().map(|p| p.usd).sum::<f64>() / n;
            rows.push(YieldRow {
                strategy: name,
                budget,
                tokens,
                usd,
                unique,
                per_1k_tokens: ratio(unique * 1000.0, tokens),
                per_usd: ratio(unique, usd),
                x_tokens: 1.0,
                x_usd: 1.0,
            });
        }
    }
    let naive: BTreeMap<u64, (f64, f64)> = rows
        .iter()
        .filter(|r| r.strategy == "naive")
        .map(|r| (r.budget, (r.per_1k_tokens, r.per_usd)))
        .collect();
    for r in &mut rows {
        let (t, u) = naive.get(&r.budget).copied().unwrap_or((0.0, 0.0));
        r.x_tokens = ratio(r.per_1k_tokens, t);
        r.x_usd = ratio(r.per_usd, u);
    }
    rows
}

/// The learned weights against every fixed allocation of a grid, all with
/// partitions and avoid hints on, at equal dollars.
#[derive(Debug, Clone, PartialEq)]
pub struct Regret {
    pub usd: f64,
    /// Unique items found with the learned weights.
    pub learned: f64,
    /// The best fixed allocation in hindsight (call shares) and its items.
    pub best: f64,
    pub best_allocation: BTreeMap<String, f64>,
    /// The best single provider and its items.
    pub best_single: (String, f64),
    /// Uniform weights.
    pub uniform: f64,
    pub allocations: usize,
    /// (best - learned) / best.
    pub regret: f64,
}

pub fn regret(fleet: &Fleet, settings: &Settings) -> Vec<Regret> {
    let max = settings.regret_usd.iter().copied().fold(0.0, f64::max);
    // Mean unique items at each dollar budget, over the seeds.
    let mean_unique = |strategies: Strategies, fixed: Option<BTreeMap<String, f64>>| {
        let traces: Vec<Trace> = (1..=settings.seeds)
            .map(|seed| {
                engine::run(
                    fleet,
                    &Scenario {
                        strategies,
                        fixed: fixed.clone(),
                        limit: Limit::usd(max),
                        degrade: None,
                        seed,
                        tuning: settings.tuning.clone(),
                    },
                )
            })
            .collect();
        settings
            .regret_usd
            .iter()
            .map(|usd| {
                let total: f64 = traces.iter().map(|t| t.at_usd(*usd).unique as f64).sum();
                total / traces.len().max(1) as f64
            })
            .collect::<Vec<f64>>()
    };
    let fixed_strategies = Strategies {
        weights: false,
        ..Strategies::default()
    };
    let learned = mean_unique(Strategies::default(), None);
    let names = fleet.names();
    let uniform = mean_unique(
        fixed_strategies,
        Some(names.iter().map(|n| (n.clone(), 1.0)).collect()),
    );
    let results: Vec<(BTreeMap<String, f64>, Vec<f64>)> = allocations(&names, settings.grid_steps)
        .into_iter()
        .map(|a| {
            let u = mean_unique(fixed_strategies, Some(a.clone()));
            (a, u)
        })
        .collect();
    settings
        .regret_usd
        .iter()
        .enumerate()
        .map(|(i, &usd)| {
            let (best_allocation, best) = results
                .iter()
                .max_by(|a, b| a.1[i].total_cmp(&b.1[i]))
                .map(|(a, u)| (a.clone(), u[i]))
                .unwrap_or_default();
            let best_single = results
                .iter()
                .filter(|(a, _)| a.len() == 1)
                .max_by(|a, b| a.1[i].total_cmp(&b.1[i]))
                .map(|(a, u)| (a.keys().next().cloned().unwrap_or_default(), u[i]))
                .unwrap_or_default();
            Regret {
                usd,
                learned: learned[i],
                best,
                best_allocation,
                best_single,
                uniform: uniform[i],
                allocations: results.len(),
                regret: ratio(best - learned[i], best),
            }
        })
        .collect()
}

/// Every allocation of `steps` equal shares among the providers.
pub fn allocations(names: &[String], steps: u32) -> Vec<BTreeMap<String, f64>> {
    fn go(n: usize, left: u32, prefix: &mut Vec<u32>, out: &mut Vec<Vec<u32>>) {
        if prefix.len() == n - 1 {
            prefix.push(left);
            out.push(prefix.clone());
            prefix.pop();
            return;
        }
        for k in 0..=left {
            prefix.push(k);
            go(n, left - k, prefix, out);
            prefix.pop();
        }
    }
    if names.is_empty() || steps == 0 {
        return Vec::new();
    }
    let mut shares = Vec::new();
    go(names.len(), steps, &mut Vec::new(), &mut shares);
    shares
        .into_iter()
        .map(|s| {
            names
                .iter()
                .zip(s)
                .filter(|(_, k)| *k > 0)
                .map(|(n, k)| (n.clone(), f64::from(k) / f64::from(steps)))
                .collect()
        })
        .collect()
}

/// How fast the weights leave a provider that degrades.
#[derive(Debug, Clone, PartialEq)]
pub struct MoveAway {
    pub how: Degradation,
    /// Per seed: the provider that degraded, its weight then, and the
    /// seconds until its weight was at most half of that (`None`: never
    /// within the watch).
    pub runs: Vec<(String, f64, Option<f64>)>,
}

impl MoveAway {
    pub fn worst(&self) -> Option<f64> {
        self.runs
            .iter()
            .map(|r| r.2)
            .try_fold(0.0, |acc: f64, s| s.map(|s| acc.max(s)))
    }
}

pub fn move_away(fleet: &Fleet, settings: &Settings) -> Vec<MoveAway> {
    let at_ms = settings.degrade_at_s * 1000;
    [Degradation::Yield, Degradation::Failure]
        .into_iter()
        .map(|how| {
            let runs = (1..=settings.seeds)
                .map(|seed| {
                    let trace = engine::run(
                        fleet,
                        &Scenario {
                            strategies: Strategies::default(),
                            fixed: None,
                            limit: Limit::seconds(settings.degrade_at_s + settings.degrade_watch_s),
                            degrade: Some((at_ms, how)),
                            seed,
                            tuning: settings.tuning.clone(),
                        },
                    );
                    moved(&trace, at_ms)
                })
                .collect();
            MoveAway { how, runs }
        })
        .collect()
}

/// The degraded provider, its weight when it degraded, and the seconds
/// until its weight had halved.
fn moved(trace: &Trace, at_ms: u64) -> (String, f64, Option<f64>) {
    let Some(name) = trace.degraded.clone() else {
        return (String::new(), 0.0, None);
    };
    let weight = |w: &BTreeMap<String, f64>| w.get(&name).copied().unwrap_or(0.0);
    let before = trace
        .weights
        .iter()
        .find(|(t, _)| *t >= at_ms)
        .map_or(0.0, |(_, w)| weight(w));
    let after = trace
        .weights
        .iter()
        .find(|(t, w)| *t > at_ms && weight(w) <= before / 2.0)
        .map(|(t, _)| (t - at_ms) as f64 / 1000.0);
    (name, before, after)
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocations_cover_the_grid() {
        let names: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let grid = allocations(&names, 2);
        // (2,0,0) (1,1,0) (1,0,1) (0,2,0) (0,1,1) (0,0,2)
        assert_eq!(grid.len(), 6);
        for a in &grid {
            assert!((a.values().sum::<f64>() - 1.0).abs() < 1e-9, "{a:?}");
        }
        assert!(grid.contains(&[("a".to_string(), 0.5), ("c".to_string(), 0.5)].into()));
        assert_eq!(allocations(&names, 4).len(), 15);
    }
}
