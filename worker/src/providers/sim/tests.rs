//! The sim's model, checked: seeded answers, repetition of popular items,
//! partial obedience to partitions and avoid hints, the long tail reached
//! by narrower prompts, a world every sim agrees on, failure rates; and the
//! noise of small real models at its configured rates, the truth of every
//! line, JSON answers, nonsense sub-categories, and clean answers unchanged.
//! Long because it is only tests, one per property of the model; the
//! inventions are checked in `tests/invention.rs`, the judge in
//! `tests/judge.rs`.

use std::collections::{HashMap, HashSet};

use super::universe::{NodeId, ROOT, key};
use super::*;
use crate::parse::parse;

mod invention;
mod judge;

fn prompt(count: u32, avoid: &[&str]) -> Prompt {
    partitioned(count, avoid, None)
}

fn partitioned(count: u32, avoid: &[&str], partition: Option<&str>) -> Prompt {
    Prompt {
        task: Default::default(),
        system: "s".into(),
        user: "List things".into(),
        topic: "Paris attractions".into(),
        partition: partition.map(Into::into),
        avoid: avoid.iter().map(|s| s.to_string()).collect(),
        count,
        judged: vec![],
    }
}

fn ask_partitions(parent: Option<&str>, count: u32) -> Prompt {
    Prompt {
        task: Task::Partitions,
        ..partitioned(count, &[], parent)
    }
}

/// A small world; noise at the defaults (tests of the old behaviour call
/// `.clean()`).
fn config() -> SimConfig {
    SimConfig {
        universe: 2_000,
        ..SimConfig::default()
    }
}

fn answer(sim: &Sim, prompt: &Prompt, rng: &mut Rng) -> Completion {
    sim.answer_at(prompt, rng)
        .0
        .expect("no failures configured")
}

/// Item names back to their universe index.
struct Index(HashMap<String, usize>);

impl Index {
    fn of(u: &Universe) -> Self {
        Index(
            u.names
                .iter()
                .enumerate()
                .map(|(i, n)| (key(n), i))
                .collect(),
        )
    }

    /// The universe index of each item of an answer.
    fn items(&self, text: &str) -> Vec<usize> {
        parse(text, &prompt(20, &[]))
            .iter()
            .map(|item| self.0[&key(item)])
            .collect()
    }
}

