//! What the HTTP providers share: one `reqwest` client per provider, the
//! mapping of transport failures and HTTP statuses to [`LlmError`], and
//! reading a vendor's error JSON into a short, key-free message.

use std::time::Duration;

use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde::Deserialize;

use super::headers::{self, RateLimits};
use crate::providers::error::LlmError;
use crate::providers::settings::ApiKey;

/// A header value holding a secret (an API key): marked sensitive, so it
/// is never printed; one that is no valid header value is a rejected call.
pub fn secret_header(value: &str) -> Result<reqwest::header::HeaderValue, LlmError> {
    let mut header =
        reqwest::header::HeaderValue::from_str(value).map_err(|_| LlmError::Rejected {
            status: 0,
            message: "the API key is not a valid header value".into(),
        })?;
    header.set_sensitive(true);
    Ok(header)
}

/// Longest error message kept from a response body.
const MAX_MESSAGE_CHARS: usize = 300;

/// A client with the provider's timeout. TLS uses rustls with the `ring`
/// provider, which the NATS client already brings in.
pub fn client(timeout: Duration) -> anyhow::Result<reqwest::Client> {
    // Installing twice is harmless: the first provider wins.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .user_agent(concat!("igentai-worker/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| anyhow::anyhow!("build HTTP client: {e}"))
}

/// A response as the pure decoders take it.
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Sends `request` and reads the whole body; transport failures become
/// [`LlmError::Timeout`] or [`LlmError::Transport`].
pub async fn send(request: reqwest::RequestBuilder) -> Result<Response, LlmError> {
    let response = request.send().await.map_err(transport)?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.bytes().await.map_err(transport)?;
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn transport(e: reqwest::Error) -> LlmError {
    if e.is_timeout() {
        return LlmError::Timeout;
    }
    let connect = e.is_connect();
    let e = e.without_url();
    // The chain holds the useful part ("Connection refused (os error 111)").
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        message = format!("{message}: {s}");
        source = s.source();
    }
    if connect {
        LlmError::Transport(format!("cannot connect: {message}"))
    } else {
        LlmError::Transport(message)
    }
}

/// The error of a non-2xx answer. `quota_codes` are the vendor's error
/// codes meaning "out of credit", which no retry will fix.
pub fn status_error(
    response: &Response,
    key: Option<&ApiKey>,
    now_unix_s: f64,
    limits: RateLimits,
) -> LlmError {
    let (message, code) = error_message(&response.body, key);
    let retry_after =
        headers::retry_after(&response.headers, now_unix_s).or_else(|| limits.exhausted_for());
    let status = response.status;
    match status {
        429 if code.as_deref() == Some("insufficient_quota") => {
            LlmError::QuotaExhausted { message }
        }
        429 => LlmError::RateLimited {
            retry_after,
            message,
        },
        408 => LlmError::Timeout,
        529 => LlmError::Overloaded {
            retry_after,
            message,
        },
        500..=599 => LlmError::Server {
            status,
            retry_after,
            message,
        },
        _ => LlmError::Rejected { status, message },
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    error: Option<ErrorDetail>,
    message: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ErrorDetail {
    Object {
        message: Option<String>,
        #[serde(rename = "type")]
        kind: Option<String>,
        code: Option<serde_json::Value>,
    },
    Text(String),
}

/// A short message from an error body (OpenAI's `{"error": {"message",
/// "type", "code"}}`, Anthropic's `{"type": "error", "error": {"type",
/// "message"}}`, a bare `{"message"}`, or text such as a proxy's HTML page)
/// and the vendor's error code or type.
pub fn error_message(body: &[u8], key: Option<&ApiKey>) -> (String, Option<String>) {
    let (message, code) = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody {
            error:
                Some(ErrorDetail::Object {
                    message,
                    kind,
                    code,
                }),
            ..
        }) => {
            let code = code
                .and_then(|c| c.as_str().map(str::to_string))
                .or(kind.clone());
            let text = match (kind, message) {
                (Some(k), Some(m)) => format!("{k}: {m}"),
                (k, m) => m.or(k).unwrap_or_default(),
            };
            (text, code)
        }
        Ok(ErrorBody {
            error: Some(ErrorDetail::Text(text)),
            ..
        }) => (text, None),
        Ok(ErrorBody {
            message: Some(m), ..
        }) => (m, None),
        _ => (String::from_utf8_lossy(body).into_owned(), None),
    };
    let message: String = message.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut message: String = message.chars().take(MAX_MESSAGE_CHARS).collect();
    if let Some(key) = key {
        message = key.redact(&message);
    }
    if message.is_empty() {
        message = "no message".into();
    }
    (message, code)
}

/// A malformed 200: the body is cut into the error, for the log.
pub fn unparseable(what: &str, body: &[u8]) -> LlmError {
    let sample: String = String::from_utf8_lossy(body).chars().take(120).collect();
    LlmError::Unparseable(format!("{what}; body starts {sample:?}"))
}

/// The provider's request id, from the first header present.
pub fn request_id(headers: &HeaderMap, names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|n| headers.get(*n).and_then(|v| v.to_str().ok()))
        .map(str::to_string)
}

pub fn is_success(status: u16) -> bool {
    StatusCode::from_u16(status).is_ok_and(|s| s.is_success())
}

/// Seconds since the Unix epoch, for HTTP dates in headers.
pub fn now_unix_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages() {
        let key = ApiKey::new("sk-abcdef123");
        for (body, message, code) in [
            (
                r#"{"error":{"message":"Incorrect API key provided: sk-abcdef123.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#,
                "invalid_request_error: Incorrect API key provided: ***.",
                Some("invalid_api_key"),
            ),
            (
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
                "overloaded_error: Overloaded",
                Some("overloaded_error"),
            ),
            (
                r#"{"error":"model 'llama9' not found"}"#,
                "model 'llama9' not found",
                None,
            ),
            (r#"{"message":"Bad gateway"}"#, "Bad gateway", None),
            (
                "<html>\n<h1>502 Bad Gateway</h1>\n</html>",
                "<html> <h1>502 Bad Gateway</h1> </html>",
                None,
            ),
            ("", "no message", None),
        ] {
            let (m, c) = error_message(body.as_bytes(), Some(&key));
            assert_eq!((m.as_str(), c.as_deref()), (message, code), "{body}");
        }
    }
}
