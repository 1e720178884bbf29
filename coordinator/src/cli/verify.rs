//! `coordinator verify FOLDER`: checks a topic folder's `output.txt` the way
//! the exactly-once promise states it: every line one item, no two lines
//! with the same dedup key, no empty key, no torn last line; optionally at
//! least a given number of items; and the verdicts: each verdict record of
//! `items.jsonl` names the item on its line, no item has two, and
//! `valid.txt` holds exactly the items judged valid, in order. CI runs it
//! after the main job, and an operator can run it on any copy of a folder.
//!
//! [`check`] is pure (lines in, [`Report`] out); [`verify`] reads the file.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;

use crate::keys::normalize::normalize;
use crate::topic::record::{VERDICT_PREFIX, VerdictRecord};
use crate::topic::store::{ITEMS, OUTPUT, VALID};

/// Duplicates listed in a report, at most.
const LISTED: usize = 10;

/// What [`check`] found.
#[derive(Debug, Default, PartialEq)]
pub struct Report {
    pub items: u64,
    /// Lines whose key an earlier line already had: (line, earlier line, text).
    pub duplicates: Vec<(u64, u64, String)>,
    pub duplicate_count: u64,
    /// Lines with nothing left once normalized.
    pub empty: Vec<u64>,
}

impl Report {
    #[cfg(test)]
    pub fn is_clean(&self) -> bool {
        self.duplicate_count == 0 && self.empty.is_empty()
    }
}

/// Checks the lines of an `output.txt` (1-based line numbers in the report).
pub fn check<'a>(lines: impl IntoIterator<Item = &'a str>) -> Report {
    let mut first_line: HashMap<String, u64> = HashMap::new();
    let mut report = Report::default();
    for (i, line) in lines.into_iter().enumerate() {
        let n = i as u64 + 1;
        report.items += 1;
        let key = normalize(line);
        if key.is_empty() {
            report.empty.push(n);
            continue;
        }
        match first_line.get(&key) {
            Some(&earlier) => {
                report.duplicate_count += 1;
                if report.duplicates.len() < LISTED {
                    report.duplicates.push((n, earlier, line.to_string()));
                }
            }
            None => {
                first_line.insert(key, n);
            }
        }
    }
    report
}

/// Verifies `folder/output.txt`; fails with what is wrong, or when it holds
/// fewer than `min_items` items. Prints a one-line summary when it holds.
pub fn verify(folder: &Path, min_items: u64) -> anyhow::Result<()> {
    let path = folder.join(OUTPUT);
    let bytes = std::fs::read(&path).with_context(|| format!("read {}", path.display()))?;
    let text =
        std::str::from_utf8(&bytes).with_context(|| format!("{} is not UTF-8", path.display()))?;
    let torn = !text.is_empty() && !text.ends_with('\n');
    let report = check(text.lines());
    let mut problems = Vec::new();
    if torn {
        problems.push("the last line is not complete".to_string());
    }
    if report.duplicate_count > 0 {
        let listed: Vec<String> = report
            .duplicates
            .iter()
            .map(|(n, earlier, text)| format!("line {n} {text:?} repeats line {earlier}"))
            .collect();
        problems.push(format!(
            "{} duplicate keys ({})",
            report.duplicate_count,
            listed.join("; ")
        ));
    }
    if !report.empty.is_empty() {
        problems.push(format!("lines with an empty key: {:?}", report.empty));
    }
    let verdicts = check_verdicts(folder, &text.lines().collect::<Vec<_>>())?;
    problems.extend(verdicts.problems);
    if report.items < min_items {
        problems.push(format!(
            "{} items, fewer than the {min_items} required",
            report.items
        ));
    }
    anyhow::ensure!(
        problems.is_empty(),
        "{}: {}",
        path.display(),
        problems.join("; ")
    );
    println!(
        "{}: {} items, every key once; {} verdicts ({} valid), each once, valid.txt matches",
        path.display(),
        report.items,
        verdicts.judged,
        verdicts.valid
    );
    Ok(())
}

/// What the verdicts of a folder hold.
#[derive(Debug, Default)]
struct Verdicts {
    judged: u64,
    valid: u64,
    problems: Vec<String>,
}

