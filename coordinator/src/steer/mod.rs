//! Steering a run towards more unique items per token: which provider
//! weights to publish, which partition each worker works on, and which
//! items its prompts should avoid.
//!
//! Pure: it combines the bandit (`weights.rs`), the partition tree
//! (`partitions.rs`) and the avoid tallies (`avoid.rs`) into plans the event
//! loop carries out. Each strategy can be switched off per run, and each
//! one that is on keeps earning its place against the plain prompt
//! (`arms.rs`): partitioned work against the broad prompt, hinted prompts
//! against unhinted ones; what loses gets only a small share of the work.

pub mod arms;
pub mod avoid;
pub mod partitions;
pub mod validity;
pub mod weights;

use std::collections::{BTreeMap, HashMap};

use igentai_protocol::{ArmStats, Assignment, CandidateBatch, PartitionStats, Strategies};

use crate::run::Run;
use crate::run::stats::BatchOutcome;
use crate::steer::arms::Arms;
use crate::steer::avoid::Avoid;
use crate::steer::partitions::{Action, Policy, Tree};
use crate::steer::weights::Bandit;

/// How often a worker's avoid hint is refreshed.
pub const AVOID_REFRESH_MS: u64 = 15_000;

/// The settings of the three policies and of the arms judging them.
#[derive(Debug, Clone, PartialEq)]
pub struct Tuning {
    pub weights: weights::Config,
    pub partitions: Policy,
    pub avoid: avoid::Policy,
    pub arms: arms::Config,
    /// How often a worker's avoid hint is refreshed.
    pub avoid_refresh_ms: u64,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            weights: weights::Config::default(),
            partitions: Policy::default(),
            avoid: avoid::Policy::default(),
            arms: arms::Config::default(),
            avoid_refresh_ms: AVOID_REFRESH_MS,
        }
    }
}

/// What a worker was last told.
#[derive(Debug, Clone, PartialEq)]
struct Told {
    partition: Option<String>,
    /// Whether a hint was sent (`None`: none was available).
    hinted: Option<bool>,
    at_ms: u64,
}

/// What the event loop should do after a tick.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    /// Publish the new weights.
    pub weights_changed: bool,
    /// Ask workers for sub-categories of these parents (`None`: the topic).
    pub split: Vec<Option<String>>,
    /// Send these workers a fresh assignment.
    pub reassign: Vec<String>,
    /// A strategy was suppressed or came back (see [`Steering::arms`]).
    pub arms_changed: bool,
}

pub struct Steering {
    strategies: Strategies,
    avoid_refresh_ms: u64,
    bandit: Bandit,
    tree: Tree,
    avoid: Avoid,
    arms: Arms,
    /// Partition each alive worker should work on.
    desired: HashMap<String, Option<String>>,
    told: HashMap<String, Told>,
}

impl Steering {
    pub fn new(strategies: Strategies, manual: Option<BTreeMap<String, f64>>) -> Self {
        Self::tuned(strategies, manual, Tuning::default())
    }

    pub fn tuned(
        strategies: Strategies,
        manual: Option<BTreeMap<String, f64>>,
        tuning: Tuning,
    ) -> Self {
        let mut bandit = Bandit::new(tuning.weights);
        if manual.is_some() {
            bandit.set_manual(manual);
        }
        Self {
            strategies,
            avoid_refresh_ms: tuning.avoid_refresh_ms,
            bandit,
            tree: Tree::new(tuning.partitions),
            avoid: Avoid::new(tuning.avoid),
            arms: Arms::new(tuning.arms),
            desired: HashMap::new(),
            told: HashMap::new(),
        }
    }

    pub fn fanout(&self) -> u32 {
        self.tree.policy().fanout
    }

    /// Learns from one ingested answer; `duplicates` are its candidates that
    /// were already known.
    pub fn observe(
        &mut self,
        batch: &CandidateBatch,
        outcome: BatchOutcome,
        duplicates: &[(u128, &str)],
        now_ms: u64,
    ) {
        if self.strategies.weights {
            self.bandit.observe(
                &batch.provider,
                outcome.new,
                batch.cost_usd,
                batch.latency_ms,
                now_ms,
            );
        }
        // The batch names its partition; whether its prompt carried a hint
        // is what its worker was last told, if that was this partition.
        let hinted = self
            .told
            .get(&batch.worker_id)
            .filter(|t| t.partition == batch.partition)
            .and_then(|t| t.hinted);
        // Broad answers from before the topic was split are not compared:
        // a fresh topic yields more to any prompt than the same topic later.
        let placement = match self.strategies.partitions && self.tree.is_empty() {
            true => None,
            false => Some(batch.partition.is_some()),
        };
        self.arms.observe(
            placement,
            hinted,
            outcome.new,
            batch.tokens_in + batch.tokens_out,
            batch.cost_usd,
        );
        let partition = batch.partition.as_deref();
        self.tree.record(partition, outcome.candidates, outcome.new);
        if self.strategies.avoid {
            self.avoid
                .observe(partition, outcome.candidates, outcome.new, duplicates);
        }
    }

