//! The `sim` provider's latent world for one topic: a tree of named
//! sub-categories (`fanout` children per node, `depth` levels) whose leaves
//! hold the items a model knows, each leaf's items ranked by popularity.
//!
//! The tree and every name in it depend only on the topic, the seed, the
//! fanout and the depth, so every sim sharing those agrees on what
//! "Museums > Historic museums" means, whoever proposed it. Item names are
//! built from scrambled ids, so they never collide, and each carries one
//! made-up word of its own ("Molavere"), so any spelling that mentions it
//! can be traced back to the item ([`Universe::identify`]): the truth the
//! yield benchmark counts distinct items by.
//!
//! The world itself is what the largest model ([`MAX_UNIVERSE`]) would
//! know; every model knows part of it. The ids past it spell names just
//! like the world's (same syllables, same kinds and prefixes) that name
//! nothing: a model invents from them ([`Universe::invent`]), each model
//! from a pool of its own, and only membership ([`Universe::member`])
//! tells them apart.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::knobs::{MAX_DEPTH, MAX_FANOUT, MAX_UNIVERSE, SimConfig};
use super::spelling::{ID_BITS, WORD_LEN, item_name, mix, unspell};
use super::words::{KINDS, label_list, plural};
use crate::rng::Rng;

/// A node of the tree; [`ROOT`] is the whole topic.
pub type NodeId = usize;
pub const ROOT: NodeId = 0;

struct Node {
    name: String,
    /// What sets it apart from its siblings ("museum", "historic", "by the
    /// river"), for text that names it loosely.
    mark: String,
    parent: NodeId,
    /// Index into [`KINDS`] of its level-1 ancestor.
    kind: usize,
    /// Most popular first.
    children: Vec<NodeId>,
    /// Cumulative draw weights over `children`: popularity, and zero where
    /// the model knows nothing.
    child_cdf: Vec<f64>,
    /// Items the model knows in this subtree.
    known: usize,
    /// Levels below the root (0 for the root).
    depth: u32,
    /// A leaf's index among the leaves (its items' ids are `j × leaves +
    /// slot`); 0 for other nodes.
    slot: usize,
    /// Items of a leaf, most popular first, with their cumulative weights.
    items: Vec<usize>,
    item_cdf: Vec<f64>,
}

/// One topic's world as one model knows it.
///
/// What a model knows depends on its `universe`: each leaf has a fixed
/// share of the world and a model knowing N items knows about N·share of
/// each leaf, its most popular first; so a "small" model knows the popular
/// part of what a "large" one knows. Popularity is Zipf at every level: a
/// broad prompt descends from the root choosing the k-th most popular
/// child with weight 1/k^c (`category_s`) and then the j-th item of the
/// leaf with weight 1/j^s (`zipf_s`), so answers crowd into popular
/// corners and the long tail of unpopular leaves is out of reach; a prompt
/// naming a node starts the descent there, so a narrower prompt reaches
/// its tail.
pub struct Universe {
    pub names: Vec<String>,
    nodes: Vec<Node>,
    /// The leaf holding each item.
    leaf_of: Vec<NodeId>,
    /// Each item's id in the world: the same for every sim of the world,
    /// whatever it knows, unlike its index here.
    ids: Vec<u64>,
    /// Each item's own word, lower case ("molavere").
    words: Vec<[u8; WORD_LEN]>,
    /// Word → index, built on first use (only the benchmark asks).
    by_word: OnceLock<HashMap<[u8; WORD_LEN], usize>>,
    /// The leaves, by slot.
    leaves: Vec<NodeId>,
    /// Items of the world in each leaf (by slot): what a model of
    /// [`MAX_UNIVERSE`] items knows there.
    world_known: Vec<usize>,
    /// Ids per leaf: the ids of slot `l` are `j × leaves + l` for `j`
    /// below this.
    per_leaf_ids: usize,
    /// The seed the names are spelled with.
    world: u64,
    /// Cumulative popularity of the k-th child of a node, whatever the
    /// model knows there: where an invention lands.
    rank_cdf: Vec<f64>,
    /// Cumulative popularity of the invented names of a leaf, by rank.
    pool_cdf: Vec<f64>,
    /// This model's own invented names: a hash of its name.
    inventor: u64,
}

