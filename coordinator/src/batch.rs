//! Decoding candidate batches and vetting their items.
//!
//! Pure. A batch that cannot be read is rejected whole with a [`Reject`]
//! kind that the coordinator counts; an unusable item inside a good batch is
//! dropped and counted, and the rest of the batch is kept.

use igentai_protocol::{CandidateBatch, MAX_BATCH_BYTES, subjects};

use crate::normalize::{key_hash, normalize};

/// Longest item kept, in characters.
pub const MAX_ITEM_CHARS: usize = 300;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Reject {
    #[error("batch is {0} bytes; the limit is {MAX_BATCH_BYTES}")]
    TooLarge(usize),
    #[error("batch is not valid UTF-8")]
    NotUtf8,
    #[error("batch is not a candidate batch: {0}")]
    Schema(String),
    #[error("batch has an invalid field: {0}")]
    Field(&'static str),
}

impl Reject {
    /// A stable name for counting and for logging once per kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::TooLarge(_) => "too_large",
            Self::NotUtf8 => "not_utf8",
            Self::Schema(_) => "schema",
            Self::Field(_) => "field",
        }
    }
}

pub fn decode(payload: &[u8]) -> Result<CandidateBatch, Reject> {
    if payload.len() > MAX_BATCH_BYTES {
        return Err(Reject::TooLarge(payload.len()));
    }
    let text = std::str::from_utf8(payload).map_err(|_| Reject::NotUtf8)?;
    let batch: CandidateBatch =
        serde_json::from_str(text).map_err(|e| Reject::Schema(e.to_string()))?;
    if batch.topic.trim().is_empty() {
        return Err(Reject::Field("topic"));
    }
    if batch.run_id.is_empty() || batch.batch_id.is_empty() {
        return Err(Reject::Field("run_id/batch_id"));
    }
    if !subjects::valid_token(&batch.worker_id) {
        return Err(Reject::Field("worker_id"));
    }
    if !batch.cost_usd.is_finite() {
        return Err(Reject::Field("cost_usd"));
    }
    Ok(batch)
}

/// A usable item: the spelling to keep and its key.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub text: String,
    pub key: String,
    pub hash: u128,
}

/// The item as it will be stored, or `None` when it is unusable: empty,
/// too long, holding control or line-separator characters, or nothing left
/// after normalization.
pub fn vet(raw: &str) -> Option<Item> {
    let trimmed = raw.trim();
    if trimmed.is_empty()
        || trimmed.chars().count() > MAX_ITEM_CHARS
        || trimmed
            .chars()
            .any(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}'))
    {
        return None;
    }
    let text = trimmed.split_whitespace().collect::<Vec<_>>().join(" ");
    let key = normalize(&text);
    if key.is_empty() {
        return None;
    }
    let hash = key_hash(&key);
    Some(Item { text, key, hash })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch_json(items: &str) -> String {
        format!(
            r#"{{"v":1,"batch_id":"b1","run_id":"r1","topic":"t","worker_id":"w1","provider":"sim",
            "model":"m","items":{items},"tokens_in":1,"tokens_out":2,"latency_ms":3,
            "cost_usd":0.0,"created_at_ms":0}}"#
        )
    }

    #[test]
    fn decodes_good_batches() {
        let b = decode(batch_json(r#"["Louvre","Orsay"]"#).as_bytes()).unwrap();
        assert_eq!(b.items, ["Louvre", "Orsay"]);
    }

    #[test]
    fn rejects_bad_batches() {
        let big = batch_json(&format!(r#"["{}"]"#, "x".repeat(MAX_BATCH_BYTES)));
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (big.into_bytes(), "too_large"),
            (b"\xff\xfe{}".to_vec(), "not_utf8"),
            (b"not json".to_vec(), "schema"),
            (b"{}".to_vec(), "schema"),
            (br#"{"items":"Louvre"}"#.to_vec(), "schema"),
            (batch_json(r#""Louvre""#).into_bytes(), "schema"),
            (batch_json(r#"[1,2]"#).into_bytes(), "schema"),
            (
                batch_json("[]")
                    .replace(r#""worker_id":"w1""#, r#""worker_id":"a.b""#)
                    .into_bytes(),
                "field",
            ),
            (
                batch_json("[]")
                    .replace(r#""topic":"t""#, r#""topic":" ""#)
                    .into_bytes(),
                "field",
            ),
        ];
        for (payload, kind) in cases {
            let err = decode(&payload).expect_err(kind);
            assert_eq!(err.kind(), kind, "{err}");
        }
    }

    #[test]
    fn vets_items() {
        let item = vet("  Musée   d'Orsay ").unwrap();
        assert_eq!(
            (item.text.as_str(), item.key.as_str()),
            ("Musée d'Orsay", "musée d'orsay")
        );
        assert_eq!(
            vet("<script>alert(1)</script>").unwrap().text,
            "<script>alert(1)</script>"
        );
        for bad in [
            "",
            "   ",
            "a\nb",
            "a\rb",
            "a\u{0}b",
            "a\u{1b}[31mb",
            "line\u{2028}sep",
            "**",
            "1.",
            &"x".repeat(301),
        ] {
            assert_eq!(vet(bad), None, "{bad:?}");
        }
    }
}
