//! The normalized key that decides when two candidates are the same item.
//!
//! Unicode NFKC with full case folding (`Straße` = `STRASSE`), invisible
//! characters dropped (zero-width, bidi controls), whitespace collapsed;
//! wrapping quotes, markdown emphasis and trailing punctuation removed; a
//! leading English article dropped. "**The Louvre.**" and "louvre" share
//! the key `louvre`. List markers are not stripped here: the worker's parser
//! already cut them from its answer's lines, and what is left is part of the
//! name ("2. Bundesliga" keeps its "2."; "1984." is `1984`). The key is then
//! hashed to 128 bits ([`key_hash`]) so the seen-set stores fixed-size
//! values, not strings. Variants of one name that differ by more than this
//! ("Salmaella (Bergamo, Italy)") are the name key's business (`names.rs`).

use unicode_normalization::UnicodeNormalization;

/// Characters stripped from both ends of an item: quotes of every script,
/// emphasis markers and brackets that wrap a whole item.
fn is_wrapper(c: char) -> bool {
    matches!(
        c,
        '"' | '\''
            | '`'
            | '*'
            | '_'
            | '~'
            | '“'
            | '”'
            | '‘'
            | '’'
            | '„'
            | '‚'
            | '«'
            | '»'
            | '‹'
            | '›'
            | '「'
            | '」'
            | '『'
            | '』'
    )
}

fn is_trailing_punct(c: char) -> bool {
    matches!(
        c,
        '.' | ',' | ';' | ':' | '!' | '?' | '…' | '。' | '、' | '！' | '？'
    )
}

fn strip_article(s: &str) -> &str {
    for article in ["the ", "a ", "an "] {
        if let Some(rest) = s.strip_prefix(article)
            && !rest.trim().is_empty()
        {
            return rest.trim_start();
        }
    }
    s
}

/// Invisible characters that make identical-looking items differ: zero-width
/// spaces and joiners, the word joiner, the byte-order mark, the soft
/// hyphen, and bidirectional controls (which can also make a line display
/// as something else). Dropped from keys and from stored spellings.
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{AD}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

/// Full case folding of one character of NFKD text: lowercasing, plus the
/// foldings lowercasing lacks (`ß` → `ss`, final `ς` → `σ`, the Greek iota
/// subscript → `ι`, which NFKD has split off its vowel). Cherokee, whose
/// folding goes to upper case, is left as lowercasing leaves it.
fn fold(c: char, out: &mut String) {
    match c {
        'ß' | 'ẞ' => out.push_str("ss"),
        'ς' => out.push('σ'),
        '\u{345}' => out.push('ι'),
        c if c.is_ascii() => out.push(c.to_ascii_lowercase()),
        c => out.extend(c.to_lowercase()),
    }
}

/// The normalized key of a candidate; empty when nothing is left.
pub fn normalize(raw: &str) -> String {
    Normalizer::default().key(raw).to_string()
}

/// Computes keys with reused buffers, so the hot path (every candidate of
/// every batch) allocates nothing once warm.
#[derive(Debug, Default)]
pub struct Normalizer {
    folded: String,
    composed: String,
    out: String,
}

impl Normalizer {
    /// The normalized key of `raw` (as [`normalize`]), valid until the next call.
    pub fn key(&mut self, raw: &str) -> &str {
        self.folded.clear();
        if raw.is_ascii() {
            // ASCII is its own NFKC, and folds byte by byte.
            self.folded.push_str(raw);
            self.folded.make_ascii_lowercase();
            self.folded.retain(|c| !is_emphasis(c));
        } else {
            // NFKC(fold(NFKD(raw))): decomposed first so that folding sees
            // every letter on its own (the iota subscript), composed again
            // so that "Cafe\u{301}" and "Café" agree.
            self.composed.clear();
            for c in raw.nfkd().filter(|&c| !is_invisible(c)) {
                fold(c, &mut self.composed);
            }
            self.folded.extend(self.composed.nfkc().filter_map(clean));
        }

        let mut s = self.folded.trim();
        loop {
            let before = s;
            s = s.trim_matches(|c: char| is_wrapper(c) || c.is_whitespace());
            s = s.trim_end_matches(|c: char| is_trailing_punct(c) || c.is_whitespace());
            // Only ever shrinks: an unchanged length is an unchanged slice.
            if s.len() == before.len() {
                break;
            }
        }
        let s = strip_article(s);
        self.out.clear();
        for word in s.split_whitespace() {
            if !self.out.is_empty() {
                self.out.push(' ');
            }
            self.out.push_str(word);
        }
        &self.out
    }
}

/// Inner emphasis ("**Louvre** Museum") must not split one item into two keys.
fn is_emphasis(c: char) -> bool {
    matches!(c, '*' | '`')
}

/// Drops emphasis markers and makes typographic apostrophes plain
/// ("Rick’s" = "Rick's").
fn clean(c: char) -> Option<char> {
    match c {
        c if is_emphasis(c) => None,
        '‘' | '’' | 'ʼ' | '′' => Some('\''),
        c => Some(c),
    }
}

/// The version of the exact key's rules and hash: saved key hashes
/// (`topic/keylog.rs`) are used only under the version they were computed
/// with, so a change to what [`Normalizer::key`] or [`key_hash`] returns
/// must bump it.
pub const KEY_VERSION: u32 = 1;

