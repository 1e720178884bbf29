//! The feed every browser connection reads: the latest metrics snapshot, the
//! most recent items, the run's chart history, and a broadcast channel of
//! updates.
//!
//! A client joining gets the latest snapshot and recent items together with
//! a receiver positioned right after them (both taken under one lock, the
//! same lock [`Feed::publish`] holds), so it neither misses nor repeats an
//! update. The broadcast channel is bounded: a client that falls behind
//! loses old updates (`Lagged`) and catches up from [`Feed::latest`] instead
//! of slowing anyone else down.
//!
//! The feed also keeps the latest snapshot decoded (for `/metrics` and the
//! `output.txt` download) and the relay's counters ([`Stats`]), served as
//! `GET /api/relay` to answer "is the dashboard receiving anything?".

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use igentai_protocol::MetricsSnapshot;
use serde::Serialize;
use tokio::sync::broadcast;

use crate::frame::Update;
use crate::history::{History, Point};

/// How many recent items a newly connected page is sent (the page keeps ~200).
const RECENT_ITEMS: usize = 200;

#[derive(Clone)]
pub struct Feed {
    inner: Arc<Inner>,
}

struct Inner {
    tx: broadcast::Sender<Update>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    latest: Option<Update>,
    /// Items frames, oldest first, holding at least `RECENT_ITEMS` items
    /// whenever that many were ever published.
    recent: VecDeque<Update>,
    recent_items: usize,
    /// `latest`, decoded; `None` when it did not decode as a snapshot of
    /// this protocol version (it is still relayed to browsers).
    snapshot: Option<Arc<MetricsSnapshot>>,
    history: History,
    stats: Stats,
}

/// What the relay has seen so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    /// `seq` of the latest snapshot relayed.
    pub last_seq: Option<u64>,
    pub snapshots: u64,
    pub items_events: u64,
    /// Snapshots dropped for a `seq` not above `last_seq`.
    pub stale_snapshots: u64,
    /// Unreadable payloads dropped, per subject.
    pub bad_metrics: u64,
    pub bad_items: u64,
    /// Browsers connected to `/ws` right now.
    pub clients: usize,
}

/// Why the relay dropped a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    StaleSnapshot,
    BadMetrics,
    BadItems,
}

/// What a client starts from when it connects.
pub struct Joined {
    /// The run the chart points belong to, and the points, oldest first.
    pub history_run_id: Option<String>,
    pub history: Vec<Point>,
    pub latest: Option<Update>,
    pub recent: Vec<Update>,
    pub rx: broadcast::Receiver<Update>,
}

impl Feed {
    /// A feed that queues up to `capacity` updates per client before that
    /// client starts lagging.
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity);
        Feed {
            inner: Arc::new(Inner {
                tx,
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// Remembers `update` and sends it to every connected client. Staleness
    /// is the relay's business: whatever arrives here is newer.
    pub fn publish(&self, update: Update) {
        self.publish_decoded(update, None);
    }

    /// [`Feed::publish`] for a metrics update that was also decoded: the
    /// snapshot feeds `/metrics`, the download and the chart history.
    pub fn publish_decoded(&self, update: Update, snapshot: Option<MetricsSnapshot>) {
        let mut state = self.lock();
        match &update {
            Update::Metrics { seq, .. } => {
                if let Some(snapshot) = &snapshot {
                    state.history.record(snapshot);
                }
                state.snapshot = snapshot.map(Arc::new);
                state.latest = Some(update.clone());
                state.stats.snapshots += 1;
                state.stats.last_seq = Some(*seq);
            }
            Update::Items { count, .. } => {
                state.stats.items_events += 1;
                state.recent.push_back(update.clone());
                state.recent_items += count;
                while let Some(front) = state.recent.front() {
                    let front_count = item_count(front);
                    if state.recent_items - front_count < RECENT_ITEMS {
                        break;
                    }
                    state.recent_items -= front_count;
                    state.recent.pop_front();
                }
            }
        }
        // No receivers just means no browser is open.
        let _ = self.inner.tx.send(update);
    }

    pub fn join(&self) -> Joined {
        let state = self.lock();
        Joined {
            history_run_id: state.history.run_id().map(str::to_string),
            history: state.history.points().to_vec(),
            latest: state.latest.clone(),
            recent: state.recent.iter().cloned().collect(),
            rx: self.inner.tx.subscribe(),
        }
    }

    pub fn latest(&self) -> Option<Update> {
        self.lock().latest.clone()
    }

    /// The latest snapshot, decoded (`None` before the first one, or when
    /// the latest one did not decode).
    pub fn snapshot(&self) -> Option<Arc<MetricsSnapshot>> {
        self.lock().snapshot.clone()
    }

    /// Counts a dropped message; returns how many were dropped for that reason.
    pub fn dropped(&self, why: Dropped) -> u64 {
        let stats = &mut self.lock().stats;
        let count = match why {
            Dropped::StaleSnapshot => &mut stats.stale_snapshots,
            Dropped::BadMetrics => &mut stats.bad_metrics,
            Dropped::BadItems => &mut stats.bad_items,
        };
        *count += 1;
        *count
    }

    pub fn stats(&self) -> Stats {
        Stats {
            clients: self.inner.tx.receiver_count(),
            ..self.lock().stats.clone()
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; if something ever did, the
        // state is still a valid (if slightly stale) feed.
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

fn item_count(update: &Update) -> usize {
    match update {
        Update::Items { count, .. } => *count,
        Update::Metrics { .. } => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(seq: u64) -> Update {
        Update::Metrics {
            seq,
            text: format!("m{seq}").into(),
        }
    }

    fn items(count: usize, tag: &str) -> Update {
        Update::Items {
            count,
            text: tag.to_string().into(),
        }
    }

    #[test]
    fn joining_client_gets_state_then_only_later_updates() {
        let feed = Feed::new(16);
        feed.publish(metrics(1));
        feed.publish(items(2, "a"));
        feed.publish(metrics(2));

        let mut joined = feed.join();
        assert_eq!(joined.latest, Some(metrics(2)));
        assert_eq!(joined.recent, vec![items(2, "a")]);
        assert!(
            joined.rx.try_recv().is_err(),
            "nothing before joining is replayed"
        );

        feed.publish(metrics(3));
        assert_eq!(joined.rx.try_recv().ok(), Some(metrics(3)));
        assert_eq!(feed.latest(), Some(metrics(3)));

        assert_eq!(feed.dropped(Dropped::StaleSnapshot), 1);
        assert_eq!(feed.dropped(Dropped::StaleSnapshot), 2);
        let stats = feed.stats();
        assert_eq!(
            stats,
            Stats {
                last_seq: Some(3),
                snapshots: 3,
                items_events: 1,
                stale_snapshots: 2,
                clients: 1,
                ..Stats::default()
            }
        );
    }

    #[test]
    fn recent_items_are_capped_but_keep_enough() {
        let feed = Feed::new(16);
        for i in 0..100 {
            feed.publish(items(7, &i.to_string()));
        }
        let recent = feed.join().recent;
        let total: usize = recent.iter().map(item_count).sum();
        assert!((RECENT_ITEMS..RECENT_ITEMS + 7).contains(&total), "{total}");
        assert_eq!(recent.last(), Some(&items(7, "99")), "newest kept");
    }
}
