//! Batch mode in the yield benchmark, as the worker's batch runner does it
//! (`worker::batches`): the slots' turns the weights draw for a batch-mode
//! provider (`turns::draw`, skipping one at its limit with a full batch
//! drawn: `turns::takes_turns`) become its pending requests
//! (`turns::Pending`); a batch goes once full or once its oldest request
//! waited, each request asked with the worker's assignment of that moment,
//! and all its answers come back together after the vendor's turnaround.
//! A worker without live providers has no turns to split and submits full
//! batches whenever the weights want the provider (`turns::wanted`).

use std::time::Duration;

use worker::batches::turns::{Pace, Pending};

/// How a batch-mode provider is called, in virtual time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchMode {
    /// Requests a batch.
    pub size: u32,
    /// The longest a drawn request waits for its batch to fill.
    pub fill: Duration,
    /// From submission to results.
    pub turnaround_ms: u64,
    /// Batches in flight at once, per worker.
    pub max_in_flight: usize,
}

impl Default for BatchMode {
    /// The worker's defaults (`providers::settings::batch`), and a vendor
    /// answering in twenty minutes (both promise a day; most batches end
    /// within an hour).
    fn default() -> Self {
        BatchMode {
            size: worker::providers::settings::batch::DEFAULT_BATCH_SIZE,
            fill: Duration::from_secs_f64(worker::providers::settings::batch::DEFAULT_FILL_S),
            turnaround_ms: 20 * 60 * 1000,
            max_in_flight: 4,
        }
    }
}

/// One worker's batches of one provider.
#[derive(Debug, Default)]
pub struct Runner {
    pub pending: Pending,
    pub in_flight: usize,
}

/// One worker's split of its turns.
#[derive(Debug, Default)]
pub struct Turns {
    /// Per provider of the fleet (used for the batch-mode ones).
    pub runners: Vec<Runner>,
    /// How long its live calls take lately.
    pub pace: Pace,
}

impl Turns {
    pub fn new(providers: usize) -> Self {
        Turns {
            runners: (0..providers).map(|_| Runner::default()).collect(),
            pace: Pace::default(),
        }
    }
}

/// Which batch an answer belongs to: it is the batch's last one when
/// `last`, which frees its place among the batches in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tag {
    pub last: bool,
}