/// The 128-bit hash the seen-set stores for a key.
pub fn key_hash(key: &str) -> u128 {
    xxhash_rust::xxh3::xxh3_128(key.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: &str) {
        assert_eq!(normalize(input), expected, "normalize({input:?})");
    }

    #[test]
    fn normalization_table() {
        let cases = [
            // case and whitespace
            ("Louvre", "louvre"),
            ("LOUVRE", "louvre"),
            ("  Eiffel   Tower  ", "eiffel tower"),
            ("Eiffel\tTower", "eiffel tower"),
            ("Eiffel\u{00A0}Tower", "eiffel tower"),
            ("Eiffel\u{3000}Tower", "eiffel tower"),
            // Unicode: NFKC and full case folding
            ("Ｌｏｕｖｒｅ", "louvre"),
            ("Cafe\u{301} de Flore", "café de flore"),
            ("Café de Flore", "café de flore"),
            ("CAFÉ DE FLORE", "café de flore"),
            ("ﬁne dining", "fine dining"),
            ("Straße", "strasse"),
            ("STRASSE", "strasse"),
            ("GROẞE", "grosse"),
            ("ΑΘΗΝΑ", "αθηνα"),
            ("Ὀδυσσεύς", "ὀδυσσεύσ"),
            ("ὈΔΥΣΣΕΎΣ", "ὀδυσσεύσ"),
            ("ᾼ", "αι"),
            ("J\u{30C}", "ǰ"),
            ("ǰ", "ǰ"),
            ("Ⅻ", "xii"),
            ("Musée d’Orsay", "musée d'orsay"),
            ("Musée d'Orsay", "musée d'orsay"),
            // invisible characters
            ("Lou\u{200B}vre", "louvre"),
            ("\u{FEFF}Louvre", "louvre"),
            ("Lou\u{200D}vre\u{2060}", "louvre"),
            ("\u{202E}Louvre\u{202C}", "louvre"),
            ("\u{2066}Louvre\u{2069}\u{200E}", "louvre"),
            ("Lou\u{AD}vre", "louvre"),
            // articles
            ("The Louvre", "louvre"),
            ("the louvre", "louvre"),
            ("A Streetcar Named Desire", "streetcar named desire"),
            ("An Apple", "apple"),
            ("The", "the"),
            ("Theatre Royal", "theatre royal"),
            ("Anchor Bar", "anchor bar"),
            // numbers and markers are part of the name here
            ("2. Bundesliga", "2. bundesliga"),
            ("Bundesliga", "bundesliga"),
            ("1984", "1984"),
            ("1984.", "1984"),
            ("1.", "1"),
            ("12) Louvre", "12) louvre"),
            ("- Louvre", "- louvre"),
            ("2001: A Space Odyssey", "2001: a space odyssey"),
            ("7-Eleven", "7-eleven"),
            ("-40 degrees", "-40 degrees"),
            // quotes
            ("\"Louvre\"", "louvre"),
            ("'Louvre'", "louvre"),
            ("“Louvre”", "louvre"),
            ("«Louvre»", "louvre"),
            ("Rick’s Café", "rick's café"),
            // markdown emphasis
            ("**Louvre**", "louvre"),
            ("*Louvre*", "louvre"),
            ("__Louvre__", "louvre"),
            ("`Louvre`", "louvre"),
            ("**Louvre** Museum", "louvre museum"),
            ("**The Louvre.**", "louvre"),
            // trailing punctuation
            ("Louvre.", "louvre"),
            ("Louvre!", "louvre"),
            ("Louvre...", "louvre"),
            ("Louvre…", "louvre"),
            ("Louvre;", "louvre"),
            ("Is it art?", "is it art"),
            ("U.S.A.", "u.s.a"),
            // nothing left
            ("", ""),
            ("   ", ""),
            ("**", ""),
            ("\u{200B}", ""),
            (".", ""),
        ];
        for (input, expected) in cases {
            check(input, expected);
        }
    }

    #[test]
    fn reused_buffers_give_the_same_keys() {
        let mut n = Normalizer::default();
        for input in [
            "**The Louvre.**",
            "Ｌｏｕｖｒｅ",
            "Cafe\u{301} de Flore",
            "  Eiffel   Tower  ",
            "Rick’s Café",
            "Straße",
            "",
            "**",
            "The",
        ] {
            assert_eq!(n.key(input), normalize(input), "{input:?}");
            // A key is its own key: keys can be re-keyed.
            let key = normalize(input);
            assert_eq!(n.key(&key), key, "{input:?} re-keyed");
        }
    }

    #[test]
    fn ascii_path_matches_the_unicode_path() {
        // The same text with an invisible character forced through the
        // general path.
        let mut n = Normalizer::default();
        for a in (0u32..0x80).filter_map(char::from_u32) {
            for b in ['x', '*', ' ', '.', 'A'] {
                let s = format!("The Word{a}{b} \"x\"");
                let slow = normalize(&format!("{s}\u{200B}"));
                assert_eq!(n.key(&s), slow, "{s:?}");
            }
        }
    }

    #[test]
    fn equal_keys_hash_equal() {
        assert_eq!(
            key_hash(&normalize("The Louvre.")),
            key_hash(&normalize("louvre"))
        );
        assert_ne!(key_hash("louvre"), key_hash("louvres"));
    }
}
