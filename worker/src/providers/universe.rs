//! The `sim` provider's latent universe: a topic's items, invented from
//! syllables and kinds by a seeded generator, with Zipf-distributed
//! popularity, each in a sub-category (the kind in its name). A universe of
//! N items is a prefix of every larger one with the same seed, so a "small"
//! sim knows the popular part of what a "large" one knows.

use std::collections::HashSet;

use super::sim::SimConfig;
use crate::rng::Rng;

/// A topic's items, most popular first, with the cumulative popularity,
/// and the same per sub-category.
pub struct Universe {
    pub names: Vec<String>,
    cdf: Vec<f64>,
    categories: Vec<Category>,
}

/// The items of one sub-category (indices into the universe) by popularity.
#[derive(Default)]
struct Category {
    items: Vec<usize>,
    cdf: Vec<f64>,
}

const SYLLABLES: &[&str] = &[
    "mon", "clai", "ver", "bas", "ti", "lo", "mar", "quet", "dor", "san", "bel", "vi", "ra", "tes",
    "lu", "no", "gar", "fen", "ca", "lis", "bro", "ten", "su", "pha", "mi", "ro", "dal", "hen",
    "cor", "vo", "an", "ur", "qua", "zen", "pol", "ri", "sel", "ba", "tor", "ne",
];
pub const KINDS: &[&str] = &[
    "Gardens",
    "Museum",
    "Tower",
    "Market",
    "Bridge",
    "Gallery",
    "Cathedral",
    "Square",
    "Palace",
    "Theatre",
    "Park",
    "Library",
    "Abbey",
    "Fountain",
    "Passage",
    "Observatory",
    "Hall",
    "Arcade",
    "Chapel",
    "Quarter",
];
const PREFIXES: &[&str] = &[
    "Rue", "Place", "Mont", "Pont", "Porte", "Île", "Quai", "Saint",
];

impl Universe {
    pub fn new(topic: &str, config: &SimConfig) -> Self {
        let mut rng = Rng::new(config.seed ^ xxhash_rust::xxh3::xxh3_64(topic.as_bytes()));
        let mut seen = HashSet::new();
        let mut names = Vec::with_capacity(config.universe);
        while names.len() < config.universe {
            let name = invent_name(&mut rng);
            if seen.insert(name.to_lowercase()) {
                names.push(name);
            }
        }
        let mut cdf = Vec::with_capacity(names.len());
        let mut categories: Vec<Category> = KINDS.iter().map(|_| Category::default()).collect();
        let mut total = 0.0;
        for (i, name) in names.iter().enumerate() {
            let popularity = 1.0 / ((i + 1) as f64).powf(config.zipf_s);
            total += popularity;
            cdf.push(total);
            let category = &mut categories[category_of(name)];
            let sum = category.cdf.last().copied().unwrap_or(0.0);
            category.items.push(i);
            category.cdf.push(sum + popularity);
        }
        Universe {
            names,
            cdf,
            categories,
        }
    }

    /// The sub-category a partition names: a kind it mentions ("museums" →
    /// Museum), else one chosen by its hash, so any partition text works.
    pub fn category(&self, partition: &str) -> usize {
        let lower = partition.to_lowercase();
        KINDS
            .iter()
            .position(|k| lower.contains(k.to_lowercase().trim_end_matches(['s', 'y'])))
            .unwrap_or_else(|| {
                (xxhash_rust::xxh3::xxh3_64(lower.trim().as_bytes()) % KINDS.len() as u64) as usize
            })
    }

    /// An item of `category` drawn by popularity.
    pub fn draw_in(&self, category: usize, rng: &mut Rng) -> Option<usize> {
        let c = &self.categories[category];
        let total = *c.cdf.last()?;
        let x = rng.unit() * total;
        Some(c.items[c.cdf.partition_point(|&p| p <= x).min(c.items.len() - 1)])
    }

    /// An item index drawn by popularity.
    pub fn draw(&self, rng: &mut Rng) -> usize {
        let total = *self.cdf.last().expect("universe is not empty");
        let x = rng.unit() * total;
        self.cdf
            .partition_point(|&c| c <= x)
            .min(self.names.len() - 1)
    }
}

/// The kind in an item's name; names without one ("Rue Monclai") get a
/// category from their hash.
pub fn category_of(name: &str) -> usize {
    KINDS
        .iter()
        .position(|k| name.ends_with(k))
        .unwrap_or_else(|| {
            (xxhash_rust::xxh3::xxh3_64(name.as_bytes()) % KINDS.len() as u64) as usize
        })
}

fn invent_name(rng: &mut Rng) -> String {
    let syllables = 2 + rng.below(2);
    let mut word: String = (0..syllables).map(|_| *rng.pick(SYLLABLES)).collect();
    word[..1].make_ascii_uppercase();
    match rng.below(3) {
        0 => format!("{} {word}", rng.pick(PREFIXES)),
        _ => format!("{word} {}", rng.pick(KINDS)),
    }
}
