//! The sim as a judge: verdicts by world membership (a small judge does
//! not reject a larger model's tail), its false accepts, false rejects and
//! unsure answers at their configured rates, JSON when asked, and the
//! strict judge that rejects what it does not know.

use igentai_protocol::{Answer, JudgeRequest};

use super::*;
use std::convert::Infallible;

use crate::jobs::judge::{JudgedTopic, second_verdict};
use crate::parse::parse_verdicts;
use crate::prompt::{self, json_user};

fn request(items: &[String]) -> Prompt {
    prompt::judge(&JudgeRequest {
        v: 1,
        run_id: "r".into(),
        topic: "Paris attractions".into(),
        items: items.to_vec(),
        weights: Default::default(),
        confirm: false,
        closed: false,
    })
}

/// A judge model: small, so most members it judges are unknown to it.
fn judge_config(false_accept: f64, false_reject: f64, unsure: f64) -> SimConfig {
    SimConfig {
        model: "judge".into(),
        universe: 500,
        judge_false_accept: false_accept,
        judge_false_reject: false_reject,
        judge_unsure: unsure,
        ..SimConfig::default()
    }
}

/// `n` members (known to a larger model of the world) and `n`
/// non-members (its inventions, and junk a parser may let through).
fn judged(n: usize) -> (Vec<String>, Vec<String>) {
    let larger = Sim::new(SimConfig {
        universe: 20_000,
        ..SimConfig::default()
    })
    .universe("Paris attractions");
    let mut rng = Rng::new(12);
    let members = (0..n)
        .map(|_| larger.names[rng.below(larger.names.len())].clone())
        .collect();
    const JUNK: &[&str] = &[
        "Museums",
        "a historic museum by the river",
        "20 distinct Paris attractions.",
        "2nd item",
    ];
    let others = (0..n)
        .map(|i| match i % 4 {
            0 => JUNK[rng.below(JUNK.len())].to_string(),
            _ => larger.name_of(larger.invent(ROOT, &mut rng).expect("room")),
        })
        .collect();
    (members, others)
}

/// The parsed verdicts of `judge` on `items`, asked 50 at a time.
fn verdicts(judge: &Sim, items: &[String], json: bool) -> Vec<Answer> {
    let mut rng = Rng::new(8);
    let mut out = Vec::new();
    for chunk in items.chunks(50) {
        let mut p = request(chunk);
        if json {
            p.user = json_user(&p);
        }
        let c = answer(judge, &p, &mut rng);
        assert_eq!(c.tokens_out, (c.text.len() / 4 + 1) as u64);
        assert!(c.cost_usd > 0.0 && c.tokens_in > 0);
        if json {
            let value: serde_json::Value = serde_json::from_str(&c.text).expect("valid JSON");
            let entries = value["verdicts"].as_array().expect("a verdicts list");
            let named: Vec<&str> = entries.iter().filter_map(|e| e["item"].as_str()).collect();
            assert_eq!(named, chunk, "one entry per item, in order");
        }
        out.extend(parse_verdicts(&c.text, chunk));
    }
    out
}

fn share(verdicts: &[Answer], which: Answer) -> f64 {
    verdicts.iter().filter(|&&v| v == which).count() as f64 / verdicts.len() as f64
}

/// `got` within four standard errors of a share `p` over `n` draws.
fn close(got: f64, p: f64, n: usize) -> bool {
    (got - p).abs() <= 4.0 * (p * (1.0 - p) / n as f64).sqrt() + 1e-9
}

#[test]
fn judge_errors_at_configured_rates() {
    let n = 3000;
    let (members, others) = judged(n);
    let small = Sim::new(judge_config(0.0, 0.0, 0.0)).universe("Paris attractions");
    let unknown = members
        .iter()
        .filter(|m| small.identify(m).is_none())
        .count();
    assert!(
        unknown * 10 > n * 9,
        "the judge knows few of them: {unknown}"
    );
    for (fa, fr, unsure, json) in [
        (0.1, 0.05, 0.02, false),
        (0.3, 0.2, 0.1, false),
        (0.25, 0.1, 0.0, true),
        (0.0, 0.0, 0.0, false),
    ] {
        let judge = Sim::new(judge_config(fa, fr, unsure));
        let on_members = verdicts(&judge, &members, json);
        let on_others = verdicts(&judge, &others, json);
        let rates = (
            share(&on_others, Answer::Yes),
            share(&on_members, Answer::No),
            share(&on_members, Answer::Unsure),
            share(&on_others, Answer::Unsure),
        );
        let what = format!("{fa} {fr} {unsure}: measured {rates:?}");
        assert!(close(rates.0, fa, n), "false accepts {what}");
        assert!(close(rates.1, fr, n), "false rejects {what}");
        assert!(close(rates.2, (1.0 - fr) * unsure, n), "unsure {what}");
        assert!(close(rates.3, (1.0 - fa) * unsure, n), "unsure {what}");
    }
}

