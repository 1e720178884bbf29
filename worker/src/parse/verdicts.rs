//! A judge's answer: one label per item asked about.
//!
//! Pure. The judge prompt (`prompt::judge`) numbers the items and asks for
//! "member", "other", "invented" or "unsure" after each number, or, in
//! structured mode, for `{"verdicts": [{"item": ..., "label": ...}]}`.
//! Models also answer "yes"/"no", repeat the item before the label ("3.
//! Brie - member"), answer in order without numbers, or return the labels
//! alone as `{"items": [...]}`. An item the answer does not label is
//! `Unsure`: a verdict is never guessed.

use igentai_protocol::Answer;

use super::{parse_json, salvage_json, strip_fences, strip_thinking};

/// The answers about `items` (numbered from 1 in the prompt), in order.
pub fn parse_verdicts(answer: &str, items: &[String]) -> Vec<Answer> {
    let count = items.len();
    let text = strip_fences(&strip_thinking(answer));
    if let Some(verdicts) = by_item(&text, items) {
        return verdicts;
    }
    let mut out = vec![Answer::Unsure; count];
    if let Some(labels) = parse_json(&text).or_else(|| salvage_json(&text)) {
        for (slot, label) in out.iter_mut().zip(&labels) {
            *slot = label_in(label).unwrap_or(Answer::Unsure);
        }
        return out;
    }
    let mut labelled = vec![false; count];
    let mut next = 0usize;
    for line in text.lines() {
        let line = line.trim().trim_start_matches(['-', '*', '•', ' ']);
        let (number, rest) = leading_number(line);
        let Some(answer) = label_in(rest) else {
            continue;
        };
        let index = match number {
            Some(n) if (1..=count).contains(&n) => n - 1,
            Some(_) => continue,
            None => next,
        };
        if index < count && !labelled[index] {
            out[index] = answer;
            labelled[index] = true;
        }
        next = index + 1;
    }
    out
}

/// The structured answer `{"verdicts": [{"item": ..., "label": ...}]}`,
/// each label given to the item its entry names (the first entry naming
/// an item counts; an entry naming none asked about is dropped); `None`
/// when the answer is not of that shape.
fn by_item(text: &str, items: &[String]) -> Option<Vec<Answer>> {
    let value: serde_json::Value = serde_json::from_str(text.trim()).ok()?;
    let entries = value.get("verdicts")?.as_array()?;
    let mut out = vec![Answer::Unsure; items.len()];
    let mut labelled = vec![false; items.len()];
    for entry in entries {
        let (Some(item), Some(label)) = (
            entry.get("item").and_then(|v| v.as_str()),
            entry.get("label").and_then(|v| v.as_str()),
        ) else {
            continue;
        };
        let item = item.trim();
        let Some(index) = (0..items.len())
            .find(|&i| !labelled[i] && items[i] == item)
            .or_else(|| {
                (0..items.len()).find(|&i| !labelled[i] && items[i].eq_ignore_ascii_case(item))
            })
        else {
            continue;
        };
        labelled[index] = true;
        out[index] = label_word(label).unwrap_or(Answer::Unsure);
    }
    Some(out)
}

/// A structured answer's label: the whole string is the label word.
fn label_word(label: &str) -> Option<Answer> {
    let word = label.trim().to_ascii_lowercase();
    if word.contains(char::is_whitespace) {
        return None;
    }
    label_in(&word)
}

/// The line's leading item number ("3.", "3)", "3:", "**3.**") and the rest.
fn leading_number(line: &str) -> (Option<usize>, &str) {
    let body = line.trim_start_matches(['*', '#', ' ']);
    let digits = body.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits > 4 {
        return (None, line);
    }
    let rest = &body[digits..];
    if !rest.starts_with(['.', ')', ':', ' ', '*', '-']) {
        return (None, line);
    }
    (body[..digits].parse().ok(), rest)
}

/// The label a line ends with (or holds alone): the last label word in it,
/// so an item named "Yes Minister" still reads by its label after it.
fn label_in(text: &str) -> Option<Answer> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .filter_map(|w| match w.to_ascii_lowercase().as_str() {
            "member" | "yes" | "valid" | "real" => Some(Answer::Yes),
            "other" | "invented" | "no" | "invalid" | "fake" | "fictional" | "fictitious" => {
                Some(Answer::No)
            }
            "unsure" | "unknown" => Some(Answer::Unsure),
            _ => None,
        })
        .next_back()
}

#[cfg(test)]
mod tests {
    use super::*;
    use Answer::{No, Unsure, Yes};

    /// `count` items, named by their number.
    fn items(count: usize) -> Vec<String> {
        (1..=count).map(|n| format!("item {n}")).collect()
    }

    fn names(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn structured_verdicts_go_to_the_items_they_name() {
        let asked = names(&["Ohio", "Moon Cheese", "Brie", "Texas"]);
        // Out of order, one in another case, one repeated (the first
        // counts), one not asked about, one missing.
        let answer = r#"{"verdicts": [
            {"item": "Brie", "label": "member"},
            {"item": "ohio", "label": "member"},
            {"item": "Moon Cheese", "label": "invented"},
            {"item": "Brie", "label": "other"},
            {"item": "Atlantis", "label": "member"}
        ]}"#;
        assert_eq!(parse_verdicts(answer, &asked), [Yes, No, Yes, Unsure]);
    }

    #[test]
    fn a_structured_label_is_one_word() {
        let asked = names(&["A", "B", "C"]);
        let answer = r#"{"verdicts": [
            {"item": "A", "label": " Member "},
            {"item": "B", "label": "member or other"},
            {"item": "C", "label": 3}
        ]}"#;
        assert_eq!(parse_verdicts(answer, &asked), [Yes, Unsure, Unsure]);
    }

    #[test]
    fn numbered_labels_in_any_order() {
        let answer = "1. member\n3) invented\n2: other\n4. unsure";
        assert_eq!(parse_verdicts(answer, &items(4)), [Yes, No, No, Unsure]);
    }

    #[test]
    fn labels_after_the_item_and_yes_no() {
        let answer =
            "Here is my check:\n1. Brie - member\n2. **Cheddar**: yes\n3. Moon cheese — invented\n";
        assert_eq!(parse_verdicts(answer, &items(3)), [Yes, Yes, No]);
    }

    #[test]
    fn unnumbered_lines_follow_the_order() {
        assert_eq!(
            parse_verdicts("member\nother\nmember", &items(3)),
            [Yes, No, Yes]
        );
    }

    #[test]
    fn missing_out_of_range_and_repeated_numbers_leave_unsure() {
        let answer = "2. member\n9. member\n2. invented";
        assert_eq!(parse_verdicts(answer, &items(3)), [Unsure, Yes, Unsure]);
        assert_eq!(parse_verdicts("", &items(2)), [Unsure, Unsure]);
        assert_eq!(
            parse_verdicts("I cannot help with that.", &items(1)),
            [Unsure]
        );
    }

    #[test]
    fn json_labels_in_order() {
        let answer = r#"{"items": ["member", "1. invented", "unsure"]}"#;
        assert_eq!(parse_verdicts(answer, &items(4)), [Yes, No, Unsure, Unsure]);
    }

    #[test]
    fn an_item_named_like_a_label_reads_by_the_label_after_it() {
        assert_eq!(parse_verdicts("1. Yes Minister - other", &items(1)), [No]);
    }
}
