//! The answer shapes the parser reads: lists, JSON, markdown, preambles,
//! thinking blocks, cut answers. Names inside lines are tested in
//! `name.rs`, rejections in `reject.rs`, real models' answers in
//! `answers.rs`.

use igentai_protocol::Assignment;

use super::*;
use crate::prompt;

/// The prompt these answers reply to.
pub fn paris() -> Prompt {
    prompt::build(&Assignment {
        v: 1,
        run_id: "r".into(),
        topic: "Paris attractions".into(),
        partition: None,
        avoid: vec![],
        items_per_request: 20,
        prompt_template: None,
        weights: Default::default(),
    })
}

fn check(answer: &str, expected: &[&str]) {
    assert_eq!(parse(answer, &paris()), expected, "answer:\n{answer}");
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
    // A JSON string is a name as given: what reads as a list marker in a
    // line is part of it.
    check(
        r#"["Bundesliga","2. Bundesliga"]"#,
        &["Bundesliga", "2. Bundesliga"],
    );
    check(
        r#"{"items": [" Bundesliga ", "2. Bundesliga", "- Ligue 1"]}"#,
        &["Bundesliga", "2. Bundesliga", "- Ligue 1"],
    );
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
fn letters_with_periods_are_markers_only_when_they_run_from_a() {
    // Qwen2.5-0.5B lettered a list of countries so; each line was stored
    // with its letter ("B. Australia").
    check(
        "A. Louvre\nB. Orsay\nC. Pantheon\nD. Sainte-Chapelle",
        &["Louvre", "Orsay", "Pantheon", "Sainte-Chapelle"],
    );
    check(
        "a. Louvre\nb. Orsay\nc. Pantheon",
        &["Louvre", "Orsay", "Pantheon"],
    );
    // Initials are names: they do not run A, B, C.
    check(
        "A. Lincoln Museum\nJ. Paul Getty Villa\nOrsay",
        &["A. Lincoln Museum", "J. Paul Getty Villa", "Orsay"],
    );
    check(
        "A. Lincoln Museum\nB. Franklin House",
        &["A. Lincoln Museum", "B. Franklin House"],
    );
}

#[test]
fn truncated_answers_lose_their_cut_item() {
    let cut =
        |a: &str, expected: &[&str]| assert_eq!(parse_answer(a, true, &paris()), expected, "{a}");
    cut("1. Louvre\n2. Orsay\n3. Panth", &["Louvre", "Orsay"]);
    cut("1. Louvre\n2. Orsay\n", &["Louvre", "Orsay"]);
    cut(r#"["Louvre", "Orsay", "Panth"#, &["Louvre", "Orsay"]);
    cut(
        r#"```json
["Louvre", "Or\"say", "Panth"#,
        &["Louvre", "Or\"say"],
    );
    assert_eq!(
        parse_answer("1. Louvre\n2. Orsay", false, &paris()),
        ["Louvre", "Orsay"]
    );
}

#[test]
fn drops_unusable_lines() {
    let long = "x".repeat(MAX_ITEM_CHARS + 1);
    check(&format!("1. {long}\n2. Orsay"), &["Orsay"]);
    check("1. a\u{7}b\n2. Orsay", &["Orsay"]);
}
