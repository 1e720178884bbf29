//! Arms: the plain broad prompt and each steering strategy measured side by
//! side while a run goes, so a strategy that does not pay is used less.
//!
//! Pure; how a strategy is judged is on [`Arms`].
//!
//! Long only with its unit tests: the code is the first 455 lines.

use igentai_protocol::ArmStats;

use super::validity::Validity;

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Share of the work the baseline keeps while a strategy is active.
    pub floor: f64,
    /// Share of the work a suppressed strategy keeps, to be re-tested.
    pub retest: f64,
    /// Evidence halves every this many answers of the pair.
    pub half_life_answers: f64,
    /// Answers (decayed) each side needs before the pair is judged.
    pub min_answers: f64,
    /// A strategy loses below `1 - margin` of its baseline's yield and wins
    /// back above `1 + margin`.
    pub margin: f64,
    /// Standard errors by which it must lose (or win).
    pub z: f64,
    /// How long workers stay on the arm they were placed on; placements
    /// rotate so that every worker takes its turn on the broad prompt.
    pub rotate_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        // A 15% floor keeps the broad prompt measured (about one worker in
        // seven) at a cost of at most 15% of what a winning strategy adds; a
        // suppressed strategy costs 10% of the work while it is re-tested.
        // At z = 2.5 with the 5% band, two equal arms switch by chance
        // about once in 10^4 judged half-lives, while one yielding 10% less
        // loses within a few half-lives.
        Self {
            floor: 0.15,
            retest: 0.10,
            half_life_answers: 1000.0,
            // Early on the broad prompt finds the popular items fast and
            // looks better than it will: judged on a few dozen answers, a
            // strategy that wins later was suppressed in its first seconds
            // (and at a 10% re-test share takes long to win back).
            min_answers: 60.0,
            margin: 0.05,
            z: 2.5,
            rotate_ms: 5_000,
        }
    }
}

/// Decayed sums for the ratio estimate new / spend and its variance.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Ratio {
    new: f64,
    spent: f64,
    new_sq: f64,
    new_spent: f64,
    spent_sq: f64,
}

impl Ratio {
    fn add(&mut self, new: f64, spent: f64) {
        self.new += new;
        self.spent += spent;
        self.new_sq += new * new;
        self.new_spent += new * spent;
        self.spent_sq += spent * spent;
    }

    fn scale(&mut self, f: f64) {
        self.new *= f;
        self.spent *= f;
        self.new_sq *= f;
        self.new_spent *= f;
        self.spent_sq *= f;
    }

    fn value(&self) -> Option<f64> {
        (self.spent > 0.0).then(|| self.new / self.spent)
    }

    /// Variance of the ratio estimate (delta method: the spread of each
    /// answer's new items around what its spend predicts).
    fn variance(&self) -> f64 {
        let Some(r) = self.value() else {
            return f64::INFINITY;
        };
        let residuals = self.new_sq - 2.0 * r * self.new_spent + r * r * self.spent_sq;
        residuals.max(0.0) / (self.spent * self.spent)
    }
}

/// What one arm produced: run totals, and decayed evidence to judge by.
#[derive(Debug, Clone, Default, PartialEq)]
struct Side {
    batches: u64,
    tokens: u64,
    cost_usd: f64,
    unique: u64,
    /// Answers, decayed.
    answers: f64,
    per_token: Ratio,
    per_usd: Ratio,
    /// What judges said of its new items.
    validity: Validity,
}

impl Side {
    fn scale(&mut self, f: f64) {
        self.answers *= f;
        self.per_token.scale(f);
        self.per_usd.scale(f);
    }

    fn spend(&mut self, new: u64, tokens: u64, cost_usd: f64) {
        self.tokens += tokens;
        self.cost_usd += cost_usd.max(0.0);
        self.unique += new;
        self.per_token.add(new as f64, tokens as f64);
        self.per_usd.add(new as f64, cost_usd.max(0.0));
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Gets most of the work.
    Active,
    /// Lost against its baseline; re-tested on a small share.
    Suppressed,
}

impl State {
    fn name(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suppressed => "suppressed",
        }
    }
}

/// A strategy and its baseline, judged on the same answers' measure.
#[derive(Debug, Clone, PartialEq)]
pub struct Judge {
    strategy: Side,
    baseline: Side,
    state: State,
    /// Some answer cost nothing: dollars cannot compare the arms.
    unpriced: bool,
}

impl Judge {
    fn new() -> Self {
        Self {
            strategy: Side::default(),
            baseline: Side::default(),
            state: State::Active,
            unpriced: false,
        }
    }

    #[cfg(test)]
    pub fn state(&self) -> State {
        self.state
    }

