//! `SimConfig`: the knobs of a simulated model (its world's size and
//! shape, how it repeats itself, obeys, invents, judges, fails and adds
//! noise, its latency and price), their defaults and their ranges. The one spelling of the
//! sim's settings: the providers file deserializes into it and the
//! worker's `--sim-*` flags take their defaults from it.

use serde::Deserialize;

/// Most children a node may have (the shortest name list).
pub const MAX_FANOUT: u32 = 12;
/// Most levels of sub-categories.
pub const MAX_DEPTH: u32 = 4;
/// Most items a model may know per topic; also the size of the world
/// itself: every model knows part of these, and a name outside them is
/// invented.
pub const MAX_UNIVERSE: usize = 2_000_000;
/// Most invented names per sub-category a model draws from.
pub const MAX_INVENTION_POOL: usize = 10_000;

/// A simulated model. In `providers.toml` it is the `[providers.sim]`
/// table, every field optional (unset ones keep the defaults); `model` and
/// the prices come from the provider's own fields.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    #[serde(skip)]
    pub model: String,
    /// Seed of the world (shared by sims meant to know the same world) and
    /// of the calls.
    pub seed: u64,
    /// Items this model knows in each topic.
    pub universe: usize,
    /// Children per node of the latent tree of sub-categories.
    pub fanout: u32,
    /// Levels of sub-categories.
    pub depth: u32,
    /// Zipf exponent of the items' popularity within a sub-category:
    /// higher means more repetition.
    pub zipf_s: f64,
    /// Zipf exponent of the sub-categories' popularity within their
    /// parent: higher means broad prompts keep to fewer corners.
    pub category_s: f64,
    /// Median latency of an answer of 20 items.
    pub latency_ms: f64,
    /// Lognormal shape of the latency.
    pub latency_sigma: f64,
    /// Share of calls that fail with a server error.
    pub failure_rate: f64,
    /// Share of calls answered with a rate limit.
    pub rate_limit_rate: f64,
    /// Share of avoid hints the model obeys.
    pub avoid_obedience: f64,
    /// Share of items drawn from the prompt's partition when it has one.
    pub partition_obedience: f64,
    #[serde(skip)]
    pub price_in_per_m: f64,
    #[serde(skip)]
    pub price_out_per_m: f64,
    /// Share of items written with a description ("Brie; cheese with a
    /// sweet flavor", "Chesser, a cheese from Switzerland").
    pub description_rate: f64,
    /// Share of lines re-naming an item the answer already named, in
    /// another spelling ("Salmaella (Tuscany, Italy)", "The Louvre").
    pub variant_rate: f64,
    /// Chance an answer holds a line echoing the prompt or system text.
    pub echo_rate: f64,
    /// Chance an answer ends in placeholders ("19th item") for items.
    pub placeholder_rate: f64,
    /// Share of the sub-categories it names that are real; below 1 it
    /// also answers few items, broadly, under a partition it cannot place.
    pub partition_sense: f64,
    /// Always answer `{"items": [...]}` (as it does when the prompt asks
    /// for `"items"`).
    pub json: bool,
    /// Chance the first item of an answer to a broad prompt is invented: a
    /// name spelled like the world's own that names nothing in it. Real
    /// small models invent much: on a closed topic a 0.5B model's stored
    /// list was about half non-members (51% with the plain prompt, 42%
    /// with partitions and avoid hints), SmolLM2-135M invents most of its
    /// items. The default is a moderate small model: 10% at the top of a
    /// list, 34% at item 20 (22% of a 20-item answer).
    pub invention_rate: f64,
    /// How the chance grows down the list (the first items are the famous
    /// ones, the tail is made up): the k-th item (from 0) is invented with
    /// `invention_rate × (1 + invention_growth × k / 20)`, times the two
    /// multipliers below, at most 0.9.
    pub invention_growth: f64,
    /// Growth of the chance under a partition, per level of depth of its
    /// node: × (1 + `invention_partition` × depth), so a leaf three levels
    /// down invents 1.75 times as much at the default. A narrow
    /// sub-category exhausts what a model knows.
    pub invention_partition: f64,
    /// Growth of the chance with an avoid list: × (1 + `invention_avoid` ×
    /// hints / 20), at most 20 hints counted. Told not to repeat what it
    /// knows, a model invents.
    pub invention_avoid: f64,
    /// How much more a model invents once it has said what it knows of the
    /// prompt's node: the share of the node's known items the answer
    /// already holds, times this, is added to the chance (a model knowing
    /// 4 items of a sub-category and asked for 20 makes up most of the
    /// rest); and with any invention on, a slot it finds no new item for
    /// is invented rather than left out.
    pub invention_exhausted: f64,
    /// Invented names per sub-category this model draws from, by Zipf
    /// popularity (`zipf_s`) like its real ones: the same model re-invents
    /// the same names across calls, and they collide in dedup as real
    /// models' inventions do. Each model (by name) has its own.
    pub invention_pool: usize,
    /// Share of the non-members it judges that it calls "member": a 0.5B
    /// model said yes to nearly everything; a 1.5B classifier that raised
    /// the valid share of a list from 49% to 75% keeping 78% of the
    /// members accepted about a quarter of the non-members and rejected
    /// about a fifth of the members. The defaults are a decent, larger
    /// judge.
    pub judge_false_accept: f64,
    /// Share of the world's items it judges that it calls "invented" or
    /// "other".
    pub judge_false_reject: f64,
    /// Of the items it does not get wrong, the share it answers "unsure".
    pub judge_unsure: f64,
    /// Chance it calls a real item it does not know itself (outside its
    /// `universe`) invented, as the judge prompt tells it to; 0 judges by
    /// the world, so a small judge does not reject a larger model's tail.
    pub judge_unknown_reject: f64,
    /// Share of the non-members its labels let through that its answers
    /// to the second questions (`prompt::identify`, with
    /// `judge_confirm`) confirm: the 1.5B judge kept 2 of the 73 the
    /// labels let through on the elements' fixed lines, 3 of 5 on the
    /// countries' (`Kosovo`, `Korea`, `Hong Kong`), none on the states'.
    pub judge_second_false_accept: f64,
    /// Share of the members its labels kept that it answers "none" to
    /// when asked to name them, rejecting them: confirming cost the 1.5B
    /// judge 3–8% of the members its labels kept on the fixed lines.
    pub judge_second_false_reject: f64,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            model: "sim-1".into(),
            seed: 42,
            universe: 20_000,
            fanout: 8,
            depth: 3,
            zipf_s: 1.0,
            category_s: 2.0,
            latency_ms: 800.0,
            latency_sigma: 0.5,
            failure_rate: 0.0,
            rate_limit_rate: 0.0,
            avoid_obedience: 0.7,
            partition_obedience: 0.8,
            price_in_per_m: 0.15,
            price_out_per_m: 0.60,
            description_rate: 0.25,
            variant_rate: 0.1,
            echo_rate: 0.2,
            placeholder_rate: 0.1,
            partition_sense: 1.0,
            json: false,
            invention_rate: 0.1,
            invention_growth: 2.5,
            invention_partition: 0.25,
            invention_avoid: 0.5,
            invention_exhausted: 0.5,
            invention_pool: 40,
            judge_false_accept: 0.1,
            judge_false_reject: 0.05,
            judge_unsure: 0.02,
            judge_unknown_reject: 0.0,
            judge_second_false_accept: 0.05,
            judge_second_false_reject: 0.05,
        }
    }
}

