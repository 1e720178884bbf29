//! The name in one line of an answer: what a model wrote around it
//! (emphasis, quotes, a description after a dash, colon, semicolon or
//! comma, a descriptive parenthetical) taken off, what belongs to it kept.
//!
//! Pure. The rule, from answers of small and large models: a tail is a
//! description unless it reads as part of a title (`Brie; cheese with a
//! sweet flavor` loses it, `2001: A Space Odyssey` keeps it), and a
//! parenthetical stays only when it disambiguates (`Mercury (planet)`);
//! [`name`] gives the details. Which tails describe and which
//! parentheticals are part of a name is decided in
//! `igentai_protocol::names`, the rule the coordinator's name key applies
//! too.

use igentai_protocol::names::{parenthetical, tail_describes};

use crate::prompt::Task;

/// Longest item kept, in characters: the protocol's limit, which the
/// coordinator enforces too.
pub use igentai_protocol::MAX_ITEM_CHARS;
pub use igentai_protocol::names::titled;

/// Most words a name may have before a description was cut from it.
const MAX_NAME_WORDS: usize = 10;

/// The name in `item`, or `None` when nothing usable is left. `task`
/// matters for a comma: sub-categories are phrases by nature (`Museums by
/// the river, open late`), so their comma tails are kept.
///
/// A tail is a description unless it reads as part of a title. `Brie;
/// cheese with a sweet flavor`, `Pecorino Romano - A traditional Italian
/// cheese`, `Chesser, a shortcut cheese from Switzerland` lose their tails;
/// `Spider-Man - Far From Home`, `2001: A Space Odyssey`, `Paris, Texas`
/// keep them. A parenthetical is a disambiguator when it is short (a year,
/// or one or two words with no comma and no linking word: `(planet)`,
/// `(element)`, `(2001 film)`, `(U.S. state)`), and then stays part of the
/// name, so `Mercury (planet)` and `Mercury (element)` remain two items;
/// anything longer or phrased (`(Bergamo, Italy)`, `(French Cheese of
/// France)`, `(modern art museum)`), a measure (`(365m)`), or a second
/// name in capitals (`(Luxembourg Gardens)`, `(Musée du Louvre)`)
/// describes or renames the item and is dropped, so the variants a weak
/// model invents collapse onto one name. Two words rather than three: in
/// recorded answers the three-word parentheticals were descriptions or
/// translations, the disambiguators one or two words. A one-word
/// capitalised label stays (`Springfield (Illinois)`, but also a weak
/// model's `Louis Armstrong (Songwriter)`): dropping it would merge real
/// places, and a wrong merge loses an item for good.
pub fn name(item: &str, task: Task) -> Option<String> {
    let mut s = item.trim().to_string();
    // Each step may expose the next ("**Brie** (soft, French) - a cheese").
    for _ in 0..3 {
        let before = s.clone();
        s = cut_description(&s);
        s = unwrap_marks(&s);
        s = cut_parenthetical(&s);
        if task == Task::Items {
            s = cut_comma_tail(&s);
        }
        if s == before {
            break;
        }
    }
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let valid =
        !s.is_empty() && s.chars().count() <= MAX_ITEM_CHARS && !s.chars().any(char::is_control);
    valid.then_some(s)
}

/// Emphasis, code marks, a markdown link, wrapping quotes and trailing
/// list punctuation removed.
fn unwrap_marks(item: &str) -> String {
    let mut s = item.replace("**", "").replace("__", "").replace('`', "");
    if let Some(text) = s
        .strip_prefix('[')
        .and_then(|r| r.split_once("]("))
        .map(|(t, _)| t)
        && s.ends_with(')')
    {
        s = text.to_string();
    }
    let s = s
        .trim()
        .trim_matches(|c| matches!(c, '"' | '“' | '”' | '*' | '_'))
        .trim_end_matches([',', ';'])
        .trim();
    match (s.starts_with('\''), s.ends_with('\'')) {
        (true, true) if s.len() > 1 => s[1..s.len() - 1].trim().to_string(),
        _ => s.to_string(),
    }
}

/// `Name - description`, `Name: description`, `Name; description`. The
/// first separator whose tail describes wins; emphasis around the name
/// alone (`**Louvre** - ...`) is recognised once the tail is gone.
fn cut_description(item: &str) -> String {
    for sep in [" - ", " – ", " — ", " -- ", ": ", "; "] {
        let Some((name, rest)) = item.split_once(sep) else {
            continue;
        };
        let name = name.trim();
        let rest = rest.trim();
        if name.is_empty() || words(name) > MAX_NAME_WORDS {
            continue;
        }
        let describes = tail_describes(sep, rest);
        if describes {
            return name.to_string();
        }
    }
    item.to_string()
}

/// `Name (description)` → `Name`; `Name (planet)` unchanged. The last
/// parenthetical is judged (the caller repeats for earlier ones); an
/// unclosed one is a description cut at the output limit. A parenthesis
/// not after a space is part of a word (`alert(1)`, `Bismuth(I)`).
fn cut_parenthetical(item: &str) -> String {
    let Some(open) = item.rfind(" (").map(|i| i + 1) else {
        return item.to_string();
    };
    let before = item[..open].trim_end();
    if before.is_empty() {
        return item.to_string();
    }
    let Some(close) = item[open..].find(')').map(|i| open + i) else {
        return before.to_string();
    };
    let inside = item[open + 1..close].trim();
    let after = item[close + 1..].trim();
    if parenthetical(inside).is_part_of_name() {
        return item.to_string();
    }
    if after.is_empty() {
        before.to_string()
    } else {
        format!("{before} {after}")
    }
}

