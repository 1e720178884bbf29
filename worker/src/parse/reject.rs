//! Names that are not items: the prompt said back (`20 distinct rare
//! cheeses.`, `You produce 20 distinct items.`, the topic itself),
//! numbered placeholders (`2nd item`, `Item 3`, `[item]`, `etc.`),
//! sentences rather than names, and fragments of JSON syntax that
//! constrained decoding lets a weak model emit (`"){"`, `"]"`).
//!
//! Pure. The prompt's own words are the evidence for an echo, so the
//! check is built from the [`Prompt`] the answer replies to. The avoid
//! hint and the partition are left out of that vocabulary: a model
//! repeating a hinted item named a real item (a duplicate the coordinator
//! counts), and items of a partition share its words (`Old Town Museum` in
//! "museums in the old town"); the partition itself is still an echo.

use std::collections::HashSet;

use igentai_protocol::names::singular;

use super::name::titled;
use crate::prompt::{self, Prompt};

/// Why a name was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// Its words are the prompt's, or it is the topic.
    Echo,
    /// A stand-in for an item: `2nd item`, `Item 3`, `...`, `N/A`.
    Placeholder,
    /// A sentence or a remark, not a name.
    Sentence,
    /// No letter or digit at all.
    Noise,
    /// A fragment of JSON or code that a model wrote instead of a list
    /// (`fruits_list = ["apple`, `{ "items`, `import json`,
    /// `fruits.fruit(3)`): braces, an assignment, brackets that don't pair
    /// up, a method call, a leading punctuation mark.
    Code,
}

/// Share of a name's words found in the prompt above which it echoes it.
const ECHO_SHARE: f64 = 0.8;
/// Words of an echo by share; shorter names are checked by equality.
const ECHO_MIN_WORDS: usize = 3;
/// A name longer than this is a sentence whatever its case.
const MAX_WORDS: usize = 12;

/// Placeholders models write instead of, or after, items.
const PLACEHOLDERS: &[&str] = &[
    "...",
    "…",
    "etc",
    "etc.",
    "and so on",
    "and more",
    "more",
    "n/a",
    "na",
    "none",
    "tbd",
    "todo",
    "unknown",
    "other",
    "others",
    "item",
    "items",
    "name",
    "names",
    "example",
    "entry",
    "null",
    "undefined",
    "placeholder",
];
/// Nouns a numbered placeholder uses (`2nd item`, `Item 3`, `entry #4`).
const PLACEHOLDER_NOUNS: &[&str] = &["item", "name", "entry", "example", "element", "option"];
/// Words that open a sentence, not a name.
const SENTENCE_STARTS: &[&str] = &[
    "i", "you", "we", "they", "it", "this", "these", "those", "there", "here", "my", "our", "your",
    "he", "she", "please", "note", "sorry",
];
/// Finite verbs that make a lower-case phrase a sentence.
const VERBS: &[&str] = &[
    "is", "are", "was", "were", "has", "have", "had", "will", "can", "could", "would", "should",
    "must", "do", "does", "don't", "produce", "produces", "contains", "includes", "list",
];

/// The prompt an answer replies to, as evidence for echoes.
pub struct Echoes {
    vocabulary: HashSet<String>,
    /// The topic and partition, normalised, which are not items of
    /// themselves.
    scopes: Vec<String>,
    /// What the topic lists, as a placeholder names it (`element` in
    /// `Element 1`, `boardgame` in `boardgame 1`).
    nouns: Vec<String>,
}

impl Echoes {
    pub fn new(prompt: &Prompt) -> Self {
        let mut user = prompt.user.clone();
        for text in prompt.avoid.iter().chain(&prompt.partition) {
            user = user.replace(text.as_str(), " ");
        }
        let vocabulary = [
            prompt.system.as_str(),
            user.as_str(),
            prompt::JSON_FORMAT,
            prompt::TEXT_FORMAT,
        ]
        .iter()
        .flat_map(|t| stems(t))
        .collect();
        let scopes = [Some(&prompt.topic), prompt.partition.as_ref()]
            .into_iter()
            .flatten()
            .map(|s| stems(s).join(" "))
            .filter(|s| !s.is_empty())
            .collect();
        let topic = stems(&prompt.topic);
        let nouns = [topic.last().cloned(), Some(topic.concat())]
            .into_iter()
            .flatten()
            .filter(|n| !n.is_empty())
            .collect();
        Echoes {
            vocabulary,
            scopes,
            nouns,
        }
    }

