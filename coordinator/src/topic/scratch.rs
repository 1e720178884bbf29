//! Buffers a topic's dedup reuses from batch to batch: the vetted items'
//! spellings and keys in one arena, their hashes, and the sample of
//! duplicates the avoid hints read.

use std::ops::Range;

use crate::ingest::batch::Vetter;
use crate::keys::names::Namer;

/// Buffers reused from batch to batch.
#[derive(Default)]
pub struct Scratch {
    pub(super) vetter: Vetter,
    pub(super) namer: Namer,
    /// The vetted items' spellings and keys, one after another.
    pub(super) arena: String,
    /// Per vetted item: spelling and key in `arena`; its hash.
    pub(super) items: Vec<(Range<usize>, Range<usize>)>,
    pub(super) hashes: Vec<u128>,
    /// The items of the last batch that were known already (a sample).
    pub(super) duplicates: Vec<usize>,
    /// The last batch's sightings of known items, as its line records
    /// them (`sightings.rs`).
    pub(super) sighted: Vec<u64>,
}

impl Scratch {
    pub(super) fn clear(&mut self) {
        self.arena.clear();
        self.items.clear();
        self.hashes.clear();
        self.duplicates.clear();
        self.sighted.clear();
    }

    /// A sample of the last batch's candidates that were known already:
    /// each key's hash and the spelling received.
    pub fn duplicates(&self) -> Vec<(u128, &str)> {
        self.duplicates
            .iter()
            .map(|&i| (self.hashes[i], &self.arena[self.items[i].0.clone()]))
            .collect()
    }
}

pub(super) fn push(arena: &mut String, s: &str) -> Range<usize> {
    let start = arena.len();
    arena.push_str(s);
    start..arena.len()
}
