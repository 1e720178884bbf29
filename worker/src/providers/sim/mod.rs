//! `sim`: an offline, seeded simulation of an LLM answering list prompts,
//! so the whole system runs without keys and its strategies matter the way
//! they matter with real models. [`Sim`] draws each answer's items from
//! the topic's latent world (`universe.rs`: a tree of named sub-categories
//! whose leaves hold items, Zipf popularity at every level), writes them in
//! the shapes and with the noise of small real models (`render.rs`), and
//! records what each line really names (`truth.rs`, never on the wire).
//! It invents items as small real models do (`invention.rs`) and answers
//! judge prompts with a judge's errors (`judge.rs`). Its knobs are
//! [`SimConfig`] (`knobs.rs`); the vocabulary of its worlds is in
//! `words.rs`, how an item's id is spelled as a name and read back in
//! `spelling.rs`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::completion::Completion;
use super::error::LlmError;
use crate::prompt::{Prompt, Task};
use crate::rng::Rng;

mod invention;
mod judge;
mod knobs;
mod render;
mod spelling;
mod truth;
pub mod universe;
mod words;

pub use invention::MAX_INVENTION;
pub use knobs::SimConfig;
use render::{Entry, maybe};
pub use truth::{Line, Shape, Truth, Verdict};
pub use universe::Universe;
use universe::{NodeId, ROOT, key};

/// What a model with `partition_sense` below 1 answers under a partition
/// it cannot place, as a share of the items asked for: a small real model
/// gave 3.4 items under its own nonsense sub-categories against 7.9 on the
/// plain topic.
pub const MISFIT_SHARE: f64 = 0.43;

/// Sub-categories a weak model makes up: they fit no subtree of the world.
const NONSENSE: &[&str] = &[
    "Things that feel like Sunday",
    "Vibes and moods",
    "Places shaped like letters",
    "Miscellaneous",
    "Other notable ones",
    "Underrated gems",
    "Items for introverts",
    "Ones with a story",
    "Unusual picks",
    "Category of the week",
    "Everything else",
    "Top picks",
];

/// Draws per item before the model gives up on finding one it may say.
const ATTEMPTS: usize = 8;

