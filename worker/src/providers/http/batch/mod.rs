//! The vendors' batch APIs: many requests submitted at once, answered
//! within a day at about half the live price. OpenAI's Batch API
//! (`openai.rs`: a JSONL file uploaded, a batch made of it, its output and
//! error files fetched) and Anthropic's Message Batches (`anthropic.rs`:
//! the requests in one body, the results fetched from `results_url`).
//!
//! Each request's body is the live client's (`OpenAi::body`,
//! `Anthropic::body`) and each result's body is decoded by the live
//! decoder at the batch price, so a batch answer becomes a
//! [`Completion`] exactly as a live one does: the same text, usage, cached
//! tokens and cost. Result files are vendor input: a line that is not
//! UTF-8, not JSON, too long or of an unknown shape is counted in
//! [`Results::malformed`] and skipped, never trusted.

pub mod anthropic;
pub mod openai;

use std::time::Duration;

use super::client::{self as http, Response};
use super::decode::Pricing;
use crate::prompt::Prompt;
use crate::providers::completion::Completion;
use crate::providers::error::LlmError;
use crate::providers::settings::{Batch, Kind, Settings};

/// The longest a result line may be: a vendor's answer to one request is
/// a few kilobytes; a line of megabytes is a broken file, not an answer.
pub const MAX_LINE_BYTES: usize = 4 << 20;

/// The shortest timeout of a batch's HTTP calls: a results file is larger
/// than one answer, and no call here waits for a model.
const MIN_TIMEOUT: Duration = Duration::from_secs(120);

/// One request of a batch: the id its result comes back under, and its
/// prompt.
#[derive(Debug, Clone)]
pub struct Request {
    pub custom_id: String,
    pub prompt: Prompt,
}

/// How far a batch is, in requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub total: u64,
    /// Answered.
    pub done: u64,
    /// Errored, expired or cancelled.
    pub failed: u64,
}

/// How a batch ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// Every request was processed (answered or errored).
    Completed,
    /// The completion window passed: the answered part is delivered, the
    /// rest comes back as expired.
    Expired,
    /// Cancelled: what was answered before is delivered.
    Cancelled,
    /// The vendor refused the batch as a whole (its file did not
    /// validate): no request was processed, and none will be by sending
    /// the same again.
    Failed(String),
}

/// Where a finished batch's results are.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Files {
    #[default]
    None,
    /// OpenAI: the output file (answers) and the error file (failures).
    OpenAi {
        output: Option<String>,
        error: Option<String>,
    },
    /// Anthropic: one results file, at this URL.
    Anthropic { results_url: Option<String> },
}

/// A batch as its vendor reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub id: String,
    /// `None` while it runs.
    pub end: Option<End>,
    pub counts: Counts,
    pub files: Files,
}

/// Why one request of a batch has no answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub error: LlmError,
    /// Worth sending again: it expired, was cancelled, or failed for a
    /// reason of the vendor's (rate limit, overload, server error). A
    /// refused request (HTTP 400) would only be refused again.
    pub retry: bool,
}

impl Failure {
    fn of(error: LlmError) -> Failure {
        let retry = !error.is_misconfiguration();
        Failure { error, retry }
    }

    fn retryable(message: impl Into<String>) -> Failure {
        Failure {
            error: LlmError::Server {
                status: 0,
                retry_after: None,
                message: message.into(),
            },
            retry: true,
        }
    }
}

/// The results of a finished batch, in the order the vendor wrote them.
#[derive(Debug, Default)]
pub struct Results {
    pub answers: Vec<(String, Result<Completion, Failure>)>,
    /// Lines that were no result: not UTF-8, not JSON, too long, without a
    /// custom id, or of a shape neither vendor writes.
    pub malformed: u64,
}

/// A batch-mode provider's client.
pub enum BatchClient {
    OpenAi(openai::OpenAiBatch),
    Anthropic(anthropic::AnthropicBatch),
}

