//! The answers to the judge's second questions (`prompt::identify`,
//! `prompt::code`) about an item its labels called a member, and whether
//! they confirm it.
//!
//! Pure. Asked what kind of thing the item is, a model that answers a kind
//! made of several members ("a compound", "a mixture") gives away a thing
//! that is no member ([`composite`]). Asked to name the member the item
//! is, it answers with the member's standard name, or "none"; the item
//! stands when the answer names the item itself ([`read`]): the same
//! words, as many of them a few letters apart (`Aluminum` / `Aluminium`,
//! but not `A. Ecuador` / `Ecuador`), the item's words all in the name
//! (`Congo` / `Republic of the Congo`), or the answer a code for the item
//! when the item is a name (`Chlorine` / `Cl`; of a code, `Tt` / "Tin",
//! a name as short asks its code). It falls when the answer is "none", a
//! sentence ("E is not a chemical element") or names something related:
//! `Al2O3` answered "Aluminium", `Nitrogen fluoropyruvate` answered
//! "Nitrogen".
//! An answer naming a member unlike the item (`Alabama` answered
//! "Mississippi") is [`Said::Another`]: the model confused it, and the
//! judge asks again. An item that is a code answered with a name (`NY` /
//! "New York", but also `R` / "Radium") is [`Said::Expands`]: no spelling
//! rule can check a code against a name, so the judge asks the name's
//! code, which must be the item ([`gives_code`]). A symbol of one or two
//! characters answered with itself (`Ib` / "Ib") is [`Said::Echoes`]: a
//! model repeats a made-up symbol as readily as a real one, so the judge
//! asks which member has that symbol, and that name's code.

use igentai_protocol::names::singular;

use super::{strip_fences, strip_thinking};

/// The name an answer gives, `None` when it gives none ("none", nothing,
/// or no word at all).
pub fn named(answer: &str) -> Option<String> {
    let text = strip_fences(&strip_thinking(answer));
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    let name = line
        .trim_start_matches(['-', '*', '•', ' '])
        .trim_end_matches('.')
        .trim_matches(['"', '\'', '*', '`', ' '])
        .trim_end_matches('.');
    let words = words(name);
    match words.first().map(String::as_str) {
        None | Some("none") => None,
        Some(_) => Some(name.to_string()),
    }
}

/// What an answer to the second question says of the item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Said {
    /// It names the item itself (see the module's rule).
    Confirms,
    /// It names something unlike the item: no word of the name begins as
    /// a word of the item does (`Alabama` answered "Mississippi"). A model
    /// that confused the item with another member, not one that saw
    /// through it (`Nitrate` answered "Nitrogen" is a rejection).
    Another,
    /// "none", a sentence, or a name related to the item but not it.
    Rejects,
    /// The item is a code and the answer a name unlike it (`IA` answered
    /// "Iowa", or "Mississippi"): whether it is that name's code is for
    /// [`gives_code`] to tell.
    Expands,
    /// The item is a symbol of one or two characters and the answer
    /// repeats it (`Ib` answered "Ib", as `He` is answered "He"): it tells
    /// nothing; the member with that symbol is asked for next.
    Echoes,
}

/// What `answer` says of `item`.
pub fn read(item: &str, answer: &str) -> Said {
    let Some(name) = named(answer) else {
        return Said::Rejects;
    };
    let (item, name) = (words(item), words(&name));
    // "X is not one of them" is a sentence, no name.
    let sentence = ["is", "not"]
        .iter()
        .any(|w| name.iter().any(|n| n == w) && !item.iter().any(|i| i == w));
    if item.is_empty() || sentence {
        return Said::Rejects;
    }
    let (item_key, name_key) = (item.join(" "), name.join(" "));
    let letters = item_key.chars().filter(|c| !c.is_whitespace()).count();
    if item_key == name_key && letters <= 2 && is_code(&item_key) {
        return Said::Echoes;
    }
    let same = item_key == name_key
        || (is_code(&name_key) && !is_code(&item_key))
        || item.iter().all(|w| name.contains(w))
        || (item.len() == name.len() && spelling(&item_key, &name_key));
    let stem = |w: &String| w.chars().take(4).collect::<String>();
    if same {
        Said::Confirms
    } else if is_code(&item_key) {
        Said::Expands
    } else if name.iter().all(|n| item.iter().all(|i| stem(n) != stem(i))) {
        Said::Another
    } else {
        Said::Rejects
    }
}

/// Whether `answer` names `item` itself.
pub fn confirms(item: &str, answer: &str) -> bool {
    read(item, answer) == Said::Confirms
}

