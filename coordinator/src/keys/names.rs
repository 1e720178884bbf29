//! The name key: when two spellings with different exact keys name the same
//! item ("Salmaella" / "Salmaella (Bergamo, Italy)", "Notre-Dame" / "Notre
//! Dame", "Eiffel Tower - iconic iron tower" / "Eiffel Tower"), and the
//! index that finds the earlier item a new spelling merges into.
//!
//! A wrong merge loses a real item, a missed one only keeps a variant, so
//! the key is conservative: the folding rules and the merge rule are on
//! [`Namer::key`].
//!
//! Long only with its unit tests: the code is the first 363 lines.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;
use xxhash_rust::xxh3::xxh3_128_with_seed;

use crate::keys::normalize::Normalizer;

/// The version of the name key's rules (folding, merge rule, hashes):
/// saved name-key hashes (`topic/keylog.rs`) are used only under the
/// version they were computed with, so a change to what [`Namer::key`] or
/// [`NameRules::for_topic`] returns must bump it.
pub const NAME_KEY_VERSION: u32 = 1;

/// A spelling's name key: its folded head and optional qualifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameKey {
    pub head: String,
    pub qualifier: Option<String>,
}

/// Hash seeds keeping heads and (head, qualifier) pairs apart from each
/// other and from exact keys.
const HEAD_SEED: u64 = 0x6865_6164;
const PAIR_SEED: u64 = 0x7061_6972;

impl NameKey {
    /// The merge rule (see the module doc).
    pub fn merges_with(&self, other: &NameKey) -> bool {
        self.head == other.head
            && match (&self.qualifier, &other.qualifier) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }

    pub(crate) fn head_hash(&self) -> u128 {
        xxh3_128_with_seed(self.head.as_bytes(), HEAD_SEED)
    }

    pub(crate) fn pair_hash(&self) -> Option<u128> {
        self.qualifier.as_ref().map(|q| {
            let mut bytes = Vec::with_capacity(self.head.len() + 1 + q.len());
            bytes.extend_from_slice(self.head.as_bytes());
            bytes.push(0);
            bytes.extend_from_slice(q.as_bytes());
            xxh3_128_with_seed(&bytes, PAIR_SEED)
        })
    }
}

/// What a topic's name key may fold, decided once from the topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameRules {
    /// Whether a plural last word folds to its singular.
    pub fold_plurals: bool,
}

impl Default for NameRules {
    fn default() -> Self {
        Self { fold_plurals: true }
    }
}

/// Words of a topic whose items are titles or brand names, in which a
/// plural is a different name: a film and its sequel ("Alien", "Aliens"),
/// an album and a band's hit ("Transformer", "Transformers").
const TITLED: &[&str] = &[
    "album",
    "anime",
    "band",
    "book",
    "brand",
    "cartoon",
    "comic",
    "episode",
    "film",
    "franchise",
    "game",
    "manga",
    "movie",
    "musical",
    "novel",
    "opera",
    "painting",
    "play",
    "podcast",
    "poem",
    "record",
    "series",
    "show",
    "sitcom",
    "single",
    "song",
    "soundtrack",
    "title",
    "track",
    "videogame",
];

impl NameRules {
    /// The rules for `topic`: plurals fold unless a word of the topic says
    /// its items are titles ("Science fiction films", "Beatles songs").
    pub fn for_topic(topic: &str) -> NameRules {
        let key = crate::keys::normalize::normalize(topic);
        let titled = key.split(|c: char| !c.is_alphanumeric()).any(|w| {
            TITLED.contains(&w) || w.strip_suffix('s').is_some_and(|w| TITLED.contains(&w))
        });
        NameRules {
            fold_plurals: !titled,
        }
    }
}

/// The name key of a spelling under the default rules; `None` when no word
/// is left (such an item never merges).
pub fn name_key(spelling: &str) -> Option<NameKey> {
    Namer::default().key(spelling, NameRules::default())
}

/// Computes name keys with reused buffers.
#[derive(Debug, Default)]
pub struct Namer {
    normalizer: Normalizer,
    chars: Vec<char>,
    text: String,
}

