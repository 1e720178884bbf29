//! Unit tests of `partitions.rs`.
use super::*;

fn names(n: &[&str]) -> Vec<String> {
    n.iter().map(|s| s.to_string()).collect()
}

fn small() -> Policy {
    Policy {
        judge_after: 100,
        topic_judge_after: 100,
        window: 10,
        ..Policy::default()
    }
}

/// The whole topic's answers: `answers` of 20 candidates, `new` new.
fn broad(tree: &mut Tree, answers: usize, new: u64) {
    for _ in 0..answers {
        tree.record(None, 20, new);
    }
}

#[test]
fn splits_the_topic_once_its_answers_are_mostly_duplicates() {
    let mut tree = Tree::new(small());
    assert_eq!(tree.decide(), [], "nothing answered yet");
    broad(&mut tree, 10, 15);
    assert_eq!(tree.decide(), [], "the broad prompt still finds 75% new");
    broad(&mut tree, 10, 4);
    assert_eq!(tree.decide(), [Action::RequestChildren { parent: None }]);
    assert_eq!(tree.decide(), [], "one request at a time");
    tree.split_failed(None);
    assert_eq!(tree.decide(), [Action::RequestChildren { parent: None }]);
    // A model that cannot name sub-categories is not asked forever.
    tree.split_failed(None);
    assert_eq!(tree.decide(), []);

    let mut at_once = Tree::new(Policy {
        topic_judge_after: 0,
        ..small()
    });
    assert_eq!(at_once.decide(), [Action::RequestChildren { parent: None }]);
}

#[test]
fn children_are_cleaned_and_deduplicated() {
    let mut tree = Tree::new(small());
    tree.decide();
    let added = tree.add_children(
        None,
        &names(&["Museums", "museums.", "", "Parks", &"x".repeat(81), "A > B"]),
    );
    assert_eq!(added, 3);
    assert_eq!(tree.active().len(), 3);
    assert!(tree.is_active("A - B"));
    assert_eq!(tree.add_children(None, &names(&["Parks", "Markets"])), 1);
    assert_eq!(tree.add_children(Some("Nowhere"), &names(&["x"])), 0);
}

#[test]
fn a_partition_whose_items_are_judged_invented_retires_instead_of_splitting() {
    let mut tree = Tree::new(small());
    tree.decide();
    tree.add_children(None, &names(&["Real", "Dreamt", "Fresh"]));
    for _ in 0..10 {
        // Both saturated: each would be split on its yield alone.
        tree.record(Some("Real"), 20, 2);
        tree.record(Some("Dreamt"), 20, 2);
        tree.record(Some("Fresh"), 20, 15);
    }
    for i in 0..20 {
        tree.record_verdict(Some("Real"), i % 10 != 0);
        tree.record_verdict(Some("Dreamt"), i % 5 == 0);
        tree.record_verdict(Some("Fresh"), i % 3 != 0);
    }
    tree.record_verdict(None, false);
    assert_eq!(
        tree.decide(),
        [Action::RequestChildren {
            parent: Some("Real".into())
        }]
    );
    assert_eq!(tree.states()["Dreamt"], "invalid");
    // Two thirds of Fresh's items are valid: kept, and ranked by the
    // valid share of its uniqueness, ahead of Real.
    assert_eq!(tree.states()["Fresh"], "active");
    assert_eq!(tree.active(), ["Fresh", "Real"]);
}

#[test]
fn saturated_partitions_split_and_barren_ones_retire() {
    let mut tree = Tree::new(small());
    tree.decide();
    tree.add_children(None, &names(&["Museums", "Parks"]));
    // Museums: 10 answers of 20 candidates, 2 new each → uniqueness 0.1.
    for _ in 0..10 {
        tree.record(Some("Museums"), 20, 2);
        tree.record(Some("Parks"), 20, 15);
    }
    let actions = tree.decide();
    assert_eq!(
        actions,
        [Action::RequestChildren {
            parent: Some("Museums".into())
        }]
    );
    assert_eq!(tree.decide(), [], "one request in flight at a time");
    tree.add_children(Some("Museums"), &names(&["Art museums", "Science museums"]));
    assert_eq!(tree.states()["Museums"], "split");
    assert!(tree.is_active("Museums > Art museums"));
    assert_eq!(tree.active().len(), 3);

    // A partition that cannot split retires once barren.
    for _ in 0..10 {
        tree.record(Some("Parks"), 20, 0);
    }
    assert_eq!(
        tree.decide(),
        [Action::RequestChildren {
            parent: Some("Parks".into())
        }]
    );
    tree.add_children(Some("Parks"), &[]);
    assert_eq!(tree.decide(), []);
    assert_eq!(tree.states()["Parks"], "retired");
}

/// One partition at `depth` after `failed` split requests, given its
/// recent answers as (candidates, new): what `decide` does with it.
fn check(depth: u32, failed: u32, answers: &[(u64, u64)], asked: bool, state: &str) {
    let mut tree = Tree::new(small());
    tree.decide();
    tree.add_children(None, &names(&["A"]));
    let mut path = "A".to_string();
    for d in 2..=depth {
        tree.nodes.get_mut(&path).unwrap().state = State::Split;
        tree.add_children(Some(&path), &names(&[&format!("L{d}")]));
        path = format!("{path}{PATH_SEP}L{d}");
    }
    tree.nodes.get_mut(&path).unwrap().failed_splits = failed;
    for (candidates, new) in answers {
        tree.record(Some(&path), *candidates, *new);
    }
    let actions = tree.decide();
    let expected: Vec<Action> = match asked {
        true => vec![Action::RequestChildren {
            parent: Some(path.clone()),
        }],
        false => vec![],
    };
    assert_eq!(
        actions, expected,
        "depth {depth}, {failed} failed, {answers:?}"
    );
    assert_eq!(tree.states()[&path], state, "depth {depth}, {answers:?}");
}

