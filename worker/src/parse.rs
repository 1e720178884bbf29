//! Turning a model's answer into candidate items.
//!
//! Pure. Models answer list prompts in many shapes: numbered or bulleted
//! lists, plain lines, JSON arrays, markdown with emphasis and code fences,
//! a preamble ("Here are 20 ...:") and a closing remark, "Name - description"
//! lines. The parser keeps the names and drops the rest; the coordinator
//! normalizes further for dedup but stores the spelling kept here.

/// Longest item kept, in characters.
pub const MAX_ITEM_CHARS: usize = 200;

/// Phrases that mark a line as the model talking rather than an item.
const CHATTER: &[&str] = &[
    "here are",
    "here is",
    "here's",
    "i hope",
    "hope this",
    "let me know",
    "feel free",
    "certainly",
    "sure!",
    "sure,",
    "of course",
    "i can",
    "i've",
    "i have",
    "these are",
    "note:",
    "note that",
    "in summary",
];

pub fn parse(answer: &str) -> Vec<String> {
    let text = strip_fences(answer);
    if let Some(items) = parse_json(&text) {
        return items.into_iter().filter_map(|s| clean(&s)).collect();
    }
    let mut listed = Vec::new();
    let mut plain = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || is_rule(line) {
            continue;
        }
        match strip_marker(line) {
            Some(rest) => listed.push(rest),
            None => plain.push(line),
        }
    }
    let chosen = if listed.is_empty() {
        plain.into_iter().filter(|l| !is_chatter(l)).collect()
    } else {
        listed
    };
    chosen.into_iter().filter_map(clean).collect()
}

