//! LLM providers: the answer to a prompt ([`Completion`]), or a typed
//! error the caller can branch on ([`LlmError`]). `providers.toml` is read
//! into [`Settings`] (`settings.rs`), each built into a [`Provider`]
//! (`provider.rs`): the HTTP clients (`http/`) or the simulated model
//! (`sim/`). The set a worker picks from is in `pool.rs`, each member an
//! [`Entry`] (`entry.rs`) behind its breaker, backoff and limits
//! (`guard/`).

mod completion;
mod entry;
mod error;
pub mod guard;
pub(crate) mod http;
mod pool;
mod provider;
pub mod settings;
pub mod sim;

pub use completion::Completion;
pub use entry::{Entry, Lease, Unavailable};
pub use error::LlmError;
pub use http::batch::{self as batch_api, BatchClient};
pub use http::headers::RateLimits;
pub use http::structured::{items_schema, schema_for};
pub use http::{Anthropic, OpenAi};
pub use pool::{Providers, Wait, choose};
pub use provider::Provider;
pub use settings::{ApiKey, Kind, Output, Settings};
pub use sim::{Sim, SimConfig};