impl Namer {
    /// The name key of a spelling, folded so:
    /// - a description after a spaced dash is cut when it reads as one: its
    ///   first word is all lower case ("Eiffel Tower - iconic iron tower"); a
    ///   capitalized part is kept ("Mission: Impossible - Fallout");
    /// - a trailing parenthetical or bracketed part is the qualifier, the rest
    ///   the head ("Mercury (planet)": head `mercury`, qualifier `planet`);
    /// - both are folded as the exact key folds them (NFKC, case folding,
    ///   invisible characters, a leading English article), then diacritics of
    ///   Latin, Greek and Cyrillic letters are dropped (`ø`, `æ`, `œ`, `ł`,
    ///   `đ`, `ð`, `þ`, `ı` spelled out), `&` is `and`, dots and apostrophes
    ///   join (`St.` = `St`, `U.S.A.` = `USA`), other punctuation separates
    ///   words (`Notre-Dame` = `Notre Dame`, `Paris, Texas` = `Paris Texas`),
    ///   while digits, roman numerals and symbols such as `+` and `#` stay
    ///   (`Henry IV` ≠ `Henry V`, `Toy Story` ≠ `Toy Story 2`, `2. Bundesliga`
    ///   ≠ `Bundesliga`, `C++` ≠ `C`);
    /// - the head's last word, when a regular English plural of five letters
    ///   or more, is its singular (`Bananas` = `banana`, `Wild Cherries` =
    ///   `wild cherry`), since models switch between the two from one answer
    ///   to the next; except in topics whose items are titles (films, songs,
    ///   books, games, bands, ...: [`NameRules::for_topic`]), where the number
    ///   is part of the name (`Alien` ≠ `Aliens`, `Predator` ≠ `Predators`);
    /// - `St`, `Ste` and `Mt` before another word are `Saint`, `Sainte` and
    ///   `Mount`; a leading `l'` is dropped, and a leading `le`, `la`, `les`,
    ///   `el`, `il`, `der` or `das` only when two words or more follow (`La
    ///   Sagrada Familia` = `Sagrada Familia`, but `El Salvador` ≠ `Salvador`).
    ///
    /// The merge rule: two spellings are one item when their heads are equal and
    /// either has no qualifier or their qualifiers are equal. So `Salmaella
    /// (Bergamo)` merges into `Salmaella`, `Mercury (planet)` and `Mercury
    /// (element)` stay two items, and the first spelling seen is the item
    /// (`name_index.rs` finds it).
    pub fn key(&mut self, spelling: &str, rules: NameRules) -> Option<NameKey> {
        let (head, qualifier) = split_qualifier(cut_description(spelling));
        let head = self.fold(head, Some(rules));
        if head.is_empty() {
            return None;
        }
        let qualifier = qualifier
            .map(|q| self.fold(q, None))
            .filter(|q| !q.is_empty());
        Some(NameKey { head, qualifier })
    }

    /// Folded words joined by single spaces; `rules` for a head, `None` for
    /// a qualifier.
    fn fold(&mut self, text: &str, rules: Option<NameRules>) -> String {
        let head = rules.is_some();
        let key = self.normalizer.key(text);
        let key = match key.strip_prefix("l'") {
            Some(rest) if head && rest.starts_with(char::is_alphanumeric) => rest,
            _ => key,
        };
        let (chars, text) = (&mut self.chars, &mut self.text);
        chars.clear();
        text.clear();
        if key.is_ascii() {
            // ASCII is its own NFKD.
            chars.extend(key.chars());
        } else {
            chars.extend(key.nfkd());
        }
        fold_chars(chars, false, text);
        let mut words: Vec<&str> = text.split_whitespace().collect();
        if head
            && words.len() >= 3
            && matches!(words[0], "le" | "la" | "les" | "el" | "il" | "der" | "das")
        {
            words.remove(0);
        }
        let last = words.len().saturating_sub(1);
        for (i, word) in words.iter_mut().enumerate() {
            if i < last {
                *word = match *word {
                    "st" => "saint",
                    "ste" => "sainte",
                    "mt" => "mount",
                    w => w,
                };
            }
        }
        let mut joined = words.join(" ");
        if rules.is_some_and(|r| r.fold_plurals) {
            let start = joined.rfind(' ').map_or(0, |i| i + 1);
            if let Some(one) = singular(&joined[start..]) {
                joined.truncate(start);
                joined.push_str(&one);
            }
        }
        joined
    }
}

