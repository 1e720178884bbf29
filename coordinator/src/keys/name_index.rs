//! The name index: name-key hashes → the first item with that name, so a
//! new spelling finds the earlier item it merges into. Hashes, not strings,
//! in the same compact table as the seen-set.

use crate::keys::names::{NameKey, bare_hash};
use crate::keys::table::HashTable;

/// A name key as the index stores it: the hashes of its spelled head, of
/// the (head, qualifier) pair when it has a qualifier, of the head without
/// diacritics when it was spelled with some, and whether its qualifier
/// disambiguates. What `keys.bin` saves per line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameHashes {
    pub head: u128,
    pub pair: Option<u128>,
    pub fold: Option<u128>,
    pub disambiguates: bool,
}

impl NameHashes {
    pub fn of(key: &NameKey) -> NameHashes {
        NameHashes {
            head: key.head_hash(),
            pair: key.pair_hash(),
            fold: key.marked.is_some().then(|| key.fold_hash()),
            disambiguates: key.disambiguates,
        }
    }
}

/// Flag on a head's (or a bare name's) entry: the item had a qualifier.
const QUALIFIED: u32 = 1 << 31;

/// Finds the earlier item a name key merges into, by the merge rule of
/// [`Namer::key`]: it never finds an item the rule keeps apart, and may
/// miss one it would merge (a later variant is then kept). Values are item
/// indexes (`output.txt` line less one), as in the seen-set.
///
/// Entries, each a hash in one table: per spelled head, the first item
/// spelled so (flagged when qualified); per (spelled head, qualifier), the
/// first item with both; per head without diacritics, the first item
/// spelled with some; and per spelled head whose first item disambiguates,
/// the item a bare name merges into (a bare item, or one whose qualifier
/// does not disambiguate, flagged).
#[derive(PartialEq)]
pub struct NameIndex {
    table: HashTable,
}

impl NameIndex {
    /// An index that holds `n` items without growing (when few have
    /// qualifiers or diacritics).
    pub fn with_capacity(n: usize) -> Self {
        Self {
            table: HashTable::with_capacity(n),
        }
    }

    /// The index of the earlier item `key` merges into.
    pub fn find(&self, key: &NameKey) -> Option<usize> {
        if let Some(entry) = self.table.get(key.head_hash()) {
            return self.within_head(key, entry);
        }
        if key.marked.is_some() {
            // An item spelled without diacritics: its spelled head is ours
            // without them.
            let plain = NameKey {
                head: key.head.clone(),
                marked: None,
                qualifier: key.qualifier.clone(),
                disambiguates: key.disambiguates,
            };
            let entry = self.table.get(plain.head_hash())?;
            return self.within_head(&plain, entry);
        }
        // An item spelled with diacritics that we lack: its qualifier is
        // only known by the flag, so a qualified one is not merged into.
        let entry = self.table.get(key.fold_hash())?;
        let qualifier_agrees = key.qualifier.is_none() || !key.disambiguates;
        (entry & QUALIFIED == 0 && qualifier_agrees).then_some(entry as usize)
    }

    /// The item `key` merges into among those spelled with its head, the
    /// first of which is `entry`.
    fn within_head(&self, key: &NameKey, entry: u32) -> Option<usize> {
        let first = (entry & !QUALIFIED) as usize;
        let first_is_bare = entry & QUALIFIED == 0;
        // The item a bare name merges into, when the first one is not.
        let bare = || {
            self.table
                .get(key.bare_hash())
                .map(|e| (e & !QUALIFIED) as usize)
        };
        match key.pair_hash() {
            // A bare item is always the first with its head, or found under
            // its bare entry.
            None if first_is_bare => Some(first),
            None => bare(),
            Some(pair) => match self.table.get(pair) {
                Some(i) => Some(i as usize),
                None if key.disambiguates => None,
                None if first_is_bare => Some(first),
                // Only a truly bare item: another qualifier is another item.
                None => self
                    .table
                    .get(key.bare_hash())
                    .filter(|e| e & QUALIFIED == 0)
                    .map(|e| e as usize),
            },
        }
    }

    /// Records the item at `index` under `key`; earlier items keep theirs.
    pub fn insert(&mut self, key: &NameKey, index: usize) {
        self.insert_hashes(NameHashes::of(key), index);
    }

    /// [`Self::insert`] of a name key's hashes (computed before, or saved).
    pub fn insert_hashes(&mut self, key: NameHashes, index: usize) {
        let index = u32::try_from(index)
            .ok()
            .filter(|&i| i < QUALIFIED)
            .expect("the name index holds fewer than 2³¹ items");
        let flag = if key.pair.is_some() { QUALIFIED } else { 0 };
        let first = self.table.insert(key.head, index | flag);
        if let Some(pair) = key.pair {
            self.table.insert(pair, index);
        }
        if let Some(fold) = key.fold {
            self.table.insert(fold, index | flag);
        }
        // Where a bare name goes when the first item of its head has a
        // qualifier: the first later bare item, or the first item whose
        // qualifier does not disambiguate (flagged).
        let first_qualified = first.map_or(flag != 0, |e| e & QUALIFIED != 0);
        if first_qualified && !key.disambiguates {
            self.table.insert(bare_hash(key.head), index | flag);
        }
    }

