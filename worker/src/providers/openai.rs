//! `openai`: the Chat Completions API (`POST {base_url}/chat/completions`).
//! The same request serves OpenAI, vLLM, Ollama, llama.cpp's server,
//! LM Studio, OpenRouter and Groq; only the base URL, model and key differ.
//!
//! [`decode`] is pure: status, headers and body in, a [`Completion`] or a
//! typed [`LlmError`] out, so every shape a server answers with is tested
//! without a network.

use serde::Deserialize;
use serde_json::json;

use super::config::{ApiKey, Settings};
use super::headers::{self, RateLimits};
use super::http::{self, Response};
use super::{Completion, DecodeContext, LlmError, Pricing};
use crate::prompt::Prompt;

pub struct OpenAi {
    http: reqwest::Client,
    url: String,
    model: String,
    key: Option<ApiKey>,
    temperature: Option<f64>,
    max_tokens: Option<u32>,
    pricing: Pricing,
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
        })
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    /// The request body. `temperature` and `max_tokens` are sent only when
    /// configured: some models (OpenAI's reasoning models) refuse them.
    pub fn body(&self, prompt: &Prompt) -> serde_json::Value {
        let mut body = json!({
            "model": self.model,
            "messages": [
                {"role": "system", "content": prompt.system},
                {"role": "user", "content": prompt.user},
            ],
        });
        if let Some(t) = self.temperature {
            body["temperature"] = json!(t);
        }
        if let Some(m) = self.max_tokens {
            body["max_tokens"] = json!(m);
        }
        body
    }

    pub async fn complete(&self, prompt: &Prompt) -> Result<Completion, LlmError> {
        let mut request = self.http.post(&self.url).json(&self.body(prompt));
        if let Some(key) = &self.key {
            let mut value =
                reqwest::header::HeaderValue::from_str(&format!("Bearer {}", key.expose()))
                    .map_err(|_| LlmError::Rejected {
                        status: 0,
                        message: "the API key is not a valid header value".into(),
                    })?;
            value.set_sensitive(true);
            request = request.header(reqwest::header::AUTHORIZATION, value);
        }
        let response = http::send(request).await?;
        let context = DecodeContext {
            model: &self.model,
            pricing: self.pricing,
            key: self.key.as_ref(),
            estimated_in: prompt.estimated_tokens(),
        };
        decode(&response, &context, http::now_unix_s())
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
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
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
    let tokens_in = usage
        .as_ref()
        .and_then(|u| u.prompt_tokens)
        .unwrap_or(estimated_in);
    let tokens_out = usage
        .as_ref()
        .and_then(|u| u.completion_tokens)
        .unwrap_or_else(estimated);
    Ok(Completion {
        cost_usd: pricing.cost(tokens_in, tokens_out),
        model: parsed
            .model
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| model.to_string()),
        text,
        tokens_in,
        tokens_out,
        finish_reason,
        request_id: http::request_id(&response.headers, &["x-request-id"]).or(parsed.id),
        limits,
    })
}
