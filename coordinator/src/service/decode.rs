//! Decoding and validating control requests.
//!
//! Pure: bytes in, a validated command or a clear error out. Nothing here
//! changes state, so a malformed request can never change a run.

use igentai_protocol::{MAX_CONTROL_BYTES, StartRequest, VERSION, WeightsRequest};
use serde::Deserialize;

/// Longest topic accepted, in characters.
pub const MAX_TOPIC_CHARS: usize = 300;
/// Largest `items_per_request` accepted.
pub const MAX_ITEMS_PER_REQUEST: u32 = 200;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ControlError {
    #[error("request is {0} bytes; the limit is {MAX_CONTROL_BYTES}")]
    TooLarge(usize),
    #[error("request is not valid UTF-8")]
    NotUtf8,
    #[error(
        "empty request: send a topic, or a JSON object such as {{\"topic\": \"Paris attractions\"}}"
    )]
    Empty,
    #[error("invalid JSON request: {0}")]
    Json(String),
    #[error("{0}")]
    Invalid(String),
}

fn text(payload: &[u8]) -> Result<&str, ControlError> {
    if payload.len() > MAX_CONTROL_BYTES {
        return Err(ControlError::TooLarge(payload.len()));
    }
    std::str::from_utf8(payload)
        .map(str::trim)
        .map_err(|_| ControlError::NotUtf8)
}

/// `start`: a JSON object, a JSON string, or plain UTF-8 text as the topic.
pub fn decode_start(payload: &[u8]) -> Result<StartRequest, ControlError> {
    let text = text(payload)?;
    if text.is_empty() {
        return Err(ControlError::Empty);
    }
    let mut request = if text.starts_with('{') {
        serde_json::from_str::<StartRequest>(text).map_err(|e| ControlError::Json(e.to_string()))?
    } else if text.starts_with('"') {
        let topic =
            serde_json::from_str::<String>(text).map_err(|e| ControlError::Json(e.to_string()))?;
        StartRequest {
            v: VERSION,
            topic,
            ..Default::default()
        }
    } else {
        StartRequest {
            v: VERSION,
            topic: text.to_string(),
            ..Default::default()
        }
    };
    request.topic = request
        .topic
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    validate_start(&request)?;
    Ok(request)
}

fn validate_start(r: &StartRequest) -> Result<(), ControlError> {
    let invalid = |m: String| Err(ControlError::Invalid(m));
    if r.v != VERSION {
        return invalid(format!(
            "unsupported protocol version {}; this coordinator speaks {VERSION}",
            r.v
        ));
    }
    if r.topic.is_empty() {
        return invalid("topic is empty".into());
    }
    let chars = r.topic.chars().count();
    if chars > MAX_TOPIC_CHARS {
        return invalid(format!(
            "topic is {chars} characters; the limit is {MAX_TOPIC_CHARS}"
        ));
    }
    if r.topic.chars().any(char::is_control) {
        return invalid("topic contains control characters".into());
    }
    if r.target == Some(0) {
        return invalid("target must be at least 1".into());
    }
    if r.target_valid && r.target.is_none() {
        return invalid("target_valid needs a target".into());
    }
    if let Some(b) = r.budget_usd
        && !(b.is_finite() && b > 0.0)
    {
        return invalid(format!("budget_usd must be a positive number, got {b}"));
    }
    if r.max_duration_s == Some(0) {
        return invalid("max_duration_s must be at least 1".into());
    }
    if let Some(c) = r.min_coverage
        && !(c > 0.0 && c <= 1.0)
    {
        return invalid(format!("min_coverage must be in (0, 1], got {c}"));
    }
    if let Some(y) = r.min_yield_per_1k_tokens
        && !(y.is_finite() && y > 0.0)
    {
        return invalid(format!(
            "min_yield_per_1k_tokens must be a positive number, got {y}"
        ));
    }
    if let Some(n) = r.items_per_request
        && !(1..=MAX_ITEMS_PER_REQUEST).contains(&n)
    {
        return invalid(format!(
            "items_per_request must be between 1 and {MAX_ITEMS_PER_REQUEST}, got {n}"
        ));
    }
    if let Some(rate) = r.judge_rate
        && !(0.0..=1.0).contains(&rate)
    {
        return invalid(format!("judge_rate must be in [0, 1], got {rate}"));
    }
    if let Some(p) = &r.judge_provider
        && (p.is_empty() || p.len() > 64 || p.chars().any(|c| c.is_control() || c.is_whitespace()))
    {
        return invalid(format!(
            "judge_provider must be a provider name (1-64 characters, no spaces), got {p:?}"
        ));
    }
    if let Some(t) = &r.prompt_template
        && !t.contains("{topic}")
    {
        return invalid("prompt_template must contain {topic}".into());
    }
    Ok(())
}

/// `weights`: empty (read), `{"weights": {...}}` (override) or
/// `{"clear": true}`. Weights must be finite, non-negative, not all zero.
pub fn decode_weights(payload: &[u8]) -> Result<WeightsRequest, ControlError> {
    let text = text(payload)?;
    if text.is_empty() {
        return Ok(WeightsRequest::default());
    }
    let r: WeightsRequest =
        serde_json::from_str(text).map_err(|e| ControlError::Json(e.to_string()))?;
    let invalid = |m: String| Err(ControlError::Invalid(m));
    match (&r.weights, r.clear) {
        (Some(_), true) => return invalid("give either weights or clear, not both".into()),
        (Some(w), false) => {
            if w.is_empty() {
                return invalid("weights is empty".into());
            }
            if let Some((name, v)) = w
                .iter()
                .find(|(k, v)| k.trim().is_empty() || !v.is_finite() || **v < 0.0)
            {
                return invalid(format!(
                    "weight of {name:?} must be a finite number >= 0, got {v}"
                ));
            }
            if w.values().sum::<f64>() <= 0.0 {
                return invalid("weights must not all be zero".into());
            }
        }
        (None, _) => {}
    }
    Ok(r)
}

