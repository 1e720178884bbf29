//! Fixed lines for the judge benchmark (`src/bin/judge.rs`): what a real
//! model stored on each universe's topic (`bench/data/judged/`), so judge
//! prompts and models are compared on the same lines. The universe files
//! decide which are members.

/// Per universe (by its file name): the stored lines, one a line.
const JUDGED: &[(&str, &str)] = &[
    ("us-states", include_str!("../../data/judged/us-states.txt")),
    (
        "chemical-elements",
        include_str!("../../data/judged/chemical-elements.txt"),
    ),
    ("countries", include_str!("../../data/judged/countries.txt")),
];

/// The lines stored for `universe`, without the file's `#` comments.
pub fn lines(universe: &str) -> Option<Vec<String>> {
    let (_, text) = JUDGED.iter().find(|(name, _)| *name == universe)?;
    Some(
        text.lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::truth::universe::{BUILTIN, Universe};

    #[test]
    fn every_universe_has_lines_with_members_and_non_members() {
        for (name, text) in BUILTIN {
            let universe = Universe::parse(name, text).unwrap();
            let lines = lines(name).unwrap_or_else(|| panic!("no judged lines for {name}"));
            let members = lines
                .iter()
                .filter(|l| universe.find(l).member().is_some())
                .count();
            assert!(
                members > 20 && lines.len() - members > 5,
                "{name}: {members} of {}",
                lines.len()
            );
        }
    }
}
