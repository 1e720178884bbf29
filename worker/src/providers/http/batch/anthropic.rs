//! Anthropic's Message Batches: the requests sent in one body
//! (`POST /v1/messages/batches`, each `{custom_id, params}` with the live
//! client's Messages body), polled (`GET /v1/messages/batches/{id}`), the
//! results read from the batch's `results_url` (JSONL, in any order), and
//! cancelled (`POST /v1/messages/batches/{id}/cancel`). Each succeeded
//! result's `message` is what the live endpoint would have answered,
//! decoded by the live decoder; an errored one's `error` is the live
//! endpoint's error body, read as the live client reads it.

use serde::Deserialize;
use serde_json::json;

use super::{
    Counts, End, Failure, Files, Request, Results, Status, as_response, batch_pricing, checked,
    client, json, lines,
};
use crate::providers::completion::Completion;
use crate::providers::error::LlmError;
use crate::providers::http::Anthropic;
use crate::providers::http::anthropic::{API_VERSION, decode};
use crate::providers::http::client::{self as http, Response};
use crate::providers::http::decode::{DecodeContext, Pricing};
use crate::providers::settings::{ApiKey, Batch, Settings};

pub struct AnthropicBatch {
    live: Anthropic,
    http: reqwest::Client,
    base_url: String,
    key: Option<ApiKey>,
    pricing: Pricing,
}

#[derive(Deserialize)]
struct MessageBatch {
    id: String,
    #[serde(rename = "type")]
    kind: Option<String>,
    processing_status: String,
    #[serde(default)]
    request_counts: RequestCounts,
    #[serde(default)]
    results_url: Option<String>,
    #[serde(default)]
    cancel_initiated_at: Option<String>,
}

#[derive(Deserialize, Default)]
struct RequestCounts {
    #[serde(default)]
    processing: u64,
    #[serde(default)]
    succeeded: u64,
    #[serde(default)]
    errored: u64,
    #[serde(default)]
    canceled: u64,
    #[serde(default)]
    expired: u64,
}

/// One line of the results file.
#[derive(Deserialize)]
struct Line {
    custom_id: String,
    result: LineResult,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum LineResult {
    Succeeded { message: serde_json::Value },
    Errored { error: serde_json::Value },
    Canceled,
    Expired,
}

impl AnthropicBatch {
    pub fn new(settings: &Settings, batch: &Batch) -> anyhow::Result<Self> {
        Ok(AnthropicBatch {
            live: Anthropic::new(settings)?,
            http: client(settings)?,
            base_url: settings.base_url.clone(),
            key: settings.api_key.clone(),
            pricing: batch_pricing(settings, batch),
        })
    }

    pub fn model(&self) -> &str {
        self.live.model()
    }

    pub async fn submit(&self, requests: &[Request]) -> Result<String, LlmError> {
        let form = self.live.form();
        let requests: Vec<serde_json::Value> = requests
            .iter()
            .map(|r| json!({"custom_id": r.custom_id, "params": self.live.body(&r.prompt, form)}))
            .collect();
        let request = self
            .http
            .post(format!("{}/v1/messages/batches", self.base_url))
            .json(&json!({"requests": requests}));
        let response = self.send(request).await?;
        Ok(message_batch(&response)?.id)
    }

    pub async fn poll(&self, id: &str) -> Result<Status, LlmError> {
        let request = self
            .http
            .get(format!("{}/v1/messages/batches/{id}", self.base_url));
        status(message_batch(&self.send(request).await?)?)
    }

    pub async fn cancel(&self, id: &str) -> Result<Status, LlmError> {
        let request = self
            .http
            .post(format!("{}/v1/messages/batches/{id}/cancel", self.base_url));
        status(message_batch(&self.send(request).await?)?)
    }

