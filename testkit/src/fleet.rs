//! The igentai fleet as the system tests start it: the real `coordinator`
//! and `worker` binaries against a [`NatsServer`] or [`crate::NatsCluster`],
//! each logged in as its own NATS user, with short intervals so a test sees
//! many heartbeats and snapshots. [`CoordinatorSpec`] and [`WorkerSpec`]
//! start one process; [`Fleet::builder`] starts nats-server, a coordinator
//! and N workers (sim workers, or workers on a providers file) and hands
//! back a [`Control`] client.

use std::path::{Path, PathBuf};
use std::time::Duration;

use igentai_protocol::MetricsSnapshot;
use tempfile::TempDir;

use crate::{Control, Nats, NatsServer, Proc, Role, bin_path, creds};

/// How long [`Fleet::wait_workers`] waits.
const WORKERS_WITHIN: Duration = Duration::from_secs(30);

/// The environment every test coordinator runs with: logged in as
/// `coordinator`, metrics every 200 ms, workers dead after 3 s of silence,
/// and no judge unless a test asks for one (`IGENTAI_JUDGE_RATE`): the
/// tests of other concerns count their batches' spend exactly.
pub fn coordinator_env(nats_url: &str, data: &Path) -> Vec<(&'static str, String)> {
    let [user, password] = creds(Role::Coordinator);
    vec![
        ("NATS_URL", nats_url.to_string()),
        (user.0, user.1.to_string()),
        (password.0, password.1.to_string()),
        ("IGENTAI_DATA_DIR", path_str(data).to_string()),
        ("IGENTAI_METRICS_INTERVAL_MS", "200".to_string()),
        ("IGENTAI_HEARTBEAT_TIMEOUT_MS", "3000".to_string()),
        ("IGENTAI_JUDGE_RATE", "0".to_string()),
    ]
}

/// A coordinator process to start: its log name, arguments and settings
/// beyond [`coordinator_env`].
#[derive(Debug, Clone)]
pub struct CoordinatorSpec {
    name: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl Default for CoordinatorSpec {
    fn default() -> Self {
        CoordinatorSpec {
            name: "coordinator".to_string(),
            args: Vec::new(),
            env: Vec::new(),
        }
    }
}

impl CoordinatorSpec {
    pub fn new() -> CoordinatorSpec {
        CoordinatorSpec::default()
    }

    /// Logs to `<dir>/<name>.log` (default `coordinator`).
    pub fn name(mut self, name: &str) -> CoordinatorSpec {
        self.name = name.to_string();
        self
    }

