//! Turning a model's answer into candidate items.
//!
//! Pure. Models answer list prompts in many shapes: numbered or bulleted
//! lists, plain lines, JSON arrays, markdown with emphasis and code fences,
//! a preamble ("Here are 20 ...:") and a closing remark, "Name - description"
//! lines. The parser keeps the names and drops the rest; the coordinator
//! normalizes further for dedup but stores the spelling kept here. An
//! answer cut at the output limit loses its last, likely partial, item.

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

/// The items of an answer; `truncated` when the model hit its output
/// limit (`finish_reason` `length`), so the last line may be cut short.
pub fn parse_answer(answer: &str, truncated: bool) -> Vec<String> {
    if !truncated || answer.trim_end_matches([' ', '\t']).ends_with('\n') {
        return parse(answer);
    }
    let text = strip_fences(&strip_thinking(answer));
    if text.trim_start().starts_with('[') {
        // A cut JSON array is salvaged string by string.
        return parse(&text);
    }
    match text.rsplit_once('\n') {
        Some((head, _)) => parse(head),
        None => parse(&text),
    }
}

pub fn parse(answer: &str) -> Vec<String> {
    let text = strip_fences(&strip_thinking(answer));
    if let Some(items) = parse_json(&text) {
        return items.into_iter().filter_map(|s| clean(&s)).collect();
    }
    if let Some(items) = salvage_json(&text) {
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
    if listed.is_empty() {
        // One line under a preamble may hold the whole list inline.
        let body: Vec<&str> = plain
            .iter()
            .copied()
            .filter(|l| !l.ends_with(':'))
            .collect();
        if let [line] = body[..]
            && let Some(items) = split_inline_list(line)
        {
            return items.into_iter().filter_map(clean).collect();
        }
    }
    let chosen: Vec<&str> = if listed.is_empty() {
        plain.into_iter().filter(|l| !is_chatter(l)).collect()
    } else {
        listed
    };
    chosen.into_iter().filter_map(clean).collect()
}

/// Drops `<think>…</think>` blocks, which reasoning models served by
/// local servers put before the answer; an unclosed block is all thinking.
fn strip_thinking(answer: &str) -> String {
    let mut out = String::new();
    let mut rest = answer;
    while let Some(start) = rest.find("<think>") {
        out.push_str(&rest[..start]);
        match rest[start..].find("</think>") {
            Some(end) => rest = &rest[start + end + "</think>".len()..],
            None => return out,
        }
    }
    out.push_str(rest);
    out
}

/// A whole answer on one line, comma- or semicolon-separated, when every
/// part is short enough to be a name ("Louvre, Orsay, Pantheon").
fn split_inline_list(line: &str) -> Option<Vec<&str>> {
    let lower = line.to_lowercase();
    if CHATTER.iter().any(|p| lower.starts_with(p)) {
        return None;
    }
    let sep = if line.contains(';') { ';' } else { ',' };
    let parts: Vec<&str> = line
        .trim_end_matches('.')
        .split(sep)
        .map(|p| p.trim().trim_start_matches("and ").trim())
        .filter(|p| !p.is_empty())
        .collect();
    (parts.len() >= 3 && parts.iter().all(|p| p.split_whitespace().count() <= 6)).then_some(parts)
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
    if end <= start || !text[..start].trim().is_empty() && !text[..start].trim_end().ends_with(':')
    {
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

/// The complete strings of a JSON array of strings that was cut short
/// (`["Louvre", "Orsay", "Panth`): the cut one is dropped.
fn salvage_json(text: &str) -> Option<Vec<String>> {
    let body = text.trim_start().strip_prefix('[')?;
    if !body.trim_start().starts_with('"') {
        return None;
    }
    let mut items = Vec::new();
    let mut rest = body;
    loop {
        rest = rest.trim_start().trim_start_matches(',').trim_start();
        let Some(after) = rest.strip_prefix('"') else {
            break;
        };
        // A string literal ends at the first quote not escaped.
        let mut end = None;
        let mut escaped = false;
        for (i, c) in after.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => {
                    end = Some(i);
                    break;
                }
                _ => {}
            }
        }
        let Some(end) = end else { break };
        let literal = &rest[..end + 2];
        items.push(serde_json::from_str::<String>(literal).ok()?);
        rest = &after[end + 1..];
    }
    Some(items)
}

fn is_rule(line: &str) -> bool {
    line.len() >= 3
        && line
            .chars()
            .all(|c| matches!(c, '-' | '*' | '_' | '=' | ' '))
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
    // `1\.` is markdown-escaped numbering.
    let after = &body[digits..];
    let rest = after
        .strip_prefix('\\')
        .unwrap_or(after)
        .strip_prefix(['.', ')'])?;
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
    // A markdown link: keep its text.
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
    let s = match (s.starts_with('\''), s.ends_with('\'')) {
        (true, true) if s.len() > 1 => s[1..s.len() - 1].trim(),
        _ => s,
    };
    let valid =
        !s.is_empty() && s.chars().count() <= MAX_ITEM_CHARS && !s.chars().any(char::is_control);
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
        check(
            "1. Louvre\n2. Eiffel Tower\n3. Notre-Dame",
            &["Louvre", "Eiffel Tower", "Notre-Dame"],
        );
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
        check(
            "1. **Louvre**\n2. **Musée d'Orsay**",
            &["Louvre", "Musée d'Orsay"],
        );
        check(
            "1. **Louvre** - the world's most visited museum\n2. Orsay – impressionists",
            &["Louvre", "Orsay"],
        );
        check(
            "1. Louvre: a museum\n2. Orsay: another one",
            &["Louvre", "Orsay"],
        );
        check("```\n1. Louvre\n2. Orsay\n```", &["Louvre", "Orsay"]);
        check(r#"["Louvre", "Orsay"]"#, &["Louvre", "Orsay"]);
        check(
            "```json\n[\"Louvre\", \"Orsay\"]\n```",
            &["Louvre", "Orsay"],
        );
        check(
            r#"[{"name":"Louvre"},{"name":"Orsay"}]"#,
            &["Louvre", "Orsay"],
        );
        check("1. \"Louvre\"\n2. 'Orsay'", &["Louvre", "Orsay"]);
        check(
            "## Museums\n- Louvre\n## Parks\n- Tuileries",
            &["Louvre", "Tuileries"],
        );
        check(
            "Sure! Here is a list of Paris attractions you might enjoy:\nLouvre\nOrsay",
            &["Louvre", "Orsay"],
        );
        check("1. Louvre\n\n\n2. Orsay\n", &["Louvre", "Orsay"]);
        check("1. Louvre\n2.\n3. Orsay", &["Louvre", "Orsay"]);
        check("", &[]);
        check(
            "I'm sorry, but I can't help with that request because it is unclear.",
            &[],
        );
        check(
            "1. <script>alert(1)</script>",
            &["<script>alert(1)</script>"],
        );
        check("1. 2001: A Space Odyssey", &["2001: A Space Odyssey"]);
        check(
            "1. Louvre - The Largest Art Museum In The World\n2. Spider-Man - Far From Home",
            &["Louvre", "Spider-Man - Far From Home"],
        );
        check("-40 degrees\n-30 degrees", &["-40 degrees", "-30 degrees"]);
        check("---\n1. Louvre\n---", &["Louvre"]);
        check(
            "1. **Louvre Museum**: The world's largest art museum and a historic monument.\n2. **Sainte-Chapelle**: Gothic chapel with stained glass.",
            &["Louvre Museum", "Sainte-Chapelle"],
        );
        check("1. Louvre\r\n2. Orsay\r\n", &["Louvre", "Orsay"]);
        check("1. “Louvre”\n2. “Orsay”", &["Louvre", "Orsay"]);
        check(
            "• **Louvre** – home of the Mona Lisa\n• **Orsay** — impressionists",
            &["Louvre", "Orsay"],
        );
        check(
            "9. Louvre\n10. Orsay\n11. Pantheon",
            &["Louvre", "Orsay", "Pantheon"],
        );
        check(r#"{"items": ["Louvre", "Orsay"]}"#, &["Louvre", "Orsay"]);
        check(
            r#"[{"name":"Louvre","description":"museum"},{"name":"Orsay","description":"museum"}]"#,
            &["Louvre", "Orsay"],
        );
        check(
            "```text\n- Louvre\n- Orsay\n```\nEnjoy your trip!",
            &["Louvre", "Orsay"],
        );
        check(
            "1. Louvre\n2. Orsay\n\nI hope this helps!",
            &["Louvre", "Orsay"],
        );
        check(
            "Certainly! Here are 3 rare cheeses:\nBleu de Termignon\nCasu Marzu\nPule",
            &["Bleu de Termignon", "Casu Marzu", "Pule"],
        );
        check("1. Louvre,\n2. Orsay;", &["Louvre", "Orsay"]);
        check(
            "1. **Amélie** (2001)\n2. **Léon** (1994)",
            &["Amélie (2001)", "Léon (1994)"],
        );
        check("  1. Louvre\n  2. Orsay", &["Louvre", "Orsay"]);
        check("- \n- Louvre\n-", &["Louvre"]);
        check(
            "1. Louvre\n2. Orsay\n\nNote: opening hours vary by season.",
            &["Louvre", "Orsay"],
        );
        check("1\\. Louvre\n2\\. Orsay", &["Louvre", "Orsay"]);
        check(
            "<think>\nThe user wants museums. Let me list some.\n</think>\n\n1. Louvre\n2. Orsay",
            &["Louvre", "Orsay"],
        );
        check("<think>\nStill thinking about 1. Louvre", &[]);
        check(
            "Louvre, Musée d'Orsay, Centre Pompidou, and Musée Rodin.",
            &["Louvre", "Musée d'Orsay", "Centre Pompidou", "Musée Rodin"],
        );
        check("Louvre; Orsay; Pantheon", &["Louvre", "Orsay", "Pantheon"]);
        check("Paris, Texas", &["Paris, Texas"]);
        check(
            "1. [Louvre](https://www.louvre.fr)\n2. [Orsay](https://www.musee-orsay.fr)",
            &["Louvre", "Orsay"],
        );
        check(
            "### Museums\n1. Louvre\n### Parks\n2. Parc Monceau",
            &["Louvre", "Parc Monceau"],
        );
        check(
            "**Here are some museums:**\n\n* Louvre\n* Orsay",
            &["Louvre", "Orsay"],
        );
    }

    #[test]
    fn truncated_answers_lose_their_cut_item() {
        let cut = |a: &str, expected: &[&str]| assert_eq!(parse_answer(a, true), expected, "{a}");
        cut("1. Louvre\n2. Orsay\n3. Panth", &["Louvre", "Orsay"]);
        cut("1. Louvre\n2. Orsay\n", &["Louvre", "Orsay"]);
        cut(r#"["Louvre", "Orsay", "Panth"#, &["Louvre", "Orsay"]);
        cut(
            r#"```json
["Louvre", "Or\"say", "Panth"#,
            &["Louvre", "Or\"say"],
        );
        assert_eq!(
            parse_answer("1. Louvre\n2. Orsay", false),
            ["Louvre", "Orsay"]
        );
    }

    #[test]
    fn drops_unusable_lines() {
        let long = "x".repeat(MAX_ITEM_CHARS + 1);
        check(&format!("1. {long}\n2. Orsay"), &["Orsay"]);
        check("1. a\u{7}b\n2. Orsay", &["Orsay"]);
    }
}
