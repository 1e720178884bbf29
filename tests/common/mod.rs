//! Helpers shared by the system tests: starting the fleet and talking to
//! the coordinator the way `nats req` does.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use igentai_protocol::{MetricsSnapshot, decode_reply, subjects};
use testkit::{NatsServer, Proc, bin_path, wait_for};

pub struct Fleet {
    pub dir: tempfile::TempDir,
    pub nats: NatsServer,
    pub data: PathBuf,
    pub coordinator: Proc,
    pub workers: Vec<Proc>,
    pub client: async_nats::Client,
}

impl Fleet {
    /// nats-server, the coordinator and `workers` sim workers, all with
    /// short intervals so a test sees many heartbeats and snapshots.
    pub async fn start(workers: usize) -> Fleet {
        let dir = testkit::test_dir();
        let nats = NatsServer::start(dir.path()).await;
        let data = dir.path().join("data");
        let coordinator = spawn_coordinator(dir.path(), &nats.url, &data);
        let workers = (1..=workers)
            .map(|i| spawn_worker(dir.path(), &nats.url, &format!("w{i}")))
            .collect();
        let client = nats.client().await;
        Fleet { dir, nats, data, coordinator, workers, client }
    }

    /// Sends a control request exactly as `nats req SUBJECT PAYLOAD` does
    /// and returns the raw JSON reply.
    pub async fn request(&self, subject: &str, payload: impl Into<Vec<u8>>) -> serde_json::Value {
        let payload: Vec<u8> = payload.into();
        let msg = tokio::time::timeout(
            Duration::from_secs(30),
            self.client.request(subject.to_string(), payload.into()),
        )
        .await
        .expect("the coordinator answers within 30 s")
        .expect("a coordinator answers");
        serde_json::from_slice(&msg.payload).expect("replies are JSON")
    }

    pub async fn status(&self) -> MetricsSnapshot {
        self.try_status().await.expect("the coordinator answers status")
    }

    /// The status, or `None` while no coordinator answers.
    pub async fn try_status(&self) -> Option<MetricsSnapshot> {
        let msg = self
            .client
            .request(subjects::CONTROL_STATUS, "".into())
            .await
            .ok()?;
        Some(decode_reply(&msg.payload).expect("status is ok"))
    }

    /// Waits until the coordinator answers and sees `n` workers alive.
    pub async fn wait_workers(&self, n: usize) {
        wait_for(&format!("{n} workers alive"), Duration::from_secs(30), || async {
            let s = self.try_status().await?;
            (s.workers.iter().filter(|w| w.alive).count() >= n).then_some(())
        })
        .await;
    }
}

pub fn spawn_coordinator(dir: &Path, nats_url: &str, data: &Path) -> Proc {
    Proc::spawn(
        "coordinator",
        &bin_path("coordinator"),
        &[],
        &[
            ("NATS_URL", nats_url),
            ("IGENTAI_DATA_DIR", data.to_str().unwrap()),
            ("IGENTAI_METRICS_INTERVAL_MS", "200"),
            ("IGENTAI_HEARTBEAT_TIMEOUT_MS", "3000"),
        ],
        dir,
    )
}

pub fn spawn_worker(dir: &Path, nats_url: &str, id: &str) -> Proc {
    Proc::spawn(
        id,
        &bin_path("worker"),
        &["--worker-id", id, "--concurrency", "2", "--sim-latency-ms", "40"],
        &[("NATS_URL", nats_url), ("IGENTAI_HEARTBEAT_INTERVAL_MS", "200")],
        dir,
    )
}

/// Lines of a file, which must exist.
pub fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .lines()
        .map(str::to_string)
        .collect()
}