impl SimConfig {
    /// This model without the noise of small real models: no
    /// descriptions, variants, echoes, placeholders, nonsense
    /// sub-categories or invented items. (Its judging keeps its rates.)
    pub fn clean(self) -> Self {
        SimConfig {
            description_rate: 0.0,
            variant_rate: 0.0,
            echo_rate: 0.0,
            placeholder_rate: 0.0,
            partition_sense: 1.0,
            invention_rate: 0.0,
            invention_exhausted: 0.0,
            ..self
        }
    }

    /// Whether this model ever invents an item.
    pub fn invents(&self) -> bool {
        self.invention_rate > 0.0 || self.invention_exhausted > 0.0
    }

    /// This model inventing its first items at `rate` (clamped to 0..=1);
    /// at 0 it invents nothing at all, even when it runs out of items.
    pub fn inventing(self, rate: f64) -> Self {
        let rate = rate.clamp(0.0, 1.0);
        SimConfig {
            invention_rate: rate,
            invention_exhausted: match rate > 0.0 {
                true => self.invention_exhausted,
                false => 0.0,
            },
            ..self
        }
    }

    /// Refuses knobs outside their ranges, naming them as the providers
    /// file does (`sim.fanout`).
    pub fn check(&self) -> anyhow::Result<()> {
        for (what, v) in [
            ("failure_rate", self.failure_rate),
            ("rate_limit_rate", self.rate_limit_rate),
            ("avoid_obedience", self.avoid_obedience),
            ("partition_obedience", self.partition_obedience),
            ("description_rate", self.description_rate),
            ("variant_rate", self.variant_rate),
            ("echo_rate", self.echo_rate),
            ("placeholder_rate", self.placeholder_rate),
            ("partition_sense", self.partition_sense),
            ("invention_rate", self.invention_rate),
            ("invention_exhausted", self.invention_exhausted),
            ("judge_false_accept", self.judge_false_accept),
            ("judge_false_reject", self.judge_false_reject),
            ("judge_unsure", self.judge_unsure),
            ("judge_unknown_reject", self.judge_unknown_reject),
            ("judge_second_false_accept", self.judge_second_false_accept),
            ("judge_second_false_reject", self.judge_second_false_reject),
        ] {
            anyhow::ensure!((0.0..=1.0).contains(&v), "sim.{what} must be within 0..=1");
        }
        anyhow::ensure!(
            (2..=MAX_FANOUT).contains(&self.fanout),
            "sim.fanout must be within 2..={MAX_FANOUT}"
        );
        anyhow::ensure!(
            (1..=MAX_DEPTH).contains(&self.depth),
            "sim.depth must be within 1..={MAX_DEPTH}"
        );
        anyhow::ensure!(
            self.universe <= MAX_UNIVERSE,
            "sim.universe must be at most {MAX_UNIVERSE}"
        );
        for (what, v) in [
            ("latency_ms", self.latency_ms),
            ("latency_sigma", self.latency_sigma),
            ("zipf_s", self.zipf_s),
            ("category_s", self.category_s),
        ] {
            anyhow::ensure!(
                v.is_finite() && v >= 0.0,
                "sim.{what} must be a number >= 0"
            );
        }
        for (what, v) in [
            ("invention_growth", self.invention_growth),
            ("invention_partition", self.invention_partition),
            ("invention_avoid", self.invention_avoid),
        ] {
            anyhow::ensure!(
                (0.0..=20.0).contains(&v),
                "sim.{what} must be within 0..=20"
            );
        }
        anyhow::ensure!(
            (1..=MAX_INVENTION_POOL).contains(&self.invention_pool),
            "sim.invention_pool must be within 1..={MAX_INVENTION_POOL}"
        );
        Ok(())
    }
}
