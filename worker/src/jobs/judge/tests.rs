use super::*;
use crate::prompt::Task;

/// The verdict on `item` when the second questions get `answers` in
/// order (a failed call once they run out), the questions asked, and
/// how many calls were paid for.
fn verdict(topic: JudgedTopic, item: &str, answers: &[&str]) -> (Answer, Vec<Question>, usize) {
    let mut answers = answers.iter();
    let mut asked = Vec::new();
    let ask = |prompt: Prompt| {
        if let Task::Identify(question) = prompt.task {
            asked.push(question);
        }
        let answered = answers.next().map(|text| Completion {
            text: text.to_string(),
            model: "m".into(),
            tokens_in: 10,
            tokens_cached_in: 0,
            tokens_out: 2,
            cost_usd: 0.0,
            finish_reason: None,
            request_id: None,
            limits: Default::default(),
        });
        std::future::ready(answered.ok_or("failed"))
    };
    let (answer, paid) = futures::executor::block_on(second_verdict(topic, item, ask));
    (answer, asked, paid.len())
}

use Question::{Beginning, Code, Kind, KindAmong, Plain, Strict, Symbol};

fn open(name: &str) -> JudgedTopic<'_> {
    JudgedTopic {
        name,
        closed: false,
    }
}

fn closed(name: &str) -> JudgedTopic<'_> {
    JudgedTopic { name, closed: true }
}

#[test]
fn of_a_closed_topic_an_item_of_another_kind_must_be_listed_by_its_beginning() {
    let elements = closed("chemical elements");
    let lists = vec![Kind, KindAmong, Beginning, Beginning, Beginning];
    let methane = [
        "A gas",
        "Yes.",
        "Mendelevium, Mercury",
        "Magnesium",
        "Mercury",
    ];
    let got = verdict(elements, "Methane", &methane);
    assert_eq!(got, (Answer::No, lists.clone(), 5));
    // Missing from the lists by two letters and by one, listed by three.
    let titanium = ["Metal", "Yes.", "Tin", "Tantalum", "Titanium", "Titanium"];
    let got = verdict(elements, "Titanium", &titanium);
    let asked = [lists.as_slice(), &[Strict]].concat();
    assert_eq!(got, (Answer::Yes, asked, 6));
    let hawaii = ["Island", "Yes.", "Hawaii", "Hawaii"];
    let got = verdict(closed("US states"), "Hawaii", &hawaii);
    let asked = vec![Kind, KindAmong, Beginning, Strict];
    assert_eq!(got, (Answer::Yes, asked, 4));
    // A kind that names the topic asks nothing more, nor does a code.
    let got = verdict(elements, "Neon", &["A chemical element", "Neon"]);
    assert_eq!(got, (Answer::Yes, vec![Kind, Strict], 2));
    let got = verdict(elements, "Fe", &["Metal", "Iron", "Fe"]);
    assert_eq!(got, (Answer::Yes, vec![Kind, Strict, Code], 3));
    // A failed call leaves it unsure, what was answered paid.
    let got = verdict(elements, "Methane", &["A gas", "Yes.", "Mercury"]);
    let asked = vec![Kind, KindAmong, Beginning, Beginning];
    assert_eq!(got, (Answer::Unsure, asked, 3));
}

#[test]
fn of_a_closed_topic_a_kind_no_member_has_is_out_though_listed() {
    // The 1.5B judge lists `Ethanol` among the elements beginning
    // "Eth", but says no element is an alcohol.
    let ethanol = ["Alcohol", "No.", "Ethane, Ethanol", "Ethanol", "Ethanol"];
    let got = verdict(closed("chemical elements"), "Ethanol", &ethanol);
    assert_eq!(got, (Answer::No, vec![Kind, KindAmong], 2));
}

#[test]
fn of_an_open_topic_only_a_kind_no_member_has_asks_for_the_lists() {
    let cheeses = open("rare cheeses");
    let ale = [
        "A beer",
        "No.",
        "Roquefort",
        "Reblochon",
        "Robiola",
        "Rogue Ale",
    ];
    let got = verdict(cheeses, "Rogue Ale", &ale);
    let asked = vec![Kind, KindAmong, Beginning, Beginning, Beginning];
    assert_eq!(got, (Answer::No, asked, 5));
    let hawaii = ["Island", "No.", "Hawaii, Hawaii", "Hawaii"];
    let got = verdict(open("US states"), "Hawaii", &hawaii);
    let asked = vec![Kind, KindAmong, Beginning, Strict];
    assert_eq!(got, (Answer::Yes, asked, 4));
    // A kind that may be a member's asks no list.
    let brie = ["A dairy product", "Yes.", "Brie de Meaux"];
    let got = verdict(cheeses, "Brie de Meaux", &brie);
    assert_eq!(got, (Answer::Yes, vec![Kind, KindAmong, Strict], 3));
}

