//! `sim`: an offline, seeded simulation of an LLM answering list prompts, so
//! the whole system runs without keys and its strategies have something
//! real to work against.
//!
//! The model: each topic has a latent universe of distinct items with
//! Zipf-distributed popularity (rank r drawn with weight 1/r^s), so answers
//! repeat popular items and the long tail is reached slowly, as with real
//! models. Items belong to sub-categories (the kinds in their names); a
//! prompt's partition selects one, and the model keeps to it only in part,
//! as real models drift. Avoid hints are obeyed only in part. Answers come in the shapes
//! real models use (numbered, bulleted, bold, with preamble and closing
//! remarks, sometimes "Name - description" or a variant spelling such as a
//! leading "The"). Latency is lognormal; tokens are counted from the text
//! (about four characters a token) and priced per million; failures and
//! rate limits happen at configured rates. Everything is drawn from a seeded
//! generator, so a seed replays the same run.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::universe::{KINDS, Universe};
use super::{Completion, LlmError};
use crate::prompt::{Prompt, Task};
use crate::rng::Rng;

#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    pub model: String,
    pub seed: u64,
    /// Distinct items in each topic's latent universe.
    pub universe: usize,
    /// Zipf exponent of item popularity: higher means more repetition.
    pub zipf_s: f64,
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
    pub price_in_per_m: f64,
    pub price_out_per_m: f64,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            model: "sim-1".into(),
            seed: 42,
            universe: 20_000,
            zipf_s: 1.0,
            latency_ms: 800.0,
            latency_sigma: 0.5,
            failure_rate: 0.0,
            rate_limit_rate: 0.0,
            avoid_obedience: 0.7,
            partition_obedience: 0.8,
            price_in_per_m: 0.15,
            price_out_per_m: 0.60,
        }
    }
}

const DESCRIPTIONS: &[&str] = &[
    "a local favourite",
    "worth a detour",
    "best visited early",
    "often overlooked",
    "popular with families",
    "known for its history",
];

pub struct Sim {
    config: SimConfig,
    universes: Mutex<HashMap<String, Arc<Universe>>>,
    rng: Mutex<Rng>,
}

impl Sim {
    pub fn new(config: SimConfig) -> Self {
        let rng = Rng::new(config.seed.wrapping_mul(0x2545_F491_4F6C_DD1D));
        Self {
            config,
            universes: Mutex::default(),
            rng: Mutex::new(rng),
        }
    }

    /// Seeds the call sequence, so two workers with different ids do not
    /// replay each other's answers.
    pub fn with_stream(self, stream: &str) -> Self {
        let seed = self.config.seed ^ xxhash_rust::xxh3::xxh3_64(stream.as_bytes());
        *self.rng.lock().expect("rng lock") = Rng::new(seed);
        self
    }

    pub fn model(&self) -> &str {
        &self.config.model
    }

    fn universe(&self, topic: &str) -> Arc<Universe> {
        let mut universes = self.universes.lock().expect("universe lock");
        universes
            .entry(topic.to_string())
            .or_insert_with(|| Arc::new(Universe::new(topic, &self.config)))
            .clone()
    }

    pub async fn complete(&self, prompt: &Prompt) -> Result<Completion, LlmError> {
        let universe = self.universe(&prompt.topic);
        let (outcome, latency) = {
            let mut rng = self.rng.lock().expect("rng lock");
            let scale = (prompt.count.max(1) as f64 / 20.0).sqrt();
            let latency = rng.lognormal(self.config.latency_ms * scale, self.config.latency_sigma);
            (self.answer(&universe, prompt, &mut rng), latency)
        };
        tokio::time::sleep(Duration::from_secs_f64(latency.max(0.0) / 1000.0)).await;
        outcome
    }

    /// The answer itself, without the wait: pure given the generator.
    fn answer(
        &self,
        universe: &Universe,
        prompt: &Prompt,
        rng: &mut Rng,
    ) -> Result<Completion, LlmError> {
        if rng.chance(self.config.rate_limit_rate) {
            return Err(LlmError::RateLimited {
                retry_after: Some(Duration::from_millis(500 + rng.below(1500) as u64)),
                message: "simulated rate limit".into(),
            });
        }
        if rng.chance(self.config.failure_rate) {
            return Err(LlmError::Server {
                status: 500,
                retry_after: None,
                message: "simulated server error".into(),
            });
        }
        let text = match prompt.task {
            Task::Items => self.items(universe, prompt, rng),
            Task::Partitions => name_partitions(universe, prompt, rng),
        };
        let tokens_in = ((prompt.system.len() + prompt.user.len()) / 4 + 1) as u64;
        let tokens_out = (text.len() / 4 + 1) as u64;
        Ok(Completion {
            cost_usd: tokens_in as f64 * self.config.price_in_per_m / 1e6
                + tokens_out as f64 * self.config.price_out_per_m / 1e6,
            text,
            model: self.config.model.clone(),
            tokens_in,
            tokens_out,
            finish_reason: Some("stop".into()),
            request_id: Some(format!("sim-{:016x}", rng.next_u64())),
            limits: Default::default(),
        })
    }