    /// Learns a judge's verdict on a new item `provider` found under
    /// `partition`: the provider's weight, the partitions arm and the
    /// partition itself are judged on valid new items from then on.
    /// `unsure` verdicts teach nothing.
    pub fn observe_verdict(
        &mut self,
        provider: &str,
        partition: Option<&str>,
        verdict: igentai_protocol::Answer,
    ) {
        let valid = match verdict {
            igentai_protocol::Answer::Yes => true,
            igentai_protocol::Answer::No => false,
            igentai_protocol::Answer::Unsure => return,
        };
        if self.strategies.weights {
            self.bandit.observe_verdict(provider, valid);
        }
        // As for answers: items found before the topic was split are not
        // compared.
        if !(self.strategies.partitions && self.tree.is_empty()) {
            self.arms.observe_verdict(Some(partition.is_some()), valid);
        }
        self.tree.record_verdict(partition, valid);
    }

    /// Learns that `n` calls to `provider` failed (from worker heartbeats).
    pub fn observe_failures(&mut self, provider: &str, n: u64, now_ms: u64) {
        if self.strategies.weights {
            self.bandit.observe_failures(provider, n, now_ms);
        }
    }

    /// Re-plans: weights over the `healthy` providers, partition decisions,
    /// and which of the `workers` (alive, sorted) need a new assignment.
    pub fn tick(&mut self, healthy: &[String], workers: &[String], now_ms: u64) -> Plan {
        let mut plan = Plan::default();
        if self.strategies.weights || self.bandit.manual().is_some() {
            plan.weights_changed = self.bandit.update(healthy, now_ms);
        }
        if self.strategies.partitions && !workers.is_empty() {
            plan.split = self
                .tree
                .decide()
                .into_iter()
                .map(|Action::RequestChildren { parent }| parent)
                .collect();
        }
        plan.arms_changed = self.arms.judge();
        self.desired = workers.iter().map(|w| (w.clone(), None)).collect();
        if self.strategies.partitions {
            // The broad prompt keeps its share of the workers; the rest
            // are spread over the partitions.
            let placed = self.arms.place(workers.len(), now_ms);
            let partitioned: Vec<String> = workers
                .iter()
                .zip(placed)
                .filter(|(_, on)| *on)
                .map(|(w, _)| w.clone())
                .collect();
            for (w, p) in self.tree.spread(&partitioned) {
                self.desired.insert(w.to_string(), p);
            }
        }
        self.told.retain(|w, _| self.desired.contains_key(w));
        for worker in workers {
            let due = match self.told.get(worker) {
                None => false, // not told yet: the heartbeat reconciliation assigns it
                Some(t) => {
                    t.partition != self.desired[worker]
                        || (self.strategies.avoid
                            && now_ms.saturating_sub(t.at_ms) >= self.avoid_refresh_ms)
                }
            };
            if due {
                plan.reassign.push(worker.clone());
            }
        }
        plan
    }

    /// The partition `worker` should be on (`None`: the whole topic).
    pub fn desired(&self, worker: &str) -> Option<&str> {
        self.desired.get(worker).and_then(|p| p.as_deref())
    }

    /// The assignment for `worker`, remembered as told.
    pub fn assignment(&mut self, run: &Run, worker: &str, now_ms: u64) -> Assignment {
        let partition = self.desired.get(worker).cloned().flatten();
        let mut a = run.assignment();
        let mut hinted = None;
        if self.strategies.avoid {
            let hint = self.avoid.hint(partition.as_deref());
            if !hint.is_empty() {
                let sent = self.arms.offer_hint();
                if sent {
                    a.avoid = hint;
                }
                hinted = Some(sent);
            }
        }
        a.weights = self.weights().0.clone();
        a.partition = partition.clone();
        self.told.insert(
            worker.to_string(),
            Told {
                partition,
                hinted,
                at_ms: now_ms,
            },
        );
        a
    }

