//! Unit tests of `weights.rs`.
use super::*;

fn names(n: &[&str]) -> Vec<String> {
    n.iter().map(|s| s.to_string()).collect()
}

/// Feeds `per_s` answers per second for `seconds`, from a provider list
/// of (name, new items per answer, cost per answer).
fn feed(b: &mut Bandit, providers: &[(&str, u64, f64)], from_s: u64, seconds: u64) {
    let healthy: Vec<String> = providers.iter().map(|p| p.0.to_string()).collect();
    for t in from_s..from_s + seconds {
        for (name, new, cost) in providers {
            b.observe(name, *new, *cost, 1000, t * 1000);
        }
        b.update(&healthy, t * 1000);
    }
}

/// Shares of the spend the weights give, for (name, cost per answer).
fn spend(w: &BTreeMap<String, f64>, costs: &[(&str, f64)]) -> BTreeMap<String, f64> {
    let mut spend: BTreeMap<String, f64> = costs
        .iter()
        .map(|(n, c)| (n.to_string(), w[*n] * c))
        .collect();
    normalize(&mut spend);
    spend
}

#[test]
fn favours_the_best_yield_per_dollar_and_keeps_exploring() {
    let mut b = Bandit::new(Config::default());
    feed(
        &mut b,
        &[("cheap", 10, 0.001), ("dear", 10, 0.01), ("weak", 2, 0.001)],
        0,
        60,
    );
    let (w, version) = b.weights();
    assert!(w["cheap"] > 0.85, "{w:?}");
    let spend = spend(w, &[("cheap", 0.001), ("dear", 0.01), ("weak", 0.001)]);
    let floor = Config::default().floor;
    assert!(
        spend["dear"] >= floor - 1e-6 && spend["weak"] >= floor - 1e-6,
        "floor kept: {spend:?}"
    );
    assert!(spend["cheap"] > 0.8, "{spend:?}");
    assert!((w.values().sum::<f64>() - 1.0).abs() < 1e-9);
    assert!(version > 0);
}

#[test]
fn a_provider_whose_items_are_judged_invalid_pays_only_for_the_valid_ones() {
    // "liar" finds as many new items at half the price, but a judge
    // finds 80% of them invented: 0.2 × 2 against 1 per dollar.
    let providers = [("honest", 10, 0.002), ("liar", 10, 0.001)];
    let mut unjudged = Bandit::new(Config::default());
    feed(&mut unjudged, &providers, 0, 30);
    let (w, _) = unjudged.weights();
    assert!(w["liar"] > w["honest"], "unjudged, cheaper wins: {w:?}");
    let mut judged = Bandit::new(Config::default());
    for i in 0..300 {
        judged.observe_verdict("honest", true);
        judged.observe_verdict("liar", i % 5 == 0);
    }
    feed(&mut judged, &providers, 0, 30);
    let (w, _) = judged.weights();
    assert!(w["honest"] > 0.8, "judged, the honest one wins: {w:?}");
}

#[test]
fn the_floor_is_a_share_of_the_spend_not_of_the_calls() {
    // An answer of "dear" costs 50 of "cheap": a floor of calls would
    // hand it most of the money.
    let mut b = Bandit::new(Config::default());
    feed(&mut b, &[("cheap", 10, 0.001), ("dear", 20, 0.05)], 0, 60);
    let (w, _) = b.weights();
    let spend = spend(w, &[("cheap", 0.001), ("dear", 0.05)]);
    assert!(
        (spend["dear"] - Config::default().floor).abs() < 0.01,
        "{spend:?}"
    );
    assert!(w["dear"] < 0.01, "few calls: {w:?}");
}

#[test]
fn thin_evidence_keeps_its_score() {
    // "dear" is measured, then rarely called: its decayed evidence gets
    // thin, but it must not fall back to an equal share.
    let mut b = Bandit::new(Config::default());
    feed(&mut b, &[("cheap", 10, 0.001), ("dear", 20, 0.05)], 0, 10);
    for t in 10..200 {
        b.observe("cheap", 10, 0.001, 1000, t * 1000);
        if t % 50 == 0 {
            b.observe("dear", 20, 0.05, 1000, t * 1000);
        }
        b.update(&names(&["cheap", "dear"]), t * 1000);
        assert!(b.weights().0["dear"] < 0.05, "at {t}: {:?}", b.weights().0);
    }
}

#[test]
fn unmeasured_providers_start_equal() {
    let mut b = Bandit::new(Config::default());
    b.update(&names(&["a", "b"]), 0);
    let (w, _) = b.weights();
    assert!(
        (w["a"] - 0.5).abs() < 1e-9 && (w["b"] - 0.5).abs() < 1e-9,
        "{w:?}"
    );
}

#[test]
fn moves_away_from_a_degrading_provider_within_30_s() {
    let mut b = Bandit::new(Config::default());
    feed(&mut b, &[("a", 10, 0.001), ("b", 6, 0.001)], 0, 120);
    assert!(b.weights().0["a"] > 0.8);
    // a now yields almost nothing: within 30 s b must lead.
    let mut moved = None;
    for t in 120..240 {
        feed(&mut b, &[("a", 1, 0.001), ("b", 6, 0.001)], t, 1);
        if b.weights().0["b"] > 0.5 {
            moved = Some(t - 120);
            break;
        }
    }
    let moved = moved.expect("weights move to b");
    assert!(moved <= 30, "took {moved} s");
}