    /// Makes inserting names with these head hashes cheaper (see
    /// [`HashTable::prefetch`]).
    pub fn prefetch(&mut self, heads: &[u128]) {
        self.table.prefetch(heads);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::names::{NameRules, Namer, name_key};

    /// Takes `items` in order into an index as ingest does; returns, per
    /// item, the earlier item it merged into.
    fn ingest(items: &[&str]) -> Vec<Option<usize>> {
        let mut index = NameIndex::with_capacity(0);
        let mut namer = Namer::default();
        let mut merged = Vec::new();
        let mut next = 0;
        for item in items {
            let key = namer.key(item, NameRules::default()).unwrap();
            let found = index.find(&key);
            if found.is_none() {
                index.insert(&key, next);
                next += 1;
            }
            merged.push(found);
        }
        merged
    }

    #[test]
    fn the_index_finds_what_the_rule_merges() {
        let items = [
            "Salmaella",
            "Mercury (planet)",
            "Mercury (element)",
            "Toy Story",
            "Paris",
            "Dune (1984)",
            "Crème brûlée",
            "pêche",
            "Camembert (Normandy)",
        ];
        let mut index = NameIndex::with_capacity(0);
        for (i, item) in items.iter().enumerate() {
            let key = name_key(item).unwrap();
            assert_eq!(index.find(&key), None, "{item}");
            index.insert(&key, i);
        }
        for (candidate, expected) in [
            ("Salmaella (Bergamo, Italy)", Some(0)),
            ("SALMAELLA", Some(0)),
            ("Mercury", None),
            ("Mercury (Element)", Some(2)),
            ("Mercury (Roman god)", None),
            ("Toy Story 2", None),
            ("Paris, Texas", None),
            ("Paris (France)", Some(4)),
            ("Dune", None),
            ("Dune (2021)", None),
            ("Dune [1984]", Some(5)),
            ("Creme brulee", Some(6)),
            ("Crème Brûlée", Some(6)),
            ("Crême brûlée", None),
            ("peche", Some(7)),
            ("péché", None),
            ("Camembert", Some(8)),
            ("Camembert (Brittany)", None),
        ] {
            let key = name_key(candidate).unwrap();
            assert_eq!(index.find(&key), expected, "{candidate}");
            // The rule and the index agree on the items they find.
            if let Some(i) = expected {
                assert!(name_key(items[i]).unwrap().merges_with(&key));
            }
        }
        // An earlier item keeps its entries.
        index.insert(&name_key("Salmaella (Bergamo)").unwrap(), 9);
        assert_eq!(index.find(&name_key("Salmaella").unwrap()), Some(0));
    }

    #[test]
    fn a_qualifier_that_disambiguates_keeps_items_apart() {
        // Whichever comes first, a year never merges into the bare name nor
        // into another year.
        assert_eq!(
            ingest(&["Dune", "Dune (1984)", "Dune (2021)", "Dune (1984)."]),
            [None, None, None, Some(1)]
        );
        assert_eq!(
            ingest(&["Dune (1984)", "Dune", "Dune (2021)", "The Dune"]),
            [None, None, None, Some(1)]
        );
        assert_eq!(
            ingest(&["King Kong", "King Kong (1933)", "King Kong (2005)"]),
            [None, None, None]
        );
        assert_eq!(
            ingest(&["Solaris (1972)", "Solaris (2002)", "Solaris"]),
            [None, None, None]
        );
        assert_eq!(
            ingest(&["Mercury", "Mercury (planet)", "Mercury (element)"]),
            [None, None, None]
        );
        // A place merges into the bare name, and the bare name into it.
        assert_eq!(
            ingest(&["Salmaella", "Salmaella (Bergamo, Italy)"]),
            [None, Some(0)]
        );
        assert_eq!(
            ingest(&["Camembert (Normandy)", "Camembert", "Camembert (Normandie)"]),
            [None, Some(0), None]
        );
        // After a year, a bare name is an item of its own that later bare
        // spellings and places find.
        assert_eq!(
            ingest(&["Dune (2021)", "Dune", "Dune (Arrakis)", "DUNE"]),
            [None, None, Some(1), Some(1)]
        );
    }

    #[test]
    fn diacritics_are_kept_apart_from_other_diacritics() {
        assert_eq!(
            ingest(&["pêche", "péché", "peche", "Péché"]),
            [None, None, Some(0), Some(1)]
        );
        assert_eq!(
            ingest(&["Comte", "Comté", "COMTÉ"]),
            [None, Some(0), Some(0)]
        );
        assert_eq!(ingest(&["Año", "Ano", "AÑO"]), [None, None, Some(0)]);
        assert_eq!(ingest(&["Мой", "Мои"]), [None, None]);
        assert_eq!(
            ingest(&["C♯", "C", "C#", "C♭"]),
            [None, None, Some(0), None]
        );
        let key = name_key("Crème Brûlée").unwrap();
        assert_eq!(
            (key.head.as_str(), key.marked.as_deref()),
            ("creme brulee", Some("crème brûlée"))
        );
        assert_eq!(name_key("Creme brulee").unwrap().marked, None);
    }

    #[test]
    fn saved_hashes_build_the_same_index() {
        let items = [
            "Dune (2021)",
            "Dune",
            "Crème brûlée",
            "Camembert (Normandy)",
            "Camembert",
            "Salmaella",
        ];
        let (mut direct, mut saved) = (NameIndex::with_capacity(0), NameIndex::with_capacity(0));
        for (i, item) in items.iter().enumerate() {
            let key = name_key(item).unwrap();
            direct.insert(&key, i);
            saved.insert_hashes(NameHashes::of(&key), i);
        }
        assert!(direct == saved);
    }
}
