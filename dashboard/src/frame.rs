//! What the dashboard sends to browsers over `/ws`: one JSON text frame per
//! event, `{"type":"metrics","data":<snapshot>}`,
//! `{"type":"items","data":<items event>}`, and on connect a `hello` and
//! the run's chart `history` (`{"run_id":..,"points":[..]}`).
//!
//! Payloads are relayed byte for byte as the coordinator published them
//! (borrowed as `RawValue`): the dashboard neither needs to know every field
//! of a snapshot nor re-serializes one. Each frame is encoded once into an
//! [`Update`] whose bytes every client shares.

use axum::extract::ws::Utf8Bytes;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::history::Point;

/// A frame as it is written on the WebSocket.
#[derive(Serialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum Frame<'a> {
    /// First frame of every connection.
    Hello { version: &'static str },
    /// Sent on connect: the current run's points so far, for the charts.
    History {
        run_id: Option<&'a str>,
        points: &'a [Point],
    },
    /// A metrics snapshot, as published on `igentai.metrics`.
    Metrics(&'a RawValue),
    /// New unique items, as published on `igentai.items`.
    Items(&'a RawValue),
}

impl Frame<'_> {
    pub fn encode(&self) -> Utf8Bytes {
        serde_json::to_string(self)
            .expect("frames hold only strings, numbers and validated JSON")
            .into()
    }
}

/// An encoded frame on its way to every client, with what the clients need
/// to know about it without parsing it again.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    Metrics { seq: u64, text: Utf8Bytes },
    Items { count: usize, text: Utf8Bytes },
}

impl Update {
    pub fn text(&self) -> &Utf8Bytes {
        match self {
            Update::Metrics { text, .. } | Update::Items { text, .. } => text,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(frame: Frame<'_>, expected: &str) {
        assert_eq!(frame.encode().as_str(), expected);
    }

    #[test]
    fn payloads_are_embedded_verbatim() {
        // Spacing and field order of the payload survive: it is not re-serialized.
        let snapshot: &RawValue =
            serde_json::from_str(r#"{ "seq": 7,  "z": 1, "a": [] }"#).unwrap();
        check(
            Frame::Metrics(snapshot),
            r#"{"type":"metrics","data":{ "seq": 7,  "z": 1, "a": [] }}"#,
        );
        let items: &RawValue =
            serde_json::from_str(r#"{"v":1,"items":[{"text":"<script>"}]}"#).unwrap();
        check(
            Frame::Items(items),
            r#"{"type":"items","data":{"v":1,"items":[{"text":"<script>"}]}}"#,
        );
        check(
            Frame::Hello { version: "1.2.3" },
            r#"{"type":"hello","data":{"version":"1.2.3"}}"#,
        );
    }
}