    /// Why `name`, taken from `line`, is not an item, if it is not. A
    /// line that reads as a sentence and left a head that is no title
    /// ("In a game of dice, there are indeed 20 ...") is a remark, even
    /// though cutting its tail left a short phrase.
    pub fn reject_in(&self, line: &str, name: &str) -> Option<Reject> {
        self.reject(name).or_else(|| {
            let sentence = name.len() < line.trim().len() && !titled(name) && is_sentence(line);
            sentence.then_some(Reject::Sentence)
        })
    }

    /// Why `name` (already cleaned) is not an item, if it is not.
    pub fn reject(&self, name: &str) -> Option<Reject> {
        let stems = stems(name);
        // A placeholder heading a title-cased tail is one too: "Element 1 -
        // X-Y Z" (the name step keeps a title after a dash).
        let head = name
            .split([':', '-', '–', '—'])
            .next()
            .unwrap_or(name)
            .trim();
        if is_placeholder(name)
            || self.numbered_noun(&stems)
            || (head.len() < name.len() && self.numbered_noun(&self::stems(head)))
        {
            return Some(Reject::Placeholder);
        }
        if !name.chars().any(char::is_alphanumeric) {
            return Some(Reject::Noise);
        }
        if is_program_text(name) {
            return Some(Reject::Code);
        }
        if self.scopes.contains(&stems.join(" ")) {
            return Some(Reject::Echo);
        }
        let known = stems
            .iter()
            .filter(|w| self.vocabulary.contains(*w))
            .count();
        if stems.len() >= ECHO_MIN_WORDS && known as f64 >= ECHO_SHARE * stems.len() as f64 {
            return Some(Reject::Echo);
        }
        if stems.len() >= 2 && stems.iter().any(|w| w == "distinct") && known == stems.len() {
            return Some(Reject::Echo);
        }
        is_sentence(name).then_some(Reject::Sentence)
    }
}

impl Echoes {
    /// `Element 1` for chemical elements, `boardgame 1` for board games.
    fn numbered_noun(&self, stems: &[String]) -> bool {
        match stems {
            [head @ .., n] if !head.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                self.nouns.contains(&head.concat())
            }
            _ => false,
        }
    }
}

/// Program text, not a name: a line that opens with punctuation, an
/// import, a definition or a method call, braces, an assignment,
/// unbalanced brackets (`fruits_list = ["apple`, `import json`).
fn is_program_text(name: &str) -> bool {
    let count = |c: char| name.chars().filter(|&x| x == c).count();
    let lower = name.to_lowercase();
    // A method call: letters, a dot, letters, an opening parenthesis.
    let call = name.split_whitespace().any(|w| {
        w.split_once('.').is_some_and(|(a, b)| {
            a.chars().any(char::is_alphabetic) && b.contains('(') && !b.starts_with('(')
        })
    });
    name.starts_with([',', '.', ';', ':', '/', '\\', '|', ')', ']', '}', '>', '='])
        || lower.starts_with("import ")
        || lower.starts_with("def ")
        || lower.starts_with("print(")
        || call
        || name.contains(['{', '}'])
        || name.contains(" = ")
        || name.contains("=[")
        || name.contains("= [")
        || count('[') != count(']')
}

/// A stand-in for a name: `2nd item`, `Item 3`, `item #4`, `[item]`,
/// `<name>`, `...`.
fn is_placeholder(name: &str) -> bool {
    let lower = name.trim().to_lowercase();
    let bare = lower.trim_end_matches([':', '.', ',', ';']).trim();
    if PLACEHOLDERS.contains(&bare) || PLACEHOLDERS.contains(&lower.as_str()) {
        return true;
    }
    // A bracketed stand-in: "[item]", "<cheese name>", "{name}".
    let wrapped = [('[', ']'), ('<', '>'), ('{', '}')]
        .iter()
        .any(|(o, c)| bare.starts_with(*o) && bare.ends_with(*c));
    if wrapped && !name.chars().any(char::is_uppercase) && !bare.contains(['(', ')', '/', '=']) {
        return true;
    }
    let words: Vec<&str> = bare
        .split(|c: char| c.is_whitespace() || c == '#')
        .filter(|w| !w.is_empty())
        .collect();
    let ordinal = |w: &str| {
        let digits = w.bytes().take_while(u8::is_ascii_digit).count();
        digits > 0 && ["", "st", "nd", "rd", "th", "."].contains(&&w[digits..])
    };
    let noun = |w: &str| PLACEHOLDER_NOUNS.contains(&w.trim_end_matches('s'));
    match words[..] {
        [a, b] => (ordinal(a) && noun(b)) || (noun(a) && ordinal(b)),
        [a] => noun(a),
        _ => false,
    }
}