#[test]
fn a_kind_made_of_several_members_ends_it() {
    let got = verdict(
        open("chemical elements"),
        "Benzene",
        &["A compound", "Benzene"],
    );
    assert_eq!(got, (Answer::No, vec![Kind], 1));
    let got = verdict(
        open("chemical compounds"),
        "Benzene",
        &["A compound", "Benzene"],
    );
    assert_eq!(got, (Answer::Yes, vec![Kind, Strict], 2));
}

#[test]
fn a_member_confused_with_another_is_asked_plainly() {
    let got = verdict(
        open("US states"),
        "Alabama",
        &["State", "Mississippi", "Alabama"],
    );
    assert_eq!(got, (Answer::Yes, vec![Kind, Strict, Plain], 3));
    let got = verdict(
        open("US states"),
        "Alabama",
        &["State", "Mississippi", "Georgia"],
    );
    assert_eq!(got, (Answer::No, vec![Kind, Strict, Plain], 3));
    let got = verdict(open("US states"), "Ohio", &["State", "Ohio"]);
    assert_eq!(got, (Answer::Yes, vec![Kind, Strict], 2));
    let got = verdict(
        open("chemical elements"),
        "Nitrogen fluoropyruvate",
        &["Salt", "Yes", "Nitrogen"],
    );
    assert_eq!(got, (Answer::No, vec![Kind, KindAmong, Strict], 3));
}

#[test]
fn a_code_stands_only_as_the_code_of_the_name_given() {
    let iowa = ["State", "Mississippi", "MS", "Iowa", "IA"];
    let got = verdict(open("US states"), "IA", &iowa);
    assert_eq!(got, (Answer::Yes, vec![Kind, Strict, Code, Plain, Code], 5));
    let radium = ["Letter", "Radium", "Ra", "Radium", "Ra"];
    let got = verdict(open("chemical elements"), "R", &radium);
    assert_eq!(got, (Answer::No, vec![Kind, Strict, Code, Plain, Code], 5));
    let got = verdict(open("chemical elements"), "Fe", &["Metal", "Iron", "Fe"]);
    assert_eq!(got, (Answer::Yes, vec![Kind, Strict, Code], 3));
    // A name as short as a code is a name: `Tt` answered "Tin" is
    // asked Tin's code, `Sn`.
    let tin = ["A radioactive element", "Tin", "Sn", "Tin", "Sn"];
    let got = verdict(open("chemical elements"), "Tt", &tin);
    assert_eq!(got, (Answer::No, vec![Kind, Strict, Code, Plain, Code], 5));
    let got = verdict(open("chemical elements"), "Sn", &["Metal", "Tin", "Sn"]);
    assert_eq!(got, (Answer::Yes, vec![Kind, Strict, Code], 3));
}

#[test]
fn a_symbol_answered_with_itself_must_be_named() {
    let helium = ["Gas", "He", "Helium", "He"];
    let got = verdict(open("chemical elements"), "He", &helium);
    assert_eq!(got, (Answer::Yes, vec![Kind, Strict, Symbol, Code], 4));
    let got = verdict(open("chemical elements"), "Ib", &["Element", "Ib", "Ib"]);
    assert_eq!(got, (Answer::No, vec![Kind, Strict, Symbol], 3));
    let iodine = ["Element", "Ib", "Iodine", "I"];
    let got = verdict(open("chemical elements"), "Ib", &iodine);
    assert_eq!(got, (Answer::No, vec![Kind, Strict, Symbol, Code], 4));
    // Echoed by the plain question after a confusion, it is asked too.
    let chlorine = ["Element", "Sodium", "Na", "Cl", "Chlorine", "Cl"];
    let got = verdict(open("chemical elements"), "Cl", &chlorine);
    let asked = vec![Kind, Strict, Code, Plain, Symbol, Code];
    assert_eq!(got, (Answer::Yes, asked, 6));
}

#[test]
fn a_code_the_strict_question_rejects_is_asked_by_its_symbol() {
    let california = ["State", "None", "California", "CA"];
    let got = verdict(open("US states"), "CA", &california);
    assert_eq!(got, (Answer::Yes, vec![Kind, Strict, Symbol, Code], 4));
    let made_up = ["Letter", "None", "Manganese", "Mn"];
    let got = verdict(open("chemical elements"), "M", &made_up);
    assert_eq!(got, (Answer::No, vec![Kind, Strict, Symbol, Code], 4));
    let got = verdict(open("chemical elements"), "M", &["Letter", "None", "None"]);
    assert_eq!(got, (Answer::No, vec![Kind, Strict, Symbol], 3));
    // A name the strict question rejects is out at once.
    let got = verdict(
        open("chemical elements"),
        "Methane",
        &["Gas", "Yes.", "None"],
    );
    assert_eq!(got, (Answer::No, vec![Kind, KindAmong, Strict], 3));
}

#[test]
fn a_failed_call_leaves_it_unsure_and_what_was_answered_paid() {
    assert_eq!(
        verdict(open("US states"), "Ohio", &[]),
        (Answer::Unsure, vec![Kind], 0)
    );
    let got = verdict(open("US states"), "NY", &["State", "New York"]);
    assert_eq!(got, (Answer::Unsure, vec![Kind, Strict, Code], 2));
}