/// The English singular of a head's last word, when it reads as a regular
/// plural: `-ies` → `-y`, `-es` after `ss`, `zz`, `x`, `ch`, `sh`, else a
/// final `-s`; words of four letters or fewer, and words ending in `ss`,
/// `us` or `is` (`glass`, `Venus`, `Paris`), are left alone. Models write
/// "Bananas" in one answer and "banana" in the next; both spellings of an
/// irregular or invariant word fold alike, so the worst case is a missed
/// merge, not a wrong one.
fn singular(word: &str) -> Option<String> {
    if word.len() <= 4 || !word.bytes().all(|b| b.is_ascii_lowercase()) {
        return None;
    }
    if let Some(stem) = word.strip_suffix("ies") {
        return Some(format!("{stem}y"));
    }
    // `-es` is the plural ending after `ss`, `zz`, `x`, `ch` and `sh`
    // (`glasses`, `boxes`, `churches`); after a single `s` or `z` the word
    // ends in `e` (`cheeses`, `horses`, `prizes`).
    if let Some(stem) = word.strip_suffix("es")
        && (stem.ends_with("ss")
            || stem.ends_with("zz")
            || stem.ends_with('x')
            || stem.ends_with("ch")
            || stem.ends_with("sh"))
    {
        return Some(stem.to_string());
    }
    if word.ends_with("ss") || word.ends_with("us") || word.ends_with("is") {
        return None;
    }
    word.strip_suffix('s').map(str::to_string)
}

/// Folds decomposed `chars` into words separated by spaces, appended to
/// `text`: the marks of Latin, Greek and Cyrillic letters dropped (elsewhere
/// vowel signs are letters), letters without a decomposition spelled out
/// ([`spelled_out`]), dots and apostrophes joined (not a decimal point; a
/// comma between digits dropped), `&` read as `and`, symbols such as `+` and
/// `#` kept, brackets kept as `(` `)` when `keep_brackets`, and any other
/// punctuation a space. The one fold of name keys and topic keys.
pub(crate) fn fold_chars(chars: &[char], keep_brackets: bool, text: &mut String) {
    // Whether the last letter is Latin, Greek or Cyrillic.
    let mut droppable_marks = false;
    for (i, &c) in chars.iter().enumerate() {
        // ASCII holds no combining mark: the table lookup is skipped.
        if !c.is_ascii() && is_combining_mark(c) {
            if !droppable_marks {
                text.push(c);
            }
            continue;
        }
        droppable_marks = c < '\u{530}' || ('\u{1E00}'..='\u{1FFF}').contains(&c);
        let between_digits = i > 0
            && chars[i - 1].is_ascii_digit()
            && chars.get(i + 1).is_some_and(char::is_ascii_digit);
        match c {
            c if c.is_alphanumeric() => match spelled_out(c) {
                Some(s) => text.push_str(s),
                None => text.push(c),
            },
            // "1.5" is not "15", but "1,000" is "1000".
            '.' if between_digits => text.push('.'),
            ',' if between_digits => {}
            '.' | '\'' => {}
            '&' => text.push_str(" and "),
            '+' | '#' | '@' | '$' | '%' | '=' => text.push(c),
            '(' | '[' | '{' if keep_brackets => text.push_str(" ( "),
            ')' | ']' | '}' if keep_brackets => text.push_str(" ) "),
            _ => text.push(' '),
        }
    }
}

/// Letters without a decomposition that readers take for a plain one.
fn spelled_out(c: char) -> Option<&'static str> {
    Some(match c {
        'ø' => "o",
        'æ' => "ae",
        'œ' => "oe",
        'ł' => "l",
        'đ' | 'ð' => "d",
        'þ' => "th",
        'ı' => "i",
        _ => return None,
    })
}

/// Dashes that may introduce a description, spaced on both sides.
const DASHES: [&str; 4] = [" - ", " -- ", " – ", " — "];

