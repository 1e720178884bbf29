//! igentai's test harness: a real `nats-server` on a free port with its own
//! JetStream store, and the real igentai binaries, all killed on drop. Used
//! by the system tests in the root `tests/` and by each crate's own tests.
//!
//! The server runs with the repository's `nats.conf`, so it refuses anonymous
//! clients and enforces each role's permissions: every client and binary a
//! test starts logs in as a [`Role`] with that role's fixed test password
//! ([`creds`] for a binary's environment, [`NatsServer::client_as`] for a
//! client; [`NatsServer::client`] is the all-powerful operator). A worker
//! logs in as its own user, which [`NatsServer::add_worker`] adds to the
//! running server the way `scripts/add-worker.sh` does: `nats.conf`
//! rendered by `scripts/lib.sh` with one user per worker, then a reload.
//! Who logs in how is `login.rs`; the server is `server.rs`; a child process
//! with its log is `proc.rs`.
//!
//! Every wait is bounded and polls a condition; nothing sleeps to
//! synchronise. A process's output goes to a log file that is printed when a
//! test fails, so a red CI run shows what each process said.
//!
//! [`NatsCluster`] (in `cluster.rs`) is several such servers routed into one
//! cluster; both are [`Nats`], what the shared helpers need to start a
//! binary against either.
//!
//! [`LlamaServer`] (in `llama.rs`) is a real small language model behind an
//! OpenAI-compatible server, for tests of what real answers turn into.
//!
//! On top of these, what the system tests share: [`Fleet`] (`fleet.rs`)
//! starts the coordinator and N workers as real binaries
//! ([`CoordinatorSpec`], [`WorkerSpec`] for one process); [`Control`]
//! (`control.rs`) sends `status`, `start` and `stop` and waits for a status;
//! [`KnownStream`] (`stream.rs`) publishes a candidate stream known in
//! advance as a worker does; [`check_folder`] (`folder.rs`) proves a topic
//! folder holds it exactly; `http.rs` is a minimal HTTP/1.1 client for the
//! tests' local servers; [`BatchVendor`] (`batch_vendor.rs`) is OpenAI's
//! Batch API on a local mock server, with the vendor's shapes and state.

use std::future::Future;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub mod batch_vendor;
pub mod cluster;
pub mod control;
pub mod fleet;
pub mod folder;
pub mod http;
pub mod llama;
pub mod login;
pub mod proc;
pub mod server;
pub mod stream;
pub use batch_vendor::BatchVendor;
pub use cluster::NatsCluster;
pub use control::Control;
pub use fleet::{CoordinatorSpec, Fleet, FleetBuilder, WorkerSpec};
pub use folder::check_folder;
pub use llama::LlamaServer;
pub use login::{Role, WorkerIdentity, creds, options};
pub use proc::Proc;
pub use server::{NatsServer, render_nats_conf};
pub use stream::{KnownBatch, KnownStream};

/// What starting a binary needs from a single server or a cluster: the
/// `NATS_URL` to give it, and a user for a worker.
pub trait Nats {
    /// The `NATS_URL` of a role: one URL, or every node's, comma-separated.
    fn urls(&self) -> String;
    /// Gives worker `id` its own user (see [`NatsServer::add_worker`]).
    fn add_worker(&self, id: &str) -> impl Future<Output = WorkerIdentity>;
}

impl Nats for NatsServer {
    fn urls(&self) -> String {
        self.url.clone()
    }

    async fn add_worker(&self, id: &str) -> WorkerIdentity {
        NatsServer::add_worker(self, id).await
    }
}

/// Where `cargo` put the workspace binaries: the test executable lives in
/// `target/<profile>/deps/`, the binaries one level up.
pub fn bin_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binary lives in target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the workspace binaries first \
         (`cargo build --workspace --bins`, which scripts/test.sh does)",
        path.display()
    );
    path
}

/// The repository root, where `nats.conf` lives.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit lives in the workspace")
        .to_path_buf()
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral port")
}

/// The first of `count` consecutive ports all free on loopback right now:
/// one block for a cluster's client, monitoring and route ports, so no
/// two separately picked ranges overlap.
pub fn free_ports(count: u16) -> u16 {
    loop {
        let base = free_port();
        if base < u16::MAX - count
            && (0..count).all(|i| TcpListener::bind(("127.0.0.1", base + i)).is_ok())
        {
            return base;
        }
    }
}

/// True while `pid` is a live process (a zombie has exited).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Header that marks a [`subscribe_confirmed`] probe, so subscribers can
/// tell it from real traffic.
pub const PROBE_HEADER: &str = "Igentai-Test-Probe";

/// Subscribes `client` to `subject` and returns once the server routes
/// messages from *other* connections to it.
///
/// `flush` is not enough: async-nats's flush only writes the `SUB` to the
/// socket and does not wait for the server to process it, so a request sent
/// right after on another connection can still find no subscriber ("no
/// responders"). Here an operator client publishes probes (marked with
/// [`PROBE_HEADER`]) until one arrives on the new subscription; the probe
/// itself is consumed.
pub async fn subscribe_confirmed(
    nats: &NatsServer,
    client: &async_nats::Client,
    subject: &str,
) -> async_nats::Subscriber {
    use futures::StreamExt;
    let mut sub = client
        .subscribe(subject.to_string())
        .await
        .unwrap_or_else(|e| panic!("subscribe to {subject}: {e}"));
    let prober = nats.client().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(PROBE_HEADER, "1");
        prober
            .publish_with_headers(subject.to_string(), headers, "".into())
            .await
            .expect("publish a probe");
        prober.flush().await.expect("flush the probe");
        if let Ok(Some(msg)) = tokio::time::timeout(Duration::from_millis(200), sub.next()).await
            && is_probe(&msg)
        {
            return sub;
        }
        assert!(
            Instant::now() < deadline,
            "the server never routed a probe to the new subscription on {subject}"
        );
    }
}

/// True for a [`subscribe_confirmed`] probe.
pub fn is_probe(msg: &async_nats::Message) -> bool {
    msg.headers
        .as_ref()
        .is_some_and(|h| h.get(PROBE_HEADER).is_some())
}

/// Polls `probe` until it returns `Some`, for at most `within`.
pub async fn wait_for<T, F, Fut>(what: &str, within: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {within:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A temporary folder for one test: store, data and logs.
pub fn test_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("igentai-test-")
        .tempdir()
        .expect("create temp dir")
}
