//! The check that a topic folder holds exactly what a known candidate
//! stream held: every expected item once in `output.txt`, and each line's
//! record in `items.jsonl` numbered with that line (`seq` = line). Reads
//! only the record fields the check needs, so the harness does not depend
//! on the coordinator's crate.

use std::collections::{BTreeSet, HashSet};
use std::path::Path;

/// The fields of an `items.jsonl` record the check reads.
#[derive(serde::Deserialize)]
struct Record {
    seq: u64,
    item: String,
    /// Set on a near-duplicate of an earlier item: not a line of
    /// `output.txt`.
    #[serde(default)]
    alias_of: Option<serde_json::Value>,
}

/// Lines of a file, which must exist.
pub fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .lines()
        .map(str::to_string)
        .collect()
}

/// Lines of `output.txt` in `folder`; none while it does not exist yet.
pub fn output_lines(folder: &Path) -> Vec<String> {
    let path = folder.join("output.txt");
    if path.exists() {
        lines(&path)
    } else {
        Vec::new()
    }
}

/// A topic folder holds every expected item exactly once and nothing
/// else, and `items.jsonl`'s `seq` is each item's line in `output.txt`.
pub fn check_folder(folder: &Path, expected: &BTreeSet<String>) {
    let output = lines(&folder.join("output.txt"));
    let unique: HashSet<&String> = output.iter().collect();
    assert_eq!(unique.len(), output.len(), "an item was written twice");
    let got: BTreeSet<String> = output.iter().cloned().collect();
    let missing: Vec<_> = expected.difference(&got).take(5).collect();
    let extra: Vec<_> = got.difference(expected).take(5).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, unexpected {extra:?} ({} expected, {} written)",
        expected.len(),
        got.len()
    );
    let path = folder.join("items.jsonl");
    let records: Vec<Record> = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        // Whole records only: the coordinator may be appending the next.
        .split_inclusive('\n')
        .filter(|l| l.ends_with('\n'))
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("an items.jsonl record: {e}: {l}"))
        })
        .filter(|r: &Record| r.alias_of.is_none())
        .collect();
    assert_eq!(records.len(), output.len(), "one record per line");
    for (i, (r, item)) in records.iter().zip(&output).enumerate() {
        assert_eq!((r.seq, &r.item), (i as u64 + 1, item));
    }
}
