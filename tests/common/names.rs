//! What a line of `output.txt` must not look like: the shapes a small real
//! model writes instead of a bare name (echoes of the prompt, commentary,
//! placeholders, descriptions, list markup, JSON or code fragments), and
//! near-duplicate variants of a name already listed. The real-model test holds the output to fewer
//! than 2% of each; the rules are deliberately independent of the worker's
//! parser, so they judge it rather than restate it.
//!
//! Included only by `tests/real_model.rs` (`#[path]`), not by `common`.

use coordinator::normalize;

/// Lowercase alphanumeric words of `text`.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn word_count(text: &str) -> usize {
    text.split_whitespace().count()
}

/// Whether `needle` occurs as consecutive words of `haystack`.
fn contains_run(haystack: &[String], needle: &[String]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

fn is_ordinal(word: &str) -> bool {
    let digits = word.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let suffix = &word[digits.len()..];
    !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit())
        && ["st", "nd", "rd", "th"].contains(&suffix)
}

fn is_number(word: &str) -> bool {
    !word.is_empty() && word.chars().all(|c| c.is_ascii_digit())
}

/// The prompt said back: the topic with "distinct", the topic alone, or
/// words of the system or user prompt in their order (four in a row, or
/// the whole line when it has two or three).
fn is_echo(line: &str, topic: &str, prompts: &[&str]) -> bool {
    let lower = line.to_lowercase();
    let topic = topic.to_lowercase();
    if lower.contains("distinct") && lower.contains(&topic) {
        return true;
    }
    let line_words = words(line);
    if line_words == words(&topic) {
        return true;
    }
    prompts.iter().any(|prompt| {
        let prompt_words = words(prompt);
        let run = line_words.len().min(4);
        run >= 2
            && line_words
                .windows(run)
                .any(|w| contains_run(&prompt_words, w))
    })
}

/// "2nd item", "Item 3", "Items", "[fruit name]", "...", "etc.".
fn is_placeholder(line: &str) -> bool {
    let w = words(line);
    let item = |s: &String| s == "item" || s == "items";
    w.windows(2).any(|p| {
        ((is_ordinal(&p[0]) || is_number(&p[0])) && item(&p[1]))
            || (item(&p[0]) && is_number(&p[1]))
    }) || (w.len() == 1 && (item(&w[0]) || w[0] == "name" || w[0] == "example"))
        || w.is_empty()
        || line.contains("...")
        || line.contains('…')
        || w.last().is_some_and(|l| l == "etc")
        || line.starts_with('[') && line.ends_with(']')
        || line.starts_with('<') && line.ends_with('>')
}

/// "Brie - a soft cheese", "Brie: soft, from Meaux, France",
/// "Brie (a soft cow's-milk cheese)", "Brie, a soft cheese",
/// "Brie is a cheese", or a whole sentence.
fn is_description(line: &str) -> bool {
    let dashed = [" - ", " – ", " — "].iter().any(|dash| {
        line.split_once(dash).is_some_and(|(_, tail)| {
            tail.starts_with(|c: char| c.is_lowercase()) || word_count(tail) > 3
        })
    });
    let colon = line
        .split_once(": ")
        .is_some_and(|(_, tail)| word_count(tail) > 4);
    let parenthetical = line.split('(').skip(1).any(|rest| {
        let inside = rest.split(')').next().unwrap_or(rest);
        word_count(inside) > 3
    });
    let lower = format!(" {} ", line.to_lowercase());
    let tail = [
        ", a ",
        ", an ",
        ", the ",
        ", including ",
        ", such as ",
        ", e.g.",
        ", which ",
    ]
    .iter()
    .any(|t| lower.contains(t));
    let verb = [" is a ", " is an ", " is the ", " are ", " was a "]
        .iter()
        .any(|v| lower.contains(v));
    let sentence = line.ends_with('.') && word_count(line) >= 6;
    dashed || colon || parenthetical || tail || verb || sentence || word_count(line) > 10
}

/// "1. Apple", "- Apple", "* Apple", "**Apple**", "# Apple".
fn is_markup(line: &str) -> bool {
    let numbered = line
        .split_once(['.', ')'])
        .is_some_and(|(head, rest)| is_number(head) && rest.starts_with(' '));
    numbered
        || ["- ", "* ", "• ", "#"].iter().any(|m| line.starts_with(m))
        || line.contains("**")
        || line.contains('`')
}