#[test]
fn each_partition_is_kept_split_or_retired_by_its_recent_yield() {
    let fresh = [(20, 18); 10];
    let tiring = [(20, 8); 10]; // uniqueness 0.4
    let barren = [(20, 0); 10];
    // Too few candidates to judge: nothing happens.
    check(1, 0, &[(20, 0); 4], false, "active");
    // Still paying: kept.
    check(1, 0, &fresh, false, "active");
    check(3, 0, &tiring, false, "active");
    // Saturating: split while it may go deeper and can.
    check(1, 0, &tiring, true, "active");
    check(2, 0, &barren, true, "active");
    check(2, 1, &barren, true, "active"); // one failed request is retried
    // Barren and cannot split: retired.
    check(3, 0, &barren, false, "retired");
    check(2, MAX_FAILED_SPLITS, &barren, false, "retired");
    // The window forgets: a partition that turned barren.
    let mut turned = vec![(20, 20); 10];
    turned.extend([(20, 0); 10]);
    check(3, 0, &turned, false, "retired");
}

#[test]
fn a_failed_split_is_asked_again_then_given_up() {
    let mut tree = Tree::new(Policy {
        max_depth: 2,
        ..small()
    });
    tree.decide();
    tree.add_children(None, &names(&["Parks"]));
    let ask = [Action::RequestChildren {
        parent: Some("Parks".into()),
    }];
    for _ in 0..10 {
        tree.record(Some("Parks"), 20, 1);
    }
    assert_eq!(tree.decide(), ask);
    tree.split_failed(Some("Parks"));
    assert_eq!(tree.decide(), ask, "a provider failure is not an answer");
    tree.split_failed(Some("Parks"));
    assert_eq!(tree.decide(), []);
    assert_eq!(tree.states()["Parks"], "active", "not barren yet");
}

#[test]
fn deepest_partitions_retire_instead_of_splitting() {
    let mut tree = Tree::new(Policy {
        max_depth: 1,
        ..small()
    });
    tree.decide();
    tree.add_children(None, &names(&["Museums"]));
    for _ in 0..10 {
        tree.record(Some("Museums"), 20, 0);
    }
    assert_eq!(tree.decide(), []);
    assert_eq!(tree.states()["Museums"], "retired");
    // Nothing active: the retired partition still beats the broad topic.
    assert_eq!(
        tree.spread(&names(&["w1"])),
        [("w1", Some("Museums".to_string()))]
    );
}

#[test]
fn once_nothing_is_active_workers_go_back_to_barren_partitions_never_to_invalid_ones() {
    let mut tree = Tree::new(Policy {
        max_depth: 1,
        ..small()
    });
    tree.decide();
    tree.add_children(None, &names(&["Museums", "Alloys"]));
    for _ in 0..10 {
        tree.record(Some("Museums"), 20, 0);
        tree.record(Some("Alloys"), 20, 15);
    }
    for _ in 0..20 {
        tree.record_verdict(Some("Alloys"), false);
    }
    assert_eq!(tree.decide(), []);
    assert_eq!(tree.states()["Museums"], "retired");
    assert_eq!(tree.states()["Alloys"], "invalid");
    let workers = names(&["w1", "w2"]);
    // Alloys still has the fresher answers, yet only Museums is worked.
    let worked: Vec<Option<String>> = tree.spread(&workers).into_iter().map(|(_, p)| p).collect();
    assert_eq!(
        worked,
        [Some("Museums".to_string()), Some("Museums".to_string())]
    );

    // With only invalid partitions left, the whole topic is worked again.
    let mut tree = Tree::new(small());
    tree.decide();
    tree.add_children(None, &names(&["Alloys", "Hydrocarbons"]));
    for _ in 0..20 {
        tree.record_verdict(Some("Alloys"), false);
        tree.record_verdict(Some("Hydrocarbons"), false);
    }
    tree.decide();
    assert_eq!(tree.spread(&workers), [("w1", None), ("w2", None)]);
    let mut stats = vec![PartitionStats {
        name: WHOLE_TOPIC.to_string(),
        state: String::new(),
        yields: Default::default(),
    }];
    tree.annotate(&mut stats);
    let states: Vec<(&str, &str)> = stats
        .iter()
        .map(|s| (s.name.as_str(), s.state.as_str()))
        .collect();
    assert!(states.contains(&(WHOLE_TOPIC, "active")), "{states:?}");
    assert!(states.contains(&("Alloys", "invalid")), "{states:?}");
}

#[test]
fn workers_spread_over_the_best_partitions() {
    let mut tree = Tree::new(small());
    tree.decide();
    tree.add_children(None, &names(&["A", "B", "C"]));
    for _ in 0..10 {
        tree.record(Some("A"), 20, 5);
        tree.record(Some("B"), 20, 19);
        tree.record(Some("C"), 20, 10);
    }
    let workers = names(&["w1", "w2", "w3", "w4"]);
    let spread = tree.spread(&workers);
    let got: Vec<Option<&str>> = spread.iter().map(|(_, p)| p.as_deref()).collect();
    assert_eq!(got, [Some("B"), Some("C"), Some("A"), Some("B")]);
}
