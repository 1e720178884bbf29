//! Helpers shared by the system tests, on top of testkit's fleet, control
//! client, known-stream publisher and folder check: the names the tests
//! use, the coordinator's log and lock file, and `items.jsonl` records as
//! the coordinator's own type.

// Each test crate uses some of these.
#![allow(dead_code, unused_imports)]

use std::path::Path;

pub mod claims;
pub mod script;
use std::time::Duration;

use igentai_protocol::MetricsSnapshot;
use testkit::{Control, CoordinatorSpec, Nats, Proc, WorkerSpec, wait_for};

pub use testkit::Fleet;
pub use testkit::fleet::coordinator_env;
pub use testkit::folder::{check_folder, lines};
pub use testkit::stream::{batch, batch_id, publish_batch, publish_raw, wait_drained, wait_stream};

/// The coordinator's status through `client`, or `None` while no
/// coordinator answers.
pub async fn try_status(client: &async_nats::Client) -> Option<MetricsSnapshot> {
    Control::new(client).try_status().await
}

/// Starts a run on `topic` as the operator and returns its id: batches are
/// admitted only for runs the coordinator started.
pub async fn start_run(client: &async_nats::Client, topic: &str) -> String {
    Control::new(client).start_topic(topic).await
}

/// The coordinator, logged in as `coordinator`.
pub fn spawn_coordinator(dir: &Path, nats_url: &str, data: &Path) -> Proc {
    CoordinatorSpec::new().spawn(dir, nats_url, data)
}

/// Another coordinator process, logging to `<dir>/<name>.log`, with extra
/// arguments (`--standby`, `--lease-ttl-ms`).
pub fn spawn_coordinator_as(
    name: &str,
    dir: &Path,
    nats_url: &str,
    data: &Path,
    args: &[&str],
) -> Proc {
    CoordinatorSpec::new()
        .name(name)
        .args(args)
        .spawn(dir, nats_url, data)
}

/// The coordinator with `extra` settings in its environment.
pub fn spawn_coordinator_with(
    dir: &Path,
    nats_url: &str,
    data: &Path,
    extra: &[(&str, &str)],
) -> Proc {
    CoordinatorSpec::new().env(extra).spawn(dir, nats_url, data)
}

/// A sim worker, logged in as its own user `worker-<id>`.
pub async fn spawn_worker(dir: &Path, nats: &impl Nats, id: &str) -> Proc {
    WorkerSpec::sim(id).spawn(dir, nats).await
}

/// True once the log of the process named `name` (in `dir`) holds `needle`.
pub fn log_has(dir: &Path, name: &str, needle: &str) -> bool {
    std::fs::read_to_string(dir.join(format!("{name}.log"))).is_ok_and(|l| l.contains(needle))
}

/// Waits (bounded) until the log of `name` holds `needle`.
pub async fn wait_log(dir: &Path, name: &str, needle: &str, within: Duration) {
    wait_for(&format!("{name} to log {needle:?}"), within, || async {
        log_has(dir, name, needle).then_some(())
    })
    .await;
}

/// The pid named in a data dir's lock file.
pub fn lock_owner(data: &Path) -> Option<u32> {
    coordinator::Owner::decode(&std::fs::read(data.join(coordinator::LOCK_FILE)).ok()?)
        .map(|o| o.pid)
}

/// The item records of `items.jsonl` written in full so far (the
/// coordinator may be appending the next line), in `output.txt` order:
/// alias records (near-duplicates of an earlier item) are left out.
pub fn item_records(path: &Path) -> Vec<coordinator::ItemRecord> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .split_inclusive('\n')
        .filter(|l| l.ends_with('\n'))
        .map(|l| {
            serde_json::from_str::<coordinator::ItemRecord>(l)
                .unwrap_or_else(|e| panic!("an items.jsonl record: {e}: {l}"))
        })
        .filter(|r| r.alias_of.is_none())
        .collect()
}
