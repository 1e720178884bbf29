//! The name key: when two spellings with different exact keys name the same
//! item ("Salmaella" / "Salmaella (Bergamo, Italy)", "Notre-Dame" / "Notre
//! Dame", "Eiffel Tower - iconic iron tower" / "Eiffel Tower").
//!
//! A wrong merge loses a real item, a missed one only keeps a variant, so
//! the key is conservative: the folding rules and the merge rule are on
//! [`Namer::key`]. The index the key is looked up in is `name_index.rs`.
//!
//! Long because the folding, the qualifiers, the plurals and the merge rule
//! are one rule, read together; its tests are in `names/tests.rs`.

use igentai_protocol::names::{Parenthetical, parenthetical, singular, tail_describes, titled};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;
use xxhash_rust::xxh3::xxh3_128_with_seed;

use crate::keys::normalize::Normalizer;

/// The version of what a name key is. An index persisted under another
/// version was built by other rules and is rebuilt from the items.
/// 2: diacritics kept apart from their bare letters, `♯`, `♭` and `♮`
/// kept, years and class labels kept apart from the bare name, no plural
/// folding of title-cased names.
pub const NAME_KEY_VERSION: u32 = 2;

/// A spelling's name key: its folded head and optional qualifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameKey {
    /// The head without its diacritics (`creme brulee`), except the marks
    /// that make a letter of its own (`año`, `мой`).
    pub head: String,
    /// The head with its diacritics (`crème brûlée`), when it has any.
    pub marked: Option<String>,
    pub qualifier: Option<String>,
    /// Whether the qualifier tells the item from the bare name (a year or
    /// a class label, [`Parenthetical::Disambiguator`]).
    pub disambiguates: bool,
}

/// Hash seeds keeping the index's entries apart from each other and from
/// exact keys: spelled heads, (spelled head, qualifier) pairs, heads
/// without diacritics, and bare names.
const HEAD_SEED: u64 = 0x6865_6164;
const PAIR_SEED: u64 = 0x7061_6972;
const FOLD_SEED: u64 = 0x666f_6c64;
const BARE_SEED: u64 = 0x6261_7265;

impl NameKey {
    /// The head as spelled: with its diacritics.
    pub fn spelled(&self) -> &str {
        self.marked.as_deref().unwrap_or(&self.head)
    }

    /// The merge rule (see [`Namer::key`]).
    pub fn merges_with(&self, other: &NameKey) -> bool {
        let marks_agree =
            self.spelled() == other.spelled() || self.marked.is_none() || other.marked.is_none();
        self.head == other.head
            && marks_agree
            && match (&self.qualifier, &other.qualifier) {
                (Some(a), Some(b)) => a == b,
                (Some(_), None) => !self.disambiguates,
                (None, Some(_)) => !other.disambiguates,
                (None, None) => true,
            }
    }

    pub(crate) fn head_hash(&self) -> u128 {
        xxh3_128_with_seed(self.spelled().as_bytes(), HEAD_SEED)
    }

    pub(crate) fn bare_hash(&self) -> u128 {
        bare_hash(self.head_hash())
    }

    pub(crate) fn fold_hash(&self) -> u128 {
        xxh3_128_with_seed(self.head.as_bytes(), FOLD_SEED)
    }

    pub(crate) fn pair_hash(&self) -> Option<u128> {
        self.qualifier.as_ref().map(|q| {
            let head = self.spelled();
            let mut bytes = Vec::with_capacity(head.len() + 1 + q.len());
            bytes.extend_from_slice(head.as_bytes());
            bytes.push(0);
            bytes.extend_from_slice(q.as_bytes());
            xxh3_128_with_seed(&bytes, PAIR_SEED)
        })
    }
}

/// The index entry of a bare name whose spelled head hashes to `head`
/// (derived from the head's hash, so a saved head hash gives it too).
pub(crate) fn bare_hash(head: u128) -> u128 {
    xxh3_128_with_seed(&head.to_le_bytes(), BARE_SEED)
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

#[cfg(test)]
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
    marked: String,
}