/// Drops code-fence lines (```` ``` ```` or ```` ```json ````), keeping their content.
fn strip_fences(answer: &str) -> String {
    answer
        .lines()
        .filter(|l| !l.trim_start().starts_with("```"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A JSON array of strings, or of objects with a `name`/`item`/`title`.
fn parse_json(text: &str) -> Option<Vec<String>> {
    let start = text.find('[')?;
    let end = text.rfind(']')?;
    if end <= start || !text[..start].trim().is_empty() && !text[..start].trim_end().ends_with(':') {
        return None;
    }
    let values: Vec<serde_json::Value> = serde_json::from_str(&text[start..=end]).ok()?;
    let items = values
        .into_iter()
        .filter_map(|v| match v {
            serde_json::Value::String(s) => Some(s),
            serde_json::Value::Object(map) => ["name", "item", "title"]
                .iter()
                .find_map(|k| map.get(*k).and_then(|v| v.as_str()).map(str::to_string)),
            _ => None,
        })
        .collect();
    Some(items)
}

fn is_rule(line: &str) -> bool {
    line.len() >= 3 && line.chars().all(|c| matches!(c, '-' | '*' | '_' | '=' | ' '))
}

/// The text after a list marker (`1.`, `1)`, `(1)`, `-`, `*`, `•`, `+`),
/// or `None` when the line is not a list item.
fn strip_marker(line: &str) -> Option<&str> {
    let first = line.chars().next()?;
    if matches!(first, '-' | '*' | '•' | '+' | '·' | '–' | '—' | '▪' | '◦') {
        let rest = &line[first.len_utf8()..];
        // "**Louvre**" starts with '*' but is emphasis, not a bullet.
        return rest
            .starts_with(char::is_whitespace)
            .then(|| rest.trim_start());
    }
    let body = line.strip_prefix('(').unwrap_or(line);
    let digits = body.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits > 4 {
        return None;
    }
    let rest = body[digits..].strip_prefix(['.', ')'])?;
    rest.starts_with(char::is_whitespace)
        .then(|| rest.trim_start())
}

fn is_chatter(line: &str) -> bool {
    let lower = line.to_lowercase();
    line.ends_with(':')
        || CHATTER.iter().any(|p| lower.starts_with(p))
        || line.split_whitespace().count() > 14
        || (line.ends_with(['.', '!', '?']) && line.split_whitespace().count() > 6)
}

/// Emphasis, wrapping quotes and a trailing description removed.
fn clean(item: &str) -> Option<String> {
    let mut s = item.trim().to_string();
    // "**Louvre** - the world's largest museum": cut the description first,
    // so emphasis around the name alone is recognised. A description starts
    // lower-case or runs long; "2001: A Space Odyssey" is a name.
    for sep in [" - ", " – ", " — ", ": "] {
        if let Some((name, rest)) = s.split_once(sep) {
            let name = name.trim();
            let describes = rest.trim_start().starts_with(char::is_lowercase)
                || rest.split_whitespace().count() > 4;
            if describes && !name.is_empty() && name.split_whitespace().count() <= 10 {
                s = name.to_string();
                break;
            }
        }
    }
    s = s.replace("**", "").replace("__", "").replace('`', "");
    let s = s
        .trim()
        .trim_matches(|c| matches!(c, '"' | '“' | '”' | '*' | '_'))
        .trim_end_matches([',', ';'])
        .trim();
    let s = match (s.starts_with('\''), s.ends_with('\'')) {
        (true, true) if s.len() > 1 => s[1..s.len() - 1].trim(),
        _ => s,
    };
    let valid = !s.is_empty()
        && s.chars().count() <= MAX_ITEM_CHARS
        && !s.chars().any(char::is_control);
    valid.then(|| s.split_whitespace().collect::<Vec<_>>().join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(answer: &str, expected: &[&str]) {
        assert_eq!(parse(answer), expected, "answer:\n{answer}");
    }

    #[test]
    fn answer_shapes() {
        check("1. Louvre\n2. Eiffel Tower\n3. Notre-Dame", &["Louvre", "Eiffel Tower", "Notre-Dame"]);
        check("1) Louvre\n2) Orsay", &["Louvre", "Orsay"]);
        check("(1) Louvre\n(2) Orsay", &["Louvre", "Orsay"]);
        check("- Louvre\n- Orsay", &["Louvre", "Orsay"]);
        check("* Louvre\n* Orsay", &["Louvre", "Orsay"]);
        check("• Louvre\n• Orsay", &["Louvre", "Orsay"]);
        check("Louvre\nOrsay\nPantheon", &["Louvre", "Orsay", "Pantheon"]);
        check(
            "Here are 3 Paris attractions:\n\n1. Louvre\n2. Orsay\n3. Pantheon\n\nLet me know if you want more!",
            &["Louvre", "Orsay", "Pantheon"],
        );
        check("1. **Louvre**\n2. **Musée d'Orsay**", &["Louvre", "Musée d'Orsay"]);
        check(
            "1. **Louvre** - the world's most visited museum\n2. Orsay – impressionists",
            &["Louvre", "Orsay"],
        );
        check("1. Louvre: a museum\n2. Orsay: another one", &["Louvre", "Orsay"]);
        check("```\n1. Louvre\n2. Orsay\n```", &["Louvre", "Orsay"]);
        check(r#"["Louvre", "Orsay"]"#, &["Louvre", "Orsay"]);
        check("```json\n[\"Louvre\", \"Orsay\"]\n```", &["Louvre", "Orsay"]);
        check(r#"[{"name":"Louvre"},{"name":"Orsay"}]"#, &["Louvre", "Orsay"]);
        check("1. \"Louvre\"\n2. 'Orsay'", &["Louvre", "Orsay"]);
        check("## Museums\n- Louvre\n## Parks\n- Tuileries", &["Louvre", "Tuileries"]);
        check(
            "Sure! Here is a list of Paris attractions you might enjoy:\nLouvre\nOrsay",
            &["Louvre", "Orsay"],
        );
        check("1. Louvre\n\n\n2. Orsay\n", &["Louvre", "Orsay"]);
        check("1. Louvre\n2.\n3. Orsay", &["Louvre", "Orsay"]);
        check("", &[]);
        check("I'm sorry, but I can't help with that request because it is unclear.", &[]);
        check("1. <script>alert(1)</script>", &["<script>alert(1)</script>"]);
        check("1. 2001: A Space Odyssey", &["2001: A Space Odyssey"]);
        check(
            "1. Louvre - The Largest Art Museum In The World\n2. Spider-Man - Far From Home",
            &["Louvre", "Spider-Man - Far From Home"],
        );
        check("-40 degrees\n-30 degrees", &["-40 degrees", "-30 degrees"]);
        check("---\n1. Louvre\n---", &["Louvre"]);
    }

    #[test]
    fn drops_unusable_lines() {
        let long = "x".repeat(MAX_ITEM_CHARS + 1);
        check(&format!("1. {long}\n2. Orsay"), &["Orsay"]);
        check("1. a\u{7}b\n2. Orsay", &["Orsay"]);
    }
}
