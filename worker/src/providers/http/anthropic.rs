//! `anthropic`: the Messages API (`POST {base_url}/v1/messages` with
//! `x-api-key` and `anthropic-version`).
//!
//! With `output = "json"` (the default) the model is made to call a tool,
//! `record_items`, whose `input_schema` is the answer's object; the tool
//! call's input becomes the answer's text (`{"items": [...]}`), parsed like
//! any JSON answer. A server that refuses the tool is asked again in the
//! same call in text, and in text from then on.
//!
//! [`decode`] is pure. Anthropic's stop reasons are reported in the
//! vocabulary batches use everywhere: `end_turn`, `stop_sequence` and
//! `tool_use` → `stop`, `max_tokens` → `length`, `refusal` →
//! `content_filter`.

use serde::Deserialize;
use serde_json::json;

use super::client::{self as http, Response};
use super::decode::{Billed, DecodeContext, Pricing};
use super::headers;
use super::structured::{Form, Forms, schema_for};
use crate::prompt::{self, Prompt, Task};
use crate::providers::completion::Completion;
use crate::providers::error::LlmError;
use crate::providers::settings::{ApiKey, Settings};

pub const API_VERSION: &str = "2023-06-01";
/// The tool whose input is the answer.
pub const TOOL: &str = "record_items";
/// What an error body says when a server refuses the tool.
const REFUSAL_WORDS: &[&str] = &["tool", "input_schema"];
/// The forms asked in, strongest first.
const LADDER: &[Form] = &[Form::Tool, Form::Text];
/// Output budget when the file sets none; the API requires one.
const DEFAULT_MAX_TOKENS: u32 = 4096;

pub struct Anthropic {
    http: reqwest::Client,
    url: String,
    model: String,
    key: Option<ApiKey>,
    temperature: Option<f64>,
    max_tokens: u32,
    pricing: Pricing,
    /// Through the tool, until a server refuses it.
    forms: Forms,
}

impl Anthropic {
    pub fn new(settings: &Settings) -> anyhow::Result<Self> {
        Ok(Self {
            http: http::client(settings.timeout)?,
            url: format!("{}/v1/messages", settings.base_url),
            model: settings.model.clone(),
            key: settings.api_key.clone(),
            temperature: settings.temperature,
            max_tokens: settings.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
            pricing: Pricing::of(settings),
            forms: Forms::new(&settings.name, LADDER, REFUSAL_WORDS, settings.output),
        })
    }

