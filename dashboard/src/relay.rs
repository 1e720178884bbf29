//! The relay: reads `igentai.metrics` and `igentai.items` from NATS and puts
//! what is worth showing on the [`Feed`].
//!
//! A snapshot is relayed only when its `seq` is greater than the last one
//! relayed (the coordinator's `seq` grows across its restarts; anything else
//! is a stale or replayed snapshot). Only `seq` (or an items event's item
//! count) is decoded; the payload itself goes to browsers untouched. A
//! payload that is not what the protocol says is counted, logged the first
//! time, and dropped: whoever publishes garbage must not take the dashboard
//! down.

use async_nats::{Client, Subscriber};
use futures::StreamExt;
use igentai_protocol::subjects::{ITEMS, METRICS};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::feed::Feed;
use crate::frame::{Frame, Update};

/// The two subscriptions the relay reads.
pub struct Subscriptions {
    metrics: Subscriber,
    items: Subscriber,
}

pub async fn subscribe(client: &Client) -> anyhow::Result<Subscriptions> {
    use anyhow::Context;
    Ok(Subscriptions {
        metrics: client
            .subscribe(METRICS)
            .await
            .with_context(|| format!("cannot subscribe to {METRICS}"))?,
        items: client
            .subscribe(ITEMS)
            .await
            .with_context(|| format!("cannot subscribe to {ITEMS}"))?,
    })
}

enum Event {
    Metrics(async_nats::Message),
    Items(async_nats::Message),
    /// The NATS client closed the subscriptions (drained or shut down).
    Closed,
    Shutdown,
}

/// Relays until `shutdown` is cancelled or the subscriptions end.
pub async fn run(mut subs: Subscriptions, feed: Feed, shutdown: CancellationToken) {
    let mut gate = Gate::default();
    let mut bad_metrics = BadPayloads::new(METRICS);
    let mut bad_items = BadPayloads::new(ITEMS);
    loop {
        let event = tokio::select! {
            _ = shutdown.cancelled() => Event::Shutdown,
            msg = subs.metrics.next() => msg.map_or(Event::Closed, Event::Metrics),
            msg = subs.items.next() => msg.map_or(Event::Closed, Event::Items),
        };
        match event {
            Event::Metrics(msg) => match gate.metrics(&msg.payload) {
                Verdict::Relay(update) => feed.publish(update),
                Verdict::Stale { seq, last } => debug!(seq, last, "dropped stale snapshot"),
                Verdict::Bad(reason) => bad_metrics.note(&reason),
            },
            Event::Items(msg) => match decode_items(&msg.payload) {
                Ok(update) => feed.publish(update),
                Err(reason) => bad_items.note(&reason),
            },
            Event::Closed | Event::Shutdown => break,
        }
    }
    info!(
        bad_metrics = bad_metrics.count,
        bad_items = bad_items.count,
        last_seq = gate.last_seq,
        "relay stopped"
    );
}

/// What to do with one message.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    Relay(Update),
    Stale { seq: u64, last: u64 },
    Bad(String),
}

/// Lets through only snapshots newer than the last one let through.
#[derive(Debug, Default)]
pub struct Gate {
    last_seq: Option<u64>,
}

#[derive(Deserialize)]
struct SeqOnly {
    seq: u64,
}

#[derive(Deserialize)]
struct ItemsOnly {
    items: Vec<IgnoredAny>,
}

impl Gate {
    pub fn metrics(&mut self, payload: &[u8]) -> Verdict {
        let raw: &RawValue = match serde_json::from_slice(payload) {
            Ok(raw) => raw,
            Err(e) => return Verdict::Bad(format!("not JSON: {e}")),
        };
        let seq = match object::<SeqOnly>(raw) {
            Ok(head) => head.seq,
            Err(e) => return Verdict::Bad(format!("not a snapshot: {e}")),
        };
        if let Some(last) = self.last_seq.filter(|&last| seq <= last) {
            return Verdict::Stale { seq, last };
        }
        self.last_seq = Some(seq);
        Verdict::Relay(Update::Metrics {
            seq,
            text: Frame::Metrics(raw).encode(),
        })
    }
}

