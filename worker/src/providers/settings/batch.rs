//! Batch mode of a provider: its answers asked for through the vendor's
//! batch API (OpenAI's Batch API, Anthropic's Message Batches) at about
//! half the price, delivered within hours instead of seconds. The file's
//! `mode`, `batch_size`, `batch_fill_s`, `batch_poll_s`,
//! `batch_poll_max_s` and `price_batch_factor` are checked here into a
//! [`Batch`].

use std::time::Duration;

use serde::Deserialize;

use super::Kind;

/// How a provider is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// One HTTP call per answer, from the worker's slots.
    #[default]
    Live,
    /// Many requests a batch, submitted, polled and fetched by the worker's
    /// batch runner.
    Batch,
}

/// Requests per batch when the file sets none: large enough to be worth
/// a poll loop, small enough that a batch's answers reflect the steering
/// of the hour it was submitted in.
pub const DEFAULT_BATCH_SIZE: u32 = 200;
/// The longest a drawn request waits for its batch to fill before a
/// smaller batch goes (`batches::turns`): a minute is nothing against a
/// batch's hours, and keeps a provider with a small share from holding its
/// requests back.
pub const DEFAULT_FILL_S: f64 = 60.0;
/// The first poll's delay; each next one doubles, up to the cap.
pub const DEFAULT_POLL_S: f64 = 5.0;
pub const DEFAULT_POLL_MAX_S: f64 = 300.0;
/// The vendors' batch discount: both bill batches at half the live price.
pub const DEFAULT_PRICE_FACTOR: f64 = 0.5;

/// The most requests one batch may hold, by vendor: OpenAI's 50,000 a
/// file, Anthropic's 100,000 a batch.
pub fn max_batch_size(kind: Kind) -> u32 {
    match kind {
        Kind::Openai => 50_000,
        Kind::Anthropic => 100_000,
        Kind::Sim => 0,
    }
}

/// A batch-mode provider's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Batch {
    /// Requests a batch.
    pub size: u32,
    /// The longest a drawn request waits for its batch to fill.
    pub fill: Duration,
    /// The first poll's delay.
    pub poll_first: Duration,
    /// The longest delay between two polls.
    pub poll_max: Duration,
    /// The batch price as a share of the live one, for every kind of token.
    pub price_factor: f64,
}

/// The batch keys of one `[[providers]]` entry, as written.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Given {
    pub mode: Option<Mode>,
    pub size: Option<u32>,
    pub fill_s: Option<f64>,
    pub poll_s: Option<f64>,
    pub poll_max_s: Option<f64>,
    pub price_factor: Option<f64>,
}

/// The batch settings of a provider of `kind`, `None` in live mode. The
/// batch keys without `mode = "batch"` are refused: a price factor that
/// silently does nothing would misprice every answer in the reader's head.
pub fn settle(kind: Kind, given: Given) -> anyhow::Result<Option<Batch>> {
    let mode = given.mode.unwrap_or_default();
    if mode == Mode::Live {
        anyhow::ensure!(
            given.size.is_none()
                && given.fill_s.is_none()
                && given.poll_s.is_none()
                && given.poll_max_s.is_none()
                && given.price_factor.is_none(),
            "batch_size, batch_fill_s, batch_poll_s, batch_poll_max_s and price_batch_factor only apply to mode = \"batch\""
        );
        return Ok(None);
    }
    anyhow::ensure!(
        kind != Kind::Sim,
        "mode = \"batch\" only applies to kinds \"openai\" and \"anthropic\""
    );
    let max = max_batch_size(kind);
    let size = given.size.unwrap_or(DEFAULT_BATCH_SIZE.min(max));
    anyhow::ensure!(
        (1..=max).contains(&size),
        "batch_size must be within 1..={max} for kind {:?}",
        kind.as_str()
    );
    let fill_s = given.fill_s.unwrap_or(DEFAULT_FILL_S);
    anyhow::ensure!(
        fill_s.is_finite() && fill_s >= 0.0,
        "batch_fill_s must be >= 0"
    );
    let poll_s = given.poll_s.unwrap_or(DEFAULT_POLL_S);
    anyhow::ensure!(
        poll_s.is_finite() && poll_s > 0.0,
        "batch_poll_s must be > 0"
    );
    let poll_max_s = given.poll_max_s.unwrap_or(DEFAULT_POLL_MAX_S.max(poll_s));
    anyhow::ensure!(
        poll_max_s.is_finite() && poll_max_s >= poll_s,
        "batch_poll_max_s must be >= batch_poll_s"
    );
    let price_factor = given.price_factor.unwrap_or(DEFAULT_PRICE_FACTOR);
    anyhow::ensure!(
        price_factor.is_finite() && price_factor > 0.0 && price_factor <= 1.0,
        "price_batch_factor must be within 0 (exclusive) and 1"
    );
    Ok(Some(Batch {
        size,
        fill: Duration::from_secs_f64(fill_s),
        poll_first: Duration::from_secs_f64(poll_s),
        poll_max: Duration::from_secs_f64(poll_max_s),
        price_factor,
    }))
}
