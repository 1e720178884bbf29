//! The partition tree: the topic split into sub-categories, explored where
//! it still pays.
//!
//! Pure. Once the whole topic's answers are mostly duplicates the
//! coordinator asks a worker for sub-categories of it and adds them as
//! active partitions; workers are spread over the active ones.
//! Each partition's recent uniqueness (new items / candidates over its last
//! answers) decides its fate: a partition whose answers are mostly
//! duplicates is split into sub-categories (a narrower prompt reaches items
//! a broad one keeps missing), and one that stays barren is retired, as is
//! one whose new items judges find mostly invalid (narrow prompts make a
//! model invent). When every partition is retired the whole topic is worked
//! again.
//!
//! Long only with its unit tests: the code is the first 381 lines.

use std::collections::{BTreeMap, HashSet, VecDeque};

use igentai_protocol::PartitionStats;

use super::validity::Validity;
use crate::keys::normalize::normalize;
use crate::run::stats::WHOLE_TOPIC;

/// Separator of partition paths: "Museums > Art museums".
pub const PATH_SEP: &str = " > ";
/// Failed split requests after which a partition is no longer split.
const MAX_FAILED_SPLITS: u32 = 2;

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Sub-categories asked for per split.
    pub fanout: u32,
    /// Deepest level of the tree (the topic's own sub-categories are level 1).
    pub max_depth: u32,
    /// Candidates a partition needs in its window before it is judged.
    pub judge_after: u64,
    /// Candidates the whole topic needs in its window before it is judged
    /// for its first split; 0 splits it at once.
    pub topic_judge_after: u64,
    /// Split when the recent uniqueness falls below this.
    pub split_below: f64,
    /// Retire when it falls below this and the partition cannot split.
    pub retire_below: f64,
    /// Answers in a partition's window.
    pub window: usize,
    /// Retire a partition, never splitting it, once at least
    /// `judge_verdicts_after` of its new items were judged and the share
    /// judged valid is below this: a narrower prompt makes a model invent
    /// more, not less.
    pub invalid_retire_below: f64,
    /// Verdicts (decayed) a partition needs before its valid share counts.
    pub judge_verdicts_after: f64,
}

