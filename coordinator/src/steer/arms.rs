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
#[path = "arms_tests.rs"]
mod tests;