#[test]
fn judge_labels_inventions_and_other_things_apart() {
    let judge = Sim::new(judge_config(0.0, 0.0, 0.0));
    let (members, others) = judged(8);
    let items: Vec<String> = members.iter().chain(&others).cloned().collect();
    let c = answer(&judge, &request(&items), &mut Rng::new(1));
    let labels: Vec<&str> = c
        .text
        .lines()
        .map(|l| l.split_once(". ").expect("n. label").1)
        .collect();
    let expected: Vec<&str> = (0..16)
        .map(|i| match i {
            0..8 => "member",
            // Every fourth non-member is junk: real words, no name.
            8 | 12 => "other",
            _ => "invented",
        })
        .collect();
    assert_eq!(labels, expected, "{}", c.text);
}

#[test]
fn a_strict_judge_rejects_what_it_does_not_know() {
    let strict = Sim::new(SimConfig {
        judge_unknown_reject: 1.0,
        ..judge_config(0.0, 0.0, 0.0)
    });
    let own = strict.universe("Paris attractions");
    let known: Vec<String> = own.names[..100].to_vec();
    let (members, _) = judged(300);
    let tail: Vec<String> = members
        .into_iter()
        .filter(|m| own.identify(m).is_none())
        .collect();
    assert!(tail.len() > 200, "{}", tail.len());
    assert_eq!(share(&verdicts(&strict, &known, false), Answer::Yes), 1.0);
    assert_eq!(share(&verdicts(&strict, &tail, false), Answer::No), 1.0);
    // The default judges by the world: the tail it does not know is in.
    let fair = Sim::new(judge_config(0.0, 0.0, 0.0));
    assert_eq!(share(&verdicts(&fair, &tail, false), Answer::Yes), 1.0);
}

/// How many of `items` `judge`'s answers to the second questions confirm,
/// asked as a worker's judge job asks them, the topic open or `closed`.
fn confirmed(judge: &Sim, items: &[String], closed: bool) -> usize {
    let mut rng = Rng::new(5);
    items
        .iter()
        .filter(|item| {
            let ask = |prompt: Prompt| {
                std::future::ready(Ok::<_, Infallible>(answer(judge, &prompt, &mut rng)))
            };
            let topic = JudgedTopic {
                name: "Paris attractions",
                closed,
            };
            let asked = second_verdict(topic, item, ask);
            futures::executor::block_on(asked).0 == Answer::Yes
        })
        .count()
}

#[test]
fn the_second_answers_confirm_members_and_others_at_their_rates() {
    let n = 2000;
    let (members, others) = judged(n);
    for (accept, reject) in [(0.0, 0.0), (0.3, 0.1), (1.0, 1.0)] {
        let judge = Sim::new(SimConfig {
            judge_second_false_accept: accept,
            judge_second_false_reject: reject,
            ..judge_config(0.0, 0.0, 0.0)
        });
        let kept = confirmed(&judge, &members, false) as f64 / n as f64;
        assert!(close(kept, 1.0 - reject, n), "members at {reject}: {kept}");
        let got = confirmed(&judge, &others, false) as f64 / n as f64;
        assert!(close(got, accept, n), "others at {accept}: {got}");
    }
}

#[test]
fn of_a_closed_topic_what_the_members_listed_miss_is_out() {
    // The sim names no kind for what is not a member, and lists the
    // members a name begins with truly: of a closed topic the others fall
    // even to a judge that names every one as itself, but for a name a
    // letter or two from a member's and one a code's length.
    let n = 500;
    let (members, others) = judged(n);
    let judge = Sim::new(SimConfig {
        judge_second_false_accept: 1.0,
        ..judge_config(0.0, 0.0, 0.0)
    });
    let kept = confirmed(&judge, &members, true);
    assert_eq!(kept, confirmed(&judge, &members, false));
    assert!(kept > n * 9 / 10, "{kept}");
    let stand = confirmed(&judge, &others, true);
    assert!(stand < n / 10, "{stand}");
    assert_eq!(confirmed(&judge, &others, false), n);
}
