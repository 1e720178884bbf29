//! Helpers shared by the system tests: starting the fleet and talking to
//! the coordinator the way `nats req` does.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_nats::jetstream;
use igentai_protocol::{CandidateBatch, MetricsSnapshot, VERSION, decode_reply, subjects};
use testkit::{Nats, NatsServer, Proc, Role, bin_path, creds, wait_for};

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
        Self::start_with(workers, |_| ()).await.0
    }

    /// Like [`Fleet::start`], with `prepare` run on the data dir before any
    /// process starts; what it returns lives as long as the caller keeps it.
    pub async fn start_with<T>(workers: usize, prepare: impl FnOnce(&Path) -> T) -> (Fleet, T) {
        let dir = testkit::test_dir();
        let nats = NatsServer::start(dir.path()).await;
        let data = dir.path().join("data");
        let prepared = prepare(&data);
        let coordinator = spawn_coordinator(dir.path(), &nats.url, &data);
        let mut procs = Vec::new();
        for i in 1..=workers {
            procs.push(spawn_worker(dir.path(), &nats, &format!("w{i}")).await);
        }
        let workers = procs;
        let client = nats.client().await;
        let fleet = Fleet {
            dir,
            nats,
            data,
            coordinator,
            workers,
            client,
        };
        (fleet, prepared)
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
        self.try_status()
            .await
            .expect("the coordinator answers status")
    }

    /// The status, or `None` while no coordinator answers.
    pub async fn try_status(&self) -> Option<MetricsSnapshot> {
        try_status(&self.client).await
    }

    pub fn coordinator_alive(&mut self) -> bool {
        self.coordinator.is_running()
    }

    /// Waits until the coordinator answers and sees `n` workers alive.
    pub async fn wait_workers(&self, n: usize) {
        wait_for(
            &format!("{n} workers alive"),
            Duration::from_secs(30),
            || async {
                let s = self.try_status().await?;
                (s.workers.iter().filter(|w| w.alive).count() >= n).then_some(())
            },
        )
        .await;
    }
}

/// The coordinator's status through `client`, or `None` while no
/// coordinator answers.
pub async fn try_status(client: &async_nats::Client) -> Option<MetricsSnapshot> {
    let msg = client
        .request(subjects::CONTROL_STATUS, "".into())
        .await
        .ok()?;
    Some(decode_reply(&msg.payload).expect("status is ok"))
}

/// The coordinator, logged in as `coordinator`.
pub fn spawn_coordinator(dir: &Path, nats_url: &str, data: &Path) -> Proc {
    spawn_coordinator_as("coordinator", dir, nats_url, data, &[])
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
    let env = coordinator_env(nats_url, data);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Proc::spawn(name, &bin_path("coordinator"), args, &env, dir)
}

/// The environment every test coordinator runs with.
pub fn coordinator_env(nats_url: &str, data: &Path) -> Vec<(&'static str, String)> {
    let [user, password] = creds(Role::Coordinator);
    vec![
        ("NATS_URL", nats_url.to_string()),
        (user.0, user.1.to_string()),
        (password.0, password.1.to_string()),
        ("IGENTAI_DATA_DIR", data.to_str().unwrap().to_string()),
        ("IGENTAI_METRICS_INTERVAL_MS", "200".to_string()),
        ("IGENTAI_HEARTBEAT_TIMEOUT_MS", "3000".to_string()),
    ]
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
    coordinator::replication::owner::Owner::decode(
        &std::fs::read(data.join(coordinator::replication::owner::LOCK_FILE)).ok()?,
    )
    .map(|o| o.pid)
}

/// The coordinator with `extra` settings in its environment.
pub fn spawn_coordinator_with(
    dir: &Path,
    nats_url: &str,
    data: &Path,
    extra: &[(&str, &str)],
) -> Proc {
    let env = coordinator_env(nats_url, data);
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env.extend_from_slice(extra);
    Proc::spawn("coordinator", &bin_path("coordinator"), &[], &env, dir)
}

/// A sim worker, logged in as its own user `worker-<id>`.
pub async fn spawn_worker(dir: &Path, nats: &impl Nats, id: &str) -> Proc {
    let identity = nats.add_worker(id).await;
    let urls = nats.urls();
    let [user, password] = identity.env();
    Proc::spawn(
        id,
        &bin_path("worker"),
        &[
            "--worker-id",
            id,
            "--concurrency",
            "2",
            "--sim-latency-ms",
            "40",
        ],
        &[
            ("NATS_URL", urls.as_str()),
            user,
            password,
            ("IGENTAI_HEARTBEAT_INTERVAL_MS", "200"),
        ],
        dir,
    )
}

