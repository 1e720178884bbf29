//! What the pure decoders of the HTTP providers need besides the
//! response: the configured model, the price, the key to redact and the
//! estimated input.

use crate::providers::settings::{ApiKey, Settings};

/// USD per million tokens, for each kind of token a provider bills.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Pricing {
    pub in_per_m: f64,
    pub out_per_m: f64,
    /// Input read from the provider's prompt cache.
    pub cache_read_per_m: f64,
    /// Input written to the prompt cache (Anthropic's 5-minute cache).
    pub cache_write_per_m: f64,
    /// Input written to Anthropic's 1-hour cache.
    pub cache_write_1h_per_m: f64,
}

impl Pricing {
    pub fn of(settings: &Settings) -> Self {
        Pricing {
            in_per_m: settings.price_in_per_m,
            out_per_m: settings.price_out_per_m,
            cache_read_per_m: settings.cache.read_per_m,
            cache_write_per_m: settings.cache.write_per_m,
            cache_write_1h_per_m: settings.cache.write_1h_per_m,
        }
    }

    /// Every price times `factor`: a batch API's discount.
    pub fn scaled(self, factor: f64) -> Self {
        Pricing {
            in_per_m: self.in_per_m * factor,
            out_per_m: self.out_per_m * factor,
            cache_read_per_m: self.cache_read_per_m * factor,
            cache_write_per_m: self.cache_write_per_m * factor,
            cache_write_1h_per_m: self.cache_write_1h_per_m * factor,
        }
    }

    /// What `tokens` cost, each kind at its own price.
    pub fn cost(&self, tokens: &Billed) -> f64 {
        (tokens.input as f64 * self.in_per_m
            + tokens.cache_read as f64 * self.cache_read_per_m
            + tokens.cache_write as f64 * self.cache_write_per_m
            + tokens.cache_write_1h as f64 * self.cache_write_1h_per_m
            + tokens.output as f64 * self.out_per_m)
            / 1e6
    }
}

/// An answer's tokens as its provider bills them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Billed {
    /// Input at the full input price.
    pub input: u64,
    /// Input read from the prompt cache.
    pub cache_read: u64,
    /// Input written to the 5-minute prompt cache.
    pub cache_write: u64,
    /// Input written to the 1-hour prompt cache.
    pub cache_write_1h: u64,
    pub output: u64,
}

impl Billed {
    /// Every input token, cached or not.
    pub fn all_input(&self) -> u64 {
        self.input + self.cache_read + self.cache_write + self.cache_write_1h
    }
}

/// What the pure HTTP decoders need besides the response.
#[derive(Debug, Clone, Copy)]
pub struct DecodeContext<'a> {
    /// The configured model, reported when the answer names none.
    pub model: &'a str,
    pub pricing: Pricing,
    /// Redacted from error messages.
    pub key: Option<&'a ApiKey>,
    /// Input tokens to report when the server gives no usage.
    pub estimated_in: u64,
}
