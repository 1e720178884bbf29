//! OpenAI's Batch API: the requests uploaded as a JSONL file
//! (`POST /files`, purpose `batch`), a batch made of it (`POST /batches`,
//! window `24h`), polled (`GET /batches/{id}`), its output and error files
//! read (`GET /files/{id}/content`), and cancelled
//! (`POST /batches/{id}/cancel`). Each line of the input is a Chat
//! Completions request with the live client's body; each line of the output
//! holds the response the live endpoint would have given, decoded by the
//! live decoder.

use serde::Deserialize;
use serde_json::json;

use super::{
    Counts, End, Failure, Files, Request, Results, Status, as_response, batch_pricing, checked,
    client, json, lines,
};
use crate::providers::completion::Completion;
use crate::providers::error::LlmError;
use crate::providers::http::OpenAi;
use crate::providers::http::client::{self as http, Response};
use crate::providers::http::decode::{DecodeContext, Pricing};
use crate::providers::http::openai::decode;
use crate::providers::settings::{ApiKey, Batch, Settings};

/// The endpoint every request of a batch is made to.
const ENDPOINT: &str = "/v1/chat/completions";
/// The only completion window the API offers.
const WINDOW: &str = "24h";
/// The multipart boundary of the upload: no JSON line holds it.
const BOUNDARY: &str = "igentai-batch-4f1c9a7e2b8d";

pub struct OpenAiBatch {
    live: OpenAi,
    http: reqwest::Client,
    base_url: String,
    key: Option<ApiKey>,
    pricing: Pricing,
}

#[derive(Deserialize)]
struct FileObject {
    id: String,
}

#[derive(Deserialize)]
struct BatchObject {
    id: String,
    status: String,
    #[serde(default)]
    request_counts: Option<RequestCounts>,
    #[serde(default)]
    output_file_id: Option<String>,
    #[serde(default)]
    error_file_id: Option<String>,
    #[serde(default)]
    errors: Option<Errors>,
}

#[derive(Deserialize, Default)]
struct RequestCounts {
    #[serde(default)]
    total: u64,
    #[serde(default)]
    completed: u64,
    #[serde(default)]
    failed: u64,
}

#[derive(Deserialize)]
struct Errors {
    #[serde(default)]
    data: Vec<ErrorData>,
}

#[derive(Deserialize)]
struct ErrorData {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// One line of an output or error file.
#[derive(Deserialize)]
struct Line {
    custom_id: String,
    #[serde(default)]
    response: Option<LineResponse>,
    #[serde(default)]
    error: Option<ErrorData>,
}

#[derive(Deserialize)]
struct LineResponse {
    status_code: u16,
    #[serde(default)]
    request_id: Option<String>,
    #[serde(default)]
    body: serde_json::Value,
}

impl OpenAiBatch {
    pub fn new(settings: &Settings, batch: &Batch) -> anyhow::Result<Self> {
        Ok(OpenAiBatch {
            live: OpenAi::new(settings)?,
            http: client(settings)?,
            base_url: settings.base_url.clone(),
            key: settings.api_key.clone(),
            pricing: batch_pricing(settings, batch),
        })
    }

    pub fn model(&self) -> &str {
        self.live.model()
    }

    /// The input file: one Chat Completions request a line, in the form
    /// the live client asks in now (a batch cannot step down mid-way).
    fn input_file(&self, requests: &[Request]) -> Vec<u8> {
        let form = self.live.form();
        let mut file = Vec::new();
        for r in requests {
            let line = json!({
                "custom_id": r.custom_id,
                "method": "POST",
                "url": ENDPOINT,
                "body": self.live.body(&r.prompt, form),
            });
            serde_json::to_writer(&mut file, &line).expect("JSON values serialize");
            file.push(b'\n');
        }
        file
    }

    pub async fn submit(&self, requests: &[Request]) -> Result<String, LlmError> {
        let file = self.upload(&self.input_file(requests)).await?;
        let body =
            json!({"input_file_id": file, "endpoint": ENDPOINT, "completion_window": WINDOW});
        let request = self
            .http
            .post(format!("{}/batches", self.base_url))
            .json(&body);
        let response = self.send(request).await?;
        Ok(json::<BatchObject>(&response, "a batch")?.id)
    }

