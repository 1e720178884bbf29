//! `Settings`: what each provider is built from, read from
//! `providers.toml`: which LLM providers a worker may call, at what price,
//! under which limits, and with which API key (named by an environment
//! variable, never written in the file).
//!
//! Pure apart from [`load`]: the file is parsed and checked into
//! [`ProviderSpec`]s, and the keys are looked up through a function the
//! caller passes, so tests never touch the process environment. Without a
//! file the worker runs `sim` (from its `--sim-*` flags) plus `openai` and
//! `anthropic` when `OPENAI_API_KEY` / `ANTHROPIC_API_KEY` are set.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;

use super::sim::SimConfig;

pub mod batch;
pub use batch::{Batch, Mode};

pub const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";
pub const ANTHROPIC_BASE_URL: &str = "https://api.anthropic.com";
pub const OPENAI_DEFAULT_MODEL: &str = "gpt-4o-mini";
pub const ANTHROPIC_DEFAULT_MODEL: &str = "claude-haiku-4-5";
const DEFAULT_TIMEOUT_S: f64 = 60.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// The Chat Completions API: OpenAI and every compatible server.
    Openai,
    /// Anthropic's Messages API.
    Anthropic,
    /// The offline simulation.
    Sim,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Openai => "openai",
            Kind::Anthropic => "anthropic",
            Kind::Sim => "sim",
        }
    }
}

/// What a provider is asked to answer with: a JSON object `{"items":
/// [...]}` under a schema where its API supports one (the default for
/// `openai` and `anthropic`), or free text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Output {
    Json,
    Text,
}

/// An API key. Its `Debug` prints `***`; it has no `Display` and no
/// `Serialize`, so it cannot reach a log line, a heartbeat or a metric by
/// accident.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        ApiKey(key.into())
    }

    /// The key itself, for the one header that carries it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `text` with every occurrence of the key replaced by `***`: error
    /// bodies sometimes echo what they were sent.
    pub fn redact(&self, text: &str) -> String {
        if self.0.len() < 4 {
            return text.to_string();
        }
        text.replace(&self.0, "***")
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

/// One `[[providers]]` entry of the file, as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSpec {
    /// The name weights, metrics and batches use.
    pub name: String,
    pub kind: Kind,
    /// API root: `https://api.openai.com/v1`, `http://localhost:11434/v1`, ...
    #[serde(default)]
    pub base_url: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    /// Name of the environment variable holding the API key.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// USD per million input tokens.
    #[serde(default)]
    pub price_in_per_m: Option<f64>,
    /// USD per million output tokens.
    #[serde(default)]
    pub price_out_per_m: Option<f64>,
    /// USD per million input tokens read from the prompt cache (default:
    /// Anthropic 0.1 × the input price, OpenAI 0.5 ×).
    #[serde(default)]
    pub price_cache_read_per_m: Option<f64>,
    /// USD per million input tokens written to the 5-minute prompt cache
    /// (default: Anthropic 1.25 × the input price; elsewhere the input price).
    #[serde(default)]
    pub price_cache_write_per_m: Option<f64>,
    /// USD per million input tokens written to Anthropic's 1-hour cache
    /// (default: 2 × the input price).
    #[serde(default)]
    pub price_cache_write_1h_per_m: Option<f64>,
    #[serde(default)]
    pub requests_per_min: Option<u32>,
    #[serde(default)]
    pub tokens_per_min: Option<u32>,
    /// Calls in flight to this provider from one worker.
    #[serde(default)]
    pub max_concurrency: Option<u32>,
    /// Whole-request timeout, seconds.
    #[serde(default)]
    pub timeout_s: Option<f64>,
    #[serde(default)]
    pub temperature: Option<f64>,
    /// Upper bound on output tokens (required by Anthropic, optional elsewhere).
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// `json` (default for openai and anthropic) or `text`.
    #[serde(default)]
    pub output: Option<Output>,
    /// The `[providers.sim]` table, for kind `sim` only.
    #[serde(default)]
    pub sim: Option<SimConfig>,
    /// `live` (default) or `batch` (`batch.rs`).
    #[serde(default)]
    pub mode: Option<Mode>,
    /// Requests per batch, in batch mode.
    #[serde(default)]
    pub batch_size: Option<u32>,
    /// The longest a drawn request waits for its batch to fill, seconds.
    #[serde(default)]
    pub batch_fill_s: Option<f64>,
    /// Seconds before a batch's first poll; doubled each poll.
    #[serde(default)]
    pub batch_poll_s: Option<f64>,
    /// The longest wait between two polls, seconds.
    #[serde(default)]
    pub batch_poll_max_s: Option<f64>,
    /// The batch price as a share of the live price (default 0.5).
    #[serde(default)]
    pub price_batch_factor: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    providers: Vec<ProviderSpec>,
}

