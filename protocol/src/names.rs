//! What part of a spelling is the name: whether a parenthetical tells the
//! item apart or describes it, whether a tail after a separator is a
//! description or part of a title, and a plural word's singular.
//!
//! Both sides of the wire decide this: the worker's parser cuts what
//! describes before it publishes an item, the coordinator's name key
//! (`coordinator/src/keys/names.rs`) decides which spellings of one name
//! merge. They must agree, or an item the worker kept as a distinct name
//! is merged away by the coordinator (or the reverse), so the rule lives
//! here, in the crate both depend on. Pure functions over `&str`.

/// Most words of a parenthetical that tells items apart.
const MAX_QUALIFIER_WORDS: usize = 2;
/// Most words a title-cased tail after a dash may have and still be part of
/// the name (`Star Wars: Episode IV - A New Hope`).
const MAX_TITLE_TAIL_WORDS: usize = 6;

/// Small words a title keeps lower-case (`Gone with the Wind`, `Musée
/// d'Orsay`, `Pont de l'Alma`).
const TITLE_SMALL_WORDS: &[&str] = &[
    "a", "an", "the", "and", "or", "of", "in", "on", "at", "to", "for", "with", "by", "from", "de",
    "du", "des", "la", "le", "les", "l'", "d'", "di", "da", "del", "della", "von", "van", "der",
    "den", "y", "e", "et", "&", "vs", "vs.",
];

/// Words that make a parenthetical read as a phrase rather than a label.
/// All ASCII, compared without allocating a lower-cased copy.
const LINKING_WORDS: &[&str] = &[
    "from",
    "of",
    "in",
    "on",
    "at",
    "by",
    "with",
    "near",
    "for",
    "named",
    "called",
    "known",
    "aka",
    "a.k.a.",
    "also",
    "or",
    "and",
    "is",
    "was",
    "are",
    "were",
    "located",
    "made",
    "founded",
    "built",
    "formerly",
    "originally",
    "i.e.",
    "e.g.",
    "see",
    "du",
    "de",
    "des",
    "la",
    "le",
    "di",
    "del",
    "della",
    "the",
    "a",
    "an",
];

/// What a parenthetical after a name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parenthetical {
    /// Describes, renames or measures the item: not part of its name
    /// (`(Bergamo, Italy)`, `(French Cheese of France)`, `(Musée du
    /// Louvre)`, `(modern art museum)`, `(365m)`).
    Description,
    /// Tells the item from others of the same name: a year, or a
    /// lower-case class label (`(1984)`, `(2001 film)`, `(planet)`,
    /// `(programming language)`, `(U.S. state)`). Part of the name, and
    /// never the same item as the bare name: `Dune (1984)` and `Dune
    /// (2021)` are two films, and a bare `Dune` is neither for sure.
    Disambiguator,
    /// A one- or two-word proper name: a place or another name of the item
    /// (`(Illinois)`, `(Normandy)`, `(UK)`, `(Barça)`). Part of the name,
    /// since two places may share one (`Springfield (Illinois)`,
    /// `Springfield (Massachusetts)`), but where only one is known it
    /// locates the bare name rather than telling it from another.
    ProperName,
}

impl Parenthetical {
    /// Whether the parenthetical is part of the name (the worker keeps it).
    pub fn is_part_of_name(self) -> bool {
        self != Parenthetical::Description
    }
}

/// What the text inside a parenthetical is (the parentheses excluded).
///
/// One or two words with no comma and no linking word are a label, and
/// the rest describes: in recorded answers the three-word parentheticals
/// were descriptions or translations, the labels one or two words. Two
/// capitalised words are another name (`(Luxembourg Gardens)`); a number
/// other than a year is a measure (`(365m)`). A label holding a year or
/// ending in a lower-case word is a [`Parenthetical::Disambiguator`], one
/// ending in a capitalised word a [`Parenthetical::ProperName`].
pub fn parenthetical(inside: &str) -> Parenthetical {
    let inside = inside.trim();
    let n = words(inside);
    let renames = n >= 2
        && inside
            .split_whitespace()
            .all(|w| w.starts_with(char::is_uppercase));
    let label = (1..=MAX_QUALIFIER_WORDS).contains(&n)
        && !renames
        && !inside.contains([',', ';', ':'])
        && inside.split_whitespace().all(|w| {
            !LINKING_WORDS.iter().any(|l| l.eq_ignore_ascii_case(w))
                && (!w.starts_with(|c: char| c.is_ascii_digit()) || is_year(w))
        });
    if !label {
        return Parenthetical::Description;
    }
    let last = inside.split_whitespace().last().unwrap_or_default();
    if inside.split_whitespace().any(is_year) || last.starts_with(char::is_lowercase) {
        Parenthetical::Disambiguator
    } else {
        Parenthetical::ProperName
    }
}