/// An items event framed for browsers, or why it is unreadable.
pub fn decode_items(payload: &[u8]) -> Result<Update, String> {
    let raw: &RawValue =
        serde_json::from_slice(payload).map_err(|e| format!("not JSON: {e}"))?;
    let event = object::<ItemsOnly>(raw).map_err(|e| format!("not an items event: {e}"))?;
    Ok(Update::Items {
        count: event.items.len(),
        text: Frame::Items(raw).encode(),
    })
}

/// Reads the fields the relay needs from a JSON object (serde would also
/// accept a struct written as an array, which no message of ours is).
fn object<'a, T: Deserialize<'a>>(raw: &'a RawValue) -> Result<T, String> {
    if !raw.get().starts_with('{') {
        return Err("expected a JSON object".into());
    }
    serde_json::from_str(raw.get()).map_err(|e| e.to_string())
}

/// Counts the payloads of one subject dropped as unreadable; warns only for
/// the first so a misbehaving publisher cannot flood the log.
struct BadPayloads {
    subject: &'static str,
    count: u64,
}

impl BadPayloads {
    fn new(subject: &'static str) -> Self {
        BadPayloads { subject, count: 0 }
    }

    fn note(&mut self, reason: &str) {
        self.count += 1;
        if self.count == 1 {
            warn!(
                subject = self.subject,
                reason, "dropped an unreadable payload (further ones are logged at debug level)"
            );
        } else {
            debug!(subject = self.subject, reason, count = self.count, "dropped an unreadable payload");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relayed_seq(verdict: &Verdict) -> Option<u64> {
        match verdict {
            Verdict::Relay(Update::Metrics { seq, .. }) => Some(*seq),
            _ => None,
        }
    }

    #[test]
    fn only_newer_snapshots_pass() {
        let mut gate = Gate::default();
        // (payload, relayed seq or None)
        let table: &[(&str, Option<u64>)] = &[
            (r#"{"seq":5,"state":"idle"}"#, Some(5)),
            (r#"{"seq":5}"#, None),
            (r#"{"seq":4}"#, None),
            (r#"{"seq":6}"#, Some(6)),
            ("not json", None),
            (r#"{"state":"idle"}"#, None),
            (r#"{"seq":-1}"#, None),
            (r#"{"seq":"7"}"#, None),
            (r#"[7]"#, None),
            (r#"  {"seq":7}  "#, Some(7)),
        ];
        for (payload, expected) in table {
            assert_eq!(relayed_seq(&gate.metrics(payload.as_bytes())), *expected, "{payload}");
        }
        assert!(matches!(gate.metrics(b"{"), Verdict::Bad(_)));
        assert_eq!(gate.metrics(br#"{"seq":3}"#), Verdict::Stale { seq: 3, last: 7 });
        assert!(matches!(gate.metrics(b"\xff\xfe"), Verdict::Bad(_)));
    }

    #[test]
    fn relayed_snapshot_is_the_payload_framed() {
        let payload = r#"{"seq":9,"totals":{"unique":3}}"#;
        let verdict = Gate::default().metrics(payload.as_bytes());
        let Verdict::Relay(update) = verdict else {
            panic!("not relayed: {verdict:?}");
        };
        assert_eq!(
            update.text().as_str(),
            format!(r#"{{"type":"metrics","data":{payload}}}"#)
        );
    }

    #[test]
    fn items_events_need_an_items_array() {
        let table: &[(&str, Option<usize>)] = &[
            (r#"{"v":1,"run_id":"r","items":[{"text":"a"},{"text":"b"}]}"#, Some(2)),
            (r#"{"items":[]}"#, Some(0)),
            (r#"{"items":"a"}"#, None),
            (r#"{"run_id":"r"}"#, None),
            ("<img src=x onerror=alert(1)>", None),
            (r#"[[]]"#, None),
        ];
        for (payload, expected) in table {
            let count = match decode_items(payload.as_bytes()) {
                Ok(Update::Items { count, .. }) => Some(count),
                _ => None,
            };
            assert_eq!(count, *expected, "{payload}");
        }
    }
}