/// The simulated model.
///
/// Each topic has a latent world: `fanout` children per node and `depth`
/// levels of sub-categories, whose leaves hold items. Popularity is Zipf
/// among the children of every node (exponent `category_s`) and among the
/// items of every leaf (`zipf_s`), so:
/// - **models repeat popular items**: a broad prompt descends from the
///   root by popularity and keeps landing on the same corners and items;
/// - **a narrower prompt reaches the long tail**: a prompt naming a
///   partition ("Museums > Historic museums") starts the descent at that
///   node, with popularity *within* it, for a share `partition_obedience`
///   of its items; the rest drift back to the broad distribution;
/// - **models obey avoid lists only partly**: an item named in the
///   prompt's avoid list is replaced by another draw with probability
///   `avoid_obedience`;
/// - **models invent**: a share of the items, growing down the list, under
///   narrow partitions, with avoid lists and once the model has said what
///   it knows of the prompt's node, are names spelled like the world's
///   that name nothing in it, drawn by popularity from the model's own
///   pool of inventions, so they recur across calls (`invention_*`);
/// - **models differ in quality**: `universe` is how many items a model
///   knows (a smaller model knows the popular part of what a larger one
///   knows), `zipf_s` and `category_s` how strongly it repeats itself, the
///   obediences how well it follows instructions; plus price, `latency_ms`
///   (median for 20 items, lognormal with `latency_sigma`, growing with the
///   square root of the count), `failure_rate` (HTTP 500) and
///   `rate_limit_rate` (429).
///
/// Partition jobs are answered with the world's own names for the node's
/// children (none for a leaf), the same for every sim with the same seed,
/// fanout and depth; text the world does not know maps to a node by the
/// words it mentions or by its hash, so partitions proposed by real models
/// work too. Answers come in the shapes real models use (numbered,
/// bulleted, bold, with preamble and closing remarks, sometimes "Name -
/// remark" or a leading "The"), and with the noise small real models add,
/// each at its rate: descriptions after names (`description_rate`), other
/// spellings of an item the answer already named (`variant_rate`), a line
/// echoing the prompt (`echo_rate`), placeholders such as "2nd item"
/// (`placeholder_rate`). A weak model (`partition_sense` below 1) names
/// nonsense sub-categories and answers few items under a partition it
/// cannot place. A request asking for JSON (`json`, or a prompt mentioning
/// `"items"`) is answered `{"items": [...]}`, with the same descriptions
/// and variants but fewer echoes and placeholders. Tokens are counted from
/// the text (about four characters a token) and priced per million.
/// Everything is drawn from a seeded generator, so a seed replays the same
/// run; [`Sim::answer_at`] gives an answer and its latency without
/// waiting, for benchmarks in virtual time, and [`Sim::answer_with_truth`]
/// also what each line really names ([`Truth`]). Judge prompts are
/// answered by world membership with the configured errors (`judge_*`).
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

    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// The latent world of `topic` as this model knows it.
    pub fn universe(&self, topic: &str) -> Arc<Universe> {
        let mut universes = self.universes.lock().expect("universe lock");
        universes
            .entry(topic.to_string())
            .or_insert_with(|| Arc::new(Universe::new(topic, &self.config)))
            .clone()
    }

    pub async fn complete(&self, prompt: &Prompt) -> Result<Completion, LlmError> {
        let (outcome, latency) = {
            let mut rng = self.rng.lock().expect("rng lock");
            self.answer_at(prompt, &mut rng)
        };
        tokio::time::sleep(latency).await;
        outcome
    }

    /// The answer to `prompt` and how long the model takes to give it,
    /// without waiting: pure given the generator.
    pub fn answer_at(
        &self,
        prompt: &Prompt,
        rng: &mut Rng,
    ) -> (Result<Completion, LlmError>, Duration) {
        let (outcome, latency, _) = self.answer_with_truth(prompt, rng);
        (outcome, latency)
    }

    /// [`Sim::answer_at`] plus what each line of the answer really names
    /// (empty for partition jobs and failures).
    pub fn answer_with_truth(
        &self,
        prompt: &Prompt,
        rng: &mut Rng,
    ) -> (Result<Completion, LlmError>, Duration, Truth) {
        let universe = self.universe(&prompt.topic);
        let scale = (prompt.count.max(1) as f64 / 20.0).sqrt();
        let latency = rng.lognormal(self.config.latency_ms * scale, self.config.latency_sigma);
        let mut truth = Truth::default();
        let outcome = self.answer(&universe, prompt, rng, &mut truth);
        let latency = Duration::from_secs_f64(latency.max(0.0) / 1000.0);
        (outcome, latency, truth)
    }

    /// Whether the request asks for `{"items": [...]}`.
    /// Whether the prompt asks for a JSON object (the items' or the
    /// judge's verdicts').
    fn json(&self, prompt: &Prompt) -> bool {
        self.config.json
            || ["\"items\"", "\"verdicts\""]
                .iter()
                .any(|key| prompt.user.contains(key) || prompt.system.contains(key))
    }

    fn answer(
        &self,
        universe: &Universe,
        prompt: &Prompt,
        rng: &mut Rng,
        truth: &mut Truth,
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
        let json = self.json(prompt);
        let text = match prompt.task {
            Task::Items => {
                let entries = self.items(universe, prompt, rng);
                let (text, lines) =
                    render::render(universe, &entries, prompt, &self.config, json, rng);
                *truth = lines;
                text
            }
            Task::Partitions => self.name_partitions(universe, prompt, json, rng),
            Task::Judge => judge::judge(universe, prompt, &self.config, json, rng),
            Task::Identify(question) => {
                judge::identify(universe, prompt, question, &self.config, rng)
            }
        };
        let tokens_in = prompt.estimated_tokens();
        let tokens_out = (text.len() / 4 + 1) as u64;
        Ok(Completion {
            cost_usd: tokens_in as f64 * self.config.price_in_per_m / 1e6
                + tokens_out as f64 * self.config.price_out_per_m / 1e6,
            text,
            model: self.config.model.clone(),
            tokens_in,
            tokens_cached_in: 0,
            tokens_out,
            finish_reason: Some("stop".into()),
            request_id: Some(format!("sim-{:016x}", rng.next_u64())),
            limits: Default::default(),
        })
    }

    /// A list of items: drawn within the partition (mostly) by popularity,
    /// around the avoid hints (partly), never twice in one answer; a share
    /// `variant_rate` of the lines re-name an item already chosen. Each
    /// slot is invented with its chance (`invention.rs`), and with any
    /// invention on, a slot the model finds no new item for too. A weak
    /// model under a partition it cannot place answers fewer, broadly.
    fn items(&self, universe: &Universe, prompt: &Prompt, rng: &mut Rng) -> Vec<Entry> {
        let avoid: HashSet<String> = prompt.avoid.iter().map(|a| key(a)).collect();
        let partition = prompt.partition.as_deref();
        let misfit =
            self.config.partition_sense < 1.0 && partition.is_some_and(|p| !universe.fits(p));
        let node = match misfit {
            true => ROOT,
            false => partition.map_or(ROOT, |p| universe.node(p)),
        };
        let mut count = prompt.count.max(1) as usize;
        if misfit {
            count = ((count as f64 * MISFIT_SHARE).round() as usize).max(1);
        }
        let invents = self.config.invents();
        let (depth, known) = (universe.depth(node), universe.known(node));
        // Ids named so far, and how many of them the model knows under `node`.
        let mut chosen: Vec<u64> = Vec::with_capacity(count);
        let mut said = 0;
        let mut entries: Vec<Entry> = Vec::with_capacity(count);
        'items: for position in 0..count {
            if maybe(rng, self.config.variant_rate) && !chosen.is_empty() {
                let id = chosen[rng.below(chosen.len())];
                entries.push(Entry { id, variant: true });
                continue;
            }
            let slot = invention::Slot {
                position,
                depth,
                hints: avoid.len(),
                exhausted: match invents {
                    true => invention::exhausted(said, known),
                    false => 0.0,
                },
            };
            if maybe(rng, invention::chance(&self.config, slot))
                && let Some(id) = self.invent(universe, node, &avoid, &chosen, rng)
            {
                chosen.push(id);
                entries.push(Entry { id, variant: false });
                continue;
            }
            let mut drew = None;
            for _attempt in 0..ATTEMPTS {
                let focused = node != ROOT && rng.chance(self.config.partition_obedience);
                let drawn = if focused {
                    universe
                        .draw(node, rng)
                        .or_else(|| universe.draw(ROOT, rng))
                } else {
                    universe.draw(ROOT, rng)
                };
                let Some(i) = drawn else {
                    match invents {
                        true => break,
                        false => break 'items,
                    }
                };
                let avoided = !avoid.is_empty()
                    && avoid.contains(&key(&universe.names[i]))
                    && rng.chance(self.config.avoid_obedience);
                if !avoided && !chosen.contains(&universe.id(i)) {
                    drew = Some(i);
                    break;
                }
            }
            let id = match drew {
                Some(i) => {
                    said += usize::from(universe.contains(node, i));
                    universe.id(i)
                }
                None if invents => match self.invent(universe, node, &avoid, &chosen, rng) {
                    Some(id) => id,
                    None => continue,
                },
                None => continue,
            };
            chosen.push(id);
            entries.push(Entry { id, variant: false });
        }
        entries
    }

    /// An invented item for an answer: within the prompt's node for a
    /// share `partition_obedience`, around the avoid hints (partly), not
    /// one the answer already names; `None` when every try repeats.
    fn invent(
        &self,
        universe: &Universe,
        node: NodeId,
        avoid: &HashSet<String>,
        chosen: &[u64],
        rng: &mut Rng,
    ) -> Option<u64> {
        let at = match node != ROOT && rng.chance(self.config.partition_obedience) {
            true => node,
            false => ROOT,
        };
        (0..ATTEMPTS).find_map(|_| {
            let id = universe.invent(at, rng)?;
            let avoided = !avoid.is_empty()
                && avoid.contains(&key(&universe.name_of(id)))
                && rng.chance(self.config.avoid_obedience);
            (!avoided && !chosen.contains(&id)).then_some(id)
        })
    }

    /// Sub-categories as a model names them: the world's children of the
    /// node the prompt's partition names (of the topic without one), in a
    /// random order, a share `1 - partition_sense` of them replaced by
    /// made-up ones. A leaf has none: the answer is empty.
    fn name_partitions(
        &self,
        universe: &Universe,
        prompt: &Prompt,
        json: bool,
        rng: &mut Rng,
    ) -> String {
        let node = prompt
            .partition
            .as_deref()
            .map_or(ROOT, |p| universe.node(p));
        let mut names: Vec<String> = universe
            .children(node)
            .into_iter()
            .map(str::to_string)
            .collect();
        if names.is_empty() {
            return String::new();
        }
        for i in (1..names.len()).rev() {
            names.swap(i, rng.below(i + 1));
        }
        names.truncate(prompt.count.max(1) as usize);
        for name in &mut names {
            if maybe(rng, 1.0 - self.config.partition_sense) {
                *name = rng.pick(NONSENSE).to_string();
            }
        }
        if json {
            return serde_json::json!({ "items": names }).to_string();
        }
        let scope = prompt.partition.as_deref().unwrap_or(&prompt.topic);
        let mut out = format!("Here are some sub-categories of {scope}:\n\n");
        for (n, name) in names.iter().enumerate() {
            out.push_str(&format!("{}. {name}\n", n + 1));
        }
        out
    }
}

#[cfg(test)]
mod tests;