/// Pieces of a JSON answer or of code: `{"items": [`, `"Apple",`, `]`,
/// `fruits_list = ["apple`, `orange"]`, `Apple = 4 items`.
fn is_code_fragment(line: &str) -> bool {
    line.contains(['{', '}'])
        || line.contains("\"items\"")
        || line.contains("[\"")
        || line.contains("\"]")
        || line.contains(" = ")
        || line.starts_with('"')
        || line.ends_with("\",")
        || ["[", "]", "],"].contains(&line.trim())
}

/// A model talking about its answer: "Here are 10 fruits:", "Sure, ...",
/// "These are ...", "I am an AI ...".
fn is_commentary(line: &str) -> bool {
    let lower = line.to_lowercase();
    [
        "here are",
        "here is",
        "sure",
        "certainly",
        "these are",
        "i am ",
        "as an ai",
        "note:",
    ]
    .iter()
    .any(|lead| lower.starts_with(lead))
        || line.ends_with(':')
}

/// Why `line` is not a bare name, or `None` when it is one.
pub fn flaw(line: &str, topic: &str, prompts: &[&str]) -> Option<&'static str> {
    if line.trim().is_empty() {
        Some("empty")
    } else if is_echo(line, topic, prompts) {
        Some("echo of the prompt")
    } else if is_commentary(line) {
        Some("commentary")
    } else if is_code_fragment(line) {
        Some("JSON or code fragment")
    } else if is_placeholder(line) {
        Some("placeholder")
    } else if is_markup(line) {
        Some("list markup")
    } else if is_description(line) {
        Some("description")
    } else {
        None
    }
}

/// Every line that is not a bare name, with the reason.
pub fn offenders<'a>(
    lines: &'a [String],
    topic: &str,
    prompts: &[&str],
) -> Vec<(&'a str, &'static str)> {
    lines
        .iter()
        .filter_map(|l| flaw(l, topic, prompts).map(|why| (l.as_str(), why)))
        .collect()
}

/// A looser key than the dedup key: parentheticals dropped, punctuation
/// ignored, plural `s`/`es` cut, so "Apples" and "Apple (Normandy)" meet
/// "Apple".
fn variant_key(line: &str) -> String {
    let mut bare = String::new();
    let mut depth = 0usize;
    for c in normalize(line).chars() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth = depth.saturating_sub(1),
            _ if depth == 0 => bare.push(c),
            _ => {}
        }
    }
    words(&bare)
        .iter()
        .map(|w| singular(w))
        .collect::<Vec<_>>()
        .join(" ")
}

/// English plurals cut back: "berries" → "berry", "peaches" → "peach",
/// "apples" → "apple"; "grass" stays.
fn singular(word: &str) -> String {
    if word.len() > 4 && word.ends_with("ies") {
        format!("{}y", &word[..word.len() - 3])
    } else if ["oes", "ches", "shes", "xes", "sses"]
        .iter()
        .any(|s| word.ends_with(s))
    {
        word[..word.len() - 2].to_string()
    } else if word.len() > 3 && word.ends_with('s') && !word.ends_with("ss") {
        word[..word.len() - 1].to_string()
    } else {
        word.to_string()
    }
}

/// Whether `line` ends in a parenthetical the name key keeps apart from
/// the bare name (a year or a lower-case class label,
/// `igentai_protocol::names::Parenthetical::Disambiguator`): by the merge
/// rule that is another item, not a variant.
fn disambiguated(line: &str) -> bool {
    let line = line.trim_end();
    line.ends_with(')')
        && line.rfind('(').is_some_and(|open| {
            igentai_protocol::names::parenthetical(&line[open + 1..line.len() - 1])
                == igentai_protocol::names::Parenthetical::Disambiguator
        })
}

