//! The engine's runs: seeded, within budget, true items behind the keys,
//! strategies that stay off, and batch mode.

use igentai_protocol::Strategies;

use super::*;
use crate::yield_sim::batch::BatchMode;

fn scenario(strategies: Strategies, seed: u64) -> Scenario {
    Scenario {
        strategies,
        fixed: None,
        limit: Limit::tokens(60_000),
        degrade: None,
        seed,
        tuning: Default::default(),
    }
}

#[test]
fn runs_are_seeded_and_stop_at_their_budget() {
    let fleet = Fleet::standard();
    let all = Strategies::default();
    let (a, b) = (
        run(&fleet, &scenario(all, 1)),
        run(&fleet, &scenario(all, 1)),
    );
    assert_eq!(a.points, b.points, "a seed replays the run");
    assert_ne!(a.points, run(&fleet, &scenario(all, 2)).points);
    let last = a.last();
    assert!(last.tokens >= 60_000 && a.points[a.points.len() - 2].tokens < 60_000);
    assert!(
        a.points.windows(2).all(|w| w[0].tokens <= w[1].tokens
            && w[0].unique <= w[1].unique
            && w[0].ms <= w[1].ms)
    );
    assert!(last.unique > 0 && last.usd > 0.0);
    assert!(!a.partitions.is_empty(), "the topic was split");
    assert!(a.weights.len() >= 2, "weights after every tick");
}

#[test]
fn true_items_behind_the_keys() {
    let all = Strategies::default();
    let noisy = run(&Fleet::standard(), &scenario(all, 1)).last();
    let t = noisy.truth;
    assert_eq!(t.keys, noisy.unique);
    // The sims answer with descriptions, echoes and placeholders; what
    // the parser lets through of them stays under 1% of the keys.
    assert!(t.distinct <= t.keys, "{t:?}");
    assert!(
        t.junk * 100 <= t.keys && t.described * 100 <= t.keys,
        "{t:?}"
    );
    assert_eq!(t.wrong_merges, 0, "no two names share a key");
    // The models invent; their inventions are keys of no item.
    assert!(t.invented > 0, "{t:?}");
    assert!(t.distinct + t.junk + t.invented <= t.keys, "{t:?}");
    // Clean answers: every key is one item.
    let clean = run(&Fleet::standard().clean(), &scenario(all, 1)).last();
    let t = clean.truth;
    assert_eq!((t.keys, t.distinct), (clean.unique, clean.unique));
    assert_eq!(
        (t.junk, t.described, t.invented, t.wrong_merges),
        (0, 0, 0, 0)
    );
}

#[test]
fn switched_off_strategies_stay_off() {
    let fleet = Fleet::standard();
    let naive = Strategies {
        weights: false,
        partitions: false,
        avoid: false,
    };
    let trace = run(&fleet, &scenario(naive, 1));
    assert!(trace.partitions.is_empty());
    let uniform = 1.0 / fleet.providers.len() as f64;
    assert!(
        trace
            .weights
            .iter()
            .all(|(_, w)| w.values().all(|x| (x - uniform).abs() < 1e-9))
    );
    assert_eq!(trace.by_provider.len(), fleet.providers.len());
}

/// `mid` live and through its vendor's batch API in a small fleet, with
/// batches answered five minutes after submission.
fn batch_pair() -> [Fleet; 3] {
    let mode = BatchMode {
        turnaround_ms: 5 * 60_000,
        ..BatchMode::default()
    };
    Fleet::standard()
        .batch_or_live("mid", mode)
        .expect("mid is in the standard fleet")
        .map(|f| Fleet {
            workers: 1,
            slots: 2,
            ..f
        })
}

fn fixed(weights: &[(&str, f64)], minutes: u64) -> Scenario {
    Scenario {
        strategies: Strategies {
            weights: false,
            partitions: false,
            avoid: false,
        },
        fixed: Some(weights.iter().map(|(n, w)| (n.to_string(), *w)).collect()),
        limit: Limit::seconds(minutes * 60),
        ..scenario(Strategies::default(), 1)
    }
}

#[test]
fn batch_answers_come_late_together_and_at_half_the_price() {
    let [live, batch, _] = batch_pair();
    let weights = [("mid", 1.0), ("mid-batch", 1.0)];
    let live = run(&live, &fixed(&weights, 20));
    let batch = run(&batch, &fixed(&weights, 20));
    let first = batch.answers.first().expect("batch answers");
    assert!(first.ms >= 5 * 60_000, "nothing before the turnaround");
    // Without live providers, a full batch goes at once, and the next
    // ones as long as fewer than four are in flight; their answers come
    // together (but for the requests the sim failed, 3%).
    let at_once = batch
        .answers
        .iter()
        .filter(|a| a.ms < first.ms + 1_000)
        .count() as f64;
    let sent = f64::from(4 * BatchMode::default().size);
    assert!(
        (0.9 * sent..=sent).contains(&at_once),
        "{at_once} of {sent}"
    );
    let second = batch
        .answers
        .iter()
        .find(|a| a.ms >= first.ms + 1_000)
        .expect("a second wave");
    assert!(
        second.ms >= 2 * first.ms,
        "the next batches went when the first came back"
    );
    let per_answer = |t: &Trace| t.last().usd / t.answers.len() as f64;
    let ratio = per_answer(&batch) / per_answer(&live);
    assert!((0.4..0.6).contains(&ratio), "batch ÷ live price {ratio}");
}

#[test]
fn the_weights_split_the_turns_between_live_and_batch() {
    let [_, _, both] = batch_pair();
    let batch_share = |w: f64| {
        let t = run(&both, &fixed(&[("mid", 1.0 - w), ("mid-batch", w)], 60));
        let batch = t.answers.iter().filter(|a| a.provider == 1).count();
        batch as f64 / t.answers.len() as f64
    };
    // Answers to the last turnaround's turns are still out.
    let share = batch_share(0.8);
    assert!((0.7..0.85).contains(&share), "weight 0.8: {share}");
    let share = batch_share(0.2);
    assert!((0.12..0.25).contains(&share), "weight 0.2: {share}");
}