impl Universe {
    pub fn new(topic: &str, config: &SimConfig) -> Self {
        let fanout = config.fanout.clamp(1, MAX_FANOUT) as usize;
        let depth = config.depth.clamp(1, MAX_DEPTH);
        let world = config.seed
            ^ xxhash_rust::xxh3::xxh3_64(topic.trim().to_lowercase().as_bytes())
            ^ ((fanout as u64) << 56)
            ^ (u64::from(depth) << 48);
        let s = config.zipf_s.max(0.0);
        let c = config.category_s.max(0.0);
        let mut nodes = vec![Node::new(String::new(), String::new(), ROOT, 0, 0)];
        let mut leaves = Vec::new();
        let mut level = vec![ROOT];
        for d in 1..=depth {
            let mut next = Vec::new();
            for &at in &level {
                let labels = shuffled(label_list(d), fanout, world ^ mix(at as u64 + 1));
                for label in labels {
                    let (name, mark, kind) = match d {
                        1 => {
                            let kind = KINDS.iter().position(|k| *k == label).unwrap_or(0);
                            let mark = label.to_lowercase().trim_end_matches(['s', 'y']).into();
                            (plural(label), mark, kind)
                        }
                        _ => {
                            let parent = &nodes[at];
                            let name = match d {
                                2 => {
                                    format!("{label} {}", plural(KINDS[parent.kind]).to_lowercase())
                                }
                                3 => format!("{} {label}", parent.name),
                                _ => format!("{}, {label}", parent.name),
                            };
                            (name, label.to_lowercase(), parent.kind)
                        }
                    };
                    let id = nodes.len();
                    nodes.push(Node::new(name, mark, at, kind, d));
                    nodes[at].children.push(id);
                    next.push(id);
                }
            }
            level = next;
        }
        leaves.extend(level);
        for (slot, &leaf) in leaves.iter().enumerate() {
            nodes[leaf].slot = slot;
        }

        // Each leaf's share of the world, and a fixed offset so a larger
        // universe knows a superset of a smaller one.
        let shares: Vec<(f64, f64)> = (0..leaves.len())
            .map(|l| {
                let mut rng = Rng::new(world ^ mix(0x5eed_0000 + l as u64));
                ((0.5 * rng.normal()).exp(), rng.unit())
            })
            .collect();
        let total: f64 = shares.iter().map(|s| s.0).sum();
        let universe = config.universe.min(MAX_UNIVERSE) as f64;
        let per_leaf_ids = (1usize << ID_BITS) / leaves.len().max(1);
        let in_leaf = |items: f64, (share, offset): (f64, f64)| {
            ((items * share / total + offset).floor() as usize).min(per_leaf_ids)
        };
        let world_known: Vec<usize> = shares
            .iter()
            .map(|&s| in_leaf(MAX_UNIVERSE as f64, s))
            .collect();
        let mut names = Vec::new();
        let mut leaf_of = Vec::new();
        let mut ids = Vec::new();
        let mut words = Vec::new();
        for (l, &leaf) in leaves.iter().enumerate() {
            let k = in_leaf(universe, shares[l]);
            let mut sum = 0.0;
            for j in 0..k {
                let id = (j * leaves.len() + l) as u64;
                let (name, word) = item_name(id, KINDS[nodes[leaf].kind], world);
                names.push(name);
                leaf_of.push(leaf);
                ids.push(id);
                words.push(word);
                sum += 1.0 / ((j + 1) as f64).powf(s);
                let node = &mut nodes[leaf];
                node.items.push(names.len() - 1);
                node.item_cdf.push(sum);
            }
        }
        // Known counts bottom-up (children always follow their parent).
        for id in (0..nodes.len()).rev() {
            let known = if nodes[id].children.is_empty() {
                nodes[id].items.len()
            } else {
                nodes[id].children.iter().map(|&c| nodes[c].known).sum()
            };
            nodes[id].known = known;
            let mut sum = 0.0;
            let cdf: Vec<f64> = nodes[id]
                .children
                .iter()
                .enumerate()
                .map(|(rank, &child)| {
                    if nodes[child].known > 0 {
                        sum += 1.0 / ((rank + 1) as f64).powf(c);
                    }
                    sum
                })
                .collect();
            nodes[id].child_cdf = cdf;
        }
        let rank_cdf = cumulative(fanout, c);
        let pool_cdf = cumulative(config.invention_pool.max(1), s);
        Universe {
            names,
            nodes,
            leaf_of,
            ids,
            words,
            by_word: OnceLock::new(),
            leaves,
            world_known,
            per_leaf_ids,
            world,
            rank_cdf,
            pool_cdf,
            inventor: xxhash_rust::xxh3::xxh3_64(config.model.as_bytes()),
        }
    }