/// USD per million cached input tokens, by how the cache was used.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CachePrices {
    pub read_per_m: f64,
    pub write_per_m: f64,
    pub write_1h_per_m: f64,
}

impl CachePrices {
    /// The vendors' published multipliers of the input price, or the
    /// file's prices where it gives them: Anthropic bills cache reads at
    /// 0.1 ×, writes at 1.25 × (5-minute cache) and 2 × (1-hour cache);
    /// OpenAI bills cached input at a discount that depends on the model,
    /// at least half off (0.5 ×), and no writes. Set
    /// `price_cache_read_per_m` for a model with a deeper discount.
    fn of(kind: Kind, price_in: f64, given: [Option<f64>; 3]) -> CachePrices {
        let (read, write, write_1h) = match kind {
            Kind::Anthropic => (0.1, 1.25, 2.0),
            Kind::Openai => (0.5, 1.0, 1.0),
            Kind::Sim => (1.0, 1.0, 1.0),
        };
        CachePrices {
            read_per_m: given[0].unwrap_or(read * price_in),
            write_per_m: given[1].unwrap_or(write * price_in),
            write_1h_per_m: given[2].unwrap_or(write_1h * price_in),
        }
    }
}

/// A spec checked and completed: what a provider is built from.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub name: String,
    pub kind: Kind,
    pub base_url: String,
    pub model: String,
    /// The environment variable the key is read from.
    pub api_key_env: Option<String>,
    /// `None` for servers that need no key (a local vLLM or Ollama).
    pub api_key: Option<ApiKey>,
    /// Why the provider cannot be used at all (its key is missing).
    pub unusable: Option<String>,
    pub price_in_per_m: f64,
    pub price_out_per_m: f64,
    /// Prices of cached input.
    pub cache: CachePrices,
    pub requests_per_min: Option<u32>,
    pub tokens_per_min: Option<u32>,
    pub max_concurrency: u32,
    pub timeout: Duration,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
    pub output: Output,
    pub sim: SimConfig,
    /// Set in batch mode: the provider is called only through its vendor's
    /// batch API, never by a live slot.
    pub batch: Option<Batch>,
}

/// Reads and checks a providers file.
pub fn load(path: &Path, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<Vec<Settings>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    parse(&text, env).with_context(|| format!("in {}", path.display()))
}