/// Lines that are a variant of an earlier line: (line, earlier line).
/// A line the merge rule keeps apart on purpose ([`disambiguated`]) is
/// not one.
pub fn near_duplicates(lines: &[String]) -> Vec<(&str, &str)> {
    let mut first: std::collections::HashMap<String, &str> = Default::default();
    let mut out = Vec::new();
    for line in lines.iter().filter(|l| !disambiguated(l)) {
        match first.entry(variant_key(line)) {
            std::collections::hash_map::Entry::Occupied(e) => out.push((line.as_str(), *e.get())),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(line);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYSTEM: &str = "You produce long, precise lists. Every item is a distinct, real \
        entry of the requested kind; never repeat an item, never add commentary.";
    const USER: &str = "List 10 distinct fruits.\nAnswer with one item per line, numbered, \
        names only, no descriptions.";

    fn check(line: &str, expected: Option<&str>) {
        assert_eq!(flaw(line, "fruits", &[SYSTEM, USER]), expected, "{line:?}");
    }

    #[test]
    fn names_pass_and_other_shapes_are_named() {
        for name in [
            "Apple",
            "Blood orange",
            "Buddha's hand",
            "Kiwano (horned melon)",
            "Custard-apple",
            "Passion fruit",
            "Mangosteen",
            "Ugli fruit",
            "Durian",
            "Jackfruit: Artocarpus",
        ] {
            check(name, None);
        }
        for (line, why) in [
            ("", "empty"),
            ("   ", "empty"),
            ("20 distinct fruits.", "echo of the prompt"),
            ("Here are 10 distinct fruits:", "echo of the prompt"),
            ("Fruits", "echo of the prompt"),
            ("names only, no descriptions", "echo of the prompt"),
            ("Never repeat an item", "echo of the prompt"),
            (
                "You produce long, precise lists. Every item is a distinct, real entry of the requested kind; never repeat an item, never add commentary.",
                "echo of the prompt",
            ),
            ("2nd item", "placeholder"),
            ("Item 7", "placeholder"),
            ("item", "placeholder"),
            ("...", "placeholder"),
            ("Apple, Banana, etc.", "placeholder"),
            ("[fruit name]", "placeholder"),
            ("<name>", "placeholder"),
            ("{\"items\": [", "JSON or code fragment"),
            ("\"Apple\",", "JSON or code fragment"),
            ("]", "JSON or code fragment"),
            ("1. Apple", "list markup"),
            ("3) Apple", "list markup"),
            ("- Apple", "list markup"),
            ("**Apple**", "list markup"),
            ("Brie - a soft French cheese", "description"),
            ("Apple – Red, crisp and very sweet", "description"),
            ("Apple: a crisp fruit from trees", "description"),
            ("Apple (a crisp fruit from temperate trees)", "description"),
            ("Apple, a crisp fruit", "description"),
            ("Apple is a crisp fruit", "description"),
            ("Apples are sweet", "description"),
            ("It grows on trees in cold places.", "description"),
            // What SmolLM2-135M answered to the default prompt.
            ("fruits_list = [\"apple", "JSON or code fragment"),
            ("orange\"]", "JSON or code fragment"),
            ("Apple = 4 items", "JSON or code fragment"),
            ("Grains, including Corn and Wheat", "description"),
            (
                "These are 10 distinct, real entries from the specified list.",
                "commentary",
            ),
            (
                "Sure, here are the 10 distinct fruits:",
                "echo of the prompt",
            ),
            ("Here is the list:", "commentary"),
            (
                "I am an AI designed to provide instructions with just one item per line, no descriptions.",
                "echo of the prompt",
            ),
            ("The List of 10 distinct fruits.", "echo of the prompt"),
            (
                "Fruits: Banana, Apple, Apple Crumble, Almond Flakes, Applesauce",
                "description",
            ),
            ("**Red Pepper **", "list markup"),
            ("****#Brisketre ***", "list markup"),
            (
                "*List items in a numbered format, with no descriptions until the end of each item (example: 1)",
                "description",
            ),
        ] {
            check(line, Some(why));
        }
    }

    #[test]
    fn near_duplicates_pair_variants_with_their_first_spelling() {
        let lines: Vec<String> = [
            "Apple",
            "Apples",
            "Banana",
            "apple (Normandy)",
            // A class label: another item by the merge rule.
            "Banana (non-strawberry)",
            "Passion fruit",
            "Passion-fruits",
            "Kiwi",
            "Grass",
            "Berries",
            "Berry",
            "Peaches",
            "Peach",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            near_duplicates(&lines),
            vec![
                ("Apples", "Apple"),
                ("apple (Normandy)", "Apple"),
                ("Passion-fruits", "Passion fruit"),
                ("Berry", "Berries"),
                ("Peach", "Peaches"),
            ]
        );
    }
}