#[test]
fn a_busy_provider_running_out_of_items_is_judged_on_its_latest_answers() {
    // "cheap" answers 30 times a second and runs dry at 60 s; "steady"
    // answers twice a second and keeps yielding. A 20 s window alone
    // averages in cheap's better past for longer.
    let seconds_to_leave = |half_life_answers: f64| {
        let mut b = Bandit::new(Config {
            half_life_answers,
            ..Config::default()
        });
        let healthy = names(&["cheap", "steady"]);
        for tick in 0..120u64 {
            for i in 0..30u64 {
                let new = if tick < 60 { 10 } else { 1 };
                b.observe("cheap", new, 0.001, 400, tick * 1000 + i * 33);
            }
            for i in 0..2u64 {
                b.observe("steady", 6, 0.001, 900, tick * 1000 + i * 500);
            }
            b.update(&healthy, tick * 1000 + 999);
            if tick >= 60 && b.weights().0["steady"] > 0.5 {
                return tick - 60;
            }
        }
        panic!("never left cheap");
    };
    let by_time = seconds_to_leave(0.0);
    let by_answers = seconds_to_leave(Config::default().half_life_answers);
    assert!(by_answers < by_time, "{by_answers} s, by time {by_time} s");
}

#[test]
fn a_provider_not_answering_yet_gets_only_the_floor() {
    // "slow" got its first calls but none came back yet; the others
    // answered. Until it answers it gets the floor of the spend (at the
    // dearest known cost), not an equal share.
    let mut b = Bandit::new(Config::default());
    let healthy = names(&["a", "b", "slow"]);
    b.update(&healthy, 0);
    assert!(
        (b.weights().0["slow"] - 1.0 / 3.0).abs() < 1e-9,
        "equal at first"
    );
    for t in 0..5u64 {
        b.observe("a", 10, 0.001, 400, t * 300);
        b.observe("b", 10, 0.002, 400, t * 300);
    }
    let target = b.target(&healthy);
    let spend = spend(&target, &[("a", 0.001), ("b", 0.002), ("slow", 0.002)]);
    let floor = Config::default().floor;
    assert!(
        spend["slow"] > 0.0 && spend["slow"] < 1.6 * floor,
        "{spend:?}"
    );
}

#[test]
fn providers_failing_calls_lose_weight() {
    // Equal answers at equal prices, but "flaky" fails every other
    // call: it keeps a small share; once it stops failing
    // it wins its share back as the failures fade.
    let mut b = Bandit::new(Config::default());
    let healthy = names(&["flaky", "steady"]);
    for t in 0..30u64 {
        let now = t * 1000;
        b.observe("flaky", 10, 0.001, 500, now);
        b.observe("steady", 10, 0.001, 500, now);
        b.observe_failures("flaky", 1, now);
        b.update(&healthy, now);
    }
    let (w, _) = b.weights();
    assert!(w["flaky"] < 0.2 && w["steady"] > 0.8, "{w:?}");
    for t in 30..90u64 {
        let now = t * 1000;
        b.observe("flaky", 10, 0.001, 500, now);
        b.observe("steady", 10, 0.001, 500, now);
        b.update(&healthy, now);
    }
    let (w, _) = b.weights();
    assert!(w["flaky"] > 0.3, "{w:?}");
}

#[test]
fn unhealthy_providers_get_zero() {
    let mut b = Bandit::new(Config::default());
    feed(&mut b, &[("a", 10, 0.001), ("b", 10, 0.001)], 0, 10);
    b.update(&names(&["b"]), 11_000);
    let (w, _) = b.weights();
    assert_eq!(w["a"], 0.0);
    assert!((w["b"] - 1.0).abs() < 1e-9);
}

#[test]
fn scores_per_second_when_a_price_is_unknown() {
    let mut b = Bandit::new(Config::default());
    // "local" is free but slow per answer; per second it yields less.
    for t in 0..60 {
        b.observe("local", 10, 0.0, 4000, t * 1000);
        b.observe("api", 10, 0.01, 1000, t * 1000);
        b.update(&names(&["local", "api"]), t * 1000);
    }
    let (w, _) = b.weights();
    assert!(w["api"] > w["local"], "{w:?}");
}

#[test]
fn a_batch_provider_enters_the_weights_at_its_batch_price() {
    // The same model live ("gpt", one answer a second) and in batch mode
    // ("gpt-batch": half the price, answers in bursts of 200 an hour after
    // they were asked for). Before its first burst it keeps a weight above
    // 0 (its runner submits only then); from its first burst on it leads on
    // new items per dollar, whatever its latency, and keeps its standing
    // between bursts.
    let mut b = Bandit::new(Config::default());
    let healthy = names(&["gpt", "gpt-batch"]);
    for t in 0..1800u64 {
        let now = t * 1000;
        b.observe("gpt", 10, 0.002, 2_000, now);
        if t == 600 || t == 1200 {
            for _ in 0..200 {
                b.observe("gpt-batch", 10, 0.001, 3_600_000, now);
            }
        }
        b.update(&healthy, now);
        let (w, _) = b.weights();
        match t {
            0..600 => assert!(w["gpt-batch"] > 0.0, "at {t}: {w:?}"),
            600 => assert!(w["gpt-batch"] > w["gpt"], "at {t}: {w:?}"),
            _ => assert!(w["gpt-batch"] > 0.9, "at {t}: {w:?}"),
        }
    }
}

#[test]
fn manual_override_wins_until_cleared() {
    let mut b = Bandit::new(Config::default());
    feed(&mut b, &[("a", 10, 0.001), ("b", 1, 0.001)], 0, 30);
    let manual: BTreeMap<String, f64> = [("b".to_string(), 1.0)].into();
    b.set_manual(Some(manual.clone()));
    feed(&mut b, &[("a", 10, 0.001), ("b", 1, 0.001)], 30, 10);
    assert_eq!(b.weights().0, &manual);
    b.set_manual(None);
    assert!(b.weights().0["a"] > 0.8);
}