/// The spelling without a trailing description: from the first spaced dash
/// followed by an all-lower-case word.
fn cut_description(s: &str) -> &str {
    let mut cut = s.len();
    for dash in DASHES {
        let mut from = 0;
        while let Some(i) = s[from..].find(dash) {
            let at = from + i;
            if at < cut && !s[..at].trim().is_empty() && is_description(&s[at + dash.len()..]) {
                cut = at;
                break;
            }
            from = at + dash.len();
        }
    }
    &s[..cut]
}

fn is_description(rest: &str) -> bool {
    let first = rest
        .trim_start_matches(|c: char| c.is_whitespace() || matches!(c, '*' | '_' | '"'))
        .split_whitespace()
        .next()
        .unwrap_or_default();
    !first.is_empty()
        && first
            .chars()
            .all(|c| c.is_lowercase() || !c.is_alphanumeric())
        && first.chars().next().is_some_and(char::is_lowercase)
}

/// Splits a trailing `(...)` or `[...]` off as the qualifier, unless it is
/// the whole spelling.
fn split_qualifier(s: &str) -> (&str, Option<&str>) {
    let t = s.trim_end_matches(|c: char| {
        c.is_whitespace() || matches!(c, '.' | ',' | ';' | ':' | '*' | '_')
    });
    let (open, close) = match t.chars().last() {
        Some(')') => ('(', ')'),
        Some(']') => ('[', ']'),
        Some('）') => ('（', '）'),
        _ => return (s, None),
    };
    let mut depth = 0usize;
    for (at, c) in t.char_indices().rev() {
        if c == close {
            depth += 1;
        } else if c == open {
            depth -= 1;
            if depth == 0 {
                let head = &t[..at];
                if head.trim().is_empty() {
                    return (s, None);
                }
                let inner = &t[at + open.len_utf8()..t.len() - close.len_utf8()];
                return (head, Some(inner));
            }
        }
    }
    (s, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The expected (head, qualifier), or `None` for no name key.
    type Expected<'a> = Option<(&'a str, Option<&'a str>)>;

    fn check(input: &str, expected: Expected<'_>) {
        let expected = expected.map(|(head, qualifier)| NameKey {
            head: head.into(),
            qualifier: qualifier.map(str::to_string),
        });
        assert_eq!(name_key(input), expected, "name_key({input:?})");
    }

    #[test]
    fn name_key_table() {
        let cases: &[(&str, Expected)] = &[
            ("Salmaella", Some(("salmaella", None))),
            (
                "Salmaella (Bergamo, Italy)",
                Some(("salmaella", Some("bergamo italy"))),
            ),
            (
                "Chablis (French Cheese of France)",
                Some(("chablis", Some("french cheese of france"))),
            ),
            (
                "Louvre Museum (Musée du Louvre)",
                Some(("louvre museum", Some("musee du louvre"))),
            ),
            ("The Louvre", Some(("louvre", None))),
            // Regular plurals fold to the singular; short words and
            // `-ss`, `-us`, `-is` endings stay.
            ("Bananas", Some(("banana", None))),
            ("Elderberries", Some(("elderberry", None))),
            ("Wild Cherries", Some(("wild cherry", None))),
            ("Churches of Rome", Some(("churches of rome", None))),
            ("Boxes", Some(("box", None))),
            ("Glasses", Some(("glass", None))),
            ("Blue Cheeses", Some(("blue cheese", None))),
            ("Horses", Some(("horse", None))),
            ("Prizes", Some(("prize", None))),
            ("Glass", Some(("glass", None))),
            ("Venus", Some(("venus", None))),
            ("Paris", Some(("paris", None))),
            ("Cars", Some(("cars", None))),
            (
                "Eiffel Tower - iconic iron tower",
                Some(("eiffel tower", None)),
            ),
            ("Brie — a soft French cheese", Some(("brie", None))),
            (
                "Mission: Impossible - Fallout",
                Some(("mission impossible fallout", None)),
            ),
            ("Apple - iPhone", Some(("apple iphone", None))),
            ("Notre-Dame de Paris", Some(("notre dame de paris", None))),
            ("Notre Dame de Paris", Some(("notre dame de paris", None))),
            (
                "St. Peter's Basilica",
                Some(("saint peters basilica", None)),
            ),
            (
                "Saint Peter’s Basilica",
                Some(("saint peters basilica", None)),
            ),
            ("Main St.", Some(("main st", None))),
            ("Procter & Gamble", Some(("procter and gamble", None))),
            ("Paris, Texas", Some(("paris texa", None))),
            ("2. Bundesliga", Some(("2 bundesliga", None))),
            ("Henry IV", Some(("henry iv", None))),
            ("Toy Story 2", Some(("toy story 2", None))),
            ("C++", Some(("c++", None))),
            ("C#", Some(("c#", None))),
            ("Python 3.11", Some(("python 3.11", None))),
            ("1,000 Islands", Some(("1000 island", None))),
            ("U.S.A.", Some(("usa", None))),
            ("Crème Brûlée", Some(("creme brulee", None))),
            ("Smørrebrød", Some(("smorrebrod", None))),
            ("Straße", Some(("strasse", None))),
            ("Lou\u{200B}vre", Some(("louvre", None))),
            ("L'Arc de Triomphe", Some(("arc de triomphe", None))),
            ("La Sagrada Familia", Some(("sagrada familia", None))),
            ("El Salvador", Some(("el salvador", None))),
            ("Le Mans", Some(("le mans", None))),
            ("Mt. Everest", Some(("mount everest", None))),
            ("Mercury (planet)", Some(("mercury", Some("planet")))),
            ("Dune [2021]", Some(("dune", Some("2021")))),
            ("Film (x (y) z).", Some(("film", Some("x y z")))),
            ("(1984)", Some(("1984", None))),
            ("東京タワー", Some(("東京タワー", None))),
            ("किताब", Some(("किताब", None))),
            ("!!!", None),
            ("...", None),
        ];
        for &(input, expected) in cases {
            check(input, expected);
        }
    }

    #[test]
    fn the_merge_rule() {
        let merges = |a: &str, b: &str| name_key(a).unwrap().merges_with(&name_key(b).unwrap());
        for (a, b, expected) in [
            ("Salmaella", "Salmaella (Bergamo, Italy)", true),
            (
                "Salmaella (Bergamo, Italy)",
                "Salmaella (Bergamo, Italy.)",
                true,
            ),
            (
                "Salmaella (Bergamo, Italy)",
                "Salmaella (Tuscany, Italy)",
                false,
            ),
            ("Mercury (planet)", "Mercury (element)", false),
            ("Mercury", "Mercury (element)", true),
            ("Toy Story", "Toy Story 2", false),
            ("Bundesliga", "2. Bundesliga", false),
            ("Henry IV", "Henry V", false),
            ("Paris", "Paris, Texas", false),
        ] {
            assert_eq!(merges(a, b), expected, "{a:?} / {b:?}");
            assert_eq!(merges(b, a), expected, "{b:?} / {a:?}");
        }
    }

    #[test]
    fn plurals_fold_unless_the_topic_names_titles() {
        for (topic, folds) in [
            ("Rare cheeses", true),
            ("Fruits", true),
            ("Dog breeds", true),
            ("", true),
            ("Science fiction films", false),
            ("Horror MOVIES of the 80s", false),
            ("Beatles songs", false),
            ("Video games", false),
            ("Shakespeare's plays", false),
            ("TV series", false),
            ("Board games", false),
            ("Novels by Dickens", false),
            // A word merely containing a titled one is not it.
            ("Filmmakers", true),
            ("Playgrounds", true),
        ] {
            assert_eq!(NameRules::for_topic(topic).fold_plurals, folds, "{topic:?}");
        }
        let key = |s: &str, topic: &str| {
            Namer::default()
                .key(s, NameRules::for_topic(topic))
                .unwrap()
                .head
        };
        assert_eq!(key("Aliens", "Fruits"), "alien");
        assert_eq!(key("Aliens", "Science fiction films"), "aliens");
        assert_eq!(key("Wild Cherries", "Cherry cultivars"), "wild cherry");
        assert_eq!(key("Wild Cherries", "Songs"), "wild cherries");
    }
}