impl Namer {
    /// The name key of a spelling, folded so:
    /// - a description after a spaced dash is cut when it reads as one
    ///   (`igentai_protocol::names::tail_describes`, the worker's rule too):
    ///   "Eiffel Tower - iconic iron tower" loses it, "Mission: Impossible -
    ///   Fallout" keeps it;
    /// - a trailing parenthetical or bracketed part is the qualifier, the
    ///   rest the head ("Mercury (planet)": head `mercury`, qualifier
    ///   `planet`); whether it disambiguates is
    ///   `igentai_protocol::names::parenthetical`: a year or a lower-case
    ///   class label does (`(1984)`, `(planet)`), a proper name or a
    ///   description does not (`(Normandy)`, `(Bergamo, Italy)`);
    /// - both are folded as the exact key folds them (NFKC, case folding,
    ///   invisible characters, a leading English article), `&` is `and`,
    ///   dots and apostrophes join (`St.` = `St`, `U.S.A.` = `USA`), other
    ///   punctuation separates words (`Notre-Dame` = `Notre Dame`, `Paris,
    ///   Texas` = `Paris Texas`), while digits, roman numerals and symbols
    ///   such as `+`, `#`, `♯` (= `#`), `♭` and `♮` stay (`Henry IV` ≠ `Henry
    ///   V`, `Toy Story` ≠ `Toy Story 2`, `C++` ≠ `C`, `C♯` ≠ `C`);
    /// - the head is kept twice: as spelled, with its diacritics
    ///   ([`NameKey::marked`]), and without the diacritics of Latin, Greek
    ///   and Cyrillic letters ([`NameKey::head`]; `ø`, `æ`, `œ`, `ł`, `đ`,
    ///   `ð`, `þ`, `ı` spelled out), except the marks that make a letter of
    ///   its own, whose loss changes the word (`ñ`: `año` ≠ `ano`; `й`,
    ///   `ї`); `ё` is `е`, as Russian is commonly written;
    /// - the head's last word, when a regular English plural of five letters
    ///   or more, is its singular (`Bananas` = `banana`, `Wild cherries` =
    ///   `wild cherry`), since models switch between the two from one answer
    ///   to the next; except in topics whose items are titles (films, songs,
    ///   books, games, bands, ...: [`NameRules::for_topic`]), where the number
    ///   is part of the name (`Alien` ≠ `Aliens`), and in a head of two or
    ///   more words all capitalised, the shape of a person's name, whose
    ///   surname may end like a plural (`Robert Adams` ≠ `Robert Adam`,
    ///   `John Williams` ≠ `John William`);
    /// - `St`, `Ste`, `Mt` and `Ft` before another word are `Saint`,
    ///   `Sainte`, `Mount` and `Fort`; a title before a name of two words or
    ///   more is dropped (`Sir Tom Jones`; `King`, `Queen`, `Pope` before a
    ///   regnal name: `King Henry IV`, but not `King Kong`); a leading `l'`
    ///   is dropped, and a leading `le`, `la`, `les`, `el`, `il`, `der` or
    ///   `das` only when two words or more follow (`La Sagrada Familia` =
    ///   `Sagrada Familia`, but `El Salvador` ≠ `Salvador`).
    ///
    /// The merge rule ([`NameKey::merges_with`]): two spellings are one
    /// item when their heads are equal, their diacritics agree, and their
    /// qualifiers agree.
    /// - Diacritics agree when both spell the head alike or one spells it
    ///   without any: a model that drops accents writes `Creme brulee` for
    ///   `Crème brûlée`, but `pêche` and `péché` are two words.
    /// - Qualifiers agree when equal, or when one spelling has none and the
    ///   other's does not disambiguate: `Salmaella (Bergamo, Italy)` and
    ///   `Camembert (Normandy)` merge into the bare name, `Dune (1984)`,
    ///   `Dune (2021)` and `Dune` are three items (the bare name may be
    ///   either film, or the novel), as are `Mercury`, `Mercury (planet)`
    ///   and `Mercury (element)`.
    ///
    /// The first spelling seen is the item. The index ([`NameIndex`]) stores
    /// hashes, not strings, in the same compact table as the seen-set.
    pub fn key(&mut self, spelling: &str, rules: NameRules) -> Option<NameKey> {
        let (head, qualifier) = split_qualifier(cut_description(spelling));
        let (head, marked) = self.fold(head, Some(rules));
        if head.is_empty() {
            return None;
        }
        let disambiguates =
            qualifier.is_some_and(|q| parenthetical(q) == Parenthetical::Disambiguator);
        let qualifier = qualifier
            .map(|q| self.fold(q, None).0)
            .filter(|q| !q.is_empty());
        Some(NameKey {
            head,
            marked,
            disambiguates: disambiguates && qualifier.is_some(),
            qualifier,
        })
    }

