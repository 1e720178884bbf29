//! `openai`: the Chat Completions API (`POST {base_url}/chat/completions`).
//! The same request serves OpenAI, vLLM, Ollama, llama.cpp's server,
//! LM Studio, OpenRouter and Groq; only the base URL, model and key differ.
//!
//! With `output = "json"` (the default) the request asks for a JSON object
//! `{"items": [...]}` through `response_format`: first `json_schema`
//! (strict), with constrained decoding where the server has it; a server
//! that refuses it (llama-cpp-python answers HTTP 500 "Input should be
//! 'text' or 'json_object'") is asked again with `json_object` plus the
//! schema, then with text (`structured.rs`).
//!
//! [`decode`] is pure: status, headers and body in, a [`Completion`] or a
//! typed [`LlmError`] out, so every shape a server answers with is tested
//! without a network.

use serde::Deserialize;
use serde_json::json;

use super::client::{self as http, Response};
use super::decode::{Billed, DecodeContext, Pricing};
use super::headers::{self, RateLimits};
use super::structured::{Form, Forms, schema_for};
use crate::prompt::{self, Prompt};
use crate::providers::completion::Completion;
use crate::providers::error::LlmError;
use crate::providers::settings::{ApiKey, Settings};

/// The `response_format` of a request for `prompt` in `form` (none for a
/// task answered in plain text).
fn response_format(form: Form, prompt: &Prompt) -> Option<serde_json::Value> {
    if !prompt.task.structured() {
        return None;
    }
    match form {
        Form::JsonSchema => Some(json!({
            "type": "json_schema",
            "json_schema": {"name": "items", "strict": true, "schema": schema_for(prompt)},
        })),
        Form::JsonObject => Some(json!({"type": "json_object", "schema": schema_for(prompt)})),
        Form::Tool | Form::Text => None,
    }
}

/// The forms asked in, strongest first.
const LADDER: &[Form] = &[Form::JsonSchema, Form::JsonObject, Form::Text];
/// What an error body says when a server refuses a `response_format`.
const REFUSAL_WORDS: &[&str] = &["response_format", "json_schema", "json_object"];

pub struct OpenAi {
    http: reqwest::Client,
    url: String,
    model: String,
    key: Option<ApiKey>,
    temperature: Option<f64>,
    max_tokens: Option<u32>,
    pricing: Pricing,
    /// The [`Form`] this server accepts, as far as we know.
    forms: Forms,
}

impl OpenAi {
    pub fn new(settings: &Settings) -> anyhow::Result<Self> {
        Ok(Self {
            http: http::client(settings.timeout)?,
            url: format!("{}/chat/completions", settings.base_url),
            model: settings.model.clone(),
            key: settings.api_key.clone(),
            temperature: settings.temperature,
            max_tokens: settings.max_tokens,
            pricing: Pricing::of(settings),
            forms: Forms::new(&settings.name, LADDER, REFUSAL_WORDS, settings.output),
        })
    }

    /// The form requests are made in now.
    pub fn form(&self) -> Form {
        self.forms.current()
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    /// The request body in `form`. `temperature` and `max_tokens` are sent
    /// only when configured: some models (OpenAI's reasoning models)
    /// refuse them.
    pub fn body(&self, prompt: &Prompt, form: Form) -> serde_json::Value {
        let user = match form {
            Form::Text | Form::Tool => prompt.user.clone(),
            Form::JsonSchema | Form::JsonObject => prompt::json_user(prompt),
        };
        let mut body = json!({
            "model": self.model,
            "messages": [
                {"role": "system", "content": prompt.system},
                {"role": "user", "content": user},
            ],
        });
        if let Some(format) = response_format(form, prompt) {
            body["response_format"] = format;
        }
        if let Some(t) = prompt.temperature(self.temperature) {
            body["temperature"] = json!(t);
        }
        if let Some(m) = prompt.max_tokens(self.max_tokens) {
            body["max_tokens"] = json!(m);
        }
        body
    }

    /// One call; a refused `response_format` is retried at once in the
    /// next form.
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
        let mut request = self.http.post(&self.url).json(&self.body(prompt, form));
        if let Some(key) = &self.key {
            let value = http::secret_header(&format!("Bearer {}", key.expose()))?;
            request = request.header(reqwest::header::AUTHORIZATION, value);
        }
        http::send(request).await
    }
}

#[derive(Deserialize)]
struct ChatResponse {
    id: Option<String>,
    model: Option<String>,
    choices: Vec<Choice>,
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Choice {
    message: Option<Message>,
    /// Legacy completions and a few compatible servers.
    text: Option<String>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    content: Option<Content>,
    refusal: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Deserialize)]
struct Part {
    text: Option<String>,
}

#[derive(Deserialize)]
struct Usage {
    /// Every input token, the cached ones included.
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    prompt_tokens_details: Option<PromptDetails>,
}

#[derive(Deserialize)]
struct PromptDetails {
    /// Of `prompt_tokens`, those read from the prompt cache.
    cached_tokens: Option<u64>,
}

/// A Chat Completions answer read from its status, headers and body.
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
    let limits: RateLimits = headers::openai_limits(&response.headers);
    if !http::is_success(response.status) {
        return Err(http::status_error(response, key, now_unix_s, limits));
    }
    let parsed: ChatResponse = serde_json::from_slice(&response.body)
        .map_err(|e| http::unparseable(&format!("not a chat completion ({e})"), &response.body))?;
    let Some(choice) = parsed.choices.into_iter().next() else {
        return Err(http::unparseable("no choices", &response.body));
    };
    let message = choice.message;
    let text = match message.as_ref().and_then(|m| m.content.as_ref()) {
        Some(Content::Text(t)) => t.clone(),
        Some(Content::Parts(parts)) => parts
            .iter()
            .filter_map(|p| p.text.as_deref())
            .collect::<Vec<_>>()
            .join(""),
        None => choice.text.unwrap_or_default(),
    };
    let refused = message
        .and_then(|m| m.refusal)
        .is_some_and(|r| !r.is_empty());
    let finish_reason = match choice.finish_reason {
        _ if refused && text.is_empty() => Some("content_filter".to_string()),
        other => other,
    };
    let usage = parsed.usage;
    let estimated = || (text.len() / 4 + 1) as u64;
    let all_in = usage
        .as_ref()
        .and_then(|u| u.prompt_tokens)
        .unwrap_or(estimated_in);
    // Cached tokens are part of the prompt's; never more than it.
    let cached = usage
        .as_ref()
        .and_then(|u| u.prompt_tokens_details.as_ref())
        .and_then(|d| d.cached_tokens)
        .unwrap_or(0)
        .min(all_in);
    let billed = Billed {
        input: all_in - cached,
        cache_read: cached,
        output: usage
            .as_ref()
            .and_then(|u| u.completion_tokens)
            .unwrap_or_else(estimated),
        ..Billed::default()
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
        request_id: http::request_id(&response.headers, &["x-request-id"]).or(parsed.id),
        limits,
    })
}