    /// The form requests are made in now: `tool` or `text`.
    pub fn form(&self) -> Form {
        self.forms.current()
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    /// The request body in `form` (through the tool or in text): enough
    /// output budget for the items asked for (about 25 tokens each), within
    /// the configured bound.
    pub fn body(&self, prompt: &Prompt, form: Form) -> serde_json::Value {
        let tool = form == Form::Tool && prompt.task.structured();
        let wanted = prompt.count.saturating_mul(25).saturating_add(256);
        let user = match tool {
            true => prompt::json_user(prompt),
            false => prompt.user.clone(),
        };
        let mut body = json!({
            "model": self.model,
            "max_tokens": prompt.max_tokens(Some(wanted.min(self.max_tokens))),
            "system": prompt.system,
            "messages": [{"role": "user", "content": user}],
        });
        if tool {
            body["tools"] = json!([{
                "name": TOOL,
                "description": match prompt.task {
                    Task::Judge => "Records the verdicts, one entry per item: the item, then its label.",
                    Task::Items | Task::Partitions | Task::Identify(_) => {
                        "Records the items of the list, one string per item."
                    }
                },
                "input_schema": schema_for(prompt),
            }]);
            body["tool_choice"] = json!({"type": "tool", "name": TOOL});
        }
        if let Some(t) = prompt.temperature(self.temperature) {
            body["temperature"] = json!(t.min(1.0));
        }
        body
    }

    /// One call; a refused tool is retried at once in text.
    pub async fn complete(&self, prompt: &Prompt) -> Result<Completion, LlmError> {
        let response = self
            .forms
            .send(self.key.as_ref(), |form| self.send(prompt, form))
            .await?;
        let context = DecodeContext {
            model: &self.model,
            pricing: self.pricing,
            key: self.key.as_ref(),
            estimated_in: prompt.estimated_tokens(),
        };
        decode(&response, &context, http::now_unix_s())
    }

    async fn send(&self, prompt: &Prompt, form: Form) -> Result<Response, LlmError> {
        let mut request = self
            .http
            .post(&self.url)
            .header("anthropic-version", API_VERSION)
            .json(&self.body(prompt, form));
        if let Some(key) = &self.key {
            request = request.header("x-api-key", http::secret_header(key.expose())?);
        }
        http::send(request).await
    }
}

#[derive(Deserialize)]
struct MessageResponse {
    #[serde(rename = "type")]
    kind: Option<String>,
    id: Option<String>,
    model: Option<String>,
    content: Vec<Block>,
    stop_reason: Option<String>,
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Block {
    #[serde(rename = "type")]
    kind: String,
    text: Option<String>,
    /// A `tool_use` block's tool and the input it was called with.
    name: Option<String>,
    input: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Usage {
    /// Input after the last cache breakpoint: not cached.
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
    /// The cache writes by lifetime, when the API splits them.
    cache_creation: Option<CacheCreation>,
}

#[derive(Deserialize)]
struct CacheCreation {
    ephemeral_5m_input_tokens: Option<u64>,
    ephemeral_1h_input_tokens: Option<u64>,
}

impl Usage {
    /// The tokens as billed: cache reads and the two cache writes apart
    /// from plain input.
    fn billed(&self, estimated_in: u64, estimated_out: u64) -> Billed {
        let (write, write_1h) = match &self.cache_creation {
            Some(c) => (
                c.ephemeral_5m_input_tokens.unwrap_or(0),
                c.ephemeral_1h_input_tokens.unwrap_or(0),
            ),
            None => (self.cache_creation_input_tokens.unwrap_or(0), 0),
        };
        Billed {
            input: self.input_tokens.unwrap_or(estimated_in),
            cache_read: self.cache_read_input_tokens.unwrap_or(0),
            cache_write: write,
            cache_write_1h: write_1h,
            output: self.output_tokens.unwrap_or(estimated_out),
        }
    }
}

/// A Messages API answer read from its status, headers and body.
pub fn decode(
    response: &Response,
    context: &DecodeContext,
    now_unix_s: f64,
) -> Result<Completion, LlmError> {
    let DecodeContext {
        model,
        pricing,
        key,
        estimated_in,
    } = *context;
    let limits = headers::anthropic_limits(&response.headers, now_unix_s);
    if !http::is_success(response.status) {
        return Err(http::status_error(response, key, now_unix_s, limits));
    }
    let parsed: MessageResponse = serde_json::from_slice(&response.body)
        .map_err(|e| http::unparseable(&format!("not a message ({e})"), &response.body))?;
    if parsed.kind.as_deref().is_some_and(|k| k != "message") {
        return Err(http::unparseable("not a message", &response.body));
    }
    // The items tool's input is the answer when the model called it;
    // otherwise the text blocks are (thinking blocks never are).
    let called = parsed
        .content
        .iter()
        .find(|b| b.kind == "tool_use" && b.name.as_deref() == Some(TOOL))
        .and_then(|b| b.input.as_ref());
    let text = match called {
        Some(input) => input.to_string(),
        None => parsed
            .content
            .iter()
            .filter(|b| b.kind == "text")
            .filter_map(|b| b.text.as_deref())
            .collect::<Vec<_>>()
            .join("\n"),
    };
    let finish_reason = parsed.stop_reason.map(|r| {
        match r.as_str() {
            "end_turn" | "stop_sequence" | "tool_use" => "stop",
            "max_tokens" => "length",
            "refusal" => "content_filter",
            other => other,
        }
        .to_string()
    });
    let estimated_out = (text.len() / 4 + 1) as u64;
    let billed = match &parsed.usage {
        Some(u) => u.billed(estimated_in, estimated_out),
        None => Billed {
            input: estimated_in,
            output: estimated_out,
            ..Billed::default()
        },
    };
    Ok(Completion {
        cost_usd: pricing.cost(&billed),
        model: parsed
            .model
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| model.to_string()),
        text,
        tokens_in: billed.all_input(),
        tokens_cached_in: billed.cache_read,
        tokens_out: billed.output,
        finish_reason,
        request_id: http::request_id(&response.headers, &["request-id"]).or(parsed.id),
        limits,
    })
}