    /// The results file's lines, in the order written. The URL must be on
    /// the provider's own origin: the API key goes with the request.
    pub async fn results(&self, status: &Status, estimated_in: u64) -> Result<Results, LlmError> {
        let Files::Anthropic {
            results_url: Some(url),
        } = &status.files
        else {
            return Ok(Results::default());
        };
        if !same_origin(url, &self.base_url) {
            return Err(LlmError::Unparseable(format!(
                "results_url {url:?} is not on the provider's origin {}",
                self.base_url
            )));
        }
        let context = DecodeContext {
            model: self.live.model(),
            pricing: self.pricing,
            key: self.key.as_ref(),
            estimated_in,
        };
        let body = self.send(self.http.get(url)).await?.body;
        let mut results = Results::default();
        results.answers = lines::<Line>(&body, &mut results.malformed)
            .into_iter()
            .map(|line| (line.custom_id, answer(line.result, &context)))
            .collect();
        Ok(results)
    }

    async fn send(&self, mut request: reqwest::RequestBuilder) -> Result<Response, LlmError> {
        request = request.header("anthropic-version", API_VERSION);
        if let Some(key) = &self.key {
            request = request.header("x-api-key", http::secret_header(key.expose())?);
        }
        checked(http::send(request).await?, self.key.as_ref())
    }
}

fn message_batch(response: &Response) -> Result<MessageBatch, LlmError> {
    let batch: MessageBatch = json(response, "a message batch")?;
    if batch.kind.as_deref().is_some_and(|k| k != "message_batch") {
        return Err(http::unparseable("not a message batch", &response.body));
    }
    Ok(batch)
}

/// A message batch as a [`Status`]. An ended batch ended by cancelling
/// when a cancel was initiated, by expiring when requests expired.
fn status(batch: MessageBatch) -> Result<Status, LlmError> {
    let c = &batch.request_counts;
    let end = match batch.processing_status.as_str() {
        "in_progress" | "canceling" => None,
        "ended" if batch.cancel_initiated_at.is_some() => Some(End::Cancelled),
        "ended" if c.expired > 0 => Some(End::Expired),
        "ended" => Some(End::Completed),
        other => {
            return Err(LlmError::Unparseable(format!(
                "unknown processing_status {other:?}"
            )));
        }
    };
    Ok(Status {
        end,
        counts: Counts {
            total: c.processing + c.succeeded + c.errored + c.canceled + c.expired,
            done: c.succeeded,
            failed: c.errored + c.canceled + c.expired,
        },
        files: Files::Anthropic {
            results_url: batch.results_url.filter(|u| !u.is_empty()),
        },
        id: batch.id,
    })
}

/// One result: an answer decoded like a live one, or why there is none.
fn answer(result: LineResult, context: &DecodeContext) -> Result<Completion, Failure> {
    match result {
        LineResult::Succeeded { message } => {
            decode(&as_response(200, &message), context, http::now_unix_s()).map_err(Failure::of)
        }
        LineResult::Errored { error } => {
            let status = error_status(&error);
            let response = as_response(status, &error);
            Err(Failure::of(http::status_error(
                &response,
                context.key,
                http::now_unix_s(),
                Default::default(),
            )))
        }
        LineResult::Canceled => Err(Failure::retryable("canceled")),
        LineResult::Expired => Err(Failure::retryable("expired")),
    }
}

/// The HTTP status the live endpoint answers an error of this type with
/// (Anthropic's error types), so an errored result maps to the same
/// [`LlmError`] a live call would.
fn error_status(error: &serde_json::Value) -> u16 {
    let kind = error
        .pointer("/error/type")
        .or_else(|| error.get("type"))
        .and_then(|t| t.as_str());
    match kind {
        Some("invalid_request_error") => 400,
        Some("authentication_error") => 401,
        Some("permission_error") => 403,
        Some("not_found_error") => 404,
        Some("request_too_large") => 413,
        Some("rate_limit_error") => 429,
        Some("overloaded_error") => 529,
        _ => 500,
    }
}

/// Whether `url` is on the scheme, host and port of `base`.
fn same_origin(url: &str, base: &str) -> bool {
    let origin = |u: &str| -> Option<String> {
        let (scheme, rest) = u.split_once("://")?;
        let host = rest.split('/').next()?;
        Some(format!(
            "{}://{}",
            scheme.to_lowercase(),
            host.to_lowercase()
        ))
    };
    origin(url).is_some_and(|o| Some(o) == origin(base))
}