/// Parses and checks the text of a providers file.
pub fn parse(text: &str, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<Vec<Settings>> {
    let file: File = toml::from_str(text).context("not a valid providers file")?;
    anyhow::ensure!(!file.providers.is_empty(), "no [[providers]] entry");
    let mut names = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(file.providers.len());
    for spec in file.providers {
        anyhow::ensure!(
            names.insert(spec.name.clone()),
            "provider {:?} is defined twice",
            spec.name
        );
        let name = spec.name.clone();
        out.push(settle(spec, &env).with_context(|| format!("provider {name:?}"))?);
    }
    Ok(out)
}

/// The providers of a worker started without a file: `sim` configured by
/// its flags, plus `openai` / `anthropic` when their keys are set.
pub fn defaults(sim: SimConfig, env: impl Fn(&str) -> Option<String>) -> Vec<Settings> {
    let mut specs = vec![ProviderSpec {
        model: Some(sim.model.clone()),
        price_in_per_m: Some(sim.price_in_per_m),
        price_out_per_m: Some(sim.price_out_per_m),
        ..spec("sim", Kind::Sim)
    }];
    if env("OPENAI_API_KEY").is_some_and(|k| !k.is_empty()) {
        specs.push(ProviderSpec {
            model: Some(OPENAI_DEFAULT_MODEL.into()),
            api_key_env: Some("OPENAI_API_KEY".into()),
            price_in_per_m: Some(0.15),
            price_out_per_m: Some(0.60),
            ..spec("openai", Kind::Openai)
        });
    }
    if env("ANTHROPIC_API_KEY").is_some_and(|k| !k.is_empty()) {
        specs.push(ProviderSpec {
            model: Some(ANTHROPIC_DEFAULT_MODEL.into()),
            api_key_env: Some("ANTHROPIC_API_KEY".into()),
            price_in_per_m: Some(1.0),
            price_out_per_m: Some(5.0),
            ..spec("anthropic", Kind::Anthropic)
        });
    }
    specs
        .into_iter()
        .map(|s| {
            let mut settings = settle(s, &env).expect("built-in providers are valid");
            if settings.kind == Kind::Sim {
                settings.sim = SimConfig {
                    model: settings.model.clone(),
                    ..sim.clone()
                };
            }
            settings
        })
        .collect()
}

fn spec(name: &str, kind: Kind) -> ProviderSpec {
    ProviderSpec {
        name: name.into(),
        kind,
        base_url: None,
        model: None,
        api_key_env: None,
        price_in_per_m: None,
        price_out_per_m: None,
        price_cache_read_per_m: None,
        price_cache_write_per_m: None,
        price_cache_write_1h_per_m: None,
        requests_per_min: None,
        tokens_per_min: None,
        max_concurrency: None,
        timeout_s: None,
        temperature: None,
        max_tokens: None,
        output: None,
        sim: None,
        mode: None,
        batch_size: None,
        batch_fill_s: None,
        batch_poll_s: None,
        batch_poll_max_s: None,
        price_batch_factor: None,
    }
}

fn settle(spec: ProviderSpec, env: &impl Fn(&str) -> Option<String>) -> anyhow::Result<Settings> {
    anyhow::ensure!(
        igentai_protocol::subjects::valid_token(&spec.name),
        "name must be 1-64 letters, digits, '-' or '_'"
    );
    let sim = sim_config(&spec)?;
    let batch = batch::settle(
        spec.kind,
        batch::Given {
            mode: spec.mode,
            size: spec.batch_size,
            fill_s: spec.batch_fill_s,
            poll_s: spec.batch_poll_s,
            poll_max_s: spec.batch_poll_max_s,
            price_factor: spec.price_batch_factor,
        },
    )?;
    let base_url = match (spec.kind, &spec.base_url) {
        (_, Some(url)) => {
            anyhow::ensure!(
                url.starts_with("http://") || url.starts_with("https://"),
                "base_url {url:?} must start with http:// or https://"
            );
            url.trim_end_matches('/').to_string()
        }
        (Kind::Openai, None) => OPENAI_BASE_URL.into(),
        (Kind::Anthropic, None) => ANTHROPIC_BASE_URL.into(),
        (Kind::Sim, None) => String::new(),
    };
    let model = match (spec.kind, spec.model) {
        (_, Some(m)) if !m.trim().is_empty() => m,
        (Kind::Sim, _) => sim.model.clone(),
        _ => anyhow::bail!("model is required for kind {:?}", spec.kind.as_str()),
    };
    let (mut api_key, mut unusable) = (None, None);
    if let Some(var) = &spec.api_key_env {
        match env(var).filter(|k| !k.trim().is_empty()) {
            Some(key) => api_key = Some(ApiKey::new(key.trim())),
            None => {
                unusable = Some(format!(
                    "environment variable {var} (its API key) is not set"
                ))
            }
        }
    } else if spec.kind == Kind::Anthropic {
        anyhow::bail!("api_key_env is required for kind \"anthropic\"");
    }
    let (price_in, price_out) = match spec.kind {
        Kind::Sim => (
            spec.price_in_per_m.unwrap_or(sim.price_in_per_m),
            spec.price_out_per_m.unwrap_or(sim.price_out_per_m),
        ),
        _ => (
            spec.price_in_per_m.unwrap_or(0.0),
            spec.price_out_per_m.unwrap_or(0.0),
        ),
    };
    let cache = CachePrices::of(
        spec.kind,
        price_in,
        [
            spec.price_cache_read_per_m,
            spec.price_cache_write_per_m,
            spec.price_cache_write_1h_per_m,
        ],
    );
    for (what, v) in [
        ("price_in_per_m", price_in),
        ("price_out_per_m", price_out),
        ("price_cache_read_per_m", cache.read_per_m),
        ("price_cache_write_per_m", cache.write_per_m),
        ("price_cache_write_1h_per_m", cache.write_1h_per_m),
    ] {
        anyhow::ensure!(v.is_finite() && v >= 0.0, "{what} must be a number >= 0");
    }
    let timeout_s = spec.timeout_s.unwrap_or(DEFAULT_TIMEOUT_S);
    anyhow::ensure!(
        timeout_s.is_finite() && timeout_s > 0.0,
        "timeout_s must be > 0"
    );
    if let Some(t) = spec.temperature {
        anyhow::ensure!((0.0..=2.0).contains(&t), "temperature must be within 0..=2");
    }
    for (what, v) in [
        ("requests_per_min", spec.requests_per_min),
        ("tokens_per_min", spec.tokens_per_min),
        ("max_concurrency", spec.max_concurrency),
        ("max_tokens", spec.max_tokens),
    ] {
        anyhow::ensure!(
            v != Some(0),
            "{what} must be at least 1 (leave it out for no limit)"
        );
    }
    let output = match (spec.kind, spec.output) {
        (Kind::Sim, Some(Output::Json)) => {
            anyhow::bail!("output = \"json\" only applies to kinds \"openai\" and \"anthropic\"")
        }
        (Kind::Sim, _) => Output::Text,
        (_, output) => output.unwrap_or(Output::Json),
    };
    Ok(Settings {
        name: spec.name,
        output,
        kind: spec.kind,
        base_url,
        sim: SimConfig {
            model: model.clone(),
            price_in_per_m: price_in,
            price_out_per_m: price_out,
            ..sim
        },
        model,
        api_key_env: spec.api_key_env,
        api_key,
        unusable,
        price_in_per_m: price_in,
        price_out_per_m: price_out,
        cache,
        requests_per_min: spec.requests_per_min,
        tokens_per_min: spec.tokens_per_min,
        max_concurrency: spec.max_concurrency.unwrap_or(64),
        timeout: Duration::from_secs_f64(timeout_s),
        temperature: spec.temperature,
        max_tokens: spec.max_tokens,
        batch,
    })
}

fn sim_config(spec: &ProviderSpec) -> anyhow::Result<SimConfig> {
    let config = match &spec.sim {
        None => SimConfig::default(),
        Some(_) if spec.kind != Kind::Sim => {
            anyhow::bail!("a [providers.sim] table only applies to kind \"sim\"")
        }
        Some(sim) => SimConfig {
            universe: sim.universe.max(1),
            ..sim.clone()
        },
    };
    config.check()?;
    Ok(config)
}

#[cfg(test)]
mod tests;