/// Every node at `depth`, by path.
fn paths_at(u: &Universe, depth: usize) -> Vec<String> {
    let mut paths = vec![String::new()];
    for _ in 0..depth {
        paths = paths
            .iter()
            .flat_map(|p| {
                let node = if p.is_empty() { ROOT } else { u.node(p) };
                u.children(node)
                    .into_iter()
                    .map(move |c| match p.is_empty() {
                        true => c.to_string(),
                        false => format!("{p} > {c}"),
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
    }
    paths
}

/// Distinct items over `answers` answers, round robin over `partitions`.
fn distinct(sim: &Sim, partitions: &[Option<String>], answers: usize) -> usize {
    let index = Index::of(&sim.universe("Paris attractions"));
    let mut rng = Rng::new(3);
    let mut seen = HashSet::new();
    for n in 0..answers {
        let p = partitioned(20, &[], partitions[n % partitions.len()].as_deref());
        seen.extend(index.items(&answer(sim, &p, &mut rng).text));
    }
    seen.len()
}

#[test]
fn seeded_answers_repeat_and_take_time_without_waiting() {
    let sim = Sim::new(config().clean());
    let (a, la) = sim.answer_at(&prompt(20, &[]), &mut Rng::new(5));
    let (b, lb) = sim.answer_at(&prompt(20, &[]), &mut Rng::new(5));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!((&a, la), (&b, lb));
    assert_eq!(parse(&a.text, &prompt(20, &[])).len(), 20);
    assert!(a.tokens_out > 20 && a.cost_usd > 0.0);
    assert!(la > Duration::from_millis(50) && la < Duration::from_secs(20));
}

#[test]
fn popular_items_repeat_across_answers() {
    let sim = Sim::new(config().clean());
    let index = Index::of(&sim.universe("Paris attractions"));
    let mut rng = Rng::new(9);
    let (mut seen, mut total) = (HashSet::new(), 0);
    for _ in 0..50 {
        let items = index.items(&answer(&sim, &prompt(20, &[]), &mut rng).text);
        total += items.len();
        seen.extend(items);
    }
    let unique_share = seen.len() as f64 / total as f64;
    // Skewed popularity: far fewer distinct items than candidates, yet not all repeats.
    assert!((0.15..0.7).contains(&unique_share), "{unique_share}");
}

#[test]
fn avoid_hints_are_partly_obeyed() {
    let sim = Sim::new(config().clean());
    let u = sim.universe("Paris attractions");
    let index = Index::of(&u);
    let mut counts: HashMap<usize, usize> = HashMap::new();
    let mut rng = Rng::new(8);
    for _ in 0..200 {
        for i in index.items(&answer(&sim, &prompt(20, &[]), &mut rng).text) {
            *counts.entry(i).or_default() += 1;
        }
    }
    let mut by_count: Vec<(usize, usize)> = counts.into_iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let top: Vec<&str> = by_count[..10]
        .iter()
        .map(|(i, _)| u.names[*i].as_str())
        .collect();
    let hits = |avoid: &[&str]| {
        let mut rng = Rng::new(1);
        (0..200)
            .map(|_| {
                let c = answer(&sim, &prompt(20, avoid), &mut rng);
                index
                    .items(&c.text)
                    .iter()
                    .filter(|i| top.contains(&u.names[**i].as_str()))
                    .count()
            })
            .sum::<usize>()
    };
    let (free, hinted) = (hits(&[]), hits(&top));
    assert!(hinted < free * 6 / 10, "free {free}, hinted {hinted}");
    assert!(hinted > 0, "obedience is partial");
    // Hints match whatever spelling the coordinator kept.
    let spelled = format!("The {}.", top[0].to_lowercase());
    assert_eq!(key(&spelled), key(top[0]));
}

#[test]
fn partitions_are_mostly_kept() {
    let sim = Sim::new(config().clean());
    let u = sim.universe("Paris attractions");
    let index = Index::of(&u);
    let path = &paths_at(&u, 2)[3];
    let node = u.node(path);
    let share = |partition: Option<&str>| {
        let mut rng = Rng::new(4);
        let (mut inside, mut all) = (0, 0);
        for _ in 0..100 {
            let c = answer(&sim, &partitioned(20, &[], partition), &mut rng);
            for i in index.items(&c.text) {
                all += 1;
                inside += usize::from(u.contains(node, i));
            }
        }
        inside as f64 / all as f64
    };
    let (free, kept) = (share(None), share(Some(path)));
    assert!(free < 0.2, "{free}");
    assert!((0.55..0.95).contains(&kept), "partial obedience: {kept}");
}

#[test]
fn narrower_prompts_reach_the_long_tail() {
    // One answer per leaf of the tree, or as many spread over coarser
    // partitions, or all on the whole topic.
    let sim = Sim::new(SimConfig::default().clean());
    let u = sim.universe("Paris attractions");
    let answers = paths_at(&u, 3).len();
    let found = |depth| {
        let partitions: Vec<Option<String>> = match depth {
            0 => vec![None],
            d => paths_at(&u, d).into_iter().map(Some).collect(),
        };
        distinct(&sim, &partitions, answers)
    };
    let (broad, l1, l2, l3) = (found(0), found(1), found(2), found(3));
    assert!(broad < l1 && l1 < l2 && l2 < l3, "{broad} {l1} {l2} {l3}");
    assert!(l3 > 2 * broad, "{broad} {l3}");
}

#[test]
fn every_sim_of_a_seed_shares_one_world() {
    let small = Sim::new(SimConfig {
        universe: 500,
        zipf_s: 1.3,
        ..config()
    });
    let large = Sim::new(config().clean());
    let (us, ul) = (
        small.universe("Paris attractions"),
        large.universe("Paris attractions"),
    );
    assert_eq!(paths_at(&us, 3), paths_at(&ul, 3));
    assert_eq!(paths_at(&ul, 3).len(), 512);
    let large_names: HashSet<&String> = ul.names.iter().collect();
    assert!(us.names.iter().all(|n| large_names.contains(n)));
    assert!(
        (1_900..2_100).contains(&ul.names.len()),
        "{}",
        ul.names.len()
    );
    let keys: HashSet<String> = ul.names.iter().map(|n| key(n)).collect();
    assert_eq!(keys.len(), ul.names.len(), "names never collide");
    let other = Sim::new(SimConfig {
        seed: 7,
        ..config()
    });
    assert_ne!(
        paths_at(&other.universe("Paris attractions"), 2),
        paths_at(&ul, 2)
    );
}

#[test]
fn names_partitions_that_map_back() {
    let sim = Sim::new(config().clean());
    let u = sim.universe("Paris attractions");
    let ask = ask_partitions(None, 6);
    let top = parse(&answer(&sim, &ask, &mut Rng::new(1)).text, &ask);
    assert_eq!(top.len(), 6);
    assert_eq!(top.iter().collect::<HashSet<_>>().len(), 6);
    for name in &top {
        assert_eq!(u.name(u.node(name)), name, "maps back to itself");
    }
    let parent = &top[0];
    let ask = ask_partitions(Some(parent), 20);
    let inner = parse(&answer(&sim, &ask, &mut Rng::new(1)).text, &ask);
    assert_eq!(inner.len(), 8, "a node has `fanout` children");
    for name in &inner {
        let node = u.node(&format!("{parent} > {name}"));
        assert_eq!(u.name(node), name);
        assert!(name.ends_with(&parent.to_lowercase()), "{name} in {parent}");
    }
    let leaf = &paths_at(&u, 3)[0];
    let ask = ask_partitions(Some(leaf), 8);
    let c = answer(&sim, &ask, &mut Rng::new(1));
    assert!(
        parse(&c.text, &ask).is_empty(),
        "a leaf has no sub-categories"
    );
}

#[test]
fn any_text_maps_to_a_stable_node() {
    let u = Sim::new(config().clean()).universe("Paris attractions");
    let level1: Vec<&str> = u.children(ROOT);
    let mapped: NodeId = u.node("street food");
    assert_eq!(mapped, u.node("Street food "));
    assert!(level1.contains(&u.name(mapped)));
    let museums = level1
        .iter()
        .find(|n| n.ends_with('s'))
        .expect("a plural kind");
    let loose = format!("{} of Paris", museums.to_lowercase());
    assert_eq!(
        u.name(u.node(&loose)),
        *museums,
        "named by the words it mentions"
    );
    assert_eq!(u.node(""), ROOT);
    let leaf = &paths_at(&u, 3)[5];
    assert_eq!(u.node(&format!("{leaf} > anything deeper")), u.node(leaf));
}

#[test]
fn failures_at_configured_rates() {
    let sim = Sim::new(SimConfig {
        failure_rate: 0.5,
        rate_limit_rate: 0.2,
        ..config()
    });
    let mut rng = Rng::new(2);
    let (mut failed, mut limited) = (0, 0);
    for _ in 0..2000 {
        match sim.answer_at(&prompt(5, &[]), &mut rng).0 {
            Err(LlmError::Server { .. }) => failed += 1,
            Err(LlmError::RateLimited { .. }) => limited += 1,
            _ => {}
        }
    }
    // 20% limited; half of the remaining 80% fail.
    assert!((350..450).contains(&limited), "{limited}");
    assert!((700..900).contains(&failed), "{failed}");
}

/// Digest of a fixed sequence of answers: items broad, in a partition,
/// with avoid hints, and sub-categories.
fn digest(sim: &Sim) -> u64 {
    let mut rng = Rng::new(11);
    let mut all = String::new();
    for n in 0..40 {
        let p = match n % 4 {
            0 => prompt(20, &[]),
            1 => partitioned(15, &[], Some("Museums > Historic museums")),
            2 => prompt(10, &["Pont Dasilo", "Molavere Museum"]),
            _ => ask_partitions(None, 8),
        };
        let (c, latency) = sim.answer_at(&p, &mut rng);
        let c = c.unwrap();
        all.push_str(&format!(
            "{}|{}|{}|{:?}\n",
            c.text, c.tokens_in, c.tokens_out, latency
        ));
    }
    xxhash_rust::xxh3::xxh3_64(all.as_bytes())
}

/// [`digest`] of a clean default sim (every noise knob at zero).
const GOLDEN: u64 = 0x32e136be3eae6dd;

/// Shares measured over many answers: of item lines written with a
/// description, of lines that are variants, of answers with an echo, of
/// answers with placeholders.
#[derive(Debug, Clone, Copy)]
struct Rates {
    described: f64,
    variants: f64,
    echoes: f64,
    placeholders: f64,
}

fn measure(config: SimConfig, prompt: &Prompt, answers: usize) -> Rates {
    let sim = Sim::new(config);
    let mut rng = Rng::new(21);
    let (mut named, mut described, mut items, mut variants) = (0, 0, 0, 0);
    let (mut echoes, mut placeholders) = (0, 0);
    for _ in 0..answers {
        let (c, _, truth) = sim.answer_with_truth(prompt, &mut rng);
        c.expect("no failures configured");
        named += truth.count(Shape::Name) + truth.count(Shape::Described);
        described += truth.count(Shape::Described);
        variants += truth.count(Shape::Variant);
        items += truth.lines.iter().filter(|l| l.item.is_some()).count();
        echoes += usize::from(truth.count(Shape::Echo) > 0);
        placeholders += usize::from(truth.count(Shape::Placeholder) > 0);
    }
    let share = |a: usize, b: usize| a as f64 / b.max(1) as f64;
    Rates {
        described: share(described, named),
        variants: share(variants, items),
        echoes: share(echoes, answers),
        placeholders: share(placeholders, answers),
    }
}

#[test]
fn noise_at_configured_rates() {
    let check = |config: SimConfig, prompt: &Prompt, expected: Rates| {
        let got = measure(config.clone(), prompt, 1500);
        let close = |a: f64, b: f64| (a - b).abs() <= 0.025 + 0.05 * b;
        assert!(
            close(got.described, expected.described)
                && close(got.variants, expected.variants)
                && close(got.echoes, expected.echoes)
                && close(got.placeholders, expected.placeholders),
            "{config:?}: got {got:?}, expected {expected:?}"
        );
    };
    let rates = |described, variants, echoes, placeholders| Rates {
        described,
        variants,
        echoes,
        placeholders,
    };
    let noisy = |d, v, e, p| SimConfig {
        description_rate: d,
        variant_rate: v,
        echo_rate: e,
        placeholder_rate: p,
        ..config()
    };
    let text = prompt(20, &[]);
    // The first line has nothing to re-name: variants are 19 of 20 slots.
    let v = |rate: f64| rate * 19.0 / 20.0;
    check(config().clean(), &text, rates(0.0, 0.0, 0.0, 0.0));
    check(config(), &text, rates(0.25, v(0.1), 0.2, 0.1));
    check(
        noisy(0.6, 0.3, 0.7, 0.4),
        &text,
        rates(0.6, v(0.3), 0.7, 0.4),
    );
    // JSON answers keep the content noise; echoes and placeholders rarer.
    let json = SimConfig {
        json: true,
        ..config()
    };
    check(json, &text, rates(0.25, v(0.1), 0.05, 0.025));
    let asks_json = Prompt {
        user: "List 20 distinct Paris attractions. Answer as JSON: {\"items\": [...]}".into(),
        ..prompt(20, &[])
    };
    check(config(), &asks_json, rates(0.25, v(0.1), 0.05, 0.025));
}

#[test]
fn zero_rates_reproduce_the_old_answers() {
    // The digest of these answers before the sim had noise knobs.
    assert_eq!(digest(&Sim::new(SimConfig::default().clean())), GOLDEN);
    assert_ne!(digest(&Sim::new(SimConfig::default())), GOLDEN);
}

#[test]
fn truth_names_every_line() {
    let sim = Sim::new(SimConfig {
        description_rate: 0.5,
        variant_rate: 0.3,
        echo_rate: 0.5,
        placeholder_rate: 0.5,
        ..config()
    });
    let u = sim.universe("Paris attractions");
    let mut rng = Rng::new(6);
    let mut shapes = HashSet::new();
    for _ in 0..300 {
        let (c, _, truth) = sim.answer_with_truth(&prompt(20, &[]), &mut rng);
        let text = c.unwrap().text;
        let mut earlier = HashSet::new();
        for line in &truth.lines {
            shapes.insert(line.shape);
            assert!(
                text.replace("**", "").contains(&line.text),
                "{line:?} in {text}"
            );
            assert_eq!(u.identify(&line.text), line.item, "{line:?}");
            let junk = matches!(
                line.shape,
                Shape::Echo | Shape::Placeholder | Shape::Invented
            );
            assert_eq!(line.item.is_none(), junk, "{line:?}");
            if line.shape == Shape::Invented {
                assert_eq!(truth.judge(&u, &line.text), Verdict::Invented);
            }
            if line.shape == Shape::Variant {
                assert!(earlier.contains(&line.item), "re-names an item: {line:?}");
            }
            earlier.insert(line.item);
        }
        // Whatever the parser keeps is judged by the item it mentions.
        let named: HashSet<Option<u64>> = truth.lines.iter().map(|l| l.item).collect();
        for item in parse(&text, &prompt(20, &[])) {
            assert!(named.contains(&truth.judge(&u, &item).item()), "{item}");
        }
    }
    assert_eq!(shapes.len(), 6, "every shape appears: {shapes:?}");
}

#[test]
fn verdicts_of_candidates() {
    let sim = Sim::new(config());
    let u = sim.universe("Paris attractions");
    let (brie, id) = (u.names[0].clone(), u.id(0));
    let truth = Truth {
        lines: vec![Line {
            text: format!("{brie}; hidden museum by the river"),
            item: Some(id),
            shape: Shape::Described,
            description: Some("a hidden museum by the river".into()),
        }],
    };
    let check = |candidate: &str, expected: Verdict| {
        assert_eq!(truth.judge(&u, candidate), expected, "{candidate}");
    };
    check(&brie, Verdict::Item(id));
    check(&brie.to_uppercase(), Verdict::Item(id));
    check(&format!("{brie} (Lyon, France)"), Verdict::Item(id));
    check(
        &format!("{brie}; hidden museum by the river"),
        Verdict::Described(id),
    );
    check("hidden museum by the river", Verdict::Junk);
    check("2nd item", Verdict::Junk);
    check("20 distinct Paris attractions.", Verdict::Junk);
    // A name spelled like the world's that is none of its items: invented
    // when the answer invented it, junk when it did not.
    let made_up = u.invent(ROOT, &mut Rng::new(1)).expect("room to invent");
    let name = u.name_of(made_up);
    assert_eq!((u.identify(&name), u.member(&name)), (None, None), "{name}");
    assert_eq!(truth.judge(&u, &name), Verdict::Junk);
    let truth = Truth {
        lines: vec![Line {
            text: format!("The {name} - worth a detour"),
            item: None,
            shape: Shape::Invented,
            description: None,
        }],
    };
    assert_eq!(truth.judge(&u, &name), Verdict::Invented);
    assert_eq!(truth.judge(&u, &name.to_lowercase()), Verdict::Invented);
    assert_eq!(truth.judge(&u, &brie), Verdict::Item(id));
    assert_eq!(Verdict::Invented.item(), None);
}

#[test]
fn json_answers_parse() {
    let sim = Sim::new(SimConfig {
        json: true,
        ..config()
    });
    let mut rng = Rng::new(4);
    for _ in 0..50 {
        let (c, _, truth) = sim.answer_with_truth(&prompt(20, &[]), &mut rng);
        let text = c.unwrap().text;
        let value: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        let items: Vec<&str> = value["items"]
            .as_array()
            .expect("an items array")
            .iter()
            .map(|v| v.as_str().expect("strings"))
            .collect();
        let lines: Vec<&str> = truth.lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(items, lines);
        // Every line that names an item is kept; of the echoes and
        // placeholders, what the parser cannot tell from a name ("things").
        let named = truth
            .lines
            .iter()
            .filter(|l| !matches!(l.shape, Shape::Echo | Shape::Placeholder))
            .count();
        let kept = parse(&text, &prompt(20, &[])).len();
        assert!((named..=items.len()).contains(&kept), "{kept} of {text}");
    }
    let c = answer(&sim, &ask_partitions(None, 6), &mut rng);
    let value: serde_json::Value = serde_json::from_str(&c.text).expect("valid JSON");
    assert_eq!(value["items"].as_array().map(Vec::len), Some(6));
}

#[test]
fn weak_models_name_nonsense_and_answer_little_under_it() {
    let weak = Sim::new(SimConfig {
        partition_sense: 0.3,
        ..config().clean()
    });
    let u = weak.universe("Paris attractions");
    let mut rng = Rng::new(2);
    let (mut names, mut misfits) = (0, 0);
    let mut nonsense = None;
    for _ in 0..100 {
        let ask = ask_partitions(None, 8);
        for name in parse(&answer(&weak, &ask, &mut rng).text, &ask) {
            names += 1;
            if !u.fits(&name) {
                misfits += 1;
                nonsense = Some(name);
            }
        }
    }
    let share = misfits as f64 / names as f64;
    assert!((0.62..0.78).contains(&share), "{share}");
    let nonsense = nonsense.expect("some nonsense");
    for made_up in NONSENSE {
        assert!(!u.fits(made_up), "{made_up} fits nowhere");
    }
    let real = paths_at(&u, 1)[0].clone();
    assert!(u.fits(&real) && u.fits(&paths_at(&u, 2)[0]));
    let lines = |sim: &Sim, partition: &str| {
        let ask = partitioned(20, &[], Some(partition));
        let c = answer(sim, &ask, &mut Rng::new(3));
        parse(&c.text, &ask).len()
    };
    assert_eq!(lines(&weak, &nonsense), 9, "0.43 of 20 under nonsense");
    assert_eq!(lines(&weak, &real), 20);
    let strong = Sim::new(config().clean());
    assert_eq!(
        lines(&strong, &nonsense),
        20,
        "a strong model answers anyway"
    );
}