/// `stop` and `status` take no arguments: an empty payload or a JSON object
/// holding at most `v`.
pub fn decode_no_args(payload: &[u8]) -> Result<(), ControlError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct NoArgs {
        #[serde(default = "igentai_protocol::default_version")]
        #[allow(dead_code)]
        v: u32,
    }
    let text = text(payload)?;
    if text.is_empty() {
        return Ok(());
    }
    serde_json::from_str::<NoArgs>(text)
        .map(|_| ())
        .map_err(|e| ControlError::Json(format!("{e} (this command takes no arguments)")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(payload: &[u8]) -> Result<StartRequest, String> {
        decode_start(payload).map_err(|e| e.to_string())
    }

    #[test]
    fn start_accepts_text_and_json() {
        let r = start(b"Paris attractions").unwrap();
        assert_eq!((r.topic.as_str(), r.target), ("Paris attractions", None));
        let r = start(b"  Paris \n attractions \n").unwrap();
        assert_eq!(r.topic, "Paris attractions");
        let r = start(
            br#"{"topic":"Paris attractions","target":2000,"budget_usd":2.5,"max_duration_s":600}"#,
        )
        .unwrap();
        assert_eq!(
            (r.target, r.budget_usd, r.max_duration_s),
            (Some(2000), Some(2.5), Some(600))
        );
        let r = start(br#""Rare cheeses""#).unwrap();
        assert_eq!(r.topic, "Rare cheeses");
        let r = start("Fromages affinés".as_bytes()).unwrap();
        assert_eq!(r.topic, "Fromages affinés");
    }

    #[test]
    fn start_refuses_bad_input() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "empty request"),
            (b"   ", "empty request"),
            (b"{", "invalid JSON"),
            (br#"{"topic":""}"#, "topic is empty"),
            (br#"{"topic":"   "}"#, "topic is empty"),
            (br#"{"target":5}"#, "missing field `topic`"),
            (br#"{"topic":42}"#, "invalid type"),
            (br#"{"topic":"x","target":"many"}"#, "invalid type"),
            (br#"{"topic":"x","target":-1}"#, "invalid value"),
            (br#"{"topic":"x","target":0}"#, "target must be at least 1"),
            (
                br#"{"topic":"x","budget_usd":0}"#,
                "budget_usd must be a positive",
            ),
            (br#"{"topic":"x","max_duration_s":0}"#, "max_duration_s"),
            (br#"{"topic":"x","min_coverage":1.5}"#, "min_coverage"),
            (br#"{"topic":"x","judge_rate":1.5}"#, "judge_rate"),
            (br#"{"topic":"x","target_valid":true}"#, "target_valid"),
            (br#"{"topic":"x","judge_rate":-0.1}"#, "judge_rate"),
            (br#"{"topic":"x","judge_provider":"a b"}"#, "judge_provider"),
            (
                br#"{"topic":"x","min_yield_per_1k_tokens":0}"#,
                "min_yield_per_1k_tokens",
            ),
            (
                br#"{"topic":"x","items_per_request":1000}"#,
                "items_per_request",
            ),
            (
                br#"{"topic":"x","prompt_template":"list things"}"#,
                "{topic}",
            ),
            (br#"{"topic":"x","colour":"red"}"#, "unknown field `colour`"),
            (br#"{"topic":"x","v":9}"#, "unsupported protocol version 9"),
            (br#"{"topic":"a\u0007b"}"#, "control characters"),
            (b"\xff\xfe", "not valid UTF-8"),
            (br#""unterminated"#, "invalid JSON"),
        ];
        for (payload, expected) in cases {
            let err = start(payload).expect_err(&String::from_utf8_lossy(payload));
            assert!(
                err.contains(expected),
                "{:?}: {err}",
                String::from_utf8_lossy(payload)
            );
        }
        let long = "x".repeat(MAX_TOPIC_CHARS + 1);
        assert!(start(long.as_bytes()).unwrap_err().contains("characters"));
        let huge = vec![b'a'; MAX_CONTROL_BYTES + 1];
        assert!(start(&huge).unwrap_err().contains("limit is 65536"));
    }

    #[test]
    fn weights_requests() {
        assert_eq!(decode_weights(b"").unwrap(), WeightsRequest::default());
        let r = decode_weights(br#"{"weights":{"a":0.7,"b":0.3}}"#).unwrap();
        assert_eq!(r.weights.unwrap()["a"], 0.7);
        assert!(decode_weights(br#"{"clear":true}"#).unwrap().clear);
        for (bad, expected) in [
            (&br#"{"weights":{}}"#[..], "empty"),
            (br#"{"weights":{"a":-1}}"#, ">= 0"),
            (br#"{"weights":{"a":0}}"#, "all be zero"),
            (br#"{"weights":{"a":1},"clear":true}"#, "not both"),
            (br#"{"weights":{"a":"x"}}"#, "invalid type"),
            (br#"{"wieghts":{"a":1}}"#, "unknown field"),
            (b"heavy", "invalid JSON"),
        ] {
            let e = decode_weights(bad).unwrap_err().to_string();
            assert!(e.contains(expected), "{e}");
        }
    }

    #[test]
    fn no_args() {
        assert!(decode_no_args(b"").is_ok());
        assert!(decode_no_args(b"{}").is_ok());
        assert!(decode_no_args(br#"{"v":1}"#).is_ok());
        assert!(decode_no_args(b"now please").is_err());
        assert!(decode_no_args(br#"{"force":true}"#).is_err());
    }
}