/// Whether the answer to the code question gives `item`: all its words
/// joined, or its first word, are the item's (`U.S.` gives `US`, `S for
/// sulfur` gives `S`; `Ra` does not give `R`).
pub fn gives_code(item: &str, answer: &str) -> bool {
    let code = words(item).concat();
    let said = named(answer).map(|name| words(&name)).unwrap_or_default();
    !code.is_empty() && (said.concat() == code || said.first() == Some(&code))
}

/// Kinds of things made of several members, which a member is not: a
/// compound is no chemical element, a group of states no state.
const COMPOSITE_KINDS: [&str; 8] = [
    "compound",
    "mixture",
    "alloy",
    "blend",
    "molecule",
    "combination",
    "group",
    "union",
];

/// Whether the kind an answer gives the item is one of [`COMPOSITE_KINDS`]
/// the topic does not itself name: "a compound" tells `Benzene` from the
/// chemical elements, but every one of the chemical compounds is one.
pub fn composite(topic: &str, answer: &str) -> bool {
    let topic = singulars(topic);
    named(answer).is_some_and(|kind| {
        singulars(&kind)
            .iter()
            .any(|w| COMPOSITE_KINDS.contains(&w.as_str()) && !topic.contains(w))
    })
}

/// The kind an answer gives the item, without its article (`A gas` →
/// "gas"); `None` when it names the topic itself ("a chemical element",
/// "State" among the US states: a word of the topic's) or gives none.
/// Whether a kind of anything else may be one of the topic is the next
/// question ([`says_no`]).
pub fn other_kind(topic: &str, answer: &str) -> Option<String> {
    let kind = named(answer)?.to_lowercase();
    let topic = singulars(topic);
    if singulars(&kind).iter().any(|w| topic.contains(w)) {
        return None;
    }
    let bare = ["a ", "an ", "the "]
        .iter()
        .find_map(|article| kind.strip_prefix(article))
        .unwrap_or(&kind);
    Some(bare.trim().to_string())
}

/// Whether a yes-or-no answer is no.
pub fn says_no(answer: &str) -> bool {
    named(answer).is_some_and(|text| words(&text).first().is_some_and(|w| w == "no"))
}

/// The beginnings of the item's name that the judge asks the members of
/// ([`lists`]), in the order asked: its first two letters, then its
/// first, then its first three (`Arginine` → "Ar", "A", "Arg"). A small
/// model lists two or three names a beginning, so one list misses
/// members (`Titanium` by "Ti" and "T", listed by "Tit"). None for a
/// code, which another question checks, and for a name too short.
pub fn beginnings(item: &str) -> Vec<String> {
    let words = words(item);
    let Some(first) = words
        .first()
        .filter(|w| !is_code_item(item) && w.chars().count() > 1)
    else {
        return vec![];
    };
    let mut letters: Vec<String> = first.chars().map(String::from).collect();
    letters[0] = letters[0].to_uppercase();
    let mut asked: Vec<String> = Vec::new();
    for n in [2, 1, 3] {
        let beginning = letters[..n.min(letters.len())].concat();
        if !asked.contains(&beginning) {
            asked.push(beginning);
        }
    }
    asked
}

/// Whether a list of names (commas, semicolons or lines between them,
/// numbers and bullets before them) holds the item itself: the same
/// words, or as many a few letters apart ([`spelling`]). Unlike [`read`],
/// a listed code (`Ar`) or a longer name holding the item's words does
/// not count: the list names the members the model knows, one of which
/// must be the item.
pub fn lists(item: &str, answer: &str) -> bool {
    let item = words(item);
    let item_key = item.join(" ");
    let text = strip_fences(&strip_thinking(answer));
    !item.is_empty()
        && text.split([',', ';', '\n', '/']).any(|entry| {
            let entry = entry.trim_start_matches(|c: char| {
                c.is_ascii_digit() || matches!(c, '.' | ')' | '-' | '*' | '•' | ' ')
            });
            let name = words(entry);
            let name_key = name.join(" ");
            name_key == item_key || (name.len() == item.len() && spelling(&item_key, &name_key))
        })
}

/// The words of a text, each a plural read as its singular
/// ([`singular`]: `chemical elements` → "chemical", "element"; `countries`
/// → "country").
fn singulars(text: &str) -> Vec<String> {
    words(text)
        .into_iter()
        .map(|w| singular(&w).unwrap_or(w))
        .collect()
}

