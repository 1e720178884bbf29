//! Batches whose commits keep failing because of what they hold, set aside
//! so they never stop the batches behind them.
//!
//! A commit covers many batches and fails as a whole; the failed batches
//! are handed back and come again. When the failure is the environment's
//! (the disk is full, the items stream is unreachable), every batch must
//! wait and nothing is held against any of them. When it is one batch's
//! content (a panic, or data the items ledger cannot take), each batch of
//! the failed commit gets a strike, and each is handed back after its own
//! delay, spread over a few seconds, so the next commits hold few of them
//! and an innocent batch seldom shares a commit with the guilty one again.
//! A batch with [`MAX_STRIKES`] strikes is terminated, counted and named
//! (`Ingest::receive`).
//!
//! Pure: strikes by stream sequence, the delays from a hash.
//!
//! Why not the consumer's `max_deliver`: the candidate stream is a work
//! queue, and a message past `max_deliver` is neither delivered nor
//! removed. It would sit there unread and uncounted, and during a long
//! outage (a full disk) every batch would end up there.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::time::Duration;

/// Failed commits, caused by its content, after which a batch is set aside.
pub const MAX_STRIKES: u32 = 3;

/// Batches remembered at most (the oldest strikes are forgotten first).
const REMEMBERED: usize = 65_536;

/// Handed-back batches come again between these delays.
const SPREAD_MIN_MS: u64 = 1_000;
const SPREAD_MS: u64 = 4_000;

#[derive(Debug, Default)]
pub struct Strikes {
    by_sequence: HashMap<u64, u32>,
    order: VecDeque<u64>,
}

impl Strikes {
    /// A strike for each batch (by stream sequence) of a commit that
    /// failed because of what one of them held.
    pub fn strike(&mut self, sequences: impl IntoIterator<Item = u64>) {
        for sequence in sequences {
            let strikes = self.by_sequence.entry(sequence).or_insert(0);
            if *strikes == 0 {
                self.order.push_back(sequence);
            }
            *strikes += 1;
        }
        while self.order.len() > REMEMBERED {
            if let Some(old) = self.order.pop_front() {
                self.by_sequence.remove(&old);
            }
        }
    }

    /// The strikes of the batch at `sequence` once it has
    /// [`MAX_STRIKES`]: it is to be set aside.
    pub fn struck_out(&self, sequence: u64) -> Option<u32> {
        self.by_sequence
            .get(&sequence)
            .copied()
            .filter(|s| *s >= MAX_STRIKES)
    }
}

/// Whether a commit's failure is the content's (a panic while committing,
/// or data that cannot be published or written), not the environment's.
pub fn content_failure(error: &io::Error) -> bool {
    let panicked = error
        .get_ref()
        .and_then(|e| e.downcast_ref::<tokio::task::JoinError>())
        .is_some_and(tokio::task::JoinError::is_panic);
    panicked
        || matches!(
            error.kind(),
            io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput
        )
}

/// When a batch handed back after a content failure comes again: spread
/// over a few seconds by its sequence and delivery count, so each round
/// mixes the batches of a failed commit differently.
pub fn spread_delay(sequence: u64, delivered: i64) -> Duration {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&sequence.to_le_bytes());
    bytes[8..].copy_from_slice(&delivered.to_le_bytes());
    let jitter = xxhash_rust::xxh3::xxh3_64(&bytes) % SPREAD_MS;
    Duration::from_millis(SPREAD_MIN_MS + jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_set_aside_after_its_third_strike() {
        let mut strikes = Strikes::default();
        strikes.strike([1, 2, 3]);
        strikes.strike([2]);
        assert_eq!(strikes.struck_out(2), None);
        strikes.strike([2, 4]);
        assert_eq!(strikes.struck_out(2), Some(3));
        for innocent in [1, 3, 4, 5] {
            assert_eq!(strikes.struck_out(innocent), None, "{innocent}");
        }
    }

    #[test]
    fn strikes_are_bounded() {
        let mut strikes = Strikes::default();
        for round in 0..MAX_STRIKES {
            strikes.strike([0]);
            strikes.strike((1..=REMEMBERED as u64).map(|s| s + u64::from(round) * 1_000_000));
        }
        assert!(strikes.by_sequence.len() <= REMEMBERED);
        assert_eq!(strikes.order.len(), strikes.by_sequence.len());
    }

    #[test]
    fn only_a_content_failure_strikes() {
        for (error, content) in [
            (
                io::Error::new(io::ErrorKind::InvalidData, "bad header"),
                true,
            ),
            (io::Error::new(io::ErrorKind::InvalidInput, "bad id"), true),
            (
                io::Error::new(io::ErrorKind::StorageFull, "disk full"),
                false,
            ),
            (
                io::Error::other("the items stream did not acknowledge"),
                false,
            ),
            (io::Error::new(io::ErrorKind::TimedOut, "timeout"), false),
        ] {
            assert_eq!(content_failure(&error), content, "{error}");
        }
    }

    #[tokio::test]
    async fn a_panic_while_committing_is_a_content_failure() {
        let panicked = tokio::spawn(async { panic!("invalid header value") })
            .await
            .unwrap_err();
        assert!(content_failure(&io::Error::other(panicked)));
        let cancelled = tokio::spawn(std::future::pending::<()>());
        cancelled.abort();
        let cancelled = cancelled.await.unwrap_err();
        assert!(!content_failure(&io::Error::other(cancelled)));
    }

    #[test]
    fn delays_are_spread_and_change_with_each_delivery() {
        let delays: Vec<Duration> = (0..100).map(|s| spread_delay(s, 1)).collect();
        for d in &delays {
            assert!(
                (SPREAD_MIN_MS..SPREAD_MIN_MS + SPREAD_MS).contains(&(d.as_millis() as u64)),
                "{d:?}"
            );
        }
        let distinct: std::collections::HashSet<_> = delays.iter().collect();
        assert!(distinct.len() > 90, "{}", distinct.len());
        assert_ne!(spread_delay(7, 1), spread_delay(7, 2));
    }
}
