//! `SimConfig`: the knobs of a simulated model (its world's size and
//! shape, how it repeats itself, obeys, fails and adds noise, its latency
//! and price), their defaults and their ranges. The one spelling of the
//! sim's settings: the providers file deserializes into it and the
//! worker's `--sim-*` flags take their defaults from it.

use serde::Deserialize;

/// Most children a node may have (the shortest name list).
pub const MAX_FANOUT: u32 = 12;
/// Most levels of sub-categories.
pub const MAX_DEPTH: u32 = 4;
/// Most items a model may know per topic.
pub const MAX_UNIVERSE: usize = 2_000_000;

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
        }
    }
}

impl SimConfig {
    /// This model without the noise of small real models: no
    /// descriptions, variants, echoes, placeholders or nonsense
    /// sub-categories.
    pub fn clean(self) -> Self {
        SimConfig {
            description_rate: 0.0,
            variant_rate: 0.0,
            echo_rate: 0.0,
            placeholder_rate: 0.0,
            partition_sense: 1.0,
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
        Ok(())
    }
}