/// `Name, a description` → `Name`; `Paris, Texas` unchanged: a tail is
/// kept only when it reads as part of a title.
fn cut_comma_tail(item: &str) -> String {
    match item.split_once(", ") {
        Some((name, tail)) if !name.trim().is_empty() && !titled(tail) => name.trim().to_string(),
        _ => item.to_string(),
    }
}

fn words(text: &str) -> usize {
    text.split_whitespace().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(item: &str, expected: Option<&str>) {
        assert_eq!(
            name(item, Task::Items).as_deref(),
            expected,
            "item: {item:?}"
        );
    }

    #[test]
    fn names_from_lines() {
        for (item, expected) in [
            // Descriptions after a separator.
            ("Brie; cheese with a sweet-and-lacy flavor", Some("Brie")),
            (
                "Pecorino Romano - A traditional Italian cheese made from sheep's milk",
                Some("Pecorino Romano"),
            ),
            ("Eiffel Tower - iconic iron tower", Some("Eiffel Tower")),
            (
                "**Louvre Museum**: The world's largest art museum.",
                Some("Louvre Museum"),
            ),
            ("Orsay – impressionists", Some("Orsay")),
            (
                "Louvre - The Largest Art Museum In The World",
                Some("Louvre"),
            ),
            // Titles that hold a separator.
            ("2001: A Space Odyssey", Some("2001: A Space Odyssey")),
            (
                "Spider-Man - Far From Home",
                Some("Spider-Man - Far From Home"),
            ),
            ("Mission: Impossible", Some("Mission: Impossible")),
            (
                "Star Wars: Episode IV - A New Hope",
                Some("Star Wars: Episode IV - A New Hope"),
            ),
            // A subtitle after a colon is part of the name, however long
            // and with its commas; a sentence after one is not.
            (
                "Star Wars: Episode V – The Empire Strikes Back",
                Some("Star Wars: Episode V – The Empire Strikes Back"),
            ),
            (
                "The Chronicles of Narnia: The Lion, the Witch and the Wardrobe",
                Some("The Chronicles of Narnia: The Lion, the Witch and the Wardrobe"),
            ),
            ("Brie: a soft cow's-milk cheese from France", Some("Brie")),
            // Comma tails.
            (
                "Chesser, a shortcut cheese from Switzerland",
                Some("Chesser"),
            ),
            ("Sushi, a Japanese dish", Some("Sushi")),
            ("Jamaica Jelly, 1975", Some("Jamaica Jelly")),
            (
                "Jonny Baga - New Orleans Jazz, 1953-1967",
                Some("Jonny Baga"),
            ),
            ("Jaycee Calderon: Jumbo, 1987-2004", Some("Jaycee Calderon")),
            ("Cole Porter, Jr.", Some("Cole Porter, Jr.")),
            ("Paris, Texas", Some("Paris, Texas")),
            ("Washington, D.C.", Some("Washington, D.C.")),
            (
                "The Good, the Bad and the Ugly",
                Some("The Good, the Bad and the Ugly"),
            ),
            // Parentheticals.
            (
                "Chabrolia (Italian cheese from Spain and Italy, named after a village)",
                Some("Chabrolia"),
            ),
            (
                "Chabrolia (Italian cheese from Spain and Italy, named after",
                Some("Chabrolia"),
            ),
            ("Salmaella (Bergamo, Italy)", Some("Salmaella")),
            ("Chablis (French Cheese of France)", Some("Chablis")),
            ("Louvre Museum (Musée du Louvre)", Some("Louvre Museum")),
            ("Mercury (planet)", Some("Mercury (planet)")),
            ("Mercury (element)", Some("Mercury (element)")),
            ("Amélie (2001)", Some("Amélie (2001)")),
            ("Solaris (1972 film)", Some("Solaris (1972 film)")),
            ("Eiffel Tower (365m)", Some("Eiffel Tower")),
            ("Miles Davis (Blowin' the Blows)", Some("Miles Davis")),
            (
                "Miles Davis (MUSHAMES OF THE UNITED STATES)",
                Some("Miles Davis"),
            ),
            ("Camel (from the camel)", Some("Camel")),
            ("Georgia (U.S. state)", Some("Georgia (U.S. state)")),
            ("**Brie** (soft, French) - a cheese", Some("Brie")),
            ("(500) Days of Summer", Some("(500) Days of Summer")),
            // What is part of a name.
            ("Musée d'Orsay", Some("Musée d'Orsay")),
            ("Toy Story 2", Some("Toy Story 2")),
            ("Gone with the Wind", Some("Gone with the Wind")),
            ("\"Louvre\"", Some("Louvre")),
            ("'Orsay'", Some("Orsay")),
            ("[Louvre](https://www.louvre.fr)", Some("Louvre")),
            ("Louvre,", Some("Louvre")),
            ("", None),
            ("a\u{7}b", None),
        ] {
            check(item, expected);
        }
    }

    #[test]
    fn sub_categories_keep_their_comma_tails() {
        assert_eq!(
            name("Historic museums by the river, open late", Task::Partitions).as_deref(),
            Some("Historic museums by the river, open late")
        );
    }
}