    /// A partition job's tokens and cost (answered or not): what the
    /// partitions strategy costs beyond its answers.
    pub fn charge_split(&mut self, tokens: u64, cost_usd: f64) {
        self.arms.charge_partitions(tokens, cost_usd);
    }

    /// The broad prompt and each strategy switched on, as arms: what they
    /// yield, their share of the work, which are suppressed.
    pub fn arms(&self) -> Vec<ArmStats> {
        self.arms
            .stats(self.strategies.partitions, self.strategies.avoid)
    }

    /// Sub-categories arrived for `parent` (or the request failed).
    pub fn split_done(
        &mut self,
        parent: Option<&str>,
        result: Result<Vec<String>, String>,
    ) -> usize {
        match result {
            Ok(names) => self.tree.add_children(parent, &names),
            Err(_) => {
                self.tree.split_failed(parent);
                0
            }
        }
    }

    /// Weights in force (empty: uniform), their version, and whether manual.
    pub fn weights(&self) -> (&BTreeMap<String, f64>, u64, bool) {
        let (w, version) = self.bandit.weights();
        (w, version, self.bandit.manual().is_some())
    }

    pub fn set_manual(&mut self, weights: Option<BTreeMap<String, f64>>) {
        self.bandit.set_manual(weights);
    }

    pub fn manual(&self) -> Option<BTreeMap<String, f64>> {
        self.bandit.manual().cloned()
    }

    pub fn annotate(&self, stats: &mut Vec<PartitionStats>) {
        self.tree.annotate(stats);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::normalize::{key_hash, normalize};
    use igentai_protocol::StartRequest;

    fn run(strategies: Strategies) -> Run {
        let request = StartRequest {
            topic: "Paris attractions".into(),
            strategies,
            ..Default::default()
        };
        Run::new(&request, "paris", std::path::Path::new("data/paris"), 0, 0)
    }

    fn workers(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("w{i}")).collect()
    }

    fn batch(provider: &str, partition: Option<&str>) -> CandidateBatch {
        CandidateBatch {
            v: 1,
            batch_id: "b".into(),
            run_id: "r".into(),
            topic: "Paris attractions".into(),
            worker_id: "w1".into(),
            provider: provider.into(),
            model: "m".into(),
            partition: partition.map(Into::into),
            items: vec![],
            tokens_in: 100,
            tokens_cached_in: 0,
            tokens_out: 100,
            latency_ms: 500,
            cost_usd: 0.001,
            finish_reason: None,
            request_id: None,
            created_at_ms: 0,
        }
    }

    #[test]
    fn partitions_are_requested_spread_and_assigned() {
        let all = Strategies::default();
        let r = run(all);
        let mut s = Steering::new(all, None);
        assert!(s.tick(&["sim".into()], &workers(3), 0).split.is_empty());
        // The broad prompt's answers turn mostly duplicates: split it.
        let saturated = BatchOutcome {
            candidates: 20,
            new: 2,
            invalid: 0,
            near_duplicates: 0,
        };
        for _ in 0..10 {
            s.observe(&batch("sim", None), saturated, &[], 0);
        }
        let plan = s.tick(&["sim".into()], &workers(3), 0);
        assert_eq!(plan.split, [None]);
        // Nobody was told anything yet: assignments come from reconciliation.
        assert!(plan.reassign.is_empty());
        for w in workers(3) {
            assert_eq!(s.assignment(&r, &w, 0).partition, None);
        }
        assert_eq!(
            s.split_done(None, Ok(vec!["Museums".into(), "Parks".into()])),
            2
        );
        let plan = s.tick(&["sim".into()], &workers(3), 1_000);
        assert_eq!(
            plan.reassign,
            workers(3),
            "every worker moves to a partition"
        );
        let parts: Vec<Option<String>> = workers(3)
            .iter()
            .map(|w| s.assignment(&r, w, 1_000).partition)
            .collect();
        assert_eq!(parts.iter().flatten().count(), 3);
        assert!(
            s.tick(&["sim".into()], &workers(3), 2_000)
                .reassign
                .is_empty()
        );
    }

