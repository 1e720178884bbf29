//! Scoring the near-duplicate merge on a labeled set of spelling pairs
//! (`bench/data/name_pairs.tsv`): how many of the merges it makes are right
//! (precision: a wrong merge loses a real item) and how many of the true
//! variants it finds (recall). Used by the names tests and by `bench --bin
//! merge`, so both judge the same decision the same way.

use crate::keys::names::{NameRules, Namer};
use crate::keys::normalize::normalize;

/// The labeled set as shipped, for tests and the benchmark.
pub const LABELED: &str = include_str!("../../../bench/data/name_pairs.tsv");

/// One labeled pair: whether `a` and `b` name one item among the items of
/// `topic` (the merge's rules depend on it; empty for any topic).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pair<'a> {
    pub same: bool,
    pub a: &'a str,
    pub b: &'a str,
    pub topic: &'a str,
}

/// Reads `label<TAB>a<TAB>b[<TAB>topic]` lines (`same` or `different`);
/// blank lines and lines starting with `#` are skipped.
pub fn parse(tsv: &str) -> Result<Vec<Pair<'_>>, String> {
    let mut pairs = Vec::new();
    for (n, line) in tsv.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let same = match fields.first() {
            Some(&"same") => true,
            Some(&"different") => false,
            _ => return Err(format!("line {}: label must be same or different", n + 1)),
        };
        let (a, b, topic) = match fields[..] {
            [_, a, b] => (a, b, ""),
            [_, a, b, topic] => (a, b, topic),
            _ => {
                return Err(format!(
                    "line {}: expected three or four tab-separated fields",
                    n + 1
                ));
            }
        };
        pairs.push(Pair { same, a, b, topic });
    }
    Ok(pairs)
}

/// Whether ingest of `topic` takes `b`, arriving after `a`, for the same
/// item: equal exact keys (a plain duplicate) or merging name keys (a
/// near-duplicate).
pub fn merged(a: &str, b: &str, topic: &str) -> bool {
    if normalize(a) == normalize(b) {
        return true;
    }
    let rules = NameRules::for_topic(topic);
    let mut namer = Namer::default();
    match (namer.key(a, rules), namer.key(b, rules)) {
        (Some(a), Some(b)) => a.merges_with(&b),
        _ => false,
    }
}

/// The merge's confusion counts on a labeled set, and the pairs it got wrong.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Score {
    /// `same` pairs merged.
    pub true_merges: u64,
    /// `different` pairs merged: lost items.
    pub false_merges: u64,
    /// `same` pairs kept apart: variants left in `output.txt`.
    pub missed: u64,
    /// `different` pairs kept apart.
    pub kept_apart: u64,
    pub false_merge_pairs: Vec<(String, String)>,
    pub missed_pairs: Vec<(String, String)>,
}

impl Score {
    /// Right merges among all merges made (1 when none were made).
    pub fn precision(&self) -> f64 {
        let merges = self.true_merges + self.false_merges;
        if merges == 0 {
            1.0
        } else {
            self.true_merges as f64 / merges as f64
        }
    }

    /// `same` pairs merged among all `same` pairs (1 when there are none).
    pub fn recall(&self) -> f64 {
        let same = self.true_merges + self.missed;
        if same == 0 {
            1.0
        } else {
            self.true_merges as f64 / same as f64
        }
    }

    pub fn pairs(&self) -> u64 {
        self.true_merges + self.false_merges + self.missed + self.kept_apart
    }
}

pub fn score(pairs: &[Pair<'_>]) -> Score {
    let mut s = Score::default();
    for p in pairs {
        let pair = || (p.a.to_string(), p.b.to_string());
        match (p.same, merged(p.a, p.b, p.topic)) {
            (true, true) => s.true_merges += 1,
            (false, true) => {
                s.false_merges += 1;
                s.false_merge_pairs.push(pair());
            }
            (true, false) => {
                s.missed += 1;
                s.missed_pairs.push(pair());
            }
            (false, false) => s.kept_apart += 1,
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_labeled_set_meets_its_targets() {
        let pairs = parse(LABELED).unwrap();
        assert!(pairs.len() >= 550, "{} pairs", pairs.len());
        let same = pairs.iter().filter(|p| p.same).count();
        assert!(same >= 250 && pairs.len() - same >= 250, "{same} same");
        let score = score(&pairs);
        // A wrong merge loses a real item: none is allowed.
        assert_eq!(
            score.false_merges, 0,
            "wrong merges: {:?}",
            score.false_merge_pairs
        );
        assert!(
            score.recall() >= 0.80,
            "recall {:.3}; missed: {:?}",
            score.recall(),
            score.missed_pairs
        );
    }

    #[test]
    fn must_not_merge() {
        for (a, b) in [
            ("Toy Story", "Toy Story 2"),
            ("Bundesliga", "2. Bundesliga"),
            ("Henry IV", "Henry V"),
            ("Paris", "Paris, Texas"),
            ("Mercury (planet)", "Mercury (element)"),
            ("Dune (1984)", "Dune (2021)"),
            ("Dune", "Dune (1984)"),
            ("King Kong", "King Kong (2005)"),
            ("Solaris (1972)", "Solaris (2002)"),
            ("Mercury", "Mercury (element)"),
            ("Robert Adams", "Robert Adam"),
            ("Año", "Ano"),
            ("pêche", "péché"),
            ("Мой", "Мои"),
            ("C♯", "C"),
            ("B♭", "B"),
            ("C", "C++"),
            ("El Salvador", "Salvador"),
            ("Python 3.11", "Python 3.12"),
            ("1.5 Degrees", "15 Degrees"),
            (
                "Mission: Impossible - Fallout",
                "Mission: Impossible - Dead Reckoning",
            ),
            ("Star Wars", "Star Wars: The Empire Strikes Back"),
            ("Straße", "Strasse des 17. Juni"),
        ] {
            assert!(!merged(a, b, ""), "{a:?} / {b:?}");
            assert!(!merged(b, a, ""), "{b:?} / {a:?}");
        }
    }

    #[test]
    fn parses_and_rejects_labels() {
        let pairs = parse("# comment\n\nsame\ta\tb\ndifferent\tc\td\tFilms\n").unwrap();
        assert_eq!(
            pairs,
            [
                Pair {
                    same: true,
                    a: "a",
                    b: "b",
                    topic: ""
                },
                Pair {
                    same: false,
                    a: "c",
                    b: "d",
                    topic: "Films"
                }
            ]
        );
        assert!(parse("maybe\ta\tb").is_err());
        assert!(parse("same\ta").is_err());
        assert!(parse("same\ta\tb\tc\td").is_err());
    }
}
