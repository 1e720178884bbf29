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
//! model invent). Once every partition is retired the workers go back to
//! the barren ones that paid best lately; never to an invalid one, and when
//! only invalid ones are left the whole topic is worked again.

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
    /// A partition is `invalid` (never split, never worked again) once at
    /// least `judge_verdicts_after` of its new items were judged and the
    /// share judged valid is below this: a narrower prompt makes a model
    /// invent more, not less.
    pub invalid_below: f64,
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
            invalid_below: 0.5,
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
    /// Judges found most of its new items invalid: a sub-category the
    /// topic's members are not in ("Alloys" of chemical elements). Never
    /// worked again.
    Invalid,
}

impl State {
    fn name(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Split => "split",
            Self::Retired => "retired",
            Self::Invalid => "invalid",
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
                .is_some_and(|v| v < policy.invalid_below)
            {
                node.state = State::Invalid;
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

    /// The partitions workers are spread over: the active ones; once none
    /// is, the retired ones that paid best lately, since even a barren
    /// partition yields more than the broad topic it was cut from. Never an
    /// invalid one: the broad topic beats a sub-category whose items are
    /// mostly not members. Empty before the topic is split, and when only
    /// invalid partitions are left.
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
#[path = "partitions_tests.rs"]
mod tests;
