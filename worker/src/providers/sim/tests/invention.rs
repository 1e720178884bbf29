//! The sim's inventions: more down the list, under narrow partitions, with
//! avoid lists and once the model has said what it knows of a node; the
//! same names again across calls, spelled like the world's own; none from
//! a clean model.

use super::*;
use crate::providers::sim::words::{KINDS, PREFIXES};

/// The default model without the other noise, so a line's index is its
/// slot in the answer; `exhausted` switches the exhaustion driver.
fn quiet(universe: usize, exhausted: bool) -> SimConfig {
    let d = SimConfig::default();
    SimConfig {
        universe,
        description_rate: 0.0,
        variant_rate: 0.0,
        echo_rate: 0.0,
        placeholder_rate: 0.0,
        invention_exhausted: if exhausted {
            d.invention_exhausted
        } else {
            0.0
        },
        ..d
    }
}

/// Per line index: (invented lines, lines) over `answers` answers.
fn by_position(sim: &Sim, prompt: &Prompt, answers: usize) -> Vec<(usize, usize)> {
    let mut rng = Rng::new(17);
    let mut counts = vec![(0, 0); prompt.count as usize];
    for _ in 0..answers {
        let (c, _, truth) = sim.answer_with_truth(prompt, &mut rng);
        c.expect("no failures configured");
        for (at, line) in truth.lines.iter().enumerate() {
            counts[at].0 += usize::from(line.shape == Shape::Invented);
            counts[at].1 += 1;
        }
    }
    counts
}

/// The invented share of all lines.
fn invented_share(sim: &Sim, prompt: &Prompt, answers: usize) -> f64 {
    let (invented, lines) = by_position(sim, prompt, answers)
        .iter()
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    invented as f64 / lines as f64
}

/// The mean of `invention_rate × (1 + growth × k / 20)` over a 20-item
/// answer, at the defaults, times `multiplier`.
fn expected_share(multiplier: f64) -> f64 {
    let d = SimConfig::default();
    (0..20)
        .map(|k| d.invention_rate * (1.0 + d.invention_growth * k as f64 / 20.0) * multiplier)
        .sum::<f64>()
        / 20.0
}

#[test]
fn inventions_grow_down_the_list() {
    let sim = Sim::new(quiet(20_000, false));
    let counts = by_position(&sim, &prompt(20, &[]), 2000);
    let d = SimConfig::default();
    let share = |range: std::ops::Range<usize>| {
        let (i, n) = counts[range]
            .iter()
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
        i as f64 / n as f64
    };
    for (k, &(invented, lines)) in counts.iter().enumerate() {
        let expected = d.invention_rate * (1.0 + d.invention_growth * k as f64 / 20.0);
        let got = invented as f64 / lines as f64;
        // 2000 answers: a standard error near 0.01.
        assert!(
            (got - expected).abs() < 0.045,
            "item {k}: {got} vs {expected}"
        );
    }
    let (top, tail) = (share(0..5), share(15..20));
    assert!((top - 0.125).abs() < 0.015, "first five: {top}");
    assert!((tail - 0.3125).abs() < 0.02, "last five: {tail}");
}

#[test]
fn narrow_partitions_and_avoid_lists_invent_more() {
    let sim = Sim::new(quiet(20_000, false));
    let u = sim.universe("Paris attractions");
    let level1 = paths_at(&u, 1)[0].clone();
    let leaf = paths_at(&u, 3)[0].clone();
    let hints: Vec<&str> = u.names[..20].iter().map(String::as_str).collect();
    let measured = |prompt: &Prompt| invented_share(&sim, prompt, 1000);
    let plain = measured(&prompt(20, &[]));
    let broad = measured(&partitioned(20, &[], Some(&level1)));
    let narrow = measured(&partitioned(20, &[], Some(&leaf)));
    let avoided = measured(&prompt(20, &hints));
    let half = measured(&prompt(20, &hints[..10]));
    // 20,000 lines each: standard errors under 0.004.
    for (got, multiplier) in [
        (plain, 1.0),
        (broad, 1.25),
        (narrow, 1.75),
        (avoided, 1.5),
        (half, 1.25),
    ] {
        let expected = expected_share(multiplier);
        assert!(
            (got - expected).abs() < 0.02,
            "{got} vs {expected} (×{multiplier})"
        );
    }
    assert!(plain < broad && broad < narrow, "{plain} {broad} {narrow}");
    assert!(plain < half && half < avoided, "{plain} {half} {avoided}");
}

#[test]
fn exhausted_knowledge_is_made_up() {
    // Only the exhaustion drives inventions here: a model knowing about
    // four items of each leaf, asked for 20 of one.
    let sim = Sim::new(SimConfig {
        invention_rate: 0.0,
        invention_exhausted: 1.0,
        ..quiet(2_000, true)
    });
    let u = sim.universe("Paris attractions");
    let leaf = paths_at(&u, 3)
        .into_iter()
        .find(|p| (1..=5).contains(&u.known(u.node(p))))
        .expect("a leaf it knows little of");
    let narrow = invented_share(&sim, &partitioned(20, &[], Some(&leaf)), 300);
    let plain = invented_share(&sim, &prompt(20, &[]), 300);
    assert!(narrow > 0.5, "{narrow}");
    assert!(plain < 0.02, "{plain}");
    // A model that knows nothing invents all it says.
    let empty = Sim::new(SimConfig {
        universe: 0,
        ..quiet(0, true)
    });
    let counts = by_position(&empty, &prompt(20, &[]), 20);
    assert!(counts.iter().all(|&(i, n)| i == n && n == 20), "{counts:?}");
}

