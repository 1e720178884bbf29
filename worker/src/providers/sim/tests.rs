//! The sim's model, checked: seeded answers, repetition of popular items,
//! partial obedience to partitions and avoid hints, the long tail reached
//! by narrower prompts, a world every sim agrees on, failure rates.

use std::collections::{HashMap, HashSet};

use super::super::universe::{NodeId, ROOT, key};
use super::*;
use crate::parse::parse;

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
    }
}

fn ask_partitions(parent: Option<&str>, count: u32) -> Prompt {
    Prompt {
        task: Task::Partitions,
        ..partitioned(count, &[], parent)
    }
}

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
    let sim = Sim::new(config());
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
    let sim = Sim::new(config());
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
    let sim = Sim::new(config());
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
    let sim = Sim::new(config());
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
    let sim = Sim::new(SimConfig::default());
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
    let large = Sim::new(config());
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
    let sim = Sim::new(config());
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
    let u = Sim::new(config()).universe("Paris attractions");
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