impl Default for Policy {
    fn default() -> Self {
        // Narrower prompts reach items broad ones keep missing, and a split
        // costs one short call, so a partition is split as soon as it is
        // judged not fresh; judging needs only a few answers.
        Self {
            fanout: 8,
            max_depth: 3,
            judge_after: 60,
            topic_judge_after: 60,
            split_below: 0.6,
            retire_below: 0.05,
            window: 10,
            invalid_retire_below: 0.5,
            judge_verdicts_after: 10.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Active,
    /// Its sub-categories replaced it.
    Split,
    /// It stopped paying and could not be split.
    Retired,
}

impl State {
    fn name(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Split => "split",
            Self::Retired => "retired",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Partition {
    /// The full path, which is also the name sent to workers.
    pub path: String,
    pub depth: u32,
    pub state: State,
    pub candidates: u64,
    pub unique: u64,
    /// (candidates, new) of the last answers.
    recent: VecDeque<(u64, u64)>,
    /// A split was asked for and not answered yet.
    splitting: bool,
    /// Split requests that failed or named nothing new.
    failed_splits: u32,
    /// What judges said of its new items.
    validity: Validity,
}

impl Partition {
    fn new(path: String, depth: u32) -> Self {
        Self {
            path,
            depth,
            state: State::Active,
            candidates: 0,
            unique: 0,
            recent: VecDeque::new(),
            splitting: false,
            failed_splits: 0,
            validity: Validity::default(),
        }
    }

    /// Whether asking for sub-categories again is pointless: the answer
    /// named none, or the request failed again and again.
    fn unsplittable(&self) -> bool {
        self.failed_splits >= MAX_FAILED_SPLITS
    }

    /// New items / candidates over the window, once it holds enough.
    fn recent_uniqueness(&self, judge_after: u64) -> Option<f64> {
        let (c, n) = self
            .recent
            .iter()
            .fold((0, 0), |(c, n), (dc, dn)| (c + dc, n + dn));
        (c >= judge_after).then(|| n as f64 / c as f64)
    }

    /// The share of its new items judged valid, once enough were judged.
    fn valid_share(&self, policy: &Policy) -> Option<f64> {
        (self.validity.judged() >= policy.judge_verdicts_after).then(|| self.validity.share())
    }
}

/// What the coordinator should do for the tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Ask a worker for sub-categories of `parent` (`None`: the topic).
    RequestChildren { parent: Option<String> },
}

#[derive(Debug, Clone)]
pub struct Tree {
    policy: Policy,
    nodes: BTreeMap<String, Partition>,
    /// The whole topic's answers (window, failed splits), judged like a
    /// partition's until it is split.
    root: Partition,
    /// The topic's own split was asked for / answered.
    root_requested: bool,
}

impl Tree {
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            nodes: BTreeMap::new(),
            root: Partition::new(String::new(), 0),
            root_requested: false,
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Adds the sub-categories a worker proposed for `parent`; returns how
    /// many were new. Empty, duplicate and over-long names are skipped; a
    /// parent that gets none is not split again.
    pub fn add_children(&mut self, parent: Option<&str>, names: &[String]) -> usize {
        let (prefix, depth) = match parent {
            None => (String::new(), 1),
            Some(p) => match self.nodes.get(p) {
                Some(node) => (format!("{p}{PATH_SEP}"), node.depth + 1),
                None => return 0,
            },
        };
        let mut seen: HashSet<String> = self
            .nodes
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix))
            .filter(|rest| !rest.contains(PATH_SEP))
            .map(normalize)
            .collect();
        let mut added = 0;
        for name in names {
            let name = name.trim().replace(PATH_SEP, " - ");
            let key = normalize(&name);
            if key.is_empty() || name.chars().count() > 80 || !seen.insert(key) {
                continue;
            }
            let path = format!("{prefix}{name}");
            self.nodes.insert(path.clone(), Partition::new(path, depth));
            added += 1;
        }
        match parent {
            None => self.root_requested = true,
            Some(p) => {
                let node = self.nodes.get_mut(p).expect("checked above");
                node.splitting = false;
                if added > 0 {
                    node.state = State::Split;
                } else {
                    node.failed_splits = MAX_FAILED_SPLITS;
                }
            }
        }
        added
    }

    /// A split request failed (no worker answered, a provider failed, or
    /// the answer named no sub-category): it is asked again on the next
    /// judgement, up to a bound.
    pub fn split_failed(&mut self, parent: Option<&str>) {
        match parent {
            None => {
                self.root_requested = false;
                self.root.failed_splits += 1;
            }
            Some(p) => {
                if let Some(node) = self.nodes.get_mut(p) {
                    node.splitting = false;
                    node.failed_splits += 1;
                }
            }
        }
    }

    /// Records one answer from `partition` (`None`: the whole topic).
    pub fn record(&mut self, partition: Option<&str>, candidates: u64, new: u64) {
        let node = match partition {
            None => &mut self.root,
            Some(p) => match self.nodes.get_mut(p) {
                Some(node) => node,
                None => return,
            },
        };
        node.candidates += candidates;
        node.unique += new;
        if node.recent.len() == self.policy.window {
            node.recent.pop_front();
        }
        node.recent.push_back((candidates, new));
    }

    /// A judge's verdict on a new item found under `partition` (`None`:
    /// the whole topic, which is not a node).
    pub fn record_verdict(&mut self, partition: Option<&str>, valid: bool) {
        if let Some(node) = partition.and_then(|p| self.nodes.get_mut(p)) {
            node.validity.observe(valid);
        }
    }

    /// Judges every partition; returns the requests to make.
    pub fn decide(&mut self) -> Vec<Action> {
        let mut actions = Vec::new();
        let policy = self.policy.clone();
        // The topic is split as a partition is: once the broad prompt's
        // answers are mostly duplicates. By then the popular items are
        // known, so a "sub-category" named like one of them is recognised
        // as a member (see the coordinator's split handling).
        let saturated = policy.topic_judge_after == 0
            || self
                .root
                .recent_uniqueness(policy.topic_judge_after)
                .is_some_and(|u| u < policy.split_below);
        if !self.root_requested && saturated && !self.root.unsplittable() {
            self.root_requested = true;
            actions.push(Action::RequestChildren { parent: None });
        }
        for node in self.nodes.values_mut() {
            if node.state != State::Active || node.splitting {
                continue;
            }
            if node
                .valid_share(&policy)
                .is_some_and(|v| v < policy.invalid_retire_below)
            {
                node.state = State::Retired;
                continue;
            }
            let Some(u) = node.recent_uniqueness(policy.judge_after) else {
                continue;
            };
            if u < policy.split_below && node.depth < policy.max_depth && !node.unsplittable() {
                node.splitting = true;
                actions.push(Action::RequestChildren {
                    parent: Some(node.path.clone()),
                });
            } else if u < policy.retire_below {
                node.state = State::Retired;
            }
        }
        actions
    }

    /// Active partitions, best recent uniqueness first (unjudged ones count
    /// as best: they are new ground), times the valid share of their new
    /// items once judged.
    pub fn active(&self) -> Vec<&str> {
        self.ranked(State::Active)
    }

    /// Partitions in `state`, best recent valid uniqueness first.
    fn ranked(&self, state: State) -> Vec<&str> {
        let mut ranked: Vec<(&str, f64)> = self
            .nodes
            .values()
            .filter(|n| n.state == state)
            .map(|n| {
                let u = n.recent_uniqueness(self.policy.judge_after).unwrap_or(1.0);
                let v = n.valid_share(&self.policy).unwrap_or(1.0);
                (n.path.as_str(), u * v)
            })
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        ranked.into_iter().map(|(p, _)| p).collect()
    }

    /// The partitions workers are spread over: the active ones; once every
    /// one is retired, the retired ones that paid best lately, since even a
    /// barren partition yields more than the broad topic it was cut from.
    /// Empty before the topic is split.
    fn worked(&self) -> Vec<&str> {
        let active = self.active();
        match active.is_empty() {
            true => self.ranked(State::Retired),
            false => active,
        }
    }

    /// Spreads `workers` over the partitions worked on: the best get the
    /// first workers, every one gets one before any gets two. Before the
    /// topic is split everyone works on the whole topic (`None`).
    pub fn spread<'a>(&self, workers: &'a [String]) -> Vec<(&'a str, Option<String>)> {
        let active = self.worked();
        workers
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let partition = (!active.is_empty()).then(|| active[i % active.len()].to_string());
                (w.as_str(), partition)
            })
            .collect()
    }

    #[cfg(test)]
    pub fn is_active(&self, path: &str) -> bool {
        self.nodes
            .get(path)
            .is_some_and(|n| n.state == State::Active)
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    #[cfg(test)]
    /// State and counters of every partition, for the metrics.
    pub fn states(&self) -> BTreeMap<String, &'static str> {
        self.nodes
            .iter()
            .map(|(k, n)| (k.clone(), n.state.name()))
            .collect()
    }

    /// Merges partition states into the per-partition yields.
    pub fn annotate(&self, stats: &mut Vec<PartitionStats>) {
        for s in stats.iter_mut() {
            s.state = match self.nodes.get(&s.name) {
                Some(n) => n.state.name().to_string(),
                None if s.name == WHOLE_TOPIC => if self.worked().is_empty() {
                    "active"
                } else {
                    "split"
                }
                .to_string(),
                None => "unknown".to_string(),
            };
        }
        for (path, n) in &self.nodes {
            if !stats.iter().any(|s| &s.name == path) {
                stats.push(PartitionStats {
                    name: path.clone(),
                    state: n.state.name().to_string(),
                    yields: Default::default(),
                });
            }
        }
        stats.sort_by(|a, b| a.name.cmp(&b.name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    fn small() -> Policy {
        Policy {
            judge_after: 100,
            topic_judge_after: 100,
            window: 10,
            ..Policy::default()
        }
    }

    /// The whole topic's answers: `answers` of 20 candidates, `new` new.
    fn broad(tree: &mut Tree, answers: usize, new: u64) {
        for _ in 0..answers {
            tree.record(None, 20, new);
        }
    }

    #[test]
    fn splits_the_topic_once_its_answers_are_mostly_duplicates() {
        let mut tree = Tree::new(small());
        assert_eq!(tree.decide(), [], "nothing answered yet");
        broad(&mut tree, 10, 15);
        assert_eq!(tree.decide(), [], "the broad prompt still finds 75% new");
        broad(&mut tree, 10, 4);
        assert_eq!(tree.decide(), [Action::RequestChildren { parent: None }]);
        assert_eq!(tree.decide(), [], "one request at a time");
        tree.split_failed(None);
        assert_eq!(tree.decide(), [Action::RequestChildren { parent: None }]);
        // A model that cannot name sub-categories is not asked forever.
        tree.split_failed(None);
        assert_eq!(tree.decide(), []);

        let mut at_once = Tree::new(Policy {
            topic_judge_after: 0,
            ..small()
        });
        assert_eq!(at_once.decide(), [Action::RequestChildren { parent: None }]);
    }

    #[test]
    fn children_are_cleaned_and_deduplicated() {
        let mut tree = Tree::new(small());
        tree.decide();
        let added = tree.add_children(
            None,
            &names(&["Museums", "museums.", "", "Parks", &"x".repeat(81), "A > B"]),
        );
        assert_eq!(added, 3);
        assert_eq!(tree.active().len(), 3);
        assert!(tree.is_active("A - B"));
        assert_eq!(tree.add_children(None, &names(&["Parks", "Markets"])), 1);
        assert_eq!(tree.add_children(Some("Nowhere"), &names(&["x"])), 0);
    }

    #[test]
    fn a_partition_whose_items_are_judged_invented_retires_instead_of_splitting() {
        let mut tree = Tree::new(small());
        tree.decide();
        tree.add_children(None, &names(&["Real", "Dreamt", "Fresh"]));
        for _ in 0..10 {
            // Both saturated: each would be split on its yield alone.
            tree.record(Some("Real"), 20, 2);
            tree.record(Some("Dreamt"), 20, 2);
            tree.record(Some("Fresh"), 20, 15);
        }
        for i in 0..20 {
            tree.record_verdict(Some("Real"), i % 10 != 0);
            tree.record_verdict(Some("Dreamt"), i % 5 == 0);
            tree.record_verdict(Some("Fresh"), i % 3 != 0);
        }
        tree.record_verdict(None, false);
        assert_eq!(
            tree.decide(),
            [Action::RequestChildren {
                parent: Some("Real".into())
            }]
        );
        assert_eq!(tree.states()["Dreamt"], "retired");
        // Two thirds of Fresh's items are valid: kept, and ranked by the
        // valid share of its uniqueness, ahead of Real.
        assert_eq!(tree.states()["Fresh"], "active");
        assert_eq!(tree.active(), ["Fresh", "Real"]);
    }

    #[test]
    fn saturated_partitions_split_and_barren_ones_retire() {
        let mut tree = Tree::new(small());
        tree.decide();
        tree.add_children(None, &names(&["Museums", "Parks"]));
        // Museums: 10 answers of 20 candidates, 2 new each → uniqueness 0.1.
        for _ in 0..10 {
            tree.record(Some("Museums"), 20, 2);
            tree.record(Some("Parks"), 20, 15);
        }
        let actions = tree.decide();
        assert_eq!(
            actions,
            [Action::RequestChildren {
                parent: Some("Museums".into())
            }]
        );
        assert_eq!(tree.decide(), [], "one request in flight at a time");
        tree.add_children(Some("Museums"), &names(&["Art museums", "Science museums"]));
        assert_eq!(tree.states()["Museums"], "split");
        assert!(tree.is_active("Museums > Art museums"));
        assert_eq!(tree.active().len(), 3);

        // A partition that cannot split retires once barren.
        for _ in 0..10 {
            tree.record(Some("Parks"), 20, 0);
        }
        assert_eq!(
            tree.decide(),
            [Action::RequestChildren {
                parent: Some("Parks".into())
            }]
        );
        tree.add_children(Some("Parks"), &[]);
        assert_eq!(tree.decide(), []);
        assert_eq!(tree.states()["Parks"], "retired");
    }

    /// One partition at `depth` after `failed` split requests, given its
    /// recent answers as (candidates, new): what `decide` does with it.
    fn check(depth: u32, failed: u32, answers: &[(u64, u64)], asked: bool, state: &str) {
        let mut tree = Tree::new(small());
        tree.decide();
        tree.add_children(None, &names(&["A"]));
        let mut path = "A".to_string();
        for d in 2..=depth {
            tree.nodes.get_mut(&path).unwrap().state = State::Split;
            tree.add_children(Some(&path), &names(&[&format!("L{d}")]));
            path = format!("{path}{PATH_SEP}L{d}");
        }
        tree.nodes.get_mut(&path).unwrap().failed_splits = failed;
        for (candidates, new) in answers {
            tree.record(Some(&path), *candidates, *new);
        }
        let actions = tree.decide();
        let expected: Vec<Action> = match asked {
            true => vec![Action::RequestChildren {
                parent: Some(path.clone()),
            }],
            false => vec![],
        };
        assert_eq!(
            actions, expected,
            "depth {depth}, {failed} failed, {answers:?}"
        );
        assert_eq!(tree.states()[&path], state, "depth {depth}, {answers:?}");
    }

    #[test]
    fn each_partition_is_kept_split_or_retired_by_its_recent_yield() {
        let fresh = [(20, 18); 10];
        let tiring = [(20, 8); 10]; // uniqueness 0.4
        let barren = [(20, 0); 10];
        // Too few candidates to judge: nothing happens.
        check(1, 0, &[(20, 0); 4], false, "active");
        // Still paying: kept.
        check(1, 0, &fresh, false, "active");
        check(3, 0, &tiring, false, "active");
        // Saturating: split while it may go deeper and can.
        check(1, 0, &tiring, true, "active");
        check(2, 0, &barren, true, "active");
        check(2, 1, &barren, true, "active"); // one failed request is retried
        // Barren and cannot split: retired.
        check(3, 0, &barren, false, "retired");
        check(2, MAX_FAILED_SPLITS, &barren, false, "retired");
        // The window forgets: a partition that turned barren.
        let mut turned = vec![(20, 20); 10];
        turned.extend([(20, 0); 10]);
        check(3, 0, &turned, false, "retired");
    }

    #[test]
    fn a_failed_split_is_asked_again_then_given_up() {
        let mut tree = Tree::new(Policy {
            max_depth: 2,
            ..small()
        });
        tree.decide();
        tree.add_children(None, &names(&["Parks"]));
        let ask = [Action::RequestChildren {
            parent: Some("Parks".into()),
        }];
        for _ in 0..10 {
            tree.record(Some("Parks"), 20, 1);
        }
        assert_eq!(tree.decide(), ask);
        tree.split_failed(Some("Parks"));
        assert_eq!(tree.decide(), ask, "a provider failure is not an answer");
        tree.split_failed(Some("Parks"));
        assert_eq!(tree.decide(), []);
        assert_eq!(tree.states()["Parks"], "active", "not barren yet");
    }

    #[test]
    fn deepest_partitions_retire_instead_of_splitting() {
        let mut tree = Tree::new(Policy {
            max_depth: 1,
            ..small()
        });
        tree.decide();
        tree.add_children(None, &names(&["Museums"]));
        for _ in 0..10 {
            tree.record(Some("Museums"), 20, 0);
        }
        assert_eq!(tree.decide(), []);
        assert_eq!(tree.states()["Museums"], "retired");
        // Nothing active: the retired partition still beats the broad topic.
        assert_eq!(
            tree.spread(&names(&["w1"])),
            [("w1", Some("Museums".to_string()))]
        );
    }

    #[test]
    fn workers_spread_over_the_best_partitions() {
        let mut tree = Tree::new(small());
        tree.decide();
        tree.add_children(None, &names(&["A", "B", "C"]));
        for _ in 0..10 {
            tree.record(Some("A"), 20, 5);
            tree.record(Some("B"), 20, 19);
            tree.record(Some("C"), 20, 10);
        }
        let workers = names(&["w1", "w2", "w3", "w4"]);
        let spread = tree.spread(&workers);
        let got: Vec<Option<&str>> = spread.iter().map(|(_, p)| p.as_deref()).collect();
        assert_eq!(got, [Some("B"), Some("C"), Some("A"), Some("B")]);
    }
}
