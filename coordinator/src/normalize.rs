//! The normalized key that decides when two candidates are the same item.
//!
//! Unicode NFKC, case-folded, whitespace collapsed; list markers, quotes,
//! markdown emphasis and trailing punctuation removed; a leading English
//! article dropped. "1. **The Louvre.**" and "louvre" share the key
//! `louvre`. The key is then hashed to 128 bits ([`key_hash`]) so the
//! seen-set stores fixed-size values, not strings.

use std::cell::RefCell;

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

/// Bullet glyphs that start a list line.
fn is_bullet(c: char) -> bool {
    matches!(
        c,
        '-' | '*' | '+' | '•' | '·' | '◦' | '▪' | '‣' | '–' | '—' | '→' | '>'
    )
}

/// Removes one leading list marker: `- `, `• `, `12. `, `3) `, `(4) `, `#5 `.
fn strip_list_marker(s: &str) -> &str {
    let mut chars = s.char_indices();
    let Some((_, first)) = chars.next() else {
        return s;
    };
    if is_bullet(first) {
        let rest = &s[first.len_utf8()..];
        // "-40" is not a marker: a marker stands alone or before a space.
        if rest.is_empty() || rest.starts_with(char::is_whitespace) {
            return rest.trim_start();
        }
        return s;
    }
    let (open, body) = match first {
        '(' => (true, &s[1..]),
        '#' => (false, &s[1..]),
        _ => (false, s),
    };
    let digits = body.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits > 4 {
        return s;
    }
    let after = &body[digits..];
    let after = if open {
        match after.strip_prefix(')') {
            Some(a) => a,
            None => return s,
        }
    } else if first == '#' {
        after
    } else {
        match after.strip_prefix(['.', ')']) {
            Some(a) => a,
            None => return s,
        }
    };
    if after.is_empty() || after.starts_with(char::is_whitespace) {
        after.trim_start()
    } else {
        s
    }
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

/// The normalized key of a candidate; empty when nothing is left.
pub fn normalize(raw: &str) -> String {
    // Callers all over normalize one string at a time: reuse one set of
    // buffers per thread, so each call allocates only the key it returns.
    thread_local! {
        static NORMALIZER: RefCell<Normalizer> = RefCell::new(Normalizer::default());
    }
    NORMALIZER.with_borrow_mut(|n| n.key(raw).to_string())
}

/// Normalizes many candidates with two reused buffers, so the hot path
/// (every candidate of every batch) allocates nothing once warm. Pure ASCII
/// candidates, the common case, skip Unicode normalization: ASCII text is
/// already in NFKC and lowercases byte by byte.
#[derive(Debug, Default)]
pub struct Normalizer {
    folded: String,
    out: String,
}

impl Normalizer {
    /// The normalized key of `raw` (as [`normalize`]), valid until the next call.
    pub fn key(&mut self, raw: &str) -> &str {
        // ASCII and Latin-1 text is NFKC already and holds no whitespace
        // beyond ASCII's: it folds byte by byte.
        let bytewise = raw.is_ascii() || raw.chars().all(is_latin1_letter_or_ascii);
        let mut regular_spaces = false;
        if bytewise {
            let (marks, irregular) = scan_ascii(raw.as_bytes());
            self.folded.clear();
            if raw.is_ascii() {
                // Copied, then lowercased in place: no UTF-8 check needed.
                self.folded.push_str(raw);
                self.folded.make_ascii_lowercase();
            } else {
                // Byte by byte: lowercasing ASCII bytes and moving `C3 80`..
                // `C3 9E` up by 0x20 keep UTF-8 valid.
                let mut bytes = std::mem::take(&mut self.folded).into_bytes();
                bytes.extend(raw.bytes().map(|b| b.to_ascii_lowercase()));
                lowercase_latin1(&mut bytes);
                self.folded = String::from_utf8(bytes)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
            }
            if marks {
                // Inner emphasis ("**Louvre** Museum") must not split one
                // item into two keys.
                self.folded.retain(|c| !matches!(c, '*' | '`'));
            }
            regular_spaces = !marks && !irregular;
        } else {
            self.folded.clear();
            let fold = |c: char| c.to_lowercase().filter_map(clean);
            if unicode_normalization::is_nfkc_quick(raw.chars())
                == unicode_normalization::IsNormalized::Yes
            {
                self.folded.extend(raw.chars().flat_map(fold));
            } else {
                self.folded.extend(raw.nfkc().flat_map(fold));
            }
        }

        let mut s = self.folded.trim();
        loop {
            let before = s;
            s = strip_list_marker(s);
            s = s.trim_matches(|c: char| is_wrapper(c) || c.is_whitespace());
            s = s.trim_end_matches(|c: char| is_trailing_punct(c) || c.is_whitespace());
            // Only ever shrinks: an unchanged length is an unchanged slice.
            if s.len() == before.len() {
                break;
            }
        }
        let s = strip_article(s);
        if bytewise && (regular_spaces || !needs_collapse_ascii(s)) {
            // Already the key: hand out the slice, no copy.
            let start = s.as_ptr() as usize - self.folded.as_ptr() as usize;
            return &self.folded[start..start + s.len()];
        }

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

/// Whether `s` (trimmed, with ASCII whitespace only) holds whitespace other
/// than single spaces.
fn needs_collapse_ascii(s: &str) -> bool {
    let mut previous_space = false;
    for &b in s.as_bytes() {
        match b {
            b' ' if previous_space => return true,
            b' ' => previous_space = true,
            b'\t'..=b'\r' => return true,
            _ => previous_space = false,
        }
    }
    false
}

/// Whether `raw` holds emphasis marks to drop, and whitespace other than
/// single spaces; one pass that the compiler can vectorize.
fn scan_ascii(raw: &[u8]) -> (bool, bool) {
    let marks = raw
        .iter()
        .fold(false, |acc, &b| acc | (b == b'*') | (b == b'`'));
    let controls = raw
        .iter()
        .fold(false, |acc, &b| acc | (b.wrapping_sub(b'\t') < 5));
    let next = raw.get(1..).unwrap_or_default();
    let doubled = raw
        .iter()
        .zip(next)
        .fold(false, |acc, (&a, &b)| acc | ((a == b' ') & (b == b' ')));
    (marks, controls | doubled)
}

/// Lowercases `À`..=`Þ` (but `×`) in UTF-8 text made of ASCII and
/// U+00C0..=U+00FF: `C3 80`..=`C3 9E` become `C3 A0`..=`C3 BE`.
fn lowercase_latin1(bytes: &mut [u8]) {
    for i in 1..bytes.len() {
        if bytes[i - 1] == 0xC3 && (0x80..=0x9E).contains(&bytes[i]) && bytes[i] != 0x97 {
            bytes[i] += 0x20;
        }
    }
}

/// ASCII, or U+00C0..=U+00FF (Latin-1 letters, `×`, `÷`): characters that
/// NFKC leaves alone and that compose with nothing in such a string.
fn is_latin1_letter_or_ascii(c: char) -> bool {
    c.is_ascii() || ('\u{C0}'..='\u{FF}').contains(&c)
}

/// Drops emphasis markers and makes typographic apostrophes plain
/// ("Rick’s" = "Rick's").
fn clean(c: char) -> Option<char> {
    match c {
        '*' | '`' => None,
        '‘' | '’' | 'ʼ' | '′' => Some('\''),
        c => Some(c),
    }
}

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
            // Unicode: NFKC and case folding
            ("Ｌｏｕｖｒｅ", "louvre"),
            ("Cafe\u{301} de Flore", "café de flore"),
            ("Café de Flore", "café de flore"),
            ("ﬁne dining", "fine dining"),
            ("Straße", "straße"),
            ("ΑΘΗΝΑ", "αθηνα"),
            ("Musée d’Orsay", "musée d'orsay"),
            ("Musée d'Orsay", "musée d'orsay"),
            // articles
            ("The Louvre", "louvre"),
            ("the louvre", "louvre"),
            ("A Streetcar Named Desire", "streetcar named desire"),
            ("An Apple", "apple"),
            ("The", "the"),
            ("Theatre Royal", "theatre royal"),
            ("Anchor Bar", "anchor bar"),
            // list markers
            ("1. Louvre", "louvre"),
            ("12) Louvre", "louvre"),
            ("(3) Louvre", "louvre"),
            ("- Louvre", "louvre"),
            ("* Louvre", "louvre"),
            ("• Louvre", "louvre"),
            ("+ Louvre", "louvre"),
            ("#4 Louvre", "louvre"),
            ("1. - Louvre", "louvre"),
            ("1984", "1984"),
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
            ("1. **The Louvre.**", "louvre"),
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
            ("1.", ""),
            ("- ", ""),
        ];
        assert!(cases.len() >= 40);
        for (input, expected) in cases {
            check(input, expected);
        }
    }

    #[test]
    fn reused_buffers_give_the_same_keys() {
        let mut n = Normalizer::default();
        for input in [
            "1. **The Louvre.**",
            "Ｌｏｕｖｒｅ",
            "Cafe\u{301} de Flore",
            "  Eiffel   Tower  ",
            "Rick’s Café",
            "",
            "**",
            "The",
        ] {
            let slow: String = input.nfkc().flat_map(char::to_lowercase).collect();
            assert_eq!(n.key(input), normalize(input), "{input:?}");
            assert_eq!(n.key(&slow), normalize(input), "{input:?} folded first");
        }
    }

    #[test]
    fn fast_paths_match_unicode_normalization() {
        let slow = |s: &str| -> String {
            let folded: String = s
                .nfkc()
                .flat_map(char::to_lowercase)
                .filter_map(clean)
                .collect();
            let mut n = Normalizer::default();
            // Not ASCII, not Latin-1 only: the general path.
            n.key(&format!("{folded}\u{3000}")).to_string()
        };
        let mut n = Normalizer::default();
        for a in (0u32..0x250).filter_map(char::from_u32) {
            for b in ['x', 'É', '\u{301}', 'ß', '*'] {
                let s = format!("Word{a}{b}");
                assert_eq!(n.key(&s), slow(&s), "{s:?}");
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