    /// The node a partition path names ("Museums > Historic museums"):
    /// each segment is matched to a child by its name, else by the mark it
    /// mentions ("museums of Paris" → Museums), else by its hash, so any
    /// text maps to a stable node. Segments past a leaf are ignored.
    pub fn node(&self, path: &str) -> NodeId {
        self.resolve(path).0
    }

    /// Whether every segment of `path` names a real sub-category (by its
    /// name or a mark it mentions) rather than landing on one by its hash:
    /// "Things that feel like Sunday" fits nowhere.
    pub fn fits(&self, path: &str) -> bool {
        self.resolve(path).1
    }

    fn resolve(&self, path: &str) -> (NodeId, bool) {
        let mut at = ROOT;
        let mut fits = true;
        for segment in path.split('>') {
            let segment = key(segment);
            if segment.is_empty() || self.nodes[at].children.is_empty() {
                continue;
            }
            let children = &self.nodes[at].children;
            at = children
                .iter()
                .copied()
                .find(|&c| key(&self.nodes[c].name) == segment)
                .or_else(|| {
                    children
                        .iter()
                        .copied()
                        .filter(|&c| segment.contains(self.nodes[c].mark.as_str()))
                        .max_by_key(|&c| self.nodes[c].mark.len())
                })
                .unwrap_or_else(|| {
                    fits = false;
                    let h = xxhash_rust::xxh3::xxh3_64(segment.as_bytes());
                    children[(h % children.len() as u64) as usize]
                });
        }
        (at, fits)
    }

    /// The world id of the item a spelling mentions ("Molavere Museum
    /// (Musée Molavere), a hidden museum" → Molavere Museum's), or `None`
    /// when it mentions none this model knows (an echo, a placeholder).
    pub fn identify(&self, spelling: &str) -> Option<u64> {
        let by_word = self.by_word.get_or_init(|| {
            self.words
                .iter()
                .enumerate()
                .map(|(i, w)| (*w, i))
                .collect()
        });
        spelling
            .split(|c: char| !c.is_ascii_alphabetic())
            .filter(|w| w.len() == WORD_LEN)
            .find_map(|w| {
                let mut word = [0u8; WORD_LEN];
                word.copy_from_slice(w.to_ascii_lowercase().as_bytes());
                by_word.get(&word).map(|&i| self.ids[i])
            })
    }

    /// The world id of the item a spelling mentions, whether this model
    /// knows it or not: a larger model's tail item is a member, an
    /// invented name is not.
    pub fn member(&self, spelling: &str) -> Option<u64> {
        self.spelled_ids(spelling).find(|&id| self.in_world(id))
    }

    /// The id a spelling mentions, in the world or invented (`None`: it
    /// mentions no name at all).
    pub fn spelled(&self, spelling: &str) -> Option<u64> {
        self.spelled_ids(spelling).next()
    }

    /// Whether `id` is an item of the world.
    pub fn in_world(&self, id: u64) -> bool {
        let (j, slot) = self.split(id);
        self.world_known.get(slot).is_some_and(|&k| j < k)
    }

    /// The name of the item `id`, known, unknown or invented.
    pub fn name_of(&self, id: u64) -> String {
        let leaf = self.leaf_of_id(id);
        item_name(id, KINDS[self.nodes[leaf].kind], self.world).0
    }

    /// The leaf an id belongs to.
    pub fn leaf_of_id(&self, id: u64) -> NodeId {
        self.leaves[self.split(id).1]
    }

    /// (rank in its leaf, leaf slot) of an id.
    fn split(&self, id: u64) -> (usize, usize) {
        let n = self.leaves.len() as u64;
        ((id / n) as usize, (id % n) as usize)
    }

    /// The ids whose names' own words a spelling mentions, in order.
    fn spelled_ids<'a>(&'a self, spelling: &'a str) -> impl Iterator<Item = u64> + 'a {
        spelling
            .split(|c: char| !c.is_ascii_alphabetic())
            .filter(|w| w.len() == WORD_LEN)
            .filter_map(|w| unspell(&w.to_ascii_lowercase(), self.world))
    }

    /// An invented item under `node`: a leaf chosen by the popularity of
    /// the sub-categories (whatever the model knows there), then one of
    /// this model's invented names for it by Zipf rank; `None` when the
    /// world fills every id of that leaf.
    pub fn invent(&self, node: NodeId, rng: &mut Rng) -> Option<u64> {
        let mut at = node;
        while !self.nodes[at].children.is_empty() {
            let children = &self.nodes[at].children;
            at = children[pick(&self.rank_cdf[..children.len()], rng)];
        }
        let slot = self.nodes[at].slot;
        let first = self.world_known[slot];
        let room = self.per_leaf_ids.saturating_sub(first);
        if room == 0 {
            return None;
        }
        let offset = (mix(self.inventor ^ mix(slot as u64)) % room as u64) as usize;
        let rank = pick(&self.pool_cdf, rng);
        let j = first + (offset + rank) % room;
        Some((j * self.leaves.len() + slot) as u64)
    }