/// The lower-cased words of a name: a trailing parenthetical dropped, `&`
/// read as "and", apostrophes and dots joined (`St.` = `St`), a leading
/// "the" dropped.
fn words(name: &str) -> Vec<String> {
    let head = match name.trim_end().strip_suffix(')') {
        Some(open) => open.rfind('(').map_or(name, |at| &name[..at]),
        None => name,
    };
    let text = head.to_lowercase().replace('&', " and ");
    let mut words: Vec<String> = text
        .split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '’' || c == '.'))
        .map(|w| w.replace(['\'', '’', '.'], ""))
        .filter(|w| !w.is_empty())
        .collect();
    if words.len() > 1 && words[0] == "the" {
        words.remove(0);
    }
    words
}

/// Whether an item is a code or a symbol (`NY`, `Fe`, `U`), by its
/// name's words ([`is_code`]).
pub fn is_code_item(item: &str) -> bool {
    is_code(&words(item).join(" "))
}

/// Whether a name key is a code or a symbol: up to three characters, a
/// letter among them (`ny`, `fe`, `u`; not `56`).
fn is_code(key: &str) -> bool {
    key.chars().filter(|c| !c.is_whitespace()).count() <= 3 && key.chars().any(char::is_alphabetic)
}

/// Whether `name` is another spelling of `item`: one edit apart, two from
/// six letters (`Sulphur` / `Sulfur`), ending alike. A word's ending
/// carries its kind, so `Chloride` and `Chlorate` are not `Chlorine`.
fn spelling(item: &str, name: &str) -> bool {
    let letters = item.chars().filter(|c| !c.is_whitespace()).count();
    let ending = |s: &str| s.chars().rev().take(2).collect::<String>();
    ending(item) == ending(name) && edits(item, name) <= if letters >= 6 { 2 } else { 1 }
}

