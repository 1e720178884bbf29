//! The relay: reads `igentai.metrics` and `igentai.items` from NATS and puts
//! what is worth showing on the [`Feed`].
//!
//! A snapshot is relayed only when its `seq` is greater than the last one
//! relayed (the coordinator's `seq` grows across its restarts; anything else
//! is a stale or replayed snapshot). Browsers get the payload untouched;
//! the relay needs only `seq` (or an items event's item count) to pass it
//! on. A relayed snapshot is also decoded in full, for `/metrics`, the
//! download link and the chart history; one that does not decode (a
//! coordinator of another version) is still relayed. A
//! payload that is not what the protocol says is counted (in the feed's
//! stats), logged the first time, and dropped: whoever publishes garbage
//! must not take the dashboard down.

use anyhow::Context;
use async_nats::{Client, Subscriber};
use futures::StreamExt;
use igentai_protocol::MetricsSnapshot;
use igentai_protocol::subjects::{ITEMS, METRICS};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::feed::{Dropped, Feed};
use crate::frame::{Frame, Update};

/// The two subscriptions the relay reads.
pub struct Subscriptions {
    metrics: Subscriber,
    items: Subscriber,
}

pub async fn subscribe(client: &Client) -> anyhow::Result<Subscriptions> {
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
    let mut undecodable: u64 = 0;
    loop {
        let event = tokio::select! {
            _ = shutdown.cancelled() => Event::Shutdown,
            msg = subs.metrics.next() => msg.map_or(Event::Closed, Event::Metrics),
            msg = subs.items.next() => msg.map_or(Event::Closed, Event::Items),
        };
        match event {
            Event::Metrics(msg) => match gate.metrics(&msg.payload) {
                Verdict::Relay(update) => {
                    let snapshot = match serde_json::from_slice::<MetricsSnapshot>(&msg.payload) {
                        Ok(snapshot) => Some(snapshot),
                        Err(e) => {
                            undecodable += 1;
                            if undecodable == 1 {
                                warn!(
                                    error = %e,
                                    "relayed a snapshot this dashboard cannot fully read \
                                     (another protocol version?): /metrics and the charts \
                                     skip such snapshots"
                                );
                            }
                            None
                        }
                    };
                    feed.publish_decoded(update, snapshot);
                }
                Verdict::Stale { seq, last, streak } => {
                    feed.dropped(Dropped::StaleSnapshot);
                    if streak == STALE_STREAK_WARNING {
                        warn!(
                            seq,
                            last,
                            "every recent snapshot was older than one already shown: \
                             did a coordinator restart with its clock behind? \
                             Restart the dashboard to follow it"
                        );
                    } else {
                        debug!(seq, last, "dropped stale snapshot");
                    }
                }
                Verdict::Bad(reason) => {
                    log_bad(METRICS, feed.dropped(Dropped::BadMetrics), &reason);
                }
            },
            Event::Items(msg) => match decode_items(&msg.payload) {
                Ok(update) => feed.publish(update),
                Err(reason) => log_bad(ITEMS, feed.dropped(Dropped::BadItems), &reason),
            },
            Event::Closed | Event::Shutdown => break,
        }
    }
    let stats = feed.stats();
    info!(
        snapshots = stats.snapshots,
        items_events = stats.items_events,
        stale_snapshots = stats.stale_snapshots,
        bad_metrics = stats.bad_metrics,
        bad_items = stats.bad_items,
        "relay stopped"
    );
}

/// Consecutive stale snapshots (about a second apart) after which a
/// coordinator is probably publishing from behind, not just replaying one.
const STALE_STREAK_WARNING: u32 = 10;

/// What to do with one message.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    Relay(Update),
    /// Not newer than `last`; the `streak`-th stale snapshot in a row.
    Stale {
        seq: u64,
        last: u64,
        streak: u32,
    },
    Bad(String),
}

/// Lets through only snapshots newer than the last one let through.
#[derive(Debug, Default)]
pub struct Gate {
    last_seq: Option<u64>,
    stale_streak: u32,
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
            self.stale_streak += 1;
            return Verdict::Stale {
                seq,
                last,
                streak: self.stale_streak,
            };
        }
        self.last_seq = Some(seq);
        self.stale_streak = 0;
        Verdict::Relay(Update::Metrics {
            seq,
            text: Frame::Metrics(raw).encode(),
        })
    }
}

/// An items event framed for browsers, or why it is unreadable.
pub fn decode_items(payload: &[u8]) -> Result<Update, String> {
    let raw: &RawValue = serde_json::from_slice(payload).map_err(|e| format!("not JSON: {e}"))?;
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

/// Warns about the first unreadable payload of a subject only, so a
/// misbehaving publisher cannot flood the log.
fn log_bad(subject: &str, count: u64, reason: &str) {
    if count == 1 {
        warn!(
            subject,
            reason, "dropped an unreadable payload (further ones are logged at debug level)"
        );
    } else {
        debug!(subject, reason, count, "dropped an unreadable payload");
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
            assert_eq!(
                relayed_seq(&gate.metrics(payload.as_bytes())),
                *expected,
                "{payload}"
            );
        }
        assert!(matches!(gate.metrics(b"{"), Verdict::Bad(_)));
        assert!(matches!(gate.metrics(b"\xff\xfe"), Verdict::Bad(_)));
        // Stale snapshots in a row are counted, so a clock gone back is noticed.
        for streak in 1..=3 {
            assert_eq!(
                gate.metrics(br#"{"seq":3}"#),
                Verdict::Stale {
                    seq: 3,
                    last: 7,
                    streak
                }
            );
        }
        assert_eq!(relayed_seq(&gate.metrics(br#"{"seq":8}"#)), Some(8));
        assert!(matches!(
            gate.metrics(br#"{"seq":3}"#),
            Verdict::Stale { streak: 1, .. }
        ));
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
            (
                r#"{"v":1,"run_id":"r","items":[{"text":"a"},{"text":"b"}]}"#,
                Some(2),
            ),
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
