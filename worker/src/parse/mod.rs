//! Turning a model's answer into candidate items: names, not sentences.
//!
//! Pure. Models answer list prompts in many shapes: numbered or bulleted
//! lists, plain lines, JSON arrays or `{"items": [...]}` objects (what
//! structured output returns), markdown with emphasis and code fences, a
//! preamble ("Here are 20 ...:") and a closing remark. This file finds the
//! lines or strings of an answer; [`name`] takes the name out of each
//! (descriptions, descriptive parentheticals), and [`reject`] drops what is
//! no item at all (the prompt said back, placeholders, sentences, JSON
//! debris). JSON strings and text lines go through the same two steps,
//! because constrained decoding fixes the shape of an answer, not its
//! content. The coordinator normalizes further for dedup but stores the
//! spelling kept here. An answer cut at the output limit loses its last,
//! likely partial, item.

pub mod identity;
pub mod name;
pub mod reject;
pub mod verdicts;

pub use name::MAX_ITEM_CHARS;
pub use reject::{Echoes, Reject};
pub use verdicts::parse_verdicts;

use crate::prompt::Prompt;

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

/// The items of an answer to `prompt`; `truncated` when the model hit its
/// output limit (`finish_reason` `length`), so the last line may be cut
/// short.
pub fn parse_answer(answer: &str, truncated: bool, prompt: &Prompt) -> Vec<String> {
    if !truncated || answer.trim_end_matches([' ', '\t']).ends_with('\n') {
        return parse(answer, prompt);
    }
    let text = strip_fences(&strip_thinking(answer));
    if text.trim_start().starts_with(['[', '{']) {
        // A cut JSON answer is salvaged string by string.
        return parse(&text, prompt);
    }
    match text.rsplit_once('\n') {
        Some((head, _)) => parse(head, prompt),
        None => parse(&text, prompt),
    }
}

/// The items of a complete answer to `prompt`.
pub fn parse(answer: &str, prompt: &Prompt) -> Vec<String> {
    let echoes = Echoes::new(prompt);
    let keep = |raw: &str| {
        let item = name::name(raw, prompt.task)?;
        echoes.reject_in(raw, &item).is_none().then_some(item)
    };
    lines(answer).iter().filter_map(|l| keep(l)).collect()
}

/// The raw items of an answer: JSON strings, or list lines without their
/// markers, before names are taken out of them.
fn lines(answer: &str) -> Vec<String> {
    let text = strip_fences(&strip_thinking(answer));
    if let Some(items) = parse_json(&text).or_else(|| salvage_json(&text)) {
        // A JSON string is a name as given: "2. Bundesliga" is a league,
        // not the second item.
        return items.iter().map(|s| s.trim().to_string()).collect();
    }
    let mut listed = Vec::new();
    let mut plain = Vec::new();
    let lettered = lettered_with_dots(&text);
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || is_rule(line) {
            continue;
        }
        let marked = strip_marker(line).or_else(|| lettered.then(|| dotted_letter(line)).flatten());
        match marked {
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
            return items.into_iter().map(str::to_string).collect();
        }
    }
    let chosen: Vec<&str> = if listed.is_empty() {
        plain.into_iter().filter(|l| !is_chatter(l)).collect()
    } else {
        listed
    };
    chosen.into_iter().map(str::to_string).collect()
}

/// Drops `<think>…</think>` blocks, which reasoning models served by
/// local servers put before the answer; an unclosed block is all thinking.
pub(super) fn strip_thinking(answer: &str) -> String {
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
pub(super) fn strip_fences(answer: &str) -> String {
    answer
        .lines()
        .filter(|l| !l.trim_start().starts_with("```"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A JSON array of strings, or of objects with a `name`/`item`/`title`;
/// or an object holding such an array (`{"items": [...]}`, the shape
/// structured output asks for).
pub(super) fn parse_json(text: &str) -> Option<Vec<String>> {
    let trimmed = text.trim();
    if trimmed.starts_with('{')
        && let Ok(serde_json::Value::Object(map)) = serde_json::from_str(trimmed)
    {
        let array = map
            .get("items")
            .or_else(|| map.values().find(|v| v.is_array()))?;
        return Some(strings(array.as_array()?));
    }
    let start = text.find('[')?;
    let end = text.rfind(']')?;
    if end <= start || !text[..start].trim().is_empty() && !text[..start].trim_end().ends_with(':')
    {
        return None;
    }
    let values: Vec<serde_json::Value> = serde_json::from_str(&text[start..=end]).ok()?;
    Some(strings(&values))
}

fn strings(values: &[serde_json::Value]) -> Vec<String> {
    values
        .iter()
        .filter_map(|v| match v {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Object(map) => ["name", "item", "title"]
                .iter()
                .find_map(|k| map.get(*k).and_then(|v| v.as_str()).map(str::to_string)),
            _ => None,
        })
        .collect()
}

/// The complete strings of a JSON array of strings that was cut short
/// (`["Louvre", "Orsay", "Panth`, or `{"items": ["Louvre", "Or` from
/// structured output): the cut one is dropped.
pub(super) fn salvage_json(text: &str) -> Option<Vec<String>> {
    let text = text.trim_start();
    let body = match text.strip_prefix('{') {
        // `{"items": [` : one key, then the array.
        Some(object) => {
            let (key, array) = object.split_once(':')?;
            let key = key.trim();
            if !(key.starts_with('"') && key.ends_with('"') && key.len() >= 2) {
                return None;
            }
            array.trim_start().strip_prefix('[')?
        }
        None => text.strip_prefix('[')?,
    };
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

/// The text after a list marker (`1.`, `1)`, `(1)`, `-`, `*`, `•`, `+`,
/// or a letter: `A:`, `b)`), or `None` when the line is not a list item.
fn strip_marker(line: &str) -> Option<&str> {
    let first = line.chars().next()?;
    // "A: Feta", "b) Brie"; not "A. J. Foyt", whose initial ends in '.'.
    if first.is_ascii_alphabetic()
        && let Some(rest) = line[1..].strip_prefix([':', ')'])
    {
        return rest
            .starts_with(char::is_whitespace)
            .then(|| rest.trim_start());
    }
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

/// The text after a letter and a period ("B. Australia"), which is a list
/// marker only in an answer whose lines are lettered so (see
/// [`lettered_with_dots`]); elsewhere it is an initial ("A. Lincoln").
fn dotted_letter(line: &str) -> Option<&str> {
    let first = line.chars().next()?;
    let rest = line[first.len_utf8()..].strip_prefix('.')?;
    (first.is_ascii_alphabetic() && rest.starts_with(char::is_whitespace))
        .then(|| rest.trim_start())
}

/// Whether the answer letters its list "A.", "B.", "C.", ...: at least
/// three lines start with a letter and a period, and their letters run
/// from A (or a) without a gap. Initials in names never run so.
fn lettered_with_dots(text: &str) -> bool {
    let letters: Vec<u8> = text
        .lines()
        .map(str::trim)
        .filter(|l| dotted_letter(l).is_some())
        .map(|l| l.as_bytes()[0])
        .collect();
    letters.len() >= 3
        && (letters[0] == b'A' || letters[0] == b'a')
        && letters.windows(2).all(|w| w[1] == w[0] + 1)
}

fn is_chatter(line: &str) -> bool {
    let lower = line.to_lowercase();
    line.ends_with(':')
        || CHATTER.iter().any(|p| lower.starts_with(p))
        || line.split_whitespace().count() > 14
        || (line.ends_with(['.', '!', '?']) && line.split_whitespace().count() > 6)
}

#[cfg(test)]
mod answers;
#[cfg(test)]
mod tests;