/// The English singular of a lower-case word that reads as a regular
/// plural: `-ies` → `-y`, `-es` after `ss`, `zz`, `x`, `ch`, `sh`, else a
/// final `-s`; `None` for a word of three letters or fewer (`gas`, `bus`)
/// and one ending in `ss`, `us` or `is` (`glass`, `Venus`, `Paris`). An
/// irregular or invariant word is read as a regular one (`species` →
/// "specie"), the same on every side, so words compared by their
/// singulars still meet. The coordinator's name key folds a last word
/// with it (`Bananas` = `banana`); the worker's parser and judge compare
/// an answer's words with the topic's by it (`items` meets `item`).
pub fn singular(word: &str) -> Option<String> {
    if word.chars().count() <= 3 {
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

/// A year or a decade: `1984`, `1980s`.
pub fn is_year(word: &str) -> bool {
    let digits = word.strip_suffix('s').unwrap_or(word);
    digits.len() == 4 && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `tail`, after the separator `sep` (`" - "`, `" – "`, `" — "`,
/// `" -- "`, `": "`, `"; "`), describes the name before it rather than
/// continuing it.
///
/// A tail is a description unless it reads as part of a title. A titled
/// tail after a colon is a subtitle, however long and with its commas (`The
/// Chronicles of Narnia: The Lion, the Witch and the Wardrobe`), unless it
/// reads as a record with dates (`Jumbo, 1987-2004`). After a dash a title
/// is short and holds no comma (`Mission: Impossible - Fallout`); a
/// description often does (`The Largest Art Museum In The World`). After a
/// semicolon it always describes.
pub fn tail_describes(sep: &str, tail: &str) -> bool {
    let tail = tail.trim();
    let subtitle = sep.trim() == ":" && titled(tail) && !dated(tail);
    sep.trim() == ";"
        || tail.is_empty()
        || !titled(tail)
        || !subtitle && (tail.contains(',') || words(tail) > MAX_TITLE_TAIL_WORDS)
}

/// Title case: every word capitalised, a number, a symbol or a small word
/// titles keep lower-case, and at least one capitalised word. A word in
/// camel case counts as capitalised (`iPhone`, `eBay`).
pub fn titled(text: &str) -> bool {
    let mut capitalised = false;
    for word in text.split_whitespace() {
        let bare = word.trim_matches(|c: char| !c.is_alphanumeric());
        let Some(first) = bare.chars().next() else {
            continue;
        };
        if first.is_uppercase() || first.is_lowercase() && bare.chars().any(char::is_uppercase) {
            capitalised = true;
        } else if first.is_lowercase()
            && !TITLE_SMALL_WORDS
                .iter()
                .any(|small| small.eq_ignore_ascii_case(bare))
            && !TITLE_SMALL_WORDS
                .iter()
                .any(|p| p.ends_with('\'') && bare.starts_with(p))
        {
            return false;
        }
    }
    capitalised
}

/// A part after a comma starts with a number: a year, a span of years, a
/// date (`Jumbo, 1987-2004`), what a record adds to a title.
fn dated(text: &str) -> bool {
    text.split(',')
        .skip(1)
        .any(|part| part.trim_start().starts_with(|c: char| c.is_ascii_digit()))
}

fn words(text: &str) -> usize {
    text.split_whitespace().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_regular_plural_reads_as_its_singular() {
        for (plural, one) in [
            ("bananas", Some("banana")),
            ("cherries", Some("cherry")),
            ("countries", Some("country")),
            ("glasses", Some("glass")),
            ("boxes", Some("box")),
            ("churches", Some("church")),
            ("cheeses", Some("cheese")),
            ("states", Some("state")),
            ("dogs", Some("dog")),
            ("gas", None),
            ("glass", None),
            ("venus", None),
            ("paris", None),
            ("element", None),
        ] {
            assert_eq!(singular(plural).as_deref(), one, "{plural}");
        }
    }

    #[test]
    fn parentheticals() {
        use Parenthetical::*;
        for (inside, expected) in [
            ("1984", Disambiguator),
            ("2001 film", Disambiguator),
            ("1980s", Disambiguator),
            ("planet", Disambiguator),
            ("programming language", Disambiguator),
            ("U.S. state", Disambiguator),
            ("Illinois", ProperName),
            ("UK", ProperName),
            ("Barça", ProperName),
            ("Czech Carmaker", Description),
            ("Bergamo, Italy", Description),
            ("French Cheese of France", Description),
            ("Musée du Louvre", Description),
            ("Luxembourg Gardens", Description),
            ("modern art museum", Description),
            ("365m", Description),
            ("from the camel", Description),
            ("", Description),
        ] {
            assert_eq!(parenthetical(inside), expected, "({inside})");
        }
        assert!(Disambiguator.is_part_of_name() && ProperName.is_part_of_name());
        assert!(!Description.is_part_of_name());
    }

    #[test]
    fn tails() {
        for (sep, tail, describes) in [
            (" - ", "iconic iron tower", true),
            (" - ", "A traditional Italian cheese", true),
            (" - ", "The Largest Art Museum In The World", true),
            (" - ", "Fallout", false),
            (" - ", "iPhone", false),
            (" – ", "A New Hope", false),
            (": ", "A Space Odyssey", false),
            (": ", "The Lion, the Witch and the Wardrobe", false),
            (": ", "Jumbo, 1987-2004", true),
            (": ", "a soft cheese", true),
            ("; ", "Cheese With A Rind", true),
            (" - ", "", true),
        ] {
            assert_eq!(tail_describes(sep, tail), describes, "{sep:?} {tail:?}");
        }
    }
}