/// The edit distance between two short strings, in characters.
fn edits(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (row[j + 1] + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_naming_the_item_itself_confirms_it() {
        for (item, answer) in [
            ("Ohio", "Ohio"),
            ("ohio", "Ohio."),
            ("Aluminium", "Aluminum"),
            ("Sulphur", "Sulfur"),
            ("Caesium", "Cesium"),
            ("Congo", "Republic of the Congo"),
            ("Côte d'Ivoire", "Cote d'Ivoire"),
            ("Bosnia & Herzegovina", "Bosnia and Herzegovina"),
            ("The Gambia", "Gambia"),
            ("St. Lucia", "St Lucia"),
            ("Mercury (element)", "\"Mercury\""),
            ("Tin", "Tin"),
            ("What Is Love", "What Is Love"),
            ("Chlorine (Cl)", "Cl"),
            ("Ohio", "**Ohio**\nIt is a state in the Midwest."),
        ] {
            assert!(confirms(item, answer), "{item} / {answer}");
        }
    }

    #[test]
    fn none_or_another_name_rejects_it() {
        for (item, answer) in [
            ("Al2O3", "Aluminium"),
            ("Nitrogen fluoropyruvate", "Nitrogen"),
            ("H2O", "none"),
            ("Atlantis", "None."),
            ("Ohio", ""),
            ("Iron", "Neon"),
            ("Boron", "Carbon"),
            ("Chloride", "Chlorine"),
            ("Chlorate (Cl-)", "Chlorine"),
            ("Iodide", "Iodine"),
            ("A. Ecuador", "Ecuador"),
            ("56", "Barium"),
            ("E", "E is not a chemical element"),
            ("X", "X is an element"),
            ("Moon cheese", "none of them"),
            ("Ohio", "   \n  "),
            ("", "Ohio"),
        ] {
            assert!(!confirms(item, answer), "{item} / {answer}");
        }
    }

    #[test]
    fn another_name_unlike_the_item_is_told_from_a_rejection() {
        for (item, answer, said) in [
            ("Alabama", "Mississippi", Said::Another),
            ("Oregon", "Washington", Said::Another),
            ("Nitrate", "Nitrogen", Said::Rejects),
            ("Nitrogen fluoropyruvate", "Nitrogen", Said::Rejects),
            ("Citric Acid", "Citrine", Said::Rejects),
            ("California", "None", Said::Rejects),
            ("E", "E is not a chemical element", Said::Rejects),
            ("Ohio", "Ohio", Said::Confirms),
            ("NY", "New York", Said::Expands),
            ("IA", "Mississippi", Said::Expands),
            ("R", "Radium", Said::Expands),
            ("Fe", "Iron", Said::Expands),
            // A code answered with a name as short: `Tin` is no code of `Tt`.
            ("Tt", "Tin", Said::Expands),
            ("Sn", "Tin", Said::Expands),
        ] {
            assert_eq!(read(item, answer), said, "{item} / {answer}");
        }
    }

    #[test]
    fn a_short_symbol_repeated_tells_nothing() {
        for (item, answer) in [("Ib", "Ib"), ("He", "He."), ("r", "R"), ("NY", "**NY**")] {
            assert_eq!(read(item, answer), Said::Echoes, "{item} / {answer}");
        }
        // Three characters may be a name (`Tin`), and a name is no echo.
        assert_eq!(read("Tin", "Tin"), Said::Confirms);
        assert_eq!(read("USA", "USA"), Said::Confirms);
        assert_eq!(read("Ohio", "Ohio"), Said::Confirms);
    }

    #[test]
    fn a_code_stands_when_the_name_s_code_is_the_item() {
        for (item, answer, gives) in [
            ("R", "Ra", false),
            ("Z", "Zn", false),
            ("IA", "MS", false),
            ("NY", "NY", true),
            ("ny", "NY.", true),
            ("S", "S for sulfur", true),
            ("US", "U.S.", true),
            ("B", "B.", true),
            ("K", "none", false),
            ("", "K", false),
        ] {
            assert_eq!(gives_code(item, answer), gives, "{item} / {answer}");
        }
    }

    #[test]
    fn a_kind_made_of_several_members_is_no_member() {
        for (topic, answer, several) in [
            ("chemical elements", "A compound", true),
            ("chemical elements", "Inorganic compound.", true),
            ("chemical elements", "A mixture", true),
            ("chemical elements", "Metal", false),
            ("chemical elements", "A chemical element", false),
            ("chemical elements", "Gas", false),
            ("chemical compounds", "A chemical compound", false),
            ("alloys", "An alloy", false),
            ("US states", "Group of states", true),
            ("UN member states", "Country", false),
            ("US states", "none", false),
            ("US states", "", false),
        ] {
            assert_eq!(composite(topic, answer), several, "{topic} / {answer}");
        }
    }

    #[test]
    fn a_kind_other_than_the_topic_is_read_without_its_article() {
        for (topic, answer, other) in [
            ("chemical elements", "A gas", Some("gas")),
            ("chemical elements", "Amino acid.", Some("amino acid")),
            ("chemical elements", "An alloy", Some("alloy")),
            ("chemical elements", "A chemical element", None),
            ("chemical elements", "Element", None),
            ("US states", "State", None),
            ("UN member states", "Country", Some("country")),
            // `countries` is read as "country", not "countrie".
            ("countries", "Country", None),
            ("rare cheeses", "A cheese", None),
            ("US states", "none", None),
        ] {
            assert_eq!(
                other_kind(topic, answer).as_deref(),
                other,
                "{topic} / {answer}"
            );
        }
        assert!(says_no("No.") && says_no("no, it is not") && says_no("**No**"));
        assert!(!says_no("Yes.") && !says_no("") && !says_no("None") && !says_no("Not sure"));
    }

    #[test]
    fn the_members_listed_must_hold_the_item_itself() {
        assert_eq!(beginnings("Arginine"), ["Ar", "A", "Arg"]);
        assert_eq!(beginnings("the Gambia"), ["Ga", "G", "Gam"]);
        assert_eq!(beginnings("Hydrogen (H)"), ["Hy", "H", "Hyd"]);
        assert_eq!(beginnings("Iowa"), ["Io", "I", "Iow"]);
        assert!(beginnings("NY").is_empty(), "a code is checked otherwise");
        assert!(beginnings("Tin").is_empty(), "three letters read as a code");
        for (item, answer, held) in [
            ("Hawaii", "Hawaii, Hawaii", true),
            ("Aluminium", "Aluminum, Argon", true),
            ("New York", "Nebraska, Nevada, New York", true),
            ("Iron", "1. Iodine\n2. Iron", true),
            ("Hydrogen (H)", "Hydrogen; Helium", true),
            ("Arginine", "Ar, Arsenic", false),
            ("Chloride", "Chlorine, Chlorine monochloride", false),
            ("New York", "New York City", false),
            ("Neptune", "none", false),
            ("", "Neon", false),
        ] {
            assert_eq!(lists(item, answer), held, "{item} / {answer}");
        }
    }

    #[test]
    fn the_name_is_the_first_line_without_its_dressing() {
        assert_eq!(named(" - \"Texas\".\nA state.").as_deref(), Some("Texas"));
        assert_eq!(named("<think>hmm</think>None"), None);
        assert_eq!(named("none"), None);
    }

    #[test]
    fn edits_count_characters() {
        assert_eq!(edits("aluminium", "aluminum"), 1);
        assert_eq!(edits("", "abc"), 3);
        assert_eq!(edits("côte", "cote"), 1);
        assert_eq!(edits("iron", "neon"), 2);
    }
}
