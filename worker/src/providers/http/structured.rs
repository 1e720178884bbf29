//! Structured output: answers asked for as the items object
//! `{"items": [...]}` ([`items_schema`]), in the strongest [`Form`] a
//! server accepts. A provider steps down its ladder of forms (OpenAI's
//! `json_schema` → `json_object` → `text`, Anthropic's `tool` → `text`)
//! when a server refuses one, and keeps the form it reached for the life
//! of the worker ([`Forms`]).

use std::sync::atomic::{AtomicUsize, Ordering};

use super::client::{self, Response};
use crate::providers::error::LlmError;
use crate::providers::settings::{ApiKey, Output};

/// How a request asks for its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// OpenAI's `response_format` `json_schema` (strict).
    JsonSchema,
    /// `response_format` `json_object` plus the schema (what
    /// llama-cpp-python accepts).
    JsonObject,
    /// Anthropic's `record_items` tool.
    Tool,
    Text,
}

impl Form {
    pub fn as_str(self) -> &'static str {
        match self {
            Form::JsonSchema => "json_schema",
            Form::JsonObject => "json_object",
            Form::Tool => "tool",
            Form::Text => "text",
        }
    }
}

/// The forms one provider asks in, strongest first and ending in
/// [`Form::Text`], and the one it asks in now.
pub struct Forms {
    ladder: &'static [Form],
    at: AtomicUsize,
    /// What an error body says when a server refuses a form.
    refusal_words: &'static [&'static str],
    provider: String,
}

impl Forms {
    /// Starts at the top of `ladder` for `output = "json"`, at text for
    /// `output = "text"`.
    pub fn new(
        provider: &str,
        ladder: &'static [Form],
        refusal_words: &'static [&'static str],
        output: Output,
    ) -> Self {
        assert_eq!(ladder.last(), Some(&Form::Text), "a ladder ends in text");
        let at = match output {
            Output::Json => 0,
            Output::Text => ladder.len() - 1,
        };
        Forms {
            ladder,
            at: AtomicUsize::new(at),
            refusal_words,
            provider: provider.to_string(),
        }
    }

    /// The form requests are made in now.
    pub fn current(&self) -> Form {
        self.ladder[self.at.load(Ordering::Relaxed)]
    }

    /// Whether `response` refuses the structured `form` it was asked in.
    /// Then requests are made in the next form from now on; only the call
    /// that moves the form logs, so concurrent calls refused at once warn
    /// once.
    pub fn refused(&self, form: Form, response: &Response, key: Option<&ApiKey>) -> bool {
        if form == Form::Text
            || !refuses_structure(response.status, &response.body, self.refusal_words)
        {
            return false;
        }
        let Some(at) = self.ladder.iter().position(|f| *f == form) else {
            return false;
        };
        let next = (at + 1).min(self.ladder.len() - 1);
        if self
            .at
            .compare_exchange(at, next, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            let (message, _) = client::error_message(&response.body, key);
            tracing::warn!(provider = %self.provider, refused = form.as_str(),
                now = self.ladder[next].as_str(), reason = %message,
                "the server refuses this form of structured output; asking in the next form from now on");
        }
        true
    }

    /// Sends with `send` in the current form until the server answers
    /// without refusing it: a refused form steps down ([`Self::refused`])
    /// and the call is made again at once in the next one.
    pub async fn send<F, Fut>(
        &self,
        key: Option<&ApiKey>,
        mut send: F,
    ) -> Result<Response, LlmError>
    where
        F: FnMut(Form) -> Fut,
        Fut: Future<Output = Result<Response, LlmError>>,
    {
        loop {
            let form = self.current();
            let response = send(form).await?;
            if !self.refused(form, &response, key) {
                return Ok(response);
            }
        }
    }
}

/// The JSON schema of the structured answer to `prompt`, strict (every
/// property required, nothing else allowed), as OpenAI's `json_schema` and
/// Anthropic's tool `input_schema` take it: `{"items": ["...", ...]}` for
/// items and sub-categories; for a judge, `{"verdicts": [{"item", "label"},
/// ...]}` with one entry per item asked about, each item one of those
/// asked about and each label one of the judge's. Writing the item before
/// its label makes a small model decide each label right after the name it
/// is about, instead of reciting the label list or repeating the items,
/// where a server enforces the schema (llama.cpp's grammar does).
pub fn schema_for(prompt: &crate::prompt::Prompt) -> serde_json::Value {
    match prompt.task {
        crate::prompt::Task::Judge => verdicts_schema(&prompt.judged),
        _ => items_schema(),
    }
}

/// The judge's answer about `items`: one verdict per item.
pub fn verdicts_schema(items: &[String]) -> serde_json::Value {
    serde_json::json!({
        "type": "object",
        "properties": {"verdicts": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "item": {"type": "string", "enum": items},
                    "label": {"type": "string", "enum": crate::prompt::JUDGE_LABELS},
                },
                "required": ["item", "label"],
                "additionalProperties": false,
            },
            "minItems": items.len(),
            "maxItems": items.len(),
        }},
        "required": ["verdicts"],
        "additionalProperties": false,
    })
}

/// `{"items": ["...", ...]}`.
pub fn items_schema() -> serde_json::Value {
    serde_json::json!({
        "type": "object",
        "properties": {"items": {"type": "array", "items": {"type": "string"}}},
        "required": ["items"],
        "additionalProperties": false,
    })
}

/// Whether an error answer refuses the structured-output part of the
/// request rather than the request itself: a 400 or 422 (OpenAI, vLLM), or
/// a 500 (llama-cpp-python's validation error), whose body names the
/// feature. Other 400s (a context too long) are not refusals of it.
fn refuses_structure(status: u16, body: &[u8], words: &[&str]) -> bool {
    if !matches!(status, 400 | 422 | 500) {
        return false;
    }
    let body = String::from_utf8_lossy(body).to_lowercase();
    words.iter().any(|w| body.contains(w))
}