    /// One answer produced under the strategy (`true`) or the baseline.
    fn observe(&mut self, config: &Config, strategy: bool, new: u64, tokens: u64, cost_usd: f64) {
        if config.half_life_answers > 0.0 {
            let f = 0.5f64.powf(1.0 / config.half_life_answers);
            self.strategy.scale(f);
            self.baseline.scale(f);
        }
        self.unpriced |= cost_usd <= 0.0;
        let side = match strategy {
            true => &mut self.strategy,
            false => &mut self.baseline,
        };
        side.batches += 1;
        side.answers += 1.0;
        side.spend(new, tokens, cost_usd);
    }

    /// What the strategy itself costs beyond its answers.
    fn charge(&mut self, tokens: u64, cost_usd: f64) {
        self.strategy.spend(0, tokens, cost_usd);
    }

    /// The two sides' measures: per dollar when priced, else per token.
    fn measures(&self) -> (&Ratio, &Ratio) {
        match self.unpriced {
            true => (&self.strategy.per_token, &self.baseline.per_token),
            false => (&self.strategy.per_usd, &self.baseline.per_usd),
        }
    }

    /// A judge's verdict on a new item of the strategy's (`true`) or the
    /// baseline's answers.
    fn observe_verdict(&mut self, strategy: bool, valid: bool) {
        match strategy {
            true => self.strategy.validity.observe(valid),
            false => self.baseline.validity.observe(valid),
        }
    }

    /// The share of each side's new items that are valid, once any of the
    /// pair's items was judged (1 and 1 before: then new items count).
    fn valid_shares(&self) -> (f64, f64) {
        let (s, b) = (&self.strategy.validity, &self.baseline.validity);
        match s.judged() + b.judged() > 0.0 {
            true => (s.share(), b.share()),
            false => (1.0, 1.0),
        }
    }

    /// Each side's yield of valid items (its ratio times its valid share)
    /// and the standard error of their difference.
    fn yields(&self) -> Option<(f64, f64, f64)> {
        let (s, b) = self.measures();
        let (vs, vb) = self.valid_shares();
        let (rs, rb) = (s.value()? * vs, b.value()? * vb);
        let se = (s.variance() * vs * vs + b.variance() * vb * vb).sqrt();
        Some((rs, rb, se))
    }

    /// Strategy yield / baseline yield, once both sides have enough answers.
    fn relative(&self, config: &Config) -> Option<f64> {
        let enough = self.strategy.answers >= config.min_answers
            && self.baseline.answers >= config.min_answers;
        let (s, b, _) = self.yields()?;
        (enough && b > 0.0).then(|| s / b)
    }

    /// Judges the pair; returns true when the state changed.
    fn judge(&mut self, config: &Config) -> bool {
        if self.relative(config).is_none() {
            return false;
        }
        let Some((rs, rb, se)) = self.yields() else {
            return false;
        };
        let next = match self.state {
            State::Active if (1.0 - config.margin) * rb - rs > config.z * se => State::Suppressed,
            State::Suppressed if rs - (1.0 + config.margin) * rb > config.z * se => State::Active,
            unchanged => unchanged,
        };
        let changed = next != self.state;
        self.state = next;
        changed
    }

    /// Share of the work the strategy gets now.
    fn share(&self, config: &Config) -> f64 {
        match self.state {
            State::Active => 1.0 - config.floor,
            State::Suppressed => config.retest,
        }
    }

    fn stats(&self, config: &Config, strategy: &str, baseline: &str) -> [ArmStats; 2] {
        let share = self.share(config);
        let vs = self.relative(config).unwrap_or(0.0);
        [
            arm_stats(
                &self.strategy,
                strategy,
                baseline,
                self.state.name(),
                share,
                vs,
            ),
            arm_stats(&self.baseline, baseline, "", "baseline", 1.0 - share, 0.0),
        ]
    }
}

fn arm_stats(
    side: &Side,
    name: &str,
    against: &str,
    state: &str,
    share: f64,
    vs_baseline: f64,
) -> ArmStats {
    ArmStats {
        name: name.to_string(),
        against: against.to_string(),
        state: state.to_string(),
        share,
        batches: side.batches,
        tokens: side.tokens,
        cost_usd: side.cost_usd,
        unique: side.unique,
        unique_per_1k_tokens: side.per_token.value().unwrap_or(0.0) * 1000.0,
        unique_per_usd: side.per_usd.value().unwrap_or(0.0),
        vs_baseline,
    }
}

/// The arm names in metrics.
pub const BROAD: &str = "broad";
pub const PARTITIONS: &str = "partitions";
pub const AVOID: &str = "avoid";
pub const UNHINTED: &str = "unhinted";

