//! The sim as a judge: a verdict on each numbered item of a judge prompt
//! (`prompt::judge`), by world membership with the errors real judges
//! make. A member of the world (an item some model of the world knows,
//! whether this one does or not) is "member" but for a share
//! `judge_false_reject`; anything else (an invented name, a category, a
//! description, an echo) is "invented" or "other" but for a share
//! `judge_false_accept` it lets through; of the rest a share
//! `judge_unsure` is "unsure". A judge told that a name it does not
//! recognise is no member may also reject the real items it does not know
//! (`judge_unknown_reject`). Asked the second questions about an item
//! (`prompt::identify`), it names the member the item mentions but for a
//! share `judge_second_false_reject`, and names a non-member as itself for
//! a share `judge_second_false_accept`.

use super::knobs::SimConfig;
use super::render::maybe;
use super::universe::Universe;
use crate::prompt::{Prompt, Question};
use crate::rng::Rng;

/// The answer to a judge prompt: one line "n. label" per judged item, or,
/// when the request asks for JSON, the judge's structured answer
/// `{"verdicts": [{"item": ..., "label": ...}]}` as a server enforcing the
/// schema returns it.
pub fn judge(
    universe: &Universe,
    prompt: &Prompt,
    config: &SimConfig,
    json: bool,
    rng: &mut Rng,
) -> String {
    let labels: Vec<&str> = prompt
        .judged
        .iter()
        .map(|item| label(universe, item, config, rng))
        .collect();
    if json {
        let verdicts: Vec<serde_json::Value> = prompt
            .judged
            .iter()
            .zip(&labels)
            .map(|(item, label)| serde_json::json!({"item": item, "label": label}))
            .collect();
        return serde_json::json!({ "verdicts": verdicts }).to_string();
    }
    let mut out = String::new();
    for (n, label) in labels.iter().enumerate() {
        out.push_str(&format!("{}. {label}\n", n + 1));
    }
    out
}

/// The most names an answer listing members gives: the 1.5B judge lists
/// two to four names a beginning ("Titanium, Tungsten" for "Ti"), however
/// many members begin so.
const LISTED_AT_MOST: usize = 4;

/// The answer to one of the judge's second questions (`prompt::identify`)
/// about the item in `prompt.judged`. Which member it is: the name of the
/// world's member the item mentions but for a share
/// `judge_second_false_reject` it answers "none" to, else "none" but for
/// a share `judge_second_false_accept` it names as itself. A name's code
/// (`prompt::code`, the name second in `judged`): the item when it spells
/// the member named. Its kind: never one made of several members, and any
/// kind may be one of the topic, so the knob alone says what the second
/// questions let through. Asked the members a name begins with, it lists
/// them truly (at most [`LISTED_AT_MOST`]).
pub fn identify(
    universe: &Universe,
    prompt: &Prompt,
    question: Question,
    config: &SimConfig,
    rng: &mut Rng,
) -> String {
    let item = prompt
        .judged
        .first()
        .map(String::as_str)
        .unwrap_or_default();
    let member = universe.member(item);
    match question {
        Question::Kind if member.is_some() => format!("one of the {}", prompt.topic),
        Question::Kind => "something else".to_string(),
        Question::KindAmong => "yes".to_string(),
        Question::Beginning => {
            let beginning = prompt.judged.get(1).map(|b| b.to_lowercase());
            let listed: Vec<&str> = universe
                .names
                .iter()
                .filter(|name| {
                    beginning
                        .as_ref()
                        .is_some_and(|b| name.to_lowercase().starts_with(b))
                })
                .map(String::as_str)
                .take(LISTED_AT_MOST)
                .collect();
            match listed.is_empty() {
                true => "none".to_string(),
                false => listed.join(", "),
            }
        }
        Question::Code => {
            let name = prompt.judged.get(1).map(String::as_str).unwrap_or_default();
            match member {
                Some(id) if universe.member(name) == Some(id) => item.to_string(),
                _ => "none".to_string(),
            }
        }
        Question::Strict | Question::Plain | Question::Symbol => match member {
            Some(_) if maybe(rng, config.judge_second_false_reject) => "none".to_string(),
            Some(id) => universe.name_of(id),
            None if maybe(rng, config.judge_second_false_accept) => item.to_string(),
            None => "none".to_string(),
        },
    }
}

/// The verdict on one item.
fn label(universe: &Universe, item: &str, config: &SimConfig, rng: &mut Rng) -> &'static str {
    let rejected = |rng: &mut Rng| match rng.below(3) {
        0 => "other",
        _ => "invented",
    };
    match universe.member(item) {
        Some(id) => {
            let unknown = universe.identify(item) != Some(id);
            if (unknown && maybe(rng, config.judge_unknown_reject))
                || maybe(rng, config.judge_false_reject)
            {
                rejected(rng)
            } else if maybe(rng, config.judge_unsure) {
                "unsure"
            } else {
                "member"
            }
        }
        None if maybe(rng, config.judge_false_accept) => "member",
        None if maybe(rng, config.judge_unsure) => "unsure",
        None => match universe.spelled(item) {
            Some(_) => "invented",
            None => "other",
        },
    }
}