    /// Uploads `jsonl` for a batch; the file's id.
    async fn upload(&self, jsonl: &[u8]) -> Result<String, LlmError> {
        let mut body = format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n\
             --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"batch.jsonl\"\r\n\
             Content-Type: application/jsonl\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(jsonl);
        body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
        let request = self
            .http
            .post(format!("{}/files", self.base_url))
            .header(
                reqwest::header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(body);
        let response = self.send(request).await?;
        Ok(json::<FileObject>(&response, "a file")?.id)
    }

    pub async fn poll(&self, id: &str) -> Result<Status, LlmError> {
        let request = self.http.get(format!("{}/batches/{id}", self.base_url));
        status(&json(&self.send(request).await?, "a batch")?)
    }

    pub async fn cancel(&self, id: &str) -> Result<Status, LlmError> {
        let request = self
            .http
            .post(format!("{}/batches/{id}/cancel", self.base_url));
        status(&json(&self.send(request).await?, "a batch")?)
    }

    /// The output file's answers, then the error file's failures.
    pub async fn results(&self, status: &Status, estimated_in: u64) -> Result<Results, LlmError> {
        let Files::OpenAi { output, error } = &status.files else {
            return Ok(Results::default());
        };
        let context = DecodeContext {
            model: self.live.model(),
            pricing: self.pricing,
            key: self.key.as_ref(),
            estimated_in,
        };
        let mut results = Results::default();
        for file in [output, error].into_iter().flatten() {
            let request = self
                .http
                .get(format!("{}/files/{file}/content", self.base_url));
            let body = self.send(request).await?.body;
            for line in lines::<Line>(&body, &mut results.malformed) {
                match answer(line, &context) {
                    Some(answer) => results.answers.push(answer),
                    None => results.malformed += 1,
                }
            }
        }
        Ok(results)
    }

    async fn send(&self, mut request: reqwest::RequestBuilder) -> Result<Response, LlmError> {
        if let Some(key) = &self.key {
            let value = http::secret_header(&format!("Bearer {}", key.expose()))?;
            request = request.header(reqwest::header::AUTHORIZATION, value);
        }
        checked(http::send(request).await?, self.key.as_ref())
    }
}

/// A batch object as a [`Status`].
fn status(batch: &BatchObject) -> Result<Status, LlmError> {
    let end = match batch.status.as_str() {
        "validating" | "in_progress" | "finalizing" | "cancelling" => None,
        "completed" => Some(End::Completed),
        "expired" => Some(End::Expired),
        "cancelled" => Some(End::Cancelled),
        "failed" => Some(End::Failed(failed_reason(batch))),
        other => {
            return Err(LlmError::Unparseable(format!(
                "unknown batch status {other:?}"
            )));
        }
    };
    let counts = batch.request_counts.as_ref();
    Ok(Status {
        id: batch.id.clone(),
        end,
        counts: Counts {
            total: counts.map_or(0, |c| c.total),
            done: counts.map_or(0, |c| c.completed),
            failed: counts.map_or(0, |c| c.failed),
        },
        files: Files::OpenAi {
            output: batch.output_file_id.clone().filter(|f| !f.is_empty()),
            error: batch.error_file_id.clone().filter(|f| !f.is_empty()),
        },
    })
}

/// Why the vendor refused a whole batch, from its `errors`.
fn failed_reason(batch: &BatchObject) -> String {
    let reasons: Vec<String> = batch
        .errors
        .iter()
        .flat_map(|e| &e.data)
        .map(|d| {
            format!(
                "{}: {}",
                d.code.as_deref().unwrap_or("error"),
                d.message.as_deref().unwrap_or("no message")
            )
        })
        .collect();
    match reasons.is_empty() {
        true => "the batch failed".into(),
        false => reasons.join("; "),
    }
}

/// One line's result: an answer decoded like a live one, or why there is
/// none; `None` for a line with neither response nor error.
fn answer(line: Line, context: &DecodeContext) -> Option<(String, Result<Completion, Failure>)> {
    let outcome = match (line.response, line.error) {
        (Some(response), _) => {
            let mut raw = as_response(response.status_code, &response.body);
            if let Some(id) = response
                .request_id
                .and_then(|id| reqwest::header::HeaderValue::from_str(&id).ok())
            {
                raw.headers.insert("x-request-id", id);
            }
            decode(&raw, context, http::now_unix_s()).map_err(Failure::of)
        }
        (None, Some(error)) => Err(Failure::retryable(format!(
            "{}: {}",
            error.code.as_deref().unwrap_or("error"),
            error.message.as_deref().unwrap_or("no message")
        ))),
        (None, None) => return None,
    };
    Some((line.custom_id, outcome))
}