    #[test]
    fn avoid_hints_name_repeated_items_and_refresh() {
        let all = Strategies::default();
        let r = run(all);
        let mut s = Steering::new(
            Strategies {
                partitions: false,
                ..all
            },
            None,
        );
        s.tick(&[], &workers(1), 0);
        s.assignment(&r, "w1", 0);
        let dups: Vec<(u128, &str)> = ["Louvre", "Orsay"]
            .iter()
            .flat_map(|&item| [(key_hash(&normalize(item)), item); 3])
            .collect();
        s.observe(
            &batch("sim", None),
            BatchOutcome {
                candidates: 100,
                new: 10,
                invalid: 0,
                near_duplicates: 0,
            },
            &dups,
            0,
        );
        assert!(
            s.tick(&[], &workers(1), AVOID_REFRESH_MS - 1)
                .reassign
                .is_empty()
        );
        assert_eq!(s.tick(&[], &workers(1), AVOID_REFRESH_MS).reassign, ["w1"]);
        assert_eq!(
            s.assignment(&r, "w1", AVOID_REFRESH_MS).avoid,
            ["Louvre", "Orsay"]
        );
    }

    #[test]
    fn partitions_that_lose_to_the_broad_prompt_give_their_workers_back() {
        let strategies = Strategies {
            avoid: false,
            ..Strategies::default()
        };
        let mut s = Steering::new(strategies, None);
        let ws = workers(10);
        let on_partitions = |s: &Steering| ws.iter().filter(|w| s.desired(w).is_some()).count();
        s.tick(&["sim".into()], &ws, 0);
        // Answers to the fresh topic, before it is split, are not compared.
        let fresh = BatchOutcome {
            candidates: 20,
            new: 20,
            ..BatchOutcome::default()
        };
        s.observe(&batch("sim", None), fresh, &[], 500);
        s.split_done(None, Ok(vec!["A".into(), "B".into()]));
        s.tick(&["sim".into()], &ws, 1_000);
        assert!(on_partitions(&s) >= 8, "partitions start with most work");
        let mut broad_answers = 0;
        // Partitioned answers hold half the broad prompt's new items, and
        // the jobs naming them cost tokens too.
        s.charge_split(300, 0.0002);
        for round in 0..300u64 {
            let now = 1_000 + round * 100;
            for w in &ws {
                let partition = s.desired(w).map(str::to_string);
                let new = if partition.is_some() { 4 } else { 8 };
                broad_answers += u64::from(partition.is_none());
                let mut b = batch("sim", partition.as_deref());
                b.worker_id = w.clone();
                let outcome = BatchOutcome {
                    candidates: 20,
                    new,
                    ..BatchOutcome::default()
                };
                s.observe(&b, outcome, &[], now);
            }
            s.tick(&["sim".into()], &ws, now);
        }
        assert_eq!(on_partitions(&s), 1, "re-tested on a tenth of the work");
        let arms = s.arms();
        let partitions = arms.iter().find(|a| a.name == "partitions").unwrap();
        assert_eq!(partitions.state, "suppressed");
        assert!(partitions.share <= 0.15 && partitions.vs_baseline < 0.6);
        assert!(partitions.tokens > partitions.batches * 200, "jobs charged");
        let broad = arms.iter().find(|a| a.name == "broad").unwrap();
        assert_eq!(broad.batches, broad_answers);
    }

    #[test]
    fn strategies_switch_off() {
        let off = Strategies {
            weights: false,
            partitions: false,
            avoid: false,
        };
        let r = run(off);
        let mut s = Steering::new(off, None);
        for t in 0..100 {
            s.observe(
                &batch("a", None),
                BatchOutcome {
                    candidates: 20,
                    new: 10,
                    invalid: 0,
                    near_duplicates: 0,
                },
                &[(1, "x")],
                t * 100,
            );
            s.observe(
                &batch("b", None),
                BatchOutcome {
                    candidates: 20,
                    new: 1,
                    invalid: 0,
                    near_duplicates: 0,
                },
                &[(1, "x")],
                t * 100,
            );
            let plan = s.tick(&["a".into(), "b".into()], &workers(2), t * 100);
            assert_eq!(plan, Plan::default());
        }
        let a = s.assignment(&r, "w1", 0);
        assert!(a.weights.is_empty() && a.avoid.is_empty() && a.partition.is_none());
        // A manual override still applies.
        s.set_manual(Some([("b".to_string(), 1.0)].into()));
        assert_eq!(s.assignment(&r, "w1", 0).weights["b"], 1.0);
    }
}
