//! The measurements of the yield benchmark, each a set of runs of the
//! engine: true distinct items per 1k tokens and per dollar of every
//! strategy at equal tokens (with the unique keys the coordinator counted,
//! their inflation, junk and wrong merges); every strategy against none on
//! one model alone at equal spend; the regret of the learned weights
//! against the best fixed allocation in hindsight at equal dollars; how
//! fast the weights move away from a provider that degrades mid-run; and
//! one model live, through its vendor's batch API, or both, at equal
//! dollars.

use std::collections::BTreeMap;

use coordinator::Tuning;
use igentai_protocol::Strategies;

use super::batch::BatchMode;
use super::engine::{self, Limit, Point, Scenario, Trace};
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
    /// Models run alone, all strategies against none, and the tokens each
    /// run gets.
    pub alone: Vec<String>,
    pub alone_tokens: u64,
    /// The model run live, in batch mode and both, and the dollar budgets
    /// they are compared at.
    pub batch_model: String,
    pub batch_usd: Vec<f64>,
    pub batch_mode: BatchMode,
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
            alone: vec!["mini".into(), "max".into()],
            alone_tokens: 1_000_000,
            batch_model: "mid".into(),
            batch_usd: vec![1.0, 5.0, 20.0],
            batch_mode: BatchMode::default(),
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
    /// Unique keys: what the coordinator counted as new items.
    pub unique: f64,
    /// True distinct items among them (the headline).
    pub distinct: f64,
    /// Stored keys that are no item (echoes, placeholders), and keys of an
    /// item that kept its description.
    pub junk: f64,
    pub described: f64,
    /// Stored keys of invented items (of nothing in the world).
    pub invented: f64,
    pub wrong_merges: f64,
    /// True distinct items per 1k tokens and per dollar.
    pub per_1k_tokens: f64,
    pub per_usd: f64,
    /// Unique keys ÷ true distinct items.
    pub inflation: f64,
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
        let traces = seeded(fleet, settings, strategies, None, Limit::tokens(max));
        for &budget in &settings.budgets {
            let points: Vec<_> = traces.iter().map(|t| t.at_tokens(budget)).collect();
            let n = points.len().max(1) as f64;
            let mean = |f: &dyn Fn(&Point) -> f64| points.iter().map(f).sum::<f64>() / n;
            let unique = mean(&|p| p.unique as f64);
            let distinct = mean(&|p| p.truth.distinct as f64);
            let tokens = mean(&|p| p.tokens as f64);
            let usd = mean(&|p| p.usd);
            rows.push(YieldRow {
                strategy: name,
                budget,
                tokens,
                usd,
                unique,
                distinct,
                junk: mean(&|p| p.truth.junk as f64),
                described: mean(&|p| p.truth.described as f64),
                invented: mean(&|p| p.truth.invented as f64),
                wrong_merges: mean(&|p| p.truth.wrong_merges as f64),
                per_1k_tokens: ratio(distinct * 1000.0, tokens),
                per_usd: ratio(distinct, usd),
                inflation: ratio(unique, distinct),
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

/// Every strategy against none on one model alone, at equal spend: does a
/// strategy that does not pay on this model switch itself off?
#[derive(Debug, Clone, PartialEq)]
pub struct Alone {
    pub model: String,
    /// The dollars both runs are compared at (the smaller final spend).
    pub usd: f64,
    /// True distinct items with no strategy and with all of them.
    pub naive: f64,
    pub all: f64,
    /// Unique keys, the same way.
    pub naive_keys: f64,
    pub all_keys: f64,
    /// all ÷ naive in true distinct items.
    pub x: f64,
}

pub fn alone(fleet: &Fleet, settings: &Settings) -> Vec<Alone> {
    let mut rows = Vec::new();
    for model in &settings.alone {
        let Some(solo) = fleet.alone(model) else {
            continue;
        };
        let runs = |strategies: Strategies| {
            seeded(
                &solo,
                settings,
                strategies,
                None,
                Limit::tokens(settings.alone_tokens),
            )
        };
        let none = strategies()[0].1;
        let (naive, all) = (runs(none), runs(Strategies::default()));
        let spent = |t: &[Trace]| t.iter().map(|t| t.last().usd).fold(f64::INFINITY, f64::min);
        let usd = spent(&naive).min(spent(&all));
        let mean = |t: &[Trace], f: &dyn Fn(Point) -> u64| {
            t.iter().map(|t| f(t.at_usd(usd)) as f64).sum::<f64>() / t.len().max(1) as f64
        };
        let (n, a) = (
            mean(&naive, &|p| p.truth.distinct),
            mean(&all, &|p| p.truth.distinct),
        );
        rows.push(Alone {
            model: model.clone(),
            usd,
            naive: n,
            all: a,
            naive_keys: mean(&naive, &|p| p.unique),
            all_keys: mean(&all, &|p| p.unique),
            x: ratio(a, n),
        });
    }
    rows
}

/// One model live, in batch mode or both, all strategies on, at one dollar
/// budget, averaged over the seeds.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchRow {
    /// `live`, `batch` or `both`.
    pub mode: &'static str,
    pub usd: f64,
    /// True distinct items, and stored keys of invented ones.
    pub distinct: f64,
    pub invented: f64,
    pub per_usd: f64,
    /// per_usd ÷ live's at the same budget.
    pub x_live: f64,
    /// Share of the answers that came out of vendor batches.
    pub batch_share: f64,
    /// Virtual hours until the budget was spent.
    pub hours: f64,
}

pub fn batch_or_live(fleet: &Fleet, settings: &Settings) -> Vec<BatchRow> {
    let Some(fleets) = fleet.batch_or_live(&settings.batch_model, settings.batch_mode) else {
        return Vec::new();
    };
    let max = settings.batch_usd.iter().copied().fold(0.0, f64::max);
    let mut rows = Vec::new();
    for (mode, fleet) in ["live", "batch", "both"].into_iter().zip(&fleets) {
        let batch: Vec<usize> = (0..fleet.providers.len())
            .filter(|&p| fleet.providers[p].batch.is_some())
            .collect();
        // A day of virtual time at most.
        let limit = Limit {
            ms: 24 * 3_600_000,
            ..Limit::usd(max)
        };
        let traces = seeded(fleet, settings, Strategies::default(), None, limit);
        for &usd in &settings.batch_usd {
            let points: Vec<Point> = traces.iter().map(|t| t.at_usd(usd)).collect();
            let n = points.len().max(1) as f64;
            let mean = |f: &dyn Fn(&Point) -> f64| points.iter().map(f).sum::<f64>() / n;
            let share = traces
                .iter()
                .zip(&points)
                .map(|(t, p)| {
                    let upto: Vec<_> = t.answers.iter().filter(|a| a.ms <= p.ms).collect();
                    let from_batch = upto.iter().filter(|a| batch.contains(&a.provider)).count();
                    ratio(from_batch as f64, upto.len() as f64)
                })
                .sum::<f64>()
                / n;
            let (distinct, spent) = (mean(&|p| p.truth.distinct as f64), mean(&|p| p.usd));
            rows.push(BatchRow {
                mode,
                usd,
                distinct,
                invented: mean(&|p| p.truth.invented as f64),
                per_usd: ratio(distinct, spent),
                x_live: 1.0,
                batch_share: share,
                hours: mean(&|p| p.ms as f64) / 3_600_000.0,
            });
        }
    }
    let live: Vec<(f64, f64)> = rows
        .iter()
        .filter(|r| r.mode == "live")
        .map(|r| (r.usd, r.per_usd))
        .collect();
    for r in &mut rows {
        let base = live.iter().find(|(u, _)| *u == r.usd).map_or(0.0, |l| l.1);
        r.x_live = ratio(r.per_usd, base);
    }
    rows
}

/// The learned weights against every fixed allocation of a grid, all with
/// partitions and avoid hints on, at equal dollars.
#[derive(Debug, Clone, PartialEq)]
pub struct Regret {
    pub usd: f64,
    /// True distinct items found with the learned weights.
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
    // Mean true distinct items at each dollar budget, over the seeds.
    let mean_unique = |strategies: Strategies, fixed: Option<BTreeMap<String, f64>>| {
        let traces = seeded(fleet, settings, strategies, fixed, Limit::usd(max));
        settings
            .regret_usd
            .iter()
            .map(|usd| {
                let total: f64 = traces
                    .iter()
                    .map(|t| t.at_usd(*usd).truth.distinct as f64)
                    .sum();
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

/// One run of `fleet` per seed (1 to `settings.seeds`), with `strategies`
/// and, when given, a fixed allocation, until `limit`; nothing degrades.
fn seeded(
    fleet: &Fleet,
    settings: &Settings,
    strategies: Strategies,
    fixed: Option<BTreeMap<String, f64>>,
    limit: Limit,
) -> Vec<Trace> {
    (1..=settings.seeds)
        .map(|seed| {
            engine::run(
                fleet,
                &Scenario {
                    strategies,
                    fixed: fixed.clone(),
                    limit,
                    degrade: None,
                    seed,
                    tuning: settings.tuning.clone(),
                },
            )
        })
        .collect()
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
