//! What the pure decoders of the HTTP providers need besides the
//! response: the configured model, the price, the key to redact and the
//! estimated input.

use crate::providers::settings::{ApiKey, Settings};

/// USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Pricing {
    pub in_per_m: f64,
    pub out_per_m: f64,
}

impl Pricing {
    pub fn of(settings: &Settings) -> Self {
        Pricing {
            in_per_m: settings.price_in_per_m,
            out_per_m: settings.price_out_per_m,
        }
    }

    pub fn cost(&self, tokens_in: u64, tokens_out: u64) -> f64 {
        tokens_in as f64 * self.in_per_m / 1e6 + tokens_out as f64 * self.out_per_m / 1e6
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