    /// Levels below the root of a node.
    pub fn depth(&self, node: NodeId) -> u32 {
        self.nodes[node].depth
    }

    /// The world id of the item at `index`.
    pub fn id(&self, index: usize) -> u64 {
        self.ids[index]
    }

    /// The kind of place a node's items are ("Museum").
    pub fn kind(&self, node: NodeId) -> &'static str {
        KINDS[self.nodes[node].kind]
    }

    /// The leaf holding the item at `index`.
    pub fn leaf(&self, index: usize) -> NodeId {
        self.leaf_of[index]
    }

    /// The sub-category's level-2 and level-3 labels, as a description
    /// uses them ("historic", "by the river"); empty above those levels.
    pub fn labels(&self, node: NodeId) -> Vec<&str> {
        let mut chain = Vec::new();
        let mut at = node;
        while at != ROOT {
            chain.push(at);
            at = self.nodes[at].parent;
        }
        chain.reverse();
        chain
            .iter()
            .skip(1)
            .map(|&n| self.nodes[n].mark.as_str())
            .collect()
    }

    /// Names of a node's sub-categories, most popular first (none for a leaf).
    pub fn children(&self, node: NodeId) -> Vec<&str> {
        self.nodes[node]
            .children
            .iter()
            .map(|&c| self.nodes[c].name.as_str())
            .collect()
    }

    pub fn name(&self, node: NodeId) -> &str {
        &self.nodes[node].name
    }

    /// Items the model knows under `node`.
    pub fn known(&self, node: NodeId) -> usize {
        self.nodes[node].known
    }

    /// Whether `item` lies under `node`.
    pub fn contains(&self, node: NodeId, item: usize) -> bool {
        let mut at = self.leaf_of[item];
        loop {
            if at == node {
                return true;
            }
            if at == ROOT {
                return false;
            }
            at = self.nodes[at].parent;
        }
    }

    /// An item under `node` drawn by popularity, or `None` when the model
    /// knows nothing there.
    pub fn draw(&self, node: NodeId, rng: &mut Rng) -> Option<usize> {
        let mut at = node;
        loop {
            let n = &self.nodes[at];
            if n.known == 0 {
                return None;
            }
            if n.children.is_empty() {
                return Some(n.items[pick(&n.item_cdf, rng)]);
            }
            at = n.children[pick(&n.child_cdf, rng)];
        }
    }
}

impl Node {
    fn new(name: String, mark: String, parent: NodeId, kind: usize, depth: u32) -> Self {
        Node {
            name,
            mark,
            parent,
            kind,
            children: Vec::new(),
            child_cdf: Vec::new(),
            known: 0,
            depth,
            slot: 0,
            items: Vec::new(),
            item_cdf: Vec::new(),
        }
    }
}

/// Cumulative Zipf weights 1/k^s of `n` ranks.
fn cumulative(n: usize, s: f64) -> Vec<f64> {
    let mut sum = 0.0;
    (0..n)
        .map(|k| {
            sum += 1.0 / ((k + 1) as f64).powf(s);
            sum
        })
        .collect()
}

/// An index drawn from cumulative weights (the last is the total).
fn pick(cdf: &[f64], rng: &mut Rng) -> usize {
    let total = cdf.last().copied().unwrap_or(0.0);
    let x = rng.unit() * total;
    cdf.partition_point(|&c| c <= x).min(cdf.len() - 1)
}

/// Text as names are compared: lower case, trimmed of spaces, quotes and
/// trailing punctuation, without a leading "the ".
pub fn key(text: &str) -> String {
    let lower = text.trim().to_lowercase();
    let lower = lower.trim_matches(|c: char| matches!(c, '"' | '\'' | '*') || c.is_whitespace());
    let lower = lower.strip_prefix("the ").unwrap_or(lower);
    lower
        .trim_end_matches(['.', ',', ';', ':', '!'])
        .trim()
        .to_string()
}

/// `n` distinct labels in a seeded order; the order is their popularity.
fn shuffled(labels: &'static [&'static str], n: usize, seed: u64) -> Vec<&'static str> {
    let mut rng = Rng::new(seed);
    let mut order: Vec<&str> = labels.to_vec();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i + 1));
    }
    order.truncate(n.min(labels.len()));
    order
}