impl BatchClient {
    /// The client of a provider in batch mode; `None` for a live one.
    pub fn build(settings: &Settings) -> anyhow::Result<Option<BatchClient>> {
        let Some(batch) = settings.batch else {
            return Ok(None);
        };
        Ok(Some(match settings.kind {
            Kind::Openai => BatchClient::OpenAi(openai::OpenAiBatch::new(settings, &batch)?),
            Kind::Anthropic => {
                BatchClient::Anthropic(anthropic::AnthropicBatch::new(settings, &batch)?)
            }
            Kind::Sim => anyhow::bail!("kind \"sim\" has no batch mode"),
        }))
    }

    /// Submits `requests` as one batch; its vendor id.
    pub async fn submit(&self, requests: &[Request]) -> Result<String, LlmError> {
        match self {
            BatchClient::OpenAi(c) => c.submit(requests).await,
            BatchClient::Anthropic(c) => c.submit(requests).await,
        }
    }

    pub async fn poll(&self, id: &str) -> Result<Status, LlmError> {
        match self {
            BatchClient::OpenAi(c) => c.poll(id).await,
            BatchClient::Anthropic(c) => c.poll(id).await,
        }
    }

    /// The results of a finished batch; `estimated_in` is reported as the
    /// input of an answer whose usage is missing.
    pub async fn results(&self, status: &Status, estimated_in: u64) -> Result<Results, LlmError> {
        match self {
            BatchClient::OpenAi(c) => c.results(status, estimated_in).await,
            BatchClient::Anthropic(c) => c.results(status, estimated_in).await,
        }
    }

    /// Asks the vendor to cancel a batch; what it reports then.
    pub async fn cancel(&self, id: &str) -> Result<Status, LlmError> {
        match self {
            BatchClient::OpenAi(c) => c.cancel(id).await,
            BatchClient::Anthropic(c) => c.cancel(id).await,
        }
    }

    /// The model requests are made with.
    pub fn model(&self) -> &str {
        match self {
            BatchClient::OpenAi(c) => c.model(),
            BatchClient::Anthropic(c) => c.model(),
        }
    }
}

/// The batch price: every kind of token at the live price times the
/// vendor's batch factor (cached input keeps its own price, discounted
/// the same).
pub fn batch_pricing(settings: &Settings, batch: &Batch) -> Pricing {
    Pricing::of(settings).scaled(batch.price_factor)
}

/// The HTTP client of a batch provider.
fn client(settings: &Settings) -> anyhow::Result<reqwest::Client> {
    http::client(settings.timeout.max(MIN_TIMEOUT))
}

/// The lines of a JSONL file, each parsed as `T`; the rest counted.
pub fn lines<T: serde::de::DeserializeOwned>(body: &[u8], malformed: &mut u64) -> Vec<T> {
    body.split(|b| *b == b'\n')
        .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
        .filter_map(|line| {
            let parsed = (line.len() <= MAX_LINE_BYTES)
                .then(|| serde_json::from_slice::<T>(line).ok())
                .flatten();
            if parsed.is_none() {
                *malformed += 1;
            }
            parsed
        })
        .collect()
}

/// A non-2xx answer to a batch call as an error; the rest as it is.
fn checked(
    response: Response,
    key: Option<&crate::providers::settings::ApiKey>,
) -> Result<Response, LlmError> {
    if http::is_success(response.status) {
        return Ok(response);
    }
    Err(http::status_error(
        &response,
        key,
        http::now_unix_s(),
        Default::default(),
    ))
}

/// A 2xx body read as `T`.
fn json<T: serde::de::DeserializeOwned>(response: &Response, what: &str) -> Result<T, LlmError> {
    serde_json::from_slice(&response.body)
        .map_err(|e| http::unparseable(&format!("not {what} ({e})"), &response.body))
}

/// One result's body as the live decoder takes it.
fn as_response(status: u16, body: &serde_json::Value) -> Response {
    Response {
        status,
        headers: Default::default(),
        body: serde_json::to_vec(body).unwrap_or_default().into(),
    }
}