/// A remark or a sentence: too long for a name, or not title-cased and
/// opening with a pronoun, holding a finite verb, or ending as a sentence
/// does.
fn is_sentence(name: &str) -> bool {
    let words: Vec<String> = name
        .split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'')
                .to_lowercase()
        })
        .collect();
    if words.len() > MAX_WORDS {
        return true;
    }
    if titled(name) {
        return false;
    }
    let ends = name.ends_with(['.', '!', '?']);
    let opens = words
        .first()
        .is_some_and(|w| SENTENCE_STARTS.contains(&w.as_str()));
    let verb = words.iter().any(|w| VERBS.contains(&w.as_str()));
    (ends && words.len() >= 4) || (words.len() >= 3 && (opens || verb))
}

/// Lower-case words, a plural read as its singular ([`singular`]), so
/// `items` meets `item`.
fn stems(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let w = w.to_lowercase();
            singular(&w).unwrap_or(w)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use igentai_protocol::Assignment;

    fn prompt(topic: &str, partition: Option<&str>, avoid: &[&str]) -> Prompt {
        prompt::build(&Assignment {
            v: 1,
            run_id: "r".into(),
            topic: topic.into(),
            partition: partition.map(Into::into),
            avoid: avoid.iter().map(|s| s.to_string()).collect(),
            items_per_request: 20,
            prompt_template: None,
            weights: Default::default(),
        })
    }

    fn check(echoes: &Echoes, name: &str, expected: Option<Reject>) {
        assert_eq!(echoes.reject(name), expected, "name: {name:?}");
    }

    #[test]
    fn what_is_not_an_item() {
        let cheeses = Echoes::new(&prompt("rare cheeses", None, &[]));
        for (name, expected) in [
            ("20 distinct rare cheeses.", Some(Reject::Echo)),
            ("You produce 20 distinct items.", Some(Reject::Echo)),
            ("rare cheeses", Some(Reject::Echo)),
            ("Rare Cheeses", Some(Reject::Echo)),
            ("Distinct cheeses", Some(Reject::Echo)),
            ("2nd item", Some(Reject::Placeholder)),
            ("3rd item", Some(Reject::Placeholder)),
            ("Item 3", Some(Reject::Placeholder)),
            ("item #4", Some(Reject::Placeholder)),
            ("[item]", Some(Reject::Placeholder)),
            ("<cheese name>", Some(Reject::Placeholder)),
            ("...", Some(Reject::Placeholder)),
            ("etc.", Some(Reject::Placeholder)),
            ("N/A", Some(Reject::Placeholder)),
            ("){", Some(Reject::Noise)),
            ("]", Some(Reject::Noise)),
            // What SmolLM2 wrote when it answered with code.
            ("fruits_list = [\"apple", Some(Reject::Code)),
            ("orange\"]", Some(Reject::Code)),
            ("{ \"items", Some(Reject::Code)),
            ("items = {", Some(Reject::Code)),
            ("Cheese [Aged", Some(Reject::Code)),
            ("Brie [France]", None),
            ("import json", Some(Reject::Code)),
            (", 24, 16.59, 30.78", Some(Reject::Code)),
            ("./15.06-27.23 4:39am", Some(Reject::Code)),
            ("fruits.fruit(3)", Some(Reject::Code)),
            ("St. Peter's Basilica", None),
            ("Dr. No (film)", None),
            ("Importance of Being Earnest", None),
            ("E=mc²", None),
            ("It is made from sheep milk.", Some(Reject::Sentence)),
            ("This cheese is aged for two years", Some(Reject::Sentence)),
            ("cheese that has a blue rind", Some(Reject::Sentence)),
            ("Brie", None),
            ("Rare Cheddar", None),
            ("Bleu de Termignon", None),
            ("1984", None),
            ("It Happened One Night", None),
            ("Who Framed Roger Rabbit", None),
            ("molavere museum", None),
            ("Pont Dasilo.", None),
        ] {
            check(&cheeses, name, expected);
        }
        let games = Echoes::new(&prompt("board games", None, &[]));
        for (name, expected) in [
            ("boardgame 1", Some(Reject::Placeholder)),
            ("Board Game 2", Some(Reject::Placeholder)),
            ("20 distinct board games", Some(Reject::Echo)),
            ("Tokyo 8", None),
            ("Game 3 - A B", Some(Reject::Placeholder)),
            ("Toy Story 2", None),
        ] {
            check(&games, name, expected);
        }
        let paris = Echoes::new(&prompt(
            "Paris attractions",
            Some("museums"),
            &["Musée d'Orsay"],
        ));
        for (name, expected) in [
            ("Paris", None),
            ("Paris attractions", Some(Reject::Echo)),
            ("Museums", Some(Reject::Echo)),
            // A hinted item said again is a duplicate, not an echo.
            ("Musée d'Orsay", None),
            ("Paris Museum Pass", None),
        ] {
            check(&paris, name, expected);
        }
    }
}