/// Invented names over `answers` answers of `sim`: name → answers naming it.
fn inventions(sim: &Sim, answers: usize, seed: u64) -> HashMap<String, usize> {
    let mut rng = Rng::new(seed);
    let mut names: HashMap<String, usize> = HashMap::new();
    for _ in 0..answers {
        let (_, _, truth) = sim.answer_with_truth(&prompt(20, &[]), &mut rng);
        for line in truth.lines.iter().filter(|l| l.shape == Shape::Invented) {
            *names.entry(key(&line.text)).or_default() += 1;
        }
    }
    names
}

#[test]
fn inventions_recur_across_calls_and_belong_to_their_model() {
    let config = quiet(20_000, true);
    let sim = Sim::new(config.clone());
    let names = inventions(&sim, 300, 1);
    let lines: usize = names.values().sum();
    assert!(lines > 1000, "{lines}");
    // Lines naming a name invented more than once (an answer never names
    // one twice): a third or more.
    let repeats = 1.0 - names.len() as f64 / lines as f64;
    assert!(repeats > 0.35, "{} names in {lines} lines", names.len());
    let most = names.values().max().copied().unwrap_or(0);
    assert!(most >= 20, "the most popular invention recurs: {most}");
    // The same model on another worker invents the same names; another
    // model of the same world its own.
    let share_in = |other: &HashMap<String, usize>| {
        let common: usize = other
            .iter()
            .filter(|(n, _)| names.contains_key(*n))
            .map(|(_, c)| c)
            .sum();
        common as f64 / other.values().sum::<usize>() as f64
    };
    let twin = Sim::new(config.clone()).with_stream("worker-2");
    let other = Sim::new(SimConfig {
        model: "sim-2".into(),
        ..config
    });
    let (twin, other) = (
        share_in(&inventions(&twin, 300, 2)),
        share_in(&inventions(&other, 300, 2)),
    );
    // Its popular inventions recur (the rare ones need more calls to).
    assert!(twin > 0.45, "{twin}");
    assert!(other < 0.05, "{other}");
}

/// "Word Kind" or "Prefix Word", the word eight letters of syllables.
fn spelled_like_the_world(name: &str) -> bool {
    let Some((first, rest)) = name.split_once(' ') else {
        return false;
    };
    let syllables = |w: &str| {
        w.len() == 8
            && w.to_lowercase()
                .as_bytes()
                .chunks(2)
                .all(|s| b"bcdfglmnprstvz".contains(&s[0]) && b"aeiou".contains(&s[1]))
    };
    (syllables(first) && KINDS.contains(&rest)) || (PREFIXES.contains(&first) && syllables(rest))
}

#[test]
fn invented_names_look_real_and_only_membership_tells() {
    let sim = Sim::new(quiet(2_000, true));
    let u = sim.universe("Paris attractions");
    let larger = Sim::new(quiet(200_000, true)).universe("Paris attractions");
    assert!(u.names.iter().all(|n| spelled_like_the_world(n)));
    let mut rng = Rng::new(5);
    for _ in 0..500 {
        let id = u.invent(ROOT, &mut rng).expect("room to invent");
        let name = u.name_of(id);
        assert!(spelled_like_the_world(&name), "{name}");
        assert_eq!(u.spelled(&name), Some(id), "{name}");
        assert!(!u.in_world(id), "{name}");
        assert_eq!(
            (
                u.identify(&name),
                larger.identify(&name),
                larger.member(&name)
            ),
            (None, None, None),
            "{name}: no model of the world knows it"
        );
    }
    // What a larger model knows and this one does not is of the world.
    let tail: Vec<usize> = (0..larger.names.len())
        .filter(|&i| u.identify(&larger.names[i]).is_none())
        .take(500)
        .collect();
    assert_eq!(tail.len(), 500);
    for i in tail {
        let name = &larger.names[i];
        assert_eq!(u.member(name), Some(larger.id(i)), "{name}");
        assert_eq!(u.name_of(larger.id(i)), *name);
    }
}

#[test]
fn clean_models_invent_nothing() {
    let clean = SimConfig::default().clean();
    assert!(!clean.invents());
    assert_eq!(
        (clean.invention_rate, clean.invention_exhausted),
        (0.0, 0.0)
    );
    let sim = Sim::new(SimConfig {
        universe: 2_000,
        ..clean
    });
    let u = sim.universe("Paris attractions");
    let leaf = paths_at(&u, 3)[1].clone();
    let hints: Vec<&str> = u.names[..20].iter().map(String::as_str).collect();
    let mut rng = Rng::new(3);
    for p in [
        prompt(20, &[]),
        partitioned(20, &hints, Some(&leaf)),
        prompt(20, &hints),
    ] {
        for _ in 0..200 {
            let (_, _, truth) = sim.answer_with_truth(&p, &mut rng);
            assert_eq!(truth.count(Shape::Invented), 0, "{truth:?}");
        }
    }
}