    /// Folded words joined by single spaces, without diacritics and with
    /// them (when different); `rules` for a head, `None` for a qualifier.
    fn fold(&mut self, spelling: &str, rules: Option<NameRules>) -> (String, Option<String>) {
        let head = rules.is_some();
        let key = self.normalizer.key(spelling);
        let key = match key.strip_prefix("l'") {
            Some(rest) if head && rest.starts_with(char::is_alphanumeric) => rest,
            _ => key,
        };
        let (chars, text, marked) = (&mut self.chars, &mut self.text, &mut self.marked);
        chars.clear();
        text.clear();
        marked.clear();
        if key.is_ascii() {
            // ASCII is its own NFKD.
            chars.extend(key.chars());
        } else {
            chars.extend(key.nfkd());
        }
        // Whether the last letter is Latin, Greek or Cyrillic: only their
        // marks are diacritics to drop (elsewhere, vowel signs are letters).
        let mut droppable_marks = false;
        // Whether a mark was kept in `text`, which then needs composing.
        let mut kept_marks = false;
        let mut base = ' ';
        for (i, &c) in chars.iter().enumerate() {
            // ASCII holds no combining mark: the table lookup is skipped.
            if !c.is_ascii() && is_combining_mark(c) {
                if !droppable_marks || letter_of_its_own(base, c) {
                    text.push(c);
                    kept_marks = true;
                }
                if !(droppable_marks && ornamental(base, c)) {
                    marked.push(c);
                }
                continue;
            }
            base = c;
            droppable_marks = c < '\u{530}' || ('\u{1E00}'..='\u{1FFF}').contains(&c);
            let between_digits = i > 0
                && chars[i - 1].is_ascii_digit()
                && chars.get(i + 1).is_some_and(char::is_ascii_digit);
            let (plain, spelled) = match c {
                c if c.is_alphanumeric() => match spelled_out(c) {
                    Some(s) => (Folded::Str(s), Folded::Char(c)),
                    None => (Folded::Char(c), Folded::Char(c)),
                },
                // "1.5" is not "15", but "1,000" is "1000".
                '.' if between_digits => (Folded::Char('.'), Folded::Char('.')),
                ',' if between_digits => (Folded::Nothing, Folded::Nothing),
                '.' | '\'' => (Folded::Nothing, Folded::Nothing),
                '&' => (Folded::Str(" and "), Folded::Str(" and ")),
                '♯' => (Folded::Char('#'), Folded::Char('#')),
                '+' | '#' | '@' | '$' | '%' | '=' | '♭' | '♮' | '€' | '£' | '¥' => {
                    (Folded::Char(c), Folded::Char(c))
                }
                _ => (Folded::Char(' '), Folded::Char(' ')),
            };
            plain.push_to(text);
            spelled.push_to(marked);
        }
        if kept_marks {
            *text = text.nfc().collect();
        }
        let plain = words_of(text, rules, spelling);
        if *marked == *text || marked.is_ascii() {
            return (plain, None);
        }
        let composed: String = marked.nfc().collect();
        let spelled = words_of(&composed, rules, spelling);
        let differs = spelled != plain;
        (plain, differs.then_some(spelled))
    }
}

