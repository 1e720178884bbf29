//! Decoding candidate batches and vetting their items.
//!
//! Pure. A batch that cannot be read is rejected whole with a [`Reject`]
//! kind that the coordinator counts (so is one that `admission.rs` turns
//! away); an unusable item inside a good batch is dropped and counted, and
//! the rest of the batch is kept.

use std::borrow::Cow;

use igentai_protocol::{CandidateBatch, MAX_BATCH_BYTES, MAX_ITEM_CHARS, ids};

use crate::keys::normalize::{Normalizer, is_invisible, key_hash};

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
    #[error("batch has an identifier out of its charset or length: {0}")]
    Identifier(&'static str),
    #[error(
        "batch id {batch_id:?} is not one of worker {worker_id:?}'s own (`<worker_id>-<32 hex digits>`)"
    )]
    ForeignBatchId { batch_id: String, worker_id: String },
    #[error("batch names provider {provider:?}, which worker {worker_id:?} does not report")]
    UnknownProvider { provider: String, worker_id: String },
    #[error("batch failed to commit {strikes} times: {batch_id}")]
    CommitFailed { batch_id: String, strikes: u32 },
    #[error("batch on {subject} claims to come from worker {worker_id:?}")]
    WrongWorker { subject: String, worker_id: String },
    #[error("batch of run {0:?}, which this coordinator never started")]
    UnknownRun(String),
    #[error("batch of run {0:?} names a topic that is not the run's")]
    WrongTopic(String),
    #[error("batch claims more than one call can: {0}")]
    OverLimit(String),
}

impl Reject {
    /// A stable name for counting and for logging once per kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::TooLarge(_) => "too_large",
            Self::NotUtf8 => "not_utf8",
            Self::Schema(_) => "schema",
            Self::Field(_) => "field",
            Self::Identifier(_) => "bad_identifier",
            Self::ForeignBatchId { .. } => "foreign_batch_id",
            Self::UnknownProvider { .. } => "unknown_provider",
            Self::CommitFailed { .. } => "commit_failed",
            Self::WrongWorker { .. } => "wrong_worker",
            Self::UnknownRun(_) => "unknown_run",
            Self::WrongTopic(_) => "wrong_topic",
            Self::OverLimit(_) => "over_limit",
        }
    }
}

/// A batch as read from the stream: its metadata, and its items borrowed
/// from the payload (copied only when JSON escapes had to be undone).
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded<'a> {
    /// Everything but the items (`batch.items` is empty).
    pub batch: CandidateBatch,
    pub items: Vec<Cow<'a, str>>,
}

pub fn decode(payload: &[u8]) -> Result<Decoded<'_>, Reject> {
    if payload.len() > MAX_BATCH_BYTES {
        return Err(Reject::TooLarge(payload.len()));
    }
    let text = std::str::from_utf8(payload).map_err(|_| Reject::NotUtf8)?;
    let mut batch: CandidateBatch =
        serde_json::from_str(text).map_err(|e| Reject::Schema(e.to_string()))?;
    if batch.topic.trim().is_empty() {
        return Err(Reject::Field("topic"));
    }
    // Identifiers go into headers, subjects, file names and metric
    // labels: a CR or LF in a batch id would break the items ledger's
    // `Nats-Msg-Id` header and with it the whole commit.
    if let Some(field) = ids::invalid_identifier(&batch) {
        return Err(Reject::Identifier(field));
    }
    if !batch.cost_usd.is_finite() {
        return Err(Reject::Field("cost_usd"));
    }
    let items = std::mem::take(&mut batch.items);
    Ok(Decoded {
        batch,
        items: items.into_iter().map(Cow::Owned).collect(),
    })
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
    Vetter::default().vet(raw).map(|v| Item {
        text: v.text.to_string(),
        key: v.key.to_string(),
        hash: v.hash,
    })
}

/// A usable item, borrowed from the candidate or the [`Vetter`]'s buffers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Vetted<'a> {
    pub text: &'a str,
    pub key: &'a str,
    pub hash: u128,
}

/// Vets many items with reused buffers (as [`vet`], without allocating
/// once warm).
#[derive(Debug, Default)]
pub struct Vetter {
    normalizer: Normalizer,
    text: String,
}

impl Vetter {
    pub fn vet<'a>(&'a mut self, raw: &'a str) -> Option<Vetted<'a>> {
        let trimmed = raw.trim();
        if trimmed.is_empty() || has_control(trimmed) {
            return None;
        }
        let text = if needs_cleaning(trimmed) {
            // Whitespace collapsed to single spaces, invisible characters
            // dropped: `output.txt` shows what the key compares.
            self.text.clear();
            let mut space = false;
            for c in trimmed.chars().filter(|&c| !is_invisible(c)) {
                if c.is_whitespace() {
                    space = true;
                    continue;
                }
                if space && !self.text.is_empty() {
                    self.text.push(' ');
                }
                space = false;
                self.text.push(c);
            }
            self.text.as_str()
        } else {
            trimmed
        };
        // A character takes at least one byte: short items need no count.
        if text.is_empty() || (text.len() > MAX_ITEM_CHARS && text.chars().count() > MAX_ITEM_CHARS)
        {
            return None;
        }
        let key = self.normalizer.key(text);
        if key.is_empty() {
            return None;
        }
        Some(Vetted {
            text,
            key,
            hash: key_hash(key),
        })
    }
}

