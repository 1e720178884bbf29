//! `state.json`: a topic folder's last known state (its topic, the current
//! run and its counters), written atomically each tick. The one reader and
//! writer of the format: the coordinator restores a run's rejected counts
//! from it, and the folder mapping reads which topic a folder holds.

use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::run::Run;
use crate::run::stats::RunStats;
use crate::topic::store::STATE;

#[derive(Serialize, Deserialize)]
pub struct TopicState {
    pub topic: String,
    #[serde(default)]
    pub slug: String,
    #[serde(default)]
    pub unique: u64,
    #[serde(default)]
    pub updated_at_ms: u64,
    #[serde(default)]
    pub run: Option<Run>,
    #[serde(default)]
    pub stats: RunStats,
}

impl TopicState {
    /// The state saved in the folder `dir`; `None` when there is none, or
    /// it cannot be read (it is rewritten on the next tick).
    pub fn read(dir: &Path) -> io::Result<Option<TopicState>> {
        match std::fs::read(dir.join(STATE)) {
            Ok(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
            Err(e)
                if e.kind() == io::ErrorKind::NotFound
                    || e.kind() == io::ErrorKind::NotADirectory =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}
