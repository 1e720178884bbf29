//! Unit tests of `arms.rs`.
use super::*;

/// A seeded generator for answers' noise.
struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `answers` answers split by the current share (judged every ten, as
/// ticks would), starting in `start`: baseline answers hold 20
/// candidates each new with chance 0.4, the strategy's `ratio` times
/// that, every answer's chance scaled by up to ±`noise`, 200 tokens at
/// $1 per million each, and the strategy pays `charge` tokens more per
/// answer (its jobs). Checks the state it ends in and its share.
fn check(start: State, ratio: f64, noise: f64, charge: u64, answers: u64, expected: State) {
    let config = Config::default();
    let mut arms = Arms::new(config.clone());
    arms.partitions.state = start;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for i in 0..answers {
        let share = arms.partitions.share(&config);
        let strategy = (share * (i + 1) as f64).floor() > (share * i as f64).floor();
        let jitter = 1.0 + noise * (2.0 * rng.unit() - 1.0);
        let p = 0.4 * jitter * if strategy { ratio } else { 1.0 };
        let new = (0..20).filter(|_| rng.unit() < p).count() as u64;
        arms.observe(Some(strategy), None, new, 200, 200e-6);
        if strategy && charge > 0 {
            arms.charge_partitions(charge, charge as f64 * 1e-6);
        }
        if i % 10 == 9 {
            arms.judge();
        }
    }
    let what = format!("from {start:?}, ratio {ratio}, noise {noise}, charge {charge}");
    assert_eq!(arms.partitions.state(), expected, "{what}");
    let share = arms.partitions.share(&config);
    match expected {
        State::Suppressed => assert!(share <= config.floor, "{what}: share {share}"),
        State::Active => assert!(share >= 0.8, "{what}: share {share}"),
    }
}

#[test]
fn a_strategy_is_judged_against_its_baseline() {
    use State::{Active, Suppressed};
    // Half the baseline's yield: it loses the work.
    check(Active, 0.5, 0.0, 0, 3_000, Suppressed);
    check(Active, 0.5, 0.1, 0, 3_000, Suppressed);
    // Twice the baseline's: it keeps most of the work, or wins it back
    // from its re-test share.
    check(Active, 2.0, 0.1, 0, 3_000, Active);
    check(Suppressed, 2.0, 0.1, 0, 3_000, Active);
    // As good, with every answer ±10% off: no switch either way.
    check(Active, 1.0, 0.1, 0, 20_000, Active);
    check(Suppressed, 1.0, 0.1, 0, 20_000, Suppressed);
    // Slightly worse, within the band: kept.
    check(Active, 0.98, 0.1, 0, 20_000, Active);
    // As many items, but its own costs (jobs) make each answer 30%
    // dearer: it loses.
    check(Active, 1.0, 0.0, 60, 5_000, Suppressed);
    // Too few answers to tell, however bad it looks.
    check(Active, 0.2, 0.0, 0, 150, Active);
}

/// Partitioned prompts that find 1.5 times the broad prompt's new items
/// but whose items are judged valid a third as often: judged on valid
/// items they lose the work; with every item valid they keep it.
#[test]
fn a_strategy_whose_new_items_are_invented_loses_on_valid_items() {
    for (strategy_valid, expected) in [(0.3, State::Suppressed), (0.9, State::Active)] {
        let config = Config::default();
        let mut arms = Arms::new(config.clone());
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        for i in 0..4_000u64 {
            let share = arms.partitions.share(&config);
            let strategy = (share * (i + 1) as f64).floor() > (share * i as f64).floor();
            let p = 0.4 * if strategy { 1.5 } else { 1.0 };
            let new = (0..20).filter(|_| rng.unit() < p).count() as u64;
            arms.observe(Some(strategy), None, new, 200, 200e-6);
            // One new item in four is judged.
            for _ in 0..new / 4 {
                let valid = rng.unit() < if strategy { strategy_valid } else { 0.9 };
                arms.observe_verdict(Some(strategy), valid);
            }
            if i % 10 == 9 {
                arms.judge();
            }
        }
        assert_eq!(
            arms.partitions.state(),
            expected,
            "valid share {strategy_valid}"
        );
    }
}

/// Workers on partitions over `periods` rotation periods for `n`
/// workers while the strategy is in `state`: the broad prompt's
/// average share of the workers, and whether every worker took a turn
/// on it.
fn check_place(n: usize, state: State, periods: u64, share: f64, every_worker: bool) {
    let config = Config::default();
    let mut arms = Arms::new(config.clone());
    arms.partitions.state = state;
    let mut broad = vec![0u64; n];
    for e in 0..periods {
        let placed = arms.place(n, e * config.rotate_ms + 1);
        assert_eq!(placed.len(), n);
        for (i, on) in placed.iter().enumerate() {
            broad[i] += u64::from(!on);
        }
    }
    let got = broad.iter().sum::<u64>() as f64 / (periods * n as u64) as f64;
    assert!((got - share).abs() < 0.01, "{n} workers, {state:?}: {got}");
    assert_eq!(broad.iter().all(|b| *b > 0), every_worker, "{broad:?}");
}

#[test]
fn the_broad_prompt_gets_its_share_of_the_workers_in_turn() {
    check_place(1, State::Active, 100, 0.15, true);
    check_place(3, State::Active, 100, 0.15, true);
    check_place(20, State::Active, 100, 0.15, true);
    check_place(3, State::Suppressed, 100, 0.90, true);
    check_place(10, State::Suppressed, 100, 0.90, true);
    assert!(Arms::new(Config::default()).place(0, 0).is_empty());
}

#[test]
fn hints_are_sent_on_their_share_of_the_offers_and_judged() {
    let mut arms = Arms::new(Config::default());
    let sent = (0..100).filter(|_| arms.offer_hint()).count();
    assert_eq!(sent, 85);
    // Hinted answers hold fewer new items per token (their hints cost
    // input tokens and the model ignores them): the hints stop.
    for i in 0..2_000u64 {
        let hinted = i % 2 == 0;
        let (new, tokens) = if hinted { (5, 260) } else { (8, 200) };
        arms.observe(Some(false), Some(hinted), new, tokens, 0.0);
        arms.observe(Some(true), None, 8, 200, 0.0);
    }
    assert!(arms.judge());
    assert_eq!(arms.avoid().state(), State::Suppressed);
    assert_eq!(arms.partitions().state(), State::Active);
    let sent = (0..100).filter(|_| arms.offer_hint()).count();
    assert_eq!(sent, 10);
    let stats = arms.stats(true, true);
    let names: Vec<&str> = stats.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, [PARTITIONS, BROAD, AVOID, UNHINTED]);
    assert_eq!(stats[2].state, "suppressed");
    assert_eq!(stats[2].batches, 1_000);
    assert!((stats[2].vs_baseline - (5.0 / 260.0) / (8.0 / 200.0)).abs() < 1e-9);
    assert_eq!(stats[2].unique_per_usd, 0.0, "unpriced answers");
    assert_eq!(arms.stats(false, false).len(), 1);
    assert_eq!(arms.stats(false, false)[0].share, 1.0);
}