/// What one character of a spelling folds to.
enum Folded {
    Nothing,
    Char(char),
    Str(&'static str),
}

impl Folded {
    fn push_to(self, s: &mut String) {
        match self {
            Folded::Nothing => {}
            Folded::Char(c) => s.push(c),
            Folded::Str(t) => s.push_str(t),
        }
    }
}

/// The words of a folded text, joined by single spaces, with a head's
/// leading article dropped, `St` and `Mt` spelled out and its last word's
/// plural folded (under `rules`, unless the `spelling` is a person's name).
fn words_of(text: &str, rules: Option<NameRules>, spelling: &str) -> String {
    let mut words: Vec<&str> = text.split_whitespace().collect();
    if rules.is_some()
        && words.len() >= 3
        && matches!(words[0], "le" | "la" | "les" | "el" | "il" | "der" | "das")
    {
        words.remove(0);
    }
    // A title before a name: `Sir Tom Jones`, `King Henry IV`.
    let regnal = words.last().is_some_and(|w| roman_numeral(w));
    if rules.is_some()
        && words.len() >= 3
        && (matches!(words[0], "sir" | "dame")
            || regnal
                && matches!(
                    words[0],
                    "king" | "queen" | "pope" | "emperor" | "empress" | "tsar" | "czar"
                ))
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
                "ft" => "fort",
                w => w,
            };
        }
    }
    let mut joined = words.join(" ");
    if rules.is_some_and(|r| r.fold_plurals) {
        let start = joined.rfind(' ').map_or(0, |i| i + 1);
        if let Some(one) = folded_plural(&joined[start..]).filter(|_| !personal_name(spelling)) {
            joined.truncate(start);
            joined.push_str(&one);
        }
    }
    joined
}

/// Whether a mark on `base` makes a letter of its own, whose loss makes
/// another word: Spanish `ñ` (`año`, `ano`), Cyrillic `й` (`мой`, `мои`)
/// and `ї`.
fn letter_of_its_own(base: char, mark: char) -> bool {
    matches!(
        (base, mark),
        ('n', '\u{303}') | ('и', '\u{306}') | ('і', '\u{308}')
    )
}

/// Whether a mark on `base` is left out in common writing without changing
/// the word: `ё` written `е` in Russian.
fn ornamental(base: char, mark: char) -> bool {
    matches!((base, mark), ('е', '\u{308}'))
}

/// A head of two or more capitalised words in title case, as spelled: the
/// shape of a person's name (`Robert Adams`), whose last word is not a
/// plural. Hyphens separate words (`Champs-Élysées` = `Champs Élysées`).
fn personal_name(head: &str) -> bool {
    let capitalised = head
        .split(|c: char| c.is_whitespace() || c == '-')
        .filter(|w| w.starts_with(char::is_uppercase))
        .count();
    capitalised >= 2 && titled(head)
}

/// A roman numeral as regnal names end in (`iv`, `xvi`), lower-cased.
fn roman_numeral(word: &str) -> bool {
    (1..=7).contains(&word.len())
        && word
            .bytes()
            .all(|b| matches!(b, b'i' | b'v' | b'x' | b'l' | b'c' | b'd' | b'm'))
}

/// The singular of a head's last word ([`singular`]) when it reads as a
/// regular plural of five letters or more, all lower-case: a shorter word
/// (`news`, `lens`) is left alone. Models write "Bananas" in one answer
/// and "banana" in the next; both spellings of an irregular or invariant
/// word fold alike, so the worst case is a missed merge, not a wrong one.
fn folded_plural(word: &str) -> Option<String> {
    if word.chars().count() <= 4 || !word.chars().all(char::is_lowercase) {
        return None;
    }
    singular(word)
}

/// Letters without a decomposition that readers take for a plain one.
pub(crate) fn spelled_out(c: char) -> Option<&'static str> {
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
/// whose tail describes (`igentai_protocol::names::tail_describes`).
fn cut_description(s: &str) -> &str {
    let mut cut = s.len();
    for dash in DASHES {
        let mut from = 0;
        while let Some(i) = s[from..].find(dash) {
            let at = from + i;
            let tail = s[at + dash.len()..]
                .trim_start_matches(|c: char| c.is_whitespace() || matches!(c, '*' | '_' | '"'));
            if at < cut && !s[..at].trim().is_empty() && tail_describes(dash, tail) {
                cut = at;
                break;
            }
            from = at + dash.len();
        }
    }
    &s[..cut]
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
mod tests;