    /// A list of items, drawn by popularity within the partition (mostly)
    /// and around the avoid hints (partly).
    fn items(&self, universe: &Universe, prompt: &Prompt, rng: &mut Rng) -> String {
        let avoid: HashSet<String> = prompt.avoid.iter().map(|a| a.to_lowercase()).collect();
        let partition = prompt.partition.as_deref().map(|p| universe.category(p));
        let count = prompt.count.max(1) as usize;
        let mut chosen: Vec<usize> = Vec::with_capacity(count);
        for _ in 0..count {
            // A model rarely repeats itself within one answer, but does across answers.
            for _attempt in 0..8 {
                let i = match partition {
                    Some(c) if rng.chance(self.config.partition_obedience) => universe
                        .draw_in(c, rng)
                        .unwrap_or_else(|| universe.draw(rng)),
                    _ => universe.draw(rng),
                };
                let avoided = avoid.contains(&universe.names[i].to_lowercase())
                    && rng.chance(self.config.avoid_obedience);
                if !avoided && !chosen.contains(&i) {
                    chosen.push(i);
                    break;
                }
            }
        }
        render(universe, &chosen, prompt, rng)
    }
}

const QUALIFIERS: &[&str] = &[
    "Historic",
    "Hidden",
    "Modern",
    "Famous",
    "Small",
    "Riverside",
    "Free",
    "Royal",
    "Family-friendly",
    "Lesser-known",
    "Medieval",
    "Contemporary",
];

/// The plural of a kind: "Museum" → "Museums", "Gallery" → "Galleries".
fn plural(kind: &str) -> String {
    match kind.strip_suffix('y') {
        Some(stem) if !stem.ends_with(['a', 'e', 'o', 'u']) => format!("{stem}ies"),
        _ if kind.ends_with('s') => kind.to_string(),
        _ => format!("{kind}s"),
    }
}

/// Sub-categories as a model names them: the kinds of the universe for a
/// whole topic, qualified kinds ("Hidden Museums") within a partition, so
/// each maps back to a category the items follow.
fn name_partitions(universe: &Universe, prompt: &Prompt, rng: &mut Rng) -> String {
    let names: Vec<String> = match &prompt.partition {
        None => KINDS.iter().map(|k| plural(k)).collect(),
        Some(parent) => {
            let kind = plural(KINDS[universe.category(parent)]);
            QUALIFIERS
                .iter()
                .map(|q| format!("{q} {}", kind.to_lowercase()))
                .collect()
        }
    };
    let mut order: Vec<usize> = (0..names.len()).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i + 1));
    }
    let mut out = format!("Here are some sub-categories of {}:\n\n", prompt.topic);
    for (n, &i) in order.iter().take(prompt.count.max(1) as usize).enumerate() {
        out.push_str(&format!("{}. {}\n", n + 1, names[i]));
    }
    out
}