    /// Command-line arguments (`--standby`, `--lease-ttl-ms`).
    pub fn args(mut self, args: &[&str]) -> CoordinatorSpec {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    /// Settings added to (or overriding) [`coordinator_env`].
    pub fn env(mut self, env: &[(&str, &str)]) -> CoordinatorSpec {
        self.env
            .extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        self
    }

    /// Starts it against `nats_url` on data dir `data`, logging in `dir`.
    pub fn spawn(&self, dir: &Path, nats_url: &str, data: &Path) -> Proc {
        let base = coordinator_env(nats_url, data);
        let mut env: Vec<(&str, &str)> = base.iter().map(|(k, v)| (*k, v.as_str())).collect();
        env.extend(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        Proc::spawn(&self.name, &bin_path("coordinator"), &args, &env, dir)
    }
}

/// What a worker calls: the built-in sim with a fixed latency, or the
/// providers of a providers file.
#[derive(Debug, Clone)]
enum Calls {
    Sim { latency_ms: u32 },
    Providers(PathBuf),
}

/// A worker process to start, logged in as its own user `worker-<id>`,
/// heartbeating every 200 ms.
#[derive(Debug, Clone)]
pub struct WorkerSpec {
    id: String,
    concurrency: u32,
    calls: Calls,
    env: Vec<(String, String)>,
}

impl WorkerSpec {
    /// Worker `id` on the built-in sim answering in 40 ms, two calls at a
    /// time.
    pub fn sim(id: &str) -> WorkerSpec {
        WorkerSpec {
            id: id.to_string(),
            concurrency: 2,
            calls: Calls::Sim { latency_ms: 40 },
            env: Vec::new(),
        }
    }

    /// Worker `id` calling the providers of `providers` (a providers.toml),
    /// two calls at a time.
    pub fn on(id: &str, providers: &Path) -> WorkerSpec {
        WorkerSpec {
            calls: Calls::Providers(providers.to_path_buf()),
            ..WorkerSpec::sim(id)
        }
    }

    pub fn concurrency(mut self, concurrency: u32) -> WorkerSpec {
        self.concurrency = concurrency;
        self
    }

    /// Settings added to its environment.
    pub fn env(mut self, env: &[(&str, &str)]) -> WorkerSpec {
        self.env
            .extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        self
    }

    /// Gives the worker its user on `nats` (see [`Nats::add_worker`]) and
    /// starts it, logging to `<dir>/<id>.log`.
    pub async fn spawn(&self, dir: &Path, nats: &impl Nats) -> Proc {
        let identity = nats.add_worker(&self.id).await;
        let urls = nats.urls();
        let concurrency = self.concurrency.to_string();
        let calls = match &self.calls {
            Calls::Sim { latency_ms } => {
                ["--sim-latency-ms", &latency_ms.to_string()].map(String::from)
            }
            Calls::Providers(path) => ["--providers", path_str(path)].map(String::from),
        };
        let mut args = vec!["--worker-id", &self.id, "--concurrency", &concurrency];
        args.extend(calls.iter().map(String::as_str));
        let [user, password] = identity.env();
        let mut env = vec![
            ("NATS_URL", urls.as_str()),
            user,
            password,
            ("IGENTAI_HEARTBEAT_INTERVAL_MS", "200"),
        ];
        env.extend(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        Proc::spawn(&self.id, &bin_path("worker"), &args, &env, dir)
    }
}

/// nats-server, a coordinator and workers `w1`..`wN`, killed on drop.
pub struct Fleet {
    pub dir: TempDir,
    pub nats: NatsServer,
    pub data: PathBuf,
    pub coordinator: Proc,
    pub workers: Vec<Proc>,
    /// The operator's client.
    pub client: async_nats::Client,
    pub control: Control,
}

/// What [`Fleet::builder`] starts.
#[derive(Debug, Clone)]
pub struct FleetBuilder {
    workers: usize,
    providers: Option<String>,
    concurrency: u32,
    coordinator: CoordinatorSpec,
    worker_env: Vec<(String, String)>,
}

impl FleetBuilder {
    /// How many workers (default none).
    pub fn workers(mut self, n: usize) -> FleetBuilder {
        self.workers = n;
        self
    }

    /// The workers call the providers of this providers.toml (written to
    /// the test folder) instead of the built-in sim.
    pub fn providers(mut self, toml: &str) -> FleetBuilder {
        self.providers = Some(toml.to_string());
        self
    }

    /// Calls each worker makes at a time (default 2).
    pub fn concurrency(mut self, concurrency: u32) -> FleetBuilder {
        self.concurrency = concurrency;
        self
    }

    /// Settings of the coordinator beyond [`coordinator_env`].
    pub fn coordinator_env(mut self, env: &[(&str, &str)]) -> FleetBuilder {
        self.coordinator = self.coordinator.env(env);
        self
    }

    /// Settings added to every worker's environment.
    pub fn worker_env(mut self, env: &[(&str, &str)]) -> FleetBuilder {
        self.worker_env
            .extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        self
    }

    pub async fn start(self) -> Fleet {
        self.start_with(|_| ()).await.0
    }

    /// Like [`FleetBuilder::start`], with `prepare` run on the data dir
    /// before any process starts; what it returns lives as long as the
    /// caller keeps it.
    pub async fn start_with<T>(self, prepare: impl FnOnce(&Path) -> T) -> (Fleet, T) {
        let dir = crate::test_dir();
        let nats = NatsServer::start(dir.path()).await;
        let data = dir.path().join("data");
        let prepared = prepare(&data);
        let coordinator = self.coordinator.spawn(dir.path(), &nats.url, &data);
        let providers = self.providers.as_ref().map(|toml| {
            let path = dir.path().join("providers.toml");
            std::fs::write(&path, toml).expect("write providers.toml");
            path
        });
        let env: Vec<(&str, &str)> = self
            .worker_env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let mut workers = Vec::new();
        for i in 1..=self.workers {
            let id = format!("w{i}");
            let spec = match &providers {
                Some(path) => WorkerSpec::on(&id, path),
                None => WorkerSpec::sim(&id),
            };
            let spec = spec.concurrency(self.concurrency).env(&env);
            workers.push(spec.spawn(dir.path(), &nats).await);
        }
        let client = nats.client().await;
        let control = Control::new(&client);
        let fleet = Fleet {
            dir,
            nats,
            data,
            coordinator,
            workers,
            client,
            control,
        };
        (fleet, prepared)
    }
}

impl Fleet {
    /// What to start: no worker, sim workers, a plain coordinator.
    pub fn builder() -> FleetBuilder {
        FleetBuilder {
            workers: 0,
            providers: None,
            concurrency: 2,
            coordinator: CoordinatorSpec::new(),
            worker_env: Vec::new(),
        }
    }

    /// nats-server, the coordinator and `workers` sim workers.
    pub async fn start(workers: usize) -> Fleet {
        Fleet::builder().workers(workers).start().await
    }

    /// Like [`Fleet::start`], with `prepare` run on the data dir first.
    pub async fn start_with<T>(workers: usize, prepare: impl FnOnce(&Path) -> T) -> (Fleet, T) {
        Fleet::builder().workers(workers).start_with(prepare).await
    }

    /// Sends a control request exactly as `nats req SUBJECT PAYLOAD` does
    /// and returns the JSON reply.
    pub async fn request(&self, subject: &str, payload: impl Into<Vec<u8>>) -> serde_json::Value {
        let reply = self.control.request(subject, payload).await;
        serde_json::from_slice(&reply).expect("replies are JSON")
    }

    pub async fn status(&self) -> MetricsSnapshot {
        self.control.status().await
    }

    /// The status, or `None` while no coordinator answers.
    pub async fn try_status(&self) -> Option<MetricsSnapshot> {
        self.control.try_status().await
    }

    pub fn coordinator_alive(&mut self) -> bool {
        self.coordinator.is_running()
    }

    /// Waits until the coordinator answers and sees `n` workers alive.
    pub async fn wait_workers(&self, n: usize) -> MetricsSnapshot {
        self.control.wait_workers(n, WORKERS_WITHIN).await
    }
}

/// A path the binaries get as an argument or setting: test paths are UTF-8.
fn path_str(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}