/// Checks the verdict records of `folder/items.jsonl` against the lines of
/// its `output.txt`, and its `valid.txt` against them.
fn check_verdicts(folder: &Path, lines: &[&str]) -> anyhow::Result<Verdicts> {
    let mut out = Verdicts::default();
    let records = match std::fs::read(folder.join(ITEMS)) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).context("read items.jsonl"),
    };
    let mut judged = std::collections::HashSet::new();
    let mut valid = Vec::new();
    let mut wrong = Vec::new();
    for line in records
        .split(|&b| b == b'\n')
        .filter(|l| l.starts_with(VERDICT_PREFIX))
    {
        let Ok(v) = serde_json::from_slice::<VerdictRecord>(line) else {
            wrong.push("an unreadable verdict record".to_string());
            continue;
        };
        let on_line = usize::try_from(v.verdict_of)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| lines.get(i));
        if on_line.is_none_or(|l| normalize(l) != normalize(&v.item)) {
            wrong.push(format!(
                "a verdict on line {} names {:?}, not its item",
                v.verdict_of, v.item
            ));
        } else if !judged.insert(v.verdict_of) {
            wrong.push(format!("line {} has a second verdict", v.verdict_of));
        } else {
            out.judged += 1;
            if v.verdict == igentai_protocol::Answer::Yes {
                out.valid += 1;
                valid.push(v.item);
            }
        }
    }
    if !wrong.is_empty() {
        let listed: Vec<&str> = wrong.iter().take(LISTED).map(String::as_str).collect();
        out.problems.push(format!(
            "{} bad verdicts ({})",
            wrong.len(),
            listed.join("; ")
        ));
    }
    let written = match std::fs::read_to_string(folder.join(VALID)) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).context("read valid.txt"),
    };
    let expected: String = valid.iter().map(|v| format!("{v}\n")).collect();
    if written != expected {
        out.problems.push(format!(
            "valid.txt holds {} lines, the verdicts name {} valid items",
            written.lines().count(),
            valid.len()
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_lines(text: &str, items: u64, duplicates: &[(u64, u64)], empty: &[u64]) {
        let report = check(text.lines());
        assert_eq!(report.items, items, "{text:?}");
        let found: Vec<(u64, u64)> = report.duplicates.iter().map(|d| (d.0, d.1)).collect();
        assert_eq!(found, duplicates, "{text:?}");
        assert_eq!(report.empty, empty, "{text:?}");
        assert_eq!(report.is_clean(), duplicates.is_empty() && empty.is_empty());
    }

    #[test]
    fn finds_repeated_keys_and_empty_lines() {
        check_lines("", 0, &[], &[]);
        check_lines("Louvre\nOrsay\n", 2, &[], &[]);
        check_lines("Louvre\nOrsay\nThe Louvre\n", 3, &[(3, 1)], &[]);
        check_lines("Louvre\n\"\"\nLOUVRE.\n", 3, &[(3, 1)], &[2]);
    }

    #[test]
    fn verify_reads_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(OUTPUT), "Louvre\nOrsay\n").unwrap();
        verify(dir.path(), 2).unwrap();
        let short = verify(dir.path(), 3).unwrap_err().to_string();
        assert!(short.contains("fewer than the 3 required"), "{short}");
        std::fs::write(dir.path().join(OUTPUT), "Louvre\nOrsay\nlouvre\nPanth").unwrap();
        let bad = verify(dir.path(), 0).unwrap_err().to_string();
        assert!(bad.contains("1 duplicate keys"), "{bad}");
        assert!(bad.contains("line 3 \"louvre\" repeats line 1"), "{bad}");
        assert!(bad.contains("last line is not complete"), "{bad}");
        assert!(verify(&dir.path().join("missing"), 0).is_err());
    }

    #[test]
    fn verify_checks_the_verdicts() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(OUTPUT), "Brie\nMoon cheese\n").unwrap();
        let verdict = |of: u64, item: &str, answer: &str| {
            format!(
                r#"{{"verdict_of":{of},"item":"{item}","verdict":"{answer}","provider":"p","model":"m","partition":null,"judge":"j","judge_model":"jm","worker":"w","run":"r","ts":"t"}}"#
            )
        };
        let items = |lines: &[String]| {
            let mut text = String::from(
                "{\"seq\":1,\"item\":\"Brie\"}\n{\"seq\":2,\"item\":\"Moon cheese\"}\n",
            );
            lines.iter().for_each(|l| text.push_str(&format!("{l}\n")));
            std::fs::write(dir.path().join(ITEMS), text).unwrap();
        };
        items(&[verdict(1, "Brie", "yes"), verdict(2, "Moon cheese", "no")]);
        std::fs::write(dir.path().join(VALID), "Brie\n").unwrap();
        verify(dir.path(), 2).unwrap();
        // valid.txt lacking a valid item, holding an invalid one.
        std::fs::write(dir.path().join(VALID), "Brie\nMoon cheese\n").unwrap();
        let bad = verify(dir.path(), 0).unwrap_err().to_string();
        assert!(
            bad.contains("valid.txt holds 2 lines, the verdicts name 1"),
            "{bad}"
        );
        // Two verdicts on one item, a verdict on the wrong line.
        std::fs::write(dir.path().join(VALID), "Brie\n").unwrap();
        items(&[
            verdict(1, "Brie", "yes"),
            verdict(1, "Brie", "no"),
            verdict(2, "Brie", "no"),
        ]);
        let bad = verify(dir.path(), 0).unwrap_err().to_string();
        assert!(bad.contains("line 1 has a second verdict"), "{bad}");
        assert!(bad.contains("a verdict on line 2 names \"Brie\""), "{bad}");
    }
}