/// Writes the chosen items the way a chat model would.
fn render(universe: &Universe, chosen: &[usize], prompt: &Prompt, rng: &mut Rng) -> String {
    let mut out = String::new();
    if rng.chance(0.6) {
        out.push_str(&format!("Here are {} {}:\n\n", chosen.len(), prompt.topic));
    }
    let style = rng.below(4);
    for (n, &i) in chosen.iter().enumerate() {
        let name = &universe.names[i];
        let spelled = match rng.below(100) {
            0..=7 => format!("The {name}"),
            8..=11 => name.to_lowercase(),
            12..=15 => format!("{name}."),
            _ => name.clone(),
        };
        let line = match style {
            0 => format!("{}. {spelled}", n + 1),
            1 => format!("{}. **{spelled}**", n + 1),
            2 => format!("- {spelled}"),
            _ => format!("* {spelled}"),
        };
        out.push_str(&line);
        if rng.chance(0.1) {
            out.push_str(" - ");
            let description: &&str = rng.pick(DESCRIPTIONS);
            out.push_str(description);
        }
        out.push('\n');
    }
    if rng.chance(0.3) {
        out.push_str("\nLet me know if you would like more!");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::universe::category_of;
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

    fn config() -> SimConfig {
        SimConfig {
            universe: 2_000,
            ..SimConfig::default()
        }
    }

    #[test]
    fn seeded_answers_repeat() {
        let sim = Sim::new(config());
        let u = sim.universe("Paris attractions");
        let a = sim.answer(&u, &prompt(20, &[]), &mut Rng::new(5)).unwrap();
        let b = sim.answer(&u, &prompt(20, &[]), &mut Rng::new(5)).unwrap();
        assert_eq!(a, b);
        assert_eq!(parse(&a.text).len(), 20);
        assert!(a.tokens_out > 20 && a.cost_usd > 0.0);
    }

    #[test]
    fn popular_items_repeat_across_answers() {
        let sim = Sim::new(config());
        let u = sim.universe("Paris attractions");
        let mut rng = Rng::new(9);
        let mut seen = HashSet::new();
        let mut total = 0;
        for _ in 0..50 {
            let c = sim.answer(&u, &prompt(20, &[]), &mut rng).unwrap();
            for i in parse(&c.text) {
                total += 1;
                seen.insert(
                    i.to_lowercase()
                        .trim_start_matches("the ")
                        .trim_end_matches('.')
                        .to_string(),
                );
            }
        }
        let unique_share = seen.len() as f64 / total as f64;
        // Skewed popularity: far fewer distinct items than candidates, yet not all repeats.
        assert!((0.2..0.8).contains(&unique_share), "{unique_share}");
    }

    #[test]
    fn avoid_hints_are_partly_obeyed() {
        let sim = Sim::new(config());
        let u = sim.universe("Paris attractions");
        let top: Vec<&str> = u.names[..10].iter().map(String::as_str).collect();
        let hits = |avoid: &[&str], seed| {
            let mut rng = Rng::new(seed);
            (0..200)
                .map(|_| {
                    let c = sim.answer(&u, &prompt(20, avoid), &mut rng).unwrap();
                    top.iter().filter(|t| c.text.contains(**t)).count()
                })
                .sum::<usize>()
        };
        let (free, hinted) = (hits(&[], 1), hits(&top, 1));
        assert!(hinted < free * 6 / 10, "free {free}, hinted {hinted}");
        assert!(hinted > 0, "obedience is partial");
    }

    #[test]
    fn partitions_are_mostly_kept() {
        let sim = Sim::new(config());
        let u = sim.universe("Paris attractions");
        let museums = u.category("Museums of Paris");
        assert_eq!(KINDS[museums], "Museum");
        assert_eq!(
            u.category("street food"),
            u.category("Street food "),
            "any text maps to a stable category"
        );
        let index: HashMap<String, usize> = u
            .names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.to_lowercase(), i))
            .collect();
        let share = |partition: Option<&str>| {
            let mut rng = Rng::new(4);
            let (mut inside, mut all) = (0, 0);
            for _ in 0..100 {
                let c = sim
                    .answer(&u, &partitioned(20, &[], partition), &mut rng)
                    .unwrap();
                for item in parse(&c.text) {
                    let key = item.to_lowercase();
                    let key = key.trim_start_matches("the ").trim_end_matches('.');
                    all += 1;
                    inside += usize::from(category_of(&u.names[index[key]]) == museums);
                }
            }
            inside as f64 / all as f64
        };
        let (free, kept) = (share(None), share(Some("museums")));
        assert!(free < 0.2, "{free}");
        assert!((0.55..0.95).contains(&kept), "partial obedience: {kept}");
    }

    #[test]
    fn names_partitions_that_map_back_to_categories() {
        let sim = Sim::new(config());
        let u = sim.universe("Paris attractions");
        let ask = |parent: Option<&str>| Prompt {
            task: Task::Partitions,
            ..partitioned(6, &[], parent)
        };
        let top = parse(&sim.answer(&u, &ask(None), &mut Rng::new(1)).unwrap().text);
        assert_eq!(top.len(), 6);
        assert_eq!(top.iter().collect::<HashSet<_>>().len(), 6);
        for name in &top {
            assert_eq!(
                plural(KINDS[u.category(name)]),
                *name,
                "maps back to its own kind"
            );
        }
        let inner = parse(
            &sim.answer(&u, &ask(Some("Galleries")), &mut Rng::new(1))
                .unwrap()
                .text,
        );
        assert_eq!(inner.len(), 6);
        assert!(
            inner
                .iter()
                .all(|n| n.ends_with(" galleries") && KINDS[u.category(n)] == "Gallery"),
            "{inner:?}"
        );
        assert_eq!(plural("Library"), "Libraries");
        assert_eq!(plural("Abbey"), "Abbeys");
    }

    #[test]
    fn failures_at_configured_rates() {
        let sim = Sim::new(SimConfig {
            failure_rate: 0.5,
            rate_limit_rate: 0.2,
            ..config()
        });
        let u = sim.universe("t");
        let mut rng = Rng::new(2);
        let (mut failed, mut limited) = (0, 0);
        for _ in 0..2000 {
            match sim.answer(&u, &prompt(5, &[]), &mut rng) {
                Err(LlmError::Server { .. }) => failed += 1,
                Err(LlmError::RateLimited { .. }) => limited += 1,
                _ => {}
            }
        }
        // 20% limited; half of the remaining 80% fail.
        assert!((350..450).contains(&limited), "{limited}");
        assert!((700..900).contains(&failed), "{failed}");
    }
}
