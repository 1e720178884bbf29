//! igentai's wire protocol: the one place that names NATS subjects and
//! defines the JSON messages that travel on them.
//!
//! Every role depends on this crate and nothing else names a subject, so a
//! change to the protocol is a change to this crate. Every message carries a
//! `v` field ([`VERSION`]) so a fleet of mixed versions can tell what it is
//! reading; decoders accept a missing `v` from humans typing commands.
//! [`names`] holds the one rule both sides of the wire apply to an item's
//! spelling: what part of it is the name.

pub mod control;
pub mod ids;
pub mod metrics;
pub mod names;
pub mod subjects;
pub mod work;

pub use control::{
    ControlVerb, Reply, ReplyError, StartReply, StartRequest, StopReply, Strategies, WeightsReply,
    WeightsRequest, decode_reply,
};
pub use metrics::{
    ArmStats, Estimate, ItemsEvent, MetricsSnapshot, NewItem, PartitionStats, ProviderStats,
    RunInfo, RunState, StreamPeer, StreamStatus, Totals, Validity, WorkerStats, Yield,
};
pub use work::{
    Answer, Assignment, BatchesInFlight, BatchesStopped, CandidateBatch, Heartbeat, JudgeReply,
    JudgeRequest, MAX_JUDGE_ITEMS, PartitionReply, PartitionRequest, ProviderHealth, StopWork,
    WeightsUpdate, WorkerAck, WorkerCommand, WorkerState,
};

/// The protocol version every message is stamped with.
pub const VERSION: u32 = 1;

/// The largest candidate batch a worker may publish, in bytes. The
/// coordinator rejects larger ones; `nats.conf` allows more than this so the
/// rejection is ours, counted and explained, rather than the server's.
pub const MAX_BATCH_BYTES: usize = 256 * 1024;

/// The longest item kept, in characters: the worker's parser drops longer
/// lines and the coordinator rejects longer items. An item is a name, not
/// a paragraph.
pub const MAX_ITEM_CHARS: usize = 200;

/// The largest control request the coordinator will read.
pub const MAX_CONTROL_BYTES: usize = 64 * 1024;

/// Serde default for `v` on messages typed by hand.
pub fn default_version() -> u32 {
    VERSION
}

/// Milliseconds since the Unix epoch, the timestamp unit of the protocol.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
