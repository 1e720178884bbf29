//! A judge's answer: one label per numbered item.
//!
//! Pure. The judge prompt (`prompt::judge`) numbers the items and asks for
//! "member", "other", "invented" or "unsure" after each number; models
//! also answer "yes"/"no", repeat the item before the label ("3. Brie -
//! member"), answer in order without numbers, or return the labels as
//! `{"items": [...]}`. An item the answer does not label is `Unsure`: a
//! verdict is never guessed.

use igentai_protocol::Answer;

use super::{parse_json, salvage_json, strip_fences, strip_thinking};

/// The answers to `count` numbered items, in order.
pub fn parse_verdicts(answer: &str, count: usize) -> Vec<Answer> {
    let mut out = vec![Answer::Unsure; count];
    let text = strip_fences(&strip_thinking(answer));
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

    #[test]
    fn numbered_labels_in_any_order() {
        let answer = "1. member\n3) invented\n2: other\n4. unsure";
        assert_eq!(parse_verdicts(answer, 4), [Yes, No, No, Unsure]);
    }

    #[test]
    fn labels_after_the_item_and_yes_no() {
        let answer =
            "Here is my check:\n1. Brie - member\n2. **Cheddar**: yes\n3. Moon cheese — invented\n";
        assert_eq!(parse_verdicts(answer, 3), [Yes, Yes, No]);
    }

    #[test]
    fn unnumbered_lines_follow_the_order() {
        assert_eq!(parse_verdicts("member\nother\nmember", 3), [Yes, No, Yes]);
    }

    #[test]
    fn missing_out_of_range_and_repeated_numbers_leave_unsure() {
        let answer = "2. member\n9. member\n2. invented";
        assert_eq!(parse_verdicts(answer, 3), [Unsure, Yes, Unsure]);
        assert_eq!(parse_verdicts("", 2), [Unsure, Unsure]);
        assert_eq!(parse_verdicts("I cannot help with that.", 1), [Unsure]);
    }

    #[test]
    fn json_labels_in_order() {
        let answer = r#"{"items": ["member", "1. invented", "unsure"]}"#;
        assert_eq!(parse_verdicts(answer, 4), [Yes, No, Unsure, Unsure]);
    }

    #[test]
    fn an_item_named_like_a_label_reads_by_the_label_after_it() {
        assert_eq!(parse_verdicts("1. Yes Minister - other", 1), [No]);
    }
}
