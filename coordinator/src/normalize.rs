//! The normalized key that decides when two candidates are the same item.
//!
//! Unicode NFKC, case-folded, whitespace collapsed; list markers, quotes,
//! markdown emphasis and trailing punctuation removed; a leading English
//! article dropped. "1. **The Louvre.**" and "louvre" share the key
//! `louvre`. The key is then hashed to 128 bits ([`key_hash`]) so the
//! seen-set stores fixed-size values, not strings.

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
    let folded: String = raw.nfkc().flat_map(char::to_lowercase).collect();
    // Inner emphasis ("**Louvre** Museum") and typographic apostrophes
    // ("Rick’s") must not split one item into two keys.
    let cleaned: String = folded
        .chars()
        .filter(|c| !matches!(c, '*' | '`'))
        .map(|c| match c {
            '‘' | '’' | 'ʼ' | '′' => '\'',
            c => c,
        })
        .collect();

    let mut s = cleaned.trim();
    loop {
        let before = s;
        s = strip_list_marker(s);
        s = s.trim_matches(|c: char| is_wrapper(c) || c.is_whitespace());
        s = s.trim_end_matches(|c: char| is_trailing_punct(c) || c.is_whitespace());
        if s == before {
            break;
        }
    }
    let s = strip_article(s);

    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
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
    fn equal_keys_hash_equal() {
        assert_eq!(
            key_hash(&normalize("The Louvre.")),
            key_hash(&normalize("louvre"))
        );
        assert_ne!(key_hash("louvre"), key_hash("louvres"));
    }
}