/// The two strategies judged: partitioned against broad prompts, hinted
/// against unhinted ones (where a hint was available).
///
/// Pure. Partitions and avoid hints cost tokens and depend on the model
/// following them; a weak model names nonsense sub-categories and its
/// answers under them hold fewer new items. So each strategy is an arm
/// judged against its baseline on the same measure: partitioned prompts
/// against the broad prompt (partition jobs charged to the partitions
/// arm), hinted prompts against the same prompts with the hint withheld
/// (the hint's tokens are in the answer's input tokens). The measure is new
/// items per dollar when every answer was priced, per token otherwise (once
/// verdicts come, times the share of each side's new items judged valid),
/// over evidence that halves every [`Config::half_life_answers`] answers of the
/// pair (in answers, not seconds: a slow local model and a fast API both
/// get enough). A strategy is `Active` (most of the work) until it loses
/// clearly: its yield below `1 - margin` of the baseline's by more than `z`
/// standard errors (of the ratio estimates, from the answers' spread), each
/// side with enough answers. Then it is `Suppressed`, re-tested on a small
/// share, and comes back once it beats the baseline as clearly. The band
/// between keeps noise from switching it back and forth.
#[derive(Debug, Clone, PartialEq)]
pub struct Arms {
    config: Config,
    partitions: Judge,
    avoid: Judge,
    /// Hints available so far, for spreading the hint share over them.
    hints_offered: u64,
}

impl Arms {
    pub fn new(config: Config) -> Self {
        Self {
            config,
            partitions: Judge::new(),
            avoid: Judge::new(),
            hints_offered: 0,
        }
    }

    #[cfg(test)]
    pub fn partitions(&self) -> &Judge {
        &self.partitions
    }

    #[cfg(test)]
    pub fn avoid(&self) -> &Judge {
        &self.avoid
    }

    /// One answer: whether its prompt named a partition, and whether it
    /// carried a hint (`None`: not comparable, e.g. no hint was available,
    /// or no partition existed yet to be worked on).
    pub fn observe(
        &mut self,
        partitioned: Option<bool>,
        hinted: Option<bool>,
        new: u64,
        tokens: u64,
        cost_usd: f64,
    ) {
        let c = &self.config;
        if let Some(partitioned) = partitioned {
            self.partitions
                .observe(c, partitioned, new, tokens, cost_usd);
        }
        if let Some(hinted) = hinted {
            self.avoid.observe(c, hinted, new, tokens, cost_usd);
        }
    }

    /// A judge's verdict on a new item: whether the prompt it came from
    /// named a partition (`None`: not comparable). Hinted and unhinted
    /// answers' items are not told apart in verdicts, so the avoid arm is
    /// judged on new items alone.
    pub fn observe_verdict(&mut self, partitioned: Option<bool>, valid: bool) {
        if let Some(partitioned) = partitioned {
            self.partitions.observe_verdict(partitioned, valid);
        }
    }

    /// A partition job's tokens and cost, charged to the partitions arm.
    pub fn charge_partitions(&mut self, tokens: u64, cost_usd: f64) {
        self.partitions.charge(tokens, cost_usd);
    }

    /// Judges both strategies; returns true when either changed state.
    pub fn judge(&mut self) -> bool {
        let p = self.partitions.judge(&self.config);
        let a = self.avoid.judge(&self.config);
        p | a
    }

    /// Which of `workers` (sorted) work on partitions (`true`) rather than
    /// the broad prompt at `now_ms`. The broad prompt gets its share of
    /// the workers over time: in rotation period `e`, the workers from
    /// `floor(q e)` to `floor(q (e + 1))` (mod n), q = broad share × n.
    /// So the count averages q even when it is below one worker, and every
    /// worker takes its turn.
    pub fn place(&self, workers: usize, now_ms: u64) -> Vec<bool> {
        let n = workers;
        if n == 0 {
            return Vec::new();
        }
        let q = (1.0 - self.partitions.share(&self.config)) * n as f64;
        let epoch = (now_ms / self.config.rotate_ms.max(1)) as f64;
        let (lo, hi) = (
            (q * epoch).floor() as u64,
            (q * (epoch + 1.0)).floor() as u64,
        );
        let broad = (hi - lo).min(n as u64) as usize;
        let start = (lo % n as u64) as usize;
        let mut placed = vec![true; n];
        for i in 0..broad {
            placed[(start + i) % n] = false;
        }
        placed
    }

    /// Whether an available hint is sent: the avoid arm's share of the
    /// offers, spread evenly over them, the first one sent.
    pub fn offer_hint(&mut self) -> bool {
        let share = self.avoid.share(&self.config);
        let k = self.hints_offered as f64;
        self.hints_offered += 1;
        (share * (k + 1.0)).ceil() > (share * k).ceil()
    }

    /// Per-arm stats for the metrics, for the strategies switched on.
    pub fn stats(&self, partitions: bool, avoid: bool) -> Vec<ArmStats> {
        let c = &self.config;
        let mut out = Vec::new();
        match partitions {
            true => out.extend(self.partitions.stats(c, PARTITIONS, BROAD)),
            false => {
                let [_, mut broad] = self.partitions.stats(c, PARTITIONS, BROAD);
                broad.share = 1.0;
                out.push(broad);
            }
        }
        if avoid {
            out.extend(self.avoid.stats(c, AVOID, UNHINTED));
        }
        out
    }
}

#[cfg(test)]
mod tests {
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
}
