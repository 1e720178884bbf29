//! The simulated providers the yield benchmark steers between: four `sim`
//! models of one world that differ the way real models do, in quality
//! (how much of the world they know, how much they repeat themselves, how
//! well they follow partitions and avoid lists), price, speed and failure
//! rate, and in how they write their answers: the cheap small model adds
//! descriptions, variants, echoes and placeholders the way small real
//! models do and names nonsense sub-categories; the large one only rarely
//! (`Louvre Museum (Musée du Louvre)`). They invent items as real models
//! do, the cheap small one most (a third of a 20-item answer on the plain
//! topic), the large one rarely. Each also has two degraded forms for the
//! move-away measurement.

use worker::providers::settings::batch::DEFAULT_PRICE_FACTOR;
use worker::providers::{Sim, SimConfig};

use super::batch::BatchMode;

/// Seed of the shared world: every model knows the same tree and names.
pub const WORLD_SEED: u64 = 7;

/// How a provider degrades mid-run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Degradation {
    /// Its answers collapse onto a few items it keeps repeating (a model
    /// swapped for a weaker one behind the same name): still healthy, so
    /// only the measured yield can tell.
    Yield,
    /// Every call fails: its breakers open and the fleet reports it
    /// unhealthy.
    Failure,
}

impl Degradation {
    pub fn label(self) -> &'static str {
        match self {
            Self::Yield => "yield collapses (answers repeat)",
            Self::Failure => "every call fails",
        }
    }
}

pub struct Provider {
    pub name: String,
    pub config: SimConfig,
    pub sim: Sim,
    repeating: Sim,
    failing: Sim,
    /// Called through a vendor batch, not live (`batch.rs`).
    pub batch: Option<BatchMode>,
}

impl Provider {
    fn new(config: SimConfig) -> Self {
        // It repeats what it knows rather than making things up, so only
        // the yield, not new keys, could tell it apart.
        let repeating = SimConfig {
            universe: 60,
            zipf_s: 2.0,
            invention_rate: 0.0,
            invention_exhausted: 0.0,
            ..config.clone()
        };
        let failing = SimConfig {
            failure_rate: 1.0,
            ..config.clone()
        };
        Provider {
            name: config.model.clone(),
            sim: Sim::new(config.clone()),
            repeating: Sim::new(repeating),
            failing: Sim::new(failing),
            config,
            batch: None,
        }
    }

    /// The same model through its vendor's batch API, at the vendors'
    /// batch discount: named `<name>-batch`.
    fn batch_twin(&self, mode: BatchMode) -> Self {
        let config = SimConfig {
            model: format!("{}-batch", self.name),
            price_in_per_m: self.config.price_in_per_m * DEFAULT_PRICE_FACTOR,
            price_out_per_m: self.config.price_out_per_m * DEFAULT_PRICE_FACTOR,
            ..self.config.clone()
        };
        Provider {
            batch: Some(mode),
            ..Provider::new(config)
        }
    }

    /// The model answering now: itself, or its degraded form.
    pub fn model(&self, degraded: Option<Degradation>) -> &Sim {
        match degraded {
            None => &self.sim,
            Some(Degradation::Yield) => &self.repeating,
            Some(Degradation::Failure) => &self.failing,
        }
    }
}

/// The providers and the shape of the fleet calling them.
pub struct Fleet {
    pub topic: String,
    pub providers: Vec<Provider>,
    pub workers: usize,
    /// LLM calls in flight per worker.
    pub slots: usize,
}

impl Fleet {
    /// Four models: a cheap fast one that knows little and repeats much, a
    /// solid mid-priced one, a slow expensive one that knows the most, and
    /// a cheap one that fails often.
    pub fn standard() -> Self {
        let model = |name: &str| SimConfig {
            model: name.into(),
            seed: WORLD_SEED,
            ..SimConfig::default()
        };
        let providers = vec![
            SimConfig {
                universe: 40_000,
                zipf_s: 1.3,
                category_s: 3.0,
                latency_ms: 400.0,
                failure_rate: 0.02,
                avoid_obedience: 0.4,
                partition_obedience: 0.6,
                price_in_per_m: 0.05,
                price_out_per_m: 0.20,
                description_rate: 0.3,
                variant_rate: 0.15,
                echo_rate: 0.3,
                placeholder_rate: 0.15,
                partition_sense: 0.3,
                invention_rate: 0.18,
                invention_growth: 2.0,
                ..model("mini")
            },
            SimConfig {
                universe: 70_000,
                zipf_s: 1.1,
                category_s: 2.6,
                latency_ms: 900.0,
                failure_rate: 0.03,
                avoid_obedience: 0.7,
                partition_obedience: 0.8,
                price_in_per_m: 0.15,
                price_out_per_m: 0.60,
                description_rate: 0.2,
                variant_rate: 0.1,
                echo_rate: 0.15,
                placeholder_rate: 0.05,
                partition_sense: 0.9,
                ..model("mid")
            },
            SimConfig {
                universe: 100_000,
                zipf_s: 1.0,
                category_s: 2.2,
                latency_ms: 1_800.0,
                failure_rate: 0.01,
                avoid_obedience: 0.9,
                partition_obedience: 0.9,
                price_in_per_m: 1.25,
                price_out_per_m: 5.00,
                description_rate: 0.1,
                variant_rate: 0.05,
                echo_rate: 0.02,
                placeholder_rate: 0.0,
                partition_sense: 1.0,
                invention_rate: 0.03,
                invention_growth: 2.0,
                invention_exhausted: 0.25,
                ..model("max")
            },
            SimConfig {
                universe: 60_000,
                zipf_s: 1.1,
                category_s: 2.6,
                latency_ms: 600.0,
                failure_rate: 0.25,
                rate_limit_rate: 0.10,
                avoid_obedience: 0.7,
                partition_obedience: 0.8,
                price_in_per_m: 0.10,
                price_out_per_m: 0.40,
                description_rate: 0.2,
                variant_rate: 0.1,
                echo_rate: 0.15,
                placeholder_rate: 0.05,
                partition_sense: 0.9,
                ..model("flaky")
            },
        ];
        Fleet {
            topic: "Paris attractions".into(),
            providers: providers.into_iter().map(Provider::new).collect(),
            workers: 6,
            slots: 4,
        }
    }

    /// The fleet with only the provider `name` (`None`: no such provider).
    pub fn alone(&self, name: &str) -> Option<Fleet> {
        let provider = self.providers.iter().find(|p| p.name == name)?;
        Some(Fleet {
            topic: self.topic.clone(),
            providers: vec![Provider::new(provider.config.clone())],
            workers: self.workers,
            slots: self.slots,
        })
    }

    /// The model `name` three ways: live alone, through its vendor's batch
    /// API alone, and both, the weights splitting the turns.
    pub fn batch_or_live(&self, name: &str, mode: BatchMode) -> Option<[Fleet; 3]> {
        let live = || self.alone(name);
        let twin = || live().map(|f| f.providers[0].batch_twin(mode));
        let batch = Fleet {
            providers: vec![twin()?],
            ..live()?
        };
        let mut both = live()?;
        both.providers.push(twin()?);
        Some([live()?, batch, both])
    }

    /// The fleet with every model answering without the noise of small
    /// real models (no descriptions, variants, echoes, placeholders,
    /// nonsense sub-categories).
    pub fn clean(self) -> Fleet {
        Fleet {
            providers: self
                .providers
                .into_iter()
                .map(|p| Provider::new(p.config.clean()))
                .collect(),
            ..self
        }
    }

    pub fn names(&self) -> Vec<String> {
        self.providers.iter().map(|p| p.name.clone()).collect()
    }
}