/// Lines of a file, which must exist.
/// The item records of `items.jsonl` written in full so far (the
/// coordinator may be appending the next line), in `output.txt` order:
/// alias records (near-duplicates of an earlier item) are left out.
pub fn item_records(path: &Path) -> Vec<coordinator::topic::store::ItemRecord> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .split_inclusive('\n')
        .filter(|l| l.ends_with('\n'))
        .map(|l| {
            serde_json::from_str::<coordinator::topic::store::ItemRecord>(l)
                .unwrap_or_else(|e| panic!("an items.jsonl record: {e}: {l}"))
        })
        .filter(|r| r.alias_of.is_none())
        .collect()
}

pub fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .lines()
        .map(str::to_string)
        .collect()
}

/// A batch id of `worker_id` as a worker makes one (`<worker_id>-` and 32
/// hex digits), the digits derived from `tag` so a test can name its
/// batches: the same tag is the same id.
pub fn batch_id(worker_id: &str, tag: &str) -> String {
    use std::hash::{Hash, Hasher};
    let half = |salt: u8| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (tag, salt).hash(&mut h);
        h.finish()
    };
    format!("{worker_id}-{:016x}{:016x}", half(0), half(1))
}

/// A candidate batch as a worker would publish it, its id made from `id`
/// ([`batch_id`]).
pub fn batch(
    id: &str,
    run_id: &str,
    topic: &str,
    provider: &str,
    items: &[&str],
) -> CandidateBatch {
    CandidateBatch {
        v: VERSION,
        batch_id: batch_id("test-publisher", id),
        run_id: run_id.to_string(),
        topic: topic.to_string(),
        worker_id: "test-publisher".to_string(),
        provider: provider.to_string(),
        model: format!("{provider}-model"),
        partition: None,
        items: items.iter().map(|s| s.to_string()).collect(),
        tokens_in: 100,
        tokens_out: 50,
        latency_ms: 100,
        cost_usd: 0.01,
        finish_reason: Some("stop".into()),
        request_id: None,
        created_at_ms: 0,
    }
}

/// Publishes raw bytes to the candidate stream with a message id, retrying
/// (with the same id) until JetStream acknowledges: a worker's contract.
pub async fn publish_raw(js: &jetstream::Context, msg_id: &str, payload: Vec<u8>) {
    let payload: bytes::Bytes = payload.into();
    tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let message = jetstream::message::PublishMessage::build()
                .payload(payload.clone())
                .message_id(msg_id);
            if let Ok(ack) = js
                .send_publish(subjects::candidates("test-publisher"), message)
                .await
                && let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(2), ack).await
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("batch {msg_id} not acknowledged within 60 s"));
}

pub async fn publish_batch(js: &jetstream::Context, batch: &CandidateBatch) {
    publish_raw(js, &batch.batch_id, serde_json::to_vec(batch).unwrap()).await;
}

/// Starts a run on `topic` as the operator and returns its id: batches are
/// admitted only for runs the coordinator started.
pub async fn start_run(client: &async_nats::Client, topic: &str) -> String {
    let request = serde_json::json!({ "topic": topic }).to_string();
    let msg = wait_for(
        "the coordinator to answer start",
        Duration::from_secs(30),
        || {
            let request = request.clone();
            async move {
                client
                    .request(subjects::CONTROL_START, request.into())
                    .await
                    .ok()
            }
        },
    )
    .await;
    let reply: igentai_protocol::StartReply = decode_reply(&msg.payload).expect("the run starts");
    reply.run_id
}

/// Waits until the coordinator created the candidate stream.
pub async fn wait_stream(js: &jetstream::Context) {
    wait_for("the candidate stream", Duration::from_secs(30), || async {
        js.get_stream(subjects::STREAM).await.ok().map(|_| ())
    })
    .await;
}

/// Waits until every published batch was ingested and acknowledged (the
/// work-queue stream is empty).
pub async fn wait_drained(js: &jetstream::Context, within: Duration) {
    wait_for("the candidate stream to drain", within, || async {
        let mut stream = js.get_stream(subjects::STREAM).await.ok()?;
        (stream.info().await.ok()?.state.messages == 0).then_some(())
    })
    .await;
}

/// A topic folder holds every expected item exactly once, and
/// `items.jsonl`'s `seq` is each item's line in `output.txt`.
pub fn check_folder(folder: &Path, expected: &std::collections::BTreeSet<String>) {
    let output = lines(&folder.join("output.txt"));
    let unique: std::collections::HashSet<&String> = output.iter().collect();
    assert_eq!(unique.len(), output.len(), "an item was written twice");
    let got: std::collections::BTreeSet<String> = output.iter().cloned().collect();
    assert_eq!(&got, expected);
    let records = item_records(&folder.join("items.jsonl"));
    assert_eq!(records.len(), output.len());
    for (i, (r, item)) in records.iter().zip(&output).enumerate() {
        assert_eq!((r.seq, &r.item), (i as u64 + 1, item));
    }
}