/// Control characters and line separators would break `output.txt`'s one
/// item per line (and terminals showing it).
fn has_control(s: &str) -> bool {
    if s.is_ascii() {
        s.bytes()
            .fold(false, |acc, b| acc | (b < 0x20) | (b == 0x7f))
    } else {
        s.chars()
            .any(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}'))
    }
}

/// Whether `s` (trimmed, control-free) holds whitespace other than single
/// spaces, or invisible characters. Every ASCII whitespace but the space is
/// a control character, and ASCII holds no invisible one.
fn needs_cleaning(s: &str) -> bool {
    if s.is_ascii() {
        let b = s.as_bytes();
        b.iter()
            .zip(&b[1..])
            .fold(false, |acc, (&x, &y)| acc | ((x == b' ') & (y == b' ')))
    } else {
        let mut previous_space = false;
        s.chars().any(|c| {
            let doubled = c == ' ' && previous_space;
            previous_space = c == ' ';
            doubled || (c.is_whitespace() && c != ' ') || is_invisible(c)
        })
    }
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
        let json = batch_json(r#"["Louvre","Orsay"]"#);
        let b = decode(json.as_bytes()).unwrap();
        assert_eq!(b.items, ["Louvre", "Orsay"]);
        let json = batch_json(r#"["Caf\u00e9 \"Flore\""]"#);
        let escaped = decode(json.as_bytes()).unwrap();
        assert_eq!(escaped.items, ["Café \"Flore\""]);
        // Every field of a fully populated batch survives: the header, and
        // the items beside it.
        let full = CandidateBatch {
            v: 1,
            batch_id: "b".into(),
            run_id: "r".into(),
            topic: "t".into(),
            worker_id: "w".into(),
            provider: "p".into(),
            model: "m".into(),
            partition: Some("part".into()),
            items: vec!["a".into(), "b".into()],
            tokens_in: 1,
            tokens_cached_in: 0,
            tokens_out: 2,
            latency_ms: 3,
            cost_usd: 0.5,
            finish_reason: Some("stop".into()),
            request_id: Some("req".into()),
            created_at_ms: 9,
        };
        let json = serde_json::to_vec(&full).unwrap();
        let decoded = decode(&json).unwrap();
        let mut batch = decoded.batch;
        batch.items = decoded.items.iter().map(|i| i.to_string()).collect();
        assert_eq!(batch, full);
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
                "bad_identifier",
            ),
            (
                batch_json("[]")
                    .replace(r#""topic":"t""#, r#""topic":" ""#)
                    .into_bytes(),
                "field",
            ),
        ];
        // Every identifier: charset and length.
        let swap = |from: &str, to: String| (from.to_string(), to);
        let ids = [
            swap(
                r#""batch_id":"b1""#,
                r#""batch_id":"b1\r\nX-Evil: 1""#.into(),
            ),
            swap(r#""batch_id":"b1""#, r#""batch_id":"b1\n""#.into()),
            swap(r#""batch_id":"b1""#, r#""batch_id":"""#.into()),
            swap(r#""run_id":"r1""#, r#""run_id":"r1\n""#.into()),
            swap(r#""run_id":"r1""#, r#""run_id":"""#.into()),
            swap(r#""worker_id":"w1""#, r#""worker_id":"w1\r""#.into()),
            swap(r#""provider":"sim""#, r#""provider":"sim.x""#.into()),
            swap(r#""model":"m""#, r#""model":"m\u0000""#.into()),
            swap(r#""model":"m""#, r#""model":" ""#.into()),
            swap(r#""items":[]"#, r#""items":[],"partition":"a\nb""#.into()),
            swap(
                r#""items":[]"#,
                r#""items":[],"request_id":"\u001b[2J""#.into(),
            ),
            swap(
                r#""batch_id":"b1""#,
                format!(r#""batch_id":"{}""#, "b".repeat(129)),
            ),
            swap(
                r#""run_id":"r1""#,
                format!(r#""run_id":"{}""#, "r".repeat(129)),
            ),
            swap(
                r#""model":"m""#,
                format!(r#""model":"{}""#, "m".repeat(257)),
            ),
            swap(
                r#""items":[]"#,
                format!(r#""items":[],"partition":"{}""#, "p".repeat(4097)),
            ),
        ];
        for (from, to) in ids {
            let payload = batch_json("[]").replace(&from, &to);
            assert_ne!(payload, batch_json("[]"), "{to}");
            let err = decode(payload.as_bytes()).expect_err(&to);
            assert_eq!(err.kind(), "bad_identifier", "{to}: {err}");
        }
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
            ".",
            "\u{200B}\u{FEFF}",
            &"x".repeat(MAX_ITEM_CHARS + 1),
            &"é".repeat(MAX_ITEM_CHARS + 1),
        ] {
            assert_eq!(vet(bad), None, "{bad:?}");
        }
        for (raw, text) in [
            ("a  b", "a b"),
            ("a \u{a0}b", "a b"),
            ("a\u{3000}b", "a b"),
            ("é  b", "é b"),
            ("é b", "é b"),
            ("Lou\u{200B}vre", "Louvre"),
            ("\u{202E}Louvre \u{200B} Museum\u{202C}", "Louvre Museum"),
            ("2. Bundesliga", "2. Bundesliga"),
        ] {
            assert_eq!(vet(raw).unwrap().text, text, "{raw:?}");
        }
        for long in ["x", "é"].map(|c| c.repeat(MAX_ITEM_CHARS)) {
            assert_eq!(vet(&long).unwrap().text.chars().count(), MAX_ITEM_CHARS);
        }
    }
}
